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
kit's profiles by name (``sforg-ci``: 50 derandomized examples, ``sforg-dev``: 25,
``sforg-thorough``: 1,000; the short names ``ci``/``dev``/``thorough`` mean the same here).
Deadlines are always off (simulated runs vary in wall time, not in outcome) and only one
bug is reported (the first one shrunk).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import example, given, settings
from hypothesis.database import ExampleDatabase
from hypothesis.strategies import SearchStrategy

from . import invariants as inv
from . import invariants as invariants_module
from .cases import Case, RunRecord
from .harness import Target, run
from .nightly import KEY_PREFIX
from .strategies import cases as default_cases

__all__ = ["CheckResult", "ProcessorCheckFailed", "check_processor", "describe_failure"]


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
        from ._pytest_plugin import PROFILES, register_profiles

        register_profiles()
        parent = settings.get_profile(
            f"sforg-{profile}" if f"sforg-{profile}" in PROFILES else profile)
    return settings(parent, deadline=None, report_multiple_bugs=False, database=database,
                    **{k: v for k, v in overrides.items() if v is not None})


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
    # ``property_``'s source text is part of hypothesis's derandomisation seed (its
    # function digest), and the kit's tests pin shrunk sizes found under that seed; so
    # its body stays as it was and the new bookkeeping lives in this local ``inv``.
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
    test = _settings(profile, database=None if database is None else _Keyed(database, label),
                     max_examples=max_examples)(test)
    try:
        test()
    except _Found as found:
        n = found_at[0] if found_at else result.examples
        raise ProcessorCheckFailed(
            describe_failure(found.case, found.run, found.violation, _label(target), n),
            found.case, found.run, found.violation, n) from None
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
    """``check_all`` that notes how many examples ran before the first failure, so "found
    within N examples" counts generation only, not the shrinking runs after it."""

    def __init__(self, result: CheckResult, found_at: list[int]) -> None:
        self.result = result
        self.found_at = found_at

    def check_all(self, rec: RunRecord, checks: Sequence[Callable[[RunRecord], None]]
                  ) -> None:
        """Raise the worst violation (:func:`sforg_sim.invariants.check_all`)."""
        try:
            invariants_module.check_all(rec, checks)
        except AssertionError:
            if not self.found_at:
                self.found_at.append(self.result.examples)
            raise


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
