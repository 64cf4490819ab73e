#include "proxy/upstream.hpp"

#include "protocol/response.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace icalgate::proxy {

using namespace asio::experimental::awaitable_operators;

namespace {

constexpr std::size_t max_setup_line = 64 * 1024;
constexpr std::string_view setup_tag = "icg0";

using Outcome = std::variant<UpstreamConnection, UpstreamError>;

// Reads one response line (no literals are expected during setup) from `stream`, keeping
// what follows it in `buffer`.
asio::awaitable<std::variant<std::string, UpstreamError>> read_line(Stream& stream,
                                                                    std::string& buffer) {
  while (true) {
    if (const std::size_t end = buffer.find('\n'); end != std::string::npos) {
      std::string line = buffer.substr(0, end + 1);
      buffer.erase(0, end + 1);
      co_return line;
    }
    if (buffer.size() > max_setup_line) {
      co_return UpstreamError{UpstreamErrc::bad_greeting, "response line too long"};
    }
    char chunk[4096];
    auto [ec, n] = co_await stream.read_some(asio::buffer(chunk));
    if (ec) {
      co_return UpstreamError{UpstreamErrc::closed, "while reading: " + ec.message()};
    }
    buffer.append(chunk, n);
  }
}

std::string_view trim_eol(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  return line;
}

// The greeting: OK (with its capabilities if it carries them) or an error.
std::variant<std::vector<std::string>, UpstreamError> check_greeting(std::string_view line) {
  auto parsed = protocol::parse_response(line);
  if (!parsed || parsed->kind != protocol::ResponseKind::status || !parsed->tag.empty()) {
    return UpstreamError{UpstreamErrc::bad_greeting, std::string(trim_eol(line.substr(0, 200)))};
  }
  const auto& status = std::get<protocol::StatusResponse>(parsed->body);
  if (status.status == protocol::Status::bye) {
    return UpstreamError{UpstreamErrc::bye, status.text.substr(0, 200)};
  }
  if (status.status != protocol::Status::ok) {
    return UpstreamError{UpstreamErrc::bad_greeting, std::string(trim_eol(line.substr(0, 200)))};
  }
  if (status.code && status.code->name == "CAPABILITY") {
    return status.code->list;
  }
  return std::vector<std::string>{};
}

// Sends `command` with the setup tag and reads up to its tagged answer; collects CAPABILITY.
asio::awaitable<std::variant<std::vector<std::string>, UpstreamError>>
command(Stream& stream, std::string& buffer, std::string_view name) {
  const std::string line = std::string(setup_tag) + " " + std::string(name) + "\r\n";
  if (auto [ec, n] = co_await stream.write(line); ec) {
    co_return UpstreamError{UpstreamErrc::closed, "while writing: " + ec.message()};
  }
  std::vector<std::string> caps;
  while (true) {
    auto got = co_await read_line(stream, buffer);
    if (auto* error = std::get_if<UpstreamError>(&got)) {
      co_return *error;
    }
    const std::string& text = std::get<std::string>(got);
    auto parsed = protocol::parse_response(text);
    if (!parsed) {
      continue; // untagged data this step does not need
    }
    if (parsed->kind == protocol::ResponseKind::capability) {
      caps = std::get<protocol::CapabilityData>(parsed->body).capabilities;
    } else if (parsed->kind == protocol::ResponseKind::status) {
      const auto& status = std::get<protocol::StatusResponse>(parsed->body);
      if (parsed->tag.empty() && status.status == protocol::Status::bye) {
        co_return UpstreamError{UpstreamErrc::bye, status.text.substr(0, 200)};
      }
      if (parsed->tag == setup_tag) {
        if (status.status != protocol::Status::ok) {
          co_return UpstreamError{UpstreamErrc::bad_greeting,
                                  std::string(name) + " refused: " + status.text.substr(0, 200)};
        }
        if (status.code && status.code->name == "CAPABILITY") {
          caps = status.code->list;
        }
        co_return caps;
      }
    }
  }
}

asio::awaitable<Outcome> establish(const UpstreamConfig& config, UpstreamTlsContext& tls) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(config.host, std::to_string(config.port), use_tuple);
  if (rec) {
    co_return UpstreamError{UpstreamErrc::resolve, config.host + ": " + rec.message()};
  }
  tcp::socket socket(executor);
  auto [cec, endpoint] = co_await asio::async_connect(socket, endpoints, use_tuple);
  if (cec) {
    co_return UpstreamError{UpstreamErrc::refused,
                            config.host + ":" + std::to_string(config.port) + ": " + cec.message()};
  }
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  // The upstream context is shared by all sessions and lives as long as the server; the
  // stream only needs it for SSL_new.
  auto stream =
      std::make_unique<Stream>(std::move(socket), SslContextPtr(SslContextPtr(), &tls.context()));
  std::string buffer;
  if (config.tls == UpstreamTls::starttls) {
    auto greeting = co_await read_line(*stream, buffer);
    if (auto* error = std::get_if<UpstreamError>(&greeting)) {
      co_return *error;
    }
    if (auto checked = check_greeting(std::get<std::string>(greeting));
        std::holds_alternative<UpstreamError>(checked)) {
      co_return std::get<UpstreamError>(checked);
    }
    auto started = co_await command(*stream, buffer, "STARTTLS");
    if (auto* error = std::get_if<UpstreamError>(&started)) {
      co_return *error;
    }
    if (!buffer.empty()) {
      // Bytes after the OK would be injected into the TLS session (CVE-2011-0411 style).
      co_return UpstreamError{UpstreamErrc::bad_greeting, "data after STARTTLS answer"};
    }
  }
  SSL* ssl = stream->ssl();
  if (std::string error = tls.prepare(ssl); !error.empty()) {
    co_return UpstreamError{UpstreamErrc::tls, error};
  }
  if (auto ec = co_await stream->handshake(asio::ssl::stream_base::client); ec) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      co_return UpstreamError{UpstreamErrc::verification, X509_verify_cert_error_string(verify)};
    }
    co_return UpstreamError{UpstreamErrc::tls, ec.message()};
  }
  UpstreamConnection connection;
  connection.resumed = tls.last_session_reused(ssl);
  std::vector<std::string> caps;
  if (config.tls == UpstreamTls::implicit) {
    auto greeting = co_await read_line(*stream, buffer);
    if (auto* error = std::get_if<UpstreamError>(&greeting)) {
      co_return *error;
    }
    auto checked = check_greeting(std::get<std::string>(greeting));
    if (auto* error = std::get_if<UpstreamError>(&checked)) {
      co_return *error;
    }
    caps = std::get<std::vector<std::string>>(std::move(checked));
  }
  if (caps.empty()) {
    auto learned = co_await command(*stream, buffer, "CAPABILITY");
    if (auto* error = std::get_if<UpstreamError>(&learned)) {
      co_return *error;
    }
    caps = std::get<std::vector<std::string>>(std::move(learned));
  }
  connection.stream = std::move(stream);
  connection.capabilities = std::move(caps);
  connection.pending = std::move(buffer);
  co_return connection;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(d);
  co_await timer.async_wait(use_tuple);
}

} // namespace

