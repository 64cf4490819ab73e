// Loopback TLS handshakes with development certificates made by certs/dev-ca.sh.

#include "proxy/tls_context.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch_test_macros.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

using namespace icalgate::proxy;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::filesystem::path make_temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "icalgate-tls-XXXXXX").string();
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

void make_cert(const std::filesystem::path& dir, const std::string& names) {
  const std::string script = std::string(ICALGATE_TEST_DATA_DIR) + "/../certs/dev-ca.sh";
  const std::string command =
      "sh '" + script + "' '" + dir.string() + "' " + names + " >/dev/null 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);
}

struct TempDir {
  std::filesystem::path path = make_temp_dir();
  TempDir() = default;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

struct ClientResult {
  boost::system::error_code handshake;
  long verify = X509_V_OK;
  int chain_length = 0;
  bool reused = false;
  std::string received;
  std::string cipher;
};

// One server connection on a thread (handshake, send "hello", wait for the client to close)
// and one client connection, made by `client(port)` on the caller's thread.
template <class Client>
ClientResult with_server(const SslContextPtr& server_ctx, Client client) {
  asio::io_context server_io;
  tcp::acceptor acceptor(server_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acceptor.local_endpoint().port();
  std::thread server([&] {
    boost::system::error_code ec;
    asio::ssl::stream<tcp::socket> stream(acceptor.accept(), *server_ctx);
    stream.handshake(asio::ssl::stream_base::server, ec);
    if (!ec) {
      asio::write(stream, asio::buffer(std::string_view("hello")), ec);
      char byte = 0;
      asio::read(stream, asio::buffer(&byte, 1), ec); // until the client goes
    }
  });
  ClientResult result = client(port);
  server.join();
  return result;
}

// A client handshake on `stream`, connected to the server on `port`.
template <class Prepare>
ClientResult client_handshake(asio::ssl::stream<tcp::socket>& stream, unsigned short port,
                              Prepare prepare) {
  ClientResult result;
  stream.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  prepare(stream.native_handle());
  stream.handshake(asio::ssl::stream_base::client, result.handshake);
  result.verify = SSL_get_verify_result(stream.native_handle());
  if (!result.handshake) {
    if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(stream.native_handle())) {
      result.chain_length = sk_X509_num(chain);
    }
    result.cipher = SSL_get_cipher_name(stream.native_handle());
    std::string data(5, '\0');
    boost::system::error_code ec;
    asio::read(stream, asio::buffer(data), ec);
    result.received = data;
  }
  return result;
}

ClientResult handshake_once(const SslContextPtr& server_ctx, UpstreamTlsContext& client_ctx) {
  return with_server(server_ctx, [&](unsigned short port) {
    asio::io_context client_io;
    asio::ssl::stream<tcp::socket> stream(client_io, client_ctx.context());
    auto result =
        client_handshake(stream, port, [&](SSL* ssl) { REQUIRE(client_ctx.prepare(ssl).empty()); });
    if (!result.handshake) {
      result.reused = client_ctx.last_session_reused(stream.native_handle());
    }
    return result;
  });
}

// OpenSSL's defaults on the other side: its TLS 1.3 list prefers AES-256-GCM.
ClientResult handshake_with_default_client(const SslContextPtr& server_ctx) {
  return with_server(server_ctx, [&](unsigned short port) {
    asio::io_context client_io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_verify_mode(asio::ssl::verify_none);
    asio::ssl::stream<tcp::socket> stream(client_io, ctx);
    return client_handshake(stream, port, [](SSL*) {});
  });
}

SslContextPtr default_server(const std::filesystem::path& dir) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->use_certificate_chain_file((dir / "fullchain.pem").string());
  ctx->use_private_key_file((dir / "privkey.pem").string(), asio::ssl::context::pem);
  return ctx;
}

UpstreamConfig upstream_for(const std::filesystem::path& dir, const std::string& name) {
  UpstreamConfig config;
  config.host = "127.0.0.1";
  config.server_name = name;
  config.ca_file = (dir / "ca.pem").string();
  return config;
}

std::unique_ptr<UpstreamTlsContext> client_context(const UpstreamConfig& config) {
  auto made = UpstreamTlsContext::create(config);
  REQUIRE(std::holds_alternative<std::unique_ptr<UpstreamTlsContext>>(made));
  return std::get<std::unique_ptr<UpstreamTlsContext>>(std::move(made));
}

std::unique_ptr<ServerTlsContext> server_context(const std::filesystem::path& dir) {
  TlsConfig tls;
  tls.cert = (dir / "fullchain.pem").string();
  tls.key = (dir / "privkey.pem").string();
  auto made = ServerTlsContext::create(tls);
  REQUIRE(std::holds_alternative<std::unique_ptr<ServerTlsContext>>(made));
  return std::get<std::unique_ptr<ServerTlsContext>>(std::move(made));
}

// A listener with a certificate for `names` and an upstream context that verifies `host`.
struct Pair {
  Pair(const std::string& names, const std::string& host) {
    make_cert(dir.path, names);
    server = server_context(dir.path);
    client = client_context(upstream_for(dir.path, host));
  }
  TempDir dir;
  std::unique_ptr<ServerTlsContext> server;
  std::unique_ptr<UpstreamTlsContext> client;
};

} // namespace

