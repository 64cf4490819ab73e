#!/usr/bin/env python3
"""What a session through icalgate leaves behind, and what it says before login.

    python3 tests/integration/test_sessions.py --icalgate build/dev/bin/icalgate

  - the session_start / session_end log lines of real sessions, on both listeners, in the
    text and the JSON log format: session id, client address, user, client name from ID,
    bytes each way, duration; untrusted ID names sanitized (no control bytes, no split line);
  - the pre-auth CAPABILITY (SASL-IR, the upstream's AUTH= mechanisms once known);
  - ID forwarded to the upstream (Dovecot logs what it is sent: imap_id_log = *);
  - the command line (--version, --help, an unknown option);
  - the log scan itself: it finds secrets base64-encoded in SASL payloads.

Gateway only: there is nothing to compare with Dovecot here.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import env  # noqa: E402
from env import quote, status_of  # noqa: E402

ICALGATE: str | None = None
UPSTREAM_TLS = "implicit"
WORLD: env.World | None = None
ALICE = "alice@contoso.com"
PASSWORD = env.USERS[ALICE]

# session_end's fields and what each must be: a number or text.
END_FIELDS = {"session": int, "client": str, "user": str, "client_name": str, "bytes_in": int,
              "bytes_out": int, "duration_ms": int, "reason": str}
_TEXT_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def setUpModule():
    global WORLD
    WORLD = env.World(icalgate=ICALGATE, upstream_tls=UPSTREAM_TLS)
    WORLD.start()


def tearDownModule():
    if WORLD is not None:
        WORLD.stop_and_assert()


def text_events(log: str, event: str) -> list[dict[str, str]]:
    """The fields of every text-format line of `event` ("... info session_end session=3 ...")."""
    out = []
    for line in log.splitlines():
        m = re.match(r"\S+ \w+ (\w+)(?: |$)", line)
        if m and m.group(1) == event:
            fields = {}
            for key, value in _TEXT_FIELD.findall(line[m.end():]):
                if value.startswith('"'):
                    value = re.sub(r'\\"', '"', value[1:-1])
                fields[key] = value
            out.append(fields)
    return out


def json_events(log: str, event: str) -> list[dict]:
    return [o for o in map(json.loads, filter(None, log.splitlines())) if o.get("event") == event]


class CountingImap(env.Imap):
    """env.Imap that counts what it sends (the plaintext IMAP bytes, before TLS)."""

    sent = 0

    def send(self, data: bytes) -> None:
        self.sent += len(data)
        super().send(data)


class SessionBase(unittest.TestCase):
    maxDiff = 4000

    @property
    def w(self) -> env.World:
        assert WORLD is not None
        return WORLD

    def connect(self, gw: env.Gateway, listener: str) -> CountingImap:
        """A client on the gateway's IMAPS listener, or on its plain one after STARTTLS."""
        if listener == "imaps":
            c = CountingImap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"])
        else:
            c = CountingImap(gw.imap_port, tls=False, ca_file=self.w.certs["ca"])
            c.starttls()
        self.addCleanup(c.close)
        return c

    def session_end(self, gw: env.Gateway, name: str, parse) -> dict:
        """The session_end of the session whose ID name was `name` (waits for it)."""
        def find():
            return [e for e in parse(gw.log_text(), "session_end") if e.get("client_name") == name]
        found = env.wait_until(find, 10, what=f"session_end with client_name={name}")
        self.assertEqual(len(found), 1, found)
        return found[0]

    def run_session(self, gw: env.Gateway, listener: str, name: str) -> tuple[CountingImap, int, float]:
        """ID, login, the largest corpus message fetched, a pause, LOGOUT: (client, the
        fetched message's size, the session's wall time)."""
        started = time.monotonic()
        c = self.connect(gw, listener)
        c.check(b'ID ("name" ' + quote(name) + b' "version" "1.0")')
        c.login(ALICE, PASSWORD)
        c.check(b"EXAMINE INBOX")
        sizes = [len(d) for _, d in self.w.seed_messages]
        biggest = sizes.index(max(sizes)) + 1
        fetched = env.fetch_literals(c.check(b"FETCH %d (BODY.PEEK[])" % biggest))
        self.assertEqual(fetched[biggest], self.w.seed_messages[biggest - 1][1])
        time.sleep(0.3)
        _, tagged = c.command(b"LOGOUT")
        self.assertEqual(status_of(tagged), b"OK")
        c.read_until_closed()
        return c, len(fetched[biggest]), time.monotonic() - started

    def assert_session_lines(self, start: dict, end: dict, listener: str, name: str,
                             c: CountingImap, fetched: int, wall: float) -> None:
        for key, kind in END_FIELDS.items():
            self.assertIn(key, end)
            if kind is int:
                self.assertRegex(str(end[key]), r"^\d+$", key)
        self.assertEqual(str(start["session"]), str(end["session"]))
        self.assertEqual(start["client"], "127.0.0.1")
        self.assertEqual(start.get("listener"), listener)
        self.assertEqual((end["client"], end["user"], end["client_name"], end["reason"]),
                         ("127.0.0.1", ALICE, name, "logout"))
        bytes_in, bytes_out, duration = int(end["bytes_in"]), int(end["bytes_out"]), int(end["duration_ms"])
        # What the client sent, what it received (both as IMAP bytes, TLS not counted).
        self.assertEqual(bytes_in, c.sent, end)
        self.assertGreaterEqual(bytes_out, fetched, end)
        self.assertEqual(bytes_out, c.wire_in, end)
        self.assertGreaterEqual(duration, 300, end)
        self.assertLessEqual(duration, wall * 1000 + 100, end)


