"""Bulk API (1.0): ``/services/async/{version}/job``, batches, results, as simple-salesforce's
``sf.bulk.<Object>.insert/update/upsert/delete/hard_delete/query/query_all`` uses it.

The resources (*Bulk API 2.0 and Bulk API Developer Guide*, "Bulk API" part,
https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/):

- ``POST job`` creates a job (JobInfo: ``operation``, ``object``, ``contentType``,
  ``concurrencyMode``, ``externalIdFieldName``), state ``Open``; ``GET job/{id}`` is its
  JobInfo; ``POST job/{id}`` with ``{"state": "Closed"}`` or ``"Aborted"`` closes or
  aborts it ("Close a Job", "Abort a Job");
- ``POST job/{id}/batch`` adds a batch: a JSON array of records, or for a query job the
  SOQL as plain text ("Add a Batch to a Job", "Use Bulk Query"); the answer is its
  BatchInfo, state ``Queued``; ``GET job/{id}/batch`` lists them (``{"batchInfo": [...]}``),
  ``GET job/{id}/batch/{b}`` is one ("Get Information for a Batch": JSON keys
  apexProcessingTime, apiActiveProcessingTime, createdDate, id, jobId,
  numberRecordsFailed, numberRecordsProcessed, state, stateMessage, systemModstamp,
  totalProcessingTime);
- ``GET job/{id}/batch/{b}/result``: per record ``{"success", "created", "id", "errors"}``
  in input order ("Get Batch Results"); for a query batch the list of result ids, each
  read with ``GET .../result/{resultId}`` as a JSON array of records ("Use Bulk Query");
  ``GET job/{id}/batch/{b}/request`` is the batch as uploaded (simple-salesforce's
  ``include_detailed_results``).

Authentication is the ``X-SFDC-Session`` header (the quick start's
``-H "X-SFDC-Session: sessionId"``), not ``Authorization: Bearer``. Errors are
``{"exceptionCode", "exceptionMessage"}`` with the codes of the guide's "Errors" page
(https://developer.salesforce.com/docs/platform/api-asynch/guide/asynch-api-reference-errors.html:
InvalidSessionId, InvalidJob, InvalidJobState, InvalidBatch, InvalidOperation,
InvalidUrl, ExceededQuota, ...), with HTTP 400 ("HTTP Status Codes": 400 for an invalid
request; the list has no 401), XML (``<error>``) when the request was XML. Every HTTP
request counts as one API call ("Bulk API Limits", v208: "Each HTTP request counts as one
call"); every batch added counts against the 15,000 batches per rolling 24 hours shared
with Bulk API 2.0 ingest (*Limits Quick Reference*, "Bulk API and Bulk API 2.0 Limits and
Allocations", Batch Allocations,
https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-bulkapi.html),
a batch sent to a closed job too ("the batch will not be created, however it will still
count against the batch allocation", guide v226 "Bulk API Limits"); with none left the
batch is refused ``ExceededQuota``. A batch holds at most 10,000 records (guide v208,
"Batch size"); more fail the batch. Query jobs refuse GROUP BY, OFFSET, TYPEOF and
aggregate functions ("Use Bulk Query", v252). Jobs and their batches are removed seven
days after the youngest batch (or the job) once every batch is terminal (*Limits Quick
Reference*, "Batch and job lifespan"), measured like Bulk 2.0 jobs (simulated time, or
wall time while serving when longer).

Deviations and what is synthetic:
- JSON only: a job with ``contentType`` CSV, XML or ZIP_* is refused by name
  (``InvalidJob``), and so is an XML or CSV request body;
- a batch's DML runs when it is added (its records are visible at once), while its state
  reads ``Queued`` until the first status poll (``Completed`` then, or ``InProgress`` for
  the first ``polls_before_complete`` polls, to test polling loops); results are available
  once ``Completed`` (before: ``InvalidBatch`` "Batch not completed"). Nothing is ever
  ``NotProcessed`` (no PK chunking); aborting a job leaves its processed batches as they are;
- ``hardDelete`` is a soft delete (as in Bulk 2.0 here); ``concurrencyMode`` accepts
  ``Parallel``/``Serial`` and the ``0``/``1`` simple-salesforce sends, and changes nothing;
- a query batch's results are one result file (the real split is by size, 1 GB);
- exception messages other than the codes are sforg-sim's wording (unconfirmed); an
  exhausted API allocation answers ``REQUEST_LIMIT_EXCEEDED`` with HTTP 403 in this body
  format (the REST answer; the Bulk 1.0 one is unconfirmed);
- "You can't create batches associated with a job that is more than 24 hours old" is
  not modelled;
- batch operations at an API version other than the job's answer ``InvalidJob`` (the
  guide requires the versions to match but names no code); a query batch on another
  object than the job's fails with the platform's INVALID_TYPE_FOR_OPERATION text.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from .. import ids
from ..errors import SalesforceError
from ..soql.parser import parse as parse_soql
from .auth import sessions
from .bulk2 import RESULTS_LIFESPAN, jobs_of
from .bulkops import run_dml
from .messages import Call, Response, json_response

if TYPE_CHECKING:
    from ..org import Org

__all__ = ["Batch", "Bulk1Error", "Bulk1Job", "Bulk1Jobs", "add_batch", "batch_info",
           "batch_request", "batch_result", "bulk1_jobs", "create_job", "get_job",
           "list_batches", "query_result", "unknown", "update_job"]

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete", "query", "queryAll")
QUERY_OPS = ("query", "queryAll")
MAX_RECORDS_PER_BATCH = 10_000
"""Bulk API guide (v208), "Bulk API Limits", Batch size: "A batch can contain a maximum of
10,000 records"."""
TERMINAL_BATCH = ("Completed", "Failed", "NotProcessed")
_NS = "http://www.force.com/2009/06/asyncapi/dataload"
_CONCURRENCY = {"Parallel": "Parallel", "Serial": "Serial", 0: "Parallel", 1: "Serial"}
_QUERY_PAGE = 2000
_LITERAL = re.compile(r"'(?:\\.|[^'\\])*'")
_REFUSED_SOQL = (
    (re.compile(r"\bGROUP\s+BY\b", re.I), "GROUP BY"),
    (re.compile(r"\bOFFSET\b", re.I), "OFFSET"),
    (re.compile(r"\bTYPEOF\b", re.I), "TYPEOF"),
    (re.compile(r"\b(COUNT|COUNT_DISTINCT|SUM|AVG|MIN|MAX)\s*\(", re.I),
     "Aggregate functions"),
)


