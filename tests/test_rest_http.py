"""Plain-requests tests: exact response shapes, status codes and headers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

from sforg_sim import Org
from sforg_sim.rest import mock_org
from sforg_sim.rest.bulk2 import jobs_of
from sforg_sim.rest.mock import MockOrg, NotSimulated

BASE = "https://sim.my.salesforce.com/services/data/v59.0"


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org()
    yield o
    o.close()


@pytest.fixture
def sim(org: Org) -> Iterator[MockOrg]:
    with mock_org(org) as m:
        yield m


def _auth(sim: MockOrg, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.session_id}", **extra}


def _get(sim: MockOrg, path: str, **kw: Any) -> requests.Response:
    return requests.get(BASE + path, headers=_auth(sim), **kw)


def _usage(resp: requests.Response) -> int:
    m = re.fullmatch(r"api-usage=(\d+)/440000", resp.headers["Sforce-Limit-Info"])
    assert m, resp.headers
    return int(m.group(1))


def _opp(i: int) -> dict[str, Any]:
    return {"Name": f"O{i}", "StageName": "Prospecting", "CloseDate": "2026-02-01",
            "External_ID__c": f"externalOpp{i:07d}"}


def test_versions_are_uncounted_and_carry_no_limit_header(sim: MockOrg, org: Org) -> None:
    r = requests.get("https://sim.my.salesforce.com/services/data/")
    assert r.status_code == 200 and "Sforce-Limit-Info" not in r.headers
    versions = [v["version"] for v in r.json()]
    assert versions[0] == "50.0" and "59.0" in versions
    assert r.json()[9] == {"label": "Winter '24", "url": "/services/data/v59.0",
                           "version": "59.0"}
    assert org.org_limits.api_used() == 0


def test_every_counted_response_carries_usage_including_errors(sim: MockOrg) -> None:
    first = _get(sim, "/limits/")
    missing = _get(sim, "/sobjects/Opportunity/0065j0000000099AAA")
    assert missing.status_code == 404
    assert (_usage(first), _usage(missing)) == (1, 2)
    assert first.headers["Content-Type"].startswith("application/json")


def test_unauthenticated_is_401_list_body_and_uncounted(sim: MockOrg, org: Org) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        r = requests.get(BASE + "/limits", headers=headers)
        assert r.status_code == 401
        assert r.json() == [{"message": "Session expired or invalid",
                             "errorCode": "INVALID_SESSION_ID", "fields": []}]
    assert org.org_limits.api_used() == 0


def test_unknown_route_version_and_method(sim: MockOrg) -> None:
    not_found = [{"message": "The requested resource does not exist",
                  "errorCode": "NOT_FOUND", "fields": []}]
    assert _get(sim, "/nothing/here").json() == not_found
    old = requests.get(BASE.replace("v59.0", "v49.0") + "/limits", headers=_auth(sim))
    assert (old.status_code, old.json()) == (404, not_found)
    r = requests.delete(BASE + "/limits", headers=_auth(sim))
    assert r.status_code == 405
    assert r.json()[0] == {"message": "HTTP Method 'DELETE' not allowed. Allowed are HEAD,GET",
                           "errorCode": "METHOD_NOT_ALLOWED", "fields": []}
    r = requests.put(BASE + "/sobjects/Account/0015j0000000001AAA", headers=_auth(sim))
    assert "Allowed are HEAD,GET,PATCH,DELETE" in r.json()[0]["message"]
    head = requests.head(BASE + "/limits", headers=_auth(sim))
    assert head.status_code == 200 and head.content == b""


def test_malformed_json_wrong_type_and_oversize_collection(sim: MockOrg, org: Org) -> None:
    h = _auth(sim, **{"Content-Type": "application/json"})
    r = requests.post(BASE + "/sobjects/Account", data="{'Name': 1", headers=h)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert "[line:1, column:2]" in r.json()[0]["message"]
    r = requests.post(BASE + "/sobjects/Account", data="[1]", headers=h)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    r = requests.post(BASE + "/sobjects/Account", data="Name=x",
                      headers=_auth(sim, **{"Content-Type": "text/plain"}))
    assert r.status_code == 415 and r.json()[0]["errorCode"] == "UNSUPPORTED_MEDIA_TYPE"
    r = requests.post(BASE + "/sobjects/Account", json={"Name": "x", "Bogus__c": 1},
                      headers=_auth(sim))
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"
    assert r.json()[0]["fields"] == ["Bogus__c"]
    records = [{"attributes": {"type": "Account"}, "Name": str(i)} for i in range(201)]
    r = requests.post(BASE + "/composite/sobjects", json={"records": records},
                      headers=_auth(sim))
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    ids = ",".join(["0015j0000000001AAA"] * 201)
    r = requests.delete(BASE + "/composite/sobjects", params={"ids": ids}, headers=_auth(sim))
    assert r.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    subs = [{"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": f"r{i}"}
            for i in range(26)]
    r = requests.post(BASE + "/composite", json={"compositeRequest": subs}, headers=_auth(sim))
    assert r.status_code == 400 and "25" in r.json()[0]["message"]
    assert org.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_create_get_shapes_and_upsert_status_codes(sim: MockOrg) -> None:
    r = requests.post(BASE + "/sobjects/Opportunity/", json=_opp(1), headers=_auth(sim))
    assert r.status_code == 201
    rid = r.json()["id"]
    assert r.json() == {"id": rid, "success": True, "errors": []}
    got = _get(sim, f"/sobjects/Opportunity/{rid}", params={"fields": "Name"}).json()
    assert got == {"attributes": {"type": "Opportunity",
                                  "url": f"/services/data/v59.0/sobjects/Opportunity/{rid}"},
                   "Name": "O1"}
    url = BASE + "/sobjects/Opportunity/External_ID__c/externalOpp0000002"
    created = requests.patch(url, json={k: v for k, v in _opp(2).items()
                                        if k != "External_ID__c"}, headers=_auth(sim))
    assert created.status_code == 201 and created.json()["created"] is True
    updated = requests.patch(url, json={"Name": "x"}, headers=_auth(sim))
    assert updated.status_code == 200 and updated.json()["created"] is False
    patched = requests.patch(BASE + f"/sobjects/Opportunity/{rid}", json={"Name": "y"},
                             headers=_auth(sim))
    assert patched.status_code == 204 and patched.content == b""
    bogus = _get(sim, "/sobjects/Opportunity/notAnId")
    assert bogus.status_code == 404
    assert "Provided external ID field does not exist" in bogus.json()[0]["message"]


def test_upsert_with_two_matches_is_300_and_changes_nothing(sim: MockOrg, org: Org) -> None:
    org.add_field("Account", "Legacy_Id__c", "string", length=40, external_id=True)
    res = org.insert("Account", [{"Name": "a", "Legacy_Id__c": "L"},
                                 {"Name": "b", "Legacy_Id__c": "L"}])
    r = requests.patch(BASE + "/sobjects/Account/Legacy_Id__c/L", json={"Name": "z"},
                       headers=_auth(sim))
    assert r.status_code == 300
    assert sorted(r.json()) == sorted(
        f"/services/data/v59.0/sobjects/Account/{x['id']}" for x in res)
    assert org.query("SELECT COUNT() FROM Account WHERE Name = 'z'")["totalSize"] == 0


def test_composite_all_or_none_halts_and_rolls_back(sim: MockOrg, org: Org) -> None:
    body = {"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account",
         "referenceId": "a", "body": {"Name": "kept?"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account",
         "referenceId": "b", "body": {}},
        {"method": "GET", "url": "/services/data/v59.0/sobjects/Account/@{a.id}",
         "referenceId": "c"}]}
    r = requests.post(BASE + "/composite", json=body, headers=_auth(sim))
    out = r.json()["compositeResponse"]
    assert [e["httpStatusCode"] for e in out] == [400, 400, 400]
    assert [e["body"][0]["errorCode"] for e in out] == [
        "PROCESSING_HALTED", "REQUIRED_FIELD_MISSING", "PROCESSING_HALTED"]
    assert org.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    assert _usage(r) == 1


def test_bulk2_raw_headers_locator_and_polling(sim: MockOrg, org: Org) -> None:
    org.insert("Opportunity", [_opp(i) for i in range(1, 6)])
    jobs_of(org).polls_before_complete = 1
    job = requests.post(BASE + "/jobs/query", json={
        "operation": "query", "query": "SELECT Id, Name FROM Opportunity"},
        headers=_auth(sim)).json()
    assert job["state"] == "UploadComplete"
    url = f"{BASE}/jobs/query/{job['id']}"
    assert requests.get(url, headers=_auth(sim)).json()["state"] == "InProgress"
    assert requests.get(url, headers=_auth(sim)).json()["state"] == "JobComplete"
    page = requests.get(url + "/results", params={"maxRecords": 2}, headers=_auth(sim))
    assert page.headers["Sforce-NumberOfRecords"] == "2"
    assert page.headers["Content-Type"] == "text/csv; charset=UTF-8"
    assert page.text.splitlines()[0] == '"Id","Name"'
    seen = page.text.splitlines()[1:]
    loc = page.headers["Sforce-Locator"]
    while loc != "null":
        page = requests.get(url + "/results", params={"maxRecords": 2, "locator": loc},
                            headers=_auth(sim))
        seen += page.text.splitlines()[1:]
        loc = page.headers["Sforce-Locator"]
    assert len(seen) == len(set(seen)) == 5
    bad = requests.post(BASE + "/jobs/query", json={
        "operation": "query", "query": "SELECT Id FROM Opportunity ORDER BY Name"},
        headers=_auth(sim))
    assert bad.status_code == 400 and "ORDER BY" in bad.json()[0]["message"]


def test_bulk2_ingest_raw_flow(sim: MockOrg, org: Org) -> None:
    job = requests.post(BASE + "/jobs/ingest", json={
        "operation": "insert", "object": "Account", "contentType": "CSV",
        "lineEnding": "LF", "columnDelimiter": "COMMA"}, headers=_auth(sim)).json()
    assert job["state"] == "Open"
    url = f"{BASE}/jobs/ingest/{job['id']}"
    put = requests.put(url + "/batches", data="Name,Industry\nAcme,Energy\n,Retail\n",
                       headers=_auth(sim, **{"Content-Type": "text/csv"}))
    assert put.status_code == 201
    closed = requests.patch(url, json={"state": "UploadComplete"}, headers=_auth(sim))
    assert closed.json()["state"] == "UploadComplete"
    again = requests.put(url + "/batches", data="Name\nx\n",
                         headers=_auth(sim, **{"Content-Type": "text/csv"}))
    assert again.status_code == 409
    info = requests.get(url, headers=_auth(sim)).json()
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == \
        ("JobComplete", 2, 1)
    failed = requests.get(url + "/failedResults", headers=_auth(sim)).text.splitlines()
    assert failed[0] == '"sf__Id","sf__Error","Name","Industry"'
    assert "REQUIRED_FIELD_MISSING" in failed[1]
    unknown = requests.post(BASE + "/jobs/ingest", json={
        "operation": "insert", "object": "Account"}, headers=_auth(sim)).json()
    u = f"{BASE}/jobs/ingest/{unknown['id']}"
    requests.put(u + "/batches", data="Nope__c\n1\n",
                 headers=_auth(sim, **{"Content-Type": "text/csv"}))
    requests.patch(u, json={"state": "UploadComplete"}, headers=_auth(sim))
    info = requests.get(u, headers=_auth(sim)).json()
    assert info["state"] == "Failed" and "Field name not found : Nope__c" in \
        info["errorMessage"]


def test_soap_fault_and_oauth_error_bodies(sim: MockOrg) -> None:
    r = requests.post("https://login.salesforce.com/services/Soap/u/59.0",
                      data="<x><login><username>u</username><password>p</password></login></x>",
                      headers={"SOAPAction": "login", "Content-Type": "text/xml"})
    assert r.status_code == 500
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in r.text
    r = requests.post("https://login.salesforce.com/services/oauth2/token",
                      data={"grant_type": "magic"})
    assert (r.status_code, r.json()) == (400, {"error": "unsupported_grant_type",
                                               "error_description": "grant type not supported"})
    info = requests.get("https://sim.my.salesforce.com/services/oauth2/userinfo",
                        headers=_auth(sim)).json()
    assert info["preferred_username"] == sim.username


def test_mock_nests_with_other_responses_users(org: Org) -> None:
    with responses.RequestsMock() as outer:
        outer.add(responses.GET, "https://example.com/ping", json={"pong": True})
        with mock_org(org) as sim:
            assert requests.get("https://example.com/ping").json() == {"pong": True}
            assert requests.get(BASE + "/limits", headers=_auth(sim)).status_code == 200
            with pytest.raises(NotSimulated, match=r"POST /services/apexrest/x is not "
                                                   r"simulated"):
                requests.post("https://sim.my.salesforce.com/services/apexrest/x")
        assert [(r.method, r.path, r.status) for r in sim.requests] == [
            ("GET", "/services/data/v59.0/limits", 200)]


def test_decorator_and_start_stop(org: Org) -> None:
    sim = mock_org(org)

    @sim
    def call() -> int:
        return requests.get(BASE + "/limits", headers=_auth(sim)).status_code

    assert call() == 200
    sim.start()
    try:
        assert requests.get(BASE + "/sobjects", headers=_auth(sim)).json()["maxBatchSize"] \
            == 200
    finally:
        sim.stop()
    assert responses.mock is not None  # stop() restored whatever was there before
    assert sim._mock is None
    assert json.loads(json.dumps([r.path for r in sim.requests])) == [
        "/services/data/v59.0/limits", "/services/data/v59.0/sobjects"]


def test_updated_and_deleted_windows(sim: MockOrg, org: Org) -> None:
    [acc] = org.insert("Account", [{"Name": "early"}])
    org.clock.advance(3600)
    [late] = org.insert("Account", [{"Name": "late"}])
    org.delete("Account", [acc["id"]])
    window = {"start": "2026-01-05T02:30:00+00:00", "end": "2026-01-05T04:00:00+00:00"}
    upd = _get(sim, "/sobjects/Account/updated/", params=window).json()
    assert upd["ids"] == [late["id"]]  # deleted rows are listed by /deleted, not /updated
    gone = _get(sim, "/sobjects/Account/deleted/", params=window).json()
    assert [d["id"] for d in gone["deletedRecords"]] == [acc["id"]]
    early = _get(sim, "/sobjects/Account/updated", params={
        "start": "2026-01-05T01:00:00+00:00", "end": "2026-01-05T02:10:00+00:00"}).json()
    assert early["ids"] == []


def test_two_orgs_on_one_instance_host_are_refused_with_a_reason(org: Org) -> None:
    # Nested mock_orgs for two Orgs on the same instance URL: the inner one would answer
    # for both and the outer org's sessions would fail as invalid. Say so at start().
    other = Org()
    with mock_org(org) as sim:
        with pytest.raises(ValueError, match="already served by another running mock_org"):
            mock_org(other).start()
        second = Org(instance_url="https://second.my.salesforce.com")
        with mock_org(second) as sim2:
            assert requests.get("https://second.my.salesforce.com/services/data/v59.0/limits",
                                headers=_auth(sim2)).status_code == 200
            assert requests.get(BASE + "/limits", headers=_auth(sim)).status_code == 200
        with mock_org(org):  # the same Org twice is fine
            assert requests.get(BASE + "/limits", headers=_auth(sim)).status_code == 200
    with mock_org(other) as sim3:  # once the first has stopped, the host is free
        assert requests.get(BASE + "/limits", headers=_auth(sim3)).status_code == 200
