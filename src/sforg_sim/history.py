"""Field history rows (OpportunityHistory), written as the real org writes them.

Salesforce adds an OpportunityHistory row when an Opportunity is created and whenever a
tracked field (StageName, Amount, Probability, CloseDate) changes. The rows copy the record's
new values, so they are built by SQLite from the records just written: Python supplies only
the new ids, which keeps this off the per-row hot path of every replay.
"""

from __future__ import annotations

from collections.abc import Sequence

from .schema import Schema, SObjectDef
from .store import Store, quote

__all__ = ["history_object", "write_history"]


def history_object(schema: Schema, obj: SObjectDef) -> SObjectDef | None:
    """The history object that tracks ``obj`` (OpportunityHistory for Opportunity)."""
    for o in schema:
        if o.history_of == obj.name:
            return o
    return None


def write_history(store: Store, schema: Schema, obj: SObjectDef, record_ids: Sequence[str],
                  now: str, user: str) -> None:
    """Write one history row per record id, copying its current (new) tracked values."""
    hist = history_object(schema, obj)
    if hist is None or not record_ids:
        return
    parent = next(f.name for f in hist.fields.values() if f.type == "reference"
                  and obj.name in f.reference_to)
    fixed = {"IsDeleted": 0, "CreatedDate": now, "LastModifiedDate": now,
             "SystemModstamp": now, "CreatedById": user, "LastModifiedById": user}
    cols, exprs, params = [], [], []
    for c in store.columns(hist):
        cols.append(quote(c))
        if c == "Id":
            exprs.append("m.hid")
        elif c == parent:
            exprs.append('o."Id"')
        elif c in fixed:
            exprs.append("?")
            params.append(fixed[c])
        else:
            exprs.append(f"o.{quote(c)}")  # a tracked field (or its sort key)
    tmp = "temp._history_ids"
    store.write(tmp, "CREATE TEMP TABLE IF NOT EXISTS _history_ids "
                     "(n INTEGER PRIMARY KEY, hid TEXT, oid TEXT)")
    store.write_many(tmp, f"INSERT INTO {tmp} (hid, oid) VALUES (?, ?)",
                     zip(store.new_ids(hist, len(record_ids)), record_ids))
    try:
        store.write(
            hist.name, f"INSERT INTO {quote(hist.name)} ({', '.join(cols)}) "
            f"SELECT {', '.join(exprs)} FROM temp._history_ids m "
            f'JOIN {quote(obj.name)} o ON o."Id" = m.oid ORDER BY m.n', params)
    finally:
        store.write(tmp, f"DELETE FROM {tmp}")
