// Expected bytes: Dovecot 2.3.19 answers for the fixtures in tests/unit/data/mime/, obtained
// with tests/differential/dovecot_fetch.py (one APPEND per fixture, UID = APPEND order).
// Regenerate them with the oracle, never by hand.

#include "mime_test_support.hpp"

#include <catch2/catch_test_macros.hpp>

namespace {

constexpr OracleCase kCases[] = {
    {"lf-only.eml", 1, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 124 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
     "NIL \"7bit\" 20 2 NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"lf-only.eml", 1, "BODY",
     "* 1 FETCH (BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 20 2))\r\n"
     "",
     false},
    {"mixed.eml", 2, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 735 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL "
     "NIL \"quoted-printable\" 17 1 NIL NIL (\"en\" \"fr\") NIL)(\"application\" \"pdf\" (\"name\" "
     "\"longname.pdf\") \"<pdf@x>\" \"A file\" \"base64\" 12 NIL (\"attachment\" (\"filename*\" "
     "\"utf-8''%C3%A9.pdf\")) NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 77 (NIL "
     "\"Inner\" ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) ((NIL "
     "NIL \"inner\" \"example.org\")) NIL NIL NIL NIL NIL) (\"text\" \"html\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 9 0 NIL NIL NIL NIL) 4 NIL NIL NIL NIL) \"mixed\" "
     "(\"boundary\" \"b1\") NIL NIL NIL))\r\n"
     "",
     false},
    {"mixed.eml", 2, "BODY",
     "* 1 FETCH (BODY ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 17 "
     "1)(\"application\" \"pdf\" (\"name\" \"longname.pdf\") \"<pdf@x>\" \"A file\" \"base64\" "
     "12)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 77 (NIL \"Inner\" ((NIL NIL \"inner\" "
     "\"example.org\")) ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" "
     "\"example.org\")) NIL NIL NIL NIL NIL) (\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL "
     "\"7bit\" 9 0) 4) \"mixed\"))\r\n"
     "",
     false},
    {"bad-base64.eml", 3, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 82 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
     "NIL \"base64\" 7 1 NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"bad-base64.eml", 3, "BODY",
     "* 1 FETCH (BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"base64\" 7 1))\r\n"
     "",
     false},
    {"unknown-cte.eml", 4, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 84 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
     "NIL \"x-uuencode\" 5 1 NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"unknown-cte.eml", 4, "BODY",
     "* 1 FETCH (BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"x-uuencode\" 5 "
     "1))\r\n"
     "",
     false},
    {"missing-close.eml", 5, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 263 BODYSTRUCTURE (((\"text\" \"plain\" (\"charset\" \"us-ascii\") "
     "NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL "
     "\"7bit\" 11 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"i\") NIL NIL NIL)(\"text\" "
     "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 27 1 NIL NIL NIL NIL) \"mixed\" "
     "(\"boundary\" \"o\") NIL NIL NIL))\r\n"
     "",
     false},
    {"missing-close.eml", 5, "BODY",
     "* 1 FETCH (BODY (((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 "
     "0)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0) "
     "\"alternative\")(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 27 1) "
     "\"mixed\"))\r\n"
     "",
     false},
    {"addr-weird.eml", 6, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 230 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
     "NIL \"7bit\" 3 1 NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"addr-weird.eml", 6, "BODY",
     "* 1 FETCH (BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1))\r\n"
     "",
     false},
    {"boundary-in-header.eml", 7, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 194 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
     "NIL \"7bit\" 0 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
     "\"7bit\" 1 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"q\") NIL NIL NIL))\r\n"
     "",
     false},
    {"boundary-in-header.eml", 7, "BODY",
     "* 1 FETCH (BODY ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 "
     "0)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0) \"mixed\"))\r\n"
     "",
     false},
    {"ct-no-slash-params.eml", 8, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 135 BODYSTRUCTURE (\"\" \"\" NIL NIL NIL \"7bit\" 3 NIL NIL NIL "
     "NIL))\r\n"
     "",
     false},
    {"ct-no-slash-params.eml", 8, "BODY",
     "* 1 FETCH (BODY (\"\" \"\" NIL NIL NIL \"7bit\" 3))\r\n"
     "",
     false},
    {"cte-weird.eml", 9, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 295 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
     "NIL \"7bit\" 1 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
     "\"7bit\" 1 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
     "\"QUOTED-PRINTABLE\" 5 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"q\") NIL NIL NIL))\r\n"
     "",
     false},
    {"cte-weird.eml", 9, "BODY",
     "* 1 FETCH (BODY ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 "
     "0)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0)(\"text\" \"plain\" "
     "(\"charset\" \"us-ascii\") NIL NIL \"QUOTED-PRINTABLE\" 5 0) \"mixed\"))\r\n"
     "",
     false},
    {"digest.eml", 10, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 223 BODYSTRUCTURE ((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 26 "
     "(NIL \"in digest\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 4 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL)(\"text\" \"plain\" "
     "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL) \"digest\" (\"boundary\" "
     "\"d\") NIL NIL NIL))\r\n"
     "",
     false},
    {"digest.eml", 10, "BODY",
     "* 1 FETCH (BODY ((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 26 (NIL \"in digest\" NIL NIL "
     "NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 "
     "0) 2)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) \"digest\"))\r\n"
     "",
     false},
    {"mixed-eol.eml", 11, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 206 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
     "NIL \"7bit\" 12 1 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
     "\"7bit\" 5 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"x\") NIL NIL NIL))\r\n"
     "",
     false},
    {"mixed-eol.eml", 11, "BODY",
     "* 1 FETCH (BODY ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 "
     "1)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) \"mixed\"))\r\n"
     "",
     false},
    {"no-body-no-blank.eml", 12, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 93 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
     "NIL \"7bit\" 0 0 NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"no-body-no-blank.eml", 12, "BODY",
     "* 1 FETCH (BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0))\r\n"
     "",
     false},
    {"prefix-boundary.eml", 13, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 237 BODYSTRUCTURE (((\"text\" \"plain\" (\"charset\" \"us-ascii\") "
     "NIL NIL \"7bit\" 2 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"abc\") NIL NIL "
     "NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 0 NIL NIL NIL NIL) "
     "\"mixed\" (\"boundary\" \"ab\") NIL NIL NIL))\r\n"
     "",
     false},
    {"prefix-boundary.eml", 13, "BODY",
     "* 1 FETCH (BODY (((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 2 0) "
     "\"alternative\")(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 0) "
     "\"mixed\"))\r\n"
     "",
     false},
    {"rfc822-empty.eml", 14, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 233 BODYSTRUCTURE ((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 0 "
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
     "NIL \"7bit\" 0 0 NIL NIL NIL NIL) 0 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL "
     "\"7bit\" 12 (NIL \"s\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) 1 NIL NIL NIL NIL) \"mixed\" "
     "(\"boundary\" \"q\") NIL NIL NIL))\r\n"
     "",
     false},
    {"rfc822-empty.eml", 14, "BODY",
     "* 1 FETCH (BODY ((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 0 (NIL NIL NIL NIL NIL NIL NIL "
     "NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) "
     "0)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 12 (NIL \"s\" NIL NIL NIL NIL NIL NIL NIL "
     "NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) 1) \"mixed\"))\r\n"
     "",
     false},
    {"uppercase-types.eml", 15, "RFC822.SIZE BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 177 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
     "NIL \"7bit\" 3 1 NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"uppercase-types.eml", 15, "BODY",
     "* 1 FETCH (BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1))\r\n"
     "",
     false},
};

} // namespace

TEST_CASE("mime: BODYSTRUCTURE and BODY match Dovecot", "[mime]") {
  for (const OracleCase& c : kCases) {
    check_oracle_case(c);
  }
}
