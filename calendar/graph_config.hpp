#pragma once
// The [graph] section of the configuration, plus the client's operating limits
// (defaults suit Exchange Online; tests shorten them).
//
//   [graph]
//   tenant = "contoso.onmicrosoft.com"
//   client_id = "…"
//   client_secret_file = "/etc/icalgate/graph-secret"
//   # or, instead of the secret, certificate credentials:
//   # certificate_file = "/etc/icalgate/graph.crt"   # PEM, uploaded to the app registration
//   # private_key_file = "/etc/icalgate/graph.key"   # PEM, unencrypted RSA
//   authority = "https://login.microsoftonline.com"
//   endpoint = "https://graph.microsoft.com"
//   ca_file = ""            # empty: the system trust store

#include <chrono>
#include <cstddef>
#include <string>

namespace icalgate::calendar {

struct GraphConfig {
  std::string tenant;
  std::string client_id;
  std::string client_secret_file; // the secret is the file's content,
                                  // surrounding space trimmed
  // Or certificate credentials: every token request carries a client assertion (a JWT
  // signed RS256 with this key, calendar/client_assertion.hpp) instead of the secret.
  std::string certificate_file; // PEM certificate registered with the app
  std::string private_key_file; // its PEM RSA private key, unencrypted
  std::string authority = "https://login.microsoftonline.com";
  std::string endpoint = "https://graph.microsoft.com";
  std::string scope = "https://graph.microsoft.com/.default";
  std::string ca_file; // PEM bundle to verify https peers against; empty: system store

  std::chrono::milliseconds request_timeout{10'000}; // one HTTP exchange incl. connect
  std::chrono::milliseconds overall_timeout{30'000}; // one operation incl. retries
  int max_attempts = 4;                              // per request, first one included
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{8'000};
  std::chrono::milliseconds max_retry_wait{20'000}; // sum of waits between attempts

  std::size_t global_concurrency = 16;  // Graph requests in flight, all users
  std::size_t per_user_concurrency = 4; // Exchange allows 4 concurrent requests per mailbox

  int page_size = 100; // $top of the listing (Graph caps at 1000)
  int max_pages = 50;  // pages followed through @odata.nextLink
  std::size_t max_response_bytes = 8 * 1024 * 1024;
  friend bool operator==(const GraphConfig&, const GraphConfig&) = default;
};

} // namespace icalgate::calendar
