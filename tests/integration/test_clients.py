#!/usr/bin/env python3
"""Real IMAP clients through icalgate: curl, Python imaplib, mbsync, fetchmail, offlineimap3.

    python3 tests/integration/test_clients.py --icalgate build/dev/bin/icalgate
    python3 tests/integration/test_clients.py --direct     # the same clients against Dovecot

Each client works through the gateway's implicit-TLS listener and its STARTTLS listener,
verifying the gateway's certificate against the development CA, and what it got is compared
with what Dovecot holds (read directly, not through the gateway). The tools come from Debian
packages (curl, isync, fetchmail, offlineimap3) that `./run deps` installs; a missing tool is
a failure, not a skip.
"""

from __future__ import annotations

import argparse
import imaplib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import env  # noqa: E402

ICALGATE: str | None = None
UPSTREAM_TLS = "implicit"  # how the gateway reaches Dovecot: implicit | starttls
WORLD: env.World | None = None
ALICE = "alice@contoso.com"  # read-only: the corpus
BOB = "bob@contoso.com"  # clients that write use bob
TOOL_TIMEOUT = 120


def setUpModule():
    global WORLD
    WORLD = env.World(icalgate=ICALGATE, upstream_tls=UPSTREAM_TLS)
    WORLD.start()


def tearDownModule():
    if WORLD is not None:
        WORLD.stop_and_assert()


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} is not installed (./run deps installs it)")
    return path


