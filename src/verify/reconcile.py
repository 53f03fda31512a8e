"""``verify-org reconcile``: compare a source CSV with the org, record by record.

The org side is a Bulk API 2.0 query (``SELECT External_ID__c, StageName FROM Opportunity
WHERE ...``) that simple-salesforce's ``bulk2.<Object>.download`` streams to files on disk,
one per result page. Both sides are then loaded, row by row, into a temporary SQLite file
and compared with indexed joins, so memory stays bounded (SQLite's page cache, capped
below, plus one CSV row at a time) whether there are 2,000 or 2,000,000 rows.

Mismatches are written, only when asked (``--out FILE``), as CSV
``kind,external_id,expected,actual`` where kind is one of
``missing_in_org`` (in the source, not in the org), ``unexpected`` (in the org, not in the
source), ``wrong_value`` and ``duplicate_in_source``.

Keys match case-insensitively by default, because an External ID field is unique
case-insensitively unless it is marked case-sensitive (``--case-sensitive-keys``);
values match exactly.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checks import Checker, CheckSpec
from .errors import VerifyError

__all__ = ["KINDS", "ReconcileResult", "reconcile"]

KINDS = ("missing_in_org", "unexpected", "wrong_value", "duplicate_in_source")
_BATCH = 10_000
_CACHE_KIB = 32 * 1024
"""SQLite page cache per connection: the main term of the memory bound."""


@dataclass
class ReconcileResult:
    """Counts of a reconciliation and where the mismatches went."""

    source_rows: int
    org_rows: int
    matched: int
    mismatches: dict[str, int]
    output: str | None
    """The mismatches CSV, or None when none was asked for (``--out``)."""
    soql: str
    pages: int = 0
    samples: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No mismatch of any kind."""
        return not any(self.mismatches.values())

    def to_json(self) -> dict[str, Any]:
        """Stable JSON form."""
        return {"source_rows": self.source_rows, "org_rows": self.org_rows,
                "matched": self.matched, "mismatches": dict(self.mismatches),
                "output": self.output, "soql": self.soql, "pages": self.pages,
                "samples": self.samples, "ok": self.ok}


def _open_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    # A scratch file: no journal, no fsync; a crash just loses the scratch file.
    db.executescript(f"""
        PRAGMA journal_mode = OFF;
        PRAGMA synchronous = OFF;
        PRAGMA temp_store = FILE;
        PRAGMA cache_size = -{_CACHE_KIB};
        CREATE TABLE src (k TEXT PRIMARY KEY, key TEXT, val TEXT, dups INTEGER DEFAULT 0)
            WITHOUT ROWID;
        CREATE TABLE org (k TEXT, key TEXT, val TEXT);
    """)
    return db


def _column(header: list[str], wanted: str | None, default_index: int, what: str,
            path: str) -> int:
    if wanted is None:
        if len(header) <= default_index:
            raise VerifyError(f"{path}: need at least 2 columns (External ID, expected "
                              f"value), found {len(header)}", "BAD_SOURCE")
        return default_index
    folded = [h.strip().casefold() for h in header]
    if wanted.casefold() not in folded:
        raise VerifyError(f"{path}: no {what} column {wanted!r} (columns: "
                          f"{', '.join(header)})", "BAD_SOURCE")
    return folded.index(wanted.casefold())


def _source_rows(path: str, key_col: str | None, val_col: str | None,
                 fold: bool) -> Iterator[tuple[str, str, str]]:
    try:
        f = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 (generator-owned)
    except OSError as e:
        raise VerifyError(f"cannot read --source {path}: {e.strerror}", "BAD_SOURCE") from None
    with f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise VerifyError(f"{path}: empty file (expected a header row)", "BAD_SOURCE")
        ki = _column(header, key_col, 0, "key", path)
        vi = _column(header, val_col, 1, "value", path)
        for row in reader:
            if not row or not any(row):
                continue
            key = row[ki].strip() if ki < len(row) else ""
            if not key:
                continue
            val = row[vi] if vi < len(row) else ""
            yield (key.upper() if fold else key), key, val


def _insert_source(db: sqlite3.Connection, rows: Iterable[tuple[str, str, str]]) -> int:
    n = 0
    batch: list[tuple[str, str, str]] = []
    sql = ("INSERT INTO src (k, key, val) VALUES (?, ?, ?) "
           "ON CONFLICT(k) DO UPDATE SET dups = dups + 1")
    for r in rows:
        batch.append(r)
        if len(batch) >= _BATCH:
            db.executemany(sql, batch)
            n += len(batch)
            batch.clear()
    db.executemany(sql, batch)
    return n + len(batch)


