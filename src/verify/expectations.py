"""Parse ``--expect VALUE=COUNT`` and evaluate counts against expectations.

``Qualification=2000000``, ``Qualification=2,000,000``, ``Qualification=2_000_000`` and
``"Needs Analysis=0"`` are accepted. The value is everything before the LAST ``=`` (picklist
values may contain ``=``, counts never do); ``(null)`` names records whose field is empty.
Values are matched case-insensitively, because SOQL compares and groups text
case-insensitively: a GROUP BY row ``qualification`` and ``Qualification`` are one group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["NULL_LABEL", "Expectation", "ExpectationError", "Row", "evaluate",
           "parse_count", "parse_expectations"]

NULL_LABEL = "(null)"
"""How a NULL field value is written in ``--expect`` and shown in reports."""

# Thousands separators must be regular (1,234,567 not 12,34,567): a typo in the figure a
# pipeline relies on should be refused, not silently read as another number.
_COUNT = re.compile(r"^(\d+|\d{1,3}(,\d{3})+|\d{1,3}(_\d{3})+|\d{1,3}( \d{3})+)$")


class ExpectationError(ValueError):
    """A ``--expect`` argument that is not ``VALUE=COUNT`` (exit code 2)."""


@dataclass(frozen=True)
class Expectation:
    """One expected count: ``value`` (as written) and ``count``."""

    value: str
    count: int

    @property
    def key(self) -> str:
        """The case-folded value used for matching."""
        return self.value.casefold()


def parse_count(text: str) -> int:
    """A non-negative count with optional regular thousands separators (``,`` ``_`` space)."""
    t = text.strip()
    if not _COUNT.match(t):
        raise ExpectationError(f"count {text!r} is not a whole number >= 0 "
                               "(thousands separators allowed: 2,000,000)")
    return int(re.sub(r"[,_ ]", "", t))


def parse_expectations(args: Iterable[str]) -> list[Expectation]:
    """Parse every ``VALUE=COUNT``; raises :class:`ExpectationError` on the first bad one."""
    out: list[Expectation] = []
    seen: dict[str, str] = {}
    for arg in args:
        value, sep, count = arg.rpartition("=")
        value = value.strip()
        if not sep or not value:
            raise ExpectationError(f"bad --expect {arg!r}: expected VALUE=COUNT, "
                                   "e.g. Qualification=2000000")
        try:
            n = parse_count(count)
        except ExpectationError as e:
            raise ExpectationError(f"bad --expect {arg!r}: {e}") from None
        if value.casefold() in seen:
            raise ExpectationError(f"bad --expect {arg!r}: {value!r} is already expected "
                                   f"({seen[value.casefold()]!r})")
        seen[value.casefold()] = arg
        out.append(Expectation(value, n))
    return out


@dataclass
class Row:
    """One line of the result table: a value with expected / actual / difference.

    ``expected`` is None for a value nobody asked about (shown for information; in strict
    mode it is expected to be 0 instead). ``difference`` is actual - expected.
    """

    value: str
    expected: int | None
    actual: int
    ok: bool

    @property
    def difference(self) -> int | None:
        """actual - expected, or None when nothing was expected."""
        return None if self.expected is None else self.actual - self.expected

    def to_json(self) -> dict[str, Any]:
        """Stable JSON form: value, expected, actual, difference, ok."""
        d = asdict(self)
        return {"value": d["value"], "expected": d["expected"], "actual": d["actual"],
                "difference": self.difference, "ok": d["ok"]}


def display_value(value: Any) -> str:
    """A group value as shown and matched: ``(null)`` for None, else its text."""
    return NULL_LABEL if value is None else str(value)


def evaluate(expectations: Iterable[Expectation], counts: Mapping[str, int],
             strict: bool = False) -> list[Row]:
    """Rows for every expected value (in the order given), then every other value seen.

    An expected value absent from ``counts`` has actual 0. A value seen but not expected
    passes unless ``strict``, where it must be 0 (so an unexpected stage like ``Closed
    Lost: 5`` fails the check).
    """
    by_key: dict[str, tuple[str, int]] = {}
    for value, n in counts.items():
        k = value.casefold()
        name, prev = by_key.get(k, (value, 0))
        by_key[k] = (name, prev + n)
    rows: list[Row] = []
    used: set[str] = set()
    for e in expectations:
        name, actual = by_key.get(e.key, (e.value, 0))
        used.add(e.key)
        rows.append(Row(name, e.count, actual, actual == e.count))
    for k in sorted(set(by_key) - used):
        name, actual = by_key[k]
        rows.append(Row(name, 0 if strict else None, actual, not strict or actual == 0))
    return rows