# =============================================================================== session lines


class SessionLogTest(SessionBase):
    def check_sessions(self, gw: env.Gateway, parse) -> None:
        for listener in ("imaps", "imap"):
            with self.subTest(listener=listener):
                name = f"sessions-{listener}-{uuid.uuid4().hex[:8]}"
                c, fetched, wall = self.run_session(gw, listener, name)
                end = self.session_end(gw, name, parse)
                starts = [e for e in parse(gw.log_text(), "session_start") if str(e.get("session")) == str(end["session"])]
                self.assertEqual(len(starts), 1, f"no single session_start for session {end['session']}")
                self.assert_session_lines(starts[0], end, listener, name, c, fetched, wall)

    def test_text_session_lines(self):
        self.check_sessions(self.w.gateway, text_events)

    def test_json_every_line_valid_with_session_fields(self):
        gw = self.w.start_gateway(name="json", log_format="json")
        self.check_sessions(gw, json_events)
        # Every line, trace lines included, is one JSON object with time, level and event.
        lines = gw.log_text().splitlines()
        self.assertGreater(len(lines), 20)
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError as e:
                self.fail(f"not JSON ({e}): {line[:300]!r}")
            self.assertTrue({"time", "level", "event"} <= obj.keys(), line[:300])
        for end in json_events(gw.log_text(), "session_end"):
            for key, kind in END_FIELDS.items():
                self.assertIsInstance(end[key], kind, (key, end))


# =============================================================================== untrusted names


