"""Parent-to-child subqueries nested in subqueries (issue 19, T3 item a).

Sources: *SOQL and SOSL Reference*, "Using Relationship Queries" ("In API version 58.0
and later, SOQL queries can contain up to five levels of parent-to-child relationships
... the child relationships can be up to four levels deep from the parent root. SOQL
queries that include more than five levels of parent-to-child relationships result in an
error") and "Understanding Relationship Query Limitations" ("In API version 57.0 and
earlier, only two levels of parent-to-child relationship can be specified in a query";
"No more than 20 parent-to-child relationships can be specified in a query").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sforg_sim import Org
from sforg_sim.errors import MalformedQuery, UsageError
from sforg_sim.rest.auth import sessions
from sforg_sim.rest.dispatch import handle
from sforg_sim.rest.messages import Request, Response
from sforg_sim.schema import Field

THREE = ("SELECT Name, (SELECT LastName, (SELECT Subject FROM Tasks ORDER BY Subject) "
         "FROM Contacts ORDER BY LastName) FROM Account ORDER BY Name")


@pytest.fixture()
def org() -> Iterator[Org]:
    o = Org()
    a, b, _ = (r["id"] for r in o.insert("Account", [{"Name": n} for n in
                                                       ("Acme", "Beta", "Gamma")]))
    doe, abe, zed = (r["id"] for r in o.insert("Contact", [
        {"LastName": "Doe", "AccountId": a}, {"LastName": "Abe", "AccountId": a},
        {"LastName": "Zed", "AccountId": b}]))
    o.insert("Task", [{"Subject": "call", "WhoId": doe}, {"Subject": "mail", "WhoId": doe},
                      {"Subject": "visit", "WhoId": zed},
                      # Related to Acme through What: not one of a contact's Tasks.
                      {"Subject": "review", "WhatId": a}])
    _ = abe
    yield o
    o.close()


def _get(org: Org, path: str, **qs: str) -> Response:
    token = sessions(org).create()
    return handle(org, Request("GET", path, urlencode(qs),
                               {"Authorization": f"Bearer {token}"}))


def _shape(body: dict[str, Any] | None) -> Any:
    """A nested result without attributes: {name: [children...]} per level."""
    if body is None:
        return None
    out = []
    for rec in body["records"]:
        out.append({k: (_shape(v) if isinstance(v, dict) and "records" in v else v)
                    for k, v in rec.items() if k != "attributes"})
    return out


def test_three_levels_over_rest_have_the_nested_shape_at_each_level(org: Org) -> None:
    resp = _get(org, "/services/data/v59.0/query", q=THREE)
    assert resp.status == 200, resp.body
    body = resp.json()
    acme = body["records"][0]
    contacts = acme["Contacts"]
    assert contacts["totalSize"] == 2 and contacts["done"] is True
    abe, doe = contacts["records"]
    assert abe["attributes"]["type"] == "Contact"
    # A contact without tasks carries null, one with tasks the nested object.
    assert abe["Tasks"] is None
    assert doe["Tasks"]["totalSize"] == 2 and doe["Tasks"]["done"] is True
    assert doe["Tasks"]["records"][0]["attributes"] == {
        "type": "Task", "url": doe["Tasks"]["records"][0]["attributes"]["url"]}
    assert "/sobjects/Task/00T" in doe["Tasks"]["records"][0]["attributes"]["url"]
    assert _shape(body) == [
        {"Name": "Acme", "Contacts": [{"LastName": "Abe", "Tasks": None},
                                      {"LastName": "Doe", "Tasks": [{"Subject": "call"},
                                                                    {"Subject": "mail"}]}]},
        {"Name": "Beta", "Contacts": [{"LastName": "Zed", "Tasks": [{"Subject": "visit"}]}]},
        {"Name": "Gamma", "Contacts": None},
    ]


def test_two_levels_still_answer_on_every_version(org: Org) -> None:
    two = "SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName) FROM Account"
    for version in ("57.0", "59.0"):
        resp = _get(org, f"/services/data/v{version}/query", q=two)
        assert resp.status == 200, resp.body
        assert [c["LastName"] for c in resp.json()["records"][0]["Contacts"]["records"]] \
            == ["Abe", "Doe"]


def test_nesting_needs_api_version_58(org: Org) -> None:
    old = _get(org, "/services/data/v57.0/query", q=THREE)
    assert old.status == 400
    [err] = old.json()
    assert err["errorCode"] == "MALFORMED_QUERY"
    assert err["message"].endswith("SOQL statements cannot query aggregate relationships "
                                   "more than 1 level away from the root entity object.")
    # The caret points at the nested subquery's FROM.
    assert "ERROR at Row:1:Column:53" in err["message"]
    assert _get(org, "/services/data/v58.0/query", q=THREE).status == 200
    # columns=true (sf data query) answers by the same rule.
    cols = _get(org, "/services/data/v57.0/query", q=THREE, columns="true")
    assert cols.status == 400
    # The Python API takes the version too; by default the org's (59.0).
    with pytest.raises(MalformedQuery, match="more than 1 level away"):
        org.soql.query(THREE, api_version="57.0")
    assert org.query(THREE)["totalSize"] == 3
    with pytest.raises(UsageError, match="api_version"):
        org.soql.query(THREE, api_version="latest")


def test_nested_where_and_limit_apply_per_parent(org: Org) -> None:
    body = org.query("SELECT Name, (SELECT LastName, (SELECT Subject FROM Tasks WHERE "
                     "Subject != 'call' ORDER BY Subject DESC LIMIT 1) FROM Contacts "
                     "WHERE LastName != 'Abe') FROM Account ORDER BY Name")
    assert _shape(body) == [
        {"Name": "Acme", "Contacts": [{"LastName": "Doe", "Tasks": [{"Subject": "mail"}]}]},
        {"Name": "Beta", "Contacts": [{"LastName": "Zed", "Tasks": [{"Subject": "visit"}]}]},
        {"Name": "Gamma", "Contacts": None},
    ]


def test_cursor_pages_and_apex_records_carry_nested_children(org: Org) -> None:
    ids = [r["id"] for r in org.insert("Account", [{"Name": f"Bulk{i:03d}"}
                                                   for i in range(250)])]
    cons = org.insert("Contact", [{"LastName": f"L{i}", "AccountId": a}
                                  for i, a in enumerate(ids)])
    org.insert("Task", [{"Subject": f"S{i}", "WhoId": c["id"]} for i, c in enumerate(cons)])
    q = ("SELECT Name, (SELECT LastName, (SELECT Subject FROM Tasks) FROM Contacts) "
         "FROM Account WHERE Name LIKE 'Bulk%' ORDER BY Name")
    first = org.query(q, batch_size=200)
    assert first["done"] is False and len(first["records"]) == 200
    more = org.query_more(first["nextRecordsUrl"])
    last = more["records"][-1]
    assert last["Name"] == "Bulk249"
    assert last["Contacts"]["records"][0]["Tasks"]["records"][0]["Subject"] == "S249"
    [rec] = org.query_records(q.replace("LIKE 'Bulk%'", "= 'Bulk007'"))
    assert rec["Contacts"]["records"][0]["Tasks"]["records"][0]["Subject"] == "S7"


def _chain(org: Org, levels: int) -> list[str]:
    """Custom objects Level1__c ... hanging under Account, each a child of the one
    before; returns their child relationship names, outermost first."""
    rels = []
    parent = "Account"
    for i in range(1, levels + 1):
        name = f"Level{i}__c"
        rel = f"Level{i}s__r"
        org.add_object(name, [Field("Up__c", "reference", "Up", reference_to=(parent,),
                                    relationship_name="Up__r", child_relationship=rel),
                              Field("Label__c", "string", "Label", 40)])
        rels.append(rel)
        parent = name
    return rels


def _nest(rels: list[str]) -> str:
    inner = ""
    for rel in reversed(rels):
        inner = f"(SELECT Label__c{', ' + inner if inner else ''} FROM {rel})"
    return f"SELECT Name, {inner} FROM Account"


def test_five_levels_answer_and_a_sixth_is_refused() -> None:
    org = Org()
    rels = _chain(org, 5)
    [acct] = org.insert("Account", [{"Name": "Root"}])
    parent = acct["id"]
    for i in range(1, 5):
        [rec] = org.insert(f"Level{i}__c", [{"Up__c": parent, "Label__c": f"L{i}"}])
        parent = rec["id"]
    body = org.query(_nest(rels[:4]))
    node = body["records"][0]
    for i in range(1, 5):
        node = node[f"Level{i}s__r"]["records"][0]
        assert node["Label__c"] == f"L{i}"
    with pytest.raises(MalformedQuery, match="more than 4 levels away from the root"):
        org.query(_nest(rels))


def test_twenty_subqueries_are_counted_over_every_level() -> None:
    org = Org()
    for i in range(20):
        org.add_object(f"Kid{i}__c", [Field("Con__c", "reference", "Con",
                                            reference_to=("Contact",),
                                            relationship_name="Con__r",
                                            child_relationship=f"Kids{i}__r")])
    inner = ", ".join(f"(SELECT Id FROM Kids{i}__r)" for i in range(19))
    # 1 + 19 = 20 subqueries: allowed; one more nested one makes 21.
    assert org.query(f"SELECT Name, (SELECT Id, {inner} FROM Contacts) FROM Account"
                     )["totalSize"] == 0
    with pytest.raises(MalformedQuery, match="No more than 20 parent-to-child"):
        org.query(f"SELECT Name, (SELECT Id, {inner}, (SELECT Id FROM Kids19__r) "
                  "FROM Contacts) FROM Account")


def test_columns_metadata_nests_subquery_columns(org: Org) -> None:
    resp = _get(org, "/services/data/v59.0/query", q=THREE, columns="true")
    assert resp.status == 200, resp.body
    cols = resp.json()["columnMetadata"]
    contacts = cols[1]
    assert contacts["columnName"] == "Contacts" and contacts["aggregate"] is True
    last, tasks = contacts["joinColumns"]
    # Child columns carry their field's metadata, as the CLI's exemplars record.
    assert last["columnName"] == "LastName" and last["textType"] is True
    assert last["insertable"] is True
    assert tasks["columnName"] == "Tasks" and tasks["aggregate"] is True
    assert [c["columnName"] for c in tasks["joinColumns"]] == ["Subject"]


@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["a", "B", "c"])),
                max_size=8),
       st.lists(st.tuples(st.integers(0, 7), st.sampled_from(["x", "Y", "z"]),
                          st.booleans()), max_size=12),
       st.none() | st.integers(0, 2), st.booleans())
@settings(deadline=None)
def test_two_level_nesting_matches_python_grouping(
        contacts: list[tuple[int, str]], tasks: list[tuple[int, str, bool]],
        limit: int | None, desc: bool) -> None:
    """Differential: Account -> Contacts -> Tasks (WHERE, ORDER BY, LIMIT per contact)
    against plain Python grouping of the same rows."""
    org = Org()
    try:
        accts = [r["id"] for r in org.insert("Account", [{"Name": f"a{i}"}
                                                        for i in range(3)])]
        cons = [r["id"] for r in org.insert("Contact", [
            {"LastName": f"{n}{i}", "AccountId": accts[p]}
            for i, (p, n) in enumerate(contacts)])] if contacts else []
        kept = [(c, f"{s}{i}", keep) for i, (c, s, keep) in enumerate(tasks)
                if c < len(cons)]
        if kept:
            org.insert("Task", [{"Subject": s, "WhoId": cons[c],
                                 "Status": "Completed" if keep else None}
                                for c, s, keep in kept])
        lim = "" if limit is None else f" LIMIT {limit}"
        body = org.query("SELECT Name, (SELECT LastName, (SELECT Subject FROM Tasks WHERE "
                         f"Status = 'Completed' ORDER BY Subject {'DESC' if desc else 'ASC'}"
                         f"{lim}) FROM Contacts ORDER BY LastName) FROM Account")
        for rec in body["records"]:
            p = int(rec["Name"][1:])
            mine = sorted(((i, f"{n}{i}") for i, (pp, n) in enumerate(contacts) if pp == p),
                          key=lambda x: x[1].upper())
            sub = rec["Contacts"]
            assert (sub is None) == (not mine)
            for (ci, last), got in zip(mine, [] if sub is None else sub["records"]):
                assert got["LastName"] == last
                want = sorted((s for c, s, keep in kept if c == ci and keep),
                              key=str.upper, reverse=desc)
                if limit is not None:
                    want = want[:limit]
                have = got["Tasks"]
                assert ([] if have is None else [t["Subject"] for t in have["records"]]) \
                    == want
                assert have is None or have["totalSize"] == len(want) > 0
    finally:
        org.close()
