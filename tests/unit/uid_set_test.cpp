#include "protocol/fetch_item.hpp"
#include "protocol/uid_set.hpp"

#include <catch2/catch_test_macros.hpp>

using namespace icalgate::protocol;

namespace {

SequenceSet set_of(std::string_view text) {
  auto set = parse_sequence_set(text);
  REQUIRE(set);
  return *set;
}

} // namespace

TEST_CASE("uid_set: lists compress runs, in order", "[uid_set]") {
  CHECK(uid_list({7, 1, 2, 3, 9, 10}) == "1:3,7,9:10");
  CHECK(uid_list({5}) == "5");
  CHECK(uid_list({}).empty());
}

TEST_CASE("uid_set: explicit sets give their numbers, up to a limit", "[uid_set]") {
  CHECK(explicit_numbers(set_of("5,1:3,2"), 10) == std::vector<std::uint32_t>{1, 2, 3, 5});
  CHECK(explicit_numbers(set_of("4:2"), 10) == std::vector<std::uint32_t>{2, 3, 4});
  CHECK(explicit_numbers(set_of("1:10"), 10)->size() == 10);
  CHECK_FALSE(explicit_numbers(set_of("1:11"), 10));
  CHECK_FALSE(explicit_numbers(set_of("1:6,7:12"), 10));
  CHECK_FALSE(explicit_numbers(set_of("1:*"), 10));
  CHECK_FALSE(explicit_numbers(set_of("*"), 10));
  CHECK_FALSE(explicit_numbers(set_of("$"), 10));
}

TEST_CASE("uid_set: a set split at the decided UID", "[uid_set]") {
  // Thunderbird's whole-mailbox sync of a mailbox decided through 100.
  auto s = split_at(set_of("1:*"), 100);
  CHECK(s.decided == std::vector<std::pair<std::uint32_t, std::uint32_t>>{{1, 100}});
  CHECK(s.above == "101:*");
  CHECK(s.covers_tail);
  CHECK(s.above_is_tail_only);
  // Its chunks: the one reaching past the decided range moves it (covered_to).
  s = split_at(set_of("81:120"), 100);
  CHECK(s.decided == std::vector<std::pair<std::uint32_t, std::uint32_t>>{{81, 100}});
  CHECK(s.above == "101:120");
  CHECK_FALSE(s.covers_tail);
  CHECK(s.covered_to == 120);
  // A range that starts above it leaves a gap: nothing is covered.
  s = split_at(set_of("150:160"), 100);
  CHECK(s.decided.empty());
  CHECK(s.above == "150:160");
  CHECK(s.covered_to == 100);
  // All decided.
  s = split_at(set_of("3,7:9"), 100);
  CHECK(s.above.empty());
  CHECK(s.decided.size() == 2);
  // New mail only ("*" alone is the newest message).
  s = split_at(set_of("*"), 100);
  CHECK(s.decided.empty());
  CHECK(s.above == "101:*");
  CHECK(s.above_is_tail_only);
  // Mixed: not only the tail above.
  s = split_at(set_of("150,90:*"), 100);
  CHECK(s.above == "150,101:*");
  CHECK_FALSE(s.above_is_tail_only);
  CHECK(s.covers_tail);
  // A tail that starts past the decided range does not cover it.
  s = split_at(set_of("120:*"), 100);
  CHECK_FALSE(s.covers_tail);
  CHECK(s.above == "120:*");
  CHECK_FALSE(s.above_is_tail_only);
}

TEST_CASE("uid_set: UID FETCH lines with another set", "[uid_set]") {
  CHECK(with_uid_set("a1 UID FETCH 1:9 (UID BODY.PEEK[])\r\n", "3,5") ==
        "a1 UID FETCH 3,5 (UID BODY.PEEK[])\r\n");
  CHECK_FALSE(with_uid_set("a1 UID FETCH\r\n", "3"));
  CHECK_FALSE(with_uid_set("a1 NOOP", "3"));
  auto items = parse_fetch_items("(UID FLAGS)");
  REQUIRE(items);
  CHECK(uid_fetch_line("t7", "4:6", *items) == "t7 UID FETCH 4:6 (UID FLAGS)\r\n");
}
