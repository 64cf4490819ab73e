#include "proxy/session.hpp"

// GCC 12 at -O2 reports asio's coroutine frame operator delete as mismatched with its
// operator new in large coroutines: a false positive of its class-specific new/delete check.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "protocol/command.hpp"
#include "protocol/lexer.hpp"
#include "protocol/proxy_header.hpp"
#include "protocol/response.hpp"
#include "proxy/capabilities.hpp"
#include "proxy/logging.hpp"
#include "proxy/login_broker.hpp"
#include "proxy/relay.hpp"
#include "proxy/rewrite_service.hpp"
#include "proxy/sasl_user.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>

#include <openssl/crypto.h>

namespace icalgate::proxy {

using namespace asio::experimental::awaitable_operators;

namespace {

// Pre-auth commands are small (a LOGIN, an AUTHENTICATE with a token): this bounds what the
// gateway buffers for a client that has not logged in.
constexpr std::size_t max_preauth_message = 64 * 1024;
constexpr std::string_view id_tag = "icg1";

std::string tag_of(std::string_view line) {
  std::size_t end = 0;
  while (end < line.size() && end < 64 && protocol::is_astring_char(line[end]) &&
         line[end] != '+') {
    ++end;
  }
  return end == 0 ? std::string("*") : std::string(line.substr(0, end));
}

// "{n}" → "{n+}" at the end of the line before each synchronizing literal.
std::string with_literal_plus(const std::string& whole, const std::vector<std::size_t>& points) {
  std::string out;
  std::size_t from = 0;
  for (const std::size_t point : points) {
    const std::size_t brace = whole.rfind('}', point);
    out.append(whole, from, brace - from);
    out += "+}";
    from = brace + 1;
  }
  out.append(whole, from, std::string::npos);
  return out;
}

// One spelling per client address, so that it is counted and penalized under one key
// however it arrived: an IPv4 client on a dual-stack socket or in a PROXY v2 IPv6 block.
std::string canonical_address(asio::ip::address address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address.to_string();
}

std::string address_of(const tcp::socket& socket) {
  error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) {
    return "unknown";
  }
  return canonical_address(endpoint.address());
}

// How long and how much of a closing client's input is read and dropped.
constexpr std::chrono::milliseconds linger_time{2'000};
constexpr std::size_t max_linger_bytes = 1 << 20;

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(d);
  co_await timer.async_wait(use_tuple);
}

} // namespace

Session::Session(Gateway& gateway, tcp::socket socket, ListenerKind kind, std::uint64_t id)
    : gw_(gateway), kind_(kind), id_(id), started_(std::chrono::steady_clock::now()),
      client_address_(address_of(socket)), client_(std::move(socket), gateway.server_tls.current()),
      deadline_(client_.socket().get_executor()) {}

asio::awaitable<void> Session::start(std::shared_ptr<Session> session) {
  try {
    co_await session->run();
  } catch (const std::exception& e) {
    log_event(LogLevel::error, "session_failed",
              {field("session", session->id_), field("what", sanitize_for_log(e.what()))});
  }
  // Also after an exception: the connection caps must not keep counting this session.
  session->drop_upstream();
  session->client_.close();
  session->release();
}

void Session::release() {
  if (!released_) {
    released_ = true;
    gw_.host.release(*this);
  }
}

void Session::shutdown() {
  shutting_down_ = true;
  deadline_.expire_now();
}

void Session::log_line(bool from_client, std::string_view line) {
  if (log_enabled(LogLevel::trace)) {
    log_event(LogLevel::trace, from_client ? "C" : "S",
              {field("session", id_), field("line", from_client ? redactor_.client_line(line)
                                                                : redactor_.server_line(line))});
  }
}

asio::awaitable<bool> Session::send(std::string_view bytes) {
  if (log_enabled(LogLevel::trace)) {
    // The gateway's own answers, so that trace shows them and the redactor sees tagged ends.
    for (std::size_t from = 0; from < bytes.size();) {
      const std::size_t end = std::min(bytes.find('\n', from), bytes.size() - 1) + 1;
      log_line(false, bytes.substr(from, end - from));
      from = end;
    }
  }
  auto [ec, n] = co_await client_.write(bytes);
  bytes_to_client_ += n;
  co_return !ec;
}

asio::awaitable<void> Session::say_bye(std::string_view text) {
  if (!client_.tls_active() && (kind_ == ListenerKind::imaps || tls_started_)) {
    co_return; // mid-handshake: a line in clear would only be noise in the TLS stream
  }
  const std::string line = "* BYE " + std::string(text) + "\r\n";
  co_await (send(line) || sleep_for(std::chrono::seconds(2)));
}

