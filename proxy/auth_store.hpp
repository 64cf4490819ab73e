#pragma once
// The login store of the "delegated" and "app" modes: per user (UPN), an app password issued
// by the gateway and, for delegated users, the user's Microsoft refresh token.
//
// Nothing in the store opens without the app password. The password itself is never stored:
// one Argon2id run over it (and a salt that is new with every password) yields a master key,
// from which two independent subkeys are derived (BLAKE2b, libsodium's crypto_kdf): the first
// is stored as the verifier, the second encrypts the refresh token (XChaCha20-Poly1305, a new
// random nonce per write, the UPN as associated data). A stolen database therefore costs an
// Argon2id run per guess of a ~124-bit random password before it shows anything. One run
// serves both purposes: a login pays Argon2id once, not once to check and once to decrypt.
//
// Argon2id is slow by design (KdfCost: ~60 ms and 64 MiB here): call verify(upn, password)
// and issue() on a worker thread, and put CredentialCache (proxy/credential_cache.hpp) in
// front of verify() so that a client's several connections pay it once. Everything else is
// a small SQLite read or write. Thread-safe: Argon2id runs outside the store's lock, so
// several workers verify at once (each run holds its 64 MiB while it lasts).
//
// Callers see only this interface; open() picks the backend. Today that is SQLite (one file,
// WAL, mode 0600, shareable by several processes on one host); a PostgreSQL backend for
// several hosts fits behind the same calls. The store reads no clock: callers pass the time.
// Failures are values; error texts name the store's path, never a password or token.

#include "protocol/result.hpp"
#include "proxy/config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace icalgate::proxy {

// Users are stored in AuthMode::delegated or AuthMode::app (proxy/config.hpp); passthrough
// users hold their own tokens and have nothing here.

// UPNs are compared ASCII case-insensitively: the store keeps them lower-cased.
std::string normalize_upn(std::string_view upn);

// Bytes that must not outlive their use: zeroed when destroyed. Move-only, so that the bytes
// exist once (a move hands the buffer over without copying it).
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string_view bytes);
  ~Secret();
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  std::string_view view() const { return {bytes_.get(), size_}; }
  bool empty() const { return size_ == 0; }

 private:
  void wipe() noexcept;
  std::unique_ptr<char[]> bytes_;
  std::size_t size_ = 0;
};

// What a successful verify() proves, as a handle: the key material behind one user's current
// app password, without the password. With it the store re-reads the user without Argon2id
// (verify(const CredentialKey&)) and stores a rotated refresh token (store_refresh_token()).
// Opaque, move-only, zeroed when destroyed; clone() is the only copy (for the cache).
class CredentialKey {
 public:
  ~CredentialKey();
  CredentialKey(CredentialKey&& other) noexcept;
  CredentialKey& operator=(CredentialKey&& other) noexcept;
  CredentialKey(const CredentialKey&) = delete;
  CredentialKey& operator=(const CredentialKey&) = delete;

  const std::string& upn() const { return upn_; } // lower-cased
  CredentialKey clone() const;

 private:
  friend class AuthStore;
  struct Material;
  CredentialKey(std::string upn, std::unique_ptr<Material> material);
  std::string upn_;
  std::unique_ptr<Material> material_; // null once moved from
};

// The user behind a correct app password.
struct Verified {
  std::string upn; // lower-cased
  AuthMode mode = AuthMode::app;
  Secret refresh_token; // delegated: the stored token; app: empty
  // Set by mark_needs_reenrol(): the refresh token no longer works (revoked, password
  // change, conditional access). The login must fail with a message saying to re-enrol.
  bool needs_reenrol = false;
  std::string reenrol_reason;
  CredentialKey key;
};

// One user as list() shows it: no secrets.
struct AuthUser {
  std::string upn;
  AuthMode mode = AuthMode::app;
  bool has_refresh_token = false;
  bool needs_reenrol = false;
  std::string reenrol_reason;
  std::chrono::sys_seconds created{}; // the first issue() for this UPN
  std::chrono::sys_seconds updated{}; // the last change of any kind

  friend bool operator==(const AuthUser&, const AuthUser&) = default;
};

// Argon2id parameters for new app passwords. Each row keeps the parameters it was issued
// with, so raising them later leaves existing passwords working.
struct KdfCost {
  std::uint64_t ops = 0;
  std::size_t mem_bytes = 0;