class Bulk1Error(Exception):
    """A Bulk API 1.0 error: its ``exceptionCode`` (the guide's "Errors" list), message and
    HTTP status (400 unless said otherwise)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Batch:
    """One batch: its info, and where its request and results live on disk."""

    id: str
    job_id: str
    created: str
    made_at: float
    made_wall: float | None
    state: str = "Queued"
    state_message: str | None = None
    modstamp: str = ""
    processed: int = 0
    failed: int = 0
    polls: int = 0
    result_ids: list[str] = field(default_factory=list)
    request_path: Path | None = None
    result_path: Path | None = None

    def info(self) -> dict[str, Any]:
        """The BatchInfo JSON ("Get Information for a Batch")."""
        out: dict[str, Any] = {
            "apexProcessingTime": 0, "apiActiveProcessingTime": 0,
            "createdDate": self.created, "id": self.id, "jobId": self.job_id,
            "numberRecordsFailed": self.failed,
            "numberRecordsProcessed": self.processed, "state": self.state,
            "systemModstamp": self.modstamp or self.created, "totalProcessingTime": 0}
        if self.state_message is not None:
            out["stateMessage"] = self.state_message
        return out

    def files(self) -> list[Path]:
        """Every file the batch owns."""
        return [p for p in (self.request_path, self.result_path) if p is not None]


@dataclass
class Bulk1Job:
    """One Bulk API 1.0 job."""

    id: str
    operation: str
    object: str
    created_by: str
    created: str
    api_version: str
    made_at: float
    made_wall: float | None
    concurrency: str = "Parallel"
    external_id_field: str | None = None
    state: str = "Open"
    modstamp: str = ""
    batches: dict[str, Batch] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        """The JobInfo JSON ("Get Job Details"), with the batch and record counters."""
        states = [b.state for b in self.batches.values()]
        return {
            "apexProcessingTime": 0, "apiActiveProcessingTime": 0,
            "apiVersion": float(self.api_version), "assignmentRuleId": None,
            "concurrencyMode": self.concurrency, "contentType": "JSON",
            "createdById": self.created_by, "createdDate": self.created,
            "externalIdFieldName": self.external_id_field, "fastPathEnabled": False,
            "id": self.id,
            "numberBatchesCompleted": states.count("Completed"),
            "numberBatchesFailed": states.count("Failed"),
            "numberBatchesInProgress": states.count("InProgress"),
            "numberBatchesQueued": states.count("Queued"),
            "numberBatchesTotal": len(states),
            "numberRecordsFailed": sum(b.failed for b in self.batches.values()),
            "numberRecordsProcessed": sum(b.processed for b in self.batches.values()),
            "numberRetries": 0, "object": self.object, "operation": self.operation,
            "state": self.state, "systemModstamp": self.modstamp or self.created,
            "totalProcessingTime": 0,
        }


class Bulk1Jobs:
    """The org's Bulk API 1.0 jobs (hung on the org by :func:`bulk1_jobs`). Their files
    live in the Bulk 2.0 registry's temporary directory, and job ids come from its
    counter: Bulk API and Bulk API 2.0 jobs share one ``750`` id space."""

    def __init__(self) -> None:
        self.jobs: dict[str, Bulk1Job] = {}
        self.batch_counter = 0
        self.polls_before_complete = 0
        """Status polls a batch answers ``InProgress`` before ``Completed`` (default 0)."""

    def delete(self, job: Bulk1Job) -> None:
        """Forget a job and delete its batches' files."""
        self.jobs.pop(job.id, None)
        for b in job.batches.values():
            for path in b.files():
                with contextlib.suppress(OSError):
                    path.unlink()

    def sweep(self, now: float, wall: float | None) -> None:
        """Remove jobs seven days after their youngest batch (or the job itself, with no
        batches) once every batch is terminal."""
        for job in list(self.jobs.values()):
            if any(b.state not in TERMINAL_BATCH for b in job.batches.values()):
                continue
            youngest: tuple[float, float | None] = (job.made_at, job.made_wall)
            for b in job.batches.values():
                if b.made_at >= youngest[0]:
                    youngest = (b.made_at, b.made_wall)
            age = now - youngest[0]
            if wall is not None and youngest[1] is not None:
                age = max(age, wall - youngest[1])
            if age >= RESULTS_LIFESPAN:
                self.delete(job)


