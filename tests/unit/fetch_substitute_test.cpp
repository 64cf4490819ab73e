// Serving a rewritten message's items in place of the server's: every content item of an
// upstream FETCH response must become exactly what render_fetch() gives for the gateway's
// bytes, and everything else must stay byte for byte where the server put it.

#include "mime_test_support.hpp"
#include "protocol/fetch_substitute.hpp"
#include "protocol/response.hpp"
#include "proxy/rewrite_service.hpp"

#include <catch2/catch_test_macros.hpp>

#include <chrono>

using namespace icalgate::protocol;

namespace {

// The one item `text` renders to for `msg`, e.g. "RFC822.SIZE 735".
std::string rendered_item(const mime::Message& msg, const std::string& text) {
  auto rendered = render_fetch(msg, items_of(text), FetchContext{});
  REQUIRE(rendered.ok());
  const std::string& r = *rendered;
  return r.substr(r.find('(') + 1, r.size() - r.find('(') - 4);
}

} // namespace

TEST_CASE("content items come from the served message, the rest stays", "[fetch_substitute]") {
  auto msg = mime::parse_message(read_mime_fixture("mixed.eml"));
  REQUIRE(msg.ok());
  const std::string upstream = "* 7 FETCH (UID 42 FLAGS (\\Seen $Label1) RFC822.SIZE 3 "
                               "INTERNALDATE \"17-Nov-2026 10:02:11 +0100\" "
                               "BODY[1]<2> {3}\r\nabc BODY[HEADER.FIELDS (SUBJECT)] {5}\r\nx: y\n "
                               "BODYSTRUCTURE (\"text\" \"plain\" NIL NIL NIL \"7bit\" 3 1 NIL NIL "
                               "NIL NIL) MODSEQ (12))\r\n";
  const auto requested = items_of("(UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[1]<2.40> "
                                  "BODY.PEEK[HEADER.FIELDS (Subject)] BODYSTRUCTURE MODSEQ)");
  auto out = substitute_fetch(parsed_response(upstream), *msg, requested);
  REQUIRE(out.ok());
  const std::string want =
      "* 7 FETCH (UID 42 FLAGS (\\Seen $Label1) " + rendered_item(*msg, "RFC822.SIZE") +
      " INTERNALDATE \"17-Nov-2026 10:02:11 +0100\" " + rendered_item(*msg, "BODY.PEEK[1]<2.40>") +
      " BODY[HEADER.FIELDS (SUBJECT)] {5}\r\nx: y\n " + rendered_item(*msg, "BODYSTRUCTURE") +
      " MODSEQ (12))\r\n";
  CHECK(*out == want);
  CHECK(out->find("RFC822.SIZE " + std::to_string(msg->virtual_size())) != std::string::npos);
}

TEST_CASE("whole sections, RFC822 and BINARY items are rendered too", "[fetch_substitute]") {
  auto msg = mime::parse_message(read_mime_fixture("mixed.eml"));
  REQUIRE(msg.ok());
  const std::string upstream = "* 1 FETCH (UID 2 RFC822 {1}\r\nx BODY[] {1}\r\ny BINARY.SIZE[1] 9 "
                               "BODY[TEXT]<0> {1}\r\nz)\r\n";
  const auto requested = items_of("(RFC822 BODY[] BINARY.SIZE[1] BODY.PEEK[TEXT]<0.10>)");
  auto out = substitute_fetch(parsed_response(upstream), *msg, requested);
  REQUIRE(out.ok());
  CHECK(*out == "* 1 FETCH (UID 2 " + rendered_item(*msg, "RFC822") + " " +
                    rendered_item(*msg, "BODY[]") + " " + rendered_item(*msg, "BINARY.SIZE[1]") +
                    " " + rendered_item(*msg, "BODY.PEEK[TEXT]<0.10>") + ")\r\n");
}

TEST_CASE("a partial the client did not ask for is refused", "[fetch_substitute]") {
  auto msg = mime::parse_message(read_mime_fixture("mixed.eml"));
  REQUIRE(msg.ok());
  const std::string upstream = "* 1 FETCH (UID 2 BODY[1]<5> {1}\r\nx)\r\n";
  auto out = substitute_fetch(parsed_response(upstream), *msg, items_of("(BODY.PEEK[1]<0.10>)"));
  REQUIRE_FALSE(out.ok());
  CHECK(out.error().code == Errc::unsupported);
  auto not_fetch =
      substitute_fetch(parsed_response("* 3 EXISTS\r\n"), *msg, items_of("(RFC822.SIZE)"));
  CHECK_FALSE(not_fetch.ok());
}

TEST_CASE("which items show content a rewrite changes", "[fetch_substitute]") {
  CHECK_FALSE(shows_content(items_of("(UID FLAGS INTERNALDATE MODSEQ ENVELOPE)")));
  CHECK_FALSE(shows_content(items_of("(BODY.PEEK[HEADER.FIELDS (From Subject Message-ID)])")));
  CHECK(shows_content(items_of("(BODY.PEEK[HEADER.FIELDS (From content-type)])")));
  CHECK(shows_content(items_of("(BODY.PEEK[HEADER.FIELDS.NOT (Received)])")));
  CHECK(shows_content(items_of("(BODY.PEEK[1.HEADER.FIELDS (Subject)])")));
  CHECK(shows_content(items_of("FAST")));
  CHECK(shows_content(items_of("(UID RFC822.SIZE)")));
  CHECK(shows_content(items_of("BODYSTRUCTURE")));
  CHECK(shows_content(items_of("(BINARY.SIZE[1])")));
}

TEST_CASE("INTERNALDATE as a point in time", "[fetch_substitute]") {
  using namespace std::chrono;
  const auto t = icalgate::proxy::parse_internaldate("17-Nov-2026 10:02:11 +0100");
  REQUIRE(t);
  CHECK(*t == sys_days{year{2026} / 11 / 17} + hours(9) + minutes(2) + seconds(11));
  const auto padded = icalgate::proxy::parse_internaldate(" 7-Feb-2026 23:30:00 -0530");
  REQUIRE(padded);
  CHECK(*padded == sys_days{year{2026} / 2 / 8} + hours(5) + minutes(0));
  CHECK_FALSE(icalgate::proxy::parse_internaldate("31-Feb-2026 10:00:00 +0000"));
  CHECK_FALSE(icalgate::proxy::parse_internaldate("17-Nov-2026 10:02:11"));
  CHECK_FALSE(icalgate::proxy::parse_internaldate("17-Foo-2026 10:02:11 +0000"));
  CHECK_FALSE(icalgate::proxy::parse_internaldate(""));
}
