// Classification of OWA-link meeting messages: the whole-message rule and the relay's bounded
// BODYSTRUCTURE + partial-fetch rule, on the fixtures of tests/unit/data/owa/ and the
// differential corpus (tests/corpus/).

#include "calendar/mail_date.hpp"
#include "calendar/owa_link.hpp"
#include "calendar_owa_test_support.hpp"
#include "protocol/mime/bodystructure.hpp"
#include "protocol/mime/section.hpp"
#include "protocol/response.hpp"

#include <catch2/catch_test_macros.hpp>

#include <filesystem>
#include <map>
#include <set>

namespace cal = icalgate::calendar;
namespace mime = icalgate::protocol::mime;
using cal::TextKind;
using cal::Verdict;
using mime::TransferEncoding;

namespace {

using Path = std::vector<std::uint32_t>;

icalgate::protocol::SExpr bodystructure_sexp(const mime::Message& msg) {
  const std::string line = "* 1 FETCH (BODYSTRUCTURE " + mime::bodystructure(msg, true) + ")\r\n";
  auto r = icalgate::protocol::parse_response(line);
  REQUIRE(r.ok());
  const auto& fetch = std::get<icalgate::protocol::FetchData>(r->body);
  REQUIRE(fetch.atts.size() == 1);
  return fetch.atts[0].sexp;
}

struct RelayOutcome {
  Verdict verdict = Verdict::no;
  int fetches = 0;
  std::uint64_t bytes = 0;
  std::optional<cal::OwaLink> link;
};

// What the relay does: BODYSTRUCTURE, then BODY.PEEK[section]<0.n> until decided. `along`:
// BODY.PEEK[1]<0.kAlongOctets> came with BODYSTRUCTURE (a header sync's answers), and the
// probes start only where it leaves the message undecided.
RelayOutcome relay_classify(const mime::Message& msg, bool along = false) {
  RelayOutcome out;
  const auto plan = cal::plan_probe(bodystructure_sexp(msg));
  if (plan.verdict == Verdict::no) {
    return out;
  }
  REQUIRE(plan.probe);
  const cal::Probe& probe = *plan.probe;
  std::uint64_t n = probe.octets;
  if (along) {
    icalgate::protocol::SectionSpec section_one;
    section_one.part = {1};
    const std::string one = mime::body_section(msg, section_one);
    const std::string_view got = std::string_view(one).substr(0, cal::kAlongOctets);
    out.bytes += got.size();
    const auto v = cal::classify_section_one(probe, got, got.size() < cal::kAlongOctets);
    if (v.verdict != Verdict::need_more) {
      out.verdict = v.verdict;
      out.link = v.link;
      return out;
    }
    n = v.next_octets == 0 ? probe.octets : v.next_octets;
  }
  // A part that BODYSTRUCTURE names but the message lacks (e.g. a multipart without
  // boundary) fetches as the empty string.
  const mime::MimePart* part = mime::find_part(msg, probe.section);
  const std::string_view body = part == nullptr ? std::string_view() : body_bytes(msg, *part);
  while (true) {
    REQUIRE(out.fetches < 5);
    ++out.fetches;
    const std::string_view got = body.substr(0, n);
    out.bytes += got.size();
    const auto v = cal::classify_prefix(probe, got, got.size() < n);
    if (v.verdict != Verdict::need_more) {
      out.verdict = v.verdict;
      out.link = v.link;
      return out;
    }
    REQUIRE(v.next_octets > n);
    n = v.next_octets;
  }
}

struct Expected {
  std::vector<Path> sections;
  std::vector<TextKind> kinds;
  TransferEncoding encoding;
  std::string charset;
  cal::UrlForm form;
};

const std::map<std::string, Expected>& expected_links() {
  using F = cal::UrlForm;
  static const std::map<std::string, Expected> m = {
      {"html-base64-longhead",
       {{{1}}, {TextKind::html}, TransferEncoding::base64, "utf-8", F::exchange_online}},
      {"alternative-base64",
       {{{1}, {2}},
        {TextKind::plain, TextKind::html},
        TransferEncoding::base64,
        "utf-8",
        F::exchange_online}},
      {"plain-qp-latin1-cancel",
       {{{1}},
        {TextKind::plain},
        TransferEncoding::quoted_printable,
        "iso-8859-1",
        F::exchange_online}},
      {"mixed-alternative-attachment",
       {{{1, 1}, {1, 2}},
        {TextKind::plain, TextKind::html},
        TransferEncoding::quoted_printable,
        "windows-1252",
        F::exchange_online}},
      {"mixed-html-attachment",
       {{{1}}, {TextKind::html}, TransferEncoding::base64, "utf-8", F::exchange_online}},
      {"html-exchange2013",
       {{{1}}, {TextKind::html}, TransferEncoding::base64, "utf-8", F::exchange_2013}},
      {"plain-qp-exchange2013",
       {{{1}}, {TextKind::plain}, TransferEncoding::quoted_printable, "utf-8", F::exchange_2013}},
      {"plain-base64-reply",
       {{{1}}, {TextKind::plain}, TransferEncoding::base64, "utf-8", F::exchange_online}},
      {"related-html-inline-image",
       {{{1}}, {TextKind::html}, TransferEncoding::base64, "utf-8", F::exchange_online}},
  };
  return m;
}

} // namespace

