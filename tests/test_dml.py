"""DML through the Org API: SaveResults, audit fields, history and the real errors."""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.errors import EntityIsDeleted, InvalidField, InvalidType, NotFound
from sqlhelp import raw


def opp(**kw: Any) -> dict[str, Any]:
    return {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-03-01", **kw}


def codes(results: list[dict[str, Any]]) -> list[str | None]:
    return [r["errors"][0]["statusCode"] if r["errors"] else None for r in results]


def test_insert_stamps_audit_fields_from_the_simclock_and_user(sf_org: Org) -> None:
    sf_org.clock.advance(3600)
    [r] = sf_org.insert("Opportunity", [opp(External_ID__c="e1")])
    assert r["success"] and r["id"].startswith("006") and len(r["id"]) == 18
    rec = sf_org.get("Opportunity", r["id"])
    assert rec["CreatedDate"] == rec["LastModifiedDate"] == "2026-01-05T03:00:00.000+0000"
    assert rec["CreatedById"] == rec["OwnerId"] == sf_org.user_id
    assert rec["IsDeleted"] is False
    assert rec["Probability"] == 10.0  # defaulted from the stage, as Salesforce does
    assert rec["attributes"] == {
        "type": "Opportunity", "url": f"/services/data/v59.0/sobjects/Opportunity/{r['id']}"}


def test_get_accepts_15_char_ids_and_selected_fields(sf_org: Org) -> None:
    [r] = sf_org.insert("Opportunity", [opp()])
    rec = sf_org.get("opportunity", r["id"][:15], fields=["name", "STAGENAME"])
    assert set(rec) == {"attributes", "Name", "StageName"}


def test_required_fields_missing(sf_org: Org) -> None:
    [r] = sf_org.insert("Opportunity", [{"Name": "x"}])
    assert r == {"id": None, "success": False, "errors": [{
        "statusCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [StageName, CloseDate]",
        "fields": ["StageName", "CloseDate"]}]}


def test_record_level_errors(sf_org: Org) -> None:
    results = sf_org.insert("Opportunity", [
        opp(Bogus__c=1),
        opp(Name="x" * 121),
        opp(Amount="lots"),
        opp(CreatedDate="2026-01-01T00:00:00Z"),
        opp(AccountId="0065j0000000001AAA"),
        opp(AccountId="0015j0000000099AAA"),
        opp(AccountId="nope"),
        opp(Id="0065j0000000001AAA"),
        opp(),
    ])
    assert codes(results) == [
        "INVALID_FIELD", "STRING_TOO_LONG", "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "INVALID_FIELD_FOR_INSERT_UPDATE", "FIELD_INTEGRITY_EXCEPTION",
        "INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID", "INVALID_FIELD_FOR_INSERT_UPDATE", None]
    assert results[0]["errors"][0]["message"] == (
        "No such column 'Bogus__c' on sobject of type Opportunity")
    assert results[1]["errors"][0]["message"].endswith("(max length=120)")


def test_restricted_picklist(sf_org: Org) -> None:
    sf_org.add_field("Opportunity", "Region__c", "picklist", length=255,
                     picklist_values=("EMEA", "AMER"), restricted_picklist=True)
    good, bad = sf_org.insert("Opportunity", [opp(Region__c="EMEA"), opp(Region__c="APAC")])
    assert good["success"]
    assert codes([bad]) == ["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"]
    assert bad["errors"][0]["message"] == "Region: bad value for restricted picklist field: APAC"


def test_duplicate_value_on_unique_case_insensitive_external_id(sf_org: Org) -> None:
    [first] = sf_org.insert("Opportunity", [opp(External_ID__c="externalOpp0000001")])
    results = sf_org.insert("Opportunity", [
        opp(External_ID__c="EXTERNALOPP0000001"), opp(External_ID__c="externalOpp0000002")])
    assert codes(results) == ["DUPLICATE_VALUE", None]
    assert results[0]["errors"][0]["message"] == (
        "duplicate value found: External_ID__c duplicates value on record with id: "
        f"{first['id']}")


def test_all_or_none_rolls_back_everything(sf_org: Org) -> None:
    results = sf_org.insert("Opportunity", [opp(External_ID__c="a"), opp(Name=None)],
                            all_or_none=True)
    assert codes(results) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "REQUIRED_FIELD_MISSING"]
    assert all(r["id"] is None for r in results)
    assert sf_org.store.count(sf_org.schema.get("Opportunity")) == 0
    # A collision found only at write time rolls back the rows already written.
    sf_org.insert("Opportunity", [opp(External_ID__c="taken")])
    results = sf_org.insert("Opportunity", [opp(External_ID__c="fresh"),
                                            opp(External_ID__c="TAKEN")], all_or_none=True)
    assert codes(results) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "DUPLICATE_VALUE"]
    assert sf_org.store.count(sf_org.schema.get("Opportunity")) == 1


