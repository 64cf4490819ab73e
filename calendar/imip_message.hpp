#pragma once
// The rewritten meeting message: what Exchange itself sends when iCalendar is forced
// (DESIGN.md §1 and the rewrite contract in §2), built from an OWA-link message and the
// VCALENDAR made from its Graph event.
//
//  - Every header of the original stays byte for byte. Only when the body is a single part
//    (a text part, or a multipart/related) does the top-level Content-Type change: it becomes
//    multipart/alternative, and the original Content-Type and Content-Transfer-Encoding
//    fields move, byte for byte, into the wrapped part's header.
//  - Each text body that carries the marker loses the link prefix and the "To receive
//    meeting invitations..." line: decoded, edited, encoded again with its own transfer
//    encoding (base64: the original line length, CRLF; quoted-printable: the untouched lines
//    are kept as they were, else re-encoded with soft breaks at 76). Every other byte stays.
//  - A `text/calendar; charset="utf-8"; method=...` part, base64 like Exchange's own
//    (76-column lines), is the last alternative of the multipart/alternative: appended to an
//    existing one, or to one that wraps the single body part. A multipart/mixed around it
//    (attachments) stays as it was.
//  - New boundaries are `_icalgate_` + 16 hex digits of FNV-1a-64 over the original bytes and
//    the VCALENDAR, perturbed deterministically while they occur in the content or collide
//    with an enclosing boundary. Same inputs, same bytes.
//
// Pure: no I/O, no clocks, no randomness.

#include "calendar/graph_event.hpp"
#include "calendar/owa_link.hpp"
#include "protocol/mime/message.hpp"
#include "protocol/result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::calendar {

enum class Method { request, cancel, reply };

// "REQUEST", "CANCEL", "REPLY".
std::string_view method_name(Method method);

// request → request, cancelled → cancel, the responses → reply; nullopt for none.
std::optional<Method> method_for(MeetingMessageType type);

// A rewritten message whose size and top-level header were announced before its body was
// fetched (calendar/announced_rewrite.hpp): the rewrite keeps both.
struct Announcement {
  std::uint64_t size = 0; // RFC822.SIZE of the rewritten message
  // The multipart/alternative boundary that wraps a single-part body; empty when the
  // top-level header stays as it was.
  std::string boundary;

  friend bool operator==(const Announcement&, const Announcement&) = default;
};

struct RewriteOptions {
  std::size_t max_message_size = std::size_t{25} << 20; // of the original and of the result
  // Set: a wrapping multipart/alternative takes the announced boundary (Errc::unsupported
  // when the shape needs none, or another, or it occurs in the content).
  std::optional<Announcement> announced;
};

// The rewritten message bytes. `original` must be the bytes `parsed` was parsed from and
// `link` what classify() found in it. Errors (the caller then serves the original):
// Errc::literal_too_large over the size cap; Errc::unsupported for a shape this does not
// rewrite (e.g. a missing closing boundary) or a marker that is no longer found;
// Errc::syntax for a body that does not decode or re-encode faithfully.
protocol::Result<std::string> rewrite_message(std::string_view original,
                                              const protocol::mime::Message& parsed,
                                              const OwaLink& link, std::string_view vcalendar,
                                              Method method, const RewriteOptions& options = {});

// `_icalgate_` + 16 hex digits of FNV-1a-64 over the seeds, re-hashed while it occurs in one
// of `haystacks` or starts with one of the `enclosing` boundaries (a delimiter line of theirs
// would then match it). Errc::unsupported after 64 attempts.
protocol::Result<std::string> unique_boundary(std::string_view seed_a, std::string_view seed_b,
                                              const std::vector<std::string_view>& haystacks,
                                              const std::vector<std::string>& enclosing);

// The size of the text/calendar part (its header and base64 body) for a VCALENDAR of
// `vcalendar_size` octets.
std::uint64_t calendar_part_size(std::uint64_t vcalendar_size, Method method);

// `message` (a rewritten one: multipart at the top level) grown to `size` octets with an
// epilogue of blank lines, which MIME readers ignore: every part keeps its bytes.
// Errc::unsupported when it is larger, or the epilogue would not be one.
protocol::Result<std::string> pad_message(std::string message, std::uint64_t size);

// The top-level Content-Type field of a message whose body gets wrapped.
std::string alternative_header(std::string_view boundary);

// The body as plain UTF-8 text without the link prefix, for the VCALENDAR DESCRIPTION: the
// first marked text/plain part, else the first marked HTML part reduced to its text. Line
// ends are "\n"; leading and trailing blank lines are dropped.
protocol::Result<std::string> description_text(const protocol::mime::Message& parsed,
                                               const OwaLink& link);

} // namespace icalgate::calendar
