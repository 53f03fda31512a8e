"""``sforg-sim replay``: replay V1/V2 (or a named scenario) on a seeded org and report.

Prints a rich table (or ``--json``), shows a progress bar on a terminal, optionally
compares processors side by side (``--compare v1,v2``), saves the org after the run
(``--save-org``) and plots coverage and API calls over simulated time (``--plot``, needs
matplotlib; skipped with a message when it is not installed).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from typing import Any

from ..apex import CostModel, FaultSchedule
from ..org import Org
from ..replay import PROCESSORS, Report, replay
from .common import add_org_arguments

__all__ = ["DEFAULT_RECORDS", "register", "run"]

DEFAULT_RECORDS = 50_000
"""Default size: runs in about ten seconds and is large enough (partitions of 5,000, over the
2,000 OFFSET cap) for V1 to show the skipped records; the team's size is ``--records 2000000``."""


def register(sub: Any) -> None:
    """Add the ``replay`` subcommand."""
    p = sub.add_parser("replay", help="replay a bulk job (V1 offset, V2 keyset) and report")
    add_org_arguments(p, default_records=DEFAULT_RECORDS)
    names = ", ".join(PROCESSORS)
    p.add_argument("--processor", default="v2", choices=sorted(PROCESSORS),
                   help=f"processor or named scenario ({names})")
    p.add_argument("--compare", metavar="A,B", help="replay several processors on identical "
                   "orgs and report them side by side, e.g. v1,v2")
    p.add_argument("--partitions", type=_positive, default=10)
    p.add_argument("--page-size", type=_page, default=500)
    p.add_argument("--faults", default="", help="fault schedule, e.g. callout:0.01,lock@3")
    p.add_argument("--org-file", metavar="PATH",
                   help="start from a saved org (Org.open) instead of seeding one")
    p.add_argument("--save-org", metavar="FILE", help="save the org after the replay")
    p.add_argument("--api-remaining", type=_positive, metavar="N",
                   help="start with only N API calls left in the org's 24-hour window "
                        "(\"the org has 20,000 calls left\"), e.g. for v1-burn-quota")
    p.add_argument("--cost", type=_cost, action="append", default=[], metavar="NAME=SECONDS",
                   help="set one cost of the model that forecasts the run's duration "
                        f"(repeatable; names: {', '.join(_COST_NAMES)}), e.g. dml_row=0.04")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="plot coverage and API calls")
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


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return n


def _page(text: str) -> int:
    n = _positive(text)
    if n > 2000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 2000: {text!r}")
    return n


def _names(args: argparse.Namespace) -> list[str]:
    if not args.compare:
        return [args.processor]
    names = [n.strip() for n in args.compare.split(",") if n.strip()]
    bad = [n for n in names if n not in PROCESSORS]
    if bad or not names:
        print(f"sforg-sim replay: error: unknown processor in --compare: "
              f"{', '.join(bad) or args.compare!r} (choose from {', '.join(PROCESSORS)})",
              file=sys.stderr)
        raise SystemExit(2)
    return names


def _org(args: argparse.Namespace) -> Org:
    if args.org_file:
        return Org.open(args.org_file, in_memory=True)
    org = Org(edition=args.edition, licenses=args.licenses)
    org.load_scenario(args.scenario, records=args.records, seed=args.seed)
    return org


def run(args: argparse.Namespace) -> int:
    """Replay, print, save, plot."""
    names = _names(args)
    FaultSchedule.parse(args.faults)  # fail fast, before seeding, on a bad spec
    if args.scenario != "massive-upload" and not args.org_file:
        print("sforg-sim replay: error: replays need --scenario massive-upload",
              file=sys.stderr)
        return 2
    from rich.console import Console

    console = Console(stderr=True)
    reports: list[Report] = []
    org: Org | None = None
    for name in names:
        org = _org(args)
        if args.api_remaining is not None:
            org.set_api_remaining(args.api_remaining)
        reports.append(_one(org, name, args, console))
    if args.save_org and org is not None:
        org.save(args.save_org)
        console.print(f"org saved to {args.save_org}")
    if args.json:
        out: Any = [r.to_json() for r in reports] if args.compare else reports[0].to_json()
        print(json.dumps(out, indent=2))
    else:
        _print(reports)
    if args.plot:
        _plot(reports, args.plot, console)
    return 0


