#include "tests/graphsim/sim_clients.hpp"

#include "tests/graphsim/sim_jwt.hpp"

#include <boost/json.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace icalgate::graphsim {

namespace json = boost::json;

namespace {

constexpr std::string_view jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string string_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<std::string> param(const Form& form, const char* name) {
  auto it = form.find(name);
  return it == form.end() ? std::nullopt : std::optional<std::string>(it->second);
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-') {
      v = 62;
    } else if (c == '_') {
      v = 63;
    } else {
      return std::nullopt;
    }
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return out;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// "certificate" and "certificates": inline PEM, or files relative to the data directory.
std::vector<std::string> certificates_of(const json::object& entry, const std::string& data_dir) {
  std::vector<std::string> names;
  if (const json::value* one = entry.if_contains("certificate"); one && one->is_string()) {
    names.emplace_back(one->as_string());
  }
  if (const json::value* list = entry.if_contains("certificates"); list && list->is_array()) {
    for (const json::value& c : list->as_array()) {
      if (c.is_string()) {
        names.emplace_back(c.as_string());
      }
    }
  }
  std::vector<std::string> out;
  for (const std::string& name : names) {
    out.push_back(name.find("-----BEGIN") != std::string::npos
                      ? name
                      : read_file(std::filesystem::path(data_dir) / name));
  }
  return out;
}

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr parse_certificate(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return X509Ptr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

std::string thumbprint(const X509* cert, const EVP_MD* md) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  X509_digest(cert, md, digest.data(), &length);
  return base64url(std::string_view(reinterpret_cast<const char*>(digest.data()), length));
}

bool verify_signature(X509* cert, std::string_view alg, std::string_view input,
                      std::string_view signature) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  if (key == nullptr || !ctx ||
      EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) != 1) {
    return false;
  }
  if (alg == "PS256" && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
}

const json::object* parse_part(std::string_view part, json::value& holder) {
  auto text = base64url_decode(part);
  if (!text) {
    return nullptr;
  }
  json::error_code ec;
  holder = json::parse(*text, ec);
  return !ec && holder.is_object() ? &holder.as_object() : nullptr;
}

std::optional<std::int64_t> time_claim(const json::object& claims, std::string_view name) {
  const json::value* v = claims.if_contains(name);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (v->is_int64()) {
    return v->as_int64();
  }
  if (v->is_uint64()) {
    return static_cast<std::int64_t>(v->as_uint64());
  }
  return std::nullopt;
}

Response assertion_refused(int aadsts, const std::string& description) {
  return identity_error(401, "invalid_client", aadsts, description);
}

// Entra's checks of a client assertion, in its order: well-formed, signed by a registered
// certificate, for this client, for this endpoint, within its time range; then not replayed.
std::optional<Response> check_assertion(const ClientApp& client, const std::string& assertion,
                                        UsedAssertions& used) {
  static constexpr std::string_view docs =
      " Review the documentation at "
      "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .";
  const std::size_t first = assertion.find('.');
  const std::size_t second =
      first == std::string::npos ? std::string::npos : assertion.find('.', first + 1);
  if (second == std::string::npos || assertion.find('.', second + 1) != std::string::npos) {
    return identity_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.");
  }
  json::value header_holder;
  json::value claims_holder;
  const json::object* header =
      parse_part(std::string_view(assertion).substr(0, first), header_holder);
  const json::object* claims =
      parse_part(std::string_view(assertion).substr(first + 1, second - first - 1), claims_holder);
  const auto signature = base64url_decode(std::string_view(assertion).substr(second + 1));
  if (header == nullptr || claims == nullptr || !signature) {
    return identity_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.");
  }
  const std::string alg = string_of(*header, "alg");
  if (alg != "RS256" && alg != "PS256") {
    return assertion_refused(700027, "Client assertion contains an invalid signature. [Reason - "
                                     "The key was not found., Algorithm: '" +
                                         alg.substr(0, 20) + "']");
  }
  const std::string x5t = string_of(*header, "x5t");
  const std::string x5t_s256 = string_of(*header, "x5t#S256");
  X509Ptr signer;
  for (const std::string& pem : client.certificates) {
    X509Ptr cert = parse_certificate(pem);
    if (cert && ((!x5t.empty() && thumbprint(cert.get(), EVP_sha1()) == x5t) ||
                 (!x5t_s256.empty() && thumbprint(cert.get(), EVP_sha256()) == x5t_s256))) {
      signer = std::move(cert);
      break;
    }
  }
  ERR_clear_error();
  if (!signer) {
    return assertion_refused(
        700027, "The certificate with identifier used to sign the client assertion "
                "is not registered on application. [Reason - The key was not "
                "found., Thumbprint of key used by client: '" +
                    (x5t.empty() ? x5t_s256 : x5t).substr(0, 64) + "']" + std::string(docs));
  }
  const std::string_view input = std::string_view(assertion).substr(0, second);
  const bool signed_ok = verify_signature(signer.get(), alg, input, *signature);
  ERR_clear_error();
  if (!signed_ok) {
    return assertion_refused(700027,
                             "Client assertion failed signature validation." + std::string(docs));
  }
  if (string_of(*claims, "iss") != client.client_id ||
      string_of(*claims, "sub") != client.client_id) {
    return assertion_refused(700021, "Client assertion application identifier doesn't match "
                                     "'client_id' parameter." +
                                         std::string(docs));
  }
  const std::string aud = string_of(*claims, "aud");
  if (std::find(client.token_endpoints.begin(), client.token_endpoints.end(), aud) ==
      client.token_endpoints.end()) {
    return assertion_refused(700023, "Client assertion audience claim does not match Realm "
                                     "issuer." +
                                         std::string(docs));
  }
  if (string_of(*claims, "jti").empty()) {
    return identity_error(400, "invalid_request", 50027,
                          "JWT token is invalid or malformed: the jti claim is missing.");
  }
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const auto exp = time_claim(*claims, "exp");
  const auto nbf = time_claim(*claims, "nbf");
  if (!exp || *exp <= now || (nbf && *nbf > now)) {
    return assertion_refused(700024, "Client assertion is not within its valid time range. "
                                     "Current time: " +
                                         std::to_string(now) + ", assertion valid from " +
                                         (nbf ? std::to_string(*nbf) : std::string("-")) +
                                         ", expiry time of assertion " +
                                         (exp ? std::to_string(*exp) : std::string("-")) + "." +
                                         std::string(docs));
  }
  if (!used.first_use(client.client_id, string_of(*claims, "jti"), *exp, now)) {
    return assertion_refused(50027, "JWT token is invalid or malformed: the client assertion "
                                    "with this jti was used before; sign a new one for each "
                                    "request.");
  }
  return std::nullopt;
}

} // namespace

