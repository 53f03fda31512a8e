"""Bulk API (1.0): ``/services/async/{version}/job``, batches, results, as simple-salesforce's
``sf.bulk.<Object>.insert/update/upsert/delete/hard_delete/query/query_all`` uses it.

The resources (*Bulk API 2.0 and Bulk API Developer Guide*, "Bulk API" part,
https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/):

- ``POST job`` creates a job (JobInfo: ``operation``, ``object``, ``contentType``,
  ``concurrencyMode``, ``externalIdFieldName``), state ``Open``; ``GET job/{id}`` is its
  JobInfo; ``POST job/{id}`` with ``{"state": "Closed"}`` or ``"Aborted"`` closes or
  aborts it ("Close a Job", "Abort a Job");
- ``POST job/{id}/batch`` adds a batch: a JSON array of records (JSON jobs), a CSV file
  (CSV jobs), or for a query job the SOQL as plain text ("Add a Batch to a Job", "Use
  Bulk Query"); the answer is its BatchInfo, state ``Queued``; ``GET job/{id}/batch``
  lists them (``{"batchInfo": [...]}``), ``GET job/{id}/batch/{b}`` is one ("Get
  Information for a Batch": JSON keys apexProcessingTime, apiActiveProcessingTime,
  createdDate, id, jobId, numberRecordsFailed, numberRecordsProcessed, state,
  stateMessage, systemModstamp, totalProcessingTime);
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
InvalidUrl, InvalidXML, ClientInputError, ExceededQuota, ...), with HTTP 400 ("HTTP Status
Codes": 400 for an invalid request; the list has no 401), as XML (``<error>``) when the
response format is XML (below). Every HTTP
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

Content types ("JobInfo" ``contentType``; "Content Type Header",
https://developer.salesforce.com/docs/platform/api-asynch/guide/async-api-headers-content-type.html):
a job is JSON (simple-salesforce) or CSV (Salesforce Data Loader and most ETL tools). Job
requests may be JSON or a JobInfo XML body (``<jobInfo xmlns="...dataload">``, what Data
Loader sends, "Step One: Create a Job"). Responses follow the page's rule: a JSON job
answers JSON; a CSV job answers XML (JobInfo, BatchInfo, ``batchInfoList``,
``result-list``) "except in the case of bulk query results, which are returned in CSV",
and ingest results are CSV too ("Get Batch Results": "If the batch is a CSV file, the
response is in CSV format"); when no job is known yet (creating one, a bad job id) the
request's ``Content-Type`` decides, XML when it is absent. CSV batches
(:func:`_run_csv`): a header row of field names, relationship columns
(``Account.External_Key__c``, ``Lead:Who.Email``) planned by the code Bulk 2.0 uses
(``bulkops.column_plan``), "Empty field values are ignored when you update records. To
set a field value to null, use a field value of #N/A" ("Valid CSV Record Rows"), comma
delimiter only ("Prepare CSV Files"); results ``"Id","Success","Created","Error"`` with
the error as ``STATUS_CODE:message:fields --`` ("Get Batch Results", "Step 6: Retrieve
Batch Results"). A CSV query's result is CSV with a header row of the SELECT list, or
the text ``Records not found for this query`` when no row matched (what an org answers:
github.com/StevenMMortimer/salesforcer issue 21).

Size: a batch request over 10,000,000 bytes is refused ``ClientInputError`` "Failed to
read request. Exceeded max size limit of 10000000" (what orgs answer: jsforce issue 31,
eltoroit/ETCopyData issue 43; guide v208 "Bulk API Limits": 10 MB per file, 10,000,000
characters per batch; bytes are counted, so multi-byte text reaches it sooner).

Job checks shared with Bulk 2.0 (``bulkops.check_job``): an upsert's
``externalIdFieldName`` must be an External ID (or Id), else ``InvalidJob`` "Field name
provided, X does not match an External ID, Salesforce Id, or indexed field for Account"
(an org's answer, see there); the object must support the operation (no insert job on
AsyncApexJob or CronTrigger: wording unconfirmed).

Deviations and what is synthetic:
- contentType XML and ZIP_* jobs are refused by name (``InvalidJob``): XML record
  batches are not simulated. A JSON job request without ``contentType`` makes a JSON job,
  an XML one an XML job (refused); the JobInfo reference gives XML as the default;
- the field and record caps of "Bulk API Limits" (32,000 characters per field, 5,000
  fields and 400,000 characters per record) are not checked (the guide gives no error
  for them); "A space before or after a double quote generates an error for the row"
  ("Valid CSV Record Rows") is not modelled (Python's CSV reader accepts it); a row
  with another number of fields than the header fails that row (sforg-sim's wording);
- a batch's DML runs when it is added (its records are visible at once), while its state
  reads ``Queued`` until the first status poll (``Completed`` then, or ``InProgress`` for
  the first ``polls_before_complete`` polls, to test polling loops); results are available
  once ``Completed`` (before: ``InvalidBatch`` "Batch not completed"). Nothing is ever
  ``NotProcessed`` (no PK chunking); aborting a job leaves its processed batches as they are;
- ``hardDelete`` is a soft delete (as in Bulk 2.0 here); ``concurrencyMode`` accepts
  ``Parallel``/``Serial`` and the ``0``/``1`` simple-salesforce sends, and changes nothing;
- a query batch's results are one result file (the real split is by size, 1 GB);
- exception messages other than the codes are sforg-sim's wording (unconfirmed) unless
  a source is given; an exhausted API allocation answers ``REQUEST_LIMIT_EXCEEDED``
  with HTTP 403 in this body format (the REST answer; the Bulk 1.0 one is unconfirmed);
- "You can't create batches associated with a job that is more than 24 hours old" is
  not modelled;
- batch operations at an API version other than the job's answer ``InvalidJob`` (the
  guide requires the versions to match but names no code); a query batch on another
  object than the job's fails with the platform's INVALID_TYPE_FOR_OPERATION text; an
  ingest batch whose ``Content-Type`` is not the job's format is refused ``InvalidBatch``
  (the guide requires it, "Content Type Header"; the code is unconfirmed).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from .. import ids
from ..errors import SalesforceError
from ..soql.parser import parse as parse_soql
from .auth import sessions
from .bulk2 import RESULTS_LIFESPAN, jobs_of
from .bulkops import (
    BadHeader,
    JobRefused,
    canonical_column,
    check_job,
    column_plan,
    csv_cell,
    csv_record,
    field_value,
    run_dml,
    select_list,
)
from .messages import CSV_TYPE, Call, Response, json_response, utf8

if TYPE_CHECKING:
    from ..dml import SaveResult
    from ..org import Org

__all__ = ["Batch", "Bulk1Error", "Bulk1Job", "Bulk1Jobs", "add_batch", "batch_info",
           "batch_request", "batch_result", "bulk1_jobs", "create_job", "get_job",
           "list_batches", "query_result", "unknown", "update_job"]

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete", "query", "queryAll")
QUERY_OPS = ("query", "queryAll")
CONTENT_TYPES = ("JSON", "CSV")
"""The job content types simulated; XML and ZIP_CSV/ZIP_XML/ZIP_JSON are refused by name."""
MAX_RECORDS_PER_BATCH = 10_000
"""Bulk API guide (v208), "Bulk API Limits", Batch size: "A batch can contain a maximum of
10,000 records"."""
MAX_BATCH_BYTES = 10_000_000
"""Request bodies over this many bytes are refused: "Failed to read request. Exceeded max
size limit of 10000000" (``ClientInputError``, as orgs answer: jsforce issue 31,
eltoroit/ETCopyData issue 43); the guide's limits are 10 MB per file and 10,000,000
characters per batch (v208 "Bulk API Limits")."""
NO_RECORDS = "Records not found for this query"
"""A CSV query result with no rows (an org's answer: StevenMMortimer/salesforcer issue 21)."""
TERMINAL_BATCH = ("Completed", "Failed", "NotProcessed")
_NS = "http://www.force.com/2009/06/asyncapi/dataload"
XML_TYPE = "application/xml"
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
_SUBQUERY = re.compile(r"\(\s*SELECT\b", re.I)
_JOB_ORDER = (
    "id", "operation", "object", "createdById", "createdDate", "systemModstamp", "state",
    "externalIdFieldName", "concurrencyMode", "contentType", "numberBatchesQueued",
    "numberBatchesInProgress", "numberBatchesCompleted", "numberBatchesFailed",
    "numberBatchesTotal", "numberRecordsProcessed", "numberRetries", "apiVersion",
    "assignmentRuleId", "numberRecordsFailed", "totalProcessingTime",
    "apiActiveProcessingTime", "apexProcessingTime")
