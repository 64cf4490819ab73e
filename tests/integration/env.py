"""The world an integration test or the demo runs in.

    with World(icalgate="build/dev/bin/icalgate") as w:
        c = w.connect_imaps()            # to the gateway's implicit-TLS listener
        c.login(w.user, w.password)
        d = w.connect_upstream_imaps()   # the same Dovecot, directly

A World holds development certificates (certs/dev-ca.sh), a private Dovecot 2.3 on
127.0.0.1 with TLS (implicit on an imaps port, STARTTLS on its imap port), users with
passwords, the corpus seeded by APPEND, and icalgate in front of it with a generated
configuration. With icalgate=None the World has no gateway and every connect_* goes to
Dovecot directly: that is how the suites check their own assertions against the reference.

Everything listens on 127.0.0.1 on free ports, lives in one temporary directory, and is
torn down (process groups killed, directories removed) however the test ends.

Only the Python 3.11 standard library is used.
"""

from __future__ import annotations

import atexit
import base64
import email
import email.policy
import email.utils
import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "differential"))

from dovecot import Dovecot  # noqa: E402  (the differential harness's Dovecot)

CORPUS_DIR = REPO / "tests" / "corpus"
DEV_CA = REPO / "certs" / "dev-ca.sh"
HOST = "127.0.0.1"

# Default accounts. The passwords contain a space and a quote on purpose: they need a quoted
# string or a literal on the wire, and they are distinctive enough to grep logs for.
USERS = {
    "alice@contoso.com": 'Wh1te Rabbit-7731',
    "bob@contoso.com": 'B0b "the" Builder-5520',
}


# Every gateway started in this process (however it was made) and every World's secrets: a
# gateway's log is scanned for all of them when it stops (see Gateway.stop, World.stop_and_check
# and _report_unscanned_leaks).
_STARTED_GATEWAYS: list["Gateway"] = []
_WORLDS: list["World"] = []


class EnvError(RuntimeError):
    """The world could not be built (a clear reason, with log excerpts)."""


class ImapProtocolError(RuntimeError):
    pass


# --------------------------------------------------------------------------- helpers


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A port free now and not handed out before in this process: the kernel may offer the
    same ephemeral port twice in a row, and a gateway given one port for both of its
    listeners refuses to start."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll predicate() until it returns a true value; return it, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def port_accepts(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def corpus_messages() -> list[tuple[str, bytes]]:
    """(file name, bytes) of every corpus message an APPEND can carry, in name order."""
    out = []
    for path in sorted(CORPUS_DIR.glob("*.eml")):
        data = path.read_bytes()
        if b"\0" in data or not data:
            continue
        out.append((path.name, data))
    return out


def exchange_messages() -> list[tuple[str, bytes]]:
    """The Exchange-shaped messages of the corpus (OWA-link and iMIP invitations)."""
    return [(n, d) for n, d in corpus_messages() if "exchange" in n]


def sasl_plain(user: str, password: str) -> bytes:
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())


