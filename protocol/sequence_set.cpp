#include "protocol/sequence_set.hpp"

#include <algorithm>

namespace icalgate::protocol {
namespace {

std::optional<std::uint32_t> read_seq_number(Lexer& lx) {
  if (lx.try_consume('*')) {
    return SeqRange::star;
  }
  return lx.nz_number("sequence number");
}

void write_seq_number(std::string& out, std::uint32_t n) {
  if (n == SeqRange::star) {
    out.push_back('*');
  } else {
    write_number(out, n);
  }
}

} // namespace

bool SequenceSet::contains(std::uint32_t n, std::uint32_t largest) const {
  if (search_result || n == 0) {
    return false;
  }
  return std::any_of(ranges.begin(), ranges.end(), [&](const SeqRange& r) {
    const std::uint32_t a = r.first == SeqRange::star ? largest : r.first;
    const std::uint32_t b = r.last == SeqRange::star ? largest : r.last;
    return n >= std::min(a, b) && n <= std::max(a, b);
  });
}

std::optional<SequenceSet> read_sequence_set(Lexer& lx) {
  SequenceSet set;
  if (lx.try_consume('$')) {
    set.search_result = true;
    return set;
  }
  while (true) {
    auto first = read_seq_number(lx);
    if (!first) {
      return std::nullopt;
    }
    SeqRange range{*first, *first};
    if (lx.try_consume(':')) {
      auto last = read_seq_number(lx);
      if (!last) {
        return std::nullopt;
      }
      range.last = *last;
    }
    if (set.ranges.size() >= lx.limits().max_ranges) {
      lx.fail(Errc::too_many, "too many ranges in sequence set");
      return std::nullopt;
    }
    set.ranges.push_back(range);
    if (!lx.try_consume(',')) {
      return set;
    }
  }
}

Result<SequenceSet> parse_sequence_set(std::string_view text, const ParseLimits& limits) {
  Lexer lx(text, limits);
  auto set = read_sequence_set(lx);
  if (!set) {
    return lx.take_error();
  }
  if (!lx.at_end()) {
    lx.fail(Errc::syntax, "unexpected byte after sequence set");
    return lx.take_error();
  }
  return std::move(*set);
}

void write_sequence_set(std::string& out, const SequenceSet& set) {
  if (set.search_result) {
    out.push_back('$');
    return;
  }
  for (std::size_t i = 0; i < set.ranges.size(); ++i) {
    if (i != 0) {
      out.push_back(',');
    }
    write_seq_number(out, set.ranges[i].first);
    if (set.ranges[i].last != set.ranges[i].first) {
      out.push_back(':');
      write_seq_number(out, set.ranges[i].last);
    }
  }
}

std::string to_string(const SequenceSet& set) {
  std::string out;
  write_sequence_set(out, set);
  return out;
}

} // namespace icalgate::protocol
