#!/usr/bin/env python3
"""Writes the end-to-end fixtures of the meeting-invitation rewrite: a mailbox of Exchange-shaped
messages in APPEND order, the Graph data icalgate-graphsim serves for it, and a manifest saying
what a client must see for each message.

    make_mailbox.py OUTDIR [--upn alice@contoso.com]
        the fixture mailbox (tests/rewrite/README.md lists every message)
    make_mailbox.py OUTDIR --count 10000 --invitations 0.05 [--upn ...]
        a large mailbox for the header-sync cost benchmark

Writes OUTDIR/mail/NNN-name.eml, OUTDIR/graph/users/<upn>/messages/<name>.json (one Graph
collection response per file), OUTDIR/graph/clients.json and OUTDIR/manifest.json.

Deterministic (no clocks; the only randomness is a seeded generator), stdlib only. Messages
are CRLF throughout, as Exchange sends them. The events come from tests/unit/data/graph/ and
the message shapes and encoders from tests/unit/data/owa/generate.py.
"""

import argparse
import base64
import copy
import datetime
import email.header
import email.utils
import hashlib
import importlib.util
import json
import os
import random
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
GRAPH_FIXTURES = os.path.join(TESTS, "unit", "data", "graph")
DEFAULT_UPN = "alice@contoso.com"
TENANT = "contoso.onmicrosoft.com"
CLIENTS = {"clients": [{"tenant": TENANT, "client_id": "8d0f7a52-6c1b-4f0e-9a7e-3c2d1e0f4b5a",
                        "client_secret": "graphsim-test-secret-9f8e7d6c"}]}


def _load_owa_generator():
    spec = importlib.util.spec_from_file_location(
        "owa_generate", os.path.join(TESTS, "unit", "data", "owa", "generate.py"))
    module = importlib.util.module_from_spec(spec)
    # It builds its own fixtures in memory only; keep its folder free of __pycache__ too.
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


OWA = _load_owa_generator()
b64 = OWA.b64
qp = OWA.qp
RECEIVE_PLAIN = OWA.RECEIVE_PLAIN
RECEIVE_HTML = OWA.RECEIVE_HTML

MARKER = "Microsoft Outlook Web Access: "
SERVER = "AM0PR04MB6771"
SERVER_FQDN = "AM0PR04MB6771.eurprd04.prod.outlook.com"
ZONES = [0, 60, -480, 540, 660, -180, 330, -300]  # Date header offsets (minutes), cycled
BASE_TIME = datetime.datetime(2026, 11, 2, 7, 31, 12, tzinfo=datetime.timezone.utc)

# PR_MESSAGE_CLASS per meetingMessageType: the `t=` of an Exchange 2013 link.
ITEM_CLASS = {
    "meetingRequest": "IPM.Schedule.Meeting.Request",
    "meetingCancelled": "IPM.Schedule.Meeting.Canceled",
    "meetingAccepted": "IPM.Schedule.Meeting.Resp.Pos",
    "meetingTenativelyAccepted": "IPM.Schedule.Meeting.Resp.Tent",
    "meetingDeclined": "IPM.Schedule.Meeting.Resp.Neg",
}
METHOD = {"meetingRequest": "REQUEST", "meetingCancelled": "CANCEL", "meetingAccepted": "REPLY",
          "meetingTenativelyAccepted": "REPLY", "meetingDeclined": "REPLY"}


# ---- small deterministic helpers ----------------------------------------------------------

def digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def hexid(*parts: str, n: int = 18) -> str:
    return digest(*parts).hex().upper()[:n]


def guid(*parts: str) -> str:
    h = digest("guid", *parts).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def blob(name: str, size: int) -> bytes:
    """`size` bytes that look random (incompressible) and never change."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{name}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii")


def enc_crlf(text: str, charset: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode(charset)


def html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def header_text(text: str, charset: str = "utf-8") -> str:
    """A header value as Exchange writes it: raw ASCII, else RFC 2047 encoded words."""
    if text.isascii():
        return text
    return email.header.Header(text, charset, maxlinelen=76).encode(linesep="\n")


def address(name: str, addr: str) -> str:
    if not name:
        return addr
    if name.isascii():
        return email.utils.formataddr((name, addr))
    return f"{header_text(name)} <{addr}>"


def address_list(people: list[tuple[str, str]]) -> str:
    return ",\n\t".join(address(n, a) for n, a in people)


def graph_time(t: datetime.datetime) -> str:
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def imap_date(t: datetime.datetime) -> str:
    return t.astimezone(datetime.timezone.utc).strftime("%d-%b-%Y %H:%M:%S +0000")


# ---- identifiers as Exchange writes them ----------------------------------------------------

EWS_PREFIX = base64.b64decode("AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OABGAAAAAAAiQ8W9"
                              "67B7TKBjgx9rVEURBwAiIsqMbYjsT5e+T7KzowPTAAAAAAENAAAiIsqMbYjsT5e+T7Kz"
                              "owPTAAA=")


def ews_id(*parts: str) -> str:
    """A standard-base64 EWS item id, unique per `parts` (with '+', '/' and '=' in it)."""
    return base64.b64encode(EWS_PREFIX + digest("ews", *parts)[:7] + b"\xfb\xff\x00\x00").decode()


def rest_id(ews: str) -> str:
    return ews.replace("+", "_").replace("/", "-")


def url_escape(ews: str) -> str:
    return ews.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


def online_url(ews: str) -> str:
    return (f"https://outlook.office365.com/owa/contoso.com/?itemid={url_escape(ews)}"
            "&exvsurl=1&path=/calendar/item")


def url_2013(ews: str, item_class: str) -> str:
    # Exchange 2013 escapes in lower case.
    escaped = ews.replace("+", "%2b").replace("/", "%2f").replace("=", "%3d")
    return f"https://mail.contoso.com/owa/?ae=Item&a=open&t={item_class}&id={escaped}"


# ---- Exchange headers -----------------------------------------------------------------------

def exchange_headers(m: dict) -> str:
    """The header block of a message as Exchange Online's IMAP service returns it."""
    name = m["key"]
    sent, received = m["sent"], m["received"]
    date = email.utils.format_datetime(sent.astimezone(
        datetime.timezone(datetime.timedelta(minutes=m["zone"]))))
    frm = address(*m["from"])
    external = m.get("external", False)
    lines = [
        f"Received: from DB9PR04MB8412.eurprd04.prod.outlook.com (2603:10a6:10:2c1::13) by\n"
        f" {SERVER_FQDN} with HTTPS; {email.utils.format_datetime(received)}",
    ]
    if external:
        lines.append(
            "Received: from mail-ej1-f41.google.com (209.85.218.41) by\n"
            " DB9PR04MB8412.eurprd04.prod.outlook.com (10.167.242.61) with Microsoft SMTP Server\n"
            " (version=TLS1_3, cipher=TLS_AES_256_GCM_SHA384) id 15.20.8207.12 via Frontend\n"
            f" Transport; {email.utils.format_datetime(received)}")
        domain = m["from"][1].split("@")[1]
        lines.append("Authentication-Results: spf=pass (sender IP is 209.85.218.41)\n"
                     f" smtp.mailfrom={domain}; dkim=pass (signature was verified)\n"
                     f" header.d={domain};dmarc=pass action=none;compauth=pass reason=100")
        lines.append(f"Received-SPF: Pass ({domain}: domain of {m['from'][1]}"
                     " designates 209.85.218.41 as permitted sender)")
    else:
        lines.append(
            f"Received: from {SERVER_FQDN}\n ([fe80::1c2a:9b1:4d2e:6f10]) by {SERVER_FQDN}\n"
            f" ([fe80::1c2a:9b1:4d2e:6f10%7]) with mapi id 15.20.8207.010; {date}")
    lines.append(f"From: {frm}")
    lines.append(f"To: {address_list(m['to'])}")
    if m.get("cc"):
        lines.append(f"CC: {address_list(m['cc'])}")
    subject = header_text(m["subject"], m.get("subject_charset", "utf-8"))
    lines.append(f"Subject: {subject}")
    if not external:
        topic = m.get("topic", m["subject"])
        lines.append(f"Thread-Topic: {header_text(topic, m.get('subject_charset', 'utf-8'))}")
        lines.append("Thread-Index: " + base64.b64encode(
            b"\x01" + digest("thread", m.get("thread", name))[:21]).decode())
    lines.append(f"Date: {date}")
    lines.append(f"Message-ID: {m['message_id']}")
    if m.get("in_reply_to"):
        lines.append(f"References: {m['in_reply_to']}")
        lines.append(f"In-Reply-To: {m['in_reply_to']}")
    lines.append("Accept-Language: en-US, de-DE")
    lines.append(f"Content-Language: {m.get('language', 'en-US')}")
    lines.append(f"X-MS-Exchange-Organization-AuthAs: {'Anonymous' if external else 'Internal'}")
    if not external:
        lines.append("X-MS-Exchange-Organization-AuthMechanism: 04")
    lines.append(f"X-MS-Exchange-Organization-AuthSource: {SERVER_FQDN}")
    lines.append(f"X-MS-Has-Attach: {'yes' if m.get('attach') else ''}")
    lines.append("X-MS-Exchange-Organization-Network-Message-Id:\n\t" + guid(name, "netmsg"))
    lines.append(f"X-MS-Exchange-Organization-SCL: {1 if external else -1}")
    lines.append("X-MS-TNEF-Correlator: ")
    lines.append("X-MS-Exchange-Organization-RecordReviewCfmType: 0")
    lines.extend(transport_headers(m, received))
    if m.get("extra_headers"):
        lines.extend(m["extra_headers"])
    lines.append("MIME-Version: 1.0")
    return "\n".join(lines) + "\n"


