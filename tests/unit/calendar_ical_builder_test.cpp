#include "calendar/ical_builder.hpp"

#include "calendar/libical_handle.hpp"
#include "calendar_test_support.hpp"

#include <catch2/catch_test_macros.hpp>

#include <libical/ical.h>

#include <string>
#include <vector>

using namespace icalgate::calendar;
using icalgate::protocol::Errc;

namespace {

struct ExpectedLines {
  const char* fixture;
  std::vector<std::string> lines; // unfolded content lines that must be present
};

// What each fixture must produce, worked out from the organizer's view of the meeting.
const std::vector<ExpectedLines>& expected_lines() {
  static const std::vector<ExpectedLines> cases = {
      {"request-weekly-berlin",
       {"METHOD:REQUEST", "TZID:Europe/Berlin", "DTSTART;TZID=Europe/Berlin:20270309T100000",
        "DTEND;TZID=Europe/Berlin:20270309T110000",
        // The end of 2027-04-22 in Berlin (CEST) is 21:59:59 UTC.
        "RRULE:FREQ=WEEKLY;UNTIL=20270422T215959Z;INTERVAL=2;BYDAY=TU,TH;WKST=SU",
        "SUMMARY:Sprint-Review – Q2 ✓", "LOCATION:Room 4.12 (Lyon)",
        "ORGANIZER;CN=Bob Leclerc:mailto:bob@contoso.com",
        "ATTENDEE;CN=Alice Martin;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:"
        "alice@contoso.com",
        "ATTENDEE;CN=Zoë Ødegård;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:"
        "zoe@contoso.com",
        "ATTENDEE;CN=Room 4.12 (Lyon);CUTYPE=RESOURCE;ROLE=NON-PARTICIPANT;PARTSTAT=NEEDS-ACTION;"
        "RSVP=TRUE:mailto:room412@contoso.com",
        "CLASS:PUBLIC", "PRIORITY:5", "TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE",
        "STATUS:CONFIRMED", "SEQUENCE:0", "DTSTAMP:20261118T100211Z",
        "X-MICROSOFT-SKYPETEAMSMEETINGURL:https://teams.microsoft.com/l/meetup-join/"
        "19%3ameeting_NjE2YjYxZWEtMmQ1OS00ZjE3LWE1ZjEtYzE5NDA0ZTdhYjE3%40thread.v2/"
        "0?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%7d",
        "CONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO:https://teams.microsoft.com/l/meetup-join/"
        "19%3ameeting_NjE2YjYxZWEtMmQ1OS00ZjE3LWE1ZjEtYzE5NDA0ZTdhYjE3%40thread.v2/"
        "0?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%7d",
        "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER;RELATED=START:-PT15M"}},
      {"request-daily-pacific-numbered",
       {"DTSTART;TZID=America/Los_Angeles:20270312T090000",
        "DTEND;TZID=America/Los_Angeles:20270312T093000", "RRULE:FREQ=DAILY;COUNT=5",
        "TRIGGER;RELATED=START:-PT10M"}},
      {"request-absmonthly-sydney-noend",
       {"DTSTART;TZID=Australia/Sydney:20270315T140000", "RRULE:FREQ=MONTHLY;BYMONTHDAY=15",
        "CLASS:PRIVATE", "PRIORITY:1", "ORGANIZER;CN=Olivia Brown:mailto:olivia@contoso.com.au"}},
      {"request-relmonthly-tokyo",
       {"DTSTART;TZID=Asia/Tokyo:20270129T180000",
        "RRULE:FREQ=MONTHLY;UNTIL=20270731T145959Z;INTERVAL=2;BYDAY=-1FR", "SUMMARY:月末の振り返り",
        "LOCATION:会議室 A", "ORGANIZER;CN=山田 花子:mailto:hanako@contoso.jp"}},
      {"request-relmonthly-weekdays-india",
       {"TZID:Asia/Kolkata", "DTSTART;TZID=Asia/Kolkata:20270201T113000",
        "RRULE:FREQ=MONTHLY;COUNT=4;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1"}},
      {"request-absyearly-saopaulo",
       {"DTSTART;TZID=America/Sao_Paulo:20270704T080000",
        "RRULE:FREQ=YEARLY;COUNT=3;BYMONTHDAY=4;BYMONTH=7", "TRANSP:TRANSPARENT",
        "X-MICROSOFT-CDO-BUSYSTATUS:FREE"}},
      {"request-relyearly-utc",
       {"DTSTART:20271011T150000Z", "DTEND:20271011T160000Z",
        "RRULE:FREQ=YEARLY;BYDAY=2MO;BYMONTH=10", "X-MICROSOFT-CDO-BUSYSTATUS:OOF"}},
      {"request-allday-single",
       {"DTSTART;VALUE=DATE:20261224", "DTEND;VALUE=DATE:20261225",
        "X-MICROSOFT-CDO-ALLDAYEVENT:TRUE", "TRIGGER;RELATED=START:-PT1080M"}},
      {"request-allday-recurring",
       {"DTSTART;VALUE=DATE:20270104", "DTEND;VALUE=DATE:20270105",
        "RRULE:FREQ=WEEKLY;UNTIL=20270125;BYDAY=MO",
        "X-MICROSOFT-CDO-BUSYSTATUS:WORKINGELSEWHERE"}},
      {"request-minimal",
       {"DTSTART:20270202T130000Z", "DTEND:20270202T131500Z", "CLASS:CONFIDENTIAL", "PRIORITY:9",
        "TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY",
        "DESCRIPTION:Line one\\nLine two\\; with\\, punctuation"}},
      {"request-prefer-tokyo-sequence",
       {"DTSTART;TZID=Asia/Tokyo:20270405T090000", "DTEND;TZID=Asia/Tokyo:20270405T170000",
        "SEQUENCE:3"}},
      {"request-custom-zone", {"DTSTART:20270505T080000Z", "DTEND:20270505T090000Z"}},
      {"cancel-series-berlin",
       {"METHOD:CANCEL", "STATUS:CANCELLED", "TRANSP:TRANSPARENT",
        "X-MICROSOFT-CDO-BUSYSTATUS:FREE",
        "ATTENDEE;CN=Alice Martin;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:"
        "alice@contoso.com"}},
      {"cancel-occurrence-pacific",
       {"METHOD:CANCEL",
        "UID:040000008200E00074C5B7101A82E00800000000D0A3A5C2B55EDB0100000000000000001000000"
        "0C9B3E63F2E0B2F4A8E1C3A2E5F6D7B02",
        "RECURRENCE-ID;TZID=America/Los_Angeles:20270315T090000",
        "DTSTART;TZID=America/Los_Angeles:20270315T090000"}},
      {"reply-accepted",
       {"METHOD:REPLY",
        "ATTENDEE;CN=Alice Martin;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:"
        "alice@contoso.com",
        "ORGANIZER;CN=Bob Leclerc:mailto:bob@contoso.com"}},
      {"reply-tentative",
       {"METHOD:REPLY", "ATTENDEE;CN=Łukasz Żółć;ROLE=REQ-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:"
                        "lukasz@contoso.com"}},
      {"reply-declined",
       {"METHOD:REPLY", "ATTENDEE;CN=Zoë Ødegård;ROLE=OPT-PARTICIPANT;PARTSTAT=DECLINED:mailto:"
                        "zoe@contoso.com"}},
  };
  return cases;
}

// libical reads it back as one VCALENDAR with one VEVENT and no X-LIC-ERROR.
void check_parses_back(const std::string& ics) {
  IcalComponent parsed(icalparser_parse_string(ics.c_str()));
  REQUIRE(parsed != nullptr);
  CHECK(icalcomponent_isa(parsed.get()) == ICAL_VCALENDAR_COMPONENT);
  CHECK(icalcomponent_count_components(parsed.get(), ICAL_VEVENT_COMPONENT) == 1);
  CHECK(icalcomponent_count_errors(parsed.get()) == 0);
}

void check_wire_form(const std::string& ics) {
  REQUIRE(ics.ends_with("\r\n"));
  std::size_t pos = 0;
  while (pos < ics.size()) {
    const std::size_t end = ics.find("\r\n", pos);
    REQUIRE(end != std::string::npos);
    const std::string line = ics.substr(pos, end - pos);
    INFO(line);
    CHECK(line.size() <= 75);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    // Folding never splits a UTF-8 sequence: no line starts with a continuation byte
    // after the fold's space, none ends with a lead byte.
    if (line.size() > 1 && line[0] == ' ') {
      CHECK((static_cast<unsigned char>(line[1]) & 0xC0) != 0x80);
    }
    if (!line.empty()) {
      CHECK(static_cast<unsigned char>(line.back()) < 0xC0);
    }
    pos = end + 2;
  }
}

GraphEventMessage message_with(const std::string& event_members,
                               const std::string& type = "meetingRequest") {
  auto m = parse_event_message_response(
      R"({"value": [{"@odata.type": "#microsoft.graph.eventMessageRequest",
          "meetingMessageType": ")" +
      type + R"(", "from": {"emailAddress": {"name": "Bob", "address": "bob@contoso.com"}},
          "event": {"iCalUId": "UID-1",
            "start": {"dateTime": "2027-01-05T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2027-01-05T10:00:00", "timeZone": "UTC"},
            "originalStartTimeZone": "W. Europe Standard Time")" +
      event_members + "}}]}");
  INFO((m.ok() ? std::string() : m.error().message));
  REQUIRE(m.ok());
  return std::move(m).value();
}

std::string build_ok(const GraphEventMessage& m, const IcalOptions& options = fixture_options()) {
  auto text = build_icalendar(m, options);
  INFO((text.ok() ? std::string() : text.error().message));
  REQUIRE(text.ok());
  return std::move(text).value();
}

} // namespace

