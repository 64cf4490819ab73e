#include "calendar/graph_event.hpp"

#include "calendar_test_support.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>

using namespace icalgate::calendar;
using icalgate::protocol::Errc;

namespace {

// A collection with one eventMessage whose event members are `event_members` (JSON text
// without braces) and whose message members are `message_members`.
std::string
collection(const std::string& event_members,
           const std::string& message_members = R"("meetingMessageType": "meetingRequest")") {
  return R"({"value": [{"@odata.type": "#microsoft.graph.eventMessageRequest", )" +
         message_members + R"(, "event": {)" + event_members + "}}]}";
}

const std::string kTimes =
    R"("iCalUId": "UID-1", "start": {"dateTime": "2027-01-05T09:00:00.0000000", "timeZone": "UTC"},
       "end": {"dateTime": "2027-01-05T10:00:00.0000000", "timeZone": "UTC"})";

std::string error_of(const std::string& json, Errc code) {
  auto r = parse_event_message_response(json);
  REQUIRE_FALSE(r.ok());
  INFO(r.error().message);
  CHECK(r.error().code == code);
  return r.error().message;
}

std::string weekly_with(const std::string& pattern, const std::string& range) {
  return collection(kTimes + R"(, "recurrence": {"pattern": {)" + pattern + R"(}, "range": {)" +
                    range + "}}");
}

} // namespace

TEST_CASE("calendar: a weekly request with everything Graph sends", "[calendar]") {
  const GraphEventMessage m = load_graph_message("request-weekly-berlin");
  CHECK(m.odata_type == "#microsoft.graph.eventMessageRequest");
  CHECK(m.meeting_message_type == MeetingMessageType::request);
  REQUIRE(m.from.has_value());
  CHECK(m.from->address == "bob@contoso.com");
  REQUIRE(m.sent_date_time.has_value());
  CHECK(to_string(*m.sent_date_time) == "2026-11-18T10:02:11");

  const GraphEvent& ev = m.event;
  CHECK(ev.ical_uid.size() == 112);
  CHECK(ev.subject == "Sprint-Review – Q2 ✓");
  // 10:00 in Berlin before the March change is 09:00 UTC, as Graph answers by default.
  CHECK(to_string(ev.start.date_time) == "2027-03-09T09:00:00");
  CHECK(ev.start.time_zone == "UTC");
  CHECK(to_string(ev.end.date_time) == "2027-03-09T10:00:00");
  CHECK(ev.original_start_time_zone == "W. Europe Standard Time");
  CHECK_FALSE(ev.is_all_day);
  CHECK(ev.show_as == ShowAs::tentative);
  CHECK(ev.sensitivity == Sensitivity::normal);
  CHECK(ev.reminder_minutes_before_start == 15);
  CHECK(ev.is_reminder_on);
  CHECK(ev.is_online_meeting);
  CHECK(ev.join_url.starts_with("https://teams.microsoft.com/l/meetup-join/"));
  CHECK(ev.locations == std::vector<std::string>{"Room 4.12 (Lyon)"});
  CHECK_FALSE(ev.sequence.has_value());

  REQUIRE(ev.recurrence.has_value());
  const auto& rec = *ev.recurrence;
  CHECK(rec.pattern.type == PatternType::weekly);
  CHECK(rec.pattern.interval == 2);
  CHECK(rec.pattern.days_of_week == std::vector{DayOfWeek::tuesday, DayOfWeek::thursday});
  CHECK(rec.pattern.first_day_of_week == DayOfWeek::sunday);
  CHECK(rec.range.type == RangeType::end_date);
  REQUIRE(rec.range.end_date.has_value());
  CHECK(to_string(*rec.range.end_date) == "2027-04-22");
  CHECK(rec.range.recurrence_time_zone == "W. Europe Standard Time");

  REQUIRE(ev.attendees.size() == 3);
  CHECK(ev.attendees[0].type == AttendeeType::required);
  CHECK(ev.attendees[1].type == AttendeeType::optional);
  CHECK(ev.attendees[1].email.name == "Zoë Ødegård");
  CHECK(ev.attendees[2].type == AttendeeType::resource);
  CHECK(ev.attendees[2].response == ResponseType::accepted);
  REQUIRE(ev.organizer.has_value());
  CHECK(ev.organizer->name == "Bob Leclerc");
}

