"""``sforg-sim``: seed, serve and replay a simulated org from the command line.

Each subcommand lives in its own module exposing ``register(subparsers)``; this module only
builds the parser and turns every expected failure into one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from .errors import SalesforceError, UsageError

__all__ = ["ArgumentParser", "main"]

_COMMAND_MODULES = (
    "sforg_sim._cli_seed",
    "sforg_sim.rest.serve_cli",
    "sforg_sim.replay_cli",
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error (``prog: error: reason``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> ArgumentParser:
    """The full parser, with every subcommand whose module is installed."""
    parser = ArgumentParser(
        prog="sforg-sim",
        description="A simulated Salesforce org: seed scenarios, serve the REST API, "
                    "replay bulk jobs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 check failed, 2 could not run)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except SalesforceError as e:
        print(f"sforg-sim: error: {e.error_code}: {e.message}", file=sys.stderr)
        return 2
    except UsageError as e:
        print(f"sforg-sim: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sforg-sim: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        print(f"sforg-sim: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
