#pragma once
// Serving a message's content from other bytes than the server's: an untagged FETCH response
// from the server, for a message the gateway serves itself (a rewritten meeting message),
// becomes the response the server would have sent for those bytes. Content items (sizes,
// structure, sections, RFC822*) are rendered from the gateway's message for the requested
// item they answer; everything else (FLAGS, UID, INTERNALDATE, MODSEQ, ENVELOPE, unknown
// items) is kept byte for byte, in the server's order. Pure.

#include "protocol/fetch_item.hpp"
#include "protocol/mime/message.hpp"
#include "protocol/response.hpp"
#include "protocol/result.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace icalgate::protocol {

// Whether the item shows something that differs between an original and its rewrite.
// ENVELOPE does not (the rewrite keeps every header field it reads).
bool shows_content(const FetchItem& item);
bool shows_content(const FetchItems& items);
// Whether an answer shows such an item (an attribute this parser does not know counts).
bool shows_content(const FetchData& answer);

// `response` is a parsed untagged FETCH (Response::raw set); `requested` the items of the
// command it answers (needed for partial lengths, which the response does not repeat).
// Errc::unsupported when a content item answers nothing that was requested.
Result<std::string> substitute_fetch(const Response& response, const mime::Message& msg,
                                     const FetchItems& requested);

// A message whose rewrite is announced but not built yet (calendar/announced_rewrite.hpp):
// only its size and top-level header are known. Whether every item can be answered from
// those: no content items but RFC822.SIZE and whole top-level header sections.
bool answered_by_announcement(const FetchItems& items);

// The header of an announced message for one header section: the server's bytes for it and
// whether the section selects Content-Type.
using AnnouncedHeader = std::function<std::string(std::string_view header, bool content_type)>;

// `response` (as for substitute_fetch()) with RFC822.SIZE `size` and each header section
// passed through `header`; the rest byte for byte. Errc::unsupported for an item that cannot
// be answered so.
Result<std::string> announce_fetch(const Response& response, std::uint64_t size,
                                   const AnnouncedHeader& header);

} // namespace icalgate::protocol
