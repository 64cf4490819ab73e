#include "calendar/owa_link.hpp"

#include <algorithm>
#include <array>

namespace icalgate::calendar {

namespace mime = protocol::mime;
using mime::TransferEncoding;

namespace {

constexpr std::string_view kPlainMarker = "Microsoft Outlook Web Access: ";
constexpr std::string_view kHtmlMarker = "<br>Microsoft Outlook Web Access: <a href=\"";
constexpr std::string_view kReceiveLine =
    "To receive meeting invitations as .iCalendar attachments instead of Outlook Web App links";
constexpr std::string_view kReceivePlainEnd = "iCalendar format.";
constexpr std::string_view kReceiveHtmlEnd = "iCalendar format.<br>";
constexpr std::size_t kMaxUrl = 4096;
constexpr std::size_t kMaxReceiveLine = 2048;
constexpr std::size_t kMaxBodyTag = 4096;
constexpr std::size_t kMaxBlanksAfterBody = 64;
constexpr std::size_t kMaxNodes = 10000;

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && mime::iequals(s.substr(0, prefix.size()), prefix);
}

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// The shape both a parsed message and an upstream BODYSTRUCTURE reduce to.
struct Node {
  std::string type; // lower case
  std::string subtype;
  std::string charset;
  std::optional<std::string> encoding;
  std::uint64_t octets = 0;
  std::vector<std::uint32_t> path; // {} for a multipart root
  std::string boundary;            // a multipart's, from BODYSTRUCTURE's extension data
  std::vector<Node> children;      // multipart children, or the message/rfc822 body
  const mime::MimePart* part = nullptr;
};

bool is_calendar(const Node& n) {
  return (n.type == "text" && n.subtype == "calendar") ||
         (n.type == "application" && (n.subtype == "ics" || n.subtype == "x-ics"));
}

bool any_calendar(const Node& n) {
  if (is_calendar(n)) {
    return true;
  }
  return std::any_of(n.children.begin(), n.children.end(), any_calendar);
}

bool is_text_body(const Node& n) {
  return n.type == "text" && (n.subtype == "plain" || n.subtype == "html");
}

bool is_multipart(const Node& n, std::string_view subtype) {
  return n.type == "multipart" && n.subtype == subtype;
}

// The text bodies Exchange renders (and injects the marker into), in order: a single text
// part, the alternatives of a multipart/alternative (an HTML alternative may sit in a
// multipart/related with its inline images), all optionally inside a multipart/mixed.
std::vector<const Node*> text_bodies(const Node& root) {
  const Node* body = &root;
  if (is_multipart(root, "mixed")) {
    if (root.children.empty()) {
      return {};
    }
    body = &root.children.front();
  }
  auto related_text = [](const Node& n) -> const Node* {
    if (is_multipart(n, "related") && !n.children.empty() && is_text_body(n.children.front())) {
      return &n.children.front();
    }
    return nullptr;
  };
  std::vector<const Node*> out;
  if (is_text_body(*body)) {
    out.push_back(body);
  } else if (const Node* t = related_text(*body); t != nullptr) {
    out.push_back(t);
  } else if (is_multipart(*body, "alternative")) {
    for (const Node& c : body->children) {
      if (is_text_body(c)) {
        out.push_back(&c);
      } else if (const Node* r = related_text(c); r != nullptr) {
        out.push_back(r);
      }
    }
  }
  return out;
}

bool supported_charset(std::string_view cs) {
  return cs == "utf-8" || cs == "utf8" || cs == "us-ascii" || cs == "iso-8859-1" ||
         cs == "iso-8859-15" || cs == "windows-1252" || cs == "cp1252" || cs == "latin1";
}

// Shared checks before any body is read. `texts` gets the text bodies.
std::string_view check_structure(const Node& root, std::vector<const Node*>& texts) {
  if (any_calendar(root)) {
    return "has a calendar part";
  }
  texts = text_bodies(root);
  if (texts.empty()) {
    return "no text body in Exchange's shape";
  }
  const Node& first = *texts.front();
  if (!supported_charset(first.charset)) {
    return "unsupported charset";
  }
  if (mime::classify_transfer_encoding(first.encoding) == TransferEncoding::unknown) {
    return "unknown transfer encoding";
  }
  return {};
}

// ---- Node from a parsed message ----

std::string param(const mime::Params& params, std::string_view key) {
  for (const auto& [k, v] : params) {
    if (mime::iequals(k, key)) {
      return v;
    }
  }
  return {};
}

void fill_content(Node& n, const mime::ContentInfo& c, bool multipart) {
  if (c.type && c.subtype && !c.type->empty()) {
    n.type = lowered(*c.type);
    n.subtype = lowered(*c.subtype);
  } else {
    n.type = multipart ? "multipart" : "text";
    n.subtype = multipart ? "mixed" : "plain";
  }
  n.charset = lowered(param(c.type_params, "charset"));
  if (n.charset.empty() && n.type == "text") {
    n.charset = "us-ascii";
  }
  n.encoding = c.transfer_encoding;
}

bool node_from_part(const mime::MimePart& p, std::vector<std::uint32_t> path, Node& n,
                    std::size_t& budget) {
  if (budget == 0) {
    return false;
  }
  --budget;
  n.part = &p;
  n.octets = p.body_size.physical;
  fill_content(n, p.content, p.is(mime::kMultipart));
  if (p.is(mime::kMultipart)) {
    n.type = "multipart";
  }
  n.path = p.is(mime::kMultipart) || !path.empty() ? path : std::vector<std::uint32_t>{1};
  for (std::size_t i = 0; i < p.children.size(); ++i) {
    std::vector<std::uint32_t> child_path = path;
    if (p.is(mime::kMultipart)) {
      child_path.push_back(static_cast<std::uint32_t>(i + 1));
    }
    Node c;
    if (!node_from_part(p.children[i], std::move(child_path), c, budget)) {
      return false;
    }
    n.children.push_back(std::move(c));
  }
  return true;
}

// ---- Node from BODYSTRUCTURE ----

std::optional<std::string> sexp_string(const protocol::SExpr& e) {
  switch (e.kind) {
  case protocol::SExpr::Kind::string:
    return e.string.value;
  case protocol::SExpr::Kind::atom:
    return e.atom;
  default:
    return std::nullopt;
  }
}

bool node_from_sexp(const protocol::SExpr& e, std::vector<std::uint32_t> path, Node& n,
                    std::size_t& budget) {
  using Kind = protocol::SExpr::Kind;
  if (budget == 0 || e.kind != Kind::list || e.items.empty()) {
    return false;
  }
  --budget;
  if (e.items.front().kind == Kind::list) {
    n.type = "multipart";
    n.path = path;
    std::size_t i = 0;
    for (; i < e.items.size() && e.items[i].kind == Kind::list; ++i) {
      std::vector<std::uint32_t> child_path = path;
      child_path.push_back(static_cast<std::uint32_t>(i + 1));
      Node c;
      if (!node_from_sexp(e.items[i], std::move(child_path), c, budget)) {
        return false;
      }
      n.children.push_back(std::move(c));
    }
    n.subtype = i < e.items.size() ? lowered(sexp_string(e.items[i]).value_or("")) : "";
    if (i + 1 < e.items.size() && e.items[i + 1].kind == Kind::list) {
      const auto& ps = e.items[i + 1].items;
      for (std::size_t k = 0; k + 1 < ps.size(); k += 2) {
        if (mime::iequals(sexp_string(ps[k]).value_or(""), "boundary")) {
          n.boundary = sexp_string(ps[k + 1]).value_or("");
        }
      }
    }
    return true;
  }
  if (e.items.size() < 7) {
    return false;
  }
  n.type = lowered(sexp_string(e.items[0]).value_or(""));
  n.subtype = lowered(sexp_string(e.items[1]).value_or(""));
  if (e.items[2].kind == Kind::list) {
    const auto& ps = e.items[2].items;
    for (std::size_t i = 0; i + 1 < ps.size(); i += 2) {
      if (mime::iequals(sexp_string(ps[i]).value_or(""), "charset")) {
        n.charset = lowered(sexp_string(ps[i + 1]).value_or(""));
      }
    }
  }
  if (n.charset.empty() && n.type == "text") {
    n.charset = "us-ascii";
  }
  n.encoding = sexp_string(e.items[5]);
  const auto size = sexp_string(e.items[6]).value_or("0");
  for (const char c : size) {
    if (c < '0' || c > '9' || n.octets > (std::uint64_t{1} << 50)) {
      return false;
    }
    n.octets = n.octets * 10 + static_cast<std::uint64_t>(c - '0');
  }
  n.path = path.empty() ? std::vector<std::uint32_t>{1} : path;
  if (n.type == "message" && n.subtype == "rfc822" && e.items.size() >= 9) {
    Node c;
    std::vector<std::uint32_t> inner = n.path;
    if (!node_from_sexp(e.items[8], std::move(inner), c, budget)) {
      return false;
    }
    n.children.push_back(std::move(c));
  }
  return true;
}

// Whether BODY[1] begins with `first`: every part on the way is the first part of a
// multipart. `boundaries` receives those of the multiparts inside section 1, outermost first.
bool within_section_one(const Node& root, const Node& first, std::vector<std::string>& boundaries) {
  const Node* n = &root;
  if (n->type == "multipart") {
    if (n->children.empty()) {
      return false;
    }
    n = &n->children.front();
  }
  while (n != &first) {
    if (n->type != "multipart" || n->children.empty() || n->boundary.empty()) {
      boundaries.clear();
      return false;
    }
    boundaries.push_back(n->boundary);
    n = &n->children.front();
  }
  return true;
}

// Where the body of a multipart's first part starts in a prefix of the multipart's body:
// after the first delimiter line and the part's header. npos when the prefix ends first.
std::size_t first_part_body(std::string_view multipart, std::string_view boundary) {
  const std::string delimiter = "--" + std::string(boundary);
  std::size_t at = 0;
  while (true) {
    at = multipart.find(delimiter, at);
    if (at == std::string_view::npos) {
      return at;
    }
    if (at == 0 || (at >= 2 && multipart.substr(at - 2, 2) == "\r\n")) {
      break;
    }
    at += delimiter.size();
  }
  // Transport padding may follow the delimiter; "--" would close the multipart instead.
  std::size_t eol = at + delimiter.size();
  while (eol < multipart.size() && (multipart[eol] == ' ' || multipart[eol] == '\t')) {
    ++eol;
  }
  if (multipart.substr(eol, 2) != "\r\n") {
    return std::string_view::npos;
  }
  const std::size_t header_end = multipart.find("\r\n\r\n", eol);
  return header_end == std::string_view::npos ? header_end : header_end + 4;
}

// ---- URLs ----

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  c = lower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) {
        return std::nullopt;
      }
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool is_base64_id(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
  });
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  std::size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

