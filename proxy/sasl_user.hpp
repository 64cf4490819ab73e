#pragma once
// The user name inside a SASL initial response, so that a session knows who logged in
// without keeping the secret next to it. Pure.

#include <optional>
#include <string>
#include <string_view>

namespace icalgate::proxy {

// Strict base64 (RFC 4648, padding required); nullopt when malformed. "=" is empty.
std::optional<std::string> decode_base64(std::string_view text);
// Base64 with padding, no line breaks (a SASL response on the wire).
std::string encode_base64(std::string_view bytes);

// The user named by a client's response for `mechanism` (base64 as sent on the wire):
// PLAIN → the authorization identity, else the authentication identity; XOAUTH2 → user=;
// OAUTHBEARER → the gs2 header's a=. nullopt for other mechanisms or malformed data.
// Decoded secrets are wiped before returning.
std::optional<std::string> sasl_username(std::string_view mechanism, std::string_view response);

} // namespace icalgate::proxy
