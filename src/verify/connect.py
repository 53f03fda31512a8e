"""Build a ``simple_salesforce.Salesforce`` from flags, an sf CLI alias, the environment,
or a simulator started for the purpose.

Precedence (first match wins):

1. ``--instance-url`` with ``--access-token``;
2. ``--target-org ALIAS``: ``sf org display --target-org ALIAS --json`` (the Salesforce CLI
   must be installed; we say so clearly when it is not);
3. ``--sim``: starts the simulator (public ``sforg_sim`` API only) and connects to its
   HTTPS server like to any org. It is an explicit flag, so it outranks the ambient
   environment below; combining it with 1 or 2 is refused as ambiguous;
4. the environment: ``SF_INSTANCE_URL`` + ``SF_ACCESS_TOKEN``; ``SF_USERNAME`` +
   ``SF_PASSWORD`` + ``SF_SECURITY_TOKEN`` [+ ``SF_DOMAIN``] (SOAP login); a connected app:
   ``SF_USERNAME`` + ``SF_PASSWORD`` + ``SF_CLIENT_ID`` + ``SF_CLIENT_SECRET`` (OAuth
   password grant), ``SF_USERNAME`` + ``SF_CLIENT_ID`` + ``SF_JWT_KEY_FILE`` (JWT bearer),
   or ``SF_CLIENT_ID`` + ``SF_CLIENT_SECRET`` + ``SF_DOMAIN`` (client credentials).

Every request (logins included) goes through :class:`VerifySession`: a time limit per
request and per run (:mod:`verify.deadline`), a read-only guard, ``Sforce-Limit-Info``
accounting and (``--verbose``) a masked request log. Credentials are stripped and checked
(:func:`_credentials`) before anything is sent; every secret goes through
:mod:`verify.redact`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import requests
from simple_salesforce import Salesforce

from . import redact
from .deadline import RequestWatch, RunDeadline, WatchedAdapter
from .errors import ResponseDeadlineExceeded, RetryPolicy, VerifyError, with_retry

__all__ = [
    "ApiUsage",
    "ConnectOptions",
    "Connection",
    "ReadOnlyViolation",
    "VerifySession",
    "connect",
]

log = logging.getLogger("verify")

DEFAULT_TIMEOUT = 60.0

# The only non-GET requests verify-org may send: creating a Bulk API 2.0 query job, and
# logging in. Anything else is a bug in verify-org and is refused before it leaves.
_ALLOWED_POSTS = (
    re.compile(r"/services/data/v\d+\.\d+/jobs/query/?$"),
    re.compile(r"/services/Soap/u/\d+\.\d+(/[^/]*)?/?$"),
    re.compile(r"/services/oauth2/token/?$"),
)
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class ReadOnlyViolation(RuntimeError):
    """verify-org tried to send a request that could change the org (a bug; never sent)."""


@dataclass
class ApiUsage:
    """API calls seen in ``Sforce-Limit-Info`` headers during this run.

    ``first_used`` is the org's usage right after our first counted call, so the calls we
    used are ``last_used - first_used + 1``; on a real org other clients' calls in the
    meantime add to that, so it is never reported below ``counted``, the number of our
    responses that carried the header. ``sent`` is how many requests we sent.
    """

    first_used: int | None = None
    last_used: int | None = None
    maximum: int | None = None
    counted: int = 0
    sent: int = 0

    def observe(self, response: requests.Response) -> None:
        """Read ``Sforce-Limit-Info`` (any status: a 403 may still carry it)."""
        self.sent += 1
        m = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if not m:
            return
        used, maximum = int(m.group(1)), int(m.group(2))
        self.counted += 1
        if self.first_used is None:
            self.first_used = used
        self.last_used, self.maximum = used, maximum

    @property
    def used_by_run(self) -> int | None:
        """Calls this run used, from the headers (None when no header was seen)."""
        if self.first_used is None or self.last_used is None:
            return None
        return max(self.counted, self.last_used - self.first_used + 1)

    @property
    def remaining(self) -> int | None:
        """Calls left in the rolling 24-hour window after the last counted response."""
        if self.last_used is None or self.maximum is None:
            return None
        return max(0, self.maximum - self.last_used)

    def to_json(self) -> dict[str, Any]:
        """Stable JSON: used_by_run, requests, counted, org_used, org_max, remaining."""
        return {"used_by_run": self.used_by_run, "requests": self.sent,
                "counted": self.counted, "org_used": self.last_used,
                "org_max": self.maximum, "remaining": self.remaining}


class VerifySession(requests.Session):
    """A requests session with time limits, a read-only guard and usage accounting.

    simple-salesforce sends every call (login, REST, Bulk 2.0) through the session it is
    given, so this is the one place to enforce them; it uses only the public
    ``Salesforce(session=...)`` parameter. ``timeout`` limits each request as a whole,
    from sending it to the last byte of its body (:mod:`verify.deadline`), not only each
    socket read; ``deadline`` is the run's limit, which no request may outlast.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, usage: ApiUsage | None = None,
                 deadline: RunDeadline | None = None) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.usage = usage or ApiUsage()
        self.deadline = deadline or RunDeadline()
        adapter = WatchedAdapter()
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method: str | bytes, url: str | bytes,
                *args: Any, **kwargs: Any) -> requests.Response:
        """Send one request: checked read-only, time-limited, accounted."""
        m = method.decode() if isinstance(method, bytes) else str(method)
        u = url.decode() if isinstance(url, bytes) else str(url)
        path = urlparse(u).path
        if m.upper() not in ("GET", "HEAD") and not (
                m.upper() == "POST" and any(p.search(path) for p in _ALLOWED_POSTS)):
            raise ReadOnlyViolation(f"refused to send {m} {path}: verify-org is read-only")
        doing = f"before {m.upper()} {path}"
        self.deadline.check(doing)
        limit = self.default_timeout
        left = self.deadline.remaining()
        by_run = left is not None and left < limit
        if left is not None:
            limit = min(limit, left)
        kwargs.setdefault("timeout", limit)
        watch = RequestWatch(limit)

        def expired() -> Exception:
            if by_run:
                return self.deadline.exceeded(f"during {m.upper()} {path}")
            return ResponseDeadlineExceeded(limit, request=requests.Request(m, u))

        try:
            with watch.active():
                response = super().request(m, u, *args, **kwargs)
        except Exception as exc:
            watch.finish()
            left = self.deadline.remaining()
            # A socket timeout may beat the watch to the same instant: the run's
            # deadline is still the reason to give.
            if watch.fired or (by_run and left is not None and left <= 0):
                raise expired() from exc
            raise
        if kwargs.get("stream"):
            _watch_body(response, watch, expired)
        else:
            watch.finish()
            if watch.fired:  # the body may have been cut short: not an answer
                raise expired()
        self.usage.observe(response)
        log.debug("%s %s -> %s (%s)", m.upper(), redact.redact(path), response.status_code,
                  response.headers.get("Sforce-Limit-Info", "-"))
        return response


