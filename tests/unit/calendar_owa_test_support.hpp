#pragma once
// Shared by calendar_owa_link_test.cpp and calendar_imip_message_test.cpp: the fixtures of
// tests/unit/data/owa/ (written by generate.py there) and small MIME helpers.

#include "calendar/owa_link.hpp"
#include "protocol/mime/message.hpp"

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

inline std::string owa_fixture_dir() {
  return std::string(ICALGATE_TEST_DATA_DIR) + "/unit/data/owa";
}

inline std::string read_owa_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  INFO(path);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), {}};
}

inline std::string read_owa_fixture(const std::string& name) {
  return read_owa_file(owa_fixture_dir() + "/" + name + ".eml");
}

inline icalgate::protocol::mime::Message parse_owa_message(std::string bytes) {
  auto msg = icalgate::protocol::mime::parse_message(std::move(bytes));
  REQUIRE(msg.ok());
  return std::move(msg).value();
}

// The meeting-message fixtures (each has NAME.json beside it).
inline const std::vector<std::string>& owa_meeting_fixtures() {
  static const std::vector<std::string> names = {
      "html-base64-longhead",         "alternative-base64",    "plain-qp-latin1-cancel",
      "mixed-alternative-attachment", "mixed-html-attachment", "html-exchange2013",
      "plain-qp-exchange2013",        "plain-base64-reply",    "related-html-inline-image",
  };
  return names;
}

inline const std::vector<std::string>& owa_negative_fixtures() {
  static const std::vector<std::string> names = {
      "not-quoted-marker",
      "not-html-marker-later",
      "not-external-calendar",
      "not-other-link",
  };
  return names;
}

inline std::string_view part_bytes(const icalgate::protocol::mime::Message& m,
                                   const icalgate::protocol::mime::MimePart& p) {
  return std::string_view(m.raw()).substr(p.offset, p.end_offset() - p.offset);
}

inline std::string_view header_bytes(const icalgate::protocol::mime::Message& m,
                                     const icalgate::protocol::mime::MimePart& p) {
  return std::string_view(m.raw()).substr(p.offset, p.header_size.physical);
}

inline std::string_view body_bytes(const icalgate::protocol::mime::Message& m,
                                   const icalgate::protocol::mime::MimePart& p) {
  return std::string_view(m.raw()).substr(p.body_offset(), p.body_size.physical);
}

inline std::string lower_ascii(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return s;
}

inline std::string type_of(const icalgate::protocol::mime::MimePart& p) {
  return lower_ascii(p.content.type.value_or("") + "/" + p.content.subtype.value_or(""));
}

inline std::string param_of(const icalgate::protocol::mime::MimePart& p, std::string_view key) {
  for (const auto& [k, v] : p.content.type_params) {
    if (icalgate::protocol::mime::iequals(k, key)) {
      return v;
    }
  }
  return {};
}
