#!/usr/bin/env python3
"""Writes the differential corpus: tests/corpus/NN-short-description.eml.

The outputs are checked in; rerun after editing (`python3 tests/corpus/generate.py`)
and check in the changed .eml files too. Everything here is made up and
deterministic (no clocks, no randomness): same script, same bytes.

Conventions: message text is written with "\n" and converted to CRLF unless
the case is about line endings (eol=None keeps the bytes as written). No
message may contain a NUL byte (the suite APPENDs with a plain literal).
"""

import base64
import os
import struct
import sys
import zlib

OUT = os.path.dirname(os.path.abspath(__file__))
MESSAGES: dict[str, bytes] = {}


def put(name: str, text, eol: str | None = "\r\n", charset: str = "utf-8") -> None:
    data = text.encode(charset) if isinstance(text, str) else text
    if eol is not None:
        data = data.replace(b"\r\n", b"\n").replace(b"\n", eol.encode())
    assert b"\0" not in data, name
    num = len(MESSAGES) + 1
    MESSAGES[f"{num:02d}-{name}.eml"] = data


def b64(data: bytes, width: int = 76) -> str:
    enc = base64.b64encode(data).decode()
    return "\n".join(enc[i : i + width] for i in range(0, len(enc), width))


def qp(text: str, charset: str = "utf-8", width: int = 76) -> str:
    """Quoted-printable with soft breaks, the way Outlook writes it."""
    out_lines = []
    for line in text.split("\n"):
        enc = ""
        for byte in line.encode(charset):
            c = chr(byte)
            if byte == 0x3D or byte > 126 or (byte < 32 and c != "\t"):
                enc += f"={byte:02X}"
            else:
                enc += c
        if enc.endswith(" ") or enc.endswith("\t"):
            enc = enc[:-1] + f"={ord(enc[-1]):02X}"
        while len(enc) > width - 1:
            cut = width - 1
            # never split an =XX escape
            while "=" in enc[cut - 2 : cut]:
                cut -= 1
            out_lines.append(enc[:cut] + "=")
            enc = enc[cut:]
        out_lines.append(enc)
    return "\n".join(out_lines)


def png(width: int, height: int, seed: int) -> bytes:
    raw = b""
    for y in range(height):
        raw += b"\x00" + bytes(((x * 7 + y * 13 + seed) % 251) + 1 for x in range(width * 3))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def pdf(title: str) -> bytes:
    body = (
        "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        "2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        "3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >> endobj\n"
        f"4 0 obj << /Length 44 >> stream\nBT /F1 12 Tf 72 720 Td ({title}) Tj ET\nendstream endobj\n"
        "trailer << /Root 1 0 R >>\n%%EOF\n"
    )
    return body.encode("latin-1")


HDR = """Date: Mon, 16 Nov 2026 09:30:00 +0100
From: Alice Martin <alice@example.org>
To: Bob Leclerc <bob@example.net>
Message-ID: <{mid}@example.org>
MIME-Version: 1.0
"""


def hdr(mid: str, subject: str) -> str:
    return HDR.format(mid=mid) + f"Subject: {subject}\n"


OUTLOOK_HEAD = """<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta name="Generator" content="Microsoft Word 15 (filtered medium)">
<style><!--
/* Font Definitions */
@font-face
\t{font-family:"Cambria Math";
\tpanose-1:2 4 5 3 5 4 6 3 2 4;}
@font-face
\t{font-family:Aptos;
\tpanose-1:2 11 0 4 2 2 2 2 2 4;}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
\t{margin:0cm;
\tfont-size:12.0pt;
\tfont-family:"Aptos",sans-serif;}
a:link, span.MsoHyperlink
\t{mso-style-priority:99;
\tcolor:#467886;
\ttext-decoration:underline;}
span.EmailStyle18
\t{mso-style-type:personal-compose;
\tfont-family:"Aptos",sans-serif;
\tcolor:windowtext;}
.MsoChpDefault
\t{mso-style-type:export-only;}
@page WordSection1
\t{size:612.0pt 792.0pt;
\tmargin:72.0pt 72.0pt 72.0pt 72.0pt;}
div.WordSection1
\t{page:WordSection1;}
--></style>
</head>
"""


def owa_link(item: str) -> str:
    return (
        "https://outlook.office365.com/owa/example.org/?itemid="
        f"AAMkADk5{item}ZTQ4LTQ1NmEtOTcxYy1hYmNkZWYwMTIzNDUARgAAAAAA%2BT7KzowPTAAAAAAENAAA%3D"
        "&exvsurl=1&path=/calendar/item"
    )


def owa_html(item: str, text: str) -> str:
    link = owa_link(item)
    return (
        OUTLOOK_HEAD
        + '<body lang="FR" link="#467886" vlink="#96607D" style="word-wrap:break-word">\n'
        + f'<br>Microsoft Outlook Web Access: <a href="{link}">{link}</a><br>\n'
        + "To receive meeting invitations as .iCalendar attachments instead of Outlook Web App links, "
        + 'go to <a href="https://outlook.office365.com/owa/example.org/?path=/options/popandimap">'
        + "https://outlook.office365.com/owa/example.org/?path=/options/popandimap</a> and select "
        + "Send meeting invitations in iCalendar format.<br>\n<br>\n"
        + '<div class="WordSection1">\n'
        + "".join(f'<p class="MsoNormal">{p}<o:p></o:p></p>\n' for p in text.split("\n"))
        + "</div>\n</body>\n</html>\n"
    )


def owa_text(item: str, text: str) -> str:
    return (
        f"Microsoft Outlook Web Access: {owa_link(item)}\n"
        "To receive meeting invitations as .iCalendar attachments instead of Outlook Web App links, "
        "go to https://outlook.office365.com/owa/example.org/?path=/options/popandimap and select "
        "Send meeting invitations in iCalendar format.\n\n" + text + "\n"
    )


