"""The one-call checker: point hypothesis at your processor and read the counterexample.

>>> from sforg_sim.checker import check_processor
>>> from sforg_sim.processors.keyset import KeysetProcessor
>>> result = check_processor(KeysetProcessor())      # doctest: +SKIP
>>> result.examples                                   # doctest: +SKIP
50

It runs hypothesis over datasets x partitionings x configs x fault schedules
(:func:`sforg_sim.strategies.cases`), runs your processor on each case in a fresh
simulated org (:func:`sforg_sim.harness.run`), applies :mod:`sforg_sim.invariants`, and,
if one fails, raises :class:`ProcessorCheckFailed` with the *shrunk* counterexample in
plain words: the dataset, the partitioning, the configuration, the fault schedule and what
went wrong, plus the ``Case(...)`` to paste into ``examples=`` (hypothesis's
``@example``) so it is replayed first from then on.

Settings: ``profile=None`` uses the loaded hypothesis profile, so ``pytest
--hypothesis-profile sforg-thorough`` reaches it; ``profile="sforg-ci"`` picks one of the
kit's profiles by name (``sforg-ci``: 50 derandomized examples from a fixed seed,
:data:`sforg_sim.profiles.CI_SEED`; ``sforg-dev``: 25; ``sforg-thorough``: 1,000; the short
names ``ci``/``dev``/``thorough`` mean the same here). Deadlines are always off (simulated
runs vary in wall time, not in outcome) and only one bug is reported: the first found,
shrunk by :func:`minimise` (not by hypothesis's shrinker, see :data:`MINIMISE_RUNS`) to a
case that still breaks an invariant at least as severe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import Phase, example, given, seed, settings
from hypothesis.database import ExampleDatabase
from hypothesis.strategies import SearchStrategy

from . import invariants as inv
from . import invariants as invariants_module
from .cases import Case, FaultPlan, RunRecord
from .harness import Target, run
from .nightly import KEY_PREFIX, TARGET_STAGE, Partition
from .profiles import CI_SEED, PROFILES, register_profiles
from .strategies import cases as default_cases

__all__ = ["CheckResult", "ProcessorCheckFailed", "check_processor", "describe_failure",
           "minimise"]


class ProcessorCheckFailed(AssertionError):
    """The checker found a counterexample; the message is the plain-words report.

    ``case`` is the shrunk input, ``run`` what happened, ``violation`` the failed
    invariant (an :class:`~sforg_sim.invariants.InvariantViolation`).
    """

    def __init__(self, message: str, case: Case, run: RunRecord,
                 violation: AssertionError, examples: int) -> None:
        super().__init__(message)
        self.case = case
        self.run = run
        self.violation = violation
        self.examples = examples


@dataclass
class CheckResult:
    """What a passing check ran: ``examples`` cases, and how many had each feature."""

    examples: int
    with_faults: int = 0
    with_changes: int = 0
    quota_exhausted: int = 0
    records: int = 0
    features: dict[str, int] = field(default_factory=dict)


class _Found(AssertionError):
    def __init__(self, case: Case, run: RunRecord, violation: AssertionError) -> None:
        super().__init__(str(violation))
        self.case, self.run, self.violation = case, run, violation


def _settings(profile: str | None, database: ExampleDatabase | None = None,
              **overrides: Any) -> settings:
    if profile is None:
        parent = settings.default
    else:
        # The kit's profiles, also outside pytest. A short name means the kit's profile
        # here (hypothesis has a built-in "ci" that differs from ours: 100 examples).
        register_profiles()
        parent = settings.get_profile(
            f"sforg-{profile}" if f"sforg-{profile}" in PROFILES else profile)
    # No hypothesis shrinking: check_processor shrinks with minimise() (MINIMISE_RUNS).
    phases = [p for p in (parent.phases if parent is not None else tuple(Phase))
              if p != Phase.shrink]
    return settings(parent, deadline=None, report_multiple_bugs=False, database=database,
                    phases=phases, **{k: v for k, v in overrides.items() if v is not None})


def check_processor(target: Target, *, profile: str | None = None,
                    cases: SearchStrategy[Case] | None = None,
                    invariants: Iterable[Callable[[RunRecord], None]] = inv.ALL,
                    examples: Sequence[Case] = (), max_examples: int | None = None,
                    database: Any = None, execution_cap: int | None = None,
                    name: str | None = None) -> CheckResult:
    """Check ``target`` against every invariant over generated cases.

    ``target``: a :class:`~sforg_sim.processors.Processor` (``KeysetProcessor()``) or a
    factory ``(partition, page_size) -> Queueable | Batchable`` for one partition's first
    job. ``cases`` narrows or widens the search (default
    :func:`sforg_sim.strategies.cases`); ``examples`` are pinned cases tried first
    (``@example``); ``invariants`` defaults to :data:`sforg_sim.invariants.ALL`.
    ``database`` is hypothesis's example database (None: keep nothing between runs).

    Returns a :class:`CheckResult` when no counterexample is found; raises
    :class:`ProcessorCheckFailed` with the shrunk one otherwise.
    """
    checks = tuple(invariants)
    result = CheckResult(0)
    found_at: list[int] = []
    """Examples run when the first counterexample turned up (before any shrinking)."""
    # Under a derandomized profile the seed is fixed (profiles.CI_SEED), not a digest of
    # this function's source, so editing it no longer moves the pinned shrunk sizes.
    inv = _Checks(result, found_at)

    def property_(case: Case) -> None:
        result.examples += 1
        rec = run(target, case, execution_cap=execution_cap)
        result.records += len(case.dataset.rows)
        result.with_faults += bool(case.faults.size())
        result.with_changes += bool(case.faults.changes)
        result.quota_exhausted += rec.quota_exhausted
        for feat in _features(case):
            result.features[feat] = result.features.get(feat, 0) + 1
        try:
            inv.check_all(rec, checks)
        except AssertionError as violation:
            raise _Found(case, rec, violation) from None

    label = name or _label(target)
    ident = re.sub(r"\W", "_", label)
    property_.__name__ = property_.__qualname__ = f"check_{ident}"
    test = given(case=cases if cases is not None else default_cases())(
        property_)
    for ex in reversed(examples):
        test = example(case=ex)(test)
    # database is always set, so None means "keep nothing" (it used to be dropped as "no
    # override", which left the profile's ./.hypothesis); a real one is keyed per
    # processor.
    chosen = _settings(profile, database=None if database is None else _Keyed(database, label),
                       max_examples=max_examples)
    if chosen.derandomize:
        # A fixed seed instead of hypothesis's digest of ``property_``'s source, so an
        # edit to this function no longer moves every shrunk counterexample (CI_SEED).
        # ``seed`` resets the database to None; the settings applied next restore ours.
        test = seed(CI_SEED)(test)
    test = chosen(test)
    try:
        test()
    except _Found as found:
        n = found_at[0] if found_at else result.examples
        case, rec, violation = found.case, found.run, found.violation
        if case not in examples and inv.floor is not None:
            case, rec, violation = minimise(target, case, rec, violation, checks,
                                            inv.floor, execution_cap)
        raise ProcessorCheckFailed(
            describe_failure(case, rec, violation, _label(target), n),
            case, rec, violation, n) from None
    return result


class _Keyed(ExampleDatabase):
    """A hypothesis database seen through a per-processor prefix.

    Every ``check_processor`` call runs the same inner function, so hypothesis's own key
    (a digest of that function) is shared: one processor's saved counterexample replayed
    against every other, and a passing processor deleted it. Prefixing the key with the
    processor's name keeps each processor's counterexamples its own.
    """

    def __init__(self, inner: ExampleDatabase, label: str) -> None:
        super().__init__()
        self.inner = inner
        self.prefix = f"sforg-check:{label}:".encode()

    def save(self, key: bytes, value: bytes) -> None:
        """Save ``value`` under this processor's ``key``."""
        self.inner.save(self.prefix + key, value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        """This processor's values under ``key``."""
        return self.inner.fetch(self.prefix + key)

    def delete(self, key: bytes, value: bytes) -> None:
        """Delete ``value`` from this processor's ``key``."""
        self.inner.delete(self.prefix + key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        """Move ``value`` between two of this processor's keys."""
        self.inner.move(self.prefix + src, self.prefix + dest, value)


class _Checks:
    """``check_all`` that notes the first failure: when, and how severe.

    How many examples ran before it, so "found within N examples" counts generation only.
    And its severity (its worst invariant's position in the order of ``checks``,
    :data:`sforg_sim.invariants.ALL` by default): :func:`minimise` keeps only steps whose
    worst violation is at least that severe. Every violation looks like one bug to a
    shrinker, which slipped from "lost records" to a smaller case that only "made one
    extra call" (issue 18).
    """

    def __init__(self, result: CheckResult, found_at: list[int]) -> None:
        self.result = result
        self.found_at = found_at
        self.floor: int | None = None
        """Severity position of the first failure; shrinking keeps to it or worse."""

    def check_all(self, rec: RunRecord, checks: Sequence[Callable[[RunRecord], None]]
                  ) -> None:
        """Raise the worst violation (:func:`sforg_sim.invariants.worst`), unless it is
        milder than the first failure's."""
        got = invariants_module.worst(rec, checks)
        if got is None:
            return
        pos, violation = got
        if self.floor is None:
            self.floor = pos
            self.found_at.append(self.result.examples)
        elif pos > self.floor:
            return
        raise violation


MINIMISE_RUNS = 400
"""Runs :func:`minimise` may spend (each is one harness run, most of them small).

The kit shrinks a counterexample itself, not with hypothesis's shrinker: that one works
on the draws behind a case, and a case whose partition cuts and fault numbers hang on
the record count took it 800 runs (and 15,000 draws) and 90 s to leave at 18 records
(issue 18). :func:`minimise` works on the case's plain values instead."""


def _reindexed(parts: Sequence[Partition]) -> tuple[Partition, ...]:
    return tuple(Partition(i, p.start, p.end) for i, p in enumerate(parts))


def _with_times(fp: FaultPlan, name: str, at: tuple[int, ...]) -> FaultPlan:
    """``fp`` with its ``callouts``, ``locks`` or ``empty`` occurrence numbers replaced."""
    if name == "callouts":
        return replace(fp, callouts=at)
    if name == "locks":
        return replace(fp, locks=at)
    return replace(fp, empty=at)


def _smaller(case: Case) -> Iterator[Case]:
    """Candidate simplifications of ``case``, each one step: fewer records, source rows,
    faults, changes and partitions, earlier faults, smaller pages, plainer values.

    Only steps that stay inside any narrowed search: partitions are merged, never
    dropped (a dropped one would put records out of scope, which ``partial_scope=False``
    excludes), and the edition and quota are kept (a ``cases=`` may fix them).

    Steps act on the case's plain values, so removing a record leaves the partition
    bounds and fault numbers as they are (hypothesis's shrinker, working on the draws
    behind them, re-draws the cuts and numbers whenever the record count changes)."""
    ds, part, cfg, fp = case.dataset, case.partitioning, case.config, case.faults
    # Records in chunks first (halves, quarters, ... single ones): a 20-record case
    # loses most of them in a few runs instead of twenty.
    n = len(ds.rows)
    size = n // 2
    while size >= 1:
        for lo in range(0, n, size):
            yield replace(case, dataset=replace(ds, rows=ds.rows[:lo] + ds.rows[lo + size:]))
        size //= 2
    m = len(ds.source_only)
    size = max(1, m // 2)
    while size >= 1:
        for lo in range(0, m, size):
            yield replace(case, dataset=replace(
                ds, source_only=ds.source_only[:lo] + ds.source_only[lo + size:]))
        size //= 2
    for i in range(len(fp.changes)):
        yield replace(case, faults=replace(fp, changes=fp.changes[:i] + fp.changes[i + 1:]))
    for name in ("callouts", "locks", "empty"):
        at: tuple[int, ...] = getattr(fp, name)
        for i in range(len(at)):
            yield replace(case, faults=_with_times(fp, name, at[:i] + at[i + 1:]))
    if fp.quota_at is not None:
        yield replace(case, faults=replace(fp, quota_at=None))
    for i, (q, after, answers) in enumerate(fp.runs):
        def with_run(new: tuple[tuple[int, int, tuple[str, ...]], ...], i: int = i) -> Case:
            return replace(case, faults=replace(fp, runs=fp.runs[:i] + new + fp.runs[i + 1:]))
        yield with_run(())
        for j in range(len(answers)):  # one answer fewer
            if len(answers) > 1:
                yield with_run(((q, after, answers[:j] + answers[j + 1:]),))
        if after:
            yield with_run(((q, after - 1, answers),))
        if q:
            yield with_run(((0, after, answers),))
    parts = part.parts
    for i in range(len(parts) - 1):
        merged = Partition(i, parts[i].start, parts[i + 1].end)
        yield replace(case, partitioning=replace(part, parts=_reindexed(
            [*parts[:i], merged, *parts[i + 2:]])))
    for size in sorted({1, cfg.page_size - 1}):
        if 1 <= size < cfg.page_size:
            yield replace(case, config=replace(cfg, page_size=size))
    if cfg.batch_scope > 1:
        yield replace(case, config=replace(cfg, batch_scope=1))
    if cfg.seed:
        yield replace(case, config=replace(cfg, seed=0))
    if cfg.segment_rows != 12_500:
        yield replace(case, config=replace(cfg, segment_rows=12_500))
    if fp.quota_at is not None and fp.quota_at > 1:
        yield replace(case, faults=replace(fp, quota_at=1))
        yield replace(case, faults=replace(fp, quota_at=fp.quota_at - 1))
    for name in ("callouts", "locks", "empty"):
        at = getattr(fp, name)
        for i, n in enumerate(at):
            if n > 1 and (i == 0 or at[i - 1] < n - 1):
                yield replace(case, faults=_with_times(fp, name, (*at[:i], n - 1, *at[i + 1:])))
    for i, c in enumerate(fp.changes):
        if c.after > 0:
            earlier = replace(c, after=c.after - 1)
            yield replace(case, faults=replace(
                fp, changes=(*fp.changes[:i], earlier, *fp.changes[i + 1:])))
    # A record and a source-only row together: page boundaries move with each removal,
    # so a pair of rows can be removable where neither is alone.
    for i in range(len(ds.rows)):
        for j in range(m):
            yield replace(case, dataset=replace(
                ds, rows=ds.rows[:i] + ds.rows[i + 1:],
                source_only=ds.source_only[:j] + ds.source_only[j + 1:]))
    for i in range(len(ds.rows)):
        for j in range(i + 1, len(ds.rows)):
            yield replace(case, dataset=replace(
                ds, rows=ds.rows[:i] + ds.rows[i + 1:j] + ds.rows[j + 1:]))
    for i, r in enumerate(ds.rows):
        for simpler in (replace(r, stage="Prospecting"), replace(
                r, source_stage=TARGET_STAGE if r.source_stage is not None else None)):
            if simpler != r:
                yield replace(case, dataset=replace(
                    ds, rows=(*ds.rows[:i], simpler, *ds.rows[i + 1:])))


def minimise(target: Target, case: Case, rec: RunRecord, violation: AssertionError,
             checks: Sequence[Callable[[RunRecord], None]], floor: int,
             execution_cap: int | None = None, budget: int = MINIMISE_RUNS
             ) -> tuple[Case, RunRecord, AssertionError]:
    """Greedy one-step simplification of a counterexample, on the case itself.

    Tries :func:`_smaller`'s steps in order and keeps the first that still breaks an
    invariant at least as severe as ``floor`` (the position of the first failure's worst
    invariant in ``checks``), until no step helps or ``budget`` runs are spent. The
    result is deterministic: the same case and processor give the same answer.
    """
    spent = 0
    improved = True
    while improved and spent < budget:
        improved = False
        for candidate in _smaller(case):
            if spent >= budget:
                break
            spent += 1
            try:
                got_rec = run(target, candidate, execution_cap=execution_cap)
            except Exception:  # a step that makes the case unloadable is no step
                continue
            got = invariants_module.worst(got_rec, checks)
            if got is not None and got[0] <= floor:
                case, rec, violation = candidate, got_rec, got[1]
                improved = True
                break
    return case, rec, violation


def _label(target: Target) -> str:
    name = getattr(target, "name", None)
    if isinstance(name, str):
        return name
    return getattr(target, "__name__", type(target).__name__)


def _features(s: Case) -> list[str]:
    out = [f"form:{s.partitioning.form}"]
    if len(s.partitioning.parts) > 1:
        out.append("several partitions")
    if any(r.key is None for r in s.dataset.rows):
        out.append("NULL keys")
    if any(r.key is not None and not r.key.startswith(KEY_PREFIX)
           for r in s.dataset.rows):
        out.append("non-team ids")
    out += [f"change:{c.kind}" for c in s.faults.changes]
    if s.faults.quota_at is not None or s.config.api_remaining is not None:
        out.append("limited quota")
    return out


def describe_failure(case: Case, run: RunRecord, violation: AssertionError,
                     processor: str = "the processor", examples: int = 0) -> str:
    """The plain-words report: what went wrong, then the input, then what the run did."""
    kind = getattr(violation, "invariant", type(violation).__name__)
    if run.terminated:
        ended = "it ended by itself"
    elif run.crash is not None:
        ended = "it ended with a Python exception"
    else:
        ended = (f"the harness stopped it after {run.total_executions} async executions "
                 "(it would not stop)")
    rejected = run.rejected or [0] * len(run.calls)
    did = [f"{run.total_executions} async executions; data calls per partition "
           f"{[c + r for c, r in zip(run.calls, rejected)]} (rejected {rejected}, "
           f"refused {run.refused}); {ended}"]
    if run.rejections:
        did.append(f"the source rejected {sum(rejected)} call(s), e.g. " +
                   "; ".join(run.rejections))
    if run.failures:
        did.append("failed jobs: " + "; ".join(run.failures[:5]))
    if run.quota_exhausted:
        did.append("the API quota ran out (REQUEST_LIMIT_EXCEEDED)")
    if run.skipped_changes:
        did.append("changes that could not be applied: " + "; ".join(run.skipped_changes))
    lines = [
        f"{processor} breaks the {kind} invariant "
        f"(shrunk counterexample, found within {examples} examples):",
        "",
        f"What went wrong: {violation}",
        *(f"Also broken: {getattr(e, 'invariant', type(e).__name__)}: {e}"
          for e in getattr(violation, "also", [])),
        "",
        "The dataset: " + case.dataset.describe(),
        "The partitioning: " + case.partitioning.describe(),
        "The configuration: " + case.config.describe(),
        "The fault schedule: " + case.faults.describe(),
        "",
        "What the run did: " + "; ".join(did),
        "",
        "Replay it with sforg_sim.harness.run(processor, case), or pin it with "
        "check_processor(..., examples=[case]) where case is:",
        f"    {case!r}",
    ]
    return "\n".join(lines)
