#include "proxy/auth_store.hpp"
#include "proxy/cli_users.hpp"
#include "proxy/credential_cache.hpp"

#include <catch2/catch_test_macros.hpp>

#include <sqlite3.h>
#include <sys/stat.h>

#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using icalgate::proxy::AuthMode;
using icalgate::proxy::AuthStore;
using icalgate::proxy::AuthUser;
using icalgate::proxy::CredentialCache;
using icalgate::proxy::KdfCost;
using icalgate::proxy::Verified;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "icalgate-auth-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  fs::path path;
};

// Most tests are not about the cost: libsodium's minimum keeps them fast. The stolen-database
// test and the cost test use the real default.
std::unique_ptr<AuthStore> open_store(const fs::path& path, KdfCost cost = KdfCost::minimum()) {
  auto store = AuthStore::open(path.string(), cost);
  INFO((store ? std::string() : store.error().message));
  REQUIRE(store.ok());
  return std::move(store).value();
}

const AuthStore::Time t0{std::chrono::seconds(1'700'000'000)};

// Shaped like a Microsoft refresh token: long, base64url, no words.
std::string refresh_token(char seed, std::size_t size = 1400) {
  static constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = "0.A";
  std::uint64_t x = 0x9e3779b97f4a7c15ULL * static_cast<unsigned char>(seed);
  while (out.size() < size) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out += alphabet[x % alphabet.size()];
  }
  return out;
}

std::string issue(AuthStore& store, std::string_view upn, AuthMode mode,
                  std::optional<std::string_view> token = std::nullopt) {
  auto password = store.issue(upn, mode, token, t0);
  INFO((password ? std::string() : password.error().message));
  REQUIRE(password.ok());
  return std::string(password->view());
}

std::optional<Verified> verify(AuthStore& store, std::string_view upn, std::string_view password) {
  auto verified = store.verify(upn, password);
  INFO((verified ? std::string() : verified.error().message));
  REQUIRE(verified.ok());
  return std::move(verified).value();
}

std::string without_dashes(std::string s) {
  std::erase(s, '-');
  return s;
}

// A different, well-formed password: the first character changed.
std::string other_password(std::string password) {
  password[0] = password[0] == 'a' ? 'b' : 'a';
  return password;
}

// Runs one SQL statement on the file behind the store's back; optionally binds a blob.
void run_sql(const fs::path& db_path, const std::string& sql,
             const std::optional<std::string>& blob = std::nullopt) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  if (blob) {
    REQUIRE(sqlite3_bind_blob(stmt, 1, blob->data(), static_cast<int>(blob->size()),
                              SQLITE_TRANSIENT) == SQLITE_OK);
  }
  const int rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  REQUIRE((rc == SQLITE_DONE || rc == SQLITE_ROW));
}

std::string read_blob(const fs::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, 0));
  std::string out(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt, 0)));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

// Every value in every column of every table, as bytes.
std::vector<std::string> every_value(const fs::path& db_path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::vector<std::string> tables;
  {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'table'", -1, &stmt,
                               nullptr) == SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
    }
    sqlite3_finalize(stmt);
  }
  REQUIRE_FALSE(tables.empty());
  std::vector<std::string> values;
  for (const std::string& table : tables) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, ("SELECT * FROM \"" + table + "\"").c_str(), -1, &stmt,
                               nullptr) == SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, c));
        values.emplace_back(data != nullptr ? data : "",
                            static_cast<std::size_t>(sqlite3_column_bytes(stmt, c)));
      }
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return values;
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The first 8-byte piece of `secret` found in `haystack`, or "".
std::string leaked_piece(std::string_view haystack, std::string_view secret) {
  for (std::size_t i = 0; i + 8 <= secret.size(); ++i) {
    if (haystack.find(secret.substr(i, 8)) != std::string_view::npos) {
      return std::string(secret.substr(i, 8));
    }
  }
  return {};
}

} // namespace

