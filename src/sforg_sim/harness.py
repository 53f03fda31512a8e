"""Run a processor over an explicit dataset, partitioning and fault plan; record everything.

:func:`sforg_sim.replay.replay` answers "what does V2 do to the team's 2,000,000 records";
this module answers the question property-based tests ask: "what did the processor do to
*these* 7 records, split *this* way, when *that* went wrong". It loads a :class:`Dataset`
(Opportunities plus their Data Cloud source rows ``Opportunity_Source__dlm``) into a fresh
:class:`~sforg_sim.org.Org`, launches the processor over the :class:`Partitioning`'s
ranges, injects the :class:`FaultPlan` through the engine's public hooks, and returns a
:class:`RunRecord`: the in-scope snapshot at start, every write per record id, the records
another user inserted, updated, deleted or re-keyed during the run, API calls and
executions per partition, and how the run ended. :mod:`sforg_sim.invariants` checks it.

Text order is Salesforce's: keys compare by their upper-case form (:func:`sort_key`), as
the SOQL engine and the Data Cloud source do, so ``_`` sorts after letters.

A *target* is what the user points the harness at: a :class:`~sforg_sim.processors.
Processor` (``name`` + ``start(org, parts, page_size)``, e.g. ``KeysetProcessor()``) or a
job factory ``(partition, page_size) -> Queueable | Batchable`` that builds the first job
of one partition (a Batchable is started with ``execute_batch(job, batch_scope)``).
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from .apex import Batchable, Fault, FaultSchedule, HttpResponse, Queueable
from .datacloud import ENDPOINT, DataCloudSource
from .org import Org
from .processors import Partition, Processor
from .scenarios import SOURCE_OBJECT, TARGET_STAGE, source_object_fields
from .schema import Field

if TYPE_CHECKING:
    from .apex import AsyncEngine, Job

__all__ = ["ALT_KEY_FIELD", "KEY_FIELD", "Change", "Dataset", "FaultPlan", "OppRow",
           "Partitioning", "RunConfig", "RunRecord", "Scenario", "Session", "Target", "run",
           "sort_key"]

KEY_FIELD = "External_ID__c"
"""The built-in External ID: unique and case-insensitive (``a1`` and ``A1`` collide)."""
ALT_KEY_FIELD = "Alt_External_ID__c"
"""A custom, non-unique External ID: datasets with duplicate keys live here."""
CLOSE_DATE = "2026-03-01"
OTHER_USER = "integration@sim.example.com"

Target = Processor | Callable[[Partition, int], Queueable | Batchable]
"""A Processor, or a factory building the first job of one partition."""


def sort_key(value: str) -> str:
    """Salesforce's text order for keys: the upper-case form (``_`` after letters)."""
    return value.upper()


@dataclass(frozen=True)
class OppRow:
    """One Opportunity: its key (None = NULL), initial StageName and the source's stage.

    ``source_stage`` None means Data Cloud has no row for this key: the job has nothing to
    copy and must leave the record alone.
    """

    key: str | None
    stage: str = "Prospecting"
    source_stage: str | None = TARGET_STAGE

    def describe(self) -> str:
        """``externalOpp01 Prospecting -> Qualification`` (or ``(no source row)``)."""
        src = self.source_stage if self.source_stage is not None else "(no source row)"
        return f"{self.key!r}: {self.stage} -> {src}"


