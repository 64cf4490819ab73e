#pragma once
// The iMIP VCALENDAR (RFC 5545 / 5546) for a Graph meeting message, built with libical:
// METHOD from meetingMessageType (REQUEST, CANCEL, REPLY), one VEVENT with UID = iCalUId,
// times in the organizer's zone with its VTIMEZONE (or VALUE=DATE for all-day events),
// RRULE for every Graph pattern, organizer and attendees, Exchange's X- properties.
//
// Pure and deterministic: no clock reads and no random values; DTSTAMP comes from the
// caller (the message's Date header), so the same inputs give the same bytes.

#include "calendar/civil_time.hpp"
#include "calendar/graph_event.hpp"
#include "protocol/result.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace icalgate::calendar {

inline constexpr std::string_view kProductId = "-//icalgate//Exchange meeting bridge//EN";

struct IcalOptions {
  CivilDateTime dtstamp; // UTC: the meeting message's Date header
  // DESCRIPTION as plain text (the message body with the OWA link removed). Absent: the
  // event body when it is plain text, else Graph's bodyPreview; empty: no DESCRIPTION.
  std::optional<std::string> description;
  // REPLY only: who answered. Absent: the message's `from`, else its `sender`.
  std::optional<EmailAddress> responder;
  // SEQUENCE when the caller knows better than Graph (see GraphEvent::sequence).
  std::optional<int> sequence;
};

// "REQUEST", "CANCEL", "REPLY"; empty for MeetingMessageType::none.
std::string_view ical_method(MeetingMessageType type);

// The VCALENDAR text: CRLF line ends, lines folded at 75 octets. Errors: Errc::unsupported
// for a message that is no meeting message or an event without iCalUId or organizer;
// Errc::syntax for times that do not convert.
protocol::Result<std::string> build_icalendar(const GraphEventMessage& message,
                                              const IcalOptions& options);

} // namespace icalgate::calendar
