#include "protocol/framer.hpp"

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using icalgate::protocol::Direction;
using icalgate::protocol::Errc;
using icalgate::protocol::find_literal_announcement;
using icalgate::protocol::Frame;
using icalgate::protocol::FrameKind;
using icalgate::protocol::Framer;
using icalgate::protocol::FramerOptions;
using icalgate::protocol::LiteralAnnouncement;
using namespace std::string_literals;

namespace {

// A frame copied out of the framer (views die with the next call).
struct Owned {
  FrameKind kind = FrameKind::line;
  std::string bytes;
  std::optional<LiteralAnnouncement> literal;
  std::optional<Errc> error;
  bool continuation = false;
  bool literal_end = false;
  bool message_end = false;
};

Owned own(const Frame& f) {
  return Owned{f.kind,         std::string(f.bytes), f.literal,    f.error,
               f.continuation, f.literal_end,        f.message_end};
}

std::string escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\0') {
      out += "\\0";
    } else {
      out += c;
    }
  }
  return out;
}

// One readable string per frame, so that Catch prints useful diffs.
std::string describe(const Owned& f) {
  std::string s;
  switch (f.kind) {
  case FrameKind::line:
    s = "line";
    break;
  case FrameKind::literal:
    s = "literal";
    break;
  case FrameKind::skipped:
    s = "skipped";
    break;
  }
  s += " '" + escape(f.bytes) + "'";
  if (f.literal) {
    s += " announces{" + std::to_string(f.literal->size) +
         (f.literal->non_synchronizing ? "+" : "") + (f.literal->binary ? " binary" : "") + "}";
  }
  if (f.error) {
    s += " error=" + std::to_string(static_cast<int>(*f.error));
  }
  if (f.continuation) {
    s += " continuation";
  }
  if (f.literal_end) {
    s += " literal_end";
  }
  if (f.message_end) {
    s += " message_end";
  }
  return s;
}

struct Run {
  std::vector<Owned> frames;
  std::string concatenated;
  std::size_t pending = 0; // bytes still buffered at the end (an unterminated line)
};

struct Hooks {
  // Called for every line frame announcing a literal; return true to cancel_literal().
  bool (*cancel)(const Owned&) = nullptr;
};

Run run_chunks(Direction dir, const FramerOptions& opts,
               const std::vector<std::string_view>& chunks, Hooks hooks = {}) {
  Framer framer(dir, opts);
  Run run;
  for (const std::string_view chunk : chunks) {
    framer.feed(chunk);
    while (auto frame = framer.next()) {
      run.concatenated.append(frame->bytes);
      run.frames.push_back(own(*frame));
      if (hooks.cancel != nullptr && frame->kind == FrameKind::line && frame->literal &&
          !frame->error && hooks.cancel(run.frames.back())) {
        REQUIRE(framer.cancel_literal());
      }
      REQUIRE(framer.buffered() <= opts.max_line);
    }
  }
  run.pending = framer.buffered();
  return run;
}

Run run_whole(Direction dir, std::string_view input, const FramerOptions& opts = {}) {
  return run_chunks(dir, opts, {input});
}

std::vector<std::string_view> split_at(std::string_view input,
                                       const std::vector<std::size_t>& cuts) {
  std::vector<std::string_view> chunks;
  std::size_t start = 0;
  for (const std::size_t cut : cuts) {
    chunks.push_back(input.substr(start, cut - start));
    start = cut;
  }
  chunks.push_back(input.substr(start));
  return chunks;
}

// Literal pieces (and skipped pieces) depend on where the input was cut; everything else
// must not. Merging the pieces gives the chunking-independent view of a run.
std::vector<std::string> normalized(const std::vector<Owned>& frames) {
  std::vector<Owned> merged;
  for (const Owned& f : frames) {
    if (!merged.empty()) {
      Owned& prev = merged.back();
      const bool piece = f.kind == FrameKind::literal || f.kind == FrameKind::skipped;
      if (piece && prev.kind == f.kind && !prev.literal_end && !prev.message_end && !f.error) {
        prev.bytes += f.bytes;
        prev.literal_end = f.literal_end;
        prev.message_end = f.message_end;
        continue;
      }
    }
    merged.push_back(f);
  }
  std::vector<std::string> out;
  out.reserve(merged.size());
  for (const Owned& f : merged) {
    out.push_back(describe(f));
  }
  return out;
}

