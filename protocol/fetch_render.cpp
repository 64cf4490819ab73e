#include "protocol/fetch_render.hpp"

#include "protocol/mime/bodystructure.hpp"
#include "protocol/mime/envelope.hpp"
#include "protocol/mime/imap_string.hpp"
#include "protocol/mime/section.hpp"

#include <algorithm>

namespace icalgate::protocol {

namespace {

// Dovecot writes these into its buffered prefix before any other item.
bool is_buffered(FetchAttr attr) {
  switch (attr) {
  case FetchAttr::uid:
  case FetchAttr::flags:
  case FetchAttr::internaldate:
  case FetchAttr::rfc822_size:
  case FetchAttr::modseq:
  case FetchAttr::save_date:
  case FetchAttr::email_id:
  case FetchAttr::thread_id:
    return true;
  default:
    return false;
  }
}

void append_literal_item(std::string& out, const std::string& label, const std::string& data) {
  out += label;
  out += ' ';
  mime::append_literal(out, data);
}

} // namespace

std::string section_label(const FetchItem& item) {
  std::string out;
  switch (item.attr) {
  case FetchAttr::binary:
    out = "BINARY[";
    break;
  case FetchAttr::binary_size:
    out = "BINARY.SIZE[";
    break;
  default:
    out = "BODY[";
    break;
  }
  out += to_string(item.section, /*upper_fields=*/true);
  out += ']';
  if (item.partial && item.attr != FetchAttr::binary_size) {
    out += '<';
    out += std::to_string(item.partial->origin);
    out += '>';
  }
  return out;
}

Result<std::string> render_fetch(const mime::Message& msg, const FetchItems& items,
                                 const FetchContext& ctx) {
  std::vector<const FetchItem*> order;
  order.reserve(items.items.size());
  for (const FetchItem& item : items.items) {
    if (is_buffered(item.attr)) {
      order.push_back(&item);
    }
  }
  for (const FetchItem& item : items.items) {
    if (!is_buffered(item.attr)) {
      order.push_back(&item);
    }
  }
  // Dovecot registers each simple handler once however often it was asked for.
  std::vector<FetchAttr> seen_simple;
  std::vector<std::string> parts;
  for (const FetchItem* item : order) {
    const bool sectioned = item->attr == FetchAttr::body_section ||
                           item->attr == FetchAttr::binary || item->attr == FetchAttr::binary_size;
    if (!sectioned) {
      if (std::find(seen_simple.begin(), seen_simple.end(), item->attr) != seen_simple.end()) {
        continue;
      }
      seen_simple.push_back(item->attr);
    }
    std::string out;
    switch (item->attr) {
    case FetchAttr::uid:
      out = "UID " + std::to_string(ctx.uid);
      break;
    case FetchAttr::flags:
      out = "FLAGS " + ctx.flags;
      break;
    case FetchAttr::internaldate:
      out = "INTERNALDATE \"" + ctx.internaldate + "\"";
      break;
    case FetchAttr::rfc822_size:
      out = "RFC822.SIZE " + std::to_string(msg.virtual_size());
      break;
    case FetchAttr::modseq:
      out = "MODSEQ (" + std::to_string(ctx.modseq) + ")";
      break;
    case FetchAttr::save_date:
      out = "SAVEDATE NIL";
      break;
    case FetchAttr::email_id:
    case FetchAttr::thread_id:
      continue; // not advertised by the reference server
    case FetchAttr::envelope:
      out = "ENVELOPE " + (ctx.envelope ? *ctx.envelope : mime::envelope_string(msg));
      break;
    case FetchAttr::body:
      out = "BODY " + mime::bodystructure(msg, false);
      break;
    case FetchAttr::bodystructure:
      out = "BODYSTRUCTURE " + mime::bodystructure(msg, true);
      break;
    case FetchAttr::rfc822:
      append_literal_item(out, "RFC822", mime::body_section(msg, SectionSpec{}));
      break;
    case FetchAttr::rfc822_header: {
      SectionSpec s;
      s.text = SectionSpec::Text::header;
      append_literal_item(out, "RFC822.HEADER", mime::body_section(msg, s));
      break;
    }
    case FetchAttr::rfc822_text: {
      SectionSpec s;
      s.text = SectionSpec::Text::text;
      append_literal_item(out, "RFC822.TEXT", mime::body_section(msg, s));
      break;
    }
    case FetchAttr::body_section:
      append_literal_item(
          out, section_label(*item),
          mime::apply_partial(mime::body_section(msg, item->section), item->partial));
      break;
    case FetchAttr::binary:
    case FetchAttr::binary_size: {
      const bool size_only = item->attr == FetchAttr::binary_size;
      mime::BinaryResult r = size_only ? mime::binary_size(msg, item->section)
                                       : mime::binary_section(msg, item->section);
      if (r.status == mime::BinaryResult::Status::unknown_cte) {
        return make_error(Errc::unsupported, "NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding");
      }
      if (r.status == mime::BinaryResult::Status::invalid_data) {
        return make_error(Errc::unsupported, "NO [PARSE] Invalid data in MIME part");
      }
      out = section_label(*item);
      if (size_only) {
        out += ' ';
        out += r.data;
        break;
      }
      const std::string data = mime::apply_partial(std::move(r.data), item->partial);
      out += r.literal8 ? " ~{" : " {";
      out += std::to_string(data.size());
      out += "}\r\n";
      out += data;
      break;
    }
    }
    parts.push_back(std::move(out));
  }
  std::string response = "* " + std::to_string(ctx.seq) + " FETCH (";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i != 0) {
      response += ' ';
    }
    response += parts[i];
  }
  response += ")\r\n";
  return response;
}

} // namespace icalgate::protocol
