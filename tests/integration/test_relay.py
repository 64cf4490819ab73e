#!/usr/bin/env python3
"""The relay suite: icalgate in front of a real Dovecot, driven with raw IMAP bytes.

    python3 tests/integration/test_relay.py --icalgate build/dev/bin/icalgate
    python3 tests/integration/test_relay.py --direct      # the assertions against Dovecot alone
    python3 tests/integration/test_relay.py --icalgate build/dev/bin/icalgate \
        --graphsim build/dev/bin/icalgate-graphsim         # with the invitation rewrite on

With --direct there is no gateway: every client talks to Dovecot, which checks that the
assertions about faithful relaying hold for the reference itself. Tests about what only the
gateway does (its pre-auth, limits, logs, signals) are skipped in that mode, and only then.
With --icalgate nothing is skipped: a gateway that cannot start makes every test fail.
With --graphsim the shared gateway also rewrites invitations, against a Graph simulator that
knows no events: every FETCH is then held and probed, and the relay must stay exactly as
faithful (the corpus's OWA-link messages are delivered as the originals).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import env  # noqa: E402
import exchange_shim  # noqa: E402
from env import Imap, quote, sasl_plain, status_of, strip_timing  # noqa: E402

ICALGATE: str | None = None
GRAPHSIM: str | None = None
GRAPH: env.GraphSim | None = None
GRAPH_DIR: Path | None = None
UPSTREAM_TLS = "implicit"  # how the gateway reaches Dovecot: implicit | starttls
WORLD: env.World | None = None

# Limits of the shared gateway. The line limit stays at its default: Dovecot's own response
# lines for the corpus reach 6 KiB (BODYSTRUCTURE, ENVELOPE), and they must pass.
MAX_BAD_COMMANDS = 5
MAX_LINE_LENGTH = 64 * 1024
SHARED_GATEWAY = dict(limits={"max_bad_commands": MAX_BAD_COMMANDS})

ALICE = "alice@contoso.com"  # read-only mailbox: the corpus, nothing else
BOB = "bob@contoso.com"  # the mailbox that tests append to


def setUpModule():
    global WORLD, GRAPH, GRAPH_DIR
    options = dict(SHARED_GATEWAY)
    if GRAPHSIM is not None:
        GRAPH_DIR = graph_dir = Path(tempfile.mkdtemp(prefix="icalgate-relay-graph-"))
        (graph_dir / "data" / "users").mkdir(parents=True)
        GRAPH = env.GraphSim(GRAPHSIM, graph_dir / "data", graph_dir).start()
        options["extra_config"] = GRAPH.config() + (
            f'\n[rewrite]\nenabled = true\nstate = "{graph_dir}/rewrite.db"\n')
    WORLD = env.World(icalgate=ICALGATE, gateway_options=options, upstream_tls=UPSTREAM_TLS)
    WORLD.start()


def tearDownModule():
    # Every gateway must have exited 0 on SIGTERM, without sanitizer reports, and no
    # password or SASL payload may appear in any of their logs.
    if GRAPH is not None:
        GRAPH.stop()
    if WORLD is not None:
        problems = WORLD.stop_and_check(WORLD.secrets())
        if GRAPH_DIR is not None and not WORLD.keep:
            shutil.rmtree(GRAPH_DIR, ignore_errors=True)
        if problems:
            raise AssertionError("after the suite:\n" + "\n".join(problems))


def rewrite_config(name: str) -> str:
    """The [graph] and [rewrite] sections of a gateway of this suite (none without --graphsim)."""
    if GRAPH is None:
        return ""
    return GRAPH.config() + f'\n[rewrite]\nenabled = true\nstate = "{GRAPH_DIR}/{name}.db"\n'


def gateway_only(why: str):
    """Tests of what only the gateway does; skipped (only) in --direct mode."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self, *a, **kw):
            if ICALGATE is None:
                self.skipTest(f"gateway only: {why}")
            return fn(self, *a, **kw)

        return wrapper

    return deco


def caps_of(lines: list[bytes]) -> set[str]:
    """Capabilities from '* CAPABILITY ...' lines and [CAPABILITY ...] response codes."""
    caps: set[str] = set()
    for line in lines:
        for m in re.finditer(rb"(?:^\* CAPABILITY |\[CAPABILITY )([^\]\r\n]*)", line, re.I):
            caps.update(m.group(1).decode().upper().split())
    return caps


def send_until_bye(c: Imap, lines: list[bytes]) -> list[bytes]:
    """Send each line and read its answer (and whatever follows at once) until a BYE.

    Reading the BYE before sending more matters: once the server has closed, our next
    write is answered with a reset, which can discard a BYE not yet read.
    """
    seen: list[bytes] = []
    for line in lines:
        try:
            c.send(line)
            seen.append(c.read_response())
            while not seen[-1].startswith(b"* BYE"):
                c.sock.settimeout(0.5)
                try:
                    seen.append(c.read_response())
                except (socket.timeout, TimeoutError):
                    break
                finally:
                    c.sock.settimeout(c.timeout)
        except (ConnectionError, OSError, ssl.SSLError):
            break
        if seen[-1].startswith(b"* BYE"):
            break
    return seen


def _try_greeting(port: int, ca) -> Imap | None:
    try:
        c = Imap(port, tls=True, ca_file=ca, timeout=5)
    except (OSError, ConnectionError, ssl.SSLError):
        return None
    if c.greeting.startswith(b"* OK"):
        return c
    c.close()
    return None


def password(user: str) -> str:
    return env.USERS[user]


PROXY_V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v2(source: str, destination: str, source_port: int = 40001, destination_port: int = 993) -> bytes:
    """A PROXY protocol v2 header (PROXY command, TCP) for an IPv4 or IPv6 address pair."""
    if ":" in source:
        family, addresses = 0x21, socket.inet_pton(socket.AF_INET6, source) + socket.inet_pton(socket.AF_INET6, destination)
    else:
        family, addresses = 0x11, socket.inet_pton(socket.AF_INET, source) + socket.inet_pton(socket.AF_INET, destination)
    block = addresses + struct.pack("!HH", source_port, destination_port)
    return PROXY_V2_SIGNATURE + bytes([0x21, family]) + struct.pack("!H", len(block)) + block


def legacy_tls_answer(port: int, version: tuple[int, int]) -> str:
    """Sends a ClientHello offering only TLS `version` ((3, 2) is TLS 1.1, (3, 1) TLS 1.0),
    written by hand so that the local OpenSSL's own floor cannot stop it from being offered,
    with CBC suites such a server could pick. Returns "server_hello" (the server accepted to
    negotiate it), "alert" or "closed"."""
    suites = [0xC009, 0xC00A, 0xC013, 0xC014, 0x002F, 0x0035, 0x000A]
    name = b"localhost"
    sni = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    extensions = (struct.pack("!HH", 0, len(sni)) + sni
                  + struct.pack("!HHH", 10, 6, 4) + struct.pack("!HH", 0x0017, 0x0018)  # groups
                  + struct.pack("!HHB", 11, 2, 1) + b"\x00")  # ec_point_formats
    body = (bytes(version) + os.urandom(32) + b"\x00"
            + struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", x) for x in suites)
            + b"\x01\x00" + struct.pack("!H", len(extensions)) + extensions)
    handshake = b"\x01" + struct.pack("!I", len(body))[1:] + body
    record = b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake
    with socket.create_connection((env.HOST, port), timeout=10) as s:
        s.sendall(record)
        head = b""
        try:
            while len(head) < 6:
                chunk = s.recv(6 - len(head))
                if not chunk:
                    break
                head += chunk
        except (ConnectionError, OSError):
            pass
    if len(head) >= 6 and head[0] == 0x16 and head[5] == 0x02:
        return "server_hello"
    if head[:1] == b"\x15":
        return "alert"
    return "closed"


