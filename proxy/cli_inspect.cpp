#include "proxy/cli_inspect.hpp"

#include <cstdio>

namespace icalgate::proxy {

int run_inspect(std::span<char* const> /*args*/) {
  std::fputs("icalgate inspect: not available in this build\n", stderr);
  return 2;
}

} // namespace icalgate::proxy