std::vector<ClientApp> clients_of_tenant(const std::string& data_dir, const std::string& tenant) {
  std::ifstream file(std::filesystem::path(data_dir) / "clients.json", std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  json::error_code ec;
  json::value doc = json::parse(text.str(), ec);
  std::vector<ClientApp> out;
  if (ec || !doc.is_object()) {
    return out;
  }
  const json::value* list = doc.as_object().if_contains("clients");
  if (list == nullptr || !list->is_array()) {
    return out;
  }
  for (const json::value& c : list->as_array()) {
    if (!c.is_object()) {
      continue;
    }
    const json::object& entry = c.as_object();
    const std::string name = string_of(entry, "tenant");
    std::string id = string_of(entry, "tenant_id");
    if (lower(name) != lower(tenant) && lower(id) != lower(tenant)) {
      continue;
    }
    if (id.empty()) {
      id = guid_for("tenant:" + lower(name));
    }
    out.push_back({tenant,
                   lower(id),
                   string_of(entry, "client_id"),
                   entry,
                   certificates_of(entry, data_dir),
                   {}});
  }
  return out;
}

Response tenant_not_found(const std::string& tenant) {
  return identity_error(400, "invalid_request", 90002,
                        "Tenant '" + tenant.substr(0, 100) +
                            "' not found. Check to make sure you have the correct tenant ID "
                            "and are signing into the correct cloud.");
}

Response client_not_found(const std::string& client_id, const std::string& tenant) {
  return identity_error(400, "unauthorized_client", 700016,
                        "Application with identifier '" + client_id.substr(0, 100) +
                            "' was not found in the directory '" + tenant.substr(0, 100) +
                            "'. This can happen if the application has not been installed by "
                            "the administrator of the tenant or consented to by any user in "
                            "the tenant. You may have sent your authentication request to the "
                            "wrong tenant.");
}

Response missing_parameter(std::string_view name) {
  return identity_error(400, "invalid_request", 900144,
                        "The request body must contain the following parameter: '" +
                            std::string(name) + "'.");
}

bool UsedAssertions::first_use(const std::string& client_id, const std::string& jti,
                               std::int64_t exp, std::int64_t now) {
  std::erase_if(expiry_, [now](const auto& entry) { return entry.second <= now; });
  return expiry_.emplace(client_id + '\n' + jti, exp).second;
}

std::optional<Response> authenticate_client(const ClientApp& client, const Form& form,
                                            bool public_allowed, UsedAssertions& used) {
  const auto secret = param(form, "client_secret");
  const auto assertion_type = param(form, "client_assertion_type");
  const auto assertion = param(form, "client_assertion");
  if (secret) {
    const std::string expected = string_of(client.entry, "client_secret");
    if (expected.empty() || *secret != expected) {
      return identity_error(401, "invalid_client", 7000215,
                            "Invalid client secret provided. Ensure the secret being sent in the "
                            "request is the client secret value, not the client secret ID, for a "
                            "secret added to app '" +
                                client.client_id + "'.");
    }
    return std::nullopt;
  }
  if (assertion_type || assertion) {
    if (!assertion_type || *assertion_type != jwt_bearer) {
      return identity_error(400, "invalid_request", 7000216,
                            "'client_assertion', 'client_secret' or 'request' is required for "
                            "the 'client_credentials' grant type.");
    }
    if (!assertion) {
      return missing_parameter("client_assertion");
    }
    return check_assertion(client, *assertion, used);
  }
  if (public_allowed) {
    return std::nullopt;
  }
  return identity_error(401, "invalid_client", 7000218,
                        "The request body must contain the following parameter: "
                        "'client_assertion' or 'client_secret'.");
}

bool allows_public_client(const ClientApp& client) {
  const json::value* v = client.entry.if_contains("allow_public_client");
  return v == nullptr || !v->is_bool() || v->as_bool();
}

std::vector<std::string> imap_app_roles(const ClientApp& client) {
  const json::value* v = client.entry.if_contains("imap_app_roles");
  if (v == nullptr || !v->is_array()) {
    return {"IMAP.AccessAsApp"};
  }
  std::vector<std::string> roles;
  for (const json::value& role : v->as_array()) {
    if (role.is_string()) {
      roles.emplace_back(role.as_string());
    }
  }
  return roles;
}

} // namespace icalgate::graphsim
