#include "calendar/event_times.hpp"

#include <algorithm>

namespace icalgate::calendar {

using protocol::Errc;
using protocol::make_error;
using protocol::Result;

namespace {

constexpr int kMinYear = 1900;
constexpr int kMaxYear = 2500;

bool supported(const CivilDate& d) {
  return d.year >= kMinYear && d.year <= kMaxYear;
}

// The zone Graph's answer is written in ("UTC" unless asked otherwise).
Result<ResolvedZone> zone_of_answer(const std::string& name) {
  if (name.empty()) {
    return ResolvedZone{"UTC", true};
  }
  return resolve_time_zone(name);
}

Result<CivilDateTime> to_utc(const DateTimeTimeZone& t) {
  auto zone = zone_of_answer(t.time_zone);
  if (!zone) {
    return make_error(Errc::syntax, "dateTime in unknown zone '" + t.time_zone + "'");
  }
  return zone->utc ? Result<CivilDateTime>(t.date_time) : local_to_utc(t.date_time, *zone);
}

Result<CivilDateTime> to_zone(const CivilDateTime& utc, const ResolvedZone& zone) {
  return zone.utc ? Result<CivilDateTime>(utc) : utc_to_local(utc, zone);
}

// The organizer's zone, `fallback` when that cannot be resolved, else UTC.
ResolvedZone organizer_zone(const std::string& original, const std::string& fallback) {
  if (auto zone = resolve_time_zone(original)) {
    return *zone;
  }
  if (auto zone = resolve_time_zone(fallback)) {
    return *zone;
  }
  return ResolvedZone{"UTC", true};
}

} // namespace

Result<EventTimes> event_times(const GraphEvent& ev, bool as_instance) {
  const bool in_range = supported(ev.start.date_time.date) && supported(ev.end.date_time.date) &&
                        (!ev.original_start || supported(ev.original_start->date)) &&
                        (!ev.recurrence || !ev.recurrence->range.end_date ||
                         supported(*ev.recurrence->range.end_date));
  if (!in_range) {
    return make_error(Errc::unsupported, "event date outside the years 1900..2500");
  }
  EventTimes t;
  t.all_day = ev.is_all_day;
  if (t.all_day) {
    // Graph gives all-day events as midnights labelled with the answer's zone; the dates are
    // floating and are taken as they are. DTEND is exclusive, as Graph's end already is.
    t.start_local = CivilDateTime{ev.start.date_time.date, 0, 0, 0};
    CivilDate end = ev.end.date_time.date;
    if (end <= ev.start.date_time.date) {
      end = add_days(ev.start.date_time.date, 1);
    }
    t.end_local = CivilDateTime{end, 0, 0, 0};
    if (as_instance && ev.original_start) {
      // originalStart is the UTC instant of the occurrence's local midnight.
      const ResolvedZone zone = organizer_zone(ev.original_start_time_zone, "UTC");
      auto local = to_zone(*ev.original_start, zone);
      if (!local) {
        return local.error();
      }
      t.recurrence_id_local = CivilDateTime{local->date, 0, 0, 0};
    }
    return t;
  }
  auto start_utc = to_utc(ev.start);
  auto end_utc = to_utc(ev.end);
  if (!start_utc) {
    return start_utc.error();
  }
  if (!end_utc) {
    return end_utc.error();
  }
  t.start_utc = *start_utc;
  t.end_utc = *end_utc < *start_utc ? *start_utc : *end_utc;
  t.start_zone = organizer_zone(ev.original_start_time_zone, ev.start.time_zone);
  t.end_zone = ev.original_end_time_zone.empty()
                   ? t.start_zone
                   : organizer_zone(ev.original_end_time_zone, ev.end.time_zone);
  auto start_local = to_zone(t.start_utc, t.start_zone);
  auto end_local = to_zone(t.end_utc, t.end_zone);
  if (!start_local) {
    return start_local.error();
  }
  if (!end_local) {
    return end_local.error();
  }
  t.start_local = *start_local;
  t.end_local = *end_local;
  t.zone_from_utc = t.start_utc;
  if (as_instance && ev.original_start) {
    auto rid = to_zone(*ev.original_start, t.start_zone);
    if (!rid) {
      return rid.error();
    }
    t.recurrence_id_local = *rid;
    t.zone_from_utc = std::min(t.zone_from_utc, *ev.original_start);
  }
  if (!ev.recurrence) {
    t.zone_until_utc = t.end_utc;
  } else if (ev.recurrence->range.type == RangeType::end_date && ev.recurrence->range.end_date) {
    // Through the day after the end date in UTC terms: covers the last occurrence anywhere.
    t.zone_until_utc = CivilDateTime{add_days(*ev.recurrence->range.end_date, 2), 0, 0, 0};
  }
  return t;
}

} // namespace icalgate::calendar
