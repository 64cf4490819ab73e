// Certificate credentials: the client assertion checked independently (its JWT parsed back,
// the signature verified with the certificate's public key through OpenSSL), the
// certificate and key refused at create() when they cannot work, and the Graph and identity
// clients obtaining tokens from icalgate-graphsim with a certificate, and refused with
// another. Keys and certificates are made with `openssl` at test time.

#include "calendar/base64url.hpp"
#include "calendar/client_assertion.hpp"
#include "calendar/graph_client.hpp"
#include "calendar/identity_client.hpp"
#include "calendar/identity_platform.hpp"
#include "graphsim_process.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <catch2/catch_test_macros.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace json = boost::json;
using namespace icalgate::calendar;
using icalgate::testing::run;
using icalgate::testing::write_text;

constexpr const char* tenant = "contoso.onmicrosoft.com";
constexpr const char* client_id = "5d1c7e2a-cert-app";
constexpr const char* alice = "alice@contoso.com";
constexpr const char* lookup_id = "<3A2E5F6D7B0B@contoso.com>"; // reply-accepted.json

std::string read_text(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// A temporary directory, removed with the test.
struct TempDir {
  TempDir() {
    std::string pattern = "/tmp/icalgate-assertion-test-XXXXXX";
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path path;
};

struct KeyPair {
  fs::path cert;
  fs::path key;
};

// A self-signed certificate and its unencrypted key: `algorithm` "rsa:2048" or "ec".
KeyPair make_key_pair(const fs::path& dir, const std::string& name,
                      const std::string& algorithm = "rsa:2048") {
  KeyPair pair{dir / (name + ".crt"), dir / (name + ".key")};
  const std::string curve = algorithm == "ec" ? " -pkeyopt ec_paramgen_curve:P-256" : "";
  const std::string command = "openssl req -x509 -newkey " + algorithm + curve +
                              " -nodes -days 2 -subj /CN=icalgate-" + name + " -keyout '" +
                              pair.key.string() + "' -out '" + pair.cert.string() +
                              "' >/dev/null 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);
  return pair;
}

// Independent of the code under test: OpenSSL's base64 with the URL alphabet, unpadded.
std::string b64url(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') {
    out.pop_back();
  }
  for (char& c : out) {
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return out;
}

std::string unb64url(std::string text) {
  for (char& c : text) {
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  while (text.size() % 4 != 0) {
    text.push_back('=');
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  REQUIRE(n >= 0);
  out.resize(static_cast<std::size_t>(n) - std::count(text.begin(), text.end(), '='));
  return out;
}

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

X509Ptr read_certificate(const fs::path& path) {
  const std::string pem = read_text(path);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  REQUIRE(cert);
  return cert;
}

std::string der_thumbprint(X509* cert, const EVP_MD* md) {
  unsigned char* der = nullptr;
  const int length = i2d_X509(cert, &der);
  REQUIRE(length > 0);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  REQUIRE(EVP_Digest(der, static_cast<std::size_t>(length), digest.data(), &size, md, nullptr) ==
          1);
  OPENSSL_free(der);
  return b64url(digest.data(), size);
}

bool rs256_verifies(X509* cert, const std::string& jwt) {
  const std::size_t dot = jwt.rfind('.');
  const std::string input = jwt.substr(0, dot);
  const std::string signature = unb64url(jwt.substr(dot + 1));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  REQUIRE(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, X509_get0_pubkey(cert)) ==
          1);
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
}

std::vector<std::string> split(const std::string& jwt) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = jwt.find('.', start);
    parts.push_back(jwt.substr(start, dot - start));
    if (dot == std::string::npos) {
      return parts;
    }
    start = dot + 1;
  }
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("client assertion: RS256 JWT with x5t, verified with the certificate's key",
          "[client_assertion]") {
  TempDir dir;
  const KeyPair app = make_key_pair(dir.path, "app");
  auto credential = CertificateCredential::load("graph", app.cert.string(), app.key.string());
  INFO((credential ? "" : credential.error().message));
  REQUIRE(credential.ok());

  const std::string aud = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/"
                          "token";
  auto jwt = make_client_assertion(*credential, client_id, aud, 1'800'000'000,
                                   "3e1d6b0c-8f1a-4c3e-9d2b-6a7f0e5c4b3a");
  REQUIRE(jwt.ok());
  const auto parts = split(*jwt);
  REQUIRE(parts.size() == 3);

  X509Ptr cert = read_certificate(app.cert);
  const json::object header = json::parse(unb64url(parts[0])).as_object();
  CHECK(header.size() == 4);
  CHECK(header.at("alg").as_string() == "RS256");
  CHECK(header.at("typ").as_string() == "JWT");
  CHECK(header.at("x5t").as_string() == der_thumbprint(cert.get(), EVP_sha1()));
  CHECK(header.at("x5t#S256").as_string() == der_thumbprint(cert.get(), EVP_sha256()));
  CHECK(header.at("x5t").as_string().size() == 27); // 20 bytes, unpadded

  const json::object claims = json::parse(unb64url(parts[1])).as_object();
  CHECK(claims.size() == 7);
  CHECK(claims.at("aud").as_string() == aud);
  CHECK(claims.at("iss").as_string() == client_id);
  CHECK(claims.at("sub").as_string() == client_id);
  CHECK(claims.at("jti").as_string() == "3e1d6b0c-8f1a-4c3e-9d2b-6a7f0e5c4b3a");
  CHECK(claims.at("iat").to_number<std::int64_t>() == 1'800'000'000);
  CHECK(claims.at("nbf").to_number<std::int64_t>() == 1'800'000'000);
  CHECK(claims.at("exp").to_number<std::int64_t>() == 1'800'000'600);

  CHECK(rs256_verifies(cert.get(), *jwt));
  // Deterministic (PKCS#1 v1.5): the same inputs sign to the same bytes.
  CHECK(make_client_assertion(*credential, client_id, aud, 1'800'000'000,
                              "3e1d6b0c-8f1a-4c3e-9d2b-6a7f0e5c4b3a")
            .value() == *jwt);
  // Any other claim breaks the signature; another certificate does not verify it.
  const std::string forged = parts[0] + "." +
                             base64url_encode(json::serialize(
                                 json::object{{"aud", aud}, {"iss", "other"}, {"sub", "other"}})) +
                             "." + parts[2];
  CHECK_FALSE(rs256_verifies(cert.get(), forged));
  const KeyPair other = make_key_pair(dir.path, "other");
  CHECK_FALSE(rs256_verifies(read_certificate(other.cert).get(), *jwt));
}

TEST_CASE("client assertion: jti is a fresh version-4 GUID", "[client_assertion]") {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto id = new_assertion_id();
    REQUIRE(id.ok());
    REQUIRE(id->size() == 36);
    CHECK((*id)[8] == '-');
    CHECK((*id)[14] == '4');
    CHECK(std::string("89ab").find((*id)[19]) != std::string::npos);
    seen.insert(*id);
  }
  CHECK(seen.size() == 50);
}

TEST_CASE("client assertion: a certificate and key that cannot work are refused at create()",
          "[client_assertion]") {
  TempDir dir;
  const KeyPair app = make_key_pair(dir.path, "app");
  const KeyPair other = make_key_pair(dir.path, "other");
  const KeyPair ec = make_key_pair(dir.path, "ec", "ec");
  const std::string key_text = read_text(app.key);
  // What no message may quote: the key's PEM body.
  const std::string key_body = key_text.substr(key_text.find('\n') + 1, 40);

  asio::io_context io;
  GraphConfig config;
  config.tenant = tenant;
  config.client_id = client_id;
  config.authority = "http://127.0.0.1:9";
  config.endpoint = "http://127.0.0.1:9";
  auto refusal = [&](const fs::path& cert, const fs::path& key) {
    config.certificate_file = cert.string();
    config.private_key_file = key.string();
    auto created = GraphClient::create(io.get_executor(), config);
    REQUIRE_FALSE(created.ok());
    CHECK(created.error().code == GraphErrc::config);
    CHECK_FALSE(contains(created.error().message, key_body));
    CHECK_FALSE(contains(created.error().message, "PRIVATE KEY"));
    return created.error().message;
  };

  // The key of another certificate.
  const std::string mismatch = refusal(app.cert, other.key);
  CHECK(mismatch.starts_with("graph.private_key_file: "));
  CHECK(contains(mismatch, "does not belong to the certificate"));
  // A key that cannot sign RS256.
  CHECK(refusal(ec.cert, ec.key).starts_with("graph.private_key_file: "));
  CHECK(contains(refusal(ec.cert, ec.key), "not an RSA key"));
  // Unreadable files, and files that hold something else.
  CHECK(refusal(dir.path / "missing.crt", app.key)
            .starts_with("graph.certificate_file: cannot read "));
  CHECK(refusal(app.cert, dir.path / "missing.key")
            .starts_with("graph.private_key_file: cannot read "));
  CHECK(contains(refusal(app.key, app.key), "graph.certificate_file: no PEM certificate"));
  CHECK(contains(refusal(app.cert, app.cert), "graph.private_key_file: no unencrypted PEM"));
  // An encrypted key is refused, not prompted for.
  const fs::path encrypted = dir.path / "encrypted.key";
  const std::string command = "openssl pkey -in '" + app.key.string() +
                              "' -aes256 -passout pass:secret-passphrase -out '" +
                              encrypted.string() + "' >/dev/null 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);
  CHECK(contains(refusal(app.cert, encrypted), "graph.private_key_file: no unencrypted PEM"));
  // A secret and a certificate together.
  write_text(dir.path / "secret", "s3cret");
  config.client_secret_file = (dir.path / "secret").string();
  CHECK(contains(refusal(app.cert, app.key), "not both"));
  config.client_secret_file.clear();

  // The same checks guard [auth].
  IdentityConfig identity;
  identity.tenant = tenant;
  identity.client_id = client_id;
  identity.authority = "http://127.0.0.1:9";
  identity.certificate_file = app.cert.string();
  identity.private_key_file = other.key.string();
  auto refused = IdentityClient::create(io.get_executor(), identity);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.starts_with("auth.private_key_file: "));

  // A good pair is accepted, and a combined PEM file works for both settings.
  config.certificate_file = app.cert.string();
  config.private_key_file = app.key.string();
  CHECK(GraphClient::create(io.get_executor(), config).ok());
  const fs::path combined = dir.path / "combined.pem";
  write_text(combined, key_text + read_text(app.cert));
  config.certificate_file = combined.string();
  config.private_key_file = combined.string();
  CHECK(GraphClient::create(io.get_executor(), config).ok());
}

namespace {

// graphsim with an app registration that carries `registered` as its certificate.
class CertSim {
 public:
  explicit CertSim(const TempDir& keys) : sim_("certsim") {
    app_ = make_key_pair(keys.path, "registered");
    stranger_ = make_key_pair(keys.path, "stranger");
    // The certificate by path (relative to the data directory), as an admin uploads it.
    fs::create_directories(data());
    fs::copy_file(app_.cert, data() / "app.crt");
    json::object client{
        {"tenant", tenant}, {"client_id", client_id}, {"certificates", json::array{"app.crt"}}};
    write_text(data() / "clients.json",
               json::serialize(json::object{{"clients", json::array{client}}}));
    const fs::path fixture =
        fs::path(ICALGATE_TEST_DATA_DIR) / "unit" / "data" / "graph" / "reply-accepted.json";
    write_text(data() / "users" / alice / "messages" / "reply-accepted.json", read_text(fixture));
    write_text(sim_.dir() / "jwt-key", "0123456789abcdef0123456789abcdef");
    sim_.start({"--data", data().string(), "--jwt-key", (sim_.dir() / "jwt-key").string()});
  }

  fs::path data() const { return sim_.dir() / "data"; }
  const KeyPair& registered() const { return app_; }
  const KeyPair& stranger() const { return stranger_; }
  fs::path log() const { return sim_.log(); }
  void set_control(const std::string& text) { sim_.set_control(text); }

  GraphConfig graph_config(const KeyPair& pair) const {
    GraphConfig c;
    c.tenant = tenant;
    c.client_id = client_id;
    c.certificate_file = pair.cert.string();
    c.private_key_file = pair.key.string();
    c.authority = sim_.url();
    c.endpoint = sim_.url();
    c.request_timeout = std::chrono::milliseconds(5000);
    c.overall_timeout = std::chrono::milliseconds(15000);
    c.backoff_base = std::chrono::milliseconds(20);
    c.backoff_max = std::chrono::milliseconds(200);
    return c;
  }

  IdentityConfig identity_config(const KeyPair& pair) const {
    IdentityConfig c;
    c.tenant = tenant;
    c.client_id = client_id;
    c.certificate_file = pair.cert.string();
    c.private_key_file = pair.key.string();
    c.authority = sim_.url();
    c.request_timeout = std::chrono::milliseconds(5000);
    c.overall_timeout = std::chrono::milliseconds(15000);
    c.backoff_base = std::chrono::milliseconds(20);
    c.backoff_max = std::chrono::milliseconds(200);
    return c;
  }

 private:
  icalgate::testing::GraphsimProcess sim_;
  KeyPair app_;
  KeyPair stranger_;
};

} // namespace

TEST_CASE("client assertion: Graph token from graphsim with the registered certificate",
          "[client_assertion]") {
  TempDir keys;
  CertSim sim(keys);
  asio::io_context io;
  auto client = GraphClient::create(io.get_executor(), sim.graph_config(sim.registered()));
  INFO((client ? "" : client.error().message));
  REQUIRE(client.ok());
  auto found = run(io, (*client)->lookup_event_message(alice, lookup_id));
  INFO((found ? "" : found.error().message));
  REQUIRE(found.ok());
  CHECK((*client)->token_fetches() == 1);
  // Cached: a second lookup asks for no new token.
  REQUIRE(run(io, (*client)->lookup_event_message(alice, lookup_id)).ok());
  CHECK((*client)->token_fetches() == 1);
}

TEST_CASE("client assertion: another certificate is refused with AADSTS700027",
          "[client_assertion]") {
  TempDir keys;
  CertSim sim(keys);
  asio::io_context io;
  auto client = GraphClient::create(io.get_executor(), sim.graph_config(sim.stranger()));
  REQUIRE(client.ok());
  auto result = run(io, (*client)->lookup_event_message(alice, lookup_id));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == GraphErrc::auth);
  CHECK(result.error().http_status == 401);
  CHECK(contains(result.error().message, "invalid_client"));
  CHECK(contains(result.error().message, "AADSTS700027"));
  CHECK_FALSE(contains(result.error().message, "eyJ")); // no JWT in the message
}

// The token endpoint uses up the assertion, then its answer is lost (a 503 from the front
// end): the retry is refused as a replay unless it carries a newly signed assertion.
constexpr const char* token_answer_lost =
    R"({"fail": [{"path_prefix": "/contoso.onmicrosoft.com/oauth2/v2.0/token",
                  "status": 503, "served": true, "count": 1}]})";

TEST_CASE("client assertion: a retried Graph token request signs a new assertion",
          "[client_assertion]") {
  TempDir keys;
  CertSim sim(keys);
  sim.set_control(token_answer_lost);
  asio::io_context io;
  auto client = GraphClient::create(io.get_executor(), sim.graph_config(sim.registered()));
  REQUIRE(client.ok());
  auto found = run(io, (*client)->lookup_event_message(alice, lookup_id));
  INFO((found ? "" : found.error().message));
  REQUIRE(found.ok());
  CHECK((*client)->stats().retries == 1);
}

TEST_CASE("client assertion: a retried app-only IMAP token request signs a new assertion",
          "[client_assertion]") {
  TempDir keys;
  CertSim sim(keys);
  sim.set_control(token_answer_lost);
  asio::io_context io;
  auto client = IdentityClient::create(io.get_executor(), sim.identity_config(sim.registered()));
  REQUIRE(client.ok());
  auto token = run(io, (*client)->client_credentials(imap_app_scope));
  INFO((token ? "" : token.error().message));
  REQUIRE(token.ok());
  CHECK((*client)->stats().retries == 1);
}

TEST_CASE("client assertion: the identity client's app-only IMAP token with a certificate",
          "[client_assertion]") {
  TempDir keys;
  CertSim sim(keys);
  asio::io_context io;
  auto client = IdentityClient::create(io.get_executor(), sim.identity_config(sim.registered()));
  INFO((client ? "" : client.error().message));
  REQUIRE(client.ok());
  auto token = run(io, (*client)->client_credentials(imap_app_scope));
  INFO((token ? "" : token.error().message));
  REQUIRE(token.ok());
  CHECK(split(*token).size() == 3); // graphsim's Exchange Online JWT
  CHECK((*client)->stats().app_tokens == 1);

  auto stranger = IdentityClient::create(io.get_executor(), sim.identity_config(sim.stranger()));
  REQUIRE(stranger.ok());
  auto refused = run(io, (*stranger)->client_credentials(imap_app_scope));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == GraphErrc::auth);
  CHECK(contains(refused.error().message, "AADSTS700027"));
}
