// The Graph client against the real icalgate-graphsim executable (built next to
// this test binary), over loopback http.

#include "calendar/graph_client.hpp"
#include "calendar/odata_text.hpp"
#include "calendar/retry_policy.hpp"
#include "graphsim_process.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace json = boost::json;
using namespace icalgate::calendar;
using Clock = std::chrono::steady_clock;

constexpr const char* tenant = "contoso.onmicrosoft.com";
constexpr const char* client_id = "0f3c1a52-app1";
constexpr const char* secret = "s3cret~value";
constexpr const char* alice = "alice@contoso.com";

std::string read_text(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

using icalgate::testing::rethrow;
using icalgate::testing::run;
using icalgate::testing::write_text;

fs::path fixture(const std::string& name) {
  return fs::path(ICALGATE_TEST_DATA_DIR) / "unit" / "data" / "graph" / (name + ".json");
}

// A minimal Graph collection response with one message of the given kind.
std::string generated_message(int n, const std::string& message_id, bool meeting) {
  char received[32];
  std::snprintf(received, sizeof received, "2026-11-%02dT%02d:%02d:00Z", 1 + n / 60 % 28,
                n / 60 % 24, n % 60);
  json::object m{{"@odata.type",
                  meeting ? "#microsoft.graph.eventMessageRequest" : "#microsoft.graph.message"},
                 {"@odata.etag", "W/\"etag\""},
                 {"id", "MSG" + std::to_string(n)},
                 {"internetMessageId", message_id},
                 {"receivedDateTime", received},
                 {"subject", "message " + std::to_string(n)}};
  if (meeting) {
    m["meetingMessageType"] = "meetingRequest";
  }
  return json::serialize(json::object{{"@odata.context", "x"}, {"value", json::array{m}}});
}

// A running graphsim serving its own data directory.
class GraphSim {
 public:
  explicit GraphSim(std::vector<std::string> extra = {}) : sim_("graphsim") {
    json::object client{{"tenant", tenant}, {"client_id", client_id}, {"client_secret", secret}};
    write_text(data() / "clients.json",
               json::serialize(json::object{{"clients", json::array{client}}}));
    fs::create_directories(data() / "users" / alice / "messages");
    fs::create_directories(data() / "users" / "bob@contoso.com" / "messages");
    write_text(sim_.dir() / "secret", std::string(secret) + "\n");
    std::vector<std::string> args{"--data", data().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    sim_.start(std::move(args));
  }

  fs::path data() const { return sim_.dir() / "data"; }
  fs::path control() const { return sim_.control(); }
  std::string url() const { return sim_.url(); }
  void add_message(const std::string& user, const std::string& name, const std::string& text) {
    write_text(data() / "users" / user / "messages" / (name + ".json"), text);
  }
  void add_fixture(const std::string& name) { add_message(alice, name, read_text(fixture(name))); }
  void set_control(const std::string& text) { sim_.set_control(text); }

  GraphConfig config() const {
    GraphConfig c;
    c.tenant = tenant;
    c.client_id = client_id;
    c.client_secret_file = (sim_.dir() / "secret").string();
    c.authority = url();
    c.endpoint = url();
    c.request_timeout = std::chrono::milliseconds(5000);
    c.overall_timeout = std::chrono::milliseconds(15000);
    c.backoff_base = std::chrono::milliseconds(20);
    c.backoff_max = std::chrono::milliseconds(200);
    return c;
  }

 private:
  icalgate::testing::GraphsimProcess sim_;
};

// Starts a lookup that counts its success in `ok`.
void spawn_lookup(asio::io_context& io, GraphClient& client, std::string user, int& ok) {
  asio::co_spawn(
      io,
      [&client, &ok, user]() -> asio::awaitable<void> {
        auto r = co_await client.lookup_event_message(user, "<3A2E5F6D7B0B@contoso.com>");
        ok += r.ok() ? 1 : 0;
      },
      rethrow);
}

std::unique_ptr<GraphClient> make_client(asio::io_context& io, const GraphConfig& config) {
  auto client = GraphClient::create(io.get_executor(), config);
  INFO((client ? "" : client.error().message));
  REQUIRE(client.ok());
  return std::move(client).value();
}

// graphsim's own counters, fetched with the client's transport.
json::object sim_stats(asio::io_context& io, const GraphSim& sim) {
  auto transport = HttpTransport::create("", 1 << 20);
  REQUIRE(transport.ok());
  HttpRequest request;
  request.url = parse_http_url(sim.url() + "/_stats").value();
  auto response = run(io, (*transport)->send(request, Clock::now() + std::chrono::seconds(5)));
  REQUIRE(response.ok());
  REQUIRE(response->status == 200);
  return json::parse(response->body).as_object();
}

std::int64_t count_of(const json::object& stats, std::string_view key) {
  return stats.at(key).to_number<std::int64_t>();
}

const char* lookup_id = "<3A2E5F6D7B0B@contoso.com>"; // reply-accepted.json

// The lookup ends as Graph's 503 does, after `attempts` requests that each got one.
void check_unavailable_after(asio::io_context& io, const GraphSim& sim, GraphClient& client,
                             int attempts) {
  auto result = run(io, client.lookup_event_message(alice, lookup_id));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == GraphErrc::unavailable);
  CHECK(result.error().http_status == 503);
  CHECK(count_of(sim_stats(io, sim).at("status").as_object(), "503") == attempts);
}

} // namespace

