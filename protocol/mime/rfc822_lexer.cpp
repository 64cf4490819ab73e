#include "protocol/mime/rfc822_lexer.hpp"

#include <algorithm>
#include <array>
#include <strings.h>

namespace icalgate::protocol::mime {

namespace {

// 1 = atext, 2 = alpha/digit (also 8-bit), 4 = atext that is a MIME tspecial ('/', '=', '?').
constexpr std::array<unsigned char, 256> kAtext = [] {
  std::array<unsigned char, 256> t{};
  for (int c = 128; c < 256; ++c) {
    t[static_cast<std::size_t>(c)] = 2;
  }
  for (int c = '0'; c <= '9'; ++c) {
    t[static_cast<std::size_t>(c)] = 2;
  }
  for (int c = 'a'; c <= 'z'; ++c) {
    t[static_cast<std::size_t>(c)] = 2;
    t[static_cast<std::size_t>(c - 'a' + 'A')] = 2;
  }
  for (const char c : std::string_view("!#$%&'*+-^_`{|}~")) {
    t[static_cast<unsigned char>(c)] = 1;
  }
  for (const char c : std::string_view("/=?")) {
    t[static_cast<unsigned char>(c)] = 4;
  }
  return t;
}();

bool is_atext_non_tspecial(unsigned char c) {
  return (kAtext[c] & 3) != 0;
}

} // namespace

bool is_atext(unsigned char c) {
  return kAtext[c] != 0;
}

int Rfc822Lexer::skip_comment() {
  int level = 1;
  if (keep_comments_) {
    last_comment_.clear();
  }
  std::size_t start = ++pos_;
  for (; pos_ < data_.size(); ++pos_) {
    const char c = data_[pos_];
    if (c == '(') {
      ++level;
    } else if (c == ')') {
      if (--level == 0) {
        if (keep_comments_) {
          last_comment_.append(data_.substr(start, pos_ - start));
        }
        ++pos_;
        return at_end() ? 0 : 1;
      }
    } else if (c == '\\') {
      if (keep_comments_) {
        last_comment_.append(data_.substr(start, pos_ - start));
      }
      start = pos_ + 1;
      ++pos_;
      if (at_end()) {
        return -1;
      }
    }
  }
  return -1;
}

int Rfc822Lexer::skip_lwsp() {
  while (!at_end()) {
    const char c = data_[pos_];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++pos_;
      continue;
    }
    if (c != '(') {
      break;
    }
    if (skip_comment() < 0) {
      return -1;
    }
  }
  return at_end() ? 0 : 1;
}

int Rfc822Lexer::parse_atom(std::string& out) {
  if (at_end() || !is_atext(static_cast<unsigned char>(peek()))) {
    return -1;
  }
  const std::size_t start = pos_++;
  while (!at_end() && is_atext(static_cast<unsigned char>(peek()))) {
    ++pos_;
  }
  out.append(data_.substr(start, pos_ - start));
  return at_end() ? 0 : skip_lwsp();
}

int Rfc822Lexer::parse_dot_atom(std::string& out) {
  if (at_end() || !is_atext(static_cast<unsigned char>(peek()))) {
    return -1;
  }
  std::size_t start = pos_++;
  while (!at_end()) {
    if (is_atext(static_cast<unsigned char>(peek()))) {
      ++pos_;
      continue;
    }
    if (start == pos_) {
      return -1; // nothing after a dot
    }
    out.append(data_.substr(start, pos_ - start));
    int ret = skip_lwsp();
    if (ret <= 0) {
      return ret;
    }
    if (peek() != '.') {
      return 1;
    }
    ++pos_;
    out += '.';
    // blanks may precede a dot but not follow it
    start = pos_;
  }
  if (start == pos_) {
    return -1; // the input ends with a dot
  }
  out.append(data_.substr(start, pos_ - start));
  return 0;
}

int Rfc822Lexer::parse_mime_token(std::string& out) {
  return parse_run_with_dots(out, is_atext_non_tspecial);
}

