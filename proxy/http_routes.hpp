#pragma once
// The admin endpoint's routes: one table of paths and methods, answering a request with a
// reply the server writes. Pure (no sockets, no clocks), so that every route and every
// refusal is unit-testable; the server adds what is common to all replies (proxy/admin_server.hpp).

#include "proxy/config.hpp"

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

// A short plain-text reply: `text` and a newline. Never a stack trace or a secret.
HttpReply plain_reply(unsigned status, std::string_view text);

// The percent-decoded value of the first `name` in a query string ("a=1&b=x%40y"), or nullopt
// when it is absent or not validly encoded. '+' is a space, as HTML forms send it.
std::optional<std::string> query_parameter(std::string_view query, std::string_view name);

class AdminRoutes {
 public:
  // `hostnames`: the names IMAP clients use for the gateway (gateway_hostnames()).
  AdminRoutes(Config config, std::vector<std::string> hostnames);

  // `method` as sent ("GET"); `target` in origin form ("/path?query"). HEAD is answered as
  // GET; the server leaves the body out.
  HttpReply handle(std::string_view method, std::string_view target) const;

  const std::vector<std::string>& hostnames() const { return hostnames_; }

 private:
  using Handler = HttpReply (AdminRoutes::*)(std::string_view query) const;
  struct Route {
    std::string_view path;
    std::string_view method;
    Handler handler;
  };
  static const std::vector<Route>& routes();

  HttpReply health(std::string_view query) const;
  HttpReply autoconfig(std::string_view query) const;
  HttpReply addon(std::string_view query) const;
  HttpReply enrol(std::string_view query) const;

  Config config_;
  std::vector<std::string> hostnames_;
  std::optional<std::string> xpi_; // built once: the same bytes for every download
  std::string xpi_missing_;        // why there is no add-on
};

} // namespace icalgate::proxy