EXCHANGE_HDR = """Received: from DB9PR02MB7001.eurprd02.prod.outlook.com ([fe80::aa1:22bb:3cc:4dd5]) by DB9PR02MB7001.eurprd02.prod.outlook.com ([fe80::aa1:22bb:3cc:4dd5%4]) with mapi id 15.20.8300.011; {date}
From: {frm}
To: {to}
Subject: {subject}
Thread-Topic: {topic}
Thread-Index: AQHcAb12ZXhhbXBsZXRocmVhZGluZGV4eHg=
Date: {date}
Message-ID: <{mid}@DB9PR02MB7001.eurprd02.prod.outlook.com>
Accept-Language: fr-FR, en-US
Content-Language: fr-FR
X-MS-Has-Attach: {attach}
X-MS-TNEF-Correlator: 
MIME-Version: 1.0
"""


def exch(mid, subject, date="Tue, 17 Nov 2026 10:02:11 +0000", attach="", topic=None,
         frm="Bob Leclerc <bob@example.org>",
         to="Alice Martin <alice@example.org>, =?utf-8?q?Chlo=C3=A9_Dubois?= <chloe@example.org>"):
    return EXCHANGE_HDR.format(mid=mid, subject=subject, date=date, attach=attach,
                               topic=topic or subject, frm=frm, to=to)


def ics(method: str, uid: str, summary: str, seq: int = 0, status: str = "CONFIRMED",
        extra: str = "") -> str:
    return f"""BEGIN:VCALENDAR
METHOD:{method}
PRODID:Microsoft Exchange Server 2010
VERSION:2.0
BEGIN:VTIMEZONE
TZID:Romance Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
ORGANIZER;CN=Bob Leclerc:mailto:bob@example.org
ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Alice Mart
 in:mailto:alice@example.org
{extra}DESCRIPTION;LANGUAGE=fr-FR:Ordre du jour : budget\\, planning\\n\\nBob\\n
UID:{uid}
SUMMARY;LANGUAGE=fr-FR:{summary}
DTSTART;TZID=Romance Standard Time:20261124T100000
DTEND;TZID=Romance Standard Time:20261124T110000
CLASS:PUBLIC
PRIORITY:5
DTSTAMP:20261117T100211Z
TRANSP:OPAQUE
STATUS:{status}
SEQUENCE:{seq}
LOCATION;LANGUAGE=fr-FR:Salle 4.12
X-MICROSOFT-CDO-APPT-SEQUENCE:{seq}
X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE
X-MICROSOFT-CDO-IMPORTANCE:1
X-MICROSOFT-DISALLOW-COUNTER:FALSE
END:VEVENT
END:VCALENDAR
"""


# ---------------------------------------------------------------- ordinary mail
put("plain-ascii", """From: Alice Martin <alice@example.org>
To: Bob Leclerc <bob@example.net>
Subject: Lunch on Thursday?
Date: Mon, 16 Nov 2026 09:30:00 +0100
Message-ID: <lunch-1@example.org>

Hi Bob,

Are you free for lunch on Thursday? The usual place at 12:30.

Alice
""")

put("plain-7bit-explicit", hdr("seven-bit", "Explicit 7bit") + """Content-Type: text/plain; charset=us-ascii; format=flowed
Content-Transfer-Encoding: 7bit

A flowed line that goes on and on and on so that it would be wrapped by a 
flowed-aware client, here with a trailing space.
> quoted text
-- 
Signature
""")

put("plain-8bit-utf8", hdr("eight-bit", "=?UTF-8?Q?Caf=C3=A9_cr=C3=A8me?=") + """Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: 8bit

Voilà : le café crème coûte 3,20 €. Ελληνικά, 日本語, emoji 🎉.
""")

put("plain-qp-utf8", hdr("qp-utf8", "Quoted-printable UTF-8") + """Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

""" + qp("Première ligne avec des accents éèàù et un signe égal = au milieu.\n"
         "Une très longue ligne " + "qui continue " * 12 + "jusqu'au bout.\n"
         "Ligne avec espace final \nFin."))

put("plain-base64-utf8", hdr("b64-utf8", "=?utf-8?b?QmFzZTY0IMOpdMOp?=") + """Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

""" + b64("Bonjour,\r\n\r\nCeci est un message encodé en base64 — avec des tirets longs.\r\n\r\nÀ bientôt\r\n".encode()) + "\n")

put("plain-iso-8859-1-qp", hdr("latin1-qp", "=?iso-8859-1?q?R=E9union_annul=E9e?=") + """Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

""" + qp("La réunion de jeudi est annulée. Désolé pour la gêne occasionnée, "
         "nous reprendrons la semaine prochaine à la même heure.\n\nFrançois", "iso-8859-1") + "\n")

put("plain-iso-8859-1-8bit", (hdr("latin1-8bit", "Latin-1 raw body") + """Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: 8bit

Grüße aus Köln, ça va très bien. Ñandú.
""").encode("latin-1"))

put("encoded-word-subjects", """From: news@example.com
To: list@example.com
Date: Tue, 17 Nov 2026 08:00:00 +0000
Message-ID: <ew-subject@example.com>
Subject: =?utf-8?q?Multiple?= =?utf-8?q?_adjacent?=
 =?UTF-8?B?IHdvcmRzIOKAlCBmb2xkZWQ=?= and plain text
 =?iso-8859-1?q?=E0_la_fin?=
Comments: =?us-ascii*en?q?with_language?=
MIME-Version: 1.0
Content-Type: text/plain

Body.
""")