// ---- markers ----

std::size_t line_break_at(std::string_view s, std::size_t pos) {
  if (s.substr(pos, 2) == "\r\n") {
    return 2;
  }
  return pos < s.size() && s[pos] == '\n' ? 1 : 0;
}

MarkerMatch find_plain_marker(std::string_view d, bool complete, MarkerSpan& span) {
  if (d.size() < kPlainMarker.size()) {
    return !complete && kPlainMarker.substr(0, d.size()) == d ? MarkerMatch::need_more
                                                              : MarkerMatch::no;
  }
  if (d.substr(0, kPlainMarker.size()) != kPlainMarker) {
    return MarkerMatch::no;
  }
  const std::size_t url_start = kPlainMarker.size();
  const std::size_t eol = d.find_first_of("\r\n", url_start);
  if (eol == std::string_view::npos) {
    return !complete && d.size() - url_start <= kMaxUrl ? MarkerMatch::need_more : MarkerMatch::no;
  }
  const std::string_view url = d.substr(url_start, eol - url_start);
  OwaLink probe;
  if (url.size() > kMaxUrl || !parse_owa_url(url, probe)) {
    return MarkerMatch::no;
  }
  std::size_t end = eol;
  std::size_t lb = line_break_at(d, end);
  if (lb == 0) {
    // A lone CR: not Exchange's form.
    return !complete && end + 1 >= d.size() ? MarkerMatch::need_more : MarkerMatch::no;
  }
  end += lb;
  if (d.substr(end, kReceiveLine.size()) == kReceiveLine) {
    const std::size_t line_end = d.find('\n', end);
    if (line_end != std::string_view::npos && line_end - end <= kMaxReceiveLine) {
      std::string_view line = d.substr(end, line_end - end);
      if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
      }
      if (line.ends_with(kReceivePlainEnd)) {
        end = line_end + 1;
      }
    }
  }
  end += line_break_at(d, end); // the blank line that separated the prefix from the text
  span.begin = 0;
  span.end = end;
  span.url = std::string(url);
  return MarkerMatch::yes;
}

