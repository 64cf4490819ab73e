#include "proxy/rewrite_store.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/catch_tostring.hpp>

#include <sqlite3.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

using icalgate::proxy::FirstBodies;
using icalgate::proxy::MessageKey;
using icalgate::proxy::MessageState;
using icalgate::proxy::RewriteStore;
using icalgate::proxy::StoredMessage;

template <>
struct Catch::StringMaker<MessageState> {
  static std::string convert(MessageState state) {
    return std::string(icalgate::proxy::to_string(state));
  }
};

namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "icalgate-store-XXXXXX").string();
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

std::unique_ptr<RewriteStore> open_store(const fs::path& path) {
  auto store = RewriteStore::open(path.string());
  INFO((store ? std::string() : store.error().message));
  REQUIRE(store.ok());
  return std::move(store).value();
}

MessageKey key(std::uint32_t uid, std::uint32_t uidvalidity = 7) {
  return MessageKey{"alice@contoso.com", "INBOX", uidvalidity, uid};
}

// Not text, not small: NULs, 8-bit bytes and CRLF survive compression and the check.
std::string rewritten_bytes(char tag, std::size_t size = 5000) {
  std::string bytes = "Subject: meeting ";
  bytes += tag;
  bytes += "\r\n\r\n";
  for (std::size_t i = 0; bytes.size() < size; ++i) {
    bytes += static_cast<char>((i * 131 + static_cast<unsigned char>(tag)) % 256);
  }
  return bytes;
}

StoredMessage rewritten(char tag) {
  return StoredMessage{MessageState::rewritten, "graph: ok", rewritten_bytes(tag)};
}

StoredMessage original(std::string reason) {
  return StoredMessage{MessageState::original, std::move(reason), {}};
}

StoredMessage stored(RewriteStore& store, const MessageKey& k) {
  auto got = store.get(k);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  return **got;
}

// Runs one statement with one bound blob (or none) on the store's file, the way an operator
// or a failing disk would change it behind the gateway's back.
void tamper(const fs::path& db_path, const std::string& sql, const std::string* blob = nullptr) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  if (blob != nullptr) {
    REQUIRE(sqlite3_bind_blob(stmt, 1, blob->data(), static_cast<int>(blob->size()),
                              SQLITE_TRANSIENT) == SQLITE_OK);
  }
  const int rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_DONE);
}

std::string zlib(const std::string& bytes) {
  uLongf size = compressBound(static_cast<uLong>(bytes.size()));
  std::string out(size, '\0');
  REQUIRE(compress(reinterpret_cast<Bytef*>(out.data()), &size,
                   reinterpret_cast<const Bytef*>(bytes.data()),
                   static_cast<uLong>(bytes.size())) == Z_OK);
  out.resize(size);
  return out;
}

} // namespace

TEST_CASE("rewrite_store: open creates the file, its directory and the schema", "[rewrite_store]") {
  TempDir dir;
  const fs::path path = dir.path / "state" / "deeper" / "rewrite.db";
  {
    auto store = open_store(path);
    CHECK(store->put_if_absent(key(1), original("graph: not_found")).ok());
  }
  REQUIRE(fs::is_regular_file(path));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600); // it holds mail
  auto again = open_store(path);
  CHECK(stored(*again, key(1)) == original("graph: not_found"));
}

