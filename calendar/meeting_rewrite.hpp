#pragma once
// The whole rewrite of one message on bytes, as the gateway and the offline subcommands run
// it: classify the original, parse the Graph response for it, build the VCALENDAR (DTSTAMP
// from the message's Date header, else the Graph message's sentDateTime; DESCRIPTION from
// the body without the link) and build the iMIP message. Pure and deterministic.

#include "calendar/graph_event.hpp"
#include "calendar/imip_message.hpp"
#include "protocol/result.hpp"

#include <string>
#include <string_view>

namespace icalgate::calendar {

// A Graph response for a meeting message and the iMIP method it takes. Errors carry
// "event: " before the parser's (or the message is no meeting message).
struct MeetingEvent {
  GraphEventMessage message;
  Method method = Method::request;
};
protocol::Result<MeetingEvent> parse_meeting_event(std::string_view event_json);

// Errc::not_found when `original` is not an OWA-link meeting message; otherwise the errors
// of the Graph response parser, the iCalendar builder and rewrite_message().
protocol::Result<std::string> rewrite_meeting_message(const std::string& original,
                                                      std::string_view event_json,
                                                      const RewriteOptions& options = {});

} // namespace icalgate::calendar
