#include "protocol/fetch_item.hpp"

#include <catch2/catch_test_macros.hpp>

using namespace icalgate::protocol;

namespace {

FetchItems parse_ok(std::string_view text) {
  auto r = parse_fetch_items(text);
  INFO(text);
  REQUIRE(r.ok());
  return *r;
}

} // namespace

TEST_CASE("fetch_item: macros expand as RFC 9051 defines them", "[fetch_item]") {
  const auto all = parse_ok("all");
  CHECK(all.macro == FetchMacro::all);
  REQUIRE(all.items.size() == 4);
  CHECK(all.items[0].attr == FetchAttr::flags);
  CHECK(all.items[1].attr == FetchAttr::internaldate);
  CHECK(all.items[2].attr == FetchAttr::rfc822_size);
  CHECK(all.items[3].attr == FetchAttr::envelope);
  CHECK(parse_ok("FAST").items.size() == 3);
  const auto full = parse_ok("FULL");
  REQUIRE(full.items.size() == 5);
  CHECK(full.items[4].attr == FetchAttr::body);
  // Macros are not fetch-atts: they cannot appear inside a list.
  CHECK_FALSE(parse_fetch_items("(ALL)").ok());
}

TEST_CASE("fetch_item: sections, peek and partial", "[fetch_item]") {
  const auto r = parse_ok("(UID body.peek[1.2.MIME] BINARY[2]<0.100> BINARY.SIZE[3] "
                          "BODY[HEADER.FIELDS (From \"X y\")])");
  REQUIRE(r.items.size() == 5);
  CHECK(r.items[0].attr == FetchAttr::uid);
  CHECK(r.items[1].attr == FetchAttr::body_section);
  CHECK(r.items[1].peek);
  CHECK(r.items[1].section.part == std::vector<std::uint32_t>{1, 2});
  CHECK(r.items[1].section.text == SectionSpec::Text::mime);
  CHECK(r.items[2].attr == FetchAttr::binary);
  CHECK_FALSE(r.items[2].peek);
  REQUIRE(r.items[2].partial.has_value());
  CHECK(r.items[2].partial->origin == 0);
  CHECK(r.items[2].partial->octets == 100);
  CHECK(r.items[3].attr == FetchAttr::binary_size);
  CHECK(r.items[4].section.text == SectionSpec::Text::header_fields);
  CHECK(r.items[4].section.fields == std::vector<std::string>{"From", "X y"});
  CHECK(to_string(r.items[4]) == "BODY[HEADER.FIELDS (From \"X y\")]");
  CHECK(to_string(r.items[1]) == "BODY.PEEK[1.2.MIME]");
  CHECK(to_string(r.items[2]) == "BINARY[2]<0.100>");
}

TEST_CASE("fetch_item: canonical form parses back to the same value", "[fetch_item]") {
  for (const char* text :
       {"BODY[]", "BODY.PEEK[TEXT]<5.7>", "BODY[1.HEADER]", "BODY[4.2.HEADER.FIELDS.NOT (A B)]",
        "RFC822.TEXT", "BODYSTRUCTURE", "BODY", "BINARY.PEEK[]", "MODSEQ", "BODY[1.2.3]"}) {
    const auto first = parse_ok(text);
    REQUIRE(first.items.size() == 1);
    CHECK(to_string(first.items[0]) == text);
    CHECK(parse_ok(to_string(first.items[0])) == first);
  }
}

TEST_CASE("fetch_item: consumed stops before the FETCH modifiers", "[fetch_item]") {
  std::size_t used = 0;
  const std::string_view text = "(FLAGS UID) (CHANGEDSINCE 12345)";
  auto r = parse_fetch_items(text, &used);
  REQUIRE(r.ok());
  CHECK(text.substr(used) == " (CHANGEDSINCE 12345)");
  CHECK_FALSE(parse_fetch_items(text).ok());
  used = 0;
  REQUIRE(parse_fetch_items("BODY.PEEK[] (VANISHED)", &used).ok());
  CHECK(used == 11);
}

TEST_CASE("fetch_item: malformed input is a syntax error", "[fetch_item]") {
  for (const char* text : {"",
                           "(",
                           "()",
                           "(FLAGS",
                           "(FLAGS  UID)",
                           "BODY[",
                           "BODY[0]",
                           "BODY[MIME]",
                           "BODY[1.FOO]",
                           "BINARY[1.TEXT]",
                           "BINARY[HEADER]",
                           "FLAGS[1]",
                           "BODY[]<1>",
                           "BODY[]<1.>",
                           "BODY[HEADER.FIELDS ()]",
                           "BODY[HEADER.FIELDS From]",
                           "RFC822.PEEK",
                           "BODY[]<a.b>",
                           "BODY[1.2.]",
                           "BODY[99999999999]",
                           "BODY[HEADER.FIELDS (\"unterminated)]"}) {
    INFO(text);
    auto r = parse_fetch_items(text);
    REQUIRE_FALSE(r.ok());
    CHECK((r.error().code == Errc::syntax || r.error().code == Errc::too_many));
  }
}

TEST_CASE("fetch_item: counts are bounded", "[fetch_item]") {
  std::string many = "(";
  for (int i = 0; i < 300; ++i) {
    many += i == 0 ? "UID" : " UID";
  }
  many += ")";
  auto r = parse_fetch_items(many);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::too_many);
  std::string deep = "BODY[";
  for (int i = 0; i < 100; ++i) {
    deep += i == 0 ? "1" : ".1";
  }
  deep += "]";
  auto d = parse_fetch_items(deep);
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().code == Errc::too_many);
}
