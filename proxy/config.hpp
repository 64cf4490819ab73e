#pragma once
// The gateway's typed configuration and its loader from TOML (docker/icalgate.example.toml
// documents every key). The loader checks values only: whether the certificate and secret files
// exist and can be loaded is decided at startup, where the gateway can also say why.

#include "calendar/graph_config.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace icalgate::proxy {

// A listener or upstream address. `host` is kept without IPv6 brackets.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;

  // "0.0.0.0:993", "[::1]:993" — the notation the configuration uses.
  std::string to_string() const;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

struct ListenConfig {
  std::optional<Endpoint> imaps = Endpoint{"0.0.0.0", 993}; // nullopt: disabled ("")
  std::optional<Endpoint> imap = Endpoint{"0.0.0.0", 143};  // nullopt: disabled ("")
  bool proxy_protocol = false;
  bool compress = true; // offer COMPRESS=DEFLATE (RFC 4978) after login

  friend bool operator==(const ListenConfig&, const ListenConfig&) = default;
};

enum class TlsVersion { tls1_2, tls1_3 };

struct TlsConfig {
  std::string cert = "/etc/icalgate/tls/fullchain.pem";
  std::string key = "/etc/icalgate/tls/privkey.pem";
  TlsVersion min_version = TlsVersion::tls1_2;

  friend bool operator==(const TlsConfig&, const TlsConfig&) = default;
};

enum class UpstreamTls { implicit, starttls };

