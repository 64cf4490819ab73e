#include "proxy/stream.hpp"

#include <boost/asio/this_coro.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <new>

namespace icalgate::proxy {

Stream::Stream(tcp::socket socket, SslContextPtr context)
    : context_(std::move(context)), socket_(std::move(socket)),
      ssl_(SSL_new(context_->native_handle())) {
  if (ssl_ == nullptr) {
    throw std::bad_alloc();
  }
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

Stream::~Stream() {
  SSL_free(ssl_);
}

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
    ERR_clear_error();
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

asio::awaitable<IoResult> Stream::write(asio::const_buffer buffer) {
  if (!tls_active_) {
    co_return co_await asio::async_write(socket_, buffer, use_tuple);
  }
  const auto* data = static_cast<const char*>(buffer.data());
  std::size_t written = 0;
  while (written < buffer.size()) {
    const int chunk = static_cast<int>(std::min<std::size_t>(buffer.size() - written, 1U << 30U));
    ERR_clear_error();
    errno = 0;
    const int n = SSL_write(ssl_, data + written, chunk);
    if (n > 0) {
      written += static_cast<std::size_t>(n);
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
    ERR_clear_error();
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

bool Stream::input_ready() {
  if (tls_active_ && (SSL_pending(ssl_) > 0 || SSL_has_pending(ssl_) == 1)) {
    return true;
  }
  error_code ec;
  return socket_.is_open() && socket_.available(ec) > 0 && !ec;
}

void Stream::shutdown() {
  if (tls_active_ && socket_.is_open()) {
    // One non-blocking attempt: close_notify goes out if the socket takes it.
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  close();
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

asio::awaitable<bool> FrameReader::fill() {
  // Only called once the framer is done with the previous chunk: the buffer may move.
  if (!preloaded_.empty()) {
    const std::size_t n = std::min(preloaded_.size(), buffer_size_);
    buffer_.assign(preloaded_.begin(), preloaded_.begin() + static_cast<std::ptrdiff_t>(n));
    preloaded_.erase(0, n);
    framer_.feed(std::string_view(buffer_.data(), n));
    co_return true;
  }
  // An idle session waits with a small buffer (thousands of IDLE sessions stay cheap); once
  // data flows, the rest is gathered into one large chunk: one parse pass and one large
  // write per chunk instead of one per TLS record, but never waiting for more than the
  // first read.
  const bool flowing = stream_.input_ready();
  buffer_.resize(flowing ? buffer_size_ : idle_buffer_size);
  if (!flowing) {
    buffer_.shrink_to_fit();
  }
  constexpr std::size_t coalesce_target = 16 * 1024;
  std::size_t filled = 0;
  do {
    if (filled == buffer_.size()) {
      buffer_.resize(buffer_size_);
    }
    auto [ec, n] =
        co_await stream_.read_some(asio::buffer(buffer_.data() + filled, buffer_.size() - filled));
    filled += n;
    if (ec) {
      if (filled > 0) {
        break; // deliver what came; the error shows at the next fill()
      }
      error_ = ec;
      co_return false;
    }
  } while (filled < coalesce_target && filled < buffer_size_ && stream_.input_ready());
  bytes_read_ += filled;
  framer_.feed(std::string_view(buffer_.data(), filled));
  co_return true;
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

} // namespace icalgate::proxy
