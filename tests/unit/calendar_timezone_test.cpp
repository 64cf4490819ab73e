#include "calendar/timezone.hpp"

#include "calendar/libical_handle.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>

using namespace icalgate::calendar;
using icalgate::protocol::Errc;

namespace {

std::string iana_of(const std::string& name) {
  auto zone = resolve_time_zone(name);
  INFO(name << ": " << (zone.ok() ? std::string() : zone.error().message));
  REQUIRE(zone.ok());
  CHECK_FALSE(zone->utc);
  return zone->iana;
}

CivilDateTime at(int y, int mo, int d, int h, int mi) {
  return {{y, mo, d}, h, mi, 0};
}

std::string local_of(const CivilDateTime& utc, const std::string& iana) {
  auto local = utc_to_local(utc, ResolvedZone{iana, false});
  REQUIRE(local.ok());
  return to_string(*local);
}

std::string vtimezone_text(const std::string& iana, const CivilDateTime& from,
                           const std::optional<CivilDateTime>& until) {
  auto vtz = make_vtimezone(ResolvedZone{iana, false}, from, until);
  INFO(iana);
  REQUIRE(vtz.ok());
  return ical_text(vtz->get());
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("calendar: Windows zone names map to current IANA ids", "[calendar]") {
  CHECK(iana_of("W. Europe Standard Time") == "Europe/Berlin");
  CHECK(iana_of("Pacific Standard Time") == "America/Los_Angeles");
  CHECK(iana_of("AUS Eastern Standard Time") == "Australia/Sydney");
  CHECK(iana_of("Tokyo Standard Time") == "Asia/Tokyo");
  CHECK(iana_of("E. South America Standard Time") == "America/Sao_Paulo");
  CHECK(iana_of("Romance Standard Time") == "Europe/Paris");
  // ICU answers the legacy ids; the written id is the one tz data lists today.
  CHECK(iana_of("India Standard Time") == "Asia/Kolkata");
  CHECK(iana_of("Nepal Standard Time") == "Asia/Kathmandu");
  CHECK(iana_of("SE Asia Standard Time") == "Asia/Bangkok");
  CHECK(iana_of("FLE Standard Time") == "Europe/Kyiv");
  CHECK(iana_of("Myanmar Standard Time") == "Asia/Yangon");
  CHECK(iana_of("Greenland Standard Time") == "America/Nuuk");
  CHECK(iana_of("Dateline Standard Time") == "Etc/GMT+12");
  // Already IANA, current or legacy.
  CHECK(iana_of("Europe/Berlin") == "Europe/Berlin");
  CHECK(iana_of("Asia/Calcutta") == "Asia/Kolkata");
  CHECK(iana_of("  Asia/Tokyo ") == "Asia/Tokyo");
}

TEST_CASE("calendar: the names of UTC", "[calendar]") {
  for (const char* name : {"UTC", "tzone://Microsoft/Utc", "Etc/UTC", "Etc/GMT", "utc"}) {
    auto zone = resolve_time_zone(name);
    INFO(name);
    REQUIRE(zone.ok());
    CHECK(zone->utc);
    CHECK(zone->iana == "UTC");
  }
  // London is not UTC, even if its Windows name says GMT.
  CHECK(iana_of("GMT Standard Time") == "Europe/London");
}

TEST_CASE("calendar: zones that cannot be resolved", "[calendar]") {
  CHECK(resolve_time_zone("").error().code == Errc::not_found);
  CHECK(resolve_time_zone("Mars Standard Time").error().code == Errc::not_found);
  // Windows zones retired before CLDR's mapping (callers fall back to UTC).
  CHECK(resolve_time_zone("Mid-Atlantic Standard Time").error().code == Errc::not_found);
  CHECK(resolve_time_zone("../../../etc/passwd").error().code == Errc::not_found);
  CHECK(resolve_time_zone(std::string(500, 'A')).error().code == Errc::not_found);
  CHECK(resolve_time_zone("tzone://Microsoft/Custom").error().code == Errc::unsupported);
}

TEST_CASE("calendar: UTC to wall clock across DST on both hemispheres", "[calendar]") {
  // Berlin springs forward on 2027-03-28 at 01:00 UTC.
  CHECK(local_of(at(2027, 3, 28, 0, 30), "Europe/Berlin") == "2027-03-28T01:30:00");
  CHECK(local_of(at(2027, 3, 28, 1, 30), "Europe/Berlin") == "2027-03-28T03:30:00");
  // Los Angeles on 2027-03-14 at 10:00 UTC.
  CHECK(local_of(at(2027, 3, 14, 9, 30), "America/Los_Angeles") == "2027-03-14T01:30:00");
  CHECK(local_of(at(2027, 3, 14, 10, 30), "America/Los_Angeles") == "2027-03-14T03:30:00");
  // Sydney falls back on 2027-04-04 at 16:00 UTC (03:00 AEDT → 02:00 AEST).
  CHECK(local_of(at(2027, 4, 3, 15, 30), "Australia/Sydney") == "2027-04-04T02:30:00");
  CHECK(local_of(at(2027, 4, 3, 16, 30), "Australia/Sydney") == "2027-04-04T02:30:00");
  CHECK(local_of(at(2027, 10, 2, 16, 30), "Australia/Sydney") == "2027-10-03T03:30:00");
  // No DST at all.
  CHECK(local_of(at(2027, 1, 1, 0, 0), "Asia/Kolkata") == "2027-01-01T05:30:00");
  CHECK(local_of(at(2027, 7, 1, 23, 0), "Asia/Tokyo") == "2027-07-02T08:00:00");
  CHECK(local_of(at(2027, 1, 1, 2, 0), "America/Sao_Paulo") == "2026-12-31T23:00:00");

  auto back = local_to_utc(at(2027, 4, 6, 10, 0), ResolvedZone{"Europe/Berlin", false});
  REQUIRE(back.ok());
  CHECK(to_string(*back) == "2027-04-06T08:00:00");
  auto utc = utc_to_local(at(2027, 4, 6, 10, 0), ResolvedZone{"UTC", true});
  REQUIRE(utc.ok());
  CHECK(to_string(*utc) == "2027-04-06T10:00:00");
}

TEST_CASE("calendar: VTIMEZONE with a bare TZID covering the event", "[calendar]") {
  const std::string berlin =
      vtimezone_text("Europe/Berlin", at(2027, 3, 9, 9, 0), at(2027, 4, 24, 0, 0));
  CHECK(berlin.starts_with("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"));
  CHECK_FALSE(contains(berlin, "freeassociation"));
  CHECK(contains(berlin, "X-LIC-LOCATION:Europe/Berlin\r\n"));
  CHECK(contains(berlin, "BEGIN:DAYLIGHT\r\n"));
  CHECK(contains(berlin, "TZOFFSETTO:+0200\r\n"));
  CHECK(contains(berlin, "TZOFFSETTO:+0100\r\n"));
  CHECK(contains(berlin, "BYDAY=-1SU;BYMONTH=3"));
  // The same input gives the same bytes.
  CHECK(berlin == vtimezone_text("Europe/Berlin", at(2027, 3, 9, 9, 0), at(2027, 4, 24, 0, 0)));

  const std::string sydney = vtimezone_text("Australia/Sydney", at(2027, 3, 15, 3, 0), {});
  CHECK(contains(sydney, "TZID:Australia/Sydney\r\n"));
  CHECK(contains(sydney, "TZOFFSETTO:+1100\r\n"));
  CHECK(contains(sydney, "BYDAY=1SU;BYMONTH=4"));

  // Zones without DST in the period have a single STANDARD.
  for (const char* iana : {"Asia/Tokyo", "Asia/Kolkata", "America/Sao_Paulo"}) {
    const std::string text = vtimezone_text(iana, at(2027, 1, 1, 0, 0), at(2028, 1, 1, 0, 0));
    CHECK(contains(text, std::string("TZID:") + iana + "\r\n"));
    CHECK(contains(text, "BEGIN:STANDARD\r\n"));
    CHECK_FALSE(contains(text, "BEGIN:DAYLIGHT\r\n"));
  }
  CHECK(contains(vtimezone_text("Asia/Kolkata", at(2027, 1, 1, 0, 0), {}), "TZOFFSETTO:+0530"));
  CHECK(make_vtimezone(ResolvedZone{"UTC", true}, at(2027, 1, 1, 0, 0), {}).error().code ==
        Errc::unsupported);
}
