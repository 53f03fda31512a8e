"""The cost model: how much SimClock time each thing a transaction does takes.

A replay is only a forecast if simulated time means something. Every async transaction's
duration is the sum of its costs; the engine starts whatever follows a transaction (the next
chunk, a chained Queueable, a job's completion) that many simulated seconds later.

Defaults (all unconfirmed: Salesforce publishes no such figures; set them from a measured
run, in Python with ``CostModel().with_(...)`` or ``sforg-sim replay --cost NAME=SECONDS``):

- ``job_start`` 5.0 s: queue latency before an async job (or each batch chunk) runs;
- ``callout`` 0.3 s per HTTP callout (Data Cloud query round trip). A callout waits at most
  its timeout (10 s by default, 120 s at most, 120 s for all callouts of a transaction:
  :mod:`.context`), so a ``callout`` above 10 s makes every default-timeout callout fail
  with ``System.CalloutException: Read timed out``;
- ``slow_callout`` 125.0 s: how long a callout hit by the ``slow`` fault takes. It is a test
  input, not a platform figure: longer than the 120 s maximum timeout, so a slow callout
  always times out;
- ``soql_query`` 0.01 s per SOQL statement and ``soql_row`` 0.00005 s per row returned;
- ``dml_statement`` 0.01 s per DML statement and ``dml_row`` 0.002 s per row written
  (500 Opportunity updates with their history rows take about a second);
- ``soql_row_cpu`` and ``dml_row_cpu``, 0.0 s per row: the Apex *CPU time* of SOQL and DML.

CPU time (the 10 s sync / 60 s async governor limit) is kept apart from duration. The
*Salesforce Developer Limits and Allocations Quick Reference* (*Per-Transaction Apex
Limits*, footnote on CPU time;
https://resources.docs.salesforce.com/latest/latest/en-us/sfdc/pdf/salesforce_app_limits_cheatsheet.pdf)
says "the portion of execution time spent in the database for DML, SOQL, and SOSL isn't
counted, nor is waiting time for Apex callouts". So the ``soql_*``/``dml_*`` and
``callout`` costs above are duration only: calibrating ``dml_row`` up to an org's measured
update time cannot produce CPU-limit failures that production would not have. What DML
does on the application servers (triggers, validation, flows) *is* CPU, but no figure for
it is published: ``dml_row_cpu``/``soql_row_cpu`` default to 0 (an opt-in assumption; set
them from ``Limits.getCpuTime()`` measured in the org). User code can charge CPU itself
with ``ctx.governor.cpu(seconds)``.

What the defaults forecast (``benchmarks/README.md``): the team's V2 at 2,000,000 records
takes 0.7 simulated hours with 10 chains, shorter than the team's own estimate of "2-4
hours". What sets V2's duration is writing 500 records with their history:
``dml_row=0.04`` (an org whose Opportunity automation makes each update take 40 ms)
forecasts V2 at about 2.8 hours. Since that is database time, not CPU, it no longer
makes synchronous transactions breach the 10 s CPU limit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["DEFAULT_COSTS", "CostModel"]


@dataclass(frozen=True)
class CostModel:
    """Simulated seconds per unit of work; immutable, derive variants with :meth:`with_`."""

    job_start: float = 5.0
    callout: float = 0.3
    slow_callout: float = 125.0
    soql_query: float = 0.01
    soql_row: float = 0.00005
    dml_statement: float = 0.01
    dml_row: float = 0.002
    soql_row_cpu: float = 0.0
    dml_row_cpu: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"cost {f.name} must be >= 0")

    def soql(self, rows: int) -> float:
        """Seconds of duration (database time, not CPU) for one SOQL statement."""
        return self.soql_query + self.soql_row * rows

    def dml(self, rows: int) -> float:
        """Seconds of duration (database time, not CPU) for one DML statement."""
        return self.dml_statement + self.dml_row * rows

    def soql_cpu(self, rows: int) -> float:
        """Apex CPU seconds of one SOQL statement (0 unless ``soql_row_cpu`` is set)."""
        return self.soql_row_cpu * rows

    def dml_cpu(self, rows: int) -> float:
        """Apex CPU seconds of one DML statement (0 unless ``dml_row_cpu`` is set)."""
        return self.dml_row_cpu * rows

    def with_(self, **changes: Any) -> CostModel:
        """A copy with some costs changed: ``costs.with_(callout=1.5)``."""
        return replace(self, **changes)


DEFAULT_COSTS = CostModel()
"""The documented defaults above."""
