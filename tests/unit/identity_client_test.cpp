// The identity-platform client against the real icalgate-graphsim executable (built next to
// this test binary), over loopback http: device-code sign-in, refresh-token rotation and
// revocation, cached app tokens, retries, and errors that name no secret.

#include "calendar/identity_client.hpp"
#include "calendar/odata_text.hpp"
#include "graphsim_process.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace json = boost::json;
using namespace icalgate::calendar;
using Clock = std::chrono::steady_clock;

constexpr const char* tenant = "contoso.onmicrosoft.com";
constexpr const char* client_id = "3f6c1a52-gateway";
constexpr const char* secret = "id3ntity~s3cret";
constexpr const char* alice = "alice@contoso.com";

using icalgate::testing::rethrow;
using icalgate::testing::run;
using icalgate::testing::write_text;

// A running graphsim with the identity platform and its data.
class IdentitySim {
 public:
  explicit IdentitySim(std::vector<std::string> extra = {}) : sim_("identity") {
    json::object client{{"tenant", tenant}, {"client_id", client_id}, {"client_secret", secret}};
    write_text(dir() / "data" / "clients.json",
               json::serialize(json::object{{"clients", json::array{client}}}));
    write_text(dir() / "secret", std::string(secret) + "\n");
    write_text(dir() / "wrong-secret", "not-the-secret\n");
    write_text(dir() / "jwt-key", "0123456789abcdef0123456789abcdef");
    std::vector<std::string> args{"--data", (dir() / "data").string(), "--jwt-key",
                                  (dir() / "jwt-key").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    sim_.start(std::move(args));
  }

  fs::path control() const { return sim_.control(); }
  fs::path log() const { return sim_.log(); }
  std::string url() const { return sim_.url(); }
  void set_control(const std::string& text) { sim_.set_control(text); }

  IdentityConfig config(bool with_secret = true) const {
    IdentityConfig c;
    c.tenant = tenant;
    c.client_id = client_id;
    c.client_secret_file = with_secret ? (dir() / "secret").string() : "";
    c.authority = url();
    c.request_timeout = std::chrono::milliseconds(5000);
    c.overall_timeout = std::chrono::milliseconds(15000);
    c.backoff_base = std::chrono::milliseconds(20);
    c.backoff_max = std::chrono::milliseconds(200);
    return c;
  }
  std::string wrong_secret_file() const { return (dir() / "wrong-secret").string(); }

 private:
  const fs::path& dir() const { return sim_.dir(); }

  icalgate::testing::GraphsimProcess sim_;
};

std::unique_ptr<IdentityClient> make_client(asio::io_context& io, const IdentityConfig& config) {
  auto client = IdentityClient::create(io.get_executor(), config);
  INFO((client ? "" : client.error().message));
  REQUIRE(client.ok());
  return std::move(client).value();
}

// A test hook of the simulator: POST form to `path`, the JSON answer.
json::object sim_post(asio::io_context& io, const IdentitySim& sim, const std::string& path,
                      const std::string& form) {
  auto transport = HttpTransport::create("", 1 << 20);
  REQUIRE(transport.ok());
  HttpRequest request;
  request.method = "POST";
  request.url = parse_http_url(sim.url() + path).value();
  request.content_type = "application/x-www-form-urlencoded";
  request.body = form;
  auto response = run(io, (*transport)->send(request, Clock::now() + std::chrono::seconds(5)));
  REQUIRE(response.ok());
  INFO(response->body);
  REQUIRE(response->status == 200);
  return json::parse(response->body).as_object();
}

void approve(asio::io_context& io, const IdentitySim& sim, const DeviceCodeGrant& grant,
             const std::string& upn) {
  sim_post(io, sim, "/_sim/devicecode/approve",
           "user_code=" + percent_encode(grant.user_code) + "&upn=" + percent_encode(upn));
}

// The JSON payload of a JWT (not verified).
json::object jwt_payload(const std::string& jwt) {
  const auto first = jwt.find('.');
  const auto second = jwt.find('.', first + 1);
  REQUIRE(second != std::string::npos);
  std::string text = jwt.substr(first + 1, second - first - 1);
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (const char c : text) {
    const std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    bits = (bits << 6) | static_cast<unsigned>(alphabet.find(c));
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return json::parse(out).as_object();
}

std::string read_text(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Signs in alice through the device-code flow, approving at once.
UserTokens sign_in(asio::io_context& io, const IdentitySim& sim, IdentityClient& client) {
  auto grant = run(io, client.start_device_code(imap_delegated_scope));
  INFO((grant ? "" : grant.error().message));
  REQUIRE(grant.ok());
  approve(io, sim, *grant, alice);
  auto poll = run(io, client.wait_for_device_code(*grant));
  INFO((poll ? "" : poll.error().message));
  REQUIRE(poll.ok());
  REQUIRE(poll->status == DeviceCodeStatus::granted);
  return poll->tokens;
}

} // namespace

TEST_CASE("identity: the configuration is checked before any connection", "[identity]") {
  asio::io_context io;
  IdentitySim sim;
  IdentityConfig config = sim.config();
  config.authority = "http://login.example.com";
  auto insecure = IdentityClient::create(io.get_executor(), config);
  REQUIRE_FALSE(insecure.ok());
  CHECK(insecure.error().code == GraphErrc::insecure_endpoint);
  config = sim.config();
  config.tenant = "contoso/../x";
  auto bad_tenant = IdentityClient::create(io.get_executor(), config);
  REQUIRE_FALSE(bad_tenant.ok());
  CHECK(bad_tenant.error().code == GraphErrc::config);
  config = sim.config();
  config.client_secret_file = "/nonexistent/secret";
  auto no_secret = IdentityClient::create(io.get_executor(), config);
  REQUIRE_FALSE(no_secret.ok());
  CHECK(no_secret.error().code == GraphErrc::config);
  CHECK(io.poll() == 0);

  // A public client works for users, but has no app token.
  auto client = make_client(io, sim.config(false));
  auto token = run(io, client->client_credentials(imap_app_scope));
  REQUIRE_FALSE(token.ok());
  CHECK(token.error().code == GraphErrc::config);
  CHECK(client->stats().requests == 0);
}

TEST_CASE("identity: a device-code sign-in the user approves yields the user's tokens",
          "[identity]") {
  asio::io_context io;
  IdentitySim sim({"--device-code-interval", "1", "--token-lifetime", "900"});
  auto client = make_client(io, sim.config(false));

  auto grant = run(io, client->start_device_code(imap_delegated_scope));
  INFO((grant ? "" : grant.error().message));
  REQUIRE(grant.ok());
  CHECK(grant->user_code.size() == 9);
  CHECK(grant->verification_uri == "https://microsoft.com/devicelogin");
  CHECK(grant->interval == std::chrono::seconds(1));
  CHECK(grant->expires_in == std::chrono::seconds(900));
  CHECK(grant->message.find(grant->user_code) != std::string::npos);
  CHECK(grant->device_code.size() > 40);

  auto pending = run(io, client->poll_device_code(grant->device_code));
  REQUIRE(pending.ok());
  CHECK(pending->status == DeviceCodeStatus::pending);

  approve(io, sim, *grant, alice);
  const auto before = std::chrono::system_clock::now();
  auto done = run(io, client->wait_for_device_code(*grant));
  INFO((done ? "" : done.error().message));
  REQUIRE(done.ok());
  REQUIRE(done->status == DeviceCodeStatus::granted);
  const UserTokens& tokens = done->tokens;
  CHECK(tokens.upn == alice);
  CHECK_FALSE(tokens.refresh_token.empty());
  CHECK(tokens.expires_in == std::chrono::seconds(900));
  CHECK(tokens.expires_at >= before + std::chrono::seconds(899));
  CHECK(tokens.expires_at <= std::chrono::system_clock::now() + std::chrono::seconds(900));
  CHECK(tokens.scope == "https://outlook.office.com/IMAP.AccessAsUser.All");
  const json::object claims = jwt_payload(tokens.access_token);
  CHECK(claims.at("upn").as_string() == alice);
  CHECK(claims.at("scp").as_string() == "IMAP.AccessAsUser.All");
  CHECK(claims.at("appid").as_string() == client_id);

  // The code is spent.
  auto again = run(io, client->poll_device_code(grant->device_code));
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == GraphErrc::auth);
  CHECK(again.error().message.find("invalid_grant") != std::string::npos);
  CHECK(again.error().message.find(grant->device_code) == std::string::npos);
}

TEST_CASE("identity: polling too often is slow_down; a declined or expired sign-in ends it",
          "[identity]") {
  asio::io_context io;
  IdentitySim sim({"--device-code-interval", "1", "--device-code-lifetime", "2"});
  auto client = make_client(io, sim.config());

  auto grant = run(io, client->start_device_code(imap_delegated_scope));
  REQUIRE(grant.ok());
  auto first = run(io, client->poll_device_code(grant->device_code));
  auto second = run(io, client->poll_device_code(grant->device_code));
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(first->status == DeviceCodeStatus::pending);
  CHECK(second->status == DeviceCodeStatus::slow_down);

  sim_post(io, sim, "/_sim/devicecode/deny", "user_code=" + percent_encode(grant->user_code));
  auto declined = run(io, client->wait_for_device_code(*grant));
  REQUIRE(declined.ok());
  CHECK(declined->status == DeviceCodeStatus::declined);

  // Nobody signs in: the code expires (2 s here, 15 min at Microsoft).
  auto unattended = run(io, client->start_device_code(imap_delegated_scope));
  REQUIRE(unattended.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  auto expired = run(io, client->poll_device_code(unattended->device_code));
  REQUIRE(expired.ok());
  CHECK(expired->status == DeviceCodeStatus::expired);
  const auto started = Clock::now();
  auto waited = run(io, client->wait_for_device_code(*unattended));
  REQUIRE(waited.ok());
  CHECK(waited->status == DeviceCodeStatus::expired);
  CHECK(Clock::now() - started < std::chrono::seconds(5));
}

TEST_CASE("identity: a scope the platform refuses is an auth error naming the AADSTS code",
          "[identity]") {
  asio::io_context io;
  IdentitySim sim;
  auto client = make_client(io, sim.config());
  auto refused = run(io, client->start_device_code("https://graph.microsoft.com/Mail.Read"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == GraphErrc::auth);
  CHECK(refused.error().http_status == 400);
  CHECK(refused.error().message.find("invalid_scope (AADSTS70011)") != std::string::npos);
}

TEST_CASE("identity: refresh rotates the token; a used or revoked one means enrol again",
          "[identity]") {
  asio::io_context io;
  IdentitySim sim({"--device-code-interval", "1"});
  auto client = make_client(io, sim.config(false));
  const UserTokens enrolled = sign_in(io, sim, *client);

  auto first = run(io, client->refresh(enrolled.refresh_token));
  INFO((first ? "" : first.error().message));
  REQUIRE(first.ok());
  REQUIRE(first->status == RefreshStatus::refreshed);
  CHECK(first->tokens.upn == alice);
  CHECK_FALSE(first->tokens.refresh_token.empty());
  CHECK(first->tokens.refresh_token != enrolled.refresh_token);
  CHECK(first->tokens.access_token != enrolled.access_token);

  auto reused = run(io, client->refresh(enrolled.refresh_token));
  REQUIRE(reused.ok());
  CHECK(reused->status == RefreshStatus::invalid_grant);
  CHECK(reused->reason == "invalid_grant (AADSTS70008)");

  auto narrower = run(io, client->refresh(first->tokens.refresh_token,
                                          "https://outlook.office.com/IMAP.AccessAsUser.All"));
  REQUIRE(narrower.ok());
  REQUIRE(narrower->status == RefreshStatus::refreshed);

  const auto revoked = sim_post(io, sim, "/_sim/revoke", "upn=alice%40contoso.com");
  CHECK(revoked.at("revoked").to_number<int>() == 1);
  auto after = run(io, client->refresh(narrower->tokens.refresh_token));
  REQUIRE(after.ok());
  CHECK(after->status == RefreshStatus::invalid_grant);
  CHECK(after->reason == "invalid_grant (AADSTS50173)");
  CHECK(after->reason.find(narrower->tokens.refresh_token) == std::string::npos);
  CHECK(client->stats().refreshes == 4);
}

TEST_CASE("identity: the app token is cached, shared, and renewed before it expires",
          "[identity]") {
  asio::io_context io;
  IdentitySim sim({"--token-lifetime", "2"});
  auto client = make_client(io, sim.config());

  auto token = run(io, client->client_credentials(imap_app_scope));
  INFO((token ? "" : token.error().message));
  REQUIRE(token.ok());
  const json::object claims = jwt_payload(*token);
  CHECK(claims.at("aud").as_string() == "https://outlook.office365.com");
  CHECK(claims.at("roles").as_array().at(0).as_string() == "IMAP.AccessAsApp");
  CHECK_FALSE(claims.contains("upn"));

  auto cached = run(io, client->client_credentials(imap_app_scope));
  REQUIRE(cached.ok());
  CHECK(*cached == *token);
  CHECK(client->stats().app_tokens == 1);

  // Past 80 % of its 2 s lifetime it is renewed; concurrent callers share one request.
  std::this_thread::sleep_for(std::chrono::milliseconds(1700));
  std::vector<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto t = co_await client->client_credentials(imap_app_scope);
          seen.push_back(t ? *t : "");
        },
        rethrow);
  }
  io.restart();
  io.run();
  REQUIRE(seen.size() == 4);
  CHECK(client->stats().app_tokens == 2);
  for (const auto& t : seen) {
    CHECK(t == seen.front());
  }
  CHECK(seen.front() != *token);

