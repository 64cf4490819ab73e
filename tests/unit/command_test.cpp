#include "protocol/command.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>

using namespace icalgate::protocol;

namespace {

Command parse_ok(std::string_view text) {
  auto cmd = parse_command(text);
  if (!cmd) {
    FAIL("parse failed: " << cmd.error().message);
  }
  // Untouched input serializes byte for byte; the canonical form parses back to an equal value.
  CHECK(serialize(*cmd) == text);
  auto again = parse_command(serialize_canonical(*cmd));
  REQUIRE(again);
  CHECK(*again == *cmd);
  return std::move(*cmd);
}

Errc parse_error(std::string_view text) {
  auto cmd = parse_command(text);
  REQUIRE_FALSE(cmd);
  return cmd.error().code;
}

} // namespace

TEST_CASE("command: commands without arguments, any case", "[command]") {
  const auto cap = parse_ok("a1 CAPABILITY\r\n");
  CHECK(cap.tag == "a1");
  CHECK(cap.kind == CommandKind::capability);
  CHECK(cap.name == "CAPABILITY");
  CHECK(std::holds_alternative<NoArgs>(cap.args));
  CHECK(parse_ok("a2 noop\r\n").kind == CommandKind::noop);
  CHECK(parse_ok("a3 LogOut\r\n").kind == CommandKind::logout);
  CHECK(parse_ok("a4 STARTTLS\r\n").kind == CommandKind::starttls);
  const auto idle = parse_ok("A.5 idle\r\n");
  CHECK(idle.kind == CommandKind::idle);
  CHECK(idle.name == "IDLE");
  CHECK(idle.tag == "A.5");
  CHECK(parse_error("a1 NOOP extra\r\n") == Errc::syntax);
  CHECK(parse_error("a1 IDLE \r\n") == Errc::syntax);
}

TEST_CASE("command: framing errors", "[command]") {
  CHECK(parse_error("a1 NOOP") == Errc::incomplete);
  CHECK(parse_error("a1 NOOP\r\nx") == Errc::syntax);
  CHECK(parse_error("a1 NOOP\n") == Errc::syntax);
  CHECK(parse_error("+1 NOOP\r\n") == Errc::syntax);
  CHECK(parse_error("* NOOP\r\n") == Errc::syntax);
  CHECK(parse_error("a1\r\n") == Errc::syntax);
  CHECK(parse_error("a1 \r\n") == Errc::syntax);
  CHECK(parse_error("") == Errc::incomplete);
}

TEST_CASE("command: LOGIN with atoms, quoted strings and literals", "[command]") {
  const auto atoms = parse_ok("a1 LOGIN alice secret\r\n");
  CHECK(atoms.kind == CommandKind::login);
  const auto& a = std::get<LoginArgs>(atoms.args);
  CHECK(a.userid.value == "alice");
  CHECK(a.password.value == "secret");
  CHECK(a.userid.form == IString::Form::atom);

  const auto quoted = parse_ok(R"(a2 login "alice@example.com" "p\"a\\ss word")"
                               "\r\n");
  const auto& q = std::get<LoginArgs>(quoted.args);
  CHECK(q.userid.value == "alice@example.com");
  CHECK(q.password.value == "p\"a\\ss word");

  const auto literal = parse_ok("a1 LOGIN {5}\r\nalice {6}\r\nsecret\r\n");
  const auto& l = std::get<LoginArgs>(literal.args);
  CHECK(l.userid.value == "alice");
  CHECK(l.password.value == "secret");
  CHECK(l.password.form == IString::Form::literal);

  const auto plus = parse_ok("a1 LOGIN {5+}\r\nalice \"x\"\r\n");
  CHECK(std::get<LoginArgs>(plus.args).userid.non_sync);
  CHECK(serialize_canonical(plus) == "a1 LOGIN {5+}\r\nalice \"x\"\r\n");
}

