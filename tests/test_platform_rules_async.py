"""Issue 13, async Apex and replay: the platform rules a replay's verdict depends on.

Each test names the documented rule it checks; docs/fidelity.md gives the source.
"""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.apex import (
    Batchable,
    Context,
    CostModel,
    FaultSchedule,
    HttpResponse,
    Queueable,
    Schedulable,
)
from sforg_sim.apex.context import PENDING_MESSAGE
from sforg_sim.apex.rules import PENDING_WORK, READ_TIMED_OUT, source_of
from sforg_sim.datacloud import DataCloudSource
from sforg_sim.errors import CalloutException, UsageError
from sforg_sim.replay import replay


def _echo(method: str, path: str, body: object) -> HttpResponse:
    return HttpResponse(200, {"path": path})


def _org(**kw: Any) -> Org:
    org = Org(**kw)
    org.apex.register_endpoint("callout:Echo", _echo)
    return org


class Steps(Queueable):
    """Runs ``steps`` in order, recording what each callout did."""

    def __init__(self, *steps: str, timeout: float = 10.0) -> None:
        self.steps = steps
        self.timeout = timeout
        self.seen: list[str] = []

    def execute(self, ctx: Context) -> None:
        for step in self.steps:
            if step == "callout":
                try:
                    ctx.callout("GET", "callout:Echo/x", timeout=self.timeout)
                    self.seen.append("ok")
                except CalloutException as e:
                    self.seen.append(e.message)
            elif step == "dml":
                ctx.insert("Account", [{"Name": "x"}])
            elif step == "enqueue":
                ctx.enqueue_job(Steps())
            elif step == "batch":
                ctx.execute_batch(_NoBatch(), 1)


class _NoBatch(Batchable):
    """Submitted only to leave pending work; processes nothing."""

    def start(self, ctx: Context) -> list[Any]:
        return []

    def execute(self, ctx: Context, scope: list[Any]) -> None:
        pass


def _run(job: Steps, org: Org | None = None) -> Steps:
    org = org or _org()
    org.apex.enqueue_job(job)
    org.apex.run_until_idle()
    return job


# --- rule 1: no callout after pending work ----------------------------------------------------


def test_callout_before_dml_works_and_after_dml_fails() -> None:
    job = _run(Steps("callout", "dml", "callout"))
    assert job.seen == ["ok", PENDING_MESSAGE]


@pytest.mark.parametrize("pending", ["enqueue", "batch"])
def test_async_apex_is_pending_work_too(pending: str) -> None:
    # "Things that result in pending operations are DML statements, asynchronous Apex
    # (such as future methods and batch Apex jobs), scheduled Apex, or sending email."
    job = _run(Steps(pending, "callout"))
    assert job.seen == [PENDING_MESSAGE]


def test_pending_callout_is_counted_by_rule_even_when_caught() -> None:
    org = _org()
    seen: list[str] = []
    org.apex.error_listeners.append(lambda job, rule: seen.append(rule))
    _run(Steps("dml", "callout", "callout"), org)
    assert seen == [PENDING_WORK, PENDING_WORK]
    assert "Callout Limits and Limitations" in source_of(PENDING_WORK)


def test_execute_anonymous_obeys_the_rule() -> None:
    org = _org()

    def script(ctx: Context) -> None:
        ctx.insert("Account", [{"Name": "x"}])
        ctx.callout("GET", "callout:Echo/x")

    with pytest.raises(CalloutException, match="uncommitted work pending"):
        org.apex.execute_anonymous(script)
    assert org.query("SELECT COUNT() FROM Account")["totalSize"] == 0  # rolled back


# --- rule 3: callout timeouts -------------------------------------------------------------------


def test_default_timeout_is_ten_seconds() -> None:
    org = _org()
    org.apex.costs = CostModel(callout=10.5)
    assert _run(Steps("callout"), org).seen == ["Read timed out"]
    org = _org()
    org.apex.costs = CostModel(callout=9.5)
    assert _run(Steps("callout"), org).seen == ["ok"]


