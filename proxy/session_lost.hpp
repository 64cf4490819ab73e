#pragma once
// Exchange Online's answer when its backend lost the mailbox session: every later command of
// that connection gets "TAG BAD User is authenticated but not connected." and nothing works
// until the client logs in again, so the gateway ends the session with a BYE instead.

#include "protocol/lexer.hpp"

#include <string_view>

namespace icalgate::proxy {

// `status` is the status word of a tagged response ("BAD"), `line` the whole line.
inline bool says_session_lost(std::string_view status, std::string_view line) {
  constexpr std::string_view text = "User is authenticated but not connected";
  if (!protocol::imap_iequals(status, "BAD")) {
    return false;
  }
  for (std::size_t i = 0; i + text.size() <= line.size(); ++i) {
    if (protocol::imap_iequals(line.substr(i, text.size()), text)) {
      return true;
    }
  }
  return false;
}

} // namespace icalgate::proxy
