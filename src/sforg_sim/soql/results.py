"""An exact cache of query results, so a job that re-reads unchanged data pays no SQLite.

V1's restart loop reads the same pages again and again (``External_ID__c IN :ids AND
StageName != :done`` over the same 500 ids), and each read is 500 index searches. Nothing
in the org changed in between, so the answer cannot have changed either: SQL is
deterministic given the same statement, the same parameters and the same data.

The key is the compiled SQL text plus its parameter values (binds, date literals and the
clock already resolved), so equal keys run the same statement. An entry is used only
while the :meth:`~sforg_sim.store.Store.versions` of the tables the query reads is unchanged:
a reported write to one of them, a write nobody reported, or any rollback makes it stale.
So a hit returns exactly what SQLite would return now, rows and order. Callers get the
stored row tuples (immutable); records are built from them afresh on every call.

Bounded by rows held, so a cache of large results cannot grow without limit; results over
``max_entry_rows`` are never kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

__all__ = ["ResultCache"]


class ResultCache:
    """Least-recently-used map from (statement, parameters) to rows, checked by stamp."""

    def __init__(self, max_rows: int = 200_000, max_entry_rows: int = 2_000) -> None:
        self.max_rows = max_rows
        """Rows held at most over all entries; 0 turns the cache off."""
        self.max_entry_rows = max_entry_rows
        self._entries: OrderedDict[Hashable, tuple[tuple[int, ...],
                                                   tuple[tuple[Any, ...], ...]]] = \
            OrderedDict()
        self._rows = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, stamp: tuple[int, ...]
            ) -> tuple[tuple[Any, ...], ...] | None:
        """The rows stored under ``key`` if they were stored at this same ``stamp``."""
        entry = self._entries.get(key)
        if entry is None or entry[0] != stamp:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: Hashable, stamp: tuple[int, ...],
            rows: Sequence[tuple[Any, ...]]) -> None:
        """Keep ``rows`` under ``key`` (if small enough), evicting the least recent."""
        if len(rows) > self.max_entry_rows or len(rows) >= self.max_rows:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._rows -= len(old[1]) + 1
        self._entries[key] = (stamp, tuple(rows))
        self._rows += len(rows) + 1  # + 1: an empty result still costs its key
        while self._rows > self.max_rows:
            _, (_, gone) = self._entries.popitem(last=False)
            self._rows -= len(gone) + 1