TEST_CASE("graph: OData literals double quotes and URLs are percent-encoded", "[graph]") {
  CHECK(odata_string_literal("<o'brien@x>") == "'<o''brien@x>'");
  CHECK(percent_encode("<a+b c@x>/'") == "%3Ca%2Bb%20c%40x%3E%2F%27");
  CHECK(percent_encode("alice@contoso.com", true) == "alice@contoso.com");
}

TEST_CASE("graph: retry policy honours Retry-After and caps the backoff", "[graph]") {
  CHECK(parse_retry_after("2") == std::chrono::seconds(2));
  CHECK(parse_retry_after(" 10 ") == std::chrono::seconds(10));
  CHECK_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").has_value());
  CHECK_FALSE(parse_retry_after("-1").has_value());
  RetryPolicy policy{5, std::chrono::milliseconds(100), std::chrono::milliseconds(1000),
                     std::chrono::milliseconds(5000)};
  CHECK(backoff_delay(policy, 1, 0.999) <= std::chrono::milliseconds(100));
  CHECK(backoff_delay(policy, 1, 0.0) == std::chrono::milliseconds(50));
  CHECK(backoff_delay(policy, 3, 0.0) == std::chrono::milliseconds(200));
  CHECK(backoff_delay(policy, 10, 0.999) <= std::chrono::milliseconds(1000));
  CHECK(next_delay(policy, 1, std::chrono::seconds(3), 0.0) == std::chrono::milliseconds(3000));
  CHECK(is_retryable_status(429));
  CHECK(is_retryable_status(503));
  CHECK_FALSE(is_retryable_status(400));
  CHECK_FALSE(is_retryable_status(401));
  CHECK_FALSE(is_retryable_status(404));
}

TEST_CASE("graph: plain http only to loopback, refused before any connection", "[graph]") {
  CHECK(is_loopback_host("127.0.0.1"));
  CHECK(is_loopback_host("127.5.6.7"));
  CHECK(is_loopback_host("::1"));
  CHECK(is_loopback_host("LocalHost."));
  CHECK_FALSE(is_loopback_host("128.0.0.1"));
  CHECK_FALSE(is_loopback_host("localhost.example.com"));
  CHECK_FALSE(is_loopback_host("example.com"));
  CHECK(parse_endpoint_url("http://[::1]:8080/x").ok());
  CHECK(parse_endpoint_url("https://graph.microsoft.com").ok());

  asio::io_context io;
  char pattern[] = "/tmp/icalgate-graph-secret-XXXXXX";
  const int fd = mkstemp(pattern);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, "x", 1) == 1);
  close(fd);
  GraphConfig config;
  config.tenant = tenant;
  config.client_id = client_id;
  config.client_secret_file = pattern;
  config.endpoint = "http://example.com";
  auto refused = GraphClient::create(io.get_executor(), config);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == GraphErrc::insecure_endpoint);
  config.endpoint = "https://graph.microsoft.com";
  config.authority = "http://login.example.com";
  auto refused_authority = GraphClient::create(io.get_executor(), config);
  REQUIRE_FALSE(refused_authority.ok());
  CHECK(refused_authority.error().code == GraphErrc::insecure_endpoint);
  // Nothing was queued: no resolve, no connect.
  CHECK(io.poll() == 0);

  // The transport refuses too, whatever the caller built.
  auto transport = HttpTransport::create("", 1024);
  REQUIRE(transport.ok());
  HttpRequest request;
  request.url = parse_http_url("http://example.com/v1.0/users").value();
  auto sent = run(io, (*transport)->send(request, Clock::now() + std::chrono::seconds(5)));
  REQUIRE_FALSE(sent.ok());
  CHECK(sent.error().code == GraphErrc::insecure_endpoint);
  std::remove(pattern);
}

