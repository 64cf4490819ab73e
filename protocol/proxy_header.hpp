#pragma once
// The PROXY protocol header (HAProxy, versions 1 and 2) that a TCP load balancer puts in
// front of a connection so that the gateway learns the real client address. Pure: the
// listener feeds the bytes received so far and acts on the outcome; nothing here reads a
// socket.
//
// Outcomes of parse_proxy_header():
//  - ProxyIncomplete: the bytes are a prefix of a header that may still become valid;
//    at_least more bytes are needed before another call can decide.
//  - ProxyComplete: a valid header occupying the first `consumed` bytes; whatever follows
//    (the client's first TLS record or IMAP command) is left alone.
//  - Error: not a PROXY header, or a malformed one. Decided as early as possible, so that
//    a client that does not speak PROXY is rejected at its first byte rather than after a
//    timeout. Messages quote at most a few input bytes, sanitized.
//
// Normalization (so that equal meanings give equal values, and logs and per-IP limits use
// one spelling): addresses are canonical text (IPv4 dotted quad, IPv6 as RFC 5952 via
// inet_ntop); a v2 LOCAL header and a v2 header with an UNSPEC family or transport carry
// no addresses and no TLVs (the spec says to ignore them); v1 "UNKNOWN" ignores the rest
// of its line. A version 1 TCP4/TCP6 line is reported with transport `stream`.

#include "protocol/result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace icalgate::protocol {

// Version 1 line, CRLF included (the spec's worst case).
inline constexpr std::size_t proxy_v1_max_line = 107;
// Upper bound on the v2 length field (bytes after the fixed 16-byte part). The spec allows
// 65535; real balancers send the address block (at most 216 bytes) plus a few short TLVs.
inline constexpr std::size_t proxy_v2_max_length = 2048;
inline constexpr std::size_t proxy_v2_fixed_size = 16;
inline constexpr std::size_t proxy_v2_max_tlvs = 128;
inline constexpr std::size_t proxy_unique_id_max = 128; // spec: "up to 128 bytes"
inline constexpr std::size_t proxy_unix_address_size = 108;

enum class ProxyCommand : std::uint8_t {
  local, // v2 only: the balancer's own connection (health check); use the socket's addresses
  proxy, // relayed on behalf of a client
};

enum class ProxyFamily : std::uint8_t {
  unspec, // v1 UNKNOWN, v2 AF_UNSPEC: use the socket's addresses
  inet,
  inet6,
  unix_socket,
};

enum class ProxyTransport : std::uint8_t { unspec, stream, dgram };

// Registered v2 TLV types.
namespace pp2_type {
inline constexpr std::uint8_t alpn = 0x01;
inline constexpr std::uint8_t authority = 0x02;
inline constexpr std::uint8_t crc32c = 0x03;
inline constexpr std::uint8_t noop = 0x04;
inline constexpr std::uint8_t unique_id = 0x05;
inline constexpr std::uint8_t ssl = 0x20;
inline constexpr std::uint8_t ssl_version = 0x21;
inline constexpr std::uint8_t ssl_cn = 0x22;
inline constexpr std::uint8_t ssl_cipher = 0x23;
inline constexpr std::uint8_t ssl_sig_alg = 0x24;
inline constexpr std::uint8_t ssl_key_alg = 0x25;
inline constexpr std::uint8_t netns = 0x30;
} // namespace pp2_type

// Bits of ProxySsl::client.
namespace pp2_client {
inline constexpr std::uint8_t ssl = 0x01;
inline constexpr std::uint8_t cert_conn = 0x02;
inline constexpr std::uint8_t cert_sess = 0x04;
} // namespace pp2_client

struct ProxyTlv {
  std::uint8_t type = 0;
  std::string value; // raw bytes

  friend bool operator==(const ProxyTlv&, const ProxyTlv&) = default;
};

// The decoded value of a PP2_TYPE_SSL TLV. Views returned by the accessors point into
// sub_tlvs.
struct ProxySsl {
  std::uint8_t client = 0;  // pp2_client bits
  std::uint32_t verify = 0; // 0: the client's certificate was presented and verified
  std::vector<ProxyTlv> sub_tlvs;

