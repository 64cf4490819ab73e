#pragma once
// The relay's part in the meeting-invitation rewrite, for one session. A client FETCH that
// would show content of messages in the selected mailbox is held back until every message it
// names is decided: the gateway asks the upstream what it needs first (one probe FETCH with
// the client's own set: UIDs, sizes, and either Message-IDs to match against Graph's listing
// of meeting messages, or BODYSTRUCTURE; then, only for candidates, the start of the first
// text body and finally the whole message), decides through the RewriteService, and only
// then forwards the client's command. The answers for rewritten messages are rebuilt from
// the rewritten bytes (protocol/fetch_substitute.hpp); everything else streams through.
//
// A header sync by UID needs no probe: one that asks for Message-IDs (Thunderbird's) goes as
// it is, one that does not (mbsync's) with the Message-ID asked along, taken out of the
// answers again (unless it names decided mail, whose Message-IDs a probe of the rest spares
// the upstream). With a Graph listing taken after the mailbox was selected, the command goes
// upstream at once, the answers of messages the listing does not name pass on as they come, and
// only those of listed meeting messages (and of mail newer than the listing) wait until those
// messages are fetched whole and decided, before the command's completion. Mail newer than the
// listing (it arrived after SELECT) is decided by a listing asked once its answers are in: Graph
// names it if it is a meeting message. Only when Graph cannot list is it probed from IMAP.
// Without Graph, BODYSTRUCTURE and the start of BODY[1] are asked along instead: where section
// 1 starts with the first text body, that decides the message at once (a KiB decides plain
// bodies, the first probe's 16 KiB HTML ones: section_one_octets()), and only the rest wait:
// fetched whole with the invitations found when small, else probed.
//
// A FETCH by UID of decided mail, some of it rewritten (a client downloading or opening
// invitations), is not held: it goes upstream at once, asking for the rewritten messages only
// what their rewritten bytes do not hold (under the gateway's own tag, beside the rest as
// asked, when it names other mail too); those answers are completed from the rewritten bytes
// (protocol/fetch_complete.hpp). Pipelining clients keep their pipeline full. A FETCH by
// sequence number of decided mail that is not rewritten goes on as well, once answers have
// shown the UIDs of those numbers and no EXPUNGE has renumbered them since. A FETCH by UID
// that opens or downloads announced invitations (a header sync showed their rewritten size)
// goes upstream as the client asked, each invitation rewritten from the whole message its own
// answer carries (decide_from_answers()).
//
// A message copied or moved keeps its decision at its new UID, which the COPYUID answer
// names (CopyTracker): a client may hold the copy without ever fetching it.
//
// The probes run on the upstream connection while no client command is in flight (the relay
// pauses the client side), so their untagged answers cannot be confused with the client's;
// unsolicited responses that arrive meanwhile are passed on to the client.

#include "calendar/owa_link.hpp"
#include "proxy/copy_tracker.hpp"
#include "proxy/rewrite_service.hpp"
#include "proxy/stream.hpp"

#include "protocol/command.hpp"
#include "protocol/fetch_answer.hpp"
#include "protocol/response.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::proxy {

struct InterceptIo {
  Stream& upstream;
  FrameReader& upstream_reader;
  // Sends bytes to the client (taking turns with the relay); false when the client is gone.
  std::function<asio::awaitable<bool>(std::string)> to_client;
  // When set, responses that are not the gateway's go here instead of to the client.
  std::string* defer = nullptr;
};

// What run() did with the held command: `completion` is set when run() forwarded it and
// read its answers itself (the tagged completion, for the relay to pass on); otherwise the
// command was forwarded and its answers are the relay's to read.
struct InterceptOutcome {
  bool ok = true; // false: the upstream connection (or the client) failed
  std::optional<std::string> completion;
};

// What the relay does with a client command (FetchInterceptor::hold()).
struct Hold {
  bool hold = false; // keep it and everything after it back until run()
  // Otherwise, when set: the lines to send upstream in its stead (answered from rewritten
  // bytes as they come; the command does not wait), each one tagged completion.
  std::optional<std::string> instead;
  unsigned upstream_commands = 1;
};

