#pragma once
// Shared by the mime_*_test.cpp files: renders a fixture with the FETCH items of a case and
// compares with the bytes Dovecot sent for the same fixture and items.

#include "protocol/fetch_item.hpp"
#include "protocol/fetch_render.hpp"
#include "protocol/mime/message.hpp"
#include "protocol/response.hpp"

#include <catch2/catch_test_macros.hpp>

#include <fstream>
#include <iterator>
#include <string>

struct OracleCase {
  const char* file;
  unsigned uid; // Dovecot's UID for the fixture (APPEND order)
  const char* items;
  const char* expected; // the untagged FETCH, or the "NO [CODE]" prefix of the tagged NO
  bool is_no;
};

inline icalgate::protocol::FetchItems items_of(const std::string& text) {
  auto items = icalgate::protocol::parse_fetch_items(text);
  REQUIRE(items.ok());
  return *items;
}

// A server response that must parse (e.g. an upstream FETCH answer in a fixture).
inline icalgate::protocol::Response parsed_response(const std::string& raw) {
  auto r = icalgate::protocol::parse_response(raw);
  REQUIRE(r.ok());
  return *r;
}

inline std::string read_mime_fixture(const std::string& name) {
  std::ifstream in(std::string(ICALGATE_TEST_DATA_DIR) + "/unit/data/mime/" + name,
                   std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void check_oracle_case(const OracleCase& c) {
  INFO(c.file << " " << c.items);
  auto msg = icalgate::protocol::mime::parse_message(read_mime_fixture(c.file));
  REQUIRE(msg.ok());
  auto items = icalgate::protocol::parse_fetch_items(std::string("(") + c.items + ")");
  REQUIRE(items.ok());
  icalgate::protocol::FetchContext ctx;
  ctx.uid = c.uid;
  ctx.flags = "(\\Recent)";
  auto rendered = icalgate::protocol::render_fetch(*msg, *items, ctx);
  if (c.is_no) {
    REQUIRE_FALSE(rendered.ok());
    CHECK(rendered.error().message.rfind(c.expected, 0) == 0);
  } else {
    REQUIRE(rendered.ok());
    CHECK(*rendered == c.expected);
  }
}