def test_update_writes_history_only_when_the_stage_changes(sf_org: Org) -> None:
    [r] = sf_org.insert("Opportunity", [opp()])
    sf_org.clock.advance(60)
    assert sf_org.update("Opportunity", [{"Id": r["id"], "StageName": "Qualification"}])[0][
        "success"]
    sf_org.update("Opportunity", [{"Id": r["id"], "Name": "Renamed"}])
    rows = raw(sf_org).execute(
        'SELECT StageName FROM OpportunityHistory WHERE OpportunityId = ? ORDER BY rowid',
        (r["id"],)).fetchall()
    assert rows == [("Prospecting",), ("Qualification",)]
    rec = sf_org.get("Opportunity", r["id"])
    assert rec["LastModifiedDate"] == "2026-01-05T02:01:00.000+0000"
    assert rec["CreatedDate"] == "2026-01-05T02:00:00.000+0000"


def test_update_errors(sf_org: Org) -> None:
    [a, b, c, d] = sf_org.insert("Opportunity", [
        opp(External_ID__c="a"), opp(External_ID__c="b"), opp(), opp()])
    results = sf_org.update("Opportunity", [
        {"Id": a["id"], "External_ID__c": "B"},
        {"Id": b["id"], "Name": None},
        {"Id": "0065j00000000ZZAAA", "Name": "x"},
        {"Name": "no id"},
        {"Id": sf_org.user_id, "Name": "wrong type"},
        {"Id": c["id"], "CreatedById": sf_org.user_id},
        {"Id": d["id"], "Name": "ok"},
    ])
    assert codes(results) == ["DUPLICATE_VALUE", "REQUIRED_FIELD_MISSING",
                              "INVALID_CROSS_REFERENCE_KEY", "MISSING_ARGUMENT", "MALFORMED_ID",
                              "INVALID_FIELD_FOR_INSERT_UPDATE", None]


def test_update_rejects_a_duplicate_id_in_one_call(sf_org: Org) -> None:
    [a] = sf_org.insert("Opportunity", [opp()])
    results = sf_org.update("Opportunity", [{"Id": a["id"], "Name": "1"},
                                            {"Id": a["id"], "Name": "2"}])
    assert codes(results) == [None, "DUPLICATE_VALUE"]


def test_upsert_matches_case_insensitively_and_reports_created(sf_org: Org) -> None:
    [a] = sf_org.insert("Opportunity", [opp(External_ID__c="externalOpp0000001")])
    results = sf_org.upsert("Opportunity", "external_id__c", [
        {"External_ID__c": "EXTERNALOPP0000001", "StageName": "Qualification"},
        opp(External_ID__c="externalOpp0000002"),
    ])
    assert [(r["success"], r["created"]) for r in results] == [(True, False), (True, True)]
    assert results[0]["id"] == a["id"]
    assert sf_org.get("Opportunity", a["id"])["StageName"] == "Qualification"


def test_upsert_with_more_than_one_match_changes_nothing(sf_org: Org) -> None:
    sf_org.add_field("Opportunity", "Legacy_Key__c", "string", length=40, external_id=True)
    # A non-unique External ID matches case-sensitively ([UPSERT]): "k" twice matches
    # two records, "K" is another value.
    sf_org.insert("Opportunity", [opp(Legacy_Key__c="k"), opp(Legacy_Key__c="k")])
    [r] = sf_org.upsert("Opportunity", "Legacy_Key__c", [{"Legacy_Key__c": "k", "Name": "X"}])
    assert codes([r]) == ["DUPLICATE_EXTERNAL_ID"]
    assert "more than one record found for external id field" in r["errors"][0]["message"]
    names = raw(sf_org).execute('SELECT Name FROM Opportunity').fetchall()
    assert names == [("Deal",), ("Deal",)]


