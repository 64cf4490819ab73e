#include "proxy/stream.hpp"

#include <boost/asio/this_coro.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <new>

namespace icalgate::proxy {

Stream::Stream(tcp::socket socket, SslContextPtr context)
    : context_(std::move(context)), socket_(std::move(socket)),
      ssl_(SSL_new(context_->native_handle())) {
  if (ssl_ == nullptr) {
    throw std::bad_alloc();
  }
  // AUTO_RETRY: SSL_read only says WANT_READ once the socket is drained, never after a
  // post-handshake message (TLS 1.3 tickets) while data may still be buffered.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                         SSL_MODE_AUTO_RETRY);
  // Read-ahead: one read() takes all that the socket holds (several TLS records) instead of
  // two read()s per record (header, then body). Safe because every later read of this
  // socket goes through SSL_read: OpenSSL's buffer is consulted before the network.
  SSL_set_read_ahead(ssl_, 1);
}

Stream::~Stream() {
  SSL_free(ssl_);
}

namespace {

// SSL_get_error() needs an empty error queue before each call into OpenSSL. Failures empty
// it again (ssl_failure()), so it is normally empty already; ERR_clear_error() itself walks
// the whole queue, once per TLS read or write, where a peek suffices.
void ensure_clear_errors() {
  if (ERR_peek_error() != 0) {
    ERR_clear_error();
  }
}

} // namespace

error_code Stream::ssl_failure(int ssl_error) {
  const unsigned long err = ERR_get_error();
  ERR_clear_error();
  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    return asio::error::eof;
  }
  if (err == 0) {
    // SSL_ERROR_SYSCALL: the peer closed or reset without close_notify.
    return errno != 0 && ssl_error == SSL_ERROR_SYSCALL
               ? error_code(errno, boost::system::system_category())
               : error_code(asio::error::eof);
  }
  return {static_cast<int>(err), asio::error::get_ssl_category()};
}

asio::awaitable<error_code> Stream::wait_for(int ssl_error) {
  const auto what =
      ssl_error == SSL_ERROR_WANT_WRITE ? tcp::socket::wait_write : tcp::socket::wait_read;
  auto [ec] = co_await socket_.async_wait(what, use_tuple);
  co_return ec;
}

asio::awaitable<IoResult> Stream::read_some(asio::mutable_buffer buffer) {
  if (!tls_active_) {
    co_return co_await socket_.async_read_some(buffer, use_tuple);
  }
  const int size = static_cast<int>(std::min<std::size_t>(buffer.size(), 1U << 30U));
  while (true) {
    ensure_clear_errors();
    errno = 0;
    const int n = SSL_read(ssl_, buffer.data(), size);
    if (n > 0) {
      co_return IoResult{error_code(), static_cast<std::size_t>(n)};
    }
    const int err = SSL_get_error(ssl_, n);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      co_return IoResult{ssl_failure(err), 0};
    }
    if (auto ec = co_await wait_for(err)) {
      co_return IoResult{ec, 0};
    }
  }
}

void Stream::start_compression() {
  compression_ = std::make_unique<Compression>();
}

void Stream::release_idle() {
  if (compression_ && compressed_in_.empty() && !compression_->pending_output()) {
    compression_->release();
    std::string().swap(compressed_in_);
  }
}

asio::awaitable<IoResult> Stream::write(asio::const_buffer buffer) {
  // Not a coroutine itself: an uncompressed write costs no second coroutine frame.
  return compression_ ? write_compressed(buffer) : write_raw(buffer);
}

asio::awaitable<IoResult> Stream::write_compressed(asio::const_buffer buffer) {
  std::string packed;
  if (!compression_->compress(
          std::string_view(static_cast<const char*>(buffer.data()), buffer.size()), packed)) {
    co_return IoResult{make_error_code(boost::system::errc::not_enough_memory), 0};
  }
  auto [ec, n] = co_await write_raw(asio::const_buffer(packed.data(), packed.size()));
  co_return IoResult{ec, ec ? 0 : buffer.size()};
}

asio::awaitable<IoResult> Stream::write_raw(asio::const_buffer buffer) {
  if (!tls_active_) {
    auto [ec, n] = co_await asio::async_write(socket_, buffer, use_tuple);
    wire_bytes_out_ += n;
    co_return IoResult{ec, n};
  }
  const auto* data = static_cast<const char*>(buffer.data());
  std::size_t written = 0;
  while (written < buffer.size()) {
    const int chunk = static_cast<int>(std::min<std::size_t>(buffer.size() - written, 1U << 30U));
    ensure_clear_errors();
    errno = 0;
    const int n = SSL_write(ssl_, data + written, chunk);
    if (n > 0) {
      written += static_cast<std::size_t>(n);
      wire_bytes_out_ += static_cast<std::size_t>(n);
      continue;
    }
    const int err = SSL_get_error(ssl_, n);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      co_return IoResult{ssl_failure(err), written};
    }
    if (auto ec = co_await wait_for(err)) {
      co_return IoResult{ec, written};
    }
  }
  co_return IoResult{error_code(), written};
}

