"""The Apex interfaces, as Python base classes users subclass.

Porting an Apex class: ``implements Queueable`` becomes ``class MyJob(Queueable)``, the
``execute(QueueableContext)`` method becomes ``execute(self, ctx)`` where ``ctx`` is the
:class:`~sforg_sim.apex.context.Context` (SOQL, DML, callouts, ``enqueue_job``,
``debug``). Member variables are plain attributes set in ``__init__``.

- :class:`Queueable`: ``execute(ctx)``; may enqueue one child from an async context.
- :class:`Batchable`: ``start(ctx)`` returns :func:`get_query_locator` (a SOQL query, its
  ids snapshotted at start) or any iterable; ``execute(ctx, scope)`` gets each chunk;
  ``finish(ctx)`` runs once at the end.
- :class:`Schedulable`: ``execute(ctx)`` at each fire of a cron expression.
- :class:`Stateful`: mix in for ``Database.Stateful``: without it a batch job's member
  variables are reset to their post-``start()`` values for every transaction, as Apex
  deserialises the job afresh; with it changes made in ``execute`` carry over.

The Apex class name shown in AsyncApexJob/ApexClass rows is ``apex_class_name``, by
default the Python class name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .context import Context

__all__ = ["Batchable", "QueryLocator", "Queueable", "Schedulable", "Stateful",
           "get_query_locator"]


@dataclass(frozen=True)
class QueryLocator:
    """``Database.getQueryLocator(soql)``: the query whose ids a batch job snapshots."""

    soql: str
    binds: dict[str, Any] = field(default_factory=dict)


def get_query_locator(soql: str, **binds: Any) -> QueryLocator:
    """``Database.getQueryLocator``; ``binds`` fill ``:name`` variables."""
    return QueryLocator(soql, dict(binds))


class _ApexClass:
    apex_class_name: ClassVar[str | None] = None

    @classmethod
    def class_name(cls) -> str:
        """The Apex class name for AsyncApexJob rows."""
        return cls.apex_class_name or cls.__name__


class Queueable(_ApexClass):
    """``implements Queueable``: one async transaction per enqueue."""

    def execute(self, ctx: Context) -> None:
        """The job's work. Override."""
        raise NotImplementedError


class Batchable(_ApexClass):
    """``implements Database.Batchable<sObject>``."""

    def start(self, ctx: Context) -> QueryLocator | Iterable[Any]:
        """Return the records to process: a QueryLocator or an iterable. Override."""
        raise NotImplementedError

    def execute(self, ctx: Context, scope: list[Any]) -> None:
        """Process one chunk of at most ``scope`` records. Override."""
        raise NotImplementedError

    def finish(self, ctx: Context) -> None:
        """Runs once after the last chunk (optional)."""


class Schedulable(_ApexClass):
    """``implements Schedulable``: ``execute`` at each fire of its cron expression."""

    def execute(self, ctx: Context) -> None:
        """The scheduled work (often: start a batch or a queueable). Override."""
        raise NotImplementedError


class Stateful:
    """Marker for ``Database.Stateful``: keep member variables across batch transactions."""
