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

constexpr std::string_view enrol_not_offered =
    "enrolment is not offered here: no account logs in with the delegated mode";

// An enrolment page: no script, no resource from elsewhere, never framed, and no Referer
// (which would carry a status page's id) sent to the sign-in link.
HttpReply html_reply(unsigned status, std::string body) {
  HttpReply reply;
  reply.status = status;
  reply.content_type = "text/html; charset=utf-8";
  reply.body = std::move(body);
  reply.headers = {{"Content-Security-Policy",
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"},
                   {"Referrer-Policy", "no-referrer"},
                   {"X-Frame-Options", "DENY"}};
  return reply;
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

AdminRoutes::AdminRoutes(Config config, std::vector<std::string> hostnames, EnrolDesk* enrol)
    : config_(std::move(config)), hostnames_(std::move(hostnames)), enrol_(enrol) {
  imap_.hostnames = hostnames_;
  if (config_.listen.imaps) {
    imap_.imaps_port = config_.listen.imaps->port;
  }
  if (config_.listen.imap) {
    imap_.imap_port = config_.listen.imap->port;
  }
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
      {"/enrol", "GET", &AdminRoutes::enrol_form},
      {"/enrol", "POST", &AdminRoutes::enrol_submit},
      {"/enrol/status", "GET", &AdminRoutes::enrol_status},
  };
  return table;
}

HttpReply AdminRoutes::handle(const HttpRequest& request) const {
  const std::string_view method = request.method;
  const std::string_view target = request.target;
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
      return (this->*route.handler)(request, query);
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

HttpReply AdminRoutes::health(const HttpRequest&, std::string_view) const {
  HttpReply reply = plain_reply(200, "ok");
  reply.routine = true;
  return reply;
}

HttpReply AdminRoutes::autoconfig(const HttpRequest&, std::string_view query) const {
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

HttpReply AdminRoutes::addon(const HttpRequest&, std::string_view) const {
  if (!xpi_) {
    return plain_reply(404, xpi_missing_);
  }
  HttpReply reply;
  reply.content_type = "application/x-xpinstall";
  reply.body = *xpi_;
  reply.headers.emplace_back("Content-Disposition", "attachment; filename=\"icalgate-oauth.xpi\"");
  return reply;
}

bool AdminRoutes::enrolment_offered() const {
  return enrol_ != nullptr && config_.auth.uses(AuthMode::delegated);
}

HttpReply AdminRoutes::enrol_form(const HttpRequest&, std::string_view) const {
  if (!enrolment_offered()) {
    return plain_reply(404, enrol_not_offered);
  }
  return html_reply(200, enrol_form_page());
}

HttpReply AdminRoutes::enrol_submit(const HttpRequest& request, std::string_view) const {
  if (!enrolment_offered()) {
    return plain_reply(404, enrol_not_offered);
  }
  // Browsers send Origin with every form POST; Referer is the fallback for old ones.
  const std::string_view source = request.origin.empty() ? request.referer : request.origin;
  if (!same_origin(source, request.host)) {
    return plain_reply(403, "cross-site request refused");
  }
  if (!is_form_content_type(request.content_type)) {
    return plain_reply(415, "expected application/x-www-form-urlencoded");
  }
  const std::string upn = query_parameter(request.body, "upn").value_or("");
  if (!valid_upn(upn)) {
    return html_reply(400, enrol_form_page("Please enter your e-mail address.", upn));
  }
  if (config_.auth.mode_for(upn) != AuthMode::delegated) {
    return html_reply(403, enrol_form_page("This address does not log in to the gateway with a "
                                           "password the gateway issues: ask your administrator "
                                           "how to set up your mail program.",
                                           upn));
  }
  const EnrolDesk::Started started = enrol_->start(upn);
  switch (started.refusal) {
  case EnrolRegistry::Refusal::none:
    break;
  case EnrolRegistry::Refusal::running_for_user:
    return html_reply(409, enrol_form_page("An enrolment for this address is already waiting for "
                                           "its sign-in. Finish it, or try again once its code "
                                           "has expired.",
                                           upn));
  case EnrolRegistry::Refusal::busy:
  case EnrolRegistry::Refusal::duplicate_id: {
    HttpReply reply = html_reply(
        503, enrol_form_page("Too many enrolments are running; please try again in a few minutes.",
                             upn));
    reply.headers.emplace_back("Retry-After", "60");
    return reply;
  }
  }
  // Post/Redirect/Get: the status page can be reloaded without starting another sign-in.
  const std::string location = "/enrol/status?id=" + started.id;
  HttpReply reply = html_reply(303, "<!DOCTYPE html>\n<title>Enrol</title>\n<p><a href=\"" +
                                        location + "\">Continue</a></p>\n");
  reply.headers.emplace_back("Location", location);
  return reply;
}

HttpReply AdminRoutes::enrol_status(const HttpRequest& request, std::string_view query) const {
  if (!enrolment_offered()) {
    return plain_reply(404, enrol_not_offered);
  }
  const std::string id = query_parameter(query, "id").value_or("");
  // HEAD must not use up the only showing of a password.
  auto view = is_enrol_id(id) ? enrol_->status(id, request.method != "HEAD") : std::nullopt;
  if (!view) {
    return html_reply(404, enrol_unknown_page());
  }
  HttpReply reply = html_reply(200, enrol_status_page(*view, imap_));
  // A waiting page reloads itself every few seconds: its reads are logged at debug.
  reply.routine = view->stage == EnrolStage::requesting || view->stage == EnrolStage::waiting;
  return reply;
}

} // namespace icalgate::proxy