def bulk1_jobs(org: Org) -> Bulk1Jobs:
    """The Bulk API 1.0 job registry of ``org``, made on first use."""
    return org.attached(Bulk1Jobs, Bulk1Jobs)


# --- the envelope: authentication, charging, error format ---------------------------------

def _is_xml(call: Call) -> bool:
    return "xml" in call.request.content_type


def _error(call: Call, err: Bulk1Error) -> Response:
    if _is_xml(call):
        body = (f'<?xml version="1.0" encoding="UTF-8"?><error xmlns="{_NS}">'
                f"<exceptionCode>{escape(err.code)}</exceptionCode>"
                f"<exceptionMessage>{escape(err.message)}</exceptionMessage></error>")
        return Response(err.status, body.encode("utf-8"),
                        {"Content-Type": "application/xml"})
    return json_response(err.status, {"exceptionCode": err.code,
                                      "exceptionMessage": err.message})


def _bulk(handler: Callable[[Call, Bulk1Jobs], Response]) -> Callable[[Call], Response]:
    """Wrap a handler: check ``X-SFDC-Session``, charge one API request, sweep old jobs,
    refuse XML and CSV request bodies by name, and answer errors in Bulk 1.0's format."""
    def run(call: Call) -> Response:
        org = call.org
        try:
            token = call.request.headers.get("x-sfdc-session", "").strip()
            try:
                user_id = sessions(org).validate(token or None)
            except SalesforceError:
                raise Bulk1Error("InvalidSessionId", "Invalid session id") from None
            try:
                org.charge_api(1)
            except SalesforceError as e:
                raise Bulk1Error(e.error_code, e.message, e.status) from None
            ct = call.request.content_type
            if call.request.method == "POST" and ("xml" in ct or "csv" in ct):
                raise Bulk1Error("InvalidBatch" if "batch" in call.request.path
                                 else "InvalidJob",
                                 f"Content-Type {ct} is not supported by sforg-sim's Bulk "
                                 "API: only JSON jobs (application/json) are simulated")
            call.user_id = user_id
            jobs = bulk1_jobs(org)
            wall = jobs_of(org).wall
            jobs.sweep(org.clock.time(), wall() if wall is not None else None)
            return handler(call, jobs)
        except Bulk1Error as e:
            return _error(call, e)
    run.__doc__ = handler.__doc__
    run.__name__ = handler.__name__
    return run


