"""Fuzz classes from issue 14's probes: lone surrogates, deep and wide JSON, huge numbers,
chunked bodies. Every answer is a well-formed error or a success, never a 500.

Modest example counts keep the suite fast; ``benchmarks/fuzz_server.py`` runs the same
classes by the thousand against ``sforg-sim serve``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sforg_sim import Org
from sforg_sim.rest import serve
from sforg_sim.rest.auth import sessions
from sforg_sim.rest.dispatch import handle
from sforg_sim.rest.messages import Request

B = "/services/data/v59.0"
PATHS = [f"{B}/sobjects/Account", f"{B}/sobjects/Opportunity/External_ID__c/x1",
         f"{B}/composite", f"{B}/composite/sobjects", f"{B}/composite/sobjects/Account",
         f"{B}/jobs/ingest", f"{B}/jobs/query"]
KEYS = ["Name", "records", "attributes", "type", "compositeRequest", "method", "url",
        "referenceId", "body", "operation", "object", "query", "ids", "fields"]

surrogates = st.sampled_from(["\ud800", "x\udfff", "\udc00\ud800", "ok\ud83d"])
texts = st.one_of(st.text(max_size=20), surrogates)
huge = st.integers(min_value=4200, max_value=9000).map(lambda n: "9" * n)


def _deep(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else (
        '{"a":' * depth + "1" + "}" * depth)


bodies = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(KEYS), surrogates), texts, max_size=4).map(
        lambda d: json.dumps(d).encode()),
    huge.map(lambda n: ('{"Name": ' + n + "}").encode()),
    huge.map(lambda n: ('{"records": [' + n + "]}").encode()),
    st.tuples(st.integers(100, 3000), st.sampled_from(["list", "dict"])).map(
        lambda t: _deep(*t).encode()),
    st.integers(1, 3000).map(lambda n: json.dumps(
        {"compositeRequest": [{"method": "GET", "url": f"{B}/limits", "referenceId": f"r{i}"}
                              for i in range(n % 40)], "records": list(range(n))}).encode()),
    st.sampled_from([b'{"query": "SELECT Id FROM Account WHERE ' + b"(" * 300
                     + b"Name = 'a'" + b")" * 300 + b'", "operation": "query"}',
                     b'{"Name": 1e999999}', b'{"Name": -0.0e-99999}',
                     b'{"Nam\\udc00e": "x"}', b'{"\\ud800": 1, "Name": "\\udfff"}']),
)


@pytest.fixture(scope="module")
def org() -> Iterator[Org]:
    o = Org()
    o.load_scenario("small", records=20)
    yield o
    o.close()


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), method=st.sampled_from(["POST", "PATCH"]), body=bodies)
def test_hostile_json_bodies_never_answer_500(org: Org, path: str, method: str,
                                              body: bytes) -> None:
    headers = {"Authorization": "Bearer " + sessions(org).create(),
               "Content-Type": "application/json"}
    resp = handle(org, Request(method, path, "", headers, body, "https://sim"))
    assert resp.status < 500, resp.body[:300]
    text = resp.body.decode("utf-8")  # always valid UTF-8 on the wire
    if resp.status >= 400:
        err = json.loads(text)
        assert isinstance(err, list) and err[0]["errorCode"] != "UNKNOWN_EXCEPTION"


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(field=st.one_of(surrogates, st.text(max_size=5)), value=texts)
def test_bulk_ingest_with_surrogates_never_answers_500(org: Org, field: str,
                                                        value: str) -> None:
    headers = {"Authorization": "Bearer " + sessions(org).create(),
               "Content-Type": "application/json"}
    made = handle(org, Request("POST", f"{B}/jobs/ingest", "", headers,
                               b'{"operation": "insert", "object": "Account"}', "x"))
    job = json.loads(made.body)["id"]
    csv = f"Name,{field}\n{value},{value}\n".encode("utf-8", "surrogatepass")
    for method, path, body, ct in (
            ("PUT", f"/jobs/ingest/{job}/batches", csv, "text/csv"),
            ("PATCH", f"/jobs/ingest/{job}", b'{"state": "UploadComplete"}', "application/json"),
            ("GET", f"/jobs/ingest/{job}", b"", ""),
            ("GET", f"/jobs/ingest/{job}/successfulResults", b"", ""),
            ("GET", f"/jobs/ingest/{job}/failedResults", b"", ""),
            ("GET", f"/jobs/ingest/{job}/unprocessedrecords", b"", "")):
        resp = handle(org, Request(method, B + path, "", {**headers, "Content-Type": ct},
                                   body, "x"))
        assert resp.status < 500, (path, resp.body[:300])


def test_chunked_bodies_through_the_server_never_answer_500(org: Org) -> None:
    samples = [b'{"Name": "\\ud800"}', b'{"Name": ' + b"9" * 5000 + b"}",
               b"[" * 3000 + b"]" * 3000, b'{"Nam\\udc00e": 1}', b"{", b""]
    with serve(org) as server:
        s = server.http_session()
        for body in samples:
            def gen(b: bytes = body) -> Iterator[bytes]:
                yield from (b[i:i + 700] for i in range(0, len(b), 700))
            r = s.post(server.instance_url + f"{B}/sobjects/Account", data=gen(),
                       headers={"Authorization": "Bearer " + server.access_token,
                                "Content-Type": "application/json"}, timeout=30)
            assert r.status_code < 500, r.text[:300]
            if body:
                assert r.json()[0]["errorCode"] != "JSON_PARSER_ERROR" or body in (
                    b"{", b'{"Name": ' + b"9" * 5000 + b"}", b"[" * 3000 + b"]" * 3000)