  // libsodium's INTERACTIVE level (2 passes, 64 MiB): ~60 ms on one core of the machines the
  // gateway was measured on. The password is random (~124 bits), so the cost protects a
  // stolen database against nothing a guess could find anyway; it is defence in depth and
  // must stay cheap enough for logins.
  static KdfCost interactive();
  // libsodium's minimum (1 pass, 8 KiB): for tests that are not about the cost.
  static KdfCost minimum();
};

class AuthStore {
 public:
  using Done = std::monostate;
  using Time = std::chrono::sys_seconds;

  // Refresh tokens larger than this are refused (Microsoft's are a few KB).
  static constexpr std::size_t max_refresh_token_bytes = 64 * 1024;
  static constexpr std::size_t max_upn_bytes = 320;

  // Opens `path`, creating the file (mode 0600), its parent directories and the schema as
  // needed; ":memory:" gives a private in-memory store. File stores use WAL and wait up to 5
  // seconds for another process's write. `cost` applies to passwords issued from now on.
  // Errors name the path.
  static protocol::Result<std::unique_ptr<AuthStore>> open(const std::string& path,
                                                           KdfCost cost = KdfCost::interactive());

  virtual ~AuthStore() = default;
  AuthStore() = default;
  AuthStore(const AuthStore&) = delete;
  AuthStore& operator=(const AuthStore&) = delete;

  // Issues a new app password for `upn` and returns it: the only time it exists in clear.
  // Replaces everything stored for the user (previous password, mode, refresh token, the
  // re-enrol flag) except the creation time. Delegated users need a refresh token; app users
  // must have none; passthrough is refused. Runs Argon2id.
  virtual protocol::Result<Secret> issue(std::string_view upn, AuthMode mode,
                                         std::optional<std::string_view> refresh_token,
                                         Time now) = 0;

  // The user if `password` is their current app password, nullopt if not (or if there is no
  // such user: the caller cannot tell which). Dashes, spaces and case in `password` don't
  // matter; text that cannot be an app password is refused without running Argon2id. A
  // stored token that fails to decrypt under the right password is an error, never a token.
  virtual protocol::Result<std::optional<Verified>> verify(std::string_view upn,
                                                           std::string_view password) = 0;

  // verify() again from the key a previous verify() returned, without Argon2id: nullopt if
  // the user has since been revoked or issued a new password.
  virtual protocol::Result<std::optional<Verified>> verify(const CredentialKey& key) = 0;

  // Stores a (rotated or newly enrolled) refresh token for the delegated user `key` belongs
  // to and clears the re-enrol flag; false if the user has since been revoked or issued a new
  // password (the token is then dropped: it would be sealed under a dead key). Why a key and
  // not the password: a refresh happens after the login that verified the password, and
  // asking for the password again would mean keeping it around and paying Argon2id twice.
  virtual protocol::Result<bool> store_refresh_token(const CredentialKey& key,
                                                     std::string_view refresh_token, Time now) = 0;

  // Flags the user's credentials as needing a new enrolment, with a short reason for the
  // audit (e.g. "invalid_grant: AADSTS50173"; never a token). False if there is no such user.
  virtual protocol::Result<bool> mark_needs_reenrol(std::string_view upn, std::string_view reason,
                                                    Time now) = 0;

  // Removes everything stored for the user; false if there was nothing.
  virtual protocol::Result<bool> revoke(std::string_view upn) = 0;

  // Every user, ordered by UPN.
  virtual protocol::Result<std::vector<AuthUser>> list() = 0;

  // How many Argon2id runs this store has made (a metric; tests use it to see the cache work).
  virtual std::uint64_t kdf_runs() const = 0;

 protected:
  // The backend's access to CredentialKey, which is opaque to everyone else.
  static constexpr std::size_t master_key_bytes = 32;
  static CredentialKey make_key(std::string upn, const unsigned char* master);
  static const unsigned char* key_master(const CredentialKey& key); // null once moved from
};

// A new app password: 25 characters from a 31-letter alphabet without look-alikes (no 0, 1,
// i, l, o), in five groups of five ("k7dmw-…"), ~124 bits from libsodium's generator.
Secret generate_app_password();

} // namespace icalgate::proxy