TEST_CASE("auth store: an issued app password verifies, nothing else does", "[auth_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "auth.db");
  const std::string password = issue(*store, "Alice@Contoso.com", AuthMode::app);

  // Five groups of five from the alphabet without look-alikes.
  REQUIRE(password.size() == 29);
  for (std::size_t i = 0; i < password.size(); ++i) {
    if (i % 6 == 5) {
      CHECK(password[i] == '-');
    } else {
      CHECK(std::string_view("23456789abcdefghjkmnpqrstuvwxyz").find(password[i]) !=
            std::string_view::npos);
    }
  }

  auto good = verify(*store, "alice@contoso.com", password);
  REQUIRE(good);
  CHECK(good->upn == "alice@contoso.com");
  CHECK(good->mode == AuthMode::app);
  CHECK(good->refresh_token.empty());
  CHECK_FALSE(good->needs_reenrol);
  CHECK(good->key.upn() == "alice@contoso.com");

  // How the password is typed does not matter; what it is does.
  std::string shouted = password;
  for (char& c : shouted) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  CHECK(verify(*store, "ALICE@contoso.COM", shouted));
  CHECK(verify(*store, "alice@contoso.com", without_dashes(password)));
  CHECK_FALSE(verify(*store, "alice@contoso.com", other_password(password)));
  CHECK_FALSE(verify(*store, "bob@contoso.com", password));

  // Text that cannot be an app password costs no Argon2id.
  const std::uint64_t runs = store->kdf_runs();
  const std::vector<std::string> malformed{"",
                                           "demo",
                                           password.substr(0, 28),
                                           password + "a",
                                           "0000000000000000000000000",
                                           "iiiii-lllll-ooooo-11111-00000"};
  for (const std::string& bad : malformed) {
    CHECK_FALSE(verify(*store, "alice@contoso.com", bad));
  }
  CHECK(store->kdf_runs() == runs);

  // Each issue draws a new password.
  const std::string second = issue(*store, "carol@contoso.com", AuthMode::app);
  CHECK(second != password);
}

TEST_CASE("auth store: a delegated user's refresh token comes back whole", "[auth_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "auth.db");
  std::string token = refresh_token('a', 4000);
  token[10] = '\0'; // any bytes survive
  token[11] = '\xff';
  const std::string password = issue(*store, "bob@contoso.com", AuthMode::delegated, token);

  auto v = verify(*store, "bob@contoso.com", password);
  REQUIRE(v);
  CHECK(v->mode == AuthMode::delegated);
  CHECK(v->refresh_token.view() == token);
  CHECK_FALSE(verify(*store, "bob@contoso.com", other_password(password)));

  // What a user in each mode must (not) bring.
  CHECK_FALSE(store->issue("dave@contoso.com", AuthMode::delegated, std::nullopt, t0).ok());
  CHECK_FALSE(store->issue("dave@contoso.com", AuthMode::delegated, "", t0).ok());
  CHECK_FALSE(store
                  ->issue("dave@contoso.com", AuthMode::delegated,
                          std::string(AuthStore::max_refresh_token_bytes + 1, 'x'), t0)
                  .ok());
  CHECK_FALSE(store->issue("dave@contoso.com", AuthMode::app, "token", t0).ok());
  CHECK_FALSE(store->issue("dave@contoso.com", AuthMode::passthrough, std::nullopt, t0).ok());
  CHECK_FALSE(store->issue("", AuthMode::app, std::nullopt, t0).ok());
  CHECK_FALSE(store->issue("dave @contoso.com", AuthMode::app, std::nullopt, t0).ok());
  auto users = store->list();
  REQUIRE(users.ok());
  CHECK(users->size() == 1);
}

