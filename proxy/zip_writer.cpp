#include "proxy/zip_writer.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <string_view>

namespace icalgate::proxy {

namespace {

// 1980-01-01 00:00:00, the earliest MS-DOS date: no clock reaches the archive.
constexpr std::uint16_t dos_time = 0;
constexpr std::uint16_t dos_date = (1 << 5) | 1;
constexpr std::uint16_t version_needed = 10; // 1.0: stored entries, no extensions

void put16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v & 0xff);
  out += static_cast<char>(v >> 8);
}

void put32(std::string& out, std::uint32_t v) {
  for (int shift = 0; shift < 32; shift += 8) {
    out += static_cast<char>((v >> shift) & 0xff);
  }
}

bool safe_name(const std::string& name) {
  if (name.empty() || name.size() > 0xffff || name.front() == '/' ||
      name.find('\\') != std::string::npos || name.find('\0') != std::string::npos) {
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    const std::string_view part(name.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return false;
    }
    start = end + 1;
  }
  return true;
}

// Fields shared by the local header and the central directory entry, from "version needed"
// to the file name length.
void put_common(std::string& out, std::uint32_t crc, std::uint32_t size, std::uint16_t name_len) {
  put16(out, version_needed);
  put16(out, 0); // flags: no encryption, no data descriptor, ASCII names
  put16(out, 0); // method: stored
  put16(out, dos_time);
  put16(out, dos_date);
  put32(out, crc);
  put32(out, size); // compressed size = size: stored
  put32(out, size);
  put16(out, name_len);
}

} // namespace

protocol::Result<std::string> write_zip(const std::vector<ZipEntry>& entries) {
  using protocol::Errc;
  if (entries.size() > 0xffff) {
    return protocol::make_error(Errc::too_many, "more than 65535 entries need ZIP64");
  }
  std::vector<std::uint32_t> crcs;
  std::set<std::string_view> names;
  std::uint64_t total = 22;
  for (const ZipEntry& e : entries) {
    if (!safe_name(e.name)) {
      return protocol::make_error(Errc::syntax, "unsafe entry name in a zip archive");
    }
    if (!names.insert(e.name).second) {
      return protocol::make_error(Errc::syntax, "duplicate entry " + e.name);
    }
    total += 30 + 46 + 2 * e.name.size() + e.data.size();
    if (total > std::numeric_limits<std::uint32_t>::max()) {
      return protocol::make_error(Errc::too_many, "archive larger than 4 GiB needs ZIP64");
    }
    const auto* bytes = reinterpret_cast<const Bytef*>(e.data.data());
    crcs.push_back(
        static_cast<std::uint32_t>(crc32_z(crc32_z(0, Z_NULL, 0), bytes, e.data.size())));
  }

  std::string out;
  out.reserve(static_cast<std::size_t>(total));
  std::vector<std::uint32_t> offsets;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const ZipEntry& e = entries[i];
    offsets.push_back(static_cast<std::uint32_t>(out.size()));
    put32(out, 0x04034b50);
    put_common(out, crcs[i], static_cast<std::uint32_t>(e.data.size()),
               static_cast<std::uint16_t>(e.name.size()));
    put16(out, 0); // extra field length
    out += e.name;
    out += e.data;
  }
  const auto directory_offset = static_cast<std::uint32_t>(out.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const ZipEntry& e = entries[i];
    put32(out, 0x02014b50);
    put16(out, version_needed); // version made by: MS-DOS host, so no Unix modes to invent
    put_common(out, crcs[i], static_cast<std::uint32_t>(e.data.size()),
               static_cast<std::uint16_t>(e.name.size()));
    put16(out, 0); // extra field length
    put16(out, 0); // comment length
    put16(out, 0); // disk number
    put16(out, 0); // internal attributes
    put32(out, 0); // external attributes
    put32(out, offsets[i]);
    out += e.name;
  }
  const auto directory_size = static_cast<std::uint32_t>(out.size() - directory_offset);
  put32(out, 0x06054b50);
  put16(out, 0); // this disk
  put16(out, 0); // disk with the directory
  put16(out, static_cast<std::uint16_t>(entries.size()));
  put16(out, static_cast<std::uint16_t>(entries.size()));
  put32(out, directory_size);
  put32(out, directory_offset);
  put16(out, 0); // comment length
  return out;
}

} // namespace icalgate::proxy
