#!/usr/bin/python3
"""Writes the Graph fixtures of tests/unit/data/graph/ (NAME.json) and what the independent
checker expects of their iCalendar (NAME.expect.json).

Each case is written down the way the organizer sees it in Outlook (local wall-clock times in
their zone, the recurrence as Outlook's dialog shows it, the first occurrences as a calendar
would list them); the Graph answer is derived from that the way Graph gives it (start/end in
UTC, Windows zone names). The expectations are typed in by hand, never computed by icalgate.

Run with /usr/bin/python3 (zoneinfo, Debian's tzdata) and commit the output:
    /usr/bin/python3 tests/calendar/make_graph_fixtures.py tests/unit/data/graph
"""

import json
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

IANA = {
    "W. Europe Standard Time": "Europe/Berlin",
    "Pacific Standard Time": "America/Los_Angeles",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "Tokyo Standard Time": "Asia/Tokyo",
    "India Standard Time": "Asia/Kolkata",
    "E. South America Standard Time": "America/Sao_Paulo",
    "tzone://Microsoft/Utc": "UTC",
}


def graph_time(local: str, windows_zone: str, answer_zone: str = "UTC") -> dict:
    """A dateTimeTimeZone for a local wall-clock time, expressed in answer_zone."""
    when = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(IANA[windows_zone]))
    if answer_zone == "UTC":
        shown = when.astimezone(timezone.utc)
    else:
        shown = when.astimezone(ZoneInfo(IANA[answer_zone]))
    return {"dateTime": shown.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": answer_zone}


def person(name: str, address: str) -> dict:
    return {"emailAddress": {"name": name, "address": address}}


def attendee(kind: str, name: str, address: str, response: str = "none") -> dict:
    return {
        "type": kind,
        "status": {"response": response, "time": "0001-01-01T00:00:00Z"},
        "emailAddress": {"name": name, "address": address},
    }


def recurrence(ptype, *, interval=1, days=(), month=0, day_of_month=0, index="first",
               first_day="sunday", rtype="noEnd", start="", end="0001-01-01", count=0,
               zone="") -> dict:
    return {
        "pattern": {
            "type": ptype, "interval": interval, "month": month, "dayOfMonth": day_of_month,
            "daysOfWeek": list(days), "firstDayOfWeek": first_day, "index": index,
        },
        "range": {
            "type": rtype, "startDate": start, "endDate": end,
            "recurrenceTimeZone": zone, "numberOfOccurrences": count,
        },
    }


BOB = ("Bob Leclerc", "bob@contoso.com")
ALICE = ("Alice Martin", "alice@contoso.com")
ZOE = ("Zoë Ødegård", "zoe@contoso.com")
LUKASZ = ("Łukasz Żółć", "lukasz@contoso.com")
HANAKO = ("山田 花子", "hanako@contoso.jp")
ROOM = ("Room 4.12 (Lyon)", "room412@contoso.com")
TEAMS = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjE2YjYxZWEtMmQ1OS00ZjE3"
         "LWE1ZjEtYzE5NDA0ZTdhYjE3%40thread.v2/0?context=%7b%22Tid%22%3a%2272f988bf-86f1-"
         "41af-91ab-2d7cd011db47%22%7d")


def uid(n: int) -> str:
    return ("040000008200E00074C5B7101A82E00800000000D0A3A5C2B55EDB01000000000000000010000000"
            f"C9B3E63F2E0B2F4A8E1C3A2E5F6D7B{n:02X}")


