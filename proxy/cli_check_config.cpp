#include "proxy/cli_check_config.hpp"

#include "proxy/config.hpp"

#include <string_view>

namespace icalgate::proxy {

int check_config(const std::string& path, std::FILE* out, std::FILE* err) {
  const ConfigText text = read_config_text(path);
  if (!text.ok()) {
    std::fprintf(err, "%s: cannot read: %s\n", path.c_str(), text.error.c_str());
    return 2;
  }
  const ConfigResult result = load_config(text.text, path);
  if (!result.ok()) {
    for (const ConfigError& e : result.errors()) {
      std::fprintf(err, "%s\n", e.to_string().c_str());
    }
    return 1;
  }
  std::fprintf(out, "%s: ok\n", path.c_str());
  return 0;
}

int run_check_config(std::span<char* const> args) {
  if (args.size() != 1 || args[0] == nullptr || std::string_view(args[0]).empty()) {
    std::fputs("usage: icalgate check-config FILE\n", stderr);
    return 2;
  }
  return check_config(args[0], stdout, stderr);
}

} // namespace icalgate::proxy
