#pragma once
// The gateway's web endpoint ([admin]): HTTP/1.1, or HTTPS when [admin] cert and key are set,
// with Boost.Beast and C++20 coroutines on the gateway's single-threaded io_context. What to
// answer lives in proxy/http_routes.hpp; this server holds what every request shares: TLS
// (reloaded on SIGHUP and when the files change), limits, timeouts, error replies and the
// request log. A client that breaks a limit gets a short 4xx and the connection closes;
// nothing it sends can make the server answer with more than a status line and one sentence.

#include "proxy/config.hpp"
#include "proxy/stream.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>

namespace icalgate::proxy {

struct AdminLimits {
  std::size_t max_header_bytes = 16 * 1024;        // request line and headers; more: 431
  std::size_t max_body_bytes = 64 * 1024;          // more: 413
  std::uint32_t max_requests_per_connection = 100; // then Connection: close
  std::uint32_t max_connections = 128;             // more are closed as soon as accepted
  std::chrono::milliseconds handshake_timeout{10'000};
  // One whole request, the wait for its first byte included: a client trickling its
  // headers (slowloris) is cut off when this runs out, however steadily it sends.
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds write_timeout{30'000};
  // After the last reply: how long to read (and drop) what the client still sends before
  // closing, so that its unread rest does not turn the close into a reset that could
  // destroy the reply before the client has read it.
  std::chrono::milliseconds linger_timeout{2'000};
};

class LoginBroker;

class AdminServer {
 public:
  // Routes built, the certificate loaded (when [admin] cert and key are set), nothing bound
  // yet; or why not. The machine's host name stands for a wildcard listener address in
  // gateway_hostnames(). With `broker` (which must outlive io.run()) and an account in the
  // delegated mode, /enrol enrols users; the endpoint must then be HTTPS or on loopback.
  static std::variant<std::unique_ptr<AdminServer>, std::string>
  create(asio::io_context& io, const Config& config, AdminLimits limits = {},
         LoginBroker* broker = nullptr);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds [admin] listen (which must be set) and starts accepting; "" or why not.
  std::string start();
  // Stops accepting, closes every connection and ends the enrolments' waits, so that
  // io.run() stops waiting for this server. Call it on the io_context's thread.
  void stop();

  std::uint16_t port() const; // the bound port (useful with port 0); 0 before start()
  bool https() const;
  std::size_t connection_count() const;

  struct State;

 private:
  explicit AdminServer(std::shared_ptr<State> state) : state_(std::move(state)) {}
  // Shared with every coroutine of the server: they may outlive this handle.
  std::shared_ptr<State> state_;
};

} // namespace icalgate::proxy