"""JobInfo XML elements in the order of the guide's example ("Step One: Create a Job") and
of the WSC client Data Loader is built on (forcedotcom/wsc ``com.sforce.async.JobInfo``,
which reads the elements in this order: one out of order would be skipped)."""
_BATCH_ORDER = (
    "id", "jobId", "state", "stateMessage", "createdDate", "systemModstamp",
    "numberRecordsProcessed", "numberRecordsFailed", "totalProcessingTime",
    "apiActiveProcessingTime", "apexProcessingTime")
"""BatchInfo XML elements in the order of "Add a Batch to a Job" and "BatchInfo"."""


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
    content_type: str = "JSON"
    state: str = "Open"
    modstamp: str = ""
    batches: dict[str, Batch] = field(default_factory=dict)

    @property
    def xml(self) -> bool:
        """Whether the job answers in XML: every content type but JSON ("Content Type
        Header": "For jobs with a contentType of CSV, XML is used as the response
        format")."""
        return self.content_type != "JSON"

    def info(self) -> dict[str, Any]:
        """The JobInfo JSON ("Get Job Details"), with the batch and record counters."""
        states = [b.state for b in self.batches.values()]
        return {
            "apexProcessingTime": 0, "apiActiveProcessingTime": 0,
            "apiVersion": float(self.api_version), "assignmentRuleId": None,
            "concurrencyMode": self.concurrency, "contentType": self.content_type,
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

    def find(self, job_id: str | None) -> Bulk1Job | None:
        """The job with id ``job_id`` (15 or 18 characters), or None."""
        if not job_id:
            return None
        try:
            return self.jobs.get(ids.to18(job_id))
        except SalesforceError:
            return None

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


# --- the envelope: authentication, charging, response formats ------------------------------

def _header_wants_xml(call: Call) -> bool:
    """The response format when no job is known: the request's ``Content-Type`` (CSV
    means XML), XML when it is absent ("Content Type Header")."""
    return "json" not in call.request.content_type


def _wants_xml(call: Call, job: Bulk1Job | None) -> bool:
    return job.xml if job is not None else _header_wants_xml(call)


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _element(root: str, values: Mapping[str, Any], order: Sequence[str], *,
             namespace: bool = True) -> str:
    """``<root>`` holding ``values`` as child elements in ``order`` (None left out)."""
    attrs = f' xmlns="{_NS}"' if namespace else ""
    inner = "".join(f"<{k}>{_xml_text(values[k])}</{k}>" for k in order
                    if values.get(k) is not None)
    return f"<{root}{attrs}>{inner}</{root}>"


def _xml_response(status: int, body: str) -> Response:
    return Response(status, utf8('<?xml version="1.0" encoding="UTF-8"?>' + body),
                    {"Content-Type": XML_TYPE})


def _error(call: Call, job: Bulk1Job | None, err: Bulk1Error) -> Response:
    if _wants_xml(call, job):
        body = (f'<error xmlns="{_NS}">'
                f"<exceptionCode>{escape(err.code)}</exceptionCode>"
                f"<exceptionMessage>{escape(err.message)}</exceptionMessage></error>")
        return _xml_response(err.status, body)
    return json_response(err.status, {"exceptionCode": err.code,
                                      "exceptionMessage": err.message})


def _job_answer(job: Bulk1Job, status: int, xml: bool) -> Response:
    if xml:
        return _xml_response(status, _element("jobInfo", job.info(), _JOB_ORDER))
    return json_response(status, job.info())


def _batch_answer(job: Bulk1Job, batch: Batch, status: int) -> Response:
    if job.xml:
        return _xml_response(status, _element("batchInfo", batch.info(), _BATCH_ORDER))
    return json_response(status, batch.info())


def _bulk(handler: Callable[[Call, Bulk1Jobs], Response]) -> Callable[[Call], Response]:
    """Wrap a handler: check ``X-SFDC-Session``, charge one API request, sweep old jobs,
    and answer errors in Bulk 1.0's format (XML or JSON, as the job or the request
    says)."""
    def run(call: Call) -> Response:
        org = call.org
        jobs = bulk1_jobs(org)
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
            call.user_id = user_id
            wall = jobs_of(org).wall
            jobs.sweep(org.clock.time(), wall() if wall is not None else None)
            return handler(call, jobs)
        except Bulk1Error as e:
            return _error(call, jobs.find(call.params.get("job_id")), e)
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


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _job_xml(call: Call) -> dict[str, str]:
    """A JobInfo XML request body as ``{element: text}``.

    Body that is not XML: ``InvalidXML`` ("Errors": "XML contained in the request body is
    invalid"); another root than ``jobInfo``, or an element holding elements: ``InvalidJob``
    "Unable to parse Job" (the platform's text for a job body it cannot read, quoted in
    jsforce pull request 186). Python's expat parser resolves no external entity and
    bounds entity expansion (expat 2.4+), so a hostile body is only an error.
    """
    try:
        root = ET.fromstring(call.request.body)
    except ET.ParseError as e:
        raise Bulk1Error("InvalidXML", f"XML contained in the request body is invalid: {e}"
                         ) from None
    if _local(root.tag) != "jobInfo" or any(len(child) for child in root):
        raise Bulk1Error("InvalidJob", "Unable to parse Job")
    return {_local(child.tag): (child.text or "").strip() for child in root}


def _job_body(call: Call) -> tuple[dict[str, Any], bool]:
    """The job request body as a dict, and whether it was XML. The request's
    ``Content-Type`` says which (a body starting with ``<`` is XML when it says neither);
    CSV is no job format."""
    ct = call.request.content_type
    if "csv" in ct:
        raise Bulk1Error("InvalidJob", f"Unable to parse Job: Content-Type {ct} is for "
                         "batches; send the job as application/xml or application/json")
    if "xml" in ct or ("json" not in ct and call.request.body.lstrip().startswith(b"<")):
        return _job_xml(call), True
    body = _json_body(call, "job")
    if not isinstance(body, dict):
        raise Bulk1Error("InvalidJob", "The job request body must be a JSON object")
    return body, False


def _job(call: Call, jobs: Bulk1Jobs) -> Bulk1Job:
    job_id = call.params["job_id"]
    job = jobs.find(job_id)
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
    """``POST job``: a new job in state Open (201 with its JobInfo, in the request's
    format: the job's own format is not known before it exists)."""
    body, xml = _job_body(call)
    op = body.get("operation")
    if op not in OPERATIONS:
        raise Bulk1Error("InvalidJob", f"Invalid operation: {op}")
    content = body.get("contentType", "XML" if xml else "JSON")
    if content not in CONTENT_TYPES:
        raise Bulk1Error("InvalidJob", f"contentType {content} is not supported by "
                         "sforg-sim's Bulk API: only JSON and CSV jobs are simulated")
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
    if op not in QUERY_OPS:
        # Shared with Bulk 2.0: the object supports the operation; an upsert names an
        # External ID field ("Upserting records requires an external ID field on the
        # object involved in the job", guide "Step 5: Bulk Upsert",
        # https://developer.salesforce.com/docs/platform/api-asynch/guide/walkthrough-upsert.html;
        # the platform's text in bulkops.check_job).
        try:
            ext = check_job(obj, op, body.get("externalIdFieldName"))
        except JobRefused as e:
            raise Bulk1Error("InvalidJob", e.message) from None
    registry = jobs_of(org)  # the shared 750 id space
    registry.counter += 1
    wall = registry.wall
    job = Bulk1Job(ids.make_id("750", registry.counter), op, obj.name,
                   call.user_id or org.user_id, org.clock.stamp(), call.version,
                   org.clock.time(), wall() if wall is not None else None,
                   concurrency=_CONCURRENCY[mode], external_id_field=ext,
                   content_type=content)
    jobs.jobs[job.id] = job
    return _job_answer(job, 201, _header_wants_xml(call))


def _get_job(call: Call, jobs: Bulk1Jobs) -> Response:
    """``GET job/{id}``: its JobInfo (read only: batches advance on their own polls)."""
    job = _job(call, jobs)
    return _job_answer(job, 200, job.xml)


def _update_job(call: Call, jobs: Bulk1Jobs) -> Response:
    """``POST job/{id}`` ``{"state": "Closed" | "Aborted"}`` (or the JobInfo XML
    ``<jobInfo><state>Closed</state></jobInfo>``, "Close a Job")."""
    job = _job(call, jobs)
    body, _ = _job_body(call)
    want = body.get("state")
    if want not in ("Closed", "Aborted"):
        raise Bulk1Error("InvalidJobState", f"Invalid state: {want}")
    if job.state != "Open" and not (want == "Aborted" and job.state == "Closed"):
        raise Bulk1Error("InvalidJobState",
                         f"Job {job.id} is {job.state}: it cannot be set to {want}")
    job.state = want
    job.modstamp = call.org.clock.stamp()
    return _job_answer(job, 200, job.xml)


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


def _csv_writer(f: Any) -> Any:
    """The Bulk API's CSV dialect for results: every field quoted, comma, LF (the
    guide's examples: ``"Id","Success","Created","Error"``)."""
    return csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)


