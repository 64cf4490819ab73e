#pragma once
// RFC 5545 §3.1 content lines: CRLF-terminated, folded so that no line is longer than 75
// octets, never inside a UTF-8 sequence.
//
// libical 3.0 folds by itself, but it misplaces a fold that falls on the line end (a value
// filling the last line exactly gives "…\r\r\n \n", a bare LF), so its output is unfolded and
// folded again here. The values we write hold no raw CR or LF (libical escapes newlines in
// TEXT and we drop other controls), which makes unfolding unambiguous.

#include <string>
#include <string_view>

namespace icalgate::calendar {

inline constexpr std::size_t kMaxLineOctets = 75;

// Content lines without folding: every CRLF followed by a space or tab is removed.
std::string unfold_content_lines(std::string_view text);

// Each line of `unfolded` (CRLF, CR or LF separated) folded at 75 octets on UTF-8
// character bounds, with CRLF after every line.
std::string fold_content_lines(std::string_view unfolded);

} // namespace icalgate::calendar