TEST_CASE("rewrite_store: each state is stored and read back", "[rewrite_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "rewrite.db");

  CHECK_FALSE(store->get(key(1)).value().has_value());

  const StoredMessage plain{MessageState::plain, "", {}};
  auto put = store->put_if_absent(key(1), plain);
  REQUIRE(put.ok());
  CHECK(*put == plain);
  CHECK(stored(*store, key(1)) == plain);

  auto put_original = store->put_if_absent(key(2), original("graph: timeout"));
  REQUIRE(put_original.ok());
  CHECK(*put_original == original("graph: timeout"));
  CHECK(stored(*store, key(2)) == original("graph: timeout"));

  auto put_rewritten = store->put_if_absent(key(3), rewritten('a'));
  REQUIRE(put_rewritten.ok());
  CHECK(*put_rewritten == rewritten('a'));
  CHECK(stored(*store, key(3)) == rewritten('a'));

  // Bytes are kept only for a rewritten message.
  auto with_bytes = store->put_if_absent(key(4), StoredMessage{MessageState::original, "x", "y"});
  REQUIRE(with_bytes.ok());
  CHECK(with_bytes->bytes.empty());
  CHECK(stored(*store, key(4)).bytes.empty());

  // A large message (the size cap is 25 MiB by default) round-trips byte for byte.
  StoredMessage large{MessageState::rewritten, "graph: ok", rewritten_bytes('L', 3 << 20)};
  REQUIRE(store->put_if_absent(key(5), large).ok());
  CHECK(stored(*store, key(5)) == large);
}

TEST_CASE("rewrite_store: the first decision wins", "[rewrite_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "rewrite.db");

  REQUIRE(store->put_if_absent(key(10), original("graph: unavailable")).ok());
  auto second = store->put_if_absent(key(10), rewritten('b'));
  REQUIRE(second.ok());
  CHECK(*second == original("graph: unavailable"));
  CHECK(stored(*store, key(10)) == original("graph: unavailable"));

  REQUIRE(store->put_if_absent(key(11), rewritten('c')).ok());
  auto later = store->put_if_absent(key(11), original("graph: timeout"));
  REQUIRE(later.ok());
  CHECK(*later == rewritten('c'));
  auto other_bytes = store->put_if_absent(key(11), rewritten('d'));
  REQUIRE(other_bytes.ok());
  CHECK(*other_bytes == rewritten('c'));

  // put_plain does not overwrite a decision either.
  const std::vector<std::uint32_t> uids{10, 11, 12};
  REQUIRE(store->put_plain("alice@contoso.com", "INBOX", 7, uids).ok());
  CHECK(stored(*store, key(10)).state == MessageState::original);
  CHECK(stored(*store, key(11)) == rewritten('c'));
  CHECK(stored(*store, key(12)).state == MessageState::plain);
  auto after_plain = store->put_if_absent(key(12), rewritten('e'));
  REQUIRE(after_plain.ok());
  CHECK(after_plain->state == MessageState::plain);
}

TEST_CASE("rewrite_store: copies take their sources' decisions", "[rewrite_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "rewrite.db");
  const std::uint32_t plain[] = {1};
  REQUIRE(store->put_plain("alice@contoso.com", "INBOX", 7, plain).ok());
  REQUIRE(store->put_if_absent(key(2), original("graph: unavailable")).ok());
  REQUIRE(store->put_if_absent(key(3), rewritten('a')).ok());
  const auto trash = [](std::uint32_t uid) {
    return MessageKey{"alice@contoso.com", "Deleted Items", 40, uid};
  };
  // The copy of 5 has a decision of its own already; 4 has none to give.
  REQUIRE(store->put_if_absent(trash(15), rewritten('z')).ok());

  const std::vector<std::pair<std::uint32_t, std::uint32_t>> uids{
      {1, 11}, {2, 12}, {3, 13}, {4, 14}, {3, 15}};
  auto copied = store->copy_decisions("ALICE@contoso.com", "inbox", 7, "Deleted Items", 40, uids);
  REQUIRE(copied.ok());
  CHECK(*copied == 3);
  CHECK(stored(*store, trash(11)).state == MessageState::plain);
  CHECK(stored(*store, trash(12)) == original("graph: unavailable"));
  CHECK(stored(*store, trash(13)) == rewritten('a'));
  CHECK_FALSE(store->get(trash(14)).value().has_value());
  CHECK(stored(*store, trash(15)) == rewritten('z'));
  // The sources keep theirs.
  CHECK(stored(*store, key(3)) == rewritten('a'));

  // Copied again (a client repeating the command): nothing changes.
  auto again = store->copy_decisions("alice@contoso.com", "INBOX", 7, "Deleted Items", 40, uids);
  REQUIRE(again.ok());
  CHECK(*again == 0);
  CHECK(stored(*store, trash(13)) == rewritten('a'));

  const std::vector<std::pair<std::uint32_t, std::uint32_t>> zero{{3, 0}};
  CHECK_FALSE(store->copy_decisions("alice@contoso.com", "INBOX", 7, "Trash", 40, zero).ok());
  CHECK_FALSE(store->copy_decisions("alice@contoso.com", "INBOX", 7, "Trash", 0, uids).ok());
}