struct UpstreamConfig {
  std::string host = "outlook.office365.com";
  std::uint16_t port = 993;
  UpstreamTls tls = UpstreamTls::implicit;
  std::string ca_file;     // empty: the system trust store
  std::string server_name; // empty: `host`
  std::chrono::milliseconds connect_timeout{15'000};
  bool session_cache = true; // resume TLS sessions to the upstream

  // The name sent as SNI and verified against the upstream's certificate.
  const std::string& verified_name() const { return server_name.empty() ? host : server_name; }
  friend bool operator==(const UpstreamConfig&, const UpstreamConfig&) = default;
};

struct LimitsConfig {
  std::uint32_t max_connections = 10'000;
  std::uint32_t max_connections_per_ip = 100;
  std::chrono::milliseconds preauth_timeout{60'000};
  std::chrono::milliseconds idle_timeout{31 * 60'000};
  std::uint64_t max_line_length = 64 * 1024;
  std::uint64_t max_literal_size = 64 * 1024 * 1024;
  std::uint32_t max_bad_commands = 10;
  std::chrono::milliseconds login_failure_delay{2'000};
  std::chrono::milliseconds shutdown_grace{30'000};

  // RFC 9051 §5.4: a client in IDLE must not be logged out before 30 minutes, so an IDLE
  // session waits for the longer of the two, whatever idle_timeout says.
  static constexpr std::chrono::milliseconds min_idle_command_timeout{30 * 60'000};
  std::chrono::milliseconds idle_command_timeout() const {
    return idle_timeout > min_idle_command_timeout ? idle_timeout : min_idle_command_timeout;
  }
  friend bool operator==(const LimitsConfig&, const LimitsConfig&) = default;
};

enum class LogLevel { trace, debug, info, warn, error, critical, off };
enum class LogFormat { text, json };

struct LogConfig {
  LogLevel level = LogLevel::info;
  LogFormat format = LogFormat::text;

  friend bool operator==(const LogConfig&, const LogConfig&) = default;
};

// [graph]: the app registration the gateway uses to read meeting messages and events, and
// how IMAP login names become the UPNs Graph knows.
struct GraphSection {
  calendar::GraphConfig client; // tenant, client_id, client_secret_file, certificate_file,
                                // private_key_file, authority, endpoint, ca_file,
                                // request_timeout, overall_timeout (durations "10s")
  std::string upn_suffix;       // appended to a login name that has no '@' ("" = none)
  std::vector<std::pair<std::string, std::string>> upn_map; // [graph.upn] "login" = "upn@dom"
  bool listing = true; // classify with Graph's meeting-message listing
  std::chrono::milliseconds listing_interval{300'000}; // how old a user's listing may get

  // The UPN Graph knows for an IMAP login name: upn_map (case-insensitive login match),
  // else login + upn_suffix when the login has no '@', else the login itself.
  std::string upn_for_login(std::string_view login) const;
  friend bool operator==(const GraphSection&, const GraphSection&) = default;
};

// [rewrite]: which meeting messages are turned into iMIP. Nothing is rewritten without a
// [graph] section, whatever `enabled` says: the event comes from Graph.
struct RewriteConfig {
  bool enabled = true;
  std::vector<std::string> accounts;            // empty: every account; "user@dom" or "@dom"
  std::uint64_t max_message_size = 25ull << 20; // "25MiB"
  bool dry_run = false;                         // classify and count, deliver originals
  // With Graph's listing, a header sync is answered with a rewritten size announced from
  // BODYSTRUCTURE and the event, the message fetched whole only when a client asks for content
  // (calendar/announced_rewrite.hpp).
  bool announce_sizes = true;
  std::string state = "/var/lib/icalgate/rewrite.db";

  // Whether the rewrite applies to this UPN (case-insensitive; "@dom" matches the domain).
  bool applies_to(std::string_view upn) const;
  friend bool operator==(const RewriteConfig&, const RewriteConfig&) = default;
};

// How a user's IMAP login reaches Exchange Online: the client's own OAuth token relayed
// (passthrough), a gateway password standing for a delegated token the gateway keeps and
// refreshes (delegated), or a gateway password with the gateway's app-only token (app).
enum class AuthMode { passthrough, delegated, app };

// [auth]: the login modes and the Entra app the gateway and its Thunderbird add-on use.
struct AuthConfig {
  AuthMode mode = AuthMode::passthrough;
  std::string client_id; // "" = none; required when delegated or app mode is in use
  // App mode's credential: a client secret, or a certificate with its private key.
  std::string client_secret_file;
  std::string certificate_file;
  std::string private_key_file;
  std::string authority = "https://login.microsoftonline.com";
  std::string tenant; // "" = none; required when delegated or app mode is in use
  std::string store = "/var/lib/icalgate/auth.db";
  // [auth.accounts]: "user@dom" or "@dom" = mode, in file order.
  std::vector<std::pair<std::string, AuthMode>> accounts;

  // The mode for this UPN (case-insensitive): its own entry, else its domain's, else `mode`.
  AuthMode mode_for(std::string_view upn) const;
  // Whether any account can end up in `m` (the default or an override).
  bool uses(AuthMode m) const;
  friend bool operator==(const AuthConfig&, const AuthConfig&) = default;
};

// [admin]: the gateway's web endpoint (add-on, autoconfig, enrolment, health).
struct AdminConfig {
  std::optional<Endpoint> listen = Endpoint{"127.0.0.1", 9080}; // nullopt: disabled ("")
  std::string cert; // HTTPS when cert and key are set; both "" = plain HTTP
  std::string key;
  std::vector<std::string> hostnames; // lower-cased; empty: derived (gateway_hostnames)

  bool https() const { return !cert.empty() && !key.empty(); }
  friend bool operator==(const AdminConfig&, const AdminConfig&) = default;
};

struct Config {
  ListenConfig listen;
  TlsConfig tls;
  UpstreamConfig upstream;
  LimitsConfig limits;
  LogConfig log;
  std::optional<GraphSection> graph; // set iff the file has a [graph] table
  RewriteConfig rewrite;
  AuthConfig auth;
  AdminConfig admin;

  friend bool operator==(const Config&, const Config&) = default;
};

// The names IMAP clients use for the gateway (autoconfig, the add-on's hostnames):
// [admin] hostnames, else the hosts of the IMAP listeners, with a wildcard address
// (0.0.0.0, ::) standing for `system_host_name` (the machine's name, from the caller).
std::vector<std::string> gateway_hostnames(const Config& config, std::string_view system_host_name);

// One problem found in a configuration file. `line` and `column` are 1-based; 0 when the
// problem has no single place (a rule spanning several keys that are all defaults).
struct ConfigError {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0; // set for TOML syntax errors only
  std::string key;          // "listen.imaps"; empty for syntax errors
  std::string message;

  // "FILE:LINE: key: message", or "FILE:LINE:COLUMN: message" for a syntax error.
  std::string to_string() const;
  friend bool operator==(const ConfigError&, const ConfigError&) = default;
};

// Either a valid Config or every error found (never an empty list).
class [[nodiscard]] ConfigResult {
 public:
  ConfigResult(Config config) : v_(std::move(config)) {}                   // NOLINT
  ConfigResult(std::vector<ConfigError> errors) : v_(std::move(errors)) {} // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  const Config& value() const { return std::get<0>(v_); }
  Config& value() { return std::get<0>(v_); }
  const std::vector<ConfigError>& errors() const { return std::get<1>(v_); }

 private:
  std::variant<Config, std::vector<ConfigError>> v_;
};

// Parses and validates a configuration; `file_name` only labels the errors. An empty text
// yields the defaults. Never throws for any input.
ConfigResult load_config(std::string_view toml_text, std::string_view file_name);

// The whole text of a configuration file, or why it could not be read (missing, a directory,
// unreadable, larger than max_config_file_size).
struct ConfigText {
  std::string text;
  std::string error; // empty on success

  bool ok() const noexcept { return error.empty(); }
};
inline constexpr std::size_t max_config_file_size = 1024 * 1024;
ConfigText read_config_text(const std::string& path);

// Reads and loads `path`; an unreadable file becomes a single error with line 0.
ConfigResult load_config_file(const std::string& path);

// Parses "host:port" with IPv6 literals in brackets ("[::1]:993"); host names are accepted
// and resolved by whoever binds or connects. On failure returns the reason.
std::variant<Endpoint, std::string> parse_endpoint(std::string_view text);

std::string_view to_string(TlsVersion version);
std::string_view to_string(UpstreamTls mode);
std::string_view to_string(LogLevel level);
std::string_view to_string(LogFormat format);
std::string_view to_string(AuthMode mode);

} // namespace icalgate::proxy
