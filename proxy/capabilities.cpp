#include "proxy/capabilities.hpp"

#include "protocol/lexer.hpp"
#include "protocol/response.hpp"

#include <algorithm>

namespace icalgate::proxy {

namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && protocol::imap_iequals(s.substr(0, prefix.size()), prefix);
}

std::size_t find_ci(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) {
    return std::string_view::npos;
  }
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (protocol::imap_iequals(haystack.substr(i, needle.size()), needle)) {
      return i;
    }
  }
  return std::string_view::npos;
}

std::string_view line_terminator(std::string_view line) {
  if (line.ends_with("\r\n")) {
    return "\r\n";
  }
  return line.ends_with("\n") ? "\n" : "";
}

} // namespace

AuthCapabilities default_auth_capabilities() {
  return AuthCapabilities{{"PLAIN", "XOAUTH2"}, true, false};
}

AuthCapabilities auth_capabilities_from(const std::vector<std::string>& upstream) {
  AuthCapabilities auth;
  for (const auto& cap : upstream) {
    if (starts_with_ci(cap, "AUTH=") && cap.size() > 5) {
      std::string mechanism = protocol::imap_upper(std::string_view(cap).substr(5));
      if (std::find(auth.mechanisms.begin(), auth.mechanisms.end(), mechanism) ==
          auth.mechanisms.end()) {
        auth.mechanisms.push_back(std::move(mechanism));
      }
    } else if (protocol::imap_iequals(cap, "SASL-IR")) {
      auth.sasl_ir = true;
    } else if (protocol::imap_iequals(cap, "LITERAL+")) {
      auth.literal_plus = true;
    }
  }
  return auth;
}

std::vector<std::string> preauth_capabilities(bool tls_active, const AuthCapabilities& auth) {
  // LITERAL+ and ID are the gateway's own: it reads pre-auth literals and answers ID itself.
  std::vector<std::string> caps{"IMAP4rev1", "LITERAL+", "ID"};
  if (auth.sasl_ir) {
    caps.emplace_back("SASL-IR");
  }
  if (!tls_active) {
    caps.emplace_back("STARTTLS");
    caps.emplace_back("LOGINDISABLED");
    return caps;
  }
  for (const auto& mechanism : auth.mechanisms) {
    caps.push_back("AUTH=" + mechanism);
  }
  return caps;
}

bool relayable_capability(std::string_view capability) {
  return !starts_with_ci(capability, "COMPRESS=") &&
         !protocol::imap_iequals(capability, "STARTTLS") &&
         !protocol::imap_iequals(capability, "LOGINDISABLED");
}

std::vector<std::string> filter_capabilities(const std::vector<std::string>& upstream,
                                             bool offer_compress) {
  std::vector<std::string> kept;
  kept.reserve(upstream.size() + 1);
  for (const auto& cap : upstream) {
    if (relayable_capability(cap)) {
      kept.push_back(cap);
    }
  }
  if (offer_compress) {
    kept.emplace_back("COMPRESS=DEFLATE");
  }
  return kept;
}

std::string join_capabilities(const std::vector<std::string>& capabilities) {
  std::string out;
  for (const auto& cap : capabilities) {
    if (!out.empty()) {
      out += ' ';
    }
    out += cap;
  }
  return out;
}

bool mentions_capability(std::string_view line) {
  return find_ci(line, "CAPABILITY") != std::string_view::npos;
}

std::optional<std::string> filter_capability_response(std::string_view line, bool offer_compress) {
  if (!mentions_capability(line)) {
    return std::nullopt;
  }
  auto parsed = protocol::parse_response(line);
  if (!parsed) {
    return std::nullopt;
  }
  const std::string_view eol = line_terminator(line);
  if (parsed->kind == protocol::ResponseKind::capability) {
    const auto& data = std::get<protocol::CapabilityData>(parsed->body);
    return "* CAPABILITY " +
           join_capabilities(filter_capabilities(data.capabilities, offer_compress)) +
           std::string(eol);
  }
  if (parsed->kind != protocol::ResponseKind::status) {
    return std::nullopt;
  }
  const auto& status = std::get<protocol::StatusResponse>(parsed->body);
  if (!status.code || status.code->name != "CAPABILITY") {
    return std::nullopt;
  }
  // Replace only the code's list, keeping every other byte of the line as the upstream sent it.
  const std::size_t open = line.find('[');
  const std::size_t close = open == std::string_view::npos ? open : line.find(']', open);
  if (close == std::string_view::npos) {
    return std::nullopt;
  }
  return std::string(line.substr(0, open)) + "[CAPABILITY " +
         join_capabilities(filter_capabilities(status.code->list, offer_compress)) +
         std::string(line.substr(close));
}

} // namespace icalgate::proxy