asio::awaitable<error_code> Stream::handshake(asio::ssl::stream_base::handshake_type type) {
  error_code ec;
  socket_.non_blocking(true, ec);
  if (ec) {
    co_return ec;
  }
  if (SSL_set_fd(ssl_, socket_.native_handle()) != 1) {
    co_return ssl_failure(SSL_ERROR_SSL);
  }
  if (type == asio::ssl::stream_base::server) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
  }
  while (true) {
    ensure_clear_errors();
    errno = 0;
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      tls_active_ = true;
      co_return error_code();
    }
    const int err = SSL_get_error(ssl_, r);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      co_return ssl_failure(err);
    }
    if (auto wait_ec = co_await wait_for(err)) {
      co_return wait_ec;
    }
  }
}

IoResult Stream::read_available(asio::mutable_buffer buffer) {
  return compression_ ? read_decompressed(buffer) : read_available_raw(buffer);
}

IoResult Stream::read_decompressed(asio::mutable_buffer buffer) {
  while (true) {
    const std::string_view in = std::string_view(compressed_in_).substr(compressed_used_);
    if (!in.empty() || compression_->pending_output()) {
      std::size_t consumed = 0;
      std::size_t produced = 0;
      if (!compression_->decompress(in, consumed, static_cast<char*>(buffer.data()), buffer.size(),
                                    produced)) {
        return {make_error_code(boost::system::errc::protocol_error), 0};
      }
      compressed_used_ += consumed;
      if (compressed_used_ == compressed_in_.size()) {
        compressed_in_.clear();
        compressed_used_ = 0;
      }
      if (produced > 0) {
        return {error_code(), produced};
      }
      if (consumed > 0 && compressed_used_ != 0) {
        continue; // a flush marker decoded to nothing; the rest may decode
      }
    }
    // zlib holds what it could not decode yet: more input is needed.
    std::array<char, 16 * 1024> raw; // filled by the read: not zeroed first
    auto [ec, n] = read_available_raw(asio::buffer(raw));
    if (ec) {
      return {ec, 0};
    }
    if (compressed_used_ != 0) {
      compressed_in_.erase(0, compressed_used_);
      compressed_used_ = 0;
    }
    compressed_in_.append(raw.data(), n);
  }
}

IoResult Stream::read_available_raw(asio::mutable_buffer buffer) {
  if (!tls_active_) {
    error_code ec;
    if (!socket_.non_blocking()) {
      socket_.non_blocking(true, ec);
      if (ec) {
        return {ec, 0};
      }
    }
    const std::size_t n = socket_.read_some(buffer, ec);
    return {ec, n};
  }
  ensure_clear_errors();
  errno = 0;
  const int n = SSL_read(ssl_, buffer.data(),
                         static_cast<int>(std::min<std::size_t>(buffer.size(), 1U << 30U)));
  if (n > 0) {
    return {error_code(), static_cast<std::size_t>(n)};
  }
  const int err = SSL_get_error(ssl_, n);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    read_wants_write_ = err == SSL_ERROR_WANT_WRITE;
    return {asio::error::would_block, 0};
  }
  return {ssl_failure(err), 0};
}

