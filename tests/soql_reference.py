"""A tiny, obviously-correct SOQL evaluator over Python rows, for differential tests.

It works on structured queries (:class:`Q`), never on SOQL text, and shares no code with
the engine. Semantics follow docs/research/soql.md: two-valued logic where ``!=`` and
``NOT IN`` return null rows and range operators never do; text compares by its upper-case
form; LIKE with ``%``/``_``; ORDER BY with NULLS FIRST by default for ASC and DESC (SOQL
reference, ORDER BY: "By default, null values are sorted first").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

# Field kinds of the test object Item__c (see test_soql_differential.py).
KINDS = {
    "Id": "id", "Label__c": "text", "Code__c": "cstext", "Qty__c": "number",
    "Score__c": "number", "Flag__c": "boolean", "Day__c": "date", "When__c": "datetime",
}


@dataclass(frozen=True)
class Atom:
    """``field op value``; op in = != < <= > >= LIKE IN NOTIN; value per kind."""

    field: str
    op: str
    value: Any  # a Python value, a list for IN/NOTIN, ("LIT", name, n) for date literals


@dataclass(frozen=True)
class Bool:
    """AND / OR of items, or NOT of one item."""

    op: str
    items: tuple[Any, ...]


@dataclass
class Q:
    """A structured query: select fields, where, order, limit, offset, or grouping."""

    select: list[str]
    where: Any = None
    order: list[tuple[str, bool, bool | None]] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    group: str | None = None
    aggs: list[tuple[str, str | None]] = field(default_factory=list)  # (func, field|None)
    having_count_gt: int | None = None


def upper(v: Any) -> Any:
    return v.upper() if isinstance(v, str) else v


def key_of(name: str, v: Any) -> Any:
    """The value compared and sorted: upper-case for case-insensitive text."""
    return upper(v) if KINDS[name] == "text" else v


def literal_range(name: str, n: int | None, today: date) -> tuple[date, date]:
    """The few relative date literals the tests generate, as [start, end)."""
    d = timedelta(days=1)
    if name == "TODAY":
        return today, today + d
    if name == "YESTERDAY":
        return today - d, today
    if name == "TOMORROW":
        return today + d, today + 2 * d
    if name == "LAST_N_DAYS":
        return today - (n or 0) * d, today + d
    if name == "NEXT_N_DAYS":
        return today + d, today + ((n or 0) + 1) * d
    if name == "THIS_MONTH":
        start = today.replace(day=1)
        nxt = (start + 32 * d).replace(day=1)
        return start, nxt
    raise AssertionError(name)


def like(value: str, pattern: str) -> bool:
    """SOQL LIKE (``\\%`` / ``\\_`` escapes), case-insensitive: compare upper-case forms."""
    return re.fullmatch(_cs_like(pattern.upper()), value.upper(), re.S) is not None


def stamp(t: datetime) -> str:
    """A UTC datetime in the stored form."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


