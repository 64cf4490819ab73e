#include "protocol/mime/header.hpp"

#include "protocol/mime/rfc822_lexer.hpp"

#include <strings.h>

namespace icalgate::protocol::mime {

namespace {

bool is_lwsp(char c) {
  return c == ' ' || c == '\t';
}

// Dovecot compares header names as C strings: a NUL ends them.
std::string_view cname(std::string_view s) {
  const auto nul = s.find('\0');
  return nul == std::string_view::npos ? s : s.substr(0, nul);
}

void parse_content_type(ContentInfo& info, const std::string& value) {
  Rfc822Lexer lexer(value);
  lexer.skip_lwsp();
  std::string str;
  const int ret = lexer.parse_content_type(str);
  str = str.substr(0, str.find('\0'));
  const auto slash = str.find('/');
  if (slash != std::string::npos) {
    info.subtype = str.substr(slash + 1);
    str.resize(slash);
  }
  info.type = str;
  if (ret < 0) {
    // Broken: keep what was readable, ignore the parameters.
    return;
  }
  info.type_params = parse_rfc2231_params(lexer);
}

void parse_transfer_encoding(ContentInfo& info, const std::string& value) {
  Rfc822Lexer lexer(value);
  lexer.skip_lwsp();
  std::string str;
  if (lexer.parse_mime_token(str) >= 0 && lexer.skip_lwsp() == 0 && !str.empty()) {
    info.transfer_encoding = str;
  }
}

void parse_disposition(ContentInfo& info, const std::string& value) {
  Rfc822Lexer lexer(value);
  lexer.skip_lwsp();
  std::string str;
  if (lexer.parse_mime_token(str) < 0) {
    return;
  }
  info.disposition = str;
  info.disposition_params = parse_rfc2231_params(lexer);
}

void parse_language(ContentInfo& info, const std::string& value) {
  Rfc822Lexer lexer(value);
  std::vector<std::string> langs;
  lexer.skip_lwsp();
  std::string str;
  while (lexer.parse_atom(str) >= 0) {
    langs.push_back(str);
    str.clear();
    if (lexer.at_end() || lexer.peek() != ',') {
      break;
    }
    lexer.advance();
    lexer.skip_lwsp();
  }
  if (!langs.empty()) {
    info.language = std::move(langs);
  }
}

std::string cstring(const std::string& s) {
  return s.substr(0, s.find('\0'));
}

} // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view header_name(std::string_view raw, const HeaderField& field) {
  std::size_t end = field.colon;
  if (end >= field.end) {
    // no colon: the whole first line
    end = raw.find('\n', field.start);
    if (end == std::string_view::npos || end > field.end) {
      end = field.end;
    }
    if (end > field.start && raw[end - 1] == '\r' && end < field.end) {
      --end;
    }
    return raw.substr(field.start, end - field.start);
  }
  while (end > field.start && is_lwsp(raw[end - 1])) {
    --end;
  }
  return raw.substr(field.start, end - field.start);
}

std::string header_full_value(std::string_view raw, const HeaderField& field) {
  std::string out;
  if (field.colon >= field.end) {
    return out;
  }
  // Split the field into lines, each without its line ending.
  std::size_t pos = field.colon + 1;
  bool first = true;
  while (pos < field.end) {
    std::size_t lf = raw.find('\n', pos);
    std::size_t next;
    std::size_t line_end;
    if (lf == std::string_view::npos || lf >= field.end) {
      line_end = field.end;
      next = field.end;
    } else {
      line_end = lf;
      next = lf + 1;
      // every CR before the line end goes, not just the one of CRLF
      while (line_end > pos && raw[line_end - 1] == '\r') {
        --line_end;
      }
    }
    std::string_view line = raw.substr(pos, line_end - pos);
    if (first) {
      std::size_t skip = 0;
      while (skip < line.size() && is_lwsp(line[skip])) {
        ++skip;
      }
      if (skip == line.size() && !line.empty() && is_lwsp(line[0])) {
        skip = 1;
      }
      out.append(line.substr(skip));
      first = false;
    } else {
      out += '\n';
      out.append(line);
    }
    pos = next;
  }
  return out;
}

void ContentInfo::add_header(std::string_view full_name, const std::string& full_value) {
  const std::string_view name_all = cname(full_name);
  if (name_all.size() < 8 || strncasecmp(name_all.data(), "Content-", 8) != 0) {
    return;
  }
  const std::string_view name = name_all.substr(8);
  if (iequals(name, "ID")) {
    if (!id) {
      id = cstring(full_value);
    }
  } else if (iequals(name, "MD5")) {
    if (!md5) {
      md5 = cstring(full_value);
    }
  } else if (iequals(name, "Type")) {
    if (!type) {
      parse_content_type(*this, full_value);
    }
  } else if (iequals(name, "Transfer-Encoding")) {
    if (!transfer_encoding) {
      parse_transfer_encoding(*this, full_value);
    }
  } else if (iequals(name, "Language")) {
    if (!language) {
      parse_language(*this, full_value);
    }
  } else if (iequals(name, "Location")) {
    if (!location) {
      location = cstring(full_value);
    }
  } else if (iequals(name, "Description")) {
    if (!description) {
      description = cstring(full_value);
    }
  } else if (iequals(name, "Disposition")) {
    if (disposition_params.empty()) {
      parse_disposition(*this, full_value);
    }
  }
}

} // namespace icalgate::protocol::mime
