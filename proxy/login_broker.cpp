#include "proxy/login_broker.hpp"

#include "proxy/logging.hpp"
#include "proxy/redact.hpp"
#include "proxy/stream.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/crypto.h>

namespace icalgate::proxy {

namespace asio = boost::asio;
using protocol::Errc;
using protocol::make_error;

namespace {

// A delegated access token is used while it has at least this long to live.
constexpr auto min_token_life = std::chrono::minutes(2);

// Runs `f` (blocking: Argon2id, SQLite) on the pool and resumes on the caller's executor.
// The coroutine waits, suspended, until `f` is done, so `f` may refer to its locals. (No
// coroutine lambda here: GCC 12 miscompiles their captures.)
template <class F>
asio::awaitable<std::invoke_result_t<F>> on_pool(asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F>;
  std::optional<R> out;
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [&pool, &f, &out](auto handler) {
        asio::post(pool, [&f, &out, handler = std::move(handler)]() mutable {
          out.emplace(f());
          auto ex = asio::get_associated_executor(handler);
          asio::post(ex, std::move(handler));
        });
      },
      asio::use_awaitable);
  co_return std::move(*out);
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

} // namespace

calendar::IdentityConfig identity_config(const AuthConfig& auth) {
  calendar::IdentityConfig config;
  config.tenant = auth.tenant;
  config.client_id = auth.client_id;
  config.client_secret_file = auth.client_secret_file;
  config.certificate_file = auth.certificate_file;
  config.private_key_file = auth.private_key_file;
  config.authority = auth.authority;
  return config;
}

protocol::Result<std::unique_ptr<LoginBroker>> LoginBroker::create(const asio::any_io_executor& ex,
                                                                   const Config& config) {
  if (!config.auth.uses(AuthMode::delegated) && !config.auth.uses(AuthMode::app)) {
    return std::unique_ptr<LoginBroker>();
  }
  auto store = AuthStore::open(config.auth.store);
  if (!store) {
    return make_error(store.error().code, "[auth] store: " + store.error().message);
  }
  auto identity = calendar::IdentityClient::create(ex, identity_config(config.auth));
  if (!identity) {
    return make_error(Errc::unsupported, "[auth]: " + identity.error().message);
  }
  return std::unique_ptr<LoginBroker>(
      new LoginBroker(ex, config, std::move(store).value(), std::move(identity).value()));
}

LoginBroker::LoginBroker(const asio::any_io_executor& ex, const Config& config,
                         std::unique_ptr<AuthStore> store,
                         std::unique_ptr<calendar::IdentityClient> identity)
    : executor_(ex), auth_(config.auth), store_(std::move(store)), identity_(std::move(identity)) {
  enrol_hint_ = config.admin.listen && !config.admin.hostnames.empty()
                    ? "enrol again at " + std::string(config.admin.https() ? "https" : "http") +
                          "://" + config.admin.hostnames.front() + ":" +
                          std::to_string(config.admin.listen->port) + "/enrol"
                    : "ask your administrator to enrol you again";
}

LoginBroker::~LoginBroker() {
  pool_.join();
}

asio::awaitable<BrokeredLogin> LoginBroker::authorize(std::string login, std::string password) {
  BrokeredLogin result;
  result.upn = lower(login);
  result.mode = auth_.mode_for(result.upn);
  // Captures by reference only: the lambda is a coroutine parameter, and GCC 12 mishandles
  // the destruction of by-value captures of those.
  const std::string& upn = result.upn;
  auto verified = co_await on_pool(pool_, [this, &upn, &password] {
    auto v = cache_.verify(*store_, upn, password, CredentialCache::Clock::now());
    OPENSSL_cleanse(password.data(), password.size());
    return v;
  });
  if (!verified) {
    log_event(LogLevel::warn, "auth_store_error",
              {field("error", sanitize_for_log(verified.error().message))});
    result.refusal = LoginRefusal::unavailable;
    result.reason = "store";
    co_return result;
  }
  if (!*verified) {
    result.refusal = LoginRefusal::bad_credentials;
    result.reason = "bad app password";
    co_return result;
  }
  Verified user = std::move(**verified);
  result.mode = user.mode;
  if (user.needs_reenrol) {
    result.refusal = LoginRefusal::reenrol;
    result.reason = user.reenrol_reason;
    co_return result;
  }
  if (user.mode == AuthMode::app) {
    auto token = co_await identity_->client_credentials(calendar::imap_app_scope);
    if (!token) {
      // The identity platform's error and AADSTS code (a wrong secret or certificate) say
      // what to fix; the message names no secret.
      log_event(LogLevel::warn, "app_token_failed",
                {field("error", sanitize_for_log(token.error().message))});
      result.refusal = LoginRefusal::unavailable;
      result.reason = "app token: " + std::string(calendar::graph_errc_name(token.error().code));
      co_return result;
    }
    result.token = std::move(token).value();
    co_return result;
  }
  co_return co_await delegated_token(std::move(user));
}

asio::awaitable<BrokeredLogin> LoginBroker::delegated_token(Verified user) {
  BrokeredLogin result;
  result.upn = user.upn;
  result.mode = AuthMode::delegated;
  UserToken& entry = tokens_[user.upn]; // std::map: the reference stays valid
  if (!entry.refreshed) {
    entry.refreshed = std::make_unique<asio::steady_timer>(executor_);
  }
  while (entry.refreshing) {
    entry.refreshed->expires_at(asio::steady_timer::time_point::max());
    co_await entry.refreshed->async_wait(use_tuple);
  }
  if (!entry.access_token.empty() &&
      entry.expires_at - std::chrono::system_clock::now() > min_token_life) {
    result.token = entry.access_token;
    co_return result;
  }
  entry.refreshing = true;
  auto outcome = co_await identity_->refresh(user.refresh_token.view());
  const auto done = [&entry] {
    entry.refreshing = false;
    entry.refreshed->cancel();
  };
  if (!outcome) {
    done();
    result.refusal = LoginRefusal::unavailable;
    result.reason = "refresh: " + std::string(calendar::graph_errc_name(outcome.error().code));
    co_return result;
  }
  const auto now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  if (outcome->status == calendar::RefreshStatus::invalid_grant) {
    const std::string reason = outcome->reason;
    auto marked = co_await on_pool(pool_, [this, &user, &reason, &now] {
      cache_.forget(user.upn);
      return store_->mark_needs_reenrol(user.upn, reason, now);
    });
    if (!marked) {
      log_event(LogLevel::warn, "auth_store_error",
                {field("error", sanitize_for_log(marked.error().message))});
    }
    entry.access_token.clear();
    done();
    log_event(LogLevel::warn, "reenrol_needed",
              {field("user", sanitize_for_log(user.upn, 128)), field("reason", reason)});
    result.refusal = LoginRefusal::reenrol;
    result.reason = reason;
    co_return result;
  }
  if (!outcome->tokens.refresh_token.empty()) {
    auto stored = co_await on_pool(pool_, [this, &user, &outcome, &now] {
      return store_->store_refresh_token(user.key, outcome->tokens.refresh_token, now);
    });
    OPENSSL_cleanse(outcome->tokens.refresh_token.data(), outcome->tokens.refresh_token.size());
    if (!stored || !*stored) {
      // The rotated token is lost (the user was revoked or re-issued meanwhile, or the store
      // failed): this login still works, the next refresh will tell.
      log_event(LogLevel::warn, "refresh_token_not_stored",
                {field("user", sanitize_for_log(user.upn, 128))});
    }
  }
  entry.access_token = outcome->tokens.access_token;
  entry.expires_at = outcome->tokens.expires_at;
  done();
  result.token = std::move(outcome->tokens.access_token);
  co_return result;
}

asio::awaitable<protocol::Result<Secret>> LoginBroker::enrol(std::string upn,
                                                             std::string refresh_token) {
  const auto now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  auto issued = co_await on_pool(pool_, [this, &upn, &refresh_token, &now] {
    auto password = store_->issue(upn, AuthMode::delegated, std::string_view(refresh_token), now);
    OPENSSL_cleanse(refresh_token.data(), refresh_token.size());
    cache_.forget(upn);
    return password;
  });
  // An access token cached from the previous sign-in gives way to the new one.
  if (auto it = tokens_.find(normalize_upn(upn)); it != tokens_.end() && !it->second.refreshing) {
    it->second.access_token.clear();
  }
  co_return issued;
}

void LoginBroker::token_refused(const BrokeredLogin& login) {
  if (login.mode == AuthMode::app) {
    identity_->invalidate_app_token(calendar::imap_app_scope, login.token);
    return;
  }
  if (auto it = tokens_.find(login.upn);
      it != tokens_.end() && !it->second.refreshing && it->second.access_token == login.token) {
    it->second.access_token.clear();
  }
}

} // namespace icalgate::proxy