put("encoded-word-addresses", """From: =?utf-8?q?Chlo=C3=A9_Dubois?= <chloe@example.org>
To: "Martin, Alice" <alice@example.org>, =?iso-8859-1?Q?Fran=E7ois?= <francois@example.fr>,
 "=?utf-8?b?SsOpcsO0bWU=?=" <jerome@example.fr>, plain@example.com (a comment)
Cc: "Quote \\"inside\\" name" <q@example.com>, <angle-only@example.com>
Subject: Addresses with encoded words
Date: Tue, 17 Nov 2026 08:05:00 +0000
Message-ID: <ew-addr@example.org>

Body.
""")

put("group-syntax", """From: Alice <alice@example.org>
To: Project Team: bob@example.net, "Carol C." <carol@example.net>;, dave@example.net
Cc: undisclosed-recipients:;
Bcc: Empty Group:;
Subject: Group syntax
Date: Tue, 17 Nov 2026 08:10:00 +0000
Message-ID: <group@example.org>

Body.
""")

put("many-recipients", """From: Alice <alice@example.org>
Sender: Secretary <secretary@example.org>
Reply-To: team@example.org, Alice Home <alice@home.example>
To: a1@example.com, a2@example.com, "A Three" <a3@example.com>
To: second-to@example.com
Cc: c1@example.com,
\tc2@example.com
Cc: c3@example.com
Bcc: hidden@example.com
Subject: Multiple To and Cc
Date: Wed, 18 Nov 2026 11:00:00 -0500
Message-ID: <many@example.org>

Body.
""")

put("missing-date-subject", """From: Alice <alice@example.org>
To: Bob <bob@example.net>
Message-ID: <nodate@example.org>

No Date and no Subject header here.
""")

put("missing-from", """To: Bob <bob@example.net>
Subject: No From header
Date: Wed, 18 Nov 2026 12:00:00 +0000

Body without From, Sender, Reply-To.
""")

put("reply-references", """From: Bob <bob@example.net>
To: Alice <alice@example.org>
Subject: Re: Re: Lunch on Thursday?
Date: Wed, 18 Nov 2026 13:00:00 +0000
Message-ID: <reply-2@example.net>
In-Reply-To: <reply-1@example.org>
References: <lunch-1@example.org> <reply-1@example.org>
 <another-very-long-message-id-that-forces-folding.1234567890@mail.example.org>
 <last@example.org>

> Are you free for lunch on Thursday?

Yes!
""")

put("headers-only-no-blank-line", """From: Alice <alice@example.org>
To: Bob <bob@example.net>
Subject: Only headers, file ends after the last header
Date: Wed, 18 Nov 2026 14:00:00 +0000
""")

put("headers-blank-empty-body", """From: Alice <alice@example.org>
To: Bob <bob@example.net>
Subject: Headers and blank line, empty body
Date: Wed, 18 Nov 2026 14:01:00 +0000

""")

put("body-without-blank-line", """From: Alice <alice@example.org>
Subject: The body starts right after the headers
Date: Wed, 18 Nov 2026 14:02:00 +0000
This line is not a header and there is no blank line before it.
Second: line looks like a header.

Third paragraph.
""")

# ---------------------------------------------------------------- Exchange-shaped
put("exchange-owa-html", exch("AAA1", "Weekly sync", attach="") + """Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: base64

""" + b64(owa_html("QUFB1", "Bonjour à tous,\nPoint hebdomadaire, comme d'habitude.\nBob").replace("\n", "\r\n").encode()) + "\n")

put("exchange-owa-alternative", exch("AAA2", "=?utf-8?b?UsOpdW5pb24gYnVkZ2V0IOKAlCAyMDI3?=",
                                      topic="=?utf-8?b?UsOpdW5pb24gYnVkZ2V0IOKAlCAyMDI3?=") + """Content-Type: multipart/alternative;
\tboundary="_000_DB9PR02MB7001AAA2DB9PR02MB7001eurp_"

--_000_DB9PR02MB7001AAA2DB9PR02MB7001eurp_
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

""" + b64(owa_text("QUFB2", "Bonjour,\n\nRéunion budget 2027.\n\nChloé").replace("\n", "\r\n").encode()) + """

--_000_DB9PR02MB7001AAA2DB9PR02MB7001eurp_
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: base64

""" + b64(owa_html("QUFB2", "Bonjour,\nRéunion budget 2027.\nChloé").replace("\n", "\r\n").encode()) + """

--_000_DB9PR02MB7001AAA2DB9PR02MB7001eurp_--
""")

put("exchange-owa-plain-qp-latin1", exch("AAA3", "Canceled: Weekly sync", attach="") + """Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

""" + qp(owa_text("QUFB3", "Désolé, la série est annulée.\n\nBob"), "iso-8859-1") + "\n")

put("exchange-owa-mixed-attachment", exch("AAA4", "Quarterly review (agenda attached)", attach="yes") + """Content-Type: multipart/mixed;
\tboundary="_004_DB9PR02MB7001AAA4DB9PR02MB7001eurp_"

--_004_DB9PR02MB7001AAA4DB9PR02MB7001eurp_
Content-Type: multipart/alternative;
\tboundary="_000_DB9PR02MB7001AAA4DB9PR02MB7001eurp_"

--_000_DB9PR02MB7001AAA4DB9PR02MB7001eurp_
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

""" + qp(owa_text("QUFB4", "Voir l'ordre du jour ci-joint.\n\nBob"), "iso-8859-1") + """

--_000_DB9PR02MB7001AAA4DB9PR02MB7001eurp_
Content-Type: text/html; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

""" + qp(owa_html("QUFB4", "Voir l'ordre du jour ci-joint.\nBob"), "iso-8859-1") + """

--_000_DB9PR02MB7001AAA4DB9PR02MB7001eurp_--

--_004_DB9PR02MB7001AAA4DB9PR02MB7001eurp_
Content-Type: application/pdf; name="Ordre du jour.pdf"
Content-Description: Ordre du jour.pdf
Content-Disposition: attachment; filename="Ordre du jour.pdf"; size=560;
\tcreation-date="Tue, 17 Nov 2026 10:01:00 GMT";
\tmodification-date="Tue, 17 Nov 2026 10:01:30 GMT"
Content-Transfer-Encoding: base64

""" + b64(pdf("Ordre du jour")) + """

--_004_DB9PR02MB7001AAA4DB9PR02MB7001eurp_--
""")

