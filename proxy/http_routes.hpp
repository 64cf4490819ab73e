#pragma once
// The admin endpoint's routes: one table of paths and methods, answering a request with a
// reply the server writes. Pure (no sockets, no clocks; the running enrolments sit behind
// EnrolDesk), so that every route and every refusal is unit-testable; the server adds what
// is common to all replies (proxy/admin_server.hpp).

#include "proxy/config.hpp"
#include "proxy/enrol_page.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace icalgate::proxy {

struct HttpReply {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers; // Allow, Content-Disposition, ...
  bool routine = false; // health checks: logged at debug, not info

  friend bool operator==(const HttpReply&, const HttpReply&) = default;
};

// What the routes see of a request. Views into the server's parsed request.
struct HttpRequest {
  std::string_view method; // as sent ("GET")
  std::string_view target; // origin form ("/path?query")
  std::string_view host;   // the Host header
  std::string_view origin; // the Origin header, "" when absent
  std::string_view referer;
  std::string_view content_type;
  std::string_view body;
};

// A short plain-text reply: `text` and a newline. Never a stack trace or a secret.
HttpReply plain_reply(unsigned status, std::string_view text);

// The percent-decoded value of the first `name` in a query string ("a=1&b=x%40y"), or nullopt
// when it is absent or not validly encoded. '+' is a space, as HTML forms send it.
std::optional<std::string> query_parameter(std::string_view query, std::string_view name);

class AdminRoutes {
 public:
  // `hostnames`: the names IMAP clients use for the gateway (gateway_hostnames()). `enrol`:
  // the running enrolments behind /enrol, null when the gateway offers none.
  AdminRoutes(Config config, std::vector<std::string> hostnames, EnrolDesk* enrol = nullptr);

  // HEAD is answered as GET (the server leaves the body out), except that it never takes
  // the place of the GET that would show an app password.
  HttpReply handle(const HttpRequest& request) const;
  HttpReply handle(std::string_view method, std::string_view target) const {
    return handle(HttpRequest{method, target, {}, {}, {}, {}, {}});
  }

  const std::vector<std::string>& hostnames() const { return hostnames_; }

 private:
  using Handler = HttpReply (AdminRoutes::*)(const HttpRequest& request,
                                             std::string_view query) const;
  struct Route {
    std::string_view path;
    std::string_view method;
    Handler handler;
  };
  static const std::vector<Route>& routes();

  HttpReply health(const HttpRequest& request, std::string_view query) const;
  HttpReply autoconfig(const HttpRequest& request, std::string_view query) const;
  HttpReply addon(const HttpRequest& request, std::string_view query) const;
  HttpReply enrol_form(const HttpRequest& request, std::string_view query) const;
  HttpReply enrol_submit(const HttpRequest& request, std::string_view query) const;
  HttpReply enrol_status(const HttpRequest& request, std::string_view query) const;
  bool enrolment_offered() const;

  Config config_;
  std::vector<std::string> hostnames_;
  EnrolDesk* enrol_;
  ImapServerInfo imap_;            // what the password page tells mail programs
  std::optional<std::string> xpi_; // built once: the same bytes for every download
  std::string xpi_missing_;        // why there is no add-on
};

} // namespace icalgate::proxy