int Rfc822Lexer::parse_quoted_string(std::string& out) {
  ++pos_; // the opening quote
  std::size_t start = pos_;
  for (; pos_ < data_.size(); ++pos_) {
    const char c = data_[pos_];
    if (c == '"') {
      out.append(data_.substr(start, pos_ - start));
      ++pos_;
      return skip_lwsp();
    }
    if (c == '\n') {
      // folding whitespace: drop the (CR)LF, keep the following blank
      std::size_t len = pos_ - start;
      if (len > 0 && data_[start + len - 1] == '\r') {
        --len;
      }
      out.append(data_.substr(start, len));
      start = pos_ + 1;
    } else if (c == '\\') {
      ++pos_;
      if (at_end()) {
        return -1;
      }
      out.append(data_.substr(start, pos_ - start - 1));
      start = pos_;
    }
  }
  return -1;
}

int Rfc822Lexer::parse_atom_or_dot(std::string& out) {
  return parse_run_with_dots(out, is_atext);
}

int Rfc822Lexer::parse_run_with_dots(std::string& out, bool (*accept)(unsigned char)) {
  const std::size_t start = pos_;
  while (!at_end()) {
    const auto c = static_cast<unsigned char>(peek());
    if (accept(c) || c == '.') {
      ++pos_;
      continue;
    }
    out.append(data_.substr(start, pos_ - start));
    return skip_lwsp();
  }
  out.append(data_.substr(start, pos_ - start));
  return 0;
}

int Rfc822Lexer::parse_phrase(std::string& out) {
  if (at_end()) {
    return 0;
  }
  if (peek() == '.') {
    return -1;
  }
  for (;;) {
    const int ret = peek() == '"' ? parse_quoted_string(out) : parse_atom_or_dot(out);
    if (ret <= 0) {
      return ret;
    }
    const auto c = static_cast<unsigned char>(peek());
    if (!is_atext(c) && c != '"' && c != '.') {
      break;
    }
    out += ' ';
  }
  return skip_lwsp();
}

int Rfc822Lexer::parse_domain_literal(std::string& out) {
  const std::size_t start = pos_;
  for (; pos_ < data_.size(); ++pos_) {
    const char c = data_[pos_];
    if (c == '\\') {
      ++pos_;
      if (at_end()) {
        break;
      }
    } else if (c == ']') {
      ++pos_;
      out.append(data_.substr(start, pos_ - start));
      return skip_lwsp();
    }
  }
  return -1;
}

int Rfc822Lexer::parse_domain(std::string& out) {
  ++pos_; // '@'
  if (skip_lwsp() <= 0) {
    return -1;
  }
  if (peek() == '[') {
    return parse_domain_literal(out);
  }
  return parse_dot_atom(out);
}

int Rfc822Lexer::parse_content_type(std::string& out) {
  // Dovecot keeps a lone main type that runs to the end of the value ("text"), but any other
  // failure leaves nothing: "text; charset=x", "image/" and "/plain" are all unknown.
  if (skip_lwsp() <= 0) {
    return -1;
  }
  std::size_t len = out.size();
  const int main_ret = parse_mime_token(out);
  if (main_ret < 0 || out.size() == len) {
    out.clear();
    return -1;
  }
  if (main_ret == 0) {
    return -1;
  }
  if (peek() != '/') {
    out.clear();
    return -1;
  }
  ++pos_;
  if (skip_lwsp() <= 0) {
    out.clear();
    return -1;
  }
  out += '/';
  len = out.size();
  const int ret = parse_mime_token(out);
  if (ret < 0 || out.size() == len || (ret > 0 && peek() != ';')) {
    // "text/plain junk" is as unknown as a missing subtype
    out.clear();
    return -1;
  }
  return ret;
}

