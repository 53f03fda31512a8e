"""The Apex standard library subset: static classes (System, Database, Limits, String,
Math, JSON, ...) and instance methods of built-in types, each as Apex defines it.

Each table maps a lower-case method name to ``(function, return type)``; the compiler
uses the return type for checking and dispatch (``T``, ``K``, ``V`` stand for the
receiver's type arguments). Sources: the Apex Reference Guide pages of each class
(https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/ : *String Class*,
*List Class*, *Set Class*, *Map Class*, *Limits Class*, *Database Class*, *System Class*,
*OrgLimits Class*, *JSON Class*, *HttpRequest Class*, *Math Class*); the governor counters
come from the engine's :class:`~sforg_sim.apex.governor.Governor`.

Not modelled (a call is a compile error naming it): ``Limits.getHeapSize`` (heap is not
modelled), ``Math.random`` (no wall-clock randomness in a simulator), ``System.runAs``,
``Database.undelete``, ``Database.merge``, SOSL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
from collections.abc import Callable, Sequence
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from typing import Any

from ..apex.context import QueryLocator as EngineLocator
from ..apex.governor import LimitBreach
from ..errors import SalesforceError
from ..sosl import search as sosl_search
from .jsontyped import ApexType, JSONGenerator, JSONParser, deserialize, for_name, serialize
from .runtime import (
    current,
    from_json,
    future_limit,
    list_get,
    load_json,
    new_map,
    runtime_type,
)
from .soqltext import split_soql
from .values import (
    ApexException,
    ApexMap,
    ApexObject,
    ApexSet,
    EnumValue,
    SObject,
    apex_str,
    exception_class,
    npe,
)

__all__ = ["INSTANCE", "STATIC", "BuiltinObject", "dml", "run_soql", "to_sobject"]

Sig = tuple[Callable[..., Any], str]


# --- sObjects from query rows ---------------------------------------------------------------

def _value(v: Any, ftype: str | None) -> Any:
    if v is None:
        return None
    if ftype in ("currency", "double", "percent") and isinstance(v, (int, float)):
        return Decimal(repr(float(v))) if isinstance(v, float) else Decimal(v)
    if ftype == "date" and isinstance(v, str):
        return dt.date.fromisoformat(v[:10])
    if ftype == "datetime" and isinstance(v, str):
        return dt.datetime.strptime(v[:19], "%Y-%m-%dT%H:%M:%S")
    return v


def to_sobject(row: dict[str, Any]) -> SObject:
    """A SOQL row (REST shape) as an sObject; nested relationship rows too."""
    stype = row.get("attributes", {}).get("type", "SObject")
    ex = getattr(current_schema, "schema", None)
    obj = None
    if ex is not None and stype in ex:
        obj = ex.get(stype)
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    keys: set[str] | None = None
    for k, v in row.items():
        if k == "attributes":
            continue
        low = k.lower()
        if obj is not None and (v is None or (isinstance(v, dict) and "attributes" in v)):
            rel = obj.relationship(k) if obj.get(k) is None else None
            if rel is not None:
                # A parent's fields (``Account.Name``) bring the foreign key with them,
                # at the relationship's place: the platform's debug output of
                # ``[SELECT LastName, Account.Name, Email FROM Contact]`` is
                # ``Contact:{LastName=Drummer, AccountId=001..., Id=003...}`` (David
                # Reed, "The Dangers of Anonymous Apex and the Developer Console", 2022,
                # github.com/davidmreed/ktema-org-zola,
                # content/articles/2022-02-19-dangers-anonymous-apex.md).
                if keys is None:
                    keys = {key.lower() for key in row}
                if rel.name.lower() not in keys:
                    parent_id = None
                    if isinstance(v, dict):
                        url = v.get("attributes", {}).get("url")
                        parent_id = v.get("Id") or (url.rsplit("/", 1)[1]
                                                    if isinstance(url, str) else None)
                    values[rel.name.lower()] = parent_id
                    names[rel.name.lower()] = rel.name
        names[low] = k
        if isinstance(v, dict) and "attributes" in v:
            values[low] = to_sobject(v)
        elif isinstance(v, dict) and "records" in v:
            # A parent-to-child subquery's rows (REST: a nested query result): in Apex a
            # List of the child sObjects (``acc.Contacts``).
            values[low] = [to_sobject(r) for r in v["records"]]
        else:
            f = obj.get(k) if obj is not None else None
            if v is None and f is None and obj is not None and ex is not None \
                    and obj.relationship(k) is None \
                    and ex.child_relationship(obj, k) is not None:
                # REST gives null for a parent without children; Apex code iterates
                # ``for (Contact c : acc.Contacts)`` without a null check: an empty
                # List (observed behaviour; the Apex Developer Guide does not say).
                values[low] = []
                continue
            values[low] = _value(v, f.type if f is not None else None)
    url = row.get("attributes", {}).get("url")
    if "id" not in values and isinstance(url, str):
        # In Apex a queried record always has its Id, selected or not ("Apex Developer
        # Guide", *Working with SOQL and SOSL Query Results*: "If you try to access a
        # field that was not selected in the SOQL or SOSL query (other than ID), you
        # receive a runtime error",
        # https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/langCon_apex_SOQL_working_with_results.htm).
        # The REST row carries it in its attributes' url; printed after the selected
        # fields. (REST and SOSL output keep only what was selected.)
        values["id"], names["id"] = url.rsplit("/", 1)[1], "Id"
    return SObject(stype, values, names)


class _SchemaHolder:
    schema: Any = None


current_schema = _SchemaHolder()


# --- SOQL ------------------------------------------------------------------------------------

_COUNT = re.compile(r"^\s*select\s+count\(\s*\)\s+from\b", re.IGNORECASE)


def _bind(v: Any) -> Any:
    if isinstance(v, SObject):
        return v.v.get("id")
    if isinstance(v, ApexSet):
        return [_bind(x) for x in v]
    if isinstance(v, list):
        return [_bind(x) for x in v]
    if isinstance(v, Decimal):
        return float(v)
    return v


def run_soql(soql: str, binds: dict[str, Any], all_rows: bool = False) -> Any:
    """Run inline SOQL in the current transaction: a list of sObjects, or an Integer for
    ``SELECT COUNT()``. Counted against the governor (queries and rows)."""
    ex = current()
    ctx = ex.ctx
    current_schema.schema = ctx.org.schema
    b = {k: _bind(v) for k, v in binds.items()}
    try:
        # The query is the database's time, not Apex CPU time (runtime's CPU meter).
        with ex.outside():
            if _COUNT.match(soql):
                total = int(ctx.org.query(soql, include_deleted=all_rows, **b)["totalSize"])
                ctx.governor.soql(1)
                return total
            if all_rows:
                rows = ctx.org.query_records(soql, include_deleted=True, **b)
                ctx.governor.soql(len(rows))
            else:
                rows = ctx.query(soql, **b)
    except LimitBreach:
        raise
    except SalesforceError as e:
        if isinstance(e, ApexException):
            raise
        raise exception_class("QueryException")(e.message) from None
    return [to_sobject(r) for r in rows]


def run_sosl(sosl: str, binds: dict[str, Any]) -> list[list[SObject]]:
    """Run a SOSL statement in the current transaction: one list of sObjects per
    RETURNING object (``List<List<SObject>>``: "SOSL statements evaluate to a list of
    lists of sObjects, where each list contains the search results for a particular
    sObject type", Apex Developer Guide, "SOQL and SOSL Queries",
    https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/langCon_apex_SOQL.htm).

    The search runs on the org's SOSL engine (:func:`sforg_sim.sosl.search` with
    ``apex=True``: ``FIND 'x'`` and ``FIND :term`` forms, binds in FIND, LIMIT, OFFSET
    and WHERE); the SOQL it runs for each RETURNING object goes to the SOQL engine
    directly, so it is not counted as the transaction's SOQL queries or rows. Each
    statement counts once toward the 20 SOSL queries per transaction
    (:meth:`Governor.sosl`; the 21st is the uncatchable ``System.LimitException: Too many
    SOSL queries: 21``). A search error (MALFORMED_SEARCH and the like) is a catchable
    ``System.SearchException``, the exception the Apex Reference lists for search
    errors ("Exception Class and Built-In Exceptions": "SearchException: Any problem
    with SOSL queries executed with SOAP API search() call, for example, when the
    searchString parameter contains less than two characters").
    """
    ex = current()
    ctx = ex.ctx
    current_schema.schema = ctx.org.schema
    b = {k: _bind(v) for k, v in binds.items()}
    try:
        with ex.outside():  # the database's time, not Apex CPU time
            with ctx.org.lock:
                lists = sosl_search(ctx.org.soql, ctx.org.schema, sosl, b, apex=True)
            ctx.governor.sosl(sum(len(rows) for rows in lists))
    except LimitBreach:
        raise
    except SalesforceError as e:
        if isinstance(e, ApexException):
            raise
        ctx.note(e)
        ctx.governor.sosl(0)
        raise exception_class("SearchException")(e.message) from None
    return [[to_sobject(r) for r in rows] for rows in lists]


def _search_query(sosl: Any) -> list[list[SObject]]:
    """``Search.query(query)``: a dynamic SOSL statement, ``List<List<sObject>>`` (Apex
    Reference Guide, "Search Class", query(query),
    https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_class_System_Search.htm).
    Bind variables in the string are refused by name, as in ``Database.query``."""
    text, binds, _ = split_soql(_s(sosl), search=True)
    if binds:
        raise exception_class("SearchException")(
            "Not supported by sforg-sim: bind variables in Search.query")
    return run_sosl(text, {})


def single_row(rows: Any) -> Any:
    """Assigning a query to one sObject: exactly one row, or QueryException."""
    if isinstance(rows, int):
        return rows
    if len(rows) == 1:
        return rows[0]
    if not rows:
        raise exception_class("QueryException")("List has no rows for assignment to SObject")
    raise exception_class("QueryException")("List has more than 1 row for assignment to SObject")


# --- DML -------------------------------------------------------------------------------------

class BuiltinObject(ApexObject):
    """A built-in Apex object; its Apex methods are lower-case Python methods."""


class SaveResult(BuiltinObject):
    """``Database.SaveResult``: what ``Database.insert``/``update`` return per record.

    Its methods are ``getErrors``, ``getId`` and ``isSuccess`` (Apex Reference Guide,
    "SaveResult Class",
    https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_database_saveresult.htm).
    ``UpsertResult`` and ``DeleteResult`` are their own types (below): a
    ``List<Database.SaveResult>`` does not take what ``Database.upsert`` returns.
    """

    apex_type = "Database.SaveResult"

    def __init__(self, result: dict[str, Any]) -> None:
        self.r = result

    def issuccess(self) -> bool:
        """``isSuccess()``."""
        return bool(self.r.get("success"))

    def getid(self) -> str | None:
        """``getId()``."""
        return self.r.get("id")

    def geterrors(self) -> list[DatabaseError]:
        """``getErrors()``."""
        return [DatabaseError(e) for e in self.r.get("errors") or []]


class UpsertResult(SaveResult):
    """``Database.UpsertResult``: a SaveResult plus ``isCreated()`` (true when the upsert
    inserted the record; Apex Reference Guide, "UpsertResult Class",
    https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_database_upsertresult.htm)."""

    apex_type = "Database.UpsertResult"

    def iscreated(self) -> bool:
        """``isCreated()``."""
        return bool(self.r.get("created"))


class DeleteResult(SaveResult):
    """``Database.DeleteResult``: ``getErrors``, ``getId`` (the deleted record's id) and
    ``isSuccess`` (Apex Reference Guide, "DeleteResult Class",
    https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_database_deleteresult.htm)."""

    apex_type = "Database.DeleteResult"


class UndeleteResult(SaveResult):
    """``Database.UndeleteResult``: ``getErrors``, ``getId`` and ``isSuccess`` (Apex
    Reference Guide, "UndeleteResult Class",
    https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_database_undeleteresult.htm)."""

    apex_type = "Database.UndeleteResult"


class MergeResult(SaveResult):
    """``Database.MergeResult``: ``getErrors``, ``getId`` (the master record's id),
    ``getMergedRecordIds``, ``getUpdatedRelatedIds`` (the reparented child records) and
    ``isSuccess`` (Apex Reference Guide, "MergeResult Class",
    https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_database_mergeresult.htm)."""

    apex_type = "Database.MergeResult"

    def getmergedrecordids(self) -> list[str]:
        """``getMergedRecordIds()``."""
        return list(self.r.get("mergedRecordIds") or [])

    def getupdatedrelatedids(self) -> list[str]:
        """``getUpdatedRelatedIds()``."""
        return list(self.r.get("updatedRelatedIds") or [])


class DatabaseError(BuiltinObject):
    """``Database.Error``."""

    apex_type = "Database.Error"

    def __init__(self, err: dict[str, Any]) -> None:
        self.e = err

    def getstatuscode(self) -> str:
        """``getStatusCode()`` (a StatusCode enum value; its name here)."""
        return str(self.e.get("statusCode"))

    def getmessage(self) -> str:
        """``getMessage()``."""
        return str(self.e.get("message"))

    def getfields(self) -> list[str]:
        """``getFields()``."""
        return list(self.e.get("fields") or [])


def _records(value: Any) -> list[SObject]:
    if value is None:
        raise npe()
    recs = [value] if isinstance(value, SObject) else list(value)
    for r in recs:
        if not isinstance(r, SObject):
            raise exception_class("TypeException")("DML requires SObject or SObject list type")
    return recs


def dml(op: str, value: Any, all_or_none: bool = True, external_id: str | None = None,
        as_results: bool = False) -> Any:
    """``insert/update/upsert/delete x`` (all or none, DmlException on the first failure:
    ``Update failed. First exception on row 0 with id ...; first error: CODE, message``)
    and ``Database.insert/update/upsert/delete(x, allOrNone)`` returning results."""
    ex = current()
    ctx = ex.ctx
    recs = _records(value)
    if not recs:
        return [] if as_results else None
    types = {r.type for r in recs}
    if len(types) > 1:
        raise exception_class("UnexpectedException")(
            "Not supported by sforg-sim: DML on a list of more than one sObject type")
    stype = recs[0].type
    try:
        with ex.outside():
            res = _dml_call(ctx, op, stype, recs, all_or_none, external_id)
    except LimitBreach:
        raise
    except SalesforceError as e:
        raise _dml_exception(op, recs, e) from None
    for r, result in zip(recs, res):
        if result.get("success"):
            if op in ("insert", "upsert") and result.get("id"):
                r.set("id", "Id", result["id"])
            r.dirty.clear()
    if as_results:
        kind = {"upsert": UpsertResult, "delete": DeleteResult,
                "undelete": UndeleteResult}.get(op, SaveResult)
        return [kind(r) for r in res]
    return None


def merge(master: Any, duplicates: Any, all_or_none: bool = True,
          as_results: bool = False) -> Any:
    """``merge master duplicates;`` and ``Database.merge(master, duplicates[, allOrNone])``.

    "You can merge up to three records of the same sObject type. The merge operation
    merges up to three records into one of the records, deletes the others, and reparents
    any related records" (Apex Developer Guide, "Merging Records",
    https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/langCon_apex_dml_examples_merge.htm);
    the rules and errors are ``Dml.merge``'s (dml.py). ``duplicates`` is one sObject or
    Id, or a list of up to two. The master's field values are saved with it (its dirty
    fields, as an update). One DML statement toward the governor's 150, its rows the
    master and the merged records. The statement throws ``DmlException: Merge failed.
    First exception on row 0 with id ...; first error: CODE, message``;
    ``Database.merge`` returns a ``Database.MergeResult`` for one duplicate and a list
    holding the one MergeResult of the request for a list of duplicates (with
    ``allOrNone`` false, errors come back in it instead of being thrown).
    """
    ex = current()
    ctx = ex.ctx
    if master is None or duplicates is None:
        raise npe()
    if not isinstance(master, SObject):
        raise exception_class("TypeException")("DML requires SObject or SObject list type")
    single = not isinstance(duplicates, (list, ApexSet))
    dups = [duplicates] if single else list(duplicates)
    if not 1 <= len(dups) <= 2:
        # "Up to three records can be merged in a single request, including the master
        # record" (SOAP API Developer Guide, "merge()"); the wording is sforg-sim's.
        raise exception_class("DmlException")(
            f"Merge failed: a merge takes one or two records to merge into the master "
            f"(up to three records in all), got {len(dups)}")
    ids: list[str] = []
    for d in dups:
        if isinstance(d, SObject):
            ids.append(str(d.v.get("id") or ""))
        elif isinstance(d, str):
            ids.append(d)
        else:
            raise exception_class("TypeException")("DML requires SObject or SObject list type")
    values = master.values_for_dml(True)
    stype = master.type

    def call() -> list[dict[str, Any]]:
        with ctx.org.lock:
            return [ctx.org.dml.merge(stype, values, ids)]
    try:
        with ex.outside():
            # Its rows: the master and the merged records.
            res = _context_dml(ctx, "merge", stype, [values, *ids], all_or_none, call)
    except LimitBreach:
        raise
    except SalesforceError as e:
        raise _dml_exception("merge", [master], e) from None
    if res and res[0].get("success"):
        master.dirty.clear()
    if as_results:
        out = [MergeResult(r) for r in res]
        return out[0] if single else out
    return None


def _dml_call(ctx: Any, op: str, stype: str, recs: list[SObject], all_or_none: bool,
              external_id: str | None) -> Any:
    """The DML operation on the engine's Context: the database's time, which the runtime's
    CPU meter does not count as Apex CPU time (its caller runs it ``outside``)."""
    if op == "insert":
        return ctx.insert(stype, [r.values_for_dml(False) for r in recs],
                          all_or_none=all_or_none)
    if op == "update":
        return ctx.update(stype, [r.values_for_dml(True) for r in recs],
                          all_or_none=all_or_none)
    if op == "upsert":
        return ctx.upsert(stype, external_id or "Id", [r.values_for_dml(False) for r in recs],
                          all_or_none=all_or_none)
    if op == "undelete":
        ids = [r.v.get("id") for r in recs]

        def undelete() -> list[dict[str, Any]]:
            with ctx.org.lock:
                return list(ctx.org.dml.undelete(stype, ids, all_or_none=all_or_none))
        return _context_dml(ctx, "undelete", stype, ids, all_or_none, undelete)
    return ctx.delete(stype, [r.v.get("id") for r in recs], all_or_none=all_or_none)


def _context_dml(ctx: Any, op: str, stype: str, rows: list[Any], all_or_none: bool,
                 call: Callable[[], list[dict[str, Any]]]) -> Any:
    """Run a DML operation the engine's Context has no method for (undelete, merge)
    through its generic DML path (``Context._dml``): one DML statement toward the
    governor (``len(rows)`` rows), the pending-work mark (no callout after it), the
    fault hooks, the written-records listeners and, with ``all_or_none``, the
    ``<Op> failed. First exception on row N; first error: ...`` error, exactly as for
    insert/update/delete."""
    return ctx._dml(op, stype, rows, all_or_none, call)


def _dml_exception(op: str, recs: list[SObject], e: SalesforceError) -> ApexException:
    m = re.match(r".*? failed\. First exception on row (\d+); first error: (.*)$", e.message,
                 re.DOTALL)
    if m is None:
        x = exception_class("DmlException")(e.message)
    else:
        row = int(m.group(1))
        rid = recs[row].v.get("id") if row < len(recs) else None
        with_id = f" with id {rid}" if rid else ""
        x = exception_class("DmlException")(
            f"{op.title()} failed. First exception on row {row}{with_id}; first error: "
            f"{m.group(2)}")
    x.cause = e
    return x


# --- System, Limits, OrgLimits, UserInfo, Test ---------------------------------------------

def system_debug(line: int, *args: Any) -> None:
    """``System.debug([LoggingLevel level,] msg)``."""
    level = "DEBUG"
    if len(args) == 2:
        level = str(args[0].name if isinstance(args[0], EnumValue) else args[0]).upper()
        msg = args[1]
    else:
        msg = args[0]
    current().log(line, level, apex_str(msg))


LOGGING_LEVELS = {n.lower(): EnumValue("LoggingLevel", n, i) for i, n in enumerate(
    ("NONE", "ERROR", "WARN", "INFO", "DEBUG", "FINE", "FINER", "FINEST"))}


def enqueue_job(job: Any) -> str:
    """``System.enqueueJob(queueable)``: the job id."""
    if job is None:
        raise npe()
    return str(current().ctx.enqueue_job(job))


def execute_batch(job: Any, scope: int = 200) -> str:
    """``Database.executeBatch(batchable[, scope])``."""
    if job is None:
        raise npe()
    try:
        return str(current().ctx.execute_batch(job, scope))
    except LimitBreach:
        raise
    except SalesforceError as e:
        if isinstance(e, ApexException):
            raise
        raise exception_class("AsyncException")(e.message) from None


def schedule(name: str, cron: str, job: Any) -> str:
    """``System.schedule(name, cron, schedulable)``: the CronTrigger id. Its CronTrigger
    and CronJobDetail rows are written in this transaction and the schedule starts when
    it commits (:meth:`sforg_sim.apex.Context.schedule`); a duplicate name or a 101st
    schedule raise ``System.AsyncException`` with the platform's text."""
    try:
        return str(current().ctx.schedule(name, cron, job))
    except ValueError as e:
        raise exception_class("StringException")(str(e)) from None


def abort_job(job_id: str) -> None:
    """``System.abortJob(id)``."""
    try:
        current().ctx.abort_job(job_id)
    except LimitBreach:
        raise
    except SalesforceError as e:
        if isinstance(e, ApexException):
            raise
        raise exception_class("StringException")(
            f"Invalid id: {job_id}" if e.error_code == "NOT_FOUND" else e.message) from None


def now() -> dt.datetime:
    """``System.now()`` / ``Datetime.now()``: the simulated clock (UTC)."""
    return dt.datetime.fromtimestamp(current().ctx.now() + current().ctx.governor.elapsed,
                                     dt.timezone.utc).replace(tzinfo=None)


def today() -> dt.date:
    """``System.today()`` / ``Date.today()``."""
    return now().date()


def _gov() -> Any:
    return current().ctx.governor


def _cpu_time_ms() -> int:
    """``Limits.getCpuTime()``: the CPU time used so far, in milliseconds, the meter
    charged up to this call first (runtime's module docstring)."""
    ex = current()
    ex.charge_cpu()
    return int(ex.ctx.governor.cpu_seconds * 1000)


def _limit(counter: str) -> Callable[[], int]:
    def get() -> int:
        return int(getattr(_gov(), counter))
    return get


def _limit_max(counter: str) -> Callable[[], int]:
    def get() -> int:
        return int(getattr(_gov().limits, counter))
    return get


class OrgLimit(BuiltinObject):
    """``System.OrgLimit``: name, limit and value (used) of one org limit."""

    apex_type = "System.OrgLimit"

    def __init__(self, name: str, limit: int, remaining: int) -> None:
        self.name, self.limit, self.remaining = name, limit, remaining

    def getname(self) -> str:
        """``getName()``."""
        return self.name

    def getlimit(self) -> int:
        """``getLimit()``: the maximum."""
        return self.limit

    def getvalue(self) -> int:
        """``getValue()``: the amount used (Max - Remaining of the /limits body)."""
        return self.limit - self.remaining


def org_limits_map() -> ApexMap:
    """``OrgLimits.getMap()``: name -> OrgLimit, from the org's /limits body."""
    body = current().ctx.org.limits()
    return new_map((k, OrgLimit(k, int(v.get("Max", 0)), int(v.get("Remaining", 0))))
                   for k, v in body.items())


# --- Http ----------------------------------------------------------------------------------

class HttpRequest(BuiltinObject):
    """``HttpRequest``."""

    apex_type = "HttpRequest"

    def __init__(self) -> None:
        self.endpoint: str | None = None
        self.method = "GET"
        self.body: str | None = None
        self.headers: dict[str, str] = {}
        self.timeout = 10_000

    def setendpoint(self, v: str) -> None:
        """``setEndpoint``."""
        self.endpoint = v

    def getendpoint(self) -> str | None:
        """``getEndpoint``."""
        return self.endpoint

    def setmethod(self, v: str) -> None:
        """``setMethod``."""
        self.method = v

    def getmethod(self) -> str:
        """``getMethod``."""
        return self.method

    def setbody(self, v: str) -> None:
        """``setBody``."""
        self.body = v

    def getbody(self) -> str | None:
        """``getBody``."""
        return self.body

    def setheader(self, k: str, v: str) -> None:
        """``setHeader``."""
        self.headers[k] = v

    def getheader(self, k: str) -> str | None:
        """``getHeader``."""
        return self.headers.get(k)

    def settimeout(self, ms: int) -> None:
        """``setTimeout`` (1..120,000 ms; the simulated callout cost does not use it)."""
        if ms is None or not 1 <= ms <= 120_000:
            raise exception_class("CalloutException")(
                "Timeout value must be between 1 and 120000 milliseconds")
        self.timeout = ms


class HttpResponse(BuiltinObject):
    """``HttpResponse``."""

    apex_type = "HttpResponse"

    def __init__(self, status: int = 200, body: str = "", headers: dict[str, str] | None = None
                 ) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    def getstatuscode(self) -> int:
        """``getStatusCode``."""
        return self.status

    def getstatus(self) -> str:
        """``getStatus``: the reason phrase."""
        return {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized",
                403: "Forbidden", 404: "Not Found", 500: "Server Error"}.get(self.status, "")

    def getbody(self) -> str:
        """``getBody``."""
        return self.body

    def getheader(self, k: str) -> str | None:
        """``getHeader``."""
        return self.headers.get(k)

    def setstatuscode(self, v: int) -> None:
        """``setStatusCode`` (mocks)."""
        self.status = v

    def setbody(self, v: str) -> None:
        """``setBody`` (mocks)."""
        self.body = v


class Http(BuiltinObject):
    """``Http``: ``send(req)`` goes to the endpoint registered on the org's engine
    (``callout:DataCloud/...``). An endpoint no handler serves raises CalloutException,
    as an unauthorised endpoint does on the platform (message wording unconfirmed)."""

    apex_type = "Http"

    def send(self, req: HttpRequest) -> HttpResponse:
        """``send(request)``."""
        if req is None:
            raise npe()
        if not req.endpoint:
            raise exception_class("CalloutException")("Endpoint URL is not set")
        body: Any = req.body
        if isinstance(body, str):
            # Not JSON, or nested too deeply for Python's parser: the handler gets the text.
            with contextlib.suppress(ValueError, RecursionError):
                body = json.loads(body)
        ex = current()
        ctx = ex.ctx
        if ex.callout_block is not None:
            # "The default is (callout=false), which prevents a method from making
            # callouts" ("Future Methods"); the exception's wording is sforg-sim's.
            raise exception_class("CalloutException")(
                "Callout not allowed from this future method. Please enable callout=true")
        engine = ctx.engine
        if not any(req.endpoint.startswith(p) for p in getattr(engine, "endpoints", {})):
            raise exception_class("CalloutException")(
                "Unauthorized endpoint, please check Setup->Security->Remote site settings. "
                f"endpoint = {req.endpoint}")
        with ex.outside():  # the wait on the network is not Apex CPU time
            res = ctx.callout(req.method, req.endpoint, body)
        text = res.get_body()
        return HttpResponse(res.status_code, text, res.headers)


# --- JSON ----------------------------------------------------------------------------------

def _scale(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def json_serialize(v: Any, pretty: bool = False) -> str:
    """``JSON.serialize`` (compact) / ``serializePretty`` (2-space indent): see
    :func:`.jsontyped.serialize`."""
    return serialize(v, False, pretty)


def _id_value_of(v: Any) -> str:
    if v is None:
        raise npe()
    from .. import ids

    text = str(v)
    if not (len(text) in (15, 18) and ids.valid_id(text)):
        raise exception_class("StringException")(f"Invalid id: {text}")
    return text


def json_deserialize_untyped(text: str) -> Any:
    """``JSON.deserializeUntyped``: Maps, Lists, Strings, Integers/Longs, Decimals."""
    if text is None:
        raise npe()
    # Only the parser limits the nesting (a catchable JSONException past it, as
    # JSON.createParser gives); the conversion itself has no depth limit (from_json).
    return from_json(load_json(text))


# --- String --------------------------------------------------------------------------------

def _s(v: Any) -> str:
    if v is None:
        raise npe()
    return str(v)


def s_substring(s: str, a: int, b: int | None = None) -> str:
    """``substring(start[, end])``: StringException outside the string."""
    s = _s(s)
    end = len(s) if b is None else b
    if a < 0 or end > len(s) or a > end:
        raise exception_class("StringException")(f"Ending position out of bounds: {end}"
                                                 if end > len(s) else
                                                 f"Starting position out of bounds: {a}")
    return s[a:end]


def s_split(s: str, regex: str, limit: int | None = None) -> list[str]:
    """``split(regex[, limit])``: Java semantics (trailing empty strings removed)."""
    parts = re.split(regex, _s(s), maxsplit=0 if not limit or limit < 0 else limit - 1)
    if not limit:
        while parts and parts[-1] == "":
            parts.pop()
    return parts


def s_format(fmt: str, args: Sequence[Any]) -> str:
    """``String.format('{0} to {1}', args)``: each ``{n}`` becomes ``String.valueOf`` of
    argument n (Java MessageFormat's number grouping is not applied: an assumption)."""
    def sub(m: re.Match[str]) -> str:
        i = int(m.group(1))
        return apex_str(args[i]) if i < len(args) else m.group(0)
    return re.sub(r"\{(\d+)\}", sub, _s(fmt).replace("''", "'"))


def s_value_of(v: Any) -> str:
    """``String.valueOf(x)`` (null gives 'null')."""
    return apex_str(v)


def _between(s: str, open_: str, close: str) -> str | None:
    """``substringBetween(open[, close])``: the text between the first ``open`` and the
    next ``close``; null when either is missing."""
    i = s.find(open_)
    if i < 0:
        return None
    j = s.find(close, i + len(open_))
    return None if j < 0 else s[i + len(open_):j]


def _pad(s: str, n: int, pad: str, left: bool) -> str:
    s = _s(s)
    if n <= len(s):
        return s
    fill = (pad * n)[: n - len(s)]
    return fill + s if left else s + fill


# Instance methods of String (Apex Reference Guide, "String Class",
# https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_string.htm).
# left/right/mid/removeStart/removeEnd/substringBetween/...Last/countMatches/
# deleteWhitespace/normalizeSpace follow the guide's descriptions (the Apache Commons
# StringUtils behaviour they mirror): out-of-range counts clamp, no exception.
STRING: dict[str, Sig] = {
    "length": (lambda s: len(_s(s)), "Integer"),
    "substring": (s_substring, "String"),
    "contains": (lambda s, x: _s(x) in _s(s), "Boolean"),
    "containsignorecase": (lambda s, x: _s(x).lower() in _s(s).lower(), "Boolean"),
    "startswith": (lambda s, x: _s(s).startswith(_s(x)), "Boolean"),
    "endswith": (lambda s, x: _s(s).endswith(_s(x)), "Boolean"),
    "touppercase": (lambda s: _s(s).upper(), "String"),
    "tolowercase": (lambda s: _s(s).lower(), "String"),
    "trim": (lambda s: _s(s).strip(" \t\n\r\x0b\x0c"), "String"),
    "replace": (lambda s, a, b: _s(s).replace(_s(a), _s(b)), "String"),
    "replaceall": (lambda s, a, b: re.sub(_s(a), _s(b).replace("$", "\\"), _s(s)), "String"),
    "split": (s_split, "List<String>"),
    "indexof": (lambda s, x, i=0: _s(s).find(_s(x), max(0, i)), "Integer"),
    "lastindexof": (lambda s, x: _s(s).rfind(_s(x)), "Integer"),
    "countmatches": (lambda s, x: _s(s).count(_s(x)) if _s(x) else 0, "Integer"),
    "removestart": (lambda s, x: _s(s)[len(_s(x)):] if x and _s(s).startswith(x) else s,
                    "String"),
    "removeend": (lambda s, x: _s(s)[: len(_s(s)) - len(_s(x))] if x and _s(s).endswith(x)
                  else s, "String"),
    "left": (lambda s, n: _s(s)[: max(0, n)], "String"),
    "right": (lambda s, n: _s(s)[len(_s(s)) - n:] if 0 < n < len(_s(s)) else
              (_s(s) if n > 0 else ""), "String"),
    "mid": (lambda s, i, n: _s(s)[max(0, i):max(0, i) + max(0, n)], "String"),
    "substringbetween": (lambda s, a, b=None: _between(_s(s), _s(a), _s(a if b is None else b)),
                         "String"),
    "substringbeforelast": (lambda s, x: _s(s)[: _s(s).rfind(_s(x))] if _s(x) in _s(s)
                            else _s(s), "String"),
    "substringafterlast": (lambda s, x: _s(s)[_s(s).rfind(_s(x)) + len(_s(x)):]
                           if _s(x) and _s(x) in _s(s) else "", "String"),
    "deletewhitespace": (lambda s: "".join(_s(s).split()), "String"),
    "normalizespace": (lambda s: " ".join(_s(s).split()), "String"),
    "containswhitespace": (lambda s: any(c.isspace() for c in _s(s)), "Boolean"),
    "isalpha": (lambda s: _s(s).isalpha(), "Boolean"),
    "isalphanumeric": (lambda s: _s(s).isalnum(), "Boolean"),
    "startswithignorecase": (lambda s, x: _s(s).lower().startswith(_s(x).lower()),
                             "Boolean"),
    "endswithignorecase": (lambda s, x: _s(s).lower().endswith(_s(x).lower()), "Boolean"),
    "uncapitalize": (lambda s: _s(s)[:1].lower() + _s(s)[1:], "String"),
    "equals": (lambda s, x: isinstance(x, str) and _s(s) == x, "Boolean"),
    "equalsignorecase": (lambda s, x: isinstance(x, str) and _s(s).lower() == x.lower(),
                         "Boolean"),
    "compareto": (lambda s, x: (_s(s) > _s(x)) - (_s(s) < _s(x)), "Integer"),
    "leftpad": (lambda s, n, p=" ": _pad(s, n, p, True), "String"),
    "rightpad": (lambda s, n, p=" ": _pad(s, n, p, False), "String"),
    "isblank": (lambda s: not _s(s).strip(), "Boolean"),
    "isnotblank": (lambda s: bool(_s(s).strip()), "Boolean"),
    "substringbefore": (lambda s, x: _s(s).split(_s(x), 1)[0], "String"),
    "substringafter": (lambda s, x: _s(s).split(_s(x), 1)[1] if _s(x) in _s(s) else "",
                       "String"),
    "capitalize": (lambda s: _s(s)[:1].upper() + _s(s)[1:], "String"),
    "repeat": (lambda s, n: _s(s) * n, "String"),
    "reverse": (lambda s: _s(s)[::-1], "String"),
    "abbreviate": (lambda s, n: _s(s) if len(_s(s)) <= n else _s(s)[: n - 3] + "...",
                   "String"),
    "isnumeric": (lambda s: _s(s).isdigit(), "Boolean"),
    "tostring": (lambda s: _s(s), "String"),
    "hashcode": (lambda s: hash(_s(s)) & 0x7FFFFFFF, "Integer"),
}

STRING_STATIC: dict[str, Sig] = {
    "valueof": (s_value_of, "String"),
    "format": (s_format, "String"),
    "join": (lambda items, sep: _s(sep).join(apex_str(x) for x in items), "String"),
    "isblank": (lambda s: s is None or not s.strip(), "Boolean"),
    "isnotblank": (lambda s: s is not None and bool(s.strip()), "Boolean"),
    "isempty": (lambda s: s is None or s == "", "Boolean"),
    "isnotempty": (lambda s: s is not None and s != "", "Boolean"),
    "escapesinglequotes": (lambda s: _s(s).replace("'", "\\'"), "String"),
}


# --- numbers, Math, Date, Datetime -------------------------------------------------------------

def _int_value_of(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            raise exception_class("TypeException")(f"Invalid integer: {v}") from None
    return int(v)


def _dec_value_of(v: Any) -> Decimal | None:
    if v is None:
        return None
    try:
        return Decimal(v.strip()) if isinstance(v, str) else Decimal(repr(v)) \
            if isinstance(v, float) else Decimal(v)
    except ArithmeticError:
        raise exception_class("TypeException")(f"Invalid decimal: {v}") from None


def _format_int(n: int) -> str:
    return f"{n:,}"


NUMBER: dict[str, Sig] = {
    "intvalue": (lambda n: int(n), "Integer"),
    "longvalue": (lambda n: int(n), "Long"),
    "doublevalue": (lambda n: float(n), "Double"),
    "format": (lambda n: _format_int(n) if isinstance(n, int) else f"{n:,}", "String"),
    # setScale(scale): "Returns the Decimal scaled to the specified number of decimal
    # places, using half-even rounding, if necessary" (Apex Reference Guide, "Decimal
    # Class", https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_decimal.htm).
    # setScale(scale, roundingMode): the same with the given System.RoundingMode.
    "setscale": (lambda n, k, mode=None: _rescale(n, k, mode), "Decimal"),
    "scale": (lambda n: _scale(Decimal(n)), "Integer"),
    "abs": (lambda n: abs(n), "self"),
    # Decimal.round(): "rounded to zero decimal places using half-even rounding mode";
    # round(roundingMode) with the given mode (same page). Double.round() rounds a Double
    # as Java's Math.round does (ties toward positive infinity: an assumption, the guide
    # only says "nearest Long").
    "round": (lambda n, mode=None: _round_number(n, mode), "Long"),
    "tostring": (lambda n: apex_str(n), "String"),
}

# System.RoundingMode (Apex Reference Guide, "Decimal Class", section "Rounding Mode",
# https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_decimal.htm):
# CEILING, DOWN, FLOOR, HALF_DOWN, HALF_EVEN, HALF_UP, UNNECESSARY, UP.
_ROUNDINGS = {"CEILING": ROUND_CEILING, "DOWN": ROUND_DOWN, "FLOOR": ROUND_FLOOR,
              "HALF_DOWN": ROUND_HALF_DOWN, "HALF_EVEN": ROUND_HALF_EVEN,
              "HALF_UP": ROUND_HALF_UP, "UNNECESSARY": "UNNECESSARY", "UP": ROUND_UP}
ROUNDING_MODES: dict[str, EnumValue] = {
    n.lower(): EnumValue("RoundingMode", n, i) for i, n in enumerate(_ROUNDINGS)}


def _python_rounding(mode: Any) -> str:
    if mode is None:
        raise npe()
    return str(_ROUNDINGS[str(mode.name if hasattr(mode, "name") else mode).upper()])


def _quantize(d: Decimal, exp: Decimal, mode: Any) -> Decimal:
    """``d`` to the exponent ``exp`` with a RoundingMode (null: half-even). UNNECESSARY
    on an inexact result throws ("an Exception is thrown": the guide names no type;
    MathException here, message unconfirmed)."""
    rounding = ROUND_HALF_EVEN if mode is None else _python_rounding(mode)
    if rounding == "UNNECESSARY":
        out = d.quantize(exp, ROUND_DOWN)
        if out != d:
            raise exception_class("MathException")("Rounding necessary")
        return out
    return d.quantize(exp, rounding)


def _rescale(n: Any, k: int, mode: Any = None) -> Decimal:
    if n is None or k is None:
        raise npe()
    d = Decimal(repr(n)) if isinstance(n, float) else Decimal(n)
    return _quantize(d, Decimal(1).scaleb(-k), mode)


def _round_number(n: Any, mode: Any) -> int:
    if n is None:
        raise npe()
    if isinstance(n, float) and mode is None:
        if n != n or n in (float("inf"), float("-inf")):
            raise exception_class("MathException")(f"Invalid double: {apex_str(n)}")
        return math.floor(n + 0.5)
    d = Decimal(repr(n)) if isinstance(n, float) else Decimal(n)
    return int(_quantize(d, Decimal(1), mode))


def _w32_checked(n: int) -> int:
    """``Math.round`` returns an Integer: a result outside 32 bits wraps, as reported on
    the platform for Decimals (``Math.round(10000000000.0)`` gives 1410065408:
    https://salesforce.stackexchange.com/questions/102538/possible-bug-in-math-rounddecimal)."""
    return (n + 0x80000000) % 0x100000000 - 0x80000000


INTEGER_STATIC: dict[str, Sig] = {"valueof": (_int_value_of, "Integer")}
LONG_STATIC: dict[str, Sig] = {"valueof": (_int_value_of, "Long")}
DECIMAL_STATIC: dict[str, Sig] = {"valueof": (_dec_value_of, "Decimal")}
DOUBLE_STATIC: dict[str, Sig] = {
    "valueof": (lambda v: None if v is None else float(v), "Double")}
BOOLEAN_STATIC: dict[str, Sig] = {
    "valueof": (lambda v: None if v is None else (v.lower() == "true" if isinstance(v, str)
                                                  else bool(v)), "Boolean")}


def _mod(a: int, b: int) -> int:
    if b == 0:
        raise exception_class("MathException")("Divide by 0")
    return int(math.fmod(a, b))


MATH_STATIC: dict[str, Sig] = {
    "max": (lambda a, b: a if a >= b else b, "arg"),
    "min": (lambda a, b: a if a <= b else b, "arg"),
    "abs": (lambda a: abs(a), "arg"),
    "mod": (_mod, "arg"),
    "floor": (lambda a: Decimal(math.floor(a)), "Decimal"),
    "ceil": (lambda a: Decimal(math.ceil(a)), "Decimal"),
    # Math.round(Decimal) / roundToLong(Decimal): "rounded to zero decimal places using
    # half-even rounding mode" (Apex Reference Guide, "Math Class",
    # https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_math.htm);
    # Math.round(Double): "the closest Integer", ties as Java's Math.round (assumption).
    "round": (lambda a: _w32_checked(_round_number(a, None)), "Integer"),
    "roundtolong": (lambda a: _round_number(a, None), "Long"),
    "pow": (lambda a, b: float(a) ** float(b), "Double"),
    "sqrt": (lambda a: math.sqrt(a), "Double"),
}

def _add_months(d: dt.date, n: int) -> dt.date:
    """``Date.addMonths``: the same day in the month ``n`` later, clamped to that month's
    last day (Jan 31 + 1 month is the end of February)."""
    m = d.month - 1 + n
    y, m = d.year + m // 12, m % 12 + 1
    return d.replace(year=y, month=m, day=min(d.day, _days_in_month(y, m)))


def _days_in_month(y: int, m: int) -> int:
    """``Date.daysInMonth(year, month)``."""
    nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
    return (nxt - dt.timedelta(days=1)).day


def _is_leap(y: int) -> bool:
    """``Date.isLeapYear(year)``."""
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


# Date instance methods (Apex Reference Guide, "Date Class",
# https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_date.htm).
DATE: dict[str, Sig] = {
    "addmonths": (_add_months, "Date"),
    "addyears": (lambda d, n: _add_months(d, 12 * n), "Date"),
    "tostartofmonth": (lambda d: d.replace(day=1), "Date"),
    "dayofyear": (lambda d: d.timetuple().tm_yday, "Integer"),
    "issameday": (lambda d, e: e is not None and d == e, "Boolean"),
    "adddays": (lambda d, n: d + dt.timedelta(days=n), "Date"),
    "year": (lambda d: d.year, "Integer"),
    "month": (lambda d: d.month, "Integer"),
    "day": (lambda d: d.day, "Integer"),
    "daysbetween": (lambda d, e: (e - d).days, "Integer"),
    "format": (lambda d: d.strftime("%m/%d/%Y"), "String"),
    "tostring": (lambda d: apex_str(d), "String"),
}
DATETIME: dict[str, Sig] = {
    "gettime": (lambda d: int(d.replace(tzinfo=dt.timezone.utc).timestamp() * 1000), "Long"),
    "addminutes": (lambda d, n: d + dt.timedelta(minutes=n), "Datetime"),
    "addhours": (lambda d, n: d + dt.timedelta(hours=n), "Datetime"),
    "adddays": (lambda d, n: d + dt.timedelta(days=n), "Datetime"),
    "addseconds": (lambda d, n: d + dt.timedelta(seconds=n), "Datetime"),
    "date": (lambda d: d.date(), "Date"),
    "dategmt": (lambda d: d.date(), "Date"),
    "year": (lambda d: d.year, "Integer"),
    "hour": (lambda d: d.hour, "Integer"),
    "format": (lambda d, f=None: d.strftime("%Y-%m-%d %H:%M:%S") if f is None
               else _java_format(d, f), "String"),
    "formatgmt": (lambda d, f: _java_format(d, f), "String"),
    "tostring": (lambda d: apex_str(d), "String"),
}


def _java_format(d: dt.datetime, f: str) -> str:
    table = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"),
             ("ss", "%S"), ("SSS", "000")]
    out = f
    for java, py in table:
        out = out.replace(java, py)
    return d.strftime(out)


DATE_STATIC: dict[str, Sig] = {
    "today": (today, "Date"),
    "newinstance": (lambda y, m, d: dt.date(y, m, d), "Date"),
    "daysinmonth": (_days_in_month, "Integer"),
    "isleapyear": (_is_leap, "Boolean"),
    "valueof": (lambda s: None if s is None else dt.date.fromisoformat(str(s)[:10]), "Date"),
}
DATETIME_STATIC: dict[str, Sig] = {
    "now": (now, "Datetime"),
    "newinstance": (lambda *a: dt.datetime(*a) if len(a) > 1 else
                    dt.datetime.fromtimestamp(a[0] / 1000, dt.timezone.utc).replace(
                        tzinfo=None), "Datetime"),
    "newinstancegmt": (lambda *a: dt.datetime(*a), "Datetime"),
}


# --- Schema describe -------------------------------------------------------------------------
# Apex Developer Guide, "Accessing All sObjects"
# (https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_dynamic_global_describe.htm):
# Schema.getGlobalDescribe() maps sObject names to tokens, names case-insensitive; Apex
# Reference Guide, "Schema Class", "SObjectType Class", "DescribeSObjectResult Class",
# "DescribeFieldResult Class", "DisplayType Enum"
# (https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_schema.htm).
# Backed by the org's schema (the same definitions REST describe serves).

def _schema() -> Any:
    return current().ctx.org.schema


class DescribeMap(ApexMap):
    """A describe map: lower-case keys (what ``keySet()`` shows), looked up without regard
    to case (``containsKey('Account')`` and ``containsKey('account')`` are both true)."""

    def get(self, key: Any, default: Any = None) -> Any:
        """Case-insensitive ``get``."""
        return super().get(key.lower() if isinstance(key, str) else key, default)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)


# Schema.DisplayType names of the schema's field types (SOAP describe type names).
_DISPLAY = {"string": "STRING", "textarea": "TEXTAREA", "picklist": "PICKLIST",
            "multipicklist": "MULTIPICKLIST", "combobox": "COMBOBOX", "email": "EMAIL",
            "phone": "PHONE", "url": "URL", "id": "ID", "reference": "REFERENCE",
            "int": "INTEGER", "long": "LONG", "double": "DOUBLE", "currency": "CURRENCY",
            "percent": "PERCENT", "date": "DATE", "datetime": "DATETIME", "time": "TIME",
            "boolean": "BOOLEAN", "base64": "BASE64", "address": "ADDRESS",
            "location": "LOCATION", "encryptedstring": "ENCRYPTEDSTRING"}
DISPLAY_TYPES: dict[str, EnumValue] = {
    n.lower(): EnumValue("DisplayType", n, i) for i, n in enumerate(sorted(
        set(_DISPLAY.values()) | {"ANYTYPE", "DATACATEGORYGROUPREFERENCE", "JSON",
                                  "SOBJECT"}))}


class SObjectTypeToken(BuiltinObject):
    """``Schema.SObjectType``: the token of one sObject type (``Account.SObjectType``)."""

    apex_type = "Schema.SObjectType"

    def __init__(self, name: str) -> None:
        self.name = name

    def getdescribe(self) -> DescribeSObjectResult:
        """``getDescribe()``."""
        return DescribeSObjectResult(self.name)

    def newsobject(self) -> SObject:
        """``newSObject()``: a new, empty record of this type."""
        return SObject(self.name)

    def m_tostring_0(self) -> str:
        """Prints as the API name (``System.debug(Account.SObjectType)``: Account)."""
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SObjectTypeToken) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("sobjecttype", self.name))


