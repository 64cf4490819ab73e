#include "protocol/lexer.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>

using namespace icalgate::protocol;

TEST_CASE("lexer: atoms stop at atom-specials", "[lexer]") {
  Lexer lx("abc.def[1] rest");
  auto a = lx.atom("an atom");
  REQUIRE(a);
  CHECK(*a == "abc.def[1");
  CHECK(lx.peek() == ']');
  Lexer lx2("abc]x");
  CHECK(*lx2.astring_atom("x") == "abc]x");
  Lexer empty(" x");
  CHECK_FALSE(empty.atom("an atom"));
  CHECK(empty.take_error().code == Errc::syntax);
}

TEST_CASE("lexer: tags exclude '+' and the untagged '*'", "[lexer]") {
  Lexer lx("a+1");
  CHECK(*lx.tag() == "a");
  Lexer star("* OK");
  CHECK_FALSE(star.tag());
}

TEST_CASE("lexer: numbers are bounded", "[lexer]") {
  Lexer lx("4294967295 4294967296 0");
  CHECK(*lx.number("n") == 4294967295ULL);
  lx.sp();
  CHECK_FALSE(lx.number("n"));
  CHECK(lx.take_error().code == Errc::syntax);
  Lexer zero("0");
  CHECK_FALSE(zero.nz_number("n"));
  Lexer big("99999999999999999999999");
  CHECK_FALSE(big.number("n", ~0ULL));
}

TEST_CASE("lexer: quoted strings unescape and reject line breaks", "[lexer]") {
  Lexer lx(R"("a\"b\\c" rest)");
  auto s = lx.quoted();
  REQUIRE(s);
  CHECK(s->value == "a\"b\\c");
  CHECK(s->form == IString::Form::quoted);
  CHECK(lx.last_content().offset == 1);
  CHECK(lx.last_content().length == 7); // the escaped bytes as written
  CHECK(lx.peek() == ' ');

  Lexer bad(R"("a\nb")");
  CHECK_FALSE(bad.quoted());
  CHECK(bad.take_error().code == Errc::syntax);

  Lexer cr("\"a\rb\"");
  CHECK_FALSE(cr.quoted());
  CHECK(cr.take_error().code == Errc::syntax);

  Lexer open("\"abc");
  CHECK_FALSE(open.quoted());
  CHECK(open.take_error().code == Errc::incomplete);
}

TEST_CASE("lexer: quoted strings allow UTF-8 (RFC 9051)", "[lexer]") {
  Lexer lx("\"Gr\xc3\xbc\xc3\x9f\x65\"");
  auto s = lx.quoted();
  REQUIRE(s);
  CHECK(s->value == "Gr\xc3\xbc\xc3\x9f\x65");
}

TEST_CASE("lexer: literals, LITERAL+ and literal8", "[lexer]") {
  Lexer lx("{5}\r\nhello{3+}\r\nabc~{2}\r\n\x00\x01");
  auto a = lx.literal(false);
  REQUIRE(a);
  CHECK(a->value == "hello");
  CHECK(a->form == IString::Form::literal);
  CHECK_FALSE(a->non_sync);
  CHECK(lx.last_content().offset == 5);
  auto b = lx.literal(false);
  REQUIRE(b);
  CHECK(b->value == "abc");
  CHECK(b->non_sync);
  const std::size_t at = lx.pos();
  Lexer lx8(std::string_view("~{2}\r\n\x00\x01", 8));
  auto c = lx8.literal(true);
  REQUIRE(c);
  CHECK(c->value == std::string("\x00\x01", 2));
  CHECK(c->form == IString::Form::literal8);
  lx.set_pos(at);
  CHECK_FALSE(lx.literal(false));
  CHECK(lx.take_error().code == Errc::syntax);
}

TEST_CASE("lexer: literal errors", "[lexer]") {
  Lexer short_data("{10}\r\nabc");
  CHECK_FALSE(short_data.literal(false));
  CHECK(short_data.take_error().code == Errc::incomplete);

  ParseLimits limits;
  limits.max_string = 4;
  Lexer big("{5}\r\nhello", limits);
  CHECK_FALSE(big.literal(false));
  CHECK(big.take_error().code == Errc::literal_too_large);

  Lexer no_crlf("{5}hello");
  CHECK_FALSE(no_crlf.literal(false));
  CHECK(no_crlf.take_error().code == Errc::syntax);
}

TEST_CASE("lexer: astring and nstring forms", "[lexer]") {
  Lexer lx("INBOX \"Sent Items\" {3}\r\nabc");
  auto a = lx.astring();
  REQUIRE(a);
  CHECK(a->value == "INBOX");
  CHECK(a->form == IString::Form::atom);
  lx.sp();
  CHECK(lx.astring()->value == "Sent Items");
  lx.sp();
  CHECK(lx.astring()->value == "abc");
  CHECK(lx.at_end());

  Lexer n("nil NILS");
  auto nil = n.nstring();
  REQUIRE(nil);
  CHECK_FALSE(nil->has_value());
  n.sp();
  CHECK_FALSE(n.nstring()); // an atom is not an nstring
}

TEST_CASE("lexer: flags and flag lists", "[lexer]") {
  Lexer lx("(\\Seen $Forwarded \\*)");
  auto flags = lx.flag_list(true);
  REQUIRE(flags);
  CHECK(*flags == std::vector<std::string>{"\\Seen", "$Forwarded", "\\*"});
  Lexer no_star("(\\*)");
  CHECK_FALSE(no_star.flag_list(false));
  Lexer bare("(\\ x)");
  CHECK_FALSE(bare.flag_list(false));
}

