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

- SOQL: :meth:`Context.query` (``[SELECT ...]``) and :meth:`Context.count_query`
  (``Database.countQuery``), counted against the governor (queries and rows) and the cost
  model. Not an API call: SOQL inside the org never is. Aggregate queries count the rows
  they aggregate, not the groups they return (see :meth:`Context.query`).
- DML: :meth:`insert`, :meth:`update`, :meth:`upsert`, :meth:`delete`. Like the Apex DML
  statements they are all-or-none by default and raise the first record error
  (``DmlException``); ``all_or_none=False`` is ``Database.update(records, false)`` and
  returns the SaveResults. Writes are rolled back if the transaction fails.
- Callouts: :meth:`callout` to an endpoint registered on the engine (the simulated Data
  Cloud source registers ``callout:DataCloud``). Returns an :class:`HttpResponse`; HTTP
  errors are statuses, not exceptions, as in Apex. Two platform rules raise a catchable
  ``System.CalloutException`` (Apex Developer Guide, "Callout Limits and Limitations",
  https://developer.salesforce.com/docs/atlas.en-us.210.0.apexcode.meta/apexcode/apex_callouts_timeouts.htm):
  a callout after pending work (DML, ``enqueue_job``, ``execute_batch``) in the same
  transaction, "You have uncommitted work pending. Please commit or rollback before
  calling out"; and a callout that waits longer than its timeout (default 10 s, at most
  120 s, and at most what is left of the transaction's 120 s of cumulative callout time),
  "Read timed out".
- Async: :meth:`enqueue_job` (``System.enqueueJob``), :meth:`execute_batch`
  (``Database.executeBatch``), :meth:`schedule` (``System.schedule``), :meth:`abort_job`
  (``System.abortJob``). Jobs enqueued and schedules made in a transaction that fails are
  discarded, as in Apex; a schedule's CronTrigger row is visible to the transaction that
  made it, and aborting a schedule deletes its row at once but stops it only at commit.
- :meth:`debug`: ``System.debug``, kept in the engine's log with the time and job id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from ..errors import CalloutException, SalesforceError, UsageError, error_class
from ..soql import ast as A
from ..soql.parser import parse as parse_soql
from .governor import Governor
from .rules import rule_of, rule_of_response

if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Iterable

    from ..core import OrgCore

__all__ = ["DEFAULT_TIMEOUT", "MAX_TIMEOUT", "MIN_TIMEOUT", "PENDING_MESSAGE", "Batchable",
           "Context", "Enqueued", "FaultHooks", "HttpResponse", "QueryLocator", "Queueable",
           "Runtime", "Schedulable", "Stateful", "get_query_locator"]

# "Callout Limits and Limitations" (Apex Developer Guide): "The default timeout is 10
# seconds ... The minimum is 1 millisecond and the maximum is 120,000 milliseconds."
DEFAULT_TIMEOUT = 10.0
"""Seconds a callout waits by default (``HttpRequest.setTimeout`` not called)."""
MIN_TIMEOUT = 0.001
MAX_TIMEOUT = 120.0
PENDING_MESSAGE = ("You have uncommitted work pending. Please commit or rollback before "
                   "calling out")
"""The platform's text for a callout after pending work (captured from real orgs; the
guide states the rule, not the text)."""


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

    def callout_latency(self, ctx: Context, endpoint: str) -> float | None:
        """Seconds this callout takes when a ``slow`` fault fires (None: the cost model's)."""


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

    def new_schedule(self, name: str, cron: str, job: Schedulable) -> Any:
        """Check and write a schedule's rows (``System.schedule``) without arming it; the
        returned schedule has an ``id`` (the CronTrigger id)."""

    def is_schedule(self, job_id: str) -> bool:
        """Whether ``job_id`` is a CronTrigger id."""

    def unschedule_rows(self, trigger_id: str) -> str:
        """Delete a schedule's rows; its 18-character id."""


@dataclass(frozen=True)
class Enqueued:
    """Async work a transaction asked for (``System.enqueueJob``,
    ``Database.executeBatch``, ``System.schedule``, ``System.abortJob`` on a schedule); the
    engine carries it out when the transaction commits and drops it when it rolls back.
    ``detail`` is the engine's schedule object for ``schedule``."""

    kind: Literal["queueable", "batch", "schedule", "unschedule"]
    job_id: str
    job: Queueable | Batchable | Schedulable | None
    scope: int = 0
    detail: Any = None


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
        self.trigger_id: str | None = None
        """The CronTrigger id when a schedule's fire runs this transaction
        (``SchedulableContext.getTriggerId()``); None otherwise."""
        self.enqueued: list[Enqueued] = []
        self.written: list[tuple[str, str, list[str]]] = []  # (sobject, op, ids)
        self.pending: str | None = None
        """What left uncommitted work in this transaction (``DML``, ``async Apex``): a
        callout after it raises CalloutException. None while there is none."""
        self.errors: list[str] = []
        """Rule keys (:mod:`.rules`) of every error this transaction met, caught or not,
        in order; the engine hands them to its ``error_listeners``."""
        self.noted: set[int] = set()  # ids of the exceptions already in ``errors``

    def note(self, err: SalesforceError) -> None:
        """Record an error the platform raised into the job's code (once per exception)."""
        if id(err) not in self.noted:
            self.noted.add(id(err))
            self.errors.append(rule_of(err))

    # --- SOQL ---------------------------------------------------------------------------

    def query(self, soql: str, **binds: Any) -> Any:
        """Run SOQL as Apex does (``[SELECT ...]``); a SOQL error raises (catchable).

        Rows come back as a list of dicts, except for ``SELECT COUNT() FROM ...``, which
        returns the count as an ``int``, as Apex does: "SOQL statements evaluate to a list
        of sObjects, a single sObject, or an Integer for count method queries", e.g.
        ``Integer i = [SELECT COUNT() FROM Contact WHERE LastName = 'Weissman'];``
        (*Apex Developer Guide*, "SOQL and SOSL Queries",
        https://developer.salesforce.com/docs/atlas.en-us.204.0.apexcode.meta/apexcode/langCon_apex_SOQL.htm;
        *SOQL and SOSL Reference*, "COUNT() and COUNT(fieldName)": "COUNT() returns the
        number of rows that match the filtering conditions").
        Returning ``[]`` (the records list of a count query) made a port's count silently
        zero (issue 18).

        Query rows (the 50,000 per transaction) are counted as the Apex Developer Guide,
        "Working with SOQL Aggregate Functions" (note on query rows,
        https://developer.salesforce.com/docs/atlas.en-us.242.0.apexcode.meta/pages/langCon_apex_SOQL_agg_fns.htm)
        states: "All aggregate functions other than COUNT() or COUNT(fieldname) include
        each row used by the aggregation as a query row ... For COUNT() or
        COUNT(fieldname) queries, limits are counted as one query row, unless the query
        contains a GROUP BY clause, in which case one query row per grouping is consumed."
        """
        try:
            counting = self.org.soql.plan(soql).kind == "count"
        except SalesforceError as e:
            self.note(e)
            self.governor.soql(0)
            raise
        if counting:  # one query, one query row, as count_query charges it
            return self.count_query(soql, **binds)
        try:
            rows: list[dict[str, Any]] = self.org.query_records(soql, **binds)
            used = self._rows_used(soql, binds, rows)
        except SalesforceError as e:
            self.note(e)
            self.governor.soql(0)
            raise
        self.governor.soql(used, len(rows))
        return rows

    def count_query(self, soql: str, **binds: Any) -> int:
        """``Database.countQuery`` (or ``Integer n = [SELECT COUNT() ...]``): one query,
        one query row, whatever it counts."""
        try:
            n = int(self.org.query(soql, **binds)["totalSize"])
        except SalesforceError as e:
            self.note(e)
            self.governor.soql(0)
            raise
        self.governor.soql(1 if self.org.soql.plan(soql).kind == "count" else n, 0)
        return n

    def _rows_used(self, soql: str, binds: Mapping[str, Any],
                   rows: list[dict[str, Any]]) -> int:
        """Query rows ``soql`` consumes (see :meth:`query`); plain queries: rows returned."""
        plan = self.org.soql.plan(soql)  # cached: the query just ran
        kind = plan.kind
        if kind == "count":
            return 1
        if kind != "agg":
            # Only a query with child subqueries has nested rows to count: walking every
            # row of every page for them cost V2 a tenth of its replay time.
            return len(rows) + (_child_rows(rows) if plan.extra.get("children") else 0)
        q = parse_soql(soql)
        if all(a.func == "COUNT" for a in _aggregates((q.select, q.having))):
            return len(rows)  # one per group, or the single row without GROUP BY
        # Every row the aggregation read: count the rows FROM ... WHERE (... GROUP BY ...
        # HAVING) selects, by the same query with COUNT(Id) as its only column.
        line, col = q.sobject_pos
        lines = q.text.split("\n")
        at = sum(len(x) + 1 for x in lines[:line - 1]) + col - 1
        counted = self.org.query_records(f"SELECT COUNT(Id) FROM {q.text[at:]}", **binds)
        return sum(int(r["expr0"]) for r in counted)

    # --- DML ----------------------------------------------------------------------------

    def _dml(self, op: str, sobject: str, records: Sequence[Any], all_or_none: bool,
             call: Any) -> list[dict[str, Any]]:
        self.governor.dml(len(records))
        # A DML statement leaves uncommitted work: no callout after it in this transaction
        # ("Callout Limits and Limitations": "Things that result in pending operations are
        # DML statements, asynchronous Apex ..., scheduled Apex, or sending email").
        self.pending = self.pending or "DML"
        try:
            if records:
                self.engine.faults.before_dml(self, sobject, op)
            results: list[dict[str, Any]] = call()
        except SalesforceError as e:
            self.note(e)
            raise
        ok = [r["id"] for r in results if r["success"]]
        if ok:
            self.written.append((sobject, op, ok))
        if all_or_none and len(ok) != len(results):
            rolled = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
            bad = next((i, r) for i, r in enumerate(results) if not r["success"]
                       and r["errors"][0]["statusCode"] != rolled)
            err = bad[1]["errors"][0]
            # The fields print as Java prints a list, ``[Name]`` / ``[LastName, Company]``
            # / ``[]``, not as Python does (``['Name']``): the platform's text is e.g.
            # "Insert failed. First exception on row 0; first error:
            # REQUIRED_FIELD_MISSING, Required fields are missing: [Name]: [Name]" (debug
            # logs quoted in public repositories; the guide shows no full example).
            exc = error_class(err["statusCode"])(
                f"{op.title()} failed. First exception on row {bad[0]}; first error: "
                f"{err['statusCode']}, {err['message']}: [{', '.join(err['fields'])}]",
                err["fields"])
            self.note(exc)
            raise exc
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

    def callout(self, method: str, endpoint: str, body: Any = None, *,
                timeout: float = DEFAULT_TIMEOUT) -> HttpResponse:
        """``new Http().send(req)`` to a registered endpoint (``callout:Name/path``).

        ``timeout`` is ``req.setTimeout(ms)`` in seconds (1 ms to 120 s; outside that
        range it is the port's mistake: UsageError). Raises a catchable
        ``CalloutException`` for pending work or a timeout (module docstring). The
        callout's wait (the cost model's ``callout``, or ``slow_callout`` when the
        ``slow`` fault fires) adds to the duration and to the transaction's cumulative
        callout time, never to CPU. A timed-out request did reach the endpoint (it is
        counted there, and charged); only its response is lost.
        """
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
                MIN_TIMEOUT <= timeout <= MAX_TIMEOUT):
            raise UsageError(f"callout timeout must be between {MIN_TIMEOUT} and "
                             f"{MAX_TIMEOUT} seconds (HttpRequest.setTimeout: 1 to 120,000 "
                             f"ms), got {timeout!r}")
        if self.pending is not None:
            err = CalloutException(PENDING_MESSAGE)
            self.note(err)
            raise err
        gov = self.governor
        gov.callout()
        faults = self.engine.faults
        fault = faults.on_callout(self, endpoint)
        if fault is not None:
            gov.wait(min(gov.costs.callout, timeout))
            self.errors.append(rule_of_response(fault.status_code, fault.body))
            return fault
        latency = faults.callout_latency(self, endpoint)
        if latency is None:
            latency = gov.costs.callout
        # The wait is capped by the callout's own timeout and by what is left of the
        # transaction's 120 s: "This time is additive across all callouts".
        allowed = min(float(timeout), gov.callout_budget())
        res = self.engine.route_callout(method, endpoint, body)
        if latency > allowed:
            gov.wait(allowed)
            err = CalloutException("Read timed out")
            self.note(err)
            raise err
        gov.wait(latency)
        if res.status_code >= 400:
            self.errors.append(rule_of_response(res.status_code, res.body))
        return res

    # --- async ----------------------------------------------------------------------------

    def enqueue_job(self, job: Queueable) -> str:
        """``System.enqueueJob``: the child starts after this transaction commits.
        Asynchronous Apex is pending work: no callout may follow in this transaction."""
        self.governor.queueable()
        if self.is_async:
            try:
                self.engine.check_depth(self.depth + 1)
            except SalesforceError as e:
                self.note(e)
                raise
        job_id = self.engine.reserve_job_id()
        self.enqueued.append(Enqueued("queueable", job_id, job))
        self.pending = self.pending or "async Apex"
        return job_id

    def execute_batch(self, job: Batchable, scope: int = 200) -> str:
        """``Database.executeBatch(job, scope)``; flex queue rules apply at commit.
        A batch job is pending work: no callout may follow in this transaction."""
        try:
            self.engine.check_scope(scope)
        except SalesforceError as e:
            self.note(e)
            raise
        job_id = self.engine.reserve_job_id()
        self.enqueued.append(Enqueued("batch", job_id, job, scope))
        self.pending = self.pending or "async Apex"
        return job_id

    def schedule(self, name: str, cron: str, job: Schedulable) -> str:
        """``System.schedule(name, cron, job)``: the CronTrigger id. The rows are written
        now (this transaction can query them); the schedule starts when the transaction
        commits, and a transaction that fails leaves neither. Scheduled Apex is pending
        work ("Callout Limits and Limitations"): no callout may follow."""
        try:
            trigger = self.engine.new_schedule(name, cron, job)
        except SalesforceError as e:
            self.note(e)
            raise
        self.enqueued.append(Enqueued("schedule", trigger.id, job, detail=trigger))
        self.pending = self.pending or "async Apex"
        return str(trigger.id)

    def abort_job(self, job_id: str) -> None:
        """``System.abortJob``: a job is aborted at once; a schedule (CronTrigger id) has
        its rows deleted now and stops firing when this transaction commits."""
        if self.engine.is_schedule(job_id):
            tid = self.engine.unschedule_rows(job_id)
            self.enqueued.append(Enqueued("unschedule", tid, None))
            return
        self.engine.abort_job(job_id)

    # --- misc -----------------------------------------------------------------------------

    def debug(self, message: Any) -> None:
        """``System.debug``: appended to ``engine.log`` as (time, job id, text)."""
        self.engine.log.append((self.org.clock.stamp(), self.job_id, str(message)))

    def now(self) -> float:
        """Simulated time (epoch seconds) at which this transaction runs."""
        return self.org.clock.time()


def _aggregates(node: Any) -> Iterator[A.Agg]:
    """Every aggregate call in a parsed query part (SELECT items, HAVING conditions)."""
    if isinstance(node, A.Agg):
        yield node
    elif isinstance(node, (tuple, list)):
        for item in node:
            yield from _aggregates(item)
    elif is_dataclass(node) and not isinstance(node, type):
        for f in fields(node):
            yield from _aggregates(getattr(node, f.name))


def _child_rows(rows: list[dict[str, Any]]) -> int:
    """Rows of the parent-to-child subqueries nested in ``rows`` (every level): "In a SOQL
    query with parent-child relationship subqueries ... The row counts from these
    relationship queries contribute to the row counts of the overall code execution"
    (Apex Developer Guide, "Execution Governors and Limits", footnote on SOQL queries,
    https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_gov_limits.htm).
    The same footnote counts each subquery as an extra "aggregate" query (300 per
    transaction); that counter is not modelled."""
    n = 0
    todo = [r for r in rows if isinstance(r, dict)]
    while todo:
        r = todo.pop()
        for v in r.values():
            if isinstance(v, dict) and isinstance(v.get("records"), list):
                n += len(v["records"])
                todo.extend(x for x in v["records"] if isinstance(x, dict))
    return n
