"""Issue 21 (V2 replay within 1.5x of a lean sqlite3 loop): the engine's garbage-collector
threshold while it runs, and what must stay exactly as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sforg_sim import Org
from sforg_sim.apex import Context, Queueable
from sforg_sim.apex import engine as engine_mod


class Probe(Queueable):
    """Records the first GC threshold seen inside a transaction."""

    seen: list[int] = []

    def execute(self, ctx: Context) -> None:
        Probe.seen.append(gc.get_threshold()[0])


class Boom(Queueable):
    """A port's own bug: a Python exception propagates out of ``run``."""

    def execute(self, ctx: Context) -> None:
        raise RuntimeError("bug in a port")


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The thresholds before the test, put back after it whatever happens."""
    before = gc.get_threshold()
    Probe.seen = []
    yield before
    gc.set_threshold(*before)


def test_run_raises_the_first_threshold_and_restores_it(
        thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(700, 10, 10)
    org = Org()
    org.apex.enqueue_job(Probe())
    org.apex.run_until_idle()
    assert Probe.seen == [engine_mod.GC_GEN0_THRESHOLD]
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_of_the_caller_is_kept(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(1_000_000, 20, 30)
    org = Org()
    org.apex.enqueue_job(Probe())
    org.apex.run_until_idle()
    assert Probe.seen == [1_000_000]
    assert gc.get_threshold() == (1_000_000, 20, 30)


def test_thresholds_come_back_when_a_port_raises(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(700, 10, 10)
    org = Org()
    org.apex.enqueue_job(Boom())
    with pytest.raises(RuntimeError):
        org.apex.run_until_idle()
    assert gc.get_threshold() == (700, 10, 10)


def test_nested_runs_restore_only_at_the_outermost(
        thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(700, 10, 10)
    outer, inner = Org(), Org()

    class RunsAnother(Queueable):
        def execute(self, ctx: Context) -> None:
            inner.apex.enqueue_job(Probe())
            inner.apex.run_until_idle()  # another org's loop, inside this one's event
            Probe.seen.append(gc.get_threshold()[0])

    outer.apex.enqueue_job(RunsAnother())
    outer.apex.run_until_idle()
    assert Probe.seen == [engine_mod.GC_GEN0_THRESHOLD, engine_mod.GC_GEN0_THRESHOLD]
    assert gc.get_threshold() == (700, 10, 10)


def test_none_leaves_the_thresholds_alone(thresholds: tuple[int, int, int],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod, "GC_GEN0_THRESHOLD", None)
    gc.set_threshold(700, 10, 10)
    org = Org()
    org.apex.enqueue_job(Probe())
    org.apex.run_until_idle()
    assert Probe.seen == [700]
