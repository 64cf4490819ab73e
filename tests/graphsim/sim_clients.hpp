#pragma once
// The apps registered with the simulated identity platform, DIR/clients.json (re-read on
// every request):
//   {"clients": [{"tenant": "contoso.onmicrosoft.com", "tenant_id": "<guid>",
//                 "client_id": "<guid>", "client_secret": "…", "client_assertion": "…",
//                 "allow_public_client": true,
//                 "imap_app_roles": ["IMAP.AccessAsApp"]}]}
// A client_assertion is compared as a string: the simulator checks no assertion signatures.
// allow_public_client (default true) is Entra's "Allow public client flows": without it
// the device-code grant must carry the client's secret. imap_app_roles (default
// ["IMAP.AccessAsApp"]) are the application permissions the admin consented to on Office
// 365 Exchange Online: the `roles` of the app's outlook.office365.com token.

#include "tests/graphsim/sim_responses.hpp"

#include <boost/json/object.hpp>

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
};

// The apps of `tenant` (a name or a tenant id); empty when the tenant is unknown.
std::vector<ClientApp> clients_of_tenant(const std::string& data_dir, const std::string& tenant);

// Microsoft's answers for an unknown tenant and an unknown client.
Response tenant_not_found(const std::string& tenant);
Response client_not_found(const std::string& client_id, const std::string& tenant);
Response missing_parameter(std::string_view name);

// The client's credentials in `form`: client_secret, or a client_assertion. Without
// either, `public_allowed` decides. nullopt: authenticated.
std::optional<Response> authenticate_client(const ClientApp& client, const Form& form,
                                            bool public_allowed);

bool allows_public_client(const ClientApp& client);
std::vector<std::string> imap_app_roles(const ClientApp& client);

} // namespace icalgate::graphsim
