#pragma once
// The persistent rewrite decision per message, so that every session, every instance sharing
// the state and a restarted gateway serve the same thing for the same message (DESIGN.md §2,
// "The rewrite contract"). A message is keyed by (user, mailbox, UIDVALIDITY, UID) and is
// either `plain` (not an OWA-link meeting message), `original` (a client has seen it
// unchanged, so it stays unchanged) or `rewritten` (these exact bytes, from now on).
//
// The first decision wins: a decision, once stored, is never replaced, so two sessions or two
// gateways racing on one message both end up serving what was stored first. Decisions go away
// only with their mailbox's UIDVALIDITY or their user.
//
// Callers see only this interface; open() picks the backend. Today that is SQLite (one file,
// WAL, shareable by several processes on one host); a PostgreSQL backend for several hosts
// fits behind the same calls.
//
// Not an IMAP-facing structure: user names are compared ASCII case-insensitively (UPNs),
// and the mailbox name INBOX case-insensitively (RFC 3501 §5.1); other mailbox names as given.
// Failures are values: a storage failure or a row that fails its integrity check is an error,
// never a guess, and error texts carry no user names or message content.

#include "protocol/result.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace icalgate::proxy {

struct MessageKey {
  std::string user;
  std::string mailbox;
  std::uint32_t uidvalidity = 0;
  std::uint32_t uid = 0;
};

enum class MessageState { plain, original, rewritten };

std::string_view to_string(MessageState state);

struct StoredMessage {
  MessageState state = MessageState::plain;
  std::string reason; // short static-ish text, e.g. "graph: not_found"; never secrets
  std::string bytes;  // the rewritten message (state == rewritten only)

  friend bool operator==(const StoredMessage&, const StoredMessage&) = default;
};

// A rewrite announced before the message was fetched whole (calendar/announced_rewrite.hpp):
// clients have seen this size (and, when `boundary` is set, that top-level Content-Type), so
// the rewrite built later keeps them, from this Graph response. Not a decision: the message
// is decided once it is fetched whole, and the announcement then goes.
struct Announced {
  std::uint64_t size = 0;
  std::string boundary;
  std::string event; // the Graph response; empty when not asked for

  friend bool operator==(const Announced&, const Announced&) = default;
};

// The kinds of first text bodies classification met in a user's mail (RewriteService).
struct FirstBodies {
  std::uint64_t html = 0;
  std::uint64_t plain = 0;

  friend bool operator==(const FirstBodies&, const FirstBodies&) = default;
};

class RewriteStore {
 public:
  // Success without a value (protocol::Result has no void form).
  using Done = std::monostate;

  // Larger rewritten messages are refused by put_if_absent() and, as corruption, by get().
  static constexpr std::size_t max_message_bytes = std::size_t{1} << 30;

  // Opens `path`, creating the file (mode 0600: it holds mail), its parent directories and
  // the schema as needed; ":memory:" gives a private in-memory store. File stores use WAL and
  // wait up to 5 seconds for another process's write, so several gateways on one host
  // can share one file. Errors name the path.
  static protocol::Result<std::unique_ptr<RewriteStore>> open(const std::string& path);

  virtual ~RewriteStore() = default;
  RewriteStore() = default;
  RewriteStore(const RewriteStore&) = delete;
  RewriteStore& operator=(const RewriteStore&) = delete;

  // The decided states of `uids` in one mailbox, read in one transaction without message
  // bytes. UIDs with no decision yet are absent from the map.
  virtual protocol::Result<std::map<std::uint32_t, MessageState>>
  states(std::string_view user, std::string_view mailbox, std::uint32_t uidvalidity,
         std::span<const std::uint32_t> uids) = 0;

  // The decided states of UIDs [first, last] in one mailbox.
  virtual protocol::Result<std::map<std::uint32_t, MessageState>>
  states_between(std::string_view user, std::string_view mailbox, std::uint32_t uidvalidity,
                 std::uint32_t first, std::uint32_t last) = 0;

