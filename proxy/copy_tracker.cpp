#include "proxy/copy_tracker.hpp"

#include "protocol/copy_uid.hpp"
#include "protocol/response.hpp"

#include <algorithm>
#include <variant>

namespace icalgate::proxy {

void CopyTracker::sent(const protocol::Command& command, const MailboxKey& source) {
  const auto* args = std::get_if<protocol::CopyArgs>(&command.args);
  if (args == nullptr || pending_.size() >= max_pending) {
    return;
  }
  pending_.push_back(Pending{command.tag, source, protocol::canonical_mailbox(args->mailbox),
                             command.name == "MOVE", false});
}

std::optional<Copied> CopyTracker::answered(std::string_view line) {
  if (pending_.empty()) {
    return std::nullopt;
  }
  const std::string_view tag = line.substr(0, line.find(' '));
  if (tag == "*") {
    Pending& oldest = pending_.front();
    // Only an OK can carry it; other untagged data (a FETCH pipelined before) is not parsed.
    const std::string_view rest = line.substr(std::min(line.size(), tag.size() + 1));
    if (!oldest.move || oldest.reported || !protocol::imap_iequals(rest.substr(0, 3), "OK ")) {
      return std::nullopt;
    }
    auto copies = copies_in(line, oldest);
    oldest.reported = copies.has_value();
    return copies;
  }
  const auto it = std::find_if(pending_.begin(), pending_.end(),
                               [tag](const Pending& p) { return p.tag == tag; });
  if (it == pending_.end()) {
    return std::nullopt;
  }
  const Pending command = std::move(*it);
  pending_.erase(it);
  return command.reported ? std::nullopt : copies_in(line, command);
}

std::optional<Copied> CopyTracker::copies_in(std::string_view line, const Pending& command) {
  auto response = protocol::parse_response(line);
  if (!response || response->kind != protocol::ResponseKind::status) {
    return std::nullopt;
  }
  const auto& status = std::get<protocol::StatusResponse>(response->body);
  if (status.status != protocol::Status::ok || !status.code || status.code->name != "COPYUID") {
    return std::nullopt;
  }
  auto copy_uid = protocol::parse_copy_uid(status.code->args, max_uids);
  if (!copy_uid) {
    return std::nullopt;
  }
  return Copied{command.source,
                MailboxKey{command.source.user, command.destination, copy_uid->uidvalidity},
                std::move(copy_uid->uids)};
}

} // namespace icalgate::proxy