@dataclass(frozen=True)
class Dataset:
    """Opportunities in insertion order; ``unique`` False puts keys in a non-unique field.

    With duplicate keys the Data Cloud source holds one row per distinct key (compared
    case-insensitively); the first row's ``source_stage`` is that row's stage.
    """

    rows: tuple[OppRow, ...]
    unique: bool = True

    @property
    def key_field(self) -> str:
        """The field the keys are stored in (on Opportunity and on the source object)."""
        return KEY_FIELD if self.unique else ALT_KEY_FIELD

    def keys(self) -> list[str]:
        """Distinct non-NULL keys in Salesforce order (one per case-insensitive value)."""
        seen: dict[str, str] = {}
        for r in self.rows:
            if r.key is not None:
                seen.setdefault(sort_key(r.key), r.key)
        return [seen[k] for k in sorted(seen)]

    def source(self) -> dict[str, str]:
        """Upper-case key -> source StageName (keys with no source row left out)."""
        out: dict[str, str] = {}
        for r in self.rows:
            if r.key is not None and r.source_stage is not None:
                out.setdefault(sort_key(r.key), r.source_stage)
        return out

    def describe(self) -> str:
        """One line per record, in insertion order."""
        noun = "Opportunity" if len(self.rows) == 1 else "Opportunities"
        head = f"{len(self.rows)} {noun} ({self.key_field}" + (
            ", not unique)" if not self.unique else ")")
        return "\n".join([head + ":", *(f"  {r.describe()}" for r in self.rows)])


@dataclass(frozen=True)
class Partitioning:
    """Partitions as the start script passes them: ``start``/``end`` read half-open.

    ``form`` records how the boundaries were drawn: ``shared-boundary`` (the team's form:
    each end is the next partition's first key) or ``half-open`` (boundaries anywhere,
    possibly between keys, in another case, or around empty partitions).
    """

    parts: tuple[Partition, ...]
    form: str = "half-open"

    def index_of(self, key: str | None) -> int | None:
        """The partition holding ``key`` under ``start <= key < end`` (upper case)."""
        if key is None:
            return None
        k = sort_key(key)
        for p in self.parts:
            if sort_key(p.start) <= k < sort_key(p.end):
                return p.index
        return None

    def describe(self) -> str:
        """``[0] 'a' to 'c'`` per partition, with the form."""
        lines = [f"{len(self.parts)} partitions ({self.form}, start <= key < end):"]
        lines += [f"  [{p.index}] {p.start!r} to {p.end!r}" for p in self.parts]
        return "\n".join(lines)


@dataclass(frozen=True)
class RunConfig:
    """Page size, batch scope, edition and quota, and the Data Cloud source's options.

    ``api_remaining`` None leaves the edition's whole allocation. ``max_offset`` is the
    source's OFFSET cap, scaled down with the data (2,000 on a real org) so a dozen records
    can show what 2,000,000 do; ``segment_rows`` likewise scales its unstable scan order.
    """

    page_size: int = 500
    batch_scope: int = 200
    edition: str = "enterprise"
    licenses: int = 10
    api_remaining: int | None = None
    max_offset: int = 2_000
    segment_rows: int = 12_500
    unstable_order: bool = True
    seed: int = 0

    def describe(self) -> str:
        """The settings on one line."""
        quota = "full" if self.api_remaining is None else str(self.api_remaining)
        return (f"page size {self.page_size}, batch scope {self.batch_scope}, "
                f"{self.edition} edition, API calls remaining {quota}, source OFFSET cap "
                f"{self.max_offset}")


@dataclass(frozen=True)
class Change:
    """Another user's DML during the run, right after async execution number ``after``.

    ``after`` 0 is before the first execution. ``kind``: ``insert`` a new record ``key``
    (with a source row), ``update`` record ``key`` to StageName ``stage``, ``delete`` it,
    or ``rekey`` it (and its source row) to ``new_key``: a sort-key update.
    """

    after: int
    kind: str
    key: str
    new_key: str | None = None
    stage: str = "Prospecting"

    def describe(self) -> str:
        """Plain words: ``after execution 2, another user deletes 'a1'``."""
        what = {"insert": f"inserts {self.key!r} ({self.stage})",
                "update": f"sets {self.key!r} to {self.stage}",
                "delete": f"deletes {self.key!r}",
                "rekey": f"changes the key {self.key!r} to {self.new_key!r}"}[self.kind]
        when = "before the first execution" if self.after == 0 else (
            f"after execution {self.after}")
        return f"{when}, another user {what}"


