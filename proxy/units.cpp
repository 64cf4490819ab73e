#include "proxy/units.hpp"

#include <array>
#include <cctype>
#include <limits>
#include <optional>

namespace icalgate::proxy {

namespace {

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

// Durations in milliseconds; format_duration relies on the largest-first order.
constexpr std::array<Unit, 5> duration_units{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

// Binary units first: format_size uses them largest-first.
constexpr std::array<Unit, 9> size_units{{
    {"TiB", 1ULL << 40},
    {"GiB", 1ULL << 30},
    {"MiB", 1ULL << 20},
    {"KiB", 1ULL << 10},
    {"B", 1},
    {"KB", 1'000},
    {"MB", 1'000'000},
    {"GB", 1'000'000'000},
    {"TB", 1'000'000'000'000},
}};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Quotes at most 40 characters of the offending text, so that error messages stay one line.
std::string quoted(std::string_view text) {
  constexpr std::size_t max_shown = 40;
  std::string out = "\"";
  for (const char c : text.substr(0, max_shown)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '"' || c == '\\') {
      out += '?';
    } else {
      out += c;
    }
  }
  if (text.size() > max_shown) {
    out += "...";
  }
  out += '"';
  return out;
}

// Reads the digits at `pos`, advancing it; nullopt when the number exceeds 64 bits.
std::optional<std::uint64_t> read_number(std::string_view text, std::size_t& pos) {
  std::uint64_t n = 0;
  while (pos < text.size() && is_digit(text[pos])) {
    const auto digit = static_cast<std::uint64_t>(text[pos] - '0');
    if (n > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      return std::nullopt;
    }
    n = n * 10 + digit;
    ++pos;
  }
  return n;
}

std::string_view read_unit(std::string_view text, std::size_t& pos) {
  while (pos < text.size() && text[pos] == ' ') {
    ++pos;
  }
  const std::size_t start = pos;
  while (pos < text.size() && is_alpha(text[pos])) {
    ++pos;
  }
  return text.substr(start, pos - start);
}

bool checked_mul_add(std::uint64_t n, std::uint64_t factor, std::uint64_t limit,
                     std::uint64_t& total) {
  if (factor != 0 && n > limit / factor) {
    return false;
  }
  const std::uint64_t term = n * factor;
  if (term > limit - total) {
    return false;
  }
  total += term;
  return true;
}

} // namespace

UnitResult<std::chrono::milliseconds> parse_duration(std::string_view text) {
  using R = UnitResult<std::chrono::milliseconds>;
  const auto bad = [&text](std::string_view why) {
    return R::failure("expected a duration like \"60s\", \"31m\", \"1h30m\" or \"500ms\", got " +
                      quoted(text) + " (" + std::string(why) + ")");
  };
  if (text.empty()) {
    return bad("empty");
  }
  if (text == "0") {
    return R::success(std::chrono::milliseconds{0});
  }
  constexpr auto limit =
      static_cast<std::uint64_t>(std::numeric_limits<std::chrono::milliseconds::rep>::max());
  std::uint64_t total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (!is_digit(text[pos])) {
      return bad("a number must come first");
    }
    const auto n = read_number(text, pos);
    if (!n) {
      return bad("number too large");
    }
    const std::string_view unit = read_unit(text, pos);
    if (unit.empty()) {
      return bad("missing unit: ms, s, m, h or d");
    }
    const Unit* found = nullptr;
    for (const Unit& u : duration_units) {
      if (u.name == unit) {
        found = &u;
      }
    }
    if (found == nullptr) {
      return bad("unknown unit " + quoted(unit) + ": use ms, s, m, h or d");
    }
    if (!checked_mul_add(*n, found->factor, limit, total)) {
      return bad("too large");
    }
  }
  return R::success(std::chrono::milliseconds{static_cast<std::int64_t>(total)});
}

UnitResult<std::uint64_t> parse_size(std::string_view text) {
  using R = UnitResult<std::uint64_t>;
  const auto bad = [&text](std::string_view why) {
    return R::failure(
        "expected a size like \"64KiB\", \"10MiB\", \"1GB\" or a number of bytes, got " +
        quoted(text) + " (" + std::string(why) + ")");
  };
  if (text.empty()) {
    return bad("empty");
  }
  std::size_t pos = 0;
  if (!is_digit(text[0])) {
    return bad("a number must come first");
  }
  const auto n = read_number(text, pos);
  if (!n) {
    return bad("number too large");
  }
  const std::string_view unit = read_unit(text, pos);
  if (pos != text.size()) {
    return bad("unexpected " + quoted(text.substr(pos)) + " after the unit");
  }
  if (unit.empty()) {
    if (text.back() == ' ') {
      return bad("trailing space");
    }
    return R::success(*n);
  }
  for (const Unit& u : size_units) {
    if (iequals(u.name, unit)) {
      std::uint64_t total = 0;
      if (!checked_mul_add(*n, u.factor, std::numeric_limits<std::uint64_t>::max(), total)) {
        return bad("too large");
      }
      return R::success(total);
    }
  }
  return bad("unknown unit " + quoted(unit) + ": use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB");
}

std::string format_duration(std::chrono::milliseconds duration) {
  if (duration.count() <= 0) {
    return duration.count() == 0 ? "0s" : std::to_string(duration.count()) + "ms";
  }
  auto rest = static_cast<std::uint64_t>(duration.count());
  // Sub-second remainders read better as one millisecond count ("1500ms", not "1s500ms").
  if (rest % 1000 != 0) {
    return std::to_string(rest) + "ms";
  }
  std::string out;
  for (const Unit& u : duration_units) {
    if (rest >= u.factor) {
      out += std::to_string(rest / u.factor);
      out += u.name;
      rest %= u.factor;
    }
  }
  return out;
}

std::string format_size(std::uint64_t bytes) {
  for (const Unit& u : size_units) {
    if (u.factor > 1 && bytes != 0 && bytes % u.factor == 0 && u.name.ends_with("iB")) {
      return std::to_string(bytes / u.factor) + std::string(u.name);
    }
  }
  return std::to_string(bytes) + "B";
}

} // namespace icalgate::proxy
