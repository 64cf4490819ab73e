#include "calendar/async_semaphore.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace icalgate::calendar {

SemaphorePermit& SemaphorePermit::operator=(SemaphorePermit&& other) noexcept {
  if (this != &other) {
    if (owner_ != nullptr) {
      owner_->release();
    }
    owner_ = std::exchange(other.owner_, nullptr);
  }
  return *this;
}

SemaphorePermit::~SemaphorePermit() {
  if (owner_ != nullptr) {
    owner_->release();
  }
}

AsyncSemaphore::AsyncSemaphore(const boost::asio::any_io_executor& executor, std::size_t permits)
    : available_(permits), signal_(executor, boost::asio::steady_timer::time_point::max()) {}

boost::asio::awaitable<SemaphorePermit> AsyncSemaphore::acquire() {
  while (available_ == 0) {
    ++waiting_;
    co_await signal_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    --waiting_;
  }
  --available_;
  co_return SemaphorePermit(this);
}

void AsyncSemaphore::release() {
  ++available_;
  signal_.cancel_one();
}

} // namespace icalgate::calendar
