#include "proxy/sqlite_statement.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <system_error>
#include <unistd.h>

namespace icalgate::proxy::sqlite {

namespace {

constexpr int busy_timeout_ms = 5'000;

// SQLITE_STATIC without its C cast: the bound value outlives the statement's use.
const sqlite3_destructor_type bind_static = nullptr;

// A null pointer would bind NULL, not the empty string (or blob).
const char* non_null(std::string_view value) {
  return value.data() != nullptr ? value.data() : "";
}

// Runs a PRAGMA that answers one row and hands that row to `read`; false on any failure.
template <class Read>
bool pragma_row(sqlite3* db, const char* sql, Read read) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    return false;
  }
  const Statement guard(stmt);
  if (sqlite3_step(stmt) != SQLITE_ROW) {
    return false;
  }
  read(stmt);
  return true;
}

} // namespace

Use& Use::text(int index, std::string_view value) {
  note(sqlite3_bind_text(stmt_, index, non_null(value), static_cast<int>(value.size()),
                         bind_static));
  return *this;
}

Use& Use::blob(int index, std::string_view value) {
  note(sqlite3_bind_blob(stmt_, index, non_null(value), static_cast<int>(value.size()),
                         bind_static));
  return *this;
}

Use& Use::integer(int index, std::int64_t value) {
  note(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Use& Use::null(int index) {
  note(sqlite3_bind_null(stmt_, index));
  return *this;
}

std::string_view column_text(sqlite3_stmt* stmt, int column) {
  const auto* text = sqlite3_column_text(stmt, column);
  if (text == nullptr) {
    return {};
  }
  return {reinterpret_cast<const char*>(text),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt, column))};
}

std::string_view column_blob(sqlite3_stmt* stmt, int column) {
  const void* blob = sqlite3_column_blob(stmt, column);
  if (blob == nullptr) {
    return {};
  }
  return {static_cast<const char*>(blob),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt, column))};
}

Statement prepare_persistent(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return nullptr;
  }
  return Statement(stmt);
}

protocol::Error Origin::error(std::string_view what) const {
  return protocol::make_error(code, name + ": " + std::string(what));
}

protocol::Error Origin::failure(sqlite3* db, std::string_view what) const {
  return error(std::string(what) + ": " + sqlite3_errmsg(db));
}

protocol::Result<Database> open_database(const std::string& path, const Origin& origin) {
  const bool in_memory = path == ":memory:";
  if (!in_memory) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
      std::filesystem::create_directories(parent, ec);
      if (ec) {
        return origin.error("cannot create directory '" + parent.string() + "': " + ec.message());
      }
    }
    // SQLite would create the file (and later its -wal and -shm, which copy the file's mode)
    // readable by everyone; what the stores keep (credentials, mail) is nobody else's business.
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      return origin.error(std::strerror(errno));
    }
    ::close(fd);
  }

  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db(raw);
  if (rc != SQLITE_OK) {
    return raw != nullptr ? origin.failure(raw, "cannot open") : origin.error(sqlite3_errstr(rc));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);

  // WAL lets readers in other processes go on while one writes, and a commit writes only the
  // changed pages. In-memory databases stay in "memory" mode.
  std::string mode;
  if (!pragma_row(raw, "PRAGMA journal_mode = WAL",
                  [&](sqlite3_stmt* row) { mode = column_text(row, 0); })) {
    return origin.failure(raw, "setting WAL mode");
  }
  if (mode != "wal" && !(in_memory && mode == "memory")) {
    return origin.error("cannot use WAL mode (journal mode is " + std::string(mode) + ")");
  }
  return db;
}

protocol::Result<int> create_schema(sqlite3* db, const char* schema_sql, int version,
                                    const Origin& origin) {
  // Immediate: two gateways starting together must not both create (or both read version 0).
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return origin.failure(db, "creating the schema");
  }
  auto found = [&]() -> protocol::Result<int> {
    int had = 0;
    if (!pragma_row(db, "PRAGMA user_version",
                    [&](sqlite3_stmt* row) { had = sqlite3_column_int(row, 0); })) {
      return origin.failure(db, "reading the schema version");
    }
    if (had < version && sqlite3_exec(db, schema_sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return origin.failure(db, "creating the schema");
    }
    if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return origin.failure(db, "creating the schema");
    }
    return had;
  }();
  if (!found) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  return found;
}

} // namespace icalgate::proxy::sqlite
