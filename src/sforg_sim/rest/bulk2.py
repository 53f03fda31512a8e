"""Bulk API 2.0: ingest jobs (CSV in, SaveResults as CSV out) and query jobs (CSV pages).

Ingest (Bulk API 2.0 guide, "Ingest jobs"): create (``state: Open``) -> ``PUT batches``
with CSV (201, empty body) -> ``PATCH {"state": "UploadComplete"}`` -> poll the job ->
``successfulResults`` (``sf__Id, sf__Created, <columns>``), ``failedResults``
(``sf__Id, sf__Error, <columns>``), ``unprocessedrecords``. Query (guide, "Query jobs"):
create -> poll -> ``results?maxRecords=&locator=`` as CSV pages with the header row,
``Sforce-NumberOfRecords`` and ``Sforce-Locator`` (the string ``null`` on the last page).
Bulk API 2.0 queries may not use GROUP BY, OFFSET, TYPEOF, aggregate functions or
parent-to-child subqueries (guide, "Create a Query Job"); ORDER BY and LIMIT are refused
too (the v250 and later guides list them as unsupported; docs/fidelity.md B4).

Timing: jobs finish on the first status poll by default, so simple-salesforce's bulk2
helpers need no sleeping beyond their own ``wait``. ``jobs_of(org).polls_before_complete =
N`` makes the first N polls answer ``InProgress`` (to test client polling loops).

Storage and lifetime (the server runs for hours in a rehearsal): a job's uploaded CSV, its
ingest results and its query results live in files under a temporary directory owned by
the org's job registry (:class:`Bulk2Jobs`), not in memory; only a small row index is read
per results page. Deleting a job deletes its files. Jobs in a terminal state (JobComplete,
Failed, Aborted) are deleted with their results after 7 days ("Results lifespan. Jobs
that are older than 7 days are deleted if they are in a terminal state": *Bulk API 2.0
Developer Guide*, "Limits and Allocations",
https://developer.salesforce.com/docs/atlas.en-us.228.0.api_bulk_v2.meta/api_bulk_v2/bulk_api_2_limits.htm;
*Limits Quick Reference*, "Bulk API and Bulk API 2.0 Limits and Allocations", General
Limits, https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-bulkapi.html).
Age is simulated time, or, while ``serve`` runs (it sets :attr:`Bulk2Jobs.wall`), the
wall time elapsed since the job was made when that is longer: the simulated clock need
not move while a server idles. A CSV field the parser cannot hold (over 131,072
characters; the guide's limit is 32,000 characters per field) fails the job with
``InvalidBatch``; ``unprocessedrecords`` then returns the uploaded data as it came.

Deviations: query jobs snapshot their rows when created (real ones run on the server's
schedule); an unknown CSV column fails the whole job with "InvalidBatch : Field name not
found : X" (relationship columns such as ``Account.External_ID__c`` are mapped to
nested External-ID references: :func:`.bulkops.column_plan`);
``hardDelete`` is a soft delete (the org has no recycle-bin purge); ``sf__Error`` is
``STATUS_CODE:message:fields --``; error codes for refused job requests (INVALIDJOB,
INVALIDJOBSTATE) follow the Bulk API 1.0 names, the 2.0 ones are unconfirmed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import io
import re
import shutil
import struct
import tempfile
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
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
from .bulkops import BadHeader as _BadHeader
from .bulkops import Column as _Column
from .bulkops import JobRefused, check_job, run_dml
from .bulkops import canonical_column as _canonical
from .bulkops import column_plan as _column_plan
from .bulkops import csv_cell as _cell
from .bulkops import csv_record as _record
from .bulkops import field_value as _value
from .messages import Call, Response, csv_response, empty_response, json_response, utf8

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
RESULTS_LIFESPAN = 7 * 24 * 3600.0
"""Seconds a job in a terminal state is kept (7 days; see the module docstring)."""
TERMINAL = ("JobComplete", "Failed", "Aborted")
_QUERY_PAGE = 2000
"""Rows read per SOQL batch while a query job writes its results file."""


class RowFile:
    """CSV rows on disk, addressable by row number: the data file and an index of 8-byte
    row offsets. Memory use is one row at a time, whatever the number of rows.

    Rows are written quoted (``QUOTE_ALL``) with the job's delimiter and line ending, so a
    page of results is a byte range of the data file. Files are opened per operation,
    so thousands of jobs do not hold thousands of open files.
    """

    def __init__(self, path: Path, delimiter: str, line_ending: str) -> None:
        self.path = path
        self.count = 0
        self.size = 0
        self._buf = io.StringIO()
        self._writer = csv.writer(self._buf, delimiter=delimiter, lineterminator=line_ending,
                                  quoting=csv.QUOTE_ALL)
        path.with_suffix(".csv").write_bytes(b"")
        path.with_suffix(".idx").write_bytes(b"")

    @contextlib.contextmanager
    def appending(self) -> Iterator[Callable[[list[str]], None]]:
        """``with rows.appending() as add: add(row)``: append rows (one open per batch)."""
        with open(self.path.with_suffix(".csv"), "ab") as data, \
                open(self.path.with_suffix(".idx"), "ab") as index:
            def add(row: list[str]) -> None:
                self._writer.writerow(row)
                raw = utf8(self._buf.getvalue())
                self._buf.seek(0)
                self._buf.truncate()
                index.write(struct.pack("<q", self.size))
                data.write(raw)
                self.size += len(raw)
                self.count += 1
            yield add

    def read(self, start: int, stop: int) -> bytes:
        """The bytes of rows ``start .. stop-1`` (clamped to the rows there are)."""
        stop = min(stop, self.count)
        if start >= stop:
            return b""
        with open(self.path.with_suffix(".idx"), "rb") as index:
            index.seek(8 * start)
            (begin,) = struct.unpack("<q", index.read(8))
            if stop < self.count:
                index.seek(8 * stop)
                (end,) = struct.unpack("<q", index.read(8))
            else:
                end = self.size
        with open(self.path.with_suffix(".csv"), "rb") as data:
            data.seek(begin)
            return data.read(end - begin)

    def delete(self) -> None:
        """Remove both files."""
        for suffix in (".csv", ".idx"):
            with contextlib.suppress(OSError):
                self.path.with_suffix(suffix).unlink()


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
    uploads: list[Path] = field(default_factory=list)
    processed: int = 0
    failed: int = 0
    error_message: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: RowFile | None = None
    success_rows: RowFile | None = None
    failed_rows: RowFile | None = None
    made_at: float = 0.0
    """SimClock seconds when the job was made (its age for the 7-day lifespan)."""
    made_wall: float | None = None
    """Wall-clock seconds (monotonic) when made, while a server runs; else None."""

    def files(self) -> list[Path]:
        """Every file the job owns (for deletion)."""
        out = list(self.uploads)
        for rf in (self.rows, self.success_rows, self.failed_rows):
            if rf is not None:
                out += [rf.path.with_suffix(".csv"), rf.path.with_suffix(".idx")]
        return out

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
    """The org's Bulk API 2.0 jobs (hung on the org by :func:`jobs_of`) and the temporary
    directory their data lives in (made on first use, removed with this object or at
    interpreter exit)."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.counter = 0
        self.polls_before_complete = 0
        self.wall: Callable[[], float] | None = None
        """A wall clock (``time.monotonic``) while a server runs: job age then also counts
        wall time (``serve`` sets it; ``None`` means simulated time only)."""
        self._dir: Path | None = None

    @property
    def directory(self) -> Path:
        """The temporary directory holding the jobs' files."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="sforg-sim-bulk2-"))
            weakref.finalize(self, shutil.rmtree, str(self._dir), True)
        return self._dir

    def delete(self, job: Job) -> None:
        """Forget a job and delete its files."""
        self.jobs.pop(job.id, None)
        for path in job.files():
            with contextlib.suppress(OSError):
                path.unlink()

    def sweep(self, now: float) -> None:
        """Delete terminal jobs older than :data:`RESULTS_LIFESPAN` (simulated time, or
        wall time while serving when that is longer)."""
        wall = self.wall() if self.wall is not None else None
        for job in [j for j in self.jobs.values() if j.state in TERMINAL]:
            age = now - job.made_at
            if wall is not None and job.made_wall is not None:
                age = max(age, wall - job.made_wall)
            if age >= RESULTS_LIFESPAN:
                self.delete(job)


def jobs_of(org: Org) -> Bulk2Jobs:
    """The job registry of ``org``, created on first use and kept on the org object."""
    return org.attached(Bulk2Jobs, Bulk2Jobs)


def _jobs(call: Call) -> Bulk2Jobs:
    """The registry, with expired jobs swept first (every Bulk request passes here)."""
    jobs = jobs_of(call.org)
    jobs.sweep(call.org.clock.time())
    return jobs


def _new_job(call: Call, kind: str, **kw: Any) -> Job:
    jobs = _jobs(call)
    jobs.counter += 1
    job = Job(ids.make_id("750", jobs.counter), kind, created_by=call.user_id or
              call.org.user_id, created=call.org.clock.stamp(), api_version=call.version,
              made_at=call.org.clock.time(),
              made_wall=jobs.wall() if jobs.wall is not None else None, **kw)
    jobs.jobs[job.id] = job
    return job


def _row_file(call: Call, job: Job, name: str) -> RowFile:
    return RowFile(jobs_of(call.org).directory / f"{job.id}-{name}",
                   DELIMITERS[job.column_delimiter], LINE_ENDINGS[job.line_ending])


def _job(call: Call, kind: str) -> Job:
    job = _jobs(call).jobs.get(call.params["job_id"])
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
    # The object must support the operation, and an upsert's externalIdFieldName must be
    # an External ID (or Id): refused here, as Bulk API 1.0 does (bulkops.check_job).
    try:
        ext = check_job(obj, op, body.get("externalIdFieldName"))
    except JobRefused as e:
        raise InvalidJob(f"InvalidJob : {e.message}") from None
    delim, ending = _format(body)
    job = _new_job(call, "ingest", operation=op, object=obj.name, column_delimiter=delim,
                   line_ending=ending, external_id_field=ext)
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
        call.request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidJob("InvalidBatch : CSV data is not valid UTF-8") from None
    path = jobs_of(call.org).directory / f"{job.id}-upload{len(job.uploads)}.csv"
    path.write_bytes(call.request.body)
    job.uploads.append(path)
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
        _process(call, job)
    else:
        job.state = "JobComplete"
    job.modstamp = call.org.clock.stamp()


def get_ingest(call: Call) -> Response:
    """``GET jobs/ingest/{id}``: job info (the status poll)."""
    job = _job(call, "ingest")
    _advance(call, job)
    return json_response(200, job.info())


def _list(call: Call, kind: str) -> Response:
    jobs = [j.info() for j in _jobs(call).jobs.values() if j.kind == kind]
    return json_response(200, {"done": True, "records": jobs, "nextRecordsUrl": None})


def list_ingest(call: Call) -> Response:
    """``GET jobs/ingest``: all ingest jobs."""
    return _list(call, "ingest")


def _delete(call: Call, kind: str) -> Response:
    job = _job(call, kind)
    if job.state not in ("UploadComplete", "JobComplete", "Aborted", "Failed"):
        raise InvalidJobState(f"Job {job.id} in state {job.state} cannot be deleted")
    jobs_of(call.org).delete(job)
    return empty_response(204)


def delete_ingest(call: Call) -> Response:
    """``DELETE jobs/ingest/{id}``: 204."""
    return _delete(call, "ingest")


def _header(job: Job) -> list[str]:
    """The first upload's header row ([] when nothing was uploaded)."""
    for path in job.uploads[:1]:
        with open(path, encoding="utf-8", newline="") as f:
            return next(csv.reader(f, delimiter=DELIMITERS[job.column_delimiter]), [])
    return []


