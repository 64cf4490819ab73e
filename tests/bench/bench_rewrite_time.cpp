// Rewrite time per message, Graph excluded: calendar::rewrite_meeting_message() on every OWA
// fixture of tests/unit/data/owa (NAME.eml with its Graph response NAME.json), timed call by
// call, p50 and p99 per fixture and over all fixtures. For scale, the steps inside it are timed
// alone too: parsing the message (MIME model, copy of the bytes included), classify() on the
// parsed message, and parsing the Graph response. The not-*.eml fixtures (no Graph response)
// show what classifying an ordinary message costs.
//
//   cmake --preset release -B build/release
//   cmake --build build/release -j1 --target bench_rewrite_time
//   build/release/bin/bench_rewrite_time [--rounds N] [DATA_DIR]
//
// Calls are interleaved round by round over the fixtures, so that load from elsewhere on the
// machine spreads over all of them instead of spoiling one fixture's figures. On a busy machine
// a call that is preempted costs a scheduler tick (several ms) of wall time, which shows in the
// p99 of the longer calls; the whole rewrite is therefore also timed on the thread's CPU clock,
// and the share of a CPU the benchmark got is printed.

#include "calendar/graph_event.hpp"
#include "calendar/meeting_rewrite.hpp"
#include "calendar/owa_link.hpp"
#include "protocol/mime/message.hpp"

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fs = std::filesystem;
namespace calendar = icalgate::calendar;
namespace mime = icalgate::protocol::mime;

namespace {

struct Fixture {
  std::string name;
  std::string eml;
  std::optional<std::string> json; // the Graph response; none for the not-* fixtures
  std::optional<mime::Message> parsed;
  std::size_t rewritten_size = 0;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

fs::path default_data_dir() {
#ifdef ICALGATE_TEST_DATA_DIR
  return fs::path(ICALGATE_TEST_DATA_DIR) / "unit" / "data" / "owa";
#else
  // This file lives in tests/bench/; the build passes it by absolute path.
  return fs::path(__FILE__).parent_path().parent_path() / "unit" / "data" / "owa";
#endif
}

volatile std::size_t g_sink; // keeps the optimiser from dropping the work

using Clock = std::chrono::steady_clock;

struct Stats {
  double p50_us = 0;
  double p99_us = 0;
  double mean_us = 0;
  std::size_t n = 0;
};

Stats stats_of(std::vector<double> samples) {
  Stats s;
  s.n = samples.size();
  if (samples.empty()) {
    return s;
  }
  std::sort(samples.begin(), samples.end());
  const auto at = [&](double q) {
    const auto i = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
    return samples[std::min(i, samples.size() - 1)];
  };
  s.p50_us = at(0.50);
  s.p99_us = at(0.99);
  double sum = 0;
  for (double v : samples) {
    sum += v;
  }
  s.mean_us = sum / static_cast<double>(samples.size());
  return s;
}

// One operation on every fixture it applies to: rounds x fixtures calls, interleaved.
struct Operation {
  const char* name;
  std::function<bool(const Fixture&)> applies;
  std::function<void(const Fixture&)> call;
  bool cpu_clock = false; // time on the thread's CPU clock instead of the steady clock
};

double thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

double process_cpu_s() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::vector<std::vector<double>> time_operation(const Operation& op,
                                                const std::vector<Fixture>& fixtures, int rounds) {
  std::vector<std::vector<double>> samples(fixtures.size());
  for (std::size_t i = 0; i < fixtures.size(); ++i) {
    if (op.applies(fixtures[i])) {
      samples[i].reserve(static_cast<std::size_t>(rounds));
      for (int w = 0; w < 20; ++w) { // warm-up: caches, allocator, libical's zone tables
        op.call(fixtures[i]);
      }
    }
  }
  for (int r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < fixtures.size(); ++i) {
      if (!op.applies(fixtures[i])) {
        continue;
      }
      if (op.cpu_clock) {
        const double c0 = thread_cpu_us();
        op.call(fixtures[i]);
        samples[i].push_back(thread_cpu_us() - c0);
        continue;
      }
      const auto t0 = Clock::now();
      op.call(fixtures[i]);
      const std::chrono::duration<double, std::micro> d = Clock::now() - t0;
      samples[i].push_back(d.count());
    }
  }
  return samples;
}

} // namespace

