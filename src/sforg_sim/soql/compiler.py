"""AST + schema -> a reusable :class:`Plan` (SQL text, parameter plan, result shaper).

A plan is built once per SOQL text (the engine caches it) and executed many times with
new bind values and a moving SimClock: everything that can change between executions is
a parameter function, never baked into the SQL.

Rules enforced here (``docs/research/soql.md``): aggregate shapes and naming (section 5),
OFFSET <= 2,000 (section 4), FIELDS() needing LIMIT <= 200 (section 9), semi-join limits
(section 10), ORDER BY defaults: nulls first for ASC *and* DESC. *SOQL and SOSL Reference*,
"ORDER BY" (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_orderby.htm,
same text in v206..v258): "NULLS FIRST or NULLS LAST: Orders null records at the beginning
(NULLS FIRST) or end (NULLS LAST) of the results. By default, null values are sorted
first", with no exception for DESC, and its DESC example spells out ``NULLS LAST`` to get
nulls at the end. (Only third-party guides say DESC puts nulls last.) SQLite's own default
for DESC is nulls last, so ``DESC`` compiles to ``DESC NULLS FIRST``; SQLite 3.30+ still
walks the index for it.

Each plan also knows its *index filters* (``Plan.extra["index_filters"]``, built on first
use): the top-level AND terms of WHERE that a database index could answer, grouped per
field of the queried object. The opt-in query run-time model (``engine.QueryTimeModel``)
counts them to tell a selective query from a full scan.

Deviations (unconfirmed rules, documented for the fidelity table):
- aliases on plain fields outside aggregate queries are MALFORMED_QUERY;
- GROUP BY on text groups case-insensitively and reports one of the spellings;
- MIN/MAX on picklists use alphabetical (upper-case) order, not the picklist's order;
- ``COUNT()`` with GROUP BY counts the groups; HAVING without GROUP BY is allowed in an
  aggregate query (one group: the whole table); in a plain record query it makes the
  query aggregate, so the first selected field is MALFORMED_QUERY "Field must be grouped
  or aggregated" (the text Salesforce uses for that rule; its answer to this exact case
  is unconfirmed);
- FIELDS(ALL)/FIELDS(CUSTOM) accept only the ``LIMIT n <= 200`` form of the row bound;
- on a nillable reference field an explicit NULLS FIRST/LAST is ignored (REF66 says
  ``ORDER BY AccountId NULLS LAST`` still puts nulls first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidField, MalformedQuery, NumberOutsideValidRange
from ..schema import NUMBER_TYPES, TEXT_TYPES, Field, Schema, SObjectDef
from . import ast as A
from .conditions import CondCompiler, Operand, field_operand
from .parser import caret
from .scope import ParamFn, Resolved, Scope
from .shape import Node, agg_shaper, row_shaper

__all__ = ["MAX_OFFSET", "IndexFilter", "Plan", "compile_query"]

MAX_OFFSET = 2000
MAX_FIELDS_LIMIT = 200
_NOT_GROUPABLE = frozenset({"double", "currency", "percent", "datetime", "textarea"})


@dataclass
class Plan:
    """A compiled query.

    ``kind``: ``rows`` (records with cursor), ``count`` (``COUNT()``: totalSize only) or
    ``agg`` (AggregateResult records, one batch). ``sql`` ends in ``LIMIT ? OFFSET ?``;
    ``ids_sql`` selects the matching rowids in order (cursor snapshots) and
    ``batch_sql`` reads one batch of a snapshot (``{table}`` is the temp table).
    """

    kind: str
    obj: SObjectDef
    text: str
    sql: str
    params: list[ParamFn]
    shape: Callable[[tuple[Any, ...]], dict[str, Any]]
    limit: int | A.Bind | None
    offset: int | A.Bind | None
    offset_pos: A.Pos | None
    deps: tuple[tuple[SObjectDef, int], ...]
    ids_sql: str = ""
    batch_sql: str = ""
    uses_fields_all: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def fresh(self) -> bool:
        """False when an object used by the plan gained fields since it was compiled."""
        return all(len(o.fields) == n for o, n in self.deps)


def compile_query(q: A.Query, schema: Schema, attributes_url: Callable[[str], str],
                  include_deleted: bool) -> Plan:
    """Compile a parsed query; raises the Salesforce error for anything invalid."""
    return _Compiler(q, schema, attributes_url, include_deleted).plan()


class _Compiler:
    def __init__(self, q: A.Query, schema: Schema, url: Callable[[str], str],
                 include_deleted: bool) -> None:
        self.q = q
        self.text = q.text
        self.schema = schema
        self.url = url
        self.include_deleted = include_deleted
        self.scope = Scope.open(schema, q.sobject, q.sobject_pos, "t", q.text)
        self.subqueries = 0

    def err(self, pos: A.Pos, detail: str) -> MalformedQuery:
        return MalformedQuery(caret(self.text, pos, detail))

    # --- top level ----------------------------------------------------------------------

    def plan(self) -> Plan:
        q = self.q
        aggs = [i for i in q.select if isinstance(i.expr, A.Agg)]
        self.check_offset()
        # HAVING makes an aggregate query: without GROUP BY or aggregates every selected
        # field is "Field must be grouped or aggregated" (issue 19: it used to be ignored,
        # returning every record).
        if any(isinstance(i.expr, A.Agg) and i.expr.arg is None for i in q.select):
            plan = self.count_plan()
        elif aggs or q.group_by or q.having is not None:
            plan = self.agg_plan()
        else:
            plan = self.rows_plan()
        plan.extra["index_filters"] = _Lazy(self.index_filters)
        plan.extra["order_field"] = self.order_field()
        return plan

    def index_filters(self) -> list[IndexFilter]:
        """The top-level AND terms of WHERE a database index could answer, one group per
        field of the queried object: ``=``, ``IN``, ranges and LIKE with a literal prefix,
        never against null (index tables leave nulls out: *Best Practices for Deployments
        with Large Data Volumes*, "Indexes"). ``!=``, ``NOT``, ``NOT IN``, a leading
        wildcard and OR are left out (a stricter reading of the optimizer's OR rule)."""
        w = self.q.where
        if w is None:
            return []
        groups: dict[str, tuple[Field, list[str], list[ParamFn]]] = {}
        for item in (w.items if isinstance(w, A.And) else (w,)):
            ref = _indexable_ref(item)
            if ref is None:
                continue
            r = self.scope.resolve(ref)
            if r.parents:
                continue
            cc = CondCompiler(self.scope, self.where_operand, None)
            sql = cc.compile(item)
            g = groups.setdefault(r.field.name.lower(), (r.field, [], []))
            g[1].append(sql)
            g[2].extend(cc.params)
        head = f"SELECT COUNT(*) FROM {_q(self.scope.obj.name)} {self.scope.alias} WHERE "
        return [IndexFilter(f, head + " AND ".join(sqls), params)
                for f, sqls, params in groups.values()]

    def order_field(self) -> Field | None:
        """The queried object's own field the first ORDER BY key sorts on, if any."""
        if not self.q.order_by or not isinstance(self.q.order_by[0].expr, A.FieldRef):
            return None
        r = self.scope.resolve(self.q.order_by[0].expr)
        return None if r.parents else r.field

    def check_offset(self) -> None:
        off = self.q.offset
        if isinstance(off, int) and off > MAX_OFFSET:
            raise NumberOutsideValidRange(
                f"Maximum SOQL offset allowed for apiName {self.scope.obj.name} is "
                f"{MAX_OFFSET}")

    def where(self) -> tuple[str, list[ParamFn]]:
        deleted = "" if self.include_deleted else f'{self.scope.alias}."IsDeleted" = 0'
        if self.q.where is None:
            return deleted or "1", []
        cc = CondCompiler(self.scope, self.where_operand, self.subquery)
        sql = cc.compile(self.q.where)
        return (f"{deleted} AND {sql}" if deleted else sql), cc.params

    def where_operand(self, ref: A.FieldRef | A.Agg) -> Operand:
        if isinstance(ref, A.Agg):
            raise self.err(ref.pos, "Aggregate functions are not supported in the WHERE "
                           "clause; use HAVING")
        r = self.scope.resolve(ref)
        return field_operand(r.field, r.cmp, ref.text if len(ref.path) > 1 else None)

    def finish(self, kind: str, select_sql: str, tail: str, params: list[ParamFn],
               shape: Callable[[tuple[Any, ...]], dict[str, Any]], where: str,
               **extra: Any) -> Plan:
        q = self.q
        frm = self.scope.from_sql()
        sql = f"SELECT {select_sql} {frm} WHERE {where}{tail} LIMIT ? OFFSET ?"
        deps = tuple((o, len(o.fields)) for o in self.scope.deps.values())
        return Plan(kind, self.scope.obj, self.text, sql, params, shape, q.limit, q.offset,
                    q.offset_pos, deps, **extra)

    # --- plain record queries -------------------------------------------------------------

    def rows_plan(self) -> Plan:
        q, scope = self.q, self.scope
        root = Node(scope.obj.name, 0, self.url(scope.obj.name))
        cols = [f'{scope.alias}."Id"']
        seen: set[tuple[str, ...]] = set()
        fields_all = False
        for item in q.select:
            if item.alias is not None:
                assert item.alias_pos is not None
                raise self.err(item.alias_pos, f"unexpected token: '{item.alias}'")
            if isinstance(item.expr, A.FieldsFn):
                refs = self.expand_fields(item.expr)
                fields_all = fields_all or item.expr.kind != "STANDARD"
            else:
                assert isinstance(item.expr, A.FieldRef)
                refs = [item.expr]
            for ref in refs:
                r = scope.resolve(ref)
                key = tuple(k.lower() for k in r.key)
                if key in seen:
                    raise InvalidField(f"duplicate field selected: {'.'.join(r.key)}",
                                       [ref.text])
                seen.add(key)
                node = root
                for depth in range(1, len(r.parents) + 1):
                    node = node.child(r.parents[depth - 1], r.parent_objs[depth - 1].name,
                                      cols, scope.parent_id_col(r.parents[:depth]),
                                      self.url(r.parent_objs[depth - 1].name))
                node.add(r.field, len(cols))
                cols.append(r.col)
        where, params = self.where()
        order = self.order_by(grouped=None)
        tail = f" ORDER BY {order}" if order else ""
        select_sql = ", ".join(cols)
        frm = scope.from_sql()
        ids_sql = (f"SELECT {scope.alias}.rowid {frm} WHERE {where}{tail} LIMIT ? OFFSET ?")
        joins = " ".join(scope.join_sql)
        batch_sql = (f"SELECT {select_sql} FROM {{table}} c JOIN "
                     f"{_q(scope.obj.name)} {scope.alias} ON {scope.alias}.rowid = c.rid "
                     f"{joins} WHERE c.rowid > ? AND c.rowid <= ? ORDER BY c.rowid")
        return self.finish("rows", select_sql, tail, params, row_shaper(root), where,
                           ids_sql=ids_sql, batch_sql=batch_sql, uses_fields_all=fields_all)

    def expand_fields(self, fn: A.FieldsFn) -> list[A.FieldRef]:
        if fn.kind != "STANDARD":
            lim = self.q.limit
            if not isinstance(lim, int) or lim > MAX_FIELDS_LIMIT:
                raise self.err(fn.pos, "The SOQL FIELDS function must have a LIMIT of at "
                               f"most {MAX_FIELDS_LIMIT}")
        out = []
        for f in self.scope.obj.fields.values():
            if fn.kind == "ALL" or (fn.kind == "CUSTOM") == f.custom:
                out.append(A.FieldRef((f.name,), fn.pos))
        return out

    def order_by(self, grouped: dict[tuple[str, ...], Resolved] | None) -> str:
        parts = []
        for item in self.q.order_by:
            nulls_first = item.nulls_first
            if isinstance(item.expr, A.Agg):
                if grouped is None:
                    raise self.err(item.expr.pos, "Aggregate functions are not allowed in "
                                   "ORDER BY of a query without GROUP BY")
                sql = self.agg_sql(item.expr)[0]
            else:
                r = self.scope.resolve(item.expr)
                if grouped is not None and _key(r) not in grouped:
                    raise self.err(item.expr.pos, "Ordered field must be grouped or "
                                   f"aggregated: {item.expr.text}")
                if r.field.type == "textarea" and r.field.length > 255:
                    raise InvalidField(caret(self.text, item.expr.pos, f"field "
                                             f"'{r.field.name}' can not be sorted in a "
                                             "query call"), [r.field.name])
                if r.field.type == "reference" and r.field.nillable:
                    nulls_first = None  # REF66: NULLS FIRST/LAST unsupported here
                sql = r.cmp
            d = " DESC" if item.desc else ""
            # SOQL's default is nulls first in both directions (see the module docstring);
            # SQLite's is first for ASC, last for DESC: spell out only what differs.
            first = True if nulls_first is None else nulls_first
            if first == item.desc:
                d += " NULLS FIRST" if first else " NULLS LAST"
            parts.append(sql + d)
        return ", ".join(parts)

    # --- COUNT() --------------------------------------------------------------------------

    def count_plan(self) -> Plan:
        q = self.q
        if len(q.select) != 1:
            other = next(i for i in q.select
                         if not (isinstance(i.expr, A.Agg) and i.expr.arg is None))
            pos = other.expr.pos
            raise self.err(pos, "COUNT() must be the only element in the SELECT list")
        item = q.select[0]
        if item.alias is not None:
            assert item.alias_pos is not None
            raise self.err(item.alias_pos, f"unexpected token: '{item.alias}'")
        if q.order_by:
            raise self.err(q.order_by[0].expr.pos,
                           "COUNT() and ORDER BY may not be used together")
        where, params = self.where()
        tail = ""
        if q.group_by:
            grouped = self.group_by()
            tail = " GROUP BY " + ", ".join(r.cmp for r in grouped.values())
            if q.having is not None:
                tail += " HAVING " + self.having(grouped, params)
        elif q.having is not None:
            tail = " HAVING " + self.having({}, params)
        plan = self.finish("count", "1", tail, params, agg_shaper([]), where)
        plan.sql = f"SELECT COUNT(*) FROM ({plan.sql})"
        return plan

    # --- aggregate queries ------------------------------------------------------------------

    def group_by(self) -> dict[tuple[str, ...], Resolved]:
        grouped: dict[tuple[str, ...], Resolved] = {}
        for ref in self.q.group_by:
            r = self.scope.resolve(ref)
            if r.field.type in _NOT_GROUPABLE:
                raise InvalidField(caret(self.text, ref.pos, f"field '{r.field.name}' can "
                                         "not be grouped in a query call"), [r.field.name])
            grouped[_key(r)] = r
        return grouped

    def agg_plan(self) -> Plan:
        q = self.q
        grouped = self.group_by()
        if q.limit is not None and not q.group_by:
            raise self.err(q.sobject_pos, "A query with an aggregate function and a LIMIT "
                           "clause must use GROUP BY")
        cols: list[str] = []
        outs: list[tuple[str, int, Callable[[Any], Any] | None]] = []
        n_expr = 0
        aliases: set[str] = set()
        for item in q.select:
            expr = item.expr
            if isinstance(expr, A.FieldsFn):
                raise self.err(expr.pos, "Field must be grouped or aggregated: FIELDS")
            if isinstance(expr, A.FieldRef):
                r = self.scope.resolve(expr)
                if _key(r) not in grouped:
                    raise self.err(expr.pos, "Field must be grouped or aggregated: "
                                   f"{expr.text}")
                name = item.alias or r.field.name
                conv: Callable[[Any], Any] | None = _bool if r.field.type == "boolean" \
                    else None
                sql = r.col
            else:
                sql, _, conv = self.agg_sql(expr)
                if item.alias is None:
                    name = f"expr{n_expr}"
                    n_expr += 1
                else:
                    name = item.alias
            if name.lower() in aliases:
                pos = item.alias_pos or expr.pos
                raise self.err(pos, f"duplicate alias: {name}")
            aliases.add(name.lower())
            outs.append((name, len(cols), conv))
            cols.append(sql)
        where, params = self.where()
        tail = ""
        if q.group_by:
            tail = " GROUP BY " + ", ".join(r.cmp for r in grouped.values())
        if q.having is not None:
            tail += " HAVING " + self.having(grouped, params)
        order = self.order_by(grouped=grouped)
        if order:
            tail += f" ORDER BY {order}"
        return self.finish("agg", ", ".join(cols), tail, params, agg_shaper(outs), where)

    def having(self, grouped: dict[tuple[str, ...], Resolved], params: list[ParamFn]) -> str:
        def operand(ref: A.FieldRef | A.Agg) -> Operand:
            if isinstance(ref, A.Agg):
                return self.agg_sql(ref)[1]
            r = self.scope.resolve(ref)
            if _key(r) not in grouped:
                raise self.err(ref.pos, f"Field must be grouped or aggregated: {ref.text}")
            return field_operand(r.field, r.cmp)

        assert self.q.having is not None
        cc = CondCompiler(self.scope, operand, None)
        sql = cc.compile(self.q.having)
        params.extend(cc.params)
        return sql

    def agg_sql(self, agg: A.Agg) -> tuple[str, Operand, Callable[[Any], Any] | None]:
        """(select SQL, operand for HAVING, output converter) of an aggregate call."""
        fn = agg.func
        label = f"{fn}({agg.arg.text if agg.arg else ''})"
        if agg.arg is None:
            return "COUNT(*)", Operand("COUNT(*)", "number", False, label, "int"), None
        r = self.scope.resolve(agg.arg)
        f = r.field
        if not _supports(fn, f):
            raise self.err(agg.pos, f"field {agg.arg.text} does not support aggregate "
                           f"operator {fn}")
        if fn == "COUNT":
            # The FROM object's Id is never null, so COUNT(Id) is COUNT(*): SQLite can then
            # answer from an index without reading the rows (verify-org's check at 2M).
            s = "COUNT(*)" if f.type == "id" and not r.parents else f"COUNT({r.col})"
            return s, Operand(s, "number", False, label, "int"), None
        if fn == "COUNT_DISTINCT":
            s = f"COUNT(DISTINCT {r.cmp})"
            return s, Operand(s, "number", False, label, "int"), None
        if fn in ("SUM", "AVG"):
            s = f"{fn}({r.col})"
            return s, Operand(s, "number", False, label, "double"), None
        if f.sort_key:
            # Order by the sort key, report the stored spelling: encode both in one value.
            s = f"{fn}({r.cmp} || char(0) || {r.col})"
            cmp = f"substr({s}, 1, instr({s}, char(0)) - 1)"
            return s, field_operand(f, cmp, label), _decode_sk
        s = f"{fn}({r.col})"
        return s, field_operand(f, s, label), None

    # --- semi-joins -------------------------------------------------------------------------

    def subquery(self, sub: A.Query, left: A.FieldRef) -> tuple[str, list[ParamFn]]:
        self.subqueries += 1
        item = sub.select[0]
        if len(sub.select) != 1 or not isinstance(item.expr, A.FieldRef) or item.alias:
            pos = item.expr.pos if len(sub.select) == 1 else sub.select[1].expr.pos
            raise self.err(pos, "The semi join sub-select must select exactly one ID or "
                           "reference field")
        for bad, pos in ((sub.group_by, sub.sobject_pos), (sub.having, sub.sobject_pos),
                         (sub.order_by, sub.sobject_pos), (sub.limit, sub.sobject_pos),
                         (sub.offset, sub.offset_pos or sub.sobject_pos)):
            if bad:
                raise self.err(pos, "GROUP BY, HAVING, ORDER BY, LIMIT and OFFSET are not "
                               "supported in semi join sub-selects")
        scope = Scope.open(self.schema, sub.sobject, sub.sobject_pos,
                           f"s{self.subqueries}", self.text)
        if scope.obj is self.scope.obj:
            raise self.err(sub.sobject_pos, "The inner and outer selects should not be on "
                           "the same object type")
        if len(item.expr.path) != 1:
            raise self.err(item.expr.pos, "The semi join sub-select must not use a "
                           "relationship path")
        r = scope.resolve(item.expr)
        outer = self.scope.resolve(left)
        if _target(r.field, scope.obj) != _target(outer.field, self.scope.obj) or \
                r.field.type not in ("id", "reference"):
            raise InvalidField(caret(self.text, left.pos, f"The selected field "
                                     f"'{r.field.name}' in the subquery and the left operand "
                                     "field in the where expression in the outer query must "
                                     "point to the same object type"), [left.text])
        deleted = "" if self.include_deleted else f'{scope.alias}."IsDeleted" = 0'
        params: list[ParamFn] = []
        # Nulls never join, and a null in a NOT IN set would make SQL's NOT IN unknown.
        where = f"{deleted + ' AND ' if deleted else ''}{r.col} IS NOT NULL"
        if sub.where is not None:
            def operand(ref: A.FieldRef | A.Agg) -> Operand:
                if isinstance(ref, A.Agg):
                    raise self.err(ref.pos, "Aggregate functions are not supported in the "
                                   "WHERE clause; use HAVING")
                rr = scope.resolve(ref)
                return field_operand(rr.field, rr.cmp)

            cc = CondCompiler(scope, operand, None)
            where = f"{where} AND {cc.compile(sub.where)}"
            params = cc.params
        self.scope.deps.update(scope.deps)
        return f"SELECT {r.col} {scope.from_sql()} WHERE {where}", params


@dataclass(frozen=True)
class IndexFilter:
    """The WHERE terms on one indexable field: ``count_sql`` counts the rows they match
    (an index range read), with ``params`` computed per execution."""

    field: Field
    count_sql: str
    params: list[ParamFn]


class _Lazy:
    """A value computed on first call (plans are cached; most never need it)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make: Callable[[], Any] | None = make
        self._value: Any = None

    def __call__(self) -> Any:
        if self._make is not None:
            self._value, self._make = self._make(), None
        return self._value


def _indexable_ref(c: A.Cond) -> A.FieldRef | None:
    """The field of a term an index can answer (see ``_Compiler.index_filters``)."""
    if isinstance(c, A.Compare) and isinstance(c.left, A.FieldRef):
        if c.op == "LIKE":
            v = c.value
            ok = isinstance(v, A.LikePattern) and bool(v.parts) and \
                isinstance(v.parts[0], str) and v.parts[0] != ""
            return c.left if ok else None
        if c.op in ("=", "<", "<=", ">", ">=") and not isinstance(c.value, A.NullV):
            return c.left
        return None
    if isinstance(c, A.InList) and isinstance(c.left, A.FieldRef) and not c.negated and (
            isinstance(c.values, A.Bind) or not any(isinstance(v, A.NullV)
                                                    for v in c.values)):
        return c.left
    return None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _key(r: Resolved) -> tuple[str, ...]:
    return tuple(k.lower() for k in r.key)


def _target(f: Field, obj: SObjectDef) -> str:
    if f.type == "id":
        return obj.name
    return f.reference_to[0] if f.reference_to else ""


def _supports(fn: str, f: Field) -> bool:
    """REF66 "Support for Field Types in Aggregate Functions"."""
    if f.type == "boolean" or (f.type == "textarea" and f.length > 255):
        return False
    if fn in ("SUM", "AVG"):
        return f.type in NUMBER_TYPES
    return f.type in TEXT_TYPES or f.type in NUMBER_TYPES or f.type in (
        "id", "reference", "date", "datetime")


def _bool(v: Any) -> Any:
    return None if v is None else bool(v)


def _decode_sk(v: Any) -> Any:
    return None if v is None else v.split("\0", 1)[1]
