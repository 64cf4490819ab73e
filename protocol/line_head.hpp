#pragma once
// The head of a response line, read without parsing the response: what a relay needs to
// follow a session as its answers stream by (tag, number, name, a leading UID, a code's
// number).

#include <cstdint>
#include <optional>
#include <string_view>

namespace icalgate::protocol {

// Views into the line given to head_of().
struct LineHead {
  std::string_view tag;
  std::optional<std::uint32_t> number; // "* 12 FETCH"
  std::string_view name;               // status, command or data name (upper or lower)
};

// "TAG NAME ...", "* NAME ..." or "* NUMBER NAME ...".
LineHead head_of(std::string_view line);

// The UID of "* N FETCH (UID u ..." when it is the first attribute, as servers put it for a
// UID FETCH; otherwise it may follow a literal, and the answer must be read whole to know.
std::optional<std::uint32_t> leading_uid(std::string_view line);

// The number after a response code such as "[UIDVALIDITY " in a status line.
std::optional<std::uint32_t> code_number_in(std::string_view line, std::string_view code);

} // namespace icalgate::protocol
