#pragma once
// UID sets as a relay builds them: compressed lists, the UIDs an explicit set names, a set
// split at the UID a mailbox is decided through, and UID FETCH lines with another set.

#include "protocol/fetch_item.hpp"
#include "protocol/sequence_set.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace icalgate::protocol {

// A UID set for the given UIDs, ranges compressed ("1:3,7").
std::string uid_list(std::vector<std::uint32_t> uids);

// The numbers of an explicit set (no "*", no "$"), ascending and once each, or nullopt when
// it names more than `limit`.
std::optional<std::vector<std::uint32_t>> explicit_numbers(const SequenceSet& set,
                                                           std::size_t limit);

// "TAG UID FETCH SET ITEMS..." with another SET; nullopt when the line is not laid out so.
std::optional<std::string> with_uid_set(std::string_view line, const std::string& set);

// "TAG UID FETCH SET (ITEMS)" with CRLF.
std::string uid_fetch_line(std::string_view tag, std::string_view set, const FetchItems& items);

// A UID set seen from a mailbox decided through UID `through`.
struct UidSplit {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> decided; // ranges at or below it
  std::string above;               // the rest as a UID set ("" when nothing lies above)
  bool covers_tail = false;        // the set reaches "*" from at or below through + 1
  bool above_is_tail_only = false; // `above` is exactly "through+1:*"
  std::uint32_t covered_to = 0;    // a numeric range reaches from through + 1 up to here
};

UidSplit split_at(const SequenceSet& set, std::uint32_t through);

} // namespace icalgate::protocol
