"""``sforg-sim``: seed, serve and replay a simulated org from the command line.

Each subcommand lives in its own module of this package exposing ``register(subparsers)``
(:mod:`.seed`, :mod:`.serve`, :mod:`.replay`; what they share, conventions included, is
in :mod:`.common`); this module only builds the parser and turns every expected failure
into one line on stderr (and a JSON envelope on stdout under ``--json``) and exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import SalesforceError, UsageError
from . import apex, clock, common, replay, seed, serve
from .common import ArgumentParser, envelope, print_json, silence_stdout

__all__ = ["EXTRAS", "ArgumentParser", "build_parser", "main"]

EXTRAS = {"werkzeug": "server", "trustme": "server", "responses": "server",
          "jwt": "server", "hypothesis": "testkit", "matplotlib": "plot"}
"""Optional libraries -> the pip extra that installs them (``pip install 'sforg-sim[X]'``)."""

BROKEN_PIPE = 141
"""Exit status when stdout closes early (``sforg-sim ... | head``): 128 + SIGPIPE, what a
shell reports for a Unix tool that the closed pipe stopped."""


def build_parser() -> ArgumentParser:
    """The full parser with every subcommand."""
    parser = ArgumentParser(
        prog="sforg-sim",
        description="A simulated Salesforce org: seed scenarios, serve the REST API, "
                    "replay bulk jobs.\n\nExit status: 0 done (replay: every record "
                    "processed once), 1 the replayed job failed, 2 usage error.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for module in (seed, serve, replay, apex, clock):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 check failed, 2 could not run)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    common.JSON_OUTPUT[0] = "--json" in args_list
    try:
        return _main(args_list)
    except BrokenPipeError:
        silence_stdout()
        return BROKEN_PIPE
    finally:
        common.JSON_OUTPUT[0] = False


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = str(args.command)
    try:
        return int(args.handler(args))
    except SalesforceError as e:
        return _fail(command, e.error_code, f"{e.error_code}: {e.message}")
    except UsageError as e:
        return _fail(command, "USAGE", str(e))
    except ModuleNotFoundError as e:
        top = (e.name or "").partition(".")[0]
        extra = EXTRAS.get(top)
        if extra is None:
            raise
        return _fail(command, "MISSING_EXTRA",
                     f"{command} needs {top}: pip install 'sforg-sim[{extra}]'")
    except KeyboardInterrupt:
        print("sforg-sim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise
    except OSError as e:
        return _fail(command, "OS_ERROR", str(e))


def _fail(command: str, code: str, message: str) -> int:
    print(f"sforg-sim: error: {message}", file=sys.stderr)
    if common.JSON_OUTPUT[0]:
        print_json(envelope(command, 2, error={"code": code, "message": message}))
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