TEST_CASE("auth store: a rotated refresh token is stored with the key verify() returned",
          "[auth_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "auth.db");
  const std::string password =
      issue(*store, "bob@contoso.com", AuthMode::delegated, refresh_token('1'));
  auto v = verify(*store, "bob@contoso.com", password);
  REQUIRE(v);

  const std::uint64_t runs = store->kdf_runs();
  auto stored = store->store_refresh_token(v->key, refresh_token('2'), t0 + 3600s);
  REQUIRE(stored.ok());
  CHECK(*stored);
  CHECK(store->kdf_runs() == runs); // no Argon2id to rotate

  auto again = verify(*store, "bob@contoso.com", password);
  REQUIRE(again);
  CHECK(again->refresh_token.view() == refresh_token('2'));
  // The key alone reads the user back, also without Argon2id.
  auto by_key = store->verify(v->key);
  REQUIRE(by_key.ok());
  REQUIRE(*by_key);
  CHECK((*by_key)->refresh_token.view() == refresh_token('2'));
  CHECK(store->kdf_runs() == runs + 1);

  // Storing a token clears the re-enrol flag: the user has working credentials again.
  REQUIRE(store->mark_needs_reenrol("bob@contoso.com", "invalid_grant", t0 + 7200s).ok());
  REQUIRE(store->store_refresh_token(v->key, refresh_token('3'), t0 + 7300s).ok());
  auto cleared = verify(*store, "bob@contoso.com", password);
  REQUIRE(cleared);
  CHECK_FALSE(cleared->needs_reenrol);
  CHECK(cleared->refresh_token.view() == refresh_token('3'));

  // After a new password, the old key neither reads nor writes.
  const std::string renewed =
      issue(*store, "bob@contoso.com", AuthMode::delegated, refresh_token('4'));
  auto stale = store->store_refresh_token(v->key, refresh_token('5'), t0 + 9000s);
  REQUIRE(stale.ok());
  CHECK_FALSE(*stale);
  auto stale_read = store->verify(v->key);
  REQUIRE(stale_read.ok());
  CHECK_FALSE(*stale_read);
  auto current = verify(*store, "bob@contoso.com", renewed);
  REQUIRE(current);
  CHECK(current->refresh_token.view() == refresh_token('4'));
  CHECK_FALSE(verify(*store, "bob@contoso.com", password));

  // App users have no token to rotate; a moved-from key is refused.
  const std::string app_password = issue(*store, "carol@contoso.com", AuthMode::app);
  auto app = verify(*store, "carol@contoso.com", app_password);
  REQUIRE(app);
  auto refused = store->store_refresh_token(app->key, "token", t0);
  REQUIRE(refused.ok());
  CHECK_FALSE(*refused);
  auto moved = std::move(app->key);
  CHECK_FALSE(store->store_refresh_token(app->key, "token", t0).ok()); // NOLINT: moved from
  CHECK_FALSE(store->verify(app->key).ok());                           // NOLINT: moved from
  CHECK(store->verify(moved).ok());
}

TEST_CASE("auth store: a user flagged for re-enrolment still verifies and says so",
          "[auth_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "auth.db");
  const std::string password =
      issue(*store, "bob@contoso.com", AuthMode::delegated, refresh_token('r'));
  auto marked =
      store->mark_needs_reenrol("BOB@contoso.com", "invalid_grant: AADSTS50173\n", t0 + 60s);
  REQUIRE(marked.ok());
  CHECK(*marked);
  auto v = verify(*store, "bob@contoso.com", password);
  REQUIRE(v);
  CHECK(v->needs_reenrol);
  CHECK(v->reenrol_reason == "invalid_grant: AADSTS50173?");
  // A wrong password learns nothing about the flag.
  CHECK_FALSE(verify(*store, "bob@contoso.com", other_password(password)));

  auto nobody = store->mark_needs_reenrol("nobody@contoso.com", "x", t0);
  REQUIRE(nobody.ok());
  CHECK_FALSE(*nobody);

  // A new issue starts clean.
  const std::string renewed =
      issue(*store, "bob@contoso.com", AuthMode::delegated, refresh_token('s'));
  auto fresh = verify(*store, "bob@contoso.com", renewed);
  REQUIRE(fresh);
  CHECK_FALSE(fresh->needs_reenrol);
  CHECK(fresh->reenrol_reason.empty());
}

TEST_CASE("auth store: revoke removes the user", "[auth_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "auth.db");
  const std::string password =
      issue(*store, "bob@contoso.com", AuthMode::delegated, refresh_token('v'));
  auto v = verify(*store, "bob@contoso.com", password);
  REQUIRE(v);

  auto revoked = store->revoke("Bob@Contoso.com");
  REQUIRE(revoked.ok());
  CHECK(*revoked);
  CHECK_FALSE(verify(*store, "bob@contoso.com", password));
  auto by_key = store->verify(v->key);
  REQUIRE(by_key.ok());
  CHECK_FALSE(*by_key);
  auto late = store->store_refresh_token(v->key, refresh_token('w'), t0);
  REQUIRE(late.ok());
  CHECK_FALSE(*late);
  auto twice = store->revoke("bob@contoso.com");
  REQUIRE(twice.ok());
  CHECK_FALSE(*twice);
  auto users = store->list();
  REQUIRE(users.ok());
  CHECK(users->empty());
}