void Session::drop_upstream() {
  upstream_reader_.reset();
  if (upstream_ && upstream_->stream) {
    upstream_->stream->shutdown();
  }
  upstream_.reset();
}

asio::awaitable<void> Session::run() {
  error_code ignored;
  client_.socket().set_option(tcp::no_delay(true), ignored);
  deadline_.expires_after(gw_.config.limits.preauth_timeout);
  end_reason_ = "closed";
  auto phase = co_await (preauth() || deadline_.watch());
  const bool authenticated = phase.index() == 0 && std::get<0>(phase) == PreauthEnd::authenticated;
  if (phase.index() == 1) {
    end_reason_ = shutting_down_ ? "shutdown" : "preauth_timeout";
    co_await say_bye(shutting_down_ ? "Server shutting down" : "Autologout; no login in time");
  }
  if (authenticated && !shutting_down_) {
    deadline_.expires_after(gw_.config.limits.idle_timeout);
    std::unique_ptr<FetchInterceptor> interceptor;
    if (gw_.rewrite != nullptr) {
      if (auto upn = gw_.rewrite->account_for(user_)) {
        interceptor = std::make_unique<FetchInterceptor>(
            *gw_.rewrite, std::move(*upn), id_,
            std::max<std::uint64_t>(gw_.rewrite->max_message_size() * 2, 1u << 20) + (64u << 10));
      }
    }
    Relay relay(RelayEnds{client_, *client_reader_, *upstream_->stream, *upstream_reader_,
                          deadline_, gw_.config.limits, redactor_, id_, bytes_to_client_,
                          client_name_, interceptor.get(), gw_.config.listen.compress});
    // The deadline is a plain timer handler that cancels both sockets' waits (the relay
    // then ends), not a third coroutine in the `||`: an idle session holds two suspended
    // coroutines, one per direction.
    Stream& upstream = *upstream_->stream;
    deadline_.arm([this, &upstream] {
      error_code ignored_ec;
      client_.socket().cancel(ignored_ec);
      upstream.socket().cancel(ignored_ec);
    });
    co_await (relay.client_to_upstream() || relay.upstream_to_client());
    const bool timed_out = deadline_.fired();
    deadline_.disarm();
    std::string_view bye;
    if (timed_out) {
      end_reason_ = shutting_down_ ? "shutdown" : "idle_timeout";
      bye = shutting_down_ ? "Server shutting down" : "Autologout; idle for too long";
    } else {
      switch (relay.end()) {
      case RelayEnd::client_closed:
        end_reason_ = "client_closed";
        break;
      case RelayEnd::logout:
        end_reason_ = "logout";
        break;
      case RelayEnd::upstream_bye:
        end_reason_ = "upstream_bye";
        break;
      case RelayEnd::upstream_closed:
        end_reason_ = "upstream_closed";
        bye = "Upstream connection lost";
        break;
      case RelayEnd::upstream_lost:
        end_reason_ = "upstream_lost";
        bye = "[UNAVAILABLE] The mail server lost this session; please reconnect";
        break;
      case RelayEnd::client_protocol_error:
        end_reason_ = "client_protocol_error";
        bye = relay.protocol_error();
        break;
      case RelayEnd::bad_commands:
        end_reason_ = "bad_commands";
        bye = "Too many bad commands";
        break;
      case RelayEnd::running:
        break;
      }
    }
    if (!bye.empty() && relay.client_writable() && client_.socket().is_open()) {
      co_await say_bye(bye);
    }
    if (interceptor) {
      intercept_stats_ = interceptor->stats();
    }
  } else if (authenticated) {
    end_reason_ = "shutdown";
    co_await say_bye("Server shutting down");
  }
  if (upstream_reader_) {
    upstream_bytes_in_ = upstream_reader_->bytes_read();
  }
  drop_upstream();
  const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started_);
  log_event(
      LogLevel::info, "session_end",
      {field("session", id_),
       field("client", client_address_),
       field("user", sanitize_for_log(user_, 128)),
       field("client_name", sanitize_for_log(client_name_, 64)),
       field("bytes_in", bytes_before_tls_ + (client_reader_ ? client_reader_->bytes_read() : 0)),
       field("bytes_out", bytes_to_client_),
       field("bytes_out_wire", client_.wire_bytes_out()), // less than bytes_out when compressed
       field("duration_ms", static_cast<std::uint64_t>(duration.count())),
       field("reason", end_reason_),
       field("upstream_bytes_in", upstream_bytes_in_),
       field("held_fetches", intercept_stats_.commands),
       field("streamed_fetches", intercept_stats_.streamed),
       field("streamed_with_items_added", intercept_stats_.asked_along),
       field("probe_commands", intercept_stats_.probe_commands),
       field("probe_round_trips", intercept_stats_.round_trips),
       field("probe_bytes", intercept_stats_.probe_bytes),
       field("rewritten_answers", intercept_stats_.substituted),
       field("unanswerable_fetches", intercept_stats_.unanswerable),
       field("answered_from_store", intercept_stats_.from_store),
       field("fetches_decided_at_once", intercept_stats_.decided_at_once),
       field("fetches_from_store_at_once", intercept_stats_.pipelined)});
  // The client may still be sending (the rest of an over-long line when the gateway said BYE):
  // its input is drained for a moment so that the BYE is not lost to a reset. The session
  // keeps its connection slot meanwhile, since the connection is still open. A connection
  // refused at admission is closed at once: lingering would let a flood hold sockets the caps
  // are there to bound.
  if (admitted_) {
    co_await (client_.shutdown_and_drain(max_linger_bytes) || sleep_for(linger_time));
    client_.close();
  } else {
    client_.shutdown();
  }
  release();
}

