#pragma once
// What the gateway may write about untrusted input: sanitized text (no control bytes, no
// invalid UTF-8, bounded length) and protocol lines with every secret replaced by
// <redacted>. Pure, so that "no secret in any log line" is unit-testable.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace icalgate::proxy {

inline constexpr std::size_t default_log_cap = 256;
inline constexpr std::string_view redacted = "<redacted>";

// Control bytes become \r \n \t or \xHH, invalid UTF-8 bytes \xHH, backslash \\; at most
// `max_bytes` input bytes are shown, followed by "...(N bytes)" when cut.
std::string sanitize_for_log(std::string_view text, std::size_t max_bytes = default_log_cap);

// Redacts the protocol lines of one session for trace logging. Literal data is never shown
// (see literal()), so only lines need rules:
//  - "tag LOGIN user pass" keeps the user, the rest is <redacted>; if the user or password
//    comes as a literal, every following line of that command is <redacted>;
//  - "tag AUTHENTICATE MECH ir" keeps the mechanism; every client line after it is
//    <redacted> until the server's tagged answer (continuations from the server too).
class ProtocolRedactor {
 public:
  std::string client_line(std::string_view line);
  std::string server_line(std::string_view line);
  static std::string literal(std::uint64_t size);

 private:
  bool in_auth_ = false;         // AUTHENTICATE exchange in progress
  bool login_continues_ = false; // LOGIN with a literal: more lines of it follow
  std::string auth_tag_;
};

} // namespace icalgate::proxy