@dataclass(frozen=True)
class FaultPlan:
    """What goes wrong, by occurrence number (1-based), so a counterexample is exact."""

    callouts: tuple[int, ...] = ()
    """Callouts answered HTTP 503 (transient)."""
    locks: tuple[int, ...] = ()
    """DML statements failing with UNABLE_TO_LOCK_ROW."""
    empty: tuple[int, ...] = ()
    """Data queries answered with no rows (a transient empty batch)."""
    quota_at: int | None = None
    """The data call that first gets REQUEST_LIMIT_EXCEEDED (the quota is gone)."""
    changes: tuple[Change, ...] = ()
    """Concurrent DML by another user."""

    def size(self) -> int:
        """How many faults the plan injects (shrinking makes it small)."""
        return (len(self.callouts) + len(self.locks) + len(self.empty) +
                (self.quota_at is not None) + len(self.changes))

    def describe(self) -> str:
        """Plain words, one fault per line ("no faults" when empty)."""
        lines = []
        for name, at in (("callout(s) answered 503", self.callouts),
                         ("DML statement(s) failing UNABLE_TO_LOCK_ROW", self.locks),
                         ("data quer(y/ies) answered with no rows", self.empty)):
            if at:
                lines.append(f"  {name}: number {', '.join(map(str, at))}")
        if self.quota_at is not None:
            lines.append(f"  API quota exhausted at data call {self.quota_at}")
        lines += [f"  {c.describe()}" for c in self.changes]
        return "no faults" if not lines else "\n".join(["faults:", *lines])


@dataclass(frozen=True)
class Scenario:
    """One input for a run: dataset x partitioning x config x faults."""

    dataset: Dataset
    partitioning: Partitioning
    config: RunConfig = field(default_factory=RunConfig)
    faults: FaultPlan = field(default_factory=FaultPlan)

    @classmethod
    def of(cls, keys: Sequence[str | None], bounds: Sequence[str], *,
           faults: FaultPlan | None = None, **config: Any) -> Scenario:
        """A hand-written scenario: records ``keys`` (Prospecting, source Qualification),
        partitions between consecutive ``bounds``, ``config`` for :class:`RunConfig`."""
        parts = tuple(Partition(i, a, b) for i, (a, b) in enumerate(pairwise(bounds)))
        return cls(Dataset(tuple(OppRow(k) for k in keys)), Partitioning(parts),
                   RunConfig(**config), faults or FaultPlan())

    def describe(self) -> str:
        """The whole input in plain words."""
        return "\n".join([self.dataset.describe(), self.partitioning.describe(),
                          self.config.describe(), self.faults.describe()])


@dataclass
class RunRecord:
    """Everything a run did, for :mod:`sforg_sim.invariants` (ids are 18-char)."""

    scenario: Scenario
    key_field: str
    start: dict[str, tuple[str | None, str]]
    """Every live Opportunity at start: id -> (key, StageName)."""
    scope: dict[str, int]
    """The in-scope snapshot: id -> partition index (key inside a range at start)."""
    source: dict[str, str]
    """Upper-case key -> source StageName (as it ended: changes add rows)."""
    writes: Counter[str] = field(default_factory=Counter)
    """Record id -> number of times the processor's transactions updated it."""
    write_log: list[tuple[int, int | None, str]] = field(default_factory=list)
    """(execution number, partition, record id) per write, in order."""
    inserted: dict[str, str] = field(default_factory=dict)
    """Records another user inserted during the run: id -> key."""
    updated: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    rekeyed: dict[str, tuple[str, str]] = field(default_factory=dict)
    skipped_changes: list[str] = field(default_factory=list)
    final: dict[str, tuple[str | None, str, bool]] = field(default_factory=dict)
    """Every Opportunity at the end: id -> (key, StageName, deleted)."""
    calls: list[int] = field(default_factory=list)
    """Data calls that reached the source, per partition."""
    unattributed_calls: int = 0
    unattributed_refused: int = 0
    refused: list[int] = field(default_factory=list)
    """Calls refused with REQUEST_LIMIT_EXCEEDED, per partition."""
    executions: list[int] = field(default_factory=list)
    total_executions: int = 0
    terminated: bool = False
    """The engine went idle by itself (False: stopped at ``execution_cap``)."""
    execution_cap: int = 0
    failures: list[str] = field(default_factory=list)
    """``partition N: ERROR_CODE: message`` for each failed job."""
    crash: str | None = None
    """A Python traceback if the processor raised something that is not a Salesforce error."""
    fired: dict[str, int] = field(default_factory=dict)

    @property
    def quota_exhausted(self) -> bool:
        """Some data call was refused with REQUEST_LIMIT_EXCEEDED."""
        return sum(self.refused) + self.unattributed_refused > 0

    def key_of(self, record_id: str) -> str | None:
        """The record's key at the end (or at start, if it is unknown at the end)."""
        if record_id in self.final:
            return self.final[record_id][0]
        return self.start.get(record_id, (None, ""))[0]

    def name(self, record_id: str) -> str:
        """``'externalOpp03' (0065j...)``: how messages name a record."""
        return f"{self.key_of(record_id)!r} ({record_id})"


