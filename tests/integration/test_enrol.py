#!/usr/bin/env python3
"""The web enrolment (/enrol) end to end: a browser's requests to a real gateway in the
delegated mode, the identity platform stand-in (icalgate-graphsim) and Dovecot validating the
tokens the gateway then logs in with.

    python3 tests/integration/test_enrol.py --icalgate build/dev/bin/icalgate \\
        --graphsim build/dev/bin/icalgate-graphsim

The [admin] endpoint serves HTTPS with the development certificate. Checked from outside:
  - GET /enrol: the form, as HTML, with the CSP and no-store;
  - POST /enrol for alice (Origin of the page): 303 to /enrol/status?id=<128-bit hex>; the
    status page shows the code, the link and Microsoft's sentence and reloads itself; the test
    approves the code in the stand-in as alice would at the link; the page then shows the app
    password once (no-store, with the server, ports and user name), the next read says it was
    already shown; imaplib logs in to the gateway with it and reads INBOX;
  - approved as someone else, declined: a clear page, nothing stored (`icalgate users list`);
  - a second enrolment of the same address while one runs: 409; a foreign or missing Origin:
    403, and no sign-in is started;
  - the gateway stops cleanly (exit 0, no sanitizer report) with an enrolment still waiting;
    its log names users and outcomes, never an id, a code or a password.
"""

from __future__ import annotations

import argparse
import http.client
import imaplib
import json
import os
import re
import shutil
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

ICALGATE: str | None = None
GRAPHSIM: str | None = None
ALICE = "alice@contoso.com"
BOB = "bob@contoso.com"
ROOT: Path | None = None
WORLD: env.World | None = None
GRAPH: env.GraphSim | None = None
GATEWAY: env.Gateway | None = None
ADMIN_PORT = 0
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
SEEN: dict[str, str] = {}  # ids, codes and passwords the log must not show
ID_IN_LOCATION = re.compile(r"^/enrol/status\?id=([0-9a-f]{32})$")


class Page:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.status, self.headers, self.text = status, headers, body.decode("utf-8")

    def find(self, element_id: str) -> str | None:
        m = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', self.text)
        return m.group(1) if m else None


def origin() -> str:
    return f"https://localhost:{ADMIN_PORT}"


def request(method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None) -> Page:
    conn = http.client.HTTPSConnection("localhost", ADMIN_PORT, timeout=30,
                                       context=env.client_tls_context(WORLD.certs["ca"]))
    try:
        conn.request(method, path, body=body.encode() if body is not None else None, headers=headers or {})
        r = conn.getresponse()
        return Page(r.status, r.headers, r.read())
    finally:
        conn.close()


def post_enrol(upn: str, origin_header: str | None = "") -> Page:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if origin_header is not None:
        headers["Origin"] = origin_header or origin()
    return request("POST", "/enrol", urllib.parse.urlencode({"upn": upn}), headers)


