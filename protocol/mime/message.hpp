#pragma once
// The parsed MIME tree of one message: one pass over the raw bytes records, per part, where
// its header and body lie, their sizes (physical and CRLF-converted "virtual", as Dovecot
// counts them) and the parsed Content-* headers. BODYSTRUCTURE, ENVELOPE and section bytes
// are computed from this tree (bodystructure.hpp, envelope.hpp, section.hpp).

#include "protocol/mime/header.hpp"
#include "protocol/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::protocol::mime {

struct MessageSize {
  std::uint64_t physical = 0;
  std::uint64_t virtual_size = 0; // with every bare LF counted as CRLF
  std::uint32_t lines = 0;

  MessageSize& operator+=(const MessageSize& o) {
    physical += o.physical;
    virtual_size += o.virtual_size;
    lines += o.lines;
    return *this;
  }
};

// Dovecot's message_part flags that decide how a part is written and addressed.
enum PartFlag : unsigned {
  kMultipart = 0x01,
  kMultipartDigest = 0x02,
  kMessageRfc822 = 0x04,
  kText = 0x08,
  kHasNuls = 0x20,
  kIsMime = 0x40,
  // A multipart or message/rfc822 past the nesting limit, kept as an opaque leaf.
  kOverflow = 0x80,
};

struct MimePart {
  std::size_t offset = 0; // where the header starts in the raw message
  MessageSize header_size;
  MessageSize body_size;
  unsigned flags = 0;
  std::vector<HeaderField> headers;
  ContentInfo content;
  std::vector<MimePart> children;

  std::size_t body_offset() const { return offset + header_size.physical; }
  std::size_t end_offset() const { return body_offset() + body_size.physical; }
  bool is(PartFlag f) const { return (flags & f) != 0; }
};

// Bounds on untrusted structure. Nesting and part counts follow Dovecot 2.3's defaults
// (message_max_nested_mime_parts = 100, max_total_mime_parts = 10000): past them Dovecot
// stops descending and treats the rest as plain body, and so do we.
struct ParseLimits {
  unsigned max_nested_parts = 100;
  unsigned max_total_parts = 10000;
  std::size_t max_header_fields = 10000; // per part; further fields are not indexed
  std::size_t max_message_size = std::size_t{256} << 20;
};

class Message {
 public:
  const std::string& raw() const { return raw_; }
  const MimePart& root() const { return root_; }
  // RFC822.SIZE: the CRLF-converted size.
  std::uint64_t virtual_size() const {
    return root_.header_size.virtual_size + root_.body_size.virtual_size;
  }

 private:
  friend Result<Message> parse_message(std::string bytes, const ParseLimits& limits);
  std::string raw_;
  MimePart root_;
};

// The message as a Dovecot mailbox stores it when a client APPENDs it (mail_save_crlf = no):
// the CR of every CRLF pair is dropped, so "\r\r\n" reads back as "\r\n", and a CR at the
// very end is lost. Only needed to reproduce a Dovecot server's answers exactly (icalgate
// inspect); the gateway parses the bytes it relays as they are.
std::string dovecot_stored_form(std::string_view raw);

// Parses one message. Never fails on malformed MIME (like Dovecot, every byte sequence is a
// message); fails only when `bytes` exceeds limits.max_message_size.
Result<Message> parse_message(std::string bytes, const ParseLimits& limits = {});

} // namespace icalgate::protocol::mime