// Position of `<body` (followed by a blank or '>'), case-insensitive, or npos.
std::size_t find_body_tag(std::string_view d) {
  for (std::size_t pos = 0; (pos = d.find('<', pos)) != std::string_view::npos; ++pos) {
    if (pos + 5 < d.size() && istarts_with(d.substr(pos + 1), "body") &&
        (is_blank(d[pos + 5]) || d[pos + 5] == '>' || d[pos + 5] == '/')) {
      return pos;
    }
  }
  return std::string_view::npos;
}

MarkerMatch find_html_marker(std::string_view d, bool complete, MarkerSpan& span) {
  const auto more = complete ? MarkerMatch::no : MarkerMatch::need_more;
  const std::size_t body = find_body_tag(d);
  if (body == std::string_view::npos) {
    return more;
  }
  const std::size_t close = d.find('>', body);
  if (close == std::string_view::npos || close - body > kMaxBodyTag) {
    return close == std::string_view::npos && d.size() - body <= kMaxBodyTag ? more
                                                                             : MarkerMatch::no;
  }
  std::size_t pos = close + 1;
  const std::size_t blanks_start = pos;
  while (pos < d.size() && is_blank(d[pos]) && pos - blanks_start <= kMaxBlanksAfterBody) {
    ++pos;
  }
  const std::size_t begin = pos;
  const std::string_view rest = d.substr(pos);
  if (rest.size() < kHtmlMarker.size()) {
    return kHtmlMarker.substr(0, rest.size()) == rest ? more : MarkerMatch::no;
  }
  if (rest.substr(0, kHtmlMarker.size()) != kHtmlMarker) {
    return MarkerMatch::no;
  }
  pos += kHtmlMarker.size();
  const std::size_t quote = d.find('"', pos);
  if (quote == std::string_view::npos || quote - pos > kMaxUrl) {
    return quote == std::string_view::npos && d.size() - pos <= kMaxUrl ? more : MarkerMatch::no;
  }
  const std::string_view href = d.substr(pos, quote - pos);
  pos = quote;
  // `">` + the same URL as text + `</a><br>`
  const std::size_t need = 2 + href.size() + 8;
  if (d.size() - pos < need) {
    return more;
  }
  if (d.substr(pos, 2) != "\">" || d.substr(pos + 2, href.size()) != href ||
      d.substr(pos + 2 + href.size(), 8) != "</a><br>") {
    return MarkerMatch::no;
  }
  const std::string url = replace_all(std::string(href), "&amp;", "&");
  OwaLink probe;
  if (!parse_owa_url(url, probe)) {
    return MarkerMatch::no;
  }
  std::size_t end = pos + need;
  const bool double_br = d.substr(end, 4) == "<br>";
  if (double_br) {
    end += 4;
  }
  end += line_break_at(d, end);
  if (d.substr(end, kReceiveLine.size()) == kReceiveLine) {
    const std::size_t stop = d.find(kReceiveHtmlEnd, end);
    if (stop != std::string_view::npos && stop - end <= kMaxReceiveLine &&
        d.substr(end, stop - end).find('\n') == std::string_view::npos) {
      end = stop + kReceiveHtmlEnd.size();
      end += line_break_at(d, end);
      // With a single <br> after the link, Exchange separates the prefix by an extra "<br>".
      if (!double_br && d.substr(end, 4) == "<br>" && line_break_at(d, end + 4) > 0) {
        end += 4 + line_break_at(d, end + 4);
      }
    }
  }
  span.begin = begin;
  span.end = end;
  span.url = url;
  return MarkerMatch::yes;
}

