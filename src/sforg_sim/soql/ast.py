"""SOQL syntax tree: plain frozen dataclasses the parser builds and the compiler reads.

Every node that can be the subject of an error keeps its 1-based ``(line, column)`` in
``pos`` so INVALID_FIELD / INVALID_TYPE / MALFORMED_QUERY can point at it with the caret
layout Salesforce uses. Values are already decoded (escapes resolved, numbers parsed);
nothing about the schema is known here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "AGGREGATES",
    "Agg",
    "And",
    "Bind",
    "BoolV",
    "Compare",
    "Cond",
    "DateLit",
    "DateTimeV",
    "DateV",
    "FieldRef",
    "FieldsFn",
    "InList",
    "LikePattern",
    "Not",
    "NullV",
    "NumberV",
    "Or",
    "OrderItem",
    "Pos",
    "Query",
    "SelectItem",
    "SemiJoin",
    "StringV",
    "Value",
]

Pos = tuple[int, int]
"""1-based (line, column) of a token in the query text."""

AGGREGATES = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})
"""Aggregate function names (upper case)."""


@dataclass(frozen=True)
class FieldRef:
    """A field or a parent relationship path, e.g. ``("Account", "Name")``, as written."""

    path: tuple[str, ...]
    pos: Pos

    @property
    def text(self) -> str:
        """The path as written, dotted."""
        return ".".join(self.path)


@dataclass(frozen=True)
class Agg:
    """An aggregate call; ``arg`` is None only for ``COUNT()``. ``func`` is upper case."""

    func: str
    arg: FieldRef | None
    pos: Pos


@dataclass(frozen=True)
class FieldsFn:
    """``FIELDS(ALL|STANDARD|CUSTOM)``; ``kind`` is upper case."""

    kind: str
    pos: Pos


@dataclass(frozen=True)
class SelectItem:
    """One SELECT entry with its optional alias (and the alias's position)."""

    expr: FieldRef | Agg | FieldsFn
    alias: str | None = None
    alias_pos: Pos | None = None


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StringV:
    """A quoted string, escapes resolved."""

    value: str
    pos: Pos


@dataclass(frozen=True)
class LikePattern:
    """A LIKE pattern: parts are literal text or the wildcards ``%`` / ``_`` (as ``None``
    entries would be ambiguous, wildcards are the one-element tuples ``("%",)``/``("_",)``).
    """

    parts: tuple[str | tuple[str], ...]
    pos: Pos


@dataclass(frozen=True)
class NumberV:
    """A number literal; ``value`` is int when written without a decimal point."""

    value: int | float
    text: str
    pos: Pos


@dataclass(frozen=True)
class BoolV:
    """TRUE or FALSE."""

    value: bool
    pos: Pos


@dataclass(frozen=True)
class NullV:
    """NULL."""

    pos: Pos


@dataclass(frozen=True)
class DateV:
    """A date literal ``YYYY-MM-DD`` (validated)."""

    value: str
    pos: Pos


@dataclass(frozen=True)
class DateTimeV:
    """A dateTime literal, normalised to the stored UTC form."""

    value: str
    pos: Pos


@dataclass(frozen=True)
class DateLit:
    """A relative date literal such as TODAY or LAST_N_DAYS:5 (``n`` None for fixed ones)."""

    name: str
    n: int | None
    pos: Pos


@dataclass(frozen=True)
class Bind:
    """A bind variable ``:name``."""

    name: str
    pos: Pos


Value = StringV | NumberV | BoolV | NullV | DateV | DateTimeV | DateLit | Bind


# --- conditions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    """``left op value``; ``op`` is one of = != < <= > >= (``<>`` normalised to ``!=``)
    or ``LIKE`` (then ``value`` is a LikePattern or a Bind)."""

    left: FieldRef | Agg
    op: str
    value: Value | LikePattern
    pos: Pos


@dataclass(frozen=True)
class InList:
    """``left [NOT] IN (values)`` or ``left [NOT] IN :bind`` (``values`` is then a Bind)."""

    left: FieldRef | Agg
    values: tuple[Value, ...] | Bind
    negated: bool
    pos: Pos


@dataclass(frozen=True)
class SemiJoin:
    """``left [NOT] IN (SELECT ...)``."""

    left: FieldRef | Agg
    query: Query
    negated: bool
    pos: Pos


@dataclass(frozen=True)
class Not:
    """Logical NOT of a condition."""

    item: Cond
    pos: Pos


@dataclass(frozen=True)
class And:
    """Conjunction (two or more items)."""

    items: tuple[Cond, ...]


@dataclass(frozen=True)
class Or:
    """Disjunction (two or more items)."""

    items: tuple[Cond, ...]


Cond = Compare | InList | SemiJoin | Not | And | Or


@dataclass(frozen=True)
class OrderItem:
    """An ORDER BY key; ``nulls_first`` None means the default for the direction."""

    expr: FieldRef | Agg
    desc: bool = False
    nulls_first: bool | None = None


@dataclass(frozen=True)
class Query:
    """A whole SELECT statement (also used for semi-join subqueries)."""

    select: tuple[SelectItem, ...]
    sobject: str
    sobject_pos: Pos
    where: Cond | None = None
    group_by: tuple[FieldRef, ...] = ()
    having: Cond | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | Bind | None = None
    offset: int | Bind | None = None
    offset_pos: Pos | None = None
    text: str = field(default="", compare=False)
