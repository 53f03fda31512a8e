"""Unmodified simple-salesforce against both adapters (mock_org and the HTTPS server)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import simple_salesforce.bulk2
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sforg_sim import Org
from sforg_sim.rest import mock_org, serve
from sforg_sim.rest.auth import sessions

DAY = 24 * 3600


@dataclass
class Env:
    """One adapter: how to build clients against it."""

    kind: str
    org: Org
    instance_url: str
    token: str
    session: requests.Session
    domain: str = "login"
    log: list[Any] = field(default_factory=list)

    def direct(self) -> Salesforce:
        """A client with a bearer token (no re-login possible)."""
        return Salesforce(instance_url=self.instance_url, session_id=self.token,
                          session=self.session)

    def login(self, **kw: Any) -> Salesforce:
        """A SOAP username/password/token login (re-logs in on 401)."""
        s = sessions(self.org)
        return Salesforce(username=s.username, password=s.password,
                          security_token=kw.pop("security_token", s.security_token),
                          domain=self.domain, session=self.session, **kw)


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org()
    yield o
    o.close()


@pytest.fixture(params=["mock", "server"])
def env(request: pytest.FixtureRequest, org: Org) -> Iterator[Env]:
    if request.param == "mock":
        with mock_org(org, hosts=["acme.my.salesforce.com"]) as sim:
            yield Env("mock", org, sim.instance_url, sim.session_id, requests.Session(),
                      log=sim.requests)
    else:
        with serve(org) as server:
            s = server.http_session()
            host = server.instance_url.split("//", 1)[1]
            yield Env("server", org, server.instance_url, server.access_token, s,
                      domain=f"{host}/x")


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(simple_salesforce.bulk2, "sleep", slept.append)
    return slept


def _opp(i: int, **kw: Any) -> dict[str, Any]:
    return {"Name": f"Opp {i}", "StageName": "Prospecting", "CloseDate": "2026-02-01",
            "External_ID__c": f"externalOpp{i:07d}", **kw}


# --- auth -------------------------------------------------------------------------------

def test_soap_login_gives_a_working_session(env: Env) -> None:
    sf = env.login()
    assert sf.session_id.startswith(env.org.org_id[:15] + "!")
    assert f"https://{sf.sf_instance}" == env.instance_url
    assert sf.query("SELECT Username FROM User")["records"][0]["Username"] == \
        sessions(env.org).username


def test_soap_login_with_wrong_token_is_invalid_login(env: Env) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as e:
        env.login(security_token="wrong")
    assert e.value.code == "INVALID_LOGIN"
    assert "Invalid username, password, security token" in e.value.auth_message


def test_oauth_password_client_credentials_and_jwt_grants(env: Env) -> None:
    s = sessions(env.org)
    sf = Salesforce(username=s.username, password=s.password, consumer_key=s.consumer_key,
                    consumer_secret=s.consumer_secret, domain=env.domain, session=env.session)
    assert sf.limits()["DailyApiRequests"]["Max"] == 440_000
    domain = "acme.my" if env.kind == "mock" else env.domain
    cc = Salesforce(consumer_key=s.consumer_key, consumer_secret=s.consumer_secret,
                    domain=domain, session=env.session)
    assert cc.query("SELECT Id FROM Organization")["totalSize"] == 1
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    s.jwt_public_key = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    jw = Salesforce(username=s.username, consumer_key=s.consumer_key, privatekey=pem.decode(),
                    domain=env.domain, session=env.session)
    assert jw.limits()["DailyApiRequests"]["Remaining"] > 0
    with pytest.raises(SalesforceAuthenticationFailed) as e:
        Salesforce(username=s.username, password="nope", consumer_key=s.consumer_key,
                   consumer_secret=s.consumer_secret, domain=env.domain, session=env.session)
    assert e.value.code == "invalid_grant"


def test_expired_session_relogs_in_or_raises(env: Env) -> None:
    sf = env.login()
    direct = env.direct()
    first = sf.session_id
    sessions(env.org).expire_all()
    assert sf.limits()["DailyApiRequests"]["Max"] > 0  # 401, SOAP re-login, retry
    assert sf.session_id != first
    with pytest.raises(SalesforceExpiredSession) as e:
        direct.limits()
    assert e.value.content == [{"message": "Session expired or invalid",
                                "errorCode": "INVALID_SESSION_ID", "fields": []}]


# --- CRUD -------------------------------------------------------------------------------

def test_crud_and_upsert_by_external_id(env: Env) -> None:
    sf = env.direct()
    opp = sf.Opportunity
    created = opp.create(_opp(1))
    assert created["success"] and created["id"].startswith("006")
    rid = created["id"]
    assert opp.get(rid)["Name"] == "Opp 1"
    assert dict(opp.get(rid, params={"fields": "Name,StageName"})) == {
        "attributes": {"type": "Opportunity",
                       "url": f"/services/data/v59.0/sobjects/Opportunity/{rid}"},
        "Name": "Opp 1", "StageName": "Prospecting"}
    assert opp.update(rid, {"StageName": "Qualification"}) == 204
    assert env.org.get("Opportunity", rid, ["StageName"])["StageName"] == "Qualification"
    # External ID matching is case-insensitive on this case-insensitive unique field.
    assert opp.get_by_custom_id("External_ID__c", "EXTERNALOPP0000001")["Id"] == rid
    assert opp.upsert("External_ID__c/externalOpp0000002", _opp(2)) == 201
    assert opp.upsert("External_ID__c/externalOpp0000002", {"Name": "renamed"}) == 200
    raw = opp.upsert("External_ID__c/externalOpp0000002", {"Name": "again"},
                     raw_response=True)
    assert raw.json()["created"] is False
    assert opp.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound) as e:
        opp.get(rid)
    assert e.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    assert env.org.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 1


def test_errors_map_to_simple_salesforce_exceptions(env: Env) -> None:
    sf = env.direct()
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.Opportunity.create({"Name": "no stage"})
    assert bad.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as mq:
        sf.query("SELEC Id FROM Opportunity")
    assert mq.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Opportunity.get("0065j0000000099AAA")
    env.org.add_field("Account", "Legacy_Id__c", "string", length=40, external_id=True)
    env.org.insert("Account", [{"Name": "a", "Legacy_Id__c": "L1"},
                               {"Name": "b", "Legacy_Id__c": "L1"}])
    with pytest.raises(SalesforceMoreThanOneRecord) as many:
        sf.Account.get_by_custom_id("Legacy_Id__c", "L1")
    assert len(many.value.content) == 2
    assert all(u.startswith("/services/data/v59.0/sobjects/Account/001")
               for u in many.value.content)
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Account.upsert("Legacy_Id__c/L1", {"Name": "c"})
    assert env.org.query("SELECT COUNT() FROM Account WHERE Name = 'c'")["totalSize"] == 0
    env.org.set_api_remaining(0)
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.limits()
    assert refused.value.content == [{"message": "TotalRequests Limit exceeded.",
                                      "errorCode": "REQUEST_LIMIT_EXCEEDED", "fields": []}]


def test_drained_allocation_recovers_after_24_hours(env: Env) -> None:
    sf = env.login()
    env.org.set_api_remaining(3)
    for _ in range(3):
        sf.limits()
    assert sf.api_usage["api-usage"].used == 440_000
    with pytest.raises(SalesforceRefusedRequest) as e:
        sf.query("SELECT Id FROM Opportunity")
    assert e.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    env.org.clock.advance(DAY + 1)  # the session also expired: the client re-logs in
    body = sf.limits()
    assert body["DailyApiRequests"] == {"Max": 440_000, "Remaining": 440_000 - 1}
    assert sf.api_usage["api-usage"].used == 1


def test_limits_and_api_usage_follow_the_org(env: Env) -> None:
    sf = env.direct()
    for _ in range(4):
        body = sf.limits()
    used = env.org.org_limits.api_used()
    assert body["DailyApiRequests"]["Remaining"] == 440_000 - used
    assert sf.api_usage["api-usage"].used == used
    assert sf.api_usage["api-usage"].total == 440_000
    before = env.org.org_limits.api_used()
    sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Account"}, "Name": f"A{i}"} for i in range(200)]})
    assert env.org.org_limits.api_used() == before + 1  # a collection counts once


# --- composite --------------------------------------------------------------------------

def test_composite_sobjects_through_restful(env: Env) -> None:
    sf = env.direct()
    rows = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False,
                      "records": [{"attributes": {"type": "Opportunity"}, **_opp(i)}
                                  for i in range(1, 4)]
                      + [{"attributes": {"type": "Opportunity"}, "Name": "bad"}]})
    assert [r["success"] for r in rows] == [True, True, True, False]
    assert rows[3]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    ids = [r["id"] for r in rows[:3]]
    upd = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Opportunity"}, "Id": i, "StageName": "Qualification"}
        for i in ids]})
    assert all(r["success"] for r in upd)
    ups = sf.restful("composite/sobjects/Opportunity/External_ID__c", method="PATCH",
                     json={"records": [{"attributes": {"type": "Opportunity"}, **_opp(1)},
                                       {"attributes": {"type": "Opportunity"}, **_opp(9)}]})
    assert [r["created"] for r in ups] == [False, True]
    rolled = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True,
                        "records": [{"attributes": {"type": "Account"}, "Name": "ok"},
                                    {"attributes": {"type": "Account"}}]})
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert env.org.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    gone = sf.restful("composite/sobjects", method="DELETE",
                      params={"ids": ",".join(ids), "allOrNone": "false"})
    assert [r["success"] for r in gone] == [True, True, True]
    assert env.org.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 1


def test_composite_with_references(env: Env) -> None:
    sf = env.direct()
    out = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account",
         "referenceId": "acct", "body": {"Name": "Parent"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Opportunity",
         "referenceId": "opp", "body": {**_opp(5), "AccountId": "@{acct.id}"}},
        {"method": "GET", "url": "/services/data/v59.0/sobjects/Opportunity/@{opp.id}"
                                 "?fields=AccountId", "referenceId": "check"},
    ]})["compositeResponse"]
    assert [r["httpStatusCode"] for r in out] == [201, 201, 200]
    assert out[2]["body"]["AccountId"] == out[0]["body"]["id"]
    assert out[0]["httpHeaders"]["Location"].endswith(out[0]["body"]["id"])


# --- query --------------------------------------------------------------------------------

@pytest.fixture
def seeded(env: Env) -> Env:
    env.org.load_scenario("massive-upload", records=5_500)
    return env


def test_query_pages_over_5000_rows(seeded: Env) -> None:
    sf = seeded.direct()
    soql = "SELECT Id, External_ID__c FROM Opportunity"
    first = sf.query(soql)
    assert first["totalSize"] == 5_500 and not first["done"]
    assert len(first["records"]) == 2_000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    locator = second["nextRecordsUrl"].rsplit("/", 1)[1]
    third = sf.query_more(locator)
    assert third["done"] and "nextRecordsUrl" not in third
    ids = [r["Id"] for r in first["records"] + second["records"] + third["records"]]
    assert len(ids) == len(set(ids)) == 5_500
    everything = sf.query_all(soql)
    assert everything["totalSize"] == 5_500
    assert {r["Id"] for r in everything["records"]} == set(ids)
    streamed = [r["External_ID__c"] for r in sf.query_all_iter(soql)]
    assert sorted(streamed) == [f"externalOpp{i:07d}" for i in range(1, 5_501)]


def test_query_batch_size_header_and_query_all_deleted(seeded: Env) -> None:
    sf = seeded.direct()
    page = sf.query("SELECT Id FROM Opportunity", headers={
        "Sforce-Query-Options": "batchSize=500"})
    assert len(page["records"]) == 500
    victim = page["records"][0]["Id"]
    assert sf.Opportunity.delete(victim) == 204
    soql = f"SELECT Id, IsDeleted FROM Opportunity WHERE Id = '{victim}'"
    assert sf.query(soql)["totalSize"] == 0
    rows = sf.query_all(soql, include_deleted=True)["records"]
    assert [r["IsDeleted"] for r in rows] == [True]


def test_verification_aggregate(seeded: Env) -> None:
    sf = seeded.login()
    rows = sf.query("SELECT StageName, COUNT(Id) cnt FROM Opportunity "
                    "WHERE External_ID__c LIKE 'externalOpp%' GROUP BY StageName")["records"]
    assert sum(r["cnt"] for r in rows) == 5_500
    assert all(r["attributes"]["type"] == "AggregateResult" for r in rows)


def test_tooling_query_async_apex_job(env: Env) -> None:
    sf = env.direct()
    body = sf.toolingexecute("query/?q=SELECT+Id,Status+FROM+AsyncApexJob")
    assert body["totalSize"] == 0 and body["records"] == []
    assert body["entityTypeName"] == "AsyncApexJob"


# --- bulk 2.0 -----------------------------------------------------------------------------

def test_bulk2_ingest_and_query(env: Env, no_sleep: list[float]) -> None:
    sf = env.direct()
    good = [_opp(i) for i in range(1, 251)]
    bad = [{"Name": "missing stage", "CloseDate": "2026-02-01"}]
    [res] = sf.bulk2.Opportunity.insert(records=good + bad, wait=0)
    assert res["numberRecordsProcessed"] == 251 and res["numberRecordsFailed"] == 1
    job_id = res["job_id"]
    ok = sf.bulk2.Opportunity.get_successful_records(job_id)
    failed = sf.bulk2.Opportunity.get_failed_records(job_id)
    assert ok.splitlines()[0].startswith('"sf__Id","sf__Created"')
    assert len(ok.splitlines()) == 251
    assert "REQUIRED_FIELD_MISSING" in failed
    upd = sf.bulk2.Opportunity.upsert(
        records=[{"External_ID__c": f"externalOpp{i:07d}", "StageName": "Qualification"}
                 for i in range(1, 11)], external_id_field="External_ID__c", wait=0)
    assert upd[0]["numberRecordsFailed"] == 0
    pages = list(sf.bulk2.Opportunity.query(
        "SELECT Id, External_ID__c, StageName FROM Opportunity", max_records=100, wait=0))
    assert len(pages) == 3  # 250 rows at 100 per page
    lines = [ln for p in pages for ln in p.splitlines()[1:]]
    assert len(lines) == 250
    assert sum('"Qualification"' in ln for ln in lines) == 10
    assert pages[0].splitlines()[0] == '"Id","External_ID__c","StageName"'
    assert no_sleep == [0, 0, 0]  # one unconditional sleep(wait) per job, no polling


def test_bulk2_refuses_aggregate_queries(env: Env, no_sleep: list[float]) -> None:
    sf = env.direct()
    with pytest.raises(SalesforceMalformedRequest) as e:
        list(sf.bulk2.Opportunity.query(
            "SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName", wait=0))
    assert "not supported" in e.value.content[0]["message"]


# --- concurrency (server threads) ---------------------------------------------------------

def test_concurrent_clients_never_lose_or_duplicate_writes(env: Env) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            sf = env.direct()
            for i in range(20):
                sf.Opportunity.create(_opp(n * 100 + i))
                # every thread also upserts the same shared key: exactly one record results
                sf.Opportunity.upsert("External_ID__c/sharedKey", {
                    "Name": f"t{n}", "StageName": "Prospecting", "CloseDate": "2026-02-01"})
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    rows = env.org.query_records("SELECT External_ID__c FROM Opportunity")
    keys = [r["External_ID__c"] for r in rows]
    assert len(keys) == 6 * 20 + 1
    assert len(set(keys)) == len(keys)
