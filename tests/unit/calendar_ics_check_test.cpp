// The iCalendar of every Graph fixture, checked by an independent parser: Debian's
// python3-icalendar (and python3-recurring-ical-events for the occurrences), through
// tests/calendar/check_ics.py and the NAME.expect.json next to each fixture.

#include "calendar_test_support.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <stdlib.h>

namespace {

// The system interpreter, which has Debian's modules (a pyenv python3 on PATH would not).
constexpr const char* kPython = "/usr/bin/python3";

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "icalgate-ics-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) {
      path_ = pattern;
    }
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

int run(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

} // namespace

TEST_CASE("calendar: python3-icalendar reads every fixture's iCalendar as meant", "[calendar]") {
  if (run(std::string(kPython) + " -c 'import icalendar' >/dev/null 2>&1") != 0) {
    SKIP("python3-icalendar is not installed (apt-get install python3-icalendar)");
  }
  TempDir dir;
  REQUIRE_FALSE(dir.path().empty());
  for (const char* name : kGraphMessageFixtures) {
    std::ofstream out(dir.path() / (std::string(name) + ".ics"), std::ios::binary);
    out << build_fixture_ics(name);
    REQUIRE(out.good());
  }
  const std::string tests = ICALGATE_TEST_DATA_DIR;
  const std::string command = std::string(kPython) + " '" + tests + "/calendar/check_ics.py' '" +
                              dir.path().string() + "' '" + tests + "/unit/data/graph'";
  INFO(command);
  CHECK(run(command) == 0);
}

TEST_CASE("calendar: the independent check fails on a wrong iCalendar", "[calendar]") {
  if (run(std::string(kPython) + " -c 'import icalendar' >/dev/null 2>&1") != 0) {
    SKIP("python3-icalendar is not installed (apt-get install python3-icalendar)");
  }
  TempDir dir;
  REQUIRE_FALSE(dir.path().empty());
  // The weekly series with its last occurrence cut off: an UNTIL at the start of the last day.
  std::string ics = build_fixture_ics("request-weekly-berlin");
  const auto at = ics.find("UNTIL=20270422T215959Z");
  REQUIRE(at != std::string::npos);
  ics.replace(at, 22, "UNTIL=20270422T000000Z");
  {
    std::ofstream out(dir.path() / "request-weekly-berlin.ics", std::ios::binary);
    out << ics;
  }
  const std::string tests = ICALGATE_TEST_DATA_DIR;
  CHECK(run(std::string(kPython) + " '" + tests + "/calendar/check_ics.py' '" +
            dir.path().string() + "' '" + tests + "/unit/data/graph' >/dev/null") == 1);
}
