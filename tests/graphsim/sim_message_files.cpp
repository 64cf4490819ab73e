#include "tests/graphsim/sim_message_files.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <set>

namespace icalgate::graphsim {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr std::uintmax_t max_file = 16 * 1024 * 1024;

std::shared_ptr<const StoredMessage> parse_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  json::error_code ec;
  json::value doc = file.bad() ? json::value() : json::parse(text, ec);
  const json::value* value = doc.is_object() ? doc.as_object().if_contains("value") : nullptr;
  if (ec || value == nullptr || !value->is_array() || value->as_array().empty() ||
      !value->as_array()[0].is_object()) {
    std::fprintf(stderr, "graphsim: skipping %s: not a collection with one message\n",
                 path.c_str());
    return nullptr;
  }
  return std::make_shared<const StoredMessage>(
      StoredMessage{path.filename().string(), value->as_array()[0].as_object()});
}

} // namespace

std::vector<std::shared_ptr<const StoredMessage>> MessageFiles::load(const fs::path& user) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(user / "messages", ec)) {
    if (entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::shared_ptr<const StoredMessage>> out;
  const std::set<fs::path> present(files.begin(), files.end());
  for (const auto& path : files) {
    std::error_code stat_ec;
    const auto size = fs::file_size(path, stat_ec);
    const auto mtime = fs::last_write_time(path, stat_ec);
    if (stat_ec || size > max_file) {
      continue;
    }
    auto it = cache_.find(path);
    if (it == cache_.end() || it->second.size != size || it->second.mtime != mtime) {
      it = cache_.insert_or_assign(path, Entry{mtime, size, parse_file(path)}).first;
    }
    if (it->second.message) {
      out.push_back(it->second.message);
    }
  }
  // Files removed since the last call leave the cache too.
  std::erase_if(cache_, [&](const auto& item) {
    return item.first.parent_path() == user / "messages" && present.count(item.first) == 0;
  });
  return out;
}

} // namespace icalgate::graphsim
