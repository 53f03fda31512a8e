"""SOSL's fast path (SQL prefilter, then the exact token check on the rows SQLite kept; only
the ids that can come back handed to SOQL) against the slow reference path it replaced
(``search(..., reference=True)``: every record read through SOQL and tokenised).

Sources: ``src/sforg_sim/sosl/prefilter.py`` and ``engine.py``; docs/fidelity.md SS5.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sforg_sim import Org
from sforg_sim.errors import SalesforceError
from sforg_sim.sosl import engine as sosl_engine
from sforg_sim.sosl.engine import BIND_NAME, search


def run(org: Org, sosl: str, reference: bool = False, **kw: Any) -> Any:
    with org.lock:
        return search(org.soql, org.schema, sosl, reference=reference, **kw)


def both(org: Org, sosl: str, **kw: Any) -> Any:
    """The fast answer, checked equal to the reference answer (or the same error)."""
    try:
        want: Any = run(org, sosl, reference=True, **kw)
    except SalesforceError as e:
        want = (type(e), e.message)
    try:
        got: Any = run(org, sosl, **kw)
    except SalesforceError as e:
        got = (type(e), e.message)
    assert got == want, sosl
    return got


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org()
    yield o
    o.close()


# --- SQLite folds ASCII only: non-ASCII rows stay candidates -----------------------------


def test_non_ascii_values_still_match_ascii_words(org: Org) -> None:
    # Python's casefold maps "ß" to "ss", the Kelvin sign to "k" and "É" to "é"; SQLite's
    # LIKE folds none of them, so a LIKE-only prefilter would drop these rows.
    org.insert("Account", [{"Name": "Straße 5"}, {"Name": "\u212aelvin Labs"},
                           {"Name": "ÉCOLE Centrale"}, {"Name": "Plain Labs"}])
    (rows,) = both(org, "FIND {strasse OR kelvin OR école} RETURNING Account(Name)")
    assert sorted(r["Name"] for r in rows) == ["Straße 5", "ÉCOLE Centrale",
                                               "\u212aelvin Labs"]


def test_non_ascii_knowledge_follows_table_changes(org: Org) -> None:
    # Which columns hold non-ASCII text is remembered per version of the table: a row
    # inserted after a search must be seen by the next one.
    org.insert("Account", [{"Name": "Plain Labs"}])
    assert both(org, "FIND {kelvin} RETURNING Account(Name)") == [[]]
    org.insert("Account", [{"Name": "\u212aelvin Labs"}])
    (rows,) = both(org, "FIND {kelvin} RETURNING Account(Name)")
    assert [r["Name"] for r in rows] == ["\u212aelvin Labs"]


# --- the prefilter does the set work ---------------------------------------------------------


def test_only_candidate_rows_are_tokenised(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    org.insert("Account", [{"Name": f"Filler {i}", "Industry": "Energy"} for i in range(400)]
               + [{"Name": "Needle Works"}])
    calls = 0
    real = sosl_engine.tokens

    def counting(value: object) -> list[str]:
        nonlocal calls
        calls += 1
        return real(value)

    monkeypatch.setattr(sosl_engine, "tokens", counting)
    (rows,) = run(org, "FIND {needle} RETURNING Account(Name)")
    assert [r["Name"] for r in rows] == ["Needle Works"]
    # One candidate row, its two searched fields (Name, Industry); the slow path
    # tokenises all 401 rows.
    assert calls == 2
    calls = 0
    run(org, "FIND {needle} RETURNING Account(Name)", reference=True)
    assert calls == 802


def test_only_returnable_ids_go_to_soql(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    org.insert("Account", [{"Name": f"Omega {i:04d}"} for i in range(600)])
    sizes: list[int] = []
    real = org.soql.records

    def spy(soql: str, *args: Any, binds: Any = None, **kw: Any) -> Any:
        if binds and BIND_NAME in binds:
            sizes.append(len(binds[BIND_NAME]))
        return real(soql, *args, binds=binds, **kw)

    monkeypatch.setattr(org.soql, "records", spy)
    fast = run(org, "FIND {omega} RETURNING Account(Name LIMIT 7 OFFSET 3)")
    # No WHERE and no ORDER BY: the page is the smallest ids, so only 3 + 7 are passed.
    assert sizes == [10]
    sizes.clear()
    assert run(org, "FIND {omega} RETURNING Account(Name LIMIT 7 OFFSET 3)",
               reference=True) == fast
    assert sizes == [600]
    sizes.clear()
    run(org, "FIND {omega} RETURNING Account(Name WHERE Name != 'x' LIMIT 7)")
    # SQLite applies the WHERE to the candidates first: 7 matches, in Id order.
    assert sizes == [7]


def test_long_search_queries_skip_the_prefilter(org: Org) -> None:
    # Over 4,000 characters every word is ORed; 1,600 words over Contact's eight searched
    # fields would make one SQL expression deeper than SQLite allows ("Expression tree is
    # too large (maximum depth 1000)").
    org.insert("Contact", [{"LastName": "Zeta"}, {"LastName": "Other"}])
    words = " ".join(f"w{i:04d}" for i in range(1600)) + " zeta"
    assert 4000 < len(words) <= 10_000
    (rows,) = both(org, f"FIND {{{words}}} RETURNING Contact(LastName)")
    assert [r["LastName"] for r in rows] == ["Zeta"]


# --- the fast path answers what the reference answers --------------------------------------

WORDS = ["ab", "abc", "cd", "Ab", "ABD", "é", "ß", "ss", "\u212a", "k", "x1", "2"]
PUNCT = [" ", " ", " ", "-", ".", "@", "_", "%", "\\"]

value = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(PUNCT)), max_size=4).map(
    lambda parts: "".join(w + p for w, p in parts).strip() or "ab")

TERM_WORDS = ["ab", "abc", "cd", "k", "ss", "x1", "ab*", "a?", "a*d", "c*", "é", "ß", "2*",
              "\\_ab", "ab\\-cd", '"ab cd"', '"ab abc"', "ab.cd", "x1\\@ab"]


@st.composite
def term(draw: st.DrawFn, depth: int = 0) -> str:
    if depth < 2 and draw(st.booleans()):
        left = draw(term(depth + 1))
        right = draw(term(depth + 1))
        op = draw(st.sampled_from([" ", " AND ", " OR ", " AND NOT "]))
        inner = f"{left}{op}{right}"
        return f"({inner})" if draw(st.booleans()) else inner
    return draw(st.sampled_from(TERM_WORDS))


RETURNING = [
    "Account", "Account(Name)", "Account(Name, Industry ORDER BY Name, Id)",
    "Account(Name LIMIT 2)", "Account(Name LIMIT 2 OFFSET 1)",
    "Account(Name WHERE Name LIKE 'a%')", "Account(Id ORDER BY Name DESC LIMIT 3 OFFSET 1)",
    "Account(Name), Contact(LastName, Email)", "Contact(LastName WHERE Title != null)",
    "Account, Contact(FirstName) LIMIT 3",
    # WHERE and ORDER BY applied by SQLite to the candidates, reading stopped at the last
    # row needed (ties on the ORDER BY keys at the cut included): tests/test_sosl_order_s5f
    "Account(Name WHERE Industry = 'Energy' LIMIT 2 OFFSET 1)",
    "Account(Name, Industry WHERE Name != 'ab' ORDER BY Industry LIMIT 2 OFFSET 1)",
    "Account(Id ORDER BY Industry DESC NULLS LAST, Name LIMIT 3)",
    "Account(Name ORDER BY Industry LIMIT 1)",
    "Account(Name WHERE Industry != null ORDER BY Name DESC LIMIT 2 OFFSET 2)",
    "Contact(Name, Title ORDER BY Title DESC LIMIT 1 OFFSET 1)",
    "Contact(Name WHERE LastName LIKE 'a%' ORDER BY Name LIMIT 2), "
    "Account(Name ORDER BY Industry LIMIT 2) LIMIT 3",
]

INDUSTRIES = ["Energy", "Retail", None]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts=st.lists(st.tuples(value, st.sampled_from(INDUSTRIES)), max_size=8),
       contacts=st.lists(st.tuples(value, value),
                                                                max_size=6),
       query=term(), scope=st.sampled_from(["", " IN ALL FIELDS", " IN NAME FIELDS",
                                            " IN EMAIL FIELDS", " IN PHONE FIELDS"]),
       returning=st.sampled_from([None, *RETURNING]), deleted=st.integers(0, 2))
def test_fast_path_agrees_with_the_reference(accounts: list[tuple[str, str | None]],
                                             contacts: list[tuple[str, str]], query: str,
                                             scope: str, returning: str | None,
                                             deleted: int) -> None:
    o = Org()
    try:
        if accounts:
            res = o.insert("Account", [{"Name": n, "Industry": industry}
                                       for n, industry in accounts])
            o.delete("Account", [r["id"] for r in res[:deleted] if r["id"]])
        if contacts:
            o.insert("Contact", [{"LastName": last, "Title": title, "Email": "a.b@cd.com"}
                                 for last, title in contacts])
        tail = "" if returning is None else f" RETURNING {returning}"
        both(o, f"FIND {{{query}}}{scope}{tail}")
    finally:
        o.close()