def start(upn: str) -> tuple[str, str]:
    """POST /enrol, then the status page until it shows the code: (status path, user code)."""
    r = post_enrol(upn)
    assert r.status == 303, (r.status, r.text)
    location = r.headers["Location"]
    m = ID_IN_LOCATION.match(location)
    assert m, location
    SEEN[f"enrolment id of {upn}"] = m.group(1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        page = request("GET", location)
        assert page.status == 200, (page.status, page.text)
        code = page.find("user-code")
        if code:
            SEEN[f"user code of {upn}"] = code
            return location, code
        time.sleep(0.2)
    raise AssertionError(f"no user code on the status page:\n{page.text}")


def wait_for(location: str, done) -> Page:
    """The status page, read as its meta refresh would, until done(page)."""
    deadline = time.monotonic() + 30
    while True:
        page = request("GET", location)
        if done(page) or time.monotonic() > deadline:
            return page
        time.sleep(0.5)


def sim(path: str, **form) -> dict:
    data = urllib.parse.urlencode(form).encode() if form else None
    with urllib.request.urlopen(f"http://{env.HOST}:{GRAPH.port}{path}", data=data, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body.strip().startswith(b"{") else {}


def device_codes() -> int:
    return len(sim("/_sim/devicecodes").get("value", []))


def users_listed() -> str:
    r = subprocess.run([ICALGATE, "users", "list", "--config", str(GATEWAY.config_path)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def setUpModule():
    global ROOT, WORLD, GRAPH, GATEWAY, ADMIN_PORT
    root = ROOT = Path(tempfile.mkdtemp(prefix="icalgate-enrol-"))
    os.chmod(root, 0o755)
    WORLD = env.World(icalgate=None, users={ALICE: env.USERS[ALICE], BOB: env.USERS[BOB]}, root=root / "world")
    WORLD.start()
    data = root / "graph"
    (data / "users").mkdir(parents=True)
    GRAPH = env.GraphSim(GRAPHSIM, data, root, jwt_key=WORLD.upstream.oauth2.key_file,
                         extra_args=["--device-code-interval", "1"]).start()
    ADMIN_PORT = env.free_port()
    extra = f"""
[auth]
mode = "delegated"
tenant = "{env.GraphSim.TENANT}"
client_id = "{env.GraphSim.CLIENT_ID}"
client_secret_file = "{GRAPH.secret_file}"
authority = "http://{env.HOST}:{GRAPH.port}"
store = "{root / 'auth.db'}"

[admin]
listen = "{env.HOST}:{ADMIN_PORT}"
cert = "{WORLD.certs['fullchain']}"
key = "{WORLD.certs['privkey']}"
hostnames = ["localhost"]
"""
    WORLD.icalgate = ICALGATE
    GATEWAY = WORLD.start_gateway(name="enrol", extra_config=extra, log_level="debug")
    env.wait_until(lambda: env.port_accepts(ADMIN_PORT), 10, what="the admin endpoint")


def tearDownModule():
    problems = []
    if WORLD is not None:
        # An enrolment still waits for its sign-in: the gateway must stop cleanly all the same.
        if GATEWAY is not None and GATEWAY.running:
            try:
                start("erin@contoso.com")
            except AssertionError as e:
                problems.append(f"could not leave an enrolment running: {e}")
        secrets = dict(WORLD.secrets())
        secrets.update(SEEN)
        secrets["graph client secret"] = env.GraphSim.CLIENT_SECRET
        problems += WORLD.stop_and_check(secrets)
    if GRAPH is not None:
        GRAPH.stop()
    if problems:
        raise AssertionError("after the suite:\n" + "\n".join(problems) + f"\n(kept in {ROOT})")
    if ROOT is not None and not os.environ.get("ICALGATE_ITEST_KEEP"):
        shutil.rmtree(ROOT, ignore_errors=True)


class EnrolTest(unittest.TestCase):
    def test_form(self):
        page = request("GET", "/enrol")
        self.assertEqual(page.status, 200, page.text)
        self.assertEqual(page.headers["Content-Type"], "text/html; charset=utf-8")
        self.assertEqual(page.headers["Content-Security-Policy"], CSP)
        self.assertEqual(page.headers["Cache-Control"], "no-store")
        self.assertIn('<form method="post" action="/enrol">', page.text)
        self.assertIn('name="upn"', page.text)
        self.assertNotIn("<script", page.text)
        self.assertNotRegex(page.text, r'(src|href)="(https?:)?//')  # nothing loaded from elsewhere

    def test_enrol_then_log_in_with_the_app_password(self):
        location, code = start(ALICE)
        page = request("GET", location)
        self.assertEqual(page.headers["Content-Security-Policy"], CSP)
        self.assertEqual(page.headers["Cache-Control"], "no-store")
        self.assertRegex(page.text, r'<meta http-equiv="refresh" content="\d+">')
        self.assertEqual(page.find("verification-uri"), "https://microsoft.com/devicelogin")
        self.assertIn('href="https://microsoft.com/devicelogin"', page.text)
        self.assertIn(f"enter the code {code} to authenticate", page.text)  # Microsoft's sentence
        pending = sim("/_sim/devicecodes")["value"]
        self.assertIn(code, [c["user_code"] for c in pending])

        sim("/_sim/devicecode/approve", user_code=code, upn=ALICE)
        page = wait_for(location, lambda p: p.find("app-password") is not None)
        password = page.find("app-password")
        self.assertIsNotNone(password, page.text)
        SEEN["app password of alice"] = password
        self.assertEqual(page.status, 200)
        self.assertEqual(page.headers["Cache-Control"], "no-store")
        self.assertNotIn("http-equiv=\"refresh\"", page.text)
        self.assertEqual(page.find("imap-server"), "localhost")
        self.assertIn(f"{GATEWAY.imaps_port} with SSL/TLS", page.text)
        self.assertIn(f"{GATEWAY.imap_port} with STARTTLS", page.text)
        self.assertIn(f"<dt>User name</dt><dd>{ALICE}</dd>", page.text)

        again = request("GET", location)
        self.assertEqual(again.status, 200)
        self.assertIsNone(again.find("app-password"))
        self.assertNotIn(password, again.text)
        self.assertIn("already shown", again.text)

        c = imaplib.IMAP4_SSL(env.HOST, GATEWAY.imaps_port, ssl_context=env.client_tls_context(WORLD.certs["ca"]),
                              timeout=30)
        c.login(ALICE, password)
        typ, data = c.select("INBOX", readonly=True)
        self.assertEqual(typ, "OK")
        self.assertGreater(int(data[0]), 0)
        typ, data = c.fetch("1", "(BODY.PEEK[HEADER])")
        self.assertEqual(typ, "OK")
        self.assertIn(b"From:", data[0][1])
        c.logout()
        log = GATEWAY.log_text()
        self.assertRegex(log, r"enrol_finished user=alice@contoso.com outcome=issued")
        self.assertRegex(log, r"login session=\d+ .*user=alice@contoso.com .*mode=delegated")
        self.assertRegex(users_listed(), rf"(?m)^{re.escape(ALICE)}\b")

    def test_someone_else_signing_in_is_refused(self):
        location, code = start(BOB)
        sim("/_sim/devicecode/approve", user_code=code, upn=ALICE)
        page = wait_for(location, lambda p: "Nothing was stored" in p.text)
        self.assertIn(f"You signed in as {ALICE}, not as {BOB}.", page.text)
        self.assertIsNone(page.find("app-password"))
        self.assertNotIn("http-equiv=\"refresh\"", page.text)
        self.assertNotRegex(users_listed(), rf"(?m)^{re.escape(BOB)}\b")
        self.assertRegex(GATEWAY.log_text(), r"enrol_finished user=bob@contoso.com outcome=mismatch")

    def test_declined_sign_in(self):
        location, code = start("dave@contoso.com")
        sim("/_sim/devicecode/deny", user_code=code)
        page = wait_for(location, lambda p: "Nothing was stored" in p.text)
        self.assertIn("The sign-in was declined.", page.text)
        self.assertNotRegex(users_listed(), r"(?m)^dave@contoso.com\b")

    def test_one_running_enrolment_per_address(self):
        location, code = start("frank@contoso.com")
        again = post_enrol("Frank@Contoso.com")
        self.assertEqual(again.status, 409, again.text)
        self.assertIn("already waiting", again.text)
        sim("/_sim/devicecode/deny", user_code=code)
        wait_for(location, lambda p: "declined" in p.text)
        self.assertEqual(post_enrol("frank@contoso.com").status, 303)

    def test_cross_site_posts_are_refused(self):
        before = device_codes()
        for origin_header in ("https://evil.test", f"https://localhost:{ADMIN_PORT + 1}", "null", None):
            with self.subTest(origin=origin_header):
                r = post_enrol("grace@contoso.com", origin_header)
                self.assertEqual(r.status, 403, r.text)
                self.assertEqual(r.text, "cross-site request refused\n")
        r = request("POST", "/enrol", "upn=grace%40contoso.com",
                    {"Content-Type": "text/plain", "Origin": origin()})
        self.assertEqual(r.status, 415)
        self.assertEqual(device_codes(), before)

    def test_unknown_status_ids(self):
        for path in ("/enrol/status", "/enrol/status?id=0123456789abcdef0123456789abcdef",
                     "/enrol/status?id=../../etc/passwd"):
            with self.subTest(path=path):
                page = request("GET", path)
                self.assertEqual(page.status, 404)
                self.assertIn("unknown or has expired", page.text)


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
