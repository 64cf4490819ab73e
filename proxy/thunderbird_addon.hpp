#pragma once
// The Thunderbird add-on that makes passthrough logins possible: Thunderbird offers OAuth2
// only for servers whose OAuth provider it knows, and since Thunderbird 140 a WebExtension
// can register one for any host names with the manifest key `oauth_provider`. The add-on is
// that manifest alone, generated from the configuration: the gateway's host names, the
// tenant's Microsoft identity platform endpoints and the admin's public client ID.
//
// What Thunderbird requires of it (mail/components/extensions/schemas/oauth_provider.json
// and modules/OAuth2Providers.sys.mjs of Thunderbird 140-153): issuer, clientId,
// authorizationEndpoint, tokenEndpoint, redirectionEndpoint, hostnames (at least one) and
// scopes; usePKCE optional. registerProvider() throws if the issuer or a host name is
// already known, so the issuer cannot be Thunderbird's built-in "login.microsoftonline.com".
// A server's provider is found by its lower-cased host name, and only for names with a dot.

#include "protocol/result.hpp"
#include "proxy/config.hpp"

#include <string>
#include <vector>

namespace icalgate::proxy {

// Exchange Online's IMAP permission, plus a refresh token so Thunderbird stays signed in.
inline constexpr std::string_view imap_oauth_scopes =
    "https://outlook.office.com/IMAP.AccessAsUser.All offline_access";
// Where the sign-in returns to: the Entra app registration lists it as a "Mobile and desktop
// applications" redirect URI. Thunderbird signs in to an add-on's provider in a window of its
// own and takes the code from the first address there that starts with this URI. Not
// OAuth2.sys.mjs's default http://localhost: Thunderbird 153 loads Entra's redirect to
// http://localhost/?code=… as https://localhost/?code=…, which that prefix never matches, and
// the sign-in hangs (tests/integration/test_thunderbird_oauth.py). Its own Microsoft sign-in
// goes to the system browser instead (useExternalBrowser), a manifest key that Thunderbird
// 140, the add-on's minimum, may not know: an unknown key can stop the add-on installing.
inline constexpr std::string_view thunderbird_redirect_uri = "https://localhost";
inline constexpr std::string_view addon_min_thunderbird = "140.0";

struct ThunderbirdAddon {
  std::string id;   // browser_specific_settings.gecko.id
  std::string name; // shown in Thunderbird's add-on manager
  std::string description;
  std::string version = "1.0";
  // oauth_provider
  std::string issuer;
  std::string client_id;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string redirection_endpoint = std::string(thunderbird_redirect_uri);
  std::string scopes = std::string(imap_oauth_scopes);
  std::vector<std::string> hostnames;
  bool use_pkce = true;
};

// The add-on for this gateway, or why there is none: no [auth] client_id, no account in
// passthrough mode, no host name. An empty tenant signs in with "organizations" (any work
// account), so that the tenant stays optional for passthrough.
protocol::Result<ThunderbirdAddon> thunderbird_addon_for(const Config& config,
                                                         const std::vector<std::string>& hostnames);

// manifest.json: UTF-8, two-space indented, the same bytes for the same add-on.
std::string addon_manifest_json(const ThunderbirdAddon& addon);

// The .xpi: a zip holding manifest.json.
protocol::Result<std::string> addon_xpi(const ThunderbirdAddon& addon);

} // namespace icalgate::proxy
