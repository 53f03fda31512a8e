"""Storage indexes (``Org.add_storage_index``) and the verification aggregate's query plan.

A storage index is speed only: every test here checks that answers are the same with and
without it, and that SQLite really answers verify-org's check from the index alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sforg_sim import Org
from sforg_sim.errors import SalesforceError
from sqlhelp import raw

CHECK = ("SELECT StageName, COUNT(Id) cnt FROM Opportunity "
         "WHERE External_ID__c LIKE 'externalOpp%' GROUP BY StageName")
INDEX = "Opportunity__$ix__StageName__External_ID__c"


def _plan(org: Org, soql: str) -> str:
    plan = org.soql.plan(soql)
    params = [f(None) for f in plan.params] + [-1, 0]
    rows = raw(org).execute("EXPLAIN QUERY PLAN " + plan.sql, params).fetchall()
    return " | ".join(r[-1] for r in rows)


def _counts(org: Org, soql: str = CHECK) -> dict[str, int]:
    return {r["StageName"]: r["cnt"] for r in org.query(soql)["records"]}


@pytest.fixture(scope="module")
def seeded() -> Org:
    org = Org()
    org.load_scenario("massive-upload", records=5000)
    return org


def test_massive_upload_declares_the_check_index(seeded: Org) -> None:
    detail = _plan(seeded, CHECK)
    assert f"COVERING INDEX {INDEX}" in detail, detail
    assert "TEMP B-TREE" not in detail, detail  # grouped in index order, no sort


def test_answers_are_the_same_without_the_index(seeded: Org, tmp_path: Path) -> None:
    seeded.save(tmp_path / "o.db")
    plain = Org.open(tmp_path / "o.db", in_memory=True)
    raw(plain).execute(f'DROP INDEX "{INDEX}"')
    assert INDEX not in _plan(plain, CHECK)
    queries = [
        CHECK,
        "SELECT StageName, COUNT(Id) cnt FROM Opportunity WHERE External_ID__c >= "
        "'externalOpp0001000' AND External_ID__c < 'externalOpp0002000' GROUP BY StageName",
        "SELECT StageName, COUNT(Id) cnt FROM Opportunity WHERE StageName != 'Discovery' "
        "GROUP BY StageName",
    ]
    for q in queries:
        assert _counts(seeded, q) == _counts(plain, q)
        assert sum(_counts(seeded, q).values()) > 0


def test_writes_keep_the_index_in_step() -> None:
    org = Org()
    org.load_scenario("massive-upload", records=600)
    rows = org.query_records("SELECT Id FROM Opportunity WHERE StageName != 'Qualification' "
                             "ORDER BY External_ID__c LIMIT 250")
    org.update("Opportunity", [{"Id": r["Id"], "StageName": "Qualification"} for r in rows])
    org.delete("Opportunity", [rows[0]["Id"]])
    counts = _counts(org)
    assert counts["Qualification"] == 249
    assert sum(counts.values()) == 599  # the deleted record is out of the count
    assert raw(org).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_count_id_counts_records_and_parent_ids_skip_nulls() -> None:
    # COUNT(Id) compiles to COUNT(*) (Id is never null); a parent's Id may be null.
    org = Org()
    acc = org.insert("Account", [{"Name": "Acme"}])[0]["id"]
    org.insert("Opportunity", [
        {"Name": f"O{i}", "StageName": "Prospecting", "CloseDate": "2026-01-05",
         **({"AccountId": acc} if i == 0 else {})} for i in range(3)])
    rec = org.query("SELECT COUNT(Id) a, COUNT(AccountId) b, COUNT(Account.Id) c "
                    "FROM Opportunity")["records"][0]
    assert (rec["a"], rec["b"], rec["c"]) == (3, 1, 1)


def test_add_storage_index_api(tmp_path: Path) -> None:
    org = Org()
    org.insert("Account", [{"Name": n, "Industry": "Energy"} for n in ("b", "A", "c")])
    name = org.add_storage_index("Account", ["industry", "Name"])
    assert name == "Account__$ix__Industry__Name"
    assert org.add_storage_index("Account", ["Industry", "Name"]) == name  # idempotent
    assert name in _plan(org, "SELECT Industry, Name FROM Account WHERE Industry = 'Energy' "
                              "ORDER BY Name")
    body = org.query("SELECT Name FROM Account WHERE Industry = 'Energy' ORDER BY Name")
    assert [r["Name"] for r in body["records"]] == ["A", "b", "c"]
    org.save(tmp_path / "a.db")
    again = Org.open(tmp_path / "a.db")
    assert name in [n for n, _ in again.store.index_names(again.schema.get("Account"))]
    again.close()


@pytest.mark.parametrize(("sobject", "fields", "code"), [
    ("Nope__c", ["Name"], "INVALID_TYPE"),
    ("Account", ["Nope__c"], "INVALID_FIELD"),
    ("Account", [], "INVALID_FIELD"),
])
def test_add_storage_index_errors(sobject: str, fields: list[str], code: str) -> None:
    with pytest.raises(SalesforceError) as e:
        Org().add_storage_index(sobject, fields)
    assert e.value.error_code == code


def test_a_partition_range_bounds_the_search_not_the_like_prefix(seeded: Org) -> None:
    # verify-org's per-partition count: SQLite bounds an index search by the first range
    # on a column, so the compiler puts the LIKE prefix range last. Counted in SQLite VM
    # steps (a progress handler), not time: reading one partition of ten must cost far
    # less than reading all of them.
    soql = ("SELECT StageName, COUNT(Id) cnt FROM Opportunity WHERE (External_ID__c LIKE "
            "'externalOpp%') AND (External_ID__c >= 'externalOpp0001001' AND "
            "External_ID__c < 'externalOpp0001501') GROUP BY StageName")
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    conn = raw(seeded)
    conn.set_progress_handler(tick, 100)
    held, seeded.soql.results.max_rows = seeded.soql.results.max_rows, 0  # count SQLite's work
    try:
        part = _counts(seeded, soql)
        narrow, steps[0] = steps[0], 0
        whole = _counts(seeded)
        wide = steps[0]
    finally:
        conn.set_progress_handler(None, 100)
        seeded.soql.results.max_rows = held
    assert sum(part.values()) == 500 and sum(whole.values()) == 5000
    assert narrow * 4 < wide, (narrow, wide)


def test_duplicate_fields_are_refused() -> None:
    with pytest.raises(SalesforceError) as e:
        Org().add_storage_index("Account", ["Name", "name"])
    assert e.value.error_code == "INVALID_FIELD" and "Duplicate" in str(e.value)


def test_bind_errors_still_come_in_text_order() -> None:
    # Only LIKE terms with a literal pattern move to the end of an AND; a bound pattern
    # stays in place, so a bad bind there is still the error reported first.
    org = Org()
    with pytest.raises(SalesforceError) as e:
        org.query_records("SELECT Id FROM Account WHERE Name LIKE :p AND Industry = :nope",
                          p=5)
    assert "'Name'" in str(e.value)
