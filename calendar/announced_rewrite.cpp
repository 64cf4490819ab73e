#include "calendar/announced_rewrite.hpp"

#include "calendar/graph_event.hpp"
#include "calendar/ical_builder.hpp"
#include "calendar/meeting_rewrite.hpp"
#include "calendar/owa_link.hpp"
#include "protocol/mime/message.hpp"

#include <algorithm>

namespace icalgate::calendar {

using protocol::Errc;
using protocol::make_error;
using protocol::Result;
using protocol::SExpr;

namespace {

// Boundaries longer than this are not announced: the bound allows for two delimiter lines.
constexpr std::size_t kMaxBoundary = 200;
// What the new multipart lines and headers add (alternative_header(), delimiter lines, the
// line breaks of moved fields), beside the existing boundaries.
constexpr std::uint64_t kStructureOctets = 512;
// "DESCRIPTION:" and its line end.
constexpr std::uint64_t kDescriptionProperty = 14;
// The folding of a content line: CRLF and a blank every 74 octets at least.
constexpr std::uint64_t kFoldEvery = 74;
constexpr std::uint64_t kFoldOctets = 3;
// Room for the DESCRIPTION at most: a calendar's copy of a longer meeting text is shortened
// (the message body keeps all of it) rather than every client download padded for it.
constexpr std::uint64_t kMaxDescriptionBudget = 8 * 1024;

std::string_view text_of(const SExpr& e) {
  return e.kind == SExpr::Kind::string ? std::string_view(e.string.value)
         : e.kind == SExpr::Kind::atom ? std::string_view(e.atom)
                                       : std::string_view();
}

bool is_multipart(const SExpr& e) {
  return e.kind == SExpr::Kind::list && !e.items.empty() &&
         e.items.front().kind == SExpr::Kind::list;
}

// A multipart's subtype: the first item after its children.
std::string_view multipart_subtype(const SExpr& e) {
  for (const SExpr& item : e.items) {
    if (item.kind != SExpr::Kind::list) {
      return text_of(item);
    }
  }
  return {};
}

// The longest boundary parameter of the multiparts in `e`.
std::size_t longest_boundary(const SExpr& e, int depth = 0) {
  if (!is_multipart(e) || depth > 64) {
    return 0;
  }
  std::size_t longest = 0;
  std::size_t i = 0;
  for (; i < e.items.size() && e.items[i].kind == SExpr::Kind::list; ++i) {
    longest = std::max(longest, longest_boundary(e.items[i], depth + 1));
  }
  // Subtype, then the body parameters: ("BOUNDARY" "...").
  if (i + 1 < e.items.size() && e.items[i + 1].kind == SExpr::Kind::list) {
    const auto& params = e.items[i + 1].items;
    for (std::size_t k = 0; k + 1 < params.size(); k += 2) {
      if (protocol::mime::iequals(text_of(params[k]), "boundary")) {
        longest = std::max(longest, text_of(params[k + 1]).size());
      }
    }
  }
  return longest;
}

// Whether the rewrite replaces the top-level Content-Type (rewrite_message() wraps the
// single-part body of a message that is neither multipart/mixed nor multipart/alternative).
bool wraps_top_level(const SExpr& structure) {
  if (!is_multipart(structure)) {
    return true;
  }
  const std::string_view subtype = multipart_subtype(structure);
  return !protocol::mime::iequals(subtype, "mixed") &&
         !protocol::mime::iequals(subtype, "alternative");
}

// Room for the DESCRIPTION taken from the first text body of `part_octets` encoded octets:
// plain text nearly whole (escaping adds a little), HTML's text a fraction of its markup.
std::uint64_t description_budget(const Probe& probe) {
  const std::uint64_t decoded = probe.encoding == protocol::mime::TransferEncoding::base64
                                    ? probe.part_octets / 4 * 3
                                    : probe.part_octets;
  const std::uint64_t budget =
      probe.kind == TextKind::plain ? decoded + decoded / 8 + 256 : decoded / 3 + 1024;
  return std::min(budget, kMaxDescriptionBudget);
}

} // namespace

Result<Announcement> announce_rewrite(const SExpr& bodystructure, std::uint64_t original_size,
                                      std::string_view event_json, std::string_view seed,
                                      const RewriteOptions& options) {
  const ProbePlan plan = plan_probe(bodystructure);
  if (plan.verdict == Verdict::no || !plan.probe) {
    return make_error(Errc::not_found, std::string(plan.reason));
  }
  const std::size_t boundary_octets = longest_boundary(bodystructure);
  if (boundary_octets > kMaxBoundary) {
    return make_error(Errc::unsupported, "boundary too long to announce");
  }
  auto event = parse_meeting_event(event_json);
  if (!event) {
    return event.error();
  }
  // DTSTAMP has one length whatever its time; the DESCRIPTION is left out and allowed for.
  IcalOptions ical;
  ical.dtstamp = event->message.sent_date_time.value_or(CivilDateTime{});
  ical.description = std::string();
  auto vcalendar = build_icalendar(event->message, ical);
  if (!vcalendar) {
    return make_error(vcalendar.error().code, "icalendar: " + vcalendar.error().message);
  }
  const std::uint64_t description = kDescriptionProperty + description_budget(*plan.probe);
  const std::uint64_t vcalendar_bound =
      vcalendar->size() + description + (description / kFoldEvery + 1) * kFoldOctets;
  // The text bodies lose the link; re-encoding an edited quoted-printable line may add a few
  // octets, and Exchange's sizes may be estimates.
  const std::uint64_t slack = original_size / 32 + 512;
  Announcement out;
  out.size = original_size + kStructureOctets + 2 * boundary_octets +
             calendar_part_size(vcalendar_bound, event->method) + slack;
  if (out.size > options.max_message_size) {
    return make_error(Errc::literal_too_large, "announced size over the rewrite size cap");
  }
  if (wraps_top_level(bodystructure)) {
    auto boundary = unique_boundary(seed, event_json, {}, {});
    if (!boundary) {
      return boundary.error();
    }
    out.boundary = std::move(boundary).value();
  }
  return out;
}

std::string announced_header(std::string_view header, std::string_view boundary,
                             bool content_type_wanted) {
  if (boundary.empty()) {
    return std::string(header);
  }
  std::string out;
  bool had_content_type = false;
  std::size_t pos = 0;
  while (pos < header.size()) {
    // One field: its first line and the continuation lines that follow.
    std::size_t end = header.find('\n', pos);
    end = end == std::string_view::npos ? header.size() : end + 1;
    const std::string_view first_line = header.substr(pos, end - pos);
    if (first_line == "\r\n" || first_line == "\n") {
      break; // the empty line that ends the header
    }
    while (end < header.size() && (header[end] == ' ' || header[end] == '\t')) {
      const std::size_t next = header.find('\n', end);
      end = next == std::string_view::npos ? header.size() : next + 1;
    }
    const std::string_view field = header.substr(pos, end - pos);
    const std::string_view name = field.substr(0, field.find(':'));
    if (protocol::mime::iequals(name, "Content-Type")) {
      if (!had_content_type) {
        out += alternative_header(boundary);
      }
      had_content_type = true;
    } else if (!protocol::mime::iequals(name, "Content-Transfer-Encoding")) {
      out.append(field);
    }
    pos = end;
  }
  if (!had_content_type && content_type_wanted) {
    out += alternative_header(boundary);
  }
  out.append(header.substr(pos));
  return out;
}

} // namespace icalgate::calendar
