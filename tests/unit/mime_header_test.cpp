// Header scanning, unfolding and RFC 2231 parameters. Where a value is what an IMAP client
// sees, it was checked against Dovecot 2.3.19 (tests/differential/dovecot_fetch.py): e.g.
// "Content-Type: text/plain; CHARSET=UTF-8; Name*0="a"; name*1="b"" answers
// ("CHARSET" "UTF-8" "Name" "ab") in BODYSTRUCTURE.

#include "protocol/mime/bodystructure.hpp"
#include "protocol/mime/envelope.hpp"
#include "protocol/mime/header.hpp"
#include "protocol/mime/imap_string.hpp"
#include "protocol/mime/message.hpp"
#include "protocol/mime/rfc822_lexer.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>

namespace mime = icalgate::protocol::mime;

TEST_CASE("mime: header fields are located and unfolded", "[mime]") {
  auto msg = mime::parse_message("Subject:  two\r\n\tlines\r\nX-Empty:\r\nNo colon line\r\n"
                                 "Name With Space : v\r\n\r\nbody");
  REQUIRE(msg.ok());
  const auto& headers = msg->root().headers;
  REQUIRE(headers.size() == 4);
  const std::string& raw = msg->raw();
  CHECK(mime::header_name(raw, headers[0]) == "Subject");
  CHECK(mime::header_full_value(raw, headers[0]) == "two\n\tlines");
  CHECK(mime::header_full_value(raw, headers[1]).empty());
  CHECK(mime::header_name(raw, headers[2]) == "No colon line");
  CHECK(mime::header_name(raw, headers[3]) == "Name With Space");
  CHECK(msg->root().body_size.physical == 4);
}

TEST_CASE("mime: RFC 2231 continuations are merged like Dovecot", "[mime]") {
  const std::string value = "; CHARSET=UTF-8; Name*0=\"a\"; name*1=\"b\"";
  mime::Rfc822Lexer lexer(value);
  const auto params = mime::parse_rfc2231_params(lexer);
  REQUIRE(params.size() == 2);
  CHECK(params[0] == std::pair<std::string, std::string>("CHARSET", "UTF-8"));
  CHECK(params[1] == std::pair<std::string, std::string>("Name", "ab"));

  const std::string ext = "; filename*0*=utf-8''%C3%A9; filename*1=\"x%.pdf\"";
  mime::Rfc822Lexer ext_lexer(ext);
  const auto merged = mime::parse_rfc2231_params(ext_lexer);
  REQUIRE(merged.size() == 1);
  CHECK(merged[0].first == "filename*");
  CHECK(merged[0].second == "utf-8''%C3%A9x%25.pdf");

  // a gap in the indexes keeps the pieces apart
  const std::string gap = "; a*0=x; a*2=y";
  mime::Rfc822Lexer gap_lexer(gap);
  const auto kept = mime::parse_rfc2231_params(gap_lexer);
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].first == "a*0");
  CHECK(kept[1].first == "a*2");
}

