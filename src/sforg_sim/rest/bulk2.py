"""Bulk API 2.0: ingest jobs (CSV in, SaveResults as CSV out) and query jobs (CSV pages).

Ingest (Bulk API 2.0 guide, "Ingest jobs"): create (``state: Open``) -> ``PUT batches``
with CSV (201, empty body) -> ``PATCH {"state": "UploadComplete"}`` -> poll the job ->
``successfulResults`` (``sf__Id, sf__Created, <columns>``), ``failedResults``
(``sf__Id, sf__Error, <columns>``), ``unprocessedrecords``. Query (guide, "Query jobs"):
create -> poll -> ``results?maxRecords=&locator=`` as CSV pages with the header row,
``Sforce-NumberOfRecords`` and ``Sforce-Locator`` (the string ``null`` on the last page).
Bulk API 2.0 queries may not use GROUP BY, OFFSET, TYPEOF, aggregate functions or
parent-to-child subqueries (guide, "Create a Query Job"); ORDER BY and LIMIT are refused
too, as the team's facts sheet asks (newer guides only advise against them).

Timing: jobs finish on the first status poll by default, so simple-salesforce's bulk2
helpers need no sleeping beyond their own ``wait``. ``jobs_of(org).polls_before_complete =
N`` makes the first N polls answer ``InProgress`` (to test client polling loops).

Deviations: query jobs snapshot their rows when created (real ones run on the server's
schedule); an unknown CSV column fails the whole job with "InvalidBatch : Field name not
found : X" (relationship columns such as ``Account.External_ID__c`` are not supported);
``hardDelete`` is a soft delete (the org has no recycle-bin purge); ``sf__Error`` is
``STATUS_CODE:message:fields --``; error codes for refused job requests (INVALIDJOB,
INVALIDJOBSTATE) follow the Bulk API 1.0 names, the 2.0 ones are unconfirmed.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import ids
from ..errors import (
    InvalidInput,
    InvalidJob,
    InvalidJobState,
    LimitExceeded,
    NotFound,
    SalesforceError,
    UnsupportedMediaType,
)
from .messages import Call, Response, csv_response, empty_response, json_response

if TYPE_CHECKING:
    from ..org import Org

__all__ = ["Bulk2Jobs", "Job", "create_ingest", "create_query", "delete_ingest",
           "delete_query", "get_ingest", "get_query", "ingest_results", "jobs_of",
           "list_ingest", "list_query", "patch_ingest", "patch_query", "query_results",
           "upload"]

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^",
              "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPS = ("insert", "update", "upsert", "delete", "hardDelete")
CHUNK = 10_000
"""Bulk API 2.0 processes ingest data in 10,000-record chunks; each counts as a batch."""
DEFAULT_MAX_RECORDS = 100_000


@dataclass
class Job:
    """One Bulk API 2.0 job and everything needed to answer for it."""

    id: str
    kind: str  # "ingest" | "query"
    operation: str
    object: str
    created_by: str
    created: str
    api_version: str
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    external_id_field: str | None = None
    query: str | None = None
    state: str = "Open"
    modstamp: str = ""
    polls: int = 0
    uploads: list[str] = field(default_factory=list)
    processed: int = 0
    failed: int = 0
    error_message: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    success_rows: list[list[str]] = field(default_factory=list)
    failed_rows: list[list[str]] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """The job-info JSON (the fields simple-salesforce reads, and the usual others)."""
        out: dict[str, Any] = {
            "id": self.id, "operation": self.operation, "object": self.object,
            "createdById": self.created_by, "createdDate": self.created,
            "systemModstamp": self.modstamp or self.created, "state": self.state,
            "concurrencyMode": "Parallel", "contentType": "CSV",
            "apiVersion": float(self.api_version), "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if self.kind == "ingest":
            out.update(jobType="V2Ingest",
                       contentUrl=f"services/data/v{self.api_version}/jobs/ingest/"
                                  f"{self.id}/batches",
                       numberRecordsProcessed=self.processed,
                       numberRecordsFailed=self.failed)
            if self.external_id_field:
                out["externalIdFieldName"] = self.external_id_field
        else:
            out.update(jobType="V2Query", numberRecordsProcessed=self.processed)
        out.update(retries=0, totalProcessingTime=0, apiActiveProcessingTime=0,
                   apexProcessingTime=0)
        if self.error_message:
            out["errorMessage"] = self.error_message
        return out


class Bulk2Jobs:
    """The org's Bulk API 2.0 jobs (hung on the org by :func:`jobs_of`)."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.counter = 0
        self.polls_before_complete = 0


