"""Org limits: API request accounting in a rolling 24-hour window, and the ``/limits`` body.

Allocation (*Salesforce Developer Limits and Allocations Quick Reference* [LQR], "API Request
Limits and Allocations", *Total API Request Allocations*,
https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html;
table read from the v260 page, code index id 52598603873): Developer Edition 15,000;
Enterprise / Professional (with API access) and Unlimited / Performance
"100,000 + (number of licenses x calls per license type) + purchased API Call Add-Ons",
with the calls per licence type in :data:`CALLS_PER_LICENSE`; a *Full* sandbox 5,000,000
("applies only to Full Sandboxes that aren't created from a template"). No other sandbox
type has a documented figure, so those need an explicit ``sandbox_allocation``. The window
is the preceding 24 hours of SimClock time, with no midnight reset ([LQR] *Example API
Usage Metering Calculations*). Over the limit: HTTP 403 ``REQUEST_LIMIT_EXCEEDED``,
"TotalRequests Limit exceeded." (the message comes from captured responses). Deviation:
paid production orgs may exceed the allocation "by a certain amount" ([LQR] *What Happens
If You Reach or Exceed Your API Request Limit*); the simulator refuses the first request
over it, which is exact for Developer Edition and sandboxes and stricter otherwise.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from .clock import SimClock
from .errors import RequestLimitExceeded, UsageError

__all__ = ["CALLS_PER_LICENSE", "EDITIONS", "FULL_SANDBOX_ALLOCATION", "SANDBOX_TYPES",
           "WINDOW_SECONDS", "Limits", "RollingCounter", "api_allocation",
           "async_licence_count"]

WINDOW_SECONDS = 24 * 3600
EDITIONS = ("developer", "professional", "enterprise", "unlimited", "performance", "sandbox")
SANDBOX_TYPES = ("full", "partial_copy", "developer_pro", "developer")
"""Salesforce's sandbox types. [LQR] documents an allocation for ``full`` only."""
FULL_SANDBOX_ALLOCATION = 5_000_000

CALLS_PER_LICENSE: dict[str, tuple[int, int]] = {
    # licence type: (Enterprise / Professional, Unlimited / Performance), calls per licence
    # per 24 h, from [LQR] Total API Request Allocations. "Lightning Platform Starter" and
    # "Plus" are "per member". The External Identity types are left out: their allocation
    # is a total per tier (70,000 / 750,000 / 4,000,000), not a figure per licence.
    "Salesforce": (1_000, 5_000),
    "Salesforce Platform": (1_000, 5_000),
    "Lightning Platform - One App": (200, 200),
    "Customer Community": (0, 0),
    "Customer Community Login": (0, 0),
    "Customer Community Plus": (200, 200),
    "Customer Community Plus Login": (10, 10),
    "Partner Community": (200, 200),
    "Partner Community Login": (10, 10),
    "Lightning Platform Starter": (200, 200),
    "Lightning Platform Plus": (1_000, 5_000),
}
_ASYNC_LICENCE_TYPES = ("Salesforce", "Salesforce Platform")
"""The types of :data:`CALLS_PER_LICENSE` that [LQR] (*Lightning Platform Apex Limits*,
footnote 1) counts for DailyAsyncApexExecutions ("full Salesforce and Salesforce Platform
user licenses, App Subscription user licenses, Chatter Only users, Identity users, and
Company Communities users")."""


