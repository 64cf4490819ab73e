#pragma once
// The gateway's side of the delegated and app login modes (issue: modern authentication):
// a client logs in to the gateway with an app password the gateway issued, and the gateway
// logs in upstream with an OAuth token — the user's delegated token, refreshed from the
// refresh token stored under that app password, or the app's own token (IMAP.AccessAsApp).
//
// Argon2id runs on a small worker pool, never on the io thread; a user's access token is
// cached until shortly before it expires and refreshed by one login at a time (the others
// wait for it), the rotated refresh token stored at once. A refresh token that no longer
// works flags the user for re-enrolment. No password or token reaches a log or a message.

#include "calendar/identity_client.hpp"
#include "proxy/auth_store.hpp"
#include "proxy/config.hpp"
#include "proxy/credential_cache.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace icalgate::proxy {

enum class LoginRefusal {
  none,
  bad_credentials, // unknown user or wrong app password
  reenrol,         // the stored sign-in no longer works: the user must enrol again
  unavailable,     // the store or the identity platform failed
};

struct BrokeredLogin {
  LoginRefusal refusal = LoginRefusal::none;
  std::string upn; // lower-cased, the mailbox to log in to
  AuthMode mode = AuthMode::app;
  std::string token;  // the bearer token for AUTHENTICATE XOAUTH2 (secret)
  std::string reason; // for the log and the audit: never a secret
};

class LoginBroker {
 public:
  // Null when no account uses the delegated or app mode.
  static protocol::Result<std::unique_ptr<LoginBroker>>
  create(const boost::asio::any_io_executor& ex, const Config& config);
  ~LoginBroker();

  // The login mode of this login name.
  AuthMode mode_for(std::string_view login) const { return auth_.mode_for(login); }

  // Checks the app password and gets the upstream token. `password` is wiped.
  boost::asio::awaitable<BrokeredLogin> authorize(std::string login, std::string password);

  // The upstream refused `token`: the next login fetches a fresh one.
  void token_refused(const BrokeredLogin& login);

  // Where a user whose sign-in expired goes to enrol again.
  const std::string& enrol_hint() const { return enrol_hint_; }

  // For the web enrolment (proxy/enrol_service.hpp): the identity platform client that runs
  // its device-code flow, and the store of the sign-in it yields.
  calendar::IdentityClient& identity() { return *identity_; }
  // Stores a delegated user's new refresh token under a new app password (Argon2id on the
  // pool), replacing whatever the user had, and returns that password: the only time it
  // exists in clear. `refresh_token` is wiped.
  boost::asio::awaitable<protocol::Result<Secret>> enrol(std::string upn,
                                                         std::string refresh_token);

 private:
  LoginBroker(const boost::asio::any_io_executor& ex, const Config& config,
              std::unique_ptr<AuthStore> store, std::unique_ptr<calendar::IdentityClient> identity);

  boost::asio::awaitable<BrokeredLogin> delegated_token(Verified verified);

  struct UserToken {
    std::string access_token;
    std::chrono::system_clock::time_point expires_at{};
    bool refreshing = false;
    std::unique_ptr<boost::asio::steady_timer> refreshed; // wakes logins waiting for a refresh
  };

  boost::asio::any_io_executor executor_;
  AuthConfig auth_;
  std::string enrol_hint_;
  std::unique_ptr<AuthStore> store_;
  CredentialCache cache_;
  std::unique_ptr<calendar::IdentityClient> identity_;
  boost::asio::thread_pool pool_{2};
  std::map<std::string, UserToken> tokens_;
};

// The IdentityConfig for the [auth] section.
calendar::IdentityConfig identity_config(const AuthConfig& auth);

} // namespace icalgate::proxy
