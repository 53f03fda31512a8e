"""Time limits that a slow server cannot stretch.

requests' ``timeout`` bounds each socket read, not a request: a server that sends one
byte a second (in its headers or its body) keeps a read from ever timing out. Two limits
fix that:

- per request (``--timeout``): from sending the request to the last byte of the body.
  :class:`RequestWatch` starts a timer; every socket the request uses is registered with
  it (by :class:`WatchedAdapter`'s connection classes, when they connect or send) and
  when the time is up the timer shuts those sockets down, which wakes the blocked read at
  once. The request then fails with :class:`~verify.errors.ResponseDeadlineExceeded`;
- per run (``--deadline``): :class:`RunDeadline`. Every request is limited to the time
  the run has left, and no request starts (and no retry waits) past it:
  :class:`~verify.errors.DeadlineExceeded`.

The watch works below requests, on the sockets, so it covers a trickled status line,
trickled headers and a trickled body alike, and streamed responses (Bulk API downloads)
until their body is read or closed. (A TLS handshake that trickles is bounded only by
the connect timeout.)
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .errors import DeadlineExceeded

__all__ = ["RequestWatch", "RunDeadline", "WatchedAdapter"]


@dataclass
class RunDeadline:
    """The whole run's time limit (``--deadline``); ``seconds=None`` is no limit."""

    seconds: float | None = None
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float | None:
        """Seconds left (may be negative), or None without a limit."""
        if self.seconds is None:
            return None
        return self.seconds - (time.monotonic() - self.started)

    def exceeded(self, doing: str) -> DeadlineExceeded:
        """The error to raise: the limit and what the run was doing."""
        return DeadlineExceeded(f"--deadline {self.seconds:g}s exceeded: stopped "
                                f"{doing}")

    def check(self, doing: str) -> None:
        """Raise :class:`DeadlineExceeded` if no time is left."""
        left = self.remaining()
        if left is not None and left <= 0:
            raise self.exceeded(doing)


_current = threading.local()


class RequestWatch:
    """One request's time limit: shuts the request's sockets down when it passes.

    Use :meth:`active` around the code that sends the request (sockets are registered
    from that thread), then :meth:`finish` when the body has been read.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._done = False
        self._lock = threading.Lock()
        self._handles: list[socket.socket] = []
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True

    def add(self, sock: Any) -> None:
        """Watch ``sock`` (a socket or TLS socket) for the rest of the request."""
        try:
            fd = sock.fileno()
            # Our own descriptor for the same socket: it survives the TLS wrapper
            # replacing (detaching) the original socket object, and shutting it down
            # shuts down the socket every descriptor refers to.
            handle = socket.fromfd(fd, sock.family, sock.type) if fd >= 0 else None
        except (OSError, AttributeError, ValueError):
            return
        if handle is None:
            return
        with self._lock:
            if self._done:
                handle.close()
                return
            self._handles.append(handle)
            if self.fired:
                _shutdown(handle)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            for h in self._handles:
                _shutdown(h)

    @contextlib.contextmanager
    def active(self) -> Iterator[RequestWatch]:
        """Start the timer; sockets used by this thread meanwhile are watched."""
        if not self._timer.is_alive() and not self._done:
            self._timer.start()
        previous = getattr(_current, "watch", None)
        _current.watch = self
        try:
            yield self
        finally:
            _current.watch = previous

    def finish(self) -> None:
        """The request is over: stop the timer, release the descriptors (idempotent)."""
        with self._lock:
            if self._done:
                return
            self._done = True
            handles, self._handles = self._handles, []
        self._timer.cancel()
        for h in handles:
            h.close()


def _shutdown(handle: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to stop
        handle.shutdown(socket.SHUT_RDWR)


def _watch(sock: Any) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None and sock is not None:
        watch.add(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)  # a kept-alive connection: connected by an earlier request
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """requests' adapter with connections that register their sockets with the current
    :class:`RequestWatch` (direct connections and HTTP(S) proxies; SOCKS proxies keep
    their own connection classes and only the per-read timeout)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """The standard pool manager, with watched connection pools."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """The standard proxy manager, with watched connection pools (not SOCKS)."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager
