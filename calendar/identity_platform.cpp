#include "calendar/identity_platform.hpp"

#include "calendar/json_reader.hpp"
#include "calendar/odata_text.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>

namespace icalgate::calendar {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::size_t max_secret = 4096;
constexpr std::size_t max_token = 64 * 1024;

} // namespace

bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
}

std::string trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
    text.remove_suffix(1);
  }
  return std::string(text);
}

namespace identity_platform {

std::optional<GraphError> check_registration(std::string_view section, std::string_view tenant,
                                             std::string_view client_id) {
  const std::string prefix(section);
  if (tenant.empty() || has_control(tenant) || tenant.find_first_of("/?#%") != std::string::npos) {
    return GraphError{GraphErrc::config, prefix + ".tenant is empty or not a tenant name"};
  }
  if (client_id.empty() || has_control(client_id)) {
    return GraphError{GraphErrc::config, prefix + ".client_id is empty"};
  }
  return std::nullopt;
}

GraphResult<std::string> read_client_secret(std::string_view section, const std::string& path) {
  const std::string setting = std::string(section) + ".client_secret_file";
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return GraphError{GraphErrc::config, "cannot read " + setting + " " + path};
  }
  std::string raw(max_secret + 1, '\0');
  file.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  raw.resize(static_cast<std::size_t>(file.gcount()));
  if (raw.size() > max_secret) {
    return GraphError{GraphErrc::config, setting + " is too large"};
  }
  std::string secret = trim(raw);
  if (secret.empty()) {
    return GraphError{GraphErrc::config, setting + " is empty"};
  }
  return secret;
}

