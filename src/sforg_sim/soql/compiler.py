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
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import InvalidField, InvalidType, MalformedQuery, NumberOutsideValidRange
from ..schema import EARTH_RADIUS_KM, NUMBER_TYPES, TEXT_TYPES, Field, Schema, SObjectDef
from . import ast as A
from .conditions import CondCompiler, Operand, field_operand
from .parser import caret
from .scope import Ctx, ParamFn, Resolved, Scope
from .shape import Node, PolyNode, agg_shaper, format_converter, row_shaper

__all__ = ["MAX_CHILD_DEPTH", "MAX_CHILD_SUBQUERIES", "MAX_OFFSET", "NESTED_CHILD_MIN_VERSION",
           "ChildPlan", "IndexFilter", "Plan", "child_depth_error", "compile_query"]

MAX_OFFSET = 2000
MAX_FIELDS_LIMIT = 200
MAX_CHILD_SUBQUERIES = 20
"""Parent-to-child subqueries per query, at every level together (see
``_Compiler.child_plan``)."""
MAX_CHILD_DEPTH = 4
"""Levels of parent-to-child subqueries below the root (five levels in all, the root
counted as the first): *SOQL and SOSL Reference*, "Using Relationship Queries"
(https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-relationships-query-using.html):
"the parent is counted as the first level of the query and the child relationships can be
up to four levels deep from the parent root"."""
NESTED_CHILD_MIN_VERSION = (58, 0)
"""The first API version that allows subqueries below the first level ("Understanding
Relationship Query Limitations": "In API version 57.0 and earlier, only two levels of
parent-to-child relationship can be specified in a query"). The engine checks it per
request (``Plan.extra["nested_child_pos"]``), so one plan serves every version."""
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


@dataclass(frozen=True)
class ChildPlan:
    """A compiled parent-to-child subquery: ``sql`` reads the children of many parents
    (parameters: the parents' ids as a JSON array, then ``params``, then the per-parent
    LIMIT when there is one); each row starts with the parent id, then the child's Id,
    and ``shape`` builds the child record from the row. ``children`` are the subqueries
    nested inside this one (API v58.0+), filled in per child record the same way."""

    relationship: str
    sql: str
    params: list[ParamFn]
    shape: Callable[[tuple[Any, ...]], dict[str, Any]]
    limit: int | A.Bind | None
    tables: tuple[str, ...]
    children: tuple[ChildPlan, ...] = ()
    depth: int = 1
    """1 for a subquery of the root query, 2 for one inside it, ... up to MAX_CHILD_DEPTH."""
    pos: A.Pos = (1, 1)
    """Where the subquery's FROM names the relationship (for errors)."""


def child_depth_error(text: str, pos: A.Pos, levels: int) -> MalformedQuery:
    """MALFORMED_QUERY for a subquery more than ``levels`` levels below the root.

    The text for ``levels == 1`` is what orgs answer before v58.0 ("SOQL statements cannot
    query aggregate relationships more than 1 level away from the root entity object.",
    captured in public test suites and posts, not in the reference); for the five-level
    limit the same sentence with 4 is the simulator's (unconfirmed)."""
    unit = "level" if levels == 1 else "levels"
    return MalformedQuery(caret(text, pos, "SOQL statements cannot query aggregate "
                                f"relationships more than {levels} {unit} away from the "
                                "root entity object."))


def _running_user(ctx: Ctx) -> str | None:
    """The parameter of ``USING SCOPE mine``: who runs the query."""
    return ctx.user_id


