"""SOQL as people write it (issue 19, item 4, first part): table aliases, several FROM
items, ``Group`` as an object name, USING SCOPE, WITH USER_MODE/SYSTEM_MODE/
SECURITY_ENFORCED, WITH DATA CATEGORY, FOR VIEW/REFERENCE, UPDATE TRACKING/VIEWSTAT and
the Apex-only FOR UPDATE / ALL ROWS.

Sources: *SOQL and SOSL Reference*, "Alias Notation", "SOQL SELECT Syntax", "USING SCOPE",
"FOR VIEW and FOR REFERENCE", "UPDATE TRACKING", "UPDATE VIEWSTAT", "WITH DATA CATEGORY",
"FOR UPDATE"; *Apex Developer Guide*, "Enforce User Mode for Database Operations" and
"Filter SOQL Queries Using WITH SECURITY_ENFORCED" (rows S24-S28 of docs/fidelity.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.errors import InvalidField, InvalidType, MalformedQuery


@pytest.fixture()
def org() -> Any:
    o = Org()
    accts = o.insert("Account", [{"Name": n} for n in ("Acme", "Beta")])
    a, b = (r["id"] for r in accts)
    o.insert("Contact", [
        {"LastName": "Doe", "AccountId": a},
        {"LastName": "Zed", "AccountId": b},
        {"LastName": "Orphan"},
    ])
    yield o
    o.close()


def _names(body: dict[str, Any], key: str = "LastName") -> list[Any]:
    return sorted(r[key] for r in body["records"])


# --- aliases and several FROM items -------------------------------------------------------


def test_alias_stands_for_the_object_in_every_clause(org: Org) -> None:
    body = org.query("SELECT c.LastName, c.Account.Name FROM Contact c "
                     "WHERE c.Account.Name = 'Acme' ORDER BY c.LastName")
    assert [(r["LastName"], r["Account"]["Name"]) for r in body["records"]] == [
        ("Doe", "Acme")]


def test_alias_of_a_parent_path_in_from(org: Org) -> None:
    """The reference's own example: ``FROM Contact c, c.Account a WHERE a.name = ...``."""
    body = org.query("SELECT count() FROM Contact c, c.Account a WHERE a.name = 'Beta'")
    assert body["totalSize"] == 1
    # The COUNT() page's form without aliases: a leading object name.
    body = org.query("SELECT COUNT() FROM Contact, Contact.Account "
                     "WHERE Account.Name = 'Acme'")
    assert body["totalSize"] == 1


def test_alias_in_group_by_and_subqueries(org: Org) -> None:
    body = org.query("SELECT a.Name n, COUNT(a.Id) k FROM Account a GROUP BY a.Name "
                     "ORDER BY a.Name")
    assert [(r["n"], r["k"]) for r in body["records"]] == [("Acme", 1), ("Beta", 1)]
    body = org.query("SELECT a.Name, (SELECT c.LastName FROM Contacts c) FROM Account a "
                     "WHERE a.Id IN (SELECT x.AccountId FROM Contact x WHERE "
                     "x.LastName = 'Zed')")
    assert [(r["Name"], r["Contacts"]["records"][0]["LastName"])
            for r in body["records"]] == [("Beta", "Zed")]


def test_word_after_the_from_object_is_an_alias(org: Org) -> None:
    """``FROM Account LIMIT1``: one word after the object is its alias (Alias Notation),
    not a glued LIMIT: every record comes back."""
    assert org.query("SELECT Name FROM Account LIMIT1")["totalSize"] == 2


@pytest.mark.parametrize(("soql", "exc", "needle"), [
    ("SELECT Id FROM Contact AS c", MalformedQuery, "unexpected token: 'c'"),
    ("SELECT Id FROM Contact using", MalformedQuery, "<EOF>"),     # reserved word
    ("SELECT Id FROM Contact c, c.Account c", MalformedQuery, "duplicate alias"),
    ("SELECT Id FROM Contact c, c.Bogus b", InvalidField, "'Bogus'"),
    ("SELECT x.LastName FROM Contact c", InvalidField, "'x'"),
])
def test_alias_mistakes(org: Org, soql: str, exc: type[Exception], needle: str) -> None:
    with pytest.raises(exc) as e:
        org.query(soql)
    assert needle in str(e.value)


def test_group_names_an_object_after_from(org: Org) -> None:
    """``SELECT Id FROM Group`` parses (GROUP is a keyword only where a clause may
    start); this org has no Group object, so it is INVALID_TYPE, not MALFORMED_QUERY."""
    with pytest.raises(InvalidType):
        org.query("SELECT Id FROM Group")
    with pytest.raises(MalformedQuery):
        org.query("SELECT Group FROM Account")


# --- USING SCOPE, WITH, FOR VIEW / REFERENCE ----------------------------------------------


