#include "proxy/capabilities.hpp"

#include <catch2/catch_test_macros.hpp>

#include <algorithm>

using namespace icalgate::proxy;

namespace {

bool has(const std::vector<std::string>& caps, std::string_view cap) {
  return std::find(caps.begin(), caps.end(), cap) != caps.end();
}

} // namespace

TEST_CASE("capabilities: plain port before TLS offers STARTTLS and no mechanism",
          "[capabilities]") {
  const auto caps = preauth_capabilities(false, default_auth_capabilities());
  CHECK(caps.front() == "IMAP4rev1");
  CHECK(has(caps, "STARTTLS"));
  CHECK(has(caps, "LOGINDISABLED"));
  CHECK_FALSE(has(caps, "AUTH=PLAIN"));
}

TEST_CASE("capabilities: after TLS the upstream's mechanisms, defaulting to Exchange's",
          "[capabilities]") {
  const auto defaults = preauth_capabilities(true, default_auth_capabilities());
  CHECK(has(defaults, "AUTH=PLAIN"));
  CHECK(has(defaults, "AUTH=XOAUTH2"));
  CHECK(has(defaults, "SASL-IR"));
  CHECK_FALSE(has(defaults, "STARTTLS"));
  CHECK_FALSE(has(defaults, "LOGINDISABLED"));

  const auto learned =
      auth_capabilities_from({"IMAP4rev1", "LITERAL+", "auth=plain", "AUTH=OAUTHBEARER", "IDLE"});
  CHECK(learned.mechanisms == std::vector<std::string>{"PLAIN", "OAUTHBEARER"});
  CHECK_FALSE(learned.sasl_ir);
  CHECK(learned.literal_plus);
  const auto caps = preauth_capabilities(true, learned);
  CHECK(has(caps, "AUTH=OAUTHBEARER"));
  CHECK_FALSE(has(caps, "AUTH=XOAUTH2"));
  CHECK_FALSE(has(caps, "SASL-IR"));
  CHECK_FALSE(has(caps, "IDLE")); // post-auth capabilities come from the upstream
}

TEST_CASE("capabilities: relay filter drops COMPRESS, STARTTLS, LOGINDISABLED only",
          "[capabilities]") {
  const std::vector<std::string> upstream{
      "IMAP4rev1", "IDLE",          "compress=deflate", "STARTTLS", "UIDPLUS",
      "MOVE",      "NAMESPACE",     "LITERAL+",         "ENABLE",   "CONDSTORE",
      "QRESYNC",   "LOGINDISABLED", "X-UNKNOWN-EXT"};
  const auto kept = filter_capabilities(upstream);
  CHECK(kept == std::vector<std::string>{"IMAP4rev1", "IDLE", "UIDPLUS", "MOVE", "NAMESPACE",
                                         "LITERAL+", "ENABLE", "CONDSTORE", "QRESYNC",
                                         "X-UNKNOWN-EXT"});
}

TEST_CASE("capabilities: CAPABILITY data lines are rewritten", "[capabilities]") {
  const auto out =
      filter_capability_response("* CAPABILITY IMAP4rev1 COMPRESS=DEFLATE IDLE STARTTLS\r\n");
  REQUIRE(out);
  CHECK(*out == "* CAPABILITY IMAP4rev1 IDLE\r\n");
}

TEST_CASE("capabilities: the gateway's own COMPRESS=DEFLATE replaces the upstream's",
          "[capabilities]") {
  const auto data = filter_capability_response(
      "* CAPABILITY IMAP4rev1 COMPRESS=DEFLATE IDLE COMPRESS=X-LZ4\r\n", true);
  REQUIRE(data);
  CHECK(*data == "* CAPABILITY IMAP4rev1 IDLE COMPRESS=DEFLATE\r\n");
  // Exchange Online offers none: the gateway's is added.
  const auto code =
      filter_capability_response("a1 OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] Logged in\r\n", true);
  REQUIRE(code);
  CHECK(*code == "a1 OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS COMPRESS=DEFLATE] Logged in\r\n");
}

TEST_CASE("capabilities: [CAPABILITY] codes are rewritten in place", "[capabilities]") {
  const auto out = filter_capability_response(
      "a1 OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE MOVE] Logged in\r\n");
  REQUIRE(out);
  CHECK(*out == "a1 OK [CAPABILITY IMAP4rev1 MOVE] Logged in\r\n");
  const auto greeting =
      filter_capability_response("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n");
  REQUIRE(greeting);
  CHECK(*greeting == "* OK [CAPABILITY IMAP4rev1] ready\r\n");
}

TEST_CASE("capabilities: other lines are left alone", "[capabilities]") {
  CHECK_FALSE(filter_capability_response("* 3 EXISTS\r\n"));
  CHECK_FALSE(filter_capability_response("a2 OK [READ-WRITE] SELECT completed\r\n"));
  // Mentions the word, but in free text: not a capability list.
  CHECK_FALSE(filter_capability_response("a3 OK CAPABILITY completed\r\n"));
  CHECK(mentions_capability("x ok capability done"));
  CHECK_FALSE(mentions_capability("* 1 FETCH (FLAGS ())"));
}
