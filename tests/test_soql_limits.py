"""Issues 14 and 19: surrogate escapes, deep / wide / NOT-chained conditions, HAVING without
GROUP BY and keywords glued to the next word. Each answer is a Salesforce error with its
errorCode and caret position, or a correct result; never an internal error."""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.errors import SalesforceError
from sforg_sim.soql.parser import MAX_CONDITION_DEPTH

EMOJI = "\U0001F600"


@pytest.fixture(scope="module")
def org() -> Any:
    o = Org()
    acc = o.insert("Account", [{"Name": "Acme", "AnnualRevenue": 10},
                               {"Name": EMOJI, "AnnualRevenue": 1},
                               {"Name": "Zed"}])[0]["id"]
    o.insert("Opportunity", [{"Name": "O1", "StageName": "Prospecting",
                              "CloseDate": "2026-01-05", "AccountId": acc}])
    yield o
    o.store.close()


def names(org: Org, soql: str, **binds: Any) -> list[str]:
    return sorted(r["Name"] for r in org.query(soql, **binds)["records"])


def err(org: Org, soql: str, **binds: Any) -> SalesforceError:
    with pytest.raises(SalesforceError) as info:
        org.query(soql, **binds)
    return info.value


# --- surrogates -------------------------------------------------------------------------


@pytest.mark.parametrize("lit", ["\\uD83D\\uDE00", "\\ud83d\\ude00", "\\UD83D\\Ude00"])
def test_escaped_surrogate_pair_is_one_character(org: Org, lit: str) -> None:
    assert names(org, f"SELECT Name FROM Account WHERE Name = '{lit}'") == [EMOJI]
    assert names(org, f"SELECT Name FROM Account WHERE Name LIKE '{lit}%'") == [EMOJI]


def test_raw_surrogate_halves_in_the_text_join(org: Org) -> None:
    # json.loads('"\\ud83d\\ude00"') hands Python the two UTF-16 halves.
    assert names(org, "SELECT Name FROM Account WHERE Name = '\ud83d\ude00'") == [EMOJI]


@pytest.mark.parametrize("lit", ["\\ud800", "\\uDE00", "\\ud83dx", "\\uD83D\\u0041",
                                 "\\uD83D\\uD83D"])
def test_lone_escaped_surrogate_is_malformed(org: Org, lit: str) -> None:
    e = err(org, f"SELECT Id FROM Account WHERE Name = '{lit}'")
    assert (e.error_code, e.status) == ("MALFORMED_QUERY", 400)
    assert f"ERROR at Row:1:Column:38\nInvalid string literal '{lit}'. Illegal character " \
        f"sequence '{lit[:6]}' in string literal." in e.message


def test_lone_raw_surrogate_is_malformed(org: Org) -> None:
    e = err(org, "SELECT Id FROM Account WHERE Name = 'a\udc00'")
    assert (e.error_code, e.status) == ("MALFORMED_QUERY", 400)
    assert e.message.endswith("ERROR at Row:1:Column:39\nline 1:38 no viable alternative at "
                              "character '\\udc00'")


# --- depth, width and NOT chains -------------------------------------------------------


@pytest.mark.parametrize("n", [245, 20_000])
def test_nested_parentheses_run(org: Org, n: int) -> None:
    soql = "SELECT Name FROM Account WHERE " + "(" * n + "Name = 'Acme'" + ")" * n
    assert names(org, soql) == ["Acme"]


@pytest.mark.parametrize("op", ["OR", "AND"])
def test_998_terms_run(org: Org, op: str) -> None:
    if op == "OR":
        terms = [f"Name = 'n{i}'" for i in range(997)] + ["Name = 'Zed'"]
        want = ["Zed"]
    else:
        terms = [f"Name != 'n{i}'" for i in range(997)] + ["Name != 'Zed'"]
        want = ["Acme", EMOJI]
    assert names(org, "SELECT Name FROM Account WHERE " + f" {op} ".join(terms)) == want


def test_many_date_literal_terms_run(org: Org) -> None:
    soql = "SELECT COUNT() FROM Account WHERE " + " OR ".join(["CreatedDate = TODAY"] * 4000)
    assert org.query(soql)["totalSize"] == 3


@pytest.mark.parametrize("n", [1, 2, 17, 18, 19, 100, 1001])
def test_not_chains_run_two_valued(org: Org, n: int) -> None:
    # NOT is two-valued (NOT (x > 5) returns nulls), so an even chain is x, an odd one NOT x.
    got = names(org, "SELECT Name FROM Account WHERE " + "NOT " * n + "AnnualRevenue > 5")
    assert got == (["Acme"] if n % 2 == 0 else sorted([EMOJI, "Zed"]))
    nested = "SELECT Name FROM Account WHERE " + "NOT (" * n + "AnnualRevenue > 5" + ")" * n
    assert names(org, nested) == got


def test_even_not_chain_keeps_semi_join_rule(org: Org) -> None:
    e = err(org, "SELECT Id FROM Account WHERE NOT NOT NOT NOT Id IN "
            "(SELECT AccountId FROM Opportunity)")
    assert e.error_code == "MALFORMED_QUERY"
    assert e.message.endswith("ERROR at Row:1:Column:30\nSemi join sub-selects are not "
                              "allowed with the 'NOT' operator")


def test_same_operator_nesting_merges(org: Org) -> None:
    n = 150
    soql = "SELECT Name FROM Account WHERE " + "Name = 'x' OR (" * n + "Name = 'Zed'" + ")" * n
    assert names(org, soql) == ["Zed"]