def run(args: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    # stdin closed: a tool that would prompt for anything fails instead of hanging.
    try:
        return subprocess.run(args, stdin=subprocess.DEVNULL, timeout=kw.pop("timeout", TOOL_TIMEOUT), **kw)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + b"\n" + (e.stderr or b"")
        raise AssertionError(f"{args[0]} timed out after {e.timeout}s:\n{out.decode(errors='replace')[-3000:]}") from None


def normalize(msg: bytes) -> bytes:
    """Line endings as LF, no trailing blank lines: what a local Maildir or MDA may keep."""
    return msg.replace(b"\r\n", b"\n").rstrip(b"\n")


_TUID = re.compile(rb"(?m)^X-TUID: [^\r\n]*\r?\n")


def without_tuid(msg: bytes) -> bytes:
    """mbsync marks each message it transfers with a random X-TUID header field."""
    return _TUID.sub(b"", msg, count=1)


class ClientBase(unittest.TestCase):
    maxDiff = 2000

    @property
    def w(self) -> env.World:
        assert WORLD is not None
        return WORLD

    def tmpdir(self) -> Path:
        d = Path(tempfile.mkdtemp(prefix="icalgate-client-", dir=self.w.root))
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def upstream_messages(self, user: str) -> dict[int, bytes]:
        """{uid: BODY[]} of the user's INBOX, read from Dovecot directly."""
        with self.w.connect_upstream_imaps() as c:
            c.login(user, env.USERS[user])
            c.check(b"EXAMINE INBOX")
            untagged, tagged = c.command(b"UID FETCH 1:* (UID BODY.PEEK[])")
            self.assertEqual(env.status_of(tagged), b"OK")
            out = {}
            for resp in untagged:
                m = re.match(rb"\* \d+ FETCH \(UID (\d+) BODY\[\] \{(\d+)\}\r\n", resp)
                self.assertIsNotNone(m, resp[:100])
                out[int(m.group(1))] = resp[m.end() : m.end() + int(m.group(2))]
            c.logout()
            return out

    def upstream_flags(self, user: str, uid: int) -> bytes:
        with self.w.connect_upstream_imaps() as c:
            c.login(user, env.USERS[user])
            c.check(b"EXAMINE INBOX")
            untagged = c.check(b"UID FETCH %d (FLAGS)" % uid)
            c.logout()
            return b"".join(untagged)

    def ports(self) -> list[tuple[str, int]]:
        return [("imaps", self.w.imaps_port), ("starttls", self.w.imap_port)]

    def urls(self, path: str) -> list[str]:
        """The URL for path on each listener: imaps://, and imap:// that curl's --ssl-reqd
        takes through STARTTLS."""
        return [f"imaps://127.0.0.1:{self.w.imaps_port}/{path}", f"imap://127.0.0.1:{self.w.imap_port}/{path}"]


# =============================================================================== curl


class CurlTest(ClientBase):
    def curl(self, url: str, user: str, *extra: str) -> bytes:
        r = run(
            [tool("curl"), "--silent", "--show-error", "--ssl-reqd", "--cacert", str(self.w.certs["ca"]),
             "--max-time", "60", "--user", f"{user}:{env.USERS[user]}", *extra, url]
        )
        self.assertEqual(r.returncode, 0, f"curl {url} failed: {r.stderr.decode(errors='replace')}")
        return r.stdout

    def test_fetch_by_uid_imaps_and_starttls(self):
        expected = self.upstream_messages(ALICE)
        for scheme, port in (("imaps", self.w.imaps_port), ("imap", self.w.imap_port)):
            for uid in (1, 18, len(expected)):
                got = self.curl(f"{scheme}://127.0.0.1:{port}/INBOX;UID={uid}", ALICE)
                self.assertEqual(got, expected[uid], f"{scheme} UID {uid}")

    def test_sasl_plain_and_login(self):
        expected = self.upstream_messages(ALICE)
        # curl prefers SASL (PLAIN, with SASL-IR) when offered; AUTH=PLAIN insists on it.
        for url in self.urls("INBOX;UID=2"):
            for options in ([], ["--login-options", "AUTH=PLAIN"], ["--sasl-ir", "--login-options", "AUTH=PLAIN"]):
                got = self.curl(url, ALICE, *options)
                self.assertEqual(got, expected[2], (url, options))

    def test_oauth2_bearer(self):
        # curl picks OAUTHBEARER or XOAUTH2 from what is advertised; Dovecot checks the JWT.
        expected = self.upstream_messages(ALICE)
        token = self.w.upstream.oauth2.token(ALICE)
        for url in self.urls("INBOX;UID=3"):
            for options in ([], ["--login-options", "AUTH=XOAUTH2"]):
                r = run([tool("curl"), "--silent", "--show-error", "--ssl-reqd", "--cacert", str(self.w.certs["ca"]),
                         "--max-time", "60", "--user", ALICE, "--oauth2-bearer", token, *options, url])
                self.assertEqual(r.returncode, 0, f"curl {url} {options}: {r.stderr.decode(errors='replace')}")
                self.assertEqual(r.stdout, expected[3], (url, options))

    def test_list_and_examine(self):
        out = self.curl(f"imaps://127.0.0.1:{self.w.imaps_port}/", ALICE)
        self.assertRegex(out, rb'\* LIST \([^)]*\) "[./]" "?INBOX"?')
        out = self.curl(f"imaps://127.0.0.1:{self.w.imaps_port}/INBOX", ALICE, "--request", "EXAMINE INBOX")
        self.assertIn(b"* %d EXISTS" % len(self.w.seed_messages), out)

    def test_wrong_password_fails(self):
        r = run(
            [tool("curl"), "--silent", "--ssl-reqd", "--cacert", str(self.w.certs["ca"]), "--max-time", "60",
             "--user", f"{ALICE}:wrong", f"imaps://127.0.0.1:{self.w.imaps_port}/INBOX;UID=1"]
        )
        self.assertEqual(r.returncode, 67, r.stderr)  # CURLE_LOGIN_DENIED

    def test_untrusted_certificate_rejected(self):
        # Without the development CA, curl must refuse the gateway's certificate.
        r = run([tool("curl"), "--silent", "--max-time", "30", "--user", f"{ALICE}:x",
                 f"imaps://127.0.0.1:{self.w.imaps_port}/"])
        self.assertEqual(r.returncode, 60, r.stderr)  # CURLE_PEER_FAILED_VERIFICATION


# =============================================================================== imaplib


class ImaplibTest(ClientBase):
    def session(self, mode: str) -> imaplib.IMAP4:
        ctx = env.client_tls_context(self.w.certs["ca"])
        if mode == "imaps":
            m = imaplib.IMAP4_SSL("127.0.0.1", self.w.imaps_port, ssl_context=ctx, timeout=60)
        else:
            m = imaplib.IMAP4("127.0.0.1", self.w.imap_port, timeout=60)
            self.assertIn("STARTTLS", m.capabilities)
            m.starttls(ssl_context=ctx)
        self.addCleanup(lambda: m.shutdown() if m.state != "LOGOUT" else None)
        return m

    def test_read_session(self):
        expected = self.upstream_messages(ALICE)
        for mode in ("imaps", "starttls"):
            m = self.session(mode)
            typ, _ = m.login(ALICE, env.USERS[ALICE])
            self.assertEqual(typ, "OK")
            typ, data = m.select("INBOX", readonly=True)
            self.assertEqual((typ, int(data[0])), ("OK", len(expected)))
            typ, data = m.uid("SEARCH", None, "SUBJECT", "Atelier")
            self.assertEqual(typ, "OK")
            found = [int(x) for x in data[0].split()]
            want = [u for u, b in expected.items() if re.search(rb"(?mi)^subject:[^\r\n]*atelier", b.split(b"\r\n\r\n", 1)[0])]
            self.assertTrue(want, "the corpus has no 'Atelier' invitation")
            self.assertEqual(found, want)
            typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[] RFC822.SIZE)")
            self.assertEqual(typ, "OK")
            bodies = {}
            for item in data:
                if isinstance(item, tuple):
                    uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                    size = int(re.search(rb"RFC822.SIZE (\d+)", item[0]).group(1))
                    self.assertEqual(size, len(item[1]))
                    bodies[uid] = item[1]
            self.assertEqual(bodies, expected)
            self.assertEqual(m.logout()[0], "BYE")

    def test_write_session(self):
        for mode in ("imaps", "starttls"):
            m = self.session(mode)
            m.login(BOB, env.USERS[BOB])
            msg = (f"From: imaplib@contoso.com\r\nTo: {BOB}\r\nSubject: via imaplib {mode}\r\n"
                   f"Message-ID: <imaplib-{mode}@contoso.com>\r\n\r\nhello {mode}\r\n").encode()
            typ, data = m.append("INBOX", None, None, msg)
            self.assertEqual(typ, "OK", data)
            uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
            m.select("INBOX")
            typ, data = m.uid("STORE", str(uid), "+FLAGS", r"(\Flagged $Label1)")
            self.assertEqual(typ, "OK", data)
            typ, data = m.uid("FETCH", str(uid), "(FLAGS BODY.PEEK[])")
            self.assertEqual(data[0][1], msg)
            flags = self.upstream_flags(BOB, uid)
            self.assertIn(b"\\Flagged", flags)
            self.assertIn(b"$Label1", flags)
            typ, _ = m.uid("STORE", str(uid), "+FLAGS", r"(\Deleted)")
            self.assertEqual(typ, "OK")
            self.assertEqual(m.expunge()[0], "OK")
            self.assertNotIn(uid, self.upstream_messages(BOB))
            m.logout()

    def on_each_listener(self, body) -> None:
        """body(mode, a fresh imaplib session) on the IMAPS listener, then on the plain one
        after STARTTLS; each in a subTest."""
        for mode in ("imaps", "starttls"):
            with self.subTest(listener=mode):
                body(mode, self.session(mode))

    def raw_tagged(self, m: imaplib.IMAP4, *tags: bytes) -> tuple[list[bytes], dict[bytes, bytes]]:
        """Responses read off imaplib's socket until every tag's tagged line came (in any
        order: a server may run pipelined commands at once); literals read whole."""
        untagged, done = [], {}
        while len(done) < len(tags):
            line = m.readline()
            while lit := re.search(rb"\{(\d+)\}\r\n$", line):
                line += m.read(int(lit.group(1)))
                line += m.readline()
            tag = line.split(b" ", 1)[0]
            if tag in tags:
                done[tag] = line
            else:
                untagged.append(line)
        return untagged, done

    def test_idle_through_imaplib_socket(self):
        # imaplib has no IDLE helper in 3.11; drive it over imaplib's own TLS socket. The EXISTS
        # is caused by another session's APPEND through the gateway.
        def body(mode: str, m: imaplib.IMAP4):
            m.login(BOB, env.USERS[BOB])
            typ, data = m.select("INBOX")
            count = int(data[0])
            tag = m._new_tag()
            m.send(tag + b" IDLE\r\n")
            self.assertTrue(m.readline().startswith(b"+"))
            with self.w.connect_imaps() as other:
                other.login(BOB, env.USERS[BOB])
                _, tagged = other.append("INBOX", b"Subject: pushed %s\r\n\r\nbody\r\n" % mode.encode())
                self.assertEqual(env.status_of(tagged), b"OK")
            m.sock.settimeout(10)
            pushed = m.readline()
            while pushed.startswith(b"* OK "):  # Dovecot's IDLE keepalive, "* OK Still here"
                pushed = m.readline()
            self.assertEqual(pushed, b"* %d EXISTS\r\n" % (count + 1))
            m.send(b"DONE\r\n")
            _, done = self.raw_tagged(m, tag)
            self.assertEqual(env.status_of(done[tag]), b"OK", done)
            m.logout()
        self.on_each_listener(body)

    def assert_authenticated(self, m: imaplib.IMAP4, user: str) -> None:
        """The session is logged in as user: its INBOX is the user's, read directly."""
        typ, data = m.select("INBOX", readonly=True)
        self.assertEqual((typ, int(data[0])), ("OK", len(self.upstream_messages(user))))
        m.logout()

    def authenticate_ir(self, m: imaplib.IMAP4, mechanism: str, payload: bytes) -> str:
        """AUTHENTICATE with the initial response on the command line (SASL-IR)."""
        self.assertIn("SASL-IR", m.capabilities)
        typ, data = m._simple_command("AUTHENTICATE", mechanism, payload.decode())
        if typ == "OK":
            m.state = "AUTH"
        return typ

    def test_authenticate_plain_with_and_without_sasl_ir(self):
        raw = b"\0" + ALICE.encode() + b"\0" + env.USERS[ALICE].encode()

        def body(mode: str, m: imaplib.IMAP4):
            self.assertIn("AUTH=PLAIN", m.capabilities)
            typ, _ = m.authenticate("PLAIN", lambda _: raw)  # a continuation round
            self.assertEqual(typ, "OK")
            self.assert_authenticated(m, ALICE)
            m = self.session(mode)
            self.assertEqual(self.authenticate_ir(m, "PLAIN", env.sasl_plain(ALICE, env.USERS[ALICE])), "OK")
            self.assert_authenticated(m, ALICE)
            m = self.session(mode)  # and a wrong password is refused
            with self.assertRaises(imaplib.IMAP4.error):
                m.authenticate("PLAIN", lambda _: b"\0" + ALICE.encode() + b"\0wrong")
        self.on_each_listener(body)

    def test_authenticate_xoauth2(self):
        token = self.w.upstream.oauth2.token(ALICE)
        raw = b"user=" + ALICE.encode() + b"\x01auth=Bearer " + token.encode() + b"\x01\x01"
        def body(mode: str, m: imaplib.IMAP4):
            self.assertIn("AUTH=XOAUTH2", m.capabilities)
            typ, _ = m.authenticate("XOAUTH2", lambda _: raw)
            self.assertEqual(typ, "OK")
            self.assert_authenticated(m, ALICE)
            m = self.session(mode)
            self.assertEqual(self.authenticate_ir(m, "XOAUTH2", env.xoauth2_payload(ALICE, token)), "OK")
            self.assert_authenticated(m, ALICE)
        self.on_each_listener(body)

    def test_pipelined_commands(self):
        # Five commands in one write; every answer comes back complete (Dovecot itself may
        # complete them out of order).
        expected = self.upstream_messages(ALICE)

        def body(mode: str, m: imaplib.IMAP4):
            m.login(ALICE, env.USERS[ALICE])
            m.select("INBOX", readonly=True)
            tags = [b"P%d" % i for i in range(1, 6)]
            m.send(b"".join(t + b" " + c + b"\r\n" for t, c in zip(tags, (
                b"NOOP", b"UID FETCH 2 (UID BODY.PEEK[])", b"STATUS INBOX (MESSAGES)",
                b"UID SEARCH ALL", b"CHECK"))))
            untagged, done = self.raw_tagged(m, *tags)
            self.assertEqual({t: env.status_of(done[t]) for t in tags}, {t: b"OK" for t in tags}, done)
            self.assertEqual(list(env.fetch_literals(untagged).values()), [expected[2]])
            self.assertIn(b"* STATUS INBOX (MESSAGES %d)\r\n" % len(expected), untagged)
            self.assertIn(b"* SEARCH " + b" ".join(b"%d" % u for u in sorted(expected)) + b"\r\n", untagged)
            m.logout()
        self.on_each_listener(body)

    def test_literal_both_ways(self):
        # A synchronizing literal from the client (a SEARCH argument, sent after the
        # continuation) and literals from the server (the bodies it fetches).
        expected = self.upstream_messages(ALICE)
        want = [u for u, b in expected.items() if re.search(rb"(?mi)^subject:[^\r\n]*atelier", b.split(b"\r\n\r\n", 1)[0])]
        self.assertTrue(want, "the corpus has no 'Atelier' invitation")
        def body(mode: str, m: imaplib.IMAP4):
            m.login(ALICE, env.USERS[ALICE])
            m.select("INBOX", readonly=True)
            m.literal = b"Atelier"
            typ, data = m.uid("SEARCH", "CHARSET", "UTF-8", "SUBJECT")
            self.assertEqual((typ, [int(x) for x in data[0].split()]), ("OK", want))
            typ, data = m.uid("FETCH", ",".join(map(str, want)), "(BODY.PEEK[])")
            got = {int(re.search(rb"UID (\d+)", i[0]).group(1)): i[1] for i in data if isinstance(i, tuple)}
            self.assertEqual(got, {u: expected[u] for u in want})
            m.logout()
        self.on_each_listener(body)

    def test_multi_megabyte_append_and_fetch(self):
        # 6 MiB up in one literal and back down in one: streamed both ways, byte for byte.
        def session(mode: str, m: imaplib.IMAP4):
            m.login(BOB, env.USERS[BOB])
            body = b"".join(b"%07d %s %s\r\n" % (i, mode.encode(), b"y" * 80) for i in range(70000))
            msg = f"From: big@contoso.com\r\nSubject: big via {mode}\r\n\r\n".encode() + body
            self.assertGreater(len(msg), 6 << 20)
            typ, data = m.append("INBOX", None, None, msg)
            self.assertEqual(typ, "OK", data)
            uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
            self.assertEqual(self.upstream_messages(BOB)[uid], msg)
            m.select("INBOX")
            typ, data = m.uid("FETCH", str(uid), "(BODY.PEEK[])")
            self.assertEqual(data[0][1], msg)
            m.uid("STORE", str(uid), "+FLAGS", r"(\Deleted)")
            m.expunge()
            m.logout()
        self.on_each_listener(session)


