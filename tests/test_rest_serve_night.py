"""Issue 17 step 4, in process: the server runs the night. The background job runner
(``rest.night.NightRunner``, driven here one step at a time with a fake wall clock), the
admin clock endpoint ``/sforg-sim/clock``, session inactivity in wall time while jobs run,
and ``sforg-sim serve --save-on-exit``. The real ``sf`` CLI drives it in
tests/test_sf_cli_runbook.py."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import deploy, execute_anonymous
from sforg_sim.errors import UsageError
from sforg_sim.rest.auth import sessions
from sforg_sim.rest.dispatch import handle
from sforg_sim.rest.messages import Request, Response
from sforg_sim.rest.night import NightRunner, target_time

JOB = """public class Tick implements Queueable {
    public Integer n;
    public Tick(Integer n) { this.n = n; }
    public void execute(QueueableContext ctx) {
        if (n > 1) { System.enqueueJob(new Tick(n - 1)); }
    }
}"""
SCHED = """public class TickLater implements Schedulable {
    public void execute(SchedulableContext sc) { System.enqueueJob(new Tick(1)); }
}"""


class FakeWall:
    """A wall clock the test moves by hand (no sleeping, no wall-clock assertions)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org()
    o.load_scenario("small", records=10)
    assert all(r.success for r in deploy(o, {"Tick": JOB, "TickLater": SCHED}))
    yield o


def _completed(org: Org) -> int:
    return int(org.query("SELECT COUNT() FROM AsyncApexJob WHERE Status = 'Completed'")
               ["totalSize"])


def test_queued_jobs_run_in_the_background_in_slices(org: Org) -> None:
    wall = FakeWall()
    runner = NightRunner(org, wall=wall)
    assert execute_anonymous(org, "System.enqueueJob(new Tick(30));").success
    assert not org.apex.idle and _completed(org) == 0
    start = org.clock.time()
    steps = 0
    while runner.step():
        steps += 1
        assert steps < 100
    # A chain of 30 ran in several slices (requests get the lock in between) with no
    # wall time passing: simulated time advanced by the cost model alone.
    assert steps >= 2 and org.apex.idle and _completed(org) == 30
    assert org.clock.time() > start


def test_idle_clock_follows_wall_time(org: Org) -> None:
    wall = FakeWall()
    runner = NightRunner(org, wall=wall)
    start = org.clock.time()
    wall.t += 90
    assert runner.step() is False
    assert org.clock.time() - start == pytest.approx(90)
    wall.t -= 30  # a wall clock never goes back; the simulated one certainly does not
    runner.step()
    assert org.clock.time() - start == pytest.approx(90)


def test_a_schedule_fires_when_the_followed_clock_reaches_it(org: Org) -> None:
    wall = FakeWall()
    runner = NightRunner(org, wall=wall)
    now = org.clock.now()
    fire = now.replace(minute=0, second=0, microsecond=0).hour + 1
    res = execute_anonymous(org, f"System.schedule('later', '0 0 {fire % 24} * * ?', "
                                 "new TickLater());")
    assert res.success, res.compile_problem or res.exception_message
    wall.t += 60  # a minute later: not yet
    runner.step()
    assert _completed(org) == 0
    wall.t += 3600  # past the hour: the trigger fires, its job runs on the next steps
    for _ in range(10):
        runner.step()
    assert _completed(org) >= 1


def test_runner_thread_starts_and_stops(org: Org) -> None:
    runner = NightRunner(org, idle_tick=0.01).start()
    assert execute_anonymous(org, "System.enqueueJob(new Tick(5));").success
    done = threading.Event()

    def wait() -> None:
        while not org.apex.idle:
            threading.Event().wait(0.01)
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    assert done.wait(60)
    runner.stop()
    assert runner.error is None and _completed(org) == 5


# --- the admin clock endpoint --------------------------------------------------------------


def _clock(org: Org, token: str | None, method: str = "GET", body: object = None
           ) -> Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    raw = b"" if body is None else (body if isinstance(body, bytes)
                                    else json.dumps(body).encode())
    return handle(org, Request(method, "/sforg-sim/clock", "", headers, raw))