def _watch_body(response: requests.Response, watch: RequestWatch,
                expired: Callable[[], Exception]) -> None:
    """Keep ``watch`` running while a streamed body is read; stop it when it is read or
    the response is closed."""
    iter_content, close = response.iter_content, response.close

    def watched(chunk_size: int | None = 1, decode_unicode: bool = False) -> Iterator[Any]:
        try:
            yield from iter_content(chunk_size, decode_unicode)  # type: ignore[call-overload]
        except Exception as exc:
            if watch.fired:
                raise expired() from exc
            raise
        finally:
            watch.finish()
        if watch.fired:
            raise expired()

    def closing() -> None:
        watch.finish()
        close()

    response.iter_content = watched  # type: ignore[method-assign]
    response.close = closing  # type: ignore[method-assign]


@dataclass
class ConnectOptions:
    """The connection-related command-line options."""

    instance_url: str | None = None
    access_token: str | None = None
    target_org: str | None = None
    sim: bool = False
    scenario: str | None = None
    records: int | None = None
    org_file: str | None = None
    api_version: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    deadline: RunDeadline | None = None
    """The run's ``--deadline`` (started when the run started); None: no limit."""


@dataclass
class Connection:
    """An authenticated client plus where it came from; :meth:`close` stops a simulator."""

    sf: Salesforce
    session: VerifySession
    source: str
    instance_url: str
    api_version: str
    _stack: ExitStack = field(default_factory=ExitStack, repr=False)

    @property
    def usage(self) -> ApiUsage:
        """API usage seen so far."""
        return self.session.usage

    def close(self) -> None:
        """Release resources (stop the simulator started by ``--sim``)."""
        self._stack.close()
        self.session.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _api_version(v: str | None) -> str | None:
    if v is None:
        return None
    s = v.strip().lstrip("vV")
    if not re.fullmatch(r"\d+\.\d", s):
        raise VerifyError(f"bad --api-version {v!r}: expected a version like 59.0",
                          "BAD_FLAG")
    return s


