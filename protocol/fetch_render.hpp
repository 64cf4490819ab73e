#pragma once
// The untagged FETCH response for one message, `* N FETCH (...)\r\n`, with Dovecot 2.3's item
// order (UID, FLAGS, INTERNALDATE, RFC822.SIZE, MODSEQ... first in request order, then the
// rest in request order) and formats. This is what the gateway sends for a message whose
// bytes it serves itself, so it must match what a reference server would send.

#include "protocol/fetch_item.hpp"
#include "protocol/mime/message.hpp"
#include "protocol/result.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace icalgate::protocol {

// Per-message values that do not come from the message bytes.
struct FetchContext {
  std::uint32_t seq = 1;
  std::uint32_t uid = 1;
  std::string flags = "()";                                // the parenthesised flag list
  std::string internaldate = "01-Jan-1970 00:00:00 +0000"; // RFC 3501 date-time, unquoted
  std::uint64_t modseq = 1;
  // The server's ENVELOPE, as it sent it; otherwise it is built from the message.
  std::optional<std::string> envelope;
};

// Either the response, or (Errc::unsupported) the text of the tagged NO Dovecot would send
// instead, e.g. "NO [UNKNOWN-CTE] ...".
Result<std::string> render_fetch(const mime::Message& msg, const FetchItems& items,
                                 const FetchContext& ctx = {});

// The label Dovecot writes for a section item, e.g. "BODY[1.HEADER.FIELDS (FROM TO)]<0>".
std::string section_label(const FetchItem& item);

} // namespace icalgate::protocol
