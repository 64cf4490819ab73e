#pragma once
// base64url (RFC 4648 section 5), as JWTs carry their parts: on OpenSSL's base64 codec.

#include <optional>
#include <string>
#include <string_view>

namespace icalgate::calendar {

// Unpadded.
std::string base64url_encode(std::string_view bytes);

// Padded or not; the standard alphabet's '+' and '/' are taken too, as some issuers use it.
// nullopt for anything else (a stray character, a length no encoding has).
std::optional<std::string> base64url_decode(std::string_view text);

} // namespace icalgate::calendar
