#pragma once
// What the Graph client and the identity-platform client both need of the Microsoft
// identity platform: the app registration's settings, the tenant's OAuth 2.0 endpoints, and
// the token endpoint's answers. Its JSON is read strictly: a value too long or holding
// control characters reads as absent, so that nothing the platform echoes can forge a log
// line, and error summaries keep only the parts that carry no request data.

#include "calendar/client_assertion.hpp"
#include "calendar/graph_error.hpp"
#include "calendar/http_transport.hpp"
#include "calendar/retried_exchange.hpp"
#include "calendar/token_cache.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace icalgate::calendar {

// Settings and request parameters with control characters are refused: they would end up in
// request lines, form bodies and log lines.
bool has_control(std::string_view text);
std::string trim(std::string_view text);

namespace identity_platform {

// `section` names the settings in messages ("graph" gives "graph.tenant is empty ...").
std::optional<GraphError> check_registration(std::string_view section, std::string_view tenant,
                                             std::string_view client_id);

// The client secret: the file's content with surrounding space trimmed.
GraphResult<std::string> read_client_secret(std::string_view section, const std::string& path);

// {authority}/{tenant}/oauth2/v2.0/{name}, e.g. name "token" or "devicecode".
HttpUrl tenant_endpoint(const HttpUrl& authority, std::string_view tenant, std::string_view name);

// The URL as text, the port left out when it is the scheme's default: what a client
// assertion's aud names ("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token").
std::string url_text(const HttpUrl& url);

// How the app authenticates to the token endpoint: its secret, its certificate, or (a
// public client) neither.
struct ClientCredential {
  std::string secret;
  std::optional<CertificateCredential> certificate;
  bool empty() const { return secret.empty() && !certificate; }
};

// Reads the secret file, or the certificate and key files, named by `section`'s settings.
// Nothing set gives an empty credential; a secret together with a certificate is refused.
GraphResult<ClientCredential> load_client_credential(std::string_view section,
                                                     const std::string& client_secret_file,
                                                     const std::string& certificate_file,
                                                     const std::string& private_key_file);

// POSTs the form `fields` to the token endpoint `request.url` through `exchange`, the app's
// credential appended to every attempt: a certificate signs a new assertion each time, since
// the platform may refuse a jti it has seen and a lost answer does not tell whether it saw it.
boost::asio::awaitable<GraphResult<HttpResponse>>
post_with_credential(RetriedExchange& exchange, HttpRequest request, std::string fields,
                     const ClientCredential& credential, std::string client_id, bool repeatable);

// The identity platform's answers are shallow; deeper documents are refused.
inline constexpr std::size_t max_json_depth = 32;

// A string member, or empty when absent, not a string, longer than `limit` or holding
// control characters (none of the identity platform's values has any).
std::string string_member(const boost::json::object& object, std::string_view key,
                          std::size_t limit = 512);

// Seconds as the identity platform writes them: a number, or (older endpoints) a string.
long long seconds_member(const boost::json::object& object, std::string_view key);

// The identity platform's error, {"error":"invalid_grant","error_description":"AADSTS50173:
// …","error_codes":[50173],…}, as its two stable parts. The description is left out: it
// may quote what the request sent.
struct ErrorBody {
  std::string error; // "" when the body is not such an error
  std::string code;  // "AADSTS50173", or ""
};
ErrorBody error_of(const HttpResponse& response);

// "{what} refused: HTTP 401 invalid_client (AADSTS7000215)": auth, throttled (429) or
// unavailable (5xx).
GraphError refused(const HttpResponse& response, std::string_view what);

// The app's token from a client-credentials answer; `what` ("app token") names it in errors.
GraphResult<AccessToken> read_app_token(const HttpResponse& response, std::string_view what);

} // namespace identity_platform
} // namespace icalgate::calendar
