"""Replay benchmark: V2 and V1 on the massive-upload scenario, against raw sqlite3.

    python benchmarks/bench_replay.py [--records 2000000] [--skip-v1] [--v1-calls N]
                                      [--no-result-cache] [--apex] [--skip-baselines]

Seeds the scenario once into ``benchmarks/out/massive-<N>.db`` (git-ignored, shared with the
other benchmarks through ``_common.py``) and reopens it
in memory for each run. Prints, for V2: wall time, records/s, CPU time, and the ratios (wall
and CPU) to the reference, the lean sqlite3 loop of issue 21 (per page of 500 in one
transaction: keyset page from the source table, Opportunities by one IN query, StageName
update with audit fields and history rows by executemany), then to the row-by-row and
set-based loops as context; the load average at start and end;
for V1: calls burned until REQUEST_LIMIT_EXCEEDED, coverage and wall time
(``--v1-calls N`` leaves only N calls in the quota, for a shorter run); and peak RSS.
``--apex``: the same V2 run from the team's Apex source (``DynamicPartitionProcessorV2.cls``
deployed, ``start_v2.apex`` run: :mod:`sforg_sim.apexkit`) on another copy of the same
org, with its wall time and its ratio to the Python port's (issue 16's target: within 2x).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import raw_connection, seeded_file

from sforg_sim import Org
from sforg_sim.ids import make_ids
from sforg_sim.replay import replay
from sforg_sim.soql.parser import parse

LAST_CPU: dict[str, float] = {}
"""CPU seconds (``time.process_time``) of the last timed runs: on a shared machine the
wall-clock ratio moves with the load while the process's own CPU time hardly does (both
sides are single-threaded and CPU-bound in memory), so both ratios are printed."""


def org_file(records: int) -> Path:
    """The saved scenario org, seeded on first use."""
    return seeded_file(records)


def source_pages(conn: sqlite3.Connection, page: int) -> Iterator[list[Any]]:
    """The source table's keyset pages of ``page`` rows, as V2 reads them."""
    last = ""
    while True:
        rows = conn.execute(
            'SELECT "External_ID__c", "StageName__c" FROM "Opportunity_Source__dlm" '
            'WHERE "IsDeleted" = 0 AND "External_ID__c__sk" > ? '
            'ORDER BY "External_ID__c__sk" LIMIT ?', (last.upper(), page)).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield rows


def raw_loop(path: Path, page: int = 500) -> tuple[float, int]:
    """The same reads and writes as V2, straight on sqlite3 (no simulator in the way)."""
    org = Org.open(path, in_memory=True)
    conn = raw_connection(org)
    now, user = org.clock.stamp(), org.user_id
    hist = org.schema.get("OpportunityHistory")
    cols = org.store.columns(hist)
    quoted = ", ".join(f'"{c}"' for c in cols)
    ins = (f'INSERT INTO "OpportunityHistory" ({quoted}) '
           f'VALUES ({", ".join("?" * len(cols))})')
    counter = org.store.reserve_ids(hist, 3_000_000)
    t = time.perf_counter()
    n = 0
    for rows in source_pages(conn, page):
        stage = dict(rows)
        keys = [k.upper() for k in stage]
        opps = conn.execute(
            'SELECT "Id", "External_ID__c", "StageName", "Amount", "Probability", "CloseDate" '
            f'FROM "Opportunity" WHERE "External_ID__c__sk" IN ({",".join("?" * len(keys))})',
            keys).fetchall()
        todo = [o for o in opps if o[2] != stage[o[1]]]
        conn.execute("SAVEPOINT p")
        conn.executemany(
            'UPDATE "Opportunity" SET "StageName" = ?, "StageName__sk" = ?, '
            '"LastModifiedDate" = ?, "SystemModstamp" = ?, "LastModifiedById" = ? '
            'WHERE "Id" = ?',
            [(stage[o[1]], stage[o[1]].upper(), now, now, user, o[0]) for o in todo])
        hids = make_ids(hist.key_prefix, counter, len(todo))
        counter += len(todo)
        values = []
        for o, hid in zip(todo, hids):
            v = {"Id": hid, "OpportunityId": o[0], "StageName": stage[o[1]], "Amount": o[3],
                 "Probability": o[4], "CloseDate": o[5], "IsDeleted": 0, "CreatedDate": now,
                 "LastModifiedDate": now, "SystemModstamp": now, "CreatedById": user,
                 "LastModifiedById": user}
            values.append(org.store.row(hist, v))
        conn.executemany(ins, values)
        conn.execute("RELEASE p")
        n += len(todo)
    return time.perf_counter() - t, n