def test_upsert_on_a_field_that_is_not_an_external_id(sf_org: Org) -> None:
    with pytest.raises(InvalidField, match="is not an External ID or indexed field"):
        sf_org.upsert("Opportunity", "Name", [opp()])


def test_delete_is_soft_and_errors_are_real(sf_org: Org) -> None:
    [a] = sf_org.insert("Opportunity", [opp()])
    assert sf_org.delete("Opportunity", [a["id"]])[0]["success"]
    row = raw(sf_org).execute('SELECT IsDeleted FROM Opportunity').fetchone()
    assert row == (1,)
    with pytest.raises(EntityIsDeleted):
        sf_org.get("Opportunity", a["id"])
    again, missing, bad = sf_org.delete("Opportunity", [a["id"], "0065j00000000ZZAAA", "x"])
    assert codes([again, missing, bad]) == ["ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY",
                                            "MALFORMED_ID"]
    upd = sf_org.update("Opportunity", [{"Id": a["id"], "Name": "zombie"}])
    assert codes(upd) == ["ENTITY_IS_DELETED"]


def test_unknown_objects_and_records(sf_org: Org) -> None:
    with pytest.raises(InvalidType) as e:
        sf_org.insert("Opportunities", [opp()])
    assert e.value.message.startswith("sObject type 'Opportunities' is not supported.")
    with pytest.raises(NotFound):
        sf_org.get("Opportunity", "0065j00000000ZZAAA")


def test_another_user_is_stamped(sf_org: Org) -> None:
    [u] = sf_org.insert("User", [{"Username": "etl@x.com", "LastName": "Etl",
                                  "Email": "etl@x.com"}])
    [a] = sf_org.insert("Opportunity", [opp()])
    with sf_org.as_user(u["id"]):
        sf_org.update("Opportunity", [{"Id": a["id"], "Name": "by etl"}])
    rec = sf_org.get("Opportunity", a["id"])
    assert rec["LastModifiedById"] == u["id"] and rec["CreatedById"] == sf_org.user_id


def test_custom_objects_and_fields(sf_org: Org) -> None:
    from sforg_sim.schema import Field

    obj = sf_org.add_object("Invoice__c", [Field("Total__c", "currency")])
    assert obj.key_prefix.startswith("a0")
    [r] = sf_org.insert("invoice__c", [{"total__c": "12.5"}])
    assert sf_org.get("Invoice__c", r["id"])["Total__c"] == 12.5
    with pytest.raises(InvalidField):
        sf_org.add_field("Opportunity", "NoSuffix", "string")
    with pytest.raises(InvalidType):
        sf_org.add_object("NoSuffix")


def test_bulk_update_matches_record_by_record_semantics(sf_org: Org) -> None:
    # A uniform page of updates takes the set-based path; mixed ids take the per-record
    # path. Both must stamp, write history only for real changes, and report the same.
    made = sf_org.insert("Opportunity", [opp(External_ID__c=f"e{i}") for i in range(300)])
    ids = [r["id"] for r in made]
    sf_org.clock.advance(5)
    page = [{"Id": i, "StageName": "Qualification" if n % 3 else "Prospecting"}
            for n, i in enumerate(ids)]
    fast = sf_org.update("Opportunity", page)
    slow = sf_org.update("Opportunity", [{"Id": i[:15], "StageName": "Discovery"}
                                         for i in ids[:10]])
    assert fast == [{"id": i, "success": True, "errors": []} for i in ids]
    assert slow == [{"id": i, "success": True, "errors": []} for i in ids[:10]]
    hist = dict(raw(sf_org).execute(
        'SELECT StageName, COUNT(*) FROM OpportunityHistory GROUP BY StageName'))
    assert hist == {"Prospecting": 300, "Qualification": 200, "Discovery": 10}
    stamps = {r[0] for r in raw(sf_org).execute(
        'SELECT LastModifiedDate FROM Opportunity')}
    assert stamps == {"2026-01-05T02:00:05.000+0000"}
    # One bad id in a page: nothing from the fast path sticks, every record gets its result.
    mixed = sf_org.update("Opportunity", [{"Id": ids[0], "StageName": "Negotiation"},
                                          {"Id": "0065j00000000ZZAAA", "StageName": "x"}])
    assert codes(mixed) == [None, "INVALID_CROSS_REFERENCE_KEY"]


