#include "proxy/login_penalty.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>

using icalgate::proxy::LoginPenalty;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

const LoginPenalty::Clock::time_point t0{};

} // namespace

TEST_CASE("login_penalty: the delay doubles per failure from one address, up to the cap",
          "[login_penalty]") {
  LoginPenalty penalty;
  const milliseconds base{2'000};
  CHECK(penalty.record_failure("192.0.2.1", t0, base) == milliseconds{2'000});
  CHECK(penalty.record_failure("192.0.2.1", t0 + seconds{1}, base) == milliseconds{4'000});
  CHECK(penalty.record_failure("192.0.2.1", t0 + seconds{2}, base) == milliseconds{8'000});
  CHECK(penalty.record_failure("192.0.2.1", t0 + seconds{3}, base) == milliseconds{15'000});
  for (int i = 0; i < 100; ++i) {
    CHECK(penalty.record_failure("192.0.2.1", t0 + seconds{4 + i}, base) == milliseconds{15'000});
  }
  CHECK(penalty.failures("192.0.2.1", t0 + seconds{104}) == 64); // the count is bounded too
}

TEST_CASE("login_penalty: addresses are counted separately", "[login_penalty]") {
  LoginPenalty penalty;
  const milliseconds base{100};
  penalty.record_failure("192.0.2.1", t0, base);
  penalty.record_failure("192.0.2.1", t0, base);
  CHECK(penalty.record_failure("192.0.2.1", t0, base) == milliseconds{400});
  CHECK(penalty.record_failure("2001:db8::1", t0, base) == milliseconds{100});
  CHECK(penalty.failures("192.0.2.1", t0) == 3);
  CHECK(penalty.failures("2001:db8::1", t0) == 1);
  CHECK(penalty.failures("192.0.2.2", t0) == 0);
}

TEST_CASE("login_penalty: a success resets the address", "[login_penalty]") {
  LoginPenalty penalty;
  const milliseconds base{500};
  penalty.record_failure("192.0.2.1", t0, base);
  penalty.record_failure("192.0.2.1", t0, base);
  penalty.record_success("192.0.2.1");
  CHECK(penalty.failures("192.0.2.1", t0) == 0);
  CHECK(penalty.size() == 0);
  CHECK(penalty.record_failure("192.0.2.1", t0, base) == milliseconds{500});
}

TEST_CASE("login_penalty: failures are forgotten after a quiet period", "[login_penalty]") {
  LoginPenalty penalty(LoginPenalty::Policy{milliseconds{15'000}, minutes{15}, 100});
  const milliseconds base{1'000};
  penalty.record_failure("192.0.2.1", t0, base);
  CHECK(penalty.record_failure("192.0.2.1", t0 + minutes{14}, base) == milliseconds{2'000});
  CHECK(penalty.failures("192.0.2.1", t0 + minutes{28}) == 2);
  CHECK(penalty.failures("192.0.2.1", t0 + minutes{29}) == 0);
  CHECK(penalty.record_failure("192.0.2.1", t0 + minutes{29}, base) == milliseconds{1'000});
  // Another address's failure drops the expired entry from the table.
  penalty.record_failure("192.0.2.9", t0 + minutes{60}, base);
  CHECK(penalty.size() == 1);
}

TEST_CASE("login_penalty: the table is bounded, the oldest failing address goes first",
          "[login_penalty]") {
  LoginPenalty penalty(LoginPenalty::Policy{milliseconds{15'000}, minutes{15}, 3});
  const milliseconds base{10};
  penalty.record_failure("a", t0, base);
  penalty.record_failure("b", t0 + seconds{1}, base);
  penalty.record_failure("c", t0 + seconds{2}, base);
  penalty.record_failure("a", t0 + seconds{3}, base); // "a" is now the most recent
  penalty.record_failure("d", t0 + seconds{4}, base); // evicts "b"
  CHECK(penalty.size() == 3);
  CHECK(penalty.failures("a", t0 + seconds{5}) == 2);
  CHECK(penalty.failures("b", t0 + seconds{5}) == 0);
  CHECK(penalty.failures("c", t0 + seconds{5}) == 1);
  CHECK(penalty.failures("d", t0 + seconds{5}) == 1);
  for (int i = 0; i < 1000; ++i) {
    penalty.record_failure("x" + std::to_string(i), t0 + seconds{6}, base);
  }
  CHECK(penalty.size() == 3);
}

TEST_CASE("login_penalty: a zero base delay disables the penalty", "[login_penalty]") {
  LoginPenalty penalty;
  for (int i = 0; i < 10; ++i) {
    CHECK(penalty.record_failure("192.0.2.1", t0, milliseconds{0}) == milliseconds{0});
  }
}
