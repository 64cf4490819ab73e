#pragma once
// Account names as the configuration writes them: a UPN ("alice@contoso.com") or a whole
// domain ("@contoso.com"). Exchange treats UPNs case-insensitively, and so do we; only ASCII
// letters fold, since that is all a UPN's domain and (in practice) its local part contain.

#include <string_view>

namespace icalgate::proxy {

// ASCII case-insensitive equality.
bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept;

// "user@domain" or "@domain": exactly one '@', a non-empty domain, no spaces or control
// characters.
bool is_account_pattern(std::string_view pattern) noexcept;

// Whether `upn` is the account `pattern` names: the same UPN, or for "@domain" any UPN in
// exactly that domain (not its subdomains).
bool account_matches(std::string_view pattern, std::string_view upn) noexcept;

} // namespace icalgate::proxy
