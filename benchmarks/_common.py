"""Shared by the benchmark scripts: the cached, seeded ``massive-upload`` org files."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from sforg_sim import Org

OUT = Path(__file__).resolve().parent / "out"
"""Where seeded org files are cached (git-ignored)."""


def seeded_file(records: int) -> Path:
    """``benchmarks/out/massive-<records>.db``, seeded on first use (straight into the file)."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"massive-{records}.db"
    if path.exists() and _stale(path):
        print(f"  {path.name} was seeded under an older schema: seeding it again")
    elif path.exists():
        return path
    t = time.perf_counter()
    # Seeded into a temporary name and renamed: another benchmark opening the file
    # meanwhile sees the old file or the new one, never half of one.
    tmp = path.with_name(path.stem + f".seeding-{os.getpid()}.db")
    org = Org(path=tmp)
    org.load_scenario("massive-upload", records=records)
    org.close()
    os.replace(tmp, path)
    print(f"  seeded {records:,} records in {time.perf_counter() - t:.1f} s -> {path}")
    return path


def _stale(path: Path) -> bool:
    """True when the org file no longer matches the schema (a column added since it was
    seeded): opening it reports it damaged, and the benchmark would stop there."""
    try:
        Org.open(path).close()
    except OSError:
        return True
    return False


def raw_connection(org: Org) -> sqlite3.Connection:
    """The org's own SQLite connection, for the hand-written baselines: they must do the
    same reads and writes on the same database with nothing of the simulator in the way
    (the library itself only goes through ``Store.read`` / ``Store.write``)."""
    conn: sqlite3.Connection = org.store._conn
    return conn
