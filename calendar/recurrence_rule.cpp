#include "calendar/recurrence_rule.hpp"

#include <cstddef>

namespace icalgate::calendar {

using protocol::Errc;
using protocol::make_error;
using protocol::Result;

namespace {

icalrecurrencetype_weekday ical_weekday(DayOfWeek day) {
  switch (day) {
  case DayOfWeek::sunday:
    return ICAL_SUNDAY_WEEKDAY;
  case DayOfWeek::monday:
    return ICAL_MONDAY_WEEKDAY;
  case DayOfWeek::tuesday:
    return ICAL_TUESDAY_WEEKDAY;
  case DayOfWeek::wednesday:
    return ICAL_WEDNESDAY_WEEKDAY;
  case DayOfWeek::thursday:
    return ICAL_THURSDAY_WEEKDAY;
  case DayOfWeek::friday:
    return ICAL_FRIDAY_WEEKDAY;
  case DayOfWeek::saturday:
    return ICAL_SATURDAY_WEEKDAY;
  }
  return ICAL_NO_WEEKDAY;
}

// libical's by_day encoding: (|pos| * 8 + weekday) with the sign of pos, as decoded by
// icalrecurrencetype_day_position() and icalrecurrencetype_day_day_of_week().
short encode_day(DayOfWeek day, int pos) {
  const int magnitude = (pos < 0 ? -pos : pos) * 8 + static_cast<int>(ical_weekday(day));
  return static_cast<short>(pos < 0 ? -magnitude : magnitude);
}

int set_position(WeekIndex index) {
  switch (index) {
  case WeekIndex::first:
    return 1;
  case WeekIndex::second:
    return 2;
  case WeekIndex::third:
    return 3;
  case WeekIndex::fourth:
    return 4;
  case WeekIndex::last:
    return -1;
  }
  return 1;
}

// BYDAY (and BYSETPOS) for the relative patterns: one day takes its ordinal directly
// (BYDAY=-1FR), several days mean "the n-th of these days" (BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1).
void relative_days(icalrecurrencetype& rule, const RecurrencePattern& pattern) {
  const int pos = set_position(pattern.index);
  if (pattern.days_of_week.size() == 1) {
    rule.by_day[0] = encode_day(pattern.days_of_week[0], pos);
    rule.by_day[1] = ICAL_RECURRENCE_ARRAY_MAX;
    return;
  }
  std::size_t n = 0;
  for (DayOfWeek day : pattern.days_of_week) {
    rule.by_day[n++] = encode_day(day, 0);
  }
  rule.by_day[n] = ICAL_RECURRENCE_ARRAY_MAX;
  rule.by_set_pos[0] = static_cast<short>(pos);
  rule.by_set_pos[1] = ICAL_RECURRENCE_ARRAY_MAX;
}

void plain_days(icalrecurrencetype& rule, const RecurrencePattern& pattern) {
  std::size_t n = 0;
  for (DayOfWeek day : pattern.days_of_week) {
    rule.by_day[n++] = encode_day(day, 0);
  }
  rule.by_day[n] = ICAL_RECURRENCE_ARRAY_MAX;
}

Result<icaltimetype> until_of(const CivilDate& end_date, bool all_day, const ResolvedZone& zone) {
  icaltimetype until = icaltime_null_time();
  if (all_day) {
    until.year = end_date.year;
    until.month = end_date.month;
    until.day = end_date.day;
    until.is_date = 1;
    return until;
  }
  auto utc = local_to_utc(CivilDateTime{end_date, 23, 59, 59}, zone);
  if (!utc) {
    return utc.error();
  }
  until.year = utc->date.year;
  until.month = utc->date.month;
  until.day = utc->date.day;
  until.hour = utc->hour;
  until.minute = utc->minute;
  until.second = utc->second;
  until.zone = icaltimezone_get_utc_timezone();
  return until;
}

} // namespace

Result<icalrecurrencetype> make_rrule(const PatternedRecurrence& recurrence, bool all_day,
                                      const ResolvedZone& zone) {
  const RecurrencePattern& pattern = recurrence.pattern;
  // The parser caps the list at seven distinct days; libical's arrays are larger.
  if (pattern.days_of_week.size() > 7) {
    return make_error(Errc::too_many, "more than seven days of week");
  }
  icalrecurrencetype rule;
  icalrecurrencetype_clear(&rule);
  rule.interval = static_cast<short>(pattern.interval < 1 ? 1 : pattern.interval);
  switch (pattern.type) {
  case PatternType::daily:
    rule.freq = ICAL_DAILY_RECURRENCE;
    break;
  case PatternType::weekly:
    rule.freq = ICAL_WEEKLY_RECURRENCE;
    plain_days(rule, pattern);
    rule.week_start = ical_weekday(pattern.first_day_of_week);
    break;
  case PatternType::absolute_monthly:
    rule.freq = ICAL_MONTHLY_RECURRENCE;
    // Outlook's "day 31 of every month" falls on the last day of shorter months; BYMONTHDAY=31
    // would skip them. Exchange's iCalendar template for it is BYMONTHDAY=-1 (MS-OXCICAL
    // 2.1.3.2.2.3).
    rule.by_month_day[0] =
        static_cast<short>(pattern.day_of_month == 31 ? -1 : pattern.day_of_month);
    rule.by_month_day[1] = ICAL_RECURRENCE_ARRAY_MAX;
    break;
  case PatternType::relative_monthly:
    rule.freq = ICAL_MONTHLY_RECURRENCE;
    relative_days(rule, pattern);
    break;
  case PatternType::absolute_yearly:
    rule.freq = ICAL_YEARLY_RECURRENCE;
    rule.by_month[0] = static_cast<short>(pattern.month);
    rule.by_month[1] = ICAL_RECURRENCE_ARRAY_MAX;
    rule.by_month_day[0] = static_cast<short>(pattern.day_of_month);
    rule.by_month_day[1] = ICAL_RECURRENCE_ARRAY_MAX;
    break;
  case PatternType::relative_yearly:
    rule.freq = ICAL_YEARLY_RECURRENCE;
    rule.by_month[0] = static_cast<short>(pattern.month);
    rule.by_month[1] = ICAL_RECURRENCE_ARRAY_MAX;
    relative_days(rule, pattern);
    break;
  }
  const RecurrenceRange& range = recurrence.range;
  switch (range.type) {
  case RangeType::end_date: {
    if (!range.end_date) {
      return make_error(Errc::syntax, "endDate range without an end date");
    }
    auto until = until_of(*range.end_date, all_day, zone);
    if (!until) {
      return until.error();
    }
    rule.until = *until;
    break;
  }
  case RangeType::numbered:
    if (range.number_of_occurrences <= 0) {
      return make_error(Errc::syntax, "numbered range without a count");
    }
    rule.count = range.number_of_occurrences;
    break;
  case RangeType::no_end:
    break;
  }
  return rule;
}

} // namespace icalgate::calendar
