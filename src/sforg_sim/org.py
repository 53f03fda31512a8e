"""The simulated org as users see it: the core with the async Apex engine and scenarios.

:class:`Org` is the public facade (``from sforg_sim import Org``). Its state lives in
:class:`~sforg_sim.core.OrgCore` (clock, schema, store, SOQL, limits, DML); this module adds
what sits above the core and must not be imported by it: the async Apex engine with the
Apex language on it (:attr:`Org.apex`, an :class:`~sforg_sim.apexlang.ApexEngine`) and
the seed datasets (:meth:`Org.load_scenario`). The REST surface's
session state belongs to the REST layer (:func:`sforg_sim.rest.auth.sessions`).
"""

from __future__ import annotations

from functools import cached_property

from .apexlang.api import ApexEngine
from .core import API_VERSION, DEFAULT_INSTANCE_URL, DEFAULT_LICENSES, OrgCore
from .scenarios import Progress, load

__all__ = ["API_VERSION", "DEFAULT_INSTANCE_URL", "DEFAULT_LICENSES", "Org"]


class Org(OrgCore):
    """A simulated Salesforce org.

    ``Org(edition="enterprise", licenses=340)`` starts empty but for the Organization row
    and an admin User who owns everything created; ``path=`` keeps it in a SQLite file.
    ``Org.open(path)`` reopens a saved org (schema, data, clock, API usage) in place.
    """

    @cached_property
    def apex(self) -> ApexEngine:
        """The async Apex engine (Batchable, Queueable, Schedulable; see :mod:`.apex`),
        created on first use, with the team's Apex source on it: ``org.apex.deploy(path)``
        and ``org.apex.execute_anonymous(source)`` (see :class:`.apexlang.ApexEngine`)."""
        return ApexEngine(self)

    def load_scenario(self, name: str, records: int | None = None, seed: int = 0,
                      progress: Progress | None = None) -> None:
        """Seed a built-in dataset (``massive-upload``, ``small``); see :mod:`.scenarios`.
        ``progress(done, total)`` is told how far the load is (for a progress bar)."""
        with self.lock:
            load(self, name, records=records, seed=seed, progress=progress)