class _Compiler:
    def __init__(self, q: A.Query, schema: Schema, url: Callable[[str], str],
                 include_deleted: bool, is_child: bool = False, depth: int = 0,
                 child_count: list[int] | None = None) -> None:
        self.q = q
        self.text = q.text
        self.schema = schema
        self.url = url
        self.include_deleted = include_deleted
        self.scope = Scope.open(schema, q.sobject, q.sobject_pos, "t", q.text)
        self.subqueries = 0
        self.depth = depth if depth else (1 if is_child else 0)
        """Parent-to-child level of this query: 0 for the root, 1 for its subqueries..."""
        self.is_child = self.depth > 0
        self.children: list[ChildPlan] = []
        self.child_count = child_count if child_count is not None else [0]
        """Subqueries compiled so far in the whole statement (shared by every level)."""

    def err(self, pos: A.Pos, detail: str) -> MalformedQuery:
        return MalformedQuery(caret(self.text, pos, detail))

    # --- top level ----------------------------------------------------------------------

    def plan(self) -> Plan:
        q = self.q
        self.check_from()
        aggs = [i for i in q.select if isinstance(i.expr, A.Agg) or (
            isinstance(i.expr, A.FieldFn) and isinstance(i.expr.arg, A.Agg))]
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
        terms: list[str] = []
        params: list[ParamFn] = []
        if not self.include_deleted:
            terms.append(f'{self.scope.alias}."IsDeleted" = 0')
        if self.q.scope == "mine":
            terms.append(self.mine_filter())
            params.append(_running_user)
        if self.q.where is not None:
            cc = CondCompiler(self.scope, self.where_operand, self.subquery)
            terms.append(cc.compile(self.q.where))
            params.extend(cc.params)
        return " AND ".join(terms) or "1", params

    def check_from(self) -> None:
        """USING SCOPE and the further FROM items, checked against the schema.

        *SOQL and SOSL Reference*, "USING SCOPE": an object supports the scopes its
        describe lists under ``supportedScopes``
        (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_using_scope.htm).
        Here: ``everything`` on every object (a no-op: one user who sees every record)
        and ``mine`` ("records owned by the user running the query") on objects with an
        OwnerId. The org has no teams, territories, queues, delegation or scoping rules,
        so ``team``, ``delegated``, ``my_territory``, ``my_team_territory``,
        ``mine_and_my_groups`` and ``scopingRule`` are MALFORMED_QUERY naming the scope
        (deviation: Salesforce's wording for an unsupported scope is unconfirmed)."""
        q = self.q
        for ref in q.from_paths:
            self.scope.resolve(ref)
        if q.scope and q.scope not in ("everything", "mine"):
            raise self.err(q.scope_pos or q.sobject_pos, f"USING SCOPE {q.scope} is not "
                           f"supported by {self.scope.obj.name} in sforg_sim (no teams, "
                           "territories, queues or scoping rules)")
        if q.scope == "mine" and self.scope.obj.get("OwnerId") is None:
            raise self.err(q.scope_pos or q.sobject_pos, f"USING SCOPE mine is not "
                           f"supported by {self.scope.obj.name}: it has no owner")

    def mine_filter(self) -> str:
        """``USING SCOPE mine``: the records the running user owns."""
        return f'{self.scope.alias}."OwnerId" = ?'

    def where_operand(self, ref: A.Operand) -> Operand:
        if isinstance(ref, A.Agg):
            raise self.err(ref.pos, "Aggregate functions are not supported in the WHERE "
                           "clause; use HAVING")
        if isinstance(ref, A.Grouping):
            raise self.err(ref.pos, "GROUPING() is allowed in SELECT, HAVING and ORDER BY "
                           "only")
        if isinstance(ref, A.DateFn):
            return self.date_key(ref).operand
        if isinstance(ref, A.Distance):
            return self.distance(ref, self.scope)
        r = self.scope.resolve(ref)
        if ref.label:
            self.check_label(ref, r.field)
        return field_operand(r.field, r.cmp, ref.text if len(ref.path) > 1 else None)

    def check_label(self, ref: A.FieldRef, f: Field) -> None:
        """``toLabel()`` takes a picklist: *SOQL and SOSL Reference*, "toLabel()"
        (https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-select-tolabel.html):
        "Regular, multiselect, division, or currency code picklist fields, whose values
        are returned by the relevant describe API call" (record type names and data
        categories: the org has none). Another field type is MALFORMED_QUERY here
        (Salesforce's answer is unconfirmed)."""
        if f.type not in ("picklist", "multipicklist"):
            raise self.err(ref.pos, f"toLabel() needs a picklist field: {ref.text} is of "
                           f"type {f.type}")

    def date_key(self, fn: A.DateFn, scope: Scope | None = None) -> GroupKey:
        """A date function over a field of ``scope`` (default: the query's own; see
        :func:`date_function_sql`)."""
        r = (scope or self.scope).resolve(fn.arg)
        t = r.field.type
        if t not in ("date", "datetime") or (t == "date" and (
                fn.func in DATETIME_ONLY or fn.tz)):
            need = "dateTime" if fn.func in DATETIME_ONLY or fn.tz else "date or dateTime"
            raise self.err(fn.pos, f"{fn.func}() needs a {need} field: {fn.arg.text} is "
                           f"of type {t}")
        sql = "(" + date_function_sql(fn.func, r.col) + ")"
        if fn.func == "DAY_ONLY":
            op = Operand(sql, "date", False, fn.text, "date")
        else:
            op = Operand(sql, "number", False, fn.text, "int")
        key = ("#" + fn.func.lower(), "tz" if fn.tz else "", *_key(r))
        return GroupKey(key, sql, sql, op, None, None)

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
        scope = self.scope
        cols = [f'{scope.alias}."Id"']
        root, fields_all = self.select_columns(cols)
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
        plan = self.finish("rows", select_sql, tail, params, row_shaper(root), where,
                           ids_sql=ids_sql, batch_sql=batch_sql, uses_fields_all=fields_all)
        # The statement's pieces, for Engine.ordered_rows (SOSL filters and orders its
        # candidates with them): the queried object's alias, FROM, WHERE, ORDER BY tail.
        plan.extra["parts"] = (scope.alias, frm, where, tail)
        if self.children:
            plan.extra["children"] = self.children
            nested = _first_nested(self.children)
            if nested is not None:
                plan.extra["nested_child_pos"] = nested
            # A child object gaining a field makes the plan stale too.
            plan.deps = tuple((o, len(o.fields)) for o in self.scope.deps.values())
        return plan

    def select_columns(self, cols: list[str]) -> tuple[Node, bool]:
        """The record shape of a plain query: SELECT's fields (columns appended to
        ``cols``, whose first entry is the Id) and its parent-to-child subqueries
        (compiled into ``self.children``). Returns the root node and whether
        FIELDS(ALL/CUSTOM) was used."""
        q, scope = self.q, self.scope
        root = Node(scope.obj.name, len(cols) - 1, self.url(scope.obj.name))
        seen: set[tuple[str, ...]] = set()
        fields_all = False
        n_expr = 0
        for item in q.select:
            expr = item.expr
            if isinstance(expr, A.FieldFn):
                self.field_fn_column(item, expr, root, cols, seen)
                continue
            if isinstance(expr, A.Distance):
                n_expr = self.distance_column(item, expr, root, cols, seen, n_expr)
                continue
            if item.alias is not None:
                assert item.alias_pos is not None
                raise self.err(item.alias_pos, f"unexpected token: '{item.alias}'")
            if isinstance(expr, A.SubQuery):
                child = self.child_plan(expr.query)
                key: tuple[str, ...] = ("#child", child.relationship.lower())
                if key in seen:
                    raise self.err(expr.query.sobject_pos, "duplicate relationship "
                                   f"subquery: {child.relationship}")
                seen.add(key)
                root.placeholder(child.relationship)
                continue
            if isinstance(expr, A.TypeOf):
                self.typeof_columns(expr, root, cols, seen)
                continue
            if isinstance(expr, A.FieldsFn):
                refs = self.expand_fields(expr)
                fields_all = fields_all or expr.kind != "STANDARD"
            elif isinstance(expr, (A.DateFn, A.Grouping)):
                raise self.err(expr.pos, "Date functions and GROUPING() are allowed in "
                               "the SELECT of an aggregate query only (with GROUP BY)")
            else:
                assert isinstance(expr, A.FieldRef)
                refs = [expr]
            for ref in refs:
                if len(ref.path) > 1 and ("#typeof", ref.path[0].lower()) in seen:
                    raise self.err(ref.pos, f"{ref.path[0]} is already selected by a "
                                   "TYPEOF: TYPEOF cannot reference a relationship field "
                                   "that is also referenced in the field list")
                self.place(scope, ref, root, cols, seen)
        return root, fields_all

    def place(self, scope: Scope, ref: A.FieldRef, root: Node, cols: list[str],
              seen: set[tuple[str, ...]]) -> None:
        """Resolve a selected field path, refuse it when already selected, and put its
        column under the record node of its last parent (made on the way)."""
        r = scope.resolve(ref)
        key = tuple(k.lower() for k in r.key)
        if key in seen:
            raise InvalidField(f"duplicate field selected: {'.'.join(r.key)}", [ref.text])
        seen.add(key)
        node = self.parent_node(scope, root, r, cols)
        node.add(r.field, len(cols))
        cols.append(r.col)

    def parent_node(self, scope: Scope, root: Node, r: Resolved, cols: list[str]) -> Node:
        """The record node of ``r``'s last parent, made on the way (a Name object reached
        through a polymorphic relationship gets per-record URLs)."""
        node = root
        for depth in range(1, len(r.parents) + 1):
            obj = r.parent_objs[depth - 1]
            targets = scope.poly_targets(r.parents[:depth])
            urls = None if targets is None else {t.key_prefix: self.url(t.name)
                                                 for t in targets}
            node = node.child(r.parents[depth - 1], obj.name, cols,
                              scope.parent_id_col(r.parents[:depth]), self.url(obj.name),
                              urls)
        return node

    def typeof_columns(self, t: A.TypeOf, root: Node, cols: list[str],
                       seen: set[tuple[str, ...]]) -> None:
        """``TYPEOF What WHEN Account THEN Phone ... ELSE Name END``: one LEFT JOIN per
        WHEN object (on the polymorphic id), and a record node that picks its fields by
        the type of the id each record holds.

        *SOQL and SOSL Reference*, "TYPEOF"
        (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_typeof.htm):
        typeOfField is "a polymorphic relationship field in objectType"; "each object
        type associated with the polymorphic relationship field ... is checked for a
        matching object type in a WHEN clause"; whenFieldList holds "fields in the
        referenced object type or paths to related object fields"; the ELSE list is
        used "if the object type ... doesn't match any of the object types in the
        provided WHEN clauses"; "typeOfField cannot reference a relationship field that
        is also referenced in the fieldList". The REST record carries the referenced
        object with ``attributes.type`` its actual type and only the matching branch's
        fields (null when the lookup is empty).

        Deviations (sforg_sim): typeOfField must be a relationship of the queried object
        (not of a parent); a WHEN type outside the field's referenceTo is MALFORMED_QUERY;
        ELSE fields are read from whichever object the id names (null where it has no such
        field) and must exist on at least one of the types ELSE can apply to (Salesforce
        checks them against the Name object; when the WHENs cover every type the field
        can reference, ELSE never applies and is not checked); with no matching WHEN and
        no ELSE the object carries attributes only (unconfirmed)."""
        scope = self.scope
        if len(t.rel.path) != 1:
            raise self.err(t.pos, "sforg_sim supports TYPEOF on a polymorphic relationship "
                           f"of {scope.obj.name} only, not on a parent's: {t.rel.text}")
        ref_field = scope.obj.relationship(t.rel.path[0])
        if ref_field is None:
            raise InvalidField(caret(self.text, t.pos, f"Didn't understand relationship "
                                     f"'{t.rel.text}' in field path. Please reference your "
                                     "WSDL or the describe call for the appropriate names."),
                               [t.rel.text])
        if len(ref_field.reference_to) < 2:
            raise self.err(t.pos, f"TYPEOF needs a polymorphic relationship field: "
                           f"{ref_field.relationship_name} references "
                           f"{ref_field.reference_to[0]} only")
        rel = ref_field.relationship_name or t.rel.path[0]
        key: tuple[str, ...] = ("#typeof", rel.lower())
        if key in seen or any(len(k) > 1 and k[0] == rel.lower() for k in seen):
            raise self.err(t.pos, f"{rel} is selected twice: TYPEOF cannot reference a "
                           "relationship field that is also referenced in the field list")
        seen.add(key)
        fk_col = f"{scope.alias}.{_q(ref_field.name)}"
        targets = {self.schema.get(n).key_prefix: self.schema.get(n)
                   for n in ref_field.reference_to}
        node = PolyNode(len(cols), {p: (o.name, self.url(o.name)) for p, o in targets.items()})
        cols.append(fk_col)
        branches: dict[str, Scope] = {}

        def branch_scope(obj: SObjectDef) -> Scope:
            hit = branches.get(obj.name)
            if hit is not None:
                return hit
            alias = f"{scope.alias}y{len(scope.join_sql) + 1}"  # unique: join_sql grows
            scope.join_sql.append(f"LEFT JOIN {_q(obj.name)} {alias} ON {alias}.\"Id\" = "
                                  f"{fk_col}")
            scope.deps[obj.name] = obj
            sub = Scope(self.schema, obj, alias, self.text)
            branches[obj.name] = sub
            return sub

        def columns(sub: Scope, fields: tuple[A.FieldRef, ...]) -> Node:
            leaf = Node(sub.obj.name, node.id_col, self.url(sub.obj.name))
            mark = len(sub.join_sql)
            done: set[tuple[str, ...]] = set()
            for ref in fields:
                self.place(sub, ref, leaf, cols, done)
            # Parent joins inside a branch (WHEN Account THEN Owner.Name) join from it.
            scope.join_sql.extend(sub.join_sql[mark:])
            scope.deps.update(sub.deps)
            return leaf

        matched: set[str] = set()
        for name, pos, fields in t.whens:
            obj = next((o for o in targets.values() if o.name.lower() == name.lower()), None)
            if obj is None:
                raise self.err(pos, f"{name} is not a type {rel} can reference "
                               f"({', '.join(ref_field.reference_to)})")
            matched.add(obj.key_prefix)
            node.whens[obj.key_prefix] = columns(branch_scope(obj), fields)
        rest = [o for p, o in targets.items() if p not in matched]
        if t.else_ and rest:
            for ref in t.else_:
                if len(ref.path) != 1 or not any(o.get(ref.path[0]) for o in rest):
                    raise InvalidField(caret(self.text, ref.pos, f"No such column "
                                             f"'{ref.text}' on entity 'Name' (ELSE of TYPEOF "
                                             f"{rel})"), [ref.text])
            for o in rest:
                present = tuple(r for r in t.else_ if o.get(r.path[0]) is not None)
                leaf = columns(branch_scope(o), present)
                leaf.missing = tuple(r.path[0] for r in t.else_
                                     if o.get(r.path[0]) is None)
                node.whens[o.key_prefix] = leaf
        root.items.append((rel, None, node))

    def distance_column(self, item: A.SelectItem, d: A.Distance, root: Node,
                        cols: list[str], seen: set[tuple[str, ...]], n_expr: int) -> int:
        """``DISTANCE(...)`` in the SELECT of a plain query: the distance (a number, null
        for a null location) under the alias, else under ``exprN``, numbered from 0 over
        the un-aliased function columns of the query. Returns the next N.

        *SOQL and SOSL Reference*, "Location-Based SOQL Queries" documents DISTANCE()
        in WHERE and ORDER BY with its REST sample; a DISTANCE() in SELECT is accepted by
        public SOQL parsers' suites of valid queries (e.g. ``SELECT name,
        DISTANCE(mailing__c, GEOLOCATION(1,1), 'mi') FROM account WHERE ...``), but the
        reference page read gives no version and no result key for it. The key follows
        the reference's rule for un-aliased functions ("Using Aliases with GROUP BY":
        ``expr0``, ``expr1`` ...) and no version gate is applied: both unconfirmed
        (docs/fidelity.md S34)."""
        op = self.distance(d, self.scope)
        if item.alias is not None:
            name = item.alias
        else:
            name = f"expr{n_expr}"
            n_expr += 1
        key = (name.lower(),)
        if key in seen:
            raise self.err(item.alias_pos or d.pos, f"duplicate alias: {name}")
        seen.add(key)
        root.add_as(name, len(cols), None)
        cols.append(op.sql)
        return n_expr

    def distance(self, d: A.Distance, scope: Scope) -> Operand:
        """``DISTANCE(Location__c, GEOLOCATION(lat, lon), 'mi'|'km')`` as SQL over the
        location's latitude/longitude components (null when either is null, so a null
        location never matches a comparison and sorts as null).

        *SOQL and SOSL Reference*, "Location-Based SOQL Queries"
        (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_geolocate.htm):
        the distance is "calculated as a straight line—as the crow flies"; the Apex
        Reference's Location class computes it "using an approximation of the haversine
        formula" (https://developer.salesforce.com/docs/platform/apex-ref/references/apex-ref/apex-class-system-location.html).
        Computed here with the haversine formula on a sphere of
        :data:`~sforg_sim.schema.EARTH_RADIUS_KM` (a mile is 1.609344 km). Salesforce's
        radius and rounding are unpublished: results may differ in the last digits."""
        lat1, lon1 = self.location_columns(d.field, scope)
        if isinstance(d.point, A.FieldRef):
            lat2, lon2 = self.location_columns(d.point, scope)
        else:
            lat2, lon2 = repr(float(d.point[0])), repr(float(d.point[1]))
        radius = EARTH_RADIUS_KM if d.unit == "km" else EARTH_RADIUS_KM / 1.609344
        hav = (f"power(sin(radians({lat2} - {lat1}) / 2), 2) + cos(radians({lat1})) * "
               f"cos(radians({lat2})) * power(sin(radians({lon2} - {lon1}) / 2), 2)")
        # min(1, ...) keeps rounding from pushing asin() out of its domain.
        sql = f"(2 * {radius!r} * asin(sqrt(min(1.0, {hav}))))"
        return Operand(sql, "number", False, d.text, "double")

    def location_columns(self, ref: A.FieldRef, scope: Scope) -> tuple[str, str]:
        """The latitude and longitude columns of a geolocation field path."""
        r = scope.resolve(ref)
        if r.field.type != "location":
            raise InvalidField(caret(self.text, ref.pos, f"DISTANCE() needs a geolocation "
                                     f"field: {ref.text} is of type {r.field.type}"),
                               [ref.text])
        base = r.field.name[:-3]
        out = []
        for comp in ("Latitude", "Longitude"):
            part = A.FieldRef((*ref.path[:-1], f"{base}__{comp}__s"), ref.pos)
            out.append(scope.resolve(part).col)
        return out[0], out[1]

    def field_fn_column(self, item: A.SelectItem, fn: A.FieldFn, root: Node,
                        cols: list[str], seen: set[tuple[str, ...]]) -> None:
        """``toLabel(field)`` or ``FORMAT(field)`` in a plain query: the field's column,
        under the alias when one is given (both "support aliasing ... aliasing is
        required when the query includes the same field multiple times": *SOQL and SOSL
        Reference*, "toLabel()" and "FORMAT()"), else under the field's name."""
        arg = self.field_fn_arg(fn)
        if isinstance(arg, A.Agg):
            raise self.err(fn.pos, f"{fn.text} needs an aggregate query")
        r = self.scope.resolve(arg)
        conv: Callable[[Any], Any] | None = None
        if fn.func == "TOLABEL":
            self.check_label(arg, r.field)
        else:
            conv = self.formatter(fn, r.field)
        if item.alias is not None:
            key: tuple[str, ...] = (item.alias.lower(),)
            node, name = root, item.alias
        else:
            key = tuple(k.lower() for k in r.key)
            name = r.field.name
            node = self.parent_node(self.scope, root, r, cols)
        if key in seen:
            raise self.err(item.alias_pos or fn.pos, f"duplicate field selected: "
                           f"{name} (alias {fn.text} to select it again)")
        seen.add(key)
        node.add_as(name, len(cols), conv)
        cols.append(r.col)

    def field_fn_arg(self, fn: A.FieldFn) -> A.FieldRef | A.Agg:
        """The field or aggregate under toLabel()/FORMAT(); convertCurrency() refused.

        *SOQL and SOSL Reference*, "convertCurrency()"
        (https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-querying-currency-fields.html):
        "This action requires that the org has multiple currencies enabled". The
        simulated org has one currency (USD), so convertCurrency() is MALFORMED_QUERY
        naming that (Salesforce's wording for a single-currency org is unconfirmed)."""
        arg = fn.arg
        if fn.func == "CONVERTCURRENCY" or isinstance(arg, A.FieldFn):
            cc = fn if fn.func == "CONVERTCURRENCY" else arg
            raise self.err(cc.pos, "convertCurrency() requires an org with multiple "
                           "currencies enabled; this org has one currency (USD)")
        return arg

    def formatter(self, fn: A.FieldFn, f: Field | None, agg: str = "") -> Callable[[Any], Any]:
        """FORMAT()'s converter for a field (or an aggregate ``agg`` of it)."""
        conv = format_converter("int" if agg in ("COUNT", "COUNT_DISTINCT") or f is None
                                else ("double" if agg == "AVG" and f.type == "int"
                                      else f.type), 0 if f is None else f.scale)
        if conv is None:
            raise self.err(fn.pos, f"FORMAT() applies to number, date, time and currency "
                           f"fields: {fn.text}")
        return conv

    # --- parent-to-child subqueries -------------------------------------------------------

    def child_plan(self, sub: A.Query) -> ChildPlan:
        """Compile ``(SELECT ... FROM Contacts ...)`` of a plain query into one statement
        that reads the children of a whole page of parents at once (their ids are its
        first parameter, a JSON array), never one statement per parent.

        *SOQL and SOSL Reference*, "Understanding Relationship Query Limitations"
        (https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-relationships-query-limits.html):
        "No more than 20 parent-to-child relationships can be specified in a query"
        (counted here over every level), "In API version 57.0 and earlier, only two
        levels of parent-to-child relationship can be specified in a query", and in
        58.0 and later up to five levels "via REST, SOAP, and Apex query calls"
        ("Using Relationship Queries": "the child relationships can be up to four levels
        deep from the parent root. SOQL queries that include more than five levels of
        parent-to-child relationships result in an error"). A subquery may hold its own
        subqueries down to :data:`MAX_CHILD_DEPTH`; deeper is MALFORMED_QUERY
        (:func:`child_depth_error`). The version gate is the engine's, per request. The
        subquery's FROM names a child relationship of the outer object
        (``childRelationships`` of its describe); anything else is INVALID_TYPE
        "Didn't understand relationship ..." (the text of captured responses).
        """
        if self.depth + 1 > MAX_CHILD_DEPTH:
            raise child_depth_error(self.text, sub.sobject_pos, MAX_CHILD_DEPTH)
        if self.child_count[0] >= MAX_CHILD_SUBQUERIES:
            raise self.err(sub.sobject_pos, "No more than "
                           f"{MAX_CHILD_SUBQUERIES} parent-to-child relationships can be "
                           "specified in a query")
        self.child_count[0] += 1
        rel = self.schema.child_relationship(self.scope.obj, sub.sobject)
        if rel is None:
            raise InvalidType(caret(self.text, sub.sobject_pos, f"Didn't understand "
                                    f"relationship '{sub.sobject}' in FROM part of query "
                                    "call. If you are attempting to use a custom "
                                    "relationship, be sure to append the '__r' after the "
                                    "custom relationship name. Please reference your WSDL "
                                    "or the describe call for the appropriate names."))
        child_obj, fk = rel
        for bad, what in ((sub.group_by, "GROUP BY"), (sub.having, "HAVING"),
                          (sub.offset, "OFFSET")):
            if bad:
                raise self.err(sub.sobject_pos, f"{what} is not supported in a "
                               "parent-to-child subquery")
        for item in sub.select:
            if isinstance(item.expr, (A.Agg, A.DateFn, A.Grouping)):
                raise self.err(item.expr.pos, "Aggregate and date functions are not "
                               "supported in a parent-to-child subquery")
        self.check_sub_clauses(sub, "a parent-to-child subquery")
        inner = _Compiler(replace(sub, sobject=child_obj.name), self.schema, self.url,
                          self.include_deleted, depth=self.depth + 1,
                          child_count=self.child_count)
        inner.check_from()
        s = inner.scope
        fk_col = f"{s.alias}.{_q(fk.name)}"
        cols = [fk_col, f'{s.alias}."Id"']
        root, _ = inner.select_columns(cols)
        where, params = inner.where()
        order = inner.order_by(grouped=None)
        frm = s.from_sql()
        cond = f"{fk_col} IN (SELECT value FROM json_each(?)) AND {where}"
        if sub.limit is None:
            sql = f"SELECT {', '.join(cols)} {frm} WHERE {cond}"
            if order:
                sql += f" ORDER BY {order}"
        else:
            # LIMIT n per parent: number each parent's children in the subquery's order.
            window = order or f"{s.alias}.rowid"
            sql = (f"SELECT * FROM (SELECT {', '.join(cols)}, ROW_NUMBER() OVER "
                   f"(PARTITION BY {fk_col} ORDER BY {window}) AS _rn {frm} WHERE {cond}) "
                   "WHERE _rn <= ? ORDER BY _rn")
        self.scope.deps.update(s.deps)
        child = ChildPlan(fk.child_relationship or sub.sobject, sql, params,
                          row_shaper(root), sub.limit, tuple(s.deps),
                          tuple(inner.children), self.depth + 1, sub.sobject_pos)
        self.children.append(child)
        return child

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

    def order_by(self, grouped: dict[tuple[str, ...], GroupKey] | None) -> str:
        """The ORDER BY list; ``grouped`` is None in a plain query."""
        return ", ".join(sql + _direction(desc, nulls)
                         for sql, desc, nulls in self.order_keys(grouped))

    def order_keys(self, grouped: dict[tuple[str, ...], GroupKey] | None,
                   branch: Branch | None = None) -> list[tuple[str, bool, bool | None]]:
        """(SQL, DESC, NULLS FIRST) per ORDER BY item. With ``branch`` (one grouping set
        of a ROLLUP/CUBE) a rolled-up key is NULL and GROUPING() a constant."""
        parts: list[tuple[str, bool, bool | None]] = []
        for item in self.q.order_by:
            nulls_first = item.nulls_first
            expr = item.expr
            if isinstance(expr, A.Agg):
                if grouped is None:
                    raise self.err(expr.pos, "Aggregate functions are not allowed in "
                                   "ORDER BY of a query without GROUP BY")
                sql = self.agg_sql(expr)[0]
            elif isinstance(expr, (A.DateFn, A.Grouping)):
                if grouped is None:
                    raise self.err(expr.pos, "Date functions and GROUPING() in ORDER BY "
                                   "need an aggregate query (with GROUP BY)")
                sql = self.grouped_sql(expr, grouped, branch, "Ordered field")
            elif isinstance(expr, A.Distance):
                if grouped is not None:
                    raise self.err(expr.pos, "DISTANCE() in ORDER BY needs a query that "
                                   "returns records, not an aggregate query")
                sql = self.distance(expr, self.scope).sql
            else:
                r = self.scope.resolve(expr)
                if grouped is not None:
                    sql = self.grouped_sql(expr, grouped, branch, "Ordered field")
                else:
                    sql = r.cmp
                if r.field.type == "textarea" and r.field.length > 255:
                    raise InvalidField(caret(self.text, expr.pos, f"field "
                                             f"'{r.field.name}' can not be sorted in a "
                                             "query call"), [r.field.name])
                if r.field.type == "reference" and r.field.nillable:
                    nulls_first = None  # REF66: NULLS FIRST/LAST unsupported here
            parts.append((sql, item.desc, nulls_first))
        return parts

    def grouped_sql(self, expr: A.FieldRef | A.DateFn | A.Grouping,
                    grouped: dict[tuple[str, ...], GroupKey], branch: Branch | None,
                    what: str) -> str:
        """SQL of a grouped key (compare form), or of GROUPING(); NULL for a key a
        ROLLUP/CUBE grouping set leaves out (its subtotal rows)."""
        if isinstance(expr, A.Grouping):
            k = self.grouping_key(expr, grouped)
            return "0" if branch is None or k in branch else "1"
        key = self.date_key(expr).key if isinstance(expr, A.DateFn) else \
            _key(self.scope.resolve(expr))
        g = grouped.get(key)
        if g is None:
            text = expr.text
            raise self.err(expr.pos, f"{what} must be grouped or aggregated: {text}")
        return g.cmp if branch is None or key in branch else "NULL"

    def grouping_key(self, expr: A.Grouping, grouped: dict[tuple[str, ...], GroupKey]
                     ) -> tuple[str, ...]:
        """The grouped key GROUPING(field) reports on (*SOQL and SOSL Reference*,
        "GROUPING(fieldName)": with GROUP BY ROLLUP or CUBE)."""
        if not self.q.group_kind:
            raise self.err(expr.pos, "GROUPING() needs GROUP BY ROLLUP or GROUP BY CUBE")
        key = _key(self.scope.resolve(expr.arg))
        if key not in grouped:
            raise self.err(expr.arg.pos, "GROUPING() must name a field of the GROUP BY "
                           f"{self.q.group_kind}: {expr.arg.text}")
        return key

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
        if q.group_kind:
            raise self.err(q.group_by[0].pos, f"COUNT() with GROUP BY {q.group_kind} is not "
                           "supported by sforg_sim")
        where, params = self.where()
        tail = ""
        if q.group_by:
            grouped = self.group_by()
            tail = " GROUP BY " + ", ".join(k.cmp for k in grouped.values())
            if q.having is not None:
                tail += " HAVING " + self.having(grouped, params)
        elif q.having is not None:
            tail = " HAVING " + self.having({}, params)
        plan = self.finish("count", "1", tail, params, agg_shaper([]), where)
        plan.sql = f"SELECT COUNT(*) FROM ({plan.sql})"
        return plan

    # --- aggregate queries ------------------------------------------------------------------

    def group_by(self) -> dict[tuple[str, ...], GroupKey]:
        grouped: dict[tuple[str, ...], GroupKey] = {}
        for ref in self.q.group_by:
            if isinstance(ref, A.DateFn):
                g = self.date_key(ref)
            else:
                r = self.scope.resolve(ref)
                if r.field.type in _NOT_GROUPABLE:
                    raise InvalidField(caret(self.text, ref.pos, f"field '{r.field.name}' "
                                             "can not be grouped in a query call"),
                                       [r.field.name])
                g = GroupKey(_key(r), r.col, r.cmp, field_operand(r.field, r.cmp),
                             _bool if r.field.type == "boolean" else None, r.field.name)
            grouped[g.key] = g
        return grouped

    def agg_plan(self) -> Plan:
        """An aggregate query. With GROUP BY ROLLUP/CUBE it is one SELECT per grouping
        set joined by UNION ALL (SQLite has no ROLLUP): *SOQL and SOSL Reference*, "GROUP
        BY ROLLUP" (subtotals "aggregating from right to left through the list of
        grouping columns", one grand total row, null in the rolled-up columns) and
        "GROUP BY CUBE" (subtotals for every combination). Without ORDER BY the rows come
        grouped as in the reference's tables (each group's rows, then its subtotal; the
        grand total last); Salesforce promises no order either."""
        q = self.q
        grouped = self.group_by()
        if q.limit is not None and not q.group_by:
            raise self.err(q.sobject_pos, "A query with an aggregate function and a LIMIT "
                           "clause must use GROUP BY")
        outs: list[tuple[str, int, Callable[[Any], Any] | None]] = []
        makers: list[Callable[[Branch | None], str]] = []
        n_expr = 0
        aliases: set[str] = set()
        for item in q.select:
            expr = item.expr
            if isinstance(expr, A.FieldsFn):
                raise self.err(expr.pos, "Field must be grouped or aggregated: FIELDS")
            if isinstance(expr, A.SubQuery):
                raise self.err(expr.query.sobject_pos, "Parent-to-child subqueries are not "
                               "allowed in an aggregate query")
            if isinstance(expr, A.TypeOf):
                # *SOQL and SOSL Reference*, "TYPEOF": "TYPEOF isn't allowed in queries
                # that don't return objects, such as COUNT()".
                raise self.err(expr.pos, "TYPEOF is not allowed in queries that don't "
                               "return objects, such as aggregate queries")
            if isinstance(expr, A.Distance):
                raise self.err(expr.pos, "DISTANCE() is not allowed in the SELECT of an "
                               "aggregate query")
            conv: Callable[[Any], Any] | None = None
            fmt: A.FieldFn | None = None
            if isinstance(expr, A.FieldFn):
                # toLabel(field) of a grouped picklist is the value (labels equal values
                # here); FORMAT() of a grouped field or an aggregate formats it.
                fmt = expr if expr.func == "FORMAT" else None
                inner = self.field_fn_arg(expr)
                if expr.func == "TOLABEL":
                    assert isinstance(inner, A.FieldRef)
                    self.check_label(inner, self.scope.resolve(inner).field)
                if isinstance(inner, A.FieldRef) and item.alias is None:
                    raise self.err(expr.pos, f"{expr.text} in an aggregate query needs an "
                                   "alias (sforg_sim)")
                expr = inner
            if isinstance(expr, A.FieldRef):
                key = _key(self.scope.resolve(expr))
                g = grouped.get(key)
                if g is None:
                    raise self.err(expr.pos, "Field must be grouped or aggregated: "
                                   f"{expr.text}")
                assert g.name is not None
                name, conv = item.alias or g.name, g.conv
                makers.append(_keyed(g.col, key))
            else:
                if isinstance(expr, A.Agg):
                    sql, _, conv = self.agg_sql(expr)
                    makers.append(_constant(sql))
                elif isinstance(expr, A.DateFn):
                    dk = self.date_key(expr)
                    if dk.key not in grouped:
                        raise self.err(expr.pos, "Field must be grouped or aggregated: "
                                       f"{expr.text}")
                    makers.append(_keyed(dk.col, dk.key))
                else:
                    gk = self.grouping_key(expr, grouped)
                    makers.append(_grouping(gk))
                if item.alias is None:
                    name = f"expr{n_expr}"
                    n_expr += 1
                else:
                    name = item.alias
            if fmt is not None:
                agg_fn = expr.func if isinstance(expr, A.Agg) else ""
                ref = expr.arg if isinstance(expr, A.Agg) else expr
                f = self.scope.resolve(ref).field if isinstance(ref, A.FieldRef) else None
                fconv, inner_conv = self.formatter(fmt, f, agg_fn), conv
                conv = fconv if inner_conv is None else \
                    (lambda v, a=inner_conv, b=fconv: b(a(v)))  # type: ignore[misc]
            if name.lower() in aliases:
                pos = item.alias_pos or expr.pos
                raise self.err(pos, f"duplicate alias: {name}")
            aliases.add(name.lower())
            outs.append((name, len(outs), conv))
        where, where_params = self.where()
        if not q.group_kind:
            params = list(where_params)
            tail = ""
            if q.group_by:
                tail = " GROUP BY " + ", ".join(g.cmp for g in grouped.values())
            if q.having is not None:
                tail += " HAVING " + self.having(grouped, params)
            order = self.order_by(grouped=grouped)
            if order:
                tail += f" ORDER BY {order}"
            return self.finish("agg", ", ".join(m(None) for m in makers), tail, params,
                               agg_shaper(outs), where)
        return self.rollup_plan(grouped, makers, outs, where, where_params)

    def rollup_plan(self, grouped: dict[tuple[str, ...], GroupKey],
                    makers: list[Callable[[Branch | None], str]],
                    outs: list[tuple[str, int, Callable[[Any], Any] | None]], where: str,
                    where_params: list[ParamFn]) -> Plan:
        """GROUP BY ROLLUP/CUBE as a UNION ALL of one grouped SELECT per grouping set."""
        q = self.q
        keys = list(grouped)
        if q.group_kind == "ROLLUP":
            sets = [frozenset(keys[:n]) for n in range(len(keys), -1, -1)]
        else:  # CUBE: every combination, largest first
            sets = [frozenset(k for i, k in enumerate(keys) if mask >> i & 1)
                    for mask in range((1 << len(keys)) - 1, -1, -1)]
        frm = self.scope.from_sql()
        params: list[ParamFn] = []
        branches = []
        n_out = len(outs)
        for b in sets:
            cols = [f"{m(b)} AS c{i}" for i, m in enumerate(makers)]
            keyed = self.order_keys(grouped, b)
            if q.order_by:
                cols += [f"{sql} AS o{i}" for i, (sql, _, _) in enumerate(keyed)]
            else:
                # The reference's layout: by each key, its subtotal after its groups.
                for i, k in enumerate(keys):
                    cols += [f"{0 if k in b else 1} AS o{2 * i}",
                             f"{grouped[k].cmp if k in b else 'NULL'} AS o{2 * i + 1}"]
            sql = f"SELECT {', '.join(cols)} {frm} WHERE {where}"
            params += where_params
            if b:
                sql += " GROUP BY " + ", ".join(grouped[k].cmp for k in keys if k in b)
            if q.having is not None:
                sql += " HAVING " + self.having(grouped, params, b)
            branches.append(sql)
        if q.order_by:
            order = ", ".join(f"o{i}" + _direction(desc, nulls)
                              for i, (_, desc, nulls) in enumerate(keyed))
        else:
            order = ", ".join(f"o{i}" for i in range(2 * len(keys)))
        out_cols = ", ".join(f"c{i}" for i in range(n_out))
        sql = (f"SELECT {out_cols} FROM ({' UNION ALL '.join(branches)}) ORDER BY {order} "
               "LIMIT ? OFFSET ?")
        deps = tuple((o, len(o.fields)) for o in self.scope.deps.values())
        return Plan("agg", self.scope.obj, self.text, sql, params, agg_shaper(outs),
                    q.limit, q.offset, q.offset_pos, deps)

    def having(self, grouped: dict[tuple[str, ...], GroupKey], params: list[ParamFn],
               branch: Branch | None = None) -> str:
        def operand(ref: A.Operand) -> Operand:
            if isinstance(ref, A.Agg):
                return self.agg_sql(ref)[1]
            if isinstance(ref, A.Grouping):
                sql = self.grouped_sql(ref, grouped, branch, "Field")
                return Operand(sql, "number", False, "GROUPING", "int")
            if isinstance(ref, A.Distance):
                raise self.err(ref.pos, "DISTANCE() is allowed in WHERE and ORDER BY only")
            key = self.date_key(ref).key if isinstance(ref, A.DateFn) else \
                _key(self.scope.resolve(ref))
            g = grouped.get(key)
            if g is None:
                raise self.err(ref.pos, f"Field must be grouped or aggregated: {ref.text}")
            sql = g.cmp if branch is None or key in branch else "NULL"
            return replace(g.operand, sql=sql)

        assert self.q.having is not None
        cc = CondCompiler(self.scope, operand, None, currency_literals=False)
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

    def check_sub_clauses(self, sub: A.Query, where: str) -> None:
        """WITH USER_MODE/SYSTEM_MODE/SECURITY_ENFORCED and FOR VIEW/REFERENCE belong to
        the whole statement ("SOQL SELECT Syntax" shows them once, after the outer
        query's clauses): inside a subquery they are MALFORMED_QUERY here (deviation: the
        reference does not say what Salesforce answers)."""
        if sub.security or sub.usage:
            what = f"WITH {sub.security}" if sub.security else f"FOR {sub.usage}"
            raise self.err(sub.sobject_pos, f"{what} is not supported in {where}")


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
        self.check_sub_clauses(sub, "semi join sub-selects")
        if sub.scope or sub.from_paths:
            raise self.err(sub.scope_pos or sub.from_paths[0].pos, "USING SCOPE and "
                           "several FROM items are not supported in semi join sub-selects "
                           "(sforg_sim)")
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
            def operand(ref: A.Operand) -> Operand:
                if isinstance(ref, A.Agg):
                    raise self.err(ref.pos, "Aggregate functions are not supported in the "
                                   "WHERE clause; use HAVING")
                if isinstance(ref, A.Grouping):
                    raise self.err(ref.pos, "GROUPING() is allowed in SELECT, HAVING and "
                                   "ORDER BY only")
                if isinstance(ref, A.DateFn):
                    return self.date_key(ref, scope).operand
                if isinstance(ref, A.Distance):
                    return self.distance(ref, scope)
                rr = scope.resolve(ref)
                return field_operand(rr.field, rr.cmp)

            cc = CondCompiler(scope, operand, None)
            where = f"{where} AND {cc.compile(sub.where)}"
            params = cc.params
        self.scope.deps.update(scope.deps)
        return f"SELECT {r.col} {scope.from_sql()} WHERE {where}", params


