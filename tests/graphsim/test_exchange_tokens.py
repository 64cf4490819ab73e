#!/usr/bin/env python3
"""The identity-platform stand-in and the test upstream agree on tokens, end to end: tokens
that icalgate-graphsim issues (signed with the key of --jwt-key) log in to a Dovecot built by
tests/integration/env.py with app_auth=True, through Python's imaplib and curl, and the
upstream refuses them as Exchange Online would.

  delegated (device code, then refresh): user= the signed-in user works, another user and an
  expired token do not;
  app-only (client credentials, IMAP.AccessAsApp): user= a mailbox granted to the app works,
  a mailbox not granted, an expired token, another app and an app without the role do not.

Every refusal must be NO [AUTHENTICATIONFAILED], never a temporary failure.
Needs Debian's dovecot-auth-lua (the app-only passdb).
usage: test_exchange_tokens.py PATH/TO/icalgate-graphsim
"""

import imaplib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
import env  # noqa: E402

TENANT = "contoso.onmicrosoft.com"
GATEWAY_APP, GATEWAY_SECRET = "7e1b2c3d-gateway-app", "gw-secret-5e4d"
OTHER_APP, OTHER_SECRET = "other-app", "other-secret-1a2b"
NO_ROLE_APP, NO_ROLE_SECRET = "no-role-app", "no-role-secret-3c4d"
ALICE, BOB = "alice@contoso.com", "bob@contoso.com"
DELEGATED_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access openid profile"
APP_SCOPE = "https://outlook.office365.com/.default"
failures = []


def check(condition, what):
    print(("ok:   " if condition else "FAIL: ") + what)
    if not condition:
        failures.append(what)


