#!/usr/bin/python3
"""Independent check of icalgate's iCalendar output with Debian's python3-icalendar.

    /usr/bin/python3 tests/calendar/check_ics.py ICS_DIR EXPECT_DIR

For every ICS_DIR/NAME.ics, EXPECT_DIR/NAME.expect.json says what a client must see: METHOD,
UID, DTSTART/DTEND (zone, wall-clock time, or DATE), RRULE parts, organizer, attendees with
their parameters, CLASS, TRANSP, busy status, alarm, online meeting and the first
occurrences. The occurrences are expanded with python3-recurring-ical-events when it is
installed (skipped otherwise), and every occurrence's UTC offset is checked against the
file's own VTIMEZONE as icalendar reads it. The raw text is checked too: CRLF line ends,
lines of at most 75 octets, no multi-octet character split by folding.

Exit 0 when every file passes; 1 with one line per failure otherwise; 2 on usage errors.
"""

import json
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dateutil.rrule
import icalendar

try:
    import recurring_ical_events
except ImportError:  # pragma: no cover - depends on the machine
    recurring_ical_events = None

FAILURES = []


def fail(name, message):
    FAILURES.append(f"{name}: {message}")


def check_equal(name, what, got, want):
    if got != want:
        fail(name, f"{what}: got {got!r}, want {want!r}")


def check_raw(name, raw: bytes):
    if not raw.endswith(b"\r\n"):
        fail(name, "does not end with CRLF")
    lines = raw.split(b"\r\n")
    for number, line in enumerate(lines[:-1], 1):
        if b"\n" in line or b"\r" in line:
            fail(name, f"line {number}: bare CR or LF")
        if len(line) > 75:
            fail(name, f"line {number}: {len(line)} octets (more than 75)")
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            fail(name, f"line {number}: folding split a UTF-8 sequence")


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def iso(value):
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def local_text(dt):
    """Wall-clock time as the file writes it, without offset."""
    return dt.replace(tzinfo=None).isoformat() if isinstance(dt, datetime) else dt.isoformat()


def check_time(name, event, key, want, expect):
    prop = event.get(key)
    if prop is None:
        fail(name, f"{key} missing")
        return
    value = prop.dt
    if expect.get("date"):
        check_equal(name, f"{key} is a DATE", type(value) is date, True)
        check_equal(name, key, iso(value), want)
    elif expect.get("utc"):
        check_equal(name, f"{key} TZID", prop.params.get("TZID"), None)
        check_equal(name, key, iso(value.astimezone(timezone.utc)) if value.tzinfo else None, want)
    else:
        check_equal(name, f"{key} TZID", prop.params.get("TZID"), expect["tzid"])
        check_equal(name, key, local_text(value), want)


def check_rrule(name, event, want):
    rule = event.get("RRULE")
    if want is None:
        check_equal(name, "RRULE present", rule is not None, False)
        return
    if rule is None:
        fail(name, "RRULE missing")
        return
    got = {}
    for key, values in rule.items():
        got[key] = [iso(v) if isinstance(v, (date, datetime)) else v for v in values]
    for key, values in want.items():
        check_equal(name, f"RRULE {key}", got.get(key), values)
    unexpected = set(got) - set(want) - {"INTERVAL", "WKST"}
    if unexpected:
        fail(name, f"RRULE has unexpected parts {sorted(unexpected)}")
    if "INTERVAL" not in want and got.get("INTERVAL", [1]) != [1]:
        fail(name, f"RRULE INTERVAL {got['INTERVAL']} where 1 was expected")


def check_attendees(name, event, want):
    got = []
    for a in as_list(event.get("ATTENDEE")):
        got.append({"address": str(a), "role": a.params.get("ROLE"),
                    "partstat": a.params.get("PARTSTAT"), "rsvp": a.params.get("RSVP"),
                    "cutype": a.params.get("CUTYPE")})
    check_equal(name, "attendees", got, want)


def vtimezone_offset(vtz, local: datetime):
    """The UTC offset a VTIMEZONE gives a wall-clock time, read straight from its
    STANDARD/DAYLIGHT rules with dateutil. (icalendar 4.0.3's own Timezone.to_tz() rejects
    the UTC UNTIL that RFC 5545 §3.3.10 requires in these sub-components.)"""
    best = None
    for sub in vtz.subcomponents:
        if sub.name not in ("STANDARD", "DAYLIGHT"):
            continue
        start = sub["DTSTART"].dt.replace(tzinfo=None)
        before, after = sub["TZOFFSETFROM"].td, sub["TZOFFSETTO"].td
        onsets = [start]
        if "RRULE" in sub:
            parts = dict(sub["RRULE"])
            until = parts.pop("UNTIL", [None])[0]
            text = icalendar.vRecur(parts).to_ical().decode()
            rule = dateutil.rrule.rrulestr(text, dtstart=start)
            if until is not None:
                # UNTIL is UTC; onsets are wall-clock times in the offset before the change.
                limit = until.replace(tzinfo=None) + before
                onsets = list(rule.between(start, limit, inc=True))
            else:
                onsets = list(rule.between(start, local, inc=True))
        for onset in onsets:
            # An onset is written in the offset in force before it; compare in UTC terms.
            if onset - before <= local - after and (best is None or onset - before > best[0]):
                best = (onset - before, after)
    return None if best is None else best[1]


