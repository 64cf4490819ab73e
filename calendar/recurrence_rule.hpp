#pragma once
// Graph's patternedRecurrence as an RFC 5545 RRULE.
//
//   daily            FREQ=DAILY;INTERVAL=n
//   weekly           FREQ=WEEKLY;INTERVAL=n;BYDAY=MO,TU;WKST=firstDayOfWeek
//   absoluteMonthly  FREQ=MONTHLY;INTERVAL=n;BYMONTHDAY=d
//   relativeMonthly  FREQ=MONTHLY;INTERVAL=n;BYDAY=2TU        (one day)
//                    FREQ=MONTHLY;INTERVAL=n;BYDAY=MO,..,FR;BYSETPOS=-1  (several days)
//   absoluteYearly   FREQ=YEARLY;INTERVAL=n;BYMONTH=m;BYMONTHDAY=d
//   relativeYearly   FREQ=YEARLY;INTERVAL=n;BYMONTH=m;BYDAY=… as relativeMonthly
//   range endDate    UNTIL = the end of endDate in the event's zone, in UTC (23:59:59
//                    local), or UNTIL=endDate as a DATE for all-day events
//   range numbered   COUNT=numberOfOccurrences
//   range noEnd      neither
// Exchange's own iCalendar writes UNTIL as a UTC date-time too; RFC 5545 requires UTC when
// DTSTART carries a TZID, and "end of that day" includes an occurrence on the end date
// whatever its time.

#include "calendar/graph_event.hpp"
#include "calendar/timezone.hpp"
#include "protocol/result.hpp"

#include <libical/ical.h>

namespace icalgate::calendar {

protocol::Result<icalrecurrencetype> make_rrule(const PatternedRecurrence& recurrence, bool all_day,
                                                const ResolvedZone& zone);

} // namespace icalgate::calendar
