"""``serve(org)``: the route table over real HTTPS (werkzeug, threaded, trustme TLS).

simple-salesforce hard-codes ``https://`` (research §8), so the server speaks TLS with a
certificate from a throwaway local CA made by trustme; clients trust it through
``REQUESTS_CA_BUNDLE``/``NODE_EXTRA_CA_CERTS`` or ``verify=ca_bundle_path`` (with
``session.trust_env = False``, or the environment overrides ``verify``). It binds
127.0.0.1 unless told otherwise; port 0 picks a free port. Requests run in threads, and
:func:`.dispatch.handle` holds ``org.lock`` per request, so concurrent clients never lose
or duplicate a write. HTTP/1.1 keep-alive is on so a client paging 100 query batches
does not pay 100 TLS handshakes. Request bodies sent with ``Transfer-Encoding: chunked``
(no Content-Length) are read whole, as ``mock_org`` reads them.

While serving, the server also:

- writes the connected app's JWT key pair (``SessionStore.jwt_key_pair``) next to the CA
  bundle (``jwt_key_path``, ``jwt_cert_path``) unless a certificate was set; JWT bearer
  assertions must be signed with that key;
- lets query cursors and Bulk API 2.0 jobs age on the wall clock too (their
  ``wall`` attribute), so the 2-day cursor lifetime and the 7-day job lifespan run out
  during a long rehearsal even if the simulated clock stands still;
- refuses a request with REQUEST_LIMIT_EXCEEDED when too many requests in flight are
  long-running (:class:`.limits.LongRunningRequests`; ``concurrency_limit=False`` turns
  it off);
- with ``run_jobs=True`` (``sforg-sim serve`` turns it on), runs the org's async Apex in
  the background and lets an idle org's clock follow wall time
  (:class:`.night.NightRunner`); the ``runner`` attribute is that thread's handle.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ..errors import SalesforceError
from .auth import sessions
from .bulk2 import jobs_of
from .dispatch import error_response, handle
from .limits import LongRunningRequests, concurrent_limit
from .messages import Request
from .night import NightRunner

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ..org import Org

__all__ = ["SimServer", "serve"]


class _QuietHandler(WSGIRequestHandler):
    """No per-request log lines on stderr; HTTP/1.1 for keep-alive."""

    protocol_version = "HTTP/1.1"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":  # keep real server errors visible
            super().log(type, message, *args)


class SimServer:
    """A running HTTPS server for one org. Use as a context manager or start()/stop()."""

    def __init__(self, org: Org, host: str = "127.0.0.1", port: int = 0, *,
                 concurrency_limit: bool = True, run_jobs: bool = False) -> None:
        self.org = org
        self.runner: NightRunner | None = NightRunner(org) if run_jobs else None
        self._old_session_wall: Callable[[], float] | None = None
        self.host = host
        self.port = port
        self.access_token = ""
        self.ca_bundle_path = ""
        self.jwt_key_path = ""
        """The connected app's private key (PEM) for JWT bearer assertions ('' when a
        certificate of the caller's own was set as ``jwt_public_key``)."""
        self.jwt_cert_path = ""
        """The connected app's certificate (PEM) assertions are verified against."""
        self.long_running: LongRunningRequests | None = (
            LongRunningRequests(concurrent_limit(org.edition)) if concurrency_limit else None)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: str | None = None

    @property
    def instance_url(self) -> str:
        """``https://127.0.0.1:PORT`` (a wildcard bind is advertised as 127.0.0.1)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"https://{host}:{self.port}"

    def start(self) -> SimServer:
        """Create the CA and certificate, bind, and serve in a daemon thread."""
        import trustme

        ca = trustme.CA()
        names = dict.fromkeys(("127.0.0.1", "localhost", self.host))
        names.pop("0.0.0.0", None)
        cert = ca.issue_cert(*names)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        self._tmp = tempfile.mkdtemp(prefix="sforg-sim-")
        self.ca_bundle_path = str(Path(self._tmp) / "sforg-sim-ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle_path)
        store = sessions(self.org)
        if store.jwt_public_key is None:
            app_key, app_cert = store.jwt_key_pair()
            self.jwt_key_path = str(Path(self._tmp) / "connected-app-key.pem")
            fd = os.open(self.jwt_key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(app_key)
            self.jwt_cert_path = str(Path(self._tmp) / "connected-app-cert.pem")
            Path(self.jwt_cert_path).write_bytes(app_cert)
        # Lifetimes also count wall time while serving (see the module docstring).
        self.org.soql.cursors.wall = time.monotonic
        jobs_of(self.org).wall = time.monotonic
        self._server = make_server(self.host, self.port, self._app, threaded=True,
                                   request_handler=_QuietHandler, ssl_context=ctx)
        self.port = self._server.server_port
        self.access_token = sessions(self.org).create()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="sforg-sim-serve", daemon=True)
        self._thread.start()
        if self.runner is not None:
            # The clock will race ahead of the user: session inactivity goes by wall time.
            self._old_session_wall = store.wall
            store.wall = time.monotonic
            self.runner.start()
        return self

    def stop(self) -> None:
        """Stop serving and remove the CA file. The job runner stops first and the
        engine commits what it ran, so the org can be saved consistently afterwards."""
        if self.runner is not None:
            self.runner.stop()
            sessions(self.org).wall = self._old_session_wall
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.org.soql.cursors.wall = None
        jobs_of(self.org).wall = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def http_session(self) -> requests.Session:
        """A ``requests.Session`` that trusts this server's CA (hand it to simple-salesforce).

        ``trust_env`` is off because ``REQUESTS_CA_BUNDLE`` from the environment would
        otherwise override ``verify`` (docs/research/simple_salesforce.md section 8).
        """
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_bundle_path
        return session

    def wait(self) -> None:
        """Block until the server thread ends (``sforg-sim serve`` until Ctrl-C)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]
             ) -> Iterable[bytes]:
        # RAW_URI keeps %2F inside an External ID value; PATH_INFO would have decoded it.
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]
        path, _, query = raw.partition("?")
        if "://" in path:  # absolute-form request target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
                   if k.startswith("HTTP_")}
        for k in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(k):
                headers[k.replace("_", "-").lower()] = environ[k]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if environ.get("wsgi.input_terminated"):
            # Transfer-Encoding: chunked: werkzeug de-chunks the stream, which ends with
            # the last chunk; there is no Content-Length to go by.
            body = environ["wsgi.input"].read()
        else:
            body = environ["wsgi.input"].read(length) if length > 0 else b""
        req = Request(environ["REQUEST_METHOD"], path or "/", query, headers, body,
                      instance_url=self.instance_url)
        ticket: int | None = None
        try:
            if self.long_running is not None:
                ticket = self.long_running.admit()
            resp = handle(self.org, req)
        except SalesforceError as e:  # the concurrent limit: refused, not charged
            resp = error_response(e)
        finally:
            if ticket is not None and self.long_running is not None:
                self.long_running.done(ticket)
        out_headers = [(k, v) for k, v in resp.headers.items() if k.lower() != "content-length"]
        out_headers.append(("Content-Length", str(len(resp.body))))
        from http import HTTPStatus

        try:
            phrase = HTTPStatus(resp.status).phrase
        except ValueError:
            phrase = "Unknown"
        start_response(f"{resp.status} {phrase}", out_headers)
        return [resp.body]


def serve(org: Org, host: str = "127.0.0.1", port: int = 0, *,
          concurrency_limit: bool = True, run_jobs: bool = False) -> SimServer:
    """An HTTPS server for ``org``; ``with serve(org) as server: server.instance_url``.
    ``run_jobs=True``: run queued Apex jobs in the background (see the module docstring)."""
    return SimServer(org, host, port, concurrency_limit=concurrency_limit,
                     run_jobs=run_jobs)