asio::awaitable<bool> Session::read_proxy_header() {
  std::string bytes;
  while (true) {
    auto parsed = protocol::parse_proxy_header(bytes);
    if (auto* complete = std::get_if<protocol::ProxyComplete>(&parsed)) {
      if (complete->header.has_client_address()) {
        error_code ec;
        const auto address = asio::ip::make_address(complete->header.source_address, ec);
        client_address_ = ec ? complete->header.source_address : canonical_address(address);
      }
      co_return true;
    }
    if (auto* error = std::get_if<protocol::Error>(&parsed)) {
      log_event(LogLevel::warn, "proxy_header_rejected",
                {field("session", id_), field("client", client_address_),
                 field("reason", sanitize_for_log(error->message, 128))});
      co_return false;
    }
    // Read exactly what is still needed, so that no byte after the header is consumed.
    const std::size_t need = std::get<protocol::ProxyIncomplete>(parsed).at_least;
    const std::size_t old = bytes.size();
    bytes.resize(old + need);
    auto [ec, n] = co_await asio::async_read(client_.socket(),
                                             asio::buffer(bytes.data() + old, need), use_tuple);
    if (ec) {
      co_return false;
    }
  }
}

asio::awaitable<std::optional<Session::ClientMessage>> Session::read_client_message() {
  ClientMessage message;
  bool first = true;
  bool dropping = false;
  while (true) {
    auto frame = co_await client_reader_->next();
    if (!frame) {
      co_return std::nullopt;
    }
    if (first) {
      message.tag = tag_of(frame->bytes);
      first = false;
    }
    if (frame->kind == protocol::FrameKind::line && !frame->error) {
      log_line(true, frame->bytes);
    }
    if (frame->error && !dropping) {
      message.bad = std::string(framing_rejection(*frame->error));
      dropping = true;
    }
    if (!dropping && message.whole.size() + frame->bytes.size() > max_preauth_message) {
      message.bad = "Command too long";
      dropping = true;
    }
    const bool sync_literal = frame->kind == protocol::FrameKind::line && !frame->error &&
                              frame->literal && !frame->literal->non_synchronizing;
    if (dropping) {
      message.whole.clear();
      if (sync_literal) {
        client_reader_->framer().cancel_literal(); // never ask for data we would drop
        co_return message;
      }
    } else {
      message.whole.append(frame->bytes);
      if (sync_literal) {
        if (frame->literal->size > max_preauth_message - message.whole.size()) {
          client_reader_->framer().cancel_literal();
          message.bad = "Literal too large";
          message.whole.clear();
          co_return message;
        }
        if (!co_await send("+ Ready for literal data\r\n")) {
          co_return std::nullopt;
        }
        message.sync_points.push_back(message.whole.size());
      }
    }
    if (frame->message_end) {
      co_return message;
    }
  }
}

asio::awaitable<bool> Session::reject_bad(const std::string& tag, std::string_view reason) {
  ++bad_commands_;
  if (bad_commands_ >= gw_.config.limits.max_bad_commands) {
    co_await send(tag + " BAD " + std::string(reason) + "\r\n* BYE Too many bad commands\r\n");
    end_reason_ = "bad_commands";
    co_return false;
  }
  co_return co_await send(tag + " BAD " + std::string(reason) + "\r\n");
}