def transport_headers(m: dict, received: datetime.datetime) -> list[str]:
    """The transport and anti-spam stamps Exchange Online adds to every delivered message
    (about 1.5-2.5 KB, as in real mailboxes)."""
    name = m["key"]
    arrival = received.astimezone(datetime.timezone.utc).strftime("%d %b %Y %H:%M:%S.") + \
        f"{int(hexid(name, 'ms', n=4), 16) % 10000:04d} (UTC)"
    info = base64.b64encode(blob(name + ":antispam", 420 + digest(name)[0] * 3)).decode()
    info = info.rstrip("=")
    info_lines = "\n\t".join(f"=?us-ascii?Q?{info[i:i + 60]}?=" for i in range(0, len(info), 60))
    return [
        f"X-MS-Exchange-Organization-ExpirationStartTime: {arrival}",
        "X-MS-Exchange-Organization-ExpirationStartTimeReason: OriginalSubmit",
        "X-MS-Exchange-Organization-ExpirationInterval: 1:00:00:00.0000000",
        "X-MS-Exchange-Organization-ExpirationIntervalReason: OriginalSubmit",
        f"X-MS-Office365-Filtering-Correlation-Id: {guid(name, 'correlation')}",
        f"X-MS-TrafficTypeDiagnostic: {SERVER}:EE_|DB9PR04MB8412:EE_",
        f"X-MS-Exchange-CrossTenant-OriginalArrivalTime: {arrival}",
        "X-MS-Exchange-CrossTenant-FromEntityHeader: "
        + ("Internet" if m.get("external") else "Hosted"),
        "X-MS-Exchange-CrossTenant-Id: 72f988bf-86f1-41af-91ab-2d7cd011db47",
        f"X-MS-Exchange-CrossTenant-Network-Message-Id: {guid(name, 'netmsg')}",
        f"X-MS-Exchange-CrossTenant-AuthSource: {SERVER_FQDN}",
        "X-MS-Exchange-CrossTenant-AuthAs: " + ("Anonymous" if m.get("external") else "Internal"),
        "X-MS-Exchange-Transport-CrossTenantHeadersStamped: DB9PR04MB8412",
        f"X-MS-Exchange-Transport-EndToEndLatency: 00:00:0{2 + m['index'] % 5}."
        f"{int(hexid(name, 'lat', n=6), 16) % 10000000:07d}",
        "X-MS-Exchange-Processed-By-BccFoldering: 15.20.8207.010",
        "X-Microsoft-Antispam: BCL:0;ARA:13230040|1800799024|366016|376014|38070700018;",
        "X-Microsoft-Antispam-Message-Info:\n\t" + info_lines,
        "X-Forefront-Antispam-Report: CIP:255.255.255.255;CTRY:;LANG:"
        + m.get("language", "en-US")[:2] + ";SCL:" + ("1" if m.get("external") else "-1")
        + ";SRV:;IPV:NLI;SFV:NSPM;\n\tH:" + SERVER_FQDN + ";PTR:;CAT:NONE;\n\t"
        "SFS:(13230040)(1800799024)(366016)(376014)(38070700018);DIR:INB;",
    ]


# ---- bodies ---------------------------------------------------------------------------------

def plain_text(url: str | None, paragraphs: list[str], receive: bool) -> str:
    text = "\n\n".join(paragraphs) + "\n"
    if url is None:
        return text
    return MARKER + url + "\n" + (RECEIVE_PLAIN + "\n" if receive else "") + "\n" + text


def html_text(url: str | None, paragraphs: list[str], receive: bool, head_kb: int = 1,
              amp: bool = True, bare_body: bool = False, charset: str = "utf-8",
              extra_html: str = "") -> str:
    head = OWA.outlook_head(head_kb).replace("charset=utf-8", f"charset={charset}")
    body = "<body>" if bare_body else (
        "<body lang=\"EN-US\" link=\"#0563C1\" vlink=\"#954F72\" style=\"word-wrap:break-word\">")
    marker = ""
    if url is not None:
        href = url.replace("&", "&amp;") if amp else url
        marker = (f"<br>{MARKER}<a href=\"{href}\">{href}</a><br><br>\n"
                  + (RECEIVE_HTML + "\n" if receive else ""))
    return (head + body + "\n" + marker + "<div class=\"WordSection1\">\n"
            + "".join(f"<p class=\"MsoNormal\">{html_escape(p)}<o:p></o:p></p>\n"
                      for p in paragraphs)
            + extra_html + "</div>\n</body>\n</html>\n")


def leaf(ctype: str, cte: str, payload: bytes, extra: str = "") -> str:
    """A body part: headers, blank line, the encoded payload (ASCII, "\\n" line ends)."""
    if cte == "base64":
        body = b64(payload)
    elif cte == "quoted-printable":
        body = qp(payload)
    else:
        body = payload.decode("ascii").replace("\r\n", "\n").rstrip("\n")
    return f"Content-Type: {ctype}\n{extra}Content-Transfer-Encoding: {cte}\n\n{body}\n"


def text_part(subtype: str, charset: str, cte: str, text: str) -> str:
    return leaf(f"text/{subtype}; charset=\"{charset}\"", cte, enc_crlf(text, charset))


def multipart(subtype: str, boundary: str, parts: list[str], params: str = "") -> str:
    out = f"Content-Type: multipart/{subtype};\n\tboundary=\"{boundary}\"{params}\n\n"
    for p in parts:
        out += f"--{boundary}\n{p}\n"
    return out + f"--{boundary}--\n"


def attachment(ctype: str, filename: str, data: bytes, when: datetime.datetime,
               inline_cid: str | None = None) -> str:
    stamp = email.utils.format_datetime(when.astimezone(datetime.timezone.utc), usegmt=True)
    shown = header_text(filename) if not filename.isascii() else filename
    extra = ""
    if inline_cid:
        extra += f"Content-ID: <{inline_cid}>\n"
    extra += f"Content-Description: {shown}\n"
    extra += (f"Content-Disposition: {'inline' if inline_cid else 'attachment'};\n"
              f"\tfilename=\"{shown}\"; size={len(data)};\n"
              f"\tcreation-date=\"{stamp}\";\n\tmodification-date=\"{stamp}\"\n")
    return leaf(f"{ctype}; name=\"{shown}\"", "base64", data, extra)