def jobs_of(org: Org) -> Bulk2Jobs:
    """The job registry of ``org``, created on first use and kept on the org object."""
    return org.attached(Bulk2Jobs, Bulk2Jobs)


def _new_job(call: Call, kind: str, **kw: Any) -> Job:
    jobs = jobs_of(call.org)
    jobs.counter += 1
    job = Job(ids.make_id("750", jobs.counter), kind, created_by=call.user_id or
              call.org.user_id, created=call.org.clock.stamp(), api_version=call.version,
              **kw)
    jobs.jobs[job.id] = job
    return job


def _job(call: Call, kind: str) -> Job:
    job = jobs_of(call.org).jobs.get(call.params["job_id"])
    if job is None or job.kind != kind:
        raise NotFound("Job not found")
    return job


def _body(call: Call) -> dict[str, Any]:
    body = call.json()
    if not isinstance(body, dict):
        raise InvalidJob("InvalidJob : request body must be a JSON object")
    return body


def _format(body: dict[str, Any]) -> tuple[str, str]:
    delim = body.get("columnDelimiter", "COMMA")
    ending = body.get("lineEnding", "LF")
    if delim not in DELIMITERS:
        raise InvalidJob(f"InvalidJob : Invalid column delimiter: {delim}")
    if ending not in LINE_ENDINGS:
        raise InvalidJob(f"InvalidJob : Invalid line ending: {ending}")
    return delim, ending


# --- ingest -----------------------------------------------------------------------------

def create_ingest(call: Call) -> Response:
    """``POST jobs/ingest``: a new job in state Open."""
    body = _body(call)
    op = body.get("operation")
    if op not in INGEST_OPS:
        raise InvalidJob(f"InvalidJob : Invalid operation: {op}")
    try:
        obj = call.org.schema.get(str(body.get("object")))
    except SalesforceError:
        raise InvalidJob(f"InvalidJob : Invalid sObject type: {body.get('object')}") from None
    if body.get("contentType", "CSV") != "CSV":
        raise InvalidJob(f"InvalidJob : Invalid content type: {body.get('contentType')}")
    ext = body.get("externalIdFieldName")
    if op == "upsert":
        if not isinstance(ext, str):
            raise InvalidJob("InvalidJob : External ID was blank for upsert")
        ext = obj.field(ext).name
    delim, ending = _format(body)
    job = _new_job(call, "ingest", operation=op, object=obj.name, column_delimiter=delim,
                   line_ending=ending, external_id_field=ext if op == "upsert" else None)
    return json_response(200, job.info())


