#pragma once
// The simulator's mailbox: DIR/users/{upn}/messages/*.json, each file one Graph collection
// response holding one message. Files are parsed once and parsed again only when their size
// or modification time changes, so tests can still edit them while the simulator runs and a
// 500-invitation mailbox answers a lookup without reading 500 files.

#include <boost/json/object.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace icalgate::graphsim {

struct StoredMessage {
  std::string file;
  boost::json::object message;
};

class MessageFiles {
 public:
  // The user's messages in file-name order; files that are not such a collection are skipped
  // with a line on stderr.
  std::vector<std::shared_ptr<const StoredMessage>> load(const std::filesystem::path& user);

 private:
  struct Entry {
    std::filesystem::file_time_type mtime;
    std::uintmax_t size = 0;
    std::shared_ptr<const StoredMessage> message; // null: the file was not usable
  };
  std::map<std::filesystem::path, Entry> cache_;
};

} // namespace icalgate::graphsim