def event(*, n, subject, zone, start, end, all_day=False, rec=None, organizer=BOB,
          attendees=(), location=None, show_as="busy", sensitivity="normal",
          importance="normal", reminder=15, teams=False, answer_zone="UTC", body=None,
          etype=None, extra=None) -> dict:
    if all_day:
        s = {"dateTime": start + "T00:00:00.0000000", "timeZone": answer_zone}
        e = {"dateTime": end + "T00:00:00.0000000", "timeZone": answer_zone}
    else:
        s = graph_time(start, zone, answer_zone)
        e = graph_time(end, zone, answer_zone)
    ev = {
        "@odata.etag": 'W/"EvAAABYAAAAS8Tzk1qB3Sr3N5qfBaSg+AAAUTsxX"',
        "id": f"AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OABGAAAAAAAiQ8W967B7TKBj{n:02d}=",
        "createdDateTime": "2026-11-18T10:02:11Z",
        "lastModifiedDateTime": "2026-11-18T10:02:11Z",
        "categories": [],
        "transactionId": None,
        "originalStartTimeZone": zone,
        "originalEndTimeZone": zone,
        "iCalUId": uid(n),
        "uid": uid(n),
        "reminderMinutesBeforeStart": reminder,
        "isReminderOn": reminder >= 0,
        "hasAttachments": False,
        "subject": subject,
        "bodyPreview": (body or {}).get("preview", f"{subject}: agenda to follow."),
        "importance": importance,
        "sensitivity": sensitivity,
        "isAllDay": all_day,
        "isCancelled": False,
        "isOrganizer": False,
        "responseRequested": True,
        "seriesMasterId": None,
        "showAs": show_as,
        "type": etype or ("seriesMaster" if rec else "singleInstance"),
        "onlineMeetingUrl": None,
        "isOnlineMeeting": teams,
        "onlineMeetingProvider": "teamsForBusiness" if teams else "unknown",
        "allowNewTimeProposals": True,
        "occurrenceId": None,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {"response": "notResponded", "time": "0001-01-01T00:00:00Z"},
        "body": {"contentType": (body or {}).get("type", "html"),
                 "content": (body or {}).get("content", f"<html><body><p>{subject}</p></body></html>")},
        "start": s,
        "end": e,
        "location": {"displayName": location or "", "locationType": "default",
                     "uniqueIdType": "unknown"},
        "locations": [{"displayName": location, "locationType": "default"}] if location else [],
        "recurrence": rec,
        "attendees": [attendee(*a) for a in attendees],
        "organizer": person(*organizer),
        "onlineMeeting": {"joinUrl": TEAMS} if teams else None,
    }
    ev.update(extra or {})
    return ev


def message(kind, mtype, ev, *, sender=BOB, subject=None, response_type=None,
            sent="2026-11-18T10:02:11Z") -> dict:
    msg = {
        "@odata.type": f"#microsoft.graph.{kind}",
        "@odata.etag": 'W/"CwAAABYAAAAS8Tzk1qB3Sr3N5qfBaSg+AAAUTs0v"',
        "id": ev["id"] + "MSG",
        "receivedDateTime": sent,
        "sentDateTime": sent,
        "internetMessageId": f"<{ev['iCalUId'][-12:]}@contoso.com>",
        "subject": subject or ev["subject"],
        "importance": ev["importance"],
        "body": {"contentType": "html", "content": "<html><body></body></html>"},
        "sender": person(*sender),
        "from": person(*sender),
        "toRecipients": [person(*ALICE)],
        "meetingMessageType": mtype,
        "type": ev["type"],
        "isAllDay": ev["isAllDay"],
        "startDateTime": ev["start"],
        "endDateTime": ev["end"],
        "event@odata.navigationLink": "https://graph.microsoft.com/v1.0/users('alice@contoso.com')/events('x')",
        "event": ev,
    }
    if response_type is not None:
        msg["responseType"] = response_type
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('alice%40contoso.com')/messages",
        "value": [msg],
    }


CASES = {}
EXPECT = {}


def case(name, doc, expect):
    CASES[name] = doc
    EXPECT[name] = expect


def people(*entries):
    """Expected attendees: (address, role, partstat, rsvp, cutype)."""
    return [{"address": f"mailto:{a}", "role": r, "partstat": p, "rsvp": v, "cutype": c}
            for a, r, p, v, c in entries]


# --- every pattern and range, zones on both hemispheres and across DST ---------------------
weekly = event(n=1, subject="Sprint-Review – Q2 ✓", zone="W. Europe Standard Time",
               start="2027-03-09T10:00", end="2027-03-09T11:00",
               rec=recurrence("weekly", interval=2, days=["tuesday", "thursday"],
                              first_day="sunday", rtype="endDate", start="2027-03-09",
                              end="2027-04-22", zone="W. Europe Standard Time"),
               attendees=[("required", *ALICE), ("optional", *ZOE),
                          ("resource", *ROOM, "accepted")],
               location=ROOM[0], show_as="tentative", teams=True)
