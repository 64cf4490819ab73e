#include "proxy/enrol_service.hpp"

#include "proxy/logging.hpp"
#include "proxy/login_broker.hpp"
#include "proxy/redact.hpp"
#include "proxy/stream.hpp"

#include <boost/asio/co_spawn.hpp>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <exception>

namespace icalgate::proxy {

namespace asio = boost::asio;
using calendar::DeviceCodeStatus;
using Clock = EnrolRegistry::Clock;

namespace {

constexpr auto slow_down_step = std::chrono::seconds(5); // RFC 8628 §3.5

std::string_view failure_name(EnrolFailure why) {
  switch (why) {
  case EnrolFailure::none:
    return "none";
  case EnrolFailure::unavailable:
    return "unavailable";
  case EnrolFailure::declined:
    return "declined";
  case EnrolFailure::expired:
    return "expired";
  case EnrolFailure::mismatch:
    return "mismatch";
  case EnrolFailure::no_refresh_token:
    return "no_refresh_token";
  case EnrolFailure::store:
    return "store";
  case EnrolFailure::stopped:
    return "stopped";
  }
  return "unknown";
}

std::optional<std::string> random_id() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return std::nullopt;
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  for (const unsigned char b : bytes) {
    id += hex[b >> 4];
    id += hex[b & 15];
  }
  return id;
}

// Registers a wait's timer with the service while the wait lasts.
class RegisteredTimer {
 public:
  RegisteredTimer(std::set<asio::steady_timer*>& timers, asio::steady_timer& timer)
      : timers_(timers), timer_(&timer) {
    timers_.insert(timer_);
  }
  ~RegisteredTimer() { timers_.erase(timer_); }
  RegisteredTimer(const RegisteredTimer&) = delete;
  RegisteredTimer& operator=(const RegisteredTimer&) = delete;