TEST_CASE("owa: every meeting fixture is recognised with its marked parts and link", "[owa]") {
  for (const auto& name : owa_meeting_fixtures()) {
    INFO(name);
    const auto msg = parse_owa_message(read_owa_fixture(name));
    const auto c = cal::classify(msg);
    INFO(c.reason);
    REQUIRE(c.link);
    const Expected& e = expected_links().at(name);
    REQUIRE(c.link->parts.size() == e.sections.size());
    for (std::size_t i = 0; i < e.sections.size(); ++i) {
      CHECK(c.link->parts[i].section == e.sections[i]);
      CHECK(c.link->parts[i].kind == e.kinds[i]);
      CHECK(c.link->parts[i].encoding == e.encoding);
      CHECK(c.link->parts[i].charset == e.charset);
    }
    CHECK(c.link->form == e.form);
    // The URL is the unescaped one, whichever of `&` and `&amp;` the HTML used.
    CHECK(c.link->url.find("&amp;") == std::string::npos);
    CHECK(c.link->url.find('&') != std::string::npos);
    // The EWS id is the percent-decoded base64.
    CHECK(c.link->ews_item_id.find('%') == std::string::npos);
    CHECK(c.link->ews_item_id.find('+') != std::string::npos);
    CHECK(c.link->ews_item_id.back() == '=');
    if (e.form == cal::UrlForm::exchange_2013) {
      CHECK(c.link->item_class == "IPM.Schedule.Meeting.Request");
      CHECK(c.link->ews_item_id.starts_with("RgAAAAD2BuE+"));
    } else {
      CHECK(c.link->item_class.empty());
      CHECK(c.link->ews_item_id.starts_with("AAMkAGVmMDEz"));
      CHECK(c.link->url.ends_with("&exvsurl=1&path=/calendar/item"));
    }
  }
}

TEST_CASE("owa: raw & and &amp; in the HTML href give the same URL", "[owa]") {
  // html-base64-longhead writes &amp;, alternative-base64's HTML writes a raw &.
  const auto amp = cal::classify(parse_owa_message(read_owa_fixture("html-base64-longhead")));
  const auto raw = cal::classify(parse_owa_message(read_owa_fixture("alternative-base64")));
  REQUIRE(amp.link);
  REQUIRE(raw.link);
  CHECK(amp.link->url.find("%3D&exvsurl=1&path=") != std::string::npos);
  CHECK(raw.link->url.find("%3D&exvsurl=1&path=") != std::string::npos);
}

TEST_CASE("owa: messages that only look like one are not invitations", "[owa]") {
  const std::map<std::string, std::string> reasons = {
      {"not-quoted-marker", "no marker"},
      {"not-html-marker-later", "no marker"},
      {"not-external-calendar", "calendar part"},
      {"not-other-link", "no marker"},
  };
  for (const auto& name : owa_negative_fixtures()) {
    INFO(name);
    const auto c = cal::classify(parse_owa_message(read_owa_fixture(name)));
    CHECK_FALSE(c.link);
    CHECK(std::string(c.reason).find(reasons.at(name)) != std::string::npos);
  }
}

TEST_CASE("owa: in the corpus exactly the Exchange OWA-link messages are recognised", "[owa]") {
  const std::filesystem::path dir = std::filesystem::path(ICALGATE_TEST_DATA_DIR) / "corpus";
  std::set<std::string> found;
  int total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".eml") {
      continue;
    }
    ++total;
    const auto msg = parse_owa_message(read_owa_file(entry.path().string()));
    if (cal::classify(msg).link) {
      found.insert(entry.path().filename().string());
    }
  }
  CHECK(total >= 80);
  const std::set<std::string> expected = {
      "18-exchange-owa-html.eml", "19-exchange-owa-alternative.eml",
      "20-exchange-owa-plain-qp-latin1.eml", "21-exchange-owa-mixed-attachment.eml"};
  CHECK(found == expected);
}

