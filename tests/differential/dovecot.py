"""A private Dovecot 2.3 on loopback, and a raw-bytes IMAP client for it.

Used as the reference server ("oracle") by the differential suite and by
integration tests. Everything lives in one temporary directory; the server
listens only on 127.0.0.1 on a free port and is always stopped on exit.

    with Dovecot(users={"alice": "pw"}) as d:
        c = d.connect()
        c.login("alice", "pw")
        c.append("INBOX", raw_bytes)
        c.examine("INBOX")
        untagged, tagged = c.command(b"FETCH 1 (BODYSTRUCTURE)")

Only the Python 3.11 standard library is used. imaplib is deliberately not
used: the comparisons need the exact bytes that Dovecot sends.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DOVECOT_BIN = os.environ.get("ICALGATE_DOVECOT", "/usr/sbin/dovecot")

_LITERAL_AT_END = re.compile(rb"~?\{(\d+)\+?\}\r\n$")


class ImapError(Exception):
    """A protocol-level failure talking to the server (not a NO/BAD).

    partial holds the response bytes received before the failure (Dovecot
    drops the connection mid-literal when decoding for BINARY fails).
    """

    def __init__(self, message: str, partial: bytes = b""):
        super().__init__(message)
        self.partial = partial


class ImapClient:
    """A minimal IMAP client that speaks raw bytes.

    command() returns the untagged responses exactly as received (each one
    complete, literals included, CRLF terminated) and the tagged status line.
    """

    def __init__(self, host: str, port: int, timeout: float = 30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._buf = b""
        self._tagno = 0
        self.greeting = self.read_response()
        if not self.greeting.startswith(b"* OK"):
            raise ImapError(f"unexpected greeting: {self.greeting!r}")

    # -- low level -------------------------------------------------------
    def _fill(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ImapError("connection closed by server")
        self._buf += data

    def _read_line(self) -> bytes:
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line, self._buf = self._buf[: i + 2], self._buf[i + 2 :]
                return line
            self._fill()

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def read_response(self) -> bytes:
        """One complete response: a line, plus literals and their continuations."""
        out = bytearray()
        try:
            while True:
                line = self._read_line()
                out += line
                m = _LITERAL_AT_END.search(line)
                if not m:
                    return bytes(out)
                out += self._read_exact(int(m.group(1)))
        except ImapError as e:
            e.partial = bytes(out) + self._buf
            self._buf = b""
            raise

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def next_tag(self) -> bytes:
        self._tagno += 1
        return b"T%d" % self._tagno

    # -- commands --------------------------------------------------------
    def command(self, cmd: bytes) -> tuple[list[bytes], bytes]:
        """Send `TAG cmd` and return (untagged responses, tagged line)."""
        tag = self.next_tag()
        self.send(tag + b" " + cmd + b"\r\n")
        return self._collect(tag)

    def _collect(self, tag: bytes) -> tuple[list[bytes], bytes]:
        untagged: list[bytes] = []
        while True:
            try:
                resp = self.read_response()
            except ImapError as e:
                e.partial = b"".join(untagged) + e.partial
                raise
            if resp.startswith(tag + b" "):
                return untagged, resp
            untagged.append(resp)

    def check(self, cmd: bytes) -> list[bytes]:
        """Like command() but raises unless the tagged status is OK."""
        untagged, tagged = self.command(cmd)
        if not tagged.split(b" ", 2)[1:2] == [b"OK"]:
            raise ImapError(f"{cmd[:60]!r} failed: {tagged!r}")
        return untagged

    def login(self, user: str, password: str) -> None:
        self.check(b"LOGIN " + _quote(user) + b" " + _quote(password))

    def append(self, mailbox: str, message: bytes, flags: str | None = None) -> bytes:
        """APPEND with a synchronizing literal; returns the tagged OK line."""
        if b"\0" in message:
            raise ValueError("message contains NUL; a plain literal cannot carry it")
        tag = self.next_tag()
        flagpart = b" (" + flags.encode() + b")" if flags is not None else b""
        self.send(tag + b" APPEND " + _quote(mailbox) + flagpart + b" {%d}\r\n" % len(message))
        resp = self.read_response()
        if not resp.startswith(b"+"):
            raise ImapError(f"APPEND not accepted: {resp!r}")
        self.send(message + b"\r\n")
        untagged, tagged = self._collect(tag)
        if tagged.split(b" ", 2)[1:2] != [b"OK"]:
            raise ImapError(f"APPEND failed: {tagged!r}")
        return tagged

    def examine(self, mailbox: str = "INBOX") -> list[bytes]:
        return self.check(b"EXAMINE " + _quote(mailbox))

    def select(self, mailbox: str = "INBOX") -> list[bytes]:
        return self.check(b"SELECT " + _quote(mailbox))

    def fetch(self, seq: int, items: bytes) -> tuple[list[bytes], bytes]:
        """FETCH seq items; items is sent verbatim (add the parentheses yourself)."""
        return self.command(b"FETCH %d " % seq + items)

    def logout(self) -> None:
        try:
            self.command(b"LOGOUT")
        except (OSError, ImapError):
            pass
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "ImapClient":
        return self

    def __exit__(self, *exc) -> None:
        self.logout()


def _quote(s: str) -> bytes:
    return b'"' + s.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_CONFIG = """\
