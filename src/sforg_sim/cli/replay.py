"""``sforg-sim replay``: replay V1/V2 (or a named scenario) on a seeded org and report.

The report starts with one verdict line per processor, in words ("v1 (OFFSET paging):
FAILED — 20,000 of 50,000 records never processed; stopped: loop detected after 594 data
calls"), then the figures side by side (``--compare v1,v2``), then each run's partitions,
all readable at 80 columns. ``--json`` prints the same in the envelope every command uses;
``--save-org`` saves the org after the run and ``--plot`` draws coverage and data calls
over simulated time (the ``[plot]`` extra). Both paths are checked before any work starts.

The team's own Apex runs the same way: ``--apex-dir DIR --start start_v2.apex`` deploys
the classes in DIR, runs the start script (its ``Integer totalRecords``/``Integer
partitions`` set to the run's size: :mod:`sforg_sim.apexkit`), runs the async work to the
end and prints the same report, a partition being the chain rooted at each job the script
enqueued. ``--start-expr 'new MyJob(i, startId, endId)'`` enqueues an expression per
partition instead. ``--compare v2,apex:start_v2.apex`` puts an Apex run beside a built-in
processor (``apex`` alone: the run ``--start``/``--start-expr`` names).

Exit status: 0 when the processor did its job (every record in scope processed exactly
once), 1 when it did not (with ``--compare``: when any run did not), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..apex import CostModel, FaultSchedule
from ..apexkit import ApexProcessor
from ..errors import UsageError
from ..limits import api_allocation
from ..org import Org
from ..replay import PROCESSORS, Report, replay
from .common import (
    add_org_arguments,
    build_org,
    check_writable,
    envelope,
    print_json,
    progress_console,
    records_for,
    refuse_with_org_file,
    stdout_console,
)

__all__ = ["LABELS", "partition_notes", "register", "run", "succeeded", "verdict"]

LABELS = {"v2": "keyset paging", "v1": "OFFSET paging",
          "v1-burn-quota": "OFFSET paging, no loop detection",
          "v1-offset-cap": "OFFSET paging, source capped at 2,000",
          "v1-skip": "OFFSET over a query on the field it writes",
          "v1-premature-stop": "OFFSET paging, stable order"}
"""Short names of the built-in processors for the verdict line (the rest: description)."""

EPILOG = """exit status:
  0  the processor did its job: every record in scope processed exactly once
  1  it did not (with --compare: any run did not)
  2  usage error (bad flag, unknown processor, unwritable --save-org/--plot path,
     --plot without matplotlib: pip install 'sforg-sim[plot]')"""


def register(sub: Any) -> None:
    """Add the ``replay`` subcommand."""
    p = sub.add_parser("replay", help="replay a bulk job (V1 offset, V2 keyset) and report",
                       description="Replay a bulk job (V1 OFFSET, V2 keyset, ...) on a seeded org "
                       "and report what it did:\na verdict line per processor, then the "
                       "figures and the partitions.", epilog=EPILOG)
    add_org_arguments(p)
    names = ", ".join(PROCESSORS)
    p.add_argument("--processor", default="v2", choices=sorted(PROCESSORS),
                   help=f"processor or named scenario ({names})")
    p.add_argument("--compare", metavar="A,B", help="replay several processors on identical "
                   "orgs and report them side by side, e.g. v1,v2 (each name once: a "
                   "second run of one would repeat the first)")
    p.add_argument("--apex-dir", metavar="DIR", help="replay the team's Apex: deploy the "
                   ".cls classes in DIR (force-app/main/default/classes)")
    p.add_argument("--start", metavar="F.apex", help="with --apex-dir: the start script "
                   "(as given, or in the SFDX project's scripts/ folder), one job per "
                   "partition; its 'Integer totalRecords'/'Integer partitions' are set to "
                   "the run's size")
    p.add_argument("--start-expr", metavar="EXPR", help="with --apex-dir: an Apex expression "
                   "enqueued per partition, with i, startId, endId, pageSize in scope, e.g. "
                   "'new DynamicPartitionProcessorV2(i, startId, endId)'")
    p.add_argument("--inclusive-end", action="store_true", help="the Apex classes read "
                   "their ranges inclusively (V1): per-partition 'in scope' counts the "
                   "shared boundaries twice, as for the built-in v1")
    p.add_argument("--partitions", type=_positive, default=10, metavar="N",
                   help="parallel partitions of External ID ranges")
    p.add_argument("--page-size", type=_page, default=500, metavar="N",
                   help="records per data call")
    p.add_argument("--faults", default="", metavar="SPEC",
                   help="fault schedule, e.g. callout:0.01,lock@3")
    p.add_argument("--org-file", metavar="PATH",
                   help="start from a saved org (Org.open) instead of seeding one; the "
                        "file is not changed. It keeps its own records, edition, licences "
                        "and API usage, so --scenario, --records, --edition and "
                        "--licenses are refused with it; --seed still seeds the fault "
                        "schedule and --storage says where the copy lives")
    p.add_argument("--save-org", metavar="FILE", help="save the org after the replay")
    p.add_argument("--storage", choices=("memory", "file"), default="memory",
                   help="where the org lives: in memory, or in a temporary file deleted "
                        "afterwards (at 2,000,000 records a quarter of the memory, 0.8 GB "
                        "instead of 3.4 GB, for about 40%% more time: see "
                        "benchmarks/README.md); with --org-file, the file copied to a "
                        "temporary file, or read into memory")
    p.add_argument("--api-remaining", type=_whole, metavar="N",
                   help="start with only N API calls left in the org's 24-hour window "
                        "(\"the org has 20,000 calls left\"), e.g. for v1-burn-quota; 0: "
                        "none left, the first call is refused (REQUEST_LIMIT_EXCEEDED)")
    p.add_argument("--cost", type=_cost, action="append", default=[], metavar="NAME=SECONDS",
                   help="set one cost of the model that forecasts the run's duration "
                        f"(repeatable; names: {', '.join(_COST_NAMES)}), e.g. dml_row=0.04")
    p.add_argument("--json", action="store_true", help="print the report as JSON (key "
                   "reports: one per run) in the envelope every command uses")
    p.add_argument("--plot", metavar="FILE.png", help="plot coverage and data calls over "
                   "simulated time (needs the [plot] extra)")
    p.set_defaults(handler=run)


_COST_NAMES = tuple(f.name for f in fields(CostModel))


def _cost(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or name.strip() not in _COST_NAMES:
        raise argparse.ArgumentTypeError(
            f"expected NAME=SECONDS with NAME one of {', '.join(_COST_NAMES)}: {text!r}")
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"seconds must be finite and >= 0: {text!r}")
    return name.strip(), seconds


def _whole(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return n


def _positive(text: str) -> int:
    n = _whole(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return n


def _page(text: str) -> int:
    n = _positive(text)
    if n > 2000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 2000: {text!r}")
    return n


def _names(args: argparse.Namespace) -> list[str]:
    apex_run = args.start or args.start_expr
    if args.apex_dir is None and (apex_run or args.inclusive_end):
        raise UsageError("--start, --start-expr and --inclusive-end need --apex-dir")
    if args.start and args.start_expr:
        raise UsageError("--start and --start-expr: choose one")
    if not args.compare:
        if args.apex_dir is not None and not apex_run:
            raise UsageError("--apex-dir needs --start F.apex or --start-expr EXPR (or "
                             "--compare ...,apex:F.apex)")
        return ["apex"] if apex_run else [args.processor]
    names = [n.strip() for n in args.compare.split(",") if n.strip()]
    if any(_is_apex(n) for n in names) and args.apex_dir is None:
        raise UsageError("an Apex run in --compare needs --apex-dir")
    if "apex" in names and not apex_run:
        raise UsageError("'apex' in --compare needs --start or --start-expr "
                         "(or name the script: apex:start_v2.apex)")
    bad = [n for n in names if n not in PROCESSORS and not _is_apex(n)]
    if bad or not names:
        raise UsageError(f"unknown processor in --compare: {', '.join(bad) or args.compare!r}"
                         f" (choose from {', '.join(PROCESSORS)}, apex:F.apex)")
    return names


def _refuse_twice(names: list[str], what: str) -> None:
    """UsageError when a run is named twice: the runs replay identical orgs with the same
    seed, so a second run of one processor repeats the first, and two report columns
    under one name would only confuse."""
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"{what} names {', '.join(twice)} more than once: each run "
                         "replays an identical org with the same seed, so it would "
                         "repeat the same report")


def _is_apex(name: str) -> bool:
    return name == "apex" or (name.startswith("apex:") and len(name) > 5)


def _processor(name: str, args: argparse.Namespace) -> str | ApexProcessor:
    """A built-in name as is; an Apex run (``apex``, ``apex:F.apex``) as its processor
    (the folder and the script are checked here, before any replay starts)."""
    if not _is_apex(name):
        return name
    if name == "apex" and args.start_expr:
        return ApexProcessor.from_expression(args.apex_dir, args.start_expr,
                                             inclusive_end=args.inclusive_end)
    script = args.start if name == "apex" else name[len("apex:"):]
    return ApexProcessor.from_script(args.apex_dir, script, inclusive_end=args.inclusive_end)


def _org(args: argparse.Namespace, console: Any, scratch: Path) -> Org:
    """The org for one run: the saved one or one seeded as the flags say, in memory, or
    in a temporary file under ``scratch`` when ``--storage file`` says so. A saved org is
    never changed: ``--storage file`` works on a copy of it (what the user asks for is
    the file-backed org's smaller memory, not writes into the saved file)."""
    if args.org_file:
        if args.storage != "file":
            return Org.open(args.org_file, in_memory=True)
        copy = scratch / f"replay-{len(list(scratch.iterdir()))}.sforg"
        shutil.copyfile(args.org_file, copy)
        return Org.open(copy)
    # Memory by default: a file-backed org costs more than the 10% of wall time that would
    # justify making it the default for large orgs (benchmarks/README.md, issue 20).
    if args.storage != "file":
        return build_org(args, console=console)
    path = scratch / f"replay-{len(list(scratch.iterdir()))}.sforg"
    return build_org(args, str(path), console=console)


def _preflight(args: argparse.Namespace) -> None:
    """Everything that can fail after a long replay (or a long seeding), checked before
    it starts."""
    refuse_with_org_file(args, ("--scenario", "--records", "--edition", "--licenses"),
                         "a saved org keeps its own records, edition, licences and API "
                         "usage")
    FaultSchedule.parse(args.faults)
    if args.scenario != "massive-upload" and not args.org_file:
        raise UsageError("replays need --scenario massive-upload (or --org-file)")
    if args.org_file and not os.path.isfile(args.org_file):
        raise UsageError(f"--org-file {args.org_file}: no such file")
    records = None if args.org_file else records_for(args.scenario, args.records)
    if records is not None and records < args.partitions:
        # Named by its flags, before seeding (the runner's own check says "partitions
        # <= records" only after the org is built).
        raise UsageError(f"--partitions {args.partitions:,} is more than --records "
                         f"{records:,}: each partition needs at least one record")
    if args.api_remaining is not None and not args.org_file:
        allocation = api_allocation(args.edition, args.licenses)
        if args.api_remaining > allocation:
            raise UsageError(f"--api-remaining {args.api_remaining:,}: more than the org's "
                             f"daily allocation ({allocation:,} for {args.edition} with "
                             f"{args.licenses:,} licences)")
    check_writable(args.save_org, "--save-org")
    check_writable(args.plot, "--plot")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'sforg-sim[plot]'") from None


def run(args: argparse.Namespace) -> int:
    """Replay, print, save, plot; the exit status says whether every run did its job."""
    names = _names(args)
    _preflight(args)
    processors = [_processor(n, args) for n in names]
    # Checked on the report names, before any seeding: "apex" and "apex:F.apex" may be
    # the same script under one name.
    _refuse_twice([p if isinstance(p, str) else p.name for p in processors], "--compare")
    console = progress_console()
    reports: list[Report] = []
    org: Org | None = None
    with tempfile.TemporaryDirectory(prefix="sforg-sim-replay-") as tmp:
        for proc in processors:
            if org is not None:
                org.close()  # a file-backed org's file goes with the directory
            org = _org(args, console, Path(tmp))
            if args.api_remaining is not None:
                _set_api_remaining(org, args.api_remaining)
            reports.append(_one(org, proc, args, console))
        status = 0 if all(succeeded(r) for r in reports) else 1
        if args.save_org and org is not None:
            org.save(args.save_org, overwrite=True)
            console.print(f"org saved to {args.save_org}")
        if org is not None:
            org.close()
    if args.json:
        print_json(envelope("replay", status, reports=[_json(r) for r in reports]))
    else:
        _print(reports)
    if args.plot:
        _plot(reports, args, console)
    return status


def _set_api_remaining(org: Org, remaining: int) -> None:
    """``--api-remaining``, with the flag named when the org's allocation is smaller (a
    saved org's allocation is known only once it is open)."""
    try:
        org.set_api_remaining(remaining)
    except UsageError as e:
        raise UsageError(f"--api-remaining {remaining:,}: {e}") from None


def succeeded(r: Report) -> bool:
    """The processor did its job: no record in scope left wrong without being written
    (``skipped`` leaves out records already right), none written twice."""
    return r.skipped == 0 and r.duplicates == 0


def _label(name: str) -> str:
    if name.startswith("apex:"):
        return "the team's Apex classes"
    preset = PROCESSORS.get(name)
    return LABELS.get(name) or (preset.description if preset else name)


def _stopped(r: Report) -> str:
    calls, requests = r.api_calls.get("data", 0), r.api_calls.get("total", 0)
    return {
        "completed": "ended by itself",
        "loop_detected": f"stopped: loop detected after {calls:,} data calls",
        "request_limit_exceeded": "stopped: the API quota ran out (REQUEST_LIMIT_EXCEEDED) "
                                  + (f"after {requests:,} requests" if requests else
                                     "at its first request: none were left"),
        "aborted": "stopped: its jobs were aborted",
        "governor_limit": "stopped: a governor limit ended a job",
        "failed": "stopped: a job failed with an uncaught error",
        "timeout": "stopped: the replay's time limit passed",
        "running": "still running",
    }.get(r.outcome, f"ended: {r.outcome}")


def verdict(r: Report) -> str:
    """One line in words: did the processor do its job, and if not what went wrong."""
    head = f"{r.processor} ({_label(r.processor)})"
    if succeeded(r):
        tail = "" if r.outcome == "completed" else f"; {_stopped(r)}"
        right = r.records - r.processed
        already = f", {right:,} already right" if right > 0 else ""
        return (f"{head}: OK — every record processed once ({r.processed:,}{already})"
                f"{tail}")
    wrong = []
    if r.skipped:
        wrong.append(f"{r.skipped:,} of {r.records:,} records never processed")
    if r.duplicates:
        wrong.append(f"{r.duplicates:,} processed more than once")
    return f"{head}: FAILED — {', '.join(wrong) or 'records not processed'}; {_stopped(r)}"


def _json(r: Report) -> dict[str, Any]:
    d = r.to_json()
    # One name for the StageName counts across commands (seed, verify-org progress).
    if "stage_counts" in d:
        d["stages"] = d.pop("stage_counts")
    return {"ok": succeeded(r), "verdict": verdict(r), **d}


def _one(org: Org, proc: str | ApexProcessor, args: argparse.Namespace,
         console: Any) -> Report:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    name = proc if isinstance(proc, str) else proc.name
    total = org.store.count(org.schema.get("Opportunity"))
    from rich.markup import escape

    with Progress(TextColumn(f"[bold]{escape(name)}[/bold]"), BarColumn(),
                  TextColumn("{task.completed:,}/{task.total:,} records"),
                  TextColumn("{task.fields[calls]:,} calls"), TimeElapsedColumn(),
                  console=console, transient=True,
                  disable=not console.is_terminal) as bar:
        task = bar.add_task(name, total=total, calls=0)

        def tick(r: Report) -> None:
            bar.update(task, completed=r.processed, calls=r.api_calls["data"])

        costs = CostModel().with_(**dict(args.cost)) if args.cost else None
        return replay(org, proc, partition_count=args.partitions, page_size=args.page_size,
                      faults=args.faults, seed=args.seed, costs=costs, progress=tick)


def compact(n: int | float) -> str:
    """A count in at most 6 characters: 950, 12,500, 200k, 2.00M (for 80-column tables)."""
    n = int(n)
    if abs(n) < 100_000:
        return f"{n:,}"
    if abs(n) < 1_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.2f}M"


