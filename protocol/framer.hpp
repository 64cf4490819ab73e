#pragma once
// Incremental IMAP framing: splits a byte stream (either direction) into lines and literals
// before anything is parsed, so that literal data can never be mistaken for protocol and
// every untrusted size is bounded. The framer copies at most one partial line; literal data
// is handed on in pieces exactly as it arrives.
//
// Usage (pull): feed() a chunk, then call next() until it returns std::nullopt, then feed()
// the next chunk. Any chunking of the same stream gives the same frames, except that
// literal and skipped bytes are cut into pieces where the chunks were cut.
//
// Lifetime of Frame::bytes: a view either into the chunk passed to feed() or into the
// framer's own line buffer (only for a line that spanned chunks). It stays valid until the
// next call of feed() or next(), provided the caller keeps the fed chunk alive and
// unchanged until next() has returned std::nullopt for it.
//
// Concatenating Frame::bytes of all frames reproduces the input byte for byte, errors
// included, so a relay can forward frames untouched while parsing only what it needs.
//
// Where a literal is recognised: "{n}", "{n+}", "~{n}" or "~{n+}" right before the line
// terminator, outside a quoted string; in the server direction not on the first line of a
// status response ("* OK|NO|BAD|BYE|PREAUTH", "tag OK|NO|BAD") nor of a continuation
// request ("+ ..."), whose free text may end in "{5}" without a literal following.

#include "protocol/result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace icalgate::protocol {

enum class Direction : std::uint8_t {
  client_to_server, // commands
  server_to_client, // responses
};

struct FramerOptions {
  // Longest accepted line, terminator included. Also bounds the framer's buffer.
  std::size_t max_line = 64 * 1024;
  // Largest accepted literal. Not a memory bound (literals are never buffered), a sanity
  // bound the session picks per direction. LITERAL-'s 4096 cap is the session's business.
  std::uint64_t max_literal = 256ULL * 1024 * 1024;
};

struct LiteralAnnouncement {
  std::uint64_t size = 0;         // saturates at UINT64_MAX for absurd digit strings
  bool non_synchronizing = false; // {n+}: LITERAL+ / LITERAL-
  bool binary = false;            // ~{n}: literal8 (RFC 3516)

  friend bool operator==(const LiteralAnnouncement&, const LiteralAnnouncement&) = default;
};

enum class FrameKind : std::uint8_t {
  line,    // one whole line, terminator (CRLF or bare LF) included
  literal, // a piece of literal data
  skipped, // bytes of a rejected message: counted through (literals included), not framed
};

struct Frame {
  FrameKind kind = FrameKind::line;
  std::string_view bytes;
  // line: the literal announced at its end, which follows as literal frames (unless the
  // line carries an error: then it follows as skipped frames or, for a rejected
  // synchronizing literal from a client, not at all).
  std::optional<LiteralAnnouncement> literal;
  // Set on the frame where a message is rejected:
  //  - syntax: a line contains NUL (line frame);
  //  - literal_too_large: the announced literal exceeds max_literal (line frame);
  //  - line_too_long: the line exceeds max_line (skipped frame holding exactly the first
  //    max_line bytes of the line, so the tag can still be read to answer BAD).
  // The rest of the rejected message then comes as skipped frames, the last of which has
  // message_end; the framer resynchronises after it. Rejection moves no message boundary,
  // except that a client's rejected synchronizing literal is taken as never sent (and a
  // literal whose size cannot be known ends framing for good: all else is skipped).
  std::optional<Errc> error;
  bool continuation = false; // server_to_client: a continuation request "+ ..."
  bool literal_end = false;  // literal: the last piece of this literal
  bool message_end = false;  // these bytes end a whole command or response
};

// Quoted-string state across a line: "{5}" inside a quoted string is text, as it is for
// every tokenizing IMAP peer, so the framer must not see a literal there either.
struct QuoteScan {
  bool in_quote = false;
  bool escaped = false; // the previous byte was a backslash inside a quoted string

  void scan(std::string_view bytes) noexcept;
};

class Framer {
 public:
  explicit Framer(Direction direction, FramerOptions options = {});

  // Hands over the next chunk of the stream. Call only once next() has returned
  // std::nullopt for the previous chunk.
  void feed(std::string_view chunk);

  // The next frame, or std::nullopt when the fed chunk is used up. Partial lines are
  // buffered (bounded by max_line); literal pieces are views into the chunk.
  std::optional<Frame> next();

  // Client direction: the session refuses a synchronizing literal (answers BAD instead of
  // "+"), so the client will not send it and the next byte starts a new command. Valid only
  // right after the line frame announcing it; returns false (and changes nothing) otherwise.
  bool cancel_literal();

  // True when no message is in progress: the next byte starts a new command or response.
  bool at_message_boundary() const noexcept;
  // Bytes held in the line buffer (at most max_line).
  std::size_t buffered() const noexcept { return line_.size(); }
  // Bytes of the fed chunk not framed yet.
  std::size_t unconsumed() const noexcept { return in_.size(); }

 private:
  enum class State : std::uint8_t { line, literal, skip_line, skip_literal };

  std::optional<Frame> next_line();
  // Consumes the next n bytes of the chunk as (the end of) the current line: a view into
  // the chunk, or into line_ when earlier bytes of the line were buffered.
  std::string_view take_line(std::size_t n);
  std::optional<Frame> next_literal();
  std::optional<Frame> next_skip_line();
  std::optional<Frame> next_skip_literal();
  Frame complete_line(std::string_view line);
  void reject_announcement(Frame& frame, const std::optional<LiteralAnnouncement>& literal);
  void end_message();
  void remember_tail(std::string_view bytes);

  Direction direction_;
  FramerOptions options_;
  State state_ = State::line;
  std::string_view in_;          // the unconsumed rest of the fed chunk
  std::string line_;             // a line that spans chunks, bounded by max_line
  bool release_line_ = false;    // line_ was handed out; clear it on the next call
  bool message_start_ = true;    // the next line is the first line of a message
  bool literal_pending_ = false; // a literal was announced and none of it delivered yet
  bool pending_sync_ = false;    // ... and it is a synchronizing one
  std::uint64_t remaining_ = 0;  // bytes left of the current (or skipped) literal
  // While skipping an overlong line: whether its end may announce a literal, and its last
  // bytes, enough to recognise an announcement so that resynchronisation stays exact.
  bool skip_may_announce_ = true;
  static constexpr std::size_t tail_capacity = 64;
  std::array<char, tail_capacity> tail_{};
  std::size_t tail_size_ = 0;
  bool tail_truncated_ = false; // the skipped line is longer than the tail
  QuoteScan skip_quotes_;
};

// The literal announced at the end of a complete line ("{n}", "{n+}", "~{n}", "~{n+}"
// before CRLF or LF), regardless of grammar context.
std::optional<LiteralAnnouncement> find_literal_announcement(std::string_view line);

} // namespace icalgate::protocol
