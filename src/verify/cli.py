"""``verify-org``: check an org after a run, with an exit code a pipeline can trust.

    verify-org --expect Qualification=2000000 --expect Discovery=0 [--strict] ...
    verify-org limits | progress | reconcile --source FILE.csv

Exit codes: 0 every expectation holds; 1 one does not (the table shows which); 2 it could
not check (no credentials, unreachable org, bad flags, a query the org refused, a
``--timeout`` or ``--deadline`` passed). Every exit-2 path prints exactly one line to
stderr (never a traceback; ``--debug`` shows one), and with ``--json`` a JSON document
with ``"error"`` to stdout as well, argparse's own errors included. A closed stdout
(``| head``) ends the run quietly with 141, as a Unix tool stopped by SIGPIPE. Everything
written to stdout and stderr goes through :mod:`verify.redact`: no access token, password
or session id is ever printed. Long steps (the check, its partition fallback, the Bulk
polling of ``reconcile``) show a spinner with the requests sent so far, on a terminal
only.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from rich.console import Console

from . import redact
from .checks import DEFAULT_WHERE, Checker, CheckSpec, parse_datetime, parse_ranges, summarize_jobs
from .connect import DEFAULT_TIMEOUT, Connection, ConnectOptions, ReadOnlyViolation, connect
from .deadline import RunDeadline
from .errors import RetryPolicy, VerifyError, classify, one_line
from .expectations import ExpectationError, parse_count, parse_expectations
from .reconcile import reconcile
from .report import (
    check_json,
    envelope,
    limits_json,
    print_json,
    progress_json,
    reconcile_json,
    render_check,
    render_limits,
    render_progress,
    render_reconcile,
)

__all__ = ["SIM_DEFAULT_RECORDS", "SUBCOMMANDS", "build_parser", "main"]

SUBCOMMANDS = ("check", "limits", "progress", "reconcile")

SIM_DEFAULT_RECORDS = 50_000
"""``--sim``'s ``massive-upload`` size when ``--records`` is not given: the same default as
every ``sforg-sim`` command (``sforg_sim.cli.common.DEFAULT_RECORDS``; a test keeps the two
equal, since verify never imports sforg_sim outside ``--sim``)."""

BROKEN_PIPE = 141
"""Exit status when stdout closes early (``verify-org ... | head``): 128 + SIGPIPE."""

_DESCRIPTIONS = {
    "check": "Count records by value and compare with --expect (the team's StageName "
             "aggregate).",
    "limits": "Show the org's limits (/limits), DailyApiRequests first.",
    "progress": "Show Async Apex jobs by status and the current counts by value.",
    "reconcile": "Compare a source CSV with the org record by record (Bulk API 2.0 query).",
}

_EPILOG = """commands:
  check (the default)  verify-org --expect Qualification=2000000 --expect Discovery=0
  limits               verify-org limits --target-org prod --min-remaining 5000
  progress             verify-org progress --sim --org-file after.sforg
  reconcile            verify-org reconcile --source expected.csv --out mismatches.csv
  each has its own --help (verify-org limits --help)

