"""Async engine semantics: queueables, batches, flex queue, governor limits, abort."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.apex import (
    MAX_FLEX_QUEUE,
    Batchable,
    Context,
    Queueable,
    Stateful,
    get_query_locator,
)
from sforg_sim.errors import AsyncException, LimitException


class Noop(Queueable):
    def execute(self, ctx: Context) -> None:
        ctx.debug("ran")


class Chain(Queueable):
    def __init__(self, n: int) -> None:
        self.n = n

    def execute(self, ctx: Context) -> None:
        ctx.insert("Account", [{"Name": f"A{self.n}"}])
        if self.n > 1:
            ctx.enqueue_job(Chain(self.n - 1))


class Items(Batchable):
    def __init__(self, items: list[int]) -> None:
        self.items = items
        self.seen: list[int] = []
        self.finished = False

    def start(self, ctx: Context) -> list[int]:
        return self.items

    def execute(self, ctx: Context, scope: list[Any]) -> None:
        self.seen.extend(scope)

    def finish(self, ctx: Context) -> None:
        self.finished = True


class StatefulItems(Items, Stateful):
    pass


def test_queueable_chain_writes_async_apex_job_rows() -> None:
    org = Org()
    org.apex.enqueue_job(Chain(4))
    org.apex.run_until_idle()
    assert org.query("SELECT COUNT() FROM Account")["totalSize"] == 4
    rows = org.query_records("SELECT Status, JobType, ApexClass.Name FROM AsyncApexJob")
    assert [r["Status"] for r in rows] == ["Completed"] * 4
    assert {r["JobType"] for r in rows} == {"Queueable"}
    assert org.limits()["DailyAsyncApexExecutions"]["Remaining"] == 250_000 - 4


@pytest.mark.parametrize("scope", [1, 7, 200, 2000])
def test_batch_chunks_every_item_once(scope: int) -> None:
    org = Org()
    job = StatefulItems(list(range(1000)))
    jid = org.apex.execute_batch(job, scope)
    org.apex.run_until_idle()
    assert sorted(job.seen) == list(range(1000)) and job.finished
    row = org.query_records("SELECT Status, TotalJobItems, JobItemsProcessed, NumberOfErrors "
                            "FROM AsyncApexJob WHERE Id = :i", i=jid)[0]
    n = math.ceil(1000 / scope)
    assert (row["Status"], row["TotalJobItems"], row["JobItemsProcessed"],
            row["NumberOfErrors"]) == ("Completed", n, n, 0)


def test_state_is_reset_without_stateful() -> None:
    org = Org()
    job = Items(list(range(10)))
    org.apex.execute_batch(job, 3)
    org.apex.run_until_idle()
    assert job.seen == []  # each execute got a fresh copy of the post-start state
    kept = StatefulItems(list(range(10)))
    org.apex.execute_batch(kept, 3)
    org.apex.run_until_idle()
    assert kept.seen == list(range(10))


@pytest.mark.parametrize("scope", [0, -1])
def test_scope_must_be_positive(scope: int) -> None:
    with pytest.raises(AsyncException):
        Org().apex.execute_batch(Items([1]), scope)


def test_flex_queue_holds_beyond_five_and_caps_at_100() -> None:
    org = Org()
    for _ in range(7):
        org.apex.execute_batch(Items([1, 2]), 1)
    assert org.apex.status_counts() == {"Queued": 5, "Holding": 2}
    holding = org.query_records("SELECT Id FROM AsyncApexJob WHERE Status = 'Holding'")
    assert len(holding) == 2
    org.apex.run_until_idle()
    assert org.apex.status_counts() == {"Completed": 7}
    for _ in range(5 + MAX_FLEX_QUEUE):
        org.apex.execute_batch(Items([1]), 1)
    with pytest.raises(AsyncException, match="limit of 100 jobs in the flex queue"):
        org.apex.execute_batch(Items([1]), 1)


class Opps(Batchable, Stateful):
    def __init__(self) -> None:
        self.names: list[str] = []

    def start(self, ctx: Context) -> Any:
        return get_query_locator("SELECT Id, Name FROM Account ORDER BY Name")

    def execute(self, ctx: Context, scope: list[Any]) -> None:
        self.names.extend(r["Name"] for r in scope)


def test_query_locator_snapshots_ids_and_rereads_rows() -> None:
    org = Org()
    ids = [r["id"] for r in org.insert("Account", [{"Name": f"N{i:03d}"} for i in range(30)])]
    job = Opps()
    org.apex.execute_batch(job, 2500)  # above 2,000 with a QueryLocator: chunks of 2,000
    org.apex.run(until=org.clock.time() + org.apex.costs.job_start + 0.5)  # start() ran
    assert org.apex.status_counts() == {"Preparing": 1} or org.apex.status_counts() == {
        "Processing": 1}
    org.insert("Account", [{"Name": "N999 late"}])
    org.delete("Account", ids[:5])
    org.update("Account", [{"Id": ids[5], "Name": "renamed"}])
    org.apex.run_until_idle()
    assert "N999 late" not in job.names and "N000" not in job.names
    assert "renamed" in job.names and len(job.names) == 25


def test_query_locator_row_cap_fails_the_job() -> None:
    org = Org()
    org.insert("Account", [{"Name": f"N{i}"} for i in range(5)])
    org.apex.max_locator_rows = 4
    jid = org.apex.execute_batch(Opps())
    org.apex.run_until_idle()
    job = org.apex.job(jid)
    assert job.status == "Failed" and job.error is not None
    assert job.error.error_code == "LIMIT_EXCEPTION"


class Greedy(Queueable):
    def execute(self, ctx: Context) -> None:
        ctx.insert("Account", [{"Name": "rolled back"}])
        try:
            for _ in range(201):
                ctx.query("SELECT Id FROM User")
        except Exception:  # Apex code cannot catch a LimitException
            ctx.insert("Account", [{"Name": "caught"}])


def test_limit_exception_cannot_be_caught_and_rolls_back() -> None:
    org = Org()
    jid = org.apex.enqueue_job(Greedy())
    org.apex.run_until_idle()
    job = org.apex.job(jid)
    assert job.status == "Failed"
    assert isinstance(job.error, LimitException)
    assert "Too many SOQL queries: 201" in job.error.message
    assert org.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    row = org.query_records("SELECT ExtendedStatus, NumberOfErrors FROM AsyncApexJob")[0]
    assert row["NumberOfErrors"] == 1
    assert row["ExtendedStatus"] == "First error: Too many SOQL queries: 201"


class TooManyRows(Queueable):
    def execute(self, ctx: Context) -> None:
        for _ in range(2):
            ctx.insert("Account", [{"Name": "x"}] * 5001)


def test_dml_row_limit() -> None:
    org = Org()
    jid = org.apex.enqueue_job(TooManyRows())
    org.apex.run_until_idle()
    err = org.apex.job(jid).error
    assert err is not None and "Too many DML rows: 10002" in err.message


class TwoChildren(Queueable):
    def execute(self, ctx: Context) -> None:
        ctx.enqueue_job(Noop())
        ctx.enqueue_job(Noop())


def test_async_context_may_enqueue_one_child() -> None:
    org = Org()
    jid = org.apex.enqueue_job(TwoChildren())
    org.apex.run_until_idle()
    assert org.apex.job(jid).status == "Failed"
    assert len(org.apex.jobs) == 1  # the children of a failed transaction are discarded


def test_sync_transaction_may_enqueue_fifty() -> None:
    org = Org()
    org.apex.execute_anonymous(lambda ctx: [ctx.enqueue_job(Noop()) for _ in range(50)])
    with pytest.raises(LimitException, match="Too many queueable jobs"):
        org.apex.execute_anonymous(lambda ctx: [ctx.enqueue_job(Noop()) for _ in range(51)])
    org.apex.run_until_idle()
    assert org.apex.status_counts() == {"Completed": 50}


def test_developer_edition_chain_depth() -> None:
    # "The maximum number of jobs in the chain is 5, including the initial parent
    # queueable job" (Apex Developer Guide, "Queueable Apex"): four jobs chain a child,
    # the fifth job's enqueueJob fails.
    org = Org(edition="developer")
    org.apex.enqueue_job(Chain(8))
    org.apex.run_until_idle()
    assert org.apex.status_counts() == {"Completed": 4, "Failed": 1}
    failed = next(j for j in org.apex.jobs.values() if j.status == "Failed")
    assert failed.error is not None and "Maximum stack depth" in failed.error.message


def test_abort_job_before_it_runs() -> None:
    org = Org()
    jid = org.apex.enqueue_job(Chain(1))
    assert org.apex.abort_job(jid)
    org.apex.run_until_idle()
    assert org.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    row = org.query_records("SELECT Status, CompletedDate FROM AsyncApexJob")[0]
    assert row["Status"] == "Aborted" and row["CompletedDate"]
    assert not org.apex.abort_job(jid)


def test_abort_all_releases_holding_batches() -> None:
    org = Org()
    for _ in range(8):
        org.apex.execute_batch(Items([1]), 1)
    assert org.apex.abort_all() == 8
    org.apex.run_until_idle()
    assert org.apex.status_counts() == {"Aborted": 8}


class InsertThen(Queueable):
    """Inserts one Account, then fails as told: a Salesforce error or a Python bug."""

    def __init__(self, name: str, fail: str | None = None) -> None:
        self.name = name
        self.fail = fail

    def execute(self, ctx: Context) -> None:
        ctx.insert("Account", [{"Name": self.name}])
        if self.fail == "apex":
            raise LimitException("Too many DML rows: 10001")
        if self.fail == "python":
            raise ZeroDivisionError("a bug in the port")


def _accounts(org: Org) -> list[str]:
    return sorted(r["Name"] for r in org.query_records("SELECT Name FROM Account"))


def test_each_apex_transaction_rolls_back_alone_inside_a_commit_batch() -> None:
    # run() groups Apex transactions into one SQLite transaction (speed); a failed one
    # must still roll back alone, and nothing may stay uncommitted after run() returns.
    org = Org()
    for name, fail in [("a", None), ("b", "apex"), ("c", None)]:
        org.apex.enqueue_job(InsertThen(name, fail))
    org.apex.run_until_idle()
    assert _accounts(org) == ["a", "c"]
    assert not org.store.in_transaction
    statuses = org.query_records("SELECT Status FROM AsyncApexJob ORDER BY CreatedDate")
    assert sorted(r["Status"] for r in statuses) == ["Completed", "Completed", "Failed"]


def test_a_python_error_in_a_job_keeps_earlier_work_committed(tmp_path: Any) -> None:
    org = Org(path=tmp_path / "o.sforg")
    org.apex.enqueue_job(InsertThen("a"))
    org.apex.enqueue_job(InsertThen("b", "python"))
    with pytest.raises(ZeroDivisionError):
        org.apex.run_until_idle()
    assert not org.store.in_transaction
    org.close()
    again = Org.open(tmp_path / "o.sforg")
    assert _accounts(again) == ["a"]
    again.close()


def test_save_close_and_bulk_load_between_events_end_the_commit_batch(tmp_path: Any) -> None:
    # An event listener (a replay's progress hook, say) may save the org, load a scenario
    # or close it while run() holds a batch transaction open: each must commit the batch
    # first, not hang on it, fail on it or lose it.
    org = Org()
    for i in range(6):
        org.apex.enqueue_job(InsertThen(f"m{i}"))
    seen = [0]

    def on_event() -> None:
        seen[0] += 1
        if seen[0] == 3:
            org.save(tmp_path / "mid.sforg")
            org.load_scenario("massive-upload", records=20)

    org.apex.event_listeners.append(on_event)
    org.apex.run_until_idle()
    assert len(_accounts(org)) == 6 and not org.store.in_transaction
    mid = Org.open(tmp_path / "mid.sforg")
    assert len(_accounts(mid)) == 3
    mid.close()
    assert org.soql.count("SELECT COUNT() FROM Opportunity") == 20

    on_file = Org(path=tmp_path / "f.sforg")
    for i in range(6):
        on_file.apex.enqueue_job(InsertThen(f"f{i}"))

    def close_after_four() -> None:
        if len(_accounts(on_file)) == 4:
            on_file.apex.stop()
            on_file.close()

    on_file.apex.event_listeners.append(close_after_four)
    on_file.apex.run_until_idle()
    again = Org.open(tmp_path / "f.sforg")
    assert _accounts(again) == ["f0", "f1", "f2", "f3"]
    again.close()