TEST_CASE("auth store: list shows users, modes, state and times", "[auth_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "auth.db");
  REQUIRE(store->issue("Zoe@contoso.com", AuthMode::app, std::nullopt, t0).ok());
  REQUIRE(store->issue("bob@contoso.com", AuthMode::delegated, refresh_token('l'), t0 + 10s).ok());
  REQUIRE(store->mark_needs_reenrol("bob@contoso.com", "invalid_grant", t0 + 20s).ok());
  // A re-issue keeps the creation time.
  REQUIRE(store->issue("zoe@contoso.com", AuthMode::app, std::nullopt, t0 + 30s).ok());

  auto users = store->list();
  REQUIRE(users.ok());
  const std::vector<AuthUser> expected{
      {"bob@contoso.com", AuthMode::delegated, true, true, "invalid_grant", t0 + 10s, t0 + 20s},
      {"zoe@contoso.com", AuthMode::app, false, false, "", t0, t0 + 30s},
  };
  CHECK(*users == expected);
}

TEST_CASE("auth store: two store objects share one file", "[auth_store]") {
  TempDir dir;
  auto a = open_store(dir.path / "auth.db");
  auto b = open_store(dir.path / "auth.db");
  const std::string password =
      issue(*a, "bob@contoso.com", AuthMode::delegated, refresh_token('x'));

  auto in_b = verify(*b, "bob@contoso.com", password);
  REQUIRE(in_b);
  CHECK(in_b->refresh_token.view() == refresh_token('x'));
  auto rotated = b->store_refresh_token(in_b->key, refresh_token('y'), t0 + 60s);
  REQUIRE(rotated.ok());
  CHECK(*rotated);
  auto in_a = verify(*a, "bob@contoso.com", password);
  REQUIRE(in_a);
  CHECK(in_a->refresh_token.view() == refresh_token('y'));

  REQUIRE(a->revoke("bob@contoso.com").ok());
  CHECK_FALSE(verify(*b, "bob@contoso.com", password));
}

TEST_CASE("auth store: the file is private and errors name it", "[auth_store]") {
  TempDir dir;
  const fs::path path = dir.path / "sub" / "auth.db";
  auto store = open_store(path);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  std::ofstream(dir.path / "file") << "x";
  auto bad = AuthStore::open((dir.path / "file" / "auth.db").string());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find((dir.path / "file").string()) != std::string::npos);

  auto unrelated = AuthStore::open((dir.path / "other.db").string(), KdfCost{1, 1024});
  CHECK_FALSE(unrelated.ok()); // below libsodium's minimum memory
}

TEST_CASE("auth store: a stolen database reveals no password and no token", "[auth_store]") {
  TempDir dir;
  const fs::path path = dir.path / "auth.db";
  auto store = open_store(path, KdfCost::interactive());
  const std::string first_token = refresh_token('s');
  const std::string second_token = refresh_token('t');
  const std::string password = issue(*store, "bob@contoso.com", AuthMode::delegated, first_token);
  const std::string app_password = issue(*store, "carol@contoso.com", AuthMode::app);
  {
    auto v = verify(*store, "bob@contoso.com", password);
    REQUIRE(v);
    REQUIRE(store->store_refresh_token(v->key, second_token, t0 + 60s).ok());
  }

  const std::vector<std::string> secrets{password,     without_dashes(password),
                                         app_password, without_dashes(app_password),
                                         first_token,  second_token};
  // Through SQL: every column of every row.
  for (const std::string& value : every_value(path)) {
    for (const std::string& secret : secrets) {
      INFO("an 8-byte piece of a secret is in a column");
      CHECK(leaked_piece(value, secret).empty());
    }
  }
  // And the raw bytes, write-ahead log included.
  std::string raw;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    raw += file_bytes(path.string() + suffix);
  }
  REQUIRE(raw.size() > 4096);
  for (const std::string& secret : secrets) {
    INFO("an 8-byte piece of a secret is in the file");
    CHECK(leaked_piece(raw, secret).empty());
  }

  // The row keeps the Argon2id limits it was issued with.
  CHECK(read_blob(path, "SELECT CAST(kdf_ops AS TEXT) || '/' || CAST(kdf_mem AS TEXT) FROM "
                        "auth_user WHERE upn = 'bob@contoso.com'") == "2/67108864");
}

