"""The SOQL engine of one org: compile cache, execution, result bodies, cursors.

``Org.query`` / ``Org.query_more`` / ``Org.query_records`` delegate here (under the org's
lock). Every failure is a :class:`~sforg_sim.errors.SalesforceError`; an unexpected
internal failure surfaces as UNKNOWN_EXCEPTION rather than a bare Python exception.

Behaviour (sources in ``docs/research/soql.md``):

- each SOQL text is parsed and compiled once (per queryAll flag) and reused with new binds;
- ``batch_size`` is clamped to 200..2,000 (section 12: the header is a hint, "no
  guarantee"; out-of-range behaviour is unconfirmed);
- a query with OFFSET returns one batch and no cursor (section 4); ``COUNT()`` returns
  the count in ``totalSize`` and no records; aggregate queries return one batch and more
  than 2,000 rows is ``EXCEEDED_ID_LIMIT`` "Aggregate query does not support queryMore(),
  use LIMIT to restrict the results to a single batch" (section 5; errorCode unconfirmed);
- without ORDER BY the order is unspecified; the simulator returns whatever order SQLite
  produces (usually insertion order), which real orgs do not promise either.

Test hook: :meth:`Engine.inject_timeout` makes matching queries fail with QUERY_TIMEOUT.

Opt-in: ``Engine.query_time_model = QueryTimeModel(rows_per_second=...)`` (or
``Org(query_time_model=...)``) makes a query that would read too many rows fail with
QUERY_TIMEOUT, as a non-selective query over a large table does on a real org; see
:class:`QueryTimeModel`. Off (None) by default.

Deviations: for a query with OFFSET, ``totalSize`` is the number of records returned;
``records()`` (Apex) rejects FIELDS(ALL)/FIELDS(CUSTOM) as Apex does, and returns an empty
list for ``COUNT()`` (use :meth:`Engine.count`).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import (
    ExceededIdLimit,
    MalformedQuery,
    NumberOutsideValidRange,
    QueryTimeout,
    SalesforceError,
    UsageError,
)
from ..schema import Field
from ..store import STORAGE_INDEX, sk_column
from . import ast as A
from .compiler import (
    MAX_OFFSET,
    NESTED_CHILD_MIN_VERSION,
    ChildPlan,
    Plan,
    child_depth_error,
    compile_query,
)
from .conditions import lookup_bind
from .cursors import CursorStore, parse_locator
from .parser import caret, parse
from .results import ResultCache
from .scope import Ctx

_STANDARD_INDEXED = frozenset({"id", "name", "createddate", "systemmodstamp",
                               "lastmodifieddate", "recordtypeid", "division"})


_FIRST_INDEX_COLUMN = re.compile(r'\sON\s+"(?:[^"]|"")+"\s*\(\s*"((?:[^"]|"")+)"')


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


if TYPE_CHECKING:
    from ..clock import SimClock
    from ..schema import Schema
    from ..store import Store

__all__ = ["MAX_AGGREGATE_ROWS", "MAX_BATCH", "MIN_BATCH", "QUERY_RUN_TIME_LIMIT", "Engine",
           "QueryTimeModel", "RunTimeEstimate"]

MIN_BATCH, MAX_BATCH = 200, 2000
MAX_AGGREGATE_ROWS = 2000
CACHE_SIZE = 1024
_log = logging.getLogger("sforg_sim.soql")

QUERY_RUN_TIME_LIMIT = 120.0
"""Seconds a query may run. *Salesforce Developer Limits and Allocations Quick Reference*:
*SOQL and SOSL Limits for Search Queries*, "SOQL query timeout": "A query operation has 2
minutes to execute and 30 minutes to process results" (REST answers QUERY_TIMEOUT, *API
Timeout Limits*); *Static Apex Limits*: "Maximum SOQL query run time before Salesforce
cancels the transaction: 120 seconds". https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html"""

STANDARD_INDEX_MAX, CUSTOM_INDEX_MAX, AND_INDEX_MAX = 1_000_000, 333_333, 666_666

Body = dict[str, Any]

