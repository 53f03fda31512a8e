"""SQLite storage: one table per sObject, sort keys, indexes, id counters, org files.

Layout (the SOQL compiler relies on it):

- table ``"<sObject>"``, one column per field, named as the field;
- for each text field compared case-insensitively, an extra column ``"<field>__sk"`` holding
  ``value.upper()`` (Python's full Unicode upper case). Salesforce orders text by its upper
  case form in English locales, so ``_`` sorts after letters; SQLite's NOCASE folds to
  lower case and would put ``_`` before them, so it is never used;
- stored values: text as text, numbers as REAL/INTEGER, booleans 0/1, dates
  ``YYYY-MM-DD``, datetimes ``YYYY-MM-DDTHH:MM:SS.mmm+0000`` (UTC, so text order is time
  order), ids in the 18-character form;
- a unique index on ``Id`` and one on each unique field (on its sort key when
  case-insensitive), plain indexes on external ids and lookups.

Deviation (documented in the README's fidelity table): unique indexes also cover rows in the
recycle bin, so a deleted record keeps its unique value until purged (unconfirmed; chosen so
an undelete can never create a duplicate).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import ids
from .schema import Field, Schema, SObjectDef

__all__ = ["Batches", "Savepoint", "Store", "quote", "sk_column"]


STORAGE_INDEX = "__$ix__"
"""Infix of storage index names, ``<Object>__$ix__<Field>__<Field>`` (a field's own index is
``<Object>__<Field>``, and no field name starts with ``$``)."""


def quote(name: str) -> str:
    """Quote an identifier for SQLite (names come from the schema, never from users raw)."""
    return '"' + name.replace('"', '""') + '"'


def sk_column(field_name: str) -> str:
    """The sort-key column of a case-insensitive text field."""
    return field_name + "__sk"


def _sql_type(f: Field) -> str:
    if f.type in ("currency", "double", "percent"):
        return "REAL"
    if f.type in ("int", "boolean"):
        return "INTEGER"
    return "TEXT"


class Savepoint:
    """A nestable SQLite savepoint: released on exit, rolled back on error or on request.

    Every multi-statement write (a DML call, a composite request with allOrNone, an Apex
    transaction) runs in one, so a failure leaves the org as it was, as a Salesforce
    transaction does. Made by :meth:`Store.savepoint`; the only savepoint implementation.
    """

    _counter = 0

    def __init__(self, conn: sqlite3.Connection,
                 on_rollback: Callable[[], None] | None = None) -> None:
        self._conn = conn
        self.on_rollback = on_rollback
        Savepoint._counter += 1
        self.name = f"sp{Savepoint._counter}"
        self._done = False

    def _rollback_to(self) -> None:
        self._conn.execute(f"ROLLBACK TO {self.name}")
        if self.on_rollback is not None:
            self.on_rollback()

    def __enter__(self) -> Savepoint:
        self._conn.execute(f"SAVEPOINT {self.name}")
        return self

    def rollback(self) -> None:
        """Undo everything since the savepoint (and end it)."""
        if not self._done:
            self._rollback_to()
            self._conn.execute(f"RELEASE {self.name}")
            self._done = True

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if self._done:
            return
        if exc_type is not None:
            self._rollback_to()
        self._conn.execute(f"RELEASE {self.name}")
        self._done = True


class Batches:
    """Groups many small units of work (the async engine's events) into few SQLite
    transactions: a COMMIT costs milliseconds even in memory, more than a whole page of
    work. Made by :meth:`Store.batches`.

    Each unit still rolls back alone (it runs in its own :class:`Savepoint`); the batch is
    committed every ``every`` units, when the ``with`` block ends, or earlier by
    :meth:`Store.end_batch` (save, close, a bulk load) between two units, never during one.
    If a transaction was already open when the batches began (a caller's own), it is left
    to its owner.
    """

    def __init__(self, store: Store, every: int) -> None:
        self._store = store
        self._every = every
        self._own = not store._conn.in_transaction
        self._count = 0

    @contextmanager
    def unit(self) -> Iterator[None]:
        """One unit of work inside the current batch (a batch is begun if none is open)."""
        store = self._store
        conn = store._conn
        if self._own and not conn.in_transaction:
            conn.execute("BEGIN")
        store.batch_open = False
        try:
            yield
        finally:
            store.batch_open = self._own and conn.in_transaction
        self._count += 1
        if store.batch_open and self._count >= self._every:
            store.end_batch()
            self._count = 0


class Store:
    """The org's SQLite database: tables per sObject, DML primitives, metadata, files."""

    def __init__(self, schema: Schema, path: str | Path | None = None) -> None:
        self.schema = schema
        self.path = str(path) if path is not None else None
        fresh = path is None or not Path(path).exists()
        self._conn = sqlite3.connect(
            self.path or ":memory:", isolation_level=None, check_same_thread=False)
        self._pragmas()
        self._counters: dict[str, int] = {}
        self._columns: dict[str, list[str]] = {}
        self.batch_open = False
        """True while the async engine holds a batch transaction open between events."""
        self.generation = 0
        """Bumped by anything that may change data behind the per-table versions: a
        rollback, a write nobody reported (:meth:`writing`, :meth:`stamp`), a new plan
        (:meth:`plans_changed`), a new connection."""
        self._versions: dict[str, int] = {}
        self._seen = self._conn.total_changes
        self._data_version = -1
        if fresh:
            self._conn.execute("CREATE TABLE _meta (key TEXT PRIMARY KEY, value TEXT)")
            for obj in schema:
                self.create_table(obj)
        else:
            self._counters = json.loads(self.get_meta("id_counters") or "{}")
            for obj in schema:
                self._columns[obj.name.lower()] = self._layout(obj)

    def _pragmas(self) -> None:
        c = self._conn
        c.execute("PRAGMA cache_size = -262144")  # 256 MiB page cache
        c.execute("PRAGMA temp_store = MEMORY")
        if self.path is None:
            c.execute("PRAGMA journal_mode = MEMORY")
        else:
            c.execute("PRAGMA journal_mode = WAL")
            c.execute("PRAGMA synchronous = OFF")

    # --- layout ---------------------------------------------------------------------------

    @staticmethod
    def _layout(obj: SObjectDef) -> list[str]:
        cols: list[str] = []
        for f in obj.fields.values():
            cols.append(f.name)
            if f.sort_key:
                cols.append(sk_column(f.name))
        return cols

    def columns(self, obj: SObjectDef) -> list[str]:
        """Storage columns of ``obj`` in table order (fields and their sort keys)."""
        return self._columns[obj.name.lower()]

    def create_table(self, obj: SObjectDef) -> None:
        """Create the table and indexes for a new object."""
        cols = []
        for f in obj.fields.values():
            cols.append(f"{quote(f.name)} {_sql_type(f)}")
            if f.sort_key:
                cols.append(f"{quote(sk_column(f.name))} TEXT")
        self._conn.execute(f"CREATE TABLE {quote(obj.name)} ({', '.join(cols)})")
        self._columns[obj.name.lower()] = self._layout(obj)
        for f in obj.fields.values():
            self._index(obj, f)

    def add_column(self, obj: SObjectDef, f: Field) -> None:
        """Add a new field's column(s) and index to an existing table."""
        t = quote(obj.name)
        self._conn.execute(f"ALTER TABLE {t} ADD COLUMN {quote(f.name)} {_sql_type(f)}")
        if f.sort_key:
            self._conn.execute(f"ALTER TABLE {t} ADD COLUMN {quote(sk_column(f.name))} TEXT")
        self._columns[obj.name.lower()] = self._layout(obj)
        self._index(obj, f)
        self.plans_changed()

    def index_names(self, obj: SObjectDef) -> list[tuple[str, str]]:
        """``(index name, CREATE INDEX statement)`` for each index of ``obj``, storage
        indexes (:meth:`add_storage_index`) included."""
        out = []
        for f in obj.fields.values():
            stmt = self._index_sql(obj, f)
            if stmt:
                out.append((f"{obj.name}__{f.name}", stmt))
        prefix = f"{obj.name}{STORAGE_INDEX}"
        out += [(str(n), str(q)) for n, q in self._conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND substr(name, 1, ?) = ? ORDER BY name", (len(prefix), prefix))]
        return out

    def add_storage_index(self, obj: SObjectDef, fields: Sequence[Field]) -> str:
        """Create (if missing) a covering index for queries that filter, group or sort on
        ``fields``; returns its name. Speed only: queries find the same records (without
        ORDER BY their order may change, as nothing promises it).

        Key columns are the fields' comparison columns (sort keys for case-insensitive
        text) in the given order, followed by their stored spellings and ``IsDeleted``,
        so a query reading only these fields never touches the table rows. Planner
        statistics are refreshed for the table (sampled, so it stays quick on millions of
        rows), so SQLite knows when to prefer the new index and when not to.
        """
        name = f"{obj.name}{STORAGE_INDEX}{'__'.join(f.name for f in fields)}"
        cols = [sk_column(f.name) if f.sort_key else f.name for f in fields]
        cols += [f.name for f in fields if f.sort_key]
        if "IsDeleted" in obj.fields and "IsDeleted" not in cols:
            cols.append("IsDeleted")
        exists = self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' "
                                   "AND name = ?", (name,)).fetchone()
        if not exists:
            self._conn.execute(f"CREATE INDEX {quote(name)} ON {quote(obj.name)} "
                              f"({', '.join(map(quote, cols))})")
            self._conn.execute("PRAGMA analysis_limit = 1000")
            try:
                self._conn.execute(f"ANALYZE {quote(obj.name)}")
            finally:
                self._conn.execute("PRAGMA analysis_limit = 0")
                self.plans_changed()
        return name

    def _index_sql(self, obj: SObjectDef, f: Field) -> str | None:
        col = sk_column(f.name) if f.sort_key else f.name
        name = quote(f"{obj.name}__{f.name}")
        if f.type == "id":
            return f"CREATE UNIQUE INDEX {name} ON {quote(obj.name)} ({quote(col)})"
        if f.unique:
            return f"CREATE UNIQUE INDEX {name} ON {quote(obj.name)} ({quote(col)})"
        if f.external_id or (f.type == "reference" and f.name not in (
                "CreatedById", "LastModifiedById", "OwnerId")):
            return f"CREATE INDEX {name} ON {quote(obj.name)} ({quote(col)})"
        return None

    def _index(self, obj: SObjectDef, f: Field) -> None:
        stmt = self._index_sql(obj, f)
        if stmt:
            self._conn.execute(stmt)

    # --- ids ------------------------------------------------------------------------------

    def new_ids(self, obj: SObjectDef, n: int) -> list[str]:
        """``n`` fresh 18-character ids for ``obj``, in increasing order."""
        start = self._counters.get(obj.key_prefix, 0) + 1
        self._counters[obj.key_prefix] = start + n - 1
        return ids.make_ids(obj.key_prefix, start, n)

    def reserve_ids(self, obj: SObjectDef, n: int) -> int:
        """Reserve ``n`` id counters for ``obj`` without building the ids; returns the first.

        For set-based loaders that build ids in SQL.
        """
        start = self._counters.get(obj.key_prefix, 0) + 1
        self._counters[obj.key_prefix] = start + n - 1
        return start

    # --- rows -----------------------------------------------------------------------------

    def row(self, obj: SObjectDef, values: dict[str, Any]) -> tuple[Any, ...]:
        """A storage tuple from ``{field name: stored value}`` (canonical names)."""
        out: list[Any] = []
        for f in obj.fields.values():
            v = values.get(f.name)
            out.append(v)
            if f.sort_key:
                out.append(v.upper() if v is not None else None)
        return tuple(out)

    def insert_rows(self, obj: SObjectDef, rows: Iterable[Sequence[Any]]) -> None:
        """Insert storage tuples (see :meth:`row`). Raises sqlite3.IntegrityError."""
        cols = self.columns(obj)
        sql = (f"INSERT INTO {quote(obj.name)} ({', '.join(map(quote, cols))}) "
               f"VALUES ({', '.join('?' * len(cols))})")
        with self.writing(obj.name):
            self._conn.executemany(sql, rows)

    def update_sql(self, obj: SObjectDef, fields: Sequence[Field]) -> str:
        """``UPDATE ... SET f = ?, f__sk = ? ... WHERE Id = ?`` for these fields."""
        sets = []
        for f in fields:
            sets.append(f"{quote(f.name)} = ?")
            if f.sort_key:
                sets.append(f"{quote(sk_column(f.name))} = ?")
        return f"UPDATE {quote(obj.name)} SET {', '.join(sets)} WHERE \"Id\" = ?"

    @staticmethod
    def update_params(fields: Sequence[Field], values: Sequence[Any], rec_id: str) -> list[Any]:
        """Parameters for :meth:`update_sql` (sort keys computed here)."""
        out: list[Any] = []
        for f, v in zip(fields, values):
            out.append(v)
            if f.sort_key:
                out.append(v.upper() if v is not None else None)
        out.append(rec_id)
        return out

    def fetch(self, obj: SObjectDef, record_ids: Sequence[str],
              fields: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """``{Id: (values of fields...)}`` for the given ids (missing ids are absent)."""
        out: dict[str, tuple[Any, ...]] = {}
        cols = ", ".join(quote(f) for f in fields)
        for i in range(0, len(record_ids), 500):
            chunk = list(record_ids[i:i + 500])
            q = (f'SELECT "Id", {cols} FROM {quote(obj.name)} '
                 f'WHERE "Id" IN ({",".join("?" * len(chunk))})')
            for r in self._conn.execute(q, chunk):
                out[r[0]] = r[1:]
        return out

    def count(self, obj: SObjectDef, where: str = "", params: Sequence[Any] = ()) -> int:
        """Number of rows of ``obj`` (deleted included) matching ``where`` (SQL over
        storage column names; all rows without it)."""
        sql = f"SELECT COUNT(*) FROM {quote(obj.name)}" + (f" WHERE {where}" if where else "")
        return int(self._conn.execute(sql, params).fetchone()[0])

    def end_batch(self) -> None:
        """Commit the async engine's batch transaction, if one is open between events.

        Called before anything that needs the data committed (save, close, loading into
        memory, a bulk load); the engine begins a new batch at its next event.
        """
        if self.batch_open and self._conn.in_transaction:
            self._conn.execute("COMMIT")
        self.batch_open = False

    def savepoint(self) -> Savepoint:
        """A new savepoint on this store's connection (use as a context manager)."""
        return Savepoint(self._conn, self.rolled_back)

    def batches(self, every: int) -> Batches:
        """Group units of work into transactions of ``every`` units (see :class:`Batches`)."""
        return Batches(self, every)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One SQLite transaction: committed on exit, rolled back on an exception.

        Ends the async engine's open batch first (it is called between events). For
        whole-org operations such as a bulk load; units of work inside a transaction use
        :meth:`savepoint`.
        """
        self.end_batch()
        self._conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            self.rolled_back()
            raise
        self._conn.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        """True while a transaction (a batch, a savepoint, :meth:`transaction`) is open."""
        return self._conn.in_transaction

    # --- SQL: the one door ------------------------------------------------------------------
    # Every statement other modules need goes through these four methods (the SOQL
    # compiler's too), so every write is reported to the change tracking below: a write
    # nobody reports is still caught, but it drops every table's cached query results.

    def read(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
             ) -> list[tuple[Any, ...]]:
        """All rows of a read-only statement (SELECT, PRAGMA, EXPLAIN)."""
        return self._conn.execute(sql, params).fetchall()

    def scan(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
             ) -> Iterator[tuple[Any, ...]]:
        """The rows of a read-only statement one by one (for results too large to list);
        consume it before the next write."""
        return iter(self._conn.execute(sql, params))

    def read_one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
                 ) -> tuple[Any, ...] | None:
        """The first row of a read-only statement, or None."""
        row: tuple[Any, ...] | None = self._conn.execute(sql, params).fetchone()
        return row

    def write(self, table: str, sql: str,
              params: Sequence[Any] | Mapping[str, Any] = ()) -> int:
        """Run one statement that writes ``table`` (or a temp table, or DDL on it);
        returns the number of rows it changed. Raises sqlite3.IntegrityError as SQLite
        does (DML turns it into the record's error)."""
        with self.writing(table):
            return int(self._conn.execute(sql, params).rowcount)

    def write_many(self, table: str, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run one statement per row of ``rows`` (``executemany``); returns rows changed."""
        with self.writing(table):
            return int(self._conn.executemany(sql, rows).rowcount)

    def select(self, obj: SObjectDef, fields: Sequence[str], where: str = "",
               params: Sequence[Any] = (), *, order_by: str = "rowid",
               limit: int | None = None) -> list[tuple[Any, ...]]:
        """Stored values of ``fields`` for the rows of ``obj`` matching ``where`` (SQL over
        storage column names, deleted rows included): the runners' and checkers' read of
        final state, without going through SOQL's output shaping."""
        cols = ", ".join(quote(f) for f in fields)
        sql = f"SELECT {cols} FROM {quote(obj.name)}"
        if where:
            sql += f" WHERE {where}"
        sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._conn.execute(sql, params).fetchall()

    def max_rowid(self, obj: SObjectDef) -> int:
        """The largest rowid of ``obj``'s table (0 when empty)."""
        row = self._conn.execute(f"SELECT MAX(rowid) FROM {quote(obj.name)}").fetchone()
        return int(row[0] or 0)

    def bulk_load(self, objs: Sequence[SObjectDef], statements: Iterable[str]) -> None:
        """Run set-based INSERT statements fast: the objects' indexes are dropped during
        the load and rebuilt after, all in one transaction (a failure leaves nothing).

        Only for generators that build rows correct by construction (scenarios); user data
        goes through :class:`~sforg_sim.dml.Dml`.
        """
        indexes = [ix for o in objs for ix in self.index_names(o)]
        with self.transaction():
            for name, _ in indexes:
                self._conn.execute(f"DROP INDEX IF EXISTS {quote(name)}")
            for stmt in statements:
                self.write(objs[0].name, stmt)
            for _, stmt in indexes:
                self._conn.execute(stmt)
        for o in objs:
            self._bump(o.name)
        self._conn.execute("ANALYZE")
        self.plans_changed()

    def checkpoint(self) -> None:
        """Commit the open batch and fold a file's write-ahead log into it."""
        self.end_batch()
        if self.path is not None:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- change tracking (what the SOQL result cache keys on) -------------------------------

    @contextmanager
    def writing(self, table: str) -> Iterator[None]:
        """Wrap writes to ``table`` made on the connection; bumps the table's version after.

        Writes nobody reports are still caught: SQLite counts every changed row on the
        connection (``total_changes``), so if the count moved before this write began, or
        moves without a report before the next :meth:`stamp`, every version is invalidated
        at once (:attr:`generation`). Reporting is only what lets a write to one table keep
        other tables' cached results.
        """
        if self._conn.total_changes != self._seen:
            self.generation += 1
        try:
            yield
        finally:
            self._bump(table)
            self._seen = self._conn.total_changes

    def _bump(self, table: str) -> None:
        key = table.lower()
        self._versions[key] = self._versions.get(key, 0) + 1

    def rolled_back(self) -> None:
        """Call after any ROLLBACK: it undoes writes without changing ``total_changes``."""
        self.generation += 1

    def plans_changed(self) -> None:
        """Call after DDL or ANALYZE: SQLite may now pick another plan, so rows a query
        returns without a total ORDER BY may come in another order (and OFFSET pages must
        all come from one plan). Neither moves ``total_changes``."""
        self.generation += 1

    def stamp(self, tables: Iterable[str]) -> tuple[int, ...]:
        """A value that changes whenever the data of any of ``tables`` may have changed.

        Exact for writes through the connection, rollbacks through :meth:`savepoint` and
        the async engine, and (file-backed stores) commits by other connections. Not seen:
        a ROLLBACK a caller runs on ``conn`` by hand after writing (nothing in this package
        does; call :meth:`rolled_back` if you do).
        """
        total = self._conn.total_changes
        if total != self._seen:
            self.generation += 1
            self._seen = total
        if self.path is not None:
            # Another connection (another Org on the same file, another process) may have
            # committed to the file: SQLite's data_version moves then, total_changes not.
            dv = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if dv != self._data_version:
                self.generation += 1
                self._data_version = dv
        v = self._versions
        return (self.generation, *(v.get(t.lower(), 0) for t in tables))

    # --- metadata and files ----------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A value from the ``_meta`` table."""
        r = self._conn.execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
        return None if r is None else str(r[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the ``_meta`` table."""
        self._conn.execute(
            "INSERT INTO _meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def flush_meta(self) -> None:
        """Write in-memory counters to ``_meta`` (before saving or closing)."""
        self.set_meta("id_counters", json.dumps(self._counters))

    def save(self, path: str | Path) -> None:
        """Copy the whole database to ``path`` with SQLite's online backup."""
        self.flush_meta()
        self.end_batch()
        try:
            dest = sqlite3.connect(str(path))
            try:
                self._conn.backup(dest)
            finally:
                dest.close()
        except sqlite3.Error as e:
            # A bad path is the user's input: say so in one line, not as a sqlite3 error.
            raise OSError(f"cannot write org file {path}: {e}") from None

    def load_into_memory(self) -> None:
        """Replace a file-backed connection by an in-memory copy (writes stay in memory)."""
        self.end_batch()
        mem = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._conn.backup(mem)
        self._conn.close()
        self._conn = mem
        self.path = None
        self._pragmas()
        self.generation += 1  # a new connection counts changes from zero
        self._seen = mem.total_changes

    def close(self) -> None:
        """Flush metadata and close the connection."""
        try:
            self.flush_meta()
            self.end_batch()
        finally:
            self._conn.close()
