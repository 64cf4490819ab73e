#pragma once
// The gateway's client for the Microsoft identity platform (login.microsoftonline.com, v2.0
// endpoints), for the tokens that log users in to Exchange Online IMAP:
//   - a user's enrolment by the device-code flow (RFC 8628 as Entra speaks it):
//     start_device_code, then poll_device_code (or wait_for_device_code) until tokens;
//   - the refresh of a user's delegated token, the refresh token rotating with every use;
//   - the app's own token (client credentials) for app-only IMAP, cached and renewed
//     before it expires.
// Asynchronous (Boost.Asio coroutines); use one IdentityClient from one strand or a
// single-threaded io_context, like GraphClient.
//
// What the identity platform says is an outcome, not an error: a pending, throttled,
// declined or expired sign-in, and a refresh token that can no longer be used (the user
// must enrol again). Errors (GraphError) are the rest: configuration, transport, a refused
// client, malformed answers. No message or log line carries a token, a device code or a
// secret: the identity platform's answers are summarised by their `error` and AADSTS code.
//
// Retries: 429/502/503/504 and failures to resolve are retried with backoff (Retry-After
// honoured) within the operation's timeout. Requests that may have reached the server are
// retried only where that is harmless: a refresh whose answer was lost is not sent again
// (the server may have rotated the token already); the caller can try again later.

#include "calendar/graph_error.hpp"
#include "calendar/http_transport.hpp"
#include "calendar/identity_platform.hpp"
#include "calendar/odata_text.hpp"
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

namespace icalgate::calendar {

// The [auth] section's part that concerns the identity platform.
struct IdentityConfig {
  std::string tenant; // "contoso.onmicrosoft.com" or the tenant id
  std::string client_id;
  // The app's secret (the file's content, surrounding space trimmed). Required for
  // client_credentials; when set it is also sent with the delegated grants (a
  // confidential client), else those go as a public client.
  std::string client_secret_file;
  // Or certificate credentials, used wherever the secret would be: each request carries a
  // fresh client assertion signed with this RSA key (calendar/client_assertion.hpp).
  std::string certificate_file; // PEM certificate registered with the app
  std::string private_key_file; // its PEM private key, unencrypted
  std::string authority = "https://login.microsoftonline.com";
  std::string ca_file; // PEM bundle to verify https peers against; empty: system store

