#include "tests/graphsim/simulator.hpp"

#include "tests/graphsim/sim_odata.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace icalgate::graphsim {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view graph_scope = "https://graph.microsoft.com/.default";
constexpr std::string_view device_code_grant = "urn:ietf:params:oauth:grant-type:device_code";
constexpr std::size_t max_file = 16 * 1024 * 1024;
constexpr std::string_view report_name = "getEmailAppUsageUserDetail";

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<std::string> read_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec) || fs::file_size(path, ec) > max_file) {
    return std::nullopt;
  }
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  if (!file) {
    return std::nullopt;
  }
  return text.str();
}

std::string string_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The user's directory, matching the UPN case-insensitively as Exchange does.
std::optional<fs::path> user_dir(const std::string& data, const std::string& upn) {
  if (upn.empty() || upn.find('/') != std::string::npos || upn == "." || upn == "..") {
    return std::nullopt;
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(data) / "users", ec)) {
    if (entry.is_directory() && lower(entry.path().filename().string()) == lower(upn)) {
      return entry.path();
    }
  }
  return std::nullopt;
}

// PR_MESSAGE_CLASS as Exchange stores it for each meetingMessageType.
std::string message_class(const json::object& message) {
  std::string type = string_of(message, "meetingMessageType");
  if (type.empty() && string_of(message, "@odata.type").find("eventMessage") != std::string::npos) {
    // A response Graph describes only by its responseType.
    const std::string response = string_of(message, "responseType");
    type = response == "accepted"              ? "meetingAccepted"
           : response == "tentativelyAccepted" ? "meetingTenativelyAccepted"
           : response == "declined"            ? "meetingDeclined"
                                               : "";
  }
  if (type == "meetingRequest") {
    return "IPM.Schedule.Meeting.Request";
  }
  if (type == "meetingCancelled") {
    return "IPM.Schedule.Meeting.Canceled";
  }
  if (type == "meetingAccepted") {
    return "IPM.Schedule.Meeting.Resp.Pos";
  }
  if (type == "meetingTenativelyAccepted") {
    return "IPM.Schedule.Meeting.Resp.Tent";
  }
  if (type == "meetingDeclined") {
    return "IPM.Schedule.Meeting.Resp.Neg";
  }
  return "IPM.Note";
}

bool matches(const MessageFilter& filter, const json::object& message) {
  if (filter.internet_message_id &&
      string_of(message, "internetMessageId") != *filter.internet_message_id) {
    return false;
  }
  if (filter.received_from) {
    auto received = normalize_timestamp(string_of(message, "receivedDateTime"));
    if (!received || *received < *filter.received_from ||
        (filter.received_strict && *received == *filter.received_from)) {
      return false;
    }
  }
  const std::string cls = message_class(message);
  if (filter.class_prefix && cls.rfind(*filter.class_prefix, 0) != 0) {
    return false;
  }
  if (filter.class_equals && lower(cls) != lower(*filter.class_equals)) {
    return false;
  }
  return true;
}

const std::set<std::string, std::less<>>& selectable() {
  static const std::set<std::string, std::less<>> names{
      "id",
      "internetMessageId",
      "receivedDateTime",
      "sentDateTime",
      "createdDateTime",
      "subject",
      "from",
      "sender",
      "toRecipients",
      "ccRecipients",
      "bodyPreview",
      "body",
      "hasAttachments",
      "isRead",
      "parentFolderId",
      "changeKey",
      "conversationId",
      "webLink",
      "categories",
      "importance",
      "lastModifiedDateTime",
      "meetingMessageType",
      "microsoft.graph.eventMessage/meetingMessageType"};
  return names;
}

Response unknown_property(std::string_view name) {
  return graph_error(400, "RequestBroker--ParseUri",
                     "Could not find a property named '" + std::string(name) +
                         "' on type 'microsoft.graph.message'.");
}

std::string host_of(const Request& request, const SimOptions& options) {
  auto it = request.find(http::field::host);
  if (it != request.end() && !it->value().empty() && it->value().size() < 300) {
    return std::string(it->value());
  }
  return options.listen_host + ":" + std::to_string(options.listen_port);
}

