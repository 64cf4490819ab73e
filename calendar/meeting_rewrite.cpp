#include "calendar/meeting_rewrite.hpp"

#include "calendar/graph_event.hpp"
#include "calendar/ical_builder.hpp"
#include "calendar/mail_date.hpp"
#include "calendar/owa_link.hpp"
#include "protocol/mime/message.hpp"

namespace icalgate::calendar {

namespace {

std::optional<CivilDateTime> date_header(const protocol::mime::Message& msg) {
  for (const auto& f : msg.root().headers) {
    if (protocol::mime::iequals(protocol::mime::header_name(msg.raw(), f), "Date")) {
      return parse_mail_date(protocol::mime::header_full_value(msg.raw(), f));
    }
  }
  return std::nullopt;
}

} // namespace

protocol::Result<std::string> rewrite_meeting_message(const std::string& original,
                                                      std::string_view event_json,
                                                      const RewriteOptions& rewrite_options) {
  using protocol::Errc;
  using protocol::make_error;
  if (original.size() > rewrite_options.max_message_size) {
    return make_error(Errc::literal_too_large, "message over the rewrite size cap");
  }
  auto msg = protocol::mime::parse_message(original);
  if (!msg) {
    return msg.error();
  }
  const auto classified = classify(*msg);
  if (!classified.link) {
    return make_error(Errc::not_found,
                      "not an OWA-link meeting message (" + std::string(classified.reason) + ")");
  }
  auto event = parse_event_message_response(event_json);
  if (!event) {
    return make_error(event.error().code, "event: " + event.error().message);
  }
  const auto method = method_for(effective_type(*event));
  if (!method) {
    return make_error(Errc::unsupported, "event: not a meeting message");
  }
  IcalOptions options;
  if (auto date = date_header(*msg)) {
    options.dtstamp = *date;
  } else if (event->sent_date_time) {
    options.dtstamp = *event->sent_date_time;
  } else {
    return make_error(Errc::not_found, "no Date header and no sentDateTime for DTSTAMP");
  }
  if (auto text = description_text(*msg, *classified.link)) {
    options.description = std::move(text).value();
  }
  auto vcalendar = build_icalendar(*event, options);
  if (!vcalendar) {
    return make_error(vcalendar.error().code, "icalendar: " + vcalendar.error().message);
  }
  return rewrite_message(original, *msg, *classified.link, *vcalendar, *method, rewrite_options);
}

} // namespace icalgate::calendar