_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?",
                        re.IGNORECASE)
_URLISH = re.compile(r"^[a-z][a-z0-9+.-]*://|^www\.|(^|\.)(salesforce|force|cloudforce|"
                     r"database)\.com(:\d+)?(/|$)", re.IGNORECASE)


def _valid_host(host: str | None) -> bool:
    """A DNS name or an IP address (what may stand between ``https://`` and the port)."""
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return _HOST_NAME.fullmatch(host) is not None


def _instance_url(url: str, name: str = "instance URL") -> str:
    """``url`` stripped and checked: ``https://HOST[:PORT]`` (``https://`` may be left out).

    A value shaped like a token is described, never echoed."""
    u = url.strip()
    if "://" not in u:
        u = "https://" + u
    shown = ("(a value shaped like an access token)" if redact.looks_like_token(url)
             else repr(url.strip()))
    try:
        parsed = urlparse(u)
        scheme = parsed.scheme.lower()
        _ = parsed.port  # raises ValueError on a port that is not a number
        ok = scheme in ("http", "https") and _valid_host(parsed.hostname)
    except ValueError:  # e.g. an unclosed [ in the host
        scheme, ok = "", False
    if not ok:
        raise VerifyError(f"bad {name} {shown}: expected an http(s) URL with a host, "
                          "e.g. https://acme.my.salesforce.com", "BAD_FLAG")
    if scheme != "https":
        raise VerifyError(f"bad {name} {shown}: expected https://HOST[:PORT] "
                          "(simple-salesforce only speaks HTTPS)", "BAD_FLAG")
    return u.rstrip("/")


def _credentials(url: str, token: str, url_name: str, token_name: str) -> tuple[str, str]:
    """(instance URL, token), stripped and checked before anything is sent.

    A token that looks like a URL, or a URL that looks like a token, is refused as swapped
    values (both are then registered as secrets: one of them is the token). A token with
    whitespace or control characters inside is refused too: requests would put it in a
    header error message, and no real token has them.
    """
    url, token = url.strip(), token.strip()
    redact.register(token)
    token_urlish = bool(_URLISH.search(token))
    url_tokenish = redact.looks_like_token(url) or (
        token_urlish and "://" not in url and not _valid_host(url.split("/")[0]))
    if token_urlish or url_tokenish:
        redact.register(url)
        what = " and ".join(
            [f"{token_name} looks like a URL"] * token_urlish
            + [f"{url_name} looks like an access token"] * url_tokenish)
        raise VerifyError(f"{what}: looks like the values are swapped ({url_name} takes "
                          f"https://HOST, {token_name} the session id)",
                          "SWAPPED_CREDENTIALS")
    if not token:
        raise VerifyError(f"{token_name} is empty", "BAD_FLAG")
    if any(c.isspace() or not c.isprintable() for c in token):
        raise VerifyError(f"{token_name} contains whitespace or control characters (a "
                          "line break pasted inside it?)", "BAD_FLAG")
    return _instance_url(url, url_name), token


