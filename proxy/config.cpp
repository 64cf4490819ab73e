#include "proxy/config.hpp"

#include "calendar/http_transport.hpp"
#include "proxy/account_match.hpp"
#include "proxy/units.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <new>
#include <sys/stat.h>

// toml++ is included here only, so that its configuration macros (set by its CMake target:
// shared library, exceptions on) cannot differ between translation units. Its parse_error is
// caught in load_config and never leaves this file.
#include <toml++/toml.h>

namespace icalgate::proxy {

namespace {

using std::chrono::milliseconds;

// Config files are trusted, but their text still ends up in terminals and logs: keep what
// we echo printable and short.
std::string printable(std::string_view text, std::size_t max_shown = 60) {
  std::string out;
  for (const char c : text.substr(0, max_shown)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  if (text.size() > max_shown) {
    out += "...";
  }
  return out;
}

std::string quoted(std::string_view text) {
  return "\"" + printable(text) + "\"";
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
  case toml::node_type::table:
    return "a table";
  case toml::node_type::array:
    return "an array";
  case toml::node_type::string:
    return "a string";
  case toml::node_type::integer:
    return "an integer";
  case toml::node_type::floating_point:
    return "a float";
  case toml::node_type::boolean:
    return "a boolean";
  case toml::node_type::date:
    return "a date";
  case toml::node_type::time:
    return "a time";
  case toml::node_type::date_time:
    return "a date-time";
  case toml::node_type::none:
    break;
  }
  return "nothing";
}

std::uint32_t line_of(const toml::node& node) {
  return node.source().begin.line;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

bool is_ipv4_literal(const std::string& host) {
  in_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1;
}

bool is_ipv6_literal(const std::string& host) {
  in6_addr addr{};
  return inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

// RFC 1123 host names (underscores tolerated, as resolvers do) or dotted IPv4 literals.
std::optional<std::string> host_name_problem(std::string_view host) {
  if (host.empty()) {
    return "empty host";
  }
  if (host.size() > 253) {
    return "host name longer than 253 characters";
  }
  const bool numeric = std::all_of(host.begin(), host.end(),
                                   [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
  if (numeric) {
    return is_ipv4_literal(std::string(host)) ? std::nullopt
                                              : std::optional<std::string>("invalid IPv4 address");
  }
  std::size_t label = 0;
  for (std::size_t i = 0; i < host.size(); ++i) {
    const char c = host[i];
    if (c == '.') {
      if (label == 0) {
        return "empty label in host name";
      }
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) {
      return "invalid character in host name";
    }
    if (++label > 63) {
      return "host name label longer than 63 characters";
    }
  }
  // A trailing dot (label == 0 here) is the fully qualified spelling and is fine.
  return std::nullopt;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) {
    return std::nullopt;
  }
  std::uint32_t port = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    port = port * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (port < 1 || port > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(port);
}

// Collects every problem instead of stopping at the first, so that one run of check-config
// shows everything there is to fix.
class Loader {
 public:
  explicit Loader(std::string_view file_name) : file_(file_name) {}

  std::vector<ConfigError>& errors() { return errors_; }

  void error(std::uint32_t line, std::string key, std::string message) {
    errors_.push_back(ConfigError{file_, line, 0, printable(key, 120), std::move(message)});
  }

  void load(const toml::table& root, Config& config) {
    for (auto&& [key, node] : root) {
      const std::string_view name = key.str();
      const toml::table* table = node.as_table();
      if (name == "listen" || name == "tls" || name == "upstream" || name == "limits" ||
          name == "log" || name == "graph" || name == "rewrite" || name == "auth" ||
          name == "admin") {
        if (table == nullptr) {
          error(line_of(node), std::string(name),
                "expected a table, got " + std::string(type_name(node)));
          continue;
        }
      }
      if (name == "listen") {
        load_listen(*table, config.listen);
      } else if (name == "tls") {
        load_tls(*table, config.tls);
      } else if (name == "upstream") {
        load_upstream(*table, config.upstream);
      } else if (name == "limits") {
        load_limits(*table, config.limits);
      } else if (name == "log") {
        load_log(*table, config.log);
      } else if (name == "graph") {
        load_graph(*table, config.graph.emplace());
      } else if (name == "rewrite") {
        load_rewrite(*table, config.rewrite);
      } else if (name == "auth") {
        load_auth(*table, config.auth);
      } else if (name == "admin") {
        load_admin(*table, config.admin);
      } else {
        unknown(
            node, "", name,
            {"listen", "tls", "upstream", "limits", "log", "graph", "rewrite", "auth", "admin"});
      }
    }
    check_auth_and_admin(root, config);
  }

 private:
  using Names = std::initializer_list<std::string_view>;

  void unknown(const toml::node& node, std::string_view section, std::string_view name,
               Names known) {
    std::string message = node.is_table() ? "unknown table" : "unknown key";
    for (const std::string_view candidate : known) {
      // Short names are close to everything; only suggest what is plausibly a typo.
      if (edit_distance(name, candidate) <= std::max<std::size_t>(1, candidate.size() / 4)) {
        message += " (did you mean \"" + std::string(candidate) + "\"?)";
        break;
      }
    }
    error(line_of(node), qualified(section, name), std::move(message));
  }

  static std::string qualified(std::string_view section, std::string_view name) {
    return section.empty() ? std::string(name) : std::string(section) + "." + std::string(name);
  }

  // Reports every key of `table` that is not in `known`.
  void check_keys(const toml::table& table, std::string_view section, Names known) {
    for (auto&& [key, node] : table) {
      if (std::find(known.begin(), known.end(), key.str()) == known.end()) {
        unknown(node, section, key.str(), known);
      }
    }
  }

  template <class T>
  const T* typed(const toml::table& table, std::string_view section, std::string_view name,
                 std::string_view expected) {
    const toml::node* node = table.get(name);
    if (node == nullptr) {
      return nullptr;
    }
    const T* value = node->as<T>();
    if (value == nullptr) {
      error(line_of(*node), qualified(section, name),
            "expected " + std::string(expected) + ", got " + std::string(type_name(*node)));
    }
    return value;
  }

  const toml::value<std::string>* string_at(const toml::table& table, std::string_view section,
                                            std::string_view name) {
    return typed<toml::value<std::string>>(table, section, name, "a string");
  }

  void read_bool(const toml::table& table, std::string_view section, std::string_view name,
                 bool& out) {
    if (const auto* v = typed<toml::value<bool>>(table, section, name, "true or false")) {
      out = v->get();
    }
  }

  template <class U>
  void read_count(const toml::table& table, std::string_view section, std::string_view name,
                  std::int64_t min, std::int64_t max, U& out) {
    const auto* v = typed<toml::value<std::int64_t>>(table, section, name, "an integer");
    if (v == nullptr) {
      return;
    }
    if (v->get() < min || v->get() > max) {
      error(line_of(*v), qualified(section, name),
            "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                std::to_string(v->get()));
      return;
    }
    out = static_cast<U>(v->get());
  }

  void read_path(const toml::table& table, std::string_view section, std::string_view name,
                 bool may_be_empty, std::string& out) {
    const auto* v = string_at(table, section, name);
    if (v == nullptr) {
      return;
    }
    const std::string& path = v->get();
    if (path.empty() && !may_be_empty) {
      error(line_of(*v), qualified(section, name), "must not be empty");
    } else if (path.find('\0') != std::string::npos) {
      error(line_of(*v), qualified(section, name), "a path cannot contain a NUL character");
    } else {
      out = path;
    }
  }

  void read_host(const toml::table& table, std::string_view section, std::string_view name,
                 bool may_be_empty, std::string& out) {
    const auto* v = string_at(table, section, name);
    if (v == nullptr) {
      return;
    }
    const std::string& host = v->get();
    if (host.empty() && may_be_empty) {
      out.clear();
      return;
    }
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      error(line_of(*v), qualified(section, name),
            "expected a host name or address without brackets, got " + quoted(host));
      return;
    }
    if (host.find(':') != std::string::npos) {
      if (is_ipv6_literal(host)) {
        out = host;
      } else {
        error(line_of(*v), qualified(section, name),
              "expected a host name or address, got " + quoted(host) +
                  " (the port is a key of its own)");
      }
      return;
    }
    if (const auto problem = host_name_problem(host)) {
      error(line_of(*v), qualified(section, name),
            "expected a host name or address, got " + quoted(host) + " (" + *problem + ")");
      return;
    }
    out = host;
  }

  void read_listener(const toml::table& table, std::string_view section, std::string_view name,
                     std::optional<Endpoint>& out) {
    const auto* v = string_at(table, section, name);
    if (v == nullptr) {
      return;
    }
    if (v->get().empty()) {
      out.reset();
      return;
    }
    auto parsed = parse_endpoint(v->get());
    if (const auto* why = std::get_if<std::string>(&parsed)) {
      error(line_of(*v), qualified(section, name),
            "expected host:port, got " + quoted(v->get()) + " (" + *why + ")");
      return;
    }
    out = std::get<Endpoint>(std::move(parsed));
  }

  void read_duration(const toml::table& table, std::string_view section, std::string_view name,
                     milliseconds min, milliseconds& out) {
    const toml::node* node = table.get(name);
    if (node == nullptr) {
      return;
    }
    if (node->is_integer() || node->is_floating_point()) {
      error(line_of(*node), qualified(section, name),
            "expected a duration string with a unit such as \"" + format_duration(out) +
                "\", got a bare number");
      return;
    }
    const auto* v = string_at(table, section, name);
    if (v == nullptr) {
      return;
    }
    const auto parsed = parse_duration(v->get());
    if (!parsed) {
      error(line_of(*v), qualified(section, name), parsed.error());
      return;
    }
    // Timers convert to nanoseconds; a bound keeps every configured duration far from overflow.
    constexpr milliseconds max{30LL * 24 * 3'600'000};
    if (parsed.value() < min || parsed.value() > max) {
      error(line_of(*v), qualified(section, name),
            "must be between " + format_duration(min) + " and " + format_duration(max) + ", got " +
                quoted(v->get()));
      return;
    }
    out = parsed.value();
  }

  void read_size(const toml::table& table, std::string_view section, std::string_view name,
                 std::uint64_t min, std::uint64_t max, std::uint64_t& out) {
    const toml::node* node = table.get(name);
    if (node == nullptr) {
      return;
    }
    std::uint64_t bytes = 0;
    if (const auto* i = node->as_integer()) {
      if (i->get() < 0) {
        error(line_of(*node), qualified(section, name),
              "must not be negative, got " + std::to_string(i->get()));
        return;
      }
      bytes = static_cast<std::uint64_t>(i->get());
    } else if (const auto* s = node->as_string()) {
      const auto parsed = parse_size(s->get());
      if (!parsed) {
        error(line_of(*node), qualified(section, name), parsed.error());
        return;
      }
      bytes = parsed.value();
    } else {
      error(line_of(*node), qualified(section, name),
            "expected a size such as \"64KiB\" or a number of bytes, got " +
                std::string(type_name(*node)));
      return;
    }
    if (bytes < min || bytes > max) {
      error(line_of(*node), qualified(section, name),
            "must be between " + format_size(min) + " and " + format_size(max) + ", got " +
                format_size(bytes));
      return;
    }
    out = bytes;
  }

  template <class E, std::size_t N>
  void read_choice(const toml::table& table, std::string_view section, std::string_view name,
                   const std::array<std::pair<std::string_view, E>, N>& choices, E& out) {
    const auto* v = string_at(table, section, name);
    if (v == nullptr) {
      return;
    }
    std::string allowed;
    for (const auto& [text, value] : choices) {
      if (v->get() == text) {
        out = value;
        return;
      }
      allowed += allowed.empty() ? "" : ", ";
      allowed += text;
    }
    error(line_of(*v), qualified(section, name),
          "expected one of " + allowed + ", got " + quoted(v->get()));
  }

  void load_listen(const toml::table& t, ListenConfig& out) {
    check_keys(t, "listen", {"imaps", "imap", "proxy_protocol", "compress"});
    read_listener(t, "listen", "imaps", out.imaps);
    read_listener(t, "listen", "imap", out.imap);
    read_bool(t, "listen", "proxy_protocol", out.proxy_protocol);
    read_bool(t, "listen", "compress", out.compress);

    const toml::node* imap = t.get("imap");
    const toml::node* imaps = t.get("imaps");
    const toml::node* place = imap != nullptr ? imap : imaps;
    const std::uint32_t line = place != nullptr ? line_of(*place) : line_of(t);
    const std::string key = imap != nullptr ? "listen.imap" : "listen.imaps";
    if (!out.imaps && !out.imap) {
      error(line, key, "at least one of listen.imaps and listen.imap must be enabled");
    } else if (out.imaps && out.imap && *out.imaps == *out.imap) {
      error(line, key,
            "listen.imaps and listen.imap cannot share the address " + out.imap->to_string());
    }
  }

  void load_tls(const toml::table& t, TlsConfig& out) {
    check_keys(t, "tls", {"cert", "key", "min_version"});
    read_path(t, "tls", "cert", false, out.cert);
    read_path(t, "tls", "key", false, out.key);
    static constexpr std::array<std::pair<std::string_view, TlsVersion>, 2> versions{{
        {"1.2", TlsVersion::tls1_2},
        {"1.3", TlsVersion::tls1_3},
    }};
    if (const toml::node* node = t.get("min_version"); node != nullptr && node->is_number()) {
      error(line_of(*node), "tls.min_version",
            "expected the string \"1.2\" or \"1.3\", got a number (write it in quotes)");
    } else {
      read_choice(t, "tls", "min_version", versions, out.min_version);
    }
  }

  void load_upstream(const toml::table& t, UpstreamConfig& out) {
    check_keys(
        t, "upstream",
        {"host", "port", "tls", "ca_file", "server_name", "connect_timeout", "session_cache"});
    read_host(t, "upstream", "host", false, out.host);
    read_count(t, "upstream", "port", 1, 65535, out.port);
    static constexpr std::array<std::pair<std::string_view, UpstreamTls>, 2> modes{{
        {"implicit", UpstreamTls::implicit},
        {"starttls", UpstreamTls::starttls},
    }};
    read_choice(t, "upstream", "tls", modes, out.tls);
    read_path(t, "upstream", "ca_file", true, out.ca_file);
    read_host(t, "upstream", "server_name", true, out.server_name);
    read_duration(t, "upstream", "connect_timeout", milliseconds{100}, out.connect_timeout);
    read_bool(t, "upstream", "session_cache", out.session_cache);
  }

  void load_limits(const toml::table& t, LimitsConfig& out) {
    check_keys(t, "limits",
               {"max_connections", "max_connections_per_ip", "preauth_timeout", "idle_timeout",
                "max_line_length", "max_literal_size", "max_bad_commands", "login_failure_delay",
                "shutdown_grace"});
    read_count(t, "limits", "max_connections", 1, 1'000'000, out.max_connections);
    read_count(t, "limits", "max_connections_per_ip", 1, 1'000'000, out.max_connections_per_ip);
    read_duration(t, "limits", "preauth_timeout", milliseconds{1'000}, out.preauth_timeout);
    read_duration(t, "limits", "idle_timeout", milliseconds{1'000}, out.idle_timeout);
    // RFC 9051 asks servers to accept lines of at least 8192 octets; 1KiB is allowed for tests.
    read_size(t, "limits", "max_line_length", 1024, 16ULL << 20, out.max_line_length);
    read_size(t, "limits", "max_literal_size", 1, 4ULL << 30, out.max_literal_size);
    read_count(t, "limits", "max_bad_commands", 1, 1'000, out.max_bad_commands);
    read_duration(t, "limits", "login_failure_delay", milliseconds{0}, out.login_failure_delay);
    read_duration(t, "limits", "shutdown_grace", milliseconds{0}, out.shutdown_grace);
  }

  void load_log(const toml::table& t, LogConfig& out) {
    check_keys(t, "log", {"level", "format"});
    static constexpr std::array<std::pair<std::string_view, LogLevel>, 7> levels{{
        {"trace", LogLevel::trace},
        {"debug", LogLevel::debug},
        {"info", LogLevel::info},
        {"warn", LogLevel::warn},
        {"error", LogLevel::error},
        {"critical", LogLevel::critical},
        {"off", LogLevel::off},
    }};
    read_choice(t, "log", "level", levels, out.level);
    static constexpr std::array<std::pair<std::string_view, LogFormat>, 2> formats{{
        {"text", LogFormat::text},
        {"json", LogFormat::json},
    }};
    read_choice(t, "log", "format", formats, out.format);
  }

  // The line to blame for `name`: its own, or the table's header when it is missing.
  static std::uint32_t line_at(const toml::table& t, std::string_view name) {
    const toml::node* node = t.get(name);
    return node != nullptr ? line_of(*node) : line_of(t);
  }

  // Set to something other than "": the optional credential keys treat "" as not set.
  static bool given(const toml::table& t, std::string_view name) {
    const toml::node* node = t.get(name);
    return node != nullptr && !(node->is_string() && node->as_string()->get().empty());
  }

  void require(const toml::table& t, std::string_view section, std::string_view name,
               std::string_view example) {
    if (t.get(name) == nullptr) {
      error(line_of(t), qualified(section, name),
            "required, e.g. " + std::string(name) + " = " + std::string(example));
    }
  }

  // A tenant ID (GUID) or one of the tenant's domains; it becomes a path segment of the token
  // URL, so nothing else gets through.
  void read_tenant(const toml::table& t, std::string_view section, bool may_be_empty,
                   std::string& out) {
    const auto* v = string_at(t, section, "tenant");
    if (v == nullptr) {
      return;
    }
    const std::string& tenant = v->get();
    if (tenant.empty() && may_be_empty) {
      out.clear();
      return;
    }
    const bool ok = !tenant.empty() && tenant.size() <= 253 &&
                    std::all_of(tenant.begin(), tenant.end(), [](char c) {
                      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || c == '-' || c == '.';
                    });
    if (!ok) {
      error(line_of(*v), qualified(section, "tenant"),
            "expected a tenant ID or domain such as \"contoso.onmicrosoft.com\", got " +
                quoted(tenant));
      return;
    }
    out = tenant;
  }

  void read_client_id(const toml::table& t, std::string_view section, bool may_be_empty,
                      std::string& out) {
    const auto* v = string_at(t, section, "client_id");
    if (v == nullptr) {
      return;
    }
    const std::string& id = v->get();
    if (id.empty() && may_be_empty) {
      out.clear();
    } else if (id.empty()) {
      error(line_of(*v), qualified(section, "client_id"), "must not be empty");
    } else if (std::any_of(id.begin(), id.end(), [](char c) {
                 const auto u = static_cast<unsigned char>(c);
                 return u <= 0x20 || u == 0x7f;
               })) {
      error(line_of(*v), qualified(section, "client_id"),
            "expected the application (client) ID, got " + quoted(id) +
                " (spaces and control characters are not allowed)");
    } else {
      out = id;
    }
  }

  // At most one credential: a client secret, or a certificate with its private key; with
  // `required` (and `why`, the reason it is), exactly one.
  void check_credentials(const toml::table& t, std::string_view section, bool required,
                         std::string_view why = "") {
    const bool secret = given(t, "client_secret_file");
    const bool cert = given(t, "certificate_file");
    const bool key = given(t, "private_key_file");
    if (secret && (cert || key)) {
      const std::string_view other = cert ? "certificate_file" : "private_key_file";
      error(line_at(t, other), qualified(section, other),
            "set either client_secret_file, or certificate_file and private_key_file, not both");
    } else if (cert != key) {
      const std::string_view present = cert ? "certificate_file" : "private_key_file";
      const std::string_view missing = cert ? "private_key_file" : "certificate_file";
      error(line_at(t, present), qualified(section, present),
            "needs " + std::string(missing) + " as well");
    } else if (!secret && !cert && required) {
      error(line_at(t, "client_secret_file"), qualified(section, "client_secret_file"),
            "required" + std::string(why) +
                ": set client_secret_file, or certificate_file and private_key_file");
    }
  }

  // The same rule the Graph client applies at startup (https, or http to a loopback host),
  // checked here so that check-config finds it with a line number.
  void read_url(const toml::table& t, std::string_view section, std::string_view name,
                std::string_view example, std::string& out) {
    const auto* v = string_at(t, section, name);
    if (v == nullptr) {
      return;
    }
    const std::string& url = v->get();
    const std::string key = qualified(section, name);
    auto parsed = calendar::parse_http_url(url);
    if (!parsed) {
      const std::string& why = parsed.error().message;
      error(line_of(*v), key,
            "expected an https URL such as \"" + std::string(example) + "\", got " + quoted(url) +
                (why.starts_with("not an http(s) URL") ? "" : " (" + printable(why) + ")"));
      return;
    }
    if (parsed->host.find(':') == std::string::npos) {
      if (const auto problem = host_name_problem(parsed->host)) {
        error(line_of(*v), key,
              "expected an https URL, got " + quoted(url) + " (" + *problem + ")");
        return;
      }
    }
    if (!parsed->tls && !calendar::is_loopback_host(parsed->host)) {
      error(line_of(*v), key,
            "plain http is allowed only to a loopback host (127.0.0.0/8, ::1, localhost), got " +
                quoted(url) + "; use https");
      return;
    }
    if (url.find_first_of("?#") != std::string::npos) {
      error(line_of(*v), key, "takes no query or fragment, got " + quoted(url));
      return;
    }
    out = url;
  }

  void read_upn_suffix(const toml::table& t, std::string& out) {
    const auto* v = string_at(t, "graph", "upn_suffix");
    if (v == nullptr) {
      return;
    }
    const std::string& suffix = v->get();
    if (!suffix.empty() && (suffix.front() != '@' || !is_account_pattern(suffix))) {
      error(line_of(*v), "graph.upn_suffix",
            "expected \"@domain\" such as \"@contoso.com\", or \"\", got " + quoted(suffix));
      return;
    }
    out = suffix;
  }

  // [graph.upn]: "login" = "upn@domain", for tenants whose IMAP logins are not UPNs.
  void read_upn_map(const toml::table& t, std::vector<std::pair<std::string, std::string>>& out) {
    const toml::node* node = t.get("upn");
    if (node == nullptr) {
      return;
    }
    const toml::table* map = node->as_table();
    if (map == nullptr) {
      error(line_of(*node), "graph.upn",
            "expected a table of \"login\" = \"upn@domain\", got " + std::string(type_name(*node)));
      return;
    }
    std::vector<std::pair<std::string, std::string>> entries;
    std::vector<std::uint32_t> lines;
    for (auto&& [key, value] : *map) {
      const std::string login(key.str());
      const std::string name = qualified("graph.upn", login);
      const auto* upn = value.as_string();
      if (login.empty()) {
        error(line_of(value), "graph.upn", "a login name cannot be empty");
        continue;
      }
      if (upn == nullptr) {
        error(line_of(value), name, "expected a string, got " + std::string(type_name(value)));
        continue;
      }
      if (!is_account_pattern(upn->get()) || upn->get().front() == '@') {
        error(line_of(value), name,
              "expected a UPN such as \"alice@contoso.com\", got " + quoted(upn->get()));
        continue;
      }
      // toml++ orders keys byte-wise, so blame whichever spelling comes later in the file.
      bool duplicate = false;
      for (std::size_t i = 0; i < entries.size() && !duplicate; ++i) {
        if (equals_ignoring_case(entries[i].first, login)) {
          duplicate = true;
          const bool later = line_of(value) >= lines[i];
          error(later ? line_of(value) : lines[i],
                qualified("graph.upn", later ? login : entries[i].first),
                "the same login as \"" + printable(later ? entries[i].first : login) +
                    "\" (logins match case-insensitively)");
        }
      }
      if (!duplicate) {
        entries.emplace_back(login, upn->get());
        lines.push_back(line_of(value));
      }
    }
    out = std::move(entries);
  }

  void load_graph(const toml::table& t, GraphSection& out) {
    check_keys(t, "graph",
               {"tenant", "client_id", "client_secret_file", "certificate_file", "private_key_file",
                "authority", "endpoint", "ca_file", "request_timeout", "overall_timeout",
                "upn_suffix", "listing", "listing_interval", "upn"});
    calendar::GraphConfig& client = out.client;
    require(t, "graph", "tenant", "\"contoso.onmicrosoft.com\"");
    read_tenant(t, "graph", false, client.tenant);
    require(t, "graph", "client_id", "\"00000000-0000-0000-0000-000000000000\"");
    read_client_id(t, "graph", false, client.client_id);
    read_path(t, "graph", "client_secret_file", true, client.client_secret_file);
    read_path(t, "graph", "certificate_file", true, client.certificate_file);
    read_path(t, "graph", "private_key_file", true, client.private_key_file);
    check_credentials(t, "graph", true);
    read_url(t, "graph", "authority", "https://login.microsoftonline.com", client.authority);
    read_url(t, "graph", "endpoint", "https://graph.microsoft.com", client.endpoint);
    read_path(t, "graph", "ca_file", true, client.ca_file);
    read_duration(t, "graph", "request_timeout", milliseconds{100}, client.request_timeout);
    read_duration(t, "graph", "overall_timeout", milliseconds{100}, client.overall_timeout);
    read_upn_suffix(t, out.upn_suffix);
    read_bool(t, "graph", "listing", out.listing);
    read_duration(t, "graph", "listing_interval", milliseconds{1'000}, out.listing_interval);
    read_upn_map(t, out.upn_map);
  }

  void read_accounts(const toml::table& t, std::vector<std::string>& out) {
    const toml::node* node = t.get("accounts");
    if (node == nullptr) {
      return;
    }
    const toml::array* list = node->as_array();
    if (list == nullptr) {
      error(line_of(*node), "rewrite.accounts",
            "expected an array of \"user@domain\" or \"@domain\" strings, got " +
                std::string(type_name(*node)));
      return;
    }
    std::vector<std::string> accounts;
    for (const toml::node& entry : *list) {
      const auto* s = entry.as_string();
      if (s == nullptr) {
        error(line_of(entry), "rewrite.accounts",
              "expected strings, got " + std::string(type_name(entry)));
      } else if (!is_account_pattern(s->get())) {
        error(line_of(entry), "rewrite.accounts",
              "expected \"user@domain\" or \"@domain\", got " + quoted(s->get()));
      } else {
        accounts.push_back(s->get());
      }
    }
    out = std::move(accounts);
  }

  void load_rewrite(const toml::table& t, RewriteConfig& out) {
    check_keys(t, "rewrite",
               {"enabled", "accounts", "max_message_size", "dry_run", "announce_sizes", "state"});
    read_bool(t, "rewrite", "enabled", out.enabled);
    read_accounts(t, out.accounts);
    read_size(t, "rewrite", "max_message_size", 1, 1ULL << 30, out.max_message_size);
    read_bool(t, "rewrite", "dry_run", out.dry_run);
    read_bool(t, "rewrite", "announce_sizes", out.announce_sizes);
    read_path(t, "rewrite", "state", false, out.state);
  }

  static constexpr std::array<std::pair<std::string_view, AuthMode>, 3> auth_modes{{
      {"passthrough", AuthMode::passthrough},
      {"delegated", AuthMode::delegated},
      {"app", AuthMode::app},
  }};

  // [auth.accounts]: "user@domain" or "@domain" = "mode". Keys need TOML quotes ('@').
  void read_auth_accounts(const toml::table& t,
                          std::vector<std::pair<std::string, AuthMode>>& out) {
    const toml::node* node = t.get("accounts");
    if (node == nullptr) {
      return;
    }
    const toml::table* map = node->as_table();
    if (map == nullptr) {
      error(line_of(*node), "auth.accounts",
            "expected a table of \"user@domain\" or \"@domain\" = \"passthrough\", "
            "\"delegated\" or \"app\", got " +
                std::string(type_name(*node)));
      return;
    }
    std::vector<std::pair<std::string, AuthMode>> entries;
    std::vector<std::uint32_t> lines;
    for (auto&& [key, value] : *map) {
      const std::string account(key.str());
      const std::string name = qualified("auth.accounts", account);
      if (!is_account_pattern(account)) {
        error(line_of(value), name,
              "expected an account \"user@domain\" or a domain \"@domain\" as the key, got " +
                  quoted(account));
        continue;
      }
      const auto* text = value.as_string();
      if (text == nullptr) {
        error(line_of(value), name,
              "expected \"passthrough\", \"delegated\" or \"app\", got " +
                  std::string(type_name(value)));
        continue;
      }
      const auto* choice = std::find_if(auth_modes.begin(), auth_modes.end(),
                                        [&](const auto& m) { return m.first == text->get(); });
      if (choice == auth_modes.end()) {
        error(line_of(value), name,
              "expected \"passthrough\", \"delegated\" or \"app\", got " + quoted(text->get()));
        continue;
      }
      // toml++ orders keys byte-wise, so blame whichever spelling comes later in the file.
      bool duplicate = false;
      for (std::size_t i = 0; i < entries.size() && !duplicate; ++i) {
        if (equals_ignoring_case(entries[i].first, account)) {
          duplicate = true;
          const bool later = line_of(value) >= lines[i];
          error(later ? line_of(value) : lines[i],
                qualified("auth.accounts", later ? account : entries[i].first),
                "the same account as \"" + printable(later ? entries[i].first : account) +
                    "\" (accounts match case-insensitively)");
        }
      }
      if (!duplicate) {
        entries.emplace_back(account, choice->second);
        lines.push_back(line_of(value));
      }
    }
    out = std::move(entries);
  }

  void load_auth(const toml::table& t, AuthConfig& out) {
    check_keys(t, "auth",
               {"mode", "client_id", "client_secret_file", "certificate_file", "private_key_file",
                "authority", "tenant", "store", "accounts"});
    read_choice(t, "auth", "mode", auth_modes, out.mode);
    read_client_id(t, "auth", true, out.client_id);
    read_path(t, "auth", "client_secret_file", true, out.client_secret_file);
    read_path(t, "auth", "certificate_file", true, out.certificate_file);
    read_path(t, "auth", "private_key_file", true, out.private_key_file);
    read_url(t, "auth", "authority", "https://login.microsoftonline.com", out.authority);
    read_tenant(t, "auth", true, out.tenant);
    read_path(t, "auth", "store", false, out.store);
    read_auth_accounts(t, out.accounts);

    // The gateway itself talks to the identity platform in these modes.
    if (out.uses(AuthMode::delegated) || out.uses(AuthMode::app)) {
      const std::string in_use = out.uses(AuthMode::delegated) ? "delegated" : "app";
      if (!given(t, "client_id")) {
        error(line_at(t, "client_id"), "auth.client_id",
              "required when " + in_use +
                  " mode is in use, e.g. client_id = \"00000000-0000-0000-0000-000000000000\"");
      }
      if (!given(t, "tenant")) {
        error(line_at(t, "tenant"), "auth.tenant",
              "required when " + in_use +
                  " mode is in use, e.g. tenant = \"contoso.onmicrosoft.com\"");
      }
    }
    check_credentials(t, "auth", out.uses(AuthMode::app), " when app mode is in use");
  }

  // [admin] hostnames: what IMAP clients connect to. Thunderbird compares them with the
  // account's server name exactly, after lower-casing it: keep them lower-case, no final dot.
  void read_hostnames(const toml::table& t, std::vector<std::string>& out) {
    const toml::node* node = t.get("hostnames");
    if (node == nullptr) {
      return;
    }
    const toml::array* list = node->as_array();
    if (list == nullptr) {
      error(line_of(*node), "admin.hostnames",
            "expected an array of host names such as [\"imap.contoso.com\"], got " +
                std::string(type_name(*node)));
      return;
    }
    std::vector<std::string> names;
    hostname_lines_.clear();
    for (const toml::node& entry : *list) {
      const auto* s = entry.as_string();
      if (s == nullptr) {
        error(line_of(entry), "admin.hostnames",
              "expected strings, got " + std::string(type_name(entry)));
        continue;
      }
      std::string host = s->get();
      std::transform(host.begin(), host.end(), host.begin(), [](char c) {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      });
      std::optional<std::string> problem;
      if (host.find(':') != std::string::npos) {
        if (!is_ipv6_literal(host)) {
          problem = "a name without a port; IPv6 addresses without brackets";
        }
      } else if (!host.empty() && host.back() == '.') {
        problem = "write it without the final dot";
      } else {
        problem = host_name_problem(host);
      }
      if (problem) {
        error(line_of(entry), "admin.hostnames",
              "expected a host name such as \"imap.contoso.com\", got " + quoted(s->get()) + " (" +
                  *problem + ")");
        continue;
      }
      if (std::find(names.begin(), names.end(), host) != names.end()) {
        error(line_of(entry), "admin.hostnames",
              "lists " + quoted(host) + " twice (names match case-insensitively)");
        continue;
      }
      names.push_back(std::move(host));
      hostname_lines_.push_back(line_of(entry));
    }
    out = std::move(names);
  }

  void load_admin(const toml::table& t, AdminConfig& out) {
    check_keys(t, "admin", {"listen", "cert", "key", "hostnames"});
    read_listener(t, "admin", "listen", out.listen);
    read_path(t, "admin", "cert", true, out.cert);
    read_path(t, "admin", "key", true, out.key);
    if (given(t, "cert") != given(t, "key")) {
      const std::string_view present = given(t, "cert") ? "cert" : "key";
      const std::string_view missing = given(t, "cert") ? "key" : "cert";
      error(line_at(t, present), qualified("admin", present),
            "needs admin." + std::string(missing) +
                " as well (HTTPS takes both; both \"\" serve plain HTTP)");
    }
    read_hostnames(t, out.hostnames);
  }

  // Rules between [auth], [admin] and [listen], checked once all are read.
  void check_auth_and_admin(const toml::table& root, const Config& config) {
    if (!config.admin.listen) {
      return;
    }
    const toml::node* node = root.get("admin");
    const toml::table* admin = node != nullptr ? node->as_table() : nullptr;
    const Endpoint& listen = *config.admin.listen;
    const std::uint32_t listen_line = admin != nullptr ? line_at(*admin, "listen") : 0;
    if (config.auth.uses(AuthMode::delegated) && !config.admin.https() &&
        !calendar::is_loopback_host(listen.host)) {
      error(listen_line, "admin.listen",
            "delegated mode enrols users here (/enrol), which needs HTTPS unless the endpoint "
            "listens on a loopback address: set admin.cert and admin.key, or listen on "
            "127.0.0.1");
    }
    for (const auto& [imap, name] : {std::pair{config.listen.imaps, "listen.imaps"},
                                     std::pair{config.listen.imap, "listen.imap"}}) {
      if (imap && *imap == listen) {
        error(listen_line, "admin.listen",
              "cannot share the address " + listen.to_string() + " with " + name);
      }
    }
    // Thunderbird looks the OAuth2 provider of a server up only for names with a dot.
    if (config.auth.uses(AuthMode::passthrough)) {
      for (std::size_t i = 0; i < config.admin.hostnames.size(); ++i) {
        const std::string& host = config.admin.hostnames[i];
        if (host.find('.') == std::string::npos && i < hostname_lines_.size()) {
          error(hostname_lines_[i], "admin.hostnames",
                "Thunderbird finds OAuth2 settings only for host names with a dot, so " +
                    quoted(host) + " cannot sign in with passthrough; use a name such as " +
                    "\"imap.contoso.com\"");
        }
      }
    }
  }

  std::vector<std::uint32_t> hostname_lines_;

  std::string file_;
  std::vector<ConfigError> errors_;
};

bool is_unspecified_address(const std::string& host) {
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return v4.s_addr == 0;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return std::all_of(std::begin(v6.s6_addr), std::end(v6.s6_addr),
                       [](unsigned char b) { return b == 0; });
  }
  return false;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

} // namespace

std::string Endpoint::to_string() const {
  const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return shown + ":" + std::to_string(port);
}

std::string GraphSection::upn_for_login(std::string_view login) const {
  for (const auto& [from, upn] : upn_map) {
    if (equals_ignoring_case(from, login)) {
      return upn;
    }
  }
  if (!upn_suffix.empty() && login.find('@') == std::string_view::npos) {
    return std::string(login) + upn_suffix;
  }
  return std::string(login);
}

bool RewriteConfig::applies_to(std::string_view upn) const {
  return accounts.empty() ||
         std::any_of(accounts.begin(), accounts.end(),
                     [upn](const std::string& pattern) { return account_matches(pattern, upn); });
}

AuthMode AuthConfig::mode_for(std::string_view upn) const {
  const AuthMode* domain_mode = nullptr;
  for (const auto& [pattern, m] : accounts) {
    if (!pattern.empty() && pattern.front() == '@') {
      if (domain_mode == nullptr && account_matches(pattern, upn)) {
        domain_mode = &m;
      }
    } else if (equals_ignoring_case(pattern, upn)) {
      return m;
    }
  }
  return domain_mode != nullptr ? *domain_mode : mode;
}

bool AuthConfig::uses(AuthMode m) const {
  return mode == m || std::any_of(accounts.begin(), accounts.end(),
                                  [m](const auto& entry) { return entry.second == m; });
}

std::vector<std::string> gateway_hostnames(const Config& config,
                                           std::string_view system_host_name) {
  if (!config.admin.hostnames.empty()) {
    return config.admin.hostnames;
  }
  std::vector<std::string> out;
  for (const auto& listener : {config.listen.imaps, config.listen.imap}) {
    if (!listener) {
      continue;
    }
    std::string host = is_unspecified_address(listener->host) ? ascii_lower(system_host_name)
                                                              : ascii_lower(listener->host);
    if (!host.empty() && std::find(out.begin(), out.end(), host) == out.end()) {
      out.push_back(std::move(host));
    }
  }
  return out;
}

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line != 0) {
    out += ":" + std::to_string(line);
    if (column != 0) {
      out += ":" + std::to_string(column);
    }
  }
  out += ": ";
  if (!key.empty()) {
    out += key + ": ";
  }
  return out + message;
}

std::variant<Endpoint, std::string> parse_endpoint(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return std::string("missing ']' after the IPv6 address");
    }
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return std::string("missing :port after the address");
    }
    port = rest.substr(1);
    if (!is_ipv6_literal(std::string(host))) {
      return std::string("invalid IPv6 address in brackets");
    }
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return std::string("missing :port");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return std::string("IPv6 addresses need brackets, as in \"[::1]:993\"");
    }
    if (const auto problem = host_name_problem(host)) {
      return *problem;
    }
  }
  const auto number = parse_port(port);
  if (!number) {
    return std::string("the port must be a number from 1 to 65535");
  }
  return Endpoint{std::string(host), *number};
}

ConfigResult load_config(std::string_view toml_text, std::string_view file_name) {
  const std::string file(file_name);
  try {
    Config config;
    Loader loader(file_name);
    toml::table root;
    try {
      root = toml::parse(toml_text, file);
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      return std::vector<ConfigError>{
          ConfigError{file, where.line, where.column, "",
                      "TOML syntax error: " + printable(e.description(), 200)}};
    }
    loader.load(root, config);
    if (!loader.errors().empty()) {
      // toml++ keeps tables sorted by key; report in file order, placeless errors last.
      std::stable_sort(loader.errors().begin(), loader.errors().end(),
                       [](const ConfigError& a, const ConfigError& b) {
                         const auto place = [](const ConfigError& e) {
                           return e.line == 0 ? std::numeric_limits<std::uint32_t>::max() : e.line;
                         };
                         return place(a) < place(b);
                       });
      return std::move(loader.errors());
    }
    return config;
  } catch (const std::bad_alloc&) {
    return std::vector<ConfigError>{ConfigError{file, 0, 0, "", "out of memory"}};
  } catch (const std::exception& e) {
    return std::vector<ConfigError>{ConfigError{file, 0, 0, "", printable(e.what(), 200)}};
  }
}

ConfigText read_config_text(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return {"", std::strerror(errno)};
  }
  if (!S_ISREG(st.st_mode)) {
    return {"", "not a regular file"};
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_config_file_size) {
    return {"", "larger than " + format_size(max_config_file_size)};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return {"", std::strerror(errno)};
  }
  std::string text;
  text.resize(static_cast<std::size_t>(st.st_size));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad() || in.gcount() != static_cast<std::streamsize>(text.size())) {
    return {"", "read failed"};
  }
  return {std::move(text), ""};
}

ConfigResult load_config_file(const std::string& path) {
  ConfigText text = read_config_text(path);
  if (!text.ok()) {
    return std::vector<ConfigError>{ConfigError{path, 0, 0, "", "cannot read: " + text.error}};
  }
  return load_config(text.text, path);
}

std::string_view to_string(TlsVersion version) {
  return version == TlsVersion::tls1_3 ? "1.3" : "1.2";
}

std::string_view to_string(UpstreamTls mode) {
  return mode == UpstreamTls::starttls ? "starttls" : "implicit";
}

std::string_view to_string(LogLevel level) {
  switch (level) {
  case LogLevel::trace:
    return "trace";
  case LogLevel::debug:
    return "debug";
  case LogLevel::info:
    return "info";
  case LogLevel::warn:
    return "warn";
  case LogLevel::error:
    return "error";
  case LogLevel::critical:
    return "critical";
  case LogLevel::off:
    break;
  }
  return "off";
}

std::string_view to_string(LogFormat format) {
  return format == LogFormat::json ? "json" : "text";
}

std::string_view to_string(AuthMode mode) {
  switch (mode) {
  case AuthMode::delegated:
    return "delegated";
  case AuthMode::app:
    return "app";
  case AuthMode::passthrough:
    break;
  }
  return "passthrough";
}

} // namespace icalgate::proxy
