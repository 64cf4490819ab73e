#pragma once
// What a FETCH answer says about which message it describes, so that the gateway can decide
// a message from the client's own header sync instead of asking the server first. Pure.

#include "protocol/fetch_item.hpp"
#include "protocol/response.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace icalgate::protocol {

// The Message-ID field's value in a header block (unfolded, every blank removed, e.g.
// "<a@b>"); "" when the block has no such field.
std::string message_id_in_header(std::string_view header_block);

// Whether every answer to these items carries the message's Message-ID: a top-level
// HEADER.FIELDS naming it, HEADER, RFC822.HEADER or ENVELOPE.
bool answers_name_message_id(const FetchItems& items);
// Whether answers to these items stay header-sized: no body text, no whole message.
bool answers_are_header_sized(const FetchItems& items);

// Whether answers to these items may carry the whole message: BODY[] or RFC822, or
// BODY[]<0.n>, which does for a message shorter than n octets.
bool answers_may_carry_whole_message(const FetchItems& items);
// The whole message an answer to `asked` carries, if it shows it has all of it: BODY[] or
// RFC822 in full, or BODY[]<0> shorter than the octets asked.
std::optional<std::string_view> whole_message_in(const FetchData& data, const FetchItems& asked);

// The Message-ID an answer carries (see answers_name_message_id); nullopt when it carries
// none of those items. "" for a message without the field.
std::optional<std::string> answer_message_id(const FetchData& data);

// A header-sized FETCH that names no Message-ID can be sent with this item as well: each
// answer then says which message it is about, and no probe of the gateway's own is needed.
inline constexpr std::string_view message_id_item = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]";

// The FETCH or UID FETCH command line `command` (CRLF included, no literals) asking for
// `item` after the client's own items, which stay as written (a macro is spelled out);
// nullopt when the line is not laid out so.
std::optional<std::string> with_fetch_item(std::string_view command, std::string_view item);

// Whether the attribute answers message_id_item: BODY[HEADER.FIELDS (MESSAGE-ID)] with no
// origin.
bool answers_message_id_item(const MsgAtt& att);
// A FETCH answer (`message`, parsed as `data`) without the attributes `added` picks (those
// answering items the gateway added): what the server sends for the command as the client
// wrote it. An answer with nothing else stays as it is.
std::string without_attributes(std::string_view message, const FetchData& data,
                               const std::function<bool(const MsgAtt&)>& added);

} // namespace icalgate::protocol
