#!/usr/bin/env python3
"""A real Thunderbird signs in through icalgate with OAuth2, using the add-on the gateway makes.

    python3 tests/integration/test_thunderbird_oauth.py --icalgate build/dev/bin/icalgate \\
        --graphsim build/dev/bin/icalgate-graphsim

Dovecot holds alice's mail and accepts XOAUTH2 with JWTs it validates itself (oauth2 passdb,
local validation); icalgate-graphsim stands in for the Microsoft identity platform and signs
its Exchange Online tokens with Dovecot's key; the gateway runs in passthrough mode with
[auth] pointing at the stand-in, and serves the add-on on its web endpoint ([admin]).

A fresh headless Thunderbird (thunderbird.py) knows no OAuth2 provider for the gateway's host
name, installs the .xpi downloaded from /thunderbird/icalgate-oauth.xpi as a user's "Install
Add-on From File" does, and then knows the add-on's. Its IMAP account on the gateway (implicit
TLS, the development CA trusted) has authentication "OAuth2" and no password. Syncing the
Inbox makes Thunderbird open its sign-in window on the stand-in's authorize endpoint (with the
account as login_hint and a PKCE challenge); the stand-in redirects to the add-on's redirect
URI https://localhost with a code, which the window takes; Thunderbird redeems it
(authorization_code grant with its code_verifier) and logs in with XOAUTH2, which the gateway
relays unchanged to Dovecot. The stand-in's app registration lists https://localhost only, as
the README tells the admin to register it. Checked:
- the message list holds every message Dovecot holds (same UIDs);
- the stand-in issued one code, to the add-on's client id, for alice, with PKCE S256 and the
  redirect URI https://localhost, and redeemed it once; no device code, no refresh; the sign-in
  window took the code from https://localhost/?code=… and closed;
- the access token Thunderbird received (its OAuth2 log) is a delegated token for alice signed
  with Dovecot's key; the refresh token is kept under the add-on's issuer
  ("oauth://icalgate.127.0.0.1");
- the gateway logged the session on its IMAPS listener: login user=alice mode=passthrough,
  with Thunderbird's ID; neither token nor the XOAUTH2 payload is in the gateway's or the
  stand-in's log, and the gateway exits 0 on SIGTERM without sanitizer reports.

Thunderbird's chrome internals change between ESR releases: the suite fails at once, saying
so, when a major other than thunderbird.EXPECTED_MAJORS is installed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import env  # noqa: E402
import thunderbird as tbird  # noqa: E402

ICALGATE: str | None = None
GRAPHSIM: str | None = None
SCREENSHOT_DIR = env.REPO / "build" / "thunderbird"
ALICE = "alice@contoso.com"
ISSUER = f"icalgate.{env.HOST}"  # proxy/thunderbird_addon.cpp: "icalgate." + the first host name
IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All"

WORLD: env.World | None = None
GRAPH: env.GraphSim | None = None
GATEWAY: env.Gateway | None = None
ROOT: Path | None = None
VERSION = ""
SECRETS: dict[str, str] = {}  # the tokens Thunderbird obtained, for the log scans


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=15) as r:
        return r.read()


def sim_json(path: str) -> dict:
    return json.loads(http_get(f"http://{env.HOST}:{GRAPH.port}{path}"))


def jwt_claims(token: str, key: bytes) -> dict | None:
    """The claims of an HS256 JWT whose signature checks out with key, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None

    def b64(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    mac = hmac.new(key, (parts[0] + "." + parts[1]).encode(), hashlib.sha256).digest()
    if json.loads(b64(parts[0])).get("alg") != "HS256" or not hmac.compare_digest(mac, b64(parts[2])):
        return None
    return json.loads(b64(parts[1]))


def dovecot_uids() -> list[int]:
    with WORLD.connect_upstream_imaps() as c:
        c.login(ALICE, WORLD.users[ALICE])
        c.select("INBOX")
        untagged = c.check(b"UID SEARCH ALL")
        c.logout()
    for line in untagged:
        if line.startswith(b"* SEARCH"):
            return sorted(int(n) for n in line.split()[2:])
    return []


def setUpModule():
    global WORLD, GRAPH, GATEWAY, ROOT, VERSION
    VERSION = tbird.installed_version()
    print(f"\nThunderbird {VERSION} (expected major: {'/'.join(map(str, tbird.EXPECTED_MAJORS))})", flush=True)
    tbird.check_version(VERSION)
    ROOT = root = Path(tempfile.mkdtemp(prefix="icalgate-tboauth-"))
    os.chmod(root, 0o755)
    WORLD = env.World(icalgate=None, users={ALICE: env.USERS[ALICE]}, root=root / "world")
    try:
        WORLD.start()
        data = root / "graph"
        (data / "users").mkdir(parents=True)
        # The Entra app of the README: a public client whose redirect URI is https://localhost.
        (data / "clients.json").write_text(json.dumps({"clients": [{
            "tenant": env.GraphSim.TENANT, "client_id": env.GraphSim.CLIENT_ID,
            "client_secret": env.GraphSim.CLIENT_SECRET, "redirect_uris": ["https://localhost"]}]}))
        GRAPH = env.GraphSim(GRAPHSIM, data, root, jwt_key=WORLD.upstream.oauth2.key_file).start()
        # Passthrough: no secret, no store; the add-on signs in with the tenant's public client.
        extra = f"""
[auth]
mode = "passthrough"
tenant = "{env.GraphSim.TENANT}"
client_id = "{env.GraphSim.CLIENT_ID}"
authority = "http://{env.HOST}:{GRAPH.port}"
"""
        WORLD.icalgate = ICALGATE
        GATEWAY = WORLD.start_gateway(name="oauth", extra_config=extra)
        WORLD.gateway = GATEWAY
    except BaseException:
        if GRAPH is not None:
            GRAPH.stop()
        WORLD.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise


def tearDownModule():
    secrets = dict(WORLD.secrets()) if WORLD else {}
    secrets.update(SECRETS)
    problems = WORLD.stop_and_check(secrets) if WORLD else []
    if GRAPH is not None:
        GRAPH.stop()
        problems += env.secret_leaks(GRAPH.log_text(), SECRETS, str(GRAPH.log_path))
    if problems:
        raise AssertionError("after the suite:\n" + "\n".join(problems) + f"\n(logs kept in {ROOT})")
    if ROOT is not None and not os.environ.get("ICALGATE_ITEST_KEEP"):
        shutil.rmtree(ROOT, ignore_errors=True)


class ThunderbirdOAuthTest(unittest.TestCase):
    """One Thunderbird: the add-on installed, the sign-in, the sync; checked piece by piece."""

    tb: tbird.Thunderbird
    provider_before: dict | None
    addon: dict
    provider: dict | None
    rows: list[dict]
    access_token: str | None
    refresh_logins: list[dict]
    stats_before: dict

    @classmethod
    def setUpClass(cls):
        assert WORLD is not None and GATEWAY is not None
        cls.uids = dovecot_uids()
        if len(cls.uids) < 20:
            raise AssertionError(f"Dovecot holds only {len(cls.uids)} messages: the world was not seeded")
        xpi = WORLD.root / "icalgate-oauth.xpi"
        xpi.write_bytes(http_get(f"http://{env.HOST}:{GATEWAY.admin_port}/thunderbird/icalgate-oauth.xpi"))
        cls.stats_before = sim_json("/_stats")
        account = tbird.Account(port=GATEWAY.imaps_port, socket_type=tbird.TLS, user=ALICE, password="",
                                auth_method=tbird.OAUTH2)
        # Thunderbird's OAuth2 steps on its stdout (thunderbird.log), for the failure output.
        prefs = {"mailnews.oauth.loglevel": "Info", "devtools.console.stdout.chrome": True}
        cls.tb = tbird.Thunderbird(WORLD.root, account, ca_pem=WORLD.certs["ca"], prefs=prefs)
        cls.tb.start()
        try:
            cls.provider_before = cls.tb.oauth_provider(env.HOST)
            cls.addon = cls.tb.install_addon(xpi)
            cls.provider = cls.tb.oauth_provider(env.HOST)
            started = time.monotonic()
            cls.rows = cls.tb.sync_inbox(expect=len(cls.uids), timeout=60)
            print(f"\nsigned in and listed {len(cls.rows)} messages in {time.monotonic() - started:.1f}s",
                  flush=True)
            time.sleep(0.5)  # more rows must not appear
            cls.rows = cls.tb.message_list()
            cls.windows = cls.tb.windows()
            cls.tb_log = cls.tb.log_tail(1 << 22)
            # The token response as Thunderbird logged it (mailnews.oauth at Info level).
            m = re.search(r'Successful response from the authorization server: .*?\\"access_token\\":\\"([^\\"]+)',
                          cls.tb_log)
            cls.access_token = m.group(1) if m else None
            cls.refresh_logins = cls.tb.logins(f"oauth://{ISSUER}")
            for login in cls.refresh_logins:
                SECRETS[f"refresh token of {login['username']}"] = login["password"]
            if cls.access_token:
                SECRETS["access token"] = cls.access_token
                SECRETS["access token signature"] = cls.access_token.rsplit(".", 1)[-1]
                SECRETS["XOAUTH2 payload"] = env.xoauth2_payload(ALICE, cls.access_token).decode()
            shot = cls.tb.screenshot(SCREENSHOT_DIR / "thunderbird-oauth.png")
            print(f"screenshot of the 3-pane window: {shot}", flush=True)
        except BaseException as e:
            diagnosis = ""
            if isinstance(e, Exception):
                try:
                    diagnosis = (f"\n--- windows ---\n{cls.tb.windows()}\n--- stand-in ---\n"
                                 f"{sim_json('/_stats')}\n{sim_json('/_sim/authorizations')}")
                except Exception as inner:  # Thunderbird may be gone
                    diagnosis = f"\n(no diagnosis: {inner})"
                diagnosis += (f"\n--- thunderbird (tail) ---\n{cls.tb.log_tail(4000)}"
                              f"\n--- stand-in log (tail) ---\n{GRAPH.log_text()[-2000:]}"
                              f"\n--- gateway log (tail) ---\n{GATEWAY.log_tail(3000)}")
            cls.tb.stop()
            if diagnosis:
                raise AssertionError(f"{e}{diagnosis}") from e
            raise

    @classmethod
    def tearDownClass(cls):
        cls.tb.stop()

    def test_the_addon_registers_the_gateway_as_an_oauth2_provider(self):
        self.assertIsNone(self.provider_before, "Thunderbird knew an OAuth2 provider for the gateway already")
        self.assertEqual(self.addon.get("id"), f"icalgate-oauth@{env.HOST}", self.addon)
        self.assertTrue(self.addon.get("active"), self.addon)
        authority = f"http://{env.HOST}:{GRAPH.port}/{env.GraphSim.TENANT}/oauth2/v2.0"
        self.assertEqual(self.provider, {
            "issuer": ISSUER, "scopes": f"{IMAP_SCOPE} offline_access", "clientId": env.GraphSim.CLIENT_ID,
            "authorizationEndpoint": f"{authority}/authorize", "tokenEndpoint": f"{authority}/token",
            "redirectionEndpoint": "https://localhost", "usePKCE": True, "builtIn": False})

    def test_message_list_has_every_uid(self):
        self.assertEqual(sorted(r["uid"] for r in self.rows), self.uids)

    def test_signed_in_with_the_authorization_code_flow(self):
        stats = sim_json("/_stats")
        delta = {k: stats.get(k, 0) - self.stats_before.get(k, 0)
                 for k in ("authorizations", "code_grants", "code_refusals", "device_codes", "refreshes")}
        self.assertEqual(delta, {"authorizations": 1, "code_grants": 1, "code_refusals": 0, "device_codes": 0,
                                 "refreshes": 0}, stats)
        codes = sim_json("/_sim/authorizations")["value"]
        self.assertEqual(codes, [{"client_id": env.GraphSim.CLIENT_ID, "upn": ALICE, "scope": IMAP_SCOPE,
                                  "offline_access": True, "redirect_uri": "https://localhost", "pkce": "S256",
                                  "state": "redeemed"}])
        # Thunderbird's sign-in window took the code (its OAuth2 log, at Info level) and closed.
        self.assertRegex(self.tb_log, r'"OAuth2 authorization response received: url=https://localhost/\?code=')
        self.assertFalse([w for w in self.windows if "browserRequest" in w["url"]], self.windows)

    def test_thunderbird_holds_the_stand_ins_tokens(self):
        self.assertTrue(self.access_token, "Thunderbird holds no access token for the account")
        claims = jwt_claims(self.access_token, WORLD.upstream.oauth2.secret)
        self.assertIsNotNone(claims, "the access token is not signed with Dovecot's key")
        self.assertEqual((claims["upn"], claims["scp"], claims["appid"], claims["aud"]),
                         (ALICE, "IMAP.AccessAsUser.All", env.GraphSim.CLIENT_ID, "https://outlook.office.com"))
        # The refresh token is kept under the add-on's issuer, for the next start, with the
        # scope the token response named (like Entra's, without offline_access).
        self.assertEqual([(l["username"], l["realm"]) for l in self.refresh_logins],
                         [(ALICE, IMAP_SCOPE)], self.refresh_logins)
        self.assertTrue(self.refresh_logins[0]["password"].startswith("1.AQIA"))

    def test_gateway_relayed_the_oauth2_login(self):
        log = GATEWAY.log_text()
        starts = set(re.findall(r"\bsession_start session=(\d+) client=\S+ listener=imaps\b", log))
        logins = set(re.findall(rf"\blogin session=(\d+) client=\S+ user={re.escape(ALICE)} .*\bmode=passthrough\b",
                                log))
        ids = set(re.findall(r'\btrace C session=(\d+) line="\S+ ID \(\\"name\\" \\"Thunderbird\\"', log))
        authenticates = set(re.findall(r'\btrace C session=(\d+) line="\S+ AUTHENTICATE XOAUTH2\b', log))
        self.assertTrue(starts & logins & ids & authenticates,
                        f"no IMAPS session with AUTHENTICATE XOAUTH2, alice's passthrough login and Thunderbird's ID "
                        f"(sessions {sorted(starts)}, logins {sorted(logins)}, IDs {sorted(ids)}, "
                        f"XOAUTH2 {sorted(authenticates)})")
        self.assertNotRegex(log, r"\blogin_failed\b")
        # The tokens themselves: not in the gateway's log (also scanned after the gateway exits).
        self.assertTrue(SECRETS)
        self.assertEqual(env.secret_leaks(log, SECRETS, "the gateway log"), [])
        self.assertEqual(env.secret_leaks(GRAPH.log_text(), SECRETS, "the stand-in's log"), [])


def main() -> int:
    global ICALGATE, GRAPHSIM, SCREENSHOT_DIR
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--icalgate", required=True, help="the icalgate executable to test")
    ap.add_argument("--graphsim", required=True, help="the icalgate-graphsim executable")
    ap.add_argument("--screenshot-dir", default=str(SCREENSHOT_DIR),
                    help=f"where the PNG of the 3-pane window goes (default {SCREENSHOT_DIR})")
    args, rest = ap.parse_known_args()
    ICALGATE = os.path.abspath(args.icalgate)
    GRAPHSIM = os.path.abspath(args.graphsim)
    SCREENSHOT_DIR = Path(args.screenshot_dir).resolve()
    with env.sigterm_as_exception():
        prog = unittest.main(argv=[sys.argv[0], "-v"] + rest, exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