case("request-weekly-berlin", message("eventMessageRequest", "meetingRequest", weekly), {
    "method": "REQUEST", "uid": uid(1), "summary": "Sprint-Review – Q2 ✓",
    "tzid": "Europe/Berlin", "dtstart": "2027-03-09T10:00:00", "dtend": "2027-03-09T11:00:00",
    "rrule": {"FREQ": ["WEEKLY"], "INTERVAL": [2], "BYDAY": ["TU", "TH"], "WKST": ["SU"],
              "UNTIL": ["2027-04-22T21:59:59+00:00"]},
    "attendees": people(("alice@contoso.com", "REQ-PARTICIPANT", "NEEDS-ACTION", "TRUE", None),
                        ("zoe@contoso.com", "OPT-PARTICIPANT", "NEEDS-ACTION", "TRUE", None),
                        ("room412@contoso.com", "NON-PARTICIPANT", "NEEDS-ACTION", "TRUE",
                         "RESOURCE")),
    "organizer": "mailto:bob@contoso.com", "status": "CONFIRMED", "class": "PUBLIC",
    "transp": "OPAQUE", "busystatus": "TENTATIVE", "priority": 5, "alarm_minutes": 15,
    "conference": TEAMS, "location": ROOM[0],
    "occurrences": ["2027-03-09T10:00:00+01:00", "2027-03-11T10:00:00+01:00",
                    "2027-03-23T10:00:00+01:00", "2027-03-25T10:00:00+01:00",
                    "2027-04-06T10:00:00+02:00", "2027-04-08T10:00:00+02:00",
                    "2027-04-20T10:00:00+02:00", "2027-04-22T10:00:00+02:00"],
    "occurrence_count": 8,
})

daily = event(n=2, subject="Stand-up", zone="Pacific Standard Time",
              start="2027-03-12T09:00", end="2027-03-12T09:30",
              rec=recurrence("daily", rtype="numbered", start="2027-03-12", count=5,
                             zone="Pacific Standard Time"),
              attendees=[("required", *ALICE)], reminder=10)
case("request-daily-pacific-numbered", message("eventMessageRequest", "meetingRequest", daily), {
    "method": "REQUEST", "uid": uid(2), "tzid": "America/Los_Angeles",
    "dtstart": "2027-03-12T09:00:00", "dtend": "2027-03-12T09:30:00",
    "rrule": {"FREQ": ["DAILY"], "COUNT": [5]}, "alarm_minutes": 10,
    "occurrences": ["2027-03-12T09:00:00-08:00", "2027-03-13T09:00:00-08:00",
                    "2027-03-14T09:00:00-07:00", "2027-03-15T09:00:00-07:00",
                    "2027-03-16T09:00:00-07:00"],
    "occurrence_count": 5,
})

monthly = event(n=3, subject="Monthly review", zone="AUS Eastern Standard Time",
                start="2027-03-15T14:00", end="2027-03-15T15:00",
                rec=recurrence("absoluteMonthly", day_of_month=15, start="2027-03-15",
                               zone="AUS Eastern Standard Time"),
                organizer=("Olivia Brown", "olivia@contoso.com.au"),
                attendees=[("required", *ALICE), ("required", *BOB)],
                sensitivity="private", importance="high")
case("request-absmonthly-sydney-noend", message("eventMessageRequest", "meetingRequest", monthly,
                                                sender=("Olivia Brown", "olivia@contoso.com.au")), {
    "method": "REQUEST", "uid": uid(3), "tzid": "Australia/Sydney",
    "dtstart": "2027-03-15T14:00:00", "dtend": "2027-03-15T15:00:00",
    "rrule": {"FREQ": ["MONTHLY"], "BYMONTHDAY": [15]}, "class": "PRIVATE", "priority": 1,
    "occurrences": ["2027-03-15T14:00:00+11:00", "2027-04-15T14:00:00+10:00",
                    "2027-05-15T14:00:00+10:00", "2027-06-15T14:00:00+10:00",
                    "2027-07-15T14:00:00+10:00", "2027-08-15T14:00:00+10:00",
                    "2027-09-15T14:00:00+10:00", "2027-10-15T14:00:00+11:00"],
})

last_friday = event(n=4, subject="月末の振り返り", zone="Tokyo Standard Time",
                    start="2027-01-29T18:00", end="2027-01-29T19:00",
                    rec=recurrence("relativeMonthly", interval=2, days=["friday"], index="last",
                                   rtype="endDate", start="2027-01-29", end="2027-07-31",
                                   zone="Tokyo Standard Time"),
                    organizer=HANAKO, attendees=[("required", *ALICE)], location="会議室 A")
