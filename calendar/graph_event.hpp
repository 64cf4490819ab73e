#pragma once
// The Microsoft Graph view of a meeting message: one collection response of
//   GET /v1.0/users/{upn}/messages?$filter=internetMessageId eq '…'
//       &$expand=microsoft.graph.eventMessage/event
// or one bare event (GET /v1.0/users/{upn}/events/{id}), parsed into plain structs.
// Only what the iCalendar needs is kept; unknown members are ignored, members of the wrong
// JSON type are errors naming their path (e.g. "value[0].event.start.dateTime").

#include "calendar/civil_time.hpp"
#include "protocol/result.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::calendar {

enum class MeetingMessageType {
  none,
  request,              // meetingRequest
  cancelled,            // meetingCancelled
  accepted,             // meetingAccepted
  tentatively_accepted, // meetingTenativelyAccepted (sic, Graph's spelling)
  declined,             // meetingDeclined
};

// eventMessageResponse.responseType and attendee status.response.
enum class ResponseType {
  none,
  organizer,
  tentatively_accepted,
  accepted,
  declined,
  not_responded,
};

enum class AttendeeType { required, optional, resource };
enum class Sensitivity { normal, personal, private_, confidential };
enum class ShowAs { free, tentative, busy, oof, working_elsewhere, unknown };
enum class Importance { low, normal, high };

enum class PatternType {
  daily,
  weekly,
  absolute_monthly,
  relative_monthly,
  absolute_yearly,
  relative_yearly,
};
enum class RangeType { end_date, no_end, numbered };
enum class WeekIndex { first, second, third, fourth, last };
enum class DayOfWeek { sunday, monday, tuesday, wednesday, thursday, friday, saturday };

struct EmailAddress {
  std::string name;
  std::string address;
};

// Graph's dateTimeTimeZone: a wall-clock time in `time_zone` ("UTC" unless the request
// asked for another zone with Prefer: outlook.timezone).
struct DateTimeTimeZone {
  CivilDateTime date_time;
  std::string time_zone;
};

struct RecurrencePattern {
  PatternType type = PatternType::daily;
  int interval = 1;
  int month = 0;        // 1..12 for the yearly patterns
  int day_of_month = 0; // 1..31 for the absolute patterns
  std::vector<DayOfWeek> days_of_week;
  DayOfWeek first_day_of_week = DayOfWeek::sunday;
  WeekIndex index = WeekIndex::first;
};

struct RecurrenceRange {
  RangeType type = RangeType::no_end;
  std::optional<CivilDate> start_date;
  std::optional<CivilDate> end_date; // required for end_date
  int number_of_occurrences = 0;     // > 0 for numbered
  std::string recurrence_time_zone;
};

struct PatternedRecurrence {
  RecurrencePattern pattern;
  RecurrenceRange range;
};

struct Attendee {
  AttendeeType type = AttendeeType::required;
  ResponseType response = ResponseType::none;
  EmailAddress email;
};

struct ItemBody {
  std::string content_type; // "text" or "html"
  std::string content;
};

struct GraphEvent {
  std::string id;
  std::string ical_uid;
  std::string uid;  // the series-wide UID; equals ical_uid except on occurrences/exceptions
  std::string type; // singleInstance, occurrence, exception, seriesMaster
  std::string subject;
  ItemBody body;
  std::string body_preview;
  DateTimeTimeZone start;
  DateTimeTimeZone end;
  std::optional<CivilDateTime> original_start; // UTC; occurrences and exceptions only
  std::string original_start_time_zone;
  std::string original_end_time_zone;
  bool is_all_day = false;
  bool is_cancelled = false;
  bool response_requested = true;
  std::optional<PatternedRecurrence> recurrence;
  std::optional<EmailAddress> organizer;
  std::vector<Attendee> attendees;
  std::vector<std::string> locations; // display names, `location` first, no duplicates
  std::string join_url;               // onlineMeeting.joinUrl, else onlineMeetingUrl
  bool is_online_meeting = false;
  Sensitivity sensitivity = Sensitivity::normal;
  ShowAs show_as = ShowAs::busy;
  Importance importance = Importance::normal;
  int reminder_minutes_before_start = 0;
  bool is_reminder_on = false;
  // Graph has no SEQUENCE member. It is taken from a top-level "sequence" number when a
  // simulator or a later API version supplies one, else from the MAPI property
  // PidLidAppointmentSequence when the request expanded it:
  //   $expand=singleValueExtendedProperties($filter=id eq
  //     'Integer {00062002-0000-0000-C000-000000000046} Id 0x8201')
  // Without either the builder writes SEQUENCE:0 and clients order updates by DTSTAMP.
  std::optional<int> sequence;
};

struct GraphEventMessage {
  std::string odata_type; // "#microsoft.graph.eventMessageRequest", ...
  std::string id;
  std::string internet_message_id;
  std::string subject;
  MeetingMessageType meeting_message_type = MeetingMessageType::none;
  ResponseType response_type = ResponseType::none; // eventMessageResponse only
  std::optional<EmailAddress> from;
  std::optional<EmailAddress> sender;
  std::optional<CivilDateTime> sent_date_time; // UTC
  GraphEvent event;
};

struct GraphLimits {
  std::size_t max_bytes = 8 * 1024 * 1024; // whole response
  std::size_t max_depth = 32;              // JSON nesting
  std::size_t max_string = 64 * 1024;      // any member except body content
  std::size_t max_items = 1000;            // collection entries, attendees, locations, days
};

// The first entry of the collection that is an event message with an expanded event.
// Errc::not_found when the collection holds none (e.g. the message is not an invitation or
// the lookup found nothing); Errc::syntax for malformed JSON or members of the wrong type;
// Errc::too_many / literal_too_large when a limit is exceeded.
// meetingMessageType, or for a response that Graph describes only by its responseType
// (meetingMessageType null), what that says.
MeetingMessageType effective_type(const GraphEventMessage& m);

protocol::Result<GraphEventMessage> parse_event_message_response(std::string_view json,
                                                                 const GraphLimits& limits = {});

// A bare event object.
protocol::Result<GraphEvent> parse_event(std::string_view json, const GraphLimits& limits = {});

bool is_response(MeetingMessageType type);

} // namespace icalgate::calendar
