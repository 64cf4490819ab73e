#pragma once
// The apps registered with the simulated identity platform, DIR/clients.json (re-read on
// every request):
//   {"clients": [{"tenant": "contoso.onmicrosoft.com", "tenant_id": "<guid>",
//                 "client_id": "<guid>", "client_secret": "…",
//                 "certificates": ["app.crt", "-----BEGIN CERTIFICATE-----\n…"],
//                 "allow_public_client": true,
//                 "imap_app_roles": ["IMAP.AccessAsApp"]}]}
// certificates (or one "certificate") are the app's certificate credentials: PEM text, or
// the path of a PEM file (relative to DIR). A client_assertion is checked as Entra does:
// a JWT signed RS256 (or PS256) by the key of a registered certificate named by its x5t
// (SHA-1) or x5t#S256 thumbprint, aud the token endpoint the request was sent to
// (http://{Host}/{tenant name or id}/oauth2/v2.0/token), iss = sub = client_id, a jti,
// exp in the future and nbf not (no clock skew allowed: the tests run on one machine), and
// a jti not presented before: OpenID Connect Core §9 and RFC 7523 §3 let the server refuse a
// replayed assertion, so a client must sign a new one for every request, retries included.
// (The refusal's wording and AADSTS code are the simulator's; Entra's are not documented.)
// allow_public_client (default true) is Entra's "Allow public client flows": without it
// the device-code grant must carry the client's secret. imap_app_roles (default
// ["IMAP.AccessAsApp"]) are the application permissions the admin consented to on Office
// 365 Exchange Online: the `roles` of the app's outlook.office365.com token.

#include "tests/graphsim/sim_responses.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace icalgate::graphsim {

using Form = std::map<std::string, std::string>;

struct ClientApp {
  std::string tenant;    // as the URL named it
  std::string tenant_id; // GUID (clients.json's, or derived from the name)
  std::string client_id;
  boost::json::object entry;
  std::vector<std::string> certificates; // PEM texts
  // The audiences a client assertion may name: set by the token endpoint.
  std::vector<std::string> token_endpoints;
};

// The apps of `tenant` (a name or a tenant id); empty when the tenant is unknown.
std::vector<ClientApp> clients_of_tenant(const std::string& data_dir, const std::string& tenant);

// Microsoft's answers for an unknown tenant and an unknown client.
Response tenant_not_found(const std::string& tenant);
Response client_not_found(const std::string& client_id, const std::string& tenant);
Response missing_parameter(std::string_view name);

// The jti of every client assertion accepted, until it expires.
class UsedAssertions {
 public:
  // False when (client, jti) was accepted before and has not expired; else records it.
  bool first_use(const std::string& client_id, const std::string& jti, std::int64_t exp,
                 std::int64_t now);

 private:
  std::map<std::string, std::int64_t> expiry_; // client_id '\n' jti → exp
};

// The client's credentials in `form`: client_secret, or a client_assertion. Without
// either, `public_allowed` decides. nullopt: authenticated.
std::optional<Response> authenticate_client(const ClientApp& client, const Form& form,
                                            bool public_allowed, UsedAssertions& used);

bool allows_public_client(const ClientApp& client);
std::vector<std::string> imap_app_roles(const ClientApp& client);

} // namespace icalgate::graphsim
