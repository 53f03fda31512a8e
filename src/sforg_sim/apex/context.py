"""What Apex code sees: the job interfaces it implements and the Context of a transaction.

The Apex interfaces are Python base classes users subclass. Porting an Apex class:
``implements Queueable`` becomes ``class MyJob(Queueable)``, the
``execute(QueueableContext)`` method becomes ``execute(self, ctx)`` where ``ctx`` is the
:class:`Context` (SOQL, DML, callouts, ``enqueue_job``, ``debug``). Member variables
are plain attributes set in ``__init__``.

- :class:`Queueable`: ``execute(ctx)``; may enqueue one child from an async context.
- :class:`Batchable`: ``start(ctx)`` returns :func:`get_query_locator` (a SOQL query, its
  ids snapshotted at start) or any iterable; ``execute(ctx, scope)`` gets each chunk;
  ``finish(ctx)`` runs once at the end.
- :class:`Schedulable`: ``execute(ctx)`` at each fire of a cron expression.
- :class:`Stateful`: mix in for ``Database.Stateful``: without it a batch job's member
  variables are reset to their post-``start()`` values for every transaction, as Apex
  deserialises the job afresh; with it changes made in ``execute`` carry over.

The Apex class name shown in AsyncApexJob/ApexClass rows is ``apex_class_name``, by
default the Python class name.

The Context handed to ``execute()`` is what Apex code can do inside one transaction:

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
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from ..errors import SalesforceError, error_class
from .governor import Governor

if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Iterable

    from ..core import OrgCore

__all__ = ["Batchable", "Context", "Enqueued", "FaultHooks", "HttpResponse", "QueryLocator",
           "Queueable", "Runtime", "Schedulable", "Stateful", "get_query_locator"]


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


@dataclass(frozen=True)
class QueryLocator:
    """``Database.getQueryLocator(soql)``: the query whose ids a batch job snapshots."""

    soql: str
    binds: dict[str, Any] = field(default_factory=dict)


def get_query_locator(soql: str, **binds: Any) -> QueryLocator:
    """``Database.getQueryLocator``; ``binds`` fill ``:name`` variables."""
    return QueryLocator(soql, dict(binds))


class _ApexClass:
    apex_class_name: ClassVar[str | None] = None

    @classmethod
    def class_name(cls) -> str:
        """The Apex class name for AsyncApexJob rows."""
        return cls.apex_class_name or cls.__name__


class Queueable(_ApexClass):
    """``implements Queueable``: one async transaction per enqueue."""

    def execute(self, ctx: Context) -> None:
        """The job's work. Override."""
        raise NotImplementedError


class Batchable(_ApexClass):
    """``implements Database.Batchable<sObject>``."""

    def start(self, ctx: Context) -> QueryLocator | Iterable[Any]:
        """Return the records to process: a QueryLocator or an iterable. Override."""
        raise NotImplementedError

    def execute(self, ctx: Context, scope: list[Any]) -> None:
        """Process one chunk of at most ``scope`` records. Override."""
        raise NotImplementedError

    def finish(self, ctx: Context) -> None:
        """Runs once after the last chunk (optional)."""


class Schedulable(_ApexClass):
    """``implements Schedulable``: ``execute`` at each fire of its cron expression."""

    def execute(self, ctx: Context) -> None:
        """The scheduled work (often: start a batch or a queueable). Override."""
        raise NotImplementedError


class Stateful:
    """Marker for ``Database.Stateful``: keep member variables across batch transactions."""


class FaultHooks(Protocol):
    """The faults a transaction consults (:class:`~sforg_sim.apex.faults.FaultSchedule`)."""

    def before_dml(self, ctx: Context, sobject: str, op: str) -> None:
        """Raise a DML fault (UNABLE_TO_LOCK_ROW) when one fires."""

    def on_callout(self, ctx: Context, endpoint: str) -> HttpResponse | None:
        """A failed response instead of the callout, when a fault fires."""


class Runtime(Protocol):
    """What a transaction needs from the engine running it. The engine
    (:class:`~sforg_sim.apex.engine.AsyncEngine`) implements it; a Protocol, so that this
    module, which the engine imports, does not import the engine back."""

    @property
    def org(self) -> OrgCore:
        """The org the transaction runs in."""

    @property
    def log(self) -> deque[tuple[str, str | None, str]]:
        """``System.debug`` lines: (time stamp, job id, text)."""

    @property
    def faults(self) -> FaultHooks:
        """The faults the transaction consults."""

    def route_callout(self, method: str, endpoint: str, body: Any) -> HttpResponse:
        """Send a callout to the endpoint registered for it."""

    def check_depth(self, depth: int) -> None:
        """Raise when a Queueable chain would grow past the org's maximum depth."""

    def check_scope(self, scope: int) -> None:
        """Raise when a batch scope is out of range."""

    def reserve_job_id(self) -> str:
        """A fresh AsyncApexJob id."""

    def abort_job(self, job_id: str) -> bool:
        """``System.abortJob``; True when a job was aborted."""


@dataclass(frozen=True)
class Enqueued:
    """A job a transaction submitted (``System.enqueueJob`` / ``Database.executeBatch``);
    the engine starts it when the transaction commits and drops it when it rolls back."""

    kind: Literal["queueable", "batch"]
    job_id: str
    job: Queueable | Batchable
    scope: int = 0


class Context:
    """One transaction's view of the org. Created by the engine; do not build your own."""

    def __init__(self, engine: Runtime, governor: Governor, job_id: str | None,
                 *, is_async: bool) -> None:
        self.engine = engine
        self.org = engine.org
        self.governor = governor
        self.job_id = job_id
        self.is_async = is_async
        self.depth = 0  # Queueable chain depth of the running job
        self.enqueued: list[Enqueued] = []
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
        self.enqueued.append(Enqueued("queueable", job_id, job))
        return job_id

    def execute_batch(self, job: Batchable, scope: int = 200) -> str:
        """``Database.executeBatch(job, scope)``; flex queue rules apply at commit."""
        self.engine.check_scope(scope)
        job_id = self.engine.reserve_job_id()
        self.enqueued.append(Enqueued("batch", job_id, job, scope))
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
