#include "protocol/fetch_substitute.hpp"

#include "protocol/fetch_render.hpp"
#include "protocol/lexer.hpp"

#include <algorithm>

namespace icalgate::protocol {

namespace {

bool same_fields(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const std::string& x, const std::string& y) { return imap_iequals(x, y); });
}

bool same_section(const SectionSpec& a, const SectionSpec& b) {
  return a.part == b.part && a.text == b.text && same_fields(a.fields, b.fields);
}

bool is_sectioned(FetchAttr attr) {
  return attr == FetchAttr::body_section || attr == FetchAttr::binary ||
         attr == FetchAttr::binary_size;
}

// The requested item a response attribute answers.
std::optional<FetchItem> requested_item(const MsgAtt& att, const FetchItems& requested) {
  for (const FetchItem& item : requested.items) {
    if (item.attr != *att.attr) {
      continue;
    }
    if (!is_sectioned(item.attr)) {
      return item;
    }
    if (!same_section(item.section, att.section)) {
      continue;
    }
    const bool partial = item.partial && item.attr != FetchAttr::binary_size;
    if (partial != att.origin.has_value() || (partial && item.partial->origin != *att.origin)) {
      continue;
    }
    return item;
  }
  if (is_sectioned(*att.attr) && !att.origin) {
    // A server may volunteer a whole section; answer it whole.
    return FetchItem{*att.attr, att.section, true, std::nullopt};
  }
  return std::nullopt;
}

// The text of the one item in "* N FETCH (ITEM)\r\n".
std::string_view item_text(std::string_view rendered) {
  const std::size_t open = rendered.find('(');
  if (open == std::string_view::npos || rendered.size() < open + 4) {
    return {};
  }
  return rendered.substr(open + 1, rendered.size() - open - 4);
}

} // namespace

bool shows_content(const FetchItem& item) {
  switch (item.attr) {
  case FetchAttr::flags:
  case FetchAttr::uid:
  case FetchAttr::internaldate:
  case FetchAttr::modseq:
  case FetchAttr::save_date:
  case FetchAttr::email_id:
  case FetchAttr::thread_id:
  case FetchAttr::envelope:
    return false;
  case FetchAttr::body_section:
  case FetchAttr::binary:
    // Header fields other than Content-Type and Content-Transfer-Encoding stay as they were.
    if (item.section.part.empty() && item.section.text == SectionSpec::Text::header_fields) {
      return std::any_of(
          item.section.fields.begin(), item.section.fields.end(), [](const std::string& f) {
            return imap_iequals(f, "Content-Type") || imap_iequals(f, "Content-Transfer-Encoding");
          });
    }
    return true;
  default:
    return true;
  }
}

bool shows_content(const FetchItems& items) {
  return std::any_of(items.items.begin(), items.items.end(),
                     [](const FetchItem& item) { return shows_content(item); });
}

bool shows_content(const FetchData& answer) {
  return std::any_of(answer.atts.begin(), answer.atts.end(), [](const MsgAtt& att) {
    return !att.attr || shows_content(FetchItem{*att.attr, att.section, false, std::nullopt});
  });
}

namespace {

// What a content item becomes: its rebuilt text, or the error that ends the rebuild.
using ContentItem = std::function<Result<std::string>(const MsgAtt& att)>;

// `response` rebuilt attribute by attribute, in the server's order: those that show no content
// as the server wrote them, the others as `content` renders them.
Result<std::string> rebuild_fetch(const Response& response, const ContentItem& content) {
  if (response.kind != ResponseKind::fetch) {
    return make_error(Errc::unsupported, "not a FETCH response");
  }
  const auto& data = std::get<FetchData>(response.body);
  std::string out = "* " + std::to_string(data.number) + " FETCH (";
  bool first = true;
  for (const MsgAtt& att : data.atts) {
    if (!first) {
      out += ' ';
    }
    first = false;
    if (!att.attr || !shows_content(FetchItem{*att.attr, att.section, false, std::nullopt})) {
      out.append(response.raw, att.whole.offset, att.whole.length);
      continue;
    }
    auto text = content(att);
    if (!text) {
      return text.error();
    }
    out += *text;
  }
  out += ")\r\n";
  return out;
}

} // namespace

Result<std::string> substitute_fetch(const Response& response, const mime::Message& msg,
                                     const FetchItems& requested) {
  return rebuild_fetch(response, [&](const MsgAtt& att) -> Result<std::string> {
    auto item = requested_item(att, requested);
    if (!item) {
      return make_error(Errc::unsupported, "a content item that was not requested");
    }
    FetchContext ctx;
    ctx.seq = std::get<FetchData>(response.body).number;
    auto rendered = render_fetch(msg, FetchItems{FetchMacro::none, {*item}}, ctx);
    if (!rendered) {
      return rendered.error();
    }
    const std::string_view text = item_text(*rendered);
    if (text.empty()) {
      return make_error(Errc::unsupported, "rendering gave no item");
    }
    return std::string(text);
  });
}

namespace {

// A whole top-level header section: BODY[HEADER], BODY[HEADER.FIELDS (...)],
// BODY[HEADER.FIELDS.NOT (...)], RFC822.HEADER.
bool whole_header_section(FetchAttr attr, const SectionSpec& section, bool partial) {
  if (attr == FetchAttr::rfc822_header) {
    return true;
  }
  return attr == FetchAttr::body_section && !partial && section.part.empty() &&
         (section.text == SectionSpec::Text::header ||
          section.text == SectionSpec::Text::header_fields ||
          section.text == SectionSpec::Text::header_fields_not);
}

// Whether the header section selects the Content-Type field.
bool selects_content_type(FetchAttr attr, const SectionSpec& section) {
  if (attr == FetchAttr::rfc822_header || section.text == SectionSpec::Text::header) {
    return true;
  }
  const bool named =
      std::any_of(section.fields.begin(), section.fields.end(),
                  [](const std::string& f) { return imap_iequals(f, "Content-Type"); });
  return section.text == SectionSpec::Text::header_fields ? named : !named;
}

} // namespace

bool answered_by_announcement(const FetchItems& items) {
  return std::all_of(items.items.begin(), items.items.end(), [](const FetchItem& item) {
    return !shows_content(item) || item.attr == FetchAttr::rfc822_size ||
           whole_header_section(item.attr, item.section, item.partial.has_value());
  });
}

Result<std::string> announce_fetch(const Response& response, std::uint64_t size,
                                   const AnnouncedHeader& header) {
  return rebuild_fetch(response, [&](const MsgAtt& att) -> Result<std::string> {
    if (att.attr == FetchAttr::rfc822_size) {
      return "RFC822.SIZE " + std::to_string(size);
    }
    if (!whole_header_section(*att.attr, att.section, att.origin.has_value()) || !att.string) {
      return make_error(Errc::unsupported, "a content item an announcement does not answer");
    }
    const std::string bytes =
        header(att.string->value, selects_content_type(*att.attr, att.section));
    // Labelled as substitute_fetch() labels it, then the new header as a literal.
    std::string out = *att.attr == FetchAttr::rfc822_header
                          ? std::string("RFC822.HEADER")
                          : section_label(FetchItem{*att.attr, att.section, false, std::nullopt});
    out += " {" + std::to_string(bytes.size()) + "}\r\n" + bytes;
    return out;
  });
}

} // namespace icalgate::protocol
