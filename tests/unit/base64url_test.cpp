#include "calendar/base64url.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>

using icalgate::calendar::base64url_decode;
using icalgate::calendar::base64url_encode;

TEST_CASE("base64url: RFC 4648's vectors, unpadded", "[base64url]") {
  // RFC 4648 section 10, padding removed as JWTs have it.
  CHECK(base64url_encode("") == "");
  CHECK(base64url_encode("f") == "Zg");
  CHECK(base64url_encode("fo") == "Zm8");
  CHECK(base64url_encode("foo") == "Zm9v");
  CHECK(base64url_encode("foob") == "Zm9vYg");
  CHECK(base64url_encode("fooba") == "Zm9vYmE");
  CHECK(base64url_encode("foobar") == "Zm9vYmFy");
  // The two characters where the alphabets differ.
  CHECK(base64url_encode("\xfb\xff") == "-_8");
}

TEST_CASE("base64url: decoding takes both alphabets, with or without padding", "[base64url]") {
  for (const std::string bytes :
       {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xfb\xff\xfe"}) {
    const std::string text = base64url_encode(bytes);
    CHECK(base64url_decode(text) == bytes);
    CHECK(base64url_decode(text + std::string((4 - text.size() % 4) % 4, '=')) == bytes);
  }
  CHECK(base64url_decode("+/8") == std::string("\xfb\xff"));
  CHECK(base64url_decode("-_8=") == std::string("\xfb\xff"));
}

TEST_CASE("base64url: anything else is refused", "[base64url]") {
  CHECK_FALSE(base64url_decode("Zm9v!"));
  CHECK_FALSE(base64url_decode("Zm 9v"));
  CHECK_FALSE(base64url_decode("Zm9\nv"));
  CHECK_FALSE(base64url_decode("Zm9vY")); // five characters: no encoding has that length
  CHECK_FALSE(base64url_decode("Zm=9v"));
}
