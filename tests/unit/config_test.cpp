#include "proxy/cli_check_config.hpp"
#include "proxy/config.hpp"

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <unistd.h>

using namespace icalgate::proxy;
using std::chrono::milliseconds;

namespace {

constexpr std::chrono::minutes min30{30};

Config load_ok(const std::string& text) {
  const ConfigResult r = load_config(text, "test.toml");
  if (!r.ok()) {
    for (const auto& e : r.errors()) {
      UNSCOPED_INFO(e.to_string());
    }
  }
  REQUIRE(r.ok());
  return r.value();
}

std::vector<std::string> errors_of(const std::string& text) {
  const ConfigResult r = load_config(text, "test.toml");
  REQUIRE_FALSE(r.ok());
  REQUIRE_FALSE(r.errors().empty());
  std::vector<std::string> out;
  for (const auto& e : r.errors()) {
    out.push_back(e.to_string());
  }
  return out;
}

// The one error `text` produces, as printed.
std::string error_of(const std::string& text) {
  const auto errors = errors_of(text);
  INFO(errors.front());
  REQUIRE(errors.size() == 1);
  return errors.front();
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string read_all(std::FILE* f) {
  std::rewind(f);
  std::string out;
  char buf[256];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    out.append(buf, n);
  }
  return out;
}

// A file in a fresh temporary directory, removed with it.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("icalgate-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "gate.toml").string();
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  std::string dir() const { return dir_.string(); }

 private:
  std::filesystem::path dir_;
  std::string path_;
};

struct CliRun {
  int status;
  std::string out;
  std::string err;
};

CliRun run_cli(const std::string& path) {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  REQUIRE(out != nullptr);
  REQUIRE(err != nullptr);
  const int status = check_config(path, out, err);
  CliRun run{status, read_all(out), read_all(err)};
  std::fclose(out);
  std::fclose(err);
  return run;
}

} // namespace