def _partition_bounds(conn: sqlite3.Connection, parts: int) -> list[tuple[str, str]]:
    """The replay's partition ranges (upper-case keys), from the source's key count."""
    from sforg_sim.nightly import partitions

    n = conn.execute('SELECT COUNT(*) FROM "Opportunity_Source__dlm"').fetchone()[0]
    return [(p.start.upper(), p.end.upper()) for p in partitions(n, parts)]


def lean_loop(path: Path, storage: str = "memory", page: int = 500,
              parts: int = 10) -> tuple[float, int]:
    """The reference baseline (issue 21): what a competent hand-written loop does for V2's
    work, per page of 500 in ONE transaction per page. Per partition range: read 500 source
    rows by keyset (``key > ? AND key < ? ORDER BY key LIMIT 500``), read the matching
    Opportunities with one ``IN (...)`` query, update StageName and the audit fields with
    one ``executemany``, insert one history row per change with one ``executemany``. Same
    database and indexes as seeded (External ID, Id and the covering storage index), same
    pragmas as the simulator's; ``storage`` ``file`` works on a copy of the seeded file,
    ``memory`` on an in-memory copy, as the replay it is compared with."""
    org = Org.open(path, in_memory=True)
    if storage == "file":
        tmp = path.with_name(path.stem + ".lean.db")
        org.save(tmp, overwrite=True)
        org.close()
        org = Org.open(tmp)
    conn = raw_connection(org)
    now, user = org.clock.stamp(), org.user_id
    hist = org.schema.get("OpportunityHistory")
    counter = org.store.reserve_ids(hist, 3_000_000)
    ranges = _partition_bounds(conn, parts)
    ins = ('INSERT INTO "OpportunityHistory" ("Id", "OpportunityId", "StageName", '
           '"StageName__sk", "Amount", "Probability", "CloseDate", "IsDeleted", '
           '"CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", '
           '"SystemModstamp") VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)')
    upd = ('UPDATE "Opportunity" SET "StageName" = ?, "StageName__sk" = ?, '
           '"LastModifiedDate" = ?, "SystemModstamp" = ?, "LastModifiedById" = ? '
           'WHERE "Id" = ?')
    src = ('SELECT "External_ID__c__sk", "StageName__c" FROM "Opportunity_Source__dlm" '
           'WHERE "IsDeleted" = 0 AND "External_ID__c__sk" {} ? AND "External_ID__c__sk" < ? '
           'ORDER BY "External_ID__c__sk" LIMIT ?')
    first, then = src.format(">="), src.format(">")
    t, cpu = time.perf_counter(), time.process_time()
    n = 0
    for lo, hi in ranges:
        last, sql = lo, first  # half-open ranges: the first page from `>= lo`
        while True:
            conn.execute("BEGIN")
            rows = conn.execute(sql, (last, hi, page)).fetchall()
            if not rows:
                conn.execute("COMMIT")
                break
            last, sql = rows[-1][0], then
            stage = dict(rows)
            opps = conn.execute(
                'SELECT "Id", "External_ID__c__sk", "StageName", "Amount", "Probability", '
                '"CloseDate" FROM "Opportunity" WHERE "External_ID__c__sk" IN '
                f'({",".join("?" * len(rows))})', list(stage)).fetchall()
            todo = [o for o in opps if o[2] != stage[o[1]]]
            conn.executemany(upd, [(stage[o[1]], stage[o[1]].upper(), now, now, user, o[0])
                                   for o in todo])
            hids = make_ids(hist.key_prefix, counter, len(todo))
            counter += len(todo)
            conn.executemany(ins, [(h, o[0], stage[o[1]], stage[o[1]].upper(), o[3], o[4],
                                    o[5], now, user, now, user, now)
                                   for o, h in zip(todo, hids)])
            conn.execute("COMMIT")
            n += len(todo)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    if storage == "file":
        org.close()
        tmp.unlink()
    LAST_CPU["lean"] = cpu
    return seconds, n


