#!/usr/bin/env python3
"""Writes the OWA-link fixtures: tests/unit/data/owa/NAME.eml and, for the meeting messages,
NAME.json (the Graph collection response for it, derived from tests/unit/data/graph/).

Deterministic (no clocks, no randomness): rerun after editing and check in the outputs.
Messages are written with "\\n" and converted to CRLF, as Exchange sends them.

Names starting with "not-" are not OWA-link meeting messages and have no JSON.
"""

import base64
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
GRAPH = os.path.join(HERE, "..", "graph")


def crlf(text: str, charset: str = "utf-8") -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode(charset)


def b64(data: bytes, width: int = 76) -> str:
    enc = base64.b64encode(data).decode()
    return "\n".join(enc[i:i + width] for i in range(0, len(enc), width))


def qp(data: bytes, width: int = 76) -> str:
    """Quoted-printable as Outlook writes it: CRLF hard breaks, soft breaks at 76."""
    out = []
    for line in data.split(b"\r\n"):
        enc = ""
        for byte in line:
            if byte == 0x3D or byte > 126 or (byte < 32 and byte != 9):
                enc += f"={byte:02X}"
            else:
                enc += chr(byte)
        if enc.endswith(" ") or enc.endswith("\t"):
            enc = enc[:-1] + f"={ord(enc[-1]):02X}"
        while len(enc) > width - 1:
            cut = width - 1
            while "=" in enc[cut - 2:cut]:
                cut -= 1
            out.append(enc[:cut] + "=")
            enc = enc[cut:]
        out.append(enc)
    return "\n".join(out)


def online_url(item: str, amp: str = "&") -> str:
    return ("https://outlook.office365.com/owa/contoso.com/?itemid=AAMkAGVmMDEzMTM4LTZmYWUtNDdk"
            f"NC1hMDZiLTU1OGY5OTZhYmY4OABGAAAAAAAiQ8W967B7TKBjgx9rVEURBwAiIsqMbYjsT5e%2B{item}"
            f"AAAY%2F3q6AAA%3D{amp}exvsurl=1{amp}path=/calendar/item")


def url_2013(item: str, amp: str = "&") -> str:
    return (f"https://mail.contoso.com/owa/?ae=Item{amp}a=open{amp}t=IPM.Schedule.Meeting.Request"
            f"{amp}id=RgAAAAD2BuE%2b{item}jMBwDkQv4RPeRxSK9Z1UOVgAAAAAAAIAAA%3d%3d")


RECEIVE_PLAIN = ("To receive meeting invitations as .iCalendar attachments instead of Outlook Web "
                 "App links, go to https://outlook.office365.com/owa/contoso.com/?path=/options/"
                 "popandimap and select Send meeting invitations in iCalendar format.")
RECEIVE_HTML = ("To receive meeting invitations as .iCalendar attachments instead of Outlook Web "
                "App links, go to <a href=\"https://outlook.office365.com/owa/contoso.com/?path=/"
                "options/popandimap\">https://outlook.office365.com/owa/contoso.com/?path=/options/"
                "popandimap</a> and select Send meeting invitations in iCalendar format.<br>")


def outlook_head(kb: int) -> str:
    """An Outlook-style <head>; `kb` pads it with style rules to about that many KiB."""
    rules = []
    i = 0
    while sum(len(r) for r in rules) < kb * 1024:
        rules.append(f"p.MsoStyle{i}, li.MsoStyle{i}, div.MsoStyle{i}\n\t{{margin:0cm;\n"
                     f"\tfont-size:{10 + i % 5}.0pt;\n\tfont-family:\"Aptos\",sans-serif;}}\n")
        i += 1
    return ("<html xmlns:v=\"urn:schemas-microsoft-com:vml\" xmlns:o=\"urn:schemas-microsoft-com:"
            "office:office\" xmlns=\"http://www.w3.org/TR/REC-html40\">\n<head>\n"
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\n"
            "<meta name=\"Generator\" content=\"Microsoft Word 15 (filtered medium)\">\n"
            "<style><!--\n" + "".join(rules) + "--></style>\n</head>\n")


def html_body(url: str, paragraphs: list[str], receive: bool = True, head_kb: int = 1) -> str:
    marker = f"<br>Microsoft Outlook Web Access: <a href=\"{url}\">{url}</a><br><br>\n"
    return (outlook_head(head_kb)
            + "<body lang=\"EN-US\" link=\"#0563C1\" vlink=\"#954F72\" style=\"word-wrap:break-word\">\n"
            + marker + (RECEIVE_HTML + "\n" if receive else "")
            + "<div class=\"WordSection1\">\n"
            + "".join(f"<p class=\"MsoNormal\">{p}<o:p></o:p></p>\n" for p in paragraphs)
            + "</div>\n</body>\n</html>\n")


