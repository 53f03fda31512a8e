"""Relative date literals (TODAY, LAST_N_DAYS:n, THIS_MONTH ...) as date ranges.

Each literal is a half-open range of days ``[start, end)`` relative to the org's SimClock,
never the wall clock (REF66 "Date Formats and Date Literals"; ``docs/research/soql.md``
section 6). ``=`` means "inside the range"; ``<``/``>`` compare with its edges (the
compiler does that).

Deviations (documented for the fidelity table):
- the running user's time zone and locale are UTC and en_US: days start at 00:00 UTC and
  weeks start on Sunday;
- the fiscal year is the calendar year (Salesforce's default fiscal year setting starts in
  January), so every ``*_FISCAL_*`` literal equals its calendar twin;
- ``LAST_N_DAYS:n`` and ``LAST_90_DAYS`` end "at the current second" on dateTime fields
  (``end_now``); on date fields they include today.
"""

from __future__ import annotations

from datetime import date, timedelta

__all__ = ["DateRange", "date_range", "is_date_literal", "takes_n"]

DateRange = tuple[date, date, bool]
"""``(first day, day after the last, ends at the current second)``."""

_FIXED = {
    "YESTERDAY", "TODAY", "TOMORROW", "LAST_WEEK", "THIS_WEEK", "NEXT_WEEK", "LAST_MONTH",
    "THIS_MONTH", "NEXT_MONTH", "LAST_90_DAYS", "NEXT_90_DAYS", "THIS_QUARTER",
    "LAST_QUARTER", "NEXT_QUARTER", "THIS_YEAR", "LAST_YEAR", "NEXT_YEAR",
    "THIS_FISCAL_QUARTER", "LAST_FISCAL_QUARTER", "NEXT_FISCAL_QUARTER", "THIS_FISCAL_YEAR",
    "LAST_FISCAL_YEAR", "NEXT_FISCAL_YEAR",
}
_WITH_N = {
    "LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "NEXT_N_WEEKS", "LAST_N_WEEKS",
    "N_WEEKS_AGO", "NEXT_N_MONTHS", "LAST_N_MONTHS", "N_MONTHS_AGO", "NEXT_N_QUARTERS",
    "LAST_N_QUARTERS", "N_QUARTERS_AGO", "NEXT_N_YEARS", "LAST_N_YEARS", "N_YEARS_AGO",
    "NEXT_N_FISCAL_QUARTERS", "LAST_N_FISCAL_QUARTERS", "N_FISCAL_QUARTERS_AGO",
    "NEXT_N_FISCAL_YEARS", "LAST_N_FISCAL_YEARS", "N_FISCAL_YEARS_AGO",
}


def is_date_literal(name: str) -> bool:
    """True for a known literal name (upper case), with or without ``:n``."""
    return name in _FIXED or name in _WITH_N


def takes_n(name: str) -> bool:
    """True for the ``NAME:n`` forms."""
    return name in _WITH_N


def _month_start(d: date, k: int = 0) -> date:
    """First day of the month ``k`` months after ``d``'s month."""
    m = d.year * 12 + (d.month - 1) + k
    return date(m // 12, m % 12 + 1, 1)


def _quarter_start(d: date, k: int = 0) -> date:
    return _month_start(date(d.year, (d.month - 1) // 3 * 3 + 1, 1), 3 * k)


def _year_start(d: date, k: int = 0) -> date:
    return date(d.year + k, 1, 1)


def date_range(name: str, n: int | None, today: date) -> DateRange:
    """The range of literal ``name`` (upper case) with argument ``n`` on day ``today``.

    Raises OverflowError/ValueError when the range leaves the representable years; the
    compiler turns that into a Salesforce error.
    """
    name = name.replace("_FISCAL", "")
    k = n or 0
    day = timedelta(days=1)
    week = today - timedelta(days=(today.weekday() + 1) % 7)  # Sunday
    simple: dict[str, tuple[date, date]] = {
        "YESTERDAY": (today - day, today),
        "TODAY": (today, today + day),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_WEEK": (week - 7 * day, week),
        "THIS_WEEK": (week, week + 7 * day),
        "NEXT_WEEK": (week + 7 * day, week + 14 * day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "NEXT_N_DAYS": (today + day, today + (k + 1) * day),
        "N_DAYS_AGO": (today - k * day, today - (k - 1) * day),
        "NEXT_N_WEEKS": (week + 7 * day, week + 7 * (k + 1) * day),
        "LAST_N_WEEKS": (week - 7 * k * day, week),
        "N_WEEKS_AGO": (week - 7 * k * day, week - 7 * (k - 1) * day),
    }
    if name in simple:
        lo, hi = simple[name]
        return lo, hi, False
    if name == "LAST_90_DAYS":
        return today - 90 * day, today + day, True
    if name == "LAST_N_DAYS":
        return today - k * day, today + day, True
    for unit, start in (("MONTH", _month_start), ("QUARTER", _quarter_start),
                        ("YEAR", _year_start)):
        if not name.endswith((unit, unit + "S", unit + "S_AGO")):
            continue
        rel = {"THIS_": (0, 1), "LAST_": (-1, 0), "NEXT_": (1, 2),
               "NEXT_N_": (1, k + 1), "LAST_N_": (-k, 0), "N_": (-k, -k + 1)}
        for prefix in ("NEXT_N_", "LAST_N_", "N_", "THIS_", "LAST_", "NEXT_"):
            if name.startswith(prefix):
                a, b = rel[prefix]
                return start(today, a), start(today, b), False
    raise ValueError(f"unknown date literal {name}")
