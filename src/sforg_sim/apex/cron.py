"""Salesforce cron expressions for ``System.schedule``.

Format (Apex Developer Guide, "Apex Scheduler"): ``Seconds Minutes Hours Day_of_month Month
Day_of_week [Year]``, e.g. ``0 0 2 * * ?`` for 2 AM every day (the team's schedule).
Supported: numbers, ``*``, ``?`` (no specific value; Salesforce requires it in exactly one
of the two day fields), lists ``a,b``, ranges ``a-b``, increments ``a/n`` and ``*/n``, month
names ``JAN``-``DEC``, day names ``SUN``-``SAT`` (1 = Sunday ... 7 = Saturday), and ``L``
alone in Day_of_month (last day of the month). Times are UTC (the simulator has no user time
zone; Salesforce uses the scheduling user's time zone). Deviation: ``W``, ``#`` and ``nL``
are not supported and raise MALFORMED_QUERY-like errors instead of being honoured.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from ..errors import SalesforceError, error_class

__all__ = ["CronExpression"]

_MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
_BAD = error_class("INVALID_CRON_EXPRESSION")


def _bad(expr: str, why: str) -> SalesforceError:
    return _BAD(f"Invalid cron expression '{expr}': {why}")


def _field(expr: str, text: str, lo: int, hi: int,
           names: dict[str, int] | None = None) -> frozenset[int] | None:
    """The allowed values of one field; None means any (``*`` or ``?``)."""
    if text in ("*", "?"):
        return None
    out: set[int] = set()

    def num(t: str) -> int:
        t = t.upper()
        if names and t in names:
            return names[t]
        if not t.isdigit():
            raise _bad(expr, f"bad value {t!r}")
        v = int(t)
        if not lo <= v <= hi:
            raise _bad(expr, f"{v} is outside {lo}-{hi}")
        return v

    for part in text.split(","):
        step = 1
        if "/" in part:
            part, s = part.split("/", 1)
            if not s.isdigit() or int(s) < 1:
                raise _bad(expr, f"bad increment {s!r}")
            step = int(s)
        if part in ("*", "?"):
            a, b = lo, hi
        elif "-" in part:
            x, y = part.split("-", 1)
            a, b = num(x), num(y)
        else:
            a = num(part)
            b = hi if step > 1 else a
        if a > b:
            raise _bad(expr, f"empty range {part!r}")
        out.update(range(a, b + 1, step))
    return frozenset(out)


@dataclass(frozen=True)
class CronExpression:
    """A parsed cron expression; :meth:`next_after` gives its next fire time."""

    text: str
    seconds: frozenset[int] | None
    minutes: frozenset[int] | None
    hours: frozenset[int] | None
    days: frozenset[int] | None
    last_day: bool
    months: frozenset[int] | None
    weekdays: frozenset[int] | None
    years: frozenset[int] | None

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """Parse ``text``; raises INVALID_CRON_EXPRESSION on anything unsupported."""
        parts = text.split()
        if len(parts) not in (6, 7):
            raise _bad(text, "expected 6 or 7 fields")
        dom, dow = parts[3], parts[5]
        if ("#" in dow or dom.upper().endswith("W") or dow.upper().endswith("L")
                or (dom.upper().endswith("L") and dom.upper() != "L")):
            raise _bad(text, "W, # and nL are not supported by the simulator")
        if (dom == "?") == (dow == "?"):
            raise _bad(text, "use '?' in exactly one of Day_of_month and Day_of_week")
        last = dom.upper() == "L"
        return cls(
            text,
            _field(text, parts[0], 0, 59), _field(text, parts[1], 0, 59),
            _field(text, parts[2], 0, 23),
            None if last else _field(text, dom, 1, 31), last,
            _field(text, parts[4], 1, 12, _MONTHS), _field(text, dow, 1, 7, _DAYS),
            _field(text, parts[6], 1970, 2099) if len(parts) == 7 else None)

    def _day_ok(self, d: date) -> bool:
        if self.years is not None and d.year not in self.years:
            return False
        if self.months is not None and d.month not in self.months:
            return False
        if self.last_day:
            return d.day == calendar.monthrange(d.year, d.month)[1]
        if self.days is not None and d.day not in self.days:
            return False
        # Python: Monday=0 .. Sunday=6; Salesforce: Sunday=1 .. Saturday=7.
        return self.weekdays is None or (d.weekday() + 1) % 7 + 1 in self.weekdays

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after`` (UTC), or None if there is none."""
        after = after.astimezone(timezone.utc).replace(microsecond=0)
        secs = sorted(self.seconds if self.seconds is not None else range(60))
        mins = sorted(self.minutes if self.minutes is not None else range(60))
        hrs = sorted(self.hours if self.hours is not None else range(24))
        day = after.date()
        for _ in range(366 * 8):
            if self._day_ok(day):
                for h in hrs:
                    for m in mins:
                        for s in secs:
                            t = datetime(day.year, day.month, day.day, h, m, s,
                                         tzinfo=timezone.utc)
                            if t > after:
                                return t
            day += timedelta(days=1)
        return None
