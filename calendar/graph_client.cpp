#include "calendar/graph_client.hpp"

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

namespace {

constexpr std::size_t max_upn = 320;
constexpr std::size_t max_message_id = 998;
constexpr std::string_view graph_version = "/v1.0";

// "YYYY-MM-DDTHH:MM:SSZ": anything else could smuggle OData into the filter.
bool is_utc_timestamp(std::string_view text) {
  static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:ddZ";
  if (text.size() != shape.size()) {
    return false;
  }
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 'd' ? std::isdigit(static_cast<unsigned char>(text[i])) == 0
                        : text[i] != shape[i]) {
      return false;
    }
  }
  return true;
}

std::string string_member(const json::object& object, std::string_view key,
                          std::size_t limit = 512) {
  const json::value* v = object.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    return {};
  }
  const json::string& s = v->as_string();
  return std::string(s.data(), std::min(s.size(), limit));
}

// Graph's error body {"error":{"code":…,"message":…}} summarized for a log
// line.
std::string describe_graph_error(const HttpResponse& response) {
  std::string text = "HTTP " + std::to_string(response.status);
  json::value holder;
  if (const json::object* root = json_read::parse_object(response.body, holder, 64)) {
    if (const json::value* error = root->if_contains("error"); error && error->is_object()) {
      const std::string code = string_member(error->as_object(), "code", 100);
      const std::string message = string_member(error->as_object(), "message", 300);
      if (!code.empty()) {
        text += " " + code;
      }
      if (!message.empty()) {
        text += ": " + message;
      }
    }
  }
  return text;
}

GraphError status_error(const HttpResponse& response, std::string_view what) {
  GraphErrc code = GraphErrc::bad_response;
  switch (response.status) {
  case 400:
    code = GraphErrc::bad_request;
    break;
  case 401:
    code = GraphErrc::auth;
    break;
  case 403:
    code = GraphErrc::forbidden;
    break;
  case 404:
    code = GraphErrc::not_found;
    break;
  case 429:
    code = GraphErrc::throttled;
    break;
  default:
    if (response.status >= 500) {
      code = GraphErrc::unavailable;
    }
    break;
  }
  return GraphError{code, std::string(what) + ": " + describe_graph_error(response),
                    response.status};
}

} // namespace

GraphResult<std::unique_ptr<GraphClient>> GraphClient::create(const asio::any_io_executor& ex,
                                                              GraphConfig config) {
  if (auto invalid =
          identity_platform::check_registration("graph", config.tenant, config.client_id)) {
    return *invalid;
  }
  if (config.client_secret_file.empty() && config.certificate_file.empty() &&
      config.private_key_file.empty()) {
    return GraphError{GraphErrc::config, "graph.client_secret_file is not set (or "
                                         "graph.certificate_file and graph.private_key_file)"};
  }
  auto authority = parse_endpoint_url(config.authority);
  if (!authority) {
    return GraphError{authority.error().code, "graph.authority: " + authority.error().message};
  }
  auto endpoint = parse_endpoint_url(config.endpoint);
  if (!endpoint) {
    return GraphError{endpoint.error().code, "graph.endpoint: " + endpoint.error().message};
  }
  if (endpoint->target.find('?') != std::string::npos ||
      authority->target.find('?') != std::string::npos) {
    return GraphError{GraphErrc::config, "graph.endpoint and graph.authority take no query"};
  }
  // The secret, or the certificate and its key, read and checked once, here.
  auto credential = identity_platform::load_client_credential(
      "graph", config.client_secret_file, config.certificate_file, config.private_key_file);
  if (!credential) {
    return credential.error();
  }
  auto transport = HttpTransport::create(config.ca_file, config.max_response_bytes);
  if (!transport) {
    return transport.error();
  }
  HttpUrl token_url = identity_platform::tenant_endpoint(*authority, config.tenant, "token");
  HttpUrl graph_url = *endpoint;
  while (!graph_url.target.empty() && graph_url.target.back() == '/') {
    graph_url.target.pop_back();
  }
  config.page_size = std::clamp(config.page_size, 1, 1000);
  config.max_pages = std::max(config.max_pages, 1);
  config.max_attempts = std::max(config.max_attempts, 1);
  config.global_concurrency = std::max<std::size_t>(config.global_concurrency, 1);
  config.per_user_concurrency = std::max<std::size_t>(config.per_user_concurrency, 1);
  return std::unique_ptr<GraphClient>(
      new GraphClient(ex, std::move(config), std::move(transport).value(), std::move(token_url),
                      std::move(graph_url), std::move(credential).value()));
}

GraphClient::GraphClient(const asio::any_io_executor& ex, GraphConfig config,
                         std::unique_ptr<HttpTransport> transport, HttpUrl token_url,
                         HttpUrl endpoint, identity_platform::ClientCredential credential)
    : executor_(ex),
      config_(std::move(config)), retry_{config_.max_attempts, config_.backoff_base,
                                         config_.backoff_max, config_.max_retry_wait},
      transport_(std::move(transport)), token_url_(std::move(token_url)),
      endpoint_(std::move(endpoint)), credential_(std::move(credential)),
      tokens_(ex, [this](Clock::time_point deadline) { return fetch_token(deadline); }),
      global_(ex, config_.global_concurrency), random_(std::random_device{}()) {}

