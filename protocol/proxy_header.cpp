#include "protocol/proxy_header.hpp"

#include <arpa/inet.h> // inet_pton / inet_ntop: pure text conversions, no I/O

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace icalgate::protocol {

namespace {

constexpr std::array<std::uint8_t, 12> v2_signature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::string_view v1_tcp4 = "PROXY TCP4 ";
constexpr std::string_view v1_tcp6 = "PROXY TCP6 ";
constexpr std::string_view v1_unknown = "PROXY UNKNOWN";
// "PROXY UNKNOWN\r\n": no valid v1 line is shorter, and no v2 header is either.
constexpr std::size_t v1_min_line = 15;
constexpr std::size_t inet_block = 12;
constexpr std::size_t inet6_block = 36;
constexpr std::size_t unix_block = 2 * proxy_unix_address_size;
constexpr std::size_t ssl_fixed = 5; // client (1) + verify (4)
constexpr std::size_t tlv_header = 3;
constexpr std::size_t max_tlv_value = 0xFFFF;

using Bytes = std::span<const std::uint8_t>;

std::string_view as_chars(Bytes bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// At most the first 8 bytes, printable ASCII kept, the rest as \xNN: enough to recognise
// what a misconfigured client sent, never enough to smuggle a log line.
std::string sample(Bytes bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (const std::uint8_t b : bytes.first(std::min<std::size_t>(bytes.size(), 8))) {
    if (b >= 0x21 && b <= 0x7E && b != '\\') {
      out.push_back(static_cast<char>(b));
    } else {
      out += "\\x";
      out.push_back(hex[b >> 4]);
      out.push_back(hex[b & 0x0F]);
    }
  }
  return out;
}

Error syntax(std::string message) {
  return make_error(Errc::syntax, "PROXY header: " + std::move(message));
}

std::uint16_t read_be16(Bytes b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}

std::uint32_t read_be32(std::string_view s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    v = (v << 8) | static_cast<std::uint8_t>(s[at + i]);
  }
  return v;
}

void put_be16(std::vector<std::uint8_t>& out, std::size_t v) {
  out.push_back(static_cast<std::uint8_t>((v >> 8) & 0xFF));
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

// CRC32c (Castagnoli, reflected polynomial 0x82F63B78) as RFC 4960 appendix B defines it.
// Bitwise: headers are a few hundred bytes, once per connection.
std::uint32_t crc32c(Bytes bytes) {
  std::uint32_t crc = 0xFFFFFFFFU;
  for (const std::uint8_t b : bytes) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 1U) != 0 ? (crc >> 1) ^ 0x82F63B78U : crc >> 1;
    }
  }
  return ~crc;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Decimal 0..max without heading zeroes (the spec forbids them: octal confusion).
std::optional<std::uint32_t> parse_decimal(std::string_view s, std::uint32_t max) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) {
    return std::nullopt;
  }
  std::uint32_t v = 0;
  for (const char c : s) {
    if (!is_digit(c)) {
      return std::nullopt;
    }
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > max) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::array<std::uint8_t, 4>> parse_ipv4(std::string_view s) {
  std::array<std::uint8_t, 4> out{};
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t dot = i < 3 ? s.find('.') : s.size();
    if (dot == std::string_view::npos || dot > 3) {
      return std::nullopt;
    }
    const auto octet = parse_decimal(s.substr(0, dot), 255);
    if (!octet) {
      return std::nullopt;
    }
    out[i] = static_cast<std::uint8_t>(*octet);
    s.remove_prefix(i < 3 ? dot + 1 : dot);
  }
  return out;
}

std::optional<std::array<std::uint8_t, 16>> parse_ipv6(std::string_view s) {
  // 45 = the longest text form, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".
  std::array<char, 46> text{};
  if (s.empty() || s.size() > 45 || s.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  std::copy(s.begin(), s.end(), text.begin());
  std::array<std::uint8_t, 16> out{};
  if (inet_pton(AF_INET6, text.data(), out.data()) != 1) {
    return std::nullopt;
  }
  return out;
}

std::string format_ipv4(Bytes b) {
  std::string out;
  for (std::size_t i = 0; i < 4; ++i) {
    if (i != 0) {
      out.push_back('.');
    }
    out += std::to_string(b[i]);
  }
  return out;
}

std::string format_ipv6(Bytes b) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  // Cannot fail: the buffer is large enough and the family is known.
  inet_ntop(AF_INET6, b.data(), text.data(), text.size());
  return text.data();
}

