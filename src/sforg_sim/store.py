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

Org files and failures (issue 14):

- **Storage errors.** Every SQLite error that comes from the storage rather than from the
  statement (``database or disk is full``, ``disk I/O error``, a damaged page, a file
  locked by another process for longer than the busy timeout, a read-only file) raises
  :class:`StorageError`, an :class:`OSError` whose message is one line naming the file and
  the reason, after rolling back the whole open transaction (every savepoint, the async
  engine's batch): the org is then exactly as of its last commit, no transaction stays
  open, and nothing is reported saved that is not. It is not a Salesforce error: a full
  disk is a failure of the machine running the simulator, not the org's data storage
  allocation (Salesforce's ``STORAGE_LIMIT_EXCEEDED``), so the CLIs exit 2 with it.
- **Id counters** of a file-backed org live in the file (table ``_ids``), bumped by one
  ``UPDATE`` per allocation in the caller's transaction (or committed alone), so two
  ``Org`` objects or processes on one file, or a process reopening a file another was
  killed on, never hand out the same id. In-memory orgs keep them in a dict (no other
  connection can see an in-memory database) and write them to ``_ids`` before a save.
- **Saving** writes a temporary file in the target's folder, fsyncs it and renames it
  over the target (:func:`replace_org_file`), so a kill leaves the old file or the new
  one. A new org file is built the same way (``Store(schema, path)`` of a missing file
  works on a temporary file until :meth:`Store.publish`).
- **Opening** checks the file (:func:`check_org_file`) and refuses a damaged one.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from . import ids
from .schema import Field, Schema, SObjectDef

__all__ = ["Batches", "Savepoint", "StorageError", "Store", "check_org_file",
           "check_replaceable", "discard_org_file", "quote", "replace_org_file", "sk_column"]


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


class StorageError(OSError):
    """The org's storage failed (disk full, I/O error, damaged file, file locked): one line
    naming the file and the reason. The open transaction was rolled back whole first, so
    the org is as of its last commit (see the module docstring)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.reason = reason
        """SQLite's own words (``database or disk is full``, ...)."""


# SQLite primary result codes that mean the storage, not the statement, failed.
_BUSY, _NOMEM, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _PROTOCOL = 5, 7, 8, 10, 11, 13, \
    14, 15
_NOLFS, _NOTADB = 22, 26
_STORAGE_CODES = frozenset({_BUSY, _NOMEM, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN,
                            _PROTOCOL, _NOLFS, _NOTADB})


class _Cursor(sqlite3.Cursor):
    """Turns storage errors met while fetching rows into :class:`StorageError`
    (iterating a cursor row by row is left alone: it is the hot path of large scans)."""

    connection: _Connection

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as e:
            raise self.connection.storage_error(e) from e

    def fetchmany(self, size: int | None = None) -> list[Any]:
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except sqlite3.DatabaseError as e:
            raise self.connection.storage_error(e) from e

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as e:
            raise self.connection.storage_error(e) from e


class _Connection(sqlite3.Connection):
    """The store's connection: a storage error in any statement rolls the whole open
    transaction back and raises :class:`StorageError`; other errors (IntegrityError, a SQL
    mistake) pass unchanged."""

    label = "in-memory org"
    aborts = 0
    """Bumped at each rollback forced by a storage error (savepoints opened before it
    then have nothing left to release)."""
    on_abort: Callable[[], None] | None = None

    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)

    # (sqlite3.Connection.execute makes its cursor without calling self.cursor.)
    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        try:
            return _Cursor(self).execute(sql, parameters)
        except sqlite3.DatabaseError as e:
            raise self.storage_error(e) from e

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        try:
            return _Cursor(self).executemany(sql, parameters)
        except sqlite3.DatabaseError as e:
            raise self.storage_error(e) from e

    def storage_error(self, e: sqlite3.DatabaseError) -> BaseException:
        """``e`` itself unless it is a storage error; else roll back and a StorageError."""
        code = getattr(e, "sqlite_errorcode", None)
        if code is None or code & 0xFF not in _STORAGE_CODES:
            return e
        self.aborts += 1
        if self.in_transaction:
            with suppress(sqlite3.Error):
                super().execute("ROLLBACK")
            if self.in_transaction:
                # Cannot even roll back: never let a later write nest in this transaction
                # and be reported saved. The connection is unusable from here on.
                self.close()
        if self.on_abort is not None:
            self.on_abort()
        if code & 0xFF in (_CORRUPT, _NOTADB):
            where = f"{self.label.removeprefix('org file ')} is damaged"
        else:
            where = self.label
        # Rolled back by us or by SQLite itself, or a lone statement that failed whole.
        return StorageError(where, f"{e} (nothing since the last commit was saved)")


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
        self._aborts = 0

    def _rollback_to(self) -> None:
        self._conn.execute(f"ROLLBACK TO {self.name}")
        if self.on_rollback is not None:
            self.on_rollback()

    def _gone(self) -> bool:
        # A storage error rolled the whole transaction back (StorageError): this savepoint
        # no longer exists, and there is nothing left to undo or release.
        return getattr(self._conn, "aborts", 0) != self._aborts

    def __enter__(self) -> Savepoint:
        self._aborts = getattr(self._conn, "aborts", 0)
        self._conn.execute(f"SAVEPOINT {self.name}")
        return self

    def rollback(self) -> None:
        """Undo everything since the savepoint (and end it)."""
        if not self._done:
            try:
                if not self._gone():
                    self._rollback_to()
                    self._conn.execute(f"RELEASE {self.name}")
            finally:
                self._done = True

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if self._done:
            return
        try:
            if self._gone():
                return
            if exc_type is not None:
                self._rollback_to()
            self._conn.execute(f"RELEASE {self.name}")
        finally:
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
        fresh = path is None or not Path(path).exists() or Path(path).stat().st_size == 0
        self._final: str | None = None
        """A new org file's own name while it is built under a temporary one (publish)."""
        if self.path is not None and fresh:
            self._final, self.path = self.path, _temp_file(Path(self.path))
        self._scratch: str | None = None
        self._conn = _connect(self.path)
        self._conn.on_abort = self._aborted
        self._pragmas()
        self._counters: dict[str, int] = {}
        """In-memory stores' id counters (key prefix -> last used); files use ``_ids``."""
        self._columns: dict[str, list[str]] = {}
        self.batch_open = False
        """True while the async engine holds a batch transaction open between events."""
        self.generation = 0
        """Bumped by anything that may change data behind the per-table versions: a
        rollback, a write nobody reported (:meth:`writing`, :meth:`versions`), a new plan
        (:meth:`plans_changed`), a new connection."""
        self._versions: dict[str, int] = {}
        self._seen = self._conn.total_changes
        self._data_version = -1
        if fresh:
            self._conn.execute("CREATE TABLE _meta (key TEXT PRIMARY KEY, value TEXT)")
            self._conn.execute(_IDS_TABLE)
            for obj in schema:
                self.create_table(obj)
        else:
            for obj in schema:
                self._columns[obj.name.lower()] = self._layout(obj)
                # A standard object a newer sforg-sim added (Contact, Lead) gets its empty
                # table in an older org file; a missing custom table is still damage.
                if not obj.custom and not self._conn.execute(
                        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (obj.name,)).fetchone():
                    self.create_table(obj)
                elif not obj.custom:  # ... and a standard field it added (CronTriggerId):
                    # absent with its sort key; a column missing alone is still damage.
                    have = {str(r[1]) for r in self._conn.execute(
                        f"PRAGMA table_info({quote(obj.name)})").fetchall()}
                    for f in list(obj.fields.values()):
                        if f.name not in have and sk_column(f.name) not in have:
                            self.add_column(obj, f)
            self._check_layout()
            self._restore_counters()

    SCRATCH = "scratch"
    """Schema of the scratch database: data that may outgrow memory and need not survive
    (query cursors' snapshots), on disk rather than in the process."""

    def _pragmas(self) -> None:
        c = self._conn
        c.execute("PRAGMA cache_size = -262144")  # 256 MiB page cache
        c.execute("PRAGMA temp_store = MEMORY")
        # A scratch file per connection for cursor snapshots: an open cursor over 20,000
        # rows held ~0.2 MB of memory until it expired (3,000 of them 585 MB, issue 14); on
        # disk it costs page cache only. Deleted with the connection (close, a swap).
        if self.path is None:
            c.execute("PRAGMA main.journal_mode = MEMORY")
        else:
            c.execute("PRAGMA main.journal_mode = WAL")
            c.execute("PRAGMA main.synchronous = OFF")
        self._drop_scratch()
        fd, scratch = tempfile.mkstemp(prefix="sforg-sim-scratch-", suffix=".db")
        os.close(fd)
        self._scratch = scratch
        # An org nobody closes (most tests, scripts) must not leave its file behind: the
        # file goes when the store is collected, or at interpreter exit, if not before.
        self._scratch_cleanup = weakref.finalize(self, _remove_scratch, scratch)
        c.execute("ATTACH DATABASE ? AS scratch", (scratch,))
        c.execute("PRAGMA scratch.journal_mode = MEMORY")
        c.execute("PRAGMA scratch.synchronous = OFF")
        c.execute("PRAGMA scratch.cache_size = -16384")  # 16 MiB: the rest stays on disk

    def _drop_scratch(self) -> None:
        if self._scratch:
            self._scratch_cleanup()  # runs _remove_scratch once
            self._scratch = None

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
        """``n`` fresh 18-character ids for ``obj``, in increasing order.

        A file-backed store takes them from the file's ``_ids`` table (one ``UPDATE`` per
        call, in the caller's transaction), so no other connection to the file, now or
        after a crash, can take the same ones; an in-memory store counts in a dict.
        """
        if self.path is None:
            start = self._counters.get(obj.key_prefix, 0) + 1
            self._counters[obj.key_prefix] = start + n - 1
        else:
            start = self._take_ids(obj.key_prefix, n)
        return ids.make_ids(obj.key_prefix, start, n)

    def reserve_ids(self, obj: SObjectDef, n: int) -> int:
        """Reserve ``n`` id counters for ``obj`` without building the ids; returns the first.

        For set-based loaders that build ids in SQL.
        """
        if self.path is not None:
            return self._take_ids(obj.key_prefix, n)
        start = self._counters.get(obj.key_prefix, 0) + 1
        self._counters[obj.key_prefix] = start + n - 1
        return start

    def _take_ids(self, prefix: str, n: int) -> int:
        if n <= 0:
            row = self._conn.execute("SELECT last FROM _ids WHERE prefix = ?",
                                     (prefix,)).fetchone()
            return int(row[0] if row else 0) + 1
        with self.writing("_ids"):
            [(last,)] = self._conn.execute(
                "INSERT INTO _ids (prefix, last) VALUES (?, ?) ON CONFLICT(prefix) "
                "DO UPDATE SET last = last + excluded.last RETURNING last",
                (prefix, n)).fetchall()
        return int(last) - n + 1

    def _restore_counters(self) -> None:
        """Bring ``_ids`` up to the largest id of each table (files written before ``_ids``
        existed kept counters in ``_meta`` only at save or close, so a killed process left
        them behind its records). One index lookup per table; writes only when behind."""
        c = self._conn
        if not c.execute("SELECT 1 FROM sqlite_master WHERE name = '_ids'").fetchone():
            c.execute(_IDS_TABLE)
        have = {str(k): int(v) for k, v in c.execute("SELECT prefix, last FROM _ids")}
        want = {str(k): int(v) for k, v in json.loads(
            self.get_meta("id_counters") or "{}").items()}
        for obj in self.schema:
            top = c.execute(f'SELECT MAX("Id") FROM {quote(obj.name)}').fetchone()[0]
            if top is not None:
                want[obj.key_prefix] = max(want.get(obj.key_prefix, 0), _id_counter(top))
        behind = [(k, v) for k, v in want.items() if v > have.get(k, 0)]
        if behind:
            with self.writing("_ids"):
                c.executemany("INSERT INTO _ids (prefix, last) VALUES (?, ?) ON CONFLICT"
                              "(prefix) DO UPDATE SET last = max(last, excluded.last)", behind)

    def _check_layout(self) -> None:
        """Every object of the schema has its table with the columns it needs."""
        for obj in self.schema:
            have = {str(r[1]) for r in self._conn.execute(
                f"PRAGMA table_info({quote(obj.name)})").fetchall()}
            missing = [c for c in self.columns(obj) if c not in have]
            if missing:
                what = (f"no table {obj.name}" if not have
                        else f"table {obj.name} lacks column {missing[0]}")
                self._conn.close()
                raise OSError(f"{self.path} is damaged: {what}")

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
            if self._conn.in_transaction:  # a StorageError has rolled it back already
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
        consume it before the next write. A storage error met after the first row comes
        as SQLite's own ``sqlite3.DatabaseError`` (rows are not wrapped one by one)."""
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

    def bulk_load(self, objs: Sequence[SObjectDef], statements: Sequence[str],
                  progress: Callable[[int, int], None] | None = None) -> None:
        """Run set-based INSERT statements fast: the objects' indexes are dropped during
        the load and rebuilt after, all in one transaction (a failure leaves nothing).

        Only for generators that build rows correct by construction (scenarios); user data
        goes through :class:`~sforg_sim.dml.Dml`. ``progress(done, total)`` is told after
        each step (each statement, each index rebuilt, the planner statistics), so a
        caller that splits a large load into chunks can show how far it is.
        """
        indexes = [ix for o in objs for ix in self.index_names(o)]
        total, done = len(statements) + len(indexes) + 1, 0

        def step() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total)

        with self.transaction():
            for name, _ in indexes:
                self._conn.execute(f"DROP INDEX IF EXISTS {quote(name)}")
            for stmt in statements:
                self.write(objs[0].name, stmt)
                step()
            for _, stmt in indexes:
                self._conn.execute(stmt)
                step()
        for o in objs:
            self._bump(o.name)
        self._conn.execute("ANALYZE")
        step()
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
        moves without a report before the next :meth:`versions`, every version is invalidated
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

    def versions(self, tables: Iterable[str]) -> tuple[int, ...]:
        """A value that changes whenever the data of any of ``tables`` may have changed.

        Exact for writes through the connection, rollbacks through :meth:`savepoint` and
        the async engine, and (file-backed stores) commits by other connections. Not seen:
        a ROLLBACK a caller runs on the connection by hand after writing (nothing in this package
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
        """Write an in-memory store's id counters to ``_ids`` (before saving or closing);
        a file-backed store's are there already."""
        if self.path is None and self._counters:
            with self.writing("_ids"):
                self._conn.executemany(
                    "INSERT INTO _ids (prefix, last) VALUES (?, ?) ON CONFLICT(prefix) "
                    "DO UPDATE SET last = excluded.last", sorted(self._counters.items()))

    def save(self, path: str | Path, *, overwrite: bool = False) -> None:
        """Copy the whole database to ``path`` atomically: SQLite's online backup into a
        temporary file in the same folder, then :func:`replace_org_file`. A kill at any
        moment leaves ``path`` as it was or complete. An existing file that is not a
        sforg-sim org is replaced only with ``overwrite=True``."""
        self.flush_meta()
        self.end_batch()
        target = Path(path)
        check_replaceable(target, overwrite)
        tmp = _temp_file(target)
        try:
            dest = sqlite3.connect(tmp)
            try:
                # No rollback journal: the temporary file is thrown away on any failure,
                # and replace_org_file fsyncs it whole before it takes the target's name.
                dest.execute("PRAGMA journal_mode = OFF")
                dest.execute("PRAGMA synchronous = OFF")
                self._conn.backup(dest)
            finally:
                dest.close()
            replace_org_file(tmp, target, overwrite=overwrite)
        except sqlite3.Error as e:
            # A bad path is the user's input: say so in one line, not as a sqlite3 error.
            raise OSError(f"cannot write org file {path}: {e}") from None
        finally:
            discard_org_file(tmp)

    def publish(self) -> None:
        """Give a new org file its own name, once it is complete (the org's bootstrap
        rows and metadata committed): until then it lives under a temporary name in the
        same folder, so a kill while it is made never leaves a half-made org at its path.
        Nothing to do for other stores."""
        if self._final is None:
            return
        self.end_batch()
        tmp, final = self.path, self._final
        assert tmp is not None
        self._conn.close()  # the last connection: folds the write-ahead log into the file
        try:
            replace_org_file(tmp, Path(final))
        finally:
            discard_org_file(tmp)
        self._final, self.path = None, final
        self._conn = _connect(final)
        self._conn.on_abort = self._aborted
        self._pragmas()
        self.generation += 1  # a new connection counts changes from zero
        self._seen = self._conn.total_changes
        self._data_version = -1

    def abandon(self) -> None:
        """Close a new org file that was never published and delete it."""
        if self._final is not None and self.path is not None:
            self._conn.close()
            discard_org_file(self.path)

    def _aborted(self) -> None:
        # A storage error rolled the whole transaction back (the batch with it).
        self.batch_open = False
        self.rolled_back()

    def load_into_memory(self) -> None:
        """Replace a file-backed connection by an in-memory copy (writes stay in memory)."""
        self.end_batch()
        mem = _connect(None)
        mem.on_abort = self._aborted
        self._conn.backup(mem)
        self._counters = {str(k): int(v) for k, v in mem.execute(
            "SELECT prefix, last FROM _ids").fetchall()}
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
            self._drop_scratch()


