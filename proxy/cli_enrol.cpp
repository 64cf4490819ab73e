#include "proxy/cli_enrol.hpp"

#include "calendar/identity_client.hpp"
#include "protocol/lexer.hpp"
#include "proxy/auth_store.hpp"
#include "proxy/cli_files.hpp"
#include "proxy/config.hpp"
#include "proxy/login_broker.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <openssl/crypto.h>

namespace icalgate::proxy {

namespace asio = boost::asio;

namespace {

bool same_user(std::string_view a, std::string_view b) {
  return a.size() == b.size() && protocol::imap_iequals(a, b);
}

asio::awaitable<int> enrol(calendar::IdentityClient& identity, AuthStore& store, std::string upn,
                           std::FILE* out, std::FILE* err) {
  auto grant = co_await identity.start_device_code(calendar::imap_delegated_scope);
  if (!grant) {
    std::fprintf(err, "icalgate users enrol: %s\n", printable(grant.error().message).c_str());
    co_return 1;
  }
  std::fprintf(err, "%s\nuser_code: %s\nverification_uri: %s\n", printable(grant->message).c_str(),
               printable(grant->user_code).c_str(), printable(grant->verification_uri).c_str());
  std::fflush(err);
  auto poll = co_await identity.wait_for_device_code(*grant);
  if (!poll) {
    std::fprintf(err, "icalgate users enrol: %s\n", printable(poll.error().message).c_str());
    co_return 1;
  }
  if (poll->status != calendar::DeviceCodeStatus::granted) {
    std::fprintf(err, "icalgate users enrol: sign-in %s\n",
                 std::string(calendar::device_code_status_name(poll->status)).c_str());
    co_return 1;
  }
  auto& tokens = poll->tokens;
  const auto wipe = [&tokens] {
    OPENSSL_cleanse(tokens.access_token.data(), tokens.access_token.size());
    OPENSSL_cleanse(tokens.refresh_token.data(), tokens.refresh_token.size());
  };
  if (!tokens.upn.empty() && !same_user(tokens.upn, upn)) {
    wipe();
    std::fprintf(err, "icalgate users enrol: signed in as %s, not %s\n",
                 printable(tokens.upn).c_str(), printable(upn).c_str());
    co_return 1;
  }
  if (tokens.refresh_token.empty()) {
    wipe();
    std::fprintf(err, "icalgate users enrol: no refresh token granted (offline_access)\n");
    co_return 1;
  }
  const auto now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  auto password =
      store.issue(upn, AuthMode::delegated, std::string_view(tokens.refresh_token), now);
  wipe();
  if (!password) {
    std::fprintf(err, "icalgate users enrol: %s\n", printable(password.error().message).c_str());
    co_return 1;
  }
  std::fprintf(err, "Enrolled %s. The app password (shown once) for IMAP logins:\n",
               printable(upn).c_str());
  std::fprintf(out, "%.*s\n", static_cast<int>(password->view().size()), password->view().data());
  co_return std::fflush(out) == 0 ? 0 : 1;
}

} // namespace

int enrol_with_device_code(const Config* config, AuthStore& store, std::string_view upn,
                           std::FILE* out, std::FILE* err) {
  if (config == nullptr) {
    std::fputs("icalgate users enrol: needs --config (the [auth] section names the app)\n", err);
    return 2;
  }
  asio::io_context io(1);
  auto identity =
      calendar::IdentityClient::create(io.get_executor(), identity_config(config->auth));
  if (!identity) {
    std::fprintf(err, "icalgate users enrol: [auth]: %s\n",
                 printable(identity.error().message).c_str());
    return 2;
  }
  int status = 1;
  asio::co_spawn(io, enrol(**identity, store, std::string(upn), out, err),
                 [&status](std::exception_ptr e, int result) { status = e ? 1 : result; });
  io.run();
  return status;
}

} // namespace icalgate::proxy