TEST_CASE("command: LOGIN errors never echo the password", "[command]") {
  for (const char* bad : {"a1 LOGIN alice \"hunter2\\q\"\r\n", "a1 LOGIN alice hunter2 x\r\n",
                          "a1 LOGIN alice {7}\r\nhunter2x\r\n", "a1 LOGIN alice\r\n",
                          "a1 LOGIN alice \"hunter2\r\n"}) {
    INFO(bad);
    auto cmd = parse_command(bad);
    REQUIRE_FALSE(cmd);
    CHECK(cmd.error().message.find("hunter2") == std::string::npos);
  }
  CHECK(parse_error("a1 LOGIN alice {10}\r\nabc\r\n") == Errc::incomplete);
}

TEST_CASE("command: AUTHENTICATE with and without SASL-IR", "[command]") {
  const auto plain = parse_ok("a1 AUTHENTICATE PLAIN\r\n");
  CHECK(plain.kind == CommandKind::authenticate);
  CHECK(std::get<AuthenticateArgs>(plain.args).mechanism == "PLAIN");
  CHECK_FALSE(std::get<AuthenticateArgs>(plain.args).initial_response);

  const auto ir = parse_ok("a2 authenticate XOAUTH2 dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2sBAQ==\r\n");
  CHECK(std::get<AuthenticateArgs>(ir.args).initial_response ==
        "dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2sBAQ==");

  const auto empty = parse_ok("a3 AUTHENTICATE PLAIN =\r\n");
  CHECK(std::get<AuthenticateArgs>(empty.args).initial_response == "=");

  for (const char* bad : {"a1 AUTHENTICATE PLAIN c2Vj*cmV0\r\n", "a1 AUTHENTICATE PLAIN \r\n",
                          "a1 AUTHENTICATE PLAIN c2Vj=cmV0\r\n", "a1 AUTHENTICATE\r\n",
                          "a1 AUTHENTICATE PLAIN c2Vj cmV0\r\n"}) {
    INFO(bad);
    auto cmd = parse_command(bad);
    REQUIRE_FALSE(cmd);
    CHECK(cmd.error().code == Errc::syntax);
    CHECK(cmd.error().message.find("c2Vj") == std::string::npos);
  }
}

TEST_CASE("command: AUTHENTICATE continuation lines and DONE", "[command]") {
  auto data = parse_auth_continuation("dGVzdA==\r\n");
  REQUIRE(data);
  CHECK_FALSE(data->cancel);
  CHECK(data->data == "dGVzdA==");
  auto cancel = parse_auth_continuation("*\r\n");
  REQUIRE(cancel);
  CHECK(cancel->cancel);
  auto empty = parse_auth_continuation("\r\n");
  REQUIRE(empty);
  CHECK(empty->data.empty());
  CHECK(parse_auth_continuation("secret!\r\n").error().code == Errc::syntax);
  CHECK(parse_auth_continuation("secret!\r\n").error().message.find("secret") == std::string::npos);
  CHECK(parse_auth_continuation("dGVzdA==").error().code == Errc::incomplete);

  CHECK(is_idle_done("DONE\r\n"));
  CHECK(is_idle_done("done\r\n"));
  CHECK_FALSE(is_idle_done("DONE"));
  CHECK_FALSE(is_idle_done("DONE \r\n"));
  CHECK_FALSE(is_idle_done("a1 DONE\r\n"));
}