def _check_batch_format(call: Call, job: Bulk1Job) -> None:
    """An ingest batch must come in the job's format ("Content Type Header": set it "to
    match the contentType of the job"); a query batch is SOQL text under any of them."""
    if job.operation in QUERY_OPS:
        return
    ct = call.request.content_type
    ok = "csv" in ct if job.content_type == "CSV" else not ("xml" in ct or "csv" in ct)
    if not ok:
        want = "text/csv" if job.content_type == "CSV" else "application/json"
        raise Bulk1Error("InvalidBatch", f"Content-Type {ct or '(none)'} does not match "
                         f"the job's contentType {job.content_type}: send {want}")


def _add_batch(call: Call, jobs: Bulk1Jobs) -> Response:
    """``POST job/{id}/batch``: add a batch (201 with its BatchInfo, state Queued).

    A body over :data:`MAX_BATCH_BYTES` is not read at all (``ClientInputError``); any
    other batch counts against the daily batch allocation before anything else, as the
    guide says a batch sent to a closed job does.
    """
    job = _batch_job(call, jobs)
    if len(call.request.body) > MAX_BATCH_BYTES:
        raise Bulk1Error("ClientInputError", "Failed to read request. Exceeded max size "
                         f"limit of {MAX_BATCH_BYTES}")
    org = call.org
    limits = org.org_limits
    if limits.body()["DailyBulkApiBatches"]["Remaining"] < 1:
        raise Bulk1Error("ExceededQuota", "Exceeded the number of batches allowed in the "
                         "past 24 hours (DailyBulkApiBatches)")
    limits.charge_bulk_batches(1)
    if job.state != "Open":
        raise Bulk1Error("InvalidJobState", f"Job {job.id} is {job.state}: no batch can "
                         "be added")
    _check_batch_format(call, job)
    batch = _new_batch(call, jobs, job)
    directory = jobs_of(org).directory
    suffix = "csv" if job.content_type == "CSV" else "json"
    batch.request_path = directory / f"{batch.id}-request.{suffix}"
    batch.result_path = directory / f"{batch.id}-result.{suffix}"
    if job.operation in QUERY_OPS:
        try:
            soql = call.request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise Bulk1Error("InvalidBatch", "The query is not valid UTF-8") from None
        batch.request_path.write_text(soql if job.content_type == "CSV" else
                                      json.dumps(soql), encoding="utf-8")
        _run_query(call, job, batch, soql)
    elif job.content_type == "CSV":
        batch.request_path.write_bytes(call.request.body)
        _run_csv(call, job, batch, call.request.body)
    else:
        records = _json_body(call, "batch")
        batch.request_path.write_text(json.dumps(records), encoding="utf-8")
        _run_dml(call, job, batch, records)
    job.batches[batch.id] = batch
    return _batch_answer(job, batch, 201)


