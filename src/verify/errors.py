"""What went wrong talking to an org, and retrying what is worth retrying.

simple-salesforce raises one exception class per HTTP status (research notes §0) with the
Salesforce error body in ``.content``; requests raises its own for the network. This module
turns both into a :class:`Failure` (error code, one-line message, transient or not), and
:func:`with_retry` retries the transient ones with exponential backoff:

- retried: HTTP 502/503/504, ``UNABLE_TO_LOCK_ROW``, a connection reset or aborted mid-way,
  a read timeout, a response that did not arrive whole within ``--timeout``;
- retried with a longer backoff: ``REQUEST_LIMIT_EXCEEDED`` for *concurrent long-running
  requests* (a message naming the concurrent limit, e.g. "ConcurrentPerOrgLongTxn Limit
  exceeded."). *Salesforce Developer Limits and Allocations Quick Reference*, "API Request
  Limits and Allocations", *Concurrent API Request Limits*
  (https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html):
  past 25 requests of 20 s or longer (5 in Developer Edition) "the API returns a
  REQUEST_LIMIT_EXCEEDED exception code. Any new concurrent requests aren't processed
  until there are fewer requests than the allowed limit": it clears by itself, so waiting
  helps. The guide gives no message text; the texts come from captured responses
  ("ConcurrentPerOrgLongTxn Limit exceeded", "ConcurrentRequests (Concurrent API
  Requests) Limit exceeded", Help 000389067), so any message naming "Concurrent" counts;
- never retried: ``REQUEST_LIMIT_EXCEEDED`` for the daily allocation ("TotalRequests Limit
  exceeded.") or with any other message (every retry would spend a call the org no
  longer has: we stop and say how many remain), 401, other 4xx, a refused connection or an
  unknown host (the org is not there; retrying only delays the exit code), TLS errors,
  the run's ``--deadline`` passing (:class:`DeadlineExceeded`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceOperationError,
)

from .redact import redact

__all__ = ["CheckAborted", "DeadlineExceeded", "Failure", "QueryTimeout",
           "ResponseDeadlineExceeded", "RetryPolicy", "VerifyError", "classify",
           "is_concurrent_limit", "one_line", "with_retry"]

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({502, 503, 504})
TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
REQUEST_LIMIT = "REQUEST_LIMIT_EXCEEDED"


def is_concurrent_limit(failure: Failure) -> bool:
    """REQUEST_LIMIT_EXCEEDED for concurrent long-running requests (retry later), not
    the daily allocation ("TotalRequests Limit exceeded.": stop)."""
    return failure.code == REQUEST_LIMIT and "concurrent" in failure.message.lower() \
        and "totalrequests" not in failure.message.lower()


def one_line(text: str, limit: int = 400) -> str:
    """Redact secrets, collapse whitespace (MALFORMED_QUERY messages span lines) and cap
    the length (after redacting, so a cut cannot leave half a token behind)."""
    s = re.sub(r"\s+", " ", redact(str(text))).strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"


class VerifyError(Exception):
    """verify-org could not check (exit code 2). ``str()`` is the one line to print."""

    def __init__(self, message: str, code: str = "ERROR") -> None:
        super().__init__(one_line(message))
        self.code = code


class QueryTimeout(VerifyError):
    """The org answered QUERY_TIMEOUT: the caller may fall back to partitions."""


class CheckAborted(VerifyError):
    """Stopped on purpose mid-check (REQUEST_LIMIT_EXCEEDED): never retried."""


class DeadlineExceeded(VerifyError):
    """The whole run took longer than ``--deadline``: stopped, never retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "DEADLINE")


class ResponseDeadlineExceeded(requests.exceptions.Timeout):
    """One request did not complete (connected, answered, whole body received) within its
    time limit, ``--timeout``. A :class:`requests.exceptions.Timeout`, so a caller that
    handles timeouts handles it; :func:`classify` makes it a transient ``TIMEOUT``."""

    def __init__(self, seconds: float, *args: Any, **kwargs: Any) -> None:
        super().__init__(f"no complete response within {seconds:g}s", *args, **kwargs)
        self.seconds = seconds


@dataclass(frozen=True)
class Failure:
    """A classified failure: Salesforce ``code`` (or a network kind), message, retryable."""

    code: str
    message: str
    transient: bool
    status: int | None = None


def _error_body(content: Any) -> tuple[str | None, str]:
    """(errorCode, message) from a REST error body: a JSON list, a dict or text."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return first.get("errorCode") or first.get("statusCode"), str(first.get("message", ""))
    if isinstance(content, dict):
        return (content.get("errorCode") or content.get("error"),
                str(content.get("message") or content.get("error_description") or content))
    return None, str(content or "")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception with its causes and contexts, and urllib3 ``reason`` attributes."""
    out: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or e in out:
            continue
        out.append(e)
        todo.extend([e.__cause__, e.__context__, getattr(e, "reason", None),
                     *[a for a in e.args if isinstance(a, BaseException)]])
    return out