TEST_CASE("calendar: every fixture gives the iCalendar its organizer meant", "[calendar]") {
  for (const auto& c : expected_lines()) {
    const std::string ics = build_fixture_ics(c.fixture);
    INFO(c.fixture);
    CHECK(ics.starts_with("BEGIN:VCALENDAR\r\nPRODID:-//icalgate//Exchange meeting bridge//EN\r\n"
                          "VERSION:2.0\r\nMETHOD:"));
    for (const auto& line : c.lines) {
      INFO(line);
      CHECK(has_line(ics, line));
    }
    check_wire_form(ics);
    check_parses_back(ics);
    CHECK(ics == build_fixture_ics(c.fixture)); // deterministic
  }
  CHECK(expected_lines().size() == std::size(kGraphMessageFixtures));
}

TEST_CASE("calendar: what each method leaves out", "[calendar]") {
  const std::string reply = build_fixture_ics("reply-accepted");
  CHECK(lines_starting(reply, "ATTENDEE").size() == 1); // only the responder
  CHECK(lines_starting(reply, "STATUS").empty());
  CHECK(lines_starting(reply, "BEGIN:VALARM").empty());
  CHECK(reply.find("RSVP") == std::string::npos);

  const std::string cancel = build_fixture_ics("cancel-series-berlin");
  CHECK(lines_starting(cancel, "BEGIN:VALARM").empty());
  CHECK(cancel.find("RSVP") == std::string::npos);
  CHECK(lines_starting(cancel, "ATTENDEE").size() == 3);

  // An occurrence is written as that instance of its series, without the series' RRULE.
  const std::string occurrence = vevent_of(build_fixture_ics("cancel-occurrence-pacific"));
  CHECK(lines_starting(occurrence, "RRULE").empty());
  CHECK(lines_starting(vevent_of(build_fixture_ics("request-daily-pacific-numbered")), "RRULE")
            .size() == 1);

  // UTC and all-day events need no VTIMEZONE.
  CHECK(lines_starting(build_fixture_ics("request-relyearly-utc"), "BEGIN:VTIMEZONE").empty());
  CHECK(lines_starting(build_fixture_ics("request-allday-recurring"), "BEGIN:VTIMEZONE").empty());
  CHECK(lines_starting(build_fixture_ics("request-minimal"), "LOCATION").empty());
  CHECK(lines_starting(build_fixture_ics("request-minimal"), "ATTENDEE").empty());
}

