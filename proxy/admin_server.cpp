#include "proxy/admin_server.hpp"

#include "calendar/http_transport.hpp"
#include "proxy/enrol_service.hpp"
#include "proxy/http_routes.hpp"
#include "proxy/logging.hpp"
#include "proxy/redact.hpp"
#include "proxy/tls_context.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <unistd.h>

#include <array>
#include <csignal>
#include <exception>
#include <unordered_map>

namespace icalgate::proxy {

namespace beast = boost::beast;
namespace http = beast::http;
using std::chrono::milliseconds;

struct AdminServer::State {
  State(asio::io_context& io_context, std::shared_ptr<EnrolService> enrol_service,
        AdminRoutes admin_routes, AdminLimits admin_limits)
      : io(io_context), enrol(std::move(enrol_service)), routes(std::move(admin_routes)),
        limits(admin_limits), acceptor(io), poll_timer(io), signals(io) {}

  asio::io_context& io;
  std::shared_ptr<EnrolService> enrol; // null: no enrolment here
  AdminRoutes routes;
  AdminLimits limits;
  std::optional<Endpoint> listen;
  std::unique_ptr<ServerTlsContext> tls; // null: plain HTTP
  tcp::acceptor acceptor;
  asio::steady_timer poll_timer;
  asio::signal_set signals;
  bool stopped = false;
  std::uint64_t next_id = 1;
  // The open connections, to close on stop(); each entry lives as long as its coroutine.
  std::unordered_map<std::uint64_t, beast::tcp_stream*> open;
};

namespace {

using State = AdminServer::State;

constexpr std::chrono::seconds certificate_poll_interval{5};
constexpr std::size_t max_linger_bytes = 1 << 20;

std::string system_host_name() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) {
    return {};
  }
  return std::string(name.data());
}

// Registers a connection for stop() while its coroutine runs.
class OpenConnection {
 public:
  OpenConnection(State& state, beast::tcp_stream& stream) : state_(state), id_(state.next_id++) {
    state_.open.emplace(id_, &stream);
  }
  ~OpenConnection() { state_.open.erase(id_); }
  OpenConnection(const OpenConnection&) = delete;
  OpenConnection& operator=(const OpenConnection&) = delete;

 private:
  State& state_;
  std::uint64_t id_;
};

