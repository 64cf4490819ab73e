#!/usr/bin/env python3
"""The gateway's login modes end to end: Dovecot validating real OAuth tokens, the identity
platform stand-in (icalgate-graphsim), and icalgate issuing app passwords.

    python3 tests/integration/test_login_modes.py --icalgate build/dev/bin/icalgate \\
        --graphsim build/dev/bin/icalgate-graphsim

Dovecot accepts XOAUTH2 with the simulator's delegated tokens (oauth2 passdb) and app-only
tokens for the mailboxes granted to the app (a Lua passdb: Exchange's IMAP.AccessAsApp).
One gateway serves alice in the delegated mode (`[auth] mode`) and bob in the app mode (an
`[auth.accounts]` override); carol@fabrikam.com stays passthrough.
  - delegated: `icalgate users enrol` runs the device-code flow (the test approves the code
    in the stand-in, as the user would at the link), prints an app password; imaplib, curl and
    mbsync log in with it; the gateway refreshes the token, stores the rotated refresh token,
    and refreshes once for concurrent logins; an expired access token is refreshed at the next
    login, also after Exchange ended the session at the token's expiry (`* BYE Session
    invalidated - AccessTokenExpired`, said by tests/integration/exchange_shim.py); a revoked
    refresh token gives NO [AUTHENTICATIONFAILED] saying to enrol again, and `users list`
    shows the flag;
  - app: `icalgate users add` issues an app password; logins use the app's token for the
    mailbox; a mailbox not granted to the app is refused upstream; with certificate
    credentials instead of the secret, a registered certificate gets the token and another
    is refused;
  - wrong app passwords are refused (with the per-IP penalty), the store holds no password or
    token in clear, and no log line holds one.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import imaplib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import env  # noqa: E402
import exchange_shim  # noqa: E402

ICALGATE: str | None = None
GRAPHSIM: str | None = None
ALICE = "alice@contoso.com"  # delegated
BOB = "bob@contoso.com"      # app
WORLD: env.World | None = None
GRAPH: env.GraphSim | None = None
GATEWAY: env.Gateway | None = None
CONFIG: Path | None = None
EXTRA = ""  # the gateway's [auth] section
STORE: Path | None = None
PASSWORDS: dict[str, str] = {}
TOKEN_LIFETIME = 125
CACHE_SECONDS = 6  # how long to wait for every cached access token to be past the margin
SHORT_LIFETIME = 8  # an access token that expires within a session


def sim_post(path: str, **form) -> dict:
    data = urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(f"http://{env.HOST}:{GRAPH.port}{path}", data=data, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body.strip().startswith(b"{") else {}


def sim_stats() -> dict:
    with urllib.request.urlopen(f"http://{env.HOST}:{GRAPH.port}/_stats", timeout=10) as r:
        return json.loads(r.read())


def users_command(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([ICALGATE, "users", *args, "--config", str(CONFIG)], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def enrol(upn: str, approve_as: str | None = None) -> tuple[int, str, str]:
    """`icalgate users enrol UPN`, approving the device code in the stand-in as the user."""
    proc = subprocess.Popen([ICALGATE, "users", "enrol", upn, "--replace", "--config", str(CONFIG)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err_lines = []
    code = None
    deadline = time.monotonic() + 30
    while code is None and time.monotonic() < deadline:
        line = proc.stderr.readline().decode(errors="replace")
        if not line:
            break
        err_lines.append(line)
        m = re.match(r"user_code: (\S+)", line)
        if m:
            code = m.group(1)
    if code is None:
        proc.kill()
        out, err = proc.communicate()
        return proc.returncode or 1, out.decode(), "".join(err_lines) + err.decode()
    sim_post("/_sim/devicecode/approve", user_code=code, upn=approve_as or upn)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out.decode().strip(), "".join(err_lines) + err.decode()


def context() -> ssl.SSLContext:
    return env.client_tls_context(WORLD.certs["ca"])


def imap_login(user: str, password: str, gateway: env.Gateway | None = None) -> imaplib.IMAP4_SSL:
    c = imaplib.IMAP4_SSL(env.HOST, (gateway or GATEWAY).imaps_port, ssl_context=context(), timeout=30)
    c.login(user, password)
    return c


def setUpModule():
    global WORLD, GRAPH, GATEWAY, CONFIG, STORE, EXTRA
    root = Path(tempfile.mkdtemp(prefix="icalgate-login-"))
    os.chmod(root, 0o755)
    users = {ALICE: env.USERS[ALICE], BOB: env.USERS[BOB], "carol@fabrikam.com": "Carol-Pass-3310"}
    WORLD = env.World(icalgate=None, users=users, root=root / "world", upstream_app_auth=True)
    WORLD.start()
    data = root / "graph"
    (data / "users").mkdir(parents=True)
    GRAPH = env.GraphSim(GRAPHSIM, data, root, jwt_key=WORLD.upstream.oauth2.key_file,
                         extra_args=["--device-code-interval", "1"]).start()
    WORLD.upstream.oauth2.grant(env.GraphSim.CLIENT_ID, BOB)
    # Access tokens live 5 s longer than the gateway's 2-minute margin: a cached one is used
    # for a few seconds, then every login refreshes.
    sim_post("/_sim/token-lifetime", seconds=str(TOKEN_LIFETIME))
    STORE = root / "auth.db"
    EXTRA = extra = f"""
