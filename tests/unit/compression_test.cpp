#include "proxy/compression.hpp"

#include <catch2/catch_test_macros.hpp>

#include <zlib.h>

#include <string>

using icalgate::proxy::Compression;

namespace {

// The peer's side, with zlib directly: a client that keeps one raw deflate stream (32 KiB
// window) for the whole connection and flushes after each command.
struct Peer {
  z_stream out{};
  z_stream in{};
  Peer() {
    REQUIRE(deflateInit2(&out, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    REQUIRE(inflateInit2(&in, -15) == Z_OK);
  }
  ~Peer() {
    deflateEnd(&out);
    inflateEnd(&in);
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  std::string compress(const std::string& text) {
    std::string result(deflateBound(&out, text.size()) + 64, '\0');
    out.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    out.avail_in = static_cast<uInt>(text.size());
    out.next_out = reinterpret_cast<Bytef*>(result.data());
    out.avail_out = static_cast<uInt>(result.size());
    REQUIRE(deflate(&out, Z_SYNC_FLUSH) == Z_OK);
    REQUIRE(out.avail_in == 0);
    result.resize(result.size() - out.avail_out);
    return result;
  }
  std::string decompress(const std::string& data) {
    std::string result;
    in.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    in.avail_in = static_cast<uInt>(data.size());
    char chunk[4096];
    do {
      in.next_out = reinterpret_cast<Bytef*>(chunk);
      in.avail_out = sizeof chunk;
      const int rc = inflate(&in, Z_SYNC_FLUSH);
      REQUIRE((rc == Z_OK || rc == Z_BUF_ERROR));
      result.append(chunk, sizeof chunk - in.avail_out);
    } while (in.avail_in != 0 || in.avail_out == 0);
    return result;
  }
};

// Everything `gateway` makes of `data`, fed in pieces of `piece` bytes into an output buffer
// of `room` bytes, as the stream does.
std::string inflate_all(Compression& gateway, const std::string& data, std::size_t piece,
                        std::size_t room) {
  std::string text;
  std::string buffer(room, '\0');
  std::size_t at = 0;
  while (at < data.size() || gateway.pending_output()) {
    const std::string_view in = std::string_view(data).substr(at, piece);
    std::size_t consumed = 0;
    std::size_t produced = 0;
    REQUIRE(gateway.decompress(in, consumed, buffer.data(), buffer.size(), produced));
    at += consumed;
    text.append(buffer, 0, produced);
    if (consumed == 0 && produced == 0) {
      FAIL("no progress with " << data.size() - at << " bytes left");
    }
  }
  return text;
}

std::string header_block(int n) {
  return "* " + std::to_string(n) + " FETCH (UID " + std::to_string(n + 1000) +
         " RFC822.SIZE 4711 BODY[HEADER.FIELDS (FROM SUBJECT)] {60}\r\nFrom: Megan Bowen "
         "<meganb@contoso.com>\r\nSubject: Quarterly review\r\n\r\n)\r\n";
}

} // namespace

TEST_CASE("compression: what the gateway sends, the peer reads at every flush", "[compression]") {
  Compression gateway;
  Peer client;
  std::string all;
  for (int write = 0; write < 5; ++write) {
    std::string text;
    for (int i = 0; i < 200; ++i) {
      text += header_block(write * 200 + i);
    }
    std::string wire;
    REQUIRE(gateway.compress(text, wire));
    CHECK(wire.size() * 4 < text.size()); // header syncs shrink
    // Each write is whole at the peer without waiting for the next one.
    CHECK(client.decompress(wire) == text);
  }
  std::string empty_wire;
  REQUIRE(gateway.compress("", empty_wire));
  CHECK(client.decompress(empty_wire).empty());
}

TEST_CASE("compression: what the peer sends is read back in any pieces", "[compression]") {
  Compression gateway;
  Peer client;
  std::string expected;
  std::string wire;
  for (int i = 0; i < 300; ++i) {
    const std::string command = "a" + std::to_string(i) + " UID FETCH " + std::to_string(i) +
                                " (UID RFC822.SIZE BODY.PEEK[])\r\n";
    expected += command;
    wire += client.compress(command);
  }
  CHECK(inflate_all(gateway, wire, 7, 13) == expected);
}

TEST_CASE("compression: released between bursts, the history still decodes", "[compression]") {
  Compression gateway;
  Peer client;
  const std::string command = "a1 UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER])\r\n";
  std::string buffer(4096, '\0');
  for (int burst = 0; burst < 4; ++burst) {
    // The same command again: the client's deflater sends it as a back-reference.
    const std::string wire = client.compress(command);
    if (burst > 0) {
      CHECK(wire.size() < command.size() / 2);
    }
    std::size_t consumed = 0;
    std::size_t produced = 0;
    REQUIRE(gateway.decompress(wire, consumed, buffer.data(), buffer.size(), produced));
    CHECK(consumed == wire.size());
    CHECK(buffer.substr(0, produced) == command);
    gateway.release();
    // Between bursts only the history is held.
    CHECK(gateway.idle_bytes() == command.size() * static_cast<std::size_t>(burst + 1));
  }
}

TEST_CASE("compression: a corrupt stream is an error", "[compression]") {
  Compression gateway;
  std::string buffer(64, '\0');
  std::size_t consumed = 0;
  std::size_t produced = 0;
  // Block type 3 is reserved in deflate.
  CHECK_FALSE(
      gateway.decompress("\xff\xff\xff\xff", consumed, buffer.data(), buffer.size(), produced));
}

TEST_CASE("compression: a command split across reads is not released mid-block", "[compression]") {
  Compression gateway;
  Peer client;
  std::string command = "a1 APPEND INBOX {4000}\r\n";
  for (int i = 0; command.size() < 4000; ++i) {
    command += "line " + std::to_string(i * 7919 % 1000) + " of the message\r\n";
  }
  const std::string wire = client.compress(command);
  const std::size_t half = wire.size() / 2;
  std::string buffer(8192, '\0');
  std::size_t consumed = 0;
  std::size_t produced = 0;
  REQUIRE(gateway.decompress(std::string_view(wire).substr(0, half), consumed, buffer.data(),
                             buffer.size(), produced));
  std::string text = buffer.substr(0, produced);
  // The connection waits for the rest: the decompressor holds half a block and stays.
  gateway.release();
  CHECK(gateway.idle_bytes() == 0);
  REQUIRE(gateway.decompress(std::string_view(wire).substr(half), consumed, buffer.data(),
                             buffer.size(), produced));
  text += buffer.substr(0, produced);
  CHECK(text == command);
  // Now at the client's flush: released to its history.
  gateway.release();
  CHECK(gateway.idle_bytes() == command.size());
}

TEST_CASE("compression: after data that does not repeat, Huffman coding until text returns",
          "[compression]") {
  Compression gateway;
  Peer client;
  // Attachment-like: base64 of pseudo-random bytes, which LZ77 cannot shrink below 3/4.
  std::string base64;
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::uint32_t x = 12345;
  while (base64.size() < 32 * 1024) {
    for (int i = 0; i < 76; ++i) {
      x = x * 1103515245U + 12345U;
      base64 += alphabet[(x >> 16) & 63];
    }
    base64 += "\r\n";
  }
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text += header_block(i);
  }
  const auto send = [&](const std::string& data) {
    std::string wire;
    REQUIRE(gateway.compress(data, wire));
    CHECK(client.decompress(wire) == data);
    return wire.size();
  };
  const std::size_t text_full = send(text);
  CHECK(text_full * 5 < text.size());
  CHECK(send(base64) * 4 > base64.size() * 3 - base64.size() / 20); // about 3/4
  // Huffman-only now: text shrinks far less ...
  const std::size_t text_huffman = send(text);
  CHECK(text_huffman > text_full * 3);
  // ... until the next full attempt notices it (within 16 writes), and stays with it (the
  // same text again, now largely a reference to what was just sent).
  std::size_t last = text_huffman;
  for (int i = 0; i < 16; ++i) {
    last = send(text);
  }
  CHECK(last <= text_full);
}

TEST_CASE("compression: small writes refer back to what was sent before", "[compression]") {
  Compression gateway;
  Peer client;
  // A message relayed in the pieces the upstream delivered: each 512 bytes alone hardly
  // shrinks, but the text repeats every 2 KiB, and the client's window holds the last copy.
  std::string block;
  std::uint32_t x = 7;
  while (block.size() < 2048) {
    x = x * 1103515245U + 12345U;
    block += "Line " + std::to_string(x >> 8) + " of a long plain-text report\r\n";
  }
  std::string body;
  for (int i = 0; i < 32; ++i) {
    body += block;
  }
  std::size_t wire_size = 0;
  std::string seen;
  for (std::size_t at = 0; at < body.size(); at += 512) {
    std::string wire;
    REQUIRE(gateway.compress(std::string_view(body).substr(at, 512), wire));
    wire_size += wire.size();
    seen += client.decompress(wire);
  }
  CHECK(seen == body);
  CHECK(wire_size * 8 < body.size());
}
