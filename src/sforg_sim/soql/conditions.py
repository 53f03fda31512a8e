"""WHERE and HAVING conditions -> SQL with a parameter plan.

Semantics (sources in ``docs/research/soql.md``):

- ``=`` and ``!=`` compile to SQLite's null-safe ``IS`` / ``IS NOT``: ``= null`` finds
  nulls, ``!= 'x'`` also returns rows where the field is null (section 1: SOQL does not use
  three-valued logic; unconfirmed but the best understanding). ``NOT IN`` returns null rows
  too, unless the list itself holds null. Range operators never match null.
- ``NOT x`` is two-valued: ``NOT IFNULL(x, 0)``, so ``NOT (Amount > 5)`` returns the rows
  whose Amount is null, like ``!=`` does.
- Booleans: ``= null`` is ``= false`` and ``!= null`` is ``= true`` (section 1).
- Case-insensitive text compares the ``__sk`` column against the value upper-cased in
  Python (never NOCASE). LIKE runs on the sort key as well; a literal prefix adds a range
  on it so the index can be used. Case-sensitive text uses GLOB.
- Relative date literals become ranges evaluated on the SimClock at each execution.
- Semi-joins: at most two, never under OR or NOT, never nested (section 10).

Wide AND/OR lists are grouped so SQLite's expression-depth limit is not reached
(:func:`_join`); the parser bounds the nesting (``parser.MAX_CONDITION_DEPTH``).

Deviations: LIKE against ``null`` matches nothing; a bound LIKE pattern uses ``\\%``,
``\\_`` and ``\\\\`` as escapes (other backslashes are literal); a string longer than
4,000 characters in WHERE is MALFORMED_QUERY (text unconfirmed).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from .. import ids
from ..clock import UTC, format_date, format_datetime, parse_datetime
from ..errors import InvalidField, InvalidQueryFilterOperator, MalformedId, MalformedQuery
from ..schema import NUMBER_TYPES, TEXT_TYPES, Field
from . import ast as A
from .dates import date_range
from .parser import caret
from .scope import Ctx, ParamFn, Scope

__all__ = ["CORPORATE_CURRENCY", "CondCompiler", "Operand", "field_operand", "lookup_bind"]

MAX_WHERE_STRING = 4000

CORPORATE_CURRENCY = "USD"
"""The simulated org is single-currency with corporate currency USD: the only ISO code a
currency literal may use, and the currency FORMAT() prints."""

_CONTROL = bytes(range(32)) + b"\x7f"


def plain_json_upper(values: list[Any]) -> str | None:
    """``json.dumps([v.upper() for v in values])`` when every value is a string of
    printable ASCII without ``"`` or ``\\`` (nothing JSON would escape), built by joining:
    a fifth of the encoder's time on 500 ids. None otherwise (the general path)."""
    try:
        joined = "".join(values)
    except TypeError:  # not all strings
        return None
    if not values or not joined.isascii() or '"' in joined or "\\" in joined:
        return None
    raw = joined.encode("ascii")
    if len(raw.translate(None, _CONTROL)) != len(raw):
        return None
    return '["' + '","'.join(values).upper() + '"]'


@dataclass(frozen=True)
class Operand:
    """Something a condition compares: SQL to compare with, and how values convert.

    ``kind`` is text / number / boolean / date / datetime / id; ``ci`` marks
    case-insensitive text (values are upper-cased); ``name`` is used in error messages.
    """

    sql: str
    kind: str
    ci: bool
    name: str
    type_name: str
    ftype: str = ""
    """The schema type of the field compared (``""`` for computed operands): INCLUDES
    needs a multipicklist, a currency literal a currency field."""


def field_operand(f: Field, sql: str, name: str | None = None) -> Operand:
    """The operand for a stored field read through ``sql`` (its compare column)."""
    t = f.type
    if t in TEXT_TYPES:
        kind, tn = "text", "string"
    elif t in NUMBER_TYPES:
        kind, tn = "number", "int" if t == "int" else "double"
    elif t in ("id", "reference"):
        kind, tn = "id", "id"
    elif t == "datetime":
        kind, tn = "datetime", "dateTime"
    else:
        kind, tn = t, t
    return Operand(sql, kind, f.sort_key, name or f.name, tn, t)