def test_empty_text_is_stored_as_null(sf_org: Org) -> None:
    [ok, missing] = sf_org.insert("Opportunity", [opp(Description=""), opp(Name="")])
    assert sf_org.get("Opportunity", ok["id"])["Description"] is None
    assert codes([missing]) == ["REQUIRED_FIELD_MISSING"]
    found = sf_org.query("SELECT Id FROM Opportunity WHERE Description = null")
    assert [r["Id"] for r in found["records"]] == [ok["id"]]


def test_uniform_pages_with_a_deleted_record_or_a_unique_clash(sf_org: Org) -> None:
    # Uniform pages start on the set-based path; a deleted record or a unique clash sends
    # them to the per-record path, which must name the record and keep the others.
    made = sf_org.insert("Opportunity", [opp(External_ID__c=f"u{i}") for i in range(5)])
    ids = [r["id"] for r in made]
    sf_org.delete("Opportunity", [ids[4]])
    res = sf_org.update("Opportunity", [{"Id": i, "StageName": "Discovery"} for i in ids])
    assert codes(res) == [None, None, None, None, "ENTITY_IS_DELETED"]
    res = sf_org.update("Opportunity", [{"Id": i, "External_ID__c": f"v{n}"}
                                        for n, i in enumerate(ids[:3])]
                        + [{"Id": ids[3], "External_ID__c": "V0"}])
    assert codes(res) == [None, None, None, "DUPLICATE_VALUE"]
    got = {sf_org.get("Opportunity", i)["External_ID__c"] for i in ids[:4]}
    assert got == {"v0", "v1", "v2", "u3"}
    hist = raw(sf_org).execute(
        "SELECT COUNT(*) FROM OpportunityHistory WHERE StageName = 'Discovery'").fetchone()
    assert hist[0] == 4
    # Nothing is left in the staging tables for the next call.
    left = raw(sf_org).execute("SELECT name FROM temp.sqlite_master "
                                     "WHERE type = 'table' AND name LIKE '\\_upd%' ESCAPE '\\'")
    for (name,) in left:
        assert raw(sf_org).execute(f"SELECT COUNT(*) FROM temp.{name}").fetchone()[0] == 0


def test_numbers_out_of_range_and_invalid_text_are_record_errors(sf_org: Org) -> None:
    # Values SQLite cannot store (ints past 64 bits, floats past 1e308, lone surrogates from
    # a JSON "\ud800") must come back as record errors, never as a Python exception, and
    # must not leave anything behind for the next update.
    sf_org.add_field("Opportunity", "Qty__c", "int")
    made = sf_org.insert("Opportunity", [opp(), opp(), opp()])
    ids = [r["id"] for r in made]
    bad = [{"Id": ids[0], "Qty__c": 5}, {"Id": ids[1], "Qty__c": 10**30}]
    assert codes(sf_org.update("Opportunity", bad)) == [None, "NUMBER_OUTSIDE_VALID_RANGE"]
    res = sf_org.insert("Opportunity", [opp(Amount=10**400), opp(Amount=1e16),
                                        opp(Amount=9.99e15), opp(Name="bad\ud800")])
    assert codes(res) == ["NUMBER_OUTSIDE_VALID_RANGE", "NUMBER_OUTSIDE_VALID_RANGE", None,
                          "INVALID_TYPE_ON_FIELD_IN_RECORD"]
    assert codes(sf_org.update("Opportunity", [{"Id": ids[2], "Qty__c": 7}])) == [None]
    qty = {r["Id"]: r["Qty__c"] for r in sf_org.query_records(
        "SELECT Id, Qty__c FROM Opportunity WHERE Id IN :ids", ids=ids)}
    assert qty == {ids[0]: 5, ids[1]: None, ids[2]: 7}


def test_upsert_on_id_inserts_records_without_an_id(sf_org: Org) -> None:
    # Apex Developer Guide, "Upserting Records": a record whose key is not matched is
    # created; with Id as the key, a record without an Id is new.
    [acc] = sf_org.insert("Account", [{"Name": "Old"}])
    res = sf_org.upsert("Account", "Id", [{"Name": "New"}, {"Id": acc["id"], "Name": "Renamed"},
                                          {"Id": "", "Name": "Also new"}])
    assert [(r["success"], r["created"]) for r in res] == [(True, True), (True, False),
                                                          (True, True)]
    names = {r["Name"] for r in sf_org.query_records("SELECT Name FROM Account")}
    assert names == {"New", "Renamed", "Also new"}
