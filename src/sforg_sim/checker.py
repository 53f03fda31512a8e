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

import contextlib
import inspect
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import Phase, example, given, seed, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.errors import Flaky, InvalidArgument
from hypothesis.strategies import SearchStrategy

from . import invariants as inv
from .cases import Case, FaultPlan, RunRecord
from .errors import UsageError
from .harness import Target, run
from .nightly import KEY_PREFIX, TARGET_STAGE, Partition
from .profiles import CI_SEED, PROFILES, register_profiles
from .strategies import cases as default_cases

__all__ = ["CheckResult", "ProcessorCheckFailed", "ProcessorIsFlaky", "check_processor",
           "describe_failure", "minimise"]


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
        try:
            parent = settings.get_profile(
                f"sforg-{profile}" if f"sforg-{profile}" in PROFILES else profile)
        except InvalidArgument:
            raise UsageError(f"profile={profile!r} is not a hypothesis profile; the kit's "
                             f"are {', '.join(PROFILES)} (or ci, dev, thorough), or None "
                             "for the loaded one") from None
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
    ``database`` is hypothesis's example database (None: keep nothing between runs; a
    path: a ``DirectoryBasedExampleDatabase`` there). Bad arguments raise
    :class:`~sforg_sim.errors.UsageError` with the reason before anything runs; a
    factory returning something other than a job, at the first run.

    Returns a :class:`CheckResult` when no counterexample is found; raises
    :class:`ProcessorCheckFailed` with the shrunk one otherwise, or
    :class:`ProcessorIsFlaky` when one case gives different verdicts run after run
    (state kept between runs).
    """
    checks, examples, database = _validated(target, profile, cases, invariants, examples,
                                            max_examples, database, execution_cap, name)
    result = CheckResult(0)
    found_at: list[int] = []
    """Examples run when the first counterexample turned up (before any shrinking)."""
    # Under a derandomized profile the seed is fixed (profiles.CI_SEED), not a digest of
    # this function's source, so editing it no longer moves the pinned shrunk sizes.
    floor = _Checks(result, found_at)
    label = name or _label(target)

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
            floor.check_all(rec, checks)
        except AssertionError as violation:
            raise _Found(case, rec, violation) from None

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
    except UsageError as e:  # a factory returning no job, found at the first run
        raise UsageError(str(e)) from None
    except _Found as found:
        n = found_at[0] if found_at else result.examples
        case, rec, violation = found.case, found.run, found.violation
        if case not in examples and floor.floor is not None:
            case, rec, violation = minimise(target, case, rec, violation, checks,
                                            floor.floor, execution_cap)
        # The harness is deterministic (a fresh org, seeded sources, simulated time), so
        # the same case must give the same verdict. If it does not, the processor keeps
        # state between runs, and the shrunk case would be noise: say so instead.
        again = _unstable(target, case, violation, found.case, checks, execution_cap)
        if again is not False:
            raise _flaky(label, found, n, again) from None
        raise ProcessorCheckFailed(
            describe_failure(case, rec, violation, label, n),
            case, rec, violation, n) from None
    except Flaky as flaky:
        # Hypothesis replays a failing example before reporting it; when the replay
        # passes it raises FlakyFailure (an ExceptionGroup) holding the first failure.
        first = _first_found(flaky)
        if first is None:
            raise
        n = found_at[0] if found_at else result.examples
        raise _flaky(label, first, n, None) from None
    return result


_OTHER_CASE = Case.of([f"{KEY_PREFIX}01"], [f"{KEY_PREFIX}01", f"{KEY_PREFIX}02"],
                      page_size=1)
"""A one-record case run between two runs of a counterexample (:func:`_unstable`)."""


def _unstable(target: Target, case: Case, violation: AssertionError, found: Case,
              checks: Sequence[Callable[[RunRecord], None]], execution_cap: int | None
              ) -> tuple[int, AssertionError] | bool | None:
    """False when ``case`` breaks ``violation`` again on every re-run; else the
    verdict of the first re-run that differs (None: it kept every invariant).

    ``case`` is run again right away, then after a run of ``found`` (the case as first
    found) and after a one-record case: state kept across runs (a counter in a class
    attribute) shifts with the runs between, and :func:`minimise`, which keeps only the
    cases that fail, tends to settle on one whose own runs realign that state (a
    one-in-seven "safety stop" met a 7-execution case that failed every time it ran
    alone: review finding).
    """
    for between in (None, found, _OTHER_CASE):
        if between is not None:
            # Only the counterexample's verdict matters here, not this run's.
            with contextlib.suppress(Exception):
                run(target, between, execution_cap=execution_cap)
        got = inv.worst(run(target, case, execution_cap=execution_cap), checks)
        if got is None or str(got[1]) != str(violation):
            return got
    return False


def _validated(target: Any, profile: Any, cases: Any, invariants: Any, examples: Any,
               max_examples: Any, database: Any, execution_cap: Any, name: Any
               ) -> tuple[tuple[Callable[[RunRecord], None], ...], tuple[Case, ...],
                          ExampleDatabase | None]:
    """``check_processor``'s arguments checked up front: (checks, examples, database),
    or a :class:`~sforg_sim.errors.UsageError` with the reason. Each used to surface
    later as a raw traceback from inside hypothesis or the harness (review finding)."""
    if target is None or isinstance(target, (str, bytes)):
        raise UsageError(f"target={target!r}: pass a Processor (KeysetProcessor()) or a "
                         "job factory (partition, page_size) -> Queueable | Batchable" +
                         (", not a name" if target is not None else ""))
    if not hasattr(target, "start"):
        if not callable(target):
            raise UsageError(f"target={target!r} is neither a Processor (with start()) nor "
                             "a job factory (partition, page_size) -> Queueable | Batchable")
        try:
            sig = inspect.signature(target)
        except (TypeError, ValueError):  # a builtin: nothing to check ahead
            sig = None
        if sig is not None:
            try:
                sig.bind(Partition(0, f"{KEY_PREFIX}0", f"{KEY_PREFIX}1"), 1)
            except TypeError as e:
                raise UsageError(f"the job factory {_label(target)} cannot be called as "
                                 f"factory(partition, page_size): {e}") from None
    if profile is not None and not isinstance(profile, str):
        raise UsageError(f"profile={profile!r} must be a profile name or None")
    if cases is not None and not isinstance(cases, SearchStrategy):
        raise UsageError(f"cases={cases!r} must be a hypothesis strategy of Case "
                         "(sforg_sim.strategies.cases(...)) or None")
    if callable(invariants) or isinstance(invariants, (str, bytes)):
        raise UsageError("invariants= takes a sequence of checks (invariants=[check] for "
                         "one), not a single check")
    try:
        checks = tuple(invariants)
    except TypeError:
        raise UsageError(f"invariants={invariants!r} must be a sequence of checks "
                         "(RunRecord) -> None") from None
    if bad := [c for c in checks if not callable(c)]:
        raise UsageError(f"invariants: {bad[0]!r} is not a check (RunRecord) -> None")
    if isinstance(examples, Case):
        raise UsageError("examples= takes a list of cases: write examples=[case]")
    try:
        pinned = tuple(examples)
    except TypeError:
        raise UsageError(f"examples={examples!r} must be a list of Case") from None
    if bad_ex := [e for e in pinned if not isinstance(e, Case)]:
        raise UsageError(f"examples: {bad_ex[0]!r} is not a sforg_sim.cases.Case")
    for label, value in (("max_examples", max_examples), ("execution_cap", execution_cap)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise UsageError(f"{label}={value!r} must be a whole number of at least 1, "
                             "or None")
    if name is not None and not isinstance(name, str):
        raise UsageError(f"name={name!r} must be a string or None")
    if isinstance(database, (str, os.PathLike)):
        # A path, as hypothesis's own settings take a directory database.
        database = DirectoryBasedExampleDatabase(os.fspath(database))
    elif database is not None and not isinstance(database, ExampleDatabase):
        raise UsageError(f"database={database!r} must be a hypothesis ExampleDatabase, a "
                         "directory path, or None (keep nothing)")
    return checks, pinned, database


class ProcessorIsFlaky(ProcessorCheckFailed):
    """The processor gave different results on the same case: some state of it outlives
    a run. ``case``, ``run`` and ``violation`` are the *first* run's, as found."""


