"""Shared by the benchmark scripts: the cached, seeded ``massive-upload`` org files."""

from __future__ import annotations

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
    if not path.exists():
        t = time.perf_counter()
        org = Org(path=path)
        org.load_scenario("massive-upload", records=records)
        org.close()
        print(f"  seeded {records:,} records in {time.perf_counter() - t:.1f} s -> {path}")
    return path


def raw_connection(org: Org) -> sqlite3.Connection:
    """The org's own SQLite connection, for the hand-written baselines: they must do the
    same reads and writes on the same database with nothing of the simulator in the way
    (the library itself only goes through ``Store.read`` / ``Store.write``)."""
    conn: sqlite3.Connection = org.store._conn
    return conn
