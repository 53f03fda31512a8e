"""Issue 18: the property kit's own bugs, and oracles for the generation gaps' mutants."""

from __future__ import annotations

import pytest
from hypothesis.database import InMemoryExampleDatabase

from broken_processors import factory
from sforg_sim import invariants as inv
from sforg_sim import strategies as sfst
from sforg_sim.apex import Context, Queueable
from sforg_sim.cases import Case, Change, FaultPlan
from sforg_sim.checker import ProcessorCheckFailed, check_processor, describe_failure
from sforg_sim.harness import run
from sforg_sim.nightly import Partition
from sforg_sim.org import Org
from sforg_sim.processors import DATA_ENDPOINT

B = ["externalOpp01", "externalOpp02", "externalOpp03"]


def test_count_query_inside_a_processor_returns_the_integer() -> None:
    org = Org()
    org.insert("Account", [{"Name": "a"}, {"Name": "b"}])
    got: list[object] = []
    org.apex.execute_anonymous(lambda ctx: got.append(ctx.query(
        "SELECT COUNT() FROM Account WHERE Name != 'x'")))
    assert got == [2]
    rows: list[object] = []
    org.apex.execute_anonymous(lambda ctx: rows.append(ctx.query("SELECT Name FROM Account")))
    assert isinstance(rows[0], list) and len(rows[0]) == 2  # type: ignore[arg-type]


class _BadSql(Queueable):
    """Sends SQL naming a column the source does not have: every call is rejected."""

    def __init__(self, part: Partition, page_size: int, tries: int = 0) -> None:
        self.partition, self.part, self.page_size, self.tries = part.index, part, page_size, tries

    def execute(self, ctx: Context) -> None:
        res = ctx.callout("POST", DATA_ENDPOINT, {
            "sql": "SELECT Nope__c FROM Opportunity_Source__dlm LIMIT 1"})
        if res.status_code != 200 and self.tries < 5:
            ctx.enqueue_job(_BadSql(self.part, self.page_size, self.tries + 1))


def _bad_sql(part: Partition, page_size: int) -> _BadSql:
    return _BadSql(part, page_size)


def test_rejected_calls_are_counted_and_their_error_body_reported() -> None:
    case = Case.of(B[:1], B[:2], page_size=1)
    rec = run(_bad_sql, case)
    assert rec.calls == [0] and rec.rejected == [6]
    assert "INVALID_ARGUMENT" in rec.rejections[0] and "Nope__c" in rec.rejections[0]
    with pytest.raises(ProcessorCheckFailed) as err:
        check_processor(_bad_sql, examples=[case], max_examples=1)
    text = str(err.value)
    assert "data calls per partition [6] (rejected [6]" in text
    assert "the source rejected 6 call(s)" in text and "Nope__c" in text


def test_found_within_counts_generation_not_shrinking() -> None:
    with pytest.raises(ProcessorCheckFailed) as err:
        check_processor(factory(first_exclusive=True), profile="ci")
    # The first generated example with a record fails; shrinking runs many more.
    assert err.value.examples <= 5
    assert f"found within {err.value.examples} examples" in str(err.value)


def test_database_none_keeps_nothing_and_a_database_is_keyed_per_processor() -> None:
    db = InMemoryExampleDatabase()
    with pytest.raises(ProcessorCheckFailed):
        check_processor(factory(first_exclusive=True), profile="ci", database=db)
    keys = set(db.data)
    assert keys and all(k.startswith(b"sforg-check:keyset+first_exclusive:") for k in keys)
    # Another (passing) processor neither replays nor deletes the first one's example.
    check_processor(factory(), profile="ci", database=db, max_examples=5)
    assert set(db.data) >= keys and all(db.data[k] for k in keys)
    # None: nothing is written anywhere (the profile's ./.hypothesis is not used either).
    from hypothesis import settings
    seen: list[object] = []
    import sforg_sim.checker as checker
    real = checker._settings

    def spy(*a: object, **kw: object) -> settings:
        s = real(*a, **kw)  # type: ignore[arg-type]
        seen.append(s.database)
        return s

    checker._settings = spy  # type: ignore[assignment]
    try:
        check_processor(factory(), profile="dev", database=None, max_examples=2)
    finally:
        checker._settings = real
    assert seen == [None]


