#include "proxy/redact.hpp"
#include "proxy/sasl_user.hpp"

#include <catch2/catch_test_macros.hpp>

using namespace icalgate::proxy;

TEST_CASE("redact: sanitize escapes control and invalid UTF-8 bytes", "[redact]") {
  CHECK(sanitize_for_log("a1 NOOP\r\n") == "a1 NOOP\\r\\n");
  CHECK(sanitize_for_log(std::string_view("a\0b", 3)) == "a\\x00b");
  CHECK(sanitize_for_log("\x1b[31mred") == "\\x1b[31mred");
  CHECK(sanitize_for_log("caf\xc3\xa9") == "caf\xc3\xa9");      // valid UTF-8 kept
  CHECK(sanitize_for_log("bad\xc3(") == "bad\\xc3(");           // truncated sequence
  CHECK(sanitize_for_log("\xed\xa0\x80") == "\\xed\\xa0\\x80"); // surrogate
  CHECK(sanitize_for_log("\xc0\xaf") == "\\xc0\\xaf");          // overlong
  CHECK(sanitize_for_log("back\\slash") == "back\\\\slash");
}

TEST_CASE("redact: sanitize caps the length", "[redact]") {
  const std::string long_text(1000, 'x');
  const std::string out = sanitize_for_log(long_text, 10);
  CHECK(out == "xxxxxxxxxx...(1000 bytes)");
}

TEST_CASE("redact: LOGIN keeps the user and hides the password", "[redact]") {
  ProtocolRedactor r;
  CHECK(r.client_line("a1 LOGIN alice hunter2\r\n") == "a1 LOGIN alice <redacted>");
  CHECK(r.client_line("a2 login \"bob\" \"pass word\"\r\n") == "a2 LOGIN \"bob\" <redacted>");
  // Later commands are shown again.
  CHECK(r.client_line("a3 SELECT INBOX\r\n") == "a3 SELECT INBOX");
}

TEST_CASE("redact: LOGIN with literals hides every following line of it", "[redact]") {
  ProtocolRedactor r;
  CHECK(r.client_line("a1 LOGIN {5}\r\n") == "a1 LOGIN <redacted>");
  // After the user literal: " {7}" then the password literal, then the final CRLF.
  CHECK(r.client_line(" {7}\r\n") == "<redacted>");
  CHECK(r.client_line("\r\n") == "<redacted>");
  CHECK(r.client_line("a2 NOOP\r\n") == "a2 NOOP");
  CHECK(r.client_line("a3 LOGIN alice {7+}\r\n") == "a3 LOGIN alice <redacted>");
  CHECK(r.client_line("\r\n") == "<redacted>");
  CHECK(r.client_line("a4 NOOP\r\n") == "a4 NOOP");
}

TEST_CASE("redact: AUTHENTICATE hides everything until the tagged answer", "[redact]") {
  ProtocolRedactor r;
  CHECK(r.client_line("a1 AUTHENTICATE XOAUTH2 dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2tlbgEB\r\n") ==
        "a1 AUTHENTICATE XOAUTH2 <redacted>");
  CHECK(r.server_line("+ eyJzdGF0dXMiOiI0MDAifQ==\r\n") == "+ <redacted>");
  CHECK(r.client_line("\r\n") == "<redacted>");
  CHECK(r.server_line("* CAPABILITY IMAP4rev1\r\n") == "* CAPABILITY IMAP4rev1");
  CHECK(r.client_line("c2lja3JldA==\r\n") == "<redacted>");
  CHECK(r.server_line("a1 NO [AUTHENTICATIONFAILED] nope\r\n") ==
        "a1 NO [AUTHENTICATIONFAILED] nope");
  CHECK(r.client_line("a2 CAPABILITY\r\n") == "a2 CAPABILITY");
  CHECK(r.server_line("+ idling\r\n") == "+ idling");

  ProtocolRedactor plain;
  CHECK(plain.client_line("b1 AUTHENTICATE PLAIN\r\n") == "b1 AUTHENTICATE PLAIN");
  CHECK(plain.server_line("+ \r\n") == "+ <redacted>");
  CHECK(plain.client_line("AGFsaWNlAHNlY3JldA==\r\n") == "<redacted>");
  CHECK(plain.client_line("*\r\n") == "<redacted>");
  CHECK(plain.server_line("b1 BAD cancelled\r\n") == "b1 BAD cancelled");
}

TEST_CASE("redact: literal data is described, never shown", "[redact]") {
  CHECK(ProtocolRedactor::literal(42) == "<literal 42 bytes>");
}

TEST_CASE("redact: base64 decoding", "[redact]") {
  CHECK(decode_base64("aGVsbG8=") == "hello");
  CHECK(decode_base64("aGVsbG8h") == "hello!");
  CHECK(decode_base64("aGVsbA==") == "hell");
  CHECK(decode_base64("=") == "");
  CHECK_FALSE(decode_base64("aGVsbG8"));
  CHECK_FALSE(decode_base64("a*==").has_value());
}

TEST_CASE("redact: the SASL user name without the secret", "[redact]") {
  // "\0alice\0hunter2"
  CHECK(sasl_username("PLAIN", "AGFsaWNlAGh1bnRlcjI=") == "alice");
  // "admin\0alice\0hunter2": the authorization identity names the mailbox
  CHECK(sasl_username("plain", "YWRtaW4AYWxpY2UAaHVudGVyMg==") == "admin");
  // "user=alice@example.com\1auth=Bearer tok\1\1"
  CHECK(sasl_username("XOAUTH2", "dXNlcj1hbGljZUBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB0b2sBAQ==") ==
        "alice@example.com");
  // "n,a=bob@example.com,\1auth=Bearer tok\1\1"
  CHECK(sasl_username("OAUTHBEARER", "bixhPWJvYkBleGFtcGxlLmNvbSwBYXV0aD1CZWFyZXIgdG9rAQE=") ==
        "bob@example.com");
  CHECK_FALSE(sasl_username("PLAIN", "bm9udWxscw==")); // "nonulls"
  CHECK_FALSE(sasl_username("CRAM-MD5", "AGFsaWNlAGh1bnRlcjI="));
  CHECK_FALSE(sasl_username("PLAIN", "%%%"));
}