std::vector<std::string> describe_all(const std::vector<Owned>& frames) {
  std::vector<std::string> out;
  for (const Owned& f : frames) {
    out.push_back(describe(f));
  }
  return out;
}

const std::vector<std::string>& command_corpus() {
  static const std::vector<std::string> corpus = {
      "a1 CAPABILITY\r\na2 LOGIN {5}\r\nalice {6}\r\nsecret\r\na3 SELECT INBOX\r\n",
      "a4 APPEND INBOX (\\Seen) {23+}\r\nSubject: hi\r\n\r\nbody!\r\n\r\n"
      "a5 APPEND INBOX ~{4+}\r\n\0\1\2\3\r\n"s,
      "a6 UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (From)])\ra7 NOOP\n"
      "a8 LOGIN \"x{5}\" {0}\r\n\r\n",
      "a9 AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\na10 IDLE\r\nDONE\r\n",
      "b1 SEARCH SUBJECT {3}\r\n{3}\r\n b2 {2+}\r\n\r\n\r\nb3 LOGOUT\r\n",
      "c1 APPEND INBOX {999999999}\r\nc2 NOOP\r\n",
      "c3 APPEND INBOX {99999999+}\r\nsome data that is skipped\r\nc4 NOOP\r\n",
      "c5 NOOP with a very long line that will exceed small limits {4+}\r\nabcd trailing\r\nc6 "
      "NOOP\r\n",
      "c7 LOGIN a\0b\r\nc8 NOOP\r\n"s,
      "c9 APPEND X {000000000000000000000000000000000000000000000000000000000000000000003+}\r\nxyz"
      "\r\nd1 NOOP\r\n",
      "d2 LOGIN \"we {3+}\r\nird\" {3+}\r\npw!\r\nd3 LOGIN \"a\\\\\" {2+}\r\nxy\r\n",
      "d4 LOGIN \"quoted and long enough to be skipped {3+}\r\nd5 X \"q\" and long {2+}\r\nab\r\n",
      "partial line without end",
  };
  return corpus;
}

const std::vector<std::string>& response_corpus() {
  static const std::vector<std::string> corpus = {
      "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready {5}\r\n+ go ahead {5}\r\n"
      "a1 OK done {3}\r\n* BYE bye {2}\r\n",
      "* 1 FETCH (UID 7 BODY[HEADER.FIELDS (From)] {20}\r\nFrom: a@example.org\n"
      " FLAGS (\\Seen))\r\n* 2 FETCH (BINARY[1] ~{3}\r\n\0\r\n)\r\na2 OK FETCH completed\r\n"s,
      "* LIST () \"/\" {5}\r\nINBOX\r\n* 3 EXISTS\r\n+\r\n* 4 FETCH (BODY[] {1}\r\n"
      "x+ {2}\r\nab)\r\n",
      "* 5 FETCH (BODY[] {0}\r\n)\n* no whatever {4}\r\n* PREAUTH hi {1}\r\n",
      "* 6 FETCH (BODY[] {12345678}\r\nshort\r\n* 7 EXISTS\r\n",
      "* 8 FETCH (X xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx {6}\r\nabcdef "
      "tail)\r\n* 9 EXISTS\r\n",
      "* OK xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx {6}\r\n* 10 EXISTS\r\n",
      "+ yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy {6}\r\n* 11 EXISTS\r\n",
  };
  return corpus;
}

