// MIME model speed on large messages built in memory: an Exchange-shaped multipart/mixed
// (multipart/alternative text + html, then big base64 attachments) and a deeply nested one.
// Each step is timed per call and compared with a memcpy of the same bytes.
//
//   cmake --preset release -B build/mime-rel
//   cmake --build build/mime-rel -j1 --target bench_mime
//   build/mime-rel/bin/bench_mime

#include "protocol/fetch_item.hpp"
#include "protocol/mime/bodystructure.hpp"
#include "protocol/mime/message.hpp"
#include "protocol/mime/section.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace mime = icalgate::protocol::mime;
using icalgate::protocol::SectionSpec;

namespace {

std::string base64_lines(std::size_t bytes, std::uint32_t seed) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  const std::size_t chars = (bytes + 2) / 3 * 4;
  out.reserve(chars + chars / 76 * 2 + 2);
  std::uint32_t x = seed;
  for (std::size_t i = 0; i < chars; ++i) {
    x = x * 1664525u + 1013904223u;
    out += kAlphabet[(x >> 24) & 63];
    if ((i + 1) % 76 == 0) {
      out += "\r\n";
    }
  }
  out += "\r\n";
  return out;
}

std::string exchange_message(std::size_t target) {
  std::string m =
      "Received: from DB9PR02MB7001.eurprd02.prod.outlook.com by DB9PR02MB7001 with HTTPS\r\n"
      "From: Alice Martin <alice@example.org>\r\nTo: Bob Leclerc <bob@example.net>\r\n"
      "Subject: Quarterly report\r\nDate: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
      "Message-ID: <bench@example.org>\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"_004_outer_\"\r\n\r\n"
      "--_004_outer_\r\nContent-Type: multipart/alternative; boundary=\"_000_alt_\"\r\n\r\n"
      "--_000_alt_\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n";
  m += base64_lines(4000, 1);
  m += "\r\n--_000_alt_\r\nContent-Type: text/html; charset=\"utf-8\"\r\n"
       "Content-Transfer-Encoding: base64\r\n\r\n";
  m += base64_lines(12000, 2);
  m += "\r\n--_000_alt_--\r\n\r\n";
  const std::size_t per_attachment = (target - m.size()) / 2 * 3 / 4;
  for (int i = 0; i < 2; ++i) {
    m += "--_004_outer_\r\nContent-Type: application/pdf; name=\"report" + std::to_string(i) +
         ".pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\n";
    m += base64_lines(per_attachment, 3 + static_cast<std::uint32_t>(i));
    m += "\r\n";
  }
  m += "--_004_outer_--\r\n";
  return m;
}

// 60 levels of multipart around a text leaf (part 1), then a base64 attachment (part 2).
std::string nested_message(std::size_t target) {
  constexpr int kDepth = 60;
  std::string m = "Subject: nested\r\nMIME-Version: 1.0\r\n"
                  "Content-Type: multipart/mixed; boundary=b0\r\n\r\n";
  for (int i = 1; i < kDepth; ++i) {
    m += "--b" + std::to_string(i - 1) + "\r\nContent-Type: multipart/mixed; boundary=b" +
         std::to_string(i) + "\r\n\r\n";
  }
  const std::string line = "a line of text that is neither short nor very long at all, ok\r\n";
  std::string leaf;
  while (leaf.size() + m.size() < target / 2) {
    leaf += line;
  }
  m += "--b" + std::to_string(kDepth - 1) + "\r\nContent-Type: text/plain\r\n\r\n" + leaf;
  for (int i = kDepth - 1; i >= 1; --i) {
    m += "--b" + std::to_string(i) + "--\r\n";
  }
  m += "--b0\r\nContent-Type: application/octet-stream\r\n"
       "Content-Transfer-Encoding: base64\r\n\r\n";
  m += base64_lines((target - m.size()) * 3 / 4, 9);
  m += "--b0--\r\n";
  return m;
}

template <class F>
double time_ms(int reps, F&& f) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) {
    f();
  }
  const std::chrono::duration<double, std::milli> d = std::chrono::steady_clock::now() - start;
  return d.count() / reps;
}

volatile std::size_t g_sink; // keeps the optimiser from dropping the work

void run(const char* name, const std::string& bytes) {
  const int reps = bytes.size() > (std::size_t{4} << 20) ? 5 : 30;
  std::vector<char> dst(bytes.size());
  const double copy = time_ms(reps, [&] {
    std::memcpy(dst.data(), bytes.data(), bytes.size());
    g_sink = g_sink + static_cast<std::size_t>(dst[dst.size() / 2]);
  });
  const double parse = time_ms(reps, [&] {
    auto msg = mime::parse_message(bytes);
    g_sink = g_sink + msg->root().children.size();
  });
  auto msg = mime::parse_message(bytes);
  const double bodystructure =
      time_ms(reps, [&] { g_sink = g_sink + mime::bodystructure(*msg, true).size(); });
  const double body =
      time_ms(reps, [&] { g_sink = g_sink + mime::body_section(*msg, SectionSpec{}).size(); });
  SectionSpec second;
  second.part = {2};
  const double binary =
      time_ms(reps, [&] { g_sink = g_sink + mime::binary_section(*msg, second).data.size(); });
  std::printf("%-28s %6.2f MB  memcpy %7.3f ms\n", name, static_cast<double>(bytes.size()) / 1e6,
              copy);
  const auto row = [&](const char* what, double ms) {
    std::printf("  %-22s %8.3f ms  %7.1f x memcpy  %7.0f MB/s\n", what, ms, ms / copy,
                static_cast<double>(bytes.size()) / 1e3 / ms);
  };
  row("parse (incl. copy in)", parse);
  row("BODYSTRUCTURE", bodystructure);
  row("BODY[]", body);
  row("BINARY[2]", binary);
}

} // namespace

int main() {
  run("exchange-mixed 1MB", exchange_message(std::size_t{1} << 20));
  run("exchange-mixed 10MB", exchange_message(std::size_t{10} << 20));
  run("nested-60 1MB", nested_message(std::size_t{1} << 20));
  run("nested-60 10MB", nested_message(std::size_t{10} << 20));
  return 0;
}
