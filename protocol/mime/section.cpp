#include "protocol/mime/section.hpp"

#include "protocol/mime/rfc822_lexer.hpp"
#include "protocol/mime/transfer_decoding.hpp"

#include <algorithm>
#include <cstring>

namespace icalgate::protocol::mime {

namespace {

bool field_listed(std::string_view name, const std::vector<std::string>& fields) {
  return std::any_of(fields.begin(), fields.end(),
                     [&](const std::string& f) { return iequals(name, f); });
}

struct ScannedHeader {
  std::vector<HeaderField> fields;
  bool eoh = false;
};

// Header lines from `start` up to the first empty line, ignoring MIME boundaries: Dovecot's
// header filter reads a part's header from the raw stream this way.
ScannedHeader scan_header(const std::string& raw, std::size_t start) {
  constexpr std::size_t kMaxFields = 10000;
  ScannedHeader out;
  std::size_t pos = start;
  const std::size_t n = raw.size();
  while (pos < n && out.fields.size() < kMaxFields) {
    if (raw[pos] == '\n' || (raw[pos] == '\r' && pos + 1 < n && raw[pos + 1] == '\n')) {
      out.eoh = true;
      break;
    }
    HeaderField field;
    field.start = pos;
    std::size_t lf = raw.find('\n', pos);
    const std::size_t first_end = lf == std::string::npos ? n : lf;
    const void* colon = std::memchr(raw.data() + pos, ':', first_end - pos);
    field.colon = colon == nullptr
                      ? n
                      : static_cast<std::size_t>(static_cast<const char*>(colon) - raw.data());
    for (;;) {
      lf = raw.find('\n', pos);
      if (lf == std::string::npos) {
        pos = n;
        break;
      }
      pos = lf + 1;
      if (pos < n && (raw[pos] == ' ' || raw[pos] == '\t')) {
        continue;
      }
      break;
    }
    field.end = pos;
    if (field.colon >= field.end) {
      field.colon = field.end;
    }
    out.fields.push_back(field);
  }
  return out;
}

// A field as Dovecot's header cache returns it: each line ends in exactly one CRLF however
// many CRs it had; a last line cut off by the end of the message stays as it is.
void append_cached_lines(std::string& out, const std::string& raw, const HeaderField& field) {
  std::size_t pos = field.start;
  while (pos < field.end) {
    const std::size_t lf = raw.find('\n', pos);
    if (lf == std::string::npos || lf >= field.end) {
      out.append(raw, pos, field.end - pos);
      break;
    }
    std::size_t end = lf;
    while (end > pos && raw[end - 1] == '\r') {
      --end;
    }
    out.append(raw, pos, end - pos);
    out += "\r\n";
    pos = lf + 1;
  }
}

// HEADER.FIELDS / HEADER.FIELDS.NOT: the chosen fields in message order, then the empty line
// that ends a header. Dovecot serves the message's own HEADER.FIELDS from its header cache
// (always followed by CRLF) and filters the raw stream for everything else (the empty line
// only if one was found). A last line without newline is kept as it is.
std::string filtered_header(const Message& msg, const MimePart& part, bool is_root,
                            const std::vector<std::string>& fields, bool include) {
  const std::string& raw = msg.raw();
  ScannedHeader scanned;
  if (is_root) {
    scanned.fields = part.headers;
    const std::size_t fields_end = part.headers.empty() ? part.offset : part.headers.back().end;
    scanned.eoh = fields_end < part.body_offset();
  } else {
    scanned = scan_header(raw, part.offset);
  }
  const bool from_cache = is_root && include;
  std::string out;
  for (const HeaderField& field : scanned.fields) {
    std::string_view name = header_name(raw, field);
    name = name.substr(0, std::min(name.size(), name.find('\0')));
    if (field_listed(name, fields) != include) {
      continue;
    }
    if (from_cache) {
      append_cached_lines(out, raw, field);
    } else {
      out += crlf_range(raw, field.start, field.end, true);
    }
  }
  if (from_cache || scanned.eoh) {
    out += "\r\n";
  }
  return out;
}

// A range whose CRLF-converted size the parser already knows: when nothing needs converting
// the bytes are copied in one go.
std::string sized_range(const std::string& raw, std::size_t a, std::size_t b,
                        std::uint64_t virtual_size) {
  if (b <= a || virtual_size != b - a) {
    return crlf_range(raw, a, b, true);
  }
  std::string out(raw, a, b - a);
  if (std::memchr(out.data(), '\0', out.size()) != nullptr) {
    std::replace(out.begin(), out.end(), '\0', static_cast<char>(0x80));
  }
  return out;
}

std::string part_header(const Message& msg, const MimePart& part) {
  return sized_range(msg.raw(), part.offset, part.body_offset(), part.header_size.virtual_size);
}

std::string part_body(const Message& msg, const MimePart& part) {
  return sized_range(msg.raw(), part.body_offset(), part.end_offset(), part.body_size.virtual_size);
}

// The encoding BINARY decodes with: the last Content-Transfer-Encoding field of the part,
// read independently of the MIME-Version rules that BODYSTRUCTURE applies.
TransferEncoding part_transfer_encoding(const std::string& raw, const MimePart& part) {
  TransferEncoding te = TransferEncoding::identity;
  for (const HeaderField& field : part.headers) {
    if (!iequals(header_name(raw, field), "Content-Transfer-Encoding")) {
      continue;
    }
    const std::string value = header_full_value(raw, field);
    Rfc822Lexer lexer(value);
    lexer.skip_lwsp();
    std::string token;
    // the value must be one token: "7bit garbage" is unknown
    if (lexer.parse_mime_token(token) < 0 || lexer.skip_lwsp() != 0 || token.empty()) {
      te = TransferEncoding::unknown;
    } else {
      te = classify_transfer_encoding(token);
    }
  }
  return te;
}

bool is_converted(TransferEncoding te) {
  return te == TransferEncoding::base64 || te == TransferEncoding::quoted_printable;
}

// Follows Dovecot's add_binary_part(): copies unconverted stretches with CRLF line endings,
// rewrites the header of decoded parts and decodes leaf bodies.
class BinaryBuilder {
 public:
  explicit BinaryBuilder(const Message& msg) : raw_(msg.raw()) {}