def _data_rows(job: Job) -> Iterator[list[str]]:
    """Every non-empty data row of every upload (each upload's first row is its header),
    read from disk one row at a time. Raises csv.Error on CSV the parser refuses."""
    for path in job.uploads:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f, delimiter=DELIMITERS[job.column_delimiter])
            next(reader, None)
            for row in reader:
                if row:
                    yield row


def _process(call: Call, job: Job) -> None:
    """Run the job's DML in 10,000-record chunks and keep the per-row results on disk."""
    org = call.org
    try:
        header = _header(job)
        for _ in _data_rows(job):  # validate the whole CSV before any DML runs
            pass
    except csv.Error as e:
        job.state, job.error_message = "Failed", f"InvalidBatch : {e}"
        return
    obj = org.schema.get(job.object)
    try:
        plan = _column_plan(org, obj, header)
    except _BadHeader as e:
        job.state, job.error_message = "Failed", f"InvalidBatch : {e}"
        return
    if job.operation in ("delete", "hardDelete") and [c.lower() for c in header] != ["id"]:
        job.state, job.error_message = "Failed", "InvalidBatch : Id column is required"
        return
    job.columns = header
    job.success_rows = _row_file(call, job, "success")
    job.failed_rows = _row_file(call, job, "failed")
    chunks = 0
    with job.success_rows.appending() as ok, job.failed_rows.appending() as bad:
        chunk: list[list[str]] = []
        for row in _data_rows(job):
            chunk.append(row)
            if len(chunk) == CHUNK:
                _chunk(org, job, plan, chunk, ok, bad)
                chunks += 1
                chunk = []
        if chunk or not chunks:
            _chunk(org, job, plan, chunk, ok, bad)
            chunks += 1
    org.org_limits.charge_bulk_batches(chunks)
    job.state = "JobComplete"


