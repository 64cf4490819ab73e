// Transfer decoding for BINARY[]. Expected outputs are Dovecot 2.3.19's answers to
// BINARY.PEEK[1] for single-part messages with these bodies (tests/differential/
// dovecot_fetch.py); "invalid" means Dovecot answered NO [PARSE] or dropped the connection.

#include "protocol/mime/transfer_decoding.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

using icalgate::protocol::mime::classify_transfer_encoding;
using icalgate::protocol::mime::decode_base64;
using icalgate::protocol::mime::decode_quoted_printable;
using icalgate::protocol::mime::TransferEncoding;

TEST_CASE("mime: base64 decoding follows Dovecot", "[mime]") {
  CHECK(decode_base64("QU JD RE VG") == std::optional<std::string>("ABCDEF"));
  CHECK(decode_base64("QUJDRA==\r\n\r\n") == std::optional<std::string>("ABCD"));
  CHECK(decode_base64("T3JkcmUgZHUgam91ciA6IGNvbmNlcHRpb24uDQo=") ==
        std::optional<std::string>("Ordre du jour : conception.\r\n"));
  // data after the padding, a lone '=', bad characters, unfinished groups
  CHECK_FALSE(decode_base64("QUJD\r\nRA==\r\nRUY=\r\n"));
  CHECK_FALSE(decode_base64("QUJDRA==RUY="));
  CHECK_FALSE(decode_base64("QUJD\r\n=\r\n"));
  CHECK_FALSE(decode_base64("SGVsbG8g!!!d29y*bGQ="));
  CHECK_FALSE(decode_base64("QUJDRA="));
  CHECK_FALSE(decode_base64("QUJDR"));
  CHECK_FALSE(decode_base64("QUJDRA"));
}

// Groups of four are decoded on a fast path, everything else (blanks, padding, errors) on the
// careful one: every split between the two must give the bytes that were encoded.
TEST_CASE("mime: base64 decoding round-trips bytes whatever the line breaks", "[mime]") {
  static constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::mt19937 random(20261127);
  for (int round = 0; round < 300; ++round) {
    std::string bytes(random() % 200, '\0');
    for (char& b : bytes) {
      b = static_cast<char>(random() & 0xff);
    }
    std::string flat;
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
      std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
      if (i + 1 < bytes.size()) {
        v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
      }
      if (i + 2 < bytes.size()) {
        v |= static_cast<unsigned char>(bytes[i + 2]);
      }
      flat += alphabet[(v >> 18) & 63];
      flat += alphabet[(v >> 12) & 63];
      flat += i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=';
      flat += i + 2 < bytes.size() ? alphabet[v & 63] : '=';
    }
    // Line breaks and blanks at arbitrary offsets, not only between groups.
    std::string encoded;
    const std::size_t line = 1 + random() % 80;
    for (std::size_t i = 0; i < flat.size(); ++i) {
      if (i > 0 && i % line == 0) {
        encoded += random() % 2 == 0 ? "\r\n" : " \t";
      }
      encoded += flat[i];
    }
    INFO("encoded: " << encoded);
    CHECK(decode_base64(encoded) == std::optional<std::string>(bytes));
    if (!encoded.empty()) {
      std::string broken = encoded;
      broken[random() % broken.size()] = '*';
      CHECK_FALSE(decode_base64(broken));
    }
  }
}

TEST_CASE("mime: quoted-printable decoding follows Dovecot", "[mime]") {
  // lower-case hex, trailing blanks dropped, soft breaks with blanks after '='
  CHECK(decode_quoted_printable("a=c3=A9b  \r\nsoft= \r\nnext\r\nx=\r\n") ==
        std::optional<std::string>("a\xc3\xa9"
                                   "b\r\nsoftnext\r\nx"));
  // bare LF line ends become CRLF
  CHECK(decode_quoted_printable("line\nbare lf=\nx\n") ==
        std::optional<std::string>("line\r\nbare lfx\r\n"));
  CHECK(decode_quoted_printable("tab\t\r\nend") == std::optional<std::string>("tab\r\nend"));
  CHECK_FALSE(decode_quoted_printable("a=4\r\n"));
  CHECK_FALSE(decode_quoted_printable("a==3D\r\n"));
  CHECK_FALSE(decode_quoted_printable("bad escapes =ZZ\r\n"));
  // a soft break with nothing after it
  CHECK_FALSE(decode_quoted_printable("ends with a soft break="));
}

TEST_CASE("mime: transfer encodings are classified case-insensitively", "[mime]") {
  CHECK(classify_transfer_encoding(std::nullopt) == TransferEncoding::identity);
  CHECK(classify_transfer_encoding(std::string("8BIT")) == TransferEncoding::identity);
  CHECK(classify_transfer_encoding(std::string("Binary")) == TransferEncoding::identity);
  CHECK(classify_transfer_encoding(std::string("BASE64")) == TransferEncoding::base64);
  CHECK(classify_transfer_encoding(std::string("Quoted-Printable")) ==
        TransferEncoding::quoted_printable);
  CHECK(classify_transfer_encoding(std::string("x-uuencode")) == TransferEncoding::unknown);
}
