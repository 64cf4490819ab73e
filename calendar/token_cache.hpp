#pragma once
// The app's access token: fetched on first use, renewed when 80 % of its
// lifetime has passed, one fetch at a time (concurrent callers wait for the
// fetch in flight and share its outcome). For one strand or single-threaded
// io_context.

#include "calendar/graph_error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace icalgate::calendar {

struct AccessToken {
  std::string value;
  std::chrono::seconds lifetime{0};
};

class TokenCache {
 public:
  using Clock = std::chrono::steady_clock;
  using Fetch = std::function<boost::asio::awaitable<GraphResult<AccessToken>>(Clock::time_point)>;

  TokenCache(const boost::asio::any_io_executor& executor, Fetch fetch);

  // A token, fetching one under `deadline` when none is cached or it is due for
  // renewal. A failed renewal keeps using the old token until it really
  // expires.
  boost::asio::awaitable<GraphResult<std::string>> get(Clock::time_point deadline);

  // Graph rejected `token` (401): forget it, unless a newer one already
  // replaced it.
  void invalidate(const std::string& token);

  std::size_t fetches() const { return fetches_; }

 private:
  bool usable(Clock::time_point now) const { return !token_.empty() && now < renew_at_; }

  Fetch fetch_;
  std::string token_;
  Clock::time_point renew_at_{};
  Clock::time_point expires_at_{};
  bool fetching_ = false;
  std::uint64_t generation_ = 0;
  GraphError last_error_{GraphErrc::auth, "no token yet"};
  boost::asio::steady_timer fetched_;
  std::size_t fetches_ = 0;
};

} // namespace icalgate::calendar