class SanitizedNameTest(SessionBase):
    """An ID name with control bytes, CR and LF: logged escaped, on one line, both formats."""

    EVIL = [b"evil\x01name", b"evil\r\ninjected=1 line\x1b[31m"]

    def id_commands(self, marker: bytes) -> list[tuple[bytes, bytes]]:
        """(ID command, the name it carries): control bytes in a quoted string, CR/LF in a
        LITERAL+ literal (a quoted string cannot hold them)."""
        quoted = marker + self.EVIL[0]
        literal = marker + self.EVIL[1]
        return [(b'ID ("name" "' + quoted + b'")', quoted),
                (b'ID ("name" {%d+}\r\n' % len(literal) + literal + b")", literal)]

    def check_sanitized(self, gw: env.Gateway, parse) -> None:
        for before_login in (True, False):
            for n, (cmd, name) in enumerate(self.id_commands(b"m%s" % uuid.uuid4().hex[:8].encode())):
                with self.subTest(before_login=before_login, n=n):
                    marker = name[:9].decode()
                    c = self.connect(gw, "imaps")
                    if before_login:
                        c.check(cmd)
                        c.login(ALICE, PASSWORD)
                    else:
                        c.login(ALICE, PASSWORD)
                        c.check(cmd)
                    c.logout()
                    env.wait_until(lambda: [e for e in parse(gw.log_text(), "session_end")
                                            if e.get("client_name", "").startswith(marker)], 10,
                                   what=f"session_end for {marker}")
                    raw = gw.log_path.read_bytes()
                    hits = [l for l in raw.split(b"\n") if marker.encode() in l]
                    self.assertTrue(hits)
                    for line in hits:
                        self.assertIsNone(re.search(rb"[\x00-\x1f\x7f]", line.rstrip(b"\r")),
                                          f"raw control byte logged: {line[:300]!r}")
                    # No line begins with what followed the CR LF.
                    self.assertNotIn(b"\ninjected=1", raw)
                    end = [e for e in parse(gw.log_text(), "session_end") if e.get("client_name", "").startswith(marker)][-1]
                    self.assertIsNone(re.search(r"[\x00-\x1f\x7f]", end["client_name"]), end)
                    self.assertTrue(end["client_name"].startswith(marker + "evil"), end)

    def test_text(self):
        self.check_sanitized(self.w.gateway, text_events)

    def test_json(self):
        gw = self.w.start_gateway(name="json-names", log_format="json")
        self.check_sanitized(gw, json_events)


# =============================================================================== pre-auth


class PreauthTest(SessionBase):
    @staticmethod
    def caps_of(line: bytes) -> set[str]:
        m = re.search(rb"CAPABILITY ([^\]\r\n]*)", line)
        return set(m.group(1).decode().upper().split()) if m else set()

    def test_capability_lists_sasl_ir_and_the_upstreams_mechanisms(self):
        up = self.w.upstream.connect()
        dovecot_auth = {c for c in up.capabilities() if c.startswith("AUTH=")}
        up.close()
        self.assertTrue({"AUTH=PLAIN", "AUTH=XOAUTH2", "AUTH=OAUTHBEARER"} <= dovecot_auth, dovecot_auth)
        gw = self.w.start_gateway(name="caps")
        # Once a session has met the upstream, its mechanisms are known.
        c = self.connect(gw, "imaps")
        c.login(ALICE, PASSWORD)
        c.logout()
        for listener in ("imaps", "imap"):
            with self.subTest(listener=listener):
                c = self.connect(gw, listener)
                for caps in (self.caps_of(c.greeting), c.capabilities()) if listener == "imaps" else (c.capabilities(),):
                    self.assertIn("SASL-IR", caps)
                    self.assertEqual({x for x in caps if x.startswith("AUTH=")}, dovecot_auth)
                    self.assertFalse({"STARTTLS", "LOGINDISABLED"} & caps, caps)
                c.logout()
        # Before TLS on the plain port: STARTTLS and LOGINDISABLED, no mechanism.
        plain = env.Imap(gw.imap_port, tls=False, ca_file=self.w.certs["ca"])
        self.addCleanup(plain.close)
        caps = plain.capabilities()
        self.assertTrue({"STARTTLS", "LOGINDISABLED"} <= caps, caps)
        self.assertFalse({x for x in caps if x.startswith("AUTH=")}, caps)

    def test_id_is_forwarded_upstream(self):
        # Sent before login: the gateway answers it and forwards it once logged in; sent
        # after login: relayed. Dovecot logs the first ID each session is sent (so: two
        # sessions), from the user's imap process.
        before = f"idfwd-pre-{uuid.uuid4().hex[:8]}"
        after = f"idfwd-post-{uuid.uuid4().hex[:8]}"
        c = self.connect(self.w.gateway, "imaps")
        c.check(b'ID ("name" ' + quote(before) + b")")
        c.login(ALICE, PASSWORD)
        c.logout()
        c = self.connect(self.w.gateway, "imap")
        c.login(ALICE, PASSWORD)
        untagged = c.check(b'ID ("name" ' + quote(after) + b")")
        self.assertNotIn(b'"icalgate"', b"".join(untagged))  # the upstream's answer
        c.logout()
        for name in (before, after):
            env.wait_until(lambda: name in self.w.upstream.log_text(), 10, what=f"Dovecot's log naming the ID {name}")
            line = next(l for l in self.w.upstream.log_text().splitlines() if name in l)
            self.assertRegex(line, r"imap\(" + re.escape(ALICE) + r"\).*ID sent: name=" + name)


