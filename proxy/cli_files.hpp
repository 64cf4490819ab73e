#pragma once
// What the offline subcommands (inspect, rewrite) share: bounded reading of the files an
// admin names, and file names made fit for one line of stderr.

#include <ctime>
#include <string>
#include <string_view>

namespace icalgate::proxy {

// Reads a regular file of at most 256 MiB; false with `error` set otherwise. `mtime`, when
// given, receives the file's modification time.
bool read_cli_file(const char* path, std::string& out, std::string& error,
                   std::time_t* mtime = nullptr);

// Printable ASCII only, at most 200 characters: untrusted text for a one-line message.
std::string printable(std::string_view s);

} // namespace icalgate::proxy