def _sf_cli(alias: str, timeout: float,
            run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
            ) -> tuple[str, str]:
    """(instance URL, access token) for an sf CLI alias."""
    exe = shutil.which("sf")
    if exe is None:
        raise VerifyError(
            f"--target-org {alias}: the Salesforce CLI (sf) is not installed or not on PATH; "
            "install it (https://developer.salesforce.com/tools/salesforcecli) or use "
            "--instance-url/--access-token or SF_* environment variables", "NO_SF_CLI")
    try:
        proc = run([exe, "org", "display", "--target-org", alias, "--json"],
                   capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise VerifyError(f"--target-org {alias}: `sf org display` did not answer within "
                          f"{timeout:g}s", "SF_CLI_FAILED") from None
    try:
        body = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        body = {}
    result = body.get("result") if isinstance(body, dict) else None
    if proc.returncode != 0 or not isinstance(result, dict):
        why = (body.get("message") if isinstance(body, dict) else None) or \
            (proc.stderr or proc.stdout or f"exit status {proc.returncode}")
        raise VerifyError(f"--target-org {alias}: sf org display failed: "
                          f"{redact.redact(str(why))}", "SF_CLI_FAILED")
    token, url = result.get("accessToken"), result.get("instanceUrl")
    redact.register(token if isinstance(token, str) else None)
    if not isinstance(token, str) or not isinstance(url, str) or not token.strip() \
            or not url.strip():
        raise VerifyError(f"--target-org {alias}: sf org display gave no accessToken/"
                          "instanceUrl (is the org connected? try `sf org login web`)",
                          "SF_CLI_FAILED")
    return _credentials(url, token, f"--target-org {alias}: instanceUrl",
                        f"--target-org {alias}: accessToken")


def _from_env(env: Mapping[str, str], kw: dict[str, Any]) -> str:
    """Fill Salesforce() keyword arguments from SF_* variables; returns a description."""
    def get(name: str) -> str | None:
        v = (env.get(name) or "").strip()
        return v or None

    redact.register(*(env.get(n) for n in ("SF_ACCESS_TOKEN", "SF_PASSWORD",
                                           "SF_SECURITY_TOKEN", "SF_CLIENT_SECRET")))
    url, token = get("SF_INSTANCE_URL"), get("SF_ACCESS_TOKEN")
    user, pw = get("SF_USERNAME"), get("SF_PASSWORD")
    client_id, secret = get("SF_CLIENT_ID"), get("SF_CLIENT_SECRET")
    key_file, domain = get("SF_JWT_KEY_FILE"), get("SF_DOMAIN")
    # The security token may legitimately be empty (trusted IP ranges), so only its
    # presence in the environment matters.
    has_token = "SF_SECURITY_TOKEN" in env
    if url and token:
        url, token = _credentials(url, token, "SF_INSTANCE_URL", "SF_ACCESS_TOKEN")
        kw.update(instance_url=url, session_id=token)
        return "environment (SF_INSTANCE_URL + SF_ACCESS_TOKEN)"
    if url or token:
        missing = "SF_ACCESS_TOKEN" if url else "SF_INSTANCE_URL"
        raise VerifyError(f"incomplete credentials: {missing} is not set", "NO_CREDENTIALS")
    if domain:
        kw["domain"] = domain
    if user and pw and has_token:
        kw.update(username=user, password=pw,
                  security_token=env.get("SF_SECURITY_TOKEN", "").strip())
        return "environment (SF_USERNAME + SF_PASSWORD + SF_SECURITY_TOKEN, SOAP login)"
    if user and pw and client_id and secret:
        kw.update(username=user, password=pw, consumer_key=client_id, consumer_secret=secret)
        return "environment (connected app, OAuth password grant)"
    if user and client_id and key_file:
        if not os.path.isfile(key_file):
            raise VerifyError(f"SF_JWT_KEY_FILE {key_file!r} does not exist", "NO_CREDENTIALS")
        kw.update(username=user, consumer_key=client_id, privatekey_file=key_file)
        return "environment (connected app, JWT bearer)"
    if client_id and secret:
        if not domain or domain in ("login", "test"):
            raise VerifyError("the client-credentials flow needs SF_DOMAIN set to your My "
                              "Domain (e.g. acme.my)", "NO_CREDENTIALS")
        kw.update(consumer_key=client_id, consumer_secret=secret)
        return "environment (connected app, client credentials)"
    if user or pw or client_id or secret or key_file:
        raise VerifyError(
            "incomplete credentials in the environment: need SF_USERNAME + SF_PASSWORD + "
            "SF_SECURITY_TOKEN, or SF_CLIENT_ID with SF_CLIENT_SECRET or SF_JWT_KEY_FILE",
            "NO_CREDENTIALS")
    raise VerifyError("no credentials: use --instance-url with --access-token, "
                      "--target-org ALIAS, --sim, or SF_INSTANCE_URL + SF_ACCESS_TOKEN "
                      "(or SF_USERNAME + SF_PASSWORD + SF_SECURITY_TOKEN)", "NO_CREDENTIALS")


def _start_sim(opts: ConnectOptions, stack: ExitStack,
               session: VerifySession) -> tuple[dict[str, Any], str]:
    """Start the simulator's HTTPS server; keyword arguments to reach it."""
    # The public API only: Org to build the org, serve to put it on the network. Everything
    # after this talks HTTPS to the server, exactly as to a real org.
    from sforg_sim import Org
    from sforg_sim.rest import serve

    if opts.org_file:
        if not os.path.isfile(opts.org_file):
            raise VerifyError(f"--org-file {opts.org_file!r} does not exist", "BAD_FLAG")
        org = Org.open(opts.org_file, in_memory=True)
        what = f"simulator (org file {opts.org_file})"
    else:
        org = Org()
        scenario = opts.scenario or "massive-upload"
        org.load_scenario(scenario, records=opts.records)
        what = f"simulator (scenario {scenario}" + (
            f", {opts.records:,} records)" if opts.records is not None else ")")
    server = stack.enter_context(serve(org))
    url = _server_attr(server, "instance_url")
    token = _server_attr(server, "access_token", "session_id")
    ca = _server_attr(server, "ca_bundle_path", "ca_bundle", "ca_path")
    redact.register(token)
    # Trust exactly the simulator's CA. trust_env=False because requests would otherwise
    # let REQUESTS_CA_BUNDLE from the environment override session.verify.
    session.verify = ca
    session.trust_env = False
    return {"instance_url": url, "session_id": token}, what


def _server_attr(server: Any, *names: str) -> Any:
    for n in names:
        v = getattr(server, n, None)
        if v is not None:
            return v
    raise VerifyError(f"the simulator server exposes none of {', '.join(names)}", "SIM")


def connect(opts: ConnectOptions, env: Mapping[str, str] | None = None,
            policy: RetryPolicy | None = None) -> Connection:
    """Authenticate as the options and environment say; raises :class:`VerifyError`."""
    env = os.environ if env is None else env
    redact.register(opts.access_token)
    instance_url = (opts.instance_url or "").strip() or None
    access_token = (opts.access_token or "").strip() or None
    deadline = opts.deadline or RunDeadline()
    version = _api_version(opts.api_version)
    if opts.sim and (instance_url or access_token or opts.target_org):
        raise VerifyError("--sim cannot be combined with --instance-url, --access-token "
                          "or --target-org", "BAD_FLAG")
    if (opts.org_file or opts.scenario or opts.records is not None) and not opts.sim:
        raise VerifyError("--scenario, --records and --org-file need --sim", "BAD_FLAG")
    if opts.org_file and (opts.scenario or opts.records is not None):
        raise VerifyError("--org-file cannot be combined with --scenario/--records",
                          "BAD_FLAG")
    session = VerifySession(timeout=opts.timeout, deadline=deadline)
    stack = ExitStack()
    kw: dict[str, Any] = {"session": session}
    if version:
        kw["version"] = version
    try:
        if instance_url or access_token:
            if not (instance_url and access_token):
                raise VerifyError("--instance-url and --access-token go together",
                                  "BAD_FLAG")
            url, token = _credentials(instance_url, access_token, "--instance-url",
                                      "--access-token")
            kw.update(instance_url=url, session_id=token)
            source = "--instance-url/--access-token"
        elif opts.target_org:
            left = deadline.remaining()
            url, token = _sf_cli(opts.target_org, opts.timeout if left is None
                                 else max(0.001, min(opts.timeout, left)))
            kw.update(instance_url=url, session_id=token)
            source = f"sf CLI alias {opts.target_org}"
        elif opts.sim:
            extra, source = _start_sim(opts, stack, session)
            kw.update(extra)
            deadline.check("after starting the simulator")
        else:
            source = _from_env(env, kw)
        # Logins (SOAP/OAuth) happen in the constructor: retried like any transient call.
        sf = with_retry(lambda: Salesforce(**kw), policy or RetryPolicy())
        redact.register(sf.session_id)
        instance = f"https://{sf.sf_instance}"
        return Connection(sf, session, source, instance, str(sf.sf_version), stack)
    except BaseException:
        stack.close()
        session.close()
        raise