TEST_CASE("owa: the relay's bounded decision agrees with the whole-message one", "[owa]") {
  std::vector<std::filesystem::path> files;
  for (const auto& name : owa_meeting_fixtures()) {
    files.emplace_back(owa_fixture_dir() + "/" + name + ".eml");
  }
  for (const auto& name : owa_negative_fixtures()) {
    files.emplace_back(owa_fixture_dir() + "/" + name + ".eml");
  }
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(ICALGATE_TEST_DATA_DIR) / "corpus")) {
    if (entry.path().extension() == ".eml") {
      files.push_back(entry.path());
    }
  }
  for (const auto& file : files) {
    INFO(file.filename().string());
    const auto msg = parse_owa_message(read_owa_file(file.string()));
    const auto whole = cal::classify(msg);
    for (const bool along : {false, true}) {
      INFO("section 1 asked along: " << along);
      const auto relay = relay_classify(msg, along);
      CHECK((relay.verdict == Verdict::yes) == whole.link.has_value());
      if (whole.link && relay.link) {
        CHECK(relay.link->url == whole.link->url);
        CHECK(relay.link->parts.front().section == whole.link->parts.front().section);
      }
      CHECK(relay.bytes <= cal::kMaxProbeOctets * 2);
    }
  }
}

TEST_CASE("owa: section 1 asked along decides plain first bodies, nested or not, unprobed",
          "[owa]") {
  // Plain first bodies at sections 1 and 1.1 (behind the nested multipart's delimiter and
  // header); base64 and quoted-printable.
  for (const std::string name :
       {"alternative-base64", "plain-qp-latin1-cancel", "mixed-alternative-attachment",
        "plain-qp-exchange2013", "plain-base64-reply"}) {
    INFO(name);
    const auto r = relay_classify(parse_owa_message(read_owa_fixture(name)), true);
    CHECK(r.verdict == Verdict::yes);
    CHECK(r.fetches == 0);
  }
  // An HTML first body needs more than the along bytes: the planned probe follows.
  const auto html =
      relay_classify(parse_owa_message(read_owa_fixture("mixed-html-attachment")), true);
  CHECK(html.verdict == Verdict::yes);
  CHECK(html.fetches == 1);
  // Ordinary mail with a plain first body at 1.1 is decided along too.
  const auto ordinary =
      relay_classify(parse_owa_message(read_owa_file(std::string(ICALGATE_TEST_DATA_DIR) +
                                                     "/corpus/28-mixed-alternative-related.eml")),
                     true);
  CHECK(ordinary.verdict == Verdict::no);
  CHECK(ordinary.fetches == 0);
}

TEST_CASE("owa: the first part within section 1 is found only behind a real delimiter", "[owa]") {
  cal::Probe probe;
  probe.section = {1, 1};
  probe.section_text = "1.1";
  probe.kind = TextKind::plain;
  probe.encoding = TransferEncoding::identity;
  probe.charset = "utf-8";
  probe.octets = cal::kPlainProbeOctets;
  probe.in_section_one = true;
  probe.section_one_boundaries = {"alt"};
  const std::string url = "https://outlook.office365.com/owa/contoso.com/?itemid=AAMk%2BAA%3D"
                          "&exvsurl=1&path=/calendar/item";
  const std::string marked = "Microsoft Outlook Web Access: " + url + "\r\n\r\nAgenda\r\n";
  const auto verdict = [&probe](const std::string& section_one, bool complete) {
    return cal::classify_section_one(probe, section_one, complete);
  };
  // A preamble, transport padding after the delimiter, the part's header.
  CHECK(verdict("This is a multi-part message in MIME format.\r\n--alt  \r\n"
                "Content-Type: text/plain\r\n\r\n" +
                    marked,
                false)
            .verdict == Verdict::yes);
  // A part without header lines; the next delimiter ends the part (so it is complete).
  CHECK(verdict("--alt\r\n\r\n" + marked + "\r\n--alt\r\n", false).verdict == Verdict::yes);
  CHECK(verdict("--alt\r\n\r\nMicrosoft Outlook Web Access\r\n--alt--\r\n", false).verdict ==
        Verdict::no);
  // The boundary text inside a line is no delimiter; "--alt--" closes; a cut header waits.
  const auto unreached = [&](const std::string& section_one) {
    const auto v = verdict(section_one, false);
    return v.verdict == Verdict::need_more && v.next_octets == 0;
  };
  CHECK(unreached("x--alt\r\n\r\n" + marked));
  CHECK(unreached("--alt--\r\n\r\n" + marked));
  CHECK(unreached("--alt\r\nContent-Type: text/pl"));
  CHECK(unreached(""));
  // A part that BODY[1] does not begin with is left to the planned probe.
  probe.in_section_one = false;
  CHECK(unreached("--alt\r\n\r\n" + marked));
  // Undecided within fewer bytes than the planned probe: that probe follows.
  probe.in_section_one = true;
  CHECK(unreached("--alt\r\n\r\nMicrosoft Outlook Web Access: https://outlook.off"));
}