def lookup_bind(ctx: Ctx, b: A.Bind, text: str) -> Any:
    """A bind variable's value (Apex variable names are case-insensitive)."""
    binds = ctx.binds
    if b.name in binds:
        return binds[b.name]
    low = b.name.lower()
    for k, v in binds.items():
        if k.lower() == low:
            return v
    raise MalformedQuery(caret(text, b.pos, f"Variable does not exist: {b.name}"))


class CondCompiler:
    """Compiles one condition tree of one scope; collects ``params`` in SQL order.

    ``operand`` resolves a FieldRef/Agg to an :class:`Operand` (the compiler passes one for
    WHERE and one for HAVING); ``subquery`` compiles a semi-join's inner query.
    """

    def __init__(self, scope: Scope, operand: Callable[[A.Operand], Operand],
                 subquery: Callable[[A.Query, A.FieldRef], tuple[str, list[ParamFn]]] | None,
                 currency_literals: bool = True) -> None:
        self.currency_literals = currency_literals
        """False in HAVING: *SOQL and SOSL Reference*, "convertCurrency()": "You can't
        use ISO_CODEvalue to represent a value in a particular currency, such as USD,
        when you use aggregate functions"."""
        self.scope = scope
        self.text = scope.text
        self.operand = operand
        self.subquery = subquery
        self.params: list[ParamFn] = []
        self.semi_joins = 0

    # --- structure ----------------------------------------------------------------------

    def compile(self, c: A.Cond) -> str:
        """SQL for ``c``; parameters are appended to ``self.params``."""
        if isinstance(c, A.And):
            return self._and(c)
        if isinstance(c, A.Or):
            for item in c.items:
                if _has_semi(item):
                    raise MalformedQuery(caret(self.text, _first_pos(item),
                                               "Semi join sub-selects are not allowed with "
                                               "the 'OR' operator"))
            return _join([self.compile(i) for i in c.items], " OR ")
        if isinstance(c, A.Not):
            if _has_semi(c.item):
                raise MalformedQuery(caret(self.text, c.pos, "Semi join sub-selects are not "
                                           "allowed with the 'NOT' operator"))
            return f"NOT IFNULL(({self.compile(c.item)}), 0)"
        if isinstance(c, A.SemiJoin):
            return self.semi_join(c)
        if isinstance(c, A.InList):
            return self.in_list(c)
        if isinstance(c, A.Includes):
            return self.includes(c)
        return self.compare(c)

    def _and(self, c: A.And) -> str:
        # Compiled in text order (so the first error is the one Salesforce reports), then
        # LIKE terms with a literal pattern moved last: SQLite bounds an index search by
        # the first range it finds on a column, and a LIKE prefix range is usually the
        # widest. verify-org's per-partition counts (``LIKE 'externalOpp%' AND
        # External_ID__c >= :a AND < :b``) read one partition instead of every record.
        # AND has no order in SQL; only literal patterns move, because their parameters
        # are constants: bind values are still checked, and fail, in text order.
        parts: list[tuple[bool, str, list[ParamFn]]] = []
        for item in c.items:
            start = len(self.params)
            sql = self.compile(item)
            parts.append((isinstance(item, A.Compare) and item.op == "LIKE"
                          and isinstance(item.value, A.LikePattern), sql, self.params[start:]))
            del self.params[start:]
        parts.sort(key=lambda p: p[0])  # stable: the others keep their order
        for _, _, params in parts:
            self.params.extend(params)
        return _join([sql for _, sql, _ in parts], " AND ")

    # --- comparisons --------------------------------------------------------------------

    def compare(self, c: A.Compare) -> str:
        op = self.operand(c.left)
        if c.op == "LIKE":
            return self.like(op, c.value, c)
        v = c.value
        assert not isinstance(v, A.LikePattern)
        if isinstance(v, A.DateLit):
            return self.date_literal(op, c.op, v)
        self.params.append(self.param(op, v))
        if c.op == "=":
            return f"{op.sql} IS ?"
        if c.op == "!=":
            return f"{op.sql} IS NOT ?"
        if op.kind == "boolean":
            raise InvalidField(caret(self.text, c.pos, f"invalid operator on boolean field "
                                     f"'{op.name}'"), [op.name])
        return f"{op.sql} {c.op} ?"

    def in_list(self, c: A.InList) -> str:
        op = self.operand(c.left)
        col = op.sql
        if isinstance(c.values, A.Bind):
            conv = self._bind_converter(op, c.values)
            bind, text = c.values, self.text

            text_ci = op.kind == "text" and op.ci

            def prepared(ctx: Ctx) -> tuple[int, str]:
                """(1 if the values hold a null, JSON array of the others), once per call."""
                key = id(bind)
                memo: tuple[int, str] | None = ctx.memo.get(key)
                if memo is not None:
                    return memo
                raw = lookup_bind(ctx, bind, text)
                if isinstance(raw, (str, bytes)) or not hasattr(raw, "__iter__"):
                    raw = [raw]
                raw = list(raw)
                # Hot path of every page a job reads (IN :ids with hundreds of strings):
                # plain strings for a case-insensitive text field need only upper().
                fast = plain_json_upper(raw) if text_ci else None
                if fast is not None:
                    out = (0, fast)
                else:
                    vals = [x.upper() for x in raw] if text_ci and \
                        set(map(type, raw)) <= {str} else [conv(x) for x in raw]
                    out = (int(None in vals), json.dumps([x for x in vals if x is not None]))
                ctx.memo[key] = out
                return out

            def has_null(ctx: Ctx) -> int:
                return prepared(ctx)[0]

            def as_json(ctx: Ctx) -> str:
                return prepared(ctx)[1]

            if c.negated:
                self.params += [has_null, as_json]
                return (f"(CASE WHEN {col} IS NULL THEN NOT ? ELSE {col} NOT IN "
                        f"(SELECT value FROM json_each(?)) END)")
            self.params += [as_json, has_null]
            return f"({col} IN (SELECT value FROM json_each(?)) OR ({col} IS NULL AND ?))"
        currencies = [isinstance(v, A.CurrencyV) for v in c.values
                      if not isinstance(v, A.NullV)]
        if any(currencies) and not all(currencies):
            # "If you use IN in a WHERE clause, you can't mix ISO code and non-ISO code
            # values" (*SOQL and SOSL Reference*, "convertCurrency()").
            raise MalformedQuery(caret(self.text, c.pos, "IN cannot mix currency literals "
                                       "(ISO_CODEvalue) and plain values"))
        if any(isinstance(v, A.DateLit) for v in c.values):
            # Each date literal is a range: expand to = / != comparisons.
            parts = [A.Compare(c.left, "!=" if c.negated else "=", v, c.pos)
                     for v in c.values]
            return self.compile(A.And(tuple(parts)) if c.negated else A.Or(tuple(parts)))
        nulls = any(isinstance(v, A.NullV) for v in c.values)
        fns = [self.param(op, v) for v in c.values if not isinstance(v, A.NullV)]
        self.params += fns
        qs = ", ".join("?" * len(fns))
        if c.negated:
            if not fns:
                return f"{col} IS NOT NULL"
            if nulls:
                return f"({col} IS NOT NULL AND {col} NOT IN ({qs}))"
            return f"({col} IS NULL OR {col} NOT IN ({qs}))"
        if not fns:
            return f"{col} IS NULL"
        return f"({col} IN ({qs}) OR {col} IS NULL)" if nulls else f"{col} IN ({qs})"

    def includes(self, c: A.Includes) -> str:
        """``field INCLUDES ('AAA;BBB', 'CCC')``: the record's selection holds AAA and BBB,
        or holds CCC; EXCLUDES is its negation.

        *SOQL and SOSL Reference*, "Query Multi-Select Picklists"
        (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_querying_multiselect_picklists.htm):
        "includes: Contains the specified string", "excludes: Does not contain the
        specified string", "; Specifies AND for two or more strings", and the example
        ``MSP1__c includes ('AAA;BBB','CCC')`` matches 'AAA;BBB', 'AAA;BBB;DDD', 'CCC',
        'CCC;EEE', 'AAA;CCC'. Compared case-insensitively on the sort key (as picklists
        are, [CMPOP]); each value is matched whole between ``;`` separators. Deviations
        (unconfirmed): EXCLUDES returns records with no selection (null), as ``!=`` does;
        spaces around ``;`` in the literal are ignored. INCLUDES on another field type
        is INVALID_QUERY_FILTER_OPERATOR (the code Salesforce uses for an operator a
        field cannot take; its wording is unconfirmed)."""
        op = self.operand(c.left)
        if op.ftype != "multipicklist":
            word = "excludes" if c.negated else "includes"
            raise InvalidQueryFilterOperator(caret(
                self.text, c.pos, f"{word} operator is only valid on a multi-select picklist "
                f"field: '{op.name}' is of type {op.type_name}"))
        groups: list[str] = []
        for v in c.values:
            fn = self._msp_values(op, v)
            # One group of values that must all be selected. ';'||key||';' holds ';V;'
            # exactly when V is one of the selected values (values never contain ';').
            self.params.append(fn)
            groups.append(f"EXISTS (SELECT 1 FROM json_each(?) WHERE instr(';' || {op.sql} "
                          f"|| ';', ';' || value || ';') = 0) = 0")
        sql = f"({op.sql} IS NOT NULL AND {_join(groups, ' OR ')})"
        return f"NOT IFNULL({sql}, 0)" if c.negated else sql

    def _msp_values(self, op: Operand, v: A.Value) -> ParamFn:
        """The parameter of one INCLUDES value: the JSON list of the upper-cased values
        its ``;`` joins (all must be selected)."""
        def split(raw: str) -> str:
            parts = [p.strip().upper() for p in raw.split(";")]
            return json.dumps([p for p in parts if p])

        if isinstance(v, A.StringV):
            if len(v.value) > MAX_WHERE_STRING:
                raise self._too_long(v.pos)
            return _const(split(v.value))
        if isinstance(v, A.Bind):
            bind, text = v, self.text

            def fn(ctx: Ctx) -> str:
                raw = lookup_bind(ctx, bind, text)
                if not isinstance(raw, str):
                    raise _type_error(op, text, bind.pos)
                return split(raw)
            return fn
        raise _type_error(op, self.text, v.pos)

    def semi_join(self, c: A.SemiJoin) -> str:
        if self.subquery is None:
            raise MalformedQuery(caret(self.text, c.pos, "Nesting of semi join sub-selects "
                                       "is not supported"))
        self.semi_joins += 1
        if self.semi_joins > 2:
            raise MalformedQuery(caret(self.text, c.pos,
                                       "Maximum 2 semi join sub-selects are allowed"))
        if not isinstance(c.left, A.FieldRef) or len(c.left.path) != 1:
            raise MalformedQuery(caret(self.text, c.pos, "The left operand of a semi join "
                                       "must be an ID or reference field of the queried "
                                       "object"))
        op = self.operand(c.left)
        sql, params = self.subquery(c.query, c.left)
        self.params += params
        if c.negated:
            return f"({op.sql} IS NULL OR {op.sql} NOT IN ({sql}))"
        return f"{op.sql} IN ({sql})"

    def like(self, op: Operand, v: A.Value | A.LikePattern, c: A.Compare) -> str:
        if op.kind != "text":
            raise InvalidField(caret(self.text, c.pos, f"invalid operator LIKE on field "
                                     f"'{op.name}' of type {op.type_name}"), [op.name])
        fn: ParamFn
        if isinstance(v, A.LikePattern):
            if sum(len(p) for p in v.parts) > MAX_WHERE_STRING:
                raise self._too_long(v.pos)
            pat = _like_sql(v.parts, op.ci)
            fn = _const(pat)
            prefix = v.parts[0] if v.parts and isinstance(v.parts[0], str) else ""
            if op.ci and prefix and ord(prefix[-1].upper()[-1]) < 0x10FFFF:
                lo = prefix.upper()
                hi = lo[:-1] + chr(ord(lo[-1]) + 1)
                # The range lets SQLite walk the sort-key index; the LIKE stays exact.
                self.params += [_const(lo), _const(hi), fn]
                return f"({op.sql} >= ? AND {op.sql} < ? AND {op.sql} LIKE ? ESCAPE '\\')"
        elif isinstance(v, A.Bind):
            bind, text, ci = v, self.text, op.ci

            def fn(ctx: Ctx) -> Any:
                raw = lookup_bind(ctx, bind, text)
                if raw is None:
                    return None
                if not isinstance(raw, str):
                    raise _type_error(op, text, bind.pos)
                return _like_sql(_bound_like_parts(raw), ci)
        elif isinstance(v, A.NullV):
            fn = _const(None)
        else:
            raise _type_error(op, self.text, v.pos)
        self.params.append(fn)
        if op.ci:
            return f"{op.sql} LIKE ? ESCAPE '\\'"
        return f"{op.sql} GLOB ?"

    def date_literal(self, op: Operand, cmp: str, lit: A.DateLit) -> str:
        if op.kind not in ("date", "datetime"):
            raise _type_error(op, self.text, lit.pos)
        dt = op.kind == "datetime"
        text = self.text

        def edge(hi: bool) -> ParamFn:
            def fn(ctx: Ctx) -> str:
                try:
                    lo_d, hi_d, now_end = date_range(lit.name, lit.n, ctx.clock.today())
                except (OverflowError, ValueError):
                    raise MalformedQuery(caret(text, lit.pos, f"Invalid date literal "
                                               f"{lit.name}:{lit.n}")) from None
                d = hi_d if hi else lo_d
                if not dt:
                    return format_date(d)
                if hi and now_end:
                    return format_datetime(ctx.clock.now() + timedelta(milliseconds=1))
                return format_date(d) + "T00:00:00.000+0000"
            return fn

        col = op.sql
        if cmp == "=":
            self.params += [edge(False), edge(True)]
            return f"({col} >= ? AND {col} < ?)"
        if cmp == "!=":
            self.params += [edge(False), edge(True)]
            return f"({col} IS NULL OR {col} < ? OR {col} >= ?)"
        use_hi = cmp in ("<=", ">")
        self.params.append(edge(use_hi))
        return f"{col} {'<' if cmp in ('<', '<=') else '>='} ?"

    # --- values -------------------------------------------------------------------------

    def param(self, op: Operand, v: A.Value) -> ParamFn:
        """A parameter function producing the stored form of ``v`` for ``op``."""
        if isinstance(v, A.Bind):
            conv = self._bind_converter(op, v)
            bind, text = v, self.text
            return lambda ctx: conv(lookup_bind(ctx, bind, text))
        return _const(self.literal(op, v))

    def literal(self, op: Operand, v: A.Value) -> Any:
        """The stored form of a literal compared with ``op`` (type-checked)."""
        k = op.kind
        if isinstance(v, A.CurrencyV):
            return self.currency(op, v)
        if isinstance(v, A.NullV):
            return 0 if k == "boolean" else None
        if isinstance(v, A.StringV) and k in ("text", "id"):
            if len(v.value) > MAX_WHERE_STRING:
                raise self._too_long(v.pos)
            if k == "id":
                return _to_id(v.value, self.text, v.pos)
            return v.value.upper() if op.ci else v.value
        if isinstance(v, A.NumberV) and k == "number":
            return v.value
        if isinstance(v, A.BoolV) and k == "boolean":
            return int(v.value)
        if isinstance(v, A.DateV) and k == "date":
            return v.value
        if isinstance(v, A.DateTimeV) and k == "datetime":
            return v.value
        raise _type_error(op, self.text, v.pos)

    def currency(self, op: Operand, v: A.CurrencyV) -> int | float:
        """A currency literal ``USD5000`` compared with a currency field.

        *SOQL and SOSL Reference*, "convertCurrency()", Considerations and Workarounds
        (https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-querying-currency-fields.html):
        ``WHERE Object_name Operator ISO_CODEvalue`` compares with "the equivalent of
        USD5000"; "Use an ISO code that your org has enabled and made active"; not with
        aggregate functions. The simulated org has one currency, its corporate currency
        USD (:data:`CORPORATE_CURRENCY`), so ``USD5000`` is the number 5000 and any other
        ISO code is not active: INVALID_FIELD (wording unconfirmed). A currency literal
        on a field that is not a currency is INVALID_FIELD too (unconfirmed)."""
        if not self.currency_literals:
            raise MalformedQuery(caret(self.text, v.pos, f"currency literal {v.text} cannot "
                                       "be used with aggregate functions"))
        if op.ftype != "currency":
            raise InvalidField(caret(self.text, v.pos, f"currency literal {v.text} can only "
                                     f"be compared with a currency field, not "
                                     f"'{op.name}'"), [op.name])
        if v.code != CORPORATE_CURRENCY:
            raise InvalidField(caret(self.text, v.pos, f"invalid currency ISO code {v.code} "
                                     f"in {v.text}: the org's only active currency is "
                                     f"{CORPORATE_CURRENCY}"), [op.name])
        return v.value

    def _bind_converter(self, op: Operand, b: A.Bind) -> Callable[[Any], Any]:
        text, pos, k = self.text, b.pos, op.kind

        def conv(x: Any) -> Any:
            if x is None:
                return 0 if k == "boolean" else None
            if k == "text" and isinstance(x, str):
                return x.upper() if op.ci else x
            if k == "id" and isinstance(x, str):
                return _to_id(x, text, pos)
            if k == "number" and isinstance(x, (int, float)) and not isinstance(x, bool):
                if isinstance(x, float) and not math.isfinite(x):
                    raise _type_error(op, text, pos)
                return x if isinstance(x, float) or -(2**63) < x < 2**63 else float(x)
            if k == "boolean" and isinstance(x, bool):
                return int(x)
            if k == "date":
                if isinstance(x, date) and not isinstance(x, datetime):
                    return format_date(x)
                if isinstance(x, str):
                    try:
                        return format_date(date.fromisoformat(x))
                    except ValueError:
                        pass
            if k == "datetime":
                if isinstance(x, datetime):
                    return format_datetime(x if x.tzinfo else x.replace(tzinfo=UTC))
                if isinstance(x, str):
                    try:
                        return format_datetime(parse_datetime(x))
                    except ValueError:
                        pass
            raise _type_error(op, text, pos)

        return conv

    def _too_long(self, pos: A.Pos) -> MalformedQuery:
        return MalformedQuery(caret(self.text, pos, f"String value in WHERE clause exceeds "
                                    f"the maximum length of {MAX_WHERE_STRING} characters"))