def set_loop(path: Path, page: int = 500) -> tuple[float, int]:
    """The same reads and writes as set work, the fastest hand-written form found here:
    per page, the source page into a temp table, one UPDATE from it, one history INSERT
    ... SELECT (history ids built in Python, as they must be real 18-character ids)."""
    org = Org.open(path, in_memory=True)
    conn = raw_connection(org)
    now, user = org.clock.stamp(), org.user_id
    hist = org.schema.get("OpportunityHistory")
    counter = org.store.reserve_ids(hist, 3_000_000)
    conn.execute("CREATE TEMP TABLE pg (n INTEGER PRIMARY KEY, k TEXT UNIQUE, v TEXT, "
                 "hid TEXT)")
    t = time.perf_counter()
    n = 0
    for rows in source_pages(conn, page):
        hids = make_ids(hist.key_prefix, counter, len(rows))
        conn.execute("SAVEPOINT p")
        conn.execute("DELETE FROM pg")
        conn.executemany("INSERT INTO pg (k, v, hid) VALUES (?, ?, ?)",
                         [(k.upper(), v, h) for (k, v), h in zip(rows, hids)])
        # Only records whose stage changes get a history row and an update.
        conn.execute('DELETE FROM pg WHERE NOT EXISTS (SELECT 1 FROM "Opportunity" o '
                     'WHERE o."External_ID__c__sk" = pg.k AND o."StageName" IS NOT pg.v)')
        conn.execute(
            'UPDATE "Opportunity" SET ("StageName", "StageName__sk") = (SELECT v, upper(v) '
            'FROM pg WHERE pg.k = "Opportunity"."External_ID__c__sk"), '
            '"LastModifiedDate" = ?, "SystemModstamp" = ?, "LastModifiedById" = ? '
            'WHERE "External_ID__c__sk" IN (SELECT k FROM pg)', (now, now, user))
        done = conn.execute(
            'INSERT INTO "OpportunityHistory" ("Id", "OpportunityId", "StageName", '
            '"StageName__sk", "Amount", "Probability", "CloseDate", "IsDeleted", '
            '"CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", '
            '"SystemModstamp") SELECT pg.hid, o."Id", o."StageName", o."StageName__sk", '
            'o."Amount", o."Probability", o."CloseDate", 0, ?, ?, ?, ?, ? FROM pg '
            'CROSS JOIN "Opportunity" o ON o."External_ID__c__sk" = pg.k ORDER BY pg.n',
            (now, user, now, user, now)).rowcount
        conn.execute("RELEASE p")
        counter += done
        n += done
    return time.perf_counter() - t, n


