"""Deliberately broken keyset processors: the classic mistakes the checker must catch.

:class:`KeysetJob` is a small, correct keyset Queueable (the shape of V2, written the way a
user would port their own) with one switch per classic bug:

- ``first_exclusive``: the first page reads ``> start`` instead of ``>= start``, missing
  each partition's first record;
- ``inclusive_end``: ``<= end`` instead of ``< end``, so the shared boundary is read by two
  partitions (and an existing end key outside the scope gets written);
- ``ge_cursor``: the cursor is ``>= last`` instead of ``> last``: the last record of every
  page comes back, and a page of ties (page size 1, or the final page) loops forever;
- ``stop_on_first_empty``: one empty page ends the partition, so a transient empty batch
  from Data Cloud loses the rest;
- ``write_all``: write every record of the page, even those already done (not a bug on
  its own, but it makes double reads visible as double writes).

Issue 18's generation gaps, one mistake each (none visible before the kit was widened):

- ``errors_as_empty``: a failed callout (503) counts towards the 3 empty batches, so
  "503, 503, empty" ends the partition (gap 1: fault sequences);
- ``stop_at_start_count``: the first job counts the partition's records
  (``SELECT COUNT()``) and the chain stops after that many rows, so another user's
  insert ahead of the cursor pushes the last record out (gap 2: change timing);
- ``pair_by_position``: the Opportunities are zipped with the page by list position, not
  matched by key (gap 3: distinct values per record);
- ``rewind_on_error``: after a failed callout the job goes back to the previous page's
  cursor, so one page is read twice: one extra call, nothing else (gap 4: exact budget);
- ``max_cursor``: the next cursor is Python's ``max()`` of the page's keys (code-point
  order) instead of the last row (the source's order). A bug only against the
  case-insensitive *what if* source: Data Cloud's documented order is code point, which
  ``max()`` agrees with (gap 5, before the source followed Data Cloud SQL);
- ``collation_cursor``: the next cursor is the page's greatest key in Salesforce's
  collation (``max(keys, key=str.upper)``, SOQL's order) instead of the last row: against
  the code-point source a mixed-case page puts the cursor behind rows already read
  (gap 5: code point against collation);
- ``lower_cursor``: the cursor is the last key lowercased: harmless against a source that
  compares case-insensitively, wrong against Data Cloud's case-sensitive one (gap 6);
- ``empty_not_reset``: the empty-batch count is carried past a page with rows, so three
  empty batches over the whole partition, not in a row, end it (one of issue 18's
  "empty-batch counting" mistakes; a second review found it escaped the kit).

And a start script, :class:`DividedStart`, that ignores the ranges it is given and
splits the keys (or the numeric range of the team's ids) into ``len(parts)`` chunks of
``n // k``, dropping the remainder: the last ``n % k`` records are never read (gap 5:
partition arithmetic).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import TYPE_CHECKING

from sforg_sim.apex import Context, Queueable
from sforg_sim.errors import UnableToLockRow
from sforg_sim.nightly import SOURCE_OBJECT
from sforg_sim.processors import DATA_ENDPOINT, Partition, sql_literal

if TYPE_CHECKING:
    from sforg_sim.org import Org


@dataclass(frozen=True)
class Bugs:
    """Which mistakes a :class:`KeysetJob` makes (none by default)."""

    first_exclusive: bool = False
    inclusive_end: bool = False
    ge_cursor: bool = False
    stop_on_first_empty: bool = False
    write_all: bool = False
    errors_as_empty: bool = False
    stop_at_start_count: bool = False
    pair_by_position: bool = False
    rewind_on_error: bool = False
    max_cursor: bool = False
    collation_cursor: bool = False
    lower_cursor: bool = False
    empty_not_reset: bool = False


class KeysetJob(Queueable):
    """One keyset page of one partition, then chain; ``bugs`` switches mistakes on."""

    def __init__(self, partition: Partition, page_size: int, bugs: Bugs,
                 last: str | None = None, empties: int = 0,
                 key_field: str = "External_ID__c", prev: str | None = None,
                 budget: int | None = None, seen: int = 0) -> None:
        self.partition = partition.index
        self.part = partition
        self.page_size = page_size
        self.bugs = bugs
        self.last = last
        self.empties = empties
        self.key_field = key_field
        self.prev = prev  # the cursor before ``last`` (rewind_on_error)
        self.budget = budget  # records counted at start (stop_at_start_count)
        self.seen = seen

    def _next(self, last: str | None, empties: int, seen: int | None = None) -> KeysetJob:
        prev = self.last if last != self.last else self.prev
        return KeysetJob(self.part, self.page_size, self.bugs, last, empties, self.key_field,
                         prev, self.budget, self.seen if seen is None else seen)

    def execute(self, ctx: Context) -> None:
        k, b = self.key_field, self.bugs
        if b.stop_at_start_count and self.budget is None:
            self.budget = ctx.query(
                f"SELECT COUNT() FROM Opportunity WHERE {k} >= :lo AND {k} < :hi",
                lo=self.part.start, hi=self.part.end)
        if self.last is None:
            lower = f"{k} {'>' if b.first_exclusive else '>='} {sql_literal(self.part.start)}"
        else:
            lower = f"{k} {'>=' if b.ge_cursor else '>'} {sql_literal(self.last)}"
        upper = f"{k} {'<=' if b.inclusive_end else '<'} {sql_literal(self.part.end)}"
        res = ctx.callout("POST", DATA_ENDPOINT, {"sql": (
            f"SELECT {k}, StageName__c FROM {SOURCE_OBJECT} WHERE {lower} AND {upper} "
            f"ORDER BY {k} LIMIT {self.page_size}")})
        if res.status_code == 403:
            return
        if res.status_code != 200:
            if b.errors_as_empty:
                if self.empties + 1 >= 3:
                    return
                ctx.enqueue_job(self._next(self.last, self.empties + 1))
                return
            if b.rewind_on_error and self.last is not None:
                job = self._next(self.last, self.empties)
                job.last, job.prev = self.prev, None
                ctx.enqueue_job(job)
                return
            ctx.enqueue_job(self._next(self.last, self.empties))
            return
        rows = res.json()["data"]
        if not rows:
            if b.stop_on_first_empty or self.empties + 1 >= 3:
                return
            ctx.enqueue_job(self._next(self.last, self.empties + 1))
            return
        stage = {r[k].upper(): r["StageName__c"] for r in rows}
        opps = ctx.query(f"SELECT Id, {k}, StageName FROM Opportunity WHERE {k} IN :keys",
                         keys=[r[k] for r in rows])
        if b.pair_by_position:
            changes = [{"Id": o["Id"], "StageName": r["StageName__c"]}
                       for o, r in zip(opps, rows) if o["StageName"] != r["StageName__c"]]
        else:
            changes = [{"Id": o["Id"], "StageName": stage[o[k].upper()]} for o in opps
                       if b.write_all or o["StageName"] != stage[o[k].upper()]]
        if changes:
            try:
                ctx.update("Opportunity", changes)
            except UnableToLockRow:
                ctx.enqueue_job(self._next(self.last, self.empties))
                return
        seen = self.seen + len(rows)
        if b.stop_at_start_count and self.budget is not None and seen >= self.budget:
            return
        cursor = max(r[k] for r in rows) if b.max_cursor else rows[-1][k]
        if b.collation_cursor:
            cursor = max((r[k] for r in rows), key=str.upper)
        if b.lower_cursor:
            cursor = cursor.lower()
        ctx.enqueue_job(self._next(cursor, self.empties if b.empty_not_reset else 0, seen))


class DividedStart:
    """A start script computing its own ranges with integer division (gap 5).

    It ignores the boundaries it is given and keeps only their span (the first start,
    the last end). ``numeric=False``: it reads the Opportunities' keys in that span,
    sorts them (Python, code point: the source's order) and cuts them into
    ``k = len(parts)`` chunks of ``n // k`` keys; the last range ends at key ``k * (n //
    k)`` instead of the span's end, so the ``n % k`` keys after it are never read.
    ``numeric=True``: the team's way, by number: the span's ids ``prefix + digits``
    (``externalOpp01`` to ``externalOpp08``) split into ``k`` steps of ``(hi - lo) // k``
    numbers, so the last ``(hi - lo) % k`` numbers are left out; a span it cannot read as
    one prefix and one width is used as given.
    """

    inclusive_end = False

    def __init__(self, numeric: bool = False) -> None:
        self.numeric = numeric
        self.name = "divided-start" + ("-numeric" if numeric else "")

    def _bounds(self, org: Org, lo: str, hi: str, k: int) -> list[str] | None:
        if self.numeric:
            a = re.fullmatch(r"(\D*)(\d+)", lo)
            b = re.fullmatch(r"(\D*)(\d+)", hi)
            if not (a and b and a[1] == b[1] and len(a[2]) == len(b[2])):
                return None
            first, last, width = int(a[2]), int(b[2]), len(a[2])
            step = (last - first) // k
            return [f"{a[1]}{first + i * step:0{width}d}" for i in range(k + 1)]
        keys = sorted(r["External_ID__c"] for r in org.query_records(
            "SELECT External_ID__c FROM Opportunity WHERE External_ID__c != null")
            if lo <= r["External_ID__c"] < hi)
        if not keys:
            return None
        size = len(keys) // k
        return [lo, *(keys[i * size] for i in range(1, k)),
                keys[k * size] if k * size < len(keys) else hi]

    def start(self, org: Org, parts: Sequence[Partition], page_size: int) -> list[str]:
        """Enqueue one keyset chain per computed range (the given ones if unreadable)."""
        bounds = self._bounds(org, parts[0].start, parts[-1].end, len(parts)) if (
            parts) else None
        ranges = [Partition(i, a, b) for i, (a, b) in enumerate(pairwise(bounds))
                  ] if bounds else list(parts)

        def script(ctx: Context) -> list[str]:
            return [ctx.enqueue_job(KeysetJob(p, page_size, Bugs())) for p in ranges]

        return list(org.apex.execute_anonymous(script))


GAP_MUTANTS: dict[str, tuple[str, ...]] = {
    "gap 1 fault sequences": ("errors_as_empty",),
    "gap 2 change timing": ("stop_at_start_count",),
    "gap 3 distinct values": ("pair_by_position",),
    "gap 4 exact budget": ("rewind_on_error",),
    "gap 5 orderings": ("collation_cursor",),
    "gap 6 case-sensitive source": ("lower_cursor",),
    "gap 1 separated empties": ("empty_not_reset",),
}
"""Issue 18's generation gaps -> the mutant (its bugs) each gap must make visible.
The start-script mutants of gap 5 are :class:`DividedStart` (not a :class:`Bugs` switch)."""


def factory(**bugs: bool) -> Callable[[Partition, int], KeysetJob]:
    """A job factory ``(partition, page_size) -> KeysetJob`` with these bugs switched on."""
    chosen = replace(Bugs(), **bugs)

    def make(partition: Partition, page_size: int) -> KeysetJob:
        return KeysetJob(partition, page_size, chosen)

    make.__name__ = "keyset" + "".join(f"+{name}" for name, on in bugs.items() if on)
    return make
