#pragma once
// `icalgate users enrol UPN`: a user's enrolment for the delegated mode from the command
// line — Microsoft's device-code flow (the user signs in at the link with the code shown),
// then the refresh token stored under a new app password, printed once.

#include <cstdio>
#include <string_view>

namespace icalgate::proxy {

struct Config;
class AuthStore;

// The UsersEnrol hook of run_users(). The code and link go to `err` (lines "user_code: …"
// and "verification_uri: …" after Microsoft's sentence), the app password to `out`.
int enrol_with_device_code(const Config* config, AuthStore& store, std::string_view upn,
                           std::FILE* out, std::FILE* err);

} // namespace icalgate::proxy
