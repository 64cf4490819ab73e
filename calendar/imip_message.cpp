#include "calendar/imip_message.hpp"

#include "protocol/mime/section.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace icalgate::calendar {

namespace mime = protocol::mime;
using mime::TransferEncoding;
using protocol::Errc;
using protocol::make_error;
using protocol::Result;

namespace {

constexpr std::size_t kBase64Line = 76;
constexpr std::size_t kQpLine = 76;
constexpr int kMaxBoundaryAttempts = 64;

// One replacement of raw bytes [begin, end).
struct Edit {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::string text;
};

// raw[a, b) with the edits that fall inside it applied (edits sorted, not overlapping).
std::string apply_edits(std::string_view raw, std::size_t a, std::size_t b,
                        const std::vector<Edit>& edits) {
  std::string out;
  std::size_t pos = a;
  for (const Edit& e : edits) {
    if (e.begin < a || e.end > b) {
      continue;
    }
    out.append(raw.substr(pos, e.begin - pos));
    out += e.text;
    pos = e.end;
  }
  out.append(raw.substr(pos, b - pos));
  return out;
}

std::string encode_base64(std::string_view in, std::size_t line, bool final_break) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string flat((in.size() + 2) / 3 * 4, '=');
  char* w = flat.data();
  for (std::size_t i = 0; i < in.size(); i += 3, w += 4) {
    const std::uint32_t b0 = static_cast<unsigned char>(in[i]);
    const std::uint32_t b1 = i + 1 < in.size() ? static_cast<unsigned char>(in[i + 1]) : 0;
    const std::uint32_t b2 = i + 2 < in.size() ? static_cast<unsigned char>(in[i + 2]) : 0;
    const std::uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    w[0] = kAlphabet[(v >> 18) & 63];
    w[1] = kAlphabet[(v >> 12) & 63];
    if (i + 1 < in.size()) {
      w[2] = kAlphabet[(v >> 6) & 63];
    }
    if (i + 2 < in.size()) {
      w[3] = kAlphabet[v & 63];
    }
  }
  std::string out;
  out.reserve(flat.size() + (flat.size() / line + 1) * 2);
  for (std::size_t i = 0; i < flat.size(); i += line) {
    if (i > 0) {
      out += "\r\n";
    }
    out.append(flat, i, line);
  }
  if (final_break && !out.empty()) {
    out += "\r\n";
  }
  return out;
}

void qp_append_line(std::string& out, std::string_view line) {
  std::string enc;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const auto u = static_cast<unsigned char>(line[i]);
    const bool last = i + 1 == line.size();
    std::string piece;
    if ((u >= 33 && u <= 126 && u != '=') || ((u == ' ' || u == '\t') && !last)) {
      piece = static_cast<char>(u);
    } else {
      static constexpr std::string_view kHex = "0123456789ABCDEF";
      piece = {'=', kHex[u >> 4], kHex[u & 15]};
    }
    if (enc.size() + piece.size() > kQpLine - 1) {
      out += enc;
      out += "=\r\n";
      enc.clear();
    }
    enc += piece;
  }
  out += enc;
}

// Quoted-printable of `in`: CRLF stays a hard line break, lines are soft-broken at 76.
std::string encode_quoted_printable(std::string_view in) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t eol = in.find("\r\n", pos);
    qp_append_line(out, in.substr(pos, eol == std::string_view::npos ? eol : eol - pos));
    if (eol == std::string_view::npos) {
      break;
    }
    out += "\r\n";
    pos = eol + 2;
  }
  return out;
}

