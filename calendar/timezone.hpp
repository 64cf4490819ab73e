#pragma once
// Time zones as Graph names them (Windows names such as "W. Europe Standard Time",
// "tzone://Microsoft/Utc", or IANA ids) resolved to IANA ids, wall-clock conversion, and
// the VTIMEZONE that goes with an event.
//
// Windows → IANA is CLDR's mapping through ICU (territory "001"). ICU may answer a legacy
// alias (Asia/Calcutta); the id written is the alias's equivalent that the system tz
// database lists in zone.tab (Asia/Kolkata), so that clients with current tz data know it.
// Offsets and VTIMEZONE rules come from libical's built-in zones, which Debian reads from
// the system tz database (/usr/share/zoneinfo): the same data for the conversion and for
// the VTIMEZONE, so that DTSTART and its VTIMEZONE always agree. Output is deterministic for
// a given tzdata version; a tzdata update can change VTIMEZONE bytes (never a UTC instant
// of an existing event unless the zone's rules themselves changed).

#include "calendar/civil_time.hpp"
#include "calendar/libical_handle.hpp"
#include "protocol/result.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace icalgate::calendar {

struct ResolvedZone {
  std::string iana; // "UTC" when utc
  bool utc = false;
};

// Errc::not_found for an empty or unknown name, Errc::unsupported for Graph's
// "tzone://Microsoft/Custom" (a zone only Exchange knows the rules of).
protocol::Result<ResolvedZone> resolve_time_zone(std::string_view graph_name);

// Wall-clock conversion in `zone` (an IANA id from resolve_time_zone). A local time that
// falls in a DST gap or overlap is resolved the way libical does (the earlier offset).
protocol::Result<CivilDateTime> utc_to_local(const CivilDateTime& utc, const ResolvedZone& zone);
protocol::Result<CivilDateTime> local_to_utc(const CivilDateTime& local, const ResolvedZone& zone);

// `t` as a libical date-time in `zone` (nullptr: floating).
icaltimetype to_icaltime(const CivilDateTime& t, icaltimezone* zone);

// The VTIMEZONE for `zone`, with TZID and X-LIC-LOCATION the bare IANA id (no libical
// "/freeassociation.sourceforge.net/" prefix: clients match bare ids to their own zone
// data), truncated to the rules in force from `from_utc` until `until_utc` (open-ended
// when absent). Errc::not_found when the tz database lacks the zone; not for UTC.
protocol::Result<IcalComponent> make_vtimezone(const ResolvedZone& zone,
                                               const CivilDateTime& from_utc,
                                               const std::optional<CivilDateTime>& until_utc);

} // namespace icalgate::calendar