struct InFlight {
  SimStats& stats;
  std::string user;
  InFlight(SimStats& s, std::string u) : stats(s), user(std::move(u)) {
    ++stats.requests;
    stats.max_in_flight = std::max(stats.max_in_flight, ++stats.in_flight);
    if (!user.empty()) {
      auto& current = ++stats.user_in_flight[user];
      auto& max = stats.user_max_in_flight[user];
      max = std::max(max, current);
    }
  }
  ~InFlight() {
    --stats.in_flight;
    if (!user.empty() && --stats.user_in_flight[user] == 0) {
      stats.user_in_flight.erase(user);
    }
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
};

} // namespace

asio::awaitable<Response> Simulator::handle(const Request& request) {
  const std::string target(request.target());
  const std::size_t question = target.find('?');
  const std::string query = question == std::string::npos ? "" : target.substr(question + 1);
  auto decoded = percent_decode(target.substr(0, question));
  if (!decoded) {
    co_return graph_error(400, "BadRequest", "Malformed URL.");
  }
  const std::string& path = *decoded;
  if (path == "/_stats") {
    if (request.method() == http::verb::delete_) {
      stats_ = SimStats{};
      identity_.reset_stats();
    }
    co_return stats_json();
  }
  if (path.rfind("/_sim/", 0) == 0) {
    // Test hooks: never faulted, never counted.
    if (auto answer = sim_control(request, path)) {
      co_return std::move(*answer);
    }
    co_return graph_error(404, "NotFound", "The requested resource does not exist.");
  }
  std::string user;
  if (path.rfind("/v1.0/users/", 0) == 0) {
    user = lower(path.substr(12, path.find('/', 12) - 12));
  }
  InFlight counted(stats_, user);
  if (auto fault = faults_.decide(std::string(request.method_string()), path)) {
    if (fault->delay_ms > 0) {
      asio::steady_timer timer(co_await asio::this_coro::executor,
                               std::chrono::milliseconds(fault->delay_ms));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (fault->status >= 400) {
      if (fault->served) {
        (void)route(request, path, query);
      }
      Response res =
          fault->status == 401
              ? graph_error(401, "InvalidAuthenticationToken", "Access token validation failure.")
          : fault->status == 429 ? graph_error(429, "ApplicationThrottled",
                                               "Application is over its MailboxConcurrency limit.")
          : fault->status == 503
              ? graph_error(503, "ServiceNotAvailable", "The service is temporarily unavailable.")
              : graph_error(fault->status, "InternalServerError", "Injected failure.");
      if (fault->retry_after >= 0) {
        res.set(http::field::retry_after, std::to_string(fault->retry_after));
      }
      ++stats_.by_status[std::to_string(fault->status)];
      co_return res;
    }
  }
  Response res = route(request, path, query);
  ++stats_.by_status[std::to_string(res.result_int())];
  co_return res;
}

Response Simulator::route(const Request& request, const std::string& path,
                          const std::string& query) {
  if (constexpr std::string_view suffix = "/oauth2/v2.0/authorize";
      path.size() > suffix.size() + 1 && path.ends_with(suffix)) {
    const std::string tenant = path.substr(1, path.size() - suffix.size() - 1);
    if (tenant.find('/') == std::string::npos) {
      if (request.method() != http::verb::get && request.method() != http::verb::post) {
        return identity_error(405, "invalid_request", 900561,
                              "The endpoint only accepts GET and POST requests.");
      }
      return authorize(request, path, tenant, query);
    }
  }
  for (const std::string_view suffix : {"/oauth2/v2.0/token", "/oauth2/v2.0/devicecode"}) {
    if (path.size() <= suffix.size() + 1 ||
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    const std::string tenant = path.substr(1, path.size() - suffix.size() - 1);
    if (tenant.find('/') == std::string::npos) {
      if (request.method() != http::verb::post) {
        return identity_error(405, "invalid_request", 900561,
                              "The endpoint only accepts POST requests.");
      }
      return token(request, tenant, suffix.ends_with("devicecode"));
    }
  }
  if (path.rfind("/reports-download/", 0) == 0) {
    return download(path.substr(18));
  }
  if (path.rfind("/v1.0/", 0) != 0) {
    return graph_error(404, "NotFound", "The requested resource does not exist.");
  }
  if (auto denied = check_token(request)) {
    return *denied;
  }
  if (request.method() != http::verb::get) {
    return graph_error(405, "Request_BadRequest", "The HTTP method is not allowed here.");
  }
  if (path.rfind("/v1.0/users/", 0) == 0) {
    const std::string rest = path.substr(12);
    const std::size_t slash = rest.find('/');
    const std::string upn = rest.substr(0, slash);
    const std::string sub = slash == std::string::npos ? "" : rest.substr(slash);
    if (sub == "/messages") {
      return messages(request, upn, query);
    }
    if (sub.rfind("/events/", 0) == 0 && sub.size() > 8) {
      return event(upn, sub.substr(8));
    }
    return graph_error(400, "BadRequest",
                       "Resource not found for the segment '" + sub.substr(0, 100) + "'.");
  }
  const std::string report_prefix = "/v1.0/reports/" + std::string(report_name) + "(period='";
  if (path.rfind(report_prefix, 0) == 0 && path.size() > report_prefix.size() + 2 &&
      path.compare(path.size() - 2, 2, "')") == 0) {
    return report(request,
                  path.substr(report_prefix.size(), path.size() - report_prefix.size() - 2));
  }
  return graph_error(400, "BadRequest",
                     "Resource not found for the segment '" + path.substr(6, 100) + "'.");
}

Response Simulator::token(const Request& request, const std::string& tenant,
                          bool device_code_endpoint) {
  const std::vector<ClientApp> clients = clients_of_tenant(options_.data_dir, tenant);
  if (clients.empty()) {
    return tenant_not_found(tenant);
  }
  auto form = parse_query(request.body(), true);
  if (!form) {
    return identity_error(400, "invalid_request", 900144, "The request body is malformed.");
  }
  auto param = [&](const char* name) -> std::optional<std::string> {
    auto it = form->find(name);
    return it == form->end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  const auto grant = param("grant_type");
  if (!device_code_endpoint) {
    if (!grant) {
      return missing_parameter("grant_type");
    }
    if (*grant != "client_credentials" && *grant != device_code_grant &&
        *grant != "refresh_token" && *grant != "authorization_code") {
      return identity_error(400, "unsupported_grant_type", 70003,
                            "The app requested an unsupported grant type '" +
                                grant->substr(0, 100) + "'.");
    }
  }
  const auto client_id = param("client_id");
  if (!client_id) {
    return missing_parameter("client_id");
  }
  const ClientApp* found = nullptr;
  for (const auto& c : clients) {
    if (c.client_id == *client_id) {
      found = &c;
    }
  }
  if (found == nullptr) {
    return client_not_found(*client_id, tenant);
  }
  // What a client assertion may name as its audience: this endpoint, by the tenant's name or
  // id.
  ClientApp with_audience = *found;
  const std::string base = "http://" + host_of(request, options_) + "/";
  const std::string endpoint =
      device_code_endpoint ? "/oauth2/v2.0/devicecode" : "/oauth2/v2.0/token";
  for (const std::string& name : {tenant, found->tenant_id}) {
    with_audience.token_endpoints.push_back(base + name + endpoint);
  }
  const ClientApp* client = &with_audience;
  if (device_code_endpoint) {
    return identity_.start_device_code(*client, *form);
  }
  if (*grant == device_code_grant) {
    return identity_.redeem_device_code(*client, *form, options_.token_lifetime);
  }
  if (*grant == "refresh_token") {
    return identity_.redeem_refresh_token(*client, *form, options_.token_lifetime);
  }
  if (*grant == "authorization_code") {
    return identity_.redeem_authorization_code(*client, *form, options_.token_lifetime);
  }
  return client_credentials(*client, *form);
}

Response Simulator::authorize(const Request& request, const std::string& path,
                              const std::string& tenant, const std::string& query) {
  // A sign-in form may POST its fields; a browser's GET carries them in the query.
  auto form = request.method() == http::verb::post ? parse_query(request.body(), true)
                                                   : parse_query(query, true);
  if (!form) {
    return IdentityPlatform::authorize_refused(900144, "The request is malformed.");
  }
  const std::vector<ClientApp> clients = clients_of_tenant(options_.data_dir, tenant);
  if (clients.empty()) {
    return IdentityPlatform::authorize_refused(90002,
                                               "Tenant '" + tenant.substr(0, 100) +
                                                   "' not found. Check to make sure you have "
                                                   "the correct tenant ID and are signing "
                                                   "into the correct cloud.");
  }
  const auto it = form->find("client_id");
  if (it == form->end()) {
    return IdentityPlatform::authorize_refused(
        900144, "The request body must contain the following parameter: 'client_id'.");
  }
  for (const auto& client : clients) {
    if (client.client_id == it->second) {
      return identity_.authorize(client, *form, path);
    }
  }
  return IdentityPlatform::authorize_refused(
      700016, "Application with identifier '" + it->second.substr(0, 100) +
                  "' was not found in the directory '" + tenant.substr(0, 100) + "'.");
}

Response Simulator::client_credentials(const ClientApp& client, const Form& form) {
  auto it = form.find("scope");
  if (it == form.end()) {
    return missing_parameter("scope");
  }
  const std::string& scope = it->second;
  const bool exchange = IdentityPlatform::is_exchange_app_scope(scope);
  if (scope != graph_scope && !exchange) {
    return identity_error(400, "invalid_scope", 1002012,
                          "The provided value for scope " + scope.substr(0, 200) +
                              " is not valid. Client credential flows must have a scope value "
                              "with /.default suffixed to the resource identifier (application "
                              "ID URI).");
  }
  if (auto refused = authenticate_client(client, form, false, identity_.used_assertions())) {
    return std::move(*refused);
  }
  ++stats_.tokens_issued;
  if (exchange) {
    return identity_.app_token(client, scope, options_.token_lifetime);
  }
  // Graph's tokens stay opaque: the simulator itself checks them on /v1.0.
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(tokens_, [&](const auto& entry) { return entry.second < now; });
  if (tokens_.size() > 10000) {
    tokens_.clear();
  }
  std::string access = random_token();
  tokens_[access] = now + options_.token_lifetime;
  const long long lifetime = options_.token_lifetime.count();
  json::object body{{"token_type", "Bearer"},
                    {"expires_in", lifetime},
                    {"ext_expires_in", lifetime},
                    {"access_token", access}};
  Response res = json_response(200, json::serialize(body));
  res.set(http::field::content_type, "application/json; charset=utf-8");
  res.set(http::field::cache_control, "no-store, no-cache");
  return res;
}

std::optional<Response> Simulator::sim_control(const Request& request, const std::string& path) {
  if (path == "/_sim/token-lifetime") {
    auto form = parse_query(request.body(), true);
    std::string value;
    if (form && form->contains("seconds")) {
      value = form->at("seconds");
    }
    if (request.method() != http::verb::post || value.empty() || value.size() > 7 ||
        !std::all_of(value.begin(), value.end(), ::isdigit) || std::stol(value) <= 0) {
      return json_response(400, R"json({"error":"POST seconds=N (N > 0)"})json");
    }
    options_.token_lifetime = std::chrono::seconds(std::stol(value));
    return json_response(
        200, json::serialize(json::object{{"token_lifetime", options_.token_lifetime.count()}}));
  }
  return identity_.control(request, path);
}

std::optional<Response> Simulator::check_token(const Request& request) {
  auto deny = [](std::string_view message) {
    Response res = graph_error(401, "InvalidAuthenticationToken", message);
    res.set(http::field::www_authenticate,
            "Bearer realm=\"\", "
            "authorization_uri=\"https://login.microsoftonline.com/common/"
            "oauth2/authorize\", "
            "client_id=\"00000003-0000-0000-c000-000000000000\"");
    return res;
  };
  auto it = request.find(http::field::authorization);
  if (it == request.end() || it->value().empty()) {
    return deny("Access token is empty.");
  }
  const std::string_view value = it->value();
  if (value.size() < 8 || lower(value.substr(0, 7)) != "bearer ") {
    return deny("Access token is empty.");
  }
  auto found = tokens_.find(std::string(value.substr(7)));
  if (found == tokens_.end()) {
    return deny("IDX14100: JWT is not well formed, there are no dots (.).\nThe "
                "token needs to be "
                "in JWS or JWE Compact Serialization Format. (JWS): "
                "'EncodedHeader.EndcodedPayload.EncodedSignature'. (JWE): "
                "'EncodedProtectedHeader.EncodedEncryptedKey."
                "EncodedInitializationVector."
                "EncodedCiphertext.EncodedAuthenticationTag'.");
  }
  if (found->second <= std::chrono::steady_clock::now()) {
    return deny("Lifetime validation failed, the token is expired.");
  }
  return std::nullopt;
}

Response Simulator::messages(const Request& request, const std::string& upn,
                             const std::string& query) {
  // As in ASP.NET, which serves Graph: a "+" in the query string is a space.
  auto params = parse_query(query, true);
  if (!params) {
    return graph_error(400, "BadRequest", "The query specified in the URI is not valid.");
  }
  static const std::set<std::string, std::less<>> options{"$filter", "$select", "$top", "$expand",
                                                          "$skiptoken"};
  for (const auto& [name, value] : *params) {
    if (!name.empty() && name[0] == '$' && !options.contains(name)) {
      return graph_error(400, "BadRequest",
                         "Query option '" + name.substr(0, 50) + "' is not allowed.");
    }
  }
  auto get = [&](const char* name) -> std::string {
    auto it = params->find(name);
    return it == params->end() ? std::string() : it->second;
  };
  bool expand = false;
  if (params->contains("$expand")) {
    const std::string value = get("$expand");
    if (value != "microsoft.graph.eventMessage/event") {
      // Graph needs the cast: `event` is a navigation property of eventMessage
      // only.
      return unknown_property(value.substr(0, value.find_first_of("/(")).substr(0, 100));
    }
    expand = true;
  }
  std::vector<std::string> select;
  if (params->contains("$select")) {
    std::stringstream list(get("$select"));
    for (std::string name; std::getline(list, name, ',');) {
      if (!selectable().contains(name)) {
        return unknown_property(name.substr(0, 100));
      }
      select.push_back(name);
    }
  }
  std::size_t top = 10;
  if (params->contains("$top")) {
    const std::string value = get("$top");
    if (value.empty() || value.size() > 9 || !std::all_of(value.begin(), value.end(), ::isdigit) ||
        std::stoul(value) == 0 || std::stoul(value) > 1000) {
      return graph_error(400, "ErrorInvalidUrlQuery",
                         "The value of $top must be an integer between 1 and 1000.");
    }
    top = std::stoul(value);
  }
  std::size_t offset = 0;
  if (params->contains("$skiptoken")) {
    const std::string value = get("$skiptoken");
    if (value.size() < 2 || value.size() > 10 || value[0] != 'o' ||
        !std::all_of(value.begin() + 1, value.end(), ::isdigit)) {
      return graph_error(400, "BadRequest", "The skip token is not valid.");
    }
    offset = std::stoul(value.substr(1));
  }
  MessageFilter filter;
  if (params->contains("$filter")) {
    auto parsed = parse_message_filter(get("$filter"));
    if (auto* error = std::get_if<FilterError>(&parsed)) {
      return graph_error(400, error->code, error->message);
    }
    filter = std::get<MessageFilter>(parsed);
  }
  auto dir = user_dir(options_.data_dir, upn);
  if (!dir) {
    return graph_error(404, "ResourceNotFound", "Resource could not be discovered.");
  }
  std::vector<std::shared_ptr<const StoredMessage>> hits;
  for (auto& m : message_files_.load(*dir)) {
    if (matches(filter, m->message)) {
      hits.push_back(std::move(m));
    }
  }
  // Graph's default order for messages: newest first.
  std::stable_sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) {
    return string_of(a->message, "receivedDateTime") > string_of(b->message, "receivedDateTime");
  });
  json::array value;
  for (std::size_t i = offset; i < hits.size() && i < offset + top; ++i) {
    const json::object& m = hits[i]->message;
    json::object item;
    if (select.empty()) {
      item = m;
      if (!expand) {
        item.erase("event");
      }
    } else {
      for (const char* key : {"@odata.type", "@odata.etag", "id"}) {
        if (const json::value* v = m.if_contains(key)) {
          item[key] = *v;
        }
      }
      for (const std::string& name : select) {
        const std::string key =
            name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
        if (const json::value* v = m.if_contains(key)) {
          item[key] = *v;
        }
      }
      if (expand) {
        if (const json::value* v = m.if_contains("event")) {
          item["event"] = *v;
        }
      }
    }
    value.push_back(std::move(item));
  }
  std::string context =
      "https://graph.microsoft.com/v1.0/$metadata#users('" + percent_encode(upn) + "')/messages";
  if (!select.empty()) {
    context += "(";
    for (std::size_t i = 0; i < select.size(); ++i) {
      context += (i ? "," : "") + select[i];
    }
    context += ")";
  }
  json::object body{{"@odata.context", context}, {"value", std::move(value)}};
  if (offset + top < hits.size()) {
    std::string link = "http://" + host_of(request, options_) + "/v1.0/users/" +
                       percent_encode(upn) + "/messages?";
    for (const auto& [name, v] : *params) {
      if (name != "$skiptoken") {
        link += name + "=" + percent_encode(v) + "&";
      }
    }
    link += "$skiptoken=o" + std::to_string(offset + top);
    body["@odata.nextLink"] = link;
  }
  return json_response(200, json::serialize(body));
}

Response Simulator::event(const std::string& upn, const std::string& id) {
  auto dir = user_dir(options_.data_dir, upn);
  if (!dir) {
    return graph_error(404, "ResourceNotFound", "Resource could not be discovered.");
  }
  const std::string context = "https://graph.microsoft.com/v1.0/$metadata#users('" +
                              percent_encode(upn) + "')/events/$entity";
  auto answer = [&](const json::object& event) {
    json::object body{{"@odata.context", context}};
    for (const auto& member : event) {
      body[member.key()] = member.value();
    }
    return json_response(200, json::serialize(body));
  };
  for (const auto& m : message_files_.load(*dir)) {
    const json::value* e = m->message.if_contains("event");
    if (e != nullptr && e->is_object() && string_of(e->as_object(), "id") == id) {
      return answer(e->as_object());
    }
  }
  // Bare events (GET /events/{id} answers) in DIR/users/{upn}/events/*.json.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(*dir / "events", ec)) {
    auto text = read_file(entry.path());
    json::error_code jec;
    json::value doc = text ? json::parse(*text, jec) : json::value();
    if (!jec && doc.is_object() && string_of(doc.as_object(), "id") == id) {
      return answer(doc.as_object());
    }
  }
  return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.");
}

