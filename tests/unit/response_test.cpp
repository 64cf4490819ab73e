#include "protocol/response.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>

using namespace icalgate::protocol;
using namespace std::string_literals;

namespace {

Response parse_ok(std::string_view text) {
  auto r = parse_response(text);
  if (!r) {
    FAIL("parse failed: " << r.error().message);
  }
  CHECK(serialize(*r) == text);
  auto again = parse_response(serialize_canonical(*r));
  REQUIRE(again);
  CHECK(*again == *r);
  return std::move(*r);
}

Errc parse_error(std::string_view text) {
  auto r = parse_response(text);
  REQUIRE_FALSE(r);
  return r.error().code;
}

std::string_view slice(std::string_view text, ByteRange range) {
  return text.substr(range.offset, range.length);
}

} // namespace

TEST_CASE("response: continuation requests", "[response]") {
  const auto text = parse_ok("+ Ready for additional command text\r\n");
  CHECK(text.kind == ResponseKind::continuation);
  CHECK(text.tag.empty());
  CHECK(std::get<ContinuationRequest>(text.body).text == "Ready for additional command text");
  const auto b64 = parse_ok("+ YGgGCSqGSIb3EgECAgIAb1kwV6ADAgEFoQMCAQ8=\r\n");
  CHECK(std::get<ContinuationRequest>(b64.body).text == "YGgGCSqGSIb3EgECAgIAb1kwV6ADAgEFoQMCAQ8=");
  const auto empty = parse_ok("+ \r\n");
  CHECK(std::get<ContinuationRequest>(empty.body).text.empty());
  const auto bare = parse_ok("+\r\n");
  CHECK(serialize_canonical(bare) == "+ \r\n");
  CHECK(parse_error("+ abc") == Errc::incomplete);
  CHECK(parse_error("+x\r\n") == Errc::syntax);
}

