#pragma once

#include <cstdio>
#include <span>
#include <string>

namespace icalgate::proxy {

// `icalgate check-config FILE`: `args` are the arguments after "check-config". Prints
// "FILE: ok" and returns 0 for a valid file; prints every error as "FILE:LINE: key: message"
// to stderr and returns 1; returns 2 for a usage error or an unreadable file.
int run_check_config(std::span<char* const> args);

// The same for one path with explicit streams, for tests.
int check_config(const std::string& path, std::FILE* out, std::FILE* err);

} // namespace icalgate::proxy