def test_check_all_reports_the_worst_violation_and_keeps_the_milder() -> None:
    # ge_cursor stopped by the cap: runs too long, over budget, and loses nothing here.
    rec = run(factory(ge_cursor=True), Case.of(B[:1], B[:2], page_size=1), execution_cap=10)
    found = inv.violations(rec)
    # ends (it would not stop), the budget and its rows, then terminates' bound (the
    # milder "too long").
    assert [type(e) for _, e in found] == [inv.TerminationViolation, inv.ApiBudgetExceeded,
                                           inv.RowsReadAgain, inv.TerminationViolation]
    with pytest.raises(inv.TerminationViolation, match="did not end") as err:
        inv.check_all(rec)
    assert [type(e) for e in err.value.also] == [  # type: ignore[attr-defined]
        inv.ApiBudgetExceeded, inv.RowsReadAgain, inv.TerminationViolation]
    assert inv.ALL.index(inv.exactly_once) < inv.ALL.index(inv.ends) < inv.ALL.index(
        inv.api_budget) < inv.ALL.index(inv.terminates)


def test_report_wording() -> None:
    case = Case.of(["externalOpp01 "], ["externalOpp01", "externalOpp02"], page_size=1)
    rec = run(factory(ge_cursor=True), Case.of(B[:1], B[:2], page_size=1), execution_cap=10)
    text = describe_failure(case, rec, inv.TerminationViolation("x"))
    assert "1 partition (" in text and "1 partitions" not in text
    assert "'externalOpp01 ': 'Prospecting' -> 'Qualification'" in text
    assert "ended stopped" not in text
    assert f"the harness stopped it after {rec.total_executions} async executions" in text
    with pytest.raises(inv.TerminationViolation) as err:
        inv.terminates(rec)
    assert f"after {rec.total_executions} async executions" in str(err.value)


def test_exact_budget_names_the_cause_of_an_extra_call() -> None:
    # gap 4: after a 503, the mutant re-reads the previous page. The loose budget gives the
    # 503 a call it never cost; the exact one does not, and says which page was read twice.
    case = Case.of(B[:1], B[:2], page_size=1, faults=FaultPlan(callouts=(2,)))
    rec = run(factory(rewind_on_error=True), case)
    inv.api_budget(rec, exact=False)  # absorbed by the loose allowance
    with pytest.raises(inv.ApiBudgetExceeded, match=r"made 5 data calls for 1 distinct page; "
                       r"the bound is 4: one page read twice"):
        inv.api_budget(rec)  # exact: the default since issue 18
    with pytest.raises(inv.RowsReadAgain, match=r"given 2 source rows for 1 key\(s\) in "
                       r"its range; the bound is 1: 'externalOpp01' read twice"):
        inv.reads_once(rec)
    inv.api_budget(run(factory(), case))  # the correct job fits exactly
    inv.reads_once(run(factory(), case))


def test_a_run_of_injected_empties_longer_than_the_stop_rule_is_not_a_loss() -> None:
    case = Case.of(B[:2], B[:3:2], page_size=1, faults=FaultPlan(empty=(1, 2, 3)))
    rec = run(factory(), case)
    assert inv.cut_short(rec) == {0}
    inv.check_all(rec)
    # ...but two empties and a 503 in between are not the stop rule: errors_as_empty loses.
    bad = Case.of(B[:1], B[:2], page_size=1, faults=FaultPlan(callouts=(1, 2), empty=(1,)))
    inv.check_all(run(factory(), bad))
    with pytest.raises(inv.CoverageViolation, match="ended 'Prospecting'"):
        inv.check_all(run(factory(errors_as_empty=True), bad))


def test_fault_sequences_draw_runs_longer_than_the_stop_rule() -> None:
    from hypothesis import given, settings

    seen: set[int] = set()

    @settings(max_examples=200, database=None, derandomize=True)
    @given(sfst.fault_plans(sequences=True, locks=False, quota=False, concurrent=()))
    def collect(plan: FaultPlan) -> None:
        seen.update(len(answers) for _, _, answers in plan.runs)

    collect()
    assert max(seen) >= 4


def test_stop_at_start_count_loses_a_record_to_an_insert_ahead_of_the_cursor() -> None:
    # gap 2 (and the COUNT() fix): the count taken at start no longer covers the range.
    case = Case.of(B[:2], [B[0], B[2]], page_size=1,
                   faults=FaultPlan(changes=(Change(1, "insert", "externalOpp01b"),)))
    inv.check_all(run(factory(), case))
    with pytest.raises(inv.CoverageViolation, match="'externalOpp02'"):
        inv.check_all(run(factory(stop_at_start_count=True), case))
