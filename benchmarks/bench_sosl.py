"""SOSL search benchmarks on the ``massive-upload`` org (issue 19 follow-up: SOSL speed).

    python benchmarks/bench_sosl.py                    # 100k and 1M records
    python benchmarks/bench_sosl.py --records 100000   # one size
    python benchmarks/bench_sosl.py --no-before        # skip the slow reference path
    python benchmarks/bench_sosl.py --acme 1000000     # the common-term shape only

Org files are cached in benchmarks/out/ (seeding 1M records takes about a minute).

Per search shape and size it reports:

- *before*: the reference path (``search(..., reference=True)``): every Opportunity read
  through the SOQL engine and tokenised in Python, every match handed to step 2 (one run;
  it is slow);
- *after, first*: the fast path's first run on the opened org (it also learns, once per
  version of the table, which searched columns hold non-ASCII text);
- *after*: the fast path, median of 5 later runs;
- *baseline*: raw ``sqlite3`` on the same connection doing the same candidate read (the
  hand-written ``LIKE`` prefilter over the same columns, every row fetched), median of 5;
  the ratio after / baseline is what the simulator adds on top of SQLite's scan (the exact
  token check of the candidates, step 2 through SOQL, the REST shaping of the records).

The SOQL result cache is off, so a repeated search is not answered from cached rows.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from _common import raw_connection, seeded_file

from sforg_sim import Org
from sforg_sim.sosl.engine import search

ALL = ["Name", "StageName", "Type", "Description", "External_ID__c"]
"""The searched fields of Opportunity IN ALL FIELDS (its text fields)."""


def _like(cols: list[str], *words: str) -> str:
    """The hand-written candidate condition: every word somewhere in one of ``cols``."""
    per = [" OR ".join(f'"{c}" LIKE \'%{w}%\'' for c in cols) for w in words]
    return " AND ".join(f"({p})" for p in per)


def _hand(cols: list[str], cond: str) -> str:
    return (f'SELECT "Id", {", ".join(chr(34) + c + chr(34) for c in cols)} FROM '
            f'"Opportunity" WHERE "IsDeleted" = 0 AND ({cond})')


SHAPES: list[tuple[str, str, str]] = [
    ("one word", "FIND {Leverage} RETURNING Opportunity(Name)",
     _hand(ALL, _like(ALL, "leverage"))),
    ("prefix wildcard", "FIND {Collab*} RETURNING Opportunity(Name)",
     _hand(ALL, _like(ALL, "collab"))),
    ("phrase", 'FIND {"Virtual Models"} RETURNING Opportunity(Name)',
     _hand(ALL, " OR ".join(f"(\"{c}\" LIKE '%virtual%' AND \"{c}\" LIKE '%models%')"
                            for c in ALL))),
    ("OR of two words", "FIND {Seize OR Reinvent} RETURNING Opportunity(Name)",
     _hand(ALL, f"({_like(ALL, 'seize')}) OR ({_like(ALL, 'reinvent')})")),
    ("IN NAME FIELDS", "FIND {Leverage} IN NAME FIELDS RETURNING Opportunity(Name)",
     _hand(["Name"], _like(["Name"], "leverage"))),
    ("one record (external id)", "FIND {externalOpp0004242} RETURNING Opportunity(Name)",
     _hand(ALL, _like(ALL, "externalopp0004242"))),
    ("RETURNING WHERE + ORDER BY", "FIND {Leverage} RETURNING Opportunity(Name, Amount "
     "WHERE Amount > 400000 ORDER BY Amount DESC)", _hand(ALL, _like(ALL, "leverage"))),
    ("broad word (a stage), WHERE", "FIND {Discovery} RETURNING Opportunity(Name WHERE "
     "Amount > 400000)", _hand(ALL, _like(ALL, "discovery"))),
]


def _time(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times = []
    out = None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def bench(n: int, before: bool) -> None:
    """Print one table row per shape for an org of ``n`` records."""
    org = Org.open(seeded_file(n))
    org.soql.results.max_rows = 0
    conn = raw_connection(org)
    print(f"\n{n:,} Opportunity records")
    print("| shape | matches | before | after, first | after | baseline | after/baseline |")
    print("|---|---|---|---|---|---|---|")
    try:
        for label, sosl, hand in SHAPES:
            def fast(sosl: str = sosl) -> Any:
                with org.lock:
                    return search(org.soql, org.schema, sosl)

            def slow(sosl: str = sosl) -> Any:
                with org.lock:
                    return search(org.soql, org.schema, sosl, reference=True)

            def raw(hand: str = hand) -> int:
                return len(conn.execute(hand).fetchall())

            first, got = _time(fast, 1)
            after, got = _time(fast, 5)
            base, candidates = _time(raw, 5)
            if before:
                old, want = _time(slow, 1)
                assert got == want, f"{label}: the fast path answers differently"
                old_s = f"{old:.2f} s"
            else:
                old_s = "-"
            print(f"| {label} | {len(got[0])} of {candidates} candidates | {old_s} | "
                  f"{first:.3f} s | {after:.3f} s | {base:.3f} s | {after / base:.2f} |",
                  flush=True)
    finally:
        org.close()


ACME_SHAPES = [
    ("common term", "FIND {Acme} RETURNING Account(Name)"),
    ("common term, LIMIT 10", "FIND {Acme} RETURNING Account(Name LIMIT 10)"),
    ("common term, ORDER BY", "FIND {Acme} RETURNING Account(Name ORDER BY Name)"),
    ("common term, WHERE", "FIND {Acme} RETURNING Account(Name WHERE Name LIKE 'Acme 9%')"),
    ("common term, ORDER BY DESC, LIMIT/OFFSET",
     "FIND {Acme} RETURNING Account(Name ORDER BY Name DESC LIMIT 10 OFFSET 5)"),
    ("common term, WHERE + ORDER BY",
     "FIND {Acme} RETURNING Account(Name WHERE Name LIKE 'Acme 9%' ORDER BY Name DESC)"),
    ("common term, ORDER BY a field all rows share",
     "FIND {Acme} RETURNING Account(Name ORDER BY Industry LIMIT 20)"),
    ("common term, WHERE matching one row",
     "FIND {Acme} RETURNING Account(Name WHERE Name = 'Acme 77777' ORDER BY Name)"),
    ("rare term, ORDER BY", "FIND {Needle} RETURNING Account(Name ORDER BY Name)"),
]
"""Review 5, finding 14 and its follow-up: every Account matches (``Acme N``) but one
(``Needle Works``)."""


def bench_acme(n: int) -> None:
    """``n`` Accounts named ``Acme 0`` .. ``Acme n-1``: a term every record matches.

    *before*: both early stops off (every candidate tokenised and every match handed to
    step 2, as before review 5);
    *after*: with them (no WHERE / ORDER BY: the candidates are read in Id order; with
    a WHERE or an ORDER BY: SQLite filters and orders the candidates first; either way
    tokenising ends at the last row that can come back). Median of 3 runs each; the
    answers are checked equal."""
    from sforg_sim.sosl import engine as sosl_engine

    org = Org()
    t = time.perf_counter()
    for i in range(0, n, 20_000):
        org.insert("Account", [{"Name": f"Acme {j}"} for j in range(i, min(n, i + 20_000))])
    org.insert("Account", [{"Name": "Needle Works"}])
    print(f"{n:,} Accounts 'Acme N' inserted in {time.perf_counter() - t:.0f} s")
    org.soql.results.max_rows = 0  # the SOQL result cache off, as in bench()
    runner = sosl_engine._Runner
    real, real_ordered = runner.early_stop, runner.ordered_ids
    for label, sosl in ACME_SHAPES:
        def run(sosl: str = sosl) -> Any:
            with org.lock:
                return search(org.soql, org.schema, sosl)
        runner.early_stop = lambda self, spec, cap: None  # type: ignore[method-assign]
        runner.ordered_ids = lambda *a: None  # type: ignore[method-assign]
        before, want = _time(run, 3)
        runner.early_stop = real  # type: ignore[method-assign]
        runner.ordered_ids = real_ordered  # type: ignore[method-assign]
        after, got = _time(run, 3)
        assert got == want, label
        print(f"| {label} `{sosl[5:]}` | {len(got[0]):,} | {before:.2f} s | {after:.3f} s |")
    org.close()


def main() -> None:
    """Parse the arguments and run the sizes asked for."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, action="append",
                   help="org size (repeatable; default 100,000 and 1,000,000)")
    p.add_argument("--no-before", action="store_true",
                   help="skip the slow reference path (about 10 s per search at 1M)")
    p.add_argument("--acme", type=int, action="append",
                   help="only the common-term shape on this many Accounts (repeatable)")
    args = p.parse_args()
    if args.acme:
        for n in args.acme:
            bench_acme(n)
        return
    for n in args.records or [100_000, 1_000_000]:
        bench(n, not args.no_before)


if __name__ == "__main__":
    main()
