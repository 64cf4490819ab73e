#pragma once
// A rewrite announced before the message's body is fetched. A header sync asks for the size
// and header fields of every message; fetching each meeting message whole to answer them
// would cost the upstream more than the whole sync (Exchange renders the MIME of each). With
// its BODYSTRUCTURE, its RFC822.SIZE and its Graph event, the rewritten message's size is
// bounded: the rewrite only removes bytes from the text bodies and adds the text/calendar
// part, whose VCALENDAR is known but for its DESCRIPTION (the body's text). The gateway
// announces that bound as the rewritten RFC822.SIZE and, for a single-part body, the
// wrapping multipart/alternative's boundary with the top-level header; once a client asks
// for content, the message is fetched whole, rewritten with the announced boundary, and
// grown to the announced size with an epilogue (pad_message()). A DESCRIPTION longer than
// its share of the bound is shortened (rewrite_meeting_message()).
//
// Pure: no I/O, no clocks, no randomness.

#include "calendar/imip_message.hpp"
#include "protocol/lexer.hpp"
#include "protocol/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace icalgate::calendar {

// The announcement for an OWA-link meeting message of `original_size` octets with this
// BODYSTRUCTURE and Graph response. `seed` (the Message-ID) picks the boundary. Errors:
// Errc::not_found when the structure shows no OWA-link message (a calendar part of its own,
// no text body), so it is none; Errc::unsupported for a shape not announced (the caller
// fetches the message whole instead); the Graph response's errors (prefixed "event: ").
protocol::Result<Announcement> announce_rewrite(const protocol::SExpr& bodystructure,
                                                std::uint64_t original_size,
                                                std::string_view event_json, std::string_view seed,
                                                const RewriteOptions& options = {});

// The rewritten message's top-level header, or a selection of its fields, from the
// original's: where a single-part body gets wrapped (`boundary` set), Content-Type becomes
// the multipart/alternative's (added at the end when the original has none and
// `content_type_wanted`: the selection asks for it) and Content-Transfer-Encoding goes, as in
// rewrite_message(); otherwise the header as it is.
std::string announced_header(std::string_view header, std::string_view boundary,
                             bool content_type_wanted);

} // namespace icalgate::calendar
