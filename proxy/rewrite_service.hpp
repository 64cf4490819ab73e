#pragma once
// What every session shares for the meeting-invitation rewrite (issue: OWA-link messages
// served as iMIP): the Graph client, the decision store, a cache of rewritten messages, each
// user's listing of meeting messages, and the counters. One per gateway, on its io_context.
//
// Decisions are final (DESIGN.md §2, the rewrite contract): a message is `plain`, `original`
// (an OWA-link message that a client has been shown unchanged, e.g. because Graph failed) or
// `rewritten` (the bytes every later session and a restarted gateway serve).

#include "proxy/config.hpp"
#include "proxy/rewrite_store.hpp"

#include "calendar/graph_client.hpp"
#include "protocol/lexer.hpp"
#include "protocol/mime/message.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace icalgate::proxy {

struct MailboxKey {
  std::string user; // the UPN
  std::string mailbox;
  std::uint32_t uidvalidity = 0;

  MessageKey message(std::uint32_t uid) const { return {user, mailbox, uidvalidity, uid}; }
};

// The Message-IDs of a user's meeting messages as Graph listed them.
struct MeetingListing {
  std::unordered_set<std::string> message_ids; // angle brackets included, as in the header
  // Mail that arrived after this instant may be missing from the listing.
  std::chrono::system_clock::time_point complete_until;
  // When the gateway asked Graph for it: mail an IMAP session saw before then is in it.
  std::chrono::steady_clock::time_point asked{};
};

struct RewriteCounters {
  std::uint64_t plain = 0;     // messages classified as not OWA-link meeting messages
  std::uint64_t rewritten = 0; // rewrites built (not counting those served from the store)
  std::uint64_t originals = 0; // OWA-link messages delivered unchanged
  std::map<std::string, std::uint64_t> original_reasons;
  std::uint64_t listings = 0; // Graph listings fetched
  std::uint64_t listing_failures = 0;
  std::uint64_t listed_events = 0; // Graph lookups spared: the event came with the listing
  std::uint64_t carried = 0;       // decisions given to copies (COPY, MOVE)
  std::uint64_t announced = 0;     // rewrites announced before the message was fetched
};

class RewriteService {
 public:
  static protocol::Result<std::unique_ptr<RewriteService>>
  create(const boost::asio::any_io_executor& ex, const Config& config);

  // The UPN whose mail is rewritten for this login, or nullopt when the rewrite is off for it.
  std::optional<std::string> account_for(std::string_view login) const;
  bool uses_listing() const { return graph_section_.listing; }
  // Whether header syncs announce rewritten sizes (`[rewrite] announce_sizes`, with a listing).
  bool announces() const {
    return graph_section_.listing && config_.announce_sizes && !config_.dry_run;
  }
  std::uint64_t max_message_size() const { return config_.max_message_size; }

  // Known decisions for some UIDs of a mailbox (absent: undecided).
  std::map<std::uint32_t, MessageState> known(const MailboxKey& mailbox,
                                              std::span<const std::uint32_t> uids);
  void record_plain(const MailboxKey& mailbox, std::span<const std::uint32_t> uids);
  // How far the mailbox is decided (see RewriteStore::decided_through); 0 on errors.
  std::uint32_t decided_through(const MailboxKey& mailbox);
  void raise_decided_through(const MailboxKey& mailbox, std::uint32_t uid);
  // The decisions of UIDs [first, last]; empty on errors.
  std::map<std::uint32_t, MessageState> decided_between(const MailboxKey& mailbox,
                                                        std::uint32_t first, std::uint32_t last);
  std::vector<std::uint32_t> rewritten_between(const MailboxKey& mailbox, std::uint32_t first,
                                               std::uint32_t last);
  // A session selected the mailbox: decisions under another UIDVALIDITY are dropped (once per
  // mailbox and process).
  void selected(const MailboxKey& mailbox);
  // A COPY or MOVE gave mailbox `to` copies of messages of `from` (COPYUID pairs: source
  // UID, new UID). Each copy gets its source's decision, so that it is served as the client
  // may already hold it: a client that knows the new UID can copy its cached message there
  // without fetching it (Thunderbird does), and Graph's event may have changed since.
  // Copies that continue the destination's decided range extend it. Returns how many
  // decisions were carried.
  std::size_t carry_decisions(const MailboxKey& from, const MailboxKey& to,
                              std::span<const std::pair<std::uint32_t, std::uint32_t>> uids);
  // Records an OWA-link message that is delivered unchanged, with the reason, and counts it.
  MessageState record_original(const MessageKey& key, std::string_view reason);
  // The parsed rewritten message of a `rewritten` decision (cached); null if unavailable.
  std::shared_ptr<const protocol::mime::Message> rewritten(const MessageKey& key);

  // Announces the rewrite of a meeting message the listing names, from its BODYSTRUCTURE
  // and RFC822.SIZE (calendar/announced_rewrite.hpp), so that a header sync is answered
  // without fetching it whole: nullopt when it is not announced (the caller fetches it whole
  // to decide it), which includes a message it decided meanwhile: plain by its structure, or
  // the original when Graph has no event for it.
  boost::asio::awaitable<std::optional<Announced>> announce(MessageKey key, std::uint64_t size,
                                                            const protocol::SExpr& structure,
                                                            std::string message_id);
  // The announcements of undecided messages in UIDs [first, last], without their events;
  // empty on errors.
  std::map<std::uint32_t, Announced> announcements(const MailboxKey& mailbox, std::uint32_t first,
                                                   std::uint32_t last);