TEST_CASE("command: ID with NIL, parameters and errors", "[command]") {
  const auto nil = parse_ok("a1 ID nil\r\n");
  CHECK(nil.kind == CommandKind::id);
  CHECK_FALSE(std::get<IdArgs>(nil.args).params);

  // RFC 2971 example, plus a NIL value and a literal.
  const auto list =
      parse_ok("a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"os\" NIL {6}\r\nvendor "
               "\"x\")\r\n");
  const auto& params = *std::get<IdArgs>(list.args).params;
  REQUIRE(params.size() == 4);
  CHECK(params[0].first.value == "name");
  CHECK(params[0].second->value == "sodr");
  CHECK_FALSE(params[2].second);
  CHECK(params[3].first.value == "vendor");

  CHECK(std::get<IdArgs>(parse_ok("a1 ID ()\r\n").args).params->empty());
  CHECK(parse_error("a1 ID\r\n") == Errc::syntax);
  CHECK(parse_error("a1 ID (\"name\")\r\n") == Errc::syntax);
  CHECK(parse_error("a1 ID (name \"x\")\r\n") == Errc::syntax);
  CHECK(parse_error("a1 ID (\"a\" \"b\"\r\n") == Errc::syntax);

  ParseLimits limits;
  limits.max_items = 1;
  auto many = parse_command("a1 ID (\"a\" \"b\" \"c\" \"d\")\r\n", limits);
  REQUIRE_FALSE(many);
  CHECK(many.error().code == Errc::too_many);
}

TEST_CASE("command: ENABLE capabilities", "[command]") {
  const auto cmd = parse_ok("t2 ENABLE CONDSTORE QRESYNC UTF8=ACCEPT\r\n");
  CHECK(cmd.kind == CommandKind::enable);
  CHECK(std::get<EnableArgs>(cmd.args).capabilities ==
        std::vector<std::string>{"CONDSTORE", "QRESYNC", "UTF8=ACCEPT"});
  CHECK(parse_error("t2 ENABLE\r\n") == Errc::syntax);
  CHECK(parse_error("t2 ENABLE A  B\r\n") == Errc::syntax);
  ParseLimits limits;
  limits.max_items = 2;
  auto many = parse_command("t2 ENABLE A B C\r\n", limits);
  REQUIRE_FALSE(many);
  CHECK(many.error().code == Errc::too_many);
}

TEST_CASE("command: SELECT and EXAMINE with INBOX rules and parameters", "[command]") {
  const auto inbox = parse_ok("A142 SELECT inbox\r\n");
  CHECK(inbox.kind == CommandKind::select);
  const auto& s = std::get<SelectArgs>(inbox.args);
  CHECK(is_inbox(s.mailbox));
  CHECK(s.mailbox.value == "inbox");
  CHECK_FALSE(s.params);

  const auto quoted = parse_ok("A932 EXAMINE \"Sent Items\"\r\n");
  CHECK(quoted.kind == CommandKind::examine);
  CHECK(std::get<SelectArgs>(quoted.args).mailbox.value == "Sent Items");
  CHECK_FALSE(is_inbox(std::get<SelectArgs>(quoted.args).mailbox));
  CHECK_FALSE(is_inbox(IString{"INBOX.Sent", IString::Form::atom, false}));

  const auto condstore = parse_ok("a SELECT INBOX (CONDSTORE)\r\n");
  const auto& cp = *std::get<SelectArgs>(condstore.args).params;
  REQUIRE(cp.size() == 1);
  CHECK(cp[0].name == "CONDSTORE");
  CHECK_FALSE(cp[0].value);

  // RFC 7162 §3.2.5.2 example.
  const auto qresync =
      parse_ok("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n");
  const auto& qp = *std::get<SelectArgs>(qresync.args).params;
  REQUIRE(qp.size() == 1);
  CHECK(qp[0].name == "QRESYNC");
  REQUIRE(qp[0].value);
  REQUIRE(qp[0].value->items.size() == 3);
  CHECK(qp[0].value->items[0].atom == "67890007");
  CHECK(qp[0].value->items[2].atom == "41,43:211,214:541");

  const auto both = parse_ok("a SELECT INBOX (CONDSTORE QRESYNC (1 2 1:*))\r\n");
  CHECK(std::get<SelectArgs>(both.args).params->size() == 2);

  CHECK(parse_error("a SELECT\r\n") == Errc::syntax);
  CHECK(parse_error("a SELECT INBOX ()\r\n") == Errc::syntax);
  CHECK(parse_error("a SELECT INBOX (CONDSTORE\r\n") == Errc::syntax);
  CHECK(parse_error("a SELECT INBOX CONDSTORE\r\n") == Errc::syntax);
}

