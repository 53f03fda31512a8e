"""The property kit's third round: findings of a second review (false alarms first).

Each test names the finding it pins; each fails with the fix reverted (checked by hand
when the round landed: the report lists how).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import FlakyFailure

from broken_processors import factory
from correct_processors import CORRECT, OppBatch, lookahead, opp_batch
from sforg_sim import invariants as inv
from sforg_sim import strategies as sfst
from sforg_sim.apex import Context, Queueable
from sforg_sim.cases import Case, Change, Dataset, FaultPlan, OppRow, Partitioning, RunConfig
from sforg_sim.checker import (
    ProcessorCheckFailed,
    ProcessorIsFlaky,
    _first_found,
    _Found,
    _validated,
    check_processor,
    minimise,
)
from sforg_sim.errors import UsageError
from sforg_sim.harness import run
from sforg_sim.nightly import SOURCE_OBJECT, Partition
from sforg_sim.processors import DATA_ENDPOINT, sql_literal

B = [f"externalOpp{i:02d}" for i in range(1, 10)]


# --- 1. a Batchable is budgeted by the batch scope it was given ------------------------------


def test_a_batchable_is_budgeted_by_its_batch_scope() -> None:
    # 8 records, page size 6, batch scope 1: eight chunks, one IN query each. Budgeted by
    # the page size (ceil(8/6) + 3 = 5) the correct job "made 8 data calls; the bound is 5".
    case = Case.of(B[:8], [B[0], "externalOpp99"], page_size=6, batch_scope=1)
    rec = run(opp_batch, case)
    assert rec.calls == [8] and rec.batch_scope == [1]
    assert inv.partition_config(rec, 0).page_size == 1
    inv.api_budget(rec)
    inv.terminates(rec)
    assert inv.worst(rec) is None


@pytest.mark.parametrize("name", list(CORRECT))
def test_other_correct_designs_pass_under_ci(name: str) -> None:
    # The look-ahead (LIMIT page + 1) and the Batchable over a QueryLocator were flagged
    # (a budget by page size; the overlapping row as a page read twice; the Batchable's
    # SOQL-ordered range as writes "in no partition"); several pages per transaction
    # were flagged when their row lock's retry re-read them all.
    result = check_processor(CORRECT[name], profile="ci")
    assert result.examples >= 50


# --- 2. the look-ahead's overlapping row; reads_once has its own class -----------------------


def test_a_lookahead_reads_its_extra_row_again_without_a_violation() -> None:
    case = Case.of(B[:2], [B[0], B[2]], page_size=1)
    rec = run(lookahead, case)
    assert rec.lookahead_rows == [1] and sum(rec.reads[0].values()) == 3
    inv.reads_once(rec)
    assert inv.worst(rec) is None


def test_a_page_read_again_is_its_own_violation_not_an_api_budget_breach() -> None:
    case = Case.of(B[:1], B[:2], page_size=1, faults=FaultPlan(callouts=(2,)))
    rec = run(factory(rewind_on_error=True), case)
    with pytest.raises(inv.RowsReadAgain, match="'externalOpp01' read twice") as err:
        inv.reads_once(rec)
    assert not isinstance(err.value, inv.ApiBudgetExceeded)
    assert err.value.invariant == "reads once"


def test_a_soql_ordered_range_may_write_a_mixed_case_key_the_source_orders_elsewhere(
) -> None:
    # 'ExternalOPP19' sorts before 'externalOpp1' by code point (the source's order) and
    # inside 'externalOpp1'..'externalOpp21' in SOQL's: either reading is right.
    case = Case.of(["ExternalOPP19"], ["externalOpp1", "externalOpp21"], page_size=1)
    rec = run(opp_batch, case)
    assert sum(rec.writes.values()) == 1
    assert inv.order_dependent(rec) == {next(iter(rec.start)): 0}
    assert inv.worst(rec) is None


# --- 3. state that outlives a run -----------------------------------------------------------


class _Leaky(Queueable):
    """A correct one-page job, except for a process-wide counter (a 'static'): every
    seventh execution across all runs returns without doing anything."""

    pages = 0

    def __init__(self, part: Partition, page_size: int, last: str | None = None,
                 empties: int = 0) -> None:
        self.partition = part.index
        self.part, self.page_size, self.last, self.empties = part, page_size, last, empties

    def execute(self, ctx: Context) -> None:
        type(self).pages += 1
        if type(self).pages % 7 == 0:
            return  # a "safety stop" that depends on earlier runs
        lower = (f"External_ID__c >= {sql_literal(self.part.start)}" if self.last is None
                 else f"External_ID__c > {sql_literal(self.last)}")
        res = ctx.callout("POST", DATA_ENDPOINT, {"sql": (
            f"SELECT External_ID__c, StageName__c FROM {SOURCE_OBJECT} WHERE {lower} AND "
            f"External_ID__c < {sql_literal(self.part.end)} ORDER BY External_ID__c "
            f"LIMIT {self.page_size}")})
        if res.status_code == 403:
            return
        if res.status_code != 200:
            ctx.enqueue_job(type(self)(self.part, self.page_size, self.last, self.empties))
            return
        rows = res.json()["data"]
        if not rows:
            if self.empties < 2:
                ctx.enqueue_job(type(self)(self.part, self.page_size, self.last,
                                           self.empties + 1))
            return
        opps = ctx.query("SELECT Id, External_ID__c FROM Opportunity WHERE "
                         "External_ID__c IN :keys", keys=[r["External_ID__c"] for r in rows])
        stage = {r["External_ID__c"].upper(): r["StageName__c"] for r in rows}
        ctx.update("Opportunity", [{"Id": o["Id"], "StageName": stage[
            o["External_ID__c"].upper()]} for o in opps])
        ctx.enqueue_job(type(self)(self.part, self.page_size, rows[-1]["External_ID__c"]))


def test_a_processor_keeping_state_between_runs_is_reported_as_flaky() -> None:
    _Leaky.pages = 0
    with pytest.raises(ProcessorIsFlaky) as err:
        check_processor(_Leaky, profile="ci")
    text = str(err.value)
    assert text.startswith("_Leaky gave different results on the same case: state "
                           "outlives a run (class attributes?")
    assert "The first run (found within" in text and "Case(dataset=" in text
    assert isinstance(err.value, ProcessorCheckFailed)  # catchable as any failure


def test_hypothesis_flaky_failure_is_unwrapped_to_the_first_counterexample() -> None:
    case = Case.of(B[:1], B[:2])
    rec = run(lookahead, case)
    found = _Found(case, rec, AssertionError("x"))
    group = FlakyFailure("flaky", [ValueError("other"), FlakyFailure("in", [found])])
    assert _first_found(group) is found
    assert _first_found(ValueError("no")) is None


# --- 4. the minimiser merges partitions that carry a fault run --------------------------------


class _ErrorsCountedAsEmpty(OppBatch):
    """A Batchable that retries an empty answer twice, but counts 503s as tries: "503,
    503, empty" makes it give up on a chunk whose records it then never writes."""

    def execute(self, ctx: Context, scope: list[Any]) -> None:
        keys = [r["External_ID__c"] for r in scope if r["External_ID__c"]]
        sql = (f"SELECT External_ID__c, StageName__c FROM {SOURCE_OBJECT} WHERE "
               f"External_ID__c IN ({', '.join(sql_literal(k) for k in keys)})")
        for attempt in range(12):
            res = ctx.callout("POST", DATA_ENDPOINT, {"sql": sql})
            if res.status_code == 200 and (res.json()["data"] or attempt >= 2):
                data = res.json()["data"]
                break
        else:
            return
        stage = {r["External_ID__c"].upper(): r["StageName__c"] for r in data}
        changes = [{"Id": o["Id"], "StageName": stage[o["External_ID__c"].upper()]}
                   for o in scope if o["External_ID__c"].upper() in stage]
        if changes:
            ctx.update("Opportunity", changes)


