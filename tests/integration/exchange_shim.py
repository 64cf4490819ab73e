"""A TLS-terminating relay between the gateway and the test Dovecot that behaves as Exchange
Online does where Dovecot cannot:

  - once a mailbox session is "lost" (lose_sessions()), every later command on it is answered
    `TAG BAD User is authenticated but not connected.` instead of being forwarded (Exchange
    says so when its backend dropped the mailbox; the connection itself stays open);
  - with expire_tokens=True, a session logged in with an OAuth token (AUTHENTICATE XOAUTH2)
    is ended when the token's `exp` passes: `* BYE Session invalidated - AccessTokenExpired`,
    then the connection closes;
  - announce_while_answering(command, lines): the answer to the next command the gateway
    sends containing `command` gets `lines` (an EXISTS and the FETCH response about mail
    that arrived) after its first FETCH response, as a server may send them while answering
    (RFC 3501, 7.3.1: EXISTS at any time). Dovecot announces new mail only after answering.

With starttls=True it stands in front of Dovecot's STARTTLS port (the greeting and the
STARTTLS exchange pass in clear). Everything else goes through byte for byte. Each connection is served by one thread that
does all of its I/O (an ssl socket must not be read and written from two threads), and
what the shim says itself is put between whole responses of the upstream.

    shim = ExchangeShim(world.upstream.imaps_port, world.certs).start()
    gw = env.Gateway(world.icalgate, world.root, world.certs, shim.port, "implicit", name="x")

Python 3.11 standard library only.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import selectors
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Callable

import env

LOST_SESSION = "User is authenticated but not connected."
TOKEN_EXPIRED_BYE = b"* BYE Session invalidated - AccessTokenExpired\r\n"

_LITERAL = re.compile(rb"~?\{(\d+)\+?\}\r\n$")


def token_expiry(xoauth2_b64: bytes) -> tuple[str, float] | None:
    """(user, exp) from a base64 XOAUTH2 initial response carrying a JWT, or None."""
    try:
        raw = base64.b64decode(xoauth2_b64, validate=True)
    except ValueError:
        return None
    fields = dict(p.split(b"=", 1) for p in raw.split(b"\x01") if b"=" in p)
    bearer = fields.get(b"auth", b"")
    if not bearer.startswith(b"Bearer "):
        return None
    parts = bearer[len(b"Bearer "):].split(b".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + b"=" * (-len(parts[1]) % 4)))
        return fields.get(b"user", b"").decode(), float(claims["exp"])
    except (ValueError, KeyError, TypeError):
        return None


def read_clear_line(sock: socket.socket) -> bytes:
    """One line from a socket still in clear, read byte by byte: nothing of the TLS handshake
    that may follow it is consumed."""
    line = b""
    while not line.endswith(b"\n"):
        b = sock.recv(1)
        if not b:
            raise ConnectionError("closed before the end of the line")
        line += b
    return line


class Link:
    """One gateway connection and its Dovecot connection."""

    def __init__(self, shim: "ExchangeShim", sock: socket.socket):
        self.shim = shim
        self.raw = sock
        self.authenticated = threading.Event()
        self.gateway_closed = threading.Event()  # the gateway ended its connection to us
        self.ended = threading.Event()  # both connections closed
        self.user = ""
        self.token_exp: float | None = None
        self.lost = False
        self.lost_answers: list[bytes] = []  # tagged BADs sent for a lost session
        self.bye_sent: bytes = b""
        self._login_tag: bytes | None = None
        self._pending_exp: tuple[str, float] | None = None
        self._sasl_response_due = False
        self._up_buf = b""  # gateway → Dovecot, not yet forwarded
        self._up_literal = 0  # literal octets still to pass through untouched
        self._up_message_start = True
        self._down_buf = b""  # Dovecot → gateway, not yet a whole response
        self._announce = b""  # lines for the gateway after the next FETCH response
        self._g: ssl.SSLSocket | None = None
        self._u: ssl.SSLSocket | None = None

    # -- gateway → Dovecot: commands, checked at the start of each -------------------------
    def _from_gateway(self, data: bytes) -> None:
        self._up_buf += data
        while self._up_buf:
            if self._up_literal:
                chunk = self._up_buf[: self._up_literal]
                self._up_buf = self._up_buf[len(chunk):]
                self._up_literal -= len(chunk)
                self._u.sendall(chunk)
                continue
            end = self._up_buf.find(b"\r\n")
            if end < 0:
                return
            line, self._up_buf = self._up_buf[: end + 2], self._up_buf[end + 2:]
            m = _LITERAL.search(line)
            start = self._up_message_start
            self._up_message_start = m is None
            if m:
                self._up_literal = int(m.group(1))
            if start and self._sasl_response_due:
                # The XOAUTH2 response sent after the server's "+" (no SASL-IR).
                self._sasl_response_due = False
                self._pending_exp = token_expiry(line.strip())
            elif start and self._command(line, continued=m is not None):
                continue
            self._u.sendall(line)

    def _command(self, line: bytes, continued: bool) -> bool:
        """Looks at a command's first line; True when the shim answered it itself."""
        parts = line.rstrip(b"\r\n").split(b" ")
        tag = parts[0]
        name = parts[1].upper() if len(parts) > 1 else b""
        if self.authenticated.is_set() and self.lost and not continued:
            answer = tag + b" BAD " + LOST_SESSION.encode() + b"\r\n"
            self.lost_answers.append(answer)
            self._g.sendall(answer)
            return True
        if name == b"AUTHENTICATE" and len(parts) > 2 and parts[2].upper() == b"XOAUTH2":
            self._login_tag = tag
            self._pending_exp = token_expiry(parts[3]) if len(parts) > 3 else None
            self._sasl_response_due = len(parts) == 3
        elif name == b"LOGIN":
            self._login_tag = tag
            self._pending_exp = None
        with self.shim._lock:
            if self.shim._announcement and self.shim._announcement[0] in line:
                lines = self.shim._announcement[1]
                self._announce = lines() if callable(lines) else lines
                self.shim._announcement = None
        return False

    # -- Dovecot → gateway: whole responses, so that the shim's own lines fit between -----
    def _from_upstream(self, data: bytes) -> None:
        self._down_buf += data
        out = bytearray()
        pos = 0
        while True:
            end = self._down_buf.find(b"\r\n", pos)
            if end < 0:
                break
            m = _LITERAL.search(self._down_buf, pos, end + 2)
            if m:
                after = end + 2 + int(m.group(1))
                if after > len(self._down_buf):
                    break
                pos = after
                continue
            response = self._down_buf[: end + 2]
            self._down_buf = self._down_buf[end + 2:]
            pos = 0
            self._note_response(response)
            out += response
            if self._announce and re.match(rb"\* \d+ FETCH ", response):
                out += self._announce
                self._announce = b""
                self.shim.announced.set()
        if out and self.shim.stall_in_literals and len(out) > 64 * 1024:
            half = len(out) // 2
            self._g.sendall(bytes(out[:half]))
            time.sleep(self.shim.stall_in_literals)
            out = out[half:]
        if out:
            self._g.sendall(bytes(out))

    def _note_response(self, response: bytes) -> None:
        if self._login_tag is None or not response.startswith(self._login_tag + b" "):
            return
        if response[len(self._login_tag) + 1:].upper().startswith(b"OK"):
            if self._pending_exp is not None:
                self.user, self.token_exp = self._pending_exp
            self.authenticated.set()
        self._login_tag = None
        self._pending_exp = None
        self._sasl_response_due = False

    # -- the connection's life ----------------------------------------------------------
    def run(self) -> None:
        up = None
        try:
            up = socket.create_connection((env.HOST, self.shim.upstream_port), timeout=30)
            if self.shim.starttls and not self._starttls(up):
                return
            self._g = self.shim.server_context.wrap_socket(self.raw, server_side=True)
            self._u = self.shim.client_context.wrap_socket(up, server_hostname="localhost")
            self._relay()
        except (OSError, ssl.SSLError, ConnectionError):
            pass
        finally:
            for s in (self._g, self._u, self.raw, up):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.close()
            self.ended.set()

    def _starttls(self, up: socket.socket) -> bool:
        """Dovecot's greeting and its answer to the gateway's STARTTLS pass in clear; True
        when both legs may now start TLS."""
        self.raw.sendall(read_clear_line(up))  # the greeting
        up.sendall(read_clear_line(self.raw))  # STARTTLS
        answer = read_clear_line(up)
        self.raw.sendall(answer)
        return env.status_of(answer) == b"OK"

    def _relay(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._g, selectors.EVENT_READ, "g")
        sel.register(self._u, selectors.EVENT_READ, "u")
        try:
            while not self.shim.stopping.is_set():
                if (self.shim.expire_tokens and self.token_exp is not None and self.authenticated.is_set()
                        and time.time() >= self.token_exp and not self._down_buf):
                    self.bye_sent = TOKEN_EXPIRED_BYE
                    self._g.sendall(TOKEN_EXPIRED_BYE)
                    return
                ready = [key.data for key, _ in sel.select(timeout=0.05)]
                # Bytes already decrypted inside the ssl objects do not wake select().
                ready += [n for n, s in (("g", self._g), ("u", self._u)) if s.pending() and n not in ready]
                for which in ready:
                    if which == "g":
                        try:
                            data = self._g.recv(1 << 16)
                        except (OSError, ssl.SSLError):
                            data = b""  # a reset or TLS error: the gateway's end all the same
                        if not data:
                            self.gateway_closed.set()
                            return
                        self._from_gateway(data)
                    else:
                        data = self._u.recv(1 << 16)
                        if not data:
                            if self._down_buf:
                                self._g.sendall(self._down_buf)
                            return
                        self._from_upstream(data)
        finally:
            sel.close()


