"""The inputs and the record of a property-test run: plain values, no machinery.

A :class:`Case` is one input for :func:`sforg_sim.harness.run`: a :class:`Dataset`
(Opportunities with their Data Cloud source rows), a :class:`Partitioning` (the ranges the
start script passes), a :class:`RunConfig` (page size, edition, quota, the source's
options) and a :class:`FaultPlan` (what goes wrong, by occurrence number, and another
user's changes, :class:`Change`). :mod:`sforg_sim.strategies` generates them; a counterexample is
one, printed with :meth:`Case.describe`. A :class:`RunRecord` is everything a run did;
:mod:`sforg_sim.invariants` checks it.

Two notions of "the same key" and "the order of keys". *Identity* is Salesforce's: an
External ID matches case-insensitively (:func:`sort_key`, the upper-case form), so a page's
row finds its Opportunity whatever the case. *Order* is the Data Cloud source's, because
the job's ranges and keyset pages are Data Cloud queries: by code point by default, as
Data Cloud SQL's reference documents (``datacloud.py``), or by the upper-case form under
the ``RunConfig.source_case_sensitive=False`` what if (:func:`order_key`,
:meth:`Case.index_of`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

from .core import DEFAULT_LICENSES
from .nightly import KEY_FIELD, TARGET_STAGE, Partition

__all__ = ["ALT_KEY_FIELD", "KEY_FIELD", "Case", "Change", "ChangeKind", "Dataset",
           "FaultPlan", "OppRow", "PartitionForm", "Partitioning", "RunConfig", "RunRecord",
           "order_key", "sort_key"]

ALT_KEY_FIELD = "Alt_External_ID__c"
"""A custom, non-unique External ID: datasets with duplicate keys live here."""
ChangeKind = Literal["update", "delete", "insert", "rekey"]
"""What another user does to one record (see :class:`Change`)."""
PartitionForm = Literal["shared-boundary", "half-open"]
"""How partition boundaries were drawn (see :class:`Partitioning`)."""


def sort_key(value: str) -> str:
    """Salesforce's identity (and SOQL's order) for keys: the upper-case form, so
    ``'externalOpp01'`` and ``'EXTERNALOPP01'`` are one External ID (``_`` after letters)."""
    return value.upper()


def order_key(value: str, code_point: bool = True) -> str:
    """The Data Cloud source's order for keys: the value itself (code point, ``'E' <
    'e'``, the documented default) or, with ``code_point=False`` (the what if), the
    upper-case form. Partition ranges and keyset pages are read in this order."""
    return value if code_point else value.upper()


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
        """``'externalOpp01': 'Prospecting' -> 'Qualification'`` (or ``(no source row)``)."""
        # repr, so a trailing space or a case difference in a value is visible.
        src = repr(self.source_stage) if self.source_stage is not None else "(no source row)"
        return f"{self.key!r}: {self.stage!r} -> {src}"


@dataclass(frozen=True)
class Dataset:
    """Opportunities in insertion order; ``unique`` False puts keys in a non-unique field.

    With duplicate keys the Data Cloud source holds one row per distinct key (compared
    case-insensitively); the first row's ``source_stage`` is that row's stage.

    ``source_only`` are Data Cloud rows ``(key, stage)`` for keys no Opportunity has (the
    source holds records the org does not): a page then has rows the job finds no
    record for, which is what shows a job pairing values with records by list position
    instead of by key (issue 18, gap 3).
    """

    rows: tuple[OppRow, ...]
    unique: bool = True
    source_only: tuple[tuple[str, str], ...] = ()

    @property
    def key_field(self) -> str:
        """The field the keys are stored in (on Opportunity and on the source object)."""
        return KEY_FIELD if self.unique else ALT_KEY_FIELD

    def keys(self, code_point: bool = True) -> list[str]:
        """Distinct non-NULL keys (one per case-insensitive value, as spelled first), the
        source-only ones included, in the source's order (:func:`order_key`)."""
        seen: dict[str, str] = {}
        for key in [*(r.key for r in self.rows), *(k for k, _ in self.source_only)]:
            if key is not None:
                seen.setdefault(sort_key(key), key)
        return sorted(seen.values(), key=lambda k: order_key(k, code_point))

    def source(self) -> dict[str, str]:
        """Upper-case key -> source StageName (keys with no source row left out)."""
        out: dict[str, str] = {}
        for r in self.rows:
            if r.key is not None and r.source_stage is not None:
                out.setdefault(sort_key(r.key), r.source_stage)
        for key, stage in self.source_only:
            out.setdefault(sort_key(key), stage)
        return out

    def describe(self) -> str:
        """One line per record, in insertion order."""
        noun = "Opportunity" if len(self.rows) == 1 else "Opportunities"
        head = f"{len(self.rows)} {noun} ({self.key_field}" + (
            ", not unique)" if not self.unique else ")")
        lines = [head + ":", *(f"  {r.describe()}" for r in self.rows)]
        if self.source_only:
            lines.append("  and Data Cloud rows with no Opportunity: " + ", ".join(
                f"{k!r}: {v!r}" for k, v in self.source_only))
        return "\n".join(lines)


