"""``sforg-sim``: seed, serve and replay a simulated org from the command line.

Each subcommand lives in its own module of this package exposing ``register(subparsers)``
(:mod:`.seed`, :mod:`.serve`, :mod:`.replay`; what they share is in :mod:`.common`); this
module only builds the parser and turns every expected failure into one line on stderr and
exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..errors import SalesforceError, UsageError
from . import replay, seed, serve
from .common import ArgumentParser

__all__ = ["ArgumentParser", "build_parser", "main"]


def build_parser() -> ArgumentParser:
    """The full parser with every subcommand."""
    parser = ArgumentParser(
        prog="sforg-sim",
        description="A simulated Salesforce org: seed scenarios, serve the REST API, "
                    "replay bulk jobs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for module in (seed, serve, replay):
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
