#pragma once
// The listeners and the sessions they accept: connection caps (total and per client
// address), certificate reloads (SIGHUP and file changes), and the SIGTERM/SIGINT drain.
// Everything runs on one single-threaded io_context: sessions share state without locks.

#include "proxy/gateway.hpp"
#include "proxy/stream.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace icalgate::proxy {

class Server final : public SessionHost {
 public:
  Server(asio::io_context& io, const Config& config, ServerTlsContext& server_tls,
         UpstreamTlsContext& upstream_tls, RewriteService* rewrite = nullptr,
         LoginBroker* login_broker = nullptr);

  // Binds the enabled listeners and starts accepting; returns why not, or "" on success.
  std::string start();
  // Stops accepting, waits up to shutdown_grace for sessions to end, then ends the rest
  // with "* BYE Server shutting down"; io.run() returns once all is closed.
  void drain();

  std::size_t session_count() const { return sessions_.size(); }

  Admission admit(Session& session, const std::string& address) override;
  void release(Session& session) override;

 private:
  struct Listener {
    tcp::acceptor acceptor;
    ListenerKind kind;
  };

  std::string listen(const Endpoint& endpoint, ListenerKind kind);
  asio::awaitable<void> accept_loop(Listener& listener);
  asio::awaitable<void> handle_signals();
  asio::awaitable<void> poll_certificates();
  asio::awaitable<void> drain_sessions();
  void reload_certificate(std::string_view trigger);

  asio::io_context& io_;
  const Config& config_;
  Gateway gateway_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  asio::signal_set signals_;
  asio::steady_timer poll_timer_;
  bool draining_ = false;
  std::uint64_t next_id_ = 1;
  std::uint64_t session_churn_ = 0; // sessions started or ended: when to trim the heap
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  std::unordered_map<Session*, std::string> admitted_;
  std::unordered_map<std::string, std::uint32_t> per_address_;
};

} // namespace icalgate::proxy
