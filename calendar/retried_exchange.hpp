#pragma once
// One HTTP request tried again under a RetryPolicy: 429/502/503/504 and transport failures
// are retried after the backoff (Retry-After honoured) while attempts, the wait budget and
// the operation's deadline last (with a quarter of the request timeout left for the attempt). A
// failure that may have reached the server (a timeout, a broken connection) is retried only when
// the request is repeatable.

#include "calendar/graph_error.hpp"
#include "calendar/http_transport.hpp"
#include "calendar/retry_policy.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <random>
#include <string_view>

namespace icalgate::calendar {

boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds delay);

// The owning client's statistics, counted here so that every attempt is.
struct ExchangeCounters {
  std::size_t& requests;
  std::size_t& retries;
  std::size_t& throttled;
};

class RetriedExchange {
 public:
  using Clock = std::chrono::steady_clock;
  // A retryable answer as the client words its errors; `what` is "POST https://host:443".
  using DescribeFailure = GraphError (*)(const HttpResponse& response, std::string_view what);

  RetriedExchange(HttpTransport& transport, const RetryPolicy& policy,
                  std::chrono::milliseconds request_timeout, std::minstd_rand& random,
                  ExchangeCounters counters, DescribeFailure describe, Clock::time_point deadline)
      : transport_(transport), policy_(policy), request_timeout_(request_timeout), random_(random),
        counters_(counters), describe_(describe), deadline_(deadline) {}

  // Attempts until an answer that is not retried (any status but 429/502/503/504) or an
  // error.
  boost::asio::awaitable<GraphResult<HttpResponse>> send(const HttpRequest& request,
                                                         bool repeatable);

  // One attempt: its outcome, or nothing after waiting for the next attempt. For callers
  // that act between attempts.
  boost::asio::awaitable<std::optional<GraphResult<HttpResponse>>>
  attempt(const HttpRequest& request, bool repeatable);

  // The last attempt does not count against the policy: the caller sends it again at once
  // for a reason of its own (a fresh token).
  void repeat_attempt() { --attempts_; }

 private:
  HttpTransport& transport_;
  const RetryPolicy& policy_;
  std::chrono::milliseconds request_timeout_;
  std::minstd_rand& random_;
  ExchangeCounters counters_;
  DescribeFailure describe_;
  Clock::time_point deadline_;
  int attempts_ = 0;
  std::chrono::milliseconds waited_{0};
};

} // namespace icalgate::calendar