TEST_CASE("lexer: s-expressions, multipart lists without SP", "[lexer]") {
  Lexer lx(R"((("TEXT" "PLAIN" NIL 12)("TEXT" "HTML" NIL 3) "MIXED" 1:* \Seen))");
  auto e = lx.sexp();
  REQUIRE(e);
  REQUIRE(e->kind == SExpr::Kind::list);
  REQUIRE(e->items.size() == 5);
  CHECK(e->items[0].items[0].string.value == "TEXT");
  CHECK(e->items[0].items[2].kind == SExpr::Kind::nil);
  CHECK(e->items[0].items[3].atom == "12");
  CHECK(e->items[3].atom == "1:*");
  CHECK(e->items[4].atom == "\\Seen");
  std::string out;
  write_sexp(out, *e);
  CHECK(out == R"((("TEXT" "PLAIN" NIL 12)("TEXT" "HTML" NIL 3) "MIXED" 1:* \Seen))");
}

TEST_CASE("lexer: envelope-like lists keep SP between lists after a string", "[lexer]") {
  const std::string text = R"(("date" (("a" NIL "b" "c")) (("d" NIL "e" "f")("g" NIL "h" "i"))))";
  Lexer lx(text);
  auto e = lx.sexp();
  REQUIRE(e);
  std::string out;
  write_sexp(out, *e);
  CHECK(out == text);
}

TEST_CASE("lexer: nesting and item limits", "[lexer]") {
  ParseLimits limits;
  limits.max_depth = 3;
  Lexer deep("((((a))))", limits);
  CHECK_FALSE(deep.sexp());
  CHECK(deep.take_error().code == Errc::too_many);
  Lexer fine("(((a)))", limits);
  CHECK(fine.sexp());

  ParseLimits few;
  few.max_items = 2;
  Lexer many("(a b c)", few);
  CHECK_FALSE(many.sexp());
  CHECK(many.take_error().code == Errc::too_many);
}

TEST_CASE("lexer: scan_message finds the final CRLF past literals", "[lexer]") {
  const std::string msg = "x {5}\r\na\r\nbc y {2+}\r\n\r\n\r\n";
  auto end = scan_message(msg, 0);
  REQUIRE(end);
  CHECK(*end == msg.size() - 2);
  CHECK(scan_message("x {5}\r\nab", 0).error().code == Errc::incomplete);
  // Inside a quoted string "{5}" is text (an unterminated one, here), as the framer sees it.
  const std::string quoted = "x \"a\\\" {5}\r\n";
  CHECK(scan_message(quoted, 0).value() == quoted.size() - 2);
  CHECK(scan_message("x \"a\\\\\" {1}\r\nb\r\n", 0).value() == 14);
  CHECK(scan_message("x y", 0).error().code == Errc::incomplete);
  CHECK(scan_message("x\r\ny\r\n", 0).error().code == Errc::syntax);
  CHECK(scan_message("x\ny\r\n", 0).error().code == Errc::syntax);
  ParseLimits limits;
  limits.max_string = 3;
  CHECK(scan_message("x {5}\r\nabcde\r\n", 0, limits).error().code == Errc::literal_too_large);
}

TEST_CASE("lexer: writers pick the lightest form the content allows", "[lexer]") {
  std::string out;
  write_astring(out, IString{"INBOX", IString::Form::atom, false});
  out.push_back(' ');
  write_astring(out, IString{"Sent Items", IString::Form::atom, false});
  out.push_back(' ');
  write_astring(out, IString{"a\"b", IString::Form::quoted, false});
  out.push_back(' ');
  write_astring(out, IString{"line\r\nbreak", IString::Form::quoted, true});
  out.push_back(' ');
  write_astring(out, IString{"", IString::Form::atom, false});
  CHECK(out == "INBOX \"Sent Items\" \"a\\\"b\" {11+}\r\nline\r\nbreak \"\"");

  out.clear();
  write_nstring(out, NString{});
  out.push_back(' ');
  write_nstring(out, IString{"x", IString::Form::literal8, false});
  CHECK(out == "NIL ~{1}\r\nx");
}

TEST_CASE("lexer: errors name the position, never the input", "[lexer]") {
  Lexer lx("\"hunter2\\x\"");
  CHECK_FALSE(lx.quoted());
  const Error e = lx.take_error();
  CHECK(e.message.find("hunter2") == std::string::npos);
  CHECK(e.message.find("offset 8") != std::string::npos);
}

TEST_CASE("lexer: case-insensitive helpers", "[lexer]") {
  CHECK(imap_iequals("InBoX", "INBOX"));
  CHECK_FALSE(imap_iequals("INBOX1", "INBOX"));
  CHECK(imap_upper("uid fetch") == "UID FETCH");
  Lexer lx("nIl)");
  CHECK(lx.try_keyword("NIL"));
  Lexer longer("NILX");
  CHECK_FALSE(longer.try_keyword("NIL"));
}

TEST_CASE("lexer: quoted strings and flag lists are bounded", "[lexer]") {
  ParseLimits limits;
  limits.max_string = 3;
  Lexer long_quoted("\"abcd\"", limits);
  CHECK_FALSE(long_quoted.quoted());
  CHECK(long_quoted.take_error().code == Errc::too_many);
  Lexer fits("\"abc\"", limits);
  CHECK(fits.quoted());

  limits.max_items = 2;
  Lexer flags("(\\Seen \\Draft \\Deleted)", limits);
  CHECK_FALSE(flags.flag_list(false));
  CHECK(flags.take_error().code == Errc::too_many);
}