// Canonical text of an address of the family, or nullopt when it is not one.
std::optional<std::string> canonical_address(ProxyFamily family, std::string_view s) {
  if (family == ProxyFamily::inet) {
    const auto a = parse_ipv4(s);
    return a ? std::optional(format_ipv4(*a)) : std::nullopt;
  }
  const auto a = parse_ipv6(s);
  return a ? std::optional(format_ipv6(*a)) : std::nullopt;
}

Result<std::vector<ProxyTlv>> parse_tlvs(std::string_view data) {
  std::vector<ProxyTlv> tlvs;
  while (!data.empty()) {
    if (data.size() < tlv_header) {
      return syntax("truncated TLV header");
    }
    const std::size_t length = (static_cast<std::size_t>(static_cast<std::uint8_t>(data[1])) << 8) |
                               static_cast<std::uint8_t>(data[2]);
    if (length > data.size() - tlv_header) {
      return syntax("TLV length beyond the header");
    }
    if (tlvs.size() == proxy_v2_max_tlvs) {
      return make_error(Errc::too_many, "PROXY header: too many TLVs");
    }
    tlvs.push_back(
        ProxyTlv{static_cast<std::uint8_t>(data[0]), std::string(data.substr(tlv_header, length))});
    data.remove_prefix(tlv_header + length);
  }
  return tlvs;
}

Result<ProxySsl> decode_ssl(std::string_view value) {
  if (value.size() < ssl_fixed) {
    return syntax("SSL TLV shorter than 5 bytes");
  }
  auto sub = parse_tlvs(value.substr(ssl_fixed));
  if (!sub) {
    return sub.error();
  }
  return ProxySsl{static_cast<std::uint8_t>(value[0]), read_be32(value, 1), std::move(sub).value()};
}

std::optional<std::string_view> find_in(const std::vector<ProxyTlv>& tlvs, std::uint8_t type) {
  const auto it =
      std::find_if(tlvs.begin(), tlvs.end(), [type](const ProxyTlv& t) { return t.type == type; });
  if (it == tlvs.end()) {
    return std::nullopt;
  }
  return std::string_view(it->value);
}

// The terminator search and early rejection of a v1 line; `in` starts with a prefix of
// "PROXY".
ProxyHeaderResult parse_v1(Bytes in) {
  const std::string_view text = as_chars(in);
  const auto matches = [&](std::string_view expected) {
    const std::size_t k = std::min(text.size(), expected.size());
    return text.substr(0, k) == expected.substr(0, k);
  };
  const bool tcp = matches(v1_tcp4) || matches(v1_tcp6);
  if (!tcp && !matches(v1_unknown)) {
    return syntax("v1 protocol is not TCP4, TCP6 or UNKNOWN");
  }
  if (!tcp && text.size() > v1_unknown.size() && text[v1_unknown.size()] != ' ' &&
      text[v1_unknown.size()] != '\r') {
    return syntax("v1 protocol is not TCP4, TCP6 or UNKNOWN");
  }
  const std::size_t window = std::min(text.size(), proxy_v1_max_line);
  std::size_t end = std::string_view::npos;
  for (std::size_t i = 0; i < window; ++i) {
    const char c = text[i];
    if (c == '\n') {
      return syntax("v1 line ends in a bare LF");
    }
    if (c == '\r') {
      end = i;
      break;
    }
    // Past "PROXY TCPx " only address and port characters can follow.
    const bool allowed = is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                         c == '.' || c == ':' || c == ' ';
    if (tcp && i >= v1_tcp4.size() && !allowed) {
      return syntax("unexpected character in v1 TCP line");
    }
  }
  if (end == std::string_view::npos || end + 1 >= proxy_v1_max_line) {
    if (text.size() >= proxy_v1_max_line) {
      return make_error(Errc::line_too_long, "PROXY header: no CRLF within 107 bytes");
    }
    return ProxyIncomplete{text.size() < v1_min_line ? v1_min_line - text.size() : 1};
  }
  if (end + 1 >= text.size()) {
    return ProxyIncomplete{1};
  }
  if (text[end + 1] != '\n') {
    return syntax("v1 line has a CR without LF");
  }
  const std::string_view line = text.substr(0, end);
  const std::size_t consumed = end + 2;

  ProxyHeader h;
  h.version = 1;
  h.command = ProxyCommand::proxy;
  if (line.starts_with(v1_unknown)) {
    // The spec: the receiver must ignore whatever follows UNKNOWN on the line.
    if (line.size() > v1_unknown.size() && line[v1_unknown.size()] != ' ') {
      return syntax("v1 protocol is not TCP4, TCP6 or UNKNOWN");
    }
    return ProxyComplete{std::move(h), consumed};
  }
  if (!line.starts_with(v1_tcp4) && !line.starts_with(v1_tcp6)) {
    return syntax("v1 protocol is not TCP4, TCP6 or UNKNOWN");
  }
  h.family = line.starts_with(v1_tcp4) ? ProxyFamily::inet : ProxyFamily::inet6;
  h.transport = ProxyTransport::stream;
  std::array<std::string_view, 4> fields;
  std::string_view rest = line.substr(v1_tcp4.size());
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const std::size_t space = rest.find(' ');
    if ((space == std::string_view::npos) != (i == fields.size() - 1)) {
      return syntax("v1 line needs exactly four fields after the protocol");
    }
    fields[i] = rest.substr(0, space);
    rest.remove_prefix(space == std::string_view::npos ? rest.size() : space + 1);
  }
  auto source = canonical_address(h.family, fields[0]);
  auto destination = canonical_address(h.family, fields[1]);
  if (!source || !destination) {
    return syntax(h.family == ProxyFamily::inet ? "invalid IPv4 address in v1 line"
                                                : "invalid IPv6 address in v1 line");
  }
  const auto source_port = parse_decimal(fields[2], 0xFFFF);
  const auto destination_port = parse_decimal(fields[3], 0xFFFF);
  if (!source_port || !destination_port) {
    return syntax("invalid port in v1 line");
  }
  h.source_address = std::move(*source);
  h.destination_address = std::move(*destination);
  h.source_port = static_cast<std::uint16_t>(*source_port);
  h.destination_port = static_cast<std::uint16_t>(*destination_port);
  return ProxyComplete{std::move(h), consumed};
}

