"""A real Thunderbird, headless, driven through Marionette.

    account = Account(port=993, socket_type=TLS, user="alice@contoso.com", password="...")
    with Thunderbird(workdir, account, ca_pem=certs["ca"]) as tb:
        rows = tb.sync_inbox(expect=80)          # [{subject, author, messageId, uid}, ...]
        pane = tb.open_message(0)               # {uri, text, subject, ready}
        bar = tb.invitation_bar()               # {visible, label, buttons: [{id, label}], ...}
        tb.screenshot(Path("3pane.png"))

With `Account(..., auth_method=OAUTH2)` no password is stored: install_addon() registers an
OAuth2 provider for the host (an add-on's oauth_provider), and the first sync opens
Thunderbird's sign-in window (windows() shows it); the refresh token is then stored under
logins("oauth://<issuer>").

Thunderbird runs with a throw-away profile (a directory holding a user.js: one IMAP account,
Local Folders, an enabled local calendar, every first-run dialog switched off), in its own
process group, with Marionette on a free port. The development CA is imported as a trusted
authority and the password stored through Marionette before the first connection, so no
modal dialog can block the session. Thunderbird is always killed and its profile removed.

The chrome internals used here (gTabmail.currentAbout3Pane, gDBView, threadTree,
messageBrowser, and for invitations about:message's #imip-bar, calImipBar and the calendar
manager) change between ESR releases: EXPECTED_MAJORS lists the majors this was
checked with, and check_version() says clearly when another one is installed.

Only the Python 3.11 standard library is used.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Majors whose chrome internals this module was written and checked against.
EXPECTED_MAJORS = (153,)

PLAIN, STARTTLS, TLS = 0, 2, 3  # mail.server.*.socketType
PASSWORD, OAUTH2 = 3, 10  # mail.server.*.authMethod (nsMsgAuthMethod): normal password, OAuth2
CALENDAR_ID = "0f8c2d4e-icalgate-test-home"


class ThunderbirdError(RuntimeError):
    """Thunderbird did not start, or did not do what was asked (with its output tail)."""


class MarionetteError(RuntimeError):
    def __init__(self, error: str, message: str, stacktrace: str = ""):
        super().__init__(f"{error}: {message}" + (f"\n{stacktrace}" if stacktrace else ""))
        self.error = error
        self.message = message


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- Marionette


class Marionette:
    """Marionette's wire protocol: `LEN:JSON` packets, LEN counting the UTF-8 bytes.

    Commands are `[0, id, "Name", {params}]`, replies `[1, id, error|null, result|null]`.
    The server speaks first with a hello packet ({"marionetteProtocol": 3, ...}).
    """

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 60.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._buf = b""
        self._id = 0
        self.hello = self._recv()
        if not isinstance(self.hello, dict) or self.hello.get("marionetteProtocol") != 3:
            self.close()
            raise ThunderbirdError(f"unexpected Marionette hello: {self.hello!r}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def _fill(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("Marionette closed the connection")
        self._buf += data

    def _recv(self):
        while b":" not in self._buf:
            if len(self._buf) > 20:
                raise ThunderbirdError(f"bad Marionette packet header: {self._buf[:40]!r}")
            self._fill()
        head, _, rest = self._buf.partition(b":")
        if not head.isdigit():
            raise ThunderbirdError(f"bad Marionette packet length: {head!r}")
        length = int(head)
        self._buf = rest
        while len(self._buf) < length:
            self._fill()
        data, self._buf = self._buf[:length], self._buf[length:]
        return json.loads(data)

    def command(self, name: str, params: dict | None = None):
        self._id += 1
        data = json.dumps([0, self._id, name, params or {}]).encode()  # ASCII: escapes non-ASCII
        self.sock.sendall(str(len(data)).encode() + b":" + data)
        while True:
            msg = self._recv()
            if isinstance(msg, list) and len(msg) == 4 and msg[0] == 1 and msg[1] == self._id:
                break
        error, result = msg[2], msg[3]
        if error:
            raise MarionetteError(error.get("error", "?"), error.get("message", ""), error.get("stacktrace", ""))
        return result

    def execute(self, script: str, *args, timeout_ms: int | None = None):
        """Run script (a function body; `arguments` holds args) and return its value.

        A returned Promise is awaited, as WebDriver's Execute Script does.
        """
        params = {"script": script, "args": list(args)}
        if timeout_ms is not None:
            self.command("WebDriver:SetTimeouts", {"script": timeout_ms})
        result = self.command("WebDriver:ExecuteScript", params)
        return result.get("value") if isinstance(result, dict) else result


# --------------------------------------------------------------------------- profile


@dataclass
class Account:
    port: int
    socket_type: int  # TLS (implicit) or STARTTLS
    user: str
    password: str  # stored before the first connection; unused (may be "") with OAUTH2
    host: str = "127.0.0.1"  # the dev certificate names both localhost and 127.0.0.1
    full_name: str = "Test User"
    # OAUTH2 signs in through the OAuth2 provider Thunderbird knows for `host` (built in, or
    # registered by an add-on's oauth_provider) in its sign-in window; no password is stored.
    auth_method: int = PASSWORD


def profile_prefs(account: Account, marionette_port: int) -> dict[str, object]:
    """The user.js of a profile with one IMAP account and nothing that asks anything."""
    a = account
    return {
        # One IMAP account (account1/server1) and Local Folders (account2/server2).
        "mail.accountmanager.accounts": "account1,account2",
        "mail.accountmanager.defaultaccount": "account1",
        "mail.accountmanager.localfoldersserver": "server2",
        "mail.account.account1.identities": "id1",
        "mail.account.account1.server": "server1",
        "mail.account.account2.server": "server2",
        "mail.server.server1.type": "imap",
        "mail.server.server1.hostname": a.host,
        "mail.server.server1.port": a.port,
        "mail.server.server1.socketType": a.socket_type,
        "mail.server.server1.userName": a.user,
        "mail.server.server1.name": a.user,
        "mail.server.server1.authMethod": a.auth_method,
        "mail.server.server1.directory-rel": f"[ProfD]ImapMail/{a.host}",
        # The password is added through Marionette after start: until then Thunderbird must
        # not connect, or it opens a modal password prompt that blocks Marionette.
        "mail.server.server1.login_at_startup": False,
        "mail.server.server1.check_new_mail": False,
        "mail.server.server1.download_on_biff": False,
        "mail.server.server1.use_idle": False,
        "mail.server.server2.type": "none",
        "mail.server.server2.hostname": "Local Folders",
        "mail.server.server2.name": "Local Folders",
        "mail.server.server2.userName": "nobody",
        "mail.server.server2.directory-rel": "[ProfD]Mail/Local Folders",
        "mail.identity.id1.useremail": a.user,
        "mail.identity.id1.fullName": a.full_name,
        "mail.identity.id1.smtpServer": "smtp1",
        "mail.identity.id1.valid": True,
        "mail.smtpservers": "smtp1",
        "mail.smtp.defaultserver": "smtp1",
        "mail.smtpserver.smtp1.hostname": a.host,
        "mail.smtpserver.smtp1.port": 25,
        "mail.smtpserver.smtp1.username": a.user,
        "mail.smtpserver.smtp1.authMethod": 3,
        "mail.smtpserver.smtp1.try_ssl": 0,
        # An enabled local calendar: without one an invitation only says "Enable a calendar".
        "calendar.list.sortOrder": CALENDAR_ID,
        f"calendar.registry.{CALENDAR_ID}.name": "Home",
        f"calendar.registry.{CALENDAR_ID}.type": "storage",
        f"calendar.registry.{CALENDAR_ID}.uri": "moz-storage-calendar://",
        f"calendar.registry.{CALENDAR_ID}.disabled": False,
        f"calendar.registry.{CALENDAR_ID}.calendar-main-default": True,
        f"calendar.registry.{CALENDAR_ID}.calendar-main-in-composite": True,
        "calendar.timezone.local": "Europe/Paris",
        "calendar.timezone.useSystemTimezone": False,
        # A quiet start: no account wizard, default-client check, start page, telemetry.
        "mail.provider.enabled": False,
        "mail.shell.checkDefaultClient": False,
        "mail.rights.version": 1,
        "mail.rights.override": True,
        "mailnews.start_page.enabled": False,
        "mailnews.start_page_override.mstone": "ignore",
        "mail.spotlight.firstRunDone": True,
        "mail.winsearch.firstRunDone": True,
        "mail.biff.show_alert": False,
        "mail.biff.play_sound": False,
        "datareporting.policy.dataSubmissionEnabled": False,
        "datareporting.healthreport.uploadEnabled": False,
        "toolkit.telemetry.enabled": False,
        "toolkit.telemetry.reportingpolicy.firstRun": False,
        "app.update.auto": False,
        "app.update.enabled": False,
        "app.donation.eoy.version.viewed": 999,
        "toolkit.startup.max_resumed_crashes": -1,
        "browser.shell.checkDefaultBrowser": False,
        "extensions.update.enabled": False,
        "network.dns.disableIPv6": True,
        # Unthreaded message lists: a collapsed thread would hide rows from the list.
        "mailnews.default_view_flags": 0,
        # Marionette on a port of our own, so that runs can go in parallel.
        "marionette.port": marionette_port,
    }


def user_js(prefs: dict[str, object]) -> str:
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


def pem_to_base64(pem: str) -> str:
    """The base64 DER body of the first certificate in a PEM text."""
    m = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", pem, re.S)
    if not m:
        raise ValueError("no certificate in PEM text")
    body = "".join(m.group(1).split())
    base64.b64decode(body, validate=True)
    return body


def installed_version(binary: str = "thunderbird") -> str:
    """'153.8.0esr' from `thunderbird --version` (no profile needed)."""
    path = shutil.which(binary)
    if path is None:
        raise ThunderbirdError(f"{binary} is not installed (apt-get install --no-install-recommends thunderbird)")
    r = subprocess.run(
        [path, "--version"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60
    )
    m = re.search(r"Thunderbird\s+(\S+)", r.stdout.decode(errors="replace"))
    if not m:
        raise ThunderbirdError(f"cannot read the version from `{path} --version`: {r.stdout[-500:]!r}")
    return m.group(1)


def check_version(version: str) -> None:
    major = int(version.split(".")[0])
    if major not in EXPECTED_MAJORS:
        raise ThunderbirdError(
            f"Thunderbird {version} is installed, but this test drives the chrome internals of "
            f"Thunderbird {'/'.join(map(str, EXPECTED_MAJORS))} ESR (gTabmail.currentAbout3Pane, "
            "threadTree, messageBrowser); check tests/integration/thunderbird.py against it and "
            "add its major to EXPECTED_MAJORS"
        )


# --------------------------------------------------------------------------- chrome scripts

# The 3-pane window; the first script of a session waits for it and its about:3pane.
_JS_WAIT_READY = """
const win = Services.wm.getMostRecentWindow("mail:3pane");
if (!win || win.document.readyState != "complete" || !win.gTabmail) return null;
const about3 = win.gTabmail.currentAbout3Pane;
if (!about3 || about3.document.readyState != "complete" || !about3.threadTree) return null;
return Services.appinfo.version;
"""

_JS_TRUST_CA = """
const certdb = Cc["@mozilla.org/security/x509certdb;1"].getService(Ci.nsIX509CertDB);
const cert = certdb.addCertFromBase64(arguments[0], "C,,");
return cert ? cert.subjectName : "added";
"""

_JS_ADD_LOGIN = """
const [origin, user, password] = arguments;
const info = Cc["@mozilla.org/login-manager/loginInfo;1"].createInstance(Ci.nsILoginInfo);
info.init(origin, null, origin, user, password, "", "");
return Services.logins.addLoginAsync(info)
  .then(() => Services.logins.searchLoginsAsync({origin, httpRealm: origin}))
  .then(found => found.filter(l => l.username == user).length);
