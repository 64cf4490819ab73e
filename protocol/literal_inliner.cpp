#include "protocol/literal_inliner.hpp"

namespace icalgate::protocol {

namespace {

// Longest literal taken: the longest header field name the FETCH parser accepts.
constexpr std::uint64_t max_literal = 1024;

} // namespace

LiteralInliner::Step LiteralInliner::refuse(std::string_view why) {
  refusal_ = why;
  std::string().swap(command_);
  return Step::refused;
}

LiteralInliner::Step LiteralInliner::add(const Frame& frame) {
  if (!refusal_.empty()) {
    return Step::refused;
  }
  if (frame.error || frame.kind == FrameKind::skipped) {
    return refuse("Invalid command");
  }
  // Checked byte by byte, so that the outcome does not depend on how the literal was split.
  constexpr std::string_view too_long = "Command line too long";
  if (frame.kind == FrameKind::literal) {
    for (const char c : frame.bytes) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte >= 0x7f) {
        return refuse("A literal here must be printable ASCII");
      }
      if (c == '"' || c == '\\') {
        command_ += '\\';
      }
      command_ += c;
      if (command_.size() > max_size_) {
        return refuse(too_long);
      }
    }
    if (frame.literal_end) {
      command_ += '"';
    }
    if (command_.size() > max_size_) {
      return refuse(too_long);
    }
    return frame.message_end ? Step::done : Step::more;
  }
  if (!frame.literal) {
    command_.append(frame.bytes);
    if (command_.size() > max_size_) {
      return refuse(too_long);
    }
    return frame.message_end ? Step::done : Step::more;
  }
  if (frame.literal->binary) {
    return refuse("A literal8 is not valid here");
  }
  if (frame.literal->size > max_literal) {
    return refuse("Literal too long for a header field name");
  }
  // The announcement "{n}" (or "{n+}") ends the line: the quoted string takes its place.
  const std::size_t open = frame.bytes.rfind('{');
  command_.append(frame.bytes.substr(0, open));
  command_ += '"'; // closed by the literal's last frame
  if (command_.size() > max_size_) {
    return refuse(too_long);
  }
  return frame.literal->non_synchronizing ? Step::more : Step::literal_wanted;
}

} // namespace icalgate::protocol
