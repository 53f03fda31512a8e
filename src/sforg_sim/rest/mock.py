"""``mock_org(org)``: serve the route table to ``requests`` in-process, through ``responses``.

Requests to ``https://login.salesforce.com``, ``https://test.salesforce.com`` and the org's
instance URL (plus any ``hosts=`` given, e.g. a My Domain for the client-credentials
grant) are answered by :func:`.dispatch.handle`. Requests to other hosts go to whatever
``requests`` would have used before the mock started: the network, or an enclosing
``responses`` mock, so ``mock_org`` nests with other ``responses`` users. A request to a
Salesforce host outside the simulated surface (Apex REST, Lightning pages) raises
:class:`NotSimulated` naming the method and path, instead of a made-up answer.

Usable as a context manager, a decorator, or with ``start()``/``stop()``::

    with mock_org(org) as sim:
        sf = Salesforce(instance_url=sim.instance_url, session_id=sim.session_id)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import requests
import responses
from requests.adapters import HTTPAdapter

from ..errors import SalesforceError
from .auth import sessions
from .dispatch import handle
from .messages import Request
from .routes import is_simulated

if TYPE_CHECKING:
    from ..org import Org

__all__ = ["LoggedRequest", "MockOrg", "NotSimulated", "mock_org"]

F = TypeVar("F", bound=Callable[..., Any])
LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class NotSimulated(requests.exceptions.ConnectionError):
    """A request to a Salesforce host for a resource the simulator does not serve."""


@dataclass(frozen=True)
class LoggedRequest:
    """One request the mock served: for tests asserting what a client did."""

    method: str
    path: str
    status: int


class MockOrg:
    """The running interception of one org (see the module docstring)."""

    def __init__(self, org: Org, hosts: Iterable[str] = ()) -> None:
        self.org = org
        self.instance_url = org.instance_url
        own = urlsplit(org.instance_url).netloc.lower()
        self.hosts = tuple(dict.fromkeys((*LOGIN_HOSTS, own, *(h.lower() for h in hosts))))
        self.requests: list[LoggedRequest] = []
        self._mock: responses.RequestsMock | None = None
        self._session_id: str | None = None

    # --- what tests read --------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        """A session for the admin user, issued on first use (re-issued after expiry)."""
        try:
            if self._session_id is not None:
                sessions(self.org).validate(self._session_id)
                return self._session_id
        except SalesforceError:  # expired by the test: hand out a fresh one
            pass
        self._session_id = sessions(self.org).create()
        return self._session_id

    @property
    def username(self) -> str:
        """The admin's username (SOAP and OAuth password logins)."""
        return str(sessions(self.org).username)

    @property
    def password(self) -> str:
        """The admin's password."""
        return str(sessions(self.org).password)

    @property
    def security_token(self) -> str:
        """The admin's security token."""
        return str(sessions(self.org).security_token)

    @property
    def consumer_key(self) -> str:
        """The connected app's consumer key (OAuth grants)."""
        return str(sessions(self.org).consumer_key)

    @property
    def consumer_secret(self) -> str:
        """The connected app's consumer secret."""
        return str(sessions(self.org).consumer_secret)

    # --- lifecycle ----------------------------------------------------------------------------

    _active: ClassVar[list[MockOrg]] = []
    """MockOrgs between start() and stop(), to refuse two orgs on one instance host."""

    def start(self) -> MockOrg:
        """Begin intercepting. Whatever ``HTTPAdapter.send`` is now serves other hosts.

        Refuses (ValueError) to serve an instance host that another running mock_org serves
        for a different Org: the inner one would silently answer for both, and the outer
        org's sessions would look invalid. Login hosts are shared on purpose (a login goes
        to the innermost mock_org).
        """
        if self._mock is not None:
            return self
        for other in MockOrg._active:
            clash = (set(other.hosts) & set(self.hosts)) - set(LOGIN_HOSTS)
            if other.org is not self.org and clash:
                raise ValueError(
                    f"mock_org: {', '.join(sorted(clash))} is already served by another "
                    "running mock_org for a different Org; give each Org its own instance "
                    "URL, e.g. Org(instance_url='https://second.my.salesforce.com')")
        hosts = "|".join(re.escape(h) for h in self.hosts)
        ours = rf"https?://(?:{hosts})(?::\d+)?(?:[/?#]|$)"
        mock = responses.RequestsMock(
            assert_all_requests_are_fired=False,
            real_adapter_send=HTTPAdapter.send,  # type: ignore[arg-type]  # enclosing mock's
            passthru_prefixes=(re.compile(rf"^(?!{ours})", re.I),))  # type: ignore[arg-type]
        for method in _METHODS:
            mock.add_callback(method, re.compile(ours, re.I), callback=self._serve,
                              content_type=None)
        mock.start()
        self._mock = mock
        MockOrg._active.append(self)
        return self

    def stop(self) -> None:
        """Stop intercepting (the org and its sessions stay as they are)."""
        if self._mock is not None:
            self._mock.stop(allow_assert=False)
            self._mock = None
            MockOrg._active.remove(self)

    def __enter__(self) -> MockOrg:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __call__(self, func: F) -> F:
        """Use as a decorator: the mock runs for the duration of each call."""
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)
        return wrapper  # type: ignore[return-value]

    # --- serving ------------------------------------------------------------------------------

    def _serve(self, prepared: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(str(prepared.url))
        method = str(prepared.method or "GET").upper()
        path = url.path or "/"
        if not is_simulated(path):
            raise NotSimulated(
                f"sforg_sim: {method} {path} is not simulated (mock_org serves the REST "
                "data API under /services/data, SOAP login, OAuth and the Bulk API under "
                "/services/async; see the README)")
        body: Any = prepared.body
        if body is not None and not isinstance(body, (str, bytes)):  # file-like/generator
            body = body.read() if hasattr(body, "read") else b"".join(
                b if isinstance(b, bytes) else str(b).encode() for b in body)
        raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        headers = {k: v if isinstance(v, str) else v.decode("latin-1")
                   for k, v in prepared.headers.items()}
        req = Request(method, path, url.query, headers, raw,
                      instance_url=f"{url.scheme}://{url.netloc}"
                      if url.netloc.lower() not in LOGIN_HOSTS else self.instance_url)
        resp = handle(self.org, req)
        self.requests.append(LoggedRequest(method, path, resp.status))
        out = dict(resp.headers)
        out["Content-Length"] = str(len(resp.body))
        return resp.status, out, resp.body


def mock_org(org: Org, *, hosts: Iterable[str] = ()) -> MockOrg:
    """Intercept ``requests`` to Salesforce hosts and answer from ``org``.

    ``hosts`` adds more hosts to serve (e.g. ``acme.my.salesforce.com`` for a My Domain).
    """
    return MockOrg(org, hosts)
