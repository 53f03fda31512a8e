"""The bridge to the async engine: compiled classes implementing Queueable, Batchable or
Schedulable are Python subclasses of :mod:`sforg_sim.apex`'s job classes, so they run on
the org's engine with its governor limits, flex queue, cost model and AsyncApexJob rows
(named by ``apex_class_name``, the Apex class name).

Each engine transaction enters an :class:`~.runtime.Execution` (the Context compiled code
uses), resets static variables (Apex statics live for one transaction: "Apex Developer
Guide", *Static and Instance Methods, Variables, and Initialization Code*, "a static
variable is static only within the scope of the Apex transaction") and turns Python
failures into Apex exceptions, which the engine records as the job's failure (a bug of the
simulator itself: an :class:`~.errors.InternalError`, the job Failed with its message).
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from typing import Any

from ..apex import Batchable, Queueable, Schedulable, Stateful
from ..apex.context import Enqueued, QueryLocator
from ..apex.governor import LimitBreach
from ..errors import LimitException
from .runtime import (
    FUTURE_LIMIT,
    NO_FUTURE,
    Execution,
    current,
    entered,
    internal_error,
    running_job_type,
    wrap_error,
)
from .stdlib import ContextObject, QueryLocatorValue, to_sobject
from .values import ApexObject, SObject, exception_class

__all__ = ["ApexBatchable", "ApexQueueable", "ApexSchedulable", "ApexStateful", "FutureCall",
           "call_future", "transaction"]


def transaction(inst: Any, ctx: Any, fn: Callable[[], Any],
                callout_block: str | None = None) -> Any:
    """Run ``fn`` as compiled Apex inside the engine transaction ``ctx`` (``callout_block``:
    why this transaction may make no callout, see :class:`FutureCall`)."""
    runtime = type(inst).apex_runtime
    ex = Execution(ctx, runtime)
    ex.callout_block = callout_block
    with entered(ex):
        runtime.reset_statics()
        try:
            return fn()
        except BaseException as e:
            # A Python failure of the simulator's own code fails the job as an
            # InternalError (AsyncApexJob Failed, "First error: Internal error in
            # sforg-sim: ..."), never a traceback out of the engine's run.
            x = internal_error(wrap_error(e))
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
        """The engine's entry: ``execute(SchedulableContext)``; ``getTriggerId()`` is the
        CronTrigger id ("Returns the ID of the CronTrigger scheduled job", Apex Reference,
        "SchedulableContext Interface")."""
        tid = ctx.trigger_id or ctx.job_id
        transaction(self, ctx, lambda: self.m_execute_1(ContextObject(tid)))  # type: ignore[attr-defined]


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


# --- @future ---------------------------------------------------------------------------------
#
# "Future Methods" (Apex Developer Guide,
# https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_invoking_future_methods.htm):
# a static void method annotated @future runs asynchronously, later, in its own transaction;
# its parameters are primitives or collections of them; "To allow callouts in a Future
# method, specify (callout=true). The default is (callout=false), which prevents a method
# from making callouts" ("Future Annotation",
# https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_classes_annotation_future.htm).
# Limits (Limits Quick Reference, *Per-Transaction Apex Limits*):
# "Maximum number of methods with the future annotation allowed per Apex invocation: 50
# (synchronous); 0 in batch and future contexts; 50 in queueable context". A call from a
# future or batch transaction is ``System.AsyncException: Future method cannot be called
# from a future or batch method: Class.method(types)`` (the wording deploys and logs show,
# e.g. salesforce.stackexchange.com/questions/205297; not in the guide).

class FutureCall(Queueable):
    """One ``@future`` call as an engine job: AsyncApexJob ``JobType`` 'Future', named by
    the declaring class (the engine's Queueable path runs it; its ``job_type`` is what the
    row shows). Not counted as a Queueable job (``Limits.getQueueableJobs``)."""

    job_type = "Future"
    apex_runtime: Any = None

    def __init__(self, target: Callable[..., Any], args: tuple[Any, ...],
                 callout: bool) -> None:
        self.target = target
        self.args = args
        self.callout = callout

    def execute(self, ctx: Any) -> None:
        """The future method's own transaction."""
        block = None if self.callout else "future method without callout=true"
        transaction(self, ctx, lambda: self.target(*self.args), block)


_FUTURE_CLASSES: weakref.WeakKeyDictionary[type, type[FutureCall]] = \
    weakref.WeakKeyDictionary()


def _future_class(pyclass: type) -> type[FutureCall]:
    """The FutureCall subclass of one compiled class (its name for the AsyncApexJob row;
    its runtime for statics), made once."""
    made = _FUTURE_CLASSES.get(pyclass)
    if made is None:
        made = type(f"Future_{pyclass.__name__}", (FutureCall,), {
            "apex_class_name": getattr(pyclass, "apex_class_name", pyclass.__name__),
            "apex_runtime": getattr(pyclass, "apex_runtime", None)})
        _FUTURE_CLASSES[pyclass] = made
    return made


def call_future(pyclass: Any, pyname: str, display: str, callout: bool,
                args: tuple[Any, ...]) -> None:
    """A call of a ``@future`` method: checked against the running transaction, queued as a
    job when it commits (dropped when it rolls back), arguments copied as they are now."""
    ex = current()
    ctx = ex.ctx
    if running_job_type(ctx) in NO_FUTURE:
        raise exception_class("AsyncException")(
            f"Future method cannot be called from a future or batch method: {display}")
    ex.future_calls += 1
    if ex.future_calls > FUTURE_LIMIT:
        # Uncatchable, as every governor limit: the governor's own breach path.
        ctx.governor.breach = LimitException(f"Too many future calls: {ex.future_calls}")
        raise LimitBreach(ctx.governor.breach)
    if pyclass.__dict__.get("apex_runtime") is None:
        pyclass.apex_runtime = ex.runtime  # a class local to an anonymous block
    job = _future_class(pyclass)(getattr(pyclass, pyname), copy.deepcopy(args), callout)
    ctx.enqueued.append(Enqueued("queueable", ctx.engine.reserve_job_id(), job))
    # Asynchronous Apex is pending work: no callout may follow in this transaction
    # ("Callout Limits and Limitations").
    ctx.pending = ctx.pending or "async Apex"

__all__ += ["SObject"]
