// Parses arbitrary bytes as one server response. Whatever parses must survive the round trip
// (the canonical form parses back to an equal response and is a fixed point), and every FETCH
// attribute's byte ranges must lie inside the message and nest. A FETCH without the
// gateway's Message-ID item parses to the same attributes less that item's.

#include "protocol/copy_uid.hpp"
#include "protocol/fetch_answer.hpp"
#include "protocol/response.hpp"

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

bool inside(const icalgate::protocol::ByteRange& inner,
            const icalgate::protocol::ByteRange& outer) {
  return inner.offset >= outer.offset && inner.offset + inner.length <= outer.offset + outer.length;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace icalgate::protocol;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_response(input);
  if (!parsed) {
    return 0;
  }
  if (serialize(*parsed) != input) {
    fail("serialize() of an untouched response differs from its input");
  }
  if (const auto* fetch = std::get_if<FetchData>(&parsed->body)) {
    const ByteRange all{0, input.size()};
    for (const auto& att : fetch->atts) {
      if (!inside(att.whole, all) || !inside(att.value, att.whole) ||
          !inside(att.content, att.value) ||
          att.value.offset + att.value.length != att.whole.offset + att.whole.length) {
        fail("FETCH attribute byte ranges do not nest");
      }
      if (att.string && att.string->form != IString::Form::quoted &&
          input.substr(att.content.offset, att.content.length) != att.string->value) {
        fail("content range does not hold the value");
      }
    }
    const std::string stripped = without_attributes(input, *fetch, answers_message_id_item);
    auto rest = parse_response(stripped);
    if (!rest || rest->kind != ResponseKind::fetch) {
      fail("a FETCH without the Message-ID item does not parse");
    }
    const auto& kept = std::get<FetchData>(rest->body).atts;
    if (std::all_of(fetch->atts.begin(), fetch->atts.end(), answers_message_id_item)) {
      if (stripped != input) {
        fail("an answer of the Message-ID item alone lost it");
      }
      return 0;
    }
    std::size_t next = 0;
    for (const auto& att : fetch->atts) {
      if (!answers_message_id_item(att) && (next == kept.size() || !(kept[next++] == att))) {
        fail("taking out the Message-ID item changed another attribute");
      }
    }
    if (next != kept.size()) {
      fail("taking out the Message-ID item left one");
    }
  }
  if (const auto* status = std::get_if<StatusResponse>(&parsed->body);
      status != nullptr && status->code && status->code->name == "COPYUID") {
    constexpr std::size_t max_uids = 1000;
    if (auto copied = parse_copy_uid(status->code->args, max_uids)) {
      if (copied->uidvalidity == 0 || copied->uids.size() > max_uids) {
        fail("COPYUID beyond its bounds");
      }
      for (const auto& [from, to] : copied->uids) {
        if (from == 0 || to == 0) {
          fail("COPYUID names UID 0");
        }
      }
    }
  }
  const std::string canonical = serialize_canonical(*parsed);
  auto again = parse_response(canonical);
  if (!again) {
    fail("canonical form does not parse");
  }
  if (!(*again == *parsed)) {
    fail("canonical form parses to a different response");
  }
  if (serialize_canonical(*again) != canonical) {
    fail("canonical form is not a fixed point");
  }
  return 0;
}
