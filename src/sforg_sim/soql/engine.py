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

Deviations: for a query with OFFSET, ``totalSize`` is the number of records returned;
``records()`` (Apex) rejects FIELDS(ALL)/FIELDS(CUSTOM) as Apex does, and returns an empty
list for ``COUNT()`` (use :meth:`Engine.count`).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import (
    ExceededIdLimit,
    MalformedQuery,
    NumberOutsideValidRange,
    QueryTimeout,
    SalesforceError,
)
from . import ast as A
from .compiler import MAX_OFFSET, Plan, compile_query
from .conditions import lookup_bind
from .cursors import CursorStore, parse_locator
from .parser import caret, parse
from .results import ResultCache
from .scope import Ctx

if TYPE_CHECKING:
    from ..clock import SimClock
    from ..schema import Schema
    from ..store import Store

__all__ = ["MAX_AGGREGATE_ROWS", "MAX_BATCH", "MIN_BATCH", "Engine"]

MIN_BATCH, MAX_BATCH = 200, 2000
MAX_AGGREGATE_ROWS = 2000
CACHE_SIZE = 1024

Body = dict[str, Any]


class Engine:
    """Compiles and runs SOQL against one org's store (schema, clock, API version)."""

    def __init__(self, store: Store, schema: Schema, clock: SimClock,
                 api_version: str) -> None:
        self._store = store
        self._schema = schema
        self._clock = clock
        self._api_version = api_version
        self._cache: OrderedDict[tuple[str, bool], Plan] = OrderedDict()
        self.cursors = CursorStore(store, clock, api_version)
        self._timeouts: list[list[Any]] = []
        self.compiles = 0
        """How many times a text was compiled (the cache's misses); tests read it."""
        self.results = ResultCache()
        """Rows of recent queries, reused while the tables they read are unchanged
        (exact: see :mod:`.results`); ``results.max_rows = 0`` turns it off."""

    # --- public API -----------------------------------------------------------------------

    def query(self, soql: str, batch_size: int = MAX_BATCH, include_deleted: bool = False,
              binds: Mapping[str, Any] | None = None) -> Body:
        """The REST ``query`` (or ``queryAll``) body: first batch and, if more, a cursor."""
        return self._guard(lambda: self._query(soql, batch_size, include_deleted,
                                               binds or {}))

    def query_more(self, locator: str, batch_size: int | None = None) -> Body:
        """The next batch of a cursor, from its locator or its ``nextRecordsUrl``."""
        return self._guard(lambda: self._query_more(locator, batch_size))

    def records(self, soql: str, include_deleted: bool = False,
                binds: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """All records of a query with no cursor: Apex ``[SELECT ...]`` semantics."""
        return self._guard(lambda: self._records(soql, include_deleted, binds or {}))

    def count(self, soql: str, include_deleted: bool = False,
              binds: Mapping[str, Any] | None = None) -> int:
        """The number a ``SELECT COUNT() ...`` query returns (Apex ``Database.countQuery``)."""
        body = self.query(soql, include_deleted=include_deleted, binds=binds)
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

    def plan(self, soql: str, include_deleted: bool = False) -> Plan:
        """The compiled plan of ``soql`` (from the cache when possible)."""
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

    def _url(self, sobject: str) -> str:
        return f"/services/data/v{self._api_version}/sobjects/{sobject}/"

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except SalesforceError:
            raise
        except (sqlite3.Error, ValueError, TypeError, OverflowError, RecursionError) as e:
            raise SalesforceError(f"An unexpected error occurred: {type(e).__name__}: {e}",
                                  status=500) from e

    def _check_timeout(self, soql: str) -> None:
        for entry in self._timeouts:
            pred, left = entry
            if left > 0 and pred(soql):
                entry[1] -= 1
                if entry[1] <= 0:
                    self._timeouts.remove(entry)
                raise QueryTimeout("Your query request was running for too long.")

    def _prepare(self, soql: str, include_deleted: bool, binds: Mapping[str, Any]
                 ) -> tuple[Plan, list[Any], int | None, int | None]:
        self._check_timeout(soql)
        plan = self.plan(soql, include_deleted)
        ctx = Ctx(binds, self._clock)
        params = [fn(ctx) for fn in plan.params]
        limit = self._count_value(plan, plan.limit, ctx)
        offset = self._count_value(plan, plan.offset, ctx)
        if offset is not None and offset > MAX_OFFSET:
            raise NumberOutsideValidRange(
                f"Maximum SOQL offset allowed for apiName {plan.obj.name} is {MAX_OFFSET}")
        return plan, params, limit, offset

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

    def _aggregate(self, plan: Plan, params: list[Any], limit: int | None,
                   offset: int | None) -> list[dict[str, Any]]:
        cap = MAX_AGGREGATE_ROWS + 1 if limit is None else min(limit, MAX_AGGREGATE_ROWS + 1)
        rows = self._run(plan, params, cap, offset)
        if len(rows) > MAX_AGGREGATE_ROWS:
            raise ExceededIdLimit("Aggregate query does not support queryMore(), use LIMIT "
                                  "to restrict the results to a single batch")
        return [plan.shape(r) for r in rows]

    def _query(self, soql: str, batch_size: int, include_deleted: bool,
               binds: Mapping[str, Any]) -> Body:
        plan, params, limit, offset = self._prepare(soql, include_deleted, binds)
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
            recs = [plan.shape(r) for r in rows]
            return {"totalSize": len(recs), "done": True, "records": recs}
        probe = batch + 1 if limit is None else min(limit, batch + 1)
        rows = self._run(plan, params, probe, None)
        if len(rows) <= batch:
            recs = [plan.shape(r) for r in rows]
            return {"totalSize": len(recs), "done": True, "records": recs}
        cur = self.cursors.open(plan, [*params, -1 if limit is None else limit, 0])
        return self._page(cur, 0, batch)

    def _page(self, cur: Any, start: int, batch: int) -> Body:
        rows = self.cursors.batch(cur, start, batch)
        recs = [cur.plan.shape(r) for r in rows]
        end = start + len(rows)
        body: Body = {"totalSize": cur.total, "done": end >= cur.total, "records": recs}
        if end < cur.total:
            body["nextRecordsUrl"] = self.cursors.next_url(cur, end)
        else:
            self.cursors.close(cur)
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

    def _records(self, soql: str, include_deleted: bool,
                 binds: Mapping[str, Any]) -> list[dict[str, Any]]:
        plan, params, limit, offset = self._prepare(soql, include_deleted, binds)
        if plan.uses_fields_all:
            raise MalformedQuery("FIELDS(ALL) and FIELDS(CUSTOM) are not supported in Apex")
        if plan.kind == "count":
            return []
        if plan.kind == "agg":
            return self._aggregate(plan, params, limit, offset)
        return [plan.shape(r) for r in self._run(plan, params, limit, offset)]