def test_a_longer_timeout_waits_longer_and_charges_the_wait_to_duration() -> None:
    org = _org()
    org.apex.costs = CostModel(callout=30.0, job_start=0.0)
    t0 = org.clock.time()
    jid = org.apex.enqueue_job(Steps("callout", timeout=60))
    org.apex.run_until_idle()
    assert org.apex.job(jid).status == "Completed"
    assert org.clock.time() - t0 == pytest.approx(30.0)


def test_cumulative_callout_time_is_120_seconds_per_transaction() -> None:
    org = _org()
    org.apex.costs = CostModel(callout=50.0)
    job = _run(Steps("callout", "callout", "callout", timeout=120), org)
    # 50 + 50 leaves 20 s of the 120: the third callout times out after 20 s.
    assert job.seen == ["ok", "ok", "Read timed out"]


@pytest.mark.parametrize("bad", [0, 120.5, -1, True])
def test_timeout_outside_1ms_to_120s_is_a_usage_error(bad: float) -> None:
    org = _org()

    def script(ctx: Context) -> None:
        ctx.callout("GET", "callout:Echo/x", timeout=bad)

    with pytest.raises(UsageError, match="between"):
        org.apex.execute_anonymous(script)


def test_slow_fault_times_the_callout_out() -> None:
    org = _org()
    org.apex.faults = FaultSchedule.parse("slow@2")
    job = _run(Steps("callout", "callout", "callout"), org)
    assert job.seen == ["ok", "Read timed out", "ok"]  # 10 s lost of the 120
    org = _org()
    org.apex.faults = FaultSchedule.parse("slow@2")
    job = _run(Steps("callout", "callout", "callout", timeout=120), org)
    # The slow callout used the whole 120 s: nothing is left for the third one.
    assert job.seen == ["ok", "Read timed out", "Read timed out"]


def test_v2_retries_a_timed_out_page_and_the_report_says_so() -> None:
    org = Org()
    org.load_scenario("massive-upload", records=3_000)
    r = replay(org, "v2", partition_count=3, faults="slow@2")
    assert r.outcome == "completed"
    assert (r.processed, r.duplicates, r.skipped) == (3_000, 0, 0)
    assert r.errors == {READ_TIMED_OUT: 1}
    assert "Callout Limits and Limitations" in r.error_rules[READ_TIMED_OUT]
    assert r.to_json()["errors"] == {READ_TIMED_OUT: 1}


# --- rule 2: no undocumented OFFSET cap by default -----------------------------------------------


def test_data_cloud_has_no_offset_cap_unless_asked() -> None:
    org = Org()
    org.load_scenario("massive-upload", records=3_000)
    sql = {"sql": "SELECT External_ID__c FROM Opportunity_Source__dlm LIMIT 5 OFFSET 2500"}
    open_source = DataCloudSource(org, charge_api=False)
    res = open_source.handle("POST", "/api/v1/query", sql)
    assert res.status_code == 200 and len(res.body["data"]) == 5
    capped = DataCloudSource(org, charge_api=False, max_offset=2_000)
    res = capped.handle("POST", "/api/v1/query", sql)
    assert res.status_code == 400 and res.body[0]["errorCode"] == "NUMBER_OUTSIDE_VALID_RANGE"
    with pytest.raises(UsageError):
        DataCloudSource(org, max_offset=-1)


