// A rewrite announced from BODYSTRUCTURE, RFC822.SIZE and the Graph event: the message built
// later from the whole original has exactly the announced size and top-level header, and
// differs from the unannounced rewrite only by its epilogue (and, when the body is wrapped,
// the boundary).

#include "calendar/announced_rewrite.hpp"
#include "calendar/meeting_rewrite.hpp"
#include "calendar_owa_test_support.hpp"
#include "protocol/fetch_render.hpp"
#include "protocol/response.hpp"

#include <catch2/catch_test_macros.hpp>

namespace cal = icalgate::calendar;
namespace mime = icalgate::protocol::mime;
namespace protocol = icalgate::protocol;

namespace {

// The BODYSTRUCTURE an IMAP server answers for `bytes`, as the relay parses it.
protocol::SExpr bodystructure_of(const std::string& bytes) {
  const auto msg = parse_owa_message(bytes);
  const auto items = protocol::parse_fetch_items("BODYSTRUCTURE");
  REQUIRE(items.ok());
  auto rendered = protocol::render_fetch(msg, *items, {});
  REQUIRE(rendered.ok());
  auto response = protocol::parse_response(*rendered);
  REQUIRE(response.ok());
  const auto& data = std::get<protocol::FetchData>(response->body);
  REQUIRE(data.atts.size() == 1);
  return data.atts.front().sexp;
}

std::string header_of(const std::string& bytes) {
  const std::size_t end = bytes.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  return bytes.substr(0, end + 4);
}

struct Announced {
  std::string original;
  std::string json;
  cal::Announcement announcement;
};

Announced announce_fixture(const std::string& name) {
  Announced a;
  a.original = read_owa_fixture(name);
  a.json = read_owa_file(owa_fixture_dir() + "/" + name + ".json");
  auto announcement =
      cal::announce_rewrite(bodystructure_of(a.original), a.original.size(), a.json, "<id@x>");
  INFO(name << ": " << (announcement.ok() ? "" : announcement.error().message));
  REQUIRE(announcement.ok());
  a.announcement = *announcement;
  return a;
}

} // namespace

TEST_CASE("announced rewrite: the size and the top-level header hold once the body is fetched",
          "[announce]") {
  for (const auto& name : owa_meeting_fixtures()) {
    INFO(name);
    const Announced a = announce_fixture(name);
    auto plain = cal::rewrite_meeting_message(a.original, a.json);
    REQUIRE(plain.ok());
    cal::RewriteOptions options;
    options.announced = a.announcement;
    auto padded = cal::rewrite_meeting_message(a.original, a.json, options);
    INFO((padded.ok() ? "" : padded.error().message));
    REQUIRE(padded.ok());
    CHECK(padded->size() == a.announcement.size);
    // A bound, not a guess: what the client downloads grows by less than the original again.
    CHECK(a.announcement.size >= plain->size());
    CHECK(a.announcement.size < 2 * plain->size() + 8192);
    const auto before = parse_owa_message(*plain);
    const auto after = parse_owa_message(*padded);
    CHECK(after.root().children.size() == before.root().children.size());
    // The header a header sync saw is the rewritten message's header.
    CHECK(cal::announced_header(header_of(a.original), a.announcement.boundary, true) ==
          header_of(*padded));
    if (a.announcement.boundary.empty()) {
      // Same bytes, then an epilogue of blank lines.
      REQUIRE(padded->starts_with(*plain));
      CHECK(padded->substr(plain->size()).find_first_not_of(" \r\n") == std::string::npos);
      CHECK(header_of(*padded) == header_of(a.original));
    } else {
      CHECK(header_of(*padded).find(a.announcement.boundary) != std::string::npos);
    }
  }
}

TEST_CASE("announced rewrite: a description longer than its room is shortened", "[announce]") {
  const Announced a = announce_fixture("plain-base64-reply");
  auto plain = cal::rewrite_meeting_message(a.original, a.json);
  REQUIRE(plain.ok());
  cal::RewriteOptions options;
  options.announced = a.announcement;
  options.announced->size = plain->size() - 40;
  auto shortened = cal::rewrite_meeting_message(a.original, a.json, options);
  INFO((shortened.ok() ? "" : shortened.error().message));
  REQUIRE(shortened.ok());
  CHECK(shortened->size() == plain->size() - 40);
  // Far too small: no DESCRIPTION left to give, and the rewrite says so.
  options.announced->size = a.original.size() / 2;
  CHECK_FALSE(cal::rewrite_meeting_message(a.original, a.json, options).ok());
}

TEST_CASE("announced rewrite: the announced boundary is kept, or the rewrite refuses",
          "[announce]") {
  const Announced a = announce_fixture("html-base64-longhead");
  REQUIRE_FALSE(a.announcement.boundary.empty());
  // Another seed, another boundary; the same seed, the same.
  auto again =
      cal::announce_rewrite(bodystructure_of(a.original), a.original.size(), a.json, "<id@x>");
  REQUIRE(again.ok());
  CHECK(*again == a.announcement);
  // A body that contains the announced boundary cannot take it.
  const std::size_t end = a.original.find("\r\n\r\n");
  std::string clashing = a.original;
  clashing.insert(end + 4, "<!-- " + a.announcement.boundary + " -->\r\n");
  cal::RewriteOptions options;
  options.announced = a.announcement;
  options.announced->size += 64;
  CHECK_FALSE(cal::rewrite_meeting_message(clashing, a.json, options).ok());
  // A message that needs no wrapping was not announced with a boundary.
  const Announced alt = announce_fixture("alternative-base64");
  CHECK(alt.announcement.boundary.empty());
}

TEST_CASE("announced rewrite: a structure with its own calendar is no OWA-link message",
          "[announce]") {
  const std::string external = read_owa_fixture("not-external-calendar");
  auto a = cal::announce_rewrite(bodystructure_of(external), external.size(),
                                 read_owa_file(owa_fixture_dir() + "/alternative-base64.json"),
                                 "<id@x>");
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().code == protocol::Errc::not_found);
}

TEST_CASE("announced header: fields selected by a header sync", "[announce]") {
  const std::string b = "_icalgate_0123456789abcdef";
  const std::string alt = "Content-Type: multipart/alternative;\r\n\tboundary=\"" + b + "\"\r\n";
  CHECK(cal::announced_header("Subject: x\r\nContent-Type: text/html;\r\n charset=utf-8\r\n"
                              "Content-Transfer-Encoding: base64\r\nDate: d\r\n\r\n",
                              b, true) == "Subject: x\r\n" + alt + "Date: d\r\n\r\n");
  // Content-Type asked, none in the original: the new one ends the selection.
  CHECK(cal::announced_header("Subject: x\r\n\r\n", b, true) == "Subject: x\r\n" + alt + "\r\n");
  CHECK(cal::announced_header("Subject: x\r\n\r\n", b, false) == "Subject: x\r\n\r\n");
  CHECK(cal::announced_header("Subject: x\r\n\r\n", "", true) == "Subject: x\r\n\r\n");
}
