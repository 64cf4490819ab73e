#pragma once
// Certificate credentials for the Microsoft identity platform: instead of a client secret,
// the app proves itself with a JWT client assertion signed with its certificate's private
// key (OpenID Connect private_key_jwt, as Entra defines it):
//   header  {"alg":"RS256","typ":"JWT","x5t":"<SHA-1 thumbprint>","x5t#S256":"<SHA-256 one>"}
//           (thumbprints of the certificate's DER encoding, base64url);
//   claims  {"aud":"<token endpoint URL>","iss":"<client_id>","sub":"<client_id>",
//            "jti":"<GUID>","nbf":iat,"iat":iat,"exp":iat+lifetime}
// and sent as client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
// with client_assertion=<the JWT>.
//
// make_client_assertion is pure: the caller supplies the time and the jti (new_assertion_id
// draws one from OpenSSL's CSPRNG). Neither the key nor an assertion ever appears in an
// error message.

#include "calendar/graph_error.hpp"

#include <openssl/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace icalgate::calendar {

inline constexpr std::string_view client_assertion_type =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// The app's certificate and private key, loaded and checked once.
class CertificateCredential {
 public:
  // Reads a PEM certificate (the first one in the file) and a PEM private key (unencrypted;
  // PKCS#8 or traditional). Refused: unreadable files, a key that does not belong to the
  // certificate, a key that is not RSA (RS256 is what Entra documents). `section` names the
  // settings in messages: "graph" gives "graph.certificate_file: ...".
  static GraphResult<CertificateCredential> load(std::string_view section,
                                                 const std::string& certificate_file,
                                                 const std::string& private_key_file);

  // base64url SHA-1 and SHA-256 thumbprints of the certificate's DER encoding.
  const std::string& x5t() const { return x5t_; }
  const std::string& x5t_s256() const { return x5t_s256_; }
  EVP_PKEY* key() const { return key_.get(); }

 private:
  std::shared_ptr<EVP_PKEY> key_;
  std::string x5t_;
  std::string x5t_s256_;
};

// The compact JWT, or an error when signing fails (the message names no key material).
GraphResult<std::string>
make_client_assertion(const CertificateCredential& credential, std::string_view client_id,
                      std::string_view audience, std::int64_t issued_at, std::string_view jti,
                      std::chrono::seconds lifetime = std::chrono::minutes(10));

// A fresh random GUID (version 4) from OpenSSL's CSPRNG, for jti.
GraphResult<std::string> new_assertion_id();

} // namespace icalgate::calendar