struct InterceptStats {
  std::uint64_t commands = 0;        // FETCH commands held back for a decision
  std::uint64_t streamed = 0;        // ... of which answered while deciding, without a probe
  std::uint64_t asked_along = 0;     // ... of those asked with items added
  std::uint64_t probe_commands = 0;  // commands the gateway sent upstream itself
  std::uint64_t round_trips = 0;     // probe exchanges (each one write, answered together)
  std::uint64_t probe_bytes = 0;     // upstream bytes read in answer to probes
  std::uint64_t substituted = 0;     // FETCH responses served from rewritten bytes
  std::uint64_t unanswerable = 0;    // commands completed NO: an answer could not be rebuilt
  std::uint64_t from_store = 0;      // commands whose content the upstream was not asked for
  std::uint64_t decided_at_once = 0; // content FETCHes of decided, unrewritten mail: not held
  std::uint64_t pipelined = 0;       // ... of rewritten mail: answered from the store, not held
};

class FetchInterceptor {
 public:
  FetchInterceptor(RewriteService& service, std::string upn, std::uint64_t session_id,
                   std::uint64_t max_response);

  // Client side, at the first line of each command: whether it is a FETCH that must wait for
  // run(), or one naming rewritten mail, which goes upstream at once asking for those
  // messages only what their rewritten bytes do not hold. `quiet`: no command of the
  // client's is in flight.
  Hold hold(std::string_view first_line, bool whole_command, bool quiet = false);
  // Client side, once a SELECT, EXAMINE, COPY or MOVE that carried a literal (a mailbox name
  // the client chose to send so) is whole; it went upstream as it came.
  void follow(std::string_view command);
  // Whether a mailbox is selected (or being selected) whose FETCHes are decided.
  bool following() const { return mailbox_.has_value() || select_.has_value(); }
  // Upstream side, at the first line of each response outside run().
  void note_response(std::string_view first_line);

  // Upstream side, with no client command in flight: decides the held command's messages
  // and writes the command upstream.
  asio::awaitable<InterceptOutcome> run(InterceptIo io);

  // Upstream side, at the first line of each response after run(): follows EXPUNGEs and
  // the end of the forwarded command.
  void note_answer(std::string_view first_line);
  // Whether the response starting with this line must be collected whole and passed through
  // substitute() (an answer about a rewritten message).
  bool wants_whole(std::string_view first_line) const;
  // The rebuilt answer; empty when it could not be rebuilt (the client must not see the
  // original's bytes instead), and the command's completion then says so. `uid`: the message
  // it is about, for an answer that no longer shows its UID (one the gateway asked along).
  std::string substitute(std::string response, std::uint32_t uid = 0);
  // The tagged completion of the forwarded command to send instead of `line`, if an answer
  // could not be rebuilt: a NO naming why.
  std::optional<std::string> replace_completion(std::string_view line);

  const InterceptStats& stats() const { return stats_; }
  // Whether a probe was answered as the upstream answers when it lost the mailbox session.
  bool session_lost() const { return session_lost_; }

 private:
  void follow(const protocol::Command& command);
  // A FETCH by UID of decided mail, some of it rewritten, sent in its stead: the upstream
  // asked only for what the rewritten bytes do not hold (its answers completed from them),
  // and for the rest as the client asked; nullopt when the command cannot be answered so.
  std::optional<Hold> answer_from_store_at_once(const protocol::Command& command,
                                                const std::map<std::uint32_t, MessageState>& known);
  // The UIDs that FETCH answers show for sequence numbers, remembered once the client names
  // messages by sequence number; forgotten at an EXPUNGE or VANISHED (which renumbers).
  // `uid` 0: the answer's leading UID, read only then (this sees every upstream response).
  void note_sequence(std::string_view message, std::uint32_t uid = 0);
  void forget_sequence();
  // What the session followed of the selected mailbox is gone (SELECT, CLOSE, UNSELECT).
  void leave_mailbox();
  // The UIDs of an explicit set of sequence numbers, if every one is remembered.
  std::optional<std::vector<std::uint32_t>>
  uids_of_sequence(const protocol::SequenceSet& set) const;
  struct Row {
    std::uint32_t seq = 0;
    std::uint32_t uid = 0;
    std::uint64_t size = 0;
    std::optional<std::string> internaldate;
    std::optional<std::string> message_id;
    std::optional<protocol::SExpr> bodystructure;
    std::optional<std::string> body; // a requested section's content
  };
  // A message a probe answered about.
  struct Seen {
    std::uint32_t seq = 0;
    std::uint32_t uid = 0;
  };
  struct Exchange {
    std::vector<Row> rows;
    std::vector<Seen> seen; // with a sink, instead of `rows`
    bool all_ok = true;
    bool upstream_failed = false;
  };
  // Takes each answer of a probe as it comes, keeping what it needs of it.
  using RowSink = std::function<void(Row&)>;

