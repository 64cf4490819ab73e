#pragma once
// Errors as values for the pure codec: every parse either yields a value or says why not.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace icalgate::protocol {

enum class Errc {
  incomplete,    // more input is needed before a decision can be made
  syntax,        // the input violates the grammar
  line_too_long, // a line exceeded its configured bound
  literal_too_large,
  too_many,    // a count limit (items, parts, nesting) was exceeded
  unsupported, // valid grammar that this codec deliberately does not handle
  not_found,   // e.g. a section that does not exist in the message
};

struct Error {
  Errc code;
  std::string message;

  friend bool operator==(const Error&, const Error&) = default;
};

// `E` lets an edge with richer failures (the Graph client's HTTP status) keep the same shape.
template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {} // NOLINT(google-explicit-constructor)
  Result(E error) : v_(std::move(error)) {} // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, E> v_;
};

inline Error make_error(Errc code, std::string message) {
  return Error{code, std::move(message)};
}

} // namespace icalgate::protocol
