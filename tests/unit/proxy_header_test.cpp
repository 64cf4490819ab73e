#include "protocol/proxy_header.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

using namespace icalgate::protocol;

namespace {

using namespace std::string_literals;

const std::string v2_sig("\r\n\r\n\0\r\nQUIT\n", 12);

std::string be16(std::size_t v) {
  return {static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)};
}

// Hand-built v2 header: signature, ver/cmd, fam, length of body, body.
std::string v2(std::uint8_t ver_cmd, std::uint8_t fam, const std::string& body) {
  return v2_sig + static_cast<char>(ver_cmd) + static_cast<char>(fam) + be16(body.size()) + body;
}

std::string tlv(std::uint8_t type, const std::string& value) {
  return static_cast<char>(type) + be16(value.size()) + value;
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int v : values) {
    out.push_back(static_cast<char>(v));
  }
  return out;
}

const std::string inet_block = bytes({192, 0, 2, 1, 203, 0, 113, 7, 0x9C, 0x40, 0x03, 0xE1});

ProxyComplete complete(std::string_view input) {
  auto r = parse_proxy_header(input);
  if (const auto* e = std::get_if<Error>(&r)) {
    FAIL("unexpected error: " << e->message);
  }
  REQUIRE(std::holds_alternative<ProxyComplete>(r));
  return std::get<ProxyComplete>(r);
}

Error error(std::string_view input) {
  auto r = parse_proxy_header(input);
  REQUIRE(std::holds_alternative<Error>(r));
  return std::get<Error>(r);
}

std::size_t incomplete(std::string_view input) {
  auto r = parse_proxy_header(input);
  if (const auto* e = std::get_if<Error>(&r)) {
    FAIL("unexpected error: " << e->message);
  }
  REQUIRE(std::holds_alternative<ProxyIncomplete>(r));
  return std::get<ProxyIncomplete>(r).at_least;
}

std::string as_string(const std::vector<std::uint8_t>& v) {
  return {v.begin(), v.end()};
}

} // namespace

TEST_CASE("proxy_header: v1 TCP4 spec example leaves the following bytes", "[proxy_header]") {
  const std::string line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  const auto c = complete(line + "a1 CAPABILITY\r\n");
  CHECK(c.consumed == line.size());
  CHECK(c.header.version == 1);
  CHECK(c.header.command == ProxyCommand::proxy);
  CHECK(c.header.family == ProxyFamily::inet);
  CHECK(c.header.transport == ProxyTransport::stream);
  CHECK(c.header.source_address == "192.168.0.1");
  CHECK(c.header.destination_address == "192.168.0.11");
  CHECK(c.header.source_port == 56324);
  CHECK(c.header.destination_port == 443);
  CHECK(c.header.tlvs.empty());
  CHECK(c.header.has_client_address());
}

TEST_CASE("proxy_header: v1 boundary values", "[proxy_header]") {
  const auto c = complete("PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n");
  CHECK(c.header.source_address == "255.255.255.255");
  CHECK(c.header.destination_address == "0.0.0.0");
  CHECK(c.header.source_port == 65535);
  CHECK(c.header.destination_port == 0);
}