"""

# Select the account's Inbox in the 3-pane window and ask for an update (a connection,
# LOGIN, SELECT, FETCH of the headers). updateFolderWithListener's callback is not waited
# on: on a fresh profile it never fired; the caller polls the message list instead.
_JS_SYNC_INBOX = """
const win = Services.wm.getMostRecentWindow("mail:3pane");
const server = MailServices.accounts.getIncomingServer(arguments[0]);
const root = server.rootFolder;
let inbox = root.getFolderWithFlags(Ci.nsMsgFolderFlags.Inbox);
if (!inbox) {
  // Not discovered yet: the Inbox's URI is fixed, its folder object can be made from it.
  inbox = MailServices.folderLookup.getOrCreateFolderForURL(root.URI + "/INBOX");
}
const about3 = win.gTabmail.currentAbout3Pane;
about3.displayFolder(inbox.URI);
inbox.updateFolder(win.msgWindow);
return inbox.URI;
"""

_JS_LIST = """
const win = Services.wm.getMostRecentWindow("mail:3pane");
const about3 = win.gTabmail.currentAbout3Pane;
const view = about3.gDBView;
const folder = about3.gFolder;
const out = {folder: folder ? folder.URI : null, rows: []};
if (!view) return out;
for (let r = 0; r < view.rowCount; r++) {
  const hdr = view.getMsgHdrAt(r);
  out.rows.push({subject: hdr.mime2DecodedSubject, author: hdr.mime2DecodedAuthor,
                 messageId: hdr.messageId, uid: hdr.messageKey});
}
return out;
"""

_JS_SELECT = """
const win = Services.wm.getMostRecentWindow("mail:3pane");
const about3 = win.gTabmail.currentAbout3Pane;
about3.threadTree.selectedIndex = arguments[0];
return about3.gDBView.getMsgHdrAt(arguments[0]).messageKey;
"""

# The message pane: about:message inside about:3pane, the message itself in its browser.
_JS_PANE = """
const win = Services.wm.getMostRecentWindow("mail:3pane");
const about3 = win.gTabmail.currentAbout3Pane;
const aboutMessage = about3.messageBrowser && about3.messageBrowser.contentWindow;
if (!aboutMessage || !aboutMessage.document) return null;
const content = aboutMessage.getMessagePaneBrowser ? aboutMessage.getMessagePaneBrowser()
  : aboutMessage.document.getElementById("messagepane");