class Sim:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def post(self, path, **form):
        req = urllib.request.Request(self.base + path, data=urllib.parse.urlencode(form).encode(),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return res.status, json.loads(res.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def token(self, **form):
        return self.post(f"/{TENANT}/oauth2/v2.0/token", **form)

    def app_token(self, client, secret):
        status, body = self.token(grant_type="client_credentials", client_id=client,
                                  client_secret=secret, scope=APP_SCOPE)
        assert status == 200, body
        return body["access_token"]

    def lifetime(self, seconds):
        status, _ = self.post("/_sim/token-lifetime", seconds=str(seconds))
        assert status == 200

    def sign_in(self, upn):
        """The device-code flow with the user approving at once: the token response."""
        status, grant = self.post(f"/{TENANT}/oauth2/v2.0/devicecode", client_id=GATEWAY_APP,
                                  scope=DELEGATED_SCOPE)
        assert status == 200, grant
        status, body = self.post("/_sim/devicecode/approve", user_code=grant["user_code"], upn=upn)
        assert status == 200, body
        time.sleep(grant["interval"])
        status, body = self.token(grant_type="urn:ietf:params:oauth:grant-type:device_code",
                                  client_id=GATEWAY_APP, device_code=grant["device_code"])
        assert status == 200, body
        return body


def imaplib_login(upstream, user, token):
    """XOAUTH2 through imaplib; (True, '') or (False, the server's text)."""
    ctx = ssl.create_default_context(cafile=str(upstream.certs["ca"]))
    conn = imaplib.IMAP4_SSL("127.0.0.1", upstream.imaps_port, ssl_context=ctx, timeout=15)
    sent = []

    def respond(challenge):
        # The payload first; after a failure Dovecot sends a JSON challenge that wants an
        # empty answer.
        sent.append(challenge)
        return f"user={user}\x01auth=Bearer {token}\x01\x01".encode() if len(sent) == 1 else b""

    try:
        conn.authenticate("XOAUTH2", respond)
        typ, data = conn.select("INBOX", readonly=True)
        conn.logout()
        return typ == "OK", ""
    except imaplib.IMAP4.error as e:
        conn.shutdown()
        return False, str(e)


def curl_login(upstream, user, token):
    """XOAUTH2 through curl: LIST of the mailbox; curl's exit status."""
    r = subprocess.run(["curl", "-sS", "--max-time", "15", "--cacert", str(upstream.certs["ca"]),
                        "--login-options", "AUTH=XOAUTH2", "--oauth2-bearer", token, "--user", user + ":",
                        f"imaps://localhost:{upstream.imaps_port}/"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def refused(result):
    ok, text = result
    return not ok and "AUTHENTICATIONFAILED" in text


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    graphsim_binary = sys.argv[1]
    root = Path(tempfile.mkdtemp(prefix="icalgate-tokens-"))
    os.chmod(root, 0o755)
    upstream = sim = None
    try:
        certs = env.make_certs(root / "certs")
        upstream = env.Upstream(certs, dict(env.USERS), app_auth=True).start()
        data = root / "graphsim"
        data.mkdir()
        (data / "clients.json").write_text(json.dumps({"clients": [
            {"tenant": TENANT, "client_id": GATEWAY_APP, "client_secret": GATEWAY_SECRET},
            {"tenant": TENANT, "client_id": OTHER_APP, "client_secret": OTHER_SECRET},
            {"tenant": TENANT, "client_id": NO_ROLE_APP, "client_secret": NO_ROLE_SECRET,
             "imap_app_roles": []}]}))
        sim = env.GraphSim(graphsim_binary, data, root, jwt_key=upstream.oauth2.key_file,
                           extra_args=["--device-code-interval", "1"]).start()
        run_checks(upstream, Sim(sim.port))
        log = upstream.log_text()
        check("auth: Error" not in log, "no refusal was an internal (temporary) failure")
    finally:
        if sim is not None:
            sim.stop()
        if upstream is not None:
            upstream.stop()
        shutil.rmtree(root, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("exchange token checks passed")
    return 0


def run_checks(upstream, sim):
    # Delegated: what the gateway gets by enrolling a user.
    tokens = sim.sign_in(ALICE)
    check(imaplib_login(upstream, ALICE, tokens["access_token"]) == (True, ""),
          "imaplib: alice's delegated token logs in as alice")
    check(refused(imaplib_login(upstream, BOB, tokens["access_token"])),
          "imaplib: alice's delegated token does not log in as bob")
    status, refreshed = sim.token(grant_type="refresh_token", client_id=GATEWAY_APP,
                                  refresh_token=tokens["refresh_token"])
    check(status == 200 and imaplib_login(upstream, ALICE, refreshed["access_token"]) == (True, ""),
          "imaplib: a refreshed delegated token logs in")
    code, out = curl_login(upstream, ALICE, refreshed["access_token"])
    check(code == 0 and "INBOX" in out, "curl: the delegated token logs in and lists")
    sim.lifetime(3)
    status, short = sim.token(grant_type="refresh_token", client_id=GATEWAY_APP,
                              refresh_token=refreshed["refresh_token"])
    check(status == 200 and imaplib_login(upstream, ALICE, short["access_token"]) == (True, ""),
          "a 3-second delegated token works at once")
    time.sleep(4)
    check(refused(imaplib_login(upstream, ALICE, short["access_token"])),
          "imaplib: an expired delegated token is refused")

    # App-only: Exchange's IMAP.AccessAsApp, user= any mailbox granted to the app.
    sim.lifetime(600)
    upstream.oauth2.grant(GATEWAY_APP, ALICE)
    upstream.oauth2.grant(NO_ROLE_APP, ALICE)
    app = sim.app_token(GATEWAY_APP, GATEWAY_SECRET)
    check(imaplib_login(upstream, ALICE, app) == (True, ""),
          "imaplib: the app token logs in to a granted mailbox")
    check(refused(imaplib_login(upstream, BOB, app)),
          "imaplib: the app token is refused for a mailbox not granted")
    code, out = curl_login(upstream, ALICE, app)
    check(code == 0 and "INBOX" in out, "curl: the app token logs in to a granted mailbox")
    code, out = curl_login(upstream, BOB, app)
    check(code == 67, f"curl: refused for a mailbox not granted (exit {code})")
    upstream.oauth2.grant(GATEWAY_APP, BOB)
    check(imaplib_login(upstream, BOB, app) == (True, ""),
          "a grant added while Dovecot runs takes effect")
    check(refused(imaplib_login(upstream, ALICE, sim.app_token(OTHER_APP, OTHER_SECRET))),
          "another app's token is refused (no grant)")
    check(refused(imaplib_login(upstream, ALICE, sim.app_token(NO_ROLE_APP, NO_ROLE_SECRET))),
          "a token without IMAP.AccessAsApp is refused, grant or not")
    forged = app.rsplit(".", 1)[0] + "." + env._b64url(os.urandom(32)).decode()
    check(refused(imaplib_login(upstream, ALICE, forged)), "a forged app token is refused")
    sim.lifetime(3)
    short_app = sim.app_token(GATEWAY_APP, GATEWAY_SECRET)
    check(imaplib_login(upstream, ALICE, short_app) == (True, ""), "a 3-second app token works at once")
    time.sleep(4)
    check(refused(imaplib_login(upstream, ALICE, short_app)), "imaplib: an expired app token is refused")
    code, _ = curl_login(upstream, ALICE, short_app)
    check(code == 67, f"curl: an expired app token is refused (exit {code})")
    check("app token refused: expired" in upstream.log_text()
          and "has no grant for mailbox bob@contoso.com" in upstream.log_text(),
          "the app passdb logs why it refused")

    # Passwords still work beside the tokens.
    with upstream.connect() as c:
        check(env.status_of(c.login(ALICE, env.USERS[ALICE])) == b"OK", "password login still works")


if __name__ == "__main__":
    sys.exit(main())
