"""The SOQL result cache is exact: a hit returns what SQLite would return now.

Each test makes the cache hold an answer, changes the data in one of the ways the org can
change (DML, a write nobody reports, a rollback, another connection, the clock), and checks
that the next query sees the change. A differential state machine then runs random
programs against two orgs, one with the cache and one without, and compares every answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sforg_sim import Org
from sforg_sim.apex import Context, Queueable
from sforg_sim.replay import replay
from sforg_sim.soql.conditions import plain_json_upper
from sqlhelp import raw

BY_EXT = "SELECT Name, StageName FROM Opportunity WHERE External_ID__c IN :ext ORDER BY Name"


def _opps(org: Org, n: int) -> list[str]:
    res = org.insert("Opportunity", [
        {"Name": f"O{i}", "StageName": "Prospecting", "CloseDate": "2026-01-05",
         "External_ID__c": f"ext{i}"} for i in range(n)])
    return [r["id"] for r in res]


@pytest.fixture
def org() -> Any:
    o = Org()
    yield o
    o.close()


def stages(org: Org, n: int = 3) -> list[str]:
    recs = org.query_records(BY_EXT, ext=[f"ext{i}" for i in range(n)])
    return [r["StageName"] for r in recs]


def test_a_repeated_query_is_a_hit_and_gets_fresh_records(org: Org) -> None:
    _opps(org, 3)
    first = org.query_records(BY_EXT, ext=["ext0", "ext1"])
    first[0]["StageName"] = "mutated by the caller"
    hits = org.soql.results.hits
    again = org.query_records(BY_EXT, ext=["ext0", "ext1"])
    assert org.soql.results.hits == hits + 1
    assert [r["StageName"] for r in again] == ["Prospecting", "Prospecting"]


def test_dml_on_the_table_is_seen(org: Org) -> None:
    ids = _opps(org, 3)
    assert stages(org) == ["Prospecting"] * 3
    org.update("Opportunity", [{"Id": ids[1], "StageName": "Qualification"}])
    assert stages(org) == ["Prospecting", "Qualification", "Prospecting"]
    org.delete("Opportunity", [ids[0]])
    assert stages(org) == ["Qualification", "Prospecting"]


def test_a_write_to_another_table_keeps_the_entry(org: Org) -> None:
    _opps(org, 3)
    stages(org)
    org.insert("Account", [{"Name": "Acme"}])
    hits = org.soql.results.hits
    assert stages(org) == ["Prospecting"] * 3
    assert org.soql.results.hits == hits + 1


def test_a_write_nobody_reports_is_seen(org: Org) -> None:
    _opps(org, 3)
    stages(org)
    raw(org).execute("UPDATE Opportunity SET StageName = 'Raw', StageName__sk = 'RAW' "
                           "WHERE External_ID__c = 'ext2'")
    assert stages(org) == ["Prospecting", "Prospecting", "Raw"]


def test_a_rolled_back_transaction_is_seen(org: Org) -> None:
    ids = _opps(org, 3)
    with org.transaction() as sp:
        org.update("Opportunity", [{"Id": ids[0], "StageName": "Closed Won"}])
        assert stages(org)[0] == "Closed Won"  # cached inside the transaction
        sp.rollback()
    assert stages(org)[0] == "Prospecting"


class _UpdateThenFail(Queueable):
    def __init__(self, opp_id: str) -> None:
        self.opp_id = opp_id

    def execute(self, ctx: Context) -> None:
        ctx.update("Opportunity", [{"Id": self.opp_id, "StageName": "Closed Lost"}])
        for _ in range(201):  # cached after the write; the 201st query: LimitException
            recs = ctx.query(BY_EXT, ext=["ext0", "ext1", "ext2"])
            assert recs[0]["StageName"] == "Closed Lost"


def test_a_failed_apex_transaction_is_seen(org: Org) -> None:
    ids = _opps(org, 3)
    assert stages(org)[0] == "Prospecting"
    jid = org.apex.enqueue_job(_UpdateThenFail(ids[0]))
    org.apex.run_until_idle()
    assert org.query_records("SELECT Status FROM AsyncApexJob WHERE Id = :j",
                             j=jid)[0]["Status"] == "Failed"
    assert stages(org)[0] == "Prospecting"


def test_a_commit_by_another_connection_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "org.db"
    a = Org(path=path)
    _opps(a, 3)
    a.save(path)
    b = Org.open(path)
    assert stages(b) == ["Prospecting"] * 3
    a.update("Opportunity", [{"Id": a.query_records(
        "SELECT Id FROM Opportunity WHERE External_ID__c = 'ext1'")[0]["Id"],
        "StageName": "Qualification"}])
    assert stages(b) == ["Prospecting", "Qualification", "Prospecting"]
    a.close()
    b.close()


def test_the_clock_is_part_of_the_answer(org: Org) -> None:
    today = org.clock.now().date().isoformat()
    org.insert("Opportunity", [{"Name": "due", "StageName": "Prospecting",
                                "CloseDate": today}])
    q = "SELECT Name FROM Opportunity WHERE CloseDate = TODAY"
    assert len(org.query_records(q)) == 1
    org.clock.advance(86_400)
    assert org.query_records(q) == []


def test_turned_off_it_never_holds_anything(org: Org) -> None:
    org.soql.results.max_rows = 0
    _opps(org, 3)
    stages(org)
    stages(org)
    assert org.soql.results.hits == 0


@pytest.mark.parametrize("values", [
    ["ext0", "EXT1"], ['quo"te', "back\\slash"], ["straße", "ÉTÉ"], ["tab\there"],
    ["", "ext2"], ['a","b'],
])
def test_in_binds_match_whatever_the_characters(org: Org, values: list[str]) -> None:
    org.insert("Opportunity", [
        {"Name": f"N{i}", "StageName": "Prospecting", "CloseDate": "2026-01-05",
         "External_ID__c": v or None} for i, v in enumerate([*values, "other"])])
    got = org.query_records("SELECT Name FROM Opportunity WHERE External_ID__c IN :v",
                            v=[v.swapcase() for v in values])
    want = {f"N{i}" for i, v in enumerate([*values, "other"])
            if v and v.upper() in {x.upper() for x in values}}
    assert {r["Name"] for r in got} == want


@given(st.lists(st.text(max_size=6), max_size=8))
@example(["ß"]).via("upper case longer than the value")
@example(["a\x00b", "c"]).via("a control character: not plain")
def test_plain_json_upper_is_json_of_the_upper_cased_values(values: list[str]) -> None:
    out = plain_json_upper(values)
    assert out is None or json.loads(out) == [v.upper() for v in values]


class CacheDifferential(RuleBasedStateMachine):
    """Random writes, rollbacks and queries on two orgs; only one has the cache."""

    def __init__(self) -> None:
        super().__init__()
        self.cached, self.plain = Org(), Org()
        self.plain.soql.results.max_rows = 0
        for o in (self.cached, self.plain):
            ids = _opps(o, 6)
            acc = o.insert("Account", [{"Name": "Parent"}])[0]["id"]
            o.update("Opportunity", [{"Id": i, "AccountId": acc} for i in ids[:3]])

    def both(self, fn: Any) -> None:
        for o in (self.cached, self.plain):
            fn(o)

    @rule(i=st.integers(0, 5), stage=st.sampled_from(["A", "B", "C"]))
    def update(self, i: int, stage: str) -> None:
        # all_or_none=False: a deleted record's update fails alike on both orgs
        self.both(lambda o: o.update("Opportunity", [{"Id": _id(o, i), "StageName": stage}],
                                     all_or_none=False))

    @rule(i=st.integers(0, 5), stage=st.sampled_from(["A", "B"]))
    def raw_write(self, i: int, stage: str) -> None:
        self.both(lambda o: raw(o).execute(
            "UPDATE Opportunity SET StageName = ?, StageName__sk = ? WHERE External_ID__c = ?",
            (stage, stage.upper(), f"ext{i}")))

    @rule(i=st.integers(0, 5), stage=st.sampled_from(["X", "Y"]))
    def rolled_back_update(self, i: int, stage: str) -> None:
        def go(o: Org) -> None:
            with o.transaction() as sp:
                o.update("Opportunity", [{"Id": _id(o, i), "StageName": stage}],
                         all_or_none=False)
                o.query_records(BY_EXT, ext=[f"ext{k}" for k in range(6)])
                sp.rollback()
        self.both(go)

    @rule(i=st.integers(0, 5))
    def delete(self, i: int) -> None:
        def go(o: Org) -> None:
            rid = _id(o, i)
            if o.query_records("SELECT Id FROM Opportunity WHERE Id = :r", r=rid):
                o.delete("Opportunity", [rid])
        self.both(go)

    @rule()
    def insert_account(self) -> None:
        self.both(lambda o: o.insert("Account", [{"Name": "Acme"}]))

    @rule(name=st.sampled_from(["Parent", "Renamed"]))
    def rename_parent(self, name: str) -> None:
        def go(o: Org) -> None:
            acc = o.query_records("SELECT Id FROM Account WHERE Name IN ('Parent', 'Renamed')")
            o.update("Account", [{"Id": acc[0]["Id"], "Name": name}])
        self.both(go)

    @rule(days=st.integers(0, 2))
    def advance_clock(self, days: int) -> None:
        self.both(lambda o: o.clock.advance(days * 86_400))

    @invariant()
    def same_answers(self) -> None:
        for ext in (["ext0", "ext3"], [f"ext{k}" for k in range(6)]):
            assert self.cached.query_records(BY_EXT, ext=ext) == \
                self.plain.query_records(BY_EXT, ext=ext)
        for q in ("SELECT StageName, COUNT(Id) n FROM Opportunity GROUP BY StageName "
                  "ORDER BY StageName",
                  "SELECT Name, Account.Name FROM Opportunity WHERE Account.Name != null "
                  "ORDER BY Name",
                  "SELECT Name FROM Opportunity WHERE AccountId IN (SELECT Id FROM Account "
                  "WHERE Name = 'Parent') ORDER BY Name",
                  "SELECT COUNT(Id) n FROM Opportunity WHERE LastModifiedDate = TODAY",
                  "SELECT Name FROM Opportunity ORDER BY Name LIMIT 2 OFFSET 1"):
            assert self.cached.query_records(q) == self.plain.query_records(q)
        assert self.cached.query_records(BY_EXT, include_deleted=True, ext=["ext1"]) == \
            self.plain.query_records(BY_EXT, include_deleted=True, ext=["ext1"])

    def teardown(self) -> None:
        self.cached.close()
        self.plain.close()


def _id(o: Org, i: int) -> str:
    return str(o.query_records("SELECT Id FROM Opportunity WHERE External_ID__c = :e",
                               e=f"ext{i}", include_deleted=True)[0]["Id"])


TestCacheDifferential = CacheDifferential.TestCase
TestCacheDifferential.settings = settings(stateful_step_count=20)  # examples: the profile


def test_v1_replay_reports_the_same_with_and_without_the_cache() -> None:
    reports = []
    for size in (0, None):
        org = Org()
        org.load_scenario("massive-upload", records=30_000, seed=7)
        if size == 0:
            org.soql.results.max_rows = 0
        org.set_api_remaining(1_500)
        r = replay(org, "v1-burn-quota")
        reports.append(r.to_json())
        if size is None:
            assert org.soql.results.hits > 0
        org.close()
    assert reports[0] == reports[1]


def test_a_new_storage_index_starts_a_new_plan() -> None:
    # Without a total ORDER BY the order is the plan's; after add_storage_index SQLite may
    # pick another plan, and OFFSET pages must not mix the two (review of session 3).
    q = "SELECT Name FROM Opportunity WHERE StageName = 'Closed Won' LIMIT 50 OFFSET :o"
    stages_ = ["Prospecting", "Qualification", "Needs Analysis", "Closed Won", "Closed Lost"]
    org = Org()
    org.insert("Opportunity", [
        {"Name": f"O{999 - i:03d}", "StageName": stages_[i % 5], "CloseDate": "2026-01-05"}
        for i in range(500)])
    org.query_records(q, o=0)
    org.add_storage_index("Opportunity", ["StageName", "Name"])
    names = [r["Name"] for o in (0, 50) for r in org.query_records(q, o=o)]
    assert len(names) == len(set(names)) == 100
    org.close()
