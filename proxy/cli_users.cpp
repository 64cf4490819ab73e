#include "proxy/cli_users.hpp"

#include "proxy/auth_store.hpp"
#include "proxy/cli_files.hpp"
#include "proxy/config.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

namespace icalgate::proxy {

std::string auth_store_path(const Config& config) {
  return config.auth.store;
}

namespace {

constexpr std::string_view usage =
    R"(usage: icalgate users COMMAND [UPN] (--config FILE | --store PATH)

commands:
  add UPN [--replace]  app mode: issue an app password for UPN and print it, once
                       (--replace: UPN has credentials already; they are dropped)
  enrol UPN [--replace]
                       delegated mode: sign UPN in with Microsoft's device-code flow, then
                       issue an app password and print it, once
  revoke UPN           remove everything stored for UPN
  list                 every user with mode and state (no secrets)

The store is the configuration's [auth] store; --store PATH names it directly (and wins).
)";

struct Options {
  std::string command;
  std::string upn;
  std::optional<std::string> config_path;
  std::optional<std::string> store_path;
  bool replace = false;
};

// nullopt after printing why (usage error).
std::optional<Options> parse(std::span<char* const> args, std::FILE* err) {
  Options o;
  std::vector<std::string_view> positional;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i] != nullptr ? args[i] : "";
    if (a == "--config" || a == "--store") {
      if (i + 1 >= args.size() || args[i + 1] == nullptr || *args[i + 1] == '\0') {
        std::fprintf(err, "icalgate users: %s needs a value\n", a.data());
        return std::nullopt;
      }
      (a == "--config" ? o.config_path : o.store_path) = args[++i];
    } else if (a == "--replace") {
      o.replace = true;
    } else if (a.starts_with("-")) {
      std::fprintf(err, "icalgate users: unknown option '%s'\n", printable(a).c_str());
      return std::nullopt;
    } else {
      positional.push_back(a);
    }
  }
  if (positional.empty()) {
    std::fputs(usage.data(), err);
    return std::nullopt;
  }
  o.command = positional[0];
  const bool wants_upn = o.command == "add" || o.command == "enrol" || o.command == "revoke";
  if (!wants_upn && o.command != "list") {
    std::fprintf(err, "icalgate users: unknown command '%s'\n%s", printable(o.command).c_str(),
                 usage.data());
    return std::nullopt;
  }
  if (positional.size() != (wants_upn ? 2U : 1U)) {
    std::fputs(usage.data(), err);
    return std::nullopt;
  }
  if (wants_upn) {
    o.upn = positional[1];
  }
  if (o.replace && o.command != "add" && o.command != "enrol") {
    std::fputs("icalgate users: --replace is for add and enrol\n", err);
    return std::nullopt;
  }
  if (!o.config_path && !o.store_path) {
    std::fputs("icalgate users: give --config FILE or --store PATH\n", err);
    return std::nullopt;
  }
  return o;
}

