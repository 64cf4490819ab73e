#include "calendar/http_transport.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

namespace icalgate::calendar {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_url = 8 * 1024;
constexpr std::uint32_t max_response_header = 64 * 1024;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

GraphError transport_error(GraphErrc code, const HttpRequest& request, std::string what) {
  return GraphError{code, request.method + " " + request.url.origin() + ": " + std::move(what)};
}

// What a failed I/O step means for the caller.
GraphError io_error(const HttpRequest& request, std::string_view step, const error_code& ec) {
  if (ec == beast::error::timeout || ec == asio::error::operation_aborted) {
    return transport_error(GraphErrc::timeout, request, std::string(step) + " timed out");
  }
  return transport_error(GraphErrc::connect, request, std::string(step) + ": " + ec.message());
}

// Resolves under the deadline: the resolver has no per-operation cancellation,
// so a timer cancels it. Both share ownership because the timer's handler may
// run after we return.
asio::awaitable<std::tuple<error_code, tcp::resolver::results_type>>
resolve(const HttpUrl& url, HttpTransport::Clock::time_point deadline) {
  auto executor = co_await asio::this_coro::executor;
  auto resolver = std::make_shared<tcp::resolver>(executor);
  auto timer = std::make_shared<asio::steady_timer>(executor, deadline);
  timer->async_wait([resolver](const error_code& ec) {
    if (!ec) {
      resolver->cancel();
    }
  });
  auto result = co_await resolver->async_resolve(url.host, url.port, use_tuple);
  timer->cancel();
  co_return result;
}

template <class Stream>
asio::awaitable<GraphResult<HttpResponse>> exchange(Stream& stream, const HttpRequest& request,
                                                    std::size_t max_body) {
  http::request<http::string_body> req{
      request.method == "POST" ? http::verb::post : http::verb::get, request.url.target, 11};
  const bool default_port = (request.url.tls && request.url.port == "443") ||
                            (!request.url.tls && request.url.port == "80");
  std::string host = request.url.host.find(':') != std::string::npos ? "[" + request.url.host + "]"
                                                                     : request.url.host;
  if (!default_port) {
    host += ":" + request.url.port;
  }
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "icalgate");
  req.set(http::field::accept, "application/json");
  req.set(http::field::connection, "close");
  if (!request.bearer.empty()) {
    req.set(http::field::authorization, "Bearer " + request.bearer);
  }
  if (request.method == "POST") {
    req.set(http::field::content_type, request.content_type);
    req.body() = request.body;
    req.prepare_payload();
  }
  if (auto [ec, n] = co_await http::async_write(stream, req, use_tuple); ec) {
    co_return io_error(request, "write", ec);
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  parser.header_limit(max_response_header);
  if (auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple); ec) {
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      co_return transport_error(GraphErrc::bad_response, request, "response too large");
    }
    if (ec == beast::error::timeout || ec == asio::error::operation_aborted) {
      co_return io_error(request, "read", ec);
    }
    if (ec.category() == error_code(http::error::bad_target).category()) {
      co_return transport_error(GraphErrc::bad_response, request,
                                "malformed HTTP response: " + ec.message());
    }
    co_return io_error(request, "read", ec);
  }
  auto& res = parser.get();
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  if (auto it = res.find(http::field::retry_after); it != res.end()) {
    out.retry_after = std::string(it->value().substr(0, 64));
  }
  if (auto it = res.find(http::field::location); it != res.end()) {
    out.location = std::string(it->value().substr(0, max_url));
  }
  co_return out;
}

} // namespace

std::string HttpUrl::origin() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(tls ? "https://" : "http://") + h + ":" + port;
}

GraphResult<HttpUrl> parse_http_url(std::string_view url) {
  if (url.size() > max_url) {
    return GraphError{GraphErrc::config, "URL too long"};
  }
  HttpUrl out;
  const std::string scheme_lower = lower(url.substr(0, url.find("://")));
  if (url.find("://") == std::string_view::npos ||
      (scheme_lower != "https" && scheme_lower != "http")) {
    return GraphError{GraphErrc::config, "not an http(s) URL: " + std::string(url.substr(0, 200))};
  }
  out.tls = scheme_lower == "https";
  std::string_view rest = url.substr(url.find("://") + 3);
  const std::size_t path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view target =
      path_start == std::string_view::npos ? std::string_view("/") : rest.substr(path_start);
  if (authority.empty() || authority.find('@') != std::string_view::npos) {
    return GraphError{GraphErrc::config, "URL without a host or with userinfo"};
  }
  if (const std::size_t hash = target.find('#'); hash != std::string_view::npos) {
    target = target.substr(0, hash);
  }
  std::string_view port;
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return GraphError{GraphErrc::config, "unterminated IPv6 literal in URL"};
    }
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return GraphError{GraphErrc::config, "garbage after IPv6 literal in URL"};
      }
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
    }
  }
  if (out.host.empty()) {
    return GraphError{GraphErrc::config, "URL without a host"};
  }
  if (port.empty()) {
    out.port = out.tls ? "443" : "80";
  } else {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
      return GraphError{GraphErrc::config, "bad port in URL"};
    }
    out.port = std::to_string(value);
  }
  out.target =
      target.empty() || target.front() != '/' ? "/" + std::string(target) : std::string(target);
  return out;
}