// For quoted-printable, keep the original encoded lines when the removed span starts and
// ends at hard line starts (it does in Exchange's shapes): only the prefix lines go.
std::optional<std::string> qp_splice(std::string_view enc, std::size_t dbegin, std::size_t dend) {
  std::size_t decoded = 0;
  std::optional<std::size_t> ebegin, eend;
  std::size_t line_start = 0;
  while (line_start <= enc.size()) {
    if (decoded == dbegin && !ebegin) {
      ebegin = line_start;
    }
    if (decoded == dend) {
      eend = line_start;
      break;
    }
    if (decoded > dend || line_start == enc.size()) {
      break;
    }
    // The logical line: physical lines joined by soft breaks, through its hard break.
    std::size_t p = line_start;
    while (true) {
      const std::size_t lf = enc.find('\n', p);
      if (lf == std::string_view::npos) {
        p = enc.size();
        break;
      }
      std::string_view content = enc.substr(p, lf - p);
      while (!content.empty() &&
             (content.back() == '\r' || content.back() == ' ' || content.back() == '\t')) {
        content.remove_suffix(1);
      }
      p = lf + 1;
      if (content.empty() || content.back() != '=') {
        break;
      }
    }
    const auto d =
        decode_body(enc.substr(line_start, p - line_start), TransferEncoding::quoted_printable);
    if (!d) {
      return std::nullopt;
    }
    decoded += d->size();
    line_start = p;
  }
  if (!ebegin || !eend) {
    return std::nullopt;
  }
  std::string out(enc.substr(0, *ebegin));
  out.append(enc.substr(*eend));
  return out;
}

// The part's new encoded body with the marker span removed.
Result<std::string> edit_body(std::string_view enc, TransferEncoding encoding, TextKind kind) {
  const auto decoded = decode_body(enc, encoding);
  if (!decoded) {
    return make_error(Errc::syntax, "text body does not decode");
  }
  MarkerSpan span;
  if (find_marker(*decoded, kind, true, span) != MarkerMatch::yes) {
    return make_error(Errc::unsupported, "marker not found in a text body");
  }
  std::string edited = decoded->substr(0, span.begin) + decoded->substr(span.end);
  std::string out;
  switch (encoding) {
  case TransferEncoding::identity:
    return edited;
  case TransferEncoding::base64: {
    const std::size_t first_eol = enc.find_first_of("\r\n");
    std::size_t line = first_eol == std::string_view::npos ? kBase64Line : first_eol;
    if (line < 4 || line > 996 || line % 4 != 0) {
      line = kBase64Line;
    }
    const bool final_break = !enc.empty() && enc.back() == '\n';
    out = encode_base64(edited, line, final_break);
    break;
  }
  case TransferEncoding::quoted_printable: {
    auto spliced = qp_splice(enc, span.begin, span.end);
    const auto check = spliced ? decode_body(*spliced, encoding) : std::nullopt;
    out = check && *check == edited ? std::move(*spliced) : encode_quoted_printable(edited);
    break;
  }
  default:
    return make_error(Errc::unsupported, "unknown transfer encoding");
  }
  const auto back = decode_body(out, encoding);
  if (!back || *back != edited) {
    return make_error(Errc::syntax, "text body does not re-encode faithfully");
  }
  return out;
}

std::string param(const mime::Params& params, std::string_view key) {
  for (const auto& [k, v] : params) {
    if (mime::iequals(k, key)) {
      return v;
    }
  }
  return {};
}

bool is_multipart(const mime::MimePart& p, std::string_view subtype) {
  return p.is(mime::kMultipart) && p.content.subtype && mime::iequals(*p.content.subtype, subtype);
}

void collect_boundaries(const mime::MimePart& p, std::vector<std::string>& out) {
  if (p.is(mime::kMultipart)) {
    out.push_back(param(p.content.type_params, "boundary"));
  }
  for (const auto& c : p.children) {
    collect_boundaries(c, out);
  }
}