def plain_body(url: str, text: str, receive: bool = True) -> str:
    return (f"Microsoft Outlook Web Access: {url}\n" + (RECEIVE_PLAIN + "\n" if receive else "")
            + "\n" + text + "\n")


def headers(mid: str, subject: str, date: str = "Tue, 17 Nov 2026 10:02:11 +0100",
            frm: str = "Bob Leclerc <bob@contoso.com>", attach: str = "") -> str:
    return f"""Received: from AM0PR04MB6771.eurprd04.prod.outlook.com ([fe80::1c2a:9b1:4d2e:6f10]) by
 AM0PR04MB6771.eurprd04.prod.outlook.com ([fe80::1c2a:9b1:4d2e:6f10%7]) with mapi id
 15.20.8207.010; {date}
From: {frm}
To: Alice Martin <alice@contoso.com>, =?utf-8?q?Chlo=C3=A9_Dubois?= <chloe@contoso.com>
Subject: {subject}
Thread-Topic: {subject}
Thread-Index: AQHbWq2yqmE1hwHM0UmhQ9Yy5XlVKA==
Date: {date}
Message-ID: <{mid}@AM0PR04MB6771.eurprd04.prod.outlook.com>
Accept-Language: en-US
Content-Language: en-US
X-MS-Has-Attach: {attach}
X-MS-TNEF-Correlator: 
MIME-Version: 1.0
"""


def pdf() -> bytes:
    body = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n" + bytes(range(256)) * 3
    return body + b"\n%%EOF\n"


def png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes((i * 37) % 256 for i in range(700))


MESSAGES: dict[str, bytes] = {}
EVENTS: dict[str, tuple[str, str, str]] = {}  # name -> (graph fixture, message-id, uid suffix)


def put(name: str, data: bytes, graph: str | None = None, mid: str | None = None) -> None:
    assert b"\0" not in data
    MESSAGES[name] = data
    if graph:
        EVENTS[name] = (graph, mid, f"{len(EVENTS) + 1:04X}")


# 1. Single text/html, base64 UTF-8, a 20 KB <head>, `&amp;` in the URL (BestBodyFormat).
html = html_body(online_url("AAA1", "&amp;"), ["Hi all,", "Weekly planning — agenda in the notebook.",
                                               "Bob"], head_kb=20)
put("html-base64-longhead",
    crlf(headers("OWA0001", "Quarterly planning") + 'Content-Type: text/html; charset="utf-8"\n'
         "Content-Transfer-Encoding: base64\n\n") + crlf(b64(crlf(html)) + "\n"),
    "request-weekly-berlin", "OWA0001")

# 2. multipart/alternative(plain, html), base64 UTF-8, raw `&` in the HTML href.
url = online_url("AAA2")
plain = plain_body(url, "Bonjour à tous,\n\nPoint budget 2027 : merci d’apporter vos chiffres.\n\nChloé")
html = html_body(url, ["Bonjour à tous,", "Point budget 2027&nbsp;: merci d’apporter vos chiffres.",
                       "Chloé"])
put("alternative-base64",
    crlf(headers("OWA0002", "=?utf-8?b?UsOpdW5pb24gYnVkZ2V0IDIwMjc=?=",
                 frm="=?utf-8?q?Chlo=C3=A9_Dubois?= <chloe@contoso.com>")
         + "Content-Type: multipart/alternative;\n"
         '\tboundary="_000_AM0PR04MB6771OWA0002AM0PR04MB6771eurp_"\n\n'
         "--_000_AM0PR04MB6771OWA0002AM0PR04MB6771eurp_\n"
         'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n'
         + b64(crlf(plain)) + "\n\n--_000_AM0PR04MB6771OWA0002AM0PR04MB6771eurp_\n"
         'Content-Type: text/html; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n'
         + b64(crlf(html)) + "\n\n--_000_AM0PR04MB6771OWA0002AM0PR04MB6771eurp_--\n"),
    "request-allday-single", "OWA0002")

# 3. Single text/plain, quoted-printable ISO-8859-1: a cancellation (TextOnly).
plain = plain_body(online_url("AAA3"), "Désolé, la série est annulée : le comité a déménagé.\n\nBob")
put("plain-qp-latin1-cancel",
    crlf(headers("OWA0003", "Canceled: Quarterly planning")
         + 'Content-Type: text/plain; charset="iso-8859-1"\n'
         "Content-Transfer-Encoding: quoted-printable\n\n")
    + crlf(qp(crlf(plain, "iso-8859-1")), "latin-1"),
    "cancel-series-berlin", "OWA0003")