def _chunk(org: Org, job: Job, plan: list[_Column], rows: list[list[str]],
           ok: Callable[[list[str]], None], bad: Callable[[list[str]], None]) -> None:
    header = job.columns
    good: list[tuple[list[str], dict[str, Any]]] = []
    for row in rows:
        if len(row) != len(header):
            job.failed += 1
            bad(["", "INVALID_FIELD:Row has a different number of columns than the "
                 "header: --", *row])
            continue
        good.append((row, _record(plan, row)))
    recs = [r for _, r in good]
    results = run_dml(org, job.operation, job.object, job.external_id_field, recs)
    for (row, _), res in zip(good, results):
        job.processed += 1
        if res["success"]:
            created = res.get("created", job.operation == "insert")
            ok([res["id"], "true" if created else "false", *row])
        else:
            job.failed += 1
            e = res["errors"][0]
            bad([res.get("id") or "", f"{e['statusCode']}:{e['message']}:"
                 f"{','.join(e.get('fields') or [])} --", *row])
    job.processed += len(rows) - len(good)


def _csv(job: Job, header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=DELIMITERS[job.column_delimiter],
                   lineterminator=LINE_ENDINGS[job.line_ending], quoting=csv.QUOTE_ALL)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _page(job: Job, header: list[str], rows: RowFile | None, start: int = 0,
          stop: int | None = None, headers: dict[str, str] | None = None) -> Response:
    """A CSV response: the header row, then rows ``start .. stop-1`` straight from disk."""
    head = utf8(_csv(job, header, []))
    body = rows.read(start, rows.count if stop is None else stop) if rows else b""
    resp = csv_response(200, "", headers)
    resp.body = head + body
    return resp


