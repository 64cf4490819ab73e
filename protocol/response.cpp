#include "protocol/response.hpp"

#include <array>

namespace icalgate::protocol {
namespace {

struct StatusName {
  std::string_view name;
  Status status;
};

constexpr std::array status_names{
    StatusName{"OK", Status::ok},   StatusName{"NO", Status::no},
    StatusName{"BAD", Status::bad}, StatusName{"PREAUTH", Status::preauth},
    StatusName{"BYE", Status::bye},
};

struct AttName {
  std::string_view name;
  FetchAttr attr;
};

// Attributes without a section; BODY is handled apart since BODY[ has one.
constexpr std::array att_names{
    AttName{"FLAGS", FetchAttr::flags},
    AttName{"UID", FetchAttr::uid},
    AttName{"RFC822.SIZE", FetchAttr::rfc822_size},
    AttName{"INTERNALDATE", FetchAttr::internaldate},
    AttName{"ENVELOPE", FetchAttr::envelope},
    AttName{"BODYSTRUCTURE", FetchAttr::bodystructure},
    AttName{"BODY", FetchAttr::body},
    AttName{"RFC822", FetchAttr::rfc822},
    AttName{"RFC822.HEADER", FetchAttr::rfc822_header},
    AttName{"RFC822.TEXT", FetchAttr::rfc822_text},
    AttName{"MODSEQ", FetchAttr::modseq},
    AttName{"SAVEDATE", FetchAttr::save_date},
    AttName{"EMAILID", FetchAttr::email_id},
    AttName{"THREADID", FetchAttr::thread_id},
};

std::string_view status_name(Status s) {
  for (const auto& n : status_names) {
    if (n.status == s) {
      return n.name;
    }
  }
  return "OK";
}

bool is_objectid_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// Reads TEXT-CHARs up to the CRLF (not consumed).
std::optional<std::string_view> read_text(Lexer& lx) {
  const std::size_t start = lx.pos();
  while (!lx.at_end() && !lx.at_crlf()) {
    const int c = lx.peek();
    if (c == '\r' || c == '\n' || c == 0) {
      lx.fail(Errc::syntax, "CR, LF or NUL in response text");
      return std::nullopt;
    }
    lx.set_pos(lx.pos() + 1);
  }
  return lx.input().substr(start, lx.pos() - start);
}

void type_code(ResponseCode& code, const ParseLimits& limits) {
  Lexer lx(code.args, limits);
  if (code.name == "CAPABILITY") {
    while (!lx.at_end()) {
      auto cap = lx.atom("a capability");
      if (!cap || code.list.size() >= limits.max_items) {
        code.list.clear();
        return;
      }
      code.list.emplace_back(*cap);
      if (!lx.at_end() && !lx.sp()) {
        code.list.clear();
        return;
      }
    }
  } else if (code.name == "PERMANENTFLAGS") {
    auto flags = lx.flag_list(true);
    if (flags && lx.at_end()) {
      code.list = std::move(*flags);
    }
  } else if (code.name == "UIDVALIDITY" || code.name == "UIDNEXT" || code.name == "UNSEEN") {
    auto n = lx.nz_number("number");
    if (n && lx.at_end()) {
      code.number = *n;
    }
  } else if (code.name == "HIGHESTMODSEQ") {
    auto n = lx.number("mod-sequence", 0x7fffffffffffffffULL);
    if (n && lx.at_end()) {
      code.number = *n;
    }
  }
}

class ResponseParser {
 public:
  ResponseParser(std::string_view message, const ParseLimits& limits)
      : lx_(message, limits), msg_(message), limits_(limits) {}

  Result<Response> run() {
    Response r;
    bool ok = false;
    if (lx_.try_consume('+')) {
      r.kind = ResponseKind::continuation;
      ok = continuation(r);
    } else if (lx_.try_consume('*')) {
      if (!lx_.sp()) {
        return lx_.take_error();
      }
      ok = untagged(r);
    } else {
      auto tag = lx_.tag();
      if (!tag || !lx_.sp()) {
        return lx_.take_error();
      }
      r.tag.assign(*tag);
      r.kind = ResponseKind::status;
      ok = status(r, true);
    }
    if (!ok) {
      return lx_.take_error();
    }
    r.raw.assign(msg_);
    return r;
  }

 private:
  bool continuation(Response& r) {
    ContinuationRequest c;
    if (lx_.try_consume(' ')) {
      auto text = read_text(lx_);
      if (!text) {
        return false;
      }
      c.text.assign(*text);
    }
    r.body = std::move(c);
    return lx_.end_of_message();
  }

