// Thunderbird autoconfig for the gateway, parsed back with a strict XML reader and checked
// against what Thunderbird's readFromXML needs.

#include "admin_test_support.hpp"
#include "proxy/autoconfig.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>
#include <vector>

using namespace icalgate::proxy;
using icalgate::test::XmlElement;
using icalgate::test::XmlReader;

namespace {

struct Server {
  std::string type, hostname, port, socket, username, authentication;
  friend bool operator==(const Server&, const Server&) = default;
};

std::vector<Server> servers(const XmlElement& provider, const char* kind) {
  std::vector<Server> out;
  for (const XmlElement* s : provider.all(kind)) {
    REQUIRE(s->attributes.count("type") == 1);
    out.push_back(Server{s->attributes.at("type"), s->text_of("hostname").value_or("?"),
                         s->text_of("port").value_or("?"), s->text_of("socketType").value_or("?"),
                         s->text_of("username").value_or("?"),
                         s->text_of("authentication").value_or("?")});
  }
  return out;
}

XmlElement provider_of(const std::string& xml) {
  INFO(xml);
  const auto root = XmlReader::parse(xml);
  REQUIRE(root.has_value());
  CHECK(root->name == "clientConfig");
  CHECK(root->attributes == std::map<std::string, std::string>{{"version", "1.1"}});
  const auto providers = root->all("emailProvider");
  REQUIRE(providers.size() == 1);
  return *providers.front();
}

Config gateway_config() {
  Config c;
  c.listen.imaps = Endpoint{"0.0.0.0", 993};
  c.listen.imap = Endpoint{"0.0.0.0", 143};
  c.auth.tenant = "contoso.onmicrosoft.com";
  return c;
}

} // namespace

TEST_CASE("autoconfig: IMAP on the gateway's names and ports, OAuth2 for passthrough",
          "[admin][autoconfig]") {
  const auto made = autoconfig_for(gateway_config(), {"imap.contoso.com", "imap2.contoso.com"},
                                   "alice@contoso.com");
  REQUIRE(made.ok());
  const XmlElement provider = provider_of(autoconfig_xml(*made));
  CHECK(provider.attributes.at("id") == "contoso.com");
  CHECK(provider.text_of("domain") == "contoso.com");
  CHECK(provider.text_of("displayName").has_value());
  CHECK(provider.text_of("displayShortName").has_value());
  CHECK(servers(provider, "incomingServer") ==
        std::vector<Server>{
            {"imap", "imap.contoso.com", "993", "SSL", "%EMAILADDRESS%", "OAuth2"},
            {"imap", "imap.contoso.com", "143", "STARTTLS", "%EMAILADDRESS%", "OAuth2"},
            {"imap", "imap2.contoso.com", "993", "SSL", "%EMAILADDRESS%", "OAuth2"},
            {"imap", "imap2.contoso.com", "143", "STARTTLS", "%EMAILADDRESS%", "OAuth2"},
        });
  // Thunderbird refuses a file without an outgoing server; Exchange Online's is the one.
  CHECK(servers(provider, "outgoingServer") ==
        std::vector<Server>{
            {"smtp", "smtp.office365.com", "587", "STARTTLS", "%EMAILADDRESS%", "OAuth2"}});
}

TEST_CASE("autoconfig: a gateway password for delegated and app accounts", "[admin][autoconfig]") {
  Config c = gateway_config();
  c.listen.imap.reset();
  c.listen.imaps = Endpoint{"127.0.0.1", 9993};
  c.auth.mode = AuthMode::delegated;
  c.auth.accounts = {{"@fabrikam.com", AuthMode::passthrough}};
  const auto delegated = autoconfig_for(c, {"imap.contoso.com"}, "bob@contoso.com");
  REQUIRE(delegated.ok());
  CHECK(servers(provider_of(autoconfig_xml(*delegated)), "incomingServer") ==
        std::vector<Server>{
            {"imap", "imap.contoso.com", "9993", "SSL", "%EMAILADDRESS%", "password-cleartext"}});
  // The account's own mode decides.
  const auto fabrikam = autoconfig_for(c, {"imap.contoso.com"}, "carol@Fabrikam.com");
  REQUIRE(fabrikam.ok());
  const XmlElement provider = provider_of(autoconfig_xml(*fabrikam));
  CHECK(provider.text_of("domain") == "fabrikam.com");
  CHECK(servers(provider, "incomingServer").front().authentication == "OAuth2");
}

TEST_CASE("autoconfig: the domain when the request names no usable address",
          "[admin][autoconfig]") {
  Config c = gateway_config();
  for (const char* junk : {"", "alice", "@", "alice@", "a@b@evil<x>.com", "alice@contoso"}) {
    INFO(junk);
    const auto made = autoconfig_for(c, {"imap.contoso.com"}, junk);
    REQUIRE(made.ok());
    CHECK(made->domain == "contoso.onmicrosoft.com");
    CHECK(provider_of(autoconfig_xml(*made)).text_of("domain") == "contoso.onmicrosoft.com");
  }
  c.auth.tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"; // a GUID is no domain
  const auto made = autoconfig_for(c, {"imap.contoso.com"}, "");
  REQUIRE(made.ok());
  CHECK(made->domain == "imap.contoso.com");
  CHECK_FALSE(autoconfig_for(c, {}, "alice@contoso.com").ok());
}

TEST_CASE("autoconfig: text is XML-escaped", "[admin][autoconfig]") {
  Autoconfig a;
  a.domain = "a&b<c>\"d'";
  a.hostnames = {"x&y"};
  a.imaps_port = 993;
  const XmlElement provider = provider_of(autoconfig_xml(a));
  CHECK(provider.attributes.at("id") == "a&b<c>\"d'");
  CHECK(provider.text_of("domain") == "a&b<c>\"d'");
  CHECK(servers(provider, "incomingServer").front().hostname == "x&y");
  // The reader itself refuses what is not escaped.
  CHECK_FALSE(XmlReader::parse("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a>x&y</a>\n"));
  CHECK_FALSE(XmlReader::parse("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a><b></a></b>\n"));
  CHECK(XmlReader::parse("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a>x&amp;y</a>\n"));
}