# 4. multipart/mixed(multipart/alternative(plain QP windows-1252, html QP), application/pdf).
url = online_url("AAA4")
plain = plain_body(url, "Voir l’ordre du jour ci-joint – merci.\n\nBob")
html = html_body(url, ["Voir l’ordre du jour ci-joint – merci.", "Bob"])
put("mixed-alternative-attachment",
    crlf(headers("OWA0004", "Quarterly review (agenda attached)", attach="yes")
         + "Content-Type: multipart/mixed;\n"
         '\tboundary="_004_AM0PR04MB6771OWA0004AM0PR04MB6771eurp_"\n\n'
         "--_004_AM0PR04MB6771OWA0004AM0PR04MB6771eurp_\n"
         "Content-Type: multipart/alternative;\n"
         '\tboundary="_000_AM0PR04MB6771OWA0004AM0PR04MB6771eurp_"\n\n'
         "--_000_AM0PR04MB6771OWA0004AM0PR04MB6771eurp_\n"
         'Content-Type: text/plain; charset="windows-1252"\n'
         "Content-Transfer-Encoding: quoted-printable\n\n"
         + qp(crlf(plain, "cp1252")) + "\n\n--_000_AM0PR04MB6771OWA0004AM0PR04MB6771eurp_\n"
         'Content-Type: text/html; charset="windows-1252"\n'
         "Content-Transfer-Encoding: quoted-printable\n\n"
         + qp(crlf(html, "cp1252")) + "\n\n--_000_AM0PR04MB6771OWA0004AM0PR04MB6771eurp_--\n\n"
         "--_004_AM0PR04MB6771OWA0004AM0PR04MB6771eurp_\n"
         'Content-Type: application/pdf; name="Agenda.pdf"\n'
         "Content-Description: Agenda.pdf\n"
         'Content-Disposition: attachment; filename="Agenda.pdf"; size=1100;\n'
         '\tcreation-date="Tue, 17 Nov 2026 10:01:00 GMT"\n'
         "Content-Transfer-Encoding: base64\n\n" + b64(pdf())
         + "\n\n--_004_AM0PR04MB6771OWA0004AM0PR04MB6771eurp_--\n"),
    "request-weekly-berlin", "OWA0004")

# 5. multipart/mixed(text/html base64, image/png): the single body part is wrapped in place.
html = html_body(online_url("AAA5", "&amp;"), ["Floor plan attached.", "Bob"], head_kb=2)
put("mixed-html-attachment",
    crlf(headers("OWA0005", "Site visit", attach="yes")
         + "Content-Type: multipart/mixed;\n"
         '\tboundary="_004_AM0PR04MB6771OWA0005AM0PR04MB6771eurp_"\n\n'
         "--_004_AM0PR04MB6771OWA0005AM0PR04MB6771eurp_\n"
         'Content-Type: text/html; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n'
         + b64(crlf(html)) + "\n\n--_004_AM0PR04MB6771OWA0005AM0PR04MB6771eurp_\n"
         'Content-Type: image/png; name="plan.png"\n'
         'Content-Disposition: attachment; filename="plan.png"\n'
         "Content-Transfer-Encoding: base64\n\n" + b64(png())
         + "\n\n--_004_AM0PR04MB6771OWA0005AM0PR04MB6771eurp_--\n"),
    "request-minimal", "OWA0005")

# 6. Exchange 2013 URL form (no "To receive" line), single text/html base64.
html = html_body(url_2013("AAA6", "&amp;"), ["Design review.", "Bob"], receive=False)
put("html-exchange2013",
    crlf(headers("OWA0006", "Design review", date="Mon, 16 Nov 2026 18:30:00 -0500")
         + 'Content-Type: text/html; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n')
    + crlf(b64(crlf(html)) + "\n"),
    "request-relyearly-utc", "OWA0006")

# 7. Exchange 2013 URL form in text/plain, quoted-printable UTF-8.
plain = plain_body(url_2013("AAA7"), "Café à 10 h.\n\nBob", receive=False)
put("plain-qp-exchange2013",
    crlf(headers("OWA0007", "Coffee")
         + 'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n\n')
    + crlf(qp(crlf(plain))),
    "request-daily-pacific-numbered", "OWA0007")

