"""Running SOSL against an org: which records match, which fields come back, how many.

Entry points (both take the org's SOQL engine and schema, and run under the caller's
lock; ``OrgCore.soql`` and ``OrgCore.schema``):

- :func:`search` -> ``list[list[dict]]``: one list of records per RETURNING object, in
  RETURNING order: Apex's ``List<List<SObject>>`` for ``[FIND ...]`` and
  ``Search.query(String)`` (``apex=True``: the Apex forms of FIND, binds, RETURNING
  required). This is the hook for the Apex runtime.
- :func:`search_body` -> the REST ``search`` body ``{"searchRecords": [...]}`` (REST API
  Developer Guide, "Search" and "Search for a String",
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_search.htm):
  every object's records one after the other, each with ``attributes`` {type, url}.

How one RETURNING object runs (its field list, WHERE and ORDER BY are SOQL's):

1. the searched fields of the IN scope (:func:`searched_fields`) are read straight from
   the store, only for the rows a SQL prefilter keeps (:mod:`.prefilter`: ``LIKE`` on
   the text between wildcards, a necessary condition), and matched exactly against the
   search query in Python (:mod:`.terms`). Only the first ``offset + limit`` matches in
   step 2's order can come back, so tokenising stops there (a common term on a large
   org no longer tokenises every row): with no WHERE and no ORDER BY the candidates are
   read in Id order; with either, SQLite applies the object's WHERE and ORDER BY to the
   candidates in the same statement (``Engine.ordered_rows``, :meth:`_Runner.ordered_ids`).
   ``reference=True`` reads every record through SOQL instead and hands every match on
   (the slow path the fast one is tested against, tests/test_sosl_speed_s5);
2. ``SELECT <field list> FROM <object> WHERE Id IN :matched [AND (<WHERE>)]
   ORDER BY [<ORDER BY>, ]Id LIMIT ... [OFFSET ...]`` runs through the SOQL engine, so
   WHERE, ORDER BY and the field list accept and refuse exactly what SOQL does. An error
   in them is reported at its place in the SOSL text (MALFORMED_QUERY becomes
   MALFORMED_SEARCH; INVALID_FIELD and the other codes stay).

Without ORDER BY, Salesforce orders by relevance; here records come in Id order
(deviation: there is no relevance score), and records equal on every ORDER BY key in Id
order too (Salesforce leaves that order open): one total order on every path, so stopping
early never changes the page.

Result limits, *SOQL and SOSL Reference* v66.0:

- "SOSL Limits on Search Results": one object: at most 250 records, "To return up to
  2,000 results, include either the WHERE clause or ORDER BY clause"; several objects:
  "each object returns up to the minimum number between 2,000/n (where n=number of
  objects) and 250" (:func:`object_cap`). Salesforce also only looks at the top 2,000
  matches by relevance before filtering; with no relevance score that stage is not
  modelled (a WHERE here filters all matches).
- "LIMIT n": the statement's LIMIT (default and maximum 2,000) caps the total; "results
  are evenly distributed among the objects returned" (19 accounts and 35 contacts under
  LIMIT 20 give 10 and 10; :func:`distribute`). A per-object LIMIT caps that object;
  "If you specify a limit of 0, no records are returned for that object".
- "OFFSET n": only with one object, at most 2,000 (the parser checks both).

No RETURNING clause: the Ids of every searchable object's matches ("If unspecified, the
search results contain the IDs of all objects found"), in schema order.
"""

from __future__ import annotations

import heapq
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import MalformedQuery, MalformedSearch, SalesforceError, UsageError
from ..schema import NOT_SEARCHABLE, SObjectDef
from ..store import Store, quote
from .parser import MAX_LIMIT, MAX_OFFSET, ObjectSpec, Search, Span, fail_at, parse
from .prefilter import FALSE, TRUE, candidate_sql, non_ascii_sql
from .terms import TermExpr, matches, parse_terms, tokens

if TYPE_CHECKING:
    from ..schema import Schema
    from ..soql.engine import Engine

