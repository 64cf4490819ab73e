#pragma once
// RFC 5322 / MIME token scanning with Dovecot's lenient rules (lib-mail/rfc822-parser.c):
// comments, quoted strings, atoms, MIME tokens, phrases, domains and content parameters.
// Every function returns -1 on a syntax error, 0 when the input is exhausted and 1 when
// more input follows, so callers can mirror Dovecot's decisions about broken headers.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace icalgate::protocol::mime {

class Rfc822Lexer {
 public:
  explicit Rfc822Lexer(std::string_view data, bool keep_comments = false)
      : data_(data), keep_comments_(keep_comments) {}

  bool at_end() const { return pos_ >= data_.size(); }
  char peek() const { return at_end() ? '\0' : data_[pos_]; }
  void advance() { ++pos_; }
  std::size_t pos() const { return pos_; }
  void set_pos(std::size_t p) { pos_ = p; }
  // The text of the last comment skipped (only when keep_comments was requested).
  const std::string& last_comment() const { return last_comment_; }
  void clear_last_comment() { last_comment_.clear(); }

  int skip_comment();
  int skip_lwsp();
  int parse_atom(std::string& out);
  int parse_dot_atom(std::string& out);
  int parse_mime_token(std::string& out);
  int parse_quoted_string(std::string& out);
  int parse_phrase(std::string& out);
  int parse_domain(std::string& out);
  int parse_content_type(std::string& out);
  int parse_content_param(std::string& key, std::string& value);

 private:
  int parse_atom_or_dot(std::string& out);
  // Appends the run of bytes `accept` (or '.') takes, then skips white space and comments.
  int parse_run_with_dots(std::string& out, bool (*accept)(unsigned char));
  int parse_domain_literal(std::string& out);

  std::string_view data_;
  std::size_t pos_ = 0;
  bool keep_comments_;
  std::string last_comment_;
};

bool is_atext(unsigned char c);

// RFC 2231 parameter list (";" key=value ...) merged like Dovecot's rfc2231_parse():
// continuations joined, extended values kept encoded (charset'lang'%xx).
std::vector<std::pair<std::string, std::string>> parse_rfc2231_params(Rfc822Lexer& lexer);

} // namespace icalgate::protocol::mime
