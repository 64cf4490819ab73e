"""A deliberately lean IMAP client for the relay benchmark.

The client must be as cheap as possible so that it measures the server and the relay, not
itself: one TLS socket, recv_into() a large preallocated bytearray, and a parser that looks
only at line ends and literal headers ({N}) and skips literal bodies without copying them.
Only the Python 3.11 standard library is used.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
import zlib

HOST = "127.0.0.1"


class ServerClosed(ConnectionError):
    pass


class CommandFailed(RuntimeError):
    pass


def quote(s: str) -> bytes:
    return b'"' + s.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def tls_context(ca_file: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class FastImap:
    """IMAP over TLS from the first byte; bytes counted, literals skipped."""

    def __init__(
        self,
        port: int,
        ctx: ssl.SSLContext,
        *,
        buffer_size: int = 4 << 20,
        timeout: float = 30.0,
        server_name: str = "localhost",
    ):
        raw = socket.create_connection((HOST, port), timeout=timeout)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = ctx.wrap_socket(raw, server_hostname=server_name)
        except BaseException:
            raw.close()
            raise
        self.buf = bytearray(buffer_size)
        self.mv = memoryview(self.buf)
        self.start = 0
        self.end = 0
        self.received = 0  # bytes of IMAP data received (after TLS and decompression)
        self.wire_received = 0  # ... as they came (after TLS, before decompression)
        self._deflate = None
        self._inflate = None
        self.tagno = 0
        self.greeting = self.read_line()
        if not self.greeting.startswith(b"* OK"):
            raise CommandFailed(f"unexpected greeting {self.greeting[:100]!r}")

    # -- bytes ------------------------------------------------------------------
    def compress(self) -> None:
        """COMPRESS DEFLATE (RFC 4978): from its OK on, both directions are raw deflate."""
        self.command(b"COMPRESS DEFLATE")
        self._deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
        self._inflate = zlib.decompressobj(-15)

    def _recv_inflated(self) -> None:
        data = self.sock.recv(1 << 18)
        if not data:
            raise ServerClosed("connection closed by server")
        self.wire_received += len(data)
        out = self._inflate.decompress(data)
        n = self.end - self.start
        if self.end + len(out) > len(self.buf):  # move the partial line to the front
            self.buf[:n] = self.mv[self.start : self.end]
            self.start, self.end = 0, n
            if n + len(out) > len(self.buf):
                self.mv.release()  # a bytearray with a live view cannot grow
                self.buf.extend(bytes(n + len(out) - len(self.buf)))
                self.mv = memoryview(self.buf)
        self.buf[self.end : self.end + len(out)] = out
        self.end += len(out)
        self.received += len(out)

    def _recv(self) -> None:
        if self._inflate is not None:
            self._recv_inflated()
            return
        if self.start == self.end:
            self.start = self.end = 0
        elif self.end > len(self.buf) - 65536:  # keep room: move the partial line to the front
            n = self.end - self.start
            self.buf[:n] = self.mv[self.start : self.end]
            self.start, self.end = 0, n
        n = self.sock.recv_into(self.mv[self.end :], len(self.buf) - self.end)
        if n == 0:
            raise ServerClosed("connection closed by server")
        self.end += n
        self.received += n
        self.wire_received += n

    def read_line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n", self.start, self.end)
            if i >= 0:
                line = bytes(self.mv[self.start : i])
                self.start = i + 2
                return line
            self._recv()

    def skip(self, n: int) -> None:
        while True:
            avail = self.end - self.start
            if avail >= n:
                self.start += n
                return
            n -= avail
            self.start = self.end = 0
            self._recv()

    def send(self, data: bytes) -> None:
        if self._deflate is not None:
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def next_tag(self) -> bytes:
        self.tagno += 1
        return b"B%d" % self.tagno

    # -- responses --------------------------------------------------------------
    def until_tagged(self, tag: bytes) -> tuple[bytes, int, int]:
        """Read to the tagged reply; return (tagged line, literals seen, literal bytes)."""
        prefix = tag + b" "
        literals = 0
        literal_bytes = 0
        while True:
            line = self.read_line()
            if line.endswith(b"}"):
                j = line.rfind(b"{")
                if j >= 0:
                    n = int(line[j + 1 : -1].rstrip(b"+"))
                    literals += 1
                    literal_bytes += n
                    self.skip(n)
                    continue
            if line.startswith(prefix):
                return line, literals, literal_bytes

    def command(self, cmd: bytes) -> tuple[bytes, int, int]:
        tag = self.next_tag()
        self.send(tag + b" " + cmd + b"\r\n")
        tagged, literals, literal_bytes = self.until_tagged(tag)
        if tagged[len(tag) + 1 : len(tag) + 3] != b"OK":
            raise CommandFailed(f"{cmd[:60]!r}: {tagged[:200]!r}")
        return tagged, literals, literal_bytes

    def login(self, user: str, password: str) -> None:
        self.command(b"LOGIN " + quote(user) + b" " + quote(password))

    def idle(self) -> None:
        tag = self.next_tag()
        self.send(tag + b" IDLE\r\n")
        while True:
            line = self.read_line()
            if line.startswith(b"+"):
                self.idle_tag = tag
                return
            if line.startswith(tag + b" "):
                raise CommandFailed(f"IDLE refused: {line[:200]!r}")

    def logout(self) -> None:
        """LOGOUT and wait for its tagged OK, then close."""
        try:
            self.command(b"LOGOUT")
        finally:
            self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def multiappend(c: FastImap, mailbox: str, messages, batch: int = 500) -> int:
    """APPEND every message with MULTIAPPEND and LITERAL+, batch per command; returns count."""
    count = 0
    pending: list[bytes] = []

    def flush() -> None:
        if not pending:
            return
        tag = c.next_tag()
        parts = [tag + b" APPEND " + quote(mailbox)]
        for m in pending:
            parts.append(b" {%d+}\r\n" % len(m))
            parts.append(m)
        parts.append(b"\r\n")
        c.send(b"".join(parts))
        tagged, _, _ = c.until_tagged(tag)
        if tagged[len(tag) + 1 : len(tag) + 3] != b"OK":
            raise CommandFailed(f"APPEND to {mailbox}: {tagged[:200]!r}")
        pending.clear()

    for m in messages:
        pending.append(m)
        count += 1
        if len(pending) >= batch:
            flush()
    flush()
    return count


def timed(fn, *args, **kw) -> tuple[float, object]:
    t0 = time.perf_counter()
    r = fn(*args, **kw)
    return time.perf_counter() - t0, r