std::size_t address_block_size(ProxyFamily family) {
  switch (family) {
  case ProxyFamily::inet:
    return inet_block;
  case ProxyFamily::inet6:
    return inet6_block;
  case ProxyFamily::unix_socket:
    return unix_block;
  case ProxyFamily::unspec:
    break;
  }
  return 0;
}

std::string unix_path(Bytes b) {
  std::string_view s = as_chars(b);
  while (!s.empty() && s.back() == '\0') {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// `in` starts with a prefix of the v2 signature. Each byte is judged as soon as it arrives.
ProxyHeaderResult parse_v2(Bytes in) {
  const std::size_t k = std::min(in.size(), v2_signature.size());
  if (!std::equal(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(k), v2_signature.begin())) {
    return syntax("not a PROXY protocol header (starts with \"" + sample(in) + "\")");
  }
  if (in.size() > 12) {
    if ((in[12] >> 4) != 2) {
      return syntax("unsupported v2 version");
    }
    if ((in[12] & 0x0F) > 1) {
      return syntax("unknown v2 command");
    }
  }
  if (in.size() > 13 && ((in[13] >> 4) > 3 || (in[13] & 0x0F) > 2)) {
    return syntax("invalid v2 address family or transport");
  }
  if (in.size() < proxy_v2_fixed_size) {
    return ProxyIncomplete{proxy_v2_fixed_size - in.size()};
  }
  const std::size_t length = read_be16(in, 14);
  if (length > proxy_v2_max_length) {
    return make_error(Errc::too_many, "PROXY header: v2 length " + std::to_string(length) +
                                          " above the limit of " +
                                          std::to_string(proxy_v2_max_length));
  }
  const bool relayed = (in[12] & 0x0F) == 1;
  auto family = static_cast<ProxyFamily>(in[13] >> 4);
  auto transport = static_cast<ProxyTransport>(in[13] & 0x0F);
  // LOCAL and UNSPEC: the spec says to ignore the address block (whatever its length).
  const bool addressed =
      relayed && family != ProxyFamily::unspec && transport != ProxyTransport::unspec;
  const std::size_t block = addressed ? address_block_size(family) : 0;
  if (length < block) {
    return syntax("v2 length too short for the address family");
  }
  const std::size_t total = proxy_v2_fixed_size + length;
  if (in.size() < total) {
    return ProxyIncomplete{total - in.size()};
  }

  ProxyHeader h;
  h.version = 2;
  h.command = relayed ? ProxyCommand::proxy : ProxyCommand::local;
  if (!addressed) {
    return ProxyComplete{std::move(h), total};
  }
  h.family = family;
  h.transport = transport;
  const Bytes addr = in.subspan(proxy_v2_fixed_size, block);
  switch (family) {
  case ProxyFamily::inet:
    h.source_address = format_ipv4(addr.subspan(0, 4));
    h.destination_address = format_ipv4(addr.subspan(4, 4));
    h.source_port = read_be16(addr, 8);
    h.destination_port = read_be16(addr, 10);
    break;
  case ProxyFamily::inet6:
    h.source_address = format_ipv6(addr.subspan(0, 16));
    h.destination_address = format_ipv6(addr.subspan(16, 16));
    h.source_port = read_be16(addr, 32);
    h.destination_port = read_be16(addr, 34);
    break;
  case ProxyFamily::unix_socket:
    h.source_address = unix_path(addr.subspan(0, proxy_unix_address_size));
    h.destination_address = unix_path(addr.subspan(proxy_unix_address_size));
    break;
  case ProxyFamily::unspec:
    break;
  }

  const std::size_t tlv_start = proxy_v2_fixed_size + block;
  auto tlvs = parse_tlvs(as_chars(in.subspan(tlv_start, total - tlv_start)));
  if (!tlvs) {
    return tlvs.error();
  }
  h.tlvs = std::move(tlvs).value();

  std::optional<std::size_t> crc_at; // offset of the checksum in the header
  std::size_t offset = tlv_start;
  for (const ProxyTlv& tlv : h.tlvs) {
    switch (tlv.type) {
    case pp2_type::ssl:
      if (auto ssl = decode_ssl(tlv.value); !ssl) {
        return ssl.error();
      }
      break;
    case pp2_type::unique_id:
      if (tlv.value.size() > proxy_unique_id_max) {
        return syntax("UNIQUE_ID TLV longer than 128 bytes");
      }
      break;
    case pp2_type::crc32c:
      if (tlv.value.size() != 4 || crc_at) {
        return syntax("CRC32C TLV must be 4 bytes and appear once");
      }
      crc_at = offset + tlv_header;
      break;
    default:
      break;
    }
    offset += tlv_header + tlv.value.size();
  }
  if (crc_at) {
    std::vector<std::uint8_t> copy(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(total));
    std::fill_n(copy.begin() + static_cast<std::ptrdiff_t>(*crc_at), 4, std::uint8_t{0});
    if (crc32c(copy) != read_be32(as_chars(in), *crc_at)) {
      return syntax("CRC32C mismatch");
    }
  }
  return ProxyComplete{std::move(h), total};
}

} // namespace

std::optional<std::string_view> ProxySsl::find(std::uint8_t type) const {
  return find_in(sub_tlvs, type);
}

std::optional<std::string_view> ProxyHeader::find_tlv(std::uint8_t type) const {
  return find_in(tlvs, type);
}

std::optional<ProxySsl> ProxyHeader::ssl() const {
  const auto value = find_tlv(pp2_type::ssl);
  if (!value) {
    return std::nullopt;
  }
  auto decoded = decode_ssl(*value);
  if (!decoded) {
    return std::nullopt; // only for a header built by hand: parsing rejects these
  }
  return std::move(decoded).value();
}

ProxyHeaderResult parse_proxy_header(std::span<const std::uint8_t> bytes) {
  if (bytes.empty()) {
    return ProxyIncomplete{v1_min_line};
  }
  if (bytes[0] == 'P') {
    return parse_v1(bytes);
  }
  return parse_v2(bytes);
}

ProxyHeaderResult parse_proxy_header(std::string_view bytes) {
  return parse_proxy_header(
      std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

Result<ProxyHeader> make_proxy_tcp_header(std::string_view source, std::uint16_t source_port,
                                          std::string_view destination,
                                          std::uint16_t destination_port, int version) {
  ProxyHeader h;
  h.version = version;
  h.command = ProxyCommand::proxy;
  h.family = source.find(':') == std::string_view::npos ? ProxyFamily::inet : ProxyFamily::inet6;
  h.transport = ProxyTransport::stream;
  auto s = canonical_address(h.family, source);
  auto d = canonical_address(h.family, destination);
  if (!s || !d) {
    return syntax("addresses are not both IPv4 or both IPv6");
  }
  h.source_address = std::move(*s);
  h.destination_address = std::move(*d);
  h.source_port = source_port;
  h.destination_port = destination_port;
  return h;
}

Result<std::string> make_proxy_header_v1(const ProxyHeader& header) {
  const bool tcp = header.command == ProxyCommand::proxy &&
                   header.transport == ProxyTransport::stream &&
                   (header.family == ProxyFamily::inet || header.family == ProxyFamily::inet6);
  if (!tcp) {
    return std::string(v1_unknown) + "\r\n";
  }
  auto s = canonical_address(header.family, header.source_address);
  auto d = canonical_address(header.family, header.destination_address);
  if (!s || !d) {
    return syntax("address text does not match the family");
  }
  std::string line(header.family == ProxyFamily::inet ? v1_tcp4 : v1_tcp6);
  line += *s + ' ' + *d + ' ' + std::to_string(header.source_port) + ' ' +
          std::to_string(header.destination_port) + "\r\n";
  if (line.size() > proxy_v1_max_line) {
    return make_error(Errc::line_too_long, "PROXY header: v1 line longer than 107 bytes");
  }
  return line;
}

Result<std::vector<std::uint8_t>> make_proxy_header_v2(const ProxyHeader& header) {
  std::vector<std::uint8_t> out(v2_signature.begin(), v2_signature.end());
  const bool addressed = header.command == ProxyCommand::proxy &&
                         header.family != ProxyFamily::unspec &&
                         header.transport != ProxyTransport::unspec;
  out.push_back(header.command == ProxyCommand::proxy ? 0x21 : 0x20);
  if (!addressed) {
    out.push_back(0x00);
    put_be16(out, 0);
    return out;
  }
  out.push_back(static_cast<std::uint8_t>((static_cast<unsigned>(header.family) << 4) |
                                          static_cast<unsigned>(header.transport)));
  put_be16(out, 0); // patched below
  switch (header.family) {
  case ProxyFamily::inet: {
    const auto s = parse_ipv4(header.source_address);
    const auto d = parse_ipv4(header.destination_address);
    if (!s || !d) {
      return syntax("address text is not IPv4");
    }
    out.insert(out.end(), s->begin(), s->end());
    out.insert(out.end(), d->begin(), d->end());
    put_be16(out, header.source_port);
    put_be16(out, header.destination_port);
    break;
  }
  case ProxyFamily::inet6: {
    const auto s = parse_ipv6(header.source_address);
    const auto d = parse_ipv6(header.destination_address);
    if (!s || !d) {
      return syntax("address text is not IPv6");
    }
    out.insert(out.end(), s->begin(), s->end());
    out.insert(out.end(), d->begin(), d->end());
    put_be16(out, header.source_port);
    put_be16(out, header.destination_port);
    break;
  }
  case ProxyFamily::unix_socket:
    for (const std::string* path : {&header.source_address, &header.destination_address}) {
      if (path->size() > proxy_unix_address_size) {
        return syntax("UNIX path longer than 108 bytes");
      }
      out.insert(out.end(), path->begin(), path->end());
      out.insert(out.end(), proxy_unix_address_size - path->size(), 0);
    }
    break;
  case ProxyFamily::unspec:
    break;
  }
  std::optional<std::size_t> crc_at;
  for (const ProxyTlv& tlv : header.tlvs) {
    if (tlv.value.size() > max_tlv_value) {
      return syntax("TLV value longer than 65535 bytes");
    }
    if (tlv.type == pp2_type::crc32c) {
      if (tlv.value.size() != 4 || crc_at) {
        return syntax("CRC32C TLV must be 4 bytes and appear once");
      }
      crc_at = out.size() + tlv_header;
    }
    out.push_back(tlv.type);
    put_be16(out, tlv.value.size());
    if (tlv.type == pp2_type::crc32c) {
      out.insert(out.end(), 4, 0);
    } else {
      out.insert(out.end(), tlv.value.begin(), tlv.value.end());
    }
  }
  const std::size_t length = out.size() - proxy_v2_fixed_size;
  if (length > proxy_v2_max_length) {
    return make_error(Errc::too_many, "PROXY header: v2 length above the limit");
  }
  out[14] = static_cast<std::uint8_t>(length >> 8);
  out[15] = static_cast<std::uint8_t>(length & 0xFF);
  if (crc_at) {
    const std::uint32_t crc = crc32c(out);
    for (std::size_t i = 0; i < 4; ++i) {
      out[*crc_at + i] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
    }
  }
  return out;
}

} // namespace icalgate::protocol