TEST_CASE("command: FETCH with macros, sections and partials", "[command]") {
  const auto all = parse_ok("a FETCH 1:* ALL\r\n");
  CHECK(all.kind == CommandKind::fetch);
  CHECK_FALSE(all.uid);
  const auto& fa = std::get<FetchArgs>(all.args);
  CHECK(fa.items.macro == FetchMacro::all);
  CHECK(fa.items.items.size() == 4);
  CHECK(fa.set.ranges.front() == SeqRange{1, SeqRange::star});

  // RFC 9051 §6.4.5 example.
  const auto full = parse_ok("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n");
  const auto& ff = std::get<FetchArgs>(full.args);
  REQUIRE(ff.items.items.size() == 2);
  CHECK(ff.items.items[1].attr == FetchAttr::body_section);
  CHECK(ff.items.items[1].section.text == SectionSpec::Text::header_fields);

  const auto single = parse_ok("a fetch 5 body.peek[1.2]<0.1024>\r\n");
  const auto& fs = std::get<FetchArgs>(single.args);
  REQUIRE(fs.items.items.size() == 1);
  CHECK(fs.items.items[0].peek);
  CHECK(fs.items.items[0].partial == Partial{0, 1024});

  const auto binary = parse_ok("a FETCH $ (BINARY.PEEK[1] BINARY.SIZE[1] RFC822.SIZE MODSEQ)\r\n");
  CHECK(std::get<FetchArgs>(binary.args).set.search_result);
  CHECK(std::get<FetchArgs>(binary.args).items.items.size() == 4);
}

TEST_CASE("command: FETCH rejects what neither grammar allows", "[command]") {
  // RFC 3501's RFC822.TEXT has no .PEEK form; neither grammar has RFC822.PEEK.
  CHECK(parse_error("a FETCH 1 RFC822.TEXT.PEEK\r\n") == Errc::syntax);
  CHECK(parse_error("a FETCH 1 (RFC822.PEEK)\r\n") == Errc::syntax);
  CHECK(parse_error("a FETCH 1 BINARY[HEADER]\r\n") == Errc::syntax);
  CHECK(parse_error("a FETCH 0 FLAGS\r\n") == Errc::syntax);
  CHECK(parse_error("a FETCH 1\r\n") == Errc::syntax);
  CHECK(parse_error("a FETCH 1 (FLAGS\r\n") == Errc::syntax);
  CHECK(parse_error("a FETCH 1 FLAGS UID\r\n") == Errc::syntax);
}

TEST_CASE("command: UID FETCH with CHANGEDSINCE and VANISHED", "[command]") {
  // RFC 7162 §3.2.6 example.
  const auto cmd = parse_ok("s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n");
  CHECK(cmd.kind == CommandKind::fetch);
  CHECK(cmd.uid);
  CHECK(cmd.name == "FETCH");
  const auto& f = std::get<FetchArgs>(cmd.args);
  CHECK(f.changed_since == 12345U);
  CHECK(f.vanished);
  CHECK(f.set.ranges.front() == SeqRange{300, 500});

  const auto lower = parse_ok("s uid fetch 1 flags (vanished changedsince 7)\r\n");
  CHECK(std::get<FetchArgs>(lower.args).vanished);
  CHECK(std::get<FetchArgs>(lower.args).changed_since == 7U);

  const auto plain = parse_ok("s FETCH 1 FLAGS (CHANGEDSINCE 9)\r\n");
  CHECK(std::get<FetchArgs>(plain.args).changed_since == 9U);

  CHECK(parse_error("s FETCH 1 FLAGS (VANISHED)\r\n") == Errc::syntax);
  CHECK(parse_error("s UID FETCH 1 FLAGS (VANISHED VANISHED)\r\n") == Errc::syntax);
  CHECK(parse_error("s FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)\r\n") == Errc::syntax);
  CHECK(parse_error("s FETCH 1 FLAGS (CHANGEDSINCE)\r\n") == Errc::syntax);
  CHECK(parse_error("s FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)\r\n") == Errc::syntax);
  CHECK(parse_error("s FETCH 1 FLAGS (PARTIAL 1:5)\r\n") == Errc::unsupported);
  CHECK(parse_error("s FETCH 1 FLAGS ()\r\n") == Errc::unsupported);
}