case("request-relmonthly-tokyo", message("eventMessageRequest", "meetingRequest", last_friday,
                                         sender=HANAKO), {
    "method": "REQUEST", "uid": uid(4), "tzid": "Asia/Tokyo", "summary": "月末の振り返り",
    "dtstart": "2027-01-29T18:00:00", "dtend": "2027-01-29T19:00:00",
    "rrule": {"FREQ": ["MONTHLY"], "INTERVAL": [2], "BYDAY": ["-1FR"],
              "UNTIL": ["2027-07-31T14:59:59+00:00"]},
    "organizer": "mailto:hanako@contoso.jp", "organizer_cn": "山田 花子",
    "occurrences": ["2027-01-29T18:00:00+09:00", "2027-03-26T18:00:00+09:00",
                    "2027-05-28T18:00:00+09:00", "2027-07-30T18:00:00+09:00"],
    "occurrence_count": 4,
})

first_weekday = event(n=5, subject="Payroll check", zone="India Standard Time",
                      start="2027-02-01T11:30", end="2027-02-01T12:00",
                      rec=recurrence("relativeMonthly",
                                     days=["monday", "tuesday", "wednesday", "thursday", "friday"],
                                     index="first", rtype="numbered", start="2027-02-01", count=4,
                                     zone="India Standard Time"),
                      organizer=("Priya Sharma", "priya@contoso.in"), attendees=[("required", *ALICE)])
case("request-relmonthly-weekdays-india", message("eventMessageRequest", "meetingRequest",
                                                  first_weekday, sender=("Priya Sharma", "priya@contoso.in")), {
    "method": "REQUEST", "uid": uid(5), "tzid": "Asia/Kolkata",
    "dtstart": "2027-02-01T11:30:00", "dtend": "2027-02-01T12:00:00",
    "rrule": {"FREQ": ["MONTHLY"], "BYDAY": ["MO", "TU", "WE", "TH", "FR"], "BYSETPOS": [1],
              "COUNT": [4]},
    "occurrences": ["2027-02-01T11:30:00+05:30", "2027-03-01T11:30:00+05:30",
                    "2027-04-01T11:30:00+05:30", "2027-05-03T11:30:00+05:30"],
    "occurrence_count": 4,
})

yearly = event(n=6, subject="Aniversário da filial", zone="E. South America Standard Time",
               start="2027-07-04T08:00", end="2027-07-04T09:00",
               rec=recurrence("absoluteYearly", month=7, day_of_month=4, rtype="numbered",
                              start="2027-07-04", count=3, zone="E. South America Standard Time"),
               organizer=("João Araújo", "joao@contoso.com.br"), attendees=[("required", *ALICE)],
               show_as="free")
case("request-absyearly-saopaulo", message("eventMessageRequest", "meetingRequest", yearly,
                                           sender=("João Araújo", "joao@contoso.com.br")), {
    "method": "REQUEST", "uid": uid(6), "tzid": "America/Sao_Paulo",
    "dtstart": "2027-07-04T08:00:00", "dtend": "2027-07-04T09:00:00",
    "rrule": {"FREQ": ["YEARLY"], "BYMONTH": [7], "BYMONTHDAY": [4], "COUNT": [3]},
    "transp": "TRANSPARENT", "busystatus": "FREE",
    "occurrences": ["2027-07-04T08:00:00-03:00", "2028-07-04T08:00:00-03:00",
                    "2029-07-04T08:00:00-03:00"],
    "occurrence_count": 3,
})

rel_yearly = event(n=7, subject="Annual security drill", zone="tzone://Microsoft/Utc",
                   start="2027-10-11T15:00", end="2027-10-11T16:00",
                   rec=recurrence("relativeYearly", month=10, days=["monday"], index="second",
                                  start="2027-10-11", zone="tzone://Microsoft/Utc"),
                   attendees=[("required", *ALICE)], show_as="oof")
case("request-relyearly-utc", message("eventMessageRequest", "meetingRequest", rel_yearly), {
    "method": "REQUEST", "uid": uid(7), "utc": True,
    "dtstart": "2027-10-11T15:00:00+00:00", "dtend": "2027-10-11T16:00:00+00:00",
    "rrule": {"FREQ": ["YEARLY"], "BYMONTH": [10], "BYDAY": ["2MO"]}, "busystatus": "OOF",
    "occurrences": ["2027-10-11T15:00:00+00:00", "2028-10-09T15:00:00+00:00",
                    "2029-10-08T15:00:00+00:00"],
})

