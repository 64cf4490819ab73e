#pragma once
// COMPRESS=DEFLATE (RFC 4978) for one client connection: raw deflate in both directions
// (zlib). Exchange Online does not offer it; Thunderbird uses it wherever it is offered, and
// a header sync shrinks several times on the way to the client.
//
// Memory per session matters more here than the last per cent of ratio. What the gateway
// sends is compressed write by write, each ending with a sync flush, by one compressor per
// thread that starts afresh for every write: sessions hold only the last few KiB they sent,
// which the client's decompressor still has in its window, as that compressor's dictionary.
// Without it the ratio would depend on how the upstream's bytes happen to arrive: a FETCH
// relayed in 512-byte writes compressed to 0.68 of its size, with 8 KiB of history to 0.15.
// What the client sends may refer back up to 32 KiB (its window is its choice); between
// bursts the decompressor is put away as just that history (usually a few commands' worth)
// and rebuilt from it when the client speaks again.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace icalgate::proxy {

class Compression {
 public:
  Compression();
  ~Compression();
  Compression(const Compression&) = delete;
  Compression& operator=(const Compression&) = delete;

  // Appends the compressed form of `in` to `out`, flushed so that the peer can decode all of
  // it at once. False only when zlib fails (out of memory).
  bool compress(std::string_view in, std::string& out);

  // Decompresses from `in` into out[0, out_size): `consumed` input bytes were used and
  // `produced` output bytes written. Call again with the rest of the input, or with none
  // while pending_output() says zlib holds more. False on a corrupt stream.
  bool decompress(std::string_view in, std::size_t& consumed, char* out, std::size_t out_size,
                  std::size_t& produced);
  // Whether the last decompress() filled `out` and zlib may hold more for the next call.
  bool pending_output() const { return pending_output_; }

  // Frees the decompressor, keeping only the history later input may refer to, if the input
  // so far ended between two deflate blocks (the client flushed); otherwise keeps it. Call
  // while the connection waits for input (nothing pending).
  void release();
  // Bytes held between bursts (the kept history), for tests.
  std::size_t idle_bytes() const { return history_.size(); }

 private:
  struct Inflater;
  bool ensure_inflater();
  void remember_sent(std::string_view in);

  std::unique_ptr<Inflater> inflater_;
  std::string history_; // the decompressor's window while it is released
  std::string sent_;    // the end of what was compressed: the next write's dictionary
  bool pending_output_ = false;
  bool huffman_only_ = false; // what is sent hardly repeats itself (see compress())
  unsigned writes_since_full_ = 0;
  bool at_boundary_ = true; // the last decompress() ended between deflate blocks
};

} // namespace icalgate::proxy