TEST_CASE("calendar: the caller's options", "[calendar]") {
  const GraphEventMessage m = load_graph_message("reply-accepted");
  IcalOptions options = fixture_options();
  options.description = "Gern dabei.\r\nBis dann";
  options.sequence = 7;
  options.responder = EmailAddress{"Alice M.", "alice@contoso.com"};
  options.dtstamp = CivilDateTime{{2026, 12, 1}, 7, 8, 9};
  const std::string ics = build_ok(m, options);
  CHECK(has_line(ics, "DESCRIPTION:Gern dabei.\\nBis dann"));
  CHECK(has_line(ics, "SEQUENCE:7"));
  CHECK(has_line(ics, "DTSTAMP:20261201T070809Z"));
  CHECK(has_line(ics, "ATTENDEE;CN=Alice M.;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:"
                      "alice@contoso.com"));

  options.description = "";
  CHECK(lines_starting(build_ok(m, options), "DESCRIPTION").empty());

  options.dtstamp = CivilDateTime{{2026, 13, 1}, 0, 0, 0};
  CHECK(build_icalendar(m, options).error().code == Errc::syntax);
}

TEST_CASE("calendar: text, names and URLs are made safe", "[calendar]") {
  const GraphEventMessage m = message_with(
      R"(, "subject": "Line\r\nbreak\u0000 and \u0007 bell",
         "organizer": {"emailAddress": {"name": "Bob \"The Boss\" B.", "address": "bob@contoso.com"}},
         "attendees": [{"type": "required", "emailAddress": {"name": "No address", "address": ""}},
                       {"type": "required", "emailAddress": {"name": "Evil", "address": "x@y.z\r\nATTENDEE:mailto:e@v.il"}}],
         "onlineMeeting": {"joinUrl": "https://teams.example/\"><script>"})");
  const std::string ics = build_ok(m);
  CHECK(has_line(ics, "SUMMARY:Line\\nbreak and  bell"));
  CHECK(has_line(ics, "ORGANIZER;CN=Bob 'The Boss' B.:mailto:bob@contoso.com"));
  CHECK(lines_starting(ics, "ATTENDEE").empty());
  CHECK(lines_starting(ics, "CONFERENCE").empty());
  CHECK(lines_starting(ics, "X-MICROSOFT-SKYPETEAMSMEETINGURL").empty());
  check_wire_form(ics);
  check_parses_back(ics);
}