# Private test instance; generated by tests/differential/dovecot.py
instance_name = {instance}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
debug_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 1
first_valid_gid = 1
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
mail_max_userip_connections = 100
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service doveadm {{
  inet_listener {{
    port = 0
  }}
}}
{unprivileged}
{extra}
"""

# Without root, every process runs as the invoking user and logins are not
# chrooted (Dovecot supports this for tests and development).
_UNPRIVILEGED = """\
service imap-login {
  chroot =
}
service anvil {
  chroot =
}
"""


class Dovecot:
    """A private Dovecot instance; use as a context manager.

    users: {name: password}. extra_config: text appended to dovecot.conf.
    keep: leave the temporary directory behind after stop() (for debugging).
    """

    def __init__(
        self,
        users: dict[str, str] | None = None,
        extra_config: str = "",
        keep: bool = False,
        start_timeout: float = 20.0,
    ):
        self.users = dict(users or {"test": "test"})
        self.extra_config = extra_config
        self.keep = keep
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.port = 0
        self.root = ""
        self.conf = ""
        self.proc: subprocess.Popen | None = None
        self._clients: list[ImapClient] = []
        self._old_sigterm = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> "Dovecot":
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            try:
                gid = grp.getgrnam("nogroup").gr_gid
            except KeyError:
                gid = nobody.pw_gid
            uid = nobody.pw_uid
            internal_user, login_user, unprivileged = "dovecot", "dovenull", ""
            internal_group = "dovecot"
        else:
            uid, gid = os.geteuid(), os.getegid()
            me = pwd.getpwuid(uid).pw_name
            internal_user, login_user, unprivileged = me, me, _UNPRIVILEGED
            internal_group = grp.getgrgid(gid).gr_name
        self.root = tempfile.mkdtemp(prefix="icalgate-dovecot-")
        # The dovecot/dovenull users and the mail uid must traverse every path.
        os.chmod(self.root, 0o755)
        for sub in ("run", "state", "mail", "home"):
            os.mkdir(os.path.join(self.root, sub))
            os.chmod(os.path.join(self.root, sub), 0o755)
        if os.geteuid() == 0:
            for name in ("mail", "home"):
                os.chown(os.path.join(self.root, name), uid, gid)
        with open(os.path.join(self.root, "passwd"), "w") as f:
            for user, pw in self.users.items():
                home = os.path.join(self.root, "home", user)
                f.write(f"{user}:{{PLAIN}}{pw}:{uid}:{gid}::{home}::\n")
        os.chmod(os.path.join(self.root, "passwd"), 0o644)
        settings = dict(
            instance=os.path.basename(self.root),
            root=self.root,
            uid=uid,
            gid=gid,
            internal_user=internal_user,
            internal_group=internal_group,
            login_user=login_user,
            unprivileged=unprivileged,
            extra=self.extra_config,
        )
        _become_subreaper()
        # The free port is only free until someone else takes it; retry then.
        for attempt in range(3):
            try:
                self._launch(settings)
                return self
            except RuntimeError as e:
                self.stop(remove=False)
                if attempt == 2 or "in use" not in str(e):
                    if not self.keep:
                        shutil.rmtree(self.root, ignore_errors=True)
                    raise
            except BaseException:
                self.stop()
                raise
        return self

    def _launch(self, settings: dict) -> None:
        self.port = _free_port()
        self.conf = os.path.join(self.root, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(_CONFIG.format(port=self.port, **settings))
        os.chmod(self.conf, 0o644)
        out = open(os.path.join(self.root, "dovecot.stdout"), "wb")
        try:
            # -F keeps it in the foreground as our child: one pid to stop, and
            # it dies with a clear status if the config is wrong.
            self.proc = subprocess.Popen(
                [DOVECOT_BIN, "-F", "-c", self.conf],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            out.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited with status {self.proc.returncode}:\n{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    s.settimeout(5)
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"dovecot did not accept on port {self.port}:\n{self.log_text()}")

    def log_text(self) -> str:
        parts = []
        for name in ("dovecot.stdout", "dovecot.log"):
            try:
                with open(os.path.join(self.root, name), errors="replace") as f:
                    parts.append(f.read()[-4000:])
            except OSError:
                pass
        return "\n".join(parts)

    def stop(self, remove: bool = True) -> None:
        proc, self.proc = self.proc, None
        # An imap process with a client still connected lingers after the
        # master has gone; close our side first so that everything exits.
        for client in self._clients:
            client.close()
        self._clients.clear()
        if proc is not None:
            try:
                self._stop_group(proc)
            except KeyboardInterrupt:
                _kill_group(proc.pid)
                _reap_group(proc.pid, 5.0)
                raise
        if remove and self.root and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _stop_group(proc: subprocess.Popen) -> None:
        # SIGTERM to the master makes it stop its children, but it does not
        # wait for all of them; the stragglers are reparented to us (we are a
        # subreaper) and reaped here, so no zombie is left behind.
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait(timeout=10)
        if not _reap_group(proc.pid, 3.0):
            _kill_group(proc.pid)
            _reap_group(proc.pid, 5.0)

    def connect(self, timeout: float = 30.0) -> ImapClient:
        client = ImapClient(self.host, self.port, timeout=timeout)
        self._clients.append(client)
        return client

    def __enter__(self) -> "Dovecot":
        # Turn SIGTERM into an exception so the with-block's exit stops us.
        try:
            self._old_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)
        except ValueError:  # not the main thread
            self._old_sigterm = None
        try:
            return self.start()
        except BaseException:
            self._restore_signal()
            raise

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            self._restore_signal()

    def _restore_signal(self) -> None:
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None


def _become_subreaper() -> None:
    """Adopt orphaned descendants (Linux), so that we can reap dovecot's
    children after its master exits even where pid 1 never reaps."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _group_pids(pgid: int) -> list[tuple[int, int, str]]:
    """(pid, ppid, state) of every process in process group pgid."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may contain spaces; fields resume after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            found.append((int(name), int(fields[1]), fields[0]))
    return found


def _reap_group(pgid: int, timeout: float) -> bool:
    """Wait until no process of the group is left; True on success."""
    deadline = time.monotonic() + timeout
    me = os.getpid()
    while True:
        left = _group_pids(pgid)
        for pid, ppid, _state in left:
            if ppid == me:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
        if not left:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def _kill_group(pgid: int) -> None:
    # The master was started in its own session, so the group is exactly
    # dovecot's processes.
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def fetch_items_arg(items: str) -> bytes:
    """Turn a user's item list into FETCH syntax.

    "(A B)" is sent as given, a bare macro (ALL/FAST/FULL) bare, anything else
    is wrapped in parentheses.
    """
    s = items.strip()
    if s.startswith("("):
        return s.encode()
    if s.upper() in ("ALL", "FAST", "FULL"):
        return s.encode()
    return b"(" + s.encode() + b")"