# --- all-day -----------------------------------------------------------------------------
holiday = event(n=8, subject="Heiligabend – Büro geschlossen", zone="W. Europe Standard Time",
                start="2026-12-24", end="2026-12-25", all_day=True,
                attendees=[("required", *ALICE)], show_as="free", reminder=1080)
case("request-allday-single", message("eventMessageRequest", "meetingRequest", holiday), {
    "method": "REQUEST", "uid": uid(8), "date": True,
    "dtstart": "2026-12-24", "dtend": "2026-12-25", "alarm_minutes": 1080,
    "transp": "TRANSPARENT", "busystatus": "FREE",
})

allday_weekly = event(n=9, subject="Remote Monday", zone="Pacific Standard Time",
                      start="2027-01-04", end="2027-01-05", all_day=True,
                      rec=recurrence("weekly", days=["monday"], first_day="monday",
                                     rtype="endDate", start="2027-01-04", end="2027-01-25",
                                     zone="Pacific Standard Time"),
                      attendees=[("required", *ALICE)], show_as="workingElsewhere")
case("request-allday-recurring", message("eventMessageRequest", "meetingRequest", allday_weekly), {
    "method": "REQUEST", "uid": uid(9), "date": True,
    "dtstart": "2027-01-04", "dtend": "2027-01-05",
    "rrule": {"FREQ": ["WEEKLY"], "BYDAY": ["MO"], "UNTIL": ["2027-01-25"]},
    "busystatus": "WORKINGELSEWHERE",
    "occurrences": ["2027-01-04", "2027-01-11", "2027-01-18", "2027-01-25"],
    "occurrence_count": 4,
})

# --- cancellations -----------------------------------------------------------------------
cancelled = json.loads(json.dumps(weekly))
cancelled.update({"isCancelled": True, "showAs": "free", "subject": "Canceled: Sprint-Review – Q2 ✓"})
case("cancel-series-berlin", message("eventMessage", "meetingCancelled", cancelled,
                                     sent="2026-11-21T08:15:00Z"), {
    "method": "CANCEL", "uid": uid(1), "tzid": "Europe/Berlin", "status": "CANCELLED",
    "dtstart": "2027-03-09T10:00:00", "transp": "TRANSPARENT", "busystatus": "FREE",
    "attendees": people(("alice@contoso.com", "REQ-PARTICIPANT", "NEEDS-ACTION", None, None),
                        ("zoe@contoso.com", "OPT-PARTICIPANT", "NEEDS-ACTION", None, None),
                        ("room412@contoso.com", "NON-PARTICIPANT", "NEEDS-ACTION", None,
                         "RESOURCE")),
    "alarm_minutes": None,
})

occurrence = event(n=10, subject="Canceled: Stand-up", zone="Pacific Standard Time",
                   start="2027-03-15T09:00", end="2027-03-15T09:30",
                   attendees=[("required", *ALICE)], etype="occurrence", show_as="free",
                   extra={"iCalUId": uid(10) + "E4", "uid": uid(2), "isCancelled": True,
                          "originalStart": "2027-03-15T16:00:00Z",
                          "seriesMasterId": "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OABGAAAAAAAiQ8W967B7TKBj02="})
case("cancel-occurrence-pacific", message("eventMessage", "meetingCancelled", occurrence), {
    "method": "CANCEL", "uid": uid(2), "tzid": "America/Los_Angeles", "status": "CANCELLED",
    "dtstart": "2027-03-15T09:00:00", "recurrence_id": "2027-03-15T09:00:00",
    "rrule": None,
})

# --- responses ---------------------------------------------------------------------------
def organizer_copy(n, subject):
    return event(n=n, subject=subject, zone="W. Europe Standard Time",
                 start="2026-12-10T15:00", end="2026-12-10T16:00", organizer=BOB,
                 attendees=[("required", *ALICE), ("required", *LUKASZ), ("optional", *ZOE)],
                 location="Teams", teams=True)


