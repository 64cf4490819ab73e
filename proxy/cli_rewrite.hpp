#pragma once
// `icalgate rewrite --event EVENT.json FILE`: the rewritten iMIP message for an OWA-link
// meeting message and the Graph response for it, offline (also behind
// `icalgate inspect --rewrite --event EVENT.json FILE [ITEMS]`).

#include <span>
#include <string>
#include <string_view>

namespace icalgate::proxy {

// `args` are the arguments after "rewrite". Prints the message to stdout; returns the exit
// status (0 ok, 1 not rewritten, 2 usage or I/O error).
int run_rewrite(std::span<char* const> args);

} // namespace icalgate::proxy