ChildArgs = list[tuple[list[Any], int | None, "ChildArgs"]]
"""Per parent-to-child subquery of a plan: its parameter values, its LIMIT and the same
for the subqueries nested in it."""

CHILD_ID_CHUNK = 2000
"""Parents whose children one subquery statement reads (a page holds at most 2,000)."""


@dataclass(frozen=True)
class RunTimeEstimate:
    """How the model read a query: ``access`` is ``index`` (one selective filter),
    ``index-join`` (several ANDed filters), ``ordered-index`` (an index walked in ORDER BY
    order until LIMIT rows matched) or ``scan``; ``rows`` read; simulated ``seconds``."""

    access: str
    rows: int
    total: int
    seconds: float


@dataclass(frozen=True)
class QueryTimeModel:
    """Opt-in: a query's simulated run time from the rows it reads; past
    ``limit_seconds`` it fails with QUERY_TIMEOUT ("Your query request was running for too
    long.", the message of captured responses; the errorCode is documented).

    Which rows a query reads follows the documented optimizer rules (*Best Practices for
    Deployments with Large Data Volumes*, "Indexes", *Standard and Custom Indexed Fields*,
    https://developer.salesforce.com/docs/platform/salesforce-large-data-volumes-bp/guide/ldv-deployments-infrastructure-indexes.html):

    - indexed fields: standard indexes on Id, Name, CreatedDate, SystemModstamp /
      LastModifiedDate, RecordTypeId, Division, Email (Contact, Lead) and lookups; custom
      indexes on External ID and unique fields, and on the first field of a storage index
      (``OrgCore.add_storage_index``, the simulator's stand-in for a custom index);
    - a standard index is used when its filter matches at most 30% of the first million
      records plus 15% of the rest, up to 1,000,000; a custom index at most 10% of the
      records, up to 333,333 (the guide's examples: 2M rows -> 450,000; 500,000 -> 50,000;
      5M -> 333,333). The query then reads the rows the most selective filter matches;
    - "For AND, the query optimizer uses the indexes unless one of them returns more than
      20% of the object's records or 666,666 total records": the query reads the rows
      each of those filters matches;
    - otherwise it scans the whole table.

    Assumptions (no document gives them, so they are part of this opt-in model): the rate
    ``rows_per_second`` (required: there is no documented figure), the same rate for index
    and table reads, terms on one field combined into one index range, OR never using an
    index (the documented OR rule needs every OR'd field indexed), and a query ordered by
    an indexed field with a LIMIT reading that index in order until LIMIT rows matched
    (rows read = LIMIT x table rows / rows its indexed filters match).
    """

    rows_per_second: float
    limit_seconds: float = QUERY_RUN_TIME_LIMIT

    def __post_init__(self) -> None:
        for name in ("rows_per_second", "limit_seconds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 \
                    or v == float("inf"):
                raise UsageError(f"QueryTimeModel.{name} must be a number > 0, got {v!r}")

    @staticmethod
    def threshold(kind: str, total: int) -> float:
        """Most rows an index filter may match and still be used (see the class doc)."""
        if kind == "standard":
            return min(STANDARD_INDEX_MAX,
                       0.30 * min(total, 1_000_000) + 0.15 * max(0, total - 1_000_000))
        return min(CUSTOM_INDEX_MAX, 0.10 * total)


class Engine:
    """Compiles and runs SOQL against one org's store (schema, clock, API version)."""

    def __init__(self, store: Store, schema: Schema, clock: SimClock,
                 api_version: str) -> None:
        self._store = store
        self._schema = schema
        self._clock = clock
        self._api_version = api_version
        self._cache: OrderedDict[tuple[str, bool], Plan] = OrderedDict()
        self._errors = 0
        self.cursors = CursorStore(store, clock, api_version)
        self._timeouts: list[list[Any]] = []
        self.compiles = 0
        """How many times a text was compiled (the cache's misses); tests read it."""
        self.results = ResultCache()
        """Rows of recent queries, reused while the tables they read are unchanged
        (exact: see :mod:`.results`); ``results.max_rows = 0`` turns it off."""
        self.query_time_model: QueryTimeModel | None = None
        """Opt-in run-time model (:class:`QueryTimeModel`); None: queries never time out
        on their own."""
        self.last_run_time: RunTimeEstimate | None = None
        """The model's estimate for the last query it judged (tests, reports)."""
        self._counts: dict[tuple[str, tuple[Any, ...]], tuple[tuple[int, ...], int]] = {}
        self.running_user: Callable[[], str] | None = None
        """Who runs the queries (the org's current user), for ``USING SCOPE mine``; the
        org sets it. None: ``mine`` matches no record."""
        self._child_args: dict[str, ChildArgs] = {}
        """Per open cursor with subqueries: their parameters, fixed at the first page."""

    @property
    def store(self) -> Store:
        """The store this engine reads through (the org's one door to SQLite); for
        engines built on top of SOQL, such as SOSL's candidate prefilter."""
        return self._store

    # --- public API -----------------------------------------------------------------------

    def query(self, soql: str, batch_size: int = MAX_BATCH, include_deleted: bool = False,
              binds: Mapping[str, Any] | None = None, api_version: str | None = None
              ) -> Body:
        """The REST ``query`` (or ``queryAll``) body: first batch and, if more, a cursor.

        ``api_version`` (``"57.0"``) is the version the request came in on, for the rules
        that depend on it (nested parent-to-child subqueries need 58.0); None: the org's."""
        version = self._version(api_version)
        return self._guard(lambda: self._query(soql, batch_size, include_deleted,
                                               binds or {}, version))

    def query_more(self, locator: str, batch_size: int | None = None) -> Body:
        """The next batch of a cursor, from its locator or its ``nextRecordsUrl``."""
        return self._guard(lambda: self._query_more(locator, batch_size))

    def records(self, soql: str, include_deleted: bool = False,
                binds: Mapping[str, Any] | None = None, api_version: str | None = None
                ) -> list[dict[str, Any]]:
        """All records of a query with no cursor: Apex ``[SELECT ...]`` semantics
        (``api_version`` as for :meth:`query`)."""
        version = self._version(api_version)
        return self._guard(lambda: self._records(soql, include_deleted, binds or {},
                                                 version))

    def count(self, soql: str, include_deleted: bool = False,
              binds: Mapping[str, Any] | None = None, api_version: str | None = None) -> int:
        """The number a ``SELECT COUNT() ...`` query returns (Apex ``Database.countQuery``)."""
        body = self.query(soql, include_deleted=include_deleted, binds=binds,
                          api_version=api_version)
        return int(body["totalSize"])

    def inject_timeout(self, match: str | Callable[[str], bool], times: int = 1) -> None:
        """Make the next ``times`` queries whose text contains ``match`` (case-insensitive)
        or satisfies ``match(text)`` fail with QUERY_TIMEOUT, as a real org does for a
        query that runs too long. Applies to query, query_more and records."""
        pred: Callable[[str], bool]
        if isinstance(match, str):
            needle = match.lower()
            pred = lambda text: needle in text.lower()  # noqa: E731
        else:
            pred = match
        self._timeouts.append([pred, times])

    def clear_timeouts(self) -> None:
        """Remove every injected timeout."""
        self._timeouts.clear()

    def plan(self, soql: str, include_deleted: bool = False,
             api_version: str | None = None) -> Plan:
        """The compiled plan of ``soql`` (from the cache when possible); with
        ``api_version``, also checked against the rules of that version (as
        :meth:`query` does)."""
        if api_version is not None:
            version = self._version(api_version)
            return self._guard(lambda: self._gate(self._plan(soql, include_deleted),
                                                  version))
        return self._plan(soql, include_deleted)

    def ordered_rows(self, soql: str, columns: Sequence[str], condition: str = "1",
                     condition_params: Sequence[Any] = (),
                     binds: Mapping[str, Any] | None = None) -> Iterator[tuple[Any, ...]]:
        """The rows a plain record query selects, in its ORDER BY order, with the caller's
        ``columns`` instead of the field list and ``condition`` (SQL, with its
        ``condition_params``) ANDed to its WHERE; no LIMIT or OFFSET, read lazily.
        ``columns`` and ``condition`` are SQL over the query's FROM: the queried
        object's alias is ``plan(soql).extra["parts"][0]``.

        For engines built on SOQL that filter further in Python and stop early (SOSL
        applies a RETURNING object's WHERE and ORDER BY to its candidates this way).
        Raises the query's Salesforce error; an injected timeout or the run-time model is
        not consulted (the caller's own query is)."""
        plan: Plan = self._guard(lambda: self._plan(soql, False))
        parts = plan.extra.get("parts")
        if plan.kind != "rows" or parts is None or plan.extra.get("children"):
            raise UsageError(f"ordered_rows needs a plain record query: {soql!r}")
        _, frm, where, tail = parts
        user = self.running_user
        ctx = Ctx(binds or {}, self._clock, user() if user is not None else None)
        params: list[Any] = self._guard(lambda: [fn(ctx) for fn in plan.params])
        # The extra condition comes first so its parameters precede the query's own
        # (WHERE, then ORDER BY; FROM has none).
        sql = (f"SELECT {', '.join(columns)} {frm} "
               f"WHERE ({condition}) AND {where}{tail}")
        return self._store.scan(sql, [*condition_params, *params])

    @staticmethod
    def _gate(plan: Plan, version: tuple[int, int] | None) -> Plan:
        """``plan`` if the API version allows what it uses, else the Salesforce error."""
        nested = plan.extra.get("nested_child_pos")
        if nested is not None and version is not None and \
                version < NESTED_CHILD_MIN_VERSION:
            # "In API version 57.0 and earlier, only two levels of parent-to-child
            # relationship can be specified in a query" (compiler.NESTED_CHILD_MIN_VERSION).
            raise child_depth_error(plan.text, nested, 1)
        return plan

    def _plan(self, soql: str, include_deleted: bool) -> Plan:
        key = (soql, include_deleted)
        plan = self._cache.get(key)
        if plan is not None and plan.fresh():
            self._cache.move_to_end(key)
            return plan
        self.compiles += 1
        plan = compile_query(parse(soql), self._schema, self._url, include_deleted)
        self._cache[key] = plan
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return plan

    # --- execution ------------------------------------------------------------------------

    def _version(self, api_version: str | None) -> tuple[int, int]:
        """``"58.0"`` as ``(58, 0)``; None is the org's version. Anything else is the
        caller's mistake (UsageError)."""
        text = self._api_version if api_version is None else api_version
        m = re.fullmatch(r"v?(\d{1,3})\.(\d{1,2})", text) if isinstance(text, str) else None
        if m is None:
            raise UsageError(f"api_version must look like '58.0', got {api_version!r}")
        return int(m.group(1)), int(m.group(2))

    def _url(self, sobject: str) -> str:
        return f"/services/data/v{self._api_version}/sobjects/{sobject}/"

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except SalesforceError:
            raise
        except (sqlite3.Error, ValueError, TypeError, OverflowError, RecursionError) as e:
            # A simulator bug, never the caller's query. The answer carries a fixed text
            # and an id, never the exception's own text: a SQLite message can be left over
            # from an earlier statement on the connection, and one request's failure must
            # not show in another's answer. The details go to the log under the same id.
            self._errors += 1
            error_id = f"sforg-sim-{self._errors}"
            _log.error("SOQL engine error %s: %s: %s", error_id, type(e).__name__, e)
            raise SalesforceError("An unexpected error occurred. Please include this "
                                  f"ErrorId if you contact support: {error_id}",
                                  status=500) from e

    def _check_timeout(self, soql: str) -> None:
        for entry in self._timeouts:
            pred, left = entry
            if left > 0 and pred(soql):
                entry[1] -= 1
                if entry[1] <= 0:
                    self._timeouts.remove(entry)
                raise QueryTimeout("Your query request was running for too long.")

    def _prepare(self, soql: str, include_deleted: bool, binds: Mapping[str, Any],
                 version: tuple[int, int] | None = None
                 ) -> tuple[Plan, list[Any], int | None, int | None, ChildArgs]:
        self._check_timeout(soql)
        plan = self._gate(self._plan(soql, include_deleted), version)
        user = self.running_user
        ctx = Ctx(binds, self._clock, user() if user is not None else None)
        params = [fn(ctx) for fn in plan.params]
        limit = self._count_value(plan, plan.limit, ctx)
        offset = self._count_value(plan, plan.offset, ctx)
        # Subqueries' parameters (binds, date literals) are fixed when the query runs,
        # so later pages of a cursor read children with the same values.
        def args(children: Sequence[ChildPlan]) -> ChildArgs:
            return [([fn(ctx) for fn in c.params], self._count_value(plan, c.limit, ctx),
                     args(c.children)) for c in children]

        kids = args(plan.extra.get("children", ()))
        if offset is not None and offset > MAX_OFFSET:
            raise NumberOutsideValidRange(
                f"Maximum SOQL offset allowed for apiName {plan.obj.name} is {MAX_OFFSET}")
        model = self.query_time_model
        if model is not None:
            est = self._estimate(plan, ctx, limit, offset, model)
            self.last_run_time = est
            if est.seconds > model.limit_seconds:
                raise QueryTimeout("Your query request was running for too long.")
        return plan, params, limit, offset, kids

    # --- the opt-in run-time model --------------------------------------------------------

    def _count(self, sql: str, args: tuple[Any, ...], obj: str) -> int:
        """COUNT(*) through the store, remembered while the table is unchanged."""
        stamp = self._store.versions([obj])
        key = (sql, args)
        hit = self._counts.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        n = int(self._store.read(sql, args)[0][0])
        if len(self._counts) >= CACHE_SIZE:
            self._counts.clear()
        self._counts[key] = (stamp, n)
        return n

    def _custom_index_columns(self, obj: Any) -> set[str]:
        """First columns of the storage indexes of ``obj`` (custom-index stand-ins)."""
        out = set()
        for name, sql in self._store.index_names(obj):
            m = _FIRST_INDEX_COLUMN.search(sql)
            if STORAGE_INDEX in name and m:
                out.add(m.group(1).replace('""', '"').lower())
        return out

    def _index_kind(self, obj: Any, f: Field, custom_cols: set[str]) -> str | None:
        name = f.name.lower()
        if f.type in ("id", "reference") or name in _STANDARD_INDEXED or (
                name == "email" and obj.name in ("Contact", "Lead")):
            return "standard"
        if f.external_id or f.unique:
            return "custom"
        col = (sk_column(f.name) if f.sort_key else f.name).lower()
        return "custom" if col in custom_cols or name in custom_cols else None

    def _estimate(self, plan: Plan, ctx: Ctx, limit: int | None, offset: int | None,
                  model: QueryTimeModel) -> RunTimeEstimate:
        obj = plan.obj
        total = self._count(f"SELECT COUNT(*) FROM {_quote(obj.name)}", (), obj.name)
        custom_cols = self._custom_index_columns(obj)
        matched: list[tuple[str, int]] = []
        for flt in plan.extra["index_filters"]():
            kind = self._index_kind(obj, flt.field, custom_cols)
            if kind is None:
                continue
            args = tuple(fn(ctx) for fn in flt.params)
            matched.append((kind, self._count(flt.count_sql, args, obj.name)))
        access, rows = "scan", total
        selective = [n for kind, n in matched if n <= model.threshold(kind, total)]
        and_cap = min(0.20 * total, AND_INDEX_MAX)
        if selective:
            access, rows = "index", min(selective)
        elif len(matched) > 1 and all(n <= and_cap for _, n in matched):
            access, rows = "index-join", sum(n for _, n in matched)
        order_field = plan.extra.get("order_field")
        if access == "scan" and limit is not None and order_field is not None and \
                plan.kind == "rows" and self._index_kind(obj, order_field, custom_cols):
            hits = min((n for _, n in matched), default=total)
            walk = ((offset or 0) + limit) * total // max(1, hits)
            if walk < total:
                access, rows = "ordered-index", walk
        return RunTimeEstimate(access, rows, total, rows / model.rows_per_second)

    @staticmethod
    def _count_value(plan: Plan, v: int | A.Bind | None, ctx: Ctx) -> int | None:
        if not isinstance(v, A.Bind):
            return v
        raw = lookup_bind(ctx, v, plan.text)
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < 2**31:
            raise MalformedQuery(caret(plan.text, v.pos, f"invalid value for :{v.name}: "
                                       f"{raw!r} (a non-negative Integer is required)"))
        return raw

    def _run(self, plan: Plan, params: list[Any], limit: int | None,
             offset: int | None) -> Sequence[tuple[Any, ...]]:
        args = (*params, -1 if limit is None else limit, offset or 0)
        store, cache = self._store, self.results
        if not cache.max_rows:
            return store.read(plan.sql, args)
        key = (plan.sql, args)
        stamp = store.versions(o.name for o, _ in plan.deps)
        hit = cache.get(key, stamp)
        if hit is not None:
            return hit
        rows = store.read(plan.sql, args)
        cache.put(key, stamp, rows)
        return rows

    def _shape(self, plan: Plan, rows: Sequence[tuple[Any, ...]], kids: ChildArgs
               ) -> list[dict[str, Any]]:
        """Records of ``rows``, with their parent-to-child subqueries' results."""
        recs = [plan.shape(r) for r in rows]
        children: list[ChildPlan] = plan.extra.get("children", [])
        if children and recs:
            self._attach_children(children, kids, rows, recs)
        return recs

    def _attach_children(self, children: Sequence[ChildPlan], kids: ChildArgs,
                         rows: Sequence[tuple[Any, ...]], recs: list[dict[str, Any]],
                         id_col: int = 0) -> None:
        """Fill in each record's subquery results: one statement per subquery per
        :data:`CHILD_ID_CHUNK` parents (a page is one chunk), never one per parent; a
        subquery nested in a subquery (API v58.0+) is filled in the same way for all the
        child records its level read, so a query costs one statement per subquery and
        level, whatever the number of records.

        The nested result is ``{"totalSize", "done": true, "records"}``, or null when the
        parent has no matching children (*SOQL and SOSL Reference*, "Understanding Query
        Results", parent-to-child example; null for none: captured responses), at every
        level. ``id_col`` is the column of ``rows`` holding each record's Id.
        Deviation: every child is returned in the nested result, which is never split
        into batches with its own ``nextRecordsUrl``."""
        for start in range(0, len(rows), CHILD_ID_CHUNK):
            part = rows[start:start + CHILD_ID_CHUNK]
            ids_json = json.dumps([r[id_col] for r in part])
            for child, (params, limit, nested) in zip(children, kids):
                args = [ids_json, *params] + ([] if child.limit is None else [limit])
                found: dict[str, list[dict[str, Any]]] = {}
                child_rows: list[tuple[Any, ...]] = []
                child_recs: list[dict[str, Any]] = []
                for row in self._read_cached(child.sql, tuple(args), child.tables):
                    rec = child.shape(row)
                    found.setdefault(row[0], []).append(rec)
                    if child.children:
                        child_rows.append(row)
                        child_recs.append(rec)
                if child_rows:
                    # Each child row is (parent id, child Id, ...): its Id is column 1.
                    self._attach_children(child.children, nested, child_rows, child_recs,
                                          id_col=1)
                for row, rec in zip(part, recs[start:start + len(part)]):
                    got = found.get(row[id_col])
                    rec[child.relationship] = None if not got else {
                        "totalSize": len(got), "done": True, "records": got}

    def _read_cached(self, sql: str, args: tuple[Any, ...], tables: Sequence[str]
                     ) -> Sequence[tuple[Any, ...]]:
        """Rows of a statement, through the result cache (see :meth:`_run`)."""
        store, cache = self._store, self.results
        if not cache.max_rows:
            return store.read(sql, args)
        key = (sql, args)
        stamp = store.versions(tables)
        hit = cache.get(key, stamp)
        if hit is not None:
            return hit
        rows = store.read(sql, args)
        cache.put(key, stamp, rows)
        return rows

    def _aggregate(self, plan: Plan, params: list[Any], limit: int | None,
                   offset: int | None) -> list[dict[str, Any]]:
        cap = MAX_AGGREGATE_ROWS + 1 if limit is None else min(limit, MAX_AGGREGATE_ROWS + 1)
        rows = self._run(plan, params, cap, offset)
        if len(rows) > MAX_AGGREGATE_ROWS:
            raise ExceededIdLimit("Aggregate query does not support queryMore(), use LIMIT "
                                  "to restrict the results to a single batch")
        return [plan.shape(r) for r in rows]

    def _query(self, soql: str, batch_size: int, include_deleted: bool,
               binds: Mapping[str, Any], version: tuple[int, int] | None = None) -> Body:
        plan, params, limit, offset, kids = self._prepare(soql, include_deleted, binds,
                                                          version)
        if plan.kind == "count":
            n = self._run(plan, params, limit, offset)[0][0]
            return {"totalSize": n, "done": True, "records": []}
        if plan.kind == "agg":
            recs = self._aggregate(plan, params, limit, offset)
            return {"totalSize": len(recs), "done": True, "records": recs}
        batch = min(MAX_BATCH, max(MIN_BATCH, int(batch_size)))
        if offset is not None:
            # OFFSET: "only the first batch of records is returned" (REF66 OFFSET).
            rows = self._run(plan, params, batch if limit is None else min(limit, batch),
                             offset)
            recs = self._shape(plan, rows, kids)
            return {"totalSize": len(recs), "done": True, "records": recs}
        probe = batch + 1 if limit is None else min(limit, batch + 1)
        rows = self._run(plan, params, probe, None)
        if len(rows) <= batch:
            recs = self._shape(plan, rows, kids)
            return {"totalSize": len(recs), "done": True, "records": recs}
        cur = self.cursors.open(plan, [*params, -1 if limit is None else limit, 0])
        if kids:
            self._prune_child_args()
            self._child_args[cur.locator] = kids
        return self._page(cur, 0, batch)

    def _prune_child_args(self) -> None:
        """Forget the subquery parameters of cursors that expired or were closed."""
        for loc in list(self._child_args):
            try:
                self.cursors.get(loc)
            except SalesforceError:
                del self._child_args[loc]

    def _page(self, cur: Any, start: int, batch: int) -> Body:
        rows = self.cursors.batch(cur, start, batch)
        recs = self._shape(cur.plan, rows, self._child_args.get(cur.locator, []))
        end = start + len(rows)
        body: Body = {"totalSize": cur.total, "done": end >= cur.total, "records": recs}
        if end < cur.total:
            body["nextRecordsUrl"] = self.cursors.next_url(cur, end)
        else:
            self.cursors.close(cur)
            self._child_args.pop(cur.locator, None)
        return body

    def _query_more(self, locator: str, batch_size: int | None) -> Body:
        loc, pos = parse_locator(locator)
        cur = self.cursors.get(loc)
        if pos <= 0 or pos >= cur.total:
            from ..errors import InvalidQueryLocator

            raise InvalidQueryLocator("invalid query locator")
        self._check_timeout(cur.plan.text)
        batch = MAX_BATCH if batch_size is None else min(MAX_BATCH,
                                                         max(MIN_BATCH, int(batch_size)))
        return self._page(cur, pos, batch)

    def _records(self, soql: str, include_deleted: bool, binds: Mapping[str, Any],
                 version: tuple[int, int] | None = None) -> list[dict[str, Any]]:
        plan, params, limit, offset, kids = self._prepare(soql, include_deleted, binds,
                                                          version)
        if plan.uses_fields_all:
            raise MalformedQuery("FIELDS(ALL) and FIELDS(CUSTOM) are not supported in Apex")
        if plan.kind == "count":
            return []
        if plan.kind == "agg":
            return self._aggregate(plan, params, limit, offset)
        return self._shape(plan, self._run(plan, params, limit, offset), kids)
