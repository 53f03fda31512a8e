"""``Dml.undelete`` and ``Dml.merge`` (issue 15, session 5b): Salesforce's record-level
results and errors (SOAP API Developer Guide, "undelete()" and "merge()"; Apex Developer
Guide, "Restoring Deleted Records", "Merging Records", "Triggers and Merge Statements")."""

from __future__ import annotations

import pytest

from sforg_sim import Org
from sforg_sim.errors import InvalidType, UsageError


@pytest.fixture
def org() -> Org:
    return Org()


def _ids(org: Org, sobject: str, records: list[dict[str, object]]) -> list[str]:
    res = org.insert(sobject, records)
    assert all(r["success"] for r in res)
    return [str(r["id"]) for r in res]


def _deleted(org: Org, sobject: str, rid: str) -> dict[str, object]:
    rows = org.query(f"SELECT Id, IsDeleted, MasterRecordId FROM {sobject} WHERE Id = '{rid}'",
                     include_deleted=True)["records"]
    assert len(rows) == 1
    return dict(rows[0])


def test_undelete_restores_a_deleted_record_and_reports_per_record(org: Org) -> None:
    a, b = _ids(org, "Account", [{"Name": "A"}, {"Name": "B"}])
    org.delete("Account", [a])
    assert org.query("SELECT COUNT() FROM Account")["totalSize"] == 1
    with org.lock:
        res = org.dml.undelete("Account", [a, b, "001000000000000AAA", "nope"])
    assert res[0] == {"id": a, "success": True, "errors": []}
    # A live record is not in the recycle bin (Salesforce Help, article 000386040).
    assert res[1]["errors"][0]["statusCode"] == "UNDELETE_FAILED"
    assert res[1]["errors"][0]["message"] == "Entity is not in the recycle bin"
    assert res[2]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert res[3]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert org.query("SELECT COUNT() FROM Account")["totalSize"] == 2


def test_undelete_all_or_none_rolls_back_every_record(org: Org) -> None:
    a, b = _ids(org, "Account", [{"Name": "A"}, {"Name": "B"}])
    org.delete("Account", [a])
    with org.lock:
        res = org.dml.undelete("Account", [a, b], all_or_none=True)
    assert [r["success"] for r in res] == [False, False]
    assert res[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert _deleted(org, "Account", a)["IsDeleted"] is True


def test_undelete_of_an_object_that_cannot_be_deleted(org: Org) -> None:
    with org.lock, pytest.raises(InvalidType):
        org.dml.undelete("User", [org.user_id])


def test_merge_reparents_children_and_deletes_the_losers_with_master_record_id(
        org: Org) -> None:
    master, v1, v2 = _ids(org, "Account", [{"Name": "M"}, {"Name": "V1"}, {"Name": "V2"}])
    c1, c2 = _ids(org, "Contact", [{"LastName": "c1", "AccountId": v1},
                                   {"LastName": "c2", "AccountId": v2}])
    [opp] = _ids(org, "Opportunity", [{"Name": "o", "StageName": "Prospecting",
                                       "CloseDate": "2024-01-01", "AccountId": v1}])
    with org.lock:
        res = org.dml.merge("Account", {"Id": master, "Name": "Merged"}, [v1, v2])
    assert res["success"] and res["id"] == master
    assert res["mergedRecordIds"] == [v1, v2]
    assert sorted(res["updatedRelatedIds"]) == sorted([c1, c2, opp])
    # The master's own values are saved, as an update.
    assert org.get("Account", master)["Name"] == "Merged"
    for rid in (c1, c2):
        assert org.get("Contact", rid)["AccountId"] == master
    assert org.get("Opportunity", opp)["AccountId"] == master
    for rid in (v1, v2):
        row = _deleted(org, "Account", rid)
        assert row["IsDeleted"] is True and row["MasterRecordId"] == master
    # A merged record can be undeleted; its children stay with the master.
    with org.lock:
        [u] = org.dml.undelete("Account", [v1])
    assert u["success"]
    assert _deleted(org, "Account", v1)["MasterRecordId"] is None
    assert org.get("Contact", c1)["AccountId"] == master


@pytest.mark.parametrize("case", ["self", "twice", "deleted", "missing", "wrong_type"])
def test_merge_errors_change_nothing(org: Org, case: str) -> None:
    master, v1 = _ids(org, "Account", [{"Name": "M"}, {"Name": "V1"}])
    [c] = _ids(org, "Contact", [{"LastName": "c", "AccountId": v1}])
    [lead] = _ids(org, "Lead", [{"LastName": "L", "Company": "Co"}])
    victims, code = {
        "self": ([master], "INVALID_ID_FIELD"),
        "twice": ([v1, v1], "INVALID_ID_FIELD"),
        "deleted": ([v1], "ENTITY_IS_DELETED"),
        "missing": (["001000000000000AAA"], "INVALID_CROSS_REFERENCE_KEY"),
        "wrong_type": ([lead], "MALFORMED_ID"),
    }[case]
    if case == "deleted":
        org.delete("Account", [v1])
    with org.lock:
        res = org.dml.merge("Account", {"Id": master, "Name": "changed"}, victims)
    assert not res["success"]
    assert res["errors"][0]["statusCode"] == code
    assert org.get("Account", master)["Name"] == "M"
    assert org.get("Contact", c)["AccountId"] == v1


def test_merge_rules_on_the_request(org: Org) -> None:
    master, v1, v2, v3 = _ids(org, "Account", [{"Name": n} for n in "MABC"])
    with org.lock:
        # Up to three records in all, the master included.
        with pytest.raises(UsageError):
            org.dml.merge("Account", {"Id": master}, [v1, v2, v3])
        with pytest.raises(UsageError):
            org.dml.merge("Account", {"Id": master}, [])
        # Only Account, Contact and Lead merge.
        with pytest.raises(InvalidType):
            org.dml.merge("Opportunity", {"Id": master}, [v1])
        # A master update that fails fails the merge, and nothing is deleted.
        res = org.dml.merge("Account", {"Id": master, "Name": None}, [v1])
    assert res["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert _deleted(org, "Account", v1)["IsDeleted"] is False


def test_merge_leads_and_contacts(org: Org) -> None:
    l1, l2 = _ids(org, "Lead", [{"LastName": "A", "Company": "X"},
                                {"LastName": "B", "Company": "X"}])
    [task] = _ids(org, "Task", [{"Subject": "call", "WhoId": l2}])
    with org.lock:
        res = org.dml.merge("Lead", {"Id": l1}, [l2])
    assert res["success"] and res["updatedRelatedIds"] == [task]
    assert org.get("Task", task)["WhoId"] == l1
    assert _deleted(org, "Lead", l2)["MasterRecordId"] == l1
