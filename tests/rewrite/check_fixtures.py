#!/usr/bin/env python3
"""Verifies a fixture set written by make_mailbox.py against the offline tools and the Graph
simulator, so that an end-to-end test failing later points at the gateway, not at its fixtures.

    check_fixtures.py --icalgate build/fix/bin/icalgate OUTDIR
        [--graphsim PATH] (default: icalgate-graphsim beside icalgate) [--jobs N]

- every .eml: the Message-ID is the manifest's, the Graph JSON (if any) carries the same
  internetMessageId and a receivedDateTime a few seconds after the Date header;
- "rewrite": `icalgate rewrite --event JSON EML` exits 0 and its output has exactly one
  text/calendar part, the last alternative of a multipart/alternative, with the manifest's
  METHOD (in the Content-Type and in the VCALENDAR) and UID, and no text part still carries
  the Outlook Web Access marker;
- "original": the first text body starts with the marker (checked here), `icalgate rewrite`
  with Graph's empty answer fails because of the event, and with an unrelated event succeeds
  (so the message is classified as an OWA-link message);
- "plain": `icalgate rewrite` fails with "not an OWA-link meeting message";
- graphsim: the message lookup by internetMessageId answers each rewrite entry's event, an
  empty collection for messages Graph does not have, the message without event for ordinary
  ones; the listing by message class (IPM.Schedule.Meeting.*) pages through exactly the
  manifest's meeting messages.

Exit status 0 when every check passes. Stdlib only.
"""

import argparse
import concurrent.futures
import datetime
import email
import email.policy
import email.utils
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import urllib.parse

try:  # Debian's python3-icalendar, when this runs under /usr/bin/python3: a second parser
    import icalendar
except ImportError:
    icalendar = None

MARKER = "Microsoft Outlook Web Access: "
TENANT = "contoso.onmicrosoft.com"
SCOPE = "https://graph.microsoft.com/.default"
CLIENTS = {"clients": [{"tenant": TENANT, "client_id": "8d0f7a52-6c1b-4f0e-9a7e-3c2d1e0f4b5a",
                        "client_secret": "graphsim-test-secret-9f8e7d6c"}]}
LISTING_FILTER = ("singleValueExtendedProperties/any(ep: ep/id eq 'String 0x001A' and "
                  "startswith(ep/value, 'IPM.Schedule.Meeting.'))")
EMPTY_COLLECTION = json.dumps({
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('x')/messages",
    "value": []})


class Checker:
    def __init__(self):
        self.failures = []
        self.passed = 0
        self.lock = threading.Lock()

    def check(self, condition, what):
        with self.lock:
            if condition:
                self.passed += 1
            else:
                self.failures.append(what)
                print("FAIL:", what, flush=True)
        return condition


# ---- MIME helpers (the email package) ------------------------------------------------------

def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def is_text_body(part) -> bool:
    return part.get_content_type() in ("text/plain", "text/html")


def first_text_body(msg):
    """The first text body as Exchange renders it (single part, alternative, related,
    optionally inside a multipart/mixed): where Exchange puts the marker."""
    body = msg
    if body.get_content_type() == "multipart/mixed":
        body = body.get_payload()[0]
    if body.get_content_type() == "multipart/related":
        body = body.get_payload()[0]
    if body.get_content_type() == "multipart/alternative":
        for child in body.get_payload():
            if child.get_content_type() == "multipart/related":
                child = child.get_payload()[0]
            if is_text_body(child):
                return child
        return None
    return body if is_text_body(body) else None


def starts_with_marker(part) -> bool:
    text = part.get_content()
    if part.get_content_type() == "text/plain":
        return text.startswith(MARKER)
    match = re.search(r"<body[^>]*>\s*", text, re.IGNORECASE)
    return bool(match) and text[match.end():].startswith("<br>" + MARKER)


def calendar_parts(msg):
    return [p for p in msg.walk() if p.get_content_type() in ("text/calendar", "application/ics")]


def ical_lines(text: str) -> list[str]:
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    return [line for line in re.split(r"\r?\n", unfolded) if line]


def ical_value(lines: list[str], name: str, inside: str | None = None) -> list[str]:
    out = []
    depth = []
    for line in lines:
        key, _, value = line.partition(":")
        prop = key.split(";")[0].upper()
        if prop == "BEGIN":
            depth.append(value.upper())
        elif prop == "END":
            if depth:
                depth.pop()
        elif prop == name and (inside is None or (depth and depth[-1] == inside)):
            out.append(value)
    return out


def parent_of(msg, target):
    for part in msg.walk():
        if part.is_multipart() and any(child is target for child in part.get_payload()):
            return part
    return None


