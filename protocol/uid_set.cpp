#include "protocol/uid_set.hpp"

#include <algorithm>
#include <set>

namespace icalgate::protocol {

std::string uid_list(std::vector<std::uint32_t> uids) {
  std::sort(uids.begin(), uids.end());
  std::string out;
  for (std::size_t i = 0; i < uids.size();) {
    std::size_t j = i;
    while (j + 1 < uids.size() && uids[j + 1] == uids[j] + 1) {
      ++j;
    }
    if (!out.empty()) {
      out += ',';
    }
    out += std::to_string(uids[i]);
    if (j > i) {
      out += ':' + std::to_string(uids[j]);
    }
    i = j + 1;
  }
  return out;
}

std::optional<std::vector<std::uint32_t>> explicit_numbers(const SequenceSet& set,
                                                           std::size_t limit) {
  if (set.search_result) {
    return std::nullopt;
  }
  std::set<std::uint32_t> numbers;
  for (const auto& r : set.ranges) {
    if (r.first == SeqRange::star || r.last == SeqRange::star) {
      return std::nullopt;
    }
    const std::uint32_t a = std::min(r.first, r.last);
    const std::uint32_t b = std::max(r.first, r.last);
    if (b - a >= limit || numbers.size() + (b - a) >= limit) {
      return std::nullopt;
    }
    for (std::uint32_t n = a; n <= b; ++n) {
      numbers.insert(n);
    }
  }
  return std::vector<std::uint32_t>(numbers.begin(), numbers.end());
}

std::optional<std::string> with_uid_set(std::string_view line, const std::string& set) {
  std::size_t at = 0;
  for (int words = 0; words < 3; ++words) {
    at = line.find(' ', at);
    if (at == std::string_view::npos) {
      return std::nullopt;
    }
    ++at;
  }
  const std::size_t set_end = line.find(' ', at);
  if (set_end == std::string_view::npos) {
    return std::nullopt;
  }
  return std::string(line.substr(0, at)) + set + std::string(line.substr(set_end));
}

std::string uid_fetch_line(std::string_view tag, std::string_view set, const FetchItems& items) {
  return std::string(tag) + " UID FETCH " + std::string(set) + ' ' + to_string(items) + "\r\n";
}

UidSplit split_at(const SequenceSet& set, std::uint32_t through) {
  UidSplit split;
  split.covered_to = through;
  bool only_tail = true;
  for (const auto& r : set.ranges) {
    const bool star = r.first == SeqRange::star || r.last == SeqRange::star;
    std::uint32_t low = std::min(r.first, r.last);
    std::uint32_t high = std::max(r.first, r.last);
    if (star) {
      // "n:*" covers n up to the largest UID, whatever it is now.
      low = r.first == SeqRange::star ? r.last : r.first;
      if (low == SeqRange::star) {
        low = through + 1; // "*" alone: the newest message
      }
      if (low <= through) {
        split.decided.emplace_back(low, through);
      }
      split.covers_tail = split.covers_tail || low <= through + 1;
      const std::uint32_t from = std::max(low, through + 1);
      split.above += (split.above.empty() ? "" : ",") + std::to_string(from) + ":*";
      continue;
    }
    if (low <= through) {
      split.decided.emplace_back(low, std::min(high, through));
    }
    if (low <= through + 1) {
      split.covered_to = std::max(split.covered_to, high);
    }
    if (high > through) {
      only_tail = false;
      const std::uint32_t from = std::max(low, through + 1);
      split.above += (split.above.empty() ? "" : ",") + std::to_string(from) +
                     (high > from ? ":" + std::to_string(high) : "");
    }
  }
  split.above_is_tail_only = only_tail && split.above == std::to_string(through + 1) + ":*";
  return split;
}

} // namespace icalgate::protocol