# --- helpers ----------------------------------------------------------------------------------


_FLAT = 16
"""Terms joined flat in one AND/OR; wider lists are grouped (see :func:`_join`). The
parser's depth accounting (``parser._FLAT``) assumes the same number."""


def _join(parts: list[str], sep: str) -> str:
    """``(p1 sep p2 sep ...)``; a list wider than _FLAT is grouped in _FLAT-term
    parentheses (repeatedly), the order kept.

    SQLite parses ``a OR b OR c ...`` as a chain of binary operators, one level of
    expression depth per term, and refuses a tree deeper than 1,000 ("Expression tree is
    too large"): 998 ORs, which Salesforce runs (nothing but the 100,000-character
    statement bounds them), would fail. Grouped, 25,000 terms are 4 levels of 16. The
    optimizer flattens nested ANDs and ORs again (whereSplit), so index use, OR-to-IN and
    the AND order that ``_and`` sets up are unchanged; short lists keep their SQL as it was.
    """
    while len(parts) > _FLAT:
        parts = ["(" + sep.join(parts[i:i + _FLAT]) + ")"
                 for i in range(0, len(parts), _FLAT)]
    return "(" + sep.join(parts) + ")"


def _const(v: Any) -> ParamFn:
    return lambda ctx: v


def _to_id(value: str, text: str, pos: A.Pos) -> str:
    try:
        return ids.to18(value)
    except MalformedId:
        raise InvalidQueryFilterOperator(caret(text, pos, f"invalid ID field: {value}")) \
            from None