const doc = content && content.contentDocument;
const subjectEl = aboutMessage.document.getElementById("expandedsubjectBox");
// The body as shown, without the header tables the message body carries for printing.
let text = "";
if (doc && doc.body) {
  const body = doc.body.cloneNode(true);
  for (const el of body.querySelectorAll(".moz-main-header")) el.remove();
  text = body.textContent;
}
return {
  key: aboutMessage.gMessage ? aboutMessage.gMessage.messageKey : null,
  uri: content && content.currentURI ? content.currentURI.spec : null,
  ready: !!(doc && doc.readyState == "complete"),
  text,
  subject: subjectEl ? subjectEl.textContent : null,
};
"""


# The invitation bar of about:message (Thunderbird 153: aboutMessage.xhtml's #imip-bar,
# driven by calendar/content/imip-bar.js). It is collapsed unless the message has a
# text/calendar part; showImipBar() uncollapses it while the message loads (before
# about:message sets msgLoaded), then processItipItem() looks the event up in the calendars
# and setupOptions() sets the final text and un-hides the buttons that apply. Buttons are
# `toolbarbutton` children of #imip-view-toolbar (a menu-button holds an inner anonymous
# toolbarbutton of its own, not reported), hidden by attribute when they do not apply;
# their `label` attribute is set even then, so only the shown ones are reported.
_JS_IMIP_BAR = """
const win = Services.wm.getMostRecentWindow("mail:3pane");
const about3 = win.gTabmail.currentAbout3Pane;
const aboutMessage = about3.messageBrowser && about3.messageBrowser.contentWindow;
if (!aboutMessage || !aboutMessage.document) return null;
const doc = aboutMessage.document;
const bar = doc.getElementById("imip-bar");
if (!bar) return {missing: true};
const shown = el => !!el && (typeof el.checkVisibility == "function" ? el.checkVisibility()
  : el.getBoundingClientRect().width > 0);
