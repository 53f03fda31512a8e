"""Output: rich tables for people, ``--json`` with stable keys for pipelines.

Every JSON document has the same envelope, whatever the subcommand and outcome::

    {"schema": 1, "command": "check", "status": 0, "ok": true, "exit_code": 0,
     "org": {"instance_url": ..., "api_version": ..., "source": ...} | null,
     "api_calls": {"used_by_run", "requests", "counted", "org_used", "org_max",
                   "remaining"} | null,
     "retries": 0, "notes": [...], "error": null | {"code": ..., "message": ...},
     ...subcommand keys (check: "query", "mode", "strict", "rows", "total",
        "partitions", "modified_since"; limits: "limits"; progress: "jobs_by_status",
        "jobs", "stages"; reconcile: "reconcile")}

``status`` is the exit code under the key the Salesforce CLI's ``--json`` uses; ``sforg-sim
seed``/``replay --json`` print the same envelope (``schema``, ``command``, ``status``,
``ok``, ``exit_code``, ``error``) with their own keys, so one parser reads both CLIs.
Keys are never removed or renamed within a schema version; everything printed passes
through :func:`verify.redact.redact_obj` so no secret reaches the output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .checks import CheckResult
from .connect import Connection
from .expectations import Row
from .reconcile import ReconcileResult
from .redact import redact, redact_obj

__all__ = ["SCHEMA_VERSION", "check_json", "envelope", "limits_json", "print_json",
           "progress_json", "reconcile_json", "render_check", "render_limits",
           "render_progress", "render_reconcile"]

SCHEMA_VERSION = 1


def _n(v: int | None) -> str:
    return "" if v is None else f"{v:,}"


def _signed(v: int | None) -> str:
    return "" if v is None else ("0" if v == 0 else f"{v:+,}")


def envelope(command: str, exit_code: int, conn: Connection | None, notes: Sequence[str] = (),
             error: dict[str, str] | None = None, retries: int = 0) -> dict[str, Any]:
    """The keys every JSON document carries."""
    return {
        "schema": SCHEMA_VERSION, "command": command, "status": exit_code,
        "ok": exit_code == 0,
        "exit_code": exit_code,
        "org": None if conn is None else {"instance_url": conn.instance_url,
                                          "api_version": conn.api_version,
                                          "source": conn.source},
        "api_calls": None if conn is None else conn.usage.to_json(),
        "retries": retries, "notes": list(notes), "error": error,
    }


def print_json(doc: dict[str, Any], out: IO[str]) -> None:
    """Write one JSON document (secrets redacted)."""
    out.write(json.dumps(redact_obj(doc), indent=2, sort_keys=False) + "\n")


def _total(rows: Sequence[Row]) -> dict[str, Any]:
    expected = [r.expected for r in rows if r.expected is not None]
    return {"expected": sum(expected), "actual": sum(r.actual for r in rows),
            "ok": all(r.ok for r in rows)}


def check_json(result: CheckResult, strict: bool) -> dict[str, Any]:
    """The check's own keys."""
    c = result.counted
    return {"query": result.soql, "mode": c.mode, "strict": strict,
            "rows": [r.to_json() for r in result.rows], "total": _total(result.rows),
            "partitions": [p.to_json() for p in c.partitions],
            "modified_since": result.modified_since}


def _status(ok: bool) -> Text:
    return Text("ok", style="green") if ok else Text("FAIL", style="bold red")


def _usage_line(conn: Connection | None, retries: int) -> str:
    if conn is None:
        return ""
    u = conn.usage
    if u.used_by_run is None:
        calls = f"{u.sent} requests (no Sforce-Limit-Info seen)"
    else:
        calls = (f"{u.used_by_run:,} API call(s) used by this run; org usage "
                 f"{u.last_used:,}/{u.maximum:,}, {u.remaining:,} remaining")
    return calls + (f"; {retries} retr{'y' if retries == 1 else 'ies'}" if retries else "")


def _footer(console: Console, conn: Connection | None, notes: Sequence[str],
            retries: int) -> None:
    for n in notes:
        console.print(Text(f"note: {redact(n)}", style="dim"))
    line = _usage_line(conn, retries)
    if line:
        console.print(Text(line, style="dim"))


