#include "proxy/cli_files.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

namespace icalgate::proxy {

namespace {

constexpr std::size_t max_file_size = std::size_t{256} << 20;

} // namespace

bool read_cli_file(const char* path, std::string& out, std::string& error, std::time_t* mtime) {
  std::FILE* f = std::fopen(path, "rb");
  if (f == nullptr) {
    error = std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (fstat(fileno(f), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      std::fclose(f);
      error = "not a regular file";
      return false;
    }
    if (mtime != nullptr) {
      *mtime = st.st_mtime;
    }
  }
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (out.size() + n > max_file_size) {
      std::fclose(f);
      error = "file larger than 256 MiB";
      return false;
    }
    out.append(buf, n);
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) {
    error = "read error";
    return false;
  }
  return true;
}

std::string printable(std::string_view s) {
  std::string out;
  for (const char c : s.substr(0, 200)) {
    const auto u = static_cast<unsigned char>(c);
    out += u >= 0x20 && u < 0x7f ? c : '?';
  }
  return out;
}

} // namespace icalgate::proxy
