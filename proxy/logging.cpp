#include "proxy/logging.hpp"

#include "proxy/redact.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>

namespace icalgate::proxy {

namespace {

LogFormat g_format = LogFormat::text;

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
  case LogLevel::trace:
    return spdlog::level::trace;
  case LogLevel::debug:
    return spdlog::level::debug;
  case LogLevel::info:
    return spdlog::level::info;
  case LogLevel::warn:
    return spdlog::level::warn;
  case LogLevel::error:
    return spdlog::level::err;
  case LogLevel::critical:
    return spdlog::level::critical;
  case LogLevel::off:
    return spdlog::level::off;
  }
  return spdlog::level::info;
}

bool needs_quotes(std::string_view value) {
  return value.empty() || value.find_first_of(" \"=") != std::string_view::npos;
}

// Values are sanitized already (backslashes escaped): only the quote needs escaping.
std::string text_quote(std::string_view value) {
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"') {
      out += '\\';
    }
    out += c;
  }
  out += '"';
  return out;
}

} // namespace

std::string json_quote(std::string_view text) {
  static constexpr std::array<char, 16> digits{'0', '1', '2', '3', '4', '5', '6', '7',
                                               '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += "\\u00";
      out += digits[c >> 4U];
      out += digits[c & 0xFU];
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

void setup_logging(const LogConfig& config) {
  g_format = config.format;
  auto logger = std::make_shared<spdlog::logger>("icalgate",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (config.format == LogFormat::json) {
    logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})",
                        spdlog::pattern_time_type::utc);
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  }
  logger->set_level(to_spdlog(config.level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

bool log_enabled(LogLevel level) {
  return spdlog::default_logger_raw()->should_log(to_spdlog(level));
}

void log_event(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (!log_enabled(level)) {
    return;
  }
  std::string line;
  if (g_format == LogFormat::json) {
    line = "\"event\":" + json_quote(event);
    for (const auto& f : fields) {
      line += ',' + json_quote(f.key) + ':' + (f.number ? f.value : json_quote(f.value));
    }
  } else {
    line = std::string(event);
    for (const auto& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      line += needs_quotes(f.value) ? text_quote(f.value) : f.value;
    }
  }
  spdlog::default_logger_raw()->log(to_spdlog(level), "{}", line);
}

void log_exception(std::string_view where, const std::exception_ptr& error) {
  if (!error) {
    return;
  }
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    log_event(LogLevel::error, "internal_error",
              {field("where", std::string(where)), field("what", sanitize_for_log(e.what()))});
  } catch (...) {
    log_event(LogLevel::error, "internal_error", {field("where", std::string(where))});
  }
}

} // namespace icalgate::proxy
