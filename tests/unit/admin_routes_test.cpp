// The admin endpoint's routing: status codes, content types, Allow, and query parsing.

#include "admin_test_support.hpp"
#include "proxy/http_routes.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>

using namespace icalgate::proxy;

namespace {

const std::string* header(const HttpReply& reply, const std::string& name) {
  for (const auto& [key, value] : reply.headers) {
    if (key == name) {
      return &value;
    }
  }
  return nullptr;
}

Config addon_config() {
  Config c;
  c.auth.client_id = "8d0f7a52-6c1b-4f0e-9a7e-3c2d1e0f4b5a";
  c.auth.tenant = "contoso.onmicrosoft.com";
  return c;
}

} // namespace

TEST_CASE("routes: health, autoconfig, add-on and enrolment", "[admin][routes]") {
  const AdminRoutes routes(addon_config(), {"imap.contoso.com"});

  const HttpReply health = routes.handle("GET", "/healthz");
  CHECK(health.status == 200);
  CHECK(health.body == "ok\n");
  CHECK(health.content_type == "text/plain; charset=utf-8");
  CHECK(health.routine);

  for (const char* path :
       {"/mail/config-v1.1.xml?emailaddress=alice%40contoso.com",
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40contoso.com"}) {
    INFO(path);
    const HttpReply xml = routes.handle("GET", path);
    CHECK(xml.status == 200);
    CHECK(xml.content_type == "application/xml; charset=utf-8");
    const auto root = icalgate::test::XmlReader::parse(xml.body);
    REQUIRE(root.has_value());
    CHECK(root->all("emailProvider").front()->text_of("domain") == "contoso.com");
    CHECK_FALSE(xml.routine);
  }

  const HttpReply xpi = routes.handle("GET", "/thunderbird/icalgate-oauth.xpi");
  CHECK(xpi.status == 200);
  CHECK(xpi.content_type == "application/x-xpinstall");
  REQUIRE(header(xpi, "Content-Disposition") != nullptr);
  CHECK(*header(xpi, "Content-Disposition") == "attachment; filename=\"icalgate-oauth.xpi\"");
  std::string why;
  const auto files = icalgate::test::read_stored_zip(xpi.body, why);
  REQUIRE(files.has_value());
  CHECK(files->front().name == "manifest.json");
  CHECK(routes.handle("GET", "/thunderbird/icalgate-oauth.xpi").body == xpi.body);

  // Passthrough only: nobody to enrol (tests/unit/admin_enrol_test.cpp has the rest).
  const HttpReply enrol = routes.handle("GET", "/enrol");
  CHECK(enrol.status == 404);
  CHECK(enrol.body ==
        "enrolment is not offered here: no account logs in with the delegated mode\n");
}

TEST_CASE("routes: HEAD is GET; other methods get 405 with Allow", "[admin][routes]") {
  const AdminRoutes routes(addon_config(), {"imap.contoso.com"});
  CHECK(routes.handle("HEAD", "/healthz") == routes.handle("GET", "/healthz"));
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "get", "BREW"}) {
    INFO(method);
    const HttpReply reply = routes.handle(method, "/healthz");
    CHECK(reply.status == 405);
    CHECK(reply.body == "method not allowed\n");
    REQUIRE(header(reply, "Allow") != nullptr);
    CHECK(*header(reply, "Allow") == "GET, HEAD");
  }
}

TEST_CASE("routes: unknown paths are 404, odd targets 400", "[admin][routes]") {
  const AdminRoutes routes(addon_config(), {"imap.contoso.com"});
  for (const char* path : {"/", "/healthz/", "/HEALTHZ", "/healthz/../healthz", "/mail",
                           "/thunderbird/other.xpi", "/enrol/x", "//healthz"}) {
    INFO(path);
    const HttpReply reply = routes.handle("GET", path);
    CHECK(reply.status == 404);
    CHECK(reply.body == "not found\n");
    CHECK(header(reply, "Allow") == nullptr);
  }
  CHECK(routes.handle("POST", "/nowhere").status == 404);
  CHECK(routes.handle("GET", "/healthz?x=1").status == 200);
  for (const char* target : {"", "*", "healthz", "http://gw.test/healthz"}) {
    INFO(target);
    CHECK(routes.handle("GET", target).status == 400);
  }
}

TEST_CASE("routes: the add-on and autoconfig say why they are missing", "[admin][routes]") {
  const AdminRoutes no_id(Config{}, {"imap.contoso.com"});
  const HttpReply xpi = no_id.handle("GET", "/thunderbird/icalgate-oauth.xpi");
  CHECK(xpi.status == 404);
  CHECK(xpi.body.find("[auth] client_id") != std::string::npos);
  CHECK(xpi.content_type == "text/plain; charset=utf-8");

  const AdminRoutes no_names(addon_config(), {});
  CHECK(no_names.handle("GET", "/thunderbird/icalgate-oauth.xpi").status == 404);
  const HttpReply xml = no_names.handle("GET", "/mail/config-v1.1.xml");
  CHECK(xml.status == 404);
  CHECK(xml.body == "the gateway has no host name: set [admin] hostnames\n");
}

TEST_CASE("routes: query parameters are percent-decoded", "[admin][routes]") {
  CHECK(query_parameter("emailaddress=alice%40contoso.com", "emailaddress") == "alice@contoso.com");
  CHECK(query_parameter("a=1&emailaddress=b%2Bc%40d.test&emailaddress=x", "emailaddress") ==
        "b+c@d.test");
  CHECK(query_parameter("q=a+b", "q") == "a b");
  CHECK(query_parameter("flag&q=", "flag") == "");
  CHECK(query_parameter("q=", "q") == "");
  CHECK(query_parameter("other=1", "q") == std::nullopt);
  CHECK(query_parameter("", "q") == std::nullopt);
  CHECK(query_parameter("q=%4", "q") == std::nullopt);
  CHECK(query_parameter("q=%", "q") == std::nullopt);
  CHECK(query_parameter("q=%zz", "q") == std::nullopt);
  CHECK(query_parameter("q=%41%62", "q") == "Ab");
  CHECK(query_parameter("xq=1&q=2", "q") == "2");
}
