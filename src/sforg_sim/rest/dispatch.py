"""Turn a :class:`Request` into a :class:`Response`: the one place that authenticates,
charges API calls, adds ``Sforce-Limit-Info`` and serialises errors.

Order of checks for a request (each step can answer on its own):
1. route lookup (the table in :mod:`.routes`); paths outside every route still need a
   session when they are under ``/services/`` (an unauthenticated probe learns nothing);
2. ``Authorization: Bearer <token>`` (also ``OAuth <token>``, which Salesforce accepts):
   401 ``[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]``;
3. charge one API request *before* any work: 403 REQUEST_LIMIT_EXCEEDED
   ("TotalRequests Limit exceeded.") once the rolling 24-hour allocation is gone;
4. API version (v50.0 ..), 404 (no route), 405 (wrong method), then the handler.

Every counted response, errors included, carries ``Sforce-Limit-Info: api-usage=U/M``
(usage including this request). The whole request runs under ``org.lock`` so the threaded
server never interleaves two writes. A Python exception escaping a handler is a simulator
bug; it becomes 500 UNKNOWN_EXCEPTION as a last resort (the fuzz tests assert it never
happens) rather than a traceback on the wire.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import MethodNotAllowed, NotFound, SalesforceError
from .auth import sessions
from .limits import supported
from .messages import Call, Request, Response, json_response
from .routes import Resolution, resolve

if TYPE_CHECKING:
    from ..org import Org

__all__ = ["error_response", "handle", "subrequest"]

log = logging.getLogger(__name__)
_NOT_FOUND = "The requested resource does not exist"


def error_response(err: SalesforceError, headers: dict[str, str] | None = None) -> Response:
    """THE error serialisation: ``[{"message", "errorCode", "fields"}]`` with the real status."""
    return json_response(err.status, err.to_rest(), headers)


def _token(req: Request) -> str | None:
    auth = req.headers.get("authorization", "")
    scheme, _, token = auth.strip().partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None


def handle(org: Org, req: Request) -> Response:
    """Serve one request against ``org``. Never raises; never answers with a traceback."""
    try:
        with org.lock:
            resp = _handle(org, req)
    except Exception:  # last resort: a simulator bug must not kill the client's connection
        log.exception("sforg_sim: unexpected error serving %s %s", req.method, req.path)
        resp = json_response(500, [{"message": "An unexpected error occurred. Please "
                                    "include this ErrorId if you contact support: sforg-sim",
                                    "errorCode": "UNKNOWN_EXCEPTION"}])
    if req.method == "HEAD":
        resp = Response(resp.status, b"", resp.headers)
    return resp


def _handle(org: Org, req: Request) -> Response:
    res = resolve(req.method, req.path)
    route = res.route
    under_services = req.path.startswith("/services/")
    needs_auth = route.auth if route is not None else under_services
    counted = route.counted if route is not None else under_services
    user_id: str | None = None
    if needs_auth:
        try:
            user_id = sessions(org).validate(_token(req))
        except SalesforceError as e:
            return error_response(e)
    try:
        if counted:
            org.charge_api(1)
        resp = _run(org, req, res, user_id)
    except SalesforceError as e:
        resp = error_response(e)
    if counted:
        resp.headers["Sforce-Limit-Info"] = org.org_limits.limit_info()
    return resp


def subrequest(org: Org, parent: Request, user_id: str | None, method: str, url: str,
               body: Any) -> Response:
    """Run one composite subrequest through the same route table, uncharged.

    A composite request counts once (REST guide, composite resources), so subrequests skip
    authentication (the parent's session is used) and charging.
    """
    import json

    path, _, qs = url.partition("?")
    payload = b"" if body is None else json.dumps(body).encode("utf-8")
    sub = Request(method, path, qs, {"content-type": "application/json"}, payload,
                  parent.instance_url)
    try:
        if not path.startswith("/services/data/v"):
            raise NotFound(_NOT_FOUND)
        return _run(org, sub, resolve(sub.method, sub.path), user_id)
    except SalesforceError as e:
        return error_response(e)


def _run(org: Org, req: Request, res: Resolution, user_id: str | None) -> Response:
    """Run the resolved route's handler (NOT_FOUND for an unknown route or API version,
    METHOD_NOT_ALLOWED for a known path); the handler's subrequests come back here."""
    version = res.params.get("version")
    if res.route is None or (version is not None and not supported(version)):
        raise NotFound(_NOT_FOUND)
    if res.handler is None:
        raise MethodNotAllowed(
            f"HTTP Method '{req.method}' not allowed. Allowed are {res.allowed}")
    call = Call(org, req, res.params, user_id,
                lambda m, u, b: subrequest(org, req, user_id, m, u, b))
    return res.handler(call)
