#include "protocol/copy_uid.hpp"

#include <catch2/catch_test_macros.hpp>

using namespace icalgate::protocol;

namespace {

using Pairs = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

} // namespace

TEST_CASE("copy_uid: source and destination UIDs pair up in the listed order", "[copy_uid]") {
  const auto single = parse_copy_uid("38505 304 3956", 100);
  REQUIRE(single);
  CHECK(single->uidvalidity == 38505U);
  CHECK(single->uids == Pairs{{304, 3956}});

  // RFC 4315's own example: a list against a range.
  const auto listed = parse_copy_uid("38505 304,319:320 3956:3958", 100);
  REQUIRE(listed);
  CHECK(listed->uids == Pairs{{304, 3956}, {319, 3957}, {320, 3958}});

  // A range covers both ends whichever way it is written.
  const auto reversed = parse_copy_uid("7 5:3 10:12", 100);
  REQUIRE(reversed);
  CHECK(reversed->uids == Pairs{{3, 10}, {4, 11}, {5, 12}});
}

TEST_CASE("copy_uid: what cannot be paired is refused", "[copy_uid]") {
  CHECK_FALSE(parse_copy_uid("", 100));
  CHECK_FALSE(parse_copy_uid("0 1 2", 100));          // UIDVALIDITY is non-zero
  CHECK_FALSE(parse_copy_uid("7 1:3 4:5", 100));      // sizes differ
  CHECK_FALSE(parse_copy_uid("7 1:* 4:9", 100));      // "*" names no UID
  CHECK_FALSE(parse_copy_uid("7 $ 4", 100));          // nor does "$"
  CHECK_FALSE(parse_copy_uid("7 1 2 extra", 100));    // nothing may follow
  CHECK_FALSE(parse_copy_uid("7 1,,2 3:4", 100));     // malformed set
  CHECK_FALSE(parse_copy_uid("4294967296 1 2", 100)); // UIDVALIDITY is 32 bits
}

TEST_CASE("copy_uid: the number of UIDs is bounded before they are expanded", "[copy_uid]") {
  CHECK(parse_copy_uid("7 1:100 201:300", 100));
  CHECK_FALSE(parse_copy_uid("7 1:101 201:301", 100));
  CHECK_FALSE(parse_copy_uid("7 1:50,60:110 201:301", 100));
  // A range of four billion UIDs is refused without being walked.
  CHECK_FALSE(parse_copy_uid("7 1:4294967295 1:4294967295", 1000));
  CHECK(parse_copy_uid("7 4294967295 1", 1));
}