def check_occurrences(name, calendar, event, expect):
    want = expect.get("occurrences")
    if not want:
        return
    start = event["DTSTART"].dt
    if isinstance(start, datetime):
        # Offsets from the file's own VTIMEZONE, not from the checker's tz database.
        zones = {str(vtz["TZID"]): vtz for vtz in calendar.walk("VTIMEZONE")}
        tzid = event["DTSTART"].params.get("TZID")
        if tzid is not None:
            if tzid not in zones:
                fail(name, f"no VTIMEZONE for TZID {tzid}")
            else:
                for text in want:
                    wanted = datetime.fromisoformat(text)
                    check_equal(name, f"VTIMEZONE offset at {text}",
                                vtimezone_offset(zones[tzid], wanted.replace(tzinfo=None)),
                                wanted.utcoffset())
    if recurring_ical_events is None:
        return
    if isinstance(start, datetime):
        begin, end = start - timedelta(days=1), start + timedelta(days=3 * 366)
    else:
        begin, end = start, start + timedelta(days=3 * 366)
    occurrences = recurring_ical_events.of(calendar).between(begin, end)
    starts = sorted((o["DTSTART"].dt for o in occurrences),
                    key=lambda d: d if isinstance(d, datetime) else datetime(d.year, d.month, d.day))
    got = [iso(s) for s in starts]
    check_equal(name, "first occurrences", got[: len(want)], want)
    if "occurrence_count" in expect:
        check_equal(name, "number of occurrences", len(got), expect["occurrence_count"])


def check_file(name, raw: bytes, expect: dict):
    check_raw(name, raw)
    try:
        calendar = icalendar.Calendar.from_ical(raw)
    except Exception as error:  # noqa: BLE001 - any parse failure is the finding
        fail(name, f"icalendar cannot parse it: {error}")
        return
    check_equal(name, "VERSION", str(calendar.get("VERSION")), "2.0")
    check_equal(name, "PRODID", str(calendar.get("PRODID")),
                "-//icalgate//Exchange meeting bridge//EN")
    check_equal(name, "METHOD", str(calendar.get("METHOD")), expect["method"])
    events = calendar.walk("VEVENT")
    check_equal(name, "number of VEVENTs", len(events), 1)
    if not events:
        return
    event = events[0]
    check_equal(name, "UID", str(event.get("UID")), expect["uid"])
    check_equal(name, "DTSTAMP", iso(event["DTSTAMP"].dt), "2026-11-18T10:02:11+00:00")
    check_time(name, event, "DTSTART", expect["dtstart"], expect)
    if "dtend" in expect:
        check_time(name, event, "DTEND", expect["dtend"], expect)
    if "recurrence_id" in expect:
        check_time(name, event, "RECURRENCE-ID", expect["recurrence_id"], expect)
    if "rrule" in expect:
        check_rrule(name, event, expect["rrule"])
    if "attendees" in expect:
        check_attendees(name, event, expect["attendees"])
    if "attendee_cn" in expect:
        check_equal(name, "ATTENDEE CN",
                    [a.params.get("CN") for a in as_list(event.get("ATTENDEE"))],
                    [expect["attendee_cn"]])
    if "organizer" in expect:
        check_equal(name, "ORGANIZER", str(event.get("ORGANIZER")), expect["organizer"])
    if "organizer_cn" in expect:
        check_equal(name, "ORGANIZER CN", event["ORGANIZER"].params.get("CN"),
                    expect["organizer_cn"])
    for key, prop in (("summary", "SUMMARY"), ("status", "STATUS"), ("class", "CLASS"),
                      ("transp", "TRANSP"), ("busystatus", "X-MICROSOFT-CDO-BUSYSTATUS"),
                      ("location", "LOCATION"), ("description", "DESCRIPTION")):
        if key in expect:
            value = event.get(prop)
            check_equal(name, prop, None if value is None else str(value), expect[key])
    if "priority" in expect:
        check_equal(name, "PRIORITY", event.get("PRIORITY"), expect["priority"])
    if "sequence" in expect:
        check_equal(name, "SEQUENCE", event.get("SEQUENCE"), expect["sequence"])
    if "conference" in expect:
        check_equal(name, "X-MICROSOFT-SKYPETEAMSMEETINGURL",
                    str(event.get("X-MICROSOFT-SKYPETEAMSMEETINGURL")), expect["conference"])
        conference = event.get("CONFERENCE")
        check_equal(name, "CONFERENCE", None if conference is None else str(conference),
                    expect["conference"])
        if conference is not None:
            check_equal(name, "CONFERENCE FEATURE", conference.params.get("FEATURE"),
                        ["AUDIO", "VIDEO"])
    if "alarm_minutes" in expect:
        alarms = event.walk("VALARM")
        if expect["alarm_minutes"] is None:
            check_equal(name, "VALARMs", len(alarms), 0)
        else:
            check_equal(name, "VALARMs", len(alarms), 1)
            if alarms:
                check_equal(name, "VALARM ACTION", str(alarms[0].get("ACTION")), "DISPLAY")
                check_equal(name, "VALARM TRIGGER", alarms[0]["TRIGGER"].dt,
                            timedelta(minutes=-expect["alarm_minutes"]))
    check_occurrences(name, calendar, event, expect)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    ics_dir, expect_dir = Path(argv[1]), Path(argv[2])
    files = sorted(ics_dir.glob("*.ics"))
    if not files:
        print(f"no .ics files in {ics_dir}", file=sys.stderr)
        return 2
    checked = 0
    for path in files:
        expect_path = expect_dir / f"{path.stem}.expect.json"
        if not expect_path.exists():
            fail(path.stem, f"no expectations at {expect_path}")
            continue
        check_file(path.stem, path.read_bytes(), json.loads(expect_path.read_text("utf-8")))
        checked += 1
    for line in FAILURES:
        print(line)
    expansion = "with" if recurring_ical_events else "without"
    print(f"check_ics: {checked} files, {len(FAILURES)} failures ({expansion} recurrence expansion)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
