#!/usr/bin/env python3
"""The demo: icalgate in front of a local Exchange-shaped Dovecot, for Thunderbird.

    python3 tests/integration/demo.py --icalgate build/release/bin/icalgate \
        --graphsim build/release/bin/icalgate-graphsim           # until Ctrl-C
    ... --check                                                  # one scripted session

Builds nothing. Creates development certificates under build/demo/certs (the CA is made once
and reused, so Thunderbird needs to import it only once), starts a private Dovecot on
127.0.0.1 seeded with an Exchange-shaped mailbox (tests/rewrite/make_mailbox.py: OWA-link
meeting requests, cancellations and responses, ordinary mail), the Graph simulator serving
the meetings' events, and the gateway on 127.0.0.1:9993 (IMAPS) and 127.0.0.1:9143
(STARTTLS), which serves every OWA-link invitation as an iMIP message with its
text/calendar part. Everything it started is stopped on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import env  # noqa: E402

USER = "alice@contoso.com"
PASSWORD = "demo"
IMAPS_PORT = 9993
IMAP_PORT = 9143


def demo_mailbox(root: Path) -> tuple[list[tuple[str, bytes]], Path]:
    """The fixture mailbox (messages in APPEND order) and its Graph data directory."""
    fixtures = root / "fixtures"
    shutil.rmtree(fixtures, ignore_errors=True)
    subprocess.run([sys.executable, str(env.REPO / "tests" / "rewrite" / "make_mailbox.py"), str(fixtures),
                    "--upn", USER], check=True, stdout=subprocess.DEVNULL)
    manifest = json.loads((fixtures / "manifest.json").read_text())
    return [(Path(m["file"]).name, (fixtures / m["file"]).read_bytes()) for m in manifest], fixtures / "graph"


def instructions(w: env.World, messages: list[tuple[str, bytes]]) -> str:
    ca = w.certs["ca"]
    names = "\n".join(f"      {n}" for n, _ in messages)
    return f"""
