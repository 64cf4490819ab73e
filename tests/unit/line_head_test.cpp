#include "protocol/line_head.hpp"

#include <catch2/catch_test_macros.hpp>

using namespace icalgate::protocol;

TEST_CASE("line_head: tag, number and name of tagged, untagged and numbered lines", "[line_head]") {
  auto h = head_of("a1 OK [READ-ONLY] done\r\n");
  CHECK(h.tag == "a1");
  CHECK_FALSE(h.number);
  CHECK(h.name == "OK");
  h = head_of("* 12 FETCH (UID 40 FLAGS ())\r\n");
  CHECK(h.tag == "*");
  REQUIRE(h.number);
  CHECK(*h.number == 12);
  CHECK(h.name == "FETCH");
  h = head_of("* BYE\r\n");
  CHECK(h.name == "BYE");
  CHECK_FALSE(h.number);
  // A word that merely starts with digits is a name, not a number.
  h = head_of("* 12x FETCH\r\n");
  CHECK_FALSE(h.number);
  CHECK(h.name == "12x");
  h = head_of("");
  CHECK(h.tag.empty());
  CHECK(h.name.empty());
}

TEST_CASE("line_head: the UID only where it is the first attribute", "[line_head]") {
  CHECK(leading_uid("* 3 FETCH (UID 17 RFC822.SIZE 100)\r\n") == 17u);
  CHECK(leading_uid("* 3 FETCH (uid 17)\r\n") == 17u);
  CHECK(leading_uid("* 3 FETCH (UID 17 BODY[] {12}\r\n") == 17u);
  CHECK_FALSE(leading_uid("* 3 FETCH (FLAGS () UID 17)\r\n"));
  CHECK_FALSE(leading_uid("* 3 FETCH (UID 17x)\r\n"));
  CHECK_FALSE(leading_uid("* 3 FETCH (UID 99999999999)\r\n"));
  CHECK_FALSE(leading_uid("* 3 EXISTS\r\n"));
}

TEST_CASE("line_head: the number of a response code", "[line_head]") {
  CHECK(code_number_in("* OK [UIDVALIDITY 1795953971] UIDs valid\r\n", "[UIDVALIDITY ") ==
        1795953971u);
  CHECK(code_number_in("* ok [uidnext 45] Predicted\r\n", "[UIDNEXT ") == 45u);
  CHECK_FALSE(code_number_in("* OK [UIDNEXT x] no\r\n", "[UIDNEXT "));
  CHECK_FALSE(code_number_in("* OK [UIDNEXT ", "[UIDNEXT "));
}