TEST_CASE("auth store: a damaged token is an error, never a wrong token", "[auth_store]") {
  TempDir dir;
  const fs::path path = dir.path / "auth.db";
  auto store = open_store(path);
  const std::string bob = issue(*store, "bob@contoso.com", AuthMode::delegated, refresh_token('b'));
  const std::string eve = issue(*store, "eve@contoso.com", AuthMode::delegated, refresh_token('e'));
  const std::string sealed =
      read_blob(path, "SELECT refresh_token FROM auth_user WHERE upn = 'bob@contoso.com'");
  REQUIRE(sealed.size() == refresh_token('b').size() + 24 + 16);

  SECTION("one flipped bit") {
    std::string damaged = sealed;
    damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 1);
    run_sql(path, "UPDATE auth_user SET refresh_token = ?1 WHERE upn = 'bob@contoso.com'", damaged);
  }
  SECTION("cut short") {
    run_sql(path, "UPDATE auth_user SET refresh_token = ?1 WHERE upn = 'bob@contoso.com'",
            sealed.substr(0, 30));
  }
  SECTION("another user's token") {
    // Eve's token sealed for Eve, moved into Bob's row: Bob's key does not open it, and
    // even a shared key would not (the UPN is associated data).
    run_sql(path, "UPDATE auth_user SET refresh_token = (SELECT refresh_token FROM auth_user WHERE "
                  "upn = 'eve@contoso.com') WHERE upn = 'bob@contoso.com'");
  }
  SECTION("gone while the mode says delegated") {
    run_sql(path, "UPDATE auth_user SET refresh_token = NULL WHERE upn = 'bob@contoso.com'");
  }
  auto v = store->verify("bob@contoso.com", bob);
  CHECK_FALSE(v.ok());
  if (!v.ok()) {
    CHECK(v.error().message.find(path.string()) != std::string::npos);
    CHECK(v.error().message.find("bob") == std::string::npos);
  }
  // Eve is untouched.
  auto e = verify(*store, "eve@contoso.com", eve);
  REQUIRE(e);
  CHECK(e->refresh_token.view() == refresh_token('e'));
}

TEST_CASE("auth store: a damaged verifier or limit is an error", "[auth_store]") {
  TempDir dir;
  const fs::path path = dir.path / "auth.db";
  auto store = open_store(path);
  const std::string password = issue(*store, "carol@contoso.com", AuthMode::app);
  SECTION("short verifier") {
    run_sql(path, "UPDATE auth_user SET verifier = x'0011'");
  }
  SECTION("a gigabyte and more per login") {
    run_sql(path, "UPDATE auth_user SET kdf_mem = 4294967296");
  }
  const std::uint64_t runs = store->kdf_runs();
  CHECK_FALSE(store->verify("carol@contoso.com", password).ok());
  CHECK(store->kdf_runs() == runs);
}

TEST_CASE("auth store: rows keep the Argon2id limits they were issued with", "[auth_store]") {
  TempDir dir;
  auto cheap = open_store(dir.path / "auth.db", KdfCost::minimum());
  const std::string password = issue(*cheap, "carol@contoso.com", AuthMode::app);
  auto dearer = open_store(dir.path / "auth.db", KdfCost::interactive());
  CHECK(verify(*dearer, "carol@contoso.com", password));
  CHECK(dearer->kdf_runs() == 1);
}