icalgate demo is running.

  Gateway:   IMAPS    127.0.0.1:{IMAPS_PORT}   (SSL/TLS)
             STARTTLS 127.0.0.1:{IMAP_PORT}   (STARTTLS)
  Upstream:  Dovecot  127.0.0.1:{w.upstream.imaps_port} (IMAPS, private, seeded)
  Account:   {USER}
  Password:  {PASSWORD}
  Mailbox:   INBOX with {len(messages)} messages:
{names}
  Graph:     simulator on 127.0.0.1 (the meetings' events); OWA-link invitations are
             rewritten into iMIP (state: {w.root}/rewrite.db)

Thunderbird
  1. Trust the development CA once: Settings > Privacy & Security > Certificates >
     Manage Certificates > Authorities > Import, choose
         {ca}
     and tick "Trust this CA to identify websites" (Thunderbird uses it for mail servers).
  2. Account Settings > Account Actions > Add Mail Account: name, {USER}, password {PASSWORD},
     then "Configure manually":
       Incoming  IMAP   hostname localhost   port {IMAPS_PORT}   SSL/TLS    Normal password
                 (or                  port {IMAP_PORT}   STARTTLS   Normal password)
       Username  {USER}
       Outgoing  SMTP   any (e.g. localhost 25, no authentication): the demo does not send mail.
     "Re-test", then "Done" (confirm the outgoing-server warning).
  3. The INBOX shows the meeting messages through the gateway: open a "request-..." one and
     Thunderbird shows Accept / Tentative / Decline (its Lightning calendar is built in).

From a shell
  curl --cacert {ca} --user '{USER}:{PASSWORD}' 'imaps://localhost:{IMAPS_PORT}/INBOX;UID=1'
  openssl s_client -quiet -CAfile {ca} -connect 127.0.0.1:{IMAPS_PORT}

Gateway log: {w.gateway.log_path}
Press Ctrl-C to stop: every process started here is stopped (certificates, config and log
stay in {w.root}).
"""


def check(w: env.World, messages: list[tuple[str, bytes]]) -> bool:
    """One scripted client session through each listener; prints what it saw."""
    ok = True

    def show(label: str, data: bytes) -> None:
        text = data.decode(errors="replace").rstrip("\r\n")
        for line in text.splitlines()[:3]:
            print(f"  {label} {line[:150]}")

    def expect(cond: bool, what: str) -> None:
        nonlocal ok
        print(f"  [{'ok' if cond else 'FAIL'}] {what}")
        ok = ok and cond

    for mode in ("IMAPS", "STARTTLS"):
        print(f"{mode} session to 127.0.0.1:{IMAPS_PORT if mode == 'IMAPS' else IMAP_PORT}")
        try:
            c = w.connect_imaps() if mode == "IMAPS" else w.connect_imap()
            with c:
                show("S:", c.greeting)
                expect(c.greeting.startswith(b"* OK"), "greeting")
                if mode == "STARTTLS":
                    expect("STARTTLS" in c.capabilities(), "STARTTLS offered")
                    tagged = c.starttls()
                    show("S:", tagged)
                caps = c.capabilities()
                print(f"  capabilities: {' '.join(sorted(caps))}")
                expect("STARTTLS" not in caps and "AUTH=PLAIN" in caps, "TLS-only capabilities")
                tagged = c.login(USER, PASSWORD)
                show("S:", tagged)
                untagged = c.check(b"SELECT INBOX")
                exists = [u for u in untagged if u.endswith(b" EXISTS\r\n")]
                show("S:", b"".join(exists))
                expect(exists == [b"* %d EXISTS\r\n" % len(messages)], f"{len(messages)} messages in INBOX")
                untagged, tagged = c.command(b"FETCH 1:* (RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
                expect(env.status_of(tagged) == b"OK", "FETCH of every message")
                for u in untagged:
                    m = re.search(rb"RFC822.SIZE (\d+).*?\r\nSubject: ([^\r\n]*)", u, re.S)
                    if m:
                        print(f"    {int(m.group(1)):7d} bytes  {m.group(2).decode(errors='replace')[:90]}")
                expect(len(untagged) == len(messages), "one FETCH response per message")
                invitation = next(i for i, (n, _) in enumerate(messages, 1) if "request" in n)
                untagged, tagged = c.command(b"FETCH %d (BODY.PEEK[])" % invitation)
                body = re.sub(rb"^[^\r\n]*\r\n", b"", untagged[0], count=1) if untagged else b""
                msg = email.message_from_bytes(body, policy=email.policy.compat32)
                cals = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
                expect(len(cals) == 1, f"message {invitation} ({messages[invitation - 1][0]}) served as iMIP")
                ics = cals[0].get_payload(decode=True).decode(errors="replace") if cals else ""
                event = ics[ics.find("BEGIN:VEVENT"):]
                for line in ics.splitlines()[:4] + event.splitlines():
                    if line.split(":")[0].split(";")[0] in ("METHOD", "SUMMARY", "DTSTART", "ORGANIZER"):
                        print(f"    {line[:110]}")
                untagged, tagged = c.command(b"LOGOUT")
                expect(env.status_of(tagged) == b"OK" and any(u.startswith(b"* BYE") for u in untagged), "LOGOUT")
        except Exception as e:  # a failed check reports, never tracebacks
            expect(False, f"{mode} session: {type(e).__name__}: {e}")
    return ok


def main() -> int:
    global IMAPS_PORT, IMAP_PORT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--icalgate", required=True, help="the icalgate executable")
    ap.add_argument("--graphsim", required=True, help="the icalgate-graphsim executable")
    ap.add_argument("--dir", default=str(env.REPO / "build" / "demo"), help="where certificates, config and log go")
    ap.add_argument("--check", action="store_true", help="drive one scripted session, print it, exit 0 or 1")
    ap.add_argument("--log-level", default="info", help="the gateway's [log] level (default info)")
    ap.add_argument("--imaps-port", type=int, default=IMAPS_PORT, help=f"default {IMAPS_PORT}; 0 = any free port")
    ap.add_argument("--imap-port", type=int, default=IMAP_PORT, help=f"default {IMAP_PORT}; 0 = any free port")
    args = ap.parse_args()
    IMAPS_PORT = args.imaps_port or env.free_port()
    IMAP_PORT = args.imap_port or env.free_port()

    for port in (IMAPS_PORT, IMAP_PORT):
        if env.port_accepts(port):
            print(f"demo: 127.0.0.1:{port} is already in use (another demo running?)", file=sys.stderr)
            return 1
    root = Path(args.dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    messages, graph_data = demo_mailbox(root)
    (root / "gateway.log").unlink(missing_ok=True)
    (root / "rewrite.db").unlink(missing_ok=True)
    graph = env.GraphSim(args.graphsim, graph_data, root)
    with env.sigterm_as_exception():
        try:
            graph.start()
            world = env.World(
                icalgate=args.icalgate,
                users={USER: PASSWORD},
                seed=[],
                root=root,
                gateway_options=dict(
                    imaps_port=IMAPS_PORT, imap_port=IMAP_PORT, log_level=args.log_level, name="gateway",
                    limits={"login_failure_delay": "1s", "shutdown_grace": "2s"},
                    extra_config=graph.config() + f'\n[rewrite]\nenabled = true\nstate = "{root}/rewrite.db"\n'),
            )
            world.seed_dated = True
            world.seed_messages = messages
            with world:
                if args.check:
                    ok = check(world, messages)
                    print("demo check: " + ("PASSED" if ok else "FAILED"))
                    if not ok:
                        print(f"--- gateway log ({world.gateway.log_path}) ---\n{world.gateway.log_tail(3000)}")
                    return 0 if ok else 1
                print(instructions(world, messages), flush=True)
                while world.gateway.running:
                    time.sleep(0.5)
                print(f"demo: icalgate exited with status {world.gateway.proc.returncode}\n{world.gateway.log_tail()}")
                return 1
        except KeyboardInterrupt:
            print("\ndemo: stopped; cleaned up.")
            return 0
        except env.EnvError as e:
            print(f"demo: {e}", file=sys.stderr)
            return 1
        finally:
            graph.stop()


if __name__ == "__main__":
    sys.exit(main())
