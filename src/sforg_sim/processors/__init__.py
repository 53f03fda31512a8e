"""Reference processors: the team's two Apex designs, ported, and their start scripts.

A *processor* is a Queueable (or Batchable) class plus a ``start`` function that launches
it over partitions, like the team's ``start_v1.apex``/``start_v2.apex``:

- :mod:`.offset` (V1): LIMIT/OFFSET pages, the design that failed in production;
- :mod:`.keyset` (V2): keyset pages over half-open External ID ranges.

Porting your own: read :mod:`.keyset`'s docstring (the tutorial), then follow the
:class:`Processor` protocol so :mod:`sforg_sim.replay` can run and compare it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..nightly import Partition, parse_range, partitions

if TYPE_CHECKING:
    from ..org import Org

__all__ = ["DATA_ENDPOINT", "Partition", "PartitionJob", "Processor", "RangeReader",
           "StoppingJob", "abort_all", "parse_range", "partitions", "progress", "sql_literal"]

DATA_ENDPOINT = "callout:DataCloud/api/v1/query"
"""Where a processor's data callouts go: the simulated Data Cloud query API."""


def sql_literal(value: str) -> str:
    """A SQL string literal (quotes doubled): what ``String.escapeSingleQuotes`` is for."""
    return "'" + value.replace("'", "''") + "'"


@runtime_checkable
class PartitionJob(Protocol):
    """A job that says which partition it works for (the index into the start script's
    ranges). Reports read it to break results down; a job without it is attributed to the
    partition whose start-script job its chain descends from."""

    partition: int


@runtime_checkable
class StoppingJob(Protocol):
    """A job that says why its chain ended (``"3 empty batches"``), shown per partition."""

    stop_reason: str | None


@runtime_checkable
class RangeReader(Protocol):
    """A processor that reads its ranges inclusively (V1 did): ``start <= id <= end``, so
    the in-scope count of a partition includes its end boundary."""

    inclusive_end: bool


class Processor(Protocol):
    """What a replay needs from a processor.

    ``name`` labels reports; ``start(org, parts, page_size)`` launches the jobs (as the
    team's start script does) and returns their ids. Job instances should carry a
    ``partition`` attribute (:class:`PartitionJob`) so reports can break results down, and
    may set ``stop_reason`` (:class:`StoppingJob`) before ending their chain; a processor
    reading its ranges inclusively says so with ``inclusive_end`` (:class:`RangeReader`).
    """

    name: str

    def start(self, org: Org, parts: Sequence[Partition], page_size: int) -> list[str]:
        """Launch the jobs for ``parts``; returns the job ids."""
        ...


def abort_all(org: Org, class_names: Sequence[str] | None = None) -> int:
    """The team's ``emergency_stop.apex``: abort every unfinished job (of these classes)."""
    return int(org.apex.abort_all(class_names))


def progress(org: Org) -> dict[str, Any]:
    """The team's ``check_progress``: AsyncApexJob counts by status and the API usage."""
    rows = org.query_records(
        "SELECT Status, COUNT(Id) n FROM AsyncApexJob GROUP BY Status")
    lim = org.limits()
    api = lim["DailyApiRequests"]
    return {"jobs": {r["Status"]: r["n"] for r in rows},
            "api_used": api["Max"] - api["Remaining"], "api_max": api["Max"],
            "async_executions": org.org_limits.async_executions_used()}
