#pragma once
// The small layer over SQLite's C API that the gateway's stores share: owning handles, one
// use of a prepared statement at a time (reset on the way out, so that it holds no lock and
// keeps no pointer to the caller's buffers, which are bound without copying), and columns
// read as views; and the opening of a store's file, which every store wants alike.

#include "protocol/result.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace icalgate::proxy::sqlite {

struct StatementDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

struct DatabaseDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Database = std::unique_ptr<sqlite3, DatabaseDeleter>;

class Use {
 public:
  explicit Use(const Statement& stmt) : stmt_(stmt.get()) {}
  ~Use() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

  sqlite3_stmt* get() const { return stmt_; }
  // Binding fails only on misuse; the first failure is kept, reported by ok() and step().
  Use& text(int index, std::string_view value);
  Use& blob(int index, std::string_view value);
  Use& integer(int index, std::int64_t value);
  Use& null(int index);
  bool ok() const { return rc_ == SQLITE_OK; }
  int step() { return ok() ? sqlite3_step(stmt_) : rc_; }
  void reset() { sqlite3_reset(stmt_); }

 private:
  void note(int rc) {
    if (rc_ == SQLITE_OK) {
      rc_ = rc;
    }
  }
  sqlite3_stmt* stmt_;
  int rc_ = SQLITE_OK;
};

// A column's bytes (empty for NULL), valid until the next step or reset.
std::string_view column_text(sqlite3_stmt* stmt, int column);
std::string_view column_blob(sqlite3_stmt* stmt, int column);

// A statement kept for the store's lifetime; null when `sql` does not compile (sqlite3_errmsg
// says why).
Statement prepare_persistent(sqlite3* db, std::string_view sql);

// Whose errors these are: every message starts with the store and its file (`name`, as in
// "auth store '/var/lib/icalgate/auth.db'"), so that a log line says which file to look at.
struct Origin {
  protocol::Errc code;
  std::string name;

  protocol::Error error(std::string_view what) const;
  // With SQLite's own reason for the last failure on `db` appended.
  protocol::Error failure(sqlite3* db, std::string_view what) const;
};

// Opens `path` (or ":memory:") in WAL mode for one thread at a time, creating the file and its
// directory if need be; a new file is readable by its owner only.
protocol::Result<Database> open_database(const std::string& path, const Origin& origin);

// Runs `schema_sql` (which sets PRAGMA user_version) when the file's version is older than
// `version`. Returns the version the file had: a newer one is left as it is, for the caller
// to refuse.
protocol::Result<int> create_schema(sqlite3* db, const char* schema_sql, int version,
                                    const Origin& origin);

} // namespace icalgate::proxy::sqlite
