#include "calendar/mail_date.hpp"

#include "protocol/mime/header.hpp"

#include <array>
#include <string>
#include <vector>

namespace icalgate::calendar {

namespace {

constexpr std::size_t kMaxDateLength = 256;

std::optional<int> number(std::string_view s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) {
    return std::nullopt;
  }
  int v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + (c - '0');
  }
  return v;
}

std::optional<int> month_number(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (s.size() >= 3 && protocol::mime::iequals(s.substr(0, 3), kMonths[i])) {
      return static_cast<int>(i + 1);
    }
  }
  return std::nullopt;
}

// Minutes east of UTC.
int zone_offset(std::string_view z) {
  if (z.size() == 5 && (z[0] == '+' || z[0] == '-')) {
    const auto hh = number(z.substr(1, 2), 2);
    const auto mm = number(z.substr(3, 2), 2);
    if (hh && mm && *mm < 60) {
      const int off = *hh * 60 + *mm;
      return z[0] == '-' ? -off : off;
    }
    return 0;
  }
  struct Named {
    std::string_view name;
    int hours;
  };
  static constexpr std::array<Named, 8> kZones = {{{"EST", -5},
                                                   {"EDT", -4},
                                                   {"CST", -6},
                                                   {"CDT", -5},
                                                   {"MST", -7},
                                                   {"MDT", -6},
                                                   {"PST", -8},
                                                   {"PDT", -7}}};
  for (const auto& zone : kZones) {
    if (protocol::mime::iequals(z, zone.name)) {
      return zone.hours * 60;
    }
  }
  return 0; // UT, GMT, Z, military zones (RFC 5322 says to treat them as -0000)
}

std::string strip_comments(std::string_view text) {
  std::string out;
  int depth = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && depth > 0) {
      ++i;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && depth > 0) {
      --depth;
    } else if (depth == 0) {
      out += c;
    }
  }
  return out;
}

std::vector<std::string_view> tokens(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size() && out.size() < 16) {
    while (i < s.size() &&
           (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' || s[i] == ',')) {
      ++i;
    }
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' &&
           s[i] != ',') {
      ++i;
    }
    if (i > start) {
      out.push_back(s.substr(start, i - start));
    }
  }
  return out;
}

} // namespace

std::optional<CivilDateTime> parse_mail_date(std::string_view text) {
  if (text.size() > kMaxDateLength) {
    return std::nullopt;
  }
  const std::string clean = strip_comments(text);
  auto t = tokens(clean);
  std::size_t i = 0;
  if (i < t.size() && !number(t[i], 2)) {
    ++i; // day of week
  }
  if (i + 4 > t.size()) {
    return std::nullopt;
  }
  const auto day = number(t[i], 2);
  const auto month = month_number(t[i + 1]);
  auto year = number(t[i + 2], 4);
  if (!day || !month || !year) {
    return std::nullopt;
  }
  if (t[i + 2].size() == 2) {
    *year += *year < 50 ? 2000 : 1900;
  } else if (t[i + 2].size() == 3) {
    *year += 1900;
  }
  const std::string_view time = t[i + 3];
  const auto c1 = time.find(':');
  if (c1 == std::string_view::npos) {
    return std::nullopt;
  }
  const auto c2 = time.find(':', c1 + 1);
  const auto hh = number(time.substr(0, c1), 2);
  const auto mm = number(
      time.substr(c1 + 1, c2 == std::string_view::npos ? std::string_view::npos : c2 - c1 - 1), 2);
  const auto ss =
      c2 == std::string_view::npos ? std::optional<int>(0) : number(time.substr(c2 + 1), 2);
  if (!hh || !mm || !ss || *hh > 23 || *mm > 59 || *ss > 60 || *year < 1 || *year > 9999 ||
      *day < 1 || *day > days_in_month(*year, *month)) {
    return std::nullopt;
  }
  const int offset = i + 4 < t.size() ? zone_offset(t[i + 4]) : 0;
  long long minutes =
      days_from_civil(CivilDate{*year, *month, *day}) * 1440LL + *hh * 60LL + *mm - offset;
  const long long days = minutes >= 0 ? minutes / 1440 : -((-minutes + 1439) / 1440);
  minutes -= days * 1440;
  CivilDateTime out;
  out.date = civil_from_days(days);
  out.hour = static_cast<int>(minutes / 60);
  out.minute = static_cast<int>(minutes % 60);
  out.second = *ss == 60 ? 59 : *ss;
  return out;
}

} // namespace icalgate::calendar
