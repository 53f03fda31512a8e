"""``@future`` methods (issue 15, item 3): queued as AsyncApexJob rows of JobType 'Future'
through the engine's Queueable path, 50 per transaction (0 in batch and future
transactions), callouts only with ``callout=true``, the compile-time rules."""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.apex.context import HttpResponse
from sforg_sim.apexlang import deploy, execute_anonymous, runtime_for

FUT = """public class Fut {
    public static Integer counter = 0;
    @future
    public static void work(Integer n, List<String> names) {
        counter++;
        System.debug('work ' + n + ' ' + names + ' ' + Limits.getLimitFutureCalls()
            + ' ' + counter);
    }
    @future(callout=true)
    public static void ping() { System.debug(new Http().send(req()).getBody()); }
    @future
    public static void noPing() { System.debug(new Http().send(req()).getBody()); }
    @future
    public static void again() { work(1, new List<String>()); }
    static HttpRequest req() {
        HttpRequest r = new HttpRequest();
        r.setEndpoint('callout:Echo/x');
        r.setMethod('GET');
        return r;
    }
}"""

BATCH = """public class FutBatch implements Database.Batchable<sObject> {
    public Database.QueryLocator start(Database.BatchableContext bc) {
        return Database.getQueryLocator('SELECT Id FROM Account');
    }
    public void execute(Database.BatchableContext bc, List<Account> scope) {
        System.debug('limit ' + Limits.getLimitFutureCalls());
        Fut.work(2, null);
    }
    public void finish(Database.BatchableContext bc) { }
}"""

QUEUE = """public class FutQueue implements Queueable {
    public void execute(QueueableContext ctx) {
        System.debug('limit ' + Limits.getLimitFutureCalls());
        Fut.work(3, null);
    }
}"""


@pytest.fixture
def org() -> Org:
    o = Org()
    o.apex.register_endpoint("callout:Echo", lambda m, p, b: HttpResponse(200, "pong"))
    results = deploy(o, {"Fut": FUT, "FutBatch": BATCH, "FutQueue": QUEUE})
    assert all(r.success for r in results), results
    return o


def _messages(org: Org) -> list[str]:
    return [ln.split("|", 4)[4] for ln in runtime_for(org).log]


def _jobs(org: Org) -> list[dict[str, Any]]:
    return org.query_records("SELECT JobType, ApexClass.Name, Status, ExtendedStatus "
                             "FROM AsyncApexJob ORDER BY CreatedDate")


def test_a_future_call_runs_later_as_a_future_job(org: Org) -> None:
    res = execute_anonymous(org, "List<String> xs = new List<String>{'a'};\n"
                                 "Fut.work(7, xs);\nxs.add('b');\n"
                                 "System.debug(Limits.getFutureCalls() + '/' + "
                                 "Limits.getLimitFutureCalls());")
    assert res.success, res.exception_message
    assert _messages(org) == ["1/50"]  # nothing ran yet
    org.apex.run_until_idle()
    # the arguments as they were at the call; the future's own limit is 0
    assert _messages(org) == ["1/50", "work 7 (a) 0 1"]
    rows = _jobs(org)
    assert [(r["JobType"], r["ApexClass"]["Name"], r["Status"]) for r in rows] == [
        ("Future", "Fut", "Completed")]


def test_futures_are_not_queueable_jobs(org: Org) -> None:
    # 50 futures and 50 enqueueJob calls fit in one synchronous transaction.
    res = execute_anonymous(org, "for (Integer i = 0; i < 50; i++) { Fut.work(i, null); "
                                 "System.enqueueJob(new FutQueue()); }\n"
                                 "System.debug(Limits.getQueueableJobs());")
    assert res.success, res.exception_message
    assert res.log[-1].endswith("|50")


def test_fifty_one_futures_is_an_uncatchable_limit(org: Org) -> None:
    res = execute_anonymous(org, "try { for (Integer i = 0; i < 51; i++) { Fut.work(i, null); }"
                                 " } catch (Exception e) { System.debug('caught'); }")
    assert res.exception_message == "System.LimitException: Too many future calls: 51"
    assert res.log == []
    org.apex.run_until_idle()
    assert _jobs(org) == []  # the failed transaction's futures never run


def test_callouts_need_callout_true(org: Org) -> None:
    assert execute_anonymous(org, "Fut.ping(); Fut.noPing();").success
    org.apex.run_until_idle()
    assert "pong" in _messages(org)
    failed = [r for r in _jobs(org) if r["Status"] == "Failed"]
    assert [r["ExtendedStatus"] for r in failed] == [
        "First error: Callout not allowed from this future method. "
        "Please enable callout=true"]


def test_no_future_from_a_future(org: Org) -> None:
    assert execute_anonymous(org, "Fut.again();").success
    org.apex.run_until_idle()
    row = _jobs(org)[0]
    assert row["Status"] == "Failed"
    assert row["ExtendedStatus"] == (
        "First error: Future method cannot be called from a future or batch "
        "method: Fut.work(Integer, List<String>)")


def test_no_future_from_a_batch_but_from_a_queueable(org: Org) -> None:
    org.insert("Account", [{"Name": "A"}])
    assert execute_anonymous(org, "Database.executeBatch(new FutBatch());\n"
                                  "System.enqueueJob(new FutQueue());").success
    org.apex.run_until_idle()
    assert "limit 0" in _messages(org) and "limit 50" in _messages(org)
    assert "work 3 null 0 1" in _messages(org)  # the queueable's future ran
    rows = _jobs(org)
    batch = next(r for r in rows if r["JobType"] == "BatchApex")
    assert batch["ExtendedStatus"] == (
        "First error: Future method cannot be called from a future "
        "or batch method: Fut.work(Integer, List<String>)")
    assert sum(1 for r in rows if r["JobType"] == "Future") == 1


@pytest.mark.parametrize(("decl", "problem"), [
    ("@future public void x() { }", "Future methods must be static"),
    ("@future public static Integer x() { return 1; }", "Future methods must return void"),
    ("@future public static void x(Account a) { }", "Unsupported parameter type Account"),
    ("@future public static void x(List<Object> a) { }",
     "Unsupported parameter type List<Object>"),
    ("@future(limits='2xCPU') public static void x() { }",
     "Not supported by sforg-sim: @future arguments other than callout=true|false"),
])
def test_future_compile_rules(decl: str, problem: str) -> None:
    results = deploy(Org(), {"Bad": f"public class Bad {{\n    {decl}\n}}"})
    assert not results[0].success
    assert results[0].problem == problem
    assert results[0].line == 2