TEST_CASE("calendar: every meeting message type, Graph's misspelling included", "[calendar]") {
  CHECK(load_graph_message("cancel-series-berlin").meeting_message_type ==
        MeetingMessageType::cancelled);
  CHECK(load_graph_message("reply-accepted").meeting_message_type == MeetingMessageType::accepted);
  const auto tentative = load_graph_message("reply-tentative");
  CHECK(tentative.meeting_message_type == MeetingMessageType::tentatively_accepted);
  CHECK(tentative.response_type == ResponseType::tentatively_accepted);
  // A response whose meetingMessageType is null still says what it is in responseType.
  const auto declined = load_graph_message("reply-declined");
  CHECK(declined.meeting_message_type == MeetingMessageType::none);
  CHECK(declined.response_type == ResponseType::declined);
  CHECK(declined.odata_type == "#microsoft.graph.eventMessageResponse");

  CHECK(is_response(MeetingMessageType::declined));
  CHECK_FALSE(is_response(MeetingMessageType::cancelled));
}

TEST_CASE("calendar: each recurrence pattern and range", "[calendar]") {
  const auto rec = [](const char* name) {
    const auto m = load_graph_message(name);
    REQUIRE(m.event.recurrence.has_value());
    return *m.event.recurrence;
  };
  const auto daily = rec("request-daily-pacific-numbered");
  CHECK(daily.pattern.type == PatternType::daily);
  CHECK(daily.range.type == RangeType::numbered);
  CHECK(daily.range.number_of_occurrences == 5);
  CHECK_FALSE(daily.range.end_date.has_value()); // Graph's "0001-01-01" means unset

  const auto monthly = rec("request-absmonthly-sydney-noend");
  CHECK(monthly.pattern.type == PatternType::absolute_monthly);
  CHECK(monthly.pattern.day_of_month == 15);
  CHECK(monthly.range.type == RangeType::no_end);

  const auto last_friday = rec("request-relmonthly-tokyo");
  CHECK(last_friday.pattern.type == PatternType::relative_monthly);
  CHECK(last_friday.pattern.index == WeekIndex::last);
  CHECK(last_friday.pattern.days_of_week == std::vector{DayOfWeek::friday});

  const auto weekdays = rec("request-relmonthly-weekdays-india");
  CHECK(weekdays.pattern.days_of_week.size() == 5);
  CHECK(weekdays.pattern.index == WeekIndex::first);

  const auto yearly = rec("request-absyearly-saopaulo");
  CHECK(yearly.pattern.type == PatternType::absolute_yearly);
  CHECK(yearly.pattern.month == 7);
  CHECK(yearly.pattern.day_of_month == 4);

  const auto rel_yearly = rec("request-relyearly-utc");
  CHECK(rel_yearly.pattern.type == PatternType::relative_yearly);
  CHECK(rel_yearly.pattern.month == 10);
  CHECK(rel_yearly.pattern.index == WeekIndex::second);
}

TEST_CASE("calendar: all-day, occurrences, sequence and the Prefer zone", "[calendar]") {
  const auto holiday = load_graph_message("request-allday-single").event;
  CHECK(holiday.is_all_day);
  CHECK(to_string(holiday.start.date_time) == "2026-12-24T00:00:00");
  CHECK(holiday.show_as == ShowAs::free);

  const auto occurrence = load_graph_message("cancel-occurrence-pacific").event;
  CHECK(occurrence.type == "occurrence");
  CHECK(occurrence.uid != occurrence.ical_uid);
  REQUIRE(occurrence.original_start.has_value());
  CHECK(to_string(*occurrence.original_start) == "2027-03-15T16:00:00");

  const auto tokyo = load_graph_message("request-prefer-tokyo-sequence").event;
  CHECK(tokyo.sequence == 3); // from PidLidAppointmentSequence
  CHECK(tokyo.start.time_zone == "Tokyo Standard Time");
  CHECK(to_string(tokyo.start.date_time) == "2027-04-05T09:00:00");
}

TEST_CASE("calendar: a sparse event takes defaults for what is missing", "[calendar]") {
  const auto m = load_graph_message("request-minimal");
  CHECK_FALSE(m.from->address.empty());
  CHECK_FALSE(m.sender.has_value());
  CHECK_FALSE(m.sent_date_time.has_value());
  const auto& ev = m.event;
  CHECK(ev.attendees.empty());
  CHECK(ev.locations.empty()); // "location": null
  CHECK(ev.original_start_time_zone.empty());
  CHECK_FALSE(ev.recurrence.has_value());
  CHECK(ev.join_url.empty());
  CHECK_FALSE(ev.is_reminder_on);
  CHECK(ev.sensitivity == Sensitivity::confidential);
  CHECK(ev.importance == Importance::low);
  CHECK(ev.body.content_type == "text");
  CHECK(ev.response_requested);

  auto bare = parse_event(collection(kTimes).substr(0, 0) + "{" + kTimes + "}");
  REQUIRE(bare.ok());
  CHECK(bare->ical_uid == "UID-1");
  CHECK(bare->show_as == ShowAs::busy);
  CHECK(bare->importance == Importance::normal);
}

