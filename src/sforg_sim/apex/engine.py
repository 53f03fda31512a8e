"""The async Apex engine: a discrete-event loop on the org's SimClock.

Events are ``(time, seq, fn)`` in a priority queue; :meth:`AsyncEngine.run` pops them in
time order, moves the SimClock to each event's time and runs it. An async transaction
(a Queueable, a batch ``start``/``execute``/``finish`` or a scheduled ``execute``) runs
atomically at its start time; its simulated duration (the :mod:`.costs` model) delays what
follows it: its completion, its chained jobs, the next chunk. Independent jobs (the team's
10 partitions) overlap in simulated time, as on a real org.

Deviations (documented for the README fidelity table):

- A transaction's reads and writes happen at its start instant (audit stamps carry that
  time); Salesforce commits at the end. Parallel transactions never interleave.
- No worker-thread cap: every queued Queueable starts after ``costs.job_start``; batch jobs
  obey the 5-active / 100-Holding flex queue rules. Batch chunks run one after another.
- A Python exception that is not a :class:`~sforg_sim.errors.SalesforceError` (a bug in a
  port) marks the job Failed *and* propagates out of :meth:`run`, so it is not hidden;
  Salesforce errors (including uncatchable LimitExceptions) fail the job as in Apex.
  Compiled Apex jobs (``apexlang/jobs.py``) turn a bug of the simulator met while their
  code runs into such an error (``apexlang.errors.InternalError``, "Internal error in
  sforg-sim: ...; please report"), so the job fails with that message instead.
- ``enqueue_job``/``execute_batch`` called on the engine from Python (outside any
  transaction) are not counted against the 50-per-transaction limit; use
  :meth:`execute_anonymous` for the real synchronous limits.
- DailyAsyncApexExecutions: each Queueable, batch start, chunk, finish and scheduled
  execute counts one; over the limit the execution fails with an AsyncException.

Rules modelled here, with their sources:

- Scheduled Apex runs with the synchronous governor limits (50 ``enqueue_job`` calls, 100
  SOQL queries, 10 s CPU) yet counts as an async execution: "Although scheduled Apex is an
  asynchronous feature, synchronous limits apply to scheduled Apex jobs" (Apex Developer
  Guide, "Execution Governors and Limits",
  https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/pages/apex_gov_limits.htm).
- Developer Edition Queueable chains: "The maximum stack depth for chained jobs is 5, which
  means that you can chain jobs four times. The maximum number of jobs in the chain is 5,
  including the initial parent queueable job" (Apex Developer Guide, "Queueable Apex",
  https://developer.salesforce.com/docs/atlas.en-us.254.0.apexcode.meta/apexref/apex_queueing_jobs.htm).
  A chain's first job has depth 1, so the fifth job's ``enqueue_job`` fails.
- Schedules are rows (issue 15). ``System.schedule`` writes a CronTrigger and its
  CronJobDetail (Name, JobType ``'7'``, Scheduled Apex) inside the calling transaction, so
  the transaction itself can query them, and arms the schedule when that transaction
  commits: one that fails leaves no schedule and no row (as an enqueued Queueable leaves no
  job). Each fire sets TimesTriggered, PreviousFireTime, StartTime and NextFireTime, State
  EXECUTING while the job runs, then WAITING (COMPLETE with EndTime when the expression
  has no later time), and writes the fire's AsyncApexJob row with CronTriggerId ("The ID of
  the CronTrigger for the AsyncApexJob. This field only applies to ScheduledApex job type",
  Object Reference, "AsyncApexJob"). ``System.abortJob`` on a CronTrigger id deletes both
  rows (rolled back with a failing transaction; the schedule stops when it commits).
  Apex Developer Guide, "Apex Scheduler"
  (https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_scheduler.htm):
  "The name for the job must be unique among the jobs scheduled for execution. If you
  attempt to schedule another job with the same name, you see the error
  System.AsyncException: The Apex job named "jobName" is already scheduled for execution";
  and "You can only have 100 scheduled Apex jobs at one time ... You can also
  programmatically query the CronTrigger and CronJobDetail objects to get the count"
  (:data:`MAX_SCHEDULED_JOBS`; 5 in Developer Edition, per "Execution Governors and
  Limits"; counted over the rows whose schedule has not ended, this transaction's own
  included). The guide gives no text for the second error; the
  one used, "You have exceeded the maximum number (100) of Apex scheduled jobs.", is the
  platform's as measured and published in a public Apex project's limits table.
  Deviations: TimeZoneSidKey is always ``GMT`` (the simulator's cron times are UTC); the
  schedule itself (the Schedulable instance) lives in memory, so an org reopened from a
  file keeps its CronTrigger rows but they no longer fire.
- Every error a transaction meets (caught by the job's code or not) is reported, by rule
  (:mod:`.rules`), to :attr:`AsyncEngine.error_listeners`, so a replay can say why a job
  misbehaved even when its own ``catch`` hid the exception.
"""