  bool add_part(const MimePart& part, bool include_hdr) {
    // Multiparts and message/rfc822 are never decoded as a whole, whatever they claim.
    const TransferEncoding declared = part_transfer_encoding(raw_, part);
    const TransferEncoding te = part.children.empty() || declared == TransferEncoding::unknown
                                    ? declared
                                    : TransferEncoding::identity;
    if (te == TransferEncoding::unknown) {
      result_.status = BinaryResult::Status::unknown_cte;
      return false;
    }
    if (!include_hdr) {
      // body only
    } else if (is_converted(te)) {
      if (copy_start_ != 0) {
        copy_to(part.offset);
      }
      write_converted_header(part);
    } else {
      copy_to(part.body_offset());
    }
    copy_start_ = part.body_offset();
    if (!part.children.empty()) {
      for (const MimePart& child : part.children) {
        if (!add_part(child, true)) {
          return false;
        }
      }
      copy_to(part.end_offset());
      copy_start_ = part.end_offset();
      return true;
    }
    if (part.body_size.physical == 0) {
      copy_start_ = part.end_offset();
      return true;
    }
    const std::string_view body(raw_.data() + part.body_offset(), part.body_size.physical);
    std::optional<std::string> decoded;
    switch (te) {
    case TransferEncoding::identity:
      if (part.is(kHasNuls)) {
        result_.literal8 = true;
      }
      result_.data += crlf_range(raw_, part.body_offset(), part.end_offset(), false);
      break;
    case TransferEncoding::base64:
      decoded = decode_base64(body);
      break;
    case TransferEncoding::quoted_printable:
      decoded = decode_quoted_printable(body);
      break;
    case TransferEncoding::unknown:
      break;
    }
    if (is_converted(te)) {
      if (!decoded) {
        result_.status = BinaryResult::Status::invalid_data;
        return false;
      }
      result_.literal8 = true;
      result_.data += *decoded;
    }
    copy_start_ = part.end_offset();
    return true;
  }

  BinaryResult take() { return std::move(result_); }

 private:
  void copy_to(std::size_t end) {
    if (end > copy_start_) {
      result_.data += crlf_range(raw_, copy_start_, end, false);
    }
  }

  void write_converted_header(const MimePart& part) {
    for (const HeaderField& field : part.headers) {
      if (!iequals(header_name(raw_, field), "Content-Transfer-Encoding")) {
        result_.data += crlf_range(raw_, field.start, field.end, false);
      }
    }
    const std::size_t fields_end = part.headers.empty() ? part.offset : part.headers.back().end;
    if (fields_end < part.body_offset()) {
      // the header ended with an empty line
      result_.data += "Content-Transfer-Encoding: binary\r\n\r\n";
    }
  }

