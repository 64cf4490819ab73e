#pragma once

#include <span>

namespace icalgate::proxy {

// `icalgate inspect FILE [ITEMS]`: prints the untagged FETCH response the gateway would send
// for the message in FILE. `args` are the arguments after "inspect". Returns the exit status.
int run_inspect(std::span<char* const> args);

} // namespace icalgate::proxy
