#include "proxy/compression.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>

namespace icalgate::proxy {

namespace {

// Raw deflate (no zlib header), as RFC 4978 asks; 32 KiB, the most the client may use.
constexpr int window_bits = 15;
// The fastest level: a relay's CPU per byte counts, and header text compresses well anyway.
constexpr int level = Z_BEST_SPEED;
constexpr int mem_level = 8;
// How often a Huffman-only connection tries full compression again, and the least a write
// must hold for its ratio to say anything.
constexpr unsigned full_every = 16;
constexpr std::size_t min_sample = 4096;

} // namespace

struct Compression::Inflater {
  z_stream z{};
  bool ended = false; // the client finished its stream: nothing may follow
  ~Inflater() { inflateEnd(&z); }
};

Compression::Compression() = default;
Compression::~Compression() = default;

bool Compression::compress(std::string_view in, std::string& out) {
  // Message bodies are mostly base64 (attachments), where finding repeats costs several times
  // the CPU of Huffman coding alone for the same 0.75. So after a write that LZ77 barely
  // shrank, writes are Huffman-coded only, with a full attempt now and then to notice text.
  const bool full = !huffman_only_ || ++writes_since_full_ >= full_every;
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, -window_bits, mem_level,
                   full ? Z_DEFAULT_STRATEGY : Z_HUFFMAN_ONLY) != Z_OK) {
    return false;
  }
  const std::size_t out_before = out.size();
  // One writer's history: a deflater of its own per write costs a little ratio and keeps
  // idle sessions free of its 256 KiB. A sync flush ends each write on a byte boundary, where
  // the next write's deflater can go on.
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::array<char, 16 * 1024> chunk{};
  int rc = Z_OK;
  do {
    z.next_out = reinterpret_cast<Bytef*>(chunk.data());
    z.avail_out = static_cast<uInt>(chunk.size());
    rc = deflate(&z, Z_SYNC_FLUSH);
    out.append(chunk.data(), chunk.size() - z.avail_out);
  } while (rc == Z_OK && (z.avail_in != 0 || z.avail_out == 0));
  deflateEnd(&z);
  if (full && in.size() >= min_sample) {
    huffman_only_ = (out.size() - out_before) * 2 > in.size();
    writes_since_full_ = 0;
  }
  return rc == Z_OK || rc == Z_BUF_ERROR;
}

bool Compression::ensure_inflater() {
  if (inflater_) {
    return true;
  }
  auto inflater = std::make_unique<Inflater>();
  if (inflateInit2(&inflater->z, -window_bits) != Z_OK) {
    return false; // inflateEnd() of a stream never initialised does nothing
  }
  if (!history_.empty() &&
      inflateSetDictionary(&inflater->z, reinterpret_cast<const Bytef*>(history_.data()),
                           static_cast<uInt>(history_.size())) != Z_OK) {
    return false;
  }
  std::string().swap(history_);
  inflater_ = std::move(inflater);
  return true;
}

bool Compression::decompress(std::string_view in, std::size_t& consumed, char* out,
                             std::size_t out_size, std::size_t& produced) {
  consumed = 0;
  produced = 0;
  pending_output_ = false;
  if (!ensure_inflater()) {
    return false;
  }
  z_stream& z = inflater_->z;
  if (inflater_->ended) {
    return in.empty();
  }
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(std::min<std::size_t>(in.size(), 1U << 30U));
  z.next_out = reinterpret_cast<Bytef*>(out);
  z.avail_out = static_cast<uInt>(std::min<std::size_t>(out_size, 1U << 30U));
  const uInt in_before = z.avail_in;
  const uInt out_before = z.avail_out;
  const int rc = inflate(&z, Z_SYNC_FLUSH);
  consumed = in_before - z.avail_in;
  produced = out_before - z.avail_out;
  if (rc == Z_STREAM_END) {
    inflater_->ended = true;
    return consumed == in.size();
  }
  if (rc != Z_OK && rc != Z_BUF_ERROR) {
    return false;
  }
  pending_output_ = z.avail_out == 0;
  // zlib reports TYPE mode (128: the next block's header is due) and the bits it holds: at a
  // block boundary with no bits held, everything received has been decoded, so the state can
  // be rebuilt from the history alone. Mid-block (a command split across reads) it cannot.
  at_boundary_ = (z.data_type & 128) != 0 && (z.data_type & 63) == 0;
  return true;
}

void Compression::release() {
  if (!inflater_ || inflater_->ended || pending_output_ || !at_boundary_) {
    return;
  }
  uInt length = 0;
  if (inflateGetDictionary(&inflater_->z, nullptr, &length) != Z_OK) {
    return;
  }
  std::string history(length, '\0');
  if (length != 0 && inflateGetDictionary(&inflater_->z, reinterpret_cast<Bytef*>(history.data()),
                                          &length) != Z_OK) {
    return;
  }
  history_ = std::move(history);
  inflater_.reset();
}

} // namespace icalgate::proxy
