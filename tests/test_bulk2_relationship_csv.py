"""Bulk API 2.0 CSV headers with relationship columns (issue 19, item c).

``RelationshipName.IndexedFieldName`` columns (``Account.Key__c``, ``Partner__r.Key__c``)
name the parent by an External ID (*Bulk API 2.0 and Bulk API Developer Guide*,
"Relationship Fields in a Header Row (2.0)"). Through unmodified simple-salesforce
against ``mock_org``; the unmatched parent is a per-row error in ``failedResults``, an
unknown relationship or parent field fails the job.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
import simple_salesforce.bulk2
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from sforg_sim import Org
from sforg_sim.rest import mock_org, serve


def _org() -> Org:
    org = Org()
    org.add_field("Account", "Key__c", "string", length=40, external_id=True)
    org.add_field("Account", "Code__c", "string", length=40)          # not an External ID
    org.add_field("Contact", "Partner__c", "reference", reference_to=("Account",))
    org.insert("Account", [{"Name": "Acme", "Key__c": "ACME-1"},
                           {"Name": "Beta", "Key__c": "BETA-2"}])
    return org


@pytest.fixture()
def sf(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Org, Salesforce]]:
    monkeypatch.setattr(simple_salesforce.bulk2, "sleep", lambda s: None)
    org = _org()
    with mock_org(org) as sim:
        yield org, Salesforce(instance_url=sim.instance_url, session_id=sim.session_id)
    org.close()


def test_relationship_columns_through_the_https_server(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simple_salesforce.bulk2, "sleep", lambda s: None)
    org = _org()
    with serve(org) as server:
        client = Salesforce(instance_url=server.instance_url, session_id=server.access_token,
                            session=server.http_session())
        res = _insert(client, [{"LastName": "Doe", "Account.Key__c": "ACME-1"},
                               {"LastName": "Nope", "Account.Key__c": "MISSING"}])
    assert (res["numberRecordsProcessed"], res["numberRecordsFailed"]) == (2, 1)
    assert _accounts(org) == {"Doe": "Acme"}
    org.close()


def _csv(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as given: simple-salesforce writes the CSV (columns in any order)."""
    return rows


def _accounts(org: Org, field: str = "AccountId") -> dict[str, str | None]:
    names = {r["Id"]: r["Name"] for r in org.query_records("SELECT Id, Name FROM Account")}
    return {r["LastName"]: names.get(r[field]) for r in
            org.query_records(f"SELECT LastName, {field} FROM Contact")}


def _insert(sf: Salesforce, data: list[dict[str, Any]]) -> dict[str, Any]:
    [res] = sf.bulk2.Contact.insert(records=data, wait=0)
    return dict(res)


def test_standard_and_custom_relationship_columns_set_the_lookup(
        sf: tuple[Org, Salesforce]) -> None:
    org, client = sf
    res = _insert(client, _csv([
        {"LastName": "Doe", "Account.Key__c": "ACME-1", "Partner__r.Key__c": "BETA-2"},
        {"LastName": "Roe", "Account.Key__c": "", "Partner__r.Key__c": "ACME-1"},
    ]))
    assert res["numberRecordsFailed"] == 0 and res["numberRecordsProcessed"] == 2
    assert _accounts(org) == {"Doe": "Acme", "Roe": None}
    assert _accounts(org, "Partner__c") == {"Doe": "Beta", "Roe": "Acme"}
    ok = client.bulk2.Contact.get_successful_records(res["job_id"])
    head = next(csv.reader(io.StringIO(ok)))
    assert head[:2] == ["sf__Id", "sf__Created"]
    assert sorted(head[2:]) == ["Account.Key__c", "LastName", "Partner__r.Key__c"]


def test_unmatched_parent_is_a_row_error_in_failed_results(
        sf: tuple[Org, Salesforce]) -> None:
    org, client = sf
    res = _insert(client, _csv([{"LastName": "Doe", "Account.Key__c": "ACME-1"},
                                {"LastName": "Nope", "Account.Key__c": "MISSING"}]))
    assert res["numberRecordsFailed"] == 1
    failed = list(csv.reader(io.StringIO(
        client.bulk2.Contact.get_failed_records(res["job_id"]))))
    assert failed[0][:2] == ["sf__Id", "sf__Error"]
    row = dict(zip(failed[0], failed[1]))
    assert (row["LastName"], row["Account.Key__c"]) == ("Nope", "MISSING")
    assert row["sf__Error"].startswith(
        "INVALID_FIELD:Foreign key external ID: MISSING not found for field Key__c "
        "in entity Account")
    assert _accounts(org) == {"Doe": "Acme"}


def test_non_external_id_parent_field_is_a_row_error(sf: tuple[Org, Salesforce]) -> None:
    org, client = sf
    res = _insert(client, _csv([{"LastName": "Code", "Account.Code__c": "x"}]))
    assert res["numberRecordsFailed"] == 1
    failed = client.bulk2.Contact.get_failed_records(res["job_id"])
    assert "INVALID_FIELD" in failed.splitlines()[1]
    assert _accounts(org) == {}


def test_na_in_a_relationship_column_clears_the_lookup(sf: tuple[Org, Salesforce]) -> None:
    org, client = sf
    [acme] = org.query_records("SELECT Id FROM Account WHERE Key__c = 'ACME-1'")
    org.insert("Contact", [{"LastName": "Doe", "AccountId": acme["Id"]}])
    [doe] = org.query_records("SELECT Id FROM Contact")
    [res] = client.bulk2.Contact.update(
        records=_csv([{"Id": doe["Id"], "Account.Key__c": "#N/A"}]), wait=0)
    assert res["numberRecordsFailed"] == 0
    assert _accounts(org) == {"Doe": None}


@pytest.mark.parametrize("column", [
    "Nothing__r.Key__c",         # no such relationship
    "Account.No_Such__c",        # no such field on the parent
    "Account.Owner.Email",       # a grandparent: not allowed by the guide
    "Name.Key__c",               # a field that is no relationship
])
def test_unknown_relationship_or_field_fails_the_job(sf: tuple[Org, Salesforce],
                                                     column: str) -> None:
    org, client = sf
    with pytest.raises(SalesforceOperationError) as e:
        _insert(client, _csv([{"LastName": "Doe", column: "ACME-1"}]))
    assert str(e.value).endswith(f"InvalidBatch : Field name not found : {column}")
    assert _accounts(org) == {}


def test_type_prefix_on_a_plain_lookup_is_refused(sf: tuple[Org, Salesforce]) -> None:
    _org, client = sf
    with pytest.raises(SalesforceOperationError) as e:
        _insert(client, _csv([{"LastName": "Doe", "Account:Account.Key__c": "ACME-1"}]))
    assert "is not polymorphic" in str(e.value)