std::string_view UpstreamError::name() const {
  switch (code) {
  case UpstreamErrc::resolve:
    return "resolve";
  case UpstreamErrc::refused:
    return "refused";
  case UpstreamErrc::timeout:
    return "timeout";
  case UpstreamErrc::tls:
    return "tls";
  case UpstreamErrc::verification:
    return "verification";
  case UpstreamErrc::bad_greeting:
    return "bad_greeting";
  case UpstreamErrc::bye:
    return "bye";
  case UpstreamErrc::closed:
    return "closed";
  }
  return "unknown";
}

asio::awaitable<std::variant<UpstreamConnection, UpstreamError>>
connect_upstream(const UpstreamConfig& config, UpstreamTlsContext& tls) {
  // The operator flattens: variant<UpstreamConnection, UpstreamError, monostate>.
  auto result = co_await (establish(config, tls) || sleep_for(config.connect_timeout));
  if (auto* connection = std::get_if<UpstreamConnection>(&result)) {
    co_return std::move(*connection);
  }
  if (auto* error = std::get_if<UpstreamError>(&result)) {
    co_return *error;
  }
  co_return UpstreamError{UpstreamErrc::timeout,
                          "no answer within " + std::to_string(config.connect_timeout.count()) +
                              "ms"};
}

} // namespace icalgate::proxy
