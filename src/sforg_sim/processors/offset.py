"""V1, the offset processor: the design that failed in production, ported faithfully.

The team's ``DynamicPartitionProcessor.cls`` (V1) is a Queueable per partition that reads
pages of 500 with LIMIT/OFFSET, several pages per transaction, then chains itself with the
next offset. Nothing here scripts its failures; they come from the design meeting the
platform's documented rules:

- **Restarting** (``page_source="datacloud"``, the deployed V1): each execution does
  callout, update, callout, update ... Apex refuses a callout after DML in the same
  transaction (``System.CalloutException: You have uncommitted work pending``; Apex
  Developer Guide, "Callout Limits and Limitations"), so the second page's callout throws
  as soon as the first page wrote anything; the team's ``catch (Exception e)`` restarts the
  partition at offset 0. Every restart re-reads all earlier pages (one API call each) to
  write one more page, so calls grow with the square of the pages. Pages come from the
  Data Cloud V1 query API with LIMIT/OFFSET and **no ORDER BY**, whose order is not
  guaranteed: each re-read can see a different order, so pages repeat and records are
  missed.
- **OFFSET cap** (opt-in what if, preset ``v1-offset-cap``): if the source refused offsets
  above 2,000 (no document says Data Cloud does), the same ``catch`` would restart at 0
  forever once a partition is past the cap.
- **Skipping** (``page_source="opportunity"``): pages are a SOQL query on Opportunity that
  filters on the field the job writes (``StageName != 'Qualification'``). Each page it
  processes leaves the result set, so the next OFFSET jumps over as many unprocessed rows.
  SOQL's own OFFSET cap (2,000, NUMBER_OUTSIDE_VALID_RANGE) then feeds the same restart.
- **Premature stop**: an empty page ends the partition (a transient empty batch, or the
  shrunk result set), and a DML failure (UNABLE_TO_LOCK_ROW) is not caught, so the job
  fails and the chain ends.
- Ranges are inclusive at both ends (``>= start AND <= end``), so shared boundaries are
  read by two partitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..apex import Context, Queueable
from ..errors import CalloutException, SalesforceError
from ..nightly import SOURCE_OBJECT, TARGET_STAGE
from . import DATA_ENDPOINT, Partition, sql_literal

if TYPE_CHECKING:
    from ..org import Org

__all__ = ["DynamicPartitionProcessor", "OffsetProcessor", "start_v1"]


class DynamicPartitionProcessor(Queueable):
    """Up to ``pages_per_execution`` offset pages of one partition, then chain."""

    def __init__(self, partition: int, start_id: str, end_id: str, offset: int = 0,
                 page_size: int = 500, pages_per_execution: int = 10,
                 page_source: str = "datacloud", restart_on_error: bool = True) -> None:
        self.partition = partition
        self.start_id = start_id
        self.end_id = end_id
        self.offset = offset
        self.page_size = page_size
        self.pages_per_execution = pages_per_execution
        self.page_source = page_source
        self.restart_on_error = restart_on_error
        self.stop_reason: str | None = None

    def _next(self, offset: int) -> DynamicPartitionProcessor:
        return DynamicPartitionProcessor(
            self.partition, self.start_id, self.end_id, offset, self.page_size,
            self.pages_per_execution, self.page_source, self.restart_on_error)

    def _datacloud(self, ctx: Context, where: str, tail: str) -> dict[str, str]:
        sql = (f"SELECT External_ID__c, StageName__c FROM {SOURCE_OBJECT} "
               f"WHERE {where}{tail}")
        res = ctx.callout("POST", DATA_ENDPOINT, {"sql": sql})
        if res.status_code != 200:
            raise CalloutException(f"Data Cloud returned {res.status_code}: {res.get_body()}")
        return {r["External_ID__c"]: r["StageName__c"] for r in res.json()["data"]}

    def _read_page(self, ctx: Context, offset: int) -> tuple[list[dict[str, Any]],
                                                              dict[str, str]]:
        """(Opportunities of the page, source stage by External ID)."""
        if self.page_source == "datacloud":
            stage = self._datacloud(
                ctx, f"External_ID__c >= {sql_literal(self.start_id)} "
                     f"AND External_ID__c <= {sql_literal(self.end_id)}",
                f" LIMIT {self.page_size} OFFSET {offset}")
            if not stage:
                return [], {}
            # Only the rows that still need the update (the comparison below is then
            # redundant but kept: it is what the team's class does).
            opps = ctx.query("SELECT Id, External_ID__c, StageName FROM Opportunity "
                             "WHERE External_ID__c IN :ext_ids AND StageName != :done",
                             ext_ids=list(stage), done=TARGET_STAGE)
            return opps, stage
        opps = ctx.query(
            "SELECT Id, External_ID__c, StageName FROM Opportunity "
            "WHERE External_ID__c >= :s AND External_ID__c <= :e AND StageName != :done "
            "LIMIT :n OFFSET :o", s=self.start_id, e=self.end_id, done=TARGET_STAGE,
            n=self.page_size, o=offset)
        if not opps:
            return [], {}
        ext = ", ".join(sql_literal(o["External_ID__c"]) for o in opps)
        return opps, self._datacloud(ctx, f"External_ID__c IN ({ext})", "")

    def execute(self, ctx: Context) -> None:
        """Read pages at increasing offsets; restart at 0 when a page read fails."""
        offset = self.offset
        for _ in range(self.pages_per_execution):
            try:
                opps, stage = self._read_page(ctx, offset)
            except SalesforceError as e:  # the team's catch (Exception e)
                if not self.restart_on_error:
                    self.stop_reason = f"error: {e.error_code}"
                    return
                ctx.debug(f"partition {self.partition}: {e}; restarting from offset 0")
                ctx.enqueue_job(self._next(0))
                return
            if not opps and not stage:
                self.stop_reason = "empty page"
                ctx.debug(f"partition {self.partition}: empty page at offset {offset}, done")
                return
            changes = [{"Id": o["Id"], "StageName": stage[o["External_ID__c"]]}
                       for o in opps if o["External_ID__c"] in stage
                       and o["StageName"] != stage[o["External_ID__c"]]]
            if changes:
                ctx.update("Opportunity", changes)  # not caught: a failure ends the chain
            offset += self.page_size
        ctx.enqueue_job(self._next(offset))


def start_v1(org: Org, parts: Sequence[Partition], page_size: int = 500,
             **options: Any) -> list[str]:
    """The team's ``start_v1.apex``: one V1 chain per partition (options: see the class)."""
    def script(ctx: Context) -> list[str]:
        out = []
        for p in parts:
            out.append(ctx.enqueue_job(DynamicPartitionProcessor(
                p.index, p.start, p.end, 0, page_size, **options)))
            ctx.debug(f"Started DynamicPartition_{p.index}: {p.label()}")
        return out

    return list(org.apex.execute_anonymous(script))


class OffsetProcessor:
    """V1 as a replayable :class:`~.Processor`; ``options`` go to each job."""

    target_stage = TARGET_STAGE
    inclusive_end = True

    def __init__(self, name: str = "v1", **options: Any) -> None:
        self.name = name
        self.options = options

    def start(self, org: Org, parts: Sequence[Partition], page_size: int) -> list[str]:
        """Launch one V1 chain per partition."""
        return start_v1(org, parts, page_size, **self.options)
