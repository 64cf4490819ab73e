// The icalgate executable: dispatches to the gateway and its admin subcommands.

#include "proxy/cli_check_config.hpp"
#include "proxy/cli_enrol.hpp"
#include "proxy/cli_inspect.hpp"
#include "proxy/cli_rewrite.hpp"
#include "proxy/cli_serve.hpp"
#include "proxy/cli_users.hpp"

#include <cstdio>
#include <span>
#include <string_view>

namespace {

constexpr std::string_view usage = R"(usage: icalgate COMMAND [ARGS]

commands:
  --config FILE          run the gateway until SIGTERM/SIGINT (SIGHUP reloads the certificate)
  rewrite --event EVENT.json FILE
                         print the iMIP message served for the OWA-link meeting message in FILE,
                         given the Graph response EVENT.json (exit 1: not rewritten)
  inspect [--rewrite --event EVENT.json] FILE [ITEMS]
                         print the FETCH response the gateway sends for the message in FILE,
                         e.g. icalgate inspect msg.eml 'RFC822.SIZE BODYSTRUCTURE BODY.PEEK[1]'
                         (ITEMS defaults to "RFC822.SIZE BODYSTRUCTURE ENVELOPE")
  users (add UPN [--replace] | enrol UPN [--replace] | revoke UPN | list)
        (--config FILE | --store PATH)
                         manage the app passwords of the delegated and app login modes;
                         add and enrol print the new app password once
  check-config FILE      validate a configuration file: prints "FILE: ok" (exit 0), or every
                         error as FILE:LINE: key: message (exit 1); exit 2 if FILE is unreadable
  --version              print the version
  --help                 print this help
)";

} // namespace

int main(int argc, char** argv) {
  const std::span<char* const> args(argv, static_cast<std::size_t>(argc));
  if (args.size() < 2) {
    std::fputs(usage.data(), stderr);
    return 2;
  }
  const std::string_view command = args[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(usage.data(), stdout);
    return 0;
  }
  if (command == "--version") {
    std::printf("icalgate %s\n", ICALGATE_VERSION_STRING);
    return 0;
  }
  if (command == "--config") {
    if (args.size() != 3) {
      std::fputs("usage: icalgate --config FILE\n", stderr);
      return 2;
    }
    return icalgate::proxy::run_serve(args[2]);
  }
  if (command == "check-config") {
    return icalgate::proxy::run_check_config(args.subspan(2));
  }
  if (command == "rewrite") {
    return icalgate::proxy::run_rewrite(args.subspan(2));
  }
  if (command == "inspect") {
    return icalgate::proxy::run_inspect(args.subspan(2));
  }
  if (command == "users") {
    return icalgate::proxy::run_users(args.subspan(2), icalgate::proxy::enrol_with_device_code);
  }
  std::fprintf(stderr, "icalgate: unknown command '%.*s' (try --help)\n",
               static_cast<int>(command.size() > 64 ? 64 : command.size()), command.data());
  return 2;
}