 private:
  std::set<asio::steady_timer*>& timers_;
  asio::steady_timer* timer_;
};

void wipe(std::string& secret) {
  OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

} // namespace

EnrolService::EnrolService(asio::any_io_executor ex, LoginBroker& broker, EnrolLimits limits)
    : executor_(std::move(ex)), broker_(broker), registry_(limits) {}

EnrolDesk::Started EnrolService::start(std::string_view upn) {
  Started started;
  auto id = stopped_ ? std::nullopt : random_id();
  if (!id) {
    started.refusal = EnrolRegistry::Refusal::busy;
    return started;
  }
  started.refusal = registry_.start(*id, upn, Clock::now());
  if (started.refusal != EnrolRegistry::Refusal::none) {
    return started;
  }
  started.id = *id;
  log_event(LogLevel::info, "enrol_started", {field("user", sanitize_for_log(upn, 128))});
  asio::co_spawn(executor_, run(shared_from_this(), std::move(*id), std::string(upn)),
                 [](const std::exception_ptr& e) {
                   if (e) {
                     log_event(LogLevel::error, "internal_error",
                               {field("where", std::string("enrol"))});
                   }
                 });
  return started;
}

std::optional<EnrolView> EnrolService::status(std::string_view id, bool consume) {
  return registry_.view(id, Clock::now(), consume);
}

void EnrolService::stop() {
  stopped_ = true;
  for (asio::steady_timer* timer : timers_) {
    timer->cancel();
  }
}

void EnrolService::fail(const std::string& id, const std::string& upn, EnrolFailure why,
                        std::string signed_in_as) {
  if (signed_in_as.empty()) {
    log_event(LogLevel::info, "enrol_finished",
              {field("user", sanitize_for_log(upn, 128)),
               field("outcome", std::string(failure_name(why)))});
  } else {
    log_event(LogLevel::info, "enrol_finished",
              {field("user", sanitize_for_log(upn, 128)),
               field("outcome", std::string(failure_name(why))),
               field("signed_in", sanitize_for_log(signed_in_as, 128))});
  }
  registry_.failed(id, why, std::move(signed_in_as), Clock::now());
}

asio::awaitable<calendar::GraphResult<calendar::DeviceCodePoll>>
EnrolService::wait_for_sign_in(const calendar::DeviceCodeGrant& grant) {
  asio::steady_timer timer(executor_);
  const RegisteredTimer registered(timers_, timer);
  auto interval = std::max(grant.interval, std::chrono::seconds(1));
  while (!stopped_ && Clock::now() + interval < grant.expires_at) {
    timer.expires_after(interval);
    co_await timer.async_wait(use_tuple);
    if (stopped_) {
      break;
    }
    auto poll = co_await broker_.identity().poll_device_code(grant.device_code);
    if (!poll || (poll->status != DeviceCodeStatus::pending &&
                  poll->status != DeviceCodeStatus::slow_down)) {
      co_return poll;
    }
    if (poll->status == DeviceCodeStatus::slow_down) {
      interval += slow_down_step;
    }
  }
  co_return calendar::DeviceCodePoll{DeviceCodeStatus::expired, {}};
}

asio::awaitable<void> EnrolService::run(std::shared_ptr<EnrolService> self, std::string id,
                                        std::string upn) {
  EnrolService& s = *self;
  auto grant = co_await s.broker_.identity().start_device_code(calendar::imap_delegated_scope);
  if (!grant) {
    log_event(LogLevel::warn, "enrol_identity_error",
              {field("error", std::string(calendar::graph_errc_name(grant.error().code)))});
    s.fail(id, upn, EnrolFailure::unavailable);
    co_return;
  }
  if (grant->expires_at == Clock::time_point{}) {
    grant->expires_at = Clock::now() + grant->expires_in;
  }
  if (!s.registry_.code_issued(id, grant->user_code, grant->verification_uri, grant->message,
                               grant->expires_at, Clock::now())) {
    wipe(grant->device_code);
    co_return;
  }
  auto poll = co_await s.wait_for_sign_in(*grant);
  wipe(grant->device_code);
  if (s.stopped_) {
    s.fail(id, upn, EnrolFailure::stopped);
    co_return;
  }
  if (!poll) {
    log_event(LogLevel::warn, "enrol_identity_error",
              {field("error", std::string(calendar::graph_errc_name(poll.error().code)))});
    s.fail(id, upn, EnrolFailure::unavailable);
    co_return;
  }
  switch (poll->status) {
  case DeviceCodeStatus::granted:
    break;
  case DeviceCodeStatus::declined:
    s.fail(id, upn, EnrolFailure::declined);
    co_return;
  default:
    s.fail(id, upn, EnrolFailure::expired);
    co_return;
  }
  auto& tokens = poll->tokens;
  wipe(tokens.access_token);
  // Strict where the command line trusts the admin: a sign-in that does not name the
  // address entered would let anyone enrol any address with their own account.
  if (tokens.upn.empty() || normalize_upn(tokens.upn) != normalize_upn(upn)) {
    wipe(tokens.refresh_token);
    s.fail(id, upn, EnrolFailure::mismatch, tokens.upn.substr(0, AuthStore::max_upn_bytes));
    co_return;
  }
  if (tokens.refresh_token.empty()) {
    s.fail(id, upn, EnrolFailure::no_refresh_token);
    co_return;
  }
  if (s.stopped_ || !s.registry_.waiting(id, Clock::now())) {
    // Nobody could be shown the password: keep what the user has.
    wipe(tokens.refresh_token);
    co_return;
  }
  auto password = co_await s.broker_.enrol(upn, std::move(tokens.refresh_token));
  wipe(tokens.refresh_token);
  if (!password) {
    log_event(LogLevel::warn, "auth_store_error",
              {field("error", sanitize_for_log(password.error().message))});
    s.fail(id, upn, EnrolFailure::store);
    co_return;
  }
  s.registry_.issued(id, std::move(password).value(), Clock::now());
  log_event(LogLevel::info, "enrol_finished",
            {field("user", sanitize_for_log(upn, 128)), field("outcome", std::string("issued"))});
}

} // namespace icalgate::proxy