def _print(reports: list[Report]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console = stdout_console()  # a pipe or CI log gets 80 columns (or $COLUMNS)
    for r in reports:
        # One line however narrow the console: a CI log can grep it.
        console.print(Text(verdict(r), style="bold green" if succeeded(r) else "bold red"),
                      soft_wrap=True)
    table = Table(title="replay", box=box.SIMPLE_HEAD)
    table.add_column("")
    for r in reports:
        table.add_column(r.processor, justify="right", no_wrap=True)
    rows: list[tuple[str, Any]] = [
        ("records in scope", lambda r: f"{r.records:,}"),
        ("processed", lambda r: f"{r.processed:,} ({_pct(r.processed, r.records)})"),
        ("never processed", lambda r: f"{r.skipped:,}"),
        ("duplicates", lambda r: f"{r.duplicates:,}"),
        ("API requests (this run)", lambda r: f"{r.api_calls['total']:,}"),
        ("async executions", lambda r: f"{r.async_executions:,}"),
        ("simulated time (forecast)", lambda r: _duration(r.simulated_seconds)),
        ("simulated start", lambda r: r.started_at[:19].replace("T", " ")),
        ("outcome", lambda r: r.outcome.replace("_", " ")),
        ("wall time", lambda r: f"{r.wall_seconds:.1f} s"),
    ]
    if any(r.api_calls["data"] != r.api_calls["total"] for r in reports):
        # Only when they differ: otherwise one row says both.
        rows.insert(4, ("data calls", lambda r: f"{r.api_calls['data']:,}"))
    stages = sorted({s for r in reports for s in r.stage_counts})
    for label, fn in rows:
        table.add_row(label, *(fn(r) for r in reports))
    for s in stages:
        table.add_row(f"StageName {s}", *(f"{r.stage_counts.get(s, 0):,}" for r in reports))
    errors = sorted({k for r in reports for k in r.errors})
    for k in errors:
        table.add_row(f"error {k}", *(f"{r.errors.get(k, 0):,}" for r in reports))
    fired = sorted({k for r in reports for k in r.faults_fired})
    for k in fired:
        table.add_row(f"fault {k} fired", *(f"{r.faults_fired.get(k, 0):,}" for r in reports))
    console.print(table)
    for r in reports:
        _print_partitions(console, r)


def _print_partitions(console: Any, r: Report) -> None:
    """Per-partition rows at 80 columns: the ranges' shared prefix in the title, compact
    counts, the end reason wrapped; below 60 columns one stacked line per partition."""
    from rich import box
    from rich.table import Table

    # "externalOpp" of "externalOpp0000001 to ...": the digits that differ stay whole.
    prefix = _shared_prefix([p.range for p in r.partitions]).rstrip("0123456789")
    if prefix.endswith(" to"):  # one partition: nothing shared but itself
        prefix = ""

    def short(text: str) -> str:
        return text.replace(prefix, "") if prefix else text

    title = f"{r.processor}: partitions" + (f" (ids start {prefix})" if prefix else "")
    if console.width < 60:
        console.print(title)
        for p in r.partitions:
            console.print(f"  {p.index}: {short(p.range)}: {p.written:,} of {p.in_scope:,} "
                          f"written, {p.data_calls:,} calls, {p.executions:,} executions;"
                          f" {p.end}")
        return
    pt = Table(title=title, box=box.SIMPLE_HEAD)
    for c in ("#", "range", "in scope", "written", "calls", "execs", "end"):
        pt.add_column(c, justify="left" if c in ("range", "end") else "right",
                      no_wrap=c != "end", overflow="fold")
    for p in r.partitions:
        missed = p.in_scope - p.written
        written = f"{p.written:,}" if missed == 0 or p.written < 100_000 else (
            f"{compact(p.written)} (-{missed:,})")
        pt.add_row(str(p.index), short(p.range), compact(p.in_scope), written,
                   compact(p.data_calls), compact(p.executions), p.end)
    console.print(pt)
    for line in partition_notes(r):
        console.print(f"  {line}")


def partition_notes(r: Report) -> list[str]:
    """Why the partition rows may not add up to the totals, in words (empty when they do)."""
    notes = []
    outside = r.unattributed
    if outside.get("data_calls") or outside.get("writes"):
        notes.append(f"not in any partition: {outside.get('data_calls', 0):,} data calls, "
                     f"{outside.get('writes', 0):,} writes (jobs outside the start script's "
                     "chains)")
    in_scope = sum(p.in_scope for p in r.partitions)
    if in_scope > r.records:
        notes.append(f"'in scope' adds up to {in_scope:,} for {r.records:,} records: the "
                     "processor reads its ranges inclusively, so each shared boundary "
                     "counts in two partitions")
    written = sum(p.written for p in r.partitions)
    if written > r.processed:
        notes.append(f"'written' counts writes ({written:,}), 'processed' distinct records "
                     f"({r.processed:,}): records written more than once count each time")
    return notes


def _shared_prefix(texts: list[str]) -> str:
    if not texts:
        return ""
    first, last = min(texts), max(texts)  # the shared prefix of all is theirs
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def _duration(s: float) -> str:
    h, rem = divmod(int(s), 3600)
    return f"{h}h {rem // 60:02d}m {rem % 60:02d}s"


def time_unit(seconds: float) -> tuple[str, float]:
    """The unit a time axis of this length reads best in: (name, seconds per unit)."""
    if seconds < 120:
        return "seconds", 1.0
    if seconds < 2 * 3600:
        return "minutes", 60.0
    if seconds < 2 * 86400:
        return "hours", 3600.0
    return "days", 86400.0


def _plot(reports: list[Report], args: argparse.Namespace, console: Any) -> None:
    """Coverage and data calls over simulated time, one line per run, a marker where a
    run was stopped (any outcome but ``completed``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    longest = max((r.timeline[-1][0] for r in reports if r.timeline), default=0.0)
    unit, per = time_unit(longest)
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(9, 6.5))
    source = (f"org file {Path(args.org_file).name}" if args.org_file
              else args.scenario)
    records = max((r.records for r in reports), default=0)
    fig.suptitle(f"replay of {source}: {records:,} records, "
                 f"{', '.join(r.processor for r in reports)}")
    for r in reports:
        xs = [t / per for t, _, _ in r.timeline]
        cover = [100 * p / max(1, r.records) for _, p, _ in r.timeline]
        calls = [c for _, _, c in r.timeline]
        (line,) = ax1.plot(xs, cover, label=f"{r.processor} ({_label(r.processor)})")
        ax2.plot(xs, calls, label=r.processor, color=line.get_color())
        if r.outcome != "completed" and xs:
            stop = r.outcome.replace("_", " ")
            for ax, ys in ((ax1, cover), (ax2, calls)):
                ax.plot([xs[-1]], [ys[-1]], marker="X", markersize=10, linestyle="none",
                        color=line.get_color(), label=f"{r.processor} stopped: {stop}")
    ax1.set_ylabel("records processed (%)")
    ax1.set_ylim(0, 105)
    ax2.set_ylabel("data calls")
    ax2.set_xlabel(f"simulated time ({unit})")
    ax1.legend(loc="lower right", fontsize="small")
    ax2.legend(loc="upper left", fontsize="small")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.savefig(args.plot)
    plt.close(fig)
    console.print(f"plot written to {args.plot}")