TEST_CASE("graph: lookup by Message-ID returns the parsed event message", "[graph]") {
  GraphSim sim;
  sim.add_fixture("reply-accepted");
  sim.add_fixture("request-weekly-berlin");
  asio::io_context io;
  auto client = make_client(io, sim.config());

  auto found = run(io, client->lookup_event_message(alice, lookup_id));
  INFO((found ? "" : found.error().message));
  REQUIRE(found.ok());
  auto expected = parse_event_message_response(read_text(fixture("reply-accepted")));
  REQUIRE(expected.ok());
  CHECK(found->internet_message_id == lookup_id);
  CHECK(found->meeting_message_type == expected->meeting_message_type);
  CHECK(found->event.ical_uid == expected->event.ical_uid);
  CHECK_FALSE(found->event.ical_uid.empty());

  // The raw form carries the expanded event.
  auto raw = run(io, client->fetch_event_message_json(alice, lookup_id));
  REQUIRE(raw.ok());
  CHECK(raw->find("\"iCalUId\"") != std::string::npos);

  auto event = run(io, client->get_event(alice, expected->event.id));
  REQUIRE(event.ok());
  CHECK(event->ical_uid == expected->event.ical_uid);
  auto no_event = run(io, client->get_event(alice, "AAMkNOPE="));
  REQUIRE_FALSE(no_event.ok());
  CHECK(no_event.error().code == GraphErrc::not_found);
}

TEST_CASE("graph: misses and unknown users are not_found", "[graph]") {
  GraphSim sim;
  sim.add_fixture("reply-accepted");
  asio::io_context io;
  auto client = make_client(io, sim.config());

  auto miss = run(io, client->lookup_event_message(alice, "<unknown@contoso.com>"));
  REQUIRE_FALSE(miss.ok());
  CHECK(miss.error().code == GraphErrc::not_found);

  auto nobody = run(io, client->lookup_event_message("nobody@contoso.com", lookup_id));
  REQUIRE_FALSE(nobody.ok());
  CHECK(nobody.error().code == GraphErrc::not_found);
  CHECK(nobody.error().http_status == 404);
  CHECK(nobody.error().message.find("ResourceNotFound") != std::string::npos);
}

TEST_CASE("graph: Message-IDs with quotes and URL metacharacters are escaped", "[graph]") {
  GraphSim sim;
  const std::string odd = "<o'brien+1&x=%20#y@contoso.com>";
  sim.add_message(alice, "odd", generated_message(1, odd, true));
  sim.add_message(alice, "other", generated_message(2, "<o@contoso.com>", true));
  asio::io_context io;
  auto client = make_client(io, sim.config());
  auto raw = run(io, client->fetch_event_message_json(alice, odd));
  REQUIRE(raw.ok());
  auto parsed = json::parse(*raw).as_object();
  REQUIRE(parsed.at("value").as_array().size() == 1);
  CHECK(parsed.at("value").as_array()[0].as_object().at("internetMessageId").as_string() == odd);
}