put("exchange-imip-request", exch("AAA5", "Atelier conception", attach="") + """Content-Type: multipart/alternative;
\tboundary="_000_DB9PR02MB7001AAA5DB9PR02MB7001eurp_"

--_000_DB9PR02MB7001AAA5DB9PR02MB7001eurp_
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

""" + b64("Ordre du jour : conception.\r\n".encode()) + """

--_000_DB9PR02MB7001AAA5DB9PR02MB7001eurp_
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: base64

""" + b64("<html><body><p>Ordre du jour : conception.</p></body></html>\r\n".encode()) + """

--_000_DB9PR02MB7001AAA5DB9PR02MB7001eurp_
Content-Type: text/calendar; charset="utf-8"; method=REQUEST
Content-Transfer-Encoding: base64

""" + b64(ics("REQUEST", "040000008200E00074C5B7101A82E00800000000D0A1B2C3E4F5D901000000000000000010000000ABCDEF", "Atelier conception").replace("\n", "\r\n").encode()) + """

--_000_DB9PR02MB7001AAA5DB9PR02MB7001eurp_--
""")

put("exchange-imip-cancel-mixed", exch("AAA6", "Canceled: Atelier conception", attach="yes") + """Content-Type: multipart/mixed;
\tboundary="_002_DB9PR02MB7001AAA6DB9PR02MB7001eurp_"

--_002_DB9PR02MB7001AAA6DB9PR02MB7001eurp_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

The meeting is canceled.

--_002_DB9PR02MB7001AAA6DB9PR02MB7001eurp_
Content-Type: text/calendar; charset="utf-8"; method=CANCEL
Content-Transfer-Encoding: quoted-printable

""" + qp(ics("CANCEL", "040000008200E00074C5B7101A82E00800000000D0A1B2C3E4F5D901", "Annulé : Atelier", seq=1, status="CANCELLED")) + """

--_002_DB9PR02MB7001AAA6DB9PR02MB7001eurp_
Content-Type: application/ics; name="invite.ics"
Content-Disposition: attachment; filename="invite.ics"
Content-Transfer-Encoding: base64

""" + b64(ics("CANCEL", "040000008200E00074C5B7101A82E00800000000D0A1B2C3E4F5D901", "Annule", seq=1, status="CANCELLED").replace("\n", "\r\n").encode()) + """

--_002_DB9PR02MB7001AAA6DB9PR02MB7001eurp_--
""")

put("exchange-imip-reply", exch("AAA7", "Accepted: Atelier conception",
                                frm="Alice Martin <alice@example.org>", to="Bob Leclerc <bob@example.org>") + """Content-Type: text/calendar; charset="utf-8"; method=REPLY
Content-Transfer-Encoding: 7bit

""" + ics("REPLY", "040000008200E00074C5B7101A82E00800000000D0A1B2C3E4F5D901", "Accepted: Atelier", extra="COMMENT:Ok\n"))

# ---------------------------------------------------------------- structure
put("mixed-text-pdf", hdr("mixed1", "Report attached") + """Content-Type: multipart/mixed; boundary="=-=-=mixed1"

--=-=-=mixed1
Content-Type: text/plain; charset=utf-8

Here is the report.

--=-=-=mixed1
Content-Type: application/pdf; name=report.pdf
Content-Disposition: attachment; filename=report.pdf
Content-Transfer-Encoding: base64

""" + b64(pdf("Report")) + """
--=-=-=mixed1--
""")

put("alternative-simple", hdr("alt1", "Alternative") + """Content-Type: multipart/alternative; boundary=alt-1

--alt-1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Plain version =E2=80=94 ok.
--alt-1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p>HTML version &mdash; ok.</p>
--alt-1--
""")

put("related-html-image", hdr("rel1", "Related with inline image") + """Content-Type: multipart/related; type="text/html"; start="<html-part@example.org>";
 boundary="rel-boundary"

--rel-boundary
Content-Type: text/html; charset=us-ascii
Content-ID: <html-part@example.org>

<html><body><img src="cid:logo@example.org"></body></html>
--rel-boundary
Content-Type: image/png; name="logo.png"
Content-Transfer-Encoding: base64
Content-ID: <logo@example.org>
Content-Disposition: inline; filename="logo.png"

""" + b64(png(4, 3, 1)) + """
--rel-boundary--
""")

put("mixed-alternative-related", hdr("mar1", "Mixed > alternative > related") + """Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="middle"

--middle
Content-Type: text/plain

Text.
--middle
Content-Type: multipart/related; boundary="inner"

--inner
Content-Type: text/html

<img src="cid:pic">
--inner
Content-Type: image/png
Content-ID: <pic>
Content-Transfer-Encoding: base64

""" + b64(png(2, 2, 5)) + """
--inner--
--middle--
--outer
Content-Type: text/csv; charset=utf-8; name="data.csv"
Content-Disposition: attachment; filename="data.csv"

a,b,c
1,2,3
--outer--
""")


