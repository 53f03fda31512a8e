"""Nested external-Id references in DML bodies (issue 19): ``{"Account": {"Key__c": "X"}}``
names the parent by an External ID instead of an Id, on insert, update and upsert.

Sources: *REST API Developer Guide*, "Insert or Update (Upsert) a Record Using an External
ID"; *SOAP API Developer Guide*, "upsert()" (external IDs as foreign keys); row D-5 of
docs/fidelity.md.
"""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org


@pytest.fixture()
def org() -> Any:
    o = Org()
    o.add_field("Account", "Key__c", "string", length=40, external_id=True)
    o.add_field("Account", "Code__c", "string", length=40)          # not an External ID
    o.add_field("Contact", "Partner__c", "reference", reference_to=("Account",))
    o.insert("Account", [{"Name": "Acme", "Key__c": "ACME-1"},
                         {"Name": "Beta", "Key__c": "beta-2"},
                         {"Name": "Twin A", "Key__c": "TWIN"},
                         {"Name": "Twin B", "Key__c": "TWIN"}])
    yield o
    o.close()


def _account_of(org: Org, contact_id: str, field: str = "AccountId") -> Any:
    rows = org.query_records(f"SELECT {field} FROM Contact WHERE Id = '{contact_id}'")
    acct = rows[0][field]
    if acct is None:
        return None
    return org.query_records(f"SELECT Name FROM Account WHERE Id = '{acct}'")[0]["Name"]


def test_insert_resolves_standard_and_custom_relationships(org: Org) -> None:
    res = org.insert("Contact", [
        {"LastName": "Doe", "Account": {"Key__c": "ACME-1"}},
        {"LastName": "Roe", "account": {"attributes": {"type": "Account"},
                                        "key__c": "ACME-1"}},      # names in any case
        {"LastName": "Poe", "Partner__r": {"Key__c": "beta-2"}},
        {"LastName": "Plain"},
    ])
    assert [r["success"] for r in res] == [True, True, True, True]
    assert _account_of(org, res[0]["id"]) == "Acme"
    assert _account_of(org, res[1]["id"]) == "Acme"
    assert _account_of(org, res[2]["id"], "Partner__c") == "Beta"
    assert _account_of(org, res[3]["id"]) is None


def test_upsert_and_update_resolve_too(org: Org) -> None:
    org.add_field("Contact", "Ext__c", "string", length=20, external_id=True)
    first = org.upsert("Contact", "Ext__c", [
        {"Ext__c": "c1", "LastName": "Doe", "Account": {"Key__c": "ACME-1"}}])
    assert first[0]["created"] is True
    again = org.upsert("Contact", "Ext__c", [
        {"Ext__c": "c1", "LastName": "Doe", "Account": {"Key__c": "beta-2"}}])
    assert (again[0]["success"], again[0]["created"]) == (True, False)
    assert _account_of(org, first[0]["id"]) == "Beta"
    upd = org.update("Contact", [{"Id": first[0]["id"], "Account": {"Key__c": "ACME-1"}}])
    assert upd[0]["success"]
    assert _account_of(org, first[0]["id"]) == "Acme"


@pytest.mark.parametrize(("nested", "code", "needle"), [
    ({"Key__c": "NOPE"}, "INVALID_FIELD",
     "Foreign key external ID: NOPE not found for field Key__c in entity Account"),
    ({"Key__c": "TWIN"}, "DUPLICATE_EXTERNAL_ID", "more than one record found"),
    # A non-unique External ID matches case-sensitively, as upsert's key does.
    ({"Key__c": "acme-1"}, "INVALID_FIELD", "Foreign key external ID: acme-1 not found"),
    ({"Key__c": "ACME-1", "Name": "Acme"}, "INVALID_FIELD",
     "More than 1 field provided in an external foreign key reference in entity: Account"),
    ({}, "INVALID_FIELD", "No external ID field provided"),
    ({"Code__c": "x"}, "INVALID_FIELD", "is not an External ID"),
    ({"Bogus__c": "x"}, "INVALID_FIELD", "No such column 'Bogus__c'"),
    ({"Key__c": None}, "INVALID_FIELD", "null not found"),
    ({"attributes": {"type": "Contact"}, "Key__c": "ACME-1"}, "INVALID_FIELD",
     "not a valid type"),
])
def test_unresolvable_references_fail_only_their_record(org: Org, nested: dict[str, Any],
                                                       code: str, needle: str) -> None:
    res = org.insert("Contact", [{"LastName": "Bad", "Account": nested},
                                 {"LastName": "Good", "Account": {"Key__c": "ACME-1"}}])
    assert res[0]["success"] is False
    assert res[0]["errors"][0]["statusCode"] == code
    assert needle in res[0]["errors"][0]["message"]
    assert res[1]["success"] is True


def test_case_insensitive_external_id_matches_any_case(org: Org) -> None:
    """A unique, case-insensitive External ID (Opportunity.External_ID__c here) matches
    in any case, as upsert's key does."""
    org.add_field("Contact", "Deal__c", "reference", reference_to=("Opportunity",))
    opp = org.insert("Opportunity", [{"Name": "O", "StageName": "Qualification",
                                      "CloseDate": "2026-01-31",
                                      "External_ID__c": "externalOpp0000001"}])[0]["id"]
    res = org.insert("Contact", [{"LastName": "X",
                                  "Deal__r": {"External_ID__c": "EXTERNALOPP0000001"}}])
    assert res[0]["success"], res
    rows = org.query_records(f"SELECT Deal__c FROM Contact WHERE Id = '{res[0]['id']}'")
    assert rows[0]["Deal__c"] == opp


def test_id_and_reference_together_is_refused(org: Org) -> None:
    acme = org.query_records("SELECT Id FROM Account WHERE Name = 'Acme'")[0]["Id"]
    res = org.insert("Contact", [{"LastName": "X", "AccountId": acme,
                                  "Account": {"Key__c": "ACME-1"}}])
    assert res[0]["errors"][0]["message"] == (
        "Cannot specify both an external ID reference Account and a salesforce id, "
        "AccountId")


def test_all_or_none_rolls_back_on_an_unresolved_reference(org: Org) -> None:
    res = org.insert("Contact", [{"LastName": "Good", "Account": {"Key__c": "ACME-1"}},
                                 {"LastName": "Bad", "Account": {"Key__c": "NOPE"}}],
                     all_or_none=True)
    assert [r["success"] for r in res] == [False, False]
    assert org.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_a_nested_object_under_a_plain_field_is_still_an_error(org: Org) -> None:
    res = org.insert("Contact", [{"LastName": {"Key__c": "x"}}])
    assert res[0]["success"] is False