def docx(name: str, size: int = 5200) -> bytes:
    return b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + blob(name, size)


def png(name: str, size: int = 900) -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + blob(name, size)


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def boundaries(m: dict) -> dict:
    tag = f"{m['mid_local']}{SERVER}eurp_"
    return {k: f"_{n}_{tag}" for k, n in (("alt", "000"), ("mixed", "004"), ("rel", "005"),
                                          ("mixed2", "006"))}


# ---- message shapes -------------------------------------------------------------------------
# Each shape turns the message description `m` (url or None, paragraphs, charset…) into the
# MIME body below the header block. `attach` says whether it carries real attachments.

def shape_html_b64(m, head_kb=3, amp=True, bare=False, receive=True):
    return text_part("html", "utf-8", "base64",
                     html_text(m["url"], m["paras"], receive and m["receive"], head_kb, amp, bare))


def shape_html_qp(m, head_kb=2):
    cs = m.get("charset", "windows-1252")
    return text_part("html", cs, "quoted-printable",
                     html_text(m["url"], m["paras"], m["receive"], head_kb, charset=cs))


def shape_plain(m, charset, cte):
    return text_part("plain", charset, cte, plain_text(m["url"], m["paras"], m["receive"]))


def shape_alternative(m, charset, cte, amp=True, head_kb=2):
    b = boundaries(m)
    return multipart("alternative", b["alt"], [
        text_part("plain", charset, cte, plain_text(m["url"], m["paras"], m["receive"])),
        text_part("html", charset, cte,
                  html_text(m["url"], m["paras"], m["receive"], head_kb, amp, charset=charset)),
    ])


def shape_related(m):
    b = boundaries(m)
    cid = f"image001.png@01DB{hexid(m['key'], 'cid', n=4)}.{hexid(m['key'], 'cid2', n=8)}"
    html = html_text(m["url"], m["paras"], m["receive"], 2,
                     extra_html=f"<p class=\"MsoNormal\"><img width=\"320\" height=\"180\" "
                                f"src=\"cid:{cid}\"><o:p></o:p></p>\n")
    return multipart("related", b["rel"], [
        text_part("html", "utf-8", "base64", html),
        attachment("image/png", "image001.png", png(m["key"]), m["sent"], inline_cid=cid),
    ], params=";\n\ttype=\"text/html\"")


def shape_mixed(m, first: str, files: list[tuple[str, str, bytes]]):
    b = boundaries(m)
    return multipart("mixed", b["mixed"], [first] + [
        attachment(ctype, fname, data, m["sent"]) for ctype, fname, data in files])


def build_shape(shape: str, m: dict) -> str:
    key = m["key"]
    if shape == "html-b64":
        return shape_html_b64(m)
    if shape == "html-b64-longhead":       # marker ≈ 95 KB into the encoded part
        return shape_html_b64(m, head_kb=70)
    if shape == "html-b64-bare-body":      # <body> without attributes, no "To receive" line
        return shape_html_b64(m, head_kb=0, amp=False, bare=True, receive=False)
    if shape == "html-b64-2013":
        return shape_html_b64(m, amp=True, receive=False)
    if shape == "html-qp-longhead":        # marker ≈ 46 KB into the encoded part
        m2 = dict(m, charset="utf-8")
        return shape_html_qp(m2, head_kb=44)
    if shape == "html-qp-cp1252":
        return shape_html_qp(dict(m, charset="windows-1252"))
    if shape == "plain-b64":
        return shape_plain(m, "utf-8", "base64")
    if shape == "plain-qp-latin1":
        return shape_plain(m, "iso-8859-1", "quoted-printable")
    if shape == "plain-7bit":
        return shape_plain(m, "us-ascii", "7bit")
    if shape == "plain-qp-2013":
        return shape_plain(m, "utf-8", "quoted-printable")
    if shape == "alternative-b64":
        return shape_alternative(m, "utf-8", "base64", amp=False)
    if shape == "alternative-qp-latin1":
        return shape_alternative(m, "iso-8859-1", "quoted-printable")
    if shape == "alternative-b64-2013":
        return shape_alternative(m, "utf-8", "base64")
    if shape == "related-html-png":
        return shape_related(m)
    if shape == "mixed-alternative-pdf":
        return shape_mixed(m, shape_alternative(m, "windows-1252", "quoted-printable"),
                           [("application/pdf", "Agenda.pdf", OWA.pdf())])
    if shape == "mixed-html-png":
        return shape_mixed(m, shape_html_b64(m, head_kb=2),
                           [("image/png", "Lageplan.png", png(key, 2400))])
    if shape == "mixed-plain-xlsx":
        return shape_mixed(m, shape_plain(m, "utf-8", "quoted-printable"),
                           [(XLSX, "Zeitplan.xlsx", docx(key, 7000))])
    if shape == "mixed-alternative-related-docx":
        b = boundaries(m)
        alt = multipart("alternative", b["alt"], [
            text_part("plain", "utf-8", "base64", plain_text(m["url"], m["paras"], m["receive"])),
            shape_related(m),
        ])
        return shape_mixed(m, alt, [(DOCX, "Protokoll_Überblick.docx", docx(key)),
                                    ("application/pdf", "Anhang.pdf", OWA.pdf())])
    raise ValueError(shape)


ATTACH_SHAPES = {"mixed-alternative-pdf", "mixed-html-png", "mixed-plain-xlsx",
                 "mixed-alternative-related-docx"}
SHAPE_2013 = {"html-b64-2013", "plain-qp-2013", "alternative-b64-2013"}


# ---- the Graph side -------------------------------------------------------------------------