# ---- the offline tool ----------------------------------------------------------------------

def run_rewrite(icalgate: str, event: str, eml: str):
    proc = subprocess.run([icalgate, "rewrite", "--event", event, eml], capture_output=True,
                          timeout=120)
    return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")


def run_inspect(icalgate: str, eml: str, event: str | None = None):
    rewrite = ["--rewrite", "--event", event] if event else []
    proc = subprocess.run([icalgate, "inspect", *rewrite, eml, "RFC822.SIZE BODYSTRUCTURE"],
                          capture_output=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")


def check_rewrite(c: Checker, icalgate: str, outdir: str, e: dict):
    name = e["file"]
    rc, out, err = run_rewrite(icalgate, os.path.join(outdir, e["graph_file"]),
                               os.path.join(outdir, e["file"]))
    if not c.check(rc == 0, f"{name}: icalgate rewrite exits {rc}: {err.strip()}"):
        return
    rc, fetch, err = run_inspect(icalgate, os.path.join(outdir, e["file"]),
                                 os.path.join(outdir, e["graph_file"]))
    c.check(rc == 0 and b'"text" "calendar"' in fetch.lower(),
            f"{name}: icalgate inspect --rewrite: exit {rc}, no text/calendar in BODYSTRUCTURE "
            f"{err.strip()}")
    msg = parse(out)
    c.check(msg["Message-ID"] == e["message_id"], f"{name}: rewritten Message-ID changed")
    cals = calendar_parts(msg)
    if not c.check(len(cals) == 1, f"{name}: {len(cals)} calendar parts in the rewrite"):
        return
    cal = cals[0]
    c.check(cal.get_content_type() == "text/calendar", f"{name}: calendar part type")
    c.check((cal.get_param("method") or "").upper() == e["method"],
            f"{name}: Content-Type method={cal.get_param('method')}, expected {e['method']}")
    c.check((cal.get_content_charset() or "").lower() == "utf-8", f"{name}: calendar charset")
    parent = parent_of(msg, cal)
    c.check(parent is not None and parent.get_content_type() == "multipart/alternative"
            and parent.get_payload()[-1] is cal,
            f"{name}: text/calendar is not the last alternative of a multipart/alternative")
    lines = ical_lines(cal.get_content())
    c.check(ical_value(lines, "METHOD", "VCALENDAR") == [e["method"]],
            f"{name}: METHOD {ical_value(lines, 'METHOD', 'VCALENDAR')}, expected {e['method']}")
    c.check(ical_value(lines, "UID", "VEVENT") == [e["ical_uid"]],
            f"{name}: UID {ical_value(lines, 'UID', 'VEVENT')}, expected {e['ical_uid']}")
    if icalendar is not None:
        try:
            parsed = icalendar.Calendar.from_ical(cal.get_content())
            uids = [str(v["UID"]) for v in parsed.walk("VEVENT")]
            c.check(str(parsed.get("METHOD")) == e["method"] and uids == [e["ical_uid"]],
                    f"{name}: python3-icalendar reads METHOD {parsed.get('METHOD')}, UID {uids}")
        except ValueError as x:
            c.check(False, f"{name}: python3-icalendar cannot parse the calendar: {x}")
    for part in msg.walk():
        if is_text_body(part) and part.get_content_disposition() != "attachment":
            c.check(MARKER not in part.get_content(),
                    f"{name}: the marker is still in a {part.get_content_type()} part")


def check_original(c: Checker, icalgate: str, outdir: str, e: dict, unrelated: str | None,
                   empty: str):
    name = e["file"]
    eml = os.path.join(outdir, e["file"])
    with open(eml, "rb") as f:
        msg = parse(f.read())
    body = first_text_body(msg)
    c.check(not calendar_parts(msg), f"{name}: has a calendar part")
    c.check(body is not None and starts_with_marker(body),
            f"{name}: the first text body does not start with the marker")
    rc, _, err = run_rewrite(icalgate, empty, eml)
    c.check(rc == 1 and "event" in err and "not an OWA-link" not in err,
            f"{name}: rewrite without event: exit {rc}: {err.strip()}")
    if unrelated:
        rc, _, err = run_rewrite(icalgate, unrelated, eml)
        c.check(rc == 0, f"{name}: not classified as OWA-link (rewrite with another event: "
                         f"exit {rc}: {err.strip()})")


def check_plain(c: Checker, icalgate: str, outdir: str, e: dict, unrelated: str | None):
    name = e["file"]
    event = os.path.join(outdir, e["graph_file"]) if e["graph"] == "meeting" else unrelated
    if event is None:
        return
    rc, _, err = run_rewrite(icalgate, event, os.path.join(outdir, e["file"]))
    c.check(rc == 1 and "not an OWA-link meeting message" in err,
            f"{name}: expected 'not an OWA-link meeting message', got exit {rc}: {err.strip()}")


def check_files(c: Checker, icalgate: str, outdir: str, e: dict):
    name = e["file"]
    with open(os.path.join(outdir, e["file"]), "rb") as f:
        data = f.read()
    rc, fetch, err = run_inspect(icalgate, os.path.join(outdir, e["file"]))
    c.check(rc == 0 and b"BODYSTRUCTURE (" in fetch,
            f"{name}: icalgate inspect: exit {rc} {err.strip()}")
    c.check(b"\n" not in data.replace(b"\r\n", b""), f"{name}: bare LF")
    head = parse(data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
    c.check(head["Message-ID"] == e["message_id"], f"{name}: Message-ID differs from manifest")
    date = email.utils.parsedate_to_datetime(head["Date"])
    received = datetime.datetime.strptime(e["received"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    c.check(datetime.timedelta(0) <= received - date <= datetime.timedelta(minutes=5),
            f"{name}: received {e['received']} not just after Date {head['Date']}")
    if e["graph_file"]:
        with open(os.path.join(outdir, e["graph_file"]), encoding="utf-8") as f:
            msg = json.load(f)["value"][0]
        c.check(msg.get("internetMessageId") == e["message_id"], f"{name}: JSON internetMessageId")
        c.check(msg.get("receivedDateTime") == e["received"], f"{name}: JSON receivedDateTime")
        kind = "meeting" if "meetingMessageType" in msg and msg.get("event") else "message"
        c.check(kind == e["graph"], f"{name}: JSON is a {kind}, manifest says {e['graph']}")
    else:
        c.check(e["graph"] is None, f"{name}: manifest names Graph data but has no file")


# ---- graphsim ------------------------------------------------------------------------------

class Graph:
    def __init__(self, port: int):
        self.port = port
        self.token = None

    def request(self, method: str, target: str, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request(method, target, body=body, headers=headers or {})
        res = conn.getresponse()
        data = res.read()
        conn.close()
        return res.status, data

    def get_token(self, client: dict) -> int:
        form = urllib.parse.urlencode({"grant_type": "client_credentials",
                                       "client_id": client["client_id"],
                                       "client_secret": client["client_secret"], "scope": SCOPE})
        status, data = self.request("POST", f"/{client['tenant']}/oauth2/v2.0/token", form,
                                    {"Content-Type": "application/x-www-form-urlencoded"})
        if status == 200:
            self.token = json.loads(data)["access_token"]
        return status

    def get(self, target: str):
        status, data = self.request("GET", target, headers={
            "Authorization": f"Bearer {self.token}"})
        return status, json.loads(data) if data else None


def messages_target(upn: str, params: dict) -> str:
    return (f"/v1.0/users/{urllib.parse.quote(upn, safe='@')}/messages?"
            + urllib.parse.urlencode(params, quote_via=urllib.parse.quote, safe="$"))


def odata_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def check_graph(c: Checker, graphsim: str, outdir: str, upn: str, manifest: list,
                chosen: list):
    graph_dir = os.path.join(outdir, "graph")
    clients = os.path.join(graph_dir, "clients.json")
    if not os.path.exists(clients):
        with open(clients, "w", encoding="utf-8") as f:
            json.dump(CLIENTS, f, indent=2)
            f.write("\n")
    with open(clients, encoding="utf-8") as f:
        client = json.load(f)["clients"][0]
    log = tempfile.NamedTemporaryFile(prefix="graphsim-", suffix=".log", delete=False)
    proc = subprocess.Popen([graphsim, "--listen", "127.0.0.1:0", "--data", graph_dir,
                             "--exit-on-stdin-eof"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = proc.stdout.readline().strip()
        if not c.check(line.startswith("graphsim listening on "), f"graphsim start: {line!r}"):
            return
        graph = Graph(int(line.rsplit(":", 1)[1]))
        if not c.check(graph.get_token(client) == 200, "graphsim token request"):
            return
        for e in chosen:
            name = e["file"]
            status, body = graph.get(messages_target(upn, {
                "$filter": f"internetMessageId eq {odata_string(e['message_id'])}",
                "$expand": "microsoft.graph.eventMessage/event"}))
            if not c.check(status == 200, f"{name}: lookup status {status}"):
                continue
            value = body.get("value", [])
            if e["graph"] is None:
                c.check(value == [], f"{name}: Graph has this message, it should not")
                continue
            if not c.check(len(value) == 1, f"{name}: lookup returned {len(value)} messages"):
                continue
            msg = value[0]
            c.check(msg.get("internetMessageId") == e["message_id"], f"{name}: lookup id")
            if e["graph"] == "message":
                c.check("event" not in msg, f"{name}: an ordinary message has an event")
            elif e["expect"] == "rewrite":
                ev = msg.get("event") or {}
                c.check(ev.get("iCalUId") == e["ical_uid"],
                        f"{name}: lookup iCalUId {ev.get('iCalUId')}, expected {e['ical_uid']}")
        listed = []
        received = []
        target = messages_target(upn, {"$filter": LISTING_FILTER,
                                       "$select": "internetMessageId,receivedDateTime",
                                       "$top": "10"})
        pages = 0
        while target and pages < 10000:
            status, body = graph.get(target)
            if not c.check(status == 200, f"listing page {pages}: status {status} {body}"):
                break
            pages += 1
            for m in body.get("value", []):
                listed.append(m.get("internetMessageId"))
                received.append(m.get("receivedDateTime"))
            link = body.get("@odata.nextLink")
            target = None
            if link:
                parsed = urllib.parse.urlsplit(link)
                target = parsed.path + "?" + parsed.query
        expected = [e["message_id"] for e in manifest if e["graph"] == "meeting"]
        c.check(len(listed) == len(set(listed)), "listing repeats messages")
        c.check(set(listed) == set(expected),
                f"listing: {len(set(listed) - set(expected))} unexpected, "
                f"{len(set(expected) - set(listed))} missing of {len(expected)} meeting messages")
        c.check(received == sorted(received, reverse=True), "listing is not newest first")
        print(f"graphsim: {len(chosen)} lookups, listing of {len(listed)} meeting messages in "
              f"{pages} pages")
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if not c.failures:
            os.unlink(log.name)
        else:
            print(f"graphsim log: {log.name}")


def summary(manifest: list) -> str:
    def count(entries, key):
        out = {}
        for e in entries:
            out[key(e)] = out.get(key(e), 0) + 1
        return ", ".join(f"{k}: {n}" for k, n in sorted(out.items()))
    lines = [f"messages: {len(manifest)}",
             "expect: " + count(manifest, lambda e: e["expect"]),
             "graph data: " + count(manifest, lambda e: e["graph"] or "none")]
    for expect in ("rewrite", "original", "plain"):
        entries = [e for e in manifest if e["expect"] == expect]
        if expect == "rewrite":
            lines.append("rewrite methods: " + count(entries, lambda e: e["method"]))
        lines.append(f"{expect} shapes: " + count(entries, lambda e: e["shape"]))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--icalgate", required=True)
    ap.add_argument("--graphsim")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--sample", type=int, default=0,
                    help="check at most N messages per expect value, evenly spread (for the "
                         "large mailbox; the Graph listing is always checked in full)")
    args = ap.parse_args()
    graphsim = args.graphsim or os.path.join(os.path.dirname(args.icalgate), "icalgate-graphsim")
    with open(os.path.join(args.outdir, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    users = os.listdir(os.path.join(args.outdir, "graph", "users"))
    if len(users) != 1:
        print("expected one user under graph/users/", file=sys.stderr)
        return 2
    upn = users[0]
    print(summary(manifest))
    chosen = manifest
    if args.sample > 0:
        chosen = []
        for expect in ("rewrite", "original", "plain"):
            entries = [e for e in manifest if e["expect"] == expect]
            step = max(1, len(entries) // args.sample)
            chosen += entries[::step][:args.sample]
        print(f"checking a sample of {len(chosen)} messages")
    c = Checker()
    rewrites = [e for e in manifest if e["expect"] == "rewrite"]
    unrelated = os.path.join(args.outdir, rewrites[0]["graph_file"]) if rewrites else None
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty.json")
        with open(empty, "w", encoding="utf-8") as f:
            f.write(EMPTY_COLLECTION)

        def one(e):
            try:
                check_entry(e)
            except (OSError, ValueError, KeyError, IndexError, subprocess.SubprocessError) as x:
                c.check(False, f"{e.get('file')}: {type(x).__name__}: {x}")

        def check_entry(e):
            check_files(c, args.icalgate, args.outdir, e)
            if e["expect"] == "rewrite":
                check_rewrite(c, args.icalgate, args.outdir, e)
            elif e["expect"] == "original":
                check_original(c, args.icalgate, args.outdir, e, unrelated, empty)
            else:
                check_plain(c, args.icalgate, args.outdir, e, unrelated)

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for f in [pool.submit(one, e) for e in chosen]:
                f.result()
    check_graph(c, graphsim, args.outdir, upn, manifest, chosen)
    print(f"{c.passed} checks passed, {len(c.failures)} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
