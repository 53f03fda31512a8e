"""V2, the keyset processor, and the tutorial for porting your own Apex job.

The team's ``DynamicPartitionProcessorV2.cls`` is a Queueable that copies StageName from
the Data Cloud source onto Opportunities, one page of 500 per transaction, then chains
itself. Ported line by line:

=====================================================  ===========================================
Apex                                                   Python (``sforg_sim``)
=====================================================  ===========================================
``public class P implements Queueable,                  ``class P(Queueable):`` (add
Database.AllowsCallouts``                               ``Stateful`` for ``Database.Stateful``)
member variables + constructor                          ``__init__`` attributes
``execute(QueueableContext qc)``                        ``execute(self, ctx)``
``new Http().send(req)``                                ``ctx.callout("POST", endpoint, body)``
``res.getStatusCode()``, ``JSON.deserializeUntyped``    ``res.status_code``, ``res.json()``
``[SELECT ... WHERE X IN :ids]``                        ``ctx.query("... IN :ids", ids=ids)``
``Integer n = [SELECT COUNT() FROM ...]``               ``n = ctx.query("SELECT COUNT() ...")``
                                                        (an ``int``, as in Apex)
``update records;``                                     ``ctx.update("Opportunity", records)``
``System.enqueueJob(new P(...))``                       ``ctx.enqueue_job(P(...))``
``System.debug(...)``                                   ``ctx.debug(...)``
``catch (DmlException e)``                              ``except SalesforceError as e``
=====================================================  ===========================================

Then give the class a ``start`` function launching it over partitions (the start script),
and wrap both in an object with ``name`` and ``start`` (the :class:`~.Processor` protocol)
to replay it: ``replay(org, KeysetProcessor())``. Governor limits, the flex queue, the API
quota and the cost model apply to the port exactly as they apply here.

What makes V2 correct:

- half-open ranges ``start <= External_ID__c < end``, so shared boundaries count once;
- keyset pages ``External_ID__c > :lastProcessedId ORDER BY External_ID__c LIMIT 500``:
  the position is a value, not a count, so updates cannot shift it;
- ``lastProcessedId`` carried to the chained job;
- an empty page is retried; only 3 consecutive empty pages end the partition (Data Cloud
  can return a transient empty batch); a failed callout (an error status, or a
  ``CalloutException`` such as "Read timed out") or a locked row retries the same page;
  REQUEST_LIMIT_EXCEEDED stops the chain instead of spinning;
- one callout per transaction, made *before* any DML or ``enqueue_job``: Apex refuses a
  callout after pending work in the same transaction ("Callout Limits and Limitations"),
  so callout, query, update, enqueue is the only order that works.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..apex import Context, Queueable
from ..errors import CalloutException, UnableToLockRow
from ..nightly import SOURCE_OBJECT, TARGET_STAGE
from . import DATA_ENDPOINT, Partition, sql_literal

if TYPE_CHECKING:
    from ..org import Org

__all__ = ["DynamicPartitionProcessorV2", "KeysetProcessor", "start_v2"]


class DynamicPartitionProcessorV2(Queueable):
    """One page of a partition; chains itself with the last External ID it processed."""

    def __init__(self, partition: int, start_id: str, end_id: str,
                 last_processed_id: str | None = None, page_size: int = 500,
                 empty_batches: int = 0, max_empty_batches: int = 3) -> None:
        self.partition = partition
        self.start_id = start_id
        self.end_id = end_id
        self.last_processed_id = last_processed_id
        self.page_size = page_size
        self.empty_batches = empty_batches
        self.max_empty_batches = max_empty_batches
        self.stop_reason: str | None = None

    def _next(self, last: str | None, empty: int) -> DynamicPartitionProcessorV2:
        return DynamicPartitionProcessorV2(self.partition, self.start_id, self.end_id, last,
                                           self.page_size, empty, self.max_empty_batches)

    def execute(self, ctx: Context) -> None:
        """Read one keyset page from Data Cloud, copy StageName, chain the next page."""
        lower = (f"External_ID__c >= {sql_literal(self.start_id)}"
                 if self.last_processed_id is None
                 else f"External_ID__c > {sql_literal(self.last_processed_id)}")
        sql = (f"SELECT External_ID__c, StageName__c FROM {SOURCE_OBJECT} WHERE {lower} "
               f"AND External_ID__c < {sql_literal(self.end_id)} "
               f"ORDER BY External_ID__c LIMIT {self.page_size}")
        try:
            res = ctx.callout("POST", DATA_ENDPOINT, {"sql": sql})
        except CalloutException as e:  # e.g. Read timed out: nothing read, retry the page
            ctx.debug(f"partition {self.partition}: {e.message}, retrying page")
            ctx.enqueue_job(self._next(self.last_processed_id, self.empty_batches))
            return
        if res.status_code == 403:
            self.stop_reason = "REQUEST_LIMIT_EXCEEDED"
            ctx.debug(f"partition {self.partition}: API quota exhausted, stopping")
            return
        if res.status_code != 200:
            ctx.debug(f"partition {self.partition}: callout {res.status_code}, retrying page")
            ctx.enqueue_job(self._next(self.last_processed_id, self.empty_batches))
            return
        rows = res.json()["data"]
        if not rows:
            if self.empty_batches + 1 >= self.max_empty_batches:
                self.stop_reason = "completed"
                ctx.debug(f"partition {self.partition}: {self.max_empty_batches} empty batches")
                return
            ctx.enqueue_job(self._next(self.last_processed_id, self.empty_batches + 1))
            return
        stage = {r["External_ID__c"]: r["StageName__c"] for r in rows}
        opps = ctx.query("SELECT Id, External_ID__c, StageName FROM Opportunity "
                         "WHERE External_ID__c IN :ext_ids", ext_ids=list(stage))
        changes = [{"Id": o["Id"], "StageName": stage[o["External_ID__c"]]}
                   for o in opps if o["StageName"] != stage[o["External_ID__c"]]]
        if changes:
            try:
                ctx.update("Opportunity", changes)
            except UnableToLockRow:
                ctx.debug(f"partition {self.partition}: row lock, retrying page")
                ctx.enqueue_job(self._next(self.last_processed_id, self.empty_batches))
                return
        ctx.enqueue_job(self._next(rows[-1]["External_ID__c"], 0))


def start_v2(org: Org, parts: Sequence[Partition], page_size: int = 500) -> list[str]:
    """The team's ``start_v2.apex`` (Execute Anonymous): one chain per partition.

    Prints ``Started DynamicPartitionV2_0: externalOpp0000001 to externalOpp0200001`` ...
    to the debug log, as the script does.
    """
    def script(ctx: Context) -> list[str]:
        out = []
        for p in parts:
            out.append(ctx.enqueue_job(DynamicPartitionProcessorV2(
                p.index, p.start, p.end, None, page_size)))
            ctx.debug(f"Started DynamicPartitionV2_{p.index}: {p.label()}")
        return out

    return list(org.apex.execute_anonymous(script))


class KeysetProcessor:
    """V2 as a replayable :class:`~.Processor`."""

    name = "v2"
    target_stage = TARGET_STAGE
    inclusive_end = False

    def start(self, org: Org, parts: Sequence[Partition], page_size: int) -> list[str]:
        """Launch one V2 chain per partition."""
        return start_v2(org, parts, page_size)