def one_statement_floor(path: Path, bare: bool = False) -> str:
    """The lowest bound for V2's writes: ONE UPDATE of every Opportunity from the source
    and ONE INSERT ... SELECT of every history row (no pages, no Python per row).

    ``bare``: with the storage index verify-org relies on dropped first (untimed), so the
    UPDATE maintains only the field indexes."""
    org = Org.open(path, in_memory=True)
    conn = raw_connection(org)
    if bare:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                    "AND instr(name, '$ix') > 0").fetchall():
            conn.execute(f'DROP INDEX "{name}"')
    now, user = org.clock.stamp(), org.user_id
    t0 = time.perf_counter()
    conn.execute('SELECT "External_ID__c__sk", "StageName__c" FROM "Opportunity_Source__dlm" '
                 'WHERE "IsDeleted" = 0 ORDER BY "External_ID__c__sk"').fetchall()
    t1 = time.perf_counter()
    conn.execute("BEGIN")
    n = conn.execute(
        'UPDATE "Opportunity" SET "StageName" = s."StageName__c", "StageName__sk" = '
        's."StageName__c__sk", "LastModifiedDate" = ?, "SystemModstamp" = ?, '
        '"LastModifiedById" = ? FROM "Opportunity_Source__dlm" s WHERE '
        's."External_ID__c__sk" = "Opportunity"."External_ID__c__sk" AND '
        '"Opportunity"."StageName" IS NOT s."StageName__c"', (now, now, user)).rowcount
    t2 = time.perf_counter()
    m = conn.execute(
        'INSERT INTO "OpportunityHistory" ("Id", "OpportunityId", "StageName", '
        '"StageName__sk", "Amount", "Probability", "CloseDate", "IsDeleted", "CreatedDate", '
        '"CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp") '
        "SELECT printf('008x%014d', rowid), \"Id\", \"StageName\", \"StageName__sk\", "
        '"Amount", "Probability", "CloseDate", 0, ?, ?, ?, ?, ? FROM "Opportunity"',
        (now, user, now, user, now)).rowcount
    t3 = time.perf_counter()
    conn.execute("COMMIT")
    label = "without the storage index" if bare else "as seeded"
    return (f"one-statement floor ({label}): read source {t1 - t0:.1f} s; one UPDATE of {n:,} rows "
            f"{t2 - t1:.1f} s; one history INSERT of {m:,} rows {t3 - t2:.1f} s; "
            f"total {t3 - t0:.1f} s")


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "massive-upload"
CLASSES = EXAMPLE / "force-app" / "main" / "default" / "classes"


def _open(path: Path, storage: str) -> tuple[Org, Path | None]:
    """An in-memory copy of the seeded org, or a file copy (returned for deletion)."""
    if storage != "file":
        return Org.open(path, in_memory=True), None
    copy = path.with_name(path.stem + ".replay.db")
    Org.open(path, in_memory=True).save(copy, overwrite=True)
    return Org.open(copy), copy