asio::awaitable<bool> Session::start_tls(const std::string& tag) {
  if (!co_await send(tag + " OK Begin TLS negotiation now\r\n")) {
    co_return false;
  }
  // Anything the client sent after STARTTLS in clear is dropped, never read as if it had
  // come through TLS.
  bytes_before_tls_ += client_reader_->bytes_read();
  client_reader_.reset();
  tls_started_ = true;
  if (auto ec = co_await client_.handshake(asio::ssl::stream_base::server); ec) {
    log_event(LogLevel::debug, "tls_handshake_failed",
              {field("session", id_), field("reason", ec.message())});
    co_return false;
  }
  client_reader_ =
      std::make_unique<FrameReader>(client_, protocol::Direction::client_to_server,
                                    protocol::FramerOptions{gw_.config.limits.max_line_length,
                                                            gw_.config.limits.max_literal_size});
  co_return true;
}

asio::awaitable<bool> Session::ensure_upstream() {
  if (upstream_) {
    co_return true;
  }
  auto connected = co_await connect_upstream(gw_.config.upstream, gw_.upstream_tls);
  if (auto* error = std::get_if<UpstreamError>(&connected)) {
    log_event(LogLevel::warn, "upstream_failed",
              {field("session", id_), field("error", std::string(error->name())),
               field("detail", sanitize_for_log(error->detail, 200))});
    co_return false;
  }
  upstream_ =
      std::make_unique<UpstreamConnection>(std::get<UpstreamConnection>(std::move(connected)));
  gw_.upstream_auth = auth_capabilities_from(upstream_->capabilities);
  std::vector<std::string>().swap(upstream_->capabilities); // read once; idle sessions keep none
  upstream_reader_ = std::make_unique<FrameReader>(
      *upstream_->stream, protocol::Direction::server_to_client,
      protocol::FramerOptions{gw_.config.limits.max_line_length, UINT64_MAX});
  upstream_reader_->preload(std::move(upstream_->pending));
  log_event(
      LogLevel::debug, "upstream_connected",
      {field("session", id_), field("resumed", std::string(upstream_->resumed ? "yes" : "no"))});
  co_return true;
}

asio::awaitable<std::optional<std::string>> Session::read_upstream_message() {
  std::string message;
  while (true) {
    auto frame = co_await upstream_reader_->next();
    if (!frame) {
      co_return std::nullopt;
    }
    // Pre-auth answers are short; cap what is kept (the rest is skipped, not stored).
    if (message.size() + frame->bytes.size() <= max_preauth_message) {
      message.append(frame->bytes);
    }
    if (frame->message_end) {
      co_return message;
    }
  }
}

asio::awaitable<Session::LoginOutcome> Session::relay_login(const ClientMessage& message) {
  const auto& up = gw_.upstream_auth;
  if (message.sync_points.empty()) {
    if (auto [ec, n] = co_await upstream_->stream->write(message.whole); ec) {
      co_return LoginOutcome::unavailable;
    }
  } else if (up.literal_plus) {
    std::string rewritten = with_literal_plus(message.whole, message.sync_points);
    auto [ec, n] = co_await upstream_->stream->write(rewritten);
    OPENSSL_cleanse(rewritten.data(), rewritten.size());
    if (ec) {
      co_return LoginOutcome::unavailable;
    }
  } else {
    std::size_t from = 0;
    for (const std::size_t point : message.sync_points) {
      const std::string_view part = std::string_view(message.whole).substr(from, point - from);
      if (auto [ec, n] = co_await upstream_->stream->write(part); ec) {
        co_return LoginOutcome::unavailable;
      }
      from = point;
      auto answer = co_await read_upstream_message();
      if (!answer) {
        co_return LoginOutcome::unavailable;
      }
      if (!answer->starts_with("+")) {
        // Refused before the literal: relay that answer as the outcome.
        co_await send(*answer);
        co_return LoginOutcome::failed;
      }
    }
    if (auto [ec, n] =
            co_await upstream_->stream->write(std::string_view(message.whole).substr(from));
        ec) {
      co_return LoginOutcome::unavailable;
    }
  }
  co_return co_await await_login_answer(message.tag, "", std::nullopt);
}

asio::awaitable<Session::LoginOutcome>
Session::relay_authenticate(const ClientMessage& message, const std::string& mechanism,
                            const std::optional<std::string>& ir) {
  if (ir) {
    if (auto user = sasl_username(mechanism, *ir)) {
      user_ = std::move(*user);
    }
  }
  if (ir && !gw_.upstream_auth.sasl_ir) {
    // The upstream wants the initial response after its first "+".
    const std::string command = message.tag + " AUTHENTICATE " + mechanism + "\r\n";
    if (auto [ec, n] = co_await upstream_->stream->write(command); ec) {
      co_return LoginOutcome::unavailable;
    }
    co_return co_await await_login_answer(message.tag, mechanism, *ir);
  }
  if (auto [ec, n] = co_await upstream_->stream->write(message.whole); ec) {
    co_return LoginOutcome::unavailable;
  }
  co_return co_await await_login_answer(message.tag, mechanism, std::nullopt);
}

