#!/usr/bin/env python3
"""A real Thunderbird shows the invitation bar for the meeting messages icalgate rewrites.

    python3 tests/integration/test_thunderbird_invitations.py \\
        --icalgate build/dev/bin/icalgate --graphsim build/dev/bin/icalgate-graphsim
    python3 tests/integration/test_thunderbird_invitations.py --direct --icalgate build/dev/bin/icalgate

Dovecot holds alice's Inbox: Exchange's "Outlook Web Access" link renderings of meeting
messages (tests/unit/data/owa: a request as HTML, as multipart/alternative, as plain text
and with an attachment, a cancellation, a reply), Exchange's own iMIP rendering of a request
(the control: Thunderbird's bar is reachable at all) and ordinary messages, one of them
quoting the OWA marker. icalgate-graphsim serves each meeting message's Graph response, the
gateway runs with [graph] and [rewrite], and a headless Thunderbird (thunderbird.py) reads
the Inbox through it. Then, as a user would see it:
- every request shows "This message contains an invitation to an event." with the buttons
  Accept / Tentative / Decline (and More) — "Accept all" / "Tentative all" / "Decline all"
  for a series — and Thunderbird's event summary in the body names the meeting;
- accepting one (without sending a response) puts the event, with its Graph iCalUId as UID,
  into the calendar with alice's participation ACCEPTED;
- the cancellation of an event the calendar does not hold says "This message contains an
  event that has already been processed." with no button; once the calendar holds the event
  it says "This message contains an event cancellation." with Delete, which removes it;
- the reply says it refers to an event that is not in the calendar, with no button;
- the ordinary messages show no bar at all.

--direct seeds Dovecot with the messages rewritten offline (`icalgate rewrite --event`),
and Thunderbird talks to Dovecot itself: the same assertions, without the gateway.

The element ids (#imip-bar, #imip-view-toolbar, imipAcceptButton, …) and the en-US texts
are Thunderbird 153 ESR's (aboutMessage.xhtml, imip-bar.js, calItipUtils.sys.mjs,
lightning.properties in omni.ja): the suite fails at once, saying so, when another major is
installed (thunderbird.EXPECTED_MAJORS).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import env  # noqa: E402
import thunderbird as tbird  # noqa: E402

OWA = env.REPO / "tests" / "unit" / "data" / "owa"
CORPUS = env.REPO / "tests" / "corpus"

ICALGATE = ""
GRAPHSIM = ""
DIRECT = False
SCREENSHOT_DIR = env.REPO / "build" / "thunderbird"
ALICE = next(iter(env.USERS))

# Thunderbird 153's en-US texts of the bar (lightning.properties, lightning.dtd).
REQUEST_TEXT = "This message contains an invitation to an event."
CANCEL_TEXT = "This message contains an event cancellation."
PROCESSED_TEXT = "This message contains an event that has already been processed."
REPLY_UNKNOWN_TEXT = "This message contains a reply referring to an event that is not in your calendar."
# The response buttons (calendar.itip.separateInvitationButtons on, the default), in the
# order of aboutMessage.xhtml; a series gets the *Recurrences ("… all") variants.
SINGLE_BUTTONS = [
    ("imipAcceptButton", "Accept"),
    ("imipTentativeButton", "Tentative"),
    ("imipDeclineButton", "Decline"),
    ("imipMoreButton", "More"),
]
SERIES_BUTTONS = [
    ("imipAcceptRecurrencesButton", "Accept all"),
    ("imipTentativeRecurrencesButton", "Tentative all"),
    ("imipDeclineRecurrencesButton", "Decline all"),
    ("imipMoreButton", "More"),
]
RESPONSE_BUTTON_IDS = {i for i, _ in SINGLE_BUTTONS + SERIES_BUTTONS} - {"imipMoreButton"}

PREFS = {
    # Pinned rather than left to defaults: the assertions depend on them.
    "calendar.itip.separateInvitationButtons": True,
    "calendar.itip.newInvitationDisplay": False,
    "calendar.itip.showImipBar": True,
    "intl.locale.requested": "en-US",
}


@dataclass
class Case:
    """One message of the Inbox and what its Graph response says about it."""

    name: str
    eml: Path
    graph: Path | None = None  # the Graph collection response (OWA-link meeting messages)

    @property
    def raw(self) -> bytes:
        return self.eml.read_bytes()

    @property
    def message_id(self) -> str:
        msg = email.message_from_bytes(self.raw, policy=email.policy.compat32)
        return str(msg["Message-ID"]).strip().strip("<>")

    @property
    def graph_message(self) -> dict:
        assert self.graph is not None
        return json.loads(self.graph.read_text())["value"][0]

    @property
    def event(self) -> dict:
        return self.graph_message["event"]

    @property
    def series(self) -> bool:
        return bool(self.event.get("recurrence"))


def owa(name: str) -> Case:
    return Case(name, OWA / f"{name}.eml", OWA / f"{name}.json")


REQUEST_HTML = owa("html-base64-longhead")  # text/html only, long <head>, a series
REQUEST_ALTERNATIVE = owa("alternative-base64")  # multipart/alternative, one all-day event
REQUEST_MIXED = owa("mixed-alternative-attachment")  # multipart/mixed with a PDF, a series
REQUEST_PLAIN = owa("plain-qp-exchange2013")  # text/plain quoted-printable, a series
CANCEL = owa("plain-qp-latin1-cancel")
REPLY = owa("plain-base64-reply")
NATIVE_IMIP = Case("exchange-imip-request", CORPUS / "22-exchange-imip-request.eml")
ORDINARY = [
    Case("plain", CORPUS / "01-plain-ascii.eml"),
    Case("alternative", CORPUS / "26-alternative-simple.eml"),
    Case("quotes-the-marker", OWA / "not-quoted-marker.eml"),
]
REWRITTEN = [REQUEST_HTML, REQUEST_ALTERNATIVE, REQUEST_MIXED, REQUEST_PLAIN, CANCEL, REPLY]
CASES = REWRITTEN + [NATIVE_IMIP] + ORDINARY

WORLD: env.World | None = None
GRAPH: env.GraphSim | None = None
GRAPH_DIR: Path | None = None
VERSION = ""


def rewrite_offline(case: Case) -> bytes:
    """`icalgate rewrite --event`: what the gateway is to serve for this message."""
    r = subprocess.run(
        [ICALGATE, "rewrite", "--event", str(case.graph), str(case.eml)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
    )
    if r.returncode != 0 or b"text/calendar" not in r.stdout:
        raise AssertionError(
            f"icalgate rewrite of {case.eml.name} failed ({r.returncode}): {r.stderr.decode(errors='replace')[-2000:]}"
        )
    return r.stdout


def seed() -> list[tuple[str, bytes]]:
    if DIRECT:
        return [(c.eml.name, rewrite_offline(c) if c in REWRITTEN else c.raw) for c in CASES]
    return [(c.eml.name, c.raw) for c in CASES]


def setUpModule():
    global WORLD, GRAPH, GRAPH_DIR, VERSION
    VERSION = tbird.installed_version()
    print(f"\nThunderbird {VERSION} (expected major: {'/'.join(map(str, tbird.EXPECTED_MAJORS))})", flush=True)
    tbird.check_version(VERSION)
    messages = seed()
    try:
        options = {}
        if not DIRECT:
            GRAPH_DIR = Path(tempfile.mkdtemp(prefix="icalgate-tbinv-"))
            inbox = GRAPH_DIR / "data" / "users" / ALICE / "messages"
            inbox.mkdir(parents=True)
            for case in REWRITTEN:
                shutil.copyfile(case.graph, inbox / case.graph.name)
            GRAPH = env.GraphSim(GRAPHSIM, GRAPH_DIR / "data", GRAPH_DIR).start()
            options["extra_config"] = (
                GRAPH.config() + f'\n[rewrite]\nenabled = true\nstate = "{GRAPH_DIR / "rewrite.db"}"\n'
            )
        WORLD = env.World(icalgate=None if DIRECT else ICALGATE, seed=messages, gateway_options=options)
        WORLD.start()
    except BaseException:
        stop_graph()
        raise


def stop_graph():
    global GRAPH, GRAPH_DIR
    if GRAPH is not None:
        GRAPH.stop()
        GRAPH = None
    if GRAPH_DIR is not None and not os.environ.get("ICALGATE_ITEST_KEEP"):
        shutil.rmtree(GRAPH_DIR, ignore_errors=True)
        GRAPH_DIR = None


def tearDownModule():
    # The gateway must have exited 0 on SIGTERM without sanitizer reports, and the password
    # Thunderbird sent must not appear in its log.
    global WORLD
    try:
        if WORLD is not None:
            world, WORLD = WORLD, None
            problems = world.stop_and_check(world.secrets())
            if problems:
                raise AssertionError("after the suite:\n" + "\n".join(problems))
    finally:
        stop_graph()


def stop_everything():
    """Whatever is still running after an interrupted run (unittest skips tearDownModule when
    a KeyboardInterrupt or SIGTERM ends it)."""
    global WORLD
    tb = InvitationBarTest.__dict__.get("tb")
    if tb is not None:
        tb.stop()
    try:
        if WORLD is not None:
            world, WORLD = WORLD, None
            world.stop()
    finally:
        stop_graph()


def vevent_for(case: Case) -> str:
    """The event of a Graph response as a calendar would hold it after alice accepted it."""
    ev = case.event

    def utc(t: dict) -> str:
        assert t["timeZone"] == "UTC", t
        return t["dateTime"][:19].replace("-", "").replace(":", "") + "Z"

    organizer = ev["organizer"]["emailAddress"]["address"]
    return "\r\n".join([
        "BEGIN:VEVENT",
        f"UID:{ev['iCalUId']}",
        "SEQUENCE:0",
        "DTSTAMP:20261117T090211Z",
        f"DTSTART:{utc(ev['start'])}",
        f"DTEND:{utc(ev['end'])}",
        f"SUMMARY:{ev['subject']}",
        f"ORGANIZER:mailto:{organizer}",
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{ALICE}",
        "END:VEVENT",
        "",
    ])


class InvitationBarTest(unittest.TestCase):
    """One Thunderbird on the gateway's implicit-TLS listener (Dovecot's with --direct)."""

    tb: tbird.Thunderbird
    rows: list[dict]

    @classmethod
    def setUpClass(cls):
        assert WORLD is not None
        account = tbird.Account(port=WORLD.imaps_port, socket_type=tbird.TLS, user=ALICE, password=WORLD.users[ALICE])
        cls.tb = tbird.Thunderbird(WORLD.root, account, ca_pem=WORLD.certs["ca"], prefs=PREFS)
        t0 = time.monotonic()
        try:
            cls.tb.start()
            started = time.monotonic()
            cls.rows = cls.tb.sync_inbox(expect=len(CASES), timeout=30)
            print(
                f"\nThunderbird started in {started - t0:.1f}s, listed {len(cls.rows)} messages "
                f"{time.monotonic() - started:.1f}s later ({'direct to Dovecot' if DIRECT else 'through icalgate'})",
                flush=True,
            )
        except Exception as e:
            cls.tb.stop()
            raise AssertionError(f"{e}\n{cls.logs()}") from e
        except BaseException:
            cls.tb.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.tb.stop()

    @staticmethod
    def logs() -> str:
        if WORLD is None or WORLD.gateway is None:
            return "(--direct: no gateway)"
        graph = GRAPH.log_text()[-1500:] if GRAPH is not None else ""
        return f"--- gateway log (tail) ---\n{WORLD.gateway.log_tail(3000)}\n--- graphsim log (tail) ---\n{graph}"

    # -- helpers -----------------------------------------------------------------
    def show(self, case: Case) -> dict:
        """Open the case's message; return what the invitation bar shows for it."""
        pane = self.tb.open_message_by(message_id=case.message_id)
        bar = self.tb.invitation_bar()
        self.assertEqual(bar["key"], pane["key"])
        return bar

    def shown_buttons(self, bar: dict) -> list[tuple[str, str]]:
        return [(b["id"], b["label"]) for b in bar["buttons"]]

    def context(self, case: Case, bar: dict) -> str:
        return f"{case.eml.name}: the bar shows {json.dumps(bar, ensure_ascii=False)}\n{self.logs()}"

    def assert_request(self, case: Case, bar: dict, *, series: bool, summary: str) -> None:
        ctx = self.context(case, bar)
        self.assertTrue(bar["visible"], f"no invitation bar: {ctx}")
        self.assertEqual(bar["label"], REQUEST_TEXT, ctx)
        self.assertEqual(self.shown_buttons(bar), SERIES_BUTTONS if series else SINGLE_BUTTONS, ctx)
        # The two ways to answer, with and without a message to the organizer.
        first = bar["buttons"][0]
        self.assertEqual([i["label"] for i in first["items"]], ["Send a response now", "Do not send a response"], ctx)
        # Thunderbird's summary of the event, put above the body, names the meeting.
        self.assertIsNotNone(bar["details"], ctx)
        self.assertIn(summary, bar["details"], ctx)

    def assert_owa_request(self, case: Case) -> dict:
        bar = self.show(case)
        self.assertEqual(case.graph_message["meetingMessageType"], "meetingRequest")
        self.assert_request(case, bar, series=case.series, summary=case.event["subject"])
        return bar

    # -- tests ---------------------------------------------------------------------
    def test_request_html(self):
        self.assertTrue(REQUEST_HTML.series)
        self.assert_owa_request(REQUEST_HTML)
        shot = self.tb.screenshot(SCREENSHOT_DIR / "thunderbird-invitation.png")
        print(f"\nscreenshot of an invitation: {shot}", end=" ", flush=True)

    def test_request_alternative(self):
        self.assertFalse(REQUEST_ALTERNATIVE.series)
        self.assert_owa_request(REQUEST_ALTERNATIVE)

    def test_request_with_attachment(self):
        self.assert_owa_request(REQUEST_MIXED)

    def test_exchange_imip_request_control(self):
        """Exchange's own iMIP form, untouched: the bar every rewritten request must match."""
        self.assert_request(NATIVE_IMIP, self.show(NATIVE_IMIP), series=False, summary="Atelier conception")

    def test_accept_puts_the_meeting_in_the_calendar(self):
        case = REQUEST_PLAIN
        uid = case.event["iCalUId"]
        self.assertIsNone(self.tb.calendar_item(uid))
        bar = self.assert_owa_request(case)
        accept = bar["buttons"][0]
        dont_send = [i["id"] for i in accept["items"] if i["label"] == "Do not send a response"]
        self.assertEqual(len(dont_send), 1, accept)
        self.tb.invitation_command(dont_send[0])
        item = self.tb.wait_for(lambda: self.tb.calendar_item(uid), 10, f"event {uid} in the calendar")
        self.assertEqual(item["title"], case.event["subject"])
        self.assertEqual(item["recurring"], case.series)
        self.assertEqual(item["organizer"].lower(), "mailto:" + case.event["organizer"]["emailAddress"]["address"])
        partstat = {a["id"].lower(): a["partstat"] for a in item["attendees"]}
        self.assertEqual(partstat.get(f"mailto:{ALICE}"), "ACCEPTED", item)
        # Shown again, the invitation is one Thunderbird has dealt with.
        self.show(ORDINARY[0])
        again = self.show(case)
        self.assertTrue(again["visible"], self.context(case, again))
        self.assertEqual(again["label"], PROCESSED_TEXT, self.context(case, again))
        self.assertFalse({b["id"] for b in again["buttons"]} & RESPONSE_BUTTON_IDS, self.context(case, again))

    def test_cancellation(self):
        case = CANCEL
        self.assertEqual(case.graph_message["meetingMessageType"], "meetingCancelled")
        uid = case.event["iCalUId"]
        self.assertIsNone(self.tb.calendar_item(uid))
        # An event the calendar does not hold: nothing to do.
        bar = self.show(case)
        ctx = self.context(case, bar)
        self.assertTrue(bar["visible"], f"no invitation bar: {ctx}")
        self.assertEqual(bar["label"], PROCESSED_TEXT, ctx)
        self.assertEqual(bar["buttons"], [], ctx)
        self.assertIn(case.event["subject"], bar["details"] or "", ctx)
        # The event in the calendar (as if accepted earlier): the cancellation applies to it.
        self.assertEqual(self.tb.add_calendar_event(vevent_for(case)), uid)
        self.show(ORDINARY[0])
        bar = self.show(case)
        ctx = self.context(case, bar)
        self.assertTrue(bar["visible"], f"no invitation bar: {ctx}")
        self.assertEqual(bar["label"], CANCEL_TEXT, ctx)
        self.assertEqual(self.shown_buttons(bar), [("imipDeleteButton", "Delete")], ctx)
        self.tb.invitation_command("imipDeleteButton")
        self.tb.wait_for(lambda: self.tb.calendar_item(uid) is None, 10, f"event {uid} removed from the calendar")

    def test_reply(self):
        case = REPLY
        self.assertEqual(case.graph_message["meetingMessageType"], "meetingAccepted")
        bar = self.show(case)
        ctx = self.context(case, bar)
        self.assertTrue(bar["visible"], f"no invitation bar: {ctx}")
        self.assertEqual(bar["label"], REPLY_UNKNOWN_TEXT, ctx)
        self.assertEqual(bar["buttons"], [], ctx)

    def test_gateway_rewrote_the_meeting_messages_only(self):
        """The gateway's own account of the same session: the OWA-link meeting messages
        were rewritten, the ordinary ones and Exchange's own iMIP message were not."""
        if WORLD.gateway is None:
            self.skipTest("--direct: no gateway")
        for case in CASES:  # every message fetched whole at least once
            self.show(case)
        uid = {r["messageId"]: r["uid"] for r in self.tb.message_list()}
        expected = {uid[c.message_id] for c in REWRITTEN}
        log = WORLD.gateway.log_text()
        rewritten = {
            int(m.group(1))
            for m in re.finditer(rf"\brewrite user={re.escape(ALICE)} mailbox=INBOX \S+ uid=(\d+) outcome=rewritten\b", log)
        }
        self.assertEqual(rewritten, expected, f"UIDs the gateway logged as rewritten\n{self.logs()}")
        # Thunderbird's header sync was answered with announced sizes (the default), which
        # every rewrite then kept (a size it could not keep is logged).
        announced = {
            int(m.group(1))
            for m in re.finditer(rf"\brewrite user={re.escape(ALICE)} mailbox=INBOX \S+ uid=(\d+) outcome=announced\b", log)
        }
        self.assertEqual(announced, expected, f"UIDs the gateway logged as announced\n{self.logs()}")
        self.assertNotIn("rewrite_announcement_unmet", log, self.logs())
        # Opening them was decided from the answers to Thunderbird's own UID FETCH n (... BODY[]):
        # the gateway fetched none of them whole beforehand.
        own = re.findall(r' G session=\d+ line="(icalgate\.\d+ [^"]*)"', log)
        self.assertEqual([line for line in own if "BODY.PEEK[]" in line], [], f"{own}\n{self.logs()}")

    def test_ordinary_messages_show_no_bar(self):
        for case in ORDINARY:
            with self.subTest(message=case.eml.name):
                bar = self.show(case)
                self.assertTrue(bar["collapsed"], self.context(case, bar))
                self.assertFalse(bar["visible"], self.context(case, bar))
                self.assertEqual(bar["buttons"], [], self.context(case, bar))
                self.assertIsNone(bar["details"], self.context(case, bar))