void Stream::send_close_notify() {
  if (tls_active_ && socket_.is_open()) {
    // One non-blocking attempt: close_notify goes out if the socket takes it.
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
}

void Stream::shutdown() {
  send_close_notify();
  close();
}

asio::awaitable<void> Stream::shutdown_and_drain(std::size_t max_bytes) {
  if (!socket_.is_open()) {
    co_return;
  }
  send_close_notify();
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  std::array<char, 4096> scratch;
  std::size_t total = 0;
  while (!ec && total < max_bytes) {
    auto [read_ec, n] = co_await socket_.async_read_some(asio::buffer(scratch), use_tuple);
    ec = read_ec;
    total += n;
  }
}

void Stream::close() {
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

FrameReader::FrameReader(Stream& stream, protocol::Direction direction,
                         protocol::FramerOptions options, std::size_t buffer_size)
    : stream_(stream), framer_(direction, options), buffer_size_(buffer_size) {}

void FrameReader::preload(std::string bytes) {
  preloaded_ = std::move(bytes);
}

asio::awaitable<bool> FrameReader::fill(std::string* release_while_waiting) {
  while (true) {
    switch (fill_now(release_while_waiting)) {
    case Fill::ready:
      co_return true;
    case Fill::failed:
      co_return false;
    case Fill::wait:
      break;
    }
    auto [ec] = co_await stream_.wait_input();
    if (!waited(ec)) {
      co_return false;
    }
  }
}

bool FrameReader::waited(const error_code& ec) {
  if (ec) {
    error_ = ec;
    return false;
  }
  return true;
}

FrameReader::Fill FrameReader::fill_now(std::string* release_while_waiting) {
  // Only called once the framer is done with the previous chunk: the buffer may go.
  if (!preloaded_.empty()) {
    const std::size_t n = std::min(preloaded_.size(), buffer_size_);
    if (capacity_ < n) {
      buffer_ = std::make_unique_for_overwrite<char[]>(n);
      capacity_ = n;
    }
    std::copy_n(preloaded_.data(), n, buffer_.get());
    preloaded_.erase(0, n);
    framer_.feed(std::string_view(buffer_.get(), n));
    return Fill::ready;
  }
  if (deferred_) {
    error_ = deferred_;
    return Fill::failed;
  }
  // Gather what is available into one chunk (one parse pass and one large write per chunk
  // instead of one per TLS record), but never wait once something came.
  constexpr std::size_t coalesce_target = 16 * 1024;
  std::size_t filled = 0;
  while (filled < coalesce_target && filled < buffer_size_) {
    if (!buffer_) {
      // Small first: most reads are a command or a short answer, and a large transient
      // buffer per session only fragments the heap that idle sessions live in.
      capacity_ = std::min(first_read_size, buffer_size_);
      buffer_ = std::make_unique_for_overwrite<char[]>(capacity_);
    } else if (filled == capacity_) {
      auto larger = std::make_unique_for_overwrite<char[]>(buffer_size_);
      std::copy_n(buffer_.get(), filled, larger.get());
      buffer_ = std::move(larger);
      capacity_ = buffer_size_;
    }
    auto [ec, n] = stream_.read_available(asio::buffer(buffer_.get() + filled, capacity_ - filled));
    filled += n;
    if (!ec) {
      continue;
    }
    if (ec == asio::error::would_block) {
      if (filled > 0) {
        break;
      }
      buffer_.reset();
      capacity_ = 0;
      stream_.release_idle();
      if (release_while_waiting != nullptr) {
        std::string().swap(*release_while_waiting);
      }
      return Fill::wait;
    }
    if (filled > 0) {
      deferred_ = ec; // deliver what came first
      break;
    }
    error_ = ec;
    return Fill::failed;
  }
  bytes_read_ += filled;
  framer_.feed(std::string_view(buffer_.get(), filled));
  return Fill::ready;
}

asio::awaitable<std::optional<protocol::Frame>> FrameReader::next() {
  while (true) {
    if (auto frame = framer_.next()) {
      co_return frame;
    }
    if (!co_await fill()) {
      co_return std::nullopt;
    }
  }
}

void Deadline::expire_now() {
  at_ = std::chrono::steady_clock::now();
  timer_.cancel();
}

void Deadline::arm(std::function<void()> on_expiry) {
  on_expiry_ = std::move(on_expiry);
  fired_ = false;
  ++generation_;
  wait_armed();
}

void Deadline::disarm() {
  on_expiry_ = nullptr;
  ++generation_;
  timer_.cancel();
}

void Deadline::wait_armed() {
  timer_.expires_at(at_);
  timer_.async_wait(
      [this, alive = std::weak_ptr<int>(alive_), generation = generation_](const error_code&) {
        if (alive.expired() || generation != generation_ || !on_expiry_) {
          return; // gone, disarmed or re-armed
        }
        if (std::chrono::steady_clock::now() < at_) {
          wait_armed(); // moved later (or cancelled to look again at an earlier time)
          return;
        }
        fired_ = true;
        auto callback = std::move(on_expiry_);
        on_expiry_ = nullptr;
        callback();
      });
}

asio::awaitable<void> Deadline::watch() {
  while (std::chrono::steady_clock::now() < at_) {
    timer_.expires_at(at_);
    co_await timer_.async_wait(use_tuple);
    const auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) {
      co_return;
    }
  }
}

std::string_view framing_rejection(protocol::Errc code) {
  switch (code) {
  case protocol::Errc::line_too_long:
    return "Command line too long";
  case protocol::Errc::literal_too_large:
    return "Literal too large";
  default:
    // The framer's only syntax error is a NUL byte in a line.
    return "Invalid characters in command";
  }
}

} // namespace icalgate::proxy
