// FetchInterceptor, a FETCH answered as it comes: only the answers about undecided meeting
// messages wait, for their messages to be decided. A header-sized one (a sync); or one whose
// answers carry whole the meeting messages it names (a client opening or downloading them),
// which are decided from those bytes.

#include "proxy/fetch_interceptor.hpp"

#include "calendar/announced_rewrite.hpp"
#include "calendar/owa_link.hpp"
#include "protocol/fetch_substitute.hpp"
#include "protocol/line_head.hpp"
#include "protocol/uid_set.hpp"
#include "proxy/logging.hpp"
#include "proxy/redact.hpp"

#include <algorithm>
#include <limits>
#include <set>

namespace icalgate::proxy {

namespace {

using protocol::FetchAttr;
using protocol::head_of;
using protocol::LineHead;
using protocol::uid_list;

} // namespace

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
  // Messages above the decided range that are decided already (another session's, or read
  // ahead), and, by sequence number (the set may name any message), the rewritten ones below.
  auto decided_above = service_.decided_between(mailbox, window.through + 1,
                                                std::numeric_limits<std::uint32_t>::max());
  if (command.by_number && window.through != 0) {
    for (std::uint32_t uid : service_.rewritten_between(mailbox, 1, window.through)) {
      decided_above.emplace(uid, MessageState::rewritten);
    }
  }
  // Meeting messages whose rewrite a header sync announced (calendar/announced_rewrite.hpp):
  // answered from the announcement, if the command asks only what that holds; else fetched
  // whole and decided like the other candidates.
  const bool answerable = protocol::answered_by_announcement(answering_items_);
  const bool announcing = listing != nullptr && service_.announces() && answerable;
  // (Below the decided range too: a UID set may name it.)
  auto announced = service_.announcements(mailbox, 1, std::numeric_limits<std::uint32_t>::max());
  std::map<std::uint32_t, std::string> message_ids; // of candidates, to announce them
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
  Candidates candidates;
  struct Newer {
    std::uint32_t uid = 0;
    std::string message_id;
    std::uint64_t size = 0;
  };
  std::vector<Newer> newer;     // above what the listing covers
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
    const auto decided = uid != 0 ? decided_above.find(uid) : decided_above.end();
    if (decided != decided_above.end() && decided->second == MessageState::rewritten) {
      serve_by_uid(mailbox, uid);
    }
    if (uid != 0 && served_uid_.contains(uid)) {
      *message = substitute(std::move(*message), uid);
      head = head_of(*message); // it viewed the bytes replaced
    } else if (auto a = answerable ? announced.find(uid) : announced.end(); a != announced.end()) {
      *message = answer_announced(std::move(*message), a->second);
      head = head_of(*message);
    } else if (uid > window.through && decided == decided_above.end()) {
      const auto& data = std::get<protocol::FetchData>(parsed->body);
      std::uint64_t size = 0;
      const protocol::SExpr* structure = nullptr;
      const std::string* section_one = nullptr;
      for (const auto& att : data.atts) {
        if (att.attr == FetchAttr::rfc822_size) {
          size = att.number;
        } else if (att.attr == FetchAttr::bodystructure) {
          structure = &att.sexp;
        } else if (command.section_one_octets != 0 && is_section_one(att) && att.string) {
          section_one = &att.string->value;
        }
      }
      // An answer without the requested header (or structure) is an unsolicited flag update:
      // no content.
      if (!listing) {
        if (structure) {
          highest = std::max(highest, uid);
          std::optional<Probing> p;
          switch (
              sort_structure(uid, size, *structure, section_one, command.section_one_octets, p)) {
          case Sorted::plain:
            plain.push_back(uid);
            break;
          case Sorted::whole:
            candidates.emplace_back(uid, size);
            wait = true;
            break;
          case Sorted::probe:
            probing.push_back(std::move(*p));
            wait = true;
            break;
          }
        }
      } else if (const auto id = protocol::answer_message_id(data)) {
        highest = std::max(highest, uid);
        if (listing->message_ids.contains(*id) || announced.contains(uid)) {
          candidates.emplace_back(uid, size);
          message_ids.emplace(uid, *id);
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
          message_ids.emplace(n.uid, n.message_id);
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
  if (announcing && !candidates.empty()) {
    if (!co_await announce(io, mailbox, candidates, message_ids, announced)) {
      outcome.ok = false;
      co_return outcome;
    }
  }
  // The probes, and the candidates fetched whole with them.
  std::erase_if(probing, [&before](const Probing& p) { return before.contains(p.uid); });
  service_.keep_first_bodies(upn_);
  std::vector<std::uint32_t> other;
  const bool decided =
      co_await classify_prefixes(io, mailbox, std::move(probing), std::move(candidates), other);
  std::sort(other.begin(), other.end());
  service_.record_plain(mailbox, other);
  if (!decided) {
    outcome.ok = false;
    co_return outcome;
  }
  if (!probe.empty()) {
    std::vector<Seen> seen;
    if (!co_await decide(io, true, uid_list(std::move(probe)), seen, mailbox)) {
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
    // Announced, and still undecided (not fetched whole after all: gone meanwhile).
    const auto a = w.uid != 0 && answerable && !states.contains(w.uid) ? announced.find(w.uid)
                                                                       : announced.end();
    out += w.uid != 0 && served_uid_.contains(w.uid) ? substitute(std::move(w.bytes), w.uid)
           : a != announced.end() ? answer_announced(std::move(w.bytes), a->second)
                                  : w.bytes;
  }
  // Announced mail counts as decided for the range: its answers come from the announcement.
  if (std::all_of(undecided.begin(), undecided.end(), [&](std::uint32_t uid) {
        return states.contains(uid) || announced.contains(uid);
      })) {
    note_decided(mailbox, window, highest);
  }
  io.defer = nullptr;
  out += later;
  if (!out.empty() && !co_await io.to_client(std::move(out))) {
    outcome.ok = false;
  }
  co_return outcome;
}

asio::awaitable<InterceptOutcome>
FetchInterceptor::decide_from_answers(InterceptIo& io, const protocol::Command& command,
                                      const MailboxKey& mailbox,
                                      std::map<std::uint32_t, std::uint64_t> candidates) {
  InterceptOutcome outcome;
  ++stats_.streamed;
  if (auto [ec, n] = co_await io.upstream.write(command.raw); ec) {
    outcome.ok = false;
    co_return outcome;
  }
  if (log_enabled(LogLevel::trace)) {
    log_event(LogLevel::trace, "G",
              {field("session", session_id_), field("streamed", sanitize_for_log(command.tag))});
  }
  // Answers about candidates that did not carry them whole and, from the first of those on,
  // everything else too, in order: the client sees what the server said as it said it. Only
  // a partial fetch of a message longer than asked leaves one to wait.
  std::vector<std::pair<std::string, std::uint32_t>> waiting;
  std::size_t waiting_bytes = 0;
  Candidates missing; // to fetch whole once the command is answered
  std::string out;
  while (true) {
    auto message = co_await read_message(io, &out);
    if (!message || *message == dropped_response) {
      outcome.ok = false;
      co_return outcome;
    }
    const LineHead head = head_of(*message);
    if (head.tag == command.tag) {
      if (watch_tag_ == command.tag) {
        watch_tag_.clear();
      }
      outcome.completion = std::move(*message);
      break;
    }
    std::uint32_t uid = 0;
    bool wait = false;
    const bool fetch = head.tag == "*" && head.number && protocol::imap_iequals(head.name, "FETCH");
    // Only answers about candidates are parsed (where the UID leads, as servers write
    // it): the others may be whole messages, passed on as they are.
    if (fetch) {
      uid = protocol::leading_uid(*message).value_or(0);
    }
    std::optional<protocol::Response> parsed;
    if (fetch && (uid == 0 || candidates.contains(uid))) {
      if (auto r = protocol::parse_response(*message);
          r && r->kind == protocol::ResponseKind::fetch) {
        parsed = std::move(r).value();
        for (const auto& att : std::get<protocol::FetchData>(parsed->body).atts) {
          if (att.attr == FetchAttr::uid) {
            uid = static_cast<std::uint32_t>(att.number);
          }
        }
      }
    }
    if (const auto c = parsed ? candidates.find(uid) : candidates.end(); c != candidates.end()) {
      const auto& data = std::get<protocol::FetchData>(parsed->body);
      const auto whole = protocol::whole_message_in(data, answering_items_);
      const bool content = protocol::shows_content(data);
      if (whole) {
        // No upstream command; for an announced message, whose announcement holds the event,
        // no Graph request either.
        std::string original(*whole);
        parsed.reset();
        const auto state = co_await service_.decide(mailbox.message(uid), std::move(original));
        if (state == MessageState::rewritten) {
          serve_by_uid(mailbox, uid);
        }
        candidates.erase(c);
      } else if (content) {
        missing.emplace_back(uid, c->second);
        wait = true;
      }
    }
    if (!candidates.contains(uid) && !wait) {
      // What the relay notes of every response, such as mail shown as it is while the command
      // answers (watch_tag_).
      note_response(std::string_view(*message).substr(0, message->find('\n') + 1));
    } else {
      note_sequence(*message, uid);
    }
    if (uid != 0 && served_uid_.contains(uid)) {
      *message = substitute(std::move(*message), uid);
    }
    if (wait || !waiting.empty()) {
      waiting_bytes += message->size();
      if (waiting_bytes > max_response_) {
        log_event(LogLevel::warn, "rewrite_answers_too_large", {field("session", session_id_)});
        outcome.ok = false;
        co_return outcome;
      }
      waiting.emplace_back(std::move(*message), wait ? uid : 0);
    } else {
      out += *message;
    }
  }
  if (!missing.empty()) {
    std::string later; // what the server says meanwhile comes after the waiting answers
    io.defer = &later;
    std::vector<Probing> no_probes;
    std::vector<std::uint32_t> plain;
    const bool decided =
        co_await classify_prefixes(io, mailbox, std::move(no_probes), std::move(missing), plain);
    io.defer = nullptr;
    if (!decided) {
      outcome.ok = false;
      co_return outcome;
    }
    for (auto& [bytes, uid] : waiting) {
      if (uid != 0) {
        serve_by_uid(mailbox, uid);
      }
      out += uid != 0 && served_uid_.contains(uid) ? substitute(std::move(bytes), uid) : bytes;
    }
    out += later;
  }
  if (!out.empty() && !co_await io.to_client(std::move(out))) {
    outcome.ok = false;
  }
  co_return outcome;
}

asio::awaitable<bool>
FetchInterceptor::announce(InterceptIo& io, const MailboxKey& mailbox, Candidates& candidates,
                           const std::map<std::uint32_t, std::string>& message_ids,
                           std::map<std::uint32_t, Announced>& announced) {
  std::vector<std::uint32_t> unannounced;
  for (const auto& [uid, size] : candidates) {
    if (!announced.contains(uid)) {
      unannounced.push_back(uid);
    }
  }
  std::map<std::uint32_t, std::uint64_t> sizes(candidates.begin(), candidates.end());
  if (!unannounced.empty()) {
    std::sort(unannounced.begin(), unannounced.end());
    const std::vector<std::string> commands{"UID FETCH " + uid_list(unannounced) +
                                            " (UID BODYSTRUCTURE)"};
    auto described = co_await exchange(io, commands);
    if (described.upstream_failed) {
      co_return false;
    }
    for (Row& r : described.rows) {
      const auto id = message_ids.find(r.uid);
      if (!r.bodystructure || id == message_ids.end() || !sizes.contains(r.uid)) {
        continue; // gone meanwhile: fetched whole (or found gone) with the other candidates
      }
      if (auto a = co_await service_.announce(mailbox.message(r.uid), sizes.at(r.uid),
                                              *r.bodystructure, id->second)) {
        announced.emplace(r.uid, std::move(*a));
      }
    }
  }
  // What is neither announced nor decided by its announcement (plain by its structure, the
  // original without an event) is fetched whole.
  std::vector<std::uint32_t> uids;
  for (const auto& [uid, size] : candidates) {
    uids.push_back(uid);
  }
  const auto decided = service_.known(mailbox, uids);
  std::erase_if(candidates, [&](const auto& c) {
    return announced.contains(c.first) || decided.contains(c.first);
  });
  co_return true;
}

std::string FetchInterceptor::answer_announced(std::string response, const Announced& announced) {
  auto parsed = protocol::parse_response(response);
  auto rebuilt =
      parsed ? protocol::announce_fetch(*parsed, announced.size,
                                        [&announced](std::string_view header, bool content_type) {
                                          return calendar::announced_header(
                                              header, announced.boundary, content_type);
                                        })
             : protocol::Result<std::string>(parsed.error());
  if (rebuilt) {
    ++stats_.substituted;
    return std::move(rebuilt).value();
  }
  log_event(
      LogLevel::warn, "rewrite_substitution_failed",
      {field("session", session_id_), field("error", sanitize_for_log(rebuilt.error().message))});
  if (failed_answer_.empty()) {
    failed_answer_ = rebuilt.error().message;
  }
  return {};
}

} // namespace icalgate::proxy
