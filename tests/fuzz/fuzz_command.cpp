// Parses arbitrary bytes as one client command. Whatever parses must survive the round trip:
// the canonical form parses back to an equal command, and is a fixed point of the serializer.

#include "protocol/command.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "round trip failed: %s\n", what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace icalgate::protocol;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_command(input);
  if (!parsed) {
    return 0;
  }
  if (serialize(*parsed) != input) {
    fail("serialize() of an untouched command differs from its input");
  }
  const std::string canonical = serialize_canonical(*parsed);
  auto again = parse_command(canonical);
  if (!again) {
    fail("canonical form does not parse");
  }
  if (!(*again == *parsed)) {
    fail("canonical form parses to a different command");
  }
  if (serialize_canonical(*again) != canonical) {
    fail("canonical form is not a fixed point");
  }
  return 0;
}
