// Expected bytes: Dovecot 2.3.19 answers for the fixtures in tests/unit/data/mime/, obtained
// with tests/differential/dovecot_fetch.py (one APPEND per fixture, UID = APPEND order).
// Regenerate them with the oracle, never by hand.

#include "mime_test_support.hpp"

#include <catch2/catch_test_macros.hpp>

namespace {

constexpr OracleCase kCases[] = {
    {"lf-only.eml", 1, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (NIL \"LF only\" ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" "
     "NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) ((NIL NIL "
     "\"bob\" \"example.net\")) NIL NIL NIL \"<lf@example.org>\"))\r\n"
     "",
     false},
    {"mixed.eml", 2, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (\"Mon, 16 Nov 2026 09:30:00 +0100\" {36}\r\n"
     "=?utf-8?q?caf=C3=A9?= folded subject ((\"Dr. A\" NIL \"a\" \"example.org\")) ((\"Dr. A\" NIL "
     "\"a\" \"example.org\")) ((\"Dr. A\" NIL \"a\" \"example.org\")) ((NIL NIL "
     "\"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"bad-base64.eml", 3, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (NIL \"x\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"unknown-cte.eml", 4, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (NIL \"x\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"missing-close.eml", 5, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (NIL \"nested\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"addr-weird.eml", 6, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (NIL \"\" ((NIL \"@a,@b\" \"c\" \"d\")(\"x\" NIL \"y\" "
     "\"[1.2.3.4]\")(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")(NIL NIL \"a\" "
     "\"MISSING_DOMAIN\")(NIL NIL \"a\" \"b\")) ((\"Agent Smith\" NIL \"MISSING_MAILBOX\" "
     "\"MISSING_DOMAIN\")) (({5}\r\n"
     "\"esc\" NIL \"e\" \"f\")) ((NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) "
     "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x\")) ((\"Name\" NIL \"a.b.c\" \"d.e\")({4}\r\n"
     "a. b NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) NIL NIL))\r\n"
     "",
     false},
    {"boundary-in-header.eml", 7, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (\"Mon, 16 Nov 2026 09:30:00 +0100\" \"t\" ((\"A\" NIL \"a\" "
     "\"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) "
     "((NIL NIL \"b\" \"example.net\")) NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"ct-no-slash-params.eml", 8, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (\"Mon, 16 Nov 2026 09:30:00 +0100\" \"t\" ((\"A\" NIL \"a\" "
     "\"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) "
     "((NIL NIL \"b\" \"example.net\")) NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"cte-weird.eml", 9, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (\"Mon, 16 Nov 2026 09:30:00 +0100\" \"t\" ((\"A\" NIL \"a\" "
     "\"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) "
     "((NIL NIL \"b\" \"example.net\")) NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"digest.eml", 10, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (\"Mon, 16 Nov 2026 09:30:00 +0100\" \"t\" ((\"A\" NIL \"a\" "
     "\"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) "
     "((NIL NIL \"b\" \"example.net\")) NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"mixed-eol.eml", 11, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (\"Mon, 16 Nov 2026 09:30:00 +0100\" \"t\" ((\"A\" NIL \"a\" "
     "\"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) "
     "((NIL NIL \"b\" \"example.net\")) NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"no-body-no-blank.eml", 12, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (\"Mon, 16 Nov 2026 09:30:00 +0100\" \"t\" ((\"A\" NIL \"a\" "
     "\"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) "
     "((NIL NIL \"b\" \"example.net\")) NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"prefix-boundary.eml", 13, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (\"Mon, 16 Nov 2026 09:30:00 +0100\" \"t\" ((\"A\" NIL \"a\" "
     "\"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) "
     "((NIL NIL \"b\" \"example.net\")) NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"rfc822-empty.eml", 14, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (\"Mon, 16 Nov 2026 09:30:00 +0100\" \"t\" ((\"A\" NIL \"a\" "
     "\"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) "
     "((NIL NIL \"b\" \"example.net\")) NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"uppercase-types.eml", 15, "ENVELOPE",
     "* 1 FETCH (ENVELOPE (\"Mon, 16 Nov 2026 09:30:00 +0100\" \"t\" ((\"A\" NIL \"a\" "
     "\"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) ((\"A\" NIL \"a\" \"example.org\")) "
     "((NIL NIL \"b\" \"example.net\")) NIL NIL NIL NIL))\r\n"
     "",
     false},
};

} // namespace

TEST_CASE("mime: ENVELOPE matches Dovecot (encoded words stay raw)", "[mime]") {
  for (const OracleCase& c : kCases) {
    check_oracle_case(c);
  }
}
