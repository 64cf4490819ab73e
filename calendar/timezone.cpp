#include "calendar/timezone.hpp"

#include <unicode/timezone.h>
#include <unicode/unistr.h>

#include <array>
#include <cstring>

namespace icalgate::calendar {

using protocol::Errc;
using protocol::make_error;
using protocol::Result;

namespace {

constexpr std::size_t kMaxZoneName = 128;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

// Names that mean UTC itself, as Graph, Windows and the tz database write them.
bool is_utc_name(std::string_view name) {
  static constexpr std::array<std::string_view, 11> names = {"UTC",
                                                             "tzone://Microsoft/Utc",
                                                             "Etc/UTC",
                                                             "Etc/UCT",
                                                             "Etc/Universal",
                                                             "Etc/Zulu",
                                                             "Etc/GMT",
                                                             "GMT",
                                                             "Z",
                                                             "Universal",
                                                             "Coordinated Universal Time"};
  for (std::string_view n : names) {
    if (iequals(n, name)) {
      return true;
    }
  }
  return false;
}

std::string utf8(const icu::UnicodeString& s) {
  std::string out;
  s.toUTF8String(out);
  return out;
}

// Whether the system tz database lists `id` as a zone of its own in zone.tab (the modern,
// canonical spellings; links such as Asia/Calcutta are not listed).
bool listed_in_zone_tab(const std::string& id) {
  icalarray* zones = icaltimezone_get_builtin_timezones();
  if (zones == nullptr) {
    return false;
  }
  for (std::size_t i = 0; i < zones->num_elements; ++i) {
    auto* zone = static_cast<icaltimezone*>(icalarray_element_at(zones, i));
    const char* location = zone != nullptr ? icaltimezone_get_location(zone) : nullptr;
    if (location != nullptr && id == location) {
      return true;
    }
  }
  return false;
}

// Among the ids ICU considers the same zone, the one zone.tab lists; else ICU's own.
std::string preferred_id(const icu::UnicodeString& canonical) {
  const std::string own = utf8(canonical);
  if (listed_in_zone_tab(own)) {
    return own;
  }
  const int32_t count = icu::TimeZone::countEquivalentIDs(canonical);
  for (int32_t i = 0; i < count; ++i) {
    const std::string alias = utf8(icu::TimeZone::getEquivalentID(canonical, i));
    if (alias.find('/') != std::string::npos && listed_in_zone_tab(alias)) {
      return alias;
    }
  }
  return own;
}

icaltimezone* builtin_zone(const ResolvedZone& zone) {
  // Only ids that went through resolve_time_zone reach libical, which turns them into file
  // names under the zoneinfo directory.
  return zone.utc ? icaltimezone_get_utc_timezone()
                  : icaltimezone_get_builtin_timezone(zone.iana.c_str());
}

CivilDateTime from_ical(const icaltimetype& t) {
  return CivilDateTime{CivilDate{t.year, t.month, t.day}, t.hour, t.minute, t.second};
}

Result<CivilDateTime> convert(const CivilDateTime& t, icaltimezone* from, icaltimezone* to) {
  icaltimetype tt = to_icaltime(t, from);
  icaltimezone_convert_time(&tt, from, to);
  const CivilDateTime out = from_ical(tt);
  if (out.date.year < 1 || out.date.year > 9999) {
    return make_error(Errc::unsupported, "date out of range after zone conversion");
  }
  return out;
}

} // namespace

Result<ResolvedZone> resolve_time_zone(std::string_view graph_name) {
  const std::string_view name = trim(graph_name);
  if (name.empty() || name.size() > kMaxZoneName) {
    return make_error(Errc::not_found, "no usable time zone name");
  }
  if (is_utc_name(name)) {
    return ResolvedZone{"UTC", true};
  }
  if (name.starts_with("tzone://")) {
    return make_error(Errc::unsupported, "custom time zone '" + std::string(name) + "'");
  }
  const icu::UnicodeString given = icu::UnicodeString::fromUTF8(
      icu::StringPiece(name.data(), static_cast<int32_t>(name.size())));
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString iana;
  icu::TimeZone::getIDForWindowsID(given, nullptr, iana, status);
  if (U_FAILURE(status) || iana.isBogus() || iana.isEmpty()) {
    iana = given; // not a Windows name: perhaps already an IANA id
  }
  status = U_ZERO_ERROR;
  icu::UnicodeString canonical;
  UBool is_system = false;
  icu::TimeZone::getCanonicalID(iana, canonical, is_system, status);
  if (U_FAILURE(status) || !is_system || canonical.isEmpty()) {
    return make_error(Errc::not_found, "unknown time zone '" + std::string(name) + "'");
  }
  const std::string id = utf8(canonical);
  if (is_utc_name(id)) {
    return ResolvedZone{"UTC", true};
  }
  ResolvedZone out{preferred_id(canonical), false};
  if (icaltimezone_get_builtin_timezone(out.iana.c_str()) == nullptr) {
    return make_error(Errc::not_found, "time zone '" + out.iana + "' missing from tz database");
  }
  return out;
}

Result<CivilDateTime> utc_to_local(const CivilDateTime& utc, const ResolvedZone& zone) {
  icaltimezone* to = builtin_zone(zone);
  if (to == nullptr) {
    return make_error(Errc::not_found, "time zone '" + zone.iana + "' missing from tz database");
  }
  return convert(utc, icaltimezone_get_utc_timezone(), to);
}

Result<CivilDateTime> local_to_utc(const CivilDateTime& local, const ResolvedZone& zone) {
  icaltimezone* from = builtin_zone(zone);
  if (from == nullptr) {
    return make_error(Errc::not_found, "time zone '" + zone.iana + "' missing from tz database");
  }
  return convert(local, from, icaltimezone_get_utc_timezone());
}

Result<IcalComponent> make_vtimezone(const ResolvedZone& zone, const CivilDateTime& from_utc,
                                     const std::optional<CivilDateTime>& until_utc) {
  if (zone.utc) {
    return make_error(Errc::unsupported, "UTC needs no VTIMEZONE");
  }
  icaltimezone* tz = builtin_zone(zone);
  icalcomponent* source = tz != nullptr ? icaltimezone_get_component(tz) : nullptr;
  if (source == nullptr) {
    return make_error(Errc::not_found, "time zone '" + zone.iana + "' missing from tz database");
  }
  IcalComponent vtz(icalcomponent_new_clone(source));
  icaltimezone* utc = icaltimezone_get_utc_timezone();
  const icaltimetype end = until_utc ? to_icaltime(*until_utc, utc) : icaltime_null_time();
  icaltimezone_truncate_vtimezone(vtz.get(), to_icaltime(from_utc, utc), end, 1);

  if (icalproperty* tzid = icalcomponent_get_first_property(vtz.get(), ICAL_TZID_PROPERTY)) {
    icalproperty_set_tzid(tzid, zone.iana.c_str());
  } else {
    icalcomponent_add_property(vtz.get(), icalproperty_new_tzid(zone.iana.c_str()));
  }
  for (icalproperty* p = icalcomponent_get_first_property(vtz.get(), ICAL_X_PROPERTY); p != nullptr;
       p = icalcomponent_get_next_property(vtz.get(), ICAL_X_PROPERTY)) {
    const char* x_name = icalproperty_get_x_name(p);
    if (x_name != nullptr && std::strcmp(x_name, "X-LIC-LOCATION") == 0) {
      icalproperty_set_x(p, zone.iana.c_str());
    }
  }
  return vtz;
}

icaltimetype to_icaltime(const CivilDateTime& t, icaltimezone* zone) {
  icaltimetype out = icaltime_null_time();
  out.year = t.date.year;
  out.month = t.date.month;
  out.day = t.date.day;
  out.hour = t.hour;
  out.minute = t.minute;
  out.second = t.second;
  out.is_date = 0;
  out.zone = zone;
  return out;
}

} // namespace icalgate::calendar