std::uint64_t fnv1a(std::uint64_t h, std::string_view data) {
  for (const char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Whether `b` occurs in one of `haystacks` or starts with one of the `enclosing` boundaries.
bool boundary_clashes(std::string_view b, const std::vector<std::string_view>& haystacks,
                      const std::vector<std::string>& enclosing) {
  return std::any_of(haystacks.begin(), haystacks.end(),
                     [&](std::string_view s) { return s.find(b) != std::string_view::npos; }) ||
         std::any_of(enclosing.begin(), enclosing.end(),
                     [&](const std::string& e) { return !e.empty() && b.starts_with(e); });
}

std::string calendar_part(std::string_view vcalendar, Method method) {
  std::string out = "Content-Type: text/calendar; charset=\"utf-8\"; method=";
  out += method_name(method);
  out += "\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  out += encode_base64(vcalendar, kBase64Line, true);
  return out;
}

// ---- description ----

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x110000) {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// windows-1252 0x80..0x9f; 0 where undefined (kept as the Latin-1 control).
constexpr std::array<std::uint16_t, 32> kCp1252 = {
    0x20ac, 0,      0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017d, 0,      0,      0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,      0x017e, 0x0178};

std::string to_utf8(std::string_view in, std::string_view charset) {
  if (charset == "utf-8" || charset == "utf8" || charset == "us-ascii") {
    return std::string(in);
  }
  const bool cp1252 = charset == "windows-1252" || charset == "cp1252";
  std::string out;
  for (const char c : in) {
    const auto u = static_cast<unsigned char>(c);
    std::uint32_t cp = u;
    if (cp1252 && u >= 0x80 && u < 0xa0 && kCp1252[u - 0x80] != 0) {
      cp = kCp1252[u - 0x80];
    }
    append_utf8(out, cp);
  }
  return out;
}

std::string lower_copy(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

// Skips an element and its content (head, style, script).
std::size_t skip_element(const std::string& lower_html, std::size_t pos, std::string_view name) {
  const std::size_t end = lower_html.find("</" + std::string(name), pos);
  if (end == std::string::npos) {
    return lower_html.size();
  }
  const std::size_t close = lower_html.find('>', end);
  return close == std::string::npos ? lower_html.size() : close + 1;
}

std::string decode_entity(std::string_view ent) {
  if (ent == "amp") {
    return "&";
  }
  if (ent == "lt") {
    return "<";
  }
  if (ent == "gt") {
    return ">";
  }
  if (ent == "quot") {
    return "\"";
  }
  if (ent == "apos") {
    return "'";
  }
  if (ent == "nbsp") {
    return " ";
  }
  if (ent.size() > 1 && ent.size() < 10 && ent[0] == '#') {
    std::uint32_t cp = 0;
    const bool hex = ent[1] == 'x' || ent[1] == 'X';
    for (const char c : ent.substr(hex ? 2 : 1)) {
      int v = -1;
      if (c >= '0' && c <= '9') {
        v = c - '0';
      } else if (hex && c >= 'a' && c <= 'f') {
        v = c - 'a' + 10;
      } else if (hex && c >= 'A' && c <= 'F') {
        v = c - 'A' + 10;
      }
      if (v < 0) {
        return {};
      }
      cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(v);
    }
    std::string out;
    append_utf8(out, cp);
    return out;
  }
  return {};
}

// HTML to text: the visible text, blocks and <br> as line breaks.
std::string html_text(std::string_view html) {
  const std::string lower = lower_copy(html);
  std::string out;
  bool space = false;
  for (std::size_t i = 0; i < html.size();) {
    const char c = html[i];
    if (c == '<') {
      const std::size_t close = html.find('>', i);
      if (close == std::string_view::npos) {
        break;
      }
      std::string_view tag = std::string_view(lower).substr(i + 1, close - i - 1);
      const bool closing = !tag.empty() && tag[0] == '/';
      if (closing) {
        tag.remove_prefix(1);
      }
      const std::string_view name = tag.substr(0, tag.find_first_of(" \t\r\n/"));
      if (!closing && (name == "head" || name == "style" || name == "script" || name == "title")) {
        i = skip_element(lower, close + 1, name);
        continue;
      }
      if (name == "br" ||
          (closing && (name == "p" || name == "div" || name == "tr" || name == "li" ||
                       name == "h1" || name == "h2" || name == "h3" || name == "table"))) {
        while (!out.empty() && out.back() == ' ') {
          out.pop_back();
        }
        out += '\n';
        space = false;
      }
      i = close + 1;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = true;
      ++i;
      continue;
    }
    if (space && !out.empty() && out.back() != '\n') {
      out += ' ';
    }
    space = false;
    if (c == '&') {
      const std::size_t semi = html.find(';', i);
      if (semi != std::string_view::npos && semi - i <= 10) {
        const std::string text = decode_entity(html.substr(i + 1, semi - i - 1));
        if (!text.empty()) {
          out += text;
          i = semi + 1;
          continue;
        }
      }
    }
    out += c;
    ++i;
  }
  return out;
}

std::string tidy_text(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      continue;
    }
    out += text[i];
  }
  // No more than one blank line in a row; no blank lines around the text.
  std::string squeezed;
  int newlines = 0;
  for (const char c : out) {
    if (c == '\n') {
      while (!squeezed.empty() && (squeezed.back() == ' ' || squeezed.back() == '\t')) {
        squeezed.pop_back();
      }
      if (++newlines > 2) {
        continue;
      }
    } else {
      newlines = 0;
    }
    squeezed += c;
  }
  const std::size_t first = squeezed.find_first_not_of(" \t\n");
  if (first == std::string::npos) {
    return {};
  }
  const std::size_t last = squeezed.find_last_not_of(" \t\n");
  return squeezed.substr(first, last - first + 1);
}

} // namespace