__all__ = [
    "MANY_OBJECTS_CAP",
    "NAME_FIELDS",
    "NOT_SEARCHABLE",
    "ONE_OBJECT_CAP",
    "distribute",
    "object_cap",
    "run",
    "search",
    "search_body",
    "searchable",
    "searched_fields",
]

ONE_OBJECT_CAP = 250
""""If you query one object only, a maximum of 250 records are returned. To return up to
2,000 results, include either the WHERE clause or ORDER BY clause." ("SOSL Limits on
Search Results")."""

MANY_OBJECTS_CAP = 250
"""With n objects, each returns up to min(2,000/n, 250) ("SOSL Limits on Search
Results")."""

SEARCHED_TYPES = frozenset({"string", "textarea", "email", "phone", "picklist",
                            "multipicklist", "url", "combobox"})
"""Field types IN ALL FIELDS searches ("search all text fields in searchable objects.
Numeric fields aren't searchable", "IN SearchGroup"). Approximation: ids, lookups,
numbers, dates and booleans are not searched; every text-like type is."""

NAME_FIELDS: Mapping[str, tuple[str, ...]] = {
    "account": ("Website", "Site", "NameLocal"),
    "asset": ("SerialNumber",),
    "case": ("SuppliedName", "SuppliedCompany", "Subject"),
    "contact": ("AssistantName", "FirstNameLocal", "LastNameLocal", "AccountName"),
    "event": ("Subject",),
    "lead": ("Company", "CompanyLocal", "FirstNameLocal", "LastNameLocal"),
    "note": ("Title",),
    "permissionset": ("Label",),
    "report": ("Description",),
    "tagdefinition": ("NormName",),
    "task": ("Subject",),
    "user": ("CommunityNickname",),
}
"""Fields IN NAME FIELDS searches besides the name field ("IN SearchGroup", NAME FIELDS);
those an object here lacks are skipped."""


BIND_NAME = "sforg_sosl_matched_ids"
"""The bind that carries the matched ids into the SOQL query of step 2."""


def searchable(obj: SObjectDef) -> bool:
    """Whether SOSL searches ``obj``: the schema's answer (``SObjectDef.searchable``, the
    same flag describe reports; sources at ``schema.NOT_SEARCHABLE``)."""
    return obj.searchable


def searched_fields(obj: SObjectDef, scope: str) -> list[str]:
    """The fields of ``obj`` an ``IN <scope> FIELDS`` search reads."""
    fields = list(obj.fields.values())
    if scope == "EMAIL":
        return [f.name for f in fields if f.type == "email"]
    if scope == "PHONE":
        return [f.name for f in fields if f.type == "phone"]
    if scope == "NAME":
        extra = {n.lower() for n in NAME_FIELDS.get(obj.name.lower(), ())}
        return [f.name for f in fields
                if f.type in SEARCHED_TYPES and (f.name == "Name" or f.name.lower() in extra)]
    return [f.name for f in fields if f.type in SEARCHED_TYPES]