Branch = frozenset[tuple[str, ...]]
"""One grouping set of a ROLLUP/CUBE: the keys it groups by."""


@dataclass(frozen=True)
class GroupKey:
    """A GROUP BY item: ``col`` is what SELECT outputs, ``cmp`` what groups, compares
    and sorts; ``operand`` serves HAVING; ``name`` is the default output name (None for
    a date function, which is ``exprN``)."""

    key: tuple[str, ...]
    col: str
    cmp: str
    operand: Operand
    conv: Callable[[Any], Any] | None
    name: str | None


DATETIME_ONLY = frozenset({"DAY_ONLY", "HOUR_IN_DAY"})
"""Date functions only valid on dateTime fields (*SOQL and SOSL Reference*, "Date
Functions": "DAY_ONLY() ... of a dateTime field", "HOUR_IN_DAY() ... for a dateTime
field")."""


def date_function_sql(func: str, col: str) -> str:
    """SQL of a SOQL date function over a stored date (``YYYY-MM-DD``) or dateTime
    (``YYYY-MM-DDTHH:MM:SS.sss+0000``, UTC) column.

    *SOQL and SOSL Reference*, "Date Functions"
    (https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-select-date-functions.html):
    CALENDAR_MONTH 1..12; CALENDAR_QUARTER 1 for January-March ... 4 for
    October-December; CALENDAR_YEAR e.g. 2009; DAY_IN_MONTH "20 for February 20";
    DAY_IN_WEEK "1 for Sunday, 7 for Saturday"; DAY_IN_YEAR "32 for February 1";
    DAY_ONLY the date part of a dateTime; HOUR_IN_DAY the hour of a dateTime;
    WEEK_IN_MONTH and WEEK_IN_YEAR count weeks from the first day of the month / year
    (days 1-7 are week 1: the reference's rule as recalled; its rows were cut off in
    the copy read, so unconfirmed). FISCAL_MONTH/QUARTER/YEAR follow the org's fiscal
    year; the simulated org has Salesforce's default fiscal year (starting in January,
    named by its ending year), so they equal their calendar twins.

    Time zones: the simulated org and its user are on UTC, so values are computed on
    the stored UTC time and ``convertTimezone()`` (reference: "convertTimezone()",
    converts to the user's time zone) changes nothing. Nulls stay null.
    """
    day = f"substr({col}, 1, 10)"
    month = f"CAST(substr({col}, 6, 2) AS INTEGER)"
    dom = f"CAST(substr({col}, 9, 2) AS INTEGER)"
    doy = f"CAST(strftime('%j', {day}) AS INTEGER)"
    out = {
        "CALENDAR_YEAR": f"CAST(substr({col}, 1, 4) AS INTEGER)",
        "CALENDAR_MONTH": month,
        "CALENDAR_QUARTER": f"({month} + 2) / 3",
        "DAY_IN_MONTH": dom,
        "DAY_IN_WEEK": f"CAST(strftime('%w', {day}) AS INTEGER) + 1",
        "DAY_IN_YEAR": doy,
        "DAY_ONLY": day,
        "HOUR_IN_DAY": f"CAST(substr({col}, 12, 2) AS INTEGER)",
        "WEEK_IN_MONTH": f"({dom} - 1) / 7 + 1",
        "WEEK_IN_YEAR": f"({doy} - 1) / 7 + 1",
    }
    return out[func.replace("FISCAL_", "CALENDAR_")]


