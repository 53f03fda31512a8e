"""Check your own pagination job with sforg_sim: copy this file next to your tests.

1. Port the Apex class to Python (one method per Apex method; see the table in
   ``sforg_sim.processors.keyset``). ``ctx`` gives SOQL, DML, callouts and enqueueJob.
2. Hand ``check_processor`` a factory building the first job of one partition.
3. Run ``pytest --hypothesis-profile sforg-ci`` (or ``sforg-dev``, ``sforg-thorough``). If
   your job breaks an invariant, the test fails with the shrunk dataset, partitioning and
   fault schedule, and the ``Case(...)`` to pin in ``examples=`` once you have fixed it.
"""

from __future__ import annotations

from sforg_sim.apex import Context, Queueable
from sforg_sim.cases import Case, FaultPlan
from sforg_sim.checker import check_processor
from sforg_sim.errors import UnableToLockRow
from sforg_sim.processors import DATA_ENDPOINT, Partition, sql_literal


class MyStageSync(Queueable):
    """Copy StageName from Data Cloud, one keyset page per transaction, then chain."""

    def __init__(self, part: Partition, page_size: int, last: str | None = None,
                 empty_pages: int = 0) -> None:
        self.partition = part.index  # lets the checker attribute calls to partitions
        self.part, self.page_size = part, page_size
        self.last, self.empty_pages = last, empty_pages

    def execute(self, ctx: Context) -> None:
        lower = (f"External_ID__c >= {sql_literal(self.part.start)}" if self.last is None
                 else f"External_ID__c > {sql_literal(self.last)}")
        sql = (f"SELECT External_ID__c, StageName__c FROM Opportunity_Source__dlm "
               f"WHERE {lower} AND External_ID__c < {sql_literal(self.part.end)} "
               f"ORDER BY External_ID__c LIMIT {self.page_size}")
        res = ctx.callout("POST", DATA_ENDPOINT, {"sql": sql})
        if res.status_code == 403:  # REQUEST_LIMIT_EXCEEDED: stop, do not spin
            return
        if res.status_code != 200:  # transient: retry the same page
            ctx.enqueue_job(MyStageSync(self.part, self.page_size, self.last,
                                        self.empty_pages))
            return
        rows = res.json()["data"]
        if not rows:  # Data Cloud may answer one empty batch: give up after three
            if self.empty_pages < 2:
                ctx.enqueue_job(MyStageSync(self.part, self.page_size, self.last,
                                            self.empty_pages + 1))
            return
        stage = {r["External_ID__c"].upper(): r["StageName__c"] for r in rows}
        opps = ctx.query("SELECT Id, External_ID__c, StageName FROM Opportunity "
                         "WHERE External_ID__c IN :keys",
                         keys=[r["External_ID__c"] for r in rows])
        changes = [{"Id": o["Id"], "StageName": stage[o["External_ID__c"].upper()]}
                   for o in opps if o["StageName"] != stage[o["External_ID__c"].upper()]]
        try:
            if changes:
                ctx.update("Opportunity", changes)
        except UnableToLockRow:  # retry the page in a new transaction
            ctx.enqueue_job(MyStageSync(self.part, self.page_size, self.last,
                                        self.empty_pages))
            return
        ctx.enqueue_job(MyStageSync(self.part, self.page_size, rows[-1]["External_ID__c"]))


def my_job(part: Partition, page_size: int) -> MyStageSync:
    """What the start script enqueues for one partition."""
    return MyStageSync(part, page_size)


# A counterexample the checker once found (an empty first page), pinned after the fix.
EMPTY_FIRST_PAGE = Case.of(["externalOpp01"], ["externalOpp01", "externalOpp02"],
                               page_size=1, faults=FaultPlan(empty=(1,)))


def test_my_stage_sync_keeps_every_invariant() -> None:
    result = check_processor(my_job, examples=[EMPTY_FIRST_PAGE])
    print(f"{result.examples} cases checked")
