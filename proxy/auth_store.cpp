#include "proxy/auth_store.hpp"

#include "proxy/sqlite_statement.hpp"

#include <sodium.h>
#include <sqlite3.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <utility>

namespace icalgate::proxy {

using protocol::Errc;
using protocol::Error;
using protocol::make_error;
using protocol::Result;

namespace {

// protocol::Errc has no code for "the database failed"; callers treat store errors alike (the
// login fails, is logged and counted), so the code only separates rows that must not be used.
constexpr Errc storage_failure = Errc::unsupported;
constexpr Errc corrupt_row = Errc::syntax;

constexpr int schema_version = 1;

constexpr std::string_view password_alphabet = "23456789abcdefghjkmnpqrstuvwxyz";
constexpr std::size_t password_groups = 5;
constexpr std::size_t password_group_size = 5;
constexpr std::size_t password_chars = password_groups * password_group_size;

constexpr std::size_t master_bytes = 32;
constexpr std::size_t verifier_bytes = 32;
constexpr std::size_t salt_bytes = crypto_pwhash_SALTBYTES;
constexpr std::size_t nonce_bytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t tag_bytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
// crypto_kdf subkey ids under one 8-byte context: the stored verifier and the token key.
constexpr char kdf_context[crypto_kdf_CONTEXTBYTES + 1] = "icalauth";
constexpr std::uint64_t verifier_subkey = 1;
constexpr std::uint64_t token_subkey = 2;
// Rows carrying Argon2id limits outside these are corrupt: a gigabyte of memory per login
// from an edited row must not take the gateway down.
constexpr std::uint64_t max_row_ops = 16;
constexpr std::size_t max_row_mem = std::size_t{1} << 30;

static_assert(master_bytes == crypto_kdf_KEYBYTES);
static_assert(verifier_bytes >= crypto_kdf_BYTES_MIN && verifier_bytes <= crypto_kdf_BYTES_MAX);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == 32);

constexpr const char* schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS auth_user (
  upn            TEXT    NOT NULL PRIMARY KEY,  -- lower-cased
  mode           TEXT    NOT NULL CHECK (mode IN ('delegated', 'app')),
  kdf_ops        INTEGER NOT NULL,  -- the Argon2id limits this password was issued with
  kdf_mem        INTEGER NOT NULL,
  kdf_salt       BLOB    NOT NULL,  -- random, new with every app password
  verifier       BLOB    NOT NULL,  -- subkey 1 of Argon2id(app password, kdf_salt)
  refresh_token  BLOB,              -- delegated: nonce || XChaCha20-Poly1305 under subkey 2
  needs_reenrol  INTEGER NOT NULL DEFAULT 0,
  reenrol_reason TEXT    NOT NULL DEFAULT '',
  created        INTEGER NOT NULL,  -- Unix seconds, as the caller said
  updated        INTEGER NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

// The mode's text in the table, independent of the configuration's spelling.
std::string_view mode_column(AuthMode mode) {
  return mode == AuthMode::delegated ? "delegated" : "app";
}

std::optional<AuthMode> parse_mode_column(std::string_view text) {
  if (text == "delegated") {
    return AuthMode::delegated;
  }
  if (text == "app") {
    return AuthMode::app;
  }
  return std::nullopt;
}

bool sodium_ready() {
  // sodium_init() is safe to call from several threads and more than once.
  static const bool ready = sodium_init() >= 0;
  return ready;
}

// Zeroes a fixed-size buffer on every way out of a scope.
template <std::size_t N>
struct Wiped {
  std::array<unsigned char, N> bytes{};
  Wiped() = default;
  ~Wiped() { sodium_memzero(bytes.data(), bytes.size()); }
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;
  unsigned char* data() { return bytes.data(); }
  const unsigned char* data() const { return bytes.data(); }
};

// The app password as fed to Argon2id: dashes and spaces dropped, lower case, exactly
// password_chars characters of the alphabet; false for anything else.
bool canonical_password(std::string_view typed, Wiped<password_chars>& out) {
  std::size_t n = 0;
  for (char c : typed) {
    if (c == '-' || c == ' ') {
      continue;
    }
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (n == password_chars || password_alphabet.find(c) == std::string_view::npos) {
      return false;
    }
    out.bytes[n++] = static_cast<unsigned char>(c);
  }
  return n == password_chars;
}

std::string_view as_chars(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

const unsigned char* as_bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// A reason is shown in the audit and on the command line: printable ASCII, one short line.
std::string clean_reason(std::string_view reason) {
  std::string out;
  for (const char c : reason.substr(0, 200)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out;
}

using sqlite::column_blob;
using sqlite::column_text;
using sqlite::Database;
using sqlite::Statement;
using sqlite::Use;

// A user's row as read for verification: everything needed to check a password and open the
// token, copied out so that Argon2id runs without the store's lock.
struct Row {
  AuthMode mode = AuthMode::app;
  KdfCost cost;
  std::array<unsigned char, salt_bytes> salt{};
  std::array<unsigned char, verifier_bytes> verifier{};
  std::optional<std::string> sealed_token; // nonce || ciphertext
  bool needs_reenrol = false;
  std::string reenrol_reason;
};

// The two subkeys of one master key.
struct Subkeys {
  Wiped<verifier_bytes> verifier;
  Wiped<crypto_aead_xchacha20poly1305_ietf_KEYBYTES> token;
};

void derive_subkeys(const unsigned char* master, Subkeys& out) {
  crypto_kdf_derive_from_key(out.verifier.data(), verifier_bytes, verifier_subkey, kdf_context,
                             master);
  crypto_kdf_derive_from_key(out.token.data(), out.token.bytes.size(), token_subkey, kdf_context,
                             master);
}

// The token's associated data: a sealed token opens only in the row of the user it was
// sealed for.
std::string token_ad(std::string_view upn) {
  std::string ad = "icalgate refresh token v1:";
  ad += upn;
  return ad;
}

std::string seal_token(std::string_view token, std::string_view upn,
                       const unsigned char* token_key) {
  std::string sealed(nonce_bytes + token.size() + tag_bytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(sealed.data());
  randombytes_buf(out, nonce_bytes);
  const std::string ad = token_ad(upn);
  unsigned long long produced = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + nonce_bytes, &produced, as_bytes(token),
                                             token.size(), as_bytes(ad), ad.size(), nullptr, out,
                                             token_key);
  sealed.resize(nonce_bytes + static_cast<std::size_t>(produced));
  return sealed;
}

std::optional<Secret> open_token(std::string_view sealed, std::string_view upn,
                                 const unsigned char* token_key) {
  if (sealed.size() < nonce_bytes + tag_bytes ||
      sealed.size() > nonce_bytes + AuthStore::max_refresh_token_bytes + tag_bytes) {
    return std::nullopt;
  }
  const std::size_t size = sealed.size() - nonce_bytes - tag_bytes;
  std::unique_ptr<unsigned char[]> plain(new unsigned char[size + 1]);
  const std::string ad = token_ad(upn);
  unsigned long long produced = 0;
  const bool ok =
      crypto_aead_xchacha20poly1305_ietf_decrypt(
          plain.get(), &produced, nullptr, as_bytes(sealed) + nonce_bytes,
          sealed.size() - nonce_bytes, as_bytes(ad), ad.size(), as_bytes(sealed), token_key) == 0 &&
      produced == size;
  std::optional<Secret> token;
  if (ok) {
    token.emplace(as_chars(plain.get(), size));
  }
  sodium_memzero(plain.get(), size + 1);
  return token;
}

class SqliteAuthStore final : public AuthStore {
 public:
  static Result<std::unique_ptr<AuthStore>> open_file(const std::string& path, KdfCost cost);

  Result<Secret> issue(std::string_view upn, AuthMode mode,
                       std::optional<std::string_view> refresh_token, Time now) override;
  Result<std::optional<Verified>> verify(std::string_view upn, std::string_view password) override;
  Result<std::optional<Verified>> verify(const CredentialKey& key) override;
  Result<bool> store_refresh_token(const CredentialKey& key, std::string_view refresh_token,
                                   Time now) override;
  Result<bool> mark_needs_reenrol(std::string_view upn, std::string_view reason, Time now) override;
  Result<bool> revoke(std::string_view upn) override;
  Result<std::vector<AuthUser>> list() override;
  std::uint64_t kdf_runs() const override { return kdf_runs_.load(); }

 private:
  SqliteAuthStore(std::string path, KdfCost cost) : path_(std::move(path)), cost_(cost) {}

  sqlite::Origin origin() const { return {storage_failure, "auth store '" + path_ + "'"}; }
  Error failure(std::string_view what) const { return origin().failure(db_.get(), what); }
  // No UPN in the text: it goes to logs that need not say whose row it was.
  Error corrupt(std::string_view what) const {
    return make_error(corrupt_row, "auth store '" + path_ + "': a user's row " + std::string(what));
  }
  Error refused(std::string_view what) const {
    return make_error(Errc::syntax, "auth store '" + path_ + "': " + std::string(what));
  }
  Result<Done> create_schema();
  Result<Done> prepare_all();
  Result<std::optional<Row>> read_row(const std::string& upn);
  // Argon2id over a canonical password; false only when it cannot get its memory.
  bool derive_master(const unsigned char* password,
                     const std::array<unsigned char, salt_bytes>& salt, KdfCost cost,
                     unsigned char* master);
  // Checks `master` against `row` and opens the token: nullopt for the wrong password.
  Result<std::optional<Verified>> unlock(const std::string& upn, const Row& row,
                                         const unsigned char* master);

  std::string path_;
  KdfCost cost_;
  std::atomic<std::uint64_t> kdf_runs_{0};
  std::mutex mutex_;
  Database db_; // declared before the statements: destroyed after them
  Statement select_user_, upsert_user_, update_token_, update_reenrol_, delete_user_, select_all_;
};

Result<AuthStore::Done> SqliteAuthStore::create_schema() {
  auto found = sqlite::create_schema(db_.get(), schema_sql, schema_version, origin());
  if (!found) {
    return found.error();
  }
  if (*found > schema_version) {
    return origin().error("schema version " + std::to_string(*found) +
                          " is newer than this gateway's");
  }
  return Done{};
}

Result<AuthStore::Done> SqliteAuthStore::prepare_all() {
  const std::pair<Statement*, const char*> statements[] = {
      {&select_user_, "SELECT mode, kdf_ops, kdf_mem, kdf_salt, verifier, refresh_token, "
                      "needs_reenrol, reenrol_reason FROM auth_user WHERE upn = ?1"},
      // A new password replaces everything but the creation time.
      {&upsert_user_,
       "INSERT INTO auth_user (upn, mode, kdf_ops, kdf_mem, kdf_salt, verifier, refresh_token, "
       "needs_reenrol, reenrol_reason, created, updated) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, '', ?8, ?8) ON CONFLICT (upn) DO UPDATE SET "
       "mode = excluded.mode, kdf_ops = excluded.kdf_ops, kdf_mem = excluded.kdf_mem, "
       "kdf_salt = excluded.kdf_salt, verifier = excluded.verifier, "
       "refresh_token = excluded.refresh_token, needs_reenrol = 0, reenrol_reason = '', "
       "updated = excluded.updated"},
      // Only under the password the token was sealed for: the verifier names it.
      {&update_token_, "UPDATE auth_user SET refresh_token = ?3, needs_reenrol = 0, "
                       "reenrol_reason = '', updated = ?4 "
                       "WHERE upn = ?1 AND verifier = ?2 AND mode = 'delegated'"},
      {&update_reenrol_, "UPDATE auth_user SET needs_reenrol = 1, reenrol_reason = ?2, "
                         "updated = ?3 WHERE upn = ?1"},
      {&delete_user_, "DELETE FROM auth_user WHERE upn = ?1"},
      {&select_all_, "SELECT upn, mode, refresh_token IS NOT NULL, needs_reenrol, "
                     "reenrol_reason, created, updated FROM auth_user ORDER BY upn"},
  };
  for (const auto& [slot, sql] : statements) {
    *slot = sqlite::prepare_persistent(db_.get(), sql);
    if (!*slot) {
      return failure("preparing statements");
    }
  }
  return Done{};
}

Result<std::unique_ptr<AuthStore>> SqliteAuthStore::open_file(const std::string& path,
                                                              KdfCost cost) {
  const auto fail = [&](const std::string& what) {
    return make_error(storage_failure, "auth store '" + path + "': " + what);
  };
  if (path.empty()) {
    return fail("no path given");
  }
  if (!sodium_ready()) {
    return fail("libsodium cannot be initialised");
  }
  if (cost.ops < crypto_pwhash_OPSLIMIT_MIN || cost.ops > max_row_ops ||
      cost.mem_bytes < crypto_pwhash_MEMLIMIT_MIN || cost.mem_bytes > max_row_mem) {
    return fail("Argon2id limits out of range");
  }
  std::unique_ptr<SqliteAuthStore> store(new SqliteAuthStore(path, cost));
  auto db = sqlite::open_database(path, store->origin());
  if (!db) {
    return db.error();
  }
  store->db_ = std::move(*db);
  // Revoked users' rows are overwritten, not just unlinked: "removes everything stored".
  // Writes are rare (an issue, a token rotation an hour), so FULL sync costs nothing that
  // matters and a rotated refresh token — the old one may be dead — survives a power cut.
  if (sqlite3_exec(store->db_.get(), "PRAGMA secure_delete = ON; PRAGMA synchronous = FULL",
                   nullptr, nullptr, nullptr) != SQLITE_OK) {
    return store->failure("setting pragmas");
  }
  if (auto created = store->create_schema(); !created) {
    return created.error();
  }
  if (auto prepared = store->prepare_all(); !prepared) {
    return prepared.error();
  }
  return std::unique_ptr<AuthStore>(std::move(store));
}

Result<std::optional<Row>> SqliteAuthStore::read_row(const std::string& upn) {
  std::lock_guard lock(mutex_);
  Use q(select_user_);
  q.text(1, upn);
  const int rc = q.step();
  if (rc == SQLITE_DONE) {
    return std::optional<Row>();
  }
  if (rc != SQLITE_ROW) {
    return failure("reading a user");
  }
  sqlite3_stmt* s = q.get();
  Row row;
  const auto mode = parse_mode_column(column_text(s, 0));
  const std::int64_t ops = sqlite3_column_int64(s, 1);
  const std::int64_t mem = sqlite3_column_int64(s, 2);
  const std::string_view salt = column_blob(s, 3);
  const std::string_view verifier = column_blob(s, 4);
  if (!mode || ops < static_cast<std::int64_t>(crypto_pwhash_OPSLIMIT_MIN) ||
      ops > static_cast<std::int64_t>(max_row_ops) ||
      mem < static_cast<std::int64_t>(crypto_pwhash_MEMLIMIT_MIN) ||
      mem > static_cast<std::int64_t>(max_row_mem) || salt.size() != salt_bytes ||
      verifier.size() != verifier_bytes) {
    return corrupt("has a bad mode, Argon2id limit, salt or verifier");
  }
  row.mode = *mode;
  row.cost = KdfCost{static_cast<std::uint64_t>(ops), static_cast<std::size_t>(mem)};
  std::memcpy(row.salt.data(), salt.data(), salt_bytes);
  std::memcpy(row.verifier.data(), verifier.data(), verifier_bytes);
  if (sqlite3_column_type(s, 5) != SQLITE_NULL) {
    row.sealed_token.emplace(column_blob(s, 5));
  }
  if ((row.mode == AuthMode::delegated) != row.sealed_token.has_value()) {
    return corrupt("has a refresh token that does not match its mode");
  }
  row.needs_reenrol = sqlite3_column_int64(s, 6) != 0;
  row.reenrol_reason = std::string(column_text(s, 7));
  return std::optional<Row>(std::move(row));
}

bool SqliteAuthStore::derive_master(const unsigned char* password,
                                    const std::array<unsigned char, salt_bytes>& salt, KdfCost cost,
                                    unsigned char* master) {
  ++kdf_runs_;
  return crypto_pwhash(master, master_bytes, reinterpret_cast<const char*>(password),
                       password_chars, salt.data(), cost.ops, cost.mem_bytes,
                       crypto_pwhash_ALG_ARGON2ID13) == 0;
}

Result<std::optional<Verified>> SqliteAuthStore::unlock(const std::string& upn, const Row& row,
                                                        const unsigned char* master) {
  Subkeys keys;
  derive_subkeys(master, keys);
  if (sodium_memcmp(keys.verifier.data(), row.verifier.data(), verifier_bytes) != 0) {
    return std::optional<Verified>();
  }
  Verified v{upn, row.mode, Secret(), row.needs_reenrol, row.reenrol_reason, make_key(upn, master)};
  if (row.sealed_token) {
    auto token = open_token(*row.sealed_token, upn, keys.token.data());
    if (!token) {
      // The password is right, so the token was altered or damaged: no guessing.
      return corrupt("has a refresh token that fails its authentication");
    }
    v.refresh_token = std::move(*token);
  }
  return std::optional<Verified>(std::move(v));
}

Result<Secret> SqliteAuthStore::issue(std::string_view upn, AuthMode mode,
                                      std::optional<std::string_view> refresh_token, Time now) {
  const std::string u = normalize_upn(upn);
  if (u.empty() || u.size() > max_upn_bytes) {
    return refused("a UPN must have 1 to " + std::to_string(max_upn_bytes) + " bytes");
  }
  for (const char c : u) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return refused("a UPN must not contain spaces or control characters");
    }
  }
  if (mode != AuthMode::delegated && mode != AuthMode::app) {
    return refused("only delegated and app users have credentials here");
  }
  if (mode == AuthMode::delegated && (!refresh_token || refresh_token->empty() ||
                                      refresh_token->size() > max_refresh_token_bytes)) {
    return refused("a delegated user needs a refresh token of 1 byte to 64 KiB");
  }
  if (mode == AuthMode::app && refresh_token) {
    return refused("an app-mode user has no refresh token");
  }

  Secret password = generate_app_password();
  Wiped<password_chars> canonical;
  const bool well_formed = canonical_password(password.view(), canonical);
  std::array<unsigned char, salt_bytes> salt{};
  randombytes_buf(salt.data(), salt.size());
  Wiped<master_bytes> master;
  if (!well_formed || !derive_master(canonical.data(), salt, cost_, master.data())) {
    return make_error(storage_failure, "auth store '" + path_ + "': Argon2id failed (memory)");
  }
  Subkeys keys;
  derive_subkeys(master.data(), keys);
  std::optional<std::string> sealed;
  if (refresh_token) {
    sealed = seal_token(*refresh_token, u, keys.token.data());
  }

  std::lock_guard lock(mutex_);
  Use q(upsert_user_);
  q.text(1, u)
      .text(2, mode_column(mode))
      .integer(3, static_cast<std::int64_t>(cost_.ops))
      .integer(4, static_cast<std::int64_t>(cost_.mem_bytes))
      .blob(5, as_chars(salt.data(), salt.size()))
      .blob(6, as_chars(keys.verifier.data(), verifier_bytes))
      .integer(8, now.time_since_epoch().count());
  if (sealed) {
    q.blob(7, *sealed);
  } else {
    q.null(7);
  }
  if (q.step() != SQLITE_DONE) {
    return failure("storing a user");
  }
  return password;
}

Result<std::optional<Verified>> SqliteAuthStore::verify(std::string_view upn,
                                                        std::string_view password) {
  const std::string u = normalize_upn(upn);
  Wiped<password_chars> canonical;
  if (!canonical_password(password, canonical) || u.empty() || u.size() > max_upn_bytes) {
    return std::optional<Verified>();
  }
  auto row = read_row(u);
  if (!row) {
    return row.error();
  }
  if (!*row) {
    // An unknown user costs nothing: timing tells whether a UPN is enrolled, which the
    // gateway's per-address penalty and the UPNs' being public anyway make acceptable.
    return std::optional<Verified>();
  }
  Wiped<master_bytes> master;
  if (!derive_master(canonical.data(), (*row)->salt, (*row)->cost, master.data())) {
    return make_error(storage_failure, "auth store '" + path_ + "': Argon2id failed (memory)");
  }
  return unlock(u, **row, master.data());
}

Result<std::optional<Verified>> SqliteAuthStore::verify(const CredentialKey& key) {
  const unsigned char* master = key_master(key);
  if (master == nullptr) {
    return refused("an empty credential key");
  }
  auto row = read_row(key.upn());
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return std::optional<Verified>();
  }
  return unlock(key.upn(), **row, master);
}

Result<bool> SqliteAuthStore::store_refresh_token(const CredentialKey& key,
                                                  std::string_view refresh_token, Time now) {
  const unsigned char* master = key_master(key);
  if (master == nullptr) {
    return refused("an empty credential key");
  }
  if (refresh_token.empty() || refresh_token.size() > max_refresh_token_bytes) {
    return refused("a refresh token must have 1 byte to 64 KiB");
  }
  Subkeys keys;
  derive_subkeys(master, keys);
  const std::string sealed = seal_token(refresh_token, key.upn(), keys.token.data());

  std::lock_guard lock(mutex_);
  Use q(update_token_);
  q.text(1, key.upn())
      .blob(2, as_chars(keys.verifier.data(), verifier_bytes))
      .blob(3, sealed)
      .integer(4, now.time_since_epoch().count());
  if (q.step() != SQLITE_DONE) {
    return failure("storing a refresh token");
  }
  return sqlite3_changes(db_.get()) == 1;
}

Result<bool> SqliteAuthStore::mark_needs_reenrol(std::string_view upn, std::string_view reason,
                                                 Time now) {
  const std::string u = normalize_upn(upn);
  const std::string r = clean_reason(reason);
  std::lock_guard lock(mutex_);
  Use q(update_reenrol_);
  q.text(1, u).text(2, r).integer(3, now.time_since_epoch().count());
  if (q.step() != SQLITE_DONE) {
    return failure("flagging a user");
  }
  return sqlite3_changes(db_.get()) == 1;
}

Result<bool> SqliteAuthStore::revoke(std::string_view upn) {
  const std::string u = normalize_upn(upn);
  std::lock_guard lock(mutex_);
  Use q(delete_user_);
  q.text(1, u);
  if (q.step() != SQLITE_DONE) {
    return failure("removing a user");
  }
  return sqlite3_changes(db_.get()) == 1;
}

Result<std::vector<AuthUser>> SqliteAuthStore::list() {
  std::vector<AuthUser> out;
  std::lock_guard lock(mutex_);
  Use q(select_all_);
  int rc = SQLITE_DONE;
  while ((rc = q.step()) == SQLITE_ROW) {
    sqlite3_stmt* s = q.get();
    const auto mode = parse_mode_column(column_text(s, 1));
    if (!mode) {
      return corrupt("has a bad mode");
    }
    out.push_back(AuthUser{std::string(column_text(s, 0)), *mode, sqlite3_column_int(s, 2) != 0,
                           sqlite3_column_int(s, 3) != 0, std::string(column_text(s, 4)),
                           Time(std::chrono::seconds(sqlite3_column_int64(s, 5))),
                           Time(std::chrono::seconds(sqlite3_column_int64(s, 6)))});
  }
  if (rc != SQLITE_DONE) {
    return failure("listing users");
  }
  return out;
}

} // namespace

