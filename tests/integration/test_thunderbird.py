#!/usr/bin/env python3
"""A real Thunderbird syncs an account through icalgate and shows the messages.

    python3 tests/integration/test_thunderbird.py --icalgate build/dev/bin/icalgate
    python3 tests/integration/test_thunderbird.py --direct    # Thunderbird against Dovecot

Thunderbird (the Debian package, headless, driven through Marionette by thunderbird.py) gets
a fresh profile with alice's account on the gateway's implicit-TLS listener, then on its
STARTTLS listener. It trusts the development CA (imported as an authority, no certificate
override), its password is stored before it connects. For each listener:
- the message list of the Inbox holds every message Dovecot holds (same UIDs) and shows
  their subjects as Dovecot has them (RFC 2047 decoded here with email.header);
- opening a message shows its body text in the message pane;
- the gateway logged the session on that listener, with Thunderbird's ID.
A screenshot of the 3-pane window after the sync goes to --screenshot-dir (path printed).
The control: without the CA, Thunderbird refuses the gateway's certificate.

Thunderbird's chrome internals change between ESR releases: the suite fails at once, saying
so, when a major other than thunderbird.EXPECTED_MAJORS is installed.
"""

from __future__ import annotations

import argparse
import email
import email.header
import email.policy
import os
import re
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import env  # noqa: E402
import thunderbird as tbird  # noqa: E402

ICALGATE: str | None = None
UPSTREAM_TLS = "implicit"
SCREENSHOT_DIR = env.REPO / "build" / "thunderbird"
WORLD: env.World | None = None
VERSION = ""
ALICE = "alice@contoso.com"
# Plain text/plain corpus messages whose body the message pane must show (by Message-ID).
OPENED = ("lunch-1@example.org", "qp-utf8@example.org")


def setUpModule():
    global WORLD, VERSION
    VERSION = tbird.installed_version()
    print(f"\nThunderbird {VERSION} (expected major: {'/'.join(map(str, tbird.EXPECTED_MAJORS))})", flush=True)
    tbird.check_version(VERSION)
    WORLD = env.World(icalgate=ICALGATE, upstream_tls=UPSTREAM_TLS)
    WORLD.start()


def tearDownModule():
    if WORLD is not None:
        WORLD.stop_and_assert()


def decode_subject(raw: bytes) -> str:
    """The Subject field value as a reader sees it: unfolded, RFC 2047 decoded."""
    text = raw.decode("utf-8", errors="replace")
    value = re.sub(r"^subject:", "", text.strip(), flags=re.I).strip()
    value = re.sub(r"\r?\n[ \t]", " ", value)
    return str(email.header.make_header(email.header.decode_header(value)))


def comparable(subject: str) -> bool:
    """Subjects both sides must render alike: Thunderbird strips "Re:" into a flag, folds
    whitespace its own way and decodes malformed encoded words leniently."""
    return (
        subject != ""
        and "=?" not in subject
        and "\ufffd" not in subject
        and not re.match(r"(?i)re:", subject)
        and not re.search(r"\s\s|[\t\r\n]", subject)
        and subject == subject.strip()
    )


def dovecot_inbox() -> dict[int, tuple[str, bytes]]:
    """{UID: (decoded subject, full message)} of alice's Inbox, read from Dovecot directly."""
    assert WORLD is not None
    with WORLD.connect_upstream_imaps() as c:
        c.login(ALICE, WORLD.users[ALICE])
        c.select("INBOX")
        untagged = c.check(b"FETCH 1:* (UID BODY.PEEK[])")
        c.logout()
    out = {}
    for resp in untagged:
        m = re.match(rb"\* \d+ FETCH \(UID (\d+) BODY\[\] \{(\d+)\}\r\n", resp)
        if not m:
            continue
        data = resp[m.end() : m.end() + int(m.group(2))]
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        raw = msg.get("Subject")
        subject = decode_subject(b"Subject: " + str(raw).encode()) if raw is not None else ""
        out[int(m.group(1))] = (subject, data)
    return out