[auth]
mode = "delegated"
tenant = "{env.GraphSim.TENANT}"
client_id = "{env.GraphSim.CLIENT_ID}"
client_secret_file = "{GRAPH.secret_file}"
authority = "http://{env.HOST}:{GRAPH.port}"
store = "{STORE}"

[auth.accounts]
"{BOB}" = "app"
"@fabrikam.com" = "passthrough"

[admin]
listen = ""
"""
    WORLD.icalgate = ICALGATE
    GATEWAY = WORLD.start_gateway(name="login", extra_config=extra)
    WORLD.gateway = GATEWAY
    CONFIG = GATEWAY.config_path
    status, password, err = enrol(ALICE)
    if status != 0:
        raise env.EnvError(f"enrol failed ({status}): {err}")
    PASSWORDS[ALICE] = password
    r = users_command("add", BOB)
    if r.returncode != 0:
        raise env.EnvError(f"users add failed: {r.stderr.decode()}")
    PASSWORDS[BOB] = r.stdout.decode().strip()


def tearDownModule():
    secrets = dict(WORLD.secrets()) if WORLD else {}
    secrets.update({f"app password of {u}": p for u, p in PASSWORDS.items()})
    secrets["graph client secret"] = env.GraphSim.CLIENT_SECRET
    problems = WORLD.stop_and_check(secrets) if WORLD else []
    if GRAPH is not None:
        GRAPH.stop()
    if problems:
        raise AssertionError("after the suite:\n" + "\n".join(problems))


class LoginModesTest(unittest.TestCase):
    def test_delegated_imaplib_reads_the_mailbox(self):
        c = imap_login(ALICE, PASSWORDS[ALICE])
        typ, data = c.select("INBOX")
        self.assertEqual(typ, "OK")
        self.assertGreater(int(data[0]), 0)
        typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertEqual(typ, "OK")
        c.logout()
        self.assertRegex(GATEWAY.log_text(), r"login session=\d+ .*user=alice@contoso.com .*mode=delegated")

    def test_delegated_with_authenticate_plain_and_curl(self):
        self.assertIn(b"Subject:", self.curl_subject(ALICE, PASSWORDS[ALICE]))

    def mbsync(self, user: str, password: str) -> list[Path]:
        root = Path(tempfile.mkdtemp(prefix="mbsync-", dir=WORLD.root))
        (root / "pw").write_text(password)
        (root / "mail").mkdir()
        conf = root / "mbsyncrc"
        conf.write_text(f"""IMAPAccount acct
Host localhost
Port {GATEWAY.imaps_port}
User {user}
PassCmd "cat {root}/pw"
SSLType IMAPS
CertificateFile {WORLD.certs['ca']}
AuthMechs LOGIN

IMAPStore remote
Account acct

MaildirStore local
Path {root}/mail/
Inbox {root}/mail/INBOX

