#include "calendar/identity_client.hpp"

#include "calendar/base64url.hpp"
#include "calendar/identity_platform.hpp"
#include "calendar/json_reader.hpp"
#include "calendar/odata_text.hpp"
#include "calendar/retried_exchange.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

namespace icalgate::calendar {

namespace asio = boost::asio;
namespace json = boost::json;

using identity_platform::refused;
using identity_platform::seconds_member;
using identity_platform::string_member;

namespace {

constexpr std::size_t max_token = 64 * 1024;
constexpr std::size_t max_scope = 2048;
constexpr std::string_view device_code_grant = "urn:ietf:params:oauth:grant-type:device_code";
constexpr auto slow_down_step = std::chrono::seconds(5); // RFC 8628 section 3.5

// A string claim of a JWT's payload, read without checking the signature.
std::string unverified_claim(std::string_view jwt, std::string_view name) {
  const std::size_t first = jwt.find('.');
  const std::size_t second = first == std::string_view::npos ? first : jwt.find('.', first + 1);
  if (second == std::string_view::npos) {
    return {};
  }
  auto payload = base64url_decode(jwt.substr(first + 1, second - first - 1));
  if (!payload) {
    return {};
  }
  json::value holder;
  const json::object* claims =
      json_read::parse_object(*payload, holder, identity_platform::max_json_depth);
  return claims == nullptr ? std::string() : string_member(*claims, name, 320);
}

GraphResult<UserTokens> parse_user_tokens(const HttpResponse& response,
                                          std::chrono::system_clock::time_point sent_at) {
  json::value holder;
  const json::object* root =
      json_read::parse_object(response.body, holder, identity_platform::max_json_depth);
  if (root == nullptr) {
    return GraphError{GraphErrc::bad_response, "token response is not a JSON object", 200};
  }
  UserTokens tokens;
  tokens.access_token = string_member(*root, "access_token", max_token);
  tokens.refresh_token = string_member(*root, "refresh_token", max_token);
  tokens.scope = string_member(*root, "scope", max_scope);
  const long long lifetime = seconds_member(*root, "expires_in");
  if (tokens.access_token.empty() || lifetime <= 0) {
    return GraphError{GraphErrc::bad_response, "token response without access_token or expires_in",
                      200};
  }
  tokens.expires_in = std::chrono::seconds(std::min<long long>(lifetime, 86400));
  tokens.expires_at = sent_at + tokens.expires_in;
  const std::string id_token = string_member(*root, "id_token", max_token);
  tokens.upn = unverified_claim(id_token, "preferred_username");
  if (tokens.upn.empty()) {
    tokens.upn = unverified_claim(tokens.access_token, "upn");
  }
  std::transform(tokens.upn.begin(), tokens.upn.end(), tokens.upn.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return tokens;
}

bool valid_argument(std::string_view text, std::size_t limit) {
  return !text.empty() && text.size() <= limit && !has_control(text);
}

} // namespace

std::string_view device_code_status_name(DeviceCodeStatus status) {
  switch (status) {
  case DeviceCodeStatus::granted:
    return "granted";
  case DeviceCodeStatus::pending:
    return "pending";
  case DeviceCodeStatus::slow_down:
    return "slow_down";
  case DeviceCodeStatus::declined:
    return "declined";
  case DeviceCodeStatus::expired:
    return "expired";
  }
  return "unknown";
}

GraphResult<std::unique_ptr<IdentityClient>> IdentityClient::create(const asio::any_io_executor& ex,
                                                                    IdentityConfig config) {
  if (auto invalid =
          identity_platform::check_registration("auth", config.tenant, config.client_id)) {
    return *invalid;
  }
  auto authority = parse_endpoint_url(config.authority);
  if (!authority) {
    return GraphError{authority.error().code, "auth.authority: " + authority.error().message};
  }
  if (authority->target.find('?') != std::string::npos) {
    return GraphError{GraphErrc::config, "auth.authority takes no query"};
  }
  // The secret, or the certificate and its key, read and checked once, here.
  auto credential = identity_platform::load_client_credential(
      "auth", config.client_secret_file, config.certificate_file, config.private_key_file);
  if (!credential) {
    return credential.error();
  }
  auto transport = HttpTransport::create(config.ca_file, config.max_response_bytes);
  if (!transport) {
    return transport.error();
  }
  HttpUrl token_url = identity_platform::tenant_endpoint(*authority, config.tenant, "token");
  HttpUrl device_code_url =
      identity_platform::tenant_endpoint(*authority, config.tenant, "devicecode");
  config.max_attempts = std::max(config.max_attempts, 1);
  return std::unique_ptr<IdentityClient>(
      new IdentityClient(ex, std::move(config), std::move(transport).value(), std::move(token_url),
                         std::move(device_code_url), std::move(credential).value()));
}

IdentityClient::IdentityClient(const asio::any_io_executor& ex, IdentityConfig config,
                               std::unique_ptr<HttpTransport> transport, HttpUrl token_url,
                               HttpUrl device_code_url,
                               identity_platform::ClientCredential credential)
    : executor_(ex),
      config_(std::move(config)), retry_{config_.max_attempts, config_.backoff_base,
                                         config_.backoff_max, config_.max_retry_wait},
      transport_(std::move(transport)), token_url_(std::move(token_url)),
      device_code_url_(std::move(device_code_url)), credential_(std::move(credential)),
      random_(std::random_device{}()) {}

asio::awaitable<GraphResult<HttpResponse>>
IdentityClient::post_form(const HttpUrl& url, std::string fields, bool authenticated,
                          bool repeatable, Clock::time_point deadline) {
  HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.content_type = "application/x-www-form-urlencoded";
  RetriedExchange exchange(*transport_, retry_, config_.request_timeout, random_,
                           {stats_.requests, stats_.retries, stats_.throttled}, &refused, deadline);
  if (!authenticated) {
    request.body = std::move(fields);
    co_return co_await exchange.send(request, repeatable);
  }
  co_return co_await identity_platform::post_with_credential(
      exchange, std::move(request), std::move(fields), credential_, config_.client_id, repeatable);
}

asio::awaitable<GraphResult<DeviceCodeGrant>>
IdentityClient::start_device_code(std::string_view scope) {
  if (!valid_argument(scope, max_scope)) {
    co_return GraphError{GraphErrc::bad_request, "device code: not a scope"};
  }
  const auto requested = Clock::now();
  const auto deadline = requested + config_.overall_timeout;
  std::string fields = build_query({{"client_id", config_.client_id}, {"scope", scope}});
  auto response = co_await post_form(device_code_url_, std::move(fields), false, true, deadline);
  if (!response) {
    co_return GraphError{response.error().code, "device code: " + response.error().message,
                         response.error().http_status};
  }
  if (response->status != 200) {
    co_return refused(*response, "device code request");
  }
  json::value holder;
  const json::object* root =
      json_read::parse_object(response->body, holder, identity_platform::max_json_depth);
  if (root == nullptr) {
    co_return GraphError{GraphErrc::bad_response, "device code response is not a JSON object", 200};
  }
  DeviceCodeGrant grant;
  grant.device_code = string_member(*root, "device_code", max_token);
  grant.user_code = string_member(*root, "user_code", 64);
  grant.verification_uri = string_member(*root, "verification_uri", 2048);
  if (grant.verification_uri.empty()) {
    grant.verification_uri = string_member(*root, "verification_url", 2048); // v1 endpoints
  }
  grant.message = string_member(*root, "message", 2048);
  const long long interval = seconds_member(*root, "interval");
  const long long expires_in = seconds_member(*root, "expires_in");
  if (grant.device_code.empty() || grant.user_code.empty() || grant.verification_uri.empty() ||
      expires_in <= 0) {
    co_return GraphError{GraphErrc::bad_response,
                         "device code response without device_code, user_code, "
                         "verification_uri or expires_in",
                         200};
  }
  // RFC 8628: 5 seconds when the server names no interval.
  grant.interval = std::chrono::seconds(interval > 0 ? std::min<long long>(interval, 300) : 5);
  grant.expires_in = std::chrono::seconds(std::min<long long>(expires_in, 3600));
  grant.expires_at = requested + grant.expires_in;
  co_return grant;
}

asio::awaitable<GraphResult<DeviceCodePoll>>
IdentityClient::poll_device_code(std::string_view device_code) {
  if (!valid_argument(device_code, max_token)) {
    co_return GraphError{GraphErrc::bad_request, "device code poll: not a device code"};
  }
  const auto deadline = Clock::now() + config_.overall_timeout;
  const auto sent_at = std::chrono::system_clock::now();
  std::string fields = build_query({{"grant_type", device_code_grant},
                                    {"client_id", config_.client_id},
                                    {"device_code", device_code}});
  auto response = co_await post_form(token_url_, std::move(fields), true, true, deadline);
  if (!response) {
    co_return GraphError{response.error().code, "device code poll: " + response.error().message,
                         response.error().http_status};
  }
  DeviceCodePoll poll;
  if (response->status == 200) {
    auto tokens = parse_user_tokens(*response, sent_at);
    if (!tokens) {
      co_return tokens.error();
    }
    poll.status = DeviceCodeStatus::granted;
    poll.tokens = std::move(tokens).value();
    co_return poll;
  }
  const std::string error = identity_platform::error_of(*response).error;
  if (response->status == 400 && error == "authorization_pending") {
    poll.status = DeviceCodeStatus::pending;
  } else if (response->status == 400 && error == "slow_down") {
    poll.status = DeviceCodeStatus::slow_down;
  } else if (response->status == 400 &&
             (error == "authorization_declined" || error == "access_denied")) {
    poll.status = DeviceCodeStatus::declined;
  } else if (response->status == 400 && (error == "expired_token" || error == "code_expired")) {
    poll.status = DeviceCodeStatus::expired;
  } else {
    co_return refused(*response, "device code poll");
  }
  co_return poll;
}

asio::awaitable<GraphResult<DeviceCodePoll>>
IdentityClient::wait_for_device_code(const DeviceCodeGrant& grant) {
  const auto expires =
      grant.expires_at == Clock::time_point{} ? Clock::now() + grant.expires_in : grant.expires_at;
  auto interval = std::max(grant.interval, std::chrono::seconds(1));
  while (true) {
    if (Clock::now() + interval >= expires) {
      co_return DeviceCodePoll{DeviceCodeStatus::expired, {}};
    }
    co_await sleep_for(interval);
    auto poll = co_await poll_device_code(grant.device_code);
    if (!poll) {
      co_return poll;
    }
    switch (poll->status) {
    case DeviceCodeStatus::pending:
      break;
    case DeviceCodeStatus::slow_down:
      interval += slow_down_step;
      break;
    case DeviceCodeStatus::granted:
    case DeviceCodeStatus::declined:
    case DeviceCodeStatus::expired:
      co_return poll;
    }
  }
}

asio::awaitable<GraphResult<RefreshOutcome>> IdentityClient::refresh(std::string_view refresh_token,
                                                                     std::string_view scope) {
  if (!valid_argument(refresh_token, max_token)) {
    co_return GraphError{GraphErrc::bad_request, "refresh: not a refresh token"};
  }
  if (!scope.empty() && !valid_argument(scope, max_scope)) {
    co_return GraphError{GraphErrc::bad_request, "refresh: not a scope"};
  }
  const auto deadline = Clock::now() + config_.overall_timeout;
  const auto sent_at = std::chrono::system_clock::now();
  ++stats_.refreshes;
  std::string fields = scope.empty() ? build_query({{"grant_type", "refresh_token"},
                                                    {"client_id", config_.client_id},
                                                    {"refresh_token", refresh_token}})
                                     : build_query({{"grant_type", "refresh_token"},
                                                    {"client_id", config_.client_id},
                                                    {"refresh_token", refresh_token},
                                                    {"scope", scope}});
  auto response = co_await post_form(token_url_, std::move(fields), true, false, deadline);
  if (!response) {
    co_return GraphError{response.error().code, "refresh: " + response.error().message,
                         response.error().http_status};
  }
  RefreshOutcome outcome;
  if (response->status == 200) {
    auto tokens = parse_user_tokens(*response, sent_at);
    if (!tokens) {
      co_return tokens.error();
    }
    outcome.tokens = std::move(tokens).value();
    co_return outcome;
  }
  const identity_platform::ErrorBody error = identity_platform::error_of(*response);
  // invalid_grant: expired, revoked, reused; interaction_required: MFA or conditional access
  // now demand a sign-in. Either way only a new enrolment helps.
  if (response->status == 400 &&
      (error.error == "invalid_grant" || error.error == "interaction_required")) {
    outcome.status = RefreshStatus::invalid_grant;
    outcome.reason = error.error + (error.code.empty() ? "" : " (" + error.code + ")");
    co_return outcome;
  }
  co_return refused(*response, "refresh");
}

asio::awaitable<GraphResult<AccessToken>>
IdentityClient::fetch_app_token(std::string scope, Clock::time_point deadline) {
  ++stats_.app_tokens;
  std::string fields = build_query(
      {{"grant_type", "client_credentials"}, {"client_id", config_.client_id}, {"scope", scope}});
  auto response = co_await post_form(token_url_, std::move(fields), true, true, deadline);
  if (!response) {
    co_return GraphError{response.error().code, "app token: " + response.error().message,
                         response.error().http_status};
  }
  co_return identity_platform::read_app_token(*response, "app token");
}

asio::awaitable<GraphResult<std::string>>
IdentityClient::client_credentials(std::string_view scope) {
  if (credential_.empty()) {
    co_return GraphError{GraphErrc::config,
                         "app token: auth.client_secret_file is not set, nor "
                         "auth.certificate_file and auth.private_key_file (client credentials "
                         "need the app's secret or certificate)"};
  }
  if (!valid_argument(scope, max_scope)) {
    co_return GraphError{GraphErrc::bad_request, "app token: not a scope"};
  }
  auto it = app_tokens_.find(scope);
  if (it == app_tokens_.end()) {
    std::string key(scope);
    auto cache = std::make_unique<TokenCache>(executor_, [this, key](Clock::time_point deadline) {
      return fetch_app_token(key, deadline);
    });
    it = app_tokens_.emplace(std::move(key), std::move(cache)).first;
  }
  co_return co_await it->second->get(Clock::now() + config_.overall_timeout);
}

void IdentityClient::invalidate_app_token(std::string_view scope, const std::string& token) {
  if (auto it = app_tokens_.find(scope); it != app_tokens_.end()) {
    it->second->invalidate(token);
  }
}

} // namespace icalgate::calendar