TEST_CASE("response: tagged status with response codes", "[response]") {
  const auto ok = parse_ok("A142 OK [READ-WRITE] SELECT completed\r\n");
  CHECK(ok.kind == ResponseKind::status);
  CHECK(ok.tag == "A142");
  const auto& s = std::get<StatusResponse>(ok.body);
  CHECK(s.status == Status::ok);
  REQUIRE(s.code);
  CHECK(s.code->name == "READ-WRITE");
  CHECK(s.code->args.empty());
  CHECK(s.text == "SELECT completed");

  const auto no = parse_ok("a1 no [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  CHECK(std::get<StatusResponse>(no.body).status == Status::no);
  CHECK(std::get<StatusResponse>(no.body).code->name == "AUTHENTICATIONFAILED");

  const auto bad = parse_ok("a2 BAD User is authenticated but not connected.\r\n");
  CHECK(std::get<StatusResponse>(bad.body).status == Status::bad);
  CHECK_FALSE(std::get<StatusResponse>(bad.body).code);
  CHECK(std::get<StatusResponse>(bad.body).text == "User is authenticated but not connected.");

  const auto terse = parse_ok("a3 OK\r\n");
  CHECK(std::get<StatusResponse>(terse.body).text.empty());
  const auto code_only = parse_ok("a4 OK [ALERT]\r\n");
  CHECK(std::get<StatusResponse>(code_only.body).code->name == "ALERT");
  CHECK(std::get<StatusResponse>(code_only.body).text.empty());

  CHECK(parse_error("a1 BYE x\r\n") == Errc::syntax);
  CHECK(parse_error("a1 PREAUTH x\r\n") == Errc::syntax);
  CHECK(parse_error("a1 MAYBE x\r\n") == Errc::syntax);
  CHECK(parse_error("a1 OK [ALERT x\r\n") == Errc::syntax);
  CHECK(parse_error("a1 OK []\r\n") == Errc::syntax);
  CHECK(parse_error("a1 OK [ALERT]x\r\n") == Errc::syntax);
  CHECK(parse_error("a1 OK done") == Errc::incomplete);
  CHECK(parse_error("a1 OK do\rne\r\n") == Errc::syntax);
}

TEST_CASE("response: typed response codes", "[response]") {
  const auto greeting = parse_ok(
      "* OK [CAPABILITY IMAP4rev1 SASL-IR ID ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n");
  CHECK(greeting.kind == ResponseKind::status);
  CHECK(greeting.tag.empty());
  const auto& code = *std::get<StatusResponse>(greeting.body).code;
  CHECK(code.name == "CAPABILITY");
  CHECK(code.list == std::vector<std::string>{"IMAP4rev1", "SASL-IR", "ID", "ENABLE", "IDLE",
                                              "LITERAL+", "AUTH=PLAIN"});

  const auto validity = parse_ok("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n");
  CHECK(std::get<StatusResponse>(validity.body).code->number == 3857529045U);
  CHECK(std::get<StatusResponse>(validity.body).code->args == "3857529045");
  const auto next = parse_ok("* OK [uidnext 4392] Predicted next UID\r\n");
  CHECK(std::get<StatusResponse>(next.body).code->name == "UIDNEXT");
  CHECK(std::get<StatusResponse>(next.body).code->number == 4392U);
  const auto modseq = parse_ok("* OK [HIGHESTMODSEQ 715194045007] Highest\r\n");
  CHECK(std::get<StatusResponse>(modseq.body).code->number == 715194045007U);

  const auto perm = parse_ok("* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n");
  CHECK(std::get<StatusResponse>(perm.body).code->list ==
        std::vector<std::string>{"\\Deleted", "\\Seen", "\\*"});

  // Malformed arguments of a known code leave the typed view empty but still parse.
  const auto odd = parse_ok("* OK [UIDVALIDITY x] hmm\r\n");
  CHECK_FALSE(std::get<StatusResponse>(odd.body).code->number);
  CHECK(std::get<StatusResponse>(odd.body).code->args == "x");

  const auto other = parse_ok("a NO [BADCHARSET (UTF-8 US-ASCII)] nope\r\n");
  CHECK(std::get<StatusResponse>(other.body).code->args == "(UTF-8 US-ASCII)");
}

TEST_CASE("response: untagged status, BYE and PREAUTH", "[response]") {
  const auto bye = parse_ok("* BYE AccessTokenExpired\r\n");
  CHECK(std::get<StatusResponse>(bye.body).status == Status::bye);
  const auto pre = parse_ok("* PREAUTH IMAP4rev2 server logged in as Smith\r\n");
  CHECK(std::get<StatusResponse>(pre.body).status == Status::preauth);
  const auto no = parse_ok("* NO Disk is 98% full, please delete unnecessary data\r\n");
  CHECK(std::get<StatusResponse>(no.body).status == Status::no);
  // Exchange Online's greeting carries bracketed text at the end, not a response code.
  const auto exchange = parse_ok("* OK The Microsoft Exchange IMAP4 service is ready. "
                                 "[TQBOADIAUABSADAAMQBDAEEAMAAwADMANQAuAG4AYQBtAA==]\r\n");
  CHECK_FALSE(std::get<StatusResponse>(exchange.body).code);
  CHECK(std::get<StatusResponse>(exchange.body).text.ends_with("AA==]"));
  CHECK(parse_error("*OK x\r\n") == Errc::syntax);
}

TEST_CASE("response: CAPABILITY data", "[response]") {
  const auto caps = parse_ok("* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS "
                             "ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n");
  CHECK(caps.kind == ResponseKind::capability);
  const auto& list = std::get<CapabilityData>(caps.body).capabilities;
  REQUIRE(list.size() == 12);
  CHECK(list[3] == "AUTH=XOAUTH2");
  CHECK(list[11] == "LITERAL+");
  const auto trailing = parse_ok("* capability IMAP4rev1 IDLE \r\n");
  CHECK(std::get<CapabilityData>(trailing.body).capabilities.size() == 2);
  CHECK(parse_error("* CAPABILITY IMAP4rev1  IDLE\r\n") == Errc::syntax);
  ParseLimits limits;
  limits.max_items = 1;
  auto many = parse_response("* CAPABILITY A B\r\n", limits);
  REQUIRE_FALSE(many);
  CHECK(many.error().code == Errc::too_many);
}

TEST_CASE("response: EXISTS, EXPUNGE, RECENT", "[response]") {
  const auto exists = parse_ok("* 23 EXISTS\r\n");
  CHECK(exists.kind == ResponseKind::exists);
  CHECK(std::get<MessageCount>(exists.body).number == 23U);
  CHECK(parse_ok("* 0 exists\r\n").kind == ResponseKind::exists);
  const auto expunge = parse_ok("* 3 EXPUNGE\r\n");
  CHECK(expunge.kind == ResponseKind::expunge);
  CHECK(std::get<MessageCount>(expunge.body).number == 3U);
  CHECK(parse_ok("* 5 RECENT\r\n").kind == ResponseKind::recent);
  CHECK(parse_error("* 23 EXISTS x\r\n") == Errc::syntax);
  CHECK(parse_error("* 4294967296 EXISTS\r\n") == Errc::syntax);
}

TEST_CASE("response: VANISHED", "[response]") {
  const auto earlier = parse_ok("* VANISHED (EARLIER) 41,43:116,118,120:211,214:540\r\n");
  CHECK(earlier.kind == ResponseKind::vanished);
  const auto& v = std::get<VanishedData>(earlier.body);
  CHECK(v.earlier);
  CHECK(v.uids.ranges.size() == 5);
  CHECK(v.uids.contains(100, 1000));
  CHECK_FALSE(v.uids.contains(117, 1000));
  const auto now = parse_ok("* VANISHED 405,407,410,425\r\n");
  CHECK_FALSE(std::get<VanishedData>(now.body).earlier);
  CHECK(parse_error("* VANISHED (LATER) 1\r\n") == Errc::syntax);
  CHECK(parse_error("* VANISHED\r\n") == Errc::syntax);
}

TEST_CASE("response: FLAGS and opaque mailbox data", "[response]") {
  const auto flags = parse_ok("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
  CHECK(flags.kind == ResponseKind::flags);
  CHECK(std::get<FlagsData>(flags.body).flags.size() == 5);
  CHECK(parse_error("* FLAGS \\Seen\r\n") == Errc::syntax);

  const auto list = parse_ok("* LIST (\\Noselect) \"/\" {3}\r\nfoo\r\n");
  CHECK(list.kind == ResponseKind::other);
  const auto& o = std::get<OtherData>(list.body);
  CHECK(o.name == "LIST");
  CHECK_FALSE(o.number);
  CHECK(o.rest == "(\\Noselect) \"/\" {3}\r\nfoo");

  const auto search = parse_ok("* SEARCH\r\n");
  CHECK(std::get<OtherData>(search.body).rest.empty());
  const auto numbered = parse_ok("* 7 XFOO bar\r\n");
  CHECK(std::get<OtherData>(numbered.body).number == 7U);
  CHECK(std::get<OtherData>(numbered.body).name == "XFOO");
  CHECK(parse_error("* LIST {2}\r\nfo\r\nx\r\n") == Errc::syntax);
  CHECK(parse_error("* LIST {30}\r\nfo\r\n") == Errc::incomplete);
}

TEST_CASE("response: FETCH with simple attributes", "[response]") {
  const std::string text = "* 12 FETCH (FLAGS (\\Seen) UID 4827313 RFC822.SIZE 44827 INTERNALDATE "
                           "\"17-Jul-1996 02:44:25 -0700\" MODSEQ (12121231000))\r\n";
  const auto r = parse_ok(text);
  CHECK(r.kind == ResponseKind::fetch);
  const auto& f = std::get<FetchData>(r.body);
  CHECK(f.number == 12U);
  REQUIRE(f.atts.size() == 5);
  CHECK(f.atts[0].attr == FetchAttr::flags);
  CHECK(f.atts[0].flags == std::vector<std::string>{"\\Seen"});
  CHECK(slice(text, f.atts[0].whole) == "FLAGS (\\Seen)");
  CHECK(slice(text, f.atts[0].value) == "(\\Seen)");
  CHECK(f.atts[1].attr == FetchAttr::uid);
  CHECK(f.atts[1].number == 4827313U);
  CHECK(slice(text, f.atts[1].value) == "4827313");
  CHECK(f.atts[2].attr == FetchAttr::rfc822_size);
  CHECK(f.atts[2].number == 44827U);
  CHECK(f.atts[3].attr == FetchAttr::internaldate);
  CHECK(f.atts[3].string->value == "17-Jul-1996 02:44:25 -0700");
  CHECK(slice(text, f.atts[3].value) == "\"17-Jul-1996 02:44:25 -0700\"");
  CHECK(slice(text, f.atts[3].content) == "17-Jul-1996 02:44:25 -0700");
  CHECK(f.atts[4].attr == FetchAttr::modseq);
  CHECK(f.atts[4].number == 12121231000U);
  CHECK(slice(text, f.atts[4].whole) == "MODSEQ (12121231000)");
}

TEST_CASE("response: FETCH BODY[section]<origin> with literal, quoted and NIL", "[response]") {
  const std::string text = "* 1 FETCH (UID 5 BODY[] {12}\r\nHello World! BODY[1.MIME]<10> \"x\" "
                           "body[HEADER.FIELDS (From \"X-A]\")] NIL RFC822.TEXT {2}\r\nhi)\r\n";
  const auto r = parse_ok(text);
  const auto& f = std::get<FetchData>(r.body);
  REQUIRE(f.atts.size() == 5);
  const auto& body = f.atts[1];
  CHECK(body.attr == FetchAttr::body_section);
  CHECK(body.section == SectionSpec{});
  CHECK_FALSE(body.origin);
  CHECK(body.string->value == "Hello World!");
  CHECK(body.string->form == IString::Form::literal);
  CHECK(slice(text, body.whole) == "BODY[] {12}\r\nHello World!");
  CHECK(slice(text, body.value) == "{12}\r\nHello World!");
  CHECK(slice(text, body.content) == "Hello World!");

  const auto& mime = f.atts[2];
  CHECK(mime.section.part == std::vector<std::uint32_t>{1});
  CHECK(mime.section.text == SectionSpec::Text::mime);
  CHECK(mime.origin == 10U);
  CHECK(mime.string->value == "x");
  CHECK(slice(text, mime.whole) == "BODY[1.MIME]<10> \"x\"");

  const auto& fields = f.atts[3];
  CHECK(fields.section.text == SectionSpec::Text::header_fields);
  CHECK(fields.section.fields == std::vector<std::string>{"From", "X-A]"});
  CHECK_FALSE(fields.string);
  CHECK(slice(text, fields.value) == "NIL");

  CHECK(f.atts[4].attr == FetchAttr::rfc822_text);
  CHECK(f.atts[4].string->value == "hi");
}

TEST_CASE("response: FETCH BINARY, BINARY.SIZE and RFC822 forms", "[response]") {
  const std::string text = "* 2 FETCH (BINARY[2]<10> ~{3}\r\n\x00\x01\x02 BINARY.SIZE[2] 3 "
                           "BINARY[1] \"abc\" RFC822 NIL RFC822.HEADER {4}\r\nA: b)\r\n"s;
  const auto r = parse_ok(text);
  const auto& f = std::get<FetchData>(r.body);
  REQUIRE(f.atts.size() == 5);
  CHECK(f.atts[0].attr == FetchAttr::binary);
  CHECK(f.atts[0].section.part == std::vector<std::uint32_t>{2});
  CHECK(f.atts[0].origin == 10U);
  CHECK(f.atts[0].string->form == IString::Form::literal8);
  CHECK(f.atts[0].string->value == std::string("\x00\x01\x02", 3));
  CHECK(f.atts[1].attr == FetchAttr::binary_size);
  CHECK(f.atts[1].number == 3U);
  CHECK(f.atts[2].string->value == "abc");
  CHECK(f.atts[3].attr == FetchAttr::rfc822);
  CHECK_FALSE(f.atts[3].string);
  CHECK(f.atts[4].attr == FetchAttr::rfc822_header);
  CHECK(serialize_canonical(f.atts[0]) == "BINARY[2]<10> ~{3}\r\n\x00\x01\x02"s);
  // literal8 only where BINARY allows it.
  CHECK(parse_error("* 2 FETCH (BODY[] ~{1}\r\nx)\r\n") == Errc::syntax);
  CHECK(parse_error("* 2 FETCH (BINARY[HEADER] NIL)\r\n") == Errc::syntax);
}

TEST_CASE("response: FETCH ENVELOPE and BODYSTRUCTURE as parsed lists", "[response]") {
  // RFC 3501 §8 example.
  const std::string text =
      "* 12 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg "
      "summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry "
      "Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" "
      "\"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL "
      "\"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
      "\"<B27397-0100000@cac.washington.edu>\") BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" "
      "\"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n";
  const auto r = parse_ok(text);
  const auto& f = std::get<FetchData>(r.body);
  REQUIRE(f.atts.size() == 2);
  const auto& env = f.atts[0].sexp;
  CHECK(f.atts[0].attr == FetchAttr::envelope);
  REQUIRE(env.items.size() == 10);
  CHECK(env.items[1].string.value == "IMAP4rev1 WG mtg summary and minutes");
  CHECK(env.items[6].items.size() == 2);
  CHECK(env.items[7].kind == SExpr::Kind::nil);
  CHECK(f.atts[1].attr == FetchAttr::body);
  CHECK(f.atts[1].sexp.items[6].atom == "3028");
  // The canonical writer reproduces RFC spacing, so this input is already canonical.
  CHECK(serialize_canonical(r) == text);

  const std::string multi = "* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 1 "
                            "1)(\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 1 1) \"ALTERNATIVE\" "
                            "(\"BOUNDARY\" \"b\") NIL NIL NIL))\r\n";
  const auto m = parse_ok(multi);
  CHECK(std::get<FetchData>(m.body).atts[0].sexp.items.size() == 7);
  CHECK(serialize_canonical(m) == multi);
}

TEST_CASE("response: FETCH EMAILID, THREADID, SAVEDATE and unknown attributes", "[response]") {
  const std::string text = "* 5 FETCH (EMAILID (M6d99ac3275bb4e) THREADID (T64b478a75b7ea9) "
                           "SAVEDATE \"01-Jan-2020 10:00:00 +0000\" X-GM-LABELS (\\Inbox "
                           "\"Work\"))\r\n";
  const auto r = parse_ok(text);
  const auto& f = std::get<FetchData>(r.body);
  REQUIRE(f.atts.size() == 4);
  CHECK(f.atts[0].attr == FetchAttr::email_id);
  CHECK(f.atts[0].string->value == "M6d99ac3275bb4e");
  CHECK(slice(text, f.atts[0].content) == "M6d99ac3275bb4e");
  CHECK(f.atts[1].string->value == "T64b478a75b7ea9");
  CHECK(f.atts[2].attr == FetchAttr::save_date);
  CHECK_FALSE(f.atts[3].attr);
  CHECK(f.atts[3].name == "X-GM-LABELS");
  CHECK(f.atts[3].sexp.items.size() == 2);

  const auto nils = parse_ok("* 5 FETCH (THREADID NIL SAVEDATE NIL)\r\n");
  CHECK_FALSE(std::get<FetchData>(nils.body).atts[0].string);
  CHECK(parse_error("* 5 FETCH (EMAILID NIL)\r\n") == Errc::syntax);
  CHECK(parse_error("* 5 FETCH (EMAILID ())\r\n") == Errc::syntax);
}

TEST_CASE("response: FETCH errors", "[response]") {
  CHECK(parse_error("* 1 FETCH ()\r\n") == Errc::syntax);
  CHECK(parse_error("* 1 FETCH (UID 0)\r\n") == Errc::syntax);
  CHECK(parse_error("* 1 FETCH (UID 1\r\n") == Errc::syntax);
  CHECK(parse_error("* 1 FETCH (UID 1  FLAGS ())\r\n") == Errc::syntax);
  CHECK(parse_error("* 1 FETCH (FLAGS \\Seen)\r\n") == Errc::syntax);
  CHECK(parse_error("* 1 FETCH (BODY[] {5}\r\nab)\r\n") == Errc::incomplete);
  CHECK(parse_error("* 1 FETCH (BODY[1 NIL)\r\n") == Errc::syntax);
  CHECK(parse_error("* 1 FETCH (BODY[X] NIL)\r\n") == Errc::syntax);
  CHECK(parse_error("* 1 FETCH (RFC822.SIZE x)\r\n") == Errc::syntax);
  CHECK(parse_error("* 1 FETCH (MODSEQ 5)\r\n") == Errc::syntax);
  CHECK(parse_error("* 1 FETCH (INTERNALDATE NIL)\r\n") == Errc::syntax);
  CHECK(parse_error("* 1 FETCH (X-FOO[1] NIL)\r\n") == Errc::unsupported);
  CHECK(parse_error("* 1 FETCH (UID 1)) \r\n") == Errc::syntax);

  ParseLimits limits;
  limits.max_items = 2;
  auto many = parse_response("* 1 FETCH (UID 1 UID 2 UID 3)\r\n", limits);
  REQUIRE_FALSE(many);
  CHECK(many.error().code == Errc::too_many);
  limits.max_depth = 2;
  auto deep = parse_response("* 1 FETCH (BODYSTRUCTURE (((\"a\"))))\r\n", limits);
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == Errc::too_many);
}

TEST_CASE("response: byte ranges let a relay substitute a value", "[response]") {
  const std::string text = "* 3 FETCH (UID 9 BODY[2] {5}\r\nhello FLAGS ())\r\n";
  const auto r = parse_ok(text);
  const auto& att = std::get<FetchData>(r.body).atts[1];
  std::string rewritten = text;
  rewritten.replace(att.value.offset, att.value.length, "{7}\r\ngoodbye");
  auto again = parse_response(rewritten);
  REQUIRE(again);
  CHECK(std::get<FetchData>(again->body).atts[1].string->value == "goodbye");
  CHECK(std::get<FetchData>(again->body).atts[2].attr == FetchAttr::flags);
}

TEST_CASE("response: a FETCH response built in code round-trips", "[response]") {
  Response r;
  r.kind = ResponseKind::fetch;
  FetchData f;
  f.number = 7;
  MsgAtt uid;
  uid.attr = FetchAttr::uid;
  uid.number = 42;
  MsgAtt size;
  size.attr = FetchAttr::rfc822_size;
  size.number = 2841;
  MsgAtt body;
  body.attr = FetchAttr::body_section;
  body.section.part = {1};
  body.section.text = SectionSpec::Text::mime;
  body.origin = 0;
  body.string = IString{"Content-Type: text/plain\r\n\r\n", IString::Form::literal, false};
  MsgAtt flags;
  flags.attr = FetchAttr::flags;
  flags.flags = {"\\Seen", "$Forwarded"};
  f.atts = {uid, size, body, flags};
  r.body = f;
  const std::string out = serialize(r);
  CHECK(out == "* 7 FETCH (UID 42 RFC822.SIZE 2841 BODY[1.MIME]<0> {28}\r\nContent-Type: "
               "text/plain\r\n\r\n FLAGS (\\Seen $Forwarded))\r\n");
  auto back = parse_response(out);
  REQUIRE(back);
  CHECK(*back == r);

  Response status;
  status.kind = ResponseKind::status;
  status.tag = "a1";
  status.body = StatusResponse{Status::no, ResponseCode{"ALERT", "", {}, {}}, "go away"};
  CHECK(serialize(status) == "a1 NO [ALERT] go away\r\n");
  auto status_back = parse_response(serialize(status));
  REQUIRE(status_back);
  CHECK(*status_back == status);

  Response count;
  count.kind = ResponseKind::expunge;
  count.body = MessageCount{4};
  CHECK(serialize(count) == "* 4 EXPUNGE\r\n");
}

TEST_CASE("response: malformed values of typed attributes and codes", "[response]") {
  CHECK(parse_error("* 1 FETCH (ENVELOPE NIL)\r\n") == Errc::syntax);
  CHECK(parse_error("* 1 FETCH (BODYSTRUCTURE \"x\")\r\n") == Errc::syntax);
  CHECK(parse_error("* 1 FETCH (SAVEDATE 5)\r\n") == Errc::syntax);
  const auto escaped = parse_ok("* 1 FETCH (BODY[HEADER.FIELDS (\"a\\\"]\")] NIL)\r\n");
  CHECK(std::get<FetchData>(escaped.body).atts[0].section.fields ==
        std::vector<std::string>{"a\"]"});

  // A CAPABILITY code whose list is malformed keeps only its raw arguments.
  const auto odd = parse_ok("* OK [CAPABILITY IMAP4rev1  IDLE] hi\r\n");
  CHECK(std::get<StatusResponse>(odd.body).code->list.empty());
  CHECK(std::get<StatusResponse>(odd.body).code->args == "IMAP4rev1  IDLE");
}
