// Runs the whole rewrite on arbitrary mail: classify() decides, and for an OWA-link message
// rewrite_meeting_message() builds the iMIP message from a Graph response. Input: the message,
// optionally followed by two NUL bytes and the Graph response to use (else a small valid
// one). Checked: the same bytes twice, a result the MIME model parses (the gateway serves
// every item from it), within the size cap, with a text/calendar part, and no longer
// classified as an OWA-link message (a stored rewrite is never rewritten again). Then the
// rewrite announced from the message's BODYSTRUCTURE: when it is built, it has exactly the
// announced size and the announced top-level header.

#include "calendar/announced_rewrite.hpp"
#include "calendar/meeting_rewrite.hpp"
#include "calendar/owa_link.hpp"
#include "protocol/fetch_render.hpp"
#include "protocol/lexer.hpp"
#include "protocol/mime/message.hpp"
#include "protocol/response.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace icalgate;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "meeting rewrite check failed: %s\n", what);
  std::abort();
}

constexpr std::string_view default_event = R"({"value":[{
  "@odata.type":"#microsoft.graph.eventMessageRequest","meetingMessageType":"meetingRequest",
  "from":{"emailAddress":{"name":"Bob","address":"bob@contoso.com"}},
  "event":{"iCalUId":"040000008200E00074C5B7101A82E008","subject":"Sync",
    "body":{"contentType":"text","content":"Agenda"},
    "start":{"dateTime":"2027-02-02T13:00:00.0000000","timeZone":"W. Europe Standard Time"},
    "end":{"dateTime":"2027-02-02T13:30:00.0000000","timeZone":"W. Europe Standard Time"},
    "originalStartTimeZone":"W. Europe Standard Time",
    "organizer":{"emailAddress":{"name":"Bob","address":"bob@contoso.com"}},
    "attendees":[{"type":"required","status":{"response":"none"},
                  "emailAddress":{"name":"Alice","address":"alice@contoso.com"}}]}}]})";

bool has_calendar_part(const protocol::mime::MimePart& part) {
  const auto& content = part.content;
  if (content.type && content.subtype && protocol::imap_iequals(*content.type, "text") &&
      protocol::imap_iequals(*content.subtype, "calendar")) {
    return true;
  }
  for (const auto& child : part.children) {
    if (has_calendar_part(child)) {
      return true;
    }
  }
  return false;
}

std::string header_of(std::string_view message) {
  const std::size_t end = message.find("\r\n\r\n");
  return std::string(message.substr(0, end == std::string_view::npos ? message.size() : end + 4));
}

void check_announced(const protocol::mime::Message& parsed, std::string_view event,
                     const calendar::RewriteOptions& options) {
  const auto items = protocol::parse_fetch_items("BODYSTRUCTURE");
  auto rendered = items ? protocol::render_fetch(parsed, *items, {})
                        : protocol::Result<std::string>(items.error());
  auto response = rendered ? protocol::parse_response(*rendered)
                           : protocol::Result<protocol::Response>(rendered.error());
  if (!response) {
    fail("the gateway's own BODYSTRUCTURE does not parse");
  }
  const auto& data = std::get<protocol::FetchData>(response->body);
  if (data.atts.size() != 1) {
    fail("BODYSTRUCTURE answer without one item");
  }
  auto announcement = calendar::announce_rewrite(data.atts.front().sexp, parsed.raw().size(), event,
                                                 "<seed@fuzz>", options);
  if (!announcement) {
    return;
  }
  calendar::RewriteOptions announced = options;
  announced.announced = *announcement;
  auto built = calendar::rewrite_meeting_message(parsed.raw(), event, announced);
  if (!built) {
    return; // the caller serves the original, and says so
  }
  if (built->size() != announcement->size) {
    fail("announced rewrite of another size");
  }
  if (header_of(*built) !=
      calendar::announced_header(header_of(parsed.raw()), announcement->boundary, true)) {
    fail("announced rewrite with another top-level header");
  }
  if (!protocol::mime::parse_message(*built)) {
    fail("the MIME model cannot parse the announced rewrite");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t split = input.find(std::string_view("\0\0", 2));
  const std::string original(input.substr(0, split));
  const std::string_view event =
      split == std::string_view::npos ? default_event : input.substr(split + 2);

  auto parsed = protocol::mime::parse_message(original);
  if (!parsed || !calendar::classify(*parsed).link) {
    return 0;
  }
  calendar::RewriteOptions options;
  options.max_message_size = 4u << 20;
  auto rewritten = calendar::rewrite_meeting_message(original, event, options);
  if (!rewritten) {
    return 0;
  }
  auto again = calendar::rewrite_meeting_message(original, event, options);
  if (!again || *again != *rewritten) {
    fail("rewriting twice gives different bytes");
  }
  if (rewritten->size() > options.max_message_size) {
    fail("rewritten message above the size cap");
  }
  auto reparsed = protocol::mime::parse_message(*rewritten);
  if (!reparsed) {
    fail("the MIME model cannot parse the rewritten message");
  }
  if (!has_calendar_part(reparsed->root())) {
    fail("no text/calendar part in the rewritten message");
  }
  if (calendar::classify(*reparsed).link) {
    fail("the rewritten message still classifies as an OWA-link message");
  }
  check_announced(*parsed, event, options);
  return 0;
}
