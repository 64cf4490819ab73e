#include "proxy/redact.hpp"

#include "protocol/framer.hpp"
#include "protocol/lexer.hpp"

#include <array>

namespace icalgate::proxy {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  unsigned min = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) {
    return 0;
  }
  unsigned cp = c & (0x7FU >> n);
  for (std::size_t k = 1; k < n; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0U) != 0x80U) {
      return 0;
    }
    cp = (cp << 6U) | (d & 0x3FU);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

void append_hex(std::string& out, unsigned char c) {
  static constexpr std::array<char, 16> digits{'0', '1', '2', '3', '4', '5', '6', '7',
                                               '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  out += "\\x";
  out += digits[c >> 4U];
  out += digits[c & 0xFU];
}

std::string_view strip_eol(std::string_view line) {
  if (!line.empty() && line.back() == '\n') {
    line.remove_suffix(1);
  }
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line;
}

// The next space-separated token; quoted strings are taken whole.
std::string_view next_token(std::string_view& rest) {
  std::size_t end = 0;
  if (!rest.empty() && rest.front() == '"') {
    bool escaped = false;
    for (end = 1; end < rest.size(); ++end) {
      if (escaped) {
        escaped = false;
      } else if (rest[end] == '\\') {
        escaped = true;
      } else if (rest[end] == '"') {
        ++end;
        break;
      }
    }
  } else {
    end = rest.find(' ');
    if (end == std::string_view::npos) {
      end = rest.size();
    }
  }
  const std::string_view token = rest.substr(0, end);
  rest.remove_prefix(end);
  if (!rest.empty() && rest.front() == ' ') {
    rest.remove_prefix(1);
  }
  return token;
}

bool is_literal_token(std::string_view token) {
  return !token.empty() && (token.front() == '{' || token.front() == '~');
}

} // namespace

std::string sanitize_for_log(std::string_view text, std::size_t max_bytes) {
  const std::string_view shown = text.substr(0, max_bytes);
  std::string out;
  out.reserve(shown.size() + 16);
  for (std::size_t i = 0; i < shown.size();) {
    const auto c = static_cast<unsigned char>(shown[i]);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7F) {
      append_hex(out, c);
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (const std::size_t n = utf8_sequence(shown, i); n > 0) {
      out.append(shown.substr(i, n));
      i += n;
      continue;
    } else {
      append_hex(out, c);
    }
    ++i;
  }
  if (shown.size() < text.size()) {
    out += "...(" + std::to_string(text.size()) + " bytes)";
  }
  return out;
}

std::string ProtocolRedactor::client_line(std::string_view line) {
  const std::string_view body = strip_eol(line);
  if (in_auth_) {
    return std::string(redacted);
  }
  if (login_continues_) {
    login_continues_ = protocol::find_literal_announcement(line).has_value();
    return std::string(redacted);
  }
  std::string_view rest = body;
  const std::string_view tag = next_token(rest);
  std::string_view command = next_token(rest);
  if (protocol::imap_iequals(command, "UID")) {
    return sanitize_for_log(body);
  }
  if (protocol::imap_iequals(command, "LOGIN")) {
    const std::string_view user = next_token(rest);
    std::string out = sanitize_for_log(tag, 64) + " LOGIN ";
    if (is_literal_token(user)) {
      out += redacted;
      login_continues_ = protocol::find_literal_announcement(line).has_value();
      return out;
    }
    out += sanitize_for_log(user, 128);
    if (!rest.empty()) {
      out += ' ';
      out += redacted;
    }
    login_continues_ = protocol::find_literal_announcement(line).has_value();
    return out;
  }
  if (protocol::imap_iequals(command, "AUTHENTICATE")) {
    const std::string_view mechanism = next_token(rest);
    in_auth_ = true;
    auth_tag_ = std::string(tag);
    std::string out =
        sanitize_for_log(tag, 64) + " AUTHENTICATE " + sanitize_for_log(mechanism, 32);
    if (!rest.empty()) {
      out += ' ';
      out += redacted;
    }
    return out;
  }
  return sanitize_for_log(body);
}

std::string ProtocolRedactor::server_line(std::string_view line) {
  const std::string_view body = strip_eol(line);
  if (in_auth_) {
    std::string_view rest = body;
    const std::string_view tag = next_token(rest);
    if (tag == "+") {
      return "+ " + std::string(redacted);
    }
    if (tag == auth_tag_) {
      in_auth_ = false;
      auth_tag_.clear();
    }
  }
  return sanitize_for_log(body);
}

std::string ProtocolRedactor::literal(std::uint64_t size) {
  return "<literal " + std::to_string(size) + " bytes>";
}

} // namespace icalgate::proxy
