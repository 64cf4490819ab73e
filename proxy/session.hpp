#pragma once
// One client session: optional PROXY header, TLS (implicit or STARTTLS), the gateway's own
// pre-auth dialogue, LOGIN/AUTHENTICATE relayed to a lazily opened upstream connection, then
// the full-duplex relay (proxy/relay.hpp). Runs as one coroutine on the server's io_context.

#include "protocol/command.hpp"
#include "proxy/fetch_interceptor.hpp"
#include "proxy/gateway.hpp"
#include "proxy/redact.hpp"
#include "proxy/stream.hpp"
#include "proxy/upstream.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace icalgate::proxy {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Gateway& gateway, tcp::socket socket, ListenerKind kind, std::uint64_t id);

  // Keeps the session alive while it runs.
  static asio::awaitable<void> start(std::shared_ptr<Session> session);
  // Server drain: say "* BYE Server shutting down" at the next safe point and close.
  void shutdown();

  std::uint64_t id() const { return id_; }
  const std::string& client_address() const { return client_address_; }

 private:
  enum class PreauthEnd { closed, authenticated };
  struct ClientMessage {
    std::string tag = "*";
    std::string whole;                    // the command, literals inline
    std::vector<std::size_t> sync_points; // offsets where synchronizing literal data starts
    std::optional<std::string> bad;       // why it was rejected
  };
  enum class LoginOutcome { ok, failed, unavailable, closed };
  // A LOGIN's or AUTHENTICATE PLAIN's user and password (secret: wiped after use).
  struct PlainCredentials {
    std::string login;
    std::string password;
  };
  struct TakenCredentials {
    std::optional<PlainCredentials> credentials; // nullopt: not LOGIN/PLAIN, or malformed
    std::optional<std::string> relayed_ir;       // PLAIN's response read from the client here
    bool usable = true;                          // false: answer BAD with `bad`
    std::string bad;
  };

  asio::awaitable<void> run();
  asio::awaitable<PreauthEnd> preauth();
  asio::awaitable<bool> read_proxy_header();
  asio::awaitable<std::optional<ClientMessage>> read_client_message();
  asio::awaitable<bool> send(std::string_view bytes);
  asio::awaitable<bool> reject_bad(const std::string& tag, std::string_view reason);
  asio::awaitable<bool> start_tls(const std::string& tag);
  asio::awaitable<bool> ensure_upstream();
  asio::awaitable<LoginOutcome> relay_login(const ClientMessage& message);
  asio::awaitable<LoginOutcome> relay_authenticate(const ClientMessage& message,
                                                   const std::string& mechanism,
                                                   const std::optional<std::string>& ir);
  asio::awaitable<LoginOutcome> await_login_answer(const std::string& tag,
                                                   const std::string& mechanism,
                                                   std::optional<std::string> pending_ir);
  asio::awaitable<std::optional<std::string>> read_upstream_message();
  // For the gateway's own login modes: the credentials of a LOGIN or AUTHENTICATE PLAIN
  // (asking the client for PLAIN's response when it sent none); nullopt if the client left.
  asio::awaitable<std::optional<TakenCredentials>>
  plain_credentials(const protocol::Command& command, const ClientMessage& message);
  // Checks an app password and logs in upstream with the OAuth token it unlocks.
  asio::awaitable<LoginOutcome> brokered_login(const std::string& tag,
                                               PlainCredentials credentials);
  asio::awaitable<void> forward_id();
  asio::awaitable<void> say_bye(std::string_view text);
  void drop_upstream();
  void release();
  void log_line(bool from_client, std::string_view line);

  Gateway& gw_;
  ListenerKind kind_;
  std::uint64_t id_;
  std::chrono::steady_clock::time_point started_;
  std::string client_address_;
  Stream client_;
  std::unique_ptr<FrameReader> client_reader_;
  std::unique_ptr<UpstreamConnection> upstream_;
  std::unique_ptr<FrameReader> upstream_reader_;
  Deadline deadline_;
  ProtocolRedactor redactor_;
  std::uint64_t bytes_to_client_ = 0;
  std::uint64_t upstream_bytes_in_ = 0;
  InterceptStats intercept_stats_;
  std::uint64_t bytes_before_tls_ = 0;
  std::uint32_t bad_commands_ = 0;
  bool admitted_ = false;
  bool shutting_down_ = false;
  bool authenticated_ = false;
  bool tls_started_ = false; // STARTTLS accepted
  bool released_ = false;
  std::string user_;
  std::string auth_mode_ = "passthrough";
  std::string client_name_;
  std::string id_arguments_; // the client's ID arguments, forwarded after login
  std::string end_reason_;
};

} // namespace icalgate::proxy