  const std::string& raw_;
  std::size_t copy_start_ = 0;
  BinaryResult result_;
};

} // namespace

std::string crlf_range(const std::string& raw, std::size_t a, std::size_t b, bool nuls_to_0x80) {
  std::string out;
  if (b <= a) {
    return out;
  }
  out.reserve(b - a + (b - a) / 32);
  const char* data = raw.data();
  std::size_t run = a;
  for (std::size_t i = a; i < b;) {
    const void* hit = std::memchr(data + i, '\n', b - i);
    const std::size_t lf =
        hit == nullptr ? b : static_cast<std::size_t>(static_cast<const char*>(hit) - data);
    if (lf >= b) {
      break;
    }
    const bool has_cr = lf > a && data[lf - 1] == '\r';
    if (!has_cr) {
      out.append(data + run, lf - run);
      out += "\r\n";
      run = lf + 1;
    }
    i = lf + 1;
  }
  out.append(data + run, b - run);
  if (nuls_to_0x80 && std::memchr(out.data(), '\0', out.size()) != nullptr) {
    std::replace(out.begin(), out.end(), '\0', static_cast<char>(0x80));
  }
  return out;
}

const MimePart* find_part(const Message& msg, const std::vector<std::uint32_t>& path) {
  const MimePart* part = &msg.root();
  for (std::size_t i = 0; i < path.size() && part != nullptr; ++i) {
    const std::uint32_t num = path[i];
    const bool more = i + 1 < path.size();
    if (part->is(kMultipart)) {
      part = num >= 1 && num <= part->children.size() ? &part->children[num - 1] : nullptr;
    } else if (num != 1) {
      part = nullptr;
    } else if (more && !part->is(kMessageRfc822)) {
      part = nullptr;
    }
    if (part != nullptr && part->is(kMessageRfc822) && more) {
      part = part->children.empty() ? nullptr : &part->children.front();
    }
  }
  return part;
}

namespace {

// For HEADER / TEXT / HEADER.FIELDS[.NOT] of a numbered part, the encapsulated message.
const MimePart* message_part_for(const Message& msg, const SectionSpec& section) {
  if (section.part.empty()) {
    return &msg.root();
  }
  const MimePart* part = find_part(msg, section.part);
  if (part == nullptr || !part->is(kMessageRfc822) || part->children.empty()) {
    return nullptr;
  }
  return &part->children.front();
}

} // namespace

std::string body_section(const Message& msg, const SectionSpec& section) {
  using Text = SectionSpec::Text;
  switch (section.text) {
  case Text::none: {
    if (section.part.empty()) {
      return sized_range(msg.raw(), 0, msg.raw().size(), msg.virtual_size());
    }
    const MimePart* part = find_part(msg, section.part);
    return part == nullptr ? std::string() : part_body(msg, *part);
  }
  case Text::mime: {
    const MimePart* part = section.part.empty() ? nullptr : find_part(msg, section.part);
    return part == nullptr ? std::string() : part_header(msg, *part);
  }
  case Text::header:
  case Text::text:
  case Text::header_fields:
  case Text::header_fields_not: {
    const MimePart* part = message_part_for(msg, section);
    if (part == nullptr) {
      return {};
    }
    if (section.text == Text::header) {
      return part_header(msg, *part);
    }
    if (section.text == Text::text) {
      return part_body(msg, *part);
    }
    return filtered_header(msg, *part, section.part.empty(), section.fields,
                           section.text == Text::header_fields);
  }
  }
  return {};
}

BinaryResult binary_section(const Message& msg, const SectionSpec& section) {
  using Text = SectionSpec::Text;
  if (section.text != Text::none && section.text != Text::text) {
    BinaryResult r;
    r.data = body_section(msg, section);
    return r;
  }
  const MimePart* part = nullptr;
  if (section.text == Text::text) {
    part = message_part_for(msg, section);
  } else {
    part = find_part(msg, section.part);
  }
  if (part == nullptr) {
    return {};
  }
  BinaryBuilder builder(msg);
  builder.add_part(*part, section.text == Text::none && section.part.empty());
  return builder.take();
}

BinaryResult binary_size(const Message& msg, const SectionSpec& section) {
  using Text = SectionSpec::Text;
  if (section.text == Text::none || section.text == Text::text) {
    BinaryBuilder whole(msg);
    if (!whole.add_part(msg.root(), true)) {
      BinaryResult r = whole.take();
      r.data.clear();
      return r;
    }
  }
  BinaryResult r = binary_section(msg, section);
  r.data = std::to_string(r.data.size());
  return r;
}

std::string apply_partial(std::string data, const std::optional<Partial>& partial) {
  if (!partial) {
    return data;
  }
  if (partial->origin >= data.size()) {
    return {};
  }
  const std::uint64_t left = data.size() - partial->origin;
  return data.substr(static_cast<std::size_t>(partial->origin),
                     static_cast<std::size_t>(std::min<std::uint64_t>(left, partial->octets)));
}

} // namespace icalgate::protocol::mime