TEST_CASE("calendar: long non-ASCII text folds at 75 octets on character bounds", "[calendar]") {
  std::string subject;
  for (int i = 0; i < 60; ++i) {
    subject += "é日😀";
  }
  const GraphEventMessage m = message_with(R"(, "subject": ")" + subject + R"(")");
  const std::string ics = build_ok(m);
  check_wire_form(ics);
  CHECK(has_line(ics, "SUMMARY:" + subject));
  check_parses_back(ics);
}

TEST_CASE("calendar: zones in the answer and at both ends", "[calendar]") {
  // A different zone at the end (a flight): two VTIMEZONEs, DTEND in its own zone.
  const std::string flight = build_ok(
      message_with(R"(, "originalEndTimeZone": "Pacific Standard Time", "subject": "Flight")"));
  CHECK(has_line(flight, "DTSTART;TZID=Europe/Berlin:20270105T100000"));
  CHECK(has_line(flight, "DTEND;TZID=America/Los_Angeles:20270105T020000"));
  CHECK(lines_starting(flight, "BEGIN:VTIMEZONE").size() == 2);
  // An unknown organizer zone keeps the instants right, in UTC.
  const std::string unknown =
      build_ok(message_with(R"(, "originalEndTimeZone": "Atlantis Standard Time")"));
  CHECK(has_line(unknown, "DTEND:20270105T100000Z"));
}