// Decodes as much of a transfer-encoded prefix as is unambiguous.
std::optional<std::string> decode_prefix(std::string_view enc, TransferEncoding encoding,
                                         bool complete) {
  if (complete) {
    return decode_body(enc, encoding);
  }
  switch (encoding) {
  case TransferEncoding::base64: {
    std::string chars;
    for (const char c : enc) {
      if (c == '=') {
        break;
      }
      if (c != '\r' && c != '\n' && c != ' ' && c != '\t') {
        chars += c;
      }
    }
    chars.resize(chars.size() / 4 * 4);
    return mime::decode_base64(chars);
  }
  case TransferEncoding::quoted_printable: {
    // Cut before a possibly incomplete soft break or escape at the end.
    std::size_t cut = enc.size();
    const std::size_t last_eq = enc.rfind('=');
    if (last_eq != std::string_view::npos && enc.size() - last_eq <= 3) {
      cut = last_eq;
    }
    // As leniently as the whole body (decode_body()): a start must not rule out what the
    // whole message would show.
    return decode_body(enc.substr(0, cut), encoding);
  }
  default:
    return decode_body(enc, encoding);
  }
}

} // namespace

std::optional<std::string> decode_body(std::string_view encoded, TransferEncoding encoding) {
  switch (encoding) {
  case TransferEncoding::identity:
    return std::string(encoded);
  case TransferEncoding::base64:
    return mime::decode_base64(encoded);
  case TransferEncoding::quoted_printable: {
    if (auto strict = mime::decode_quoted_printable(encoded)) {
      return strict;
    }
    // Bodies that went through a double CRLF conversion carry "=\r\r\n" soft breaks; a
    // server that stores CRLF as LF (Dovecot) reads them as "=\r\n", and so do we.
    std::string normalized;
    normalized.reserve(encoded.size());
    for (std::size_t i = 0; i < encoded.size(); ++i) {
      if (encoded[i] == '\r' && i + 1 < encoded.size() && encoded[i + 1] == '\r') {
        continue;
      }
      normalized += encoded[i];
    }
    return mime::decode_quoted_printable(normalized);
  }
  default:
    return std::nullopt;
  }
}

