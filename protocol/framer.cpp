#include "protocol/framer.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>

namespace icalgate::protocol {

namespace {

constexpr std::uint64_t saturated = std::numeric_limits<std::uint64_t>::max();
// A line buffer that grew past this is given back once handed out, so that sessions that
// once saw a long line do not keep the memory while idle.
constexpr std::size_t keep_line_capacity = 8 * 1024;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool equals_ignore_case(std::string_view a, std::string_view upper) {
  if (a.size() != upper.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char c = (a[i] >= 'a' && a[i] <= 'z') ? static_cast<char>(a[i] - 'a' + 'A') : a[i];
    if (c != upper[i]) {
      return false;
    }
  }
  return true;
}

// `view` holds the end of a line, terminator included. When `truncated_front` is set the
// line started before `view`; digits that run into its front may have been preceded by
// more digits, so the size is unknown and reported as saturated (skipping "forever" is the
// only safe resynchronisation then).
std::optional<LiteralAnnouncement> parse_announcement(std::string_view view, bool truncated_front) {
  std::size_t end = view.size();
  if (end == 0 || view[end - 1] != '\n') {
    return std::nullopt;
  }
  --end;
  if (end > 0 && view[end - 1] == '\r') {
    --end;
  }
  if (end == 0 || view[end - 1] != '}') {
    return std::nullopt;
  }
  --end;
  LiteralAnnouncement literal;
  if (end > 0 && view[end - 1] == '+') {
    literal.non_synchronizing = true;
    --end;
  }
  const std::size_t digits_end = end;
  while (end > 0 && is_digit(view[end - 1])) {
    --end;
  }
  if (end == digits_end) {
    return std::nullopt;
  }
  if (end == 0) {
    if (!truncated_front) {
      return std::nullopt;
    }
    literal.size = saturated;
    return literal;
  }
  if (view[end - 1] != '{') {
    return std::nullopt;
  }
  literal.binary = end >= 2 && view[end - 2] == '~';
  std::uint64_t size = 0;
  for (std::size_t i = end; i < digits_end; ++i) {
    const auto digit = static_cast<std::uint64_t>(view[i] - '0');
    if (size > (saturated - digit) / 10) {
      size = saturated;
      break;
    }
    size = size * 10 + digit;
  }
  literal.size = size;
  return literal;
}

// Status responses and their free text (resp-text) cannot carry a literal, so "{5}" at the
// end of "* OK ..." or "a1 NO ..." is text. `line` is the start of a server line.
bool is_status_response(std::string_view line) {
  const std::size_t space = line.find(' ');
  if (space == 0 || space == std::string_view::npos) {
    return false;
  }
  const std::string_view rest = line.substr(space + 1);
  std::size_t word_end = 0;
  while (word_end < rest.size() && is_alpha(rest[word_end])) {
    ++word_end;
  }
  const std::string_view word = rest.substr(0, word_end);
  return equals_ignore_case(word, "OK") || equals_ignore_case(word, "NO") ||
         equals_ignore_case(word, "BAD") || equals_ignore_case(word, "BYE") ||
         equals_ignore_case(word, "PREAUTH");
}

} // namespace

void QuoteScan::scan(std::string_view bytes) noexcept {
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  while (p < end) {
    if (!in_quote) {
      p = static_cast<const char*>(std::memchr(p, '"', static_cast<std::size_t>(end - p)));
      if (p == nullptr) {
        return;
      }
      in_quote = true;
      ++p;
      continue;
    }
    if (escaped) {
      escaped = false;
      ++p;
      continue;
    }
    while (p < end && *p != '"' && *p != '\\') {
      ++p;
    }
    if (p == end) {
      return;
    }
    if (*p == '\\') {
      escaped = true;
    } else {
      in_quote = false;
    }
    ++p;
  }
}

std::optional<LiteralAnnouncement> find_literal_announcement(std::string_view line) {
  return parse_announcement(line, false);
}

Framer::Framer(Direction direction, FramerOptions options)
    : direction_(direction), options_(options) {
  options_.max_line = std::max<std::size_t>(options_.max_line, 1);
}

void Framer::feed(std::string_view chunk) {
  assert(in_.empty() && "feed() before next() used up the previous chunk");
  if (release_line_) {
    line_.clear();
    release_line_ = false;
  }
  in_ = chunk;
}

bool Framer::at_message_boundary() const noexcept {
  return state_ == State::line && message_start_ && (line_.empty() || release_line_);
}

bool Framer::cancel_literal() {
  if (direction_ != Direction::client_to_server || state_ != State::literal || !literal_pending_ ||
      !pending_sync_) {
    return false;
  }
  literal_pending_ = false;
  end_message();
  return true;
}

std::optional<Frame> Framer::next() {
  if (release_line_) {
    if (line_.capacity() > keep_line_capacity) {
      std::string().swap(line_);
    } else {
      line_.clear();
    }
    release_line_ = false;
  }
  switch (state_) {
  case State::line:
    return next_line();
  case State::literal:
    return next_literal();
  case State::skip_line:
    return next_skip_line();
  case State::skip_literal:
    return next_skip_literal();
  }
  return std::nullopt;
}

std::string_view Framer::take_line(std::size_t n) {
  std::string_view line;
  if (line_.empty()) {
    line = in_.substr(0, n);
  } else {
    line_.append(in_.data(), n);
    line = line_;
    release_line_ = true;
  }
  in_.remove_prefix(n);
  return line;
}

std::optional<Frame> Framer::next_line() {
  if (in_.empty()) {
    return std::nullopt;
  }
  // Invariant: line_.size() < max_line, so the window is never empty.
  const std::size_t limit = options_.max_line - line_.size();
  const std::size_t window = std::min(limit, in_.size());
  if (const void* lf = std::memchr(in_.data(), '\n', window)) {
    const auto n = static_cast<std::size_t>(static_cast<const char*>(lf) - in_.data()) + 1;
    return complete_line(take_line(n));
  }
  if (in_.size() < limit) {
    line_.append(in_);
    in_ = {};
    return std::nullopt;
  }

  // No terminator within max_line bytes: hand out exactly the first max_line bytes (enough
  // for the session to read the tag) and skip the rest of the line.
  const std::string_view head = take_line(limit);

  Frame frame;
  frame.kind = FrameKind::skipped;
  frame.bytes = head;
  frame.error = Errc::line_too_long;
  const bool server_first =
      direction_ == Direction::server_to_client && message_start_ && !head.empty();
  frame.continuation = server_first && head.front() == '+';
  skip_may_announce_ = !(server_first && (frame.continuation || is_status_response(head)));
  tail_size_ = 0;
  tail_truncated_ = false;
  remember_tail(head);
  skip_quotes_ = QuoteScan{};
  skip_quotes_.scan(head);
  message_start_ = false;
  state_ = State::skip_line;
  return frame;
}

Frame Framer::complete_line(std::string_view line) {
  Frame frame;
  frame.kind = FrameKind::line;
  frame.bytes = line;
  const bool server_first = direction_ == Direction::server_to_client && message_start_;
  std::optional<LiteralAnnouncement> literal;
  if (server_first && line.front() == '+') {
    frame.continuation = true;
  } else {
    literal = find_literal_announcement(line);
    if (literal && server_first && is_status_response(line)) {
      literal.reset();
    }
    if (literal) {
      QuoteScan quotes;
      quotes.scan(line);
      if (quotes.in_quote) {
        literal.reset();
      }
    }
  }
  frame.literal = literal;

  // NUL is outside CHAR8 and TEXT-CHAR: no valid line contains one, and letting it through
  // would confuse C-string based consumers and logs downstream.
  if (std::memchr(line.data(), '\0', line.size()) != nullptr) {
    frame.error = Errc::syntax;
  } else if (literal && literal->size > options_.max_literal) {
    frame.error = Errc::literal_too_large;
  }
  if (frame.error) {
    reject_announcement(frame, literal);
    return frame;
  }

  if (literal) {
    state_ = State::literal;
    remaining_ = literal->size;
    literal_pending_ = true;
    pending_sync_ = !literal->non_synchronizing;
    message_start_ = false;
  } else {
    end_message();
    frame.message_end = true;
  }
  return frame;
}

// A rejected line may still be followed by its literal: a server sends literals without
// waiting, and a client sends non-synchronizing ones without waiting. Those bytes are
// skipped (counted, not buffered) so that framing resumes exactly at the next message. A
// client's synchronizing literal never comes, because the session answers BAD instead of
// "+".
void Framer::reject_announcement(Frame& frame, const std::optional<LiteralAnnouncement>& literal) {
  if (literal && (direction_ == Direction::server_to_client || literal->non_synchronizing)) {
    state_ = State::skip_literal;
    remaining_ = literal->size;
    message_start_ = false;
    frame.message_end = false;
  } else {
    end_message();
    frame.message_end = true;
  }
}

void Framer::end_message() {
  state_ = State::line;
  message_start_ = true;
}

std::optional<Frame> Framer::next_literal() {
  if (remaining_ > 0 && in_.empty()) {
    return std::nullopt;
  }
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in_.size()));
  Frame frame;
  frame.kind = FrameKind::literal;
  frame.bytes = in_.substr(0, n);
  in_.remove_prefix(n);
  remaining_ -= n;
  literal_pending_ = false;
  if (remaining_ == 0) {
    frame.literal_end = true;
    state_ = State::line; // the message continues with the rest of the line
  }
  return frame;
}

