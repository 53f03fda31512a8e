"""The simulated Data Cloud source: the object the nightly job copies StageName from.

Apex reaches it through callouts (``callout:DataCloud/...``); :meth:`DataCloudSource.attach`
registers it on an org's async engine. Each callout is charged as one API request to the
org's DailyApiRequests, as in the team's setup, where the named credential calls back into
the org's own API (``charge_api=False`` to turn that off). Over the quota the callout gets
HTTP 403 with the real ``REQUEST_LIMIT_EXCEEDED`` body and nothing is read.

Paging styles (SALESFORCE_FACTS, Data Cloud Query API):

- V1 ``POST /api/v1/query`` with ``{"sql": "..."}``: a SQL subset, ``SELECT cols FROM obj
  [WHERE c op 'v' [AND ...]] [ORDER BY c [ASC|DESC]] [LIMIT n] [OFFSET m]`` where ``op`` is
  ``= != <> < <= > >=``, ``IN ('a', ...)``, ``LIKE 'p%'`` or ``ILIKE 'p%'`` (``%``, ``_``
  and the default ``\\`` escape; no ``ESCAPE`` clause). At most 49,999 rows per call. Keyset paging
  is a ``WHERE c > 'last' ORDER BY c LIMIT n`` query; offset paging uses ``OFFSET``.
- V3 ``POST /api/v3/query`` stores a result and returns ``queryId`` and ``rowCount``;
  ``GET /api/v3/query/{queryId}/rows?offset=&limit=`` reads it by offset.

Response body: ``{"data": [{col: value}...], "rowCount": n, "done": true, "queryId"}``.
Errors: HTTP 400 ``[{"errorCode", "message"}]`` for bad SQL, or for an OFFSET above
``max_offset`` when that opt-in cap is set.

No OFFSET cap by default. The V1 query API documents ``limit``/``offset``/``orderby`` and
at most 49,999 rows per call, and no maximum offset (*Data Cloud (c360a) API*, "Query Data
using Query API V1", Key Properties,
https://developer.salesforce.com/docs/atlas.en-us.238.0.c360a_api.meta/c360a_api/c360a_api_query_call_overview.htm).
The ``offset + batchSize < 2^31`` bound belongs to another resource (Connect REST API,
"Data Cloud Query") and is not modelled. ``max_offset=N`` is a *what if*: "what if the
source refused offsets above N, like SOQL's 2,000" (HTTP 400 NUMBER_OUTSIDE_VALID_RANGE);
the replay preset ``v1-offset-cap`` turns it on with 2,000.

Unstable order (the trap in V1): without ORDER BY the rows come back in *storage scan
order*: the table is stored in segments of ``segment_rows`` rows and each query scans the
segments in one of ``order_variants`` orders, picked at random per query (seeded). Within a
segment the order is stable. ``unstable_order=False`` gives plain storage order.

Deviations (all unconfirmed, configurable): the opt-in OFFSET cap (``max_offset``, off by
default); the segment model of scan order; only the SQL subset above.

Text comparison (issue 18, gap 6). Data Cloud SQL is documented as the Hyper dialect:
Salesforce's *Data Cloud SQL Reference* pages carry "Applies to: Data Cloud SQL, Tableau
Hyper API" (e.g. "String Functions and Operators",
https://developer.salesforce.com/docs/data/data-cloud-query-guide/references/dc-sql-reference/string.html),
and Hyper's own SQL reference now points there ("Hyper uses the Salesforce Data Cloud SQL
dialect", tableau/hyper-db ``website/docs/sql.md``). What that reference says, and what
is modelled:

- ``LIKE`` is case-sensitive. Hyper, "String Pattern Matching" (tableau/hyper-db
  ``website/docs/sql/scalar_func/string_matching.md``, section ``LIKE``): "The key word
  ``ILIKE`` can be used instead of ``LIKE`` to make the match case-insensitive according
  to the active locale. This is not in the SQL standard but is a Hyper extension
  (similarly to PostgreSQL)"; the regular-expression table lists ``~`` as "case
  sensitive" and ``~*`` as "case insensitive". Modelled: ``LIKE`` matches by code point,
  ``ILIKE`` ignores case (ASCII letters only: SQLite's ``LIKE``; Hyper's "active locale"
  is not modelled).
- ``=``, ``IN`` are case-sensitive. The same page: a pattern without ``%`` or ``_``
  "only represents the string itself; in that case ``LIKE`` acts like the equals
  operator", so a case-sensitive ``LIKE`` implies a case-sensitive ``=``. *Inferred*
  from that sentence; no page states ``=`` on its own.
- ``<``, ``>``, ``ORDER BY`` follow the column's collation: Hyper, "SELECT", ``ORDER BY``
  clause: "Character-string data is sorted according to the collation that applies to
  the column being sorted. That can be overridden at need by including a ``COLLATE``
  clause" (``website/docs/sql/command/select.md``); "CREATE TABLE": "If not specified,
  the column data type's default collation is used" (``command/create_table.md``); and
  "All strings in Hyper are stored as UTF-8 internally" (``datatype/string.md``). No page
  names the default collation. Modelled: code-point order (``'E' < 'e'``, ``'_' < 'a'``),
  *inferred* from the case-sensitive ``LIKE`` above and from HyPer's author (T. Neumann,
  Database Architects blog, August 2016, http://databasearchitects.blogspot.com/2016/08:
  Hyper sorts UTF-8 strings by code point unless a collation is asked for). SQLite's
  ``BINARY`` collation over UTF-8 bytes gives the same order as code points.

``case_sensitive=False`` (``RunConfig.source_case_sensitive=False``) keeps the model this
module had before issue 18 as a named *what if*: text compared and ordered by its
upper-case form, as SOQL does (the store's upper-case keys). With the default a cursor
built from a lowercased key (``'externalopp01' > 'externalOpp02'``) skips every key after
it, as it would on the real source; Python's ``max()`` over a page's keys agrees with the
source's order. The scenario's ids are all one case, so replays give the same results
either way.
"""

