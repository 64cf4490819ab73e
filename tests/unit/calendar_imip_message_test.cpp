// The rewritten iMIP message: re-parsed with the MIME model, its structure is Exchange's
// iCalendar mode, the marker is gone, and everything else is byte for byte the original.

#include "calendar/graph_event.hpp"
#include "calendar/ical_builder.hpp"
#include "calendar/imip_message.hpp"
#include "calendar/mail_date.hpp"
#include "calendar/meeting_rewrite.hpp"
#include "calendar/owa_link.hpp"
#include "calendar_owa_test_support.hpp"
#include "calendar_test_support.hpp"
#include "protocol/mime/section.hpp"

#include <catch2/catch_test_macros.hpp>

#include <map>

namespace cal = icalgate::calendar;
namespace mime = icalgate::protocol::mime;

namespace {

struct Rewritten {
  std::string original;
  std::string vcalendar;
  cal::Method method = cal::Method::request;
  cal::OwaLink link;
  std::string bytes;
};

std::string header_value(const mime::Message& m, std::string_view name) {
  for (const auto& f : m.root().headers) {
    if (mime::iequals(mime::header_name(m.raw(), f), name)) {
      return mime::header_full_value(m.raw(), f);
    }
  }
  return {};
}

Rewritten rewrite_fixture(const std::string& name) {
  Rewritten r;
  r.original = read_owa_fixture(name);
  const auto msg = parse_owa_message(r.original);
  const auto c = cal::classify(msg);
  REQUIRE(c.link);
  r.link = *c.link;
  auto event =
      cal::parse_event_message_response(read_owa_file(owa_fixture_dir() + "/" + name + ".json"));
  REQUIRE(event.ok());
  const auto method = cal::method_for(event->meeting_message_type);
  REQUIRE(method);
  r.method = *method;
  cal::IcalOptions options;
  const auto date = cal::parse_mail_date(header_value(msg, "Date"));
  REQUIRE(date);
  options.dtstamp = *date;
  auto text = cal::description_text(msg, r.link);
  REQUIRE(text.ok());
  options.description = *text;
  auto ics = cal::build_icalendar(*event, options);
  INFO(name << ": " << (ics.ok() ? "" : ics.error().message));
  REQUIRE(ics.ok());
  r.vcalendar = *ics;
  auto out = cal::rewrite_message(r.original, msg, r.link, r.vcalendar, r.method);
  INFO(name << ": " << (out.ok() ? "" : out.error().message));
  REQUIRE(out.ok());
  r.bytes = *out;
  return r;
}

std::string decoded_body(const mime::Message& m, const mime::MimePart& p) {
  const auto enc = mime::classify_transfer_encoding(p.content.transfer_encoding);
  auto d = cal::decode_body(body_bytes(m, p), enc);
  REQUIRE(d);
  return *d;
}

// The multipart/alternative that ends with the calendar part, and where the original body
// (the part the calendar was added to) sits in the original.
const mime::MimePart& alternative_of(const mime::Message& m) {
  const mime::MimePart& root = m.root();
  if (type_of(root) == "multipart/mixed") {
    REQUIRE_FALSE(root.children.empty());
    return root.children.front();
  }
  return root;
}

const std::map<std::string, std::string>& methods() {
  static const std::map<std::string, std::string> m = {
      {"html-base64-longhead", "REQUEST"},      {"alternative-base64", "REQUEST"},
      {"plain-qp-latin1-cancel", "CANCEL"},     {"mixed-alternative-attachment", "REQUEST"},
      {"mixed-html-attachment", "REQUEST"},     {"html-exchange2013", "REQUEST"},
      {"plain-qp-exchange2013", "REQUEST"},     {"plain-base64-reply", "REPLY"},
      {"related-html-inline-image", "REQUEST"},
  };
  return m;
}

} // namespace