def nest(depth: int) -> str:
    kinds = ["mixed", "alternative", "related", "mixed", "parallel", "alternative", "mixed"]
    if depth == 0:
        return "Content-Type: text/plain; charset=utf-8\n\nLeaf at the bottom.\n"
    b = f"level{depth}"
    kind = kinds[depth % len(kinds)]
    return (f'Content-Type: multipart/{kind}; boundary="{b}"\n\nPreamble at level {depth}.\n'
            f"--{b}\n{nest(depth - 1)}--{b}\nContent-Type: text/plain\n\nSibling at level {depth}.\n"
            f"--{b}--\n")


put("deep-nesting-7", hdr("deep7", "Seven levels of multipart") + nest(7))

put("message-rfc822-simple", hdr("fwd1", "Fwd: Lunch") + """Content-Type: multipart/mixed; boundary="fwd"

--fwd
Content-Type: text/plain

See below.
--fwd
Content-Type: message/rfc822
Content-Disposition: inline

From: Alice Martin <alice@example.org>
To: Bob <bob@example.net>
Subject: Lunch
Date: Mon, 16 Nov 2026 09:30:00 +0100
Message-ID: <inner-lunch@example.org>

Lunch on Thursday?
--fwd--
""")

INNER_MULTI = """From: =?utf-8?q?Chlo=C3=A9?= <chloe@example.org>
To: team@example.org
Subject: Inner multipart
Date: Sun, 15 Nov 2026 18:00:00 +0100
Message-ID: <inner-multi@example.org>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="inner-alt"

--inner-alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Texte intérieur.
--inner-alt
Content-Type: text/html; charset=utf-8

<b>inner</b>
--inner-alt--
"""

put("message-rfc822-multipart", hdr("fwd2", "Fwd: Inner multipart") + """Content-Type: multipart/mixed; boundary="fwd2"

--fwd2
Content-Type: text/plain

Forwarding.
--fwd2
Content-Type: message/rfc822; name="forwarded.eml"
Content-Description: Forwarded message

""" + INNER_MULTI + """
--fwd2--
""")

put("message-rfc822-nested-twice", hdr("fwd3", "Fwd: Fwd: nested twice") + """Content-Type: multipart/mixed; boundary="lvl0"

--lvl0
Content-Type: text/plain

Outer text.
--lvl0
Content-Type: message/rfc822

From: Bob <bob@example.net>
Subject: Fwd: middle
Message-ID: <middle@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="lvl1"

--lvl1
Content-Type: text/plain

Middle text.
--lvl1
Content-Type: message/rfc822

""" + INNER_MULTI + """
--lvl1
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAECAwQFBgcICQ==
--lvl1--
--lvl0--
""")

put("attachment-pdf-disposition", hdr("att-pdf", "PDF with full disposition") + """Content-Type: multipart/mixed; boundary=XyZ

--XyZ
Content-Type: text/plain; charset=us-ascii

Attached.

--XyZ
Content-Type: application/pdf; name="Invoice 2026-11.pdf"
Content-Disposition: attachment; filename="Invoice 2026-11.pdf"; size=553;
 creation-date="Mon, 16 Nov 2026 09:00:00 +0100"; read-date="Mon, 16 Nov 2026 09:10:00 +0100"
Content-Transfer-Encoding: base64

""" + b64(pdf("Invoice")) + """

--XyZ--
""")

put("attachment-png-base64", hdr("att-png", "Two PNG images") + """Content-Type: multipart/mixed; boundary="png-b"

--png-b
Content-Type: image/png; name=a.png
Content-Disposition: attachment; filename=a.png
Content-Transfer-Encoding: base64

""" + b64(png(16, 16, 3)) + """
--png-b
Content-Type: image/png
Content-Transfer-Encoding: BASE64

""" + b64(png(8, 4, 9), width=64) + """
--png-b--
""")

put("rfc2231-filename-utf8", hdr("rfc2231a", "RFC 2231 filename") + """Content-Type: multipart/mixed; boundary="r1"

--r1
Content-Type: text/plain

See attachment.
--r1
Content-Type: application/octet-stream; name*=utf-8''r%C3%A9sum%C3%A9.txt
Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9%20final.txt
Content-Transfer-Encoding: base64

""" + b64("Résumé final\r\n".encode()) + """
--r1
Content-Type: text/plain; charset*=us-ascii'en'us-ascii; title*=iso-8859-1'fr'%E9t%E9
Content-Disposition: inline; filename*=ISO-8859-1''%E9t%E9.txt

summer
--r1--
""")

put("rfc2231-continuations", hdr("rfc2231b", "RFC 2231 continuations") + """Content-Type: multipart/mixed; boundary="r2"

--r2
Content-Type: application/pdf;
 name*0*=utf-8''Tr%C3%A8s%20long%20nom%20de%20fichier%20;
 name*1*=%C3%A0%20plusieurs;
 name*2=" morceaux.pdf"
Content-Disposition: attachment;
 filename*0*=utf-8''Tr%C3%A8s%20long%20nom%20de%20fichier%20;
 filename*1*=%C3%A0%20plusieurs;
 filename*2=" morceaux.pdf"
Content-Transfer-Encoding: base64

""" + b64(pdf("Long")) + """
--r2
Content-Type: text/plain; name*0="plain"; name*1="-continued"; name*3="gap.txt"
Content-Disposition: attachment; filename*1="second"; filename*0="first-"

Out of order and gapped continuations.
--r2--
""")

put("content-headers-all", hdr("chdr", "Every Content-* header") + """Content-Type: multipart/mixed; boundary="all"
Content-Language: en, fr
Content-Location: http://example.org/whole

--all
Content-Type: text/plain; charset=utf-8
Content-ID: <part1@example.org>
Content-Description: The first part
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==
Content-Language: fr-FR
Content-Location: https://example.org/part1.txt
Content-Disposition: inline

Bonjour.
--all
Content-Type: text/html
Content-Language: en, de, "x-odd"
Content-Location: "relative/path with spaces.html"
Content-Description: =?utf-8?q?Descr=C3=AFption?=

<p>Hello</p>
--all--
""")