void check_split_invariance(Direction dir, const std::string& input, const FramerOptions& opts) {
  const Run whole = run_whole(dir, input, opts);
  // Every byte comes out again, except an unterminated line at the very end.
  REQUIRE(whole.concatenated + input.substr(input.size() - whole.pending) == input);
  const std::vector<std::string> expected = normalized(whole.frames);

  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    const Run split = run_chunks(dir, opts, split_at(input, {cut}));
    INFO("cut at " << cut << " of '" << escape(input) << "'");
    REQUIRE(split.concatenated == whole.concatenated);
    REQUIRE(split.pending == whole.pending);
    REQUIRE(normalized(split.frames) == expected);
  }

  std::vector<std::string_view> bytewise;
  for (std::size_t i = 0; i < input.size(); ++i) {
    bytewise.push_back(std::string_view(input).substr(i, 1));
  }
  const Run single = run_chunks(dir, opts, bytewise);
  REQUIRE(single.concatenated == whole.concatenated);
  REQUIRE(normalized(single.frames) == expected);

  std::mt19937 rng(20261127);
  for (int round = 0; round < 200; ++round) {
    std::uniform_int_distribution<std::size_t> count_dist(1, 8);
    std::uniform_int_distribution<std::size_t> cut_dist(0, input.size());
    std::vector<std::size_t> cuts(count_dist(rng));
    for (std::size_t& c : cuts) {
      c = cut_dist(rng);
    }
    std::sort(cuts.begin(), cuts.end());
    const Run multi = run_chunks(dir, opts, split_at(input, cuts));
    INFO("round " << round << " of '" << escape(input) << "'");
    REQUIRE(multi.concatenated == whole.concatenated);
    REQUIRE(normalized(multi.frames) == expected);
  }
}

} // namespace

TEST_CASE("framer: a command with synchronizing literals", "[framer]") {
  const Run run =
      run_whole(Direction::client_to_server, "a2 LOGIN {5}\r\nalice {6}\r\nsecret\r\na3 NOOP\r\n");
  CHECK(describe_all(run.frames) == std::vector<std::string>{
                                        "line 'a2 LOGIN {5}\\r\\n' announces{5}",
                                        "literal 'alice' literal_end",
                                        "line ' {6}\\r\\n' announces{6}",
                                        "literal 'secret' literal_end",
                                        "line '\\r\\n' message_end",
                                        "line 'a3 NOOP\\r\\n' message_end",
                                    });
}

TEST_CASE("framer: LITERAL+, literal8 and zero-length literals", "[framer]") {
  const Run run = run_whole(Direction::client_to_server,
                            "a APPEND X {3+}\r\nabc ~{2}\r\n\0\1 ~{1+}\r\nz {0}\r\n\n"s);
  CHECK(describe_all(run.frames) == std::vector<std::string>{
                                        "line 'a APPEND X {3+}\\r\\n' announces{3+}",
                                        "literal 'abc' literal_end",
                                        "line ' ~{2}\\r\\n' announces{2 binary}",
                                        "literal '\\0\x01' literal_end",
                                        "line ' ~{1+}\\r\\n' announces{1+ binary}",
                                        "literal 'z' literal_end",
                                        "line ' {0}\\r\\n' announces{0}",
                                        "literal '' literal_end",
                                        "line '\\n' message_end",
                                    });
}

TEST_CASE("framer: announcement grammar at the end of a line", "[framer]") {
  CHECK(find_literal_announcement("a {5}\r\n") == LiteralAnnouncement{5, false, false});
  CHECK(find_literal_announcement("a {5}\n") == LiteralAnnouncement{5, false, false});
  CHECK(find_literal_announcement("a ~{18446744073709551615+}\r\n") ==
        LiteralAnnouncement{18446744073709551615ULL, true, true});
  // Overflowing sizes saturate, so they are rejected as too large rather than misread.
  CHECK(find_literal_announcement("a {18446744073709551616}\r\n") ==
        LiteralAnnouncement{18446744073709551615ULL, false, false});
  CHECK(find_literal_announcement("{0007}\r\n") == LiteralAnnouncement{7, false, false});
  CHECK(find_literal_announcement("~{2}\r\n") == LiteralAnnouncement{2, false, true});
  CHECK_FALSE(find_literal_announcement("a {}\r\n"));
  CHECK_FALSE(find_literal_announcement("a {+}\r\n"));
  CHECK_FALSE(find_literal_announcement("a {5-}\r\n"));
  CHECK_FALSE(find_literal_announcement("a {5} \r\n"));
  CHECK_FALSE(find_literal_announcement("a {5}x\r\n"));
  CHECK_FALSE(find_literal_announcement("a 5}\r\n"));
  CHECK_FALSE(find_literal_announcement("a {5}"));
  CHECK_FALSE(find_literal_announcement("a {5\r\n"));
}

