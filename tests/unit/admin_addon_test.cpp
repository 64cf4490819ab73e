// The Thunderbird add-on (manifest.json in an .xpi) generated from the configuration, parsed
// back and checked against what Thunderbird's oauth_provider schema requires.

#include "admin_test_support.hpp"
#include "proxy/thunderbird_addon.hpp"

#include <boost/json.hpp>
#include <catch2/catch_test_macros.hpp>

#include <set>
#include <string>
#include <vector>

using namespace icalgate::proxy;
namespace json = boost::json;

namespace {

Config passthrough_config() {
  Config c;
  c.auth.client_id = "8d0f7a52-6c1b-4f0e-9a7e-3c2d1e0f4b5a";
  c.auth.tenant = "contoso.onmicrosoft.com";
  return c;
}

json::object parse_object(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  INFO(text);
  REQUIRE_FALSE(ec);
  REQUIRE(v.is_object());
  return v.as_object();
}

std::set<std::string> keys_of(const json::object& o) {
  std::set<std::string> out;
  for (const auto& member : o) {
    out.emplace(member.key());
  }
  return out;
}

std::string str(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  REQUIRE(v != nullptr);
  REQUIRE(v->is_string());
  return std::string(v->as_string());
}

} // namespace

TEST_CASE("addon: the manifest registers the gateway's OAuth provider", "[admin][addon]") {
  const auto addon =
      thunderbird_addon_for(passthrough_config(), {"imap.contoso.com", "imap2.contoso.com"});
  REQUIRE(addon.ok());
  const json::object manifest = parse_object(addon_manifest_json(*addon));
  CHECK(keys_of(manifest) == std::set<std::string>{"manifest_version", "name", "description",
                                                   "version", "browser_specific_settings",
                                                   "oauth_provider"});
  CHECK(manifest.at("manifest_version").as_int64() == 2);
  CHECK(str(manifest, "name") == "icalgate sign-in for imap.contoso.com");
  CHECK(str(manifest, "version") == "1.0");
  const json::object& gecko =
      manifest.at("browser_specific_settings").as_object().at("gecko").as_object();
  CHECK(str(gecko, "id") == "icalgate-oauth@imap.contoso.com");
  CHECK(str(gecko, "strict_min_version") == "140.0");

  // Exactly the keys of Thunderbird 140's schema: every required one, nothing it would
  // reject as unknown.
  const json::object& p = manifest.at("oauth_provider").as_object();
  CHECK(keys_of(p) == std::set<std::string>{"issuer", "clientId", "authorizationEndpoint",
                                            "tokenEndpoint", "redirectionEndpoint", "usePKCE",
                                            "hostnames", "scopes"});
  CHECK(str(p, "issuer") == "icalgate.imap.contoso.com");
  CHECK(str(p, "issuer") != "login.microsoftonline.com"); // built in: registering it throws
  CHECK(str(p, "clientId") == "8d0f7a52-6c1b-4f0e-9a7e-3c2d1e0f4b5a");
  CHECK(str(p, "authorizationEndpoint") ==
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize");
  CHECK(str(p, "tokenEndpoint") ==
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
  // https: Thunderbird 153 upgrades a redirect to http://localhost and then misses it.
  CHECK(str(p, "redirectionEndpoint") == "https://localhost");
  CHECK(p.at("usePKCE").as_bool());
  CHECK(str(p, "scopes") == "https://outlook.office.com/IMAP.AccessAsUser.All offline_access");
  const json::array& hosts = p.at("hostnames").as_array();
  REQUIRE(hosts.size() == 2);
  CHECK(hosts[0].as_string() == "imap.contoso.com");
  CHECK(hosts[1].as_string() == "imap2.contoso.com");
}

TEST_CASE("addon: the .xpi holds exactly that manifest", "[admin][addon]") {
  const auto addon = thunderbird_addon_for(passthrough_config(), {"imap.contoso.com"});
  REQUIRE(addon.ok());
  const auto xpi = addon_xpi(*addon);
  REQUIRE(xpi.ok());
  std::string why;
  const auto files = icalgate::test::read_stored_zip(*xpi, why);
  INFO(why);
  REQUIRE(files.has_value());
  REQUIRE(files->size() == 1);
  CHECK(files->front().name == "manifest.json");
  CHECK(files->front().data == addon_manifest_json(*addon));
  const auto again = addon_xpi(*thunderbird_addon_for(passthrough_config(), {"imap.contoso.com"}));
  REQUIRE(again.ok());
  CHECK(*again == *xpi);
}

TEST_CASE("addon: endpoints follow the authority and tenant", "[admin][addon]") {
  Config c = passthrough_config();
  c.auth.authority = "http://127.0.0.1:18080/";
  c.auth.tenant.clear();
  const auto addon = thunderbird_addon_for(c, {"127.0.0.1"});
  REQUIRE(addon.ok());
  // Without a tenant, any work account signs in ("organizations").
  CHECK(addon->authorization_endpoint ==
        "http://127.0.0.1:18080/organizations/oauth2/v2.0/authorize");
  CHECK(addon->token_endpoint == "http://127.0.0.1:18080/organizations/oauth2/v2.0/token");
  CHECK(addon->id == "icalgate-oauth@127.0.0.1");

  // An IPv6 literal cannot go into an add-on ID as it is.
  const auto v6 = thunderbird_addon_for(c, {"::1"});
  REQUIRE(v6.ok());
  CHECK(v6->id == "icalgate-oauth@--1");
  CHECK(v6->hostnames == std::vector<std::string>{"::1"});
}

TEST_CASE("addon: values are JSON-escaped", "[admin][addon]") {
  Config c = passthrough_config();
  c.auth.client_id = "a\"b\\c";
  const auto addon = thunderbird_addon_for(c, {"imap.contoso.com"});
  REQUIRE(addon.ok());
  const json::object manifest = parse_object(addon_manifest_json(*addon));
  CHECK(str(manifest.at("oauth_provider").as_object(), "clientId") == "a\"b\\c");
}

TEST_CASE("addon: none without a client ID, passthrough or host name", "[admin][addon]") {
  Config c = passthrough_config();
  CHECK_FALSE(thunderbird_addon_for(c, {}).ok());
  c.auth.client_id.clear();
  const auto no_id = thunderbird_addon_for(c, {"imap.contoso.com"});
  REQUIRE_FALSE(no_id.ok());
  CHECK(no_id.error().message.find("client_id") != std::string::npos);
  c = passthrough_config();
  c.auth.mode = AuthMode::app;
  CHECK_FALSE(thunderbird_addon_for(c, {"imap.contoso.com"}).ok());
  // One passthrough account is enough to need it.
  c.auth.accounts = {{"@fabrikam.com", AuthMode::passthrough}};
  CHECK(thunderbird_addon_for(c, {"imap.contoso.com"}).ok());
}
