#!/usr/bin/env python3
"""Smoke test of icalgate-graphsim alone: the exact status and JSON shapes of every endpoint
and error, over real HTTP. usage: test_graphsim.py PATH/TO/icalgate-graphsim"""

import http.client
import json
import os
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
        with open(os.path.join(data, "clients.json"), "w") as f:
            json.dump({"clients": [{"tenant": TENANT, "client_id": "app", "client_secret": "pw",
                                    "client_assertion": "signed.jwt.value"}]}, f)
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
    finally:
        shutil.rmtree(data, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("graphsim smoke test passed")
    return 0


def run_checks(port, data, control):
    # Token endpoint.
    status, body = token_request(port, grant_type="client_credentials", client_id="app",
                                 client_secret="pw", scope=SCOPE)
    check(status == 200 and set(body) == {"token_type", "expires_in", "ext_expires_in",
                                          "access_token"}, "token shape")
    check(body["token_type"] == "Bearer" and body["expires_in"] == 600, "token values")
    token = body["access_token"]
    auth = {"Authorization": "Bearer " + token}
    status, body = token_request(port, grant_type="client_credentials", client_id="app",
                                 client_assertion_type=
                                 "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                 client_assertion="signed.jwt.value", scope=SCOPE)
    check(status == 200 and "access_token" in body, "certificate assertion accepted")
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
    check(status == 200 and stats["max_in_flight"] >= 1 and stats["tokens_issued"] == 2,
          "stats")
    return token


if __name__ == "__main__":
    sys.exit(main())
