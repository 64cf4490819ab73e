#pragma once
// Recognises Exchange's "Outlook Web Access"-link meeting messages (DESIGN.md §1): no
// text/calendar part anywhere, and the first text body starts with the link marker that
// Exchange injects —
//   plain: the decoded body begins "Microsoft Outlook Web Access: <URL>" CRLF;
//   HTML:  right after `<body ...>` (and blanks) comes
//          `<br>Microsoft Outlook Web Access: <a href="<URL>"><URL></a><br>` (`&` raw or `&amp;`)
// where <URL> is an Exchange Online / 2016+ item link
// (`...?itemid=...&exvsurl=1&path=/calendar/item`) or an Exchange 2013 one
// (`...?ae=Item&a=open&t=IPM.Schedule.Meeting.*&id=...`). Zero false positives is the goal: a
// message that quotes the marker anywhere but at the very start of its first text body, or that
// carries its own text/calendar (or application/ics), is not one. Pure: no I/O, no clocks.
//
// Two entry points:
//  - classify(): the whole message is at hand (the rewrite path);
//  - plan_probe() + classify_prefix(): the relay has only the upstream BODYSTRUCTURE and a
//    partial fetch of the first text part (see kProbeOctets for the contract).

#include "protocol/lexer.hpp"
#include "protocol/mime/message.hpp"
#include "protocol/mime/transfer_decoding.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::calendar {

enum class TextKind { plain, html };

enum class UrlForm {
  exchange_online, // https://outlook.office365.com/owa/<domain>/?itemid=...&exvsurl=1&path=...
  exchange_2013,   // <owa>?ae=Item&a=open&t=IPM.Schedule.Meeting.Request&id=...
};

// One text body that carries the marker.
struct MarkedPart {
  std::vector<std::uint32_t> section; // IMAP part number, {1} for a single-part message
  TextKind kind = TextKind::plain;
  protocol::mime::TransferEncoding encoding = protocol::mime::TransferEncoding::identity;
  std::string charset; // lower case: "utf-8", "iso-8859-1", "windows-1252", "us-ascii"
};

struct OwaLink {
  std::vector<MarkedPart> parts; // in MIME order; parts[0] is the first text body
  std::string url;               // with `&amp;` unescaped
  UrlForm form = UrlForm::exchange_online;
  std::string ews_item_id; // percent-decoded standard base64 (EWS id)
  std::string item_class;  // from the 2013 URL's `t=`, e.g. "IPM.Schedule.Meeting.Request"
};

struct Classification {
  std::optional<OwaLink> link; // set iff the message is an OWA-link meeting message
  std::string_view reason;     // why not (a static string, fit for counters and logs)
};

Classification classify(const protocol::mime::Message& message);

// ---- the relay's bounded decision from BODYSTRUCTURE + a partial fetch --------------------
//
// Contract: the relay FETCHes `BODYSTRUCTURE` (cheap to ask together with what the client
// asked), calls plan_probe(); if that says `no`, the message is not an invitation. Otherwise
// it FETCHes `BODY.PEEK[<probe.section_text>]<0.<probe.octets>>` (raw, still transfer-encoded
// bytes; Exchange has no BINARY) and calls classify_prefix() with what arrived. `need_more`
// comes only while the marker is undecidable (HTML whose `<body>` lies further, a plain link
// line longer than the first probe): fetch the missing bytes
// `BODY.PEEK[<section>]<n.next_octets-n>` and call again with the concatenation (or simply
// re-fetch `<0.next_octets>`), or fetch a small message whole and classify() it. Past
// kMaxProbeOctets the answer is `no` (counted as undecided by IMAP; Graph may still decide).
// `yes` means "OWA-link form per its first text body": before rewriting, classify() the whole
// message to confirm.

enum class Verdict { no, yes, need_more };