TEST_CASE("framer: braces inside a quoted string are text", "[framer]") {
  const Run run = run_whole(Direction::client_to_server, "a1 LOGIN \"x {5}\r\n"
                                                         "a2 LOGIN \"x\\\" {5}\r\n"
                                                         "a3 LOGIN \"x\\\\\" {1}\r\nz\r\n"
                                                         "a4 STORE 1 +FLAGS (\\Seen) {1}\r\nz\r\n");
  CHECK(describe_all(run.frames) == std::vector<std::string>{
                                        "line 'a1 LOGIN \"x {5}\\r\\n' message_end",
                                        "line 'a2 LOGIN \"x\\\" {5}\\r\\n' message_end",
                                        "line 'a3 LOGIN \"x\\\\\" {1}\\r\\n' announces{1}",
                                        "literal 'z' literal_end",
                                        "line '\\r\\n' message_end",
                                        "line 'a4 STORE 1 +FLAGS (\\Seen) {1}\\r\\n' announces{1}",
                                        "literal 'z' literal_end",
                                        "line '\\r\\n' message_end",
                                    });
  // A quoted string never spans lines: after a literal the line starts outside quotes.
  const Run fetch = run_whole(Direction::server_to_client,
                              "* 1 FETCH (ENVELOPE (\"a\" {1}\r\n\" \"b {1}\r\nc\r\n");
  CHECK(describe_all(fetch.frames) ==
        std::vector<std::string>{
            "line '* 1 FETCH (ENVELOPE (\"a\" {1}\\r\\n' announces{1}",
            "literal '\"' literal_end",
            "line ' \"b {1}\\r\\n' message_end",
            "line 'c\\r\\n' message_end",
        });
}

TEST_CASE("framer: server status responses and continuations carry no literal", "[framer]") {
  const Run run = run_whole(Direction::server_to_client, "* OK [ALERT] text {5}\r\n"
                                                         "* ok lower case {5}\r\n"
                                                         "* BYE going {5}\r\n"
                                                         "* PREAUTH hi {5}\r\n"
                                                         "* NO[ALERT]{5}\r\n"
                                                         "a1 NO nope {5}\r\n"
                                                         "a2 BAD bad {5}\r\n"
                                                         "+ go ahead {5}\r\n"
                                                         "+\r\n"
                                                         "* 1 FETCH (BODY[] {5}\r\nhello)\r\n");
  CHECK(describe_all(run.frames) == std::vector<std::string>{
                                        "line '* OK [ALERT] text {5}\\r\\n' message_end",
                                        "line '* ok lower case {5}\\r\\n' message_end",
                                        "line '* BYE going {5}\\r\\n' message_end",
                                        "line '* PREAUTH hi {5}\\r\\n' message_end",
                                        "line '* NO[ALERT]{5}\\r\\n' message_end",
                                        "line 'a1 NO nope {5}\\r\\n' message_end",
                                        "line 'a2 BAD bad {5}\\r\\n' message_end",
                                        "line '+ go ahead {5}\\r\\n' continuation message_end",
                                        "line '+\\r\\n' continuation message_end",
                                        "line '* 1 FETCH (BODY[] {5}\\r\\n' announces{5}",
                                        "literal 'hello' literal_end",
                                        "line ')\\r\\n' message_end",
                                    });
}

TEST_CASE("framer: only the first line of a response is a status or continuation", "[framer]") {
  // After a literal the line continues the FETCH response, whatever it starts with.
  const Run run = run_whole(Direction::server_to_client,
                            "* 4 FETCH (BODY[] {1}\r\nx+ {2}\r\nab OK {1}\r\nc)\r\n");
  CHECK(describe_all(run.frames) == std::vector<std::string>{
                                        "line '* 4 FETCH (BODY[] {1}\\r\\n' announces{1}",
                                        "literal 'x' literal_end",
                                        "line '+ {2}\\r\\n' announces{2}",
                                        "literal 'ab' literal_end",
                                        "line ' OK {1}\\r\\n' announces{1}",
                                        "literal 'c' literal_end",
                                        "line ')\\r\\n' message_end",
                                    });
  // Commands have no status responses: "+" and "OK" mean nothing special there.
  const Run cmd = run_whole(Direction::client_to_server, "+ OK {1}\r\nx\r\n");
  CHECK(describe_all(cmd.frames) == std::vector<std::string>{
                                        "line '+ OK {1}\\r\\n' announces{1}",
                                        "literal 'x' literal_end",
                                        "line '\\r\\n' message_end",
                                    });
}

