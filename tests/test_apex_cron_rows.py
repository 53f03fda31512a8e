"""Schedules as rows (issue 15): ``System.schedule`` writes CronTrigger and CronJobDetail
rows, made only when the calling transaction commits, updated as the schedule fires,
deleted by ``System.abortJob``; the duplicate-name and 100-schedule rules; CronTriggerId on
each fire's AsyncApexJob; no DML on the read-only objects.

Sources: Apex Developer Guide, "Apex Scheduler"; Object Reference, "CronTrigger",
"CronJobDetail", "AsyncApexJob" (see the docstring of :mod:`sforg_sim.apex.engine`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.apex import Context, Schedulable
from sforg_sim.apex.engine import MAX_SCHEDULED_JOBS
from sforg_sim.errors import AsyncException, CalloutException, InvalidType, SalesforceError

NIGHTLY = """public class Nightly implements Schedulable {
    public void execute(SchedulableContext sc) {
        CronTrigger ct = [SELECT TimesTriggered FROM CronTrigger WHERE Id = :sc.getTriggerId()];
        insert new Account(Name = 'fired ' + ct.TimesTriggered);
    }
}"""
DAY = 86_400


@pytest.fixture
def org() -> Org:
    o = Org()  # the clock starts Monday 2026-01-05 02:00:00 UTC
    assert all(r.success for r in o.apex.deploy(NIGHTLY))
    return o


def _run(org: Org, source: str) -> Any:
    res = org.apex.execute_anonymous(source)
    assert res.compiled, res.compile_problem
    return res


def _triggers(org: Org) -> list[dict[str, Any]]:
    return org.query_records(
        "SELECT Id, CronExpression, State, TimesTriggered, NextFireTime, PreviousFireTime, "
        "StartTime, EndTime, OwnerId, TimeZoneSidKey, CronJobDetail.Name, "
        "CronJobDetail.JobType FROM CronTrigger ORDER BY CreatedDate")


def test_schedule_writes_rows_queryable_through_the_relationship(org: Org) -> None:
    res = _run(org, """
Id t = System.schedule('DynamicPartitionV2 daily', '0 0 2 * * ?', new Nightly());
CronTrigger ct = [SELECT Id, CronJobDetail.Name, State, NextFireTime FROM CronTrigger
                  WHERE CronJobDetail.Name LIKE 'Dynamic%'];
System.debug(ct.Id == t);
System.debug(ct.CronJobDetail.Name + '|' + ct.State + '|' + ct.NextFireTime);
System.debug([SELECT COUNT() FROM CronTrigger WHERE CronJobDetail.JobType = '7']);""")
    assert res.success, res.exception_message
    assert [line.split("|DEBUG|")[1] for line in res.log] == [
        "true", "DynamicPartitionV2 daily|WAITING|2026-01-06 02:00:00", "1"]
    [row] = _triggers(org)
    assert row["CronExpression"] == "0 0 2 * * ?"
    assert row["CronJobDetail"]["JobType"] == "7"
    assert row["TimesTriggered"] == 0 and row["PreviousFireTime"] is None
    assert row["OwnerId"] == org.user_id and row["TimeZoneSidKey"] == "GMT"
    assert row["Id"].startswith("08e") and row["Id"] in org.apex.triggers


def test_fires_update_the_row_and_each_job_carries_cron_trigger_id(org: Org) -> None:
    assert _run(org, "System.schedule('Nightly', '0 0 2 * * ?', new Nightly());").success
    org.apex.run(until=org.clock.time() + 2 * DAY + 60)
    [row] = _triggers(org)
    assert row["TimesTriggered"] == 2 and row["State"] == "WAITING"
    assert row["PreviousFireTime"] == "2026-01-07T02:00:00.000+0000"
    assert row["NextFireTime"] == "2026-01-08T02:00:00.000+0000"
    jobs = org.query_records("SELECT JobType, Status, CronTriggerId, "
                             "CronTrigger.CronJobDetail.Name FROM AsyncApexJob")
    assert [(j["JobType"], j["Status"], j["CronTriggerId"]) for j in jobs] == [
        ("ScheduledApex", "Completed", row["Id"])] * 2
    assert jobs[0]["CronTrigger"]["CronJobDetail"]["Name"] == "Nightly"
    # getTriggerId() is the CronTrigger id: the job read its own TimesTriggered.
    names = sorted(r["Name"] for r in org.query_records("SELECT Name FROM Account"))
    assert names == ["fired 1", "fired 2"]


def test_a_schedule_whose_last_time_passed_is_complete(org: Org) -> None:
    assert _run(org, "System.schedule('Once', '0 0 3 6 1 ? 2026', new Nightly());").success
    org.apex.run(until=org.clock.time() + 3 * DAY)
    [row] = _triggers(org)
    assert (row["State"], row["TimesTriggered"], row["NextFireTime"]) == ("COMPLETE", 1, None)
    assert row["EndTime"] is not None
    # A completed schedule no longer holds its name.
    assert _run(org, "System.schedule('Once', '0 0 3 * * ?', new Nightly());").success


def test_a_failing_transaction_leaves_no_schedule(org: Org) -> None:
    res = _run(org, """System.schedule('Doomed', '0 0 2 * * ?', new Nightly());