def _nest(levels: int, leaf: str, not_each: bool = False, width: int = 1) -> str:
    s = leaf
    for i in range(levels):
        s = (" OR " if i % 2 else " AND ").join([leaf] * width + [f"({s})"])
        if not_each:
            s = f"NOT ({s})"
    return s


LEAVES = ["Name != 'x'", "Name NOT IN :ids", "CreatedDate NOT IN (TODAY, YESTERDAY)",
          "Name LIKE 'ab%'", "CreatedDate != TODAY", "Name NOT IN ('a', null)"]
TEMPLATES = [
    "SELECT Id FROM Account WHERE {c}",
    "SELECT COUNT() FROM Account WHERE {c}",
    "SELECT Id FROM Account WHERE Name = 'x' AND Id IN (SELECT AccountId FROM Opportunity "
    "WHERE {o}) AND Id NOT IN (SELECT AccountId FROM Opportunity WHERE {o})",
]


@pytest.mark.parametrize("leaf", LEAVES)
@pytest.mark.parametrize("tmpl", TEMPLATES)
@pytest.mark.parametrize(("not_each", "width"), [(False, 1), (True, 1), (False, 20)])
def test_deep_nesting_runs_until_query_too_complicated(org: Org, leaf: str, tmpl: str,
                                                       not_each: bool, width: int) -> None:
    """Calibrates parser.MAX_CONDITION_DEPTH: every depth runs until the first that is
    QUERY_TOO_COMPLICATED (never SQLite's "parser stack overflow")."""
    for levels in range(1, 60):
        cond = _nest(levels, leaf, not_each, width)
        soql = tmpl.format(c=cond, o=cond.replace("CreatedDate", "CloseDate"))
        try:
            org.query(soql, ids=["a", None])
        except SalesforceError as e:
            assert (e.error_code, e.status) == ("QUERY_TOO_COMPLICATED", 400), e
            assert "\nERROR at Row:1:Column:" in e.message
            assert "the filter conditions are too complicated." in e.message
            assert f"more than {MAX_CONDITION_DEPTH} levels" in e.message
            assert levels > 5  # ordinary nesting runs
            return
    pytest.fail("no depth limit reached")


def test_written_nesting_bound(org: Org) -> None:
    n = 250
    soql = "SELECT Name FROM Account WHERE " + "Name = 'x' OR (" * n + "Name = 'Zed'" + ")" * n
    e = err(org, soql)
    assert e.error_code == "QUERY_TOO_COMPLICATED"
    assert "more than 200 levels" in e.message


# --- issue 19: HAVING without GROUP BY, glued keywords -----------------------------------


def test_having_without_group_by_on_plain_query_is_rejected(org: Org) -> None:
    e = err(org, "SELECT Name FROM Account HAVING Name = 'zzz'")
    assert (e.error_code, e.status) == ("MALFORMED_QUERY", 400)
    assert e.message.endswith("ERROR at Row:1:Column:8\nField must be grouped or aggregated: "
                              "Name")


def test_having_without_group_by_on_aggregate_query_still_runs(org: Org) -> None:
    body = org.query("SELECT COUNT(Id) n FROM Account HAVING COUNT(Id) > 1")
    assert body["records"][0]["n"] == 3


# Right after the FROM object a single word is a table alias (issue 19, "Alias
# Notation"), so the glued keywords are tried after an alias there.
@pytest.mark.parametrize(("soql", "token", "col"), [
    ("SELECTName FROM Account", "SELECTName", 1),
    ("SELECT Name FROM Account a ORDERBY Name", "ORDERBY", 28),
    ("SELECT Name FROM Account ORDER BYName", "BYName", 32),
    ("SELECT Name FROM Account a WHEREName = 'x'", "WHEREName", 28),
    ("SELECT Name FROM Account a LIMIT1", "LIMIT1", 28),
    ("SELECT Name FROM Account LIMIT 1 OFFSET1", "OFFSET1", 34),
    ("SELECT Name FROM Account a GROUPBY Name", "GROUPBY", 28),
    ("SELECT Name FROM Account ORDER BY Name DESCNULLS LAST", "DESCNULLS", 40),
    ("SELECT Name FROM Account ORDER BY Name NULLSLAST", "NULLSLAST", 40),
    ("SELECT Name FROM Account WHERE Name = 'x' ANDName = 'y'", "ANDName", 43),
    ("SELECT Name FROM Account WHERE Name = 'x' ORName = 'y'", "ORName", 43),
])
def test_glued_keywords_are_unexpected_tokens(org: Org, soql: str, token: str,
                                              col: int) -> None:
    e = err(org, soql)
    assert (e.error_code, e.status) == ("MALFORMED_QUERY", 400)
    assert e.message.endswith(f"ERROR at Row:1:Column:{col}\nunexpected token: '{token}'")


@pytest.mark.parametrize("soql", [
    "SELECT Name FROM Account WHERE(Name='Acme')OR(Name='Zed')",
    "SELECT Name FROM Account WHERE Name IN('Acme','Zed')",
    "SELECT Name FROM Account WHERE NOT(Name='x')AND Name LIKE'%e%'",
    "select name from account where name in :names order by name desc nulls last limit 5",
    "SELECT Name FROM Account WHERE CreatedDate = LAST_N_DAYS:5 AND Name IN :names",
])
def test_keywords_next_to_punctuation_still_parse(org: Org, soql: str) -> None:
    assert names(org, soql, names=["Acme", "Zed"]) == ["Acme", "Zed"]