class FieldToken(str):
    """``Schema.SObjectField`` (``Opportunity.External_ID__c``): a ``str`` holding the
    field's API name (what DML's external id parameter and ``System.debug`` use) that
    also knows its sObject, for ``getDescribe()``."""

    sobject: str = ""

    def getdescribe(self) -> DescribeFieldResult:
        """``getDescribe()``."""
        return DescribeFieldResult(self.sobject, str(self))


def field_token(sobject: str, name: str) -> FieldToken:
    """The token of ``sobject.name`` (canonical names)."""
    tok = FieldToken(name)
    tok.sobject = sobject
    return tok


class SObjectFields(BuiltinObject):
    """``DescribeSObjectResult.fields``: ``getMap()`` and ``fields.Name`` describes."""

    apex_type = "Schema.SObjectTypeFields"

    def __init__(self, name: str) -> None:
        self.name = name

    def getmap(self) -> DescribeMap:
        """``getMap()``: lower-case field name -> ``Schema.SObjectField``."""
        obj = _schema().get(self.name)
        return DescribeMap((f.name.lower(), field_token(obj.name, f.name))
                           for f in obj.fields.values())

    def field(self, name: str) -> DescribeFieldResult:
        """``fields.Name``: that field's describe (SObjectException when it is not one)."""
        f = _schema().get(self.name).get(name)
        if f is None:
            raise exception_class("SObjectException")(
                f"Invalid field {name} for {self.name}")
        return DescribeFieldResult(self.name, f.name)


