"""Cost model, cron schedules and fault injection."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sforg_sim import Org
from sforg_sim.apex import (
    Context,
    CostModel,
    CronExpression,
    FaultSchedule,
    HttpResponse,
    Queueable,
    Schedulable,
)
from sforg_sim.clock import parse_datetime
from sforg_sim.errors import SalesforceError, UnableToLockRow, UsageError


class Work(Queueable):
    def execute(self, ctx: Context) -> None:
        ctx.callout("GET", "callout:Echo/x", timeout=60)  # setTimeout(60000)
        ctx.insert("Account", [{"Name": f"A{i}"} for i in range(10)])


def _echo(method: str, path: str, body: object) -> HttpResponse:
    return HttpResponse(200, {"path": path})


def _duration(org: Org, costs: CostModel) -> float:
    org.apex.costs = costs
    org.apex.register_endpoint("callout:Echo", _echo)
    t0 = org.clock.time()
    jid = org.apex.enqueue_job(Work())
    org.apex.run_until_idle()
    row = org.query_records("SELECT CompletedDate FROM AsyncApexJob WHERE Id = :i", i=jid)[0]
    return parse_datetime(row["CompletedDate"]).timestamp() - t0


def test_cost_model_sets_the_duration() -> None:
    costs = CostModel(job_start=10, callout=2, soql_query=0, soql_row=0, dml_statement=1,
                      dml_row=0.5)
    assert _duration(Org(), costs) == pytest.approx(10 + 2 + 1 + 10 * 0.5, abs=0.002)
    slower = costs.with_(callout=30)
    assert _duration(Org(), slower) == pytest.approx(10 + 30 + 1 + 5, abs=0.002)
    with pytest.raises(ValueError):
        CostModel(callout=-1)


class CpuHog(Queueable):
    def execute(self, ctx: Context) -> None:
        ctx.insert("Account", [{"Name": "x"}] * 100)


def test_cpu_limit_from_cost_model() -> None:
    org = Org()
    org.apex.costs = CostModel(dml_row_cpu=1.0)  # 100 rows = 100 s of CPU > 60 s
    jid = org.apex.enqueue_job(CpuHog())
    org.apex.run_until_idle()
    err = org.apex.job(jid).error
    assert err is not None and err.message == "Apex CPU time limit exceeded"


def test_cron_parse_and_next() -> None:
    c = CronExpression.parse("0 0 2 * * ?")
    after = datetime(2026, 1, 5, 2, 0, tzinfo=timezone.utc)
    assert c.next_after(after) == datetime(2026, 1, 6, 2, 0, tzinfo=timezone.utc)
    weekdays = CronExpression.parse("0 30 9 ? * MON-FRI")
    sat = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)  # a Saturday
    assert weekdays.next_after(sat) == datetime(2026, 1, 12, 9, 30, tzinfo=timezone.utc)
    last = CronExpression.parse("0 0 0 L * ?")
    assert last.next_after(after) == datetime(2026, 1, 31, 0, 0, tzinfo=timezone.utc)
    for bad in ("0 0 2 * * *", "0 0 25 * * ?", "0 0 2 * *", "0 0 2 ? * 2#1"):
        with pytest.raises(SalesforceError):
            CronExpression.parse(bad)


class Nightly(Schedulable):
    def execute(self, ctx: Context) -> None:
        ctx.insert("Account", [{"Name": ctx.org.clock.stamp()}])


def test_schedule_fires_at_2am_daily() -> None:
    org = Org()  # clock starts Monday 02:00:00, so the first fire is tomorrow 02:00
    tid = org.apex.schedule("V2 daily", "0 0 2 * * ?", Nightly())
    assert org.apex.run_until_idle() == 0  # a schedule alone does not keep the loop busy
    org.apex.run(until=org.clock.time() + 3 * 86400 + 60)
    names = sorted(r["Name"] for r in org.query_records("SELECT Name FROM Account"))
    assert [n[:19] for n in names] == ["2026-01-06T02:00:00", "2026-01-07T02:00:00",
                                       "2026-01-08T02:00:00"]
    jobs = org.query_records("SELECT JobType, Status FROM AsyncApexJob")
    assert {(j["JobType"], j["Status"]) for j in jobs} == {("ScheduledApex", "Completed")}
    org.apex.abort_job(tid)
    org.apex.run(until=org.clock.time() + 2 * 86400)
    assert org.query("SELECT COUNT() FROM Account")["totalSize"] == 3


class Caller(Queueable):
    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.locks = 0

    def execute(self, ctx: Context) -> None:
        for _ in range(3):
            self.statuses.append(ctx.callout("GET", "callout:Echo/x").status_code)
        for _ in range(3):
            try:
                ctx.insert("Account", [{"Name": "x"}])
            except UnableToLockRow:
                self.locks += 1


def test_fault_schedule_by_occurrence() -> None:
    org = Org()
    org.apex.register_endpoint("callout:Echo", _echo)
    org.apex.faults = FaultSchedule.parse("callout@2,lock@1+3")
    job = Caller()
    org.apex.enqueue_job(job)
    org.apex.run_until_idle()
    assert job.statuses == [200, 503, 200]
    assert job.locks == 2
    assert org.query("SELECT COUNT() FROM Account")["totalSize"] == 1


@pytest.mark.parametrize("spec", ["bogus:0.1", "callout:2", "quota", "lock@x"])
def test_fault_spec_errors(spec: str) -> None:
    # A malformed spec is the caller's mistake, not an error Salesforce answers.
    with pytest.raises(UsageError):
        FaultSchedule.parse(spec)


def test_quota_fault_exhausts_api_at_time() -> None:
    org = Org()
    faults = FaultSchedule.parse("quota@100")
    org.apex.faults = faults
    faults.start(org.apex)
    org.apex.run(until=org.clock.time() + 99)
    assert org.limits()["DailyApiRequests"]["Remaining"] == 440_000
    org.apex.run(until=org.clock.time() + 2)
    assert org.limits()["DailyApiRequests"]["Remaining"] == 0