TEST_CASE("command: other UID commands and unknown commands stay opaque", "[command]") {
  const auto store = parse_ok("a UID STORE 1:3 +FLAGS (\\Deleted)\r\n");
  CHECK(store.kind == CommandKind::other);
  CHECK(store.uid);
  CHECK(store.name == "STORE");
  CHECK(std::get<OpaqueArgs>(store.args).rest == "1:3 +FLAGS (\\Deleted)");

  const auto search =
      parse_ok("a search charset UTF-8 TEXT {4}\r\nab\xc3\xa9 SUBJECT {1+}\r\nx\r\n");
  CHECK(search.name == "SEARCH");
  CHECK(std::get<OpaqueArgs>(search.args).rest ==
        "charset UTF-8 TEXT {4}\r\nab\xc3\xa9 SUBJECT {1+}\r\nx");

  const auto bare = parse_ok("a UNSELECT\r\n");
  CHECK(bare.kind == CommandKind::other);
  CHECK(std::get<OpaqueArgs>(bare.args).rest.empty());

  CHECK(parse_error("a UID\r\n") == Errc::syntax);
  CHECK(parse_error("a SEARCH TEXT {4}\r\nab\r\n") == Errc::incomplete);
  CHECK(parse_error("a SEARCH x\ry\r\n") == Errc::syntax);
}

TEST_CASE("command: COPY and MOVE, with and without UID", "[command]") {
  const auto copy = parse_ok("c1 UID COPY 4:2,9 \"Deleted Items\"\r\n");
  CHECK(copy.kind == CommandKind::copy);
  CHECK(copy.uid);
  CHECK(copy.name == "COPY");
  const auto& args = std::get<CopyArgs>(copy.args);
  CHECK(to_string(args.set) == "4:2,9");
  CHECK(args.mailbox.value == "Deleted Items");

  const auto move = parse_ok("c2 move 1:* {5+}\r\nTrash\r\n");
  CHECK(move.kind == CommandKind::copy);
  CHECK_FALSE(move.uid);
  CHECK(move.name == "MOVE");
  CHECK(std::get<CopyArgs>(move.args).mailbox.value == "Trash");
  CHECK(canonical_mailbox(std::get<CopyArgs>(parse_ok("c3 UID MOVE $ inbox\r\n").args).mailbox) ==
        "INBOX");
  CHECK(canonical_mailbox(args.mailbox) == "Deleted Items");

  CHECK(parse_error("c4 COPY 1\r\n") == Errc::syntax);
  CHECK(parse_error("c5 UID COPY 0 Trash\r\n") == Errc::syntax);
  CHECK(parse_error("c6 COPY 1 Trash Junk\r\n") == Errc::syntax);
}

TEST_CASE("command: APPEND cut after the literal announcement", "[command]") {
  const auto cmd = parse_ok("a2 APPEND INBOX (\\Seen) {1048576}\r\n");
  CHECK(cmd.kind == CommandKind::append);
  const auto& a = std::get<AppendArgs>(cmd.args);
  CHECK(a.mailbox.value == "INBOX");
  CHECK(a.flags == std::vector<std::string>{"\\Seen"});
  CHECK_FALSE(a.date_time);
  CHECK(a.literal.size == 1048576U);
  CHECK_FALSE(a.message);
  CHECK(a.data_offset == cmd.raw.size());
  CHECK(serialize_canonical(cmd) == cmd.raw);

  const auto plus = parse_ok("a APPEND Drafts {310+}\r\n");
  CHECK(std::get<AppendArgs>(plus.args).literal.non_sync);
}

