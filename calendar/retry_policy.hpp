#pragma once
// When and how long to wait before retrying a Graph request. Pure: the caller
// supplies the jitter, so the arithmetic is testable.

#include <chrono>
#include <optional>
#include <string_view>

namespace icalgate::calendar {

struct RetryPolicy {
  int max_attempts = 4;
  std::chrono::milliseconds base{500};
  std::chrono::milliseconds max_backoff{8'000};
  std::chrono::milliseconds max_total_wait{20'000};
};

// 429 and the transient 5xx Graph documents (502, 503, 504) are retried;
// everything else is an answer.
bool is_retryable_status(int status);

// Retry-After as Graph sends it: delta-seconds. HTTP-dates and garbage give
// nullopt (then the exponential backoff applies). Values are capped at one
// hour.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value);

// Exponential backoff with jitter for the wait after failed attempt `attempt`
// (1-based): base * 2^(attempt-1), capped at max_backoff, scaled into [50 %,
// 100 %] by jitter01 in [0, 1).
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int attempt, double jitter01);

// The wait before the next attempt: Retry-After when the server sent one (never
// less), else the backoff.
std::chrono::milliseconds next_delay(const RetryPolicy& policy, int attempt,
                                     std::optional<std::chrono::seconds> retry_after,
                                     double jitter01);

} // namespace icalgate::calendar
