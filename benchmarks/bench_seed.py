"""Seeding benchmark: ``massive-upload`` against raw sqlite3 ``executemany``, same run.

    python benchmarks/bench_seed.py [--records 2000000]

Phases run in child processes so each peak RSS is its own:
1. seed: ``Org().load_scenario("massive-upload", records=N)`` (timed), in memory or, with
   ``--storage file``, into ``Org(path=...)``, then saved to a file (not timed);
2. baseline: the same rows (read back from that file, untimed) inserted with plain
   ``executemany`` into tables and indexes built from the same DDL, in one transaction,
   in memory or in a file with the store's pragmas (timed: the inserts and index builds);
3. open: ``Org.open(file)`` and a first count (timed).
Prints one line per phase and the ratio seed / baseline.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TABLES = ("Opportunity", "OpportunityHistory", "Opportunity_Source__dlm")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_seed(records: int, path: str, storage: str) -> dict[str, float]:
    from sforg_sim import Org

    t = time.perf_counter()
    org = Org(path=path if storage == "file" else None)
    org.load_scenario("massive-upload", records=records)
    seconds = time.perf_counter() - t
    rss = _rss_mb()
    org.save(path)
    org.close()
    return {"seconds": seconds, "rss_mb": rss}


def phase_baseline(path: str, storage: str) -> dict[str, float]:
    src = sqlite3.connect(path)
    ddl = [r[0] for r in src.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name IN (?, ?, ?)", TABLES)]
    idx = [r[0] for r in src.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN (?, ?, ?)", TABLES)]
    target = ":memory:" if storage == "memory" else path + ".baseline"
    dst = sqlite3.connect(target, isolation_level=None)
    dst.execute("PRAGMA cache_size = -262144")
    dst.execute("PRAGMA temp_store = MEMORY")
    if storage == "memory":
        dst.execute("PRAGMA journal_mode = MEMORY")
    else:
        dst.execute("PRAGMA journal_mode = WAL")
        dst.execute("PRAGMA synchronous = OFF")
    for stmt in ddl:
        dst.execute(stmt)
    timed = 0.0
    dst.execute("BEGIN")
    for table in TABLES:
        cur = src.execute(f'SELECT * FROM "{table}" ORDER BY rowid')
        width = len(cur.description)
        sql = f'INSERT INTO "{table}" VALUES ({",".join("?" * width)})'
        while rows := cur.fetchmany(50_000):
            t = time.perf_counter()
            dst.executemany(sql, rows)
            timed += time.perf_counter() - t
    t = time.perf_counter()
    for stmt in idx:
        dst.execute(stmt)
    dst.execute("COMMIT")
    timed += time.perf_counter() - t
    return {"seconds": timed, "rss_mb": _rss_mb()}


def phase_open(path: str) -> dict[str, float]:
    from sforg_sim import Org

    t = time.perf_counter()
    org = Org.open(path)
    n = org.store.count(org.schema.get("Opportunity"))
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "rss_mb": _rss_mb(), "rows": n}


def _child(phase: str, *args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--phase", phase, *args],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--records", type=int, default=2_000_000)
    p.add_argument("--storage", choices=["memory", "file"], default="memory",
                   help="seed an in-memory org (default) or a file-backed one")
    p.add_argument("--phase", choices=["seed", "baseline", "open"])
    p.add_argument("--path")
    a = p.parse_args()
    if a.phase == "seed":
        print(json.dumps(phase_seed(a.records, a.path, a.storage)))
        return
    if a.phase == "baseline":
        print(json.dumps(phase_baseline(a.path, a.storage)))
        return
    if a.phase == "open":
        print(json.dumps(phase_open(a.path)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "massive.sforg")
        seed = _child("seed", "--records", str(a.records), "--path", path,
                      "--storage", a.storage)
        base = _child("baseline", "--path", path, "--storage", a.storage)
        opened = _child("open", "--path", path)
    n = a.records
    print(f"records: {n:,} Opportunities (+ {n:,} history rows + {n:,} source rows), "
          f"storage: {a.storage}")
    print(f"seed (sforg_sim):          {seed['seconds']:7.2f} s  peak RSS {seed['rss_mb']:7.0f} MB")
    print(f"baseline (executemany):    {base['seconds']:7.2f} s  peak RSS {base['rss_mb']:7.0f} MB")
    print(f"ratio seed / baseline:     {seed['seconds'] / base['seconds']:7.2f}x  (target < 1.5x)")
    print(f"open saved org + count:    {opened['seconds'] * 1000:7.1f} ms  "
          f"({int(opened['rows']):,} rows)")


if __name__ == "__main__":
    main()
