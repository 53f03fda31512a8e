"""Fault schedules: the things that go wrong in production, injected on purpose.

A :class:`FaultSchedule` is a list of :class:`Fault` entries, each firing either with a
probability (seeded, so a replay is repeatable) or at given occurrence numbers:

- ``callout``: a transient callout failure: the callout returns HTTP 503
  ``SERVICE_UNAVAILABLE`` instead of reaching the endpoint (counted per callout);
- ``empty``: the data source answers a query with HTTP 200 and no rows (a transient empty
  batch; counted per data query, consulted by the Data Cloud source);
- ``lock``: ``UNABLE_TO_LOCK_ROW`` on a DML statement (counted per DML statement);
- ``quota``: the org's API quota is exhausted, at ``@SECONDS`` after the run starts;
- ``update`` / ``delete`` / ``insert``: "another user" changes one target record between
  two async executions (counted per execution): sets a non-target StageName, soft-deletes
  it, or inserts a new Opportunity (with its Data Cloud source row) next to it.

Text form (the CLI's ``--faults``): comma-separated ``KIND:PROBABILITY`` or
``KIND@N[+N...]``, e.g. ``callout:0.01,lock@3+7,quota@3600,update:0.05``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UnableToLockRow, error_class
from .context import HttpResponse

if TYPE_CHECKING:
    from .context import Context
    from .engine import AsyncEngine

__all__ = ["KINDS", "Fault", "FaultSchedule"]

KINDS = ("callout", "empty", "lock", "quota", "update", "delete", "insert")
_BAD = error_class("INVALID_FAULT_SPEC")


@dataclass(frozen=True)
class Fault:
    """One fault: ``kind`` with a ``probability`` or at occurrence numbers ``at``."""

    kind: str
    probability: float = 0.0
    at: frozenset[float] = frozenset()


@dataclass
class FaultSchedule:
    """Decides, deterministically from ``seed``, when each fault fires."""

    faults: list[Fault] = field(default_factory=list)
    seed: int = 0
    target: str = "Opportunity"
    fired: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._count: dict[str, int] = {}
        self.source: Any = None  # the Data Cloud source, told when its rows change

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> FaultSchedule:
        """Parse the text form; raises INVALID_FAULT_SPEC with the offending entry."""
        out = []
        for raw in filter(None, (p.strip() for p in (text or "").split(","))):
            try:
                if "@" in raw:
                    kind, rest = raw.split("@", 1)
                    f = Fault(kind, 0.0, frozenset(float(x) for x in rest.split("+")))
                else:
                    kind, _, p = raw.partition(":")
                    f = Fault(kind, float(p or 1.0))
            except ValueError:
                raise _BAD(f"bad fault {raw!r} (use KIND:PROBABILITY or KIND@N+N)") from None
            if f.kind not in KINDS:
                raise _BAD(f"unknown fault kind {f.kind!r} (expected one of "
                           f"{', '.join(KINDS)})")
            if not 0.0 <= f.probability <= 1.0:
                raise _BAD(f"probability out of range in {raw!r}")
            if f.kind == "quota" and not f.at:
                raise _BAD("quota needs a time: quota@SECONDS")
            out.append(f)
        return cls(out, seed)

    def __bool__(self) -> bool:
        return bool(self.faults)

    def fires(self, kind: str) -> bool:
        """Count one occurrence of ``kind``; True when a fault of that kind fires now."""
        if not self.faults:
            return False
        n = self._count[kind] = self._count.get(kind, 0) + 1
        for f in self.faults:
            if f.kind == kind and (n in f.at or (
                    f.probability and self._rng.random() < f.probability)):
                self.fired[kind] = self.fired.get(kind, 0) + 1
                return True
        return False

    # --- hooks called by the engine and the Data Cloud source ---------------------------

    def on_callout(self, ctx: Context, endpoint: str) -> HttpResponse | None:
        """A 503 response when a transient callout failure fires."""
        if self.fires("callout"):
            return HttpResponse(503, [{"errorCode": "SERVICE_UNAVAILABLE",
                                       "message": "Service temporarily unavailable"}])
        return None

    def before_dml(self, ctx: Context, sobject: str, op: str) -> None:
        """Raise UNABLE_TO_LOCK_ROW when a lock fault fires."""
        if self.fires("lock"):
            raise UnableToLockRow(
                "unable to obtain exclusive access to this record or 1 records")

    def empty_page(self) -> bool:
        """True when the data source should answer this query with no rows."""
        return self.fires("empty")

    def start(self, engine: AsyncEngine) -> None:
        """Arm time-based faults (quota) relative to now."""
        t0 = engine.org.clock.time()
        for f in self.faults:
            if f.kind == "quota":
                for s in f.at:
                    engine.at(t0 + s, lambda: engine.org.set_api_remaining(0), daemon=True)

    def between_executions(self, engine: AsyncEngine) -> None:
        """Let "another user" change target records after an async execution."""
        if not self.faults:
            return
        for kind in ("update", "delete", "insert"):
            if any(f.kind == kind for f in self.faults) and self.fires(kind):
                self._concurrent(engine, kind)

    def _concurrent(self, engine: AsyncEngine, kind: str) -> None:
        org = engine.org
        store = org.store
        obj = org.schema.get(self.target)
        top = store.max_rowid(obj)
        if not top:
            return
        rows = store.select(obj, ["Id", "External_ID__c", "CloseDate"],
                            'rowid >= ? AND "IsDeleted" = 0', (self._rng.randint(1, top),),
                            limit=1)
        row = rows[0] if rows else None
        if row is None:
            return
        rid, ext, close = row
        other = store.select(org.schema.get("User"), ["Id"], order_by='"Id"', limit=1)[0][0]
        with org.as_user(other):
            if kind == "update":
                org.update(self.target, [{"Id": rid, "StageName": "Prospecting"}])
            elif kind == "delete":
                org.delete(self.target, [rid])
            elif ext:
                new_ext = f"{ext}b"
                res = org.insert(self.target, [{"Name": f"Concurrent {new_ext}",
                                                "StageName": "Prospecting", "CloseDate": close,
                                                "External_ID__c": new_ext}])
                if res[0]["success"] and self.source is not None:
                    self.source.insert_rows([{"External_ID__c": new_ext,
                                              "StageName__c": "Qualification"}])