def _first_found(group: BaseException) -> _Found | None:
    """The first :class:`_Found` inside an exception (group), depth first."""
    if isinstance(group, _Found):
        return group
    for inner in getattr(group, "exceptions", ()):
        got = _first_found(inner)
        if got is not None:
            return got
    return None


def _flaky(label: str, first: _Found, examples: int,
           again: tuple[int, AssertionError] | bool | None) -> ProcessorIsFlaky:
    """The report for a processor whose verdict changed between two runs of one case.

    Apex static variables live for one transaction: they are static only within the
    scope of the Apex transaction, and their value is reset across transaction
    boundaries (Apex Developer Guide, "Static and Instance Methods, Variables, and
    Initialization Code",
    https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_classes_static.htm;
    each async execution is a transaction of its own). A Python port's class attributes
    and module globals live as long as the process, across every run the checker makes,
    so a counter kept there changes what the job does from one run to the next (review
    finding: it surfaced as hypothesis's raw FlakyFailure).
    """
    then = (f"run again, it broke the {getattr(again[1], 'invariant', '?')} invariant "
            f"differently: {again[1]}" if isinstance(again, tuple) else
            "run again, it kept every invariant")
    head = (f"{label} gave different results on the same case: state outlives a run "
            "(class attributes? module globals? Apex statics reset per transaction, "
            "Python's do not). One case broke the "
            f"{getattr(first.violation, 'invariant', '?')} invariant; {then}. Below: the "
            "case as first found and its first run (not shrunk: a verdict that drifts "
            "between runs makes shrinking noise).")
    body = describe_failure(first.case, first.run, first.violation, label, examples,
                            headline=f"The first run (found within {examples} examples):")
    return ProcessorIsFlaky(head + "\n\n" + body, first.case, first.run, first.violation,
                            examples)


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
        got = inv.worst(rec, checks)
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


