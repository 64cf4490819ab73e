#!/usr/bin/env python3
"""Smoke test of icalgate-graphsim alone: the exact status and JSON shapes of every endpoint
and error, over real HTTP — Graph, then the identity platform (device code, the
authorization-code flow with PKCE, refresh-token rotation and revocation, Exchange Online
tokens and their signatures).
usage: test_graphsim.py PATH/TO/icalgate-graphsim"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unit", "data", "graph")
TENANT = "contoso.onmicrosoft.com"
SCOPE = "https://graph.microsoft.com/.default"
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


def request(port, method, target, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, target, body=body, headers=headers or {})
    res = conn.getresponse()
    data = res.read()
    conn.close()
    return res.status, dict(res.getheaders()), data


def token_request(port, **form):
    status, headers, data = request(
        port, "POST", f"/{TENANT}/oauth2/v2.0/token", urllib.parse.urlencode(form),
        {"Content-Type": "application/x-www-form-urlencoded"})
    return status, json.loads(data)


def graph_error_shape(body, code):
    error = body.get("error", {})
    return (error.get("code") == code and isinstance(error.get("message"), str)
            and set(error.get("innerError", {})) == {"date", "request-id", "client-request-id"})


def identity_error_shape(body, error, aadsts):
    return (body.get("error") == error and body.get("error_codes") == [aadsts]
            and body.get("error_description", "").startswith(f"AADSTS{aadsts}: ")
            and {"timestamp", "trace_id", "correlation_id", "error_uri"} <= set(body))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_app_certificate(directory, name):
    """A self-signed RSA certificate and key made with openssl; (key path, DER bytes)."""
    key, crt = os.path.join(directory, name + ".key"), os.path.join(directory, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=" + name, "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", crt, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return key, der


def client_assertion(key, der, claims, thumbprint="x5t"):
    """A JWT client assertion signed RS256 by `key`, naming the certificate `der`."""
    header = {"alg": "RS256", "typ": "JWT"}
    if thumbprint == "x5t":
        header["x5t"] = b64url(hashlib.sha1(der).digest())
    else:
        header["x5t#S256"] = b64url(hashlib.sha256(der).digest())
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                               input=signing_input.encode(), check=True,
                               capture_output=True).stdout
    return signing_input + "." + b64url(signature)


CERTS = {}


def messages_query(**params):
    return "/v1.0/users/alice@contoso.com/messages?" + urllib.parse.urlencode(
        params, quote_via=urllib.parse.quote)


def main():
    exe = sys.argv[1]
    data = tempfile.mkdtemp(prefix="graphsim-smoke-")
    try:
        messages = os.path.join(data, "users", "alice@contoso.com", "messages")
        os.makedirs(messages)
        for name in ("reply-accepted", "request-weekly-berlin", "cancel-series-berlin"):
            shutil.copy(os.path.join(FIXTURES, name + ".json"), messages)
        # The app's certificate credential, registered by path (relative to the data
        # directory); "stranger" is a certificate the app registration does not have.
        CERTS["app"] = make_app_certificate(data, "app")
        CERTS["stranger"] = make_app_certificate(data, "stranger")
        with open(os.path.join(data, "clients.json"), "w") as f:
            json.dump({"clients": [{"tenant": TENANT, "client_id": "app", "client_secret": "pw",
                                    "certificates": ["app.crt"]}]}, f)
        control = os.path.join(data, "control.json")
        with open(control, "w") as f:
            f.write("{}")
        proc = subprocess.Popen([exe, "--listen", "127.0.0.1:0", "--data", data,
                                 "--control", control, "--token-lifetime", "600"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
            token = run_checks(port, data, control)
        finally:
            proc.terminate()
            _, log = proc.communicate(timeout=10)
        check("GET /v1.0/users/alice@contoso.com/messages" in log, "request log on stderr")
        check(token not in log and "client_secret" not in log, "the log holds no token or secret")
        check(CERTS["assertion"] not in log, "the log holds no client assertion")
    finally:
        shutil.rmtree(data, ignore_errors=True)
    identity_checks(exe)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("graphsim smoke test passed")
    return 0


def certificate_checks(port):
    """Certificate credentials: the client assertion checked as Entra checks it."""
    key, der = CERTS["app"]
    stranger_key, stranger_der = CERTS["stranger"]
    now = int(time.time())
    aud = f"http://127.0.0.1:{port}/{TENANT}/oauth2/v2.0/token"

    def claims(**changes):
        c = {"aud": aud, "iss": "app", "sub": "app", "jti": f"jti-{time.monotonic_ns()}",
             "nbf": now, "iat": now, "exp": now + 600}
        c.update(changes)
        return c

    def present(assertion):
        return token_request(port, grant_type="client_credentials", client_id="app",
                             client_assertion_type=
                             "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                             client_assertion=assertion, scope=SCOPE)

    CERTS["assertion"] = client_assertion(key, der, claims())
    status, body = present(CERTS["assertion"])
    check(status == 200 and "access_token" in body, "certificate assertion accepted (x5t)")
    status, body = present(CERTS["assertion"])
    check(status == 401 and identity_error_shape(body, "invalid_client", 50027)
          and "used before" in body["error_description"], "a replayed assertion")
    status, body = present(client_assertion(key, der, claims(), thumbprint="x5t#S256"))
    check(status == 200 and "access_token" in body, "certificate assertion accepted (x5t#S256)")
    status, body = present(client_assertion(stranger_key, stranger_der, claims()))
    check(status == 401 and identity_error_shape(body, "invalid_client", 700027)
          and "not registered" in body["error_description"], "unregistered certificate")
    status, body = present(client_assertion(stranger_key, der, claims()))
    check(status == 401 and identity_error_shape(body, "invalid_client", 700027)
          and "signature validation" in body["error_description"], "bad signature")
    status, body = present(client_assertion(key, der, claims(iat=now - 3600, nbf=now - 3600,
                                                             exp=now - 3000)))
    check(status == 401 and identity_error_shape(body, "invalid_client", 700024),
          "expired assertion")
    status, body = present(client_assertion(key, der, claims(nbf=now + 600, exp=now + 1200)))
    check(status == 401 and identity_error_shape(body, "invalid_client", 700024),
          "assertion not yet valid")
    status, body = present(client_assertion(key, der, claims(
        aud=f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token")))
    check(status == 401 and identity_error_shape(body, "invalid_client", 700023),
          "assertion for another audience")
    status, body = present(client_assertion(key, der, claims(iss="other", sub="other")))
    check(status == 401 and identity_error_shape(body, "invalid_client", 700021),
          "assertion for another client")
    status, body = present("signed.jwt.value")
    check(status == 400 and identity_error_shape(body, "invalid_request", 50027),
          "malformed assertion")


def run_checks(port, data, control):
    # Token endpoint.
    status, body = token_request(port, grant_type="client_credentials", client_id="app",
                                 client_secret="pw", scope=SCOPE)
    check(status == 200 and set(body) == {"token_type", "expires_in", "ext_expires_in",
                                          "access_token"}, "token shape")
    check(body["token_type"] == "Bearer" and body["expires_in"] == 600, "token values")
    token = body["access_token"]
    auth = {"Authorization": "Bearer " + token}
    certificate_checks(port)
    status, body = token_request(port, grant_type="client_credentials", client_id="app",
                                 client_secret="wrong", scope=SCOPE)
    check(status == 401 and identity_error_shape(body, "invalid_client", 7000215), "bad secret")
    status, body = token_request(port, grant_type="client_credentials", client_id="app",
                                 client_secret="pw", scope="Mail.Read")
    check(status == 400 and identity_error_shape(body, "invalid_scope", 1002012), "bad scope")
    status, body = token_request(port, grant_type="password", client_id="app", scope=SCOPE)
    check(status == 400 and identity_error_shape(body, "unsupported_grant_type", 70003),
          "bad grant")
    status, body = token_request(port, grant_type="client_credentials", client_id="nope",
                                 client_secret="pw", scope=SCOPE)
    check(status == 400 and identity_error_shape(body, "unauthorized_client", 700016),
          "unknown client")

    # Authentication.
    status, headers, raw = request(port, "GET", messages_query())
    check(status == 401 and graph_error_shape(json.loads(raw), "InvalidAuthenticationToken"),
          "missing token")
    check("WWW-Authenticate" in headers, "WWW-Authenticate on 401")
    status, _, raw = request(port, "GET", messages_query(), headers={"Authorization": "Bearer x"})
    check(status == 401 and graph_error_shape(json.loads(raw), "InvalidAuthenticationToken"),
          "unknown token")

    # Lookup by Message-ID.
    wanted = "<3A2E5F6D7B0B@contoso.com>"
    status, _, raw = request(port, "GET", messages_query(
        **{"$filter": f"internetMessageId eq '{wanted}'",
           "$expand": "microsoft.graph.eventMessage/event"}), headers=auth)
    body = json.loads(raw)
    check(status == 200 and len(body["value"]) == 1, "lookup hit")
    check(body["value"][0]["internetMessageId"] == wanted and "iCalUId" in body["value"][0]["event"],
          "lookup carries the expanded event")
    check(body["@odata.context"].startswith("https://graph.microsoft.com/v1.0/$metadata#users("),
          "@odata.context")
    status, _, raw = request(port, "GET", messages_query(
        **{"$filter": "internetMessageId eq '<none@x>'",
           "$expand": "microsoft.graph.eventMessage/event"}), headers=auth)
    check(status == 200 and json.loads(raw)["value"] == [], "lookup miss is an empty collection")

    # Files edited, removed and added while the simulator runs are seen at the next request.
    lookup = messages_query(**{"$filter": f"internetMessageId eq '{wanted}'",
                               "$expand": "microsoft.graph.eventMessage/event"})
    folder = os.path.join(data, "users", "alice@contoso.com", "messages")
    holder = next(os.path.join(folder, n) for n in sorted(os.listdir(folder))
                  if wanted in open(os.path.join(folder, n)).read())
    original = open(holder).read()
    edited = json.loads(original)
    edited["value"][0]["subject"] = "Edited while running"
    with open(holder, "w") as f:
        json.dump(edited, f)
    body = json.loads(request(port, "GET", lookup, headers=auth)[2])
    check([m["subject"] for m in body["value"]] == ["Edited while running"], "edited file seen")
    os.rename(holder, holder + ".off")
    body = json.loads(request(port, "GET", lookup, headers=auth)[2])
    check(body["value"] == [], "removed file gone")
    os.rename(holder + ".off", holder)
    with open(holder, "w") as f:
        f.write(original)
    body = json.loads(request(port, "GET", lookup, headers=auth)[2])
    check([m["subject"] for m in body["value"]] == [json.loads(original)["value"][0]["subject"]],
          "restored file seen")
    status, _, raw = request(port, "GET", messages_query(
        **{"$filter": f"internetMessageId eq '{wanted}'", "$expand": "event"}), headers=auth)
    check(status == 400 and graph_error_shape(json.loads(raw), "RequestBroker--ParseUri"),
          "$expand=event without the cast")
    status, _, raw = request(port, "GET", messages_query(
        **{"$filter": "isof('microsoft.graph.eventMessage')"}), headers=auth)
    check(status == 400 and graph_error_shape(json.loads(raw), "ErrorInvalidUrlQueryFilter"),
          "unsupported filter")
    status, _, raw = request(port, "GET", "/v1.0/users/nobody@contoso.com/messages", headers=auth)
    check(status == 404 and graph_error_shape(json.loads(raw), "ResourceNotFound"), "unknown user")

    # Classification listing with paging.
    listing = {"$filter": "singleValueExtendedProperties/any(ep: ep/id eq 'String 0x001A' and "
                          "startswith(ep/value, 'IPM.Schedule.Meeting.'))",
               "$select": "internetMessageId,receivedDateTime", "$top": "2"}
    status, _, raw = request(port, "GET", messages_query(**listing), headers=auth)
    body = json.loads(raw)
    check(status == 200 and len(body["value"]) == 2 and "@odata.nextLink" in body, "page 1")
    check(set(body["value"][0]) == {"@odata.type", "@odata.etag", "id", "internetMessageId",
                                    "receivedDateTime"}, "$select shape")
    link = urllib.parse.urlsplit(body["@odata.nextLink"])
    check(link.netloc == f"127.0.0.1:{port}" and "%24skiptoken" not in link.query
          and "$skiptoken=" in link.query, "nextLink is absolute with $skiptoken")
    status, _, raw = request(port, "GET", link.path + "?" + link.query, headers=auth)
    body = json.loads(raw)
    check(status == 200 and len(body["value"]) == 1 and "@odata.nextLink" not in body, "page 2")
    status, _, raw = request(port, "GET", messages_query(**{"$top": "1001"}), headers=auth)
    check(status == 400, "$top above 1000")
    status, _, raw = request(port, "GET", messages_query(**{"$select": "nope"}), headers=auth)
    check(status == 400 and graph_error_shape(json.loads(raw), "RequestBroker--ParseUri"),
          "unknown $select property")

    # Events.
    with open(os.path.join(FIXTURES, "reply-accepted.json")) as f:
        event_id = json.load(f)["value"][0]["event"]["id"]
    status, _, raw = request(port, "GET", "/v1.0/users/alice@contoso.com/events/" +
                             urllib.parse.quote(event_id, safe=""), headers=auth)
    check(status == 200 and json.loads(raw)["id"] == event_id, "event by id")
    status, _, raw = request(port, "GET", "/v1.0/users/alice@contoso.com/events/AAMk", headers=auth)
    check(status == 404 and graph_error_shape(json.loads(raw), "ErrorItemNotFound"),
          "unknown event")

    # Usage report.
    report = "/v1.0/reports/getEmailAppUsageUserDetail(period='D30')"
    status, _, raw = request(port, "GET", report, headers=auth)
    check(status == 404 and graph_error_shape(json.loads(raw), "ResourceNotFound"),
          "report missing")
    os.makedirs(os.path.join(data, "reports"))
    csv = "Report Refresh Date,User Principal Name\r\n2026-11-26,alice@contoso.com\r\n"
    with open(os.path.join(data, "reports", "getEmailAppUsageUserDetail.csv"), "w") as f:
        f.write(csv)
    status, headers, _ = request(port, "GET", report, headers=auth)
    check(status == 302 and headers.get("Location", "").endswith(
        "/reports-download/getEmailAppUsageUserDetail.csv"), "report redirect")
    location = urllib.parse.urlsplit(headers.get("Location", "/"))
    status, _, raw = request(port, "GET", location.path)
    check(status == 200 and raw.decode() == csv, "report download")
    status, _, raw = request(port, "GET", report.replace("D30", "D31"), headers=auth)
    check(status == 400 and graph_error_shape(json.loads(raw), "BadRequest"), "bad period")

    # Fault injection.
    with open(control, "w") as f:
        json.dump({"fail": [{"path_prefix": "/v1.0/users/", "status": 429, "retry_after": 2,
                             "count": 1}, {"status": 503, "count": 1}]}, f)
    status, headers, raw = request(port, "GET", messages_query(), headers=auth)
    check(status == 429 and headers.get("Retry-After") == "2"
          and graph_error_shape(json.loads(raw), "ApplicationThrottled"), "injected 429")
    status, _, raw = request(port, "GET", messages_query(), headers=auth)
    check(status == 503 and graph_error_shape(json.loads(raw), "ServiceNotAvailable"),
          "injected 503")
    status, _, _ = request(port, "GET", messages_query(), headers=auth)
    check(status == 200, "faults consumed")
    with open(control, "w") as f:
        json.dump({"delay_ms": 300}, f)
    started = time.monotonic()
    status, _, _ = request(port, "GET", messages_query(), headers=auth)
    check(status == 200 and time.monotonic() - started >= 0.3, "injected delay")

    # Limits.
    status, _, _ = request(port, "GET", messages_query(), headers={**auth, "X-Big": "a" * 20000})
    check(status == 431, "header limit")

    status, _, raw = request(port, "GET", "/_stats")
    stats = json.loads(raw)
    # Tokens: one for the secret, two for certificate assertions (x5t, x5t#S256).
    check(status == 200 and stats["max_in_flight"] >= 1 and stats["tokens_issued"] == 3,
          "stats")
    return token


# --------------------------------------------------------------------------- identity platform

IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access openid profile"
APP_SCOPE = "https://outlook.office365.com/.default"
PUBLIC = "public-app"
CONFIDENTIAL = "confidential-app"
NO_ROLES = "no-roles-app"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def form_post(port, target, **form):
    status, _, data = request(port, "POST", target, urllib.parse.urlencode(form),
                              {"Content-Type": "application/x-www-form-urlencoded"})
    try:
        return status, json.loads(data)
    except ValueError:
        return status, {"raw": data.decode(errors="replace")}


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_claims(token, key):
    """The claims of an HS256 JWT whose signature checks out with key, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    header = json.loads(b64url_decode(parts[0]))
    mac = hmac.new(key, (parts[0] + "." + parts[1]).encode(), hashlib.sha256).digest()
    if header.get("alg") != "HS256" or not hmac.compare_digest(mac, b64url_decode(parts[2])):
        return None
    return json.loads(b64url_decode(parts[1]))


