#!/usr/bin/env python3
"""The gateway's web endpoint ([admin]) over HTTP and HTTPS, with curl and raw sockets.

    python3 tests/integration/test_admin.py --icalgate build/dev/bin/icalgate [unittest args]

Two gateways (no upstream is needed: nobody logs in): one serving plain HTTP on loopback with
the host names derived from [listen], one serving HTTPS with the development certificate,
configured host names and per-account modes. Checked from outside:
  - /healthz, /mail/config-v1.1.xml (parsed: servers, ports, socket types, OAuth2 or a
    password per account), /thunderbird/icalgate-oauth.xpi (`unzip -t`, Python's zipfile,
    the manifest's oauth_provider), /enrol (404 without a delegated account), 404, 405 with Allow, content types;
  - limits: a 100 KB header gets 431, a client trickling its request is cut off after the
    read timeout (10 s) with nothing answered;
  - HTTPS verified against the development CA, plain HTTP to it refused;
  - SIGHUP reloads the endpoint's certificate; the query (an e-mail address) stays out of
    the log; both gateways exit 0 on SIGTERM without sanitizer reports;
  - check-config refuses delegated mode on a plain-HTTP endpoint that is not on loopback;
  - a real Thunderbird (headless, Marionette) fetches the autoconfig with its own
    fetchHTTP + readFromXML and refuses it for lack of an OAuth2 provider, installs the
    downloaded add-on as a user's "Install Add-on From File" does, then finds the gateway's
    provider for the gateway's host name and accepts the autoconfig with OAuth2.
Only the standard library, curl, unzip and thunderbird (Debian packages) are used.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import env  # noqa: E402
import thunderbird  # noqa: E402

ICALGATE: str | None = None
ROOT: Path | None = None
CERTS: dict[str, Path] = {}
PLAIN: env.Gateway | None = None  # HTTP, host names from [listen]
SECURE: env.Gateway | None = None  # HTTPS, configured host names
PLAIN_PORT = 0
SECURE_PORT = 0
CLIENT_ID = "8d0f7a52-6c1b-4f0e-9a7e-3c2d1e0f4b5a"
TENANT = "contoso.onmicrosoft.com"
READ_TIMEOUT = 10.0  # proxy/admin_server.hpp AdminLimits::read_timeout


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} is not installed (./run deps installs it)")
    return path


def start_gateway(name: str, admin_port: int, admin: str, auth: str = "") -> env.Gateway:
    assert ICALGATE is not None and ROOT is not None
    store = ROOT / f"{name}-auth.db"
    extra = (f'\n[auth]\nclient_id = "{CLIENT_ID}"\ntenant = "{TENANT}"\nstore = "{store}"\n{auth}'
             f'\n[admin]\nlisten = "{env.HOST}:{admin_port}"\n{admin}\n')
    # No upstream listens on this port: these tests never log in.
    gw = env.Gateway(ICALGATE, ROOT, CERTS, env.free_port(), name=name, log_level="debug",
                     extra_config=extra)
    gw.start()
    try:
        env.wait_until(lambda: env.port_accepts(admin_port), 10,
                       what=f"the admin endpoint on {env.HOST}:{admin_port}")
    except TimeoutError as e:
        gw.stop()
        raise env.EnvError(f"{e}: icalgate runs but does not serve [admin] listen (is AdminServer "
                           f"started in proxy/cli_serve.cpp?)\n{gw.log_tail()}") from None
    return gw


def setUpModule():
    global ROOT, CERTS, PLAIN, SECURE, PLAIN_PORT, SECURE_PORT
    tool("curl")
    tool("unzip")
    ROOT = Path(tempfile.mkdtemp(prefix="icalgate-admin-"))
    CERTS = env.make_certs(ROOT / "certs")
    PLAIN_PORT = env.free_port()
    PLAIN = start_gateway("plain", PLAIN_PORT, "")
    SECURE_PORT = env.free_port()
    SECURE = start_gateway(
        "secure", SECURE_PORT,
        f'cert = "{CERTS["fullchain"]}"\nkey = "{CERTS["privkey"]}"\n'
        'hostnames = ["imap.contoso.test", "IMAP2.contoso.test"]\n',
        '[auth.accounts]\n"@fabrikam.test" = "delegated"\n')


def tearDownModule():
    problems = []
    for gw in (PLAIN, SECURE):
        if gw is None:
            continue
        gw.stop()
        problems += gw.exit_problems()
        log = gw.log_text()
        # The query carries an e-mail address: the request log names the path only.
        for leak in ("emailaddress", "alice%40", "alice@contoso.com"):
            if leak in log:
                problems.append(f"{leak!r} appears in {gw.log_path.name}")
    if ROOT is not None:
        shutil.rmtree(ROOT, ignore_errors=True)
    if problems:
        raise AssertionError("after the suite:\n" + "\n".join(problems))


class Reply:
    def __init__(self, rc: int, status: int, headers: dict[str, str], body: bytes, stderr: str):
        self.rc, self.status, self.headers, self.body, self.stderr = rc, status, headers, body, stderr

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def curl(url: str, *args: str) -> Reply:
    """One request with curl: exit code, status, the last response's headers, body."""
    assert ROOT is not None
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        head, body = Path(tmp) / "head", Path(tmp) / "body"
        r = subprocess.run([tool("curl"), "-sS", "--max-time", "30", "-D", str(head), "-o", str(body),
                            *args, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        headers: dict[str, str] = {}
        status = 0
        if head.exists():
            for line in head.read_text(errors="replace").splitlines():
                if line.startswith("HTTP/"):
                    status, headers = int(line.split()[1]), {}
                elif ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
        data = body.read_bytes() if body.exists() else b""
        return Reply(r.returncode, status, headers, data, r.stderr.decode(errors="replace"))


def plain_url(path: str) -> str:
    return f"http://{env.HOST}:{PLAIN_PORT}{path}"


def secure_url(path: str) -> str:
    return f"https://localhost:{SECURE_PORT}{path}"


def secure_curl(path: str, *args: str) -> Reply:
    return curl(secure_url(path), "--cacert", str(CERTS["ca"]), *args)


def incoming_servers(xml: bytes) -> tuple[ET.Element, list[tuple[str, str, str, str, str]]]:
    root = ET.fromstring(xml)
    assert root.tag == "clientConfig" and root.get("version") == "1.1", xml
    providers = root.findall("emailProvider")
    assert len(providers) == 1, xml
    servers = [(s.get("type"), s.findtext("hostname"), s.findtext("port"), s.findtext("socketType"),
                s.findtext("authentication")) for s in providers[0].findall("incomingServer")]
    return providers[0], servers


class PlainEndpointTest(unittest.TestCase):
    def test_healthz(self):
        r = curl(plain_url("/healthz"))
        self.assertEqual((r.rc, r.status), (0, 200), r.stderr)
        self.assertEqual(r.body, b"ok\n")
        self.assertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(r.header("Cache-Control"), "no-store")
        # HEAD: the length, no body (curl -I writes the head where the body would go).
        head = curl(plain_url("/healthz"), "-I")
        self.assertEqual((head.status, head.header("Content-Length")), (200, "3"))
        self.assertTrue(head.body.endswith(b"\r\n\r\n"), head.body)

    def test_autoconfig_names_the_imap_listeners_with_oauth2(self):
        assert PLAIN is not None
        r = curl(plain_url("/mail/config-v1.1.xml?emailaddress=alice%40contoso.com"))
        self.assertEqual((r.rc, r.status), (0, 200), r.stderr)
        self.assertEqual(r.header("Content-Type"), "application/xml; charset=utf-8")
        provider, servers = incoming_servers(r.body)
        self.assertEqual(provider.get("id"), "contoso.com")
        self.assertEqual(provider.findtext("domain"), "contoso.com")
        # No [admin] hostnames: the [listen] host, with both listeners' ports.
        self.assertEqual(servers, [("imap", env.HOST, str(PLAIN.imaps_port), "SSL", "OAuth2"),
                                   ("imap", env.HOST, str(PLAIN.imap_port), "STARTTLS", "OAuth2")])
        for s in provider.findall("incomingServer"):
            self.assertEqual(s.findtext("username"), "%EMAILADDRESS%")
        out = provider.findall("outgoingServer")
        self.assertEqual([(o.get("type"), o.findtext("hostname"), o.findtext("port")) for o in out],
                         [("smtp", "smtp.office365.com", "587")])
        well_known = curl(plain_url("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40contoso.com"))
        self.assertEqual(well_known.body, r.body)

    def test_addon_is_a_valid_xpi(self):
        assert ROOT is not None
        r = curl(plain_url("/thunderbird/icalgate-oauth.xpi"))
        self.assertEqual((r.rc, r.status), (0, 200), r.stderr)
        self.assertEqual(r.header("Content-Type"), "application/x-xpinstall")
        self.assertEqual(r.header("Content-Disposition"), 'attachment; filename="icalgate-oauth.xpi"')
        path = ROOT / "plain.xpi"
        path.write_bytes(r.body)
        t = subprocess.run([tool("unzip"), "-t", str(path)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        out = t.stdout.decode(errors="replace")
        self.assertEqual(t.returncode, 0, out)
        self.assertIn("No errors detected", out)
        with zipfile.ZipFile(io.BytesIO(r.body)) as z:
            self.assertIsNone(z.testzip())
            self.assertEqual(z.namelist(), ["manifest.json"])
            manifest = json.loads(z.read("manifest.json"))
        self.assertEqual(manifest["browser_specific_settings"]["gecko"]["id"], f"icalgate-oauth@{env.HOST}")
        p = manifest["oauth_provider"]
        self.assertEqual(sorted(p), sorted(["issuer", "clientId", "authorizationEndpoint", "tokenEndpoint",
                                            "redirectionEndpoint", "usePKCE", "hostnames", "scopes"]))
        self.assertEqual(p["clientId"], CLIENT_ID)
        self.assertEqual(p["authorizationEndpoint"],
                         f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/authorize")
        self.assertEqual(p["tokenEndpoint"], f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token")
        self.assertEqual(p["hostnames"], [env.HOST])
        self.assertEqual(p["scopes"], "https://outlook.office.com/IMAP.AccessAsUser.All offline_access")
        self.assertEqual(p["redirectionEndpoint"], "https://localhost")
        self.assertIs(p["usePKCE"], True)
        again = curl(plain_url("/thunderbird/icalgate-oauth.xpi"))
        self.assertEqual(hashlib.sha256(again.body).hexdigest(), hashlib.sha256(r.body).hexdigest())

    def test_errors_are_short_plain_text(self):
        r = curl(plain_url("/nope"))
        self.assertEqual((r.status, r.body, r.header("Content-Type")),
                         (404, b"not found\n", "text/plain; charset=utf-8"))
        r = curl(plain_url("/healthz"), "-X", "POST", "--data", "x=1")
        self.assertEqual((r.status, r.body, r.header("Allow")), (405, b"method not allowed\n", "GET, HEAD"))
        r = curl(plain_url("/enrol"))
        self.assertEqual(r.status, 404)
        self.assertEqual(r.body, b"enrolment is not offered here: no account logs in with the delegated mode\n")

    def test_a_100k_header_gets_431(self):
        r = curl(plain_url("/healthz"), "-H", "X-Big: " + "a" * 100_000)
        self.assertEqual((r.rc, r.status), (0, 431), r.stderr)
        self.assertEqual(r.body, b"request header fields too large\n")
        self.assertEqual(r.header("Connection"), "close")
        self.assertEqual(curl(plain_url("/healthz")).status, 200)

    def test_a_trickling_client_is_cut_off(self):
        request = b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Slow: " + b"z" * 1000
        with socket.create_connection((env.HOST, PLAIN_PORT), timeout=30) as s:
            start = time.monotonic()
            received = b""
            closed = False
            for byte in request:
                try:
                    s.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                s.settimeout(0.5)
                try:
                    data = s.recv(4096)
                    if not data:
                        closed = True
                        break
                    received += data
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    closed = True
                    break
                if time.monotonic() - start > 3 * READ_TIMEOUT:
                    break
            elapsed = time.monotonic() - start
        self.assertTrue(closed, f"still open after {elapsed:.1f}s")
        self.assertEqual(received, b"")
        self.assertGreater(elapsed, READ_TIMEOUT - 1)
        self.assertLess(elapsed, READ_TIMEOUT + 5)


class SecureEndpointTest(unittest.TestCase):
    def test_https_verified(self):
        r = secure_curl("/healthz")
        self.assertEqual((r.rc, r.status, r.body), (0, 200, b"ok\n"), r.stderr)
        untrusted = curl(secure_url("/healthz"))
        self.assertEqual(untrusted.rc, 60, untrusted.stderr)  # peer certificate cannot be verified
        plain = curl(f"http://{env.HOST}:{SECURE_PORT}/healthz")
        self.assertNotEqual(plain.rc, 0)
        self.assertEqual(plain.status, 0)

    def test_autoconfig_per_account_mode(self):
        assert SECURE is not None
        r = secure_curl("/mail/config-v1.1.xml?emailaddress=alice%40contoso.com")
        self.assertEqual(r.status, 200, r.stderr)
        _, servers = incoming_servers(r.body)
        expected = []
        for host in ("imap.contoso.test", "imap2.contoso.test"):
            expected += [("imap", host, str(SECURE.imaps_port), "SSL", "OAuth2"),
                         ("imap", host, str(SECURE.imap_port), "STARTTLS", "OAuth2")]
        self.assertEqual(servers, expected)
        # Delegated accounts log in to the gateway with its password.
        r = secure_curl("/mail/config-v1.1.xml?emailaddress=carol%40fabrikam.test")
        provider, servers = incoming_servers(r.body)
        self.assertEqual(provider.findtext("domain"), "fabrikam.test")
        self.assertEqual({s[4] for s in servers}, {"password-cleartext"})

    def test_addon_over_https(self):
        r = secure_curl("/thunderbird/icalgate-oauth.xpi")
        self.assertEqual(r.status, 200, r.stderr)
        with zipfile.ZipFile(io.BytesIO(r.body)) as z:
            self.assertIsNone(z.testzip())
            manifest = json.loads(z.read("manifest.json"))
        self.assertEqual(manifest["oauth_provider"]["hostnames"], ["imap.contoso.test", "imap2.contoso.test"])
        self.assertEqual(manifest["oauth_provider"]["issuer"], "icalgate.imap.contoso.test")

    def test_sighup_reloads_the_certificate(self):
        assert SECURE is not None
        SECURE.signal(signal.SIGHUP)
        env.wait_until(lambda: "admin_certificate_reloaded trigger=SIGHUP" in SECURE.log_text(), 10,
                       what="the admin endpoint's certificate reload")
        self.assertEqual(secure_curl("/healthz").status, 200)


# Thunderbird's own autoconfig reader on the gateway's URL, and the add-on installed from the
# downloaded file; each step reports what Thunderbird made of it.
_JS_ADDON = """
const [xpiPath, autoconfigUrl, host] = arguments;
return (async () => {
  const { AddonManager } = ChromeUtils.importESModule("resource://gre/modules/AddonManager.sys.mjs");
  const { OAuth2Providers } = ChromeUtils.importESModule("resource:///modules/OAuth2Providers.sys.mjs");
  const { readFromXML } = ChromeUtils.importESModule(
    "resource:///modules/accountcreation/readFromXML.sys.mjs");
  const { fetchHTTP } = ChromeUtils.importESModule(
    "resource:///modules/accountcreation/FetchHTTP.sys.mjs");
  const autoconfig = async () => {
    try {
      const config = readFromXML(await fetchHTTP(autoconfigUrl, { timeout: 10000 }), "isp-http");
      const i = config.incoming;
      return { ok: true, oauth2: i.auth == Ci.nsMsgAuthMethod.OAuth2, hostname: i.hostname,
               port: i.port, tls: i.socketType == Ci.nsMsgSocketType.SSL,
               alternatives: config.incomingAlternatives.length,
               outgoing: config.outgoing.hostname };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  };
  const out = { before: await autoconfig(),
                providerBefore: OAuth2Providers.getHostnameDetails(host, "imap") || null };
  const file = Cc["@mozilla.org/file/local;1"].createInstance(Ci.nsIFile);
  file.initWithPath(xpiPath);
  const install = await AddonManager.getInstallForFile(file);
  const addon = await install.install();
  out.addon = { id: addon.id, name: addon.name, active: addon.isActive };
  out.after = await autoconfig();
  const details = OAuth2Providers.getHostnameDetails(host, "imap");
  out.provider = details ? { issuer: details.issuer, scopes: details.requiredScopes } : null;
  if (details) {
    const d = OAuth2Providers.getIssuerDetails(details.issuer);
    out.issuer = { clientId: d.clientId, authorizationEndpoint: d.authorizationEndpoint,
                   tokenEndpoint: d.tokenEndpoint, redirectionEndpoint: d.redirectionEndpoint,
                   usePKCE: d.usePKCE, builtIn: d.builtIn };
  }
  return out;
})();
"""


class ThunderbirdAddonTest(unittest.TestCase):
    def test_thunderbird_installs_the_addon_and_accepts_the_autoconfig(self):
        assert PLAIN is not None and ROOT is not None
        xpi = ROOT / "icalgate-oauth.xpi"
        xpi.write_bytes(curl(plain_url("/thunderbird/icalgate-oauth.xpi")).body)
        # An account that never connects: only the add-on and the account setup code run.
        account = thunderbird.Account(port=PLAIN.imaps_port, socket_type=3, user="alice@contoso.com",
                                      password="unused")
        with thunderbird.Thunderbird(ROOT, account) as tb:
            r = tb.client.execute(_JS_ADDON, str(xpi),
                                  plain_url("/mail/config-v1.1.xml?emailaddress=alice%40contoso.com"),
                                  env.HOST, timeout_ms=60000)
            version = tb.version
            log = tb.log_tail(1 << 20)
        info = f"Thunderbird {version}: {json.dumps(r, indent=1)}"
        # A manifest key Thunderbird does not know would be logged as a warning.
        self.assertNotRegex(log, r"(Warning|Error) processing", log[-3000:])
        # Without the add-on Thunderbird knows no OAuth2 provider for the gateway.
        self.assertFalse(r["before"]["ok"], info)
        self.assertIn(f"Lacking OAuth2 config for {env.HOST}", r["before"]["error"], info)
        self.assertIsNone(r["providerBefore"], info)
        self.assertEqual(r["addon"], {"id": f"icalgate-oauth@{env.HOST}", "active": True,
                                      "name": f"icalgate sign-in for {env.HOST}"}, info)
        self.assertEqual(r["provider"], {"issuer": f"icalgate.{env.HOST}",
                                         "scopes": "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"},
                         info)
        self.assertEqual(r["issuer"], {
            "clientId": CLIENT_ID,
            "authorizationEndpoint": f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/authorize",
            "tokenEndpoint": f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token",
            "redirectionEndpoint": "https://localhost", "usePKCE": True, "builtIn": False}, info)
        self.assertEqual(r["after"], {"ok": True, "oauth2": True, "hostname": env.HOST, "port": PLAIN.imaps_port,
                                      "tls": True, "alternatives": 1, "outgoing": "smtp.office365.com"}, info)



class CheckConfigTest(unittest.TestCase):
    def test_delegated_needs_https_off_loopback(self):
        assert ICALGATE is not None and ROOT is not None
        path = ROOT / "delegated.toml"
        path.write_text(f'[auth]\nmode = "delegated"\nclient_id = "{CLIENT_ID}"\ntenant = "{TENANT}"\n'
                        '[admin]\nlisten = "0.0.0.0:9080"\n')
        r = subprocess.run([ICALGATE, "check-config", str(path)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{path}:6: admin.listen: delegated mode enrols users here (/enrol), which needs HTTPS",
                      r.stderr.decode())


def main() -> int:
    global ICALGATE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--icalgate", required=True, help="the icalgate executable to test")
    args, rest = ap.parse_known_args()
    ICALGATE = os.path.abspath(args.icalgate)
    with env.sigterm_as_exception():
        prog = unittest.main(argv=[sys.argv[0], "-v"] + rest, exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
