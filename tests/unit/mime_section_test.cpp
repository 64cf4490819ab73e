// Expected bytes: Dovecot 2.3.19 answers for the fixtures in tests/unit/data/mime/, obtained
// with tests/differential/dovecot_fetch.py (one APPEND per fixture, UID = APPEND order).
// Regenerate them with the oracle, never by hand.

#include "mime_test_support.hpp"

#include <catch2/catch_test_macros.hpp>

namespace {

constexpr OracleCase kCases[] = {
    {"lf-only.eml", 1, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {20}\r\n"
     "line one\r\n"
     "line two\r\n"
     " BODY[]<5> {10}\r\n"
     " Alice <al BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"lf-only.eml", 1,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {53}\r\n"
     "From: Alice <alice@example.org>\r\n"
     "Subject: LF only\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {86}\r\n"
     "From: Alice <alice@example.org>\r\n"
     "To: bob@example.net\r\n"
     "Message-ID: <lf@example.org>\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"lf-only.eml", 1, "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {0}\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"mixed.eml", 2, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {518}\r\n"
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
     " BODY[]<5> {10}\r\n"
     " \"Dr. A\" < BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"mixed.eml", 2,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {83}\r\n"
     "From: \"Dr. A\" <a@example.org>\r\n"
     "Subject: =?utf-8?q?caf=C3=A9?= \r\n"
     " folded\tsubject\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {167}\r\n"
     "From: \"Dr. A\" <a@example.org>\r\n"
     "To: undisclosed-recipients:;\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "MIME-Version: 1.0\r\n"
     "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"mixed.eml", 2, "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {214}\r\n"
     "Content-Type: application/pdf; name*0=\"long\"; name*1=\"name.pdf\"\r\n"
     "Content-Disposition: attachment; filename*=utf-8''%C3%A9.pdf\r\n"
     "Content-Transfer-Encoding: base64\r\n"
     "Content-ID: <pdf@x>\r\n"
     "Content-Description: A file\r\n"
     "\r\n"
     " BODY[3.HEADER] {68}\r\n"
     "From: inner@example.org\r\n"
     "Subject: Inner\r\n"
     "Content-Type: text/html\r\n"
     "\r\n"
     " BODY[3.TEXT] {9}\r\n"
     "<p>hi</p> BODY[3.1] {9}\r\n"
     "<p>hi</p>)\r\n"
     "",
     false},
    {"bad-base64.eml", 3, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {7}\r\n"
     "QUJD!\r\n"
     " BODY[]<5> {10}\r\n"
     "ct: x\r\n"
     "Con BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"bad-base64.eml", 3,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {14}\r\n"
     "Subject: x\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {63}\r\n"
     "Content-Type: text/plain\r\n"
     "Content-Transfer-Encoding: base64\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"bad-base64.eml", 3, "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {0}\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"unknown-cte.eml", 4, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {5}\r\n"
     "abc\r\n"
     " BODY[]<5> {10}\r\n"
     "ct: x\r\n"
     "Con BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"unknown-cte.eml", 4,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {14}\r\n"
     "Subject: x\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {67}\r\n"
     "Content-Type: text/plain\r\n"
     "Content-Transfer-Encoding: x-uuencode\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"unknown-cte.eml", 4, "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {0}\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"missing-close.eml", 5, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {201}\r\n"
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
     " BODY[]<5> {10}\r\n"
     "ct: nested BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"missing-close.eml", 5,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {19}\r\n"
     "Subject: nested\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {45}\r\n"
     "Content-Type: multipart/mixed; boundary=o\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"missing-close.eml", 5,
     "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {28}\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"addr-weird.eml", 6, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {3}\r\n"
     "x\r\n"
     " BODY[]<5> {10}\r\n"
     " <@a,@b:c@ BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"addr-weird.eml", 6,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {75}\r\n"
     "From: <@a,@b:c@d>, \"x\" <y@[1.2.3.4]>, @, a@, a@b@c, \"quoted\"\r\n"
     "Subject: \r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {216}\r\n"
     "From: <@a,@b:c@d>, \"x\" <y@[1.2.3.4]>, @, a@, a@b@c, \"quoted\"\r\n"
     "To: ;, :;, g:;\r\n"
     "Cc: =?utf-8?q?J=C3=B6rg?= <j@x>, (only comment)\r\n"
     "Bcc: a.b.c@d.e (Name) , a . b @ c . d\r\n"
     "Reply-To: \"\\\"esc\\\"\" <e@f>\r\n"
     "Sender: Agent Smith\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"addr-weird.eml", 6, "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {0}\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"boundary-in-header.eml", 7, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {54}\r\n"
     "--q\r\n"
     "Content-Type: text/plain\r\n"
     "--q\r\n"
     "X: y\r\n"
     "\r\n"
     "z\r\n"
     "--q--\r\n"
     " BODY[]<5> {10}\r\n"
     " A <a@exam BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"boundary-in-header.eml", 7,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {39}\r\n"
     "From: A <a@example.org>\r\n"
     "Subject: t\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {128}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: multipart/mixed; boundary=q\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"boundary-in-header.eml", 7,
     "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {8}\r\n"
     "X: y\r\n"
     "\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"ct-no-slash-params.eml", 8, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {3}\r\n"
     "x\r\n"
     " BODY[]<5> {10}\r\n"
     " A <a@exam BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"ct-no-slash-params.eml", 8,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {39}\r\n"
     "From: A <a@example.org>\r\n"
     "Subject: t\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {120}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: text; charset=utf-8\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"ct-no-slash-params.eml", 8,
     "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {0}\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"cte-weird.eml", 9, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {155}\r\n"
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
     " BODY[]<5> {10}\r\n"
     " A <a@exam BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"cte-weird.eml", 9,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {39}\r\n"
     "From: A <a@example.org>\r\n"
     "Subject: t\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {128}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: multipart/mixed; boundary=q\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"cte-weird.eml", 9, "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {30}\r\n"
     "Content-Transfer-Encoding:\r\n"
     "\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {5}\r\n"
     "c=3Dd)\r\n"
     "",
     false},
    {"digest.eml", 10, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {82}\r\n"
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
     " BODY[]<5> {10}\r\n"
     " A <a@exam BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"digest.eml", 10,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {39}\r\n"
     "From: A <a@example.org>\r\n"
     "Subject: t\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {129}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: multipart/digest; boundary=d\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"digest.eml", 10, "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {28}\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"mixed-eol.eml", 11, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {66}\r\n"
     "--x\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "hello\r\n"
     "world\r\n"
     "--x\r\n"
     "\r\n"
     "body2\r\n"
     "--x-- BODY[]<5> {10}\r\n"
     " A <a@exam BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"mixed-eol.eml", 11,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {39}\r\n"
     "From: A <a@example.org>\r\n"
     "Subject: t\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {128}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: multipart/mixed; boundary=x\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"mixed-eol.eml", 11, "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {2}\r\n"
     "\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"no-body-no-blank.eml", 12, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {0}\r\n"
     " BODY[]<5> {10}\r\n"
     " A <a@exam BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"no-body-no-blank.eml", 12,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {39}\r\n"
     "From: A <a@example.org>\r\n"
     "Subject: t\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {81}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100)\r\n"
     "",
     false},
    {"no-body-no-blank.eml", 12,
     "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {0}\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"prefix-boundary.eml", 13, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {96}\r\n"
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
     " BODY[]<5> {10}\r\n"
     " A <a@exam BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"prefix-boundary.eml", 13,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {39}\r\n"
     "From: A <a@example.org>\r\n"
     "Subject: t\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {129}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: multipart/mixed; boundary=ab\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"prefix-boundary.eml", 13,
     "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {2}\r\n"
     "\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"rfc822-empty.eml", 14, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {93}\r\n"
     "--q\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n"
     "--q\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n"
     "Subject: s\r\n"
     "--q--\r\n"
     " BODY[]<5> {10}\r\n"
     " A <a@exam BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"rfc822-empty.eml", 14,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {39}\r\n"
     "From: A <a@example.org>\r\n"
     "Subject: t\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {128}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: multipart/mixed; boundary=q\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"rfc822-empty.eml", 14,
     "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {32}\r\n"
     "Content-Type: message/rfc822\r\n"
     "\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {0}\r\n"
     ")\r\n"
     "",
     false},
    {"uppercase-types.eml", 15, "BODY.PEEK[TEXT] BODY.PEEK[]<5.10> BODY.PEEK[1]<100.5>",
     "* 1 FETCH (BODY[TEXT] {3}\r\n"
     "x\r\n"
     " BODY[]<5> {10}\r\n"
     " A <a@exam BODY[1]<100> {0}\r\n"
     ")\r\n"
     "",
     false},
    {"uppercase-types.eml", 15,
     "BODY.PEEK[HEADER.FIELDS (subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
     "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {39}\r\n"
     "From: A <a@example.org>\r\n"
     "Subject: t\r\n"
     "\r\n"
     " BODY[HEADER.FIELDS.NOT (SUBJECT)] {162}\r\n"
     "From: A <a@example.org>\r\n"
     "To: b@example.net\r\n"
     "Date: Mon, 16 Nov 2026 09:30:00 +0100\r\n"
     "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
     "Content-Transfer-Encoding: 7BIT\r\n"
     "\r\n"
     ")\r\n"
     "",
     false},
    {"uppercase-types.eml", 15,
     "BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]",
     "* 1 FETCH (BODY[2.MIME] {0}\r\n"
     " BODY[3.HEADER] {0}\r\n"
     " BODY[3.TEXT] {0}\r\n"
     " BODY[3.1] {0}\r\n"
     ")\r\n"
     "",
     false},
};

} // namespace

TEST_CASE("mime: BODY[section] and partials match Dovecot", "[mime]") {
  for (const OracleCase& c : kCases) {
    check_oracle_case(c);
  }
}
