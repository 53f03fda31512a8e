"""Issue 13's platform rules outside REST and async Apex: the opt-in query run-time model
(QUERY_TIMEOUT from data volume), External ID match case, API allocations per licence
type and sandbox type, and verify-org telling the two REQUEST_LIMIT_EXCEEDED apart.

Sources are cited where each rule is modelled (``soql/engine.py``, ``dml.py``,
``limits.py``, ``verify/errors.py``) and in docs/fidelity.md.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import responses

from sforg_sim import Org
from sforg_sim.errors import QueryTimeout, UsageError
from sforg_sim.limits import api_allocation
from sforg_sim.rest import mock_org
from sforg_sim.soql.engine import QueryTimeModel
from verify.cli import main

_seq = itertools.count(1)
AGG = ("SELECT StageName, COUNT(Id) cnt FROM Opportunity "
       "WHERE External_ID__c LIKE 'externalOpp%' GROUP BY StageName")


def _org(records: int, rate: float | None = None) -> Org:
    org = Org(instance_url=f"https://rules{next(_seq)}.my.salesforce.com",
              query_time_model=None if rate is None else QueryTimeModel(rate))
    org.load_scenario("massive-upload", records=records)
    return org


# --- item 7: QUERY_TIMEOUT from data volume ------------------------------------------------


def test_model_is_off_by_default() -> None:
    org = _org(2000)
    assert org.soql.query_time_model is None
    assert org.query(AGG)["totalSize"] > 0
    assert org.soql.last_run_time is None


def test_non_selective_aggregate_times_out_and_a_selective_range_does_not() -> None:
    # 2,000 rows at 10 rows/s: a full scan takes 200 s > 120 s. External_ID__c is an
    # External ID (custom index): selective up to 10% of the rows, 200.
    org = _org(2000, rate=10)
    with pytest.raises(QueryTimeout, match="running for too long"):
        org.query(AGG)
    est = org.soql.last_run_time
    assert est is not None and (est.access, est.rows, est.seconds) == ("scan", 2000, 200.0)
    part = AGG.replace("GROUP BY", "AND External_ID__c >= 'externalOpp0000201' AND "
                       "External_ID__c < 'externalOpp0000401' GROUP BY")
    assert sum(r["cnt"] for r in org.query(part)["records"]) == 200
    est = org.soql.last_run_time
    assert est is not None and (est.access, est.rows) == ("index", 200)
    # One more row than 10% is not selective: a scan again.
    wide = part.replace("'externalOpp0000401'", "'externalOpp0000402'")
    with pytest.raises(QueryTimeout):
        org.query(wide)
    # The same applies to Apex queries (Org.query_records).
    with pytest.raises(QueryTimeout):
        org.query_records("SELECT Id FROM Opportunity WHERE StageName = 'Discovery'")


def test_thresholds_follow_the_large_data_volumes_guide() -> None:
    t = QueryTimeModel.threshold
    assert t("standard", 2_000_000) == pytest.approx(450_000)
    assert t("standard", 5_000_000) == pytest.approx(900_000)
    assert t("standard", 10_000_000) == 1_000_000
    assert t("custom", 500_000) == pytest.approx(50_000)
    assert t("custom", 5_000_000) == 333_333


def test_index_join_ordered_index_and_unindexed_fields() -> None:
    org = _org(2000, rate=10)
    # Two ANDed custom-indexed filters, neither under 10% but each under 20%: both read.
    ids = [r["Id"] for r in org.query_records(
        "SELECT Id FROM Opportunity ORDER BY External_ID__c DESC LIMIT 350")]
    assert all(r["success"] for r in org.update(
        "Opportunity", [{"Id": i, "Amount": 1} for i in ids]))
    # Amount has no index: a scan, until a storage index (custom index stand-in) exists.
    with pytest.raises(QueryTimeout):
        org.query("SELECT Id FROM Opportunity WHERE Amount = 1")
    org.add_storage_index("Opportunity", ["Amount"])
    q = ("SELECT Id FROM Opportunity WHERE External_ID__c > 'externalOpp0001700' "
         "AND Amount = 1")
    assert len(org.query_records(q)) == 300
    est = org.soql.last_run_time
    assert est is not None and (est.access, est.rows) == ("index-join", 650)
    # Id has a standard index (30%): 350 of 2,000 is selective.
    org.query_records("SELECT Id FROM Opportunity WHERE Id IN :ids", ids=ids)
    est = org.soql.last_run_time
    assert est is not None and (est.access, est.rows) == ("index", 350)
    # ORDER BY an indexed field with a LIMIT walks the index and stops early.
    org.query("SELECT External_ID__c FROM Opportunity WHERE External_ID__c != null "
              "ORDER BY External_ID__c DESC LIMIT 1")
    est = org.soql.last_run_time
    assert est is not None and (est.access, est.rows) == ("ordered-index", 1)
    # "= null" and "!=" cannot use an index (index tables leave nulls out): a scan.
    with pytest.raises(QueryTimeout):
        org.query("SELECT Id FROM Opportunity WHERE Name = null AND Amount != 1")


def test_model_options_are_checked() -> None:
    for bad in (0, -1, float("inf"), True, "10"):
        with pytest.raises(UsageError, match="rows_per_second"):
            QueryTimeModel(bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="limit_seconds"):
        QueryTimeModel(10, limit_seconds=0)


def test_verify_org_falls_back_to_partitions_from_data_volume(
        capsys: pytest.CaptureFixture[str]) -> None:
    org = _org(2000, rate=10)
    with mock_org(org) as sim:
        code = main(["--instance-url", sim.instance_url, "--access-token", sim.session_id,
                     "--json", "--expect", "Qualification=0"], sleep=lambda s: None)
        out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 0 and doc["mode"] == "partitioned", (err, doc.get("error"))
    assert any("QUERY_TIMEOUT" in n for n in doc["notes"])
    assert [p["total"] for p in doc["partitions"]] == [200] * 10
    # Without the model the same check is one aggregate.
    org.soql.query_time_model = None
    with mock_org(org) as sim:
        main(["--instance-url", sim.instance_url, "--access-token", sim.session_id,
              "--json", "--expect", "Qualification=0"], sleep=lambda s: None)
    assert json.loads(capsys.readouterr()[0])["mode"] == "aggregate"


def test_null_partition_is_still_counted_when_the_where_allows_nulls(
        capsys: pytest.CaptureFixture[str]) -> None:
    org = _org(300)
    org.insert("Opportunity", [{"Name": "no key", "StageName": "Prospecting",
                                "CloseDate": "2026-01-01"}])
    with mock_org(org) as sim:
        code = main(["--instance-url", sim.instance_url, "--access-token", sim.session_id,
                     "--json", "--where", "Name != null", "--partitions", "3",
                     "--expect", "Prospecting=1", "--strict"], sleep=lambda s: None)
    doc = json.loads(capsys.readouterr()[0])
    nulls = [p for p in doc["partitions"] if p["null"]]
    assert len(nulls) == 1 and nulls[0]["counts"] == {"Prospecting": 1}, doc
    assert code in (0, 1)


# --- item 9: External ID match case -------------------------------------------------------


def test_non_unique_external_id_matches_case_sensitively() -> None:
    org = Org()
    org.add_field("Account", "Ref__c", "string", length=40, external_id=True)
    org.add_field("Account", "Key__c", "string", length=40, external_id=True, unique=True)
    [a] = org.insert("Account", [{"Name": "a", "Ref__c": "ABC1", "Key__c": "XYZ1"}])
    assert org.find_by_external_id("Account", "Ref__c", "ABC1") == [a["id"]]
    assert org.find_by_external_id("Account", "Ref__c", "abc1") == []
    assert org.find_by_external_id("Account", "Key__c", "xyz1") == [a["id"]]
    [r] = org.upsert("Account", "Ref__c", [{"Ref__c": "abc1", "Name": "b"}])
    assert r["success"] and r["created"] and r["id"] != a["id"]
    [r] = org.upsert("Account", "Key__c", [{"Key__c": "xyz1", "Name": "c"}])
    assert r["success"] and not r["created"] and r["id"] == a["id"]
    [r] = org.upsert("Account", "Ref__c", [{"Ref__c": "ABC1", "Name": "d"}])
    assert not r["created"] and r["id"] == a["id"]


# --- item 9: API allocations per licence type and sandbox type ------------------------------


@pytest.mark.parametrize(("edition", "licenses", "types", "expected"), [
    ("enterprise", 300, {"Salesforce Platform": 40}, 100_000 + 340 * 1_000),
    ("enterprise", None, {"Salesforce": 300, "Salesforce Platform": 40}, 440_000),
    ("unlimited", 10, {"Salesforce Platform": 2, "Partner Community": 5},
     100_000 + 12 * 5_000 + 5 * 200),
    ("enterprise", 0, {"Customer Community": 1000, "Customer Community Plus Login": 10},
     100_100),
    ("performance", 0, {"lightning platform plus": 3}, 115_000),
    ("developer", 2, {"Salesforce Platform": 40}, 15_000),
])
def test_allocation_per_licence_type(edition: str, licenses: int | None,
                                     types: dict[str, int], expected: int) -> None:
    assert api_allocation(edition, licenses, types) == expected
    org = Org(edition=edition, licenses=licenses, license_types=types)
    assert org.limits()["DailyApiRequests"]["Max"] == expected


def test_async_allocation_counts_platform_licences() -> None:
    org = Org(licenses=1000, license_types={"Salesforce Platform": 500,
                                            "Partner Community": 9000})
    assert org.limits()["DailyAsyncApexExecutions"]["Max"] == 300_000


def test_licence_mistakes_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown licence type 'Gold'"):
        Org(license_types={"Gold": 1})
    with pytest.raises(UsageError, match="disagree"):
        Org(licenses=3, license_types={"Salesforce": 4})
    with pytest.raises(UsageError, match="whole number"):
        Org(license_types={"Salesforce Platform": -1})
    with pytest.raises(UsageError, match="given twice"):
        api_allocation("enterprise", 1, {"salesforce platform": 1, "Salesforce Platform": 2})


def test_only_full_sandboxes_get_five_million() -> None:
    assert Org(edition="sandbox").limits()["DailyApiRequests"]["Max"] == 5_000_000
    for kind in ("partial_copy", "developer_pro", "developer"):
        with pytest.raises(UsageError, match=f"no documented API allocation for a {kind}"):
            Org(edition="sandbox", sandbox_type=kind)
    org = Org(edition="sandbox", sandbox_type="developer", sandbox_allocation=200_000)
    assert org.limits()["DailyApiRequests"]["Max"] == 200_000
    with pytest.raises(UsageError, match="unknown sandbox type"):
        Org(edition="sandbox", sandbox_type="huge")
    with pytest.raises(UsageError, match="edition='sandbox' only"):
        Org(sandbox_type="full", sandbox_allocation=5)


def test_licence_types_survive_an_org_file(tmp_path: Path) -> None:
    path = tmp_path / "org.db"
    org = Org(licenses=10, license_types={"Salesforce Platform": 5}, path=path)
    org.close()
    again = Org.open(path)
    assert again.org_limits.license_types == {"Salesforce": 10, "Salesforce Platform": 5}
    assert again.limits()["DailyApiRequests"]["Max"] == 115_000
    again.close()


# --- item 8: the two REQUEST_LIMIT_EXCEEDED ------------------------------------------------

URL = "https://limits.my.salesforce.com"
QUERY = f"{URL}/services/data/v59.0/query/"
BODY = {"totalSize": 1, "done": True, "records": [
    {"attributes": {"type": "AggregateResult"}, "StageName": "Qualification", "cnt": 7}]}
CONCURRENT = [{"errorCode": "REQUEST_LIMIT_EXCEEDED",
               "message": "ConcurrentPerOrgLongTxn Limit exceeded."}]
DAILY = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]


def _verify(capsys: pytest.CaptureFixture[str], *extra: str
            ) -> tuple[int, dict[str, Any], str, list[float]]:
    slept: list[float] = []
    code = main(["--instance-url", URL, "--access-token", "tok-123456789-abcdef",
                 "--expect", "Qualification=7", "--json", *extra], sleep=slept.append)
    out, err = capsys.readouterr()
    return code, json.loads(out), err, slept


@responses.activate
def test_concurrent_limit_is_retried_with_backoff(capsys: pytest.CaptureFixture[str]
                                                  ) -> None:
    responses.add(responses.GET, QUERY, status=403, json=CONCURRENT)
    responses.add(responses.GET, QUERY, status=403, json=CONCURRENT)
    responses.add(responses.GET, QUERY, json=BODY)
    code, doc, err, slept = _verify(capsys)
    assert (code, err, doc["retries"]) == (0, "", 2)
    assert slept == [5.0, 10.0] and len(responses.calls) == 3


@responses.activate
def test_concurrent_limit_that_persists_is_exit_2_naming_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(4):
        responses.add(responses.GET, QUERY, status=403, json=CONCURRENT)
    code, doc, err, _slept = _verify(capsys, "--retries", "2")
    assert code == 2 and len(responses.calls) == 3 and err.count("\n") == 1
    assert "concurrent long-running requests, not the daily quota" in err
    assert "after 3 attempts" in err and doc["error"]["code"] == "REQUEST_LIMIT_EXCEEDED"


@responses.activate
def test_concurrent_retry_never_waits_past_the_deadline(
        capsys: pytest.CaptureFixture[str]) -> None:
    responses.add(responses.GET, QUERY, status=403, json=CONCURRENT)
    responses.add(responses.GET, QUERY, json=BODY)
    code, _doc, err, slept = _verify(capsys, "--deadline", "3")
    assert code == 2 and slept == [] and len(responses.calls) == 1
    assert "--deadline" in err and "before retrying" in err


@responses.activate
def test_daily_limit_stops_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    responses.add(responses.GET, QUERY, status=403, json=DAILY,
                  headers={"Sforce-Limit-Info": "api-usage=1000/1000"})
    responses.add(responses.GET, QUERY, json=BODY)
    code, _doc, err, slept = _verify(capsys)
    assert code == 2 and slept == [] and len(responses.calls) == 1
    assert "daily API allocation" in err and "without retrying" in err
    assert err.count("\n") == 1