std::optional<Frame> Framer::next_skip_literal() {
  if (remaining_ == 0) {
    state_ = State::skip_line;
    skip_may_announce_ = true;
    tail_size_ = 0;
    tail_truncated_ = false;
    skip_quotes_ = QuoteScan{};
    return next_skip_line();
  }
  if (in_.empty()) {
    return std::nullopt;
  }
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in_.size()));
  Frame frame;
  frame.kind = FrameKind::skipped;
  frame.bytes = in_.substr(0, n);
  in_.remove_prefix(n);
  remaining_ -= n;
  if (remaining_ == 0) {
    state_ = State::skip_line;
    skip_may_announce_ = true;
    tail_size_ = 0;
    tail_truncated_ = false;
    skip_quotes_ = QuoteScan{};
  }
  return frame;
}

std::optional<Frame> Framer::next_skip_line() {
  if (in_.empty()) {
    return std::nullopt;
  }
  const void* lf = std::memchr(in_.data(), '\n', in_.size());
  const std::size_t n =
      lf != nullptr ? static_cast<std::size_t>(static_cast<const char*>(lf) - in_.data()) + 1
                    : in_.size();
  Frame frame;
  frame.kind = FrameKind::skipped;
  frame.bytes = in_.substr(0, n);
  in_.remove_prefix(n);
  remember_tail(frame.bytes);
  skip_quotes_.scan(frame.bytes);
  if (lf == nullptr) {
    return frame;
  }

  // Only quote and backslash change the quote state and an announcement contains neither,
  // so the state at the line end is the state at its "{".
  std::optional<LiteralAnnouncement> literal;
  if (skip_may_announce_ && !skip_quotes_.in_quote) {
    literal = parse_announcement(std::string_view(tail_.data(), tail_size_), tail_truncated_);
  }
  if (literal && (direction_ == Direction::server_to_client || literal->non_synchronizing)) {
    state_ = State::skip_literal;
    remaining_ = literal->size;
  } else {
    end_message();
    frame.message_end = true;
  }
  return frame;
}

void Framer::remember_tail(std::string_view bytes) {
  if (bytes.size() >= tail_capacity) {
    tail_truncated_ = tail_truncated_ || bytes.size() > tail_capacity || tail_size_ > 0;
    std::memcpy(tail_.data(), bytes.data() + bytes.size() - tail_capacity, tail_capacity);
    tail_size_ = tail_capacity;
    return;
  }
  const std::size_t total = tail_size_ + bytes.size();
  if (total > tail_capacity) {
    const std::size_t drop = total - tail_capacity;
    std::memmove(tail_.data(), tail_.data() + drop, tail_size_ - drop);
    tail_size_ -= drop;
    tail_truncated_ = true;
  }
  std::memcpy(tail_.data() + tail_size_, bytes.data(), bytes.size());
  tail_size_ += bytes.size();
}

} // namespace icalgate::protocol