  // The decision for one message with its bytes, checked (length and SHA-256) before it is
  // returned; nullopt if undecided.
  virtual protocol::Result<std::optional<StoredMessage>> get(const MessageKey& key) = 0;

  // Stores `message` unless the message already has a decision, atomically; returns the
  // decision stored afterwards, which is the existing one if there was one. `bytes` are kept
  // only for `rewritten`, which must carry some. The message's announcement goes.
  virtual protocol::Result<StoredMessage> put_if_absent(const MessageKey& key,
                                                        const StoredMessage& message) = 0;

  // Stores `announced` for a message without a decision or an announcement, atomically;
  // returns the announcement stored afterwards (the existing one if there was one), or
  // nullopt when the message has a decision.
  virtual protocol::Result<std::optional<Announced>> announce(const MessageKey& key,
                                                              const Announced& announced) = 0;
  // The announcements of UIDs [first, last] in one mailbox; `with_event`: their Graph
  // responses too.
  virtual protocol::Result<std::map<std::uint32_t, Announced>>
  announcements(std::string_view user, std::string_view mailbox, std::uint32_t uidvalidity,
                std::uint32_t first, std::uint32_t last, bool with_event) = 0;

  // Records `plain` for every UID that has no decision yet, in one transaction (a header sync
  // of thousands of messages).
  virtual protocol::Result<Done> put_plain(std::string_view user, std::string_view mailbox,
                                           std::uint32_t uidvalidity,
                                           std::span<const std::uint32_t> uids) = 0;

  // Gives each destination UID of `uids` (source UID, destination UID) in `to_mailbox` under
  // `to_uidvalidity` the decision of its source in `from_mailbox` under `from_uidvalidity`,
  // rewritten bytes included, unless it has one (or else its announcement); in one transaction, the
  // bytes never leaving the store. Sources without a decision are skipped. Returns how many were
  // given.
  virtual protocol::Result<std::size_t>
  copy_decisions(std::string_view user, std::string_view from_mailbox,
                 std::uint32_t from_uidvalidity, std::string_view to_mailbox,
                 std::uint32_t to_uidvalidity,
                 std::span<const std::pair<std::uint32_t, std::uint32_t>> uids) = 0;

  // How far a mailbox is decided: every UID up to this one that existed when it was recorded
  // has a decision (0: nothing known). UIDs only grow, so new mail lies above it.
  virtual protocol::Result<std::uint32_t>
  decided_through(std::string_view user, std::string_view mailbox, std::uint32_t uidvalidity) = 0;
  // Raises decided_through to `uid` (never lowers it).
  virtual protocol::Result<Done> raise_decided_through(std::string_view user,
                                                       std::string_view mailbox,
                                                       std::uint32_t uidvalidity,
                                                       std::uint32_t uid) = 0;
  // The UIDs in [first, last] whose decision is `rewritten`.
  virtual protocol::Result<std::vector<std::uint32_t>>
  rewritten_between(std::string_view user, std::string_view mailbox, std::uint32_t uidvalidity,
                    std::uint32_t first, std::uint32_t last) = 0;

  // The mailbox now has `uidvalidity`: its UIDs under any other value name other messages.
  virtual protocol::Result<Done> forget_other_uidvalidity(std::string_view user,
                                                          std::string_view mailbox,
                                                          std::uint32_t uidvalidity) = 0;

  // The kinds of first text bodies kept for `user` (zero when none were).
  virtual protocol::Result<FirstBodies> first_bodies(std::string_view user) = 0;
  virtual protocol::Result<Done> keep_first_bodies(std::string_view user,
                                                   const FirstBodies& kinds) = 0;

  // Every decision of `user`, in all mailboxes (and what was kept of the user's mail);
  // returns how many decisions were removed.
  virtual protocol::Result<std::size_t> forget_user(std::string_view user) = 0;
};

} // namespace icalgate::proxy
