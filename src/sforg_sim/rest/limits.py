"""Versions, the resource directory, ``/limits``, and the concurrent-request limit.

``GET /services/data/`` lists the API versions the simulator accepts: v50.0 (Winter '21)
to :data:`MAX_VERSION`. It is not charged and carries no ``Sforce-Limit-Info`` (REST
guide, "API usage" headers). Deviation: real orgs list older versions too (back to v31.0);
the simulator refuses anything below v50.0 with 404 NOT_FOUND, as real orgs do for
versions they do not serve.

**Two REQUEST_LIMIT_EXCEEDED messages.** Both limits answer HTTP 403 with errorCode
``REQUEST_LIMIT_EXCEEDED``; only the message tells them apart, and a client must: the
daily allocation is gone for hours (stop), the concurrent one clears in seconds (retry).

- :data:`TOTAL_REQUESTS_MESSAGE` ``"TotalRequests Limit exceeded."``: the rolling 24-hour
  allocation (raised by ``limits.py``; captured responses, see docs/fidelity.md A9).
- :data:`CONCURRENT_REQUESTS_MESSAGE`
  ``"ConcurrentRequests (Concurrent API Requests) Limit exceeded."``: too many
  long-running requests at once. Source: *Salesforce Help* 000389067 ("Salesforce limits
  the number of Long Running API requests in your org ... 25 long running API calls over
  20 seconds", full error message text 'ConcurrentRequests (Concurrent API Requests)
  Limit exceeded'), https://help.salesforce.com/s/articleView?id=000389067&type=1, and a
  captured SOAP fault with the same text and the trailing period. Another message seen
  in the wild, "ConcurrentPerOrgLongTxn Limit exceeded" (a vendor's integration notes),
  is not used.

The concurrent limit (:class:`LongRunningRequests`): "concurrent inbound requests (calls)
with a duration of 20 seconds or longer": 5 for Developer Edition and trial orgs, 25 for
production orgs and sandboxes; past it "the API returns a REQUEST_LIMIT_EXCEEDED exception
code. Any new concurrent requests aren't processed until there are fewer requests than the
allowed limit" (*Limits Quick Reference*, "API Request Limits and Allocations",
Concurrent API Request Limits,
https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html).
Model: the HTTPS server counts each request from its arrival until its response is
ready, on the wall clock (requests running on the simulated clock take no wall time; a
handler that knows a request would take long in simulated time may report it with
:meth:`LongRunningRequests.report`). A request arriving while ``limit`` requests have
each been running for 20 s or more is refused at once (not queued, not charged).
In normal use this cannot fire: it takes 25 (Developer Edition: 5) requests all still
unanswered after 20 s of wall time. ``mock_org`` does not use it (one request at a time).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..errors import RequestLimitExceeded
from .messages import Call, Response, json_response

__all__ = ["CONCURRENT_REQUESTS_MESSAGE", "LONG_RUNNING_SECONDS", "MAX_VERSION",
           "MIN_VERSION", "TOTAL_REQUESTS_MESSAGE", "LongRunningRequests",
           "concurrent_limit", "limits", "resources", "supported", "versions"]

TOTAL_REQUESTS_MESSAGE = "TotalRequests Limit exceeded."
"""REQUEST_LIMIT_EXCEEDED message for the rolling 24-hour API allocation (stop)."""
CONCURRENT_REQUESTS_MESSAGE = "ConcurrentRequests (Concurrent API Requests) Limit exceeded."
"""REQUEST_LIMIT_EXCEEDED message for too many concurrent long-running requests (retry)."""
LONG_RUNNING_SECONDS = 20.0
"""A request counts as long-running once it has run this long (20 s, [LQR])."""


def concurrent_limit(edition: str) -> int:
    """Concurrent long-running requests allowed: 5 for Developer Edition, else 25."""
    return 5 if edition == "developer" else 25


class LongRunningRequests:
    """Requests in flight, and the refusal when too many of them are long-running.

    ``clock`` is wall time (``time.monotonic``) by default; tests pass a fake one.
    """

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic,
                 threshold: float = LONG_RUNNING_SECONDS) -> None:
        self.limit = limit
        self.threshold = threshold
        self._clock = clock
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}
        self._next = 0

    def long_running(self) -> int:
        """How many requests in flight have run for ``threshold`` seconds or more."""
        now = self._clock()
        with self._lock:
            return sum(1 for t in self._started.values() if now - t >= self.threshold)

    def admit(self) -> int:
        """Register an arriving request; its ticket for :meth:`done`. Raises
        REQUEST_LIMIT_EXCEEDED (:data:`CONCURRENT_REQUESTS_MESSAGE`) when ``limit``
        requests in flight are already long-running."""
        if self.long_running() >= self.limit:
            raise RequestLimitExceeded(CONCURRENT_REQUESTS_MESSAGE)
        with self._lock:
            self._next += 1
            self._started[self._next] = self._clock()
            return self._next

    def report(self, ticket: int, seconds: float) -> None:
        """A handler reports that request ``ticket`` has taken ``seconds`` more (e.g. of
        simulated time): it counts as started that much earlier."""
        with self._lock:
            if ticket in self._started:
                self._started[ticket] -= max(0.0, seconds)

    def done(self, ticket: int) -> None:
        """The request ``ticket`` has its response."""
        with self._lock:
            self._started.pop(ticket, None)

    def __len__(self) -> int:
        return len(self._started)

MIN_VERSION = 50
MAX_VERSION = 64
"""v64.0 is Summer '25; later versions answer 404 like a real org not yet upgraded."""

_SEASONS = ("Winter", "Spring", "Summer")


def supported(version: str) -> bool:
    """True for ``50.0`` .. ``64.0`` (major versions only, as real orgs publish)."""
    major, _, minor = version.partition(".")
    return major.isdigit() and minor == "0" and MIN_VERSION <= int(major) <= MAX_VERSION


def versions(call: Call) -> Response:
    """``GET /services/data/``: label, url and version of each accepted version."""
    out = []
    for v in range(MIN_VERSION, MAX_VERSION + 1):
        i = v - MIN_VERSION  # v50.0 is Winter '21; three releases a year
        label = f"{_SEASONS[i % 3]} '{21 + i // 3}"
        out.append({"label": label, "url": f"/services/data/v{v}.0", "version": f"{v}.0"})
    return json_response(200, out)


def resources(call: Call) -> Response:
    """``GET /services/data/vXX.X``: the resources available in this version."""
    names = ("composite", "jobs", "limits", "query", "queryAll", "sobjects", "tooling")
    return json_response(200, {n: f"{call.base}/{n}" for n in names})


def limits(call: Call) -> Response:
    """``GET /services/data/vXX.X/limits``: the org's limits, counting this request."""
    return json_response(200, call.org.limits())