TEST_CASE("command: APPEND with the message inline", "[command]") {
  // RFC 9051 §6.3.12 example, shortened.
  const std::string text = "A003 APPEND saved-messages (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" "
                           "{24}\r\nSubject: afternoon\r\n\r\nhi\r\n";
  const auto cmd = parse_ok(text);
  const auto& a = std::get<AppendArgs>(cmd.args);
  CHECK(a.date_time == " 7-Feb-1994 21:52:25 -0800");
  REQUIRE(a.message);
  CHECK(*a.message == "Subject: afternoon\r\n\r\nhi");
  CHECK(text.substr(a.data_offset, 24) == *a.message);

  const auto no_flags =
      parse_ok("a APPEND \"Sent Items\" \"17-Jul-1996 02:44:25 -0700\" {1}\r\nx\r\n");
  CHECK_FALSE(std::get<AppendArgs>(no_flags.args).flags);
  CHECK(std::get<AppendArgs>(no_flags.args).date_time);

  const auto empty_flags = parse_ok("a APPEND INBOX () {0}\r\n\r\n");
  CHECK(std::get<AppendArgs>(empty_flags.args).flags->empty());
  CHECK(std::get<AppendArgs>(empty_flags.args).message == "");
}

TEST_CASE("command: APPEND with literal8, UTF8 and MULTIAPPEND", "[command]") {
  const auto utf8 = parse_ok("a APPEND INBOX UTF8 (~{5}\r\nhello)\r\n");
  const auto& u = std::get<AppendArgs>(utf8.args);
  CHECK(u.utf8);
  CHECK(u.literal.literal8);
  CHECK(u.message == "hello");

  const auto cut = parse_ok("a APPEND INBOX UTF8 (~{5000}\r\n");
  CHECK(std::get<AppendArgs>(cut.args).utf8);
  CHECK_FALSE(std::get<AppendArgs>(cut.args).message);

  const auto binary = parse_ok(std::string("a APPEND INBOX ~{3}\r\n\x00\x01\x02\r\n", 26));
  CHECK(std::get<AppendArgs>(binary.args).message == std::string("\x00\x01\x02", 3));

  const auto multi = parse_ok("a APPEND INBOX {3}\r\nabc (\\Seen) {3}\r\ndef\r\n");
  CHECK(std::get<AppendArgs>(multi.args).message == "abc");
  CHECK(std::get<AppendArgs>(multi.args).more == "(\\Seen) {3}\r\ndef");
}

TEST_CASE("command: APPEND errors", "[command]") {
  CHECK(parse_error("a APPEND INBOX\r\n") == Errc::syntax);
  CHECK(parse_error("a APPEND INBOX (\\Seen)\r\n") == Errc::syntax);
  CHECK(parse_error("a APPEND INBOX (\\*) {1}\r\nx\r\n") == Errc::syntax);
  CHECK(parse_error("a APPEND INBOX \"yesterday\" {1}\r\nx\r\n") == Errc::syntax);
  CHECK(parse_error("a APPEND INBOX \"17-Foo-1996 02:44:25 -0700\" {1}\r\nx\r\n") == Errc::syntax);
  CHECK(parse_error("a APPEND INBOX UTF8 ({1}\r\nx)\r\n") == Errc::syntax);
  CHECK(parse_error("a APPEND INBOX UTF8 (~{1}\r\nx\r\n") == Errc::syntax);
  CHECK(parse_error("a APPEND INBOX {10}\r\nabc") == Errc::incomplete);
  CHECK(parse_error("a APPEND INBOX {3}\r\nabcd\r\n") == Errc::syntax);
  CHECK(parse_error("a APPEND INBOX {3}\r\nabc (x) {9}\r\nabc\r\n") == Errc::incomplete);
  ParseLimits limits;
  limits.max_append = 100;
  auto big = parse_command("a APPEND INBOX {101}\r\n", limits);
  REQUIRE_FALSE(big);
  CHECK(big.error().code == Errc::literal_too_large);
}