TEST_CASE("imip: the calendar is the last alternative, with Exchange's headers", "[imip]") {
  for (const auto& name : owa_meeting_fixtures()) {
    INFO(name);
    const Rewritten r = rewrite_fixture(name);
    const auto out = parse_owa_message(r.bytes);
    const mime::MimePart& alt = alternative_of(out);
    REQUIRE(type_of(alt) == "multipart/alternative");
    REQUIRE(alt.children.size() >= 2);
    const mime::MimePart& cal_part = alt.children.back();
    CHECK(type_of(cal_part) == "text/calendar");
    CHECK(param_of(cal_part, "charset") == "utf-8");
    CHECK(param_of(cal_part, "method") == methods().at(name));
    CHECK(lower_ascii(cal_part.content.transfer_encoding.value_or("")) == "base64");
    CHECK(header_bytes(out, cal_part) ==
          "Content-Type: text/calendar; charset=\"utf-8\"; method=" + methods().at(name) +
              "\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    CHECK(decoded_body(out, cal_part) == r.vcalendar);
    CHECK(r.vcalendar.find("METHOD:" + methods().at(name) + "\r\n") != std::string::npos);
    // Exchange's base64: 76 columns.
    CHECK(body_bytes(out, cal_part).substr(0, 78).ends_with("\r\n"));
    // Now it carries a calendar: never classified (or rewritten) again.
    CHECK_FALSE(cal::classify(out).link);
  }
}

TEST_CASE("imip: the marker and the iCalendar hint are gone, the text stays", "[imip]") {
  for (const auto& name : owa_meeting_fixtures()) {
    INFO(name);
    const Rewritten r = rewrite_fixture(name);
    const auto in = parse_owa_message(r.original);
    const auto out = parse_owa_message(r.bytes);
    const bool wrapped =
        r.bytes.size() > 0 && type_of(alternative_of(in)) != "multipart/alternative";
    for (const auto& mp : r.link.parts) {
      const mime::MimePart* before = mime::find_part(in, mp.section);
      REQUIRE(before != nullptr);
      // Where the part went: under the new alternative when the body was wrapped.
      std::vector<std::uint32_t> path = mp.section;
      if (wrapped) {
        if (type_of(in.root()) == "multipart/mixed") {
          path.insert(path.begin() + 1, 1);
        } else if (in.root().is(mime::kMultipart)) {
          path.insert(path.begin(), 1); // the multipart/related became part 1
        }
      }
      const mime::MimePart* after = mime::find_part(out, path);
      REQUIRE(after != nullptr);
      // A wrapped top-level body got its header from the message header (checked below).
      if (before != &in.root()) {
        CHECK(header_bytes(out, *after) == header_bytes(in, *before));
      }
      const std::string old_text = decoded_body(in, *before);
      const std::string new_text = decoded_body(out, *after);
      CHECK(new_text.find("Microsoft Outlook Web Access") == std::string::npos);
      CHECK(new_text.find("To receive meeting invitations") == std::string::npos);
      CHECK(new_text.find("/calendar/item") == std::string::npos);
      CHECK(new_text.find("t=IPM.Schedule") == std::string::npos);
      // Only a prefix of the body went (right after <body ...> for HTML).
      REQUIRE(new_text.size() < old_text.size());
      const std::size_t tail =
          new_text.size() -
          (mp.kind == cal::TextKind::html ? new_text.find("<div class=\"WordSection1\">") : 0);
      CHECK(old_text.ends_with(new_text.substr(new_text.size() - tail)));
      if (mp.kind == cal::TextKind::html) {
        const std::size_t body_tag = old_text.find("<body ");
        const std::size_t marker = old_text.find("<br>Microsoft Outlook Web Access");
        REQUIRE(marker != std::string::npos);
        CHECK(new_text.substr(0, marker) == old_text.substr(0, marker));
        CHECK(new_text.substr(body_tag).find(">\r\n<div class=\"WordSection1\">") !=
              std::string::npos);
      }
      // base64 keeps 76-column lines.
      if (mp.encoding == mime::TransferEncoding::base64) {
        std::string_view lines = body_bytes(out, *after);
        std::size_t eol;
        while ((eol = lines.find("\r\n")) != std::string_view::npos && eol + 2 < lines.size()) {
          CHECK(eol == 76);
          lines.remove_prefix(eol + 2);
        }
        CHECK(lines.size() <= 78);
      }
    }
  }
}

TEST_CASE("imip: every other header and part is byte for byte the original", "[imip]") {
  for (const auto& name : owa_meeting_fixtures()) {
    INFO(name);
    const Rewritten r = rewrite_fixture(name);
    const auto in = parse_owa_message(r.original);
    const auto out = parse_owa_message(r.bytes);
    const std::string in_type = type_of(in.root());
    if (in_type == "multipart/mixed" || in_type == "multipart/alternative") {
      CHECK(header_bytes(out, out.root()) == header_bytes(in, in.root()));
    } else {
      // The top-level Content-Type became multipart/alternative; its Content-Type and
      // Content-Transfer-Encoding fields moved into the wrapped part; the rest is unchanged.
      std::string kept_in;
      std::string moved;
      for (const auto& f : in.root().headers) {
        const std::string_view field = std::string_view(in.raw()).substr(f.start, f.end - f.start);
        const auto fname = mime::header_name(in.raw(), f);
        if (mime::iequals(fname, "Content-Type") ||
            mime::iequals(fname, "Content-Transfer-Encoding")) {
          moved += field;
        } else {
          kept_in += field;
        }
      }
      std::string kept_out;
      for (const auto& f : out.root().headers) {
        if (!mime::iequals(mime::header_name(out.raw(), f), "Content-Type")) {
          kept_out += std::string_view(out.raw()).substr(f.start, f.end - f.start);
        }
      }
      CHECK(kept_out == kept_in);
      CHECK(type_of(out.root()) == "multipart/alternative");
      CHECK(param_of(out.root(), "boundary").starts_with("_icalgate_"));
      CHECK_FALSE(out.root().content.transfer_encoding);
      const mime::MimePart& wrapped = out.root().children.front();
      CHECK(header_bytes(out, wrapped) == moved + "\r\n");
      if (in.root().is(mime::kMultipart)) {
        // A multipart/related keeps its inline image untouched.
        CHECK(part_bytes(out, wrapped.children.back()) ==
              part_bytes(in, in.root().children.back()));
      }
    }
    if (in_type == "multipart/mixed") {
      REQUIRE(out.root().children.size() == in.root().children.size());
      for (std::size_t i = 1; i < in.root().children.size(); ++i) {
        CHECK(part_bytes(out, out.root().children[i]) == part_bytes(in, in.root().children[i]));
      }
      // The message outside the body part is unchanged.
      const std::size_t first_end = in.root().children.front().end_offset();
      CHECK(r.bytes.ends_with(r.original.substr(first_end)));
      CHECK(r.bytes.starts_with(r.original.substr(0, in.root().children.front().offset)));
    }
    // Exactly one text/calendar and no Content-Transfer-Encoding on any multipart.
    CHECK(r.bytes.find("Content-Type: text/calendar") ==
          r.bytes.rfind("Content-Type: text/calendar"));
  }
}

TEST_CASE("imip: quoted-printable bodies keep their untouched lines as they were", "[imip]") {
  for (const std::string name : {"plain-qp-latin1-cancel", "plain-qp-exchange2013"}) {
    INFO(name);
    const Rewritten r = rewrite_fixture(name);
    const auto in = parse_owa_message(r.original);
    const auto out = parse_owa_message(r.bytes);
    const std::string_view before = body_bytes(in, in.root());
    const std::string_view after = body_bytes(out, out.root().children.front());
    CHECK(before.ends_with(after));
    CHECK(after.size() + 100 < before.size());
  }
}

TEST_CASE("imip: deterministic bytes, boundaries from the content", "[imip]") {
  for (const auto& name : owa_meeting_fixtures()) {
    INFO(name);
    const Rewritten a = rewrite_fixture(name);
    const Rewritten b = rewrite_fixture(name);
    CHECK(a.bytes == b.bytes);
  }
  // Another VCALENDAR gives another boundary for a wrapped body.
  Rewritten r = rewrite_fixture("html-base64-longhead");
  const auto msg = parse_owa_message(r.original);
  auto other = cal::rewrite_message(r.original, msg, r.link, r.vcalendar + "X", r.method);
  REQUIRE(other.ok());
  const auto p1 = parse_owa_message(r.bytes);
  const auto p2 = parse_owa_message(*other);
  CHECK(param_of(p1.root(), "boundary") != param_of(p2.root(), "boundary"));
  CHECK(r.original.find(param_of(p1.root(), "boundary")) == std::string::npos);
}

TEST_CASE("imip: over the size cap, or not the parsed bytes: an error, not a message", "[imip]") {
  const Rewritten r = rewrite_fixture("alternative-base64");
  const auto msg = parse_owa_message(r.original);
  cal::RewriteOptions small;
  small.max_message_size = 1000;
  auto capped = cal::rewrite_message(r.original, msg, r.link, r.vcalendar, r.method, small);
  REQUIRE_FALSE(capped.ok());
  CHECK(capped.error().code == icalgate::protocol::Errc::literal_too_large);
  auto mismatched = cal::rewrite_message(r.original + " ", msg, r.link, r.vcalendar, r.method);
  CHECK_FALSE(mismatched.ok());
  cal::OwaLink wrong = r.link;
  wrong.parts.front().section = {7};
  CHECK_FALSE(cal::rewrite_message(r.original, msg, wrong, r.vcalendar, r.method).ok());
}

TEST_CASE("imip: the description is the body text without the link", "[imip]") {
  auto text = [](const std::string& name) {
    const auto msg = parse_owa_message(read_owa_fixture(name));
    const auto c = cal::classify(msg);
    REQUIRE(c.link);
    auto t = cal::description_text(msg, *c.link);
    REQUIRE(t.ok());
    return *t;
  };
  CHECK(text("alternative-base64") ==
        "Bonjour \xc3\xa0 tous,\n\nPoint budget 2027 : merci d\xe2\x80\x99"
        "apporter vos chiffres.\n\nChlo\xc3\xa9");
  CHECK(text("html-base64-longhead") ==
        "Hi all,\nWeekly planning \xe2\x80\x94 agenda in the notebook.\nBob");
  CHECK(text("plain-qp-latin1-cancel") ==
        "D\xc3\xa9sol\xc3\xa9, la s\xc3\xa9rie est annul\xc3\xa9"
        "e : le comit\xc3\xa9 a d\xc3\xa9m\xc3\xa9nag\xc3\xa9.\n\nBob");
  CHECK(text("mixed-alternative-attachment") ==
        "Voir l\xe2\x80\x99ordre du jour ci-joint \xe2\x80\x93 merci.\n\nBob");
  CHECK(text("html-exchange2013") == "Design review.\nBob");
}

TEST_CASE("imip: the CLI pipeline rewrites, and refuses what is no invitation", "[imip]") {
  const std::string event = read_owa_file(owa_fixture_dir() + "/plain-base64-reply.json");
  auto out =
      icalgate::calendar::rewrite_meeting_message(read_owa_fixture("plain-base64-reply"), event);
  REQUIRE(out.ok());
  CHECK(out->find("method=REPLY") != std::string::npos);
  CHECK(*out == rewrite_fixture("plain-base64-reply").bytes);
  auto refused =
      icalgate::calendar::rewrite_meeting_message(read_owa_fixture("not-quoted-marker"), event);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == icalgate::protocol::Errc::not_found);
  auto external =
      icalgate::calendar::rewrite_meeting_message(read_owa_fixture("not-external-calendar"), event);
  CHECK_FALSE(external.ok());
}

