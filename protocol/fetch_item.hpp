#pragma once
// The fetch-att grammar of RFC 9051 / RFC 3501 as values, shared by the command parser
// (FETCH / UID FETCH arguments) and the FETCH response renderer (icalgate inspect, rewrite).

#include "protocol/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::protocol {

struct SectionSpec {
  enum class Text { none, header, header_fields, header_fields_not, text, mime };

  std::vector<std::uint32_t> part; // "1.2.3" -> {1, 2, 3}; empty = the whole message
  Text text = Text::none;
  std::vector<std::string> fields; // HEADER.FIELDS(.NOT) names, as the client wrote them

  friend bool operator==(const SectionSpec&, const SectionSpec&) = default;
};

struct Partial {
  std::uint64_t origin = 0;
  std::uint64_t octets = 0;

  friend bool operator==(const Partial&, const Partial&) = default;
};

enum class FetchAttr {
  envelope,
  flags,
  internaldate,
  rfc822,
  rfc822_header,
  rfc822_size,
  rfc822_text,
  body, // BODY without section: the non-extensible BODYSTRUCTURE
  bodystructure,
  uid,
  body_section, // BODY[...] / BODY.PEEK[...]
  binary,       // BINARY[...] / BINARY.PEEK[...]
  binary_size,  // BINARY.SIZE[...]
  modseq,
  save_date, // SAVEDATE (RFC 8514)
  email_id,  // EMAILID (RFC 8474)
  thread_id, // THREADID (RFC 8474)
};

struct FetchItem {
  FetchAttr attr = FetchAttr::flags;
  SectionSpec section;            // body_section, binary, binary_size
  bool peek = false;              // BODY.PEEK / BINARY.PEEK
  std::optional<Partial> partial; // <origin.octets>

  friend bool operator==(const FetchItem&, const FetchItem&) = default;
};

// Which macro, if any, a fetch-att list was written as. The items are always expanded.
enum class FetchMacro { none, all, fast, full };

struct FetchItems {
  FetchMacro macro = FetchMacro::none;
  std::vector<FetchItem> items;

  friend bool operator==(const FetchItems&, const FetchItems&) = default;
};

// Parses the fetch-att argument of FETCH: a macro (ALL / FAST / FULL), a single fetch-att,
// or a parenthesised list of them; case-insensitive. With `consumed` null the whole of
// `text` must be the argument; otherwise parsing stops after it and `*consumed` receives
// the number of bytes used (so a caller can go on to the FETCH modifiers).
Result<FetchItems> parse_fetch_items(std::string_view text, std::size_t* consumed = nullptr);

// The canonical request form of one item, e.g. "BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.100>".
std::string to_string(const FetchItem& item);
// A parenthesised list of the items in canonical request form, e.g. "(UID FLAGS)".
std::string to_string(const FetchItems& items);
// The section-spec inside the brackets, e.g. "1.2.MIME"; empty for the whole message.
// Servers echo HEADER.FIELDS names upper-cased in a FETCH response's label: `upper_fields`.
std::string to_string(const SectionSpec& section, bool upper_fields = false);

} // namespace icalgate::protocol
