"""Review 5 follow-up, Bulk API 1.0 and 2.0 (issue 19 findings 3, 4, 5, 13, 15).

- Bulk 1.0 query batch whose FROM object is not the job's: the batch fails with the
  platform's stateMessage (INVALID_TYPE_FOR_OPERATION, quoted in simple-salesforce issue
  502); fidelity BA7.
- Bulk 1.0 job creation never answers HTTP 500, whatever JSON the body holds (a list or an
  object as ``concurrencyMode`` used to); fidelity BA1/BA2.
- Bulk 1.0 batch operations at an API version other than the job's are refused ("Add a
  Batch to a Job": the versions must match); an upsert job on a field that is no External
  ID is refused when it is made ("Step 5: Bulk Upsert"); fidelity BA1.
- Bulk 2.0 polymorphic relationship columns ``ObjectType:Relationship.Field``
  ("Relationship Fields in a Header Row (2.0)", "Relationships for Polymorphic Fields"),
  and several columns of one relationship merged into one reference; fidelity B10.
- One DML dispatch for both APIs (``rest/bulkops.py``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import simple_salesforce.bulk
import simple_salesforce.bulk2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceOperationError

from sforg_sim import Org
from sforg_sim.errors import UsageError
from sforg_sim.rest import mock_org
from sforg_sim.rest.bulkops import record_id, run_dml


class Sim:
    """An org behind ``mock_org`` with a raw Bulk 1.0 request helper and a client."""

    def __init__(self, org: Org, instance_url: str, token: str) -> None:
        self.org = org
        self.instance_url = instance_url
        self.token = token
        self.http = requests.Session()
        self.sf: Any = Salesforce(instance_url=instance_url, session_id=token)

    def raw(self, method: str, path: str, body: Any = None, *, version: str = "59.0"
            ) -> requests.Response:
        """One Bulk 1.0 request (``X-SFDC-Session``) at API ``version``."""
        data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        return self.http.request(
            method, f"{self.instance_url}/services/async/{version}/{path}", data=data,
            headers={"X-SFDC-Session": self.token, "Content-Type": "application/json"},
            timeout=60)


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sim]:
    monkeypatch.setattr(simple_salesforce.bulk, "sleep", lambda s: None)
    monkeypatch.setattr(simple_salesforce.bulk2, "sleep", lambda s: None)
    org = Org()
    org.add_field("Account", "Key__c", "string", length=40, external_id=True)
    org.add_field("Account", "Key2__c", "string", length=40, external_id=True)
    org.insert("Account", [{"Name": "Acme", "Key__c": "ACME-1", "Key2__c": "K2-B"},
                           {"Name": "Beta", "Key__c": "BETA-2", "Key2__c": "K2-A"}])
    org.insert("Opportunity", [{"Name": "Big deal", "StageName": "Prospecting",
                                "CloseDate": "2026-02-01",
                                "External_ID__c": "externalOpp0000001"}])
    with mock_org(org) as m:
        yield Sim(org, m.instance_url, m.session_id)
    org.close()


# --- Bulk API 1.0 ---------------------------------------------------------------------

def test_query_on_another_object_than_the_jobs_fails_the_batch(sim: Sim) -> None:
    sim.org.insert("Contact", [{"LastName": "Doe"}])
    with pytest.raises(SalesforceGeneralError) as e:
        sim.sf.bulk.Account.query("SELECT Id FROM Contact")
    assert ("InvalidBatch : Failed to process query: INVALID_TYPE_FOR_OPERATION: The root "
            "entity of the requested query (Contact) does not match the entity of the "
            "requested Bulk API Job (Account).") in str(e.value)
    # the same object in another case is the job's object
    assert len(sim.sf.bulk.Account.query("SELECT Id FROM account")) == 2


@pytest.mark.parametrize("mode", [{"a": 1}, [1], [], 1.5, None, True])
def test_a_concurrency_mode_that_is_no_mode_is_invalid_job(sim: Sim, mode: Any) -> None:
    r = sim.raw("POST", "job", {"operation": "insert", "object": "Account",
                                "concurrencyMode": mode})
    assert (r.status_code, r.json()["exceptionCode"]) == (400, "InvalidJob")
    assert "concurrency mode" in r.json()["exceptionMessage"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["insert", "upsert", "query", "Account",
                                             "JSON", "Parallel", "Serial", "Key__c"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                inner, max_size=3),
    max_leaves=6)
_FIELDS = ("operation", "object", "contentType", "concurrencyMode", "externalIdFieldName")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_JSON | st.fixed_dictionaries({}, optional={k: _JSON for k in _FIELDS}))
def test_job_creation_answers_201_or_a_bulk_error_for_any_json(sim: Sim, body: Any) -> None:
    r = sim.raw("POST", "job", json.dumps(body))
    assert r.status_code in (201, 400), r.text
    if r.status_code == 400:
        assert set(r.json()) == {"exceptionCode", "exceptionMessage"}
        assert r.json()["exceptionCode"] == "InvalidJob"


def test_batch_operations_need_the_jobs_api_version(sim: Sim) -> None:
    job = sim.raw("POST", "job", {"operation": "insert", "object": "Account"}).json()
    assert job["apiVersion"] == 59.0
    r = sim.raw("POST", f"job/{job['id']}/batch", [{"Name": "Late"}], version="60.0")
    assert (r.status_code, r.json()["exceptionCode"]) == (400, "InvalidJob")
    assert "59.0" in r.json()["exceptionMessage"]
    assert sim.org.query_records("SELECT Id FROM Account WHERE Name = 'Late'") == []
    batch = sim.raw("POST", f"job/{job['id']}/batch", [{"Name": "On time"}]).json()
    for path in ("batch", f"batch/{batch['id']}", f"batch/{batch['id']}/result",
                 f"batch/{batch['id']}/request"):
        r = sim.raw("GET", f"job/{job['id']}/{path}", version="60.0")
        assert (r.status_code, r.json()["exceptionCode"]) == (400, "InvalidJob"), path
        assert sim.raw("GET", f"job/{job['id']}/{path}").status_code == 200, path
    # the rule is stated for batch operations: the job resource itself still answers
    assert sim.raw("GET", f"job/{job['id']}", version="60.0").status_code == 200


def test_upsert_job_on_a_field_that_is_no_external_id_is_refused(sim: Sim) -> None:
    r = sim.raw("POST", "job", {"operation": "upsert", "object": "Account",
                                "externalIdFieldName": "Name"})
    assert (r.status_code, r.json()["exceptionCode"]) == (400, "InvalidJob")
    assert "does not match an External ID" in r.json()["exceptionMessage"]
    ok = sim.raw("POST", "job", {"operation": "upsert", "object": "Account",
                                 "externalIdFieldName": "key__c"})
    assert (ok.status_code, ok.json()["externalIdFieldName"]) == (201, "Key__c")


# --- Bulk API 2.0 relationship columns --------------------------------------------------

def _insert2(sim: Sim, obj: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    [res] = getattr(sim.sf.bulk2, obj).insert(records=rows, wait=0)
    return dict(res)


def _failed(sim: Sim, obj: str, job_id: str) -> list[dict[str, str]]:
    text = getattr(sim.sf.bulk2, obj).get_failed_records(job_id)
    return list(csv.DictReader(io.StringIO(text)))


def test_polymorphic_column_with_its_type_sets_the_lookup(sim: Sim) -> None:
    res = _insert2(sim, "Task", [
        {"Subject": "to account", "Account:What.Key__c": "BETA-2", "Opportunity:What."
         "External_ID__c": ""},
        {"Subject": "to deal", "Account:What.Key__c": "",
         "Opportunity:What.External_ID__c": "externalOpp0000001"}])
    assert (res["numberRecordsProcessed"], res["numberRecordsFailed"]) == (2, 0)
    got = {r["Subject"]: r["What"]["Name"] for r in
           sim.org.query_records("SELECT Subject, What.Name FROM Task")}
    assert got == {"to account": "Beta", "to deal": "Big deal"}


@pytest.mark.parametrize("column, says", [
    ("What.Key__c", "needs the parent's object type"),          # untyped polymorphic
    ("Account:Account.Key__c", "is not polymorphic"),           # type on a plain lookup
    ("Contact:What.Key__c", "is not a valid type"),             # What cannot be a Contact
    ("Account:What.No_Such__c", "Field name not found"),        # no such parent field
    (":What.Key__c", "Field name not found"),                   # empty type
])
def test_bad_polymorphic_columns_fail_the_job_naming_the_column(
        sim: Sim, column: str, says: str) -> None:
    obj = "Contact" if column.startswith("Account:Account") else "Task"
    first = "LastName" if obj == "Contact" else "Subject"
    with pytest.raises(SalesforceOperationError) as e:
        _insert2(sim, obj, [{first: "x", column: "ACME-1"}])
    assert says in str(e.value) and str(e.value).endswith(f" : {column}")


def test_two_columns_of_one_relationship_are_one_reference(sim: Sim) -> None:
    # last-column-wins would link Beta (K2-A) silently; one reference with two fields is
    # DML's "More than 1 field" record error
    res = _insert2(sim, "Contact", [{"LastName": "Doe", "Account.Key__c": "ACME-1",
                                     "Account.Key2__c": "K2-A"}])
    assert res["numberRecordsFailed"] == 1
    [row] = _failed(sim, "Contact", res["job_id"])
    assert row["sf__Error"].startswith("INVALID_FIELD:More than 1 field provided in an "
                                       "external foreign key reference in entity: Account")
    assert sim.org.query_records("SELECT Id FROM Contact") == []


# --- one DML dispatch for both APIs -----------------------------------------------------

def test_delete_through_both_apis_reads_the_id_in_any_case(sim: Sim) -> None:
    a, b = (r["Id"] for r in sim.org.query_records("SELECT Id FROM Account ORDER BY Name"))
    [res1] = sim.sf.bulk.Account.delete([{"iD": a}])
    assert res1["success"]
    # (simple-salesforce itself insists on the header ``Id`` for Bulk 2.0 deletes)
    [res2] = sim.sf.bulk2.Account.delete(records=[{"Id": b}], wait=0)
    assert res2["numberRecordsFailed"] == 0
    assert sim.org.query_records("SELECT Id FROM Account") == []


def test_run_dml_dispatch_and_its_caller_mistakes(sim: Sim) -> None:
    assert record_id({"Name": "x", "ID": "001"}) == "001"
    assert record_id({"Id": None}) == record_id({}) == ""
    assert run_dml(sim.org, "insert", "Account", None, []) == []
    [res] = run_dml(sim.org, "upsert", "Account", "Key__c", [{"Key__c": "NEW-3",
                                                             "Name": "New"}])
    assert res["success"] and res["created"]
    with pytest.raises(UsageError):
        run_dml(sim.org, "upsert", "Account", None, [{"Name": "x"}])
    with pytest.raises(UsageError):
        run_dml(sim.org, "merge", "Account", None, [{"Name": "x"}])