Response Simulator::report(const Request& request, const std::string& period) {
  if (period != "D7" && period != "D30" && period != "D90" && period != "D180") {
    return graph_error(400, "BadRequest",
                       "Invalid value '" + period.substr(0, 20) +
                           "' for parameter 'period'. Allowed values: D7, D30, D90, D180.");
  }
  std::error_code ec;
  if (!fs::is_regular_file(
          fs::path(options_.data_dir) / "reports" / (std::string(report_name) + ".csv"), ec)) {
    return graph_error(404, "ResourceNotFound", "The report is not available.");
  }
  Response res{http::status::found, 11};
  res.set(http::field::location, "http://" + host_of(request, options_) + "/reports-download/" +
                                     std::string(report_name) + ".csv");
  res.set("request-id", random_guid());
  res.prepare_payload();
  return res;
}

Response Simulator::download(const std::string& name) {
  if (name != std::string(report_name) + ".csv") {
    return graph_error(404, "NotFound", "The requested resource does not exist.");
  }
  auto text = read_file(fs::path(options_.data_dir) / "reports" / name);
  if (!text) {
    return graph_error(404, "NotFound", "The requested resource does not exist.");
  }
  Response res{http::status::ok, 11};
  res.set(http::field::content_type, "application/octet-stream");
  res.set(http::field::content_disposition, "attachment; filename=\"" + name + "\"");
  res.body() = std::move(*text);
  res.prepare_payload();
  return res;
}

Response Simulator::stats_json() const {
  json::object per_user;
  for (const auto& [user, n] : stats_.user_max_in_flight) {
    per_user[user] = n;
  }
  json::object statuses;
  for (const auto& [status, n] : stats_.by_status) {
    statuses[status] = n;
  }
  json::object body{{"requests", stats_.requests},
                    {"in_flight", stats_.in_flight},
                    {"max_in_flight", stats_.max_in_flight},
                    {"tokens_issued", stats_.tokens_issued},
                    {"max_in_flight_per_user", std::move(per_user)},
                    {"status", std::move(statuses)},
                    {"device_codes", identity_.stats().device_codes},
                    {"device_polls", identity_.stats().device_polls},
                    {"refreshes", identity_.stats().refreshes},
                    {"refresh_reuses", identity_.stats().refresh_reuses},
                    {"app_tokens", identity_.stats().app_tokens},
                    {"authorizations", identity_.stats().authorizations},
                    {"code_grants", identity_.stats().code_grants},
                    {"code_refusals", identity_.stats().code_refusals}};
  return json_response(200, json::serialize(body));
}

} // namespace icalgate::graphsim
