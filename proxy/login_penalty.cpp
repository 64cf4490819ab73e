#include "proxy/login_penalty.hpp"

#include <algorithm>

namespace icalgate::proxy {

std::chrono::milliseconds LoginPenalty::record_failure(std::string_view address,
                                                       Clock::time_point now,
                                                       std::chrono::milliseconds base) {
  // Addresses whose last failure is older than forget_after sit at the front: drop them.
  while (!recency_.empty()) {
    auto oldest = entries_.find(recency_.front());
    if (now - oldest->second.last_failure < policy_.forget_after) {
      break;
    }
    entries_.erase(oldest);
    recency_.pop_front();
  }
  std::string key(address);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    while (!entries_.empty() && entries_.size() >= policy_.max_entries) {
      entries_.erase(recency_.front());
      recency_.pop_front();
    }
    if (policy_.max_entries == 0) {
      return std::min(base, policy_.max_delay);
    }
    recency_.push_back(key);
    it = entries_.emplace(std::move(key), Entry{0, now, std::prev(recency_.end())}).first;
  } else {
    recency_.splice(recency_.end(), recency_, it->second.order);
  }
  Entry& entry = it->second;
  entry.failures = std::min<std::uint32_t>(entry.failures + 1, 64);
  entry.last_failure = now;
  if (base <= std::chrono::milliseconds::zero()) {
    return std::chrono::milliseconds::zero();
  }
  // Doubling stops as soon as the cap is reached: no overflow however many failures.
  std::chrono::milliseconds delay = base;
  for (std::uint32_t i = 1; i < entry.failures && delay < policy_.max_delay; ++i) {
    delay *= 2;
  }
  return std::min(delay, policy_.max_delay);
}

void LoginPenalty::record_success(std::string_view address) {
  auto it = entries_.find(std::string(address));
  if (it != entries_.end()) {
    recency_.erase(it->second.order);
    entries_.erase(it);
  }
}

std::uint32_t LoginPenalty::failures(std::string_view address, Clock::time_point now) const {
  auto it = entries_.find(std::string(address));
  if (it == entries_.end() || now - it->second.last_failure >= policy_.forget_after) {
    return 0;
  }
  return it->second.failures;
}

} // namespace icalgate::proxy
