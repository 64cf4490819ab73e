#include "protocol/fetch_answer.hpp"

#include "protocol/lexer.hpp"

#include <algorithm>

namespace icalgate::protocol {

namespace {

bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool top_level_header(const FetchItem& item, bool need_message_id) {
  if (item.attr == FetchAttr::rfc822_header) {
    return true;
  }
  if (item.attr != FetchAttr::body_section || !item.section.part.empty()) {
    return false;
  }
  switch (item.section.text) {
  case SectionSpec::Text::header:
    return true;
  case SectionSpec::Text::header_fields:
    return !need_message_id ||
           std::any_of(item.section.fields.begin(), item.section.fields.end(),
                       [](const std::string& f) { return imap_iequals(f, "Message-ID"); });
  case SectionSpec::Text::header_fields_not:
    return !need_message_id;
  default:
    return false;
  }
}

} // namespace

std::string message_id_in_header(std::string_view block) {
  constexpr std::string_view name = "message-id";
  std::size_t line = 0;
  while (line < block.size()) {
    std::size_t eol = block.find('\n', line);
    eol = eol == std::string_view::npos ? block.size() : eol + 1;
    const std::string_view text = block.substr(line, eol - line);
    const std::size_t colon = text.find(':');
    std::string_view field = colon == std::string_view::npos ? text : text.substr(0, colon);
    while (!field.empty() && blank(field.back())) {
      field.remove_suffix(1);
    }
    if (colon != std::string_view::npos && imap_iequals(field, name)) {
      // The value runs on through continuation lines.
      std::size_t end = eol;
      while (end < block.size() && (block[end] == ' ' || block[end] == '\t')) {
        const std::size_t next = block.find('\n', end);
        end = next == std::string_view::npos ? block.size() : next + 1;
      }
      std::string value;
      for (char c : block.substr(line + colon + 1, end - line - colon - 1)) {
        if (!blank(c)) {
          value += c;
        }
      }
      return value;
    }
    line = eol;
  }
  return {};
}

bool answers_name_message_id(const FetchItems& items) {
  return std::any_of(items.items.begin(), items.items.end(), [](const FetchItem& item) {
    return item.attr == FetchAttr::envelope || (top_level_header(item, true) && !item.partial);
  });
}

bool answers_are_header_sized(const FetchItems& items) {
  return std::all_of(items.items.begin(), items.items.end(), [](const FetchItem& item) {
    switch (item.attr) {
    case FetchAttr::rfc822:
    case FetchAttr::rfc822_text:
    case FetchAttr::binary:
    case FetchAttr::binary_size:
      return false;
    case FetchAttr::body_section:
      return top_level_header(item, false);
    default:
      return true;
    }
  });
}

namespace {

// BODY[] (or BODY.PEEK[]): the whole message, from its first octet when partial.
bool whole_message_item(const FetchItem& item) {
  return item.attr == FetchAttr::body_section && item.section.part.empty() &&
         item.section.text == SectionSpec::Text::none &&
         (!item.partial || item.partial->origin == 0);
}

} // namespace

bool answers_may_carry_whole_message(const FetchItems& items) {
  return std::any_of(items.items.begin(), items.items.end(), [](const FetchItem& item) {
    return item.attr == FetchAttr::rfc822 || whole_message_item(item);
  });
}

std::optional<std::string_view> whole_message_in(const FetchData& data, const FetchItems& asked) {
  // The most octets a partial BODY[]<0.n> asked for; 0 when BODY[] was asked in full.
  std::optional<std::uint64_t> partial_octets;
  bool rfc822 = false;
  for (const FetchItem& item : asked.items) {
    rfc822 = rfc822 || item.attr == FetchAttr::rfc822;
    if (whole_message_item(item)) {
      const std::uint64_t n = item.partial ? item.partial->octets : 0;
      const bool in_full = (partial_octets && *partial_octets == 0) || n == 0;
      partial_octets = in_full ? 0 : std::max(partial_octets.value_or(0), n);
    }
  }
  for (const MsgAtt& att : data.atts) {
    if (!att.attr || !att.string) {
      continue;
    }
    const std::string_view bytes = att.string->value;
    // (An answer about what was not asked shows nothing about the message.)
    if (*att.attr == FetchAttr::rfc822 && rfc822) {
      return bytes;
    }
    if (*att.attr != FetchAttr::body_section || !att.section.part.empty() ||
        att.section.text != SectionSpec::Text::none || !partial_octets) {
      continue;
    }
    if (!att.origin && *partial_octets == 0) {
      return bytes;
    }
    // A partial answer holds the whole message only when it ends before the octets asked.
    if (att.origin == 0 && *partial_octets != 0 && bytes.size() < *partial_octets) {
      return bytes;
    }
  }
  return std::nullopt;
}

std::optional<std::string> answer_message_id(const FetchData& data) {
  for (const MsgAtt& att : data.atts) {
    if (!att.attr) {
      continue;
    }
    if (*att.attr == FetchAttr::envelope) {
      // The tenth envelope field; NIL when the message has none.
      if (att.sexp.kind == SExpr::Kind::list && att.sexp.items.size() >= 10) {
        const SExpr& id = att.sexp.items[9];
        std::string value;
        if (id.kind == SExpr::Kind::string || id.kind == SExpr::Kind::atom) {
          const std::string& raw = id.kind == SExpr::Kind::string ? id.string.value : id.atom;
          std::copy_if(raw.begin(), raw.end(), std::back_inserter(value),
                       [](char c) { return !blank(c); });
        }
        return value;
      }
      continue;
    }
    const FetchItem item{*att.attr, att.section, false, std::nullopt};
    if (top_level_header(item, true) && !att.origin) {
      return att.string ? message_id_in_header(att.string->value) : std::string();
    }
  }
  return std::nullopt;
}

std::optional<std::string> with_fetch_item(std::string_view command, std::string_view item) {
  // TAG SP ["UID" SP] "FETCH" SP sequence-set SP fetch-atts [SP modifiers] CRLF
  std::size_t at = 0;
  const auto next_word = [&]() -> std::string_view {
    const std::size_t end = command.find(' ', at);
    if (end == std::string_view::npos) {
      return {};
    }
    const std::string_view word = command.substr(at, end - at);
    at = end + 1;
    return word;
  };
  if (next_word().empty()) {
    return std::nullopt;
  }
  std::string_view name = next_word();
  if (imap_iequals(name, "UID")) {
    name = next_word();
  }
  if (!imap_iequals(name, "FETCH") || next_word().empty()) {
    return std::nullopt;
  }
  std::size_t consumed = 0;
  const auto items = parse_fetch_items(command.substr(at), &consumed);
  if (!items || consumed == 0) {
    return std::nullopt;
  }
  const std::string_view written = command.substr(at, consumed);
  std::string list;
  if (items->macro != FetchMacro::none) {
    list = to_string(*items);
  } else if (written.front() == '(' && written.back() == ')') {
    list = written;
  } else {
    list = "(" + std::string(written) + ")";
  }
  list.pop_back();
  return std::string(command.substr(0, at)) + list + ' ' + std::string(item) + ')' +
         std::string(command.substr(at + consumed));
}

bool answers_message_id_item(const MsgAtt& att) {
  return att.attr == FetchAttr::body_section && !att.origin && att.section.part.empty() &&
         att.section.text == SectionSpec::Text::header_fields && att.section.fields.size() == 1 &&
         imap_iequals(att.section.fields.front(), "MESSAGE-ID");
}

std::string without_attributes(std::string_view message, const FetchData& data,
                               const std::function<bool(const MsgAtt&)>& added) {
  if (std::all_of(data.atts.begin(), data.atts.end(), added)) {
    return std::string(message); // "* n FETCH ()" would be no answer at all
  }
  std::string out;
  std::size_t from = 0;
  for (const MsgAtt& att : data.atts) {
    if (!added(att)) {
      continue;
    }
    // The attribute and the space that separates it from its neighbour.
    std::size_t begin = att.whole.offset;
    std::size_t end = begin + att.whole.length;
    if (begin > from && message[begin - 1] == ' ') {
      --begin;
    } else if (end < message.size() && message[end] == ' ') {
      ++end;
    }
    out.append(message.substr(from, begin - from));
    from = end;
  }
  out.append(message.substr(from));
  return out;
}

} // namespace icalgate::protocol
