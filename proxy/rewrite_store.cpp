#include "proxy/rewrite_store.hpp"

#include "proxy/sqlite_statement.hpp"

#include <openssl/evp.h>
#include <sqlite3.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <vector>

namespace icalgate::proxy {

using protocol::Errc;
using protocol::Error;
using protocol::make_error;
using protocol::Result;

std::string_view to_string(MessageState state) {
  switch (state) {
  case MessageState::plain:
    return "plain";
  case MessageState::original:
    return "original";
  case MessageState::rewritten:
    return "rewritten";
  }
  return "unknown";
}

namespace {

// protocol::Errc has no code for "the database failed"; callers treat every store error
// alike (serve the original, count, log), so the code only separates a row that must not be
// served from everything else.
constexpr Errc storage_failure = Errc::unsupported;
constexpr Errc corrupt_row = Errc::syntax;

constexpr int schema_version = 4;
// Rewritten messages are mostly text; speed matters more than the last few percent because
// compression runs on the io thread.
constexpr int compression_level = Z_BEST_SPEED;
constexpr std::size_t sha256_size = 32;

// The decision is a small row read in bulk by states(); the bytes of the few rewritten
// messages live in a table of their own so that those reads never touch them.
constexpr const char* schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS message_decision (
  user        TEXT    NOT NULL,  -- lower-cased
  mailbox     TEXT    NOT NULL,
  uidvalidity INTEGER NOT NULL,
  uid         INTEGER NOT NULL,
  state       TEXT    NOT NULL CHECK (state IN ('plain', 'original', 'rewritten')),
  reason      TEXT    NOT NULL,
  PRIMARY KEY (user, mailbox, uidvalidity, uid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rewritten_message (
  user        TEXT    NOT NULL,
  mailbox     TEXT    NOT NULL,
  uidvalidity INTEGER NOT NULL,
  uid         INTEGER NOT NULL,
  size        INTEGER NOT NULL,  -- of the message, before compression
  sha256      BLOB    NOT NULL,  -- of the message, before compression
  body        BLOB    NOT NULL,  -- zlib stream
  PRIMARY KEY (user, mailbox, uidvalidity, uid)
);
CREATE TABLE IF NOT EXISTS mailbox_progress (
  user            TEXT    NOT NULL,
  mailbox         TEXT    NOT NULL,
  uidvalidity     INTEGER NOT NULL,
  decided_through INTEGER NOT NULL,
  PRIMARY KEY (user, mailbox, uidvalidity)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS announced_message (
  user        TEXT    NOT NULL,
  mailbox     TEXT    NOT NULL,
  uidvalidity INTEGER NOT NULL,
  uid         INTEGER NOT NULL,
  size        INTEGER NOT NULL,  -- the rewritten message's RFC822.SIZE, as announced
  boundary    TEXT    NOT NULL,  -- of the wrapping multipart/alternative; '' for none
  event       BLOB    NOT NULL,  -- the Graph response the rewrite is built from
  PRIMARY KEY (user, mailbox, uidvalidity, uid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS user_first_bodies (
  user  TEXT    NOT NULL PRIMARY KEY,
  html  INTEGER NOT NULL,
  plain INTEGER NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 4;
)sql";

constexpr const char* key_match = "user = ?1 AND mailbox = ?2 AND uidvalidity = ?3";

std::string normalize_user(std::string_view user) {
  std::string out(user);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

std::string normalize_mailbox(std::string_view mailbox) {
  if (mailbox.size() == 5) {
    std::string upper(mailbox);
    for (char& c : upper) {
      if (c >= 'a' && c <= 'z') {
        c = static_cast<char>(c - 'a' + 'A');
      }
    }
    if (upper == "INBOX") {
      return upper;
    }
  }
  return std::string(mailbox);
}

std::optional<MessageState> parse_state(std::string_view text) {
  if (text == "plain") {
    return MessageState::plain;
  }
  if (text == "original") {
    return MessageState::original;
  }
  if (text == "rewritten") {
    return MessageState::rewritten;
  }
  return std::nullopt;
}

bool sha256(std::string_view data, std::array<unsigned char, sha256_size>& out) {
  unsigned int size = 0;
  return EVP_Digest(data.data(), data.size(), out.data(), &size, EVP_sha256(), nullptr) == 1 &&
         size == sha256_size;
}

// What a rewritten message becomes in its row.
struct PackedMessage {
  std::array<unsigned char, sha256_size> digest{};
  std::string body;
};

std::optional<PackedMessage> pack(std::string_view bytes) {
  PackedMessage packed;
  if (!sha256(bytes, packed.digest)) {
    return std::nullopt;
  }
  uLongf size = compressBound(static_cast<uLong>(bytes.size()));
  packed.body.resize(size);
  if (compress2(reinterpret_cast<Bytef*>(packed.body.data()), &size,
                reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uLong>(bytes.size()),
                compression_level) != Z_OK) {
    return std::nullopt;
  }
  packed.body.resize(size);
  return packed;
}

using sqlite::column_blob;
using sqlite::column_text;
using sqlite::Database;
using sqlite::Statement;
using sqlite::Use;

// user ?1, mailbox ?2, uidvalidity ?3: the leading key columns of every statement.
Use& bind_mailbox(Use& use, std::string_view user, std::string_view mailbox,
                  std::uint32_t uidvalidity) {
  return use.text(1, user).text(2, mailbox).integer(3, uidvalidity);
}

class SqliteRewriteStore final : public RewriteStore {
 public:
  static Result<std::unique_ptr<RewriteStore>> open_file(const std::string& path);

  Result<std::map<std::uint32_t, MessageState>>
  states(std::string_view user, std::string_view mailbox, std::uint32_t uidvalidity,
         std::span<const std::uint32_t> uids) override;
  Result<std::map<std::uint32_t, MessageState>>
  states_between(std::string_view user, std::string_view mailbox, std::uint32_t uidvalidity,
                 std::uint32_t first, std::uint32_t last) override;
  Result<std::optional<StoredMessage>> get(const MessageKey& key) override;
  Result<StoredMessage> put_if_absent(const MessageKey& key, const StoredMessage& message) override;
  Result<Done> put_plain(std::string_view user, std::string_view mailbox, std::uint32_t uidvalidity,
                         std::span<const std::uint32_t> uids) override;
  Result<std::optional<Announced>> announce(const MessageKey& key,
                                            const Announced& announced) override;
  Result<std::map<std::uint32_t, Announced>>
  announcements(std::string_view user, std::string_view mailbox, std::uint32_t uidvalidity,
                std::uint32_t first, std::uint32_t last, bool with_event) override;
  Result<std::size_t>
  copy_decisions(std::string_view user, std::string_view from_mailbox,
                 std::uint32_t from_uidvalidity, std::string_view to_mailbox,
                 std::uint32_t to_uidvalidity,
                 std::span<const std::pair<std::uint32_t, std::uint32_t>> uids) override;
  Result<Done> forget_other_uidvalidity(std::string_view user, std::string_view mailbox,
                                        std::uint32_t uidvalidity) override;
  Result<FirstBodies> first_bodies(std::string_view user) override;
  Result<Done> keep_first_bodies(std::string_view user, const FirstBodies& kinds) override;
  Result<std::size_t> forget_user(std::string_view user) override;
  Result<std::uint32_t> decided_through(std::string_view user, std::string_view mailbox,
                                        std::uint32_t uidvalidity) override;
  Result<Done> raise_decided_through(std::string_view user, std::string_view mailbox,
                                     std::uint32_t uidvalidity, std::uint32_t uid) override;
  Result<std::vector<std::uint32_t>>
  rewritten_between(std::string_view user, std::string_view mailbox, std::uint32_t uidvalidity,
                    std::uint32_t first, std::uint32_t last) override;

 private:
  // Rolls back unless committed, so every early error return leaves no transaction open.
  class Transaction {
   public:
    Transaction(SqliteRewriteStore& store, const Statement& begin) : store_(store) {
      Use use(begin);
      begun_ = use.step() == SQLITE_DONE;
    }
    ~Transaction() {
      if (begun_) {
        Use use(store_.rollback_);
        (void)use.step();
      }
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    bool begun() const { return begun_; }
    bool commit() {
      Use use(store_.commit_);
      if (use.step() != SQLITE_DONE) {
        return false; // the destructor rolls back
      }
      begun_ = false;
      return true;
    }

   private:
    SqliteRewriteStore& store_;
    bool begun_ = false;
  };

  explicit SqliteRewriteStore(std::string path) : path_(std::move(path)) {}

  sqlite::Origin origin() const { return {storage_failure, "rewrite state '" + path_ + "'"}; }
  Error failure(std::string_view what) const { return origin().failure(db_.get(), what); }
  Error corrupt(const MessageKey& key, std::string_view what) const {
    return make_error(corrupt_row, "rewrite state '" + path_ + "': UID " + std::to_string(key.uid) +
                                       " (UIDVALIDITY " + std::to_string(key.uidvalidity) +
                                       "): " + std::string(what));
  }
  Result<Done> create_schema();
  Result<Done> prepare_all();
  // Reads one decision; `key` is normalized. The caller holds mutex_.
  Result<std::optional<StoredMessage>> read(const MessageKey& key);

  std::string path_;
  std::mutex mutex_;
  Database db_; // declared before the statements: destroyed after them
  Statement begin_read_, begin_write_, commit_, rollback_;
  Statement select_range_, select_state_, select_message_;
  Statement insert_decision_, insert_message_, copy_decision_, copy_message_;
  Statement delete_other_messages_, delete_other_decisions_;
  Statement delete_user_messages_, delete_user_decisions_;
  Statement select_progress_, raise_progress_, select_rewritten_;
  Statement delete_other_progress_, delete_user_progress_;
  Statement insert_announced_, select_announced_, select_announced_range_;
  Statement delete_announced_, copy_announced_;
  Statement delete_other_announced_, delete_user_announced_;
  Statement select_first_bodies_, keep_first_bodies_, delete_user_first_bodies_;
};

Result<RewriteStore::Done> SqliteRewriteStore::create_schema() {
  auto found = sqlite::create_schema(db_.get(), schema_sql, schema_version, origin());
  if (!found) {
    return found.error();
  }
  if (*found > schema_version) {
    return origin().error("schema version " + std::to_string(*found) +
                          " is newer than this icalgate's (" + std::to_string(schema_version) +
                          ")");
  }
  return Done{};
}

Result<RewriteStore::Done> SqliteRewriteStore::prepare_all() {
  const std::string key = key_match;
  const std::pair<Statement*, std::string> statements[] = {
      {&begin_read_, "BEGIN"},
      {&begin_write_, "BEGIN IMMEDIATE"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      {&select_range_, "SELECT uid, state FROM message_decision WHERE " + key +
                           " AND uid BETWEEN ?4 AND ?5 ORDER BY uid"},
      {&select_state_, "SELECT state FROM message_decision WHERE " + key + " AND uid = ?4"},
      {&select_message_,
       "SELECT d.state, d.reason, m.size, m.sha256, m.body FROM message_decision AS d "
       "LEFT JOIN rewritten_message AS m ON m.user = d.user AND m.mailbox = d.mailbox AND "
       "m.uidvalidity = d.uidvalidity AND m.uid = d.uid "
       "WHERE d.user = ?1 AND d.mailbox = ?2 AND d.uidvalidity = ?3 AND d.uid = ?4"},
      {&insert_decision_,
       "INSERT INTO message_decision (user, mailbox, uidvalidity, uid, state, reason) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING"},
      // A leftover row of a decision removed by hand must not block the new one.
      {&insert_message_,
       "INSERT INTO rewritten_message (user, mailbox, uidvalidity, uid, size, sha256, body) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO UPDATE SET size = excluded.size, "
       "sha256 = excluded.sha256, body = excluded.body"},
      // The source ?1-?4, the copy ?5-?6 (mailbox, UIDVALIDITY) and ?7 (UID). The WHERE
      // clause keeps SQLite from reading ON CONFLICT as a join constraint.
      {&copy_decision_,
       "INSERT INTO message_decision (user, mailbox, uidvalidity, uid, state, reason) "
       "SELECT user, ?5, ?6, ?7, state, reason FROM message_decision WHERE " +
           key + " AND uid = ?4 ON CONFLICT DO NOTHING"},
      {&copy_message_,
       "INSERT INTO rewritten_message (user, mailbox, uidvalidity, uid, size, sha256, body) "
       "SELECT user, ?5, ?6, ?7, size, sha256, body FROM rewritten_message WHERE " +
           key +
           " AND uid = ?4 ON CONFLICT DO UPDATE SET size = excluded.size, "
           "sha256 = excluded.sha256, body = excluded.body"},
      {&delete_other_messages_,
       "DELETE FROM rewritten_message WHERE user = ?1 AND mailbox = ?2 AND uidvalidity <> ?3"},
      {&delete_other_decisions_,
       "DELETE FROM message_decision WHERE user = ?1 AND mailbox = ?2 AND uidvalidity <> ?3"},
      {&delete_user_messages_, "DELETE FROM rewritten_message WHERE user = ?1"},
      {&delete_user_decisions_, "DELETE FROM message_decision WHERE user = ?1"},
      {&select_progress_, "SELECT decided_through FROM mailbox_progress WHERE " + key},
      {&raise_progress_,
       "INSERT INTO mailbox_progress (user, mailbox, uidvalidity, decided_through) "
       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET decided_through = "
       "max(decided_through, excluded.decided_through)"},
      {&select_rewritten_, "SELECT uid FROM message_decision WHERE " + key +
                               " AND uid BETWEEN ?4 AND ?5 AND state = 'rewritten' ORDER BY uid"},
      {&delete_other_progress_,
       "DELETE FROM mailbox_progress WHERE user = ?1 AND mailbox = ?2 AND uidvalidity <> ?3"},
      {&delete_user_progress_, "DELETE FROM mailbox_progress WHERE user = ?1"},
      {&insert_announced_,
       "INSERT INTO announced_message (user, mailbox, uidvalidity, uid, size, boundary, event) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING"},
      {&select_announced_, "SELECT size, boundary, CASE WHEN ?5 THEN event ELSE '' END "
                           "FROM announced_message WHERE " +
                               key + " AND uid = ?4"},
      {&select_announced_range_, "SELECT uid, size, boundary, CASE WHEN ?6 THEN event ELSE '' END "
                                 "FROM announced_message WHERE " +
                                     key + " AND uid BETWEEN ?4 AND ?5 ORDER BY uid"},
      {&delete_announced_, "DELETE FROM announced_message WHERE " + key + " AND uid = ?4"},
      {&copy_announced_,
       "INSERT INTO announced_message (user, mailbox, uidvalidity, uid, size, boundary, event) "
       "SELECT user, ?5, ?6, ?7, size, boundary, event FROM announced_message WHERE " +
           key + " AND uid = ?4 ON CONFLICT DO NOTHING"},
      {&delete_other_announced_,
       "DELETE FROM announced_message WHERE user = ?1 AND mailbox = ?2 AND uidvalidity <> ?3"},
      {&select_first_bodies_, "SELECT html, plain FROM user_first_bodies WHERE user = ?1"},
      {&keep_first_bodies_,
       "INSERT INTO user_first_bodies (user, html, plain) VALUES (?1, ?2, ?3) "
       "ON CONFLICT DO UPDATE SET html = excluded.html, plain = excluded.plain"},
      {&delete_user_first_bodies_, "DELETE FROM user_first_bodies WHERE user = ?1"},
      {&delete_user_announced_, "DELETE FROM announced_message WHERE user = ?1"},
  };
  for (const auto& [slot, sql] : statements) {
    *slot = sqlite::prepare_persistent(db_.get(), sql);
    if (!*slot) {
      return failure("preparing statements");
    }
  }
  return Done{};
}

Result<std::unique_ptr<RewriteStore>> SqliteRewriteStore::open_file(const std::string& path) {
  const auto fail = [&](const std::string& what) {
    return make_error(storage_failure, "rewrite state '" + path + "': " + what);
  };
  if (path.empty()) {
    return fail("no path given");
  }
  std::unique_ptr<SqliteRewriteStore> store(new SqliteRewriteStore(path));
  auto db = sqlite::open_database(path, store->origin());
  if (!db) {
    return db.error();
  }
  store->db_ = std::move(*db);
  // With WAL, NORMAL syncs at checkpoints instead of at every commit: a commit survives the
  // gateway crashing or restarting, and only the last ones can be lost to a power failure (the
  // messages are then decided again). FULL would put an fsync on the io thread per decision.
  if (sqlite3_exec(store->db_.get(), "PRAGMA synchronous = NORMAL", nullptr, nullptr, nullptr) !=
      SQLITE_OK) {
    return store->failure("setting the sync mode");
  }

  // The tables first: statements naming them cannot be prepared before they exist.
  if (auto created = store->create_schema(); !created) {
    return created.error();
  }
  if (auto prepared = store->prepare_all(); !prepared) {
    return prepared.error();
  }
  return std::unique_ptr<RewriteStore>(std::move(store));
}

Result<std::map<std::uint32_t, MessageState>>
SqliteRewriteStore::states(std::string_view user, std::string_view mailbox,
                           std::uint32_t uidvalidity, std::span<const std::uint32_t> uids) {
  std::vector<std::uint32_t> wanted(uids.begin(), uids.end());
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  std::map<std::uint32_t, MessageState> out;
  if (wanted.empty()) {
    return out;
  }
  const std::string u = normalize_user(user);
  const std::string m = normalize_mailbox(mailbox);

  std::lock_guard lock(mutex_);
  Transaction tx(*this, begin_read_);
  if (!tx.begun()) {
    return failure("reading states");
  }
  const auto add = [&](std::uint32_t uid, std::string_view text) -> bool {
    const auto state = parse_state(text);
    if (state) {
      out.emplace_hint(out.end(), uid, *state);
    }
    return state.has_value();
  };
  int rc = SQLITE_DONE;
  // A dense set (a header sync's 1:*) is one range scan; a sparse one, lookups by UID.
  const std::uint64_t range = std::uint64_t{wanted.back()} - wanted.front() + 1;
  if (range <= 2 * wanted.size() + 64) {
    Use q(select_range_);
    bind_mailbox(q, u, m, uidvalidity).integer(4, wanted.front()).integer(5, wanted.back());
    while ((rc = q.step()) == SQLITE_ROW) {
      const auto uid = static_cast<std::uint32_t>(sqlite3_column_int64(q.get(), 0));
      if (std::binary_search(wanted.begin(), wanted.end(), uid) &&
          !add(uid, column_text(q.get(), 1))) {
        return corrupt(MessageKey{u, m, uidvalidity, uid}, "unknown state");
      }
    }
  } else {
    Use q(select_state_);
    bind_mailbox(q, u, m, uidvalidity);
    for (const std::uint32_t uid : wanted) {
      q.integer(4, uid);
      rc = q.step();
      if (rc == SQLITE_ROW) {
        if (!add(uid, column_text(q.get(), 0))) {
          return corrupt(MessageKey{u, m, uidvalidity, uid}, "unknown state");
        }
        rc = SQLITE_DONE;
      }
      q.reset();
      if (rc != SQLITE_DONE) {
        break;
      }
    }
  }
  if (rc != SQLITE_DONE || !tx.commit()) {
    return failure("reading states");
  }
  return out;
}

Result<std::map<std::uint32_t, MessageState>>
SqliteRewriteStore::states_between(std::string_view user, std::string_view mailbox,
                                   std::uint32_t uidvalidity, std::uint32_t first,
                                   std::uint32_t last) {
  const std::string u = normalize_user(user);
  const std::string m = normalize_mailbox(mailbox);
  std::map<std::uint32_t, MessageState> out;
  std::lock_guard lock(mutex_);
  Use q(select_range_);
  bind_mailbox(q, u, m, uidvalidity).integer(4, first).integer(5, last);
  int rc = SQLITE_DONE;
  while ((rc = q.step()) == SQLITE_ROW) {
    const auto uid = static_cast<std::uint32_t>(sqlite3_column_int64(q.get(), 0));
    const auto state = parse_state(column_text(q.get(), 1));
    if (!state) {
      return corrupt(MessageKey{u, m, uidvalidity, uid}, "unknown state");
    }
    out.emplace_hint(out.end(), uid, *state);
  }
  if (rc != SQLITE_DONE) {
    return failure("reading states");
  }
  return out;
}

Result<std::optional<StoredMessage>> SqliteRewriteStore::read(const MessageKey& key) {
  Use q(select_message_);
  bind_mailbox(q, key.user, key.mailbox, key.uidvalidity).integer(4, key.uid);
  const int rc = q.step();
  if (rc == SQLITE_DONE) {
    return std::optional<StoredMessage>();
  }
  if (rc != SQLITE_ROW) {
    return failure("reading a message");
  }
  sqlite3_stmt* row = q.get();
  const auto state = parse_state(column_text(row, 0));
  if (!state) {
    return corrupt(key, "unknown state");
  }
  StoredMessage message{*state, std::string(column_text(row, 1)), {}};
  if (*state != MessageState::rewritten) {
    return std::optional<StoredMessage>(std::move(message));
  }
  if (sqlite3_column_type(row, 2) != SQLITE_INTEGER) {
    return corrupt(key, "the rewritten message is missing");
  }
  const std::int64_t size = sqlite3_column_int64(row, 2);
  const std::string_view digest = column_blob(row, 3);
  const std::string_view body = column_blob(row, 4);
  if (size <= 0 || static_cast<std::uint64_t>(size) > max_message_bytes ||
      digest.size() != sha256_size) {
    return corrupt(key, "the rewritten message has a bad size or digest");
  }
  message.bytes.resize(static_cast<std::size_t>(size));
  uLongf produced = static_cast<uLongf>(size);
  uLong consumed = static_cast<uLong>(body.size());
  if (uncompress2(reinterpret_cast<Bytef*>(message.bytes.data()), &produced,
                  reinterpret_cast<const Bytef*>(body.data()), &consumed) != Z_OK ||
      produced != static_cast<uLongf>(size) || consumed != body.size()) {
    return corrupt(key, "the rewritten message does not decompress to its length");
  }
  std::array<unsigned char, sha256_size> actual{};
  if (!sha256(message.bytes, actual)) {
    return failure("hashing");
  }
  if (std::memcmp(actual.data(), digest.data(), sha256_size) != 0) {
    return corrupt(key, "the rewritten message fails its SHA-256 check");
  }
  return std::optional<StoredMessage>(std::move(message));
}

Result<std::optional<StoredMessage>> SqliteRewriteStore::get(const MessageKey& key) {
  const MessageKey k{normalize_user(key.user), normalize_mailbox(key.mailbox), key.uidvalidity,
                     key.uid};
  std::lock_guard lock(mutex_);
  return read(k);
}

Result<StoredMessage> SqliteRewriteStore::put_if_absent(const MessageKey& key,
                                                        const StoredMessage& message) {
  const MessageKey k{normalize_user(key.user), normalize_mailbox(key.mailbox), key.uidvalidity,
                     key.uid};
  if (k.user.empty() || k.uid == 0 || k.uidvalidity == 0) {
    return make_error(Errc::syntax, "rewrite state: a message needs a user, UIDVALIDITY and UID");
  }
  const bool rewritten = message.state == MessageState::rewritten;
  std::optional<PackedMessage> packed;
  if (rewritten) {
    if (message.bytes.empty() || message.bytes.size() > max_message_bytes) {
      return make_error(Errc::too_many, "rewrite state: a rewritten message must have 1 byte to "
                                        "1 GiB");
    }
    // Before the write lock: compression is the slow part.
    packed = pack(message.bytes);
    if (!packed) {
      return make_error(storage_failure, "rewrite state: cannot compress or hash a message");
    }
  }

  std::lock_guard lock(mutex_);
  Transaction tx(*this, begin_write_);
  if (!tx.begun()) {
    return failure("storing a decision");
  }
  bool inserted = false;
  {
    Use q(insert_decision_);
    bind_mailbox(q, k.user, k.mailbox, k.uidvalidity)
        .integer(4, k.uid)
        .text(5, to_string(message.state))
        .text(6, message.reason);
    if (q.step() != SQLITE_DONE) {
      return failure("storing a decision");
    }
    inserted = sqlite3_changes(db_.get()) == 1;
  }
  if (!inserted) {
    // Someone decided first: serve what they stored.
    auto existing = read(k);
    if (!existing) {
      return existing.error();
    }
    if (!*existing) {
      return failure("the stored decision vanished");
    }
    if (!tx.commit()) {
      return failure("reading a decision");
    }
    return std::move(**existing);
  }
  {
    Use q(delete_announced_);
    if (bind_mailbox(q, k.user, k.mailbox, k.uidvalidity).integer(4, k.uid).step() != SQLITE_DONE) {
      return failure("storing a decision");
    }
  }
  if (rewritten) {
    Use q(insert_message_);
    bind_mailbox(q, k.user, k.mailbox, k.uidvalidity)
        .integer(4, k.uid)
        .integer(5, static_cast<std::int64_t>(message.bytes.size()))
        .blob(6, std::string_view(reinterpret_cast<const char*>(packed->digest.data()),
                                  packed->digest.size()))
        .blob(7, packed->body);
    if (q.step() != SQLITE_DONE) {
      return failure("storing a rewritten message");
    }
  }
  if (!tx.commit()) {
    return failure("storing a decision");
  }
  return StoredMessage{message.state, message.reason, rewritten ? message.bytes : std::string()};
}

Result<RewriteStore::Done> SqliteRewriteStore::put_plain(std::string_view user,
                                                         std::string_view mailbox,
                                                         std::uint32_t uidvalidity,
                                                         std::span<const std::uint32_t> uids) {
  const std::string u = normalize_user(user);
  const std::string m = normalize_mailbox(mailbox);
  if (u.empty() || uidvalidity == 0 || std::find(uids.begin(), uids.end(), 0U) != uids.end()) {
    return make_error(Errc::syntax, "rewrite state: a message needs a user, UIDVALIDITY and UID");
  }
  if (uids.empty()) {
    return Done{};
  }
  std::lock_guard lock(mutex_);
  Transaction tx(*this, begin_write_);
  if (!tx.begun()) {
    return failure("storing plain decisions");
  }
  Use q(insert_decision_);
  bind_mailbox(q, u, m, uidvalidity).text(5, to_string(MessageState::plain)).text(6, "");
  for (const std::uint32_t uid : uids) {
    q.integer(4, uid);
    const int rc = q.step();
    q.reset();
    if (rc != SQLITE_DONE) {
      return failure("storing plain decisions");
    }
  }
  if (!tx.commit()) {
    return failure("storing plain decisions");
  }
  return Done{};
}

Result<std::size_t>
SqliteRewriteStore::copy_decisions(std::string_view user, std::string_view from_mailbox,
                                   std::uint32_t from_uidvalidity, std::string_view to_mailbox,
                                   std::uint32_t to_uidvalidity,
                                   std::span<const std::pair<std::uint32_t, std::uint32_t>> uids) {
  const std::string u = normalize_user(user);
  const std::string from = normalize_mailbox(from_mailbox);
  const std::string to = normalize_mailbox(to_mailbox);
  const bool zero_uid = std::any_of(uids.begin(), uids.end(), [](const auto& pair) {
    return pair.first == 0 || pair.second == 0;
  });
  if (u.empty() || from_uidvalidity == 0 || to_uidvalidity == 0 || zero_uid) {
    return make_error(Errc::syntax, "rewrite state: a message needs a user, UIDVALIDITY and UID");
  }
  if (uids.empty()) {
    return std::size_t{0};
  }
  std::lock_guard lock(mutex_);
  Transaction tx(*this, begin_write_);
  if (!tx.begun()) {
    return failure("copying decisions");
  }
  std::size_t copied = 0;
  // Whether the statement copied a row; nullopt on failure.
  const auto copy_row = [&](const Statement& statement, std::uint32_t source,
                            std::uint32_t copy) -> std::optional<bool> {
    Use q(statement);
    bind_mailbox(q, u, from, from_uidvalidity)
        .integer(4, source)
        .text(5, to)
        .integer(6, to_uidvalidity)
        .integer(7, copy);
    if (q.step() != SQLITE_DONE) {
      return std::nullopt;
    }
    return sqlite3_changes(db_.get()) == 1;
  };
  for (const auto& [source, copy] : uids) {
    const auto decided = copy_row(copy_decision_, source, copy);
    // A decision goes with its bytes; without one (or when the copy has one, whose bytes stay
    // as they are), an announcement, if any.
    const auto rest = !decided   ? std::nullopt
                      : *decided ? copy_row(copy_message_, source, copy)
                                 : copy_row(copy_announced_, source, copy);
    if (!rest) {
      return failure("copying decisions");
    }
    copied += *decided ? 1 : 0;
  }
  if (!tx.commit()) {
    return failure("copying decisions");
  }
  return copied;
}

Result<RewriteStore::Done> SqliteRewriteStore::forget_other_uidvalidity(std::string_view user,
                                                                        std::string_view mailbox,
                                                                        std::uint32_t uidvalidity) {
  const std::string u = normalize_user(user);
  const std::string m = normalize_mailbox(mailbox);
  std::lock_guard lock(mutex_);
  Transaction tx(*this, begin_write_);
  if (!tx.begun()) {
    return failure("forgetting a UIDVALIDITY");
  }
  for (const Statement* stmt : {&delete_other_messages_, &delete_other_decisions_,
                                &delete_other_progress_, &delete_other_announced_}) {
    Use q(*stmt);
    if (bind_mailbox(q, u, m, uidvalidity).step() != SQLITE_DONE) {
      return failure("forgetting a UIDVALIDITY");
    }
  }
  if (!tx.commit()) {
    return failure("forgetting a UIDVALIDITY");
  }
  return Done{};
}

Result<std::size_t> SqliteRewriteStore::forget_user(std::string_view user) {
  const std::string u = normalize_user(user);
  std::lock_guard lock(mutex_);
  Transaction tx(*this, begin_write_);
  if (!tx.begun()) {
    return failure("forgetting a user");
  }
  std::size_t removed = 0;
  for (const Statement* stmt :
       {&delete_user_first_bodies_, &delete_user_announced_, &delete_user_messages_,
        &delete_user_progress_, &delete_user_decisions_}) {
    Use q(*stmt);
    if (q.text(1, u).step() != SQLITE_DONE) {
      return failure("forgetting a user");
    }
    // Every rewritten message row has its decision row: count the decisions.
    removed = static_cast<std::size_t>(sqlite3_changes64(db_.get()));
  }
  if (!tx.commit()) {
    return failure("forgetting a user");
  }
  return removed;
}

Result<std::optional<Announced>> SqliteRewriteStore::announce(const MessageKey& key,
                                                              const Announced& announced) {
  const MessageKey k{normalize_user(key.user), normalize_mailbox(key.mailbox), key.uidvalidity,
                     key.uid};
  if (k.user.empty() || k.uid == 0 || k.uidvalidity == 0 || announced.size == 0 ||
      announced.size > max_message_bytes) {
    return make_error(Errc::syntax, "rewrite state: an announcement needs a user, UIDVALIDITY, "
                                    "UID and a size");
  }
  std::lock_guard lock(mutex_);
  Transaction tx(*this, begin_write_);
  if (!tx.begun()) {
    return failure("storing an announcement");
  }
  {
    Use q(select_state_);
    bind_mailbox(q, k.user, k.mailbox, k.uidvalidity).integer(4, k.uid);
    const int rc = q.step();
    if (rc == SQLITE_ROW) {
      return std::optional<Announced>();
    }
    if (rc != SQLITE_DONE) {
      return failure("storing an announcement");
    }
  }
  {
    Use q(insert_announced_);
    bind_mailbox(q, k.user, k.mailbox, k.uidvalidity)
        .integer(4, k.uid)
        .integer(5, static_cast<std::int64_t>(announced.size))
        .text(6, announced.boundary)
        .blob(7, announced.event);
    if (q.step() != SQLITE_DONE) {
      return failure("storing an announcement");
    }
  }
  Use q(select_announced_);
  bind_mailbox(q, k.user, k.mailbox, k.uidvalidity).integer(4, k.uid).integer(5, 1);
  if (q.step() != SQLITE_ROW) {
    return failure("reading an announcement");
  }
  std::optional<Announced> stored(
      Announced{static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 0)),
                std::string(column_text(q.get(), 1)), std::string(column_blob(q.get(), 2))});
  q.reset();
  if (!tx.commit()) {
    return failure("storing an announcement");
  }
  return stored;
}

Result<std::map<std::uint32_t, Announced>>
SqliteRewriteStore::announcements(std::string_view user, std::string_view mailbox,
                                  std::uint32_t uidvalidity, std::uint32_t first,
                                  std::uint32_t last, bool with_event) {
  const std::string u = normalize_user(user);
  const std::string m = normalize_mailbox(mailbox);
  std::map<std::uint32_t, Announced> out;
  std::lock_guard lock(mutex_);
  Use q(select_announced_range_);
  bind_mailbox(q, u, m, uidvalidity).integer(4, first).integer(5, last).integer(6, with_event);
  int rc = SQLITE_DONE;
  while ((rc = q.step()) == SQLITE_ROW) {
    const auto uid = static_cast<std::uint32_t>(sqlite3_column_int64(q.get(), 0));
    const std::int64_t size = sqlite3_column_int64(q.get(), 1);
    if (size <= 0 || static_cast<std::uint64_t>(size) > max_message_bytes) {
      return corrupt(MessageKey{u, m, uidvalidity, uid}, "announced size out of range");
    }
    out.emplace_hint(out.end(), uid,
                     Announced{static_cast<std::uint64_t>(size),
                               std::string(column_text(q.get(), 2)),
                               std::string(column_blob(q.get(), 3))});
  }
  if (rc != SQLITE_DONE) {
    return failure("reading announcements");
  }
  return out;
}

} // namespace

Result<std::unique_ptr<RewriteStore>> RewriteStore::open(const std::string& path) {
  return SqliteRewriteStore::open_file(path);
}

Result<std::uint32_t> SqliteRewriteStore::decided_through(std::string_view user,
                                                          std::string_view mailbox,
                                                          std::uint32_t uidvalidity) {
  const std::string u = normalize_user(user);
  const std::string m = normalize_mailbox(mailbox);
  std::lock_guard lock(mutex_);
  Use q(select_progress_);
  bind_mailbox(q, u, m, uidvalidity);
  const int rc = q.step();
  if (rc == SQLITE_ROW) {
    return static_cast<std::uint32_t>(sqlite3_column_int64(q.get(), 0));
  }
  if (rc != SQLITE_DONE) {
    return failure("reading progress");
  }
  return std::uint32_t{0};
}

Result<RewriteStore::Done> SqliteRewriteStore::raise_decided_through(std::string_view user,
                                                                     std::string_view mailbox,
                                                                     std::uint32_t uidvalidity,
                                                                     std::uint32_t uid) {
  const std::string u = normalize_user(user);
  const std::string m = normalize_mailbox(mailbox);
  std::lock_guard lock(mutex_);
  Use q(raise_progress_);
  bind_mailbox(q, u, m, uidvalidity).integer(4, uid);
  if (q.step() != SQLITE_DONE) {
    return failure("recording progress");
  }
  return Done{};
}

Result<FirstBodies> SqliteRewriteStore::first_bodies(std::string_view user) {
  const std::string u = normalize_user(user);
  std::lock_guard lock(mutex_);
  Use q(select_first_bodies_);
  const int rc = q.text(1, u).step();
  if (rc == SQLITE_ROW) {
    return FirstBodies{static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 0)),
                       static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 1))};
  }
  if (rc != SQLITE_DONE) {
    return failure("reading first text bodies");
  }
  return FirstBodies{};
}

Result<RewriteStore::Done> SqliteRewriteStore::keep_first_bodies(std::string_view user,
                                                                 const FirstBodies& kinds) {
  const std::string u = normalize_user(user);
  std::lock_guard lock(mutex_);
  Use q(keep_first_bodies_);
  q.text(1, u).integer(2, static_cast<std::int64_t>(kinds.html));
  if (q.integer(3, static_cast<std::int64_t>(kinds.plain)).step() != SQLITE_DONE) {
    return failure("keeping first text bodies");
  }
  return Done{};
}

Result<std::vector<std::uint32_t>> SqliteRewriteStore::rewritten_between(std::string_view user,
                                                                         std::string_view mailbox,
                                                                         std::uint32_t uidvalidity,
                                                                         std::uint32_t first,
                                                                         std::uint32_t last) {
  const std::string u = normalize_user(user);
  const std::string m = normalize_mailbox(mailbox);
  std::vector<std::uint32_t> out;
  std::lock_guard lock(mutex_);
  Use q(select_rewritten_);
  bind_mailbox(q, u, m, uidvalidity).integer(4, first).integer(5, last);
  int rc = SQLITE_DONE;
  while ((rc = q.step()) == SQLITE_ROW) {
    out.push_back(static_cast<std::uint32_t>(sqlite3_column_int64(q.get(), 0)));
  }
  if (rc != SQLITE_DONE) {
    return failure("reading rewritten messages");
  }
  return out;
}

} // namespace icalgate::proxy