exit status:
  0  every expectation holds
  1  one does not (the table shows which)
  2  it could not check (no credentials, unreachable org, bad flags, a query the org
     refused, --timeout or --deadline passed): one line on stderr"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default (argparse's defaults formatter) unless the help already
    says it or there is none; keeps the epilog's layout."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if ("default" in text or default in (None, False, [], "")
                or default is argparse.SUPPRESS or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2 (verify never imports sforg_sim);
    under ``--json`` the error is a JSON document on stdout too."""

    json_output = False
    """Set by :func:`main` when its argv has ``--json``."""

    def error(self, message: str) -> NoReturn:
        """Print one (redacted) line and exit 2."""
        text = redact.redact(one_line(message))
        if ArgumentParser.json_output:
            command = self.prog.split()[-1] if " " in self.prog else "check"
            print_json(envelope(command, 2, None, error={"code": "BAD_FLAG", "message": text}),
                       sys.stdout)
        self.exit(2, f"verify-org: error: {text} (see --help)\n")


def _count(text: str) -> int:
    try:
        return parse_count(text)
    except ExpectationError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive(text: str) -> int:
    n = _count(text)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(v):  # nan would mean "no limit", inf overflows the timers
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of seconds")
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return v


def _positive_seconds(text: str) -> float:
    v = _seconds(text)
    if v <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return v


def _common(command: str) -> ArgumentParser:
    p = ArgumentParser(add_help=False)
    c = p.add_argument_group("connection (first match wins: flags, --target-org, --sim, "
                             "then SF_* environment variables)")
    c.add_argument("--instance-url", metavar="URL", help="org URL, e.g. "
                   "https://acme.my.salesforce.com (with --access-token)")
    c.add_argument("--access-token", metavar="TOKEN", help="session id / OAuth access token "
                   "(never printed)")
    c.add_argument("--target-org", "-o", metavar="ALIAS", help="an org the Salesforce CLI (sf) "
                   "knows: runs `sf org display --target-org ALIAS --json`")
    c.add_argument("--sim", action="store_true", help="start the simulator (sforg_sim) and "
                   "check it over HTTPS like any org")
    c.add_argument("--scenario", metavar="NAME", help="--sim scenario (default "
                   "massive-upload)")
    c.add_argument("--records", type=_count, metavar="N", help="--sim scenario size "
                   f"(default {SIM_DEFAULT_RECORDS:,} for massive-upload, as in sforg-sim)")
    c.add_argument("--org-file", metavar="PATH", help="--sim: serve a saved org file "
                   "(opened in memory; the file is not changed)")
    c.add_argument("--api-version", metavar="VER", help="REST API version, e.g. 59.0")
    c.add_argument("--timeout", type=_positive_seconds, default=DEFAULT_TIMEOUT,
                   metavar="SECONDS", help="time limit of every HTTP request, from sending "
                   "it to the last byte of the answer, however slowly the bytes come "
                   f"(default {DEFAULT_TIMEOUT:g})")
    c.add_argument("--deadline", type=_positive_seconds, metavar="SECONDS",
                   help="time limit of the whole run: no request is sent and no retry "
                   "waits past it (exit 2; default: none)")
    c.add_argument("--retries", type=_count, default=3, metavar="N", help="retries of a "
                   "transient failure (503, UNABLE_TO_LOCK_ROW, connection reset; default "
                   "3); REQUEST_LIMIT_EXCEEDED is never retried")
    if command != "limits":  # limits counts nothing
        q = p.add_argument_group("what to count")
        q.add_argument("--object", default="Opportunity", help="sObject (default "
                       "Opportunity)")
        q.add_argument("--field", default="StageName", help="field to group by "
                       "(default StageName)")
        # argparse %-formats help strings: the default's LIKE pattern needs its % doubled.
        q.add_argument("--where", default=DEFAULT_WHERE, help="SOQL condition (default "
                       f"{DEFAULT_WHERE.replace('%', '%%')}; '' for none)")
    if command in ("check", "reconcile"):  # the only two that read ranges or keys
        q.add_argument("--partition-field", default="External_ID__c", metavar="FIELD",
                       help="field ranges are taken on (default External_ID__c)")
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="JSON with stable keys on stdout")
    o.add_argument("--verbose", "-v", action="store_true",
                   help="log every request (tokens masked) to stderr")
    o.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def build_parser(command: str = "check") -> ArgumentParser:
    """The parser of one subcommand (``check`` is the default)."""
    common = _common(command)
    prog = "verify-org" if command == "check" else f"verify-org {command}"
    usage = ("verify-org [check|limits|progress|reconcile] [options]"
             if command == "check" else f"{prog} [options]")
    p = ArgumentParser(prog=prog, parents=[common], usage=usage,
                       description=_DESCRIPTIONS[command],
                       epilog=_EPILOG if command == "check" else None,
                       formatter_class=_HelpFormatter)
    p.add_argument("--version", action="version", version=f"verify-org {_version()}")
    if command == "check":
        p.add_argument("--expect", action="append", metavar="VALUE=COUNT", default=[],
                       help="expected number of records with this value (repeatable; "
                       "2,000,000 and 2_000_000 accepted)")
        p.add_argument("--strict", action="store_true",
                       help="any value not given with --expect must be 0")
        p.add_argument("--partitions", type=_positive, metavar="N",
                       help="count per partition-field range in N partitions (also the "
                       "automatic fallback, with 10, when the aggregate hits QUERY_TIMEOUT)")
        p.add_argument("--ranges", metavar="LIST", help="partition boundaries: "
                       "'B1,B2,...' or 'A to B, B to C' (half-open; open-ended outer "
                       "partitions are added)")
        g = p.add_mutually_exclusive_group()
        g.add_argument("--modified-since", metavar="ISO8601", help="also require 0 records "
                       "with LastModifiedDate before this time (no offset = UTC)")
        g.add_argument("--run-started", metavar="ISO8601", help="the same: when the run "
                       "started")
    elif command == "limits":
        p.add_argument("--min-remaining", type=_count, metavar="N",
                       help="exit 1 when fewer DailyApiRequests remain")
    elif command == "progress":
        p.add_argument("--job-class", metavar="NAME", help="only jobs of this Apex class")
        p.add_argument("--since", metavar="ISO8601", help="only jobs created since")
        p.add_argument("--limit", type=_positive, default=500, metavar="N",
                       help="newest N jobs (default 500)")
    elif command == "reconcile":
        p.add_argument("--source", required=True, metavar="FILE.csv",
                       help="CSV with a header: External ID, expected value")
        p.add_argument("--out", metavar="FILE",
                       help="write every mismatch to this CSV (default: none written; the "
                       "report shows the counts and the first ten)")
        p.add_argument("--source-key", metavar="COLUMN", help="key column (default: first)")
        p.add_argument("--source-value", metavar="COLUMN",
                       help="expected-value column (default: second)")
        p.add_argument("--case-sensitive-keys", action="store_true",
                       help="match External IDs case-sensitively")
        p.add_argument("--bulk-poll", type=_seconds, default=1.0, metavar="SECONDS",
                       help="Bulk API job polling interval (default 1)")
        p.add_argument("--page-size", type=_positive, default=50_000, metavar="N",
                       help="records per Bulk result page (default 50,000)")
        p.add_argument("--workdir", metavar="DIR", help="scratch directory (default: temp)")
    return p


def _version() -> str:
    """The installed package's version (verify ships in the sforg-sim distribution)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sforg-sim")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _sim_records(args: argparse.Namespace) -> int | None:
    """``--records`` for ``--sim``: the shared default for massive-upload when not given."""
    if args.records is not None or not args.sim or args.org_file:
        return args.records  # None outside --sim: connect() checks the combination
    if (args.scenario or "massive-upload") != "massive-upload":
        return None  # another scenario keeps its own size
    return SIM_DEFAULT_RECORDS


