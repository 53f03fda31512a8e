"""The checks: the stage aggregate, partitioned counting, proof of processing, limits and
progress. Everything here goes through simple-salesforce's public API (``query``,
``query_more``, ``limits``) on a :class:`~verify.connect.Connection`.

The stage aggregate is the team's own SOQL::

    SELECT StageName, COUNT(Id) cnt FROM Opportunity
    WHERE External_ID__c LIKE 'externalOpp%' GROUP BY StageName

On a large org that aggregate can fail with QUERY_TIMEOUT. Then (or with ``--partitions
N``) the same aggregate runs once per External ID range and the counts are summed. The
ranges are half-open ``[lo, hi)`` and the first and last are open-ended, so every record
the WHERE clause matches falls in exactly one partition whatever the boundaries are; a
further partition counts records with no External ID (``< lo`` never matches NULL),
unless the WHERE clause is one comparison of the partition field with a text literal
(the default ``LIKE 'externalOpp%'``): no such record can match it, and that partition's
query, having no index filter, would be the fallback's one full scan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from .connect import Connection
from .errors import (
    CheckAborted,
    Failure,
    QueryTimeout,
    RetryPolicy,
    VerifyError,
    is_concurrent_limit,
    with_retry,
)
from .expectations import Expectation, Row, display_value, evaluate

__all__ = ["DEFAULT_WHERE", "CheckResult", "CheckSpec", "Checker", "Partition",
           "PartitionCount", "derive_partitions", "format_datetime", "parse_datetime",
           "parse_ranges", "soql_string"]

T = TypeVar("T")

DEFAULT_WHERE = "External_ID__c LIKE 'externalOpp%'"
DEFAULT_PARTITIONS = 10
"""The team's job runs 10 partitions; the fallback uses as many."""
MAX_SPLIT_DEPTH = 3
"""A partition that itself times out is halved, at most this many times."""


