#include "proxy/enrol_registry.hpp"

#include <algorithm>
#include <tuple>

namespace icalgate::proxy {

bool EnrolRegistry::is_running(const Entry& e, Time now) {
  return e.stage == EnrolStage::requesting ||
         (e.stage == EnrolStage::waiting && now < e.code_expires_at);
}

std::size_t EnrolRegistry::running(Time now) const {
  return static_cast<std::size_t>(
      std::count_if(entries_.begin(), entries_.end(),
                    [now](const auto& kv) { return is_running(kv.second, now); }));
}

void EnrolRegistry::expire(Time now) {
  std::erase_if(entries_, [now](const auto& kv) { return now >= kv.second.ends_at; });
}

EnrolRegistry::Entry* EnrolRegistry::find(std::string_view id) {
  const auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

EnrolRegistry::Refusal EnrolRegistry::start(std::string id, std::string_view upn, Time now) {
  expire(now);
  if (entries_.contains(id)) {
    return Refusal::duplicate_id;
  }
  std::string key = normalize_upn(upn);
  std::size_t active = 0;
  for (const auto& [other_id, e] : entries_) {
    if (is_running(e, now)) {
      if (e.upn_key == key) {
        return Refusal::running_for_user;
      }
      ++active;
    }
  }
  if (active >= limits_.max_running) {
    return Refusal::busy;
  }
  if (entries_.size() >= limits_.max_kept) {
    // Drop a finished enrolment: a failed or shown one first, an unclaimed password last.
    auto victim = entries_.end();
    const auto rank = [](const Entry& e) {
      return std::tuple(e.stage == EnrolStage::issued ? 1 : 0, e.ends_at);
    };
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (!is_running(it->second, now) &&
          (victim == entries_.end() || rank(it->second) < rank(victim->second))) {
        victim = it;
      }
    }
    if (victim == entries_.end()) {
      return Refusal::busy;
    }
    entries_.erase(victim);
  }
  Entry e;
  e.upn = std::string(upn);
  e.upn_key = std::move(key);
  e.ends_at = now + limits_.code_request_timeout;
  e.code_expires_at = e.ends_at;
  entries_.emplace(std::move(id), std::move(e));
  return Refusal::none;
}

bool EnrolRegistry::code_issued(std::string_view id, std::string user_code,
                                std::string verification_uri, std::string message,
                                Time code_expires_at, Time now) {
  expire(now);
  Entry* e = find(id);
  if (e == nullptr || e->stage != EnrolStage::requesting) {
    return false;
  }
  e->stage = EnrolStage::waiting;
  e->user_code = std::move(user_code);
  e->verification_uri = std::move(verification_uri);
  e->message = std::move(message);
  e->code_expires_at = std::min(code_expires_at, now + limits_.max_code_life);
  // Past its code the enrolment stays a while, so that its page can say it expired.
  e->ends_at = e->code_expires_at + limits_.min_keep;
  return true;
}

bool EnrolRegistry::waiting(std::string_view id, Time now) const {
  const auto it = entries_.find(id);
  return it != entries_.end() && it->second.stage == EnrolStage::waiting &&
         now < it->second.ends_at;
}

void EnrolRegistry::finish(Entry& e, Time now) {
  e.user_code.clear();
  e.ends_at = std::max(e.code_expires_at, now + limits_.min_keep);
}

void EnrolRegistry::issued(std::string_view id, Secret password, Time now) {
  Entry* e = find(id);
  if (e == nullptr || e->stage != EnrolStage::waiting) {
    return;
  }
  e->stage = EnrolStage::issued;
  e->password = std::move(password);
  finish(*e, now);
}

void EnrolRegistry::failed(std::string_view id, EnrolFailure why, std::string signed_in_as,
                           Time now) {
  Entry* e = find(id);
  if (e == nullptr || (e->stage != EnrolStage::requesting && e->stage != EnrolStage::waiting)) {
    return;
  }
  e->stage = EnrolStage::failed;
  e->failure = why;
  e->signed_in_as = std::move(signed_in_as);
  finish(*e, now);
}

std::optional<EnrolView> EnrolRegistry::view(std::string_view id, Time now, bool consume) {
  expire(now);
  Entry* e = find(id);
  if (e == nullptr) {
    return std::nullopt;
  }
  EnrolView v;
  v.stage = e->stage;
  v.upn = e->upn;
  v.failure = e->failure;
  v.signed_in_as = e->signed_in_as;
  if (e->stage == EnrolStage::waiting) {
    if (now >= e->code_expires_at) {
      // The flow reports it too, a poll later; the page need not wait for that.
      v.stage = EnrolStage::failed;
      v.failure = EnrolFailure::expired;
    } else {
      v.user_code = e->user_code;
      v.verification_uri = e->verification_uri;
      v.message = e->message;
      v.expires_in = std::chrono::ceil<std::chrono::seconds>(e->code_expires_at - now);
    }
  }
  if (e->stage == EnrolStage::issued && consume) {
    v.password = std::move(e->password);
    e->password = Secret();
    e->stage = EnrolStage::shown;
  }
  return v;
}

} // namespace icalgate::proxy
