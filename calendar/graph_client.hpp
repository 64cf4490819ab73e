#pragma once
// The gateway's Microsoft Graph client: app-only (client credentials) access to
// the users' meeting messages and events. Asynchronous (Boost.Asio coroutines);
// use one GraphClient from one strand or single-threaded io_context.
//
// Every operation is bounded: a timeout per HTTP exchange and one for the whole
// operation (retries included); 429/502/503/504 and transport failures are
// retried with exponential backoff and jitter, honouring Retry-After, within a
// cap on the total wait; 400/403/404 are answers; a 401 drops the token and
// retries once with a fresh one. At most per_user_concurrency requests per
// mailbox and global_concurrency overall are in flight.

#include "calendar/async_semaphore.hpp"
#include "calendar/graph_config.hpp"
#include "calendar/graph_error.hpp"
#include "calendar/graph_event.hpp"
#include "calendar/http_transport.hpp"
#include "calendar/identity_platform.hpp"
#include "calendar/retry_policy.hpp"
#include "calendar/token_cache.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::calendar {

// One entry of the classification listing.
struct MeetingMessageRef {
  std::string id;
  std::string internet_message_id;
  std::string odata_type;         // "#microsoft.graph.eventMessageRequest", ...
  std::string received_date_time; // as Graph wrote it, e.g. "2026-11-18T10:02:11Z"
  // Listed with events: the message with its event, as a one-message collection response
  // (what fetch_event_message_json() gives for it).
  std::string lookup_json;
};

struct MeetingMessageListing {
  std::vector<MeetingMessageRef> messages;
  int pages = 0;
  bool truncated = false; // max_pages reached with more pages left
};

struct GraphClientStats {
  std::size_t requests = 0;     // HTTP exchanges attempted (token requests included)
  std::size_t retries = 0;      // attempts after the first
  std::size_t throttled = 0;    // 429 answers
  std::size_t reauthorized = 0; // 401 answers that led to a fresh token
};

class GraphClient {
 public:
  using Clock = std::chrono::steady_clock;

  // Validates the configuration (https, or http to loopback only; a secret file
  // that can be read, or a certificate and the RSA key that belongs to it) without
  // connecting anywhere.
  static GraphResult<std::unique_ptr<GraphClient>> create(const boost::asio::any_io_executor& ex,
                                                          GraphConfig config);

  // GET /v1.0/users/{upn}/messages?$filter=internetMessageId eq '…'
  //     &$expand=microsoft.graph.eventMessage/event
  // The raw collection response (for callers that persist it), or not_found for
  // an unknown user. `message_id` is the IMAP Message-ID, angle brackets
  // included (added if missing).
  boost::asio::awaitable<GraphResult<std::string>>
  fetch_event_message_json(std::string_view upn, std::string_view message_id);

  // The same, parsed: not_found when the user is unknown or no event message
  // matches.
  boost::asio::awaitable<GraphResult<GraphEventMessage>>
  lookup_event_message(std::string_view upn, std::string_view message_id);

  // GET /v1.0/users/{upn}/events/{id}
  boost::asio::awaitable<GraphResult<GraphEvent>> get_event(std::string_view upn,
                                                            std::string_view event_id);

  // The user's meeting messages (message class IPM.Schedule.Meeting.*) received
  // at or after `since_utc` ("YYYY-MM-DDTHH:MM:SSZ"; empty: all), following
  // @odata.nextLink up to max_pages pages. `with_events`: whole messages with
  // their events expanded (one listing instead of a lookup per message).
  boost::asio::awaitable<GraphResult<MeetingMessageListing>>
  list_meeting_messages(std::string_view upn, std::string_view since_utc, bool with_events = false);

  const GraphClientStats& stats() const { return stats_; }
  std::size_t token_fetches() const { return tokens_.fetches(); }

 private:
  GraphClient(const boost::asio::any_io_executor& ex, GraphConfig config,
              std::unique_ptr<HttpTransport> transport, HttpUrl token_url, HttpUrl endpoint,
              identity_platform::ClientCredential credential);

  struct UserSlot {
    explicit UserSlot(const boost::asio::any_io_executor& ex, std::size_t n) : permits(ex, n) {}
    AsyncSemaphore permits;
    std::size_t users = 0;
  };

  boost::asio::awaitable<GraphResult<AccessToken>> fetch_token(Clock::time_point deadline);
  // One Graph request with the app token, with retries.
  boost::asio::awaitable<GraphResult<HttpResponse>> send_with_retries(HttpRequest request,
                                                                      Clock::time_point deadline);
  // A Graph GET under the user's and the global concurrency caps, mapped to the
  // body of a 200 answer or an error.
  boost::asio::awaitable<GraphResult<std::string>> graph_get(std::string_view upn, HttpUrl url,
                                                             Clock::time_point deadline);
  GraphResult<HttpUrl> user_url(std::string_view upn, std::string_view rest) const;

  boost::asio::any_io_executor executor_;
  GraphConfig config_;
  RetryPolicy retry_;
  std::unique_ptr<HttpTransport> transport_;
  HttpUrl token_url_;
  HttpUrl endpoint_;
  identity_platform::ClientCredential credential_;
  TokenCache tokens_;
  AsyncSemaphore global_;
  std::map<std::string, std::unique_ptr<UserSlot>> users_;
  std::minstd_rand random_;
  GraphClientStats stats_;
};

} // namespace icalgate::calendar