case("reply-accepted", message("eventMessageResponse", "meetingAccepted",
                               organizer_copy(11, "Budget 2027"), sender=ALICE,
                               subject="Accepted: Budget 2027", response_type="accepted"), {
    "method": "REPLY", "uid": uid(11), "tzid": "Europe/Berlin",
    "dtstart": "2026-12-10T15:00:00",
    "attendees": people(("alice@contoso.com", "REQ-PARTICIPANT", "ACCEPTED", None, None)),
    "organizer": "mailto:bob@contoso.com", "alarm_minutes": None,
})
case("reply-tentative", message("eventMessageResponse", "meetingTenativelyAccepted",
                                organizer_copy(12, "Budget 2027"), sender=LUKASZ,
                                subject="Tentative: Budget 2027",
                                response_type="tentativelyAccepted"), {
    "method": "REPLY", "uid": uid(12), "tzid": "Europe/Berlin", "dtstart": "2026-12-10T15:00:00",
    "attendees": people(("lukasz@contoso.com", "REQ-PARTICIPANT", "TENTATIVE", None, None)),
    "attendee_cn": "Łukasz Żółć",
})
declined = message("eventMessageResponse", None, organizer_copy(13, "Budget 2027"), sender=ZOE,
                   subject="Declined: Budget 2027", response_type="declined")
case("reply-declined", declined, {
    "method": "REPLY", "uid": uid(13), "tzid": "Europe/Berlin", "dtstart": "2026-12-10T15:00:00",
    "dtend": "2026-12-10T16:00:00",
    "attendees": people(("zoe@contoso.com", "OPT-PARTICIPANT", "DECLINED", None, None)),
})

# --- sparse and unusual ------------------------------------------------------------------
minimal = {
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('alice%40contoso.com')/messages",
    "value": [{
        "@odata.type": "#microsoft.graph.eventMessageRequest",
        "meetingMessageType": "meetingRequest",
        "from": person(*BOB),
        "event": {
            "iCalUId": uid(14),
            "subject": "Quick sync",
            "body": {"contentType": "text", "content": "Line one\r\nLine two; with, punctuation"},
            "start": {"dateTime": "2027-02-02T13:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2027-02-02T13:15:00.0000000", "timeZone": "UTC"},
            "organizer": person(*BOB),
            "sensitivity": "confidential",
            "importance": "low",
            "showAs": "busy",
            "location": None,
            "attendees": [],
        },
    }],
}
case("request-minimal", minimal, {
    "method": "REQUEST", "uid": uid(14), "utc": True,
    "dtstart": "2027-02-02T13:00:00+00:00", "dtend": "2027-02-02T13:15:00+00:00",
    "class": "CONFIDENTIAL", "priority": 9, "alarm_minutes": None, "attendees": [],
    "description": "Line one\nLine two; with, punctuation", "location": None, "rrule": None,
})

prefer = event(n=15, subject="Kaizen workshop", zone="Tokyo Standard Time",
               start="2027-04-05T09:00", end="2027-04-05T17:00",
               answer_zone="Tokyo Standard Time", attendees=[("required", *ALICE)],
               extra={"singleValueExtendedProperties": [
                   {"id": "Integer {00062002-0000-0000-c000-000000000046} Id 0x8201",
                    "value": "3"}]})
case("request-prefer-tokyo-sequence", message("eventMessageRequest", "meetingRequest", prefer), {
    "method": "REQUEST", "uid": uid(15), "tzid": "Asia/Tokyo", "sequence": 3,
    "dtstart": "2027-04-05T09:00:00", "dtend": "2027-04-05T17:00:00",
})

IANA["tzone://Microsoft/Custom"] = "UTC"  # only for deriving the fixture's times
custom = event(n=16, subject="Custom zone", zone="tzone://Microsoft/Custom",
               start="2027-05-05T10:00", end="2027-05-05T11:00", attendees=[("required", *ALICE)],
               extra={"start": {"dateTime": "2027-05-05T08:00:00.0000000", "timeZone": "UTC"},
                      "end": {"dateTime": "2027-05-05T09:00:00.0000000", "timeZone": "UTC"}})
case("request-custom-zone", message("eventMessageRequest", "meetingRequest", custom), {
    "method": "REQUEST", "uid": uid(16), "utc": True,
    "dtstart": "2027-05-05T08:00:00+00:00", "dtend": "2027-05-05T09:00:00+00:00",
})


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, doc in CASES.items():
        (out / f"{name}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n",
                                          encoding="utf-8")
        (out / f"{name}.expect.json").write_text(
            json.dumps(EXPECT[name], ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    bare = CASES["request-relmonthly-tokyo"]["value"][0]["event"]
    (out / "event-bare-tokyo.json").write_text(json.dumps(bare, ensure_ascii=False, indent=2) + "\n",
                                               encoding="utf-8")


if __name__ == "__main__":
    main()
