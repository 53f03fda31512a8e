"""``sforg-sim seed``: build a scenario org, print its stage counts, optionally save it."""

from __future__ import annotations

import argparse
import secrets
import time
from pathlib import Path
from typing import Any

from ..org import Org
from ..store import check_replaceable, discard_org_file, replace_org_file
from .common import (
    add_org_arguments,
    build_org,
    envelope,
    print_json,
    progress_console,
    stage_counts,
    stdout_console,
)

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``seed`` subcommand."""
    p = sub.add_parser("seed", help="seed a built-in scenario and print its stage counts")
    add_org_arguments(p)
    p.add_argument("--org-file", metavar="PATH",
                   help="save the seeded org to this SQLite file (reopen with Org.open)")
    p.add_argument("--json", action="store_true",
                   help="print the result as JSON (keys: scenario, records, stages, "
                        "org_file, wall_seconds) in the envelope every command uses")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Seed, print, save.

    With ``--org-file`` the org is seeded into a temporary file in the same folder, which
    replaces the target only once complete and closed (:func:`replace_org_file`): a kill
    at any moment leaves the earlier file (or none) at the target, never a half-seeded
    one. A kill does leave the temporary file (``.<name>.<random>.seeding``) behind.
    """
    started = time.perf_counter()
    target = Path(args.org_file) if args.org_file else None
    if target is None:
        return _report(args, build_org(args, console=progress_console()), started, None)
    if not target.parent.is_dir():
        raise OSError(f"cannot write org file {target}: no directory {target.parent}")
    check_replaceable(target, overwrite=False)  # fail before seeding, not after
    tmp = str(target.parent / f".{target.name}.{secrets.token_hex(4)}.seeding")
    try:
        return _report(args, build_org(args, tmp, console=progress_console()), started,
                       (tmp, target))
    finally:
        discard_org_file(tmp)  # gone already when it replaced the target


def _report(args: argparse.Namespace, org: Org, started: float,
            files: tuple[str, Path] | None) -> int:
    from rich.table import Table

    seconds = time.perf_counter() - started
    counts = stage_counts(org)
    if files is not None:
        tmp, target = files
        org.close()
        replace_org_file(tmp, target)
    if args.json:
        print_json(envelope("seed", 0, scenario=args.scenario,
                            records=sum(counts.values()), stages=dict(sorted(counts.items())),
                            org_file=None if files is None else str(files[1]),
                            wall_seconds=round(seconds, 3)))
        return 0
    table = Table(title=f"{args.scenario}: Opportunities by StageName")
    table.add_column("StageName")
    table.add_column("count", justify="right")
    for stage, n in sorted(counts.items()):
        table.add_row(stage, f"{n:,}")
    table.add_row("[bold]total[/bold]", f"[bold]{sum(counts.values()):,}[/bold]")
    console = stdout_console()
    console.print(table)
    console.print(f"seeded in {seconds:.1f} s (wall clock)")
    if files is not None:
        console.print(f"saved to {files[1]}")
    return 0
