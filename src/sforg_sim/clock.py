"""Simulated time.

Nothing in the simulator reads the wall clock: API usage windows, audit fields, cursor
expiry, date literals and the async engine all ask the org's :class:`SimClock`. That is what
lets a replay of hours of real work finish in seconds and come out the same every run.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

__all__ = ["DEFAULT_START", "SimClock", "format_date", "format_datetime", "parse_datetime"]

UTC = timezone.utc
DEFAULT_START = datetime(2026, 1, 5, 2, 0, 0, tzinfo=UTC)
"""A Monday, 02:00 UTC: the team's nightly schedule slot, so defaults line up with it."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SimClock:
    """Simulated UTC time, held as float seconds since the epoch.

    ``advance()`` only moves forward; ``set()`` may jump anywhere (tests use it to move past
    a 24-hour window or a cursor's lifetime).
    """

    def __init__(self, start: datetime | float | None = None) -> None:
        self._t = _to_seconds(DEFAULT_START if start is None else start)
        self._stamp: tuple[float, str] = (float("nan"), "")

    def now(self) -> datetime:
        """The current simulated time (timezone-aware, UTC)."""
        return _EPOCH + timedelta(seconds=self._t)

    def time(self) -> float:
        """The current simulated time as seconds since the epoch (cheap: no datetime)."""
        return self._t

    def today(self) -> date:
        """The current simulated date in UTC."""
        return self.now().date()

    def advance(self, seconds: float) -> datetime:
        """Move time forward by ``seconds`` (>= 0) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a SimClock only moves forward; got advance({seconds})")
        self._t += seconds
        return self.now()

    def set(self, when: datetime | float) -> None:
        """Jump to ``when`` (a datetime, naive taken as UTC, or epoch seconds)."""
        self._t = _to_seconds(when)

    def stamp(self) -> str:
        """The current time in the Salesforce REST datetime format."""
        # Memoised: every audit field of every write in one event asks for the same text.
        t, text = self._stamp
        if t != self._t:
            text = format_datetime(self.now())
            self._stamp = (self._t, text)
        return text

    def __repr__(self) -> str:
        return f"SimClock({self.stamp()})"


def _to_seconds(when: datetime | float) -> float:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return (when - _EPOCH).total_seconds()
    return float(when)


def format_datetime(dt: datetime) -> str:
    """``2026-01-05T02:00:00.000+0000``: the REST API's datetime form (always UTC)."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def format_date(d: date) -> str:
    """``2026-01-05``: the REST API's date form."""
    return d.isoformat()


def parse_datetime(text: str) -> datetime:
    """Parse the datetime forms Salesforce accepts (``Z``, ``+hh:mm``, ``+hhmm``, fraction).

    Raises ValueError on anything else; callers turn that into the right Salesforce error.
    """
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # Python < 3.11 fromisoformat is strict about "+0000"; normalise it to "+00:00".
    if len(s) >= 5 and s[-5] in "+-" and s[-4:].isdigit():
        s = s[:-2] + ":" + s[-2:]
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