asio::awaitable<Session::LoginOutcome>
Session::await_login_answer(const std::string& tag, const std::string& mechanism,
                            std::optional<std::string> pending_ir) {
  while (true) {
    auto answer = co_await read_upstream_message();
    if (!answer) {
      co_return LoginOutcome::unavailable;
    }
    auto parsed = protocol::parse_response(*answer);
    if (!parsed) {
      continue;
    }
    if (parsed->kind == protocol::ResponseKind::continuation) {
      if (mechanism.empty()) {
        continue; // LOGIN never asks for more
      }
      if (pending_ir) {
        std::string line = *pending_ir == "=" ? std::string("\r\n") : *pending_ir + "\r\n";
        OPENSSL_cleanse(pending_ir->data(), pending_ir->size());
        pending_ir.reset();
        auto [ec, n] = co_await upstream_->stream->write(line);
        OPENSSL_cleanse(line.data(), line.size());
        if (ec) {
          co_return LoginOutcome::unavailable;
        }
        continue;
      }
      if (!co_await send(*answer)) {
        co_return LoginOutcome::closed;
      }
      auto reply = co_await read_client_message();
      if (!reply) {
        co_return LoginOutcome::closed;
      }
      std::string line = reply->bad ? std::string("*\r\n") : std::move(reply->whole);
      if (auto decoded = protocol::parse_auth_continuation(line); decoded && !decoded->cancel) {
        if (user_.empty()) {
          if (auto user = sasl_username(mechanism, decoded->data)) {
            user_ = std::move(*user);
          }
        }
        OPENSSL_cleanse(decoded->data.data(), decoded->data.size());
      }
      auto [ec, n] = co_await upstream_->stream->write(line);
      OPENSSL_cleanse(line.data(), line.size());
      if (ec) {
        co_return LoginOutcome::unavailable;
      }
      continue;
    }
    if (parsed->kind != protocol::ResponseKind::status) {
      continue; // untagged data before login is not the client's business
    }
    const auto& status = std::get<protocol::StatusResponse>(parsed->body);
    if (parsed->tag.empty()) {
      if (status.status == protocol::Status::bye) {
        co_return LoginOutcome::unavailable;
      }
      continue;
    }
    if (parsed->tag != tag) {
      continue;
    }
    // Logged in, the client may COMPRESS: a [CAPABILITY] code in the OK says so.
    const auto filtered = filter_capability_response(
        *answer, status.status == protocol::Status::ok && gw_.config.listen.compress);
    const std::string& line = filtered ? *filtered : *answer;
    if (status.status == protocol::Status::ok) {
      gw_.login_penalty.record_success(client_address_);
      if (!co_await send(line)) {
        co_return LoginOutcome::closed;
      }
      co_return LoginOutcome::ok;
    }
    co_await sleep_for(gw_.login_penalty.record_failure(
        client_address_, std::chrono::steady_clock::now(), gw_.config.limits.login_failure_delay));
    if (!co_await send(line)) {
      co_return LoginOutcome::closed;
    }
    co_return LoginOutcome::failed;
  }
}

asio::awaitable<std::optional<Session::TakenCredentials>>
Session::plain_credentials(const protocol::Command& command, const ClientMessage& message) {
  TakenCredentials taken;
  if (command.kind == protocol::CommandKind::login) {
    const auto& args = std::get<protocol::LoginArgs>(command.args);
    taken.credentials = PlainCredentials{args.userid.value, args.password.value};
    co_return taken;
  }
  const auto& args = std::get<protocol::AuthenticateArgs>(command.args);
  if (!protocol::imap_iequals(args.mechanism, "PLAIN")) {
    co_return taken; // XOAUTH2, OAUTHBEARER: the client's own token, relayed
  }
  std::string response;
  if (args.initial_response) {
    response = *args.initial_response;
  } else {
    // The mode depends on the user, who is inside the response: ask for it here.
    if (!co_await send("+ \r\n")) {
      co_return std::nullopt;
    }
    auto reply = co_await read_client_message();
    if (!reply) {
      co_return std::nullopt;
    }
    auto decoded = protocol::parse_auth_continuation(reply->bad ? "*\r\n" : reply->whole);
    OPENSSL_cleanse(reply->whole.data(), reply->whole.size());
    if (!decoded || decoded->cancel) {
      taken.usable = false;
      taken.bad = decoded ? "Authentication canceled" : "Invalid SASL response";
      co_return taken;
    }
    response = std::move(decoded->data);
    taken.relayed_ir = response.empty() ? std::string("=") : response;
  }
  (void)message;
  auto plain = decode_base64(response);
  OPENSSL_cleanse(response.data(), response.size());
  if (!plain) {
    taken.usable = false;
    taken.bad = "Invalid base64 in the SASL response";
    co_return taken;
  }
  // authzid NUL authcid NUL password
  const std::size_t first = plain->find('\0');
  const std::size_t second = first == std::string::npos ? first : plain->find('\0', first + 1);
  if (second != std::string::npos) {
    std::string authzid = plain->substr(0, first);
    std::string authcid = plain->substr(first + 1, second - first - 1);
    taken.credentials =
        PlainCredentials{authzid.empty() ? authcid : authzid, plain->substr(second + 1)};
  }
  OPENSSL_cleanse(plain->data(), plain->size());
  co_return taken;
}