def _count(name: str, n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise UsageError(f"{name} must be a whole number >= 0, got {n!r}")
    return n


def _licence_table(licenses: int | None,
                   license_types: Mapping[str, int] | None) -> dict[str, int]:
    """``{licence type: count}``: ``licenses`` is the number of *Salesforce* (full)
    licences; ``license_types`` may add other types (or give "Salesforce" itself)."""
    table: dict[str, int] = {}
    by_lower = {k.lower(): k for k in CALLS_PER_LICENSE}
    for raw, n in (license_types or {}).items():
        name = by_lower.get(str(raw).strip().lower())
        if name is None:
            raise UsageError(
                f"unknown licence type {raw!r} (expected one of "
                f"{', '.join(CALLS_PER_LICENSE)}; External Identity allocations are per "
                "tier, not per licence, and are not modelled)")
        if name in table:
            raise UsageError(f"licence type {name!r} given twice")
        table[name] = _count(f"license_types[{name!r}]", n)
    if licenses is not None:
        _count("licenses", licenses)
        if "Salesforce" in table and table["Salesforce"] != licenses:
            raise UsageError(f"licenses={licenses} and license_types['Salesforce']="
                             f"{table['Salesforce']} disagree (give one of them)")
        table["Salesforce"] = licenses
    table.setdefault("Salesforce", 0)
    return table


def api_allocation(edition: str, licenses: int | None,
                   license_types: Mapping[str, int] | None = None, *,
                   sandbox_type: str = "full",
                   sandbox_allocation: int | None = None) -> int:
    """DailyApiRequests allocation for an edition and its licences ([LQR] table).

    ``licenses`` counts Salesforce (full) licences; ``license_types`` adds other licence
    types, e.g. ``{"Salesforce Platform": 40}``. ``edition="sandbox"`` is a Full sandbox
    unless ``sandbox_type`` says otherwise; the other sandbox types have no documented
    allocation, so they need ``sandbox_allocation`` (the value from the org's own
    ``/limits``): a caller's assumption, never a simulator default.
    """
    e = edition.lower()
    if e not in EDITIONS:
        raise UsageError(f"unknown edition {edition!r} (expected one of {', '.join(EDITIONS)})")
    table = _licence_table(licenses, license_types)
    if sandbox_allocation is not None:
        _count("sandbox_allocation", sandbox_allocation)
        if e != "sandbox":
            raise UsageError("sandbox_allocation applies to edition='sandbox' only")
    if sandbox_type not in SANDBOX_TYPES:
        raise UsageError(f"unknown sandbox type {sandbox_type!r} (expected one of "
                         f"{', '.join(SANDBOX_TYPES)})")
    if sandbox_type != "full" and e != "sandbox":
        raise UsageError("sandbox_type applies to edition='sandbox' only")
    if e == "developer":
        return 15_000
    if e == "sandbox":
        if sandbox_allocation is not None:
            return sandbox_allocation
        if sandbox_type == "full":
            return FULL_SANDBOX_ALLOCATION
        raise UsageError(
            f"no documented API allocation for a {sandbox_type} sandbox (the Limits Quick "
            "Reference lists Full sandboxes only): give sandbox_allocation=N from the "
            "org's /limits")
    column = 1 if e in ("unlimited", "performance") else 0
    return 100_000 + sum(CALLS_PER_LICENSE[t][column] * n for t, n in table.items())


def async_licence_count(licenses: int | None,
                        license_types: Mapping[str, int] | None = None) -> int:
    """The licences DailyAsyncApexExecutions counts (200 per licence, at least 250,000):
    the Salesforce and Salesforce Platform licences of the table."""
    table = _licence_table(licenses, license_types)
    return sum(table.get(t, 0) for t in _ASYNC_LICENCE_TYPES)


class RollingCounter:
    """Usage over a sliding window of SimClock time, kept in one-second buckets.

    Charging is O(1); expiry drops whole buckets from the left, so millions of charges cost
    little memory (at most one bucket per simulated second in the window).
    """

    def __init__(self, clock: SimClock, maximum: int, window: float = WINDOW_SECONDS) -> None:
        self.clock = clock
        self.maximum = maximum
        self.window = window
        self._buckets: deque[list[float]] = deque()  # [second, count]
        self._total = 0

    def _expire(self) -> None:
        horizon = self.clock.time() - self.window
        b = self._buckets
        while b and b[0][0] <= horizon:
            self._total -= int(b.popleft()[1])

    def used(self) -> int:
        """Usage within the window ending now."""
        self._expire()
        return self._total

    def remaining(self) -> int:
        """Allocation left in the window (never negative)."""
        return max(0, self.maximum - self.used())

    def would_exceed(self, n: int = 1) -> bool:
        """True when charging ``n`` more would go over the maximum."""
        return self.used() + n > self.maximum

    def add(self, n: int = 1) -> None:
        """Record ``n`` units of usage at the current time (no check)."""
        sec = float(int(self.clock.time()))
        b = self._buckets
        if b and b[-1][0] == sec:
            b[-1][1] += n
        else:
            b.append([sec, n])
        self._total += n

    def set_used(self, used: int) -> None:
        """Forget the history and record ``used`` units now (tests: "120 calls left")."""
        if used < 0:
            raise UsageError(f"usage must be >= 0, got {used}")
        self._buckets.clear()
        self._total = 0
        if used:
            self.add(used)

    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot, for org files."""
        return {"maximum": self.maximum, "buckets": [list(b) for b in self._buckets]}

    def restore(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state`."""
        self.maximum = int(state["maximum"])
        self._buckets = deque([float(s), int(c)] for s, c in state["buckets"])
        self._total = sum(int(c) for _, c in self._buckets)


class Limits:
    """All org limits the simulator tracks, on the org's SimClock: the one public model.

    Every method is atomic under the model's own lock (the threaded HTTPS server, the async
    engine and the REST handlers charge it concurrently), so callers never touch the
    counters directly: a check and its charge happen in one step.
    """

    def __init__(self, clock: SimClock, edition: str = "enterprise", licenses: int | None = None,
                 license_types: Mapping[str, int] | None = None, *,
                 sandbox_type: str = "full", sandbox_allocation: int | None = None) -> None:
        api = api_allocation(edition, licenses, license_types, sandbox_type=sandbox_type,
                             sandbox_allocation=sandbox_allocation)
        table = _licence_table(licenses, license_types)
        self.edition = edition.lower()
        self.licenses = table["Salesforce"]
        """Salesforce (full) licences."""
        self.license_types = {t: n for t, n in table.items() if n or t == "Salesforce"}
        """Every licence type with its count (Salesforce included)."""
        self.sandbox_type = sandbox_type
        self.sandbox_allocation = sandbox_allocation
        self._lock = threading.RLock()
        self._api = RollingCounter(clock, api)
        self._api_total = 0
        self._async_apex = RollingCounter(
            clock, max(250_000, 200 * async_licence_count(licenses, license_types)))
        self._bulk_batches = RollingCounter(clock, 15_000)
        self._bulk_v2_query_jobs = RollingCounter(clock, 10_000)

    def charge_api(self, n: int = 1) -> None:
        """Count ``n`` inbound API requests, or raise REQUEST_LIMIT_EXCEEDED (403)."""
        with self._lock:
            if self._api.would_exceed(n):
                raise RequestLimitExceeded("TotalRequests Limit exceeded.")
            self._api.add(n)
            self._api_total += n

    def api_requests_total(self) -> int:
        """Every API request counted since the org was made or opened, never expiring: the
        difference of two readings is what happened in between (a replay's own requests),
        however long it took (the 24-hour window forgets)."""
        with self._lock:
            return self._api_total

    def api_used(self) -> int:
        """API requests counted in the current 24-hour window."""
        with self._lock:
            return self._api.used()

    def api_max(self) -> int:
        """The org's DailyApiRequests allocation."""
        return self._api.maximum

    def set_api_remaining(self, remaining: int) -> None:
        """Make the window hold exactly ``max - remaining`` calls, recorded now."""
        with self._lock:
            if remaining < 0 or remaining > self._api.maximum:
                raise UsageError(
                    f"remaining must be between 0 and {self._api.maximum}, got {remaining}")
            self._api.set_used(self._api.maximum - remaining)

    def charge_async_execution(self) -> bool:
        """Count one async Apex execution; False (nothing counted) when the daily
        DailyAsyncApexExecutions allocation is used up."""
        return self._take_one(self._async_apex)

    def async_executions_used(self) -> int:
        """Async Apex executions counted in the current 24-hour window."""
        with self._lock:
            return self._async_apex.used()

    def charge_bulk_batches(self, n: int) -> None:
        """Count ``n`` Bulk API batches (a Bulk 2.0 ingest job counts one per chunk of
        records; nothing refuses the job when the count is over: Salesforce documents
        the allocation, the simulator reports it in ``/limits``)."""
        with self._lock:
            self._bulk_batches.add(n)

    def charge_bulk_query_job(self) -> bool:
        """Count one Bulk API 2.0 query job; False (nothing counted) when the daily
        DailyBulkV2QueryJobs allocation is used up."""
        return self._take_one(self._bulk_v2_query_jobs)

    def _take_one(self, counter: RollingCounter) -> bool:
        """Count one unit on ``counter`` if the allocation has room (check and charge in
        one step under the lock); False, with nothing counted, when it has none."""
        with self._lock:
            if counter.would_exceed(1):
                return False
            counter.add(1)
            return True

    def limit_info(self) -> str:
        """The ``Sforce-Limit-Info`` header value: ``api-usage=USED/MAX``."""
        with self._lock:
            return f"api-usage={self._api.used()}/{self._api.maximum}"

    def body(self) -> dict[str, dict[str, int]]:
        """The ``GET /services/data/vXX.X/limits`` body."""
        def entry(c: RollingCounter) -> dict[str, int]:
            return {"Max": c.maximum, "Remaining": c.remaining()}

        def fixed(m: int) -> dict[str, int]:
            return {"Max": m, "Remaining": m}

        with self._lock:
            return self._body(entry, fixed)

    def _body(self, entry: Any, fixed: Any) -> dict[str, dict[str, int]]:
        return {
            "ConcurrentAsyncGetReportInstances": fixed(200),
            "ConcurrentSyncReportRuns": fixed(20),
            "DailyApiRequests": entry(self._api),
            "DailyAsyncApexExecutions": entry(self._async_apex),
            "DailyAsyncApexTests": fixed(500),
            "DailyBulkApiBatches": entry(self._bulk_batches),
            "DailyBulkV2QueryFileStorageMB": fixed(976_562),
            "DailyBulkV2QueryJobs": entry(self._bulk_v2_query_jobs),
            "DailyStreamingApiEvents": fixed(1_000_000),
            "DataStorageMB": fixed(5_120),
            "FileStorageMB": fixed(5_120),
            "HourlyTimeBasedWorkflow": fixed(1_000),
            "MassEmail": fixed(5_000),
            "SingleEmail": fixed(5_000),
        }

    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot, for org files."""
        with self._lock:
            return {
                "edition": self.edition, "licenses": self.licenses,
                "license_types": dict(self.license_types),
                "sandbox_type": self.sandbox_type,
                "sandbox_allocation": self.sandbox_allocation,
                "api": self._api.state(), "async_apex": self._async_apex.state(),
                "bulk_batches": self._bulk_batches.state(),
                "bulk_v2_query_jobs": self._bulk_v2_query_jobs.state(),
            }

    @classmethod
    def from_state(cls, clock: SimClock, state: dict[str, Any]) -> Limits:
        """A model rebuilt from :meth:`state` (org files; older files lack the licence
        types and sandbox fields, which then take their defaults)."""
        lim = cls(clock, state["edition"], state["licenses"],
                  state.get("license_types"),
                  sandbox_type=state.get("sandbox_type") or "full",
                  sandbox_allocation=state.get("sandbox_allocation"))
        lim.restore(state)
        return lim

    def restore(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state`."""
        with self._lock:
            self._api.restore(state["api"])
            self._async_apex.restore(state["async_apex"])
            self._bulk_batches.restore(state["bulk_batches"])
            self._bulk_v2_query_jobs.restore(state["bulk_v2_query_jobs"])
