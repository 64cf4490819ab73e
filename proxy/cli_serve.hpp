#pragma once
// `icalgate --config FILE`: runs the gateway until SIGTERM/SIGINT has drained it.

#include <string>

namespace icalgate::proxy {

// Exit status: 0 after a drain, 2 for an invalid configuration (every error printed),
// 1 when the certificates, the upstream CA file or a listener cannot be set up.
int run_serve(const std::string& config_path);

} // namespace icalgate::proxy
