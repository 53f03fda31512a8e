"""Raw SQL for tests: the one place tests reach behind the store's door.

``Store`` keeps its SQLite connection private: the library reads and writes through
``Store.read`` / ``Store.write`` (which report every write to the SOQL result cache). A few
tests must go around that on purpose: to write *without* reporting (the cache's guard
against unreported writes), to read SQLite's own catalogue (temp tables, EXPLAIN QUERY
PLAN, integrity_check) or to damage an index. They call :func:`raw`.
"""

from __future__ import annotations

import sqlite3
from typing import Any


def raw(org: Any) -> sqlite3.Connection:
    """The org's SQLite connection itself (writes through it are *not* reported)."""
    conn: sqlite3.Connection = org.store._conn
    return conn