def test_using_scope_everything_and_mine(org: Org) -> None:
    every = org.query("SELECT LastName FROM Contact USING SCOPE everything")
    assert _names(every) == ["Doe", "Orphan", "Zed"]
    assert _names(org.query("SELECT LastName FROM Contact USING SCOPE mine")) == _names(every)
    other = org.insert("User", [{"LastName": "Other", "Username": "o@x.example",
                                 "Email": "o@x.example"}])[0]["id"]
    with org.as_user(other):
        assert org.insert("Contact", [{"LastName": "Theirs"}])[0]["success"]
        # The running user decides (the result cache must not reuse the admin's rows).
        assert _names(org.query("SELECT LastName FROM Contact USING SCOPE mine")) == [
            "Theirs"]
    assert "Theirs" not in _names(org.query(
        "SELECT LastName FROM Contact USING SCOPE mine WHERE LastName != null"))
    assert org.query("SELECT COUNT() FROM Contact USING SCOPE mine")["totalSize"] == 3


@pytest.mark.parametrize("soql", [
    "SELECT Id FROM Contact USING SCOPE team",
    "SELECT Id FROM Contact USING SCOPE my_territory",
    "SELECT Id FROM Contact USING SCOPE nonsense",
    "SELECT Id FROM Contact USING SCOPES mine",
    "SELECT Id FROM Contact WHERE LastName = 'x' USING SCOPE mine",   # wrong place
])
def test_using_scope_refusals(org: Org, soql: str) -> None:
    with pytest.raises(MalformedQuery):
        org.query(soql)


@pytest.mark.parametrize("mode", ["USER_MODE", "SYSTEM_MODE", "SECURITY_ENFORCED",
                                  "security_enforced"])
def test_with_modes_are_accepted_no_ops(org: Org, mode: str) -> None:
    body = org.query(f"SELECT LastName FROM Contact WHERE LastName != 'Zed' WITH {mode} "
                     "ORDER BY LastName LIMIT 5")
    assert _names(body) == ["Doe", "Orphan"]


@pytest.mark.parametrize("tail", ["FOR VIEW", "FOR REFERENCE"])
def test_for_view_and_reference_are_accepted_no_ops(org: Org, tail: str) -> None:
    body = org.query(f"SELECT LastName FROM Contact ORDER BY LastName LIMIT 2 {tail}")
    assert _names(body) == ["Doe", "Orphan"]


@pytest.mark.parametrize(("soql", "needle"), [
    ("SELECT Id FROM Contact WITH DATA CATEGORY Geography__c AT usa__c",
     "WITH DATA CATEGORY"),
    ("SELECT Id FROM Contact WITH DATA CATEGORY Geography__c ABOVE_OR_BELOW (a__c, b__c) "
     "AND Product__c BELOW all__c", "WITH DATA CATEGORY"),
    ("SELECT Id FROM Contact WITH DATA CATEGORY Geography__c NEAR usa__c", "'NEAR'"),
    ("SELECT Id FROM Contact WITH USER_MODE WITH SYSTEM_MODE", "'WITH'"),
    ("SELECT Id FROM Contact WITH EVERYONE", "'EVERYONE'"),
    ("SELECT Id FROM Contact UPDATE TRACKING", "UPDATE TRACKING"),
    ("SELECT Id FROM Contact UPDATE VIEWSTAT, TRACKING", "UPDATE VIEWSTAT"),
    ("SELECT Id FROM Contact LIMIT 1 FOR UPDATE", "FOR UPDATE is only allowed in Apex"),
    ("SELECT Id FROM Contact FOR VIEW FOR UPDATE", "FOR UPDATE is only allowed in Apex"),
    ("SELECT Id FROM Contact ALL ROWS", "ALL ROWS is only allowed in Apex"),
    ("SELECT Id FROM Contact FOR VIEW FOR REFERENCE", "'FOR'"),
    ("SELECT Id FROM Contact FOR LUNCH", "'LUNCH'"),
    ("SELECT Id FROM Contact WHERE AccountId IN (SELECT Id FROM Account FOR VIEW)",
     "FOR VIEW is not supported"),
    ("SELECT Name, (SELECT Id FROM Contacts WITH USER_MODE) FROM Account",
     "WITH USER_MODE is not supported"),
])
def test_clauses_refused_with_their_name(org: Org, soql: str, needle: str) -> None:
    with pytest.raises(MalformedQuery) as e:
        org.query(soql)
    assert needle in str(e.value)
    assert "ERROR at Row:1:Column:" in str(e.value)


def test_apex_strips_its_own_clauses_before_the_engine(org: Org) -> None:
    """The Apex runtime removes a trailing FOR UPDATE / ALL ROWS before it calls the
    engine, so the API's refusal above never reaches Apex code."""
    from sforg_sim.apexlang.soqltext import split_soql
    text, _, all_rows = split_soql("[SELECT Id FROM Contact LIMIT 1 FOR UPDATE]")
    assert org.query(text)["totalSize"] == 1 and all_rows is False
    text, _, all_rows = split_soql("[SELECT Id FROM Contact ALL ROWS]")
    assert org.query(text)["totalSize"] == 3 and all_rows is True
