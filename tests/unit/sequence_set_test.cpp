#include "protocol/sequence_set.hpp"

#include <catch2/catch_test_macros.hpp>

using namespace icalgate::protocol;

TEST_CASE("sequence_set: numbers, ranges, star and lists", "[sequence_set]") {
  auto set = parse_sequence_set("2,4:7,9,12:*");
  REQUIRE(set);
  REQUIRE(set->ranges.size() == 4);
  CHECK(set->ranges[0] == SeqRange{2, 2});
  CHECK(set->ranges[1] == SeqRange{4, 7});
  CHECK(set->ranges[3] == SeqRange{12, SeqRange::star});
  CHECK_FALSE(set->search_result);
  CHECK(to_string(*set) == "2,4:7,9,12:*");
}

TEST_CASE("sequence_set: membership resolves star", "[sequence_set]") {
  auto set = parse_sequence_set("2,4:7,9,12:*");
  REQUIRE(set);
  CHECK(set->contains(2, 15));
  CHECK_FALSE(set->contains(3, 15));
  CHECK(set->contains(4, 15));
  CHECK(set->contains(7, 15));
  CHECK_FALSE(set->contains(8, 15));
  CHECK(set->contains(15, 15));
  CHECK_FALSE(set->contains(16, 15));
  // "12:*" with 10 messages is 10:12 (RFC 9051: the order of a range does not matter).
  CHECK(set->contains(10, 10));
  CHECK(set->contains(11, 10));
  CHECK_FALSE(set->contains(0, 15));
}

TEST_CASE("sequence_set: reversed ranges and a lone star", "[sequence_set]") {
  auto set = parse_sequence_set("7:3,*");
  REQUIRE(set);
  CHECK(set->contains(5, 100));
  CHECK(set->contains(100, 100));
  CHECK_FALSE(set->contains(99, 100));
  CHECK(to_string(*set) == "7:3,*");
}

TEST_CASE("sequence_set: $ is the SEARCHRES marker", "[sequence_set]") {
  auto set = parse_sequence_set("$");
  REQUIRE(set);
  CHECK(set->search_result);
  CHECK(set->ranges.empty());
  CHECK_FALSE(set->contains(1, 1));
  CHECK(to_string(*set) == "$");
  CHECK_FALSE(parse_sequence_set("$,1"));
}

TEST_CASE("sequence_set: malformed sets are syntax errors", "[sequence_set]") {
  for (const char* bad : {"", "0", "1:0", "1:", ":2", ",", "1,", "1,,2", "a", "1 2", "-1",
                          "4294967296", "1:*:2", "**"}) {
    INFO(bad);
    auto set = parse_sequence_set(bad);
    REQUIRE_FALSE(set);
    CHECK((set.error().code == Errc::syntax || set.error().code == Errc::incomplete));
  }
  CHECK(parse_sequence_set("4294967295"));
}

TEST_CASE("sequence_set: the number of ranges is bounded", "[sequence_set]") {
  ParseLimits limits;
  limits.max_ranges = 3;
  CHECK(parse_sequence_set("1,2,3", limits));
  auto set = parse_sequence_set("1,2,3,4", limits);
  REQUIRE_FALSE(set);
  CHECK(set.error().code == Errc::too_many);
}

TEST_CASE("sequence_set: print and parse round trip", "[sequence_set]") {
  SequenceSet built;
  built.ranges = {{1, 1}, {3, 5}, {SeqRange::star, 9}, {SeqRange::star, SeqRange::star}};
  const std::string text = to_string(built);
  CHECK(text == "1,3:5,*:9,*");
  auto parsed = parse_sequence_set(text);
  REQUIRE(parsed);
  CHECK(*parsed == built);
}

TEST_CASE("sequence_set: read_sequence_set stops at the first foreign byte", "[sequence_set]") {
  Lexer lx("1:4 (FLAGS)");
  auto set = read_sequence_set(lx);
  REQUIRE(set);
  CHECK(set->ranges.size() == 1);
  CHECK(lx.peek() == ' ');
}