bool is_http_parse_error(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

void log_request(const std::string& peer, std::string_view method, std::string_view target,
                 const HttpReply& reply) {
  // The query stays out of the log: it may carry an address or, later, a code.
  const std::string_view path = target.substr(0, target.find('?'));
  log_event(reply.routine ? LogLevel::debug : LogLevel::info, "admin_request",
            {field("client", peer), field("method", sanitize_for_log(method, 16)),
             field("path", sanitize_for_log(path, 200)),
             field("status", static_cast<std::uint64_t>(reply.status)),
             field("bytes", static_cast<std::uint64_t>(reply.body.size()))});
}

template <class Body>
void set_headers(http::response<Body>& res, const HttpReply& reply, bool keep_alive) {
  res.set(http::field::content_type, reply.content_type);
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  for (const auto& [name, value] : reply.headers) {
    res.set(name, value);
  }
  res.keep_alive(keep_alive);
}

template <class Stream>
asio::awaitable<error_code> write_reply(State& state, Stream& stream, const HttpReply& reply,
                                        unsigned version, bool head, bool keep_alive) {
  beast::get_lowest_layer(stream).expires_after(state.limits.write_timeout);
  const auto status = static_cast<http::status>(reply.status);
  if (head) {
    http::response<http::empty_body> res{status, version};
    set_headers(res, reply, keep_alive);
    res.content_length(reply.body.size());
    auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
    co_return ec;
  }
  http::response<http::string_body> res{status, version, reply.body};
  set_headers(res, reply, keep_alive);
  res.prepare_payload();
  auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
  co_return ec;
}

enum class Ending {
  done,     // the last reply went out: close gracefully
  refused,  // a limit or a malformed request: input may be left unread
  finished, // the peer closed, the deadline passed or the network failed: just close
};

template <class Stream>
asio::awaitable<Ending> serve(State& state, Stream& stream, const std::string& peer) {
  const AdminLimits& limits = state.limits;
  beast::flat_buffer buffer;
  for (std::uint32_t served = 0;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(static_cast<std::uint64_t>(limits.max_body_bytes));
    beast::get_lowest_layer(stream).expires_after(limits.read_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) {
      HttpReply reply;
      if (ec == http::error::header_limit) {
        reply = plain_reply(431, "request header fields too large");
      } else if (ec == http::error::body_limit) {
        reply = plain_reply(413, "request body too large");
      } else if (is_http_parse_error(ec) && ec != http::error::end_of_stream &&
                 ec != http::error::partial_message) {
        reply = plain_reply(400, "bad request");
      } else {
        if (ec == beast::error::timeout) {
          log_event(LogLevel::debug, "admin_timeout", {field("client", peer)});
        }
        co_return Ending::finished;
      }
      log_request(peer, "-", "-", reply);
      co_await write_reply(state, stream, reply, 11, false, false);
      co_return Ending::refused;
    }
    ++served;
    const auto& request = parser.get();
    const std::string_view method = request.method_string();
    const std::string_view target = request.target();
    const HttpReply reply = state.routes.handle(HttpRequest{
        method, target, request[http::field::host], request[http::field::origin],
        request[http::field::referer], request[http::field::content_type], request.body()});
    log_request(peer, method, target, reply);
    const bool keep_alive =
        request.keep_alive() && served < limits.max_requests_per_connection && !state.stopped;
    // An HTTP/1.0 client is answered in 1.0, where keep-alive must be said explicitly.
    const unsigned version = request.version() == 10 ? 10 : 11;
    const bool head = request.method() == http::verb::head;
    const error_code written =
        co_await write_reply(state, stream, reply, version, head, keep_alive);
    if (written) {
      co_return Ending::finished;
    }
    if (!keep_alive) {
      co_return Ending::done;
    }
  }
}

// Half-closes, reads and drops what the client still sends until it closes (or the linger
// time or byte budget runs out), then closes.
asio::awaitable<void> linger_close(State& state, beast::tcp_stream& tcp) {
  error_code ec;
  tcp.socket().shutdown(tcp::socket::shutdown_send, ec);
  tcp.expires_after(state.limits.linger_timeout);
  std::vector<char> scratch(16 * 1024);
  std::size_t total = 0;
  while (!ec && total < max_linger_bytes && !state.stopped) {
    auto [read_ec, n] = co_await tcp.async_read_some(asio::buffer(scratch), use_tuple);
    ec = read_ec;
    total += n;
  }
  tcp.close();
}

asio::awaitable<void> run_connection(std::shared_ptr<State> state, tcp::socket socket) {
  error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  const std::string peer = ec ? "unknown" : remote.address().to_string();
  beast::tcp_stream tcp(std::move(socket));
  if (!state->tls) {
    const OpenConnection registered(*state, tcp);
    const Ending ending = co_await serve(*state, tcp, peer);
    if (ending != Ending::finished) {
      co_await linger_close(*state, tcp);
    }
    co_return;
  }
  // The context current at the handshake stays with the connection across a reload.
  const SslContextPtr context = state->tls->current();
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), *context);
  beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
  const OpenConnection registered(*state, lowest);
  lowest.expires_after(state->limits.handshake_timeout);
  auto [handshake_ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
  if (handshake_ec) {
    log_event(LogLevel::debug, "admin_tls_failed",
              {field("client", peer), field("reason", sanitize_for_log(handshake_ec.message()))});
    co_return;
  }
  const Ending ending = co_await serve(*state, stream, peer);
  if (ending == Ending::done) {
    // close_notify, then the peer's (or its close) within the linger time.
    lowest.expires_after(state->limits.linger_timeout);
    auto [shutdown_ec] = co_await stream.async_shutdown(use_tuple);
    (void)shutdown_ec;
  }
  if (ending != Ending::finished && lowest.socket().is_open()) {
    co_await linger_close(*state, lowest);
  }
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
  while (!state->stopped) {
    auto [ec, socket] = co_await state->acceptor.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || state->stopped) {
        co_return;
      }
      log_event(LogLevel::warn, "admin_accept_failed", {field("reason", ec.message())});
      asio::steady_timer pause(state->io);
      pause.expires_after(milliseconds(100));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    if (state->open.size() >= state->limits.max_connections) {
      log_event(LogLevel::debug, "admin_connection_refused",
                {field("reason", std::string("too many connections"))});
      error_code ignored;
      socket.close(ignored);
      continue;
    }
    asio::co_spawn(state->io, run_connection(state, std::move(socket)),
                   [](const std::exception_ptr& e) { log_exception("admin_connection", e); });
  }
}

void reload_certificate(State& state, std::string_view trigger) {
  if (auto error = state.tls->reload(); !error.empty()) {
    log_event(LogLevel::error, "admin_certificate_reload_failed",
              {field("trigger", std::string(trigger)), field("error", error)});
  } else {
    log_event(LogLevel::info, "admin_certificate_reloaded",
              {field("trigger", std::string(trigger))});
  }
}