def render_check(console: Console, result: CheckResult, conn: Connection,
                 retries: int = 0) -> None:
    """The expected / actual / difference table (and partitions, proof of processing)."""
    console.print(Text(f"{conn.instance_url}  ({redact(conn.source)})", style="bold"))
    console.print(Text(redact(result.soql), style="dim"))
    t = Table(title=None, show_lines=False)
    for col, justify in (("Value", "left"), ("Expected", "right"), ("Actual", "right"),
                         ("Difference", "right"), ("", "left")):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in result.rows:
        t.add_row(r.value, "—" if r.expected is None else _n(r.expected), _n(r.actual),
                  _signed(r.difference), _status(r.ok))
    tot = _total(result.rows)
    t.add_section()
    t.add_row("Total", _n(tot["expected"]), _n(tot["actual"]), "", _status(tot["ok"]))
    console.print(t)
    c = result.counted
    if c.partitions:
        # Readable at 80 columns: the counts never truncated, the range and the values
        # wrapped inside their cells.
        p = Table(title=f"Counted in {len(c.partitions)} partitions (half-open ranges)")
        p.add_column("Range", overflow="fold", ratio=2)
        p.add_column("Records", justify="right", no_wrap=True)
        p.add_column("By value", overflow="fold", ratio=3)
        for pc in c.partitions:
            p.add_row(pc.partition.label, _n(pc.total),
                      ", ".join(f"{k}: {v:,}" for k, v in sorted(pc.counts.items())))
        console.print(p)
    ms = result.modified_since
    if ms is not None:
        detail = ", ".join(f"{k}: {v:,}" for k, v in sorted(ms["by_value"].items()))
        console.print(Text.assemble(
            ("Not modified since ", ""), (str(ms["since"]), "bold"),
            (f" ({ms['field']}): expected 0, actual {ms['not_modified']:,} ", ""),
            _status(bool(ms["ok"])), (f"  [{detail}]" if detail else "", "dim")))
    _footer(console, conn, c.notes, retries)
    verdict = "all expectations hold" if result.ok else "some expectations do NOT hold"
    console.print(Text(verdict, style="green" if result.ok else "bold red"))


def limits_json(limits: dict[str, dict[str, int]]) -> dict[str, Any]:
    """``limits``: name -> {max, remaining, used}."""
    return {"limits": {k: {"max": v.get("Max"), "remaining": v.get("Remaining"),
                           "used": (v["Max"] - v["Remaining"])
                           if "Max" in v and "Remaining" in v else None}
                       for k, v in sorted(limits.items())}}


def render_limits(console: Console, limits: dict[str, dict[str, int]], conn: Connection,
                  min_remaining: int | None, retries: int = 0) -> None:
    """DailyApiRequests first (the team's check_api_usage), then every other limit."""
    console.print(Text(f"{conn.instance_url}  ({redact(conn.source)})", style="bold"))
    t = Table(title="Org limits (/limits)")
    t.add_column("Limit")
    for col in ("Used", "Max", "Remaining", "Used %"):
        t.add_column(col, justify="right")
    names = sorted(limits, key=lambda k: (k != "DailyApiRequests", k))
    for name in names:
        v = limits[name]
        mx, rem = v.get("Max"), v.get("Remaining")
        used = None if mx is None or rem is None else mx - rem
        pct = "" if not mx or used is None else f"{100 * used / mx:.1f}%"
        style = "bold" if name == "DailyApiRequests" else ""
        t.add_row(Text(name, style=style), _n(used), _n(mx), _n(rem), pct)
    console.print(t)
    if min_remaining is not None:
        rem = limits.get("DailyApiRequests", {}).get("Remaining")
        ok = rem is not None and rem >= min_remaining
        console.print(Text.assemble(
            (f"DailyApiRequests remaining {_n(rem)} (need at least {min_remaining:,}) ", ""),
            _status(ok)))
    _footer(console, conn, [], retries)


def progress_json(summary: list[dict[str, Any]], jobs: list[dict[str, Any]],
                  stages: dict[str, int]) -> dict[str, Any]:
    """``progress``: jobs by status, the jobs, the current stage counts."""
    return {"jobs_by_status": summary, "jobs": jobs,
            "stages": dict(sorted(stages.items()))}


