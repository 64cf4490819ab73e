// Framer throughput on a recorded-style server FETCH stream, fed in 16 KiB chunks as a relay
// would read them, against a baseline that only memchr-scans the same chunks for '\n'.
//
//   cmake --preset release -B build/framer-rel
//   cmake --build build/framer-rel -j1 --target bench_framer
//   build/framer-rel/bin/bench_framer

#include "protocol/framer.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <string_view>

using icalgate::protocol::Direction;
using icalgate::protocol::Framer;
using icalgate::protocol::FramerOptions;

namespace {

constexpr std::size_t chunk_size = 16 * 1024;

std::string header_block(std::mt19937& rng, std::uint32_t n) {
  static constexpr std::string_view names[] = {"Alice Example", "Bob Builder", "Carol Q. Public",
                                               "Dave from Accounting"};
  static constexpr std::string_view subjects[] = {
      "Quarterly numbers", "Re: lunch on Friday?", "Meeting notes: roadmap review",
      "=?utf-8?B?w4RuZGVydW5nIGRlciBBZ2VuZGE=?=", "Fwd: Fwd: the contract draft (v7)"};
  std::string h;
  h += "From: \"";
  h += names[rng() % 4];
  h += "\" <sender" + std::to_string(rng() % 1000) + "@example.org>\r\n";
  h += "To: team-" + std::to_string(rng() % 50) + "@example.com\r\n";
  h += "Subject: ";
  h += subjects[rng() % 5];
  h += "\r\nDate: Fri, 27 Nov 2026 10:" + std::to_string(10 + rng() % 50) + ":00 +0000\r\n";
  h += "Message-ID: <" + std::to_string(n) + "." + std::to_string(rng()) +
       "@DB9PR01MB1234.eurprd01.prod.exchangelabs.com>\r\n\r\n";
  return h;
}

void append_header_fetch(std::string& out, std::mt19937& rng, std::uint32_t n) {
  const std::string h = header_block(rng, n);
  out += "* " + std::to_string(n) + " FETCH (UID " + std::to_string(n + 1000) + " RFC822.SIZE " +
         std::to_string(2000 + rng() % 900000) +
         " FLAGS (\\Seen) BODY[HEADER.FIELDS (From To Subject Date Message-ID)] {" +
         std::to_string(h.size()) + "}\r\n";
  out += h;
  out += ")\r\n";
}

void append_body_fetch(std::string& out, std::mt19937& rng, std::uint32_t n) {
  const std::size_t size = 50 * 1024 + rng() % (1024 * 1024 - 50 * 1024);
  out += "* " + std::to_string(n) + " FETCH (UID " + std::to_string(n + 1000) +
         " FLAGS (\\Seen) BODY[] {" + std::to_string(size) + "}\r\n";
  // Base64-looking body lines: the bytes a literal scanner would have to look at.
  static constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t written = 0;
  while (written < size) {
    const std::size_t line = std::min<std::size_t>(78, size - written);
    for (std::size_t i = 0; i + 2 < line; ++i) {
      out += alphabet[(n + written + i) & 63U];
    }
    if (line >= 2) {
      out += "\r\n";
    } else {
      out.append(line, '=');
    }
    written += line;
  }
  out += ")\r\n";
}

// `body_every`: one full-body fetch after that many header fetches (0: headers only).
std::string build_stream(std::size_t target_bytes, unsigned body_every) {
  std::mt19937 rng(42);
  std::string out;
  out.reserve(target_bytes + 2 * 1024 * 1024);
  std::uint32_t n = 1;
  while (out.size() < target_bytes) {
    append_header_fetch(out, rng, n++);
    if (body_every != 0 && n % body_every == 0) {
      append_body_fetch(out, rng, n++);
    }
  }
  out += "a42 OK FETCH completed (0.123 + 0.000 secs).\r\n";
  return out;
}

struct Measure {
  double seconds = 0;
  std::uint64_t bytes = 0;
  std::uint64_t count = 0; // frames or newlines: keeps the work observable
};

Measure run_framer(const std::string& stream, int passes) {
  Measure m;
  FramerOptions options;
  options.max_literal = 64ULL * 1024 * 1024;
  const auto start = std::chrono::steady_clock::now();
  for (int p = 0; p < passes; ++p) {
    Framer framer(Direction::server_to_client, options);
    for (std::size_t off = 0; off < stream.size(); off += chunk_size) {
      framer.feed(std::string_view(stream).substr(off, chunk_size));
      while (auto frame = framer.next()) {
        m.bytes += frame->bytes.size();
        m.count += frame->message_end ? 1 : 0;
      }
    }
  }
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return m;
}

Measure run_memchr(const std::string& stream, int passes) {
  Measure m;
  const auto start = std::chrono::steady_clock::now();
  for (int p = 0; p < passes; ++p) {
    for (std::size_t off = 0; off < stream.size(); off += chunk_size) {
      const std::size_t n = std::min(chunk_size, stream.size() - off);
      const char* at = stream.data() + off;
      const char* const end = at + n;
      while (const void* lf = std::memchr(at, '\n', static_cast<std::size_t>(end - at))) {
        ++m.count;
        at = static_cast<const char*>(lf) + 1;
      }
      m.bytes += n;
    }
  }
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return m;
}

Measure best_of(Measure (*fn)(const std::string&, int), const std::string& stream, int passes) {
  Measure best = fn(stream, passes);
  for (int i = 0; i < 2; ++i) {
    const Measure m = fn(stream, passes);
    if (m.seconds < best.seconds) {
      best = m;
    }
  }
  return best;
}

int report(const char* name, const std::string& stream, int passes) {
  const Measure framer = best_of(run_framer, stream, passes);
  const Measure scan = best_of(run_memchr, stream, passes);
  const double gb = 1e9;
  const double framer_rate = static_cast<double>(framer.bytes) / framer.seconds / gb;
  const double scan_rate = static_cast<double>(scan.bytes) / scan.seconds / gb;
  std::printf("%s: %.1f MB x %d passes = %.0f MB per run, 16 KiB chunks\n", name,
              static_cast<double>(stream.size()) / 1e6, passes,
              static_cast<double>(stream.size()) * passes / 1e6);
  std::printf("  framer          %7.2f GB/s  (%llu messages per run)\n", framer_rate,
              static_cast<unsigned long long>(framer.count));
  std::printf("  memchr baseline %7.2f GB/s  (%llu newlines per run)\n", scan_rate,
              static_cast<unsigned long long>(scan.count));
  std::printf("  framer / baseline = %.2f\n", framer_rate / scan_rate);
  if (framer.bytes != static_cast<std::uint64_t>(stream.size()) * passes) {
    std::printf("  ERROR: framer emitted %llu bytes, expected %llu\n",
                static_cast<unsigned long long>(framer.bytes),
                static_cast<unsigned long long>(stream.size()) * passes);
    return 1;
  }
  return 0;
}

} // namespace

int main() {
  // Header sync bursts mixed with full-body fetches (50 KB - 1 MB literals): a client's
  // first sync of a folder.
  const std::string mixed = build_stream(64 * 1024 * 1024, 40);
  // Headers only: the worst realistic case, many short lines and small literals.
  const std::string headers = build_stream(64 * 1024 * 1024, 0);
  int status = report("mixed FETCH stream (headers + bodies)", mixed, 4);
  status |= report("header-sync FETCH stream (headers only)", headers, 4);
  return status;
}
