#include "protocol/fetch_item.hpp"

#include "protocol/lexer.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>

namespace icalgate::protocol {
namespace {

constexpr std::size_t max_items = 256;
constexpr std::size_t max_fields = 256;
constexpr std::size_t max_field_length = 1024;
constexpr std::size_t max_part_depth = 64;

Error syntax(std::string message) {
  return make_error(Errc::syntax, std::move(message));
}

// A cursor over the argument text. Only the parser below uses it.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool done() const { return pos_ == text_.size(); }
  std::size_t pos() const { return pos_; }
  char peek() const { return done() ? '\0' : text_[pos_]; }
  bool consume(char c) {
    if (peek() != c) {
      return false;
    }
    ++pos_;
    return true;
  }

  // The keyword part of a fetch-att: letters, digits and dots up to a delimiter.
  std::string_view keyword() {
    const std::size_t start = pos_;
    while (!done()) {
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (std::isalnum(c) == 0 && c != '.') {
        break;
      }
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }

  Result<std::uint64_t> number(std::uint64_t max) {
    const std::size_t start = pos_;
    while (!done() && std::isdigit(static_cast<unsigned char>(text_[pos_])) != 0) {
      ++pos_;
    }
    if (start == pos_) {
      return syntax("expected a number");
    }
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, value);
    if (ec != std::errc{} || end != text_.data() + pos_ || value > max) {
      return syntax("number out of range");
    }
    return value;
  }