std::uint64_t calendar_part_size(std::uint64_t vcalendar_size, Method method) {
  const std::uint64_t encoded = (vcalendar_size + 2) / 3 * 4;
  const std::uint64_t lines = (encoded + kBase64Line - 1) / kBase64Line;
  return calendar_part({}, method).size() + encoded + 2 * lines;
}

Result<std::string> pad_message(std::string message, std::uint64_t size) {
  if (message.size() > size) {
    return make_error(Errc::unsupported, "message larger than its announced size");
  }
  if (message.size() == size) {
    return message;
  }
  const auto before = mime::parse_message(message);
  if (!before || !before->root().is(mime::kMultipart)) {
    return make_error(Errc::unsupported, "no multipart to pad");
  }
  std::string padding;
  std::uint64_t gap = size - message.size();
  if (!message.ends_with("\n")) {
    padding = "\r\n"; // the epilogue starts on a line of its own
    if (gap < 2) {
      return make_error(Errc::unsupported, "no room for an epilogue");
    }
    gap -= 2;
  }
  if (gap % 2 != 0) {
    padding += ' ';
    --gap;
  }
  padding.append(gap, '\n');
  for (std::size_t i = padding.size() - gap; i < padding.size(); i += 2) {
    padding[i] = '\r';
  }
  std::string padded = message + padding;
  const auto after = mime::parse_message(padded);
  // Every part but the root ends where it ended: the bytes went into the root's epilogue.
  const auto same = [](const auto& self, const mime::MimePart& a, const mime::MimePart& b) -> bool {
    if (a.children.size() != b.children.size()) {
      return false;
    }
    for (std::size_t i = 0; i < a.children.size(); ++i) {
      const auto& x = a.children[i];
      const auto& y = b.children[i];
      if (x.offset != y.offset || x.end_offset() != y.end_offset() || !self(self, x, y)) {
        return false;
      }
    }
    return true;
  };
  if (!after || !same(same, before->root(), after->root())) {
    return make_error(Errc::unsupported, "padding would change a part");
  }
  return padded;
}

std::string alternative_header(std::string_view boundary) {
  return "Content-Type: multipart/alternative;\r\n\tboundary=\"" + std::string(boundary) + "\"\r\n";
}

std::string_view method_name(Method method) {
  switch (method) {
  case Method::request:
    return "REQUEST";
  case Method::cancel:
    return "CANCEL";
  case Method::reply:
    return "REPLY";
  }
  return "REQUEST";
}

std::optional<Method> method_for(MeetingMessageType type) {
  switch (type) {
  case MeetingMessageType::request:
    return Method::request;
  case MeetingMessageType::cancelled:
    return Method::cancel;
  case MeetingMessageType::accepted:
  case MeetingMessageType::tentatively_accepted:
  case MeetingMessageType::declined:
    return Method::reply;
  case MeetingMessageType::none:
    break;
  }
  return std::nullopt;
}