def _org_file_rows(path: str, key_field: str, val_field: str,
                   fold: bool) -> Iterator[tuple[str, str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        folded = [h.casefold() for h in header]
        try:
            ki, vi = folded.index(key_field.casefold()), folded.index(val_field.casefold())
        except ValueError:
            raise VerifyError(f"Bulk query result has columns {header}, expected "
                              f"{key_field} and {val_field}", "BAD_RESULT") from None
        for row in reader:
            if not row:
                continue
            key = row[ki]
            if key:
                yield (key.upper() if fold else key), key, row[vi]


def reconcile(checker: Checker, spec: CheckSpec, source: str, output: str | None,
              key_column: str | None = None, value_column: str | None = None,
              case_sensitive_keys: bool = False, bulk_wait: float = 1.0,
              page_size: int = 50_000, workdir: str | None = None,
              samples: int = 10) -> ReconcileResult:
    """Compare ``source`` (CSV: External ID, expected value) with the org; see module doc.

    ``output``: where to write every mismatch (None: nowhere; the result still has the
    counts and the first ``samples`` mismatches). It is checked before the Bulk query.
    """
    fold = not case_sensitive_keys
    key_field, val_field = spec.partition_field, spec.field
    where = f" WHERE {spec.where}" if spec.where else ""
    soql = f"SELECT {key_field}, {val_field} FROM {spec.sobject}{where}"
    if not os.path.isfile(source):
        raise VerifyError(f"--source {source!r} does not exist", "BAD_SOURCE")
    if output is not None:
        folder = os.path.dirname(output) or "."
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            # Before the Bulk query, not after it: a long run must not end unwritable.
            raise VerifyError(f"cannot write --out {output}: no writable directory "
                              f"{folder!r}", "BAD_OUTPUT")
    with tempfile.TemporaryDirectory(prefix="verify-reconcile-", dir=workdir) as tmp:
        db = _open_db(Path(tmp) / "reconcile.db")
        try:
            source_rows = _insert_source(db, _source_rows(source, key_column, value_column,
                                                          fold))
            pages_dir = Path(tmp) / "pages"
            pages_dir.mkdir()
            handler = getattr(checker.conn.sf.bulk2, spec.sobject)
            pages = checker.call(lambda: handler.download(
                soql, path=str(pages_dir), max_records=page_size, wait=bulk_wait))
            org_rows = 0
            for page in pages:
                # Load one page, then delete it: disk use stays at one page as well.
                path = str(page["file"])
                batch: list[tuple[str, str, str]] = []
                for r in _org_file_rows(path, key_field, val_field, fold):
                    batch.append(r)
                    if len(batch) >= _BATCH:
                        db.executemany("INSERT INTO org VALUES (?, ?, ?)", batch)
                        org_rows += len(batch)
                        batch.clear()
                db.executemany("INSERT INTO org VALUES (?, ?, ?)", batch)
                org_rows += len(batch)
                os.unlink(path)
            db.execute("CREATE INDEX org_k ON org (k)")
            return _compare(db, output, soql, source_rows, org_rows, len(pages), samples)
        finally:
            db.close()


def _compare(db: sqlite3.Connection, output: str | None, soql: str, source_rows: int,
             org_rows: int, pages: int, n_samples: int) -> ReconcileResult:
    queries = {
        "missing_in_org": "SELECT s.key, s.val, NULL FROM src s "
                          "WHERE NOT EXISTS (SELECT 1 FROM org o WHERE o.k = s.k) ORDER BY s.k",
        "unexpected": "SELECT o.key, NULL, o.val FROM org o "
                      "WHERE NOT EXISTS (SELECT 1 FROM src s WHERE s.k = o.k) ORDER BY o.k",
        "wrong_value": "SELECT s.key, s.val, o.val FROM src s JOIN org o ON o.k = s.k "
                       "WHERE s.val IS NOT o.val ORDER BY s.k",
        "duplicate_in_source": "SELECT key, val, NULL FROM src WHERE dups > 0 ORDER BY k",
    }
    counts = dict.fromkeys(KINDS, 0)
    samples: list[dict[str, str]] = []
    try:
        out = (open(output, "w", newline="", encoding="utf-8")  # noqa: SIM115
               if output is not None else open(os.devnull, "w"))  # noqa: SIM115
    except OSError as e:
        raise VerifyError(f"cannot write {output}: {e.strerror}", "BAD_OUTPUT") from None
    with out:
        w = csv.writer(out)
        w.writerow(["kind", "external_id", "expected", "actual"])
        for kind, sql in queries.items():
            for key, expected, actual in db.execute(sql):
                n = 1
                if kind == "duplicate_in_source":
                    n = int(db.execute("SELECT dups FROM src WHERE key = ?",
                                       (key,)).fetchone()[0])
                counts[kind] += n
                row = [kind, key, "" if expected is None else expected,
                       "" if actual is None else actual]
                w.writerow(row)
                if len(samples) < n_samples:
                    samples.append(dict(zip(("kind", "external_id", "expected", "actual"),
                                            map(str, row))))
    matched = int(db.execute("SELECT COUNT(*) FROM src s JOIN org o ON o.k = s.k "
                             "WHERE s.val IS o.val").fetchone()[0])
    return ReconcileResult(source_rows, org_rows, matched, counts, output, soql, pages,
                           samples)