def test_v1_restarts_for_the_documented_callout_rule() -> None:
    org = Org()
    org.load_scenario("massive-upload", records=10_000)
    r = replay(org, "v1", partition_count=2)
    assert r.errors.get(PENDING_WORK, 0) > 0
    assert set(r.errors) == {PENDING_WORK}  # nothing undocumented in a default replay
    # Each restart re-reads the pages already done: more calls than pages.
    pages = -(-r.records // 500)
    assert r.api_calls["data"] > 2 * pages


def test_the_offset_cap_what_if_is_a_named_preset() -> None:
    org = Org()
    org.load_scenario("massive-upload", records=10_000)
    r = replay(org, "v1-offset-cap", partition_count=2)
    assert r.errors.get("HTTP 400 NUMBER_OUTSIDE_VALID_RANGE", 0) > 0
    assert "opt-in assumption" in r.error_rules["HTTP 400 NUMBER_OUTSIDE_VALID_RANGE"]


# --- rule 4: scheduled Apex runs with synchronous limits ----------------------------------------


def test_schedulable_may_enqueue_ten_jobs() -> None:
    # A Schedulable that starts 10 Queueable chains, as schedule_v2_daily does.
    class Start(Schedulable):
        def execute(self, ctx: Context) -> None:
            for _ in range(10):
                ctx.enqueue_job(Steps())

    org = _org()
    org.apex.schedule("V2 daily", "0 0 2 * * ?", Start())
    org.apex.run(until=org.clock.time() + 86_400 + 60)
    counts = org.apex.status_counts()
    assert counts == {"Completed": 11}  # the scheduled job and its 10 partitions
    assert org.org_limits.async_executions_used() == 11  # still async executions


# --- rule 5: aggregate queries count the rows they aggregate --------------------------------------


def _accounts(org: Org, n: int) -> None:
    org.insert("Account", [{"Name": f"A{i % 3}"} for i in range(n)])


def _rows_used(org: Org, soql: str) -> int:
    def script(ctx: Context) -> int:
        ctx.query(soql)
        return ctx.governor.query_rows

    return int(org.apex.execute_anonymous(script))


def test_aggregate_query_rows() -> None:
    org = Org()
    _accounts(org, 30)
    assert _rows_used(org, "SELECT COUNT() FROM Account") == 1
    assert _rows_used(org, "SELECT COUNT(Id) FROM Account") == 1
    assert _rows_used(org, "SELECT Name, COUNT(Id) FROM Account GROUP BY Name") == 3
    assert _rows_used(org, "SELECT MAX(Name) FROM Account") == 30
    assert _rows_used(org, "SELECT Name, MAX(CreatedDate) FROM Account GROUP BY Name") == 30
    assert _rows_used(org, "SELECT MAX(Name) FROM Account WHERE Name = 'A1'") == 10
    assert _rows_used(org, "SELECT Name FROM Account LIMIT 7") == 7


def test_count_query_counts_one_row() -> None:
    org = Org()
    _accounts(org, 30)

    def script(ctx: Context) -> tuple[int, int]:
        return ctx.count_query("SELECT COUNT() FROM Account"), ctx.governor.query_rows

    assert org.apex.execute_anonymous(script) == (30, 1)


# --- rule 6: CPU time excludes database time ---------------------------------------------


class Updates(Queueable):
    def execute(self, ctx: Context) -> None:
        ctx.insert("Account", [{"Name": "x"}] * 100)


def test_slow_dml_is_duration_not_cpu() -> None:
    org = Org()
    org.apex.costs = CostModel(dml_row=1.0, job_start=0.0)  # 100 s of database time
    t0 = org.clock.time()
    jid = org.apex.enqueue_job(Updates())
    org.apex.run_until_idle()
    assert org.apex.job(jid).status == "Completed"
    assert org.clock.time() - t0 == pytest.approx(100.0 + 0.01)


# --- rule 9: Developer Edition chain depth -----------------------------------------------


class Chain(Queueable):
    def execute(self, ctx: Context) -> None:
        ctx.enqueue_job(Chain())


def test_developer_edition_runs_five_jobs_in_a_chain() -> None:
    org = Org(edition="developer")
    org.apex.enqueue_job(Chain())
    org.apex.run_until_idle()
    assert org.apex.status_counts() == {"Completed": 4, "Failed": 1}
