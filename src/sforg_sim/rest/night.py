"""The server runs the night: a background thread that runs the org's async Apex while
``sforg-sim serve`` serves, and the admin clock endpoint.

:class:`NightRunner` (started by ``serve(org, run_jobs=True)``, on by default in
``sforg-sim serve``):

- **Jobs run at once, as fast as the machine allows.** While work is queued (``not
  org.apex.idle``) it runs the engine in slices of :data:`SLICE_EVENTS` events, each slice
  under ``org.lock`` (the RLock every request holds too), so API calls and anonymous Apex
  interleave with the jobs between events and never see half an Apex transaction.
  Simulated time advances by the engine's cost model, not by wall time: a run that takes
  hours on the platform takes seconds here, and ``check_progress_v2.apex`` run in between
  shows the progress at that simulated moment.
- **An idle org's clock follows wall time.** With nothing queued the clock moves forward
  by the wall time elapsed (``org.apex.run(until=...)``, so a cron trigger that comes due
  fires then): a daily 2 AM schedule saved at 01:00 simulated fires an hour of real time
  later, not the moment it is saved. The clock never moves back; after a burst of jobs
  it goes on from where the jobs left it.

The admin endpoint ``/sforg-sim/clock`` (not a Salesforce resource, outside
``/services/``, behind the same bearer token and not charged to the API allocation):
``GET`` answers the simulated time and whether jobs are queued; ``POST`` with
``{"to": "02:00"}`` (the next time the simulated clock reads 02:00 UTC: tomorrow when it
is 02:00 or later now),
``{"to": "2026-01-06T02:00:00Z"}`` or ``{"advance": 3600}`` (seconds) moves time on
purpose by running the engine up to that moment: the jobs and schedules due in between
run, in order, as they would have.
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import UsageError
from .messages import Call, Response, json_response

__all__ = ["SLICE_EVENTS", "NightRunner", "clock_endpoint", "target_time"]

# Events per slice while jobs run: small enough that a request waits at most a few
# milliseconds for the lock, large enough that the lock hand-over costs nothing.
SLICE_EVENTS = 20
# How often an idle org's clock catches up with wall time (seconds of wall time).
IDLE_TICK = 0.2


class NightRunner:
    """Runs ``org.apex`` in a daemon thread until :meth:`stop` (see the module docstring).

    ``wall`` is the wall-clock function (``time.monotonic``), injectable so tests can
    drive "wall time" without sleeping.
    """

    def __init__(self, org: Any, *, wall: Any = time.monotonic,
                 idle_tick: float = IDLE_TICK) -> None:
        self.org = org
        self.wall = wall
        self.idle_tick = idle_tick
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_wall = wall()

    def start(self) -> NightRunner:
        """Start the thread (once)."""
        if self._thread is None:
            self._last_wall = self.wall()
            self._thread = threading.Thread(target=self._loop, name="sforg-sim-night",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current slice; the engine commits what it ran (``run`` returns),
        so the org is consistent for :meth:`Org.save` afterwards."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def step(self) -> bool:
        """One slice: run queued work, or let an idle clock follow wall time. Returns
        True when jobs ran (the loop then goes on at once)."""
        engine = self.org.apex
        with self.org.lock:
            now_wall = self.wall()
            elapsed = max(0.0, now_wall - self._last_wall)
            self._last_wall = now_wall
            if not engine.idle:
                engine.run(max_events=SLICE_EVENTS)
                return True
            if elapsed > 0:
                # Runs due cron triggers (daemon events) and sets the clock there.
                engine.run(until=self.org.clock.time() + elapsed)
            return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.step()
            except Exception as e:  # keep serving; the error is reported at stop
                self.error = e
                busy = False
            # Busy: yield the GIL and the lock to waiting requests, then go on.
            self._stop.wait(0.001 if busy else self.idle_tick)


_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def target_time(now: datetime, spec: dict[str, Any]) -> datetime:
    """Where ``{"to": ...}`` or ``{"advance": seconds}`` moves a clock reading ``now``.

    Raises UsageError for a value that is not one of the forms, or a time in the past
    (the simulated clock only moves forward).
    """
    if set(spec) - {"to", "advance"} or len(spec) != 1:
        raise UsageError('Send exactly one of {"to": "HH:MM" or an ISO datetime} or '
                                '{"advance": seconds}')
    if "advance" in spec:
        secs = spec["advance"]
        if isinstance(secs, bool) or not isinstance(secs, (int, float)) or secs < 0:
            raise UsageError(f"advance must be a number of seconds >= 0, not {secs!r}")
        try:
            return now + timedelta(seconds=float(secs))
        except (OverflowError, ValueError):  # 1e300, nan: past datetime's year 9999
            raise UsageError(f"advance {secs!r} s moves the clock past the year 9999 "
                             f"(the simulated time is {now.isoformat()})") from None
    to = spec["to"]
    if not isinstance(to, str):
        raise UsageError(f"to must be a string, not {to!r}")
    m = _HHMM.match(to.strip())
    if m:
        t = now.replace(hour=int(m.group(1)), minute=int(m.group(2)), second=0,
                        microsecond=0)
        return t if t > now else t + timedelta(days=1)
    try:
        t = datetime.fromisoformat(to.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f'to must be "HH:MM" or an ISO datetime, not {to!r}'
                                ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    if t < now:
        raise UsageError(f"{to} is before the simulated time {now.isoformat()}; "
                                "the clock only moves forward")
    return t


def _state(org: Any) -> dict[str, Any]:
    return {"now": org.clock.stamp(), "jobsQueued": not org.apex.idle}


def clock_endpoint(call: Call) -> Response:
    """``GET|POST /sforg-sim/clock`` (see the module docstring)."""
    org = call.org
    if call.request.method == "POST":
        # Not a Salesforce resource: a caller's mistake is a plain 400 with the reason.
        try:
            body = json.loads(call.request.body or b"null")
            if not isinstance(body, dict):
                raise UsageError('send a JSON object: {"to": "02:00"} or {"advance": 3600}')
            target = target_time(org.clock.now(), body)
        except (ValueError, UnicodeDecodeError) as e:  # UsageError is a ValueError
            return json_response(400, {"error": str(e)})
        org.apex.run(until=target.timestamp())
    return json_response(200, _state(org))