from __future__ import annotations

import copy
import gc
import heapq
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from .. import ids
from ..clock import format_datetime
from ..errors import AsyncException, LimitException, NotFound, SalesforceError, UsageError
from .context import (
    Batchable,
    Context,
    HttpResponse,
    QueryLocator,
    Queueable,
    Schedulable,
    Stateful,
)
from .costs import DEFAULT_COSTS, CostModel
from .cron import CronExpression
from .faults import FaultSchedule
from .governor import ASYNC_LIMITS, SYNC_LIMITS, Governor, LimitBreach
from .records import CronRows, JobRows

if TYPE_CHECKING:
    from ..core import OrgCore

__all__ = ["MAX_ACTIVE_BATCHES", "MAX_FLEX_QUEUE", "MAX_SCHEDULED_JOBS", "AsyncEngine", "Job"]

MAX_ACTIVE_BATCHES = 5
MAX_FLEX_QUEUE = 100
MAX_SCHEDULED_JOBS = 100
"""Scheduled Apex jobs at one time (Apex Developer Guide, "Apex Scheduler": "You can only
have 100 scheduled Apex jobs at one time"; "Execution Governors and Limits", Lightning
Platform Apex Limits: "Maximum number of Apex classes scheduled concurrently: 100. In
Developer Edition orgs, the limit is 5")."""
DEV_MAX_SCHEDULED_JOBS = 5
MAX_LOCATOR_ROWS = 50_000_000
MAX_SCOPE_LOCATOR = 2_000
DEV_CHAIN_DEPTH = 5
FINAL = frozenset(("Completed", "Failed", "Aborted"))
COMMIT_EVERY = 64
"""Events per SQLite transaction in :meth:`AsyncEngine.run` (bounds the rollback journal)."""
GC_GEN0_THRESHOLD: int | None = 100_000
"""CPython's first garbage-collector threshold while :meth:`AsyncEngine.run` runs (issue 21).

Not a Salesforce rule: interpreter overhead. Each 500-record page builds a few thousand
short-lived dicts (records, changes, results). At CPython's default of 700 allocations,
collections run in the middle of a page, promote its live working set to the old
generation, and that triggers full collections of the whole heap (the org's schema, the
parsers, every Job): measured at 2,000,000 records, 36 full collections costing 5.0 s of a
69 s replay on a loaded machine (3.4 s of 33.5 s on a quieter one). At 100,000 a page's
objects are mostly gone before a collection looks, and no full collection runs at all.
Reference cycles are still collected (at most 100,000 allocations later); the previous
thresholds come back when ``run`` returns. ``None`` leaves the thresholds alone."""

_gc_lock = threading.Lock()
_gc_depth = 0
_gc_saved: tuple[int, int, int] = gc.get_threshold()


def _fewer_collections() -> None:
    """Raise the first GC threshold to :data:`GC_GEN0_THRESHOLD` (never lower it) for the
    outermost of nested or concurrent runs (serve runs the loop in a thread); pair with
    :func:`_usual_collections`."""
    global _gc_depth, _gc_saved
    with _gc_lock:
        _gc_depth += 1
        if _gc_depth == 1:
            _gc_saved = gc.get_threshold()
            target = GC_GEN0_THRESHOLD
            if target is not None and target > _gc_saved[0]:
                gc.set_threshold(target, *_gc_saved[1:])


def _usual_collections() -> None:
    """Put the caller's thresholds back when the last run ends."""
    global _gc_depth
    with _gc_lock:
        _gc_depth -= 1
        if _gc_depth == 0:
            gc.set_threshold(*_gc_saved)


