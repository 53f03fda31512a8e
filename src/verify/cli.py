"""``verify-org``: check an org after a run (expected StageName counts and more)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["main"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2 (verify never imports sforg_sim)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> ArgumentParser:
    """The verify-org parser."""
    p = ArgumentParser(prog="verify-org", description=(
        "Verify an org after a bulk run: expected StageName counts, limits, progress. "
        "Exit 0 when every expectation holds, 1 when one does not, 2 when it could not "
        "check."))
    p.add_argument("--expect", action="append", metavar="VALUE=COUNT", default=[],
                   help="expected number of records with this value (repeatable)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    build_parser().parse_args(argv)
    print("verify-org: not implemented yet", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
