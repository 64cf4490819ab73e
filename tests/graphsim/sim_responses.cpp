#include "tests/graphsim/sim_responses.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

namespace icalgate::graphsim {

namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

std::mt19937_64& rng() {
  static std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

} // namespace

std::string random_guid() {
  std::uniform_int_distribution<unsigned> nibble(0, 15);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) {
      out.push_back('-');
    }
    out.push_back(hex[nibble(rng())]);
  }
  return out;
}

std::string random_token() {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::uniform_int_distribution<unsigned> pick(0, 63);
  std::string out = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.";
  for (int i = 0; i < 64; ++i) {
    out.push_back(alphabet[pick(rng())]);
  }
  return out + ".graphsim";
}

std::string utc_now_iso() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  return buffer;
}

Response json_response(int status, std::string body) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json;odata.metadata=minimal;"
                                     "odata.streaming=true;IEEE754Compatible=false;charset=utf-8");
  res.set("request-id", random_guid());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response graph_error(int status, std::string_view code, std::string_view message) {
  json::object inner{
      {"date", utc_now_iso()}, {"request-id", random_guid()}, {"client-request-id", random_guid()}};
  json::object error{{"code", code}, {"message", message}, {"innerError", std::move(inner)}};
  return json_response(status, json::serialize(json::object{{"error", std::move(error)}}));
}

Response identity_error(int status, std::string_view error, int aadsts,
                        std::string_view description) {
  const std::string trace = random_guid();
  const std::string correlation = random_guid();
  std::string stamp = utc_now_iso();
  stamp[10] = ' ';
  stamp += "Z";
  const std::string full = "AADSTS" + std::to_string(aadsts) + ": " + std::string(description) +
                           "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + correlation +
                           "\r\nTimestamp: " + stamp;
  json::object body{
      {"error", error},
      {"error_description", full},
      {"error_codes", json::array{aadsts}},
      {"timestamp", stamp},
      {"trace_id", trace},
      {"correlation_id", correlation},
      {"error_uri", "https://login.microsoftonline.com/error?code=" + std::to_string(aadsts)}};
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json; charset=utf-8");
  res.set(http::field::cache_control, "no-store, no-cache");
  res.body() = json::serialize(body);
  res.prepare_payload();
  return res;
}

} // namespace icalgate::graphsim
