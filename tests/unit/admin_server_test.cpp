// The admin endpoint over real loopback sockets: the server runs on its own io_context in a
// thread, as in the gateway, and plain POSIX sockets (or an OpenSSL client) talk to it.

#include "admin_test_support.hpp"
#include "proxy/admin_server.hpp"
#include "proxy/login_broker.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <catch2/catch_test_macros.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

using namespace icalgate::proxy;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// The server on its own thread; stop() (or the destructor) stops it and joins.
class RunningServer {
 public:
  // `with_broker`: a LoginBroker for [auth] too, which /enrol needs.
  explicit RunningServer(Config config, AdminLimits limits = {}, bool with_broker = false) {
    config.admin.listen = Endpoint{"127.0.0.1", 0};
    if (config.admin.hostnames.empty()) {
      config.admin.hostnames = {"imap.contoso.com"};
    }
    if (with_broker) {
      auto broker = LoginBroker::create(io_.get_executor(), config);
      INFO((broker ? "" : broker.error().message));
      REQUIRE(broker.ok());
      broker_ = std::move(broker).value();
    }
    auto created = AdminServer::create(io_, config, limits, broker_.get());
    if (auto* error = std::get_if<std::string>(&created)) {
      FAIL(*error);
    }
    server_ = std::get<std::unique_ptr<AdminServer>>(std::move(created));
    const std::string error = server_->start();
    REQUIRE(error.empty());
    port_ = server_->port();
    REQUIRE(port_ != 0);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~RunningServer() { stop(); }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;

  std::uint16_t port() const { return port_; }
  bool https() const { return server_->https(); }

  std::size_t connections() {
    std::promise<std::size_t> count;
    boost::asio::post(io_, [&] { count.set_value(server_->connection_count()); });
    return count.get_future().get();
  }

  // Returns how long io.run() took to return after stop().
  milliseconds stop() {
    if (!thread_.joinable()) {
      return milliseconds(0);
    }
    const auto start = Clock::now();
    boost::asio::post(io_, [this] { server_->stop(); });
    thread_.join();
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  }

 private:
  boost::asio::io_context io_{1};
  std::unique_ptr<LoginBroker> broker_;
  std::unique_ptr<AdminServer> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

class Client {
 public:
  explicit Client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends all of it; false if the server closed first.
  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads what arrives until the server closes (closed = true) or `timeout` passes.
  std::string read_until_closed(milliseconds timeout, bool& closed) {
    std::string out = std::move(pending_);
    pending_.clear();
    closed = false;
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 1))) <= 0) {
        continue;
      }
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed = true;
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

  // One response: the head, then Content-Length bytes of body unless `head_only`.
  std::string read_response(bool head_only = false) {
    const auto deadline = Clock::now() + milliseconds(5'000);
    std::size_t head_end = std::string::npos;
    std::size_t length = 0;
    while (Clock::now() < deadline) {
      head_end = pending_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::string head = pending_.substr(0, head_end);
        const std::size_t cl = head.find("Content-Length: ");
        length = cl == std::string::npos || head_only ? 0 : std::stoul(head.substr(cl + 16));
        if (pending_.size() >= head_end + 4 + length) {
          break;
        }
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) {
        continue;
      }
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        break;
      }
      pending_.append(buf, static_cast<std::size_t>(n));
    }
    REQUIRE(head_end != std::string::npos);
    REQUIRE(pending_.size() >= head_end + 4 + length);
    std::string response = pending_.substr(0, head_end + 4 + length);
    pending_.erase(0, response.size());
    return response;
  }

 private:
  int fd_ = -1;
  std::string pending_;
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

std::string body_of(const std::string& response) {
  return response.substr(response.find("\r\n\r\n") + 4);
}

Config addon_config() {
  Config c;
  c.auth.client_id = "8d0f7a52-6c1b-4f0e-9a7e-3c2d1e0f4b5a";
  c.auth.tenant = "contoso.onmicrosoft.com";
  return c;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "icalgate-admin-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

} // namespace

