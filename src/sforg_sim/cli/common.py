"""What the ``sforg-sim`` subcommands share: the parser, the org flags, the JSON envelope,
progress display and the checks run before any work starts.

Conventions every subcommand follows (and ``verify-org`` too):

- ``--help`` shows each option's default (:class:`HelpFormatter`);
- ``--json`` prints one JSON document on stdout, the same envelope for every command of
  both CLIs (:func:`envelope`): ``{"schema": 1, "command": NAME, "status": N, "ok": bool,
  "exit_code": N, "error": null | {"code", "message"}, ...the command's keys}``. ``status``
  is the exit code, under the key the Salesforce CLI (``sf ... --json``) uses; a usage
  error is a document with ``"status": 2`` and the error too, on stdout;
- exit 0 when the command did its job, 1 when what it checked failed, 2 when it could not
  run (bad flags, unknown scenario, unreadable file), 141 when stdout was closed early
  (``| head``), as a Unix tool killed by SIGPIPE reports;
- progress bars on stderr, only on a terminal (:func:`progress_console`);
- no flag is silently ignored: one that does not apply (``--records`` with ``--org-file``)
  is refused with exit 2 (:func:`refuse_with_org_file`). The shared org flags default to
  None so a typed value can be told from a default (:func:`fill_org_defaults`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NoReturn

from ..limits import EDITIONS
from ..nightly import TARGET_FIELD
from ..org import DEFAULT_LICENSES, Org
from ..scenarios import SCENARIOS

__all__ = [
    "DEFAULT_RECORDS",
    "JSON_OUTPUT",
    "ORG_DEFAULTS",
    "SCHEMA_VERSION",
    "ArgumentParser",
    "HelpFormatter",
    "add_org_arguments",
    "build_org",
    "check_writable",
    "envelope",
    "fill_org_defaults",
    "print_json",
    "progress_console",
    "records_for",
    "refuse_with_org_file",
    "seeding",
    "silence_stdout",
    "stage_counts",
    "stdout_console",
]

DEFAULT_RECORDS = 50_000
"""The size of ``massive-upload`` when ``--records`` is not given, the same for every
command of both CLIs (``seed``, ``serve``, ``replay``, ``verify-org --sim``): seeds in about
a second and replays in about ten, and is large enough (partitions of 5,000, over the 2,000
OFFSET cap) for V1 to show its skipped records. The team's size is ``--records 2000000``
(seeding alone then takes about half a minute). Other scenarios keep their own size
(``small``: 300)."""

SCHEMA_VERSION = 1
"""Version of the ``--json`` envelope (the same number ``verify-org`` prints)."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default in ``--help`` (argparse's defaults formatter), except
    where there is none to show (None, False, an empty list) or the help already says it;
    keeps descriptions as written (no re-wrapping of the examples)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or "default" in text or default is argparse.SUPPRESS
                or default is None or default is False or default in ([], "")
                or not action.option_strings):
            return text
        shown = f"{default:,}" if isinstance(default, int) and not isinstance(
            default, bool) else "%(default)s"
        return f"{text} (default: {shown})" if text else f"(default: {shown})"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error (``prog: error: reason``), exit code 2, and, when
    ``--json`` is on the command line, the error as a JSON envelope on stdout as well."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        """argparse's, then the shared org flags' defaults filled in
        (:func:`fill_org_defaults`), so every parse gives the values the help states."""
        parsed, extras = super().parse_known_args(args, namespace)
        return fill_org_defaults(parsed), extras

    def error(self, message: str) -> NoReturn:
        """One line on stderr (and the JSON envelope under ``--json``), exit 2."""
        if JSON_OUTPUT[0]:
            command = self.prog.split()[-1] if " " in self.prog else "sforg-sim"
            print_json(envelope(command, 2, error={"code": "USAGE", "message": message}))
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


JSON_OUTPUT: list[bool] = [False]
"""Set by ``main`` when the argv it parses (which may not be ``sys.argv``) has ``--json``:
then errors, argparse's included, are JSON on stdout too."""


def records_for(scenario: str, records: int | None) -> int | None:
    """The record count to seed: ``records`` when given, else :data:`DEFAULT_RECORDS` for
    ``massive-upload`` and the scenario's own default (None) for the others."""
    if records is not None:
        return records
    return DEFAULT_RECORDS if scenario == "massive-upload" else None


ORG_DEFAULTS: dict[str, Any] = {"scenario": "massive-upload", "records": None, "seed": 0,
                                "edition": "enterprise", "licenses": DEFAULT_LICENSES}
"""The shared org flags' defaults. argparse's own default for each is None, so a value
the user typed can be told from one filled in (:func:`fill_org_defaults`): a flag that
does not apply (``--records`` with ``--org-file``) is refused when typed, never silently
ignored."""


def add_org_arguments(p: argparse.ArgumentParser) -> None:
    """Scenario and edition flags shared by seed, serve and replay (each defaults to None;
    :func:`fill_org_defaults` puts :data:`ORG_DEFAULTS` in after parsing)."""
    p.add_argument("--scenario", default=None, choices=sorted(SCENARIOS),
                   help="built-in dataset to seed (default: massive-upload)")
    others = ", ".join(f"{n:,} for {name}" for name, (_, n) in sorted(SCENARIOS.items())
                       if name != "massive-upload")
    p.add_argument("--records", type=_count, default=None, metavar="N",
                   help=f"number of records (default: {DEFAULT_RECORDS:,} for "
                        f"massive-upload, {others}; the team's org is 2000000)")
    p.add_argument("--seed", type=int, default=None,
                   help="data seed: same seed, same org (default: 0)")
    p.add_argument("--edition", default=None, choices=EDITIONS,
                   help="org edition: sets the API allocation (default: enterprise)")
    p.add_argument("--licenses", type=_count, default=None,
                   help="user licenses: the API allocation grows with them (default: "
                        f"{DEFAULT_LICENSES:,})")


