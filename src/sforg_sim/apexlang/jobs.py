"""The bridge to the async engine: compiled classes implementing Queueable, Batchable or
Schedulable are Python subclasses of :mod:`sforg_sim.apex`'s job classes, so they run on
the org's engine with its governor limits, flex queue, cost model and AsyncApexJob rows
(named by ``apex_class_name``, the Apex class name).

Each engine transaction enters an :class:`~.runtime.Execution` (the Context compiled code
uses), resets static variables (Apex statics live for one transaction: "Apex Developer
Guide", *Static and Instance Methods, Variables, and Initialization Code*, "a static
variable is static only within the scope of the Apex transaction") and turns Python
failures into Apex exceptions, which the engine records as the job's failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..apex import Batchable, Queueable, Schedulable, Stateful
from ..apex.context import QueryLocator
from .runtime import Execution, entered, wrap_error
from .stdlib import ContextObject, QueryLocatorValue, to_sobject
from .values import ApexObject, SObject

__all__ = ["ApexBatchable", "ApexQueueable", "ApexSchedulable", "ApexStateful", "transaction"]


def transaction(inst: Any, ctx: Any, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` as compiled Apex inside the engine transaction ``ctx``."""
    runtime = type(inst).apex_runtime
    with entered(Execution(ctx, runtime)):
        runtime.reset_statics()
        try:
            return fn()
        except BaseException as e:
            x = wrap_error(e)
            if x is e:
                raise
            raise x from None


class ApexQueueable(ApexObject, Queueable):
    """``implements Queueable``."""

    apex_runtime: Any = None

    @property
    def stop_reason(self) -> str | None:
        """The class's ``stopReason`` member, when it declares one (a String): replays show
        it as the partition's end, as they show a Python port's ``stop_reason``."""
        value = getattr(self, "f_stopreason", None)
        return value if isinstance(value, str) else None

    def execute(self, ctx: Any) -> None:
        """The engine's entry: ``execute(QueueableContext)``."""
        transaction(self, ctx, lambda: self.m_execute_1(ContextObject(ctx.job_id)))  # type: ignore[attr-defined]


class ApexSchedulable(ApexObject, Schedulable):
    """``implements Schedulable``."""

    apex_runtime: Any = None

    def execute(self, ctx: Any) -> None:
        """The engine's entry: ``execute(SchedulableContext)``."""
        transaction(self, ctx, lambda: self.m_execute_1(ContextObject(ctx.job_id)))  # type: ignore[attr-defined]


class ApexBatchable(ApexObject, Batchable):
    """``implements Database.Batchable<sObject>``."""

    apex_runtime: Any = None

    def start(self, ctx: Any) -> Any:
        """``start(BatchableContext)``: a QueryLocator or a list."""
        out = transaction(self, ctx, lambda: self.m_start_1(ContextObject(ctx.job_id)))  # type: ignore[attr-defined]
        if isinstance(out, QueryLocatorValue):
            return out.locator
        if isinstance(out, QueryLocator):
            return out
        return list(out or [])

    def execute(self, ctx: Any, scope: list[Any]) -> None:
        """``execute(BatchableContext, List<sObject>)``."""
        recs = [to_sobject(r) if isinstance(r, dict) and "attributes" in r else r
                for r in scope]
        transaction(self, ctx, lambda: self.m_execute_2(ContextObject(ctx.job_id), recs))  # type: ignore[attr-defined]

    def finish(self, ctx: Any) -> None:
        """``finish(BatchableContext)``."""
        if hasattr(self, "m_finish_1"):
            transaction(self, ctx, lambda: self.m_finish_1(ContextObject(ctx.job_id)))


ApexStateful = Stateful
"""``Database.Stateful``: the engine keeps member variables across batch transactions."""

__all__ += ["SObject"]