# =============================================================================== mbsync


class MbsyncTest(ClientBase):
    def config(self, root: Path, port: int, ssl_type: str, user: str) -> Path:
        pwfile = root / "password"
        pwfile.write_text(env.USERS[user])
        (root / "mail").mkdir(exist_ok=True)
        conf = root / "mbsyncrc"
        conf.write_text(
            f"""IMAPAccount acct
Host localhost
Port {port}
User {user}
PassCmd "cat {pwfile}"
SSLType {ssl_type}
CertificateFile {self.w.certs['ca']}
Timeout 60

IMAPStore remote
Account acct

MaildirStore local
Path {root}/mail/
Inbox {root}/mail/INBOX
SubFolders Verbatim

Channel ch
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync All
Expunge None
SyncState *
"""
        )
        return conf

    def sync(self, conf: Path) -> None:
        r = run([tool("mbsync"), "-c", str(conf), "-a"])
        self.assertEqual(r.returncode, 0, f"mbsync failed:\n{r.stdout.decode(errors='replace')}\n{r.stderr.decode(errors='replace')}")

    @staticmethod
    def maildir(root: Path) -> dict[str, tuple[bytes, str]]:
        """{Message-ID or content: (content, flags)} of every message in the local INBOX."""
        out = {}
        for sub in ("cur", "new"):
            d = root / "mail" / "INBOX" / sub
            for f in sorted(d.iterdir()) if d.is_dir() else []:
                data = without_tuid(f.read_bytes())
                flags = f.name.split(":2,", 1)[1] if ":2," in f.name else ""
                out[data.decode("latin-1")] = (data, flags)
        return out

    def test_pull_matches_direct_sync(self):
        # mbsync itself skips a malformed corpus message or so: the reference is mbsync's own
        # sync from Dovecot directly, and the Exchange messages must arrive intact.
        direct = self.tmpdir()
        self.sync(self.config(direct, self.w.upstream.imaps_port, "IMAPS", ALICE))
        want = self.maildir(direct)
        self.assertGreaterEqual(len(want), len(self.w.seed_messages) - 5)
        contents = {normalize(v[0]) for v in want.values()}
        for name, data in env.exchange_messages():
            self.assertTrue(normalize(data) in contents, f"{name} not synced intact")
        for mode, port in (("IMAPS", self.w.imaps_port), ("STARTTLS", self.w.imap_port)):
            t = self.tmpdir()
            self.sync(self.config(t, port, mode, ALICE))
            got = self.maildir(t)
            self.assertEqual(len(got), len(want), mode)
            self.assertEqual(sorted(got), sorted(want), f"{mode}: the Maildir differs from a direct sync")
            self.assertEqual(sorted(v[1] for v in got.values()), sorted(v[1] for v in want.values()))

    def test_two_way_sync_imaps(self):
        self.two_way_sync("IMAPS", self.w.imaps_port)

    def test_two_way_sync_starttls(self):
        self.two_way_sync("STARTTLS", self.w.imap_port)

    def two_way_sync(self, ssl_type: str, port: int):
        root = self.tmpdir()
        conf = self.config(root, port, ssl_type, BOB)
        ident = ssl_type.lower().encode()
        with self.w.connect_upstream_imaps() as c:  # no flag left by another run
            c.login(BOB, env.USERS[BOB])
            c.select("INBOX")
            c.check(b"UID STORE 1:* -FLAGS.SILENT (\\Flagged)")
            c.logout()
        self.sync(conf)
        before = self.upstream_messages(BOB)
        # A new local message goes up, a local flag goes up.
        new_msg = (b"From: mbsync@contoso.com\r\nSubject: written locally\r\nMessage-ID: <mbsync-local-%s@contoso.com>"
                   b"\r\n\r\nfrom the Maildir\r\n" % ident)
        (root / "mail" / "INBOX" / "new" / "1700000000.local.host").write_bytes(new_msg)
        inbox = root / "mail" / "INBOX"
        marker = b"Message-ID: <AAA1@DB9PR02MB7001.eurprd02.prod.outlook.com>"  # 18-exchange-owa-html
        first = next(p for p in list((inbox / "cur").iterdir()) + list((inbox / "new").iterdir()) if marker in p.read_bytes())
        flagged_body = without_tuid(first.read_bytes())
        base = first.name.split(":2,", 1)[0]
        first.rename(inbox / "cur" / (base + ":2,F"))
        self.sync(conf)
        after = self.upstream_messages(BOB)
        added = [uid for uid in after if uid not in before]
        self.assertEqual([without_tuid(after[u]) for u in added], [new_msg])
        flagged_uid = next(uid for uid, body in after.items() if normalize(body) == normalize(flagged_body))
        self.assertIn(b"\\Flagged", self.upstream_flags(BOB, flagged_uid))
        # And a change made upstream comes down.
        with self.w.connect_upstream_imaps() as c:
            c.login(BOB, env.USERS[BOB])
            c.append("INBOX", b"Subject: written upstream\r\nMessage-ID: <mbsync-up-%s@contoso.com>\r\n\r\nx\r\n" % ident)
        self.assertFalse(any(b"<mbsync-up-%s@contoso.com>" % ident in v[0] for v in self.maildir(root).values()))
        self.sync(conf)
        self.assertTrue(any(b"<mbsync-up-%s@contoso.com>" % ident in v[0] for v in self.maildir(root).values()))


