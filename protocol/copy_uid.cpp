#include "protocol/copy_uid.hpp"

#include "protocol/lexer.hpp"
#include "protocol/sequence_set.hpp"

#include <algorithm>

namespace icalgate::protocol {
namespace {

// The UIDs of a uid-set, each range ascending; false when it holds "*" or "$", or more than
// `max_uids` UIDs.
bool expand(const SequenceSet& set, std::size_t max_uids, std::vector<std::uint32_t>& out) {
  if (set.search_result) {
    return false;
  }
  for (const SeqRange& r : set.ranges) {
    if (r.first == SeqRange::star || r.last == SeqRange::star) {
      return false;
    }
    const std::uint32_t low = std::min(r.first, r.last);
    const std::uint32_t high = std::max(r.first, r.last);
    if (high - low >= max_uids - std::min(out.size(), max_uids)) {
      return false;
    }
    for (std::uint32_t uid = low;; ++uid) {
      out.push_back(uid);
      if (uid == high) {
        break;
      }
    }
  }
  return true;
}

} // namespace

std::optional<CopyUid> parse_copy_uid(std::string_view args, std::size_t max_uids) {
  Lexer lx(args);
  CopyUid out;
  const auto uidvalidity = lx.nz_number("UIDVALIDITY");
  auto source = uidvalidity && lx.sp() ? read_sequence_set(lx) : std::nullopt;
  auto destination = source && lx.sp() ? read_sequence_set(lx) : std::nullopt;
  if (!destination || !lx.at_end()) {
    return std::nullopt;
  }
  std::vector<std::uint32_t> from;
  std::vector<std::uint32_t> to;
  if (!expand(*source, max_uids, from) || !expand(*destination, max_uids, to) ||
      from.size() != to.size()) {
    return std::nullopt;
  }
  out.uidvalidity = *uidvalidity;
  out.uids.reserve(from.size());
  for (std::size_t i = 0; i < from.size(); ++i) {
    out.uids.emplace_back(from[i], to[i]);
  }
  return out;
}

} // namespace icalgate::protocol