bool parse_owa_url(std::string_view url, OwaLink& link) {
  if (url.size() > kMaxUrl || !(url.starts_with("https://") || url.starts_with("http://"))) {
    return false;
  }
  if (std::any_of(url.begin(), url.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7f || c == '"' || c == '<' || c == '>';
      })) {
    return false;
  }
  const std::size_t q = url.find('?');
  if (q == std::string_view::npos) {
    return false;
  }
  std::optional<std::string> itemid, path, ae, a, t, id;
  std::string_view query = url.substr(q + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = kv.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    const std::string key = lowered(kv.substr(0, eq));
    auto value = percent_decode(kv.substr(eq + 1));
    if (!value) {
      return false;
    }
    auto set = [&](std::optional<std::string>& slot) {
      if (!slot) {
        slot = std::move(value);
      }
    };
    if (key == "itemid") {
      set(itemid);
    } else if (key == "path") {
      set(path);
    } else if (key == "ae") {
      set(ae);
    } else if (key == "a") {
      set(a);
    } else if (key == "t") {
      set(t);
    } else if (key == "id") {
      set(id);
    }
  }
  if (itemid && path && *path == "/calendar/item" && is_base64_id(*itemid)) {
    link.url = std::string(url);
    link.form = UrlForm::exchange_online;
    link.ews_item_id = *itemid;
    link.item_class.clear();
    return true;
  }
  if (ae && mime::iequals(*ae, "Item") && a && mime::iequals(*a, "open") && t &&
      t->starts_with("IPM.Schedule.Meeting.") && id && is_base64_id(*id)) {
    link.url = std::string(url);
    link.form = UrlForm::exchange_2013;
    link.ews_item_id = *id;
    link.item_class = *t;
    return true;
  }
  return false;
}

MarkerMatch find_marker(std::string_view decoded, TextKind kind, bool complete, MarkerSpan& span) {
  return kind == TextKind::plain ? find_plain_marker(decoded, complete, span)
                                 : find_html_marker(decoded, complete, span);
}

Classification classify(const mime::Message& message) {
  Node root;
  std::size_t budget = kMaxNodes;
  if (!node_from_part(message.root(), {}, root, budget)) {
    return {std::nullopt, "too many parts"};
  }
  std::vector<const Node*> texts;
  if (const std::string_view why = check_structure(root, texts); !why.empty()) {
    return {std::nullopt, why};
  }
  OwaLink link;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const Node& t = *texts[i];
    const TransferEncoding enc = mime::classify_transfer_encoding(t.encoding);
    if (!supported_charset(t.charset) || enc == TransferEncoding::unknown) {
      continue;
    }
    const mime::MimePart& p = *t.part;
    const std::string_view raw(message.raw());
    const auto decoded = decode_body(raw.substr(p.body_offset(), p.body_size.physical), enc);
    const TextKind kind = t.subtype == "html" ? TextKind::html : TextKind::plain;
    MarkerSpan span;
    if (!decoded || find_marker(*decoded, kind, true, span) != MarkerMatch::yes) {
      if (i == 0) {
        return {std::nullopt, decoded ? "no marker at the start of the first text body"
                                      : "first text body does not decode"};
      }
      continue;
    }
    if (i == 0 && !parse_owa_url(span.url, link)) {
      return {std::nullopt, "unrecognised link"};
    }
    link.parts.push_back(MarkedPart{t.path, kind, enc, t.charset});
  }
  return {std::move(link), {}};
}

