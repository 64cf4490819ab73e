#pragma once
// The RFC 5322 Date header as a UTC time, for DTSTAMP: the rewrite must not read the clock,
// so the meeting message's own date stands for "when this iTIP message was created".

#include "calendar/civil_time.hpp"

#include <optional>
#include <string_view>

namespace icalgate::calendar {

// "[Tue,] 18 Nov 2026 10:02:11 +0100" → 2026-11-18T09:02:11 (UTC). Accepts the obsolete
// forms of RFC 5322 §4.3 (two-digit years, zone names such as GMT or EST, comments, missing
// seconds); a missing or unknown zone counts as UTC. nullopt when no date can be read.
std::optional<CivilDateTime> parse_mail_date(std::string_view text);

} // namespace icalgate::calendar
