#include "proxy/compression.hpp"

#include <zlib.h>

#include <algorithm>

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
// The most of what was sent that the next write may refer back to. Beyond 8 KiB the ratio
// hardly improves (0.150 against 0.148 for 32 KiB on a relayed FETCH of the test corpus),
// while priming the compressor costs time in proportion.
constexpr std::size_t sent_kept = 8 * 1024;

// One deflater per thread, reset for each write: a write is compressed at once, before it is
// sent, so no two writes share it. One per write would allocate, zero and free 256 KiB each
// time.
struct Deflater {
  z_stream z{};
  bool ok = false;
  int strategy = Z_DEFAULT_STRATEGY;
  Deflater() {
    ok = deflateInit2(&z, level, Z_DEFLATED, -window_bits, mem_level, strategy) == Z_OK;
  }
  ~Deflater() {
    if (ok) {
      deflateEnd(&z);
    }
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
};

z_stream* fresh_deflater(int strategy) {
  thread_local Deflater d;
  if (!d.ok || deflateReset(&d.z) != Z_OK) {
    return nullptr;
  }
  if (strategy != d.strategy) {
    if (deflateParams(&d.z, level, strategy) != Z_OK) {
      return nullptr;
    }
    d.strategy = strategy;
  }
  return &d.z;
}

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
  // Each write starts a fresh compressor, its history only what sent_ holds: a sync flush
  // ends every write on a byte boundary, where the next one's blocks can follow.
  z_stream* z = fresh_deflater(full ? Z_DEFAULT_STRATEGY : Z_HUFFMAN_ONLY);
  if (z == nullptr) {
    return false;
  }
  // Raw deflate may take a dictionary before the first block: the client has these bytes as
  // the end of its window, so back-references into them decode. Huffman coding has no use
  // for them, and neither has the occasional full attempt amid attachments: priming costs
  // time in proportion to the dictionary, and that attempt only checks for text.
  if (full && !huffman_only_ && !sent_.empty() &&
      deflateSetDictionary(z, reinterpret_cast<const Bytef*>(sent_.data()),
                           static_cast<uInt>(sent_.size())) != Z_OK) {
    return false;
  }
  const std::size_t out_before = out.size();
  z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z->avail_in = static_cast<uInt>(in.size());
  // Room for all of it, the flush marker included, so that one call normally does.
  std::size_t room = deflateBound(z, in.size()) + 16;
  int rc = Z_OK;
  while (true) {
    const std::size_t used = out.size();
    out.resize(used + room);
    z->next_out = reinterpret_cast<Bytef*>(out.data() + used);
    z->avail_out = static_cast<uInt>(room);
    rc = deflate(z, Z_SYNC_FLUSH);
    out.resize(out.size() - z->avail_out);
    if ((rc != Z_OK && rc != Z_BUF_ERROR) || (z->avail_in == 0 && z->avail_out != 0)) {
      break;
    }
    room = 16 * 1024;
  }
  if (full && in.size() >= min_sample) {
    huffman_only_ = (out.size() - out_before) * 2 > in.size();
    writes_since_full_ = 0;
  }
  remember_sent(in);
  return rc == Z_OK || rc == Z_BUF_ERROR;
}

void Compression::remember_sent(std::string_view in) {
  if (in.size() >= sent_kept) {
    sent_.assign(in.substr(in.size() - sent_kept));
    return;
  }
  const std::size_t keep = std::min(sent_.size(), sent_kept - in.size());
  sent_.erase(0, sent_.size() - keep);
  sent_.append(in);
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