TEST_CASE("owa: a 20 KB <head> takes a second, larger probe; the plain marker one", "[owa]") {
  const auto html = relay_classify(parse_owa_message(read_owa_fixture("html-base64-longhead")));
  CHECK(html.verdict == Verdict::yes);
  CHECK(html.fetches == 2);
  const auto plain = relay_classify(parse_owa_message(read_owa_fixture("plain-base64-reply")));
  CHECK(plain.verdict == Verdict::yes);
  CHECK(plain.fetches == 1);
  // A message with its own text/calendar is decided from BODYSTRUCTURE alone.
  const auto ext = relay_classify(parse_owa_message(read_owa_fixture("not-external-calendar")));
  CHECK(ext.verdict == Verdict::no);
  CHECK(ext.fetches == 0);
}

TEST_CASE("owa: classify_prefix asks for more only while undecidable", "[owa]") {
  cal::Probe probe;
  probe.section = {1};
  probe.section_text = "1";
  probe.kind = TextKind::plain;
  probe.encoding = TransferEncoding::identity;
  probe.charset = "utf-8";
  probe.part_octets = 100000;
  const std::string url = "https://outlook.office365.com/owa/contoso.com/?itemid=AAMk%2BAA%3D"
                          "&exvsurl=1&path=/calendar/item";
  const std::string body = "Microsoft Outlook Web Access: " + url + "\r\n\r\nHello\r\n";
  CHECK(cal::classify_prefix(probe, body.substr(0, 12), false).verdict == Verdict::need_more);
  const auto link_further = cal::classify_prefix(probe, body.substr(0, 40), false);
  CHECK(link_further.verdict == Verdict::need_more);
  CHECK(link_further.next_octets == cal::kProbeOctets);
  CHECK(cal::classify_prefix(probe, body.substr(0, 12), true).verdict == Verdict::no);
  CHECK(cal::classify_prefix(probe, body, false).verdict == Verdict::yes);
  CHECK(cal::classify_prefix(probe, "Microsoft Outlook Web Axxx", false).verdict == Verdict::no);
  CHECK(cal::classify_prefix(probe, "Hello", false).verdict == Verdict::no);
  // HTML without <body> yet: more, up to the cap, then no.
  probe.kind = TextKind::html;
  const std::string head(20000, 'x');
  const auto first = cal::classify_prefix(probe, head.substr(0, 16384), false);
  CHECK(first.verdict == Verdict::need_more);
  CHECK(first.next_octets > 16384);
  CHECK(first.next_octets <= cal::kMaxProbeOctets);
  const std::string huge(cal::kMaxProbeOctets, 'x');
  CHECK(cal::classify_prefix(probe, huge, false).verdict == Verdict::no);
}

