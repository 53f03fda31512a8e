"""The cost model: how much SimClock time each thing a transaction does takes.

A replay is only a forecast if simulated time means something. Every async transaction's
duration is the sum of its costs; the engine starts whatever follows a transaction (the next
chunk, a chained Queueable, a job's completion) that many simulated seconds later.

Defaults (all unconfirmed: Salesforce publishes no such figures; set them from a measured
run, in Python with ``CostModel().with_(...)`` or ``sforg-sim replay --cost NAME=SECONDS``):

- ``job_start`` 5.0 s: queue latency before an async job (or each batch chunk) runs;
- ``callout`` 0.3 s per HTTP callout (Data Cloud query round trip);
- ``soql_query`` 0.01 s per SOQL statement and ``soql_row`` 0.00005 s per row returned;
- ``dml_statement`` 0.01 s per DML statement and ``dml_row`` 0.002 s per row written
  (500 Opportunity updates with their history rows take about a second);
- CPU time (for the 10 s sync / 60 s async governor limit) is the SOQL and DML part of
  the above: callouts wait on the network and are not CPU.

What the defaults forecast (``benchmarks/README.md``): the team's V2 at 2,000,000 records
takes 0.7 simulated hours with 10 chains, shorter than the team's own estimate of "2-4
hours" (``SALESFORCE_FACTS.md``); V1 burns the 440,000-call quota in about 15 simulated
hours, inside one 24-hour window, as it did for the team. No choice of ``job_start`` or
``callout`` gives both: V2 pays one of each per 500 records, V1 six callouts per execution,
and slowing V1 past 24 hours lets the rolling window refill, so the simulated V1 would never
run out of quota. What sets V2 apart is writing 500 records with their history:
``dml_row=0.04`` (an org whose Opportunity automation makes each update cost 40 ms)
forecasts V2 at about 2.8 hours and leaves V1 as it was, but it also makes a synchronous
transaction that updates more than 250 records breach the 10 s CPU limit, which orgs
without heavy automation do not do. So the default stays fast; calibrate it per org.
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
    soql_query: float = 0.01
    soql_row: float = 0.00005
    dml_statement: float = 0.01
    dml_row: float = 0.002

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"cost {f.name} must be >= 0")

    def soql(self, rows: int) -> float:
        """Seconds (all CPU) for one SOQL statement returning ``rows`` rows."""
        return self.soql_query + self.soql_row * rows

    def dml(self, rows: int) -> float:
        """Seconds (all CPU) for one DML statement on ``rows`` rows."""
        return self.dml_statement + self.dml_row * rows

    def with_(self, **changes: Any) -> CostModel:
        """A copy with some costs changed: ``costs.with_(callout=1.5)``."""
        return replace(self, **changes)


DEFAULT_COSTS = CostModel()
"""The documented defaults above."""