def tls_version_of(port: int, ca, *, minimum=None, maximum=None) -> tuple[str, str]:
    """(negotiated version, cipher) of a TLS client limited to [minimum, maximum]; raises
    ssl.SSLError when the server refuses."""
    ctx = env.client_tls_context(ca)
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    with socket.create_connection((env.HOST, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.version(), s.cipher()[0]


def copy_ca(directory: Path) -> Path:
    """A directory holding the suite's development CA (certs/dev-ca.sh reuses a CA it finds)."""
    directory.mkdir(parents=True)
    assert WORLD is not None
    for name in ("ca.pem", "ca-key.pem"):
        (directory / name).write_bytes((WORLD.root / "certs" / name).read_bytes())
        os.chmod(directory / name, 0o600)
    return directory


def dev_certs(directory: Path, *args: str) -> dict[str, Path]:
    """certs/dev-ca.sh [args] DIR localhost 127.0.0.1 (e.g. "--rsa"), with the CA in DIR."""
    r = subprocess.run(["sh", str(env.DEV_CA), *args, str(directory), "localhost", "127.0.0.1"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"dev-ca.sh {args} failed: {r.stdout.decode(errors='replace')}")
    return {k: directory / f"{k}.pem" for k in ("ca", "fullchain", "privkey", "cert")}


def intermediate_chain(directory: Path) -> dict[str, Path]:
    """A leaf for localhost issued by an intermediate CA that the suite's CA issued; fullchain
    is leaf + intermediate: a client trusting only the root verifies it only if the
    intermediate is sent."""
    directory.mkdir(parents=True)

    def openssl(*args: str, stdin: str | None = None) -> None:
        r = subprocess.run(["openssl", *args], cwd=directory, input=stdin, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"openssl {args[0]} failed: {r.stdout}")

    (directory / "ext.cnf").write_text(
        "[ica]\nbasicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = critical, keyCertSign, cRLSign\n"
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
        "[leaf]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1\n"
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n")
    # The suite's CA says pathlen:0, which forbids an intermediate below it: a root of our own.
    openssl("req", "-new", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "root-key.pem", "-out", "root.pem", "-days", "30", "-subj", "/CN=itest chain root",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ica-key.pem", "-out", "ica.csr", "-subj", "/CN=itest intermediate")
    openssl("x509", "-req", "-in", "ica.csr", "-CA", "root.pem", "-CAkey", "root-key.pem", "-set_serial", "2",
            "-days", "30", "-extfile", "ext.cnf", "-extensions", "ica", "-out", "ica.pem")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "privkey.pem", "-out", "leaf.csr", "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ica.pem", "-CAkey", "ica-key.pem", "-set_serial", "3",
            "-days", "30", "-extfile", "ext.cnf", "-extensions", "leaf", "-out", "cert.pem")
    (directory / "fullchain.pem").write_bytes((directory / "cert.pem").read_bytes() + (directory / "ica.pem").read_bytes())
    return {"ca": directory / "root.pem", "fullchain": directory / "fullchain.pem",
            "privkey": directory / "privkey.pem", "cert": directory / "cert.pem"}


class GreetingByeServer:
    """An "upstream" that answers every connection with `* BYE ...` and closes: with TLS from
    the first byte (implicit), or the BYE in clear as its greeting (starttls)."""

    BYE = b"* BYE [UNAVAILABLE] Server overloaded, try later\r\n"

    def __init__(self, certs: dict[str, Path], mode: str):
        self.mode = mode
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(certs["fullchain"]), str(certs["privkey"]))
        self.listener = socket.create_server((env.HOST, 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="bye-upstream", daemon=True)

    def start(self) -> "GreetingByeServer":
        self.thread.start()
        return self

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            try:
                sock.settimeout(10)
                if self.mode == "implicit":
                    sock = self.context.wrap_socket(sock, server_side=True)
                sock.sendall(self.BYE)
            except (OSError, ssl.SSLError):
                pass
            finally:
                with contextlib.suppress(OSError):
                    sock.close()

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        self.thread.join(timeout=5)


def install_padded(path: Path, pem: bytes, *, keep_stamp: bool, size: int = 6144) -> None:
    """Replaces `path` atomically with `pem` padded to `size` bytes by a comment line before it
    (PEM readers skip text outside the BEGIN/END lines); keep_stamp: with the modification
    time `path` has now, so that only its content changes."""
    assert len(pem) < size - 4, len(pem)
    data = b"#" + b"." * (size - len(pem) - 2) + b"\n" + pem
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o600)
    if keep_stamp:
        st = os.stat(path)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, path)


def dovecot_session_prefix(log: str, id_name: str) -> str | None:
    """`imap(user)<pid><session>` of the Dovecot session that logged the ID `id_name` (sent
    after login; imap_id_log = * logs it)."""
    for line in log.splitlines():
        if "ID sent:" in line and id_name in line:
            m = re.search(r"(imap\([^)]*\)<\d+><[^>]*>)", line)
            if m:
                return m.group(1)
    return None


def dovecot_session_ended(log: str, prefix: str) -> bool:
    return any(prefix in line and ("Disconnected" in line or "Logged out" in line)
               for line in log.splitlines())


class Base(unittest.TestCase):
    maxDiff = 4000

    @property
    def w(self) -> env.World:
        assert WORLD is not None
        return WORLD

    def imaps(self, **kw) -> Imap:
        c = self.w.connect_imaps(**kw)
        self.addCleanup(c.close)
        return c

    def plain(self, **kw) -> Imap:
        c = self.w.connect_imap(**kw)
        self.addCleanup(c.close)
        return c

    def direct(self, **kw) -> Imap:
        c = self.w.connect_upstream_imaps(**kw)
        self.addCleanup(c.close)
        return c

    def gateway(self, **options) -> env.Gateway:
        """An extra gateway in front of the shared Dovecot, stopped when the test ends (its
        exit status and log are still checked after the suite)."""
        gw = self.w.start_gateway(**options)
        self.addCleanup(gw.stop)
        return gw

    def own_gateway(self, gw: env.Gateway) -> env.Gateway:
        """Starts a gateway made here (other certificates, another upstream), stopped when
        the test ends; its exit and log are checked after the suite."""
        self.w.extra_gateways.append(gw)
        gw.start()
        self.addCleanup(gw.stop)
        return gw

    def admitted(self, port: int, *, tls: bool = True, preamble: bytes = b"", ca=None) -> Imap:
        """A session the gateway admits (greeting OK), retried briefly: a session that just
        ended may still count until the gateway has seen it close."""
        ca = ca or self.w.certs["ca"]

        def attempt() -> Imap | None:
            try:
                c = Imap(port, tls=tls, ca_file=ca, timeout=10, preamble=preamble)
            except (OSError, ConnectionError, ssl.SSLError):
                return None
            if c.greeting.startswith(b"* OK"):
                return c
            c.close()
            return None

        c = env.wait_until(attempt, 10, what="an admitted session")
        self.addCleanup(c.close)
        return c

    def refused_with_bye(self, port: int, *, tls: bool = True, preamble: bytes = b"") -> bytes:
        """Connects and returns all the gateway sends before it closes: it must be a BYE with
        a reason."""
        c = Imap(port, tls=tls, ca_file=self.w.certs["ca"], preamble=preamble, read_greeting=False, timeout=10)
        self.addCleanup(c.close)
        rest = c.read_until_closed(10)
        self.assertRegex(rest, rb"^\* BYE [^\r\n]*[A-Za-z]{3}[^\r\n]*\r\n$", "not a BYE with a reason, then the close")
        return rest

    def logged_in(self, user: str = ALICE) -> Imap:
        c = self.imaps()
        c.login(user, password(user))
        return c

    def assertStatus(self, tagged: bytes, status: bytes | tuple[bytes, ...], msg: str = ""):
        wanted = status if isinstance(status, tuple) else (status,)
        self.assertIn(status_of(tagged), wanted, f"{msg} tagged reply: {tagged!r}")

    def assertServing(self):
        """The gateway process is alive and a fresh session can log in and read."""
        if self.w.gateway is not None:
            self.assertTrue(self.w.gateway.running, f"icalgate died:\n{self.w.gateway.log_tail()}")
        c = self.logged_in()
        untagged = c.check(b"EXAMINE INBOX")
        self.assertIn(b"* %d EXISTS\r\n" % len(self.w.seed_messages), untagged)
        c.logout()


# =============================================================================== pre-auth


class PreAuthTest(Base):
    def test_imaps_greeting_and_capability(self):
        # Let the gateway learn the upstream's mechanisms first, as it may do lazily.
        self.logged_in().logout()
        c = self.imaps()
        self.assertTrue(c.greeting.startswith(b"* OK"), c.greeting)
        untagged, tagged = c.command(b"CAPABILITY")
        self.assertStatus(tagged, b"OK")
        caps = caps_of(untagged)
        self.assertTrue({"IMAP4REV1", "IMAP4REV2"} & caps, caps)
        self.assertIn("AUTH=PLAIN", caps)
        self.assertNotIn("STARTTLS", caps, "STARTTLS offered on a connection that already has TLS")
        self.assertNotIn("LOGINDISABLED", caps, "LOGINDISABLED on a TLS connection")
        self.assertNotIn("STARTTLS", caps_of([c.greeting]))

    def test_plain_port_offers_starttls(self):
        c = self.plain()
        self.assertTrue(c.greeting.startswith(b"* OK"), c.greeting)
        untagged, tagged = c.command(b"CAPABILITY")
        self.assertStatus(tagged, b"OK")
        self.assertIn("STARTTLS", caps_of(untagged))

    @gateway_only("Dovecot treats loopback as secure and allows LOGIN in plaintext there")
    def test_plain_port_refuses_login_before_starttls(self):
        c = self.plain()
        caps = caps_of(c.command(b"CAPABILITY")[0])
        self.assertIn("LOGINDISABLED", caps)
        self.assertIn("STARTTLS", caps)
        _, tagged = c.command(b"LOGIN " + quote(ALICE) + b" " + quote(password(ALICE)))
        self.assertStatus(tagged, (b"NO", b"BAD"), "LOGIN before STARTTLS")
        _, tagged = c.command(b"AUTHENTICATE PLAIN " + sasl_plain(ALICE, password(ALICE)))
        self.assertStatus(tagged, (b"NO", b"BAD"), "AUTHENTICATE before STARTTLS")
        _, tagged = c.command(b"SELECT INBOX")
        self.assertStatus(tagged, (b"NO", b"BAD"), "SELECT without being logged in")
        # The connection is still usable and can upgrade.
        c.starttls()
        c.login(ALICE, password(ALICE))

    def test_starttls_then_login(self):
        c = self.plain()
        c.starttls()
        untagged, tagged = c.command(b"CAPABILITY")
        caps = caps_of(untagged)
        self.assertNotIn("STARTTLS", caps)
        self.assertNotIn("LOGINDISABLED", caps)
        self.assertIn("AUTH=PLAIN", caps)
        _, tagged = c.command(b"STARTTLS")
        self.assertStatus(tagged, (b"NO", b"BAD"), "a second STARTTLS")
        c.login(ALICE, password(ALICE))
        untagged = c.check(b"EXAMINE INBOX")
        self.assertIn(b"* %d EXISTS\r\n" % len(self.w.seed_messages), untagged)

    def test_starttls_discards_injected_plaintext(self):
        # A command pipelined behind STARTTLS in the same plaintext write must never run:
        # it could be a man-in-the-middle's (CVE-2011-0411 style command injection).
        c = self.plain()
        c.send(b"T1 STARTTLS\r\nT2 LOGIN " + quote(ALICE) + b" " + quote(password(ALICE)) + b"\r\n")
        resp = c.read_response()
        self.assertRegex(resp, rb"^T1 OK")
        self.assertEqual(c._buf, b"", "plaintext after the STARTTLS OK")
        try:
            c.sock = env.client_tls_context(self.w.certs["ca"]).wrap_socket(c.sock, server_hostname="localhost")
        except (ssl.SSLError, ConnectionError, OSError):
            # Dropping the connection is a safe answer too (Dovecot does that).
            self.assertServing()
            return
        untagged, tagged = c.command(b"SELECT INBOX")
        self.assertFalse(any(u.startswith(b"T2 ") for u in untagged), f"the injected LOGIN was answered: {untagged}")
        self.assertStatus(tagged, (b"NO", b"BAD"), "SELECT: the injected LOGIN must not have logged in")
        c.login(ALICE, password(ALICE))

    def test_id_before_login(self):
        c = self.imaps()
        untagged, tagged = c.command(b'ID ("name" "itest-client" "version" "1.0")')
        self.assertStatus(tagged, b"OK")
        self.assertEqual(len([u for u in untagged if u.startswith(b"* ID ")]), 1, untagged)
        c.login(ALICE, password(ALICE))
        self.assertStatus(c.command(b"EXAMINE INBOX")[1], b"OK")
        c.logout()
        if self.w.gateway is not None:
            env.wait_until(lambda: "itest-client" in self.w.gateway.log_text(), 10, what="the ID name in the session log")

    def test_id_after_login(self):
        # Thunderbird sends ID only after LOGIN: the upstream answers it, and the gateway
        # still learns the client's name for its session log.
        c = self.imaps()
        c.login(ALICE, password(ALICE))
        untagged, tagged = c.command(b'ID ("name" "itest-after-login" "version" "2.0")')
        self.assertStatus(tagged, b"OK")
        self.assertEqual(len([u for u in untagged if u.startswith(b"* ID ")]), 1, untagged)
        c.logout()
        if self.w.gateway is not None:
            def ended_with_name() -> bool:
                return any("session_end" in line and "client_name=itest-after-login" in line
                           for line in self.w.gateway.log_text().splitlines())

            env.wait_until(ended_with_name, 10, what="the post-login ID name in the session_end line")
            # ... and the session ended by the client's LOGOUT, not by the upstream.
            ends = [line for line in self.w.gateway.log_text().splitlines()
                    if "session_end" in line and "client_name=itest-after-login" in line]
            self.assertIn(" reason=logout ", ends[-1] + " ")

    def test_noop_and_logout_before_login(self):
        c = self.imaps()
        self.assertStatus(c.command(b"NOOP")[1], b"OK")
        untagged, tagged = c.command(b"LOGOUT")
        self.assertTrue(any(u.startswith(b"* BYE") for u in untagged), untagged)
        self.assertStatus(tagged, b"OK")
        self.assertEqual(c.read_until_closed(10), b"")


# =============================================================================== login


class LoginTest(Base):
    def test_login_quoted_strings(self):
        # bob's password holds a quote and spaces: it must be escaped in the quoted string.
        c = self.imaps()
        tagged = c.login(BOB, password(BOB))
        self.assertStatus(tagged, b"OK")
        self.assertStatus(c.command(b"SELECT INBOX")[1], b"OK")

    def test_login_synchronizing_literal_password(self):
        c = self.imaps()
        pw = password(ALICE).encode()
        c.send(b"L1 LOGIN " + quote(ALICE) + b" {%d}\r\n" % len(pw))
        cont = c.read_response()
        self.assertTrue(cont.startswith(b"+"), cont)
        c.send(pw + b"\r\n")
        _, tagged = c.collect(b"L1")
        self.assertStatus(tagged, b"OK")
        self.assertStatus(c.command(b"EXAMINE INBOX")[1], b"OK")

    def test_login_literal_user_and_password(self):
        c = self.imaps()
        user, pw = ALICE.encode(), password(ALICE).encode()
        c.send(b"L1 LOGIN {%d}\r\n" % len(user))
        self.assertTrue(c.read_response().startswith(b"+"))
        c.send(user + b" {%d}\r\n" % len(pw))
        self.assertTrue(c.read_response().startswith(b"+"))
        c.send(pw + b"\r\n")
        self.assertStatus(c.collect(b"L1")[1], b"OK")

    def test_authenticate_plain_sasl_ir(self):
        c = self.imaps()
        _, tagged = c.command(b"AUTHENTICATE PLAIN " + sasl_plain(ALICE, password(ALICE)))
        self.assertStatus(tagged, b"OK")
        self.assertStatus(c.command(b"EXAMINE INBOX")[1], b"OK")

    def test_authenticate_plain_continuation(self):
        c = self.imaps()
        c.send(b"A1 AUTHENTICATE PLAIN\r\n")
        cont = c.read_response()
        self.assertTrue(cont.startswith(b"+"), cont)
        c.send(sasl_plain(BOB, password(BOB)) + b"\r\n")
        self.assertStatus(c.collect(b"A1")[1], b"OK")
        self.assertStatus(c.command(b"EXAMINE INBOX")[1], b"OK")

    def test_authenticate_cancel_then_login(self):
        c = self.imaps()
        c.send(b"A1 AUTHENTICATE PLAIN\r\n")
        self.assertTrue(c.read_response().startswith(b"+"))
        c.send(b"*\r\n")
        self.assertStatus(c.collect(b"A1")[1], b"BAD", "cancelled AUTHENTICATE")
        c.login(ALICE, password(ALICE))

    def test_authenticate_xoauth2(self):
        token = self.w.upstream.oauth2.token(ALICE)
        c = self.imaps()
        self.assertIn("AUTH=XOAUTH2", c.capabilities())
        _, tagged = c.command(b"AUTHENTICATE XOAUTH2 " + env.xoauth2_payload(ALICE, token))
        self.assertStatus(tagged, b"OK")
        self.assertStatus(c.command(b"EXAMINE INBOX")[1], b"OK")
        # And without SASL-IR: the payload in a continuation round.
        d = self.imaps()
        d.send(b"X1 AUTHENTICATE XOAUTH2\r\n")
        self.assertTrue(d.read_response().startswith(b"+"))
        d.send(env.xoauth2_payload(ALICE, token) + b"\r\n")
        self.assertStatus(d.collect(b"X1")[1], b"OK")

    def test_authenticate_oauthbearer(self):
        token = self.w.upstream.oauth2.token(BOB)
        c = self.imaps()
        _, tagged = c.command(b"AUTHENTICATE OAUTHBEARER " + env.oauthbearer_payload(BOB, token, self.w.imaps_port))
        self.assertStatus(tagged, b"OK")
        self.assertStatus(c.command(b"EXAMINE INBOX")[1], b"OK")

    def test_xoauth2_rejected_tokens(self):
        expired = self.w.upstream.oauth2.token(ALICE, lifetime=-60)
        forged = self.w.upstream.oauth2.token(ALICE, secret=b"not the key")
        other_user = self.w.upstream.oauth2.token(BOB)
        c = self.imaps()
        for what, user, tok in (("expired", ALICE, expired), ("forged", ALICE, forged), ("bob's, as alice", ALICE, other_user)):
            c.send(b"X1 AUTHENTICATE XOAUTH2 " + env.xoauth2_payload(user, tok) + b"\r\n")
            resp = c.read_response()
            if resp.startswith(b"+"):  # the error challenge (JSON); the client answers with an empty line
                c.send(b"\r\n")
                resp = c.collect(b"X1")[1]
            elif not resp.startswith(b"X1 "):
                resp = c.collect(b"X1")[1]
            self.assertStatus(resp, b"NO", f"XOAUTH2 with an {what} token")
        self.assertStatus(c.command(b"NOOP")[1], b"OK")
        c.login(ALICE, password(ALICE))

    def test_wrong_password_then_usable(self):
        c = self.imaps()
        _, tagged = c.command(b"LOGIN " + quote(ALICE) + b' "not the password"')
        self.assertStatus(tagged, b"NO")
        _, tagged = c.command(b"SELECT INBOX")
        self.assertStatus(tagged, (b"NO", b"BAD"), "SELECT after a failed login")
        self.assertStatus(c.command(b"NOOP")[1], b"OK")
        c.login(ALICE, password(ALICE))
        untagged = c.check(b"EXAMINE INBOX")
        self.assertIn(b"* %d EXISTS\r\n" % len(self.w.seed_messages), untagged)

    def test_wrong_sasl_password(self):
        c = self.imaps()
        _, tagged = c.command(b"AUTHENTICATE PLAIN " + sasl_plain(BOB, "wrong"))
        self.assertStatus(tagged, b"NO")
        self.assertStatus(c.command(b"NOOP")[1], b"OK")


# =============================================================================== TLS


class TlsTest(Base):
    def test_tls_1_0_and_1_1_refused(self):
        # (legacy_tls_answer reports "server_hello" from an `openssl s_server -tls1_1`.)
        for version, name in (((3, 2), "TLS 1.1"), ((3, 1), "TLS 1.0")):
            with self.subTest(version=name):
                self.assertNotEqual(legacy_tls_answer(self.w.imaps_port, version), "server_hello", f"{name} negotiated")
        # The same listener still negotiates TLS 1.2 with a client that offers nothing newer.
        version, _ = tls_version_of(self.w.imaps_port, self.w.certs["ca"], maximum=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(version, "TLSv1.2")

    def test_tls_1_3_by_default(self):
        c = self.imaps()
        self.assertEqual(c.sock.version(), "TLSv1.3")
        p = self.plain()
        p.starttls()
        self.assertEqual(p.sock.version(), "TLSv1.3")
        p.login(ALICE, password(ALICE))

    @gateway_only("[tls] min_version is a gateway setting")
    def test_min_version_1_3_refuses_tls_1_2_clients(self):
        gw = self.own_gateway(env.Gateway(self.w.icalgate, self.w.root, self.w.certs,
                                          self.w.upstream_port_for(UPSTREAM_TLS), UPSTREAM_TLS,
                                          name="tls13only", min_tls_version="1.3"))
        ca = self.w.certs["ca"]
        with self.assertRaises(ssl.SSLError, msg="a TLS 1.2-only client got in on the imaps port"):
            tls_version_of(gw.imaps_port, ca, maximum=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(tls_version_of(gw.imaps_port, ca)[0], "TLSv1.3")
        # STARTTLS on the plain port: the same floor.
        p = Imap(gw.imap_port, tls=False, ca_file=ca)
        self.addCleanup(p.close)
        self.assertStatus(p.command(b"STARTTLS")[1], b"OK")
        ctx = env.client_tls_context(ca)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with self.assertRaises(ssl.SSLError, msg="a TLS 1.2-only client got in through STARTTLS"):
            ctx.wrap_socket(p.sock, server_hostname="localhost")
        c = Imap(gw.imaps_port, tls=True, ca_file=ca)
        self.addCleanup(c.close)
        c.login(ALICE, password(ALICE))
        self.assertTrue(gw.running)

    @gateway_only("the certificate chain is the gateway's")
    def test_certificate_chain_sent(self):
        # The leaf comes from an intermediate CA; the client trusts only the root: it can
        # verify the gateway only if the gateway sends the intermediate after the leaf.
        chain = intermediate_chain(self.w.root / "chain-certs")
        # The upstream (Dovecot) is still verified against the suite's CA.
        bundle = self.w.root / "chain-certs" / "upstream-ca.pem"
        bundle.write_bytes(self.w.certs["ca"].read_bytes())
        gw = self.own_gateway(env.Gateway(self.w.icalgate, self.w.root, dict(chain, ca=bundle),
                                          self.w.upstream_port_for(UPSTREAM_TLS), UPSTREAM_TLS, name="chain"))
        c = Imap(gw.imaps_port, tls=True, ca_file=chain["ca"])
        self.addCleanup(c.close)
        self.assertEqual(c.sock.getpeercert(binary_form=True), ssl.PEM_cert_to_DER_cert(chain["cert"].read_text()))
        c.login(ALICE, password(ALICE))
        c.check(b"EXAMINE INBOX")
        version, _ = tls_version_of(gw.imaps_port, chain["ca"], maximum=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(version, "TLSv1.2")
        p = Imap(gw.imap_port, tls=False, ca_file=chain["ca"])
        self.addCleanup(p.close)
        p.starttls()

    @gateway_only("the certificate is the gateway's")
    def test_rsa_certificate(self):
        certs = dev_certs(copy_ca(self.w.root / "rsa-certs"), "--rsa")
        text = subprocess.run(["openssl", "x509", "-in", str(certs["cert"]), "-noout", "-text"],
                              stdout=subprocess.PIPE, text=True, check=True).stdout
        self.assertIn("rsaEncryption", text)
        gw = self.own_gateway(env.Gateway(self.w.icalgate, self.w.root, certs, self.w.upstream_port_for(UPSTREAM_TLS),
                                          UPSTREAM_TLS, name="rsa"))
        c = Imap(gw.imaps_port, tls=True, ca_file=certs["ca"])
        self.addCleanup(c.close)
        self.assertEqual(c.sock.getpeercert(binary_form=True), ssl.PEM_cert_to_DER_cert(certs["cert"].read_text()))
        self.assertEqual(c.sock.version(), "TLSv1.3")
        c.login(ALICE, password(ALICE))
        c.check(b"EXAMINE INBOX")
        # TLS 1.2 names the authentication in the suite: an ECDHE-RSA one, forward secret.
        version, cipher = tls_version_of(gw.imaps_port, certs["ca"], maximum=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(version, "TLSv1.2")
        self.assertTrue(cipher.startswith("ECDHE-RSA-"), cipher)


# =============================================================================== relay


class RelayTest(Base):
    def both(self, user: str = ALICE) -> tuple[Imap, Imap]:
        """A session through the gateway and one straight to Dovecot, same user."""
        g = self.logged_in(user)
        d = self.direct()
        d.login(user, password(user))
        return g, d

    def test_fetch_every_corpus_message_byte_for_byte(self):
        g, d = self.both()
        ug = g.check(b"EXAMINE INBOX")
        ud = d.check(b"EXAMINE INBOX")
        self.assertIn(b"* %d EXISTS\r\n" % len(self.w.seed_messages), ug)
        self.assertEqual([l for l in ug if b"EXISTS" in l], [l for l in ud if b"EXISTS" in l])
        for items in (b"(BODY.PEEK[] BODYSTRUCTURE RFC822.SIZE)", b"(UID ENVELOPE BODY.PEEK[HEADER] BODY.PEEK[1])"):
            cmd = b"FETCH 1:* " + items
            fg, tg = g.command(cmd)
            fd, td = d.command(cmd)
            self.assertStatus(tg, b"OK")
            self.assertStatus(td, b"OK")
            self.assertEqual(len(fg), len(self.w.seed_messages))
            for i, (a, b) in enumerate(zip(fg, fd)):
                self.assertEqual(a, b, f"{items!r} of message {i + 1} ({self.w.seed_messages[i][0]}) differs")
            self.assertEqual(fg, fd)
            self.assertEqual(strip_timing(tg), strip_timing(td))

    def test_pipelined_commands_all_answered(self):
        n = len(self.w.seed_messages)
        cmds = []
        for i in range(20):
            kind = i % 5
            if kind == 0:
                cmds.append(b"NOOP")
            elif kind == 1:
                cmds.append(b"FETCH %d (UID RFC822.SIZE FLAGS)" % (i % n + 1))
            elif kind == 2:
                cmds.append(b"UID FETCH %d (BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])" % (i % n + 1))
            elif kind == 3:
                cmds.append(b"SEARCH ALL")
            else:
                cmds.append(b'STATUS "INBOX" (MESSAGES UIDNEXT)')

        def run(c: Imap) -> tuple[list[bytes], list[bytes]]:
            c.check(b"EXAMINE INBOX")
            c.send(b"".join(b"p%d %s\r\n" % (i + 1, cmd) for i, cmd in enumerate(cmds)))
            untagged, tagged = [], []
            while len(tagged) < 20:
                r = c.read_response()
                (tagged if r.startswith(b"p") else untagged).append(strip_timing(r))
            return untagged, tagged

        # Dovecot runs independent pipelined commands in parallel and may complete them in
        # any order (RFC 9051 5.5 allows it): the relay must deliver each one, once, intact.
        g, d = self.both()
        ug, tg = run(g)
        ud, td = run(d)
        tags = sorted(int(t.split(b" ", 1)[0][1:]) for t in tg)
        self.assertEqual(tags, list(range(1, 21)))
        self.assertTrue(all(status_of(t) == b"OK" for t in tg), tg)
        self.assertEqual(sorted(tg), sorted(td))
        self.assertEqual(sorted(ug), sorted(ud))
        self.assertStatus(g.command(b"NOOP")[1], b"OK")

    def test_append_20mb_sync_literal_and_literal_plus(self):
        g = self.logged_in(BOB)
        self.assertIn("LITERAL+", caps_of(g.command(b"CAPABILITY")[0]) | caps_of([g.greeting]))
        line = bytes(65 + j % 26 for j in range(76))
        body = bytearray()
        i = 0
        while len(body) < 20 * 1024 * 1024:
            body += b"%08d " % i + line + b"\r\n"
            i += 1
        for literal_plus in (False, True):
            msg = (
                b"From: big@contoso.com\r\nTo: bob@contoso.com\r\n"
                b"Subject: twenty megabytes %s\r\nMessage-ID: <big-%d@contoso.com>\r\n\r\n"
                % (b"literal+" if literal_plus else b"sync", int(literal_plus))
            ) + bytes(body)
            untagged, tagged = g.append("INBOX", msg, literal_plus=literal_plus)
            self.assertStatus(tagged, b"OK", f"APPEND literal_plus={literal_plus}")
            m = re.search(rb"\[APPENDUID \d+ (\d+)\]", tagged)
            self.assertIsNotNone(m, tagged)
            uid = int(m.group(1))
            g.check(b"EXAMINE INBOX")
            untagged, tagged = g.command(b"UID FETCH %d (RFC822.SIZE BODY.PEEK[])" % uid)
            self.assertStatus(tagged, b"OK")
            self.assertEqual(len(untagged), 1, [u[:200] for u in untagged])
            self.assertIn(b"RFC822.SIZE %d " % len(msg), untagged[0])
            got = env.fetch_literals(untagged)
            self.assertEqual(list(got.values())[0], msg, "the 20 MB message came back different")

    def test_idle_sees_exists_from_another_session(self):
        a = self.logged_in(BOB)
        untagged = a.check(b"SELECT INBOX")
        exists = [int(m.group(1)) for u in untagged if (m := re.match(rb"\* (\d+) EXISTS", u))]
        self.assertEqual(len(exists), 1, untagged)
        a.send(b"I1 IDLE\r\n")
        cont = a.read_response()
        self.assertTrue(cont.startswith(b"+"), cont)
        b = self.logged_in(BOB)
        msg = b"From: x@contoso.com\r\nSubject: idle push\r\nMessage-ID: <idle@contoso.com>\r\n\r\nhello\r\n"
        _, tagged = b.append("INBOX", msg)
        self.assertStatus(tagged, b"OK")
        appended = time.monotonic()
        # Dovecot itself pushes about 0.5 s after the APPEND; the gateway adds nothing
        # measurable, but a loaded CI machine can stretch both, hence the wide window.
        a.sock.settimeout(10.0)
        try:
            pushed = a.read_push()
        except socket.timeout:
            self.fail("no untagged response within 10 s of another session's APPEND")
        finally:
            a.sock.settimeout(30)
        self.assertLess(time.monotonic() - appended, 10.5)
        self.assertEqual(pushed, b"* %d EXISTS\r\n" % (exists[0] + 1))
        a.send(b"DONE\r\n")
        _, tagged = a.collect(b"I1")
        self.assertStatus(tagged, b"OK")
        self.assertStatus(a.command(b"NOOP")[1], b"OK")

    def test_uid_move_answers_copyuid(self):
        g = self.logged_in(BOB)
        self.assertIn("MOVE", caps_of(g.command(b"CAPABILITY")[0]))
        dest = f"Moved-{os.getpid()}-{time.monotonic_ns()}"
        g.check(b"CREATE " + quote(dest))
        msg = (b"From: m@contoso.com\r\nSubject: moved\r\nMessage-ID: <%s@contoso.com>\r\n\r\nmove me\r\n"
               % dest.encode())
        _, tagged = g.append("INBOX", msg)
        self.assertStatus(tagged, b"OK")
        uid = int(re.search(rb"\[APPENDUID \d+ (\d+)\]", tagged).group(1))
        g.check(b"SELECT INBOX")
        untagged, tagged = g.command(b"UID MOVE %d " % uid + quote(dest))
        self.assertStatus(tagged, b"OK", "UID MOVE")
        copyuid = [m for u in untagged if (m := re.match(rb"\* OK \[COPYUID (\d+) (\d+) (\d+)\]", u))]
        self.assertEqual(len(copyuid), 1, untagged)
        self.assertEqual(int(copyuid[0].group(2)), uid)
        dest_uid = int(copyuid[0].group(3))
        self.assertTrue(any(re.match(rb"\* \d+ EXPUNGE\r\n$", u) for u in untagged), untagged)
        # Dovecot itself: the message is in the destination under that UID, gone from INBOX.
        d = self.direct()
        d.login(BOB, password(BOB))
        uidvalidity = [m for u in d.check(b"EXAMINE " + quote(dest)) if (m := re.search(rb"\[UIDVALIDITY (\d+)\]", u))]
        self.assertEqual(int(uidvalidity[0].group(1)), int(copyuid[0].group(1)))
        self.assertEqual(list(env.fetch_literals(d.check(b"UID FETCH %d BODY.PEEK[]" % dest_uid)).values()), [msg])
        d.check(b"EXAMINE INBOX")
        self.assertEqual(d.check(b"UID SEARCH UID %d" % uid), [b"* SEARCH\r\n"])
        d.check(b"CLOSE")
        d.check(b"DELETE " + quote(dest))

    def test_unknown_command_relayed(self):
        g, d = self.both()
        for cmd in (b"XFROBNICATE 1 2 3", b"NAMESPACE", b'ENABLE CONDSTORE', b"FETCH"):
            ug, tg = g.command(cmd)
            ud, td = d.command(cmd)
            self.assertEqual(strip_timing(tg), strip_timing(td), cmd)
            self.assertEqual(ug, ud, cmd)
        self.assertStatus(g.command(b"XFROBNICATE")[1], b"BAD")

    def test_capability_after_login(self):
        g, d = self.both()
        lg = g.command(b"CAPABILITY")[0]
        caps = caps_of(lg)
        direct_caps = caps_of(d.command(b"CAPABILITY")[0])
        for needed in ("IMAP4REV1", "IDLE", "UIDPLUS", "MOVE", "NAMESPACE", "ENABLE", "LITERAL+"):
            self.assertIn(needed, caps)
        self.assertNotIn("STARTTLS", caps)
        self.assertLessEqual(caps, direct_caps, "the gateway advertises what the upstream lacks")

    @gateway_only("Dovecot itself implements COMPRESS=DEFLATE")
    def test_fetch_with_literal_field_names(self):
        # Header field names as literals, synchronizing and not: the answers are Dovecot's
        # (with the rewrite on, the gateway reads such a FETCH whole and asks "+" itself).
        def run(conn: Imap) -> list[bytes]:
            conn.check(b"EXAMINE INBOX")
            conn.send(b"L1 FETCH 1:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS ({7}\r\n")
            self.assertTrue(conn.read_response().startswith(b"+"))
            conn.send(b"Subject {12+}\r\nContent-Type {0}\r\n")
            self.assertTrue(conn.read_response().startswith(b"+"))
            conn.send(b")])\r\n")
            untagged, tagged = conn.collect(b"L1")
            self.assertStatus(tagged, b"OK", "FETCH with literals")
            return untagged

        d = self.direct()
        d.login(ALICE, password(ALICE))
        expected = run(d)
        self.assertEqual(len(expected), len(self.w.seed_messages))
        self.assertEqual(run(self.logged_in(ALICE)), expected)

    def test_compress_deflate(self):
        if ICALGATE is None:
            self.skipTest("gateway only: this Dovecot does not compress")
        c = self.imaps()
        tagged = c.login(ALICE, password(ALICE))
        self.assertIn("COMPRESS=DEFLATE", caps_of([tagged]))
        self.assertIn("COMPRESS=DEFLATE", caps_of(c.command(b"CAPABILITY")[0]))
        self.assertStatus(c.compress(), b"OK", "COMPRESS")
        # Pipelined, in one compressed write: answered in order, the messages byte for byte
        # as Dovecot holds them, and fewer bytes on the wire than in the answers.
        fetch = b"UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])"
        wire_before = c.wire_in
        c.send(b"P1 NOOP\r\nP2 EXAMINE INBOX\r\nP3 " + fetch + b"\r\n")
        answers = []
        for tag in (b"P1", b"P2", b"P3"):
            untagged, tagged = c.collect(tag)
            self.assertStatus(tagged, b"OK", tag.decode())
            answers.append(untagged)
        d = self.direct()
        d.login(ALICE, password(ALICE))
        d.check(b"EXAMINE INBOX")
        self.assertEqual(env.fetch_literals(answers[2]), env.fetch_literals(d.check(fetch)))
        self.assertEqual(len(answers[2]), len(self.w.seed_messages))
        plain_bytes = sum(len(r) for rs in answers for r in rs)
        self.assertLess(c.wire_in - wire_before, plain_bytes / 2)
        # A synchronizing literal, its continuation request compressed too; and back.
        msg = b"From: z@contoso.com\r\nSubject: compressed\r\nMessage-ID: <z@contoso.com>\r\n\r\n" + b"".join(
            b"%06d the same line again and again, which deflate shrinks\r\n" % i for i in range(20000))
        d.command(b"DELETE Compressed")
        d.check(b"CREATE Compressed")
        self.addCleanup(lambda: d.command(b"DELETE Compressed"))
        _, tagged = c.append("Compressed", msg)
        self.assertStatus(tagged, b"OK", "APPEND")
        uid = int(re.search(rb"\[APPENDUID \d+ (\d+)\]", tagged).group(1))
        c.check(b"SELECT Compressed")
        self.assertEqual(list(env.fetch_literals(c.check(b"UID FETCH %d BODY.PEEK[]" % uid)).values()), [msg])
        # IDLE: another session's APPEND arrives at once, compressed.
        c.send(b"I1 IDLE\r\n")
        self.assertTrue(c.read_response().startswith(b"+"))
        other = self.logged_in(ALICE)
        _, tagged = other.append("Compressed", b"Subject: push\r\nMessage-ID: <push@contoso.com>\r\n\r\nhi\r\n")
        self.assertStatus(tagged, b"OK")
        c.sock.settimeout(10.0)
        self.assertRegex(c.read_push(), rb"^\* \d+ EXISTS\r\n$")
        c.sock.settimeout(30)
        c.send(b"DONE\r\n")
        self.assertStatus(c.collect(b"I1")[1], b"OK")
        # Once is enough.
        _, tagged = c.command(b"COMPRESS DEFLATE")
        self.assertStatus(tagged, b"NO")
        self.assertIn(b"[COMPRESSIONACTIVE]", tagged)
        untagged, tagged = c.command(b"LOGOUT")
        self.assertStatus(tagged, b"OK")
        self.assertTrue(untagged and untagged[0].startswith(b"* BYE"), untagged)

    def test_compress_not_offered_when_off(self):
        if ICALGATE is None:
            self.skipTest("gateway only: [listen] compress")
        gw = self.gateway(name="no-compress", compress=False)
        c = Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"])
        self.addCleanup(c.close)
        tagged = c.login(ALICE, password(ALICE))
        self.assertFalse(any(x.startswith("COMPRESS") for x in caps_of([tagged])), tagged)
        caps = caps_of(c.command(b"CAPABILITY")[0])
        self.assertFalse(any(x.startswith("COMPRESS") for x in caps), caps)
        self.assertStatus(c.command(b"COMPRESS DEFLATE")[1], b"NO", "COMPRESS")
        # Still plain IMAP inside TLS afterwards.
        self.assertStatus(c.command(b"NOOP")[1], b"OK")
        self.assertStatus(c.command(b"EXAMINE INBOX")[1], b"OK")

    def test_upstream_starttls_mode(self):
        if ICALGATE is None:
            self.skipTest("gateway only: the upstream TLS mode is a gateway setting")
        gw = self.gateway(upstream_tls="starttls", name="starttls-upstream")
        for tls in (True, False):
            c = Imap(gw.imaps_port if tls else gw.imap_port, tls=tls, ca_file=self.w.certs["ca"])
            self.addCleanup(c.close)
            if not tls:
                c.starttls()
            c.login(ALICE, password(ALICE))
            d = self.direct()
            d.login(ALICE, password(ALICE))
            c.check(b"EXAMINE INBOX")
            d.check(b"EXAMINE INBOX")
            cmd = b"FETCH 1:10 (BODY.PEEK[] BODYSTRUCTURE)"
            self.assertEqual(c.command(cmd)[0], d.command(cmd)[0])
        gw.stop()
        self.assertEqual(gw.returncode, 0, gw.log_tail())


# =============================================================================== bad input, failures


class BadInputTest(Base):
    @gateway_only("Dovecot answers STARTTLS after TLS itself")
    def test_gateway_answer_waits_for_a_streaming_literal(self):
        # A client that pipelines a bad command behind a large FETCH: the gateway's own BAD
        # comes between responses, never inside the literal still streaming. The shim stalls
        # in the middle of the literal, so the gateway is waiting for its upstream then.
        shim = exchange_shim.ExchangeShim(self.w.upstream_port_for(UPSTREAM_TLS), self.w.certs,
                                          starttls=UPSTREAM_TLS == "starttls", stall_in_literals=1.0).start()
        self.addCleanup(shim.stop)
        gw = env.Gateway(self.w.icalgate, self.w.root, self.w.certs, shim.port, UPSTREAM_TLS, name="stalling",
                         upstream={"connect_timeout": "15s"})
        self.own_gateway(gw)
        d = self.direct()
        d.login(BOB, password(BOB))
        d.command(b"DELETE Streaming")
        d.check(b"CREATE Streaming")
        self.addCleanup(lambda: d.command(b"DELETE Streaming"))
        msg = b"Subject: streaming\r\nMessage-ID: <streaming@contoso.com>\r\n\r\n" + b"".join(
            b"%08d some text of a large message\r\n" % i for i in range(20000))
        _, tagged = d.append("Streaming", msg)
        uid = int(re.search(rb"\[APPENDUID \d+ (\d+)\]", tagged).group(1))
        c = Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"])
        self.addCleanup(c.close)
        c.login(BOB, password(BOB))
        c.check(b"EXAMINE Streaming")
        c.send(b"F1 UID FETCH %d BODY.PEEK[]\r\n" % uid)
        self.assertRegex(c.read_line(), rb"^\* 1 FETCH \(.*\{%d\}\r\n$" % len(msg))
        c.send(b"B1 STARTTLS\r\n")
        self.assertEqual(c.read_exact(len(msg)), msg, "the literal came back with something inside")
        answers = [c.read_line()]
        while len([a for a in answers if a[:3] in (b"F1 ", b"B1 ")]) < 2:
            answers.append(c.read_line())
        self.assertEqual(answers[0], b")\r\n", answers)
        self.assertTrue(any(a.startswith(b"B1 BAD ") for a in answers), answers)
        self.assertTrue(any(a.startswith(b"F1 OK") for a in answers), answers)
        self.assertStatus(c.command(b"NOOP")[1], b"OK")

    @gateway_only("Dovecot answers an over-long line with BYE at once")
    def test_overlong_line_bad_then_bye(self):
        c = self.imaps()
        c.send(b"X1 NOOP " + b"x" * (MAX_LINE_LENGTH * 3) + b"\r\n")
        resp = c.read_response()
        self.assertRegex(resp, rb"^(X1|\*) BAD ", "an over-long line must get BAD")
        # The session survives one bad line ...
        self.assertStatus(c.command(b"NOOP")[1], b"OK")
        # ... but not a flood of them.
        long_lines = [b"Y%d NOOP " % i + b"y" * (MAX_LINE_LENGTH * 2) + b"\r\n" for i in range(MAX_BAD_COMMANDS + 2)]
        seen = send_until_bye(c, long_lines)
        self.assertTrue(seen and seen[-1].startswith(b"* BYE"), f"no BYE after {len(seen)} over-long lines: {seen}")
        self.assertEqual(c.read_until_closed(10), b"")
        self.assertServing()

    @gateway_only("the literal cap is the gateway's")
    def test_literal_above_cap_refused(self):
        c = self.logged_in(BOB)
        c.send(b"X1 APPEND INBOX {%d}\r\n" % (64 * 1024 * 1024 + 1))
        resp = c.read_response()
        self.assertRegex(resp, rb"^(X1 (NO|BAD)|\* BYE) ", "a literal above max_literal_size")
        self.assertServing()

    @gateway_only("after login, the gateway's own BADs are counted like before it")
    def test_bad_flood_after_login_ends_with_bye(self):
        c = self.logged_in(BOB)
        long_lines = [b"L%d NOOP " % i + b"l" * (MAX_LINE_LENGTH * 2) + b"\r\n" for i in range(MAX_BAD_COMMANDS + 2)]
        seen = send_until_bye(c, long_lines)
        bads = [s for s in seen if re.match(rb"^L\d+ BAD ", s)]
        self.assertTrue(seen and seen[-1].startswith(b"* BYE Too many bad commands"), seen)
        self.assertEqual(len(bads), MAX_BAD_COMMANDS, seen)
        self.assertEqual(c.read_until_closed(10), b"")
        self.assertServing()

    @gateway_only("the BAD limit is the gateway's")
    def test_bye_survives_input_the_client_is_still_sending(self):
        # The last straw is an over-long line still arriving when the gateway says BYE and
        # closes: the rest of it must not reset the connection before the BYE is read.
        c = self.logged_in(BOB)
        long_lines = [b"L%d NOOP " % i + b"l" * (MAX_LINE_LENGTH * 2) + b"\r\n" for i in range(MAX_BAD_COMMANDS - 1)]
        seen = send_until_bye(c, long_lines)
        self.assertEqual(len(seen), MAX_BAD_COMMANDS - 1, seen)
        c.send(b"L9 NOOP " + b"l" * (MAX_LINE_LENGTH + 1))
        time.sleep(0.5)
        c.send(b"l" * MAX_LINE_LENGTH + b"\r\n")
        time.sleep(0.5)
        self.assertEqual(c.read_response(), b"L9 BAD Command line too long\r\n")
        self.assertTrue(c.read_response().startswith(b"* BYE Too many bad commands"))
        self.assertEqual(c.read_until_closed(10), b"")
        self.assertServing()

    @gateway_only("framing is the gateway's")
    def test_framing_error_mid_command_says_bye(self):
        c = self.logged_in(BOB)
        # The literal has gone upstream when the rest of the command turns out too long to
        # frame: the command cannot be completed, so the session ends, with a reason.
        c.send(b"M1 APPEND INBOX {5+}\r\nhello " + b"x" * (MAX_LINE_LENGTH * 2) + b"\r\n")
        rest = c.read_until_closed(10)
        self.assertIn(b"* BYE Command line too long", rest)
        self.assertServing()

    def test_bad_command_flood_ends_with_bye(self):
        c = self.imaps()
        limit = MAX_BAD_COMMANDS + 1 if ICALGATE else 30
        responses = send_until_bye(c, [b"B%d )(\r\n" % i for i in range(limit + 1)])
        self.assertTrue(responses and responses[0].startswith((b"B0 BAD", b"* BAD")), responses)
        self.assertTrue(responses[-1].startswith(b"* BYE"), f"no BYE after {len(responses)} bad commands: {responses}")
        self.assertLessEqual(len([r for r in responses if b" BAD " in r]), limit)
        self.assertEqual(c.read_until_closed(10), b"")
        self.assertServing()

    def test_client_disconnect_mid_literal(self):
        # After login, in the middle of a large APPEND, with a reset.
        c = self.logged_in(BOB)
        c.send(b"X1 APPEND INBOX {1000000}\r\n")
        self.assertTrue(c.read_response().startswith(b"+"))
        c.send(b"z" * 1000)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        # Before login, in the middle of a LOGIN literal, with a clean close.
        p = self.imaps()
        p.send(b"X1 LOGIN " + quote(ALICE) + b" {100}\r\n")
        self.assertTrue(p.read_response().startswith(b"+"))
        p.send(b"abc")
        p.close()
        # With a non-synchronizing literal in flight.
        q = self.logged_in(BOB)
        q.send(b"X2 APPEND INBOX {500000+}\r\n" + b"q" * 20000)
        q.close()
        self.assertServing()
        b = self.logged_in(BOB)
        untagged = b.check(b"SELECT INBOX")
        self.assertTrue(any(u.endswith(b" EXISTS\r\n") for u in untagged))

    def test_concurrent_sessions(self):
        n = 50
        expected = {}
        d = self.direct()
        d.login(ALICE, password(ALICE))
        d.check(b"EXAMINE INBOX")
        for seq in range(1, 6):
            expected[seq] = d.command(b"FETCH %d (BODY.PEEK[])" % seq)[0]
        barrier = threading.Barrier(n, timeout=60)

        def session(i: int) -> str:
            c = self.w.connect_imaps(timeout=60)
            try:
                barrier.wait()  # all connected at once before anyone logs in
                c.login(ALICE, password(ALICE))
                c.check(b"EXAMINE INBOX")
                seq = i % 5 + 1
                got = c.command(b"FETCH %d (BODY.PEEK[])" % seq)[0]
                if got != expected[seq]:
                    return f"session {i}: FETCH {seq} differs"
                _, tagged = c.command(b"LOGOUT")
                return "" if status_of(tagged) == b"OK" else f"session {i}: LOGOUT {tagged!r}"
            except Exception as e:  # report every session's failure, not just the first
                return f"session {i}: {type(e).__name__}: {e}"
            finally:
                c.close()

        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            results = list(pool.map(session, range(n)))
        self.assertEqual([r for r in results if r], [])
        self.assertServing()


# =============================================================================== gateway life


class GatewayLifeTest(Base):
    def test_upstream_kick_reaches_the_client_as_its_bye(self):
        # The upstream ends an authenticated session by itself (Dovecot's admin kick; Exchange
        # does the same, e.g. "* BYE ... AccessTokenExpired"): the client reads that BYE and
        # the connection closes cleanly.
        c = self.imaps()
        c.login(BOB, password(BOB))
        c.check(b"SELECT INBOX")
        subprocess.run(["doveadm", "-c", self.w.upstream.dovecot.conf, "kick", BOB], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        rest = c.read_until_closed(15)
        self.assertIn(b"* BYE", rest)
        if ICALGATE is not None:
            wait = time.monotonic() + 10
            while "reason=upstream_bye" not in self.w.gateway.log_text() and time.monotonic() < wait:
                time.sleep(0.1)
            self.assertIn("reason=upstream_bye", self.w.gateway.log_text())

    @gateway_only("Dovecot never says it: a shim in front of it answers as Exchange Online does")
    def test_upstream_lost_session_ends_with_bye(self):
        # Exchange Online answers every command of a session whose backend lost the mailbox
        # with "TAG BAD User is authenticated but not connected." and keeps the connection
        # open. The client must not get that BAD (its command was fine) nor a session that
        # answers nothing: it gets a BYE saying why, the connection closes, the gateway
        # closes its upstream connection and logs the end. With --graphsim the FETCH is held
        # and may be probed first: the probe meeting the BAD ends the session just the same.
        shim = exchange_shim.ExchangeShim(self.w.upstream_port_for(UPSTREAM_TLS), self.w.certs,
                                          starttls=UPSTREAM_TLS == "starttls").start()
        self.addCleanup(shim.stop)
        # The shim is Python threads: on a loaded machine its first answer has taken over the
        # default 5 s connect timeout (seen in a starttls run), hence a longer one.
        gw = env.Gateway(self.w.icalgate, self.w.root, self.w.certs, shim.port, UPSTREAM_TLS, name="lost",
                         extra_config=rewrite_config("lost"), upstream={"connect_timeout": "15s"})
        self.w.extra_gateways.append(gw)  # its exit and log are checked after the suite
        gw.start()
        self.addCleanup(gw.stop)
        for n, command in enumerate((b"NOOP", b"FETCH 1 (BODY.PEEK[HEADER])", b"SELECT INBOX"), 1):
            with self.subTest(command=command):
                c = Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"])
                self.addCleanup(c.close)
                c.login(ALICE, password(ALICE))
                c.check(b"EXAMINE INBOX")
                lost = shim.lose_sessions()
                self.assertEqual(len(lost), 1, "one upstream session open for this client")
                c.send(b"L%d " % n + command + b"\r\n")
                started = time.monotonic()
                rest = c.read_until_closed(15)
                self.assertLess(time.monotonic() - started, 5, f"the session lingered: {rest!r}")
                lines = rest.splitlines(keepends=True)
                self.assertTrue(lines, "the connection closed without a word")
                self.assertRegex(lines[-1], rb"^\* BYE [^\r\n]*[A-Za-z]{3}[^\r\n]*\r\n$",
                                 f"not a BYE with a reason, then the close: {rest!r}")
                self.assertNotIn(b"not connected", rest, "Exchange's words relayed as they are")
                for line in lines:
                    if line.startswith(b"L%d " % n):
                        self.assertStatus(line, b"NO", "the lost command's tagged answer")
                # The gateway hung up on the upstream (Exchange would keep the connection open).
                self.assertTrue(lost[0].ended.wait(10), "the gateway kept its upstream connection")
                self.assertTrue(lost[0].gateway_closed.is_set(), "the upstream side ended it, not the gateway")
                # Nothing more went upstream after the BAD (with the rewrite, the held FETCH's
                # probe may meet it first: then the FETCH itself is not sent).
                self.assertEqual(len(lost[0].lost_answers), 1, lost[0].lost_answers)

                def session_end() -> list[str]:
                    return [line for line in gw.log_text().splitlines()
                            if "session_end" in line and f"user={ALICE}" in line]

                env.wait_until(lambda: len(session_end()) == n, 10, what="the session_end line")
                self.assertIn("reason=upstream_lost", session_end()[-1])
        self.assertTrue(gw.running, gw.log_tail())

    @gateway_only("the log is the gateway's")
    def test_trace_log_holds_no_secrets(self):
        gw = self.w.gateway
        # Every way a secret crosses the gateway, all in this test (others may add more).
        c = self.imaps()
        c.login(ALICE, password(ALICE))
        c.logout()
        c = self.imaps()
        pw = password(BOB).encode()
        c.send(b"L1 LOGIN " + quote(BOB) + b" {%d}\r\n" % len(pw))
        self.assertTrue(c.read_response().startswith(b"+"))
        c.send(pw + b"\r\n")
        self.assertStatus(c.collect(b"L1")[1], b"OK")
        c.logout()
        c = self.imaps()
        self.assertStatus(c.command(b"AUTHENTICATE PLAIN " + sasl_plain(ALICE, password(ALICE)))[1], b"OK")
        c.logout()
        c = self.imaps()
        c.send(b"A1 AUTHENTICATE PLAIN\r\n")
        c.read_response()
        c.send(sasl_plain(BOB, password(BOB)) + b"\r\n")
        self.assertStatus(c.collect(b"A1")[1], b"OK")
        c.logout()
        c = self.imaps()
        self.assertStatus(c.command(b"LOGIN " + quote(ALICE) + b' "Wr0ng-Secret-9931"')[1], b"NO")
        c.logout()
        c = self.imaps()
        token = self.w.upstream.oauth2.token(ALICE)
        self.assertStatus(c.command(b"AUTHENTICATE XOAUTH2 " + env.xoauth2_payload(ALICE, token))[1], b"OK")
        c.logout()
        # Session-end lines are written when sessions close: wait for alice's and bob's.
        env.wait_until(lambda: ALICE in gw.log_text() and BOB in gw.log_text(), 10, what="session lines naming the users")
        log = gw.log_text()
        self.assertGreater(len(log.splitlines()), 10, "the trace log is nearly empty")
        secrets = self.w.secrets()
        secrets["a wrong password"] = "Wr0ng-Secret-9931"
        secrets["bob's password as a quoted string"] = quote(password(BOB)).decode()
        self.assertEqual(env.secret_leaks(log, secrets, str(gw.log_path)), [])

    @gateway_only("the gateway's own drain")
    def test_sigterm_drains_with_bye_and_exit_0(self):
        gw = self.gateway(name="sigterm", limits={"shutdown_grace": "2s", "login_failure_delay": "0"})
        c = Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"])
        self.addCleanup(c.close)
        c.login(ALICE, password(ALICE))
        c.check(b"EXAMINE INBOX")
        pre = Imap(gw.imap_port, tls=False, ca_file=self.w.certs["ca"])
        self.addCleanup(pre.close)
        started = time.monotonic()
        gw.signal(signal.SIGTERM)
        # Sessions may finish their work during the grace period.
        self.assertStatus(c.command(b"NOOP")[1], b"OK", "NOOP during the grace period")
        rest = c.read_until_closed(15)
        self.assertIn(b"* BYE", rest, "no BYE before the close")
        self.assertIn(b"* BYE", pre.read_until_closed(15), "no BYE for a pre-auth session")
        code = gw.wait(15)
        self.assertIsNotNone(code, f"icalgate still running 15 s after SIGTERM\n{gw.log_tail()}")
        self.assertEqual(code, 0, gw.log_tail())
        self.assertLess(time.monotonic() - started, 2 + 10)
        self.assertFalse(env.port_accepts(gw.imaps_port), "still accepting after exit")

    @gateway_only("connection caps are the gateway's")
    def test_per_ip_connection_cap(self):
        gw = self.gateway(name="cap", limits={"max_connections_per_ip": 3, "login_failure_delay": "0"})
        # The readiness probes of env.Gateway.start() count until the gateway has seen them
        # close: retry each admission briefly rather than racing them.
        held = []
        for _ in range(3):
            c = env.wait_until(lambda: _try_greeting(gw.imaps_port, self.w.certs["ca"]), 10, what="an admitted session")
            self.addCleanup(c.close)
            held.append(c)
        refused = Imap(gw.imap_port, tls=False, ca_file=self.w.certs["ca"], read_greeting=False)
        self.addCleanup(refused.close)
        rest = refused.read_until_closed(10)
        self.assertTrue(rest.startswith(b"* BYE"), f"the 4th connection from one address got {rest!r}")
        # The capped sessions still work, and a slot frees up when one of them leaves.
        held[0].login(ALICE, password(ALICE))
        held[0].logout()
        c = env.wait_until(lambda: _try_greeting(gw.imaps_port, self.w.certs["ca"]), 10, what="a free slot")
        self.addCleanup(c.close)

    @gateway_only("the pre-auth timeout is the gateway's")
    def test_preauth_timeout(self):
        gw = self.gateway(name="preauth", limits={"preauth_timeout": "2s", "login_failure_delay": "0"})
        c = Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"])
        self.addCleanup(c.close)
        started = time.monotonic()
        rest = c.read_until_closed(15)
        self.assertIn(b"* BYE", rest)
        self.assertGreater(time.monotonic() - started, 1.0)
        # A session that logs in is no longer subject to it.
        d = Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"])
        self.addCleanup(d.close)
        d.login(ALICE, password(ALICE))
        time.sleep(2.5)
        self.assertStatus(d.command(b"NOOP")[1], b"OK")

    def reload_world(self, name: str) -> tuple[dict[str, Path], env.Gateway, Imap, bytes]:
        """A gateway serving certificates of its own (from the suite's CA), padded to fixed
        sizes, and a logged-in session through it: (certs, gateway, session, served leaf)."""
        certs = dev_certs(copy_ca(self.w.root / f"{name}-certs"))
        for key in ("fullchain", "privkey"):
            install_padded(certs[key], certs[key].read_bytes(), keep_stamp=False)
        gw = self.own_gateway(env.Gateway(self.w.icalgate, self.w.root, certs, self.w.upstream_port_for(UPSTREAM_TLS),
                                          UPSTREAM_TLS, name=name))
        live = Imap(gw.imaps_port, tls=True, ca_file=certs["ca"])
        self.addCleanup(live.close)
        live.login(ALICE, password(ALICE))
        live.check(b"EXAMINE INBOX")
        return certs, gw, live, live.sock.getpeercert(binary_form=True)

    def served_certificate(self, gw: env.Gateway, ca) -> bytes:
        c = Imap(gw.imaps_port, tls=True, ca_file=ca)
        try:
            return c.sock.getpeercert(binary_form=True)
        finally:
            c.close()

    @gateway_only("certificate reload is the gateway's")
    def test_sighup_reloads_certificate_without_dropping_sessions(self):
        certs, gw, live, before = self.reload_world("sighup")
        # A new leaf and key from the same CA, written over the served files with their old
        # size and modification time: the gateway's poll for changed files cannot see it,
        # only the SIGHUP can make it load them.
        fresh = dev_certs(copy_ca(self.w.root / "sighup-new-certs"))
        stamps = {k: os.stat(certs[k]) for k in ("fullchain", "privkey")}
        for key in ("privkey", "fullchain"):
            install_padded(certs[key], fresh[key].read_bytes(), keep_stamp=True)
        for key, st in stamps.items():
            now = os.stat(certs[key])
            self.assertEqual((now.st_size, now.st_mtime_ns), (st.st_size, st.st_mtime_ns), key)
        self.assertEqual(self.served_certificate(gw, certs["ca"]), before, "reloaded before the SIGHUP")
        gw.signal(signal.SIGHUP)
        env.wait_until(lambda: self.served_certificate(gw, certs["ca"]) != before, 10,
                       what="a new certificate for new connections after SIGHUP")
        self.assertEqual(self.served_certificate(gw, certs["ca"]), ssl.PEM_cert_to_DER_cert(fresh["cert"].read_text()))
        reloads = [line for line in gw.log_text().splitlines() if "certificate_reload" in line]
        self.assertEqual(len(reloads), 1, reloads)
        self.assertIn("certificate_reloaded", reloads[0])
        self.assertIn("trigger=SIGHUP", reloads[0])
        self.assertStatus(live.command(b"NOOP")[1], b"OK", "the live session after SIGHUP")
        self.assertEqual(len(live.command(b"FETCH 1 (BODY.PEEK[])")[0]), 1)
        self.assertTrue(gw.running)

    @gateway_only("certificate reload is the gateway's")
    def test_certificate_reloaded_when_files_change(self):
        # No signal: new files (a new modification time) are picked up by themselves.
        certs, gw, live, before = self.reload_world("filechange")
        fresh = dev_certs(copy_ca(self.w.root / "filechange-new-certs"))
        for key in ("privkey", "fullchain"):
            install_padded(certs[key], fresh[key].read_bytes(), keep_stamp=False)
        env.wait_until(lambda: self.served_certificate(gw, certs["ca"]) != before, 15,
                       what="a new certificate for new connections after the files changed")
        self.assertEqual(self.served_certificate(gw, certs["ca"]), ssl.PEM_cert_to_DER_cert(fresh["cert"].read_text()))
        reloaded = [line for line in gw.log_text().splitlines() if "certificate_reloaded" in line]
        self.assertTrue(reloaded and all("trigger=file_changed" in line for line in reloaded), reloaded)
        self.assertStatus(live.command(b"NOOP")[1], b"OK", "the live session after the reload")
        self.assertEqual(len(live.command(b"FETCH 1 (BODY.PEEK[])")[0]), 1)
        self.assertTrue(gw.running)

    @gateway_only("PROXY protocol is a gateway setting")
    def test_proxy_protocol_v1(self):
        gw = self.gateway(name="proxy", proxy_protocol=True)
        header = b"PROXY TCP4 203.0.113.77 127.0.0.1 40001 993\r\n"
        c = Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"], preamble=header)
        self.addCleanup(c.close)
        self.assertTrue(c.greeting.startswith(b"* OK"), c.greeting)
        c.login(ALICE, password(ALICE))
        c.check(b"EXAMINE INBOX")
        c.logout()
        header6 = b"PROXY TCP6 2001:db8::42 ::1 40002 143\r\n"
        p = Imap(gw.imap_port, tls=False, ca_file=self.w.certs["ca"], preamble=header6)
        self.addCleanup(p.close)
        self.assertTrue(p.greeting.startswith(b"* OK"), p.greeting)
        p.starttls()
        p.login(ALICE, password(ALICE))
        p.logout()
        env.wait_until(lambda: "203.0.113.77" in gw.log_text(), 10, what="203.0.113.77 in the gateway log")
        env.wait_until(lambda: "2001:db8::42" in gw.log_text(), 10, what="2001:db8::42 in the gateway log")

    def session_lines(self, gw: env.Gateway, event: str, client: str) -> list[str]:
        return [line for line in gw.log_text().splitlines() if f" {event} " in line and f" client={client} " in line]

    @gateway_only("PROXY protocol is a gateway setting")
    def test_proxy_protocol_v2_address_logged_and_limited(self):
        gw = self.gateway(name="proxy-v2", proxy_protocol=True, limits={"max_connections_per_ip": 2})
        ca = self.w.certs["ca"]
        for family, source, destination in (("IPv4", "198.51.100.23", "127.0.0.1"), ("IPv6", "2001:db8::23", "::1")):
            with self.subTest(family=family):
                header = proxy_v2(source, destination, 40123, 993)
                # The address in the header is the session's: logged at its start and end ...
                c = Imap(gw.imaps_port, tls=True, ca_file=ca, preamble=header)
                self.addCleanup(c.close)
                self.assertTrue(c.greeting.startswith(b"* OK"), c.greeting)
                c.login(ALICE, password(ALICE))
                c.check(b"EXAMINE INBOX")
                c.logout()
                p = Imap(gw.imap_port, tls=False, ca_file=ca, preamble=proxy_v2(source, destination, 40124, 143))
                self.addCleanup(p.close)
                p.starttls()
                p.login(ALICE, password(ALICE))
                p.logout()
                env.wait_until(lambda: len([l for l in self.session_lines(gw, "session_end", source)
                                            if f"user={ALICE}" in l and "reason=logout" in l]) == 2,
                               10, what=f"two session_end lines for {source}")
                self.assertEqual(len(self.session_lines(gw, "session_start", source)), 2)
                # ... and the one the per-address cap counts: two sessions from it are let in,
                # the third gets a BYE, on either listener; another address still gets in.
                held = [self.admitted(gw.imaps_port, preamble=header) for _ in range(2)]
                self.refused_with_bye(gw.imaps_port, preamble=header)
                self.refused_with_bye(gw.imap_port, tls=False, preamble=header)
                other = "198.51.100.24" if family == "IPv4" else "2001:db8::24"
                o = self.admitted(gw.imaps_port, preamble=proxy_v2(other, destination))
                o.login(ALICE, password(ALICE))
                o.logout()
                refused = [l for l in self.session_lines(gw, "session_end", source)
                           if "reason=too_many_connections_from_address" in l]
                self.assertEqual(len(refused), 2, refused)
                for c in held:
                    c.logout()

    @gateway_only("PROXY protocol is a gateway setting")
    def test_proxy_protocol_v2_ipv4_mapped_counts_as_ipv4(self):
        # ::ffff:203.0.113.7 is 203.0.113.7 (a load balancer on a dual-stack socket says so):
        # one key for the cap (and the penalty), one spelling in the log.
        gw = self.gateway(name="proxy-mapped", proxy_protocol=True, limits={"max_connections_per_ip": 2})
        plain = proxy_v2("203.0.113.7", "127.0.0.1", 40201)
        mapped = proxy_v2("::ffff:203.0.113.7", "::ffff:127.0.0.1", 40202)
        a = self.admitted(gw.imaps_port, preamble=plain)
        b = self.admitted(gw.imaps_port, preamble=mapped)
        b.login(ALICE, password(ALICE))
        self.refused_with_bye(gw.imaps_port, preamble=mapped)
        self.refused_with_bye(gw.imaps_port, preamble=plain)
        self.assertNotIn("client=::ffff:203.0.113.7", gw.log_text())
        self.assertEqual(len(self.session_lines(gw, "session_start", "203.0.113.7")), 4)
        a.logout()
        b.logout()

    @gateway_only("connection caps are the gateway's")
    def test_total_connection_cap(self):
        # Every session from an address of its own (PROXY headers): only the total counts.
        gw = self.gateway(name="total-cap", proxy_protocol=True,
                          limits={"max_connections": 2, "max_connections_per_ip": 100})
        held = [self.admitted(gw.imaps_port, preamble=proxy_v2(f"198.51.100.{31 + i}", "127.0.0.1")) for i in range(2)]
        self.refused_with_bye(gw.imaps_port, preamble=proxy_v2("198.51.100.40", "127.0.0.1"))
        self.refused_with_bye(gw.imap_port, tls=False, preamble=proxy_v2("198.51.100.41", "127.0.0.1"))
        env.wait_until(lambda: len([l for l in gw.log_text().splitlines()
                                    if "session_end" in l and "reason=too_many_connections " in l + " "]) == 2,
                       10, what="two session_end lines with reason=too_many_connections")
        # The held sessions work; when one ends, its slot is free again.
        held[0].login(ALICE, password(ALICE))
        held[0].check(b"EXAMINE INBOX")
        held[0].logout()
        c = self.admitted(gw.imaps_port, preamble=proxy_v2("198.51.100.42", "127.0.0.1"))
        c.login(ALICE, password(ALICE))
        self.refused_with_bye(gw.imaps_port, preamble=proxy_v2("198.51.100.43", "127.0.0.1"))
        self.assertStatus(held[1].command(b"NOOP")[1], b"OK")

    @gateway_only("the idle timeout is the gateway's")
    def test_idle_timeout_cuts_quiet_sessions_but_not_idle(self):
        gw = self.gateway(name="idle", limits={"idle_timeout": "2s"})
        ca = self.w.certs["ca"]
        idler = Imap(gw.imaps_port, tls=True, ca_file=ca)
        self.addCleanup(idler.close)
        idler.login(BOB, password(BOB))
        exists = [int(m.group(1)) for u in idler.check(b"SELECT INBOX") if (m := re.match(rb"\* (\d+) EXISTS", u))]
        self.assertEqual(len(exists), 1)
        idler.send(b"I1 IDLE\r\n")
        self.assertTrue(idler.read_response().startswith(b"+"))
        quiet = Imap(gw.imaps_port, tls=True, ca_file=ca)
        self.addCleanup(quiet.close)
        quiet.login(ALICE, password(ALICE))
        quiet.check(b"EXAMINE INBOX")
        started = time.monotonic()
        # A logged-in session that says nothing is ended after idle_timeout, with a reason.
        rest = quiet.read_until_closed(15)
        self.assertGreater(time.monotonic() - started, 1.5, f"cut before idle_timeout: {rest!r}")
        self.assertRegex(rest, rb"^\* BYE [^\r\n]*[A-Za-z]{3}[^\r\n]*\r\n$")
        env.wait_until(lambda: "reason=idle_timeout" in gw.log_text(), 10, what="reason=idle_timeout in the log")
        # One in IDLE is not (RFC 9051: at least 30 minutes): three times as long later it
        # still gets another session's APPEND at once, and DONE ends its IDLE.
        time.sleep(max(0.0, started + 6 - time.monotonic()))
        other = self.logged_in(BOB)
        msg = b"From: x@contoso.com\r\nSubject: idle past the timeout\r\nMessage-ID: <idle-timeout@contoso.com>\r\n\r\nhi\r\n"
        self.assertStatus(other.append("INBOX", msg)[1], b"OK")
        idler.sock.settimeout(10.0)
        try:
            pushed = idler.read_push()
        except (socket.timeout, ConnectionError, ssl.SSLError) as e:
            self.fail(f"the IDLE session got no push after {time.monotonic() - started:.1f}s idle: {e!r}")
        self.assertEqual(pushed, b"* %d EXISTS\r\n" % (exists[0] + 1))
        idler.send(b"DONE\r\n")
        self.assertStatus(idler.collect(b"I1")[1], b"OK")
        self.assertStatus(idler.command(b"NOOP")[1], b"OK")
        self.assertEqual(len([l for l in gw.log_text().splitlines() if "reason=idle_timeout" in l]), 1)

    def test_client_that_vanishes_closes_its_upstream(self):
        # The client goes away without LOGOUT: reset in the middle of an APPEND literal, or a
        # close right after login. Dovecot sees its session end within seconds (an ID sent
        # after login names the Dovecot session in Dovecot's log).
        for how in ("reset mid-APPEND", "close after login"):
            with self.subTest(how=how):
                name = f"vanish-{how.split()[0]}-{os.getpid()}-{time.monotonic_ns()}"
                c = self.imaps()
                c.login(BOB, password(BOB))
                self.assertStatus(c.command(b'ID ("name" "%s")' % name.encode())[1], b"OK")
                c.check(b"SELECT INBOX")
                prefix = env.wait_until(lambda: dovecot_session_prefix(self.w.upstream.log_text(), name), 10,
                                        what=f"Dovecot's log of the ID {name}")
                self.assertFalse(dovecot_session_ended(self.w.upstream.log_text(), prefix))
                if how == "reset mid-APPEND":
                    c.send(b"X1 APPEND INBOX {1000000}\r\n")
                    self.assertTrue(c.read_response().startswith(b"+"))
                    c.send(b"z" * 1000)
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
                env.wait_until(lambda: dovecot_session_ended(self.w.upstream.log_text(), prefix), 5,
                               what=f"Dovecot's session {prefix} to end after the client {how}")
        self.assertServing()

    @gateway_only("the failed-login penalty is the gateway's")
    def test_failed_login_penalty(self):
        # Dovecot adds up to 0.5 s of its own to a failed login (its failure delay timer,
        # even at 0): the gateway's delay is 1 s, so that only it can account for the times.
        base = 1.0
        gw = self.gateway(name="penalty", limits={"login_failure_delay": "1s"})
        ca = self.w.certs["ca"]

        def timed_login(c: Imap, secret: str) -> tuple[bytes, float]:
            started = time.monotonic()
            _, tagged = c.command(b"LOGIN " + quote(ALICE) + b" " + quote(secret))
            return tagged, time.monotonic() - started

        # Failures from one address, on two connections: the first answer waits at least the
        # configured delay, the second twice that.
        first = Imap(gw.imaps_port, tls=True, ca_file=ca)
        self.addCleanup(first.close)
        second = Imap(gw.imaps_port, tls=True, ca_file=ca)
        self.addCleanup(second.close)
        took = []
        for n, c in enumerate((first, second)):
            tagged, seconds = timed_login(c, f"not-the-password-{n}")
            self.assertStatus(tagged, b"NO", f"wrong password #{n + 1}")
            took.append(seconds)
        for n, seconds in enumerate(took):
            self.assertGreaterEqual(seconds, base * 2 ** n * 0.95, f"failure #{n + 1}: answers after {took}")
        # The right password still works, without the penalty (a third failure would wait 4 s).
        good = Imap(gw.imaps_port, tls=True, ca_file=ca)
        self.addCleanup(good.close)
        tagged, seconds = timed_login(good, password(ALICE))
        self.assertStatus(tagged, b"OK", "the right password after failures")
        self.assertLess(seconds, base * 2, "the successful login was delayed")
        good.check(b"EXAMINE INBOX")
        # A success starts it over: the next failure waits the base delay again, not 4 s.
        tagged, seconds = timed_login(first, "not-the-password-again")
        self.assertStatus(tagged, b"NO")
        self.assertGreaterEqual(seconds, base * 0.95)
        self.assertLess(seconds, base * 3, "the penalty went on after a successful login")

    @gateway_only("the gateway's own drain")
    def test_sigterm_closes_listeners_while_sessions_finish(self):
        grace = 3.0
        gw = self.gateway(name="drain", limits={"shutdown_grace": "3s"})
        c = Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"])
        self.addCleanup(c.close)
        c.login(ALICE, password(ALICE))
        c.check(b"EXAMINE INBOX")
        self.assertTrue(env.port_accepts(gw.imaps_port))
        started = time.monotonic()
        gw.signal(signal.SIGTERM)
        env.wait_until(lambda: " draining " in gw.log_text(), 5, what="the draining log line")
        # No new connection during the grace period, on either listener ...
        self.assertFalse(env.port_accepts(gw.imaps_port), "the imaps listener accepts during the drain")
        self.assertFalse(env.port_accepts(gw.imap_port), "the imap listener accepts during the drain")
        # ... while the session keeps working until it ends.
        self.assertEqual(len(c.check(b"FETCH 1 (BODY.PEEK[HEADER])")), 1)
        time.sleep(max(0.0, started + grace / 2 - time.monotonic()))
        self.assertStatus(c.command(b"NOOP")[1], b"OK", "NOOP in the middle of the grace period")
        self.assertFalse(env.port_accepts(gw.imaps_port))
        rest = c.read_until_closed(15)
        self.assertRegex(rest, rb"^\* BYE [^\r\n]*[A-Za-z]{3}[^\r\n]*\r\n$", "the end of the grace period")
        self.assertGreater(time.monotonic() - started, grace * 0.9, "cut before the grace period ended")
        self.assertEqual(gw.wait(15), 0, gw.log_tail())

    @gateway_only("needs the gateway between the client and a failing upstream")
    def test_upstream_killed_mid_fetch_then_down(self):
        big = b"Subject: big\r\n\r\n" + b"".join(b"%07d %s\r\n" % (i, b"z" * 90) for i in range(200000))
        with env.World(icalgate=ICALGATE, seed=[("big", big)], upstream_tls=UPSTREAM_TLS,
                       gateway_options=dict(upstream={"connect_timeout": "3s"})) as w:
            # The upstream dies while a 20 MB FETCH is streaming through the gateway to a
            # client that reads slowly (so that the gateway cannot have it all buffered).
            f = w.connect_imaps(rcvbuf=256 * 1024)
            self.addCleanup(f.close)
            f.login(ALICE, password(ALICE))
            f.check(b"EXAMINE INBOX")
            f.send(b"F1 FETCH 1 (BODY.PEEK[])\r\n")
            first = f.sock.recv(65536)
            self.assertTrue(first.startswith(b"* 1 FETCH"), first[:100])
            w.upstream.stop()
            rest = f.read_until_closed(30)  # ends, rather than hanging
            got = len(first) + len(rest)
            if b"\r\nF1 OK " in rest[-300:]:
                self.assertGreater(got, len(big), "F1 OK after a truncated literal")
            else:
                # Cut inside the literal: a BYE there would be read as message data, so closing
                # the connection is the only honest end (the client sees a truncated response).
                self.assertLess(got, len(big), "the whole message arrived but no tagged OK")
            self.assertTrue(w.gateway.running, w.gateway.log_tail())

            # With the upstream gone, a login gets a clear NO.
            c = w.connect_imaps()
            self.addCleanup(c.close)
            self.assertTrue(c.greeting.startswith(b"* OK"), c.greeting)
            try:
                c.send(b"L1 LOGIN " + quote(ALICE) + b" " + quote(password(ALICE)) + b"\r\n")
                untagged, tagged = c.collect(b"L1")
            except ConnectionError:
                self.fail("connection dropped without a tagged NO for LOGIN")
            self.assertStatus(tagged, b"NO", "LOGIN with the upstream down")
            # A clean end: the gateway closes (with BYE), or LOGOUT is answered and closes.
            try:
                c.send(b"L2 LOGOUT\r\n")
            except OSError:
                pass
            rest = c.read_until_closed(15)
            self.assertTrue(rest == b"" or b"* BYE" in rest or any(b"* BYE" in u for u in untagged), rest)
            self.assertTrue(w.gateway.running, w.gateway.log_tail())
            w.gateway.stop()
            self.assertEqual(w.gateway.exit_problems(), [], w.gateway.log_tail())

    def assert_login_refused_cleanly(self, gw: env.Gateway, what: str) -> None:
        """LOGIN gets a tagged NO with a reason, the session stays usable, LOGOUT ends it."""
        c = Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"])
        self.addCleanup(c.close)
        untagged, tagged = c.command(b"LOGIN " + quote(ALICE) + b" " + quote(password(ALICE)))
        self.assertRegex(tagged, rb"^T1 NO [^\r\n]*[A-Za-z]{3}", f"LOGIN through {what}")
        self.assertStatus(c.command(b"NOOP")[1], b"OK", f"NOOP after the refused LOGIN ({what})")
        untagged, tagged = c.command(b"LOGOUT")
        self.assertStatus(tagged, b"OK")
        self.assertTrue(any(u.startswith(b"* BYE") for u in untagged), untagged)
        self.assertEqual(c.read_until_closed(10), b"")
        self.assertNotIn(password(ALICE), gw.log_text())
        self.assertTrue(gw.running, gw.log_tail())

    @gateway_only("upstream verification is the gateway's")
    def test_upstream_certificate_from_untrusted_ca(self):
        # Dovecot's certificate names the right host but comes from a CA the gateway does
        # not trust (its ca_file holds another one).
        other = env.make_certs(self.w.root / "untrusted-ca")
        self.assertNotEqual(other["ca"].read_bytes(), self.w.certs["ca"].read_bytes())
        gw = self.own_gateway(env.Gateway(self.w.icalgate, self.w.root, dict(self.w.certs, ca=other["ca"]),
                                          self.w.upstream_port_for(UPSTREAM_TLS), UPSTREAM_TLS, name="untrusted"))
        self.assert_login_refused_cleanly(gw, "an upstream with an untrusted certificate")
        failed = [l for l in gw.log_text().splitlines() if "upstream_failed" in l]
        self.assertTrue(failed and "error=verification" in failed[0], failed)

    @gateway_only("needs the gateway in front of the upstream")
    def test_upstream_greets_with_bye(self):
        upstream = GreetingByeServer(self.w.certs, UPSTREAM_TLS).start()
        self.addCleanup(upstream.stop)
        gw = self.own_gateway(env.Gateway(self.w.icalgate, self.w.root, self.w.certs, upstream.port, UPSTREAM_TLS,
                                          name="bye-greeting"))
        self.assert_login_refused_cleanly(gw, "an upstream that greets with BYE")
        self.assertGreaterEqual(upstream.connections, 1)
        failed = [l for l in gw.log_text().splitlines() if "upstream_failed" in l]
        self.assertTrue(failed and "error=bye" in failed[0], failed)

    @gateway_only("upstream verification is the gateway's")
    def test_upstream_certificate_for_wrong_name(self):
        gw = self.gateway(name="wrongname", server_name="not-localhost.example")
        c = Imap(gw.imaps_port, tls=True, ca_file=self.w.certs["ca"])
        self.addCleanup(c.close)
        _, tagged = c.command(b"LOGIN " + quote(ALICE) + b" " + quote(password(ALICE)))
        self.assertStatus(tagged, (b"NO",), "LOGIN through an unverifiable upstream")
        self.assertNotIn(password(ALICE), gw.log_text())
        self.assertTrue(gw.running)


def main() -> int:
    global ICALGATE, UPSTREAM_TLS, GRAPHSIM
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--icalgate", help="the icalgate executable to test")
    mode.add_argument("--direct", action="store_true", help="no gateway: check the assertions against Dovecot")
    ap.add_argument("--graphsim", help="icalgate-graphsim: run the shared gateway with the rewrite on")
    ap.add_argument("--upstream-tls", choices=("implicit", "starttls"), default="implicit",
                    help="how the gateway connects to Dovecot (default implicit)")
    args, rest = ap.parse_known_args()
    UPSTREAM_TLS = args.upstream_tls
    if args.icalgate:
        ICALGATE = os.path.abspath(args.icalgate)
    if args.graphsim:
        GRAPHSIM = os.path.abspath(args.graphsim)
    with env.sigterm_as_exception():
        prog = unittest.main(argv=[sys.argv[0], "-v"] + rest, exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
