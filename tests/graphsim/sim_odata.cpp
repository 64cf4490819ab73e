#include "tests/graphsim/sim_odata.hpp"

#include <cctype>

namespace icalgate::graphsim {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

struct Token {
  enum Kind { word, string, punct, end } kind = end;
  std::string text;
};

// Words (names, paths, keywords, timestamps), 'strings' with '' escapes, and (
// ) , :.
std::optional<std::vector<Token>> tokenize(std::string_view text) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ') {
      ++i;
    } else if (c == '(' || c == ')' || c == ',' || c == ':') {
      out.push_back({Token::punct, std::string(1, c)});
      ++i;
    } else if (c == '\'') {
      std::string value;
      ++i;
      while (true) {
        if (i >= text.size()) {
          return std::nullopt;
        }
        if (text[i] == '\'') {
          if (i + 1 < text.size() && text[i + 1] == '\'') {
            value.push_back('\'');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        value.push_back(text[i++]);
      }
      out.push_back({Token::string, std::move(value)});
    } else if (std::isdigit(static_cast<unsigned char>(c)) != 0) {
      const std::size_t start = i;
      while (i < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[i])) != 0 || text[i] == ':' ||
              text[i] == '.' || text[i] == '-' || text[i] == '+')) {
        ++i;
      }
      out.push_back({Token::word, std::string(text.substr(start, i - start))});
    } else if (std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_') {
      const std::size_t start = i;
      while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) != 0 ||
                                 text[i] == '_' || text[i] == '/' || text[i] == '.')) {
        ++i;
      }
      out.push_back({Token::word, std::string(text.substr(start, i - start))});
    } else {
      return std::nullopt;
    }
  }
  out.push_back({Token::end, ""});
  return out;
}

class FilterParser {
 public:
  explicit FilterParser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  std::variant<MessageFilter, FilterError> parse() {
    MessageFilter filter;
    while (true) {
      if (auto error = term(filter)) {
        return *error;
      }
      if (peek().kind == Token::end) {
        return filter;
      }
      if (!accept_word("and")) {
        return unsupported();
      }
    }
  }

 private:
  const Token& peek() const { return tokens_[pos_]; }
  Token next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool accept_word(std::string_view w) {
    if (peek().kind == Token::word && peek().text == w) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool accept_punct(char c) {
    if (peek().kind == Token::punct && peek().text[0] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  static FilterError unsupported() {
    return {"ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes."};
  }

  std::optional<FilterError> term(MessageFilter& filter) {
    const Token name = next();
    if (name.kind != Token::word) {
      return FilterError{"BadRequest", "Invalid filter clause: syntax error."};
    }
    if (name.text == "internetMessageId") {
      if (!accept_word("eq") || peek().kind != Token::string) {
        return unsupported();
      }
      filter.internet_message_id = next().text;
      return std::nullopt;
    }
    if (name.text == "receivedDateTime") {
      const bool ge = accept_word("ge");
      const bool gt = !ge && accept_word("gt");
      if (!ge && !gt) {
        return unsupported();
      }
      const Token when = next();
      auto normalized = when.kind == Token::word ? normalize_timestamp(when.text) : std::nullopt;
      if (!normalized) {
        return FilterError{"BadRequest", "Invalid filter clause: bad DateTimeOffset literal."};
      }
      filter.received_from = *normalized;
      filter.received_strict = gt;
      return std::nullopt;
    }
    if (name.text == "singleValueExtendedProperties/any" ||
        name.text == "singleValueExtendedProperties/Any") {
      return extended_property(filter);
    }
    return unsupported();
  }

  // (ep: ep/id eq 'String 0x001A' and startswith(ep/value, '…'))
  std::optional<FilterError> extended_property(MessageFilter& filter) {
    if (!accept_punct('(') || peek().kind != Token::word) {
      return unsupported();
    }
    const std::string var = next().text;
    if (!accept_punct(':') || !accept_word(var + "/id") || !accept_word("eq") ||
        peek().kind != Token::string) {
      return unsupported();
    }
    std::string id = next().text;
    for (char& c : id) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (id != "string 0x001a" && id != "string 0x1a") {
      // Other extended properties exist but no fixture carries them.
      return unsupported();
    }
    if (!accept_word("and")) {
      return unsupported();
    }
    if (accept_word("startswith") || accept_word("startsWith")) {
      if (!accept_punct('(') || !accept_word(var + "/value") || !accept_punct(',') ||
          peek().kind != Token::string) {
        return unsupported();
      }
      filter.class_prefix = next().text;
      if (!accept_punct(')')) {
        return unsupported();
      }
    } else if (accept_word(var + "/value")) {
      if (!accept_word("eq") || peek().kind != Token::string) {
        return unsupported();
      }
      filter.class_equals = next().text;
    } else {
      return unsupported();
    }
    if (!accept_punct(')')) {
      return unsupported();
    }
    return std::nullopt;
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
};

} // namespace

std::optional<std::string> percent_decode(std::string_view text, bool form) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (form && text[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string percent_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || u == '-' || u == '.' || u == '_' || u == '~' || u == '$') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 0x0F]);
    }
  }
  return out;
}

std::optional<std::map<std::string, std::string>> parse_query(std::string_view query, bool form) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const std::size_t eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq), form);
    auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), form);
    if (!name || !value || !out.emplace(std::move(*name), std::move(*value)).second) {
      return std::nullopt;
    }
  }
  return out;
}

std::variant<MessageFilter, FilterError> parse_message_filter(std::string_view filter) {
  auto tokens = tokenize(filter);
  if (!tokens || tokens->size() > 200) {
    return FilterError{"BadRequest", "Invalid filter clause: syntax error."};
  }
  return FilterParser(std::move(*tokens)).parse();
}

std::optional<std::string> normalize_timestamp(std::string_view text) {
  if (text.size() < 19) {
    return std::nullopt;
  }
  static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 'd' ? std::isdigit(static_cast<unsigned char>(text[i])) == 0
                        : text[i] != shape[i]) {
      return std::nullopt;
    }
  }
  std::string_view rest = text.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front())) != 0) {
      rest.remove_prefix(1);
    }
  }
  if (rest != "Z" && !rest.empty()) {
    return std::nullopt;
  }
  return std::string(text.substr(0, 19));
}

} // namespace icalgate::graphsim
