#pragma once
// Durations and sizes as people write them in the configuration ("31m", "64MiB"), so that a
// timeout is never a bare number whose unit the reader has to guess.

#include <cassert>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace icalgate::proxy {

// A parsed value or the reason the text was rejected (for the config loader to prefix with
// the key and line).
template <class T>
class [[nodiscard]] UnitResult {
 public:
  static UnitResult success(T value) { return UnitResult(std::in_place_index<0>, value); }
  static UnitResult failure(std::string why) {
    return UnitResult(std::in_place_index<1>, std::move(why));
  }

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  const T& value() const {
    assert(ok());
    return std::get<0>(v_);
  }
  const std::string& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  template <std::size_t I, class U>
  UnitResult(std::in_place_index_t<I> index, U&& u) : v_(index, std::forward<U>(u)) {}

  std::variant<T, std::string> v_;
};

// "500ms", "60s", "31m", "1h", "7d" and sums of them ("1h30m"); whole non-negative numbers,
// an optional space between number and unit. A unit is required except for "0". Values that
// do not fit std::chrono::milliseconds are rejected, never wrapped.
UnitResult<std::chrono::milliseconds> parse_duration(std::string_view text);

// Plain bytes ("1048576", "512B") or a number with a unit: KiB, MiB, GiB, TiB are powers of
// 1024, KB, MB, GB, TB powers of 1000 (units are case-insensitive). Overflow is rejected.
UnitResult<std::uint64_t> parse_size(std::string_view text);

// The shortest exact spelling in the same notation: "31m", "1h30m", "1500ms", "0s".
std::string format_duration(std::chrono::milliseconds duration);

// The largest binary unit that divides the size exactly: "64KiB", "10MiB", "1000B".
std::string format_size(std::uint64_t bytes);

} // namespace icalgate::proxy