def first_error(err: SalesforceError) -> str:
    """AsyncApexJob.ExtendedStatus for a failed execution, one format for every job type
    (Queueable, Future, BatchApex, ScheduledApex): ``First error: <message>``. The Object
    Reference ("AsyncApexJob", ExtendedStatus: "If one or more errors occurred during the
    batch processing, this contains a short description of the first error",
    https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_asyncapexjob.htm)
    gives no format; the one batch jobs show on the platform is "First error: " and the
    exception's message without its type (observed, e.g. "First error: Update failed.
    First exception on row 0 with id ...; first error: CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY,
    ..." quoted at force201.wordpress.com, "Apex Jobs error reporting"), a limit too
    ("First error: Too many SOQL queries: 101"). sforg-sim uses it for the other job types
    as well (their format is undocumented), so a CPU breach in a future reads as one in a
    queueable. Cut to the field's 255 characters."""
    return f"First error: {err.message}"[:255]


_SELECT = re.compile(r"^\s*SELECT\s+(.+?)\s+FROM\s+(\w+)", re.IGNORECASE | re.DOTALL)


@dataclass
class Job:
    """The engine's record of one async job (mirrored in its AsyncApexJob row)."""

    id: str
    job_type: str
    instance: Any
    status: str
    depth: int = 0
    parent_id: str | None = None
    scope: int = 0
    chunks: list[list[Any]] = field(default_factory=list)
    next_chunk: int = 0
    reread: tuple[str, str] | None = None  # (select list, sObject) for QueryLocator jobs
    snapshot: Any = None
    processed: int = 0
    errors: int = 0
    extended_status: str | None = None
    error: SalesforceError | None = None


@dataclass
class _Trigger:
    """One schedule (its rows are CronTrigger ``id`` and its CronJobDetail)."""

    id: str
    name: str
    cron: CronExpression
    instance: Schedulable
    active: bool = True
    times: int = 0


