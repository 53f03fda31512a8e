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
    "DATE_FUNCTIONS",
    "FIELD_FUNCTIONS",
    "FIELD_FUNCTION_NAMES",
    "Agg",
    "And",
    "Bind",
    "BoolV",
    "Compare",
    "Cond",
    "CurrencyV",
    "DateFn",
    "DateLit",
    "DateTimeV",
    "DateV",
    "Distance",
    "FieldFn",
    "FieldRef",
    "FieldsFn",
    "Grouping",
    "InList",
    "Includes",
    "LikePattern",
    "Not",
    "NullV",
    "NumberV",
    "Operand",
    "Or",
    "OrderItem",
    "Pos",
    "Query",
    "SelectItem",
    "SemiJoin",
    "StringV",
    "SubQuery",
    "TypeOf",
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
    label: bool = False
    """Written as ``toLabel(field)`` in WHERE (the compiler checks it is a picklist)."""

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


DATE_FUNCTIONS = frozenset({
    "CALENDAR_MONTH", "CALENDAR_QUARTER", "CALENDAR_YEAR", "DAY_IN_MONTH", "DAY_IN_WEEK",
    "DAY_IN_YEAR", "DAY_ONLY", "FISCAL_MONTH", "FISCAL_QUARTER", "FISCAL_YEAR",
    "HOUR_IN_DAY", "WEEK_IN_MONTH", "WEEK_IN_YEAR",
})
"""The SOQL date functions (upper case): *SOQL and SOSL Reference*, "Date Functions"."""


@dataclass(frozen=True)
class DateFn:
    """A date function such as ``CALENDAR_YEAR(CloseDate)``; ``tz`` when the field was
    wrapped in ``convertTimezone()``. ``func`` is upper case."""

    func: str
    arg: FieldRef
    tz: bool
    pos: Pos

    @property
    def text(self) -> str:
        """The call as written (for messages)."""
        inner = f"convertTimezone({self.arg.text})" if self.tz else self.arg.text
        return f"{self.func}({inner})"


@dataclass(frozen=True)
class Grouping:
    """``GROUPING(field)``: 1 on a ROLLUP/CUBE subtotal row for the field, else 0."""

    arg: FieldRef
    pos: Pos


@dataclass(frozen=True)
class FieldsFn:
    """``FIELDS(ALL|STANDARD|CUSTOM)``; ``kind`` is upper case."""

    kind: str
    pos: Pos


FIELD_FUNCTIONS = frozenset({"TOLABEL", "FORMAT", "CONVERTCURRENCY"})
"""SELECT functions over one field (upper case): *SOQL and SOSL Reference*, "toLabel()",
"FORMAT()", "convertCurrency()"."""

FIELD_FUNCTION_NAMES = {"TOLABEL": "toLabel", "FORMAT": "FORMAT",
                        "CONVERTCURRENCY": "convertCurrency"}
"""How the reference spells them (for messages)."""


@dataclass(frozen=True)
class FieldFn:
    """``toLabel(field)``, ``FORMAT(field)`` or ``convertCurrency(field)`` in SELECT;
    ``FORMAT`` may wrap ``convertCurrency()`` or an aggregate. ``func`` is upper case."""

    func: str
    arg: FieldRef | FieldFn | Agg
    pos: Pos

    @property
    def text(self) -> str:
        """The call as written (for messages)."""
        inner = self.arg.text if not isinstance(self.arg, Agg) else \
            f"{self.arg.func}({self.arg.arg.text if self.arg.arg else ''})"
        return f"{FIELD_FUNCTION_NAMES[self.func]}({inner})"


@dataclass(frozen=True)
class SubQuery:
    """A parent-to-child subquery in SELECT: ``(SELECT LastName FROM Contacts)``; its
    ``query.sobject`` is the child relationship name as written."""

    query: Query
    pos: Pos


@dataclass(frozen=True)
class TypeOf:
    """``TYPEOF What WHEN Account THEN Phone ... ELSE Name END`` in SELECT (*SOQL and
    SOSL Reference*, "TYPEOF"). ``whens`` are (object name as written, its position,
    its fields); ``else_`` the ELSE fields (empty: no ELSE)."""

    rel: FieldRef
    whens: tuple[tuple[str, Pos, tuple[FieldRef, ...]], ...]
    else_: tuple[FieldRef, ...]
    pos: Pos