TEST_CASE("credential cache: repeated logins skip Argon2id", "[auth_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "auth.db");
  const std::string password =
      issue(*store, "bob@contoso.com", AuthMode::delegated, refresh_token('c'));
  CredentialCache cache(CredentialCache::Limits{16, std::chrono::seconds(600)});
  const auto now = CredentialCache::Clock::time_point{} + 1000h;
  const auto login = [&](std::string_view upn, std::string_view pw, auto when) {
    auto v = cache.verify(*store, upn, pw, when);
    INFO((v ? std::string() : v.error().message));
    REQUIRE(v.ok());
    return std::move(v).value();
  };

  const std::uint64_t base = store->kdf_runs();
  REQUIRE(login("bob@contoso.com", password, now));
  CHECK(store->kdf_runs() == base + 1);
  for (int i = 0; i < 5; ++i) {
    auto v = login("Bob@contoso.com", password, now + std::chrono::seconds(i));
    REQUIRE(v);
    CHECK(v->refresh_token.view() == refresh_token('c'));
  }
  CHECK(store->kdf_runs() == base + 1);

  // A hit reads the current token.
  {
    auto v = login("bob@contoso.com", password, now);
    REQUIRE(v);
    REQUIRE(store->store_refresh_token(v->key, refresh_token('d'), t0).ok());
  }
  auto rotated = login("bob@contoso.com", password, now);
  REQUIRE(rotated);
  CHECK(rotated->refresh_token.view() == refresh_token('d'));
  CHECK(store->kdf_runs() == base + 1);

  // Wrong passwords are not cached and do not evict the right one.
  CHECK_FALSE(login("bob@contoso.com", other_password(password), now));
  CHECK_FALSE(login("bob@contoso.com", other_password(password), now));
  CHECK(store->kdf_runs() == base + 3);
  CHECK(login("bob@contoso.com", password, now));
  CHECK(store->kdf_runs() == base + 3);

  // Entries age out.
  CHECK(login("bob@contoso.com", password, now + 601s));
  CHECK(store->kdf_runs() == base + 4);

  // A new password invalidates the entry at once; so does a revoke.
  const std::string renewed =
      issue(*store, "bob@contoso.com", AuthMode::delegated, refresh_token('n'));
  const std::uint64_t after_issue = store->kdf_runs();
  CHECK_FALSE(login("bob@contoso.com", password, now + 602s));
  CHECK(store->kdf_runs() == after_issue + 1);
  auto v = login("bob@contoso.com", renewed, now + 603s);
  REQUIRE(v);
  CHECK(v->refresh_token.view() == refresh_token('n'));
  REQUIRE(store->revoke("bob@contoso.com").ok());
  CHECK_FALSE(login("bob@contoso.com", renewed, now + 604s));
}

