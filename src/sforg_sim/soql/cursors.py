"""Query cursors (REST ``nextRecordsUrl`` / SOAP queryMore).

Semantics (``docs/research/soql.md`` section 11, ``shared/SALESFORCE_FACTS.md``):

- **Snapshot of ids, live values.** Opening a cursor runs the query once and stores the
  matching rows' SQLite rowids, in result order, in a temp table whose own rowid is the
  position (1..N). Each batch joins back to the object's table, so it returns the rows'
  *current* field values; rows inserted after the query are never included and rows
  changed so they no longer match are still returned (like Batch Apex's QueryLocator).
- **Memory.** A cursor over 2M rows is a 2M-row SQLite temp table of integers (in the
  connection's temp store), not 2M Python objects; batches are read by position range.
- **Locators** look like the real ones: an 18-character id with the ``01g`` prefix, and
  ``nextRecordsUrl`` is ``/services/data/v59.0/query/<locator>-<rows already returned>``.
  Any position inside the result can be requested, as on the real API.
- **Lifetime.** Two days from the query ("Cursors and their related query results are
  available for 2 days": *Limits Quick Reference*, "API Query Cursor Limits",
  https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-apicursors.html;
  help article 000384958); then, or for a locator never issued, ``INVALID_QUERY_LOCATOR``
  ("invalid query locator"). Age is SimClock time; when a server sets :attr:`CursorStore.wall`
  (``sforg-sim serve`` does) it is the longer of SimClock time and the wall time elapsed
  since the cursor was opened, so cursors expire during a long rehearsal even when the
  simulated clock does not move while the server idles.
- **Number.** "There isn't a limit on the number of open cursors" since API v56.0 (same
  page; before, 10 per user, the oldest released). So none by default;
  :attr:`CursorStore.max_open` is an explicit opt-in assumption that bounds memory: past
  it, the oldest cursor is released (its locator then answers INVALID_QUERY_LOCATOR).

Deviation: the cursor is released once its last batch has been served (a later request
for it is INVALID_QUERY_LOCATOR); Salesforce keeps results for the full two days.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import ids
from ..clock import SimClock
from ..errors import InvalidQueryLocator
from .compiler import Plan

if TYPE_CHECKING:
    from ..store import Store

__all__ = ["CURSOR_LIFETIME", "Cursor", "CursorStore", "parse_locator"]

CURSOR_LIFETIME = 2 * 24 * 3600.0
"""Seconds of simulated time a cursor stays usable."""

_LOCATOR = re.compile(r"(?:^|/)([0-9A-Za-z]{15,18})-(\d+)$")


@dataclass
class Cursor:
    """An open cursor: the plan that shapes its rows and the temp table of rowids."""

    locator: str
    plan: Plan
    table: str
    total: int
    created: float
    created_wall: float | None = None
    """Wall-clock seconds when opened, while :attr:`CursorStore.wall` is set."""


def parse_locator(text: str) -> tuple[str, int]:
    """``(locator id, position)`` from ``01g...-2000`` or a ``nextRecordsUrl``."""
    m = _LOCATOR.search(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise InvalidQueryLocator("invalid query locator")
    return m.group(1), int(m.group(2))


class CursorStore:
    """Open cursors of one org, keyed by locator; expired ones are swept on each call."""

    def __init__(self, store: Store, clock: SimClock, api_version: str) -> None:
        self._store = store
        self._clock = clock
        self._version = api_version
        self._open: dict[str, Cursor] = {}
        self._counter = 0
        self.wall: Callable[[], float] | None = None
        """A wall clock (e.g. ``time.monotonic``) while a server runs; None: SimClock only."""
        self.max_open: int | None = None
        """Opt-in assumption (no document states a cap since v56.0): at most this many
        open cursors, the oldest released first. None (the default): no cap."""

    def __len__(self) -> int:
        return len(self._open)

    def open(self, plan: Plan, params: list[Any]) -> Cursor:
        """Snapshot the ids matching ``plan`` (``params`` include LIMIT and OFFSET)."""
        self.sweep()
        if self.max_open is not None:
            while self._open and len(self._open) >= max(1, self.max_open):
                self.close(next(iter(self._open.values())))  # oldest first
        self._counter += 1
        locator = ids.make_id("01g", self._counter)
        table = f"{self._store.SCRATCH}._soql_cursor_{self._counter}"
        store = self._store
        store.write(table, f"CREATE TABLE {table} (rid INTEGER)")
        total = store.write(table, f"INSERT INTO {table} (rid) {plan.ids_sql}", params)
        cur = Cursor(locator, plan, table, total, self._clock.time(),
                     self.wall() if self.wall is not None else None)
        self._open[locator] = cur
        return cur

    def get(self, locator: str) -> Cursor:
        """The cursor for a locator id, or INVALID_QUERY_LOCATOR."""
        self.sweep()
        cur = self._open.get(locator)
        if cur is None:
            raise InvalidQueryLocator("invalid query locator")
        return cur

    def batch(self, cur: Cursor, start: int, size: int) -> list[tuple[Any, ...]]:
        """Rows at positions ``start+1 .. start+size`` with their current values."""
        sql = cur.plan.batch_sql.format(table=cur.table)
        try:
            return self._store.read(sql, (start, start + size))
        except sqlite3.OperationalError:
            # The temp table went with a replaced connection (e.g. Org.open in_memory).
            self._open.pop(cur.locator, None)
            raise InvalidQueryLocator("invalid query locator") from None

    def next_url(self, cur: Cursor, position: int, version: str | None = None) -> str:
        """The ``nextRecordsUrl`` continuing after ``position`` rows, in API ``version``
        (default: the org's; the REST layer puts the request's version in its place)."""
        return f"/services/data/v{version or self._version}/query/{cur.locator}-{position}"

    def close(self, cur: Cursor) -> None:
        """Forget a cursor and drop its temp table."""
        self._open.pop(cur.locator, None)
        with contextlib.suppress(sqlite3.Error):
            self._store.write(cur.table, f"DROP TABLE IF EXISTS {cur.table}")

    def age(self, cur: Cursor) -> float:
        """Seconds since ``cur`` was opened: SimClock time, or the wall time elapsed while
        a server runs when that is longer."""
        age = self._clock.time() - cur.created
        if self.wall is not None and cur.created_wall is not None:
            age = max(age, self.wall() - cur.created_wall)
        return age

    def sweep(self) -> None:
        """Close every cursor older than :data:`CURSOR_LIFETIME` (see :meth:`age`)."""
        for cur in [c for c in self._open.values() if self.age(c) >= CURSOR_LIFETIME]:
            self.close(cur)