@dataclass(frozen=True)
class Partitioning:
    """Partitions as the start script passes them: ``start``/``end`` read half-open.

    ``form`` records how the boundaries were drawn: ``shared-boundary`` (the team's form:
    each end is the next partition's first key) or ``half-open`` (boundaries anywhere,
    possibly between keys, in another case, or around empty partitions).
    """

    parts: tuple[Partition, ...]
    form: PartitionForm = "half-open"

    def index_of(self, key: str | None, code_point: bool = True) -> int | None:
        """The partition holding ``key`` under ``start <= key < end``, compared in the
        source's order (:func:`order_key`; :meth:`Case.index_of` passes the case's)."""
        if key is None:
            return None
        k = order_key(key, code_point)
        for p in self.parts:
            if order_key(p.start, code_point) <= k < order_key(p.end, code_point):
                return p.index
        return None

    def describe(self) -> str:
        """``[0] 'a' to 'c'`` per partition, with the form."""
        noun = "partition" if len(self.parts) == 1 else "partitions"
        lines = [f"{len(self.parts)} {noun} ({self.form}, start <= key < end):"]
        lines += [f"  [{p.index}] {p.start!r} to {p.end!r}" for p in self.parts]
        return "\n".join(lines)


@dataclass(frozen=True)
class RunConfig:
    """Page size, batch scope, edition and quota, and the Data Cloud source's options.

    ``licenses`` defaults to :data:`sforg_sim.core.DEFAULT_LICENSES` (340), the figure
    ``Org()`` and the CLI's ``--licenses`` use: the team's org, whose Enterprise allocation
    (100,000 + 340 x 1,000 = 440,000 calls a day) is the ~440,000 V1 burned. It used to be
    10 here, so a property-test org had another daily allocation than the CLI's for no
    reason (issue 18). ``api_remaining`` None leaves the edition's whole allocation.
    ``max_offset`` is an opt-in *what if*, off (None) by default: an OFFSET cap on the
    Data Cloud source, which no Salesforce document states (``datacloud.py``); set it
    small to ask what a capped source would do to a dozen records. ``segment_rows``
    scales the source's unstable scan order down with the data.
    """

    page_size: int = 500
    batch_scope: int = 200
    edition: str = "enterprise"
    licenses: int = DEFAULT_LICENSES
    api_remaining: int | None = None
    max_offset: int | None = None
    segment_rows: int = 12_500
    unstable_order: bool = True
    seed: int = 0
    source_case_sensitive: bool = True
    """The Data Cloud source compares and orders text by code point, as Data Cloud SQL's
    reference documents (``DataCloudSource(case_sensitive=True)``, ``datacloud.py``;
    issue 18, gap 6). The kit's ranges follow it (:meth:`Case.index_of`). False is the
    pre-issue-18 model kept as a *what if*: upper-case comparison, as SOQL."""

    def describe(self) -> str:
        """The settings on one line."""
        quota = "full" if self.api_remaining is None else str(self.api_remaining)
        return (f"page size {self.page_size}, batch scope {self.batch_scope}, "
                f"{self.edition} edition, API calls remaining {quota}, " + (
                    "no source OFFSET cap" if self.max_offset is None else
                    f"source OFFSET cap {self.max_offset} (what if)") + (
                    "" if self.source_case_sensitive else
                    ", source compares case-insensitively (what if)"))


@dataclass(frozen=True)
class Change:
    """Another user's DML during the run, right after async execution number ``after``.

    ``after`` 0 is before the first execution. ``kind``: ``insert`` a new record ``key``
    (with a source row), ``update`` record ``key`` to StageName ``stage``, ``delete`` it,
    or ``rekey`` it (and its source row) to ``new_key``: a sort-key update.
    """

    after: int
    kind: ChangeKind
    key: str
    new_key: str | None = None
    stage: str = "Prospecting"
    relative: bool = False
    """``after`` counts the executions of the partition whose range holds ``key`` (of any
    partition when none does): "right after that partition's first page", however the
    partitions' chains interleave (issue 18, gap 2). False: executions of the whole run."""
    def describe(self) -> str:
        """Plain words: ``after execution 2, another user deletes 'a1'``."""
        what = {"insert": f"inserts {self.key!r} ({self.stage!r})",
                "update": f"sets {self.key!r} to {self.stage!r}",
                "delete": f"deletes {self.key!r}",
                "rekey": f"changes the key {self.key!r} to {self.new_key!r}"}[self.kind]
        when = "before the first execution" if self.after == 0 else (
            f"after execution {self.after}" + (" of its partition" if self.relative else ""))
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
    runs: tuple[tuple[int, int, tuple[str, ...]], ...] = ()
    """Fault *sequences* per partition: ``(partition, after, answers)`` answers that
    partition's data callouts after its first ``after`` ones with ``answers`` in turn,
    each ``"503"`` (a transient error that never reaches the source) or ``"empty"`` (a
    transient empty batch). The partition is taken modulo the number of partitions.
    Counting per partition keeps "503, 503, empty" consecutive for one chain however
    the chains interleave (issue 18, gap 1)."""

    def size(self) -> int:
        """How many faults the plan injects (shrinking makes it small)."""
        return (len(self.callouts) + len(self.locks) + len(self.empty) +
                (self.quota_at is not None) + len(self.changes) +
                sum(len(answers) for _, _, answers in self.runs))

    def describe(self) -> str:
        """Plain words, one fault per line ("no faults" when empty)."""
        lines = []
        for name, at in (("callout(s) answered 503", self.callouts),
                         ("DML statement(s) failing UNABLE_TO_LOCK_ROW", self.locks),
                         ("data quer(y/ies) answered with no rows", self.empty)):
            if at:
                lines.append(f"  {name}: number {', '.join(map(str, at))}")
        for p, after, answers in self.runs:
            lines.append(f"  partition {p}'s data calls after its first {after}: "
                         + ", ".join(answers))
        if self.quota_at is not None:
            lines.append(f"  API quota exhausted at data call {self.quota_at}")
        lines += [f"  {c.describe()}" for c in self.changes]
        return "no faults" if not lines else "\n".join(["faults:", *lines])