TEST_CASE("config: an empty file gives the documented defaults", "[config]") {
  const Config c = load_ok("");
  CHECK(c == Config{});
  REQUIRE(c.listen.imaps.has_value());
  CHECK(c.listen.imaps->to_string() == "0.0.0.0:993");
  REQUIRE(c.listen.imap.has_value());
  CHECK(c.listen.imap->to_string() == "0.0.0.0:143");
  CHECK_FALSE(c.listen.proxy_protocol);
  CHECK(c.listen.compress);
  CHECK(c.tls.cert == "/etc/icalgate/tls/fullchain.pem");
  CHECK(c.tls.key == "/etc/icalgate/tls/privkey.pem");
  CHECK(c.tls.min_version == TlsVersion::tls1_2);
  CHECK(c.upstream.host == "outlook.office365.com");
  CHECK(c.upstream.port == 993);
  CHECK(c.upstream.tls == UpstreamTls::implicit);
  CHECK(c.upstream.ca_file.empty());
  CHECK(c.upstream.verified_name() == "outlook.office365.com");
  CHECK(c.upstream.connect_timeout == std::chrono::seconds{15});
  CHECK(c.upstream.session_cache);
  CHECK(c.limits.max_connections == 10'000);
  CHECK(c.limits.max_connections_per_ip == 100);
  CHECK(c.limits.preauth_timeout == std::chrono::seconds{60});
  CHECK(c.limits.idle_timeout == std::chrono::minutes{31});
  CHECK(c.limits.max_line_length == 64 * 1024);
  CHECK(c.limits.max_literal_size == 64 * 1024 * 1024);
  CHECK(c.limits.max_bad_commands == 10);
  CHECK(c.limits.login_failure_delay == std::chrono::seconds{2});
  CHECK(c.limits.shutdown_grace == std::chrono::seconds{30});
  CHECK(c.log.level == LogLevel::info);
  CHECK(c.log.format == LogFormat::text);
  // Comments and empty tables alone change nothing.
  CHECK(load_ok("# nothing\n[listen]\n[tls]\n[upstream]\n[limits]\n[log]\n") == Config{});
}

TEST_CASE("config: every key is read", "[config]") {
  const Config c = load_ok(R"(
[listen]
imaps = "127.0.0.1:9993"
imap = "[::1]:9143"
proxy_protocol = true
compress = false
[tls]
cert = "/srv/tls/chain.pem"
key = "/srv/tls/key.pem"
min_version = "1.3"
[upstream]
host = "127.0.0.1"
port = 10993
tls = "starttls"
ca_file = "/srv/tls/ca.pem"
server_name = "imap.example.test"
connect_timeout = "2500ms"
session_cache = false
[limits]
max_connections = 500
max_connections_per_ip = 7
preauth_timeout = "5s"
idle_timeout = "10m"
max_line_length = "8KiB"
max_literal_size = 20000000
max_bad_commands = 3
login_failure_delay = "0"
shutdown_grace = "1m30s"
[log]
level = "trace"
format = "json"
)");
  REQUIRE(c.listen.imaps.has_value());
  CHECK(*c.listen.imaps == Endpoint{"127.0.0.1", 9993});
  REQUIRE(c.listen.imap.has_value());
  CHECK(*c.listen.imap == Endpoint{"::1", 9143});
  CHECK(c.listen.proxy_protocol);
  CHECK_FALSE(c.listen.compress);
  CHECK(c.tls.cert == "/srv/tls/chain.pem");
  CHECK(c.tls.key == "/srv/tls/key.pem");
  CHECK(c.tls.min_version == TlsVersion::tls1_3);
  CHECK(c.upstream.host == "127.0.0.1");
  CHECK(c.upstream.port == 10993);
  CHECK(c.upstream.tls == UpstreamTls::starttls);
  CHECK(c.upstream.ca_file == "/srv/tls/ca.pem");
  CHECK(c.upstream.server_name == "imap.example.test");
  CHECK(c.upstream.verified_name() == "imap.example.test");
  CHECK(c.upstream.connect_timeout == milliseconds{2'500});
  CHECK_FALSE(c.upstream.session_cache);
  CHECK(c.limits.max_connections == 500);
  CHECK(c.limits.max_connections_per_ip == 7);
  CHECK(c.limits.preauth_timeout == std::chrono::seconds{5});
  CHECK(c.limits.idle_timeout == std::chrono::minutes{10});
  CHECK(c.limits.max_line_length == 8 * 1024);
  CHECK(c.limits.max_literal_size == 20'000'000);
  CHECK(c.limits.max_bad_commands == 3);
  CHECK(c.limits.login_failure_delay == milliseconds{0});
  CHECK(c.limits.shutdown_grace == std::chrono::seconds{90});
  CHECK(c.log.level == LogLevel::trace);
  CHECK(c.log.format == LogFormat::json);
}

TEST_CASE("config: each log level and upstream mode is accepted", "[config]") {
  const std::pair<const char*, LogLevel> levels[] = {
      {"trace", LogLevel::trace}, {"debug", LogLevel::debug}, {"info", LogLevel::info},
      {"warn", LogLevel::warn},   {"error", LogLevel::error}, {"critical", LogLevel::critical},
      {"off", LogLevel::off}};
  for (const auto& [text, level] : levels) {
    const Config c = load_ok(std::string("[log]\nlevel = \"") + text + "\"\n");
    CHECK(c.log.level == level);
    CHECK(to_string(level) == text);
  }
  CHECK(load_ok("[upstream]\ntls = \"implicit\"\n").upstream.tls == UpstreamTls::implicit);
  CHECK(to_string(UpstreamTls::starttls) == "starttls");
  CHECK(to_string(TlsVersion::tls1_3) == "1.3");
  CHECK(to_string(LogFormat::json) == "json");
}

TEST_CASE("config: a listener can be disabled, but not both", "[config]") {
  const Config only_imaps = load_ok("[listen]\nimap = \"\"\n");
  CHECK(only_imaps.listen.imaps.has_value());
  CHECK_FALSE(only_imaps.listen.imap.has_value());
  const Config only_imap = load_ok("[listen]\nimaps = \"\"\n");
  CHECK_FALSE(only_imap.listen.imaps.has_value());
  CHECK(only_imap.listen.imap.has_value());

  const std::string e = error_of("[listen]\nimaps = \"\"\nimap = \"\"\n");
  CHECK(starts_with(e, "test.toml:3: listen.imap: "));
  CHECK(contains(e, "at least one"));

  const std::string same =
      error_of("[listen]\nimaps = \"127.0.0.1:993\"\nimap = \"127.0.0.1:993\"\n");
  CHECK(starts_with(same, "test.toml:3: listen.imap: "));
  CHECK(contains(same, "cannot share"));
}

TEST_CASE("config: IPv6 listener addresses need brackets", "[config]") {
  CHECK(*load_ok("[listen]\nimaps = \"[::]:993\"\n").listen.imaps == Endpoint{"::", 993});
  CHECK(*load_ok("[listen]\nimaps = \"[2001:db8::7]:1\"\n").listen.imaps ==
        Endpoint{"2001:db8::7", 1});
  CHECK(Endpoint{"2001:db8::7", 65535}.to_string() == "[2001:db8::7]:65535");
  CHECK(Endpoint{"localhost", 143}.to_string() == "localhost:143");

  const std::string unbracketed = error_of("[listen]\nimaps = \"::1:993\"\n");
  CHECK(starts_with(unbracketed, "test.toml:2: listen.imaps: expected host:port, got \"::1:993\""));
  CHECK(contains(unbracketed, "brackets"));
  CHECK(contains(error_of("[listen]\nimaps = \"[::1]\"\n"), "missing :port"));
  CHECK(contains(error_of("[listen]\nimaps = \"[::1:993\"\n"), "missing ']'"));
  CHECK(contains(error_of("[listen]\nimaps = \"[zz::1]:993\"\n"), "invalid IPv6"));
  CHECK(contains(error_of("[listen]\nimaps = \"[127.0.0.1]:993\"\n"), "invalid IPv6"));
}

TEST_CASE("config: endpoint parsing", "[config]") {
  const auto ok = [](const char* text) {
    auto r = parse_endpoint(text);
    INFO(text);
    REQUIRE(std::holds_alternative<Endpoint>(r));
    return std::get<Endpoint>(r);
  };
  const auto bad = [](const char* text) {
    return std::holds_alternative<std::string>(parse_endpoint(text));
  };
  CHECK(ok("0.0.0.0:993") == Endpoint{"0.0.0.0", 993});
  CHECK(ok("localhost:9143") == Endpoint{"localhost", 9143});
  CHECK(ok("imap.example.test.:143") == Endpoint{"imap.example.test.", 143});
  CHECK(ok("[fe80::1]:65535") == Endpoint{"fe80::1", 65535});
  for (const char* text :
       {"", ":993", "0.0.0.0", "0.0.0.0:", "0.0.0.0:0", "0.0.0.0:65536", "0.0.0.0:99999",
        "0.0.0.0:-1", "0.0.0.0:+993", "0.0.0.0:99a", "256.1.1.1:993", "1.2.3:993", "bad host:993",
        "a..b:993", "[::1]x993", "[]:993", "host_!:1", "0.0.0.0:000993"}) {
    INFO("input: \"" << text << "\"");
    CHECK(bad(text));
  }
}

TEST_CASE("config: unknown tables and keys are errors naming key and line", "[config]") {
  CHECK(error_of("\n[listen]\nimaps = \"0.0.0.0:993\"\nimapz = \"0.0.0.0:1\"\n") ==
        "test.toml:4: listen.imapz: unknown key (did you mean \"imaps\"?)");
  CHECK(error_of("[limits]\nidle_timout = \"31m\"\n") ==
        "test.toml:2: limits.idle_timout: unknown key (did you mean \"idle_timeout\"?)");
  CHECK(error_of("[log]\ncolour = true\n") == "test.toml:2: log.colour: unknown key");
  CHECK(error_of("[metrics]\nport = 9090\n") == "test.toml:1: metrics: unknown table");
  CHECK(error_of("[upstreams]\n") ==
        "test.toml:1: upstreams: unknown table (did you mean \"upstream\"?)");
  CHECK(error_of("verbose = true\n") == "test.toml:1: verbose: unknown key");
  CHECK(error_of("[tls.extra]\nx = 1\n") == "test.toml:1: tls.extra: unknown table");
  CHECK(error_of("listen = \"0.0.0.0:993\"\n") ==
        "test.toml:1: listen: expected a table, got a string");
  CHECK(error_of("[[log]]\nlevel = \"info\"\n") ==
        "test.toml:1: log: expected a table, got an array");
}

TEST_CASE("config: wrong types are errors naming key and line", "[config]") {
  CHECK(error_of("[listen]\nimaps = 993\n") ==
        "test.toml:2: listen.imaps: expected a string, got an integer");
  CHECK(error_of("[listen]\nproxy_protocol = \"yes\"\n") ==
        "test.toml:2: listen.proxy_protocol: expected true or false, got a string");
  CHECK(error_of("[listen]\ncompress = 1\n") ==
        "test.toml:2: listen.compress: expected true or false, got an integer");
  CHECK(error_of("[upstream]\nport = \"993\"\n") ==
        "test.toml:2: upstream.port: expected an integer, got a string");
  CHECK(error_of("[upstream]\nsession_cache = 1\n") ==
        "test.toml:2: upstream.session_cache: expected true or false, got an integer");
  CHECK(error_of("[limits]\nmax_connections = 1.5\n") ==
        "test.toml:2: limits.max_connections: expected an integer, got a float");
  CHECK(error_of("[limits]\nmax_line_length = true\n") ==
        "test.toml:2: limits.max_line_length: expected a size such as \"64KiB\" or a number "
        "of bytes, got a boolean");
  CHECK(error_of("[tls]\ncert = [\"a\", \"b\"]\n") ==
        "test.toml:2: tls.cert: expected a string, got an array");
  CHECK(error_of("[log]\nlevel = 1979-05-27\n") ==
        "test.toml:2: log.level: expected a string, got a date");
  const std::string bare = error_of("[limits]\npreauth_timeout = 60\n");
  CHECK(starts_with(bare, "test.toml:2: limits.preauth_timeout: "));
  CHECK(contains(bare, "bare number"));
  CHECK(contains(bare, "\"1m\"")); // suggests the unit, using the current default
  CHECK(contains(error_of("[tls]\nmin_version = 1.3\n"), "write it in quotes"));
}

TEST_CASE("config: bad values are errors naming key and line", "[config]") {
  CHECK(error_of("[upstream]\nport = 0\n") ==
        "test.toml:2: upstream.port: must be between 1 and 65535, got 0");
  CHECK(error_of("[upstream]\nport = 65536\n") ==
        "test.toml:2: upstream.port: must be between 1 and 65535, got 65536");
  CHECK(error_of("[upstream]\ntls = \"ssl\"\n") ==
        "test.toml:2: upstream.tls: expected one of implicit, starttls, got \"ssl\"");
  CHECK(error_of("[tls]\nmin_version = \"1.1\"\n") ==
        "test.toml:2: tls.min_version: expected one of 1.2, 1.3, got \"1.1\"");
  CHECK(error_of("[log]\nlevel = \"verbose\"\n") ==
        "test.toml:2: log.level: expected one of trace, debug, info, warn, error, critical, "
        "off, got \"verbose\"");
  CHECK(error_of("[log]\nformat = \"xml\"\n") ==
        "test.toml:2: log.format: expected one of text, json, got \"xml\"");
  CHECK(error_of("[tls]\ncert = \"\"\n") == "test.toml:2: tls.cert: must not be empty");
  CHECK(starts_with(error_of("[upstream]\nhost = \"\"\n"), "test.toml:2: upstream.host: "));
  CHECK(contains(error_of("[upstream]\nhost = \"mail server\"\n"), "invalid character"));
  CHECK(contains(error_of("[upstream]\nhost = \"host:993\"\n"), "the port is a key of its own"));
  CHECK(contains(error_of("[upstream]\nhost = \"[::1]\"\n"), "without brackets"));
  CHECK(contains(error_of("[upstream]\nhost = \"300.1.1.1\"\n"), "invalid IPv4"));
  CHECK(load_ok("[upstream]\nhost = \"::1\"\n").upstream.host == "::1");
  CHECK(contains(error_of("[upstream]\nserver_name = \"a b\"\n"), "upstream.server_name"));
  CHECK(error_of("[limits]\nmax_connections = 0\n") ==
        "test.toml:2: limits.max_connections: must be between 1 and 1000000, got 0");
  CHECK(contains(error_of("[limits]\nmax_connections_per_ip = -1\n"), "got -1"));
  CHECK(contains(error_of("[limits]\nmax_bad_commands = 0\n"), "limits.max_bad_commands"));
  CHECK(error_of("[limits]\nidle_timeout = \"31\"\n") ==
        "test.toml:2: limits.idle_timeout: expected a duration like \"60s\", \"31m\", \"1h30m\" "
        "or \"500ms\", got \"31\" (missing unit: ms, s, m, h or d)");
  CHECK(error_of("[limits]\npreauth_timeout = \"0\"\n") ==
        "test.toml:2: limits.preauth_timeout: must be between 1s and 30d, got \"0\"");
  CHECK(contains(error_of("[limits]\nshutdown_grace = \"31d\"\n"), "must be between 0s and 30d"));
  CHECK(contains(error_of("[upstream]\nconnect_timeout = \"99999999999999999999d\"\n"),
                 "upstream.connect_timeout"));
  CHECK(error_of("[limits]\nmax_line_length = \"100B\"\n") ==
        "test.toml:2: limits.max_line_length: must be between 1KiB and 16MiB, got 100B");
  CHECK(error_of("[limits]\nmax_literal_size = -5\n") ==
        "test.toml:2: limits.max_literal_size: must not be negative, got -5");
  CHECK(contains(error_of("[limits]\nmax_literal_size = \"5GiB\"\n"), "1B and 4GiB"));
  CHECK(contains(error_of("[limits]\nmax_literal_size = \"64 megs\"\n"), "unknown unit"));
}

TEST_CASE("config: an idle timeout below 30m is allowed but never cuts IDLE short", "[config]") {
  const Config short_idle = load_ok("[limits]\nidle_timeout = \"5m\"\n");
  CHECK(short_idle.limits.idle_timeout == std::chrono::minutes{5});
  CHECK(short_idle.limits.idle_command_timeout() == min30);
  const Config long_idle = load_ok("[limits]\nidle_timeout = \"2h\"\n");
  CHECK(long_idle.limits.idle_command_timeout() == std::chrono::hours{2});
  CHECK(Config{}.limits.idle_command_timeout() == std::chrono::minutes{31});
}

TEST_CASE("config: every error is reported together, in file order", "[config]") {
  const auto errors = errors_of(R"([listen]
imaps = "nonsense"
imap = "0.0.0.0:70000"
[tls]
min_version = "1.0"
bogus = 1
[upstream]
port = 0
tls = "ssl"
[limits]
idle_timeout = "forever"
max_literal_size = "lots"
[log]
level = "loud"
)");
  const std::vector<std::string> expected_prefixes = {
      "test.toml:2: listen.imaps: expected host:port, got \"nonsense\"",
      "test.toml:3: listen.imap: expected host:port, got \"0.0.0.0:70000\"",
      "test.toml:5: tls.min_version: ",
      "test.toml:6: tls.bogus: unknown key",
      "test.toml:8: upstream.port: ",
      "test.toml:9: upstream.tls: ",
      "test.toml:11: limits.idle_timeout: ",
      "test.toml:12: limits.max_literal_size: ",
      "test.toml:14: log.level: ",
  };
  REQUIRE(errors.size() == expected_prefixes.size());
  for (std::size_t i = 0; i < errors.size(); ++i) {
    INFO(errors[i]);
    CHECK(starts_with(errors[i], expected_prefixes[i]));
  }
}

TEST_CASE("config: TOML syntax errors carry line and column", "[config]") {
  const auto errors = errors_of("[listen]\nimaps = \"0.0.0.0:993\"\nimap = \n");
  REQUIRE(errors.size() == 1);
  CHECK(starts_with(errors[0], "test.toml:3:"));
  CHECK(contains(errors[0], "TOML syntax error"));

  const ConfigResult dup = load_config("[log]\nlevel = \"info\"\nlevel = \"debug\"\n", "d.toml");
  REQUIRE_FALSE(dup.ok());
  REQUIRE(dup.errors().size() == 1);
  CHECK(dup.errors()[0].line == 3);
  CHECK(dup.errors()[0].column > 0);
  CHECK(dup.errors()[0].key.empty());
  CHECK(starts_with(dup.errors()[0].to_string(),
                    "d.toml:3:" + std::to_string(dup.errors()[0].column) + ": "));

  CHECK(starts_with(error_of("[log\n"), "test.toml:1:"));
  CHECK(starts_with(error_of("\n\n[log]\nlevel = \"unterminated\n"), "test.toml:4:"));
}

TEST_CASE("config: hostile input never throws and never echoes control bytes", "[config]") {
  const std::string inputs[] = {
      std::string("\xff\xfe\x00\x01", 4),
      std::string("[log]\nlevel = \"\xc3\x28\"\n"),
      std::string(100'000, '['),
      std::string("a = ") + std::string(5'000, '['),
      std::string("[listen]\nimaps = \"\\u001b[2J\"\n"),
      std::string("[listen]\n\"\\u001b[31mevil\" = 1\n"),
  };
  for (const std::string& text : inputs) {
    ConfigResult r = ConfigResult(Config{});
    REQUIRE_NOTHROW(r = load_config(text, "h.toml"));
    REQUIRE_FALSE(r.ok());
    for (const auto& e : r.errors()) {
      const std::string line = e.to_string();
      CHECK(line.find('\x1b') == std::string::npos);
      CHECK(line.find('\n') == std::string::npos);
      CHECK(line.size() < 600);
    }
  }
}

TEST_CASE("config: the example file parses clean and shows the defaults", "[config]") {
  const std::string path = std::string(ICALGATE_TEST_DATA_DIR) + "/../docker/icalgate.example.toml";
  const ConfigResult r = load_config_file(path);
  if (!r.ok()) {
    for (const auto& e : r.errors()) {
      UNSCOPED_INFO(e.to_string());
    }
  }
  REQUIRE(r.ok());
  CHECK(r.value() == Config{});
  // Every key of the contract appears in it, uncommented.
  const ConfigText text = read_config_text(path);
  REQUIRE(text.ok());
  for (const char* key : {"\nimaps = ",
                          "\nimap = ",
                          "\nproxy_protocol = ",
                          "\ncert = ",
                          "\nkey = ",
                          "\nmin_version = ",
                          "\nhost = ",
                          "\nport = ",
                          "\ntls = ",
                          "\nca_file = ",
                          "\nserver_name = ",
                          "\nconnect_timeout = ",
                          "\nsession_cache = ",
                          "\nmax_connections = ",
                          "\nmax_connections_per_ip = ",
                          "\npreauth_timeout = ",
                          "\nidle_timeout = ",
                          "\nmax_line_length = ",
                          "\nmax_literal_size = ",
                          "\nmax_bad_commands = ",
                          "\nlogin_failure_delay = ",
                          "\nshutdown_grace = ",
                          "\nlevel = ",
                          "\nformat = ",
                          "\nenabled = ",
                          "\naccounts = ",
                          "\nmax_message_size = ",
                          "\ndry_run = ",
                          "\nstate = ",
                          "\n[auth]\n",
                          "\nmode = ",
                          "\nclient_id = ",
                          "\nclient_secret_file = ",
                          "\ncertificate_file = ",
                          "\nprivate_key_file = ",
                          "\nauthority = ",
                          "\ntenant = ",
                          "\nstore = ",
                          "\n[auth.accounts]\n",
                          "\n[admin]\n",
                          "\nlisten = ",
                          "\nhostnames = "}) {
    INFO(key);
    CHECK(contains(text.text, key));
  }
  // [graph] is commented out (its presence turns Graph on), but every key is documented.
  for (const char* key :
       {"\n# [graph]\n", "\n# tenant = ", "\n# client_id = ", "\n# client_secret_file = ",
        "\n# certificate_file = ", "\n# private_key_file = ", "\n# authority = ", "\n# endpoint = ",
        "\n# ca_file = ", "\n# request_timeout = ", "\n# overall_timeout = ", "\n# upn_suffix = ",
        "\n# listing = ", "\n# listing_interval = ", "\n# [graph.upn]\n"}) {
    INFO(key);
    CHECK(contains(text.text, key));
  }
}

TEST_CASE("config: the example's [graph] table, uncommented, is valid", "[config]") {
  const std::string path = std::string(ICALGATE_TEST_DATA_DIR) + "/../docker/icalgate.example.toml";
  const ConfigText text = read_config_text(path);
  REQUIRE(text.ok());
  // Uncomment the [graph] block; of the two credentials keep the secret, as the file says.
  std::string uncommented;
  std::istringstream lines(text.text);
  bool in_graph = false;
  for (std::string line; std::getline(lines, line);) {
    if (line == "# [graph]") {
      in_graph = true;
    } else if (line.rfind("[", 0) == 0) {
      in_graph = false;
    }
    if (in_graph && line.rfind("# ", 0) == 0 && line.rfind("# #", 0) != 0) {
      line = line.substr(2);
    }
    uncommented += line + "\n";
  }
  const Config c = load_ok(uncommented);
  REQUIRE(c.graph.has_value());
  CHECK(c.graph->client.tenant == "contoso.onmicrosoft.com");
  CHECK(c.graph->client.client_secret_file == "/etc/icalgate/graph-secret");
  CHECK(c.graph->client.authority == icalgate::calendar::GraphConfig{}.authority);
  CHECK(c.graph->client.endpoint == icalgate::calendar::GraphConfig{}.endpoint);
  CHECK(c.graph->client.request_timeout == icalgate::calendar::GraphConfig{}.request_timeout);
  CHECK(c.graph->client.overall_timeout == icalgate::calendar::GraphConfig{}.overall_timeout);
  CHECK(c.graph->upn_suffix == GraphSection{}.upn_suffix);
  CHECK(c.graph->listing == GraphSection{}.listing);
  CHECK(c.graph->listing_interval == GraphSection{}.listing_interval);
  CHECK(c.graph->upn_for_login("JDoe") == "john.doe@contoso.com");
}

TEST_CASE("config: check-config prints ok or every error with its line", "[config]") {
  SECTION("valid") {
    const TempFile f("[upstream]\nhost = \"127.0.0.1\"\nport = 10993\n");
    const CliRun run = run_cli(f.path());
    CHECK(run.status == 0);
    CHECK(run.out == f.path() + ": ok\n");
    CHECK(run.err.empty());
  }
  SECTION("invalid") {
    const TempFile f("[upstream]\nport = 0\n[log]\nlevel = \"loud\"\nextra = 1\n");
    const CliRun run = run_cli(f.path());
    CHECK(run.status == 1);
    CHECK(run.out.empty());
    std::istringstream lines(run.err);
    std::vector<std::string> got;
    for (std::string line; std::getline(lines, line);) {
      got.push_back(line);
    }
    REQUIRE(got.size() == 3);
    CHECK(starts_with(got[0], f.path() + ":2: upstream.port: "));
    CHECK(starts_with(got[1], f.path() + ":4: log.level: "));
    CHECK(starts_with(got[2], f.path() + ":5: log.extra: unknown key"));
  }
  SECTION("unreadable") {
    const TempFile f("");
    const CliRun missing = run_cli(f.dir() + "/absent.toml");
    CHECK(missing.status == 2);
    CHECK(contains(missing.err, "absent.toml: cannot read: "));
    const CliRun directory = run_cli(f.dir());
    CHECK(directory.status == 2);
    CHECK(contains(directory.err, "not a regular file"));
  }
  SECTION("too large") {
    const TempFile f(std::string(max_config_file_size + 1, '#'));
    const CliRun run = run_cli(f.path());
    CHECK(run.status == 2);
    CHECK(contains(run.err, "larger than 1MiB"));
  }
  SECTION("usage") {
    std::string name = "x.toml";
    char* const none[] = {nullptr};
    CHECK(run_check_config(std::span<char* const>(none, 0)) == 2);
    char* const two[] = {name.data(), name.data()};
    CHECK(run_check_config(std::span<char* const>(two, 2)) == 2);
  }
}

TEST_CASE("config: load_config_file reports an unreadable file as one error", "[config]") {
  const ConfigResult r = load_config_file("/nonexistent/icalgate.toml");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.errors().size() == 1);
  CHECK(starts_with(r.errors()[0].to_string(), "/nonexistent/icalgate.toml: cannot read: "));
}

namespace {

// A valid [graph] table followed by `extra` lines; tenant is on line 2.
std::string graph_with(const std::string& extra) {
  return "[graph]\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"abc\"\n"
         "client_secret_file = \"/run/secrets/graph\"\n" +
         extra;
}

} // namespace

TEST_CASE("config: without [graph] there is no Graph, and [rewrite] has its defaults", "[config]") {
  const Config c = load_ok("");
  CHECK_FALSE(c.graph.has_value());
  CHECK(c.rewrite.enabled);
  CHECK(c.rewrite.accounts.empty());
  CHECK(c.rewrite.max_message_size == 25 * 1024 * 1024);
  CHECK_FALSE(c.rewrite.dry_run);
  CHECK(c.rewrite.state == "/var/lib/icalgate/rewrite.db");
  CHECK(load_ok("[rewrite]\n") == Config{});

  // The smallest [graph]: the three required keys, everything else at its default.
  const Config g = load_ok(graph_with(""));
  REQUIRE(g.graph.has_value());
  icalgate::calendar::GraphConfig expected;
  expected.tenant = "contoso.onmicrosoft.com";
  expected.client_id = "abc";
  expected.client_secret_file = "/run/secrets/graph";
  CHECK(g.graph->client == expected);
  CHECK(g.graph->client.authority == "https://login.microsoftonline.com");
  CHECK(g.graph->client.endpoint == "https://graph.microsoft.com");
  CHECK(g.graph->client.request_timeout == std::chrono::seconds{10});
  CHECK(g.graph->client.overall_timeout == std::chrono::seconds{30});
  CHECK(g.graph->upn_suffix.empty());
  CHECK(g.graph->upn_map.empty());
  CHECK(g.graph->listing);
  CHECK(g.graph->listing_interval == std::chrono::minutes{5});
  CHECK_FALSE(g == Config{});
}

TEST_CASE("config: every [graph] and [rewrite] key is read", "[config]") {
  const Config c = load_ok(R"([graph]
tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
client_id = "11111111-2222-3333-4444-555555555555"
certificate_file = "/etc/icalgate/graph.crt"
private_key_file = "/etc/icalgate/graph.key"
client_secret_file = ""
authority = "http://127.0.0.1:18080/login"
endpoint = "http://[::1]:18081"
ca_file = "/srv/tls/graph-ca.pem"
request_timeout = "2s"
overall_timeout = "1m"
upn_suffix = "@contoso.com"
listing = false
listing_interval = "90s"
[graph.upn]
jdoe = "john.doe@contoso.com"
"Mary Major" = "mary@fabrikam.com"
[rewrite]
enabled = false
accounts = ["alice@contoso.com", "@fabrikam.com"]
max_message_size = "1GiB"
dry_run = true
state = "/srv/icalgate/state.db"
)");
  REQUIRE(c.graph.has_value());
  const GraphSection& g = *c.graph;
  CHECK(g.client.tenant == "72f988bf-86f1-41af-91ab-2d7cd011db47");
  CHECK(g.client.client_id == "11111111-2222-3333-4444-555555555555");
  CHECK(g.client.client_secret_file.empty());
  CHECK(g.client.certificate_file == "/etc/icalgate/graph.crt");
  CHECK(g.client.private_key_file == "/etc/icalgate/graph.key");
  CHECK(g.client.authority == "http://127.0.0.1:18080/login");
  CHECK(g.client.endpoint == "http://[::1]:18081");
  CHECK(g.client.ca_file == "/srv/tls/graph-ca.pem");
  CHECK(g.client.request_timeout == std::chrono::seconds{2});
  CHECK(g.client.overall_timeout == std::chrono::minutes{1});
  CHECK(g.upn_suffix == "@contoso.com");
  CHECK_FALSE(g.listing);
  CHECK(g.listing_interval == std::chrono::seconds{90});
  using Pair = std::pair<std::string, std::string>;
  CHECK(g.upn_map ==
        std::vector<Pair>{{"Mary Major", "mary@fabrikam.com"}, {"jdoe", "john.doe@contoso.com"}});
  CHECK_FALSE(c.rewrite.enabled);
  CHECK(c.rewrite.accounts == std::vector<std::string>{"alice@contoso.com", "@fabrikam.com"});
  CHECK(c.rewrite.max_message_size == 1ULL << 30);
  CHECK(c.rewrite.dry_run);
  CHECK(c.rewrite.state == "/srv/icalgate/state.db");

  // Plain http is fine to every loopback spelling.
  for (const char* url : {"http://localhost:8080", "http://LOCALHOST.", "http://127.9.8.7/x",
                          "https://graph.example.test:8443/v1"}) {
    INFO(url);
    CHECK(load_ok(graph_with(std::string("endpoint = \"") + url + "\"\n")).graph->client.endpoint ==
          url);
  }
}

TEST_CASE("config: [graph] requires a tenant, a client ID and exactly one credential", "[config]") {
  CHECK(error_of("\n[graph]\nclient_id = \"abc\"\nclient_secret_file = \"/s\"\n") ==
        "test.toml:2: graph.tenant: required, e.g. tenant = \"contoso.onmicrosoft.com\"");
  CHECK(starts_with(error_of("[graph]\ntenant = \"contoso.com\"\nclient_secret_file = \"/s\"\n"),
                    "test.toml:1: graph.client_id: required, e.g. client_id = "));
  CHECK(error_of("[graph]\ntenant = \"contoso.com\"\nclient_id = \"abc\"\n") ==
        "test.toml:1: graph.client_secret_file: required: set client_secret_file, or "
        "certificate_file and private_key_file");
  // "" counts as not set, as in `client_secret_file = ""  # or certificate_file + …`.
  CHECK(error_of("[graph]\ntenant = \"contoso.com\"\nclient_id = \"abc\"\n"
                 "client_secret_file = \"\"\n") ==
        "test.toml:4: graph.client_secret_file: required: set client_secret_file, or "
        "certificate_file and private_key_file");
  CHECK(error_of(graph_with("certificate_file = \"/c.pem\"\nprivate_key_file = \"/k.pem\"\n")) ==
        "test.toml:5: graph.certificate_file: set either client_secret_file, or "
        "certificate_file and private_key_file, not both");
  CHECK(error_of(graph_with("private_key_file = \"/k.pem\"\n")) ==
        "test.toml:5: graph.private_key_file: set either client_secret_file, or "
        "certificate_file and private_key_file, not both");
  CHECK(error_of("[graph]\ntenant = \"contoso.com\"\nclient_id = \"abc\"\n"
                 "certificate_file = \"/c.pem\"\n") ==
        "test.toml:4: graph.certificate_file: needs private_key_file as well");
  CHECK(error_of("[graph]\ntenant = \"contoso.com\"\nclient_id = \"abc\"\n"
                 "private_key_file = \"/k.pem\"\n") ==
        "test.toml:4: graph.private_key_file: needs certificate_file as well");
  // A wrongly typed credential is one error, not also a missing one.
  CHECK(error_of("[graph]\ntenant = \"contoso.com\"\nclient_id = \"abc\"\n"
                 "client_secret_file = 5\n") ==
        "test.toml:4: graph.client_secret_file: expected a string, got an integer");
  // Both missing, reported together at the table.
  const auto both = errors_of("x = 1\n[graph]\nclient_secret_file = \"/s\"\n");
  REQUIRE(both.size() == 3);
  CHECK(starts_with(both[0], "test.toml:1: x: unknown key"));
  CHECK(starts_with(both[1], "test.toml:2: graph."));
  CHECK(starts_with(both[2], "test.toml:2: graph."));
  // [graph.upn] alone still makes a [graph] table, which then lacks its required keys.
  const auto implicit = errors_of("[graph.upn]\njdoe = \"john@contoso.com\"\n");
  CHECK(implicit.size() == 3);
  CHECK(contains(implicit[0], "graph.tenant: required"));
  CHECK(error_of("graph = \"contoso\"\n") == "test.toml:1: graph: expected a table, got a string");
  CHECK(error_of("[graphs]\n") == "test.toml:1: graphs: unknown table (did you mean \"graph\"?)");
}

TEST_CASE("config: bad [graph] values are errors naming key and line", "[config]") {
  CHECK(error_of("[graph]\ntenant = \"contoso.com/x\"\nclient_id = \"abc\"\n"
                 "client_secret_file = \"/s\"\n") ==
        "test.toml:2: graph.tenant: expected a tenant ID or domain such as "
        "\"contoso.onmicrosoft.com\", got \"contoso.com/x\"");
  CHECK(contains(error_of("[graph]\ntenant = \"\"\nclient_id = \"abc\"\nclient_secret_file = "
                          "\"/s\"\n"),
                 "test.toml:2: graph.tenant: expected a tenant ID"));
  CHECK(error_of("[graph]\ntenant = \"contoso.com\"\nclient_id = \"\"\nclient_secret_file = "
                 "\"/s\"\n") == "test.toml:3: graph.client_id: must not be empty");
  CHECK(contains(error_of("[graph]\ntenant = \"contoso.com\"\nclient_id = \"a b\"\n"
                          "client_secret_file = \"/s\"\n"),
                 "test.toml:3: graph.client_id: expected the application (client) ID"));
  CHECK(error_of(graph_with("endpoint = \"http://graph.microsoft.com\"\n")) ==
        "test.toml:5: graph.endpoint: plain http is allowed only to a loopback host "
        "(127.0.0.0/8, ::1, localhost), got \"http://graph.microsoft.com\"; use https");
  CHECK(starts_with(error_of(graph_with("authority = \"http://10.0.0.1:8080\"\n")),
                    "test.toml:5: graph.authority: plain http is allowed only to a loopback"));
  CHECK(starts_with(error_of(graph_with("authority = \"http://[::2]:8080\"\n")),
                    "test.toml:5: graph.authority: plain http is allowed only to a loopback"));
  CHECK(starts_with(error_of(graph_with("endpoint = \"http://localhost.evil.test\"\n")),
                    "test.toml:5: graph.endpoint: plain http is allowed only to a loopback"));
  CHECK(error_of(graph_with("endpoint = \"ftp://graph.microsoft.com\"\n")) ==
        "test.toml:5: graph.endpoint: expected an https URL such as "
        "\"https://graph.microsoft.com\", got \"ftp://graph.microsoft.com\"");
  CHECK(error_of(graph_with("authority = \"login.microsoftonline.com\"\n")) ==
        "test.toml:5: graph.authority: expected an https URL such as "
        "\"https://login.microsoftonline.com\", got \"login.microsoftonline.com\"");
  CHECK(contains(error_of(graph_with("endpoint = \"https://user@graph.example\"\n")), "userinfo"));
  CHECK(contains(error_of(graph_with("endpoint = \"https://graph.example:0\"\n")), "bad port"));
  CHECK(contains(error_of(graph_with("endpoint = \"https://graph example\"\n")),
                 "invalid character in host name"));
  CHECK(error_of(graph_with("endpoint = \"https://graph.example/v1?x=1\"\n")) ==
        "test.toml:5: graph.endpoint: takes no query or fragment, got "
        "\"https://graph.example/v1?x=1\"");
  CHECK(error_of(graph_with("request_timeout = 10\n")) ==
        "test.toml:5: graph.request_timeout: expected a duration string with a unit such as "
        "\"10s\", got a bare number");
  CHECK(error_of(graph_with("overall_timeout = \"50ms\"\n")) ==
        "test.toml:5: graph.overall_timeout: must be between 100ms and 30d, got \"50ms\"");
  CHECK(error_of(graph_with("listing_interval = \"0\"\n")) ==
        "test.toml:5: graph.listing_interval: must be between 1s and 30d, got \"0\"");
  CHECK(error_of(graph_with("listing = \"yes\"\n")) ==
        "test.toml:5: graph.listing: expected true or false, got a string");
  CHECK(error_of(graph_with("upn_suffix = \"contoso.com\"\n")) ==
        "test.toml:5: graph.upn_suffix: expected \"@domain\" such as \"@contoso.com\", or \"\", "
        "got \"contoso.com\"");
  CHECK(contains(error_of(graph_with("upn_suffix = \"@\"\n")), "graph.upn_suffix"));
  CHECK(contains(error_of(graph_with("upn_suffix = \"a@contoso.com\"\n")), "graph.upn_suffix"));
  CHECK(error_of(graph_with("scope = \"x\"\n")) == "test.toml:5: graph.scope: unknown key");
  CHECK(error_of(graph_with("client_secret = \"hunter2\"\n")) ==
        "test.toml:5: graph.client_secret: unknown key");
  CHECK(error_of(graph_with("tennant = \"x\"\n")) ==
        "test.toml:5: graph.tennant: unknown key (did you mean \"tenant\"?)");
}

TEST_CASE("config: [graph.upn] maps logins to UPNs given as strings", "[config]") {
  CHECK(error_of(graph_with("[graph.upn]\njdoe = 5\n")) ==
        "test.toml:6: graph.upn.jdoe: expected a string, got an integer");
  CHECK(error_of(graph_with("[graph.upn]\njdoe = \"john\"\n")) ==
        "test.toml:6: graph.upn.jdoe: expected a UPN such as \"alice@contoso.com\", got \"john\"");
  CHECK(contains(error_of(graph_with("[graph.upn]\njdoe = \"@contoso.com\"\n")),
                 "graph.upn.jdoe: expected a UPN"));
  CHECK(error_of(graph_with("[graph.upn]\n\"\" = \"a@b.c\"\n")) ==
        "test.toml:6: graph.upn: a login name cannot be empty");
  CHECK(error_of(graph_with("[graph.upn]\nsub = { a = \"b\" }\n")) ==
        "test.toml:6: graph.upn.sub: expected a string, got a table");
  CHECK(error_of(graph_with("upn = \"jdoe\"\n")) ==
        "test.toml:5: graph.upn: expected a table of \"login\" = \"upn@domain\", got a string");
  // The later of two spellings of one login is the error, whatever their byte order.
  CHECK(error_of(graph_with("[graph.upn]\nalice = \"a@x.com\"\nALICE = \"b@x.com\"\n")) ==
        "test.toml:7: graph.upn.ALICE: the same login as \"alice\" (logins match "
        "case-insensitively)");
  CHECK(error_of(graph_with("[graph.upn]\nALICE = \"a@x.com\"\nalice = \"b@x.com\"\n")) ==
        "test.toml:7: graph.upn.alice: the same login as \"ALICE\" (logins match "
        "case-insensitively)");
}

TEST_CASE("config: bad [rewrite] values are errors naming key and line", "[config]") {
  CHECK(error_of("[rewrite]\naccounts = \"@contoso.com\"\n") ==
        "test.toml:2: rewrite.accounts: expected an array of \"user@domain\" or \"@domain\" "
        "strings, got a string");
  CHECK(error_of("[rewrite]\naccounts = [\n  \"@contoso.com\",\n  \"alice\",\n]\n") ==
        "test.toml:4: rewrite.accounts: expected \"user@domain\" or \"@domain\", got \"alice\"");
  for (const char* bad : {"", "@", "a@", "a@b@c", "@@b", "a b@c", "a@b c", "a@.b", "a@b."}) {
    INFO("entry: \"" << bad << "\"");
    CHECK(starts_with(error_of(std::string("[rewrite]\naccounts = [\"") + bad + "\"]\n"),
                      "test.toml:2: rewrite.accounts: expected \"user@domain\""));
  }
  CHECK(error_of("[rewrite]\naccounts = [\"@a.b\", 7]\n") ==
        "test.toml:2: rewrite.accounts: expected strings, got an integer");
  CHECK(error_of("[rewrite]\nmax_message_size = \"0\"\n") ==
        "test.toml:2: rewrite.max_message_size: must be between 1B and 1GiB, got 0B");
  CHECK(error_of("[rewrite]\nmax_message_size = \"2GiB\"\n") ==
        "test.toml:2: rewrite.max_message_size: must be between 1B and 1GiB, got 2GiB");
  CHECK(contains(error_of("[rewrite]\nmax_message_size = \"25 megs\"\n"), "unknown unit"));
  CHECK(error_of("[rewrite]\nmax_message_size = -1\n") ==
        "test.toml:2: rewrite.max_message_size: must not be negative, got -1");
  CHECK(load_ok("[rewrite]\nmax_message_size = 1048576\n").rewrite.max_message_size == 1 << 20);
  CHECK(error_of("[rewrite]\nstate = \"\"\n") == "test.toml:2: rewrite.state: must not be empty");
  CHECK(error_of("[rewrite]\nstate = 1\n") ==
        "test.toml:2: rewrite.state: expected a string, got an integer");
  CHECK(error_of("[rewrite]\nenabled = \"no\"\n") ==
        "test.toml:2: rewrite.enabled: expected true or false, got a string");
  CHECK(error_of("[rewrite]\ndry_run = 0\n") ==
        "test.toml:2: rewrite.dry_run: expected true or false, got an integer");
  CHECK(error_of("[rewrite]\ndryrun = true\n") ==
        "test.toml:2: rewrite.dryrun: unknown key (did you mean \"dry_run\"?)");
}

TEST_CASE("config: the UPN for a login name", "[config]") {
  GraphSection g;
  CHECK(g.upn_for_login("alice@contoso.com") == "alice@contoso.com");
  CHECK(g.upn_for_login("alice") == "alice");
  g.upn_suffix = "@contoso.com";
  CHECK(g.upn_for_login("alice") == "alice@contoso.com");
  CHECK(g.upn_for_login("bob@fabrikam.com") == "bob@fabrikam.com"); // has a domain already
  g.upn_map = {{"JDoe", "john.doe@contoso.com"}, {"old@legacy.test", "new@contoso.com"}};
  CHECK(g.upn_for_login("jdoe") == "john.doe@contoso.com"); // the map wins over the suffix
  CHECK(g.upn_for_login("JDOE") == "john.doe@contoso.com");
  CHECK(g.upn_for_login("OLD@Legacy.Test") == "new@contoso.com");
  CHECK(g.upn_for_login("jdoe2") == "jdoe2@contoso.com");
  CHECK(g.upn_for_login("Alice") == "Alice@contoso.com"); // case kept; Graph ignores it

  const Config c = load_ok(graph_with("upn_suffix = \"@contoso.com\"\n[graph.upn]\n"
                                      "\"DOMAIN\\\\jdoe\" = \"john.doe@contoso.com\"\n"));
  CHECK(c.graph->upn_for_login("domain\\JDoe") == "john.doe@contoso.com");
  CHECK(c.graph->upn_for_login("mary") == "mary@contoso.com");
}

TEST_CASE("config: which accounts the rewrite applies to", "[config]") {
  RewriteConfig r;
  CHECK(r.applies_to("anyone@anywhere.test"));
  CHECK(r.applies_to("alice"));
  r.accounts = {"Alice@Contoso.com", "@fabrikam.com"};
  CHECK(r.applies_to("alice@contoso.com"));
  CHECK(r.applies_to("ALICE@CONTOSO.COM"));
  CHECK_FALSE(r.applies_to("bob@contoso.com"));
  CHECK_FALSE(r.applies_to("alice@contoso.com.evil.test"));
  CHECK_FALSE(r.applies_to("xalice@contoso.com"));
  CHECK(r.applies_to("bob@fabrikam.com"));
  CHECK(r.applies_to("Carol@FABRIKAM.COM"));
  CHECK_FALSE(r.applies_to("bob@eu.fabrikam.com")); // a domain, not its subdomains
  CHECK_FALSE(r.applies_to("bob@notfabrikam.com"));
  CHECK_FALSE(r.applies_to("fabrikam.com"));
  CHECK_FALSE(r.applies_to("@fabrikam.com"));
  CHECK_FALSE(r.applies_to(""));

  const Config c = load_ok("[rewrite]\naccounts = [\"@contoso.com\"]\n");
  CHECK(c.rewrite.applies_to("dave@contoso.com"));
  CHECK_FALSE(c.rewrite.applies_to("dave@fabrikam.com"));
}

TEST_CASE("config: [auth] and [admin] defaults", "[config][auth]") {
  const Config c = load_ok("[auth]\n[auth.accounts]\n[admin]\n");
  CHECK(c == Config{});
  CHECK(c.auth.mode == AuthMode::passthrough);
  CHECK(c.auth.client_id.empty());
  CHECK(c.auth.client_secret_file.empty());
  CHECK(c.auth.certificate_file.empty());
  CHECK(c.auth.private_key_file.empty());
  CHECK(c.auth.authority == "https://login.microsoftonline.com");
  CHECK(c.auth.tenant.empty());
  CHECK(c.auth.store == "/var/lib/icalgate/auth.db");
  CHECK(c.auth.accounts.empty());
  REQUIRE(c.admin.listen.has_value());
  CHECK(c.admin.listen->to_string() == "127.0.0.1:9080");
  CHECK(c.admin.cert.empty());
  CHECK(c.admin.key.empty());
  CHECK_FALSE(c.admin.https());
  CHECK(c.admin.hostnames.empty());
  CHECK(to_string(AuthMode::passthrough) == "passthrough");
  CHECK(to_string(AuthMode::delegated) == "delegated");
  CHECK(to_string(AuthMode::app) == "app");
}

TEST_CASE("config: every [auth] and [admin] key is read", "[config][auth]") {
  const Config c = load_ok(R"([auth]
mode = "app"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret_file = "/run/secrets/imap-app"
authority = "http://127.0.0.1:18080/"
tenant = "contoso.onmicrosoft.com"
store = "/srv/icalgate/auth.db"
[auth.accounts]
"@fabrikam.com" = "passthrough"
"Alice@Contoso.com" = "delegated"
[admin]
listen = "[::1]:8443"
cert = "/srv/tls/admin.pem"
key = "/srv/tls/admin.key"
hostnames = ["IMAP.Contoso.com", "mail.fabrikam.com", "192.0.2.7"]
)");
  CHECK(c.auth.mode == AuthMode::app);
  CHECK(c.auth.client_id == "11111111-2222-3333-4444-555555555555");
  CHECK(c.auth.client_secret_file == "/run/secrets/imap-app");
  CHECK(c.auth.authority == "http://127.0.0.1:18080/");
  CHECK(c.auth.tenant == "contoso.onmicrosoft.com");
  CHECK(c.auth.store == "/srv/icalgate/auth.db");
  using Entry = std::pair<std::string, AuthMode>;
  CHECK(c.auth.accounts == std::vector<Entry>{{"@fabrikam.com", AuthMode::passthrough},
                                              {"Alice@Contoso.com", AuthMode::delegated}});
  REQUIRE(c.admin.listen.has_value());
  CHECK(*c.admin.listen == Endpoint{"::1", 8443});
  CHECK(c.admin.cert == "/srv/tls/admin.pem");
  CHECK(c.admin.key == "/srv/tls/admin.key");
  CHECK(c.admin.https());
  // Lower-cased: Thunderbird compares lower-cased server names with them.
  CHECK(c.admin.hostnames ==
        std::vector<std::string>{"imap.contoso.com", "mail.fabrikam.com", "192.0.2.7"});

  const Config cert = load_ok("[auth]\nmode = \"app\"\nclient_id = \"x\"\ntenant = \"t.example\"\n"
                              "certificate_file = \"/a.crt\"\nprivate_key_file = \"/a.key\"\n");
  CHECK(cert.auth.certificate_file == "/a.crt");
  CHECK(cert.auth.private_key_file == "/a.key");
  CHECK_FALSE(load_ok("[admin]\nlisten = \"\"\n").admin.listen.has_value());
}

TEST_CASE("config: the mode for an account", "[config][auth]") {
  AuthConfig a;
  CHECK(a.mode_for("alice@contoso.com") == AuthMode::passthrough);
  CHECK(a.uses(AuthMode::passthrough));
  CHECK_FALSE(a.uses(AuthMode::delegated));
  a.mode = AuthMode::app;
  a.accounts = {{"@Contoso.com", AuthMode::delegated},
                {"alice@contoso.com", AuthMode::passthrough},
                {"@fabrikam.com", AuthMode::passthrough}};
  CHECK(a.mode_for("alice@contoso.com") == AuthMode::passthrough); // its own entry wins
  CHECK(a.mode_for("ALICE@CONTOSO.COM") == AuthMode::passthrough);
  CHECK(a.mode_for("bob@contoso.com") == AuthMode::delegated);
  CHECK(a.mode_for("bob@eu.contoso.com") == AuthMode::app); // a domain, not its subdomains
  CHECK(a.mode_for("carol@fabrikam.com") == AuthMode::passthrough);
  CHECK(a.mode_for("dave@example.test") == AuthMode::app);
  CHECK(a.mode_for("contoso.com") == AuthMode::app);
  CHECK(a.mode_for("") == AuthMode::app);
  CHECK(a.uses(AuthMode::app));
  CHECK(a.uses(AuthMode::delegated));
  CHECK(a.uses(AuthMode::passthrough));

  // The order in the file does not matter: the UPN's own entry wins over its domain's.
  const Config c = load_ok("[auth]\nmode = \"delegated\"\nclient_id = \"x\"\ntenant = \"t.test\"\n"
                           "[auth.accounts]\n\"bob@contoso.com\" = \"delegated\"\n"
                           "\"@contoso.com\" = \"passthrough\"\n");
  CHECK(c.auth.mode_for("bob@contoso.com") == AuthMode::delegated);
  CHECK(c.auth.mode_for("Eve@Contoso.COM") == AuthMode::passthrough);
  CHECK(c.auth.mode_for("eve@fabrikam.com") == AuthMode::delegated);
}

TEST_CASE("config: delegated and app modes need the app registration", "[config][auth]") {
  CHECK(errors_of("[auth]\nmode = \"delegated\"\n") ==
        std::vector<std::string>{
            "test.toml:1: auth.client_id: required when delegated mode is in use, e.g. "
            "client_id = \"00000000-0000-0000-0000-000000000000\"",
            "test.toml:1: auth.tenant: required when delegated mode is in use, e.g. tenant = "
            "\"contoso.onmicrosoft.com\""});
  // An override is enough to need them; "" counts as missing, and blames its own line.
  CHECK(errors_of("[auth]\nclient_id = \"\"\ntenant = \"contoso.com\"\n[auth.accounts]\n"
                  "\"@contoso.com\" = \"app\"\n") ==
        std::vector<std::string>{
            "test.toml:1: auth.client_secret_file: required when app mode is in use: set "
            "client_secret_file, or certificate_file and private_key_file",
            "test.toml:2: auth.client_id: required when app mode is in use, e.g. client_id = "
            "\"00000000-0000-0000-0000-000000000000\""});
  const std::string app = "[auth]\nmode = \"app\"\nclient_id = \"x\"\ntenant = \"t.test\"\n";
  CHECK(error_of(app + "client_secret_file = \"/s\"\ncertificate_file = \"/c\"\n") ==
        "test.toml:6: auth.certificate_file: set either client_secret_file, or certificate_file "
        "and private_key_file, not both");
  CHECK(error_of(app + "private_key_file = \"/k\"\n") ==
        "test.toml:5: auth.private_key_file: needs certificate_file as well");
  // Passthrough needs none of it; a half credential is still a mistake.
  CHECK(load_ok("[auth]\nclient_id = \"x\"\n").auth.client_id == "x");
  CHECK(error_of("[auth]\ncertificate_file = \"/c\"\n") ==
        "test.toml:2: auth.certificate_file: needs private_key_file as well");
}

TEST_CASE("config: bad [auth] values are errors naming key and line", "[config][auth]") {
  CHECK(error_of("[auth]\nmode = \"basic\"\n") ==
        "test.toml:2: auth.mode: expected one of passthrough, delegated, app, got \"basic\"");
  CHECK(error_of("[auth]\nmode = 1\n") == "test.toml:2: auth.mode: expected a string, got an "
                                          "integer");
  CHECK(error_of("[auth]\nclient_id = \"a b\"\n") ==
        "test.toml:2: auth.client_id: expected the application (client) ID, got \"a b\" (spaces "
        "and control characters are not allowed)");
  CHECK(error_of("[auth]\ntenant = \"contoso/evil\"\n") ==
        "test.toml:2: auth.tenant: expected a tenant ID or domain such as "
        "\"contoso.onmicrosoft.com\", got \"contoso/evil\"");
  CHECK(error_of("[auth]\nauthority = \"http://login.example.test\"\n") ==
        "test.toml:2: auth.authority: plain http is allowed only to a loopback host (127.0.0.0/8, "
        "::1, localhost), got \"http://login.example.test\"; use https");
  CHECK(error_of("[auth]\nauthority = \"login.microsoftonline.com\"\n") ==
        "test.toml:2: auth.authority: expected an https URL such as "
        "\"https://login.microsoftonline.com\", got \"login.microsoftonline.com\"");
  CHECK(error_of("[auth]\nstore = \"\"\n") == "test.toml:2: auth.store: must not be empty");
  CHECK(error_of("[auth]\nmodes = \"app\"\n") ==
        "test.toml:2: auth.modes: unknown key (did you mean \"mode\"?)");
  CHECK(error_of("[auth]\naccounts = [\"@contoso.com\"]\n") ==
        "test.toml:2: auth.accounts: expected a table of \"user@domain\" or \"@domain\" = "
        "\"passthrough\", \"delegated\" or \"app\", got an array");
  CHECK(error_of("[auth.accounts]\n\"contoso.com\" = \"app\"\n") ==
        "test.toml:2: auth.accounts.contoso.com: expected an account \"user@domain\" or a domain "
        "\"@domain\" as the key, got \"contoso.com\"");
  CHECK(error_of("[auth.accounts]\n\"@contoso.com\" = \"oauth\"\n") ==
        "test.toml:2: auth.accounts.@contoso.com: expected \"passthrough\", \"delegated\" or "
        "\"app\", got \"oauth\"");
  CHECK(error_of("[auth.accounts]\n\"@contoso.com\" = true\n") ==
        "test.toml:2: auth.accounts.@contoso.com: expected \"passthrough\", \"delegated\" or "
        "\"app\", got a boolean");
  CHECK(error_of("[auth.accounts]\n\"a@contoso.com\" = \"passthrough\"\n"
                 "\"A@Contoso.com\" = \"passthrough\"\n") ==
        "test.toml:3: auth.accounts.A@Contoso.com: the same account as \"a@contoso.com\" "
        "(accounts match case-insensitively)");
}

TEST_CASE("config: bad [admin] values are errors naming key and line", "[config][auth]") {
  CHECK(error_of("[admin]\nlisten = \"9080\"\n") ==
        "test.toml:2: admin.listen: expected host:port, got \"9080\" (missing :port)");
  CHECK(error_of("[admin]\ncert = \"/c.pem\"\n") ==
        "test.toml:2: admin.cert: needs admin.key as well (HTTPS takes both; both \"\" serve "
        "plain HTTP)");
  CHECK(error_of("[admin]\ncert = \"\"\nkey = \"/k.pem\"\n") ==
        "test.toml:3: admin.key: needs admin.cert as well (HTTPS takes both; both \"\" serve "
        "plain HTTP)");
  CHECK(error_of("[admin]\nhostnames = \"imap.contoso.com\"\n") ==
        "test.toml:2: admin.hostnames: expected an array of host names such as "
        "[\"imap.contoso.com\"], got a string");
  CHECK(error_of(
            "[admin]\nhostnames = [\n  \"imap.contoso.com\",\n  \"imap.contoso.com:993\"\n]\n") ==
        "test.toml:4: admin.hostnames: expected a host name such as \"imap.contoso.com\", got "
        "\"imap.contoso.com:993\" (a name without a port; IPv6 addresses without brackets)");
  CHECK(error_of("[admin]\nhostnames = [\"imap.contoso.com.\"]\n") ==
        "test.toml:2: admin.hostnames: expected a host name such as \"imap.contoso.com\", got "
        "\"imap.contoso.com.\" (write it without the final dot)");
  CHECK(error_of("[admin]\nhostnames = [\"imap contoso\"]\n") ==
        "test.toml:2: admin.hostnames: expected a host name such as \"imap.contoso.com\", got "
        "\"imap contoso\" (invalid character in host name)");
  CHECK(error_of("[admin]\nhostnames = [\"a.test\", 7]\n") ==
        "test.toml:2: admin.hostnames: expected strings, got an integer");
  CHECK(error_of("[admin]\nhostnames = [\"IMAP.contoso.com\", \"imap.CONTOSO.com\"]\n") ==
        "test.toml:2: admin.hostnames: lists \"imap.contoso.com\" twice (names match "
        "case-insensitively)");
  CHECK(error_of("[admin]\nport = 9080\n") == "test.toml:2: admin.port: unknown key");
  CHECK(load_ok("[admin]\nhostnames = [\"::1\"]\n[auth]\nmode = \"app\"\nclient_id = \"x\"\n"
                "tenant = \"t.test\"\nclient_secret_file = \"/s\"\n")
            .admin.hostnames == std::vector<std::string>{"::1"});
}

TEST_CASE("config: rules between [auth], [admin] and [listen]", "[config][auth]") {
  const std::string delegated =
      "[auth]\nmode = \"delegated\"\nclient_id = \"x\"\ntenant = \"contoso.com\"\n";
  // Users type their gateway password into /enrol: HTTPS unless on loopback.
  CHECK(error_of(delegated + "[admin]\nlisten = \"0.0.0.0:9080\"\n") ==
        "test.toml:6: admin.listen: delegated mode enrols users here (/enrol), which needs HTTPS "
        "unless the endpoint listens on a loopback address: set admin.cert and admin.key, or "
        "listen on 127.0.0.1");
  CHECK(load_ok(delegated + "[admin]\nlisten = \"0.0.0.0:9080\"\ncert = \"/c\"\nkey = \"/k\"\n")
            .admin.https());
  CHECK(load_ok(delegated + "[admin]\nlisten = \"[::1]:9080\"\n").admin.listen->host == "::1");
  CHECK_FALSE(load_ok(delegated + "[admin]\nlisten = \"\"\n").admin.listen.has_value());
  CHECK(load_ok("[admin]\nlisten = \"0.0.0.0:9080\"\n").admin.listen->host == "0.0.0.0");

  CHECK(error_of("[listen]\nimaps = \"127.0.0.1:9080\"\n") ==
        "test.toml: admin.listen: cannot share the address 127.0.0.1:9080 with listen.imaps");
  CHECK(error_of("[listen]\nimap = \"127.0.0.1:8143\"\n[admin]\nlisten = \"127.0.0.1:8143\"\n") ==
        "test.toml:4: admin.listen: cannot share the address 127.0.0.1:8143 with listen.imap");

  // Thunderbird finds an OAuth2 provider only for server names with a dot.
  CHECK(error_of("[admin]\nhostnames = [\"imap.contoso.com\", \"mailgw\"]\n") ==
        "test.toml:2: admin.hostnames: Thunderbird finds OAuth2 settings only for host names with "
        "a dot, so \"mailgw\" cannot sign in with passthrough; use a name such as "
        "\"imap.contoso.com\"");
  const std::string app = "[auth]\nmode = \"app\"\nclient_id = \"x\"\ntenant = \"t.test\"\n"
                          "client_secret_file = \"/s\"\n";
  CHECK(load_ok(app + "[admin]\nhostnames = [\"mailgw\"]\n").admin.hostnames ==
        std::vector<std::string>{"mailgw"});
}

TEST_CASE("config: the names clients use for the gateway", "[config][auth]") {
  Config c;
  // Wildcard listeners stand for the machine's name.
  CHECK(gateway_hostnames(c, "GW1.Contoso.com") == std::vector<std::string>{"gw1.contoso.com"});
  CHECK(gateway_hostnames(c, "").empty());
  c.listen.imaps = Endpoint{"127.0.0.1", 9993};
  c.listen.imap = Endpoint{"::", 9143};
  CHECK(gateway_hostnames(c, "gw1") == std::vector<std::string>{"127.0.0.1", "gw1"});
  c.listen.imap = Endpoint{"Imap.Contoso.com", 143};
  c.listen.imaps.reset();
  CHECK(gateway_hostnames(c, "gw1") == std::vector<std::string>{"imap.contoso.com"});
  c.listen.imaps = Endpoint{"0:0::0", 993};
  c.listen.imap = Endpoint{"0.0.0.0", 143};
  CHECK(gateway_hostnames(c, "gw1") == std::vector<std::string>{"gw1"});
  // Configured names win.
  c.admin.hostnames = {"imap.contoso.com", "imap.fabrikam.com"};
  CHECK(gateway_hostnames(c, "gw1") ==
        std::vector<std::string>{"imap.contoso.com", "imap.fabrikam.com"});
}
