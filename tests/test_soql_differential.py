"""Differential property test: the SOQL engine against tests/soql_reference.py.

Hypothesis builds a small dataset of Item__c rows (nulls, mixed case, ``_``/``%``/quote and
backslash characters, ties, soft-deleted rows) and a random structured query, renders it
to SOQL text, and checks the engine's answer against the pure-Python reference:

- without ORDER BY: the same multiset of rows (with LIMIT/OFFSET: the right number of rows,
  each one a match);
- with ORDER BY: the sequence of sort keys is identical (any tie order is allowed, as on
  Salesforce), and the rows are identical when the keys determine them.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tests.soql_reference import KINDS, Atom, Bool, Q, aggregate, evaluate, key_of, sort_key

from sforg_sim import Org
from sforg_sim.schema import Field

TEXT_ALPHABET = "aAbB_%'\\ "
DAYS = ["2025-12-31", "2026-01-01", "2026-01-04", "2026-01-05", "2026-01-06", "2026-02-01"]
STAMPS = ["2026-01-04T23:59:59.000+0000", "2026-01-05T00:00:00.000+0000",
          "2026-01-05T10:30:00.000+0000", "2026-01-06T00:00:00.000+0000"]
FIELDS = [k for k in KINDS if k != "Id"]


def _org() -> Org:
    org = Org()
    org.add_object("Item__c", [
        Field("Label__c", "string", "Label", 80),
        Field("Code__c", "string", "Code", 80, case_sensitive=True),
        Field("Qty__c", "int", "Qty"),
        Field("Score__c", "double", "Score", precision=18, scale=2),
        Field("Flag__c", "boolean", "Flag"),
        Field("Day__c", "date", "Day"),
        Field("When__c", "datetime", "When"),
    ])
    return org


# --- strategies ---------------------------------------------------------------------------

texts = st.text(alphabet=TEXT_ALPHABET, min_size=1, max_size=3)
values = {
    "text": texts, "cstext": texts,
    "number": st.sampled_from([-2, 0, 1, 3]),
    "double": st.sampled_from([-1.5, 0.0, 2.25, 3.0]),
    "boolean": st.booleans(),
    "date": st.sampled_from(DAYS),
    "datetime": st.sampled_from(STAMPS),
}


def _value_strategy(name: str) -> st.SearchStrategy[Any]:
    kind = "double" if name == "Score__c" else KINDS[name]
    return values[kind]


row_strategy = st.fixed_dictionaries({
    name: (_value_strategy(name) if name == "Flag__c"
           else st.none() | _value_strategy(name)) for name in FIELDS})
datasets = st.lists(st.tuples(row_strategy, st.booleans()), max_size=10)


@st.composite
def atoms(draw: st.DrawFn) -> Atom:
    name = draw(st.sampled_from(FIELDS))
    kind = KINDS[name]
    ops = ["=", "!="] if kind == "boolean" else ["=", "!=", "<", "<=", ">", ">="]
    ops += ["IN", "NOTIN"]
    if kind in ("text", "cstext"):
        ops.append("LIKE")
    op = draw(st.sampled_from(ops))
    if op == "LIKE":
        parts = draw(st.lists(st.sampled_from(["a", "B", "_", "%", "\\%", "\\_", "'"]),
                              min_size=0, max_size=4))
        return Atom(name, op, "".join(parts))
    if kind in ("date", "datetime") and op not in ("IN", "NOTIN") and draw(st.booleans()):
        lit = draw(st.sampled_from([("TODAY", None), ("YESTERDAY", None),
                                    ("TOMORROW", None), ("THIS_MONTH", None),
                                    ("LAST_N_DAYS", 1), ("NEXT_N_DAYS", 2)]))
        return Atom(name, op, ("LIT", *lit))
    single = st.none() | _value_strategy(name) if op in ("=", "!=") else \
        _value_strategy(name)
    if op in ("IN", "NOTIN"):
        return Atom(name, op, draw(st.lists(st.none() | _value_strategy(name),
                                            min_size=1, max_size=3)))
    return Atom(name, op, draw(single))


conditions = st.recursive(
    atoms(),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["AND", "OR"]), st.lists(inner, min_size=2, max_size=3))
        .map(lambda t: Bool(t[0], tuple(t[1]))),
        inner.map(lambda c: Bool("NOT", (c,)))),
    max_leaves=4)

orders = st.lists(st.tuples(st.sampled_from(FIELDS), st.booleans(),
                            st.sampled_from([None, True, False])),
                  max_size=3, unique_by=lambda t: t[0])


@st.composite
def row_queries(draw: st.DrawFn) -> Q:
    select = ["Id", *draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=4))]
    return Q(select=select, where=draw(st.none() | conditions), order=draw(orders),
             limit=draw(st.none() | st.integers(0, 12)),
             offset=draw(st.none() | st.integers(0, 5)))


GROUPABLE = ["Label__c", "Code__c", "Qty__c", "Flag__c", "Day__c"]
AGGS = [("COUNT", "Id"), ("COUNT", "Label__c"), ("COUNT_DISTINCT", "Label__c"),
        ("SUM", "Qty__c"), ("AVG", "Score__c"), ("MIN", "Label__c"), ("MAX", "Day__c"),
        ("MAX", "Code__c"), ("MIN", "Score__c"), ("MAX", "When__c")]


@st.composite
def agg_queries(draw: st.DrawFn) -> Q:
    group = draw(st.none() | st.sampled_from(GROUPABLE))
    aggs = draw(st.lists(st.sampled_from(AGGS), min_size=1, max_size=3))
    having = draw(st.none() | st.integers(0, 2)) if group else None
    return Q(select=[group] if group else [], where=draw(st.none() | conditions),
             group=group, aggs=aggs, having_count_gt=having,
             order=[(group, False, None)] if group and draw(st.booleans()) else [])


# --- rendering ----------------------------------------------------------------------------


def soql_string(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_value(name: str, v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, tuple):
        return v[1] if v[2] is None else f"{v[1]}:{v[2]}"
    kind = KINDS[name]
    if kind in ("text", "cstext"):
        return soql_string(v)
    if kind == "boolean":
        return "TRUE" if v else "FALSE"
    if kind == "datetime":
        return v[:19] + "Z"
    return str(v)


def render_cond(c: Any) -> str:
    if isinstance(c, Bool):
        if c.op == "NOT":
            return f"(NOT {render_cond(c.items[0])})"
        return "(" + f" {c.op} ".join(render_cond(i) for i in c.items) + ")"
    if c.op == "LIKE":
        # The pattern is already in SOQL escape syntax apart from quotes.
        return f"{c.field} LIKE '" + c.value.replace("'", "\\'") + "'"
    if c.op in ("IN", "NOTIN"):
        vals = ", ".join(render_value(c.field, v) for v in c.value)
        return f"{c.field} {'NOT IN' if c.op == 'NOTIN' else 'IN'} ({vals})"
    return f"{c.field} {c.op} {render_value(c.field, c.value)}"


def render(q: Q) -> str:
    items = [*q.select, *(f"{f}({a})" for f, a in q.aggs)] if q.aggs else q.select
    text = f"SELECT {', '.join(items)} FROM Item__c"
    if q.where is not None:
        text += f" WHERE {render_cond(q.where)}"
    if q.group:
        text += f" GROUP BY {q.group}"
    if q.having_count_gt is not None:
        text += f" HAVING COUNT(Id) > {q.having_count_gt}"
    if q.order:
        keys = []
        for name, desc, nulls in q.order:
            k = name + (" DESC" if desc else " ASC")
            if nulls is not None:
                k += " NULLS FIRST" if nulls else " NULLS LAST"
            keys.append(k)
        text += " ORDER BY " + ", ".join(keys)
    if q.limit is not None:
        text += f" LIMIT {q.limit}"
    if q.offset is not None:
        text += f" OFFSET {q.offset}"
    return text


# --- the test -------------------------------------------------------------------------------


def load(org: Org, data: list[tuple[dict[str, Any], bool]]) -> list[dict[str, Any]]:
    """Insert the rows; soft-delete the flagged ones; return the live rows (stored form)."""
    live = []
    if not data:
        return live
    res = org.insert("Item__c", [r for r, _ in data])
    assert all(r["success"] for r in res), res
    doomed = [r["id"] for r, (_, dead) in zip(res, data) if dead]
    if doomed:
        org.delete("Item__c", doomed)
    for r, (row, dead) in zip(res, data):
        if not dead:
            live.append({"Id": r["id"], **row, "Flag__c": int(row["Flag__c"])})
    return live


def output(row: dict[str, Any], names: list[str]) -> dict[str, Any]:
    out = {n: row[n] for n in names}
    if "Flag__c" in out and out["Flag__c"] is not None:
        out["Flag__c"] = bool(out["Flag__c"])
    return out


def _freeze(rec: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, v) for k, v in rec.items() if k != "attributes"))


def check_rows(org: Org, live: list[dict[str, Any]], q: Q) -> None:
    text = render(q)
    now = org.clock.now()
    body = org.query(text)
    got = [{k: v for k, v in r.items() if k != "attributes"} for r in body["records"]]
    assert body["done"] is True and body["totalSize"] == len(got), text
    matched = evaluate(live, Q(q.select, q.where, q.order), now)
    want = evaluate(live, q, now)
    assert len(got) == len(want), text
    by_id = {r["Id"]: r for r in live}
    assert all(g == output(by_id[g["Id"]], q.select) for g in got), text
    assert {g["Id"] for g in got} <= {r["Id"] for r in matched}, text
    if not q.order:
        if q.limit is None and q.offset is None:
            assert Counter(map(_freeze, got)) == \
                Counter(_freeze(output(r, q.select)) for r in want), text
        return
    got_keys = [sort_key(by_id[g["Id"]], q.order) for g in got]
    want_keys = [sort_key(r, q.order) for r in want]
    assert got_keys == want_keys, text
    all_keys = [sort_key(r, q.order) for r in matched]
    if len(set(all_keys)) == len(all_keys):  # ORDER BY fully determines the rows
        assert [g["Id"] for g in got] == [r["Id"] for r in want], text


def _same(a: Any, b: Any, name: str | None) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, abs_tol=1e-9)
    if name is not None and KINDS.get(name) == "text" and a is not None and b is not None:
        return bool(key_of(name, a) == key_of(name, b))
    return bool(a == b)


def check_aggs(org: Org, live: list[dict[str, Any]], q: Q) -> None:
    text = render(q)
    body = org.query(text)
    got = [{k: v for k, v in r.items() if k != "attributes"} for r in body["records"]]
    want = aggregate(live, q, org.clock.now())
    assert body["done"] is True and body["totalSize"] == len(got) == len(want), text
    names = {f"expr{i}": a for i, (_, a) in enumerate(q.aggs)}
    if q.group:
        names[q.group] = q.group
        if not q.order:
            def gk(r: dict[str, Any]) -> Any:
                v = key_of(q.group, r[q.group])
                return (v is not None, v if v is not None else 0)
            got.sort(key=gk)
            want.sort(key=gk)
    for g, w in zip(got, want):
        assert g.keys() == w.keys(), text
        for k in g:
            fname = names[k]
            kind_name = fname if fname in KINDS else None
            if k.startswith("expr"):
                func = q.aggs[int(k[4:])][0]
                kind_name = fname if func in ("MIN", "MAX") else None
            assert _same(g[k], w[k], kind_name), (text, k, g, w)


@given(datasets, row_queries())
@example(data=[({"Label__c": "a", "Code__c": "A", "Qty__c": None, "Score__c": None,
                 "Flag__c": False, "Day__c": None, "When__c": None}, False),
               ({"Label__c": "_", "Code__c": "a", "Qty__c": 1, "Score__c": 0.0,
                 "Flag__c": True, "Day__c": "2026-01-05", "When__c": None}, False)],
         q=Q(["Id", "Label__c"], order=[("Label__c", False, None)]))
def test_row_queries_match_reference(data: list[tuple[dict[str, Any], bool]], q: Q) -> None:
    org = _org()
    try:
        check_rows(org, load(org, data), q)
    finally:
        org.close()


_NULL_ROW = {"Label__c": None, "Code__c": None, "Qty__c": None, "Score__c": None,
             "Flag__c": False, "Day__c": None, "When__c": None}


@given(datasets, agg_queries())
@example(data=[({**_NULL_ROW, "Label__c": "B"}, False), ({**_NULL_ROW, "Label__c": "a"}, False),
               ({**_NULL_ROW, "Label__c": "_"}, False), (_NULL_ROW, False)],
         q=Q(["Label__c"], group="Label__c", aggs=[("COUNT", "Id")],
             order=[("Label__c", False, None)]))
# Found by the thorough profile: on a datetime field LAST_N_DAYS ends at the current second,
# so a time later today (the SimClock stands at 02:00) is outside it.
@example(data=[({**_NULL_ROW, "When__c": "2026-01-05T10:00:00.000+0000"}, False),
               ({**_NULL_ROW, "When__c": "2026-01-05T01:00:00.000+0000"}, False)],
         q=Q([], aggs=[("COUNT", "Id")], where=Atom("When__c", "=", ("LIT", "LAST_N_DAYS", 1))))
def test_aggregate_queries_match_reference(data: list[tuple[dict[str, Any], bool]],
                                           q: Q) -> None:
    org = _org()
    try:
        check_aggs(org, load(org, data), q)
    finally:
        org.close()


def test_reference_sorts_underscore_after_letters() -> None:
    """The reference itself encodes the fact the engine must honour (sanity check)."""
    rows = [{"Label__c": "_x"}, {"Label__c": "bx"}, {"Label__c": None}]
    got = sorted(rows, key=lambda r: sort_key(r, [("Label__c", False, None)]))
    assert [r["Label__c"] for r in got] == [None, "bx", "_x"]


@pytest.mark.parametrize("q", [
    Q(["Id"], where=Atom("Label__c", "!=", "a")),
    Q(["Id"], where=Atom("Label__c", "NOTIN", ["a"])),
    Q(["Id"], where=Bool("NOT", (Atom("Qty__c", ">", 0),))),
    Q(["Id"], where=Atom("Qty__c", "<", 5)),
])
def test_null_semantics_rows(q: Q) -> None:
    """research section 1: != / NOT IN / NOT return null rows; range operators do not."""
    org = _org()
    live = load(org, [({"Label__c": None, "Code__c": None, "Qty__c": None,
                        "Score__c": None, "Flag__c": False, "Day__c": None,
                        "When__c": None}, False)])
    expect_null_row = q.where.op in ("!=", "NOTIN", "NOT")
    body = org.query(render(q))
    assert body["totalSize"] == (1 if expect_null_row else 0)
    check_rows(org, live, q)