# --- org files ------------------------------------------------------------------------------

_IDS_TABLE = "CREATE TABLE _ids (prefix TEXT PRIMARY KEY, last INTEGER NOT NULL)"
_MAGIC = b"SQLite format 3\x00"
FULL_CHECK_BYTES = 64 * 2**20
"""Org files up to this size (about 60,000 massive-upload records) get SQLite's whole-file
``PRAGMA quick_check`` on open; larger ones a bounded check (see :func:`check_org_file`).
quick_check reads every page: measured on the 215 MiB 200,000-record org, 0.16 s with the
file in the page cache but 3.0 s from disk, against 3 ms and 21 ms for the bounded check."""
_SAMPLES = 64


def _remove_scratch(path: str) -> None:
    """Delete a connection's scratch database file (and any journal beside it)."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        with suppress(OSError):
            os.unlink(path + suffix)


def _id_counter(record_id: str) -> int:
    """The base-62 counter of an id made by :func:`sforg_sim.ids.make_id`."""
    n = 0
    for ch in record_id[6:15]:
        n = n * 62 + ids.BASE62.index(ch)
    return n


def _connect(path: str | None) -> _Connection:
    try:
        conn = sqlite3.connect(path or ":memory:", isolation_level=None,
                               check_same_thread=False, factory=_Connection)
    except sqlite3.Error as e:
        raise StorageError(f"cannot open org file {path}", str(e)) from None
    assert isinstance(conn, _Connection)
    if path is not None:
        conn.label = f"org file {path}"
    return conn


def _temp_file(target: Path) -> str:
    """A new empty file next to ``target`` (same folder, so a rename is atomic), with the
    permissions a new file gets (``mkstemp``'s would make every org file private)."""
    for _ in range(100):
        name = str(target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as e:
            raise OSError(f"cannot write org file {target}: {e.strerror or e}") from None
        os.close(fd)
        return name
    raise OSError(f"cannot write org file {target}: no free temporary name")


def discard_org_file(path: str) -> None:
    """Delete an unfinished org file and the journal files SQLite may have left with it."""
    for name in (path, path + "-journal", path + "-wal", path + "-shm"):
        with suppress(FileNotFoundError):
            os.unlink(name)


def _fsync(path: str | Path, directory: bool = False) -> None:
    if directory and not hasattr(os, "O_DIRECTORY"):
        return  # Windows: directories cannot be opened, and renames are durable anyway
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_org_file(path: Path) -> bool:
    """True for an SQLite file with the ``_meta`` table every org file has. Opening it
    also folds the write-ahead log a killed process may have left into it."""
    with open(path, "rb") as f:
        if f.read(16) != _MAGIC:
            return False
    try:
        con = sqlite3.connect(path)
        try:
            return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                               "AND name = '_meta'").fetchone() is not None
        finally:
            con.close()
    except sqlite3.Error:
        return False


def check_replaceable(target: Path, overwrite: bool) -> None:
    """Raise OSError unless ``target`` may be replaced by a new org file: missing, empty,
    an org file no connection has open, or anything but a folder with ``overwrite``."""
    if target.is_dir():
        raise OSError(f"cannot write org file {target}: it is a directory")
    if not target.exists() or target.stat().st_size == 0:
        return
    org = _is_org_file(target)
    if not org and not overwrite:
        raise OSError(f"will not replace {target}: it is not a sforg-sim org file "
                      f"(remove it first, or save with overwrite=True)")
    # The last connection to close removes the write-ahead log: one still there means
    # another Org or process has the file open, and would go on writing into the old one.
    if org and Path(f"{target}-wal").exists():
        raise OSError(f"org file {target} is in use by another process (close it first)")
    if not org:
        for side in ("-wal", "-shm", "-journal"):
            Path(f"{target}{side}").unlink(missing_ok=True)  # they would apply to the new one


def replace_org_file(tmp: str | Path, target: str | Path, *, overwrite: bool = False) -> None:
    """Make the complete org file ``tmp`` (in ``target``'s folder, no connection open on
    it) become ``target``, atomically and durably: fsync ``tmp``, check that ``target``
    may be replaced (see :meth:`Store.save`), ``os.replace``, fsync the folder. A kill at
    any moment leaves ``target`` as it was or as ``tmp`` was."""
    target = Path(target)
    _fsync(tmp)
    check_replaceable(target, overwrite)
    os.replace(tmp, target)
    _fsync(target.parent, directory=True)


def check_org_file(path: str | Path) -> dict[str, str]:
    """Check an org file before opening it; returns its ``_meta`` table.

    Raises a one-line OSError: ``<path> is not a saved sforg-sim org (...)`` for anything
    that is not one (not SQLite, no ``_meta``), ``<path> is damaged: ...`` for one that is
    but fails a check. Checked always: the SQLite header (magic, page size, a file length
    that is a whole number of pages and not shorter than the header says), the
    ``_meta`` rows an org needs (``org``: clock, limits, users; ``schema``) and, when the
    store opens it, every object's table and columns. Pages: files up to
    :data:`FULL_CHECK_BYTES` get ``PRAGMA quick_check`` (every page, every b-tree, the
    free list; not index-to-table agreement, which ``integrity_check`` adds at 2.5 times
    the cost). Larger ones (a whole-file check of the 2 GB 2,000,000-record org would
    take about 1.5 s from the page cache and 30 s from disk) get quick_check per table for
    tables of up to 50,000 rows, and :data:`_SAMPLES` lookups spread over each larger
    table's rows (which find damage to the upper levels of its b-tree, not to most of its
    leaf pages): damage to a random page of a large table is then usually *not* found on
    open; it is found when a query or write reaches the page, as a :class:`StorageError`
    (``<path> is damaged: database disk image is malformed``), after which the org is as
    of its last commit.
    """
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(100)
    if head[:16] != _MAGIC:
        raise OSError(f"{path} is not a saved sforg-sim org (not an SQLite database)")

    def damaged(why: str) -> OSError:
        return OSError(f"{path} is damaged: {why}")

    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        raise damaged(f"bad page size {page} in the header")
    if size % page:
        raise damaged(f"its length ({size} bytes) is not a whole number of {page}-byte pages")
    pages = int.from_bytes(head[28:32], "big")
    wal = Path(f"{path}-wal")
    if head[92:96] == head[24:28] and pages * page > size and not wal.exists():
        raise damaged(f"it is {size} bytes long, its header says {pages * page} (truncated)")
    try:
        con = sqlite3.connect(p)
    except sqlite3.Error as e:
        raise OSError(f"cannot open org file {path}: {e}") from None
    try:
        tables = {str(r[0]) for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "_meta" not in tables:
            raise OSError(f"{path} is not a saved sforg-sim org (no _meta table)")
        meta = {str(k): str(v) for k, v in con.execute("SELECT key, value FROM _meta")}
        try:
            org = json.loads(meta["org"])
            missing = [k for k in ("clock", "limits", "user_id", "org_id") if k not in org]
            if missing:
                raise KeyError(missing[0])
            json.loads(meta.get("schema", "{}"))
        except (KeyError, TypeError, ValueError) as e:
            raise damaged(f"its org metadata is incomplete or unreadable ({e!r})") from None
        if size + (wal.stat().st_size if wal.exists() else 0) <= FULL_CHECK_BYTES:
            problems = [str(r[0]) for r in con.execute("PRAGMA quick_check(3)")]
        else:
            problems = []
            for t in sorted(tables):
                top = con.execute(f"SELECT MAX(rowid) FROM {quote(t)}").fetchone()[0] or 0
                if top <= 50_000:
                    problems += [str(r[0]) for r in con.execute(
                        f"PRAGMA quick_check({quote(t)})")]
                    continue
                for k in range(_SAMPLES):
                    con.execute(f"SELECT * FROM {quote(t)} WHERE rowid >= ? LIMIT 1",
                                (1 + top * k // _SAMPLES,)).fetchall()
            problems = [m for m in problems if m != "ok"] or ["ok"]
        if problems != ["ok"]:
            lines = [ln for m in problems for ln in m.splitlines() if not ln.startswith("***")]
            raise damaged("; ".join(lines[:3]))
        return meta
    except sqlite3.DatabaseError as e:
        raise damaged(str(e)) from None
    finally:
        con.close()
