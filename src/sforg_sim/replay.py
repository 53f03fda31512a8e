"""Replays: run a processor on an org and report what it did.

``replay(org, "v2")`` launches the processor's chains on an org seeded with the
``massive-upload`` scenario, runs the async engine until the work ends (or the API quota
runs out, or a loop is detected), and returns a :class:`Report`: records in scope,
processed (distinct records the job wrote), duplicates (written more than once), skipped
(in scope, never written), final StageName counts, API calls (data calls that reached the
source, and DailyApiRequests used in the org's rolling window at the end), async
executions, simulated duration, the outcome, per-partition rows, and the errors the job's
transactions met (caught by its own ``catch`` or not), counted by rule, each with what
the rule comes from (``errors`` and ``error_rules``: a Salesforce document, an injected
fault, or an opt-in assumption; :mod:`sforg_sim.apex.rules`).

Only documented rules apply by default. Assumptions that no Salesforce document backs are
named, opt-in options: the Data Cloud OFFSET cap is the source option ``max_offset``
(preset ``v1-offset-cap``), off otherwise.

Named processors (:data:`PROCESSORS`), each a reproducible scenario:

- ``v2``: the keyset processor;
- ``v1``: the deployed V1 (Data Cloud OFFSET pages, no ORDER BY, several pages per
  execution, restart at offset 0 on any error), with loop detection. Under the documented
  rules its second callout after an update throws ``CalloutException: uncommitted work
  pending`` and its ``catch`` restarts the partition (``errors`` counts them);
- ``v1-burn-quota``: the same V1 without loop detection: it runs until the work or the
  API quota ends;
- ``v1-offset-cap``: *what if* the Data Cloud source refused OFFSET above 2,000 (no
  document says it does; the old default): V1 then restarts at 0 forever past the cap
  and ends ``loop_detected``;
- ``v1-skip``: V1 paging a SOQL query that filters on the field it writes, one page per
  execution (with several, the callout rule would stop it first): records are skipped as
  the result set shrinks under the OFFSET;
- ``v1-premature-stop``: V1 on a stable source order whose source returns one transient
  empty page (fault ``empty@4``) and hits one row lock (``lock@9``): two partitions end
  early.

Loop detection (:class:`LoopDetector`): a data request (same partition, same request)
seen again with no new record processed since its previous occurrence is a strike;
``loop_threshold`` strikes on one request (default 5) stop the replay with outcome
``loop_detected``, and every unfinished job is aborted (the team's ``emergency_stop``).
V2's 3 empty probes repeat one request only twice, below the threshold. Attribution,
counters and the other stops are the :class:`~sforg_sim.observer.RunObserver`'s, shared
with the property-test harness.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from .apex import CostModel, FaultSchedule
from .apex.rules import source_of
from .datacloud import DataCloudSource
from .errors import UsageError
from .nightly import (
    KEY_FIELD,
    KEY_PREFIX,
    SCOPE_WHERE,
    SOURCE_FIELD,
    SOURCE_OBJECT,
    STAGE_AGGREGATE,
    TARGET_FIELD,
    TARGET_OBJECT,
    TARGET_STAGE,
    Partition,
    partitions,
)
from .observer import RunObserver
from .processors import Processor, RangeReader
from .processors.keyset import KeysetProcessor
from .processors.offset import OffsetProcessor

if TYPE_CHECKING:
    from .org import Org

__all__ = ["OUTCOMES", "PROCESSORS", "LoopDetector", "Outcome", "PartitionReport", "Preset",
           "Report", "replay"]

Outcome = Literal["running", "completed", "aborted", "request_limit_exceeded",
                  "loop_detected", "governor_limit", "failed", "timeout"]
"""A report's outcome: ``running`` while in progress, then one of :data:`OUTCOMES`."""
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)[1:]
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
                            "V1 with loop detection off: runs until the work or the quota "
                            "ends", detect_loops=False),
    "v1-offset-cap": Preset(lambda: OffsetProcessor("v1-offset-cap"),
                            "what if: V1 on a source that caps OFFSET at 2,000 (an "
                            "assumption no document states)", source={"max_offset": 2_000}),
    "v1-skip": Preset(lambda: OffsetProcessor("v1-skip", page_source="opportunity",
                                              restart_on_error=False,
                                              pages_per_execution=1),
                      "V1 paging a SOQL query filtered on the field it writes (one page "
                      "per execution, so no callout follows an update)"),
    "v1-premature-stop": Preset(
        lambda: OffsetProcessor("v1-premature-stop"),
        "V1 on a stable source order, one transient empty page and one row lock",
        source={"unstable_order": False}, faults="empty@4,lock@9"),
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
    """What a replay did; :meth:`to_json` gives the ``--json`` keys.

    ``api_calls``: ``data`` counts the job's data calls that reached the source, ``total``
    the org's API requests made during this run (requests used before it, e.g. with
    ``--api-remaining``, are not in it). ``skipped``: records in scope the job never wrote
    and that did not already hold the source's value at the start. ``simulated_seconds``
    is the cost model's forecast of the run's duration, not a measurement.
    """

    processor: str
    records: int
    processed: int
    duplicates: int
    skipped: int
    stage_counts: dict[str, int]
    api_calls: dict[str, int]
    async_executions: int
    simulated_seconds: float
    outcome: Outcome
    partitions: list[PartitionReport]
    errors: dict[str, int] = field(default_factory=dict)
    """Rule key -> how many times the job's transactions met that error, caught or not
    (``CalloutException: uncommitted work pending``, ``UNABLE_TO_LOCK_ROW``, ...), most
    frequent first."""
    error_rules: dict[str, str] = field(default_factory=dict)
    """Rule key -> what it comes from: the Salesforce document (title, section, URL), an
    injected fault, or an opt-in assumption."""
    faults_fired: dict[str, int] = field(default_factory=dict)
    """Fault kind -> how many times it fired (``callout``, ``lock``, ``empty``, ...)."""
    started_at: str = ""
    """Simulated time the run started (``2026-01-05T02:00:00.000+0000``): with
    ``ended_at``, the window for ``verify-org --modified-since``."""
    ended_at: str = ""
    """Simulated time the run ended (a forecast, like ``simulated_seconds``)."""
    unattributed: dict[str, int] = field(default_factory=dict)
    """What no partition's row counts: ``data_calls`` made by jobs outside any partition,
    ``writes`` by them; the per-partition rows plus these add up to the totals."""
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
    return int(org.query(f"SELECT COUNT() FROM {TARGET_OBJECT} WHERE {SCOPE_WHERE}")[
        "totalSize"])