# =============================================================================== fetchmail


class FetchmailTest(ClientBase):
    def fetch(self, port: int, implicit: bool) -> list[bytes]:
        root = self.tmpdir()
        out = root / "delivered"
        out.mkdir()
        mda = root / "mda.sh"
        mda.write_text(f'#!/bin/sh\nexec cat > "$(mktemp -p {out} msg.XXXXXXXX)"\n')
        mda.chmod(0o755)
        rc = root / "fetchmailrc"
        pw = env.USERS[ALICE].replace("\\", "\\\\").replace('"', '\\"')
        tls = f'ssl sslcertck sslcertfile "{self.w.certs["ca"]}"' if implicit else \
            f'sslproto "tls1.2+" sslcertck sslcertfile "{self.w.certs["ca"]}"'
        rc.write_text(
            f'set no syslog\nset no bouncemail\n'
            f'poll 127.0.0.1 service {port} protocol IMAP auth password timeout 60\n'
            f'  user "{ALICE}" there with password "{pw}" is "root" here\n'
            f'  {tls} sslcommonname "localhost"\n  keep fetchall no rewrite folder INBOX\n  mda "{mda}"\n'
        )
        rc.chmod(0o600)
        r = run([tool("fetchmail"), "-f", str(rc), "--idfile", str(root / "ids"), "--pidfile", str(root / "pid"),
                 "--nodetach", "--nosyslog"], env=dict(os.environ, HOME=str(root), FETCHMAILHOME=str(root)))
        # 0: mail delivered; anything else is a failure.
        self.assertEqual(r.returncode, 0, f"fetchmail failed ({r.returncode}):\n{r.stdout.decode(errors='replace')}\n{r.stderr.decode(errors='replace')}")
        return [p.read_bytes() for p in sorted(out.iterdir())]

    def test_fetchall_keep(self):
        # fetchmail drops or reshapes a few malformed corpus messages by itself; what it
        # delivers through the gateway must be what it delivers from Dovecot directly.
        # fetchmail adds its own Received: field (time-stamped) among the headers.
        own = re.compile(rb"(?m)^Received: from (?:127\.0\.0\.1|localhost)\b[^\n]*\n(?:[ \t][^\n]*\n)*")
        strip = lambda m: normalize(own.sub(b"", m, count=1))
        direct = sorted(strip(m) for m in self.fetch(self.w.upstream.imaps_port, True))
        truth = {normalize(m) for m in self.upstream_messages(ALICE).values()}
        self.assertGreaterEqual(len(direct), len(truth) - 5)
        for name, data in env.exchange_messages():
            self.assertTrue(normalize(data) in direct, f"{name} not delivered intact")
        for implicit, port in ((True, self.w.imaps_port), (False, self.w.imap_port)):
            delivered = sorted(strip(m) for m in self.fetch(port, implicit))
            self.assertEqual(len(delivered), len(direct))
            self.assertEqual(delivered, direct, "STARTTLS" if not implicit else "IMAPS")
        # keep: nothing was deleted upstream.
        self.assertEqual(len(self.upstream_messages(ALICE)), len(self.w.seed_messages))


