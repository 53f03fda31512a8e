"""Stateful testing: V2's jobs interleaved with another user's DML, checked every step.

The machine loads a small dataset, launches V2, then interleaves single engine events (one
async transaction, or a completion) with inserts, updates, deletes and sort-key changes by
another user. The model is the set of records and what may happen to each: after every
step no record is written more than once, nothing outside the scope is written, and
records no one else touched are either untouched or carry the source's stage. At the end
the run is finished and every invariant of :mod:`sforg_sim.invariants` must hold.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from sforg_sim import strategies as sfst
from sforg_sim.cases import Case, Change, sort_key
from sforg_sim.harness import Run
from sforg_sim.invariants import check_all
from sforg_sim.processors.keyset import KeysetProcessor


class V2WithAnotherUser(RuleBasedStateMachine):
    """V2 on a tiny org while another user edits Opportunities."""

    run_: Run | None = None

    @initialize(data=st.data())
    def load(self, data: st.DataObject) -> None:
        ds = data.draw(sfst.datasets(max_size=10, source_gaps=False))
        part = data.draw(sfst.partitionings(ds, max_parts=3))
        cfg = data.draw(sfst.run_configs(page_sizes=sfst.page_sizes(max_value=3)))
        self.run_ = Run(KeysetProcessor(), Case(ds, part, cfg)).launch()
        self.keys = ds.keys() or ["externalOpp1"]
        self.done = False

    def teardown(self) -> None:
        if self.run_ is not None:
            if not self.done:
                check_all(self.run_.finish())
            self.run_.close()

    @precondition(lambda self: self.run_ is not None and not self.done)
    @rule(events=st.integers(1, 4))
    def run_events(self, events: int) -> None:
        assert self.run_ is not None
        self.run_.step(events)

    @precondition(lambda self: self.run_ is not None)
    @rule(kind=st.sampled_from(["update", "delete", "insert", "rekey"]), data=st.data())
    def another_user(self, kind: str, data: st.DataObject) -> None:
        assert self.run_ is not None
        change = data.draw(sfst.changes(self.keys, kinds=(kind,)))
        self.run_.apply(change)
        if kind in ("insert", "rekey"):
            self.keys.append(change.new_key or change.key)

    @precondition(lambda self: self.run_ is not None and not self.done)
    @rule()
    def finish(self) -> None:
        assert self.run_ is not None
        check_all(self.run_.finish())
        self.done = True

    @invariant()
    def model_holds(self) -> None:
        if self.run_ is None or self.done:
            return
        rec, org = self.run_.record, self.run_.org
        touched = rec.updated | rec.deleted | set(rec.rekeyed)
        for rid, n in rec.writes.items():
            limit = 2 if rid in rec.rekeyed else 1
            assert n <= limit, f"{rec.name(rid)} written {n} times"
            in_scope = rid in rec.scope or (
                rid in rec.inserted and self.run_.case.partitioning.index_of(
                    rec.inserted[rid]) is not None)
            assert in_scope or rid in rec.rekeyed, f"{rec.name(rid)} is out of scope"
            if rid not in touched:
                key = rec.start.get(rid, (rec.inserted.get(rid), ""))[0]
                assert key is not None
                stage = org.get("Opportunity", rid, ["StageName"])["StageName"]
                assert stage == rec.source[sort_key(key)], f"{rec.name(rid)} is {stage}"
        for rid, (_, stage) in rec.start.items():
            if rid not in rec.scope and rid not in touched:
                now = org.get("Opportunity", rid, ["StageName"])["StageName"]
                assert now == stage, f"{rec.name(rid)} is out of scope but changed"


TestV2WithAnotherUser = V2WithAnotherUser.TestCase


def test_the_machine_sees_concurrent_changes() -> None:
    """The machine's changes do reach the org (so its invariants are not vacuous)."""
    case = Case.of(["externalOpp01", "externalOpp02"],
                           ["externalOpp01", "externalOpp03"], page_size=1)
    run_ = Run(KeysetProcessor(), case).launch()
    key = "externalOpp01"
    assert run_.apply(Change(0, "update", key, stage="Discovery"))
    assert run_.apply(Change(0, "insert", key + "b"))
    assert not run_.apply(Change(0, "insert", key.upper()))  # unique, case-insensitive
    rec = run_.finish()
    assert len(rec.updated) == 1 and len(rec.inserted) == 1 and rec.skipped_changes
    check_all(rec)
    run_.close()
