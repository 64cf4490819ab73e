#pragma once
// The shared tokenizer for IMAP commands and responses (RFC 9051 §9, RFC 3501 §9). It reads
// one complete protocol message: the line with every literal's data inline after its
// "{n}\r\n" announcement, up to and including the final CRLF.
//
// The lexer keeps the first error it meets (sticky), so parsers can chain calls and return
// `take_error()` once. Error messages name what was expected and where, never the bytes that
// were found: the input may carry passwords or SASL data.

#include "protocol/result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::protocol {

// Bounds on everything an untrusted peer controls.
struct ParseLimits {
  std::size_t max_depth = 64;                // nesting of parenthesised lists
  std::size_t max_items = 4096;              // elements of one list, attributes of one FETCH
  std::size_t max_string = 64 * 1024 * 1024; // bytes of one quoted string or literal
  std::size_t max_ranges = 4096;             // ranges of one sequence set
  std::uint64_t max_append = 1ULL << 40;     // announced size of an APPEND literal
};

// A string as IMAP carries it. Equality is by content only: `form` and `non_sync` are how it
// was written (or how a caller prefers it written) and the canonical serializer honours them
// where the content allows.
struct IString {
  enum class Form : std::uint8_t { atom, quoted, literal, literal8 };

  std::string value;
  Form form = Form::quoted;
  bool non_sync = false; // "{n+}" (LITERAL+ / LITERAL-)

  friend bool operator==(const IString& a, const IString& b) { return a.value == b.value; }
};

using NString = std::optional<IString>; // nullopt is NIL

// A generic parenthesised value (ENVELOPE, BODYSTRUCTURE, select parameters ...).
struct SExpr {
  enum class Kind : std::uint8_t { atom, string, nil, list };

  Kind kind = Kind::nil;
  std::string atom;         // atoms, numbers and flags ("\Seen") as written
  IString string;           // Kind::string
  std::vector<SExpr> items; // Kind::list

  friend bool operator==(const SExpr&, const SExpr&) = default;
};

struct ByteRange {
  std::size_t offset = 0;
  std::size_t length = 0;

  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

// A literal's "{n}" / "{n+}" / "~{n}" announcement.
struct LiteralHeader {
  std::uint64_t size = 0;
  bool non_sync = false;
  bool literal8 = false;
};

bool is_atom_char(char c);
bool is_astring_char(char c); // ATOM-CHAR or "]"
bool imap_iequals(std::string_view a, std::string_view b);
std::string imap_upper(std::string_view s);

class Lexer {
 public:
  explicit Lexer(std::string_view input, const ParseLimits& limits = {})
      : in_(input), limits_(limits) {}

  std::string_view input() const { return in_; }
  const ParseLimits& limits() const { return limits_; }
  std::size_t pos() const { return pos_; }
  void set_pos(std::size_t pos) { pos_ = pos; }
  bool at_end() const { return pos_ >= in_.size(); }
  std::string_view rest() const { return in_.substr(pos_ < in_.size() ? pos_ : in_.size()); }
  // The next byte, or -1 at the end.
  int peek(std::size_t ahead = 0) const {
    return pos_ + ahead < in_.size() ? static_cast<unsigned char>(in_[pos_ + ahead]) : -1;
  }
  bool at_crlf() const { return peek() == '\r' && peek(1) == '\n'; }

  bool failed() const { return error_.has_value(); }
  // Records an error unless one is already recorded; always returns false.
  bool fail(Errc code, std::string_view what);
  bool fail_expected(std::string_view what);
  Error take_error();

  bool try_consume(char c);
  // A case-insensitive keyword not followed by another atom char.
  bool try_keyword(std::string_view word);
  bool expect(char c, std::string_view what);
  bool sp() { return expect(' ', "SP"); }
  bool crlf();
  // The final CRLF that must end the message.
  bool end_of_message();

  std::optional<std::string_view> atom(std::string_view what);
  // 1*ASTRING-CHAR (atom chars plus "]").
  std::optional<std::string_view> astring_atom(std::string_view what);
  // tag = 1*<any ASTRING-CHAR except "+">
  std::optional<std::string_view> tag();
  std::optional<std::uint64_t> number(std::string_view what, std::uint64_t max = 0xffffffffULL);
  std::optional<std::uint32_t> nz_number(std::string_view what);
  // "\" atom, "\*", or an atom (keyword).
  std::optional<std::string_view> flag(bool allow_star);
  std::optional<std::vector<std::string>> flag_list(bool allow_star);

  std::optional<IString> quoted();
  std::optional<LiteralHeader> literal_header();
  std::optional<IString> literal(bool allow_literal8);
  std::optional<IString> string(bool allow_literal8 = false);
  std::optional<IString> astring();
  std::optional<NString> nstring(bool allow_literal8 = false);
  std::optional<SExpr> sexp(std::size_t depth = 0);
  // A parenthesised list; the lexer must be at "(".
  std::optional<SExpr> sexp_list(std::size_t depth = 0);

  // Range of the last string read by quoted()/literal(): the content bytes in the input.
  ByteRange last_content() const { return last_content_; }

 private:
  std::string_view in_;
  ParseLimits limits_;
  std::size_t pos_ = 0;
  std::optional<Error> error_;
  ByteRange last_content_;
};

// Checks that `text` is one complete message (each literal's data present, exactly one final
// CRLF at the end) starting the scan at `from`. Returns the offset of the final CRLF.
Result<std::size_t> scan_message(std::string_view text, std::size_t from,
                                 const ParseLimits& limits = {});

// Writers used by the canonical serializers.
void write_number(std::string& out, std::uint64_t n);
void write_quoted(std::string& out, std::string_view s);
bool is_quotable(std::string_view s);
void write_literal(std::string& out, std::string_view s, bool non_sync, bool literal8);
// Writes `s` as an astring: atom where the form and content allow, else quoted, else literal.
void write_astring(std::string& out, const IString& s);
// Writes a string (no atoms): quoted where allowed, else literal.
void write_string(std::string& out, const IString& s);
void write_nstring(std::string& out, const NString& s);
void write_sexp(std::string& out, const SExpr& e);

} // namespace icalgate::protocol