@contextmanager
def _working(console: Console, what: str, conn: Connection) -> Iterator[None]:
    """A spinner with the requests sent so far and the elapsed time, on stderr, only when
    stderr is a terminal: the check, its partition fallback (one query per range) and the
    Bulk polling of reconcile can each take minutes on a large org."""
    from rich.progress import (
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Task as _Task
    from rich.text import Text

    class _Sent(ProgressColumn):
        def render(self, task: _Task) -> Text:
            return Text(f"{conn.usage.sent:,} requests")

    with Progress(SpinnerColumn(), TextColumn(what), _Sent(), TimeElapsedColumn(),
                  console=console, transient=True,
                  disable=not console.is_terminal) as bar:
        bar.add_task(what, total=None)
        yield


def _spec(args: argparse.Namespace) -> CheckSpec:
    since_text = getattr(args, "modified_since", None) or getattr(args, "run_started", None)
    ranges = getattr(args, "ranges", None)
    # `limits` has no "what to count" flags and `progress` no --partition-field: their
    # defaults stand in (unused by those commands).
    return CheckSpec(
        sobject=getattr(args, "object", "Opportunity"),
        field=getattr(args, "field", "StageName"),
        where=getattr(args, "where", DEFAULT_WHERE).strip(),
        partition_field=getattr(args, "partition_field", "External_ID__c"),
        partitions=getattr(args, "partitions", None),
        ranges=parse_ranges(ranges) if ranges is not None else None,
        strict=getattr(args, "strict", False),
        modified_since=parse_datetime(since_text) if since_text else None)


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact.redact(record.getMessage())
        record.args = ()
        return True


def _setup_logging(verbose: bool) -> None:
    logger = logging.getLogger("verify")
    for h in list(logger.handlers):
        logger.removeHandler(h)
    if verbose:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("verify-org: %(message)s"))
        h.addFilter(_RedactFilter())
        logger.addHandler(h)
        logger.setLevel(logging.DEBUG)
    else:
        logger.setLevel(logging.WARNING)
    logger.propagate = False