int main(int argc, char** argv) {
  int rounds = 2000;
  fs::path dir = default_data_dir();
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "-h" || arg == "--help") {
      std::printf("usage: %s [--rounds N] [DATA_DIR]\n", argv[0]);
      return 0;
    } else {
      dir = arg;
    }
  }
  std::vector<Fixture> fixtures;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".eml") {
      continue;
    }
    Fixture f;
    f.name = entry.path().stem().string();
    f.eml = read_file(entry.path());
    const fs::path json = fs::path(entry.path()).replace_extension(".json");
    if (fs::exists(json)) {
      f.json = read_file(json);
    }
    fixtures.push_back(std::move(f));
  }
  if (ec || fixtures.empty()) {
    std::fprintf(stderr, "bench_rewrite_time: no fixtures in %s\n", dir.c_str());
    return 2;
  }
  // Invitations first, then the others; each group by name.
  std::sort(fixtures.begin(), fixtures.end(), [](const Fixture& a, const Fixture& b) {
    return std::make_pair(!a.json.has_value(), a.name) <
           std::make_pair(!b.json.has_value(), b.name);
  });

  // Every rewrite must succeed (and every not-* fixture be refused) before anything is timed.
  for (Fixture& f : fixtures) {
    auto parsed = mime::parse_message(f.eml);
    if (!parsed) {
      std::fprintf(stderr, "bench_rewrite_time: %s does not parse: %s\n", f.name.c_str(),
                   parsed.error().message.c_str());
      return 1;
    }
    f.parsed = std::move(parsed).value();
    const bool is_link = calendar::classify(*f.parsed).link.has_value();
    if (is_link != f.json.has_value()) {
      std::fprintf(stderr, "bench_rewrite_time: %s classified as %s\n", f.name.c_str(),
                   is_link ? "an OWA-link message" : "not one");
      return 1;
    }
    if (f.json) {
      auto out = calendar::rewrite_meeting_message(f.eml, *f.json);
      if (!out) {
        std::fprintf(stderr, "bench_rewrite_time: rewriting %s failed: %s\n", f.name.c_str(),
                     out.error().message.c_str());
        return 1;
      }
      f.rewritten_size = out->size();
    }
  }

  const auto invitations = [](const Fixture& f) { return f.json.has_value(); };
  const auto every = [](const Fixture&) { return true; };
  const std::vector<Operation> ops = {
      {"rewrite_meeting_message", invitations,
       [](const Fixture& f) {
         auto out = calendar::rewrite_meeting_message(f.eml, *f.json);
         g_sink = g_sink + (out ? out->size() : 0);
       }},
      {"parse (MIME, incl. copy)", every,
       [](const Fixture& f) {
         auto msg = mime::parse_message(f.eml);
         g_sink = g_sink + (msg ? msg->root().children.size() : 0);
       }},
      {"classify (parsed msg)", every,
       [](const Fixture& f) { g_sink = g_sink + (calendar::classify(*f.parsed).link ? 1 : 0); }},
      {"parse Graph response", invitations,
       [](const Fixture& f) {
         auto ev = calendar::parse_event_message_response(*f.json);
         g_sink = g_sink + (ev ? 1 : 0);
       }},
      {"rewrite, thread CPU time", invitations,
       [](const Fixture& f) {
         auto out = calendar::rewrite_meeting_message(f.eml, *f.json);
         g_sink = g_sink + (out ? out->size() : 0);
       },
       true},
  };

  std::vector<std::vector<std::vector<double>>> results; // op -> fixture -> samples
  const auto started = Clock::now();
  const double cpu_started = process_cpu_s();
  for (const Operation& op : ops) {
    results.push_back(time_operation(op, fixtures, rounds));
  }
  const std::chrono::duration<double> took = Clock::now() - started;
  const double cpu_share = (process_cpu_s() - cpu_started) / took.count();

  std::printf("rewrite time per message, Graph excluded: %zu fixtures from %s, %d rounds "
              "(interleaved), %.1f s, %.0f%% of a CPU\n",
              fixtures.size(), dir.c_str(), rounds, took.count(), cpu_share * 100);
  std::printf("microseconds per call, p50 / p99 (wall time unless marked CPU time)\n\n");
  std::printf("%-30s %8s %9s  %17s  %17s  %17s  %17s  %17s\n", "fixture", "bytes", "rewritten",
              "rewrite (whole)", "rewrite CPU time", "parse", "classify", "Graph JSON");
  const auto cell = [](const std::vector<double>& s) {
    if (s.empty()) {
      return std::string("-");
    }
    const Stats st = stats_of(s);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%7.1f / %7.1f", st.p50_us, st.p99_us);
    return std::string(buf);
  };
  for (std::size_t i = 0; i < fixtures.size(); ++i) {
    const Fixture& f = fixtures[i];
    std::printf("%-30s %8zu %9s  %17s  %17s  %17s  %17s  %17s\n", f.name.c_str(), f.eml.size(),
                f.json ? std::to_string(f.rewritten_size).c_str() : "-",
                cell(results[0][i]).c_str(), cell(results[4][i]).c_str(),
                cell(results[1][i]).c_str(), cell(results[2][i]).c_str(),
                cell(results[3][i]).c_str());
  }
  std::printf("\nover all fixtures it applies to (every call pooled):\n");
  std::printf("  %-34s %6s %9s %9s %9s\n", "operation", "calls", "p50 us", "p99 us", "mean us");
  for (std::size_t o = 0; o < ops.size(); ++o) {
    const auto pooled = [&](bool want_invitation) {
      std::vector<double> all;
      for (std::size_t i = 0; i < fixtures.size(); ++i) {
        if (fixtures[i].json.has_value() == want_invitation) {
          all.insert(all.end(), results[o][i].begin(), results[o][i].end());
        }
      }
      return all;
    };
    for (bool inv : {true, false}) {
      const auto all = pooled(inv);
      if (all.empty()) {
        continue;
      }
      const Stats st = stats_of(all);
      char label[96];
      std::snprintf(label, sizeof label, "%s%s", ops[o].name, inv ? "" : " [not-*]");
      std::printf("  %-34s %6zu %9.1f %9.1f %9.1f\n", label, st.n, st.p50_us, st.p99_us,
                  st.mean_us);
    }
  }
  return 0;
}