System.debug([SELECT COUNT() FROM CronTrigger]);
Integer i;
i++;""")
    assert not res.success and "NullPointerException" in str(res.exception_message)
    assert res.log[0].endswith("|1")  # visible inside the transaction that made it
    assert org.query("SELECT COUNT() FROM CronTrigger")["totalSize"] == 0
    assert org.query("SELECT COUNT() FROM CronJobDetail")["totalSize"] == 0
    assert org.apex.triggers == {}
    org.apex.run(until=org.clock.time() + 2 * DAY)
    assert org.query("SELECT COUNT() FROM AsyncApexJob")["totalSize"] == 0
    # The name is free again.
    assert _run(org, "System.schedule('Doomed', '0 0 2 * * ?', new Nightly());").success


def test_same_name_twice_fails_as_the_platform_does(org: Org) -> None:
    assert _run(org, "System.schedule('Daily', '0 0 2 * * ?', new Nightly());").success
    res = _run(org, "System.schedule('Daily', '0 0 4 * * ?', new Nightly());")
    assert res.exception_message == ('System.AsyncException: The Apex job named "Daily" is '
                                     'already scheduled for execution')
    # Twice within one transaction too, and the exception is catchable.
    res = _run(org, """System.schedule('Twice', '0 0 2 * * ?', new Nightly());
try { System.schedule('Twice', '0 0 2 * * ?', new Nightly()); }
catch (AsyncException e) { System.debug(e.getMessage()); }""")
    assert res.success and res.log[0].endswith("is already scheduled for execution")
    assert org.query("SELECT COUNT() FROM CronTrigger")["totalSize"] == 2


class _Noop(Schedulable):
    def execute(self, ctx: Context) -> None:
        """Nothing: the schedule is what is tested."""


def test_at_most_100_live_schedules_counting_rows(org: Org) -> None:
    ids = [org.apex.schedule(f"job {i}", "0 0 2 * * ?", _Noop())
           for i in range(MAX_SCHEDULED_JOBS)]
    with pytest.raises(AsyncException, match=r"maximum number \(100\) of Apex scheduled"):
        org.apex.schedule("one more", "0 0 2 * * ?", _Noop())
    res = _run(org, "System.schedule('from Apex', '0 0 2 * * ?', new Nightly());")
    assert res.exception_message == ("System.AsyncException: You have exceeded the maximum "
                                     "number (100) of Apex scheduled jobs.")
    # Aborting one frees a slot (the count is of the rows that are live).
    org.apex.abort_job(ids[0])
    assert _run(org, "System.schedule('from Apex', '0 0 2 * * ?', new Nightly());").success


def test_developer_edition_allows_5_schedules() -> None:
    org = Org(edition="developer")
    for i in range(5):
        org.apex.schedule(f"job {i}", "0 0 2 * * ?", _Noop())
    with pytest.raises(AsyncException, match=r"maximum number \(5\) of Apex scheduled"):
        org.apex.schedule("sixth", "0 0 2 * * ?", _Noop())


def test_abort_job_deletes_the_rows_and_stops_the_fires(org: Org) -> None:
    res = _run(org, """Id t = System.schedule('Nightly', '0 0 2 * * ?', new Nightly());
System.debug(t);""")
    tid = res.log[0].split("|")[-1]
    res = _run(org, """for (CronTrigger ct : [SELECT Id FROM CronTrigger
                          WHERE CronJobDetail.Name = 'Nightly']) {
    System.abortJob(ct.Id);
}
System.debug([SELECT COUNT() FROM CronTrigger]);""")
    assert res.success and res.log[0].endswith("|0")
    assert org.query("SELECT COUNT() FROM CronJobDetail")["totalSize"] == 0
    assert tid not in org.apex.triggers
    org.apex.run(until=org.clock.time() + 2 * DAY)
    assert org.query("SELECT COUNT() FROM AsyncApexJob")["totalSize"] == 0
    # Aborting it again: the id names nothing any more.
    res = _run(org, f"System.abortJob('{tid}');")
    assert not res.success and "Invalid id" in str(res.exception_message)


def test_abort_in_a_failing_transaction_keeps_the_schedule(org: Org) -> None:
    tid = org.apex.schedule("Kept", "0 0 2 * * ?", _Noop())
    res = _run(org, f"System.abortJob('{tid}'); Integer i; i++;")
    assert not res.success
    assert [r["Id"] for r in _triggers(org)] == [tid]
    org.apex.run(until=org.clock.time() + DAY + 60)
    assert org.query("SELECT TimesTriggered FROM CronTrigger")["records"][0][
        "TimesTriggered"] == 1


def test_a_schedule_is_pending_work(org: Org) -> None:
    """"Things that result in pending operations are DML statements, asynchronous Apex
    ..., scheduled Apex" ("Callout Limits and Limitations"): no callout after it."""

    def body(ctx: Context) -> None:
        ctx.schedule("pending", "0 0 2 * * ?", _Noop())
        ctx.callout("GET", "callout:Anything/x")

    with pytest.raises(CalloutException, match="uncommitted work pending"):
        org.apex.execute_anonymous(body)
    assert org.query("SELECT COUNT() FROM CronTrigger")["totalSize"] == 0


