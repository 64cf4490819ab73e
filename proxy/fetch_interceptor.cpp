#include "proxy/fetch_interceptor.hpp"

#include "calendar/owa_link.hpp"
#include "protocol/fetch_answer.hpp"
#include "protocol/fetch_complete.hpp"
#include "protocol/fetch_substitute.hpp"
#include "protocol/lexer.hpp"
#include "protocol/sequence_set.hpp"
#include "proxy/logging.hpp"
#include "proxy/redact.hpp"
#include "proxy/session_lost.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <charconv>
#include <limits>
#include <set>
#include <unordered_map>

namespace icalgate::proxy {

namespace {

using protocol::FetchAttr;

// Explicit UID sets up to this many UIDs are looked up in the store before any probe.
constexpr std::size_t max_explicit_uids = 1000;
// Sequence numbers remembered per session (their UIDs, 4 bytes each) at most.
constexpr std::uint32_t max_remembered_sequence = 100'000;
// Prefix probes per command before an undecidable message counts as not an invitation.
constexpr int max_prefix_rounds = 4;

// The answers to one of the gateway's probes by UID (the first answer about each message
// counts, and only those carrying a body section when `with_body`): a probe of a whole
// mailbox matches thousands of messages to their answers.
template <class Row>
std::unordered_map<std::uint32_t, Row*> rows_by_uid(std::vector<Row>& rows, bool with_body) {
  std::unordered_map<std::uint32_t, Row*> index;
  index.reserve(rows.size());
  for (Row& r : rows) {
    if (!with_body || r.body) {
      index.emplace(r.uid, &r);
    }
  }
  return index;
}

struct LineHead {
  std::string_view tag;
  std::optional<std::uint32_t> number; // "* 12 FETCH"
  std::string_view name;               // status, command or data name (upper or lower)
};

LineHead head_of(std::string_view line) {
  LineHead head;
  auto token = [&line]() {
    const std::size_t end = line.find_first_of(" \r\n");
    std::string_view t = line.substr(0, end);
    line.remove_prefix(end == std::string_view::npos ? line.size()
                                                     : std::min(end + 1, line.size()));
    return t;
  };
  head.tag = token();
  std::string_view second = token();
  std::uint32_t n = 0;
  if (!second.empty() && std::from_chars(second.data(), second.data() + second.size(), n).ptr ==
                             second.data() + second.size()) {
    head.number = n;
    head.name = token();
  } else {
    head.name = second;
  }
  return head;
}

// What read_message() gives for a response above the session's cap (read, not kept).
constexpr std::string_view dropped_response = "* icalgate-dropped\r\n";

// The UID of "* N FETCH (UID u ..." when it is the first attribute, as servers put it for a
// UID FETCH; otherwise it may follow a literal, and the answer must be read whole to know.
std::optional<std::uint32_t> leading_uid(std::string_view line) {
  const std::size_t open = line.find('(');
  if (open == std::string_view::npos || line.size() < open + 6 ||
      !protocol::imap_iequals(line.substr(open + 1, 4), "UID ")) {
    return std::nullopt;
  }
  const char* begin = line.data() + open + 5;
  const char* end = line.data() + line.size();
  std::uint32_t uid = 0;
  const auto [next, ec] = std::from_chars(begin, end, uid);
  if (ec != std::errc() || (next != end && *next != ' ' && *next != ')')) {
    return std::nullopt;
  }
  return uid;
}

// The number after a response code such as "[UIDVALIDITY " in a status line.
std::optional<std::uint32_t> code_number_in(std::string_view line, std::string_view code) {
  for (std::size_t i = 0; i + code.size() < line.size(); ++i) {
    if (protocol::imap_iequals(line.substr(i, code.size()), code)) {
      std::uint32_t v = 0;
      const char* begin = line.data() + i + code.size();
      if (std::from_chars(begin, line.data() + line.size(), v).ec == std::errc()) {
        return v;
      }
    }
  }
  return std::nullopt;
}

// A UID set for the given UIDs, ranges compressed ("1:3,7").
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

// "TAG UID FETCH SET ITEMS..." with another SET; nullopt when the line is not laid out so.
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

// "TAG UID FETCH SET (ITEMS)" with CRLF: a command asking about rewritten mail only what the
// rewritten bytes do not hold.
std::string uid_fetch_line(std::string_view tag, std::string_view set,
                           const protocol::FetchItems& items) {
  return std::string(tag) + " UID FETCH " + std::string(set) + ' ' + protocol::to_string(items) +
         "\r\n";
}

// The UIDs of an explicit set (no "*", no "$"), or nullopt when it names too many.
std::optional<std::vector<std::uint32_t>> explicit_uids(const protocol::SequenceSet& set) {
  if (set.search_result) {
    return std::nullopt;
  }
  std::set<std::uint32_t> uids;
  for (const auto& r : set.ranges) {
    if (r.first == protocol::SeqRange::star || r.last == protocol::SeqRange::star) {
      return std::nullopt;
    }
    const std::uint32_t a = std::min(r.first, r.last);
    const std::uint32_t b = std::max(r.first, r.last);
    if (b - a >= max_explicit_uids || uids.size() + (b - a) >= max_explicit_uids) {
      return std::nullopt;
    }
    for (std::uint32_t u = a; u <= b; ++u) {
      uids.insert(u);
    }
  }
  return std::vector<std::uint32_t>(uids.begin(), uids.end());
}

// A UID set seen from a mailbox decided through UID `through`.
struct UidSplit {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> decided; // ranges at or below it
  std::string above;               // the rest as a UID set ("" when nothing lies above)
  bool covers_tail = false;        // the set reaches "*" from at or below through + 1
  bool above_is_tail_only = false; // `above` is exactly "through+1:*"
  std::uint32_t covered_to = 0;    // a numeric range reaches from through + 1 up to here
};

UidSplit split_at(const protocol::SequenceSet& set, std::uint32_t through) {
  UidSplit split;
  split.covered_to = through;
  bool only_tail = true;
  for (const auto& r : set.ranges) {
    const bool star = r.first == protocol::SeqRange::star || r.last == protocol::SeqRange::star;
    std::uint32_t low = std::min(r.first, r.last);
    std::uint32_t high = std::max(r.first, r.last);
    if (star) {
      // "n:*" covers n up to the largest UID, whatever it is now.
      low = r.first == protocol::SeqRange::star ? r.last : r.first;
      if (low == protocol::SeqRange::star) {
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

} // namespace

FetchInterceptor::FetchInterceptor(RewriteService& service, std::string upn,
                                   std::uint64_t session_id, std::uint64_t max_response)
    : service_(service), upn_(std::move(upn)), session_id_(session_id),
      max_response_(max_response) {}

std::string FetchInterceptor::next_tag() {
  return "icalgate." + std::to_string(++tag_counter_);
}

Hold FetchInterceptor::hold(std::string_view first_line, bool whole_command, bool quiet) {
  const LineHead head = head_of(first_line);
  std::string_view name = head.name;
  const bool uid = protocol::imap_iequals(name, "UID");
  if (protocol::imap_iequals(name, "SELECT") || protocol::imap_iequals(name, "EXAMINE")) {
    mailbox_.reset();
    select_.reset();
    uidnext_.reset();
    unprobed_tag_.clear();
    forget_sequence();
    if (whole_command) {
      follow(first_line);
    }
    return {}; // a mailbox name sent as a literal: followed once whole (follow())
  }
  if (protocol::imap_iequals(name, "CLOSE") || protocol::imap_iequals(name, "UNSELECT")) {
    mailbox_.reset();
    unprobed_tag_.clear();
    forget_sequence();
    return {};
  }
  const bool copy = protocol::imap_iequals(name, "COPY") || protocol::imap_iequals(name, "MOVE");
  // A FETCH sent right behind a SELECT waits for it: the mailbox is known only then.
  if ((!mailbox_ && !select_) || !whole_command ||
      !(uid || copy || protocol::imap_iequals(name, "FETCH"))) {
    return {};
  }
  auto parsed = protocol::parse_command(first_line);
  if (parsed && parsed->kind == protocol::CommandKind::copy) {
    follow(*parsed);
    return {};
  }
  if (!parsed || parsed->kind != protocol::CommandKind::fetch ||
      !protocol::shows_content(std::get<protocol::FetchArgs>(parsed->args).items)) {
    return {};
  }
  if (!parsed->uid) {
    uses_sequence_ = true;
  }
  if (mailbox_ && !select_ && served_.empty() && served_uid_.empty()) {
    // Messages decided already: nothing to probe, so the command need not wait for those
    // before it (mbsync pipelines its downloads). Not while the answers of a command that
    // was held are being substituted: every FETCH answer is collected whole then. Sequence
    // numbers name the UIDs the answers showed for them, when no command of the client's is
    // in flight (its EXPUNGEs could renumber them).
    const auto& args = std::get<protocol::FetchArgs>(parsed->args);
    const auto uids = parsed->uid ? explicit_uids(args.set)
                      : quiet     ? uids_of_sequence(args.set)
                                  : std::nullopt;
    const auto known =
        uids ? service_.known(*mailbox_, *uids) : std::map<std::uint32_t, MessageState>{};
    if (uids && known.size() == uids->size()) {
      const auto rewritten = std::count_if(known.begin(), known.end(), [](const auto& k) {
        return k.second == MessageState::rewritten;
      });
      if (rewritten == 0) {
        ++stats_.decided_at_once;
        return {};
      }
      if (auto instead = answer_from_store_at_once(*parsed, known)) {
        return std::move(instead).value();
      }
    }
  }
  held_ = std::move(parsed).value();
  return {.hold = true, .instead = std::nullopt, .upstream_commands = 1};
}

std::optional<Hold>
FetchInterceptor::answer_from_store_at_once(const protocol::Command& command,
                                            const std::map<std::uint32_t, MessageState>& known) {
  const auto& args = std::get<protocol::FetchArgs>(command.args);
  if (args.changed_since || args.vanished) {
    return std::nullopt;
  }
  auto items = protocol::server_items(args.items);
  if (!items) {
    return std::nullopt;
  }
  Pipelined answering{command.tag, {}, args.items, {}, {}, command.uid};
  std::vector<std::uint32_t> rewritten;
  std::vector<std::uint32_t> others;
  for (const auto& [uid, state] : known) {
    if (state != MessageState::rewritten) {
      if (!command.uid) {
        // Their answers would carry no UID to tell them from the rewritten messages' by.
        return std::nullopt;
      }
      others.push_back(uid);
      continue;
    }
    auto message = service_.rewritten(mailbox_->message(uid));
    if (!message) {
      return std::nullopt;
    }
    answering.served[uid] = std::move(message);
    rewritten.push_back(uid);
  }
  Hold hold{.hold = false, .instead = std::string(), .upstream_commands = 1};
  if (!others.empty()) {
    // The rewritten mail asked about under the gateway's own tag, whose completion the client
    // does not see; the rest as the client asked, under its tag.
    auto rest = with_uid_set(command.raw, uid_list(others));
    if (!rest) {
      return std::nullopt;
    }
    answering.client_tag = command.tag;
    answering.tag = next_tag();
    ++stats_.probe_commands;
    hold.upstream_commands = 2;
    const std::string ours = uid_fetch_line(answering.tag, uid_list(rewritten), *items);
    log_sent(std::string_view(ours).substr(0, ours.size() - 2));
    log_sent(std::string_view(*rest).substr(0, rest->size() - 2));
    *hold.instead = ours + *rest;
  } else {
    // By UID even when the client named sequence numbers: each answer then says which
    // message it is about (complete_fetch() leaves the UID out again).
    *hold.instead = uid_fetch_line(
        command.tag, command.uid ? protocol::to_string(args.set) : uid_list(rewritten), *items);
    log_sent(std::string_view(*hold.instead).substr(0, hold.instead->size() - 2));
  }
  ++stats_.from_store;
  ++stats_.pipelined;
  pipelined_.push_back(std::move(answering));
  return hold;
}

void FetchInterceptor::follow(std::string_view command) {
  if (auto parsed = protocol::parse_command(command)) {
    follow(*parsed);
  }
}

void FetchInterceptor::follow(const protocol::Command& command) {
  if (command.kind == protocol::CommandKind::select ||
      command.kind == protocol::CommandKind::examine) {
    const auto& args = std::get<protocol::SelectArgs>(command.args);
    select_ = PendingSelect{command.tag, protocol::canonical_mailbox(args.mailbox), std::nullopt,
                            std::nullopt};
  } else if (command.kind == protocol::CommandKind::copy && mailbox_ && !select_) {
    copies_.sent(command, *mailbox_);
  }
}

void FetchInterceptor::note_response(std::string_view first_line) {
  if (!copies_.idle()) {
    if (auto copied = copies_.answered(first_line)) {
      const std::size_t carried = service_.carry_decisions(copied->from, copied->to, copied->uids);
      log_event(LogLevel::debug, "rewrite_decisions_carried",
                {field("session", session_id_),
                 field("mailbox", sanitize_for_log(copied->to.mailbox, 256)),
                 field("copies", std::uint64_t{copied->uids.size()}),
                 field("carried", std::uint64_t{carried})});
    }
  }
  const LineHead head = head_of(first_line);
  if (!select_) {
    if (mailbox_ && head.tag == "*" && head.number && protocol::imap_iequals(head.name, "EXISTS")) {
      mailbox_grew_ = true;
    }
    if (!unprobed_tag_.empty()) {
      if (head.tag == unprobed_tag_ || !mailbox_) {
        unprobed_tag_.clear();
      } else if (head.tag == "*" && head.number && protocol::imap_iequals(head.name, "FETCH")) {
        // Shown as it is: from now on it stays the original (DESIGN.md §2).
        const auto uid = leading_uid(first_line);
        if (uid && *uid > unprobed_above_ && service_.known(*mailbox_, {&*uid, 1}).empty()) {
          service_.record_original(mailbox_->message(*uid), "shown before it was decided");
        }
      }
    }
    note_sequence(first_line);
    return;
  }
  if (head.tag == "*") {
    if (auto v = code_number_in(first_line, "[UIDVALIDITY ")) {
      select_->uidvalidity = *v;
    } else if (auto n = code_number_in(first_line, "[UIDNEXT ")) {
      select_->uidnext = *n;
    }
  } else if (head.tag == select_->tag) {
    if (protocol::imap_iequals(head.name, "OK") && select_->uidvalidity) {
      mailbox_ = MailboxKey{upn_, select_->mailbox, *select_->uidvalidity};
      uidnext_ = select_->uidnext;
      selected_at_ = std::chrono::steady_clock::now();
      mailbox_grew_ = !uidnext_.has_value();
      service_.selected(*mailbox_);
    }
    select_.reset();
  }
}

asio::awaitable<std::optional<std::string>> FetchInterceptor::read_message(InterceptIo& io,
                                                                           std::string* flush) {
  std::string message;
  bool too_large = false;
  while (true) {
    auto frame = io.upstream_reader.poll();
    if (!frame) {
      if (flush != nullptr && !flush->empty()) {
        std::string bytes = std::move(*flush);
        flush->clear();
        if (!co_await io.to_client(std::move(bytes))) {
          co_return std::nullopt;
        }
      }
      if (!co_await io.upstream_reader.fill()) {
        co_return std::nullopt;
      }
      continue;
    }
    if (flush == nullptr) {
      stats_.probe_bytes += frame->bytes.size(); // (with `flush`: the client's own answers)
    }
    if (message.size() + frame->bytes.size() > max_response_) {
      too_large = true; // keep reading to stay in step; the message is dropped
      std::string().swap(message);
    } else if (!too_large) {
      message.append(frame->bytes);
    }
    if (frame->message_end) {
      if (too_large) {
        log_event(LogLevel::warn, "rewrite_answer_too_large", {field("session", session_id_)});
        co_return std::string(dropped_response);
      }
      co_return message;
    }
  }
}

asio::awaitable<bool> FetchInterceptor::pass_on(InterceptIo& io, std::string message) {
  note_sequence(message);
  if (io.defer != nullptr) {
    io.defer->append(message);
    co_return true;
  }
  co_return co_await io.to_client(std::move(message));
}

asio::awaitable<FetchInterceptor::Exchange>
FetchInterceptor::exchange(InterceptIo& io, const std::vector<std::string>& commands) {
  Exchange result;
  std::set<std::string> waiting;
  std::string out;
  for (const std::string& command : commands) {
    const std::string tag = next_tag();
    waiting.insert(tag);
    out += tag + ' ' + command + "\r\n";
    log_sent(tag + ' ' + command);
  }
  stats_.probe_commands += commands.size();
  ++stats_.round_trips; // the commands go in one write and are answered together
  if (auto [ec, n] = co_await io.upstream.write(out); ec) {
    result.upstream_failed = true;
    co_return result;
  }
  while (!waiting.empty()) {
    auto message = co_await read_message(io);
    if (!message || *message == dropped_response) {
      result.upstream_failed = true;
      co_return result;
    }
    const LineHead head = head_of(*message);
    if (head.tag != "*") {
      if (waiting.erase(std::string(head.tag)) == 0) {
        // Not ours (nothing of the client's is in flight): pass it on.
        if (!co_await pass_on(io, std::move(*message))) {
          result.upstream_failed = true;
          co_return result;
        }
        continue;
      }
      if (says_session_lost(head.name, *message)) {
        session_lost_ = true; // nothing more will work on this connection
        result.upstream_failed = true;
        co_return result;
      }
      if (!protocol::imap_iequals(head.name, "OK")) {
        result.all_ok = false;
        log_event(
            LogLevel::info, "rewrite_probe_refused",
            {field("session", session_id_), field("answer", sanitize_for_log(*message, 200))});
      }
      continue;
    }
    if (head.number && protocol::imap_iequals(head.name, "EXISTS")) {
      mailbox_grew_ = true;
    }
    if (head.number && protocol::imap_iequals(head.name, "EXPUNGE")) {
      const std::uint32_t gone = *head.number;
      std::erase_if(result.rows, [gone](const Row& r) { return r.seq == gone; });
      for (Row& r : result.rows) {
        r.seq -= r.seq > gone ? 1 : 0;
      }
    }
    bool ours = false;
    if (head.number && protocol::imap_iequals(head.name, "FETCH")) {
      auto parsed = protocol::parse_response(*message);
      if (parsed && parsed->kind == protocol::ResponseKind::fetch) {
        const auto& data = std::get<protocol::FetchData>(parsed->body);
        Row row;
        row.seq = data.number;
        for (const auto& att : data.atts) {
          if (!att.attr) {
            continue;
          }
          switch (*att.attr) {
          case FetchAttr::uid:
            row.uid = static_cast<std::uint32_t>(att.number);
            break;
          case FetchAttr::rfc822_size:
            row.size = att.number;
            break;
          case FetchAttr::internaldate:
            row.internaldate = att.string ? att.string->value : std::string();
            break;
          case FetchAttr::bodystructure:
            row.bodystructure = att.sexp;
            ours = true;
            break;
          case FetchAttr::body_section:
            row.body = att.string ? att.string->value : std::string();
            ours = true;
            break;
          default:
            break;
          }
        }
        // A probe always asks for more than UID and FLAGS; a bare UID answer is the
        // sequence-number probe's.
        ours = ours || (row.uid != 0 && data.atts.size() == 1);
        if (ours && row.uid != 0) {
          note_sequence(*message, row.uid);
          result.rows.push_back(std::move(row));
        }
      }
    }
    if (!ours && !co_await pass_on(io, std::move(*message))) {
      result.upstream_failed = true;
      co_return result;
    }
  }
  co_return result;
}

asio::awaitable<bool> FetchInterceptor::decide(InterceptIo& io, bool by_uid, std::string set,
                                               std::vector<Row>& rows, const MailboxKey& mailbox,
                                               bool first_sync) {
  const std::string fetch = by_uid ? "UID FETCH " : "FETCH ";
  std::shared_ptr<const MeetingListing> listing;
  if (service_.uses_listing()) {
    // A first sync that does not name Message-ID (mbsync's) decides as many invitations as
    // Thunderbird's: their events come with the listing rather than one lookup each.
    listing = co_await service_.listing(upn_, {}, first_sync);
  }
  {
    const std::vector<std::string> commands{
        fetch + set +
        (listing ? " (UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
                 : " (UID RFC822.SIZE BODYSTRUCTURE)")};
    auto probe = co_await exchange(io, commands);
    if (probe.upstream_failed) {
      co_return false;
    }
    rows = std::move(probe.rows);
  }
  const auto probed_at = std::chrono::steady_clock::now();
  std::vector<std::uint32_t> uids;
  for (const Row& r : rows) {
    uids.push_back(r.uid);
  }
  const auto known = service_.known(mailbox, uids);

  std::vector<std::uint32_t> plain;
  std::vector<Row*> whole;     // fetched whole, then decided
  std::vector<Row*> structure; // undecided by the listing: BODYSTRUCTURE needed
  std::vector<std::pair<std::uint32_t, calendar::Probe>> prefix;
  for (Row& r : rows) {
    if (known.contains(r.uid)) {
      continue;
    }
    if (listing) {
      const auto arrived = r.internaldate ? parse_internaldate(*r.internaldate) : std::nullopt;
      if (r.body && listing->message_ids.contains(protocol::message_id_in_header(*r.body))) {
        whole.push_back(&r);
      } else if (!arrived || *arrived >= listing->complete_until) {
        structure.push_back(&r);
      } else {
        plain.push_back(r.uid);
      }
    } else {
      structure.push_back(&r);
    }
  }
  if (listing && !structure.empty()) {
    if (auto fresh = co_await listing_after(probed_at)) {
      for (Row* r : structure) {
        if (r->body && fresh->message_ids.contains(protocol::message_id_in_header(*r->body))) {
          whole.push_back(r);
        } else {
          plain.push_back(r->uid);
        }
      }
      structure.clear();
    }
  }
  if (listing && !structure.empty()) {
    std::vector<std::uint32_t> missing;
    for (Row* r : structure) {
      missing.push_back(r->uid);
    }
    const std::vector<std::string> commands{"UID FETCH " + uid_list(missing) +
                                            " (UID BODYSTRUCTURE)"};
    auto more = co_await exchange(io, commands);
    if (more.upstream_failed) {
      co_return false;
    }
    const auto described = rows_by_uid(more.rows, false);
    for (Row* r : structure) {
      if (auto it = described.find(r->uid); it != described.end()) {
        r->bodystructure = std::move(it->second->bodystructure);
      }
    }
  }
  for (Row* r : structure) {
    if (!r->bodystructure) {
      plain.push_back(r->uid); // gone meanwhile, or the server would not describe it
      continue;
    }
    auto plan = calendar::plan_probe(*r->bodystructure);
    if (plan.verdict == calendar::Verdict::no || !plan.probe) {
      plain.push_back(r->uid);
    } else {
      prefix.emplace_back(r->uid, *plan.probe);
    }
  }
  std::vector<std::uint32_t> starts_with_link;
  if (!co_await classify_prefixes(io, std::move(prefix), starts_with_link, plain)) {
    co_return false;
  }
  const auto row_of = rows_by_uid(rows, false);
  for (std::uint32_t uid : starts_with_link) {
    whole.push_back(row_of.at(uid));
  }
  std::sort(plain.begin(), plain.end());
  service_.record_plain(mailbox, plain);

  std::vector<std::pair<std::uint32_t, std::uint64_t>> candidates;
  for (Row* r : whole) {
    candidates.emplace_back(r->uid, r->size);
  }
  co_return co_await decide_whole(io, mailbox, candidates);
}

asio::awaitable<bool> FetchInterceptor::classify_prefixes(
    InterceptIo& io, std::vector<std::pair<std::uint32_t, calendar::Probe>> prefix,
    std::vector<std::uint32_t>& whole, std::vector<std::uint32_t>& plain) {
  for (int round = 0; !prefix.empty(); ++round) {
    if (round == max_prefix_rounds) {
      for (auto& [uid, p] : prefix) {
        plain.push_back(uid);
      }
      break;
    }
    // One command per distinct section and length, all sent at once.
    std::map<std::pair<std::string, std::uint64_t>, std::vector<std::uint32_t>> groups;
    for (auto& [uid, p] : prefix) {
      groups[{p.section_text, p.octets}].push_back(uid);
    }
    std::vector<std::string> commands;
    for (auto& [key, group] : groups) {
      commands.push_back("UID FETCH " + uid_list(group) + " (UID BODY.PEEK[" + key.first + "]<0." +
                         std::to_string(key.second) + ">)");
    }
    auto answers = co_await exchange(io, commands);
    if (answers.upstream_failed) {
      co_return false;
    }
    std::vector<std::pair<std::uint32_t, calendar::Probe>> again;
    const auto answered = rows_by_uid(answers.rows, true);
    for (auto& [uid, p] : prefix) {
      auto it = answered.find(uid);
      if (it == answered.end()) {
        plain.push_back(uid);
        continue;
      }
      const std::string& start = *it->second->body;
      const auto verdict = calendar::classify_prefix(p, start, start.size() < p.octets);
      if (verdict.verdict == calendar::Verdict::yes) {
        whole.push_back(uid);
      } else if (verdict.verdict == calendar::Verdict::need_more &&
                 verdict.next_octets > p.octets) {
        p.octets = verdict.next_octets;
        again.emplace_back(uid, p);
      } else {
        plain.push_back(uid);
      }
    }
    prefix = std::move(again);
  }
  co_return true;
}

asio::awaitable<bool> FetchInterceptor::decide_whole(
    InterceptIo& io, const MailboxKey& mailbox,
    const std::vector<std::pair<std::uint32_t, std::uint64_t>>& candidates) {
  std::vector<std::uint32_t> fetch_whole;
  for (const auto& [uid, size] : candidates) {
    if (size > service_.max_message_size()) {
      service_.record_original(mailbox.message(uid), "over max_message_size");
    } else {
      fetch_whole.push_back(uid);
    }
  }
  if (!fetch_whole.empty()) {
    // Not pipelined with the client's command: a server may run two FETCH commands at
    // once, and then their answers could not be told apart.
    const std::vector<std::string> commands{"UID FETCH " + uid_list(fetch_whole) +
                                            " (UID BODY.PEEK[])"};
    auto bodies = co_await exchange(io, commands);
    if (bodies.upstream_failed) {
      co_return false;
    }
    // Graph lookups run side by side (the Graph client caps them per user and overall);
    // the state is shared so that a session that ends meanwhile leaves nothing dangling.
    struct Pending {
      explicit Pending(const asio::any_io_executor& ex) : done(ex) {}
      std::size_t left = 0;
      asio::steady_timer done;
    };
    const auto ex = co_await asio::this_coro::executor;
    auto pending = std::make_shared<Pending>(ex);
    pending->done.expires_at(asio::steady_timer::time_point::max());
    const auto fetched = rows_by_uid(bodies.rows, true);
    for (std::uint32_t uid : fetch_whole) {
      auto it = fetched.find(uid);
      if (it == fetched.end()) {
        service_.record_original(mailbox.message(uid), "upstream fetch failed");
        continue;
      }
      ++pending->left;
      asio::co_spawn(ex, service_.decide(mailbox.message(uid), std::move(*it->second->body)),
                     [pending](std::exception_ptr, MessageState) {
                       if (--pending->left == 0) {
                         pending->done.cancel();
                       }
                     });
    }
    if (pending->left > 0) {
      co_await pending->done.async_wait(use_tuple);
      if (pending->left > 0) {
        co_return false; // cancelled: the session is ending
      }
    }
  }
  co_return true;
}

asio::awaitable<InterceptOutcome> FetchInterceptor::run(InterceptIo io) {
  InterceptOutcome outcome;
  if (!held_) {
    co_return outcome;
  }
  const protocol::Command command = std::move(*held_);
  held_.reset();
  if (!mailbox_) {
    // It followed a SELECT that failed (or named a mailbox the gateway cannot follow).
    if (auto [ec, n] = co_await io.upstream.write(command.raw); ec) {
      outcome.ok = false;
    }
    co_return outcome;
  }
  ++stats_.commands;
  const MailboxKey mailbox = *mailbox_;
  const auto& args = std::get<protocol::FetchArgs>(command.args);
  served_.clear();
  served_uid_.clear();
  complete_answers_ = false;
  answering_tag_ = command.tag;
  failed_answer_.clear();
  answering_items_ = args.items;

  // What must be probed: by sequence number, the whole set unless the session has seen the
  // UIDs of those numbers and all are decided; by UID, only what lies above the UID through
  // which the mailbox is decided (new mail), if anything can be there.
  std::optional<std::string> probe_set = protocol::to_string(args.set);
  Window window;
  if (!command.uid) {
    // Nothing is in flight now (the command was held until then), so no EXPUNGE can have
    // renumbered the messages since their numbers were seen.
    const auto numbers = explicit_uids(args.set);
    const auto uids = uids_of_sequence(args.set);
    const auto known =
        uids ? service_.known(mailbox, *uids) : std::map<std::uint32_t, MessageState>{};
    if (numbers && uids && known.size() == uids->size()) {
      probe_set.reset();
      for (std::size_t i = 0; i < uids->size(); ++i) {
        if (known.at((*uids)[i]) == MessageState::rewritten) {
          if (auto message = service_.rewritten(mailbox.message((*uids)[i]))) {
            served_[(*numbers)[i]] = std::move(message);
          }
        }
      }
    }
  } else {
    const auto uids = explicit_uids(args.set);
    const auto known =
        uids ? service_.known(mailbox, *uids) : std::map<std::uint32_t, MessageState>{};
    if (uids && known.size() == uids->size()) {
      probe_set.reset();
      for (const auto& [uid, state] : known) {
        if (state == MessageState::rewritten) {
          serve_by_uid(mailbox, uid);
        }
      }
    } else {
      // A set reaching from the decided UIDs upwards (Thunderbird syncs in chunks: 1:200,
      // 201:400, ...) moves the decided range up once its messages are decided.
      window.through = service_.decided_through(mailbox);
      const UidSplit split = split_at(args.set, window.through);
      for (const auto& [first, last] : split.decided) {
        for (std::uint32_t uid : service_.rewritten_between(mailbox, first, last)) {
          serve_by_uid(mailbox, uid);
        }
      }
      window.covers_tail = split.covers_tail;
      window.covered_to = split.covered_to;
      window.names_decided = !split.decided.empty();
      const bool nothing_new = !mailbox_grew_ && uidnext_ && *uidnext_ <= window.through + 1;
      if (split.above.empty() || (nothing_new && split.above_is_tail_only)) {
        probe_set.reset();
        if (!split.above.empty()) {
          unprobed_tag_ = command.tag;
          unprobed_above_ = window.through;
        }
      } else {
        probe_set = split.above;
        if (window.covers_tail) {
          mailbox_grew_ = false; // an EXISTS from now on is mail this probe may not see
        }
      }
    }
    // Messages served from the gateway's bytes (a client downloading or opening rewritten
    // invitations): the upstream need not render and send their originals again.
    const bool decided = uids && !probe_set && !served_uid_.empty();
    auto items = decided && !args.changed_since && !args.vanished
                     ? protocol::server_items(args.items)
                     : std::nullopt;
    if (items && served_uid_.size() == uids->size()) {
      co_return co_await ask_without_content(io, command, *items);
    }
    if (items) {
      // Some are: those are answered first (one round trip), the others go as asked.
      std::vector<std::uint32_t> rewritten;
      std::vector<std::uint32_t> others;
      for (std::uint32_t uid : *uids) {
        (served_uid_.contains(uid) ? rewritten : others).push_back(uid);
      }
      if (auto rest = with_uid_set(command.raw, uid_list(others))) {
        switch (co_await answer_from_store(io, uid_list(rewritten), *items)) {
        case StoreAnswer::failed:
          outcome.ok = false;
          co_return outcome;
        case StoreAnswer::answered:
          served_uid_.clear();
          co_return co_await forward(io, *rest);
        case StoreAnswer::refused:
          break; // the command goes as asked, its answers substituted
        }
      }
    }
  }
  // A header-sized FETCH is answered as it comes, its answers telling which message each is
  // about: by the Message-ID, asked along with the client's items if they do not name it
  // (mbsync's and offlineimap's syncs) and taken out of the answers again; without Graph's
  // listing, by BODYSTRUCTURE (and size) asked along so; by sequence number (fetchmail's
  // sizes), with the UID asked along too. Not when a UID set names decided mail too: a probe
  // of only the rest costs the upstream less.
  std::optional<Streamed> streamed;
  if (probe_set && uidnext_ && protocol::answers_are_header_sized(args.items)) {
    const auto asks = [&args](FetchAttr attr) {
      return std::any_of(args.items.items.begin(), args.items.items.end(),
                         [attr](const protocol::FetchItem& item) { return item.attr == attr; });
    };
    streamed = Streamed{command.tag, command.raw};
    if (!command.uid) {
      streamed->by_number = true;
      streamed->asks_uid = !asks(FetchAttr::uid);
      window.through = service_.decided_through(mailbox);
    }
    if (service_.uses_listing()) {
      streamed->asks_message_id = !protocol::answers_name_message_id(args.items);
    } else {
      streamed->asks_structure = !asks(FetchAttr::bodystructure);
      streamed->asks_size = !asks(FetchAttr::rfc822_size);
    }
    const std::pair<bool, std::string_view> added[] = {
        {streamed->asks_uid, "UID"},
        {streamed->asks_message_id, protocol::message_id_item},
        {streamed->asks_structure, "BODYSTRUCTURE"},
        {streamed->asks_size, "RFC822.SIZE"}};
    for (const auto& [wanted, item] : added) {
      if (wanted && streamed) {
        auto line =
            window.names_decided ? std::nullopt : protocol::with_fetch_item(streamed->line, item);
        if (line) {
          streamed->line = std::move(*line);
        } else {
          streamed.reset();
        }
      }
    }
  }
  if (streamed && !service_.uses_listing()) {
    co_return co_await stream(io, *streamed, mailbox, nullptr, window, 0);
  }
  if (streamed) {
    const auto selected_at = selected_at_;
    if (window.through == 0) {
      // Nothing decided in this mailbox yet: a first sync, which wants a listing that names
      // every meeting message the session saw at SELECT, and many events.
      auto listing = co_await service_.listing(upn_, selected_at, true);
      if (listing && listing->asked >= selected_at) {
        co_return co_await stream(io, *streamed, mailbox, listing.get(), window, *uidnext_);
      }
    } else {
      // Mail above the decided range, mostly new: the listing at hand names what it can,
      // and a listing asked once the answers are in decides the rest (one Graph request).
      auto listing = service_.current_listing(upn_);
      if (!listing) {
        listing = std::make_shared<const MeetingListing>();
      }
      const std::uint32_t listed_below =
          listing->asked >= selected_at ? *uidnext_ : window.through + 1;
      co_return co_await stream(io, *streamed, mailbox, listing.get(), window, listed_below);
    }
  }
  if (probe_set) {
    std::vector<Row> rows;
    const bool first_sync = command.uid && window.through == 0;
    if (!co_await decide(io, command.uid, *probe_set, rows, mailbox, first_sync)) {
      outcome.ok = false;
      co_return outcome;
    }
    std::vector<std::uint32_t> probed;
    std::uint32_t highest = 0;
    for (const Row& r : rows) {
      probed.push_back(r.uid);
      highest = std::max(highest, r.uid);
    }
    const auto states = service_.known(mailbox, probed);
    for (const Row& r : rows) {
      auto it = states.find(r.uid);
      if (it == states.end() || it->second != MessageState::rewritten) {
        continue;
      }
      if (auto message = service_.rewritten(mailbox.message(r.uid))) {
        served_[r.seq] = std::move(message);
      }
    }
    if (states.size() == rows.size()) {
      note_decided(mailbox, window, highest);
    }
  }
  if (auto [ec, n] = co_await io.upstream.write(command.raw); ec) {
    outcome.ok = false;
  }
  co_return outcome;
}

asio::awaitable<InterceptOutcome>
FetchInterceptor::ask_without_content(InterceptIo& io, const protocol::Command& command,
                                      const protocol::FetchItems& items) {
  const auto& args = std::get<protocol::FetchArgs>(command.args);
  complete_answers_ = true;
  ++stats_.from_store;
  co_return co_await forward(io, uid_fetch_line(command.tag, protocol::to_string(args.set), items));
}

asio::awaitable<InterceptOutcome> FetchInterceptor::forward(InterceptIo& io, std::string line) {
  InterceptOutcome outcome;
  log_sent(std::string_view(line).substr(0, line.size() - 2));
  if (auto [ec, n] = co_await io.upstream.write(line); ec) {
    outcome.ok = false;
  }
  co_return outcome;
}

asio::awaitable<FetchInterceptor::StoreAnswer>
FetchInterceptor::answer_from_store(InterceptIo& io, const std::string& set,
                                    const protocol::FetchItems& items) {
  const std::string tag = next_tag();
  ++stats_.probe_commands;
  ++stats_.round_trips;
  ++stats_.from_store;
  if (!(co_await forward(io, uid_fetch_line(tag, set, items))).ok) {
    co_return StoreAnswer::failed;
  }
  complete_answers_ = true;
  while (true) {
    auto message = co_await read_message(io);
    if (!message || *message == dropped_response) {
      co_return StoreAnswer::failed;
    }
    const LineHead head = head_of(*message);
    if (head.tag == tag) {
      complete_answers_ = false;
      if (says_session_lost(head.name, *message)) {
        session_lost_ = true;
        co_return StoreAnswer::failed;
      }
      co_return protocol::imap_iequals(head.name, "OK") ? StoreAnswer::answered
                                                        : StoreAnswer::refused;
    }
    if (head.tag == "*" && head.number && protocol::imap_iequals(head.name, "FETCH")) {
      *message = substitute(std::move(*message)); // unchanged unless about a served UID
    }
    if (!co_await pass_on(io, std::move(*message))) {
      co_return StoreAnswer::failed;
    }
  }
}

void FetchInterceptor::log_sent(std::string_view line) const {
  if (log_enabled(LogLevel::trace)) {
    log_event(LogLevel::trace, "G",
              {field("session", session_id_), field("line", sanitize_for_log(line, 16 * 1024))});
  }
}

void FetchInterceptor::note_decided(const MailboxKey& mailbox, const Window& window,
                                    std::uint32_t highest) {
  // Every UID that exists up to here has now been decided. A set that reaches the newest
  // message saw every message the mailbox had at SELECT: a UID below that UIDNEXT which it
  // did not see is gone, and UIDs are never given again.
  std::uint32_t decided_to = window.covered_to;
  if (window.covers_tail) {
    decided_to = std::max({decided_to, highest, uidnext_.value_or(1) - 1});
  }
  if (decided_to > window.through) {
    service_.raise_decided_through(mailbox, decided_to);
  }
}

asio::awaitable<InterceptOutcome> FetchInterceptor::stream(InterceptIo& io, const Streamed& command,
                                                           const MailboxKey& mailbox,
                                                           const MeetingListing* listing,
                                                           const Window& window,
                                                           std::uint32_t listed_below) {
  InterceptOutcome outcome;
  ++stats_.streamed;
  if (command.adds_items()) {
    ++stats_.asked_along;
  }
  // Messages above the decided range that are rewritten already (another session's); by
  // sequence number, the set may name any message.
  const auto rewritten =
      service_.rewritten_between(mailbox, command.by_number ? 1 : window.through + 1,
                                 std::numeric_limits<std::uint32_t>::max());
  const std::set<std::uint32_t> rewritten_above(rewritten.begin(), rewritten.end());
  if (auto [ec, n] = co_await io.upstream.write(command.line); ec) {
    outcome.ok = false;
    co_return outcome;
  }
  if (log_enabled(LogLevel::trace)) {
    const std::string_view line = command.line;
    if (command.adds_items()) { // the line as sent: not the client's
      log_event(LogLevel::trace, "G",
                {field("session", session_id_), field("streamed", sanitize_for_log(command.tag)),
                 field("line", sanitize_for_log(line.substr(0, line.size() - 2), 16 * 1024))});
    } else {
      log_event(LogLevel::trace, "G",
                {field("session", session_id_), field("streamed", sanitize_for_log(command.tag))});
    }
  }

  // Answers that must wait are kept here; the others pass on at once (clients take FETCH
  // answers in any order). Once a message is expunged while some wait, everything after it
  // waits too, in order: passing the EXPUNGE ahead would move their sequence numbers.
  struct Waiting {
    std::string bytes;
    std::uint32_t uid = 0; // an answer about an undecided message
  };
  std::vector<Waiting> waiting;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> candidates;
  struct Newer {
    std::uint32_t uid = 0;
    std::string message_id;
    std::uint64_t size = 0;
  };
  std::vector<Newer> newer; // above what the listing covers
  struct Probing {
    std::uint32_t uid = 0;
    std::uint64_t size = 0;
    calendar::Probe probe;
  };
  std::vector<Probing> probing; // without a listing: the first text body may hold the link
  std::vector<std::uint32_t> plain;
  std::uint32_t highest = 0;
  std::string out;
  bool hold_rest = false;
  std::size_t waiting_bytes = 0;
  while (true) {
    auto message = co_await read_message(io, &out);
    if (!message) {
      outcome.ok = false;
      co_return outcome;
    }
    if (*message == dropped_response) {
      // An answer larger than the cap cannot be held, nor passed on whole any more.
      outcome.ok = false;
      co_return outcome;
    }
    LineHead head = head_of(*message);
    if (head.tag == command.tag) {
      outcome.completion = std::move(*message);
      break;
    }
    if (log_enabled(LogLevel::trace)) {
      log_event(LogLevel::trace, "S",
                {field("session", session_id_),
                 field("line", sanitize_for_log(message->substr(0, message->find('\n')), 512))});
    }
    if (head.tag == "*" && head.number && protocol::imap_iequals(head.name, "EXISTS")) {
      mailbox_grew_ = true;
    }
    std::uint32_t uid = 0;
    std::optional<protocol::Response> parsed;
    if (head.tag == "*" && head.number && protocol::imap_iequals(head.name, "FETCH")) {
      if (auto r = protocol::parse_response(*message);
          r && r->kind == protocol::ResponseKind::fetch) {
        parsed = std::move(r).value();
        const auto& data = std::get<protocol::FetchData>(parsed->body);
        for (const auto& att : data.atts) {
          if (att.attr == FetchAttr::uid) {
            uid = static_cast<std::uint32_t>(att.number);
          }
        }
        if (command.adds_items()) {
          *message =
              protocol::without_attributes(*message, data, [&command](const protocol::MsgAtt& att) {
                return command.added(att);
              });
          head = head_of(*message);
        }
      }
    }
    note_sequence(*message, uid);
    bool wait = false;
    if (uid != 0 && rewritten_above.contains(uid)) {
      serve_by_uid(mailbox, uid);
    }
    if (uid != 0 && served_uid_.contains(uid)) {
      *message = substitute(std::move(*message), uid);
      head = head_of(*message); // it viewed the bytes replaced
    } else if (uid > window.through) {
      const auto& data = std::get<protocol::FetchData>(parsed->body);
      std::uint64_t size = 0;
      const protocol::SExpr* structure = nullptr;
      for (const auto& att : data.atts) {
        if (att.attr == FetchAttr::rfc822_size) {
          size = att.number;
        } else if (att.attr == FetchAttr::bodystructure) {
          structure = &att.sexp;
        }
      }
      // An answer without the requested header (or structure) is an unsolicited flag update:
      // no content.
      if (!listing) {
        if (structure) {
          highest = std::max(highest, uid);
          auto plan = calendar::plan_probe(*structure);
          if (plan.verdict == calendar::Verdict::no || !plan.probe) {
            plain.push_back(uid);
          } else {
            probing.push_back(Probing{uid, size, std::move(*plan.probe)});
            wait = true;
          }
        }
      } else if (const auto id = protocol::answer_message_id(data)) {
        highest = std::max(highest, uid);
        if (listing->message_ids.contains(*id)) {
          candidates.emplace_back(uid, size);
          wait = true;
        } else if (uid < listed_below) {
          plain.push_back(uid);
        } else {
          newer.push_back(Newer{uid, std::string(*id), size});
          wait = true;
        }
      }
    }
    if (!waiting.empty() && head.tag == "*" &&
        (protocol::imap_iequals(head.name, "EXPUNGE") ||
         protocol::imap_iequals(head.name, "VANISHED"))) {
      hold_rest = true;
    }
    if (wait || hold_rest) {
      waiting_bytes += message->size();
      if (waiting_bytes > max_response_) {
        log_event(LogLevel::warn, "rewrite_answers_too_large", {field("session", session_id_)});
        outcome.ok = false;
        co_return outcome;
      }
      waiting.push_back(Waiting{std::move(*message), wait ? uid : 0});
    } else {
      out += *message;
    }
  }
  if (!newer.empty()) {
    if (auto fresh = co_await listing_after(std::chrono::steady_clock::now())) {
      for (const Newer& n : newer) {
        if (fresh->message_ids.contains(n.message_id)) {
          candidates.emplace_back(n.uid, n.size);
        } else {
          plain.push_back(n.uid);
        }
      }
      newer.clear();
    }
  }
  std::sort(plain.begin(), plain.end());
  service_.record_plain(mailbox, plain);

  // The waiting messages, fetched whole (listed) or probed (newer, or without a listing the
  // start of their first text body). What the server says meanwhile reaches the client after
  // the waiting answers, as the server said it after them.
  std::string later;
  io.defer = &later;
  std::vector<std::uint32_t> undecided;
  for (const auto& w : waiting) {
    if (w.uid != 0) {
      undecided.push_back(w.uid);
    }
  }
  const auto before = service_.known(mailbox, undecided);
  std::erase_if(candidates, [&before](const auto& c) { return before.contains(c.first); });
  std::vector<std::uint32_t> probe;
  for (const Newer& n : newer) {
    if (!before.contains(n.uid)) {
      probe.push_back(n.uid);
    }
  }
  if (!probing.empty()) {
    std::vector<std::pair<std::uint32_t, calendar::Probe>> prefix;
    std::map<std::uint32_t, std::uint64_t> size_of;
    for (Probing& p : probing) {
      if (!before.contains(p.uid)) {
        prefix.emplace_back(p.uid, std::move(p.probe));
        size_of[p.uid] = p.size;
      }
    }
    std::vector<std::uint32_t> starts_with_link;
    std::vector<std::uint32_t> other;
    if (!co_await classify_prefixes(io, std::move(prefix), starts_with_link, other)) {
      outcome.ok = false;
      co_return outcome;
    }
    std::sort(other.begin(), other.end());
    service_.record_plain(mailbox, other);
    for (std::uint32_t uid : starts_with_link) {
      candidates.emplace_back(uid, size_of[uid]);
    }
  }
  if (!candidates.empty() && !co_await decide_whole(io, mailbox, candidates)) {
    outcome.ok = false;
    co_return outcome;
  }
  if (!probe.empty()) {
    std::vector<Row> rows;
    if (!co_await decide(io, true, uid_list(std::move(probe)), rows, mailbox)) {
      outcome.ok = false;
      co_return outcome;
    }
  }
  const auto states = service_.known(mailbox, undecided);
  for (const auto& [uid, state] : states) {
    if (state == MessageState::rewritten) {
      serve_by_uid(mailbox, uid);
    }
  }
  for (auto& w : waiting) {
    out +=
        w.uid != 0 && served_uid_.contains(w.uid) ? substitute(std::move(w.bytes), w.uid) : w.bytes;
  }
  if (states.size() == undecided.size()) {
    note_decided(mailbox, window, highest);
  }
  io.defer = nullptr;
  out += later;
  if (!out.empty() && !co_await io.to_client(std::move(out))) {
    outcome.ok = false;
  }
  co_return outcome;
}

asio::awaitable<std::shared_ptr<const MeetingListing>>
FetchInterceptor::listing_after(std::chrono::steady_clock::time_point seen) {
  auto fresh = co_await service_.listing(upn_, seen, true);
  if (!fresh || fresh->asked < seen) {
    fresh.reset();
  }
  co_return fresh;
}

void FetchInterceptor::serve_by_uid(const MailboxKey& mailbox, std::uint32_t uid) {
  if (auto message = service_.rewritten(mailbox.message(uid))) {
    served_uid_[uid] = std::move(message);
  }
}

bool FetchInterceptor::wants_whole(std::string_view first_line) const {
  if (served_.empty() && served_uid_.empty() && pipelined_.empty()) {
    return false;
  }
  const LineHead head = head_of(first_line);
  if (head.tag != "*" || !head.number || !protocol::imap_iequals(head.name, "FETCH")) {
    return false;
  }
  if (!pipelined_.empty()) {
    const auto uid = leading_uid(first_line);
    return !uid || std::any_of(pipelined_.begin(), pipelined_.end(),
                               [&uid](const Pipelined& p) { return p.served.contains(*uid); });
  }
  if (served_.contains(*head.number)) {
    return true;
  }
  if (served_uid_.empty()) {
    return false;
  }
  // Matched by UID: an answer that names another message first streams on (it may be far
  // larger than what can be held); the others are collected, and those about other messages
  // come out of substitute() unchanged.
  const auto uid = leading_uid(first_line);
  return !uid || served_uid_.contains(*uid);
}

void FetchInterceptor::note_answer(std::string_view first_line) {
  if (!pipelined_.empty()) {
    const LineHead head = head_of(first_line);
    if (auto done = std::find_if(pipelined_.begin(), pipelined_.end(),
                                 [&head](const Pipelined& p) { return p.tag == head.tag; });
        done != pipelined_.end()) {
      if (!done->client_tag.empty()) {
        // The gateway's own command: the client's completion says whether it was answered.
        unseen_completion_ = done->tag;
        if (done->failed.empty() && !protocol::imap_iequals(head.name, "OK")) {
          done->failed = "NO [UNAVAILABLE] Some messages could not be fetched";
        }
      }
      if (!done->failed.empty()) {
        failed_pipelined_[done->client_tag.empty() ? done->tag : done->client_tag] =
            std::move(done->failed);
      }
      pipelined_.erase(done);
    }
    return;
  }
  if (served_.empty() && served_uid_.empty()) {
    return;
  }
  const LineHead head = head_of(first_line);
  if (head.tag == "*" && head.number && protocol::imap_iequals(head.name, "EXPUNGE")) {
    std::map<std::uint32_t, std::shared_ptr<const protocol::mime::Message>> shifted;
    for (auto& [seq, message] : served_) {
      if (seq != *head.number) {
        shifted[seq > *head.number ? seq - 1 : seq] = std::move(message);
      }
    }
    served_ = std::move(shifted);
  } else if (head.tag == answering_tag_) {
    served_.clear();
    served_uid_.clear();
  }
}

std::string FetchInterceptor::substitute(std::string response, std::uint32_t known_uid) {
  auto parsed = protocol::parse_response(response);
  if (parsed && parsed->kind == protocol::ResponseKind::fetch) {
    const auto& data = std::get<protocol::FetchData>(parsed->body);
    std::optional<std::uint32_t> uid;
    if (known_uid != 0) {
      uid = known_uid;
    }
    for (const auto& att : data.atts) {
      if (att.attr == protocol::FetchAttr::uid) {
        uid = static_cast<std::uint32_t>(att.number);
      }
    }
    std::shared_ptr<const protocol::mime::Message> message;
    // The items it answers, how, and where a failure is kept.
    const protocol::FetchItems* items = &answering_items_;
    bool complete = complete_answers_;
    bool uid_command = true;
    std::string* failed = &failed_answer_;
    if (!pipelined_.empty()) {
      // The first command still answering that names the message: servers answer in order.
      for (Pipelined& p : pipelined_) {
        if (auto u = uid ? p.served.find(*uid) : p.served.end(); u != p.served.end()) {
          message = u->second;
          items = &p.items;
          complete = true;
          uid_command = p.uid_command;
          failed = &p.failed;
          break;
        }
      }
    } else if (auto it = served_.find(data.number); it != served_.end()) {
      message = it->second;
    } else if (auto u = uid ? served_uid_.find(*uid) : served_uid_.end(); u != served_uid_.end()) {
      message = u->second;
    }
    if (message) {
      auto rebuilt = complete ? protocol::complete_fetch(*parsed, *message, *items, uid_command)
                              : protocol::substitute_fetch(*parsed, *message, *items);
      if (rebuilt) {
        ++stats_.substituted;
        return std::move(rebuilt).value();
      }
      log_event(LogLevel::warn, "rewrite_substitution_failed",
                {field("session", session_id_),
                 field("error", sanitize_for_log(rebuilt.error().message))});
      if (failed->empty()) {
        *failed = rebuilt.error().message;
      }
      return {};
    }
  }
  return response;
}

std::optional<std::string> FetchInterceptor::replace_completion(std::string_view line) {
  std::string tag(head_of(line).tag);
  std::string why;
  if (unseen_completion_ && tag == *unseen_completion_) {
    unseen_completion_.reset();
    return std::string();
  }
  if (auto failed = failed_pipelined_.find(tag); failed != failed_pipelined_.end()) {
    why = std::move(failed->second);
    failed_pipelined_.erase(failed);
  } else if (!failed_answer_.empty() && tag == answering_tag_) {
    why = std::move(failed_answer_);
    failed_answer_.clear();
  } else {
    return std::nullopt;
  }
  ++stats_.unanswerable;
  // Rendering errors already carry the response code a server gives (RFC 3516's
  // UNKNOWN-CTE, PARSE); anything else is the gateway's own failure.
  if (!why.starts_with("NO [")) {
    why = "NO [SERVERBUG] Some messages could not be rendered";
  }
  return tag + ' ' + why + "\r\n";
}

void FetchInterceptor::note_sequence(std::string_view message, std::uint32_t uid) {
  if (!uses_sequence_ || !mailbox_) {
    return; // a client that names messages by UID only: nothing to remember
  }
  const LineHead head = head_of(message);
  if (head.tag != "*") {
    return;
  }
  if (protocol::imap_iequals(head.name, "EXPUNGE") ||
      protocol::imap_iequals(head.name, "VANISHED")) {
    forget_sequence();
    return;
  }
  if (!head.number || *head.number == 0 || *head.number > max_remembered_sequence ||
      !protocol::imap_iequals(head.name, "FETCH")) {
    return;
  }
  if (uid == 0) {
    uid = leading_uid(message).value_or(0);
  }
  if (uid == 0) {
    return;
  }
  if (uid_by_seq_.size() < *head.number) {
    uid_by_seq_.resize(*head.number);
  }
  uid_by_seq_[*head.number - 1] = uid;
}

void FetchInterceptor::forget_sequence() {
  std::vector<std::uint32_t>().swap(uid_by_seq_);
}

std::optional<std::vector<std::uint32_t>>
FetchInterceptor::uids_of_sequence(const protocol::SequenceSet& set) const {
  const auto numbers = explicit_uids(set);
  if (!numbers) {
    return std::nullopt;
  }
  std::vector<std::uint32_t> uids;
  for (std::uint32_t n : *numbers) {
    if (n == 0 || n > uid_by_seq_.size() || uid_by_seq_[n - 1] == 0) {
      return std::nullopt;
    }
    uids.push_back(uid_by_seq_[n - 1]);
  }
  return uids;
}

} // namespace icalgate::proxy
