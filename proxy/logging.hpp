#pragma once
// The gateway's log: spdlog on stderr, as text ("event key=value ...") or JSON (one object
// per line). Callers pass already sanitized or redacted values (proxy/redact.hpp); this
// layer only quotes and escapes them for the chosen format.

#include "proxy/config.hpp"

#include <cstdint>
#include <exception>
#include <initializer_list>
#include <string>
#include <string_view>

namespace icalgate::proxy {

struct LogField {
  std::string_view key;
  std::string value;
  bool number = false; // JSON: emit unquoted
};

inline LogField field(std::string_view key, std::string value) {
  return {key, std::move(value)};
}
inline LogField field(std::string_view key, std::uint64_t value) {
  return {key, std::to_string(value), true};
}

void setup_logging(const LogConfig& config);
bool log_enabled(LogLevel level);
void log_event(LogLevel level, std::string_view event, std::initializer_list<LogField> fields);
// An `internal_error` line for what escaped a detached coroutine (nothing for no exception).
void log_exception(std::string_view where, const std::exception_ptr& error);

// A JSON string literal (quotes included) of already sanitized text.
std::string json_quote(std::string_view text);

} // namespace icalgate::proxy
