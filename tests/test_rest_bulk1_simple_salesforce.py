"""Bulk API 1.0 (``/services/async/{version}``) through unmodified simple-salesforce's
``sf.bulk`` (issue 19, item d), against ``mock_org`` and the HTTPS server, plus its error
format and accounting through raw HTTP.

Sources: *Bulk API 2.0 and Bulk API Developer Guide*, Bulk API part ("Add a Batch to a
Job", "Get Information for a Batch", "Get Batch Results", "Use Bulk Query", "Errors",
"HTTP Status Codes", "Bulk API Limits"); *Limits Quick Reference*, "Bulk API and Bulk
API 2.0 Limits and Allocations". See ``sforg_sim.rest.bulk1``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import simple_salesforce.bulk
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest

from sforg_sim import Org
from sforg_sim.rest import mock_org, serve
from sforg_sim.rest.auth import sessions
from sforg_sim.rest.bulk1 import bulk1_jobs

DAY = 24 * 3600.0


@dataclass
class Env:
    """One adapter: the org, its base URL, a token and an HTTP session."""

    kind: str
    org: Org
    instance_url: str
    token: str
    session: requests.Session

    def sf(self) -> Salesforce:
        """A bearer-token simple-salesforce client."""
        return Salesforce(instance_url=self.instance_url, session_id=self.token,
                          session=self.session)

    def raw(self, method: str, path: str, body: Any = None, *,
            token: str | None = "own", content_type: str = "application/json"
            ) -> requests.Response:
        """One Bulk 1.0 request as a client would send it (X-SFDC-Session)."""
        headers = {"Content-Type": content_type}
        if token is not None:
            headers["X-SFDC-Session"] = self.token if token == "own" else token
        data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        return self.session.request(method, f"{self.instance_url}/services/async/59.0/{path}",
                                    data=data, headers=headers, timeout=60)


@pytest.fixture(params=["mock", "server"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    org = Org()
    if request.param == "mock":
        with mock_org(org) as sim:
            yield Env("mock", org, sim.instance_url, sim.session_id, requests.Session())
    else:
        with serve(org) as server:
            yield Env("server", org, server.instance_url, server.access_token,
                      server.http_session())
    org.close()


@pytest.fixture
def mock_env() -> Iterator[Env]:
    org = Org()
    sessions(org).timeout = None  # the lifespan tests move the clock by days
    with mock_org(org) as sim:
        yield Env("mock", org, sim.instance_url, sim.session_id, requests.Session())
    org.close()


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(simple_salesforce.bulk, "sleep", slept.append)
    return slept


def _opp(i: int, **kw: Any) -> dict[str, Any]:
    return {"Name": f"Opp {i}", "StageName": "Prospecting", "CloseDate": "2026-02-01",
            "External_ID__c": f"externalOpp{i:07d}", **kw}


def _stages(org: Org) -> dict[str, str]:
    return {r["External_ID__c"]: r["StageName"] for r in
            org.query_records("SELECT External_ID__c, StageName FROM Opportunity")}


# --- simple-salesforce's sf.bulk ---------------------------------------------------------

def test_insert_update_upsert_delete_through_sf_bulk(env: Env) -> None:
    sf = env.sf()
    res = sf.bulk.Opportunity.insert([_opp(i) for i in range(1, 8)]
                                     + [{"Name": "no stage", "CloseDate": "2026-02-01"}],
                                     batch_size=3)
    assert [r["success"] for r in res] == [True] * 7 + [False]
    assert all(r["created"] for r in res[:7]) and not res[7]["created"]
    assert res[7]["id"] is None
    assert res[7]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert len(_stages(env.org)) == 7
    upd = sf.bulk.Opportunity.update([{"Id": res[0]["id"], "StageName": "Discovery"}])
    assert upd == [{"success": True, "created": False, "id": res[0]["id"], "errors": []}]
    ups = sf.bulk.Opportunity.upsert(
        [{"External_ID__c": "externalOpp0000002", "StageName": "Negotiation"},
         _opp(50)], external_id_field="External_ID__c")
    assert [(r["success"], r["created"]) for r in ups] == [(True, False), (True, True)]
    stages = _stages(env.org)
    assert (stages["externalOpp0000001"], stages["externalOpp0000002"]) == \
        ("Discovery", "Negotiation")
    gone = sf.bulk.Opportunity.delete([{"Id": res[5]["id"]}])
    hard = sf.bulk.Opportunity.hard_delete([{"Id": res[6]["id"]}])
    again = sf.bulk.Opportunity.delete([{"Id": res[5]["id"]}])
    assert gone[0]["success"] and hard[0]["success"] and not again[0]["success"]
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert len(_stages(env.org)) == 6


def test_query_and_query_all_through_sf_bulk(env: Env) -> None:
    sf = env.sf()
    env.org.insert("Opportunity", [_opp(i) for i in range(1, 6)])
    [doomed] = env.org.query_records(
        "SELECT Id FROM Opportunity WHERE External_ID__c = 'externalOpp0000005'")
    env.org.delete("Opportunity", [doomed["Id"]])
    rows = sf.bulk.Opportunity.query(
        "SELECT Id, External_ID__c FROM Opportunity ORDER BY External_ID__c")
    assert [r["External_ID__c"] for r in rows] == [f"externalOpp{i:07d}" for i in range(1, 5)]
    assert rows[0]["attributes"]["type"] == "Opportunity"
    every = sf.bulk.Opportunity.query_all("SELECT Id, IsDeleted FROM Opportunity")
    assert sorted(r["IsDeleted"] for r in every) == [False] * 4 + [True]


@pytest.mark.parametrize("soql, expect", [
    ("SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName", "GROUP BY"),
    ("SELECT Id FROM Opportunity OFFSET 5", "OFFSET"),
    ("SELECT Idd FROM Opportunity", "INVALID_FIELD"),
])
def test_refused_or_bad_query_fails_the_batch(mock_env: Env, soql: str, expect: str) -> None:
    with pytest.raises(SalesforceGeneralError) as e:
        mock_env.sf().bulk.Opportunity.query(soql)
    assert expect in str(e.value)


def test_batches_are_polled_until_completed(mock_env: Env, no_sleep: list[float]) -> None:
    bulk1_jobs(mock_env.org).polls_before_complete = 2
    res = mock_env.sf().bulk.Opportunity.insert([_opp(1)])
    assert res[0]["success"]
    assert no_sleep == [5, 5]                       # two InProgress answers, then Completed


# --- the resources and their errors, raw -------------------------------------------------

def _job(env: Env, **kw: Any) -> dict[str, Any]:
    r = env.raw("POST", "job", {"operation": "insert", "object": "Opportunity",
                                "contentType": "JSON", **kw})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_job_and_batch_info_shapes_and_states(mock_env: Env) -> None:
    bulk1_jobs(mock_env.org).polls_before_complete = 1
    job = _job(mock_env)
    assert job["state"] == "Open" and job["id"].startswith("750")
    assert job["concurrencyMode"] == "Parallel" and job["contentType"] == "JSON"
    b = mock_env.raw("POST", f"job/{job['id']}/batch", [_opp(1), _opp(2)]).json()
    assert b["state"] == "Queued" and b["jobId"] == job["id"] and b["id"].startswith("751")
    early = mock_env.raw("GET", f"job/{job['id']}/batch/{b['id']}/result")
    assert early.status_code == 400 and early.json()["exceptionCode"] == "InvalidBatch"
    states = [mock_env.raw("GET", f"job/{job['id']}/batch/{b['id']}").json()["state"]
              for _ in range(3)]
    assert states == ["InProgress", "Completed", "Completed"]
    listed = mock_env.raw("GET", f"job/{job['id']}/batch").json()["batchInfo"]
    assert [x["id"] for x in listed] == [b["id"]]
    info = mock_env.raw("GET", f"job/{job['id']}").json()
    assert (info["numberBatchesCompleted"], info["numberRecordsProcessed"]) == (1, 2)
    request = mock_env.raw("GET", f"job/{job['id']}/batch/{b['id']}/request").json()
    assert request == [_opp(1), _opp(2)]
    closed = mock_env.raw("POST", f"job/{job['id']}", {"state": "Closed"}).json()
    assert closed["state"] == "Closed"
    again = mock_env.raw("POST", f"job/{job['id']}/batch", [_opp(3)])
    assert again.json()["exceptionCode"] == "InvalidJobState"
    aborted = mock_env.raw("POST", f"job/{job['id']}", {"state": "Aborted"}).json()
    assert aborted["state"] == "Aborted"


@pytest.mark.parametrize("path", ["job/750000000000000AAA", "job/nonsense",
                                  "job/750000000000000AAA/batch"])
def test_unknown_job_is_invalid_job(env: Env, path: str) -> None:
    r = env.raw("GET", path)
    assert r.status_code == 400
    assert r.json()["exceptionCode"] == "InvalidJob"
    assert path.split("/")[1] in r.json()["exceptionMessage"]


def test_unknown_batch_is_invalid_batch(mock_env: Env) -> None:
    job = _job(mock_env)
    r = mock_env.raw("GET", f"job/{job['id']}/batch/751000000000000AAA")
    assert (r.status_code, r.json()["exceptionCode"]) == (400, "InvalidBatch")


@pytest.mark.parametrize("token", [None, "", "00Dbogus!AQbad"])
def test_bad_session_is_invalid_session_id(env: Env, token: str | None) -> None:
    r = env.raw("POST", "job", {"operation": "insert", "object": "Account"}, token=token)
    assert r.status_code == 400
    assert r.json() == {"exceptionCode": "InvalidSessionId",
                        "exceptionMessage": "Invalid session id"}


def test_a_bearer_header_is_not_a_bulk_session(mock_env: Env) -> None:
    r = mock_env.session.post(f"{mock_env.instance_url}/services/async/59.0/job",
                              data=json.dumps({"operation": "insert", "object": "Account"}),
                              headers={"Authorization": f"Bearer {mock_env.token}",
                                       "Content-Type": "application/json"}, timeout=30)
    assert r.json()["exceptionCode"] == "InvalidSessionId"


@pytest.mark.parametrize("body, code", [
    ({"operation": "merge", "object": "Account"}, "InvalidJob"),
    ({"operation": "insert", "object": "NoSuch__c"}, "InvalidJob"),
    ({"operation": "insert", "object": "Account", "contentType": "XML"}, "InvalidJob"),
    ({"operation": "upsert", "object": "Account"}, "InvalidJob"),
    ({"operation": "insert", "object": "Account", "concurrencyMode": "Fast"}, "InvalidJob"),
    ("not json", "InvalidJob"),
])
def test_bad_job_requests(mock_env: Env, body: Any, code: str) -> None:
    r = mock_env.raw("POST", "job", body)
    assert (r.status_code, r.json()["exceptionCode"]) == (400, code)


def test_xml_request_is_refused_by_name_in_xml(mock_env: Env) -> None:
    r = mock_env.raw("POST", "job", "<jobInfo><operation>insert</operation><object>Account"
                     "</object><contentType>XML</contentType></jobInfo>",
                     content_type="application/xml")
    assert r.status_code == 400
    assert "<exceptionCode>InvalidJob</exceptionCode>" in r.text
    assert "only JSON and CSV jobs" in r.text


def test_unknown_resource_and_method(mock_env: Env) -> None:
    r = mock_env.raw("GET", "nothing/here")
    assert (r.status_code, r.json()["exceptionCode"]) == (400, "InvalidUrl")
    r = mock_env.raw("PUT", "job", {})
    assert (r.status_code, r.json()["exceptionCode"]) == (405, "InvalidUrl")


def test_bad_batches_fail_with_a_state_message(mock_env: Env) -> None:
    job = _job(mock_env)
    for body, why in ((json.dumps({"Name": "x"}), "JSON array"),
                      ([_opp(i) for i in range(10_001)], "at most 10,000"),
                      ("[1, 2", "")):
        r = mock_env.raw("POST", f"job/{job['id']}/batch", body)
        if not why:                                   # unparseable: refused at once
            assert r.json()["exceptionCode"] == "InvalidBatch"
            continue
        b = r.json()
        info = mock_env.raw("GET", f"job/{job['id']}/batch/{b['id']}").json()
        assert info["state"] == "Failed" and why in info["stateMessage"]
    assert mock_env.org.query_records("SELECT Id FROM Opportunity") == []


def test_sf_bulk_surfaces_a_bad_job_as_an_error(mock_env: Env) -> None:
    with pytest.raises(SalesforceMalformedRequest) as e:
        mock_env.sf().bulk.NoSuch__c.insert([{"Name": "x"}])
    assert e.value.content["exceptionCode"] == "InvalidJob"


# --- accounting and lifespan ----------------------------------------------------------------

def test_each_request_is_an_api_call_and_each_batch_counts(mock_env: Env) -> None:
    org = mock_env.org
    calls0 = org.org_limits.api_used()
    batches0 = org.org_limits.body()["DailyBulkApiBatches"]["Remaining"]
    mock_env.sf().bulk.Opportunity.insert([_opp(i) for i in range(1, 6)], batch_size=2)
    bulk_requests = [r for r in mock_env_requests(mock_env) if "/services/async/" in r]
    assert org.org_limits.api_used() - calls0 == len(bulk_requests) > 0
    assert batches0 - org.org_limits.body()["DailyBulkApiBatches"]["Remaining"] == 3


def mock_env_requests(env: Env) -> list[str]:
    """Paths of the requests the mock served (from the org's MockOrg log)."""
    from sforg_sim.rest.mock import MockOrg

    [active] = [m for m in MockOrg._active if m.org is env.org]
    return [r.path for r in active.requests]


def test_no_batches_left_is_exceeded_quota(mock_env: Env) -> None:
    job = _job(mock_env)
    org = mock_env.org
    org.org_limits.charge_bulk_batches(
        org.org_limits.body()["DailyBulkApiBatches"]["Remaining"])
    r = mock_env.raw("POST", f"job/{job['id']}/batch", [_opp(1)])
    assert (r.status_code, r.json()["exceptionCode"]) == (400, "ExceededQuota")
    org.clock.advance(DAY + 1)                      # the rolling window frees them again
    assert mock_env.raw("POST", f"job/{job['id']}/batch", [_opp(1)]).status_code == 201


def test_a_batch_to_a_closed_job_still_counts(mock_env: Env) -> None:
    job = _job(mock_env)
    mock_env.raw("POST", f"job/{job['id']}", {"state": "Closed"})
    before = mock_env.org.org_limits.body()["DailyBulkApiBatches"]["Remaining"]
    r = mock_env.raw("POST", f"job/{job['id']}/batch", [_opp(1)])
    assert r.json()["exceptionCode"] == "InvalidJobState"
    assert mock_env.org.org_limits.body()["DailyBulkApiBatches"]["Remaining"] == before - 1


def test_jobs_are_removed_seven_days_after_their_youngest_batch(mock_env: Env) -> None:
    job = _job(mock_env)
    b = mock_env.raw("POST", f"job/{job['id']}/batch", [_opp(1)]).json()
    mock_env.raw("GET", f"job/{job['id']}/batch/{b['id']}")      # Completed
    mock_env.org.clock.advance(7 * DAY - 60)
    assert mock_env.raw("GET", f"job/{job['id']}").status_code == 200
    mock_env.org.clock.advance(120)
    assert mock_env.raw("GET", f"job/{job['id']}").json()["exceptionCode"] == "InvalidJob"


def test_a_job_with_an_unfinished_batch_is_kept(mock_env: Env) -> None:
    job = _job(mock_env)
    mock_env.raw("POST", f"job/{job['id']}/batch", [_opp(1)])    # Queued, never polled
    mock_env.org.clock.advance(8 * DAY)
    assert mock_env.raw("GET", f"job/{job['id']}").status_code == 200


def test_sessions_are_shared_with_rest(mock_env: Env) -> None:
    token = sessions(mock_env.org).create()
    assert mock_env.raw("POST", "job", {"operation": "insert", "object": "Account"},
                        token=token).status_code == 201
    sessions(mock_env.org).expire(token)
    assert mock_env.raw("POST", "job", {"operation": "insert", "object": "Account"},
                        token=token).json()["exceptionCode"] == "InvalidSessionId"
