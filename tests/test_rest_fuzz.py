"""Random paths, methods, headers and bodies: the REST surface never answers 500.

Requests go straight into ``dispatch.handle`` (the code both adapters call), so hypothesis
can try many shapes quickly; a short run through ``mock_org`` covers the adapter glue.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sforg_sim import Org
from sforg_sim.rest import mock_org
from sforg_sim.rest.auth import sessions
from sforg_sim.rest.dispatch import handle
from sforg_sim.rest.messages import Request

SEGMENTS = ["services", "data", "v59.0", "v20.0", "v64.0", "sobjects", "Account",
            "Opportunity", "External_ID__c", "describe", "query", "queryAll", "composite",
            "jobs", "ingest", "query", "results", "batches", "limits", "tooling",
            "successfulResults", "0015j0000000001AAA", "0065j0000000001AAA", "updated",
            "deleted", "oauth2", "token", "userinfo", "Soap", "u", "%2F", "..", "", "x y"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["Name", "Id", "records", "attributes", "type",
                                       "allOrNone", "compositeRequest", "method", "url",
                                       "referenceId", "body", "operation", "object",
                                       "query", "state", "StageName", "CloseDate",
                                       "externalIdFieldName", "ids", "fields"]) | st.text(),
                      inner, max_size=5),
    max_leaves=12)

bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"", b"{", b"[]", b"Name,Industry\nA,B\n", b"\xff\xfe",
                     b'{"records": [{"attributes": {"type": "Account"}, "Name": "x"}]}',
                     b'{"operation": "insert", "object": "Account"}',
                     b'{"operation": "query", "query": "SELECT Id FROM Account"}',
                     b'{"state": "UploadComplete"}']))

paths = st.one_of(
    st.lists(st.sampled_from(SEGMENTS), min_size=0, max_size=7).map(
        lambda s: "/" + "/".join(s)),
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4).map(
        lambda s: "/services/data/v59.0/" + "/".join(s)),
    st.text(max_size=40).map(lambda t: "/services/data/v59.0/" + t),
)

queries = st.one_of(
    st.just(""),
    st.text(max_size=30).map(lambda t: "q=" + t),
    st.sampled_from(["q=SELECT+Id+FROM+Account", "q=SELECT", "ids=a,b&allOrNone=true",
                     "fields=Name,Bogus", "maxRecords=-1&locator=%%%", "start=x&end=y",
                     "q=SELECT+Id+FROM+Nope__c", "maxRecords=abc"]))


@pytest.fixture(scope="module")
def org() -> Iterator[Org]:
    o = Org()
    o.load_scenario("small", records=40)
    yield o
    o.close()


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS",
                               "TRACE"]),
       path=paths, query=queries, body=bodies,
       content_type=st.sampled_from(["application/json", "text/csv", "text/plain", "",
                                     "text/xml", "application/x-www-form-urlencoded"]),
       authed=st.booleans())
def test_dispatch_never_answers_500(org: Org, method: str, path: str, query: str,
                                    body: bytes, content_type: str, authed: bool) -> None:
    headers = {"Content-Type": content_type, "SOAPAction": "login"}
    if authed:
        headers["Authorization"] = "Bearer " + sessions(org).create()
    resp = handle(org, Request(method, path, query, headers, body,
                               "https://sim.my.salesforce.com"))
    assert resp.status != 500 or "Soap" in path, (resp.status, resp.body[:300])
    assert resp.status in (200, 201, 204, 300, 400, 401, 403, 404, 405, 409, 415, 500)
    if resp.status >= 400 and method != "HEAD" and "Soap" not in path \
            and "oauth2/token" not in path:
        err = json.loads(resp.body)
        assert isinstance(err, list) and {"message", "errorCode"} <= set(err[0])
        assert err[0]["errorCode"] != "UNKNOWN_EXCEPTION"


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT"]), path=paths,
       body=bodies)
def test_mock_adapter_never_answers_500(org: Org, method: str, path: str,
                                        body: bytes) -> None:
    with mock_org(org) as sim:
        try:
            r = requests.request(method, "https://sim.my.salesforce.com" + path, data=body,
                                 headers={"Authorization": f"Bearer {sim.session_id}",
                                          "Content-Type": "application/json"})
        except requests.exceptions.ConnectionError as e:  # a path outside the surface
            assert "is not simulated" in str(e)
            return
    assert r.status_code != 500, r.text[:300]