TEST_CASE("graph: the token is fetched once, cached and renewed before expiry", "[graph]") {
  GraphSim sim({"--token-lifetime", "2"});
  sim.add_fixture("reply-accepted");
  asio::io_context io;
  auto client = make_client(io, sim.config());

  REQUIRE(run(io, client->lookup_event_message(alice, lookup_id)).ok());
  REQUIRE(run(io, client->lookup_event_message(alice, lookup_id)).ok());
  CHECK(client->token_fetches() == 1);
  CHECK(count_of(sim_stats(io, sim), "tokens_issued") == 1);

  // 80 % of a 2 s lifetime has passed: renewed proactively, so Graph never sees
  // a stale one.
  std::this_thread::sleep_for(std::chrono::milliseconds(1700));
  REQUIRE(run(io, client->lookup_event_message(alice, lookup_id)).ok());
  CHECK(client->token_fetches() == 2);
  CHECK(client->stats().reauthorized == 0);
  auto stats = sim_stats(io, sim);
  CHECK(count_of(stats, "tokens_issued") == 2);
  CHECK_FALSE(stats.at("status").as_object().contains("401"));
}

TEST_CASE("graph: concurrent callers share one token fetch", "[graph]") {
  GraphSim sim;
  sim.add_fixture("reply-accepted");
  asio::io_context io;
  auto client = make_client(io, sim.config());
  int ok = 0;
  for (int i = 0; i < 5; ++i) {
    spawn_lookup(io, *client, alice, ok);
  }
  io.run();
  CHECK(ok == 5);
  CHECK(client->token_fetches() == 1);
}

TEST_CASE("graph: bad credentials are an auth error that names no secret", "[graph]") {
  GraphSim sim;
  sim.add_fixture("reply-accepted");
  write_text(sim.config().client_secret_file, "wrong-secret");
  asio::io_context io;
  auto client = make_client(io, sim.config());
  auto result = run(io, client->lookup_event_message(alice, lookup_id));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == GraphErrc::auth);
  CHECK(result.error().message.find("invalid_client") != std::string::npos);
  CHECK(result.error().message.find("AADSTS7000215") != std::string::npos);
  CHECK(result.error().message.find("wrong-secret") == std::string::npos);
  // No retry storm against the identity platform.
  CHECK(count_of(sim_stats(io, sim), "requests") == 1);
}

TEST_CASE("graph: a 401 leads to exactly one fresh token", "[graph]") {
  GraphSim sim;
  sim.add_fixture("reply-accepted");
  asio::io_context io;
  auto client = make_client(io, sim.config());
  REQUIRE(run(io, client->lookup_event_message(alice, lookup_id)).ok());

  sim.set_control(R"({"fail":[{"path_prefix":"/v1.0/users/","status":401,"count":1}]})");
  auto again = run(io, client->lookup_event_message(alice, lookup_id));
  REQUIRE(again.ok());
  CHECK(client->token_fetches() == 2);
  CHECK(client->stats().reauthorized == 1);

  sim.set_control(R"({"fail":[{"path_prefix":"/v1.0/users/","status":401,"count":2}]})");
  auto refused = run(io, client->lookup_event_message(alice, lookup_id));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == GraphErrc::auth);
  CHECK(refused.error().http_status == 401);
  CHECK(client->token_fetches() == 3);
}

TEST_CASE("graph: 429 waits at least Retry-After, then succeeds", "[graph]") {
  GraphSim sim;
  sim.add_fixture("reply-accepted");
  sim.set_control(
      R"({"fail":[{"path_prefix":"/v1.0/users/","status":429,"retry_after":1,"count":1}]})");
  asio::io_context io;
  auto client = make_client(io, sim.config());
  const auto started = Clock::now();
  auto result = run(io, client->lookup_event_message(alice, lookup_id));
  const auto elapsed = Clock::now() - started;
  REQUIRE(result.ok());
  CHECK(elapsed >= std::chrono::seconds(1));
  CHECK(client->stats().throttled == 1);
  CHECK(client->stats().retries == 1);
}

TEST_CASE("graph: 503 is retried with backoff until it succeeds", "[graph]") {
  GraphSim sim;
  sim.add_fixture("reply-accepted");
  sim.set_control(R"({"fail":[{"path_prefix":"/v1.0/users/","status":503,"count":2}]})");
  asio::io_context io;
  auto client = make_client(io, sim.config());
  auto result = run(io, client->lookup_event_message(alice, lookup_id));
  REQUIRE(result.ok());
  CHECK(client->stats().retries == 2);
  CHECK(count_of(sim_stats(io, sim).at("status").as_object(), "503") == 2);
}

