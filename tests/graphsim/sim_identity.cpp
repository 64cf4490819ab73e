#include "tests/graphsim/sim_identity.hpp"

#include "tests/graphsim/sim_jwt.hpp"
#include "tests/graphsim/sim_odata.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <random>
#include <sstream>
#include <variant>

namespace icalgate::graphsim {

namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

constexpr std::size_t max_refresh_tokens = 200'000;
constexpr std::size_t max_device_codes = 10'000;
constexpr std::size_t max_authorization_codes = 10'000;
// Entra's authorization codes are good for about ten minutes.
constexpr std::chrono::minutes authorization_code_lifetime{10};
constexpr std::string_view exchange_resources[] = {"https://outlook.office.com",
                                                   "https://outlook.office365.com"};
constexpr std::string_view delegated_permissions[] = {"IMAP.AccessAsUser.All",
                                                      "POP.AccessAsUser.All", "SMTP.Send"};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string random_text(std::size_t n, std::string_view alphabet) {
  static std::mt19937_64 engine{std::random_device{}()};
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(alphabet[pick(engine)]);
  }
  return out;
}

constexpr std::string_view url_safe =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

std::string issuer_v1(const std::string& tenant_id) {
  return "https://sts.windows.net/" + tenant_id + "/";
}

std::optional<std::string> param(const Form& form, const char* name) {
  auto it = form.find(name);
  return it == form.end() ? std::nullopt : std::optional<std::string>(it->second);
}

Response token_ok(const json::object& body) {
  Response res = json_response(200, json::serialize(body));
  res.set(http::field::content_type, "application/json; charset=utf-8");
  res.set(http::field::cache_control, "no-store, no-cache");
  return res;
}

Response control_answer(int status, json::object body) {
  return json_response(status, json::serialize(body));
}

Response control_error(int status, std::string_view message) {
  return control_answer(status, json::object{{"error", message}});
}

Response invalid_scope(std::string_view detail) {
  return identity_error(400, "invalid_scope", 70011,
                        "The provided value for the input parameter 'scope' is not valid. " +
                            std::string(detail));
}

// The scopes of a delegated request, or the identity platform's refusal.
std::variant<DelegatedScopes, Response> parse_scopes(std::string_view text) {
  DelegatedScopes out;
  std::istringstream words{std::string(text)};
  for (std::string scope; words >> scope;) {
    const std::string l = lower(scope);
    if (l == "offline_access") {
      out.offline_access = true;
      continue;
    }
    if (l == "openid" || l == "profile" || l == "email") {
      (l == "openid" ? out.openid : l == "profile" ? out.profile : out.email) = true;
      continue;
    }
    const std::size_t slash = scope.rfind('/');
    const std::string resource = slash == std::string::npos ? "" : lower(scope.substr(0, slash));
    const std::string permission = slash == std::string::npos ? "" : scope.substr(slash + 1);
    const bool exchange = std::find(std::begin(exchange_resources), std::end(exchange_resources),
                                    resource) != std::end(exchange_resources);
    auto known = std::find_if(std::begin(delegated_permissions), std::end(delegated_permissions),
                              [&](std::string_view p) { return lower(p) == lower(permission); });
    if (!exchange || known == std::end(delegated_permissions)) {
      return invalid_scope("The scope '" + scope.substr(0, 200) +
                           "' is not valid (the simulator knows Exchange Online's delegated "
                           "IMAP, POP and SMTP permissions and the OpenID Connect scopes).");
    }
    if (!out.resource.empty() && out.resource != resource) {
      return invalid_scope("Scopes of more than one resource were requested.");
    }
    out.resource = resource;
    if (std::find(out.permissions.begin(), out.permissions.end(), *known) ==
        out.permissions.end()) {
      out.permissions.emplace_back(*known);
    }
  }
  if (out.permissions.empty()) {
    return invalid_scope("The request names no Exchange Online permission.");
  }
  return out;
}

std::string scope_text(const DelegatedScopes& scopes) {
  std::string out;
  for (const auto& p : scopes.permissions) {
    out += (out.empty() ? "" : " ") + scopes.resource + "/" + p;
  }
  return out;
}

