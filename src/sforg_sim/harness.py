"""Run a processor over one :class:`~sforg_sim.cases.Case`; record everything.

:func:`sforg_sim.replay.replay` answers "what does V2 do to the team's 2,000,000 records";
this module answers the question property-based tests ask: "what did the processor do to
*these* 7 records, split *this* way, when *that* went wrong". A :class:`Run` loads the
case's dataset into a fresh :class:`~sforg_sim.org.Org`, launches the processor over the
partitioning's ranges, injects the fault plan through the engine's public hooks, watches
the run with a :class:`~sforg_sim.observer.RunObserver` (the same one replays use) and
fills a :class:`~sforg_sim.cases.RunRecord`: the in-scope snapshot at start, every write
per record id, the records another user inserted, updated, deleted or re-keyed during the
run, API calls and executions per partition, and how the run ended.
:mod:`sforg_sim.invariants` checks it.

A *target* is what the user points the harness at: a :class:`~sforg_sim.processors.
Processor` (``name`` + ``start(org, parts, page_size)``, e.g. ``KeysetProcessor()``) or a
job factory ``(partition, page_size) -> Queueable | Batchable`` that builds the first job
of one partition (a Batchable is started with ``execute_batch(job, batch_scope)``).
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable, Sequence

from .apex import Batchable, Context, Fault, FaultSchedule, HttpResponse, Queueable
from .apex.faults import FaultKind
from .cases import ALT_KEY_FIELD, KEY_FIELD, Case, Change, Dataset, FaultPlan, RunRecord, sort_key
from .datacloud import ENDPOINT, DataCloudSource
from .errors import UnableToLockRow, UsageError
from .nightly import (
    SOURCE_FIELD,
    SOURCE_OBJECT,
    TARGET_FIELD,
    TARGET_OBJECT,
    TARGET_STAGE,
    Partition,
    source_object_fields,
)
from .observer import RunObserver
from .org import Org
from .processors import Processor
from .schema import Field

__all__ = ["Run", "Target", "run"]

CLOSE_DATE = "2026-03-01"
OTHER_USER = "integration@sim.example.com"

Target = Processor | Callable[[Partition, int], Queueable | Batchable]
"""A Processor, or a factory building the first job of one partition."""


class _PlannedFaults(FaultSchedule):
    """A FaultSchedule firing at exact occurrence numbers, plus planned concurrent DML."""

    def __init__(self, plan: FaultPlan, run: Run) -> None:
        kinds: tuple[tuple[FaultKind, tuple[int, ...]], ...] = (
            ("callout", plan.callouts), ("lock", plan.locks), ("empty", plan.empty))
        faults = [Fault(kind, 0.0, frozenset(float(n) for n in at)) for kind, at in kinds
                  if at]
        super().__init__(faults, 0)
        self.plan = plan
        self.run = run
        self.executions = 0
        self.injected_empty = False
        """Set when the current data call got an injected empty batch (the call log)."""
        self.per_partition: dict[int, int] = {}
        """Data callouts made so far per partition (the plan's per-partition runs)."""
        self.pending_empty = False
        """The current callout's planned answer is an empty batch."""
        self.per_partition_execs: list[int] = []
        """Executions per partition at the last look (relative changes)."""

    def _note(self, kind: str) -> None:
        """Charge a fired fault to the partition whose job met it (the exact budget)."""
        rec = self.run.record
        n = len(rec.calls)
        p = self.run.observer.partition_of(self.run.engine.current)
        per = rec.fired_in.setdefault(kind, [0] * (n + 1))
        per[n if p is None else p] += 1

    def _run_answer(self, endpoint: str) -> str | None:
        """This data callout's answer from the plan's per-partition runs, if any."""
        if not self.plan.runs or not endpoint.startswith(ENDPOINT):
            return None
        p = self.run.observer.partition_of(self.run.engine.current)
        n = len(self.run.case.partitioning.parts)
        if p is None or not n:
            return None
        k = self.per_partition.get(p, 0)
        self.per_partition[p] = k + 1
        for q, after, answers in self.plan.runs:
            if q % n == p and after <= k < after + len(answers):
                return answers[k - after]
        return None

    def on_callout(self, ctx: Context, endpoint: str) -> HttpResponse | None:
        """The planned 503, noted per partition (it never reaches the source)."""
        self.pending_empty = False
        answer = self._run_answer(endpoint)
        if answer == "empty":
            self.pending_empty = True  # the source answers it empty (empty_page)
        if answer == "503":
            self.fired["callout"] = self.fired.get("callout", 0) + 1
            res: HttpResponse | None = HttpResponse(503, [{
                "errorCode": "SERVICE_UNAVAILABLE", "message": "Service temporarily unavailable"}])
        else:
            res = super().on_callout(ctx, endpoint)
        if res is not None:
            self._note("callout")
            if endpoint.startswith(ENDPOINT):
                self.run.record.call_log.append(
                    (self.run.observer.partition_of(self.run.engine.current), "503 fault",
                     ""))
        return res

    def before_dml(self, ctx: Context, sobject: str, op: str) -> None:
        """The planned UNABLE_TO_LOCK_ROW, noted per partition."""
        try:
            super().before_dml(ctx, sobject, op)
        except UnableToLockRow:
            self._note("lock")
            # In the call log too: the page just read was not processed, so for the
            # empty-batch stop rule it does not break a streak (invariants.cut_short).
            p = self.run.observer.partition_of(self.run.engine.current)
            self.run.record.call_log.append((p, "lock fault", ""))
            if p is not None and p < len(self.run.record.locked_rows):
                # Every page this transaction read is read again on the retry (one
                # for a one-page job; all of them for a job reading several pages
                # before its update): rows for reads_once, calls for the budget.
                self.run.record.locked_rows[p] += self.run.txn_rows.get(p, 0)
                self.run.record.lock_calls[p] += max(1, self.run.txn_calls.get(p, 0))
            raise

    def empty_page(self) -> bool:
        """The planned transient empty batch, noted per partition and in the call log."""
        empty = super().empty_page()
        if self.pending_empty:
            self.pending_empty = False
            self.fired["empty"] = self.fired.get("empty", 0) + 1
            empty = True
        if empty:
            self._note("empty")
            self.injected_empty = True
        return empty

    def between_executions(self, engine: object) -> None:
        """Apply the changes planned after this execution: counted over the whole run,
        or (``Change.relative``) over the executions of the change's partition."""
        self.executions += 1
        self.run.txn_rows.clear()  # a new transaction begins
        self.run.txn_calls.clear()
        relative = [c for c in self.plan.changes if c.relative and c.after > 0]
        per: list[int] = []
        ran: set[int] = set()
        if relative:
            obs = self.run.observer
            # The job that just ran is still "Processing" here (its final state comes
            # after this hook); executions_by_partition counts it, so its partition is
            # the one whose count moved.
            per = obs.executions_by_partition()
            ran = {q for q, n in enumerate(per)
                   if n > (self.per_partition_execs[q] if q < len(self.per_partition_execs)
                           else 0)}
            self.per_partition_execs = per
        for change in self.plan.changes:
            if not (change.relative and change.after > 0):
                if change.after == self.executions:
                    self.run.apply(change)
                continue
            p = self.run.case.index_of(change.key)
            if p is None:
                due = change.after == self.executions
            else:
                due = p in ran and per[p] == change.after
            if due:
                self.run.apply(change)


class Run:
    """A prepared run: org loaded, source attached, observer on; step it or finish it.

    :func:`run` is ``Run(...).launch()`` then :meth:`finish`; the stateful tests drive
    :meth:`step` and :meth:`apply` themselves.
    """

    def __init__(self, target: Target, case: Case, execution_cap: int | None = None) -> None:
        self.target = target
        self.case = case
        ds, cfg = case.dataset, case.config
        self.org = org = Org(edition=cfg.edition, licenses=cfg.licenses)
        self.engine = engine = org.apex
        self.key_field = kf = ds.key_field
        _load(org, ds)
        [other] = org.insert("User", [{"Username": OTHER_USER, "LastName": "Integration",
                                       "Email": OTHER_USER}])
        self.other_user = other["id"]
        self.faults = _PlannedFaults(case.faults, self)
        engine.faults = self.faults
        self.source = DataCloudSource(org, charge_api=True, unstable_order=cfg.unstable_order,
                                      segment_rows=cfg.segment_rows, max_offset=cfg.max_offset,
                                      seed=cfg.seed, faults=self.faults,
                                      case_sensitive=cfg.source_case_sensitive).attach(engine)
        remaining = [r for r in (cfg.api_remaining, None if case.faults.quota_at is None
                                 else case.faults.quota_at - 1) if r is not None]
        if remaining:
            org.set_api_remaining(max(0, min(remaining)))
        parts = case.partitioning.parts
        start = {r[0]: (r[1], r[2]) for r in org.store.select(
            org.schema.get(TARGET_OBJECT), ["Id", kf, TARGET_FIELD], '"IsDeleted" = 0')}
        scope = {rid: i for rid, (key, _) in start.items()
                 if (i := case.index_of(key)) is not None}
        n = len(parts)
        self.record = RunRecord(case, kf, start, scope, ds.source(), calls=[0] * n,
                                refused=[0] * n, executions=[0] * n)
        sizes = Counter(scope.values())
        # Generous (three times what a sensible processor needs) yet small, so a looping
        # processor is stopped quickly: hypothesis replays it many times while shrinking.
        self.record.execution_cap = execution_cap or 30 + 3 * (sum(
            -(-sizes[p.index] // max(1, min(cfg.page_size, cfg.batch_scope))) + 5
            for p in parts) + 2 * case.faults.size())
        self.observer = RunObserver(engine, self.source, n, keep_write_log=True,
                                    execution_cap=self.record.execution_cap).attach()
        # The record shares the observer's live counters, so a stepped run reads them.
        rec = self.record
        rec.writes, rec.write_log = self.observer.writes, self.observer.write_log
        rec.calls, rec.refused = self.observer.calls, self.observer.refused
        rec.rejected = [0] * n
        rec.reads = [Counter() for _ in range(n)]
        rec.locked_rows = [0] * n
        rec.lock_calls = [0] * n
        rec.lookahead_rows = [0] * n
        rec.batch_scope = [None] * n
        self.txn_rows: dict[int, int] = {}
        """Rows each partition's current transaction has read (read again if its update
        hits a row lock); reset between executions."""
        self.txn_calls: dict[int, int] = {}
        """Data calls each partition's current transaction made that reached the
        source; reset between executions."""
        self._rejected_unattributed = 0
        # Log every answer of the source per partition: the observer's own handler
        # (which counts refused calls) stays underneath, this one only reads answers.
        inner = engine.endpoints[ENDPOINT]

        def logged(method: str, path: str, body: object) -> HttpResponse:
            self.faults.injected_empty = False
            res = inner(method, path, body)
            p = self.observer.partition_of(engine.current)
            if res.status_code == 403:
                outcome = "refused"
            elif res.status_code >= 400:
                outcome = "rejected"
                if p is None:
                    self._rejected_unattributed += 1
                else:
                    rec.rejected[p] += 1
                if len(rec.rejections) < 3:
                    err = res.body[0] if isinstance(res.body, list) and res.body else {}
                    code = err.get("errorCode", "") if isinstance(err, dict) else ""
                    msg = err.get("message", res.body) if isinstance(err, dict) else res.body
                    rec.rejections.append(f"partition {p}: HTTP {res.status_code} "
                                          f"{code}: {msg}")
            elif self.faults.injected_empty:
                outcome = "empty fault"
            else:
                data = res.body.get("data") if isinstance(res.body, dict) else None
                outcome = "rows" if data else "empty"
                if p is not None:
                    self.txn_rows[p] = self.txn_rows.get(p, 0) + (
                        len(data) if isinstance(data, list) else 0)
                    self.txn_calls[p] = self.txn_calls.get(p, 0) + 1
                if isinstance(data, list) and p is not None:
                    # Rows beyond the page size: a look-ahead (LIMIT page + 1) reads
                    # each again as the next page's first (invariants.reads_once).
                    rec.lookahead_rows[p] += max(0, len(data) - cfg.page_size)
                if data and p is not None:
                    # Which rows each partition was given, by key: a row given twice
                    # is a page read again (the exact budget's second count).
                    for row in data:
                        key = row.get(kf) if isinstance(row, dict) else None
                        rec.reads[p][sort_key(key) if isinstance(key, str) else ""] += 1
            rec.call_log.append((p, outcome, _request(body)))
            return res

        engine.register_endpoint(ENDPOINT, logged)
        self._launched = False
        self._finished = False

    # --- driving ------------------------------------------------------------------------------

    def launch(self) -> Run:
        """Start the processor over the partitions, then apply changes planned at 0."""
        parts = list(self.case.partitioning.parts)
        target = self.target
        page = self.case.config.page_size
        if isinstance(target, type) and hasattr(target, "start"):
            target = target()
        if hasattr(target, "start"):
            job_ids = target.start(self.org, parts, page)
            self.observer.add_roots(job_ids, [p.index for p in parts])
        else:
            for p in parts:
                job = target(p, page)
                if isinstance(job, Batchable):
                    jid = self.engine.execute_batch(job, self.case.config.batch_scope)
                elif isinstance(job, Queueable):
                    jid = self.engine.enqueue_job(job)
                else:
                    raise UsageError(
                        f"the job factory {_name(target)} returned {job!r} for partition "
                        f"{p.index}; it must return a Queueable or a Batchable (the first "
                        "job of that partition)")
                self.observer.add_roots([jid], [p.index])
        # Which partitions run as Batch Apex, and with what scope: their budget is
        # counted in the chunks they were handed (invariants.api_budget).
        for jid, p_index in self.observer.roots.items():
            root = self.engine.jobs.get(jid)
            if root is not None and root.job_type == "BatchApex" and (
                    0 <= p_index < len(self.record.batch_scope)):
                self.record.batch_scope[p_index] = root.scope
        self.faults.start(self.engine)
        for change in self.case.faults.changes:
            if change.after == 0:
                self.apply(change)
        self._launched = True
        return self

    def step(self, max_events: int = 1) -> bool:
        """Run up to ``max_events`` engine events; False once the engine is idle or capped."""
        if self.record.crash is not None or self.observer.capped:
            return False
        try:
            self.engine.run(max_events=max_events)
        except Exception:
            self.record.crash = traceback.format_exc(limit=-3)
            return False
        return not self.engine.idle and not self.observer.capped

    def apply(self, change: Change) -> bool:
        """Apply another user's change now; False (noted in the record) if it cannot be."""
        org, rec, kf = self.org, self.record, self.key_field
        with org.as_user(self.other_user):
            if change.kind == "insert":
                res = org.insert(TARGET_OBJECT, [{
                    "Name": f"Concurrent {change.key}", TARGET_FIELD: change.stage,
                    "CloseDate": CLOSE_DATE, kf: change.key}])[0]
                if not res["success"]:
                    rec.skipped_changes.append(f"{change.describe()}: {res['errors'][0]}")
                    return False
                rec.inserted[res["id"]] = change.key
                if sort_key(change.key) not in rec.source:
                    self.source.insert_rows([{kf: change.key, SOURCE_FIELD: TARGET_STAGE}])
                    rec.source[sort_key(change.key)] = TARGET_STAGE
                return True
            found = org.find_by_external_id(TARGET_OBJECT, kf, change.key)
            if not found:
                rec.skipped_changes.append(f"{change.describe()}: no live record")
                return False
            rid = found[0]
            if change.kind == "update":
                org.update(TARGET_OBJECT, [{"Id": rid, TARGET_FIELD: change.stage}])
                rec.updated.add(rid)
            elif change.kind == "delete":
                org.delete(TARGET_OBJECT, [rid])
                rec.deleted.add(rid)
            else:
                assert change.new_key is not None
                res = org.update(TARGET_OBJECT, [{"Id": rid, kf: change.new_key}])[0]
                if not res["success"]:
                    rec.skipped_changes.append(f"{change.describe()}: {res['errors'][0]}")
                    return False
                rec.rekeyed[rid] = (change.key, change.new_key)
                old, new = sort_key(change.key), sort_key(change.new_key)
                if old in rec.source and new not in rec.source:
                    srcs = org.find_by_external_id(SOURCE_OBJECT, kf, change.key)
                    org.update(SOURCE_OBJECT, [{"Id": s, kf: change.new_key} for s in srcs])
                    self.source.invalidate()
                    rec.source[new] = rec.source.pop(old)
        return True

    def finish(self) -> RunRecord:
        """Run to the end (idle, or the execution cap), stop leftovers, fill the record."""
        if self._finished:
            return self.record
        self._finished = True
        if not self._launched:
            self.launch()
        while self.step(max_events=10_000):
            pass
        rec, engine, obs = self.record, self.engine, self.observer
        rec.terminated = engine.idle and rec.crash is None and not obs.capped
        # Counted before the leftovers are aborted: the last job that ran is still
        # "Processing" when the cap stops the run.
        rec.total_executions = obs.executions
        rec.executions = obs.executions_by_partition()
        if not engine.idle:
            engine.abort_all()
        rec.failures.extend(obs.failures())
        rec.unattributed_calls = obs.unattributed_calls + self._rejected_unattributed
        rec.unattributed_refused = obs.unattributed_refused
        rec.final = {r[0]: (r[1], r[2], bool(r[3])) for r in self.org.store.select(
            self.org.schema.get(TARGET_OBJECT), ["Id", self.key_field, TARGET_FIELD,
                                                 "IsDeleted"])}
        rec.fired = dict(self.faults.fired)
        obs.detach()
        return rec

    def close(self) -> None:
        """Release the org's database."""
        self.org.close()


def _name(target: object) -> str:
    """How a report names a target: its ``__name__`` or its type's."""
    return str(getattr(target, "__name__", type(target).__name__))


def _request(body: object) -> str:
    """The call's SQL (what makes two calls "the same page"), for the call log."""
    if isinstance(body, dict) and isinstance(body.get("sql"), str):
        return str(body["sql"])
    return "" if body is None else repr(body)


def _load(org: Org, ds: Dataset) -> None:
    """Opportunities and their source rows, through the validated DML path."""
    kf = ds.key_field
    src_fields: Sequence[Field] = source_object_fields()
    if not ds.unique:
        org.add_field(TARGET_OBJECT, ALT_KEY_FIELD, "string", length=255, external_id=True)
        src_fields = [Field(ALT_KEY_FIELD, "string", "Alt External ID", 255, external_id=True),
                      *(f for f in src_fields if f.name != KEY_FIELD)]
    org.add_object(SOURCE_OBJECT, src_fields)
    opps = [{"Name": f"Opp {i}", TARGET_FIELD: r.stage, "CloseDate": CLOSE_DATE, kf: r.key}
            for i, r in enumerate(ds.rows)]
    for res in org.insert(TARGET_OBJECT, opps):
        if not res["success"]:
            raise ValueError(f"dataset does not load: {res['errors'][0]['message']}")
    rows = [{kf: key, SOURCE_FIELD: stage} for key, stage in _source_rows(ds)]
    if rows:
        org.insert(SOURCE_OBJECT, rows)


def _source_rows(ds: Dataset) -> list[tuple[str, str]]:
    """One Data Cloud row per distinct key: the records' own, then the source-only ones."""
    out: dict[str, tuple[str, str]] = {}
    for r in ds.rows:
        if r.key is not None and r.source_stage is not None:
            out.setdefault(sort_key(r.key), (r.key, r.source_stage))
    for key, stage in ds.source_only:
        out.setdefault(sort_key(key), (key, stage))
    return list(out.values())


def run(target: Target, case: Case, *, execution_cap: int | None = None) -> RunRecord:
    """Run ``target`` over ``case`` on a fresh org and return the :class:`RunRecord`.

    The run ends when no job work is left, or after ``execution_cap`` async executions,
    which is how a looping processor shows up. The default cap is ``30 + 3 x (the pages
    each partition needs, in chunks of the smaller of page size and batch scope, plus 5,
    plus 2 per planned fault)``: three times what a sensible processor needs, yet small,
    so a looping one is stopped quickly (the minimiser replays it many times).
    """
    r = Run(target, case, execution_cap)
    try:
        return r.finish()
    finally:
        r.close()