  // Sends `commands` under the gateway's own tags (in one write) and reads until they are
  // answered. With a `sink`, the answers go there as they come and only their numbers and
  // UIDs are kept: a probe of every message of a large mailbox holds no structures.
  asio::awaitable<Exchange> exchange(InterceptIo& io, const std::vector<std::string>& commands,
                                     const RowSink* sink = nullptr);
  // Passes a response that is not the gateway's on to the client (or to io.defer).
  asio::awaitable<bool> pass_on(InterceptIo& io, std::string message);
  // What read_message() gives for a response above the session's cap (read, not kept).
  static constexpr std::string_view dropped_response = "* icalgate-dropped\r\n";
  // One whole response; bytes in `flush` go to the client before the reader waits for more
  // (the answers to the client's own command: not counted as probe bytes). A response above
  // the session's cap is read to its end and logged, and comes back as a marker line that
  // the callers treat as a failure.
  asio::awaitable<std::optional<std::string>> read_message(InterceptIo& io,
                                                           std::string* flush = nullptr);
  std::string next_tag();
  // Messages to fetch whole and decide: UID and RFC822.SIZE.
  using Candidates = std::vector<std::pair<std::uint32_t, std::uint64_t>>;
  // Probes and decides the command's undecided messages; `seen` receives what the first
  // probe saw. False when the upstream failed. `first_sync`: the mailbox has nothing decided
  // yet, so a listing refreshed for it brings the events along. `named` (ascending), when the
  // probe reads ahead: the UIDs the client asked for; of the others, only what the probe tells
  // apart at once is decided, and those it finds to fetch whole are remembered (ahead_whole_,
  // fetch_whole_ahead()). `section_one`: how much of BODY[1] a probe of structures asks along
  // (section_one_octets()). `from_answers`, when the client's command carries whole the
  // messages it names: receives those it finds to fetch whole, for decide_from_answers(),
  // rather than fetching them.
  asio::awaitable<bool> decide(InterceptIo& io, bool by_uid, std::string set,
                               std::vector<Seen>& seen, const MailboxKey& mailbox,
                               bool first_sync = false,
                               const std::vector<std::uint32_t>* named = nullptr,
                               std::uint64_t section_one = calendar::kAlongOctets,
                               Candidates* from_answers = nullptr);
  // A message whose first text body may start with the OWA link: its UID, RFC822.SIZE and
  // where to look.
  struct Probing {
    std::uint32_t uid = 0;
    std::uint64_t size = 0;
    calendar::Probe probe;
    int rounds = 0; // prefix probes sent so far
  };
  // Asks for the start of each first text body until it shows whether the body starts with
  // the OWA link, and fetches whole and decides (decide_whole()) the candidates: those of
  // `whole`, those the probes find, and those small enough to be fetched whole rather than
  // probed further; `plain` receives the others. The candidates go with the probes of each
  // round: where the first probe decides, one round trip probes and fetches. A round holds
  // at most a few messages of the size cap at once, the rest following in the next rounds.
  // False when the upstream failed or the session ended.
  asio::awaitable<bool> classify_prefixes(InterceptIo& io, const MailboxKey& mailbox,
                                          std::vector<Probing> probing, Candidates whole,
                                          std::vector<std::uint32_t>& plain);
  // Decides the candidates from their whole bytes, fetched into `bodies`: one that could not
  // be fetched (gone meanwhile) or over the size cap stays the original. False when the
  // session ended meanwhile.
  asio::awaitable<bool> decide_whole(const MailboxKey& mailbox, const Candidates& candidates,
                                     std::map<std::uint32_t, std::string> bodies);
  // Whether a read-ahead probe found each of `uids` (some) to fetch whole (ahead_whole_), and
  // together they fit in one classification round.
  bool all_ahead_whole(const std::vector<std::uint32_t>& uids) const;
  // Fetches the messages of `set` (UIDs, all in ahead_whole_) whole and decides them; `seen`
  // receives their sequence numbers and UIDs. False when the upstream failed.
  asio::awaitable<bool> fetch_whole_ahead(InterceptIo& io, const std::string& set,
                                          std::vector<Seen>& seen, const MailboxKey& mailbox);
  // The UIDs of the held command, seen against the mailbox's decided range.
  struct Window {
    std::uint32_t through = 0;    // decided through this UID
    bool covers_tail = false;     // the set reaches the newest message
    bool names_above = false;     // the set names UIDs above `through`
    std::uint32_t covered_to = 0; // a numeric range reaches from through + 1 up to here
    bool names_decided = false;   // the set names UIDs up to `through`
  };
  // A held command as it goes upstream to be answered as it comes, with the items the gateway
  // added to it, to be taken out of the answers again.
  struct Streamed {
    std::string tag;
    std::string line;       // CRLF included
    bool by_number = false; // the client named sequence numbers
    bool asks_uid = false;  // ... and not the UID, which each answer must show
    bool asks_message_id = false;
    bool asks_structure = false;          // BODYSTRUCTURE
    bool asks_size = false;               // RFC822.SIZE
    std::uint64_t section_one_octets = 0; // of the start of BODY[1]; 0: not asked