  bool client_used_tls() const { return (client & pp2_client::ssl) != 0; }
  bool client_certificate_verified() const {
    return verify == 0 && (client & (pp2_client::cert_conn | pp2_client::cert_sess)) != 0;
  }
  std::optional<std::string_view> find(std::uint8_t type) const;
  std::optional<std::string_view> version() const { return find(pp2_type::ssl_version); }
  std::optional<std::string_view> common_name() const { return find(pp2_type::ssl_cn); }
  std::optional<std::string_view> cipher() const { return find(pp2_type::ssl_cipher); }

  friend bool operator==(const ProxySsl&, const ProxySsl&) = default;
};

struct ProxyHeader {
  int version = 1; // 1 or 2
  ProxyCommand command = ProxyCommand::proxy;
  ProxyFamily family = ProxyFamily::unspec;
  ProxyTransport transport = ProxyTransport::unspec;
  // inet/inet6: canonical address text; unix_socket: the path with trailing NULs removed
  // (untrusted bytes: sanitize before logging); otherwise empty.
  std::string source_address;
  std::string destination_address;
  std::uint16_t source_port = 0; // inet/inet6 only
  std::uint16_t destination_port = 0;
  std::vector<ProxyTlv> tlvs; // v2 only, in wire order (PP2_TYPE_SSL validated)

  // True when the header names the client's IP address and port, which then replace the
  // socket's peer address; false for LOCAL, UNKNOWN/UNSPEC and UNIX sockets.
  bool has_client_address() const {
    return command == ProxyCommand::proxy &&
           (family == ProxyFamily::inet || family == ProxyFamily::inet6);
  }

  // The first TLV of the type, if any. Views point into tlvs.
  std::optional<std::string_view> find_tlv(std::uint8_t type) const;
  std::optional<std::string_view> alpn() const { return find_tlv(pp2_type::alpn); }
  std::optional<std::string_view> authority() const { return find_tlv(pp2_type::authority); }
  std::optional<std::string_view> unique_id() const { return find_tlv(pp2_type::unique_id); }
  std::optional<std::string_view> netns() const { return find_tlv(pp2_type::netns); }
  // The first PP2_TYPE_SSL TLV decoded (parse_proxy_header() has validated its layout).
  std::optional<ProxySsl> ssl() const;

  friend bool operator==(const ProxyHeader&, const ProxyHeader&) = default;
};

struct ProxyIncomplete {
  std::size_t at_least = 1; // a lower bound of the further bytes needed

  friend bool operator==(const ProxyIncomplete&, const ProxyIncomplete&) = default;
};

struct ProxyComplete {
  ProxyHeader header;
  std::size_t consumed = 0; // header bytes at the start of the input

  friend bool operator==(const ProxyComplete&, const ProxyComplete&) = default;
};

using ProxyHeaderResult = std::variant<ProxyIncomplete, ProxyComplete, Error>;

// Parses the header at the start of `bytes` (the connection's first bytes so far).
// Errors: Errc::syntax (wrong signature, malformed field, bad CRC32C), Errc::line_too_long
// (no CRLF within a v1 line's 107 bytes), Errc::too_many (v2 length or TLV count above the
// limits above).
ProxyHeaderResult parse_proxy_header(std::span<const std::uint8_t> bytes);
ProxyHeaderResult parse_proxy_header(std::string_view bytes);

// A PROXY TCP header from address text ("192.0.2.1", "2001:db8::1"): the family follows
// the address, and both addresses must be of one family. Addresses are canonicalized.
Result<ProxyHeader> make_proxy_tcp_header(std::string_view source, std::uint16_t source_port,
                                          std::string_view destination,
                                          std::uint16_t destination_port, int version = 1);

// Serializers (for tests, benchmarks and a simulated balancer). The header's `version`
// field is ignored: the function chosen decides.
// v1: a PROXY inet/inet6 stream header gives "PROXY TCP4|TCP6 ...\r\n"; anything else that
// v1 cannot express (LOCAL, UNSPEC, UNIX, dgram) gives "PROXY UNKNOWN\r\n". TLVs are
// dropped. Errors for address text that is not of the family.
Result<std::string> make_proxy_header_v1(const ProxyHeader& header);
// v2: LOCAL gives the 16-byte LOCAL header with family UNSPEC; PROXY with an unspec family
// or transport gives no address block. TLVs follow in order; a CRC32C TLV (4 bytes) gets
// the checksum of the result. Errors for bad address text, a TLV above 65535 bytes or a
// total above proxy_v2_max_length.
Result<std::vector<std::uint8_t>> make_proxy_header_v2(const ProxyHeader& header);

} // namespace icalgate::protocol