def _keyed(sql: str, key: tuple[str, ...]) -> Callable[[Branch | None], str]:
    """A SELECT column of a grouped key: NULL in the grouping sets that roll it up."""
    return lambda b: sql if b is None or key in b else "NULL"


def _constant(sql: str) -> Callable[[Branch | None], str]:
    """A SELECT column that is the same in every grouping set (an aggregate)."""
    return lambda b: sql


def _grouping(key: tuple[str, ...]) -> Callable[[Branch | None], str]:
    """GROUPING(field): 1 in the grouping sets that roll ``key`` up, else 0."""
    return lambda b: "0" if b is None or key in b else "1"


def _direction(desc: bool, nulls_first: bool | None) -> str:
    """`` DESC`` and the NULLS clause SQLite needs for SOQL's order. SOQL's default is
    nulls first in both directions (see the module docstring); SQLite's is first for ASC,
    last for DESC: spell out only what differs."""
    d = " DESC" if desc else ""
    first = True if nulls_first is None else nulls_first
    if first == desc:
        d += " NULLS FIRST" if first else " NULLS LAST"
    return d


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


def _first_nested(children: list[ChildPlan] | tuple[ChildPlan, ...]) -> A.Pos | None:
    """Where the first subquery below the first level starts (None: there is none)."""
    for c in children:
        if c.children:
            return c.children[0].pos
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
