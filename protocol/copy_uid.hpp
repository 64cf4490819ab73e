#pragma once
// The COPYUID response code of UIDPLUS (RFC 4315 §3; for MOVE, RFC 6851 §4.3): the UIDs
// that copied or moved messages received in the destination mailbox. It is how a client
// learns a message's new UID without fetching it, and so what lets the gateway keep showing
// a copy as the client already has it.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace icalgate::protocol {

struct CopyUid {
  std::uint32_t uidvalidity = 0; // of the destination mailbox
  // (source UID, destination UID) for each message, in the order the server listed them.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> uids;

  friend bool operator==(const CopyUid&, const CopyUid&) = default;
};

// The code's arguments, "uidvalidity source-set destination-set" (ResponseCode::args).
// A range covers its two ends and everything between, written either way round (RFC 4315
// uid-range); it is taken in ascending order, as servers list it. nullopt when the text does
// not parse, a set holds "*" or "$", the sets differ in size, or they name more than
// `max_uids` messages.
std::optional<CopyUid> parse_copy_uid(std::string_view args, std::size_t max_uids);

} // namespace icalgate::protocol