    bool adds_items() const {
      return asks_uid || asks_message_id || asks_structure || asks_size || section_one_octets != 0;
    }
    bool added(const protocol::MsgAtt& att) const {
      return (asks_uid && att.attr == protocol::FetchAttr::uid) ||
             (asks_message_id && protocol::answers_message_id_item(att)) ||
             (asks_structure && att.attr == protocol::FetchAttr::bodystructure) ||
             (asks_size && att.attr == protocol::FetchAttr::rfc822_size) ||
             (section_one_octets != 0 && is_section_one(att));
    }
  };
  // BODY[1]<0>, the answer to the item that classification asks along (section_one_item()).
  static bool is_section_one(const protocol::MsgAtt& att) {
    return att.attr == protocol::FetchAttr::body_section && att.section.part.size() == 1 &&
           att.section.part.front() == 1 && att.section.text == protocol::SectionSpec::Text::none &&
           att.origin == 0;
  }
  static std::string section_one_item(std::uint64_t octets);
  // How much of BODY[1] to ask along with the structure of the messages `set` names. Where few
  // are undecided (new mail), the full first probe: every message is decided in that round
  // trip, whatever its first text body. Where many are (a first sync), bytes count more:
  // calendar::kAlongOctets, which decides plain first bodies, unless the user's mail has shown
  // mostly HTML first bodies (Exchange's usual rendering), which the full probe decides for
  // the bytes their probes would cost anyway.
  std::uint64_t section_one_octets(const protocol::SequenceSet& set, const Window& window) const;
  void note_first_body(calendar::TextKind kind);
  // Where a message stands once the start of BODY[1] came with its structure.
  enum class Sorted { plain, whole, probe };
  // Sorts a message by its BODYSTRUCTURE and, when asked along, the start of its BODY[1]
  // (`asked` octets; sort_by_section_one()); `probing` receives the probe still to send.
  Sorted sort_structure(std::uint32_t uid, std::uint64_t size, const protocol::SExpr& structure,
                        const std::string* section_one, std::uint64_t asked,
                        std::optional<Probing>& probing);
  // Sorts a probe's answer by its BODYSTRUCTURE and the start of BODY[1] asked along
  // (`asked` octets) into `plain`, `whole` or `probing`; an answer without a structure is
  // about mail the server would not describe (gone meanwhile), taken as plain.
  void sort_answer(const Row& r, std::uint64_t asked, std::vector<std::uint32_t>& plain,
                   Candidates& whole, std::vector<Probing>& probing);
  // Sorts a message the first probe has not looked at by what BODY[1] (`asked` octets of it)
  // shows of its first text body: not a meeting message, one to fetch whole (a small one it
  // does not decide, too), or one still to probe (`p.probe.octets` then set for that probe).
  Sorted sort_by_section_one(Probing& p, std::string_view section_one, std::uint64_t asked) const;
  // A message a probe left undecided, `next_octets` wanted: fetched whole when small (the whole
  // message decides, in one round trip), else probed again (`p.probe.octets` set for that).
  Sorted after_need_more(Probing& p, std::uint64_t next_octets) const;
  // Forwards the held command and decides its messages from its own answers (see above).
  // The listing vouches for UIDs below `listed_below`: what it does not name there is not a
  // meeting message. Without a listing, each answer's BODYSTRUCTURE says which to probe.
  asio::awaitable<InterceptOutcome> stream(InterceptIo& io, const Streamed& command,
                                           const MailboxKey& mailbox, const MeetingListing* listing,
                                           const Window& window, std::uint32_t listed_below);
  // Announces the rewrite of the listed meeting messages among `candidates` (UID and
  // RFC822.SIZE; `message_ids` theirs) that have no announcement in `announced` yet, from
  // their BODYSTRUCTUREs (one probe), into `announced`; `candidates` keeps those to fetch
  // whole and decide. False when the upstream failed.
  asio::awaitable<bool> announce(InterceptIo& io, const MailboxKey& mailbox, Candidates& candidates,
                                 const std::map<std::uint32_t, std::string>& message_ids,
                                 std::map<std::uint32_t, Announced>& announced);
  // Forwards the held command, whose answers may carry whole the meeting messages it names
  // that are still to decide (`candidates`, UID -> a bound of the size: announced messages, or
  // those a probe read ahead found to fetch whole), and reads its answers: each candidate is
  // decided from the bytes of its own answer, which passes on rewritten (or as it is), with no
  // whole fetch before the command (a client opening or downloading invitations). An answer
  // that does not carry its message whole (a partial fetch of a longer message) waits until
  // the command is answered and the message is fetched whole.
  asio::awaitable<InterceptOutcome>
  decide_from_answers(InterceptIo& io, const protocol::Command& command, const MailboxKey& mailbox,
                      std::map<std::uint32_t, std::uint64_t> candidates);
  // An answer about an announced message, rebuilt from its announcement; empty when it
  // cannot be (the command's completion then says so).
  std::string answer_announced(std::string response, const Announced& announced);
  // A FETCH by UID whose messages `uids` are all decided, those in served_uid_ rewritten:
  // the upstream is asked for those only what their rewritten bytes do not hold
  // (protocol::server_items), for the others what the client asked. nullopt when it cannot
  // be answered so: the command then goes as asked, its answers substituted.
  asio::awaitable<std::optional<InterceptOutcome>>
  answer_decided(InterceptIo& io, const protocol::Command& command,
                 const std::vector<std::uint32_t>& uids);
  // Forwards the held command as `items` (protocol::server_items): every message it names is
  // served from rewritten bytes, whose answers substitute() completes.
  asio::awaitable<InterceptOutcome> ask_without_content(InterceptIo& io,
                                                        const protocol::Command& command,
                                                        const protocol::FetchItems& items);
  // A command the gateway sends upstream, in the trace log.
  void log_sent(std::string_view line) const;
  // Writes a command line (CRLF included) upstream in the client's name.
  asio::awaitable<InterceptOutcome> forward(InterceptIo& io, std::string line);
  // Answers the rewritten messages of a command that also names others, under the gateway's
  // own tag: `items` asked of the upstream, the answers completed and passed on.
  enum class StoreAnswer { answered, refused, failed };
  asio::awaitable<StoreAnswer> answer_from_store(InterceptIo& io, const std::string& set,
                                                 const protocol::FetchItems& items);
  // After the command's messages are decided: raises the mailbox's decided range.
  void note_decided(const MailboxKey& mailbox, const Window& window, std::uint32_t highest);
  void serve_by_uid(const MailboxKey& mailbox, std::uint32_t uid);
  // Whether every message of `uids` is decided; if so, the rewritten ones are served by UID.
  bool serve_if_decided(const MailboxKey& mailbox, const std::vector<std::uint32_t>& uids);
  // A listing asked after `seen`, or null when Graph cannot give one now. Mail the session
  // saw before then and newer than the listing it had is decided by it: a meeting message
  // is in it, and anything else is not, which spares the upstream the BODYSTRUCTURE and
  // prefix probes for new mail.
  asio::awaitable<std::shared_ptr<const MeetingListing>>
  listing_after(std::chrono::steady_clock::time_point seen);

