#pragma once
// One HTTP/1.1 exchange with a Graph or identity endpoint: https with the peer
// verified (system store or a configured CA file, SNI, host name check), or
// plain http when the host is a loopback address. One connection per request
// (`Connection: close`); a deadline bounds the whole exchange, DNS included.

#include "calendar/graph_error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace icalgate::calendar {

struct HttpUrl {
  bool tls = true;
  std::string host;   // without brackets for IPv6 literals
  std::string port;   // numeric
  std::string target; // path and query, starting with '/'

  // "https://host:port", the part two URLs must share for a token to follow a
  // link.
  std::string origin() const;
};

// Parses an absolute http(s) URL. No userinfo, no fragment.
GraphResult<HttpUrl> parse_http_url(std::string_view url);

// 127.0.0.0/8, ::1 and "localhost" (case-insensitive, trailing dot allowed).
bool is_loopback_host(std::string_view host);

// parse_http_url plus the transport rule: http only to a loopback host.
GraphResult<HttpUrl> parse_endpoint_url(std::string_view url);

struct HttpRequest {
  std::string method = "GET";
  HttpUrl url;
  std::string bearer; // Authorization: Bearer …, when not empty
  std::string content_type;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string retry_after;
  std::string location;
};

class HttpTransport {
 public:
  using Clock = std::chrono::steady_clock;

  // The TLS client context: TLS 1.2+, peers verified against `ca_file` or the
  // system store.
  static GraphResult<std::unique_ptr<HttpTransport>> create(const std::string& ca_file,
                                                            std::size_t max_body_bytes);

  boost::asio::awaitable<GraphResult<HttpResponse>> send(const HttpRequest& request,
                                                         Clock::time_point deadline);

 private:
  HttpTransport(std::unique_ptr<boost::asio::ssl::context> tls, std::size_t max_body)
      : tls_(std::move(tls)), max_body_(max_body) {}
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::size_t max_body_;
};

} // namespace icalgate::calendar
