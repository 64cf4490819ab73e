#!/usr/bin/env python3
"""Differential suite: `icalgate inspect` against a real Dovecot 2.3.

    python3 tests/differential/run_differential.py --icalgate build/dev/bin/icalgate \\
        --corpus tests/corpus [--only SUBSTR] [--items SUBSTR] [--max-failures-shown N]
        [--jobs N] [--keep] [--dump DIR]

One private Dovecot is started (tests/differential/dovecot.py); every corpus
file (sorted) is APPENDed, INBOX is EXAMINEd (read-only: no FLAGS in any
answer), and for every message a list of FETCH requests is generated from
Dovecot's own BODYSTRUCTURE (every part, every section, partial ranges,
multi-item requests for item order). Each request is answered by Dovecot over
one connection and by `icalgate inspect FILE 'ITEMS'`; the untagged FETCH
response of Dovecot (its sequence number rewritten to 1, since inspect always
answers `* 1 FETCH`) must equal inspect's stdout byte for byte.

Failures (the comparison rule, kept deliberately simple): where Dovecot answers
the FETCH with a tagged NO, the untagged bytes it sent before (a partial FETCH,
or `* 1 FETCH (UID 1)`) are NOT compared. Instead inspect must exit with
status 1 and print a line `NO [CODE] text` whose response code CODE equals
Dovecot's (e.g. `NO [UNKNOWN-CTE] ...` for BINARY on an unknown
Content-Transfer-Encoding); the text is not compared. A tagged NO without a
code only requires status 1 and a line starting `NO `. A tagged BAD (never
generated on purpose) requires inspect to exit with status 2.

KNOWN_DIFFERENCES lists (corpus file name, item string) pairs where icalgate
deliberately differs from Dovecot, each with its reason. A mismatch there is
counted as passed but reported. Add entries only with a justification.

Output: one short report per mismatch (file, item, first differing byte
offset, escaped context of both sides), then a last line `N passed, N failed`.
Exit status 0 only if nothing failed.

--dump DIR writes Dovecot's answers (no inspect run, --icalgate optional):
DIR/index.json maps "FILE\\tITEMS" to {"file": relative path, "status": OK|NO|BAD,
"code": response code or null, "tagged": tagged line}, and each answer is in
DIR/<message stem>/NNNN.fetch (the items are listed in DIR/<stem>/index.txt).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dovecot import Dovecot, ImapClient, ImapError  # noqa: E402

# (corpus file name, item string) -> reason we deliberately differ from Dovecot.
# Dovecot 2.3.19 answers BINARY.SIZE from a cached estimate that can disagree with the
# length of its own BINARY literal for the same part (34-attachment-png-base64: BINARY[1]
# is ~{405}, BINARY.SIZE[1] says 343). RFC 3516 defines BINARY.SIZE as the decoded size of
# the section, and clients size their downloads by it, so icalgate answers the true length
# of the BINARY data it serves.
_BINARY_SIZE = ("BINARY.SIZE reports the true decoded length (the size of BINARY's literal); "
                "Dovecot's cached value disagrees with its own BINARY answer")
# For BINARY[] of a message whose decoded parts change size, Dovecot's literal length does
# not match the bytes it then writes and it drops the connection; icalgate answers.
_BINARY_DROP = ("Dovecot drops the connection on this BINARY[] (size mismatch in its own "
                "answer); icalgate answers with a consistent literal")
_MULTI = "BINARY.SIZE[1] RFC822.HEADER BODY.PEEK[1] RFC822.SIZE BODY"
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("21-exchange-owa-mixed-attachment.eml", "BINARY.SIZE[1]"): _BINARY_SIZE,
    ("21-exchange-owa-mixed-attachment.eml", _MULTI): _BINARY_SIZE,
    ("23-exchange-imip-cancel-mixed.eml", "BINARY.SIZE[2]"): _BINARY_SIZE,
    ("32-message-rfc822-nested-twice.eml", "BINARY.SIZE[2.2]"): _BINARY_SIZE,
    ("34-attachment-png-base64.eml", "BINARY.SIZE[1]"): _BINARY_SIZE,
    ("34-attachment-png-base64.eml", _MULTI): _BINARY_SIZE,
    ("53-empty-parts.eml", "BINARY.PEEK[]"): _BINARY_DROP,
    ("53-empty-parts.eml", "BINARY.SIZE[]"): _BINARY_SIZE,
    ("71-message-rfc822-base64.eml", "BINARY.SIZE[]"): _BINARY_SIZE,
    ("71-message-rfc822-base64.eml", "BINARY.SIZE[1]"): _BINARY_SIZE,
    ("71-message-rfc822-base64.eml", _MULTI): _BINARY_SIZE,
}

INSPECT_TIMEOUT = 60.0
PARTIAL_RANGES = ["<0.10>", "<3.100>", "<0.0>", "<1000000.10>"]

_FETCH_PREFIX = re.compile(rb"^\* (\d+) FETCH ")
_CODE = re.compile(rb"^(?:\S+ )?(NO|BAD) (?:\[([^\]\s]+)[^\]]*\])?")
_LITERAL_SIZE = re.compile(rb"~?\{(\d+)\}\r\n")


# ------------------------------------------------------------ BODYSTRUCTURE
class ParseError(Exception):
    pass


def parse_sexp(buf: bytes, i: int) -> tuple[object, int]:
    """One IMAP value at buf[i:]: list, bytes (string/atom) or None (NIL)."""
    while i < len(buf) and buf[i] == 0x20:
        i += 1
    if i >= len(buf):
        raise ParseError("unexpected end")
    c = buf[i]
    if c == 0x28:  # (
        items = []
        i += 1
        while True:
            while i < len(buf) and buf[i] == 0x20:
                i += 1
            if i >= len(buf):
                raise ParseError("unterminated list")
            if buf[i] == 0x29:
                return items, i + 1
            value, i = parse_sexp(buf, i)
            items.append(value)
    if c == 0x22:  # "
        out = bytearray()
        i += 1
        while i < len(buf) and buf[i] != 0x22:
            if buf[i] == 0x5C:
                i += 1
            out.append(buf[i])
            i += 1
        return bytes(out), i + 1
    if c in (0x7B, 0x7E):  # { or ~{
        m = re.compile(rb"~?\{(\d+)\+?\}\r\n").match(buf, i)
        if not m:
            raise ParseError("bad literal")
        n = int(m.group(1))
        return buf[m.end() : m.end() + n], m.end() + n
    j = i
    while j < len(buf) and buf[j] not in b" ()\r\n":
        if buf[j] == 0x5B:  # atoms like BODY[...] may contain spaces inside brackets
            j = buf.index(b"]", j)
        j += 1
    atom = buf[i:j]
    return (None if atom.upper() == b"NIL" else atom), j


def bodystructure_of(resp: bytes):
    k = resp.find(b"BODYSTRUCTURE ")
    if k < 0:
        raise ParseError("no BODYSTRUCTURE in response")
    value, _ = parse_sexp(resp, k + len(b"BODYSTRUCTURE "))
    return value


def is_multipart(body) -> bool:
    return isinstance(body, list) and bool(body) and isinstance(body[0], list)


def is_message_rfc822(body) -> bool:
    return (
        isinstance(body, list)
        and len(body) > 8
        and isinstance(body[0], bytes)
        and isinstance(body[1], bytes)
        and body[0].lower() == b"message"
        and body[1].lower() == b"rfc822"
        and isinstance(body[8], list)
    )


def _children(body, num: list[int]):
    if is_multipart(body):
        # Leading list elements are the parts; stop at the subtype string.
        parts = []
        for p in body:
            if not isinstance(p, list):
                break
            parts.append(p)
        return [(num + [n], p) for n, p in enumerate(parts, 1)]
    if is_message_rfc822(body):
        inner = body[8]
        if is_multipart(inner):
            return _children(inner, num)
        return [(num + [1], inner)]
    return []


def walk_parts(top) -> list[tuple[str, bool, bool]]:
    """(part number, is message/rfc822, is multipart) for every part, depth first."""
    out = []
    stack = list(reversed(_children(top, []) if is_multipart(top) else [([1], top)]))
    while stack:
        num, body = stack.pop()
        out.append((".".join(map(str, num)), is_message_rfc822(body), is_multipart(body)))
        stack.extend(reversed(_children(body, num)))
    return out


# ------------------------------------------------------------ requests
def base_requests(parts: list[tuple[str, bool, bool]]) -> list[str]:
    reqs = [
        "RFC822.SIZE",
        "BODY",
        "BODYSTRUCTURE",
        "ENVELOPE",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
        "BODY.PEEK[]",
        "BODY.PEEK[HEADER]",
        "BODY.PEEK[TEXT]",
        "BODY.PEEK[HEADER.FIELDS (From Subject Message-ID X-Absent)]",
        "BODY.PEEK[HEADER.FIELDS.NOT (Received Subject)]",
        "BINARY.PEEK[]",
        "BINARY.SIZE[]",
    ]
    for num, is_msg, _is_multi in parts:
        reqs += [f"BODY.PEEK[{num}]", f"BODY.PEEK[{num}.MIME]", f"BINARY.PEEK[{num}]", f"BINARY.SIZE[{num}]"]
        if is_msg:
            reqs += [f"BODY.PEEK[{num}.HEADER]", f"BODY.PEEK[{num}.TEXT]", f"BODY.PEEK[{num}.HEADER.FIELDS (Subject)]"]
    reqs += [
        "RFC822.SIZE BODYSTRUCTURE BODY.PEEK[1.MIME] BINARY.PEEK[1]<0.100>",
        "ENVELOPE BODY.PEEK[HEADER] RFC822.SIZE",
        "BINARY.SIZE[1] RFC822.HEADER BODY.PEEK[1] RFC822.SIZE BODY",
        "ENVELOPE BODY.PEEK[TEXT]<0.20> ENVELOPE BODY.PEEK[TEXT]<0.20> BODYSTRUCTURE RFC822.SIZE",
    ]
    return reqs


# Sections that get partial ranges; the last range crosses the end and is
# computed from the full answer's size.
PARTIAL_TARGETS = ["BODY.PEEK[]", "BODY.PEEK[TEXT]", "BODY.PEEK[HEADER]", "BODY.PEEK[1]", "BINARY.PEEK[1]"]


def partial_requests(full_answers: dict[str, bytes]) -> list[str]:
    reqs = []
    for target in PARTIAL_TARGETS:
        reqs += [target + r for r in PARTIAL_RANGES]
        answer = full_answers.get(target)
        m = _LITERAL_SIZE.search(answer) if answer else None
        if m:
            size = int(m.group(1))
            reqs.append(f"{target}<{max(0, size - 7)}.100>")
    return reqs


# ------------------------------------------------------------ Dovecot side
class Expected:
    __slots__ = ("status", "code", "data", "tagged")

    def __init__(self, status: str, code: bytes | None, data: bytes, tagged: bytes):
        self.status = status  # "OK", "NO", "BAD" or "DISCONNECT"
        self.code = code
        self.data = data  # untagged FETCH responses, seq rewritten to 1
        self.tagged = tagged


class Session:
    """One logged-in, EXAMINEd connection; reopened if Dovecot drops it."""

    def __init__(self, dovecot: Dovecot):
        self.dovecot = dovecot
        self.client: ImapClient | None = None

    def get(self) -> ImapClient:
        if self.client is None:
            self.client = self.dovecot.connect()
            self.client.login("oracle", "oracle")
            self.client.examine("INBOX")
        return self.client

    def drop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def dovecot_answer(session: Session, seq: int, items: str) -> Expected:
    try:
        untagged, tagged = session.get().fetch(seq, b"(" + items.encode() + b")")
    except (OSError, ImapError) as e:
        # Dovecot drops the connection when decoding fails mid-stream (e.g.
        # BINARY of truncated base64: "Base64 data ends prematurely").
        session.drop()
        return Expected("DISCONNECT", None, b"", f"connection dropped: {e}".encode())
    fetches = [_FETCH_PREFIX.sub(b"* 1 FETCH ", u, count=1) for u in untagged if _FETCH_PREFIX.match(u)]
    m = _CODE.match(tagged)
    if m:
        return Expected(m.group(1).decode(), m.group(2), b"".join(fetches), tagged.split(b" ", 1)[1])
    return Expected("OK", None, b"".join(fetches), tagged.split(b" ", 1)[1])


# ------------------------------------------------------------ inspect side
def run_inspect(icalgate: str, path: str, items: str) -> tuple[int, bytes, bytes]:
    try:
        p = subprocess.run(
            [icalgate, "inspect", path, items],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=INSPECT_TIMEOUT,
        )
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return -1, b"", b"timeout after %ds" % INSPECT_TIMEOUT
    except OSError as e:
        return -1, b"", str(e).encode()


_BINARY_SIZE_ITEM = re.compile(r"BINARY\.SIZE\[([0-9.]*)\]")
_BINARY_SIZE_VALUE = re.compile(rb"BINARY\.SIZE\[[0-9.]*\] (\d+)")
_BINARY_LITERAL = re.compile(rb"BINARY\[[0-9.]*\] ~?\{(\d+)\}\r\n")


def binary_size_inconsistency(icalgate: str, path: str, items: str) -> str | None:
    """For every BINARY.SIZE[s] in items: None if icalgate's BINARY.SIZE[s] equals the
    length of its own BINARY[s] literal, else a description of the mismatch."""
    for section in _BINARY_SIZE_ITEM.findall(items):
        request = f"BINARY.PEEK[{section}] BINARY.SIZE[{section}]"
        rc, out, err = run_inspect(icalgate, path, request)
        if rc != 0:
            return f"inspect {request!r} exited {rc}: {esc((out or err)[:200])}"
        size = _BINARY_SIZE_VALUE.search(out)
        literal = _BINARY_LITERAL.search(out)
        if not size or not literal or size.group(1) != literal.group(1):
            return f"BINARY.SIZE[{section}] disagrees with the BINARY[{section}] literal: {esc(out[:120])}"
    return None


def esc(data: bytes) -> str:
    out = []
    for b in data:
        if b == 0x5C:
            out.append("\\\\")
        elif b == 0x0D:
            out.append("\\r")
        elif b == 0x0A:
            out.append("\\n")
        elif b == 0x09:
            out.append("\\t")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def compare(exp: Expected, rc: int, out: bytes, err: bytes) -> str | None:
    """None if equal, else a short description of the difference."""
    if exp.status == "DISCONNECT":
        if rc == 1 and any(_CODE.match(line) for line in out.splitlines()):
            return None
        return f"Dovecot dropped the connection; inspect should exit 1 with a NO line, exited {rc}"
    if exp.status == "NO":
        lines = out.splitlines()
        if rc != 1:
            return f"Dovecot said {esc(exp.tagged.strip())}; inspect exited {rc}: {esc((out or err)[:200])}"
        for line in lines:
            m = _CODE.match(line)
            if m and m.group(1) == b"NO":
                if exp.code is None or m.group(2) == exp.code:
                    return None
                return f"response code differs: Dovecot [{esc(exp.code)}], inspect [{esc(m.group(2) or b'')}]"
        return f"Dovecot said {esc(exp.tagged.strip())}; inspect printed no NO line: {esc(out[:200])}"
    if exp.status == "BAD":
        if rc == 2:
            return None
        return f"Dovecot said {esc(exp.tagged.strip())}; inspect exited {rc}"
    if rc != 0:
        return f"inspect exited {rc}: {esc((err or out)[:300])}"
    if out == exp.data:
        return None
    n = min(len(out), len(exp.data))
    off = next((k for k in range(n) if out[k] != exp.data[k]), n)
    lo = max(0, off - 30)
    return (
        f"first difference at byte {off} (Dovecot {len(exp.data)} bytes, inspect {len(out)} bytes)\n"
        f"      dovecot: ...{esc(exp.data[lo:off + 40])}\n"
        f"      inspect: ...{esc(out[lo:off + 40])}"
    )


# ------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--icalgate", help="path to the icalgate executable")
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "..", "corpus"))
    ap.add_argument("--only", help="only corpus files whose name contains this")
    ap.add_argument("--items", help="only requests whose item string contains this")
    ap.add_argument("--max-failures-shown", type=int, default=25)
    ap.add_argument("--jobs", type=int, default=2, help="parallel inspect processes")
    ap.add_argument("--keep", action="store_true", help="leave Dovecot running and print its port")
    ap.add_argument("--dump", metavar="DIR", help="write Dovecot's answers to DIR instead of comparing")
    args = ap.parse_args()
    if not args.dump and not args.icalgate:
        ap.error("--icalgate is required unless --dump is given")

    corpus = os.path.abspath(args.corpus)
    files = sorted(f for f in os.listdir(corpus) if f.endswith(".eml"))
    if args.only:
        files = [f for f in files if args.only in f]
    if not files:
        print("no corpus files selected", file=sys.stderr)
        return 2

    start = time.monotonic()
    dovecot = Dovecot(users={"oracle": "oracle"}, keep=args.keep)
    with dovecot:
        client = dovecot.connect()
        client.login("oracle", "oracle")
        for name in files:
            with open(os.path.join(corpus, name), "rb") as f:
                client.append("INBOX", f.read())
        client.logout()
        session = Session(dovecot)

        # Dovecot's answers for every request: (file, items, Expected).
        plan: list[tuple[str, str, Expected]] = []
        harness_errors: list[str] = []
        for seq, name in enumerate(files, 1):
            bs = dovecot_answer(session, seq, "BODYSTRUCTURE")
            try:
                parts = walk_parts(bodystructure_of(bs.data))
            except (ParseError, ValueError, IndexError) as e:
                harness_errors.append(f"{name}: cannot parse Dovecot's BODYSTRUCTURE ({e}): {esc(bs.data[:200])}")
                continue
            answers: dict[str, Expected] = {}
            for items in base_requests(parts):
                answers[items] = dovecot_answer(session, seq, items)
            full = {k: v.data for k, v in answers.items() if v.status == "OK"}
            for items in partial_requests(full):
                answers[items] = dovecot_answer(session, seq, items)
            for items, exp in answers.items():
                if args.items and args.items not in items:
                    continue
                if exp.status == "BAD":
                    harness_errors.append(f"{name}: Dovecot rejected {items!r}: {esc(exp.tagged)}")
                plan.append((name, items, exp))
        dovecot_secs = time.monotonic() - start

        if args.keep:
            print(f"dovecot kept running on 127.0.0.1:{dovecot.port} (user oracle / oracle), "
                  f"config {dovecot.conf}; stop with: kill {dovecot.proc.pid if dovecot.proc else '?'}")
            dovecot.proc = None  # so that leaving the with-block does not stop it
        session.drop()

    if args.dump:
        for e in harness_errors:
            print(f"HARNESS {e}")
        return dump(args.dump, plan)

    # Run inspect for every request, a few at a time.
    icalgate = os.path.abspath(args.icalgate)
    passed = failed = known = shown = 0
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs))
    try:
        futures = [pool.submit(run_inspect, icalgate, os.path.join(corpus, n), it) for n, it, _ in plan]
        for (name, items, exp), fut in zip(plan, futures):
            rc, out, err = fut.result()
            diff = compare(exp, rc, out, err)
            if diff is None:
                passed += 1
                continue
            reason = KNOWN_DIFFERENCES.get((name, items))
            if reason is not None:
                # A known difference still has to hold what it claims: where icalgate
                # departs from Dovecot on BINARY.SIZE, its size must be its BINARY length.
                inconsistent = binary_size_inconsistency(icalgate, os.path.join(corpus, name), items)
                if inconsistent:
                    failed += 1
                    print(f"FAIL {name} [{items}]\n      {inconsistent}", flush=True)
                    continue
                passed += 1
                known += 1
                print(f"KNOWN {name} [{items}]: {reason}")
                continue
            failed += 1
            if shown < args.max_failures_shown:
                shown += 1
                print(f"FAIL {name} [{items}]\n      {diff}", flush=True)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    for e in harness_errors:
        failed += 1
        print(f"HARNESS {e}")
    total_secs = time.monotonic() - start
    if failed > shown + len(harness_errors):
        print(f"... {failed - shown - len(harness_errors)} more failures not shown")
    print(
        f"# {len(files)} messages, {len(plan)} requests; Dovecot {dovecot_secs:.1f}s, "
        f"total {total_secs:.1f}s; {known} known differences"
    )
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def dump(directory: str, plan: list[tuple[str, str, Expected]]) -> int:
    os.makedirs(directory, exist_ok=True)
    index: dict[str, dict] = {}
    counters: dict[str, int] = {}
    listings: dict[str, list[str]] = {}
    for name, items, exp in plan:
        stem = name[:-4] if name.endswith(".eml") else name
        n = counters.get(stem, 0) + 1
        counters[stem] = n
        rel = os.path.join(stem, f"{n:04d}.fetch")
        os.makedirs(os.path.join(directory, stem), exist_ok=True)
        with open(os.path.join(directory, rel), "wb") as f:
            f.write(exp.data)
        index[f"{name}\t{items}"] = {
            "file": rel,
            "status": exp.status,
            "code": exp.code.decode() if exp.code else None,
            # without Dovecot's timing suffix, so that dumps are reproducible
            "tagged": re.sub(r" \([0-9.+ ]+ secs\)", "", exp.tagged.decode("latin-1").rstrip("\r\n")),
        }
        listings.setdefault(stem, []).append(f"{n:04d}\t{exp.status}\t{items}")
    for stem, lines in listings.items():
        with open(os.path.join(directory, stem, "index.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    with open(os.path.join(directory, "index.json"), "w") as f:
        json.dump(index, f, indent=0, sort_keys=True)
    print(f"wrote {len(plan)} answers for {len(counters)} messages to {directory}")
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
