#!/usr/bin/env python3
"""Differential proof for rewritten meeting messages.

    python3 tests/differential/run_rewrite_differential.py --icalgate build/dev/bin/icalgate \\
        [--fixtures tests/unit/data/owa] [--keep-dir DIR] [-- run_differential.py options]

For every OWA-link fixture NAME.eml that has a Graph response NAME.json beside it:
  1. `icalgate rewrite --event NAME.json NAME.eml` writes the rewritten message into a
     temporary directory; a second run must give the same bytes (determinism);
  2. the rewritten message is read with Python's email package and Debian's python3-icalendar
     (run with /usr/bin/python3): exactly one text/calendar part, last in its
     multipart/alternative, whose VCALENDAR parses and has the METHOD that the Graph
     meetingMessageType asks for and UID = event.iCalUId; no text part still carries the
     "Microsoft Outlook Web Access" link;
  3. `icalgate inspect --rewrite --event NAME.json NAME.eml ITEMS` must equal
     `icalgate inspect REWRITTEN ITEMS` (both paths serve the same message);
  4. run_differential.py runs on the directory of rewritten messages: Dovecot, given the
     rewritten bytes by APPEND, must answer every FETCH item exactly as `icalgate inspect`
     (BINARY.SIZE aside, where Dovecot contradicts its own BINARY literal: see below).
Fixtures without NAME.json must be refused by `icalgate rewrite` (exit status 1).

Exit status 0 only if every step passed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run_differential as rd  # noqa: E402
SYSTEM_PYTHON = "/usr/bin/python3"
METHODS = {
    "meetingRequest": "REQUEST",
    "meetingCancelled": "CANCEL",
    "meetingAccepted": "REPLY",
    "meetingTenativelyAccepted": "REPLY",
    "meetingDeclined": "REPLY",
}
INSPECT_ITEMS = ["RFC822.SIZE BODYSTRUCTURE ENVELOPE", "BODY.PEEK[]", "BODY.PEEK[TEXT]<100.500>"]

# Runs under /usr/bin/python3 (Debian's icalendar): argv = rewritten file, METHOD, UID.
CHECK_ICS = r'''
import email, email.policy, sys
import icalendar
path, method, uid = sys.argv[1], sys.argv[2], sys.argv[3]
with open(path, "rb") as f:
    msg = email.message_from_binary_file(f, policy=email.policy.compat32)
cals = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
assert len(cals) == 1, f"{len(cals)} text/calendar parts"
part = cals[0]
assert part.get_param("method") == method, part.get("Content-Type")
assert part.get_content_charset() == "utf-8", part.get("Content-Type")
assert part.get("Content-Transfer-Encoding", "").lower() == "base64"
parent = [p for p in msg.walk() if p.is_multipart() and part in p.get_payload()]
assert parent and parent[0].get_content_type() == "multipart/alternative", "not in an alternative"
assert parent[0].get_payload()[-1] is part, "calendar is not the last alternative"
cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
assert str(cal.get("METHOD")) == method, cal.get("METHOD")
events = [c for c in cal.walk("VEVENT")]
assert len(events) == 1, f"{len(events)} VEVENTs"
assert str(events[0].get("UID")) == uid, events[0].get("UID")
assert events[0].get("DTSTAMP") is not None
for p in msg.walk():
    if p.get_content_type() in ("text/plain", "text/html"):
        text = p.get_payload(decode=True)
        assert b"Microsoft Outlook Web Access" not in text, "marker left in a text part"
        assert b"To receive meeting invitations" not in text, "iCalendar hint left"
print("ok")
'''


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--icalgate", required=True)
    ap.add_argument("--fixtures", default=os.path.join(HERE, "..", "unit", "data", "owa"))
    ap.add_argument("--keep-dir", help="write the rewritten messages here and keep them")
    args, rest = ap.parse_known_args()
    icalgate = os.path.abspath(args.icalgate)
    fixtures = os.path.abspath(args.fixtures)
    names = sorted(f[:-4] for f in os.listdir(fixtures) if f.endswith(".eml"))
    failures: list[str] = []
    rewritten = 0

    with tempfile.TemporaryDirectory(prefix="icalgate-rewrite-") as tmp:
        out_dir = os.path.abspath(args.keep_dir) if args.keep_dir else tmp
        os.makedirs(out_dir, exist_ok=True)
        for name in names:
            eml = os.path.join(fixtures, name + ".eml")
            event = os.path.join(fixtures, name + ".json")
            if not os.path.exists(event):
                # Not a meeting message: must be refused, with the other fixture's event.
                any_event = next((os.path.join(fixtures, n + ".json") for n in names
                                  if os.path.exists(os.path.join(fixtures, n + ".json"))), None)
                if any_event:
                    r = run([icalgate, "rewrite", "--event", any_event, eml])
                    if r.returncode != 1 or r.stdout:
                        failures.append(f"{name}: expected a refusal (exit 1), got {r.returncode}")
                continue
            first = run([icalgate, "rewrite", "--event", event, eml])
            second = run([icalgate, "rewrite", "--event", event, eml])
            if first.returncode != 0:
                failures.append(f"{name}: rewrite exited {first.returncode}: "
                                f"{first.stderr.decode(errors='replace')[:300]}")
                continue
            if first.stdout != second.stdout:
                failures.append(f"{name}: two rewrites differ")
            out = os.path.join(out_dir, name + ".eml")
            with open(out, "wb") as f:
                f.write(first.stdout)
            rewritten += 1

            with open(event, encoding="utf-8") as f:
                graph = json.load(f)["value"][0]
            method = METHODS[graph["meetingMessageType"]]
            uid = graph["event"]["iCalUId"]
            chk = run([SYSTEM_PYTHON, "-c", CHECK_ICS, out, method, uid])
            if chk.returncode != 0:
                failures.append(f"{name}: python3-icalendar check: "
                                f"{chk.stderr.decode(errors='replace').strip()[-400:]}")

            for items in INSPECT_ITEMS:
                a = run([icalgate, "inspect", "--rewrite", "--event", event, eml, items])
                b = run([icalgate, "inspect", out, items])
                if a.returncode != 0 or a.stdout != b.stdout:
                    failures.append(f"{name}: inspect --rewrite {items!r} differs from inspect of "
                                    f"the rewritten file (exit {a.returncode})")

        if rewritten == 0:
            failures.append("no fixture was rewritten")
        for f in failures:
            print(f"FAIL {f}")
        print(f"{rewritten} messages rewritten, {len(failures)} failures before the Dovecot run",
              flush=True)
        if rewritten == 0:
            return 1
        diff = run_dovecot_differential(icalgate, out_dir, rest)
    return 0 if not failures and diff == 0 else 1


# Dovecot 2.3.19 answers BINARY.SIZE of a decoded text part from a cached estimate that
# disagrees with the length of its own BINARY literal for the same part (the corpus has the
# same entries in run_differential.KNOWN_DIFFERENCES). For the rewritten messages every
# BINARY.SIZE item is registered as that known difference; run_differential still checks
# that icalgate's BINARY.SIZE equals the length of its BINARY literal, and every BINARY[...]
# item itself (literal length and bytes) must equal Dovecot's exactly.
class _RewrittenKnownDifferences(dict):
    def __init__(self, base: dict, names: set[str]):
        super().__init__(base)
        self.names = names

    def get(self, key, default=None):
        name, items = key
        if name in self.names and "BINARY.SIZE[" in items:
            return rd.KNOWN_DIFFERENCES_REASON_REWRITE
        return super().get(key, default)


def run_dovecot_differential(icalgate: str, corpus: str, rest: list[str]) -> int:
    names = {f for f in os.listdir(corpus) if f.endswith(".eml")}
    rd.KNOWN_DIFFERENCES_REASON_REWRITE = (
        "BINARY.SIZE reports the true decoded length (the size of BINARY's literal); "
        "Dovecot's cached value disagrees with its own BINARY answer")
    rd.KNOWN_DIFFERENCES = _RewrittenKnownDifferences(rd.KNOWN_DIFFERENCES, names)
    saved = sys.argv
    sys.argv = ["run_differential.py", "--icalgate", icalgate, "--corpus", corpus, *rest]
    try:
        return rd.main()
    finally:
        sys.argv = saved


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, rd._interrupt)
    sys.exit(main())