std::string scp_claim(const DelegatedScopes& scopes) {
  std::string out;
  for (const auto& p : scopes.permissions) {
    out += (out.empty() ? "" : " ") + p;
  }
  return out;
}

std::string display_name(const std::string& upn) {
  std::string name = upn.substr(0, upn.find('@'));
  if (!name.empty()) {
    name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
  }
  return name;
}

json::object describe(const std::string& user_code, const std::string& client_id,
                      const std::string& scope, const char* state, const std::string& upn) {
  json::object o{
      {"user_code", user_code}, {"client_id", client_id}, {"scope", scope}, {"state", state}};
  if (!upn.empty()) {
    o["upn"] = upn;
  }
  return o;
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      out.push_back(c);
    }
  }
  return out;
}

std::string with_query(const std::string& uri,
                       const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out = uri;
  char separator = uri.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [name, value] : params) {
    out += separator + percent_encode(name) + "=" + percent_encode(value);
    separator = '&';
  }
  return out;
}

Response html_page(int status, std::string body) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set(http::field::cache_control, "no-store, no-cache");
  res.body() = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Sign in to your "
               "account</title></head><body>\n" +
               std::move(body) + "</body></html>\n";
  res.prepare_payload();
  return res;
}

Response found(const std::string& location) {
  Response res{http::status::found, 11};
  res.set(http::field::location, location);
  res.set(http::field::cache_control, "no-store, no-cache");
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.body() = "<html><head><title>Object moved</title></head><body><h2>Object moved to <a "
               "href=\"" +
               html_escape(location) + "\">here</a>.</h2></body></html>\n";
  res.prepare_payload();
  return res;
}

// http://localhost:PORT/path -> http://localhost/path (loopback redirect URIs match on any
// port); every other URI unchanged.
std::string loopback_without_port(const std::string& uri) {
  for (const std::string_view host : {"http://localhost:", "http://127.0.0.1:"}) {
    if (uri.rfind(host, 0) != 0) {
      continue;
    }
    std::size_t end = host.size();
    while (end < uri.size() && std::isdigit(static_cast<unsigned char>(uri[end])) != 0) {
      ++end;
    }
    return std::string(host.substr(0, host.size() - 1)) + uri.substr(end);
  }
  return uri;
}

bool redirect_uri_registered(const ClientApp& client, const std::string& uri) {
  std::vector<std::string> registered{"http://localhost"};
  if (const json::value* v = client.entry.if_contains("redirect_uris"); v && v->is_array()) {
    registered.clear();
    for (const json::value& u : v->as_array()) {
      if (u.is_string()) {
        registered.emplace_back(u.as_string());
      }
    }
  }
  const std::string wanted = loopback_without_port(uri);
  return std::any_of(registered.begin(), registered.end(),
                     [&](const std::string& r) { return loopback_without_port(r) == wanted; });
}

// RFC 7636's S256: BASE64URL(SHA256(ASCII(code_verifier))).
std::string s256(std::string_view verifier) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(verifier.data(), verifier.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return base64url(std::string_view(reinterpret_cast<const char*>(digest.data()), length));
}

bool is_upn(std::string_view text) {
  return !text.empty() && text.size() <= 320 && text.find('@') != std::string_view::npos &&
         text.find_first_of(" \t\r\n<>\"'") == std::string_view::npos;
}

} // namespace

bool IdentityPlatform::is_exchange_app_scope(std::string_view scope) {
  const std::string l = lower(scope);
  return std::any_of(std::begin(exchange_resources), std::end(exchange_resources),
                     [&](std::string_view r) { return l == std::string(r) + "/.default"; });
}

void IdentityPlatform::expire_old() {
  const auto now = Clock::now();
  // Expired codes are kept an hour, so that a late poll hears expired_token.
  for (auto it = device_codes_.begin(); it != device_codes_.end();) {
    if (it->second.expires + std::chrono::hours(1) < now ||
        device_codes_.size() > max_device_codes) {
      user_codes_.erase(it->second.user_code);
      it = device_codes_.erase(it);
    } else {
      ++it;
    }
  }
  std::erase_if(auth_codes_, [&](const auto& entry) {
    return entry.second.expires + std::chrono::hours(1) < now ||
           auth_codes_.size() > max_authorization_codes;
  });
  if (refresh_tokens_.size() > max_refresh_tokens) {
    std::erase_if(refresh_tokens_,
                  [](const auto& entry) { return entry.second.state != RefreshState::live; });
  }
}