  bool status(Response& r, bool tagged) {
    auto name = lx_.atom("a status");
    if (!name) {
      return false;
    }
    StatusResponse s;
    bool known = false;
    for (const auto& n : status_names) {
      if (imap_iequals(*name, n.name)) {
        s.status = n.status;
        known = true;
      }
    }
    if (!known || (tagged && (s.status == Status::preauth || s.status == Status::bye))) {
      return lx_.fail(Errc::syntax, tagged ? "expected OK, NO or BAD" : "unknown status");
    }
    if (!resp_text(s)) {
      return false;
    }
    r.body = std::move(s);
    return lx_.end_of_message();
  }

  // [SP ["[" resp-text-code "]" [SP]] text]; servers omit the text now and then.
  bool resp_text(StatusResponse& s) {
    if (!lx_.try_consume(' ')) {
      return true;
    }
    if (lx_.try_consume('[')) {
      ResponseCode code;
      auto name = lx_.atom("a response code");
      if (!name) {
        return false;
      }
      code.name = imap_upper(*name);
      if (lx_.try_consume(' ')) {
        const std::size_t start = lx_.pos();
        while (!lx_.at_end() && lx_.peek() != ']') {
          const int c = lx_.peek();
          if (c == '\r' || c == '\n' || c == 0) {
            return lx_.fail_expected("']' of the response code");
          }
          lx_.set_pos(lx_.pos() + 1);
        }
        code.args.assign(msg_.substr(start, lx_.pos() - start));
      }
      if (!lx_.expect(']', "']' of the response code")) {
        return false;
      }
      type_code(code, limits_);
      s.code = std::move(code);
      if (!lx_.try_consume(' ')) {
        return true;
      }
    }
    auto text = read_text(lx_);
    if (!text) {
      return false;
    }
    s.text.assign(*text);
    return true;
  }

  bool untagged(Response& r) {
    if (lx_.peek() >= '0' && lx_.peek() <= '9') {
      auto n = lx_.number("a message number");
      auto name = lx_.sp() ? lx_.atom("a response name") : std::nullopt;
      if (!n || !name) {
        return false;
      }
      const std::string upper = imap_upper(*name);
      if (upper == "EXISTS" || upper == "EXPUNGE" || upper == "RECENT") {
        r.kind = upper == "EXISTS"    ? ResponseKind::exists
                 : upper == "EXPUNGE" ? ResponseKind::expunge
                                      : ResponseKind::recent;
        r.body = MessageCount{static_cast<std::uint32_t>(*n)};
        return lx_.end_of_message();
      }
      if (upper == "FETCH") {
        r.kind = ResponseKind::fetch;
        return fetch(r, static_cast<std::uint32_t>(*n));
      }
      return other(r, static_cast<std::uint32_t>(*n), upper);
    }
    const std::size_t at = lx_.pos();
    auto name = lx_.atom("a response name");
    if (!name) {
      return false;
    }
    const std::string upper = imap_upper(*name);
    for (const auto& n : status_names) {
      if (upper == n.name) {
        lx_.set_pos(at);
        r.kind = ResponseKind::status;
        return status(r, false);
      }
    }
    if (upper == "CAPABILITY") {
      r.kind = ResponseKind::capability;
      return capability(r);
    }
    if (upper == "FLAGS") {
      r.kind = ResponseKind::flags;
      auto flags = lx_.sp() ? lx_.flag_list(true) : std::nullopt;
      if (!flags) {
        return false;
      }
      r.body = FlagsData{std::move(*flags)};
      return lx_.end_of_message();
    }
    if (upper == "VANISHED") {
      r.kind = ResponseKind::vanished;
      VanishedData v;
      if (!lx_.sp()) {
        return false;
      }
      if (lx_.peek() == '(') {
        if (!lx_.expect('(', "'('") || !lx_.try_keyword("EARLIER")) {
          return lx_.fail_expected("EARLIER");
        }
        if (!lx_.expect(')', "')' after EARLIER") || !lx_.sp()) {
          return false;
        }
        v.earlier = true;
      }
      auto set = read_sequence_set(lx_);
      if (!set) {
        return false;
      }
      v.uids = std::move(*set);
      r.body = std::move(v);
      return lx_.end_of_message();
    }
    return other(r, std::nullopt, upper);
  }

