#pragma once
// Which capabilities the gateway advertises. Before login the gateway answers itself, so it
// lists what it implements plus the upstream's authentication mechanisms; after login the
// upstream answers and its lists are filtered to what survives the relay. Pure functions.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::proxy {

// What the upstream offers for authentication, learned from any upstream connection.
struct AuthCapabilities {
  std::vector<std::string> mechanisms; // "PLAIN", "XOAUTH2" (without "AUTH=")
  bool sasl_ir = false;
  bool literal_plus = false; // the upstream takes {n+} (the gateway uses it when relaying)

  friend bool operator==(const AuthCapabilities&, const AuthCapabilities&) = default;
};

// Until an upstream has been seen: what Exchange Online offers.
AuthCapabilities default_auth_capabilities();
AuthCapabilities auth_capabilities_from(const std::vector<std::string>& upstream);

// The pre-auth list. Before TLS on the plain port: STARTTLS and LOGINDISABLED, and no
// AUTH= mechanism (nothing may be sent in clear).
std::vector<std::string> preauth_capabilities(bool tls_active, const AuthCapabilities& auth);

// Whether an upstream capability survives the relay after login: COMPRESS=* (compression
// is the gateway's, towards the client), STARTTLS and LOGINDISABLED (TLS is the gateway's)
// are dropped.
bool relayable_capability(std::string_view capability);
// The relayable ones, plus COMPRESS=DEFLATE when the gateway offers it.
std::vector<std::string> filter_capabilities(const std::vector<std::string>& upstream,
                                             bool offer_compress = false);

// "A B C"
std::string join_capabilities(const std::vector<std::string>& capabilities);

// Cheap pre-check before parsing: the line contains "CAPABILITY" in any case.
bool mentions_capability(std::string_view line);

// An upstream response line (terminator included) rewritten with its CAPABILITY data or
// [CAPABILITY ...] code filtered; nullopt when the line carries neither (relay it as is).
std::optional<std::string> filter_capability_response(std::string_view line,
                                                      bool offer_compress = false);

} // namespace icalgate::proxy