  std::chrono::milliseconds request_timeout{10'000}; // one HTTP exchange incl. connect
  std::chrono::milliseconds overall_timeout{30'000}; // one operation incl. retries
  int max_attempts = 4;
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{8'000};
  std::chrono::milliseconds max_retry_wait{20'000};
  std::size_t max_response_bytes = 256 * 1024;
};

// Scopes the gateway asks for. The delegated one adds OpenID Connect so that the answer
// names the user who signed in (id_token preferred_username).
inline constexpr std::string_view imap_delegated_scope =
    "https://outlook.office.com/IMAP.AccessAsUser.All offline_access openid profile";
inline constexpr std::string_view imap_app_scope = "https://outlook.office365.com/.default";

// POST /{tenant}/oauth2/v2.0/devicecode: what to show the user, and the code to poll with.
struct DeviceCodeGrant {
  std::string device_code; // secret: poll with it, never show or log it
  std::string user_code;   // what the user types at verification_uri
  std::string verification_uri;
  std::string message; // Microsoft's sentence for the user, localized by the server
  std::chrono::seconds interval{5};
  std::chrono::seconds expires_in{900};
  // When the code expires, counted from when it was requested.
  std::chrono::steady_clock::time_point expires_at{};
};

// A user's tokens from the device-code or refresh-token grant.
struct UserTokens {
  std::string access_token;
  std::string refresh_token; // empty when offline_access was not granted
  std::chrono::seconds expires_in{0};
  // When the access token expires, counted from when the request was sent (so that a
  // slow answer only makes it look shorter-lived).
  std::chrono::system_clock::time_point expires_at{};
  std::string scope; // as granted
  // Who signed in: the id_token's preferred_username, else the access token's upn (read,
  // not verified: both came straight from the token endpoint over verified TLS). Empty
  // when neither says.
  std::string upn;
};

enum class DeviceCodeStatus {
  granted,   // tokens holds the user's tokens
  pending,   // the user has not finished signing in: poll again after the interval
  slow_down, // polled too often: add 5 seconds to the interval (RFC 8628)
  declined,  // the user refused: stop
  expired,   // the code expired before the user signed in: stop, start again
};

std::string_view device_code_status_name(DeviceCodeStatus status);

struct DeviceCodePoll {
  DeviceCodeStatus status = DeviceCodeStatus::pending;
  UserTokens tokens; // when granted
};

enum class RefreshStatus {
  refreshed,     // tokens holds the new access token and the rotated refresh token
  invalid_grant, // the refresh token is expired, revoked or already used: enrol again
};

struct RefreshOutcome {
  RefreshStatus status = RefreshStatus::refreshed;
  UserTokens tokens;  // when refreshed
  std::string reason; // when invalid_grant: "invalid_grant (AADSTS50173)", no token in it
};

struct IdentityClientStats {
  std::size_t requests = 0;   // HTTP exchanges attempted
  std::size_t retries = 0;    // attempts after the first
  std::size_t throttled = 0;  // 429 answers
  std::size_t refreshes = 0;  // refresh grants sent
  std::size_t app_tokens = 0; // client-credentials grants sent
};

class IdentityClient {
 public:
  using Clock = std::chrono::steady_clock;

  // Validates the configuration (https, or http to loopback only; a secret file that can be
  // read when one is named) without connecting anywhere.
  static GraphResult<std::unique_ptr<IdentityClient>> create(const boost::asio::any_io_executor& ex,
                                                             IdentityConfig config);

  // Starts a sign-in for `scope` (space-separated, e.g. imap_delegated_scope).
  boost::asio::awaitable<GraphResult<DeviceCodeGrant>> start_device_code(std::string_view scope);

  // One poll of the token endpoint with the device code.
  boost::asio::awaitable<GraphResult<DeviceCodePoll>>
  poll_device_code(std::string_view device_code);

  // Polls every `grant.interval` (5 s more after each slow_down) until the sign-in is
  // granted, declined or expired; expired also, without asking, once grant.expires_at is
  // too close for another poll.
  boost::asio::awaitable<GraphResult<DeviceCodePoll>>
  wait_for_device_code(const DeviceCodeGrant& grant);

  // Redeems the refresh token for a new access token and a new refresh token (the old one
  // must not be used again). `scope` empty: the scopes originally granted.
  boost::asio::awaitable<GraphResult<RefreshOutcome>> refresh(std::string_view refresh_token,
                                                              std::string_view scope = {});

  // The app's own token for `scope` (client credentials, e.g. imap_app_scope), cached per
  // scope and renewed when 80 % of its lifetime has passed; concurrent callers share one
  // request.
  boost::asio::awaitable<GraphResult<std::string>> client_credentials(std::string_view scope);

  // The upstream refused `token` for `scope`: the next client_credentials fetches a fresh
  // one (unless a newer one already replaced it).
  void invalidate_app_token(std::string_view scope, const std::string& token);

  const IdentityClientStats& stats() const { return stats_; }

 private:
  IdentityClient(const boost::asio::any_io_executor& ex, IdentityConfig config,
                 std::unique_ptr<HttpTransport> transport, HttpUrl token_url,
                 HttpUrl device_code_url, identity_platform::ClientCredential credential);

  // POSTs the x-www-form-urlencoded `fields`, with the client's credential (its secret, or a
  // client assertion signed for each attempt) when `authenticated` and one is configured;
  // `repeatable`: may be sent again after a failure that may have reached the server
  // (timeouts, broken connections).
  boost::asio::awaitable<GraphResult<HttpResponse>> post_form(const HttpUrl& url,
                                                              std::string fields,
                                                              bool authenticated, bool repeatable,
                                                              Clock::time_point deadline);
  boost::asio::awaitable<GraphResult<AccessToken>> fetch_app_token(std::string scope,
                                                                   Clock::time_point deadline);

  boost::asio::any_io_executor executor_;
  IdentityConfig config_;
  RetryPolicy retry_;
  std::unique_ptr<HttpTransport> transport_;
  HttpUrl token_url_;
  HttpUrl device_code_url_;
  identity_platform::ClientCredential credential_;
  std::map<std::string, std::unique_ptr<TokenCache>, std::less<>> app_tokens_;
  std::minstd_rand random_;
  IdentityClientStats stats_;
};

} // namespace icalgate::calendar