TEST_CASE("admin server: routes answered over HTTP/1.1", "[admin][server]") {
  RunningServer server(addon_config());
  CHECK_FALSE(server.https());
  Client c(server.port());
  REQUIRE(c.send("GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"));
  const std::string health = c.read_response();
  CHECK(status_line(health) == "HTTP/1.1 200 OK");
  CHECK(has(health, "Content-Type: text/plain; charset=utf-8\r\n"));
  CHECK(has(health, "Content-Length: 3\r\n"));
  CHECK(has(health, "Cache-Control: no-store\r\n"));
  CHECK(has(health, "X-Content-Type-Options: nosniff\r\n"));
  CHECK(body_of(health) == "ok\n");

  // Same connection: the add-on, byte for byte a valid archive.
  REQUIRE(c.send("GET /thunderbird/icalgate-oauth.xpi HTTP/1.1\r\nHost: gw\r\n\r\n"));
  const std::string xpi = c.read_response();
  CHECK(status_line(xpi) == "HTTP/1.1 200 OK");
  CHECK(has(xpi, "Content-Type: application/x-xpinstall\r\n"));
  CHECK(has(xpi, "Content-Disposition: attachment; filename=\"icalgate-oauth.xpi\"\r\n"));
  std::string why;
  CHECK(icalgate::test::read_stored_zip(body_of(xpi), why).has_value());

  REQUIRE(c.send("GET /mail/config-v1.1.xml?emailaddress=a%40contoso.com HTTP/1.1\r\nHost: "
                 "gw\r\n\r\n"));
  const std::string xml = c.read_response();
  CHECK(has(xml, "Content-Type: application/xml; charset=utf-8\r\n"));
  CHECK(icalgate::test::XmlReader::parse(body_of(xml)).has_value());

  REQUIRE(c.send("DELETE /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"));
  const std::string wrong = c.read_response();
  CHECK(status_line(wrong) == "HTTP/1.1 405 Method Not Allowed");
  CHECK(has(wrong, "Allow: GET, HEAD\r\n"));
  REQUIRE(c.send("GET /nope HTTP/1.1\r\nHost: gw\r\n\r\n"));
  const std::string missing = c.read_response();
  CHECK(status_line(missing) == "HTTP/1.1 404 Not Found");
  CHECK(body_of(missing) == "not found\n");
  REQUIRE(c.send("GET /enrol HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"));
  const std::string enrol = c.read_response();
  CHECK(status_line(enrol) == "HTTP/1.1 404 Not Found");
  CHECK(has(enrol, "Connection: close\r\n"));
  bool closed = false;
  CHECK(c.read_until_closed(milliseconds(3'000), closed).empty());
  CHECK(closed);
}

TEST_CASE("admin server: HEAD sends the length but no body", "[admin][server]") {
  RunningServer server(addon_config());
  Client c(server.port());
  // Pipelined: if HEAD carried a body, it would run into the next response.
  REQUIRE(c.send("HEAD /healthz HTTP/1.1\r\nHost: gw\r\n\r\nGET /healthz HTTP/1.1\r\nHost: "
                 "gw\r\nConnection: close\r\n\r\n"));
  const std::string head = c.read_response(true);
  CHECK(status_line(head) == "HTTP/1.1 200 OK");
  CHECK(has(head, "Content-Length: 3\r\n"));
  const std::string get = c.read_response();
  CHECK(status_line(get) == "HTTP/1.1 200 OK");
  CHECK(body_of(get) == "ok\n");
}

TEST_CASE("admin server: HTTP/1.0 and the per-connection request limit", "[admin][server]") {
  AdminLimits limits;
  limits.max_requests_per_connection = 3;
  RunningServer server(addon_config(), limits);
  {
    Client c(server.port());
    REQUIRE(c.send("GET /healthz HTTP/1.0\r\n\r\n"));
    const std::string response = c.read_response();
    CHECK(status_line(response) == "HTTP/1.0 200 OK");
    bool closed = false;
    c.read_until_closed(milliseconds(3'000), closed);
    CHECK(closed);
  }
  {
    Client c(server.port());
    REQUIRE(c.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    CHECK(has(c.read_response(), "Connection: keep-alive\r\n"));
    REQUIRE(c.send("GET /healthz HTTP/1.0\r\n\r\n"));
    CHECK(body_of(c.read_response()) == "ok\n");
  }
  Client c(server.port());
  std::string three;
  for (int i = 0; i < 3; ++i) {
    three += "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n";
  }
  REQUIRE(c.send(three));
  CHECK_FALSE(has(c.read_response(), "Connection: close"));
  CHECK_FALSE(has(c.read_response(), "Connection: close"));
  CHECK(has(c.read_response(), "Connection: close\r\n"));
  bool closed = false;
  CHECK(c.read_until_closed(milliseconds(3'000), closed).empty());
  CHECK(closed);
}

TEST_CASE("admin server: oversized and malformed requests get a short 4xx", "[admin][server]") {
  RunningServer server(addon_config());
  SECTION("a 100 KB header: 431") {
    Client c(server.port());
    REQUIRE(c.send("GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Big: " + std::string(100'000, 'a') +
                   "\r\n\r\n"));
    bool closed = false;
    const std::string response = c.read_until_closed(milliseconds(5'000), closed);
    CHECK(closed);
    CHECK(status_line(response) == "HTTP/1.1 431 Request Header Fields Too Large");
    CHECK(has(response, "Connection: close\r\n"));
    CHECK(body_of(response) == "request header fields too large\n");
  }
  SECTION("a 100 KB body: 413") {
    Client c(server.port());
    REQUIRE(c.send("POST /healthz HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\n\r\n" +
                   std::string(100'000, 'b')));
    bool closed = false;
    const std::string response = c.read_until_closed(milliseconds(5'000), closed);
    CHECK(closed);
    CHECK(status_line(response) == "HTTP/1.1 413 Payload Too Large");
    CHECK(body_of(response) == "request body too large\n");
  }
  SECTION("a chunked body over the limit: 413") {
    Client c(server.port());
    std::string chunks;
    for (int i = 0; i < 20; ++i) {
      chunks += "1000\r\n" + std::string(0x1000, 'c') + "\r\n";
    }
    REQUIRE(c.send("POST /healthz HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n" +
                   chunks + "0\r\n\r\n"));
    bool closed = false;
    const std::string response = c.read_until_closed(milliseconds(5'000), closed);
    CHECK(status_line(response) == "HTTP/1.1 413 Payload Too Large");
  }
  SECTION("not HTTP: 400") {
    Client c(server.port());
    REQUIRE(c.send("HELLO THERE\r\n\r\n"));
    bool closed = false;
    const std::string response = c.read_until_closed(milliseconds(5'000), closed);
    CHECK(closed);
    CHECK(status_line(response) == "HTTP/1.1 400 Bad Request");
    CHECK(body_of(response) == "bad request\n");
  }
  SECTION("a body on a GET within the limit is read and ignored") {
    Client c(server.port());
    REQUIRE(c.send("GET /healthz HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhello"
                   "GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"));
    CHECK(body_of(c.read_response()) == "ok\n");
    CHECK(body_of(c.read_response()) == "ok\n");
  }
}

TEST_CASE("admin server: a trickling client is cut off at the read timeout", "[admin][server]") {
  AdminLimits limits;
  limits.read_timeout = milliseconds(400);
  RunningServer server(addon_config(), limits);
  Client c(server.port());
  const auto start = Clock::now();
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Slow: ";
  bool closed = false;
  std::string received;
  for (std::size_t i = 0; !closed && Clock::now() - start < milliseconds(5'000); ++i) {
    c.send(std::string(1, i < request.size() ? request[i] : 'z'));
    received += c.read_until_closed(milliseconds(50), closed);
  }
  const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  CHECK(closed);
  CHECK(received.empty());
  CHECK(elapsed >= milliseconds(350));
  CHECK(elapsed < milliseconds(2'500));

  // A silent connection too.
  Client silent(server.port());
  silent.read_until_closed(milliseconds(3'000), closed);
  CHECK(closed);
}

TEST_CASE("admin server: connections above the cap are closed at once", "[admin][server]") {
  AdminLimits limits;
  limits.max_connections = 2;
  RunningServer server(addon_config(), limits);
  auto first = std::make_unique<Client>(server.port());
  Client second(server.port());
  for (Client* c : {first.get(), &second}) {
    REQUIRE(c->send("GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"));
    CHECK(body_of(c->read_response()) == "ok\n");
  }
  CHECK(server.connections() == 2);
  {
    Client third(server.port());
    third.send("GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n");
    bool closed = false;
    CHECK(third.read_until_closed(milliseconds(3'000), closed).empty());
    CHECK(closed);
  }
  first.reset();
  for (int i = 0; i < 100 && server.connections() > 1; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  Client fourth(server.port());
  REQUIRE(fourth.send("GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"));
  CHECK(body_of(fourth.read_response()) == "ok\n");
}

TEST_CASE("admin server: stop() ends open connections and the io_context's work",
          "[admin][server]") {
  AdminLimits limits;
  limits.read_timeout = milliseconds(30'000);
  RunningServer server(addon_config(), limits);
  Client idle(server.port());
  REQUIRE(idle.send("GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"));
  CHECK(body_of(idle.read_response()) == "ok\n");
  Client partial(server.port());
  REQUIRE(partial.send("GET /hea"));
  CHECK(server.stop() < milliseconds(3'000));
  bool closed = false;
  idle.read_until_closed(milliseconds(1'000), closed);
  CHECK(closed);
  partial.read_until_closed(milliseconds(1'000), closed);
  CHECK(closed);
}

TEST_CASE("admin server: HTTPS with the configured certificate", "[admin][server]") {
  const TempDir dir;
  const std::string script = std::string(ICALGATE_TEST_DATA_DIR) + "/../certs/dev-ca.sh";
  REQUIRE(std::system(("sh '" + script + "' '" + dir.path.string() +
                       "' localhost 127.0.0.1 >/dev/null 2>&1")
                          .c_str()) == 0);
  Config config = addon_config();
  config.admin.cert = (dir.path / "fullchain.pem").string();
  config.admin.key = (dir.path / "privkey.pem").string();
  RunningServer server(config);
  CHECK(server.https());

  namespace asio = boost::asio;
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file((dir.path / "ca.pem").string());
  ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> tls(io, ctx);
  tls.set_verify_callback(asio::ssl::host_name_verification("localhost"));
  tls.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), server.port()});
  tls.handshake(asio::ssl::stream_base::client);
  const std::string request =
      "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  asio::write(tls, asio::buffer(request));
  std::string response;
  boost::system::error_code ec;
  char buf[4096];
  while (!ec) {
    const std::size_t n = tls.read_some(asio::buffer(buf), ec);
    response.append(buf, n);
  }
  CHECK(status_line(response) == "HTTP/1.1 200 OK");
  CHECK(body_of(response) == "ok\n");
  // The server said close_notify: a clean end, not a truncation.
  CHECK(ec == asio::error::eof);

  // Plain HTTP to the HTTPS port gets no answer, only the close.
  Client plain(server.port());
  plain.send("GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n");
  bool closed = false;
  const std::string answer = plain.read_until_closed(milliseconds(3'000), closed);
  CHECK(closed);
  CHECK_FALSE(has(answer, "HTTP/1.1"));
}

TEST_CASE("admin server: a bad certificate or a disabled endpoint is an error at create()",
          "[admin][server]") {
  boost::asio::io_context io;
  Config config;
  config.admin.cert = "/nonexistent/cert.pem";
  config.admin.key = "/nonexistent/key.pem";
  auto created = AdminServer::create(io, config);
  REQUIRE(std::holds_alternative<std::string>(created));
  CHECK(has(std::get<std::string>(created), "/nonexistent/cert.pem"));
  config.admin.listen.reset();
  CHECK(std::holds_alternative<std::string>(AdminServer::create(io, config)));

  // A port in use is an error at start().
  RunningServer running(addon_config());
  Config clash;
  clash.admin.listen = Endpoint{"127.0.0.1", running.port()};
  auto second = AdminServer::create(io, clash);
  REQUIRE(std::holds_alternative<std::unique_ptr<AdminServer>>(second));
  const std::string error = std::get<std::unique_ptr<AdminServer>>(second)->start();
  CHECK(has(error, "cannot listen on 127.0.0.1:" + std::to_string(running.port())));
}

TEST_CASE("admin server: /enrol gets the form's headers and body", "[admin][server][enrol]") {
  // An identity platform that is not there: the sign-in fails once the client gives up.
  Config config = addon_config();
  config.auth.mode = AuthMode::delegated;
  config.auth.store = ":memory:";
  config.auth.authority = "http://127.0.0.1:9";
  RunningServer server(config, {}, true);
  Client c(server.port());
  const auto post = [&](const std::string& headers, const std::string& body) {
    REQUIRE(c.send("POST /enrol HTTP/1.1\r\nHost: gw:8080\r\n" + headers +
                   "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
    return c.read_response();
  };
  const std::string form = "Content-Type: application/x-www-form-urlencoded\r\n";
  const std::string body = "upn=alice%40contoso.com";
  CHECK(status_line(post(form + "Origin: http://evil.test\r\n", body)) == "HTTP/1.1 403 Forbidden");
  CHECK(status_line(post(form, body)) == "HTTP/1.1 403 Forbidden");
  CHECK(status_line(post("Origin: http://gw:8080\r\nContent-Type: text/plain\r\n", body)) ==
        "HTTP/1.1 415 Unsupported Media Type");
  CHECK(status_line(post(form + "Origin: http://gw:8080\r\n", "upn=alice")) ==
        "HTTP/1.1 400 Bad Request");

  const std::string started = post(form + "Referer: http://gw:8080/enrol\r\n", body);
  REQUIRE(status_line(started) == "HTTP/1.1 303 See Other");
  const std::size_t at = started.find("Location: /enrol/status?id=");
  REQUIRE(at != std::string::npos);
  const std::string location = started.substr(at + 10, started.find("\r\n", at) - at - 10);
  CHECK(location.size() == std::string("/enrol/status?id=").size() + 32);
  CHECK(has(started, "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
                     "form-action 'self'\r\n"));

  std::string page;
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline) {
    REQUIRE(c.send("GET " + location + " HTTP/1.1\r\nHost: gw\r\n\r\n"));
    page = c.read_response();
    REQUIRE(status_line(page) == "HTTP/1.1 200 OK");
    if (!has(page, "http-equiv=\"refresh\"")) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  CHECK(has(body_of(page), "could not be reached. Nothing was stored"));
  CHECK(has(page, "Cache-Control: no-store\r\n"));
  CHECK(server.stop() < milliseconds(2'000));
}

TEST_CASE("admin server: enrolment over plain HTTP only on loopback", "[admin][server][enrol]") {
  boost::asio::io_context io;
  Config config = addon_config();
  config.auth.mode = AuthMode::delegated;
  config.auth.store = ":memory:";
  config.admin.listen = Endpoint{"0.0.0.0", 0};
  auto broker = LoginBroker::create(io.get_executor(), config);
  REQUIRE(broker.ok());
  auto created = AdminServer::create(io, config, {}, broker->get());
  REQUIRE(std::holds_alternative<std::string>(created));
  CHECK(has(std::get<std::string>(created), "needs HTTPS"));
  // Without anyone to enrol there is nothing to protect.
  CHECK(std::holds_alternative<std::unique_ptr<AdminServer>>(AdminServer::create(io, config)));
}