def load_fixture(name: str) -> dict:
    with open(os.path.join(GRAPH_FIXTURES, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


def people(recipients) -> list[tuple[str, str]]:
    return [(r["emailAddress"].get("name", ""), r["emailAddress"]["address"])
            for r in recipients or []]


def graph_recipients(ps: list[tuple[str, str]]) -> list:
    return [{"emailAddress": {"name": n, "address": a}} for n, a in ps]


def meeting_json(m: dict, fixture: dict, uid: str | None, upn: str) -> dict:
    """The Graph response for the message `m`, from a unit fixture with the identifiers and
    times made consistent with the .eml."""
    doc = copy.deepcopy(fixture)
    doc["@odata.context"] = (f"https://graph.microsoft.com/v1.0/$metadata#users("
                             f"'{upn.replace('@', '%40')}')/messages")
    msg = doc["value"][0]
    ev = msg["event"]
    msg["id"] = rest_id(ews_id(m["key"], "message"))
    msg["internetMessageId"] = m["message_id"]
    msg["createdDateTime"] = msg["lastModifiedDateTime"] = graph_time(m["received"])
    msg["receivedDateTime"] = graph_time(m["received"])
    msg["sentDateTime"] = graph_time(m["sent"])
    msg["subject"] = m["subject"]
    msg["hasAttachments"] = bool(m.get("attach"))
    msg["from"] = msg["sender"] = {"emailAddress": {"name": m["from"][0], "address": m["from"][1]}}
    msg["toRecipients"] = graph_recipients(m["to"])
    msg["ccRecipients"] = graph_recipients(m.get("cc", []))
    msg["isRead"] = False
    msg["parentFolderId"] = rest_id(ews_id("inbox"))
    msg["conversationId"] = rest_id(ews_id(m.get("thread", m["key"]), "conversation"))
    event_id = rest_id(m["ews"])
    ev["id"] = event_id
    msg["event@odata.navigationLink"] = (f"https://graph.microsoft.com/v1.0/users('{upn}')/"
                                         f"events('{event_id}')")
    if uid is not None:
        ev["iCalUId"] = uid
        if "uid" in ev:
            ev["uid"] = uid
    return doc


def plain_message_json(m: dict, upn: str) -> dict:
    """Graph's view of an ordinary message (a #microsoft.graph.message, IPM.Note)."""
    return {
        "@odata.context": (f"https://graph.microsoft.com/v1.0/$metadata#users("
                           f"'{upn.replace('@', '%40')}')/messages"),
        "value": [{
            "@odata.type": "#microsoft.graph.message",
            "@odata.etag": f"W/\"CQAAABYAAAAS8Tzk1qB3Sr3N5qfBaSg+AAAUT{hexid(m['key'], n=4)}\"",
            "id": rest_id(ews_id(m["key"], "message")),
            "createdDateTime": graph_time(m["received"]),
            "lastModifiedDateTime": graph_time(m["received"]),
            "receivedDateTime": graph_time(m["received"]),
            "sentDateTime": graph_time(m["sent"]),
            "hasAttachments": bool(m.get("attach")),
            "internetMessageId": m["message_id"],
            "subject": m["subject"],
            "bodyPreview": " ".join(m["paras"])[:255],
            "importance": "normal",
            "parentFolderId": rest_id(ews_id("inbox")),
            "conversationId": rest_id(ews_id(m.get("thread", m["key"]), "conversation")),
            "isRead": False,
            "isDraft": False,
            "from": {"emailAddress": {"name": m["from"][0], "address": m["from"][1]}},
            "sender": {"emailAddress": {"name": m["from"][0], "address": m["from"][1]}},
            "toRecipients": graph_recipients(m["to"]),
            "ccRecipients": graph_recipients(m.get("cc", [])),
        }],
    }


# ---- the fixture mailbox --------------------------------------------------------------------

ALICE = ("Alice Martin", DEFAULT_UPN)
BOB = ("Bob Leclerc", "bob@contoso.com")

# Text of each event's message, in the organizer's language.
TEXTS = {
    "request-weekly-berlin": ("de-DE", ["Hallo zusammen,",
                                        "wöchentliches Sprint-Review bis Ende Q2 – die Agenda "
                                        "liegt im gemeinsamen Notizbuch.", "Grüße, Bob"]),
    "cancel-series-berlin": ("de-DE", ["Das Sprint-Review entfällt ab sofort – danke für eure "
                                       "Beiträge!", "Bob"]),
    "cancel-occurrence-pacific": ("en-US", ["Skipping tomorrow's stand-up; see you Thursday.",
                                            "Bob"]),
    "reply-accepted": ("en-US", ["Accepted — see you there.", "Alice"]),
    "reply-tentative": ("pl-PL", ["Może się spóźnię — potwierdzę jutro rano.", "Łukasz"]),
    "reply-declined": ("nb-NO", ["Beklager, jeg er på ferie den uken.", "Zoë"]),
    "request-absmonthly-sydney-noend": ("en-AU", ["G’day team – monthly review of the APAC "
                                                  "pipeline.", "Agenda attached; bring numbers.",
                                                  "Cheers, Bob"]),
    "request-absyearly-saopaulo": ("pt-BR", ["Olá a todos,", "Celebração do aniversário da "
                                             "filial: traremos pão de queijo e café.",
                                             "Abraços, João"]),
    "request-allday-recurring": ("es-ES", ["Remote Monday — trabajo desde casa, sin reuniones.",
                                           "¡Gracias!"]),
    "request-allday-single": ("de-DE", ["Am Heiligabend bleibt das Büro geschlossen.",
                                        "Frohe Weihnachten – Bob"]),
    "request-custom-zone": ("en-GB", ["Meeting in a custom time zone; the times are UTC.",
                                      "Bob"]),
    "request-daily-pacific-numbered": ("en-US", ["Daily stand-up for the next ten days. Café ☕ "
                                                 "is on me.", "Bob"]),
    "request-minimal": ("en-US", ["Quick sync."]),
    "request-prefer-tokyo-sequence": ("ja-JP", ["カイゼン・ワークショップの日程を更新しました。",
                                                "よろしくお願いします。"]),
    "request-relmonthly-tokyo": ("ja-JP", ["月末の振り返りミーティングです。",
                                           "議題は共有ノートブックにあります。"]),
    "request-relmonthly-weekdays-india": ("hi-IN", ["नमस्ते टीम, payroll check on the first "
                                                    "weekday of every month.", "धन्यवाद, Priya"]),
    "request-relyearly-utc": ("en-US", ["Annual security drill — all hands.", "Bob"]),
}

# (name, Graph fixture, shape, new UID?, why) for the messages that must be rewritten. Every
# fixture of tests/unit/data/graph/ and every shape appears at least once; a fixture used
# twice gets a new UID the second time, except where the UID must correlate (the series
# cancellation cancels the request of the first message).
REWRITES = [
    ("request-weekly-berlin-longhead", "request-weekly-berlin", "html-b64-longhead", False,
     "weekly until endDate, W. Europe; 70 KiB <head>: the marker lies ~100 KB into the base64 "
     "part, past 16 and 64 KiB probes; &amp; in the URL"),
    ("request-allday-single-alternative", "request-allday-single", "alternative-b64", False,
     "single all-day event; plain+html base64, raw & in the href"),
    ("reply-accepted-plain", "reply-accepted", "plain-b64", False,
     "REPLY, PARTSTAT ACCEPTED; single text/plain base64"),
    ("request-relmonthly-tokyo-html", "request-relmonthly-tokyo", "html-b64", False,
     "relativeMonthly, Tokyo; Japanese subject and body in text/html base64"),
    ("request-absmonthly-sydney-pdf", "request-absmonthly-sydney-noend",
     "mixed-alternative-pdf", False,
     "absoluteMonthly without end, Sydney (southern DST); QP windows-1252 alternative in a "
     "multipart/mixed with a PDF"),
    ("request-absyearly-saopaulo-latin1", "request-absyearly-saopaulo",
     "alternative-qp-latin1", False,
     "absoluteYearly, São Paulo; QP ISO-8859-1 alternative, ISO-8859-1 encoded-word subject"),
    ("request-daily-pacific-2013-plain", "request-daily-pacific-numbered", "plain-qp-2013",
     False, "daily, numbered, Pacific; Exchange 2013 URL in a QP UTF-8 text/plain"),
    ("request-relmonthly-india-qp-longhead", "request-relmonthly-weekdays-india",
     "html-qp-longhead", False,
     "relativeMonthly on weekdays, India (+05:30), Devanagari text; QP UTF-8 HTML with a "
     "44 KiB <head>: marker ~47 KB in, past a 16 KiB probe"),
    ("request-relyearly-utc-2013-html", "request-relyearly-utc", "html-b64-2013", False,
     "relativeYearly, UTC; Exchange 2013 URL in text/html base64"),
    ("request-allday-recurring-png", "request-allday-recurring", "mixed-html-png", False,
     "recurring all-day; single text/html in a multipart/mixed with a PNG attachment"),
    ("request-tokyo-sequence-related", "request-prefer-tokyo-sequence", "related-html-png",
     False, "updated request (SEQUENCE), Tokyo; multipart/related(html, inline PNG) as body"),
    ("reply-tentative-bare-body", "reply-tentative", "html-b64-bare-body", False,
     "REPLY, PARTSTAT TENTATIVE, Polish text; bare <body>, no \"To receive\" line"),
    ("reply-declined-latin1", "reply-declined", "plain-qp-latin1", False,
     "REPLY, PARTSTAT DECLINED, Norwegian text; QP ISO-8859-1 text/plain"),
    ("cancel-occurrence-pacific-7bit", "cancel-occurrence-pacific", "plain-7bit", False,
     "CANCEL of one occurrence, Pacific; us-ascii 7bit text/plain"),
    ("cancel-series-berlin-docx", "cancel-series-berlin", "mixed-alternative-related-docx",
     False, "CANCEL of the series of the first message (same UID); mixed(alternative(plain, "
     "related(html, PNG)), DOCX with a non-ASCII name, PDF)"),
    ("request-custom-zone-xlsx", "request-custom-zone", "mixed-plain-xlsx", False,
     "custom Windows zone (served as UTC); QP text/plain in a multipart/mixed with an XLSX"),
    ("request-minimal-html", "request-minimal", "html-b64", False,
     "a Graph event with the fewest fields; confidential, low importance"),
    ("request-weekly-berlin-plain", "request-weekly-berlin", "plain-b64", True,
     "weekly, W. Europe; single text/plain base64"),
    ("request-relmonthly-tokyo-plain", "request-relmonthly-tokyo", "plain-b64", True,
     "Japanese text/plain base64"),
    ("request-absyearly-saopaulo-cp1252", "request-absyearly-saopaulo", "html-qp-cp1252", True,
     "single text/html, QP windows-1252"),
    ("reply-accepted-2013-alternative", "reply-accepted", "alternative-b64-2013", True,
     "REPLY; Exchange 2013 URL (t=IPM.Schedule.Meeting.Resp.Pos) in plain and HTML"),
    ("cancel-occurrence-pacific-alternative", "cancel-occurrence-pacific", "alternative-b64",
     True, "CANCEL; plain+html base64"),
    ("request-relyearly-utc-pdf", "request-relyearly-utc", "mixed-alternative-pdf", True,
     "QP windows-1252 alternative in a multipart/mixed with a PDF"),
    ("request-allday-single-cp1252", "request-allday-single", "html-qp-cp1252", True,
     "all-day; text/html QP windows-1252 with – and umlauts"),
    ("request-absmonthly-sydney-longhead", "request-absmonthly-sydney-noend",
     "html-b64-longhead", True, "a second 70 KiB <head>: two long probes in one sync"),
]

# OWA-link messages whose event Graph does not have: (name, shape, subject, kind, paragraphs).
ORIGINALS = [
    ("original-request-no-event", "html-b64", "Team lunch – Café Müller", "meetingRequest",
     ["Mittagessen im Café Müller, alle sind eingeladen.", "Bob"]),
    ("original-cancel-2013-no-event", "plain-qp-2013", "Canceled: Retro – Sprint 41",
     "meetingCancelled", ["Die Retro fällt aus.", "Bob"]),
    ("original-request-attachment-no-event", "mixed-alternative-pdf",
     "Budget review (draft attached)", "meetingRequest",
     ["Please read the draft before the meeting – thanks.", "Bob"]),
]


def fixture_people(fixture: dict) -> tuple[tuple[str, str], list, list]:
    msg = fixture["value"][0]
    frm = people([msg["from"]])[0] if msg.get("from") else BOB
    to = people(msg.get("toRecipients")) or [ALICE]
    seen = {a.lower() for _, a in to} | {frm[1].lower()}
    cc = []
    for att in msg["event"].get("attendees") or []:
        n, a = att["emailAddress"].get("name", ""), att["emailAddress"]["address"]
        if att.get("type") != "resource" and a.lower() not in seen:
            cc.append((n, a))
            seen.add(a.lower())
    return frm, to, cc


def meeting_subject(fixture: dict) -> str:
    msg = fixture["value"][0]
    return msg.get("subject") or msg["event"].get("subject") or "Meeting"


def strip_prefix(subject: str) -> str:
    for p in ("Canceled: ", "Accepted: ", "Tentative: ", "Declined: "):
        if subject.startswith(p):
            return subject[len(p):]
    return subject


def base_message(key: str, index: int, frm, to, cc, subject: str, paras, language: str,
                 shape: str, url: str | None, receive: bool = True,
                 sent: datetime.datetime | None = None) -> dict:
    """The description of one message; `index` (its place in the mailbox) sets its times."""
    if sent is None:
        sent = BASE_TIME + index * datetime.timedelta(hours=6, minutes=13, seconds=7)
    local = SERVER + hexid(key, "mid", n=22)
    return {
        "key": key, "index": index, "from": frm, "to": to, "cc": cc, "subject": subject,
        "topic": strip_prefix(subject), "paras": paras, "language": language, "shape": shape,
        "url": url, "receive": receive, "sent": sent,
        "received": sent + datetime.timedelta(seconds=2 + index % 5),
        "zone": ZONES[index % len(ZONES)], "mid_local": local,
        "message_id": f"<{local}@{SERVER_FQDN}>", "attach": shape in ATTACH_SHAPES,
    }


def render(m: dict, body: str) -> bytes:
    return crlf(exchange_headers(m) + body)


def with_upn(data: bytes, upn: str) -> bytes:
    return data if upn == DEFAULT_UPN else data.replace(DEFAULT_UPN.encode(), upn.encode())


def meeting_entry(key: str, index: int, fixture_name: str, shape: str, uid_suffix: str | None,
                  sent: datetime.datetime | None = None) -> tuple[dict, dict]:
    fixture = load_fixture(fixture_name)
    frm, to, cc = fixture_people(fixture)
    language, paras = TEXTS[fixture_name]
    kind = fixture["value"][0].get("meetingMessageType") or "meetingDeclined"
    ews = ews_id(key, "item")
    url = url_2013(ews, ITEM_CLASS[kind]) if shape in SHAPE_2013 else online_url(ews)
    m = base_message(key, index, frm, to, cc, meeting_subject(fixture), paras, language, shape,
                     url, receive=shape not in SHAPE_2013, sent=sent)
    m["ews"] = ews
    m["thread"] = strip_prefix(m["subject"])
    if shape in ("plain-qp-latin1", "alternative-qp-latin1") and encodable(
            [m["subject"]], "iso-8859-1"):
        m["subject_charset"] = "iso-8859-1"
    uid = fixture["value"][0]["event"]["iCalUId"]
    if uid_suffix:
        uid = uid[:-len(uid_suffix)] + uid_suffix
    return m, meeting_json(m, fixture, uid, DEFAULT_UPN)


def encodable(texts: list[str], charset: str) -> bool:
    try:
        for t in texts:
            t.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


SHAPE_CHARSET = {"plain-qp-latin1": "iso-8859-1", "alternative-qp-latin1": "iso-8859-1",
                 "html-qp-cp1252": "windows-1252", "mixed-alternative-pdf": "windows-1252",
                 "plain-7bit": "ascii"}


ORDINARY_COUNT = 16


def ordinary_messages(slots: list[int]) -> list[tuple[dict, str, str, str | None, dict | None]]:
    """(m, body, why, graph kind, graph json) for the messages that are not to be touched;
    the n-th one takes mailbox place slots[n]."""
    out = []
    place = iter(slots)

    def add(key, shape, frm, subject, paras, shape_body, why, graph=None, language="en-US",
            to=None, cc=None, attach=False, external=False, reply_to=None, mid=None, extra=None):
        m = base_message(key, next(place), frm, to or [ALICE], cc or [], subject, paras,
                         language, shape, None)
        m["attach"] = attach
        m["external"] = external
        m["thread"] = strip_prefix(subject).removeprefix("Re: ").removeprefix("Fwd: ")
        if reply_to:
            m["in_reply_to"] = reply_to
        if mid:
            m["message_id"] = mid
        if extra:
            m["extra_headers"] = extra
        body = shape_body(m)
        doc = None
        if graph == "message":
            doc = plain_message_json(m, DEFAULT_UPN)
        out.append((m, body, why, graph, doc))
        return m

    chloe = ("Chloé Dubois", "chloe@contoso.com")
    lukasz = ("Łukasz Żółć", "lukasz@contoso.com")
    add("plain-note-b64", "plain-b64", chloe, "Compte rendu – réunion d’équipe",
        ["Bonjour Alice,", "voici le compte rendu de la réunion d’équipe de jeudi : "
         "budget validé, recrutement en cours.", "Bonne journée,", "Chloé"],
        lambda m: shape_plain(m, "utf-8", "base64"),
        "ordinary text/plain base64 UTF-8", graph="message", language="fr-FR")
    add("html-note-longhead", "html-b64-head30k", BOB, "Quarterly numbers",
        ["Hi Alice,", "the quarterly numbers are in the shared workbook.", "Bob"],
        lambda m: text_part("html", "utf-8", "base64", html_text(None, m["paras"], False, 30)),
        "ordinary single text/html with a 30 KB Outlook head (no marker)")
    add("alternative-qp-german", "alternative-qp-cp1252", ("Jürgen Groß", "juergen@contoso.com"),
        "Übergabe der Schlüssel",
        ["Hallo Alice,", "die Schlüssel für das Büro liegen ab Montag am Empfang.",
         "Viele Grüße, Jürgen"],
        lambda m: shape_alternative(m, "windows-1252", "quoted-printable"),
        "ordinary multipart/alternative, quoted-printable windows-1252", language="de-DE")
    add("mixed-report-pdf", "mixed-alternative-pdf", lukasz, "Raport miesięczny (załącznik)",
        ["Cześć Alice,", "w załączniku raport za październik.", "Łukasz"],
        lambda m: shape_mixed(m, shape_alternative(m, "utf-8", "base64"),
                              [("application/pdf", "Raport_październik.pdf", OWA.pdf())]),
        "ordinary multipart/mixed(alternative, pdf) with a non-ASCII file name",
        language="pl-PL", attach=True)
    earlier = out[0][0]["message_id"]
    quoted = (["Yes, I got it too — here is what it looked like:"]
              + ["> " + line for line in plain_text(
                  online_url(ews_id("quoted")), ["Sprint-Review"], True).splitlines()]
              + ["", "Can IT switch us to iCalendar invitations?", "Alice"])
    add("reply-quoting-marker", "plain-b64", ALICE, "Re: Outlook Web Access links in invitations",
        ["\n".join(quoted)],
        lambda m: shape_plain(m, "utf-8", "base64"),
        "reply whose body quotes 'Microsoft Outlook Web Access:' after its own text",
        graph="message", to=[BOB], reply_to=earlier)
    fwd_html = ("<p class=\"MsoNormal\">FYI – see the invitation below.<o:p></o:p></p>\n"
                "<hr style=\"border:none;border-top:solid #E1E1E1 1.0pt\">\n")
    add("forward-html-marker-later", "html-b64", BOB, "FW: Sprint-Review – Q2 ✓", ["Bob"],
        lambda m: text_part("html", "utf-8", "base64", html_text(
            online_url(ews_id("forwarded")), ["Sprint-Review"], True, 2).replace(
                "<br>" + MARKER, fwd_html + "<br>" + MARKER, 1)),
        "forward whose HTML body starts with its own paragraph; the marker comes later",
        graph="message")
    add("marker-mail-link", "plain-qp", ("IT Service Desk", "servicedesk@contoso.com"),
        "Your mailbox moved",
        ["Your mailbox now lives in Exchange Online."],
        lambda m: text_part("plain", "utf-8", "quoted-printable",
                            MARKER + "https://outlook.office365.com/owa/contoso.com/?path=/mail"
                            "\n\nYour mailbox now lives in Exchange Online — nothing to do.\n"),
        "plain body starting with the marker but a link that is no calendar item")
    add("marker-2013-ipm-note", "plain-7bit", ("IT Service Desk", "servicedesk@contoso.com"),
        "Shared message",
        ["A message was shared with you."],
        lambda m: text_part("plain", "utf-8", "7bit",
                            MARKER + "https://mail.contoso.com/owa/?ae=Item&a=open&t=IPM.Note&id="
                            "RgAAAAD2BuE%2bjMBwDkQv4RPeRxSK9Z1UOVgAAAAAAAIAAA%3d%3d\n\n"
                            "A message was shared with you.\n"),
        "Exchange 2013 form link to an IPM.Note, not a meeting item")
    # An invitation from outside that kept its own text/calendar — and that Exchange even
    # prefixed with the marker. Graph lists it as a meeting message.
    ics = ("BEGIN:VCALENDAR\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\nVERSION:2.0\n"
           "CALSCALE:GREGORIAN\nMETHOD:REQUEST\nBEGIN:VEVENT\nDTSTART:20261203T150000Z\n"
           "DTEND:20261203T160000Z\nDTSTAMP:20261110T091500Z\n"
           "ORGANIZER;CN=Eve Okafor:mailto:eve@fabrikam.example\n"
           "UID:7kukuqrfedlm2f9t0vn5pj3f4k@google.com\n"
           "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Al\n"
           " ice Martin;X-NUM-GUESTS=0:mailto:alice@contoso.com\n"
           "SEQUENCE:0\nSTATUS:CONFIRMED\nSUMMARY:Partner kickoff – Fabrikam × Contoso\n"
           "TRANSP:OPAQUE\nEND:VEVENT\nEND:VCALENDAR\n")
    eve = ("Eve Okafor", "eve@fabrikam.example")

    def external_invite(m):
        url = online_url(ews_id("external"))
        alt = multipart("alternative", "000000000000a1b2c3d4e5f6a7b8", [
            text_part("plain", "utf-8", "base64", plain_text(url, m["paras"], True)),
            text_part("html", "utf-8", "base64", html_text(url, m["paras"], True, 0)),
            leaf("text/calendar; charset=\"UTF-8\"; method=REQUEST", "base64",
                 enc_crlf(ics, "utf-8")),
        ])
        return multipart("mixed", "000000000000a1b2c3d4e5f6a7b9", [
            alt, leaf("application/ics; name=\"invite.ics\"", "base64", enc_crlf(ics, "utf-8"),
                      "Content-Disposition: attachment; filename=\"invite.ics\"\n")])

    m_ext = add("external-invitation-own-calendar", "mixed-alternative-calendar-ics", eve,
                "Invitation: Partner kickoff – Fabrikam × Contoso @ Thu 3 Dec 2026 16:00 (CET)",
                ["You have been invited to the following event.",
                 "Partner kickoff – Fabrikam × Contoso", "Thu 3 Dec 2026 16:00 – 17:00 (CET)"],
                external_invite,
                "external invitation with its own text/calendar (and the marker): Graph lists it "
                "as a meeting message, the gateway must leave it alone",
                graph="meeting", external=True, attach=True,
                mid="<CAF7kY=ZqvN8fR2xq9d1tWm4Q+0e_bHc3Jx1u@mail.gmail.com>")
    ext = load_fixture("request-minimal")
    ext_msg = ext["value"][0]
    ext_msg["event"]["iCalUId"] = "7kukuqrfedlm2f9t0vn5pj3f4k@google.com"
    ext_msg["event"]["subject"] = "Partner kickoff – Fabrikam × Contoso"
    ext_msg["event"]["organizer"] = {"emailAddress": {"name": eve[0], "address": eve[1]}}
    ext_msg["event"]["start"] = {"dateTime": "2026-12-03T15:00:00.0000000", "timeZone": "UTC"}
    ext_msg["event"]["end"] = {"dateTime": "2026-12-03T16:00:00.0000000", "timeZone": "UTC"}
    m_ext["ews"] = ews_id("external")
    out[-1] = (m_ext, out[-1][1], out[-1][2], "meeting",
               meeting_json(m_ext, ext, None, DEFAULT_UPN))

    def google_invite(m):
        alt = multipart("alternative", "000000000000f6e5d4c3b2a19081", [
            text_part("plain", "utf-8", "quoted-printable", "\n".join(m["paras"]) + "\n"),
            text_part("html", "utf-8", "quoted-printable",
                      "<p>" + "</p><p>".join(html_escape(p) for p in m["paras"]) + "</p>\n"),
            leaf("text/calendar; charset=\"UTF-8\"; method=REQUEST", "7bit",
                 enc_crlf(ics.replace("7kukuqrfedlm2f9t0vn5pj3f4k", "0q1w2e3r4t5y6u7i8o9p")
                          .replace(" – ", " - ").replace(" × ", " x "), "ascii")),
        ])
        return alt

    add("external-invitation-plain", "alternative-calendar", eve,
        "Invitation: Follow-up @ Fri 4 Dec 2026",
        ["You have been invited to the following event.", "Follow-up"],
        google_invite, "external invitation with its own text/calendar, no marker",
        external=True, mid="<CAF7kY=Zr0bT3vX5yL8nQ2pW6sK9dJ4hF1g@mail.gmail.com>")
    add("big-attachment", "mixed-html-zip", chloe, "Photos de l’offsite (archive)",
        ["Voici l’archive des photos de l’offsite.", "Chloé"],
        lambda m: shape_mixed(m, shape_html_b64(dict(m, url=None), head_kb=2),
                              [("application/zip", "offsite-photos.zip",
                                b"PK\x03\x04" + blob("big", 1_250_000))]),
        "ordinary message with a 1.25 MB attachment", graph="message", language="fr-FR",
        attach=True)

    def forwarded_invitation(m):
        inner_m = dict(m, key="inner", mid_local=m["mid_local"] + "I", url=online_url(
            ews_id("inner")), paras=["Design review.", "Bob"], receive=True,
            message_id=f"<{SERVER}{hexid('inner', n=22)}@{SERVER_FQDN}>", subject="Design review",
            topic="Design review", to=[ALICE], cc=[], attach=False, external=False)
        inner_m["from"] = BOB
        inner_m.pop("in_reply_to", None)
        inner = (exchange_headers(inner_m) + shape_html_b64(inner_m))
        note = text_part("plain", "utf-8", "base64", "\n\n".join(m["paras"]) + "\n")
        return multipart("mixed", boundaries(m)["mixed"], [
            note, "Content-Type: message/rfc822\nContent-Disposition: attachment;\n"
                  "\tcreation-date=\"Mon, 16 Nov 2026 09:00:00 GMT\";\n"
                  "\tmodification-date=\"Mon, 16 Nov 2026 09:00:00 GMT\"\n\n" + inner])

    add("forward-attached-invitation", "mixed-plain-rfc822", lukasz, "Fwd: Design review",
        ["Zobacz załączone zaproszenie.", "Łukasz"], forwarded_invitation,
        "forward with an OWA-link invitation attached as message/rfc822", graph="message",
        language="pl-PL", attach=True)

    def text_attachment_marker(m):
        notes = plain_text(online_url(ews_id("notes")), ["Notes from the call."], True)
        return multipart("mixed", boundaries(m)["mixed"], [
            text_part("plain", "utf-8", "quoted-printable", "\n\n".join(m["paras"]) + "\n"),
            leaf("text/plain; charset=\"utf-8\"; name=\"notes.txt\"", "quoted-printable",
                 enc_crlf(notes, "utf-8"),
                 "Content-Description: notes.txt\n"
                 "Content-Disposition: attachment; filename=\"notes.txt\"; size="
                 f"{len(notes)}\n")])

    add("text-attachment-marker", "mixed-plain-textplain", BOB, "Call notes",
        ["Notes attached.", "Bob"], text_attachment_marker,
        "a text/plain attachment (not the body) starts with the marker", attach=True)

    jp = ("佐藤 花子", "hanako.sato@contoso.co.jp")
    add("japanese-iso2022jp", "plain-7bit-iso2022jp", jp, "来週の出張について",
        ["アリスさん", "来週の大阪出張の件、ホテルを予約しました。", "佐藤"],
        lambda m: leaf("text/plain; charset=\"iso-2022-jp\"", "7bit",
                       enc_crlf("\n\n".join(m["paras"]) + "\n", "iso-2022-jp")),
        "ordinary Japanese text/plain in ISO-2022-JP, 7bit", language="ja-JP")

    def ndr(m):
        html = ("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; "
                "charset=utf-8\"></head><body><p><b><font color=\"#000066\" size=\"3\">Your "
                "message to zoe@fabrikam.example couldn't be delivered.</font></b></p></body>"
                "</html>\n")
        status = ("Reporting-MTA: dns;AM0PR04MB6771.eurprd04.prod.outlook.com\n"
                  "Received-From-MTA: dns;AM0PR04MB6771.eurprd04.prod.outlook.com\n"
                  "Arrival-Date: Wed, 11 Nov 2026 08:00:00 +0000\n\n"
                  "Final-Recipient: rfc822;zoe@fabrikam.example\nAction: failed\n"
                  "Status: 5.1.10\nDiagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound;"
                  " Recipient not found by SMTP address lookup\n")
        headers = (f"From: Alice Martin <{DEFAULT_UPN}>\nTo: <zoe@fabrikam.example>\n"
                   "Subject: Lunch\nDate: Wed, 11 Nov 2026 08:00:00 +0000\n"
                   f"Message-ID: <{SERVER}LUNCH@{SERVER_FQDN}>\n")
        return multipart("report", boundaries(m)["mixed"], [
            multipart("alternative", boundaries(m)["alt"], [
                text_part("plain", "us-ascii", "quoted-printable",
                          "Your message to zoe@fabrikam.example couldn't be delivered.\n"),
                text_part("html", "utf-8", "quoted-printable", html)]),
            "Content-Type: message/delivery-status\n\n" + status,
            "Content-Type: text/rfc822-headers\n\n" + headers,
        ], params=";\n\treport-type=delivery-status")

    add("ndr-report", "report-delivery-status",
        ("Microsoft Outlook", "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.com"),
        "Undeliverable: Lunch", ["Your message couldn't be delivered."], ndr,
        "a non-delivery report (multipart/report)")
    add("teams-notice-html", "html-qp", ("Microsoft Teams", "noreply@email.teams.microsoft.com"),
        "Sie haben eine verpasste Besprechung",
        ["Ihre Besprechung „Sprint-Review“ wurde aufgezeichnet.",
         "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x"],
        lambda m: text_part("html", "utf-8", "quoted-printable",
                            html_text(None, m["paras"], False, 1)),
        "meeting-related notification that is no meeting message", language="de-DE")
    assert len(out) == ORDINARY_COUNT
    return out


def write_outputs(outdir: str, upn: str, entries: list, width: int) -> None:
    mail = os.path.join(outdir, "mail")
    graph = os.path.join(outdir, "graph")
    messages = os.path.join(graph, "users", upn, "messages")
    os.makedirs(mail, exist_ok=True)
    os.makedirs(messages, exist_ok=True)
    for d in (mail, messages):
        for f in os.listdir(d):
            if f.endswith((".eml", ".json")):
                os.remove(os.path.join(d, f))
    with open(os.path.join(graph, "clients.json"), "w", encoding="utf-8") as f:
        json.dump(CLIENTS, f, indent=2)
        f.write("\n")
    manifest = []
    for n, e in enumerate(entries, 1):
        fname = f"{n:0{width}d}-{e['name']}.eml"
        with open(os.path.join(mail, fname), "wb") as f:
            f.write(with_upn(e["data"], upn))
        graph_file = None
        if e["json"] is not None:
            graph_file = f"graph/users/{upn}/messages/{fname[:-4]}.json"
            text = json.dumps(e["json"], indent=1 if width < 4 else None, ensure_ascii=False)
            with open(os.path.join(outdir, graph_file), "wb") as f:
                f.write(with_upn(text.encode() + b"\n", upn))
        manifest.append({
            "file": f"mail/{fname}",
            "message_id": e["message_id"],
            "subject": e["subject"],
            "expect": e["expect"],
            "method": e["method"],
            "ical_uid": e["ical_uid"],
            "why": e["why"],
            "shape": e["shape"],
            "event_fixture": e.get("fixture"),
            "graph": e["graph"],
            "graph_file": graph_file,
            "internaldate": e["internaldate"],
            "received": e["received"],
        })
    with open(os.path.join(outdir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")


def entry(name, m, data, expect, why, shape, graph=None, doc=None, fixture=None):
    method = uid = None
    if expect == "rewrite":
        msg = doc["value"][0]
        # A response may carry only its responseType (meetingMessageType null).
        method = METHOD[msg["meetingMessageType"] or "meetingDeclined"]
        uid = msg["event"]["iCalUId"]
    return {"name": name, "data": data, "json": doc, "message_id": m["message_id"],
            "subject": m["subject"], "expect": expect, "method": method, "ical_uid": uid,
            "why": why, "shape": shape, "graph": graph, "fixture": fixture,
            "internaldate": imap_date(m["received"]), "received": graph_time(m["received"])}


def fixture_set() -> list:
    total = len(REWRITES) + ORDINARY_COUNT + len(ORIGINALS)
    # The mailbox order: the three originals near the start, middle and end, the ordinary
    # messages spread evenly, the meetings in REWRITES order in between (so that the series
    # cancellation comes after the request it cancels).
    original_slots = [9, 22, 37]
    rest = [s for s in range(total) if s not in original_slots]
    ordinary_slots = [rest[k * len(rest) // ORDINARY_COUNT + 1] for k in range(ORDINARY_COUNT)]
    meeting_slots = [s for s in range(total) if s not in original_slots + ordinary_slots]
    assert len(meeting_slots) == len(REWRITES)
    ordinary = ordinary_messages(ordinary_slots)
    by_slot = {}
    for n, (slot, (name, fixture, shape, new_uid, why)) in enumerate(zip(meeting_slots,
                                                                         REWRITES)):
        m, doc = meeting_entry(name, slot, fixture, shape, f"{0xA000 + n:04X}" if new_uid else None)
        charset = SHAPE_CHARSET.get(shape)
        assert charset is None or encodable(m["paras"], charset), (name, shape)
        by_slot[slot] = entry(name, m, render(m, build_shape(shape, m)), "rewrite", why, shape,
                              "meeting", doc, fixture)
    for slot, (name, shape, subject, mtype, paras) in zip(original_slots, ORIGINALS):
        ews = ews_id(name, "item")
        url = url_2013(ews, ITEM_CLASS[mtype]) if shape in SHAPE_2013 else online_url(ews)
        m = base_message(name, slot, BOB, [ALICE], [("Chloé Dubois", "chloe@contoso.com")],
                         subject, paras, "de-DE", shape, url, receive=shape not in SHAPE_2013)
        m["thread"] = strip_prefix(subject)
        by_slot[slot] = entry(name, m, render(m, build_shape(shape, m)), "original",
                              f"OWA-link {mtype} ({shape}) whose event Graph does not have",
                              shape)
    for slot, (m, body, why, graph, doc) in zip(ordinary_slots, ordinary):
        by_slot[slot] = entry(m["key"], m, render(m, body), "plain", why, m["shape"], graph, doc)
    return [by_slot[s] for s in range(total)]


# ---- the large mailbox ----------------------------------------------------------------------

FIRST = ["Alice", "Bob", "Chloé", "Jürgen", "Łukasz", "Zoë", "Priya", "João", "Hanako", "Ahmed",
         "Sofia", "Mateo", "Ingrid", "Wei", "Olga", "Kwame"]
LAST = ["Martin", "Leclerc", "Dubois", "Groß", "Żółć", "Ødegård", "Sharma", "Araújo", "Sato",
        "Haddad", "Rossi", "García", "Lindqvist", "Zhang", "Ivanova", "Mensah"]
TOPICS = ["Quarterly numbers", "Re: Offsite logistics", "Compte rendu du comité",
          "Übergabe Projekt Nordlicht", "FW: Contract renewal", "Re: Re: Budget 2027",
          "Weekly status – week {n}", "Ticket #{n}: VPN access", "Invoice {n} from Fabrikam",
          "Newsletter: what’s new in November", "Re: Onboarding checklist", "Travel request {n}",
          "出張報告書", "Relatório mensal", "Re: Server maintenance window", "Lunch?"]
WORDS = ("the project plan budget review customer release team meeting office report draft "
         "numbers please check attached thanks week update schedule contract invoice travel "
         "roadmap feedback approval deadline").split()


def ascii_name(name: str) -> str:
    name = name.lower().translate(str.maketrans({"ł": "l", "ø": "o", "ß": "ss"}))
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()


def large_set(count: int, fraction: float, seed: int = 20261102) -> list:
    """`count` messages over 120 days, a `fraction` of them OWA-link invitations spread
    evenly; the rest Exchange-shaped ordinary mail of a few KB."""
    rng = random.Random(seed)
    fixtures = list(TEXTS)
    shapes = ["html-b64", "alternative-b64", "plain-b64", "html-b64-2013", "mixed-html-png",
              "plain-qp-latin1", "alternative-qp-latin1", "html-qp-cp1252", "related-html-png",
              "plain-qp-2013"]
    entries = []
    invitations = 0
    step = datetime.timedelta(seconds=max(60, 86400 * 120 // max(count, 1)))
    start = BASE_TIME - datetime.timedelta(days=120)
    for i in range(count):
        key = f"bulk-{i:06d}"
        sent = start + i * step
        if fraction > 0 and int((i + 1) * fraction) > int(i * fraction):
            fixture = fixtures[invitations % len(fixtures)]
            shape = shapes[invitations % len(shapes)]
            charset = SHAPE_CHARSET.get(shape)
            if charset and not encodable(TEXTS[fixture][1], charset):
                shape = "html-b64"
            m, doc = meeting_entry(key, i, fixture, shape, f"{0xB00000 + invitations:06X}", sent)
            entries.append(entry(f"invite-{fixture}", m, render(m, build_shape(shape, m)),
                                 "rewrite", f"{fixture} as {shape}", shape, "meeting", doc,
                                 fixture))
            invitations += 1
            continue
        first, last = rng.randrange(len(FIRST)), rng.randrange(len(LAST))
        frm = (f"{FIRST[first]} {LAST[last]}",
               f"{ascii_name(FIRST[first])}.{ascii_name(LAST[last])}@contoso.com")
        subject = rng.choice(TOPICS).format(n=rng.randrange(100, 9999))
        paras = [f"Hi {FIRST[rng.randrange(len(FIRST))]},"]
        paras += [" ".join(rng.choice(WORDS) for _ in range(rng.randrange(8, 60))).capitalize()
                  + "." for _ in range(rng.randrange(1, 7))]
        paras.append(FIRST[first])
        cc = [(f"{FIRST[j]} {LAST[j]}", f"user{j}@contoso.com")
              for j in rng.sample(range(len(FIRST)), rng.randrange(0, 4))]
        m = base_message(key, i, frm, [ALICE], cc, subject, paras, "en-US", "ordinary", None,
                         sent=sent)
        m["zone"] = ZONES[i % len(ZONES)]
        kind = rng.random()
        if kind < 0.35:
            shape = "html-b64"
            body = text_part("html", "utf-8", "base64",
                             html_text(None, paras, False, rng.randrange(0, 3)))
        elif kind < 0.65:
            shape = "alternative-b64"
            body = shape_alternative(m, "utf-8", "base64", head_kb=rng.randrange(0, 2))
        elif kind < 0.80:
            shape = "plain-qp"
            body = text_part("plain", "utf-8", "quoted-printable", "\n\n".join(paras) + "\n")
        else:
            m["attach"] = True
            shape = "mixed-alternative-pdf"
            body = shape_mixed(m, shape_alternative(m, "utf-8", "base64", head_kb=0),
                               [("application/pdf", f"Report-{i}.pdf",
                                 OWA.pdf()[:rng.randrange(200, 1100)])])
        entries.append(entry(key, m, render(m, body), "plain", "ordinary message", shape))
    return entries


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--upn", default=DEFAULT_UPN)
    ap.add_argument("--count", type=int, help="write a large mailbox of COUNT messages")
    ap.add_argument("--invitations", type=float, default=0.05,
                    help="with --count: the fraction of OWA-link invitations (default 0.05)")
    args = ap.parse_args()
    if "/" in args.upn or "@" not in args.upn:
        ap.error("--upn must be an address")
    if args.count is not None:
        if args.count < 1 or not 0 <= args.invitations <= 1:
            ap.error("--count must be positive and --invitations within [0, 1]")
        entries = large_set(args.count, args.invitations)
        width = max(5, len(str(args.count)))
    else:
        entries = fixture_set()
        width = 3
    write_outputs(args.outdir, args.upn, entries, width)
    return 0


if __name__ == "__main__":
    sys.exit(main())