def _run(command: str, args: argparse.Namespace, conn: Connection, checker: Checker,
         console: Console) -> tuple[int, dict[str, Any]]:
    """Run one subcommand; (exit code, its JSON keys)."""
    spec = _spec(args)
    retries = checker.policy
    err = Console(stderr=True)
    if command == "check":
        with _working(err, "counting", conn):
            result = checker.check(spec, parse_expectations(args.expect))
        code = 0 if result.ok else 1
        if not args.json:
            render_check(console, result, conn, retries.retried)
        return code, {**check_json(result, spec.strict), "_notes": result.counted.notes}
    if command == "limits":
        limits = checker.limits()
        code = 0
        if args.min_remaining is not None:
            rem = limits.get("DailyApiRequests", {}).get("Remaining")
            code = 0 if rem is not None and rem >= args.min_remaining else 1
        if not args.json:
            render_limits(console, limits, conn, args.min_remaining, retries.retried)
        return code, limits_json(limits)
    if command == "progress":
        since = parse_datetime(args.since) if args.since else None
        with _working(err, "reading jobs and counts", conn):
            jobs = checker.jobs(args.job_class, since, args.limit)
            counted = checker.count(spec, spec.where or None)
        summary = summarize_jobs(jobs)
        if not args.json:
            render_progress(console, summary, jobs, counted.counts, conn, counted.notes,
                            retries=retries.retried)
        return 0, {**progress_json(summary, jobs, counted.counts), "_notes": counted.notes}
    with _working(err, "Bulk API query and comparison", conn):
        result_r = reconcile(checker, spec, args.source, args.out, args.source_key,
                             args.source_value, args.case_sensitive_keys, args.bulk_poll,
                             args.page_size, args.workdir)
    if not args.json:
        render_reconcile(console, result_r, conn, retries.retried)
    return (0 if result_r.ok else 1), reconcile_json(result_r)


def _register_token_flags(argv: Sequence[str]) -> None:
    """Register ``--access-token`` values before parsing: an argparse error may echo
    them."""
    for i, a in enumerate(argv):
        if a == "--access-token" and i + 1 < len(argv):
            redact.register(argv[i + 1])
        elif a.startswith("--access-token="):
            redact.register(a.partition("=")[2])


def _sleep_within(deadline: RunDeadline,
                  sleep: Callable[[float], None]) -> Callable[[float], None]:
    """``sleep`` for retry backoff, refusing to wait past the run's deadline."""
    def wait(seconds: float) -> None:
        left = deadline.remaining()
        if left is not None and seconds >= left:
            raise deadline.exceeded(f"before retrying (the retry would wait {seconds:g}s)")
        sleep(seconds)
    return wait


class _PipeConsole(Console):
    """rich reports a closed stdout (``| head``) by exiting 1, the code for "a check
    failed": report it as BrokenPipeError instead, which ``main`` turns into 141."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def main(argv: Sequence[str] | None = None,
         sleep: Callable[[float], None] | None = None) -> int:
    """Entry point; returns the exit code. ``sleep`` replaces the retry backoff (tests)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    ArgumentParser.json_output = "--json" in args_list
    try:
        return _main(args_list, sleep)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as a Unix tool would; point stdout
        # at /dev/null so the interpreter's last flush does not complain.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is a test's capture: nothing to redirect
            pass
        finally:
            os.close(devnull)
        return BROKEN_PIPE
    finally:
        ArgumentParser.json_output = False


