#include "protocol/lexer.hpp"

#include <charconv>

namespace icalgate::protocol {
namespace {

bool is_digit(int c) {
  return c >= '0' && c <= '9';
}

char upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

std::string at_offset(std::string_view what, std::size_t pos) {
  std::string msg(what);
  msg += " at offset ";
  write_number(msg, pos);
  return msg;
}

// Parses "{n}", "{n+}" or "~{n}" ending exactly at `end` (the "}"), or returns nullopt.
std::optional<std::uint64_t> announcement_before(std::string_view text, std::size_t end) {
  if (end == 0 || text[end - 1] != '}') {
    return std::nullopt;
  }
  std::size_t i = end - 1;
  if (i > 0 && text[i - 1] == '+') {
    --i;
  }
  const std::size_t digits_end = i;
  while (i > 0 && is_digit(static_cast<unsigned char>(text[i - 1]))) {
    --i;
  }
  if (i == digits_end || i == 0 || text[i - 1] != '{' || digits_end - i > 19) {
    return std::nullopt;
  }
  std::uint64_t n = 0;
  std::from_chars(text.data() + i, text.data() + digits_end, n);
  return n;
}

} // namespace

bool is_atom_char(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  if (c <= 0x20 || c >= 0x7f) {
    return false;
  }
  switch (c) {
  case '(':
  case ')':
  case '{':
  case '%':
  case '*':
  case '"':
  case '\\':
  case ']':
    return false;
  default:
    return true;
  }
}

bool is_astring_char(char c) {
  return c == ']' || is_atom_char(c);
}

bool imap_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != upper(b[i])) {
      return false;
    }
  }
  return true;
}

std::string imap_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = upper(c);
  }
  return out;
}

bool Lexer::fail(Errc code, std::string_view what) {
  if (!error_) {
    error_ = make_error(code, at_offset(what, pos_));
  }
  return false;
}

bool Lexer::fail_expected(std::string_view what) {
  if (at_end()) {
    return fail(Errc::incomplete, std::string("input ended, expected ") + std::string(what));
  }
  return fail(Errc::syntax, std::string("expected ") + std::string(what));
}

Error Lexer::take_error() {
  if (!error_) {
    return make_error(Errc::syntax, at_offset("malformed input", pos_));
  }
  return *error_;
}

bool Lexer::try_consume(char c) {
  if (peek() != static_cast<unsigned char>(c)) {
    return false;
  }
  ++pos_;
  return true;
}

bool Lexer::try_keyword(std::string_view word) {
  if (in_.size() - pos_ < word.size() || pos_ > in_.size() ||
      !imap_iequals(in_.substr(pos_, word.size()), word)) {
    return false;
  }
  const std::size_t after = pos_ + word.size();
  if (after < in_.size() && is_atom_char(in_[after])) {
    return false;
  }
  pos_ = after;
  return true;
}

bool Lexer::expect(char c, std::string_view what) {
  if (failed()) {
    return false;
  }
  if (try_consume(c)) {
    return true;
  }
  return fail_expected(what);
}

bool Lexer::crlf() {
  if (failed()) {
    return false;
  }
  if (at_crlf()) {
    pos_ += 2;
    return true;
  }
  return fail_expected("CRLF");
}

bool Lexer::end_of_message() {
  if (!crlf()) {
    return false;
  }
  if (!at_end()) {
    return fail(Errc::syntax, "bytes after the final CRLF");
  }
  return true;
}

std::optional<std::string_view> Lexer::atom(std::string_view what) {
  if (failed()) {
    return std::nullopt;
  }
  const std::size_t start = pos_;
  while (!at_end() && is_atom_char(in_[pos_])) {
    ++pos_;
  }
  if (pos_ == start) {
    fail_expected(what);
    return std::nullopt;
  }
  return in_.substr(start, pos_ - start);
}

std::optional<std::string_view> Lexer::astring_atom(std::string_view what) {
  if (failed()) {
    return std::nullopt;
  }
  const std::size_t start = pos_;
  while (!at_end() && is_astring_char(in_[pos_])) {
    ++pos_;
  }
  if (pos_ == start) {
    fail_expected(what);
    return std::nullopt;
  }
  return in_.substr(start, pos_ - start);
}

