"""What the ``sforg-sim`` subcommands share: the parser class and the org flags."""

from __future__ import annotations

import argparse
from typing import NoReturn

from ..limits import EDITIONS
from ..nightly import TARGET_FIELD
from ..org import DEFAULT_LICENSES, Org
from ..scenarios import SCENARIOS

__all__ = ["ArgumentParser", "add_org_arguments", "build_org", "stage_counts"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error (``prog: error: reason``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


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
    return {r[TARGET_FIELD]: r["cnt"] for r in rows["records"]}