// First probe of an HTML body: covers Outlook's usual <head> (3-10 KB decoded, base64 adds a
// third).
inline constexpr std::uint64_t kProbeOctets = 16 * 1024;
// First probe of a plain body, which the marker opens: room for the marker and an Exchange link
// line (about 250 characters, a third more once encoded). Ordinary mail's plain alternatives
// (reply chains) run to tens of KB, and the marker's absence shows in the first bytes.
inline constexpr std::uint64_t kPlainProbeOctets = 1024;
// The largest prefix classify_prefix() ever asks for.
inline constexpr std::uint64_t kMaxProbeOctets = 256 * 1024;

struct Probe {
  std::vector<std::uint32_t> section;
  std::string section_text; // "1", "1.1", "1.1.2"
  TextKind kind = TextKind::plain;
  protocol::mime::TransferEncoding encoding = protocol::mime::TransferEncoding::identity;
  std::string charset;
  std::uint64_t part_octets = 0; // the encoded size BODYSTRUCTURE reports (maybe an estimate)
  std::uint64_t octets = 0;      // how many encoded bytes to fetch first
  // BODY[1] begins with this part (every part number is 1, through multiparts only), behind
  // the delimiters and headers of these multiparts, outermost first.
  bool in_section_one = false;
  std::vector<std::string> section_one_boundaries;
};

struct ProbePlan {
  Verdict verdict = Verdict::no; // `no`, or `need_more` with `probe` set
  std::optional<Probe> probe;
  std::string_view reason;
};

// From a BODYSTRUCTURE value as parsed from a FETCH response (MsgAtt::sexp).
ProbePlan plan_probe(const protocol::SExpr& bodystructure);

struct PrefixVerdict {
  Verdict verdict = Verdict::no;
  std::uint64_t next_octets = 0; // with need_more: the prefix length to call again with
  std::optional<OwaLink> link;   // with yes: what the prefix shows (parts[0] only)
  std::string_view reason;
};

// `encoded` is BODY[section]<0.n> as received; `complete` when it is the whole part: the
// server sent fewer than the n bytes asked for. (BODYSTRUCTURE sizes from Exchange may be
// estimates, so they are not used to decide completeness.)
PrefixVerdict classify_prefix(const Probe& probe, std::string_view encoded, bool complete);

// A relay that cannot wait for BODYSTRUCTURE before it knows which section to probe (it asks
// BODYSTRUCTURE along with a client's header sync) asks `BODY.PEEK[1]<0.n>` in the same
// command: one rendering of each message upstream instead of two, and no probe round trip
// where section 1 starts with the first text body. n = kAlongOctets decides plain first bodies
// (nested in multiparts or not); n = kProbeOctets HTML ones too, for sixteen times the bytes.
inline constexpr std::uint64_t kAlongOctets = 1024;

// classify_prefix() on what `section_one` (BODY[1]<0.n>; `complete`: the whole section) holds
// of the probe's part. `need_more` with next_octets 0: it holds less than the planned probe
// would fetch (or none of the part), so that probe is still to come.
PrefixVerdict classify_section_one(const Probe& probe, std::string_view section_one, bool complete);

// ---- building blocks shared with the rewrite ----------------------------------------------

// The removable Exchange prefix of one decoded text body: [begin, end) covers the marker, the
// "To receive meeting invitations..." line when present, and the line breaks around them, so
// that removing it leaves the body as Exchange renders it in iCalendar mode.
struct MarkerSpan {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::string url;
};

enum class MarkerMatch { no, yes, need_more };

// Looks for the marker at the start of a decoded text body. `complete` = `decoded` is the
// whole body (otherwise a prefix, and need_more may come back).
MarkerMatch find_marker(std::string_view decoded, TextKind kind, bool complete, MarkerSpan& span);

// Parses one of the two URL forms into `link` (url, form, ews_item_id, item_class).
bool parse_owa_url(std::string_view url, OwaLink& link);

// Decodes a part body by its transfer encoding; nullopt for unknown encodings or bad data.
// Quoted-printable that only decodes with "\r\r\n" read as "\r\n" (a body converted to CRLF
// twice, as a Dovecot store would read it back) is accepted.
std::optional<std::string> decode_body(std::string_view encoded,
                                       protocol::mime::TransferEncoding encoding);

} // namespace icalgate::calendar