std::optional<std::string_view> Lexer::tag() {
  if (failed()) {
    return std::nullopt;
  }
  const std::size_t start = pos_;
  while (!at_end() && is_astring_char(in_[pos_]) && in_[pos_] != '+') {
    ++pos_;
  }
  if (pos_ == start) {
    fail_expected("a tag");
    return std::nullopt;
  }
  return in_.substr(start, pos_ - start);
}

std::optional<std::uint64_t> Lexer::number(std::string_view what, std::uint64_t max) {
  if (failed()) {
    return std::nullopt;
  }
  const std::size_t start = pos_;
  while (!at_end() && is_digit(peek())) {
    ++pos_;
  }
  if (pos_ == start) {
    fail_expected(what);
    return std::nullopt;
  }
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(in_.data() + start, in_.data() + pos_, value);
  if (ec != std::errc{} || value > max) {
    pos_ = start;
    fail(Errc::syntax, std::string(what) + " out of range");
    return std::nullopt;
  }
  return value;
}

std::optional<std::uint32_t> Lexer::nz_number(std::string_view what) {
  const std::size_t start = pos_;
  auto n = number(what);
  if (!n) {
    return std::nullopt;
  }
  if (*n == 0) {
    pos_ = start;
    fail(Errc::syntax, std::string(what) + " must not be zero");
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(*n);
}

std::optional<std::string_view> Lexer::flag(bool allow_star) {
  if (failed()) {
    return std::nullopt;
  }
  const std::size_t start = pos_;
  if (try_consume('\\')) {
    if (allow_star && try_consume('*')) {
      return in_.substr(start, 2);
    }
  }
  while (!at_end() && is_atom_char(in_[pos_])) {
    ++pos_;
  }
  if (pos_ == start || (pos_ == start + 1 && in_[start] == '\\')) {
    pos_ = start;
    fail_expected("a flag");
    return std::nullopt;
  }
  return in_.substr(start, pos_ - start);
}

std::optional<std::vector<std::string>> Lexer::flag_list(bool allow_star) {
  if (!expect('(', "'(' before flags")) {
    return std::nullopt;
  }
  std::vector<std::string> flags;
  if (try_consume(')')) {
    return flags;
  }
  while (true) {
    auto f = flag(allow_star);
    if (!f) {
      return std::nullopt;
    }
    if (flags.size() >= limits_.max_items) {
      fail(Errc::too_many, "too many flags");
      return std::nullopt;
    }
    flags.emplace_back(*f);
    if (try_consume(')')) {
      return flags;
    }
    if (!expect(' ', "SP or ')' in flag list")) {
      return std::nullopt;
    }
  }
}

std::optional<IString> Lexer::quoted() {
  if (!expect('"', "'\"'")) {
    return std::nullopt;
  }
  IString out;
  out.form = IString::Form::quoted;
  const std::size_t start = pos_;
  while (true) {
    if (at_end()) {
      fail(Errc::incomplete, "unterminated quoted string");
      return std::nullopt;
    }
    char c = in_[pos_];
    if (c == '"') {
      last_content_ = ByteRange{start, pos_ - start};
      ++pos_;
      return out;
    }
    if (c == '\\') {
      const int next = peek(1);
      if (next != '"' && next != '\\') {
        fail(Errc::syntax, "bad escape in quoted string");
        return std::nullopt;
      }
      c = static_cast<char>(next);
      ++pos_;
    } else if (c == '\r' || c == '\n' || c == '\0') {
      fail(Errc::syntax, "CR, LF or NUL in quoted string");
      return std::nullopt;
    }
    if (out.value.size() >= limits_.max_string) {
      fail(Errc::too_many, "quoted string too long");
      return std::nullopt;
    }
    out.value.push_back(c);
    ++pos_;
  }
}

std::optional<LiteralHeader> Lexer::literal_header() {
  if (failed()) {
    return std::nullopt;
  }
  LiteralHeader h;
  h.literal8 = try_consume('~');
  if (!expect('{', "'{' of a literal")) {
    return std::nullopt;
  }
  auto n = number("literal size", 0xffffffffffffffffULL);
  if (!n) {
    return std::nullopt;
  }
  h.size = *n;
  h.non_sync = try_consume('+');
  if (!expect('}', "'}' of a literal") || !crlf()) {
    return std::nullopt;
  }
  return h;
}

std::optional<IString> Lexer::literal(bool allow_literal8) {
  const std::size_t start = pos_;
  auto h = literal_header();
  if (!h) {
    return std::nullopt;
  }
  if (h->literal8 && !allow_literal8) {
    pos_ = start;
    fail(Errc::syntax, "literal8 not allowed here");
    return std::nullopt;
  }
  if (h->size > limits_.max_string) {
    pos_ = start;
    fail(Errc::literal_too_large, "literal too large");
    return std::nullopt;
  }
  if (in_.size() - pos_ < h->size) {
    fail(Errc::incomplete, "literal data incomplete");
    return std::nullopt;
  }
  IString out;
  out.form = h->literal8 ? IString::Form::literal8 : IString::Form::literal;
  out.non_sync = h->non_sync;
  out.value.assign(in_.substr(pos_, h->size));
  last_content_ = ByteRange{pos_, static_cast<std::size_t>(h->size)};
  pos_ += h->size;
  return out;
}

std::optional<IString> Lexer::string(bool allow_literal8) {
  if (failed()) {
    return std::nullopt;
  }
  if (peek() == '"') {
    return quoted();
  }
  if (peek() == '{' || peek() == '~') {
    return literal(allow_literal8);
  }
  fail_expected("a string");
  return std::nullopt;
}

std::optional<IString> Lexer::astring() {
  if (failed()) {
    return std::nullopt;
  }
  if (peek() == '"' || peek() == '{') {
    return string(false);
  }
  const std::size_t start = pos_;
  auto a = astring_atom("an astring");
  if (!a) {
    return std::nullopt;
  }
  last_content_ = ByteRange{start, a->size()};
  return IString{std::string(*a), IString::Form::atom, false};
}

std::optional<NString> Lexer::nstring(bool allow_literal8) {
  if (failed()) {
    return std::nullopt;
  }
  if (try_keyword("NIL")) {
    return NString{};
  }
  auto s = string(allow_literal8);
  if (!s) {
    return std::nullopt;
  }
  return NString{std::move(*s)};
}

std::optional<SExpr> Lexer::sexp(std::size_t depth) {
  if (failed()) {
    return std::nullopt;
  }
  const int c = peek();
  if (c == '(') {
    return sexp_list(depth);
  }
  SExpr e;
  if (c == '"' || c == '{' || c == '~') {
    auto s = string(true);
    if (!s) {
      return std::nullopt;
    }
    e.kind = SExpr::Kind::string;
    e.string = std::move(*s);
    return e;
  }
  if (try_keyword("NIL")) {
    e.kind = SExpr::Kind::nil;
    return e;
  }
  // Atoms, numbers, flags and sequence sets, e.g. \Seen or 1:*.
  const std::size_t start = pos_;
  while (!at_end() && (is_atom_char(in_[pos_]) || in_[pos_] == '*' || in_[pos_] == '\\')) {
    ++pos_;
  }
  if (pos_ == start) {
    fail_expected("a list item");
    return std::nullopt;
  }
  e.kind = SExpr::Kind::atom;
  e.atom.assign(in_.substr(start, pos_ - start));
  return e;
}

std::optional<SExpr> Lexer::sexp_list(std::size_t depth) {
  if (depth >= limits_.max_depth) {
    fail(Errc::too_many, "lists nested too deeply");
    return std::nullopt;
  }
  if (!expect('(', "'('")) {
    return std::nullopt;
  }
  SExpr e;
  e.kind = SExpr::Kind::list;
  if (try_consume(')')) {
    return e;
  }
  while (true) {
    auto item = sexp(depth + 1);
    if (!item) {
      return std::nullopt;
    }
    if (e.items.size() >= limits_.max_items) {
      fail(Errc::too_many, "too many list items");
      return std::nullopt;
    }
    const bool was_list = item->kind == SExpr::Kind::list;
    e.items.push_back(std::move(*item));
    if (try_consume(')')) {
      return e;
    }
    // body-type-mpart and address lists put no SP between consecutive lists.
    if (was_list && peek() == '(') {
      continue;
    }
    if (!expect(' ', "SP or ')' in list")) {
      return std::nullopt;
    }
  }
}

Result<std::size_t> scan_message(std::string_view text, std::size_t from,
                                 const ParseLimits& limits) {
  std::size_t pos = from;
  while (true) {
    const std::size_t crlf = text.find("\r\n", pos);
    if (crlf == std::string_view::npos) {
      return make_error(Errc::incomplete, "message does not end with CRLF");
    }
    // "{5}" inside a quoted string is text, as the framer sees it.
    bool quoted = false;
    bool escaped = false;
    for (std::size_t i = pos; i < crlf; ++i) {
      const char c = text[i];
      if (c == '\r' || c == '\n' || c == '\0') {
        return make_error(Errc::syntax, at_offset("bare CR, LF or NUL", i));
      }
      if (escaped) {
        escaped = false;
      } else if (quoted && c == '\\') {
        escaped = true;
      } else if (c == '"') {
        quoted = !quoted;
      }
    }
    std::optional<std::uint64_t> n;
    if (!quoted) {
      n = announcement_before(text, crlf);
    }
    if (n) {
      if (*n > limits.max_string) {
        return make_error(Errc::literal_too_large, at_offset("literal too large", crlf));
      }
      if (text.size() - (crlf + 2) < *n) {
        return make_error(Errc::incomplete, "literal data incomplete");
      }
      pos = crlf + 2 + static_cast<std::size_t>(*n);
      continue;
    }
    if (crlf + 2 != text.size()) {
      return make_error(Errc::syntax, at_offset("bytes after the final CRLF", crlf + 2));
    }
    return crlf;
  }
}

void write_number(std::string& out, std::uint64_t n) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

bool is_quotable(std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\r' || c == '\n' || c == 0 || c >= 0x80) {
      return false;
    }
  }
  return true;
}