def upload(call: Call) -> Response:
    """``PUT jobs/ingest/{id}/batches``: CSV data; exactly 201 (simple-salesforce checks)."""
    job = _job(call, "ingest")
    if job.state != "Open":
        raise InvalidJobState(f"Job {job.id} is not open for data upload (state {job.state})")
    if call.request.content_type != "text/csv":
        raise UnsupportedMediaType(
            f"Content type '{call.request.content_type}' not supported; use text/csv")
    try:
        job.uploads.append(call.request.body.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidJob("InvalidBatch : CSV data is not valid UTF-8") from None
    return empty_response(201)


def _patch(call: Call, kind: str) -> Response:
    job = _job(call, kind)
    want = _body(call).get("state")
    if want == "UploadComplete" and kind == "ingest" and job.state == "Open":
        job.state = "UploadComplete"
    elif want == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
        job.state = "Aborted"
    else:
        raise InvalidJobState(f"Cannot change job {job.id} from {job.state} to {want}")
    job.modstamp = call.org.clock.stamp()
    return json_response(200, job.info())


def patch_ingest(call: Call) -> Response:
    """``PATCH jobs/ingest/{id}``: close (UploadComplete) or abort."""
    return _patch(call, "ingest")


def _advance(call: Call, job: Job) -> None:
    """Move a closed job on by one poll; it completes after ``polls_before_complete``."""
    if job.state not in ("UploadComplete", "InProgress"):
        return
    job.polls += 1
    if job.polls <= jobs_of(call.org).polls_before_complete:
        job.state = "InProgress"
        return
    if job.kind == "ingest":
        _process(call.org, job)
    else:
        job.state = "JobComplete"
    job.modstamp = call.org.clock.stamp()


def get_ingest(call: Call) -> Response:
    """``GET jobs/ingest/{id}``: job info (the status poll)."""
    job = _job(call, "ingest")
    _advance(call, job)
    return json_response(200, job.info())


def _list(call: Call, kind: str) -> Response:
    jobs = [j.info() for j in jobs_of(call.org).jobs.values() if j.kind == kind]
    return json_response(200, {"done": True, "records": jobs, "nextRecordsUrl": None})


def list_ingest(call: Call) -> Response:
    """``GET jobs/ingest``: all ingest jobs."""
    return _list(call, "ingest")


def _delete(call: Call, kind: str) -> Response:
    job = _job(call, kind)
    if job.state not in ("UploadComplete", "JobComplete", "Aborted", "Failed"):
        raise InvalidJobState(f"Job {job.id} in state {job.state} cannot be deleted")
    del jobs_of(call.org).jobs[job.id]
    return empty_response(204)


def delete_ingest(call: Call) -> Response:
    """``DELETE jobs/ingest/{id}``: 204."""
    return _delete(call, "ingest")


def _parse(job: Job) -> tuple[list[str], list[list[str]]]:
    header: list[str] = []
    rows: list[list[str]] = []
    for text in job.uploads:
        reader = csv.reader(io.StringIO(text, newline=""),
                            delimiter=DELIMITERS[job.column_delimiter])
        for i, row in enumerate(reader):
            if i == 0:
                header = header or row
            elif row:
                rows.append(row)
    return header, rows


def _process(org: Org, job: Job) -> None:
    """Run the job's DML in 10,000-record chunks and keep the per-row results."""
    try:
        header, rows = _parse(job)
    except csv.Error as e:
        job.state, job.error_message = "Failed", f"InvalidBatch : {e}"
        return
    obj = org.schema.get(job.object)
    for col in header:
        if obj.get(col) is None:
            job.state = "Failed"
            job.error_message = f"InvalidBatch : Field name not found : {col}"
            return
    if job.operation in ("delete", "hardDelete") and [c.lower() for c in header] != ["id"]:
        job.state, job.error_message = "Failed", "InvalidBatch : Id column is required"
        return
    job.columns = header
    for start in range(0, len(rows), CHUNK):
        _chunk(org, job, header, rows[start:start + CHUNK])
    org.org_limits.charge_bulk_batches(max(1, -(-len(rows) // CHUNK)))
    job.state = "JobComplete"


def _chunk(org: Org, job: Job, header: list[str], rows: list[list[str]]) -> None:
    good: list[tuple[list[str], dict[str, Any]]] = []
    for row in rows:
        if len(row) != len(header):
            job.failed += 1
            job.failed_rows.append(["", "INVALID_FIELD:Row has a different number of "
                                    "columns than the header: --", *row])
            continue
        # An empty field leaves the value alone; #N/A sets it to null (guide, "Prepare CSV").
        rec = {c: (None if v == "#N/A" else v) for c, v in zip(header, row) if v != ""}
        good.append((row, rec))
    recs = [r for _, r in good]
    if job.operation == "insert":
        results = org.insert(job.object, recs)
    elif job.operation == "update":
        results = org.update(job.object, recs)
    elif job.operation == "upsert":
        assert job.external_id_field is not None
        results = org.upsert(job.object, job.external_id_field, recs)
    else:
        results = org.delete(job.object, [str(r.get(header[0], "")) for r in recs])
    for (row, _), res in zip(good, results):
        job.processed += 1
        if res["success"]:
            created = res.get("created", job.operation == "insert")
            job.success_rows.append([res["id"], "true" if created else "false", *row])
        else:
            job.failed += 1
            e = res["errors"][0]
            job.failed_rows.append([res.get("id") or "",
                                    f"{e['statusCode']}:{e['message']}:"
                                    f"{','.join(e.get('fields') or [])} --", *row])
    job.processed += len(rows) - len(good)


def _csv(job: Job, header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=DELIMITERS[job.column_delimiter],
                   lineterminator=LINE_ENDINGS[job.line_ending], quoting=csv.QUOTE_ALL)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def ingest_results(call: Call) -> Response:
    """``GET jobs/ingest/{id}/successfulResults|failedResults|unprocessedrecords``.

    The last name is matched case-insensitively: the guide spells it
    ``unprocessedrecords``, simple-salesforce asks for ``unprocessedRecords``.
    """
    job = _job(call, "ingest")
    kind = call.params["kind"].lower()
    if kind not in ("successfulresults", "failedresults", "unprocessedrecords"):
        raise NotFound("The requested resource does not exist")
    if kind == "unprocessedrecords":
        if job.state in ("JobComplete",):
            return csv_response(200, _csv(job, job.columns, []))
        header, rows = _parse(job)
        return csv_response(200, _csv(job, header, rows))
    if job.state != "JobComplete":
        raise InvalidJobState(f"Job {job.id} is not complete (state {job.state})")
    if kind == "successfulresults":
        return csv_response(200, _csv(job, ["sf__Id", "sf__Created", *job.columns],
                                      job.success_rows))
    return csv_response(200, _csv(job, ["sf__Id", "sf__Error", *job.columns],
                                  job.failed_rows))


# --- query ------------------------------------------------------------------------------

_LITERAL = re.compile(r"'(?:\\.|[^'\\])*'")
_REFUSED = (
    (re.compile(r"\bGROUP\s+BY\b", re.I), "GROUP BY"),
    (re.compile(r"\bORDER\s+BY\b", re.I), "ORDER BY"),
    (re.compile(r"\bLIMIT\b", re.I), "LIMIT"),
    (re.compile(r"\bOFFSET\b", re.I), "OFFSET"),
    (re.compile(r"\bTYPEOF\b", re.I), "TYPEOF"),
    (re.compile(r"\b(COUNT|COUNT_DISTINCT|SUM|AVG|MIN|MAX)\s*\(", re.I),
     "Aggregate functions"),
    (re.compile(r"\(\s*SELECT\b", re.I), "Parent-to-child relationship queries"),
)
_SELECT = re.compile(r"^\s*SELECT\s+(.+?)\s+FROM\s+([A-Za-z0-9_]+)", re.I | re.S)


def _check_bulk_soql(soql: str) -> tuple[list[str], str]:
    bare = _LITERAL.sub("''", soql)
    for pattern, what in _REFUSED:
        if pattern.search(bare):
            raise InvalidJob(f"InvalidJob : {what} not supported in Bulk API 2.0 query")
    m = _SELECT.match(bare)
    if not m:
        raise InvalidJob("InvalidJob : the query must be SELECT <fields> FROM <object>")
    return [c.strip() for c in m.group(1).split(",") if c.strip()], m.group(2)


def _value(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        low = part.lower()
        value = next((v for k, v in value.items() if k.lower() == low), None)
    return value


def _cell(value: Any) -> str:
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def create_query(call: Call) -> Response:
    """``POST jobs/query``: validate, run the SOQL (snapshot), state UploadComplete."""
    body = _body(call)
    op = body.get("operation", "query")
    if op not in ("query", "queryAll"):
        raise InvalidJob(f"InvalidJob : Invalid operation: {op}")
    soql = body.get("query")
    if not isinstance(soql, str) or not soql.strip():
        raise InvalidInput("query is required", ["query"])
    columns, obj_name = _check_bulk_soql(soql)
    delim, ending = _format(body)
    # The query runs before the job is counted: a query that fails creates no job.
    records = call.org.query_records(soql, include_deleted=op == "queryAll")
    if not call.org.org_limits.charge_bulk_query_job():
        raise LimitExceeded("Daily Bulk API 2.0 query job limit exceeded")
    obj = call.org.schema.get(obj_name)
    header = [_canonical(obj, c, records) for c in columns]
    job = _new_job(call, "query", operation=op, object=obj.name, column_delimiter=delim,
                   line_ending=ending, query=soql, state="UploadComplete")
    job.columns = header
    job.rows = [[_cell(_value(r, c)) for c in columns] for r in records]
    job.processed = len(job.rows)
    return json_response(200, job.info())


def _canonical(obj: Any, column: str, records: list[dict[str, Any]]) -> str:
    """The column's API spelling (``external_id__c`` -> ``External_ID__c``) when known."""
    if "." not in column:
        f = obj.get(column)
        return str(f.name) if f is not None else column
    for r in records[:1]:
        out, value = [], r
        for part in column.split("."):
            key = next((k for k in value if k.lower() == part.lower()), None) \
                if isinstance(value, dict) else None
            if key is None:
                return column
            out.append(key)
            value = value[key]
        return ".".join(out)
    return column


def get_query(call: Call) -> Response:
    """``GET jobs/query/{id}``: job info (the status poll)."""
    job = _job(call, "query")
    _advance(call, job)
    return json_response(200, job.info())


def patch_query(call: Call) -> Response:
    """``PATCH jobs/query/{id}`` ``{"state": "Aborted"}``."""
    return _patch(call, "query")


def delete_query(call: Call) -> Response:
    """``DELETE jobs/query/{id}``: 204."""
    return _delete(call, "query")


def list_query(call: Call) -> Response:
    """``GET jobs/query``: all query jobs."""
    return _list(call, "query")


def _locator(offset: int) -> str:
    return base64.b32encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str) -> int:
    try:
        pad = "=" * (-len(locator) % 8)
        return int(base64.b32decode(locator + pad).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput(f"Invalid locator: {locator}", ["locator"]) from None


def query_results(call: Call) -> Response:
    """``GET jobs/query/{id}/results?maxRecords=&locator=``: one CSV page with headers."""
    job = _job(call, "query")
    if job.state != "JobComplete":
        raise InvalidJobState(f"Job {job.id} is not complete (state {job.state})")
    raw_max = call.request.arg("maxRecords")
    try:
        size = int(raw_max) if raw_max else DEFAULT_MAX_RECORDS
    except ValueError:
        raise InvalidInput(f"maxRecords must be a number: {raw_max}", ["maxRecords"]) from None
    if size < 1:
        raise InvalidInput("maxRecords must be greater than 0", ["maxRecords"])
    loc = call.request.arg("locator")
    start = _offset(loc) if loc else 0
    page = job.rows[start:start + size]
    nxt = start + len(page)
    headers = {"Sforce-NumberOfRecords": str(len(page)),
               "Sforce-Locator": _locator(nxt) if nxt < len(job.rows) else "null"}
    return csv_response(200, _csv(job, job.columns, page), headers)