put("disposition-variants", hdr("disp", "Content-Disposition variants") + """Content-Type: multipart/mixed; boundary="d"

--d
Content-Type: text/plain
Content-Disposition: INLINE

upper-case disposition
--d
Content-Type: text/plain
Content-Disposition: attachment

no parameters
--d
Content-Type: text/plain
Content-Disposition: x-custom; a=1; B="two words"

custom type
--d
Content-Type: text/plain
Content-Disposition: ; filename=orphan.txt

missing type
--d--
""")

# ---------------------------------------------------------------- line endings
put("bare-lf", hdr("bare-lf", "Bare LF line endings") + """Content-Type: multipart/mixed; boundary="lf"

--lf
Content-Type: text/plain

Every line ends with LF only.
--lf
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

""" + b64("ligne un\nligne deux\n".encode()) + """
--lf--
""", eol="\n")

put("mixed-crlf-lf", (hdr("mixed-eol", "Mixed CRLF and LF").replace("\n", "\r\n") + "Content-Type: multipart/alternative; boundary=m\n\n"
                      "--m\r\nContent-Type: text/plain\n\r\nline with LF\nline with CRLF\r\nlast\n"
                      "--m\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--m--\n"), eol=None)

put("stray-cr", hdr("stray-cr", "Stray CR inside lines").replace("\n", "\r\n") + "Content-Type: text/plain\r\n\r\n"
    "a lone\rcarriage return, and\r\r\ntwo before LF\r\n", eol=None)

# ---------------------------------------------------------------- malformed MIME
put("missing-closing-boundary", hdr("noclose", "Missing closing boundary") + """Content-Type: multipart/mixed; boundary="nc"

--nc
Content-Type: text/plain

first part
--nc
Content-Type: text/plain

second part, and the message ends without --nc--
""")

put("boundary-never-appears", hdr("nobound", "Boundary never appears") + """Content-Type: multipart/mixed; boundary="never-used"

This multipart body never contains its boundary.
--something-else
Content-Type: text/plain

Looks like a part but is not.
""")

put("preamble-epilogue", hdr("pre-epi", "Preamble and epilogue") + """Content-Type: multipart/mixed; boundary="pe"

This is a multi-part message in MIME format.
Preamble line two.

--pe
Content-Type: text/plain

the part
--pe--

Epilogue text after the close delimiter.
It has two lines.
""")

put("8bit-raw-headers", b"From: J\xc3\xa9r\xc3\xb4me M\xc3\xbcller <jerome@example.fr>\r\n"
    b"To: Fran\xe7ois <francois@example.fr>\r\n"
    b"Subject: R\xc3\xa9union \xc3\xa0 8h \xe2\x80\x94 raw UTF-8\r\n"
    b"X-Latin1: caf\xe9\r\n"
    b"Date: Thu, 19 Nov 2026 08:00:00 +0100\r\n"
    b"Content-Type: text/plain; charset=utf-8; name=\"r\xc3\xa9sum\xc3\xa9.txt\"\r\n"
    b"Content-Disposition: attachment; filename=\"r\xc3\xa9sum\xc3\xa9.txt\"\r\n"
    b"\r\n"
    b"8-bit body \xc3\xa9\r\n", eol=None)

put("very-long-header-lines", hdr("long-hdr", "Long " + "subject " * 250 + "end") + "X-Long-Token: " + "x" * 3000 + "\n"
    + "To: " + ", ".join(f"user{i}@example.com" for i in range(120)) + "\n"
    + "Content-Type: text/plain\n\n" + "A body line of 1200 chars: " + "y" * 1200 + "\n")

put("folded-headers", """From: Alice
 Martin
\t<alice@example.org>
To:
 bob@example.net
Subject: Folded
  subject over
\tthree lines
Date: Thu, 19 Nov 2026
 09:00:00 +0000
Message-ID:
 <folded@example.org>
Content-Type: text/plain;
\tcharset="utf-8";
\tformat=flowed
X-Empty:
X-Folded-Empty:
 

Body.
""")

put("duplicate-content-type", hdr("dupct", "Duplicate Content-Type") + """Content-Type: text/html; charset=iso-8859-1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit
Content-Transfer-Encoding: base64

Which one wins? Not base64.
""")

put("unknown-cte", hdr("unk-cte", "Unknown transfer encoding") + """Content-Type: multipart/mixed; boundary="u"

--u
Content-Type: text/plain

fine
--u
Content-Type: application/octet-stream; name="file.uu"
Content-Transfer-Encoding: x-uuencode

begin 644 file.txt
#86)C
`
end
--u--
""")

put("invalid-base64", hdr("bad-b64", "Invalid base64") + """Content-Type: multipart/mixed; boundary="ib"

--ib
Content-Type: text/plain
Content-Transfer-Encoding: base64

SGVsbG8g!!!d29y*bGQ=
=garbage after padding
QUJD
--ib
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

QUJDRA
--ib
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

QU JD RE VG
--ib--
""")

put("qp-soft-break-at-end", hdr("qp-end", "QP soft break at end") + """Content-Type: multipart/mixed; boundary="q"

--q
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

ends with a soft break=
--q
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

bad escapes =ZZ and =4 and lower =c3=a9 and trailing spaces   =20
last line soft =
--q--
""")

put("qp-soft-break-eof", hdr("qp-eof", "QP soft break at end of message") + """Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: Quoted-Printable

caf=C3=A9 =
soft=""", eol="\r\n")