class DescribeSObjectResult(BuiltinObject):
    """``Schema.DescribeSObjectResult``."""

    apex_type = "Schema.DescribeSObjectResult"

    def __init__(self, name: str) -> None:
        self.d = _schema().get(name)
        self.fields = SObjectFields(self.d.name)

    def getname(self) -> str:
        """``getName()``: the API name."""
        return str(self.d.name)

    def getlabel(self) -> str:
        """``getLabel()``."""
        return str(self.d.label or self.d.name)

    def getkeyprefix(self) -> str | None:
        """``getKeyPrefix()``: the three-character id prefix."""
        return self.d.key_prefix or None

    def iscustom(self) -> bool:
        """``isCustom()``."""
        return bool(self.d.custom)

    def iscreateable(self) -> bool:
        """``isCreateable()``."""
        return bool(self.d.createable)

    def isupdateable(self) -> bool:
        """``isUpdateable()``."""
        return bool(self.d.updateable)

    def isdeletable(self) -> bool:
        """``isDeletable()``."""
        return bool(self.d.deletable)

    def getsobjecttype(self) -> SObjectTypeToken:
        """``getSObjectType()``."""
        return SObjectTypeToken(self.d.name)


class DescribeFieldResult(BuiltinObject):
    """``Schema.DescribeFieldResult``."""

    apex_type = "Schema.DescribeFieldResult"

    def __init__(self, sobject: str, name: str) -> None:
        self.f = _schema().get(sobject).field(name)
        self.sobject = sobject

    def getname(self) -> str:
        """``getName()``: the field's API name."""
        return str(self.f.name)

    def getlabel(self) -> str:
        """``getLabel()``."""
        return str(self.f.label or self.f.name)

    def gettype(self) -> EnumValue:
        """``getType()``: a ``Schema.DisplayType`` value."""
        return DISPLAY_TYPES[_DISPLAY.get(self.f.type, "ANYTYPE").lower()]

    def getlength(self) -> int:
        """``getLength()``: the maximum size of a text field (0 for other types)."""
        return int(self.f.length or 0)

    def getprecision(self) -> int:
        """``getPrecision()``."""
        return int(self.f.precision or 0)

    def getscale(self) -> int:
        """``getScale()``."""
        return int(self.f.scale or 0)

    def isexternalid(self) -> bool:
        """``isExternalId()``."""
        return bool(self.f.external_id)

    def isunique(self) -> bool:
        """``isUnique()``."""
        return bool(self.f.unique)

    def isnillable(self) -> bool:
        """``isNillable()``."""
        return bool(self.f.nillable)

    def iscreateable(self) -> bool:
        """``isCreateable()``."""
        return bool(self.f.createable)

    def isupdateable(self) -> bool:
        """``isUpdateable()``."""
        return bool(self.f.updateable)

    def iscustom(self) -> bool:
        """``isCustom()``."""
        return bool(self.f.custom)

    def getsobjectfield(self) -> FieldToken:
        """``getSObjectField()``."""
        return field_token(self.sobject, self.f.name)


