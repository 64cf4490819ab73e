#pragma once
// `icalgate rewrite --event EVENT.json FILE`: the rewritten iMIP message for an OWA-link
// meeting message and the Graph response for it, offline (also behind
// `icalgate inspect --rewrite --event EVENT.json FILE [ITEMS]`).

#include "protocol/result.hpp"

#include <span>
#include <string>
#include <string_view>

namespace icalgate::proxy {

// The whole pipeline on bytes: classify `original`, parse `event_json` (a Graph collection
// response with one eventMessage), build the VCALENDAR (DTSTAMP from the message's Date
// header, else the Graph message's sentDateTime; DESCRIPTION from the body without the link)
// and rewrite. Errc::not_found when the message is not an OWA-link meeting message.
protocol::Result<std::string> rewrite_bytes(const std::string& original,
                                            std::string_view event_json);

// `args` are the arguments after "rewrite". Prints the message to stdout; returns the exit
// status (0 ok, 1 not rewritten, 2 usage or I/O error).
int run_rewrite(std::span<char* const> args);

} // namespace icalgate::proxy