class AsyncEngine:
    """Runs Batchable, Queueable and Schedulable jobs on ``org`` in simulated time."""

    def __init__(self, org: OrgCore, costs: CostModel = DEFAULT_COSTS,
                 faults: FaultSchedule | None = None, log_size: int = 10_000) -> None:
        self.org = org
        self.costs = costs
        self.faults = faults or FaultSchedule()
        self.rows = JobRows(org)
        self.cron_rows = CronRows(org)
        self.jobs: dict[str, Job] = {}
        self.flex_queue: deque[str] = deque()
        self.triggers: dict[str, _Trigger] = {}
        self.endpoints: dict[str, Callable[[str, str, Any], HttpResponse]] = {}
        self.log: deque[tuple[str, str | None, str]] = deque(maxlen=log_size)
        self.executions = 0
        self.max_locator_rows = MAX_LOCATOR_ROWS
        self.dml_listeners: list[Callable[[str, str, list[str]], None]] = []
        self.event_listeners: list[Callable[[], None]] = []
        self.chain_listeners: list[Callable[[Job, int], None]] = []
        """Called when a Queueable finishes with (job, number of children it enqueued)."""
        self.error_listeners: list[Callable[[Job | None, str], None]] = []
        """Called with (job, rule key) for each error a transaction met, caught or not."""
        self.current: Job | None = None
        """The job whose transaction is running (None outside transactions)."""
        self._heap: list[tuple[float, int, bool, Callable[[], None]]] = []
        self._seq = 0
        self._live = 0  # events that are not cron fires
        self._stop = False

    # --- configuration ----------------------------------------------------------------------

    def register_endpoint(self, prefix: str,
                          handler: Callable[[str, str, Any], HttpResponse]) -> None:
        """Route callouts whose endpoint starts with ``prefix`` (``callout:DataCloud``)."""
        self.endpoints[prefix] = handler

    def route_callout(self, method: str, endpoint: str, body: Any) -> HttpResponse:
        """Send a callout to its handler; unknown endpoints get a 404 response."""
        for prefix, handler in self.endpoints.items():
            if endpoint.startswith(prefix):
                return handler(method, endpoint[len(prefix):], body)
        return HttpResponse(404, [{"errorCode": "NOT_FOUND",
                                   "message": f"No endpoint registered for {endpoint}"}])

    # --- event loop -------------------------------------------------------------------------

    def at(self, when: float, fn: Callable[[], None], *, daemon: bool = False) -> None:
        """Schedule ``fn`` at simulated time ``when``; daemons (cron) do not keep it busy."""
        self._seq += 1
        if not daemon:
            self._live += 1
        heapq.heappush(self._heap, (when, self._seq, daemon, fn))

    def stop(self) -> None:
        """Make :meth:`run` return after the current event (replays use it)."""
        self._stop = True

    def run(self, until: float | None = None, max_events: int | None = None) -> int:
        """Run events up to simulated time ``until`` (then set the clock there).

        Without ``until``, runs until no job work is left (cron schedules alone do not keep
        it running). Returns the number of events run.
        """
        clock = self.org.clock
        n = 0
        self._stop = False
        heap = self._heap
        # Apex transactions are savepoints inside SQLite transactions of up to
        # COMMIT_EVERY events: a COMMIT costs milliseconds even in memory, more than a
        # whole 500-record page of work. Results are the same (each Apex transaction
        # still rolls back alone); everything is committed when run() returns, or earlier
        # when the org is saved or closed. Another connection to an org file sees the
        # changes at those commits, and a killed process loses the uncommitted events.
        store = self.org.store
        batches = store.batches(COMMIT_EVERY)
        _fewer_collections()
        try:
            while heap and not self._stop:
                when, _, daemon, fn = heap[0]
                if until is not None and when > until:
                    break
                if until is None and self._live == 0:
                    break
                if max_events is not None and n >= max_events:
                    break
                heapq.heappop(heap)
                if not daemon:
                    self._live -= 1
                if when > clock.time():
                    clock.set(when)
                with self.org.lock, batches.unit():
                    fn()
                n += 1
                for listener in self.event_listeners:
                    listener()
        finally:
            _usual_collections()
            with self.org.lock:
                store.end_batch()
        if until is not None and not self._stop and clock.time() < until:
            clock.set(until)
        return n

    def run_until_idle(self, max_events: int | None = None) -> int:
        """Run until every queued job has finished (cron schedules keep waiting)."""
        return self.run(None, max_events)

    @property
    def idle(self) -> bool:
        """True when no job work is pending."""
        return self._live == 0

    # --- transactions -----------------------------------------------------------------------

    def _transaction(self, job: Job | None, fn: Callable[[Context], None], *,
                     is_async: bool = True, sync_limits: bool = False
                     ) -> tuple[Context, SalesforceError | None]:
        """Run ``fn(ctx)`` as one Apex transaction; roll back on failure.

        ``is_async`` counts the execution toward DailyAsyncApexExecutions;
        ``sync_limits`` gives an async execution the synchronous governor limits
        (scheduled Apex).
        """
        sync = sync_limits or not is_async
        gov = Governor(SYNC_LIMITS if sync else ASYNC_LIMITS, self.costs)
        ctx = Context(self, gov, job.id if job else None, is_async=is_async)
        ctx.depth = job.depth if job else 0
        err: SalesforceError | None = None
        if is_async:
            if not self.org.org_limits.charge_async_execution():
                return ctx, AsyncException("Daily async Apex executions limit exceeded")
            self.executions += 1
        self.current = job
        with self.org.store.savepoint() as sp:
            try:
                fn(ctx)
                if gov.breach is not None:
                    raise LimitBreach(gov.breach)
            except LimitBreach as b:
                err = b.error
            except SalesforceError as e:
                err = gov.breach or e
            except BaseException:
                self.current = None
                if job is not None:
                    sp.rollback()
                    self._final(job, "Failed", "unhandled Python exception (see traceback)")
                raise
            if err is None and gov.breach is not None:
                err = gov.breach
            if err is not None:
                sp.rollback()
                ctx.enqueued.clear()
                ctx.written.clear()
        if err is not None:
            ctx.note(err)  # an uncaught error not seen yet (a limit, a port's own raise)
        if ctx.errors:
            for key in ctx.errors:
                for elistener in self.error_listeners:
                    elistener(job, key)
        for sobject, op, written in ctx.written:
            for listener in self.dml_listeners:
                listener(sobject, op, written)
        self.current = None
        if is_async:
            self.faults.between_executions(self)
        return ctx, err

    def _commit_enqueued(self, ctx: Context, parent: Job | None) -> None:
        """Start what the committed transaction asked for, in the order it asked."""
        for e in ctx.enqueued:
            if e.kind == "queueable":
                self._submit_queueable(e.job_id, cast(Queueable, e.job), parent)
            elif e.kind == "batch":
                self._submit_batch(e.job_id, cast(Batchable, e.job), e.scope, parent)
            elif e.kind == "schedule":
                self._start_trigger(cast(_Trigger, e.detail))
            else:  # "unschedule": its rows are already gone with the commit
                self._stop_trigger(e.job_id)

    def execute_anonymous(self, fn: Callable[[Context], Any]) -> Any:
        """Run ``fn(ctx)`` now as a synchronous transaction (Execute Anonymous).

        Sync governor limits apply (50 ``enqueue_job`` calls, 100 SOQL ...). A failure
        rolls back and raises; jobs it enqueued are submitted when it succeeds.
        """
        out: list[Any] = []
        ctx, err = self._transaction(None, lambda c: out.append(fn(c)), is_async=False)
        if err is not None:
            raise err
        self._commit_enqueued(ctx, None)
        return out[0] if out else None

    # --- jobs ---------------------------------------------------------------------------------

    def reserve_job_id(self) -> str:
        """A fresh AsyncApexJob id (the row is written when the job is submitted)."""
        return self.rows.new_id()

    def job(self, job_id: str) -> Job:
        """The engine's record of a job (NOT_FOUND for unknown ids)."""
        try:
            return self.jobs[ids.to18(job_id)]
        except KeyError:
            raise NotFound(f"No such job: {job_id}") from None

    def check_depth(self, depth: int) -> None:
        """Developer Edition caps Queueable chains at depth 5 (5 jobs, the first at depth
        1: see the module docstring)."""
        if self.org.edition == "developer" and depth > DEV_CHAIN_DEPTH:
            raise AsyncException("Maximum stack depth has been reached.")

    @staticmethod
    def check_scope(scope: int) -> None:
        """Batch scope must be a whole number >= 1."""
        if isinstance(scope, bool) or not isinstance(scope, int) or scope < 1:
            raise AsyncException(f"The scope must be greater than zero: {scope!r}")

    def _final(self, job: Job, status: str, extended: str | None = None) -> None:
        job.status = status
        if extended and not job.extended_status:
            job.extended_status = extended[:255]
        self.rows.update(job.id, Status=status, CompletedDate=self.org.clock.stamp(),
                         JobItemsProcessed=job.processed, TotalJobItems=len(job.chunks),
                         NumberOfErrors=job.errors, ExtendedStatus=job.extended_status)
        if job.job_type == "BatchApex":
            self._promote()

    # --- Queueable ----------------------------------------------------------------------------

    def enqueue_job(self, job: Queueable) -> str:
        """``System.enqueueJob`` from Python (outside a transaction); returns the job id."""
        job_id = self.reserve_job_id()
        self._submit_queueable(job_id, job, None)
        return job_id

    def _submit_queueable(self, job_id: str, inst: Queueable, parent: Job | None) -> None:
        # The first job of a chain is depth 1: "The maximum number of jobs in the chain is
        # 5, including the initial parent queueable job".
        depth = parent.depth + 1 if parent and parent.job_type == "Queueable" else 1
        kind = getattr(inst, "job_type", "Queueable")  # "Future": apexlang's @future calls
        job = Job(job_id, kind, inst, "Queued", depth, parent.id if parent else None)
        self.jobs[job_id] = job
        self.rows.create(job_id, kind, inst.class_name(), "Queued")
        self.at(self.org.clock.time() + self.costs.job_start, lambda: self._run_queueable(job))

    def _run_queueable(self, job: Job) -> None:
        if job.status != "Queued":
            return
        job.status = "Processing"
        self.rows.update(job.id, Status="Processing")
        ctx, err = self._transaction(job, job.instance.execute)
        self.at(self.org.clock.time() + ctx.governor.elapsed,
                lambda: self._end_queueable(job, ctx, err))

    def _end_queueable(self, job: Job, ctx: Context, err: SalesforceError | None) -> None:
        if job.status == "Aborted":
            return
        if err is not None:
            job.errors = 1
            job.error = err
            self._final(job, "Failed", first_error(err))
            for listener in self.chain_listeners:
                listener(job, 0)
            return
        self._final(job, "Completed")
        self._commit_enqueued(ctx, job)
        for listener in self.chain_listeners:
            listener(job, sum(1 for e in ctx.enqueued if e.kind == "queueable"))

    # --- Batchable ----------------------------------------------------------------------------

    def execute_batch(self, job: Batchable, scope: int = 200) -> str:
        """``Database.executeBatch(job, scope)`` from Python; returns the job id.

        Raises AsyncException when 5 batch jobs are active and 100 are already Holding.
        """
        self.check_scope(scope)
        job_id = self.reserve_job_id()
        self._submit_batch(job_id, job, scope, None)
        return job_id

    def _active_batches(self) -> int:
        return sum(1 for j in self.jobs.values() if j.job_type == "BatchApex"
                   and j.status in ("Queued", "Preparing", "Processing"))

    def _submit_batch(self, job_id: str, inst: Batchable, scope: int,
                      parent: Job | None) -> None:
        active = self._active_batches() < MAX_ACTIVE_BATCHES and not self.flex_queue
        if not active and len(self.flex_queue) >= MAX_FLEX_QUEUE:
            raise AsyncException(
                f"You've exceeded the limit of 100 jobs in the flex queue for org "
                f"{self.org.org_id[:15]}. Wait for some of your batch jobs to finish before "
                "adding more. To monitor and reorder jobs, use the Apex Flex Queue page in "
                "Setup.")
        job = Job(job_id, "BatchApex", inst, "Queued" if active else "Holding", 0,
                  parent.id if parent else None, scope)
        self.jobs[job_id] = job
        self.rows.create(job_id, "BatchApex", inst.class_name(), job.status)
        if active:
            self._queue_batch(job)
        else:
            self.flex_queue.append(job_id)

    def _queue_batch(self, job: Job) -> None:
        self.at(self.org.clock.time() + self.costs.job_start, lambda: self._start_batch(job))

    def _promote(self) -> None:
        while self.flex_queue and self._active_batches() < MAX_ACTIVE_BATCHES:
            job = self.jobs[self.flex_queue.popleft()]
            job.status = "Queued"
            self.rows.update(job.id, Status="Queued")
            self._queue_batch(job)

    def _start_batch(self, job: Job) -> None:
        if job.status != "Queued":
            return
        job.status = "Preparing"
        self.rows.update(job.id, Status="Preparing")
        inst: Batchable = job.instance

        def start(ctx: Context) -> None:
            result = inst.start(ctx)
            if isinstance(result, QueryLocator):
                self._snapshot_locator(job, result)
            else:
                items = list(_iterable(result))
                job.chunks = [items[i:i + job.scope] for i in range(0, len(items), job.scope)]

        ctx, err = self._transaction(job, start)
        if not isinstance(inst, Stateful):
            job.snapshot = copy.deepcopy(inst)
        end = self.org.clock.time() + ctx.governor.elapsed
        if err is not None:
            job.errors = 1
            job.error = err
            self.at(end, lambda: self._final(job, "Failed", first_error(err)))
            return
        self._commit_enqueued(ctx, job)
        self.at(end, lambda: self._processing(job))

    def _snapshot_locator(self, job: Job, loc: QueryLocator) -> None:
        m = _SELECT.match(loc.soql)
        if m is None:
            from ..errors import MalformedQuery

            raise MalformedQuery(f"QueryLocator needs a SELECT ... FROM query: {loc.soql}")
        rows = self.org.query_records(loc.soql, **loc.binds)
        if len(rows) > self.max_locator_rows:
            raise LimitException(f"Too many query locator rows: {len(rows)}")
        size = min(job.scope, MAX_SCOPE_LOCATOR)
        rids = [r["Id"] for r in rows]
        job.chunks = [rids[i:i + size] for i in range(0, len(rids), size)]
        job.reread = (m.group(1), m.group(2))

    def _processing(self, job: Job) -> None:
        if job.status != "Preparing":
            return
        job.status = "Processing"
        self.rows.update(job.id, Status="Processing", TotalJobItems=len(job.chunks))
        self._next_step(job)

    def _next_step(self, job: Job) -> None:
        fn = self._run_chunk if job.next_chunk < len(job.chunks) else self._finish_batch
        self.at(self.org.clock.time() + self.costs.job_start, lambda: fn(job))

    def _instance(self, job: Job) -> Any:
        return job.instance if job.snapshot is None else copy.deepcopy(job.snapshot)

    def _run_chunk(self, job: Job) -> None:
        if job.status != "Processing":
            return
        chunk = job.chunks[job.next_chunk]
        job.next_chunk += 1
        if job.reread is not None:
            # Each execute re-reads its rows: deleted ones drop out, new ones never enter.
            select, sobject = job.reread
            found = {r["Id"]: r for r in self.org.query_records(
                f"SELECT {select} FROM {sobject} WHERE Id IN :chunk_ids", chunk_ids=chunk)}
            scope = [found[i] for i in chunk if i in found]
        else:
            scope = list(chunk)
        inst = self._instance(job)
        ctx, err = self._transaction(job, lambda c: inst.execute(c, scope))

        def done() -> None:
            if job.status != "Processing":
                return
            job.processed += 1
            if err is not None:
                job.errors += 1
                job.error = job.error or err
                if not job.extended_status:
                    job.extended_status = first_error(err)
            else:
                self._commit_enqueued(ctx, job)
            self.rows.update(job.id, JobItemsProcessed=job.processed,
                             NumberOfErrors=job.errors, ExtendedStatus=job.extended_status)
            self._next_step(job)

        self.at(self.org.clock.time() + ctx.governor.elapsed, done)

    def _finish_batch(self, job: Job) -> None:
        if job.status != "Processing":
            return
        inst = self._instance(job)
        ctx, err = self._transaction(job, inst.finish)

        def done() -> None:
            if job.status != "Processing":
                return
            if err is not None:
                job.errors += 1
                job.extended_status = job.extended_status or first_error(err)
            else:
                self._commit_enqueued(ctx, job)
            self._final(job, "Completed")

        self.at(self.org.clock.time() + ctx.governor.elapsed, done)

    # --- Schedulable --------------------------------------------------------------------------

    def schedule(self, name: str, cron: str, job: Schedulable) -> str:
        """``System.schedule(name, cron, job)`` from Python (outside any transaction): the
        rows are written and the schedule armed at once. Returns the CronTrigger id
        (``08e...``). Apex code goes through :meth:`Context.schedule`, which arms it only
        when its transaction commits."""
        trigger = self.new_schedule(name, cron, job)
        self._start_trigger(trigger)
        return trigger.id

    def new_schedule(self, name: str, cron: str, job: Schedulable) -> _Trigger:
        """Check and write a new schedule's CronTrigger and CronJobDetail rows (in the
        running transaction, if any); the schedule is not armed yet (:meth:`_start_trigger`).

        Raises INVALID_CRON_EXPRESSION for a bad expression, and AsyncException for a name
        already scheduled or when 100 scheduled Apex jobs exist (module docstring).
        """
        if not isinstance(name, str) or not isinstance(cron, str):
            raise UsageError("schedule needs a job name and a cron expression (strings)")
        if not isinstance(job, Schedulable):
            # Checked now, not at the first fire: a schedule that cannot run must not be
            # written (it left a CronTrigger stuck in EXECUTING and stopped the engine).
            raise UsageError(f"System.schedule needs a Schedulable job, not "
                             f"{'null' if job is None else type(job).__name__}")
        expr = CronExpression.parse(cron)
        if self.cron_rows.name_taken(name):
            raise AsyncException(
                f'The Apex job named "{name}" is already scheduled for execution')
        cap = DEV_MAX_SCHEDULED_JOBS if self.org.edition == "developer" else MAX_SCHEDULED_JOBS
        if self.cron_rows.live() >= cap:
            # The text as measured for 100; for Developer Edition's 5 the same text with
            # its number is assumed (no source shows that message).
            raise AsyncException(
                f"You have exceeded the maximum number ({cap}) of Apex scheduled jobs.")
        nxt = expr.next_after(self.org.clock.now())
        tid = self.cron_rows.create(name, cron, format_datetime(nxt) if nxt else None)
        return _Trigger(tid, name, expr, job)

    def _start_trigger(self, trigger: _Trigger) -> None:
        """Arm a schedule whose rows are committed."""
        self.triggers[trigger.id] = trigger
        self._arm(trigger)

    def _stop_trigger(self, trigger_id: str) -> None:
        """Forget a schedule whose rows are gone: no further fire."""
        trigger = self.triggers.pop(trigger_id, None)
        if trigger is not None:
            trigger.active = False

    def _arm(self, trigger: _Trigger) -> datetime | None:
        """Queue the next fire after now (a daemon event); returns its time."""
        nxt = trigger.cron.next_after(self.org.clock.now())
        if nxt is not None:
            self.at(nxt.timestamp(), lambda: self._fire(trigger), daemon=True)
        return nxt

    def _fire(self, trigger: _Trigger) -> None:
        if not trigger.active:
            return
        if not self.cron_rows.exists(trigger.id):
            # Its rows went with an abortJob whose transaction has not committed yet
            # (an async job's commit comes when it ends): the schedule is stopping.
            return
        trigger.times += 1
        nxt = self._arm(trigger)
        stamp = self.org.clock.stamp()
        self.cron_rows.update(trigger.id, State="EXECUTING", TimesTriggered=trigger.times,
                              PreviousFireTime=stamp, StartTime=stamp,
                              NextFireTime=format_datetime(nxt) if nxt else None)
        job_id = self.reserve_job_id()
        job = Job(job_id, "ScheduledApex", trigger.instance, "Processing")
        self.jobs[job_id] = job
        self.rows.create(job_id, "ScheduledApex", trigger.instance.class_name(), "Processing",
                         cron_trigger_id=trigger.id)
        def execute(c: Context) -> None:
            c.trigger_id = trigger.id  # SchedulableContext.getTriggerId()
            trigger.instance.execute(c)

        # Async execution (counted), synchronous limits (see the module docstring).
        ctx, err = self._transaction(job, execute, sync_limits=True)

        def done() -> None:
            if err is not None:
                job.errors = 1
                job.error = err
                self._final(job, "Failed", first_error(err))
            else:
                self._final(job, "Completed")
                self._commit_enqueued(ctx, job)
            if nxt is None:
                # "COMPLETE - The trigger has fired and is not scheduled to fire again."
                self.cron_rows.update(trigger.id, State="COMPLETE",
                                      EndTime=self.org.clock.stamp())
                self.triggers.pop(trigger.id, None)
            else:
                self.cron_rows.update(trigger.id, State="WAITING")

        self.at(self.org.clock.time() + ctx.governor.elapsed, done)

    # --- abort and progress ---------------------------------------------------------------------

    def is_schedule(self, job_id: str) -> bool:
        """Whether ``job_id`` names a CronTrigger (``08e...``) rather than an AsyncApexJob."""
        return isinstance(job_id, str) and job_id[:3] == self.cron_rows.trigger.key_prefix

    def unschedule_rows(self, trigger_id: str) -> str:
        """Delete a schedule's CronTrigger and CronJobDetail rows (in the running
        transaction, if any); the 18-character id. NOT_FOUND when there is no such
        schedule (never made, or already aborted)."""
        tid = ids.to18(trigger_id)
        if not self.cron_rows.delete(tid):
            raise NotFound(f"No such job: {trigger_id}")
        return tid

    def abort_job(self, job_id: str) -> bool:
        """``System.abortJob`` from Python: abort a job, or delete a schedule (its rows go
        and it fires no more). False if the job is already final."""
        if self.is_schedule(job_id):
            self._stop_trigger(self.unschedule_rows(job_id))
            return True
        jid = ids.to18(job_id)
        job = self.job(jid)
        if job.status in FINAL:
            return False
        if jid in self.flex_queue:
            self.flex_queue.remove(jid)
        self._final(job, "Aborted")
        return True

    def abort_all(self, class_names: Iterable[str] | None = None) -> int:
        """The team's ``emergency_stop``: abort every unfinished job (of these classes)."""
        wanted = set(class_names) if class_names is not None else None
        n = 0
        for job in list(self.jobs.values()):
            if job.status in FINAL:
                continue
            if wanted is None or job.instance.class_name() in wanted:
                n += self.abort_job(job.id)
        if wanted is None:
            for tid in list(self.triggers):
                self.abort_job(tid)
        return n

    def status_counts(self) -> dict[str, int]:
        """Status -> number of jobs known to the engine."""
        out: dict[str, int] = {}
        for j in self.jobs.values():
            out[j.status] = out.get(j.status, 0) + 1
        return out


def _iterable(result: Any) -> Iterator[Any]:
    if isinstance(result, (str, bytes)) or not isinstance(result, Iterable):
        raise AsyncException(f"start() must return a QueryLocator or an iterable, got "
                             f"{type(result).__name__}")
    return iter(result)