TEST_CASE("rewrite_store: the key is user, mailbox, UIDVALIDITY and UID", "[rewrite_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "rewrite.db");
  REQUIRE(store->put_if_absent(key(1), rewritten('a')).ok());

  // User names are compared case-insensitively, and so is INBOX.
  CHECK(stored(*store, MessageKey{"Alice@Contoso.COM", "inbox", 7, 1}) == rewritten('a'));
  CHECK(stored(*store, MessageKey{"ALICE@CONTOSO.COM", "InBoX", 7, 1}) == rewritten('a'));
  // Every other part of the key separates messages; other mailbox names are case-sensitive.
  CHECK_FALSE(store->get(MessageKey{"bob@contoso.com", "INBOX", 7, 1})->has_value());
  CHECK_FALSE(store->get(MessageKey{"alice@contoso.com", "Archive", 7, 1})->has_value());
  CHECK_FALSE(store->get(MessageKey{"alice@contoso.com", "INBOX", 8, 1})->has_value());
  CHECK_FALSE(store->get(MessageKey{"alice@contoso.com", "INBOX", 7, 2})->has_value());
  REQUIRE(store->put_if_absent(MessageKey{"alice@contoso.com", "Work", 7, 1}, original("a")).ok());
  REQUIRE(store->put_if_absent(MessageKey{"alice@contoso.com", "work", 7, 1}, original("b")).ok());
  CHECK(stored(*store, MessageKey{"alice@contoso.com", "Work", 7, 1}).reason == "a");
  CHECK(stored(*store, MessageKey{"alice@contoso.com", "work", 7, 1}).reason == "b");
}

TEST_CASE("rewrite_store: malformed decisions are refused", "[rewrite_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "rewrite.db");
  CHECK_FALSE(store->put_if_absent(key(0), original("x")).ok());
  CHECK_FALSE(store->put_if_absent(key(1, 0), original("x")).ok());
  CHECK_FALSE(store->put_if_absent(MessageKey{"", "INBOX", 7, 1}, original("x")).ok());
  CHECK_FALSE(store->put_if_absent(key(1), StoredMessage{MessageState::rewritten, "", ""}).ok());
  const std::vector<std::uint32_t> with_zero{1, 0, 2};
  CHECK_FALSE(store->put_plain("alice@contoso.com", "INBOX", 7, with_zero).ok());
  // Nothing of the refused calls was stored.
  const std::vector<std::uint32_t> uids{0, 1, 2};
  CHECK(store->states("alice@contoso.com", "INBOX", 7, uids)->empty());
}

