#include "proxy/credential_cache.hpp"

#include <sodium.h>

#include <utility>

namespace icalgate::proxy {

namespace {

bool equal(const std::array<unsigned char, 32>& a, const std::array<unsigned char, 32>& b) {
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace

CredentialCache::CredentialCache(Limits limits) : limits_(limits) {
  if (limits_.max_entries == 0) {
    limits_.max_entries = 1;
  }
  // Without libsodium the key stays zero: tags are then plain BLAKE2b hashes, still never
  // leaving the process. sodium_init() fails only on a broken system.
  if (sodium_init() >= 0) {
    randombytes_buf(hash_key_.data(), hash_key_.size());
  }
}

CredentialCache::~CredentialCache() {
  sodium_memzero(hash_key_.data(), hash_key_.size());
}

CredentialCache::Tag CredentialCache::tag_of(std::string_view password) const {
  Tag tag{};
  crypto_generichash(tag.data(), tag.size(),
                     reinterpret_cast<const unsigned char*>(password.data()), password.size(),
                     hash_key_.data(), hash_key_.size());
  return tag;
}

protocol::Result<std::optional<Verified>> CredentialCache::verify(AuthStore& store,
                                                                  std::string_view upn,
                                                                  std::string_view password,
                                                                  Clock::time_point now) {
  const std::string u = normalize_upn(upn);
  Tag tag = tag_of(password);
  std::optional<CredentialKey> hit;
  bool running = false; // this call marked (u, tag) as running
  {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (auto it = entries_.find(u); it != entries_.end()) {
        if (now - it->second.verified_at >= limits_.max_age) {
          entries_.erase(it);
        } else if (equal(it->second.tag, tag)) {
          hit = it->second.key.clone();
          break;
        }
      }
      const auto r = running_.find(u);
      if (r == running_.end()) {
        running_.emplace(u, tag);
        running = true;
        break;
      }
      if (!equal(r->second, tag)) {
        break; // another password for the user: not worth waiting for
      }
      settled_.wait(lock);
    }
  }

  if (hit) {
    auto again = store.verify(*hit);
    if (!again || *again) {
      return again;
    }
    // Revoked or re-issued since: the entry is stale; let the password decide afresh.
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(u); it != entries_.end() && equal(it->second.tag, tag)) {
      entries_.erase(it);
    }
  }

  // Waiters must wake however this ends, exceptions included.
  struct Settle {
    CredentialCache& cache;
    const std::string& upn;
    bool armed;
    ~Settle() {
      if (armed) {
        std::lock_guard lock(cache.mutex_);
        cache.running_.erase(upn);
        cache.settled_.notify_all();
      }
    }
  } settle{*this, u, running};
  auto verified = store.verify(upn, password);
  std::lock_guard lock(mutex_);
  if (verified && *verified) {
    entries_.insert_or_assign(u, Entry{tag, (*verified)->key.clone(), now});
    if (entries_.size() > limits_.max_entries) {
      evict_oldest();
    }
  }
  sodium_memzero(tag.data(), tag.size());
  return verified;
}

void CredentialCache::evict_oldest() {
  auto oldest = entries_.begin();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->second.verified_at < oldest->second.verified_at) {
      oldest = it;
    }
  }
  if (oldest != entries_.end()) {
    entries_.erase(oldest);
  }
}

void CredentialCache::forget(std::string_view upn) {
  std::lock_guard lock(mutex_);
  entries_.erase(normalize_upn(upn));
}

std::size_t CredentialCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

} // namespace icalgate::proxy