@dataclass(frozen=True)
class Case:
    """One input for a run: dataset x partitioning x config x faults."""

    dataset: Dataset
    partitioning: Partitioning
    config: RunConfig = field(default_factory=RunConfig)
    faults: FaultPlan = field(default_factory=FaultPlan)

    @classmethod
    def of(cls, keys: Sequence[str | None], bounds: Sequence[str], *,
           faults: FaultPlan | None = None, **config: Any) -> Case:
        """A hand-written case: records ``keys`` (Prospecting, source Qualification),
        partitions between consecutive ``bounds``, ``config`` for :class:`RunConfig`."""
        parts = tuple(Partition(i, a, b) for i, (a, b) in enumerate(pairwise(bounds)))
        return cls(Dataset(tuple(OppRow(k) for k in keys)), Partitioning(parts),
                   RunConfig(**config), faults or FaultPlan())

    def index_of(self, key: str | None) -> int | None:
        """The partition whose range holds ``key`` in this case's source order."""
        return self.partitioning.index_of(key, self.config.source_case_sensitive)

    def describe(self) -> str:
        """The whole input in plain words."""
        return "\n".join([self.dataset.describe(), self.partitioning.describe(),
                          self.config.describe(), self.faults.describe()])


@dataclass
class RunRecord:
    """Everything a run did, for :mod:`sforg_sim.invariants` (ids are 18-char)."""

    case: Case
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
    """Calls refused with REQUEST_LIMIT_EXCEEDED, per partition (not charged)."""
    rejected: list[int] = field(default_factory=list)
    """Calls the source answered with an error (HTTP 400/404: bad SQL, unknown resource),
    per partition. They reached the source and were charged to the quota, so the budget
    counts them with :attr:`calls`."""
    rejections: list[str] = field(default_factory=list)
    """``partition N: HTTP 400 INVALID_ARGUMENT: message`` for the first rejected calls."""
    call_log: list[tuple[int | None, str, str]] = field(default_factory=list)
    """(partition, outcome, request SQL) per callout to the source, in order: ``rows`` (a page with
    rows), ``empty`` (no rows), ``empty fault`` (an injected transient empty batch),
    ``503 fault`` (an injected transient error that never reached the source),
    ``refused`` (REQUEST_LIMIT_EXCEEDED), ``rejected`` (an HTTP 4xx error); and
    ``lock fault`` (no callout: the injected UNABLE_TO_LOCK_ROW that failed the DML after
    the page before it was read)."""
    reads: list[Counter[str]] = field(default_factory=list)
    """Per partition: upper-case key -> how many times the source returned its row to
    that partition's jobs (rows of pages answered 200; the key column as selected). A
    keyset job reads each row once; a row read twice is a page read again."""
    locked_rows: list[int] = field(default_factory=list)
    """Per partition: rows read by the transactions whose update then failed on an
    injected row lock (the job reads those rows again; the exact budget allows it)."""
    lock_calls: list[int] = field(default_factory=list)
    """Per partition: data calls made by the transactions whose update then failed on
    an injected row lock (the retry makes them again; one for a one-page job)."""
    lookahead_rows: list[int] = field(default_factory=list)
    """Per partition: rows answered beyond the page size (``len(page) - page_size`` for
    each longer page). A look-ahead job reads ``LIMIT page + 1`` to learn whether more
    rows follow and reads that extra row again as the next page's first, so each such
    row may be read twice (:func:`sforg_sim.invariants.reads_once`)."""
    batch_scope: list[int | None] = field(default_factory=list)
    """Per partition: the scope its Batchable was started with (``executeBatch(job,
    scope)``), None for a Queueable chain. A Batchable is handed its records in chunks of
    the scope, whatever the page size, so its budget is counted in those chunks."""
    fired_in: dict[str, list[int]] = field(default_factory=dict)
    """Fault kind -> fired count per partition (index ``len(parts)``: unattributed)."""
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