def test_clock_endpoint_moves_time_and_runs_what_is_due(org: Org) -> None:
    token = sessions(org).create()
    before = org.org_limits.api_used()
    got = _clock(org, token).json()
    assert got["now"] == org.clock.stamp() and got["jobsQueued"] is False
    assert execute_anonymous(org, "System.enqueueJob(new Tick(3));").success
    hhmm = org.clock.now().strftime("%H:%M")  # the same time tomorrow
    resp = _clock(org, token, "POST", {"to": hhmm})
    assert resp.status == 200, resp.body
    assert resp.json()["jobsQueued"] is False and _completed(org) == 3
    assert org.clock.now().strftime("%H:%M") == hhmm
    # A day passed on the SimClock with no server measuring wall time: the session is
    # gone, as a real one would be after a day of inactivity.
    assert _clock(org, token).status == 401
    resp = _clock(org, sessions(org).create(), "POST", {"advance": 60})
    assert resp.status == 200
    assert org.org_limits.api_used() == before  # the simulator's own endpoint is free


@pytest.mark.parametrize("body", [{"to": "25:00"}, {"to": "2000-01-01T00:00:00Z"},
                                  {"advance": -5}, {"advance": "x"}, {}, [1],
                                  {"to": "02:00", "advance": 1}, b"{not json"])
def test_clock_endpoint_bad_input_is_a_400_with_the_reason(org: Org, body: object) -> None:
    resp = _clock(org, sessions(org).create(), "POST", body)
    assert resp.status == 400 and resp.json()["error"]


def test_clock_endpoint_needs_the_token(org: Org) -> None:
    assert _clock(org, None).status == 401
    assert _clock(org, "00Dnope!x", "POST", {"advance": 1}).status == 401


def test_target_time_hhmm_is_the_next_occurrence(org: Org) -> None:
    now = org.clock.now().replace(hour=1, minute=30)
    assert target_time(now, {"to": "02:00"}) == now.replace(hour=2, minute=0, second=0,
                                                             microsecond=0)
    later = target_time(now, {"to": "01:00"})
    assert later.day != now.day and later.hour == 1
    with pytest.raises(UsageError):
        target_time(now, {"to": "noon"})


def test_an_advance_past_year_9999_is_a_400_not_a_500(org: Org) -> None:
    # timedelta(seconds=1e300) overflows: the endpoint answered 500 (review finding).
    with pytest.raises(UsageError, match="past the year 9999"):
        target_time(org.clock.now(), {"advance": 1e300})
    resp = _clock(org, sessions(org).create(), "POST", {"advance": 1e300})
    assert resp.status == 400 and "year 9999" in resp.body.decode()


# --- sessions while the clock races -------------------------------------------------------


def test_session_inactivity_counts_wall_time_while_jobs_run(org: Org) -> None:
    store = sessions(org)
    wall = FakeWall()
    store.wall = wall
    token = store.create()
    org.clock.advance(10 * 3600)  # the jobs raced through a simulated night
    assert store.validate(token) == org.user_id
    wall.t += 2 * 3600  # two hours of real inactivity: expired, as on the platform
    with pytest.raises(Exception, match="Session expired"):
        store.validate(token)


# --- sforg-sim serve --save-on-exit ---------------------------------------------------------


def test_serve_save_on_exit_writes_the_served_org(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from sforg_sim.cli.serve import run

    src = tmp_path / "org.db"
    o = Org()
    o.load_scenario("small", records=10)
    o.save(src)
    o.close()
    out = tmp_path / "after.db"
    args = argparse.Namespace(
        scenario="small", records=None, seed=0, edition="enterprise", licenses=300,
        org_file=str(src), host="127.0.0.1", port=0, credentials="random", jwt_cert=None,
        max_open_cursors=None, no_concurrency_limit=False, no_run_jobs=False,
        no_datacloud=False, save_on_exit=str(out))
    stop = threading.Event()
    stop.set()  # serve, print, stop at once
    assert run(args, stop) == 0
    assert "saved the org" in capsys.readouterr().err
    assert Org.open(out).query("SELECT COUNT() FROM Opportunity")["totalSize"] == 10


def test_serve_save_on_exit_refuses_a_folder(tmp_path: Path) -> None:
    from sforg_sim.cli.serve import run

    args = argparse.Namespace(
        scenario="small", records=10, seed=0, edition="enterprise", licenses=300,
        org_file=None, host="127.0.0.1", port=0, credentials="random", jwt_cert=None,
        max_open_cursors=None, no_concurrency_limit=False, no_run_jobs=True,
        no_datacloud=True, save_on_exit=str(tmp_path))
    with pytest.raises(UsageError, match="is a folder"):
        run(args, threading.Event())