def soql_string(value: str) -> str:
    """A SOQL string literal: quotes and backslashes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_datetime(text: str) -> datetime:
    """ISO 8601 date or date-time; without an offset it is taken as UTC (said in --help)."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise VerifyError(f"bad date-time {text!r}: expected ISO 8601, e.g. "
                          "2025-01-31T02:00:00Z", "BAD_FLAG") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def format_datetime(dt: datetime) -> str:
    """A SOQL datetime literal in UTC: ``2025-01-31T02:00:00Z`` (milliseconds if any)."""
    dt = dt.astimezone(timezone.utc)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- partitions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    """A half-open range ``[lower, upper)`` of the partition field; None = unbounded.

    ``null=True`` is the partition of records whose partition field is empty.
    """

    lower: str | None
    upper: str | None
    null: bool = False

    @property
    def label(self) -> str:
        """How the report names it."""
        if self.null:
            return "(no value)"
        lo = self.lower if self.lower is not None else "…"
        hi = self.upper if self.upper is not None else "…"
        return f"[{lo}, {hi})"

    def condition(self, fld: str) -> str | None:
        """The SOQL condition selecting this partition (None: no condition)."""
        if self.null:
            return f"{fld} = null"
        parts = []
        if self.lower is not None:
            parts.append(f"{fld} >= {soql_string(self.lower)}")
        if self.upper is not None:
            parts.append(f"{fld} < {soql_string(self.upper)}")
        return " AND ".join(parts) or f"{fld} != null"

    def halves(self) -> tuple[Partition, Partition] | None:
        """Split at the numeric midpoint when both bounds are ``PREFIX + digits``."""
        if self.null or self.lower is None or self.upper is None:
            return None
        a, b = _numeric(self.lower), _numeric(self.upper)
        if a is None or b is None or a[0].upper() != b[0].upper() or a[2] != b[2]:
            return None
        if b[1] - a[1] < 2:
            return None
        mid = _format_numeric(a[0], (a[1] + b[1]) // 2, a[2])
        return Partition(self.lower, mid), Partition(mid, self.upper)


_NUMERIC = re.compile(r"^(.*?)(\d+)$")


def _numeric(s: str) -> tuple[str, int, int] | None:
    """(prefix, number, digit width) for ``externalOpp0000042``-style values."""
    m = _NUMERIC.match(s)
    return (m.group(1), int(m.group(2)), len(m.group(2))) if m else None


def _format_numeric(prefix: str, n: int, width: int) -> str:
    return f"{prefix}{n:0{width}d}"


def _sort_key(s: str) -> str:
    # Salesforce orders and compares text case-insensitively by the upper-case form
    # (shared/SALESFORCE_FACTS.md), so boundaries are ordered the same way.
    return s.upper()


def _from_boundaries(bounds: Sequence[str]) -> list[Partition]:
    edges: list[str | None] = [None, *bounds, None]
    return [Partition(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def derive_partitions(lowest: str, highest: str, n: int) -> tuple[list[Partition], str | None]:
    """``n`` ranges between the data's min and max; (partitions, note).

    Values like ``externalOpp0000001`` .. ``externalOpp2000000`` (same prefix and digit
    width) split into ``n`` near-equal numeric ranges, formatted with the same width so
    they order the same way as text. Other values cannot be split reliably: one open
    partition, with a note.
    """
    a, b = _numeric(lowest), _numeric(highest)
    if (a is None or b is None or a[0].upper() != b[0].upper() or a[2] != b[2]
            or b[1] <= a[1]):
        note = None if lowest == highest else (
            f"cannot split {lowest!r}..{highest!r} into numeric ranges; counted as one "
            "partition (give --ranges to split it)")
        return [Partition(None, None)], note
    span = b[1] - a[1] + 1
    n = max(1, min(n, span))
    bounds = [_format_numeric(a[0], a[1] + (span * i + n - 1) // n, a[2]) for i in range(1, n)]
    return _from_boundaries(sorted(set(bounds), key=_sort_key)), None


def parse_ranges(text: str) -> list[Partition]:
    """``--ranges``: boundaries ``B1,B2,...`` or the team's ``A to B, B to C`` pairs.

    Every endpoint becomes a boundary; an open partition is added below the first and
    above the last, so records outside the given ranges are counted too (and show up).
    """
    bounds: list[str] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        for part in re.split(r"\s+to\s+|\.\.", item):
            p = part.strip().strip("'\"")
            if not p:
                raise VerifyError(f"bad --ranges item {item!r}", "BAD_FLAG")
            bounds.append(p)
    if not bounds:
        raise VerifyError("--ranges needs at least one boundary, e.g. "
                          "'externalOpp0000001 to externalOpp1000001'", "BAD_FLAG")
    unique: dict[str, str] = {}
    for bd in bounds:
        unique.setdefault(_sort_key(bd), bd)
    return _from_boundaries([unique[k] for k in sorted(unique)])


_NON_NULL_TEST = r"\s*(?:=|<|<=|>|>=|LIKE)\s*'(?:[^'\\]|\\.)*'\s*"


def _excludes_null(where: str | None, fld: str) -> bool:
    """True when ``where`` is one comparison of ``fld`` with a string literal (``=``, a
    range or LIKE), which no record whose ``fld`` is null can satisfy (SOQL range
    operators and LIKE never match null; ``= 'x'`` does not either)."""
    if not where:
        return False
    inner = where.strip()
    while inner.startswith("(") and inner.endswith(")"):
        inner = inner[1:-1].strip()
    return re.fullmatch(re.escape(fld) + _NON_NULL_TEST, inner, re.IGNORECASE) is not None


def _more(sf: Any, url: str) -> Callable[[], Any]:
    """A call fetching the page at ``url`` (bound now, not when the loop moves on)."""
    return lambda: sf.query_more(url, identifier_is_url=True)


# --- results ------------------------------------------------------------------------------


@dataclass
class PartitionCount:
    """Counts of one partition (after any splitting), with its attempts."""

    partition: Partition
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Records in the partition."""
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        """Stable JSON: label, lower, upper, null, counts, total."""
        p = self.partition
        return {"label": p.label, "lower": p.lower, "upper": p.upper, "null": p.null,
                "counts": dict(self.counts), "total": self.total}


@dataclass
class Counted:
    """Value counts and how they were obtained."""

    counts: dict[str, int]
    mode: str  # "aggregate" | "partitioned"
    partitions: list[PartitionCount] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class CheckSpec:
    """What to count and how (the check's command-line options)."""

    sobject: str = "Opportunity"
    field: str = "StageName"
    where: str = DEFAULT_WHERE
    partition_field: str = "External_ID__c"
    partitions: int | None = None
    ranges: list[Partition] | None = None
    strict: bool = False
    modified_since: datetime | None = None
    modified_field: str = "LastModifiedDate"


@dataclass
class CheckResult:
    """The outcome of the stage check."""

    rows: list[Row]
    soql: str
    counted: Counted
    modified_since: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Every row holds and no record escaped processing."""
        return all(r.ok for r in self.rows) and (
            self.modified_since is None or bool(self.modified_since["ok"]))


class Checker:
    """Runs checks against one connection, with retries and API-limit awareness."""

    def __init__(self, conn: Connection, policy: RetryPolicy | None = None) -> None:
        self.conn = conn
        self.policy = policy or RetryPolicy()

    # --- calls ----------------------------------------------------------------------------

    def _fatal(self, failure: Failure) -> VerifyError:
        if is_concurrent_limit(failure):
            # Retried already (transient) and still refused: the org is busy, not out of
            # quota, so say which limit it was.
            return VerifyError(
                f"REQUEST_LIMIT_EXCEEDED (concurrent long-running requests, not the daily "
                f"quota): {failure.message} The org has too many requests of 20 s or "
                "longer running; try again later", failure.code)
        if failure.code == "REQUEST_LIMIT_EXCEEDED":
            u = self.conn.usage
            left = ("unknown (no Sforce-Limit-Info seen)" if u.remaining is None
                    else f"{u.remaining:,} of {u.maximum:,}")
            return CheckAborted(
                f"REQUEST_LIMIT_EXCEEDED (daily API allocation): {failure.message} "
                "Stopped without retrying; "
                f"API calls remaining in the rolling 24 h window: {left}",
                failure.code)
        cls = QueryTimeout if failure.code == "QUERY_TIMEOUT" else VerifyError
        return cls(f"{failure.code}: {failure.message}", failure.code)

    def call(self, fn: Callable[[], T]) -> T:
        """One API call with retries; failures become :class:`VerifyError`."""
        return with_retry(fn, self.policy, self._fatal)

    def records(self, soql: str) -> Iterator[dict[str, Any]]:
        """All records of a query, page by page (each page retried on its own)."""
        sf = self.conn.sf
        page = self.call(lambda: sf.query(soql))
        while True:
            yield from page.get("records", [])
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            page = self.call(_more(sf, str(page["nextRecordsUrl"])))

    # --- counting -------------------------------------------------------------------------

    @staticmethod
    def aggregate_soql(spec: CheckSpec, where: str | None) -> str:
        """The team's aggregate for ``spec``'s object and field, with ``where``."""
        clause = f" WHERE {where}" if where else ""
        return (f"SELECT {spec.field}, COUNT(Id) cnt FROM {spec.sobject}{clause} "
                f"GROUP BY {spec.field}")

    def group_counts(self, spec: CheckSpec, where: str | None) -> dict[str, int]:
        """``{value: count}`` from one GROUP BY aggregate."""
        counts: dict[str, int] = {}
        for rec in self.records(self.aggregate_soql(spec, where)):
            # The group column comes back under the org's spelling of the field name,
            # which may differ in case from --field: take the key that is not ours.
            keys = [k for k in rec if k not in ("attributes", "cnt")]
            value = display_value(rec[keys[0]]) if keys else display_value(None)
            counts[value] = counts.get(value, 0) + int(rec.get("cnt") or 0)
        return counts

    @staticmethod
    def _and(*conds: str | None) -> str | None:
        parts = [c for c in conds if c]
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        return " AND ".join(f"({p})" for p in parts)

    def _extreme(self, spec: CheckSpec, where: str | None, desc: bool) -> str | None:
        pf = spec.partition_field
        cond = self._and(where, f"{pf} != null")
        soql = (f"SELECT {pf} FROM {spec.sobject} WHERE {cond} "
                f"ORDER BY {pf} {'DESC' if desc else 'ASC'} LIMIT 1")
        for rec in self.records(soql):
            keys = [k for k in rec if k != "attributes"]
            return str(rec[keys[0]]) if keys else None
        return None

    def plan_partitions(self, spec: CheckSpec, where: str | None,
                        n: int) -> tuple[list[Partition], list[str]]:
        """Partitions from ``--ranges`` or from the data's min/max; plus notes."""
        notes: list[str] = []
        if spec.ranges:
            parts = list(spec.ranges)
        else:
            lo = self._extreme(spec, where, desc=False)
            hi = self._extreme(spec, where, desc=True)
            if lo is None or hi is None:
                parts = [Partition(None, None)]
                notes.append(f"no record has a {spec.partition_field}")
            else:
                parts, note = derive_partitions(lo, hi, n)
                notes.append(f"{len(parts)} ranges of {spec.partition_field} derived from "
                             f"its min {lo!r} and max {hi!r}")
                if note:
                    notes.append(note)
        if _excludes_null(where, spec.partition_field):
            # The null partition would count nothing, and its query (``LIKE ... AND
            # field = null``) has no index filter: on a large org it is the one full scan
            # of the fallback, and would time out like the aggregate it replaces.
            notes.append(f"no record without a {spec.partition_field} can match the WHERE "
                         "clause: the (no value) partition is not queried")
            return parts, notes
        return [*parts, Partition(None, None, null=True)], notes

    def _count_partition(self, spec: CheckSpec, where: str | None, part: Partition,
                         depth: int = 0) -> list[PartitionCount]:
        cond = self._and(where, part.condition(spec.partition_field))
        try:
            return [PartitionCount(part, self.group_counts(spec, cond))]
        except QueryTimeout:
            halves = part.halves()
            if halves is None or depth >= MAX_SPLIT_DEPTH:
                raise
            return [pc for h in halves
                    for pc in self._count_partition(spec, where, h, depth + 1)]

    def count(self, spec: CheckSpec, where: str | None, force_partitions: bool = False,
              plan: list[Partition] | None = None, notes: list[str] | None = None) -> Counted:
        """Counts per value: one aggregate, or per partition when forced or timed out."""
        notes = list(notes or [])
        if not force_partitions and plan is None:
            try:
                return Counted(self.group_counts(spec, where), "aggregate", notes=notes)
            except QueryTimeout as e:
                notes.append(f"the aggregate failed ({e}); counting per "
                             f"{spec.partition_field} range instead")
        if plan is None:
            plan, more = self.plan_partitions(spec, where,
                                              spec.partitions or DEFAULT_PARTITIONS)
            notes.extend(more)
        results: list[PartitionCount] = []
        for part in plan:
            results.extend(self._count_partition(spec, where, part))
        total: dict[str, int] = {}
        for pc in results:
            for value, n in pc.counts.items():
                total[value] = total.get(value, 0) + n
        return Counted(total, "partitioned", results, notes)

    # --- the checks -----------------------------------------------------------------------

    def check(self, spec: CheckSpec, expectations: Sequence[Expectation]) -> CheckResult:
        """The stage check, and the proof of processing when ``modified_since`` is set."""
        where = spec.where or None
        force = bool(spec.partitions or spec.ranges)
        counted = self.count(spec, where, force_partitions=force)
        rows = evaluate(expectations, counted.counts, strict=spec.strict)
        result = CheckResult(rows, self.aggregate_soql(spec, where), counted)
        if spec.modified_since is not None:
            since = format_datetime(spec.modified_since)
            cond = self._and(where, f"{spec.modified_field} < {since}")
            # Same plan as the main count: if the aggregate timed out, this one would too.
            plan = None
            if counted.mode == "partitioned":
                plan = [pc.partition for pc in counted.partitions]
            stale = self.count(spec, cond, plan=plan)
            n = sum(stale.counts.values())
            result.modified_since = {
                "since": since, "field": spec.modified_field, "not_modified": n,
                "by_value": stale.counts, "ok": n == 0,
                "soql": self.aggregate_soql(spec, cond)}
        return result

    def limits(self) -> dict[str, dict[str, int]]:
        """The org's ``/limits`` body."""
        sf = self.conn.sf
        body = self.call(lambda: sf.limits())
        return {k: dict(v) for k, v in body.items() if isinstance(v, dict)}

    def jobs(self, job_class: str | None = None, since: datetime | None = None,
             limit: int = 500) -> list[dict[str, Any]]:
        """AsyncApexJob rows (newest first) as the team's check_progress reads them."""
        conds = ["JobType IN ('BatchApex', 'Queueable', 'ScheduledApex')"]
        if job_class:
            conds.append(f"ApexClass.Name = {soql_string(job_class)}")
        if since:
            conds.append(f"CreatedDate >= {format_datetime(since)}")
        soql = ("SELECT Id, Status, JobType, JobItemsProcessed, TotalJobItems, "
                "NumberOfErrors, ExtendedStatus, CreatedDate, CompletedDate "
                f"FROM AsyncApexJob WHERE {' AND '.join(conds)} "
                f"ORDER BY CreatedDate DESC LIMIT {int(limit)}")
        return [{k: v for k, v in r.items() if k != "attributes"} for r in self.records(soql)]


def summarize_jobs(jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per status: jobs, batches processed / total, errors (statuses in lifecycle order)."""
    order = ["Holding", "Queued", "Preparing", "Processing", "Completed", "Aborted", "Failed"]
    by: dict[str, dict[str, Any]] = {}
    for j in jobs:
        s = str(j.get("Status") or "(none)")
        d = by.setdefault(s, {"status": s, "jobs": 0, "items_processed": 0,
                              "total_items": 0, "errors": 0})
        d["jobs"] += 1
        d["items_processed"] += int(j.get("JobItemsProcessed") or 0)
        d["total_items"] += int(j.get("TotalJobItems") or 0)
        d["errors"] += int(j.get("NumberOfErrors") or 0)
    return sorted(by.values(), key=lambda d: (order.index(d["status"])
                                              if d["status"] in order else len(order),
                                              d["status"]))
