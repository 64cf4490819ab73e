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

#include <string>

namespace icalgate::protocol {

// Whether the item shows something that differs between an original and its rewrite.
// ENVELOPE does not (the rewrite keeps every header field it reads).
bool shows_content(const FetchItem& item);
bool shows_content(const FetchItems& items);

// `response` is a parsed untagged FETCH (Response::raw set); `requested` the items of the
// command it answers (needed for partial lengths, which the response does not repeat).
// Errc::unsupported when a content item answers nothing that was requested.
Result<std::string> substitute_fetch(const Response& response, const mime::Message& msg,
                                     const FetchItems& requested);

} // namespace icalgate::protocol
