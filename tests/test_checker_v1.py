"""The project's own proof, part 2: the checker finds each of V1's failure modes, small.

Each test lets hypothesis search a space narrowed to one failure mode, asserts what it
found and that the shrunk counterexample is tiny, then pins that counterexample
(``examples=``, hypothesis's ``@example``) and checks it is replayed first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import strategies as st

from sforg_sim import strategies as sfst
from sforg_sim.cases import Case, Dataset, FaultPlan
from sforg_sim.checker import ProcessorCheckFailed, check_processor
from sforg_sim.harness import Run, Target, run
from sforg_sim.invariants import (
    ALL,
    ApiBudgetExceeded,
    CoverageViolation,
    TerminationViolation,
    api_budget,
    check_all,
    reads_once,
    terminates,
)
from sforg_sim.processors.offset import OffsetProcessor

BOUNDS = ["externalOpp01", "externalOpp02", "externalOpp03"]


CHECKS = tuple(i for i in ALL if i is not reads_once)
"""Every invariant but reads_once (V1's OFFSET paging re-reads rows in every run)."""
NO_BUDGET = tuple(i for i in CHECKS if i not in (api_budget, terminates))
"""Without the bounds on calls and executions either (``ends`` stays: a run that never
stops is still caught): V1 re-reads every page after the callout rule restarts it (the
test below) in every run of two records or more, so with the exact budget (issue 18)
that is found before the failure mode each other test is about."""


def _team_values() -> st.SearchStrategy[Dataset]:
    """The team's data: its id style, every source row saying Qualification. V1 skips
    records already at Qualification (its StageName != 'Qualification' filter) and reads
    its end inclusively, so with distinct source values and mixed-case ids (the default
    since issue 18) those are found before the failure mode each test below is about."""
    return sfst.datasets(styles=("padded",), distinct_values=False)


def _fails(target: Target, cases: st.SearchStrategy[Case],
           pinned: Case, checks: tuple[Any, ...] | None = None) -> ProcessorCheckFailed:
    # Shrunk sizes asserted by the tests are properties of the derandomised search (under
    # a random seed the shrinker may stop a record higher), so the search is always "ci".
    with pytest.raises(ProcessorCheckFailed) as found:
        check_processor(target, cases=cases, profile="ci", invariants=checks or NO_BUDGET)
    with pytest.raises(ProcessorCheckFailed) as replayed:
        check_processor(target, cases=cases, examples=[pinned], invariants=checks or NO_BUDGET)
    assert replayed.value.case == pinned
    assert type(replayed.value.violation) is type(found.value.violation)
    return found.value


def _no_faults(**config: Any) -> st.SearchStrategy[Case]:
    return sfst.cases(dataset=_team_values(), config=sfst.run_configs(**config), faults=None)


def _only(**kinds: bool) -> Callable[..., st.SearchStrategy[FaultPlan]]:
    flags = {"callouts": False, "locks": False, "empty": False, "quota": False, **kinds}
    return lambda keys: sfst.fault_plans(keys, concurrent=(), **flags)


def _faults(**kinds: bool) -> st.SearchStrategy[Case]:
    """Only these fault kinds, no OFFSET cap in reach (so V1 does not loop first) and
    no key past the last partition's end (so V1's inclusive end writes nothing extra)."""
    return sfst.cases(dataset=_team_values(),
                      config=sfst.run_configs(max_offsets=st.just(2_000)),
                          partitioning=lambda ds: sfst.partitionings(ds, partial_scope=False),
                          faults=_only(**kinds))


def _in_scope_no_faults() -> st.SearchStrategy[Case]:
    """No faults, and no key past the last partition's end (V1's inclusive end would
    otherwise be found first)."""
    return sfst.cases(dataset=_team_values(),
                      partitioning=lambda ds: sfst.partitionings(ds, partial_scope=False),
                      faults=None)


def test_v1_skips_records_when_paging_a_filter_on_the_written_field() -> None:
    v1 = OffsetProcessor("v1-skip", page_source="opportunity", restart_on_error=False,
                         pages_per_execution=1)
    pinned = Case.of(BOUNDS[:2], ["externalOpp01", "externalOpp03"], page_size=1)
    err = _fails(v1, _in_scope_no_faults(), pinned)
    assert isinstance(err.violation, CoverageViolation)
    assert len(err.violation.lost) == 1 and not err.violation.duplicated
    assert len(err.case.dataset.rows) == 2 and err.case.config.page_size == 1


def test_v1_rereads_every_page_done_after_the_callout_rule_restarts_it() -> None:
    """Defaults, documented rules only: V1's callout after its update throws "You have
    uncommitted work pending" (Apex Developer Guide, "Callout Limits and Limitations"),
    its catch-all restarts at offset 0 and re-reads the pages already done."""
    v1 = OffsetProcessor("v1")
    pinned = Case.of(BOUNDS[:2], BOUNDS[::2], page_size=1)
    err = _fails(v1, _in_scope_no_faults(), pinned, CHECKS)
    assert isinstance(err.violation, ApiBudgetExceeded)
    assert err.case.config.max_offset is None and err.case.faults.size() == 0
    assert len(err.case.dataset.rows) <= 3
    r = Run(v1, pinned)
    try:
        rec = r.finish()
        assert r.observer.errors == {"CalloutException: uncommitted work pending": 2}
        assert rec.calls == [6] and not rec.failures  # 2 records, 6 calls: caught, hidden
    finally:
        r.close()


def test_v1_loops_forever_once_the_offset_passes_the_cap_what_if() -> None:
    """The opt-in what if (no document states a Data Cloud OFFSET cap): max_offset=3."""
    v1 = OffsetProcessor("v1")
    pinned = Case.of(BOUNDS[:1], BOUNDS[:2], page_size=4, max_offset=3)
    err = _fails(v1, _no_faults(max_offsets=st.just(3)), pinned)
    assert isinstance(err.violation, TerminationViolation)
    assert not err.run.terminated
    assert len(err.case.dataset.rows) <= 4 and err.case.faults.size() == 0


def test_v1_keeps_calling_after_request_limit_exceeded() -> None:
    v1 = OffsetProcessor("v1")
    pinned = Case.of([], ["externalOpp0", "externalOpp00"], page_size=1,
                         faults=FaultPlan(quota_at=1))
    err = _fails(v1, _faults(quota=True), pinned)
    assert isinstance(err.violation, (TerminationViolation, ApiBudgetExceeded))
    assert err.run.quota_exhausted and sum(err.run.refused) > 1
    assert len(err.case.dataset.rows) <= 1


def test_v1_stops_for_good_on_one_transient_empty_page() -> None:
    v1 = OffsetProcessor("v1")
    pinned = Case.of(BOUNDS[:1], BOUNDS[:2], page_size=1, faults=FaultPlan(empty=(1,)))
    err = _fails(v1, _faults(empty=True), pinned)
    assert isinstance(err.violation, CoverageViolation) and err.violation.lost
    # One fault. The record count is not bounded here since issue 18's second round:
    # under the moved ci draws minimise stops at 9 records (V1's restarts tie the
    # empty batch's call number to the records before it); the pinned case is the
    # 1-record shape.
    assert err.case.faults.size() == 1


def test_v1_fails_its_chain_on_a_row_lock() -> None:
    v1 = OffsetProcessor("v1")
    pinned = Case.of(BOUNDS[:1], BOUNDS[:2], page_size=1, faults=FaultPlan(locks=(1,)))
    err = _fails(v1, _faults(locks=True), pinned)
    assert isinstance(err.violation, CoverageViolation) and err.violation.lost
    assert any("UNABLE_TO_LOCK_ROW" in f for f in err.run.failures)
    assert len(err.case.dataset.rows) <= 2 and err.case.faults.locks == (1,)


def test_v1_inclusive_end_writes_a_record_outside_its_range() -> None:
    v1 = OffsetProcessor("v1")
    pinned = Case.of(BOUNDS[:2], BOUNDS[:2], page_size=1)
    err = _fails(v1, _no_faults(max_offsets=st.just(2_000)), pinned)
    # The search finds a coverage violation in a handful of records (which one depends on
    # the examples: under CI_SEED it meets V1's OFFSET skipping first, which needs about
    # six records to show); the pinned case shows the out-of-range write itself.
    assert isinstance(err.violation, CoverageViolation)
    assert len(err.case.dataset.rows) <= 6
    with pytest.raises(CoverageViolation) as pinned_err:
        check_all(run(v1, pinned))
    assert pinned_err.value.unexpected[0].startswith("'externalOpp02'")