def quote(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return b'"' + b.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def make_certs(directory: Path) -> dict[str, Path]:
    """Development CA and a server certificate for localhost and 127.0.0.1."""
    directory.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["sh", str(DEV_CA), str(directory), "localhost", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=120,
    )
    if r.returncode != 0:
        raise EnvError(f"certs/dev-ca.sh failed ({r.returncode}):\n{r.stdout.decode(errors='replace')}")
    paths = {k: directory / f"{k}.pem" for k in ("ca", "fullchain", "privkey", "cert")}
    for k, p in paths.items():
        if not p.is_file():
            raise EnvError(f"certs/dev-ca.sh did not write {p}")
    return paths


def client_tls_context(ca_file: str | Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


# --------------------------------------------------------------------------- raw client

_LITERAL_AT_END = re.compile(rb"~?\{(\d+)\+?\}\r\n$")
_TIMING = re.compile(rb" \(\d+\.\d+ \+ \d+\.\d+(?: \+ \d+\.\d+)? secs\)\.")


def strip_timing(line: bytes) -> bytes:
    """Dovecot appends '(0.001 + 0.000 secs).' to tagged replies; comparisons ignore it."""
    return _TIMING.sub(b".", line)


def status_of(tagged: bytes) -> bytes:
    """b'OK', b'NO' or b'BAD' from a tagged line (b'' if malformed)."""
    parts = tagged.split(b" ", 2)
    return parts[1].upper() if len(parts) > 1 else b""


class Imap:
    """A raw-bytes IMAP client over TCP, TLS from the first byte, or STARTTLS.

    Responses are returned exactly as received (literals included, CRLF-terminated), so
    that a response through the gateway can be compared byte for byte with Dovecot's.
    """

    def __init__(
        self,
        port: int,
        *,
        tls: bool,
        ca_file: str | Path | None = None,
        server_name: str = "localhost",
        host: str = HOST,
        timeout: float = 30.0,
        preamble: bytes = b"",
        read_greeting: bool = True,
        rcvbuf: int | None = None,
    ):
        self.ca_file = ca_file
        self.server_name = server_name
        self.timeout = timeout
        if rcvbuf is None:
            raw = socket.create_connection((host, port), timeout=timeout)
        else:  # a small receive window, set before connecting, makes the server wait on us
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            raw.settimeout(timeout)
            try:
                raw.connect((host, port))
            except BaseException:
                raw.close()
                raise
        try:
            if preamble:
                raw.sendall(preamble)
            if tls:
                raw = client_tls_context(ca_file).wrap_socket(raw, server_hostname=server_name)
        except BaseException:
            raw.close()
            raise
        self.sock = raw
        self._buf = b""
        self.wire_in = 0  # bytes received, before decompression
        self._deflate = None
        self._inflate = None
        self._tagno = 0
        self.greeting = b""
        if read_greeting:
            self.greeting = self.read_response()

    # -- bytes -------------------------------------------------------------
    def _fill(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("connection closed by server")
        self.wire_in += len(data)
        if self._inflate is not None:
            data = self._inflate.decompress(data)
        self._buf += data

    def compress(self) -> bytes:
        """COMPRESS DEFLATE (RFC 4978); from its OK on, both directions are raw deflate, the
        client's flushed after every send. Returns the tagged answer."""
        _, tagged = self.command(b"COMPRESS DEFLATE")
        if status_of(tagged) == b"OK":
            self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
            self._inflate = zlib.decompressobj(-15)
            self._buf = self._inflate.decompress(self._buf)  # what came right behind the OK
        return tagged

    def read_line(self) -> bytes:
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line, self._buf = self._buf[: i + 2], self._buf[i + 2 :]
                return line
            self._fill()

    def read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def read_response(self) -> bytes:
        """One complete response: a line, plus any literals and the lines after them."""
        out = bytearray()
        while True:
            line = self.read_line()
            out += line
            m = _LITERAL_AT_END.search(line)
            if not m:
                return bytes(out)
            out += self.read_exact(int(m.group(1)))

    def read_push(self) -> bytes:
        """The next response during IDLE that is not a keepalive: Dovecot sends "* OK Still
        here" at times it aligns per client address, so one may come at any moment."""
        while True:
            resp = self.read_response()
            if not resp.startswith(b"* OK "):
                return resp

    def read_until_closed(self, timeout: float = 10.0) -> bytes:
        """Everything the server sends until it closes the connection (or raise TimeoutError)."""
        deadline = time.monotonic() + timeout
        out = bytearray(self._buf)
        self._buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"server did not close within {timeout}s; got {bytes(out)[-300:]!r}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
                break
            if not data:
                break
            out += data
        self.sock.settimeout(self.timeout)
        return bytes(out)

    def send(self, data: bytes) -> None:
        if self._deflate is not None:
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def next_tag(self) -> bytes:
        self._tagno += 1
        return b"T%d" % self._tagno

    # -- commands ----------------------------------------------------------
    def collect(self, tag: bytes) -> tuple[list[bytes], bytes]:
        untagged: list[bytes] = []
        while True:
            resp = self.read_response()
            if resp.startswith(tag + b" "):
                return untagged, resp
            untagged.append(resp)

    def command(self, cmd: bytes) -> tuple[list[bytes], bytes]:
        tag = self.next_tag()
        self.send(tag + b" " + cmd + b"\r\n")
        return self.collect(tag)

    def check(self, cmd: bytes) -> list[bytes]:
        untagged, tagged = self.command(cmd)
        if status_of(tagged) != b"OK":
            raise ImapProtocolError(f"{cmd[:80]!r} failed: {tagged!r}")
        return untagged

    def capabilities(self) -> set[str]:
        untagged = self.check(b"CAPABILITY")
        caps: set[str] = set()
        for line in untagged:
            if line.upper().startswith(b"* CAPABILITY "):
                caps.update(line[len(b"* CAPABILITY ") :].decode().strip().upper().split())
        return caps

    def starttls(self) -> bytes:
        _, tagged = self.command(b"STARTTLS")
        if status_of(tagged) != b"OK":
            raise ImapProtocolError(f"STARTTLS refused: {tagged!r}")
        if self._buf:
            raise ImapProtocolError(f"plaintext after STARTTLS OK (injection): {self._buf!r}")
        self.sock = client_tls_context(self.ca_file).wrap_socket(self.sock, server_hostname=self.server_name)
        return tagged

    def login(self, user: str, password: str) -> bytes:
        _, tagged = self.command(b"LOGIN " + quote(user) + b" " + quote(password))
        if status_of(tagged) != b"OK":
            raise ImapProtocolError(f"LOGIN failed: {tagged!r}")
        return tagged

    def select(self, mailbox: str = "INBOX") -> list[bytes]:
        return self.check(b"SELECT " + quote(mailbox))

    def append(self, mailbox: str, message: bytes, *, literal_plus: bool = False) -> tuple[list[bytes], bytes]:
        tag = self.next_tag()
        head = tag + b" APPEND " + quote(mailbox) + b" {%d%s}\r\n" % (len(message), b"+" if literal_plus else b"")
        if literal_plus:
            self.send(head + message + b"\r\n")
        else:
            self.send(head)
            cont = self.read_response()
            if not cont.startswith(b"+"):
                raise ImapProtocolError(f"APPEND literal not accepted: {cont!r}")
            self.send(message + b"\r\n")
        return self.collect(tag)

    def logout(self) -> None:
        with contextlib.suppress(OSError, ConnectionError, ImapProtocolError, ssl.SSLError):
            self.command(b"LOGOUT")
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> "Imap":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def imap_date(date_header: str) -> str:
    """An IMAP date-time ("17-Nov-2026 10:02:11 +0100") for an RFC 5322 Date header."""
    return email.utils.parsedate_to_datetime(date_header).strftime("%d-%b-%Y %H:%M:%S %z")


def append_dated(conn: "Imap", mailbox: str, data: bytes) -> bytes:
    """APPEND with the message's Date header as INTERNALDATE (LITERAL+); the tagged line."""
    date = email.message_from_bytes(data, policy=email.policy.compat32)["Date"]
    when = b' "' + imap_date(date).encode() + b'"' if date else b""
    tag = conn.next_tag()
    conn.send(tag + b" APPEND " + quote(mailbox) + when + b" {%d+}\r\n" % len(data) + data + b"\r\n")
    _, tagged = conn.collect(tag)
    return tagged


def fetch_literals(untagged: list[bytes]) -> dict[int, bytes]:
    """{seq: first literal's data} from '* n FETCH (... {len}\\r\\n<data>...)' responses."""
    out = {}
    for resp in untagged:
        m = re.match(rb"\* (\d+) FETCH .*?\{(\d+)\}\r\n", resp, re.S)
        if m:
            start = m.end()
            out[int(m.group(1))] = resp[start : start + int(m.group(2))]
    return out


# --------------------------------------------------------------------------- processes


def offlineimap_config(root: Path, port: int, user: str, password: str, ca_file: str | Path,
                       tls: str = "imaps") -> str:
    """An offlineimaprc that pulls INBOX, read-only, from localhost:`port` into `root`/mail
    (`tls`: "imaps" or "starttls")."""
    return f"""[general]
accounts = acct
metadata = {root}/meta
ui = basic

[Account acct]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {root}/mail

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {port}
remoteuser = {user}
remotepass = {password.replace("%", "%%")}
ssl = {'yes' if tls == 'imaps' else 'no'}
starttls = {'no' if tls == 'imaps' else 'yes'}
sslcacertfile = {ca_file}
folderfilter = lambda f: f == 'INBOX'
readonly = True
timeout = 60
"""


def _kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, sig)


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class OAuth2Issuer:
    """Mints HS256 JWTs that Dovecot's oauth2 passdb (introspection_mode = local) accepts.

    Dovecot looks the key up as shared/<azp>/<alg>/<kid> in an fs dict that drops the
    "shared/" prefix: the secret goes base64-encoded into <dir>/keys/default/HS256/default.
    The same key, raw, is in `key_file`: icalgate-graphsim signs its IMAP tokens with it
    (`--jwt-key`), so that this Dovecot accepts what the identity-platform stand-in issues.

    App-only tokens (Exchange's IMAP.AccessAsApp) are checked by the Lua passdb
    tests/graphsim/exchange_app_passdb.lua, copied here when the Upstream enables it; the
    mailboxes each app may open are in `grants_file` ("<appid> <mailbox>" lines, see grant()).
    """

    EXCHANGE_AUDIENCE = "https://outlook.office365.com"
    APP_PASSDB = REPO / "tests" / "graphsim" / "exchange_app_passdb.lua"

    def __init__(self, directory: Path):
        self.dir = directory
        self.secret = os.urandom(32)
        self.args_file = directory / "oauth2.conf"
        self.key_file = directory / "jwt-key"
        self.grants_file = directory / "app-grants"
        self.app_passdb = directory / "exchange_app_passdb.lua"
        self.minted: list[str] = []
        keydir = directory / "keys" / "default" / "HS256"
        keydir.mkdir(parents=True, exist_ok=True)
        for d in (directory, directory / "keys", directory / "keys" / "default", keydir):
            os.chmod(d, 0o755)
        (keydir / "default").write_text(base64.b64encode(self.secret).decode())
        os.chmod(keydir / "default", 0o644)
        self.key_file.write_bytes(self.secret)
        os.chmod(self.key_file, 0o600)
        self.args_file.write_text(
            "introspection_mode = local\n"
            f"local_validation_key_dict = fs:posix:prefix={directory}/keys/\n"
            "username_attribute = email\n"
        )
        os.chmod(self.args_file, 0o644)
        self._grants: list[tuple[str, str]] = []
        self._write_grants()

    def _mint(self, claims: dict, secret: bytes | None) -> str:
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64url(json.dumps(claims).encode())
        sig = _b64url(hmac.new(secret or self.secret, header + b"." + body, hashlib.sha256).digest())
        tok = (header + b"." + body + b"." + sig).decode()
        self.minted.append(tok)
        return tok

    def token(self, user: str, lifetime: int = 600, secret: bytes | None = None) -> str:
        """A delegated token for `user` (what Exchange's IMAP.AccessAsUser.All token names)."""
        now = int(time.time())
        return self._mint({"sub": user, "email": user, "iat": now, "exp": now + lifetime}, secret)

    def app_token(self, appid: str, lifetime: int = 600, secret: bytes | None = None,
                  roles: list[str] | None = None, audience: str | None = None) -> str:
        """An app-only token as a client-credentials grant for outlook.office365.com/.default
        gives it: no user, roles ["IMAP.AccessAsApp"]."""
        now = int(time.time())
        claims = {"aud": audience or self.EXCHANGE_AUDIENCE, "iat": now, "nbf": now,
                  "exp": now + lifetime, "appid": appid, "sub": appid, "ver": "1.0",
                  "roles": ["IMAP.AccessAsApp"] if roles is None else roles}
        return self._mint(claims, secret)

    def grant(self, appid: str, mailbox: str) -> None:
        """Lets app `appid` open `mailbox` with an app token (Add-MailboxPermission)."""
        self._grants.append((appid, mailbox))
        self._write_grants()

    def revoke_grants(self, appid: str | None = None) -> None:
        self._grants = [g for g in self._grants if appid is not None and g[0] != appid]
        self._write_grants()

    def _write_grants(self) -> None:
        tmp = self.grants_file.with_suffix(".tmp")
        tmp.write_text("# appid mailbox, one grant a line\n" + "".join(f"{a} {m}\n" for a, m in self._grants))
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.grants_file)

    def enable_app_passdb(self) -> Path:
        """Copies the Lua passdb beside the key and the grants (it finds them there)."""
        shutil.copyfile(self.APP_PASSDB, self.app_passdb)
        os.chmod(self.app_passdb, 0o644)
        return self.app_passdb


def xoauth2_payload(user: str, token: str) -> bytes:
    return base64.b64encode(b"user=" + user.encode() + b"\x01auth=Bearer " + token.encode() + b"\x01\x01")


def oauthbearer_payload(user: str, token: str, port: int) -> bytes:
    return base64.b64encode(
        b"n,a=" + user.encode() + b",\x01host=localhost\x01port=%d\x01auth=Bearer " % port + token.encode() + b"\x01\x01"
    )


APP_PASSDB_MODULE = Path("/usr/lib/dovecot/modules/auth/libauthdb_lua.so")


class Upstream:
    """Dovecot with TLS: implicit on imaps_port, STARTTLS on imap_port; users; seeded mail.

    XOAUTH2 / OAUTHBEARER are checked for real: delegated tokens (the token names the login
    user) by Dovecot's oauth2 passdb; with app_auth=True also Exchange's app-only tokens
    (IMAP.AccessAsApp, user= any mailbox granted to the app: self.oauth2.grant()) by a Lua
    passdb, which needs Debian's dovecot-auth-lua.
    """

    def __init__(self, certs: dict[str, Path], users: dict[str, str], extra_config: str = "",
                 app_auth: bool = False):
        self.certs = certs
        self.users = users
        self.imaps_port = free_port()
        self.oauth2 = OAuth2Issuer(certs["ca"].parent.parent / "oauth2")
        self.app_auth = app_auth
        app_passdb = ""
        if app_auth:
            # Before the oauth2 passdb, which would answer a token without a user with an
            # internal failure: the Lua passdb decides app tokens (failure is final) and
            # hands everything else on (NEXT, which only a non-blocking passdb can return).
            app_passdb = f"""passdb {{
  driver = lua
  mechanisms = xoauth2 oauthbearer
  args = file={self.oauth2.enable_app_passdb()} blocking=no
  result_failure = return-fail
}}"""
        # Dovecot appends our text to its generated config: later settings win, and a second
        # `service imap-login` block adds to the first.
        tls_config = f"""
ssl = yes
ssl_cert = <{certs['fullchain']}
ssl_key = <{certs['privkey']}
ssl_min_protocol = TLSv1.2
auth_failure_delay = 0
# Dovecot logs every ID it is sent ("ID sent: name=..."): the gateway forwards the client's.
imap_id_log = *
# XOAUTH2 and OAUTHBEARER checked for real: an oauth2 passdb validating locally signed JWTs.
auth_mechanisms = plain login xoauth2 oauthbearer
{app_passdb}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {self.oauth2.args_file}
}}
mail_plugins = $mail_plugins zlib
protocol imap {{
  mail_plugins = $mail_plugins imap_zlib
}}
service imap-login {{
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
  service_count = 0
  process_min_avail = 1
  client_limit = 1000
}}
service imap {{
  process_limit = 1000
}}
# No per-IP auth penalty: every test client (and the gateway) comes from 127.0.0.1, and a
# test's wrong password must not slow the next test's login by seconds. (Mode 0 on anvil's
# penalty socket is Dovecot's documented way to turn the penalty off.)
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
default_client_limit = 2000
{extra_config}
"""
        self.dovecot = Dovecot(users=users, extra_config=tls_config, start_timeout=30.0)
        self.imap_port = 0

    def start(self) -> "Upstream":
        if self.app_auth and not APP_PASSDB_MODULE.exists():
            raise EnvError(f"app_auth needs Debian's dovecot-auth-lua ({APP_PASSDB_MODULE} is missing)")
        # Dovecot reads the key as root when it parses the config, but as a non-root user
        # it must be able to read it itself.
        self.dovecot.start()
        self.imap_port = self.dovecot.port
        wait_until(lambda: port_accepts(self.imaps_port), 30, what=f"dovecot imaps port {self.imaps_port}")
        return self

    @property
    def running(self) -> bool:
        return self.dovecot.proc is not None and self.dovecot.proc.poll() is None

    def stop(self) -> None:
        self.dovecot.stop()

    def connect(self, implicit_tls: bool = True, timeout: float = 30.0) -> Imap:
        if implicit_tls:
            return Imap(self.imaps_port, tls=True, ca_file=self.certs["ca"], timeout=timeout)
        return Imap(self.imap_port, tls=False, ca_file=self.certs["ca"], timeout=timeout)

    def seed(self, user: str, messages: list[tuple[str, bytes]], mailbox: str = "INBOX",
             dated: bool = False) -> None:
        """APPENDs the messages; `dated`: with their Date header as INTERNALDATE (as if they
        had arrived then), else now."""
        with self.connect() as c:
            c.login(user, self.users[user])
            if mailbox.upper() != "INBOX":
                c.command(b"CREATE " + quote(mailbox))
            for name, data in messages:
                if dated:
                    tagged = append_dated(c, mailbox, data)
                else:
                    _, tagged = c.append(mailbox, data)
                if status_of(tagged) != b"OK":
                    raise EnvError(f"seeding {name} failed: {tagged!r}")
            c.logout()

    def log_text(self) -> str:
        return self.dovecot.log_text()


_SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer")


def base64_forms(secret: str) -> set[str]:
    """The base64 text that carries `secret` wherever it sits in an encoded payload (a SASL
    PLAIN, XOAUTH2 or OAUTHBEARER initial response, whatever precedes or follows it): one run
    of whole 4-character groups for each of the three alignments the secret can start at,
    in the standard and the URL-safe alphabet, so with or without padding."""
    raw = secret.encode()
    out = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        # The first group mixes the preceding bytes in (unless aligned); the last partial
        # group the following ones.
        core = encoded[4 if shift else 0 : 4 * ((shift + len(raw)) // 3)]
        if len(core) >= 12:
            out |= {core, core.replace("+", "-").replace("/", "_")}
    return out


ENCODED = "(base64)"  # a secret's name ends so when the secret is itself an encoded form


def secret_leaks(text: str, secrets: dict[str, str], where: str) -> list[str]:
    """One line per secret (or a password's half, or the secret base64-encoded inside a SASL
    payload) that occurs in text."""
    found = []
    for what, secret in secrets.items():
        variants = {secret} | ({p for p in secret.split(" ") if len(p) >= 6} if " " in secret else set())
        if not what.endswith(ENCODED):  # base64 of a base64 payload is nobody's habit
            variants |= base64_forms(secret)
        for v in sorted(variants):
            if v in text:
                line = next(l for l in text.splitlines() if v in l)
                found.append(f"{what} appears in {where}: {line[:300]}")
                break
    return found


def user_secrets(users: dict[str, str]) -> dict[str, str]:
    """Every password, and its SASL PLAIN payload (base64, without its padding: the scan
    finds it padded or not; also with the user as authorization identity), for the log scans."""
    out = {}
    for user, pw in users.items():
        out[f"{user}'s password"] = pw
        out[f"{user}'s SASL PLAIN payload {ENCODED}"] = sasl_plain(user, pw).decode().rstrip("=")
        with_authzid = base64.b64encode(user.encode() + b"\0" + user.encode() + b"\0" + pw.encode())
        out[f"{user}'s SASL PLAIN payload with authzid {ENCODED}"] = with_authzid.decode().rstrip("=")
    return out


def token_secrets(issuer: "OAuth2Issuer", users) -> dict[str, str]:
    """Every token the issuer minted, its signature, and the XOAUTH2 initial response
    (base64) that carries it for each user. An OAUTHBEARER initial response names host and
    port before the token, so its base64 varies with them: the scan finds the token's own
    stretch of it (base64_forms), as it finds the token in any other encoded payload."""
    out = {}
    for i, tok in enumerate(issuer.minted):
        out[f"OAuth2 token #{i + 1}"] = tok
        # The signature alone identifies a token; it must not leak either.
        out[f"OAuth2 token #{i + 1} signature"] = tok.rsplit(".", 1)[1]
        for user in users:
            out[f"{user}'s XOAUTH2 initial response with token #{i + 1} {ENCODED}"] = \
                xoauth2_payload(user, tok).decode().rstrip("=")
    return out


def known_secrets() -> dict[str, str]:
    """The default accounts' and every World's secrets (for gateways made outside a World)."""
    out = user_secrets(USERS)
    for world in _WORLDS:
        out.update(world.secrets())
    return out


def _report_unscanned_leaks() -> None:
    """At exit: a secret in the log of a gateway no World reported (one a suite made itself,
    or a World left by an exception) still fails the run."""
    problems = [p for gw in _STARTED_GATEWAYS if not gw.leaks_reported for p in gw.leaks]
    if problems:
        sys.stdout.flush()
        sys.stderr.write("SECRETS IN GATEWAY LOGS:\n" + "\n".join(problems) + "\n")
        sys.stderr.flush()
        os._exit(1)


atexit.register(_report_unscanned_leaks)


class Gateway:
    """icalgate --config FILE, in its own process group, output in a log file."""

    def __init__(
        self,
        binary: str | Path,
        workdir: Path,
        certs: dict[str, Path],
        upstream_port: int,
        upstream_tls: str = "implicit",
        *,
        imaps_port: int | None = None,
        imap_port: int | None = None,
        proxy_protocol: bool = False,
        compress: bool = True,
        limits: dict[str, object] | None = None,
        log_level: str = "trace",
        name: str = "gateway",
        server_name: str = "localhost",
        upstream: dict[str, object] | None = None,
        extra_config: str = "",
        admin_port: int | None = None,
        log_format: str = "text",
        min_tls_version: str = "1.2",
    ):
        self.binary = str(binary)
        self.min_tls_version = min_tls_version
        self.log_format = log_format
        self.leaks: list[str] = []  # secrets found in the log when it stopped
        self.leaks_reported = False  # by a World's stop_and_check
        self.extra_config = extra_config
        self.admin_port = admin_port or free_port()
        self.workdir = workdir
        self.certs = certs
        self.upstream_port = upstream_port
        self.upstream_tls = upstream_tls
        self.imaps_port = imaps_port or free_port()
        self.imap_port = imap_port or free_port()
        self.proxy_protocol = proxy_protocol
        self.compress = compress
        self.limits = {"login_failure_delay": "0", "shutdown_grace": "3s"}
        self.limits.update(limits or {})
        self.log_level = log_level
        self.server_name = server_name
        self.upstream_extra = {"connect_timeout": "5s"}
        self.upstream_extra.update(upstream or {})
        self.config_path = workdir / f"{name}.toml"
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None

    def config_text(self) -> str:
        def toml(v: object) -> str:
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, int):
                return str(v)
            return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

        limits = "\n".join(f"{k} = {toml(v)}" for k, v in self.limits.items())
        # The web endpoint on a port of its own (its default, 9080, is shared by everyone).
        admin = "" if "[admin]" in self.extra_config else f'\n[admin]\nlisten = "{HOST}:{self.admin_port}"\n'

        upstream = "\n".join(f"{k} = {toml(v)}" for k, v in self.upstream_extra.items())
        return f"""# generated by tests/integration/env.py
[listen]
imaps = "{HOST}:{self.imaps_port}"
imap = "{HOST}:{self.imap_port}"
proxy_protocol = {toml(self.proxy_protocol)}
compress = {toml(self.compress)}

[tls]
cert = {toml(self.certs['fullchain'])}
key = {toml(self.certs['privkey'])}
min_version = "{self.min_tls_version}"

[upstream]
host = "{HOST}"
port = {self.upstream_port}
tls = "{self.upstream_tls}"
ca_file = {toml(self.certs['ca'])}
server_name = {toml(self.server_name)}
{upstream}

[limits]
{limits}

[log]
level = "{self.log_level}"
format = "{self.log_format}"
{admin}{self.extra_config}"""

    def start(self, timeout: float = 30.0) -> "Gateway":
        if not os.access(self.binary, os.X_OK):
            raise EnvError(f"icalgate binary not found or not executable: {self.binary}")
        self.config_path.write_text(self.config_text())
        if self not in _STARTED_GATEWAYS:
            _STARTED_GATEWAYS.append(self)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [self.binary, "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        ports = [self.imaps_port, self.imap_port]
        while ports:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise EnvError(
                    f"icalgate exited with status {self.proc.returncode} before accepting "
                    f"connections (is the relay built yet?)\n  command: {self.binary} --config "
                    f"{self.config_path}\n--- config ---\n{self.config_text()}--- log ---\n{self.log_tail()}"
                )
            ports = [p for p in ports if not port_accepts(p)]
            if ports and time.monotonic() > deadline:
                self.stop()
                raise EnvError(f"icalgate did not accept on ports {ports} within {timeout}s\n{self.log_tail()}")
            if ports:
                time.sleep(0.05)
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.running:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        if self.proc is None:
            return self.returncode
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL of the whole group; returns the exit status."""
        proc = self.proc
        if proc is None:
            return self.returncode
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait(timeout=10)
        _kill_group(proc.pid)  # anything it left behind in its group
        self.returncode = proc.returncode
        # Every stop scans the log, while it still exists (a World removes its directory).
        self.leaks = self.scan_leaks()
        return self.returncode

    def scan_leaks(self, secrets: dict[str, str] | None = None) -> list[str]:
        """Every known secret (and `secrets`) that occurs in this gateway's log."""
        return secret_leaks(self.log_text(), known_secrets() | dict(secrets or {}), str(self.log_path))

    def exit_problems(self) -> list[str]:
        """What was wrong with how this gateway ended (call after stop())."""
        problems = []
        if self.returncode is not None and self.returncode != 0:
            problems.append(f"icalgate ({self.config_path.name}) exited with status {self.returncode}")
        log = self.log_text()
        for marker in _SANITIZER_MARKERS:
            if marker in log:
                i = log.index(marker)
                problems.append(f"{marker} in {self.log_path.name}:\n{log[max(0, i - 200):i + 2500]}")
                break
        return problems

    def log_text(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        if self.proc is not None and self.proc.poll() is None:
            text = text[: text.rfind("\n") + 1]  # a line still being written is not read yet
        return text

    def log_tail(self, n: int = 4000) -> str:
        return self.log_text()[-n:]


class GraphSim:
    """icalgate-graphsim serving DATA_DIR (users/{upn}/messages/*.json, clients.json) on a free
    loopback port; `control` is its fault-injection file (see tests/graphsim/sim_faults.hpp)."""

    TENANT = "contoso.onmicrosoft.com"
    CLIENT_ID = "8d0f7a52-6c1b-4f0e-9a7e-3c2d1e0f4b5a"
    CLIENT_SECRET = "graphsim-test-secret-9f8e7d6c"

    def __init__(self, binary: str | Path, data_dir: Path, workdir: Path, *,
                 jwt_key: str | Path | None = None, extra_args: list[str] | None = None):
        """jwt_key: the key that signs its Exchange Online tokens (an Upstream's
        `oauth2.key_file`, so that Dovecot accepts them); extra_args: more command-line
        options (--token-lifetime, --device-code-interval, …)."""
        self.binary = str(binary)
        self.data_dir = Path(data_dir)
        self.workdir = Path(workdir)
        self.jwt_key = jwt_key
        self.extra_args = list(extra_args or [])
        self.control = self.workdir / "graphsim-control.json"
        self.log_path = self.workdir / "graphsim.log"
        self.secret_file = self.workdir / "graph-secret"
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> "GraphSim":
        clients = self.data_dir / "clients.json"
        if not clients.exists():
            clients.write_text(json.dumps({"clients": [{
                "tenant": self.TENANT, "client_id": self.CLIENT_ID,
                "client_secret": self.CLIENT_SECRET}]}))
        self.secret_file.write_text(self.CLIENT_SECRET + "\n")
        self.set_faults([])
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [self.binary, "--listen", f"{HOST}:0", "--data", str(self.data_dir),
                 "--control", str(self.control)]
                + (["--jwt-key", str(self.jwt_key)] if self.jwt_key else []) + self.extra_args,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                start_new_session=True)
        finally:
            log.close()
        line = self.proc.stdout.readline().decode(errors="replace")
        m = re.search(r":(\d+)\s*$", line)
        if not m:
            self.stop()
            raise EnvError(f"icalgate-graphsim did not start: {line!r}")
        self.port = int(m.group(1))
        wait_until(lambda: port_accepts(self.port), timeout, what="graphsim accepting")
        return self

    def set_faults(self, rules: list[dict], delay_ms: int = 0) -> None:
        """Replaces the fault rules (read by the simulator on every request)."""
        tmp = self.control.with_suffix(".tmp")
        tmp.write_text(json.dumps({"fail": rules, "delay_ms": delay_ms}))
        os.replace(tmp, self.control)

    def config(self, **graph_options) -> str:
        """The gateway's [graph] section for this simulator."""
        lines = [
            "[graph]",
            f'tenant = "{self.TENANT}"',
            f'client_id = "{self.CLIENT_ID}"',
            f'client_secret_file = "{self.secret_file}"',
            f'authority = "http://{HOST}:{self.port}"',
            f'endpoint = "http://{HOST}:{self.port}"',
        ]
        for k, v in graph_options.items():
            lines.append(f"{k} = " + (("true" if v else "false") if isinstance(v, bool)
                                      else str(v) if isinstance(v, int) else json.dumps(str(v))))
        return "\n".join(lines) + "\n"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                _kill_group(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    _kill_group(self.proc.pid)
                    self.proc.wait(timeout=5)
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None


class World:
    """Certificates, a seeded Dovecot with TLS, and (if icalgate is given) the gateway."""

    def __init__(
        self,
        icalgate: str | Path | None = None,
        *,
        users: dict[str, str] | None = None,
        seed: list[tuple[str, bytes]] | None = None,
        upstream_tls: str = "implicit",
        gateway_options: dict | None = None,
        root: Path | None = None,
        keep: bool = False,
        upstream_app_auth: bool = False,
    ):
        """upstream_app_auth: Dovecot also accepts Exchange's app-only tokens (see Upstream)."""
        self.icalgate = icalgate
        self.upstream_app_auth = upstream_app_auth
        self.users = dict(users or USERS)
        self.user = next(iter(self.users))
        self.password = self.users[self.user]
        self.seed_messages = corpus_messages() if seed is None else seed
        self.seed_dated = False  # INTERNALDATE from each message's Date header
        self.upstream_tls = upstream_tls
        self.gateway_options = dict(gateway_options or {})
        self._root_given = root
        self.keep = keep or bool(os.environ.get("ICALGATE_ITEST_KEEP"))
        self.root: Path = Path()
        self.certs: dict[str, Path] = {}
        self.upstream: Upstream | None = None
        self.gateway: Gateway | None = None
        self.extra_gateways: list[Gateway] = []
        _WORLDS.append(self)

    @property
    def direct(self) -> bool:
        return self.icalgate is None

    def start(self) -> "World":
        try:
            if self._root_given is not None:
                self.root = self._root_given
                self.root.mkdir(parents=True, exist_ok=True)
            else:
                self.root = Path(tempfile.mkdtemp(prefix="icalgate-itest-"))
            os.chmod(self.root, 0o755)
            self.certs = make_certs(self.root / "certs")
            self.upstream = Upstream(self.certs, self.users, app_auth=self.upstream_app_auth).start()
            for user in self.users:
                self.upstream.seed(user, self.seed_messages, dated=self.seed_dated)
            if self.icalgate is not None:
                self.gateway = self.start_gateway(**self.gateway_options)
            return self
        except BaseException:
            self.stop()
            raise

    def upstream_port_for(self, upstream_tls: str) -> int:
        assert self.upstream is not None
        return self.upstream.imaps_port if upstream_tls == "implicit" else self.upstream.imap_port

    def start_gateway(self, *, upstream_tls: str | None = None, name: str | None = None, **options) -> Gateway:
        """A gateway in front of this world's Dovecot; stopped with the world."""
        if self.icalgate is None:
            raise EnvError("no icalgate binary given")
        mode = upstream_tls or self.upstream_tls
        name = name or f"gateway{len(self.extra_gateways) + (1 if self.gateway else 0)}"
        gw = Gateway(self.icalgate, self.root, self.certs, self.upstream_port_for(mode), mode, name=name, **options)
        self.extra_gateways.append(gw)
        return gw.start()

    def gateways_here(self) -> list[Gateway]:
        """Every gateway started in this world's directory: its own, and those a suite built
        with env.Gateway(world.icalgate, world.root, ...) in front of a shim."""
        root = self.root.resolve() if self.root != Path() else None
        made_here = [gw for gw in _STARTED_GATEWAYS if root is not None and gw not in self.extra_gateways
                     and (gw.workdir.resolve() == root or root in gw.workdir.resolve().parents)]
        return self.extra_gateways + made_here

    def stop_and_check(self, secrets: dict[str, str] | None = None) -> list[str]:
        """Stop everything; return every gateway's exit problems and every secret (this
        world's, `secrets`, and any other World's) found in any gateway log under its root."""
        problems = []
        try:
            for gw in self.gateways_here():
                gw.stop()
                if gw in self.extra_gateways:
                    problems += gw.exit_problems()
                problems += gw.scan_leaks(self.secrets() | dict(secrets or {}))
                gw.leaks_reported = True
            if problems and self._root_given is None:
                self.keep = True
                problems.append(f"(logs and configs kept in {self.root})")
        finally:
            self.stop()
        return problems

    def stop_and_assert(self, secrets: dict[str, str] | None = None) -> None:
        """stop_and_check(), failing with every problem: each gateway must have exited 0 on
        SIGTERM without sanitizer reports, and no secret may appear in any of their logs."""
        problems = self.stop_and_check(secrets)
        if problems:
            raise AssertionError("after the suite:\n" + "\n".join(problems))

    def stop(self) -> None:
        errors = []
        for gw in reversed(self.gateways_here()):
            try:
                gw.stop()
            except Exception as e:  # keep tearing down
                errors.append(e)
        if self.upstream is not None:
            try:
                self.upstream.stop()
            except Exception as e:
                errors.append(e)
        if self.root and self._root_given is None and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise errors[0]

    def __enter__(self) -> "World":
        return self.start()

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            self.stop()  # the gateways' logs were scanned on stop: leaks are reported at exit
            return
        self.stop_and_assert()

    # -- where clients go: the gateway, or Dovecot when there is none -----------
    @property
    def imaps_port(self) -> int:
        return self.gateway.imaps_port if self.gateway else self.upstream.imaps_port

    @property
    def imap_port(self) -> int:
        return self.gateway.imap_port if self.gateway else self.upstream.imap_port

    def connect_imaps(self, **kw) -> Imap:
        return Imap(self.imaps_port, tls=True, ca_file=self.certs["ca"], **kw)

    def connect_imap(self, **kw) -> Imap:
        return Imap(self.imap_port, tls=False, ca_file=self.certs["ca"], **kw)

    def connect_upstream_imaps(self, **kw) -> Imap:
        return Imap(self.upstream.imaps_port, tls=True, ca_file=self.certs["ca"], **kw)

    def logs(self) -> str:
        return "".join(gw.log_text() for gw in self.extra_gateways)

    def secrets(self) -> dict[str, str]:
        """Every password, SASL payload and OAuth2 token used in this world, for log scans."""
        out = user_secrets(self.users)
        if self.upstream is not None:
            out.update(token_secrets(self.upstream.oauth2, self.users))
        return out


@contextlib.contextmanager
def sigterm_as_exception():
    """Turn SIGTERM into KeyboardInterrupt so that with-blocks tear the world down."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
