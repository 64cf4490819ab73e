// Frames the input twice, whole and in small pieces derived from the data, and checks that
// both give the same frames (literal and skipped pieces merged) and that the bytes of all
// frames reproduce the input. Small limits make the error paths common.

#include "protocol/framer.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using icalgate::protocol::Direction;
using icalgate::protocol::Errc;
using icalgate::protocol::Frame;
using icalgate::protocol::FrameKind;
using icalgate::protocol::Framer;
using icalgate::protocol::FramerOptions;

namespace {

void check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

struct Piece {
  FrameKind kind;
  std::string bytes;
  std::string meta; // everything but the bytes, encoded
  bool open;        // a later piece of the same literal / skipped run may be merged in
};

struct Outcome {
  std::vector<Piece> pieces;
  std::string concatenated;
  std::size_t pending = 0;
};

std::string encode_meta(const Frame& f) {
  std::string m;
  m += static_cast<char>('0' + static_cast<int>(f.kind));
  if (f.literal) {
    m += "L" + std::to_string(f.literal->size) + (f.literal->non_synchronizing ? "+" : "") +
         (f.literal->binary ? "~" : "");
  }
  if (f.error) {
    m += "E" + std::to_string(static_cast<int>(*f.error));
  }
  m += f.continuation ? "C" : "";
  m += f.literal_end ? "e" : "";
  m += f.message_end ? "M" : "";
  return m;
}

void add(Outcome& out, const Frame& f) {
  out.concatenated.append(f.bytes);
  const bool piece = f.kind == FrameKind::literal || f.kind == FrameKind::skipped;
  if (!out.pieces.empty()) {
    Piece& prev = out.pieces.back();
    if (piece && prev.open && prev.kind == f.kind && !f.error) {
      prev.bytes.append(f.bytes);
      // The merged piece keeps the first piece's metadata plus the last one's end flags.
      prev.meta += f.literal_end ? "e" : "";
      prev.meta += f.message_end ? "M" : "";
      prev.open = !f.literal_end && !f.message_end;
      return;
    }
  }
  // Pieces never announce a literal, so their end flags come last in the encoding and the
  // flags of later merged pieces can simply be appended.
  out.pieces.push_back(Piece{f.kind, std::string(f.bytes), encode_meta(f),
                             piece && !f.literal_end && !f.message_end});
}

Outcome frame_all(Direction dir, const FramerOptions& opts, std::string_view input,
                  const std::vector<std::size_t>& sizes) {
  Framer framer(dir, opts);
  Outcome out;
  std::size_t offset = 0;
  std::size_t turn = 0;
  while (offset < input.size()) {
    const std::size_t n = sizes.empty()
                              ? input.size()
                              : std::min(sizes[turn++ % sizes.size()], input.size() - offset);
    // A heap copy of exactly the chunk, so that reading past it is caught by ASan.
    const std::vector<char> chunk(input.begin() + static_cast<std::ptrdiff_t>(offset),
                                  input.begin() + static_cast<std::ptrdiff_t>(offset + n));
    offset += n;
    framer.feed(std::string_view(chunk.data(), chunk.size()));
    while (auto f = framer.next()) {
      check(framer.buffered() <= opts.max_line);
      if (f->kind == FrameKind::line) {
        check(!f->bytes.empty() && f->bytes.back() == '\n');
        check(f->bytes.size() <= opts.max_line);
      }
      if (f->error == Errc::line_too_long) {
        check(f->bytes.size() == opts.max_line);
      }
      add(out, *f);
      // The same deterministic refusal in both runs: some synchronizing client literals.
      if (dir == Direction::client_to_server && f->kind == FrameKind::line && f->literal &&
          !f->error && !f->literal->non_synchronizing && f->literal->size % 3 == 1) {
        check(framer.cancel_literal());
        check(framer.at_message_boundary());
      }
    }
    check(framer.buffered() <= opts.max_line);
  }
  out.pending = framer.buffered();
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const Direction dir =
      (data[0] & 1U) != 0 ? Direction::server_to_client : Direction::client_to_server;
  FramerOptions opts;
  opts.max_line = 4 + ((data[0] >> 1U) & 63U);
  opts.max_literal = data[1];
  const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < input.size() && sizes.size() < 64; i += 7) {
    sizes.push_back(1 + static_cast<unsigned char>(input[i]) % 11);
  }
  const Outcome whole = frame_all(dir, opts, input, {});
  const Outcome pieces = frame_all(dir, opts, input, sizes);

  check(whole.pending <= input.size());
  check(whole.concatenated.size() + whole.pending == input.size());
  check(input.substr(0, whole.concatenated.size()) == whole.concatenated);
  check(pieces.concatenated == whole.concatenated);
  check(pieces.pending == whole.pending);
  check(pieces.pieces.size() == whole.pieces.size());
  for (std::size_t i = 0; i < whole.pieces.size(); ++i) {
    check(pieces.pieces[i].kind == whole.pieces[i].kind);
    check(pieces.pieces[i].meta == whole.pieces[i].meta);
    check(pieces.pieces[i].bytes == whole.pieces[i].bytes);
  }
  return 0;
}
