#!/usr/bin/env python3
"""Meeting invitations rewritten end to end: Dovecot + icalgate + icalgate-graphsim.

    python3 tests/integration/test_rewrite.py --icalgate build/dev/bin/icalgate \\
        --graphsim build/dev/bin/icalgate-graphsim [unittest arguments]

Dovecot holds the fixture mailbox of tests/rewrite/make_mailbox.py (OWA-link meeting messages
of every shape, ordinary mail, and invitations whose event Graph does not have), seeded with
INTERNALDATEs from their Date headers; graphsim serves their events. Through the gateway:
  - each invitation arrives as an iMIP message (text/calendar with the METHOD and UID that
    Graph's event asks for), every other message byte for byte as Dovecot holds it;
  - every FETCH item of a rewritten message (sizes, BODYSTRUCTURE, BODY, ENVELOPE, each
    section and its MIME header, partial ranges, BINARY, RFC822*) equals what Dovecot answers
    for the rewritten bytes APPENDed to it directly: the differential proof of a consistent
    message; the items that mark it read set \\Seen as Dovecot does;
  - header sync first, then the body in chunks (Thunderbird), FETCH by sequence number
    (imaplib), and an mbsync sync see the same message;
  - a restarted gateway, with Graph gone, serves the same bytes (the decision store);
  - Graph failures (503, 429 with Retry-After, timeouts, 404, no event) deliver the original,
    logged and counted by reason in the exit totals, and a message once shown as the original
    stays the original;
  - [graph.upn] maps an IMAP login to the UPN Graph knows;
  - a message copied or moved keeps at its new UID (COPYUID) what its source was shown as;
  - with Graph's listing, the gateway asks the upstream for no BODYSTRUCTURE and no body of
    a message that is not an invitation; without it (IMAP-only classification) the result
    is the same.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import env  # noqa: E402
import exchange_shim  # noqa: E402

ICALGATE: str | None = None
GRAPHSIM: str | None = None
MAKE_MAILBOX = HERE.parent / "rewrite" / "make_mailbox.py"
ALICE = "alice@contoso.com"
BOB = "bob@contoso.com"  # the oracle's mailboxes: rewritten bytes APPENDed to Dovecot directly

FIXTURES: Path | None = None
MANIFEST: list[dict] = []
WORLD: env.World | None = None
GRAPH: env.GraphSim | None = None
GATEWAY: env.Gateway | None = None


def seed_with_dates(conn: env.Imap, mailbox: str, messages: list[bytes]) -> None:
    for data in messages:
        tagged = env.append_dated(conn, mailbox, data)
        if env.status_of(tagged) != b"OK":
            raise env.EnvError(f"APPEND failed: {tagged!r}")


def rewrite_config(state: Path, rewrite: str = "", **graph_options) -> str:
    """The [graph] and [rewrite] sections of a gateway with the decision store `state`. Without
    announce_sizes in `rewrite`, it is off: the suite compares the answers of gateways that
    have stores of their own, and an announcing gateway's bytes of a meeting message depend on
    whether a header sync showed it first (the tests named *announced* cover that mode)."""
    assert GRAPH is not None
    exact = "" if "announce_sizes" in rewrite else "announce_sizes = false\n"
    return GRAPH.config(**graph_options) + f'\n[rewrite]\nenabled = true\nstate = "{state}"\n{exact}{rewrite}\n'


def setUpModule():
    global FIXTURES, MANIFEST, WORLD, GRAPH, GATEWAY
    root = Path(tempfile.mkdtemp(prefix="icalgate-rewrite-"))
    os.chmod(root, 0o755)
    FIXTURES = root / "fixtures"
    subprocess.run([sys.executable, str(MAKE_MAILBOX), str(FIXTURES), "--upn", ALICE], check=True,
                   stdout=subprocess.DEVNULL)
    MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
    WORLD = env.World(icalgate=None, seed=[], root=root / "world")
    WORLD.start()
    with WORLD.upstream.connect() as c:
        c.login(ALICE, env.USERS[ALICE])
        seed_with_dates(c, "INBOX", [(FIXTURES / m["file"]).read_bytes() for m in MANIFEST])
        c.logout()
    GRAPH = env.GraphSim(GRAPHSIM, FIXTURES / "graph", root).start()
    WORLD.icalgate = ICALGATE
    GATEWAY = WORLD.start_gateway(name="rewrite", extra_config=rewrite_config(root / "rewrite.db"))
    WORLD.gateway = GATEWAY


def tearDownModule():
    problems = []
    if WORLD is not None:
        problems = WORLD.stop_and_check(WORLD.secrets() | {"graph client secret": env.GraphSim.CLIENT_SECRET})
    if GRAPH is not None:
        GRAPH.stop()
    if problems:
        raise AssertionError("after the suite:\n" + "\n".join(problems))


# ----------------------------------------------------------------------------- helpers


def fetch_literals(conn: env.Imap, command: bytes) -> dict[int, bytes]:
    """{UID: the one literal of each untagged FETCH} of a UID FETCH with one string item."""
    untagged, tagged = conn.command(command)
    assert env.status_of(tagged) == b"OK", tagged
    out = {}
    for resp in untagged:
        m = re.match(rb"\* \d+ FETCH \(.*?UID (\d+).*?\{(\d+)\}\r\n", resp, re.S)
        if m:
            out[int(m.group(1))] = resp[m.end(): m.end() + int(m.group(2))]
    return out


def graph_in_flight() -> int:
    """Requests the Graph simulator is still answering."""
    with urllib.request.urlopen(f"http://{env.HOST}:{GRAPH.port}/_stats", timeout=10) as r:
        return json.loads(r.read())["in_flight"]


def uid_of(response: bytes) -> int:
    """The UID an untagged FETCH names."""
    return int(re.search(rb"UID (\d+)", response).group(1))


def items_of(response: bytes) -> bytes:
    """An untagged FETCH without its sequence number, UID and FLAGS: the content items."""
    body = re.sub(rb"^\* \d+ FETCH \(", b"(", response)
    body = re.sub(rb"UID \d+ ?", b"", body)
    return re.sub(rb"FLAGS \([^)]*\) ?", b"", body)


def uids_in(uid_set: str) -> set[int]:
    """The UIDs a set of numbers and ranges ("1:3,7") names."""
    out = set()
    for part in uid_set.split(","):
        low, _, high = part.partition(":")
        out.update(range(int(low), int(high or low) + 1))
    return out


def sizes_of(responses: list[bytes]) -> list[int]:
    """The RFC822.SIZEs that untagged FETCH responses give, in ascending order."""
    return sorted(int(re.search(rb"RFC822.SIZE (\d+)", r).group(1)) for r in responses)


def part_numbers(msg: email.message.Message, prefix: str = "") -> list[str]:
    """IMAP part numbers of every body part (message/rfc822 contents not descended)."""
    if not msg.is_multipart():
        return [prefix or "1"]
    out = []
    for i, sub in enumerate(msg.get_payload(), 1):
        number = f"{prefix}.{i}" if prefix else str(i)
        out.append(number)
        if sub.is_multipart():
            out.extend(part_numbers(sub, number))
    return out


def original_reasons(log: str) -> dict[str, int]:
    """{reason: count} of the rewrite_totals line a gateway logs when it exits."""
    m = re.search(r'rewrite_totals .*original_reasons="([^"]*)"', log)
    assert m, "no rewrite_totals line with original_reasons"
    return {r.rpartition("=")[0]: int(r.rpartition("=")[2]) for r in m.group(1).split("; ") if r}


def calendar_parts(data: bytes) -> list[email.message.Message]:
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    return [p for p in msg.walk() if p.get_content_type() == "text/calendar"]


class RewriteBase(unittest.TestCase):
    maxDiff = 4000

    @property
    def w(self) -> env.World:
        assert WORLD is not None
        return WORLD

    def gateway_session(self, gateway: env.Gateway | None = None, mailbox: str = "INBOX") -> env.Imap:
        gw = gateway or GATEWAY
        conn = env.Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"])
        conn.login(ALICE, env.USERS[ALICE])
        conn.check(b"EXAMINE " + env.quote(mailbox))
        return conn

    def direct_session(self, user: str = ALICE, mailbox: str = "INBOX") -> env.Imap:
        conn = self.w.connect_upstream_imaps()
        conn.login(user, env.USERS[user])
        conn.check(b"SELECT " + env.quote(mailbox))
        return conn

    def fresh_gateway(self, name: str, rewrite: str = "", *, limits: dict | None = None,
                      **graph_options) -> env.Gateway:
        """A gateway with a decision store of its own: nothing is decided yet."""
        state = Path(tempfile.mkdtemp(prefix="state-", dir=self.w.root)) / "rewrite.db"
        options = {"limits": limits} if limits else {}
        return self.w.start_gateway(name=name, extra_config=rewrite_config(state, rewrite, **graph_options),
                                    **options)

    @staticmethod
    def gateway_lines(gw: env.Gateway) -> list[str]:
        """The trace lines of the commands the gateway sent upstream itself or streamed."""
        return [line for line in gw.log_text().splitlines() if " G session=" in line]

    @staticmethod
    def uidnext(direct: env.Imap, mailbox: bytes = b"INBOX") -> int:
        status = direct.check(b"STATUS " + mailbox + b" (UIDNEXT)")
        return int(re.search(rb"UIDNEXT (\d+)", status[0]).group(1))

    def remove_new_mail(self, graph_file: Path | None) -> None:
        """Removes what a test added: its Graph file and the INBOX messages after the fixtures."""
        if graph_file:
            graph_file.unlink()
        with self.direct_session() as d:
            found = d.check(b"UID SEARCH UID %d:*" % (len(MANIFEST) + 1))
            listed = b" ".join(line[len(b"* SEARCH"):] for line in found if line.startswith(b"* SEARCH"))
            added = [u for u in listed.split() if int(u) > len(MANIFEST)]
            if added:
                d.check(b"UID STORE " + b",".join(added) + b" +FLAGS.SILENT (\\Deleted)")
                d.check(b"UID EXPUNGE " + b",".join(added))

    def entries(self, expect: str) -> list[tuple[int, dict]]:
        return [(i + 1, m) for i, m in enumerate(MANIFEST) if m["expect"] == expect]


class RewriteTest(RewriteBase):
    def test_each_invitation_is_served_as_imip(self):
        with self.gateway_session() as c:
            bodies = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
        with self.direct_session() as d:
            originals = fetch_literals(d, b"UID FETCH 1:* (UID BODY.PEEK[])")
        self.assertEqual(sorted(bodies), sorted(originals))
        for uid, entry in enumerate(MANIFEST, 1):
            with self.subTest(fixture=entry["file"], expect=entry["expect"]):
                if entry["expect"] != "rewrite":
                    self.assertEqual(bodies[uid], originals[uid], "must pass through byte for byte")
                    continue
                self.assertNotEqual(bodies[uid], originals[uid])
                cals = calendar_parts(bodies[uid])
                self.assertEqual(len(cals), 1)
                self.assertEqual(cals[0].get_param("method"), entry["method"])
                ics = cals[0].get_payload(decode=True).decode()
                self.assertIn(f"METHOD:{entry['method']}", ics)
                self.assertIn("UID:" + entry["ical_uid"][:40], ics.replace("\r\n ", ""))
                self.assertNotIn(b"Microsoft Outlook Web Access", bodies[uid])
                # Every header field of the original is still there.
                orig_headers = email.message_from_bytes(originals[uid], policy=email.policy.compat32)
                new_headers = email.message_from_bytes(bodies[uid], policy=email.policy.compat32)
                for name in ("Subject", "From", "To", "Date", "Message-ID"):
                    self.assertEqual(orig_headers[name], new_headers[name], name)

    def test_show_as_sets_busystatus_and_transp(self):
        # Graph's showAs becomes Exchange's X-MICROSOFT-CDO-BUSYSTATUS and TRANSP in requests:
        # busy is OPAQUE/BUSY (the most common case), free TRANSPARENT/FREE, tentative
        # OPAQUE/TENTATIVE.
        expected = {"busy": ("BUSY", "OPAQUE"), "free": ("FREE", "TRANSPARENT"),
                    "tentative": ("TENTATIVE", "OPAQUE")}
        with self.gateway_session() as c:
            bodies = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
        seen = set()
        for uid, entry in self.entries("rewrite"):
            if entry["method"] != "REQUEST":
                continue
            event = next(v["event"] for v in json.loads((FIXTURES / entry["graph_file"]).read_text())["value"]
                         if "event" in v)
            if event.get("showAs") not in expected:
                continue
            busy, transp = expected[event["showAs"]]
            ics = calendar_parts(bodies[uid])[0].get_payload(decode=True).decode().replace("\r\n ", "")
            lines = ics.split("\r\n")
            with self.subTest(fixture=entry["file"], show_as=event["showAs"]):
                self.assertIn(f"X-MICROSOFT-CDO-BUSYSTATUS:{busy}", lines)
                self.assertIn(f"TRANSP:{transp}", lines)
            seen.add(event["showAs"])
        self.assertIn("busy", seen)

    def test_items_match_dovecot_serving_the_rewritten_bytes(self):
        # The oracle: the rewritten bytes APPENDed to Dovecot directly (bob's Oracle mailbox).
        rewrites = self.entries("rewrite")
        with self.gateway_session() as c:
            bodies = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
        with self.direct_session(BOB) as d:
            d.command(b"DELETE Oracle")
            d.check(b"CREATE Oracle")
            d.check(b"SELECT Oracle")
            oracle_uid = {}
            for n, (uid, _) in enumerate(rewrites, 1):
                _, tagged = d.append("Oracle", bodies[uid])
                self.assertEqual(env.status_of(tagged), b"OK")
                oracle_uid[uid] = n
        checked = 0
        with self.gateway_session() as c, self.direct_session(BOB, "Oracle") as d:
            for uid, entry in rewrites:
                msg = email.message_from_bytes(bodies[uid], policy=email.policy.compat32)
                items = [b"RFC822.SIZE BODYSTRUCTURE BODY ENVELOPE",
                         b"BODY.PEEK[HEADER] BODY.PEEK[TEXT]<100.700> RFC822.SIZE",
                         b"BODY.PEEK[HEADER.FIELDS (Content-Type Subject)] BODY.PEEK[HEADER.FIELDS.NOT (Received)]",
                         b"RFC822.HEADER BODY.PEEK[]<0.4096> BODY.PEEK[]<4096.4096>",
                         b"BODY.PEEK[TEXT]"]
                # BINARY (RFC 3516): the whole message, each part decoded, partial ranges and
                # sizes; Dovecot's own BINARY answers are the reference.
                items += [b"BINARY.PEEK[]", b"BINARY.PEEK[]<0.100> BINARY.PEEK[]<200.300>"]
                sections = [b""]
                for part in part_numbers(msg):
                    items.append(b"BODY.PEEK[%s] BODY.PEEK[%s.MIME] BODY.PEEK[%s]<10.50>" % ((part.encode(),) * 3))
                    items.append(b"BINARY.PEEK[%s]" % part.encode())
                    items.append(b"BINARY.PEEK[%s]<0.100> BINARY.PEEK[%s]<50.2000>" % ((part.encode(),) * 2))
                    sections.append(part.encode())
                # BINARY.SIZE is the length of the decoded section: of what Dovecot's BINARY
                # gives. (Dovecot's own BINARY.SIZE of a quoted-printable part is not the length
                # of its BINARY answer, so it cannot be the reference.)
                for section in sections:
                    with self.subTest(fixture=entry["file"], items=b"BINARY.SIZE[%s]" % section):
                        got, gt = c.command(b"UID FETCH %d (BINARY.SIZE[%s])" % (uid, section))
                        want = fetch_literals(d, b"UID FETCH %d (UID BINARY.PEEK[%s])" % (oracle_uid[uid], section))
                        self.assertEqual(env.status_of(gt), b"OK", gt)
                        size = re.search(rb"BINARY\.SIZE\[[0-9.]*\] (\d+)", b"".join(got))
                        self.assertIsNotNone(size, got)
                        self.assertEqual(int(size.group(1)), len(want[oracle_uid[uid]]))
                        checked += 1
                for item in items:
                    with self.subTest(fixture=entry["file"], items=item):
                        got, gt = c.command(b"UID FETCH %d (%s)" % (uid, item))
                        want, wt = d.command(b"UID FETCH %d (%s)" % (oracle_uid[uid], item))
                        self.assertEqual(env.status_of(gt), env.status_of(wt))
                        self.assertEqual([items_of(r) for r in got], [items_of(r) for r in want])
                        checked += 1
        self.assertGreater(checked, 7 * len(rewrites))

    def test_reading_items_match_dovecot_and_set_seen(self):
        # The items that mark a message read (BODY[], RFC822, RFC822.TEXT, BINARY[...]) answer
        # what Dovecot answers for the rewritten bytes, with the same FLAGS: \Seen set on the
        # first read, no FLAGS once it is set. Both sessions SELECT; \Seen is cleared silently
        # in each session before every item.
        rewrites = self.entries("rewrite")
        with self.gateway_session() as c:
            bodies = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
        with self.direct_session(BOB) as d:
            d.command(b"DELETE Reading")
            d.check(b"CREATE Reading")
            oracle_uid = {}
            for n, (uid, _) in enumerate(rewrites, 1):
                self.assertEqual(env.status_of(d.append("Reading", bodies[uid])[1]), b"OK")
                oracle_uid[uid] = n
            d.check(b"SELECT Reading")  # takes \Recent, as earlier sessions did in INBOX
        with self.direct_session():
            pass  # takes INBOX's \Recent, whichever tests ran before
        unseen = b"UID STORE %d -FLAGS.SILENT (\\Seen)"
        after_uid = lambda answers: [re.sub(rb"^\* \d+ FETCH \(UID \d+ ?", b"(", r) for r in answers]
        checked = 0
        try:
            with env.Imap(GATEWAY.imaps_port, tls=True, ca_file=self.w.certs["ca"]) as c, \
                    self.direct_session(BOB, "Reading") as d:
                c.login(ALICE, env.USERS[ALICE])
                c.check(b"SELECT INBOX")
                for uid, entry in rewrites:
                    msg = email.message_from_bytes(bodies[uid], policy=email.policy.compat32)
                    items = [b"BODY[]", b"RFC822", b"RFC822.TEXT", b"RFC822.HEADER RFC822.SIZE",
                             b"BODY[TEXT]<0.100>", b"BINARY[]"]
                    items += [b"BINARY[%s]<0.100>" % p.encode() for p in part_numbers(msg)]
                    for item in items:
                        with self.subTest(fixture=entry["file"], items=item):
                            c.check(unseen % uid)
                            d.check(unseen % oracle_uid[uid])
                            for again in (False, True):
                                got, gt = c.command(b"UID FETCH %d (UID %s)" % (uid, item))
                                want, wt = d.command(b"UID FETCH %d (UID %s)" % (oracle_uid[uid], item))
                                self.assertEqual(env.status_of(gt), env.status_of(wt), (gt, wt, again))
                                self.assertEqual(after_uid(got), after_uid(want), again)
                                sets_seen = not again and not item.startswith(b"RFC822.HEADER")  # a peek
                                self.assertEqual(b"\\Seen" in got[0].split(b"{", 1)[0], sets_seen, got[0][:80])
                            checked += 1
                    # The upstream holds \Seen for the gateway's message, as Dovecot does.
                    flags = c.check(b"UID FETCH %d (FLAGS)" % uid)
                    self.assertIn(b"\\Seen", flags[0])
        finally:
            with self.direct_session() as d:
                d.check(b"UID STORE 1:* -FLAGS.SILENT (\\Seen)")
        self.assertGreater(checked, 6 * len(rewrites))

    def test_header_sync_then_chunked_body(self):
        # Thunderbird: header sync first (sizes and Content-Type come from the rewrite), then
        # BODY.PEEK[] in chunks; a new session and a FETCH by sequence number agree.
        with self.gateway_session() as c:
            untagged, tagged = c.command(
                b"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date "
                b"Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])")
            self.assertEqual(env.status_of(tagged), b"OK")
            sizes = {int(m.group(1)): int(m.group(2)) for r in untagged
                     for m in [re.search(rb"UID (\d+) RFC822\.SIZE (\d+)", r)] if m}
            ctypes = {int(re.search(rb"UID (\d+)", r).group(1)): r for r in untagged}
        with self.gateway_session() as c:
            for uid, entry in self.entries("rewrite"):
                chunks = b""
                while True:
                    got = fetch_literals(c, b"UID FETCH %d (UID BODY.PEEK[]<%d.4096>)" % (uid, len(chunks)))
                    chunks += got.get(uid, b"")
                    if len(got.get(uid, b"")) < 4096:
                        break
                with self.subTest(fixture=entry["file"]):
                    self.assertEqual(len(chunks), sizes[uid])
                    self.assertEqual(len(calendar_parts(chunks)), 1)
                    top = email.message_from_bytes(chunks, policy=email.policy.compat32)
                    self.assertIn(top.get_content_type().encode(), ctypes[uid].lower())
            untagged, tagged = c.command(b"FETCH 1:* (RFC822.SIZE)")
            by_seq = {int(m.group(1)): int(m.group(2)) for r in untagged
                      for m in [re.match(rb"\* (\d+) FETCH \(RFC822\.SIZE (\d+)\)", r)] if m}
            self.assertEqual(by_seq, sizes)  # UIDs are 1..n here

    def mbsync_inbox(self, gw: env.Gateway) -> dict[str, bytes]:
        """An mbsync pull of INBOX through the gateway: Message-ID -> the file's bytes."""
        root = Path(tempfile.mkdtemp(prefix="mbsync-", dir=self.w.root))
        pw = root / "password"
        pw.write_text(env.USERS[ALICE])
        (root / "mail").mkdir()
        conf = root / "mbsyncrc"
        conf.write_text(f"""IMAPAccount acct
Host localhost
Port {gw.imaps_port}
User {ALICE}
PassCmd "cat {pw}"
SSLType IMAPS
CertificateFile {self.w.certs['ca']}
Timeout 60

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
        self.assertEqual(r.returncode, 0, r.stdout.decode(errors="replace")[-3000:])
        files = [p.read_bytes() for sub in ("cur", "new") for p in (root / "mail" / "INBOX" / sub).iterdir()]
        self.assertEqual(len(files), len(MANIFEST))
        by_id = {}
        for data in files:
            m = email.message_from_bytes(data, policy=email.policy.compat32)
            by_id[m["Message-ID"].strip()] = data
        return by_id

    def offlineimap_inbox(self, gw: env.Gateway) -> dict[str, bytes]:
        """An offlineimap pull of INBOX through the gateway (it lists flags, then downloads the
        messages one by one): Message-ID -> the file's bytes."""
        root = Path(tempfile.mkdtemp(prefix="offlineimap-", dir=self.w.root))
        conf = root / "offlineimaprc"
        conf.write_text(env.offlineimap_config(root, gw.imaps_port, ALICE, env.USERS[ALICE], self.w.certs["ca"]))
        r = subprocess.run(["offlineimap", "-c", str(conf), "-o", "-u", "basic"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=180,
                           env=dict(os.environ, HOME=str(root)))
        out = r.stdout.decode(errors="replace")
        self.assertEqual(r.returncode, 0, out[-3000:])
        self.assertNotIn("ERROR", out, out[-3000:])
        files = [p.read_bytes() for sub in ("cur", "new") for p in (root / "mail" / "INBOX" / sub).iterdir()]
        self.assertEqual(len(files), len(MANIFEST))
        return {email.message_from_bytes(data, policy=email.policy.compat32)["Message-ID"].strip(): data
                for data in files}

    def assert_calendars_delivered(self, by_id: dict[str, bytes]) -> None:
        """Every invitation Graph has an event for carries one text/calendar part of its method;
        every other message carries those it had."""
        for _, entry in self.entries("rewrite"):
            with self.subTest(fixture=entry["file"]):
                cals = calendar_parts(by_id[entry["message_id"]])
                self.assertEqual([c.get_param("method") for c in cals], [entry["method"]])
        for expect in ("plain", "original"):
            for _, entry in self.entries(expect):
                with self.subTest(fixture=entry["file"]):
                    original = (FIXTURES / entry["file"]).read_bytes()
                    self.assertEqual(len(calendar_parts(by_id[entry["message_id"]])),
                                     len(calendar_parts(original)))

    def test_clients_without_graph_listing_download_the_calendar(self):
        # Without the listing, through gateways that have decided nothing yet: mbsync and
        # offlineimap each list UIDs and flags, then download message by message. The probe
        # before the first download reads ahead over the mailbox (its structure and the start
        # of section 1), and the invitations arrive with their text/calendar part.
        for pull in (self.mbsync_inbox, self.offlineimap_inbox):
            with self.subTest(client=pull.__name__):
                gw = self.fresh_gateway("pull-imaponly-" + pull.__name__, listing=False)
                try:
                    self.assert_calendars_delivered(pull(gw))
                    lines = self.gateway_lines(gw)
                finally:
                    gw.stop()
                self.assertIn(" UID FETCH 1:1,2:201 (UID RFC822.SIZE BODYSTRUCTURE BODY.PEEK[1]<0.16384>)",
                              lines[0])
                self.assertNotIn("MESSAGE-ID", "\n".join(lines))

    def test_mbsync_files_carry_the_calendar(self):
        self.assert_calendars_delivered(self.mbsync_inbox(GATEWAY))

    def test_mbsync_first_sync_lists_the_events(self):
        # mbsync's first FETCH does not name Message-ID, so the gateway asks for it along with
        # mbsync's items; the listing it asks Graph for brings the events along, as for
        # Thunderbird's sync.
        gw = self.fresh_gateway("mbsync-first")
        graph_before = len(GRAPH.log_text())
        try:
            by_id = self.mbsync_inbox(gw)
        finally:
            gw.stop()
        graph_log = GRAPH.log_text()[graph_before:]
        for _, entry in self.entries("rewrite"):
            with self.subTest(fixture=entry["file"]):
                self.assertEqual(len(calendar_parts(by_id[entry["message_id"]])), 1)
        self.assertNotIn("internetMessageId%20eq", graph_log)
        self.assertNotIn("internetMessageId eq", graph_log)
        rewritten = len(self.entries("rewrite"))
        self.assertRegex(gw.log_text(), rf"rewrite_totals .*listed_events={rewritten}\b")

    def test_listing_spares_the_upstream(self):
        # With Graph's listing, a header sync of mail older than the listing asks the upstream
        # for Message-IDs only, and for whole bodies of listed invitations only.
        gw = self.fresh_gateway("listing")
        try:
            with self.gateway_session(gw) as c:
                c.check(b"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (Subject Content-Type)])")
                c.logout()
            probes = self.gateway_lines(gw)
            self.assertTrue(probes, "no probe logged")
            self.assertFalse([p for p in probes if "BODYSTRUCTURE" in p], probes)
            whole = [p for p in probes if "BODY.PEEK[]" in p]
            self.assertEqual(len(whole), 1, probes)
            listed = set()  # every meeting message Graph knows, external invitations included
            for f in (FIXTURES / "graph" / "users" / ALICE / "messages").glob("*.json"):
                listed.update(v["internetMessageId"] for v in json.loads(f.read_text())["value"]
                              if "eventMessage" in v.get("@odata.type", ""))
            self.assertTrue({m["message_id"] for m in MANIFEST if m["expect"] == "rewrite"} <= listed)
            uids = set()
            for spec in re.search(r"UID FETCH ([0-9:,]+) \(UID BODY\.PEEK\[\]\)", whole[0]).group(1).split(","):
                a, _, b = spec.partition(":")
                uids.update(range(int(a), int(b or a) + 1))
            self.assertEqual(sorted({MANIFEST[u - 1]["message_id"] for u in uids}), sorted(listed))

            # Synced once, the mailbox is decided through its last UID: the next header sync
            # asks the upstream nothing more, and still gets the rewritten sizes.
            sync = (b"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS "
                    b"(Subject Content-Type Message-ID)])")
            with self.gateway_session(gw) as c:
                first_sync = c.check(sync)
            before = len(probes)
            with self.gateway_session(gw) as c:
                self.assertEqual(c.check(sync), first_sync)
            probes = self.gateway_lines(gw)
            self.assertEqual(len(probes), before, probes[before:])
            # New mail: only what lies above the decided UIDs is probed.
            with self.direct_session() as d:
                new_uid = self.uidnext(d)
                ordinary = next(m for m in MANIFEST if m["expect"] == "plain" and m["message_id"] not in listed)
                seed_with_dates(d, "INBOX", [(FIXTURES / ordinary["file"]).read_bytes()])
            try:
                # Only what lies above the decided UIDs is probed.
                with self.gateway_session(gw) as c:
                    got = c.check(sync.replace(b" Message-ID", b""))
                probes = self.gateway_lines(gw)
                self.assertEqual(len(probes), before + 1, probes[before:])
                self.assertIn(f"UID FETCH {new_uid}:* (UID", probes[-1])
                self.assertEqual(len(got), len(MANIFEST) + 1)
            finally:
                with self.direct_session() as d:
                    d.check(b"UID STORE %d +FLAGS.SILENT (\\Deleted)" % new_uid)
                    d.check(b"UID EXPUNGE %d" % new_uid)
        finally:
            gw.stop()

    def test_newest_mail_gone_unseen_is_asked_about_once(self):
        # The newest message arrived and went while no session looked: the next header sync
        # asks the upstream about the mailbox's tail, and sees that nothing is there; the
        # sessions after it ask nothing.
        gw = self.fresh_gateway("gone-unseen")
        sync = b"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (Subject Message-ID)])"
        try:
            with self.gateway_session(gw) as c:
                c.check(sync)
            with self.direct_session() as d:
                gone = self.uidnext(d)
                data = (FIXTURES / MANIFEST[0]["file"]).read_bytes()
                d.check(b"APPEND INBOX {%d+}\r\n" % len(data) + data)
                d.check(b"UID STORE %d +FLAGS.SILENT (\\Deleted)" % gone)
                d.check(b"UID EXPUNGE %d" % gone)
            before = len(self.gateway_lines(gw))
            for _ in range(3):
                with self.gateway_session(gw) as c:
                    self.assertEqual(len(c.check(sync)), len(MANIFEST))
            asked = self.gateway_lines(gw)[before:]
            self.assertEqual(len(asked), 1, asked)
        finally:
            gw.stop()

    def test_header_sync_with_message_ids_is_decided_from_its_own_answers(self):
        # Thunderbird's header sync names Message-ID: with Graph's listing the gateway sends it
        # upstream at once and adds one round trip only, for the listed invitations' bodies.
        # The client sees what the IMAP-only path gives.
        sync = (b"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc "
                b"Subject Date Message-ID Content-Type)])")
        answers = {}
        for name, options in (("probed", {"listing": False}), ("streamed", {})):
            gw = self.fresh_gateway(f"sync-{name}", **options)
            graph_before = len(GRAPH.log_text())
            try:
                with self.gateway_session(gw) as c:
                    answers[name] = c.check(sync)
                lines = self.gateway_lines(gw)
            finally:
                gw.stop()
            graph_log = GRAPH.log_text()[graph_before:]
        # Answers of messages that wait for their decision come after the others.
        self.assertEqual(sorted(answers["streamed"], key=uid_of), sorted(answers["probed"], key=uid_of))
        # A first sync lists the events along with the meeting messages: no lookup per message.
        self.assertIn("$expand=microsoft.graph.eventMessage", graph_log.replace("%24", "$").replace("%2F", "/"))
        self.assertNotIn("internetMessageId%20eq", graph_log)
        self.assertNotIn("internetMessageId eq", graph_log)
        rewritten = sum(1 for m in MANIFEST if m["expect"] == "rewrite")
        self.assertRegex(gw.log_text(), rf"rewrite_totals .*listed_events={rewritten}\b")
        self.assertEqual(len(answers["streamed"]), len(MANIFEST))
        self.assertIn("streamed=", lines[0])
        probes = lines[1:]
        self.assertEqual(len(probes), 1, lines)
        self.assertRegex(probes[0], r"UID FETCH [0-9:,]+ \(UID BODY\.PEEK\[\]\)")

    def test_header_sync_without_message_ids_asks_for_them_along(self):
        # mbsync's and offlineimap's syncs name no Message-ID: the gateway asks for it along
        # with the client's items instead of probing first, so that such a sync, too, costs one
        # extra round trip (the listed invitations' bodies), and takes it out of the answers.
        # The client sees what the IMAP-only path gives, and for ordinary mail what Dovecot says.
        syncs = (b"UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (X-TUID)])",
                 b"UID FETCH 1:* FAST",
                 b"UID FETCH 1:* (uid rfc822.size internaldate)")
        with self.direct_session():
            pass  # takes INBOX's \Recent, whichever tests ran before
        with self.direct_session() as d:
            direct = {sync: {uid_of(a): a for a in d.check(sync)} for sync in syncs}
        self.assertEqual(len(direct[syncs[0]]), len(MANIFEST))
        answers = {}
        for name, options in (("probed", {"listing": False}), ("streamed", {})):
            for i, sync in enumerate(syncs):
                gw = self.fresh_gateway(f"sync-{name}-{i}", **options)
                try:
                    with self.gateway_session(gw) as c:
                        answers[name, sync] = c.check(sync)
                    lines = self.gateway_lines(gw)
                finally:
                    gw.stop()
                if name != "streamed":
                    continue
                with self.subTest(sync=sync):
                    self.assertEqual(sorted(answers[name, sync], key=uid_of),
                                     sorted(answers["probed", sync], key=uid_of))
                    self.assertEqual(len(answers[name, sync]), len(MANIFEST))
                    for answer in answers[name, sync]:
                        self.assertNotIn(b"MESSAGE-ID", answer.upper())
                        if MANIFEST[uid_of(answer) - 1]["expect"] != "rewrite":
                            self.assertEqual(answer, direct[sync][uid_of(answer)])
                    # The client's command with the item added, then the invitations whole.
                    self.assertEqual(len(lines), 2, lines)
                    self.assertIn("streamed=", lines[0])
                    self.assertIn(" BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])", lines[0])
                    self.assertRegex(lines[1], r"UID FETCH [0-9:,]+ \(UID BODY\.PEEK\[\]\)")
                    self.assertRegex(gw.log_text(), r"streamed_with_items_added=1\b")

    def test_downloads_of_rewritten_messages_come_from_the_store(self):
        # Once an invitation is rewritten, its content is the gateway's: a client downloading
        # it (whole, in chunks, its structure) has the upstream send only what the rewritten
        # bytes do not hold, and sees exactly what the substituting path shows.
        gw = self.fresh_gateway("from-store")
        uid = self.entries("rewrite")[0][0]
        plain = self.entries("plain")[0][0]
        sync = (b"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (Subject "
                b"Message-ID Content-Type)])")

        try:
            with self.gateway_session(gw) as c:
                c.check(sync)
                before = len(self.gateway_lines(gw))
                whole = fetch_literals(c, b"UID FETCH %d (UID FLAGS BODY.PEEK[])" % uid)[uid]
                chunk = fetch_literals(c, b"UID FETCH %d (UID BODY.PEEK[]<100.2000>)" % uid)[uid]
                described = c.check(b"UID FETCH %d (BODYSTRUCTURE ENVELOPE RFC822.SIZE INTERNALDATE)" % uid)
                c.logout()
            asked = self.gateway_lines(gw)[before:]
            self.assertEqual(len(asked), 3, asked)
            self.assertIn(f"UID FETCH {uid} (UID FLAGS)", asked[0])
            self.assertIn(f"UID FETCH {uid} (UID)", asked[1])
            self.assertIn(f"UID FETCH {uid} (UID ENVELOPE INTERNALDATE)", asked[2])
            env.wait_until(lambda: re.search(r"session_end .*answered_from_store=3\b", gw.log_text()), 15,
                           what="the session's end with answered_from_store=3")

            # A batch that also names an ordinary message (Thunderbird's offline sync): the
            # invitation is answered first under the gateway's tag, the rest goes as asked,
            # both at once.
            with self.gateway_session(gw) as c:
                batch = fetch_literals(c, b"UID FETCH %d,%d (UID FLAGS BODY.PEEK[])" % (plain, uid))
            mixed = self.gateway_lines(gw)[before + 3:]
            self.assertEqual(len(mixed), 2, mixed)
            self.assertRegex(mixed[0], rf"line=\"?icalgate\.\d+ UID FETCH {uid} \(UID FLAGS\)")
            self.assertIn(f"UID FETCH {plain} (UID FLAGS BODY.PEEK[])", mixed[1])
            with self.direct_session() as d:
                self.assertEqual(batch[plain], fetch_literals(d, b"UID FETCH %d (UID BODY.PEEK[])" % plain)[plain])
            # By sequence number (here the same as the UID), the first FETCH is probed, as a
            # sequence number names no UID yet, and its answer substituted; its answer shows the
            # UID, so the second is answered from the store at once.
            with self.gateway_session(gw) as c:
                substituted = c.check(b"FETCH %d (BODY.PEEK[])" % uid)
                substituted_described = c.check(b"FETCH %d (BODYSTRUCTURE ENVELOPE RFC822.SIZE INTERNALDATE)" % uid)
            by_seq = self.gateway_lines(gw)[before + 5:]
            self.assertEqual(len(by_seq), 2, by_seq)
            self.assertRegex(by_seq[0], rf"icalgate\.\d+ FETCH {uid} \(UID ")
            self.assertRegex(by_seq[1], rf"line=\"?T\d+ UID FETCH {uid} \(UID ENVELOPE INTERNALDATE\)")
            self.assertNotIn(b"UID", substituted_described[0].split(b"BODYSTRUCTURE", 1)[0])
            self.assertEqual(batch[uid], whole)
            self.assertEqual(substituted[0].split(b"}\r\n", 1)[1][:-3], whole)
            self.assertEqual(chunk, whole[100:2100])
            self.assertEqual(len(calendar_parts(whole)), 1)
            self.assertEqual([items_of(r) for r in described], [items_of(r) for r in substituted_described])

            # Opening the message (Thunderbird's BODY[]) marks it read: the upstream still sets
            # \\Seen, and the answers are what Dovecot gives for the rewritten bytes, first with
            # the new FLAGS, then, already read, without.
            with self.direct_session(BOB) as d:
                d.command(b"DELETE Opened")
                d.check(b"CREATE Opened")
                self.assertEqual(env.status_of(d.append("Opened", whole)[1]), b"OK")
                d.check(b"SELECT Opened")  # takes \\Recent, as earlier sessions did in INBOX
            opened = b"UID FETCH %d (UID RFC822.SIZE BODY[])"
            with self.direct_session(BOB, "Opened") as d:
                want = [d.check(opened % 1), d.check(opened % 1)]
            with self.direct_session() as d:
                d.check(b"UID STORE %d -FLAGS.SILENT (\\Seen)" % uid)
            with env.Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"]) as c:
                c.login(ALICE, env.USERS[ALICE])
                c.check(b"SELECT INBOX")
                got = [c.check(opened % uid), c.check(opened % uid)]
            with self.direct_session() as d:
                flags = d.check(b"UID FETCH %d (FLAGS)" % uid)
                d.check(b"UID STORE %d -FLAGS.SILENT (\\Seen)" % uid)
            after_uid = lambda answers: [re.sub(rb"^\* \d+ FETCH \(UID \d+ ", b"", r) for r in answers]
            self.assertEqual([after_uid(a) for a in got], [after_uid(a) for a in want])
            self.assertIn(b"FLAGS (\\Seen)", got[0][0])
            self.assertIn(b"\\Seen", flags[0])
            asked = self.gateway_lines(gw)[before + 7:]
            self.assertEqual(len(asked), 2, asked)
            for line in asked:
                self.assertIn(f"UID FETCH {uid} (UID BODY[HEADER.FIELDS (Message-ID)])", line)
        finally:
            gw.stop()

    def test_pipelined_fetches(self):
        # A content FETCH pipelined right behind SELECT waits for it and is rewritten; FETCHes
        # of decided mail are not held back at all (mbsync pipelines): those of rewritten mail
        # go upstream asking only for what the rewritten bytes do not hold.
        gw = self.fresh_gateway("pipelined")
        uid, other = (u for u, _ in self.entries("rewrite")[:2])
        plain = [u for u, _ in self.entries("plain")[:2]]

        def pipelined(c: env.Imap, commands: list[bytes]) -> tuple[dict[int, bytes], list[bytes]]:
            tags = [c.next_tag() for _ in commands]
            c.send(b"".join(t + b" " + cmd + b"\r\n" for t, cmd in zip(tags, commands)))
            bodies, statuses, waiting = {}, [], set(tags)
            while waiting:
                resp = c.read_response()
                tag = resp.split(b" ", 1)[0]
                if tag in waiting:
                    waiting.discard(tag)
                    statuses.append(env.status_of(resp))
                    continue
                self.assertTrue(resp.startswith(b"* "), resp)  # no completion of the gateway's own
                m = re.match(rb"\* \d+ FETCH \(.*?UID (\d+).*?\{(\d+)\}\r\n", resp, re.S)
                if m:
                    bodies[int(m.group(1))] = resp[m.end(): m.end() + int(m.group(2))]
            return bodies, statuses

        try:
            with self.direct_session() as d:
                originals = fetch_literals(d, b"UID FETCH %d,%d,%d (UID BODY.PEEK[])" % (uid, *plain))
            conn = env.Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"])
            with conn as c:
                c.login(ALICE, env.USERS[ALICE])
                first, statuses = pipelined(c, [b"EXAMINE INBOX", b"UID FETCH %d (UID BODY.PEEK[])" % uid])
                self.assertEqual(statuses, [b"OK", b"OK"])
                self.assertEqual(len(calendar_parts(first[uid])), 1)
                self.assertNotEqual(first[uid], originals[uid])
                c.check(b"UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Message-ID)])")
                later, statuses = pipelined(c, [b"UID FETCH %d (UID BODY.PEEK[])" % u for u in plain])
                self.assertEqual(statuses, [b"OK", b"OK"])
                self.assertEqual(later, {u: originals[u] for u in plain})
                mixed, statuses = pipelined(c, [b"UID FETCH %d (UID BODY.PEEK[])" % plain[0],
                                                b"UID FETCH %d (UID RFC822.SIZE BODY.PEEK[])" % uid,
                                                b"UID FETCH %d (UID BODY.PEEK[])" % plain[1],
                                                b"UID FETCH %d (UID BODY.PEEK[])" % other,
                                                b"UID FETCH %d,%d (UID FLAGS BODY.PEEK[])" % (plain[1], uid)])
                self.assertEqual(statuses, [b"OK"] * 5)
                self.assertEqual(mixed[uid], first[uid])
                self.assertEqual({u: mixed[u] for u in plain}, {u: originals[u] for u in plain})
                self.assertEqual(len(calendar_parts(mixed[other])), 1)
                c.logout()
            env.wait_until(lambda: re.search(r"session_end .*fetches_decided_at_once=4\b"
                                             r".*fetches_from_store_at_once=3\b", gw.log_text()), 15,
                           what="the session's end with fetches_decided_at_once=4, fetches_from_store_at_once=3")
            lines = self.gateway_lines(gw)
            self.assertIn(f"UID FETCH {uid} (UID)", lines[-4])
            self.assertIn(f"UID FETCH {other} (UID)", lines[-3])
            self.assertRegex(lines[-2], rf"line=\"?icalgate\.\d+ UID FETCH {uid} \(UID FLAGS\)")
            self.assertIn(f"UID FETCH {plain[1]} (UID FLAGS BODY.PEEK[])", lines[-1])
        finally:
            gw.stop()

    def test_fetch_by_sequence_number_of_decided_mail_is_not_probed(self):
        # fetchmail and imaplib name messages by sequence number: once the answers have shown
        # their UIDs, a FETCH of decided mail that is not rewritten goes on at once, without a
        # probe for the UIDs. An EXPUNGE renumbers the messages: after it, the gateway asks
        # again, and an invitation that moved to another number is still served rewritten.
        gw = self.fresh_gateway("by-sequence")
        invitation = (FIXTURES / self.entries("rewrite")[0][1]["file"]).read_bytes()
        first, second = ((FIXTURES / m["file"]).read_bytes() for _, m in self.entries("plain")[:2])
        with self.direct_session() as d:
            d.check(b"CREATE BySequence")
            for data in (first, invitation, second):
                self.assertEqual(env.status_of(d.append("BySequence", data)[1]), b"OK")
        try:
            with self.gateway_session(gw, "BySequence") as c:
                sizes = c.check(b"FETCH 1:3 RFC822.SIZE")
                self.assertEqual(len(sizes), 3)
                probed = len(self.gateway_lines(gw))
                self.assertGreater(probed, 0)
                self.assertEqual(fetch_literals(c, b"FETCH 3 (UID BODY.PEEK[])"), {3: second})
                self.assertEqual(len(self.gateway_lines(gw)), probed, "asked the upstream for UIDs again")
                with self.direct_session(mailbox="BySequence") as d:
                    d.check(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
                    d.check(b"EXPUNGE")
                self.assertIn(b"* 1 EXPUNGE\r\n", c.check(b"NOOP"))
                moved = fetch_literals(c, b"FETCH 1 (UID BODY.PEEK[])")
                self.assertEqual(list(moved), [2])  # the invitation, now message 1
                self.assertEqual(len(calendar_parts(moved[2])), 1)
                self.assertGreater(len(self.gateway_lines(gw)), probed)
                self.assertEqual(fetch_literals(c, b"FETCH 2 (UID BODY.PEEK[])"), {3: second})
                c.logout()
            env.wait_until(lambda: re.search(r"session_end .*fetches_decided_at_once=[1-9]", gw.log_text()), 15,
                           what="the session's end with a FETCH decided at once")
        finally:
            gw.stop()
            with self.direct_session() as d:
                d.check(b"DELETE BySequence")

    def test_fetch_by_sequence_number_of_rewritten_mail_is_answered_from_the_store(self):
        # fetchmail asks for the sizes of all messages by sequence number, then downloads them
        # one by one. The sizes go upstream at once with the UID (and Message-ID) asked along,
        # and decide the mailbox. Once the answers have shown which UID a number names, a FETCH
        # of a rewritten invitation goes upstream at once, asking only for what the gateway's
        # bytes do not hold, and one that also names other decided mail is not probed. The
        # answers are what Dovecot gives for the rewritten bytes, without a UID the client did
        # not ask for.
        gw = self.fresh_gateway("by-sequence-rewritten")
        invitation = (FIXTURES / self.entries("rewrite")[0][1]["file"]).read_bytes()
        first, second = ((FIXTURES / m["file"]).read_bytes() for _, m in self.entries("plain")[:2])
        commands = [b"FETCH 2 RFC822.SIZE", b"FETCH 2 RFC822.HEADER", b"FETCH 2 BODY.PEEK[TEXT]",
                    b"FETCH 2 (ENVELOPE BODYSTRUCTURE)", b"FETCH 2 (FLAGS UID BODY.PEEK[1]<10.200>)",
                    b"FETCH 2:3 (RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Content-Type)])"]
        with self.direct_session() as d:
            for name in (b"SeqRewritten", b"SeqReference"):
                d.check(b"CREATE " + name)
            for data in (first, invitation, second):
                self.assertEqual(env.status_of(d.append("SeqRewritten", data)[1]), b"OK")
        try:
            with self.gateway_session(gw, "SeqRewritten") as c:
                sizes = c.check(b"FETCH 1:3 RFC822.SIZE")
                deciding = self.gateway_lines(gw)
                rewritten = fetch_literals(c, b"UID FETCH 2 (UID BODY.PEEK[])")[2]
                self.assertEqual(len(calendar_parts(rewritten)), 1)
                sent = len(self.gateway_lines(gw))
                through_gateway = [c.check(command) for command in commands]
                lines = self.gateway_lines(gw)[sent:]
                c.logout()
            # The UID FETCH and the first five by sequence number.
            env.wait_until(lambda: re.search(r"session_end .*fetches_from_store_at_once=6\b", gw.log_text()),
                           15, what="the session's end with 6 FETCHes answered from the store at once")
        finally:
            gw.stop()
        with self.direct_session() as d:
            for data in (first, rewritten, second):
                self.assertEqual(env.status_of(d.append("SeqReference", data)[1]), b"OK")
            d.check(b"EXAMINE SeqReference")
            direct = [d.check(command) for command in commands]
            direct_sizes = d.check(b"FETCH 1:3 RFC822.SIZE")
            d.check(b"CLOSE")
            for name in (b"SeqRewritten", b"SeqReference"):
                d.check(b"DELETE " + name)
        # The invitation's answer waits for its rewrite; the others pass on before it.
        self.assertEqual(sorted(sizes), sorted(direct_sizes))
        self.assertEqual(len(deciding), 2, deciding)
        self.assertRegex(deciding[0], r"FETCH 1:3 \(RFC822\.SIZE UID BODY\.PEEK\[HEADER\.FIELDS \(MESSAGE-ID\)\]\)")
        self.assertRegex(deciding[1], r"UID FETCH 2 \(UID BODY\.PEEK\[\]\)")
        for command, got, want in zip(commands, through_gateway, direct):
            self.assertEqual(got, want, command)
        # The last also names a message that is not rewritten: it waits for the commands
        # before it, then goes as asked, its answers substituted, without a probe.
        self.assertEqual(len(lines), 5, lines)
        for line in lines:
            self.assertRegex(line, r"UID FETCH 2 \(UID[ )]", "not asked by UID, or asked for content")
            self.assertNotIn("BODY", line.partition("UID FETCH")[2])

    def test_large_mail_beside_rewritten_streams_on(self):
        # A download of the whole mailbox holds back only the rewritten invitations' answers:
        # a message larger than an answer can be held (here: above max_literal_size) streams on.
        gw = self.fresh_gateway("large", limits={"max_literal_size": "256KiB"})
        try:
            with self.direct_session() as d:
                originals = fetch_literals(d, b"UID FETCH 1:* (UID BODY.PEEK[])")
            large = [u for u, body in originals.items() if len(body) > 2 * 256 * 1024]
            self.assertTrue(large, "the fixture mailbox needs a message above twice the cap")
            with self.gateway_session(gw) as c:
                c.check(b"UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Message-ID)])")
                bodies = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
            self.assertEqual(sorted(bodies), sorted(originals))
            for u in large:
                self.assertEqual(bodies[u], originals[u])
            for u, _ in self.entries("rewrite"):
                self.assertEqual(len(calendar_parts(bodies[u])), 1)
        finally:
            gw.stop()

    def test_header_sync_beside_mail_another_session_rewrote(self):
        # One session opens an invitation before any sync (it is decided alone); another then
        # syncs the whole mailbox: that invitation's answer is served from the store while
        # answers about undecided mail before it still wait.
        gw = self.fresh_gateway("rewrote-above")
        last = self.entries("rewrite")[-1][0]
        sync = b"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (Subject Message-ID)])"
        try:
            with self.gateway_session(gw) as c:
                opened = fetch_literals(c, b"UID FETCH %d (UID BODY.PEEK[])" % last)[last]
            self.assertEqual(len(calendar_parts(opened)), 1)
            with self.gateway_session(gw) as c:
                got = c.check(sync)
        finally:
            gw.stop()
        with self.gateway_session() as c:
            self.assertEqual(sorted(got, key=uid_of), sorted(c.check(sync), key=uid_of))
        self.assertEqual(len(got), len(MANIFEST))

    def test_chunked_header_sync_moves_the_decided_range(self):
        # Thunderbird fetches headers in chunks of explicit UID ranges: once they are decided,
        # a later sync of the whole mailbox asks the upstream nothing more.
        gw = self.fresh_gateway("chunked")
        items = b"(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (Subject Message-ID)])"
        half = len(MANIFEST) // 2
        try:
            with self.gateway_session(gw) as c:
                chunks = (c.check(b"UID FETCH 1:%d %s" % (half, items))
                          + c.check(b"UID FETCH %d:%d %s" % (half + 1, len(MANIFEST), items)))
            before = self.gateway_lines(gw)
            with self.gateway_session(gw) as c:
                whole = c.check(b"UID FETCH 1:* (UID RFC822.SIZE FLAGS)")
            after = self.gateway_lines(gw)
        finally:
            gw.stop()
        self.assertEqual(len(chunks), len(MANIFEST))
        self.assertEqual(after, before)  # no probe, no streamed command
        sizes = lambda answers: sorted((uid_of(a), re.search(rb"RFC822\.SIZE (\d+)", a).group(1))
                                       for a in answers)
        self.assertEqual(sizes(whole), sizes(chunks))

    def new_invitation(self, tag: str) -> tuple[bytes, Path]:
        """An invitation that has just arrived: a fixture's message and Graph entry under a
        new Message-ID, received now. The Graph file is written; the caller removes it."""
        entry = next(m for m in MANIFEST if m["expect"] == "rewrite" and "longhead" not in m["shape"])
        new_id = f"<{tag}-{time.time_ns()}@AM0PR04MB6771.eurprd04.prod.outlook.com>"
        data = (FIXTURES / entry["file"]).read_bytes().replace(entry["message_id"].encode(), new_id.encode())
        graph = json.loads((FIXTURES / entry["graph_file"]).read_text())
        for value in graph["value"]:
            value["internetMessageId"] = new_id
            value["receivedDateTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        path = FIXTURES / "graph" / "users" / ALICE / "messages" / f"zz-{tag}.json"
        path.write_text(json.dumps(graph))
        return data, path

    def test_mail_arriving_after_select_is_decided_by_a_new_listing(self):
        # Mail that arrives after SELECT is newer than the session's listing: a listing asked
        # once the header answers are in names the new invitation and not the ordinary
        # message, so only the invitation is fetched (whole), and nothing is probed.
        gw = self.fresh_gateway("after-select", request_timeout="1s", overall_timeout="2s", listing_interval="1s")
        listed = set()
        for f in (FIXTURES / "graph" / "users" / ALICE / "messages").glob("*.json"):
            listed.update(v["internetMessageId"] for v in json.loads(f.read_text())["value"])
        ordinary = next(m for m in MANIFEST if m["expect"] == "plain" and m["message_id"] not in listed)
        graph_file = None
        graph_before = len(GRAPH.log_text())
        try:
            with self.gateway_session(gw) as c:
                with self.direct_session() as d:
                    last = self.uidnext(d) - 1
                # The session's listing is taken, then the mail arrives (as while IDLE).
                c.check(b"UID FETCH %d (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Message-ID)])"
                        % (MANIFEST.index(ordinary) + 1))
                invitation, graph_file = self.new_invitation("after-select")
                time.sleep(1.2)  # the session's listing is now older than listing_interval
                with self.direct_session() as d:
                    for data in (invitation, (FIXTURES / ordinary["file"]).read_bytes()):
                        d.check(b"APPEND INBOX {%d+}\r\n" % len(data) + data)  # received now
                c.check(b"NOOP")
                got = c.check(b"UID FETCH %d:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Message-ID)])" % (last + 1))
                lines = self.gateway_lines(gw)
                body = fetch_literals(c, b"UID FETCH %d:%d (UID BODY.PEEK[])" % (last + 1, last + 2))
            self.assertEqual(len(got), 2, got)
            self.assertEqual(len(calendar_parts(body[last + 1])), 1)
            self.assertEqual(body[last + 2], (FIXTURES / ordinary["file"]).read_bytes())
            self.assertEqual([("streamed=" in p, "BODY.PEEK[]" in p) for p in lines],
                             [(True, False), (True, False), (False, True)], lines)
            self.assertIn(f"UID FETCH {last + 1} (UID BODY.PEEK[])", lines[2])
            self.assertFalse([p for p in lines if "BODYSTRUCTURE" in p or "INTERNALDATE" in p], lines)
            # One listing for the session, then one for what arrived since, events included:
            # the session's listing still vouches for the mail it saw at SELECT, however old.
            graph_log = GRAPH.log_text()[graph_before:].replace("%24", "$").replace("%20", " ")
            listings = [line for line in graph_log.splitlines() if "/messages?" in line]
            self.assertEqual(len(listings), 2, listings)
            self.assertNotIn("receivedDateTime ge", listings[0])
            self.assertRegex(listings[1], r"receivedDateTime ge \d{4}-\d\d-\d\dT.*\$expand=")
            self.assertNotIn("internetMessageId eq", graph_log)

            # Graph cannot list: new mail is classified from IMAP, as without a listing.
            with self.direct_session() as d:
                data = (FIXTURES / ordinary["file"]).read_bytes()
                d.check(b"APPEND INBOX {%d+}\r\n" % len(data) + data)
            GRAPH.set_faults([{"path_prefix": "/v1.0/users/", "method": "GET", "status": 503}])
            before = len(self.gateway_lines(gw))
            with self.gateway_session(gw) as c:
                got = fetch_literals(c, b"UID FETCH %d:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Message-ID)])"
                                     % (last + 3))
            self.assertEqual(list(got), [last + 3])
            lines = self.gateway_lines(gw)
            self.assertTrue([p for p in lines[before:] if f"UID FETCH {last + 3} (UID BODYSTRUCTURE BODY.PEEK[1]<0.16384>)" in p],
                            lines[before:])
            # ... and, Graph having failed, it is not asked again within the session's FETCH.
            self.assertEqual(gw.log_text().count("graph_listing_failed"), 1)
        finally:
            GRAPH.set_faults([])
            gw.stop()
            self.remove_new_mail(graph_file)

    def test_new_mail_in_a_synced_session_asks_graph_once(self):
        # A session that finds its mailbox decided asks Graph nothing; when mail arrives, one
        # listing, asked once the header answers are in, decides it.
        gw = self.fresh_gateway("synced")
        sync = b"UID FETCH %s (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (Subject Message-ID)])"
        graph_file = None
        try:
            with self.gateway_session(gw) as c:
                c.check(sync % b"1:*")
            graph_before = len(GRAPH.log_text())
            with self.gateway_session(gw) as c:
                self.assertEqual(len(c.check(sync % b"1:*")), len(MANIFEST))
                self.assertEqual(GRAPH.log_text()[graph_before:], "")
                with self.direct_session() as d:
                    new_uid = self.uidnext(d)
                    invitation, graph_file = self.new_invitation("synced")
                    d.check(b"APPEND INBOX {%d+}\r\n" % len(invitation) + invitation)
                c.check(b"NOOP")
                g_before = len(self.gateway_lines(gw))
                self.assertEqual(len(c.check(sync % b"%d:*" % new_uid)), 1)
                body = fetch_literals(c, b"UID FETCH %d (UID BODY.PEEK[])" % new_uid)
            self.assertEqual(len(calendar_parts(body[new_uid])), 1)
            graph_log = GRAPH.log_text()[graph_before:].replace("%24", "$").replace("%20", " ")
            listings = [line for line in graph_log.splitlines() if "/messages?" in line]
            self.assertEqual(len(listings), 1, listings)
            self.assertIn("receivedDateTime ge", listings[0])
            g_lines = self.gateway_lines(gw)[g_before:]
            self.assertIn("streamed=", g_lines[0])
            self.assertIn(f"UID FETCH {new_uid} (UID BODY.PEEK[])", g_lines[1])
        finally:
            gw.stop()
            self.remove_new_mail(graph_file)

    def test_downloads_one_by_one_are_decided_ahead(self):
        # offlineimap lists flags only, then downloads each message with a UID FETCH of its
        # own: the probe before the first download decides the ordinary mail that follows
        # too, and remembers the meeting messages (each decided only when named: a Graph
        # failure must not fix what no client has seen). Each meeting message, the first one
        # too, is then decided from the answer to its own download, which carries it whole:
        # the gateway fetches none of them itself. Each comes as the reference gateway
        # serves it.
        lines = self.download_one_by_one("one-by-one", listing=True)
        meetings = [uid for uid, m in enumerate(MANIFEST, 1) if m["graph"] == "meeting"]
        self.assertEqual(meetings[0], 1)
        probes = [p for p in lines if "MESSAGE-ID" in p or "BODYSTRUCTURE" in p]
        self.assertEqual(len(probes), 1, lines)
        self.assertEqual(uids_in(re.search(r"UID FETCH ([0-9:,]+) ", probes[0]).group(1)), set(range(1, 202)))
        self.assertEqual([p for p in lines if "BODY.PEEK[])" in p], [], lines)
        # The download of each meeting message goes upstream as offlineimap sent it, read by
        # the gateway (a "streamed" line); every other download passes on untouched.
        streamed = [p for p in lines if " streamed=T" in p]
        self.assertEqual(len(streamed), len(meetings), lines)
        self.assertEqual(len(lines), len(probes) + len(streamed), lines)

    def test_whole_mailbox_download_is_decided_from_its_own_answers(self):
        # A client that downloads a whole mailbox in one command (UID FETCH 1:* BODY.PEEK[])
        # before anything is decided: the probe tells the meeting messages apart, and the
        # command then goes upstream as the client sent it, each meeting message decided from
        # the whole message its answer carries. One round trip besides the client's, with the
        # listing and (this mailbox's first bodies being decided by the probe) without it.
        command = b"UID FETCH 1:* (UID FLAGS BODY.PEEK[])"
        with self.gateway_session() as c:
            reference = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
        for listing in (True, False):
            with self.subTest(listing=listing):
                gw = self.fresh_gateway(f"download-all-{listing}", listing=listing)
                try:
                    with self.gateway_session(gw) as c:
                        got = fetch_literals(c, command)
                    lines = self.gateway_lines(gw)
                    # Decided now, the whole mailbox: the same download in a new session
                    # goes on at once, answered from the store for the rewritten messages.
                    with self.gateway_session(gw) as c:
                        again = fetch_literals(c, command)
                    later = self.gateway_lines(gw)[len(lines):]
                finally:
                    gw.stop()
                self.assertEqual(got, reference)
                self.assertEqual(again, reference)
                self.assertEqual(len(lines), 2, lines)
                self.assertIn("MESSAGE-ID" if listing else "BODYSTRUCTURE", lines[0])
                self.assertIn(" streamed=T", lines[1])
                self.assertEqual(later, [])

    def download_one_by_one(self, name: str, *, listing: bool) -> list[str]:
        """offlineimap's sync through a fresh gateway, each download checked against the
        reference gateway's answer; the lines the gateway sent upstream itself."""
        gw = self.fresh_gateway(name, listing=listing)
        try:
            with self.gateway_session(gw) as c:
                c.check(b"UID FETCH 1:* (FLAGS UID INTERNALDATE)")
                bodies = {}
                for uid in range(1, len(MANIFEST) + 1):
                    bodies.update(fetch_literals(c, b"UID FETCH %d (BODY.PEEK[])" % uid))
            lines = self.gateway_lines(gw)
        finally:
            gw.stop()
        with self.gateway_session() as c:
            self.assertEqual(bodies, fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])"))
        return lines

    def test_imap_only_downloads_one_by_one_are_decided_ahead(self):
        # Without the listing, the probe before the first download reads ahead too: the
        # structure and 16 KiB of section 1 decide the ordinary mail that follows, and tell
        # which messages to fetch whole once named (invitations, small HTML past the probe).
        # Only large HTML that the probe left undecided waits for a probe of its own.
        lines = self.download_one_by_one("one-by-one-imap", listing=False)
        probes = [p for p in lines if "BODYSTRUCTURE" in p]
        sets = [uids_in(re.search(r"UID FETCH ([0-9:,]+) ", p).group(1)) for p in probes]
        self.assertEqual(sets[0], set(range(1, 202)), lines)
        self.assertIn("BODYSTRUCTURE BODY.PEEK[1]<0.16384>)", probes[0])
        again = set()
        for named in sets[1:]:
            # Its own UID, and none that the first probe read ahead already.
            below = {u for u in named if u <= 201}
            self.assertEqual(len(below), 1, lines)
            again |= below
        invitations = {uid for uid, m in enumerate(MANIFEST, 1) if m["expect"] != "plain"}
        html_first = {uid for uid, m in enumerate(MANIFEST, 1)
                      if m["shape"].startswith(("html", "mixed-html", "related"))}
        self.assertTrue(again <= html_first, lines)
        self.assertTrue(html_first - invitations - again, lines)  # decided by the first probe
        # What the probes found to fetch whole (the invitations, small HTML past the probe) is
        # decided from the answer to its own download, which carries it whole: the gateway
        # fetches nothing whole itself, and sends nothing else.
        self.assertEqual([p for p in lines if "BODY.PEEK[])" in p], [], lines)
        streamed = [p for p in lines if " streamed=T" in p]
        self.assertGreaterEqual(len(streamed), len(invitations), lines)
        self.assertEqual(len(lines), len(probes) + len(streamed), lines)
        self.assertLess(len(again), len(invitations) // 2, lines)

    def test_header_sync_in_chunks_decides_each_chunk(self):
        # Thunderbird syncs a large folder's headers in chunks (mail.imap.hdr_chunk_size). A
        # chunk is answered as it comes and decides only itself: the next chunk, read ahead of
        # by no probe, still waits for its meeting messages to be decided.
        items = b" (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (Subject Message-ID Content-Type)])"
        chunks = [b"UID FETCH 1:20" + items, b"UID FETCH 21:*" + items]
        gw = self.fresh_gateway("chunks")
        try:
            with self.gateway_session(gw) as c:
                got = [c.check(command) for command in chunks]
            log = gw.log_text()
        finally:
            gw.stop()
        with self.gateway_session() as c:
            reference = c.check(b"UID FETCH 1:*" + items)
        self.assertEqual(sorted(got[0] + got[1]), sorted(reference))
        for uid, _ in self.entries("rewrite"):
            self.assertIn(f" uid={uid} outcome=rewritten", log)

    def test_decided_range_stops_at_the_newest_message(self):
        # A client may name UIDs that no message has yet (a chunk past the newest). Deciding
        # the range decides the mail that exists; UIDs given later are not decided with it.
        # (Named to run after test_chunked_header_sync_moves_the_decided_range, which wants
        # no UID used above the fixtures.)
        gw = self.fresh_gateway("past-newest")
        graph_file = None
        try:
            with self.direct_session() as d:
                new_uid = self.uidnext(d)
            with self.gateway_session(gw) as c:
                c.check(b"UID FETCH 1:%d (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Message-ID)])" % (new_uid + 50))
            with self.direct_session() as d:
                invitation, graph_file = self.new_invitation("past-newest")
                d.check(b"APPEND INBOX {%d+}\r\n" % len(invitation) + invitation)
            with self.gateway_session(gw) as c:
                shown = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
            self.assertEqual(len(calendar_parts(shown[new_uid])), 1)
        finally:
            gw.stop()
            self.remove_new_mail(graph_file)

    def test_mail_announced_while_a_fetch_answers_stays_as_shown(self):
        # In a decided mailbox where nothing is new, `UID FETCH 1:* ...` goes on unprobed. A
        # server may still announce mail while answering it and answer about that mail too
        # (Exchange's behaviour unverified; the shim does so): the client was then shown it
        # undecided, as it is, and every session must go on showing it so, although it is an
        # invitation Graph knows. An answer that shows only flags shows nothing a rewrite
        # changes: that invitation is still rewritten. The same for mail that arrives while
        # the probe of a FETCH runs (Dovecot does show that).
        shim = exchange_shim.ExchangeShim(self.w.upstream_port_for("implicit"), self.w.certs).start()
        self.addCleanup(shim.stop)
        state = Path(tempfile.mkdtemp(prefix="state-", dir=self.w.root)) / "rewrite.db"
        gw = env.Gateway(ICALGATE, self.w.root, self.w.certs, shim.port, "implicit", name="announcing",
                         extra_config=rewrite_config(state)).start()
        graph_files = []
        try:
            with self.gateway_session(gw) as c:
                c.check(b"UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Message-ID)])")
                with self.direct_session() as d:
                    added = {}
                    for tag in ("flagged", "shown"):
                        invitation, graph_file = self.new_invitation(f"announced-{tag}")
                        graph_files.append(graph_file)
                        _, tagged = d.append("INBOX", invitation)
                        added[tag] = (int(re.search(rb"\[APPENDUID \d+ (\d+)\]", tagged).group(1)), invitation)
                    count = int(re.search(rb"MESSAGES (\d+)", d.check(b"STATUS INBOX (MESSAGES)")[0]).group(1))
                flagged, (shown_uid, invitation) = added["flagged"][0], added["shown"]
                announced = (b"* %d EXISTS\r\n* %d FETCH (UID %d FLAGS (\\Recent))\r\n"
                             b"* %d FETCH (UID %d BODY[] {%d}\r\n%s)\r\n"
                             % (count, count - 1, flagged, count, shown_uid, len(invitation), invitation))
                shim.announce_while_answering(b"UID FETCH 1:* (UID BODY.PEEK[])", announced)
                g_before = len(self.gateway_lines(gw))
                shown = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
                self.assertTrue(shim.announced.is_set())
                self.assertEqual(self.gateway_lines(gw)[g_before:], [], "the FETCH went on unprobed")
            self.assertEqual(shown[shown_uid], invitation)
            with self.gateway_session(gw) as c:
                again = c.check(b"UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Message-ID)])")
                body = fetch_literals(c, b"UID FETCH %d:%d (UID BODY.PEEK[])" % (flagged, shown_uid))
            sizes = {uid_of(r): int(re.search(rb"RFC822.SIZE (\d+)", r).group(1)) for r in again}
            self.assertEqual(sizes[shown_uid], len(invitation))
            self.assertEqual(body[shown_uid], invitation)
            self.assertEqual(len(calendar_parts(body[flagged])), 1)
            self.assertEqual(sizes[flagged], len(body[flagged]))
            self.assertIn(f'uid={shown_uid} outcome=original reason="shown before it was decided"', gw.log_text())
            self.assertNotIn(f'uid={flagged} outcome=original', gw.log_text())

            # New mail makes the FETCH probe first. Mail that arrives while the probe is on its
            # way is not in its answers (Dovecot's view is the one of its last sync) but in the
            # FETCH's, right after: shown undecided.
            with self.direct_session() as d:
                probed, graph_file = self.new_invitation("announced-probed")
                graph_files.append(graph_file)
                _, tagged = d.append("INBOX", probed)
                probed_uid = int(re.search(rb"\[APPENDUID \d+ (\d+)\]", tagged).group(1))
            late = {}

            def arrive() -> bytes:
                data, graph_file = self.new_invitation("announced-late")
                graph_files.append(graph_file)
                with self.direct_session() as d:
                    _, tagged = d.append("INBOX", data)
                late.update(uid=int(re.search(rb"\[APPENDUID \d+ (\d+)\]", tagged).group(1)), data=data)
                return b""

            shim.announce_while_answering(b"(UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
                                          arrive)
            with self.gateway_session(gw) as c:
                g_before = len(self.gateway_lines(gw))
                shown = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
                probes = self.gateway_lines(gw)[g_before:]
            self.assertTrue(late, "no mail arrived during the probe")
            # The new mail's Message-ID, then the command itself, whose answer carries its body.
            self.assertEqual(len(probes), 2, probes)
            self.assertIn(" streamed=T", probes[1])
            named = [re.split(r"[,:]", re.search(r"UID FETCH (\S+) ", p).group(1)) for p in probes[:1]]
            self.assertNotIn(str(late["uid"]), sum(named, []), probes)
            self.assertEqual(len(calendar_parts(shown[probed_uid])), 1)
            self.assertEqual(shown[late["uid"]], late["data"])
            with self.gateway_session(gw) as c:
                body = fetch_literals(c, b"UID FETCH %d:%d (UID BODY.PEEK[])" % (probed_uid, late["uid"]))
            self.assertEqual(body[late["uid"]], late["data"])
            self.assertEqual(body[probed_uid], shown[probed_uid])
            self.assertIn(f'uid={late["uid"]} outcome=original reason="shown before it was decided"', gw.log_text())
        finally:
            gw.stop()
            for graph_file in graph_files:
                graph_file.unlink()
            self.remove_new_mail(None)

    def test_sessions_starting_together_share_one_listing(self):
        # Thunderbird syncs several folders at once when it starts: a session that needs the
        # listing while another session's request for it is in flight waits for that answer,
        # instead of classifying its folder from IMAP (BODYSTRUCTURE of every message).
        # (The folder holds copies of INBOX's first messages: their events, which come with the
        # listing, serve one decision each, so the copies are looked up one by one.)
        with self.direct_session() as d:
            d.command(b"DELETE Together")
            d.check(b"CREATE Together")
            seed_with_dates(d, "Together", [(FIXTURES / m["file"]).read_bytes() for m in MANIFEST[:12]])
        gw = self.fresh_gateway("together")
        sync = b"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (Subject Message-ID)])"
        graph_before = len(GRAPH.log_text())
        try:
            with self.gateway_session(gw) as a, self.gateway_session(gw, "Together") as b:
                # Graph answers slowly: the second session asks while the first one's listing runs.
                GRAPH.set_faults([{"path_prefix": "/v1.0/users/", "method": "GET", "delay_ms": 1500}])
                tag_a = a.next_tag()
                a.send(tag_a + b" " + sync + b"\r\n")
                time.sleep(0.3)
                tag_b = b.next_tag()
                b.send(tag_b + b" " + sync + b"\r\n")
                answers_a, done_a = a.collect(tag_a)
                answers_b, done_b = b.collect(tag_b)
            self.assertEqual((env.status_of(done_a), env.status_of(done_b)), (b"OK", b"OK"))
            self.assertEqual((len(answers_a), len(answers_b)), (len(MANIFEST), 12))
            listings = [line for line in GRAPH.log_text()[graph_before:].splitlines()
                        if "/messages?" in line and "internetMessageId%20eq" not in line]
            self.assertEqual(len(listings), 1, listings)
            probes = self.gateway_lines(gw)
            self.assertFalse([p for p in probes if "BODYSTRUCTURE" in p], probes)
            rewritten = [m for m in MANIFEST[:12] if m["expect"] == "rewrite"]
            self.assertTrue(rewritten)
            self.assertEqual(len(re.findall(r"outcome=rewritten", gw.log_text())),
                             sum(1 for m in MANIFEST if m["expect"] == "rewrite") + len(rewritten))
        finally:
            GRAPH.set_faults([])
            env.wait_until(lambda: graph_in_flight() == 0, 15, what="the delayed Graph requests to end")
            gw.stop()

    def imap_only_first(self, name: str, command: bytes, mailbox: str = "INBOX",
                        rewrite: str = "") -> tuple[list[bytes], list[str], str]:
        """The answers to `command` through a fresh gateway without the listing, checked
        against the listing gateway's (in any order), the lines it sent upstream itself, and
        the session's session_end line."""
        gw = self.fresh_gateway(name, rewrite, listing=False)
        try:
            with self.gateway_session(gw, mailbox) as c:
                got = c.check(command)
            end = env.wait_until(lambda: re.search(r"session_end .*streamed_fetches=1\b.*", gw.log_text()), 15,
                                 what="the session's end").group(0)
            lines = self.gateway_lines(gw)
        finally:
            gw.stop()
        with self.gateway_session(mailbox=mailbox) as c:
            self.assertEqual(sorted(got), sorted(c.check(command)))
        return got, lines, end

    def test_imap_only_classification_agrees(self):
        # listing = false: BODYSTRUCTURE and the start of the first text body decide.
        gw = self.fresh_gateway("imaponly", listing=False)
        try:
            with self.gateway_session(gw) as c:
                via_imap = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
            with self.gateway_session() as c:
                via_listing = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
            self.assertEqual(via_imap, via_listing)
            self.assertIn("BODYSTRUCTURE", gw.log_text())
            # Here the invitations Graph has no event for are recognised, and counted.
            for uid, entry in self.entries("original"):
                self.assertIn(f'uid={uid} outcome=original reason="no event in Graph"', gw.log_text())
        finally:
            gw.stop()

    def test_imap_only_header_sync_asks_for_structure_along(self):
        # Without the listing a header sync goes upstream at once too, BODYSTRUCTURE and the
        # start of BODY[1] asked along and taken out of the answers. Of a few undecided
        # messages, as much of BODY[1] as the first probe takes: every message is decided in
        # the client's own round trip, and one more fetches the invitations whole (and the
        # small HTML mail whose <head> runs past the probe, which its whole bytes decide).
        sync = b"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (Subject Message-ID)])"
        got, lines, end = self.imap_only_first("imaponly-sync", sync)
        for answer in got:
            self.assertNotIn(b"BODYSTRUCTURE", answer)
            self.assertNotIn(b"BODY[1]", answer)
        self.assertIn("streamed=", lines[0])
        self.assertIn("Message-ID)] BODYSTRUCTURE BODY.PEEK[1]<0.16384>)", lines[0])
        self.assertEqual(len(lines), 2, lines)
        whole = uids_in(re.search(r"UID FETCH ([0-9:,]+) \(UID BODY\.PEEK\[\]\)$", lines[1].rstrip('"')).group(1))
        invitations = {uid for uid, m in enumerate(MANIFEST, 1) if m["expect"] != "plain"}
        long_heads = {uid for uid, m in enumerate(MANIFEST, 1) if "head" in m["shape"]}
        self.assertEqual(whole, invitations | long_heads, lines)
        self.assertRegex(end, r"\bprobe_round_trips=1\b")

    def many_first(self, name: str, messages: list[dict], copies: int,
                   rewrite: str = "") -> tuple[list[str], str]:
        """A first header sync, without the listing, of a mailbox of `copies` rounds of
        `messages` (more undecided mail than counts as few): the answers checked against the
        listing gateway's, the lines the gateway sent upstream, and its session_end line."""
        with self.direct_session() as d:
            d.command(b"DELETE " + name.encode())
            d.check(b"CREATE " + name.encode())
            seed_with_dates(d, name, [(FIXTURES / m["file"]).read_bytes() for m in messages] * copies)
        sync = b"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From Subject Message-ID)])"
        got, lines, end = self.imap_only_first(name, sync, name, rewrite)
        self.assertEqual(len(got), len(messages) * copies)
        self.assertIn("BODYSTRUCTURE BODY.PEEK[1]<0.1024>)", lines[0])
        return lines, end

    def test_imap_only_first_sync_asks_a_kib_of_section_one(self):
        # Of many undecided messages (a first sync), bytes count: a KiB of BODY[1], which
        # decides plain first bodies, nested or not. HTML first bodies of up to twice the
        # probe's 16 KiB are fetched whole in the next round trip, with the invitations decided
        # already: their bytes decide them, and no third round trip fetches an invitation
        # whole. Only larger ones take the probe, and what it finds takes a third.
        copies = 2
        lines, end = self.many_first("ManyFirst", MANIFEST, copies)
        n = len(MANIFEST)
        with self.direct_session(mailbox="ManyFirst") as d:
            sizes = {int(uid): int(size) for uid, size in
                     re.findall(rb"UID (\d+) RFC822\.SIZE (\d+)", b"".join(d.check(b"UID FETCH 1:* (UID RFC822.SIZE)")))}
        self.assertEqual(len(sizes), n * copies)

        def uids(pred) -> set[int]:
            return {uid + k * n for uid, m in enumerate(MANIFEST, 1) if pred(m) for k in range(copies)}

        prefixes = [p for p in lines[1:] if "]<0." in p]
        wholes = [uids_in(re.search(r"UID FETCH ([0-9:,]+) \(UID BODY\.PEEK\[\]\)", p).group(1))
                  for p in lines[1:] if "BODY.PEEK[])" in p]
        self.assertEqual(len(prefixes) + len(wholes), len(lines) - 1, lines)
        self.assertEqual(len(prefixes), 1, lines)
        self.assertIn("(UID BODY.PEEK[1]<0.16384>)", prefixes[0])
        html_first = uids(lambda m: m["shape"].startswith(("html", "mixed-html", "related")))
        large = {uid for uid in html_first if sizes[uid] > 32768}
        self.assertTrue(html_first - large and large)
        self.assertEqual(uids_in(re.search(r"UID FETCH ([0-9:,]+) ", prefixes[0]).group(1)), large, lines)
        # The invitations whose plain body showed the link come whole with the probes, so do
        # the small HTML messages; then the large HTML invitations the probes find, and the
        # HTML mail whose <head> runs past the probe.
        invitations = uids(lambda m: m["expect"] != "plain")
        long_heads = uids(lambda m: "head" in m["shape"])
        self.assertTrue(long_heads <= large)
        self.assertEqual(wholes, [(invitations - html_first) | (html_first - large),
                                  (invitations & large) | long_heads], lines)
        self.assertRegex(end, r"\bprobe_round_trips=2\b")

    def test_imap_only_first_sync_of_small_messages_costs_one_round_trip(self):
        # Exchange's usual rendering, a single HTML body, of everyday sizes: a KiB of BODY[1]
        # does not reach past the <head>, and every message is decided in one round trip
        # besides the client's command, which fetches whole the invitations and the messages
        # that KiB left undecided (DESIGN.md §2: at most one extra round trip per FETCH).
        chosen = [m for m in MANIFEST if m["shape"].startswith(("html", "mixed-html", "related", "plain"))
                  and (FIXTURES / m["file"]).stat().st_size <= 24576]
        lines, end = self.many_first("SmallFirst", chosen, 3)
        self.assertEqual(len(lines), 2, lines)
        whole = uids_in(re.search(r"UID FETCH ([0-9:,]+) \(UID BODY\.PEEK\[\]\)", lines[1]).group(1))
        undecided = {uid + k * len(chosen) for uid, m in enumerate(chosen, 1)
                     if m["expect"] != "plain" or not m["shape"].startswith("plain") for k in range(3)}
        self.assertEqual(whole, undecided, lines)
        self.assertRegex(end, r"\bprobe_round_trips=1\b")

    def test_imap_only_first_sync_of_plain_first_bodies_costs_one_round_trip(self):
        # Mail that starts section 1 with a plain body (Exchange's rendering when plain text or
        # a plain alternative is configured): a first sync costs the upstream one round trip
        # besides the client's command, the invitations' whole fetch.
        chosen = [m for m in MANIFEST if m["shape"].startswith(("plain", "alternative", "mixed-alternative",
                                                                "mixed-plain"))]
        lines, end = self.many_first("PlainFirst", chosen, 3)
        self.assertEqual(len(lines), 2, lines)
        whole = uids_in(re.search(r"UID FETCH ([0-9:,]+) \(UID BODY\.PEEK\[\]\)", lines[1]).group(1))
        self.assertEqual(whole, {uid + k * len(chosen) for uid, m in enumerate(chosen, 1) if m["expect"] != "plain"
                                 for k in range(3)}, lines)
        self.assertRegex(end, r"\bprobe_round_trips=1\b")

    def test_imap_only_classification_holds_a_few_messages_at_once(self):
        # The messages a first sync fetches whole go upstream in rounds of at most four times
        # the size cap (here 24 KiB): what a session holds at once stays bounded, however large
        # the mailbox. Every message is decided all the same, and answered as the listing
        # gateway answers it.
        chosen = [m for m in MANIFEST if m["shape"].startswith(("html", "mixed-html", "related", "plain"))
                  and (FIXTURES / m["file"]).stat().st_size <= 14000]
        lines, end = self.many_first("Bounded", chosen, 3, 'max_message_size = "24KiB"')
        with self.direct_session(mailbox="Bounded") as d:
            sizes = {int(uid): int(size) for uid, size in
                     re.findall(rb"UID (\d+) RFC822\.SIZE (\d+)", b"".join(d.check(b"UID FETCH 1:* (UID RFC822.SIZE)")))}
        wholes = [uids_in(re.search(r"UID FETCH ([0-9:,]+) \(UID BODY\.PEEK\[\]\)", p).group(1)) for p in lines[1:]]
        self.assertGreater(len(wholes), 2, lines)
        for batch in wholes:
            self.assertLessEqual(sum(sizes[uid] for uid in batch), 4 * 24 * 1024, lines)
        undecided = {uid + k * len(chosen) for uid, m in enumerate(chosen, 1)
                     if m["expect"] != "plain" or not m["shape"].startswith("plain") for k in range(3)}
        self.assertEqual(set().union(*wholes), undecided, lines)
        self.assertEqual(sum(len(b) for b in wholes), len(undecided), lines)
        self.assertRegex(end, rf"\bprobe_round_trips={len(wholes)}\b")

    def test_imap_only_sync_in_chunks_learns_html_first_bodies(self):
        # Thunderbird syncs a large folder's headers in chunks (mail.imap.hdr_chunk_size).
        # Once a user's mail has shown mostly HTML first bodies (Exchange's usual rendering),
        # later chunks ask along as much of BODY[1] as the first probe takes: decided in the
        # client's own round trip, for the bytes those probes would cost anyway.
        html = [m for m in MANIFEST if m["shape"].startswith(("html", "mixed-html", "related"))]
        copies = -(-160 // len(html))
        with self.direct_session() as d:
            for name in ("HtmlFirst", "HtmlFirst2"):
                d.command(b"DELETE " + name.encode())
                d.check(b"CREATE " + name.encode())
                seed_with_dates(d, name, [(FIXTURES / m["file"]).read_bytes() for m in html] * copies)
        items = b" (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From Subject Message-ID)])"
        chunks = [b"UID FETCH 1:80" + items, b"UID FETCH 81:*" + items]
        gw = self.fresh_gateway("imaponly-chunks", listing=False)
        try:
            with self.gateway_session(gw, "HtmlFirst") as c:
                got = [c.check(chunks[0])]
                first = len(self.gateway_lines(gw))
                got.append(c.check(chunks[1]))
            lines = self.gateway_lines(gw)
        finally:
            gw.stop()
        # What the user's mail showed carries over to the user's next session, also after a
        # restart (the decision store keeps it): its first sync of another folder is decided
        # in its own round trip too.
        gw = self.w.start_gateway(name="imaponly-chunks-restarted", extra_config=gw.extra_config)
        try:
            with self.gateway_session(gw, "HtmlFirst2") as c:
                c.check(b"UID FETCH 1:*" + items)
            later = self.gateway_lines(gw)
        finally:
            gw.stop()
        with self.gateway_session(mailbox="HtmlFirst") as c:
            for command, answers in zip(chunks, got):
                self.assertEqual(sorted(answers), sorted(c.check(command)))
        self.assertIn("BODYSTRUCTURE BODY.PEEK[1]<0.16384>)", later[0])
        self.assertEqual(len(later), 2, later)
        # The first chunk: nothing learnt yet, a KiB; the HTML bodies then take a probe.
        self.assertIn("81:* ", lines[first], lines)
        self.assertIn("BODYSTRUCTURE BODY.PEEK[1]<0.1024>)", lines[0])
        self.assertTrue([p for p in lines[1:first] if "(UID BODY.PEEK[1]<0.16384>)" in p], lines)
        # The second: every message decided by its own answer, the invitations fetched whole.
        self.assertIn("BODYSTRUCTURE BODY.PEEK[1]<0.16384>)", lines[first])
        self.assertEqual(len(lines) - first, 2, lines[first:])
        self.assertIn("(UID BODY.PEEK[])", lines[first + 1])

    def test_imap_only_sizes_by_sequence_number(self):
        # fetchmail's first command, by sequence number: the UID and BODYSTRUCTURE are asked
        # along and taken out of the answers, which give the sizes the listing gateway gives.
        sizes = b"FETCH 1:%d RFC822.SIZE" % len(MANIFEST)
        got, lines, _ = self.imap_only_first("imaponly-sizes", sizes)
        self.assertEqual(len(got), len(MANIFEST))
        for answer in got:
            self.assertRegex(answer, rb"^\* \d+ FETCH \(RFC822\.SIZE \d+\)\r\n$")
        self.assertIn("streamed=", lines[0])
        self.assertIn("FETCH 1:%d (RFC822.SIZE UID BODYSTRUCTURE BODY.PEEK[1]<0.16384>)" % len(MANIFEST), lines[0])
        self.assertRegex(lines[-1], r"UID FETCH [0-9:,]+ \(UID BODY\.PEEK\[\]\)")

class RestartAndFailureTest(RewriteBase):
    def test_announced_sizes_spare_the_header_sync_and_hold_after_a_restart(self):
        # [rewrite] announce_sizes: a header sync asks the upstream only for the BODYSTRUCTURE of
        # the listed meeting messages and answers their rewritten size (and, for a single-part
        # body, the wrapping Content-Type) from an announcement. The first content fetch, by a
        # gateway restarted meanwhile with Graph failing, builds the message from the event
        # stored with the announcement: exactly that size and header, and Dovecot serving its
        # bytes answers the items as the gateway does.
        sync = (b"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc "
                b"Subject Date Message-ID Content-Type)])")
        state = Path(tempfile.mkdtemp(prefix="state-", dir=self.w.root)) / "rewrite.db"
        config = rewrite_config(state, "announce_sizes = true")
        first = self.w.start_gateway(name="announce", extra_config=config)
        with self.gateway_session(first) as c:
            synced = {uid_of(a): a for a in c.check(sync)}
        lines = self.gateway_lines(first)
        self.assertEqual(first.stop(), 0)
        self.assertEqual(len(synced), len(MANIFEST))
        probes = lines[1:]
        self.assertEqual(len(probes), 1, lines)
        asked = re.search(r"UID FETCH ([0-9:,]+) \(UID BODYSTRUCTURE\)", probes[0])
        self.assertIsNotNone(asked, probes)
        asked_uids = set()
        for run in asked.group(1).split(","):
            low, _, high = run.partition(":")
            asked_uids.update(range(int(low), int(high or low) + 1))
        # Meeting messages only (the external invitation among them is decided plain by its
        # structure): nothing Graph does not list.
        self.assertTrue(asked_uids)
        self.assertFalse({uid for uid, m in enumerate(MANIFEST, 1) if m["graph"] != "meeting"} & asked_uids)
        rewrites = [uid for uid, _ in self.entries("rewrite")]
        self.assertTrue(set(rewrites) <= asked_uids)

        GRAPH.set_faults([{"status": 503}])
        try:
            second = self.w.start_gateway(name="announce-restarted", extra_config=config)
            with self.gateway_session(second) as c:
                # Synced again (the store's decided range covers it all): the announcements
                # answer; then everything downloaded, each announced message fetched whole.
                self.assertEqual({uid_of(a): a for a in c.check(sync)}, synced)
                bodies = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
                self.assertEqual({uid_of(a): a for a in c.check(sync)}, synced)
            log = second.log_text()
            self.assertEqual(second.stop(), 0)
        finally:
            GRAPH.set_faults([])
        self.assertNotIn("rewrite_announcement_unmet", log)
        self.assertNotIn("outcome=original", log)
        wraps = 0
        for uid in rewrites:
            with self.subTest(uid=uid):
                size = int(re.search(rb"RFC822\.SIZE (\d+)", synced[uid]).group(1))
                self.assertEqual(len(bodies[uid]), size)
                self.assertTrue(calendar_parts(bodies[uid]))
                # The header fields the sync showed are the rewritten message's.
                shown = synced[uid].split(b"}\r\n", 1)[1].split(b"\r\n\r\n", 1)[0] + b"\r\n"
                shown_type = re.search(rb"(?ims)^content-type:.*?(?=^\S|\Z)", shown).group(0)
                header = bodies[uid].split(b"\r\n\r\n", 1)[0] + b"\r\n"
                self.assertIn(shown_type, header)
                wraps += b"_icalgate_" in shown_type
        self.assertTrue(wraps)
        with self.direct_session(BOB) as d:
            d.command(b"DELETE Announced")
            d.check(b"CREATE Announced")
            for uid in rewrites:
                _, tagged = d.append("Announced", bodies[uid])
                self.assertEqual(env.status_of(tagged), b"OK")
        third = self.w.start_gateway(name="announce-oracle", extra_config=config)
        try:
            items = b"RFC822.SIZE BODYSTRUCTURE BODY.PEEK[HEADER] BODY.PEEK[TEXT]<100.700>"
            with self.gateway_session(third) as c, self.direct_session(BOB, "Announced") as d:
                for n, uid in enumerate(rewrites, 1):
                    with self.subTest(uid=uid):
                        got, gt = c.command(b"UID FETCH %d (%s)" % (uid, items))
                        want, wt = d.command(b"UID FETCH %d (%s)" % (n, items))
                        self.assertEqual(env.status_of(gt), env.status_of(wt))
                        self.assertEqual([items_of(r) for r in got], [items_of(r) for r in want])
        finally:
            third.stop()

    def test_announced_invitations_are_decided_from_the_clients_own_answers(self):
        # Opening an announced invitation (Thunderbird: UID FETCH n (UID RFC822.SIZE BODY[]))
        # sends the upstream the client's command and nothing else: the announcement says it is
        # a meeting message and holds its event, so the bytes of its own answer are rewritten as
        # they pass, to the size the sync showed. A download naming other mail too is answered
        # so as well. A partial fetch that does not hold the whole message waits for it to be
        # fetched whole after the command.
        sync = b"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (Subject Message-ID)])"
        gw = self.fresh_gateway("announce-open", "announce_sizes = true")
        first, second, third = [uid for uid, _ in self.entries("rewrite")][:3]
        plain = self.entries("plain")[0][0]
        steps = []
        try:
            with self.gateway_session(gw) as c:
                synced = {uid_of(a): a for a in c.check(sync)}

                def step(command: bytes):
                    before = len(self.gateway_lines(gw))
                    untagged = c.check(command)
                    steps.append(self.gateway_lines(gw)[before:])
                    return untagged

                opened = step(b"UID FETCH %d (UID RFC822.SIZE BODY.PEEK[])" % first)
                several = step(b"UID FETCH %d,%d (UID BODY.PEEK[])" % (plain, second))
                head = step(b"UID FETCH %d (UID BODY.PEEK[]<0.100>)" % third)
                whole = step(b"UID FETCH %d (UID BODY.PEEK[])" % third)
                again = fetch_literals(c, b"UID FETCH %d,%d (UID BODY.PEEK[])" % (first, second))
        finally:
            gw.stop()
        with self.direct_session() as d:
            direct = fetch_literals(d, b"UID FETCH %d (UID BODY.PEEK[])" % plain)

        def literal(answer: bytes) -> bytes:
            m = re.search(rb"\{(\d+)\}\r\n", answer)
            return answer[m.end(): m.end() + int(m.group(1))]

        bodies = {uid_of(a): literal(a) for a in opened + several + whole}
        for uid in (first, second, third):
            size = int(re.search(rb"RFC822\.SIZE (\d+)", synced[uid]).group(1))
            self.assertEqual(len(bodies[uid]), size, uid)
            self.assertTrue(calendar_parts(bodies[uid]), uid)
        self.assertIn(b"RFC822.SIZE %d" % len(bodies[first]), opened[0])
        self.assertEqual(bodies[plain], direct[plain])
        self.assertEqual(again, {first: bodies[first], second: bodies[second]})
        self.assertEqual(literal(head[0]), bodies[third][:100])
        # The client's command alone, as asked (a streamed line: not the gateway's own).
        for lines in steps[:2]:
            self.assertEqual(len(lines), 1, steps)
            self.assertIn(" streamed=T", lines[0])
        # The partial answer waited for one whole fetch; the download after it was answered
        # from the store, the upstream asked for the UID only.
        self.assertEqual(len(steps[2]), 2, steps)
        self.assertIn(" streamed=T", steps[2][0])
        self.assertIn("icalgate.", steps[2][1])
        self.assertIn(f"UID FETCH {third} (UID BODY.PEEK[])", steps[2][1])
        self.assertEqual(len(steps[3]), 1, steps)
        self.assertRegex(steps[3][0], rf'line="T\d+ UID FETCH {third} \(UID\)"')

    def test_restart_serves_the_same_bytes_without_graph(self):
        state = Path(tempfile.mkdtemp(prefix="state-", dir=self.w.root)) / "rewrite.db"
        first = self.w.start_gateway(name="before-restart", extra_config=rewrite_config(state))
        with self.gateway_session(first) as c:
            before = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
            sizes = c.check(b"UID FETCH 1:* (UID RFC822.SIZE BODYSTRUCTURE)")
        self.assertEqual(first.stop(), 0)
        # Graph now fails every request: only the store can give the same answers.
        GRAPH.set_faults([{"status": 503}])
        try:
            second = self.w.start_gateway(name="after-restart", extra_config=rewrite_config(state))
            with self.gateway_session(second) as c:
                after = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
                self.assertEqual(c.check(b"UID FETCH 1:* (UID RFC822.SIZE BODYSTRUCTURE)"), sizes)
            self.assertEqual(after, before)
            self.assertNotIn("outcome=original", second.log_text())
            second.stop()
        finally:
            GRAPH.set_faults([])

    def test_graph_failures_deliver_originals_that_stay(self):
        invitations = [(FIXTURES / m["file"]).read_bytes() for _, m in self.entries("rewrite")][:5]
        with self.direct_session() as d:
            d.command(b"DELETE Failures")
            d.check(b"CREATE Failures")
            seed_with_dates(d, "Failures", invitations)
        gw = self.fresh_gateway("failures", request_timeout="1s", overall_timeout="3s")
        users = "/v1.0/users/"
        try:
            with self.direct_session(mailbox="Failures") as d:
                originals = fetch_literals(d, b"UID FETCH 1:* (UID BODY.PEEK[])")
            cases = [
                (1, [{"path_prefix": users, "method": "GET", "status": 503}], "graph unavailable"),
                (2, [{"path_prefix": users, "method": "GET", "status": 429, "retry_after": 1}], "graph throttled"),
                (3, [{"path_prefix": users, "method": "GET", "delay_ms": 5000}], "graph timeout"),
                (4, [{"path_prefix": users, "method": "GET", "status": 404}], "graph not_found"),
            ]
            with self.gateway_session(gw, "Failures") as c:
                for uid, rules, reason in cases:
                    with self.subTest(reason=reason):
                        GRAPH.set_faults(rules)
                        got = fetch_literals(c, b"UID FETCH %d (UID BODY.PEEK[])" % uid)
                        self.assertEqual(got[uid], originals[uid])
                        self.assertIn(f"uid={uid} outcome=original reason=\"{reason}\"", gw.log_text())
                GRAPH.set_faults([])
                # The delayed requests (the gateway retried) end in the simulator's log only
                # now: let them, so that later tests that read that log do not see them.
                env.wait_until(lambda: graph_in_flight() == 0, 15, what="the delayed Graph requests to end")
                # Graph is back: uid 5 (never shown) is rewritten, 1-4 stay as first shown.
                again = fetch_literals(c, b"UID FETCH 1:5 (UID BODY.PEEK[])")
            for uid in (1, 2, 3, 4):
                self.assertEqual(again[uid], originals[uid])
            self.assertEqual(len(calendar_parts(again[5])), 1)
            # ... and in a later session too.
            with self.gateway_session(gw, "Failures") as c:
                later = fetch_literals(c, b"UID FETCH 1:5 (UID BODY.PEEK[])")
            self.assertEqual(later, again)
        finally:
            GRAPH.set_faults([])
            gw.stop()
        # The exit totals count each reason once: the originals shown again were not decided anew.
        self.assertEqual(original_reasons(gw.log_text()),
                         {"graph unavailable": 1, "graph throttled": 1, "graph timeout": 1,
                          "graph not_found": 1})

    def test_no_event_and_not_found_deliver_originals_that_stay(self):
        # Without the listing every invitation is looked up by Message-ID: Graph answering 404,
        # or an empty collection (no message with that Message-ID), delivers the original, and
        # it stays the original once Graph can answer. The invitation shown last is the control.
        invitations = [(FIXTURES / m["file"]).read_bytes() for _, m in self.entries("rewrite")][:2]
        entry = self.entries("rewrite")[2][1]
        new_id = f"<noevent-{time.time_ns()}@AM0PR04MB6771.eurprd04.prod.outlook.com>"
        unknown = (FIXTURES / entry["file"]).read_bytes().replace(entry["message_id"].encode(), new_id.encode())
        graph_doc = (FIXTURES / entry["graph_file"]).read_text().replace(entry["message_id"], new_id)
        self.assertIn(new_id, graph_doc)
        graph_file = FIXTURES / "graph" / "users" / ALICE / "messages" / "zz-noevent.json"  # written later
        with self.direct_session() as d:
            d.command(b"DELETE NoEvent")
            d.check(b"CREATE NoEvent")
            seed_with_dates(d, "NoEvent", [invitations[0], unknown, invitations[1]])
        with self.direct_session(mailbox="NoEvent") as d:
            originals = fetch_literals(d, b"UID FETCH 1:* (UID BODY.PEEK[])")
        gw = self.fresh_gateway("noevent", listing=False, request_timeout="1s", overall_timeout="3s")
        try:
            with self.gateway_session(gw, "NoEvent") as c:
                GRAPH.set_faults([{"path_prefix": "/v1.0/users/", "method": "GET", "status": 404}])
                first = fetch_literals(c, b"UID FETCH 1 (UID BODY.PEEK[])")
                GRAPH.set_faults([])
                first.update(fetch_literals(c, b"UID FETCH 2:3 (UID BODY.PEEK[])"))
            self.assertEqual(first[1], originals[1])
            self.assertEqual(first[2], originals[2])
            self.assertEqual(len(calendar_parts(first[3])), 1)
            log = gw.log_text()
            self.assertIn('uid=1 outcome=original reason="graph not_found"', log)
            self.assertIn('uid=2 outcome=original reason="no event in Graph"', log)
            # Graph now has the event of uid 2: both stay the originals, in a new session.
            graph_file.write_text(graph_doc)
            with self.gateway_session(gw, "NoEvent") as c:
                again = fetch_literals(c, b"UID FETCH 1:3 (UID BODY.PEEK[])")
            self.assertEqual(again, first)
        finally:
            GRAPH.set_faults([])
            gw.stop()
            graph_file.unlink(missing_ok=True)
            with self.direct_session() as d:
                d.command(b"DELETE NoEvent")
        self.assertEqual(original_reasons(gw.log_text()), {"graph not_found": 1, "no event in Graph": 1})


    def test_copies_keep_what_the_client_was_shown(self):
        # A COPY or MOVE tells the client its messages' new UIDs (COPYUID), and Thunderbird
        # copies its cached message to the new UID without fetching it. Each copy keeps its
        # source's decision, whatever Graph answers by the time someone fetches the copy.
        invitations = [(FIXTURES / m["file"]).read_bytes() for _, m in self.entries("rewrite")][:2]
        ordinary = (FIXTURES / self.entries("plain")[0][1]["file"]).read_bytes()
        destinations = ("Copy Dest", "MoveDest")
        with self.direct_session() as d:
            for name in ("CopySource",) + destinations:
                d.command(b"DELETE " + env.quote(name))
                d.check(b"CREATE " + env.quote(name))
            seed_with_dates(d, "CopySource", invitations + [ordinary])
        with self.direct_session(mailbox="CopySource") as d:
            originals = fetch_literals(d, b"UID FETCH 1:* (UID BODY.PEEK[])")
        gw = self.fresh_gateway("copies", request_timeout="1s", overall_timeout="2s")
        graph_down = [{"path_prefix": "/v1.0/users/", "method": "GET", "status": 503}]
        try:
            with self.gateway_session(gw, "CopySource") as c:
                c.check(b"SELECT CopySource")
                GRAPH.set_faults(graph_down)
                shown = fetch_literals(c, b"UID FETCH 2 (UID BODY.PEEK[])")  # the original
                GRAPH.set_faults([])
                shown.update(fetch_literals(c, b"UID FETCH 1,3 (UID BODY.PEEK[])"))
                self.assertEqual(len(calendar_parts(shown[1])), 1)
                self.assertEqual(shown[2], originals[2])
                self.assertEqual(shown[3], originals[3])
                _, tagged = c.command(b'UID COPY 1:3 "Copy Dest"')
                copy_uids = re.search(rb"\[COPYUID \d+ 1:3 (\d+):\d+\]", tagged)
                self.assertIsNotNone(copy_uids, tagged)
                untagged = c.check(b"UID MOVE 1:3 MoveDest")
                move_uids = re.search(rb"\[COPYUID \d+ 1:3 (\d+):\d+\]", b"".join(untagged))
                self.assertIsNotNone(move_uids, untagged)
            graph_before = len(GRAPH.log_text())
            for name, first in zip(destinations, (copy_uids, move_uids)):
                new = {old: int(first.group(1)) + old - 1 for old in (1, 2, 3)}
                with self.subTest(mailbox=name), self.gateway_session(gw, name) as c:
                    # Graph is up: the original shown of uid 2 stays the original.
                    got = fetch_literals(c, b"UID FETCH %d (UID BODY.PEEK[])" % new[2])
                    self.assertEqual(got[new[2]], shown[2])
                    # Graph is down: the rewritten uid 1 stays rewritten, byte for byte.
                    GRAPH.set_faults(graph_down)
                    got = fetch_literals(c, b"UID FETCH %d:%d (UID BODY.PEEK[])" % (new[1], new[3]))
                    self.assertEqual(got, {new[old]: shown[old] for old in (1, 2, 3)})
                    sizes = c.check(b"UID FETCH %d:%d (UID RFC822.SIZE)" % (new[1], new[3]))
                    self.assertEqual(sizes_of(sizes), sorted(len(b) for b in shown.values()))
                    GRAPH.set_faults([])
            # Nothing about the copies was asked of Graph or decided anew.
            self.assertEqual(GRAPH.log_text()[graph_before:], "")
            decided = [line for line in gw.log_text().splitlines() if "outcome=" in line]
            self.assertFalse([line for line in decided if "Dest" in line], decided)
            # A header sync of the destination (Graph's listing names both invitations) agrees.
            for name in destinations:
                with self.gateway_session(gw, name) as c:
                    sync = c.check(b"UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Message-ID)])")
                self.assertEqual(sizes_of(sync), sorted(len(b) for b in shown.values()))
        finally:
            GRAPH.set_faults([])
            gw.stop()
            with self.direct_session() as d:
                for name in ("CopySource",) + destinations:
                    d.command(b"DELETE " + env.quote(name))


    def test_copies_extend_the_destinations_decided_range(self):
        # Copies that land right after a folder's decided range (a folder that receives mail
        # by COPY or MOVE: Deleted Items, archives) extend it: a sync of that folder asks the
        # upstream about none of them again.
        with self.direct_session() as d:
            d.command(b"DELETE CopyRange")
            d.check(b"CREATE CopyRange")
        sync = b"UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])"
        gw = self.fresh_gateway("copy-range", listing=False)
        try:
            with self.gateway_session(gw) as c:
                c.check(b"SELECT INBOX")
                inbox = c.check(sync)
                c.check(b'UID COPY 1:%d "CopyRange"' % len(MANIFEST))
            before = len(self.gateway_lines(gw))
            with self.gateway_session(gw, "CopyRange") as c:
                copied = c.check(sync)
            lines = self.gateway_lines(gw)[before:]
        finally:
            gw.stop()
            with self.direct_session() as d:
                d.command(b"DELETE CopyRange")
        self.assertEqual(sizes_of(copied), sizes_of(inbox))
        # Only the tail past the copies is asked about (UID n:* names the newest message).
        self.assertFalse([p for p in lines if "BODYSTRUCTURE" in p and f"{len(MANIFEST) + 1}:*" not in p], lines)
        self.assertFalse([p for p in lines if "BODY.PEEK[])" in p], lines)

    def test_mailbox_names_sent_as_literals_are_followed(self):
        # A client may send any mailbox name as a literal: the session still sees what every
        # other session sees, and a copy made so keeps its source's decision.
        uid = self.entries("rewrite")[0][0]
        gw = self.fresh_gateway("literal-names")
        graph_down = [{"path_prefix": "/v1.0/users/", "method": "GET", "status": 503}]

        def literal_command(conn: env.Imap, tag: bytes, head: bytes, name: bytes) -> bytes:
            conn.send(tag + b" " + head + b" {%d}\r\n" % len(name))
            self.assertTrue(conn.read_response().startswith(b"+"))
            conn.send(name + b"\r\n")
            _, tagged = conn.collect(tag)
            self.assertEqual(env.status_of(tagged), b"OK", tagged)
            return tagged

        with self.direct_session() as d:
            d.command(b"DELETE LitDest")
            d.check(b"CREATE LitDest")
        try:
            with env.Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"]) as c:
                c.login(ALICE, env.USERS[ALICE])
                literal_command(c, b"L1", b"SELECT", b"INBOX")
                shown = fetch_literals(c, b"UID FETCH %d (UID BODY.PEEK[])" % uid)[uid]
                self.assertEqual(len(calendar_parts(shown)), 1)
                copied = literal_command(c, b"L2", b"UID COPY %d" % uid, b"LitDest")
                new_uid = int(re.search(rb"\[COPYUID \d+ \d+ (\d+)\]", copied).group(1))
            with self.gateway_session(gw) as c:
                self.assertEqual(fetch_literals(c, b"UID FETCH %d (UID BODY.PEEK[])" % uid)[uid], shown)
            GRAPH.set_faults(graph_down)
            with self.gateway_session(gw, "LitDest") as c:
                self.assertEqual(fetch_literals(c, b"UID FETCH %d (UID BODY.PEEK[])" % new_uid)[new_uid], shown)
        finally:
            GRAPH.set_faults([])
            gw.stop()
            with self.direct_session() as d:
                d.command(b"DELETE LitDest")


    def test_fetch_naming_header_fields_as_literals(self):
        # Header field names may come as literals: such a FETCH is decided like any other.
        uid = self.entries("rewrite")[0][0]
        gw = self.fresh_gateway("literal-fields")
        items = b"(RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Content-Type Subject)])"
        try:
            with self.gateway_session(gw) as c:
                c.send(b"L1 UID FETCH %d (RFC822.SIZE BODY.PEEK[HEADER.FIELDS ({12}\r\n" % uid)
                self.assertTrue(c.read_response().startswith(b"+ "))
                c.send(b"Content-Type {7+}\r\nSubject)])\r\n")
                untagged, tagged = c.collect(b"L1")
                self.assertEqual(env.status_of(tagged), b"OK", tagged)
                self.assertIn(b"multipart/", untagged[0])
                # The same answer as for quoted names, and the size of the rewritten message.
                self.assertEqual(untagged, c.check(b"UID FETCH %d %s" % (uid, items)))
                whole = fetch_literals(c, b"UID FETCH %d (UID BODY.PEEK[])" % uid)[uid]
                self.assertIn(b"RFC822.SIZE %d " % len(whole), untagged[0])
                # A literal that no header field name can be is refused, and the session goes on.
                _, tagged = c.command(b"UID FETCH %d BODY.PEEK[HEADER.FIELDS ({2+}\r\n\xc3\xa9)]" % uid)
                self.assertEqual(env.status_of(tagged), b"BAD", tagged)
                # Nor can one of 5000 bytes: refused instead of "+", so the client sends no more.
                c.send(b"L2 UID FETCH %d BODY.PEEK[HEADER.FIELDS ({5000}\r\n" % uid)
                self.assertTrue(c.read_response().startswith(b"L2 BAD "))
                self.assertEqual(c.check(b"UID FETCH %d %s" % (uid, items)), untagged)
        finally:
            gw.stop()

class SettingsTest(RewriteBase):
    def originals(self) -> dict[int, bytes]:
        with self.direct_session() as d:
            return fetch_literals(d, b"UID FETCH 1:* (UID BODY.PEEK[])")

    def test_dry_run_classifies_and_delivers_originals(self):
        gw = self.fresh_gateway("dryrun", "dry_run = true")
        try:
            with self.gateway_session(gw) as c:
                got = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
            self.assertEqual(got, self.originals())
            log = gw.log_text()
            for uid, entry in self.entries("rewrite"):
                self.assertIn(f'uid={uid} outcome=original reason="dry run"', log)
            self.assertNotIn("outcome=rewritten", log)
        finally:
            gw.stop()

    def test_upn_mapping_names_the_graph_user(self):
        # bob's IMAP login is not a UPN Graph knows: [graph.upn] maps it to alice's mailbox in
        # Graph, whose events rewrite bob's copies of her invitations. Without the mapping
        # Graph is asked about bob, and the originals go through with a logged reason.
        invitations = [(FIXTURES / m["file"]).read_bytes() for _, m in self.entries("rewrite")][:2]
        with self.direct_session(BOB) as d:
            d.command(b"DELETE Mapped")
            d.check(b"CREATE Mapped")
            seed_with_dates(d, "Mapped", invitations)
        with self.direct_session(BOB, "Mapped") as d:
            originals = fetch_literals(d, b"UID FETCH 1:* (UID BODY.PEEK[])")
        got, logs = {}, {}
        try:
            for name, mapping in (("mapped", f'\n[graph.upn]\n"{BOB}" = "{ALICE}"\n'), ("unmapped", "")):
                gw = self.fresh_gateway(f"upn-{name}", mapping)
                graph_before = len(GRAPH.log_text())
                try:
                    with env.Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"]) as c:
                        c.login(BOB, env.USERS[BOB])
                        c.check(b"EXAMINE Mapped")
                        got[name] = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
                finally:
                    gw.stop()
                logs[name] = (gw.log_text(), GRAPH.log_text()[graph_before:])
        finally:
            with self.direct_session(BOB) as d:
                d.command(b"DELETE Mapped")
        self.assertEqual(sorted(got["mapped"]), [1, 2])
        for uid in (1, 2):
            self.assertEqual(len(calendar_parts(got["mapped"][uid])), 1, uid)
            self.assertEqual(got["unmapped"][uid], originals[uid])
            self.assertIn(f'uid={uid} outcome=original reason="graph not_found"', logs["unmapped"][0])
        self.assertIn(f"/v1.0/users/{ALICE}/", logs["mapped"][1])
        self.assertNotIn(f"/v1.0/users/{BOB}/", logs["mapped"][1])
        self.assertIn(f"/v1.0/users/{BOB}/", logs["unmapped"][1])
        self.assertNotIn("outcome=original", logs["mapped"][0])

    def test_accounts_limit_who_is_rewritten(self):
        gw = self.fresh_gateway("accounts", 'accounts = ["@fabrikam.com"]')
        try:
            with self.gateway_session(gw) as c:
                got = fetch_literals(c, b"UID FETCH 1:* (UID BODY.PEEK[])")
            self.assertEqual(got, self.originals())
            self.assertNotIn(" G session=", gw.log_text())  # nothing held, nothing probed
        finally:
            gw.stop()


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
