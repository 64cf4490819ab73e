// Expected bytes: Dovecot 2.3.19 answers for the fixtures in tests/unit/data/mime/, obtained
// with tests/differential/dovecot_fetch.py (one APPEND per fixture, UID = APPEND order).
// Regenerate them with the oracle, never by hand.

#include "mime_test_support.hpp"

#include <catch2/catch_test_macros.hpp>

namespace {

constexpr OracleCase kCases[] = {
    {"lf-only.eml", 1, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]",
     "* 1 FETCH (BINARY[1] {20}\r\n"
     "line one\r\n"
     "line two\r\n"
     " BINARY.SIZE[1] 20 BINARY[2] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"mixed.eml", 2, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]",
     "* 1 FETCH (BINARY[1] ~{10}\r\n"
     "caf\xc3"
     "\xa9"
     " soft BINARY.SIZE[1] 10 BINARY[2] ~{9}\r\n"
     "%PDF-1.4\n"
     ")\r\n"
     "",
     false},
    {"bad-base64.eml", 3, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]", "NO [PARSE]", true},
    {"unknown-cte.eml", 4, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]", "NO [UNKNOWN-CTE]",
     true},
    {"missing-close.eml", 5, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]",
     "* 1 FETCH (BINARY[1] {83}\r\n"
     "--i\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "plain\r\n"
     "--i\r\n"
     "Content-Type: text/html\r\n"
     "\r\n"
     "<b>html</b> BINARY.SIZE[1] 83 BINARY[2] {27}\r\n"
     "after missing inner close\r\n"
     ")\r\n"
     "",
     false},
    {"addr-weird.eml", 6, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]",
     "* 1 FETCH (BINARY[1] {3}\r\n"
     "x\r\n"
     " BINARY.SIZE[1] 3 BINARY[2] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"boundary-in-header.eml", 7, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]",
     "* 1 FETCH (BINARY[1] {0}\r\n"
     " BINARY.SIZE[1] 0 BINARY[2] {1}\r\n"
     "z)\r\n"
     "",
     false},
    {"ct-no-slash-params.eml", 8, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]",
     "* 1 FETCH (BINARY[1] {3}\r\n"
     "x\r\n"
     " BINARY.SIZE[1] 3 BINARY[2] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"cte-weird.eml", 9, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]", "NO [UNKNOWN-CTE]", true},
    {"digest.eml", 10, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]",
     "* 1 FETCH (BINARY[1] {26}\r\n"
     "Subject: in digest\r\n"
     "\r\n"
     "text BINARY.SIZE[1] 26 BINARY[2] {5}\r\n"
     "plain)\r\n"
     "",
     false},
    {"mixed-eol.eml", 11, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]",
     "* 1 FETCH (BINARY[1] {12}\r\n"
     "hello\r\n"
     "world BINARY.SIZE[1] 12 BINARY[2] {5}\r\n"
     "body2)\r\n"
     "",
     false},
    {"no-body-no-blank.eml", 12, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]",
     "* 1 FETCH (BINARY[1] {0}\r\n"
     " BINARY.SIZE[1] 0 BINARY[2] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"prefix-boundary.eml", 13, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]",
     "* 1 FETCH (BINARY[1] {11}\r\n"
     "--abc\r\n"
     "\r\n"
     "in BINARY.SIZE[1] 11 BINARY[2] {6}\r\n"
     "outer2)\r\n"
     "",
     false},
    {"rfc822-empty.eml", 14, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]",
     "* 1 FETCH (BINARY[1] {0}\r\n"
     " BINARY.SIZE[1] 0 BINARY[2] {12}\r\n"
     "Subject: s\r\n"
     ")\r\n"
     "",
     false},
    {"uppercase-types.eml", 15, "BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]",
     "* 1 FETCH (BINARY[1] {3}\r\n"
     "x\r\n"
     " BINARY.SIZE[1] 3 BINARY[2] {0}\r\n"
     ")\r\n"
     "",
     false},
};

} // namespace

TEST_CASE("mime: BINARY and BINARY.SIZE match Dovecot", "[mime]") {
  for (const OracleCase& c : kCases) {
    check_oracle_case(c);
  }
}
