// FetchInterceptor, deciding messages before a client is shown them: the probe that tells
// them apart (their Message-IDs for Graph's listing, else BODYSTRUCTURE), the starts of first
// text bodies, and the candidates fetched whole, rewritten and stored (DESIGN.md §2).

#include "proxy/fetch_interceptor.hpp"

#include "calendar/owa_link.hpp"
#include "protocol/fetch_answer.hpp"
#include "protocol/uid_set.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <type_traits>
#include <unordered_map>

namespace icalgate::proxy {

namespace {

using protocol::uid_list;

// Prefix probes per command before an undecidable message counts as not an invitation.
constexpr int max_prefix_rounds = 4;

// Undecided messages a command may name for its classification to ask for round trips rather
// than bytes (section_one_octets()).
constexpr std::size_t few_undecided = 64;
// First text bodies of a user's mail seen before their kinds choose (section_one_octets()).
constexpr std::uint64_t first_bodies_to_learn = 50;
// Messages the start of BODY[1] asked along leaves undecided are fetched whole up to this
// size rather than probed: whole, a message at most twice the probe costs at most twice its
// bytes (on Exchange, which renders the whole message for either, hardly more work), and its
// bytes decide it in the next round trip, where an invitation the probe found would take one
// more to fetch whole (DESIGN.md §2: at most one extra round trip per client FETCH).
constexpr std::uint64_t whole_over_probe = 2 * calendar::kProbeOctets;
// What one classification round may hold at once, in messages of the size cap: whole
// messages and prefixes past that wait for the next round (classify_prefixes()).
constexpr std::uint64_t whole_messages_per_round = 4;

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

// The UID of a message in one of decide()'s lists.
template <class Message>
std::uint32_t uid_of(const Message& m) {
  if constexpr (std::is_integral_v<Message>) {
    return m;
  } else if constexpr (requires { m.first; }) {
    return m.first;
  } else {
    return m.uid;
  }
}

} // namespace

asio::awaitable<bool> FetchInterceptor::decide(InterceptIo& io, bool by_uid, std::string set,
                                               std::vector<Seen>& seen, const MailboxKey& mailbox,
                                               bool first_sync,
                                               const std::vector<std::uint32_t>* named,
                                               std::uint64_t section_one,
                                               Candidates* from_answers) {
  const std::string fetch = by_uid ? "UID FETCH " : "FETCH ";
  std::shared_ptr<const MeetingListing> listing;
  if (service_.uses_listing()) {
    // A first sync that does not name Message-ID (mbsync's) decides as many invitations as
    // Thunderbird's: their events come with the listing rather than one lookup each.
    listing = co_await service_.listing(upn_, {}, first_sync);
  }
  // Each answer is sorted as it comes, and only what the next steps need of it is kept.
  std::vector<std::uint32_t> plain;
  Candidates whole; // fetched whole, then decided
  struct Unlisted { // undecided by the listing: BODYSTRUCTURE needed
    std::uint32_t uid = 0;
    std::uint64_t size = 0;
    std::optional<std::string> message_id;
  };
  std::vector<Unlisted> structure;
  std::vector<Probing> probing;
  {
    const RowSink sort = [&](Row& r) {
      if (!listing) {
        sort_answer(r, section_one, plain, whole, probing);
        return;
      }
      const auto arrived = r.internaldate ? parse_internaldate(*r.internaldate) : std::nullopt;
      auto id = r.body ? std::optional(protocol::message_id_in_header(*r.body)) : std::nullopt;
      if (id && listing->message_ids.contains(*id)) {
        whole.emplace_back(r.uid, r.size);
      } else if (!arrived || *arrived >= listing->complete_until) {
        structure.push_back({r.uid, r.size, std::move(id)});
      } else {
        plain.push_back(r.uid);
      }
    };
    const std::vector<std::string> commands{
        fetch + set +
        (listing ? " (UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
                 : " (UID RFC822.SIZE BODYSTRUCTURE " + section_one_item(section_one) + ")")};
    auto probe = co_await exchange(io, commands, &sort);
    if (probe.upstream_failed) {
      co_return false;
    }
    seen = std::move(probe.seen);
  }
  const auto probed_at = std::chrono::steady_clock::now();
  {
    std::vector<std::uint32_t> uids;
    for (const Seen& r : seen) {
      uids.push_back(r.uid);
    }
    const auto known = service_.known(mailbox, uids);
    const auto is_known = [&known](const auto& m) { return known.contains(uid_of(m)); };
    std::erase_if(plain, is_known);
    std::erase_if(whole, is_known);
    std::erase_if(structure, is_known);
    std::erase_if(probing, is_known);
  }
  // Mail read ahead waits for a client to name it before it is fetched whole or probed
  // further: a Graph failure now must not fix what no client has seen (DESIGN.md §2). What
  // the answers at hand show to be no meeting message is decided all the same.
  const auto unnamed = [named](const auto& m) {
    return named != nullptr && !std::binary_search(named->begin(), named->end(), uid_of(m));
  };
  if (listing) {
    std::erase_if(structure, unnamed); // its BODYSTRUCTURE would be asked for
  }
  if (listing && !structure.empty()) {
    if (auto fresh = co_await listing_after(probed_at)) {
      for (const Unlisted& u : structure) {
        if (u.message_id && fresh->message_ids.contains(*u.message_id)) {
          whole.emplace_back(u.uid, u.size);
        } else {
          plain.push_back(u.uid);
        }
      }
      structure.clear();
    }
  }
  if (listing && !structure.empty()) {
    std::vector<std::uint32_t> missing;
    for (const Unlisted& u : structure) {
      missing.push_back(u.uid);
    }
    std::sort(missing.begin(), missing.end());
    std::vector<bool> described(missing.size()); // the first answer about each counts
    const RowSink sort = [&](Row& r) {
      const auto it = std::lower_bound(missing.begin(), missing.end(), r.uid);
      if (it != missing.end() && *it == r.uid && !described[it - missing.begin()]) {
        described[it - missing.begin()] = true;
        sort_answer(r, section_one, plain, whole, probing);
      }
    };
    const std::vector<std::string> commands{"UID FETCH " + uid_list(missing) +
                                            " (UID BODYSTRUCTURE " + section_one_item(section_one) +
                                            ")"};
    auto more = co_await exchange(io, commands, &sort);
    if (more.upstream_failed) {
      co_return false;
    }
    for (std::size_t i = 0; i < missing.size(); ++i) {
      if (!described[i]) {
        plain.push_back(missing[i]); // gone meanwhile
      }
    }
  }
  // Candidates read ahead are remembered, to be fetched whole once named; those the client
  // names go to `from_answers` when its command's answers carry them whole.
  std::erase_if(whole, [&](const auto& candidate) {
    const auto [uid, size] = candidate;
    const bool fits = size <= service_.max_message_size();
    if (unnamed(uid)) {
      if (fits && ahead_whole_.size() < max_ahead_whole) {
        ahead_whole_.emplace(uid, size);
      }
      return true;
    }
    if (from_answers != nullptr && fits) {
      from_answers->emplace_back(uid, size);
      return true;
    }
    return false;
  });
  std::erase_if(probing, unnamed);
  service_.keep_first_bodies(upn_);
  const bool ok =
      co_await classify_prefixes(io, mailbox, std::move(probing), std::move(whole), plain);
  std::sort(plain.begin(), plain.end());
  service_.record_plain(mailbox, plain);
  co_return ok;
}

void FetchInterceptor::sort_answer(const Row& r, std::uint64_t asked,
                                   std::vector<std::uint32_t>& plain, Candidates& whole,
                                   std::vector<Probing>& probing) {
  if (!r.bodystructure) {
    plain.push_back(r.uid);
    return;
  }
  std::optional<Probing> p;
  switch (sort_structure(r.uid, r.size, *r.bodystructure, r.body ? &*r.body : nullptr, asked, p)) {
  case Sorted::plain:
    plain.push_back(r.uid);
    break;
  case Sorted::whole:
    whole.emplace_back(r.uid, r.size);
    break;
  case Sorted::probe:
    probing.push_back(std::move(*p));
    break;
  }
}

bool FetchInterceptor::all_ahead_whole(const std::vector<std::uint32_t>& uids) const {
  std::uint64_t bytes = 0;
  for (std::uint32_t uid : uids) {
    const auto it = ahead_whole_.find(uid);
    if (it == ahead_whole_.end()) {
      return false;
    }
    bytes += it->second;
  }
  return !uids.empty() && bytes <= service_.max_message_size() * whole_messages_per_round;
}

asio::awaitable<bool> FetchInterceptor::fetch_whole_ahead(InterceptIo& io, const std::string& set,
                                                          std::vector<Seen>& seen,
                                                          const MailboxKey& mailbox) {
  const std::vector<std::string> commands{"UID FETCH " + set + " (UID RFC822.SIZE BODY.PEEK[])"};
  auto fetched = co_await exchange(io, commands);
  if (fetched.upstream_failed) {
    co_return false;
  }
  std::vector<std::uint32_t> uids;
  for (const Row& r : fetched.rows) {
    uids.push_back(r.uid);
    seen.push_back({r.seq, r.uid});
  }
  const auto known = service_.known(mailbox, uids);
  Candidates candidates;
  std::map<std::uint32_t, std::string> bodies;
  for (Row& r : fetched.rows) {
    ahead_whole_.erase(r.uid);
    if (r.body && !known.contains(r.uid)) {
      candidates.emplace_back(r.uid, r.size);
      bodies.emplace(r.uid, std::move(*r.body));
    }
  }
  fetched.rows.clear();
  co_return co_await decide_whole(mailbox, candidates, std::move(bodies));
}

asio::awaitable<bool> FetchInterceptor::classify_prefixes(InterceptIo& io,
                                                          const MailboxKey& mailbox,
                                                          std::vector<Probing> probing,
                                                          Candidates whole,
                                                          std::vector<std::uint32_t>& plain) {
  const std::uint64_t max_size = service_.max_message_size();
  const std::uint64_t round_bytes = max_size * whole_messages_per_round;
  std::size_t asked_whole = 0; // whole[0, asked_whole) went into a round already
  while (true) {
    // This round's share, its answers held at once: whole messages and probes of up to
    // round_bytes (and at least one), the rest in the rounds after.
    Candidates now; // fetched whole, or over the size cap, and decided in this round
    std::vector<std::uint32_t> fetch;
    std::uint64_t bytes = 0;
    for (; asked_whole < whole.size(); ++asked_whole) {
      const auto [uid, size] = whole[asked_whole];
      if (size <= max_size) {
        if (!fetch.empty() && bytes + size > round_bytes) {
          break;
        }
        fetch.push_back(uid);
        bytes += size;
      }
      now.push_back(whole[asked_whole]);
    }
    std::vector<Probing> sent;
    std::vector<Probing> later;
    for (Probing& p : probing) {
      if (p.rounds >= max_prefix_rounds) {
        plain.push_back(p.uid); // undecidable by its start: not treated as an invitation
        continue;
      }
      const std::uint64_t cost = std::min(p.probe.octets, p.size);
      if ((!fetch.empty() || !sent.empty()) && bytes + cost > round_bytes) {
        later.push_back(std::move(p));
        continue;
      }
      bytes += cost;
      ++p.rounds;
      sent.push_back(std::move(p));
    }
    probing = std::move(later);
    if (sent.empty() && fetch.empty()) {
      co_return now.empty() || co_await decide_whole(mailbox, now, {});
    }
    // One command per distinct section and length, and the candidates of the round, all sent
    // at once: their UIDs differ, and every answer names its UID. (Never pipelined with the
    // client's command: a server may run two FETCH commands at once, and answers about the
    // same message could not be told apart.)
    std::map<std::pair<std::string, std::uint64_t>, std::vector<std::uint32_t>> groups;
    for (const Probing& p : sent) {
      groups[{p.probe.section_text, p.probe.octets}].push_back(p.uid);
    }
    std::vector<std::string> commands;
    for (auto& [key, group] : groups) {
      commands.push_back("UID FETCH " + uid_list(group) + " (UID BODY.PEEK[" + key.first + "]<0." +
                         std::to_string(key.second) + ">)");
    }
    if (!fetch.empty()) {
      std::sort(fetch.begin(), fetch.end());
      commands.push_back("UID FETCH " + uid_list(fetch) + " (UID BODY.PEEK[])");
    }
    auto answers = co_await exchange(io, commands);
    if (answers.upstream_failed) {
      co_return false;
    }
    const auto answered = rows_by_uid(answers.rows, true);
    std::map<std::uint32_t, std::string> bodies;
    for (std::uint32_t uid : fetch) {
      if (auto it = answered.find(uid); it != answered.end()) {
        bodies.emplace(uid, std::move(*it->second->body));
      }
    }
    for (Probing& p : sent) {
      auto it = answered.find(p.uid);
      if (it == answered.end()) {
        plain.push_back(p.uid);
        continue;
      }
      const std::string& start = *it->second->body;
      const auto verdict = calendar::classify_prefix(p.probe, start, start.size() < p.probe.octets);
      if (verdict.verdict == calendar::Verdict::yes) {
        whole.emplace_back(p.uid, p.size);
      } else if (verdict.verdict == calendar::Verdict::need_more &&
                 verdict.next_octets > p.probe.octets) {
        if (after_need_more(p, verdict.next_octets) == Sorted::whole) {
          whole.emplace_back(p.uid, p.size);
        } else {
          probing.push_back(std::move(p));
        }
      } else {
        plain.push_back(p.uid);
      }
    }
    answers.rows.clear(); // the probes' answers: only `bodies` is needed from here
    if (!now.empty() && !co_await decide_whole(mailbox, now, std::move(bodies))) {
      co_return false;
    }
  }
}

std::string FetchInterceptor::section_one_item(std::uint64_t octets) {
  return "BODY.PEEK[1]<0." + std::to_string(octets) + ">";
}

std::uint64_t FetchInterceptor::section_one_octets(const protocol::SequenceSet& set,
                                                   const Window& window) const {
  const std::uint32_t newest = uidnext_ && *uidnext_ > 0 ? *uidnext_ - 1 : 0;
  const bool few = protocol::explicit_numbers(set, few_undecided).has_value() ||
                   newest <= window.through || newest - window.through <= few_undecided;
  const auto kinds = service_.first_bodies(upn_);
  const std::uint64_t seen = kinds.html + kinds.plain;
  const bool mostly_html = seen >= first_bodies_to_learn && kinds.html * 5 >= seen * 4;
  return few || mostly_html ? calendar::kProbeOctets : calendar::kAlongOctets;
}

void FetchInterceptor::note_first_body(calendar::TextKind kind) {
  service_.note_first_body(upn_, kind == calendar::TextKind::html);
}

FetchInterceptor::Sorted FetchInterceptor::after_need_more(Probing& p,
                                                           std::uint64_t next_octets) const {
  // An HTML <head> past the probe, or a plain link line longer than it: a small message costs
  // fewer bytes whole than the larger probes would re-fetch, and one round trip.
  if (p.size <= std::min(calendar::kMaxProbeOctets, service_.max_message_size())) {
    return Sorted::whole;
  }
  p.probe.octets = next_octets;
  return Sorted::probe;
}

FetchInterceptor::Sorted FetchInterceptor::sort_structure(std::uint32_t uid, std::uint64_t size,
                                                          const protocol::SExpr& structure,
                                                          const std::string* section_one,
                                                          std::uint64_t asked,
                                                          std::optional<Probing>& probing) {
  auto plan = calendar::plan_probe(structure);
  if (plan.verdict == calendar::Verdict::no || !plan.probe) {
    return Sorted::plain;
  }
  note_first_body(plan.probe->kind);
  Probing p{uid, size, std::move(*plan.probe)};
  const Sorted sorted = section_one ? sort_by_section_one(p, *section_one, asked) : Sorted::probe;
  if (sorted == Sorted::probe) {
    probing = std::move(p);
  }
  return sorted;
}

FetchInterceptor::Sorted FetchInterceptor::sort_by_section_one(Probing& p,
                                                               std::string_view section_one,
                                                               std::uint64_t asked) const {
  const auto v = calendar::classify_section_one(p.probe, section_one, section_one.size() < asked);
  switch (v.verdict) {
  case calendar::Verdict::yes:
    return Sorted::whole;
  case calendar::Verdict::no:
    return Sorted::plain;
  case calendar::Verdict::need_more:
    break;
  }
  if (v.next_octets != 0) {
    return after_need_more(p, v.next_octets);
  }
  // The planned probe is still to come.
  return p.size <= std::min(whole_over_probe, service_.max_message_size()) ? Sorted::whole
                                                                           : Sorted::probe;
}

asio::awaitable<bool> FetchInterceptor::decide_whole(const MailboxKey& mailbox,
                                                     const Candidates& candidates,
                                                     std::map<std::uint32_t, std::string> bodies) {
  std::vector<std::uint32_t> uids;
  for (const auto& [uid, size] : candidates) {
    if (size > service_.max_message_size()) {
      service_.record_original(mailbox.message(uid), "over max_message_size");
    } else {
      uids.push_back(uid);
    }
  }
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  // Graph lookups run side by side (the Graph client caps them per user and overall); the
  // state is shared so that a session that ends meanwhile leaves nothing dangling.
  struct Pending {
    explicit Pending(const asio::any_io_executor& ex) : done(ex) {}
    std::size_t left = 0;
    asio::steady_timer done;
  };
  const auto ex = co_await asio::this_coro::executor;
  auto pending = std::make_shared<Pending>(ex);
  pending->done.expires_at(asio::steady_timer::time_point::max());
  for (std::uint32_t uid : uids) {
    auto body = bodies.extract(uid);
    if (body.empty()) {
      service_.record_original(mailbox.message(uid), "upstream fetch failed");
      continue;
    }
    ++pending->left;
    asio::co_spawn(ex, service_.decide(mailbox.message(uid), std::move(body.mapped())),
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
  co_return true;
}

asio::awaitable<std::shared_ptr<const MeetingListing>>
FetchInterceptor::listing_after(std::chrono::steady_clock::time_point seen) {
  auto fresh = co_await service_.listing(upn_, seen, true);
  if (!fresh || fresh->asked < seen) {
    fresh.reset();
  }
  co_return fresh;
}

} // namespace icalgate::proxy
