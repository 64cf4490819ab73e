#include "proxy/fetch_interceptor.hpp"

#include "protocol/fetch_answer.hpp"
#include "protocol/fetch_complete.hpp"
#include "protocol/fetch_substitute.hpp"
#include "protocol/lexer.hpp"
#include "protocol/line_head.hpp"
#include "protocol/sequence_set.hpp"
#include "protocol/uid_set.hpp"
#include "proxy/logging.hpp"
#include "proxy/redact.hpp"
#include "proxy/session_lost.hpp"

#include <algorithm>
#include <limits>
#include <set>

namespace icalgate::proxy {

namespace {

using protocol::code_number_in;
using protocol::FetchAttr;
using protocol::head_of;
using protocol::leading_uid;
using protocol::LineHead;
using protocol::split_at;
using protocol::uid_fetch_line;
using protocol::uid_list;
using protocol::UidSplit;
using protocol::with_uid_set;

// Explicit UID sets up to this many UIDs are looked up in the store before any probe.
constexpr std::size_t max_explicit_uids = 1000;
// UIDs past those a FETCH names that its probe decides too, when it names a few only.
constexpr std::uint32_t read_ahead_uids = 200;
// Sequence numbers remembered per session (their UIDs, 4 bytes each) at most.
constexpr std::uint32_t max_remembered_sequence = 100'000;

// Whether an answer shows what a rewrite changes (protocol::shows_content). One carrying a
// literal is taken to: its first line is all there is to go by as it streams on.
bool answer_shows_content(std::string_view first_line) {
  if (first_line.ends_with("}\r\n")) {
    return true;
  }
  const auto parsed = protocol::parse_response(first_line);
  if (!parsed || parsed->kind != protocol::ResponseKind::fetch) {
    return true;
  }
  return protocol::shows_content(std::get<protocol::FetchData>(parsed->body));
}

std::optional<std::vector<std::uint32_t>> explicit_uids(const protocol::SequenceSet& set) {
  return protocol::explicit_numbers(set, max_explicit_uids);
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
    leave_mailbox();
    select_.reset();
    uidnext_.reset();
    if (whole_command) {
      follow(first_line);
    }
    return {}; // a mailbox name sent as a literal: followed once whole (follow())
  }
  if (protocol::imap_iequals(name, "CLOSE") || protocol::imap_iequals(name, "UNSELECT")) {
    leave_mailbox();
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
  if (mailbox_ && !select_ && served_.empty() && served_uid_.empty() && announced_uid_.empty()) {
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
    if (!watch_tag_.empty()) {
      if (head.tag == watch_tag_ || !mailbox_) {
        watch_tag_.clear();
      } else if (head.tag == "*" && head.number && protocol::imap_iequals(head.name, "FETCH")) {
        // Shown as it is: from now on it stays the original (DESIGN.md §2).
        const auto uid = leading_uid(first_line);
        if (uid && *uid > watch_above_ && answer_shows_content(first_line) &&
            service_.known(*mailbox_, {&*uid, 1}).empty()) {
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
FetchInterceptor::exchange(InterceptIo& io, const std::vector<std::string>& commands,
                           const RowSink* sink) {
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
      const auto renumber = [gone](auto& answered) {
        std::erase_if(answered, [gone](const auto& r) { return r.seq == gone; });
        for (auto& r : answered) {
          r.seq -= r.seq > gone ? 1 : 0;
        }
      };
      renumber(result.rows);
      renumber(result.seen);
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
          if (sink != nullptr) {
            result.seen.push_back({row.seq, row.uid});
            (*sink)(row);
          } else {
            result.rows.push_back(std::move(row));
          }
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
  announced_uid_.clear();
  complete_answers_ = false;
  answering_tag_ = command.tag;
  failed_answer_.clear();
  answering_items_ = args.items;

  // What must be probed: by sequence number, the whole set unless the session has seen the
  // UIDs of those numbers and all are decided; by UID, only what lies above the UID through
  // which the mailbox is decided (new mail), if anything can be there.
  std::optional<std::string> probe_set = protocol::to_string(args.set);
  // Whether the answers to a UID FETCH may carry whole the meeting messages it names that are
  // still to decide, which can then be decided from those (decide_from_answers()).
  const bool from_answers = command.uid && !args.changed_since && !args.vanished &&
                            protocol::answers_may_carry_whole_message(args.items);
  // A header-sized FETCH with undecided mail goes upstream as it is, answered as it comes.
  const bool streams = uidnext_ && protocol::answers_are_header_sized(args.items);
  Window window;
  // With a probe that reads ahead: the UIDs the client named, whose answers are substituted.
  std::optional<std::vector<std::uint32_t>> named;
  bool whole_ahead = false; // `named` read ahead and found to fetch whole (ahead_whole_)
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
    if (uids && serve_if_decided(mailbox, *uids)) {
      probe_set.reset();
    } else {
      // A set reaching from the decided UIDs upwards (Thunderbird syncs in chunks: 1:200,
      // 201:400, ...) moves the decided range up once its messages are decided.
      window.through = service_.decided_through(mailbox);
      const UidSplit split = split_at(args.set, window.through);
      std::map<std::uint32_t, Announced> decided_announced;
      for (const auto& [first, last] : split.decided) {
        for (std::uint32_t uid : service_.rewritten_between(mailbox, first, last)) {
          serve_by_uid(mailbox, uid);
        }
        decided_announced.merge(service_.announcements(mailbox, first, last));
      }
      // Announced messages are undecided still: answered from their announcements if the
      // command asks nothing else; decided from the command's own answers if those may carry
      // them whole and it names no mail above the decided range; else fetched whole and
      // decided first.
      if (!decided_announced.empty() && protocol::answered_by_announcement(args.items)) {
        announced_uid_ = std::move(decided_announced);
      } else if (!decided_announced.empty() && from_answers && split.above.empty()) {
        std::map<std::uint32_t, std::uint64_t> candidates;
        for (const auto& [uid, a] : decided_announced) {
          candidates.emplace(uid, a.size);
        }
        co_return co_await decide_from_answers(io, command, mailbox, std::move(candidates));
      } else if (!decided_announced.empty()) {
        Candidates whole;
        for (const auto& [uid, a] : decided_announced) {
          whole.emplace_back(uid, a.size);
        }
        std::vector<Probing> no_probes;
        std::vector<std::uint32_t> plain;
        if (!co_await classify_prefixes(io, mailbox, std::move(no_probes), std::move(whole),
                                        plain)) {
          outcome.ok = false;
          co_return outcome;
        }
        for (const auto& [uid, a] : decided_announced) {
          serve_by_uid(mailbox, uid);
        }
      }
      window.covers_tail = split.covers_tail;
      window.names_above = !split.above.empty();
      window.covered_to = split.covered_to;
      window.names_decided = !split.decided.empty();
      const bool nothing_new = !mailbox_grew_ && uidnext_ && *uidnext_ <= window.through + 1;
      if (split.above.empty() || (nothing_new && split.above_is_tail_only)) {
        probe_set.reset();
      } else {
        probe_set = split.above;
        if (window.covers_tail) {
          mailbox_grew_ = false; // an EXISTS from now on is mail this probe may not see
        } else if (uids && !streams) {
          // A client that downloads undecided mail message by message (offlineimap, after
          // listing flags only) would wait for a probe before each download: the probe
          // decides the UIDs that follow too, those the listing (or without it, the structure
          // and the start of section 1) shows to be no meeting messages. UIDs an earlier probe
          // read ahead are not asked about again. (A header sync in chunks is answered as it
          // comes, and decides its own chunk only.)
          const std::uint32_t low = *std::upper_bound(uids->begin(), uids->end(), window.through);
          const std::uint32_t high = uids->back();
          // Announced messages are meeting messages to fetch whole, as are those read ahead.
          for (const auto& [uid, a] : service_.announcements(mailbox, low, high)) {
            if (ahead_whole_.size() < max_ahead_whole) {
              ahead_whole_.emplace(uid, a.size);
            }
          }
          if (all_ahead_whole(*uids) && from_answers) {
            std::map<std::uint32_t, std::uint64_t> candidates;
            for (std::uint32_t uid : *uids) {
              candidates.emplace(uid, ahead_whole_.at(uid));
              ahead_whole_.erase(uid);
            }
            co_return co_await decide_from_answers(io, command, mailbox, std::move(candidates));
          } else if (all_ahead_whole(*uids)) {
            probe_set = uid_list(*uids); // fetched whole, read ahead of by the next probe
            named = uids;
            whole_ahead = true;
          } else if (high - low < read_ahead_uids) {
            const auto to = static_cast<std::uint32_t>(std::min<std::uint64_t>(
                std::uint64_t{high} + read_ahead_uids, std::numeric_limits<std::uint32_t>::max()));
            const std::uint64_t from = std::uint64_t{std::max(high, read_ahead_to_)} + 1;
            probe_set = std::to_string(low) + ':' + std::to_string(high);
            if (from <= to) {
              *probe_set += ',' + std::to_string(from) + ':' + std::to_string(to);
              read_ahead_to_ = to;
              if (low == window.through + 1 && from == high + 1) {
                window.covered_to = std::max(window.covered_to, to);
              }
            }
            named = uids;
          }
        }
      }
    }
    // Messages served from the gateway's bytes (a client downloading or opening rewritten
    // invitations): the upstream need not render and send their originals again.
    if (uids && !probe_set && !served_uid_.empty()) {
      if (auto done = co_await answer_decided(io, command, *uids)) {
        co_return std::move(*done);
      }
    }
  }
  // A header-sized FETCH is answered as it comes, its answers telling which message each is
  // about: by the Message-ID, asked along with the client's items if they do not name it
  // (mbsync's and offlineimap's syncs) and taken out of the answers again; without Graph's
  // listing, by BODYSTRUCTURE (and size) asked along so, with the start of BODY[1], which
  // decides most messages without a probe (section_one_octets()); by sequence number (fetchmail's
  // sizes), with the UID asked along too. Not when a UID set names decided mail too: a probe
  // of only the rest costs the upstream less.
  std::optional<Streamed> streamed;
  if (probe_set && streams) {
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
      streamed->section_one_octets = section_one_octets(args.set, window);
    }
    const std::string section_one = section_one_item(streamed->section_one_octets);
    const std::pair<bool, std::string_view> added[] = {
        {streamed->asks_uid, "UID"},
        {streamed->asks_message_id, protocol::message_id_item},
        {streamed->asks_structure, "BODYSTRUCTURE"},
        {streamed->asks_size, "RFC822.SIZE"},
        {streamed->section_one_octets != 0, section_one}};
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
  // Meeting messages the command names that its own answers will carry whole, and what the
  // probe saw (its UIDs, the highest of them).
  Candidates deferred;
  std::vector<std::uint32_t> probed;
  std::uint32_t highest = 0;
  Window probed_window; // as it was before the probe
  if (probe_set) {
    std::vector<Seen> seen;
    const bool first_sync = command.uid && window.through == 0;
    const std::vector<std::uint32_t>* only = named ? &*named : nullptr;
    const std::uint64_t section_one = section_one_octets(args.set, window);
    bool decided = false;
    if (whole_ahead) {
      decided = co_await fetch_whole_ahead(io, *probe_set, seen, mailbox);
    } else {
      decided = co_await decide(io, command.uid, *probe_set, seen, mailbox, first_sync, only,
                                section_one, from_answers ? &deferred : nullptr);
    }
    if (!decided) {
      outcome.ok = false;
      co_return outcome;
    }
    for (const Seen& r : seen) {
      probed.push_back(r.uid);
      highest = std::max(highest, r.uid);
    }
    const auto states = service_.known(mailbox, probed);
    for (const Seen& r : seen) {
      auto it = states.find(r.uid);
      if (it == states.end() || it->second != MessageState::rewritten ||
          (named && !std::binary_search(named->begin(), named->end(), r.uid))) {
        continue;
      }
      if (!deferred.empty()) {
        serve_by_uid(mailbox, r.uid); // decide_from_answers() matches answers by UID
      } else if (auto message = service_.rewritten(mailbox.message(r.uid))) {
        served_[r.seq] = std::move(message);
      }
    }
    if (states.size() == seen.size()) {
      note_decided(mailbox, window, highest);
    }
    probed_window = window;
    window.through = std::max(window.through, highest);
  }
  if (command.uid && window.names_above) {
    watch_tag_ = command.tag;
    watch_above_ = window.through;
  }
  if (!deferred.empty()) {
    // The meeting messages the probe found come whole with the command's own answers.
    std::map<std::uint32_t, std::uint64_t> candidates(deferred.begin(), deferred.end());
    InterceptOutcome answered =
        co_await decide_from_answers(io, command, mailbox, std::move(candidates));
    if (answered.ok && service_.known(mailbox, probed).size() == probed.size()) {
      note_decided(mailbox, probed_window, highest);
    }
    co_return answered;
  }
  if (probe_set && command.uid && !streams) {
    // Decided now, some rewritten (a download of mail read ahead, announced, or found by the
    // probe): as above, the upstream is asked for those only what their bytes do not hold.
    const auto uids = explicit_uids(args.set);
    if (uids && serve_if_decided(mailbox, *uids)) {
      served_.clear();
      if (!served_uid_.empty()) {
        if (auto done = co_await answer_decided(io, command, *uids)) {
          co_return std::move(*done);
        }
      }
    }
  }
  if (auto [ec, n] = co_await io.upstream.write(command.raw); ec) {
    outcome.ok = false;
  }
  co_return outcome;
}

asio::awaitable<std::optional<InterceptOutcome>>
FetchInterceptor::answer_decided(InterceptIo& io, const protocol::Command& command,
                                 const std::vector<std::uint32_t>& uids) {
  const auto& args = std::get<protocol::FetchArgs>(command.args);
  const auto items =
      args.changed_since || args.vanished ? std::nullopt : protocol::server_items(args.items);
  if (!items) {
    co_return std::nullopt;
  }
  if (served_uid_.size() == uids.size()) {
    InterceptOutcome outcome = co_await ask_without_content(io, command, *items);
    co_return outcome;
  }
  // Some are: those are answered first (one round trip), the others go as asked.
  std::vector<std::uint32_t> rewritten;
  std::vector<std::uint32_t> others;
  for (std::uint32_t uid : uids) {
    (served_uid_.contains(uid) ? rewritten : others).push_back(uid);
  }
  const auto rest = with_uid_set(command.raw, uid_list(others));
  if (!rest) {
    co_return std::nullopt;
  }
  switch (co_await answer_from_store(io, uid_list(rewritten), *items)) {
  case StoreAnswer::failed: {
    InterceptOutcome failed;
    failed.ok = false;
    co_return failed;
  }
  case StoreAnswer::answered: {
    served_uid_.clear();
    InterceptOutcome outcome = co_await forward(io, *rest);
    co_return outcome;
  }
  case StoreAnswer::refused:
    break; // the command goes as asked, its answers substituted
  }
  co_return std::nullopt;
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
  // did not see is gone, and UIDs are never given again. A range past the newest message
  // decides only up to it: the UIDs above go to mail still to come.
  const std::uint32_t newest = std::max(highest, uidnext_.value_or(1) - 1);
  const std::uint32_t decided_to =
      window.covers_tail ? newest : std::min(window.covered_to, newest);
  if (decided_to > window.through) {
    service_.raise_decided_through(mailbox, decided_to);
  }
}

bool FetchInterceptor::serve_if_decided(const MailboxKey& mailbox,
                                        const std::vector<std::uint32_t>& uids) {
  const auto known = service_.known(mailbox, uids);
  if (known.size() != uids.size()) {
    return false;
  }
  for (const auto& [uid, state] : known) {
    if (state == MessageState::rewritten) {
      serve_by_uid(mailbox, uid);
    }
  }
  return true;
}

void FetchInterceptor::serve_by_uid(const MailboxKey& mailbox, std::uint32_t uid) {
  if (auto message = service_.rewritten(mailbox.message(uid))) {
    served_uid_[uid] = std::move(message);
  }
}

bool FetchInterceptor::wants_whole(std::string_view first_line) const {
  if (served_.empty() && served_uid_.empty() && announced_uid_.empty() && pipelined_.empty()) {
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
  if (served_uid_.empty() && announced_uid_.empty()) {
    return false;
  }
  // Matched by UID: an answer that names another message first streams on (it may be far
  // larger than what can be held); the others are collected, and those about other messages
  // come out of substitute() unchanged.
  const auto uid = leading_uid(first_line);
  return !uid || served_uid_.contains(*uid) || announced_uid_.contains(*uid);
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
  if (served_.empty() && served_uid_.empty() && announced_uid_.empty()) {
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
    announced_uid_.clear();
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
    } else if (auto a = uid ? announced_uid_.find(*uid) : announced_uid_.end();
               a != announced_uid_.end()) {
      return answer_announced(std::move(response), a->second);
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

void FetchInterceptor::leave_mailbox() {
  mailbox_.reset();
  watch_tag_.clear();
  read_ahead_to_ = 0;
  ahead_whole_.clear();
  forget_sequence();
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
