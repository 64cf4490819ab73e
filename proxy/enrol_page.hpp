#pragma once
// The enrolment page's pieces that need no server: the HTML of the form and of every status
// (self-contained: inline CSS, no script, no external resource), and the checks of what a
// browser sends (the address, the id, the form's origin). Pure.

#include "proxy/enrol_registry.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::proxy {

// What the password page tells the user to enter in a mail program.
struct ImapServerInfo {
  std::vector<std::string> hostnames;
  std::optional<std::uint16_t> imaps_port; // implicit TLS
  std::optional<std::uint16_t> imap_port;  // STARTTLS
};

// How often a status page reloads itself (meta refresh) while a sign-in is pending.
inline constexpr int enrol_refresh_seconds = 3;

// An address the gateway could enrol: ASCII, one '@', a dotted domain, at most 320 bytes.
bool valid_upn(std::string_view upn);

// An enrolment id as the gateway makes them: 32 lower-case hex digits (128 random bits).
bool is_enrol_id(std::string_view id);

// CSRF: whether `source` (the Origin header, else the Referer) names the same host and port
// as the request's Host header. The scheme only supplies the default port, so that a
// TLS-terminating proxy in front of a loopback endpoint still matches. An absent or "null"
// origin does not match.
bool same_origin(std::string_view source, std::string_view host);

// Whether a Content-Type is application/x-www-form-urlencoded (parameters allowed).
bool is_form_content_type(std::string_view content_type);

// GET /enrol: the address form; `error` (if any) above it, the field prefilled with `upn`.
std::string enrol_form_page(std::string_view error = {}, std::string_view upn = {});

// GET /enrol/status: the code and link while waiting (reloading itself), the app password
// once, or why nothing was stored.
std::string enrol_status_page(const EnrolView& view, const ImapServerInfo& imap);

// An id that is unknown or expired.
std::string enrol_unknown_page();

} // namespace icalgate::proxy