def global_describe() -> DescribeMap:
    """``Schema.getGlobalDescribe()``: lower-case sObject name -> token."""
    return DescribeMap((o.name.lower(), SObjectTypeToken(o.name)) for o in _schema())


SCHEMA_STATIC: dict[str, Sig] = {
    "getglobaldescribe": (global_describe, "Map<String,Schema.SObjectType>"),
}


# --- Time, Blob, EncodingUtil ---------------------------------------------------------------
# Apex Reference Guide, "Time Class"
# (https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_time.htm):
# newInstance(hour, minutes, seconds, milliseconds) ("UTC is assumed"), hour/minute/second/
# millisecond, addHours/addMinutes/addSeconds/addMilliseconds (the guide's examples wrap
# within the day: a Time has no date). "Blob Class"
# (https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_blob.htm):
# valueOf(String), toString(), size() ("the number of bytes"). "EncodingUtil Class"
# (https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_classes_restful_encodingUtil.htm):
# base64Encode(Blob), base64Decode(String), convertToHex(Blob), convertFromHex(String),
# urlEncode/urlDecode(String, encoding).

_DAY_MS = 86_400_000


def _time_ms(t: dt.time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1000 + t.microsecond // 1000


def _time_of_ms(ms: int) -> dt.time:
    ms %= _DAY_MS
    return dt.time(ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60, ms % 1000 * 1000)


def _time_new(h: int, m: int, sec: int, ms: int) -> dt.time:
    """``Time.newInstance(hour, minutes, seconds, milliseconds)``. Values outside a clock
    face are not documented: refused by name instead of guessed."""
    if None in (h, m, sec, ms):
        raise npe()
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= sec < 60 and 0 <= ms < 1000):
        raise exception_class("UnexpectedException")(
            f"Not supported by sforg-sim: Time.newInstance({h}, {m}, {sec}, {ms}) outside "
            "0-23 h, 0-59 min, 0-59 s, 0-999 ms")
    return dt.time(h, m, sec, ms * 1000)