def test_cron_objects_refuse_dml(org: Org) -> None:
    tid = org.apex.schedule("Read only", "0 0 2 * * ?", _Noop())
    # The objects themselves cannot be inserted or updated (describe: createable and
    # updateable false): CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY, as real orgs answer.
    [res] = org.insert("CronTrigger", [{"CronExpression": "0 0 2 * * ?"}])
    assert not res["success"]
    assert res["errors"][0]["statusCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert res["errors"][0]["message"] == "entity type cannot be inserted: Scheduled Job"
    [res] = org.update("CronTrigger", [{"Id": tid, "State": "PAUSED"}])
    assert not res["success"]
    assert res["errors"][0]["message"] == "entity type cannot be updated: Scheduled Job"
    [res] = org.insert("CronJobDetail", [{"Name": "sneaky"}])
    assert not res["success"]
    # Even an empty record (no field to refuse) is refused: it used to create a row.
    [res] = org.insert("AsyncApexJob", [{}])
    assert not res["success"] and res["errors"][0]["message"].startswith(
        "entity type cannot be inserted: ")
    assert org.query("SELECT COUNT() FROM AsyncApexJob")["totalSize"] == 0
    for sobject, rid in (("CronTrigger", tid), ("CronJobDetail", _triggers(org)[0][
            "CronJobDetail"]["attributes"]["url"].rsplit("/", 1)[1])):
        with pytest.raises(InvalidType, match="does not support delete"):
            org.delete(sobject, [rid])
    assert _triggers(org)[0]["State"] == "WAITING"


def test_bad_cron_expression_is_refused_and_leaves_nothing(org: Org) -> None:
    with pytest.raises(SalesforceError):
        org.apex.schedule("bad", "0 0 25 * * ?", _Noop())
    assert org.query("SELECT COUNT() FROM CronTrigger")["totalSize"] == 0


def test_an_org_file_from_before_cron_rows_opens(tmp_path: Path) -> None:
    """An org saved before CronTrigger/CronJobDetail and AsyncApexJob.CronTriggerId existed
    gets the new tables and column on open (not a 'damaged' file)."""
    path = tmp_path / "old.sforg"
    o = Org()
    o.save(path)
    o.close()
    con = sqlite3.connect(path)
    con.execute('DROP INDEX IF EXISTS "AsyncApexJob__CronTriggerId"')
    con.execute('ALTER TABLE "AsyncApexJob" DROP COLUMN "CronTriggerId"')
    con.execute('DROP TABLE "CronTrigger"')
    con.execute('DROP TABLE "CronJobDetail"')
    con.commit()
    con.close()
    reopened = Org.open(path)
    tid = reopened.apex.schedule("after upgrade", "0 0 2 * * ?", _Noop())
    reopened.apex.run(until=reopened.clock.time() + DAY + 60)
    [job] = reopened.query_records("SELECT CronTriggerId FROM AsyncApexJob")
    assert job["CronTriggerId"] == tid
    reopened.close()


def test_a_null_or_wrong_job_is_refused_before_any_row(org: Org) -> None:
    # A schedule that cannot run is refused when made, not at its first fire (where it
    # used to stop the engine with the CronTrigger stuck in EXECUTING).
    res = _run(org, "System.schedule('n', '0 0 * * * ?', null);")
    assert not res.success and "Exception" in str(res.exception_message)
    assert org.query("SELECT COUNT() FROM CronTrigger")["totalSize"] == 0
    with pytest.raises(ValueError, match="needs a Schedulable job, not null"):
        org.apex.schedule("n", "0 0 * * * ?", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not str"):
        org.apex.schedule("n", "0 0 * * * ?", "job")  # type: ignore[arg-type]
    org.apex.run(until=org.clock.time() + 2 * 3600)  # nothing armed, nothing raised
    assert org.query("SELECT COUNT() FROM CronTrigger")["totalSize"] == 0
