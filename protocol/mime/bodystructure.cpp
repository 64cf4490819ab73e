#include "protocol/mime/bodystructure.hpp"

#include "protocol/mime/envelope.hpp"
#include "protocol/mime/imap_string.hpp"

#include <strings.h>

namespace icalgate::protocol::mime {

namespace {

constexpr std::string_view kEmptyBody =
    R"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0))";
constexpr std::string_view kEmptyBodystructure =
    R"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL))";

void write_params(std::string& out, const Params& params, bool default_charset) {
  if (!default_charset && params.empty()) {
    out += "NIL";
    return;
  }
  out += '(';
  bool seen_charset = false;
  bool first = true;
  for (const auto& [name, value] : params) {
    if (!first) {
      out += ' ';
    }
    first = false;
    if (default_charset && strcasecmp(name.c_str(), "charset") == 0) {
      seen_charset = true;
    }
    append_string(out, name);
    out += ' ';
    append_string(out, value);
  }
  if (default_charset && !seen_charset) {
    if (!first) {
      out += ' ';
    }
    out += R"("charset" "us-ascii")";
  }
  out += ')';
}

void write_common_extension(std::string& out, const ContentInfo& c) {
  out += ' ';
  if (!c.disposition) {
    out += "NIL";
  } else {
    out += '(';
    append_string(out, *c.disposition);
    out += ' ';
    write_params(out, c.disposition_params, false);
    out += ')';
  }
  out += ' ';
  if (!c.language) {
    out += "NIL";
  } else {
    out += '(';
    bool first = true;
    for (const auto& lang : *c.language) {
      if (!first) {
        out += ' ';
      }
      first = false;
      append_string(out, lang);
    }
    out += ')';
  }
  out += ' ';
  append_nstring_nolf(out, c.location);
}

void write_children(std::string& out, const Message& msg, const MimePart& part, bool extended) {
  for (const MimePart& child : part.children) {
    out += '(';
    write_part_structure(out, msg, child, extended);
    out += ')';
  }
}

void write_multipart(std::string& out, const Message& msg, const MimePart& part, bool extended) {
  const ContentInfo& c = part.content;
  if (!part.children.empty()) {
    write_children(out, msg, part, extended);
  } else {
    out += extended ? kEmptyBodystructure : kEmptyBody;
  }
  out += ' ';
  append_string(out, c.subtype.value_or(""));
  if (!extended) {
    return;
  }
  out += ' ';
  write_params(out, c.type_params, false);
  write_common_extension(out, c);
}

void write_single(std::string& out, const Message& msg, const MimePart& part, bool extended) {
  const ContentInfo& c = part.content;
  bool text = false;
  if (part.is(kMessageRfc822)) {
    out += R"("message" "rfc822")";
  } else if (part.is(kOverflow)) {
    // Dovecot hides what lies past its nesting limit behind an opaque type.
    out += R"("application" "octet-stream")";
  } else if (!c.type) {
    text = true;
    out += R"("text" "plain")";
  } else {
    text = strcasecmp(c.type->c_str(), "text") == 0;
    append_string(out, *c.type);
    out += ' ';
    append_string(out, c.subtype.value_or(""));
  }
  out += ' ';
  write_params(out, c.type_params, text);
  out += ' ';
  append_nstring_nolf(out, c.id);
  out += ' ';
  append_nstring_nolf(out, c.description);
  out += ' ';
  if (c.transfer_encoding) {
    append_string(out, *c.transfer_encoding);
  } else {
    out += R"("7bit")";
  }
  out += ' ';
  out += std::to_string(part.body_size.virtual_size);
  if (text) {
    out += ' ';
    out += std::to_string(part.body_size.lines);
  } else if (part.is(kMessageRfc822) && !part.children.empty()) {
    const MimePart& child = part.children.front();
    out += " (";
    write_envelope(out, read_envelope(msg.raw(), child));
    out += ") ";
    write_children(out, msg, part, extended);
    out += ' ';
    out += std::to_string(part.body_size.lines);
  }
  if (!extended) {
    return;
  }
  out += ' ';
  append_nstring_nolf(out, c.md5);
  write_common_extension(out, c);
}

} // namespace

void write_part_structure(std::string& out, const Message& msg, const MimePart& part,
                          bool extended) {
  if (part.is(kMultipart)) {
    write_multipart(out, msg, part, extended);
  } else {
    write_single(out, msg, part, extended);
  }
}

namespace {

// Dovecot's message_part_data_is_plain_7bit(): such messages are answered with a canonical
// lower-case structure whatever the case of their headers (its cache keeps only a flag).
bool is_plain_7bit(const MimePart& root) {
  const ContentInfo& c = root.content;
  if (!root.is(kText) || !root.children.empty()) {
    return false;
  }
  if (c.subtype && strcasecmp(c.subtype->c_str(), "plain") != 0) {
    return false;
  }
  // the only parameter allowed is charset=us-ascii, the default
  if (c.type_params.size() > 1) {
    return false;
  }
  if (!c.type_params.empty() && (strcasecmp(c.type_params[0].first.c_str(), "charset") != 0 ||
                                 strcasecmp(c.type_params[0].second.c_str(), "us-ascii") != 0)) {
    return false;
  }
  if (c.id || c.description) {
    return false;
  }
  if (c.transfer_encoding && strcasecmp(c.transfer_encoding->c_str(), "7bit") != 0) {
    return false;
  }
  return !c.md5 && !c.disposition && !c.language && !c.location;
}

} // namespace

std::string bodystructure(const Message& msg, bool extended) {
  const MimePart& root = msg.root();
  if (is_plain_7bit(root)) {
    std::string out = R"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" )";
    out += std::to_string(root.body_size.virtual_size);
    out += ' ';
    out += std::to_string(root.body_size.lines);
    out += extended ? " NIL NIL NIL NIL)" : ")";
    return out;
  }
  std::string out = "(";
  write_part_structure(out, msg, msg.root(), extended);
  out += ')';
  return out;
}

} // namespace icalgate::protocol::mime
