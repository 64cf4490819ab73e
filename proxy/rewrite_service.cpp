#include "proxy/rewrite_service.hpp"

#include "calendar/announced_rewrite.hpp"
#include "calendar/meeting_rewrite.hpp"
#include "calendar/owa_link.hpp"
#include "proxy/logging.hpp"
#include "proxy/redact.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <ctime>

namespace icalgate::proxy {

namespace asio = boost::asio;
using protocol::Errc;
using protocol::make_error;

namespace {

std::string_view errc_name(Errc code) {
  switch (code) {
  case Errc::incomplete:
    return "incomplete";
  case Errc::syntax:
    return "syntax";
  case Errc::line_too_long:
    return "line_too_long";
  case Errc::literal_too_large:
    return "too_large";
  case Errc::too_many:
    return "too_many";
  case Errc::unsupported:
    return "unsupported";
  case Errc::not_found:
    return "not_found";
  }
  return "error";
}

std::optional<std::string> message_id_of(const protocol::mime::Message& msg) {
  for (const auto& f : msg.root().headers) {
    if (protocol::mime::iequals(protocol::mime::header_name(msg.raw(), f), "Message-ID")) {
      std::string value = protocol::mime::header_full_value(msg.raw(), f);
      std::erase_if(value, [](char c) { return c == '\n' || c == '\r' || c == ' ' || c == '\t'; });
      if (!value.empty()) {
        return value;
      }
    }
  }
  return std::nullopt;
}

std::string cache_key(const MessageKey& key) {
  return key.user + '\n' + key.mailbox + '\n' + std::to_string(key.uidvalidity) + '\n' +
         std::to_string(key.uid);
}

std::string utc_timestamp(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

void log_decision(const MessageKey& key, std::string_view outcome, std::string_view reason) {
  log_event(LogLevel::info, "rewrite",
            {field("user", sanitize_for_log(key.user, 256)),
             field("mailbox", sanitize_for_log(key.mailbox, 256)),
             field("uidvalidity", std::uint64_t{key.uidvalidity}),
             field("uid", std::uint64_t{key.uid}), field("outcome", std::string(outcome)),
             field("reason", std::string(reason))});
}

} // namespace

std::optional<std::chrono::system_clock::time_point> parse_internaldate(std::string_view text) {
  // "DD-Mon-YYYY HH:MM:SS +ZZZZ", DD possibly space-padded.
  while (!text.empty() && text.front() == ' ') {
    text.remove_prefix(1);
  }
  static constexpr std::array<std::string_view, 12> months = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  unsigned day = 0;
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i < 2) {
    day = day * 10 + static_cast<unsigned>(text[i] - '0');
    ++i;
  }
  text.remove_prefix(i);
  if (i == 0 || text.size() != 24 || text[0] != '-' || text[4] != '-' || text[9] != ' ' ||
      text[12] != ':' || text[15] != ':' || text[18] != ' ' ||
      (text[19] != '+' && text[19] != '-')) {
    return std::nullopt;
  }
  unsigned month = 0;
  for (unsigned m = 0; m < months.size(); ++m) {
    if (protocol::imap_iequals(text.substr(1, 3), months[m])) {
      month = m + 1;
    }
  }
  auto number = [&](std::size_t at, std::size_t n) -> int {
    int v = 0;
    for (std::size_t k = at; k < at + n; ++k) {
      if (text[k] < '0' || text[k] > '9') {
        return -1;
      }
      v = v * 10 + (text[k] - '0');
    }
    return v;
  };
  const int year = number(5, 4);
  const int hh = number(10, 2);
  const int mm = number(13, 2);
  const int ss = number(16, 2);
  const int zh = number(20, 2);
  const int zm = number(22, 2);
  if (month == 0 || year < 0 || hh < 0 || mm < 0 || ss < 0 || zh < 0 || zm < 0) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{month},
                                        std::chrono::day{day}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  const auto offset = std::chrono::minutes((zh * 60 + zm) * (text[19] == '-' ? -1 : 1));
  return std::chrono::sys_days{ymd} + std::chrono::hours(hh) + std::chrono::minutes(mm) +
         std::chrono::seconds(ss) - offset;
}

protocol::Result<std::unique_ptr<RewriteService>>
RewriteService::create(const asio::any_io_executor& ex, const Config& config) {
  if (!config.rewrite.enabled || !config.graph) {
    return std::unique_ptr<RewriteService>();
  }
  auto graph = calendar::GraphClient::create(ex, config.graph->client);
  if (!graph) {
    return make_error(Errc::unsupported, "[graph]: " + graph.error().message);
  }
  auto store = RewriteStore::open(config.rewrite.state);
  if (!store) {
    return make_error(store.error().code, "[rewrite] state: " + store.error().message);
  }
  return std::unique_ptr<RewriteService>(
      new RewriteService(config, std::move(graph).value(), std::move(store).value()));
}

RewriteService::RewriteService(const Config& config, std::unique_ptr<calendar::GraphClient> graph,
                               std::unique_ptr<RewriteStore> store)
    : config_(config.rewrite), graph_section_(*config.graph), graph_(std::move(graph)),
      store_(std::move(store)) {}

std::optional<std::string> RewriteService::account_for(std::string_view login) const {
  std::string upn = graph_section_.upn_for_login(login);
  if (upn.empty() || !config_.applies_to(upn)) {
    return std::nullopt;
  }
  return upn;
}

std::map<std::uint32_t, MessageState> RewriteService::known(const MailboxKey& mailbox,
                                                            std::span<const std::uint32_t> uids) {
  auto states = store_->states(mailbox.user, mailbox.mailbox, mailbox.uidvalidity, uids);
  if (!states) {
    log_event(LogLevel::warn, "rewrite_store_error",
              {field("error", sanitize_for_log(states.error().message))});
    return {};
  }
  return std::move(states).value();
}

void RewriteService::record_plain(const MailboxKey& mailbox, std::span<const std::uint32_t> uids) {
  if (uids.empty()) {
    return;
  }
  counters_.plain += uids.size();
  if (auto done = store_->put_plain(mailbox.user, mailbox.mailbox, mailbox.uidvalidity, uids);
      !done) {
    log_event(LogLevel::warn, "rewrite_store_error",
              {field("error", sanitize_for_log(done.error().message))});
  }
}

namespace {

void log_store_error(const protocol::Error& error) {
  log_event(LogLevel::warn, "rewrite_store_error",
            {field("error", sanitize_for_log(error.message))});
}

} // namespace

std::uint32_t RewriteService::decided_through(const MailboxKey& mailbox) {
  auto through = store_->decided_through(mailbox.user, mailbox.mailbox, mailbox.uidvalidity);
  if (!through) {
    log_store_error(through.error());
    return 0;
  }
  return *through;
}

void RewriteService::raise_decided_through(const MailboxKey& mailbox, std::uint32_t uid) {
  if (auto done =
          store_->raise_decided_through(mailbox.user, mailbox.mailbox, mailbox.uidvalidity, uid);
      !done) {
    log_store_error(done.error());
  }
}

std::map<std::uint32_t, MessageState> RewriteService::decided_between(const MailboxKey& mailbox,
                                                                      std::uint32_t first,
                                                                      std::uint32_t last) {
  auto found =
      store_->states_between(mailbox.user, mailbox.mailbox, mailbox.uidvalidity, first, last);
  if (!found) {
    log_store_error(found.error());
    return {};
  }
  return std::move(found).value();
}

std::vector<std::uint32_t> RewriteService::rewritten_between(const MailboxKey& mailbox,
                                                             std::uint32_t first,
                                                             std::uint32_t last) {
  auto uids =
      store_->rewritten_between(mailbox.user, mailbox.mailbox, mailbox.uidvalidity, first, last);
  if (!uids) {
    log_store_error(uids.error());
    return {};
  }
  return std::move(uids).value();
}

void RewriteService::selected(const MailboxKey& mailbox) {
  const std::string key =
      mailbox.user + '\n' + mailbox.mailbox + '\n' + std::to_string(mailbox.uidvalidity);
  if (!selected_.insert(key).second) {
    return;
  }
  if (auto done =
          store_->forget_other_uidvalidity(mailbox.user, mailbox.mailbox, mailbox.uidvalidity);
      !done) {
    log_store_error(done.error());
  }
}

std::size_t
RewriteService::carry_decisions(const MailboxKey& from, const MailboxKey& to,
                                std::span<const std::pair<std::uint32_t, std::uint32_t>> uids) {
  auto copied = store_->copy_decisions(from.user, from.mailbox, from.uidvalidity, to.mailbox,
                                       to.uidvalidity, uids);
  if (!copied) {
    log_store_error(copied.error());
    return 0; // the copies are decided like any new mail
  }
  counters_.carried += *copied;
  if (*copied == uids.size() && !uids.empty()) {
    // Copies that land right after the destination's decided range (a folder that receives
    // mail by COPY or MOVE: Deleted Items, archives) extend it, as no other message can hold
    // a UID among theirs: its syncs need classify nothing again.
    std::vector<std::uint32_t> landed;
    for (const auto& [source, copy] : uids) {
      landed.push_back(copy);
    }
    std::sort(landed.begin(), landed.end());
    const bool contiguous =
        std::adjacent_find(landed.begin(), landed.end(), [](std::uint32_t a, std::uint32_t b) {
          return b != a + 1;
        }) == landed.end();
    if (contiguous && landed.front() == decided_through(to) + 1) {
      raise_decided_through(to, landed.back());
    }
  }
  return *copied;
}

void RewriteService::note_first_body(const std::string& upn, bool html) {
  // Bounded: a user's recent mail counts (halved as it grows).
  constexpr std::uint64_t max_count = 10000;
  FirstBodies& seen = user_first_bodies(upn).counted;
  ++(html ? seen.html : seen.plain);
  if (seen.html + seen.plain > max_count) {
    seen.html /= 2;
    seen.plain /= 2;
  }
}

FirstBodies RewriteService::first_bodies(const std::string& upn) {
  return user_first_bodies(upn).counted;
}

void RewriteService::keep_first_bodies(const std::string& upn) {
  const auto it = first_bodies_.find(upn);
  if (it == first_bodies_.end() || it->second.counted == it->second.kept) {
    return;
  }
  if (auto done = store_->keep_first_bodies(upn, it->second.counted); !done) {
    log_store_error(done.error());
    return;
  }
  it->second.kept = it->second.counted;
}

RewriteService::UserFirstBodies& RewriteService::user_first_bodies(const std::string& upn) {
  // So many users at most in memory; the store keeps them all.
  constexpr std::size_t max_users = 100000;
  if (auto it = first_bodies_.find(upn); it != first_bodies_.end()) {
    return it->second;
  }
  if (first_bodies_.size() >= max_users) {
    first_bodies_.clear();
  }
  UserFirstBodies kinds;
  if (auto stored = store_->first_bodies(upn)) {
    kinds.counted = kinds.kept = *stored;
  } else {
    log_store_error(stored.error());
  }
  return first_bodies_.emplace(upn, kinds).first->second;
}

MessageState RewriteService::record_original(const MessageKey& key, std::string_view reason) {
  ++counters_.originals;
  ++counters_.original_reasons[std::string(reason)];
  log_decision(key, "original", reason);
  auto stored =
      store_->put_if_absent(key, StoredMessage{MessageState::original, std::string(reason), {}});
  if (!stored) {
    log_store_error(stored.error());
    return MessageState::original;
  }
  if (stored->state == MessageState::rewritten) {
    // Another session decided first; serve what it stored.
    if (rewritten(key)) {
      return MessageState::rewritten;
    }
  }
  return stored->state;
}

void RewriteService::remember(const MessageKey& key,
                              std::shared_ptr<const protocol::mime::Message> message) {
  const std::string k = cache_key(key);
  if (auto it = cache_index_.find(k); it != cache_index_.end()) {
    cached_bytes_ -= it->second->second->raw().size();
    lru_.erase(it->second);
    cache_index_.erase(it);
  }
  cached_bytes_ += message->raw().size();
  lru_.emplace_front(k, std::move(message));
  cache_index_[k] = lru_.begin();
  while (cached_bytes_ > max_cached_bytes && lru_.size() > 1) {
    cached_bytes_ -= lru_.back().second->raw().size();
    cache_index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

std::shared_ptr<const protocol::mime::Message> RewriteService::rewritten(const MessageKey& key) {
  if (auto it = cache_index_.find(cache_key(key)); it != cache_index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  auto stored = store_->get(key);
  if (!stored || !*stored || (*stored)->state != MessageState::rewritten) {
    if (!stored) {
      log_event(LogLevel::warn, "rewrite_store_error",
                {field("error", sanitize_for_log(stored.error().message))});
    }
    return nullptr;
  }
  auto parsed = protocol::mime::parse_message(std::move((*stored)->bytes));
  if (!parsed) {
    return nullptr;
  }
  auto message = std::make_shared<const protocol::mime::Message>(std::move(parsed).value());
  remember(key, message);
  return message;
}

MessageState RewriteService::store_rewritten(const MessageKey& key, std::string bytes) {
  // Only bytes the MIME model can serve are stored: the store's word is final.
  auto parsed = protocol::mime::parse_message(bytes);
  if (!parsed) {
    return record_original(key, "rewrite unparsable");
  }
  auto stored =
      store_->put_if_absent(key, StoredMessage{MessageState::rewritten, {}, std::move(bytes)});
  if (!stored) {
    // Without a stored copy a restarted gateway could not serve the same bytes.
    log_store_error(stored.error());
    ++counters_.originals;
    ++counters_.original_reasons["store unavailable"];
    return MessageState::original;
  }
  if (stored->state != MessageState::rewritten) {
    return stored->state;
  }
  if (stored->bytes != parsed->raw()) {
    // Another session decided first: serve its bytes.
    parsed = protocol::mime::parse_message(std::move(stored->bytes));
    if (!parsed) {
      // Bytes this gateway cannot serve: the store was altered.
      log_event(LogLevel::error, "rewrite_store_unservable",
                {field("user", sanitize_for_log(key.user, 256)), field("uid", key.uid)});
      return MessageState::original;
    }
  }
  ++counters_.rewritten;
  log_decision(key, "rewritten", "");
  remember(key, std::make_shared<const protocol::mime::Message>(std::move(parsed).value()));
  return MessageState::rewritten;
}

asio::awaitable<MessageState> RewriteService::decide(MessageKey key, std::string original) {
  // Whatever throws below (an allocation, a library's exception), the message is recorded as
  // the original it is about to be shown as, so that it stays the original.
  std::string what;
  try {
    co_return co_await decide_unguarded(key, std::move(original));
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown";
  }
  log_event(LogLevel::error, "rewrite_exception", {field("error", sanitize_for_log(what, 200))});
  co_return record_original(key, "exception");
}

asio::awaitable<MessageState> RewriteService::decide_unguarded(MessageKey key,
                                                               std::string original) {
  if (original.size() > config_.max_message_size) {
    co_return record_original(key, "over max_message_size");
  }
  std::optional<std::string> message_id;
  {
    auto parsed = protocol::mime::parse_message(original);
    if (!parsed) {
      co_return record_original(key, "unparsable");
    }
    if (!calendar::classify(*parsed).link) {
      if (announced_for(key)) {
        // Clients were shown a rewritten size: they see the original's instead.
        co_return record_original(key, "announced, not an OWA-link message");
      }
      const std::uint32_t uid = key.uid;
      record_plain(MailboxKey{key.user, key.mailbox, key.uidvalidity}, {&uid, 1});
      co_return MessageState::plain;
    }
    message_id = message_id_of(*parsed);
  }
  if (!message_id) {
    co_return record_original(key, "no Message-ID");
  }
  if (config_.dry_run) {
    co_return record_original(key, "dry run");
  }
  if (auto announced = announced_for(key)) {
    co_return decide_announced(key, original, *announced);
  }
  auto json = co_await event_for(key.user, *message_id);
  if (!json) {
    co_return record_original(key,
                              "graph " + std::string(calendar::graph_errc_name(json.error().code)));
  }
  auto rewritten_bytes = calendar::rewrite_meeting_message(
      original, *json,
      calendar::RewriteOptions{static_cast<std::size_t>(config_.max_message_size), std::nullopt});
  if (!rewritten_bytes) {
    const bool no_event = rewritten_bytes.error().message.starts_with("event:");
    co_return record_original(
        key, no_event ? "no event in Graph"
                      : "rewrite " + std::string(errc_name(rewritten_bytes.error().code)));
  }
  co_return store_rewritten(key, std::move(rewritten_bytes).value());
}

std::optional<Announced> RewriteService::announced_for(const MessageKey& key) {
  const std::uint32_t uid = key.uid;
  auto found = store_->announcements(key.user, key.mailbox, key.uidvalidity, uid, uid, true);
  if (!found) {
    log_store_error(found.error());
    return std::nullopt;
  }
  const auto it = found->find(uid);
  return it == found->end() ? std::nullopt : std::optional<Announced>(std::move(it->second));
}

MessageState RewriteService::decide_announced(const MessageKey& key, const std::string& original,
                                              const Announced& announced) {
  calendar::RewriteOptions options{static_cast<std::size_t>(config_.max_message_size),
                                   calendar::Announcement{announced.size, announced.boundary}};
  auto bytes = calendar::rewrite_meeting_message(original, announced.event, options);
  if (!bytes) {
    // Clients were shown the announced size: the original they get now differs from it.
    log_event(
        LogLevel::warn, "rewrite_announcement_unmet",
        {field("uid", key.uid), field("error", sanitize_for_log(bytes.error().message, 200))});
    return record_original(key, "announced, rewrite " + std::string(errc_name(bytes.error().code)));
  }
  return store_rewritten(key, std::move(bytes).value());
}

asio::awaitable<calendar::GraphResult<std::string>>
RewriteService::event_for(const std::string& upn, const std::string& message_id) {
  if (auto listed = take_listed_event(upn, message_id)) {
    co_return std::move(*listed);
  }
  co_return co_await graph_->fetch_event_message_json(upn, message_id);
}

asio::awaitable<std::optional<Announced>> RewriteService::announce(MessageKey key,
                                                                   std::uint64_t size,
                                                                   const protocol::SExpr& structure,
                                                                   std::string message_id) {
  if (config_.dry_run || size > config_.max_message_size) {
    co_return std::nullopt;
  }
  auto json = co_await event_for(key.user, message_id);
  if (!json) {
    record_original(key, "graph " + std::string(calendar::graph_errc_name(json.error().code)));
    co_return std::nullopt;
  }
  auto announcement = calendar::announce_rewrite(
      structure, size, *json, message_id,
      calendar::RewriteOptions{static_cast<std::size_t>(config_.max_message_size), std::nullopt});
  if (!announcement) {
    if (announcement.error().code == protocol::Errc::not_found) {
      const std::uint32_t uid = key.uid;
      record_plain(MailboxKey{key.user, key.mailbox, key.uidvalidity}, {&uid, 1});
    } else if (announcement.error().message.starts_with("event:")) {
      record_original(key, "no event in Graph");
    }
    co_return std::nullopt;
  }
  auto stored = store_->announce(
      key, Announced{announcement->size, announcement->boundary, std::move(json).value()});
  if (!stored) {
    log_store_error(stored.error());
    co_return std::nullopt;
  }
  if (*stored) {
    ++counters_.announced;
    log_decision(key, "announced", "");
    (*stored)->event.clear();
  }
  co_return std::move(*stored);
}

std::map<std::uint32_t, Announced>
RewriteService::announcements(const MailboxKey& mailbox, std::uint32_t first, std::uint32_t last) {
  auto found =
      store_->announcements(mailbox.user, mailbox.mailbox, mailbox.uidvalidity, first, last, false);
  if (!found) {
    log_store_error(found.error());
    return {};
  }
  return std::move(found).value();
}

std::shared_ptr<const MeetingListing>
RewriteService::current_listing(const std::string& upn) const {
  const auto it = listings_.find(upn);
  return it == listings_.end() ? nullptr : it->second.listing;
}

asio::awaitable<std::shared_ptr<const MeetingListing>>
RewriteService::listing(const std::string& upn, std::chrono::steady_clock::time_point asked_after,
                        bool with_events) {
  UserListing& entry = listings_[upn];
  const auto now = std::chrono::steady_clock::now();
  // A caller that names the time its listing must be asked after needs nothing fresher: mail
  // that arrives later is decided by a listing asked after it is seen.
  const bool fresh = asked_after != std::chrono::steady_clock::time_point{} ||
                     now - entry.fetched < graph_section_.listing_interval;
  if (entry.listing && fresh && entry.listing->asked >= asked_after) {
    co_return entry.listing;
  }
  if (entry.refreshing) {
    if (entry.refresh_asked < asked_after) {
      co_return entry.listing;
    }
    // Another session's refresh, asked late enough, will do (sessions that start together,
    // one per folder, share it instead of classifying their folders from IMAP). The wait is
    // bounded in case that refresh never ends.
    auto woken = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
    woken->expires_after(graph_section_.client.overall_timeout +
                         graph_section_.client.request_timeout);
    entry.waiting.push_back(woken);
    co_await woken->async_wait(asio::as_tuple(asio::use_awaitable));
    co_return listings_[upn].listing;
  }
  if (entry.failed && now - *entry.failed < std::min<std::chrono::steady_clock::duration>(
                                                graph_section_.listing_interval, listing_retry)) {
    co_return entry.listing;
  }
  entry.refreshing = true;
  entry.refresh_asked = now;
  // Mail delivered while the listing runs may be missing from it.
  const auto started = std::chrono::system_clock::now() - std::chrono::minutes(1);
  std::string since;
  if (entry.listing) {
    since = utc_timestamp(entry.listing->complete_until - std::chrono::minutes(10));
  }
  auto listed = co_await graph_->list_meeting_messages(upn, since, with_events);
  UserListing& after = listings_[upn]; // the map may have grown meanwhile
  after.refreshing = false;
  // The waiting sessions resume once this one has stored the outcome and returned.
  for (auto& waiter : after.waiting) {
    waiter->cancel();
  }
  after.waiting.clear();
  if (!listed || listed->truncated) {
    after.failed = std::chrono::steady_clock::now();
    ++counters_.listing_failures;
    log_event(LogLevel::warn, "graph_listing_failed",
              {field("user", sanitize_for_log(upn, 256)),
               field("error", listed ? std::string("too many pages")
                                     : sanitize_for_log(listed.error().message))});
    co_return after.listing; // possibly stale; null when there never was one
  }
  ++counters_.listings;
  after.failed.reset();
  auto next = std::make_shared<MeetingListing>();
  if (after.listing && !since.empty()) {
    next->message_ids = after.listing->message_ids;
  }
  for (const auto& ref : listed->messages) {
    next->message_ids.insert(ref.internet_message_id);
    if (!ref.lookup_json.empty()) {
      keep_listed_event(upn, ref);
    }
  }
  next->complete_until = started;
  next->asked = now;
  after.listing = std::move(next);
  after.fetched = now;
  co_return after.listing;
}

} // namespace icalgate::proxy

namespace icalgate::proxy {

namespace {

std::string listed_key(std::string_view upn, std::string_view message_id) {
  std::string key(upn);
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  key += '\n';
  if (!message_id.starts_with('<')) {
    key += '<';
  }
  key += message_id;
  if (!message_id.ends_with('>')) {
    key += '>';
  }
  return key;
}

} // namespace

void RewriteService::keep_listed_event(const std::string& upn,
                                       const calendar::MeetingMessageRef& ref) {
  if (ref.lookup_json.size() > max_listed_bytes / 16) {
    return; // an odd giant: the lookup fetches it when it is needed
  }
  std::string key = listed_key(upn, ref.internet_message_id);
  if (auto it = listed_index_.find(key); it != listed_index_.end()) {
    listed_bytes_ -= it->second->json.size();
    listed_events_.erase(it->second);
    listed_index_.erase(it);
  }
  const auto now = std::chrono::steady_clock::now();
  while (!listed_events_.empty() && (listed_bytes_ + ref.lookup_json.size() > max_listed_bytes ||
                                     now - listed_events_.front().listed > max_listed_age)) {
    listed_bytes_ -= listed_events_.front().json.size();
    listed_index_.erase(listed_events_.front().key);
    listed_events_.pop_front();
  }
  listed_bytes_ += ref.lookup_json.size();
  listed_events_.push_back(ListedEvent{key, ref.lookup_json, now});
  listed_index_[std::move(key)] = std::prev(listed_events_.end());
}

std::optional<std::string> RewriteService::take_listed_event(const std::string& upn,
                                                             std::string_view message_id) {
  auto it = listed_index_.find(listed_key(upn, message_id));
  if (it == listed_index_.end()) {
    return std::nullopt;
  }
  const bool fresh = std::chrono::steady_clock::now() - it->second->listed <= max_listed_age;
  std::string json = std::move(it->second->json);
  listed_bytes_ -= json.size();
  listed_events_.erase(it->second);
  listed_index_.erase(it);
  if (!fresh) {
    return std::nullopt;
  }
  ++counters_.listed_events;
  return json;
}

} // namespace icalgate::proxy