put("empty-parts", hdr("empty", "Empty parts") + """Content-Type: multipart/mixed; boundary="e"

--e
--e

--e
Content-Type: text/plain

--e
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

--e--
""")

put("multipart-no-parts", hdr("noparts", "Multipart with no parts") + """Content-Type: multipart/mixed; boundary="np"

--np--
""")

put("multipart-only-preamble", hdr("onlypre", "Multipart with preamble only") + """Content-Type: multipart/alternative; boundary="op"

Just a preamble.
""")

put("param-quotes-backslashes", hdr("params", "Parameters with quotes and backslashes") + """Content-Type: multipart/mixed; boundary="p\\"q"

--p"q
Content-Type: text/plain; charset="utf\\-8"; name="a \\"quoted\\" name.txt"; x-path="C:\\\\dir\\\\file"
Content-Disposition: attachment; filename="back\\\\slash\\".txt"; note=unquoted\\value

quoted params
--p"q
Content-Type: text/plain; name = "spaces around equals" ; charset = us-ascii ; ; empty= ; x="

broken params
--p"q--
""")

put("odd-case-header-names", """fROM: Alice <alice@example.org>
tO: bob@example.net
SUBJECT: Odd case header names
dAtE: Thu, 19 Nov 2026 10:00:00 +0000
message-id: <oddcase@example.org>
mime-VERSION: 1.0
cOnTeNt-TyPe: MULTIPART/Mixed; BOUNDARY="CaseB"; Charset=X

--CaseB
content-type: TEXT/PLAIN; CHARSET=UTF-8
CONTENT-TRANSFER-ENCODING: Quoted-Printable
content-id: <UPPER@Example.ORG>

lower=20case
--CaseB--
""")

put("tabs-in-headers", "From:\tAlice\t<alice@example.org>\nTo:\t\tbob@example.net\nSubject\t: tab before colon\n"
    "Subject:\tsecond subject with\ttabs\t\nDate: Thu, 19 Nov 2026 10:05:00 +0000\n"
    "Content-Type:\ttext/plain;\tcharset=utf-8\t;\tformat=fixed\n\n\tindented body\twith tabs\t\n")

put("message-rfc822-toplevel", hdr("top822", "Top-level message/rfc822") + """Content-Type: message/rfc822

""" + INNER_MULTI)

put("multipart-digest", hdr("digest", "Digest with default message/rfc822") + """Content-Type: multipart/digest; boundary="dg"

--dg

From: one@example.com
Subject: Digest entry one

First.
--dg
Content-Type: text/plain

Explicit text part inside digest.
--dg

From: two@example.com
Subject: Digest entry two
Content-Type: multipart/mixed; boundary=dd

--dd
Content-Type: text/plain

deep
--dd--
--dg--
""")

put("other-types", hdr("types", "Other media types") + """Content-Type: multipart/mixed; boundary="ot"

--ot
Content-Type: text/enriched

<bold>enriched</bold>
--ot
Content-Type: application/json; charset=utf-8

{"a": [1, 2, 3]}
--ot
Content-Type: audio/ogg; codecs=opus
Content-Transfer-Encoding: base64

T2dnUwACAAAAAAAAAAA=
--ot
Content-Type: text/x-unknown; charset=x-unknown-charset

unknown charset
--ot
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
Final-Recipient: rfc822; bob@example.net
Action: failed
Status: 5.1.1
--ot
Content-Type: message/global

Subject: global message

text
--ot--
""")

put("malformed-content-type", hdr("badct", "Malformed Content-Type values") + """Content-Type: multipart/mixed; boundary="mc"

--mc
Content-Type: text

type without subtype
--mc
Content-Type: garbage

garbage
--mc
Content-Type: /plain

no type
--mc
Content-Type:

empty value
--mc
Content-Type: text/plain; charset=utf-8 (a comment); format="flowed" (another)

comments in params
--mc
Content-Type: image/

slash only
--mc--
""")

put("multipart-without-boundary", hdr("nobparam", "Multipart without boundary parameter") + """Content-Type: multipart/mixed

--b
Content-Type: text/plain

no boundary param
--b--
""")

put("boundary-prefix-nesting", hdr("prefix", "Inner boundary is a prefix extension of the outer") + """Content-Type: multipart/mixed; boundary="A"

--A
Content-Type: multipart/alternative; boundary="AB"

--AB
Content-Type: text/plain

inner one
--AB
Content-Type: text/plain

inner two
--A
Content-Type: text/plain

outer second; inner never closed
--A--
""")

put("boundary-trailing-whitespace", hdr("bws", "Boundary lines with trailing whitespace and junk") + """Content-Type: multipart/mixed; boundary="ws"

--ws   \t
Content-Type: text/plain

after a delimiter with trailing whitespace
--wsjunk
Content-Type: text/plain

--wsjunk is not a delimiter, this is still part one
--ws
Content-Type: text/plain

part two
--ws--   trailing text on close
""")

put("leading-continuation-line", """ a continuation line before any header
From: Alice <alice@example.org>
Subject: Starts with whitespace
Not a header line without colon
X-After: after the junk

body
""")

put("encoded-word-malformed", """From: =?utf-8?q?Broken <broken@example.org>
To: =?x-unknown?q?Who?= <who@example.org>, =?utf-8?b?bad base64?= <b@example.org>
Cc: user=?utf-8?q?inside?=@example.org
Subject: =?utf-8?q?unterminated and =?utf-8?Q?two?==?utf-8?Q?_stuck?= =?utf-8?x?bad_encoding?=
Date: Thu, 19 Nov 2026 11:00:00 +0000
Message-ID: <ew-bad@example.org>

Body.
""")

