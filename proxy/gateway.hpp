#pragma once
// What every session of one gateway shares: the configuration, the TLS contexts, what was
// learned about the upstream, and the host that admits and tracks sessions.

#include "proxy/capabilities.hpp"
#include "proxy/config.hpp"
#include "proxy/login_penalty.hpp"
#include "proxy/tls_context.hpp"

#include <cstdint>
#include <string>

namespace icalgate::proxy {

class LoginBroker;
class RewriteService;
class Session;

enum class ListenerKind { imaps, imap };

class SessionHost {
 public:
  virtual ~SessionHost() = default;
  // Counts the session against the total and per-address caps; else says why not.
  enum class Admission { admitted, draining, total_cap, address_cap };
  virtual Admission admit(Session& session, const std::string& address) = 0;
  // The session has ended (admitted or not).
  virtual void release(Session& session) = 0;
};

struct Gateway {
  const Config& config;
  ServerTlsContext& server_tls;
  UpstreamTlsContext& upstream_tls;
  SessionHost& host;
  // Learned from the latest upstream connection, gateway-wide (single-threaded io_context).
  AuthCapabilities upstream_auth = default_auth_capabilities();
  // Failed logins per client address (the delay before their NO).
  LoginPenalty login_penalty = LoginPenalty();
  // The meeting-invitation rewrite; null when it is off (no [graph], or disabled).
  RewriteService* rewrite = nullptr;
  // The delegated and app login modes; null when every account is passthrough.
  LoginBroker* login_broker = nullptr;
};

} // namespace icalgate::proxy