  // header-fld-name = astring: an atom of ASTRING-CHARs or a quoted string.
  Result<std::string> astring() {
    std::string out;
    if (consume('"')) {
      while (true) {
        if (done()) {
          return syntax("unterminated quoted string");
        }
        char c = text_[pos_++];
        if (c == '"') {
          break;
        }
        if (c == '\\') {
          if (done() || (text_[pos_] != '"' && text_[pos_] != '\\')) {
            return syntax("bad escape in quoted string");
          }
          c = text_[pos_++];
        } else if (c == '\r' || c == '\n') {
          return syntax("line break in quoted string");
        }
        if (out.size() >= max_field_length) {
          return make_error(Errc::too_many, "header field name too long");
        }
        out.push_back(c);
      }
      return out;
    }
    while (!done()) {
      const char c = text_[pos_];
      if (!is_astring_char(c)) {
        break;
      }
      if (out.size() >= max_field_length) {
        return make_error(Errc::too_many, "header field name too long");
      }
      out.push_back(c);
      ++pos_;
    }
    if (out.empty()) {
      return syntax("expected a header field name");
    }
    return out;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

Result<std::vector<std::string>> parse_header_list(Cursor& in) {
  if (!in.consume('(')) {
    return syntax("expected '(' before header field names");
  }
  std::vector<std::string> fields;
  while (true) {
    auto field = in.astring();
    if (!field) {
      return field.error();
    }
    if (fields.size() >= max_fields) {
      return make_error(Errc::too_many, "too many header field names");
    }
    fields.push_back(std::move(*field));
    if (in.consume(')')) {
      return fields;
    }
    if (!in.consume(' ')) {
      return syntax("expected ' ' or ')' in header field names");
    }
  }
}

// Parses after '[' up to and including ']'. `binary` restricts to section-binary.
Result<SectionSpec> parse_section(Cursor& in, bool binary) {
  SectionSpec spec;
  if (in.consume(']')) {
    return spec;
  }
  // section-part: nz-number *("." nz-number), then an optional "." section-text.
  bool text_required = false;
  while (std::isdigit(static_cast<unsigned char>(in.peek())) != 0) {
    auto n = in.number(std::numeric_limits<std::uint32_t>::max());
    if (!n) {
      return n.error();
    }
    if (*n == 0) {
      return syntax("section part numbers start at 1");
    }
    if (spec.part.size() >= max_part_depth) {
      return make_error(Errc::too_many, "section part number too deep");
    }
    spec.part.push_back(static_cast<std::uint32_t>(*n));
    if (!in.consume('.')) {
      break;
    }
    if (std::isdigit(static_cast<unsigned char>(in.peek())) == 0) {
      if (binary) {
        return syntax("BINARY sections take part numbers only");
      }
      text_required = true;
      break;
    }
  }
  if (!text_required && in.consume(']')) {
    return spec;
  }
  if (binary) {
    return syntax("BINARY sections take part numbers only");
  }
  // The "." separating part and text was consumed above when a part was present.
  const std::string_view text = in.keyword();
  if (imap_iequals(text, "HEADER")) {
    spec.text = SectionSpec::Text::header;
  } else if (imap_iequals(text, "TEXT")) {
    spec.text = SectionSpec::Text::text;
  } else if (imap_iequals(text, "MIME")) {
    if (spec.part.empty()) {
      return syntax("MIME needs a part number");
    }
    spec.text = SectionSpec::Text::mime;
  } else if (imap_iequals(text, "HEADER.FIELDS") || imap_iequals(text, "HEADER.FIELDS.NOT")) {
    spec.text =
        text.size() == 13 ? SectionSpec::Text::header_fields : SectionSpec::Text::header_fields_not;
    if (!in.consume(' ')) {
      return syntax("expected ' ' before header field names");
    }
    auto fields = parse_header_list(in);
    if (!fields) {
      return fields.error();
    }
    spec.fields = std::move(*fields);
  } else {
    return syntax("unknown section text");
  }
  if (!in.consume(']')) {
    return syntax("expected ']' after section");
  }
  return spec;
}

Result<std::optional<Partial>> parse_partial(Cursor& in) {
  if (!in.consume('<')) {
    return std::optional<Partial>{};
  }
  auto origin = in.number(std::numeric_limits<std::int64_t>::max());
  if (!origin) {
    return origin.error();
  }
  if (!in.consume('.')) {
    return syntax("expected '.' in partial");
  }
  auto octets = in.number(std::numeric_limits<std::int64_t>::max());
  if (!octets) {
    return octets.error();
  }
  if (!in.consume('>')) {
    return syntax("expected '>' after partial");
  }
  return std::optional<Partial>{Partial{*origin, *octets}};
}

struct Simple {
  std::string_view name;
  FetchAttr attr;
};

constexpr std::array simple_attrs{
    Simple{"ENVELOPE", FetchAttr::envelope},
    Simple{"FLAGS", FetchAttr::flags},
    Simple{"INTERNALDATE", FetchAttr::internaldate},
    Simple{"RFC822", FetchAttr::rfc822},
    Simple{"RFC822.HEADER", FetchAttr::rfc822_header},
    Simple{"RFC822.SIZE", FetchAttr::rfc822_size},
    Simple{"RFC822.TEXT", FetchAttr::rfc822_text},
    Simple{"BODYSTRUCTURE", FetchAttr::bodystructure},
    Simple{"UID", FetchAttr::uid},
    Simple{"MODSEQ", FetchAttr::modseq},
    Simple{"SAVEDATE", FetchAttr::save_date},
    Simple{"EMAILID", FetchAttr::email_id},
    Simple{"THREADID", FetchAttr::thread_id},
};

Result<FetchItem> parse_item(Cursor& in) {
  const std::string_view name = in.keyword();
  if (name.empty()) {
    return syntax("expected a fetch attribute");
  }
  FetchItem item;
  const bool section_follows = in.peek() == '[';
  if (!section_follows) {
    for (const auto& simple : simple_attrs) {
      if (imap_iequals(name, simple.name)) {
        item.attr = simple.attr;
        return item;
      }
    }
    if (imap_iequals(name, "BODY")) {
      item.attr = FetchAttr::body;
      return item;
    }
    return syntax("unknown fetch attribute");
  }
  bool binary = false;
  if (imap_iequals(name, "BODY") || imap_iequals(name, "BODY.PEEK")) {
    item.attr = FetchAttr::body_section;
    item.peek = name.size() == 9;
  } else if (imap_iequals(name, "BINARY") || imap_iequals(name, "BINARY.PEEK")) {
    item.attr = FetchAttr::binary;
    item.peek = name.size() == 11;
    binary = true;
  } else if (imap_iequals(name, "BINARY.SIZE")) {
    item.attr = FetchAttr::binary_size;
    binary = true;
  } else {
    return syntax("fetch attribute takes no section");
  }
  in.consume('[');
  auto section = parse_section(in, binary);
  if (!section) {
    return section.error();
  }
  item.section = std::move(*section);
  if (item.attr == FetchAttr::binary_size) {
    return item;
  }
  auto partial = parse_partial(in);
  if (!partial) {
    return partial.error();
  }
  item.partial = *partial;
  return item;
}

FetchItems expand(FetchMacro macro) {
  FetchItems out;
  out.macro = macro;
  out.items.push_back(FetchItem{FetchAttr::flags, {}, false, {}});
  out.items.push_back(FetchItem{FetchAttr::internaldate, {}, false, {}});
  out.items.push_back(FetchItem{FetchAttr::rfc822_size, {}, false, {}});
  if (macro != FetchMacro::fast) {
    out.items.push_back(FetchItem{FetchAttr::envelope, {}, false, {}});
  }
  if (macro == FetchMacro::full) {
    out.items.push_back(FetchItem{FetchAttr::body, {}, false, {}});
  }
  return out;
}

Result<FetchItems> parse_list(Cursor& in) {
  FetchItems out;
  if (in.consume('(')) {
    while (true) {
      auto item = parse_item(in);
      if (!item) {
        return item.error();
      }
      if (out.items.size() >= max_items) {
        return make_error(Errc::too_many, "too many fetch attributes");
      }
      out.items.push_back(std::move(*item));
      if (in.consume(')')) {
        return out;
      }
      if (!in.consume(' ')) {
        return syntax("expected ' ' or ')' between fetch attributes");
      }
    }
  }
  Cursor probe = in;
  const std::string_view word = probe.keyword();
  if (probe.peek() != '[') {
    if (imap_iequals(word, "ALL")) {
      in = probe;
      return expand(FetchMacro::all);
    }
    if (imap_iequals(word, "FAST")) {
      in = probe;
      return expand(FetchMacro::fast);
    }
    if (imap_iequals(word, "FULL")) {
      in = probe;
      return expand(FetchMacro::full);
    }
  }
  auto item = parse_item(in);
  if (!item) {
    return item.error();
  }
  out.items.push_back(std::move(*item));
  return out;
}

void append_number(std::string& out, std::uint64_t n) {
  std::array<char, 24> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), n);
  out.append(buf.data(), end);
}

bool is_atom(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_atom_char);
}

} // namespace