TEST_CASE("owa: a plain first body is probed by its first KiB; a longer link takes the full probe",
          "[owa]") {
  const auto message = [](std::string_view type, std::string_view encoding, std::string body) {
    return parse_owa_message("From: a@contoso.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
                             "Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n"
                             "--b\r\nContent-Type: " +
                             std::string(type) +
                             "; charset=\"utf-8\"\r\nContent-Transfer-Encoding: " +
                             std::string(encoding) + "\r\n\r\n" + body +
                             "\r\n--b\r\nContent-Type: text/html; charset=\"utf-8\"\r\n\r\n"
                             "<html><body>x</body></html>\r\n--b--\r\n");
  };
  // Ordinary mail with a long plain alternative (a reply chain): decided from 1 KiB.
  std::string chain;
  while (chain.size() < 40000) {
    chain += "> On Monday the project plan was reviewed with the customer, thanks.\r\n";
  }
  const auto ordinary = relay_classify(message("text/plain", "7bit", chain));
  CHECK(ordinary.verdict == Verdict::no);
  CHECK(ordinary.fetches == 1);
  CHECK(ordinary.bytes == cal::kPlainProbeOctets);
  // An invitation whose link line outgrows the first probe: one more, the full one.
  const std::string id(1500, 'A');
  const std::string url =
      "https://outlook.office365.com/owa/?itemid=" + id + "%3D&exvsurl=1&path=/calendar/item";
  const std::string text = "Microsoft Outlook Web Access: " + url + "\r\n\r\nAgenda\r\n";
  const auto msg = message("text/plain", "7bit", text);
  REQUIRE(cal::classify(msg).link);
  const auto long_link = relay_classify(msg);
  CHECK(long_link.verdict == Verdict::yes);
  CHECK(long_link.fetches == 2);
  REQUIRE(long_link.link);
  CHECK(long_link.link->url == url);
  // An HTML first body still starts with the full probe.
  const auto html = message("text/html", "7bit", "<html><head>" + chain + "</head></html>");
  const auto html_probe = cal::plan_probe(bodystructure_sexp(html));
  REQUIRE(html_probe.probe);
  CHECK(html_probe.probe->octets == cal::kProbeOctets);
}

TEST_CASE("owa: both URL forms parse; other Outlook links do not", "[owa]") {
  cal::OwaLink link;
  CHECK(cal::parse_owa_url("https://outlook.office365.com/owa/contoso.com/?itemid=AAMkAG%2BQ%2F"
                           "A%3D&exvsurl=1&path=/calendar/item",
                           link));
  CHECK(link.form == cal::UrlForm::exchange_online);
  CHECK(link.ews_item_id == "AAMkAG+Q/A=");
  CHECK(cal::parse_owa_url("https://mail.contoso.com/owa/?ae=Item&a=open&t=IPM.Schedule.Meeting."
                           "Canceled&id=RgAA%2bBB%3d%3d",
                           link));
  CHECK(link.form == cal::UrlForm::exchange_2013);
  CHECK(link.item_class == "IPM.Schedule.Meeting.Canceled");
  CHECK(link.ews_item_id == "RgAA+BB==");
  CHECK_FALSE(cal::parse_owa_url(
      "https://outlook.office365.com/owa/contoso.com/?path=/options/popandimap", link));
  CHECK_FALSE(cal::parse_owa_url(
      "https://mail.contoso.com/owa/?ae=Item&a=open&t=IPM.Note&id=RgA%3d", link));
  CHECK_FALSE(cal::parse_owa_url(
      "https://outlook.office365.com/owa/x/?itemid=not$base64&path=/calendar/item", link));
  CHECK_FALSE(cal::parse_owa_url("ftp://x/?itemid=AA%3D&path=/calendar/item", link));
  CHECK_FALSE(cal::parse_owa_url("https://x/?itemid=AA%3&path=/calendar/item", link));
}

TEST_CASE("owa: RFC 5322 dates become UTC for DTSTAMP", "[owa]") {
  using cal::CivilDateTime;
  auto d = cal::parse_mail_date("Tue, 17 Nov 2026 10:02:11 +0100");
  REQUIRE(d);
  CHECK(*d == CivilDateTime{{2026, 11, 17}, 9, 2, 11});
  d = cal::parse_mail_date("Mon, 16 Nov 2026 18:30:00 -0500");
  REQUIRE(d);
  CHECK(*d == CivilDateTime{{2026, 11, 16}, 23, 30, 0});
  d = cal::parse_mail_date("31 Dec 26 23:59 EST (Eastern)");
  REQUIRE(d);
  CHECK(*d == CivilDateTime{{2027, 1, 1}, 4, 59, 0});
  d = cal::parse_mail_date("1 Jan 2027 00:30:00 +0200");
  REQUIRE(d);
  CHECK(*d == CivilDateTime{{2026, 12, 31}, 22, 30, 0});
  CHECK_FALSE(cal::parse_mail_date("yesterday"));
  CHECK_FALSE(cal::parse_mail_date("31 Feb 2026 10:00:00 +0000"));
  CHECK_FALSE(cal::parse_mail_date(""));
}
