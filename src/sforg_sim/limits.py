"""Org limits: API request accounting in a rolling 24-hour window, and the ``/limits`` body.

Allocation per edition (Salesforce Help 000386972): Enterprise/Professional 100,000 + 1,000
per licence; Unlimited/Performance 100,000 + 5,000 per licence; Developer Edition 15,000;
sandbox 5,000,000. The window is the preceding 24 hours of SimClock time, with no midnight
reset (Help 000386402). Over the limit: HTTP 403 ``REQUEST_LIMIT_EXCEEDED``,
"TotalRequests Limit exceeded.". Deviation: real orgs enforce the limit with some tolerance
(requests may briefly exceed it); the simulator refuses the first request over it, which is
the stricter and therefore safer behaviour for tests.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from .clock import SimClock
from .errors import RequestLimitExceeded, UsageError

__all__ = ["EDITIONS", "WINDOW_SECONDS", "Limits", "RollingCounter", "api_allocation"]

WINDOW_SECONDS = 24 * 3600
EDITIONS = ("developer", "professional", "enterprise", "unlimited", "performance", "sandbox")


def api_allocation(edition: str, licenses: int) -> int:
    """DailyApiRequests allocation for an edition and licence count."""
    e = edition.lower()
    if e not in EDITIONS:
        raise UsageError(f"unknown edition {edition!r} (expected one of {', '.join(EDITIONS)})")
    if isinstance(licenses, bool) or not isinstance(licenses, int) or licenses < 0:
        raise UsageError(f"licenses must be a whole number >= 0, got {licenses!r}")
    if e == "developer":
        return 15_000
    if e == "sandbox":
        return 5_000_000
    per = 5_000 if e in ("unlimited", "performance") else 1_000
    return 100_000 + per * licenses


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

    def __init__(self, clock: SimClock, edition: str = "enterprise", licenses: int = 10) -> None:
        self.edition = edition.lower()
        self.licenses = licenses
        self._lock = threading.RLock()
        api = api_allocation(edition, licenses)
        self._api = RollingCounter(clock, api)
        self._async_apex = RollingCounter(clock, max(250_000, 200 * licenses))
        self._bulk_batches = RollingCounter(clock, 15_000)
        self._bulk_v2_query_jobs = RollingCounter(clock, 10_000)

    def charge_api(self, n: int = 1) -> None:
        """Count ``n`` inbound API requests, or raise REQUEST_LIMIT_EXCEEDED (403)."""
        with self._lock:
            if self._api.would_exceed(n):
                raise RequestLimitExceeded("TotalRequests Limit exceeded.")
            self._api.add(n)

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
        with self._lock:
            if self._async_apex.would_exceed(1):
                return False
            self._async_apex.add(1)
            return True

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
        with self._lock:
            if self._bulk_v2_query_jobs.would_exceed(1):
                return False
            self._bulk_v2_query_jobs.add(1)
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
                "api": self._api.state(), "async_apex": self._async_apex.state(),
                "bulk_batches": self._bulk_batches.state(),
                "bulk_v2_query_jobs": self._bulk_v2_query_jobs.state(),
            }

    def restore(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state`."""
        with self._lock:
            self._api.restore(state["api"])
            self._async_apex.restore(state["async_apex"])
            self._bulk_batches.restore(state["bulk_batches"])
            self._bulk_v2_query_jobs.restore(state["bulk_v2_query_jobs"])