TEST_CASE("command: COMPRESS", "[command]") {
  const auto cmd = parse_ok("a COMPRESS DEFLATE\r\n");
  CHECK(cmd.kind == CommandKind::compress);
  CHECK(std::get<CompressArgs>(cmd.args).mechanism == "DEFLATE");
  CHECK(parse_error("a COMPRESS\r\n") == Errc::syntax);
  CHECK(parse_error("a COMPRESS DEFLATE X\r\n") == Errc::syntax);
}

TEST_CASE("command: constructed commands serialize canonically and parse back", "[command]") {
  Command login;
  login.tag = "x1";
  login.kind = CommandKind::login;
  login.name = "LOGIN";
  login.args = LoginArgs{IString{"bob", IString::Form::atom, false},
                         IString{"p w\"d", IString::Form::atom, false}};
  CHECK(serialize(login) == "x1 LOGIN bob \"p w\\\"d\"\r\n");
  auto back = parse_command(serialize(login));
  REQUIRE(back);
  CHECK(*back == login);

  Command fetch;
  fetch.tag = "x2";
  fetch.kind = CommandKind::fetch;
  fetch.uid = true;
  fetch.name = "FETCH";
  FetchArgs args;
  args.set.ranges = {{1, 1}, {4, SeqRange::star}};
  FetchItem body;
  body.attr = FetchAttr::body_section;
  body.peek = true;
  body.section.part = {2};
  body.partial = Partial{0, 100};
  args.items.items = {FetchItem{}, body};
  args.changed_since = 5;
  fetch.args = args;
  CHECK(serialize(fetch) == "x2 UID FETCH 1,4:* (FLAGS BODY.PEEK[2]<0.100>) (CHANGEDSINCE 5)\r\n");
  auto fetched = parse_command(serialize(fetch));
  REQUIRE(fetched);
  CHECK(*fetched == fetch);

  Command append;
  append.tag = "x3";
  append.kind = CommandKind::append;
  append.name = "APPEND";
  AppendArgs aa;
  aa.mailbox = IString{"Sent Items", IString::Form::atom, false};
  aa.flags = std::vector<std::string>{"\\Seen"};
  aa.literal.size = 5;
  aa.message = "hello";
  append.args = aa;
  CHECK(serialize(append) == "x3 APPEND \"Sent Items\" (\\Seen) {5}\r\nhello\r\n");
  auto appended = parse_command(serialize(append));
  REQUIRE(appended);
  CHECK(*appended == append);
}

TEST_CASE("command: a parsed command that is edited serializes its new value", "[command]") {
  auto cmd = parse_command("a1 SELECT inbox (CONDSTORE)\r\n");
  REQUIRE(cmd);
  std::get<SelectArgs>(cmd->args).params.reset();
  cmd->raw.clear();
  CHECK(serialize(*cmd) == "a1 SELECT inbox\r\n");
}

TEST_CASE("command: FETCH macros and APPEND flag lists serialize canonically", "[command]") {
  const auto fast = parse_ok("a FETCH 1 fast\r\n");
  CHECK(serialize_canonical(fast) == "a FETCH 1 FAST\r\n");
  const auto full = parse_ok("a FETCH 1 Full\r\n");
  CHECK(std::get<FetchArgs>(full.args).items.macro == FetchMacro::full);
  CHECK(serialize_canonical(full) == "a FETCH 1 FULL\r\n");

  const auto append = parse_ok("a append inbox (\\Seen \\Draft $Label) {1}\r\nx\r\n");
  CHECK(std::get<AppendArgs>(append.args).flags->size() == 3);
  CHECK(serialize_canonical(append) == "a APPEND inbox (\\Seen \\Draft $Label) {1}\r\nx\r\n");
}

TEST_CASE("command: select parameters are bounded", "[command]") {
  ParseLimits limits;
  limits.max_items = 1;
  auto many = parse_command("a SELECT INBOX (CONDSTORE X)\r\n", limits);
  REQUIRE_FALSE(many);
  CHECK(many.error().code == Errc::too_many);
}