TEST_CASE("calendar: a bare event as GET /events/{id} returns it", "[calendar]") {
  auto ev = parse_event(read_graph_fixture("event-bare-tokyo"));
  REQUIRE(ev.ok());
  CHECK(ev->subject == "月末の振り返り");
  CHECK(ev->original_start_time_zone == "Tokyo Standard Time");
  REQUIRE(ev->organizer.has_value());
  CHECK(ev->organizer->name == "山田 花子");
  CHECK(ev->locations == std::vector<std::string>{"会議室 A"});
}

TEST_CASE("calendar: collections without an event message", "[calendar]") {
  error_of(R"({"value": []})", Errc::not_found);
  // An ordinary message, and an event message whose event was not expanded.
  error_of(R"({"value": [{"@odata.type": "#microsoft.graph.message", "subject": "hi"}]})",
           Errc::not_found);
  error_of(R"({"value": [{"@odata.type": "#microsoft.graph.eventMessage",
                          "meetingMessageType": "meetingRequest"}]})",
           Errc::not_found);
  // The first entry that is an event message with its event is the one used.
  auto two = parse_event_message_response(
      R"({"value": [{"@odata.type": "#microsoft.graph.message"},
                    {"@odata.type": "#microsoft.graph.eventMessage",
                     "meetingMessageType": "meetingCancelled", "event": {)" +
      kTimes + "}}]}");
  REQUIRE(two.ok());
  CHECK(two->meeting_message_type == MeetingMessageType::cancelled);
}

TEST_CASE("calendar: malformed JSON and wrong types are clear errors", "[calendar]") {
  CHECK(error_of("{\"value\": [", Errc::syntax).starts_with("malformed JSON"));
  error_of("", Errc::syntax);
  CHECK(error_of("[1, 2]", Errc::syntax) == "Graph response is not a JSON object");
  CHECK(error_of("{}", Errc::syntax) == "Graph response has no 'value' collection");
  CHECK(error_of(R"({"value": {}})", Errc::syntax) == "value: expected an array");
  CHECK(error_of(R"({"value": [7]})", Errc::syntax) == "value[0]: expected an object");
  CHECK(error_of(collection(kTimes + R"(, "subject": 5)"), Errc::syntax) ==
        "value[0].event.subject: expected a string");
  CHECK(error_of(collection(kTimes + R"(, "isAllDay": "yes")"), Errc::syntax) ==
        "value[0].event.isAllDay: expected true or false");
  CHECK(error_of(collection(kTimes + R"(, "attendees": {"a": 1})"), Errc::syntax) ==
        "value[0].event.attendees: expected an array");
  CHECK(error_of(collection(kTimes + R"(, "attendees": ["bob"])"), Errc::syntax) ==
        "value[0].event.attendees[0]: expected an object");
  CHECK(error_of(collection(kTimes + R"(, "reminderMinutesBeforeStart": 1.5)"), Errc::syntax) ==
        "value[0].event.reminderMinutesBeforeStart: expected an integer");
  CHECK(error_of(collection(kTimes + R"(, "organizer": "bob@contoso.com")"), Errc::syntax) ==
        "value[0].event.organizer: expected an object");
  CHECK(error_of(collection(R"("iCalUId": "U", "start": {"dateTime": "tomorrow", "timeZone": "UTC"},
                                "end": {"dateTime": "2027-01-05T10:00:00", "timeZone": "UTC"})"),
                 Errc::syntax)
            .starts_with("value[0].event.start.dateTime: not a date-time"));
  CHECK(error_of(collection(R"("iCalUId": "U", "start": {"dateTime": "2027-02-30T10:00:00"},
                                "end": {"dateTime": "2027-03-01T10:00:00"})"),
                 Errc::syntax)
            .starts_with("value[0].event.start.dateTime: date out of range"));
  error_of(collection(R"("iCalUId": "U")"), Errc::syntax); // no start/end
  CHECK(error_of(collection(kTimes, R"("meetingMessageType": 3)"), Errc::syntax) ==
        "value[0].meetingMessageType: expected a string");
}