TEST_CASE("framer: an overlong line is rejected and framing resumes after it", "[framer]") {
  FramerOptions opts;
  opts.max_line = 16;
  SECTION("exactly max_line is accepted") {
    const Run run = run_whole(Direction::client_to_server, "a1 NOOP 345678\r\n", opts);
    REQUIRE(run.frames.size() == 1);
    CHECK(run.frames[0].kind == FrameKind::line);
    CHECK_FALSE(run.frames[0].error);
  }
  SECTION("one byte more is not, and the error frame holds the first max_line bytes") {
    const Run run =
        run_chunks(Direction::client_to_server, opts, {"a1 NOOP 345", "6789\r\na2 NOOP\r\n"});
    CHECK(describe_all(run.frames) == std::vector<std::string>{
                                          "skipped 'a1 NOOP 3456789\\r' error=" +
                                              std::to_string(static_cast<int>(Errc::line_too_long)),
                                          "skipped '\\n' message_end",
                                          "line 'a2 NOOP\\r\\n' message_end",
                                      });
  }
  SECTION("a non-synchronizing literal announced by the overlong line is skipped too") {
    const Run run =
        run_whole(Direction::client_to_server,
                  "a1 APPEND INBOX (\\Seen) {4+}\r\nabcd {1+}\r\nz\r\na3 NOOP\r\n", opts);
    const std::vector<std::string> n = normalized(run.frames);
    REQUIRE(n.size() == 2);
    CHECK(n[0] == "skipped 'a1 APPEND INBOX (\\Seen) {4+}\\r\\nabcd {1+}\\r\\nz\\r\\n' error=" +
                      std::to_string(static_cast<int>(Errc::line_too_long)) + " message_end");
    CHECK(n[1] == "line 'a3 NOOP\\r\\n' message_end");
  }
  SECTION("an announcement inside a quoted string of an overlong line is text") {
    const Run run = run_whole(Direction::client_to_server,
                              "a1 LOGIN \"quoted long text {4+}\r\nabcd\r\n", opts);
    const std::vector<std::string> n = normalized(run.frames);
    REQUIRE(n.size() == 2);
    CHECK(n[1] == "line 'abcd\\r\\n' message_end");
  }
  SECTION("an announcement too long to recognise exactly is skipped for good") {
    // The framer keeps only the last 64 bytes of a skipped line; digits running past them
    // could be any size, so nothing after them may ever be taken for a command again.
    const std::string input = "a1 X {" + std::string(70, '0') + "3+}\r\nxyz\r\na2 NOOP\r\n";
    const Run run = run_whole(Direction::client_to_server, input, opts);
    REQUIRE_FALSE(run.frames.empty());
    for (const Owned& f : run.frames) {
      CHECK(f.kind == FrameKind::skipped);
      CHECK_FALSE(f.message_end);
    }
    CHECK(run.concatenated == input);
  }
  SECTION("a client's synchronizing literal is never sent after BAD") {
    const Run run =
        run_whole(Direction::client_to_server, "a1 APPEND INBOX (\\Seen) {4}\r\na3 NOOP\r\n", opts);
    const std::vector<std::string> n = normalized(run.frames);
    REQUIRE(n.size() == 2);
    CHECK(n[1] == "line 'a3 NOOP\\r\\n' message_end");
  }
  SECTION("a server's literal always follows, except after a status response") {
    const Run fetch = run_whole(Direction::server_to_client,
                                "* 1 FETCH (BODY[] {4}\r\nabcd)\r\n* 2 EXISTS\r\n", opts);
    const std::vector<std::string> n = normalized(fetch.frames);
    REQUIRE(n.size() == 2);
    CHECK(n[1] == "line '* 2 EXISTS\\r\\n' message_end");
    const Run status =
        run_whole(Direction::server_to_client, "* OK [ALERT] long {4}\r\nabcd\r\n", opts);
    const std::vector<std::string> s = normalized(status.frames);
    REQUIRE(s.size() == 2);
    CHECK(s[1] == "line 'abcd\\r\\n' message_end");
  }
}

