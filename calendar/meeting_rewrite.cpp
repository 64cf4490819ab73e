#include "calendar/meeting_rewrite.hpp"

#include "calendar/graph_event.hpp"
#include "calendar/ical_builder.hpp"
#include "calendar/mail_date.hpp"
#include "calendar/owa_link.hpp"
#include "protocol/mime/message.hpp"

namespace icalgate::calendar {

namespace {

// An announced rewrite shortens an overlong DESCRIPTION at most this often.
constexpr int kMaxShortenings = 8;
constexpr std::string_view kEllipsis = "\u2026";

// The largest UTF-8 character start at or before `at`.
std::size_t utf8_start(std::string_view text, std::size_t at) {
  while (at > 0 && at < text.size() && (static_cast<unsigned char>(text[at]) & 0xc0) == 0x80) {
    --at;
  }
  return at;
}

std::optional<CivilDateTime> date_header(const protocol::mime::Message& msg) {
  for (const auto& f : msg.root().headers) {
    if (protocol::mime::iequals(protocol::mime::header_name(msg.raw(), f), "Date")) {
      return parse_mail_date(protocol::mime::header_full_value(msg.raw(), f));
    }
  }
  return std::nullopt;
}

} // namespace

protocol::Result<MeetingEvent> parse_meeting_event(std::string_view event_json) {
  using protocol::Errc;
  using protocol::make_error;
  auto event = parse_event_message_response(event_json);
  if (!event) {
    return make_error(event.error().code, "event: " + event.error().message);
  }
  const auto method = method_for(effective_type(*event));
  if (!method) {
    return make_error(Errc::unsupported, "event: not a meeting message");
  }
  return MeetingEvent{std::move(event).value(), *method};
}

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
  auto event = parse_meeting_event(event_json);
  if (!event) {
    return event.error();
  }
  IcalOptions options;
  if (auto date = date_header(*msg)) {
    options.dtstamp = *date;
  } else if (event->message.sent_date_time) {
    options.dtstamp = *event->message.sent_date_time;
  } else {
    return make_error(Errc::not_found, "no Date header and no sentDateTime for DTSTAMP");
  }
  if (auto text = description_text(*msg, *classified.link)) {
    options.description = std::move(text).value();
  } else if (rewrite_options.announced) {
    options.description = std::string(); // the event's text was not allowed for
  }
  for (int attempt = 0; attempt < kMaxShortenings; ++attempt) {
    auto vcalendar = build_icalendar(event->message, options);
    if (!vcalendar) {
      return make_error(vcalendar.error().code, "icalendar: " + vcalendar.error().message);
    }
    auto out = rewrite_message(original, *msg, *classified.link, *vcalendar, event->method,
                               rewrite_options);
    if (!out || !rewrite_options.announced) {
      return out;
    }
    const std::uint64_t size = rewrite_options.announced->size;
    if (out->size() <= size) {
      return pad_message(std::move(out).value(), size);
    }
    // Over the announced size: the DESCRIPTION gives up what the excess takes in base64.
    std::string& text = *options.description;
    if (text.empty()) {
      return make_error(Errc::unsupported, "rewritten message larger than announced");
    }
    const std::uint64_t cut = (out->size() - size) / 4 * 3 + 8 + kEllipsis.size();
    text.resize(utf8_start(text, text.size() > cut ? text.size() - cut : 0));
    if (!text.empty()) {
      text += kEllipsis;
    }
  }
  return make_error(Errc::unsupported, "rewritten message larger than announced");
}

} // namespace icalgate::calendar