def _json_body(call: Call, what: str) -> Any:
    raw = call.request.body
    try:
        return json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Bulk1Error("InvalidJob" if what == "job" else "InvalidBatch",
                         f"Unable to parse the {what} request body as JSON") from None


def _job(call: Call, jobs: Bulk1Jobs) -> Bulk1Job:
    job_id = call.params["job_id"]
    try:
        job = jobs.jobs.get(ids.to18(job_id))
    except SalesforceError:
        job = None
    if job is None:
        raise Bulk1Error("InvalidJob", f"Invalid job id: {job_id}")
    return job


def _batch_job(call: Call, jobs: Bulk1Jobs) -> Bulk1Job:
    """The job of a batch operation, checked against the URI's API version.

    "The API version in the URI for all batch operations must match the API version for
    the associated job" (guide, "Add a Batch to a Job",
    https://developer.salesforce.com/docs/platform/api-asynch/guide/asynch-api-batches-create.html).
    The guide names no error for a mismatch; sforg-sim answers ``InvalidJob``, the code
    the "Errors" page gives for a job that is invalid "in a create, update, or query for
    batches" (the real code and wording are unconfirmed). Job resources themselves
    (``job/{id}``) are not checked: the rule is stated for batch operations only.
    """
    job = _job(call, jobs)
    if float(call.version) != float(job.api_version):
        raise Bulk1Error("InvalidJob", f"Job {job.id} was created with API version "
                         f"{job.api_version}: its batches must be used with that version "
                         f"in the URI, not {call.version}")
    return job


def _batch(call: Call, job: Bulk1Job) -> Batch:
    batch_id = call.params["batch_id"]
    try:
        batch = job.batches.get(ids.to18(batch_id))
    except SalesforceError:
        batch = None
    if batch is None:
        raise Bulk1Error("InvalidBatch", f"Invalid batch id: {batch_id}")
    return batch


# --- jobs ---------------------------------------------------------------------------------

