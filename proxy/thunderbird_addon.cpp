#include "proxy/thunderbird_addon.hpp"

#include "proxy/logging.hpp"
#include "proxy/zip_writer.hpp"

#include <algorithm>

namespace icalgate::proxy {

namespace {

// Gecko add-on IDs and login-manager origins take [a-z0-9._-]; an IPv6 literal's ':' does not
// fit, so every other byte becomes '-'.
std::string id_safe(std::string_view host) {
  std::string out;
  for (const char c : host) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    out += ok ? c : '-';
  }
  return out;
}

} // namespace

protocol::Result<ThunderbirdAddon>
thunderbird_addon_for(const Config& config, const std::vector<std::string>& hostnames) {
  using protocol::Errc;
  const AuthConfig& auth = config.auth;
  if (!auth.uses(AuthMode::passthrough)) {
    return protocol::make_error(
        Errc::not_found, "no account uses passthrough mode, so clients log in with a gateway "
                         "password and need no add-on");
  }
  if (auth.client_id.empty()) {
    return protocol::make_error(Errc::not_found,
                                "the Thunderbird add-on needs [auth] client_id: the Entra app "
                                "registration Thunderbird signs in with");
  }
  if (hostnames.empty()) {
    return protocol::make_error(Errc::not_found,
                                "the gateway has no host name: set [admin] hostnames");
  }
  std::string authority = auth.authority;
  while (!authority.empty() && authority.back() == '/') {
    authority.pop_back();
  }
  const std::string tenant = auth.tenant.empty() ? "organizations" : auth.tenant;
  const std::string& main_host = hostnames.front();

  ThunderbirdAddon addon;
  addon.id = "icalgate-oauth@" + id_safe(main_host);
  addon.name = "icalgate sign-in for " + main_host;
  addon.description = "Lets Thunderbird sign in to Microsoft 365 with OAuth2 through the "
                      "icalgate gateway " +
                      main_host + ".";
  // One issuer per gateway: Thunderbird keeps the refresh tokens under "oauth://<issuer>".
  addon.issuer = "icalgate." + id_safe(main_host);
  addon.client_id = auth.client_id;
  addon.authorization_endpoint = authority + "/" + tenant + "/oauth2/v2.0/authorize";
  addon.token_endpoint = authority + "/" + tenant + "/oauth2/v2.0/token";
  addon.hostnames = hostnames;
  return addon;
}

std::string addon_manifest_json(const ThunderbirdAddon& a) {
  std::string out;
  const auto line = [&out](int depth, std::string_view text) {
    out.append(static_cast<std::size_t>(depth) * 2, ' ');
    out += text;
    out += '\n';
  };
  const auto member = [](std::string_view key, std::string_view value, bool last = false) {
    return json_quote(key) + ": " + json_quote(value) + (last ? "" : ",");
  };
  line(0, "{");
  line(1, "\"manifest_version\": 2,");
  line(1, member("name", a.name));
  line(1, member("description", a.description));
  line(1, member("version", a.version));
  line(1, "\"browser_specific_settings\": {");
  line(2, "\"gecko\": {");
  line(3, member("id", a.id));
  line(3, member("strict_min_version", addon_min_thunderbird, true));
  line(2, "}");
  line(1, "},");
  line(1, "\"oauth_provider\": {");
  line(2, member("issuer", a.issuer));
  line(2, member("clientId", a.client_id));
  line(2, member("authorizationEndpoint", a.authorization_endpoint));
  line(2, member("tokenEndpoint", a.token_endpoint));
  line(2, member("redirectionEndpoint", a.redirection_endpoint));
  line(2, std::string("\"usePKCE\": ") + (a.use_pkce ? "true" : "false") + ",");
  line(2, "\"hostnames\": [");
  for (std::size_t i = 0; i < a.hostnames.size(); ++i) {
    line(3, json_quote(a.hostnames[i]) + (i + 1 < a.hostnames.size() ? "," : ""));
  }
  line(2, "],");
  line(2, member("scopes", a.scopes, true));
  line(1, "}");
  line(0, "}");
  return out;
}

protocol::Result<std::string> addon_xpi(const ThunderbirdAddon& addon) {
  return write_zip({ZipEntry{"manifest.json", addon_manifest_json(addon)}});
}

} // namespace icalgate::proxy