asio::awaitable<void> watch_certificate(std::shared_ptr<State> state) {
  while (!state->stopped) {
    state->poll_timer.expires_after(certificate_poll_interval);
    auto [ec] = co_await state->poll_timer.async_wait(use_tuple);
    if (ec || state->stopped) {
      co_return;
    }
    if (state->tls->files_changed()) {
      reload_certificate(*state, "file_changed");
    }
  }
}

asio::awaitable<void> watch_sighup(std::shared_ptr<State> state) {
  while (!state->stopped) {
    auto [ec, signal] = co_await state->signals.async_wait(use_tuple);
    if (ec || state->stopped) {
      co_return;
    }
    reload_certificate(*state, "SIGHUP");
  }
}

} // namespace

std::variant<std::unique_ptr<AdminServer>, std::string> AdminServer::create(asio::io_context& io,
                                                                            const Config& config,
                                                                            AdminLimits limits,
                                                                            LoginBroker* broker) {
  if (!config.admin.listen) {
    return std::string("the admin endpoint is disabled ([admin] listen = \"\")");
  }
  std::shared_ptr<EnrolService> enrol;
  if (broker != nullptr && config.auth.uses(AuthMode::delegated)) {
    // App passwords cross this connection: never in clear beyond this machine. (The
    // configuration loader says so too; this holds for every caller.)
    if (!config.admin.https() && !calendar::is_loopback_host(config.admin.listen->host)) {
      return std::string("admin endpoint: enrolment (/enrol) needs HTTPS unless it listens on "
                         "a loopback address: set [admin] cert and key");
    }
    enrol = std::make_shared<EnrolService>(io.get_executor(), *broker);
  }
  AdminRoutes routes(config, gateway_hostnames(config, system_host_name()), enrol.get());
  auto state = std::make_shared<State>(io, std::move(enrol), std::move(routes), limits);
  state->listen = config.admin.listen;
  if (config.admin.https()) {
    TlsConfig tls{config.admin.cert, config.admin.key, config.tls.min_version};
    auto created = ServerTlsContext::create(std::move(tls));
    if (auto* error = std::get_if<std::string>(&created)) {
      return "admin endpoint: " + *error;
    }
    state->tls = std::get<std::unique_ptr<ServerTlsContext>>(std::move(created));
  }
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(state)));
}

AdminServer::~AdminServer() {
  stop();
}

std::string AdminServer::start() {
  State& state = *state_;
  const Endpoint& endpoint = *state.listen;
  error_code ec;
  const auto address = asio::ip::make_address(endpoint.host, ec);
  if (ec) {
    return "admin listen address " + endpoint.to_string() + ": " + ec.message();
  }
  const tcp::endpoint where(address, endpoint.port);
  if (state.acceptor.open(where.protocol(), ec); !ec) {
    state.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (state.acceptor.bind(where, ec); !ec) {
      state.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
  }
  if (ec) {
    error_code ignored;
    state.acceptor.close(ignored);
    return "cannot listen on " + endpoint.to_string() + " (admin): " + ec.message();
  }
  // OpenSSL writes to sockets itself; a client that resets must give EPIPE, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  const auto hooks = [](const std::exception_ptr& e) { log_exception("admin", e); };
  asio::co_spawn(state.io, accept_loop(state_), hooks);
  if (state.tls) {
    state.signals.add(SIGHUP, ec);
    asio::co_spawn(state.io, watch_sighup(state_), hooks);
    asio::co_spawn(state.io, watch_certificate(state_), hooks);
  }
  std::string names;
  for (const std::string& name : state.routes.hostnames()) {
    names += (names.empty() ? "" : ",") + name;
  }
  log_event(LogLevel::info, "admin_listening",
            {field("address", Endpoint{endpoint.host, port()}.to_string()),
             field("scheme", std::string(state.tls ? "https" : "http")),
             field("hostnames", names)});
  return {};
}

void AdminServer::stop() {
  State& state = *state_;
  if (state.stopped) {
    return;
  }
  state.stopped = true;
  if (state.enrol) {
    state.enrol->stop();
  }
  error_code ignored;
  state.acceptor.close(ignored);
  state.poll_timer.cancel();
  state.signals.cancel(ignored);
  // Closing cancels each connection's pending operation and timer; its coroutine then ends.
  for (auto& [id, stream] : state.open) {
    stream->close();
  }
}

std::uint16_t AdminServer::port() const {
  error_code ec;
  const auto local = state_->acceptor.local_endpoint(ec);
  return ec ? 0 : local.port();
}

bool AdminServer::https() const {
  return state_->tls != nullptr;
}

std::size_t AdminServer::connection_count() const {
  return state_->open.size();
}

} // namespace icalgate::proxy