TEST_CASE("credential cache: bounded, and concurrent logins run Argon2id once", "[auth_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "auth.db", KdfCost::interactive());
  const auto now = CredentialCache::Clock::time_point{} + 1000h;

  SECTION("bounded") {
    CredentialCache cache(CredentialCache::Limits{2, std::chrono::seconds(600)});
    std::vector<std::string> passwords;
    for (const char* upn : {"a@contoso.com", "b@contoso.com", "c@contoso.com"}) {
      passwords.push_back(issue(*store, upn, AuthMode::app));
    }
    const std::uint64_t base = store->kdf_runs();
    std::size_t i = 0;
    for (const char* upn : {"a@contoso.com", "b@contoso.com", "c@contoso.com"}) {
      const auto when = now + std::chrono::seconds(i);
      auto v = cache.verify(*store, upn, passwords[i++], when);
      REQUIRE(v.ok());
      CHECK(*v);
    }
    CHECK(cache.size() == 2);
    CHECK(store->kdf_runs() == base + 3);
    // The oldest (a) went; c is still there.
    REQUIRE(cache.verify(*store, "c@contoso.com", passwords[2], now + 10s).ok());
    CHECK(store->kdf_runs() == base + 3);
    REQUIRE(cache.verify(*store, "a@contoso.com", passwords[0], now + 11s).ok());
    CHECK(store->kdf_runs() == base + 4);
    cache.forget("A@contoso.com");
    CHECK(cache.size() == 1);
  }

  SECTION("concurrent") {
    const std::string password = issue(*store, "bob@contoso.com", AuthMode::app);
    CredentialCache cache;
    const std::uint64_t base = store->kdf_runs();
    std::array<bool, 4> ok{};
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < ok.size(); ++i) {
      threads.emplace_back([&, i] {
        auto v = cache.verify(*store, "bob@contoso.com", password, now);
        ok[i] = v.ok() && v->has_value();
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    CHECK(ok == std::array<bool, 4>{true, true, true, true});
    CHECK(store->kdf_runs() == base + 1);
  }
}

namespace {

struct CliRun {
  int status = 0;
  std::string out;
  std::string err;
};

CliRun users(std::vector<std::string> args,
             const icalgate::proxy::UsersEnrol& enrol = icalgate::proxy::UsersEnrol()) {
  std::vector<char*> argv;
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  REQUIRE(out != nullptr);
  REQUIRE(err != nullptr);
  CliRun run;
  run.status = icalgate::proxy::run_users(argv, out, err, enrol);
  for (auto [file, text] : {std::pair{out, &run.out}, std::pair{err, &run.err}}) {
    std::rewind(file);
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) {
      text->append(buf, n);
    }
    std::fclose(file);
  }
  return run;
}

} // namespace

TEST_CASE("icalgate users: add, list, revoke", "[auth_store]") {
  TempDir dir;
  const std::string store_path = (dir.path / "auth.db").string();

  const CliRun added = users({"add", "Alice@Contoso.com", "--store", store_path});
  INFO(added.err);
  REQUIRE(added.status == 0);
  REQUIRE(added.out.size() == 30); // the password and a newline, nothing else on stdout
  const std::string password = added.out.substr(0, 29);
  CHECK(added.err.find(password) == std::string::npos);
  {
    auto store = open_store(store_path);
    CHECK(verify(*store, "alice@contoso.com", password));
  }

  const CliRun again = users({"add", "alice@contoso.com", "--store", store_path});
  CHECK(again.status == 1);
  CHECK(again.err.find("--replace") != std::string::npos);
  const CliRun replaced = users({"add", "alice@contoso.com", "--replace", "--store", store_path});
  CHECK(replaced.status == 0);
  {
    auto store = open_store(store_path);
    CHECK_FALSE(verify(*store, "alice@contoso.com", password));
  }

  const CliRun listed = users({"list", "--store", store_path});
  CHECK(listed.status == 0);
  CHECK(listed.out.find("alice@contoso.com  app") != std::string::npos);
  CHECK(listed.out.find(" ok\n") != std::string::npos);

  CHECK(users({"revoke", "alice@contoso.com", "--store", store_path}).status == 0);
  CHECK(users({"revoke", "alice@contoso.com", "--store", store_path}).status == 1);
  CHECK(users({"list", "--store", store_path}).out.find("alice") == std::string::npos);
}

TEST_CASE("icalgate users: usage, the configuration and the enrol hook", "[auth_store]") {
  TempDir dir;
  const std::string store_path = (dir.path / "auth.db").string();
  CHECK(users({}).status == 2);
  CHECK(users({"add", "alice@contoso.com"}).status == 2); // no store named
  CHECK(users({"frobnicate", "--store", store_path}).status == 2);
  CHECK(users({"list", "extra", "--store", store_path}).status == 2);
  CHECK(users({"revoke", "a@b", "--replace", "--store", store_path}).status == 2);
  CHECK(users({"list", "--config", (dir.path / "missing.toml").string()}).status == 2);
  // Listing or revoking does not create a store.
  CHECK(users({"list", "--store", store_path}).status == 1);
  CHECK(users({"revoke", "a@b", "--store", store_path}).status == 1);
  CHECK_FALSE(fs::exists(store_path));

  const CliRun unavailable = users({"enrol", "bob@contoso.com", "--store", store_path});
  CHECK(unavailable.status == 2);
  CHECK(unavailable.err.find("not available") != std::string::npos);

  // The hook gets the store; the configuration's [auth] store names the file.
  const fs::path config = dir.path / "icalgate.toml";
  std::ofstream(config) << "[auth]\nstore = \"" << (dir.path / "from-config.db").string() << "\"\n";
  bool called = false;
  const CliRun enrolled =
      users({"enrol", "Bob@contoso.com", "--config", config.string()},
            [&](const icalgate::proxy::Config* cfg, AuthStore& store, std::string_view upn,
                std::FILE* out, std::FILE*) {
              called = true;
              CHECK(cfg != nullptr);
              CHECK(upn == "Bob@contoso.com");
              auto pw = store.issue(upn, AuthMode::delegated, refresh_token('h'), t0);
              REQUIRE(pw.ok());
              std::fprintf(out, "%.*s\n", static_cast<int>(pw->view().size()), pw->view().data());
              return 0;
            });
  INFO(enrolled.err);
  CHECK(enrolled.status == 0);
  CHECK(called);
  CHECK(fs::exists(dir.path / "from-config.db"));
  const CliRun listed = users({"list", "--config", config.string()});
  CHECK(listed.out.find("bob@contoso.com  delegated") != std::string::npos);
  // Enrolling someone who has credentials needs --replace.
  CHECK(users({"enrol", "bob@contoso.com", "--config", config.string()},
              [](const icalgate::proxy::Config*, AuthStore&, std::string_view, std::FILE*,
                 std::FILE*) { return 0; })
            .status == 1);
}
