#pragma once
// `icalgate users ...`: the admin's side of the login store (proxy/auth_store.hpp) for the
// "delegated" and "app" modes: issue, enrol, revoke and list users. App passwords are printed
// once, on stdout, and never again; nothing else secret is ever printed.

#include <cstdio>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace icalgate::proxy {

struct Config;
class AuthStore;

// The login store's file: the configuration's `[auth] store`.
std::string auth_store_path(const Config& config);

// `users enrol UPN`: runs Microsoft's device-code flow for UPN (printing the code and link to
// `out`), then stores the refresh token with a new app password through
// AuthStore::issue(upn, AuthMode::delegated, token, now) and prints the password once.
// `config` is null when only --store was given. Returns the exit status. Supplied by the code
// that owns the identity-platform client; when empty, the command says it is unavailable.
using UsersEnrol = std::function<int(const Config* config, AuthStore& store, std::string_view upn,
                                     std::FILE* out, std::FILE* err)>;

// `args` are the arguments after "users". Returns the exit status: 0 done, 1 refused or
// failed (no such user, already has credentials, store error), 2 usage or configuration error.
int run_users(std::span<char* const> args, const UsersEnrol& enrol = {});

// The same with explicit streams, for tests.
int run_users(std::span<char* const> args, std::FILE* out, std::FILE* err,
              const UsersEnrol& enrol = {});

} // namespace icalgate::proxy
