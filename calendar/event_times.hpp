#pragma once
// When an event happens, in the zones its iCalendar is written in: Graph's start/end (UTC
// by default, or the zone asked for with Prefer: outlook.timezone) converted to the
// organizer's zone (originalStartTimeZone / originalEndTimeZone), DATEs for all-day events,
// the RECURRENCE-ID of an occurrence, and the period the VTIMEZONEs must cover.

#include "calendar/civil_time.hpp"
#include "calendar/graph_event.hpp"
#include "calendar/timezone.hpp"
#include "protocol/result.hpp"

#include <optional>

namespace icalgate::calendar {

// All that is needed to write DTSTART, DTEND, RECURRENCE-ID and the VTIMEZONEs.
struct EventTimes {
  bool all_day = false;
  ResolvedZone start_zone;
  ResolvedZone end_zone;
  CivilDateTime start_utc;
  CivilDateTime end_utc;
  CivilDateTime start_local;
  CivilDateTime end_local;
  std::optional<CivilDateTime> recurrence_id_local; // in start_zone
  CivilDateTime zone_from_utc;                      // what the VTIMEZONEs must cover
  std::optional<CivilDateTime> zone_until_utc;
};

// A zone that cannot be resolved (an Exchange custom zone) falls back to the zone of the
// answer and then to UTC: the instants stay right, written in UTC. Dates outside the years
// 1900..2500 are Errc::unsupported: libical's zone cache expands every zone it converts in
// up to the latest year asked for.
// `as_instance`: the event is written as one instance of its series (RECURRENCE-ID).
protocol::Result<EventTimes> event_times(const GraphEvent& ev, bool as_instance);

} // namespace icalgate::calendar
