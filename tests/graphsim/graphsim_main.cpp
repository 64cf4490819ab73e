// icalgate-graphsim: a Microsoft Graph and identity-platform simulator for
// tests and the demo. Single-threaded; every connection is a coroutine.
//
//   icalgate-graphsim --listen 127.0.0.1:PORT --data DIR [--control FILE]
//                     [--token-lifetime SECONDS] [--fail-rate R]
//                     [--max-connections N] [--jwt-key FILE]
//                     [--device-code-interval SECONDS] [--device-code-lifetime SECONDS]
//
// --jwt-key: the raw bytes of FILE sign the Exchange Online tokens (HS256); without it a
// random key is used, and no upstream will accept them.
//
// PORT 0 picks a free port; the bound address is printed on stdout as
// "graphsim listening on 127.0.0.1:PORT". One line per request goes to stderr.

#include "tests/graphsim/simulator.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <unistd.h>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using icalgate::graphsim::SimOptions;
using icalgate::graphsim::Simulator;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t max_header_bytes = 16 * 1024;
constexpr std::uint64_t max_body_bytes = 64 * 1024;
constexpr auto idle_timeout = std::chrono::seconds(30);

std::size_t connections = 0;

void usage() {
  std::fprintf(stderr, "usage: icalgate-graphsim --listen HOST:PORT --data DIR "
                       "[--control FILE]\n"
                       "         [--token-lifetime SECONDS] [--fail-rate R] "
                       "[--max-connections N] [--exit-on-stdin-eof]\n"
                       "         [--jwt-key FILE] [--device-code-interval SECONDS] "
                       "[--device-code-lifetime SECONDS]\n");
}

asio::awaitable<void> serve(tcp::socket socket, Simulator& sim) {
  struct Counted {
    Counted() { ++connections; }
    ~Counted() { --connections; }
    Counted(const Counted&) = delete;
    Counted& operator=(const Counted&) = delete;
  } counted;
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer(max_header_bytes + max_body_bytes);
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(max_header_bytes);
    parser.body_limit(max_body_bytes);
    stream.expires_after(idle_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec == http::error::header_limit || ec == http::error::body_limit ||
        ec == http::error::buffer_overflow) {
      const bool header = ec != http::error::body_limit;
      http::response<http::string_body> res{header ? http::status::request_header_fields_too_large
                                                   : http::status::payload_too_large,
                                            11};
      res.set(http::field::connection, "close");
      res.prepare_payload();
      stream.expires_after(idle_timeout);
      co_await http::async_write(stream, res, use_tuple);
      std::fprintf(stderr, "graphsim: request %s too large\n", header ? "header" : "body");
      break;
    }
    if (ec) {
      break;
    }
    const auto started = std::chrono::steady_clock::now();
    auto& request = parser.get();
    auto res = co_await sim.handle(request);
    res.keep_alive(request.keep_alive());
    const long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - started)
                             .count();
    const std::string target(request.target().substr(0, 300));
    std::fprintf(stderr, "graphsim: %s %s -> %u (%zu bytes, %lld ms)\n",
                 std::string(request.method_string()).c_str(), target.c_str(), res.result_int(),
                 res.body().size(), ms);
    stream.expires_after(idle_timeout);
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !res.keep_alive()) {
      break;
    }
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, Simulator& sim) {
  while (true) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted) {
      co_return;
    }
    if (ec) {
      continue;
    }
    if (connections >= sim.options().max_connections) {
      std::fprintf(stderr, "graphsim: connection limit reached, closing a new connection\n");
      continue; // the socket closes as it goes out of scope
    }
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), sim), asio::detached);
  }
}

} // namespace

int main(int argc, char** argv) {
  SimOptions options;
  std::string listen;
  bool exit_on_stdin_eof = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--exit-on-stdin-eof") {
      exit_on_stdin_eof = true;
      continue;
    }
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (value == nullptr) {
      usage();
      return 2;
    }
    ++i;
    if (arg == "--listen") {
      listen = value;
    } else if (arg == "--data") {
      options.data_dir = value;
    } else if (arg == "--control") {
      options.control_file = value;
    } else if (arg == "--token-lifetime") {
      options.token_lifetime = std::chrono::seconds(std::atoll(value));
    } else if (arg == "--fail-rate") {
      options.fail_rate = std::atof(value);
    } else if (arg == "--max-connections") {
      options.max_connections = static_cast<std::size_t>(std::atoll(value));
    } else if (arg == "--jwt-key") {
      std::ifstream file(value, std::ios::binary);
      std::stringstream bytes;
      bytes << file.rdbuf();
      if (!file || bytes.str().empty()) {
        std::fprintf(stderr, "graphsim: cannot read the JWT key from %s\n", value);
        return 2;
      }
      options.jwt_key = bytes.str();
    } else if (arg == "--device-code-interval") {
      options.device_code_interval = std::chrono::seconds(std::atoll(value));
    } else if (arg == "--device-code-lifetime") {
      options.device_code_lifetime = std::chrono::seconds(std::atoll(value));
    } else {
      usage();
      return 2;
    }
  }
  const std::size_t colon = listen.rfind(':');
  if (listen.empty() || options.data_dir.empty() || colon == std::string::npos ||
      options.token_lifetime.count() <= 0 || options.device_code_interval.count() < 0 ||
      options.device_code_lifetime.count() <= 0) {
    usage();
    return 2;
  }
  if (options.jwt_key.empty()) {
    std::random_device random;
    for (int i = 0; i < 32; ++i) {
      options.jwt_key.push_back(static_cast<char>(random() & 0xff));
    }
  }
  options.listen_host = listen.substr(0, colon);
  if (options.listen_host.size() > 2 && options.listen_host.front() == '[') {
    options.listen_host = options.listen_host.substr(1, options.listen_host.size() - 2);
  }
  try {
    asio::io_context io;
    tcp::endpoint endpoint(asio::ip::make_address(options.listen_host),
                           static_cast<unsigned short>(std::atoi(listen.c_str() + colon + 1)));
    tcp::acceptor acceptor(io, endpoint);
    options.listen_port = acceptor.local_endpoint().port();
    Simulator sim(options);
    std::printf("graphsim listening on %s:%u\n", options.listen_host.c_str(),
                static_cast<unsigned>(options.listen_port));
    std::fflush(stdout);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const beast::error_code&, int) { io.stop(); });
    asio::co_spawn(io, accept_loop(acceptor, sim), asio::detached);
    asio::posix::stream_descriptor input(io);
    char scratch[256];
    std::function<void(const beast::error_code&, std::size_t)> on_input;
    if (exit_on_stdin_eof) {
      input.assign(::dup(0));
      on_input = [&](const beast::error_code& ec, std::size_t) {
        if (ec) {
          io.stop();
          return;
        }
        input.async_read_some(asio::buffer(scratch), on_input);
      };
      input.async_read_some(asio::buffer(scratch), on_input);
    }
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "graphsim: %s\n", e.what());
    return 1;
  }
  return 0;
}
