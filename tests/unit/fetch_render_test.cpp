// Expected bytes: Dovecot 2.3.19 answers for the fixtures in tests/unit/data/mime/, obtained
// with tests/differential/dovecot_fetch.py (one APPEND per fixture, UID = APPEND order).
// Regenerate them with the oracle, never by hand.

#include "mime_test_support.hpp"

#include <catch2/catch_test_macros.hpp>

namespace {

constexpr OracleCase kCases[] = {
    {"lf-only.eml", 1, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 124 FLAGS (\\Recent) UID 1 BODY[] {124}\r\n"
     "From: Alice <alice@example.org>\r\n"
     "To: bob@example.net\r\n"
     "Subject: LF only\r\n"
     "Message-ID: <lf@example.org>\r\n"
     "\r\n"
     "line one\r\n"
     "line two\r\n"
     " BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 20 2 NIL NIL "
     "NIL NIL))\r\n"
     "",
     false},
    {"mixed.eml", 2, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 735 FLAGS (\\Recent) UID 2 BODY[] {735}\r\n"
     "From: \"Dr. A\" <a@example.org>\r\n"
     "To: undisclosed-recipients:;\r\n"
     "Subject: =?utf-8?q?caf=C3=A9?= \r\n"
     " folded\tsubject\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "MIME-Version: 1.0\r\n"
     "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
     "\r\n"
     "preamble\r\n"
     "--b1\r\n"
     "Content-Type: text/plain; charset=utf-8\r\n"
     "Content-Transfer-Encoding: quoted-printable\r\n"
     "Content-Language: en, fr\r\n"
     "\r\n"
     "caf=C3=A9 =\r\n"
     "soft\r\n"
     "--b1\r\n"
     "Content-Type: application/pdf; name*0=\"long\"; name*1=\"name.pdf\"\r\n"
     "Content-Disposition: attachment; filename*=utf-8''%C3%A9.pdf\r\n"
     "Content-Transfer-Encoding: base64\r\n"
     "Content-ID: <pdf@x>\r\n"
     "Content-Description: A file\r\n"
     "\r\n"
     "JVBERi0xLjQK\r\n"
     "--b1\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n"
     "From: inner@example.org\r\n"
     "Subject: Inner\r\n"
     "Content-Type: text/html\r\n"
     "\r\n"
     "<p>hi</p>\r\n"
     "--b1--\r\n"
     "epilogue\r\n"
     " BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 17 "
     "1 NIL NIL (\"en\" \"fr\") NIL)(\"application\" \"pdf\" (\"name\" \"longname.pdf\") "
     "\"<pdf@x>\" \"A file\" \"base64\" 12 NIL (\"attachment\" (\"filename*\" "
     "\"utf-8''%C3%A9.pdf\")) NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 77 (NIL "
     "\"Inner\" ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) ((NIL "
     "NIL \"inner\" \"example.org\")) NIL NIL NIL NIL NIL) (\"text\" \"html\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 9 0 NIL NIL NIL NIL) 4 NIL NIL NIL NIL) \"mixed\" "
     "(\"boundary\" \"b1\") NIL NIL NIL))\r\n"
     "",
     false},
    {"bad-base64.eml", 3, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 82 FLAGS (\\Recent) UID 3 BODY[] {82}\r\n"
     "Subject: x\r\n"
     "Content-Type: text/plain\r\n"
     "Content-Transfer-Encoding: base64\r\n"
     "\r\n"
     "QUJD!\r\n"
     " BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"base64\" 7 1 NIL NIL "
     "NIL NIL))\r\n"
     "",
     false},
    {"unknown-cte.eml", 4, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 84 FLAGS (\\Recent) UID 4 BODY[] {84}\r\n"
     "Subject: x\r\n"
     "Content-Type: text/plain\r\n"
     "Content-Transfer-Encoding: x-uuencode\r\n"
     "\r\n"
     "abc\r\n"
     " BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"x-uuencode\" 5 1 NIL "
     "NIL NIL NIL))\r\n"
     "",
     false},
    {"missing-close.eml", 5, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 263 FLAGS (\\Recent) UID 5 BODY[] {263}\r\n"
     "Subject: nested\r\n"
     "Content-Type: multipart/mixed; boundary=o\r\n"
     "\r\n"
     "--o\r\n"
     "Content-Type: multipart/alternative; boundary=i\r\n"
     "\r\n"
     "--i\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "plain\r\n"
     "--i\r\n"
     "Content-Type: text/html\r\n"
     "\r\n"
     "<b>html</b>\r\n"
     "--o\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "after missing inner close\r\n"
     " BODYSTRUCTURE (((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL "
     "NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0 NIL NIL NIL NIL) "
     "\"alternative\" (\"boundary\" \"i\") NIL NIL NIL)(\"text\" \"plain\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 27 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"o\") NIL NIL "
     "NIL))\r\n"
     "",
     false},
    {"addr-weird.eml", 6, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 230 FLAGS (\\Recent) UID 6 BODY[] {230}\r\n"
     "From: <@a,@b:c@d>, \"x\" <y@[1.2.3.4]>, @, a@, a@b@c, \"quoted\"\r\n"
     "To: ;, :;, g:;\r\n"
     "Cc: =?utf-8?q?J=C3=B6rg?= <j@x>, (only comment)\r\n"
     "Bcc: a.b.c@d.e (Name) , a . b @ c . d\r\n"
     "Reply-To: \"\\\"esc\\\"\" <e@f>\r\n"
     "Sender: Agent Smith\r\n"
     "Subject: \r\n"
     "\r\n"
     "x\r\n"
     " BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL "
     "NIL NIL))\r\n"
     "",
     false},
    {"boundary-in-header.eml", 7, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 194 FLAGS (\\Recent) UID 7 BODY[] {194}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Subject: t\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: multipart/mixed; boundary=q\r\n"
     "\r\n"
     "--q\r\n"
     "Content-Type: text/plain\r\n"
     "--q\r\n"
     "X: y\r\n"
     "\r\n"
     "z\r\n"
     "--q--\r\n"
     " BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL "
     "NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) "
     "\"mixed\" (\"boundary\" \"q\") NIL NIL NIL))\r\n"
     "",
     false},
    {"ct-no-slash-params.eml", 8, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 135 FLAGS (\\Recent) UID 8 BODY[] {135}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Subject: t\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: text; charset=utf-8\r\n"
     "\r\n"
     "x\r\n"
     " BODYSTRUCTURE (\"\" \"\" NIL NIL NIL \"7bit\" 3 NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"cte-weird.eml", 9, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 295 FLAGS (\\Recent) UID 9 BODY[] {295}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Subject: t\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: multipart/mixed; boundary=q\r\n"
     "\r\n"
     "--q\r\n"
     "Content-Transfer-Encoding: 7bit garbage\r\n"
     "\r\n"
     "a\r\n"
     "--q\r\n"
     "Content-Transfer-Encoding:\r\n"
     "\r\n"
     "b\r\n"
     "--q\r\n"
     "Content-Transfer-Encoding: QUOTED-PRINTABLE\r\n"
     "\r\n"
     "c=3Dd\r\n"
     "--q--\r\n"
     " BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL "
     "NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL "
     "NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"QUOTED-PRINTABLE\" 5 0 NIL NIL "
     "NIL NIL) \"mixed\" (\"boundary\" \"q\") NIL NIL NIL))\r\n"
     "",
     false},
    {"digest.eml", 10, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 223 FLAGS (\\Recent) UID 10 BODY[] {223}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Subject: t\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: multipart/digest; boundary=d\r\n"
     "\r\n"
     "--d\r\n"
     "\r\n"
     "Subject: in digest\r\n"
     "\r\n"
     "text\r\n"
     "--d\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "plain\r\n"
     "--d--\r\n"
     " BODYSTRUCTURE ((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 26 (NIL \"in digest\" NIL NIL "
     "NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 0 "
     "NIL NIL NIL NIL) 2 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
     "\"7bit\" 5 0 NIL NIL NIL NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL))\r\n"
     "",
     false},
    {"mixed-eol.eml", 11, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 206 FLAGS (\\Recent) UID 11 BODY[] {206}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Subject: t\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: multipart/mixed; boundary=x\r\n"
     "\r\n"
     "--x\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "hello\r\n"
     "world\r\n"
     "--x\r\n"
     "\r\n"
     "body2\r\n"
     "--x-- BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1 "
     "NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL "
     "NIL NIL) \"mixed\" (\"boundary\" \"x\") NIL NIL NIL))\r\n"
     "",
     false},
    {"no-body-no-blank.eml", 12, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 93 FLAGS (\\Recent) UID 12 BODY[] {93}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Subject: t\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL))\r\n"
     "",
     false},
    {"prefix-boundary.eml", 13, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 237 FLAGS (\\Recent) UID 13 BODY[] {237}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Subject: t\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: multipart/mixed; boundary=ab\r\n"
     "\r\n"
     "--ab\r\n"
     "Content-Type: multipart/alternative; boundary=abc\r\n"
     "\r\n"
     "--abc\r\n"
     "\r\n"
     "in\r\n"
     "--ab\r\n"
     "\r\n"
     "outer2\r\n"
     "--ab--\r\n"
     " BODYSTRUCTURE (((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 2 0 NIL NIL "
     "NIL NIL) \"alternative\" (\"boundary\" \"abc\") NIL NIL NIL)(\"text\" \"plain\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 6 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"ab\") NIL NIL "
     "NIL))\r\n"
     "",
     false},
    {"rfc822-empty.eml", 14, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 233 FLAGS (\\Recent) UID 14 BODY[] {233}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Subject: t\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: multipart/mixed; boundary=q\r\n"
     "\r\n"
     "--q\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n"
     "--q\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n"
     "Subject: s\r\n"
     "--q--\r\n"
     " BODYSTRUCTURE ((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 0 (NIL NIL NIL NIL NIL NIL NIL "
     "NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL "
     "NIL) 0 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 12 (NIL \"s\" NIL NIL "
     "NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 "
     "NIL NIL NIL NIL) 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"q\") NIL NIL NIL))\r\n"
     "",
     false},
    {"uppercase-types.eml", 15, "BODY.PEEK[] RFC822.SIZE FLAGS UID BODYSTRUCTURE",
     "* 1 FETCH (RFC822.SIZE 177 FLAGS (\\Recent) UID 15 BODY[] {177}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Subject: t\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
     "Content-Transfer-Encoding: 7BIT\r\n"
     "\r\n"
     "x\r\n"
     " BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL "
     "NIL NIL))\r\n"
     "",
     false},
};

} // namespace

TEST_CASE("fetch_render: item order and formats match Dovecot", "[fetch_render]") {
  for (const OracleCase& c : kCases) {
    check_oracle_case(c);
  }
}