TEST_CASE("imip: a response Graph types only by its responseType is a REPLY", "[imip]") {
  // reply-declined.json has "meetingMessageType": null and "responseType": "declined".
  auto out = icalgate::calendar::rewrite_meeting_message(read_owa_fixture("plain-base64-reply"),
                                                         read_graph_fixture("reply-declined"));
  REQUIRE(out.ok());
  CHECK(out->find("method=REPLY") != std::string::npos);
}

TEST_CASE("imip: a boundary that occurs in the content is perturbed deterministically", "[imip]") {
  auto first = cal::unique_boundary("message", "vcalendar", {}, {});
  REQUIRE(first.ok());
  CHECK(first->starts_with("_icalgate_"));
  CHECK(first->size() == 26);
  // The same seeds give the same boundary; other seeds another one.
  CHECK(*cal::unique_boundary("message", "vcalendar", {}, {}) == *first);
  CHECK(*cal::unique_boundary("message", "vcalendar2", {}, {}) != *first);
  // Present in the content: another one, still deterministic, absent from the content.
  const std::string content = "text\r\n--" + *first + "\r\nmore";
  auto second = cal::unique_boundary("message", "vcalendar", {content}, {});
  REQUIRE(second.ok());
  CHECK(*second != *first);
  CHECK(content.find(*second) == std::string::npos);
  CHECK(*cal::unique_boundary("message", "vcalendar", {content}, {}) == *second);
  // An enclosing boundary that prefixes it would match its delimiter lines: also avoided.
  auto third = cal::unique_boundary("message", "vcalendar", {}, {*first});
  REQUIRE(third.ok());
  CHECK_FALSE(third->starts_with(*first));
  // Nothing can avoid an enclosing boundary that prefixes every candidate.
  CHECK_FALSE(cal::unique_boundary("message", "vcalendar", {}, {"_icalgate_"}).ok());
}
