"""Reference processors: the team's two Apex designs, ported, and their start scripts.

A *processor* is a Queueable (or Batchable) class plus a ``start`` function that launches
it over partitions, like the team's ``start_v1.apex``/``start_v2.apex``:

- :mod:`.offset` (V1): LIMIT/OFFSET pages, the design that failed in production;
- :mod:`.keyset` (V2): keyset pages over half-open External ID ranges.

Porting your own: read :mod:`.keyset`'s docstring (the tutorial), then follow the
:class:`Processor` protocol so :mod:`sforg_sim.replay` can run and compare it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import NumberOutsideValidRange
from ..scenarios import external_id

if TYPE_CHECKING:
    from ..org import Org

__all__ = ["DATA_ENDPOINT", "Partition", "Processor", "abort_all", "parse_range",
           "partitions", "progress", "sql_literal"]

DATA_ENDPOINT = "callout:DataCloud/api/v1/query"
_RANGE = re.compile(r"^\s*(\S+)\s+to\s+(\S+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Partition:
    """One partition: External IDs from ``start`` to ``end``.

    The team writes ranges as ``externalOpp0000001 to externalOpp0200001``, sharing the
    boundary with the next range; V2 reads them half-open (``start <= id < end``) so each
    id belongs to exactly one partition; V1 read them inclusively.
    """

    index: int
    start: str
    end: str

    def label(self) -> str:
        """The team's printed form: ``externalOpp0000001 to externalOpp0200001``."""
        return f"{self.start} to {self.end}"


def parse_range(text: str, index: int = 0) -> Partition:
    """Parse ``"externalOpp0000001 to externalOpp0200001"``."""
    m = _RANGE.match(text)
    if m is None:
        raise NumberOutsideValidRange(f"expected 'START to END', got {text!r}", ["range"])
    if m.group(1).upper() >= m.group(2).upper():
        raise NumberOutsideValidRange(f"empty range {text!r}", ["range"])
    return Partition(index, m.group(1), m.group(2))


def partitions(records: int, count: int = 10) -> list[Partition]:
    """``count`` ranges over ``externalOpp0000001 .. records`` in the team's boundary form.

    Sizes differ by at most one; boundaries are shared (``... to externalOpp0200001``,
    ``externalOpp0200001 to ...``); the last end is one past the last id.
    """
    if count < 1 or records < count:
        raise NumberOutsideValidRange(
            f"need 1 <= partitions <= records, got {count} for {records}", ["partitions"])
    bounds = [1 + (records * i) // count for i in range(count + 1)]
    return [Partition(i, external_id(bounds[i]), external_id(bounds[i + 1]))
            for i in range(count)]


def sql_literal(value: str) -> str:
    """A SQL string literal (quotes doubled): what ``String.escapeSingleQuotes`` is for."""
    return "'" + value.replace("'", "''") + "'"


class Processor(Protocol):
    """What a replay needs from a processor.

    ``name`` labels reports; ``start(org, parts, page_size)`` launches the jobs (as the
    team's start script does) and returns their ids. Job instances should carry a
    ``partition`` attribute (the partition index) so reports can break results down, and may
    set ``stop_reason`` before ending their chain.
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
