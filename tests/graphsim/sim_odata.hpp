#pragma once
// The slice of OData URL syntax the simulator understands, parsed as Graph
// does: query options, $select, $top, $expand, and the $filter forms the
// gateway uses.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace icalgate::graphsim {

// %XX decoding; '+' stays '+' (URLs, not forms) unless form is set. nullopt on
// bad escapes.
std::optional<std::string> percent_decode(std::string_view text, bool form = false);
std::string percent_encode(std::string_view text);

// name -> value, both decoded; nullopt when malformed or a name repeats.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view query,
                                                              bool form = false);

// The conjunction of the supported terms:
//   internetMessageId eq '<id>'
//   receivedDateTime ge|gt 2026-11-01T00:00:00Z
//   singleValueExtendedProperties/any(ep: ep/id eq 'String 0x001A'
//       and startswith(ep/value, 'IPM.Schedule.Meeting.'))      (or ep/value eq
//       '…')
struct MessageFilter {
  std::optional<std::string> internet_message_id;
  std::optional<std::string> received_from; // normalized "YYYY-MM-DDTHH:MM:SS"
  bool received_strict = false;             // gt rather than ge
  std::optional<std::string> class_prefix;
  std::optional<std::string> class_equals;
};

struct FilterError {
  std::string code;    // Graph error code
  std::string message; // Graph error message
};

std::variant<MessageFilter, FilterError> parse_message_filter(std::string_view filter);

// "2026-11-18T10:02:11Z", "2026-11-18T10:02:11.0000000Z" ->
// "2026-11-18T10:02:11".
std::optional<std::string> normalize_timestamp(std::string_view text);

} // namespace icalgate::graphsim
