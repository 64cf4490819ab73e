#include "proxy/units.hpp"

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

using icalgate::proxy::format_duration;
using icalgate::proxy::format_size;
using icalgate::proxy::parse_duration;
using icalgate::proxy::parse_size;
using std::chrono::milliseconds;

namespace {

milliseconds duration_of(const char* text) {
  const auto r = parse_duration(text);
  INFO(text << ": " << (r ? std::string() : r.error()));
  REQUIRE(r.ok());
  return r.value();
}

std::uint64_t size_of(const char* text) {
  const auto r = parse_size(text);
  INFO(text << ": " << (r ? std::string() : r.error()));
  REQUIRE(r.ok());
  return r.value();
}

} // namespace

TEST_CASE("units: durations in every unit", "[units]") {
  CHECK(duration_of("500ms") == milliseconds{500});
  CHECK(duration_of("60s") == milliseconds{60'000});
  CHECK(duration_of("31m") == milliseconds{31 * 60'000});
  CHECK(duration_of("1h") == milliseconds{3'600'000});
  CHECK(duration_of("2d") == milliseconds{2 * 86'400'000});
  CHECK(duration_of("0") == milliseconds{0});
  CHECK(duration_of("0s") == milliseconds{0});
  CHECK(duration_of("15 s") == milliseconds{15'000});
}

TEST_CASE("units: durations add up their terms", "[units]") {
  CHECK(duration_of("1h30m") == milliseconds{90 * 60'000});
  CHECK(duration_of("1m30s250ms") == milliseconds{90'250});
  CHECK(duration_of("1s1s") == milliseconds{2'000});
}

TEST_CASE("units: durations reject garbage with a reason", "[units]") {
  for (const char* text : {"", "s", "60", "-5s", "+5s", "1.5s", "60sec", "60S", "10x", " 60s",
                           "60s ", "1h 30m", "5m!", "abc", "1d2", "\t1s"}) {
    const auto r = parse_duration(text);
    INFO("input: \"" << text << "\"");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("expected a duration") != std::string::npos);
  }
  CHECK(parse_duration("60").error().find("missing unit") != std::string::npos);
  CHECK(parse_duration("10x").error().find("unknown unit \"x\"") != std::string::npos);
}

TEST_CASE("units: durations reject overflow instead of wrapping", "[units]") {
  const auto max_ms = std::numeric_limits<milliseconds::rep>::max();
  CHECK(duration_of((std::to_string(max_ms) + "ms").c_str()) == milliseconds{max_ms});
  CHECK_FALSE(parse_duration(std::to_string(max_ms) + "ms1ms").ok());
  CHECK_FALSE(parse_duration(std::to_string(max_ms / 1000 + 1) + "s").ok());
  CHECK_FALSE(parse_duration("18446744073709551616ms").ok()); // 2^64
  CHECK_FALSE(parse_duration("99999999999999999999999999h").ok());
  CHECK(parse_duration("106751991167d").ok());       // the largest whole number of days
  CHECK_FALSE(parse_duration("106751991168d").ok()); // one more overflows int64 milliseconds
  CHECK(parse_duration("9999999999999999999999d").error().find("too large") != std::string::npos);
}

TEST_CASE("units: sizes binary, decimal and plain", "[units]") {
  CHECK(size_of("0") == 0);
  CHECK(size_of("1048576") == 1'048'576);
  CHECK(size_of("512B") == 512);
  CHECK(size_of("64KiB") == 64 * 1024);
  CHECK(size_of("10MiB") == 10ULL * 1024 * 1024);
  CHECK(size_of("3GiB") == 3ULL << 30);
  CHECK(size_of("2TiB") == 2ULL << 40);
  CHECK(size_of("1KB") == 1'000);
  CHECK(size_of("5MB") == 5'000'000);
  CHECK(size_of("1GB") == 1'000'000'000);
  CHECK(size_of("1TB") == 1'000'000'000'000);
  CHECK(size_of("10 MiB") == 10ULL << 20);
  CHECK(size_of("64kib") == 64 * 1024);
}

TEST_CASE("units: sizes reject garbage and overflow", "[units]") {
  for (const char* text : {"", "MiB", "-1", "1.5MiB", "10M", "10K", "10 ", " 10", "10MiB ",
                           "10MiBs", "10 Mi B", "0x10", "ten", "1e6"}) {
    const auto r = parse_size(text);
    INFO("input: \"" << text << "\"");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("expected a size") != std::string::npos);
  }
  CHECK(size_of("18446744073709551615") == std::numeric_limits<std::uint64_t>::max());
  CHECK_FALSE(parse_size("18446744073709551616").ok());
  CHECK_FALSE(parse_size("16777216TiB").ok()); // 2^24 * 2^40 = 2^64
  CHECK(size_of("16777215TiB") == (16777215ULL << 40));
  CHECK_FALSE(parse_size("18446744073709552GB").ok());
  CHECK(parse_size("16777216TiB").error().find("too large") != std::string::npos);
}

TEST_CASE("units: error messages do not echo control characters or unbounded text", "[units]") {
  const std::string long_garbage(10'000, 'z');
  const auto r = parse_size(long_garbage);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().size() < 300);
  const auto d = parse_duration("5\x1b[2Jm");
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().find('\x1b') == std::string::npos);
}

TEST_CASE("units: formatting round-trips through parsing", "[units]") {
  CHECK(format_duration(milliseconds{31 * 60'000}) == "31m");
  CHECK(format_duration(milliseconds{90 * 60'000}) == "1h30m");
  CHECK(format_duration(milliseconds{1'500}) == "1500ms");
  CHECK(format_duration(milliseconds{0}) == "0s");
  CHECK(format_duration(milliseconds{86'400'000 + 1'000}) == "1d1s");
  CHECK(format_size(64 * 1024) == "64KiB");
  CHECK(format_size(10ULL << 20) == "10MiB");
  CHECK(format_size(1'000) == "1000B");
  CHECK(format_size(0) == "0B");
  for (const std::int64_t ms : {1LL, 999LL, 1'000LL, 61'000LL, 3'600'000LL, 123'456'789LL}) {
    CHECK(parse_duration(format_duration(milliseconds{ms})).value() == milliseconds{ms});
  }
  for (const std::uint64_t n : {1ULL, 1023ULL, 1024ULL, 65'536ULL, 3ULL << 30, 5ULL << 40}) {
    CHECK(parse_size(format_size(n)).value() == n);
  }
}
