#pragma once
// The failed-login penalty per client address: each failure from an address doubles the
// delay before its NO is sent, starting at the configured login_failure_delay and capped at
// max_delay; a success from the address, or forget_after without failures, starts it over.
// Bounded: at most max_entries addresses are remembered; when full, the address whose last
// failure is oldest is forgotten first. Pure (the caller passes the time), so it can be tested.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace icalgate::proxy {

class LoginPenalty {
 public:
  using Clock = std::chrono::steady_clock;

  struct Policy {
    std::chrono::milliseconds max_delay{15'000};
    std::chrono::seconds forget_after{15 * 60};
    std::size_t max_entries = 10'000;
  };

  LoginPenalty() = default;
  explicit LoginPenalty(Policy policy) : policy_(policy) {}

  // Records a failed login from `address` and returns how long to wait before answering:
  // min(base × 2^(failures − 1), max_delay), failures counted since the last success or
  // since forget_after passed without one. A zero base disables the penalty.
  std::chrono::milliseconds record_failure(std::string_view address, Clock::time_point now,
                                           std::chrono::milliseconds base);
  void record_success(std::string_view address);
  // Recent failures remembered for `address` (0 if none or forgotten by `now`).
  std::uint32_t failures(std::string_view address, Clock::time_point now) const;
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::uint32_t failures = 0;
    Clock::time_point last_failure;
    std::list<std::string>::iterator order; // position in recency_
  };
  // The least recently failing address first: the one dropped when the table is full.
  std::list<std::string> recency_;
  std::unordered_map<std::string, Entry> entries_;
  Policy policy_;
};

} // namespace icalgate::proxy