class ExchangeShim:
    def __init__(self, upstream_port: int, certs: dict[str, Path], *, starttls: bool = False,
                 expire_tokens: bool = False, stall_in_literals: float = 0.0):
        self.upstream_port = upstream_port
        # In front of Dovecot's STARTTLS port, for a gateway in the starttls upstream mode.
        self.starttls = starttls
        self.expire_tokens = expire_tokens
        # A large response is sent in two halves this many seconds apart, so that the
        # gateway waits for its upstream in the middle of a literal (as behind a slow link).
        self.stall_in_literals = stall_in_literals
        self.server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_context.load_cert_chain(str(certs["fullchain"]), str(certs["privkey"]))
        self.client_context = env.client_tls_context(certs["ca"])
        self.links: list[Link] = []
        self.stopping = threading.Event()
        self._listener = socket.create_server((env.HOST, 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._announcement: tuple[bytes, bytes | Callable[[], bytes]] | None = None
        self.announced = threading.Event()

    def start(self) -> "ExchangeShim":
        t = threading.Thread(target=self._accept, name="exchange-shim", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(30)
            link = Link(self, sock)
            with self._lock:
                self.links.append(link)
            t = threading.Thread(target=link.run, name="exchange-shim-link", daemon=True)
            t.start()
            self._threads.append(t)

    def authenticated_links(self) -> list[Link]:
        with self._lock:
            return [link for link in self.links if link.authenticated.is_set() and not link.ended.is_set()]

    def lose_sessions(self) -> list[Link]:
        """Every authenticated session open now loses its mailbox: its next commands get BAD."""
        links = self.authenticated_links()
        for link in links:
            link.lost = True
        return links

    def announce_while_answering(self, command: bytes, lines: bytes | Callable[[], bytes]) -> None:
        """`lines` go to the gateway after the first FETCH response answering the next
        command that contains `command` (a callable gives them when that command comes, before
        it goes on to the upstream); `announced` is set once they have."""
        with self._lock:
            self._announcement = (command, lines)
        self.announced.clear()

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> "ExchangeShim":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