Result<FetchItems> parse_fetch_items(std::string_view text, std::size_t* consumed) {
  Cursor in(text);
  auto result = parse_list(in);
  if (!result) {
    return result;
  }
  if (consumed != nullptr) {
    *consumed = in.pos();
  } else if (!in.done()) {
    return syntax("unexpected text after fetch attributes");
  }
  return result;
}

std::string to_string(const SectionSpec& section, bool upper_fields) {
  std::string out;
  for (std::size_t i = 0; i < section.part.size(); ++i) {
    if (i != 0) {
      out.push_back('.');
    }
    append_number(out, section.part[i]);
  }
  if (section.text == SectionSpec::Text::none) {
    return out;
  }
  if (!section.part.empty()) {
    out.push_back('.');
  }
  switch (section.text) {
  case SectionSpec::Text::header:
    out += "HEADER";
    break;
  case SectionSpec::Text::text:
    out += "TEXT";
    break;
  case SectionSpec::Text::mime:
    out += "MIME";
    break;
  case SectionSpec::Text::header_fields:
  case SectionSpec::Text::header_fields_not:
    out += section.text == SectionSpec::Text::header_fields ? "HEADER.FIELDS ("
                                                            : "HEADER.FIELDS.NOT (";
    for (std::size_t i = 0; i < section.fields.size(); ++i) {
      if (i != 0) {
        out.push_back(' ');
      }
      std::string name = section.fields[i];
      if (upper_fields) {
        for (char& c : name) {
          c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
      }
      if (is_atom(name)) {
        out += name;
      } else {
        out.push_back('"');
        for (const char c : name) {
          if (c == '"' || c == '\\') {
            out.push_back('\\');
          }
          out.push_back(c);
        }
        out.push_back('"');
      }
    }
    out.push_back(')');
    break;
  case SectionSpec::Text::none:
    break;
  }
  return out;
}

std::string to_string(const FetchItem& item) {
  for (const auto& simple : simple_attrs) {
    if (simple.attr == item.attr) {
      return std::string(simple.name);
    }
  }
  std::string out;
  switch (item.attr) {
  case FetchAttr::body:
    return "BODY";
  case FetchAttr::body_section:
    out = item.peek ? "BODY.PEEK[" : "BODY[";
    break;
  case FetchAttr::binary:
    out = item.peek ? "BINARY.PEEK[" : "BINARY[";
    break;
  case FetchAttr::binary_size:
    out = "BINARY.SIZE[";
    break;
  default:
    return out;
  }
  out += to_string(item.section);
  out.push_back(']');
  if (item.partial) {
    out.push_back('<');
    append_number(out, item.partial->origin);
    out.push_back('.');
    append_number(out, item.partial->octets);
    out.push_back('>');
  }
  return out;
}

std::string to_string(const FetchItems& items) {
  std::string out = "(";
  for (const FetchItem& item : items.items) {
    if (out.size() > 1) {
      out.push_back(' ');
    }
    out += to_string(item);
  }
  out.push_back(')');
  return out;
}

} // namespace icalgate::protocol