  // Decides a message the gateway has fetched whole: classifies it, looks its event up in
  // Graph (or takes the one announced with it: the rewrite keeps what was announced),
  // rewrites it and records the outcome. Never throws; failures give `original`.
  boost::asio::awaitable<MessageState> decide(MessageKey key, std::string original);

  // The user's meeting-message listing, refreshed from Graph when it was asked before
  // `asked_after` or, without that, when older than the configured interval; null when Graph
  // cannot list (the caller classifies from IMAP instead). After a failed refresh the next
  // one waits listing_retry (or the interval, if shorter); meanwhile the listing it has
  // (possibly null) is returned. While another caller's refresh is in flight, a caller that
  // it covers waits for it. `with_events`: a refresh brings the events along, for a sync
  // that is about to decide them (decide() then needs no lookup).
  boost::asio::awaitable<std::shared_ptr<const MeetingListing>>
  listing(const std::string& upn, std::chrono::steady_clock::time_point asked_after = {},
          bool with_events = false);
  // The user's listing as it is, without asking Graph; null when there is none.
  std::shared_ptr<const MeetingListing> current_listing(const std::string& upn) const;

  const RewriteCounters& counters() const { return counters_; }

  // The kinds of first text bodies that classification met in a user's mail, across sessions,
  // mailboxes and restarts: Exchange renders MIME per mailbox setting, so they tell how much
  // of a message's start decides it (FetchInterceptor::section_one_octets()).
  void note_first_body(const std::string& upn, bool html);
  FirstBodies first_bodies(const std::string& upn);
  // Writes what note_first_body() counted since the last time to the store (once per
  // classified command rather than once per message).
  void keep_first_bodies(const std::string& upn);

 private:
  RewriteService(const Config& config, std::unique_ptr<calendar::GraphClient> graph,
                 std::unique_ptr<RewriteStore> store);
  boost::asio::awaitable<MessageState> decide_unguarded(MessageKey key, std::string original);
  // The event for a message: the one that came with the listing, else Graph's lookup.
  boost::asio::awaitable<calendar::GraphResult<std::string>>
  event_for(const std::string& upn, const std::string& message_id);
  // The message's announcement with its event, if it has one.
  std::optional<Announced> announced_for(const MessageKey& key);
  // The rewrite of an announced message (`original` parsed, an OWA-link message).
  MessageState decide_announced(const MessageKey& key, const std::string& original,
                                const Announced& announced);
  void remember(const MessageKey& key, std::shared_ptr<const protocol::mime::Message> message);
  MessageState store_rewritten(const MessageKey& key, std::string bytes);

  struct UserListing {
    std::shared_ptr<const MeetingListing> listing;
    std::chrono::steady_clock::time_point fetched{};
    // The last refresh that failed, if the one after it has not succeeded: while Graph
    // fails, sessions are not made to wait for it on every FETCH.
    std::optional<std::chrono::steady_clock::time_point> failed;
    bool refreshing = false;
    std::chrono::steady_clock::time_point refresh_asked{};           // of the refresh in flight
    std::vector<std::shared_ptr<boost::asio::steady_timer>> waiting; // woken when it ends
  };
  static constexpr std::chrono::seconds listing_retry{30};

  RewriteConfig config_;
  GraphSection graph_section_;
  std::unique_ptr<calendar::GraphClient> graph_;
  std::unique_ptr<RewriteStore> store_;
  std::map<std::string, UserListing> listings_;
  // Parsed rewritten messages, most recently used first, bounded by total bytes.
  using CacheKey = std::string;
  std::list<std::pair<CacheKey, std::shared_ptr<const protocol::mime::Message>>> lru_;
  std::unordered_map<CacheKey, decltype(lru_)::iterator> cache_index_;
  std::size_t cached_bytes_ = 0;
  static constexpr std::size_t max_cached_bytes = 64u << 20;
  RewriteCounters counters_;
  struct UserFirstBodies {
    FirstBodies counted;
    FirstBodies kept; // as the store has them
  };
  // The user's counts, read from the store the first time.
  UserFirstBodies& user_first_bodies(const std::string& upn);
  std::unordered_map<std::string, UserFirstBodies> first_bodies_;
  std::unordered_set<std::string> selected_; // mailboxes whose UIDVALIDITY was checked
  // Graph answers that came with a listing: (UPN, Message-ID) -> what the lookup would give,
  // oldest first, bounded by total bytes and age; each is used once.
  void keep_listed_event(const std::string& upn, const calendar::MeetingMessageRef& ref);
  std::optional<std::string> take_listed_event(const std::string& upn, std::string_view message_id);
  struct ListedEvent {
    std::string key;
    std::string json;
    std::chrono::steady_clock::time_point listed;
  };
  std::list<ListedEvent> listed_events_;
  std::unordered_map<std::string, decltype(listed_events_)::iterator> listed_index_;
  std::size_t listed_bytes_ = 0;
  static constexpr std::size_t max_listed_bytes = 64u << 20;
  // Older than this, an event may have changed since: the lookup asks again.
  static constexpr std::chrono::minutes max_listed_age{15};
};

// "DD-Mon-YYYY HH:MM:SS +ZZZZ" (IMAP INTERNALDATE) as a point in time.
std::optional<std::chrono::system_clock::time_point> parse_internaldate(std::string_view text);

} // namespace icalgate::proxy
