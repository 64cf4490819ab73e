#include "calendar/retried_exchange.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <string>

namespace icalgate::calendar {

namespace asio = boost::asio;

asio::awaitable<void> sleep_for(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<GraphResult<HttpResponse>> RetriedExchange::send(const HttpRequest& request,
                                                                 bool repeatable) {
  while (true) {
    auto outcome = co_await attempt(request, repeatable);
    if (outcome) {
      co_return std::move(*outcome);
    }
  }
}

asio::awaitable<std::optional<GraphResult<HttpResponse>>>
RetriedExchange::attempt(const HttpRequest& request, bool repeatable) {
  using Outcome = GraphResult<HttpResponse>;
  ++attempts_;
  if (attempts_ > 1) {
    ++counters_.retries;
  }
  ++counters_.requests;
  const auto timeout_at = std::min(deadline_, Clock::now() + request_timeout_);
  auto sent = co_await transport_.send(request, timeout_at);
  GraphError failure{GraphErrc::bad_response, ""};
  std::optional<std::chrono::seconds> retry_after;
  if (!sent) {
    failure = sent.error();
    // A failed name resolution never reached the server; a timeout or a broken
    // connection may have, after it acted on the request.
    const bool again =
        failure.code == GraphErrc::resolve ||
        (repeatable && (failure.code == GraphErrc::timeout || failure.code == GraphErrc::connect));
    if (!again) {
      co_return Outcome(std::move(failure));
    }
  } else if (!is_retryable_status(sent->status)) {
    co_return std::move(sent);
  } else {
    if (sent->status == 429) {
      ++counters_.throttled;
    }
    failure = describe_(*sent, request.method + " " + request.url.origin());
    retry_after = parse_retry_after(sent->retry_after);
  }
  if (attempts_ >= policy_.max_attempts) {
    failure.message += " (gave up after " + std::to_string(attempts_) + " attempts)";
    co_return Outcome(std::move(failure));
  }
  const double jitter = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
  const auto delay = next_delay(policy_, attempts_, retry_after, jitter);
  // The next attempt needs time of its own: one started with a sliver of the deadline left
  // would end as a timeout and hide what this one was told (a 503, a 429).
  const auto attempt_time = request_timeout_ / 4;
  if (waited_ + delay > policy_.max_total_wait ||
      Clock::now() + delay + attempt_time >= deadline_) {
    failure.message += " (retry budget spent)";
    co_return Outcome(std::move(failure));
  }
  waited_ += delay;
  co_await sleep_for(delay);
  co_return std::nullopt;
}

} // namespace icalgate::calendar