def main() -> int:
    global ICALGATE, GRAPHSIM, DIRECT, SCREENSHOT_DIR
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--icalgate", required=True,
                    help="the icalgate executable: the gateway under test, or with --direct the offline rewriter")
    ap.add_argument("--graphsim", help="the icalgate-graphsim executable (required without --direct)")
    ap.add_argument("--direct", action="store_true",
                    help="no gateway: Dovecot holds the messages rewritten offline, Thunderbird reads it directly")
    ap.add_argument("--screenshot-dir", default=str(SCREENSHOT_DIR),
                    help=f"where the PNG of an invitation goes (default {SCREENSHOT_DIR})")
    args, rest = ap.parse_known_args()
    if not args.direct and not args.graphsim:
        ap.error("--graphsim is required unless --direct")
    ICALGATE = os.path.abspath(args.icalgate)
    GRAPHSIM = os.path.abspath(args.graphsim) if args.graphsim else ""
    DIRECT = args.direct
    SCREENSHOT_DIR = Path(args.screenshot_dir).resolve()
    t0 = time.monotonic()
    try:
        with env.sigterm_as_exception():
            prog = unittest.main(argv=[sys.argv[0], "-v"] + rest, exit=False)
    finally:
        stop_everything()
    print(f"total {time.monotonic() - t0:.1f}s", flush=True)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