def _errors_counted_as_empty(part: Partition, page_size: int) -> _ErrorsCountedAsEmpty:
    return _ErrorsCountedAsEmpty(part)


def test_minimise_merges_partitions_and_drops_a_change_timing_a_run() -> None:
    # The review's replay1 case: 2 records, 3 partitions, a run on partition 2 timed
    # after its first 2 calls (one of them an inserted record's). Merging partitions
    # left the run on a partition number that no longer meant the same one, and
    # dropping the insert left the run one call late: it stayed at 2 records, 3 parts.
    rows = (OppRow("externalOpp[2"), OppRow("externalOpp7"))
    case = Case(Dataset(rows), Partitioning((
        Partition(0, "externalopp0000005", "EXTERNALOPP0000022"),
        Partition(1, "EXTERNALOPP0000022", "EXTERNALOPP7"),
        Partition(2, "EXTERNALOPP7", "otherOpp00000520"))),
        RunConfig(page_size=1, batch_scope=1, edition="professional",
                  source_case_sensitive=False),
        FaultPlan(changes=(Change(0, "insert", "externalOpp7b", relative=True),),
                  runs=((2, 2, ("503", "503", "empty")),)))
    rec = run(_errors_counted_as_empty, case)
    pos, violation = inv.worst(rec) or (None, None)
    assert isinstance(violation, inv.CoverageViolation) and pos is not None
    small, _, got = minimise(_errors_counted_as_empty, case, rec, violation, inv.ALL, pos)
    assert isinstance(got, inv.CoverageViolation) and got.lost
    assert len(small.dataset.rows) == 1 and len(small.partitioning.parts) == 1
    assert small.faults.changes == () and small.faults.runs == ((0, 0, ("503", "503",
                                                                         "empty")),)


# --- 5. three empties split by good pages ---------------------------------------------------