void write_quoted(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  out.push_back('"');
}

void write_literal(std::string& out, std::string_view s, bool non_sync, bool literal8) {
  if (literal8) {
    out.push_back('~');
  }
  out.push_back('{');
  write_number(out, s.size());
  if (non_sync) {
    out.push_back('+');
  }
  out += "}\r\n";
  out += s;
}

void write_astring(std::string& out, const IString& s) {
  if (s.form == IString::Form::atom && !s.value.empty()) {
    bool atom = true;
    for (const char c : s.value) {
      atom = atom && is_astring_char(c);
    }
    if (atom) {
      out += s.value;
      return;
    }
  }
  if (s.form != IString::Form::literal && s.form != IString::Form::literal8 &&
      is_quotable(s.value)) {
    write_quoted(out, s.value);
    return;
  }
  write_literal(out, s.value, s.non_sync, false);
}

void write_string(std::string& out, const IString& s) {
  if (s.form != IString::Form::literal && s.form != IString::Form::literal8 &&
      is_quotable(s.value)) {
    write_quoted(out, s.value);
    return;
  }
  write_literal(out, s.value, s.non_sync, s.form == IString::Form::literal8);
}

void write_nstring(std::string& out, const NString& s) {
  if (!s) {
    out += "NIL";
    return;
  }
  write_string(out, *s);
}

void write_sexp(std::string& out, const SExpr& e) {
  switch (e.kind) {
  case SExpr::Kind::atom:
    out += e.atom;
    return;
  case SExpr::Kind::string:
    write_string(out, e.string);
    return;
  case SExpr::Kind::nil:
    out += "NIL";
    return;
  case SExpr::Kind::list:
    break;
  }
  out.push_back('(');
  bool leading_lists = true;
  for (std::size_t i = 0; i < e.items.size(); ++i) {
    const bool is_list = e.items[i].kind == SExpr::Kind::list;
    // The leading run of lists (bodies of a multipart, addresses) is written without SP.
    if (i != 0 && !(leading_lists && is_list)) {
      out.push_back(' ');
    }
    leading_lists = leading_lists && is_list;
    write_sexp(out, e.items[i]);
  }
  out.push_back(')');
}

} // namespace icalgate::protocol