def _one(org: Org, name: str, args: argparse.Namespace, console: Any) -> Report:
    from rich.progress import BarColumn, Progress, TextColumn

    total = org.store.count(org.schema.get("Opportunity"))
    with Progress(TextColumn(f"[bold]{name}[/bold]"), BarColumn(),
                  TextColumn("{task.completed:,}/{task.total:,} records"),
                  TextColumn("{task.fields[calls]:,} calls"), console=console,
                  transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(name, total=total, calls=0)

        def tick(r: Report) -> None:
            bar.update(task, completed=r.processed, calls=r.api_calls["data"])

        costs = CostModel().with_(**dict(args.cost)) if args.cost else None
        return replay(org, name, partition_count=args.partitions, page_size=args.page_size,
                      faults=args.faults, seed=args.seed, costs=costs, progress=tick)


def _print(reports: list[Report]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 120)
    table = Table(title="replay")
    table.add_column("")
    for r in reports:
        table.add_column(r.processor, justify="right")
    rows: list[tuple[str, Any]] = [
        ("records in scope", lambda r: f"{r.records:,}"),
        ("processed", lambda r: f"{r.processed:,} ({_pct(r.processed, r.records)})"),
        ("duplicates", lambda r: f"{r.duplicates:,}"),
        ("skipped", lambda r: f"{r.skipped:,}"),
        ("data calls", lambda r: f"{r.api_calls['data']:,}"),
        ("API requests used", lambda r: f"{r.api_calls['total']:,}"),
        ("async executions", lambda r: f"{r.async_executions:,}"),
        ("simulated time", lambda r: _duration(r.simulated_seconds)),
        ("outcome", lambda r: r.outcome),
        ("wall time", lambda r: f"{r.wall_seconds:.1f} s"),
    ]
    stages = sorted({s for r in reports for s in r.stage_counts})
    for label, fn in rows:
        table.add_row(label, *(fn(r) for r in reports))
    for s in stages:
        table.add_row(f"StageName {s}", *(f"{r.stage_counts.get(s, 0):,}" for r in reports))
    console.print(table)
    for r in reports:
        pt = Table(title=f"{r.processor}: partitions")
        for c in ("#", "range", "in scope", "written", "data calls", "executions", "end"):
            pt.add_column(c, justify="left" if c in ("range", "end") else "right",
                          no_wrap=c == "range")
        for p in r.partitions:
            pt.add_row(str(p.index), p.range, f"{p.in_scope:,}", f"{p.written:,}",
                       f"{p.data_calls:,}", f"{p.executions:,}", p.end)
        console.print(pt)


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def _duration(s: float) -> str:
    h, rem = divmod(int(s), 3600)
    return f"{h}h {rem // 60:02d}m {rem % 60:02d}s"


def _plot(reports: list[Report], path: str, console: Any) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        console.print("plot skipped: matplotlib is not installed (pip install matplotlib)")
        return
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(8, 6))
    for r in reports:
        hours = [t / 3600 for t, _, _ in r.timeline]
        ax1.plot(hours, [100 * p / max(1, r.records) for _, p, _ in r.timeline],
                 label=r.processor)
        ax2.plot(hours, [c for _, _, c in r.timeline], label=r.processor)
    ax1.set_ylabel("coverage %")
    ax2.set_ylabel("data calls")
    ax2.set_xlabel("simulated hours")
    ax1.legend()
    fig.savefig(path)
    console.print(f"plot written to {path}")