  bool capability(Response& r) {
    CapabilityData caps;
    while (lx_.try_consume(' ')) {
      if (lx_.at_crlf()) {
        break; // some servers end the list with a space
      }
      auto cap = lx_.atom("a capability");
      if (!cap) {
        return false;
      }
      if (caps.capabilities.size() >= limits_.max_items) {
        return lx_.fail(Errc::too_many, "too many capabilities");
      }
      caps.capabilities.emplace_back(*cap);
    }
    r.body = std::move(caps);
    return lx_.end_of_message();
  }

  bool other(Response& r, std::optional<std::uint32_t> number, std::string name) {
    r.kind = ResponseKind::other;
    OtherData o{number, std::move(name), {}};
    if (!lx_.at_crlf() && !lx_.sp()) {
      return false;
    }
    const std::size_t start = lx_.pos();
    auto end = scan_message(msg_, start, limits_);
    if (!end) {
      return lx_.fail(end.error().code, end.error().message);
    }
    o.rest.assign(msg_.substr(start, *end - start));
    lx_.set_pos(*end);
    r.body = std::move(o);
    return lx_.end_of_message();
  }

  bool fetch(Response& r, std::uint32_t number) {
    FetchData f;
    f.number = number;
    if (!lx_.sp() || !lx_.expect('(', "'(' of FETCH data")) {
      return false;
    }
    while (true) {
      MsgAtt att;
      if (!msg_att(att)) {
        return false;
      }
      if (f.atts.size() >= limits_.max_items) {
        return lx_.fail(Errc::too_many, "too many FETCH attributes");
      }
      f.atts.push_back(std::move(att));
      if (lx_.try_consume(')')) {
        break;
      }
      if (!lx_.expect(' ', "SP or ')' in FETCH data")) {
        return false;
      }
    }
    r.body = std::move(f);
    return lx_.end_of_message();
  }