HttpUrl tenant_endpoint(const HttpUrl& authority, std::string_view tenant, std::string_view name) {
  std::string base = authority.target == "/" ? "" : authority.target;
  while (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  HttpUrl url = authority;
  url.target = base + "/" + percent_encode(tenant) + "/oauth2/v2.0/" + std::string(name);
  return url;
}

std::string url_text(const HttpUrl& url) {
  const std::string host =
      url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  const bool default_port = url.port == (url.tls ? "443" : "80");
  return std::string(url.tls ? "https://" : "http://") + host +
         (default_port ? "" : ":" + url.port) + url.target;
}

GraphResult<ClientCredential> load_client_credential(std::string_view section,
                                                     const std::string& client_secret_file,
                                                     const std::string& certificate_file,
                                                     const std::string& private_key_file) {
  const std::string prefix(section);
  ClientCredential out;
  const bool certificate = !certificate_file.empty() || !private_key_file.empty();
  if (!client_secret_file.empty() && certificate) {
    return GraphError{GraphErrc::config, prefix + ".client_secret_file: set either "
                                                  "client_secret_file, or certificate_file and "
                                                  "private_key_file, not both"};
  }
  if (!client_secret_file.empty()) {
    auto secret = read_client_secret(section, client_secret_file);
    if (!secret) {
      return secret.error();
    }
    out.secret = std::move(secret).value();
  } else if (certificate) {
    if (certificate_file.empty() || private_key_file.empty()) {
      return GraphError{GraphErrc::config,
                        prefix + (certificate_file.empty()
                                      ? ".private_key_file: needs certificate_file as well"
                                      : ".certificate_file: needs private_key_file as well")};
    }
    auto loaded = CertificateCredential::load(section, certificate_file, private_key_file);
    if (!loaded) {
      return loaded.error();
    }
    out.certificate = std::move(loaded).value();
  }
  return out;
}

namespace {

// The form parameters that authenticate the app ("&client_secret=…" or
// "&client_assertion_type=…&client_assertion=…", "" for an empty credential), to append to a
// token request for `token_url`. A certificate signs a fresh assertion (now, a random jti)
// on every call.
GraphResult<std::string> client_authentication(const ClientCredential& credential,
                                               std::string_view client_id,
                                               const HttpUrl& token_url) {
  if (!credential.secret.empty()) {
    return "&client_secret=" + percent_encode(credential.secret);
  }
  if (!credential.certificate) {
    return std::string();
  }
  auto jti = new_assertion_id();
  if (!jti) {
    return jti.error();
  }
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  auto assertion =
      make_client_assertion(*credential.certificate, client_id, url_text(token_url), now, *jti);
  if (!assertion) {
    return assertion.error();
  }
  return "&client_assertion_type=" + percent_encode(client_assertion_type) +
         "&client_assertion=" + percent_encode(*assertion);
}

} // namespace

asio::awaitable<GraphResult<HttpResponse>>
post_with_credential(RetriedExchange& exchange, HttpRequest request, std::string fields,
                     const ClientCredential& credential, std::string client_id, bool repeatable) {
  while (true) {
    auto authentication = client_authentication(credential, client_id, request.url);
    if (!authentication) {
      co_return authentication.error();
    }
    request.body = fields + *authentication;
    auto outcome = co_await exchange.attempt(request, repeatable);
    if (outcome) {
      co_return std::move(*outcome);
    }
  }
}

std::string string_member(const json::object& object, std::string_view key, std::size_t limit) {
  const json::value* v = object.if_contains(key);
  if (v == nullptr || !v->is_string() || v->as_string().size() > limit) {
    return {};
  }
  std::string out(v->as_string());
  return has_control(out) ? std::string() : out;
}

long long seconds_member(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  if (v == nullptr) {
    return 0;
  }
  if (v->is_int64()) {
    return v->as_int64();
  }
  if (v->is_uint64()) {
    return static_cast<long long>(std::min<std::uint64_t>(v->as_uint64(), 1'000'000'000));
  }
  if (v->is_string() && v->as_string().size() < 12) {
    return std::atoll(std::string(v->as_string()).c_str());
  }
  return 0;
}

ErrorBody error_of(const HttpResponse& response) {
  ErrorBody out;
  json::value holder;
  const json::object* root = json_read::parse_object(response.body, holder, max_json_depth);
  if (root == nullptr) {
    return out;
  }
  const std::string error = string_member(*root, "error", 100);
  if (std::all_of(error.begin(), error.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
      })) {
    out.error = error;
  }
  if (const json::value* codes = root->if_contains("error_codes");
      codes != nullptr && codes->is_array() && !codes->as_array().empty() &&
      codes->as_array()[0].is_number()) {
    const json::value& first = codes->as_array()[0];
    const long long n = first.is_int64()    ? first.as_int64()
                        : first.is_uint64() ? static_cast<long long>(first.as_uint64())
                                            : 0;
    if (n > 0) {
      out.code = "AADSTS" + std::to_string(n);
    }
  } else {
    const std::string description = string_member(*root, "error_description", 100);
    const std::size_t colon = description.find(':');
    if (description.rfind("AADSTS", 0) == 0 && colon != std::string::npos && colon < 16) {
      out.code = description.substr(0, colon);
    }
  }
  return out;
}

GraphError refused(const HttpResponse& response, std::string_view what) {
  const ErrorBody error = error_of(response);
  std::string text = std::string(what) + " refused: HTTP " + std::to_string(response.status);
  if (!error.error.empty()) {
    text += " " + error.error;
  }
  if (!error.code.empty()) {
    text += " (" + error.code + ")";
  }
  const GraphErrc code = response.status >= 500   ? GraphErrc::unavailable
                         : response.status == 429 ? GraphErrc::throttled
                                                  : GraphErrc::auth;
  return GraphError{code, std::move(text), response.status};
}

GraphResult<AccessToken> read_app_token(const HttpResponse& response, std::string_view what) {
  if (response.status != 200) {
    return refused(response, std::string(what) + " request");
  }
  json::value holder;
  const json::object* root = json_read::parse_object(response.body, holder, max_json_depth);
  if (root == nullptr) {
    return GraphError{GraphErrc::bad_response, std::string(what) + " response is not a JSON object",
                      200};
  }
  AccessToken token;
  token.value = string_member(*root, "access_token", max_token);
  token.lifetime =
      std::chrono::seconds(std::min<long long>(seconds_member(*root, "expires_in"), 86400));
  if (token.value.empty() || token.lifetime.count() <= 0) {
    return GraphError{GraphErrc::bad_response,
                      std::string(what) + " response without access_token or expires_in", 200};
  }
  return token;
}

} // namespace identity_platform
} // namespace icalgate::calendar
