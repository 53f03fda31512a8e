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

Every request (logins included) goes through :class:`VerifySession`: a default timeout, a
read-only guard, ``Sforce-Limit-Info`` accounting and (``--verbose``) a masked request log.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import requests
from simple_salesforce import Salesforce

from . import redact
from .errors import RetryPolicy, VerifyError, with_retry

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
    """A requests session with a default timeout, a read-only guard and usage accounting.

    simple-salesforce sends every call (login, REST, Bulk 2.0) through the session it is
    given, so this is the one place to enforce them; it uses only the public
    ``Salesforce(session=...)`` parameter.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, usage: ApiUsage | None = None) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.usage = usage or ApiUsage()

    def request(self, method: str | bytes, url: str | bytes,
                *args: Any, **kwargs: Any) -> requests.Response:
        """Send one request: checked read-only, with a timeout, accounted."""
        m = method.decode() if isinstance(method, bytes) else str(method)
        u = url.decode() if isinstance(url, bytes) else str(url)
        path = urlparse(u).path
        if m.upper() not in ("GET", "HEAD") and not (
                m.upper() == "POST" and any(p.search(path) for p in _ALLOWED_POSTS)):
            raise ReadOnlyViolation(f"refused to send {m} {path}: verify-org is read-only")
        kwargs.setdefault("timeout", self.default_timeout)
        response = super().request(m, u, *args, **kwargs)
        self.usage.observe(response)
        log.debug("%s %s -> %s (%s)", m.upper(), redact.redact(path), response.status_code,
                  response.headers.get("Sforce-Limit-Info", "-"))
        return response


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


def _instance_url(url: str) -> str:
    u = url.strip().rstrip("/")
    if "://" not in u:
        u = "https://" + u
    parsed = urlparse(u)
    if parsed.scheme != "https" or not parsed.hostname:
        raise VerifyError(f"bad instance URL {url!r}: expected https://HOST[:PORT] "
                          "(simple-salesforce only speaks HTTPS)", "BAD_FLAG")
    return u


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
    redact.register(token)
    if not token or not url:
        raise VerifyError(f"--target-org {alias}: sf org display gave no accessToken/"
                          "instanceUrl (is the org connected? try `sf org login web`)",
                          "SF_CLI_FAILED")
    return url, token


def _from_env(env: Mapping[str, str], kw: dict[str, Any]) -> str:
    """Fill Salesforce() keyword arguments from SF_* variables; returns a description."""
    def get(name: str) -> str | None:
        v = env.get(name)
        return v if v not in (None, "") else None

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
        kw.update(instance_url=_instance_url(url), session_id=token)
        return "environment (SF_INSTANCE_URL + SF_ACCESS_TOKEN)"
    if url or token:
        missing = "SF_ACCESS_TOKEN" if url else "SF_INSTANCE_URL"
        raise VerifyError(f"incomplete credentials: {missing} is not set", "NO_CREDENTIALS")
    if domain:
        kw["domain"] = domain
    if user and pw and has_token:
        kw.update(username=user, password=pw, security_token=env.get("SF_SECURITY_TOKEN", ""))
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
    version = _api_version(opts.api_version)
    if opts.sim and (opts.instance_url or opts.access_token or opts.target_org):
        raise VerifyError("--sim cannot be combined with --instance-url, --access-token "
                          "or --target-org", "BAD_FLAG")
    if (opts.org_file or opts.scenario or opts.records is not None) and not opts.sim:
        raise VerifyError("--scenario, --records and --org-file need --sim", "BAD_FLAG")
    if opts.org_file and (opts.scenario or opts.records is not None):
        raise VerifyError("--org-file cannot be combined with --scenario/--records",
                          "BAD_FLAG")
    session = VerifySession(timeout=opts.timeout)
    stack = ExitStack()
    kw: dict[str, Any] = {"session": session}
    if version:
        kw["version"] = version
    try:
        if opts.instance_url or opts.access_token:
            if not (opts.instance_url and opts.access_token):
                raise VerifyError("--instance-url and --access-token go together",
                                  "BAD_FLAG")
            kw.update(instance_url=_instance_url(opts.instance_url),
                      session_id=opts.access_token)
            source = "--instance-url/--access-token"
        elif opts.target_org:
            url, token = _sf_cli(opts.target_org, opts.timeout)
            kw.update(instance_url=_instance_url(url), session_id=token)
            source = f"sf CLI alias {opts.target_org}"
        elif opts.sim:
            extra, source = _start_sim(opts, stack, session)
            kw.update(extra)
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