  // Finds the "]" closing a section whose "[" was consumed, stepping over quoted names.
  std::optional<std::size_t> section_end() {
    bool quoted = false;
    for (std::size_t i = lx_.pos(); i < msg_.size(); ++i) {
      const char c = msg_[i];
      if (c == '\r' || c == '\n') {
        break;
      }
      if (quoted && c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (!quoted && c == ']') {
        return i;
      }
    }
    lx_.fail_expected("']' of a section");
    return std::nullopt;
  }

  bool section(MsgAtt& att, std::string_view prefix) {
    auto end = section_end();
    if (!end) {
      return false;
    }
    std::string request(prefix);
    request.push_back('[');
    request += msg_.substr(lx_.pos(), *end - lx_.pos());
    request.push_back(']');
    auto items = parse_fetch_items(request);
    if (!items || items->items.size() != 1) {
      return lx_.fail(Errc::syntax, "malformed section");
    }
    att.section = std::move(items->items.front().section);
    lx_.set_pos(*end + 1);
    return true;
  }

  bool msg_att(MsgAtt& att) {
    const std::size_t start = lx_.pos();
    while (!lx_.at_end() && is_atom_char(msg_[lx_.pos()]) && msg_[lx_.pos()] != '[') {
      lx_.set_pos(lx_.pos() + 1);
    }
    const std::string name = imap_upper(msg_.substr(start, lx_.pos() - start));
    if (name.empty()) {
      return lx_.fail_expected("a FETCH attribute");
    }
    if (lx_.try_consume('[')) {
      if (name == "BODY") {
        att.attr = FetchAttr::body_section;
      } else if (name == "BINARY") {
        att.attr = FetchAttr::binary;
      } else if (name == "BINARY.SIZE") {
        att.attr = FetchAttr::binary_size;
      } else {
        lx_.set_pos(start);
        return lx_.fail(Errc::unsupported, "FETCH attribute with an unknown section");
      }
      if (!section(att, name)) {
        return false;
      }
      if (att.attr != FetchAttr::binary_size && lx_.try_consume('<')) {
        auto origin = lx_.number("origin", 0xffffffffffffffffULL);
        if (!origin || !lx_.expect('>', "'>' after origin")) {
          return false;
        }
        att.origin = *origin;
      }
    } else {
      for (const auto& known : att_names) {
        if (name == known.name) {
          att.attr = known.attr;
        }
      }
      if (!att.attr) {
        att.name = name;
      }
    }
    if (!lx_.sp()) {
      return false;
    }
    const std::size_t value_start = lx_.pos();
    if (!att_value(att)) {
      return false;
    }
    att.whole = ByteRange{start, lx_.pos() - start};
    att.value = ByteRange{value_start, lx_.pos() - value_start};
    if (object_content_) {
      att.content = *object_content_;
    } else if (att.string) {
      att.content = lx_.last_content();
    } else {
      att.content = att.value;
    }
    return true;
  }

  bool list_value(MsgAtt& att) {
    if (lx_.peek() != '(') {
      return lx_.fail_expected("'('");
    }
    auto e = lx_.sexp_list(0);
    if (!e) {
      return false;
    }
    att.sexp = std::move(*e);
    return true;
  }

  bool objectid(MsgAtt& att, bool nil_ok) {
    if (nil_ok && lx_.try_keyword("NIL")) {
      return true;
    }
    if (!lx_.expect('(', "'(' of an object id")) {
      return false;
    }
    const std::size_t start = lx_.pos();
    while (!lx_.at_end() && is_objectid_char(msg_[lx_.pos()])) {
      lx_.set_pos(lx_.pos() + 1);
    }
    const std::size_t length = lx_.pos() - start;
    if (length == 0 || length > 255) {
      return lx_.fail(Errc::syntax, "object id must have 1 to 255 characters");
    }
    att.string = IString{std::string(msg_.substr(start, length)), IString::Form::atom, false};
    const ByteRange content{start, length};
    if (!lx_.expect(')', "')' of an object id")) {
      return false;
    }
    object_content_ = content;
    return true;
  }

  bool att_value(MsgAtt& att) {
    object_content_.reset();
    if (!att.attr) {
      auto e = lx_.sexp(0);
      if (!e) {
        return false;
      }
      att.sexp = std::move(*e);
      return true;
    }
    switch (*att.attr) {
    case FetchAttr::flags: {
      auto flags = lx_.flag_list(false);
      if (!flags) {
        return false;
      }
      att.flags = std::move(*flags);
      return true;
    }
    case FetchAttr::uid: {
      auto n = lx_.nz_number("UID");
      att.number = n.value_or(0);
      return n.has_value();
    }
    case FetchAttr::rfc822_size:
    case FetchAttr::binary_size: {
      auto n = lx_.number("size", 0xffffffffffffffffULL);
      att.number = n.value_or(0);
      return n.has_value();
    }
    case FetchAttr::modseq: {
      auto n = lx_.expect('(', "'(' of MODSEQ") ? lx_.number("mod-sequence", 0x7fffffffffffffffULL)
                                                : std::nullopt;
      att.number = n.value_or(0);
      return n.has_value() && lx_.expect(')', "')' of MODSEQ");
    }
    case FetchAttr::internaldate: {
      if (lx_.peek() != '"') {
        return lx_.fail_expected("a quoted date-time");
      }
      auto s = lx_.quoted();
      if (!s) {
        return false;
      }
      att.string = std::move(*s);
      return true;
    }
    case FetchAttr::save_date: {
      if (lx_.try_keyword("NIL")) {
        return true;
      }
      if (lx_.peek() != '"') {
        return lx_.fail_expected("a quoted date-time or NIL");
      }
      auto s = lx_.quoted();
      if (!s) {
        return false;
      }
      att.string = std::move(*s);
      return true;
    }
    case FetchAttr::email_id:
      return objectid(att, false);
    case FetchAttr::thread_id:
      return objectid(att, true);
    case FetchAttr::envelope:
    case FetchAttr::body:
    case FetchAttr::bodystructure:
      return list_value(att);
    case FetchAttr::body_section:
    case FetchAttr::binary:
    case FetchAttr::rfc822:
    case FetchAttr::rfc822_header:
    case FetchAttr::rfc822_text: {
      auto s = lx_.nstring(*att.attr == FetchAttr::binary);
      if (!s) {
        return false;
      }
      att.string = std::move(*s);
      return true;
    }
    }
    return lx_.fail(Errc::unsupported, "unexpected FETCH attribute");
  }

  Lexer lx_;
  std::string_view msg_;
  ParseLimits limits_;
  // EMAILID / THREADID content lies inside parentheses, not in last_content().
  std::optional<ByteRange> object_content_;
};

void write_att(std::string& out, const MsgAtt& att) {
  if (!att.attr) {
    out += att.name;
    out.push_back(' ');
    write_sexp(out, att.sexp);
    return;
  }
  const FetchAttr attr = *att.attr;
  if (attr == FetchAttr::body_section || attr == FetchAttr::binary ||
      attr == FetchAttr::binary_size) {
    out += attr == FetchAttr::body_section ? "BODY["
           : attr == FetchAttr::binary     ? "BINARY["
                                           : "BINARY.SIZE[";
    out += to_string(att.section);
    out.push_back(']');
    if (att.origin && attr != FetchAttr::binary_size) {
      out.push_back('<');
      write_number(out, *att.origin);
      out.push_back('>');
    }
  } else {
    for (const auto& known : att_names) {
      if (known.attr == attr) {
        out += known.name;
      }
    }
  }
  out.push_back(' ');
  switch (attr) {
  case FetchAttr::flags:
    out.push_back('(');
    for (std::size_t i = 0; i < att.flags.size(); ++i) {
      if (i != 0) {
        out.push_back(' ');
      }
      out += att.flags[i];
    }
    out.push_back(')');
    return;
  case FetchAttr::uid:
  case FetchAttr::rfc822_size:
  case FetchAttr::binary_size:
    write_number(out, att.number);
    return;
  case FetchAttr::modseq:
    out.push_back('(');
    write_number(out, att.number);
    out.push_back(')');
    return;
  case FetchAttr::internaldate:
    write_quoted(out, att.string ? att.string->value : std::string());
    return;
  case FetchAttr::save_date:
    if (att.string) {
      write_quoted(out, att.string->value);
    } else {
      out += "NIL";
    }
    return;
  case FetchAttr::email_id:
  case FetchAttr::thread_id:
    if (att.string) {
      out.push_back('(');
      out += att.string->value;
      out.push_back(')');
    } else {
      out += "NIL";
    }
    return;
  case FetchAttr::envelope:
  case FetchAttr::body:
  case FetchAttr::bodystructure:
    write_sexp(out, att.sexp);
    return;
  case FetchAttr::body_section:
  case FetchAttr::binary:
  case FetchAttr::rfc822:
  case FetchAttr::rfc822_header:
  case FetchAttr::rfc822_text:
    write_nstring(out, att.string);
    return;
  }
}

struct BodyWriter {
  std::string& out;