asio::awaitable<GraphResult<AccessToken>> GraphClient::fetch_token(Clock::time_point deadline) {
  HttpRequest request;
  request.method = "POST";
  request.url = token_url_;
  request.content_type = "application/x-www-form-urlencoded";
  std::string fields = build_query({{"client_id", config_.client_id},
                                    {"scope", config_.scope},
                                    {"grant_type", "client_credentials"}});
  RetriedExchange exchange(*transport_, retry_, config_.request_timeout, random_,
                           {stats_.requests, stats_.retries, stats_.throttled}, &status_error,
                           deadline);
  auto response = co_await identity_platform::post_with_credential(
      exchange, std::move(request), std::move(fields), credential_, config_.client_id, true);
  if (!response) {
    co_return GraphError{response.error().code, "token request: " + response.error().message,
                         response.error().http_status};
  }
  co_return identity_platform::read_app_token(*response, "token");
}

asio::awaitable<GraphResult<HttpResponse>>
GraphClient::send_with_retries(HttpRequest request, Clock::time_point deadline) {
  RetriedExchange exchange(*transport_, retry_, config_.request_timeout, random_,
                           {stats_.requests, stats_.retries, stats_.throttled}, &status_error,
                           deadline);
  bool reauthorized = false;
  while (true) {
    auto got = co_await tokens_.get(std::min(deadline, Clock::now() + config_.request_timeout));
    if (!got) {
      co_return got.error();
    }
    std::string token = std::move(got).value();
    request.bearer = token;
    auto outcome = co_await exchange.attempt(request, true);
    if (!outcome) {
      continue;
    }
    if (!*outcome || (*outcome)->status != 401) {
      co_return std::move(*outcome);
    }
    if (reauthorized) {
      co_return status_error(**outcome, "Graph refused a fresh token");
    }
    // The token may have been revoked or the clocks disagree: one fresh
    // token, at once.
    reauthorized = true;
    ++stats_.reauthorized;
    tokens_.invalidate(token);
    exchange.repeat_attempt();
  }
}

asio::awaitable<GraphResult<std::string>> GraphClient::graph_get(std::string_view upn, HttpUrl url,
                                                                 Clock::time_point deadline) {
  std::string key(upn);
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto& slot = users_[key];
  if (!slot) {
    slot = std::make_unique<UserSlot>(executor_, config_.per_user_concurrency);
  }
  UserSlot* user = slot.get();
  ++user->users;
  GraphResult<HttpResponse> response = GraphError{GraphErrc::timeout, ""};
  {
    const auto queued = Clock::now();
    SemaphorePermit user_permit = co_await user->permits.acquire();
    SemaphorePermit global_permit = co_await global_.acquire();
    // Waiting for a turn is not the operation's time: a burst of lookups for one mailbox
    // (a first sync) queues behind the per-user cap, and each must still get its full try.
    deadline += Clock::now() - queued;
    // A named request: GCC 12 destroys temporaries in a co_await full-expression twice.
    HttpRequest request;
    request.url = std::move(url);
    response = co_await send_with_retries(std::move(request), deadline);
  }
  if (--user->users == 0) {
    users_.erase(key);
  }
  if (!response) {
    co_return response.error();
  }
  if (response->status != 200) {
    co_return status_error(*response, "GET users/" + key.substr(0, 100));
  }
  co_return std::move(response->body);
}

GraphResult<HttpUrl> GraphClient::user_url(std::string_view upn, std::string_view rest) const {
  if (upn.empty() || upn.size() > max_upn || has_control(upn)) {
    return GraphError{GraphErrc::bad_request, "not a user principal name"};
  }
  HttpUrl url = endpoint_;
  url.target += std::string(graph_version) + "/users/" + percent_encode(upn, true);
  url.target += rest;
  return url;
}

asio::awaitable<GraphResult<std::string>>
GraphClient::fetch_event_message_json(std::string_view upn, std::string_view message_id) {
  const auto deadline = Clock::now() + config_.overall_timeout;
  std::string id = trim(message_id);
  if (id.empty() || id.size() > max_message_id || has_control(id)) {
    co_return GraphError{GraphErrc::bad_request, "not a Message-ID"};
  }
  if (id.front() != '<') {
    id = "<" + id + ">";
  }
  const std::string query =
      build_query({{"$filter", "internetMessageId eq " + odata_string_literal(id)},
                   {"$expand", "microsoft.graph.eventMessage/event"}});
  auto url = user_url(upn, "/messages?" + query);
  if (!url) {
    co_return url.error();
  }
  HttpUrl target = std::move(url).value();
  co_return co_await graph_get(upn, std::move(target), deadline);
}

