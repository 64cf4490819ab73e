#pragma once
// Header fields of one MIME part, located by offset in the raw message, and the parsed
// Content-* data that BODYSTRUCTURE reports (Dovecot's message_part_data).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace icalgate::protocol::mime {

// One header field: its first line and every continuation line, with the line ending of the
// last line. Offsets are into the raw message.
struct HeaderField {
  std::size_t start = 0; // first byte of the name
  std::size_t colon = 0; // position of ':' or `end` when the line has none
  std::size_t end = 0;   // one past the last byte (after its LF, or at EOF)
};

// The field name as Dovecot sees it: bytes before ':' without trailing blanks, or the whole
// first line (without line ending) when there is no colon.
std::string_view header_name(std::string_view raw, const HeaderField& field);

// The unfolded value as Dovecot's header parser hands it to BODYSTRUCTURE and ENVELOPE code:
// blanks after ':' skipped, CRs dropped, continuation lines joined with '\n' keeping their
// leading blank.
std::string header_full_value(std::string_view raw, const HeaderField& field);

bool iequals(std::string_view a, std::string_view b);

using Params = std::vector<std::pair<std::string, std::string>>;

// Content-* header data of one part.
struct ContentInfo {
  std::optional<std::string> type;    // "text" in "text/plain"; may be empty
  std::optional<std::string> subtype; // may be empty ("" when the header was broken)
  Params type_params;
  std::optional<std::string> transfer_encoding;
  std::optional<std::string> id;
  std::optional<std::string> description;
  std::optional<std::string> disposition;
  Params disposition_params;
  std::optional<std::string> md5;
  std::optional<std::vector<std::string>> language;
  std::optional<std::string> location;

  // Feeds one header field (name matched case-insensitively against Content-*).
  void add_header(std::string_view name, const std::string& full_value);
};

} // namespace icalgate::protocol::mime
