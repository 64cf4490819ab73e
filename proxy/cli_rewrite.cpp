#include "proxy/cli_rewrite.hpp"

#include "proxy/cli_files.hpp"

#include "calendar/graph_event.hpp"
#include "calendar/ical_builder.hpp"
#include "calendar/imip_message.hpp"
#include "calendar/mail_date.hpp"
#include "calendar/owa_link.hpp"
#include "protocol/mime/message.hpp"

#include <cstdio>

namespace icalgate::proxy {

namespace {

std::optional<calendar::CivilDateTime> date_header(const protocol::mime::Message& msg) {
  for (const auto& f : msg.root().headers) {
    if (protocol::mime::iequals(protocol::mime::header_name(msg.raw(), f), "Date")) {
      return calendar::parse_mail_date(protocol::mime::header_full_value(msg.raw(), f));
    }
  }
  return std::nullopt;
}

} // namespace

protocol::Result<std::string> rewrite_bytes(const std::string& original,
                                            std::string_view event_json) {
  using protocol::Errc;
  using protocol::make_error;
  auto msg = protocol::mime::parse_message(original);
  if (!msg) {
    return msg.error();
  }
  const auto classified = calendar::classify(*msg);
  if (!classified.link) {
    return make_error(Errc::not_found,
                      "not an OWA-link meeting message (" + std::string(classified.reason) + ")");
  }
  auto event = calendar::parse_event_message_response(event_json);
  if (!event) {
    return make_error(event.error().code, "event: " + event.error().message);
  }
  const auto method = calendar::method_for(event->meeting_message_type);
  if (!method) {
    return make_error(Errc::unsupported, "event: not a meeting message");
  }
  calendar::IcalOptions options;
  if (auto date = date_header(*msg)) {
    options.dtstamp = *date;
  } else if (event->sent_date_time) {
    options.dtstamp = *event->sent_date_time;
  } else {
    return make_error(Errc::not_found, "no Date header and no sentDateTime for DTSTAMP");
  }
  if (auto text = calendar::description_text(*msg, *classified.link)) {
    options.description = std::move(text).value();
  }
  auto vcalendar = calendar::build_icalendar(*event, options);
  if (!vcalendar) {
    return make_error(vcalendar.error().code, "icalendar: " + vcalendar.error().message);
  }
  return calendar::rewrite_message(original, *msg, *classified.link, *vcalendar, *method);
}

int run_rewrite(std::span<char* const> args) {
  if (args.size() != 3 || std::string_view(args[0]) != "--event") {
    std::fputs("icalgate rewrite: usage: icalgate rewrite --event EVENT.json FILE\n", stderr);
    return 2;
  }
  std::string event;
  std::string original;
  std::string error;
  if (!read_cli_file(args[1], event, error)) {
    std::fprintf(stderr, "icalgate rewrite: %s: %s\n", printable(args[1]).c_str(), error.c_str());
    return 2;
  }
  if (!read_cli_file(args[2], original, error)) {
    std::fprintf(stderr, "icalgate rewrite: %s: %s\n", printable(args[2]).c_str(), error.c_str());
    return 2;
  }
  auto rewritten = rewrite_bytes(original, event);
  if (!rewritten) {
    std::fprintf(stderr, "icalgate rewrite: %s: %s\n", printable(args[2]).c_str(),
                 printable(rewritten.error().message).c_str());
    return 1;
  }
  std::fwrite(rewritten->data(), 1, rewritten->size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 2;
}

} // namespace icalgate::proxy