def _count_range(org: Org, p: Partition, inclusive: bool) -> int:
    op = "<=" if inclusive else "<"
    sk = f'"{KEY_FIELD}__sk"'
    return org.store.count(org.schema.get(TARGET_OBJECT),
                           f'"IsDeleted" = 0 AND {sk} >= ? AND {sk} {op} ?',
                           (p.start.upper(), p.end.upper()))


class LoopDetector:
    """Stops a run that repeats itself: a data request (same partition, same request)
    seen again with no new record processed since its previous occurrence is a strike;
    ``threshold`` strikes on one request stop the run as ``loop_detected``."""

    def __init__(self, observer: RunObserver, threshold: int) -> None:
        self.observer = observer
        self.threshold = threshold
        self._strikes: dict[tuple[Any, ...], tuple[int, int]] = {}

    def on_call(self, partition: int | None, request: Mapping[str, Any]) -> None:
        """A call listener of the observer."""
        key = (partition, *sorted(request.items()))
        seen = self._strikes.get(key)
        done = len(self.observer.writes)
        if seen is None or done > seen[1]:
            self._strikes[key] = (0, done)
        else:
            self._strikes[key] = (seen[0] + 1, done)
            if seen[0] + 1 >= self.threshold:
                self.observer.stop("loop_detected")