def identity_checks(exe):
    data = tempfile.mkdtemp(prefix="graphsim-identity-")
    key = os.urandom(32)
    try:
        key_file = os.path.join(data, "jwt-key")
        with open(key_file, "wb") as f:
            f.write(key)
        with open(os.path.join(data, "clients.json"), "w") as f:
            json.dump({"clients": [
                {"tenant": TENANT, "tenant_id": "11111111-2222-3333-4444-555555555555",
                 "client_id": PUBLIC, "client_secret": "pub-secret"},
                {"tenant": TENANT, "client_id": CONFIDENTIAL, "client_secret": "conf-secret",
                 "allow_public_client": False},
                {"tenant": TENANT, "client_id": NO_ROLES, "client_secret": "nr-secret",
                 "imap_app_roles": []}]}, f)
        proc = subprocess.Popen([exe, "--listen", "127.0.0.1:0", "--data", data,
                                 "--jwt-key", key_file, "--token-lifetime", "600",
                                 "--device-code-interval", "1", "--device-code-lifetime", "4"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
            secrets = run_identity_checks(port, key)
            secrets += run_authorization_code_checks(port, key)
        finally:
            proc.terminate()
            _, log = proc.communicate(timeout=10)
        check("POST /contoso.onmicrosoft.com/oauth2/v2.0/devicecode" in log, "identity request log")
        check("GET /contoso.onmicrosoft.com/oauth2/v2.0/authorize?" in log, "authorize request log")
        check(not any(s in log for s in secrets), "the log holds no token, code or secret")
    finally:
        shutil.rmtree(data, ignore_errors=True)


def run_identity_checks(port, key):
    secrets = ["pub-secret", "conf-secret"]
    devicecode = f"/{TENANT}/oauth2/v2.0/devicecode"
    token = f"/{TENANT}/oauth2/v2.0/token"

    def poll(device_code, client=PUBLIC, **extra):
        return form_post(port, token, grant_type=DEVICE_GRANT, client_id=client,
                         device_code=device_code, **extra)

    def refresh(refresh_token, client=PUBLIC, **extra):
        return form_post(port, token, grant_type="refresh_token", client_id=client,
                         refresh_token=refresh_token, **extra)

    # Starting a sign-in.
    status, body = form_post(port, devicecode, client_id=PUBLIC, scope=IMAP_SCOPE)
    check(status == 200 and set(body) == {"user_code", "device_code", "verification_uri",
                                          "expires_in", "interval", "message"}, "devicecode shape")
    check(body.get("expires_in") == 4 and body.get("interval") == 1
          and body.get("verification_uri") == "https://microsoft.com/devicelogin"
          and body.get("user_code", "?") in body.get("message", ""), "devicecode values")
    user_code, device_code = body["user_code"], body["device_code"]
    secrets.append(device_code)
    status, body = form_post(port, devicecode, client_id=PUBLIC,
                             scope="https://graph.microsoft.com/Mail.Read")
    check(status == 400 and identity_error_shape(body, "invalid_scope", 70011), "devicecode bad scope")
    status, body = form_post(port, devicecode, client_id=PUBLIC)
    check(status == 400 and identity_error_shape(body, "invalid_request", 900144),
          "devicecode without scope")
    status, body = form_post(port, devicecode, client_id="nope", scope=IMAP_SCOPE)
    check(status == 400 and identity_error_shape(body, "unauthorized_client", 700016),
          "devicecode unknown client")
    status, body = form_post(port, "/fabrikam.example/oauth2/v2.0/devicecode", client_id=PUBLIC,
                             scope=IMAP_SCOPE)
    check(status == 400 and identity_error_shape(body, "invalid_request", 90002),
          "devicecode unknown tenant")
    status, _, _ = request(port, "GET", devicecode)
    check(status == 405, "devicecode is POST only")

    # Polling before the user signs in.
    status, body = poll(device_code)
    check(status == 400 and identity_error_shape(body, "authorization_pending", 70016), "pending")
    status, body = poll(device_code)
    check(status == 400 and identity_error_shape(body, "slow_down", 70016), "slow_down")
    status, body = poll("not-a-code")
    check(status == 400 and identity_error_shape(body, "bad_verification_code", 70000),
          "unknown device code")
    status, _, raw = request(port, "GET", "/_sim/devicecodes")
    listed = json.loads(raw).get("value", [])
    check(status == 200 and any(c["user_code"] == user_code and c["state"] == "pending"
                                for c in listed), "/_sim/devicecodes lists the sign-in")
    check(device_code not in raw.decode(), "/_sim/devicecodes does not show device codes")

    # The user signs in.
    status, body = form_post(port, "/_sim/devicecode/approve", user_code="NOPE", upn="alice@contoso.com")
    check(status == 404, "approve an unknown user code")
    status, body = form_post(port, "/_sim/devicecode/approve", user_code=user_code,
                             upn="Alice@Contoso.com")
    check(status == 200 and body.get("state") == "approved" and body.get("upn") == "alice@contoso.com",
          "approve")
    status, body = form_post(port, "/_sim/devicecode/approve", user_code=user_code, upn="bob@contoso.com")
    check(status == 409, "approve twice")
    time.sleep(1.1)
    status, body = poll(device_code)
    check(status == 200 and set(body) == {"token_type", "scope", "expires_in", "ext_expires_in",
                                          "access_token", "refresh_token", "id_token"},
          "device code grant shape")
    if status != 200:
        return secrets
    secrets += [body["access_token"], body["refresh_token"]]
    check(body["token_type"] == "Bearer" and body["expires_in"] == 600
          and body["scope"] == "https://outlook.office.com/IMAP.AccessAsUser.All", "grant values")
    claims = jwt_claims(body["access_token"], key)
    check(claims is not None, "delegated token signed with --jwt-key")
    claims = claims or {}
    check(claims.get("aud") == "https://outlook.office.com" and claims.get("scp") == "IMAP.AccessAsUser.All"
          and claims.get("upn") == "alice@contoso.com" and claims.get("email") == "alice@contoso.com"
          and claims.get("appid") == PUBLIC and claims.get("appidacr") == "0"
          and claims.get("tid") == "11111111-2222-3333-4444-555555555555"
          and claims.get("ver") == "1.0" and "roles" not in claims and "azp" not in claims
          and claims.get("exp", 0) - claims.get("iat", 0) == 600
          and abs(claims.get("iat", 0) - time.time()) < 60 and claims.get("sub"), "delegated claims")
    id_claims = jwt_claims(body["id_token"], key) or {}
    check(id_claims.get("preferred_username") == "alice@contoso.com" and id_claims.get("aud") == PUBLIC,
          "id_token names the user")
    status, again = poll(device_code)
    check(status == 400 and identity_error_shape(again, "invalid_grant", 54005), "device code redeemed once")

    # Refresh-token rotation.
    rt1 = body["refresh_token"]
    status, body = refresh(rt1)
    check(status == 200 and body.get("refresh_token") not in (None, rt1)
          and jwt_claims(body.get("access_token", ""), key) is not None, "refresh rotates")
    rt2 = body.get("refresh_token", "")
    secrets += [rt2, body.get("access_token", "")]
    status, body = refresh(rt1)
    check(status == 400 and identity_error_shape(body, "invalid_grant", 70008), "a rotated-out token is refused")
    status, body = refresh(rt2, scope="https://outlook.office.com/SMTP.Send")
    check(status == 400 and identity_error_shape(body, "invalid_grant", 65001), "refresh beyond the grant")
    status, body = refresh(rt2, client=NO_ROLES)
    check(status == 400 and identity_error_shape(body, "invalid_grant", 70000), "refresh by another client")
    status, body = refresh("garbage")
    check(status == 400 and identity_error_shape(body, "invalid_grant", 9002313), "unknown refresh token")
    status, body = refresh(rt2, scope="https://outlook.office.com/IMAP.AccessAsUser.All")
    check(status == 200 and "refresh_token" in body, "refresh with the granted scope")
    rt3 = body.get("refresh_token", "")
    secrets.append(rt3)

    # Revocation.
    status, body = form_post(port, "/_sim/revoke", upn="ALICE@contoso.com")
    check(status == 200 and body.get("revoked") == 1, "revoke counts the live refresh tokens")
    status, body = refresh(rt3)
    check(status == 400 and identity_error_shape(body, "invalid_grant", 50173), "revoked refresh token")

    # Declined, expired, confidential clients.
    status, body = form_post(port, devicecode, client_id=PUBLIC, scope=IMAP_SCOPE)
    declined_code = body.get("device_code", "")
    secrets.append(declined_code)
    status, _ = form_post(port, "/_sim/devicecode/deny", user_code=body.get("user_code", ""))
    check(status == 200, "deny")
    status, body = poll(declined_code)
    check(status == 400 and identity_error_shape(body, "authorization_declined", 65004), "declined")
    status, body = form_post(port, devicecode, client_id=CONFIDENTIAL, scope=IMAP_SCOPE)
    confidential_code = body.get("device_code", "")
    secrets.append(confidential_code)
    status, body = poll(confidential_code, client=CONFIDENTIAL)
    check(status == 401 and identity_error_shape(body, "invalid_client", 7000218),
          "no public client flows without the secret")
    status, body = poll(confidential_code, client=CONFIDENTIAL, client_secret="conf-secret")
    check(status == 400 and identity_error_shape(body, "authorization_pending", 70016),
          "a confidential client polls with its secret")
    status, body = poll(confidential_code, client=CONFIDENTIAL, client_secret="wrong")
    check(status == 401 and identity_error_shape(body, "invalid_client", 7000215), "wrong secret")
    time.sleep(4.2)
    status, body = poll(confidential_code, client=CONFIDENTIAL, client_secret="conf-secret")
    check(status == 400 and identity_error_shape(body, "expired_token", 70019), "expired device code")
    status, _ = form_post(port, "/_sim/devicecode/approve", user_code="x")
    check(status == 404, "approve after expiry")

    # App-only tokens for Exchange Online.
    status, body = form_post(port, token, grant_type="client_credentials", client_id=PUBLIC,
                             client_secret="pub-secret", scope=APP_SCOPE)
    check(status == 200 and set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"},
          "app token shape")
    secrets.append(body.get("access_token", ""))
    claims = jwt_claims(body.get("access_token", ""), key) or {}
    check(claims.get("roles") == ["IMAP.AccessAsApp"] and claims.get("aud") == "https://outlook.office365.com"
          and claims.get("appid") == PUBLIC and not {"upn", "email", "scp"} & set(claims)
          and claims.get("oid") == claims.get("sub"), "app token claims")
    status, body = form_post(port, token, grant_type="client_credentials", client_id=NO_ROLES,
                             client_secret="nr-secret", scope=APP_SCOPE)
    claims = jwt_claims(body.get("access_token", ""), key) or {}
    check(status == 200 and "roles" not in claims and claims.get("appid") == NO_ROLES,
          "an app without IMAP.AccessAsApp gets a token without roles")
    status, body = form_post(port, token, grant_type="client_credentials", client_id=PUBLIC, scope=APP_SCOPE)
    check(status == 401 and identity_error_shape(body, "invalid_client", 7000218),
          "client credentials need a secret")

    # Token lifetime, changed at run time.
    status, body = form_post(port, "/_sim/token-lifetime", seconds="2")
    check(status == 200 and body == {"token_lifetime": 2}, "token lifetime hook")
    status, body = form_post(port, token, grant_type="client_credentials", client_id=PUBLIC,
                             client_secret="pub-secret", scope=APP_SCOPE)
    claims = jwt_claims(body.get("access_token", ""), key) or {}
    check(body.get("expires_in") == 2 and claims.get("exp", 0) - claims.get("iat", 0) == 2,
          "short-lived token")
    status, _ = form_post(port, "/_sim/token-lifetime", seconds="0")
    check(status == 400, "token lifetime must be positive")

    status, _, raw = request(port, "GET", "/_stats")
    stats = json.loads(raw)
    check(stats.get("device_codes") == 3 and stats.get("refreshes") == 2 and stats.get("refresh_reuses") == 1
          and stats.get("app_tokens") == 3, f"identity stats {stats}")
    return [s for s in secrets if s]


def pkce_pair():
    verifier = base64.urlsafe_b64encode(os.urandom(48)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def redirect_params(headers):
    """The query of a 302's Location, and the Location without it."""
    location = headers.get("Location", "")
    base, _, query = location.partition("?")
    return base, dict(urllib.parse.parse_qsl(query))


def run_authorization_code_checks(port, key):
    """Thunderbird's sign-in: GET authorize (the user is the login_hint), 302 to the redirect
    URI with code and state, then grant_type=authorization_code with the PKCE verifier."""
    secrets = []
    authorize = f"/{TENANT}/oauth2/v2.0/authorize"
    token = f"/{TENANT}/oauth2/v2.0/token"
    scope = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
    status, _, raw = request(port, "DELETE", "/_stats")

    def ask(client=PUBLIC, tenant=TENANT, method="GET", **params):
        query = {"client_id": client, "response_type": "code", "redirect_uri": "http://localhost",
                 "scope": scope, "state": "st-123", "login_hint": "Alice@Contoso.com"}
        query.update(params)
        query = {k: v for k, v in query.items() if v is not None}
        # URLSearchParams' encoding, as Thunderbird builds the URL: spaces as '+'.
        target = f"/{tenant}/oauth2/v2.0/authorize?" + urllib.parse.urlencode(query)
        return request(port, method, target)

    def redeem(code, verifier, client=PUBLIC, **extra):
        form = {"grant_type": "authorization_code", "client_id": client, "code": code,
                "redirect_uri": "http://localhost", "code_verifier": verifier}
        form.update(extra)
        return form_post(port, token, **{k: v for k, v in form.items() if v is not None})

    verifier, challenge = pkce_pair()
    status, headers, body = ask(code_challenge=challenge, code_challenge_method="S256")
    base, params = redirect_params(headers)
    check(status == 302 and base == "http://localhost" and params.get("state") == "st-123"
          and set(params) == {"code", "state", "session_state"}, f"authorize redirects {status} {headers}")
    code = params.get("code", "")
    secrets.append(code)

    # Refused before any redirect: the URI cannot be trusted, so Entra shows a page.
    status, headers, body = ask(redirect_uri="https://evil.example/cb", code_challenge=challenge,
                                code_challenge_method="S256")
    check(status == 400 and "Location" not in headers and b"AADSTS50011" in body
          and headers.get("Content-Type", "").startswith("text/html"), "unregistered redirect URI")
    status, headers, body = ask(client="nope")
    check(status == 400 and "Location" not in headers and b"AADSTS700016" in body, "authorize unknown client")
    status, headers, body = ask(tenant="fabrikam.example")
    check(status == 400 and b"AADSTS90002" in body, "authorize unknown tenant")
    status, headers, body = ask(client=None)
    check(status == 400 and b"AADSTS900144" in body, "authorize without client_id")
    status, _, _ = request(port, "DELETE", authorize)
    check(status == 405, "authorize is GET or POST")
    # Loopback redirect URIs match on any port.
    status, headers, _ = ask(redirect_uri="http://localhost:53682")
    base, params = redirect_params(headers)
    check(status == 302 and base == "http://localhost:53682" and "code" in params, "loopback port ignored")
    secrets.append(params.get("code", ""))
    status, headers, body = ask(redirect_uri="http://localhost:53682/elsewhere")
    check(status == 400 and b"AADSTS50011" in body, "the loopback path must match")
    # Errors after that go back to the client with the state.
    for what, params_, error, aadsts in (
            ("response_type token", {"response_type": "token"}, "unsupported_response_type", 700054),
            ("no response_type", {"response_type": None}, "invalid_request", 900144),
            ("Graph scope", {"scope": "https://graph.microsoft.com/Mail.Read"}, "invalid_scope", 70011),
            ("plain PKCE", {"code_challenge": challenge, "code_challenge_method": "plain"}, "invalid_request", 900144),
            ("short challenge", {"code_challenge": "abc", "code_challenge_method": "S256"}, "invalid_request", 501491)):
        status, headers, _ = ask(**params_)
        base, params = redirect_params(headers)
        check(status == 302 and base == "http://localhost" and params.get("error") == error
              and params.get("state") == "st-123" and "code" not in params
              and params.get("error_description", "").startswith(f"AADSTS{aadsts}: "), f"authorize {what}: {params}")

    # Without login_hint: a sign-in page whose form repeats the request with the user name.
    status, headers, body = ask(login_hint=None, code_challenge=challenge, code_challenge_method="S256")
    page = body.decode()
    check(status == 200 and headers.get("Content-Type", "").startswith("text/html")
          and 'name="login_hint"' in page and f'action="{authorize}"' in page, "sign-in page")
    fields = dict(re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page))
    check(fields.get("code_challenge") == challenge and fields.get("state") == "st-123"
          and fields.get("scope") == scope, f"sign-in page keeps the request {fields}")
    fields["login_hint"] = "bob@contoso.com"
    status, headers, _ = request(port, "GET", authorize + "?" + urllib.parse.urlencode(fields))
    base, params = redirect_params(headers)
    check(status == 302 and "code" in params, "the sign-in page's form signs in")
    bob_code = params.get("code", "")
    secrets.append(bob_code)

    # Redeeming: PKCE, redirect URI and client must match; the code works once.
    status, body = redeem(code, "wrong-" + verifier)
    check(status == 400 and identity_error_shape(body, "invalid_grant", 50148), f"wrong verifier {body}")
    status, body = redeem(code, None)
    check(status == 400 and identity_error_shape(body, "invalid_grant", 50148), "missing verifier")
    status, body = redeem(code, verifier, redirect_uri="http://localhost:9999")
    check(status == 400 and identity_error_shape(body, "invalid_grant", 500112), "another redirect URI")
    status, body = redeem(code, verifier, redirect_uri=None)
    check(status == 400 and identity_error_shape(body, "invalid_request", 900144), "no redirect URI")
    status, body = redeem(code, verifier, client=NO_ROLES)
    check(status == 400 and identity_error_shape(body, "invalid_grant", 70000), "code of another client")
    status, body = redeem(code, verifier, client_secret="wrong")
    check(status == 401 and identity_error_shape(body, "invalid_client", 7000215), "wrong secret sent")
    status, body = redeem("0.AVYAnot-a-code", verifier)
    check(status == 400 and identity_error_shape(body, "invalid_grant", 9002313), "unknown code")
    status, body = redeem(code, verifier)
    check(status == 200 and set(body) == {"token_type", "scope", "expires_in", "ext_expires_in",
                                          "access_token", "refresh_token"}, f"code grant shape {body}")
    if status != 200:
        return secrets
    secrets += [body["access_token"], body["refresh_token"], verifier]
    claims = jwt_claims(body["access_token"], key) or {}
    check(body["scope"] == "https://outlook.office.com/IMAP.AccessAsUser.All"
          and claims.get("upn") == "alice@contoso.com" and claims.get("email") == "alice@contoso.com"
          and claims.get("scp") == "IMAP.AccessAsUser.All" and claims.get("appid") == PUBLIC
          and claims.get("appidacr") == "0" and claims.get("aud") == "https://outlook.office.com",
          f"code grant claims {claims}")
    status, again = redeem(code, verifier)
    check(status == 400 and identity_error_shape(again, "invalid_grant", 54005), "a code works once")
    status, refreshed = form_post(port, token, grant_type="refresh_token", client_id=PUBLIC,
                                  refresh_token=body["refresh_token"])
    check(status == 200 and refreshed.get("refresh_token") not in (None, body["refresh_token"]),
          "the code grant's refresh token rotates")
    secrets += [refreshed.get("access_token", ""), refreshed.get("refresh_token", "")]
    # Without PKCE in the request none is asked for; openid adds an id_token.
    status, headers, _ = ask(login_hint="carol@contoso.com", scope=scope + " openid")
    plain_code = redirect_params(headers)[1].get("code", "")
    secrets.append(plain_code)
    status, body = redeem(plain_code, None)
    id_claims = jwt_claims(body.get("id_token", ""), key) or {}
    check(status == 200 and id_claims.get("preferred_username") == "carol@contoso.com", "code grant without PKCE")
    secrets += [body.get("access_token", ""), body.get("refresh_token", "")]

    status, _, raw = request(port, "GET", "/_sim/authorizations")
    listed = json.loads(raw).get("value", [])
    check(status == 200 and not any(c in raw.decode() for c in (code, bob_code, plain_code)),
          "/_sim/authorizations shows no codes")
    alice = [a for a in listed if a["upn"] == "alice@contoso.com"]
    check(len(listed) == 4 and {a["state"] for a in alice} == {"redeemed", "issued"}
          and all(a["pkce"] == "S256" for a in alice if a["redirect_uri"] == "http://localhost")
          and any(a["upn"] == "carol@contoso.com" and a["pkce"] == "none" for a in listed)
          and all(a["client_id"] == PUBLIC and a["offline_access"] for a in listed),
          f"/_sim/authorizations {listed}")
    status, _, raw = request(port, "GET", "/_stats")
    stats = json.loads(raw)
    check(stats.get("authorizations") == 4 and stats.get("code_grants") == 2
          and stats.get("code_refusals") == 6, f"authorization-code stats {stats}")
    return [s for s in secrets if s]


if __name__ == "__main__":
    sys.exit(main())
