#pragma once
// ENVELOPE of a message or of a message/rfc822 part, written as Dovecot 2.3 does
// (lib-mail/message-address.c for the address lists, lib-imap/imap-envelope.c for output).
// Encoded words stay encoded: IMAP's ENVELOPE carries the raw header text.

#include "protocol/mime/message.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::protocol::mime {

struct Address {
  std::optional<std::string> name;
  std::optional<std::string> route;
  std::optional<std::string> mailbox;
  std::optional<std::string> domain;
};

// Parses an address-list header value. Group start = {mailbox: group name}, group end = all
// empty. Missing mailbox / domain are filled with MISSING_MAILBOX / MISSING_DOMAIN.
std::vector<Address> parse_address_list(std::string_view value);

struct Envelope {
  std::optional<std::string> date, subject, in_reply_to, message_id;
  std::optional<std::vector<Address>> from, sender, reply_to, to, cc, bcc;
};

// The envelope fields of `part`'s header (the last occurrence of each field wins).
Envelope read_envelope(std::string_view raw, const MimePart& part);

// "(date subject from sender reply-to to cc bcc in-reply-to message-id)" without the
// surrounding parentheses.
void write_envelope(std::string& out, const Envelope& env);

// Convenience: the parenthesised ENVELOPE of the message's root.
std::string envelope_string(const Message& msg);

} // namespace icalgate::protocol::mime