TEST_CASE("mime: IMAP strings are quoted or literal as Dovecot chooses", "[mime]") {
  std::string out;
  mime::append_string(out, "plain");
  CHECK(out == "\"plain\"");
  out.clear();
  mime::append_string(out, "caf\xc3\xa9");
  CHECK(out == "{5}\r\ncaf\xc3\xa9");
  out.clear();
  mime::append_string(out, R"(a"b\c)");
  CHECK(out == R"("a\"b\\c")");
  out.clear();
  mime::append_string(out, R"(""""")");
  CHECK(out == "{5}\r\n\"\"\"\"\"");
  out.clear();
  // Dovecot answers the folded subject "=?utf-8?q?caf=C3=A9?= \r\n folded\tsubject" as this
  // literal: the encoded word stays raw, blanks collapse
  mime::append_string_for_humans(out, "=?utf-8?q?caf=C3=A9?= \n folded\tsubject");
  CHECK(out == "{36}\r\n=?utf-8?q?caf=C3=A9?= folded subject");
  out.clear();
  mime::append_string_for_humans(out, "  ");
  CHECK(out == "\"\"");
}

TEST_CASE("mime: address lists keep Dovecot's repairs", "[mime]") {
  // Expected from Dovecot's ENVELOPE of tests/corpus/68-address-edge-cases.eml
  const auto to =
      mime::parse_address_list("Name Without Address, <>, bob@example.net (Bob (nested) comment)");
  REQUIRE(to.size() == 3);
  CHECK(to[0].name == "Name Without Address");
  CHECK(to[0].mailbox == "MISSING_MAILBOX");
  CHECK(to[0].domain == "MISSING_DOMAIN");
  CHECK(!to[1].name);
  CHECK(to[1].mailbox == "MISSING_MAILBOX");
  CHECK(to[2].name == "Bob (nested) comment");
  CHECK(to[2].mailbox == "bob");
  CHECK(to[2].domain == "example.net");
  const auto group = mime::parse_address_list("undisclosed-recipients:;");
  REQUIRE(group.size() == 2);
  CHECK(group[0].mailbox == "undisclosed-recipients");
  CHECK(!group[0].domain);
  CHECK(!group[1].mailbox);
}

TEST_CASE("mime: limits past Dovecot's nesting depth make opaque leaves", "[mime]") {
  // 120 nested multiparts: Dovecot 2.3.19 stops at depth 100 and writes the 100th as
  // "application" "octet-stream" with its parameters (checked with the oracle).
  std::string m = "Subject: deep\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n";
  for (int i = 1; i < 120; ++i) {
    m += "--b" + std::to_string(i - 1) + "\r\nContent-Type: multipart/mixed; boundary=b" +
         std::to_string(i) + "\r\n\r\n";
  }
  m += "--b119\r\nContent-Type: text/plain\r\n\r\nleaf\r\n";
  auto msg = mime::parse_message(m);
  REQUIRE(msg.ok());
  const std::string bs = mime::bodystructure(*msg, true);
  CHECK(bs.find("(\"application\" \"octet-stream\" (\"boundary\" \"b99\") NIL NIL \"7bit\" 0 ") !=
        std::string::npos);
  int depth = 0;
  const mime::MimePart* part = &msg->root();
  while (!part->children.empty()) {
    part = &part->children.front();
    ++depth;
  }
  CHECK(depth == 99);
  CHECK(part->is(mime::kOverflow));

  mime::ParseLimits small;
  small.max_message_size = 10;
  CHECK_FALSE(mime::parse_message(std::string(11, 'x'), small).ok());
}

TEST_CASE("mime: the stored form drops what Dovecot's mailbox does not keep", "[mime]") {
  // Dovecot 2.3.19 answers RFC822.SIZE 14 for "S: v\r\r\n\r\nbody\r\r\n" (oracle): each
  // "\r\r\n" is stored as "\r\n", each lone CRLF as LF
  CHECK(mime::dovecot_stored_form("a\r\r\nb\r\nc\r") == "a\r\nb\nc");
  CHECK(mime::dovecot_stored_form("x\ry") == "x\ry");
  auto msg = mime::parse_message(mime::dovecot_stored_form("S: v\r\r\n\r\nbody\r\r\n"));
  REQUIRE(msg.ok());
  CHECK(msg->virtual_size() == 14);
}

TEST_CASE("mime: a domain ending in a dot is missing", "[mime]") {
  // Dovecot answers (NIL NIL "team" "MISSING_DOMAIN") for "Reply-To: team@example."
  const auto list = mime::parse_address_list("team@example.");
  REQUIRE(list.size() == 1);
  CHECK(list[0].mailbox == "team");
  CHECK(list[0].domain == "MISSING_DOMAIN");
  // blanks may come before a dot, not after it: "a . b" is a name, not a mailbox
  const auto odd = mime::parse_address_list("a . b @ c . d");
  REQUIRE(!odd.empty());
  CHECK(odd[0].mailbox == "MISSING_MAILBOX");
  CHECK(odd[0].name == "a.  b");
}