def _create_job(call: Call, jobs: Bulk1Jobs) -> Response:
    """``POST job``: a new job in state Open (201 with its JobInfo)."""
    body = _json_body(call, "job")
    if not isinstance(body, dict):
        raise Bulk1Error("InvalidJob", "The job request body must be a JSON object")
    op = body.get("operation")
    if op not in OPERATIONS:
        raise Bulk1Error("InvalidJob", f"Invalid operation: {op}")
    content = body.get("contentType", "JSON")
    if content != "JSON":
        raise Bulk1Error("InvalidJob", f"contentType {content} is not supported by "
                         "sforg-sim's Bulk API: only JSON jobs are simulated")
    mode = body.get("concurrencyMode", "Parallel")
    # Only a string or an integer can be a mode: a list or an object in the body is the
    # caller's mistake (InvalidJob), never a lookup that fails (unhashable: HTTP 500).
    if (isinstance(mode, bool) or not isinstance(mode, (str, int))
            or mode not in _CONCURRENCY):
        raise Bulk1Error("InvalidJob", f"Invalid concurrency mode: {mode}")
    org = call.org
    try:
        obj = org.schema.get(str(body.get("object")))
    except SalesforceError:
        raise Bulk1Error("InvalidJob", f"Unable to find object: {body.get('object')}"
                         ) from None
    ext: str | None = None
    if op == "upsert":
        raw_ext = body.get("externalIdFieldName")
        if not isinstance(raw_ext, str) or not raw_ext:
            raise Bulk1Error("InvalidJob", "External ID was blank for upsert")
        f = obj.get(raw_ext)
        if f is None:
            raise Bulk1Error("InvalidJob", f"Field name not found : {raw_ext}")
        # "Upserting records requires an external ID field on the object involved in the
        # job" (guide, "Step 5: Bulk Upsert",
        # https://developer.salesforce.com/docs/platform/api-asynch/guide/walkthrough-upsert.html):
        # the job is refused when it is made, with the text upsert itself answers for such
        # a field (schema.external_id_field; the Bulk 1.0 code and wording are unconfirmed).
        try:
            ext = obj.external_id_field(f.name).name
        except SalesforceError as e:
            raise Bulk1Error("InvalidJob", e.message) from None
    registry = jobs_of(org)  # the shared 750 id space
    registry.counter += 1
    wall = registry.wall
    job = Bulk1Job(ids.make_id("750", registry.counter), op, obj.name,
                   call.user_id or org.user_id, org.clock.stamp(), call.version,
                   org.clock.time(), wall() if wall is not None else None,
                   concurrency=_CONCURRENCY[mode], external_id_field=ext)
    jobs.jobs[job.id] = job
    return json_response(201, job.info())


def _get_job(call: Call, jobs: Bulk1Jobs) -> Response:
    """``GET job/{id}``: its JobInfo (read only: batches advance on their own polls)."""
    return json_response(200, _job(call, jobs).info())


def _update_job(call: Call, jobs: Bulk1Jobs) -> Response:
    """``POST job/{id}`` ``{"state": "Closed" | "Aborted"}``."""
    job = _job(call, jobs)
    body = _json_body(call, "job")
    want = body.get("state") if isinstance(body, dict) else None
    if want not in ("Closed", "Aborted"):
        raise Bulk1Error("InvalidJobState", f"Invalid state: {want}")
    if job.state != "Open" and not (want == "Aborted" and job.state == "Closed"):
        raise Bulk1Error("InvalidJobState",
                         f"Job {job.id} is {job.state}: it cannot be set to {want}")
    job.state = want
    job.modstamp = call.org.clock.stamp()
    return json_response(200, job.info())


# --- batches ------------------------------------------------------------------------------

def _new_batch(call: Call, jobs: Bulk1Jobs, job: Bulk1Job) -> Batch:
    org = call.org
    jobs.batch_counter += 1
    wall = jobs_of(org).wall
    b = Batch(ids.make_id("751", jobs.batch_counter), job.id, org.clock.stamp(),
              org.clock.time(), wall() if wall is not None else None)
    return b