@dataclass(frozen=True)
class Distance:
    """``DISTANCE(Location__c, GEOLOCATION(lat, lon), 'mi')`` (or a second location
    field instead of GEOLOCATION); ``unit`` is ``mi`` or ``km``."""

    field: FieldRef
    point: tuple[float, float] | FieldRef
    unit: str
    pos: Pos

    @property
    def text(self) -> str:
        """The call as written (for messages)."""
        p = self.point.text if isinstance(self.point, FieldRef) else \
            f"GEOLOCATION({self.point[0]}, {self.point[1]})"
        return f"DISTANCE({self.field.text}, {p}, '{self.unit}')"


@dataclass(frozen=True)
class SelectItem:
    """One SELECT entry with its optional alias (and the alias's position)."""

    expr: FieldRef | Agg | FieldsFn | DateFn | Grouping | SubQuery | FieldFn | TypeOf | Distance
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
class CurrencyV:
    """A currency literal ``USD5000`` (*SOQL and SOSL Reference*, "convertCurrency()":
    ``WHERE Object_name Operator ISO_CODEvalue``); ``code`` upper case."""

    code: str
    value: int | float
    text: str
    pos: Pos


@dataclass(frozen=True)
class Bind:
    """A bind variable ``:name``."""

    name: str
    pos: Pos


Operand = FieldRef | Agg | DateFn | Grouping | Distance
"""What a condition or an ORDER BY key compares."""

Value = StringV | NumberV | BoolV | NullV | DateV | DateTimeV | DateLit | Bind | CurrencyV


# --- conditions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    """``left op value``; ``op`` is one of = != < <= > >= (``<>`` normalised to ``!=``)
    or ``LIKE`` (then ``value`` is a LikePattern or a Bind)."""

    left: Operand
    op: str
    value: Value | LikePattern
    pos: Pos


@dataclass(frozen=True)
class InList:
    """``left [NOT] IN (values)`` or ``left [NOT] IN :bind`` (``values`` is then a Bind)."""

    left: Operand
    values: tuple[Value, ...] | Bind
    negated: bool
    pos: Pos


@dataclass(frozen=True)
class Includes:
    """``left INCLUDES (values)`` / ``left EXCLUDES (values)`` on a multi-select picklist;
    each value is a string (``'AAA;BBB'``: both selected) or a bind."""

    left: Operand
    values: tuple[Value, ...]
    negated: bool
    pos: Pos


@dataclass(frozen=True)
class SemiJoin:
    """``left [NOT] IN (SELECT ...)``."""

    left: Operand
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


Cond = Compare | InList | Includes | SemiJoin | Not | And | Or


@dataclass(frozen=True)
class OrderItem:
    """An ORDER BY key; ``nulls_first`` None means the default for the direction."""

    expr: Operand
    desc: bool = False
    nulls_first: bool | None = None


@dataclass(frozen=True)
class Query:
    """A whole SELECT statement (also used for semi-join subqueries)."""

    select: tuple[SelectItem, ...]
    sobject: str
    sobject_pos: Pos
    where: Cond | None = None
    group_by: tuple[FieldRef | DateFn, ...] = ()
    group_kind: str = ""
    """``""`` (plain GROUP BY), ``"ROLLUP"`` or ``"CUBE"``."""
    having: Cond | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | Bind | None = None
    offset: int | Bind | None = None
    offset_pos: Pos | None = None
    from_paths: tuple[FieldRef, ...] = ()
    """Further FROM items (``FROM Contact c, c.Account a``), each as the path of the
    parent's ``Id`` with aliases resolved: checked like field paths, then unused."""
    scope: str = ""
    """``USING SCOPE`` filterScope in lower case (``""``: none written)."""
    scope_pos: Pos | None = None
    security: str = ""
    """``WITH USER_MODE|SYSTEM_MODE|SECURITY_ENFORCED`` (upper case; a no-op here)."""
    usage: str = ""
    """``FOR VIEW`` / ``FOR REFERENCE`` as ``"VIEW"`` / ``"REFERENCE"`` (a no-op here)."""
    text: str = field(default="", compare=False)
