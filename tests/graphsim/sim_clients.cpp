#include "tests/graphsim/sim_clients.hpp"

#include "tests/graphsim/sim_jwt.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
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
    out.push_back({tenant, lower(id), string_of(entry, "client_id"), entry});
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

std::optional<Response> authenticate_client(const ClientApp& client, const Form& form,
                                            bool public_allowed) {
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
    const std::string expected = string_of(client.entry, "client_assertion");
    if (!assertion || expected.empty() || *assertion != expected) {
      return identity_error(401, "invalid_client", 700027,
                            "Client assertion failed signature validation.");
    }
    return std::nullopt;
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