def _sim_failure(e: BaseException) -> str | None:
    """A plain reason for what the simulator refused under ``--sim`` (an unknown
    scenario, a file that is not a saved org, a missing extra), or None."""
    if isinstance(e, ModuleNotFoundError):
        return (f"--sim needs the simulator's server ({e.name} is not installed): "
                "pip install 'sforg-sim[server]'")
    if type(e).__module__.startswith("sforg_sim") or isinstance(e, (OSError, ValueError)):
        text = one_line(str(e)) or type(e).__name__
        return f"--sim: {text}"
    return None


def _main(argv: list[str], sleep: Callable[[float], None] | None) -> int:
    deadline = RunDeadline()  # started now; its limit is set once the flags are parsed
    _register_token_flags(argv)
    command = "check"
    if argv and argv[0] in SUBCOMMANDS:
        command = argv.pop(0)
    else:
        # `verify-org --sim --org-file x.sforg limits` reads as naturally as
        # `verify-org limits --sim ...`: a subcommand name left over after the options took
        # their values is the subcommand (a value such as `--where limits` is not left over).
        _, extras = build_parser("check").parse_known_args(argv)
        named = [a for a in extras if a in SUBCOMMANDS]
        if named:
            command = named[0]
            del argv[len(argv) - 1 - argv[::-1].index(command)]
    args = build_parser(command).parse_args(argv)
    deadline.seconds = args.deadline
    _setup_logging(args.verbose)
    policy = RetryPolicy(attempts=args.retries + 1)
    policy.sleep = _sleep_within(deadline, sleep or time.sleep)
    stdout = redact.redacting(sys.stdout)
    console = _PipeConsole(file=stdout, soft_wrap=True)
    conn: Connection | None = None
    code, error = 2, None
    body: dict[str, Any] = {}
    try:
        if command == "check":
            # Bad --expect is a usage error: report it before touching the network.
            expectations = parse_expectations(args.expect)
            if not expectations and not (args.modified_since or args.run_started):
                raise VerifyError("nothing to check: give --expect VALUE=COUNT "
                                  "(e.g. --expect Qualification=2000000)", "BAD_FLAG")
        _spec(args)  # bad --ranges / --modified-since: exit 2 before connecting
        conn = connect(ConnectOptions(
            instance_url=args.instance_url, access_token=args.access_token,
            target_org=args.target_org, sim=args.sim, scenario=args.scenario,
            records=_sim_records(args), org_file=args.org_file, api_version=args.api_version,
            timeout=args.timeout, deadline=deadline), policy=policy)
        code, body = _run(command, args, conn, Checker(conn, policy), console)
    except ExpectationError as e:
        error = {"code": "BAD_EXPECT", "message": one_line(str(e))}
    except VerifyError as e:
        error = {"code": e.code, "message": str(e)}
    except ReadOnlyViolation as e:  # a bug in verify-org, caught before anything was sent
        error = {"code": "READ_ONLY_VIOLATION", "message": one_line(str(e))}
    except KeyboardInterrupt:
        print("verify-org: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise
    except Exception as e:
        if args.debug:  # the traceback, redacted like everything else
            sys.stderr.write(redact.redact(traceback.format_exc()))
        failure = classify(e)
        sim_reason = _sim_failure(e) if args.sim and conn is None else None
        if sim_reason is not None:
            error = {"code": "SIM", "message": sim_reason}
        elif failure is not None:
            error = {"code": failure.code, "message": f"{failure.code}: {failure.message}"}
        else:
            error = {"code": "INTERNAL", "message": one_line(
                f"unexpected {type(e).__name__}: {e} (run with --debug for a traceback)")}
    finally:
        if conn is not None:
            conn.close()
    notes = body.pop("_notes", [])
    if error is not None:
        code = 2
        print(f"verify-org: error: {redact.redact(error['message'])}", file=sys.stderr)
    if args.json:
        doc = envelope(command, code, conn, notes, error, policy.retried)
        doc.update(body)
        print_json(doc, stdout)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