TEST_CASE("graph: retries exhausted give the last error", "[graph]") {
  GraphSim sim;
  sim.add_fixture("reply-accepted");
  sim.set_control(R"({"fail":[{"path_prefix":"/v1.0/users/","status":503}]})");
  auto config = sim.config();
  config.max_attempts = 3;
  asio::io_context io;
  auto client = make_client(io, config);
  check_unavailable_after(io, sim, *client, 3);

  // A Retry-After beyond the wait budget is not waited for.
  sim.set_control(R"({"fail":[{"path_prefix":"/v1.0/users/","status":429,"retry_after":30}]})");
  config.max_retry_wait = std::chrono::milliseconds(2000);
  auto impatient = make_client(io, config);
  auto throttled = run(io, impatient->lookup_event_message(alice, lookup_id));
  REQUIRE_FALSE(throttled.ok());
  CHECK(throttled.error().code == GraphErrc::throttled);
}

// A retry that would start with only a sliver of the deadline left ends as a timeout and hides
// what Graph said (503 here): it is not started.
TEST_CASE("graph: no retry is squeezed in just before the deadline", "[graph]") {
  GraphSim sim;
  sim.add_fixture("reply-accepted");
  sim.set_control(R"({"fail":[{"path_prefix":"/v1.0/users/","status":503,"delay_ms":200}]})");
  auto config = sim.config();
  config.request_timeout = std::chrono::milliseconds(1000);
  config.overall_timeout = std::chrono::milliseconds(320);
  config.backoff_base = std::chrono::milliseconds(10);
  asio::io_context io;
  auto client = make_client(io, config);
  // The 503 comes after 200 ms, the next attempt could start about 10 ms later with some
  // 100 ms left: too little for the 200 ms an answer takes.
  check_unavailable_after(io, sim, *client, 1);
}

TEST_CASE("graph: a response slower than the timeout is a timeout error", "[graph]") {
  GraphSim sim;
  sim.add_fixture("reply-accepted");
  sim.set_control(R"({"fail":[{"path_prefix":"/v1.0/users/","delay_ms":3000}]})");
  auto config = sim.config();
  config.request_timeout = std::chrono::milliseconds(300);
  config.overall_timeout = std::chrono::milliseconds(1000);
  asio::io_context io;
  auto client = make_client(io, config);
  const auto started = Clock::now();
  auto result = run(io, client->lookup_event_message(alice, lookup_id));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == GraphErrc::timeout);
  CHECK(Clock::now() - started >= std::chrono::milliseconds(300));
}

TEST_CASE("graph: the meeting listing follows nextLink across pages", "[graph]") {
  GraphSim sim;
  std::set<std::string> meetings;
  for (int i = 0; i < 25; ++i) {
    const std::string id = "<meeting" + std::to_string(i) + "@contoso.com>";
    meetings.insert(id);
    sim.add_message(alice, "m" + std::to_string(i), generated_message(i, id, true));
  }
  for (int i = 0; i < 4; ++i) {
    sim.add_message(alice, "note" + std::to_string(i),
                    generated_message(100 + i, "<note" + std::to_string(i) + "@x>", false));
  }
  auto config = sim.config();
  config.page_size = 10;
  asio::io_context io;
  auto client = make_client(io, config);

  auto listing = run(io, client->list_meeting_messages(alice, ""));
  INFO((listing ? "" : listing.error().message));
  REQUIRE(listing.ok());
  CHECK(listing->pages == 3);
  CHECK_FALSE(listing->truncated);
  std::set<std::string> seen;
  for (const auto& m : listing->messages) {
    seen.insert(m.internet_message_id);
    CHECK(m.odata_type == "#microsoft.graph.eventMessageRequest");
  }
  CHECK(listing->messages.size() == 25);
  CHECK(seen == meetings);

  // Only mail from `since` on; generated_message(n) is received on day 1 + n
  // / 60.
  auto recent = run(io, client->list_meeting_messages(alice, "2026-11-01T00:20:00Z"));
  REQUIRE(recent.ok());
  CHECK(recent->messages.size() == 5);

  config.max_pages = 2;
  auto capped = make_client(io, config);
  auto truncated = run(io, capped->list_meeting_messages(alice, ""));
  REQUIRE(truncated.ok());
  CHECK(truncated->pages == 2);
  CHECK(truncated->truncated);
  CHECK(truncated->messages.size() == 20);

  auto bad_since = run(io, client->list_meeting_messages(alice, "2026-11-01' or 1 eq 1"));
  REQUIRE_FALSE(bad_since.ok());
  CHECK(bad_since.error().code == GraphErrc::bad_request);
}