def _write(path: Path, items: Iterator[Any]) -> None:
    """Write a JSON array to ``path`` one item at a time (never the whole list in memory
    for a query's rows)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("[")
        for i, item in enumerate(items):
            if i:
                f.write(",")
            f.write(json.dumps(item, separators=(",", ":")))
        f.write("]")


def _add_batch(call: Call, jobs: Bulk1Jobs) -> Response:
    """``POST job/{id}/batch``: add a batch (201 with its BatchInfo, state Queued).

    The batch counts against the daily batch allocation before anything else, as the
    guide says a batch sent to a closed job does.
    """
    job = _batch_job(call, jobs)
    org = call.org
    limits = org.org_limits
    if limits.body()["DailyBulkApiBatches"]["Remaining"] < 1:
        raise Bulk1Error("ExceededQuota", "Exceeded the number of batches allowed in the "
                         "past 24 hours (DailyBulkApiBatches)")
    limits.charge_bulk_batches(1)
    if job.state != "Open":
        raise Bulk1Error("InvalidJobState", f"Job {job.id} is {job.state}: no batch can "
                         "be added")
    batch = _new_batch(call, jobs, job)
    directory = jobs_of(org).directory
    batch.request_path = directory / f"{batch.id}-request.json"
    batch.result_path = directory / f"{batch.id}-result.json"
    if job.operation in QUERY_OPS:
        try:
            soql = call.request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise Bulk1Error("InvalidBatch", "The query is not valid UTF-8") from None
        batch.request_path.write_text(json.dumps(soql), encoding="utf-8")
        _run_query(call, job, batch, soql)
    else:
        records = _json_body(call, "batch")
        batch.request_path.write_text(json.dumps(records), encoding="utf-8")
        _run_dml(call, job, batch, records)
    job.batches[batch.id] = batch
    return json_response(201, batch.info())


def _fail(batch: Batch, message: str) -> None:
    batch.state, batch.state_message = "Failed", message
    if batch.result_path is not None:
        batch.result_path.write_text("[]", encoding="utf-8")


def _run_dml(call: Call, job: Bulk1Job, batch: Batch, records: Any) -> None:
    """Apply the batch's records now and keep the per-record results on disk."""
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        _fail(batch, "InvalidBatch : The batch must be a JSON array of records")
        return
    if not records:
        _fail(batch, "InvalidBatch : The batch contains no records")
        return
    if len(records) > MAX_RECORDS_PER_BATCH:
        _fail(batch, f"InvalidBatch : A batch can contain at most "
              f"{MAX_RECORDS_PER_BATCH:,} records ({len(records):,} sent)")
        return
    results = run_dml(call.org, job.operation, job.object, job.external_id_field, records)
    out = []
    for res in results:
        ok = bool(res["success"])
        created = bool(res.get("created", job.operation == "insert")) and ok
        out.append({"success": ok, "created": created, "id": res.get("id"),
                    "errors": [] if ok else list(res.get("errors") or [])})
    batch.processed = len(out)
    batch.failed = sum(not r["success"] for r in out)
    assert batch.result_path is not None
    _write(batch.result_path, iter(out))


def _run_query(call: Call, job: Bulk1Job, batch: Batch, soql: str) -> None:
    """Run the batch's SOQL now and write its rows to one result file."""
    bare = _LITERAL.sub("''", soql)
    for pattern, what in _REFUSED_SOQL:
        if pattern.search(bare):
            _fail(batch, f"InvalidBatch : {what} not supported in Bulk API query")
            return
    org = call.org
    root = _root_entity(org, soql)
    if root is not None and root != job.object:
        # The platform fails the batch (not the request) when the query's FROM object is
        # not the job's: stateMessage "InvalidBatch : Failed to process query:
        # INVALID_TYPE_FOR_OPERATION: The root entity of the requested query (Contact)
        # does not match the entity of the requested Bulk API Job (Account)." (an org's
        # answer quoted in github.com/simple-salesforce/simple-salesforce issue 502).
        _fail(batch, "InvalidBatch : Failed to process query: INVALID_TYPE_FOR_OPERATION: "
              f"The root entity of the requested query ({root}) does not match the "
              f"entity of the requested Bulk API Job ({job.object}).")
        return
    try:
        page = org.query(soql, batch_size=_QUERY_PAGE,
                         include_deleted=job.operation == "queryAll")
    except SalesforceError as e:
        _fail(batch, f"InvalidBatch : Failed to process query: {e.error_code}: {e.message}")
        return
    count = 0

    def rows() -> Iterator[Any]:
        nonlocal page, count
        while True:
            for r in page["records"]:
                count += 1
                yield r
            nxt = page.get("nextRecordsUrl")
            if not nxt:
                return
            page = org.query_more(nxt, batch_size=_QUERY_PAGE)

    assert batch.result_path is not None
    _write(batch.result_path, rows())
    batch.processed = count
    jobs = bulk1_jobs(org)
    jobs.batch_counter += 1
    batch.result_ids = [ids.make_id("752", jobs.batch_counter)]


