#pragma once
// Shared by the calendar_*_test.cpp files: the Graph fixtures of tests/unit/data/graph/ and
// helpers to look at iCalendar text line by line.

#include "calendar/graph_event.hpp"
#include "calendar/ical_builder.hpp"

#include <catch2/catch_test_macros.hpp>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

inline std::string graph_fixture_dir() {
  return std::string(ICALGATE_TEST_DATA_DIR) + "/unit/data/graph";
}

inline std::string read_graph_fixture(const std::string& name) {
  std::ifstream in(graph_fixture_dir() + "/" + name + ".json", std::ios::binary);
  INFO(name);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), {}};
}

inline icalgate::calendar::GraphEventMessage load_graph_message(const std::string& name) {
  auto parsed = icalgate::calendar::parse_event_message_response(read_graph_fixture(name));
  INFO(name << ": " << (parsed.ok() ? std::string() : parsed.error().message));
  REQUIRE(parsed.ok());
  return std::move(parsed).value();
}

// The Date header of every fixture's message, as the caller passes it.
inline icalgate::calendar::IcalOptions fixture_options() {
  icalgate::calendar::IcalOptions options;
  options.dtstamp = icalgate::calendar::CivilDateTime{{2026, 11, 18}, 10, 2, 11};
  return options;
}

inline std::string build_fixture_ics(const std::string& name) {
  auto text = icalgate::calendar::build_icalendar(load_graph_message(name), fixture_options());
  INFO(name << ": " << (text.ok() ? std::string() : text.error().message));
  REQUIRE(text.ok());
  return std::move(text).value();
}

// Content lines with folding undone (RFC 5545 §3.1), without their CRLF.
inline std::vector<std::string> unfolded_lines(const std::string& ics) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < ics.size()) {
    std::size_t end = ics.find("\r\n", pos);
    if (end == std::string::npos) {
      end = ics.size();
    }
    std::string line = ics.substr(pos, end - pos);
    if (!line.empty() && line[0] == ' ' && !lines.empty()) {
      lines.back() += line.substr(1);
    } else {
      lines.push_back(std::move(line));
    }
    pos = end + 2;
  }
  return lines;
}

inline bool has_line(const std::string& ics, const std::string& line) {
  for (const auto& l : unfolded_lines(ics)) {
    if (l == line) {
      return true;
    }
  }
  return false;
}

// Unfolded lines that start with `prefix` (e.g. "ATTENDEE").
inline std::vector<std::string> lines_starting(const std::string& ics, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& l : unfolded_lines(ics)) {
    if (l.rfind(prefix, 0) == 0) {
      out.push_back(l);
    }
  }
  return out;
}

// The VEVENT alone (VTIMEZONEs carry RRULEs and DTSTARTs of their own).
inline std::string vevent_of(const std::string& ics) {
  const auto begin = ics.find("BEGIN:VEVENT\r\n");
  REQUIRE(begin != std::string::npos);
  return ics.substr(begin);
}

inline const char* const kGraphMessageFixtures[] = {
    "request-weekly-berlin",
    "request-daily-pacific-numbered",
    "request-absmonthly-sydney-noend",
    "request-relmonthly-tokyo",
    "request-relmonthly-weekdays-india",
    "request-absyearly-saopaulo",
    "request-relyearly-utc",
    "request-allday-single",
    "request-allday-recurring",
    "request-minimal",
    "request-prefer-tokyo-sequence",
    "request-custom-zone",
    "cancel-series-berlin",
    "cancel-occurrence-pacific",
    "reply-accepted",
    "reply-tentative",
    "reply-declined",
};