TEST_CASE("proxy_header: v1 IPv6 forms are canonicalized", "[proxy_header]") {
  struct Case {
    std::string text;
    std::string canonical;
  };
  const std::vector<Case> cases{
      {"2001:db8::1", "2001:db8::1"},
      {"2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
      {"::", "::"},
      {"::1", "::1"},
      {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
      {"64:ff9b::198.51.100.7", "64:ff9b::c633:6407"},
      {"fe80::a:B:c:D", "fe80::a:b:c:d"},
  };
  for (const auto& [text, canonical] : cases) {
    INFO(text);
    const auto c = complete("PROXY TCP6 " + text + " ::1 1 993\r\n");
    CHECK(c.header.family == ProxyFamily::inet6);
    CHECK(c.header.source_address == canonical);
    CHECK(c.header.destination_address == "::1");
    CHECK(c.header.has_client_address());
  }
}

TEST_CASE("proxy_header: v1 invalid addresses and ports", "[proxy_header]") {
  const std::vector<std::string> lines{
      "PROXY TCP4 192.168.0.01 10.0.0.1 1 2\r\n", // heading zero
      "PROXY TCP4 192.168.0.1 10.0.0.1 01 2\r\n", // heading zero in a port
      "PROXY TCP4 192.168.0.1 10.0.0.1 1 65536\r\n",
      "PROXY TCP4 192.168.0.256 10.0.0.1 1 2\r\n",
      "PROXY TCP4 192.168.0 10.0.0.1 1 2\r\n",
      "PROXY TCP4 192.168.0.1.5 10.0.0.1 1 2\r\n",
      "PROXY TCP4 192.168..1 10.0.0.1 1 2\r\n",
      "PROXY TCP4 1234.1.1.1 10.0.0.1 1 2\r\n",
      "PROXY TCP4 ::1 10.0.0.1 1 2\r\n", // family mismatch
      "PROXY TCP6 10.0.0.1 ::1 1 2\r\n",
      "PROXY TCP6 1::2::3 ::1 1 2\r\n",
      "PROXY TCP6 ::: ::1 1 2\r\n",
      "PROXY TCP6 12345::1 ::1 1 2\r\n",
      "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
      "PROXY TCP6 ::ffff:192.0.2.01 ::1 1 2\r\n",
      "PROXY TCP4 10.0.0.1  10.0.0.2 1 2\r\n",  // two spaces
      "PROXY TCP4 10.0.0.1 10.0.0.2 1\r\n",     // missing field
      "PROXY TCP4 10.0.0.1 10.0.0.2 1 2 3\r\n", // extra field
      "PROXY TCP4 10.0.0.1 10.0.0.2 1 2 \r\n",  // trailing space
      "PROXY TCP4 \r\n",
      "PROXY TCP4 10.0.0.1 10.0.0.2 1 -2\r\n",
      "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
  };
  for (const auto& line : lines) {
    INFO(line);
    CHECK(error(line).code == Errc::syntax);
  }
}

TEST_CASE("proxy_header: v1 UNKNOWN ignores the rest of its line", "[proxy_header]") {
  const auto short_form = complete("PROXY UNKNOWN\r\nx");
  CHECK(short_form.consumed == 15);
  CHECK(short_form.header.family == ProxyFamily::unspec);
  CHECK(short_form.header.source_address.empty());
  CHECK_FALSE(short_form.header.has_client_address());

  // The spec's worst case: exactly 107 bytes.
  const std::string f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const std::string longest = "PROXY UNKNOWN " + f + " " + f + " 65535 65535\r\n";
  REQUIRE(longest.size() == proxy_v1_max_line);
  const auto long_form = complete(longest);
  CHECK(long_form.consumed == 107);
  CHECK(long_form.header == short_form.header);

  CHECK(complete("PROXY UNKNOWN whatever \x01 here\r\n").header.family == ProxyFamily::unspec);
  CHECK(error("PROXY UNKNOWNX\r\n").code == Errc::syntax);
}

TEST_CASE("proxy_header: v1 line endings and length", "[proxy_header]") {
  CHECK(error("PROXY TCP4 10.0.0.1 10.0.0.2 1 2\n").code == Errc::syntax);
  CHECK(error("PROXY TCP4 10.0.0.1 10.0.0.2 1 2\rX").code == Errc::syntax);
  CHECK(error("PROXY UNKNOWN\n").code == Errc::syntax);
  // No CRLF within 107 bytes.
  const std::string no_crlf = "PROXY UNKNOWN " + std::string(93, 'a');
  REQUIRE(no_crlf.size() == 107);
  CHECK(incomplete(no_crlf.substr(0, 106)) == 1);
  CHECK(error(no_crlf).code == Errc::line_too_long);
  // A CR as the 107th byte cannot be followed by LF within the limit.
  CHECK(error(no_crlf.substr(0, 106) + "\r").code == Errc::line_too_long);
  CHECK(error(no_crlf.substr(0, 106) + "\r\n").code == Errc::line_too_long);
}

TEST_CASE("proxy_header: non-PROXY bytes are rejected at once", "[proxy_header]") {
  CHECK(error("a").code == Errc::syntax);
  CHECK(error("a1 CAPABILITY\r\n").code == Errc::syntax);
  CHECK(error("\x16\x03\x01").code == Errc::syntax); // a TLS ClientHello
  CHECK(error("proxy TCP4").code == Errc::syntax);
  CHECK(error("PROXX").code == Errc::syntax);
  CHECK(error("PROXY TCP5").code == Errc::syntax);
  CHECK(error("PROXY UNKNOWNX").code == Errc::syntax);
  CHECK(incomplete("PROXY UNKNOWN ") == 1);
  CHECK(error("PROXY TCP4 10.0.0.x").code == Errc::syntax); // before any CRLF
  CHECK(error("PROXY TCP6 ::1\x00"s).code == Errc::syntax);
  CHECK(error("\r\n\r\n\x00\r\nQUIX"s).code == Errc::syntax);
  CHECK(error("\r\nX").code == Errc::syntax);
}

TEST_CASE("proxy_header: error messages quote little and sanitize", "[proxy_header]") {
  const auto e = error("\r\n\r\nGET /\x1b[31m evil\r\n" + std::string(200, 'x'));
  CHECK(e.message.size() < 120);
  for (const char c : e.message) {
    CHECK(static_cast<unsigned char>(c) >= 0x20);
    CHECK(static_cast<unsigned char>(c) < 0x7F);
  }
  CHECK(e.message.find("xxxxxxxxxx") == std::string::npos);
}

TEST_CASE("proxy_header: prefixes are incomplete", "[proxy_header]") {
  CHECK(incomplete("") == 15);
  CHECK(incomplete("P") == 14);
  CHECK(incomplete("PROXY TCP4 1") == 3);
  CHECK(incomplete("PROXY TCP4 10.0.0.1 10.0.0.2 1 2") == 1);
  CHECK(incomplete("PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r") == 1);
  CHECK(incomplete("\r") == 15);
  CHECK(incomplete(v2_sig) == 4);
  CHECK(incomplete(v2(0x21, 0x11, inet_block).substr(0, 16)) == 12);
}

TEST_CASE("proxy_header: every split point gives Incomplete, then the same result",
          "[proxy_header]") {
  const std::vector<std::string> headers{
      "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
      "PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 2\r\n",
      "PROXY UNKNOWN\r\n",
      v2(0x21, 0x11, inet_block),
      v2(0x21, 0x11, inet_block + tlv(pp2_type::authority, "imap.example.com")),
      v2(0x20, 0x00, ""),
      v2(0x20, 0x11, inet_block),
  };
  const std::string after = "a1 CAPABILITY\r\n";
  for (const auto& header : headers) {
    INFO(header);
    const auto whole = complete(header + after);
    CHECK(whole.consumed == header.size());
    for (std::size_t n = 0; n < header.size(); ++n) {
      const std::size_t at_least = incomplete(header.substr(0, n));
      CHECK(at_least >= 1);
      CHECK(n + at_least <= header.size());
    }
    CHECK(complete(header) == whole);
  }
}

TEST_CASE("proxy_header: v2 TCP4 leaves the IMAP bytes", "[proxy_header]") {
  const std::string header = v2(0x21, 0x11, inet_block);
  const auto c = complete(header + "a1 CAPABILITY\r\n");
  CHECK(c.consumed == 28);
  CHECK(c.header.version == 2);
  CHECK(c.header.command == ProxyCommand::proxy);
  CHECK(c.header.family == ProxyFamily::inet);
  CHECK(c.header.transport == ProxyTransport::stream);
  CHECK(c.header.source_address == "192.0.2.1");
  CHECK(c.header.destination_address == "203.0.113.7");
  CHECK(c.header.source_port == 40000);
  CHECK(c.header.destination_port == 993);
  CHECK(c.header.has_client_address());
}

TEST_CASE("proxy_header: v2 TCP6, UDP and UNIX", "[proxy_header]") {
  std::string addresses = bytes({0x20, 0x01, 0x0d, 0xb8}) + std::string(11, '\0') + "\x01"s +
                          std::string(15, '\0') + "\x01"s + be16(1234) + be16(143);
  const auto tcp6 = complete(v2(0x21, 0x21, addresses));
  CHECK(tcp6.consumed == 52);
  CHECK(tcp6.header.family == ProxyFamily::inet6);
  CHECK(tcp6.header.source_address == "2001:db8::1");
  CHECK(tcp6.header.destination_address == "::1");
  CHECK(tcp6.header.source_port == 1234);
  CHECK(tcp6.header.destination_port == 143);

  const auto udp = complete(v2(0x21, 0x12, inet_block));
  CHECK(udp.header.transport == ProxyTransport::dgram);
  CHECK(udp.header.source_address == "192.0.2.1");

  std::string src = "/run/lb.sock";
  std::string dst = "\0abstract"s;
  const auto unix_socket = complete(
      v2(0x21, 0x31,
         src + std::string(108 - src.size(), '\0') + dst + std::string(108 - dst.size(), '\0')));
  CHECK(unix_socket.consumed == 16 + 216);
  CHECK(unix_socket.header.family == ProxyFamily::unix_socket);
  CHECK(unix_socket.header.source_address == src);
  CHECK(unix_socket.header.destination_address == dst);
  CHECK_FALSE(unix_socket.header.has_client_address());
}

TEST_CASE("proxy_header: v2 LOCAL and UNSPEC carry no address", "[proxy_header]") {
  const auto bare = complete(v2(0x20, 0x00, "") + "x");
  CHECK(bare.consumed == 16);
  CHECK(bare.header.command == ProxyCommand::local);
  CHECK(bare.header.family == ProxyFamily::unspec);
  CHECK_FALSE(bare.header.has_client_address());

  // A LOCAL header may still carry a block; it is skipped, never used.
  const auto with_block =
      complete(v2(0x20, 0x11, inet_block + tlv(pp2_type::authority, "x")) + "x");
  CHECK(with_block.consumed == 16 + 12 + 4);
  CHECK(with_block.header == bare.header);

  const auto unspec = complete(v2(0x21, 0x00, "anything at all"));
  CHECK(unspec.consumed == 31);
  CHECK(unspec.header.command == ProxyCommand::proxy);
  CHECK(unspec.header.family == ProxyFamily::unspec);
  CHECK(unspec.header.source_address.empty());
  CHECK_FALSE(unspec.header.has_client_address());
}

TEST_CASE("proxy_header: v2 TLVs and typed accessors", "[proxy_header]") {
  const std::string ssl = bytes({pp2_client::ssl | pp2_client::cert_conn, 0, 0, 0, 0}) +
                          tlv(pp2_type::ssl_version, "TLSv1.3") +
                          tlv(pp2_type::ssl_cn, "client.example") +
                          tlv(pp2_type::ssl_cipher, "TLS_AES_128_GCM_SHA256");
  const std::string body = inet_block + tlv(pp2_type::alpn, "imap") +
                           tlv(pp2_type::authority, "imap.example.com") + tlv(pp2_type::noop, "") +
                           tlv(pp2_type::unique_id, "conn-42") + tlv(pp2_type::ssl, ssl) +
                           tlv(pp2_type::netns, "blue") + tlv(0xE0, "\x00\xff"s);
  const auto c = complete(v2(0x21, 0x11, body));
  CHECK(c.header.tlvs.size() == 7);
  CHECK(c.header.alpn() == "imap");
  CHECK(c.header.authority() == "imap.example.com");
  CHECK(c.header.unique_id() == "conn-42");
  CHECK(c.header.netns() == "blue");
  CHECK(c.header.find_tlv(0xE0) == "\x00\xff"s);
  CHECK(c.header.find_tlv(pp2_type::noop) == "");
  CHECK_FALSE(c.header.find_tlv(0xE1).has_value());
  const auto s = c.header.ssl();
  REQUIRE(s.has_value());
  CHECK(s->client_used_tls());
  CHECK(s->client_certificate_verified());
  CHECK(s->verify == 0);
  CHECK(s->version() == "TLSv1.3");
  CHECK(s->common_name() == "client.example");
  CHECK(s->cipher() == "TLS_AES_128_GCM_SHA256");

  const auto unverified =
      complete(v2(0x21, 0x11, inet_block + tlv(pp2_type::ssl, bytes({3, 0, 0, 0, 1}))));
  REQUIRE(unverified.header.ssl().has_value());
  CHECK(unverified.header.ssl()->verify == 1);
  CHECK_FALSE(unverified.header.ssl()->client_certificate_verified());
  CHECK_FALSE(unverified.header.ssl()->version().has_value());
  CHECK_FALSE(complete(v2(0x21, 0x11, inet_block)).header.ssl().has_value());
}

TEST_CASE("proxy_header: v2 errors", "[proxy_header]") {
  // Judged as soon as the byte arrives.
  CHECK(error(v2_sig + "\x11").code == Errc::syntax);     // version 1 nibble
  CHECK(error(v2_sig + "\x22").code == Errc::syntax);     // command 2
  CHECK(error(v2_sig + "\x21\x41").code == Errc::syntax); // family 4
  CHECK(error(v2_sig + "\x21\x13").code == Errc::syntax); // transport 3
  CHECK(error(v2_sig + "\x21\x11" + be16(2049)).code == Errc::too_many);
  CHECK(error(v2_sig + "\x21\x11" + be16(11)).code == Errc::syntax);
  CHECK(error(v2_sig + "\x21\x21" + be16(35)).code == Errc::syntax);
  CHECK(error(v2_sig + "\x21\x31" + be16(215)).code == Errc::syntax);
  // The limit itself is fine (an ignored UNSPEC block here).
  CHECK(complete(v2(0x21, 0x00, std::string(proxy_v2_max_length, 'x'))).consumed ==
        16 + proxy_v2_max_length);

  const std::vector<std::string> bad_tlvs{
      "\x02"s,                                                    // truncated type/length
      "\x02\x00"s,                                                // truncated length
      tlv(pp2_type::authority, "abc").substr(0, 5),               // value cut short
      tlv(pp2_type::ssl, "\x01\x00\x00\x00"s),                    // SSL shorter than 5
      tlv(pp2_type::ssl, "\x01\x00\x00\x00\x00\x21\x00\x05TLS"s), // truncated sub-TLV
      tlv(pp2_type::unique_id, std::string(129, 'u')),
      tlv(pp2_type::crc32c, "\x00\x00\x00"s),
  };
  for (const auto& t : bad_tlvs) {
    INFO(t.size());
    CHECK(error(v2(0x21, 0x11, inet_block + t)).code == Errc::syntax);
  }
  CHECK(complete(v2(0x21, 0x11, inet_block + tlv(pp2_type::unique_id, std::string(128, 'u'))))
            .header.unique_id()
            ->size() == 128);

  std::string many;
  for (std::size_t i = 0; i <= proxy_v2_max_tlvs; ++i) {
    many += tlv(pp2_type::noop, "");
  }
  CHECK(error(v2(0x21, 0x11, inet_block + many)).code == Errc::too_many);
}

TEST_CASE("proxy_header: v2 CRC32C is verified", "[proxy_header]") {
  // Checksum computed independently (RFC 4960 appendix B CRC32c, check value of
  // "123456789" = 0xE3069283).
  const std::string addresses = bytes({127, 0, 0, 1, 127, 0, 0, 2, 0, 1, 0, 2});
  const std::string good =
      v2(0x21, 0x11, addresses + tlv(pp2_type::crc32c, bytes({0xba, 0x84, 0x11, 0x57})));
  const auto c = complete(good);
  CHECK(c.header.source_address == "127.0.0.1");
  CHECK(c.header.find_tlv(pp2_type::crc32c) == bytes({0xba, 0x84, 0x11, 0x57}));

  std::string flipped = good;
  flipped[19] = 2; // source 127.0.0.2
  CHECK(error(flipped).code == Errc::syntax);
  std::string bad_sum = good;
  bad_sum.back() = 0x58;
  CHECK(error(bad_sum).code == Errc::syntax);
  CHECK(error(v2(0x21, 0x11,
                 addresses + tlv(pp2_type::crc32c, bytes({0xba, 0x84, 0x11, 0x57})) +
                     tlv(pp2_type::crc32c, bytes({0, 0, 0, 0}))))
            .code == Errc::syntax);
}

TEST_CASE("proxy_header: make v1 and v2 from address text", "[proxy_header]") {
  auto h4 = make_proxy_tcp_header("192.0.2.1", 40000, "203.0.113.7", 993);
  REQUIRE(h4);
  CHECK(make_proxy_header_v1(*h4).value() == "PROXY TCP4 192.0.2.1 203.0.113.7 40000 993\r\n");
  CHECK(as_string(make_proxy_header_v2(*h4).value()) == v2(0x21, 0x11, inet_block));

  auto h6 = make_proxy_tcp_header("2001:DB8:0::1", 1, "::1", 2, 2);
  REQUIRE(h6);
  CHECK(h6->version == 2);
  CHECK(h6->source_address == "2001:db8::1");
  CHECK(make_proxy_header_v1(*h6).value() == "PROXY TCP6 2001:db8::1 ::1 1 2\r\n");
  const auto parsed = complete(as_string(make_proxy_header_v2(*h6).value()));
  CHECK(parsed.consumed == 52);
  CHECK(parsed.header == *h6);

  CHECK_FALSE(make_proxy_tcp_header("192.0.2.1", 1, "::1", 2).ok());
  CHECK_FALSE(make_proxy_tcp_header("192.0.2.01", 1, "192.0.2.2", 2).ok());
  CHECK_FALSE(make_proxy_tcp_header("host.example", 1, "192.0.2.2", 2).ok());

  ProxyHeader broken = *h4;
  broken.source_address = "not an address";
  CHECK_FALSE(make_proxy_header_v1(broken).ok());
  CHECK_FALSE(make_proxy_header_v2(broken).ok());
}

TEST_CASE("proxy_header: serializers for what v1 cannot express", "[proxy_header]") {
  ProxyHeader local;
  local.command = ProxyCommand::local;
  CHECK(make_proxy_header_v1(local).value() == "PROXY UNKNOWN\r\n");
  CHECK(as_string(make_proxy_header_v2(local).value()) == v2(0x20, 0x00, ""));

  ProxyHeader unix_socket;
  unix_socket.family = ProxyFamily::unix_socket;
  unix_socket.transport = ProxyTransport::stream;
  unix_socket.source_address = "/a";
  unix_socket.destination_address = "/b";
  CHECK(make_proxy_header_v1(unix_socket).value() == "PROXY UNKNOWN\r\n");
  const auto parsed = complete(as_string(make_proxy_header_v2(unix_socket).value()));
  CHECK(parsed.consumed == 16 + 216);
  CHECK(parsed.header.source_address == "/a");
  CHECK(parsed.header.destination_address == "/b");
  unix_socket.source_address = std::string(109, 'p');
  CHECK_FALSE(make_proxy_header_v2(unix_socket).ok());
}

TEST_CASE("proxy_header: v2 round trip with TLVs and a computed CRC32C", "[proxy_header]") {
  auto h = make_proxy_tcp_header("198.51.100.9", 5555, "192.0.2.10", 143, 2);
  REQUIRE(h);
  h->tlvs = {{pp2_type::authority, "imap.example.com"},
             {pp2_type::ssl, bytes({1, 0, 0, 0, 0}) + tlv(pp2_type::ssl_version, "TLSv1.2")},
             {pp2_type::crc32c, std::string(4, '\0')}};
  const auto made = make_proxy_header_v2(*h);
  REQUIRE(made);
  const auto parsed = complete(as_string(*made) + "a1 NOOP\r\n");
  CHECK(parsed.consumed == made->size());
  CHECK(parsed.header.authority() == "imap.example.com");
  CHECK(parsed.header.ssl()->version() == "TLSv1.2");
  // The checksum was filled in (parsing verified it) and survives a second round.
  CHECK(parsed.header.find_tlv(pp2_type::crc32c) != std::string(4, '\0'));
  CHECK(make_proxy_header_v2(parsed.header).value() == *made);

  h->tlvs.push_back({pp2_type::noop, std::string(proxy_v2_max_length, 'n')});
  CHECK(make_proxy_header_v2(*h).error().code == Errc::too_many);
}
