#pragma once
// RFC 9051 sequence-set: numbers, "*", ranges "a:b", comma lists, and "$" (SEARCHRES).

#include "protocol/lexer.hpp"
#include "protocol/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::protocol {

struct SeqRange {
  static constexpr std::uint32_t star = 0; // "*": the largest number in use

  std::uint32_t first = 1;
  std::uint32_t last = 1; // equal to first for a single number

  friend bool operator==(const SeqRange&, const SeqRange&) = default;
};

struct SequenceSet {
  bool search_result = false;   // "$": the result of the last SEARCH (RFC 5182)
  std::vector<SeqRange> ranges; // as written: order, direction and overlaps are kept

  // Whether `n` is in the set when "*" stands for `largest`. Always false for "$", which
  // only the server can resolve.
  bool contains(std::uint32_t n, std::uint32_t largest) const;

  friend bool operator==(const SequenceSet&, const SequenceSet&) = default;
};

// Parses a whole sequence set.
Result<SequenceSet> parse_sequence_set(std::string_view text, const ParseLimits& limits = {});
// Parses a sequence set at the lexer's position, stopping at the first byte that cannot
// continue it.
std::optional<SequenceSet> read_sequence_set(Lexer& lx);
std::string to_string(const SequenceSet& set);
void write_sequence_set(std::string& out, const SequenceSet& set);

} // namespace icalgate::protocol
