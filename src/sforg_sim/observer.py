"""One run of a job on an org, watched: attribution, counters, and when to stop it.

Replays (:mod:`sforg_sim.replay`, one big run and a report) and the property-test harness
(:mod:`sforg_sim.harness`, many small runs and a record for the invariants) both need the
same machinery, so it lives here once:

- *attribution*: which partition a job works for. A job that says so
  (:class:`~sforg_sim.processors.PartitionJob`, a ``partition`` attribute) is believed;
  any other job belongs to the partition whose start-script job its chain descends from
  (:meth:`RunObserver.add_roots`);
- *counters*: target records written (per record, per partition, optionally every write
  in order), data calls that reached the source and calls it refused with
  REQUEST_LIMIT_EXCEEDED (per partition, or unattributed), async executions, how each
  partition's chain ended, and every error the job's transactions met, caught or not,
  counted by the rule it comes from (:mod:`sforg_sim.apex.rules`);
- *stops*: an execution cap (a looping job), the API quota running out, a simulated-time
  limit; a caller's own rule (the replay's loop detector) stops the run with
  :meth:`RunObserver.stop` and its reason.

The observer only listens: it subscribes to the engine's and the source's public listener
lists and wraps the source's endpoint (refused calls never reach the source's listeners),
and :meth:`RunObserver.detach` undoes all of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .datacloud import ENDPOINT
from .nightly import TARGET_OBJECT
from .processors import PartitionJob, StoppingJob

if TYPE_CHECKING:
    from .apex import AsyncEngine, HttpResponse, Job
    from .datacloud import DataCloudSource

__all__ = ["CallListener", "RunObserver"]

CallListener = Callable[[int | None, Mapping[str, Any]], None]
"""Told of each data call that reached the source: (partition or None, request)."""


class RunObserver:
    """Watches the async engine while a job runs over ``partitions`` partitions.

    ``keep_write_log`` keeps every write in order (the harness's invariants need it; a
    2,000,000-record replay does not). ``execution_cap`` stops the run after that many
    async executions, ``stop_on_refused`` once the source refused a call for the quota,
    ``max_simulated_seconds`` after that much simulated time. Use as a context manager (or
    :meth:`attach` / :meth:`detach`).
    """

    def __init__(self, engine: AsyncEngine, source: DataCloudSource, partitions: int, *,
                 target: str = TARGET_OBJECT, keep_write_log: bool = False,
                 execution_cap: int | None = None, stop_on_refused: bool = False,
                 max_simulated_seconds: float | None = None) -> None:
        self.engine = engine
        self.source = source
        self.partitions = partitions
        self.target = target
        self.keep_write_log = keep_write_log
        self.execution_cap = execution_cap
        self.stop_on_refused = stop_on_refused
        self.max_simulated_seconds = max_simulated_seconds
        self.roots: dict[str, int] = {}
        """Start-script job id -> partition index."""
        self.writes: Counter[str] = Counter()
        """Target record id -> times the job's transactions updated it."""
        self.write_log: list[tuple[int, int | None, str]] = []
        """(execution number, partition, record id) per write, when ``keep_write_log``."""
        self.written = [0] * partitions
        """Record writes per partition."""
        self.calls = [0] * partitions
        """Data calls that reached the source, per partition."""
        self.refused = [0] * partitions
        """Calls refused with REQUEST_LIMIT_EXCEEDED, per partition."""
        self.unattributed_calls = 0
        self.unattributed_refused = 0
        self.errors: Counter[str] = Counter()
        """Rule key -> errors the run's transactions met (caught by the job or not)."""
        self.ends = ["running"] * partitions
        """How each partition's chain ended: ``running``, ``ended`` (or the job's
        ``stop_reason``), ``failed: ERROR_CODE``, ``aborted``."""
        self.outcome: str | None = None
        """Why the run was stopped early (``execution_cap``, ``request_limit_exceeded``,
        ``timeout``, or a caller's reason), None while nobody stopped it."""
        self.call_listeners: list[CallListener] = []
        self.event_listeners: list[Callable[[], None]] = []
        """Called after each engine event, after the observer's own stop rules."""
        self.exec0 = engine.executions
        self.t0 = engine.org.clock.time()
        self._partition: dict[str, int | None] = {}
        self._attached = False
        self._previous: Callable[[str, str, Any], HttpResponse] = source.handle

    # --- attaching ----------------------------------------------------------------------------

    def attach(self) -> RunObserver:
        """Subscribe to the engine and the source."""
        if not self._attached:
            e = self.engine
            e.dml_listeners.append(self._on_dml)
            e.event_listeners.append(self._on_event)
            e.chain_listeners.append(self._on_chain)
            e.error_listeners.append(self._on_error)
            self.source.listeners.append(self._on_call)
            self._previous = e.endpoints.get(ENDPOINT, self.source.handle)
            e.register_endpoint(ENDPOINT, self._handle)
            self._attached = True
        return self

    def detach(self) -> None:
        """Unsubscribe everything :meth:`attach` subscribed (safe to call twice)."""
        if self._attached:
            e = self.engine
            e.dml_listeners.remove(self._on_dml)
            e.event_listeners.remove(self._on_event)
            e.chain_listeners.remove(self._on_chain)
            e.error_listeners.remove(self._on_error)
            self.source.listeners.remove(self._on_call)
            e.register_endpoint(ENDPOINT, self._previous)  # what was there before attach
            self._attached = False

    def __enter__(self) -> RunObserver:
        return self.attach()

    def __exit__(self, *_: Any) -> None:
        self.detach()

    # --- attribution --------------------------------------------------------------------------

    def add_roots(self, job_ids: list[str], partitions: list[int]) -> None:
        """Record the start script's jobs: ``job_ids[i]`` starts partition ``partitions[i]``."""
        self.roots.update(zip(job_ids, partitions))

    def partition_of(self, job: Job | None) -> int | None:
        """The partition ``job`` works for (see the module docstring), or None.

        Worked out once per job and remembered: it is asked for every write and every
        data call (V1 makes hundreds of thousands), and a job's partition never changes.
        """
        if job is None:
            return None
        known = self._partition
        if job.id in known:
            return known[job.id]
        p: int | None = None
        inst = job.instance
        if isinstance(inst, PartitionJob) and isinstance(inst.partition, int) and (
                0 <= inst.partition < self.partitions):
            p = inst.partition
        else:
            jobs = self.engine.jobs
            root = job
            while root.parent_id is not None and root.parent_id in jobs:
                root = jobs[root.parent_id]
            p = self.roots.get(root.id)
        known[job.id] = p
        return p

    # --- what the run did -----------------------------------------------------------------------

    @property
    def executions(self) -> int:
        """Async executions since the observer was made."""
        return self.engine.executions - self.exec0

    @property
    def capped(self) -> bool:
        """True once the run made ``execution_cap`` async executions: it is stopped
        there, so the report's count and the cap agree (it used to run one more)."""
        return self.execution_cap is not None and self.executions >= self.execution_cap

    @property
    def refused_total(self) -> int:
        """Calls refused for the quota, attributed or not."""
        return sum(self.refused) + self.unattributed_refused

    def executions_by_partition(self) -> list[int]:
        """Async executions per partition, from the jobs' states: one per Queueable
        that ran (or was running when the run was stopped); for a batch job its start,
        each chunk, and its finish."""
        out = [0] * self.partitions
        for job in self.engine.jobs.values():
            p = self.partition_of(job)
            if p is None:
                continue
            if job.job_type == "BatchApex":
                out[p] += 1 + job.processed + (job.status == "Completed")
            else:
                # "Processing": it ran, and the run was stopped before its final state
                # (the execution cap): counted, so the per-partition counts add up to
                # the total the report prints.
                out[p] += job.status in ("Completed", "Failed", "Processing")
        return out

    def failures(self) -> list[str]:
        """``partition N: ERROR_CODE: message`` for each failed job of a partition."""
        out = []
        for job in self.engine.jobs.values():
            p = self.partition_of(job)
            if p is not None and job.status == "Failed" and job.error is not None:
                out.append(f"partition {p}: {job.error.error_code}: {job.error.message}")
        return out

    def stop(self, outcome: str) -> None:
        """Stop the run after the current event, for ``outcome`` (the first reason wins)."""
        if self.outcome is None:
            self.outcome = outcome
            self.engine.stop()

    def abort_unfinished(self) -> None:
        """Abort every unfinished job (the team's emergency stop) and mark the partitions
        still running as ``aborted``."""
        self.engine.abort_all()
        self.ends = ["aborted" if e == "running" else e for e in self.ends]

    # --- listeners ------------------------------------------------------------------------------

    def _on_dml(self, sobject: str, op: str, ids: list[str]) -> None:
        if op not in ("update", "upsert") or sobject != self.target:
            return
        self.writes.update(ids)
        p = self.partition_of(self.engine.current)
        if p is not None:
            self.written[p] += len(ids)
        if self.keep_write_log:
            n = self.executions
            self.write_log.extend((n, p, rid) for rid in ids)

    def _on_error(self, job: Job | None, rule: str) -> None:
        self.errors[rule] += 1

    def _on_call(self, api: str, request: Mapping[str, Any], rows: int) -> None:
        p = self.partition_of(self.engine.current)
        if p is None:
            self.unattributed_calls += 1
        else:
            self.calls[p] += 1
        for listener in self.call_listeners:
            listener(p, request)

    def _handle(self, method: str, path: str, body: Any) -> HttpResponse:
        res = self._previous(method, path, body)
        if res.status_code == 403:
            p = self.partition_of(self.engine.current)
            if p is None:
                self.unattributed_refused += 1
            else:
                self.refused[p] += 1
        return res

    def _on_chain(self, job: Job, children: int) -> None:
        if children:
            return
        p = self.partition_of(job)
        if p is None:
            return
        if job.status == "Failed" and job.error is not None:
            self.ends[p] = f"failed: {job.error.error_code}"
        else:
            reason = job.instance.stop_reason if isinstance(job.instance, StoppingJob) else None
            self.ends[p] = reason or "ended"

    def _on_event(self) -> None:
        if self.capped:
            self.stop("execution_cap")
        elif self.stop_on_refused and self.source.refused:
            self.stop("request_limit_exceeded")
        elif (self.max_simulated_seconds is not None and
              self.engine.org.clock.time() - self.t0 > self.max_simulated_seconds):
            self.stop("timeout")
        for listener in self.event_listeners:
            listener()
