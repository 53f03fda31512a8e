"""REST hardening (issues 13 and 14): no 500s for hostile bodies, composite's resource
rules, nextRecordsUrl versions, verified JWT grants, random serve credentials, bounded
cursors and Bulk API 2.0 storage, chunked bodies and the concurrent-request limit."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from sforg_sim import Org
from sforg_sim.errors import RequestLimitExceeded
from sforg_sim.rest import serve
from sforg_sim.rest.auth import DEFAULT_PASSWORD, DEFAULT_TOKEN, sessions
from sforg_sim.rest.bulk2 import RESULTS_LIFESPAN, jobs_of
from sforg_sim.rest.dispatch import handle
from sforg_sim.rest.limits import (
    CONCURRENT_REQUESTS_MESSAGE,
    TOTAL_REQUESTS_MESSAGE,
    LongRunningRequests,
)
from sforg_sim.rest.messages import Request, Response
from sforg_sim.soql.cursors import CURSOR_LIFETIME

B = "/services/data/v59.0"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org()
    o.load_scenario("small", records=30)
    yield o
    o.close()


def call(org: Org, method: str, path: str, body: bytes | Any = b"", *,
         ct: str = "application/json", qs: str = "", base: str = B) -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": "Bearer " + sessions(org).create(), "Content-Type": ct}
    return handle(org, Request(method, base + path, qs, headers, raw,
                               "https://sim.my.salesforce.com"))


def err(resp: Response) -> dict[str, Any]:
    body = json.loads(resp.body)
    assert isinstance(body, list), body
    return dict(body[0])


# --- no 500s ----------------------------------------------------------------------------

def test_integer_past_pythons_digit_limit_is_json_parser_error(org: Org) -> None:
    r = call(org, "POST", "/sobjects/Account", b'{"Name": ' + b"9" * 5000 + b"}")
    assert r.status == 400 and err(r)["errorCode"] == "JSON_PARSER_ERROR"


def test_lone_surrogate_in_field_name_is_escaped_in_the_error(org: Org) -> None:
    r = call(org, "POST", "/sobjects/Account", b'{"Nam\\udc00e": "x"}')
    assert r.status == 400
    r.body.decode("utf-8")  # valid UTF-8 on the wire
    e = err(r)
    assert e["errorCode"] == "INVALID_FIELD" and "Nam\udc00e" in e["message"]


def _ingest(org: Org, csv_bytes: bytes) -> str:
    job = json.loads(call(org, "POST", "/jobs/ingest",
                          {"operation": "insert", "object": "Account"}).body)["id"]
    assert call(org, "PUT", f"/jobs/ingest/{job}/batches", csv_bytes,
                ct="text/csv").status == 201
    call(org, "PATCH", f"/jobs/ingest/{job}", {"state": "UploadComplete"})
    return str(job)


def test_csv_field_too_long_for_the_parser_fails_the_job_cleanly(org: Org) -> None:
    data = b"Name\n" + b"a" * 131_073 + b"\n"
    job = _ingest(org, data)
    info = json.loads(call(org, "GET", f"/jobs/ingest/{job}").body)
    assert info["state"] == "Failed" and info["errorMessage"].startswith("InvalidBatch")
    r = call(org, "GET", f"/jobs/ingest/{job}/unprocessedrecords")
    assert r.status == 200 and r.body == data


def test_bulk_query_with_deep_parentheses_is_not_a_500(org: Org) -> None:
    q = "SELECT Id FROM Account WHERE " + "(" * 300 + "Name = 'a'" + ")" * 300
    r = call(org, "POST", "/jobs/query", {"operation": "query", "query": q})
    assert r.status in (200, 400), r.body[:200]


def test_composite_subrequest_to_a_csv_resource_is_refused_per_subrequest(org: Org) -> None:
    job = json.loads(call(org, "POST", "/jobs/query", {
        "operation": "query", "query": "SELECT Id FROM Account"}).body)["id"]
    r = call(org, "POST", "/composite", {"compositeRequest": [
        {"method": "GET", "url": f"{B}/jobs/query/{job}/results", "referenceId": "csv"},
        {"method": "POST", "url": f"{B}/composite", "referenceId": "nested",
         "body": {"compositeRequest": []}}]})
    assert r.status == 200
    entries = json.loads(r.body)["compositeResponse"]
    assert [e["httpStatusCode"] for e in entries] == [404, 404]
    assert entries[0]["body"][0]["errorCode"] == "NOT_FOUND"


# --- composite: 5 query or collection subrequests of 25 ---------------------------------

def _subs(n_heavy: int, n_light: int) -> list[dict[str, Any]]:
    heavy = [{"method": "GET", "url": f"{B}/query?q=SELECT+Id+FROM+Account",
              "referenceId": f"q{i}"} for i in range(n_heavy)]
    light = [{"method": "GET", "url": f"{B}/sobjects/Account/describe",
              "referenceId": f"d{i}"} for i in range(n_light)]
    return heavy + light


def test_composite_allows_five_query_or_collection_subrequests(org: Org) -> None:
    r = call(org, "POST", "/composite", {"compositeRequest": _subs(5, 20)})
    assert r.status == 200
    assert all(e["httpStatusCode"] == 200 for e in json.loads(r.body)["compositeResponse"])


def test_composite_refuses_a_sixth_query_or_collection_subrequest(org: Org) -> None:
    subs = [*_subs(5, 0), {"method": "POST", "url": f"{B}/composite/sobjects",
                           "referenceId": "c", "body": {"records": []}}]
    before = org.query("SELECT COUNT() FROM Account")["totalSize"]
    r = call(org, "POST", "/composite", {"compositeRequest": subs})
    assert r.status == 400 and err(r)["errorCode"] == "LIMIT_EXCEEDED"
    assert org.query("SELECT COUNT() FROM Account")["totalSize"] == before


# --- nextRecordsUrl carries the request's version ---------------------------------------

def test_next_records_url_uses_the_request_version(org: Org) -> None:
    org.insert("Account", [{"Name": f"A{i}"} for i in range(450)])
    headers = {"Authorization": "Bearer " + sessions(org).create(),
               "Sforce-Query-Options": "batchSize=200"}
    v64 = "/services/data/v64.0"
    first = json.loads(handle(org, Request("GET", v64 + "/query", "q=SELECT+Id+FROM+Account",
                                           headers, b"", "https://x")).body)
    assert first["nextRecordsUrl"].startswith(v64 + "/query/01g")
    loc = first["nextRecordsUrl"][len(v64):]
    # the same cursor read through v61.0 continues in v61.0
    more = json.loads(handle(org, Request("GET", "/services/data/v61.0" + loc, "", headers,
                                          b"", "https://x")).body)
    assert more["nextRecordsUrl"].startswith("/services/data/v61.0/query/01g")


# --- JWT bearer grant -------------------------------------------------------------------

def _grant(org: Org, assertion: str) -> Response:
    form = f"grant_type={JWT_GRANT}&assertion={assertion}".encode()
    return handle(org, Request("POST", "/services/oauth2/token", "",
                               {"Content-Type": "application/x-www-form-urlencoded"}, form,
                               "https://sim.my.salesforce.com"))


def _claims(org: Org, **over: Any) -> dict[str, Any]:
    s = sessions(org)
    claims = {"iss": s.consumer_key, "sub": s.username, "aud": "https://login.salesforce.com",
              "exp": str(int(org.clock.time()) + 180)}
    claims.update(over)
    return claims


def test_jwt_signed_with_the_connected_app_key_gets_a_session(org: Org) -> None:
    key, _cert = sessions(org).jwt_key_pair()
    r = _grant(org, jwt.encode(_claims(org), key, algorithm="RS256"))
    assert r.status == 200 and json.loads(r.body)["access_token"]


@pytest.mark.parametrize("forgery", ["none", "random-key", "hs256", "expired",
                                     "wrong-audience", "no-exp"])
def test_forged_jwt_assertions_are_invalid_grant(org: Org, forgery: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key, _cert = sessions(org).jwt_key_pair()
    claims = _claims(org)
    if forgery == "none":
        token = jwt.encode(claims, "", algorithm="none")
    elif forgery == "random-key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = other.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
        token = jwt.encode(claims, pem, algorithm="RS256")
    elif forgery == "hs256":
        token = jwt.encode(claims, sessions(org).consumer_secret * 2, algorithm="HS256")
    elif forgery == "expired":
        claims["exp"] = int(org.clock.time()) - 365 * 24 * 3600
        token = jwt.encode(claims, key, algorithm="RS256")
    elif forgery == "no-exp":
        del claims["exp"]
        token = jwt.encode(claims, key, algorithm="RS256")
    else:
        claims["aud"] = "https://evil.example.com"
        token = jwt.encode(claims, key, algorithm="RS256")
    r = _grant(org, token)
    assert r.status == 400
    body = json.loads(r.body)
    assert body["error"] == "invalid_grant"
    expected = {"expired": "expired authorization code",
                "wrong-audience": "audience is invalid"}.get(forgery, "invalid assertion")
    assert body["error_description"] == expected
    assert len(sessions(org)) == 0


def test_jwt_expiry_is_read_on_the_sim_clock(org: Org) -> None:
    key, _cert = sessions(org).jwt_key_pair()
    token = jwt.encode(_claims(org), key, algorithm="RS256")  # exp = now + 180 s
    org.clock.advance(181)
    assert json.loads(_grant(org, token).body)["error_description"] == \
        "expired authorization code"


# --- serve: credentials and key files ---------------------------------------------------

def _serve_args(**over: Any) -> argparse.Namespace:
    base = dict(org_file=None, scenario="small", records=5, seed=0, edition="enterprise",
                licenses=300, host="127.0.0.1", port=0, credentials="random",
                jwt_cert=None, max_open_cursors=None, no_concurrency_limit=False)
    base.update(over)
    return argparse.Namespace(**base)


def _run_serve(args: argparse.Namespace, capsys: pytest.CaptureFixture[str]
               ) -> dict[str, str]:
    from sforg_sim.cli.serve import run

    stop = threading.Event()
    t = threading.Thread(target=run, args=(args, stop))
    t.start()
    deadline = time.monotonic() + 60
    out = ""
    while "# serving" not in out and time.monotonic() < deadline:
        time.sleep(0.1)
        out += capsys.readouterr().out
    stop.set()
    t.join(30)
    found: dict[str, str] = {}
    for line in out.splitlines():
        for part in line.lstrip("# ").split():
            k, sep, v = part.partition("=")
            if sep and k.isupper():
                found[k] = v
    return found


def test_serve_makes_random_credentials_and_a_jwt_key_pair(
        capsys: pytest.CaptureFixture[str]) -> None:
    a = _run_serve(_serve_args(), capsys)
    b = _run_serve(_serve_args(), capsys)
    assert a["SF_PASSWORD"] != DEFAULT_PASSWORD and a["SF_PASSWORD"] != b["SF_PASSWORD"]
    assert a["SF_SECURITY_TOKEN"] != DEFAULT_TOKEN
    assert a["SF_CLIENT_SECRET"] != b["SF_CLIENT_SECRET"]
    assert a["SF_JWT_KEY_FILE"].endswith(".pem") and a["SF_JWT_CERT_FILE"].endswith(".pem")
    fixed = _run_serve(_serve_args(credentials="fixed"), capsys)
    assert (fixed["SF_PASSWORD"], fixed["SF_SECURITY_TOKEN"]) == (DEFAULT_PASSWORD,
                                                                  DEFAULT_TOKEN)


def test_server_key_file_signs_assertions_the_server_accepts(org: Org) -> None:
    with serve(org) as server:
        key = Path(server.jwt_key_path).read_bytes()
        assert b"PRIVATE KEY" in key
        assert b"CERTIFICATE" in Path(server.jwt_cert_path).read_bytes()
        token = jwt.encode(_claims(org, aud=server.instance_url + "/x.salesforce.com"),
                           key, algorithm="RS256")
        r = requests.post(server.instance_url + "/services/oauth2/token",
                          data={"grant_type": JWT_GRANT, "assertion": token},
                          verify=server.ca_bundle_path, timeout=30)
        assert r.status_code == 200, r.text


# --- bounded resources ------------------------------------------------------------------

class FakeWall:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_cursors_expire_on_wall_time_while_serving_even_if_the_sim_clock_stands(
        org: Org) -> None:
    org.insert("Account", [{"Name": f"A{i}"} for i in range(2100)])
    wall = FakeWall()
    org.soql.cursors.wall = wall
    body = org.query("SELECT Id FROM Account")
    assert len(org.soql.cursors) == 1
    wall.t += CURSOR_LIFETIME
    from sforg_sim.errors import InvalidQueryLocator

    with pytest.raises(InvalidQueryLocator):
        org.query_more(body["nextRecordsUrl"])
    assert len(org.soql.cursors) == 0


def test_open_cursor_cap_is_opt_in_and_releases_the_oldest(org: Org) -> None:
    org.insert("Account", [{"Name": f"A{i}"} for i in range(2100)])
    bodies = [org.query("SELECT Id FROM Account") for _ in range(3)]
    assert len(org.soql.cursors) == 3  # no cap by default (API v56.0+)
    org.soql.cursors.max_open = 2
    org.query("SELECT Id FROM Account")
    assert len(org.soql.cursors) == 2
    from sforg_sim.errors import InvalidQueryLocator

    with pytest.raises(InvalidQueryLocator):
        org.query_more(bodies[0]["nextRecordsUrl"])
    assert org.query_more(bodies[2]["nextRecordsUrl"])["records"]


def _query_job(org: Org) -> str:
    r = call(org, "POST", "/jobs/query", {"operation": "query",
                                          "query": "SELECT Id, Name FROM Account"})
    job = str(json.loads(r.body)["id"])
    call(org, "GET", f"/jobs/query/{job}")
    return job


def test_bulk_query_results_live_on_disk_and_page_from_there(org: Org) -> None:
    org.insert("Account", [{"Name": f"A{i}"} for i in range(2500)])
    job = _query_job(org)
    stored = jobs_of(org).jobs[job]
    assert stored.rows is not None and stored.rows.count == stored.processed
    files = stored.files()
    assert files and all(p.exists() for p in files)
    assert all(jobs_of(org).directory in p.parents for p in files)
    got: list[str] = []
    loc = ""
    while True:
        r = call(org, "GET", f"/jobs/query/{job}/results",
                 qs="maxRecords=1000" + (f"&locator={loc}" if loc else ""))
        lines = r.body.decode().splitlines()
        assert lines[0] == '"Id","Name"'
        assert int(r.headers["Sforce-NumberOfRecords"]) == len(lines) - 1
        got += lines[1:]
        loc = r.headers["Sforce-Locator"]
        if loc == "null":
            break
    assert len(got) == stored.processed == len(set(got))
    assert call(org, "DELETE", f"/jobs/query/{job}").status == 204
    assert not any(p.exists() for p in files)


@pytest.mark.parametrize("clock", ["sim", "wall"])
def test_terminal_bulk_jobs_are_deleted_after_seven_days(org: Org, clock: str) -> None:
    wall = FakeWall()
    jobs_of(org).wall = wall
    job = _query_job(org)
    files = jobs_of(org).jobs[job].files()
    if clock == "sim":
        org.clock.advance(RESULTS_LIFESPAN - 1)
    else:
        wall.t += RESULTS_LIFESPAN - 1
    assert call(org, "GET", f"/jobs/query/{job}").status == 200
    if clock == "sim":
        org.clock.advance(1)
    else:
        wall.t += 1
    assert call(org, "GET", f"/jobs/query/{job}").status == 404
    assert not any(p.exists() for p in files)


# --- the HTTPS server: chunked bodies, concurrent long-running requests -----------------

def test_server_reads_chunked_request_bodies(org: Org) -> None:
    with serve(org) as server:
        def chunks() -> Iterator[bytes]:
            yield b'{"Name": '
            yield b'"Chunked Corp"}'
        r = requests.post(server.instance_url + B + "/sobjects/Account", data=chunks(),
                          headers={"Authorization": "Bearer " + server.access_token,
                                   "Content-Type": "application/json"},
                          verify=server.ca_bundle_path, timeout=30)
        assert r.request.headers.get("Transfer-Encoding") == "chunked"
        assert r.status_code == 201, r.text
    assert org.query("SELECT Name FROM Account WHERE Name = 'Chunked Corp'")["totalSize"] == 1


def test_long_running_requests_model() -> None:
    wall = FakeWall()
    lr = LongRunningRequests(2, clock=wall)
    t1, t2 = lr.admit(), lr.admit()
    wall.t += 19.9
    lr.admit()  # none has run 20 s yet
    wall.t += 0.1
    with pytest.raises(RequestLimitExceeded) as e:
        lr.admit()
    assert e.value.message == CONCURRENT_REQUESTS_MESSAGE != TOTAL_REQUESTS_MESSAGE
    assert e.value.status == 403
    lr.done(t1)
    lr.admit()  # one long-running request left: below the limit again
    lr.report(t2, 0.0)


def test_server_answers_concurrent_limit_with_its_own_message(org: Org) -> None:
    wall = FakeWall()
    with serve(org) as server:
        server.long_running = LongRunningRequests(1, clock=wall)
        server.long_running.admit()  # a request still running ...
        wall.t += 20  # ... for 20 s
        r = requests.get(server.instance_url + B + "/limits",
                         headers={"Authorization": "Bearer " + server.access_token},
                         verify=server.ca_bundle_path, timeout=30)
    assert r.status_code == 403
    assert r.json() == [{"message": CONCURRENT_REQUESTS_MESSAGE,
                         "errorCode": "REQUEST_LIMIT_EXCEEDED", "fields": []}]
    assert org.org_limits.api_used() == 0  # refused before it was counted


def test_server_limit_is_off_when_asked(org: Org) -> None:
    with serve(org, concurrency_limit=False) as server:
        assert server.long_running is None


@pytest.mark.parametrize("soql", ["SELECT Id FROM Account LIMIT " + "9" * 5000,
                                  "SELECT Id FROM Account WHERE NumberOfEmployees = "
                                  + "9" * 5000])
def test_soql_integer_past_pythons_digit_limit_is_a_query_error(org: Org, soql: str) -> None:
    from urllib.parse import quote

    r = call(org, "GET", "/query", qs="q=" + quote(soql))
    assert r.status == 400, r.body[:200]
    assert err(r)["errorCode"] in ("MALFORMED_QUERY", "NUMBER_OUTSIDE_VALID_RANGE")
