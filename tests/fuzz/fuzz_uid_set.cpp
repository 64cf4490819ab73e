// Arbitrary bytes as what a relay reads while following a session: a response line's head
// (tag, number, name, leading UID, a response code's number) and a UID set, split at a
// decided UID. Checked: the head is made of the line's own bytes; a set's explicit numbers
// survive uid_list() and parsing again; and split_at() sorts every UID the set names (the
// largest UID lying above the decided range) into the decided ranges at or below it, or into
// `above`, which names nothing at or below it.
//
// Input: one byte for the decided UID, the response line up to '\n', the set after it.

#include "protocol/line_head.hpp"
#include "protocol/uid_set.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

using namespace icalgate::protocol;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "uid set check failed: %s\n", what);
  std::abort();
}

bool within(std::string_view part, std::string_view line) {
  return part.empty() ||
         (part.data() >= line.data() && part.data() + part.size() <= line.data() + line.size());
}

void check_head(std::string_view line) {
  const LineHead head = head_of(line);
  if (!within(head.tag, line) || !within(head.name, line)) {
    fail("head outside the line");
  }
  if (head.tag.find_first_of(" \r\n") != std::string_view::npos) {
    fail("tag holds a separator");
  }
  if (leading_uid(line) && line.find('(') == std::string_view::npos) {
    fail("a leading UID without an attribute list");
  }
  (void)code_number_in(line, "[UIDNEXT ");
}

void check_set(std::string_view text, std::uint32_t through) {
  auto set = parse_sequence_set(text);
  if (!set) {
    return;
  }
  constexpr std::size_t limit = 1000;
  if (auto numbers = explicit_numbers(*set, limit)) {
    if (numbers->size() > limit || !std::is_sorted(numbers->begin(), numbers->end()) ||
        std::adjacent_find(numbers->begin(), numbers->end()) != numbers->end()) {
      fail("explicit numbers not ascending and unique");
    }
    if (!numbers->empty()) {
      auto again = parse_sequence_set(uid_list(*numbers));
      if (!again || explicit_numbers(*again, limit) != numbers) {
        fail("uid_list does not give the same numbers back");
      }
    }
  }
  const UidSplit split = split_at(*set, through);
  std::optional<SequenceSet> above;
  if (!split.above.empty()) {
    auto parsed = parse_sequence_set(split.above);
    if (!parsed) {
      fail("above is not a sequence set");
    }
    above = *parsed;
  }
  const std::uint32_t largest = through + 64;
  for (std::uint32_t n = 1; n <= largest; ++n) {
    const bool named = set->contains(n, largest);
    const bool decided = std::any_of(split.decided.begin(), split.decided.end(),
                                     [n](auto r) { return r.first <= n && n <= r.second; });
    const bool above_names = above && above->contains(n, largest);
    if (n <= through ? named != decided : decided) {
      fail("decided ranges wrong");
    }
    if (n <= through ? above_names : (named && !above_names)) {
      fail("above wrong");
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 4096) {
    return 0;
  }
  const std::uint32_t through = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t eol = rest.find('\n');
  check_head(rest.substr(0, eol));
  if (eol != std::string_view::npos) {
    check_set(rest.substr(eol + 1), through);
  }
  return 0;
}