def _host(exc: requests.RequestException) -> str:
    url = getattr(exc.request, "url", None) or ""
    m = re.match(r"https?://([^/]+)", url)
    return m.group(1) if m else "the org"


def classify(exc: BaseException) -> Failure | None:
    """Classify an exception from simple-salesforce or requests; None if it is neither."""
    if isinstance(exc, SalesforceAuthenticationFailed):
        return Failure(str(exc.code), f"authentication failed: {exc.code}: "
                       f"{one_line(exc.auth_message)}", transient=False, status=401)
    if isinstance(exc, SalesforceOperationError):
        return Failure("BULK_JOB_FAILED", one_line(str(exc)), transient=False)
    if isinstance(exc, SalesforceError):
        code, message = _error_body(exc.content)
        status = int(exc.status)
        code = code or f"HTTP_{status}"
        transient = status in TRANSIENT_STATUSES or code in TRANSIENT_CODES
        failure = Failure(code, one_line(message) or f"HTTP {status}", transient, status)
        if is_concurrent_limit(failure):
            return replace(failure, transient=True)
        return failure
    if isinstance(exc, requests.exceptions.SSLError):
        return Failure("TLS_ERROR", f"TLS error talking to {_host(exc)}: "
                       f"{one_line(str(exc), 200)}", transient=False)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Failure("UNREACHABLE", f"cannot reach {_host(exc)}: connection timed out",
                       transient=False)
    if isinstance(exc, ResponseDeadlineExceeded):
        return Failure("TIMEOUT", f"{_host(exc)} did not send a complete response within "
                       f"{exc.seconds:g}s (--timeout)", transient=True)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return Failure("TIMEOUT", f"{_host(exc)} did not answer in time", transient=True)
    if isinstance(exc, requests.exceptions.ConnectionError):
        chain = _chain(exc)
        names = {type(e).__name__ for e in chain}
        if names & {"NewConnectionError", "NameResolutionError", "ConnectionRefusedError",
                    "gaierror"}:
            why = ("connection refused" if "ConnectionRefusedError" in names
                   or "refused" in str(exc).lower() else "host not found or unreachable")
            return Failure("UNREACHABLE", f"cannot reach {_host(exc)}: {why}",
                           transient=False)
        # Reset or aborted mid-request (ProtocolError, ConnectionResetError, a dropped
        # keep-alive): the org was there a moment ago, so trying again is worthwhile.
        return Failure("CONNECTION_RESET", f"connection to {_host(exc)} was reset",
                       transient=True)
    return None


@dataclass
class RetryPolicy:
    """Attempts and backoff for transient failures; ``sleep`` is injectable for tests.

    Waits ``base_delay * 2**n`` seconds (capped at ``max_delay``) before attempt n+2; for
    the concurrent-request limit ``concurrent_delay * 2**n`` (capped at
    ``concurrent_max_delay``), since the requests it waits for run 20 s or longer. The
    run's ``--deadline`` bounds every wait (``sleep`` refuses to wait past it in the CLI).
    ``retried`` counts retries made through this policy, for the report.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    retried: int = 0
    concurrent_delay: float = 5.0
    concurrent_max_delay: float = 60.0

    def delay(self, failure: Failure, attempt: int) -> float:
        """Seconds to wait before retrying after ``attempt`` attempts failed."""
        if is_concurrent_limit(failure):
            return min(self.concurrent_max_delay,
                       self.concurrent_delay * 2 ** (attempt - 1))
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1))


def with_retry(fn: Callable[[], T], policy: RetryPolicy,
               on_fatal: Callable[[Failure], VerifyError] | None = None) -> T:
    """Call ``fn``; retry transient failures; turn the rest into :class:`VerifyError`.

    ``on_fatal`` builds the error for a non-transient failure (the caller knows how many
    calls remain for REQUEST_LIMIT_EXCEEDED); the default is ``CODE: message``.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except VerifyError:
            raise
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            if failure.transient and attempt < policy.attempts:
                policy.retried += 1
                policy.sleep(policy.delay(failure, attempt))
                continue
            if failure.transient:
                failure = replace(failure, message=f"{failure.message} "
                                  f"(after {attempt} attempts)")
            if on_fatal is not None:
                raise on_fatal(failure) from exc
            cls = QueryTimeout if failure.code == "QUERY_TIMEOUT" else VerifyError
            raise cls(f"{failure.code}: {failure.message}", failure.code) from exc