asio::awaitable<Session::LoginOutcome> Session::brokered_login(const std::string& tag,
                                                               PlainCredentials credentials) {
  user_ = credentials.login;
  auto grant = co_await gw_.login_broker->authorize(std::move(credentials.login),
                                                    std::move(credentials.password));
  if (!grant.upn.empty()) {
    user_ = grant.upn;
  }
  auth_mode_ = std::string(to_string(grant.mode));
  std::string refusal;
  switch (grant.refusal) {
  case LoginRefusal::none:
    break;
  case LoginRefusal::bad_credentials:
    co_await sleep_for(gw_.login_penalty.record_failure(
        client_address_, std::chrono::steady_clock::now(), gw_.config.limits.login_failure_delay));
    refusal = " NO [AUTHENTICATIONFAILED] Invalid credentials\r\n";
    break;
  case LoginRefusal::reenrol:
    refusal = " NO [AUTHENTICATIONFAILED] The sign-in to Exchange Online has expired or was "
              "revoked; " +
              gw_.login_broker->enrol_hint() + "\r\n";
    break;
  case LoginRefusal::unavailable:
    refusal = " NO [UNAVAILABLE] The sign-in service is unavailable, try again later\r\n";
    break;
  }
  if (!refusal.empty()) {
    log_event(LogLevel::info, "login_refused",
              {field("session", id_), field("client", client_address_),
               field("user", sanitize_for_log(user_, 128)), field("mode", auth_mode_),
               field("reason", sanitize_for_log(grant.reason, 128))});
    co_return co_await send(tag + refusal) ? LoginOutcome::failed : LoginOutcome::closed;
  }
  if (!co_await ensure_upstream()) {
    OPENSSL_cleanse(grant.token.data(), grant.token.size());
    co_return LoginOutcome::unavailable;
  }
  std::string payload = encode_base64("user=" + grant.upn +
                                      "\x01"
                                      "auth=Bearer " +
                                      grant.token + "\x01\x01");
  std::string command = tag + " AUTHENTICATE XOAUTH2" +
                        (gw_.upstream_auth.sasl_ir ? " " + payload : std::string()) + "\r\n";
  auto [ec, n] = co_await upstream_->stream->write(command);
  OPENSSL_cleanse(command.data(), command.size());
  LoginOutcome outcome = LoginOutcome::unavailable;
  std::optional<std::string> pending;
  if (!gw_.upstream_auth.sasl_ir) {
    pending = std::move(payload);
  }
  OPENSSL_cleanse(payload.data(), payload.size());
  while (!ec) {
    auto answer = co_await read_upstream_message();
    if (!answer) {
      break;
    }
    if (answer->starts_with("+")) {
      // The first "+" asks for the response; any later one carries the upstream's error
      // details and wants an empty line before the tagged NO.
      std::string line = pending ? *pending + "\r\n" : std::string("\r\n");
      if (pending) {
        OPENSSL_cleanse(pending->data(), pending->size());
        pending.reset();
      }
      std::tie(ec, n) = co_await upstream_->stream->write(line);
      OPENSSL_cleanse(line.data(), line.size());
      continue;
    }
    if (!answer->starts_with(tag + " ")) {
      continue;
    }
    if (answer->compare(tag.size() + 1, 3, "OK ") == 0) {
      gw_.login_penalty.record_success(client_address_);
      const auto filtered = filter_capability_response(*answer, gw_.config.listen.compress);
      outcome =
          co_await send(filtered ? *filtered : *answer) ? LoginOutcome::ok : LoginOutcome::closed;
    } else {
      gw_.login_broker->token_refused(grant);
      log_event(LogLevel::warn, "upstream_refused_token",
                {field("session", id_), field("user", sanitize_for_log(user_, 128)),
                 field("mode", auth_mode_), field("answer", sanitize_for_log(*answer, 200))});
      outcome = co_await send(tag + " NO [UNAVAILABLE] Exchange Online refused the gateway's "
                                    "sign-in, try again later\r\n")
                    ? LoginOutcome::failed
                    : LoginOutcome::closed;
    }
    break;
  }
  if (pending) {
    OPENSSL_cleanse(pending->data(), pending->size());
  }
  OPENSSL_cleanse(grant.token.data(), grant.token.size());
  co_return outcome;
}