bool is_loopback_host(std::string_view host) {
  std::string h = lower(host);
  if (!h.empty() && h.back() == '.') {
    h.pop_back();
  }
  if (h == "localhost") {
    return true;
  }
  error_code ec;
  const auto address = asio::ip::make_address(h, ec);
  return !ec && address.is_loopback();
}

GraphResult<HttpUrl> parse_endpoint_url(std::string_view url) {
  auto parsed = parse_http_url(url);
  if (!parsed) {
    return parsed;
  }
  if (!parsed->tls && !is_loopback_host(parsed->host)) {
    return GraphError{GraphErrc::insecure_endpoint,
                      "plain http is allowed only to a loopback address, not to " +
                          parsed->host.substr(0, 200) + "; use https"};
  }
  return parsed;
}

GraphResult<std::unique_ptr<HttpTransport>> HttpTransport::create(const std::string& ca_file,
                                                                  std::size_t max_body_bytes) {
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  error_code ec;
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1,
                       ec);
  context->set_verify_mode(asio::ssl::verify_peer, ec);
  if (ca_file.empty()) {
    context->set_default_verify_paths(ec);
    if (ec) {
      return GraphError{GraphErrc::config, "cannot load the system trust store: " + ec.message()};
    }
  } else {
    context->load_verify_file(ca_file, ec);
    if (ec) {
      return GraphError{GraphErrc::config, "cannot load CA file " + ca_file + ": " + ec.message()};
    }
  }
  return std::unique_ptr<HttpTransport>(new HttpTransport(std::move(context), max_body_bytes));
}

asio::awaitable<GraphResult<HttpResponse>> HttpTransport::send(const HttpRequest& request,
                                                               Clock::time_point deadline) {
  // The loopback rule is enforced here too, so that no code path (a nextLink, a
  // redirect) can send a token over plain http to another host.
  if (!request.url.tls && !is_loopback_host(request.url.host)) {
    co_return transport_error(GraphErrc::insecure_endpoint, request,
                              "plain http is allowed only to a loopback address");
  }
  auto executor = co_await asio::this_coro::executor;
  if (Clock::now() >= deadline) {
    co_return transport_error(GraphErrc::timeout, request, "no time left");
  }
  std::vector<tcp::endpoint> endpoints;
  if (is_ip_literal(request.url.host)) {
    endpoints.emplace_back(asio::ip::make_address(request.url.host),
                           static_cast<unsigned short>(std::stoi(request.url.port)));
  } else {
    auto [ec, results] = co_await resolve(request.url, deadline);
    if (ec) {
      if (ec == asio::error::operation_aborted) {
        co_return transport_error(GraphErrc::timeout, request, "name resolution timed out");
      }
      co_return transport_error(GraphErrc::resolve, request, ec.message());
    }
    for (const auto& entry : results) {
      // localhost over http must really be loopback.
      if (request.url.tls || entry.endpoint().address().is_loopback()) {
        endpoints.push_back(entry.endpoint());
      }
    }
    if (endpoints.empty()) {
      co_return transport_error(GraphErrc::resolve, request, "no usable address");
    }
  }

  beast::tcp_stream tcp_stream(executor);
  tcp_stream.expires_at(deadline);
  if (auto [ec, ep] = co_await tcp_stream.async_connect(endpoints, use_tuple); ec) {
    co_return io_error(request, "connect", ec);
  }
  tcp_stream.socket().set_option(tcp::no_delay(true));
  if (!request.url.tls) {
    auto result = co_await exchange(tcp_stream, request, max_body_);
    error_code ignored;
    tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return result;
  }
  beast::ssl_stream<beast::tcp_stream> tls_stream(std::move(tcp_stream), *tls_);
  if (!is_ip_literal(request.url.host) &&
      SSL_ctrl(tls_stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(request.url.host.c_str())) != 1) {
    co_return transport_error(GraphErrc::tls, request, "cannot set SNI");
  }
  tls_stream.set_verify_callback(asio::ssl::host_name_verification(request.url.host));
  if (auto [ec] = co_await tls_stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
      ec) {
    const long verify = SSL_get_verify_result(tls_stream.native_handle());
    if (verify != X509_V_OK) {
      co_return transport_error(GraphErrc::tls, request,
                                std::string("certificate verification failed: ") +
                                    X509_verify_cert_error_string(verify));
    }
    if (ec == beast::error::timeout) {
      co_return io_error(request, "TLS handshake", ec);
    }
    co_return transport_error(GraphErrc::tls, request, "TLS handshake: " + ec.message());
  }
  auto result = co_await exchange(tls_stream, request, max_body_);
  error_code ignored;
  beast::get_lowest_layer(tls_stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return result;
}

} // namespace icalgate::calendar
