// Frames client input whole and in pieces, feeds each command to a LiteralInliner, and
// checks: the same outcome whichever way the bytes arrived; a command it completes is one
// line, within the size bound, with no literal left in it; and a refusal says why.

#include "protocol/framer.hpp"
#include "protocol/literal_inliner.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using icalgate::protocol::Direction;
using icalgate::protocol::Framer;
using icalgate::protocol::FramerOptions;
using icalgate::protocol::LiteralInliner;

namespace {

constexpr std::size_t max_size = 512;

void check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

// Each command's outcome: "D" + the command, "R" + the refusal, or "W" + what was gathered
// so far when the input ended.
std::vector<std::string> run(std::string_view input, std::size_t piece) {
  FramerOptions options;
  options.max_line = 256;
  options.max_literal = 4096;
  Framer framer(Direction::client_to_server, options);
  std::vector<std::string> outcomes;
  LiteralInliner inliner(max_size);
  bool skipping = false;
  for (std::size_t at = 0; at < input.size(); at += piece) {
    framer.feed(input.substr(at, piece));
    while (auto frame = framer.next()) {
      if (skipping) {
        skipping = !frame->message_end;
        continue;
      }
      const auto step = inliner.add(*frame);
      if (step == LiteralInliner::Step::done) {
        const std::string& command = inliner.command();
        check(command.size() <= max_size);
        Framer again(Direction::client_to_server);
        again.feed(command);
        const auto line = again.next();
        check(line && !line->literal && line->message_end && line->bytes == command);
        outcomes.push_back("D" + command);
      } else if (step == LiteralInliner::Step::refused) {
        check(!inliner.refusal().empty());
        outcomes.push_back("R" + std::string(inliner.refusal()));
        if (frame->literal && !frame->literal->non_synchronizing && !frame->error &&
            framer.cancel_literal()) {
          skipping = false;
        } else {
          skipping = !frame->message_end;
        }
      } else {
        continue;
      }
      inliner = LiteralInliner(max_size);
    }
  }
  outcomes.push_back("W" + inliner.command());
  return outcomes;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t piece = size == 0 ? 1 : 1 + data[0] % 17;
  check(run(input, input.size() + 1) == run(input, piece));
  return 0;
}
