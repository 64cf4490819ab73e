#include "calendar/client_assertion.hpp"

#include "calendar/base64url.hpp"

#include <boost/json.hpp>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <array>
#include <cstdio>
#include <memory>

namespace icalgate::calendar {

namespace json = boost::json;

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// Refuses to prompt for a passphrase (OpenSSL's default callback reads the terminal).
int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) {
  return -1;
}

std::unique_ptr<BIO, BioFree> open_file(const std::string& path) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_file(path.c_str(), "rb"));
}

std::string thumbprint(const X509* cert, const EVP_MD* md) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (X509_digest(cert, md, digest.data(), &length) != 1) {
    return {};
  }
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), length));
}

} // namespace

GraphResult<CertificateCredential>
CertificateCredential::load(std::string_view section, const std::string& certificate_file,
                            const std::string& private_key_file) {
  const std::string cert_setting = std::string(section) + ".certificate_file";
  const std::string key_setting = std::string(section) + ".private_key_file";
  // Nothing of OpenSSL's error queue goes into a message: only what we know.
  struct ClearErrors {
    ~ClearErrors() { ERR_clear_error(); }
  } clear_errors;

  auto cert_bio = open_file(certificate_file);
  if (!cert_bio) {
    return GraphError{GraphErrc::config, cert_setting + ": cannot read " + certificate_file};
  }
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, no_passphrase, nullptr));
  if (!cert) {
    return GraphError{GraphErrc::config,
                      cert_setting + ": no PEM certificate in " + certificate_file};
  }

  auto key_bio = open_file(private_key_file);
  if (!key_bio) {
    return GraphError{GraphErrc::config, key_setting + ": cannot read " + private_key_file};
  }
  std::shared_ptr<EVP_PKEY> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_passphrase, nullptr), EVP_PKEY_free);
  if (!key) {
    return GraphError{GraphErrc::config,
                      key_setting + ": no unencrypted PEM private key in " + private_key_file};
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
    return GraphError{GraphErrc::config,
                      key_setting + ": " + private_key_file +
                          " is not an RSA key (certificate credentials are signed with RS256)"};
  }
  const EVP_PKEY* public_key = X509_get0_pubkey(cert.get());
  if (public_key == nullptr || EVP_PKEY_eq(public_key, key.get()) != 1) {
    return GraphError{GraphErrc::config, key_setting + ": the key in " + private_key_file +
                                             " does not belong to the certificate in " +
                                             certificate_file};
  }
  CertificateCredential out;
  out.x5t_ = thumbprint(cert.get(), EVP_sha1());
  out.x5t_s256_ = thumbprint(cert.get(), EVP_sha256());
  if (out.x5t_.empty() || out.x5t_s256_.empty()) {
    return GraphError{GraphErrc::config,
                      cert_setting + ": cannot compute the thumbprint of " + certificate_file};
  }
  out.key_ = std::move(key);
  return out;
}

GraphResult<std::string> make_client_assertion(const CertificateCredential& credential,
                                               std::string_view client_id,
                                               std::string_view audience, std::int64_t issued_at,
                                               std::string_view jti,
                                               std::chrono::seconds lifetime) {
  // boost::json keeps insertion order: the output is deterministic.
  const json::object header{{"alg", "RS256"},
                            {"typ", "JWT"},
                            {"x5t", credential.x5t()},
                            {"x5t#S256", credential.x5t_s256()}};
  const json::object claims{{"aud", audience},
                            {"iss", client_id},
                            {"sub", client_id},
                            {"jti", jti},
                            {"nbf", issued_at},
                            {"iat", issued_at},
                            {"exp", issued_at + lifetime.count()}};
  const std::string input =
      base64url_encode(json::serialize(header)) + "." + base64url_encode(json::serialize(claims));

  struct ClearErrors {
    ~ClearErrors() { ERR_clear_error(); }
  } clear_errors;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || credential.key() == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, credential.key()) != 1) {
    return GraphError{GraphErrc::config, "client assertion: cannot set up RS256 signing"};
  }
  std::size_t length = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return GraphError{GraphErrc::config, "client assertion: signing failed"};
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return GraphError{GraphErrc::config, "client assertion: signing failed"};
  }
  signature.resize(length);
  return input + "." + base64url_encode(signature);
}

GraphResult<std::string> new_assertion_id() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    ERR_clear_error();
    return GraphError{GraphErrc::config, "client assertion: no random bytes for jti"};
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40); // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80); // RFC 4122 variant
  char text[37];
  std::snprintf(text, sizeof text,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
                bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
                bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
  return std::string(text, 36);
}

} // namespace icalgate::calendar
