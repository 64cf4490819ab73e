#pragma once
// BODY and BODYSTRUCTURE of a parsed message, byte for byte as Dovecot 2.3 writes them
// (lib-imap/imap-bodystructure.c).

#include "protocol/mime/message.hpp"

#include <string>

namespace icalgate::protocol::mime {

// `extended` = BODYSTRUCTURE (with MD5, disposition, language, location); false = BODY.
// The result is the parenthesised list as it follows "BODYSTRUCTURE " in a FETCH response.
std::string bodystructure(const Message& msg, bool extended);

// The same for one part (used for sub-structures).
void write_part_structure(std::string& out, const Message& msg, const MimePart& part,
                          bool extended);

} // namespace icalgate::protocol::mime
