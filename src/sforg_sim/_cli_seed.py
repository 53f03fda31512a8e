"""``sforg-sim seed``: build a scenario org, print its stage counts, optionally save it."""

from __future__ import annotations

import argparse
import secrets
import time
from pathlib import Path
from typing import Any

from .limits import EDITIONS
from .org import DEFAULT_LICENSES, Org
from .scenarios import SCENARIOS
from .store import check_replaceable, discard_org_file, replace_org_file

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``seed`` subcommand."""
    p = sub.add_parser("seed", help="seed a built-in scenario and print its stage counts")
    add_org_arguments(p)
    p.add_argument("--org-file", metavar="PATH",
                   help="save the seeded org to this SQLite file (reopen with Org.open)")
    p.set_defaults(handler=run)


def add_org_arguments(p: argparse.ArgumentParser, default_records: int | None = None) -> None:
    """Scenario and edition flags shared by seed, serve and replay."""
    p.add_argument("--scenario", default="massive-upload", choices=sorted(SCENARIOS))
    p.add_argument("--records", type=_count, default=default_records,
                   help="number of records (default: the scenario's own)")
    p.add_argument("--seed", type=int, default=0, help="data seed (same seed, same org)")
    p.add_argument("--edition", default="enterprise", choices=EDITIONS)
    p.add_argument("--licenses", type=_count, default=DEFAULT_LICENSES)


def _count(text: str) -> int:
    try:
        n = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return n


def build_org(args: argparse.Namespace, path: str | None = None) -> Org:
    """An org seeded as the shared flags say; in memory, or straight into file ``path``.

    Seeding into the file keeps peak memory at SQLite's page cache (about 600 MB for the
    2,000,000-record scenario) instead of the whole 2 GB database.
    """
    org = Org(edition=args.edition, licenses=args.licenses, path=path)
    org.load_scenario(args.scenario, records=args.records, seed=args.seed)
    return org


def stage_counts(org: Org) -> dict[str, int]:
    """StageName -> number of live Opportunities (the team's verification aggregate)."""
    rows = org.query("SELECT StageName, COUNT(Id) cnt FROM Opportunity GROUP BY StageName")
    return {r["StageName"]: r["cnt"] for r in rows["records"]}


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
        return _report(args, build_org(args), started, None)
    if not target.parent.is_dir():
        raise OSError(f"cannot write org file {target}: no directory {target.parent}")
    check_replaceable(target, overwrite=False)  # fail before seeding, not after
    tmp = str(target.parent / f".{target.name}.{secrets.token_hex(4)}.seeding")
    try:
        return _report(args, build_org(args, tmp), started, (tmp, target))
    finally:
        discard_org_file(tmp)  # gone already when it replaced the target


def _report(args: argparse.Namespace, org: Org, started: float,
            files: tuple[str, Path] | None) -> int:
    from rich.console import Console
    from rich.table import Table

    seconds = time.perf_counter() - started
    table = Table(title=f"{args.scenario}: Opportunities by StageName")
    table.add_column("StageName")
    table.add_column("count", justify="right")
    counts = stage_counts(org)
    for stage, n in sorted(counts.items()):
        table.add_row(stage, f"{n:,}")
    table.add_row("[bold]total[/bold]", f"[bold]{sum(counts.values()):,}[/bold]")
    console = Console()
    console.print(table)
    console.print(f"seeded in {seconds:.1f} s (wall clock)")
    if files is not None:
        tmp, target = files
        org.close()
        replace_org_file(tmp, target)
        console.print(f"saved to {target}")
    return 0
