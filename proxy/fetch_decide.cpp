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
#include <unordered_map>

namespace icalgate::proxy {

namespace {

using protocol::uid_list;

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

} // namespace

asio::awaitable<bool> FetchInterceptor::decide(InterceptIo& io, bool by_uid, std::string set,
                                               std::vector<Row>& rows, const MailboxKey& mailbox,
                                               bool first_sync,
                                               const std::vector<std::uint32_t>* named) {
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
  std::vector<Probing> probing;
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
  if (named != nullptr) {
    // Mail read ahead waits for a client to name it before it is fetched whole or probed
    // further: a Graph failure now must not fix what no client has seen (DESIGN.md §2).
    const auto unnamed = [named](const Row* r) {
      return !std::binary_search(named->begin(), named->end(), r->uid);
    };
    std::erase_if(whole, unnamed);
    std::erase_if(structure, unnamed);
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
      probing.push_back(Probing{r->uid, r->size, std::move(*plan.probe)});
    }
  }
  std::vector<std::uint32_t> fetch_whole;
  if (!co_await classify_prefixes(io, std::move(probing), fetch_whole, plain)) {
    co_return false;
  }
  const auto row_of = rows_by_uid(rows, false);
  for (std::uint32_t uid : fetch_whole) {
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

asio::awaitable<bool> FetchInterceptor::classify_prefixes(InterceptIo& io,
                                                          std::vector<Probing> probing,
                                                          std::vector<std::uint32_t>& whole,
                                                          std::vector<std::uint32_t>& plain) {
  // A message the first probe leaves undecided (an HTML <head> past it, or a plain link line
  // longer than it) is fetched whole with the invitations when it is small: one round trip
  // fewer, and fewer bytes than the larger probes would re-fetch. The whole message decides.
  const std::uint64_t whole_below =
      std::min(calendar::kMaxProbeOctets, service_.max_message_size());
  for (int round = 0; !probing.empty(); ++round) {
    if (round == max_prefix_rounds) {
      for (const Probing& p : probing) {
        plain.push_back(p.uid);
      }
      break;
    }
    // One command per distinct section and length, all sent at once.
    std::map<std::pair<std::string, std::uint64_t>, std::vector<std::uint32_t>> groups;
    for (const Probing& p : probing) {
      groups[{p.probe.section_text, p.probe.octets}].push_back(p.uid);
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
    std::vector<Probing> again;
    const auto answered = rows_by_uid(answers.rows, true);
    for (Probing& p : probing) {
      auto it = answered.find(p.uid);
      if (it == answered.end()) {
        plain.push_back(p.uid);
        continue;
      }
      const std::string& start = *it->second->body;
      const auto verdict = calendar::classify_prefix(p.probe, start, start.size() < p.probe.octets);
      if (verdict.verdict == calendar::Verdict::yes) {
        whole.push_back(p.uid);
      } else if (verdict.verdict == calendar::Verdict::need_more &&
                 verdict.next_octets > p.probe.octets) {
        if (p.size <= whole_below) {
          whole.push_back(p.uid);
        } else {
          p.probe.octets = verdict.next_octets;
          again.push_back(std::move(p));
        }
      } else {
        plain.push_back(p.uid);
      }
    }
    probing = std::move(again);
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

asio::awaitable<std::shared_ptr<const MeetingListing>>
FetchInterceptor::listing_after(std::chrono::steady_clock::time_point seen) {
  auto fresh = co_await service_.listing(upn_, seen, true);
  if (!fresh || fresh->asked < seen) {
    fresh.reset();
  }
  co_return fresh;
}

} // namespace icalgate::proxy