# 8. A response (REPLY), single text/plain base64 UTF-8.
plain = plain_body(online_url("AAA8"), "Accepted — see you there.\n\nAlice")
put("plain-base64-reply",
    crlf(headers("OWA0008", "Accepted: Quarterly planning", frm="Alice Martin <alice@contoso.com>")
         + 'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n')
    + crlf(b64(crlf(plain)) + "\n"),
    "reply-accepted", "OWA0008")

# 9. multipart/related(text/html, image/png) as the whole body: wrapped in an alternative.
html = html_body(online_url("AAA9", "&amp;"), ["Map below.", '<img src="cid:map@01DC">'])
put("related-html-inline-image",
    crlf(headers("OWA0009", "Offsite")
         + "Content-Type: multipart/related;\n"
         '\tboundary="_005_AM0PR04MB6771OWA0009AM0PR04MB6771eurp_";\n\ttype="text/html"\n\n'
         "--_005_AM0PR04MB6771OWA0009AM0PR04MB6771eurp_\n"
         'Content-Type: text/html; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n'
         + b64(crlf(html)) + "\n\n--_005_AM0PR04MB6771OWA0009AM0PR04MB6771eurp_\n"
         'Content-Type: image/png; name="map.png"\nContent-ID: <map@01DC>\n'
         "Content-Transfer-Encoding: base64\n\n" + b64(png())
         + "\n\n--_005_AM0PR04MB6771OWA0009AM0PR04MB6771eurp_--\n"),
    "request-weekly-berlin", "OWA0009")

# ---- not OWA-link meeting messages ----

# A forward that quotes the marker in the middle of its text.
plain = ("FYI, this is what Exchange sent me:\n\n> " + plain_body(online_url("AAB1"), "Hi").replace("\n", "\n> ")
         + "\nAlice\n")
put("not-quoted-marker",
    crlf(headers("OWA0101", "Fwd: Quarterly planning", frm="Alice Martin <alice@contoso.com>")
         + 'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n')
    + crlf(b64(crlf(plain)) + "\n"))

# HTML whose marker comes after the first paragraph of the body.
html = html_body(online_url("AAB2"), ["x"]).replace(
    "<br>Microsoft Outlook", "<p>See below.</p>\n<br>Microsoft Outlook", 1)
put("not-html-marker-later",
    crlf(headers("OWA0102", "Re: planning")
         + 'Content-Type: text/html; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n')
    + crlf(b64(crlf(html)) + "\n"))

# An external invitation with its own text/calendar (its text even starts with the marker).
ics = ("BEGIN:VCALENDAR\nMETHOD:REQUEST\nPRODID:-//Example//EN\nVERSION:2.0\nBEGIN:VEVENT\n"
       "UID:external-1@example.net\nDTSTAMP:20261117T090000Z\nDTSTART:20261201T090000Z\n"
       "DTEND:20261201T100000Z\nSUMMARY:External\nORGANIZER:mailto:eve@example.net\n"
       "END:VEVENT\nEND:VCALENDAR\n")
put("not-external-calendar",
    crlf(headers("OWA0103", "External", frm="Eve <eve@example.net>")
         + "Content-Type: multipart/alternative; boundary=\"ext-1\"\n\n--ext-1\n"
         'Content-Type: text/plain; charset="utf-8"\n\n'
         + plain_body(online_url("AAB3"), "Join us.") + "\n--ext-1\n"
         'Content-Type: text/calendar; charset="utf-8"; method=REQUEST\n\n' + ics
         + "\n--ext-1--\n"))

# A marker with a link that is no OWA item link.
put("not-other-link",
    crlf(headers("OWA0104", "Web access")
         + 'Content-Type: text/plain; charset="utf-8"\n\n'
         + "Microsoft Outlook Web Access: https://outlook.office365.com/owa/contoso.com/?path=/mail\n\nHi\n"))


def write_event(name: str, graph: str, mid: str, suffix: str) -> None:
    with open(os.path.join(GRAPH, graph + ".json"), encoding="utf-8") as f:
        doc = json.load(f)
    msg = doc["value"][0]
    msg["internetMessageId"] = f"<{mid}@AM0PR04MB6771.eurprd04.prod.outlook.com>"
    uid = msg["event"]["iCalUId"]
    msg["event"]["iCalUId"] = uid[:-len(suffix)] + suffix
    if "uid" in msg["event"]:
        msg["event"]["uid"] = msg["event"]["iCalUId"]
    with open(os.path.join(HERE, name + ".json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")


def main() -> None:
    for name, data in MESSAGES.items():
        with open(os.path.join(HERE, name + ".eml"), "wb") as f:
            f.write(data)
    for name, (graph, mid, suffix) in EVENTS.items():
        write_event(name, graph, mid, suffix)


if __name__ == "__main__":
    main()