from __future__ import annotations

import random
import re
from array import array
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from .apex.context import HttpResponse
from .errors import RequestLimitExceeded, UsageError
from .nightly import SOURCE_OBJECT, AnotherUser
from .store import quote, sk_column

if TYPE_CHECKING:
    from .apex.engine import AsyncEngine
    from .apex.faults import FaultSchedule
    from .core import OrgCore
    from .schema import Field, SObjectDef
    from .store import Store

__all__ = ["ENDPOINT", "DataCloudSource", "SourceQuery", "index_stored_spelling",
           "parse_sql"]

ENDPOINT = "callout:DataCloud"
MAX_ROWS = 49_999
_TOKEN = re.compile(r"\s*('(?:[^']|'')*'|[A-Za-z_][\w.]*|\d+|<=|>=|<>|!=|[=<>(),*])")
_OPS = {"=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class SqlError(ValueError):
    """A query the simulated source rejects (HTTP 400)."""


@dataclass(frozen=True)
class SourceQuery:
    """A parsed query: columns, object, conditions, order, limit, offset."""

    columns: tuple[str, ...]
    table: str
    where: tuple[tuple[str, str, Any], ...]
    order_by: str | None
    descending: bool
    limit: int | None
    offset: int


def parse_sql(sql: str) -> SourceQuery:
    """Parse the SQL subset in the module docstring; raises SqlError."""
    toks: list[str] = []
    pos = 0
    while pos < len(sql):
        m = _TOKEN.match(sql, pos)
        if m is None:
            if sql[pos:].strip() == "":
                break
            raise SqlError(f"unexpected character at {pos}: {sql[pos:pos + 10]!r}")
        toks.append(m.group(1))
        pos = m.end()
    i = 0

    def peek() -> str:
        return toks[i].upper() if i < len(toks) else ""

    def take(expected: str | None = None) -> str:
        nonlocal i
        if i >= len(toks):
            raise SqlError(f"unexpected end of query, expected {expected or 'more'}")
        t = toks[i]
        if expected and t.upper() != expected:
            raise SqlError(f"expected {expected}, got {t!r}")
        i += 1
        return t

    def literal() -> Any:
        t = take()
        if t.startswith("'"):
            return t[1:-1].replace("''", "'")
        if t.isdigit():
            return int(t)
        raise SqlError(f"expected a literal, got {t!r}")

    take("SELECT")
    cols = [take()]
    while peek() == ",":
        take(",")
        cols.append(take())
    take("FROM")
    table = take()
    where: list[tuple[str, str, Any]] = []
    if peek() == "WHERE":
        take()
        while True:
            col = take()
            op = take()
            if op.upper() == "IN":
                take("(")
                vals = [literal()]
                while peek() == ",":
                    take(",")
                    vals.append(literal())
                take(")")
                where.append((col, "IN", tuple(vals)))
            elif op.upper() in ("LIKE", "ILIKE"):
                pattern = literal()
                if not isinstance(pattern, str):
                    raise SqlError(f"{op.upper()} needs a string pattern, got {pattern!r}")
                _glob(pattern)  # refuses a pattern ending in the escape character
                where.append((col, op.upper(), pattern))
            elif op in _OPS:
                where.append((col, _OPS[op], literal()))
            else:
                raise SqlError(f"unsupported operator {op!r}")
            if peek() != "AND":
                break
            take()
    order, desc = None, False
    if peek() == "ORDER":
        take()
        take("BY")
        order = take()
        if peek() in ("ASC", "DESC"):
            desc = take().upper() == "DESC"
    limit: int | None = None
    offset = 0
    if peek() == "LIMIT":
        take()
        limit = int(literal())
    if peek() == "OFFSET":
        take()
        offset = int(literal())
    if i != len(toks):
        raise SqlError(f"unexpected {toks[i]!r}")
    return SourceQuery(tuple(cols), table, tuple(where), order, desc, limit, offset)


def index_stored_spelling(store: Store, obj: SObjectDef, f: Field) -> str:
    """Index ``f``'s stored spelling on ``obj`` (if missing): the source compares a
    case-insensitive text field by code point, where the store indexes only its
    upper-case key, and a keyset page over 2,000,000 rows must not scan the table. Speed
    only. The scenario that seeds the source builds it with the data (``scenarios.py``),
    so a replay does not pay for it on its first page."""
    return store.add_storage_index(obj, [replace(f, case_sensitive=True)])


class DataCloudSource:
    """The Data Cloud object behind ``callout:DataCloud``, read with real paging styles."""

    def __init__(self, org: OrgCore, object_name: str = SOURCE_OBJECT, *,
                 charge_api: bool = True, unstable_order: bool = True,
                 segment_rows: int = 12_500, order_variants: int = 64,
                 max_offset: int | None = None, seed: int = 0,
                 faults: FaultSchedule | None = None, cache_pages: int = 4_096,
                 case_sensitive: bool = True) -> None:
        self.org = org
        self.case_sensitive = case_sensitive
        """Compare and order text by code point (``'E' < 'e'``, ``'_' < 'a'``), as Data
        Cloud SQL's reference documents (the default since issue 18; module docstring).
        False: by the upper-case form, the pre-issue-18 model, kept as a what if."""
        self._raw_indexed: set[str] = set()
        self.obj = org.schema.get(object_name)
        self.charge_api = charge_api
        self.unstable_order = unstable_order
        self.segment_rows = segment_rows
        self.order_variants = order_variants
        if max_offset is not None and (isinstance(max_offset, bool) or not isinstance(
                max_offset, int) or max_offset < 0):
            raise UsageError(f"max_offset must be None (no cap) or an integer >= 0, "
                             f"got {max_offset!r}")
        self.max_offset = max_offset
        """The opt-in OFFSET cap (None: no cap, as documented; see the module docstring)."""
        self.faults = faults
        self._rng = random.Random(seed)
        self.calls = 0
        """Data calls that reached the source (charged, whatever their outcome)."""
        self.refused = 0
        """Calls refused with REQUEST_LIMIT_EXCEEDED (not charged, as on a real org)."""
        self.listeners: list[Callable[[str, Mapping[str, Any], int], None]] = []
        """Called with (api, request, rows returned) after each data call."""
        self._matches: OrderedDict[tuple[Any, ...], array[int]] = OrderedDict()
        # Unordered pages are cached (the source is read-only between ingestions) and the
        # same row dicts are returned again: treat response bodies as read-only.
        self._pages: OrderedDict[tuple[Any, ...], list[dict[str, Any]]] = OrderedDict()
        self._by_rows: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self._cache_pages = cache_pages
        self._v3: dict[str, tuple[tuple[str, ...], array[int]]] = {}
        self._perms: list[list[int]] = []
        self._segs: dict[tuple[Any, ...], dict[int, list[int]]] = {}
        self._parsed: dict[str, SourceQuery] = {}
        self._version = 0

    def attach(self, engine: AsyncEngine) -> DataCloudSource:
        """Serve callouts to ``callout:DataCloud`` from this engine's jobs."""
        engine.register_endpoint(ENDPOINT, self.handle)
        if self.faults is None:
            self.faults = engine.faults
        if engine.faults.another_user is None:
            # The nightly job's "another user": its new records get source rows here.
            engine.faults.another_user = AnotherUser(self)
        return self

    # --- writes (Data Cloud ingestion, not DML) ----------------------------------------------

    def insert_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Ingest rows (the concurrent-insert fault uses it); clears the caches."""
        self.org.insert(self.obj.name, rows)
        self.invalidate()

    def invalidate(self) -> None:
        """Forget cached results (call after changing the source table directly)."""
        self._matches.clear()
        self._pages.clear()
        self._by_rows.clear()
        self._perms.clear()
        self._segs.clear()
        self._version += 1

    # --- HTTP surface -------------------------------------------------------------------------

    def handle(self, method: str, path: str, body: Any) -> HttpResponse:
        """Serve one callout: ``path`` is what follows ``callout:DataCloud``."""
        if self.charge_api:
            try:
                self.org.charge_api(1)
            except RequestLimitExceeded as e:
                self.refused += 1
                return HttpResponse(403, e.to_rest())
        self.calls += 1
        url = urlsplit(path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if url.path.rstrip("/") == "/api/v1/query" and method.upper() == "POST":
                return self._v1(body, params)
            if url.path.rstrip("/") == "/api/v3/query" and method.upper() == "POST":
                return self._v3_create(body)
            m = re.fullmatch(r"/api/v3/query/([\w-]+)/rows", url.path.rstrip("/"))
            if m and method.upper() == "GET":
                return self._v3_rows(m.group(1), params)
        except (SqlError, ValueError) as e:
            return _error(400, "INVALID_ARGUMENT", str(e))
        return _error(404, "NOT_FOUND", f"{method} {url.path} is not a Data Cloud resource")

    def _sql(self, body: Any) -> SourceQuery:
        sql = body.get("sql") if isinstance(body, Mapping) else None
        if not isinstance(sql, str):
            raise SqlError('body must be {"sql": "SELECT ..."}')
        q = self._parsed.get(sql)
        if q is None:
            q = parse_sql(sql)
            if q.table.lower() != self.obj.name.lower():
                raise SqlError(f"unknown object {q.table!r}")
            for c in (*q.columns, *(w[0] for w in q.where),
                      *([q.order_by] if q.order_by else [])):
                if c != "*" and self.obj.get(c) is None:
                    raise SqlError(f"unknown column {c!r} on {self.obj.name}")
            if len(self._parsed) > 10_000:
                self._parsed.clear()
            self._parsed[sql] = q  # only valid queries: the checks above run once per text
        return q

    def _v1(self, body: Any, params: Mapping[str, str]) -> HttpResponse:
        q = self._sql(body)
        limit = int(params.get("limit", q.limit if q.limit is not None else MAX_ROWS))
        offset = int(params.get("offset", q.offset))
        order = params.get("orderby", q.order_by)
        if limit < 0 or limit > MAX_ROWS:
            raise SqlError(f"limit must be between 0 and {MAX_ROWS}")
        if offset < 0:
            raise SqlError(f"offset must be >= 0, got {offset}")
        if self.max_offset is not None and offset > self.max_offset:
            # The opt-in "what if" cap, not a documented rule (module docstring).
            return _error(400, "NUMBER_OUTSIDE_VALID_RANGE",
                          f"Maximum OFFSET is {self.max_offset}, got {offset}")
        cols = self._columns(q)
        data: list[dict[str, Any]]
        if self.faults is not None and self.faults.empty_page():
            data = []
        elif order:
            data = [dict(zip(cols, r))
                    for r in self._ordered(q, cols, order, q.descending, limit, offset)]
        else:
            data = self._scan(q, cols, limit, offset)
        for listener in self.listeners:
            listener("v1", {"sql": body["sql"], "limit": limit, "offset": offset}, len(data))
        return HttpResponse(200, {"data": data, "rowCount": len(data), "done": True})

    def _v3_create(self, body: Any) -> HttpResponse:
        q = self._sql(body)
        cols = self._columns(q)
        ordered = self._matching(q, q.order_by, q.descending)
        if not q.order_by and self.unstable_order:
            ordered = self._permuted(ordered, self._variant())
        if q.offset or q.limit is not None:
            end = None if q.limit is None else q.offset + q.limit
            ordered = ordered[q.offset:end]
        qid = f"q-{self._version}-{len(self._v3) + 1}"
        self._v3[qid] = (cols, ordered)
        return HttpResponse(200, {"queryId": qid, "rowCount": len(ordered), "data": [],
                                  "done": False})

    def _v3_rows(self, qid: str, params: Mapping[str, str]) -> HttpResponse:
        if qid not in self._v3:
            return _error(404, "NOT_FOUND", f"unknown queryId {qid}")
        cols, ordered = self._v3[qid]
        offset = int(params.get("offset", 0))
        limit = int(params.get("limit", MAX_ROWS))
        if offset < 0 or not 0 <= limit <= MAX_ROWS:
            raise SqlError("offset must be >= 0 and limit between 0 and 49999")
        empty = self.faults is not None and self.faults.empty_page()
        rows = [] if empty else self._fetch(cols, ordered[offset:offset + limit])
        for listener in self.listeners:
            listener("v3", {"queryId": qid, "limit": limit, "offset": offset}, len(rows))
        return HttpResponse(200, {"data": [dict(zip(cols, r)) for r in rows],
                                  "rowCount": len(rows), "queryId": qid,
                                  "done": offset + limit >= len(ordered)})

    # --- query execution ----------------------------------------------------------------------

    def _columns(self, q: SourceQuery) -> tuple[str, ...]:
        if q.columns == ("*",):
            return tuple(n for n in self.obj.fields if n != "IsDeleted")
        return tuple(self.obj.field(c).name for c in q.columns)

    def _where_sql(self, q: SourceQuery) -> tuple[str, list[Any]]:
        parts = ['"IsDeleted" = 0']
        params: list[Any] = []
        for col, op, val in q.where:
            f = self.obj.field(col)
            self._index_raw(f)
            folded = f.sort_key and not self.case_sensitive
            name = quote(sk_column(f.name) if folded else f.name)

            def key(v: Any, folded: bool = folded) -> Any:
                return v.upper() if folded and isinstance(v, str) else v

            if op == "IN":
                parts.append(f"{name} IN ({','.join('?' * len(val))})")
                params.extend(key(v) for v in val)
            elif op == "LIKE" and self.case_sensitive:
                # Hyper's LIKE is case-sensitive (module docstring): SQLite's GLOB
                # matches by code point, its LIKE would ignore ASCII case.
                parts.append(f"{quote(f.name)} GLOB ?")
                params.append(_glob(val))
            elif op in ("LIKE", "ILIKE"):
                # ILIKE (or LIKE in the case-insensitive what if): SQLite's LIKE folds
                # ASCII letters only, where Hyper folds "according to the active locale".
                parts.append(f"{quote(f.name)} LIKE ? ESCAPE '\\'")
                params.append(val)
            else:
                parts.append(f"{name} {op} ?")
                params.append(key(val))
        return " AND ".join(parts), params

    def _index_raw(self, f: Field) -> None:
        """Index the stored spelling of a case-insensitive text field once, when the
        source compares it by code point (:func:`index_stored_spelling`)."""
        if self.case_sensitive and f.sort_key and f.name not in self._raw_indexed:
            self._raw_indexed.add(f.name)
            index_stored_spelling(self.org.store, self.obj, f)

    def _order_col(self, order: str) -> str:
        f = self.obj.field(order)
        self._index_raw(f)
        # The raw column compares by SQLite's BINARY collation: UTF-8 bytes, which order
        # like code points.
        return quote(sk_column(f.name) if f.sort_key and not self.case_sensitive else f.name)

    def _ordered(self, q: SourceQuery, cols: tuple[str, ...], order: str, desc: bool,
                 limit: int, offset: int) -> list[tuple[Any, ...]]:
        where, params = self._where_sql(q)
        d = " DESC" if desc else ""
        sql = (f"SELECT {', '.join(map(quote, cols))} FROM {quote(self.obj.name)} "
               f"WHERE {where} ORDER BY {self._order_col(order)}{d}, rowid{d} "
               f"LIMIT ? OFFSET ?")
        return self.org.store.read(sql, [*params, limit, offset])

    def _matching(self, q: SourceQuery, order: str | None, desc: bool) -> array[int]:
        """Rowids matching ``q``'s WHERE in order (storage order without ``order``)."""
        key = (q.where, order, desc)
        hit = self._matches.get(key)
        if hit is not None:
            self._matches.move_to_end(key)
            return hit
        where, params = self._where_sql(q)
        d = " DESC" if desc else ""
        by = f"{self._order_col(order)}{d}, rowid{d}" if order else "rowid"
        out = array("q", (r[0] for r in self.org.store.scan(
            f"SELECT rowid FROM {quote(self.obj.name)} WHERE {where} ORDER BY {by}", params)))
        self._matches[key] = out
        if len(self._matches) > 64:
            self._matches.popitem(last=False)
        return out

    def _variant(self) -> int:
        return self._rng.randrange(self.order_variants)

    def _perm(self, variant: int) -> list[int]:
        top = self.org.store.max_rowid(self.obj)
        n_seg = top // self.segment_rows + 1
        while len(self._perms) <= variant:
            p = list(range(n_seg))
            random.Random(len(self._perms) * 7919 + self._version).shuffle(p)
            self._perms.append(p)
        return self._perms[variant]

    def _permuted(self, rowids: array[int], variant: int) -> array[int]:
        rank = {s: i for i, s in enumerate(self._perm(variant))}
        seg = self.segment_rows
        return array("q", sorted(rowids, key=lambda r: (rank.get((r - 1) // seg, 0), r)))

    def _scan(self, q: SourceQuery, cols: tuple[str, ...], limit: int,
              offset: int) -> list[dict[str, Any]]:
        if not self.unstable_order:
            return [dict(zip(cols, r)) for r in self._fetch(
                cols, self._matching(q, None, False)[offset:offset + limit])]
        variant = self._variant()
        key = (q.where, cols, variant, limit, offset)
        page = self._pages.get(key)
        if page is None:
            by_seg = self._segs.get(q.where)
            if by_seg is None:
                seg = self.segment_rows
                by_seg = {}
                for r in self._matching(q, None, False):
                    by_seg.setdefault((r - 1) // seg, []).append(r)
                if len(self._segs) > 64:
                    self._segs.clear()
                self._segs[q.where] = by_seg
            # Walk the segments in this variant's order until the page is covered.
            picked: list[int] = []
            skip = offset
            for s in self._perm(variant):
                rows = by_seg.get(s)
                if not rows:
                    continue
                if skip >= len(rows):
                    skip -= len(rows)
                    continue
                picked.extend(rows[skip:skip + limit - len(picked)])
                skip = 0
                if len(picked) >= limit:
                    break
            # Many variants start in the same segment and so pick the same rows: build
            # each distinct page once (keyed by the rows it holds, not by the variant).
            # Only a single ascending run of rowids is shared: a page stitched from
            # segments out of order can have the same first, last and count (review, r2).
            same = (cols, picked[0], len(picked)) if picked and \
                picked == list(range(picked[0], picked[0] + len(picked))) else None
            page = self._by_rows.get(same) if same is not None else None
            if page is None:
                page = [dict(zip(cols, r)) for r in self._fetch(cols, array("q", picked))]
                if same is not None:
                    self._by_rows[same] = page
                    if len(self._by_rows) > self._cache_pages:
                        self._by_rows.pop(next(iter(self._by_rows)))
            self._pages[key] = page
            if len(self._pages) > self._cache_pages:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(key)
        return page

    def _fetch(self, cols: tuple[str, ...], rowids: array[int]) -> list[tuple[Any, ...]]:
        if not len(rowids):
            return []
        ids = list(rowids)
        sql = (f"SELECT rowid, {', '.join(map(quote, cols))} FROM {quote(self.obj.name)} "
               f"WHERE rowid IN ({','.join('?' * len(ids))})")
        got = {r[0]: r[1:] for r in self.org.store.scan(sql, ids)}
        return [got[r] for r in ids if r in got]


def _glob(pattern: str) -> str:
    """A LIKE pattern (``%``, ``_``, backslash escapes, as Hyper's default) as a GLOB.

    A pattern ending in the escape character is refused with SqlError (HTTP 400): Hyper's
    page does not say what it does, so the simulator does not guess.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 == len(pattern):
                raise SqlError("LIKE pattern must not end with escape character")
            i += 1
            c = pattern[i]
            out.append(f"[{c}]" if c in "*?[" else c)
        elif c == "%":
            out.append("*")
        elif c == "_":
            out.append("?")
        else:
            out.append(f"[{c}]" if c in "*?[" else c)
        i += 1
    return "".join(out)


def _error(status: int, code: str, message: str) -> HttpResponse:
    return HttpResponse(status, [{"errorCode": code, "message": message}])