  // The upstream refused it: the next call fetches a fresh one.
  client->invalidate_app_token(imap_app_scope, seen.front());
  auto fresh = run(io, client->client_credentials(imap_app_scope));
  REQUIRE(fresh.ok());
  CHECK(client->stats().app_tokens == 3);
}

TEST_CASE("identity: a refused client is an auth error that names no secret or token",
          "[identity]") {
  asio::io_context io;
  IdentitySim sim;
  IdentityConfig config = sim.config();
  config.client_secret_file = sim.wrong_secret_file();
  auto client = make_client(io, config);
  auto token = run(io, client->client_credentials(imap_app_scope));
  REQUIRE_FALSE(token.ok());
  CHECK(token.error().code == GraphErrc::auth);
  CHECK(token.error().http_status == 401);
  CHECK(token.error().message.find("invalid_client (AADSTS7000215)") != std::string::npos);
  CHECK(token.error().message.find("not-the-secret") == std::string::npos);

  auto public_client = make_client(io, sim.config(false));
  auto garbage = run(io, public_client->refresh("0.AXYZ-not-a-token"));
  REQUIRE(garbage.ok());
  CHECK(garbage->status == RefreshStatus::invalid_grant);
  CHECK(garbage->reason.find("0.AXYZ") == std::string::npos);

  auto bogus = run(io, public_client->poll_device_code("DAQABbogus-device-code"));
  REQUIRE_FALSE(bogus.ok());
  CHECK(bogus.error().message.find("bogus") == std::string::npos);
  CHECK(bogus.error().message.find("bad_verification_code") != std::string::npos);

  // The simulator's log has the requests, never their bodies.
  const std::string log = read_text(sim.log());
  CHECK(log.find("/oauth2/v2.0/token") != std::string::npos);
  CHECK(log.find("not-the-secret") == std::string::npos);
}