ProbePlan plan_probe(const protocol::SExpr& bodystructure) {
  Node root;
  std::size_t budget = kMaxNodes;
  if (!node_from_sexp(bodystructure, {}, root, budget)) {
    return {Verdict::no, std::nullopt, "BODYSTRUCTURE not understood"};
  }
  std::vector<const Node*> texts;
  if (const std::string_view why = check_structure(root, texts); !why.empty()) {
    return {Verdict::no, std::nullopt, why};
  }
  const Node& first = *texts.front();
  Probe probe;
  probe.section = first.path;
  for (std::size_t i = 0; i < first.path.size(); ++i) {
    probe.section_text += (i == 0 ? "" : ".") + std::to_string(first.path[i]);
  }
  probe.kind = first.subtype == "html" ? TextKind::html : TextKind::plain;
  probe.encoding = mime::classify_transfer_encoding(first.encoding);
  probe.charset = first.charset;
  probe.part_octets = first.octets;
  // Never fewer because BODYSTRUCTURE says the part is smaller: Exchange's sizes may be
  // estimates, and a shorter answer is how the relay learns that it has the whole part.
  probe.octets = probe.kind == TextKind::plain ? kPlainProbeOctets : kProbeOctets;
  probe.in_section_one = within_section_one(root, first, probe.section_one_boundaries);
  return {Verdict::need_more, std::move(probe), "fetch the start of the first text body"};
}

PrefixVerdict classify_prefix(const Probe& probe, std::string_view encoded, bool complete) {
  const auto decoded = decode_prefix(encoded, probe.encoding, complete);
  if (!decoded) {
    return {Verdict::no, 0, std::nullopt, "first text body does not decode"};
  }
  MarkerSpan span;
  switch (find_marker(*decoded, probe.kind, complete, span)) {
  case MarkerMatch::yes: {
    OwaLink link;
    if (!parse_owa_url(span.url, link)) {
      return {Verdict::no, 0, std::nullopt, "unrecognised link"};
    }
    link.parts.push_back(MarkedPart{probe.section, probe.kind, probe.encoding, probe.charset});
    return {Verdict::yes, 0, std::move(link), {}};
  }
  case MarkerMatch::need_more: {
    if (encoded.size() >= kMaxProbeOctets) {
      return {Verdict::no, 0, std::nullopt, "marker not within the probe limit"};
    }
    // A plain marker whose link runs past the first probe: the full probe holds any link
    // (kMaxUrl, even quoted-printable).
    const std::uint64_t next = encoded.size() < kProbeOctets
                                   ? kProbeOctets
                                   : std::min<std::uint64_t>(encoded.size() * 4, kMaxProbeOctets);
    return {Verdict::need_more, next, std::nullopt,
            probe.kind == TextKind::plain ? "the link lies further"
                                          : "the <body> tag lies further"};
  }
  case MarkerMatch::no:
    break;
  }
  return {Verdict::no, 0, std::nullopt, "no marker at the start of the first text body"};
}

PrefixVerdict classify_section_one(const Probe& probe, std::string_view section_one,
                                   bool complete) {
  const PrefixVerdict unreached{Verdict::need_more, 0, std::nullopt,
                                "section 1 does not show the first text body"};
  if (!probe.in_section_one) {
    return unreached;
  }
  std::string_view part = section_one;
  for (const std::string& boundary : probe.section_one_boundaries) {
    const std::size_t body = first_part_body(part, boundary);
    if (body == std::string_view::npos) {
      return unreached;
    }
    part.remove_prefix(body);
  }
  if (!probe.section_one_boundaries.empty()) {
    // The part ends where the next delimiter of its multipart starts, CRLF included.
    const std::size_t end = part.find("\r\n--" + probe.section_one_boundaries.back());
    if (end != std::string_view::npos) {
      part = part.substr(0, end);
      complete = true;
    }
  }
  auto verdict = classify_prefix(probe, part, complete);
  if (verdict.verdict == Verdict::need_more && part.size() < probe.octets) {
    // Less than the planned probe would fetch: that probe is still to come.
    return unreached;
  }
  return verdict;
}

} // namespace icalgate::calendar
