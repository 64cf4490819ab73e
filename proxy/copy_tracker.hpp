#pragma once
// A session's COPY and MOVE commands, matched with the COPYUID that answers each (UIDPLUS,
// RFC 4315; MOVE, RFC 6851). A COPY is answered in its tagged OK; a MOVE in an untagged OK
// before its EXPUNGEs (some servers put it in the tagged OK instead). Commands are answered
// in order, so an untagged COPYUID belongs to the oldest command in flight, if that is a MOVE.
//
// No I/O: the interceptor feeds it commands and response lines, and carries the decisions of
// what it reports (RewriteService::carry_decisions).

#include "proxy/rewrite_service.hpp"

#include "protocol/command.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace icalgate::proxy {

struct Copied {
  MailboxKey from;
  MailboxKey to;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> uids; // (source UID, new UID)
};

class CopyTracker {
 public:
  // Commands followed at once; more in flight are not (their copies are decided as new mail).
  static constexpr std::size_t max_pending = 64;
  // Messages per command whose decisions are carried.
  static constexpr std::size_t max_uids = 100'000;

  // A COPY or MOVE (CommandKind::copy) sent while `source` was selected.
  void sent(const protocol::Command& command, const MailboxKey& source);
  // A response's first line: the copies its COPYUID reports, if it answers a pending command.
  std::optional<Copied> answered(std::string_view line);
  bool idle() const { return pending_.empty(); }

 private:
  struct Pending {
    std::string tag;
    MailboxKey source;
    std::string destination; // canonical_mailbox()
    bool move = false;
    bool reported = false; // a MOVE's untagged COPYUID came
  };
  static std::optional<Copied> copies_in(std::string_view line, const Pending& command);

  std::deque<Pending> pending_;
};

} // namespace icalgate::proxy
