#pragma once
// BODY[section] and BINARY[section] bytes of a parsed message, as Dovecot 2.3 produces them
// (lib-imap-storage/imap-msgpart.c): bare LFs become CRLF, NULs become 0x80 in BODY output,
// a section that does not exist is the empty string.

#include "protocol/fetch_item.hpp"
#include "protocol/mime/message.hpp"

#include <optional>
#include <string>

namespace icalgate::protocol::mime {

// The part a section's part number names (imap_msgpart_find), or nullptr. An empty path is
// the root.
const MimePart* find_part(const Message& msg, const std::vector<std::uint32_t>& path);

// BODY[section] without partial.
std::string body_section(const Message& msg, const SectionSpec& section);

// The outcome of BINARY[section]: decoded bytes, content that does not decode (Dovecot answers
// NO [PARSE]) or a transfer encoding it does not know (NO [UNKNOWN-CTE]). Multiparts and
// message/rfc822 keep their headers and boundaries and have every leaf decoded; a decoded
// part's header gets "Content-Transfer-Encoding: binary" instead of its own.
struct BinaryResult {
  enum class Status { ok, invalid_data, unknown_cte } status = Status::ok;
  std::string data;
  bool literal8 = false; // something was decoded, or NULs: Dovecot answers ~{n}
};
BinaryResult binary_section(const Message& msg, const SectionSpec& section);

// BINARY.SIZE[section]. Like Dovecot, decoding runs over the whole message, so a broken part
// anywhere fails every BINARY.SIZE of the message.
BinaryResult binary_size(const Message& msg, const SectionSpec& section);

// The bytes [a, b) of the raw message with bare LF turned into CRLF and, if `nuls_to_0x80`,
// NUL turned into 0x80.
std::string crlf_range(const std::string& raw, std::size_t a, std::size_t b, bool nuls_to_0x80);

// Applies <origin.octets> to section bytes.
std::string apply_partial(std::string data, const std::optional<Partial>& partial);

} // namespace icalgate::protocol::mime
