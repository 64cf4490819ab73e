#pragma once
// Reading Graph's JSON with Boost.JSON without exceptions: each reader takes the object, the
// member name and the path of the object (for messages such as
// "value[0].event.start.dateTime: expected a string"), returns the value or nothing, and
// records the first error in the context while the caller carries on with defaults. Absent
// members and JSON null read as nothing: Graph writes null for unset values.

#include "calendar/civil_time.hpp"
#include "protocol/result.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace icalgate::calendar::json_read {

struct JsonContext {
  std::size_t max_string;      // any string member
  std::size_t max_items;       // any array
  std::size_t max_long_string; // members read with long_text()
  std::optional<protocol::Error> error;

  void fail(protocol::Errc code, std::string message) {
    if (!error) {
      error = protocol::make_error(code, std::move(message));
    }
  }
};

// Parses a whole document: size and nesting limits, strict UTF-8, no comments.
protocol::Result<boost::json::value> parse_json(std::string_view text, std::size_t max_bytes,
                                                std::size_t max_depth);

// The root object of `body`, held in `holder`; null when `body` is not JSON or not an object.
const boost::json::object* parse_object(std::string_view body, boost::json::value& holder,
                                        std::size_t max_depth);

std::string join(const std::string& path, std::string_view key);
std::string index_path(const std::string& path, std::size_t i);

const boost::json::value* member(const boost::json::object& o, std::string_view key);
const boost::json::object* object_at(JsonContext& ctx, const boost::json::object& o,
                                     std::string_view key, const std::string& path);
const boost::json::array* array_at(JsonContext& ctx, const boost::json::object& o,
                                   std::string_view key, const std::string& path);
std::optional<std::string> string_at(JsonContext& ctx, const boost::json::object& o,
                                     std::string_view key, const std::string& path,
                                     std::size_t max);
// A string member, empty when absent.
std::string text(JsonContext& ctx, const boost::json::object& o, std::string_view key,
                 const std::string& path);
std::string long_text(JsonContext& ctx, const boost::json::object& o, std::string_view key,
                      const std::string& path);
bool boolean(JsonContext& ctx, const boost::json::object& o, std::string_view key,
             const std::string& path);
std::optional<int> integer(JsonContext& ctx, const boost::json::object& o, std::string_view key,
                           const std::string& path, long long min, long long max);
std::optional<CivilDateTime> date_time_at(JsonContext& ctx, const boost::json::object& o,
                                          std::string_view key, const std::string& path);
// Graph writes "0001-01-01" for an unset date: that reads as nothing.
std::optional<CivilDate> date_at(JsonContext& ctx, const boost::json::object& o,
                                 std::string_view key, const std::string& path);

template <class E>
using EnumTable = std::initializer_list<std::pair<std::string_view, E>>;

// Case-insensitive, as Graph is about enumeration values.
template <class E>
std::optional<E> lookup(std::string_view name, EnumTable<E> table) {
  for (const auto& [key, value] : table) {
    if (key.size() == name.size() &&
        std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
          const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; };
          return lower(a) == lower(b);
        })) {
      return value;
    }
  }
  return std::nullopt;
}

// Graph grows its enumerations over time; values we do not know fall back to `fallback`
// unless `strict`, where guessing would produce a wrong calendar.
template <class E>
std::optional<E> enumeration(JsonContext& ctx, const boost::json::object& o, std::string_view key,
                             const std::string& path, EnumTable<E> table, bool strict) {
  const auto name = string_at(ctx, o, key, path, 64);
  if (!name) {
    return std::nullopt;
  }
  auto value = lookup(*name, table);
  if (!value && strict) {
    ctx.fail(protocol::Errc::unsupported, join(path, key) + ": unknown value '" + *name + "'");
  }
  return value;
}

} // namespace icalgate::calendar::json_read
