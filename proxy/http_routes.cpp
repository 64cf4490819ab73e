#include "proxy/http_routes.hpp"

#include "proxy/autoconfig.hpp"
#include "proxy/thunderbird_addon.hpp"

#include <algorithm>

namespace icalgate::proxy {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] != '%') {
      out += text[i];
    } else {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) {
        return std::nullopt;
      }
      out += static_cast<char>(high * 16 + low);
      i += 2;
    }
  }
  return out;
}

} // namespace

HttpReply plain_reply(unsigned status, std::string_view text) {
  HttpReply reply;
  reply.status = status;
  reply.body = std::string(text) + "\n";
  return reply;
}

std::optional<std::string> query_parameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    }
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
  }
  return std::nullopt;
}

AdminRoutes::AdminRoutes(Config config, std::vector<std::string> hostnames)
    : config_(std::move(config)), hostnames_(std::move(hostnames)) {
  auto addon = thunderbird_addon_for(config_, hostnames_);
  if (!addon) {
    xpi_missing_ = addon.error().message;
    return;
  }
  auto xpi = addon_xpi(*addon);
  if (!xpi) {
    xpi_missing_ = "the add-on could not be built: " + xpi.error().message;
    return;
  }
  xpi_ = std::move(*xpi);
}

const std::vector<AdminRoutes::Route>& AdminRoutes::routes() {
  // Thunderbird asks autoconfig.<domain>/mail/config-v1.1.xml, then
  // <domain>/.well-known/autoconfig/mail/config-v1.1.xml: either can point here.
  static const std::vector<Route> table{
      {"/healthz", "GET", &AdminRoutes::health},
      {"/mail/config-v1.1.xml", "GET", &AdminRoutes::autoconfig},
      {"/.well-known/autoconfig/mail/config-v1.1.xml", "GET", &AdminRoutes::autoconfig},
      {"/thunderbird/icalgate-oauth.xpi", "GET", &AdminRoutes::addon},
      {"/enrol", "GET", &AdminRoutes::enrol},
  };
  return table;
}

HttpReply AdminRoutes::handle(std::string_view method, std::string_view target) const {
  if (target.empty() || target.front() != '/') {
    return plain_reply(400, "bad request target");
  }
  const std::size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  const std::string_view wanted = method == "HEAD" ? "GET" : method;
  std::string allow;
  for (const Route& route : routes()) {
    if (route.path != path) {
      continue;
    }
    if (route.method == wanted) {
      return (this->*route.handler)(query);
    }
    allow += (allow.empty() ? "" : ", ") + std::string(route.method);
    if (route.method == "GET") {
      allow += ", HEAD";
    }
  }
  if (allow.empty()) {
    return plain_reply(404, "not found");
  }
  HttpReply reply = plain_reply(405, "method not allowed");
  reply.headers.emplace_back("Allow", allow);
  return reply;
}

HttpReply AdminRoutes::health(std::string_view) const {
  HttpReply reply = plain_reply(200, "ok");
  reply.routine = true;
  return reply;
}

HttpReply AdminRoutes::autoconfig(std::string_view query) const {
  const std::string email = query_parameter(query, "emailaddress").value_or("");
  auto made = autoconfig_for(config_, hostnames_, email);
  if (!made) {
    return plain_reply(404, made.error().message);
  }
  HttpReply reply;
  reply.content_type = "application/xml; charset=utf-8";
  reply.body = autoconfig_xml(*made);
  return reply;
}

HttpReply AdminRoutes::addon(std::string_view) const {
  if (!xpi_) {
    return plain_reply(404, xpi_missing_);
  }
  HttpReply reply;
  reply.content_type = "application/x-xpinstall";
  reply.body = *xpi_;
  reply.headers.emplace_back("Content-Disposition", "attachment; filename=\"icalgate-oauth.xpi\"");
  return reply;
}

HttpReply AdminRoutes::enrol(std::string_view) const {
  return plain_reply(501, "enrolment is not available on this gateway yet");
}

} // namespace icalgate::proxy
