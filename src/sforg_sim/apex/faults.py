"""Fault schedules: the things that go wrong in production, injected on purpose.

A :class:`FaultSchedule` is a list of :class:`Fault` entries, each firing either with a
probability (seeded, so a replay is repeatable) or at given occurrence numbers:

- ``callout``: a transient callout failure: the callout returns HTTP 503
  ``SERVICE_UNAVAILABLE`` instead of reaching the endpoint (counted per callout);
- ``slow``: the endpoint takes the cost model's ``slow_callout`` seconds (125 s by default,
  longer than the 120 s maximum timeout) to answer, so the callout raises
  ``System.CalloutException: Read timed out`` after its timeout (counted per callout);
- ``empty``: the data source answers a query with HTTP 200 and no rows (a transient empty
  batch; counted per data query, consulted by the Data Cloud source);
- ``lock``: ``UNABLE_TO_LOCK_ROW`` on a DML statement (counted per DML statement);
- ``quota``: the org's API quota is exhausted, at ``@SECONDS`` after the run starts;
- ``update`` / ``delete`` / ``insert``: "another user" changes one target record between
  two async executions (counted per execution). What a change is belongs to the job's
  domain: the schedule calls its :attr:`FaultSchedule.another_user` (for the nightly job,
  :class:`sforg_sim.nightly.AnotherUser`: a non-target StageName, a soft delete, a new
  record with its source row); without one these kinds fire and change nothing.

Text form (the CLI's ``--faults``): comma-separated ``KIND:PROBABILITY`` or
``KIND@N[+N...]``, e.g. ``callout:0.01,lock@3+7,quota@3600,update:0.05``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, cast, get_args

from ..errors import UnableToLockRow, UsageError
from .context import HttpResponse

if TYPE_CHECKING:
    from ..core import OrgCore
    from .context import Context

__all__ = ["KINDS", "AnotherUser", "Fault", "FaultKind", "FaultSchedule", "Scheduler"]

FaultKind = Literal["callout", "slow", "empty", "lock", "quota", "update", "delete",
                    "insert"]
"""The kinds of fault a schedule can inject."""
KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
ChangeKind = Literal["update", "delete", "insert"]


class Scheduler(Protocol):
    """What a schedule needs from the engine running it (the engine implements it)."""

    org: OrgCore

    def at(self, when: float, fn: Callable[[], None], *, daemon: bool = False) -> None:
        """Run ``fn`` at simulated time ``when``."""


class AnotherUser(Protocol):
    """How "another user" changes the job's records (the job's domain supplies it)."""

    def change(self, org: OrgCore, kind: ChangeKind, rng: random.Random) -> None:
        """Make one change of ``kind``, choosing the record with ``rng``."""


@dataclass(frozen=True)
class Fault:
    """One fault: ``kind`` with a ``probability`` or at occurrence numbers ``at``."""

    kind: FaultKind
    probability: float = 0.0
    at: frozenset[float] = frozenset()


@dataclass
class FaultSchedule:
    """Decides, deterministically from ``seed``, when each fault fires."""

    faults: list[Fault] = field(default_factory=list)
    seed: int = 0
    fired: dict[str, int] = field(default_factory=dict)
    another_user: AnotherUser | None = None
    """Who makes the ``update``/``delete``/``insert`` changes (see the module docstring)."""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._count: dict[str, int] = {}

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> FaultSchedule:
        """Parse the text form; a malformed entry is the caller's mistake (UsageError)."""
        out = []
        for raw in filter(None, (p.strip() for p in (text or "").split(","))):
            try:
                if "@" in raw:
                    kind, rest = raw.split("@", 1)
                    at, prob = frozenset(float(x) for x in rest.split("+")), 0.0
                else:
                    kind, _, p = raw.partition(":")
                    at, prob = frozenset(), float(p or 1.0)
            except ValueError:
                raise UsageError(f"bad fault {raw!r} (use KIND:PROBABILITY or KIND@N+N)"
                                 ) from None
            if kind not in KINDS:
                raise UsageError(f"unknown fault kind {kind!r} (expected one of "
                                 f"{', '.join(KINDS)})")
            f = Fault(cast(FaultKind, kind), prob, at)
            if not 0.0 <= f.probability <= 1.0:
                raise UsageError(f"probability out of range in {raw!r}")
            if f.kind == "quota" and not f.at:
                raise UsageError("quota needs a time: quota@SECONDS")
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

    def callout_latency(self, ctx: Context, endpoint: str) -> float | None:
        """The cost model's ``slow_callout`` seconds when a ``slow`` fault fires, else None
        (the callout takes the cost model's ordinary ``callout`` time)."""
        if self.fires("slow"):
            return ctx.governor.costs.slow_callout
        return None

    def before_dml(self, ctx: Context, sobject: str, op: str) -> None:
        """Raise UNABLE_TO_LOCK_ROW when a lock fault fires."""
        if self.fires("lock"):
            raise UnableToLockRow(
                "unable to obtain exclusive access to this record or 1 records")

    def empty_page(self) -> bool:
        """True when the data source should answer this query with no rows."""
        return self.fires("empty")

    def start(self, engine: Scheduler) -> None:
        """Arm time-based faults (quota) relative to now."""
        t0 = engine.org.clock.time()
        for f in self.faults:
            if f.kind == "quota":
                for s in f.at:
                    engine.at(t0 + s, lambda: engine.org.set_api_remaining(0), daemon=True)

    def between_executions(self, engine: Scheduler) -> None:
        """Let "another user" change target records after an async execution."""
        if not self.faults:
            return
        kinds: tuple[ChangeKind, ...] = ("update", "delete", "insert")
        for kind in kinds:
            if (any(f.kind == kind for f in self.faults) and self.fires(kind)
                    and self.another_user is not None):
                self.another_user.change(engine.org, kind, self._rng)