def test_an_empty_count_never_reset_is_caught_under_ci_at_two_records() -> None:
    with pytest.raises(ProcessorCheckFailed) as found:
        check_processor(factory(empty_not_reset=True), profile="ci")
    err = found.value
    assert isinstance(err.violation, inv.CoverageViolation) and err.violation.lost
    # The smallest shape: 2 records, one partition, three injected empties split by the
    # first page (1 + 2 or 2 + 1), nothing else.
    assert len(err.case.dataset.rows) == 2 and len(err.case.partitioning.parts) == 1
    answers = [a for _, _, r in err.case.faults.runs for a in r]
    assert answers == ["empty"] * 3 and err.case.faults.size() == 3
    # The correct job spends the three empties and loses nothing.
    assert inv.worst(run(factory(), err.case)) is None


def test_separated_empties_are_added_to_a_partition_with_pages_left() -> None:
    ds = Dataset(tuple(OppRow(k) for k in B[:4]))
    case = Case(ds, Partitioning((Partition(0, B[0], "externalOpp99"),)),
                RunConfig(page_size=1))
    plans = {sfst._with_separated_empties(FaultPlan(), ds.keys()[i:], [0], 1)
             for i in range(4)}
    shaped = [p for p in plans if p.runs]
    assert shaped, "half the datasets get the shape"
    for plan in shaped:
        (q1, a1, r1), (q2, a2, r2) = plan.runs
        assert q1 == q2 == 0 and a1 == 0 and a2 == len(r1) + 1
        assert sorted(r1 + r2) == ["empty"] * 3 and len(r1) < 3
    assert case.partitioning.parts  # the busy partition exists


# --- 6. bad arguments ----------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, reason", [
    ({"target": None}, "pass a Processor"),
    ({"target": "v2"}, "not a name"),
    ({"target": lambda p: None}, r"cannot be called as factory\(partition, page_size\)"),
    ({"target": lambda p, s: None}, "returned None for partition 0"),
    ({"examples": Case.of(B[:1], B[:2])}, r"write examples=\[case\]"),
    ({"examples": ["x"]}, "is not a sforg_sim.cases.Case"),
    ({"invariants": inv.exactly_once}, "not a single check"),
    ({"database": 42}, "must be a hypothesis ExampleDatabase"),
    ({"max_examples": 0}, "at least 1"),
    ({"profile": "cii"}, "is not a hypothesis profile"),
])
def test_bad_arguments_are_usage_errors(kwargs: dict[str, Any], reason: str) -> None:
    target = kwargs.pop("target", lookahead)
    with pytest.raises(UsageError, match=reason):
        check_processor(target, **{"profile": "ci", **kwargs})


def test_a_database_path_is_a_directory_database(tmp_path: Path) -> None:
    where = tmp_path / "db"
    result = check_processor(lookahead, profile="ci", database=str(where), max_examples=3)
    assert result.examples >= 3
    _, _, db = _validated(lookahead, "ci", None, inv.ALL, (), None, where, None, None)
    assert isinstance(db, DirectoryBasedExampleDatabase) and db.path == where


# --- 7. the execution cap and the counts agree -----------------------------------------------


class _Retry403(Queueable):
    """Retries every error, REQUEST_LIMIT_EXCEEDED included: it spins until the cap."""

    def __init__(self, part: Partition, page_size: int) -> None:
        self.partition = part.index
        self.part, self.page_size = part, page_size

    def execute(self, ctx: Context) -> None:
        res = ctx.callout("POST", DATA_ENDPOINT, {"sql": (
            f"SELECT External_ID__c FROM {SOURCE_OBJECT} LIMIT {self.page_size}")})
        if res.status_code != 200:
            ctx.enqueue_job(_Retry403(self.part, self.page_size))


def test_the_cap_the_total_and_the_per_partition_counts_agree() -> None:
    case = Case.of(B[:2], [B[0], B[2]], page_size=1, faults=FaultPlan(quota_at=1))
    rec = run(_Retry403, case, execution_cap=20)
    assert not rec.terminated
    assert rec.total_executions == sum(rec.executions) == rec.execution_cap == 20
    with pytest.raises(inv.TerminationViolation,
                       match=r"stopped it after 20 async executions \(its cap is 20; "
                             r"partition 0: 20;"):
        inv.ends(rec)


def test_a_batchable_may_be_refused_once_per_chunk_a_queueable_once() -> None:
    # Each chunk of a Batchable runs whatever the one before met: two chunks after the
    # quota is gone are two refused calls, not a job "calling after REQUEST_LIMIT_EXCEEDED".
    case = Case.of(B[:2], [B[0], B[2]], page_size=1, batch_scope=1,
                   faults=FaultPlan(quota_at=1))
    rec = run(opp_batch, case)
    assert rec.refused == [2]
    inv.api_budget(rec)
    spin = run(_Retry403, case, execution_cap=6)
    with pytest.raises(inv.ApiBudgetExceeded, match="kept calling after"):
        inv.api_budget(spin)