def render_progress(console: Console, summary: list[dict[str, Any]],
                    jobs: list[dict[str, Any]], stages: dict[str, int], conn: Connection,
                    notes: Sequence[str], shown: int = 20, retries: int = 0) -> None:
    """AsyncApexJob rows by status (the team's check_progress) and the stage counts."""
    console.print(Text(f"{conn.instance_url}  ({redact(conn.source)})", style="bold"))
    t = Table(title="Async Apex jobs by status")
    t.add_column("Status")
    for col in ("Jobs", "Batches processed", "Total batches", "Errors"):
        t.add_column(col, justify="right")
    for s in summary:
        t.add_row(s["status"], _n(s["jobs"]), _n(s["items_processed"]),
                  _n(s["total_items"]), _n(s["errors"]))
    console.print(t)
    if jobs:
        # Readable at 80 columns: counts in one column ("processed/total"), the date to the
        # minute; ids, numbers, job types and statuses are never truncated or split
        # mid-word (only the date may wrap, at its space). No outer edges or edge padding,
        # to make room (as sforg-sim's partition table, box.SIMPLE_HEAD). A job's detail
        # (ExtendedStatus, often a long error) is not a column, where it would be folded
        # into a sliver: one line per job under the table, whole, for grep.
        latest = jobs[:shown]
        j = Table(title=f"Latest {len(latest)} of {len(jobs)} jobs",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for col in ("Id", "Type", "Status", "Batches", "Err", "Created (UTC)"):
            j.add_column(col, no_wrap=col != "Created (UTC)", overflow="fold",
                         justify="right" if col in ("Batches", "Err") else "left")
        for job in latest:
            created = str(job.get("CreatedDate") or "")
            j.add_row(str(job.get("Id")), str(job.get("JobType") or ""),
                      str(job.get("Status") or ""),
                      f"{_n(job.get('JobItemsProcessed'))}/{_n(job.get('TotalJobItems'))}",
                      _n(job.get("NumberOfErrors")), created[:16].replace("T", " "))
        console.print(j)
        details = [(str(job.get("Id")), str(job.get("ExtendedStatus")))
                   for job in latest if job.get("ExtendedStatus")]
        if details:
            console.print(Text("Detail (ExtendedStatus):", style="bold"))
            for job_id, detail in details:
                console.print(Text(f"  {job_id}: {redact(' '.join(detail.split()))}"))
    c = Table(title="Current counts")
    c.add_column("Value")
    c.add_column("Records", justify="right")
    for k, v in sorted(stages.items()):
        c.add_row(k, _n(v))
    c.add_section()
    c.add_row("Total", _n(sum(stages.values())))
    console.print(c)
    _footer(console, conn, notes, retries)


def reconcile_json(result: ReconcileResult) -> dict[str, Any]:
    """``reconcile``: the counts and the mismatch file."""
    return {"reconcile": result.to_json()}


def render_reconcile(console: Console, result: ReconcileResult, conn: Connection,
                     retries: int = 0) -> None:
    """Counts per mismatch kind, a few samples, the output file."""
    console.print(Text(f"{conn.instance_url}  ({redact(conn.source)})", style="bold"))
    console.print(Text(f"Bulk API 2.0: {redact(result.soql)} ({result.pages} page(s))",
                       style="dim"))
    t = Table(title="Reconciliation")
    t.add_column("")
    t.add_column("Records", justify="right")
    t.add_column("")
    t.add_row("source rows", _n(result.source_rows), "")
    t.add_row("org rows", _n(result.org_rows), "")
    t.add_row("matched", _n(result.matched), "")
    t.add_section()
    for kind, n in result.mismatches.items():
        t.add_row(kind.replace("_", " "), _n(n), _status(n == 0))
    console.print(t)
    if result.samples:
        s = Table(title="First mismatches")
        for col in ("Kind", "External ID", "Expected", "Actual"):
            s.add_column(col)
        for m in result.samples:
            s.add_row(m["kind"], m["external_id"], m["expected"], m["actual"])
        console.print(s)
    if result.output:
        console.print(f"mismatches written to {result.output}")
    elif not result.ok:
        console.print(Text("every mismatch: add --out FILE.csv to write them", style="dim"))
    _footer(console, conn, [], retries)
    console.print(Text("source and org agree" if result.ok else "source and org DIFFER",
                       style="green" if result.ok else "bold red"))
