"""Each invariant fails on a run that breaks it, naming the records involved."""

from __future__ import annotations

import pytest

from broken_processors import factory
from sforg_sim.cases import Case, Change, FaultPlan, Partitioning
from sforg_sim.harness import run
from sforg_sim.invariants import (
    ApiBudgetExceeded,
    CoverageViolation,
    PartitionViolation,
    StageCountMismatch,
    TerminationViolation,
    api_budget,
    at_least_once,
    check_all,
    exactly_once,
    expected_stage_counts,
    partitions_disjoint_and_covering,
    stage_counts,
    terminates,
)
from sforg_sim.nightly import Partition
from sforg_sim.processors.keyset import KeysetProcessor

KEYS = ["externalOpp01", "externalOpp02", "externalOpp03", "externalOpp04"]


def test_lost_records_are_named() -> None:
    rec = run(factory(first_exclusive=True), Case.of(KEYS, [KEYS[0], KEYS[2], "x"],
                                                         page_size=2))
    # Each partition's first record is skipped: externalOpp01 and externalOpp03.
    with pytest.raises(CoverageViolation, match=r"lost 2.*'externalOpp01'.*'externalOpp03'"
                       ) as e:
        exactly_once(rec)
    assert [x[:15] for x in e.value.lost] == ["'externalOpp01'", "'externalOpp03'"]
    assert not e.value.duplicated and not e.value.unexpected
    with pytest.raises(StageCountMismatch, match=r"externalOpp01"):
        stage_counts(rec)


def test_duplicates_fail_exactly_once_but_not_at_least_once() -> None:
    rec = run(factory(inclusive_end=True, write_all=True),
              Case.of(KEYS[:2], [KEYS[0], KEYS[1], KEYS[2]], page_size=1))
    with pytest.raises(CoverageViolation, match=r"externalOpp02.*written 2 times") as e:
        exactly_once(rec)
    assert e.value.duplicated and not e.value.lost and not e.value.unexpected
    at_least_once(rec)


def test_writes_outside_the_scope_are_unexpected() -> None:
    rec = run(factory(inclusive_end=True), Case.of(KEYS[:2], KEYS[:2], page_size=1))
    with pytest.raises(CoverageViolation, match=r"unexpected 1.*'externalOpp02'.*no partition"):
        at_least_once(rec)


def test_records_inserted_during_the_run_are_classified_not_lost() -> None:
    changes = (Change(1, "insert", "externalOpp01b"), Change(1, "insert", "zzz"),
               Change(2, "delete", "externalOpp04"), Change(0, "update", "externalOpp02"))
    rec = run(KeysetProcessor(), Case.of(KEYS, [KEYS[0], "externalOpp05"], page_size=1,
                                             faults=FaultPlan(changes=changes)))
    assert len(rec.inserted) == 2 and rec.deleted and rec.updated
    check_all(rec)  # the insert behind the cursor is not lost; the out-of-range one untouched
    counts = expected_stage_counts(rec)
    assert sum(counts.values()) == 4  # 3 live snapshot records + the in-range insert


def test_termination_and_budget() -> None:
    rec = run(factory(ge_cursor=True), Case.of(KEYS[:1], KEYS[:2], page_size=1),
              execution_cap=40)
    with pytest.raises(TerminationViolation, match=r"did not end"):
        terminates(rec)
    with pytest.raises(ApiBudgetExceeded,
                       match=r"partition 0 .* made 40 data calls for 1 distinct page; "
                             r"the bound is 4"):
        api_budget(rec)
    fine = run(KeysetProcessor(), Case.of(KEYS, [KEYS[0], "x"], page_size=3))
    assert fine.calls == [2 + 3]  # ceil(4/3) pages + 3 empty probes, exactly the budget
    api_budget(fine)
    terminates(fine)


def test_partition_ranges_must_be_disjoint_and_covering() -> None:
    base = Case.of(KEYS, [KEYS[0], "x"])
    gap = Partitioning((Partition(0, KEYS[0], KEYS[1]), Partition(1, KEYS[2], "x")))
    rec = run(KeysetProcessor(), Case(base.dataset, gap))
    with pytest.raises(PartitionViolation, match=r"in no partition: 'externalOpp02'"):
        partitions_disjoint_and_covering(rec)
    overlap = Partitioning((Partition(0, KEYS[0], KEYS[2]), Partition(1, "EXTERNALOPP02", "x")))
    rec = run(KeysetProcessor(), Case(base.dataset, overlap))
    with pytest.raises(PartitionViolation, match=r"partitions 0 and 1 overlap"):
        partitions_disjoint_and_covering(rec)