def _root_entity(org: Org, soql: str) -> str | None:
    """The API name of the query's FROM object, or None when the query does not parse or
    names no known object (running it then fails the batch with the query's own error)."""
    try:
        return org.schema.get(parse_soql(soql).sobject).name
    except SalesforceError:
        return None


def _advance(jobs: Bulk1Jobs, batch: Batch, call: Call) -> None:
    """One status poll: Queued -> (InProgress for ``polls_before_complete`` polls) ->
    Completed. Failed batches stay Failed."""
    if batch.state not in ("Queued", "InProgress"):
        return
    batch.polls += 1
    batch.state = ("InProgress" if batch.polls <= jobs.polls_before_complete
                   else "Completed")
    batch.modstamp = call.org.clock.stamp()


def _batch_info(call: Call, jobs: Bulk1Jobs) -> Response:
    """``GET job/{id}/batch/{b}``: its BatchInfo (the status poll)."""
    batch = _batch(call, _batch_job(call, jobs))
    _advance(jobs, batch, call)
    return json_response(200, batch.info())


def _list_batches(call: Call, jobs: Bulk1Jobs) -> Response:
    """``GET job/{id}/batch``: every batch's BatchInfo (each list read is a poll too)."""
    job = _batch_job(call, jobs)
    for b in job.batches.values():
        _advance(jobs, b, call)
    return json_response(200, {"batchInfo": [b.info() for b in job.batches.values()]})


def _completed(batch: Batch) -> Path:
    if batch.state == "Failed":
        raise Bulk1Error("InvalidBatch", f"Batch {batch.id} failed: {batch.state_message}")
    if batch.state != "Completed" or batch.result_path is None:
        raise Bulk1Error("InvalidBatch", f"Batch not completed (state {batch.state})")
    return batch.result_path


def _raw_json(path: Path) -> Response:
    resp = json_response(200, None)
    resp.body = path.read_bytes()
    return resp


def _batch_result(call: Call, jobs: Bulk1Jobs) -> Response:
    """``GET job/{id}/batch/{b}/result``: per-record results, or a query's result ids."""
    job = _batch_job(call, jobs)
    batch = _batch(call, job)
    path = _completed(batch)
    if job.operation in QUERY_OPS:
        return json_response(200, batch.result_ids)
    return _raw_json(path)


def _query_result(call: Call, jobs: Bulk1Jobs) -> Response:
    """``GET job/{id}/batch/{b}/result/{resultId}``: one query result file (records)."""
    job = _batch_job(call, jobs)
    batch = _batch(call, job)
    path = _completed(batch)
    if job.operation not in QUERY_OPS or call.params["result_id"] not in batch.result_ids:
        raise Bulk1Error("InvalidBatch", f"Invalid result id: {call.params['result_id']}")
    return _raw_json(path)


def _batch_request(call: Call, jobs: Bulk1Jobs) -> Response:
    """``GET job/{id}/batch/{b}/request``: the batch as it was uploaded."""
    batch = _batch(call, _batch_job(call, jobs))
    if batch.request_path is None:
        raise Bulk1Error("InvalidBatch", f"Invalid batch id: {batch.id}")
    return _raw_json(batch.request_path)


def _unknown(call: Call, jobs: Bulk1Jobs) -> Response:
    """Any other path or method under ``/services/async/``: InvalidUrl (405 for a method
    other than GET and POST, the only two the guide's status codes allow)."""
    method = call.request.method
    if method not in ("GET", "POST", "HEAD"):
        raise Bulk1Error("InvalidUrl", f"HTTP Method '{method}' not allowed. Allowed are "
                         "GET,POST", status=405)
    raise Bulk1Error("InvalidUrl", f"Unknown Bulk API resource: {call.request.path}")


create_job = _bulk(_create_job)
get_job = _bulk(_get_job)
update_job = _bulk(_update_job)
add_batch = _bulk(_add_batch)
list_batches = _bulk(_list_batches)
batch_info = _bulk(_batch_info)
batch_result = _bulk(_batch_result)
query_result = _bulk(_query_result)
batch_request = _bulk(_batch_request)
unknown = _bulk(_unknown)
