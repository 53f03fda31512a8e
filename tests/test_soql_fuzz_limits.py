"""Fuzzing the input classes of issues 14 and 19: surrogate escapes, deep nesting, wide
AND/OR lists, NOT chains and keywords glued to the next word. Every query gives a result
(checked against a Python evaluation where one is cheap) or a SalesforceError with a
documented code; never another exception."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sforg_sim import Org
from sforg_sim.errors import SalesforceError

DOCUMENTED = {"MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE", "NUMBER_OUTSIDE_VALID_RANGE",
              "INVALID_QUERY_FILTER_OPERATOR", "QUERY_TOO_COMPLICATED"}
NAMES = ["a", "b", "c", "d"]
FUZZ = settings(max_examples=60, deadline=None, derandomize=True)


@pytest.fixture(scope="module")
def org() -> Any:
    o = Org()
    acc = o.insert("Account", [{"Name": n} for n in NAMES])[0]["id"]
    o.insert("Opportunity", [{"Name": "o", "StageName": "Discovery", "CloseDate":
                              "2026-01-01", "AccountId": acc, "Amount": 20}])
    yield o
    o.store.close()


def run(org: Org, text: str) -> dict[str, Any] | SalesforceError:
    try:
        return org.query(text, names=["a", "b"])
    except SalesforceError as e:
        assert e.error_code in DOCUMENTED, (text[:300], e)
        assert isinstance(e.message, str) and e.message
        return e


# --- surrogates ---------------------------------------------------------------------------

ESCAPES = st.one_of(
    st.integers(0xD800, 0xDFFF).map(lambda c: f"\\u{c:04x}"),
    st.integers(0xD800, 0xDFFF).map(lambda c: f"\\U{c:04X}"),
    st.sampled_from(["\\uD83D\\uDE00", "\\u00e9", "x", "\\n", "%", "_"]),
    st.characters(categories=["Cs"]),  # a raw UTF-16 half in the text
)


@FUZZ
@given(st.lists(ESCAPES, min_size=1, max_size=6), st.sampled_from(["=", "LIKE", "!="]))
@example(["\\ud800"], "=")
@example(["\\uD83D", "\\uDE00"], "LIKE")
@example(["\ud83d", "\ude00"], "=")
def test_surrogates(org: Org, pieces: list[str], op: str) -> None:
    run(org, f"SELECT Id FROM Account WHERE Name {op} '{''.join(pieces)}'")


# --- depth, width, NOT chains: random trees checked against Python -------------------------


def _leaf() -> st.SearchStrategy[tuple[str, Any]]:
    def cmp(name: str, eq: bool) -> tuple[str, Any]:
        return (f"Name {'=' if eq else '!='} '{name}'",
                lambda v: (v == name) == eq)
    return st.builds(cmp, st.sampled_from(NAMES), st.booleans())


def _tree(children: st.SearchStrategy[tuple[str, Any]]) -> st.SearchStrategy[tuple[str, Any]]:
    def join(op: str, items: list[tuple[str, Any]]) -> tuple[str, Any]:
        text = f" {op} ".join(f"({t})" for t, _ in items)
        fns = [f for _, f in items]
        if op == "AND":
            return text, lambda v: all(f(v) for f in fns)
        return text, lambda v: any(f(v) for f in fns)

    def nots(n: int, item: tuple[str, Any], parens: bool) -> tuple[str, Any]:
        t, f = item
        text = "NOT (" * n + t + ")" * n if parens else "NOT " * n + f"({t})"
        return text, (lambda v: f(v) != (n % 2 == 1))

    return st.one_of(
        st.builds(join, st.sampled_from(["AND", "OR"]), st.lists(children, min_size=1,
                                                               max_size=5)),
        st.builds(nots, st.integers(1, 40), children, st.booleans()),
        st.builds(lambda n, item: ("(" * n + item[0] + ")" * n, item[1]),
                  st.integers(1, 300), children),
    )


TREES = st.recursive(_leaf(), _tree, max_leaves=60)


@FUZZ
@given(TREES)
def test_nested_conditions_match_python(org: Org, tree: tuple[str, Any]) -> None:
    text, fn = tree
    got = run(org, f"SELECT Name FROM Account WHERE {text}")
    if isinstance(got, SalesforceError):
        assert got.error_code == "QUERY_TOO_COMPLICATED", got
        return
    assert sorted(r["Name"] for r in got["records"]) == [n for n in NAMES if fn(n)]


@FUZZ
@given(st.integers(1, 6000), st.sampled_from(["OR", "AND"]), st.data())
@example(998, "OR", None)
@example(998, "AND", None)
def test_wide_lists(org: Org, width: int, op: str, data: Any) -> None:
    leaves = [f"Name = 'n{i}'" if op == "OR" else f"Name != 'n{i}'" for i in range(width)]
    if data is not None:
        i = data.draw(st.integers(0, width - 1))
        leaves[i] = "Name = 'c'" if op == "OR" else "Name != 'c'"
    got = run(org, "SELECT Name FROM Account WHERE " + f" {op} ".join(leaves))
    if len(" OR ".join(leaves)) > 99_000:
        return
    assert not isinstance(got, SalesforceError), got
    want = ["c"] if op == "OR" else ["a", "b", "d"]
    if data is None:
        want = [] if op == "OR" else NAMES
    assert sorted(r["Name"] for r in got["records"]) == want


# --- glued keywords --------------------------------------------------------------------------

SEEDS = [
    "SELECT Id, Name FROM Opportunity WHERE Amount > 10 AND NOT Name = 'x' OR Name IN :names "
    "ORDER BY Name DESC NULLS LAST LIMIT 5 OFFSET 2",
    "SELECT StageName, COUNT(Id) FROM Opportunity WHERE Name LIKE 'o%' GROUP BY StageName "
    "HAVING COUNT(Id) > 0 ORDER BY StageName ASC NULLS FIRST",
    "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Opportunity WHERE Amount > 1) "
    "AND Name != null",
]
KEYWORD_GAP = re.compile(r"\b(SELECT|FROM|WHERE|AND|OR|NOT|IN|GROUP|BY|HAVING|ORDER|ASC|DESC|"
                         r"NULLS|FIRST|LAST|LIMIT|OFFSET|LIKE) (?=\w)")


@FUZZ
@given(st.sampled_from(SEEDS), st.data())
def test_glued_keywords(org: Org, seed: str, data: Any) -> None:
    assert not isinstance(run(org, seed), SalesforceError)
    gaps = [m.end() - 1 for m in KEYWORD_GAP.finditer(seed)]
    at_ = data.draw(st.sampled_from(gaps))
    got = run(org, seed[:at_] + seed[at_ + 1:])
    # The glued word is one identifier: a syntax error, or (NOTName) an unknown field.
    assert isinstance(got, SalesforceError), seed[:at_] + seed[at_ + 1:]
    assert got.error_code in ("MALFORMED_QUERY", "INVALID_FIELD"), got
    assert "ERROR at Row:1:Column:" in got.message