TEST_CASE("rewrite_store: states of a batch, with unknown UIDs", "[rewrite_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "rewrite.db");
  std::vector<std::uint32_t> even;
  for (std::uint32_t uid = 2; uid <= 2000; uid += 2) {
    even.push_back(uid);
  }
  REQUIRE(store->put_plain("alice@contoso.com", "INBOX", 7, even).ok());
  REQUIRE(store->put_if_absent(key(101), original("graph: not_found")).ok());
  REQUIRE(store->put_if_absent(key(103), rewritten('a')).ok());
  REQUIRE(store->put_if_absent(key(4'000'000'000U), rewritten('z')).ok());
  // Same UIDs in a neighbouring mailbox, user and UIDVALIDITY must not leak in.
  const std::vector<std::uint32_t> odd{1, 3, 5, 2001};
  REQUIRE(store->put_plain("alice@contoso.com", "Archive", 7, odd).ok());
  REQUIRE(store->put_plain("bob@contoso.com", "INBOX", 7, odd).ok());
  REQUIRE(store->put_plain("alice@contoso.com", "INBOX", 6, odd).ok());

  SECTION("a dense range, as in a header sync") {
    std::vector<std::uint32_t> all(2100);
    std::iota(all.begin(), all.end(), 1U);
    auto states = store->states("ALICE@contoso.com", "inbox", 7, all);
    REQUIRE(states.ok());
    CHECK(states->size() == 1002); // the even UIDs, 101 and 103
    CHECK(states->at(2) == MessageState::plain);
    CHECK(states->at(101) == MessageState::original);
    CHECK(states->at(103) == MessageState::rewritten);
    CHECK(states->at(2000) == MessageState::plain);
    CHECK_FALSE(states->contains(1));
    CHECK_FALSE(states->contains(3));
    CHECK_FALSE(states->contains(2001));
  }
  SECTION("a sparse set, in any order, with repeats") {
    const std::vector<std::uint32_t> some{4'000'000'000U, 7, 103, 2, 2, 1999, 101, 3'000'000'000U};
    auto states = store->states("alice@contoso.com", "INBOX", 7, some);
    REQUIRE(states.ok());
    const std::map<std::uint32_t, MessageState> expected{
        {2, MessageState::plain},
        {101, MessageState::original},
        {103, MessageState::rewritten},
        {4'000'000'000U, MessageState::rewritten},
    };
    CHECK(*states == expected);
  }
  SECTION("a dense range with gaps at both ends") {
    std::vector<std::uint32_t> middle;
    for (std::uint32_t uid = 95; uid <= 105; ++uid) {
      middle.push_back(uid);
    }
    auto states = store->states("alice@contoso.com", "INBOX", 7, middle);
    REQUIRE(states.ok());
    const std::map<std::uint32_t, MessageState> expected{
        {96, MessageState::plain},     {98, MessageState::plain},  {100, MessageState::plain},
        {101, MessageState::original}, {102, MessageState::plain}, {103, MessageState::rewritten},
        {104, MessageState::plain},
    };
    CHECK(*states == expected);
  }
  SECTION("nothing asked, nothing known") {
    CHECK(store->states("alice@contoso.com", "INBOX", 7, {})->empty());
    const std::vector<std::uint32_t> unknown{1, 3, 5};
    CHECK(store->states("alice@contoso.com", "INBOX", 7, unknown)->empty());
    CHECK(store->states("carol@contoso.com", "INBOX", 7, even)->empty());
  }
}

TEST_CASE("rewrite_store: decisions survive closing and reopening", "[rewrite_store]") {
  TempDir dir;
  const fs::path path = dir.path / "rewrite.db";
  const std::vector<std::uint32_t> plain_uids{1, 2, 3};
  {
    auto store = open_store(path);
    REQUIRE(store->put_plain("alice@contoso.com", "INBOX", 7, plain_uids).ok());
    REQUIRE(store->put_if_absent(key(4), original("graph: throttled")).ok());
    REQUIRE(store->put_if_absent(key(5), rewritten('r')).ok());
  }
  auto store = open_store(path);
  CHECK(stored(*store, key(2)).state == MessageState::plain);
  CHECK(stored(*store, key(4)) == original("graph: throttled"));
  CHECK(stored(*store, key(5)) == rewritten('r'));
  auto again = store->put_if_absent(key(5), rewritten('s'));
  REQUIRE(again.ok());
  CHECK(*again == rewritten('r'));
}

TEST_CASE("rewrite_store: two stores on one file see each other's decisions", "[rewrite_store]") {
  TempDir dir;
  const fs::path path = dir.path / "rewrite.db";
  auto first = open_store(path);
  auto second = open_store(path);

  REQUIRE(first->put_if_absent(key(1), rewritten('a')).ok());
  CHECK(stored(*second, key(1)) == rewritten('a'));
  auto lost = second->put_if_absent(key(1), original("graph: timeout"));
  REQUIRE(lost.ok());
  CHECK(*lost == rewritten('a'));

  const std::vector<std::uint32_t> uids{2, 3};
  REQUIRE(second->put_plain("alice@contoso.com", "INBOX", 7, uids).ok());
  auto states = first->states("alice@contoso.com", "INBOX", 7, uids);
  REQUIRE(states.ok());
  CHECK(states->size() == 2);

  REQUIRE(second->forget_user("alice@contoso.com").ok());
  CHECK_FALSE(first->get(key(1))->has_value());
}

TEST_CASE("rewrite_store: racing gateways agree on every message", "[rewrite_store]") {
  TempDir dir;
  const fs::path path = dir.path / "rewrite.db";
  constexpr std::uint32_t count = 150;
  // Each "gateway" has its own connection and decides differently for every message.
  auto one = open_store(path);
  auto two = open_store(path);
  std::vector<StoredMessage> seen_one(count + 1);
  std::vector<StoredMessage> seen_two(count + 1);
  const auto run = [&](RewriteStore& store, std::vector<StoredMessage>& seen, bool rewrite,
                       std::string& error) {
    for (std::uint32_t uid = 1; uid <= count; ++uid) {
      auto result = store.put_if_absent(key(uid), rewrite ? rewritten('w') : original("lost"));
      if (!result) {
        error = result.error().message;
        return;
      }
      seen[uid] = std::move(result).value();
    }
  };
  std::string error_one;
  std::string error_two;
  std::thread a([&] { run(*one, seen_one, false, error_one); });
  std::thread b([&] { run(*two, seen_two, true, error_two); });
  a.join();
  b.join();
  REQUIRE(error_one.empty());
  REQUIRE(error_two.empty());
  for (std::uint32_t uid = 1; uid <= count; ++uid) {
    INFO("UID " << uid);
    CHECK(seen_one[uid] == seen_two[uid]);
    CHECK(stored(*one, key(uid)) == seen_one[uid]);
  }
}

TEST_CASE("rewrite_store: a new UIDVALIDITY forgets the mailbox's other ones", "[rewrite_store]") {
  TempDir dir;
  auto store = open_store(dir.path / "rewrite.db");
  REQUIRE(store->put_if_absent(key(1, 6), rewritten('o')).ok());
  REQUIRE(store->put_if_absent(key(2, 5), original("x")).ok());
  REQUIRE(store->put_if_absent(key(1, 7), original("graph: not_found")).ok());
  REQUIRE(
      store->put_if_absent(MessageKey{"alice@contoso.com", "Archive", 6, 1}, original("a")).ok());
  REQUIRE(store->put_if_absent(MessageKey{"bob@contoso.com", "INBOX", 6, 1}, original("b")).ok());

  REQUIRE(store->forget_other_uidvalidity("Alice@Contoso.com", "inbox", 7).ok());
  CHECK_FALSE(store->get(key(1, 6))->has_value());
  CHECK_FALSE(store->get(key(2, 5))->has_value());
  CHECK(stored(*store, key(1, 7)) == original("graph: not_found"));
  CHECK(stored(*store, MessageKey{"alice@contoso.com", "Archive", 6, 1}).reason == "a");
  CHECK(stored(*store, MessageKey{"bob@contoso.com", "INBOX", 6, 1}).reason == "b");

  // A forgotten message can be decided afresh (it is another message now).
  auto fresh = store->put_if_absent(key(1, 6), original("new"));
  REQUIRE(fresh.ok());
  CHECK(*fresh == original("new"));
}

TEST_CASE("rewrite_store: forgetting a user removes all of theirs", "[rewrite_store]") {
  TempDir dir;
  const fs::path path = dir.path / "rewrite.db";
  auto store = open_store(path);
  const std::vector<std::uint32_t> uids{1, 2, 3};
  REQUIRE(store->put_plain("alice@contoso.com", "INBOX", 7, uids).ok());
  REQUIRE(store->put_plain("alice@contoso.com", "Archive", 9, uids).ok());
  REQUIRE(store->put_if_absent(key(4), rewritten('a')).ok());
  REQUIRE(store->put_if_absent(MessageKey{"bob@contoso.com", "INBOX", 7, 4}, rewritten('b')).ok());

  auto removed = store->forget_user("ALICE@contoso.com");
  REQUIRE(removed.ok());
  CHECK(*removed == 7);
  CHECK(store->states("alice@contoso.com", "INBOX", 7, uids)->empty());
  CHECK(store->states("alice@contoso.com", "Archive", 9, uids)->empty());
  CHECK_FALSE(store->get(key(4))->has_value());
  CHECK(stored(*store, MessageKey{"bob@contoso.com", "INBOX", 7, 4}) == rewritten('b'));
  CHECK(*store->forget_user("alice@contoso.com") == 0);

  // The message bytes went with the decisions.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM rewritten_message", -1, &stmt, nullptr) ==
          SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  CHECK(sqlite3_column_int(stmt, 0) == 1);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_CASE("rewrite_store: a damaged rewritten message is an error, never served",
          "[rewrite_store]") {
  TempDir dir;
  const fs::path path = dir.path / "rewrite.db";
  auto store = open_store(path);
  REQUIRE(store->put_if_absent(key(1), rewritten('a')).ok());
  REQUIRE(stored(*store, key(1)) == rewritten('a'));

  SECTION("other bytes of the same length") {
    std::string other = rewritten_bytes('a');
    other[100] = static_cast<char>(other[100] ^ 1);
    const std::string body = zlib(other);
    tamper(path, "UPDATE rewritten_message SET body = ?1", &body);
  }
  SECTION("a broken zlib stream") {
    std::string body = zlib(rewritten_bytes('a'));
    body[body.size() / 2] = static_cast<char>(body[body.size() / 2] ^ 0x55);
    tamper(path, "UPDATE rewritten_message SET body = ?1", &body);
  }
  SECTION("trailing bytes after the stream") {
    const std::string body = zlib(rewritten_bytes('a')) + "x";
    tamper(path, "UPDATE rewritten_message SET body = ?1", &body);
  }
  SECTION("a wrong length") {
    tamper(path, "UPDATE rewritten_message SET size = size - 1");
  }
  SECTION("a huge length") {
    tamper(path, "UPDATE rewritten_message SET size = 1 << 40");
  }
  SECTION("a wrong digest") {
    const std::string digest(32, '\0');
    tamper(path, "UPDATE rewritten_message SET sha256 = ?1", &digest);
  }
  SECTION("the message row is gone") {
    tamper(path, "DELETE FROM rewritten_message");
  }
  SECTION("an unknown state") {
    // The schema's CHECK would refuse it; an old or foreign writer might not have one.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "PRAGMA ignore_check_constraints = 1;"
                         "UPDATE message_decision SET state = 'weird'",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
    const std::vector<std::uint32_t> uids{1};
    CHECK_FALSE(store->states("alice@contoso.com", "INBOX", 7, uids).ok());
  }

  auto got = store->get(key(1));
  REQUIRE_FALSE(got.ok());
  CHECK(got.error().message.find(path.string()) != std::string::npos);
  CHECK(got.error().message.find("UID 1") != std::string::npos);
  CHECK(got.error().message.find("alice") == std::string::npos); // no user names in errors
  // The decision still stands: a later decision does not replace it either.
  CHECK_FALSE(store->put_if_absent(key(1), original("x")).ok());
}

TEST_CASE("rewrite_store: an unusable path is an error naming it", "[rewrite_store]") {
  TempDir dir;
  SECTION("a directory that cannot be created") {
    const fs::path blocker = dir.path / "not-a-directory";
    std::ofstream(blocker) << "x";
    const std::string path = (blocker / "state" / "rewrite.db").string();
    auto store = RewriteStore::open(path);
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().message.find(path) != std::string::npos);
  }
  SECTION("a file that cannot be opened") {
    const std::string path = (dir.path / "a-directory").string();
    fs::create_directory(path);
    auto store = RewriteStore::open(path);
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().message.find(path) != std::string::npos);
  }
  SECTION("a file that is not a database") {
    const std::string path = (dir.path / "notes.txt").string();
    std::ofstream(path) << std::string(4096, 'x');
    auto store = RewriteStore::open(path);
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().message.find(path) != std::string::npos);
  }
  SECTION("a schema from a newer icalgate") {
    const fs::path path = dir.path / "rewrite.db";
    open_store(path);
    tamper(path, "PRAGMA user_version = 99");
    auto store = RewriteStore::open(path.string());
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().message.find(path.string()) != std::string::npos);
    CHECK(store.error().message.find("99") != std::string::npos);
  }
  SECTION("no path") {
    CHECK_FALSE(RewriteStore::open("").ok());
  }
}

TEST_CASE("rewrite_store: an in-memory store works alike", "[rewrite_store]") {
  auto opened = RewriteStore::open(":memory:");
  REQUIRE(opened.ok());
  auto& store = **opened;
  REQUIRE(store.put_if_absent(key(1), rewritten('m')).ok());
  CHECK(stored(store, key(1)) == rewritten('m'));
  CHECK(store.put_if_absent(key(1), original("x"))->state == MessageState::rewritten);
  CHECK_FALSE(fs::exists(":memory:"));
}

TEST_CASE("how far a mailbox is decided only grows, per UIDVALIDITY", "[rewrite_store]") {
  auto store = icalgate::proxy::RewriteStore::open(":memory:");
  REQUIRE(store.ok());
  auto& s = **store;
  auto through = [&](std::uint32_t uidvalidity) {
    auto v = s.decided_through("Alice@Contoso.com", "INBOX", uidvalidity);
    REQUIRE(v.ok());
    return *v;
  };
  CHECK(through(7) == 0);
  REQUIRE(s.raise_decided_through("alice@contoso.com", "inbox", 7, 120).ok());
  REQUIRE(s.raise_decided_through("alice@contoso.com", "INBOX", 7, 80).ok());
  CHECK(through(7) == 120);
  CHECK(through(8) == 0);
  REQUIRE(s.forget_other_uidvalidity("alice@contoso.com", "INBOX", 8).ok());
  CHECK(through(7) == 0);
}

TEST_CASE("the rewritten UIDs of a range", "[rewrite_store]") {
  using icalgate::proxy::MessageState;
  auto store = icalgate::proxy::RewriteStore::open(":memory:");
  REQUIRE(store.ok());
  auto& s = **store;
  const std::uint32_t plain[] = {1, 2, 4, 6};
  REQUIRE(s.put_plain("alice@contoso.com", "INBOX", 7, plain).ok());
  for (std::uint32_t uid : {3u, 5u, 9u}) {
    REQUIRE(s.put_if_absent({"alice@contoso.com", "INBOX", 7, uid},
                            {MessageState::rewritten, "", "Subject: x\r\n\r\nbody\r\n"})
                .ok());
  }
  REQUIRE(
      s.put_if_absent({"alice@contoso.com", "INBOX", 7, 7}, {MessageState::original, "graph", ""})
          .ok());
  auto some = s.rewritten_between("alice@contoso.com", "INBOX", 7, 2, 8);
  REQUIRE(some.ok());
  CHECK(*some == std::vector<std::uint32_t>{3, 5});
  auto none = s.rewritten_between("alice@contoso.com", "Sent", 7, 1, 100);
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("rewrite_store: an announcement lasts until the message is decided, across reopening",
          "[rewrite_store]") {
  using icalgate::proxy::Announced;
  TempDir dir;
  const fs::path file = dir.path / "state.db";
  const Announced first{9000, "_icalgate_0123456789abcdef", R"({"value":[]})"};
  {
    auto store = open_store(file);
    auto stored = store->announce(key(5), first);
    REQUIRE(stored.ok());
    REQUIRE(stored->has_value());
    CHECK(**stored == first);
    // The first announcement wins, as decisions do.
    auto second = store->announce(key(5), Announced{100, "", "{}"});
    REQUIRE(second.ok());
    CHECK(**second == first);
    // Undecided still: states() does not name it.
    const std::uint32_t uids[] = {5, 6};
    CHECK(store->states("alice@contoso.com", "INBOX", 7, uids)->empty());
  }
  auto store = open_store(file);
  auto found = store->announcements("ALICE@contoso.com", "inbox", 7, 4, 5, false);
  REQUIRE(found.ok());
  REQUIRE(found->size() == 1);
  CHECK(found->at(5) == Announced{9000, first.boundary, ""});
  CHECK(store->announcements("alice@contoso.com", "INBOX", 7, 1, 9, true)->at(5) == first);
  // Copies take it along; another UIDVALIDITY forgets it.
  const std::pair<std::uint32_t, std::uint32_t> copy[] = {{5, 50}};
  REQUIRE(store->copy_decisions("alice@contoso.com", "INBOX", 7, "Archive", 3, copy).ok());
  CHECK(store->announcements("alice@contoso.com", "Archive", 3, 50, 50, true)->at(50) == first);
  REQUIRE(store->forget_other_uidvalidity("alice@contoso.com", "Archive", 4).ok());
  CHECK(store->announcements("alice@contoso.com", "Archive", 3, 50, 50, true)->empty());
  // Deciding the message removes it, and a decided message takes none.
  REQUIRE(store->put_if_absent(key(5), StoredMessage{MessageState::rewritten, "", "bytes"}).ok());
  CHECK(store->announcements("alice@contoso.com", "INBOX", 7, 4, 5, false)->empty());
  auto late = store->announce(key(5), first);
  REQUIRE(late.ok());
  CHECK_FALSE(late->has_value());
}

TEST_CASE("rewrite_store: a user's first text bodies are kept across reopening, and go with the "
          "user",
          "[rewrite_store]") {
  TempDir dir;
  const fs::path path = dir.path / "rewrite.db";
  {
    auto store = open_store(path);
    CHECK(*store->first_bodies("alice@contoso.com") == FirstBodies{});
    REQUIRE(store->keep_first_bodies("Alice@Contoso.com", FirstBodies{40, 10}).ok());
    REQUIRE(store->keep_first_bodies("bob@contoso.com", FirstBodies{1, 2}).ok());
    REQUIRE(store->keep_first_bodies("alice@contoso.com", FirstBodies{41, 10}).ok());
  }
  {
    auto store = open_store(path);
    CHECK(*store->first_bodies("ALICE@contoso.com") == FirstBodies{41, 10});
    CHECK(*store->first_bodies("bob@contoso.com") == FirstBodies{1, 2});
    REQUIRE(store->forget_user("alice@contoso.com").ok());
    CHECK(*store->first_bodies("alice@contoso.com") == FirstBodies{});
    CHECK(*store->first_bodies("bob@contoso.com") == FirstBodies{1, 2});
    REQUIRE(store->put_if_absent(key(4), rewritten('a')).ok());
  }
  // A store of the previous schema version gains the table and keeps its decisions.
  tamper(path, "DROP TABLE user_first_bodies");
  tamper(path, "PRAGMA user_version = 3");
  auto store = open_store(path);
  CHECK(stored(*store, key(4)) == rewritten('a'));
  CHECK(*store->first_bodies("bob@contoso.com") == FirstBodies{});
  REQUIRE(store->keep_first_bodies("bob@contoso.com", FirstBodies{3, 4}).ok());
  CHECK(*store->first_bodies("bob@contoso.com") == FirstBodies{3, 4});
}