def body_lines(message: bytes) -> list[str]:
    """The non-empty lines of a single-part text/plain message, transfer-decoded."""
    msg = email.message_from_bytes(message, policy=email.policy.default)
    return [" ".join(line.split()) for line in msg.get_content().splitlines() if line.strip()]


def squash(text: str) -> str:
    return " ".join(text.split())


class ThunderbirdBase:
    """One Thunderbird, one listener: started and synced once for the class."""

    SOCKET_TYPE = tbird.TLS
    LISTENER = "imaps"

    tb: tbird.Thunderbird
    rows: list[dict]
    dovecot: dict[int, tuple[str, bytes]]
    sync_seconds: float

    @classmethod
    def setUpClass(cls):
        assert WORLD is not None
        port = WORLD.imaps_port if cls.SOCKET_TYPE == tbird.TLS else WORLD.imap_port
        cls.dovecot = dovecot_inbox()
        if len(cls.dovecot) < 20:
            raise AssertionError(f"Dovecot holds only {len(cls.dovecot)} messages: the world was not seeded")
        account = tbird.Account(port=port, socket_type=cls.SOCKET_TYPE, user=ALICE, password=WORLD.users[ALICE])
        cls.tb = tbird.Thunderbird(WORLD.root, account, ca_pem=WORLD.certs["ca"])
        t0 = time.monotonic()
        cls.tb.start()
        try:
            if cls.tb.version.split(".")[0] != VERSION.split(".")[0]:
                raise AssertionError(f"Marionette reports Thunderbird {cls.tb.version}, the package {VERSION}")
            started = time.monotonic()
            cls.rows = cls.tb.sync_inbox(expect=len(cls.dovecot), timeout=30)
            cls.sync_seconds = time.monotonic() - started
            print(
                f"\n{cls.LISTENER}: Thunderbird started in {started - t0:.1f}s, listed "
                f"{len(cls.rows)} messages {cls.sync_seconds:.1f}s later",
                flush=True,
            )
            # Let the list settle (more rows must not appear), then keep the picture.
            time.sleep(0.5)
            cls.rows = cls.tb.message_list()
            shot = cls.tb.screenshot(SCREENSHOT_DIR / f"thunderbird-{cls.LISTENER}.png")
            print(f"{cls.LISTENER}: screenshot of the 3-pane window: {shot}", flush=True)
        except Exception as e:
            cls.tb.stop()
            tail = WORLD.gateway.log_tail(3000) if WORLD.gateway is not None else "(--direct: no gateway)"
            raise AssertionError(f"{cls.LISTENER}: {e}\n--- gateway log (tail) ---\n{tail}") from e
        except BaseException:
            cls.tb.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.tb.stop()

    def test_message_list_has_every_uid(self):
        uids = sorted(r["uid"] for r in self.rows)
        self.assertEqual(uids, sorted(self.dovecot), "the message list's UIDs differ from Dovecot's")

    def test_message_list_shows_the_subjects(self):
        shown = {r["uid"]: r["subject"] for r in self.rows}
        checked = 0
        mismatches = []
        for uid, (subject, _) in sorted(self.dovecot.items()):
            if not comparable(subject):
                continue
            checked += 1
            if shown.get(uid) != subject:
                mismatches.append(f"UID {uid}: Dovecot {subject!r}, Thunderbird {shown.get(uid)!r}")
        self.assertEqual(mismatches, [])
        print(f"\n{self.LISTENER}: {checked} of {len(self.dovecot)} subjects compared", end=" ", flush=True)
        # The comparison must cover most of the corpus, and non-ASCII decoded subjects.
        self.assertGreaterEqual(checked, len(self.dovecot) * 2 // 3, f"only {checked} subjects compared")
        self.assertTrue(any(not s.isascii() for s, _ in self.dovecot.values() if comparable(s)))

    def test_opening_a_message_shows_its_body(self):
        by_id = {r["messageId"]: i for i, r in enumerate(self.rows)}
        for message_id in OPENED:
            with self.subTest(message_id=message_id):
                self.assertIn(message_id, by_id, f"{message_id} is not in the message list")
                row = self.rows[by_id[message_id]]
                expected = body_lines(self.dovecot[row["uid"]][1])
                self.assertTrue(expected)
                pane = self.tb.open_message(by_id[message_id])
                self.assertEqual(pane["key"], row["uid"], pane)
                text = squash(pane["text"])
                for line in expected:
                    self.assertIn(line, text, f"the message pane of UID {row['uid']} lacks a line")
        self.tb.screenshot(SCREENSHOT_DIR / f"thunderbird-{self.LISTENER}-message.png")

    def test_gateway_logged_the_session(self):
        if WORLD.gateway is None:
            self.skipTest("--direct: no gateway")
        log = WORLD.gateway.log_text()
        starts = set(re.findall(rf"\bsession_start session=(\d+) client=\S+ listener={self.LISTENER}\b", log))
        logins = set(re.findall(rf"\blogin session=(\d+) client=\S+ user={re.escape(ALICE)} ", log))
        # Thunderbird sends its ID after LOGIN; the trace-level log shows the line relayed.
        ids = set(re.findall(r'\btrace C session=(\d+) line="\S+ ID \(\\"name\\" \\"Thunderbird\\"', log))
        self.assertTrue(
            starts & logins & ids,
            f"no session on the {self.LISTENER} listener with alice's login and Thunderbird's ID in the "
            f"gateway log (listener sessions {sorted(starts)}, logins {sorted(logins)}, IDs {sorted(ids)})",
        )


class ImapsTest(ThunderbirdBase, unittest.TestCase):
    """Account security "SSL/TLS": the gateway's implicit-TLS listener."""

    SOCKET_TYPE = tbird.TLS
    LISTENER = "imaps"


class StarttlsTest(ThunderbirdBase, unittest.TestCase):
    """Account security "STARTTLS": the gateway's plain listener, upgraded."""

    SOCKET_TYPE = tbird.STARTTLS
    LISTENER = "imap"


class UntrustedCaTest(unittest.TestCase):
    """The control: without the development CA, Thunderbird refuses the gateway's certificate,
    so the suites above really verified it (no override, no silent acceptance)."""

    def test_thunderbird_refuses_an_unknown_ca(self):
        assert WORLD is not None
        refused_before = WORLD.gateway.log_text().count("reason=tls_failed") if WORLD.gateway else 0
        account = tbird.Account(port=WORLD.imaps_port, socket_type=tbird.TLS, user=ALICE, password=WORLD.users[ALICE])
        with tbird.Thunderbird(WORLD.root, account, ca_pem=None) as tb:
            with self.assertRaisesRegex(tbird.ThunderbirdError, "opened a dialog"):
                tb.sync_inbox(expect=1, timeout=30)
            self.assertEqual(tb.message_list(), [])
        if WORLD.gateway is not None:
            log = WORLD.gateway.log_text()
            self.assertGreater(log.count("reason=tls_failed"), refused_before, "the gateway saw no failed handshake")


def main() -> int:
    global ICALGATE, UPSTREAM_TLS, SCREENSHOT_DIR
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--icalgate", help="the icalgate executable to test")
    mode.add_argument("--direct", action="store_true", help="no gateway: Thunderbird against Dovecot")
    ap.add_argument("--upstream-tls", choices=("implicit", "starttls"), default="implicit",
                    help="how the gateway connects to Dovecot (default implicit)")
    ap.add_argument("--screenshot-dir", default=str(SCREENSHOT_DIR),
                    help=f"where the PNGs of the 3-pane window go (default {SCREENSHOT_DIR})")
    args, rest = ap.parse_known_args()
    UPSTREAM_TLS = args.upstream_tls
    SCREENSHOT_DIR = Path(args.screenshot_dir).resolve()
    if args.icalgate:
        ICALGATE = os.path.abspath(args.icalgate)
    with env.sigterm_as_exception():
        prog = unittest.main(argv=[sys.argv[0], "-v"] + rest, exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
