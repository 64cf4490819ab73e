#pragma once
// A counting semaphore for coroutines on one strand or single-threaded
// io_context: waiters park on a timer that never expires and release() wakes
// one of them by cancelling its wait.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstddef>
#include <utility>

namespace icalgate::calendar {

class AsyncSemaphore;

// Gives its permit back when destroyed.
class SemaphorePermit {
 public:
  SemaphorePermit() = default;
  explicit SemaphorePermit(AsyncSemaphore* owner) : owner_(owner) {}
  SemaphorePermit(SemaphorePermit&& other) noexcept
      : owner_(std::exchange(other.owner_, nullptr)) {}
  SemaphorePermit& operator=(SemaphorePermit&& other) noexcept;
  SemaphorePermit(const SemaphorePermit&) = delete;
  SemaphorePermit& operator=(const SemaphorePermit&) = delete;
  ~SemaphorePermit();

 private:
  AsyncSemaphore* owner_ = nullptr;
};

class AsyncSemaphore {
 public:
  AsyncSemaphore(const boost::asio::any_io_executor& executor, std::size_t permits);

  boost::asio::awaitable<SemaphorePermit> acquire();
  void release();

  std::size_t available() const { return available_; }
  std::size_t waiting() const { return waiting_; }

 private:
  std::size_t available_;
  std::size_t waiting_ = 0;
  boost::asio::steady_timer signal_;
};

} // namespace icalgate::calendar
