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
from hypothesis.strategies import SearchStrategy

from . import invariants as inv
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


def _settings(profile: str | None, **overrides: Any) -> settings:
    if profile is None:
        parent = settings.default
    else:
        # The kit's profiles, also outside pytest. A short name means the kit's profile
        # here (hypothesis has a built-in "ci" that differs from ours: 100 examples).
        from ._pytest_plugin import PROFILES, register_profiles

        register_profiles()
        parent = settings.get_profile(
            f"sforg-{profile}" if f"sforg-{profile}" in PROFILES else profile)
    return settings(parent, deadline=None, report_multiple_bugs=False,
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

    ident = re.sub(r"\W", "_", name or _label(target))
    property_.__name__ = property_.__qualname__ = f"check_{ident}"
    test = given(case=cases if cases is not None else default_cases())(
        property_)
    for ex in reversed(examples):
        test = example(case=ex)(test)
    test = _settings(profile, max_examples=max_examples, database=database)(test)
    try:
        test()
    except _Found as found:
        raise ProcessorCheckFailed(
            describe_failure(found.case, found.run, found.violation, _label(target),
                             result.examples),
            found.case, found.run, found.violation, result.examples) from None
    return result


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
        ended = "by itself"
    elif run.crash is not None:
        ended = "with a Python exception"
    else:
        ended = (f"stopped by the harness after {run.total_executions} async executions "
                 "(it would not stop)")
    did = [f"{run.total_executions} async executions; data calls per partition "
           f"{run.calls} (refused {run.refused}); ended {ended}"]
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