  RewriteService& service_;
  std::string upn_;
  std::uint64_t session_id_;
  std::uint64_t max_response_;
  std::uint64_t tag_counter_ = 0;
  bool session_lost_ = false;

  // The selected mailbox (nullopt: none, or one the gateway could not follow).
  std::optional<MailboxKey> mailbox_;
  struct PendingSelect {
    std::string tag;
    std::string mailbox;
    std::optional<std::uint32_t> uidvalidity;
    std::optional<std::uint32_t> uidnext;
  };
  // UIDNEXT when the mailbox was selected, and whether mail may have arrived since.
  std::optional<std::uint32_t> uidnext_;
  std::chrono::steady_clock::time_point selected_at_{};
  bool mailbox_grew_ = true;
  std::optional<PendingSelect> select_;
  // A FETCH by UID sent on as the client asked once the mail it names was decided (its tag,
  // and the UID that was decided through): an answer it brings all the same about mail
  // above, announced while answering, showed that mail undecided. (Dovecot sends none; a
  // server may announce mail at any time.)
  std::string watch_tag_;
  std::uint32_t watch_above_ = 0;
  // The last UID a probe read ahead to in this mailbox.
  std::uint32_t read_ahead_to_ = 0;
  // Messages read ahead that the probe found to fetch whole once a client names them: UID ->
  // RFC822.SIZE. Naming only those, a client has them fetched whole without another probe.
  std::map<std::uint32_t, std::uint64_t> ahead_whole_;
  // Messages read ahead (or announced) a session remembers to fetch whole once named.
  static constexpr std::size_t max_ahead_whole = 4096;
  CopyTracker copies_;
  bool uses_sequence_ = false;            // the client sent a FETCH by sequence number
  std::vector<std::uint32_t> uid_by_seq_; // [seq - 1] -> UID; 0: not seen

