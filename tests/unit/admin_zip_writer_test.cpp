// The stored-entry ZIP writer behind the Thunderbird add-on, read back with an independent
// reader (tests/unit/admin_test_support.hpp).

#include "admin_test_support.hpp"
#include "proxy/zip_writer.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>
#include <vector>

using namespace icalgate::proxy;
using icalgate::test::crc32_of;
using icalgate::test::read_stored_zip;

TEST_CASE("zip: the test's own CRC-32 is the standard one", "[admin][zip]") {
  CHECK(crc32_of("") == 0);
  CHECK(crc32_of("123456789") == 0xcbf43926U);
}

TEST_CASE("zip: entries read back by name and content, in order", "[admin][zip]") {
  std::string binary;
  for (int i = 0; i < 256; ++i) {
    binary += static_cast<char>(i);
  }
  const std::vector<ZipEntry> entries{
      {"manifest.json", "{\"manifest_version\": 2}\n"},
      {"empty.txt", ""},
      {"dir/nested/bytes.bin", binary},
      {"big.txt", std::string(200'000, 'x')},
  };
  const auto zip = write_zip(entries);
  REQUIRE(zip.ok());
  std::string why;
  const auto files = read_stored_zip(*zip, why);
  INFO(why);
  REQUIRE(files.has_value());
  REQUIRE(files->size() == entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    CHECK((*files)[i].name == entries[i].name);
    CHECK((*files)[i].data == entries[i].data);
  }
}

TEST_CASE("zip: the same entries give the same bytes", "[admin][zip]") {
  const std::vector<ZipEntry> entries{{"a.txt", "alpha"}, {"b.txt", "beta"}};
  const auto first = write_zip(entries);
  const auto second = write_zip(entries);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(*first == *second);
  // No clock: the timestamp is 1980-01-01 00:00 (MS-DOS time 0, date 0x0021) in the local
  // header at offset 10.
  CHECK(first->substr(10, 4) == std::string("\x00\x00\x21\x00", 4));
  const auto other = write_zip({{"a.txt", "alphA"}, {"b.txt", "beta"}});
  REQUIRE(other.ok());
  CHECK(*other != *first);
}

TEST_CASE("zip: an empty archive is just the end record", "[admin][zip]") {
  const auto zip = write_zip({});
  REQUIRE(zip.ok());
  CHECK(zip->size() == 22);
  std::string why;
  const auto files = read_stored_zip(*zip, why);
  REQUIRE(files.has_value());
  CHECK(files->empty());
}

TEST_CASE("zip: unsafe or duplicate names are refused", "[admin][zip]") {
  for (const char* name : {"", "/etc/passwd", "../x", "a/../b", "a//b", "a/", "./a", "a\\b"}) {
    INFO(name);
    const auto zip = write_zip({{name, "x"}});
    REQUIRE_FALSE(zip.ok());
  }
  CHECK_FALSE(write_zip({{std::string("a\0b", 3), "x"}}).ok());
  const auto duplicate = write_zip({{"a.txt", "1"}, {"b.txt", "2"}, {"a.txt", "3"}});
  REQUIRE_FALSE(duplicate.ok());
  CHECK(duplicate.error().message == "duplicate entry a.txt");
  CHECK(write_zip({{"a.b/c-d_e.txt", "ok"}}).ok());
}
