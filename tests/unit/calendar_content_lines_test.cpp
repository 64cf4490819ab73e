#include "calendar/content_lines.hpp"

#include "calendar_test_support.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>
#include <vector>

using namespace icalgate::calendar;

namespace {

std::vector<std::string> split_crlf(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find("\r\n", pos);
    REQUIRE(end != std::string::npos);
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 2;
  }
  return lines;
}

} // namespace

TEST_CASE("calendar: content lines fold at 75 octets", "[calendar]") {
  const std::string folded = fold_content_lines("SUMMARY:" + std::string(200, 'A') + "\r\nEND:X");
  const auto lines = split_crlf(folded);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "SUMMARY:" + std::string(67, 'A'));
  CHECK(lines[1] == " " + std::string(74, 'A'));
  CHECK(lines[2] == " " + std::string(59, 'A'));
  CHECK(lines[3] == "END:X");
  CHECK(unfold_content_lines(folded) == "SUMMARY:" + std::string(200, 'A') + "\r\nEND:X\r\n");

  // A line of exactly 75 octets stays whole.
  CHECK(fold_content_lines(std::string(75, 'B')) == std::string(75, 'B') + "\r\n");
}

TEST_CASE("calendar: folding keeps UTF-8 sequences whole", "[calendar]") {
  std::string value = "X:";
  for (int i = 0; i < 40; ++i) {
    value += "日😀"; // 3 + 4 octets
  }
  const auto lines = split_crlf(fold_content_lines(value));
  REQUIRE(lines.size() > 3);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    INFO(line);
    CHECK(line.size() <= 75);
    if (i + 1 < lines.size()) {
      CHECK(line.size() >= 72); // a cut moves back by at most three octets
    }
    const std::size_t first = line[0] == ' ' ? 1 : 0;
    CHECK((static_cast<unsigned char>(line[first]) & 0xC0) != 0x80);
  }
  CHECK(unfold_content_lines(fold_content_lines(value)) == value + "\r\n");
}

TEST_CASE("calendar: libical's fold at the line end is repaired", "[calendar]") {
  // What libical 3.0.16 writes for a value that fills its last line exactly.
  CHECK(unfold_content_lines("SUMMARY:\r\n AAAA\r\r\n \nEND:X\r\n") == "SUMMARY:AAAA\r\nEND:X\r\n");

  // A 73-octet UID triggers it in libical; the iCalendar still has only CRLF line ends.
  GraphEventMessage m = load_graph_message("request-minimal");
  for (std::size_t n : {72U, 73U, 74U, 147U, 148U, 400U}) {
    m.event.ical_uid = std::string(n, 'U');
    const auto ics = build_icalendar(m, fixture_options());
    REQUIRE(ics.ok());
    INFO(n);
    CHECK(ics->find("\r\r") == std::string::npos);
    CHECK(has_line(*ics, "UID:" + std::string(n, 'U')));
    for (const auto& line : split_crlf(*ics)) {
      CHECK(line.size() <= 75);
      CHECK(line.find('\n') == std::string::npos);
    }
  }
}
