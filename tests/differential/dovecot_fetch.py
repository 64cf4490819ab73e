#!/usr/bin/env python3
"""Print Dovecot's raw FETCH answer for one message.

    python3 tests/differential/dovecot_fetch.py FILE 'ITEMS'

APPENDs FILE to a fresh private Dovecot 2.3, EXAMINEs INBOX (read-only: a
non-PEEK BODY[] sets no \\Seen and adds no FLAGS) and writes the untagged
responses to `FETCH 1 ITEMS` to stdout, byte for byte. ITEMS may be
"(A B)", "A B" (parenthesised for you) or a bare macro (ALL, FAST, FULL).
If Dovecot answers NO/BAD, the tagged line is printed without its tag and
the exit status is 1. If Dovecot drops the connection (it does when BINARY
decoding fails mid-part), the bytes it sent before are printed, a note goes
to stderr and the exit status is 3.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dovecot import Dovecot, ImapError, fetch_items_arg  # noqa: E402


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        msg = f.read()
    with Dovecot(users={"oracle": "oracle"}) as d:
        c = d.connect()
        c.login("oracle", "oracle")
        c.append("INBOX", msg)
        c.examine("INBOX")
        try:
            untagged, tagged = c.fetch(1, fetch_items_arg(sys.argv[2]))
        except ImapError as e:
            sys.stdout.buffer.write(e.partial)
            sys.stdout.buffer.flush()
            print(f"\ndovecot_fetch: Dovecot dropped the connection ({e})", file=sys.stderr)
            return 3
        c.logout()
    out = sys.stdout.buffer
    for resp in untagged:
        out.write(resp)
    status = tagged.split(b" ", 1)[1]
    if not status.startswith(b"OK"):
        out.write(status)
        out.flush()
        return 1
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
