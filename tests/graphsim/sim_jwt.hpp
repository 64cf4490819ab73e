#pragma once
// The tokens the identity-platform stand-in issues for Exchange Online: compact JWS with
// HS256 (RFC 7515/7519), so that the test Dovecot can check them against a shared key.
// Microsoft signs with RS256 and rotating keys; what matters here is that the upstream
// really verifies signature, lifetime and claims.

#include <boost/json/object.hpp>

#include <string>
#include <string_view>

namespace icalgate::graphsim {

std::string base64url(std::string_view bytes);

// header.claims.signature with {"typ":"JWT","alg":"HS256"}.
std::string sign_hs256(const boost::json::object& claims, std::string_view key);

// A GUID-shaped name derived from `seed` (stable across runs): object ids of users and
// tenants that the simulator has no directory for.
std::string guid_for(std::string_view seed);

} // namespace icalgate::graphsim