  void operator()(const ContinuationRequest& c) const {
    out += "+ ";
    out += c.text;
  }
  void operator()(const StatusResponse& s) const {
    out += status_name(s.status);
    if (s.code) {
      out += " [";
      out += s.code->name;
      if (!s.code->args.empty()) {
        out.push_back(' ');
        out += s.code->args;
      }
      out.push_back(']');
    }
    if (!s.text.empty()) {
      out.push_back(' ');
      out += s.text;
    }
  }
  void operator()(const CapabilityData& c) const {
    out += "CAPABILITY";
    for (const auto& cap : c.capabilities) {
      out.push_back(' ');
      out += cap;
    }
  }
  void operator()(const MessageCount&) const {} // written by the caller, which knows the kind
  void operator()(const VanishedData& v) const {
    out += v.earlier ? "VANISHED (EARLIER) " : "VANISHED ";
    write_sequence_set(out, v.uids);
  }
  void operator()(const FlagsData& f) const {
    out += "FLAGS (";
    for (std::size_t i = 0; i < f.flags.size(); ++i) {
      if (i != 0) {
        out.push_back(' ');
      }
      out += f.flags[i];
    }
    out.push_back(')');
  }
  void operator()(const FetchData& f) const {
    write_number(out, f.number);
    out += " FETCH (";
    for (std::size_t i = 0; i < f.atts.size(); ++i) {
      if (i != 0) {
        out.push_back(' ');
      }
      write_att(out, f.atts[i]);
    }
    out.push_back(')');
  }
  void operator()(const OtherData& o) const {
    if (o.number) {
      write_number(out, *o.number);
      out.push_back(' ');
    }
    out += o.name;
    if (!o.rest.empty()) {
      out.push_back(' ');
      out += o.rest;
    }
  }
};

} // namespace

Result<Response> parse_response(std::string_view message, const ParseLimits& limits) {
  return ResponseParser(message, limits).run();
}

std::string serialize_canonical(const MsgAtt& att) {
  std::string out;
  write_att(out, att);
  return out;
}

std::string serialize_canonical(const Response& response) {
  std::string out;
  if (response.kind != ResponseKind::continuation) {
    out += response.tag.empty() ? "* " : response.tag + " ";
  }
  if (const auto* count = std::get_if<MessageCount>(&response.body)) {
    write_number(out, count->number);
    out += response.kind == ResponseKind::exists    ? " EXISTS"
           : response.kind == ResponseKind::expunge ? " EXPUNGE"
                                                    : " RECENT";
  } else {
    std::visit(BodyWriter{out}, response.body);
  }
  out += "\r\n";
  return out;
}

std::string serialize(const Response& response) {
  return response.raw.empty() ? serialize_canonical(response) : response.raw;
}

} // namespace icalgate::protocol