Response IdentityPlatform::authorize_refused(int aadsts, std::string_view description) {
  // Entra shows its error on its own page when it cannot trust the redirect URI.
  return html_page(
      400, "<h1>Sorry, but we're having trouble signing you in.</h1>\n<p id=\"error\">AADSTS" +
               std::to_string(aadsts) + ": " + html_escape(description) + "</p>\n");
}

Response IdentityPlatform::authorize(const ClientApp& client, const Form& query,
                                     const std::string& endpoint) {
  const auto redirect_uri = param(query, "redirect_uri");
  if (!redirect_uri) {
    return authorize_refused(900144, "The request body must contain the following parameter: "
                                     "'redirect_uri'.");
  }
  if (!redirect_uri_registered(client, *redirect_uri)) {
    return authorize_refused(50011, "The redirect URI '" + redirect_uri->substr(0, 200) +
                                        "' specified in the request does not match the redirect "
                                        "URIs configured for the application '" +
                                        client.client_id + "'.");
  }
  const auto state = param(query, "state");
  // From here on errors go back to the client, as RFC 6749 section 4.1.2.1 says.
  const auto refuse = [&](std::string_view error, int aadsts, const std::string& description) {
    std::vector<std::pair<std::string, std::string>> params{
        {"error", std::string(error)},
        {"error_description", "AADSTS" + std::to_string(aadsts) + ": " + description},
        {"error_uri", "https://login.microsoftonline.com/error?code=" + std::to_string(aadsts)}};
    if (state) {
      params.emplace_back("state", *state);
    }
    return found(with_query(*redirect_uri, params));
  };
  const auto response_type = param(query, "response_type");
  if (!response_type) {
    return refuse("invalid_request", 900144,
                  "The request body must contain the following parameter: 'response_type'.");
  }
  if (*response_type != "code") {
    return refuse("unsupported_response_type", 700054,
                  "response_type '" + response_type->substr(0, 100) +
                      "' is not enabled for the application.");
  }
  const auto scope = param(query, "scope");
  if (!scope) {
    return refuse("invalid_request", 900144,
                  "The request body must contain the following parameter: 'scope'.");
  }
  auto parsed = parse_scopes(*scope);
  if (std::holds_alternative<Response>(parsed)) {
    return refuse("invalid_scope", 70011,
                  "The provided value for the input parameter 'scope' is not valid.");
  }
  const auto challenge = param(query, "code_challenge");
  const auto method = param(query, "code_challenge_method");
  if (challenge || method) {
    if (!challenge || !method || *method != "S256") {
      return refuse("invalid_request", 900144,
                    "The simulator supports PKCE with code_challenge_method=S256 and a "
                    "code_challenge only.");
    }
    if (challenge->size() != 43) {
      return refuse("invalid_request", 501491, "Invalid size of Code_Challenge parameter.");
    }
  }
  const auto hint = param(query, "login_hint");
  if (!hint || !is_upn(*hint)) {
    // The sign-in page: the same request again, with the user name typed in.
    std::string form = "<form method=\"get\" action=\"" + html_escape(endpoint) + "\">\n";
    for (const auto& [name, value] : query) {
      if (name != "login_hint") {
        form += "<input type=\"hidden\" name=\"" + html_escape(name) + "\" value=\"" +
                html_escape(value) + "\">\n";
      }
    }
    form += "<label>Email, phone, or Skype <input type=\"email\" name=\"login_hint\"></label>\n"
            "<button type=\"submit\">Next</button>\n</form>\n";
    return html_page(200, "<h1>Sign in</h1>\n" + form);
  }
  expire_old();
  std::string code;
  do {
    code = "0.AVYA" + random_text(400, url_safe);
  } while (auth_codes_.contains(code));
  AuthorizationCode entry;
  entry.client_id = client.client_id;
  entry.tenant_id = client.tenant_id;
  entry.redirect_uri = *redirect_uri;
  entry.code_challenge = challenge.value_or("");
  entry.upn = lower(*hint);
  entry.scopes = std::get<DelegatedScopes>(std::move(parsed));
  entry.expires = Clock::now() + authorization_code_lifetime;
  auth_codes_.emplace(code, std::move(entry));
  ++stats_.authorizations;
  std::vector<std::pair<std::string, std::string>> params{{"code", code}};
  if (state) {
    params.emplace_back("state", *state);
  }
  params.emplace_back("session_state", random_guid());
  return found(with_query(*redirect_uri, params));
}

