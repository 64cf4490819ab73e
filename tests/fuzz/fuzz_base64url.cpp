// Decodes arbitrary text as base64url (the parts of the identity platform's JWTs) and checks:
// what decodes encodes back to the same text, once padding is dropped and the standard
// alphabet's two characters are spelled the URL way (up to unused low bits in the last
// character); and any bytes, encoded, decode to themselves.

#include "calendar/base64url.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using icalgate::calendar::base64url_decode;
using icalgate::calendar::base64url_encode;

namespace {

void check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

std::string url_spelling(std::string_view text) {
  while (!text.empty() && text.back() == '=') {
    text.remove_suffix(1);
  }
  std::string out(text);
  for (char& c : out) {
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto decoded = base64url_decode(input)) {
    // The same text but for the bits a last character may carry beyond the data, which a
    // decoder may ignore (RFC 4648 section 3.5), as OpenSSL's does.
    const std::string again = base64url_encode(*decoded);
    const std::string spelled = url_spelling(input);
    check(again.size() == spelled.size());
    check(again.empty() || again.compare(0, again.size() - 1, spelled, 0, again.size() - 1) == 0);
    check(base64url_decode(again) == decoded);
  }
  const std::string encoded = base64url_encode(input);
  check(encoded.find_first_of("+/=") == std::string::npos);
  const auto back = base64url_decode(encoded);
  check(back.has_value() && *back == input);
  return 0;
}