asio::awaitable<void> Session::forward_id() {
  if (id_arguments_.empty()) {
    co_return;
  }
  const std::string command = std::string(id_tag) + " ID " + id_arguments_ + "\r\n";
  if (auto [ec, n] = co_await upstream_->stream->write(command); ec) {
    co_return;
  }
  // Swallow the upstream's answer: the client had its own before login.
  while (auto answer = co_await read_upstream_message()) {
    if (answer->starts_with(std::string(id_tag) + " ")) {
      co_return;
    }
  }
}

asio::awaitable<Session::PreauthEnd> Session::preauth() {
  if (gw_.config.listen.proxy_protocol && !co_await read_proxy_header()) {
    end_reason_ = "bad_proxy_header";
    co_return PreauthEnd::closed;
  }
  const auto admission = gw_.host.admit(*this, client_address_);
  admitted_ = admission == SessionHost::Admission::admitted;
  log_event(LogLevel::info, "session_start",
            {field("session", id_), field("client", client_address_),
             field("listener", std::string(kind_ == ListenerKind::imaps ? "imaps" : "imap"))});
  if (kind_ == ListenerKind::imaps) {
    if (auto ec = co_await client_.handshake(asio::ssl::stream_base::server); ec) {
      log_event(LogLevel::debug, "tls_handshake_failed",
                {field("session", id_), field("reason", ec.message())});
      end_reason_ = "tls_failed";
      co_return PreauthEnd::closed;
    }
  }
  switch (admission) {
  case SessionHost::Admission::admitted:
    break;
  case SessionHost::Admission::draining:
    end_reason_ = "draining";
    co_await send("* BYE [UNAVAILABLE] Server shutting down\r\n");
    co_return PreauthEnd::closed;
  case SessionHost::Admission::total_cap:
    end_reason_ = "too_many_connections";
    co_await send("* BYE [UNAVAILABLE] Too many connections\r\n");
    co_return PreauthEnd::closed;
  case SessionHost::Admission::address_cap:
    end_reason_ = "too_many_connections_from_address";
    co_await send("* BYE [UNAVAILABLE] Too many connections from your address\r\n");
    co_return PreauthEnd::closed;
  }
  const auto& limits = gw_.config.limits;
  client_reader_ = std::make_unique<FrameReader>(
      client_, protocol::Direction::client_to_server,
      protocol::FramerOptions{limits.max_line_length, limits.max_literal_size});
  auto capability_list = [&] {
    return join_capabilities(preauth_capabilities(client_.tls_active(), gw_.upstream_auth));
  };
  if (!co_await send("* OK [CAPABILITY " + capability_list() + "] icalgate ready.\r\n")) {
    co_return PreauthEnd::closed;
  }
  while (true) {
    auto message = co_await read_client_message();
    if (!message) {
      end_reason_ = "client_closed";
      co_return PreauthEnd::closed;
    }
    const std::string& tag = message->tag;
    if (message->bad) {
      if (!co_await reject_bad(tag, *message->bad)) {
        co_return PreauthEnd::closed;
      }
      continue;
    }
    auto parsed = protocol::parse_command(message->whole);
    if (!parsed) {
      if (!co_await reject_bad(tag, "Invalid command syntax")) {
        co_return PreauthEnd::closed;
      }
      continue;
    }
    protocol::Command& command = *parsed;
    bool ok = true;
    switch (command.kind) {
    case protocol::CommandKind::capability:
      ok = co_await send("* CAPABILITY " + capability_list() + "\r\n" + tag +
                         " OK CAPABILITY completed\r\n");
      break;
    case protocol::CommandKind::noop:
      ok = co_await send(tag + " OK NOOP completed\r\n");
      break;
    case protocol::CommandKind::logout:
      co_await send("* BYE Logging out\r\n" + tag + " OK LOGOUT completed\r\n");
      end_reason_ = "logout";
      co_return PreauthEnd::closed;
    case protocol::CommandKind::starttls:
      if (client_.tls_active()) {
        ok = co_await send(tag + " BAD TLS is already active\r\n");
      } else if (!co_await start_tls(tag)) {
        end_reason_ = "tls_failed";
        co_return PreauthEnd::closed;
      }
      break;
    case protocol::CommandKind::id: {
      const auto& args = std::get<protocol::IdArgs>(command.args);
      if (args.params) {
        for (const auto& [key, value] : *args.params) {
          if (protocol::imap_iequals(key.value, "name") && value) {
            client_name_ = value->value.substr(0, 256);
          }
        }
      }
      protocol::Command forwarded = command;
      forwarded.raw.clear();
      forwarded.tag = "x";
      const std::string canonical = protocol::serialize_canonical(forwarded);
      // "x ID " ... CRLF; a literal would need a round trip upstream: not worth it for ID.
      if (canonical.size() > 7 && canonical.find('{') == std::string::npos) {
        id_arguments_ = canonical.substr(5, canonical.size() - 7);
      }
      ok = co_await send("* ID (\"name\" \"icalgate\")\r\n" + tag + " OK ID completed\r\n");
      break;
    }
    case protocol::CommandKind::login:
    case protocol::CommandKind::authenticate: {
      const bool is_login = command.kind == protocol::CommandKind::login;
      if (!client_.tls_active()) {
        ok = co_await send(tag + " NO [PRIVACYREQUIRED] TLS is required, use STARTTLS\r\n");
        break;
      }
      // The gateway's own app passwords (delegated and app modes): LOGIN or AUTHENTICATE
      // PLAIN, checked here, then the upstream login with an OAuth token.
      std::optional<PlainCredentials> credentials;
      std::optional<std::string> relay_ir;
      if (gw_.login_broker != nullptr) {
        auto taken = co_await plain_credentials(command, *message);
        if (!taken) {
          end_reason_ = "client_closed";
          co_return PreauthEnd::closed;
        }
        if (!taken->usable) {
          ok = co_await send(tag + " BAD " + taken->bad + "\r\n");
          break;
        }
        if (taken->credentials &&
            gw_.login_broker->mode_for(taken->credentials->login) != AuthMode::passthrough) {
          credentials = std::move(taken->credentials);
        } else if (taken->relayed_ir) {
          // A passthrough account that sent PLAIN without an initial response: relay it as
          // if it had sent one.
          message->whole = tag + " AUTHENTICATE PLAIN " + *taken->relayed_ir + "\r\n";
          relay_ir = std::move(taken->relayed_ir);
        }
      }
      if (!credentials && !co_await ensure_upstream()) {
        ok = co_await send(tag + " NO [UNAVAILABLE] Upstream server unavailable\r\n");
        break;
      }
      LoginOutcome outcome = LoginOutcome::failed;
      if (credentials) {
        outcome = co_await brokered_login(tag, std::move(*credentials));
      } else if (is_login) {
        user_ = std::get<protocol::LoginArgs>(command.args).userid.value;
        auto& password = std::get<protocol::LoginArgs>(command.args).password.value;
        OPENSSL_cleanse(password.data(), password.size());
        outcome = co_await relay_login(*message);
      } else {
        const auto& args = std::get<protocol::AuthenticateArgs>(command.args);
        user_.clear();
        outcome = co_await relay_authenticate(*message, protocol::imap_upper(args.mechanism),
                                              relay_ir ? relay_ir : args.initial_response);
        if (relay_ir) {
          OPENSSL_cleanse(relay_ir->data(), relay_ir->size());
        }
      }
      OPENSSL_cleanse(message->whole.data(), message->whole.size());
      OPENSSL_cleanse(command.raw.data(), command.raw.size());
      switch (outcome) {
      case LoginOutcome::ok:
        authenticated_ = true;
        log_event(LogLevel::info, "login",
                  {field("session", id_), field("client", client_address_),
                   field("user", sanitize_for_log(user_, 128)),
                   field("client_name", sanitize_for_log(client_name_, 64)),
                   field("mode", auth_mode_)});
        co_await forward_id();
        co_return PreauthEnd::authenticated;
      case LoginOutcome::failed:
        log_event(LogLevel::info, "login_failed",
                  {field("session", id_), field("client", client_address_),
                   field("user", sanitize_for_log(user_, 128))});
        break;
      case LoginOutcome::unavailable:
        drop_upstream();
        log_event(LogLevel::warn, "upstream_lost_during_login", {field("session", id_)});
        ok = co_await send(tag + " NO [UNAVAILABLE] Upstream server unavailable\r\n");
        break;
      case LoginOutcome::closed:
        end_reason_ = "client_closed";
        co_return PreauthEnd::closed;
      }
      break;
    }
    default:
      ok = co_await reject_bad(tag, "Command not allowed before login");
      break;
    }
    if (!ok) {
      co_return PreauthEnd::closed;
    }
  }
}

} // namespace icalgate::proxy