# =============================================================================== offlineimap3


class OfflineimapTest(ClientBase):
    def test_sync(self):
        # offlineimap reshapes a few malformed corpus messages by itself (a header block that
        # starts with a continuation line, ...): compare with what it makes of Dovecot directly.
        expected = self.offlineimap("imaps", self.w.upstream.imaps_port)
        self.assertGreaterEqual(len(expected), len(self.w.seed_messages) - 5)
        for name, data in env.exchange_messages():
            self.assertTrue(normalize(data) in expected, f"{name} not synced intact")
        # IMAPS only: offlineimap3's imaplib2 hangs now and then right after STARTTLS (its
        # reader thread races the TLS wrap; seen against Dovecot directly, 1 run in 15).
        self.assertEqual(self.offlineimap("imaps", self.w.imaps_port), expected)

    def offlineimap(self, mode: str, port: int) -> list[bytes]:
        root = self.tmpdir()
        conf = root / "offlineimaprc"
        conf.write_text(env.offlineimap_config(root, port, ALICE, env.USERS[ALICE], self.w.certs["ca"], mode))
        r = run([tool("offlineimap"), "-c", str(conf), "-o", "-u", "basic"], env=dict(os.environ, HOME=str(root)), timeout=60)
        log = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 0, f"offlineimap failed ({mode}):\n{log[-3000:]}")
        self.assertNotIn("ERROR", log, log[-3000:])
        files = [p for sub in ("cur", "new") for p in (root / "mail" / "INBOX" / sub).glob("*")]
        return sorted(normalize(p.read_bytes()) for p in files)


def main() -> int:
    global ICALGATE, UPSTREAM_TLS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--icalgate", help="the icalgate executable to test")
    mode.add_argument("--direct", action="store_true", help="no gateway: the clients against Dovecot")
    ap.add_argument("--upstream-tls", choices=("implicit", "starttls"), default="implicit",
                    help="how the gateway connects to Dovecot (default implicit)")
    args, rest = ap.parse_known_args()
    UPSTREAM_TLS = args.upstream_tls
    if args.icalgate:
        ICALGATE = os.path.abspath(args.icalgate)
    with env.sigterm_as_exception():
        prog = unittest.main(argv=[sys.argv[0], "-v"] + rest, exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
