"""``sforg-sim apex run``: anonymous Apex on a simulated org, printed as ``sf apex run``
prints it (compile and execution status, then the debug log's USER_DEBUG lines).

Exit 0 on success, 1 on a compile error or an uncaught exception (type, message, line and
column printed). Async jobs the script enqueued run to completion before exiting, and the
simulated time they took is printed; a job that failed (AsyncApexJob Status 'Failed') is
listed with its ExtendedStatus and makes the exit 1 too (``sf apex run`` returns before
the jobs run, so it cannot say; here they ran). ``--org-file`` opens a saved org (or creates it from
``--scenario``) and saves the result back.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..nightly import SOURCE_OBJECT
from ..org import Org
from .common import add_org_arguments, build_org, envelope, print_json, refuse_with_org_file

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``apex`` subcommand (``apex run``)."""
    p = sub.add_parser("apex", help="run anonymous Apex (and the team's classes) on a "
                                    "simulated org")
    inner = p.add_subparsers(dest="apex_command", metavar="ACTION",
                             parser_class=type(p))
    inner.required = True
    r = inner.add_parser("run", help="execute an anonymous Apex file, as sf apex run (exit 1 "
                                     "if it or an async job it started failed)")
    r.add_argument("--file", "-f", required=True, metavar="F.apex",
                   help="the anonymous Apex to run (as sf apex run --file)")
    r.add_argument("--apex-dir", metavar="DIR",
                   help="deploy the .cls classes in DIR first (force-app/main/default/classes)")
    r.add_argument("--org-file", metavar="PATH",
                   help="open this saved org (created from --scenario/--records if missing; "
                        "those flags are refused once it exists) and save the result back")
    r.add_argument("--no-datacloud", action="store_true",
                   help="do not register the simulated Data Cloud endpoint (callout:DataCloud)")
    r.add_argument("--json", action="store_true",
                   help="print the result as one JSON document (the envelope every command "
                        "uses): compiled, success, line, column, problems, log, async jobs")
    add_org_arguments(r)
    r.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Deploy, execute, run the enqueued jobs, print; exit 1 on a compile/run failure."""
    from ..datacloud import DataCloudSource

    script = Path(args.file)
    if not script.is_file():
        raise UsageError(f"no such Apex file: {script}")
    try:
        source = script.read_text(encoding="utf-8-sig")  # a BOM is what editors write
    except UnicodeDecodeError as e:
        raise UsageError(f"{script} is not UTF-8 text (byte {e.start}: "
                         f"{e.object[e.start:e.start + 1]!r})") from None
    org: Org
    if args.org_file and Path(args.org_file).exists():
        # The seeding flags only shape a new file; an existing one keeps its own records,
        # edition and licences, so typing them is refused rather than silently ignored.
        refuse_with_org_file(args, ("--scenario", "--records", "--seed", "--edition",
                                    "--licenses"), "the saved org already has its data "
                                                   "(they only shape a new --org-file)")
        org = Org.open(args.org_file)
    else:
        org = build_org(args)
    if not args.no_datacloud and SOURCE_OBJECT in org.schema:
        DataCloudSource(org).attach(org.apex)
    if args.apex_dir:
        results = org.apex.deploy(args.apex_dir)
        failed = [r for r in results if not r.success]
        if failed:
            if args.json:
                print_json(envelope("apex", 1, deploy=[
                    {"name": r.name, "line": r.line, "column": r.column,
                     "problem": r.problem} for r in failed]))
                return 1
            for r in failed:
                print(f"Deploy failed: {r.name}: line {r.line}, column {r.column}: {r.problem}")
            return 1
    res = org.apex.execute_anonymous(source)
    result: dict[str, Any] = {
        "compiled": res.compiled, "success": res.success, "line": res.line,
        "column": res.column, "compileProblem": res.compile_problem,
        "exceptionMessage": res.exception_message,
        "exceptionStackTrace": res.exception_stack_trace, "log": list(res.log)}
    lines: list[str] = []
    if not res.compiled:
        lines += [f"Error: Line: {res.line}, Column: {res.column}",
                  f"Error: {res.compile_problem}"]
    else:
        lines.append("Compiled successfully.")
        if res.success:
            lines.append("Executed successfully.")
        else:
            lines += [f"Error: {res.exception_message}", f"Error: {res.exception_stack_trace}"]
        lines += ["", *res.log]
    status = 0 if res.success else 1
    if res.success:
        before = org.clock.time()
        since = org.clock.stamp()
        events = org.apex.run_until_idle()
        took = org.clock.time() - before
        # The script succeeded, but a job it started may not have: sf apex run returns
        # before they run; here they ran, so their failures are part of the answer.
        failed_jobs = org.query_records(
            "SELECT Id, JobType, ApexClass.Name, ExtendedStatus FROM AsyncApexJob "
            f"WHERE Status = 'Failed' AND CreatedDate >= {since} ORDER BY CreatedDate")
        result["asyncJobs"] = {
            "events": events, "simulatedSeconds": round(took, 3), "clock": org.clock.stamp(),
            "failed": [{"id": r["Id"], "jobType": r["JobType"],
                        "apexClass": (r.get("ApexClass") or {}).get("Name"),
                        "extendedStatus": r["ExtendedStatus"]} for r in failed_jobs]}
        lines += ["", f"Async jobs: {events} events ran in {_duration(took)} of simulated "
                      f"time (clock now {org.clock.stamp()}); "
                      + (f"{len(failed_jobs)} failed:" if failed_jobs else "none failed.")]
        lines += [f"  {r['Id']} {r['JobType']} "
                  f"{(r.get('ApexClass') or {}).get('Name') or '?'}: {r['ExtendedStatus']}"
                  for r in failed_jobs]
        if failed_jobs:
            status = 1
    if args.org_file:
        org.save(args.org_file, overwrite=True)
        lines.append(f"saved to {args.org_file}")
        result["savedTo"] = args.org_file
    if args.json:
        print_json(envelope("apex", status, result=result))
    else:
        print("\n".join(lines))
    return status


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"
