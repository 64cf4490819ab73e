#include "protocol/mime/imap_string.hpp"

namespace icalgate::protocol::mime {

namespace {

// Dovecot switches from quoted to literal after this many quoted-specials.
constexpr unsigned kQuotedMaxEscapes = 4;

std::string_view until_nul(std::string_view s) {
  const auto nul = s.find('\0');
  return nul == std::string_view::npos ? s : s.substr(0, nul);
}

} // namespace

void append_literal(std::string& out, std::string_view s) {
  out += '{';
  out += std::to_string(s.size());
  out += "}\r\n";
  out += s;
}

void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\r' || c == '\n' || u >= 0x80) {
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  out += '"';
}

void append_string(std::string& out, std::string_view s) {
  s = until_nul(s);
  unsigned escapes = 0;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      if (escapes++ < kQuotedMaxEscapes) {
        continue;
      }
      append_literal(out, s);
      return;
    }
    if (c == '\r' || c == '\n' || u >= 0x80) {
      append_literal(out, s);
      return;
    }
  }
  append_quoted(out, s);
}

void append_nstring(std::string& out, const std::optional<std::string>& s) {
  if (!s) {
    out += "NIL";
    return;
  }
  append_string(out, *s);
}

void append_nstring_nolf(std::string& out, const std::optional<std::string>& s) {
  if (!s || s->find_first_of("\r\n") == std::string::npos) {
    append_nstring(out, s);
    return;
  }
  std::string joined;
  joined.reserve(s->size());
  const std::string& src = *s;
  for (std::size_t i = 0; i < src.size(); ++i) {
    const char c = src[i];
    if (c != '\r' && c != '\n') {
      joined += c;
      continue;
    }
    const char next = i + 1 < src.size() ? src[i + 1] : '\0';
    if (next != ' ' && next != '\t' && next != '\r' && next != '\n') {
      joined += ' ';
    }
  }
  append_string(out, joined);
}

void append_string_for_humans(std::string& out, std::string_view src) {
  std::size_t remove_count = 0;
  bool whitespace_prefix = true;
  bool last_lwsp = true;
  bool modify = false;
  for (const char c : src) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
    case '\0':
      last_lwsp = false;
      modify = true;
      break;
    case '\t':
      modify = true;
      [[fallthrough]];
    case ' ':
      if (last_lwsp) {
        modify = true;
        ++remove_count;
      }
      last_lwsp = true;
      break;
    case '\r':
    case '\n':
      ++remove_count;
      modify = true;
      break;
    case '"':
    case '\\':
      modify = true;
      last_lwsp = false;
      break;
    default:
      if (u >= 0x80) {
        modify = true;
      }
      last_lwsp = false;
      break;
    }
    if (!last_lwsp) {
      whitespace_prefix = false;
    }
  }
  if (last_lwsp && !src.empty() && !whitespace_prefix) {
    modify = true;
    ++remove_count;
  }
  if (!modify) {
    out += '"';
    out += src;
    out += '"';
    return;
  }
  if (src.size() == remove_count) {
    out += "\"\"";
    return;
  }
  std::string cleaned;
  cleaned.reserve(src.size());
  last_lwsp = true;
  whitespace_prefix = true;
  for (const char c : src) {
    switch (c) {
    case '\0':
      cleaned += static_cast<char>(0x80);
      last_lwsp = false;
      break;
    case '\t':
    case ' ':
      if (!last_lwsp) {
        cleaned += ' ';
      }
      last_lwsp = true;
      break;
    case '\r':
    case '\n':
      break;
    default:
      last_lwsp = false;
      cleaned += c;
      break;
    }
    if (!last_lwsp) {
      whitespace_prefix = false;
    }
  }
  if (last_lwsp && !src.empty() && !whitespace_prefix && !cleaned.empty()) {
    cleaned.pop_back();
  }
  append_literal(out, cleaned);
}

} // namespace icalgate::protocol::mime