TEST_CASE("identity: 503 is retried; a refresh whose answer was lost is not sent again",
          "[identity]") {
  asio::io_context io;
  IdentitySim sim({"--device-code-interval", "1"});
  IdentityConfig config = sim.config();
  auto client = make_client(io, config);

  sim.set_control(R"({"fail": [{"path_prefix": "/contoso.onmicrosoft.com/oauth2/v2.0/token",
                                "status": 503, "retry_after": 0, "count": 1}]})");
  auto token = run(io, client->client_credentials(imap_app_scope));
  INFO((token ? "" : token.error().message));
  REQUIRE(token.ok());
  CHECK(client->stats().retries == 1);

  sim.set_control("{}");
  const UserTokens enrolled = sign_in(io, sim, *client);
  config.request_timeout = std::chrono::milliseconds(300);
  auto impatient = make_client(io, config);
  sim.set_control(R"({"fail": [{"path_prefix": "/contoso.onmicrosoft.com/oauth2/v2.0/token",
                                "delay_ms": 1000, "count": 1}]})");
  auto lost = run(io, impatient->refresh(enrolled.refresh_token));
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.error().code == GraphErrc::timeout);
  CHECK(impatient->stats().requests == 1);
  CHECK(lost.error().message.find(enrolled.refresh_token) == std::string::npos);
}
