#include "calendar/token_cache.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace icalgate::calendar {

TokenCache::TokenCache(const boost::asio::any_io_executor& executor, Fetch fetch)
    : fetch_(std::move(fetch)), fetched_(executor, Clock::time_point::max()) {}

boost::asio::awaitable<GraphResult<std::string>> TokenCache::get(Clock::time_point deadline) {
  while (true) {
    const auto now = Clock::now();
    if (usable(now)) {
      co_return token_;
    }
    if (fetching_) {
      const std::uint64_t before = generation_;
      co_await fetched_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (generation_ != before) {
        if (!token_.empty() && Clock::now() < expires_at_) {
          co_return token_;
        }
        co_return last_error_;
      }
      continue;
    }
    fetching_ = true;
    ++fetches_;
    const auto started = Clock::now();
    auto fetched = co_await fetch_(deadline);
    fetching_ = false;
    ++generation_;
    if (fetched) {
      token_ = std::move(fetched->value);
      // The lifetime counts from when we asked, so clock skew only makes us
      // renew early.
      expires_at_ = started + fetched->lifetime;
      renew_at_ = started + fetched->lifetime * 4 / 5;
    } else {
      last_error_ = fetched.error();
    }
    fetched_.cancel();
    if (!token_.empty() && Clock::now() < expires_at_) {
      co_return token_;
    }
    co_return last_error_;
  }
}

void TokenCache::invalidate(const std::string& token) {
  if (token == token_) {
    token_.clear();
    renew_at_ = expires_at_ = Clock::time_point{};
  }
}

} // namespace icalgate::calendar