def _merged(case: Case, i: int, merged: Partition, rec: RunRecord | None) -> Iterator[Case]:
    """``case`` with partitions ``i`` and ``i + 1`` merged into ``merged``, its faults
    remapped to follow their partitions.

    A fault run targets partition ``q % n`` and a relative change counts the executions
    of its key's partition: merging shifts the partitions after ``i`` down by one, so
    each run's ``q`` is remapped (without it the merged case lost the run and every merge
    was rejected: review finding, replay1). A second candidate also moves what was timed
    in partition ``i + 1`` past what partition ``i`` did in ``rec`` (its data calls, its
    executions): in the merged chain those come first.
    """
    fp, parts = case.faults, case.partitioning.parts
    n = len(parts)

    def remap(q: int) -> int:
        p = q % n
        return p if p <= i else p - 1

    new_parts = _reindexed([*parts[:i], merged, *parts[i + 2:]])
    runs = tuple((remap(q), after, answers) for q, after, answers in fp.runs)
    plain = replace(case, partitioning=replace(case.partitioning, parts=new_parts),
                    faults=replace(fp, runs=runs))
    yield plain
    if rec is None:
        return
    calls = sum(1 for q, o, _ in rec.call_log if q == i and o != "lock fault")
    execs = rec.executions[i] if i < len(rec.executions) else 0
    later_runs = any(q % n == i + 1 for q, _, _ in fp.runs)
    later_changes = [c.relative and case.index_of(c.key) == i + 1 for c in fp.changes]
    if not ((later_runs and calls) or (any(later_changes) and execs)):
        return
    shifted_runs = tuple((remap(q), after + calls if q % n == i + 1 else after, answers)
                         for q, after, answers in fp.runs)
    shifted_changes = tuple(replace(c, after=c.after + execs) if later and c.after else c
                            for c, later in zip(fp.changes, later_changes))
    yield replace(plain, faults=replace(fp, runs=shifted_runs, changes=shifted_changes))


def _smaller(case: Case, rec: RunRecord | None = None) -> Iterator[Case]:
    """Candidate simplifications of ``case``, each one step: fewer records, source rows,
    faults, changes and partitions, earlier faults, smaller pages, plainer values.

    Only steps that stay inside any narrowed search: partitions are merged, never
    dropped (a dropped one would put records out of scope, which ``partial_scope=False``
    excludes), and the edition and quota are kept (a ``cases=`` may fix them).

    Steps act on the case's plain values, so removing a record leaves the partition
    bounds and fault numbers as they are (hypothesis's shrinker, working on the draws
    behind them, re-draws the cuts and numbers whenever the record count changes).
    ``rec``, the case's run, times merged partitions' faults (:func:`_merged`)."""
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
    # Another user's change and a fault run together: a dropped insert takes a call
    # away from its partition, so a run timed after it must come one call earlier to
    # meet the same page (neither step helps alone; review finding, replay1).
    # A row lock likewise costs its page a second read, and a record one page of a
    # partition's calls (V1 made 9 records of a 1-record case: its empty batch was
    # timed after the calls the records before it took).
    if fp.runs:
        fewer = [replace(case, faults=replace(fp, changes=fp.changes[:i] + fp.changes[i + 1:]))
                 for i in range(len(fp.changes))]
        fewer += [replace(case, faults=replace(fp, locks=fp.locks[:i] + fp.locks[i + 1:]))
                  for i in range(len(fp.locks))]
        fewer += [replace(case, dataset=replace(ds, rows=ds.rows[:i] + ds.rows[i + 1:]))
                  for i in range(len(ds.rows))]
        for rest in fewer:
            for j, (q, after, answers) in enumerate(fp.runs):
                if after:
                    yield replace(rest, faults=replace(rest.faults, runs=(
                        *fp.runs[:j], (q, after - 1, answers), *fp.runs[j + 1:])))
    parts = part.parts
    for i in range(len(parts) - 1):
        merged = Partition(i, parts[i].start, parts[i + 1].end)
        yield from _merged(case, i, merged, rec)
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
        for candidate in _smaller(case, rec):
            if spent >= budget:
                break
            spent += 1
            try:
                got_rec = run(target, candidate, execution_cap=execution_cap)
            except Exception:  # a step that makes the case unloadable is no step
                continue
            got = inv.worst(got_rec, checks)
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
                     processor: str = "the processor", examples: int = 0,
                     headline: str | None = None) -> str:
    """The plain-words report: what went wrong, then the input, then what the run did.

    ``headline`` replaces the first line ("... breaks the X invariant (shrunk ...)")."""
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
        headline or f"{processor} breaks the {kind} invariant "
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
