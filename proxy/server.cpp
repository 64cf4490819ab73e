#include "proxy/server.hpp"

#include "proxy/logging.hpp"
#include "proxy/redact.hpp"
#include "proxy/session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <csignal>
#include <exception>

namespace icalgate::proxy {

namespace {

constexpr std::chrono::seconds certificate_poll_interval{5};
constexpr std::chrono::seconds housekeeping_interval{1};

} // namespace

Server::Server(asio::io_context& io, const Config& config, ServerTlsContext& server_tls,
               UpstreamTlsContext& upstream_tls, RewriteService* rewrite, LoginBroker* login_broker)
    : io_(io), config_(config), gateway_{config, server_tls, upstream_tls, *this},
      signals_(io, SIGTERM, SIGINT, SIGHUP), poll_timer_(io) {
  gateway_.rewrite = rewrite;
  gateway_.login_broker = login_broker;
}

std::string Server::listen(const Endpoint& endpoint, ListenerKind kind) {
  error_code ec;
  const auto address = asio::ip::make_address(endpoint.host, ec);
  if (ec) {
    return "listen address " + endpoint.to_string() + ": " + ec.message();
  }
  auto listener = std::make_unique<Listener>(Listener{tcp::acceptor(io_), kind});
  auto& acceptor = listener->acceptor;
  const tcp::endpoint where(address, endpoint.port);
  if (acceptor.open(where.protocol(), ec); !ec) {
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (acceptor.bind(where, ec); !ec) {
      acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
  }
  if (ec) {
    return "cannot listen on " + endpoint.to_string() + ": " + ec.message();
  }
  log_event(LogLevel::info, "listening",
            {field("address", endpoint.to_string()),
             field("listener", std::string(kind == ListenerKind::imaps ? "imaps" : "imap"))});
  listeners_.push_back(std::move(listener));
  return {};
}

std::string Server::start() {
  // OpenSSL writes to the sockets itself (socket BIO), without MSG_NOSIGNAL: a peer that
  // resets must give EPIPE, not kill the gateway.
  std::signal(SIGPIPE, SIG_IGN);
  if (config_.listen.imaps) {
    if (auto error = listen(*config_.listen.imaps, ListenerKind::imaps); !error.empty()) {
      return error;
    }
  }
  if (config_.listen.imap) {
    if (auto error = listen(*config_.listen.imap, ListenerKind::imap); !error.empty()) {
      return error;
    }
  }
  for (auto& listener : listeners_) {
    asio::co_spawn(io_, accept_loop(*listener),
                   [](const std::exception_ptr& e) { log_exception("accept", e); });
  }
  asio::co_spawn(io_, handle_signals(),
                 [](const std::exception_ptr& e) { log_exception("signals", e); });
  asio::co_spawn(io_, poll_certificates(),
                 [](const std::exception_ptr& e) { log_exception("certificates", e); });
  return {};
}

asio::awaitable<void> Server::accept_loop(Listener& listener) {
  while (!draining_) {
    auto [ec, socket] = co_await listener.acceptor.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || draining_) {
        co_return;
      }
      // EMFILE and friends: back off briefly rather than spin.
      log_event(LogLevel::warn, "accept_failed", {field("reason", ec.message())});
      asio::steady_timer pause(io_);
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    // Sessions not yet admitted still hold memory: bound them too.
    if (sessions_.size() >= 2ULL * config_.limits.max_connections + 16) {
      error_code ignored;
      socket.close(ignored);
      continue;
    }
    std::shared_ptr<Session> session;
    try {
      session = std::make_shared<Session>(gateway_, std::move(socket), listener.kind, next_id_++);
    } catch (const std::exception& e) {
      // Out of memory for one more TLS session: refuse it, keep accepting.
      log_event(LogLevel::error, "session_not_created",
                {field("what", sanitize_for_log(e.what()))});
      continue;
    }
    sessions_.emplace(session.get(), session);
    ++session_churn_;
    asio::co_spawn(io_, Session::start(session),
                   [](const std::exception_ptr& e) { log_exception("session", e); });
  }
}

SessionHost::Admission Server::admit(Session& session, const std::string& address) {
  if (draining_) {
    return Admission::draining;
  }
  if (admitted_.size() >= config_.limits.max_connections) {
    return Admission::total_cap;
  }
  auto& count = per_address_[address];
  if (count >= config_.limits.max_connections_per_ip) {
    if (count == 0) {
      per_address_.erase(address);
    }
    return Admission::address_cap;
  }
  ++count;
  admitted_.emplace(&session, address);
  return Admission::admitted;
}

void Server::release(Session& session) {
  sessions_.erase(&session);
  ++session_churn_;
  if (auto it = admitted_.find(&session); it != admitted_.end()) {
    if (auto count = per_address_.find(it->second); count != per_address_.end()) {
      if (--count->second == 0) {
        per_address_.erase(count);
      }
    }
    admitted_.erase(it);
  }
}

void Server::reload_certificate(std::string_view trigger) {
  if (auto error = gateway_.server_tls.reload(); !error.empty()) {
    log_event(LogLevel::error, "certificate_reload_failed",
              {field("trigger", std::string(trigger)), field("error", error)});
  } else {
    log_event(LogLevel::info, "certificate_reloaded", {field("trigger", std::string(trigger))});
  }
}

asio::awaitable<void> Server::handle_signals() {
  while (true) {
    auto [ec, signal] = co_await signals_.async_wait(use_tuple);
    if (ec) {
      co_return;
    }
    if (signal == SIGHUP) {
      reload_certificate("SIGHUP");
      continue;
    }
    if (draining_) {
      // A second SIGTERM/SIGINT: do not wait out the grace period.
      for (auto& [ptr, weak] : sessions_) {
        if (auto session = weak.lock()) {
          session->shutdown();
        }
      }
      continue;
    }
    drain();
  }
}

asio::awaitable<void> Server::poll_certificates() {
  std::uint64_t ticks = 0;
  std::uint64_t churn_seen = session_churn_;
  bool trim_pending = false;
  while (!draining_) {
    poll_timer_.expires_after(housekeeping_interval);
    auto [ec] = co_await poll_timer_.async_wait(use_tuple);
    if (ec || draining_) {
      co_return;
    }
    if (++ticks % (certificate_poll_interval / housekeeping_interval) == 0 &&
        gateway_.server_tls.files_changed()) {
      reload_certificate("file_changed");
    }
    // Once a burst of sessions coming or going is over (a quiet tick after a busy one), hand
    // the pages of freed handshake and transfer buffers back to the kernel. glibc only trims
    // the top of the heap by itself: the holes left between long-lived sessions' small
    // allocations would otherwise stay resident, a few KB per idle session. Never under
    // constant churn, when those pages are about to be reused anyway.
    if (session_churn_ != churn_seen) {
      churn_seen = session_churn_;
      trim_pending = true;
    } else if (trim_pending) {
      trim_pending = false;
#if defined(__GLIBC__)
      malloc_trim(0);
#endif
    }
  }
}

void Server::drain() {
  if (draining_) {
    return;
  }
  draining_ = true;
  log_event(LogLevel::info, "draining",
            {field("sessions", static_cast<std::uint64_t>(sessions_.size())),
             field("grace_ms", static_cast<std::uint64_t>(config_.limits.shutdown_grace.count()))});
  for (auto& listener : listeners_) {
    error_code ignored;
    listener->acceptor.close(ignored);
  }
  poll_timer_.cancel();
  asio::co_spawn(io_, drain_sessions(),
                 [](const std::exception_ptr& e) { log_exception("drain", e); });
}

asio::awaitable<void> Server::drain_sessions() {
  asio::steady_timer tick(io_);
  const auto grace_end = std::chrono::steady_clock::now() + config_.limits.shutdown_grace;
  while (!sessions_.empty() && std::chrono::steady_clock::now() < grace_end) {
    tick.expires_after(std::chrono::milliseconds(100));
    co_await tick.async_wait(use_tuple);
  }
  for (auto& [ptr, weak] : sessions_) {
    if (auto session = weak.lock()) {
      session->shutdown();
    }
  }
  const auto hard_end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!sessions_.empty() && std::chrono::steady_clock::now() < hard_end) {
    tick.expires_after(std::chrono::milliseconds(20));
    co_await tick.async_wait(use_tuple);
  }
  log_event(LogLevel::info, "stopped",
            {field("sessions_left", static_cast<std::uint64_t>(sessions_.size()))});
  error_code ignored;
  signals_.cancel(ignored);
  io_.stop();
}

} // namespace icalgate::proxy
