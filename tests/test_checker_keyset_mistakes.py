"""Beyond V1: the classic keyset mistakes, as small broken processors, all caught small."""

from __future__ import annotations

import pytest

from broken_processors import factory
from sforg_sim import strategies as sfst
from sforg_sim.cases import Case, FaultPlan
from sforg_sim.checker import ProcessorCheckFailed, check_processor
from sforg_sim.harness import Target, run
from sforg_sim.invariants import CoverageViolation, TerminationViolation, check_all

B = ["externalOpp01", "externalOpp02", "externalOpp03"]


def _found(target: Target, pinned: Case, **kw: object) -> ProcessorCheckFailed:
    # The shrunk size asserted below is a property of the derandomised search: under a
    # random seed (plain `pytest`) the shrinker may stop a record higher. So always "ci".
    with pytest.raises(ProcessorCheckFailed) as found:
        check_processor(target, profile="ci", **kw)  # type: ignore[arg-type]
    with pytest.raises(ProcessorCheckFailed) as replayed:
        check_processor(target, examples=[pinned], **kw)  # type: ignore[arg-type]
    assert replayed.value.case == pinned
    return found.value


def test_the_correct_keyset_job_passes() -> None:
    """The control: without bugs the same job passes, so the failures below are the bugs'."""
    result = check_processor(factory())
    assert result.examples > 0


def test_cursor_starting_at_greater_than_lo_misses_each_first_record() -> None:
    err = _found(factory(first_exclusive=True), Case.of(B[:1], B[:2], page_size=1))
    assert isinstance(err.violation, CoverageViolation)
    # Shrunk to one record, the partition's first (whatever its key's style).
    assert len(err.case.dataset.rows) == 1 and not err.case.dataset.source_only
    assert len(err.violation.lost) == 1
    assert err.violation.lost[0].startswith(repr(err.case.dataset.rows[0].key))


def test_inclusive_end_double_processes_the_shared_boundary() -> None:
    cases = sfst.cases(  # the team's data: one value, no source-only rows
        dataset=sfst.datasets(styles=("padded",), source_gaps=False, distinct_values=False),
        partitioning=lambda ds: sfst.partitionings(ds, forms=("shared-boundary",),
                                                   partial_scope=False), faults=None)
    pinned = Case.of(B[:2], [B[0], B[1], "externalOpp03"], page_size=1)
    err = _found(factory(inclusive_end=True, write_all=True), pinned, cases=cases)
    assert isinstance(err.violation, CoverageViolation) and err.violation.duplicated
    assert "written 2 times by partitions [0, 1]" in str(err.violation)
    assert len(err.case.dataset.rows) <= 2 and len(err.case.partitioning.parts) == 2


def test_inclusive_end_writes_an_out_of_scope_end_key() -> None:
    pinned = Case.of(B[:2], B[:2], page_size=1)
    err = _found(factory(inclusive_end=True), pinned, cases=sfst.cases(faults=None))
    # The search catches the mistake small (whether as the stray write itself or as the
    # extra calls it costs depends on the derandomised seed); the pinned case shows the
    # write outside the scope.
    assert len(err.case.dataset.rows) <= 3
    with pytest.raises(CoverageViolation) as pinned_err:
        check_all(run(factory(inclusive_end=True), pinned))
    assert pinned_err.value.unexpected
    assert "is in no partition" in str(pinned_err.value)


def test_greater_or_equal_cursor_loops_on_ties() -> None:
    err = _found(factory(ge_cursor=True), Case.of(B[:1], B[:2], page_size=1),
                 cases=sfst.cases(faults=None))
    # The run loops on a tie until the harness stops it; since round 2's generation the
    # search meets it where records were still unread (coverage, more severe) as often
    # as where none were (termination).
    assert isinstance(err.violation, TerminationViolation | CoverageViolation)
    assert not err.run.terminated
    assert len(err.case.dataset.rows) <= 2


def test_stopping_on_the_first_empty_page_under_transient_faults() -> None:
    cases = sfst.cases(faults=lambda keys: sfst.fault_plans(
        keys, callouts=False, locks=False, quota=False, concurrent=()))
    pinned = Case.of(B[:1], B[:2], page_size=1, faults=FaultPlan(empty=(1,)))
    err = _found(factory(stop_on_first_empty=True), pinned, cases=cases)
    assert isinstance(err.violation, CoverageViolation) and err.violation.lost
    # The kit's own minimiser (issue 18) takes it to one record and one empty batch, the
    # partition's first answer: the same shape as the pinned case below.
    assert len(err.case.dataset.rows) == 1 and err.case.faults.size() == 1
    assert err.case.faults.runs == ((0, 0, ("empty",)),)  # its first answer empty
    # The same case is fine for the job that retries empty pages.
    check_all(run(factory(), pinned))