Response IdentityPlatform::redeem_authorization_code(const ClientApp& client, const Form& form,
                                                     std::chrono::seconds lifetime) {
  const auto code = param(form, "code");
  if (!code) {
    return missing_parameter("code");
  }
  // A desktop app's redirect URI makes it a public client: no secret, but one is checked when
  // sent.
  if (auto refused = authenticate_client(client, form, true, used_assertions_)) {
    return std::move(*refused);
  }
  const auto refuse = [this](int aadsts, const std::string& description) {
    ++stats_.code_refusals;
    return identity_error(400, "invalid_grant", aadsts, description);
  };
  auto it = auth_codes_.find(*code);
  if (it == auth_codes_.end()) {
    return refuse(9002313, "Invalid request. Request is malformed or invalid.");
  }
  AuthorizationCode& entry = it->second;
  if (entry.client_id != client.client_id || entry.tenant_id != client.tenant_id) {
    return refuse(70000, "The provided value for the 'code' parameter is not valid. The code "
                         "was issued to another application.");
  }
  if (entry.redeemed) {
    return refuse(54005, "OAuth2 Authorization code was already redeemed, please retry with a "
                         "new valid code or use an existing refresh token.");
  }
  if (Clock::now() >= entry.expires) {
    return refuse(70008, "The provided authorization code or refresh token has expired due to "
                         "inactivity. Send a new interactive authorization request for this user "
                         "and resource.");
  }
  const auto redirect_uri = param(form, "redirect_uri");
  if (!redirect_uri) {
    return missing_parameter("redirect_uri");
  }
  if (*redirect_uri != entry.redirect_uri) {
    return refuse(500112, "The reply address '" + redirect_uri->substr(0, 200) +
                              "' does not match the reply address '" + entry.redirect_uri +
                              "' provided when requesting Authorization code.");
  }
  if (!entry.code_challenge.empty()) {
    // A wrong verifier leaves the code usable: only its rightful holder can still redeem it.
    const auto verifier = param(form, "code_verifier");
    if (!verifier || s256(*verifier) != entry.code_challenge) {
      return refuse(50148, "The code_verifier does not match the code_challenge supplied in the "
                           "authorization request for PKCE.");
    }
  }
  entry.redeemed = true;
  ++stats_.code_grants;
  return grant_tokens(Grant{entry.upn, entry.client_id, entry.tenant_id, entry.scopes}, form,
                      lifetime);
}