TEST_CASE("framer: an oversized literal is rejected with exact resynchronisation", "[framer]") {
  FramerOptions opts;
  opts.max_literal = 10;
  const std::string too_large = std::to_string(static_cast<int>(Errc::literal_too_large));
  SECTION("synchronizing: the client waits for '+', so the next line is a new command") {
    const Run run = run_whole(Direction::client_to_server,
                              "a1 APPEND X {11}\r\na2 NOOP\r\na3 X {10}\r\n0123456789\r\n", opts);
    CHECK(describe_all(run.frames) ==
          std::vector<std::string>{
              "line 'a1 APPEND X {11}\\r\\n' announces{11} error=" + too_large + " message_end",
              "line 'a2 NOOP\\r\\n' message_end",
              "line 'a3 X {10}\\r\\n' announces{10}",
              "literal '0123456789' literal_end",
              "line '\\r\\n' message_end",
          });
  }
  SECTION("non-synchronizing: the literal and the rest of the command are skipped") {
    const Run run =
        run_whole(Direction::client_to_server,
                  "a1 APPEND X {11+}\r\nhello\r\nworld {2+}\r\nab\r\na2 NOOP\r\n", opts);
    CHECK(normalized(run.frames) ==
          std::vector<std::string>{
              "line 'a1 APPEND X {11+}\\r\\n' announces{11+} error=" + too_large,
              "skipped 'hello\\r\\nworld {2+}\\r\\nab\\r\\n' message_end",
              "line 'a2 NOOP\\r\\n' message_end",
          });
  }
  SECTION("sizes beyond 64 bits saturate and are rejected") {
    const Run run = run_whole(Direction::server_to_client,
                              "* 1 FETCH (BODY[] {99999999999999999999999}\r\nabc", opts);
    REQUIRE(run.frames.size() == 2);
    CHECK(run.frames[0].error == Errc::literal_too_large);
    CHECK(run.frames[0].literal->size == UINT64_MAX);
    CHECK(run.frames[1].kind == FrameKind::skipped);
  }
}

TEST_CASE("framer: NUL in a line is a syntax error", "[framer]") {
  const Run run = run_whole(Direction::client_to_server, "a1 LOGIN a\0b c\r\na2 NOOP\r\n"s);
  REQUIRE(run.frames.size() == 2);
  CHECK(run.frames[0].error == Errc::syntax);
  CHECK(run.frames[0].message_end);
  CHECK_FALSE(run.frames[1].error);
  CHECK(run.frames[1].bytes == "a2 NOOP\r\n");
}

TEST_CASE("framer: the same frames whatever the split points", "[framer]") {
  FramerOptions small;
  small.max_line = 40;
  small.max_literal = 30;
  for (const std::string& input : command_corpus()) {
    check_split_invariance(Direction::client_to_server, input, {});
    check_split_invariance(Direction::client_to_server, input, small);
  }
  for (const std::string& input : response_corpus()) {
    check_split_invariance(Direction::server_to_client, input, {});
    check_split_invariance(Direction::server_to_client, input, small);
  }
  // The corpora must exercise every path, or the property proves little.
  bool seen_error[3] = {false, false, false};
  bool seen_skipped = false;
  for (const std::string& input : command_corpus()) {
    for (const Owned& f : run_whole(Direction::client_to_server, input, small).frames) {
      seen_skipped = seen_skipped || f.kind == FrameKind::skipped;
      if (f.error == Errc::syntax) {
        seen_error[0] = true;
      } else if (f.error == Errc::line_too_long) {
        seen_error[1] = true;
      } else if (f.error == Errc::literal_too_large) {
        seen_error[2] = true;
      }
    }
  }
  CHECK(seen_error[0]);
  CHECK(seen_error[1]);
  CHECK(seen_error[2]);
  CHECK(seen_skipped);
}

TEST_CASE("framer: frames are views into the fed chunk where possible", "[framer]") {
  const std::string chunk = "* 1 FETCH (BODY[] {5}\r\nhello)\r\n";
  Framer framer(Direction::server_to_client);
  framer.feed(chunk);
  const char* begin = chunk.data();
  const char* end = chunk.data() + chunk.size();
  int frames = 0;
  while (auto f = framer.next()) {
    ++frames;
    CHECK(f->bytes.data() >= begin);
    CHECK(f->bytes.data() + f->bytes.size() <= end);
  }
  CHECK(frames == 3);
  CHECK(framer.at_message_boundary());
}

