#pragma once
// Opening a session with the upstream IMAP server: TCP, TLS (implicit, or STARTTLS after the
// plain greeting), verified; the greeting read and the capabilities learned. Everything
// within connect_timeout. Failures are values.

#include "proxy/config.hpp"
#include "proxy/stream.hpp"
#include "proxy/tls_context.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace icalgate::proxy {

enum class UpstreamErrc {
  resolve,      // the host name did not resolve
  refused,      // TCP connection failed
  timeout,      // connect_timeout passed
  tls,          // TLS handshake failed
  verification, // the certificate did not verify or named another host
  bad_greeting, // not an IMAP server, or STARTTLS refused
  bye,          // the upstream greeted with BYE
  closed,       // the connection ended during setup
};

struct UpstreamError {
  UpstreamErrc code = UpstreamErrc::refused;
  std::string detail; // for the log; never shown to clients

  std::string_view name() const;
};

struct UpstreamConnection {
  std::unique_ptr<Stream> stream;
  std::vector<std::string> capabilities; // after TLS, as the upstream wrote them
  std::string pending;                   // bytes received after the capability answer
  bool resumed = false;                  // the TLS session was resumed
};

asio::awaitable<std::variant<UpstreamConnection, UpstreamError>>
connect_upstream(const UpstreamConfig& config, UpstreamTlsContext& tls);

} // namespace icalgate::proxy