class _PlannedFaults(FaultSchedule):
    """A FaultSchedule firing at exact occurrence numbers, plus planned concurrent DML."""

    def __init__(self, plan: FaultPlan, session: Session) -> None:
        faults = [Fault(kind, 0.0, frozenset(float(n) for n in at)) for kind, at in
                  (("callout", plan.callouts), ("lock", plan.locks), ("empty", plan.empty))
                  if at]
        super().__init__(faults, 0)
        self.plan = plan
        self.session = session
        self.executions = 0

    def between_executions(self, engine: AsyncEngine) -> None:
        self.executions += 1
        for change in self.plan.changes:
            if change.after == self.executions:
                self.session.apply(change)


class Session:
    """A prepared run: org loaded, source attached, listeners on; step it or run it.

    :func:`run` is ``Session(...).launch()`` then :meth:`finish`; the stateful tests drive
    :meth:`step` and :meth:`apply` themselves.
    """

    def __init__(self, target: Target, scenario: Scenario,
                 execution_cap: int | None = None) -> None:
        self.target = target
        self.scenario = scenario
        ds, cfg = scenario.dataset, scenario.config
        self.org = org = Org(edition=cfg.edition, licenses=cfg.licenses)
        self.engine = engine = org.apex
        self.key_field = kf = ds.key_field
        _load(org, ds)
        [other] = org.insert("User", [{"Username": OTHER_USER, "LastName": "Integration",
                                       "Email": OTHER_USER}])
        self.other_user = other["id"]
        self.faults = _PlannedFaults(scenario.faults, self)
        engine.faults = self.faults
        self.source = DataCloudSource(org, charge_api=True, unstable_order=cfg.unstable_order,
                                      segment_rows=cfg.segment_rows, max_offset=cfg.max_offset,
                                      seed=cfg.seed, faults=self.faults).attach(engine)
        remaining = [r for r in (cfg.api_remaining, None if scenario.faults.quota_at is None
                                 else scenario.faults.quota_at - 1) if r is not None]
        if remaining:
            org.set_api_remaining(max(0, min(remaining)))
        parts = scenario.partitioning.parts
        opp = org.schema.get("Opportunity")
        start = {r[0]: (r[1], r[2]) for r in org.store.select(
            opp, ["Id", kf, "StageName"], '"IsDeleted" = 0')}
        scope = {rid: i for rid, (key, _) in start.items()
                 if (i := scenario.partitioning.index_of(key)) is not None}
        n = len(parts)
        self.record = RunRecord(scenario, kf, start, scope, ds.source(), calls=[0] * n,
                                refused=[0] * n, executions=[0] * n)
        sizes = Counter(scope.values())
        # Generous (three times what a sensible processor needs) yet small, so a looping
        # processor is stopped quickly: hypothesis replays it many times while shrinking.
        self.record.execution_cap = execution_cap or 30 + 3 * (sum(
            -(-sizes[p.index] // max(1, min(cfg.page_size, cfg.batch_scope))) + 5
            for p in parts) + 2 * scenario.faults.size())
        self._roots: dict[str, int] = {}
        self._lineage: dict[str, int | None] = {}
        self._exec0 = engine.executions
        engine.dml_listeners.append(self._on_dml)
        engine.event_listeners.append(self._on_event)
        self.source.listeners.append(self._on_call)
        # Refused calls never reach the source's listeners: wrap its endpoint to see them.
        engine.register_endpoint(ENDPOINT, self._handle)
        self._launched = False
        self._finished = False

    # --- attribution ------------------------------------------------------------------------

    def partition_of(self, job: Job | None) -> int | None:
        """The partition a job works for: its ``partition`` attribute or its chain's root."""
        if job is None:
            return None
        p = getattr(job.instance, "partition", None)
        if isinstance(p, int) and 0 <= p < len(self.scenario.partitioning.parts):
            return p
        if job.id not in self._lineage:
            root = job
            while root.parent_id is not None and root.parent_id in self.engine.jobs:
                root = self.engine.jobs[root.parent_id]
            self._lineage[job.id] = self._roots.get(root.id)
        return self._lineage[job.id]

    def _on_dml(self, sobject: str, op: str, ids: list[str]) -> None:
        if sobject != "Opportunity" or op not in ("update", "upsert"):
            return
        p = self.partition_of(self.engine.current)
        n = self.engine.executions - self._exec0
        for rid in ids:
            self.record.writes[rid] += 1
            self.record.write_log.append((n, p, rid))

    def _on_call(self, api: str, request: Any, rows: int) -> None:
        p = self.partition_of(self.engine.current)
        if p is None:
            self.record.unattributed_calls += 1
        else:
            self.record.calls[p] += 1

    def _handle(self, method: str, path: str, body: Any) -> HttpResponse:
        res = self.source.handle(method, path, body)
        if res.status_code == 403:
            p = self.partition_of(self.engine.current)
            if p is None:
                self.record.unattributed_refused += 1
            else:
                self.record.refused[p] += 1
        return res

    def _on_event(self) -> None:
        if self.engine.executions - self._exec0 > self.record.execution_cap:
            self.engine.stop()

    # --- driving ------------------------------------------------------------------------------

    def launch(self) -> Session:
        """Start the processor over the partitions, then apply changes planned at 0."""
        parts = list(self.scenario.partitioning.parts)
        target = self.target
        page = self.scenario.config.page_size
        if isinstance(target, type) and hasattr(target, "start"):
            target = target()
        if hasattr(target, "start"):
            job_ids = target.start(self.org, parts, page)
            self._roots = {jid: p.index for jid, p in zip(job_ids, parts)}
        else:
            for p in parts:
                job = target(p, page)
                if isinstance(job, Batchable):
                    jid = self.engine.execute_batch(job, self.scenario.config.batch_scope)
                else:
                    jid = self.engine.enqueue_job(job)
                self._roots[jid] = p.index
        self.faults.start(self.engine)
        for change in self.scenario.faults.changes:
            if change.after == 0:
                self.apply(change)
        self._launched = True
        return self

    def step(self, max_events: int = 1) -> bool:
        """Run up to ``max_events`` engine events; False once the engine is idle or capped."""
        if self.record.crash is not None or self._capped():
            return False
        try:
            self.engine.run(max_events=max_events)
        except Exception:
            self.record.crash = traceback.format_exc(limit=-3)
            return False
        return not self.engine.idle and not self._capped()

    def _capped(self) -> bool:
        return self.engine.executions - self._exec0 > self.record.execution_cap

    def apply(self, change: Change) -> bool:
        """Apply another user's change now; False (noted in the record) if it cannot be."""
        org, rec, kf = self.org, self.record, self.key_field
        with org.as_user(self.other_user):
            if change.kind == "insert":
                res = org.insert("Opportunity", [{
                    "Name": f"Concurrent {change.key}", "StageName": change.stage,
                    "CloseDate": CLOSE_DATE, kf: change.key}])[0]
                if not res["success"]:
                    rec.skipped_changes.append(f"{change.describe()}: {res['errors'][0]}")
                    return False
                rec.inserted[res["id"]] = change.key
                if sort_key(change.key) not in rec.source:
                    self.source.insert_rows([{kf: change.key, "StageName__c": TARGET_STAGE}])
                    rec.source[sort_key(change.key)] = TARGET_STAGE
                return True
            found = org.find_by_external_id("Opportunity", kf, change.key)
            if not found:
                rec.skipped_changes.append(f"{change.describe()}: no live record")
                return False
            rid = found[0]
            if change.kind == "update":
                org.update("Opportunity", [{"Id": rid, "StageName": change.stage}])
                rec.updated.add(rid)
            elif change.kind == "delete":
                org.delete("Opportunity", [rid])
                rec.deleted.add(rid)
            else:
                assert change.new_key is not None
                res = org.update("Opportunity", [{"Id": rid, kf: change.new_key}])[0]
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
        rec, engine = self.record, self.engine
        rec.terminated = engine.idle and rec.crash is None and not self._capped()
        if not engine.idle:
            engine.abort_all()
        rec.total_executions = engine.executions - self._exec0
        for job in engine.jobs.values():
            p = self.partition_of(job)
            if p is None:
                continue
            ran = job.status in ("Completed", "Failed")
            if job.job_type == "BatchApex":
                rec.executions[p] += 1 + job.processed + (job.status == "Completed")
            else:
                rec.executions[p] += ran
            if job.status == "Failed" and job.error is not None:
                rec.failures.append(f"partition {p}: {job.error.error_code}: "
                                    f"{job.error.message}")
        rec.final = {r[0]: (r[1], r[2], bool(r[3])) for r in self.org.store.select(
            self.org.schema.get("Opportunity"),
            ["Id", self.key_field, "StageName", "IsDeleted"])}
        rec.fired = dict(self.faults.fired)
        engine.dml_listeners.remove(self._on_dml)
        engine.event_listeners.remove(self._on_event)
        return rec

    def close(self) -> None:
        """Release the org's database."""
        self.org.close()


def _load(org: Org, ds: Dataset) -> None:
    """Opportunities and their source rows, through the validated DML path."""
    kf = ds.key_field
    src_fields: Sequence[Field] = source_object_fields()
    if not ds.unique:
        org.add_field("Opportunity", ALT_KEY_FIELD, "string", length=255, external_id=True)
        src_fields = [Field(ALT_KEY_FIELD, "string", "Alt External ID", 255, external_id=True),
                      *(f for f in src_fields if f.name != KEY_FIELD)]
    org.add_object(SOURCE_OBJECT, src_fields)
    opps = [{"Name": f"Opp {i}", "StageName": r.stage, "CloseDate": CLOSE_DATE, kf: r.key}
            for i, r in enumerate(ds.rows)]
    for res in org.insert("Opportunity", opps):
        if not res["success"]:
            raise ValueError(f"dataset does not load: {res['errors'][0]['message']}")
    rows = [{kf: key, "StageName__c": stage} for key, stage in _source_rows(ds)]
    if rows:
        org.insert(SOURCE_OBJECT, rows)


def _source_rows(ds: Dataset) -> list[tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for r in ds.rows:
        if r.key is not None and r.source_stage is not None:
            out.setdefault(sort_key(r.key), (r.key, r.source_stage))
    return list(out.values())


def run(target: Target, scenario: Scenario, *, execution_cap: int | None = None) -> RunRecord:
    """Run ``target`` over ``scenario`` on a fresh org and return the :class:`RunRecord`.

    The run ends when no job work is left, or after ``execution_cap`` async executions
    (default: ten times a generous bound), which is how a looping processor shows up.
    """
    session = Session(target, scenario, execution_cap)
    try:
        return session.finish()
    finally:
        session.close()