const buttons = [];
for (const b of doc.querySelectorAll("#imip-view-toolbar > toolbarbutton")) {
  if (b.hidden || !shown(b)) continue;
  const items = [...b.querySelectorAll("menuitem")].filter(m => !m.hidden)
    .map(m => ({id: m.id, label: m.getAttribute("label")}));
  buttons.push({id: b.id, label: b.getAttribute("label"), items});
}
const text = bar.querySelector(".msgNotificationBarText");
const imip = aboutMessage.calImipBar;
const content = aboutMessage.getMessagePaneBrowser ? aboutMessage.getMessagePaneBrowser()
  : doc.getElementById("messagepane");
const details = content && content.contentDocument
  && content.contentDocument.getElementById("imipHTMLDetails");
return {
  key: aboutMessage.gMessage ? aboutMessage.gMessage.messageKey : null,
  loaded: !!aboutMessage.msgLoaded,
  collapsed: !!bar.collapsed,
  visible: !bar.collapsed && shown(bar),
  label: text ? text.textContent.trim() : "",
  buttons,
  // The calendar lookup of the shown invitation has not called setupOptions() yet.
  pending: !!(imip && imip.loadingItipItem && imip.itipItem !== imip.loadingItipItem),
  details: details ? details.textContent : null,
};
"""

# Run the command of an element of the invitation bar (a toolbarbutton or one of its
# menuitems, e.g. "imipAcceptButton_AcceptDontSend"), as a click on it would.
_JS_IMIP_COMMAND = """
const win = Services.wm.getMostRecentWindow("mail:3pane");
const aboutMessage = win.gTabmail.currentAbout3Pane.messageBrowser.contentWindow;
const el = aboutMessage.document.getElementById(arguments[0]);
if (!el) return "no element " + arguments[0];
if (el.hidden) return arguments[0] + " is hidden";
el.doCommand();
return "";
"""

# The calendar's item with this UID, as Thunderbird stored it (null if there is none).
_JS_CALENDAR_ITEM = """
const { cal } = ChromeUtils.importESModule("resource:///modules/calendar/calUtils.sys.mjs");
const calendar = cal.manager.getCalendarById(arguments[0]);
if (!calendar) throw new Error("no calendar " + arguments[0]);
return calendar.getItem(arguments[1]).then(item => item && {
  id: item.id,
  title: item.title,
  start: item.startDate ? item.startDate.icalString : null,
  recurring: !!item.recurrenceInfo,
  organizer: item.organizer ? item.organizer.id : null,
  attendees: item.getAttendees().map(a => ({id: a.id, partstat: a.participationStatus})),
});
"""

# Add an event (an iCalendar VEVENT text) to the calendar, as if it had been accepted before.
_JS_CALENDAR_ADD = """
const { cal } = ChromeUtils.importESModule("resource:///modules/calendar/calUtils.sys.mjs");
const { CalEvent } = ChromeUtils.importESModule("resource:///modules/CalEvent.sys.mjs");
const calendar = cal.manager.getCalendarById(arguments[0]);
if (!calendar) throw new Error("no calendar " + arguments[0]);
const item = new CalEvent();
item.icalString = arguments[1];
return calendar.addItem(item).then(added => added.id);
"""


# Install an add-on from an .xpi file as Add-ons > "Install Add-on From File" does (not
# temporarily: Thunderbird does not require signatures), then report it.
_JS_INSTALL_ADDON = """
const { AddonManager } = ChromeUtils.importESModule("resource://gre/modules/AddonManager.sys.mjs");
const file = Cc["@mozilla.org/file/local;1"].createInstance(Ci.nsIFile);
file.initWithPath(arguments[0]);
return (async () => {
  const install = await AddonManager.getInstallForFile(file);
  if (!install) return { error: "no install for " + arguments[0] };
  if (install.error) return { error: "install error " + install.error };
  const addon = await install.install();
  return { id: addon.id, name: addon.name, version: addon.version, active: addon.isActive,
           signed: addon.signedState };
})();
"""

# The OAuth2 provider Thunderbird would use for an IMAP server of this host name.
_JS_OAUTH_PROVIDER = """
const { OAuth2Providers } = ChromeUtils.importESModule("resource:///modules/OAuth2Providers.sys.mjs");
const details = OAuth2Providers.getHostnameDetails(arguments[0], "imap");
if (!details) return null;
const d = OAuth2Providers.getIssuerDetails(details.issuer);
return { issuer: details.issuer, scopes: details.requiredScopes, clientId: d.clientId,
         authorizationEndpoint: d.authorizationEndpoint, tokenEndpoint: d.tokenEndpoint,
         redirectionEndpoint: d.redirectionEndpoint, usePKCE: !!d.usePKCE, builtIn: !!d.builtIn };
