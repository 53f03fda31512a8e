"""The Context handed to ``execute()``: what Apex code can do inside one transaction.

- SOQL: :meth:`Context.query` (``[SELECT ...]``), counted against the governor (queries and
  rows) and the cost model. Not an API call: SOQL inside the org never is.
- DML: :meth:`insert`, :meth:`update`, :meth:`upsert`, :meth:`delete`. Like the Apex DML
  statements they are all-or-none by default and raise the first record error
  (``DmlException``); ``all_or_none=False`` is ``Database.update(records, false)`` and
  returns the SaveResults. Writes are rolled back if the transaction fails.
- Callouts: :meth:`callout` to an endpoint registered on the engine (the simulated Data
  Cloud source registers ``callout:DataCloud``). Returns an :class:`HttpResponse`; HTTP
  errors are statuses, not exceptions, as in Apex.
- Async: :meth:`enqueue_job` (``System.enqueueJob``), :meth:`execute_batch`
  (``Database.executeBatch``), :meth:`abort_job` (``System.abortJob``). Jobs enqueued in a
  transaction that fails are discarded, as in Apex.
- :meth:`debug`: ``System.debug``, kept in the engine's log with the time and job id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import SalesforceError, error_class
from .governor import Governor

if TYPE_CHECKING:
    from .engine import AsyncEngine
    from .jobs import Batchable, Queueable

__all__ = ["Context", "HttpResponse"]


@dataclass
class HttpResponse:
    """An ``HttpResponse``: status code and body (JSON-able value or text)."""

    status_code: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as a Python value (``JSON.deserializeUntyped``)."""
        return json.loads(self.body) if isinstance(self.body, str) else self.body

    def get_body(self) -> str:
        """The body as text (``getBody()``)."""
        return self.body if isinstance(self.body, str) else json.dumps(self.body)


class Context:
    """One transaction's view of the org. Created by the engine; do not build your own."""

    def __init__(self, engine: AsyncEngine, governor: Governor, job_id: str | None,
                 *, is_async: bool) -> None:
        self.engine = engine
        self.org = engine.org
        self.governor = governor
        self.job_id = job_id
        self.is_async = is_async
        self.depth = 0  # Queueable chain depth of the running job
        self.enqueued: list[tuple[str, Any]] = []  # ("queueable"|"batch", payload)
        self.written: list[tuple[str, str, list[str]]] = []  # (sobject, op, ids)

    # --- SOQL ---------------------------------------------------------------------------

    def query(self, soql: str, **binds: Any) -> list[dict[str, Any]]:
        """Run SOQL as Apex does (``[SELECT ...]``); a SOQL error raises (catchable)."""
        try:
            rows: list[dict[str, Any]] = self.org.query_records(soql, **binds)
        except SalesforceError:
            self.governor.soql(0)
            raise
        self.governor.soql(len(rows))
        return rows

    # --- DML ----------------------------------------------------------------------------

    def _dml(self, op: str, sobject: str, records: Sequence[Any], all_or_none: bool,
             call: Any) -> list[dict[str, Any]]:
        self.governor.dml(len(records))
        if records:
            self.engine.faults.before_dml(self, sobject, op)
        results: list[dict[str, Any]] = call()
        ok = [r["id"] for r in results if r["success"]]
        if ok:
            self.written.append((sobject, op, ok))
        if all_or_none and len(ok) != len(results):
            rolled = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
            bad = next((i, r) for i, r in enumerate(results) if not r["success"]
                       and r["errors"][0]["statusCode"] != rolled)
            err = bad[1]["errors"][0]
            raise error_class(err["statusCode"])(
                f"{op.title()} failed. First exception on row {bad[0]}; first error: "
                f"{err['statusCode']}, {err['message']}: {err['fields']}", err["fields"])
        return results

    def insert(self, sobject: str, records: Sequence[Mapping[str, Any]], *,
               all_or_none: bool = True) -> list[dict[str, Any]]:
        """``insert records`` (or ``Database.insert(records, false)``)."""
        return self._dml("insert", sobject, records, all_or_none, lambda: self.org.insert(
            sobject, records, all_or_none=all_or_none))

    def update(self, sobject: str, records: Sequence[Mapping[str, Any]], *,
               all_or_none: bool = True) -> list[dict[str, Any]]:
        """``update records`` (or ``Database.update(records, false)``)."""
        return self._dml("update", sobject, records, all_or_none, lambda: self.org.update(
            sobject, records, all_or_none=all_or_none))

    def upsert(self, sobject: str, external_id_field: str,
               records: Sequence[Mapping[str, Any]], *,
               all_or_none: bool = True) -> list[dict[str, Any]]:
        """``upsert records External_ID__c``."""
        return self._dml("upsert", sobject, records, all_or_none, lambda: self.org.upsert(
            sobject, external_id_field, records, all_or_none=all_or_none))

    def delete(self, sobject: str, record_ids: Sequence[str], *,
               all_or_none: bool = True) -> list[dict[str, Any]]:
        """``delete records``."""
        return self._dml("delete", sobject, record_ids, all_or_none, lambda: self.org.delete(
            sobject, record_ids, all_or_none=all_or_none))

    # --- callouts -------------------------------------------------------------------------

    def callout(self, method: str, endpoint: str, body: Any = None) -> HttpResponse:
        """``new Http().send(req)`` to a registered endpoint (``callout:Name/path``)."""
        self.governor.callout()
        fault = self.engine.faults.on_callout(self, endpoint)
        if fault is not None:
            return fault
        return self.engine.route_callout(method, endpoint, body)

    # --- async ----------------------------------------------------------------------------

    def enqueue_job(self, job: Queueable) -> str:
        """``System.enqueueJob``: the child starts after this transaction commits."""
        self.governor.queueable()
        if self.is_async:
            self.engine.check_depth(self.depth + 1)
        job_id = self.engine.reserve_job_id()
        self.enqueued.append(("queueable", (job_id, job)))
        return job_id

    def execute_batch(self, job: Batchable, scope: int = 200) -> str:
        """``Database.executeBatch(job, scope)``; flex queue rules apply at commit."""
        self.engine.check_scope(scope)
        job_id = self.engine.reserve_job_id()
        self.enqueued.append(("batch", (job_id, job, scope)))
        return job_id

    def abort_job(self, job_id: str) -> None:
        """``System.abortJob``."""
        self.engine.abort_job(job_id)

    # --- misc -----------------------------------------------------------------------------

    def debug(self, message: Any) -> None:
        """``System.debug``: appended to ``engine.log`` as (time, job id, text)."""
        self.engine.log.append((self.org.clock.stamp(), self.job_id, str(message)))

    def now(self) -> float:
        """Simulated time (epoch seconds) at which this transaction runs."""
        return self.org.clock.time()