def replay(org: Org, processor: str | Processor = "v2", *, partition_count: int = 10,
           page_size: int = 500, faults: str | FaultSchedule = "", seed: int = 0,
           detect_loops: bool | None = None, loop_threshold: int = 5,
           max_simulated_seconds: float = 14 * 86400, costs: CostModel | None = None,
           source_options: Mapping[str, Any] | None = None,
           progress: Callable[[Report], None] | None = None,
           progress_every: float = 0.25) -> Report:
    """Run ``processor`` (a name from :data:`PROCESSORS` or a :class:`Processor`) on ``org``.

    ``org`` must hold the ``massive-upload`` scenario (``externalOpp...`` ids and the Data
    Cloud source object). ``progress`` is called with the running report at most every
    ``progress_every`` seconds of wall time (a progress bar's pace; the simulation never
    reads it) and at the end. An unknown processor name is a
    :class:`~sforg_sim.errors.UsageError`.
    """
    preset: Preset | None = None
    if isinstance(processor, str):
        if processor not in PROCESSORS:
            raise UsageError(f"unknown processor {processor!r} "
                             f"(expected one of {', '.join(PROCESSORS)})")
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
    inclusive = isinstance(proc, RangeReader) and bool(proc.inclusive_end)
    obs = RunObserver(engine, source, len(parts), stop_on_refused=True,
                      max_simulated_seconds=max_simulated_seconds)
    t0 = obs.t0
    api0 = org.org_limits.api_requests_total()
    report = Report(proc.name, records, 0, 0, 0, {}, {"data": 0, "total": 0}, 0, 0.0,
                    "running", [], started_at=org.clock.stamp())
    if loops:
        obs.call_listeners.append(LoopDetector(obs, loop_threshold).on_call)
    shown = [time.perf_counter()]

    def on_event() -> None:
        # One timeline point per event (an event is a transaction or a job start: a few
        # thousand even for 2M records), so the plot has a line, not a dot.
        report.timeline.append((org.clock.time() - t0, len(obs.writes), source.calls))
        if progress is not None and time.perf_counter() - shown[0] >= progress_every:
            shown[0] = time.perf_counter()
            report.processed = len(obs.writes)
            report.api_calls = {"data": source.calls,
                                "total": org.org_limits.api_requests_total() - api0}
            report.simulated_seconds = org.clock.time() - t0
            report.errors = dict(obs.errors.most_common())
            progress(report)

    obs.event_listeners.append(on_event)
    with obs:
        job_ids = proc.start(org, parts, page_size)
        obs.add_roots(job_ids, [p.index for p in parts])
        schedule.start(engine)
        engine.run_until_idle()
    end = org.clock.time()
    if obs.outcome is not None:
        obs.abort_unfinished()
    ends = obs.ends
    outcome: Outcome
    if obs.outcome is not None:
        outcome = cast(Outcome, obs.outcome)  # the observer's stops and the loop detector's
    else:
        if any(e.startswith("failed: LIMIT_EXCEPTION") for e in ends):
            outcome = "governor_limit"
        elif any(e.startswith("failed: ") for e in ends):
            outcome = "failed"
        elif any(e == "aborted" for e in ends):
            outcome = "aborted"
        else:
            outcome = "completed"

    written = obs.writes
    report.records = _in_scope(org)
    report.processed = len(written)
    report.duplicates = sum(1 for n in written.values() if n > 1)
    # Never written, and not already right (a job that leaves a correct record alone has
    # not skipped it). Only looked for when some record was not written: the join reads
    # every record, a cost a complete run does not pay.
    unwritten = report.records - _processed_in_scope(org, written, schedule)
    if unwritten > 0:
        unwritten -= sum(1 for rid in _right_now(org) if rid not in written)
    report.skipped = max(0, unwritten)
    rows = org.query_records(STAGE_AGGREGATE)
    report.stage_counts = {r[TARGET_FIELD]: r["cnt"] for r in rows}
    report.stage_counts.setdefault(TARGET_STAGE, 0)
    report.api_calls = {"data": source.calls,
                        "total": org.org_limits.api_requests_total() - api0}
    report.faults_fired = dict(schedule.fired)
    report.ended_at = org.clock.stamp()
    report.async_executions = obs.executions
    report.errors = dict(obs.errors.most_common())
    report.error_rules = {k: source_of(k) for k in report.errors}
    report.simulated_seconds = end - t0
    report.outcome = outcome
    execs = obs.executions_by_partition()
    report.partitions = [
        PartitionReport(p.index, p.label(), _count_range(org, p, inclusive), obs.written[i],
                        obs.calls[i], execs[i], ends[i])
        for i, p in enumerate(parts)]
    report.unattributed = {"data_calls": obs.unattributed_calls,
                           "writes": sum(written.values()) - sum(obs.written)}
    report.timeline.append((report.simulated_seconds, report.processed, source.calls))
    report.wall_seconds = time.perf_counter() - wall0
    if progress is not None:
        progress(report)
    return report


_LIVE_IN_SCOPE = f'"IsDeleted" = 0 AND "{KEY_FIELD}__sk" LIKE \'{KEY_PREFIX.upper()}%\''
"""Storage condition for the live records of the job's scope (SCOPE_WHERE's)."""


def _right_now(org: Org) -> set[str]:
    """Ids of the live in-scope records that hold their source row's value. Those the job
    never wrote were right before it ran (unless another user made them right)."""
    src = f'"{SOURCE_OBJECT}"'
    rows = org.store.select(
        org.schema.get(TARGET_OBJECT), ["Id"],
        f'{_LIVE_IN_SCOPE} AND EXISTS '
        f'(SELECT 1 FROM {src} s WHERE s."IsDeleted" = 0 AND s."{KEY_FIELD}__sk" = '
        f'"{TARGET_OBJECT}"."{KEY_FIELD}__sk" AND s."{SOURCE_FIELD}" = '
        f'"{TARGET_OBJECT}"."{TARGET_FIELD}")')
    return {r[0] for r in rows}


def _processed_in_scope(org: Org, written: Counter[str], faults: FaultSchedule) -> int:
    """Written records still live and in scope (exact; cheap when nothing else changed)."""
    if not any(f.kind in ("delete", "insert") for f in faults.faults):
        return len(written)
    live = org.store.select(org.schema.get(TARGET_OBJECT), ["Id"], _LIVE_IN_SCOPE)
    return sum(1 for (rid,) in live if rid in written)
