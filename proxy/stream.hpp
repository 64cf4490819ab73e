#pragma once
// The byte streams of a session: a TCP socket that is or becomes TLS (client side: implicit
// TLS or STARTTLS; upstream side: always TLS once connected), a framed reader over it that
// coalesces what is already available into large chunks, and a deadline that a watchdog
// coroutine enforces. Errors are values: every await yields an error_code.

#include "protocol/framer.hpp"
#include "proxy/tls_context.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace icalgate::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using IoResult = std::tuple<error_code, std::size_t>;
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// TLS directly on the socket (OpenSSL socket BIO, non-blocking, readiness waits through
// asio) rather than asio::ssl::stream: asio's stream keeps four 17 KB buffers per connection
// for its BIO pair even while idle, whereas OpenSSL with SSL_MODE_RELEASE_BUFFERS holds
// buffers only while data flows. One reader and one writer may use a Stream at the same
// time (single-threaded io_context); cancelling a read or write leaves the TLS state
// consistent (a pending operation is simply retried or abandoned).
class Stream {
 public:
  Stream(tcp::socket socket, SslContextPtr context);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  SSL* ssl() { return ssl_; }
  tcp::socket& socket() { return socket_; }
  bool tls_active() const { return tls_active_; }

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer);
  // Writes everything (or fails).
  asio::awaitable<IoResult> write(asio::const_buffer buffer);
  asio::awaitable<IoResult> write(std::string_view text) {
    return write(asio::const_buffer(text.data(), text.size()));
  }
  // On success the stream is TLS from then on.
  asio::awaitable<error_code> handshake(asio::ssl::stream_base::handshake_type type);
  // Whether a read would complete without waiting for the network.
  bool input_ready();
  // Sends close_notify if possible (without waiting for the peer's), then closes.
  void shutdown();
  void close();

 private:
  // Waits until the socket is ready for what OpenSSL asked for (SSL_ERROR_WANT_*).
  asio::awaitable<error_code> wait_for(int ssl_error);
  error_code ssl_failure(int ssl_error);

  SslContextPtr context_; // keeps this session's server context alive across reloads
  tcp::socket socket_;
  SSL* ssl_ = nullptr;
  bool tls_active_ = false;
};

// Frames from one stream. Pull frames with poll(); when it says the chunk is used up, call
// fill() to read the next one (a read that gathers whatever is already available, up to the
// buffer size). next() combines both for code that handles one frame at a time.
class FrameReader {
 public:
  FrameReader(Stream& stream, protocol::Direction direction, protocol::FramerOptions options,
              std::size_t buffer_size = 32 * 1024);

  // Bytes that were read from the stream before this reader took it over.
  void preload(std::string bytes);
  asio::awaitable<bool> fill(); // false on EOF or error (see error())
  std::optional<protocol::Frame> poll() { return framer_.next(); }
  asio::awaitable<std::optional<protocol::Frame>> next();

  protocol::Framer& framer() { return framer_; }
  const error_code& error() const { return error_; }
  std::uint64_t bytes_read() const { return bytes_read_; }

 private:
  Stream& stream_;
  protocol::Framer framer_;
  static constexpr std::size_t idle_buffer_size = 512;
  std::size_t buffer_size_;
  std::vector<char> buffer_;
  std::string preloaded_;
  error_code error_;
  std::uint64_t bytes_read_ = 0;
};

// A deadline for a phase of a session, enforced by watch(): it returns when the deadline
// passes (or is moved to now with expire_now()), and the `||` around it cancels the phase.
class Deadline {
 public:
  explicit Deadline(const asio::any_io_executor& executor) : timer_(executor) {}
  void expires_after(std::chrono::steady_clock::duration d) {
    at_ = std::chrono::steady_clock::now() + d;
    if (at_ < timer_.expiry()) {
      timer_.cancel(); // the watchdog waits for a later time: make it look again
    }
  }
  void expire_now();
  bool expired() const { return std::chrono::steady_clock::now() >= at_; }
  asio::awaitable<void> watch();

 private:
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point at_ = std::chrono::steady_clock::time_point::max();
};

} // namespace icalgate::proxy
