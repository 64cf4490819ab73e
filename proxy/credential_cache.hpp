#pragma once
// Recently verified app passwords, so that a client's several connections (Thunderbird opens
// a few at start-up and reconnects through the day) pay Argon2id once per user and max_age,
// not once per login.
//
// An entry is a UPN, a keyed BLAKE2b hash of the password as typed (the key is random per
// process, so the hashes are useless outside it and cheap to compare in constant time) and
// the CredentialKey that verify() returned. A hit re-reads the user through
// AuthStore::verify(const CredentialKey&): a revoked or re-issued user fails at once, and the
// refresh token is the one stored now. Wrong passwords are never cached and always pay
// Argon2id (the gateway's per-address penalty bounds that).
//
// Logins of one user that arrive together wait for the first one's Argon2id instead of
// running their own. Bounded: max_entries users; the oldest verification goes first. Pure of
// clocks (the caller passes the time); thread-safe.

#include "proxy/auth_store.hpp"

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace icalgate::proxy {

class CredentialCache {
 public:
  using Clock = std::chrono::steady_clock;

  struct Limits {
    std::size_t max_entries = 1024;
    std::chrono::seconds max_age{15 * 60};
  };

  CredentialCache() : CredentialCache(Limits{}) {}
  explicit CredentialCache(Limits limits);
  ~CredentialCache();
  CredentialCache(const CredentialCache&) = delete;
  CredentialCache& operator=(const CredentialCache&) = delete;

  // AuthStore::verify(upn, password) through the cache. Blocks (Argon2id, or waiting for
  // another thread's): call it on a worker thread.
  protocol::Result<std::optional<Verified>>
  verify(AuthStore& store, std::string_view upn, std::string_view password, Clock::time_point now);

  // Drops the user's entry (after revoke(): not needed for correctness, frees the key early).
  void forget(std::string_view upn);
  std::size_t size() const;

 private:
  using Tag = std::array<unsigned char, 32>;
  struct Entry {
    Tag tag;
    CredentialKey key;
    Clock::time_point verified_at;
  };

  Tag tag_of(std::string_view password) const;
  void evict_oldest(); // the caller holds mutex_

  Limits limits_;
  std::array<unsigned char, 32> hash_key_{};
  mutable std::mutex mutex_;
  std::condition_variable settled_;
  std::unordered_map<std::string, Entry> entries_; // by lower-cased UPN
  // The tag whose Argon2id is running, per UPN: logins with the same tag wait for it.
  std::unordered_map<std::string, Tag> running_;
};

} // namespace icalgate::proxy
