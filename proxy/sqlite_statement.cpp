#include "proxy/sqlite_statement.hpp"

namespace icalgate::proxy::sqlite {

namespace {

// SQLITE_STATIC without its C cast: the bound value outlives the statement's use.
const sqlite3_destructor_type bind_static = nullptr;

// A null pointer would bind NULL, not the empty string (or blob).
const char* non_null(std::string_view value) {
  return value.data() != nullptr ? value.data() : "";
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

} // namespace icalgate::proxy::sqlite