def _fail(batch: Batch, message: str) -> None:
    batch.state, batch.state_message = "Failed", message
    if batch.result_path is not None:
        batch.result_path.write_text("[]" if batch.result_path.suffix == ".json" else "",
                                     encoding="utf-8")


def _dml(call: Call, job: Bulk1Job, batch: Batch, records: list[dict[str, Any]]
         ) -> list[SaveResult] | None:
    """The batch's DML, or None when the platform refuses it as a whole (the batch then
    fails with the reason; never an error in another API's format)."""
    try:
        return run_dml(call.org, job.operation, job.object, job.external_id_field, records)
    except SalesforceError as e:
        _fail(batch, f"InvalidBatch : {e.error_code}: {e.message}")
        return None


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
    results = _dml(call, job, batch, records)
    if results is None:
        return
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


_ROW_WIDTH_ERROR = "INVALID_FIELD:Row has a different number of columns than the header: --"


def _run_csv(call: Call, job: Bulk1Job, batch: Batch, raw: bytes) -> None:
    """Apply a CSV batch now: the header row's columns (``bulkops.column_plan``: field
    names, relationship columns), each row a record (``bulkops.csv_record``: empty
    fields ignored, ``#N/A`` null), one result row per data row, in input order:
    ``"Id","Success","Created","Error"`` ("Get Batch Results")."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        _fail(batch, "InvalidBatch : The CSV is not valid UTF-8 (\"Files must be in UTF-8 "
              "format\")")
        return
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    except csv.Error as e:
        _fail(batch, f"InvalidBatch : Failed to parse CSV: {e}")
        return
    if len(rows) < 2:
        _fail(batch, "InvalidBatch : The batch contains no records (a header row of field "
              "names, then one row per record)")
        return
    header, data = rows[0], rows[1:]
    if len(data) > MAX_RECORDS_PER_BATCH:
        _fail(batch, f"InvalidBatch : A batch can contain at most "
              f"{MAX_RECORDS_PER_BATCH:,} records ({len(data):,} sent)")
        return
    org = call.org
    try:
        plan = column_plan(org, org.schema.get(job.object), header)
    except BadHeader as e:
        _fail(batch, f"InvalidBatch : {e}")
        return
    out: list[list[str]] = [["", "false", "false", _ROW_WIDTH_ERROR]] * len(data)
    good = [i for i, row in enumerate(data) if len(row) == len(header)]
    results = _dml(call, job, batch, [csv_record(plan, data[i]) for i in good])
    if results is None:
        return
    for i, res in zip(good, results):
        if res["success"]:
            created = res.get("created", job.operation == "insert")
            out[i] = [str(res.get("id") or ""), "true", "true" if created else "false", ""]
        else:
            err = res["errors"][0]
            fields = ",".join(err.get("fields") or [])
            out[i] = [str(res.get("id") or ""), "false", "false",
                      f"{err['statusCode']}:{err['message']}:{fields} --"]
    batch.processed = len(out)
    batch.failed = sum(r[1] == "false" for r in out)
    assert batch.result_path is not None
    with open(batch.result_path, "w", encoding="utf-8", newline="") as f:
        w = _csv_writer(f)
        w.writerow(["Id", "Success", "Created", "Error"])
        w.writerows(out)


def _run_query(call: Call, job: Bulk1Job, batch: Batch, soql: str) -> None:
    """Run the batch's SOQL now and write its rows to one result file (a JSON array, or
    CSV for a CSV job)."""
    bare = _LITERAL.sub("''", soql)
    for pattern, what in _REFUSED_SOQL:
        if pattern.search(bare):
            _fail(batch, f"InvalidBatch : {what} not supported in Bulk API query")
            return
    if job.content_type == "CSV" and _SUBQUERY.search(bare):
        # A CSV row has no place for a nested record list; the guide lists "Nested SOQL
        # queries" among what Bulk API query does not support (v212 "Use Bulk Query").
        _fail(batch, "InvalidBatch : Nested SOQL queries (parent-to-child subqueries) not "
              "supported in Bulk API query with CSV results")
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
    if job.content_type == "CSV":
        _write_csv_rows(org, job, batch.result_path, soql, page["records"], rows())
    else:
        _write(batch.result_path, rows())
    batch.processed = count
    jobs = bulk1_jobs(org)
    jobs.batch_counter += 1
    batch.result_ids = [ids.make_id("752", jobs.batch_counter)]


def _write_csv_rows(org: Org, job: Bulk1Job, path: Path, soql: str,
                    first: Sequence[Mapping[str, Any]], records: Iterator[Any]) -> None:
    """A CSV query result: a header row of the SELECT list (API spelling when known),
    one quoted row per record, streamed to ``path``; :data:`NO_RECORDS` when none."""
    parsed = select_list(soql)
    obj = org.schema.get(job.object)
    if parsed is not None:
        columns = parsed[0]
    else:  # a shape the simple SELECT-list reader does not know: the record's own keys
        columns = [k for k in (first[0] if first else {}) if k != "attributes"]
    header = [canonical_column(obj, c, first) for c in columns]
    wrote = False
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = _csv_writer(f)
        for r in records:
            if not wrote:
                w.writerow(header)
                wrote = True
            w.writerow([csv_cell(field_value(r, c)) for c in columns])
        if not wrote:
            f.write(NO_RECORDS)


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
    job = _batch_job(call, jobs)
    batch = _batch(call, job)
    _advance(jobs, batch, call)
    return _batch_answer(job, batch, 200)


def _list_batches(call: Call, jobs: Bulk1Jobs) -> Response:
    """``GET job/{id}/batch``: every batch's BatchInfo (each list read is a poll too);
    ``{"batchInfo": [...]}`` or ``<batchInfoList>`` ("Get Information for All Batches in a
    Job")."""
    job = _batch_job(call, jobs)
    for b in job.batches.values():
        _advance(jobs, b, call)
    if job.xml:
        inner = "".join(_element("batchInfo", b.info(), _BATCH_ORDER, namespace=False)
                        for b in job.batches.values())
        return _xml_response(200, f'<batchInfoList xmlns="{_NS}">{inner}</batchInfoList>')
    return json_response(200, {"batchInfo": [b.info() for b in job.batches.values()]})


def _completed(batch: Batch) -> Path:
    if batch.state == "Failed":
        raise Bulk1Error("InvalidBatch", f"Batch {batch.id} failed: {batch.state_message}")
    if batch.state != "Completed" or batch.result_path is None:
        raise Bulk1Error("InvalidBatch", f"Batch not completed (state {batch.state})")
    return batch.result_path


def _raw_file(job: Bulk1Job, path: Path) -> Response:
    """A stored file as the response: JSON for a JSON job, CSV for a CSV job."""
    resp = json_response(200, None)
    if job.content_type == "CSV":
        resp.headers["Content-Type"] = CSV_TYPE
    resp.body = path.read_bytes()
    return resp


def _batch_result(call: Call, jobs: Bulk1Jobs) -> Response:
    """``GET job/{id}/batch/{b}/result``: per-record results, or a query's result ids
    (a JSON list, or ``<result-list><result>752...</result></result-list>`` in XML, "Use
    Bulk Query")."""
    job = _batch_job(call, jobs)
    batch = _batch(call, job)
    path = _completed(batch)
    if job.operation in QUERY_OPS:
        if job.xml:
            inner = "".join(f"<result>{escape(r)}</result>" for r in batch.result_ids)
            return _xml_response(200, f'<result-list xmlns="{_NS}">{inner}</result-list>')
        return json_response(200, batch.result_ids)
    return _raw_file(job, path)


def _query_result(call: Call, jobs: Bulk1Jobs) -> Response:
    """``GET job/{id}/batch/{b}/result/{resultId}``: one query result file (a JSON array
    of records, or CSV)."""
    job = _batch_job(call, jobs)
    batch = _batch(call, job)
    path = _completed(batch)
    if job.operation not in QUERY_OPS or call.params["result_id"] not in batch.result_ids:
        raise Bulk1Error("InvalidBatch", f"Invalid result id: {call.params['result_id']}")
    return _raw_file(job, path)


def _batch_request(call: Call, jobs: Bulk1Jobs) -> Response:
    """``GET job/{id}/batch/{b}/request``: the batch as it was uploaded."""
    job = _batch_job(call, jobs)
    batch = _batch(call, job)
    if batch.request_path is None:
        raise Bulk1Error("InvalidBatch", f"Invalid batch id: {batch.id}")
    return _raw_file(job, batch.request_path)


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
