#pragma once
// Calendar dates and wall-clock times without a zone, as Graph writes them
// ("2026-12-01T08:00:00.0000000", "2026-12-01"). Pure arithmetic, no clock reads.

#include "protocol/result.hpp"

#include <compare>
#include <string>
#include <string_view>

namespace icalgate::calendar {

struct CivilDate {
  int year = 1970;
  int month = 1; // 1..12
  int day = 1;   // 1..31

  friend auto operator<=>(const CivilDate&, const CivilDate&) = default;
};

struct CivilDateTime {
  CivilDate date;
  int hour = 0;   // 0..23
  int minute = 0; // 0..59
  int second = 0; // 0..59; fractions are dropped, Graph never sets them for events

  friend auto operator<=>(const CivilDateTime&, const CivilDateTime&) = default;
};

// "YYYY-MM-DD"; years 1..9999, days checked against the month.
protocol::Result<CivilDate> parse_civil_date(std::string_view text);

// "YYYY-MM-DDTHH:MM[:SS[.fraction]]" with an optional trailing "Z" (Graph's DateTimeOffset
// form, e.g. `originalStart`); the "Z" is accepted and ignored: callers know the zone.
protocol::Result<CivilDateTime> parse_civil_date_time(std::string_view text);

int days_in_month(int year, int month);

// Days since 1970-01-01 (negative before), proleptic Gregorian.
long long days_from_civil(const CivilDate& date);
CivilDate civil_from_days(long long days);

CivilDate add_days(const CivilDate& date, long long days);

// 0 = Sunday .. 6 = Saturday.
int weekday(const CivilDate& date);

// "YYYY-MM-DD" / "YYYY-MM-DDTHH:MM:SS", for messages and tests.
std::string to_string(const CivilDate& date);
std::string to_string(const CivilDateTime& time);

} // namespace icalgate::calendar