Channel ch
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
""")
        r = subprocess.run(["mbsync", "-c", str(conf), "-a"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=180)
        self.assertEqual(r.returncode, 0, r.stdout.decode(errors="replace")[-2000:])
        return list((root / "mail" / "INBOX" / "new").iterdir()) + list((root / "mail" / "INBOX" / "cur").iterdir())

    def curl_subject(self, user: str, password: str) -> bytes:
        r = subprocess.run(
            ["curl", "--silent", "--show-error", "--cacert", str(WORLD.certs["ca"]), "--max-time", "60",
             "--login-options", "AUTH=PLAIN", "--user", f"{user}:{password}",
             f"imaps://localhost:{GATEWAY.imaps_port}/INBOX;UID=1;SECTION=HEADER.FIELDS%20(SUBJECT)"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r.stdout

    def test_delegated_mbsync(self):
        # mbsync itself skips a malformed corpus message or two (as test_clients.py notes).
        self.assertGreaterEqual(len(self.mbsync(ALICE, PASSWORDS[ALICE])), len(WORLD.seed_messages) - 5)

    def test_app_mode_curl_and_mbsync(self):
        self.assertIn(b"Subject:", self.curl_subject(BOB, PASSWORDS[BOB]))
        self.assertGreaterEqual(len(self.mbsync(BOB, PASSWORDS[BOB])), len(WORLD.seed_messages) - 5)

    def test_wrong_app_passwords_are_penalised_per_address(self):
        gw = WORLD.start_gateway(name="penalty", extra_config=EXTRA, limits={"login_failure_delay": "1s"})
        try:
            waited = []
            for _ in range(2):
                started = time.monotonic()
                with self.assertRaises(imaplib.IMAP4.error) as e:
                    imap_login(BOB, "aaaaa-bbbbb-ccccc-ddddd-eeeee", gw)
                self.assertIn("AUTHENTICATIONFAILED", str(e.exception))
                waited.append(time.monotonic() - started)
            # The delay before the NO doubles per failure from one address.
            self.assertGreaterEqual(waited[0], 0.9, waited)
            self.assertGreaterEqual(waited[1], 1.8, waited)
            imap_login(BOB, PASSWORDS[BOB], gw).logout()
        finally:
            gw.stop()

    def test_app_mode_logs_in_with_the_app_token(self):
        before = sim_stats().get("app_tokens", 0)
        c = imap_login(BOB, PASSWORDS[BOB])
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()
        c = imap_login(BOB, PASSWORDS[BOB])  # the app token is cached
        c.logout()
        self.assertLessEqual(sim_stats().get("app_tokens", 0) - before, 1)
        self.assertRegex(GATEWAY.log_text(), r"login session=\d+ .*user=bob@contoso.com .*mode=app")

    def test_app_mode_with_certificate_credentials(self):
        # [auth] with certificate_file + private_key_file instead of the secret: the gateway
        # signs a client assertion with the key of a certificate the app registration carries.
        # A certificate it does not carry is refused (AADSTS700027), and the login with it.
        keys = GRAPH.workdir / "app-certificates"
        keys.mkdir(exist_ok=True)
        for name in ("registered", "stranger"):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", f"/CN=icalgate-{name}", "-keyout", str(keys / f"{name}.key"),
                            "-out", str(keys / f"{name}.crt")], check=True, capture_output=True)
        clients_path = GRAPH.data_dir / "clients.json"
        original = clients_path.read_text()
        clients = json.loads(original)
        clients["clients"][0]["certificates"] = [(keys / "registered.crt").read_text()]
        clients_path.write_text(json.dumps(clients))

        def with_certificate(name: str) -> str:
            secret = f'client_secret_file = "{GRAPH.secret_file}"'
            self.assertIn(secret, EXTRA)
            return EXTRA.replace(secret, f'certificate_file = "{keys / name}.crt"\n'
                                         f'private_key_file = "{keys / name}.key"')

        try:
            gw = WORLD.start_gateway(name="certificate", extra_config=with_certificate("registered"))
            try:
                before = sim_stats().get("app_tokens", 0)
                c = imap_login(BOB, PASSWORDS[BOB], gw)
                self.assertEqual(c.select("INBOX")[0], "OK")
                c.logout()
                self.assertEqual(sim_stats().get("app_tokens", 0) - before, 1)
                self.assertRegex(gw.log_text(), r"login session=\d+ .*user=bob@contoso.com .*mode=app")
            finally:
                gw.stop()
            gw = WORLD.start_gateway(name="stranger", extra_config=with_certificate("stranger"))
            try:
                before = sim_stats().get("app_tokens", 0)
                with self.assertRaises(imaplib.IMAP4.error):
                    imap_login(BOB, PASSWORDS[BOB], gw)
                self.assertEqual(sim_stats().get("app_tokens", 0), before)
                log = gw.log_text()
                self.assertIn("AADSTS700027", log)
                self.assertNotIn("client_assertion=", log)
                self.assertNotIn("PRIVATE KEY", log)
            finally:
                gw.stop()
        finally:
            clients_path.write_text(original)

    def test_app_mode_mailbox_not_granted_is_refused_upstream(self):
        r = users_command("add", "carol@contoso.com")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        with self.assertRaises(imaplib.IMAP4.error) as e:
            imap_login("carol@contoso.com", r.stdout.decode().strip())
        self.assertIn("UNAVAILABLE", str(e.exception))
        users_command("revoke", "carol@contoso.com")

    def test_token_expiring_mid_session_then_login_refreshes(self):
        # Exchange Online ends an IMAP session when its access token expires, with
        # "* BYE Session invalidated - AccessTokenExpired". A shim in front of Dovecot does that
        # at the token's exp. Tokens shorter-lived than the gateway's 2-minute margin are never
        # reused by it, so the login after the BYE must refresh (rotating the refresh token:
        # the stand-in refuses a reused one, and Dovecot an expired access token).
        status, password, err = enrol(ALICE)
        self.assertEqual(status, 0, err)
        PASSWORDS[ALICE] = password
        shim = exchange_shim.ExchangeShim(WORLD.upstream.imaps_port, WORLD.certs, expire_tokens=True).start()
        self.addCleanup(shim.stop)
        gw = env.Gateway(ICALGATE, WORLD.root, WORLD.certs, shim.port, "implicit", name="expiry",
                         extra_config=EXTRA)
        WORLD.extra_gateways.append(gw)  # its exit and log are checked after the suite
        gw.start()
        self.addCleanup(gw.stop)
        sim_post("/_sim/token-lifetime", seconds=str(SHORT_LIFETIME))
        self.addCleanup(sim_post, "/_sim/token-lifetime", seconds=str(TOKEN_LIFETIME))

        stats = sim_stats()
        c = env.Imap(gw.imaps_port, tls=True, ca_file=WORLD.certs["ca"])
        self.addCleanup(c.close)
        c.login(ALICE, password)
        c.select("INBOX")
        self.assertEqual(sim_stats().get("refreshes", 0) - stats.get("refreshes", 0), 1,
                         "the first login through this gateway refreshes")
        [first] = shim.authenticated_links()
        self.assertEqual(first.user, ALICE)
        self.assertLessEqual(first.token_exp - time.time(), SHORT_LIFETIME + 1)
        # The session stays idle until Exchange ends it: the client reads that BYE, unchanged,
        # and then the end of the connection.
        stats = sim_stats()
        self.assertEqual(c.read_until_closed(SHORT_LIFETIME + 10), exchange_shim.TOKEN_EXPIRED_BYE)
        self.assertGreaterEqual(time.time(), first.token_exp)
        self.assertTrue(first.ended.wait(10))
        env.wait_until(lambda: re.search(rf"session_end .*user={re.escape(ALICE)} .*reason=upstream_bye",
                                         gw.log_text()), 10, what="the session_end line")

        # The client logs in again: one refresh, with the rotated refresh token, and the new
        # session reads the mailbox.
        c = imap_login(ALICE, password, gw)
        try:
            typ, data = c.select("INBOX")
            self.assertEqual(typ, "OK")
            self.assertGreater(int(data[0]), 0)
            typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            self.assertEqual(typ, "OK")
            self.assertIn(b"Subject:", data[0][1])
        finally:
            c.logout()
        after = sim_stats()
        self.assertEqual(after.get("refreshes", 0) - stats.get("refreshes", 0), 1, after)
        self.assertEqual(after.get("refresh_reuses", 0), stats.get("refresh_reuses", 0), after)
        second = [link for link in shim.links if link is not first and link.user == ALICE]
        self.assertEqual(len(second), 1)
        self.assertGreater(second[0].token_exp, first.token_exp, "the new session used the expired token")

    def test_wrong_app_password_refused(self):
        for user in (ALICE, BOB, "nobody@contoso.com"):
            with self.subTest(user=user), self.assertRaises(imaplib.IMAP4.error) as e:
                imap_login(user, "aaaaa-bbbbb-ccccc-ddddd-eeeee")
            self.assertIn("AUTHENTICATIONFAILED", str(e.exception))

    def test_passthrough_account_still_relayed(self):
        c = imap_login("carol@fabrikam.com", "Carol-Pass-3310")
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()

    def test_concurrent_logins_refresh_once_and_expiry_refreshes_again(self):
        status, password, err = enrol(ALICE)
        self.assertEqual(status, 0, err)
        PASSWORDS[ALICE] = password
        time.sleep(CACHE_SECONDS)
        before = sim_stats().get("refreshes", 0)
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            sessions = list(pool.map(lambda _: imap_login(ALICE, password), range(6)))
        for c in sessions:
            c.logout()
        self.assertEqual(sim_stats().get("refreshes", 0) - before, 1)
        # Tokens that live less than the margin: every login refreshes, rotating the refresh
        # token each time (a reused one would be refused by the stand-in).
        sim_post("/_sim/token-lifetime", seconds="60")
        try:
            time.sleep(CACHE_SECONDS)
            before = sim_stats().get("refreshes", 0)
            for _ in range(3):
                imap_login(ALICE, password).logout()
            self.assertEqual(sim_stats().get("refreshes", 0) - before, 3)
        finally:
            sim_post("/_sim/token-lifetime", seconds=str(TOKEN_LIFETIME))

    def test_revoked_sign_in_asks_to_enrol_again(self):
        status, password, err = enrol(ALICE)
        self.assertEqual(status, 0, err)
        PASSWORDS[ALICE] = password
        time.sleep(CACHE_SECONDS)
        sim_post("/_sim/revoke", upn=ALICE)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            imap_login(ALICE, password)
        self.assertIn("AUTHENTICATIONFAILED", str(e.exception))
        self.assertIn("enrol", str(e.exception).lower())
        listed = users_command("list").stdout.decode()
        self.assertRegex(listed, rf"(?m)^{re.escape(ALICE)}.*re-?enrol", listed)
        self.assertRegex(GATEWAY.log_text(), r"reenrol_needed user=alice@contoso.com")
        # Enrolling again makes the account work.
        status, password, err = enrol(ALICE)
        self.assertEqual(status, 0, err)
        PASSWORDS[ALICE] = password
        imap_login(ALICE, password).logout()

    def test_enrol_as_another_user_is_refused(self):
        status, out, err = enrol("dave@contoso.com", approve_as=ALICE)
        self.assertNotEqual(status, 0)
        self.assertIn("signed in as", err)
        self.assertEqual(out, "")

    def test_store_holds_no_secret_in_clear(self):
        raw = b"".join(p.read_bytes() for p in STORE.parent.glob(STORE.name + "*"))
        for user, password in PASSWORDS.items():
            for variant in (password, password.replace("-", "")):
                self.assertNotIn(variant.encode(), raw, user)
        self.assertNotIn(env.GraphSim.CLIENT_SECRET.encode(), raw)


def main() -> int:
    global ICALGATE, GRAPHSIM
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--icalgate", required=True)
    ap.add_argument("--graphsim", required=True)
    args, rest = ap.parse_known_args()
    ICALGATE = os.path.abspath(args.icalgate)
    GRAPHSIM = os.path.abspath(args.graphsim)
    with env.sigterm_as_exception():
        prog = unittest.main(argv=[sys.argv[0], "-v"] + rest, exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