def _time_add(unit_ms: int) -> Callable[[dt.time, int], dt.time]:
    def add(t: dt.time, n: int) -> dt.time:
        if t is None or n is None:
            raise npe()
        return _time_of_ms(_time_ms(t) + n * unit_ms)
    return add


TIME: dict[str, Sig] = {
    "hour": (lambda t: _l(t).hour, "Integer"),
    "minute": (lambda t: _l(t).minute, "Integer"),
    "second": (lambda t: _l(t).second, "Integer"),
    "millisecond": (lambda t: _l(t).microsecond // 1000, "Integer"),
    "addhours": (_time_add(3_600_000), "Time"),
    "addminutes": (_time_add(60_000), "Time"),
    "addseconds": (_time_add(1000), "Time"),
    "addmilliseconds": (_time_add(1), "Time"),
    "tostring": (lambda t: apex_str(_l(t)), "String"),
}
TIME_STATIC: dict[str, Sig] = {"newinstance": (_time_new, "Time")}


def _blob_str(b: bytes) -> str:
    """``Blob.toString()``: the bytes as UTF-8 text (StringException when they are not)."""
    try:
        return _l(b).decode("utf-8")
    except UnicodeDecodeError:
        raise exception_class("StringException")(
            "BLOB is not a valid UTF-8 string") from None


BLOB: dict[str, Sig] = {
    "size": (lambda b: len(_l(b)), "Integer"),
    "tostring": (_blob_str, "String"),
}
BLOB_STATIC: dict[str, Sig] = {"valueof": (lambda s: _s(s).encode("utf-8"), "Blob")}


def _b64decode(s: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(_s(s), validate=False)
    except (binascii.Error, ValueError):
        raise exception_class("StringException")(
            "Unable to decode: invalid Base64 input") from None


def _from_hex(s: str) -> bytes:
    try:
        return bytes.fromhex(_s(s))
    except ValueError:
        raise exception_class("InvalidParameterValueException")(
            f"Invalid hex string: {s}") from None


def _url_encode(s: str, enc: str) -> str:
    from urllib.parse import quote_plus

    # Java's URLEncoder (what the guide's "application/x-www-form-urlencoded" is):
    # spaces become '+', and '*' stays as it is.
    return quote_plus(_s(s), safe="*", encoding=_s(enc))


def _url_decode(s: str, enc: str) -> str:
    from urllib.parse import unquote_plus

    return unquote_plus(_s(s), encoding=_s(enc))


ENCODINGUTIL_STATIC: dict[str, Sig] = {
    "base64encode": (lambda b: __import__("base64").b64encode(_l(b)).decode("ascii"),
                     "String"),
    "base64decode": (_b64decode, "Blob"),
    "converttohex": (lambda b: _l(b).hex(), "String"),
    "convertfromhex": (_from_hex, "Blob"),
    "urlencode": (_url_encode, "String"),
    "urldecode": (_url_decode, "String"),
}


# --- List, Set, Map, sObject --------------------------------------------------------------------

def _l(x: Any) -> Any:
    if x is None:
        raise npe()
    return x


def _l_add(lst: list[Any], a: Any, b: Any = ..., /) -> None:
    if b is ...:
        _l(lst).append(a)
    else:
        if not 0 <= a <= len(_l(lst)):
            raise exception_class("ListException")(f"List index out of bounds: {a}")
        lst.insert(a, b)


def _l_remove(lst: list[Any], i: int) -> Any:
    v = list_get(lst, i)
    del lst[i]
    return v


def _sort_key(v: Any) -> Any:
    """The ascending order of ``List.sort()`` for primitives.

    "Sorting is in ascending order for elements of primitive data types, such as strings"
    (Apex Developer Guide, "List Sorting",
    https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/langCon_apex_collections_lists_sorting.htm).
    Strings: the String class's own order, ``compareTo`` "Compares two strings
    lexicographically, based on the Unicode value of each character in the Strings"
    (Apex Reference Guide, "String Class", compareTo(secondString),
    https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_string.htm):
    case-sensitive, so 'B' < 'a' (the same page's example: 'Apex'.compareTo('apex') is
    negative). Compared as UTF-16 code units, as the Java-based platform compares them.
    A list mixing primitive types sorts Booleans, then numbers, then Strings: ``(false,
    true, 1, 4, Hello, World)`` for ``{4, true, 'World', 'Hello', 1, false}`` (P. Ozil,
    "Sorting in Apex and JavaScript", 2021,
    https://javascripttrendlist.blogspot.com/2021/09/new-post-sorting-in-apex-and-javascript.html).
    null: no document says where it goes; the only documented null rule of List.sort
    ("empty fields precede non-empty fields", the SelectOption section of "List
    Sorting") puts it first, and so does this key.
    """
    if v is None:
        return (0, 0)
    if isinstance(v, bool):
        return (1, v)
    if isinstance(v, (int, float, Decimal)):
        return (2, v)
    if isinstance(v, str):
        return (3, v.encode("utf-16-be"))
    return (4, type(v).__name__, v)


def _l_sort(lst: list[Any]) -> None:
    """``List.sort()``: ascending (:func:`_sort_key`). Items with no order between them
    (an sObject, a user class: this runtime has no ``Comparable``) raise the platform's
    ``System.ListException: One or more of the items in this list is not Comparable``
    (the message quoted in "Sorting in Apex and JavaScript", cited at :func:`_sort_key`)
    instead of a Python TypeError."""
    if any(isinstance(x, SObject) for x in _l(lst)):
        # sObjects have their own documented order ("Sorting Lists of sObjects": by
        # the Name field, then the standard fields), which this runtime does not model.
        raise exception_class("UnexpectedException")(
            "Not supported by sforg-sim: List.sort of sObjects")
    try:
        lst.sort(key=_sort_key)
    except TypeError:
        raise exception_class("ListException")(
            "One or more of the items in this list is not Comparable") from None


LIST: dict[str, Sig] = {
    "add": (_l_add, "void"),
    "addall": (lambda lst, xs: _l(lst).extend(_l(xs)), "void"),
    "get": (list_get, "T"),
    "set": (lambda lst, i, v: (lambda: None)() if _set_list(lst, i, v) else None, "void"),
    "size": (lambda lst: len(_l(lst)), "Integer"),
    "isempty": (lambda lst: not _l(lst), "Boolean"),
    "clear": (lambda lst: _l(lst).clear(), "void"),
    "remove": (_l_remove, "T"),
    "contains": (lambda lst, x: any(_equals(x, y) for y in _l(lst)), "Boolean"),
    "indexof": (lambda lst, x: next((i for i, y in enumerate(_l(lst)) if _equals(x, y)), -1),
                "Integer"),
    "sort": (_l_sort, "void"),
    "clone": (lambda lst: list(_l(lst)), "self"),
    "deepclone": (lambda lst: __import__("copy").deepcopy(_l(lst)), "self"),
    "tostring": (lambda lst: apex_str(lst), "String"),
}


def _set_list(lst: list[Any], i: int, v: Any) -> bool:
    from .runtime import list_set

    list_set(lst, i, v)
    return False


def _equals(a: Any, b: Any) -> bool:
    from .runtime import eq

    return eq(a, b)


def _st_add(s: ApexSet, x: Any) -> bool:
    if x in _l(s):
        return False
    s.d[x] = None
    return True


def _st_remove(s: ApexSet, x: Any) -> bool:
    if x in _l(s):
        del s.d[x]
        return True
    return False


SET: dict[str, Sig] = {
    "add": (_st_add, "Boolean"),
    "addall": (lambda s, xs: any([_st_add(s, x) for x in _l(xs)]), "Boolean"),
    "contains": (lambda s, x: x in _l(s), "Boolean"),
    "containsall": (lambda s, xs: all(x in _l(s) for x in _l(xs)), "Boolean"),
    "remove": (_st_remove, "Boolean"),
    "removeall": (lambda s, xs: any([_st_remove(s, x) for x in list(_l(xs))]), "Boolean"),
    "retainall": (lambda s, xs: _retain(s, xs), "Boolean"),
    "size": (lambda s: len(_l(s)), "Integer"),
    "isempty": (lambda s: not len(_l(s)), "Boolean"),
    "clear": (lambda s: _l(s).d.clear(), "void"),
    "clone": (lambda s: ApexSet(_l(s)), "self"),
    "tostring": (lambda s: apex_str(s), "String"),
}


def _retain(s: ApexSet, xs: Any) -> bool:
    keep = {x for x in _l(xs)}
    before = len(_l(s))
    s.d = {k: None for k in s.d if k in keep}
    return len(s.d) != before


def _m_put(m: dict[Any, Any], k: Any, v: Any) -> Any:
    old = _l(m).get(k)
    m[k] = v
    return old


MAP: dict[str, Sig] = {
    "put": (_m_put, "V"),
    "get": (lambda m, k: _l(m).get(k), "V"),
    "containskey": (lambda m, k: k in _l(m), "Boolean"),
    "keyset": (lambda m: ApexSet(_l(m).keys()), "Set<K>"),
    "values": (lambda m: list(_l(m).values()), "List<V>"),
    "size": (lambda m: len(_l(m)), "Integer"),
    "isempty": (lambda m: not _l(m), "Boolean"),
    "remove": (lambda m, k: _l(m).pop(k, None), "V"),
    "putall": (lambda m, o: _l(m).update(_l(o)), "void"),
    "clear": (lambda m: _l(m).clear(), "void"),
    "clone": (lambda m: ApexMap(_l(m)), "self"),
    "tostring": (lambda m: apex_str(m), "String"),
}


def _so_get(o: SObject, name: str) -> Any:
    return _l(o).v.get(_s(name).lower())


def _so_put(o: SObject, name: str, v: Any) -> Any:
    old = _l(o).v.get(_s(name).lower())
    o.set(name.lower(), name, v)
    return old


SOBJECT: dict[str, Sig] = {
    "get": (_so_get, "Object"),
    "put": (_so_put, "Object"),
    "clone": (lambda o: SObject(_l(o).type, {k: v for k, v in o.v.items() if k != "id"},
                                dict(o.names)), "self"),
    # getSObjectType(): "Returns the token for this sObject" (Apex Reference Guide,
    # "SObject Class"), a Schema.SObjectType equal to ``Opportunity.SObjectType``.
    "getsobjecttype": (lambda o: SObjectTypeToken(_l(o).type), "Schema.SObjectType"),
    "tostring": (lambda o: apex_str(o), "String"),
}

def _init_cause(e: ApexException, cause: Any) -> None:
    if not isinstance(e.cause, ApexException):
        e.cause = cause


EXCEPTION: dict[str, Sig] = {
    "getmessage": (lambda e: _l(e).apex_message, "String"),
    "gettypename": (lambda e: _l(e).type_name, "String"),
    "getlinenumber": (lambda e: _l(e).line, "Integer"),
    "getstacktracestring": (lambda e: "\n".join(_l(e).stack), "String"),
    "getcause": (lambda e: _l(e).cause if isinstance(e.cause, ApexException) else None,
                 "Exception"),
    "setmessage": (lambda e, m: setattr(_l(e), "apex_message", m), "void"),
    # initCause(cause): "Sets the cause for the exception, if one hasn't already been
    # set" (Apex Reference Guide, "Exception Class"): a second call changes nothing.
    "initcause": (lambda e, c: _init_cause(_l(e), c), "void"),
    "getdmlmessage": (lambda e, i: _l(e).apex_message, "String"),
    "getnumdml": (lambda e: 1, "Integer"),
    "tostring": (lambda e: str(_l(e)), "String"),
}


class ContextObject(BuiltinObject):
    """``QueueableContext`` / ``Database.BatchableContext`` / ``SchedulableContext``."""

    apex_type = "QueueableContext"

    def __init__(self, job_id: str | None) -> None:
        self.job_id = job_id

    def getjobid(self) -> str | None:
        """``getJobId()``."""
        return self.job_id

    def getchildjobid(self) -> str | None:
        """``getChildJobId()`` (the batch chunk's job: the batch job id here)."""
        return self.job_id

    def gettriggerid(self) -> str | None:
        """``getTriggerId()`` (SchedulableContext)."""
        return self.job_id


class QueryLocatorValue(BuiltinObject):
    """``Database.QueryLocator``: the engine's locator (SOQL and binds)."""

    apex_type = "Database.QueryLocator"

    def __init__(self, soql: str, binds: dict[str, Any]) -> None:
        self.locator = EngineLocator(soql, {k: _bind(v) for k, v in binds.items()})

    def getquery(self) -> str:
        """``getQuery()``."""
        return self.locator.soql


def _db_query(soql: str) -> Any:
    text, binds, all_rows = split_soql(soql)
    if binds:
        raise exception_class("QueryException")(
            "Not supported by sforg-sim: bind variables in Database.query")
    return run_soql(text, {}, all_rows)


def _db_locator(soql: Any, binds: dict[str, Any] | None = None) -> QueryLocatorValue:
    if binds is None and isinstance(soql, str):
        # Database.getQueryLocator('... :x'): refused now, as Database.query refuses it,
        # rather than when the batch starts (with a message about a missing variable).
        _, found, all_rows = split_soql(soql)
        if found:
            raise exception_class("QueryException")(
                "Not supported by sforg-sim: bind variables in Database.getQueryLocator")
        if all_rows:
            raise exception_class("QueryException")(
                "Not supported by sforg-sim: ALL ROWS in Database.getQueryLocator")
    return QueryLocatorValue(soql, binds or {})


DATABASE_STATIC: dict[str, Sig] = {
    "query": (_db_query, "List<SObject>"),
    "getquerylocator": (_db_locator, "Database.QueryLocator"),
    "executebatch": (execute_batch, "Id"),
    # Database.insert/update/upsert/delete/undelete: one result for one sObject (or Id),
    # a list for a list (_db_dml); the compiler types each call by its argument
    # (DATABASE_DML).
    "insert": (lambda x, a=True: _db_dml("insert", x, a), "List<Database.SaveResult>"),
    "update": (lambda x, a=True: _db_dml("update", x, a), "List<Database.SaveResult>"),
    "delete": (lambda x, a=True: _db_dml("delete", x, a), "List<Database.DeleteResult>"),
    "upsert": (lambda x, f=None, a=True: _db_upsert(x, f, a), "List<Database.UpsertResult>"),
    "countquery": (lambda q: _db_count(q), "Integer"),
    # Database.undelete(recordsOrIds[, allOrNone]) and Database.merge(master, duplicates[,
    # allOrNone]) (Apex Reference Guide, "Database Class"); merge's return type follows
    # its second argument (stdlib.merge), so it is typed Object here.
    "undelete": (lambda x, a=True: _db_dml("undelete", x, a), "List<Database.UndeleteResult>"),
    "merge": (lambda m, d, a=True: merge(m, d, bool(a), as_results=True), "Object"),
}

DATABASE_DML: dict[str, tuple[str, bool]] = {
    "insert": ("Database.SaveResult", False), "update": ("Database.SaveResult", False),
    "upsert": ("Database.UpsertResult", False), "delete": ("Database.DeleteResult", True),
    "undelete": ("Database.UndeleteResult", True)}
"""The Database DML methods: (result type, whether the method also takes record Ids).

Apex Reference Guide, "Database Class"
(https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_database.htm)
documents each as overloads: ``insert(sObject recordToInsert, Boolean allOrNone)`` returns
one ``Database.SaveResult`` and ``insert(sObject[] recordsToInsert, Boolean allOrNone)`` a
``Database.SaveResult[]``; the same for ``update`` (SaveResult), ``upsert``
(UpsertResult), ``delete`` (DeleteResult; also ``delete(Id recordID, Boolean allOrNone)``
and ``delete(Id[] recordIDs, Boolean allOrNone)``) and ``undelete`` (UndeleteResult; also
by Id). The compiler picks the overload by the argument's static type
(:meth:`.compiler.Compiler._static_call`), the run time by the value (:func:`_db_dml`)."""


def _db_dml(op: str, x: Any, all_or_none: Any = True) -> Any:
    """``Database.<op>(recordOrRecords[, allOrNone])``: one result for one sObject or Id,
    a list of results for a list (:data:`DATABASE_DML`)."""
    if DATABASE_DML[op][1]:
        x = _by_id(x)
    single = isinstance(x, SObject)
    res = dml(op, x, bool(all_or_none), as_results=True)
    return res[0] if single else res


def _by_id(x: Any) -> Any:
    """Record Ids (one, or a list of them) as the sObjects of their key prefixes, for the
    Id forms of ``Database.delete``/``undelete``; anything else as it is."""
    if isinstance(x, str):
        return SObject(_type_of_id(x), {"id": x})
    if isinstance(x, (list, ApexSet)) and x and all(isinstance(i, str) for i in x):
        return [SObject(_type_of_id(i), {"id": i}) for i in x]
    return x


def _type_of_id(rid: str) -> str:
    """The sObject type an Id's key prefix names (an unknown prefix: the DML's own
    MALFORMED_ID / INVALID_CROSS_REFERENCE_KEY reports it, on the first object)."""
    obj = current().ctx.org.schema.by_prefix(str(rid)[:3])
    if obj is None:
        raise exception_class("TypeException")(f"Invalid id: {rid}")
    return str(obj.name)


def _db_upsert(x: Any, f: Any, a: Any) -> Any:
    """``Database.upsert(records[, externalIdField][, allOrNone])``: a Boolean second
    argument is ``allOrNone`` (``Database.upsert(recs, false)``)."""
    if isinstance(f, bool):
        f, a = None, f
    res = dml("upsert", x, bool(a), external_id=f if isinstance(f, str) else None,
              as_results=True)
    return res[0] if isinstance(x, SObject) else res


def _db_count(soql: Any) -> int:
    """``Database.countQuery(query)``: "Returns the number of records that a dynamic SOQL
    query would return when executed" (Apex Reference Guide, "Database Class",
    https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_database.htm),
    for a ``SELECT COUNT() FROM ...`` query; counted as one SOQL query."""
    text, binds, all_rows = split_soql(_s(soql))
    if binds:
        raise exception_class("QueryException")(
            "Not supported by sforg-sim: bind variables in Database.countQuery")
    if not _COUNT.match(text):
        raise exception_class("QueryException")(
            "Not supported by sforg-sim: Database.countQuery of a query other than "
            "SELECT COUNT() FROM ...")
    return int(run_soql(text, {}, all_rows))

SYSTEM_STATIC: dict[str, Sig] = {
    "enqueuejob": (enqueue_job, "Id"),
    "schedule": (schedule, "Id"),
    "abortjob": (abort_job, "void"),
    "now": (now, "Datetime"),
    "today": (today, "Date"),
    "currenttimemillis": (lambda: int(now().replace(tzinfo=dt.timezone.utc).timestamp() * 1000),
                          "Long"),
    "assert": (lambda c, m=None: _assert(bool(c), m), "void"),
    "assertequals": (lambda a, b, m=None: _assert(_equals(a, b), m or
                                                  f"Expected: {apex_str(a)}, Actual: "
                                                  f"{apex_str(b)}"), "void"),
    "assertnotequals": (lambda a, b, m=None: _assert(not _equals(a, b), m), "void"),
}


def _assert(ok: bool, msg: Any) -> None:
    if not ok:
        raise exception_class("AssertException")(
            "Assertion Failed" + (f": {apex_str(msg)}" if msg is not None else ""))


LIMITS_STATIC: dict[str, Sig] = {
    "getqueries": (_limit("soql_queries"), "Integer"),
    "getlimitqueries": (_limit_max("soql_queries"), "Integer"),
    "getqueryrows": (_limit("query_rows"), "Integer"),
    "getlimitqueryrows": (_limit_max("query_rows"), "Integer"),
    "getdmlstatements": (_limit("dml_statements"), "Integer"),
    "getlimitdmlstatements": (_limit_max("dml_statements"), "Integer"),
    "getdmlrows": (_limit("dml_rows"), "Integer"),
    "getlimitdmlrows": (_limit_max("dml_rows"), "Integer"),
    "getcallouts": (_limit("callouts"), "Integer"),
    "getlimitcallouts": (_limit_max("callouts"), "Integer"),
    "getqueueablejobs": (_limit("queueable_jobs"), "Integer"),
    "getlimitqueueablejobs": (_limit_max("queueable_jobs"), "Integer"),
    "getcputime": (_cpu_time_ms, "Integer"),
    "getlimitcputime": (lambda: int(_gov().limits.cpu_seconds * 1000), "Integer"),
    # SOSL: counted by the governor (run_sosl). Operations this runtime cannot run at
    # all (sendEmail, push notifications, EventBus.publish are compile errors here), so
    # their counters are truly 0; the limits are the documented per-transaction ones
    # ("Execution Governors and Limits",
    # https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_gov_limits.htm:
    # SOSL queries 20, sendEmail 10, push notification method calls 10, EventBus.publish
    # calls for publish-immediately events 150).
    "getsoslqueries": (_limit("sosl_queries"), "Integer"),
    "getlimitsoslqueries": (_limit_max("sosl_queries"), "Integer"),
    "getemailinvocations": (lambda: 0, "Integer"),
    "getlimitemailinvocations": (lambda: 10, "Integer"),
    "getmobilepushapexcalls": (lambda: 0, "Integer"),
    "getlimitmobilepushapexcalls": (lambda: 10, "Integer"),
    "getpublishimmediatedml": (lambda: 0, "Integer"),
    "getlimitpublishimmediatedml": (lambda: 150, "Integer"),
    # @future calls of this transaction (apexlang/jobs.py, call_future)
    "getfuturecalls": (lambda: current().future_calls, "Integer"),
    "getlimitfuturecalls": (future_limit, "Integer"),
}

USERINFO_STATIC: dict[str, Sig] = {
    "getuserid": (lambda: current().ctx.org.user_id, "Id"),
    "getorganizationid": (lambda: current().ctx.org.org_id, "Id"),
    "getusername": (lambda: "admin@sim.example.com", "String"),
    "getname": (lambda: "Sim Admin", "String"),
}

STATIC: dict[str, dict[str, Sig]] = {
    "system": SYSTEM_STATIC, "database": DATABASE_STATIC, "limits": LIMITS_STATIC,
    "string": STRING_STATIC, "integer": INTEGER_STATIC, "long": LONG_STATIC,
    "decimal": DECIMAL_STATIC, "double": DOUBLE_STATIC, "boolean": BOOLEAN_STATIC,
    "math": MATH_STATIC, "date": DATE_STATIC, "datetime": DATETIME_STATIC,
    "time": TIME_STATIC, "blob": BLOB_STATIC, "encodingutil": ENCODINGUTIL_STATIC,
    "schema": SCHEMA_STATIC,
    # JSON Class (Apex Reference Guide), see :mod:`.jsontyped`.
    "json": {"serialize": (lambda v, sup=False: serialize(v, sup), "String"),
             "serializepretty": (lambda v, sup=False: serialize(v, sup, True), "String"),
             "deserialize": (lambda s, t: deserialize(s, t), "Object"),
             "deserializestrict": (lambda s, t: deserialize(s, t, True), "Object"),
             "deserializeuntyped": (json_deserialize_untyped, "Object"),
             "creategenerator": (lambda pretty: JSONGenerator(pretty), "JSONGenerator"),
             "createparser": (lambda text: JSONParser(text), "System.JSONParser")},
    "type": {"forname": (for_name, "Type")},
    # Id.valueOf(toConvert): "Converts the specified String into an ID and returns the
    # ID" (Apex Reference Guide, "ID Class",
    # https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_id.htm);
    # a string that is not an Id is a StringException ("Invalid id: x").
    "id": {"valueof": (lambda v: _id_value_of(v), "Id")},
    "orglimits": {"getmap": (org_limits_map, "Map<String,System.OrgLimit>")},
    "test": {"isrunningtest": (lambda: False, "Boolean")},
    "userinfo": USERINFO_STATIC,
    "search": {"query": (_search_query, "List<List<SObject>>")},
}
# Limits pairs the governor does not count: a compile error naming them, never a made-up 0.
_UNCOUNTED = {"aggregatequeries": "AggregateQueries (aggregate queries are not counted "
                                  "apart from queries)",
              "querylocatorrows": "QueryLocatorRows (rows of Database.getQueryLocator are "
                                  "not counted)",
              "apexcursors": "ApexCursors (Apex cursors are not supported)",
              "apexcursorrows": "ApexCursorRows (Apex cursors are not supported)"}
NOT_MODELLED = {("limits", "getheapsize"): "Limits.getHeapSize (heap size is not modelled)",
                ("limits", "getlimitheapsize"): "Limits.getLimitHeapSize (heap size is not "
                                                "modelled)",
                **{("limits", f"get{p}{k}"): f"Limits.get{'Limit' if p else ''}{v}"
                   for k, v in _UNCOUNTED.items() for p in ("", "limit")},
                ("math", "random"): "Math.random (no randomness in the simulator)",
                ("system", "runas"): "System.runAs",
                }

# "Enum Methods" (Apex Developer Guide, "Enums",
# https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/langCon_apex_enums.htm):
# every enum value has name() ("Returns the name of the Enum item as a String") and
# ordinal() ("Returns the position of the item, as an Integer, in the list of Enum values
# starting with zero"), compiled enums and built-in ones (LoggingLevel, JSONToken) alike.
ENUM: dict[str, Sig] = {
    "name": (lambda v: _l(v).name, "String"),
    "ordinal": (lambda v: _l(v).ordinal_, "Integer"),
}

INSTANCE: dict[str, dict[str, Sig]] = {
    "string": STRING, "id": STRING, "integer": NUMBER, "long": NUMBER, "decimal": NUMBER,
    "double": NUMBER, "date": DATE, "datetime": DATETIME, "list": LIST, "set": SET,
    "map": MAP, "sobject": SOBJECT, "exception": EXCEPTION, "time": TIME, "blob": BLOB,
    "enum": ENUM,
}

BUILTIN_CLASSES: dict[str, type] = {
    "httprequest": HttpRequest, "httpresponse": HttpResponse, "http": Http,
    "database.saveresult": SaveResult, "database.upsertresult": UpsertResult,
    "database.deleteresult": DeleteResult, "database.error": DatabaseError,
    "database.undeleteresult": UndeleteResult, "database.mergeresult": MergeResult,
    "system.orglimit": OrgLimit, "orglimit": OrgLimit,
    "queueablecontext": ContextObject, "database.batchablecontext": ContextObject,
    "schedulablecontext": ContextObject, "system.queueablecontext": ContextObject,
    "database.querylocator": QueryLocatorValue,
    "type": ApexType, "system.type": ApexType,
    "jsongenerator": JSONGenerator, "system.jsongenerator": JSONGenerator,
    "jsonparser": JSONParser, "system.jsonparser": JSONParser,
    **{f"{p}{k}": v for p in ("", "schema.") for k, v in (
        ("sobjecttype", SObjectTypeToken), ("describesobjectresult", DescribeSObjectResult),
        ("describefieldresult", DescribeFieldResult), ("sobjectfield", FieldToken),
        ("sobjecttypefields", SObjectFields))},
}


_TABLE_OF_TYPE = {"String": "string", "Integer": "decimal", "Long": "decimal",
                  "Decimal": "decimal", "Double": "decimal", "Datetime": "datetime",
                  "Date": "date", "Time": "time", "Blob": "blob", "List": "list",
                  "Set": "set", "Map": "map"}
"""Apex type name (:func:`~.runtime.runtime_type`) -> its INSTANCE method table."""


def py_type_key(v: Any) -> str | None:
    """The INSTANCE table for a run-time value (dynamic dispatch): the table of its Apex
    type, as :func:`~.runtime.runtime_type` names it (one ladder over Python types)."""
    if isinstance(v, SObject):
        return "sobject"
    if isinstance(v, ApexException):
        return "exception"
    return _TABLE_OF_TYPE.get(runtime_type(v))


def dyn_call(obj: Any, name: str, args: tuple[Any, ...]) -> Any:
    """A method call whose receiver type is only known at run time (``Object``)."""
    if obj is None:
        raise npe()
    key = py_type_key(obj)
    if key is not None:
        sig = INSTANCE[key].get(name)
        if sig is not None:
            return sig[0](obj, *args)
    m = getattr(obj, f"m_{name}_{len(args)}", None) or getattr(obj, name, None)
    if m is None:
        raise exception_class("UnexpectedException")(
            f"Method does not exist or incorrect signature: {name} on {type(obj).__name__}")
    return m(*args)
