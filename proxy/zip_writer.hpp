#pragma once
// A ZIP archive of stored (uncompressed) entries, the same bytes for the same entries: fixed
// timestamps, no extra fields, no data descriptors, no ZIP64. Enough for a small WebExtension
// (.xpi); PKWARE APPNOTE 6.3.10 sections 4.3.7 (local header), 4.3.12 (central directory) and
// 4.3.16 (end of central directory).

#include "protocol/result.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace icalgate::proxy {

struct ZipEntry {
  std::string name; // a relative path with '/' separators, e.g. "manifest.json"
  std::string data;
};

// Entries in the given order. Fails for an empty or unsafe name ("..", absolute, '\\'),
// a duplicate, or sizes that would need ZIP64 (more than 65535 entries, 4 GiB).
protocol::Result<std::string> write_zip(const std::vector<ZipEntry>& entries);

} // namespace icalgate::proxy