int Rfc822Lexer::parse_content_param(std::string& key, std::string& value) {
  key.clear();
  value.clear();
  if (at_end()) {
    return 0;
  }
  if (peek() != ';') {
    return -1;
  }
  ++pos_;
  if (skip_lwsp() <= 0) {
    return -1;
  }
  if (parse_mime_token(key) <= 0) {
    return -1;
  }
  if (peek() != '=') {
    return -1;
  }
  ++pos_;
  int ret = skip_lwsp();
  if (ret <= 0) {
    // broken / no value
  } else if (peek() == '"') {
    ret = parse_quoted_string(value);
  } else if (peek() == '=') {
    // broken input such as name==?utf-8?b?...?=
    while (!at_end()) {
      const char c = peek();
      if (c == ';' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        break;
      }
      value += c;
      ++pos_;
    }
  } else {
    ret = parse_mime_token(value);
  }
  return ret < 0 ? -1 : 1;
}

namespace {

struct Continuation {
  std::string key;
  std::string value;
  unsigned idx = 0;
  bool extended = false;
};

void rfc2231_escape(std::string& out, std::string_view s) {
  for (const char c : s) {
    if (c == '%') {
      out += "%25";
    } else {
      out += c;
    }
  }
}

// Dovecot's C strings end at NUL; keep that for keys and values.
std::string cstr(const std::string& s) {
  const auto nul = s.find('\0');
  return nul == std::string::npos ? s : s.substr(0, nul);
}

} // namespace

std::vector<std::pair<std::string, std::string>> parse_rfc2231_params(Rfc822Lexer& lexer) {
  constexpr std::size_t kMaxParams = 1000; // bounds work on hostile headers
  std::vector<std::pair<std::string, std::string>> result;
  std::vector<Continuation> conts;
  std::string key;
  std::string value;
  int ret;
  while ((ret = lexer.parse_content_param(key, value)) != 0) {
    if (ret < 0) {
      if (lexer.at_end()) {
        break;
      }
      lexer.advance();
      continue;
    }
    if (result.size() + conts.size() >= kMaxParams) {
      continue;
    }
    key = cstr(key);
    value = cstr(value);
    const auto star = key.find('*');
    bool plain = true;
    if (star != std::string::npos) {
      Continuation c;
      std::size_t p = star;
      if (p + 1 < key.size()) {
        ++p;
        while (p < key.size() && key[p] >= '0' && key[p] <= '9') {
          c.idx = c.idx * 10 + static_cast<unsigned>(key[p] - '0');
          ++p;
        }
      }
      if (p < key.size() && key[p] == '*') {
        c.extended = true;
        ++p;
      }
      if (p >= key.size()) {
        c.key = key.substr(0, star);
        c.value = value;
        conts.push_back(std::move(c));
        plain = false;
      }
    }
    if (plain) {
      result.emplace_back(key, value);
    }
  }
  if (conts.empty()) {
    return result;
  }
  std::stable_sort(conts.begin(), conts.end(), [](const Continuation& a, const Continuation& b) {
    if (a.key != b.key) {
      return a.key < b.key;
    }
    return a.idx < b.idx;
  });
  std::size_t next = 0;
  for (std::size_t i = 0; i < conts.size(); i = next) {
    bool ok = true;
    bool have_extended = false;
    unsigned next_idx = 0;
    std::size_t j = i;
    for (; j < conts.size(); ++j) {
      if (strcasecmp(conts[i].key.c_str(), conts[j].key.c_str()) != 0) {
        break;
      }
      if (conts[j].idx != next_idx) {
        ok = false;
      }
      if (conts[j].extended) {
        have_extended = true;
      }
      ++next_idx;
    }
    next = j;
    if (!ok) {
      for (j = i; j < next; ++j) {
        std::string k = conts[j].key + "*" + std::to_string(conts[j].idx);
        if (conts[j].extended) {
          k += '*';
        }
        result.emplace_back(std::move(k), conts[j].value);
      }
      continue;
    }
    std::string merged;
    if (!conts[i].extended && have_extended) {
      merged += "''";
    }
    for (j = i; j < next; ++j) {
      if (!conts[j].extended && have_extended) {
        rfc2231_escape(merged, conts[j].value);
      } else {
        merged += conts[j].value;
      }
    }
    std::string k = conts[i].key;
    if (have_extended) {
      k += '*';
    }
    result.emplace_back(std::move(k), std::move(merged));
  }
  return result;
}

} // namespace icalgate::protocol::mime
