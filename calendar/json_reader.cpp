#include "calendar/json_reader.hpp"

#include <algorithm>

namespace icalgate::calendar::json_read {

namespace json = boost::json;
using protocol::Errc;
using protocol::make_error;
using protocol::Result;

namespace {

std::optional<long long> integer_value(const json::value& v) {
  if (v.is_int64()) {
    return v.get_int64();
  }
  if (v.is_uint64() && v.get_uint64() <= 1'000'000'000'000ULL) {
    return static_cast<long long>(v.get_uint64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (d >= -1e12 && d <= 1e12 && d == static_cast<double>(static_cast<long long>(d))) {
      return static_cast<long long>(d);
    }
  }
  return std::nullopt;
}

} // namespace

Result<json::value> parse_json(std::string_view text, std::size_t max_bytes,
                               std::size_t max_depth) {
  if (text.size() > max_bytes) {
    return make_error(Errc::literal_too_large,
                      "Graph response larger than " + std::to_string(max_bytes) + " bytes");
  }
  json::parse_options options;
  options.max_depth = max_depth;
  boost::system::error_code ec;
  json::value root = json::parse(text, ec, json::storage_ptr(), options);
  if (ec) {
    return make_error(Errc::syntax, "malformed JSON: " + ec.message());
  }
  return root;
}

const json::object* parse_object(std::string_view body, json::value& holder,
                                 std::size_t max_depth) {
  json::parse_options options;
  options.max_depth = max_depth;
  boost::system::error_code ec;
  holder = json::parse(body, ec, json::storage_ptr(), options);
  if (ec || !holder.is_object()) {
    return nullptr;
  }
  return &holder.as_object();
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string index_path(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// The member, or nullptr when it is absent or JSON null (Graph writes null for unset values).
const json::value* member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

const json::object* object_at(JsonContext& ctx, const json::object& o, std::string_view key,
                              const std::string& path) {
  const json::value* v = member(o, key);
  if (v == nullptr) {
    return nullptr;
  }
  if (!v->is_object()) {
    ctx.fail(Errc::syntax, join(path, key) + ": expected an object");
    return nullptr;
  }
  return &v->get_object();
}

const json::array* array_at(JsonContext& ctx, const json::object& o, std::string_view key,
                            const std::string& path) {
  const json::value* v = member(o, key);
  if (v == nullptr) {
    return nullptr;
  }
  if (!v->is_array()) {
    ctx.fail(Errc::syntax, join(path, key) + ": expected an array");
    return nullptr;
  }
  if (v->get_array().size() > ctx.max_items) {
    ctx.fail(Errc::too_many,
             join(path, key) + ": more than " + std::to_string(ctx.max_items) + " entries");
    return nullptr;
  }
  return &v->get_array();
}

std::optional<std::string> string_at(JsonContext& ctx, const json::object& o, std::string_view key,
                                     const std::string& path, std::size_t max) {
  const json::value* v = member(o, key);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (!v->is_string()) {
    ctx.fail(Errc::syntax, join(path, key) + ": expected a string");
    return std::nullopt;
  }
  const json::string& s = v->get_string();
  if (s.size() > max) {
    ctx.fail(Errc::literal_too_large,
             join(path, key) + ": longer than " + std::to_string(max) + " bytes");
    return std::nullopt;
  }
  return std::string(s.data(), s.size());
}

std::string text(JsonContext& ctx, const json::object& o, std::string_view key,
                 const std::string& path) {
  return string_at(ctx, o, key, path, ctx.max_string).value_or(std::string());
}

std::string long_text(JsonContext& ctx, const json::object& o, std::string_view key,
                      const std::string& path) {
  return string_at(ctx, o, key, path, ctx.max_long_string).value_or(std::string());
}

bool boolean(JsonContext& ctx, const json::object& o, std::string_view key,
             const std::string& path) {
  const json::value* v = member(o, key);
  if (v == nullptr) {
    return false;
  }
  if (!v->is_bool()) {
    ctx.fail(Errc::syntax, join(path, key) + ": expected true or false");
    return false;
  }
  return v->get_bool();
}

std::optional<int> integer(JsonContext& ctx, const json::object& o, std::string_view key,
                           const std::string& path, long long min, long long max) {
  const json::value* v = member(o, key);
  if (v == nullptr) {
    return std::nullopt;
  }
  const auto n = integer_value(*v);
  if (!n) {
    ctx.fail(Errc::syntax, join(path, key) + ": expected an integer");
    return std::nullopt;
  }
  if (*n < min || *n > max) {
    ctx.fail(Errc::syntax, join(path, key) + ": " + std::to_string(*n) + " out of range " +
                               std::to_string(min) + ".." + std::to_string(max));
    return std::nullopt;
  }
  return static_cast<int>(*n);
}

std::optional<CivilDateTime> date_time_at(JsonContext& ctx, const json::object& o,
                                          std::string_view key, const std::string& path) {
  const auto s = string_at(ctx, o, key, path, 64);
  if (!s) {
    return std::nullopt;
  }
  auto parsed = parse_civil_date_time(*s);
  if (!parsed) {
    ctx.fail(Errc::syntax, join(path, key) + ": " + parsed.error().message);
    return std::nullopt;
  }
  return *parsed;
}

std::optional<CivilDate> date_at(JsonContext& ctx, const json::object& o, std::string_view key,
                                 const std::string& path) {
  const auto s = string_at(ctx, o, key, path, 64);
  if (!s) {
    return std::nullopt;
  }
  // Graph writes "0001-01-01" for "unset" in recurrence ranges.
  if (*s == "0001-01-01") {
    return std::nullopt;
  }
  auto parsed = parse_civil_date(*s);
  if (!parsed) {
    ctx.fail(Errc::syntax, join(path, key) + ": " + parsed.error().message);
    return std::nullopt;
  }
  return *parsed;
}

} // namespace icalgate::calendar::json_read