std::string normalize_upn(std::string_view upn) {
  std::string out(upn);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

Secret::Secret(std::string_view bytes) : size_(bytes.size()) {
  if (size_ != 0) {
    bytes_.reset(new char[size_]);
    std::memcpy(bytes_.get(), bytes.data(), size_);
  }
}

Secret::~Secret() {
  wipe();
}

Secret::Secret(Secret&& other) noexcept
    : bytes_(std::move(other.bytes_)), size_(std::exchange(other.size_, 0)) {}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = std::move(other.bytes_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void Secret::wipe() noexcept {
  if (bytes_) {
    sodium_memzero(bytes_.get(), size_);
    bytes_.reset();
  }
  size_ = 0;
}

struct CredentialKey::Material {
  std::array<unsigned char, master_bytes> master{};
  Material() = default;
  ~Material() { sodium_memzero(master.data(), master.size()); }
  Material(const Material&) = delete;
  Material& operator=(const Material&) = delete;
};

CredentialKey::CredentialKey(std::string upn, std::unique_ptr<Material> material)
    : upn_(std::move(upn)), material_(std::move(material)) {}
CredentialKey::~CredentialKey() = default;
CredentialKey::CredentialKey(CredentialKey&& other) noexcept = default;
CredentialKey& CredentialKey::operator=(CredentialKey&& other) noexcept = default;

CredentialKey CredentialKey::clone() const {
  auto material = std::make_unique<Material>();
  if (material_) {
    material->master = material_->master;
  } else {
    material.reset();
  }
  return CredentialKey(upn_, std::move(material));
}

CredentialKey AuthStore::make_key(std::string upn, const unsigned char* master) {
  auto material = std::make_unique<CredentialKey::Material>();
  std::memcpy(material->master.data(), master, master_bytes);
  return CredentialKey(std::move(upn), std::move(material));
}

const unsigned char* AuthStore::key_master(const CredentialKey& key) {
  return key.material_ ? key.material_->master.data() : nullptr;
}

KdfCost KdfCost::interactive() {
  return KdfCost{crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

KdfCost KdfCost::minimum() {
  return KdfCost{crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

Secret generate_app_password() {
  (void)sodium_ready();
  std::array<char, password_chars + password_groups - 1> text{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < password_chars; ++i) {
    if (i != 0 && i % password_group_size == 0) {
      text[n++] = '-';
    }
    text[n++] = password_alphabet[randombytes_uniform(
        static_cast<std::uint32_t>(password_alphabet.size()))];
  }
  Secret out(std::string_view(text.data(), n));
  sodium_memzero(text.data(), text.size());
  return out;
}

Result<std::unique_ptr<AuthStore>> AuthStore::open(const std::string& path, KdfCost cost) {
  return SqliteAuthStore::open_file(path, cost);
}

} // namespace icalgate::proxy
