#include "calendar/retry_policy.hpp"

#include <algorithm>
#include <charconv>

namespace icalgate::calendar {

bool is_retryable_status(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  if (value.empty() || value.size() > 9) {
    return std::nullopt;
  }
  long long seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc{} || end != value.data() + value.size() || seconds < 0) {
    return std::nullopt;
  }
  return std::chrono::seconds(std::min<long long>(seconds, 3600));
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int attempt, double jitter01) {
  const int shift = std::clamp(attempt - 1, 0, 30);
  const long long base = std::max<long long>(policy.base.count(), 0);
  const long long cap = std::max<long long>(policy.max_backoff.count(), 0);
  long long delay = base;
  for (int i = 0; i < shift && delay < cap; ++i) {
    delay *= 2;
  }
  delay = std::min(delay, cap);
  const double jitter = std::clamp(jitter01, 0.0, 1.0);
  return std::chrono::milliseconds(
      static_cast<long long>(static_cast<double>(delay) * (0.5 + jitter / 2)));
}

std::chrono::milliseconds next_delay(const RetryPolicy& policy, int attempt,
                                     std::optional<std::chrono::seconds> retry_after,
                                     double jitter01) {
  if (retry_after) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(*retry_after);
  }
  return backoff_delay(policy, attempt, jitter01);
}

} // namespace icalgate::calendar
