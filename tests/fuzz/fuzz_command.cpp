// Parses arbitrary bytes as one client command. Whatever parses must survive the round trip:
// the canonical form parses back to an equal command, and is a fixed point of the serializer.
// A FETCH with the gateway's Message-ID item added is the same FETCH asking for one item more.

#include "protocol/command.hpp"
#include "protocol/fetch_answer.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <variant>

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
  if (const auto* fetch = std::get_if<FetchArgs>(&parsed->args)) {
    if (const auto added = with_fetch_item(input, message_id_item)) {
      auto asked = parse_command(*added);
      if (!asked) {
        fail("a FETCH with the Message-ID item added does not parse");
      }
      const auto* more = std::get_if<FetchArgs>(&asked->args);
      if (more == nullptr || asked->tag != parsed->tag || asked->uid != parsed->uid ||
          more->set != fetch->set || more->changed_since != fetch->changed_since ||
          more->vanished != fetch->vanished ||
          more->items.items.size() != fetch->items.items.size() + 1 ||
          !std::equal(fetch->items.items.begin(), fetch->items.items.end(),
                      more->items.items.begin())) {
        fail("adding the Message-ID item changed the FETCH otherwise");
      }
    }
  }
  return 0;
}