TEST_CASE("calendar: recurrences that cannot be written are refused", "[calendar]") {
  const std::string end =
      R"("type": "endDate", "startDate": "2027-01-05", "endDate": "2027-02-05")";
  CHECK(error_of(weekly_with(R"("type": "hourly", "interval": 1)", end), Errc::unsupported) ==
        "value[0].event.recurrence.pattern.type: unknown value 'hourly'");
  CHECK(error_of(weekly_with(R"("type": "weekly", "interval": 1, "daysOfWeek": [])", end),
                 Errc::syntax) ==
        "value[0].event.recurrence.pattern.daysOfWeek: required for this pattern type");
  CHECK(error_of(weekly_with(R"("type": "weekly", "daysOfWeek": ["funday"])", end), Errc::syntax) ==
        "value[0].event.recurrence.pattern.daysOfWeek[0]: unknown day 'funday'");
  CHECK(error_of(weekly_with(R"("type": "absoluteMonthly", "dayOfMonth": 0)", end), Errc::syntax) ==
        "value[0].event.recurrence.pattern.dayOfMonth: required for this pattern type");
  CHECK(error_of(weekly_with(R"("type": "absoluteYearly", "dayOfMonth": 3, "month": 0)", end),
                 Errc::syntax) ==
        "value[0].event.recurrence.pattern.month: required for this pattern type");
  CHECK(error_of(weekly_with(R"("type": "absoluteMonthly", "dayOfMonth": 32)", end), Errc::syntax)
            .starts_with("value[0].event.recurrence.pattern.dayOfMonth: 32 out of range"));
  CHECK(error_of(weekly_with(R"("type": "daily")", R"("type": "endDate", "endDate": "0001-01-01")"),
                 Errc::syntax) ==
        "value[0].event.recurrence.range.endDate: required for an endDate range");
  CHECK(
      error_of(weekly_with(R"("type": "daily")", R"("type": "numbered", "numberOfOccurrences": 0)"),
               Errc::syntax) ==
      "value[0].event.recurrence.range.numberOfOccurrences: must be positive for a numbered "
      "range");
  CHECK(error_of(weekly_with(R"("type": "daily")", R"("type": "sometimes")"), Errc::unsupported) ==
        "value[0].event.recurrence.range.type: unknown value 'sometimes'");
  CHECK(error_of(collection(kTimes + R"(, "recurrence": {"pattern": {"type": "daily"}})"),
                 Errc::syntax) == "value[0].event.recurrence: needs both pattern and range");
  // Unknown values of open-ended enumerations fall back instead of failing.
  auto lenient = parse_event_message_response(
      collection(kTimes + R"(, "showAs": "somethingNew", "sensitivity": "secret")"));
  REQUIRE(lenient.ok());
  CHECK(lenient->event.show_as == ShowAs::busy);
  CHECK(lenient->event.sensitivity == Sensitivity::normal);
}

TEST_CASE("calendar: size, depth, length and count limits", "[calendar]") {
  GraphLimits limits;
  limits.max_bytes = 64;
  auto big = parse_event_message_response(collection(kTimes), limits);
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().code == Errc::literal_too_large);

  std::string deep = R"({"value": [{"event": )";
  for (int i = 0; i < 100; ++i) {
    deep += R"({"a": )";
  }
  deep += "1";
  for (int i = 0; i < 100; ++i) {
    deep += "}";
  }
  deep += "}]}";
  CHECK(error_of(deep, Errc::syntax).starts_with("malformed JSON"));

  GraphLimits short_strings;
  short_strings.max_string = 40;
  auto long_subject = parse_event_message_response(
      collection(R"("subject": "a subject that is longer than forty bytes, by far")"),
      short_strings);
  REQUIRE_FALSE(long_subject.ok());
  CHECK(long_subject.error().code == Errc::literal_too_large);
  CHECK(long_subject.error().message == "value[0].event.subject: longer than 40 bytes");

  GraphLimits few;
  few.max_items = 2;
  std::string attendees = R"(, "attendees": [)";
  for (int i = 0; i < 3; ++i) {
    attendees +=
        std::string(i ? "," : "") + R"({"type": "required", "emailAddress": {"address": "a@b.c"}})";
  }
  attendees += "]";
  auto many = parse_event_message_response(collection(kTimes + attendees), few);
  REQUIRE_FALSE(many.ok());
  CHECK(many.error().code == Errc::too_many);
}

TEST_CASE("calendar: civil dates and times", "[calendar]") {
  CHECK_FALSE(parse_civil_date("2027-02-29").ok());
  CHECK(parse_civil_date("2028-02-29").ok());
  CHECK_FALSE(parse_civil_date("2027-1-05").ok());
  CHECK_FALSE(parse_civil_date("2027-01-05x").ok());
  auto t = parse_civil_date_time("2027-03-15T16:00:00Z");
  REQUIRE(t.ok());
  CHECK(to_string(*t) == "2027-03-15T16:00:00");
  CHECK(parse_civil_date_time("2027-03-15T16:00").ok());
  CHECK_FALSE(parse_civil_date_time("2027-03-15T24:00:00").ok());
  CHECK_FALSE(parse_civil_date_time("2027-03-15T10:00:00.").ok());
  CHECK(to_string(add_days(CivilDate{2027, 12, 31}, 1)) == "2028-01-01");
  CHECK(to_string(add_days(CivilDate{2028, 3, 1}, -1)) == "2028-02-29");
  CHECK(weekday(CivilDate{2027, 3, 9}) == 2); // a Tuesday
  CHECK(weekday(CivilDate{1969, 12, 28}) == 0);
}
