#pragma once
// A client command that carries literals, assembled with each literal turned into a quoted
// string, for the one case where the gateway must read a command whole before it goes on:
// a FETCH naming header fields as literals, which the rewrite decides like any other FETCH.
// Such literals are header field names (printable ASCII), so quoting loses nothing; one
// that cannot be quoted is refused.

#include "protocol/framer.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace icalgate::protocol {

class LiteralInliner {
 public:
  enum class Step : std::uint8_t {
    more,           // feed the next frame
    literal_wanted, // a synchronizing literal: the client waits for "+" before sending it
    done,           // command() holds the whole command
    refused,        // refusal() says why; the rest of the command is to be skipped
  };

  explicit LiteralInliner(std::size_t max_size) : max_size_(max_size) {}

  // The frames of one command, from its first line on, in order.
  Step add(const Frame& frame);

  const std::string& command() const { return command_; }
  std::string_view refusal() const { return refusal_; }

 private:
  Step refuse(std::string_view why);

  std::size_t max_size_;
  std::string command_;
  std::string_view refusal_;
};

} // namespace icalgate::protocol
