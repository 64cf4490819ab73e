#include "proxy/cli_rewrite.hpp"

#include "proxy/cli_files.hpp"

#include "calendar/meeting_rewrite.hpp"

#include <cstdio>

namespace icalgate::proxy {

int run_rewrite(std::span<char* const> args) {
  if (args.size() != 3 || std::string_view(args[0]) != "--event") {
    std::fputs("icalgate rewrite: usage: icalgate rewrite --event EVENT.json FILE\n", stderr);
    return 2;
  }
  std::string event;
  std::string original;
  std::string error;
  if (!read_cli_file(args[1], event, error)) {
    std::fprintf(stderr, "icalgate rewrite: %s: %s\n", printable(args[1]).c_str(), error.c_str());
    return 2;
  }
  if (!read_cli_file(args[2], original, error)) {
    std::fprintf(stderr, "icalgate rewrite: %s: %s\n", printable(args[2]).c_str(), error.c_str());
    return 2;
  }
  auto rewritten = calendar::rewrite_meeting_message(original, event);
  if (!rewritten) {
    std::fprintf(stderr, "icalgate rewrite: %s: %s\n", printable(args[2]).c_str(),
                 printable(rewritten.error().message).c_str());
    return 1;
  }
  std::fwrite(rewritten->data(), 1, rewritten->size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 2;
}

} // namespace icalgate::proxy