std::string utc(std::chrono::sys_seconds t) {
  const std::time_t seconds = static_cast<std::time_t>(t.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The user's entry, if any (the store has no single-user read without the password).
protocol::Result<std::optional<AuthUser>> find_user(AuthStore& store, const std::string& upn) {
  auto users = store.list();
  if (!users) {
    return users.error();
  }
  const std::string u = normalize_upn(upn);
  for (AuthUser& user : *users) {
    if (user.upn == u) {
      return std::optional<AuthUser>(std::move(user));
    }
  }
  return std::optional<AuthUser>();
}

int add(AuthStore& store, const Options& o, std::FILE* out, std::FILE* err) {
  const std::string name = printable(normalize_upn(o.upn));
  auto existing = find_user(store, o.upn);
  if (!existing) {
    std::fprintf(err, "icalgate users add: %s\n", existing.error().message.c_str());
    return 1;
  }
  if (*existing && !o.replace) {
    std::fprintf(err,
                 "icalgate users add: %s already has credentials (%s mode); --replace issues a "
                 "new app password and drops them\n",
                 name.c_str(), std::string(to_string((*existing)->mode)).c_str());
    return 1;
  }
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  auto password = store.issue(o.upn, AuthMode::app, std::nullopt, now);
  if (!password) {
    std::fprintf(err, "icalgate users add: %s\n", password.error().message.c_str());
    return 1;
  }
  std::fprintf(err, "%s: app password issued (app mode)%s; it is shown only this once:\n",
               name.c_str(), *existing ? ", the previous credentials are gone" : "");
  const std::string_view text = password->view();
  std::fprintf(out, "%.*s\n", static_cast<int>(text.size()), text.data());
  std::fflush(out);
  return 0;
}

int revoke(AuthStore& store, const Options& o, std::FILE* out, std::FILE* err) {
  const std::string name = printable(normalize_upn(o.upn));
  auto removed = store.revoke(o.upn);
  if (!removed) {
    std::fprintf(err, "icalgate users revoke: %s\n", removed.error().message.c_str());
    return 1;
  }
  if (!*removed) {
    std::fprintf(err, "icalgate users revoke: %s has no credentials\n", name.c_str());
    return 1;
  }
  std::fprintf(out, "%s: revoked; everything stored for the user is removed\n", name.c_str());
  return 0;
}

int list(AuthStore& store, std::FILE* out, std::FILE* err) {
  auto users = store.list();
  if (!users) {
    std::fprintf(err, "icalgate users list: %s\n", users.error().message.c_str());
    return 1;
  }
  std::size_t width = 3;
  for (const AuthUser& u : *users) {
    width = std::max(width, printable(u.upn).size());
  }
  const int w = static_cast<int>(width);
  std::fprintf(out, "%-*s  %-9s  %-20s  %-20s  %s\n", w, "UPN", "MODE", "CREATED", "UPDATED",
               "STATE");
  for (const AuthUser& u : *users) {
    const std::string state =
        u.needs_reenrol ? "needs re-enrolment: " + printable(u.reenrol_reason) : "ok";
    std::fprintf(out, "%-*s  %-9s  %-20s  %-20s  %s\n", w, printable(u.upn).c_str(),
                 std::string(to_string(u.mode)).c_str(), utc(u.created).c_str(),
                 utc(u.updated).c_str(), state.c_str());
  }
  return 0;
}

} // namespace

int run_users(std::span<char* const> args, std::FILE* out, std::FILE* err,
              const UsersEnrol& enrol) {
  const auto options = parse(args, err);
  if (!options) {
    return 2;
  }
  std::optional<Config> config;
  if (options->config_path) {
    auto loaded = load_config_file(*options->config_path);
    if (!loaded) {
      for (const ConfigError& e : loaded.errors()) {
        std::fprintf(err, "%s\n", e.to_string().c_str());
      }
      return 2;
    }
    config = std::move(loaded.value());
  }
  if (options->command == "enrol" && !enrol) {
    std::fputs("icalgate users enrol: the device-code enrolment is not available in this "
               "build\n",
               err);
    return 2;
  }
  const std::string path = options->store_path ? *options->store_path : auth_store_path(*config);
  // Only issuing creates a store: a mistyped path must not list an empty one.
  std::error_code ec;
  if ((options->command == "list" || options->command == "revoke") &&
      !std::filesystem::exists(path, ec)) {
    std::fprintf(err, "icalgate users %s: no store at '%s'\n", options->command.c_str(),
                 printable(path).c_str());
    return 1;
  }
  auto store = AuthStore::open(path);
  if (!store) {
    std::fprintf(err, "icalgate users: %s\n", store.error().message.c_str());
    return 1;
  }
  if (options->command == "add") {
    return add(**store, *options, out, err);
  }
  if (options->command == "revoke") {
    return revoke(**store, *options, out, err);
  }
  if (options->command == "list") {
    return list(**store, out, err);
  }
  // enrol
  if (!options->replace) {
    auto existing = find_user(**store, options->upn);
    if (!existing) {
      std::fprintf(err, "icalgate users enrol: %s\n", existing.error().message.c_str());
      return 1;
    }
    if (*existing) {
      std::fprintf(err,
                   "icalgate users enrol: %s already has credentials (%s mode); --replace "
                   "enrols anew and drops them\n",
                   printable((*existing)->upn).c_str(),
                   std::string(to_string((*existing)->mode)).c_str());
      return 1;
    }
  }
  return enrol(config ? &*config : nullptr, **store, options->upn, out, err);
}

int run_users(std::span<char* const> args, const UsersEnrol& enrol) {
  return run_users(args, stdout, stderr, enrol);
}

} // namespace icalgate::proxy