def object_cap(n_objects: int, filtered: bool) -> int:
    """Most records one object returns in a search over ``n_objects`` objects
    (``filtered``: the single object has a WHERE or ORDER BY)."""
    if n_objects <= 1:
        return MAX_LIMIT if filtered else ONE_OBJECT_CAP
    return min(MAX_LIMIT // n_objects, MANY_OBJECTS_CAP)


def distribute(available: Sequence[int], total: int) -> list[int]:
    """Share ``total`` rows evenly among objects that have ``available`` rows each:
    every object gets an equal share, and what one cannot use goes to the others (earlier
    objects first for an uneven remainder)."""
    alloc = [0] * len(available)
    remaining = max(0, total)
    active = [i for i, n in enumerate(available) if n > 0]
    while remaining > 0 and active:
        share, extra = divmod(remaining, len(active))
        if share == 0:
            for i in active[:extra]:
                alloc[i] += 1
            break
        still = []
        for i in active:
            give = min(share, available[i] - alloc[i])
            alloc[i] += give
            remaining -= give
            if alloc[i] < available[i]:
                still.append(i)
        active = still
    return alloc


@dataclass
class _Soql:
    """A SOQL statement assembled from generated text and pieces of the SOSL text, with
    the map back: (SOQL offset, SOSL offset, length) per copied piece."""

    parts: list[str] = field(default_factory=list)
    pieces: list[tuple[int, int, int]] = field(default_factory=list)
    size: int = 0

    def add(self, s: str) -> None:
        self.parts.append(s)
        self.size += len(s)

    def copy(self, text: str, span: Span) -> None:
        self.pieces.append((self.size, span.start, span.end - span.start))
        self.add(text[span.start:span.end])

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def source_offset(self, offset: int) -> int | None:
        """The SOSL offset of SOQL character ``offset``, or None when it lies in text
        the engine generated (``SELECT``, ``FROM X WHERE Id IN :ids``, its own LIMIT)."""
        for at, src, n in self.pieces:
            if at <= offset <= at + n:
                return src + (offset - at)
        return None


_AGGREGATE = re.compile(r"\b(COUNT_DISTINCT|COUNT|SUM|AVG|MIN|MAX)\s*\(", re.I)
_CARET = re.compile(r"ERROR at Row:(\d+):Column:(\d+)\n")


def _relocate(e: SalesforceError, soql: _Soql, sosl: str, fallback: int) -> SalesforceError:
    """``e`` (from the SOQL engine) pointing into the SOSL text instead."""
    cls: type[SalesforceError] = MalformedSearch if isinstance(e, MalformedQuery) else type(e)
    msg = e.message
    m = _CARET.search(msg)
    if m is not None:
        text = soql.text
        row, col = int(m.group(1)), int(m.group(2))
        lines = text.split("\n")
        off = sum(len(line) + 1 for line in lines[:row - 1]) + col - 1
        at = soql.source_offset(off)
        detail = msg[m.end():]
        if at is None:
            # The SOQL engine objected to text the user did not write (the LIMIT this
            # engine appends, say): point at the object and say so, instead of showing
            # the generated clause as if it were part of the search.
            at, detail = fallback, ("in the query sforg-sim runs for this RETURNING "
                                    f"object: {detail}")
        msg = fail_at(sosl, at, detail).message
    out = cls(msg, e.fields)
    out.status = e.status
    return out


def _bind(binds: Mapping[str, Any], name: str) -> Any:
    if name in binds:
        return binds[name]
    for k, v in binds.items():
        if k.lower() == name.lower():
            return v
    raise UsageError(f"SOSL bind variable :{name} has no value")


def _count(value: int | str | None, binds: Mapping[str, Any], what: str) -> int | None:
    if value is None or isinstance(value, int):
        return value
    v = _bind(binds, value)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise UsageError(f"SOSL {what} bind :{value} must be a non-negative Integer")
    return v


_NonAscii = dict[tuple[str, str], tuple[tuple[int, ...], bool]]
_NON_ASCII: weakref.WeakKeyDictionary[Store, _NonAscii] = weakref.WeakKeyDictionary()
"""Per store: (object, quoted column) -> (the table's version when checked, whether a
live row's value holds a non-ASCII character)."""


def _non_ascii_columns(store: Store, obj: SObjectDef, cols: list[str]) -> list[str]:
    """The columns of ``cols`` that may hold a non-ASCII value (the prefilter checks those
    row by row), known per version of the table (``Store.versions``): one scan answers
    every column not yet known, and later searches on the unchanged table skip it."""
    seen = _NON_ASCII.setdefault(store, {})
    version = store.versions([obj.name])
    unknown = [c for c in cols if seen.get((obj.name, c), ((), False))[0] != version]
    if unknown:
        row = store.read_one(
            "SELECT " + ", ".join(f"max({non_ascii_sql(c)})" for c in unknown)
            + f' FROM {quote(obj.name)} WHERE "IsDeleted" = 0')
        for c, flag in zip(unknown, row or (), strict=True):
            seen[(obj.name, c)] = (version, bool(flag))
    return [c for c in cols if seen[(obj.name, c)][1]]


def _value_sql(store: Store, obj: SObjectDef, names: list[str], table: str | None = None
               ) -> list[str] | None:
    """SQL for the value of each field of ``names``, as SOQL reads it: the stored column,
    or the formula of a computed field (Contact and Lead ``Name``, as ``soql.scope``
    computes it). None when a field is neither (the reference path then reads it).
    ``table``: the alias to qualify columns with (None: bare columns of the object's
    own table)."""
    stored = set(store.columns(obj))
    out = []
    for n in names:
        f = obj.fields[n]
        if f.formula is not None:
            out.append("(" + f.formula.format(a=table or quote(obj.name)) + ")")
        elif n in stored:
            out.append(quote(n) if table is None else f"{table}.{quote(n)}")
        else:
            return None
    return out


class _Runner:
    def __init__(self, engine: Engine, schema: Schema, s: Search,
                 binds: Mapping[str, Any], reference: bool = False) -> None:
        self.engine = engine
        self.schema = schema
        self.s = s
        self.binds = binds
        self.reference = reference

    def terms(self) -> TermExpr | None:
        s = self.s
        if s.term_bind is None:
            return s.terms
        value = _bind(self.binds, s.term_bind)
        if not isinstance(value, str):
            raise UsageError(f"SOSL search bind :{s.term_bind} must be a String")
        return parse_terms(value, lambda off, detail: fail_at(s.text, s.term_pos, detail))

    def resolve(self, spec: ObjectSpec) -> SObjectDef:
        try:
            obj = self.schema.get(spec.name)
        except SalesforceError as e:
            raise type(e)(fail_at(self.s.text, spec.pos, e.message).message) from None
        if not searchable(obj):
            # The reference's "Unsearchable sObject objects" example (RETURNING
            # RecordType); the answer's wording is unconfirmed.
            raise fail_at(self.s.text, spec.pos,
                          f"entity type {obj.name} does not support search")
        return obj

    def matched_ids(self, obj: SObjectDef, expr: TermExpr | None,
                    stop: int | None = None) -> list[str]:
        """Step 1: the ids of the records whose searched fields match.

        ``stop``: only the ``stop`` smallest matching ids are wanted (:meth:`early_stop`):
        the candidates are read in Id order and tokenising ends at the ``stop``-th
        match, instead of tokenising every candidate of a common term."""
        if expr is None or stop == 0:
            return []
        names = searched_fields(obj, self.s.scope)
        if not names:
            return []
        store = self.engine.store  # the org's one door to SQLite (ARCHITECTURE.md)
        cols = None if self.reference else _value_sql(store, obj, names)
        if cols is None:
            return self.scanned_ids(obj, expr, names)
        cond = candidate_sql(expr, cols, _non_ascii_columns(store, obj, cols))
        if cond is FALSE:
            return []
        sql = f'SELECT "Id", {", ".join(cols)} FROM {quote(obj.name)} WHERE "IsDeleted" = 0'
        if cond is not TRUE:
            sql += f" AND {cond.sql}"
        rows = store.scan(sql, cond.params) if stop is None else \
            store.scan(sql + ' ORDER BY "Id"', cond.params)
        # The exact check, as scanned_ids makes it, on the rows SQLite kept only.
        out: list[str] = []
        for row in rows:
            if matches(expr, [tokens(v) for v in row[1:]]):
                out.append(str(row[0]))
                if stop is not None and len(out) >= stop:
                    # The smallest `stop` matching ids (Id is TEXT, binary order: the
                    # order of heapq.nsmallest in rows()), and every id rows() keeps.
                    break
        return out

    def needed(self, spec: ObjectSpec, cap: int) -> int | None:
        """How many rows, in step 2's order, step 2 can return at most from the start:
        ``offset + limit`` (None on the reference path, or for an OFFSET out of range,
        which step 2 refuses: then every match goes)."""
        if self.reference:
            return None
        limit = _count(spec.limit, self.binds, "LIMIT")
        offset = _count(spec.offset, self.binds, "OFFSET") or 0
        if offset > MAX_OFFSET:
            return None
        return offset + (cap if limit is None else min(limit, cap))

    def early_stop(self, spec: ObjectSpec, cap: int) -> int | None:
        """How many matching ids step 2 can use at most, when that is known before the
        search: with no WHERE and no ORDER BY, only the ``offset + limit`` smallest ids
        come back (see :meth:`rows`); otherwise None (every match is needed)."""
        if spec.where is not None or spec.order is not None:
            return None
        return self.needed(spec, cap)

    def ordered_ids(self, spec: ObjectSpec, obj: SObjectDef, expr: TermExpr | None,
                    need: int) -> list[str] | None:
        """Step 1 for an object with a WHERE or an ORDER BY: SQLite applies the
        prefilter, the object's WHERE and step 2's order (:func:`_order`) in one statement
        (``Engine.ordered_rows``); rows are tokenised in that order and reading stops at
        the ``need``-th match. That order is total (Id comes last), so those are exactly
        the first ``need`` rows step 2 would pick from every match: the answer is the
        reference path's (tests/test_sosl_speed_s5 is the oracle). None when this path
        does not apply (a field read only through SOQL, a WHERE or ORDER BY that SOQL
        refuses): the caller then takes every match, and step 2 reports any error at
        its place."""
        if expr is None or need == 0:
            return []
        names = searched_fields(obj, self.s.scope)
        if not names:
            return []
        store = self.engine.store
        plain = _value_sql(store, obj, names)
        if plain is None:
            return None
        text = self.s.text
        soql = f"SELECT Id FROM {obj.name}"
        if spec.where is not None:
            soql += f" WHERE ({text[spec.where.start:spec.where.end]})"
        soql += " ORDER BY " + ("" if spec.order is None else
                                text[spec.order.start:spec.order.end] + ", ") + "Id"
        try:
            parts = self.engine.plan(soql).extra.get("parts")
        except (SalesforceError, ValueError):
            return None
        if parts is None:
            return None
        alias = parts[0]
        cols = _value_sql(store, obj, names, alias)
        assert cols is not None  # the same fields as `plain`
        wide = set(_non_ascii_columns(store, obj, plain))
        cond = candidate_sql(expr, cols, [c for p, c in zip(plain, cols, strict=True)
                                          if p in wide])
        if cond is FALSE:
            return []
        try:
            rows = self.engine.ordered_rows(soql, [f'{alias}."Id"', *cols], cond.sql,
                                            cond.params, binds=self.binds)
        except (SalesforceError, ValueError):
            return None
        out: list[str] = []
        for row in rows:
            if matches(expr, [tokens(v) for v in row[1:]]):
                out.append(str(row[0]))
                if len(out) >= need:
                    break
        return out

    def scanned_ids(self, obj: SObjectDef, expr: TermExpr, names: list[str]) -> list[str]:
        """Step 1 the slow way, the reference of :meth:`matched_ids`: every record's
        searched fields read through the SOQL engine and tokenised in Python."""
        recs = self.engine.records(f"SELECT Id, {', '.join(names)} FROM {obj.name}")
        out = []
        for r in recs:
            values = [tokens(v) for k, v in r.items() if k not in ("attributes", "Id")]
            if matches(expr, values):
                out.append(str(r["Id"]))
        return out

    def rows(self, spec: ObjectSpec, obj: SObjectDef, ids: list[str], cap: int
             ) -> list[dict[str, Any]]:
        """Step 2: the object's records through SOQL, at most ``cap``."""
        text = self.s.text
        q = _Soql()
        q.add("SELECT ")
        if spec.fields is None:
            q.add("Id")
        else:
            q.copy(text, spec.fields)
        q.add(f" FROM {obj.name} WHERE Id IN :{BIND_NAME}")
        if spec.where is not None:
            q.add(" AND (")
            q.copy(text, spec.where)
            q.add(")")
        # Id last: without ORDER BY (no relevance score here) records come in Id order,
        # and among records equal on every ORDER BY key too, so the page never depends
        # on SQLite's plan (step 1 stops early in this same order: ordered_ids).
        q.add(" ORDER BY ")
        if spec.order is not None:
            q.copy(text, spec.order)
            q.add(", ")
        q.add("Id")
        limit = _count(spec.limit, self.binds, "LIMIT")
        take = cap if limit is None else min(limit, cap)
        q.add(f" LIMIT {take}")
        offset = _count(spec.offset, self.binds, "OFFSET")
        if offset is not None:
            q.add(f" OFFSET {offset}")
        if not self.reference and spec.where is None and spec.order is None and \
                (offset or 0) <= MAX_OFFSET:
            # Only the ids that can come back: with no WHERE every matched id is a live
            # record, and without ORDER BY SQLite answers `Id IN (list) LIMIT n` in Id
            # order (it walks the list's sorted temporary index and probes the Id index:
            # MULTI-INDEX OR in EXPLAIN QUERY PLAN), so the page is the smallest ids.
            # Handing the SOQL engine 250 ids instead of every match saves converting
            # and checking each (tens of microseconds per id).
            ids = heapq.nsmallest((offset or 0) + take, ids)
        soql = q.text
        if spec.fields is not None:
            m = _AGGREGATE.search(text, spec.fields.start, spec.fields.end)
            if m is not None:
                # SOSL returns records, never aggregate rows ("RETURNING FieldSpec" lists
                # fields, toLabel, convertCurrency and FORMAT only).
                raise fail_at(text, m.start(), "Aggregate functions are not allowed in a "
                                               f"SOSL field list: {m.group(1)}")
        try:
            return self.engine.records(soql, binds={**self.binds, BIND_NAME: ids})
        except MalformedSearch:
            raise
        except SalesforceError as e:
            raise _relocate(e, q, text, spec.pos) from None

    def run(self, apex: bool) -> list[list[dict[str, Any]]]:
        s = self.s
        if apex and not s.returning:
            # "The RETURNING clause is required (not optional) for SOSL executed in Apex."
            raise fail_at(s.text, len(s.text), "RETURNING clause is required in Apex")
        specs = list(s.returning) or [ObjectSpec(o.name, s.term_pos) for o in self.schema
                                      if searchable(o)]
        objs = [self.resolve(spec) for spec in specs]
        expr = self.terms()
        n = len(specs)
        found: list[list[dict[str, Any]]] = []
        for spec, obj in zip(specs, objs, strict=True):
            cap = object_cap(n, spec.where is not None or spec.order is not None)
            need = self.needed(spec, cap)
            ids: list[str] | None = None
            if need is not None and (spec.where is not None or spec.order is not None):
                ids = self.ordered_ids(spec, obj, expr, need)
            if ids is None:
                ids = self.matched_ids(obj, expr, self.early_stop(spec, cap))
            found.append(self.rows(spec, obj, ids, cap))
        total = _count(s.limit, self.binds, "LIMIT")
        total = MAX_LIMIT if total is None else min(total, MAX_LIMIT)
        shares = distribute([len(rows) for rows in found], total)
        return [rows[:k] for rows, k in zip(found, shares, strict=True)]


def run(engine: Engine, schema: Schema, parsed: Search,
        binds: Mapping[str, Any] | None = None, *, apex: bool = False,
        reference: bool = False) -> list[list[dict[str, Any]]]:
    """Run a parsed statement: one list of records per RETURNING object. ``reference``:
    the slow path (every record read through SOQL and tokenised, every match handed to
    step 2), kept as the oracle the fast path is tested against."""
    return _Runner(engine, schema, parsed, binds or {}, reference).run(apex)


def search(engine: Engine, schema: Schema, text: str,
           binds: Mapping[str, Any] | None = None, *, apex: bool = False,
           reference: bool = False) -> list[list[dict[str, Any]]]:
    """Run a SOSL statement: one list of records per RETURNING object (Apex's
    ``List<List<SObject>>``). ``apex=True`` accepts the Apex forms (``FIND 'x'``,
    ``FIND :var``, ``LIMIT :n``) and requires RETURNING; ``binds`` fill ``:name``
    variables in FIND, LIMIT, OFFSET and the WHERE clauses. ``reference``: see
    :func:`run`."""
    return run(engine, schema, parse(text, apex=apex), binds, apex=apex,
               reference=reference)


def search_body(engine: Engine, schema: Schema, text: str) -> dict[str, Any]:
    """The REST ``search`` body: ``{"searchRecords": [...]}``."""
    lists = search(engine, schema, text)
    return {"searchRecords": [r for rows in lists for r in rows]}