put("address-edge-cases", """From: "Dr. Alice \\"Ace\\" Martin" (Chief) <alice@example.org>
Sender: <@route.example,@second.example:sender@example.org>
Reply-To: local-only, @no-local.example, "quoted local part"@example.org
To: Name Without Address, <>, bob@example.net (Bob (nested) comment)
Cc: "unbalanced <c@example.org>, d@[192.0.2.1]
Bcc: a@b, , ,c@d
Subject: Address edge cases
Date: Thu, 19 Nov 2026 11:05:00 +0000
Message-ID: no-angle-brackets@example.org
In-Reply-To: <a@b> <c@d>

Body.
""")

put("date-variants", """From: alice@example.org
Date: 19 Nov 26 11:10 EST
Subject: Obsolete date
Message-ID: <date@example.org>

two-digit year, zone name.
""")

put("large-attachment", hdr("large", "Large base64 attachment") + """Content-Type: multipart/mixed; boundary="big"

--big
Content-Type: text/plain

A large attachment follows.
--big
Content-Type: application/octet-stream; name="big.bin"
Content-Disposition: attachment; filename="big.bin"
Content-Transfer-Encoding: base64

""" + b64(bytes((i * 7919 + (i >> 8)) % 256 or 1 for i in range(150000))) + """
--big--
""")

put("message-rfc822-base64", hdr("822b64", "message/rfc822 with base64 CTE") + """Content-Type: multipart/mixed; boundary="mb"

--mb
Content-Type: message/rfc822
Content-Transfer-Encoding: base64

""" + b64("Subject: hidden\r\nFrom: x@example.org\r\n\r\nencoded inner message\r\n".encode()) + """
--mb
Content-Type: message/rfc822
Content-Transfer-Encoding: 8bit

Subject: =?utf-8?q?inner_8bit?=
From: y@example.org

contenu 8 bits é
--mb--
""")

put("mime-version-missing", """From: alice@example.org
Subject: No MIME-Version but a multipart Content-Type
Content-Type: multipart/mixed; boundary="nv"

--nv
Content-Type: text/plain

part
--nv--
""")

put("multipart-signed", hdr("signed", "Signed message") + """Content-Type: multipart/signed; micalg=pgp-sha256;
 protocol="application/pgp-signature"; boundary="sig"

--sig
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Signed text.
--sig
Content-Type: application/pgp-signature; name="signature.asc"
Content-Description: OpenPGP digital signature
Content-Disposition: attachment; filename="signature.asc"

-----BEGIN PGP SIGNATURE-----

iQEzBAEBCAAdFiEEexampleexampleexampleexampleexampleFAmc8AAAACgkQ
=abcd
-----END PGP SIGNATURE-----
--sig--
""")

put("long-body-lines", hdr("longbody", "Body lines longer than 998") + """Content-Type: text/plain; charset=us-ascii

""" + ("0123456789" * 150) + "\n" + ("abc " * 600) + "\n")

put("crlf-no-final-newline", hdr("nofinal", "No final newline").replace("\n", "\r\n") + "Content-Type: text/plain\r\n\r\nlast line without CRLF", eol=None)

put("multipart-nested-same-boundary", hdr("same", "Nested multipart reusing the outer boundary") + """Content-Type: multipart/mixed; boundary="same"

--same
Content-Type: multipart/alternative; boundary="same"

--same
Content-Type: text/plain

which level am I?
--same--
--same
Content-Type: text/plain

after
--same--
""")

put("mixed-with-rfc822-and-calendar", exch("AAA8", "FW: Atelier conception", attach="yes") + """Content-Type: multipart/mixed;
\tboundary="_005_DB9PR02MB7001AAA8DB9PR02MB7001eurp_"

--_005_DB9PR02MB7001AAA8DB9PR02MB7001eurp_
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

""" + qp("Je te transfère l'invitation.\n", "iso-8859-1") + """

--_005_DB9PR02MB7001AAA8DB9PR02MB7001eurp_
Content-Type: message/rfc822

""" + exch("AAA5", "Atelier conception") + """Content-Type: text/calendar; charset="utf-8"; method=REQUEST
Content-Transfer-Encoding: 7bit

""" + ics("REQUEST", "040000008200E00074C5B7101A82E008000000", "Atelier") + """
--_005_DB9PR02MB7001AAA8DB9PR02MB7001eurp_--
""")

put("header-field-edge-names", """From: alice@example.org
Subject: Header names with odd characters
X-Dash-Only-: value
X_Underscore: value
X.Dot: value
X-Colon-Space : spaced name
X-Empty-Value:
X-Space-Value:    
Received: from a by b; Thu, 19 Nov 2026 11:00:00 +0000
Received: from c by d; Thu, 19 Nov 2026 10:59:00 +0000
Message-ID: <fieldnames@example.org>

Body.
""")

put("text-html-only-latin1", hdr("htmll1", "HTML only, Latin-1 8bit").encode() + b"""Content-Type: text/html; charset=windows-1252
Content-Transfer-Encoding: 8bit

<html><body><p>Caf\xe9 \x80 5 \x96 prix</p></body></html>
""")

put("single-part-base64-pdf", hdr("b64pdf", "Single-part PDF") + """Content-Type: application/pdf; name="only.pdf"
Content-Disposition: attachment; filename="only.pdf"
Content-Transfer-Encoding: base64

""" + b64(pdf("Only")) + "\n")


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for name, data in MESSAGES.items():
        path = os.path.join(OUT, name)
        if check:
            try:
                with open(path, "rb") as f:
                    if f.read() != data:
                        stale.append(name)
            except OSError:
                stale.append(name)
            continue
        with open(path, "wb") as f:
            f.write(data)
    if check and stale:
        print("stale corpus files:", ", ".join(stale))
        return 1
    print(f"{len(MESSAGES)} messages {'checked' if check else 'written'} to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
