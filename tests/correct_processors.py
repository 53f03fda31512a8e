"""Correct processors of other designs than the tutorial's: the kit must pass them.

The kit's invariants must describe correctness, not one design. Each job here is a
sound way to copy StageName from Data Cloud that the kit once flagged (a second review
of the property kit, its third round), so each is checked under ``ci`` in
``tests/test_kit_review_k3.py`` and listed among the must-pass targets of
``benchmarks/kit_detection.py``:

- :class:`LookaheadJob`: reads ``LIMIT page + 1``; the extra row says whether a next
  page exists, so a short page ends the chain without the three empty probes (fewer
  calls than the tutorial). Its extra row is read again as the next page's first;
- :class:`OppBatch`: a Batchable over a QueryLocator of the range's Opportunities, one
  ``IN`` query per chunk for their source values, 503s and empty answers retried inside
  the transaction (up to three empty answers in a row, the team's stop rule), row locks
  retried up to five times. It is started with the batch scope, drawn apart from the page
  size;
- :class:`MultiPageJob`: a Queueable that reads up to ``pages`` keyset pages in one
  transaction before chaining (fewer async executions, the same calls).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sforg_sim.apex import Batchable, Context, Queueable
from sforg_sim.apex.context import QueryLocator, get_query_locator
from sforg_sim.errors import UnableToLockRow
from sforg_sim.nightly import SOURCE_OBJECT
from sforg_sim.processors import DATA_ENDPOINT, Partition, sql_literal

KEY = "External_ID__c"


def _page_sql(part: Partition, last: str | None, limit: int) -> str:
    """The keyset page after ``last`` (the range's first when None), ``limit`` rows."""
    lower = (f"{KEY} >= {sql_literal(part.start)}" if last is None
             else f"{KEY} > {sql_literal(last)}")
    return (f"SELECT {KEY}, StageName__c FROM {SOURCE_OBJECT} WHERE {lower} AND "
            f"{KEY} < {sql_literal(part.end)} ORDER BY {KEY} LIMIT {limit}")


def _apply(ctx: Context, rows: Sequence[dict[str, Any]]) -> None:
    """Write each row's value onto its Opportunity, matched by key (case-insensitive,
    as External IDs match), only where it differs. May raise UnableToLockRow."""
    stage = {r[KEY].upper(): r["StageName__c"] for r in rows}
    opps = ctx.query(f"SELECT Id, {KEY}, StageName FROM Opportunity WHERE {KEY} IN :keys",
                     keys=[r[KEY] for r in rows])
    changes = [{"Id": o["Id"], "StageName": stage[o[KEY].upper()]} for o in opps
               if o["StageName"] != stage[o[KEY].upper()]]
    if changes:
        ctx.update("Opportunity", changes)


class LookaheadJob(Queueable):
    """Keyset with a look-ahead: ``LIMIT page + 1``, process ``page`` rows, and chain
    only if the extra row came back. Empty answers are retried up to three in a row
    (the team's stop rule), 503s and row locks retried, 403 ends the chain."""

    def __init__(self, part: Partition, page_size: int, last: str | None = None,
                 empties: int = 0) -> None:
        self.partition = part.index
        self.part, self.page_size, self.last, self.empties = part, page_size, last, empties

    def execute(self, ctx: Context) -> None:
        """Read one page and its look-ahead row; process the page; chain if more."""
        res = ctx.callout("POST", DATA_ENDPOINT,
                          {"sql": _page_sql(self.part, self.last, self.page_size + 1)})
        if res.status_code == 403:  # the daily allocation is spent: stop
            return
        if res.status_code != 200:  # transient: the same page again
            ctx.enqueue_job(LookaheadJob(self.part, self.page_size, self.last, self.empties))
            return
        rows = res.json()["data"]
        if not rows:
            if self.empties < 2:
                ctx.enqueue_job(LookaheadJob(self.part, self.page_size, self.last,
                                             self.empties + 1))
            return
        more = len(rows) > self.page_size
        rows = rows[:self.page_size]
        try:
            _apply(ctx, rows)
        except UnableToLockRow:
            ctx.enqueue_job(LookaheadJob(self.part, self.page_size, self.last, self.empties))
            return
        if more:
            ctx.enqueue_job(LookaheadJob(self.part, self.page_size, rows[-1][KEY]))


def lookahead(part: Partition, page_size: int) -> LookaheadJob:
    """The factory ``check_processor`` takes."""
    return LookaheadJob(part, page_size)


class OppBatch(Batchable):
    """A Batchable over the range's Opportunities: per chunk, one ``IN`` query to Data
    Cloud for their values (503s retried up to 20 times, empty answers up to three in a
    row), then the update (a row lock retried up to five times)."""

    def __init__(self, part: Partition) -> None:
        self.partition = part.index
        self.part = part

    def start(self, ctx: Context) -> QueryLocator:
        """The range's Opportunities (SOQL: the record set the engine chunks)."""
        return get_query_locator(f"SELECT Id, {KEY}, StageName FROM Opportunity "
                                 f"WHERE {KEY} >= :lo AND {KEY} < :hi",
                                 lo=self.part.start, hi=self.part.end)

    def execute(self, ctx: Context, scope: list[Any]) -> None:
        """Fetch this chunk's source values by key and write the ones that differ."""
        keys = [r[KEY] for r in scope if r[KEY]]
        if not keys:
            return
        sql = (f"SELECT {KEY}, StageName__c FROM {SOURCE_OBJECT} WHERE {KEY} IN "
               f"({', '.join(sql_literal(k) for k in keys)})")
        data: list[dict[str, Any]] = []
        empties = errors = 0
        while errors < 20:
            res = ctx.callout("POST", DATA_ENDPOINT, {"sql": sql})
            if res.status_code == 403:
                return
            if res.status_code != 200:
                errors += 1
                continue
            data = res.json()["data"]
            if data or empties >= 2:
                break
            empties += 1
        stage = {r[KEY].upper(): r["StageName__c"] for r in data}
        changes = [{"Id": o["Id"], "StageName": stage[o[KEY].upper()]} for o in scope
                   if o[KEY] and o[KEY].upper() in stage
                   and o["StageName"] != stage[o[KEY].upper()]]
        for attempt in range(5):
            try:
                if changes:
                    ctx.update("Opportunity", changes)
                return
            except UnableToLockRow:
                if attempt == 4:
                    raise

    def finish(self, ctx: Context) -> None:
        """Nothing to do after the last chunk."""


def opp_batch(part: Partition, page_size: int) -> OppBatch:
    """The factory: a Batchable, started with the case's batch scope."""
    return OppBatch(part)


class MultiPageJob(Queueable):
    """Keyset, up to ``pages`` pages read per transaction and written with one update
    (Apex allows no callout after DML in a transaction), then chain: the tutorial's
    rules (three empty answers in a row end it, 503s retried, a row lock retries the
    transaction's pages) with fewer async executions."""

    def __init__(self, part: Partition, page_size: int, pages: int = 3,
                 last: str | None = None, empties: int = 0) -> None:
        self.partition = part.index
        self.part, self.page_size, self.pages = part, page_size, pages
        self.last, self.empties = last, empties

    def execute(self, ctx: Context) -> None:
        """Read up to ``pages`` pages, write them, chain where it stopped."""
        last, empties, done, refused = self.last, self.empties, False, False
        read: list[dict[str, Any]] = []
        for _ in range(self.pages):
            res = ctx.callout("POST", DATA_ENDPOINT,
                              {"sql": _page_sql(self.part, last, self.page_size)})
            if res.status_code == 403:  # stop for good, keep what was read
                done = refused = True
                break
            if res.status_code != 200:
                continue  # transient: this page again, in this transaction
            rows = res.json()["data"]
            if not rows:
                empties += 1
                if empties >= 3:
                    done = True
                    break
                continue
            read += rows
            last, empties = rows[-1][KEY], 0
        if read:
            try:
                _apply(ctx, read)
            except UnableToLockRow:  # nothing written: these pages again, later
                if refused:  # ... unless the quota is gone: a retry would only spin
                    return
                ctx.enqueue_job(MultiPageJob(self.part, self.page_size, self.pages,
                                             self.last, self.empties))
                return
        if not done:
            ctx.enqueue_job(MultiPageJob(self.part, self.page_size, self.pages, last,
                                         empties))


def multi_page(part: Partition, page_size: int) -> MultiPageJob:
    """The factory: three pages per transaction."""
    return MultiPageJob(part, page_size)


CORRECT: dict[str, Callable[[Partition, int], Queueable | Batchable]] = {
    "look-ahead (LIMIT page + 1)": lookahead,
    "Batchable over a QueryLocator": opp_batch,
    "several pages per transaction": multi_page,
}
"""Name -> factory, for the benchmark's must-pass list."""