def _raw_uploads(job: Job) -> bytes:
    """The uploaded data as it came: the first upload whole, later ones without their
    header line (used when the CSV cannot be parsed)."""
    out = []
    for i, path in enumerate(job.uploads):
        raw = path.read_bytes()
        out.append(raw if i == 0 else raw.partition(b"\n")[2])
    return b"".join(out)


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
        try:
            header = _header(job)
            buf = io.StringIO()
            w = csv.writer(buf, delimiter=DELIMITERS[job.column_delimiter],
                           lineterminator=LINE_ENDINGS[job.line_ending],
                           quoting=csv.QUOTE_ALL)
            w.writerow(header)
            for row in _data_rows(job):
                w.writerow(row)
            return csv_response(200, buf.getvalue())
        except csv.Error:
            # The data could not be parsed (e.g. a field longer than the parser holds):
            # every record is unprocessed, so the upload comes back as it was sent.
            resp = csv_response(200, "")
            resp.body = _raw_uploads(job)
            return resp
    if job.state != "JobComplete":
        raise InvalidJobState(f"Job {job.id} is not complete (state {job.state})")
    if kind == "successfulresults":
        return _page(job, ["sf__Id", "sf__Created", *job.columns], job.success_rows)
    return _page(job, ["sf__Id", "sf__Error", *job.columns], job.failed_rows)


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
    # The query runs before the job is counted: a query that fails creates no job. Its
    # rows are read a batch at a time (a cursor) and written to the job's results file,
    # so a 2,000,000-row job never holds its rows in memory.
    org = call.org
    page = org.query(soql, batch_size=_QUERY_PAGE, include_deleted=op == "queryAll")
    if not org.org_limits.charge_bulk_query_job():
        _close_cursor(org, page)
        raise LimitExceeded("Daily Bulk API 2.0 query job limit exceeded")
    obj = org.schema.get(obj_name)
    header = [_canonical(obj, c, page["records"]) for c in columns]
    job = _new_job(call, "query", operation=op, object=obj.name, column_delimiter=delim,
                   line_ending=ending, query=soql, state="UploadComplete")
    job.columns = header
    job.rows = _row_file(call, job, "results")
    with job.rows.appending() as add:
        while True:
            for r in page["records"]:
                add([_cell(_value(r, c)) for c in columns])
            nxt = page.get("nextRecordsUrl")
            if not nxt:
                break
            page = org.query_more(nxt, batch_size=_QUERY_PAGE)
    job.processed = job.rows.count
    return json_response(200, job.info())


def _close_cursor(org: Org, page: dict[str, Any]) -> None:
    """Read a refused job's cursor to its end, so it is released at once."""
    while page.get("nextRecordsUrl"):
        page = org.query_more(page["nextRecordsUrl"], batch_size=_QUERY_PAGE)




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
    total = job.rows.count if job.rows is not None else 0
    start = min(max(start, 0), total)
    nxt = min(start + size, total)
    headers = {"Sforce-NumberOfRecords": str(nxt - start),
               "Sforce-Locator": _locator(nxt) if nxt < total else "null"}
    return _page(job, job.columns, job.rows, start, nxt, headers)