TEST_CASE("graph: a listing with events carries what each lookup would give", "[graph]") {
  GraphSim sim;
  sim.add_fixture("reply-accepted");
  sim.add_message(alice, "note", generated_message(7, "<note@x>", false));
  asio::io_context io;
  auto client = make_client(io, sim.config());
  auto listing = run(io, client->list_meeting_messages(alice, "", true));
  INFO((listing ? "" : listing.error().message));
  REQUIRE(listing.ok());
  REQUIRE(listing->messages.size() == 1);
  const auto& ref = listing->messages.front();
  CHECK(ref.internet_message_id == lookup_id);
  auto lookup = run(io, client->fetch_event_message_json(alice, lookup_id));
  REQUIRE(lookup.ok());
  CHECK(json::parse(ref.lookup_json).at("value") == json::parse(*lookup).at("value"));
  auto parsed = parse_event_message_response(ref.lookup_json);
  REQUIRE(parsed.ok());
  CHECK_FALSE(parsed->event.ical_uid.empty());
  // Without events the listing names the messages only.
  auto ids = run(io, client->list_meeting_messages(alice, ""));
  REQUIRE(ids.ok());
  REQUIRE(ids->messages.size() == 1);
  CHECK(ids->messages.front().lookup_json.empty());
}

namespace {

// Warms the token (so that only Graph requests overlap), makes Graph answer each request
// `delay_ms` late, and runs `n` lookups for alice at once: how many succeeded.
int slowed_lookups(asio::io_context& io, GraphClient& client, GraphSim& sim, int delay_ms, int n) {
  REQUIRE(run(io, client.lookup_event_message(alice, lookup_id)).ok());
  sim.set_control(R"({"fail":[{"path_prefix":"/v1.0/users/","delay_ms":)" +
                  std::to_string(delay_ms) + "}]}");
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    spawn_lookup(io, client, alice, ok);
  }
  io.restart();
  io.run();
  return ok;
}

} // namespace

TEST_CASE("graph: the per-user concurrency cap holds", "[graph]") {
  GraphSim sim;
  sim.add_fixture("reply-accepted");
  auto config = sim.config();
  config.per_user_concurrency = 2;
  config.global_concurrency = 16;
  asio::io_context io;
  auto client = make_client(io, config);
  CHECK(slowed_lookups(io, *client, sim, 150, 8) == 8);
  auto stats = sim_stats(io, sim);
  CHECK(count_of(stats.at("max_in_flight_per_user").as_object(), "alice@contoso.com") == 2);
}

TEST_CASE("graph: waiting for the per-user cap does not eat the timeout", "[graph]") {
  GraphSim sim;
  sim.add_fixture("reply-accepted");
  auto config = sim.config();
  config.per_user_concurrency = 1;
  config.request_timeout = std::chrono::milliseconds(1000);
  config.overall_timeout = std::chrono::milliseconds(1000);
  asio::io_context io;
  auto client = make_client(io, config);
  // Eight lookups one after another take about 2.4 s, well past one overall timeout.
  CHECK(slowed_lookups(io, *client, sim, 300, 8) == 8);
}