def fill_org_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Record which shared org flags were typed (``args.typed_org_flags``, e.g.
    ``{"--records"}``) and put :data:`ORG_DEFAULTS` in for the others. Idempotent, and a
    no-op for a command without those flags; ``main`` calls it after parsing."""
    if not hasattr(args, "scenario"):
        return args
    if not hasattr(args, "typed_org_flags"):
        args.typed_org_flags = frozenset(
            f"--{name}" for name in ORG_DEFAULTS if getattr(args, name, None) is not None)
    for name, value in ORG_DEFAULTS.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    return args


def refuse_with_org_file(args: argparse.Namespace, flags: Collection[str],
                         why: str) -> None:
    """UsageError when ``--org-file`` is given with one of ``flags`` typed: they shape a
    seeded org, and a saved org already has its records, edition and licences (its API
    usage too). One line, naming the flags, so nothing is silently ignored."""
    if not getattr(args, "org_file", None):
        return
    typed = [f for f in flags if f in getattr(args, "typed_org_flags", ())]
    if typed:
        from ..errors import UsageError

        raise UsageError(f"{', '.join(typed)} cannot be used with --org-file: {why}")


def _count(text: str) -> int:
    try:
        n = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return n


def build_org(args: argparse.Namespace, path: str | None = None,
              console: Any = None) -> Org:
    """An org seeded as the shared flags say; in memory, or straight into file ``path``.

    Seeding into the file keeps peak memory at SQLite's page cache (about 600 MB for the
    2,000,000-record scenario) instead of the whole 2 GB database. ``console``: where the
    seeding spinner goes (:func:`seeding`).
    """
    fill_org_defaults(args)
    org = Org(edition=args.edition, licenses=args.licenses, path=path)
    records = records_for(args.scenario, args.records)
    with seeding(console, args.scenario, records) as progress:
        org.load_scenario(args.scenario, records=records, seed=args.seed, progress=progress)
    return org


@contextmanager
def seeding(console: Any, scenario: str, records: int | None
            ) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar while a scenario is seeded (on a terminal only); yields the callback
    to hand to ``Org.load_scenario(progress=...)`` (None off a terminal).

    ``massive-upload`` loads in chunks of :data:`sforg_sim.scenarios.CHUNK` records per
    statement, so the bar moves every few seconds even at 2,000,000 records.
    """
    if console is None or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    size = f"{records:,} records" if records is not None else "default size"
    with Progress(TextColumn(f"seeding {scenario} ({size})"), BarColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("seed", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def stdout_console(**kwargs: Any) -> Any:
    """A rich Console on stdout that reports a closed pipe (``| head``) as BrokenPipeError,
    which ``main`` turns into exit 141 as Unix tools do; rich's own handling exits 1, the
    code for "the check failed"."""
    from rich.console import Console

    class _PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError

    return _PipeConsole(**kwargs)


def progress_console() -> Any:
    """The console progress bars go to: stderr, and only drawn when stderr is a terminal
    (rich's ``Progress`` is disabled otherwise), so pipes and CI logs get nothing."""
    from rich.console import Console

    return Console(stderr=True)


def check_writable(path: str | None, flag: str) -> None:
    """Fail now, before any work, when ``path`` cannot be created: a missing folder or one
    we may not write into. A long replay must not end by losing its result."""
    if not path:
        return
    folder = Path(path).parent if str(Path(path).parent) else Path(".")
    from ..errors import UsageError

    if not folder.is_dir():
        raise UsageError(f"{flag} {path}: no such directory {str(folder)!r}")
    if Path(path).is_dir():
        raise UsageError(f"{flag} {path}: is a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".sforg-write-check-"):
            pass
    except OSError as e:
        raise UsageError(f"{flag} {path}: cannot write into {str(folder)!r} "
                         f"({e.strerror})") from None


def envelope(command: str, status: int, error: dict[str, str] | None = None,
             **keys: Any) -> dict[str, Any]:
    """The ``--json`` document every command prints (see the module docstring).

    Modelled on the Salesforce CLI's ``--json`` (Salesforce CLI Setup Guide, "Support for
    JSON Responses", https://developer.salesforce.com/docs/atlas.en-us.sfdx_setup.meta/
    sfdx_setup/sfdx_dev_cli_json_support.htm: JSON on stdout, properties only ever added
    within a version). The ``status`` key is the name ``sf`` prints its exit status under;
    that page does not spell the key out, so ``exit_code`` carries it too.
    """
    return {"schema": SCHEMA_VERSION, "command": command, "status": status,
            "ok": status == 0, "exit_code": status, "error": error, **keys}


def print_json(doc: dict[str, Any], out: IO[str] | None = None) -> None:
    """Write one JSON document and a newline to stdout (or ``out``)."""
    stream = out if out is not None else sys.stdout
    stream.write(json.dumps(doc, indent=2) + "\n")
    stream.flush()


def silence_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the interpreter's final flush does
    not complain (the Python documentation's recipe for SIGPIPE, ``signal`` module)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout replaced by a test's capture: nothing to do
        pass
    finally:
        os.close(devnull)


def stage_counts(org: Org) -> dict[str, int]:
    """StageName -> number of live Opportunities (the team's verification aggregate)."""
    rows = org.query("SELECT StageName, COUNT(Id) cnt FROM Opportunity GROUP BY StageName")
    return {r[TARGET_FIELD]: r["cnt"] for r in rows["records"]}
