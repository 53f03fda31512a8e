"""Replays: run a processor on an org and report what it did.

``replay(org, "v2")`` launches the processor's chains on an org seeded with the
``massive-upload`` scenario, runs the async engine until the work ends (or the API quota
runs out, or a loop is detected), and returns a :class:`Report`: records in scope,
processed (distinct records the job wrote), duplicates (written more than once), skipped
(in scope, never written), final StageName counts, API calls (data calls that reached the
source, and DailyApiRequests used in the org's rolling window at the end), async
executions, simulated duration, the outcome, and per-partition rows.

Named processors (:data:`PROCESSORS`), each a reproducible scenario:

- ``v2``: the keyset processor;
- ``v1``: the deployed V1 (Data Cloud OFFSET pages, no ORDER BY, restart on error), with
  loop detection: it ends ``loop_detected`` once pages repeat with no progress;
- ``v1-burn-quota``: the same V1 without loop detection: it runs until
  REQUEST_LIMIT_EXCEEDED, showing what the loop costs;
- ``v1-skip``: V1 paging a SOQL query that filters on the field it writes: records are
  skipped as the result set shrinks under the OFFSET;
- ``v1-premature-stop``: V1 without an OFFSET cap whose source returns one transient empty
  page (fault ``empty@4``) and hits one row lock (``lock@9``): two partitions end early.

Loop detection: a data request (same partition, same request) seen again with no new
record processed since its previous occurrence is a strike; ``loop_threshold`` strikes on
one request (default 5) stop the replay with outcome ``loop_detected``, and every
unfinished job is aborted (the team's ``emergency_stop``). V2's 3 empty probes repeat one
request only twice, below the threshold.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .apex import CostModel, FaultSchedule
from .apex.engine import Job
from .datacloud import DataCloudSource
from .errors import InvalidOrNullForRestrictedPicklist
from .processors import Partition, Processor, partitions
from .processors.keyset import KeysetProcessor
from .processors.offset import OffsetProcessor
from .scenarios import TARGET_STAGE

if TYPE_CHECKING:
    from .org import Org

__all__ = ["OUTCOMES", "PROCESSORS", "PartitionReport", "Preset", "Report", "replay"]

OUTCOMES = ("completed", "aborted", "request_limit_exceeded", "loop_detected",
            "governor_limit", "failed", "timeout")
"""How a replay ended. ``failed``: a chain ended on a job that failed with an error other
than a governor limit (an uncaught UNABLE_TO_LOCK_ROW, Developer Edition's "Maximum stack
depth has been reached", ...), so the run stopped short without anyone noticing."""


@dataclass(frozen=True)
class Preset:
    """A named replay scenario: a processor plus source options, faults and loop policy."""

    make: Callable[[], Processor]
    description: str
    source: Mapping[str, Any] = field(default_factory=dict)
    faults: str = ""
    detect_loops: bool = True


PROCESSORS: dict[str, Preset] = {
    "v2": Preset(KeysetProcessor, "keyset pages over half-open ranges (V2)"),
    "v1": Preset(lambda: OffsetProcessor("v1"),
                 "Data Cloud OFFSET pages, no ORDER BY, restart at 0 on error (V1)"),
    "v1-burn-quota": Preset(lambda: OffsetProcessor("v1-burn-quota"),
                            "V1 with loop detection off: runs until REQUEST_LIMIT_EXCEEDED",
                            detect_loops=False),
    "v1-skip": Preset(lambda: OffsetProcessor("v1-skip", page_source="opportunity",
                                              restart_on_error=False),
                      "V1 paging a SOQL query filtered on the field it writes"),
    "v1-premature-stop": Preset(
        lambda: OffsetProcessor("v1-premature-stop"),
        "V1 without an OFFSET cap, one transient empty page and one row lock",
        source={"max_offset": 10**9, "unstable_order": False}, faults="empty@4,lock@9"),
}


@dataclass
class PartitionReport:
    """One partition's figures."""

    index: int
    range: str
    in_scope: int
    written: int
    data_calls: int
    executions: int
    end: str


@dataclass
class Report:
    """What a replay did; :meth:`to_json` gives the ``--json`` keys."""

    processor: str
    records: int
    processed: int
    duplicates: int
    skipped: int
    stage_counts: dict[str, int]
    api_calls: dict[str, int]
    async_executions: int
    simulated_seconds: float
    outcome: str
    partitions: list[PartitionReport]
    wall_seconds: float = 0.0
    timeline: list[tuple[float, int, int]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``sforg-sim replay --json`` (timeline and wall time left out)."""
        d = asdict(self)
        d.pop("timeline")
        d.pop("wall_seconds")
        d["simulated_seconds"] = round(self.simulated_seconds, 3)
        return d


def _in_scope(org: Org) -> int:
    return int(org.query(
        "SELECT COUNT() FROM Opportunity WHERE External_ID__c LIKE 'externalOpp%'")[
        "totalSize"])


def _count_range(org: Org, p: Partition, inclusive: bool) -> int:
    op = "<=" if inclusive else "<"
    return org.store.count(
        org.schema.get("Opportunity"), '"IsDeleted" = 0 AND '
        f'"External_ID__c__sk" >= ? AND "External_ID__c__sk" {op} ?',
        (p.start.upper(), p.end.upper()))


def replay(org: Org, processor: str | Processor = "v2", *, partition_count: int = 10,
           page_size: int = 500, faults: str | FaultSchedule = "", seed: int = 0,
           detect_loops: bool | None = None, loop_threshold: int = 5,
           max_simulated_seconds: float = 14 * 86400, costs: CostModel | None = None,
           source_options: Mapping[str, Any] | None = None,
           progress: Callable[[Report], None] | None = None,
           progress_every: int = 2000) -> Report:
    """Run ``processor`` (a name from :data:`PROCESSORS` or a :class:`Processor`) on ``org``.

    ``org`` must hold the ``massive-upload`` scenario (``externalOpp...`` ids and the Data
    Cloud source object). ``progress`` is called with the running report every
    ``progress_every`` events and at the end.
    """
    preset: Preset | None = None
    if isinstance(processor, str):
        if processor not in PROCESSORS:
            raise InvalidOrNullForRestrictedPicklist(
                f"bad value for restricted picklist field: processor={processor!r} "
                f"(expected one of {', '.join(PROCESSORS)})", ["processor"])
        preset = PROCESSORS[processor]
        proc = preset.make()
    else:
        proc = processor
    wall0 = time.perf_counter()
    engine = org.apex
    if costs is not None:
        engine.costs = costs
    fault_text = preset.faults if preset else ""
    schedule = faults if isinstance(faults, FaultSchedule) else FaultSchedule.parse(
        ",".join(x for x in (fault_text, faults) if x), seed)
    engine.faults = schedule
    opts = {**(preset.source if preset else {}), **(source_options or {})}
    source = DataCloudSource(org, seed=seed, faults=schedule, **opts).attach(engine)
    loops = (preset.detect_loops if preset else True) if detect_loops is None else detect_loops

    records = _in_scope(org)
    parts = partitions(records, partition_count)
    inclusive = bool(getattr(proc, "inclusive_end", False))
    t0 = org.clock.time()
    exec0 = engine.executions
    written: Counter[str] = Counter()
    part_written = [0] * len(parts)
    part_calls = [0] * len(parts)
    part_execs = [0] * len(parts)
    part_end = ["running"] * len(parts)
    state: dict[str, Any] = {"outcome": None}
    strikes: dict[tuple[Any, ...], tuple[int, int]] = {}
    report = Report(proc.name, records, 0, 0, 0, {}, {"data": 0, "total": 0}, 0, 0.0,
                    "running", [])

    def part_of() -> int | None:
        job = engine.current
        p = getattr(job.instance, "partition", None) if job is not None else None
        return p if isinstance(p, int) and 0 <= p < len(parts) else None

    def on_dml(sobject: str, op: str, ids: list[str]) -> None:
        if sobject == "Opportunity" and op in ("update", "upsert"):
            written.update(ids)
            p = part_of()
            if p is not None:
                part_written[p] += len(ids)

    def on_call(api: str, request: Mapping[str, Any], rows: int) -> None:
        p = part_of()
        if p is not None:
            part_calls[p] += 1
        if not loops:
            return
        key = (p, *sorted(request.items()))
        seen = strikes.get(key)
        done = len(written)
        if seen is None or done > seen[1]:
            strikes[key] = (0, done)
        else:
            strikes[key] = (seen[0] + 1, done)
            if seen[0] + 1 >= loop_threshold and state["outcome"] is None:
                state["outcome"] = "loop_detected"
                engine.stop()

    def on_chain(job: Job, children: int) -> None:
        p = getattr(job.instance, "partition", None)
        if not isinstance(p, int) or not 0 <= p < len(parts):
            return
        part_execs[p] += 1
        if children == 0:
            if job.status == "Failed" and job.error is not None:
                part_end[p] = f"failed: {job.error.error_code}"
            else:
                part_end[p] = getattr(job.instance, "stop_reason", None) or "ended"

    events = [0]

    def on_event() -> None:
        if source.refused and state["outcome"] is None:
            state["outcome"] = "request_limit_exceeded"
            engine.stop()
        elif org.clock.time() - t0 > max_simulated_seconds and state["outcome"] is None:
            state["outcome"] = "timeout"
            engine.stop()
        events[0] += 1
        # One timeline point per event (an event is a transaction or a job start: a few
        # thousand even for 2M records), so the plot has a line, not a dot.
        report.timeline.append((org.clock.time() - t0, len(written), source.calls))
        if events[0] % progress_every == 0:
            report.processed = len(written)
            report.api_calls = {"data": source.calls, "total": 0}
            report.simulated_seconds = org.clock.time() - t0
            if progress is not None:
                progress(report)

    engine.dml_listeners.append(on_dml)
    source.listeners.append(on_call)
    engine.chain_listeners.append(on_chain)
    engine.event_listeners.append(on_event)
    try:
        proc.start(org, parts, page_size)
        schedule.start(engine)
        engine.run_until_idle()
    finally:
        engine.dml_listeners.remove(on_dml)
        engine.chain_listeners.remove(on_chain)
        engine.event_listeners.remove(on_event)
    end = org.clock.time()
    if state["outcome"] is not None:
        engine.abort_all()
        for i, e in enumerate(part_end):
            if e == "running":
                part_end[i] = "aborted"
    outcome = state["outcome"]
    if outcome is None:
        if any(e.startswith("failed: LIMIT_EXCEPTION") for e in part_end):
            outcome = "governor_limit"
        elif any(e.startswith("failed: ") for e in part_end):
            outcome = "failed"
        elif any(e == "aborted" for e in part_end):
            outcome = "aborted"
        else:
            outcome = "completed"

    report.records = _in_scope(org)
    report.processed = len(written)
    report.duplicates = sum(1 for n in written.values() if n > 1)
    report.skipped = max(0, report.records - _processed_in_scope(org, written, schedule))
    rows = org.query_records(
        "SELECT StageName, COUNT(Id) cnt FROM Opportunity "
        "WHERE External_ID__c LIKE 'externalOpp%' GROUP BY StageName")
    report.stage_counts = {r["StageName"]: r["cnt"] for r in rows}
    report.stage_counts.setdefault(TARGET_STAGE, 0)
    api = org.limits()["DailyApiRequests"]
    report.api_calls = {"data": source.calls, "total": api["Max"] - api["Remaining"]}
    report.async_executions = engine.executions - exec0
    report.simulated_seconds = end - t0
    report.outcome = outcome
    report.partitions = [
        PartitionReport(p.index, p.label(), _count_range(org, p, inclusive), part_written[i],
                        part_calls[i], part_execs[i], part_end[i])
        for i, p in enumerate(parts)]
    report.timeline.append((report.simulated_seconds, report.processed, source.calls))
    report.wall_seconds = time.perf_counter() - wall0
    if progress is not None:
        progress(report)
    return report


def _processed_in_scope(org: Org, written: Counter[str], faults: FaultSchedule) -> int:
    """Written records still live and in scope (exact; cheap when nothing else changed)."""
    if not any(f.kind in ("delete", "insert") for f in faults.faults):
        return len(written)
    live = org.store.select(
        org.schema.get("Opportunity"), ["Id"], '"IsDeleted" = 0 AND '
        '"External_ID__c__sk" LIKE \'EXTERNALOPP%\'')
    return sum(1 for (rid,) in live if rid in written)