def _type_error(op: Operand, text: str, pos: A.Pos) -> InvalidField:
    quoted = "should be enclosed in quotes" if op.kind in ("text", "id") else \
        "should not be enclosed in quotes"
    return InvalidField(caret(text, pos, f"value of filter criterion for field '{op.name}' "
                              f"must be of type {op.type_name} and {quoted}"), [op.name])


def _like_sql(parts: tuple[str | tuple[str], ...] | list[str | tuple[str]],
              ci: bool) -> str:
    """SQL LIKE pattern (escape ``\\``) for ci text, a GLOB pattern for case-sensitive."""
    out = []
    for p in parts:
        if isinstance(p, tuple):
            out.append(p[0] if ci else {"%": "*", "_": "?"}[p[0]])
        elif ci:
            out.append(p.upper().replace("\\", "\\\\").replace("%", "\\%")
                       .replace("_", "\\_"))
        else:
            out.append("".join(f"[{ch}]" if ch in "*?[" else ch for ch in p))
    return "".join(out)


def _bound_like_parts(raw: str) -> list[str | tuple[str]]:
    parts: list[str | tuple[str]] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in "%_\\":
            parts.append(raw[i + 1])
            i += 2
            continue
        parts.append((ch,) if ch in "%_" else ch)
        i += 1
    return parts


def _has_semi(c: A.Cond) -> bool:
    if isinstance(c, A.SemiJoin):
        return True
    if isinstance(c, (A.And, A.Or)):
        return any(_has_semi(i) for i in c.items)
    if isinstance(c, A.Not):
        return _has_semi(c.item)
    return False


def _first_pos(c: A.Cond) -> A.Pos:
    if isinstance(c, (A.And, A.Or)):
        return _first_pos(c.items[0])
    if isinstance(c, A.Not):
        return c.pos
    return c.pos
