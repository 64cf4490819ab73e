#pragma once
// The user side of the Microsoft identity platform, as far as the gateway and its clients use
// it for Exchange Online IMAP: device-code sign-in (RFC 8628 as Entra answers it), the
// authorization-code flow with PKCE (RFC 7636) that Thunderbird runs in its sign-in window,
// refresh tokens with rotation and revocation, and JWT access tokens for Exchange Online —
// delegated (scp IMAP.AccessAsUser.All, the user in upn/email) and app-only (roles
// IMAP.AccessAsApp, no user). Access tokens are HS256-signed with the key of --jwt-key, which the
// test Dovecot trusts. State lives in memory: a restart forgets every grant.
//
// The authorization endpoint signs the user in at once: the user is the request's login_hint
// (Thunderbird sends the account's user name), or, without one, whoever a minimal sign-in page
// (a form that repeats the request with login_hint) is given. It answers as Entra does: a 302
// to redirect_uri with code and state; errors about the client or redirect_uri on a page of
// its own (400, no redirect, as the URI cannot be trusted), the others redirected as error=….
// A client's redirect URIs are clients.json's "redirect_uris" (default ["http://localhost"]);
// for http://localhost and http://127.0.0.1 the port is not compared, as Entra does for
// loopback addresses.
//
// Test hooks (POST bodies are form-encoded; not under /v1.0, so no token is needed):
//   GET  /_sim/authorizations                       the authorization codes issued (no codes)
//   GET  /_sim/devicecodes                          the sign-ins started, as JSON
//   POST /_sim/devicecode/approve  user_code=…&upn=…  the user signs in as upn and consents
//   POST /_sim/devicecode/deny     user_code=…        the user declines
//   POST /_sim/revoke              upn=…              every refresh token of the user is
//        revoked (an admin's Revoke-MgUserSignInSession, a password reset)
// Each answers 200 with a JSON object, 404 for an unknown code, 409 for one that is no
// longer pending, 400 for a malformed request.

#include "tests/graphsim/sim_clients.hpp"
#include "tests/graphsim/sim_responses.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace icalgate::graphsim {

struct IdentityOptions {
  std::string jwt_key; // raw HS256 key bytes
  std::chrono::seconds device_code_lifetime{900};
  std::chrono::seconds device_code_interval{5};
  std::string verification_uri = "https://microsoft.com/devicelogin";
};

struct IdentityStats {
  std::size_t device_codes = 0;   // sign-ins started
  std::size_t device_polls = 0;   // device_code grants presented
  std::size_t refreshes = 0;      // refresh_token grants that succeeded
  std::size_t refresh_reuses = 0; // rotated-out refresh tokens presented again
  std::size_t app_tokens = 0;     // Exchange Online client-credentials tokens
  std::size_t authorizations = 0; // authorization codes issued by the authorize endpoint
  std::size_t code_grants = 0;    // authorization_code grants that succeeded
  std::size_t code_refusals = 0;  // authorization_code grants refused (reuse, PKCE, …)
};

// The delegated scopes of a request: one Exchange Online resource and its permissions,
// plus the OpenID Connect scopes.
struct DelegatedScopes {
  std::string resource;                 // "https://outlook.office.com"
  std::vector<std::string> permissions; // "IMAP.AccessAsUser.All", …
  bool offline_access = false;
  bool openid = false;
  bool profile = false;
  bool email = false;
};

class IdentityPlatform {
 public:
  using Clock = std::chrono::steady_clock;
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  explicit IdentityPlatform(IdentityOptions options) : options_(std::move(options)) {}

  // GET /{tenant}/oauth2/v2.0/authorize for a known client; `query` is the request's query
  // (or form body), `endpoint` the URL path the sign-in page submits to.
  Response authorize(const ClientApp& client, const Form& query, const std::string& endpoint);
  // The authorization endpoint's answer when the client is not known (or not named).
  static Response authorize_refused(int aadsts, std::string_view description);
  // POST /{tenant}/oauth2/v2.0/devicecode for a known client.
  Response start_device_code(const ClientApp& client, const Form& form);
  // The token endpoint's device_code and refresh_token grants for a known client (its
  // credentials are checked here).
  Response redeem_device_code(const ClientApp& client, const Form& form,
                              std::chrono::seconds lifetime);
  Response redeem_refresh_token(const ClientApp& client, const Form& form,
                                std::chrono::seconds lifetime);
  // grant_type=authorization_code: the code once, with the redirect_uri and client it was
  // issued for, and the code_verifier whose S256 is the code_challenge.
  Response redeem_authorization_code(const ClientApp& client, const Form& form,
                                     std::chrono::seconds lifetime);
  // client_credentials for Exchange Online (the client authenticated); `scope` is
  // https://outlook.office365.com/.default or https://outlook.office.com/.default.
  Response app_token(const ClientApp& client, const std::string& scope,
                     std::chrono::seconds lifetime);
  static bool is_exchange_app_scope(std::string_view scope);

  // The /_sim/ hooks; nullopt when `path` is none of them.
  std::optional<Response> control(const Request& request, const std::string& path);

  const IdentityStats& stats() const { return stats_; }
  void reset_stats() { stats_ = IdentityStats{}; }
  // Shared with the client-credentials grant, which the simulator serves itself.
  UsedAssertions& used_assertions() { return used_assertions_; }

 private:
  enum class CodeState { pending, approved, declined, redeemed };
  struct DeviceCode {
    std::string user_code;
    std::string client_id;
    std::string tenant_id;
    DelegatedScopes scopes;
    Clock::time_point expires;
    std::optional<Clock::time_point> last_poll;
    CodeState state = CodeState::pending;
    std::string upn;
  };
  struct Grant {
    std::string upn;
    std::string client_id;
    std::string tenant_id;
    DelegatedScopes scopes;
    bool public_client = true;
    std::int64_t issued_unix = 0;
  };
  struct AuthorizationCode {
    std::string client_id;
    std::string tenant_id;
    std::string redirect_uri;
    std::string code_challenge; // S256; empty without PKCE
    std::string upn;
    DelegatedScopes scopes;
    Clock::time_point expires;
    bool redeemed = false;
  };
  enum class RefreshState { live, rotated, revoked };
  struct RefreshEntry {
    std::size_t grant;
    RefreshState state = RefreshState::live;
  };

  // The token response for `grant`: an access token for `scopes`, a fresh refresh token
  // when the grant has offline_access, an id_token when it has openid.
  Response issue(std::size_t grant, const DelegatedScopes& scopes, std::chrono::seconds lifetime);
  // Records a user's sign-in (public client unless the form carries a credential) and issues
  // its first tokens.
  Response grant_tokens(Grant grant, const Form& form, std::chrono::seconds lifetime);
  std::string access_claims_token(const Grant& grant, const DelegatedScopes& scopes,
                                  std::chrono::seconds lifetime) const;
  void expire_old();

  IdentityOptions options_;
  IdentityStats stats_;
  UsedAssertions used_assertions_;
  std::map<std::string, DeviceCode> device_codes_;      // by device_code
  std::map<std::string, std::string> user_codes_;       // user_code -> device_code
  std::map<std::string, AuthorizationCode> auth_codes_; // by code
  std::vector<Grant> grants_;
  std::map<std::string, RefreshEntry> refresh_tokens_;
};

} // namespace icalgate::graphsim
