"""Async Apex, simulated: Batchable, Queueable, Schedulable on the org's SimClock.

``org.apex`` is the org's :class:`AsyncEngine`. Write jobs by subclassing
:class:`Queueable`, :class:`Batchable` or :class:`Schedulable` (see :mod:`.context` for
porting notes), submit them with ``org.apex.enqueue_job``, ``execute_batch`` or
``schedule``, then ``org.apex.run_until_idle()`` or ``run(until=...)``. Progress is in the
AsyncApexJob rows (queryable by SOQL), limits in ``org.limits()``.
"""

from __future__ import annotations

from .context import (
    Batchable,
    Context,
    HttpResponse,
    QueryLocator,
    Queueable,
    Schedulable,
    Stateful,
    get_query_locator,
)
from .costs import DEFAULT_COSTS, CostModel
from .cron import CronExpression
from .engine import MAX_ACTIVE_BATCHES, MAX_FLEX_QUEUE, AsyncEngine, Job
from .faults import Fault, FaultSchedule
from .governor import ASYNC_LIMITS, SYNC_LIMITS, Governor, TransactionLimits

__all__ = [
    "ASYNC_LIMITS", "DEFAULT_COSTS", "MAX_ACTIVE_BATCHES", "MAX_FLEX_QUEUE", "SYNC_LIMITS",
    "AsyncEngine", "Batchable", "Context", "CostModel", "CronExpression", "Fault",
    "FaultSchedule", "Governor", "HttpResponse", "Job", "QueryLocator", "Queueable",
    "Schedulable", "Stateful", "TransactionLimits", "get_query_locator",
]
