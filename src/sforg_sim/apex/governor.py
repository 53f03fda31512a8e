"""Per-transaction governor limits, as Apex enforces them.

Each synchronous or asynchronous transaction gets a fresh :class:`Governor`. Counting past a
limit raises a ``System.LimitException`` that user code cannot catch: internally it travels
as :class:`LimitBreach`, a ``BaseException`` (so ``except Exception`` in a user's
``execute()`` does not swallow it), and the engine also checks :attr:`Governor.breach` after
``execute()`` returns, so even ``except BaseException`` cannot hide it. The execution fails
and its work is rolled back, as in Apex.

Limits (Apex Developer Guide, "Execution Governors and Limits",
https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/pages/apex_gov_limits.htm,
and the Limits Quick Reference, *Per-Transaction Apex Limits*), sync / async:
SOQL queries 100 / 200; SOSL queries 20; query rows 50,000; DML statements 150; DML rows 10,000;
callouts 100; cumulative callout timeout 120 s; CPU time 10 s / 60 s; Queueable jobs
added: 50 / 1. Heap size is not modelled. "Although scheduled Apex is an asynchronous
feature, synchronous limits apply to scheduled Apex jobs" (same page): the engine gives a
scheduled ``execute`` :data:`SYNC_LIMITS`.

Duration and CPU are kept apart (:mod:`.costs`): SOQL and DML add their database time to
the transaction's duration and only their ``*_cpu`` cost to CPU time; callouts add their
wait to the duration and to the cumulative callout time, never to CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LimitException
from .costs import CostModel

__all__ = ["ASYNC_LIMITS", "SYNC_LIMITS", "Governor", "LimitBreach", "TransactionLimits"]


@dataclass(frozen=True)
class TransactionLimits:
    """The ceilings of one transaction."""

    soql_queries: int
    query_rows: int
    dml_statements: int
    dml_rows: int
    callouts: int
    cpu_seconds: float
    queueable_jobs: int
    callout_seconds: float = 120.0
    """Maximum cumulative time of all callouts of the transaction ("Callout Limits and
    Limitations": "The maximum cumulative timeout for callouts by a single Apex
    transaction is 120 seconds")."""
    sosl_queries: int = 20
    """SOSL queries per transaction, sync and async alike ("Execution Governors and
    Limits", Per-Transaction Apex Limits: "Total number of SOSL queries issued 20", one
    figure for both; the Limits Quick Reference's table is the same,
    https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_gov_limits.htm)."""


SYNC_LIMITS = TransactionLimits(100, 50_000, 150, 10_000, 100, 10.0, 50)
ASYNC_LIMITS = TransactionLimits(200, 50_000, 150, 10_000, 100, 60.0, 1)


class LimitBreach(BaseException):
    """Carries a LimitException past ``except Exception`` blocks in user code."""

    def __init__(self, error: LimitException) -> None:
        super().__init__(str(error))
        self.error = error


class Governor:
    """Counters of one transaction plus its simulated duration and CPU time."""

    def __init__(self, limits: TransactionLimits, costs: CostModel) -> None:
        self.limits = limits
        self.costs = costs
        self.soql_queries = 0
        self.sosl_queries = 0
        self.query_rows = 0
        self.dml_statements = 0
        self.dml_rows = 0
        self.callouts = 0
        self.queueable_jobs = 0
        self.cpu_seconds = 0.0
        self.callout_seconds = 0.0
        """Time spent waiting on callouts so far (toward the 120 s cumulative limit)."""
        self.elapsed = 0.0
        self.breach: LimitException | None = None

    def _fail(self, message: str) -> None:
        self.breach = LimitException(message)
        raise LimitBreach(self.breach)

    def _cpu(self, seconds: float) -> None:
        self.cpu_seconds += seconds
        self.elapsed += seconds
        if self.cpu_seconds > self.limits.cpu_seconds:
            self._fail("Apex CPU time limit exceeded")

    def soql(self, rows: int, returned: int | None = None) -> None:
        """Count one SOQL statement reading ``rows`` query rows (toward the 50,000).

        ``returned`` is how many rows it returned, for the cost model (default ``rows``):
        an aggregate query counts the rows it aggregated but returns only its groups.
        Its database time is duration, not CPU (see the module docstring).
        """
        self.soql_queries += 1
        if self.soql_queries > self.limits.soql_queries:
            self._fail(f"Too many SOQL queries: {self.soql_queries}")
        self.query_rows += rows
        if self.query_rows > self.limits.query_rows:
            self._fail(f"Too many query rows: {self.query_rows}")
        out = rows if returned is None else returned
        self.elapsed += self.costs.soql(out)
        self._cpu(self.costs.soql_cpu(out))

    def sosl(self, returned: int) -> None:
        """Count one SOSL statement (toward the 20 per transaction) that returned
        ``returned`` records. The SOQL the search runs internally is the search's own
        work, not SOQL queries of the transaction. Its database time is charged as a
        SOQL query returning as many rows (the cost model has no SOSL entry of its own)."""
        self.sosl_queries += 1
        if self.sosl_queries > self.limits.sosl_queries:
            self._fail(f"Too many SOSL queries: {self.sosl_queries}")
        self.elapsed += self.costs.soql(returned)
        self._cpu(self.costs.soql_cpu(returned))

    def dml(self, rows: int) -> None:
        """Count one DML statement on ``rows`` records (before it runs, as Apex does).
        Its database time is duration, not CPU (see the module docstring)."""
        self.dml_statements += 1
        if self.dml_statements > self.limits.dml_statements:
            self._fail(f"Too many DML statements: {self.dml_statements}")
        self.dml_rows += rows
        if self.dml_rows > self.limits.dml_rows:
            self._fail(f"Too many DML rows: {self.dml_rows}")
        self.elapsed += self.costs.dml(rows)
        self._cpu(self.costs.dml_cpu(rows))

    def callout(self) -> None:
        """Count one callout toward the 100 per transaction (its wait: :meth:`wait`)."""
        self.callouts += 1
        if self.callouts > self.limits.callouts:
            self._fail(f"Too many callouts: {self.callouts}")

    def callout_budget(self) -> float:
        """Seconds of callout time left in the transaction's 120 s cumulative limit."""
        return max(0.0, self.limits.callout_seconds - self.callout_seconds)

    def wait(self, seconds: float) -> None:
        """A callout waited ``seconds`` on the network: duration, not CPU."""
        self.callout_seconds += seconds
        self.elapsed += seconds

    def queueable(self) -> None:
        """Count one ``System.enqueueJob`` call."""
        self.queueable_jobs += 1
        if self.queueable_jobs > self.limits.queueable_jobs:
            self._fail(f"Too many queueable jobs added to the queue: {self.queueable_jobs}")

    def cpu(self, seconds: float) -> None:
        """Charge CPU time for work the cost model does not see (user code can call it)."""
        self._cpu(seconds)
