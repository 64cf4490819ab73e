#include "protocol/framer.hpp"
#include "protocol/literal_inliner.hpp"

#include <catch2/catch_test_macros.hpp>

#include <algorithm>

#include <string>
#include <vector>

using icalgate::protocol::Direction;
using icalgate::protocol::Framer;
using icalgate::protocol::LiteralInliner;
using Step = LiteralInliner::Step;

namespace {

struct Outcome {
  std::vector<Step> steps;
  std::string command;
  std::string refusal;
};

// Frames `wire` in pieces of `piece` bytes and feeds one command's frames to an inliner.
Outcome inline_command(const std::string& wire, std::size_t piece = 3,
                       std::size_t max_size = 64 * 1024) {
  Framer framer(Direction::client_to_server);
  LiteralInliner inliner(max_size);
  Outcome out;
  for (std::size_t at = 0; at < wire.size(); at += piece) {
    framer.feed(std::string_view(wire).substr(at, piece));
    while (auto frame = framer.next()) {
      const Step step = inliner.add(*frame);
      if (out.steps.empty() || out.steps.back() != step || step != Step::more) {
        out.steps.push_back(step);
      }
      if (step == Step::done || step == Step::refused) {
        out.command = inliner.command();
        out.refusal = std::string(inliner.refusal());
        return out;
      }
    }
  }
  return out;
}

} // namespace

TEST_CASE("literal inliner: header field names become quoted strings", "[literal_inliner]") {
  const auto out = inline_command(
      "a1 UID FETCH 7 (RFC822.SIZE BODY.PEEK[HEADER.FIELDS ({12}\r\nContent-Type {8+}\r\n"
      "Subject\")])\r\n");
  CHECK(out.steps.back() == Step::done);
  CHECK(out.command == "a1 UID FETCH 7 (RFC822.SIZE BODY.PEEK[HEADER.FIELDS (\"Content-Type\" "
                       "\"Subject\\\"\")])\r\n");
  // Only the synchronizing one makes the client wait for "+".
  CHECK(std::count(out.steps.begin(), out.steps.end(), Step::literal_wanted) == 1);
}

TEST_CASE("literal inliner: an empty literal is an empty string", "[literal_inliner]") {
  const auto out = inline_command("a1 FETCH 1 BODY[HEADER.FIELDS ({0+}\r\n)]\r\n", 64);
  CHECK(out.steps.back() == Step::done);
  CHECK(out.command == "a1 FETCH 1 BODY[HEADER.FIELDS (\"\")]\r\n");
}

TEST_CASE("literal inliner: what cannot be a quoted string is refused", "[literal_inliner]") {
  CHECK(inline_command("a1 FETCH 1 BODY[HEADER.FIELDS ({4+}\r\nA\r\nB)]\r\n").refusal ==
        "A literal here must be printable ASCII");
  CHECK(inline_command("a1 FETCH 1 BODY[HEADER.FIELDS ({2+}\r\n\xc3\xa9)]\r\n").refusal ==
        "A literal here must be printable ASCII");
  CHECK(inline_command("a1 FETCH 1 BODY[HEADER.FIELDS (~{1}\r\nA)]\r\n").refusal ==
        "A literal8 is not valid here");
  CHECK(inline_command("a1 FETCH 1 BODY[HEADER.FIELDS ({5000}\r\n").refusal ==
        "Literal too long for a header field name");
  const std::string many =
      "a1 FETCH 1 BODY[HEADER.FIELDS ({3+}\r\nabc {3+}\r\nabc {3+}\r\nabc)]\r\n";
  CHECK(inline_command(many, 3, 40).refusal == "Command line too long");
  CHECK(inline_command(many, 3, 200).steps.back() == Step::done);
}