TEST_CASE("graph: the global concurrency cap holds across users", "[graph]") {
  GraphSim sim;
  const std::string fixture_text = read_text(fixture("reply-accepted"));
  const std::vector<std::string> users{alice, "bob@contoso.com", "carol@contoso.com",
                                       "dave@contoso.com"};
  for (const auto& user : users) {
    sim.add_message(user, "r", fixture_text);
  }
  auto config = sim.config();
  config.per_user_concurrency = 4;
  config.global_concurrency = 3;
  asio::io_context io;
  auto client = make_client(io, config);
  REQUIRE(run(io, client->lookup_event_message(alice, lookup_id)).ok());
  sim.set_control(R"({"fail":[{"path_prefix":"/v1.0/users/","delay_ms":150}]})");
  int ok = 0;
  for (int i = 0; i < 4; ++i) {
    for (const auto& user : users) {
      spawn_lookup(io, *client, user, ok);
    }
  }
  io.restart();
  io.run();
  CHECK(ok == 16);
  CHECK(count_of(sim_stats(io, sim), "max_in_flight") == 3);
}

namespace {

// One TLS connection answered with a fixed JSON body; the handshake may fail.
asio::awaitable<void> tls_server_once(asio::ip::tcp::acceptor& acceptor,
                                      asio::ssl::context& context) {
  constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
  auto [ec, socket] = co_await acceptor.async_accept(tuple);
  if (ec) {
    co_return;
  }
  asio::ssl::stream<asio::ip::tcp::socket> stream(std::move(socket), context);
  if (auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, tuple); hec) {
    co_return;
  }
  boost::beast::flat_buffer buffer;
  boost::beast::http::request<boost::beast::http::string_body> request;
  if (auto [rec, n] = co_await boost::beast::http::async_read(stream, buffer, request, tuple);
      rec) {
    co_return;
  }
  boost::beast::http::response<boost::beast::http::string_body> response{
      boost::beast::http::status::ok, 11};
  response.body() = R"({"host":")" + std::string(request[boost::beast::http::field::host]) + "\"}";
  response.prepare_payload();
  co_await boost::beast::http::async_write(stream, response, tuple);
}

// A development CA and a leaf certificate for `names`, made with certs/dev-ca.sh.
fs::path make_certificates(const fs::path& dir, const std::string& names) {
  const fs::path script = fs::path(ICALGATE_TEST_DATA_DIR).parent_path() / "certs" / "dev-ca.sh";
  const std::string command =
      "sh '" + script.string() + "' '" + dir.string() + "' " + names + " >/dev/null 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);
  return dir;
}

GraphResult<HttpResponse> tls_exchange(const fs::path& certs, const std::string& ca_file,
                                       const std::string& host) {
  asio::io_context io;
  asio::ssl::context server(asio::ssl::context::tls_server);
  server.use_certificate_chain_file((certs / "fullchain.pem").string());
  server.use_private_key_file((certs / "privkey.pem").string(), asio::ssl::context::pem);
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::co_spawn(io, tls_server_once(acceptor, server), rethrow);
  auto transport = HttpTransport::create(ca_file, 1 << 20);
  REQUIRE(transport.ok());
  HttpRequest request;
  request.url = parse_http_url("https://" + host + ":" +
                               std::to_string(acceptor.local_endpoint().port()) + "/v1.0/x")
                    .value();
  auto result = run(io, (*transport)->send(request, Clock::now() + std::chrono::seconds(10)));
  acceptor.close();
  io.restart();
  io.run();
  return result;
}

} // namespace

TEST_CASE("graph: https verifies the peer against the configured CA and the host name", "[graph]") {
  char pattern[] = "/tmp/icalgate-graph-tls-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  const fs::path dir = pattern;
  const fs::path good = make_certificates(dir / "good", "localhost 127.0.0.1");
  const fs::path other = make_certificates(dir / "other", "other.example.test");

  auto verified = tls_exchange(good, (good / "ca.pem").string(), "localhost");
  INFO((verified ? "" : verified.error().message));
  REQUIRE(verified.ok());
  CHECK(verified->status == 200);
  CHECK(verified->body.find("localhost:") != std::string::npos);

  // Not in the system store: refused.
  auto untrusted = tls_exchange(good, "", "127.0.0.1");
  REQUIRE_FALSE(untrusted.ok());
  CHECK(untrusted.error().code == GraphErrc::tls);

  // Trusted CA, but the certificate names another host.
  auto mismatch = tls_exchange(other, (other / "ca.pem").string(), "127.0.0.1");
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error().code == GraphErrc::tls);

  std::error_code ec;
  fs::remove_all(dir, ec);
}