asio::awaitable<GraphResult<GraphEventMessage>>
GraphClient::lookup_event_message(std::string_view upn, std::string_view message_id) {
  auto body = co_await fetch_event_message_json(upn, message_id);
  if (!body) {
    co_return body.error();
  }
  auto parsed = parse_event_message_response(*body);
  if (!parsed) {
    const GraphErrc code = parsed.error().code == protocol::Errc::not_found
                               ? GraphErrc::not_found
                               : GraphErrc::bad_response;
    co_return GraphError{code, "event message: " + parsed.error().message, 200};
  }
  co_return std::move(parsed).value();
}

asio::awaitable<GraphResult<GraphEvent>> GraphClient::get_event(std::string_view upn,
                                                                std::string_view event_id) {
  const auto deadline = Clock::now() + config_.overall_timeout;
  if (event_id.empty() || event_id.size() > 1024 || has_control(event_id)) {
    co_return GraphError{GraphErrc::bad_request, "not an event id"};
  }
  auto url = user_url(upn, "/events/" + percent_encode(event_id));
  if (!url) {
    co_return url.error();
  }
  HttpUrl target = std::move(url).value();
  auto body = co_await graph_get(upn, std::move(target), deadline);
  if (!body) {
    co_return body.error();
  }
  auto parsed = parse_event(*body);
  if (!parsed) {
    co_return GraphError{GraphErrc::bad_response, "event: " + parsed.error().message, 200};
  }
  co_return std::move(parsed).value();
}

asio::awaitable<GraphResult<MeetingMessageListing>>
GraphClient::list_meeting_messages(std::string_view upn, std::string_view since_utc,
                                   bool with_events) {
  const auto deadline = Clock::now() + config_.overall_timeout;
  if (!since_utc.empty() && !is_utc_timestamp(since_utc)) {
    co_return GraphError{GraphErrc::bad_request, "since must be YYYY-MM-DDTHH:MM:SSZ"};
  }
  // Graph supports neither isof() nor a type cast on the messages collection;
  // the message class (PR_MESSAGE_CLASS, String 0x001A) singles out meeting
  // messages.
  std::string filter;
  if (!since_utc.empty()) {
    filter = "receivedDateTime ge " + std::string(since_utc) + " and ";
  }
  filter += "singleValueExtendedProperties/any(ep: ep/id eq 'String 0x001A' and "
            "startswith(ep/value, 'IPM.Schedule.Meeting.'))";
  const std::string top = std::to_string(config_.page_size);
  auto url = user_url(
      upn,
      "/messages?" + (with_events ? build_query({{"$filter", filter},
                                                 {"$expand", "microsoft.graph.eventMessage/event"},
                                                 {"$top", top}})
                                  : build_query({{"$filter", filter},
                                                 {"$select", "internetMessageId,receivedDateTime"},
                                                 {"$top", top}})));
  if (!url) {
    co_return url.error();
  }
  MeetingMessageListing listing;
  HttpUrl next = std::move(url).value();
  while (true) {
    auto body = co_await graph_get(upn, next, deadline);
    if (!body) {
      co_return body.error();
    }
    ++listing.pages;
    json::value holder;
    const json::object* root = json_read::parse_object(*body, holder, 64);
    const json::value* value = root ? root->if_contains("value") : nullptr;
    if (value == nullptr || !value->is_array()) {
      co_return GraphError{GraphErrc::bad_response, "listing without a value array", 200};
    }
    for (const json::value& item : value->as_array()) {
      if (!item.is_object()) {
        continue;
      }
      const json::object& message = item.as_object();
      MeetingMessageRef ref;
      ref.id = string_member(message, "id", 1024);
      ref.internet_message_id = string_member(message, "internetMessageId", max_message_id);
      ref.odata_type = string_member(message, "@odata.type", 100);
      ref.received_date_time = string_member(message, "receivedDateTime", 40);
      if (with_events) {
        ref.lookup_json = json::serialize(json::object{{"value", json::array{item}}});
      }
      if (!ref.internet_message_id.empty()) {
        listing.messages.push_back(std::move(ref));
      }
      if (listing.messages.size() > static_cast<std::size_t>(config_.max_pages) * 1000) {
        co_return GraphError{GraphErrc::bad_response, "listing larger than its page cap", 200};
      }
    }
    const std::string link = string_member(*root, "@odata.nextLink", 8 * 1024);
    if (link.empty()) {
      co_return listing;
    }
    if (listing.pages >= config_.max_pages) {
      listing.truncated = true;
      co_return listing;
    }
    auto parsed = parse_http_url(link);
    // The token goes only where the configured endpoint is.
    if (!parsed || parsed->origin() != endpoint_.origin() ||
        parsed->target.rfind(endpoint_.target + "/", 0) != 0) {
      co_return GraphError{GraphErrc::bad_response, "@odata.nextLink leaves the Graph endpoint",
                           200};
    }
    next = std::move(parsed).value();
  }
}

} // namespace icalgate::calendar