"""

# Every open window: its chrome document and, for the OAuth2 sign-in window
# (browserRequest.xhtml), the address its browser shows.
_JS_WINDOWS = """
const out = [];
for (const win of Services.wm.getEnumerator(null)) {
  const frame = win.document.getElementById("requestFrame");
  out.push({ url: win.location.href, title: win.document.title,
             browser: frame && frame.currentURI ? frame.currentURI.spec : null });
}
return out;
"""

# The logins stored for an origin ("oauth://<issuer>" for OAuth2 refresh tokens).
_JS_LOGINS = """
return Services.logins.searchLoginsAsync({ origin: arguments[0] }).then(found =>
  found.map(l => ({ username: l.username, realm: l.httpRealm, password: l.password })));
"""



# --------------------------------------------------------------------------- Thunderbird


class Thunderbird:
    """A headless Thunderbird with one IMAP account, driven through Marionette."""

    def __init__(
        self,
        workdir: Path | None,
        account: Account,
        *,
        ca_pem: str | Path | None = None,
        binary: str = "thunderbird",
        start_timeout: float = 60.0,
        prefs: dict[str, object] | None = None,
    ):
        self.account = account
        self.extra_prefs = dict(prefs or {})
        self.ca_pem = ca_pem
        self.binary = binary
        self.start_timeout = start_timeout
        self.root = Path(tempfile.mkdtemp(prefix="icalgate-tb-", dir=workdir))
        self.profile = self.root / "profile"
        self.log_path = self.root / "thunderbird.log"
        self.marionette_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.client: Marionette | None = None
        self.version = ""
        self.inbox_uri = ""

    # -- lifetime ------------------------------------------------------------
    def start(self) -> "Thunderbird":
        try:
            self._start()
            return self
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        path = shutil.which(self.binary)
        if path is None:
            raise ThunderbirdError(f"{self.binary} is not installed (apt-get install --no-install-recommends thunderbird)")
        self.profile.mkdir(parents=True)
        prefs = profile_prefs(self.account, self.marionette_port)
        prefs.update(self.extra_prefs)
        (self.profile / "user.js").write_text(user_js(prefs))
        home = self.root / "home"
        home.mkdir()
        env = dict(os.environ)
        env.update(
            HOME=str(home),  # nothing written to the real ~/.thunderbird or ~/.cache
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_CONFIG_HOME=str(home / ".config"),
            MOZ_HEADLESS="1",
            MOZ_CRASHREPORTER_DISABLE="1",
            MOZ_DISABLE_AUTO_SAFE_MODE="1",
        )
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [path, "--headless", "--profile", str(self.profile), "--no-remote", "--marionette",
                 "-remote-allow-system-access"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise ThunderbirdError(f"thunderbird exited with status {self.proc.returncode}\n{self.log_tail()}")
            try:
                self.client = Marionette(self.marionette_port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ThunderbirdError(
                        f"Marionette did not listen on {self.marionette_port} within {self.start_timeout:.0f}s\n"
                        f"{self.log_tail()}"
                    ) from None
                time.sleep(0.2)
        caps = self.client.command("WebDriver:NewSession", {"capabilities": {}})
        self.version = caps.get("capabilities", {}).get("browserVersion", "")
        self.client.command("Marionette:SetContext", {"value": "chrome"})
        self.client.command("WebDriver:SetTimeouts", {"script": 30000})
        self.wait_for(lambda: self.client.execute(_JS_WAIT_READY), self.start_timeout, "the 3-pane window")
        # Taller than headless's default 1366x768: more of the message list in a screenshot.
        with contextlib.suppress(MarionetteError):
            self.client.command("WebDriver:SetWindowRect", {"x": 0, "y": 0, "width": 1400, "height": 1100})
        if self.ca_pem is not None:
            self.trust_ca(Path(self.ca_pem).read_text())
        if self.account.auth_method == PASSWORD:
            self.add_login()

    def stop(self) -> None:
        """Kill Thunderbird's process group and remove its profile, whatever state it is in."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.proc is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
            self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Thunderbird":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # -- helpers -------------------------------------------------------------
    def wait_for(self, probe, timeout: float, what: str, interval: float = 0.2):
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if self.proc is not None and self.proc.poll() is not None:
                raise ThunderbirdError(f"thunderbird exited ({self.proc.returncode}) waiting for {what}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ThunderbirdError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(interval)

    def execute(self, script: str, *args):
        assert self.client is not None
        return self.client.execute(script, *args)

    # -- setup -----------------------------------------------------------------
    def trust_ca(self, ca_pem: str) -> str:
        """Trust the development CA for TLS servers ("C,,"), as a user importing it would."""
        return self.execute(_JS_TRUST_CA, pem_to_base64(ca_pem))

    def add_login(self) -> None:
        origin = f"imap://{self.account.host}"
        n = self.execute(_JS_ADD_LOGIN, origin, self.account.user, self.account.password)
        if n != 1:
            raise ThunderbirdError(f"the login for {origin} was not stored ({n} logins found)")

    # -- add-ons and OAuth2 ------------------------------------------------------
    def install_addon(self, xpi: Path) -> dict:
        """Install an .xpi as a user's "Install Add-on From File" does: {id, name, version,
        active, signed} or {error}."""
        return self.execute(_JS_INSTALL_ADDON, str(Path(xpi).resolve()))

    def oauth_provider(self, host: str) -> dict | None:
        """The OAuth2 provider Thunderbird knows for an IMAP server `host` (None: none)."""
        return self.execute(_JS_OAUTH_PROVIDER, host)

    def windows(self) -> list[dict]:
        """The open windows: {url, title, browser} (browser: the sign-in window's address)."""
        return self.execute(_JS_WINDOWS)

    def logins(self, origin: str) -> list[dict]:
        """The stored logins of an origin: {username, realm, password}."""
        return self.execute(_JS_LOGINS, origin)

    # -- mail ------------------------------------------------------------------
    def sync_inbox(self, expect: int, timeout: float = 60.0) -> list[dict]:
        """Show the account's Inbox, update it, and wait until `expect` messages are listed.

        Returns the rows of the message list ({subject, author, messageId, uid}).
        """
        self.inbox_uri = self.execute(_JS_SYNC_INBOX, "server1")
        last: list[dict] = []

        def listed():
            nonlocal last
            state = self.execute(_JS_LIST)
            last = state["rows"]
            return len(last) >= expect and state["folder"] == self.inbox_uri

        try:
            self.wait_for(listed, timeout, f"{expect} messages in {self.inbox_uri}", interval=0.25)
        except ThunderbirdError as e:
            raise ThunderbirdError(f"{e}; the list shows {len(last)}\n{self.log_tail()}") from None
        except MarionetteError as e:
            if e.error != "unexpected alert open":
                raise
            # Marionette dismisses it and only says that there was one; its text is lost.
            raise ThunderbirdError(
                f"Thunderbird opened a dialog while syncing {self.inbox_uri} (a connection, certificate "
                f"or login failure: see the gateway's log): {e.message}"
            ) from None
        return last

    def message_list(self) -> list[dict]:
        return self.execute(_JS_LIST)["rows"]

    def open_message(self, index: int, timeout: float = 30.0) -> dict:
        """Select row `index`; return the message pane once it shows that message.

        The pane keeps the previous message until the new one's document is committed, so
        this waits for the selected message's key in about:message and its UID at the end of
        the content's URI (imap://…/fetch>UID>/INBOX>N), and a loaded, non-empty body.
        Returns {key, uri, ready, text, subject}.
        """
        key = self.execute(_JS_SELECT, index)
        shows = re.compile(rf"(%3E|>){key}([?&#]|$)")

        def loaded():
            p = self.execute(_JS_PANE)
            if p and p["key"] == key and p["ready"] and shows.search(p["uri"] or "") and p["text"].strip():
                return p
            return None

        return self.wait_for(loaded, timeout, f"message {key} (row {index}) in the message pane")

    def find_row(self, *, message_id: str | None = None, subject: str | None = None) -> int:
        """The index in the message list of the one message with this Message-ID (without
        angle brackets) or this decoded subject."""
        rows = self.message_list()
        if message_id is not None:
            hits = [i for i, r in enumerate(rows) if r["messageId"] == message_id.strip("<>")]
            what = f"Message-ID {message_id}"
        elif subject is not None:
            hits = [i for i, r in enumerate(rows) if r["subject"] == subject]
            what = f"subject {subject!r}"
        else:
            raise ValueError("find_row needs message_id or subject")
        if len(hits) != 1:
            raise ThunderbirdError(f"{len(hits)} rows with {what} in a list of {len(rows)}")
        return hits[0]

    def open_message_by(self, *, message_id: str | None = None, subject: str | None = None,
                        timeout: float = 30.0) -> dict:
        """open_message() of the row with this Message-ID or decoded subject."""
        return self.open_message(self.find_row(message_id=message_id, subject=subject), timeout)

    def invitation_bar(self, timeout: float = 15.0) -> dict:
        """What the invitation bar shows for the message in the pane, once it has settled.

        Call after open_message(). Waits until about:message has loaded the message (the bar
        is uncollapsed, or not, by then) and, if the bar is shown, until the calendar lookup
        has set its final text and buttons. Returns {key, loaded, collapsed, visible, label,
        buttons: [{id, label, items: [{id, label}]}] (shown ones only), pending, details}
        where details is the text of the invitation summary Thunderbird put into the body.
        """
        last: dict | None = None

        def settled():
            nonlocal last
            last = self.execute(_JS_IMIP_BAR)
            if last and last.get("missing"):
                raise ThunderbirdError(
                    f"about:message has no #imip-bar: Thunderbird {self.version}'s invitation bar is not "
                    "the one thunderbird.py was written for")
            if not last:
                return None
            return last if last["loaded"] and not last["pending"] else None

        # setupOptions() runs once per message: two equal looks 0.2 s apart catch a late change.
        deadline = time.monotonic() + timeout
        while True:
            try:
                bar = self.wait_for(settled, max(0.0, deadline - time.monotonic()), "the invitation bar to settle",
                                    interval=0.1)
            except ThunderbirdError as e:
                raise ThunderbirdError(f"{e}; it shows {last}") from None
            time.sleep(0.2)
            if self.execute(_JS_IMIP_BAR) == bar:
                return bar

    def invitation_command(self, element_id: str) -> None:
        """Run the command of an invitation bar button or menu item, as a click would."""
        problem = self.execute(_JS_IMIP_COMMAND, element_id)
        if problem:
            raise ThunderbirdError(f"cannot use {element_id}: {problem}")

    def calendar_item(self, uid: str) -> dict | None:
        """The event with this UID in the profile's calendar: {id, title, start, recurring,
        organizer, attendees: [{id, partstat}]}, or None."""
        return self.execute(_JS_CALENDAR_ITEM, CALENDAR_ID, uid)

    def add_calendar_event(self, vevent: str) -> str:
        """Put an event (VEVENT text) into the profile's calendar; returns its UID."""
        return self.execute(_JS_CALENDAR_ADD, CALENDAR_ID, vevent)

    def screenshot(self, path: Path) -> Path:
        """A PNG of the 3-pane window (chrome context: the whole window)."""
        assert self.client is not None
        result = self.client.command("WebDriver:TakeScreenshot", {"full": False, "hash": False})
        data = result.get("value") if isinstance(result, dict) else result
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