Result<std::string> unique_boundary(std::string_view seed_a, std::string_view seed_b,
                                    const std::vector<std::string_view>& haystacks,
                                    const std::vector<std::string>& enclosing) {
  std::uint64_t h = fnv1a(fnv1a(0xcbf29ce484222325ULL, seed_a), seed_b);
  for (int attempt = 0; attempt < kMaxBoundaryAttempts; ++attempt) {
    static constexpr std::string_view kHex = "0123456789abcdef";
    std::string b = "_icalgate_";
    for (int shift = 60; shift >= 0; shift -= 4) {
      b += kHex[(h >> shift) & 15];
    }
    if (!boundary_clashes(b, haystacks, enclosing)) {
      return b;
    }
    h = fnv1a(h, "perturb");
  }
  return make_error(Errc::unsupported, "no free boundary");
}

Result<std::string> rewrite_message(std::string_view original, const mime::Message& parsed,
                                    const OwaLink& link, std::string_view vcalendar, Method method,
                                    const RewriteOptions& options) {
  if (original.size() > options.max_message_size) {
    return make_error(Errc::literal_too_large, "message over the rewrite size cap");
  }
  if (original != parsed.raw()) {
    return make_error(Errc::unsupported, "parsed message does not match the original bytes");
  }
  if (link.parts.empty()) {
    return make_error(Errc::unsupported, "no marked text part");
  }
  // The body edits, in byte order.
  std::vector<Edit> edits;
  for (const MarkedPart& mp : link.parts) {
    const mime::MimePart* p = mime::find_part(parsed, mp.section);
    if (p == nullptr || p->is(mime::kMultipart)) {
      return make_error(Errc::unsupported, "marked part not found");
    }
    auto body =
        edit_body(original.substr(p->body_offset(), p->body_size.physical), mp.encoding, mp.kind);
    if (!body) {
      return body.error();
    }
    edits.push_back(Edit{p->body_offset(), p->end_offset(), std::move(body).value()});
  }
  std::sort(edits.begin(), edits.end(),
            [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
  for (std::size_t i = 1; i < edits.size(); ++i) {
    if (edits[i].begin < edits[i - 1].end) {
      return make_error(Errc::unsupported, "overlapping marked parts");
    }
  }
  const std::string cal = calendar_part(vcalendar, method);

  const mime::MimePart& root = parsed.root();
  const bool mixed = is_multipart(root, "mixed");
  if (mixed && root.children.empty()) {
    return make_error(Errc::unsupported, "empty multipart/mixed");
  }
  const mime::MimePart& body = mixed ? root.children.front() : root;
  std::string out;

  const bool wraps = !is_multipart(body, "alternative");
  if (options.announced && options.announced->boundary.empty() == (wraps && !mixed)) {
    return make_error(Errc::unsupported, "the message's shape differs from the announced one");
  }
  if (!wraps) {
    // Append the calendar as the last alternative, before the closing delimiter.
    if (body.children.empty()) {
      return make_error(Errc::unsupported, "empty multipart/alternative");
    }
    const std::string boundary = param(body.content.type_params, "boundary");
    const std::size_t at = body.children.back().end_offset();
    const std::string_view after = original.substr(at);
    const std::string delim = "--" + boundary + "--";
    if (boundary.empty() ||
        !(after.starts_with("\r\n" + delim) || after.starts_with("\n" + delim))) {
      return make_error(Errc::unsupported, "multipart/alternative without a closing delimiter");
    }
    edits.push_back(Edit{at, at, "\r\n--" + boundary + "\r\n" + cal});
    std::sort(edits.begin(), edits.end(),
              [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
    out = apply_edits(original, 0, original.size(), edits);
  } else {
    std::vector<std::string> enclosing;
    if (mixed) {
      enclosing.push_back(param(root.content.type_params, "boundary"));
    }
    collect_boundaries(body, enclosing);
    std::vector<std::string_view> haystacks{original};
    for (const Edit& e : edits) {
      haystacks.push_back(e.text);
    }
    // An announced boundary went out with the top-level header: no other will do.
    auto boundary =
        !options.announced || mixed ? unique_boundary(original, vcalendar, haystacks, enclosing)
        : boundary_clashes(options.announced->boundary, haystacks, enclosing)
            ? Result<std::string>(
                  make_error(Errc::unsupported, "the announced boundary occurs in the message"))
            : Result<std::string>(options.announced->boundary);
    if (!boundary) {
      return boundary.error();
    }
    const std::string& b = *boundary;
    const std::string open = "--" + b + "\r\n";
    const std::string tail = "\r\n--" + b + "\r\n" + cal + "\r\n--" + b + "--\r\n";
    if (mixed) {
      // The first child of the multipart/mixed gets wrapped where it stands.
      std::string wrapped = alternative_header(b) + "\r\n" + open +
                            apply_edits(original, body.offset, body.end_offset(), edits) + tail;
      out = apply_edits(original, 0, original.size(),
                        {Edit{body.offset, body.end_offset(), std::move(wrapped)}});
    } else {
      // The whole message body gets wrapped: its Content-Type and Content-Transfer-Encoding
      // fields move into the wrapped part; the top level becomes multipart/alternative.
      const mime::HeaderField* ct = nullptr;
      std::vector<const mime::HeaderField*> ctes;
      int ct_count = 0;
      for (const auto& f : root.headers) {
        const std::string_view name = mime::header_name(original, f);
        if (mime::iequals(name, "Content-Type")) {
          ++ct_count;
          ct = ct == nullptr ? &f : ct;
        } else if (mime::iequals(name, "Content-Transfer-Encoding")) {
          ctes.push_back(&f);
        }
      }
      if (ct_count > 1 || ctes.size() > 1) {
        return make_error(Errc::unsupported, "repeated Content-Type or Content-Transfer-Encoding");
      }
      std::vector<Edit> header_edits;
      std::string inner_header;
      for (const auto& f : root.headers) {
        if (&f == ct || (!ctes.empty() && &f == ctes.front())) {
          inner_header.append(original.substr(f.start, f.end - f.start));
          if (inner_header.back() != '\n') {
            inner_header += "\r\n";
          }
          header_edits.push_back(Edit{f.start, f.end, &f == ct ? alternative_header(b) : ""});
        }
      }
      std::string header;
      if (ct == nullptr) {
        // No Content-Type: text/plain by default; the new one goes before the empty line.
        const std::size_t eoh = root.headers.empty() ? root.offset : root.headers.back().end;
        header_edits.push_back(Edit{eoh, eoh, alternative_header(b)});
      }
      header = apply_edits(original, root.offset, root.body_offset(), header_edits);
      out = header + open + inner_header + "\r\n" +
            apply_edits(original, root.body_offset(), root.end_offset(), edits) + tail;
    }
  }
  if (out.size() > options.max_message_size) {
    return make_error(Errc::literal_too_large, "rewritten message over the size cap");
  }
  return out;
}

Result<std::string> description_text(const mime::Message& parsed, const OwaLink& link) {
  const MarkedPart* chosen = nullptr;
  for (const MarkedPart& mp : link.parts) {
    if (mp.kind == TextKind::plain) {
      chosen = &mp;
      break;
    }
  }
  if (chosen == nullptr && !link.parts.empty()) {
    chosen = &link.parts.front();
  }
  if (chosen == nullptr) {
    return make_error(Errc::not_found, "no marked text part");
  }
  const mime::MimePart* p = mime::find_part(parsed, chosen->section);
  if (p == nullptr) {
    return make_error(Errc::not_found, "marked part not found");
  }
  const auto decoded =
      decode_body(std::string_view(parsed.raw()).substr(p->body_offset(), p->body_size.physical),
                  chosen->encoding);
  if (!decoded) {
    return make_error(Errc::syntax, "text body does not decode");
  }
  MarkerSpan span;
  if (find_marker(*decoded, chosen->kind, true, span) != MarkerMatch::yes) {
    return make_error(Errc::unsupported, "marker not found");
  }
  const std::string text =
      to_utf8(decoded->substr(0, span.begin) + decoded->substr(span.end), chosen->charset);
  return tidy_text(chosen->kind == TextKind::html ? html_text(text) : text);
}

} // namespace icalgate::calendar
