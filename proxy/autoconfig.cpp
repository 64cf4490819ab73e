#include "proxy/autoconfig.hpp"

#include "proxy/markup_escape.hpp"

#include <algorithm>

namespace icalgate::proxy {

namespace {

// Thunderbird's InputSanitizer.hostname: letters, digits, '-' and '.'; lower-cased here.
std::optional<std::string> dns_name(std::string_view text) {
  if (text.empty() || text.size() > 253 || text.front() == '.' || text.back() == '.' ||
      text.find('.') == std::string_view::npos) {
    return std::nullopt;
  }
  std::string out;
  for (const char c : text) {
    const char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (!((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '-' || l == '.')) {
      return std::nullopt;
    }
    out += l;
  }
  return out;
}

} // namespace

protocol::Result<Autoconfig> autoconfig_for(const Config& config,
                                            const std::vector<std::string>& hostnames,
                                            std::string_view email_address) {
  if (hostnames.empty()) {
    return protocol::make_error(protocol::Errc::not_found,
                                "the gateway has no host name: set [admin] hostnames");
  }
  Autoconfig out;
  out.hostnames = hostnames;
  if (config.listen.imaps) {
    out.imaps_port = config.listen.imaps->port;
  }
  if (config.listen.imap) {
    out.imap_port = config.listen.imap->port;
  }
  AuthMode mode = config.auth.mode;
  const std::size_t at = email_address.rfind('@');
  std::optional<std::string> domain;
  if (at != std::string_view::npos && at > 0) {
    domain = dns_name(email_address.substr(at + 1));
    if (domain) {
      mode = config.auth.mode_for(email_address);
    }
  }
  if (!domain) {
    domain = dns_name(config.auth.tenant);
  }
  out.domain = domain ? *domain : hostnames.front();
  out.oauth2 = mode == AuthMode::passthrough;
  return out;
}

std::string autoconfig_xml(const Autoconfig& a) {
  std::string out;
  const auto line = [&out](int depth, std::string_view text) {
    out.append(static_cast<std::size_t>(depth) * 2, ' ');
    out += text;
    out += '\n';
  };
  const auto element = [](std::string_view name, std::string_view value) {
    return "<" + std::string(name) + ">" + markup_escape(value) + "</" + std::string(name) + ">";
  };
  const auto server = [&](std::string_view kind, std::string_view host, std::uint16_t port,
                          std::string_view socket, std::string_view auth) {
    line(2, "<" + std::string(kind) + " type=\"" + (kind == "incomingServer" ? "imap" : "smtp") +
                "\">");
    line(3, element("hostname", host));
    line(3, element("port", std::to_string(port)));
    line(3, element("socketType", socket));
    line(3, element("username", "%EMAILADDRESS%"));
    line(3, element("authentication", auth));
    line(2, "</" + std::string(kind) + ">");
  };
  line(0, R"(<?xml version="1.0" encoding="UTF-8"?>)");
  line(0, R"(<clientConfig version="1.1">)");
  line(1, "<emailProvider id=\"" + markup_escape(a.domain) + "\">");
  line(2, element("domain", a.domain));
  line(2, element("displayName", "Microsoft 365 through icalgate"));
  line(2, element("displayShortName", "icalgate"));
  const std::string_view auth = a.oauth2 ? "OAuth2" : "password-cleartext";
  for (const std::string& host : a.hostnames) {
    if (a.imaps_port) {
      server("incomingServer", host, *a.imaps_port, "SSL", auth);
    }
    if (a.imap_port) {
      server("incomingServer", host, *a.imap_port, "STARTTLS", auth);
    }
  }
  server("outgoingServer", exchange_smtp_host, exchange_smtp_port, "STARTTLS", "OAuth2");
  line(1, "</emailProvider>");
  line(0, "</clientConfig>");
  return out;
}

} // namespace icalgate::proxy