def apex_v2(path: Path, storage: str, no_result_cache: bool) -> Any:
    """The V2 replay from the team's Apex source on a fresh copy of the org: the report
    (same figures as the Python port's, ``wall_seconds`` included)."""
    from sforg_sim.apexkit import ApexProcessor

    org, copy = _open(path, storage)
    if no_result_cache:
        org.soql.results.max_rows = 0
    r = replay(org, ApexProcessor.from_script(CLASSES, EXAMPLE / "scripts" / "start_v2.apex"))
    org.close()
    if copy is not None:
        copy.unlink(missing_ok=True)
    return r


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--skip-v1", action="store_true")
    ap.add_argument("--skip-v2", action="store_true")
    ap.add_argument("--floor", action="store_true",
                    help="also time the one-statement floor of V2's writes")
    ap.add_argument("--v1-calls", type=int, default=None,
                    help="API calls left in the quota for V1 (default: the full 440,000)")
    ap.add_argument("--v1-source-order", choices=("unstable", "stable"), default="unstable",
                    help="the Data Cloud source's order for V1: unstable (the default model) "
                         "or stable, under which V1 burns the whole 440,000-call quota "
                         "(benchmarks/README.md, issue 13)")
    ap.add_argument("--no-result-cache", action="store_true",
                    help="turn the SOQL result cache off in the replays (for comparison)")
    ap.add_argument("--apex", action="store_true",
                    help="also replay V2 from its Apex source and print the ratio to the port")
    ap.add_argument("--skip-baselines", action="store_true",
                    help="skip the sqlite3 baselines after V2")
    ap.add_argument("--storage", choices=("memory", "file"), default="memory",
                    help="V2 and the lean loop on an in-memory copy (default) or a file copy")
    args = ap.parse_args()
    path = org_file(args.records)
    # The machine may be shared: a figure means little without the load it was taken under.
    print(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if not args.skip_v2:
        t = time.perf_counter()
        copy = path.with_name(path.stem + ".replay.db")
        if args.storage == "file":
            Org.open(path, in_memory=True).save(copy, overwrite=True)
            org = Org.open(copy)
        else:
            org = Org.open(path, in_memory=True)
        load = time.perf_counter() - t
        if args.no_result_cache:
            org.soql.results.max_rows = 0
        # The SOQL grammar's LALR tables are built once per process (lark), whatever the
        # replay's size: timed apart, as the org load is, so the ratio compares the work.
        t = time.perf_counter()
        parse("SELECT Id FROM Opportunity")
        grammar = time.perf_counter() - t
        cpu = time.process_time()
        r = replay(org, "v2")
        cpu = time.process_time() - cpu
        print(f"V2: {r.processed:,} processed, {r.duplicates} duplicates, {r.skipped} skipped, "
              f"{r.api_calls['data']:,} data calls, simulated {r.simulated_seconds / 3600:.2f} h,"
              f" outcome {r.outcome}")
        print(f"V2 wall: {r.wall_seconds:.1f} s ({r.processed / r.wall_seconds:,.0f} records/s)"
              f", org load {load:.1f} s, SOQL grammar built once per process {grammar:.1f} s"
              f"; CPU {cpu:.1f} s")
        org.close()
        del org
        copy.unlink(missing_ok=True)
        gc.collect()  # the org has reference cycles: free its 2 GB before the baselines
        if args.apex:
            a = apex_v2(path, args.storage, args.no_result_cache)
            same = all(getattr(a, k) == getattr(r, k) for k in (
                "records", "processed", "duplicates", "skipped", "stage_counts", "api_calls",
                "async_executions", "outcome"))
            print(f"V2 in Apex: {a.processed:,} processed, {a.api_calls['data']:,} data calls,"
                  f" outcome {a.outcome}; same figures as the port: {same}")
            print(f"V2 in Apex wall: {a.wall_seconds:.1f} s ({a.processed / a.wall_seconds:,.0f}"
                  f" records/s); ratio Apex/port = {a.wall_seconds / r.wall_seconds:.2f}")
            gc.collect()
    if not args.skip_v2 and not args.skip_baselines:
        lean, n = lean_loop(path, args.storage)
        print(f"lean sqlite3 loop (the reference, {args.storage}): {lean:.1f} s for {n:,} "
              f"records; ratio V2/lean = {r.wall_seconds / lean:.2f}; CPU {LAST_CPU['lean']:.1f}"
              f" s, CPU ratio V2/lean = {cpu / LAST_CPU['lean']:.2f}")
        gc.collect()
        raw, n = raw_loop(path)
        print(f"raw sqlite3 loop (row by row): {raw:.1f} s for {n:,} records; "
              f"ratio V2/raw = {r.wall_seconds / raw:.2f}")
        gc.collect()
        fast, n = set_loop(path)
        print(f"raw sqlite3 loop (set-based): {fast:.1f} s for {n:,} records; "
              f"ratio V2/set-based = {r.wall_seconds / fast:.2f}")

    if args.floor:
        for bare in (False, True):
            gc.collect()
            print(one_statement_floor(path, bare))

    if not args.skip_v1:
        gc.collect()
        org = Org.open(path, in_memory=True)
        if args.v1_calls is not None:
            org.set_api_remaining(args.v1_calls)
        if args.no_result_cache:
            org.soql.results.max_rows = 0
        r = replay(org, "v1-burn-quota", source_options=(
            {"unstable_order": False} if args.v1_source_order == "stable" else None))
        print(f"V1: {r.api_calls['data']:,} calls burned, {r.processed:,} processed "
              f"({100 * r.processed / r.records:.1f}%), outcome {r.outcome}, simulated "
              f"{r.simulated_seconds / 3600:.1f} h, {r.async_executions:,} async executions")
        print(f"V1 source order: {args.v1_source_order}; wall: {r.wall_seconds:.1f} s "
              f"({r.api_calls['data'] / r.wall_seconds:,.0f} calls/s)")

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {rss:,.0f} MiB (the whole process: the largest of the runs above)")
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
