#include "calendar/civil_time.hpp"

#include <cstdio>

namespace icalgate::calendar {

using protocol::Errc;
using protocol::make_error;
using protocol::Result;

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads exactly `width` digits at `pos`; -1 when they are not all digits.
int read_number(std::string_view text, std::size_t pos, std::size_t width) {
  if (pos + width > text.size()) {
    return -1;
  }
  int value = 0;
  for (std::size_t i = pos; i < pos + width; ++i) {
    if (!is_digit(text[i])) {
      return -1;
    }
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

bool is_leap(int year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

protocol::Error bad(std::string_view what, std::string_view text) {
  std::string shown(text.substr(0, 40));
  return make_error(Errc::syntax, std::string(what) + " '" + shown + "'");
}

} // namespace

int days_in_month(int year, int month) {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) {
    return 0;
  }
  return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

Result<CivilDate> parse_civil_date(std::string_view text) {
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') {
    return bad("not a date (YYYY-MM-DD):", text);
  }
  const int year = read_number(text, 0, 4);
  const int month = read_number(text, 5, 2);
  const int day = read_number(text, 8, 2);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) {
    return bad("date out of range:", text);
  }
  if (text.size() != 10) {
    return bad("trailing characters after date:", text);
  }
  return CivilDate{year, month, day};
}

Result<CivilDateTime> parse_civil_date_time(std::string_view text) {
  if (text.size() < 16 || text[10] != 'T' || text[13] != ':') {
    return bad("not a date-time (YYYY-MM-DDTHH:MM:SS):", text);
  }
  auto date = parse_civil_date(text.substr(0, 10));
  if (!date) {
    return date.error();
  }
  CivilDateTime out{*date, read_number(text, 11, 2), read_number(text, 14, 2), 0};
  std::size_t pos = 16;
  if (pos < text.size() && text[pos] == ':') {
    out.second = read_number(text, pos + 1, 2);
    pos += 3;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      const std::size_t digits_start = pos;
      while (pos < text.size() && is_digit(text[pos]) && pos - digits_start < 9) {
        ++pos;
      }
      if (pos == digits_start) {
        return bad("empty fraction in date-time:", text);
      }
    }
  }
  if (pos < text.size() && text[pos] == 'Z') {
    ++pos;
  }
  if (out.hour < 0 || out.hour > 23 || out.minute < 0 || out.minute > 59 || out.second < 0 ||
      out.second > 59) {
    return bad("time out of range:", text);
  }
  if (pos != text.size()) {
    return bad("trailing characters after date-time:", text);
  }
  return out;
}

// Howard Hinnant's days_from_civil / civil_from_days.
long long days_from_civil(const CivilDate& date) {
  const long long y = date.month <= 2 ? date.year - 1 : date.year;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const long long yoe = y - era * 400;
  const long long mp = (date.month + 9) % 12;
  const long long doy = (153 * mp + 2) / 5 + date.day - 1;
  const long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilDate civil_from_days(long long days) {
  days += 719468;
  const long long era = (days >= 0 ? days : days - 146096) / 146097;
  const long long doe = days - era * 146097;
  const long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const long long mp = (5 * doy + 2) / 153;
  const long long day = doy - (153 * mp + 2) / 5 + 1;
  const long long month = mp < 10 ? mp + 3 : mp - 9;
  const long long year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return CivilDate{static_cast<int>(year), static_cast<int>(month), static_cast<int>(day)};
}

CivilDate add_days(const CivilDate& date, long long days) {
  return civil_from_days(days_from_civil(date) + days);
}

int weekday(const CivilDate& date) {
  const long long z = days_from_civil(date);
  return static_cast<int>(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6);
}

std::string to_string(const CivilDate& date) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", date.year % 10000, date.month % 100,
                date.day % 100);
  return buf;
}

std::string to_string(const CivilDateTime& time) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "T%02d:%02d:%02d", time.hour % 100, time.minute % 100,
                time.second % 100);
  return to_string(time.date) + buf;
}

} // namespace icalgate::calendar