TEST_CASE("tls: handshake verifies the chain and the name, sends the chain, resumes", "[tls]") {
  Pair pair("localhost", "localhost");
  auto& [dir, server, client] = pair;

  const auto first = handshake_once(server->current(), *client);
  REQUIRE_FALSE(first.handshake);
  CHECK(first.verify == X509_V_OK);
  CHECK(first.chain_length == 2); // leaf and CA: the full chain file is sent
  CHECK(first.received == "hello");
  CHECK_FALSE(first.reused);

  const auto second = handshake_once(server->current(), *client);
  REQUIRE_FALSE(second.handshake);
  CHECK(second.reused);
}

// Both legs of a relayed session prefer AES-128-GCM (as the TLS 1.2 list does): it costs
// less CPU per byte than AES-256-GCM, and every byte is decrypted and encrypted again.
TEST_CASE("tls: AES-128-GCM is preferred on both sides, whatever the peer's order", "[tls]") {
  Pair pair("localhost", "localhost");
  auto& [dir, server, client] = pair;

  const auto ours = handshake_once(server->current(), *client);
  REQUIRE_FALSE(ours.handshake);
  CHECK(ours.cipher == "TLS_AES_128_GCM_SHA256");

  // The listener chooses by its own order...
  const auto from_default_client = handshake_with_default_client(server->current());
  REQUIRE_FALSE(from_default_client.handshake);
  CHECK(from_default_client.cipher == "TLS_AES_128_GCM_SHA256");

  // ...and the upstream connection offers AES-128-GCM first to a server that follows the
  // client's order (OpenSSL's default, and Dovecot's).
  const auto to_default_server = handshake_once(default_server(dir.path), *client);
  REQUIRE_FALSE(to_default_server.handshake);
  CHECK(to_default_server.cipher == "TLS_AES_128_GCM_SHA256");
}

TEST_CASE("tls: a certificate for another name fails verification", "[tls]") {
  Pair pair("localhost", "imap.example.test");
  auto& [dir, server, client] = pair;
  const auto result = handshake_once(server->current(), *client);
  CHECK(result.handshake);
  CHECK(result.verify == X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_CASE("tls: an IP address is verified against IP subjectAltNames", "[tls]") {
  TempDir dir;
  make_cert(dir.path, "localhost 127.0.0.1");
  auto server = server_context(dir.path);
  auto ok_client = client_context(upstream_for(dir.path, "127.0.0.1"));
  CHECK_FALSE(handshake_once(server->current(), *ok_client).handshake);
  auto bad_client = client_context(upstream_for(dir.path, "127.0.0.2"));
  CHECK(handshake_once(server->current(), *bad_client).handshake);
}

TEST_CASE("tls: reload swaps the certificate, a bad file keeps the old one", "[tls]") {
  TempDir dir;
  make_cert(dir.path, "localhost");
  auto server = server_context(dir.path);
  const SslContextPtr before = server->current();
  CHECK_FALSE(server->files_changed());

  // A new certificate for another name, from the same CA, in the same files.
  make_cert(dir.path, "mail.example.test");
  CHECK(server->files_changed());
  const auto outcome = server->reload_if_changed();
  REQUIRE(outcome);
  CHECK(outcome->empty());
  CHECK(server->current() != before);
  CHECK_FALSE(server->files_changed());

  auto new_name = client_context(upstream_for(dir.path, "mail.example.test"));
  CHECK_FALSE(handshake_once(server->current(), *new_name).handshake);
  // The context taken before the reload (an existing session's) still has the old one.
  auto old_name = client_context(upstream_for(dir.path, "localhost"));
  CHECK_FALSE(handshake_once(before, *old_name).handshake);

  const SslContextPtr good = server->current();
  { std::ofstream(dir.path / "fullchain.pem", std::ios::trunc) << "not a certificate\n"; }
  const std::string error = server->reload();
  CHECK(error.find("fullchain.pem") != std::string::npos);
  CHECK(server->current() == good);
}

TEST_CASE("tls: missing files are reported with their name", "[tls]") {
  TempDir dir;
  TlsConfig tls;
  tls.cert = (dir.path / "nope.pem").string();
  tls.key = (dir.path / "nokey.pem").string();
  auto made = ServerTlsContext::create(tls);
  REQUIRE(std::holds_alternative<std::string>(made));
  CHECK(std::get<std::string>(made).find("nope.pem") != std::string::npos);

  make_cert(dir.path, "localhost");
  tls.cert = (dir.path / "fullchain.pem").string();
  auto no_key = ServerTlsContext::create(tls);
  REQUIRE(std::holds_alternative<std::string>(no_key));
  CHECK(std::get<std::string>(no_key).find("nokey.pem") != std::string::npos);

  UpstreamConfig upstream;
  upstream.ca_file = (dir.path / "missing-ca.pem").string();
  auto client = UpstreamTlsContext::create(upstream);
  REQUIRE(std::holds_alternative<std::string>(client));
  CHECK(std::get<std::string>(client).find("missing-ca.pem") != std::string::npos);
}
