"""Parent-to-child subqueries in SELECT (issue 19, item 1).

Sources: *SOQL and SOSL Reference*, "Using Relationship Queries", "Understanding Query
Results" (the nested ``{"totalSize", "done", "records"}`` shape) and "Understanding
Relationship Query Limitations" (at most 20 parent-to-child relationships per query).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.errors import InvalidType, MalformedQuery
from sforg_sim.schema import Field


@pytest.fixture()
def org() -> Any:
    o = Org()
    accts = o.insert("Account", [{"Name": n} for n in ("Acme", "Beta", "Gamma")])
    a, b, _ = (r["id"] for r in accts)
    o.insert("Contact", [
        {"FirstName": "Jane", "LastName": "Doe", "AccountId": a},
        {"LastName": "Abe", "AccountId": a, "Email": "abe@x.example"},
        {"LastName": "Zed", "AccountId": b},
        {"LastName": "Orphan"},
    ])
    yield o
    o.close()


def _by_name(body: dict[str, Any]) -> dict[str, Any]:
    return {r["Name"]: r for r in body["records"]}


def test_nested_result_shape_and_null_for_no_children(org: Org) -> None:
    body = org.query("SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName) "
                     "FROM Account")
    recs = _by_name(body)
    acme = recs["Acme"]["Contacts"]
    assert acme["totalSize"] == 2 and acme["done"] is True
    assert [c["LastName"] for c in acme["records"]] == ["Abe", "Doe"]
    assert acme["records"][0]["attributes"]["type"] == "Contact"
    assert recs["Beta"]["Contacts"]["totalSize"] == 1
    assert recs["Gamma"]["Contacts"] is None
    # The key follows SELECT order, spelled as the relationship is named.
    assert list(recs["Acme"]) == ["attributes", "Name", "Contacts"]


def test_subquery_where_order_limit_per_parent(org: Org) -> None:
    body = org.query("SELECT Name, (SELECT LastName, Name, Account.Name FROM Contacts "
                     "WHERE Email = null ORDER BY LastName DESC LIMIT 1) FROM Account "
                     "ORDER BY Name")
    recs = _by_name(body)
    [jane] = recs["Acme"]["Contacts"]["records"]
    assert jane["LastName"] == "Doe" and jane["Name"] == "Jane Doe"
    assert jane["Account"]["Name"] == "Acme"
    assert recs["Beta"]["Contacts"]["records"][0]["LastName"] == "Zed"
    # LIMIT is per parent: each parent gets its own first child, not one for the page.
    two = org.query("SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName LIMIT 1) "
                    "FROM Account")
    assert {k: (v["Contacts"] or {}).get("totalSize") for k, v in _by_name(two).items()} \
        == {"Acme": 1, "Beta": 1, "Gamma": None}


def test_relationship_names_are_case_insensitive_and_deleted_children_hidden(
        org: Org) -> None:
    [doe] = org.query("SELECT Id FROM Contact WHERE LastName = 'Doe'")["records"]
    org.delete("Contact", [doe["Id"]])
    recs = _by_name(org.query("SELECT Name, (SELECT LastName FROM contacts) FROM Account"))
    assert [c["LastName"] for c in recs["Acme"]["Contacts"]["records"]] == ["Abe"]
    all_rows = _by_name(org.query("SELECT Name, (SELECT LastName FROM Contacts) FROM Account",
                                  include_deleted=True))
    assert all_rows["Acme"]["Contacts"]["totalSize"] == 2


def test_one_statement_per_subquery_per_page_not_per_parent(org: Org,
                                                            monkeypatch: Any) -> None:
    org.insert("Account", [{"Name": f"n{i}"} for i in range(60)])
    org.soql.results.max_rows = 0
    calls: list[str] = []
    real = org.store.read

    def spy(sql: str, params: Any = ()) -> Any:
        calls.append(sql)
        return real(sql, params)

    monkeypatch.setattr(org.store, "read", spy)
    body = org.query("SELECT Name, (SELECT LastName FROM Contacts), "
                     "(SELECT Name FROM Opportunities) FROM Account")
    assert body["totalSize"] == 63
    assert len(calls) == 3  # the accounts, then one per subquery


def test_cursor_pages_carry_their_children(org: Org) -> None:
    accts = org.insert("Account", [{"Name": f"p{i:04d}"} for i in range(250)])
    org.insert("Contact", [{"LastName": f"c{i}", "AccountId": r["id"]}
                           for i, r in enumerate(accts)])
    q = ("SELECT Name, (SELECT LastName FROM Contacts WHERE LastName LIKE :p) FROM Account "
         "WHERE Name LIKE 'p%' ORDER BY Name")
    first = org.query(q, batch_size=200, p="c%")
    assert not first["done"]
    rest = org.query_more(first["nextRecordsUrl"])
    recs = first["records"] + rest["records"]
    assert len(recs) == 250
    assert all(r["Contacts"]["records"][0]["LastName"] == f"c{i}" for i, r in enumerate(recs))


def test_apex_records_have_children(org: Org) -> None:
    recs = org.query_records("SELECT Name, (SELECT LastName FROM Contacts) FROM Account "
                             "WHERE Name = 'Beta'")
    assert recs[0]["Contacts"]["records"][0]["LastName"] == "Zed"


def test_describe_lists_child_relationships(org: Org) -> None:
    d = org.schema.get("Account").describe("/services/data/v59.0")
    rels = {(c["childSObject"], c["field"], c["relationshipName"])
            for c in d["childRelationships"]}
    assert ("Contact", "AccountId", "Contacts") in rels
    assert ("Opportunity", "AccountId", "Opportunities") in rels


def test_custom_lookup_with_a_child_relationship_name(org: Org) -> None:
    org.add_object("Item__c", [Field("Acct__c", "reference", "Acct", reference_to=("Account",),
                                     relationship_name="Acct__r",
                                     child_relationship="Items__r")])
    [acme] = org.query("SELECT Id FROM Account WHERE Name = 'Acme'")["records"]
    org.insert("Item__c", [{"Acct__c": acme["Id"]}])
    recs = _by_name(org.query("SELECT Name, (SELECT Id FROM Items__r) FROM Account"))
    assert recs["Acme"]["Items__r"]["totalSize"] == 1


@pytest.mark.parametrize(("soql", "error", "detail"), [
    ("SELECT Name, (SELECT LastName FROM Contactz) FROM Account", InvalidType,
     "Didn't understand relationship 'Contactz' in FROM part of query call"),
    ("SELECT Name, (SELECT LastName FROM Contacts) FROM Contact", InvalidType,
     "Didn't understand relationship 'Contacts'"),
    # Nested subqueries (v58.0+) and their version gate: tests/test_soql_nested_children_t3.py
    ("SELECT Name, (SELECT COUNT(Id) FROM Contacts) FROM Account", MalformedQuery,
     "not supported in a parent-to-child subquery"),
    ("SELECT Name, (SELECT LastName FROM Contacts GROUP BY LastName) FROM Account",
     MalformedQuery, "GROUP BY is not supported in a parent-to-child subquery"),
    ("SELECT Name, (SELECT LastName FROM Contacts LIMIT 5 OFFSET 1) FROM Account",
     MalformedQuery, "OFFSET is not supported"),
    ("SELECT COUNT(Id), (SELECT Id FROM Contacts) FROM Account", MalformedQuery,
     "not allowed in an aggregate query"),
    ("SELECT COUNT(), (SELECT Id FROM Contacts) FROM Account", MalformedQuery,
     "COUNT() must be the only element"),
    ("SELECT Name, (SELECT Id FROM Contacts), (SELECT Id FROM contacts) FROM Account",
     MalformedQuery, "duplicate relationship subquery"),
    ("SELECT Name, (SELECT Id FROM Contacts) x FROM Account", MalformedQuery,
     "unexpected token"),
])
def test_refused_subqueries(org: Org, soql: str, error: type, detail: str) -> None:
    with pytest.raises(error) as e:
        org.query(soql)
    assert detail in str(e.value)


def test_at_most_20_parent_to_child_relationships() -> None:
    """SOQL reference, "Understanding Relationship Query Limitations": "No more than 20
    parent-to-child relationships can be specified in a query"."""
    org = Org()
    for i in range(21):
        org.add_object(f"Kid{i}__c", [Field("Acct__c", "reference", "Acct",
                                            reference_to=("Account",),
                                            relationship_name="Acct__r",
                                            child_relationship=f"Kids{i}__r")])
    subs = [f"(SELECT Id FROM Kids{i}__r)" for i in range(21)]
    body = org.query(f"SELECT Name, {', '.join(subs[:20])} FROM Account")
    assert body["totalSize"] == 0
    with pytest.raises(MalformedQuery, match="No more than 20 parent-to-child"):
        org.query(f"SELECT Name, {', '.join(subs)} FROM Account")


def test_contact_name_is_computed_from_first_and_last_name(org: Org) -> None:
    body = org.query("SELECT Name FROM Contact WHERE Name = 'JANE DOE' OR Name = 'abe' "
                     "ORDER BY Name")
    assert [r["Name"] for r in body["records"]] == ["Abe", "Jane Doe"]
    d = org.schema.get("Contact").describe("/x")
    assert next(f for f in d["fields"] if f["name"] == "Name")["calculated"] is True


def test_an_older_org_file_gains_the_new_standard_tables(tmp_path: Path) -> None:
    """A file saved before Contact/Lead existed opens (their tables are added empty)."""
    path = tmp_path / "old.sforg"
    Org(path=path).close()
    con = sqlite3.connect(path)
    con.execute('DROP TABLE "Contact"')
    con.execute('DROP TABLE "Lead"')
    con.commit()
    con.close()
    org = Org.open(path)
    org.insert("Contact", [{"LastName": "New"}])
    assert org.query("SELECT COUNT() FROM Contact")["totalSize"] == 1
    org.close()
