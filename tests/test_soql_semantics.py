"""Golden cases for every supported construct (semantics per docs/research/soql.md)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from sforg_sim import Org, ids
from sqlhelp import raw


def _opp(i: int, **kw: Any) -> dict[str, Any]:
    return {"Name": f"O{i}", "StageName": "Prospecting", "CloseDate": "2026-01-05", **kw}


@pytest.fixture
def org() -> Any:
    o = Org()
    yield o
    o.close()


def names(body: dict[str, Any], key: str = "Name") -> list[Any]:
    return [r[key] for r in body["records"]]


def test_record_shape_and_parent_fields(org: Org) -> None:
    acc = org.insert("Account", [{"Name": "Acme"}])[0]["id"]
    org.insert("Opportunity", [_opp(1, AccountId=acc, Amount=5), _opp(2)])
    body = org.query("select name, account.name, Account.Owner.Name, amount from "
                     "opportunity order by name")
    assert body["done"] is True and body["totalSize"] == 2 and "nextRecordsUrl" not in body
    r1, r2 = body["records"]
    assert list(r1) == ["attributes", "Name", "Account", "Amount"]
    assert r1["attributes"] == org.attributes("Opportunity", r1["attributes"]["url"][-18:])
    assert r1["Account"]["attributes"]["type"] == "Account"
    assert r1["Account"]["Name"] == "Acme"
    assert r1["Account"]["Owner"]["Name"] == "Sim Admin"
    assert r2["Account"] is None
    assert org.query("SELECT Name FROM Opportunity WHERE Account.Name = 'ACME'"
                     )["totalSize"] == 1
    assert org.query("SELECT Name FROM Opportunity WHERE Account.Name = null"
                     )["totalSize"] == 1
    assert org.query("SELECT Opportunity.Name FROM Opportunity")["totalSize"] == 2


def test_booleans_output_and_null_rules(org: Org) -> None:
    org.insert("Account", [{"Name": "a"}])
    r = org.query("SELECT IsDeleted FROM Account")["records"][0]
    assert r["IsDeleted"] is False
    assert org.query("SELECT Id FROM Account WHERE IsDeleted = null")["totalSize"] == 1
    assert org.query("SELECT Id FROM Account WHERE IsDeleted != null")["totalSize"] == 0


def test_text_is_case_insensitive_and_sorted_by_upper_case(org: Org) -> None:
    org.insert("Account", [{"Name": n} for n in ["b", "_a", "A", "c"]])
    assert names(org.query("SELECT Name FROM Account ORDER BY Name")) == ["A", "b", "c", "_a"]
    assert names(org.query("SELECT Name FROM Account ORDER BY Name DESC")) == \
        ["_a", "c", "b", "A"]
    assert names(org.query("SELECT Name FROM Account WHERE Name = 'a'")) == ["A"]
    assert names(org.query("SELECT Name FROM Account WHERE Name > 'B' ORDER BY Name")) == \
        ["c", "_a"]
    assert names(org.query("SELECT Name FROM Account WHERE Name IN ('B', 'C') "
                           "ORDER BY Name")) == ["b", "c"]


def test_nulls_first_and_last(org: Org) -> None:
    org.insert("Opportunity", [_opp(1, Amount=1), _opp(2), _opp(3, Amount=3)])
    q = "SELECT Name FROM Opportunity ORDER BY Amount"
    assert names(org.query(q)) == ["O2", "O1", "O3"]
    # SOQL reference, ORDER BY: "By default, null values are sorted first", DESC too.
    assert names(org.query(q + " DESC")) == ["O2", "O3", "O1"]
    assert names(org.query(q + " ASC NULLS LAST")) == ["O1", "O3", "O2"]
    assert names(org.query(q + " DESC NULLS FIRST")) == ["O2", "O3", "O1"]
    assert names(org.query(q + " DESC NULLS LAST")) == ["O3", "O1", "O2"]
    assert names(org.query("SELECT Name FROM Opportunity ORDER BY Amount DESC, Name")) == \
        ["O2", "O3", "O1"]


def test_null_comparisons(org: Org) -> None:
    org.insert("Opportunity", [_opp(1, Amount=1), _opp(2)])
    count = lambda w: org.query(f"SELECT Id FROM Opportunity WHERE {w}")["totalSize"]  # noqa: E731
    assert count("Amount = null") == 1
    assert count("Amount != null") == 1
    assert count("Amount != 1") == 1          # the null row (research section 1)
    assert count("Amount NOT IN (1)") == 1    # the null row
    assert count("Amount NOT IN (1, null)") == 0
    assert count("Amount IN (null)") == 1
    assert count("Amount < 5") == 1           # ranges never match null
    assert count("NOT (Amount > 5)") == 2
    assert count("Amount <> 1") == 1


def test_precedence_not_and_or(org: Org) -> None:
    org.insert("Account", [{"Name": n, "AnnualRevenue": r} for n, r in
                           [("a", 1), ("b", 2), ("c", 3)]])
    q = "SELECT Name FROM Account WHERE {} ORDER BY Name"
    assert names(org.query(q.format("Name = 'a' OR Name = 'b' AND AnnualRevenue = 3"))) == ["a"]
    assert names(org.query(q.format("(Name = 'a' OR Name = 'b') AND AnnualRevenue = 2"))) == \
        ["b"]
    assert names(org.query(q.format("NOT Name = 'a' AND AnnualRevenue < 3"))) == ["b"]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("a%", ["a_b", "A%c", "abc"]),
    ("a_c", ["A%c", "abc"]),
    ("a\\_%", ["a_b"]),
    ("a\\%%", ["A%c"]),
    ("%B%", ["a_b", "abc"]),
    ("%", ["a_b", "A%c", "abc", "x'y\\z"]),
    ("x\\'y\\\\z", ["x'y\\z"]),
])
def test_like_wildcards_and_escapes(org: Org, pattern: str, expected: list[str]) -> None:
    org.insert("Account", [{"Name": n} for n in ["a_b", "A%c", "abc", "x'y\\z"]])
    got = names(org.query(f"SELECT Name FROM Account WHERE Name LIKE '{pattern}' "
                          "ORDER BY Name"))
    assert sorted(got) == sorted(expected)


@pytest.mark.parametrize(("literal", "value"), [
    ("\\n", "\n"), ("\\N", "\n"), ("\\r", "\r"), ("\\t", "\t"), ("\\b", "\b"),
    ("\\f", "\f"), ("\\\"", "\""), ("\\'", "'"), ("\\\\", "\\"), ("\\u00e9", "é"),
])
def test_string_escapes(org: Org, literal: str, value: str) -> None:
    org.insert("Account", [{"Name": f"x{value}y"}])
    assert org.query(f"SELECT Name FROM Account WHERE Name = 'x{literal}y'"
                     )["totalSize"] == 1


TODAY = date(2026, 1, 5)  # the SimClock's default start (a Monday)
D = timedelta(days=1)


@pytest.mark.parametrize(("literal", "first", "last"), [
    ("TODAY", TODAY, TODAY),
    ("YESTERDAY", TODAY - D, TODAY - D),
    ("TOMORROW", TODAY + D, TODAY + D),
    ("THIS_WEEK", date(2026, 1, 4), date(2026, 1, 10)),
    ("LAST_WEEK", date(2025, 12, 28), date(2026, 1, 3)),
    ("NEXT_WEEK", date(2026, 1, 11), date(2026, 1, 17)),
    ("THIS_MONTH", date(2026, 1, 1), date(2026, 1, 31)),
    ("LAST_MONTH", date(2025, 12, 1), date(2025, 12, 31)),
    ("NEXT_MONTH", date(2026, 2, 1), date(2026, 2, 28)),
    ("LAST_90_DAYS", TODAY - 90 * D, TODAY),
    ("NEXT_90_DAYS", TODAY + D, TODAY + 90 * D),
    ("LAST_N_DAYS:3", date(2026, 1, 2), TODAY),
    ("NEXT_N_DAYS:3", date(2026, 1, 6), date(2026, 1, 8)),
    ("N_DAYS_AGO:3", date(2026, 1, 2), date(2026, 1, 2)),
    ("LAST_N_WEEKS:1", date(2025, 12, 28), date(2026, 1, 3)),
    ("NEXT_N_WEEKS:2", date(2026, 1, 11), date(2026, 1, 24)),
    ("N_WEEKS_AGO:1", date(2025, 12, 28), date(2026, 1, 3)),
    ("LAST_N_MONTHS:2", date(2025, 11, 1), date(2025, 12, 31)),
    ("NEXT_N_MONTHS:1", date(2026, 2, 1), date(2026, 2, 28)),
    ("N_MONTHS_AGO:1", date(2025, 12, 1), date(2025, 12, 31)),
    ("THIS_QUARTER", date(2026, 1, 1), date(2026, 3, 31)),
    ("LAST_QUARTER", date(2025, 10, 1), date(2025, 12, 31)),
    ("NEXT_QUARTER", date(2026, 4, 1), date(2026, 6, 30)),
    ("LAST_N_QUARTERS:1", date(2025, 10, 1), date(2025, 12, 31)),
    ("NEXT_N_QUARTERS:1", date(2026, 4, 1), date(2026, 6, 30)),
    ("N_QUARTERS_AGO:2", date(2025, 7, 1), date(2025, 9, 30)),
    ("THIS_YEAR", date(2026, 1, 1), date(2026, 12, 31)),
    ("LAST_YEAR", date(2025, 1, 1), date(2025, 12, 31)),
    ("NEXT_YEAR", date(2027, 1, 1), date(2027, 12, 31)),
    ("NEXT_N_YEARS:1", date(2027, 1, 1), date(2027, 12, 31)),
    ("LAST_N_YEARS:1", date(2025, 1, 1), date(2025, 12, 31)),
    ("N_YEARS_AGO:1", date(2025, 1, 1), date(2025, 12, 31)),
    ("THIS_FISCAL_YEAR", date(2026, 1, 1), date(2026, 12, 31)),
    ("THIS_FISCAL_QUARTER", date(2026, 1, 1), date(2026, 3, 31)),
    ("LAST_FISCAL_QUARTER", date(2025, 10, 1), date(2025, 12, 31)),
    ("N_FISCAL_YEARS_AGO:1", date(2025, 1, 1), date(2025, 12, 31)),
])
def test_date_literals_on_simclock(date_org: Org, literal: str, first: date,
                                   last: date) -> None:
    q = "SELECT CloseDate FROM Opportunity WHERE CloseDate {} ORDER BY CloseDate"
    got = names(date_org.query(q.format("= " + literal), batch_size=2000), "CloseDate")
    assert (got[0], got[-1], len(got)) == (first.isoformat(), last.isoformat(),
                                           (last - first).days + 1)
    below = names(date_org.query(q.format("< " + literal)), "CloseDate")
    assert below[-1] == (first - D).isoformat()
    above = names(date_org.query(q.format("> " + literal)), "CloseDate")
    assert above[0] == (last + D).isoformat()
    assert names(date_org.query(q.format("<= " + literal)), "CloseDate")[-1] == \
        last.isoformat()
    assert names(date_org.query(q.format(">= " + literal)), "CloseDate")[0] == \
        first.isoformat()


@pytest.fixture(scope="module")
def date_org() -> Any:
    o = Org()
    start = date(2024, 12, 1)
    o.insert("Opportunity", [_opp(i, CloseDate=(start + i * D).isoformat())
                             for i in range(1200)])  # 2024-12-01 .. 2028-03-14
    yield o
    o.close()


def test_datetime_literals_follow_the_simclock(org: Org) -> None:
    org.insert("Account", [{"Name": "a"}])  # CreatedDate = 2026-01-05T02:00
    q = "SELECT Id FROM Account WHERE CreatedDate = {}"
    assert org.query(q.format("TODAY"))["totalSize"] == 1
    assert org.query(q.format("LAST_N_DAYS:1"))["totalSize"] == 1
    org.clock.advance(86400)
    assert org.query(q.format("TODAY"))["totalSize"] == 0
    assert org.query(q.format("YESTERDAY"))["totalSize"] == 1
    assert org.query("SELECT Id FROM Account WHERE CreatedDate > 2026-01-05T01:59:59Z"
                     )["totalSize"] == 1
    assert org.query("SELECT Id FROM Account WHERE CreatedDate > 2026-01-05T02:59:59+01:00"
                     )["totalSize"] == 1  # 01:59:59 UTC
    assert org.query("SELECT Id FROM Account WHERE CreatedDate >= 2026-01-05T02:00:00.001Z"
                     )["totalSize"] == 0


def test_binds_scalars_lists_ids_and_limits(org: Org) -> None:
    res = org.insert("Account", [{"Name": n, "AnnualRevenue": i} for i, n in
                                 enumerate(["a", "b", "c"])])
    i0, i1 = res[0]["id"], res[1]["id"]
    q = "SELECT Name FROM Account WHERE Name IN :ns ORDER BY Name"
    assert names(org.query(q, ns=["A", "c"])) == ["a", "c"]
    assert names(org.query(q, ns=[])) == []
    assert names(org.query(q, ns=["b", None])) == ["b"]
    assert names(org.query("SELECT Name FROM Account WHERE Name NOT IN :ns ORDER BY Name",
                           ns={"A"})) == ["b", "c"]
    assert names(org.query("SELECT Name FROM Account WHERE Id = :x", x=ids.to15(i1))) == ["b"]
    assert names(org.query("SELECT Name FROM Account WHERE Id IN :x ORDER BY Name",
                           x=[ids.to15(i0), i1])) == ["a", "b"]
    assert names(org.query("SELECT Name FROM Account WHERE AnnualRevenue >= :r "
                           "ORDER BY Name LIMIT :n", r=1, n=1)) == ["b"]
    assert names(org.query("SELECT Name FROM Account WHERE Name = :v", V="a")) == ["a"]
    assert names(org.query("SELECT Name FROM Account WHERE Name LIKE :p", p="%c")) == ["c"]
    d = org.query("SELECT Id FROM Opportunity WHERE CloseDate = :d", d=date(2026, 1, 5))
    assert d["totalSize"] == 0
    assert org.query_records("SELECT Name FROM Account WHERE Name = :v", v="B")[0]["Name"] \
        == "b"


def test_compile_once_per_text(org: Org) -> None:
    org.insert("Account", [{"Name": "a"}, {"Name": "b"}])
    q = "SELECT Name FROM Account WHERE Name > :last ORDER BY Name LIMIT 1"
    before = org.soql.compiles
    assert names(org.query(q, last="")) == ["a"]
    assert names(org.query(q, last="a")) == ["b"]
    assert names(org.query(q, last="b")) == []
    assert org.soql.compiles == before + 1
    org.add_field("Account", "Extra__c", "string", length=10)  # schema change: recompile
    assert names(org.query(q, last="")) == ["a"]
    assert org.soql.compiles == before + 2


def test_fields_functions(org: Org) -> None:
    org.add_field("Account", "Tier__c", "string", length=10)
    org.insert("Account", [{"Name": "a", "Tier__c": "gold"}])
    rec = org.query("SELECT FIELDS(ALL) FROM Account LIMIT 200")["records"][0]
    assert {"Id", "Name", "Tier__c", "CreatedDate"} <= set(rec)
    rec = org.query("SELECT FIELDS(CUSTOM) FROM Account LIMIT 1")["records"][0]
    assert set(rec) == {"attributes", "Tier__c"}
    rec = org.query("SELECT FIELDS(STANDARD) FROM Account")["records"][0]
    assert "Tier__c" not in rec and "Name" in rec


def test_semi_and_anti_join(org: Org) -> None:
    a1, _a2 = (r["id"] for r in org.insert("Account", [{"Name": "with"}, {"Name": "without"}]))
    org.insert("Opportunity", [_opp(1, AccountId=a1, Amount=10), _opp(2)])
    q = "SELECT Name FROM Account WHERE Id {} (SELECT AccountId FROM Opportunity{})"
    assert names(org.query(q.format("IN", ""))) == ["with"]
    assert names(org.query(q.format("NOT IN", ""))) == ["without"]
    assert names(org.query(q.format("IN", " WHERE Amount > 50"))) == []
    org.delete("Opportunity", [org.query("SELECT Id FROM Opportunity WHERE Name = 'O1'"
                                         )["records"][0]["Id"]])
    assert names(org.query(q.format("IN", ""))) == []


def test_aggregate_shapes(org: Org) -> None:
    org.insert("Opportunity", [_opp(1, StageName="Discovery", Amount=10),
                               _opp(2, StageName="Discovery"),
                               _opp(3, StageName="Qualification", Amount=5)])
    assert org.query("SELECT COUNT() FROM Opportunity") == \
        {"totalSize": 3, "done": True, "records": []}
    assert org.query("SELECT COUNT() FROM Opportunity LIMIT 2")["totalSize"] == 2
    assert org.query("SELECT COUNT(Id) FROM Opportunity") == {
        "totalSize": 1, "done": True,
        "records": [{"attributes": {"type": "AggregateResult"}, "expr0": 3}]}
    body = org.query("SELECT StageName, MAX(Amount), MIN(Amount) lo, SUM(Amount), "
                     "COUNT(Amount), COUNT_DISTINCT(Name), AVG(Amount) FROM Opportunity "
                     "GROUP BY StageName ORDER BY StageName")
    assert body["records"] == [
        {"attributes": {"type": "AggregateResult"}, "StageName": "Discovery", "expr0": 10.0,
         "lo": 10.0, "expr1": 10.0, "expr2": 1, "expr3": 2, "expr4": 10.0},
        {"attributes": {"type": "AggregateResult"}, "StageName": "Qualification",
         "expr0": 5.0, "lo": 5.0, "expr1": 5.0, "expr2": 1, "expr3": 1, "expr4": 5.0}]
    having = org.query("SELECT StageName s, COUNT(Id) cnt FROM Opportunity GROUP BY "
                       "StageName HAVING COUNT(Id) > 1")
    assert [(r["s"], r["cnt"]) for r in having["records"]] == [("Discovery", 2)]
    ordered = org.query("SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName "
                        "ORDER BY COUNT(Id) ASC")
    assert [r["StageName"] for r in ordered["records"]] == ["Qualification", "Discovery"]
    distinct = org.query("SELECT StageName FROM Opportunity GROUP BY StageName")
    assert distinct["totalSize"] == 2
    assert org.query("SELECT MAX(Name) FROM Opportunity WHERE Name = 'none'")["records"] \
        == [{"attributes": {"type": "AggregateResult"}, "expr0": None}]
    assert org.soql.count("SELECT COUNT() FROM Opportunity WHERE Amount != null") == 2


def test_verification_aggregate(org: Org) -> None:
    org.load_scenario("massive-upload", records=300)
    body = org.query("SELECT StageName, COUNT(Id) cnt FROM Opportunity "
                     "WHERE External_ID__c LIKE 'externalOpp%' GROUP BY StageName")
    assert sum(r["cnt"] for r in body["records"]) == 300
    assert "Qualification" not in {r["StageName"] for r in body["records"]}


def test_keyset_page_uses_the_sort_key_index(org: Org) -> None:
    q = ("SELECT Id, External_ID__c, StageName FROM Opportunity WHERE External_ID__c > "
         ":last ORDER BY External_ID__c LIMIT 500")
    plan = org.soql.plan(q)
    rows = raw(org).execute("EXPLAIN QUERY PLAN " + plan.sql, ["X", 500, 0]).fetchall()
    detail = " ".join(r[-1] for r in rows)
    assert "USING INDEX Opportunity__External_ID__c (External_ID__c__sk>?)" in detail
    assert "TEMP B-TREE" not in detail  # the index also gives the order
    like = org.soql.plan("SELECT COUNT(Id) FROM Opportunity WHERE External_ID__c LIKE 'ab%'")
    rows = raw(org).execute("EXPLAIN QUERY PLAN " + like.sql,
                                  [f(None) for f in like.params] + [1, 0]).fetchall()
    assert "External_ID__c__sk>? AND External_ID__c__sk<?" in " ".join(r[-1] for r in rows)


def test_keyset_walk_visits_every_record_once(org: Org) -> None:
    org.load_scenario("massive-upload", records=1234)
    q = ("SELECT Id, External_ID__c FROM Opportunity WHERE External_ID__c > :last "
         "ORDER BY External_ID__c LIMIT 500")
    seen: list[str] = []
    last = ""
    while True:
        recs = org.query(q, last=last)["records"]
        if not recs:
            break
        seen += [r["External_ID__c"] for r in recs]
        last = recs[-1]["External_ID__c"]
    assert len(seen) == len(set(seen)) == 1234 and seen == sorted(seen)


def test_offset_returns_one_batch_without_cursor(org: Org) -> None:
    org.insert("Account", [{"Name": f"n{i:04d}"} for i in range(2500)])
    body = org.query("SELECT Name FROM Account ORDER BY Name OFFSET 10")
    assert body["done"] is True and "nextRecordsUrl" not in body
    assert len(body["records"]) == 2000 and body["records"][0]["Name"] == "n0010"
    body = org.query("SELECT Name FROM Account ORDER BY Name LIMIT 5 OFFSET 2000")
    assert names(body) == [f"n{i:04d}" for i in range(2000, 2005)]
    assert org.query("SELECT Name FROM Account WHERE Name >= 'n2495' ORDER BY Name "
                     "LIMIT 5 OFFSET 2")["totalSize"] == 3
    assert len(org.query_records("SELECT Name FROM Account OFFSET 100")) == 2400
    assert org.query("SELECT Name FROM Account LIMIT 0")["totalSize"] == 0
