#include "calendar/odata_text.hpp"

#include <initializer_list>

namespace icalgate::calendar {

std::string odata_string_literal(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('\'');
  for (char c : text) {
    out.push_back(c);
    if (c == '\'') {
      out.push_back('\'');
    }
  }
  out.push_back('\'');
  return out;
}

std::string percent_encode(std::string_view text, bool keep_at) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    const bool unreserved = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') ||
                            (u >= '0' && u <= '9') || u == '-' || u == '.' || u == '_' ||
                            u == '~' || (keep_at && u == '@');
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 0x0F]);
    }
  }
  return out;
}

std::string build_query(std::initializer_list<QueryParam> params) {
  std::string out;
  for (const QueryParam& p : params) {
    if (!out.empty()) {
      out.push_back('&');
    }
    out.append(p.name);
    out.push_back('=');
    out.append(percent_encode(p.value));
  }
  return out;
}

} // namespace icalgate::calendar
