#pragma once
// The byte streams of a session: a TCP socket that is or becomes TLS (client side: implicit
// TLS or STARTTLS; upstream side: always TLS once connected), a framed reader over it that
// coalesces what is already available into large chunks, and a deadline that a watchdog
// coroutine enforces. Errors are values: every await yields an error_code.

#include "protocol/framer.hpp"
#include "proxy/compression.hpp"
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
#include <functional>
#include <memory>
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

  // Not on a compressed stream (only the upstream side uses it).
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer);
  // Reads what is available without waiting: n > 0, or asio::error::would_block (then
  // wait_input() before trying again), or the stream's end or failure. With TLS this reads
  // until OpenSSL needs the network (read-ahead: it takes whole socket buffers at a time and
  // keeps what it could not return yet), so no separate "is there more" probe is needed.
  IoResult read_available(asio::mutable_buffer buffer);
  // Waits until read_available() can make progress. An asio operation rather than a
  // coroutine: an idle session suspends here without another coroutine frame.
  auto wait_input() {
    return socket_.async_wait(read_wants_write_ ? tcp::socket::wait_write : tcp::socket::wait_read,
                              use_tuple);
  }
  // Writes everything (or fails).
  asio::awaitable<IoResult> write(asio::const_buffer buffer);
  asio::awaitable<IoResult> write(std::string_view text) {
    return write(asio::const_buffer(text.data(), text.size()));
  }
  // From now on everything read and written is deflated (COMPRESS=DEFLATE, RFC 4978). Only
  // at a point where nothing read from the stream is left unparsed.
  void start_compression();
  bool compressing() const { return compression_ != nullptr; }
  // Bytes written to the connection (after compression, before TLS).
  std::uint64_t wire_bytes_out() const { return wire_bytes_out_; }
  // Called while the stream waits for input: frees what compression holds between bursts.
  void release_idle();

  // On success the stream is TLS from then on.
  asio::awaitable<error_code> handshake(asio::ssl::stream_base::handshake_type type);
  // Sends close_notify if possible (without waiting for the peer's), then closes.
  void shutdown();
  // Sends close_notify if possible and a FIN, then reads and drops what the peer still sends
  // (at most `max_bytes`) until it closes: closing with unread input would reset the
  // connection, and a reset destroys what the peer has not read yet, such as a final BYE.
  // The caller bounds the time it takes, then closes.
  asio::awaitable<void> shutdown_and_drain(std::size_t max_bytes);
  void close();

 private:
  void send_close_notify();
  // Waits until the socket is ready for what OpenSSL asked for (SSL_ERROR_WANT_*).
  asio::awaitable<error_code> wait_for(int ssl_error);
  // read_available() and write() below compression.
  IoResult read_available_raw(asio::mutable_buffer buffer);
  asio::awaitable<IoResult> write_raw(asio::const_buffer buffer);
  asio::awaitable<IoResult> write_compressed(asio::const_buffer buffer);
  IoResult read_decompressed(asio::mutable_buffer buffer);
  error_code ssl_failure(int ssl_error);

  SslContextPtr context_; // keeps this session's server context alive across reloads
  tcp::socket socket_;
  SSL* ssl_ = nullptr;
  bool tls_active_ = false;
  bool read_wants_write_ = false; // TLS asked to write during a read (renegotiation)
  std::unique_ptr<Compression> compression_;
  std::string compressed_in_;       // read, not yet decompressed
  std::size_t compressed_used_ = 0; // ... of which this much is
  std::uint64_t wire_bytes_out_ = 0;
};

// What a client is told (after BAD) when the framer rejects its command.
std::string_view framing_rejection(protocol::Errc code);

// Frames from one stream. Pull frames with poll(); when it says the chunk is used up, call
// fill() to read the next one (reads that gather whatever is already available, up to the
// buffer size, waiting only when nothing is). next() combines both for code that handles one
// frame at a time.
class FrameReader {
 public:
  FrameReader(Stream& stream, protocol::Direction direction, protocol::FramerOptions options,
              std::size_t buffer_size = 32 * 1024);

  // Bytes that were read from the stream before this reader took it over.
  void preload(std::string bytes);
  // false on EOF or error (see error()). While it waits for the network the reader holds no
  // buffer, and neither does `release_while_waiting` (the caller's output buffer), so that
  // thousands of idle sessions stay cheap.
  asio::awaitable<bool> fill(std::string* release_while_waiting = nullptr);

  // fill() in two steps, for a caller that waits itself: a suspended fill() is one more
  // coroutine frame per idle session. fill_now() frames what is available without waiting;
  // on `wait` nothing was, and neither the reader nor `release_while_waiting` holds a buffer:
  // co_await wait_input(), pass its outcome to waited(), and call fill_now() again.
  enum class Fill { ready, wait, failed };
  Fill fill_now(std::string* release_while_waiting = nullptr);
  auto wait_input() { return stream_.wait_input(); }
  // false (and error() set) if the wait failed or was cancelled.
  bool waited(const error_code& ec);
  std::optional<protocol::Frame> poll() { return framer_.next(); }
  asio::awaitable<std::optional<protocol::Frame>> next();

  protocol::Framer& framer() { return framer_; }
  const error_code& error() const { return error_; }
  std::uint64_t bytes_read() const { return bytes_read_; }

 private:
  Stream& stream_;
  protocol::Framer framer_;
  std::size_t buffer_size_;
  static constexpr std::size_t first_read_size = 4096;
  std::unique_ptr<char[]> buffer_; // only while data flows; not zero-filled per chunk
  std::size_t capacity_ = 0;
  std::string preloaded_;
  error_code error_;
  error_code deferred_; // an error after some data: reported by the next fill()
  std::uint64_t bytes_read_ = 0;
};

// A deadline for a phase of a session. Two ways to enforce it: watch() returns when the
// deadline passes (or is moved to now with expire_now()), and a `||` around it cancels the
// phase; or arm() runs a callback from a plain timer handler when it passes, which costs no
// coroutine while the session waits (the relay's idle phase, where memory per session counts).
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
  // Calls on_expiry once, when the deadline passes; fired() tells afterwards.
  void arm(std::function<void()> on_expiry);
  void disarm();
  bool fired() const { return fired_; }

 private:
  void wait_armed();

  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point at_ = std::chrono::steady_clock::time_point::max();
  std::function<void()> on_expiry_;
  bool fired_ = false;
  std::uint64_t generation_ = 0; // handlers of an earlier arm() do nothing
  // Timer handlers may run after this object is gone (a cancelled wait still completes):
  // they hold a weak reference to this token and do nothing once it has expired.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

} // namespace icalgate::proxy
