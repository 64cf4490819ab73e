#pragma once
// Ownership of libical objects, so that every early return frees what it built.

#include <libical/ical.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace icalgate::calendar {

struct IcalComponentFree {
  void operator()(icalcomponent* c) const noexcept { icalcomponent_free(c); }
};
using IcalComponent = std::unique_ptr<icalcomponent, IcalComponentFree>;

struct IcalPropertyFree {
  void operator()(icalproperty* p) const noexcept { icalproperty_free(p); }
};
using IcalProperty = std::unique_ptr<icalproperty, IcalPropertyFree>;

// The component's text (CRLF lines, folded), without going through libical's shared ring
// buffer of temporary strings.
inline std::string ical_text(icalcomponent* c) {
  char* raw = icalcomponent_as_ical_string_r(c);
  if (raw == nullptr) {
    return {};
  }
  std::string out(raw);
  std::free(raw); // NOLINT(cppcoreguidelines-no-malloc): libical allocates with malloc
  return out;
}

} // namespace icalgate::calendar
