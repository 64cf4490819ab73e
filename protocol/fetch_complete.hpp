#pragma once
// Answering a FETCH for messages whose bytes the gateway holds itself (rewritten meeting
// messages in the decision store), without the server sending those bytes again: the
// server is asked only for what the bytes do not hold (UID, FLAGS, INTERNALDATE, MODSEQ,
// and ENVELOPE as the server renders it, so that every answer about the message shows the
// same ENVELOPE), and each of its answers is completed with the content items rendered from
// the gateway's bytes. Pure.

#include "protocol/fetch_item.hpp"
#include "protocol/mime/message.hpp"
#include "protocol/response.hpp"
#include "protocol/result.hpp"

#include <optional>
#include <string>

namespace icalgate::protocol {

// The items to ask the server for instead of `requested`, UID first. A request that sets
// \Seen (BODY[...], RFC822, RFC822.TEXT) also asks BODY[HEADER.FIELDS (Message-ID)], so that
// the server still sets it. nullopt when the request must reach the server as it is: it asks
// for what the gateway does not answer itself (BINARY, whose errors are the server's to give,
// and the RFC 8474/8514 identifiers).
std::optional<FetchItems> server_items(const FetchItems& requested);

// The response to `requested` for the message `msg`, from the server's untagged FETCH in
// answer to server_items(requested): the reference server's item order (UID first for a
// UID FETCH, as the server adds it), the server's values for what the bytes do not hold,
// and any attribute the server volunteered (MODSEQ once CONDSTORE is on, FLAGS when it set
// \Seen) kept; the content it sent is not used. `uid_command`: the client's command was a
// UID FETCH; in answer to a FETCH by sequence number (asked upstream as a UID FETCH, which
// server_items() makes it) a UID the client did not ask for is left out, as the server would.
Result<std::string> complete_fetch(const Response& response, const mime::Message& msg,
                                   const FetchItems& requested, bool uid_command = true);

} // namespace icalgate::protocol