# =============================================================================== command line


class CommandLineTest(unittest.TestCase):
    def icalgate(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([ICALGATE, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=30)

    def test_version(self):
        r = self.icalgate("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.decode(), r"^icalgate \d+\.\d+\.\d+\S*\n$")

    def test_help(self):
        r = self.icalgate("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertTrue(out.startswith("usage: icalgate"), out[:200])
        for option in ("--config FILE", "check-config FILE", "--version", "--help"):
            self.assertIn(option, out)

    def test_unknown_option(self):
        r = self.icalgate("--no-such-option")
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, b"")
        self.assertIn(b"--no-such-option", r.stderr)


# =============================================================================== the log scan


class LogScanTest(unittest.TestCase):
    """env's scan finds a secret however a SASL payload carried it (no gateway needed)."""

    def test_encoded_payloads_are_found(self):
        tmp = Path(tempfile.mkdtemp(prefix="icalgate-scan-"))
        self.addCleanup(shutil.rmtree, tmp, True)
        issuer = env.OAuth2Issuer(tmp)
        token = issuer.token(ALICE)
        secrets = env.user_secrets({ALICE: PASSWORD}) | env.token_secrets(issuer, [ALICE])
        carriers = {
            "XOAUTH2": env.xoauth2_payload(ALICE, token).decode(),
            "XOAUTH2 unpadded": env.xoauth2_payload(ALICE, token).decode().rstrip("="),
            **{f"OAUTHBEARER port {p}": env.oauthbearer_payload(ALICE, token, p).decode() for p in (9, 99, 993, 12345)},
            "PLAIN": env.sasl_plain(ALICE, PASSWORD).decode(),
            "PLAIN unpadded": env.sasl_plain(ALICE, PASSWORD).decode().rstrip("="),
            "PLAIN with authzid": base64.b64encode(f"{ALICE}\0{ALICE}\0{PASSWORD}".encode()).decode(),
        }
        for what, payload in carriers.items():
            with self.subTest(what):
                line = f"2026-11-28T10:00:00.000 trace C session=7 line=\"A1 AUTHENTICATE X {payload}\"\n"
                self.assertTrue(env.secret_leaks(line, secrets, "log"), line)
        benign = "2026-11-28T10:00:00.000 trace C session=7 line=\"A1 AUTHENTICATE XOAUTH2 <redacted>\"\n"
        self.assertEqual(env.secret_leaks(benign, secrets, "log"), [])


def main() -> int:
    global ICALGATE, UPSTREAM_TLS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--icalgate", required=True, help="the icalgate executable to test")
    ap.add_argument("--upstream-tls", choices=("implicit", "starttls"), default="implicit",
                    help="how the gateway connects to Dovecot (default implicit)")
    args, rest = ap.parse_known_args()
    UPSTREAM_TLS = args.upstream_tls
    ICALGATE = os.path.abspath(args.icalgate)
    with env.sigterm_as_exception():
        prog = unittest.main(argv=[sys.argv[0], "-v"] + rest, exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
