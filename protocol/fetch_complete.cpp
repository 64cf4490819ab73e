#include "protocol/fetch_complete.hpp"

#include "protocol/fetch_render.hpp"

#include <algorithm>

namespace icalgate::protocol {

namespace {

bool has_attr(const FetchItems& items, FetchAttr attr) {
  return std::any_of(items.items.begin(), items.items.end(),
                     [attr](const FetchItem& item) { return item.attr == attr; });
}

std::string_view range_of(const std::string& raw, ByteRange range) {
  return std::string_view(raw).substr(range.offset, range.length);
}

// Rendered between double quotes: a server that sent a literal must not break the response.
bool quotable(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c >= ' ' && c <= '~' && c != '"' && c != '\\'; });
}

} // namespace

std::optional<FetchItems> server_items(const FetchItems& requested) {
  FetchItems out;
  out.items.push_back(FetchItem{FetchAttr::uid, {}, false, std::nullopt});
  bool sets_seen = false;
  for (const FetchItem& item : requested.items) {
    switch (item.attr) {
    case FetchAttr::flags:
    case FetchAttr::internaldate:
    case FetchAttr::modseq:
    case FetchAttr::envelope:
      if (!has_attr(out, item.attr)) {
        out.items.push_back(FetchItem{item.attr, {}, false, std::nullopt});
      }
      break;
    case FetchAttr::uid:
    case FetchAttr::rfc822_size:
    case FetchAttr::body:
    case FetchAttr::bodystructure:
    case FetchAttr::rfc822_header:
      break;
    case FetchAttr::body_section:
      sets_seen = sets_seen || !item.peek;
      break;
    case FetchAttr::rfc822:
    case FetchAttr::rfc822_text:
      sets_seen = true;
      break;
    case FetchAttr::binary:
    case FetchAttr::binary_size:
    case FetchAttr::save_date:
    case FetchAttr::email_id:
    case FetchAttr::thread_id:
      return std::nullopt;
    }
  }
  if (sets_seen) {
    // The smallest item that has the server set \Seen itself, with its own rules (not in a
    // read-only mailbox) and its own FLAGS in the answer when the flag changes.
    SectionSpec message_id;
    message_id.text = SectionSpec::Text::header_fields;
    message_id.fields = {"Message-ID"};
    out.items.push_back(FetchItem{FetchAttr::body_section, message_id, false, std::nullopt});
  }
  return out;
}

Result<std::string> complete_fetch(const Response& response, const mime::Message& msg,
                                   const FetchItems& requested, bool uid_command) {
  if (response.kind != ResponseKind::fetch) {
    return make_error(Errc::unsupported, "not a FETCH response");
  }
  const auto& data = std::get<FetchData>(response.body);
  FetchContext ctx;
  ctx.seq = data.number;
  FetchItems items;
  std::vector<FetchAttr> taken;       // the attributes read so far
  std::vector<FetchAttr> volunteered; // what the server sent beyond the request
  std::string unknown;                // attributes this parser does not know, as sent
  for (const MsgAtt& att : data.atts) {
    if (!att.attr) {
      unknown += ' ';
      unknown += range_of(response.raw, att.whole);
      continue;
    }
    if (std::find(taken.begin(), taken.end(), *att.attr) != taken.end()) {
      continue; // a server repeating an attribute: its first value counts
    }
    taken.push_back(*att.attr);
    switch (*att.attr) {
    case FetchAttr::uid:
      ctx.uid = static_cast<std::uint32_t>(att.number);
      break;
    case FetchAttr::flags:
      ctx.flags = std::string(range_of(response.raw, att.value));
      break;
    case FetchAttr::internaldate:
      ctx.internaldate = std::string(range_of(response.raw, att.content));
      if (!quotable(ctx.internaldate)) {
        return make_error(Errc::unsupported, "an INTERNALDATE that is no date-time");
      }
      break;
    case FetchAttr::modseq:
      ctx.modseq = att.number;
      break;
    case FetchAttr::envelope:
      ctx.envelope = std::string(range_of(response.raw, att.value));
      break;
    default:
      continue; // content the server volunteered: the gateway's bytes answer for it
    }
    if (!has_attr(requested, *att.attr)) {
      volunteered.push_back(*att.attr);
    }
  }
  // The server puts the UID of a UID FETCH first, asked for or not.
  if (uid_command &&
      std::find(volunteered.begin(), volunteered.end(), FetchAttr::uid) != volunteered.end()) {
    items.items.push_back(FetchItem{FetchAttr::uid, {}, false, std::nullopt});
  }
  items.items.insert(items.items.end(), requested.items.begin(), requested.items.end());
  for (FetchAttr attr : volunteered) {
    if (attr != FetchAttr::uid) {
      items.items.push_back(FetchItem{attr, {}, false, std::nullopt});
    }
  }
  auto rendered = render_fetch(msg, items, ctx);
  if (!rendered || unknown.empty()) {
    return rendered;
  }
  std::string out = std::move(rendered).value();
  out.insert(out.size() - 3, unknown); // before ")\r\n"
  return out;
}

} // namespace icalgate::protocol