  std::optional<protocol::Command> held_;
  // Answers to the forwarded command: sequence number -> rewritten message.
  std::string answering_tag_;
  protocol::FetchItems answering_items_;
  std::map<std::uint32_t, std::shared_ptr<const protocol::mime::Message>> served_;
  // ... or, when no probe ran, UID -> rewritten message.
  std::map<std::uint32_t, std::shared_ptr<const protocol::mime::Message>> served_uid_;
  // ... and, by UID, announced messages not fetched yet (a command that asks only what their
  // announcements hold): answered from those.
  std::map<std::uint32_t, Announced> announced_uid_;
  // The upstream was asked only for what the rewritten bytes do not hold
  // (protocol/fetch_complete.hpp): its answers are completed rather than substituted.
  bool complete_answers_ = false;
  // Why an answer of the forwarded command could not be rebuilt; empty if none failed.
  std::string failed_answer_;
  // Commands of rewritten mail sent without being held (hold()), oldest first: their answers
  // are completed from the rewritten bytes. Only while no held command is answering.
  struct Pipelined {
    std::string tag;
    std::string client_tag;     // set when `tag` is the gateway's, asked beside the client's
    protocol::FetchItems items; // as the client asked
    std::map<std::uint32_t, std::shared_ptr<const protocol::mime::Message>> served; // by UID
    std::string failed;      // why an answer could not be rebuilt; empty if none failed
    bool uid_command = true; // false: the client named the messages by sequence number
  };
  std::vector<Pipelined> pipelined_; // (a deque would allocate in every idle session)
  // Client commands to complete NO, by tag: an answer could not be rebuilt (why).
  std::map<std::string, std::string> failed_pipelined_;
  // The completion of the gateway's own pipelined command, which the client must not see.
  std::optional<std::string> unseen_completion_;
  InterceptStats stats_;
};

} // namespace icalgate::proxy
