#include "tests/graphsim/sim_faults.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

namespace icalgate::graphsim {

namespace json = boost::json;

namespace {

std::int64_t int_member(const json::object& o, std::string_view key, std::int64_t fallback) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) {
    return fallback;
  }
  if (v->is_int64()) {
    return v->as_int64();
  }
  if (v->is_uint64()) {
    return static_cast<std::int64_t>(v->as_uint64());
  }
  return fallback;
}

} // namespace

std::optional<Fault> FaultControl::decide(std::string_view method, std::string_view path) {
  Fault fault;
  bool any = false;
  if (!path_.empty()) {
    std::ifstream file(path_);
    std::stringstream text;
    text << file.rdbuf();
    if (text.str() != content_) {
      content_ = text.str();
      consumed_.clear();
    }
    json::error_code ec;
    json::value control = content_.empty() ? json::value() : json::parse(content_, ec);
    if (ec) {
      std::fprintf(stderr, "graphsim: control file is not JSON: %s\n", ec.message().c_str());
    } else if (control.is_object()) {
      const json::object& root = control.as_object();
      fault.delay_ms = int_member(root, "delay_ms", 0);
      any = fault.delay_ms > 0;
      const json::value* rules = root.if_contains("fail");
      if (rules != nullptr && rules->is_array()) {
        consumed_.resize(rules->as_array().size(), 0);
        std::size_t index = 0;
        for (const json::value& rule : rules->as_array()) {
          const std::size_t i = index++;
          if (!rule.is_object()) {
            continue;
          }
          const json::object& r = rule.as_object();
          const json::value* prefix = r.if_contains("path_prefix");
          if (prefix != nullptr && prefix->is_string() &&
              path.substr(0, prefix->as_string().size()) != std::string_view(prefix->as_string())) {
            continue;
          }
          const json::value* m = r.if_contains("method");
          if (m != nullptr && m->is_string() && std::string_view(m->as_string()) != method) {
            continue;
          }
          const std::int64_t count = int_member(r, "count", -1);
          if (count >= 0 && consumed_[i] >= count) {
            continue;
          }
          ++consumed_[i];
          fault.status = static_cast<int>(int_member(r, "status", 0));
          fault.retry_after = static_cast<int>(int_member(r, "retry_after", -1));
          fault.delay_ms += int_member(r, "delay_ms", 0);
          const json::value* served = r.if_contains("served");
          fault.served = served != nullptr && served->is_bool() && served->as_bool();
          return fault;
        }
      }
    }
  }
  if (fail_rate_ > 0) {
    static std::mt19937_64 engine{std::random_device{}()};
    if (std::uniform_real_distribution<double>(0, 1)(engine) < fail_rate_) {
      fault.status = 503;
      fault.retry_after = 1;
      return fault;
    }
  }
  if (any) {
    return fault;
  }
  return std::nullopt;
}

} // namespace icalgate::graphsim