TEST_CASE("calendar: an all-day occurrence names its local date", "[calendar]") {
  GraphEventMessage m = message_with(R"(, "isAllDay": true, "type": "exception", "uid": "SERIES",
      "originalStart": "2027-01-03T23:00:00Z")",
                                     "meetingCancelled");
  m.event.start.date_time = CivilDateTime{{2027, 1, 4}, 0, 0, 0};
  m.event.end.date_time = CivilDateTime{{2027, 1, 5}, 0, 0, 0};
  const std::string ics = build_ok(m);
  CHECK(has_line(ics, "UID:SERIES"));
  CHECK(has_line(ics, "RECURRENCE-ID;VALUE=DATE:20270104"));
  CHECK(has_line(ics, "DTSTART;VALUE=DATE:20270104"));
  CHECK(has_line(ics, "DTEND;VALUE=DATE:20270105"));
}

TEST_CASE("calendar: messages that cannot become an iCalendar", "[calendar]") {
  CHECK(build_icalendar(message_with("", "somethingElse"), fixture_options()).error().code ==
        Errc::unsupported);
  GraphEventMessage no_uid = message_with("");
  no_uid.event.ical_uid.clear();
  CHECK(build_icalendar(no_uid, fixture_options()).error().message == "event has no iCalUId");
  GraphEventMessage no_organizer = message_with("");
  no_organizer.from.reset();
  CHECK(build_icalendar(no_organizer, fixture_options()).error().message ==
        "event has no organizer address");
  GraphEventMessage reply = load_graph_message("reply-accepted");
  reply.from.reset();
  reply.sender.reset();
  CHECK(build_icalendar(reply, fixture_options()).error().message ==
        "reply without a responder address");
  GraphEventMessage far = message_with("");
  far.event.end.date_time.date.year = 9999;
  CHECK(build_icalendar(far, fixture_options()).error().message ==
        "event date outside the years 1900..2500");
  GraphEventMessage bad_zone = message_with("");
  bad_zone.event.start.time_zone = "Atlantis Standard Time";
  CHECK(build_icalendar(bad_zone, fixture_options()).error().code == Errc::syntax);

  CHECK(ical_method(MeetingMessageType::request) == "REQUEST");
  CHECK(ical_method(MeetingMessageType::cancelled) == "CANCEL");
  CHECK(ical_method(MeetingMessageType::tentatively_accepted) == "REPLY");
  CHECK(ical_method(MeetingMessageType::none).empty());
}

TEST_CASE("calendar: day 31 of every month is the last day of each month", "[calendar]") {
  const auto monthly = [](int day) {
    return message_with(R"(, "recurrence": {
        "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": )" +
                        std::to_string(day) + R"(, "firstDayOfWeek": "sunday"},
        "range": {"type": "numbered", "startDate": "2027-01-31", "numberOfOccurrences": 3}})");
  };
  // Outlook puts it on 2027-02-28; BYMONTHDAY=31 would skip February.
  CHECK(has_line(build_ok(monthly(31)), "RRULE:FREQ=MONTHLY;COUNT=3;BYMONTHDAY=-1"));
  CHECK(has_line(build_ok(monthly(30)), "RRULE:FREQ=MONTHLY;COUNT=3;BYMONTHDAY=30"));
}