def holds(row: dict[str, Any], cond: Any, now: datetime) -> bool:
    """Two-valued truth of a condition on a row."""
    if cond is None:
        return True
    if isinstance(cond, Bool):
        if cond.op == "AND":
            return all(holds(row, c, now) for c in cond.items)
        if cond.op == "OR":
            return any(holds(row, c, now) for c in cond.items)
        return not holds(row, cond.items[0], now)
    name, op, value = cond.field, cond.op, cond.value
    kind = KINDS[name]
    v = row[name]
    if kind == "boolean" and v is None:
        v = False
    if kind == "boolean" and value is None:
        value = False
    if isinstance(value, tuple) and value and value[0] == "LIT":
        lo_day, hi_day = literal_range(value[1], value[2], now.date())
        if v is None:
            return op == "!="
        # Compare as text in the stored form: dates as YYYY-MM-DD, datetimes as
        # YYYY-MM-DDTHH:MM:SS.mmm+0000 (text order is time order). On a datetime field
        # LAST_N_DAYS ends at the current second, not at midnight (docs/research/soql.md §6).
        lo, hi = lo_day.isoformat(), hi_day.isoformat()
        if kind == "datetime":
            lo += "T00:00:00.000+0000"
            hi = (stamp(now + timedelta(milliseconds=1)) if value[1] == "LAST_N_DAYS"
                  else hi + "T00:00:00.000+0000")
        inside = lo <= v < hi
        return {"=": inside, "!=": not inside, "<": v < lo, "<=": v < hi,
                ">": v >= hi, ">=": v >= lo}[op]
    if op == "LIKE":
        if v is None:
            return False
        if kind == "text":
            return like(v, value)
        return re.fullmatch(_cs_like(value), v, re.S) is not None
    if op in ("IN", "NOTIN"):
        keys = {key_of(name, x) for x in value}
        hit = key_of(name, v) in keys
        return hit if op == "IN" else not hit
    a, b = key_of(name, v), key_of(name, value)
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if a is None or b is None:
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _cs_like(pattern: str) -> str:
    rx, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            rx += re.escape(pattern[i + 1])
            i += 2
            continue
        rx += ".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
        i += 1
    return rx


def sort_key(row: dict[str, Any], order: list[tuple[str, bool, bool | None]]) -> tuple:
    """A key that sorts rows as ORDER BY does (descending handled by inversion)."""
    out = []
    for name, desc, nulls_first in order:
        nf = True if nulls_first is None else nulls_first  # nulls first, DESC too
        v = key_of(name, row[name])
        if v is None:
            out.append((0 if nf else 2, _Rev(0) if desc else 0))
        else:
            out.append((1, _Rev(v) if desc else v))
    return tuple(out)


class _Rev:
    """Inverts ordering for DESC keys."""

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Rev) -> bool:
        return bool(other.v < self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Rev) and self.v == other.v

    def __hash__(self) -> int:
        return hash(self.v)


def evaluate(rows: list[dict[str, Any]], q: Q, now: datetime) -> list[dict[str, Any]]:
    """Matching rows (deleted ones already excluded by the caller), ordered and paged."""
    hits = [r for r in rows if holds(r, q.where, now)]
    if q.order:
        hits.sort(key=lambda r: sort_key(r, q.order))
    start = q.offset or 0
    end = None if q.limit is None else start + q.limit
    return hits[start:end]


def aggregate(rows: list[dict[str, Any]], q: Q, now: datetime) -> list[dict[str, Any]]:
    """GROUP BY ``q.group`` (or one group), aggregates named exprN, HAVING COUNT > n."""
    hits = [r for r in rows if holds(r, q.where, now)]
    groups: dict[Any, list[dict[str, Any]]] = {}
    for r in hits:
        k = key_of(q.group, r[q.group]) if q.group else None
        groups.setdefault(k, []).append(r)
    if not q.group and not groups:
        groups[None] = []
    out = []
    for members in groups.values():
        rec: dict[str, Any] = {}
        if q.group:
            rec[q.group] = members[0][q.group]
            if KINDS[q.group] == "boolean":
                rec[q.group] = bool(rec[q.group])
        count_all = len(members)
        for i, (func, name) in enumerate(q.aggs):
            vals = [m[name] for m in members if m[name] is not None] if name else []
            if func == "COUNT":
                v: Any = count_all if name == "Id" else len(vals)
            elif func == "COUNT_DISTINCT":
                v = len({key_of(name, x) for x in vals})
            elif func == "SUM":
                v = sum(vals) if vals else None
            elif func == "AVG":
                v = sum(vals) / len(vals) if vals else None
            elif func in ("MIN", "MAX"):
                pick = min if func == "MIN" else max
                v = pick(vals, key=lambda x: key_of(name, x)) if vals else None
            else:
                raise AssertionError(func)
            rec[f"expr{i}"] = v
        if q.having_count_gt is not None and not count_all > q.having_count_gt:
            continue
        out.append(rec)
    if q.order:
        out.sort(key=lambda r: sort_key(r, q.order))
    return out