Response IdentityPlatform::start_device_code(const ClientApp& client, const Form& form) {
  const auto scope = param(form, "scope");
  if (!scope) {
    return missing_parameter("scope");
  }
  auto parsed = parse_scopes(*scope);
  if (auto* refused = std::get_if<Response>(&parsed)) {
    return std::move(*refused);
  }
  expire_old();
  DeviceCode code;
  do {
    code.user_code = random_text(9, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789");
  } while (user_codes_.contains(code.user_code));
  const std::string device_code = "DAQABIQEAAAD" + random_text(180, url_safe);
  code.client_id = client.client_id;
  code.tenant_id = client.tenant_id;
  code.scopes = std::get<DelegatedScopes>(std::move(parsed));
  code.expires = Clock::now() + options_.device_code_lifetime;
  user_codes_[code.user_code] = device_code;
  const std::string user_code = code.user_code;
  device_codes_.emplace(device_code, std::move(code));
  ++stats_.device_codes;
  json::object body{{"user_code", user_code},
                    {"device_code", device_code},
                    {"verification_uri", options_.verification_uri},
                    {"expires_in", options_.device_code_lifetime.count()},
                    {"interval", options_.device_code_interval.count()},
                    {"message", "To sign in, use a web browser to open the page " +
                                    options_.verification_uri + " and enter the code " + user_code +
                                    " to authenticate."}};
  return token_ok(body);
}

Response IdentityPlatform::redeem_device_code(const ClientApp& client, const Form& form,
                                              std::chrono::seconds lifetime) {
  ++stats_.device_polls;
  const auto device_code = param(form, "device_code");
  if (!device_code) {
    return missing_parameter("device_code");
  }
  if (auto refused =
          authenticate_client(client, form, allows_public_client(client), used_assertions_)) {
    return std::move(*refused);
  }
  auto it = device_codes_.find(*device_code);
  if (it == device_codes_.end() || it->second.client_id != client.client_id ||
      it->second.tenant_id != client.tenant_id) {
    return identity_error(400, "bad_verification_code", 70000,
                          "The provided value for the input parameter 'device_code' is not "
                          "valid.");
  }
  DeviceCode& code = it->second;
  const auto now = Clock::now();
  if (code.state == CodeState::redeemed) {
    return identity_error(400, "invalid_grant", 54005,
                          "OAuth2 Authorization code was already redeemed, please retry with a "
                          "new valid code or use an existing refresh token.");
  }
  if (now >= code.expires) {
    return identity_error(400, "expired_token", 70019, "Verification code expired.");
  }
  const auto last = code.last_poll;
  code.last_poll = now;
  if (code.state == CodeState::declined) {
    return identity_error(400, "authorization_declined", 65004,
                          "User declined to consent to access the app.");
  }
  if (code.state == CodeState::pending) {
    if (last && now - *last < options_.device_code_interval) {
      // RFC 8628's slow_down; Entra documents no such answer, but a client must cope.
      return identity_error(400, "slow_down", 70016,
                            "OAuth 2.0 device flow error. The client polls more often than "
                            "every " +
                                std::to_string(options_.device_code_interval.count()) +
                                " seconds.");
    }
    return identity_error(400, "authorization_pending", 70016,
                          "OAuth 2.0 device flow error. Authorization is pending. Continue "
                          "polling.");
  }
  code.state = CodeState::redeemed;
  return grant_tokens(Grant{code.upn, code.client_id, code.tenant_id, code.scopes}, form, lifetime);
}

Response IdentityPlatform::grant_tokens(Grant grant, const Form& form,
                                        std::chrono::seconds lifetime) {
  grant.public_client = !form.contains("client_secret") && !form.contains("client_assertion");
  grant.issued_unix = unix_now();
  grants_.push_back(std::move(grant));
  return issue(grants_.size() - 1, grants_.back().scopes, lifetime);
}

Response IdentityPlatform::redeem_refresh_token(const ClientApp& client, const Form& form,
                                                std::chrono::seconds lifetime) {
  const auto token = param(form, "refresh_token");
  if (!token) {
    return missing_parameter("refresh_token");
  }
  if (auto refused =
          authenticate_client(client, form, allows_public_client(client), used_assertions_)) {
    return std::move(*refused);
  }
  auto it = refresh_tokens_.find(*token);
  if (it == refresh_tokens_.end()) {
    return identity_error(400, "invalid_grant", 9002313,
                          "Invalid request. Request is malformed or invalid.");
  }
  const Grant& grant = grants_[it->second.grant];
  if (grant.client_id != client.client_id || grant.tenant_id != client.tenant_id) {
    return identity_error(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.");
  }
  if (it->second.state == RefreshState::revoked) {
    return identity_error(400, "invalid_grant", 50173,
                          "The provided grant has expired due to it being revoked, a fresh auth "
                          "token is needed. The user might have changed or reset their "
                          "password.");
  }
  if (it->second.state == RefreshState::rotated) {
    ++stats_.refresh_reuses;
    return identity_error(400, "invalid_grant", 70008,
                          "The provided authorization code or refresh token has expired due to "
                          "inactivity. Send a new interactive authorization request for this "
                          "user and resource.");
  }
  DelegatedScopes scopes = grant.scopes;
  if (const auto requested = param(form, "scope")) {
    auto parsed = parse_scopes(*requested);
    if (auto* refused = std::get_if<Response>(&parsed)) {
      return std::move(*refused);
    }
    scopes = std::get<DelegatedScopes>(std::move(parsed));
    const bool subset =
        scopes.resource == grant.scopes.resource &&
        std::all_of(scopes.permissions.begin(), scopes.permissions.end(), [&](const auto& p) {
          return std::find(grant.scopes.permissions.begin(), grant.scopes.permissions.end(), p) !=
                 grant.scopes.permissions.end();
        });
    if (!subset) {
      return identity_error(400, "invalid_grant", 65001,
                            "The user or administrator has not consented to use the application "
                            "with ID '" +
                                client.client_id +
                                "'. Send an interactive authorization request for this user and "
                                "resource.");
    }
    scopes.offline_access = grant.scopes.offline_access;
  }
  it->second.state = RefreshState::rotated;
  ++stats_.refreshes;
  return issue(it->second.grant, scopes, lifetime);
}

std::string IdentityPlatform::access_claims_token(const Grant& grant, const DelegatedScopes& scopes,
                                                  std::chrono::seconds lifetime) const {
  const std::int64_t now = unix_now();
  const std::string upn = lower(grant.upn);
  // Exchange Online's tokens are v1.0 tokens: appid (not azp), upn, unique_name. email is
  // there too, for Dovecot's username_attribute.
  json::object claims{{"aud", scopes.resource},
                      {"iss", issuer_v1(grant.tenant_id)},
                      {"iat", now},
                      {"nbf", now},
                      {"exp", now + lifetime.count()},
                      {"acr", "1"},
                      {"amr", json::array{"pwd"}},
                      {"appid", grant.client_id},
                      {"appidacr", grant.public_client ? "0" : "1"},
                      {"name", display_name(upn)},
                      {"oid", guid_for("user:" + upn)},
                      {"scp", scp_claim(scopes)},
                      {"sub", base64url(guid_for("sub:" + upn + "|" + grant.client_id))},
                      {"tid", grant.tenant_id},
                      {"unique_name", upn},
                      {"upn", upn},
                      {"email", upn},
                      {"uti", random_text(22, url_safe)},
                      {"ver", "1.0"}};
  return sign_hs256(claims, options_.jwt_key);
}

Response IdentityPlatform::issue(std::size_t index, const DelegatedScopes& scopes,
                                 std::chrono::seconds lifetime) {
  const Grant& grant = grants_[index];
  json::object body{{"token_type", "Bearer"},
                    {"scope", scope_text(scopes)},
                    {"expires_in", lifetime.count()},
                    {"ext_expires_in", lifetime.count()},
                    {"access_token", access_claims_token(grant, scopes, lifetime)}};
  if (grant.scopes.offline_access) {
    std::string refresh;
    do {
      refresh = "1.AQIA" + random_text(300, url_safe);
    } while (refresh_tokens_.contains(refresh));
    refresh_tokens_[refresh] = RefreshEntry{index, RefreshState::live};
    body["refresh_token"] = refresh;
  }
  if (grant.scopes.openid) {
    const std::int64_t now = unix_now();
    const std::string upn = lower(grant.upn);
    json::object id{{"aud", grant.client_id},
                    {"iss", "https://login.microsoftonline.com/" + grant.tenant_id + "/v2.0"},
                    {"iat", now},
                    {"nbf", now},
                    {"exp", now + 3600},
                    {"name", display_name(upn)},
                    {"oid", guid_for("user:" + upn)},
                    {"preferred_username", upn},
                    {"sub", base64url(guid_for("sub:" + upn + "|" + grant.client_id))},
                    {"tid", grant.tenant_id},
                    {"ver", "2.0"}};
    if (grant.scopes.email) {
      id["email"] = upn;
    }
    body["id_token"] = sign_hs256(id, options_.jwt_key);
  }
  return token_ok(body);
}

Response IdentityPlatform::app_token(const ClientApp& client, const std::string& scope,
                                     std::chrono::seconds lifetime) {
  const std::int64_t now = unix_now();
  const std::string resource = lower(scope.substr(0, scope.rfind('/')));
  const std::string principal = guid_for("sp:" + lower(client.client_id));
  json::object claims{{"aud", resource},
                      {"iss", issuer_v1(client.tenant_id)},
                      {"iat", now},
                      {"nbf", now},
                      {"exp", now + lifetime.count()},
                      {"appid", client.client_id},
                      {"appidacr", "1"},
                      {"idp", issuer_v1(client.tenant_id)},
                      {"oid", principal},
                      {"sub", principal},
                      {"tid", client.tenant_id},
                      {"uti", random_text(22, url_safe)},
                      {"ver", "1.0"}};
  const auto roles = imap_app_roles(client);
  if (!roles.empty()) {
    json::array list;
    for (const auto& role : roles) {
      list.emplace_back(role);
    }
    claims["roles"] = std::move(list);
  }
  ++stats_.app_tokens;
  json::object body{{"token_type", "Bearer"},
                    {"expires_in", lifetime.count()},
                    {"ext_expires_in", lifetime.count()},
                    {"access_token", sign_hs256(claims, options_.jwt_key)}};
  return token_ok(body);
}

std::optional<Response> IdentityPlatform::control(const Request& request, const std::string& path) {
  static constexpr const char* state_names[] = {"pending", "approved", "declined", "redeemed"};
  if (path == "/_sim/authorizations") {
    json::array list;
    const auto now = Clock::now();
    for (const auto& [code, entry] : auth_codes_) {
      list.push_back(json::object{{"client_id", entry.client_id},
                                  {"upn", entry.upn},
                                  {"scope", scope_text(entry.scopes)},
                                  {"offline_access", entry.scopes.offline_access},
                                  {"redirect_uri", entry.redirect_uri},
                                  {"pkce", entry.code_challenge.empty() ? "none" : "S256"},
                                  {"state", entry.redeemed         ? "redeemed"
                                            : now >= entry.expires ? "expired"
                                                                   : "issued"}});
    }
    return control_answer(200, json::object{{"value", std::move(list)}});
  }
  if (path == "/_sim/devicecodes") {
    json::array list;
    const auto now = Clock::now();
    for (const auto& [device_code, code] : device_codes_) {
      json::object o = describe(code.user_code, code.client_id, scope_text(code.scopes),
                                now >= code.expires && code.state != CodeState::redeemed
                                    ? "expired"
                                    : state_names[static_cast<int>(code.state)],
                                code.upn);
      list.push_back(std::move(o));
    }
    return control_answer(200, json::object{{"value", std::move(list)}});
  }
  if (path != "/_sim/devicecode/approve" && path != "/_sim/devicecode/deny" &&
      path != "/_sim/revoke") {
    return std::nullopt;
  }
  if (request.method() != http::verb::post) {
    return control_error(405, "POST only");
  }
  auto form = parse_query(request.body(), true);
  if (!form) {
    return control_error(400, "the body must be application/x-www-form-urlencoded");
  }
  auto get = [&](const char* name) {
    auto it = form->find(name);
    return it == form->end() ? std::string() : it->second;
  };
  if (path == "/_sim/revoke") {
    const std::string upn = lower(get("upn"));
    if (upn.empty()) {
      return control_error(400, "upn is required");
    }
    std::size_t revoked = 0;
    for (auto& [token, entry] : refresh_tokens_) {
      if (entry.state == RefreshState::live && lower(grants_[entry.grant].upn) == upn) {
        entry.state = RefreshState::revoked;
        ++revoked;
      }
    }
    return control_answer(200, json::object{{"upn", upn}, {"revoked", revoked}});
  }
  const std::string user_code = get("user_code");
  auto found = user_codes_.find(user_code);
  if (found == user_codes_.end()) {
    return control_error(404, "no such user_code");
  }
  DeviceCode& code = device_codes_.at(found->second);
  if (code.state != CodeState::pending || Clock::now() >= code.expires) {
    return control_error(409, "the sign-in is no longer pending");
  }
  if (path == "/_sim/devicecode/deny") {
    code.state = CodeState::declined;
  } else {
    const std::string upn = get("upn");
    if (upn.empty() || upn.find('@') == std::string::npos || upn.size() > 320) {
      return control_error(400, "upn must be a user principal name");
    }
    code.state = CodeState::approved;
    code.upn = lower(upn);
  }
  return control_answer(200, describe(code.user_code, code.client_id, scope_text(code.scopes),
                                      state_names[static_cast<int>(code.state)], code.upn));
}

} // namespace icalgate::graphsim
