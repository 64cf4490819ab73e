// Parses arbitrary bytes as a Graph message-lookup response and, when that succeeds, builds
// the iCalendar and checks what the iMIP message relies on: a non-empty text of CRLF lines
// that libical parses back into one VCALENDAR with one VEVENT, the same bytes when built
// twice. The same bytes are also parsed as a bare event, which must never crash.

#include "calendar/graph_event.hpp"
#include "calendar/ical_builder.hpp"
#include "calendar/libical_handle.hpp"

#include <libical/ical.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace icalgate::calendar;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "graph event check failed: %s\n", what);
  std::abort();
}

void check_icalendar(const std::string& ics) {
  if (ics.empty() || !ics.ends_with("\r\n")) {
    fail("iCalendar empty or not CRLF-terminated");
  }
  for (std::size_t i = 0; i < ics.size(); ++i) {
    if (ics[i] == '\n' && (i == 0 || ics[i - 1] != '\r')) {
      fail("bare LF in iCalendar");
    }
  }
  IcalComponent parsed(icalparser_parse_string(ics.c_str()));
  if (parsed == nullptr || icalcomponent_isa(parsed.get()) != ICAL_VCALENDAR_COMPONENT) {
    fail("libical cannot parse the iCalendar back");
  }
  if (icalcomponent_count_components(parsed.get(), ICAL_VEVENT_COMPONENT) != 1) {
    fail("iCalendar does not hold exactly one VEVENT");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  GraphLimits limits;
  limits.max_bytes = 1 << 20;
  (void)parse_event(text, limits);
  auto message = parse_event_message_response(text, limits);
  if (!message) {
    return 0;
  }
  IcalOptions options;
  options.dtstamp = CivilDateTime{{2026, 11, 18}, 10, 2, 11};
  auto ics = build_icalendar(*message, options);
  if (!ics) {
    return 0;
  }
  check_icalendar(*ics);
  auto again = build_icalendar(*message, options);
  if (!again || *again != *ics) {
    fail("building twice gives different bytes");
  }
  return 0;
}