TEST_CASE("framer: large literals come out in pieces as they arrive", "[framer]") {
  std::string body(1'000'000, 'x');
  const std::string head = "* 1 FETCH (BODY[] {1000000}\r\n";
  Framer framer(Direction::server_to_client);
  framer.feed(head);
  REQUIRE(framer.next()->literal->size == 1'000'000);
  REQUIRE_FALSE(framer.next());
  std::size_t seen = 0;
  for (std::size_t off = 0; off < body.size(); off += 16384) {
    const std::string_view piece = std::string_view(body).substr(off, 16384);
    framer.feed(piece);
    auto f = framer.next();
    REQUIRE(f);
    CHECK(f->kind == FrameKind::literal);
    CHECK(f->bytes.data() == piece.data()); // not copied
    CHECK(f->bytes.size() == piece.size());
    CHECK(f->literal_end == (off + piece.size() == body.size()));
    seen += f->bytes.size();
    REQUIRE_FALSE(framer.next());
    CHECK(framer.buffered() == 0);
  }
  CHECK(seen == body.size());
}

TEST_CASE("framer: memory stays bounded whatever is fed", "[framer]") {
  FramerOptions opts;
  opts.max_line = 1024;
  Framer framer(Direction::client_to_server, opts);
  const std::string junk(4096, 'j');
  std::size_t errors = 0;
  std::size_t total = 0;
  for (int i = 0; i < 2500; ++i) { // 10 MB without a line end
    framer.feed(junk);
    while (auto f = framer.next()) {
      CHECK(f->kind == FrameKind::skipped);
      errors += f->error ? 1 : 0;
      total += f->bytes.size();
    }
    REQUIRE(framer.buffered() <= opts.max_line);
  }
  CHECK(errors == 1);
  CHECK(total == 2500 * junk.size());
  framer.feed("\r\na1 NOOP\r\n");
  auto end = framer.next();
  REQUIRE(end);
  CHECK(end->message_end);
  auto next = framer.next();
  REQUIRE(next);
  CHECK(next->bytes == "a1 NOOP\r\n");
}

TEST_CASE("framer: cancel_literal for a refused synchronizing literal", "[framer]") {
  Hooks hooks;
  hooks.cancel = [](const Owned& f) { return f.literal->size == 7; };
  const Run run = run_chunks(Direction::client_to_server, {},
                             {"a1 APPEND X {7}\r\n", "a2 APPEND X {3}\r\nabc\r\n"}, hooks);
  CHECK(describe_all(run.frames) == std::vector<std::string>{
                                        "line 'a1 APPEND X {7}\\r\\n' announces{7}",
                                        "line 'a2 APPEND X {3}\\r\\n' announces{3}",
                                        "literal 'abc' literal_end",
                                        "line '\\r\\n' message_end",
                                    });
  Framer framer(Direction::client_to_server);
  framer.feed("a1 APPEND X {7+}\r\n");
  REQUIRE(framer.next());
  CHECK_FALSE(framer.cancel_literal()); // a non-synchronizing literal comes anyway
  Framer server(Direction::server_to_client);
  server.feed("* 1 FETCH (BODY[] {7}\r\n");
  REQUIRE(server.next());
  CHECK_FALSE(server.cancel_literal());
  CHECK_FALSE(server.at_message_boundary());
}

TEST_CASE("framer: message ends let a consumer assemble whole messages", "[framer]") {
  const std::string input = "* 1 FETCH (UID 5 BODY[HEADER] {5}\r\nH\r\n\r\n BODY[TEXT] {2}\r\n"
                            "ok)\r\n+ more\r\n* 2 EXPUNGE\r\na OK done\r\n";
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    const Run run = run_chunks(Direction::server_to_client, {}, split_at(input, {cut}));
    std::vector<std::string> messages;
    std::string current;
    for (const Owned& f : run.frames) {
      current += f.bytes;
      if (f.message_end) {
        messages.push_back(current);
        current.clear();
      }
    }
    CHECK(current.empty());
    CHECK(messages ==
          std::vector<std::string>{
              "* 1 FETCH (UID 5 BODY[HEADER] {5}\r\nH\r\n\r\n BODY[TEXT] {2}\r\nok)\r\n",
              "+ more\r\n",
              "* 2 EXPUNGE\r\n",
              "a OK done\r\n",
          });
  }
}
