"""Sessions and the login endpoints: SOAP ``login``, OAuth 2.0 token, ``userinfo``.

:class:`SessionStore` (``sessions(org)``, one per org, owned by the REST layer): bearer
tokens mapped to a user, with an inactivity timeout on the org's SimClock (Salesforce's
default session timeout is two hours; ``timeout=None`` disables expiry). While a server
runs jobs in the background (``serve(org, run_jobs=True)``) the simulated clock races
ahead of the user, so it sets :attr:`SessionStore.wall` and inactivity is measured in wall
time: the timeout is about the user's inactivity, which is real time (a team polling
every 30 minutes through a simulated night keeps its session). Tests call
:meth:`SessionStore.expire_all` to see ``401 INVALID_SESSION_ID`` and a client's re-login.

Wire formats follow docs/research/simple_salesforce.md §1 (what simple-salesforce sends
and parses, verified against 1.12.10). Deviations:
- sessions live in memory only (not saved in org files), like real sessions do not
  survive a password reset, they do not survive ``Org.open``;
- the JWT bearer grant always verifies the assertion (*Salesforce Help*, "OAuth 2.0 JWT
  Bearer Flow for Server-to-Server Integration",
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm: the
  JWT is signed with RSA SHA256 by the key whose certificate the connected app holds;
  ``aud`` is ``https://login.salesforce.com``, ``https://test.salesforce.com`` or the
  site's URL; ``exp`` bounds the assertion's life). Only RS256 is accepted (an unsigned
  ``alg: none`` or an HS256 assertion is refused), with the connected app's key: the
  certificate set as ``jwt_public_key``, else the pair :meth:`SessionStore.jwt_key_pair`
  makes (``sforg-sim serve`` writes it to files and prints their paths). ``exp`` must be
  after the org's SimClock (which ``serve`` follows). Accepted audiences: the two login
  hosts, a My Domain (``https://*.my.salesforce.com``) and the URL the client reached (so
  simple-salesforce's ``domain="127.0.0.1:PORT/x"`` trick works; it sends
  ``https://127.0.0.1:PORT/x.salesforce.com``). Failures are HTTP 400
  ``{"error": "invalid_grant", "error_description": ...}`` with the descriptions real
  orgs answer (captured in client issues, not documented): "invalid assertion" (bad or
  missing signature, wrong key, unreadable claims), "expired authorization code" (``exp``
  passed; e.g. simple-salesforce issue #491), "audience is invalid", "user hasn't
  approved this consumer" (unknown ``sub``);
- the fixed credentials (:data:`DEFAULT_PASSWORD`, :data:`DEFAULT_TOKEN`,
  :data:`DEFAULT_CONSUMER_KEY`, :data:`DEFAULT_CONSUMER_SECRET`) are **test-only**:
  ``mock_org`` keeps them (documented, so tests can log in); ``sforg-sim serve``
  replaces them with random ones per start (:meth:`SessionStore.randomize`) unless run
  with ``--credentials fixed``;
- SOAP and OAuth logins are not charged to the API allocation (REST guide: logins are
  not API requests; unconfirmed for SOAP ``login()``).
"""

from __future__ import annotations

import base64
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from ..errors import InvalidSessionId
from .messages import Call, Response, json_response

if TYPE_CHECKING:
    from ..org import Org

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_TOKEN", "Session", "SessionStore", "oauth_token",
           "revoke", "soap_login", "userinfo"]

DEFAULT_PASSWORD = "sim-password-1"
"""Test-only admin password (public: anyone who reads this can log in to a fixed org)."""
DEFAULT_TOKEN = "SIMSECURITYTOKEN0000000"
"""Test-only security token of the admin."""
DEFAULT_CONSUMER_KEY = "3MVG9SIM.consumer.key"
"""Test-only connected-app consumer key (client id)."""
DEFAULT_CONSUMER_SECRET = "SIMCONSUMERSECRET0000"
"""Test-only connected-app consumer secret."""
SESSION_TIMEOUT = 2 * 3600.0
_SESSION_MSG = "Session expired or invalid"
_LOGIN_FAILED = "Invalid username, password, security token; or user locked out."


@dataclass
class Session:
    """One issued bearer token: who, and when it was last used (SimClock seconds)."""

    token: str
    user_id: str
    last_used: float
    last_wall: float | None = None


@dataclass
class _Credential:
    user_id: str
    username: str
    password: str
    security_token: str


def sessions(org: Org) -> SessionStore:
    """The REST surface's session state of ``org`` (tokens, credentials), made on first use
    and kept with the org."""
    return org.attached(SessionStore, lambda: SessionStore(org))


class SessionStore:
    """Bearer tokens and login credentials of one org.

    Defaults: the admin user (``org.user_id``) logs in with :data:`DEFAULT_PASSWORD` and
    :data:`DEFAULT_TOKEN`; OAuth clients use :data:`DEFAULT_CONSUMER_KEY` and secret.
    ``trusted_ip=True`` accepts a password without the security token (as an org whose
    login IP ranges include the caller does).
    """

    def __init__(self, org: Org, timeout: float | None = SESSION_TIMEOUT) -> None:
        self.org = org
        self.timeout = timeout
        self.trusted_ip = False
        self.consumer_key = DEFAULT_CONSUMER_KEY
        self.consumer_secret = DEFAULT_CONSUMER_SECRET
        self.jwt_public_key: str | bytes | None = None
        """The connected app's certificate or public key (PEM) that JWT assertions must be
        signed for; None: the key pair of :meth:`jwt_key_pair` (made on first use)."""
        self._key_pair: tuple[bytes, bytes] | None = None
        self._sessions: dict[str, Session] = {}
        self.wall: Callable[[], float] | None = None
        """When set (a server running jobs), the inactivity clock (see the module doc)."""
        self._credentials: dict[str, _Credential] = {}
        admin = org.get("User", org.user_id, ["Username"])["Username"]
        self.add_user(admin, DEFAULT_PASSWORD, DEFAULT_TOKEN, org.user_id)

    # --- credentials ------------------------------------------------------------------------

    def add_user(self, username: str, password: str, security_token: str,
                 user_id: str) -> None:
        """Give ``user_id`` login credentials (the User row must exist for REST to work)."""
        with self.org.lock:
            self._credentials[username.lower()] = _Credential(
                user_id, username, password, security_token)

    def randomize(self) -> None:
        """Replace the admin's password and security token and the connected app's
        consumer key and secret with fresh random values (``serve`` does, per start).

        Passwords use URL-safe characters only: SOAP logins carry them in XML and OAuth
        ones in a form body.
        """
        with self.org.lock:
            admin = self.admin
            alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
            self.add_user(admin.username, "sim-" + secrets.token_urlsafe(18),
                          "".join(secrets.choice(alnum) for _ in range(24)), admin.user_id)
            self.consumer_key = "3MVG9" + secrets.token_urlsafe(60)
            self.consumer_secret = secrets.token_hex(32).upper()

    def jwt_key_pair(self) -> tuple[bytes, bytes]:
        """``(private key PEM, certificate PEM)`` of the connected app, made on first use
        (RSA 2048, a self-signed certificate valid for a year of wall time). Assertions
        are verified against this certificate unless ``jwt_public_key`` is set."""
        with self.org.lock:
            if self._key_pair is None:
                self._key_pair = _make_key_pair(self.consumer_key)
            return self._key_pair

    def _jwt_verifier(self) -> Any:
        """The public key assertions are checked against (see ``jwt_public_key``)."""
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        pem = self.jwt_public_key
        if pem is None:
            pem = self.jwt_key_pair()[1]
        raw = pem.encode() if isinstance(pem, str) else pem
        if b"CERTIFICATE" in raw:
            return x509.load_pem_x509_certificate(raw).public_key()
        return load_pem_public_key(raw)

    @property
    def admin(self) -> _Credential:
        """The admin's credentials (what ``mock_org`` exposes)."""
        return next(c for c in self._credentials.values() if c.user_id == self.org.user_id)

    @property
    def username(self) -> str:
        """The admin's username."""
        return self.admin.username

    @property
    def password(self) -> str:
        """The admin's password."""
        return self.admin.password

    @property
    def security_token(self) -> str:
        """The admin's security token."""
        return self.admin.security_token

    def check_password(self, username: str, password: str, *,
                       token_appended: bool = True) -> str | None:
        """The user id when the credentials are right, else None.

        ``password`` is password + token (SOAP and the OAuth password grant both append
        it); the bare password is accepted only from a trusted IP (``trusted_ip``).
        """
        cred = self._credentials.get(username.lower())
        if cred is None:
            return None
        if password == cred.password + cred.security_token:
            return cred.user_id
        if (self.trusted_ip or not token_appended) and password == cred.password:
            return cred.user_id
        return None

    def user_for(self, username: str) -> str | None:
        """The user id of a username with credentials, or None."""
        cred = self._credentials.get(username.lower())
        return cred.user_id if cred else None

    # --- sessions ---------------------------------------------------------------------------

    def create(self, user_id: str | None = None) -> str:
        """Issue a new session for ``user_id`` (default: the admin); returns the token.

        Tokens look like real ones (``00D...!AQ...``) and avoid ``& < > "``, which
        simple-salesforce's SOAP parser would leave XML-escaped.
        """
        with self.org.lock:
            token = f"{self.org.org_id[:15]}!AQ{secrets.token_hex(24)}"
            self._sessions[token] = Session(
                token, user_id or self.org.user_id, self.org.clock.time(),
                self.wall() if self.wall is not None else None)
            return token

    def validate(self, token: str | None) -> str:
        """The user id of a live session (and mark it used), or INVALID_SESSION_ID (401)."""
        with self.org.lock:
            s = self._sessions.get(token or "")
            now = self.org.clock.time()
            if s is None:
                raise InvalidSessionId(_SESSION_MSG)
            wall = self.wall() if self.wall is not None else None
            if wall is None:
                idle = now - s.last_used
            else:  # a session from before the server started counts from its first use
                idle = wall - s.last_wall if s.last_wall is not None else 0.0
            if self.timeout is not None and idle >= self.timeout:
                del self._sessions[s.token]
                raise InvalidSessionId(_SESSION_MSG)
            s.last_used = now
            s.last_wall = wall
            return s.user_id

    def expire(self, token: str) -> None:
        """End one session (as a logout or an admin's "Remove" does)."""
        with self.org.lock:
            self._sessions.pop(token, None)

    def expire_all(self) -> None:
        """End every session: the next call with any old token answers 401."""
        with self.org.lock:
            self._sessions.clear()

    def __len__(self) -> int:
        return len(self._sessions)


# --- handlers ---------------------------------------------------------------------------

_SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


def _soap_fault(code: str, message: str) -> Response:
    # The client reads sf:exceptionCode / sf:exceptionMessage by qualified name, so the
    # prefix must literally be "sf" (research §1a).
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        f'xmlns:soapenv="{_SOAP_NS}" xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
        '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>")
    return Response(500, body.encode("utf-8"), {"Content-Type": "text/xml;charset=UTF-8"})


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def soap_login(call: Call) -> Response:
    """``POST .../services/Soap/u/{ver}`` with SOAPAction login: partner ``login()``.

    Success is HTTP 200 with unprefixed ``<sessionId>`` and ``<serverUrl>`` (how
    simple-salesforce finds them); bad credentials give the real INVALID_LOGIN fault
    (HTTP 500). Elements are found by local name, so either envelope style works.
    """
    org, req = call.org, call.request
    try:
        root = ET.fromstring(req.body or b"<x/>")
    except ET.ParseError as e:
        return _soap_fault("INVALID_REQUEST", f"Unable to parse SOAP request: {e}")
    found: dict[str, str] = {}
    for el in root.iter():
        name = _local(el.tag) if isinstance(el.tag, str) else ""
        if name in ("username", "password", "organizationId") and name not in found:
            found[name] = el.text or ""
    if not any(_local(el.tag) == "login" for el in root.iter() if isinstance(el.tag, str)):
        return _soap_fault("INVALID_OPERATION", "No operation available for request login")
    store = sessions(org)
    with org.lock:
        user_id = store.check_password(found.get("username", ""), found.get("password", ""))
        if user_id is None and found.get("organizationId"):
            # LoginScopeHeader logins send no token: allowed only from trusted IP ranges.
            user_id = (store.check_password(found.get("username", ""),
                                            found.get("password", ""), token_appended=False)
                       if store.trusted_ip else None)
        if user_id is None:
            return _soap_fault("INVALID_LOGIN", _LOGIN_FAILED)
        token = store.create(user_id)
        user = org.get("User", user_id, ["Username", "Email", "Name"])
    base = req.instance_url or org.instance_url
    ver = call.params.get("version", org.api_version)
    org15 = org.org_id[:15]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        f'xmlns:soapenv="{_SOAP_NS}" xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse>'
        f"<result><metadataServerUrl>{base}/services/Soap/m/{ver}/{org15}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired>"
        f"<sandbox>{str(org.edition == 'sandbox').lower()}</sandbox>"
        f"<serverUrl>{base}/services/Soap/u/{ver}/{org15}</serverUrl>"
        f"<sessionId>{token}</sessionId><userId>{user_id}</userId>"
        f"<userInfo><organizationId>{org.org_id}</organizationId>"
        f"<userEmail>{escape(user['Email'])}</userEmail>"
        f"<userFullName>{escape(user['Name'] or '')}</userFullName>"
        f"<userId>{user_id}</userId><userName>{escape(user['Username'])}</userName>"
        "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>")
    return Response(200, body.encode("utf-8"), {"Content-Type": "text/xml;charset=UTF-8"})


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response(status, {"error": error, "error_description": description})


def oauth_token(call: Call) -> Response:
    """``POST .../services/oauth2/token``: password, client_credentials and JWT grants.

    Always JSON (simple-salesforce parses the body whatever the status). Failures use the
    real ``error``/``error_description`` pairs: ``invalid_grant``/"authentication failure",
    ``invalid_client_id``/"client identifier invalid", ``invalid_client``/"invalid client
    credentials", ``unsupported_grant_type``/"grant type not supported".
    """
    org, req = call.org, call.request
    try:
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8"),
                                              keep_blank_values=True).items()}
    except UnicodeDecodeError:
        return _oauth_error("invalid_request", "invalid request body")
    form.update({k: v[0] for k, v in req.query.items() if k not in form})
    store = sessions(org)
    grant = form.get("grant_type", "")
    with org.lock:
        if grant == "password":
            if form.get("client_id") != store.consumer_key:
                return _oauth_error("invalid_client_id", "client identifier invalid")
            if form.get("client_secret") != store.consumer_secret:
                return _oauth_error("invalid_client", "invalid client credentials")
            user_id = store.check_password(form.get("username", ""),
                                           form.get("password", ""), token_appended=False)
        elif grant == "client_credentials":
            key, secret = _basic_auth(req.headers.get("authorization", ""))
            key = key or form.get("client_id")
            secret = secret or form.get("client_secret")
            if key != store.consumer_key:
                return _oauth_error("invalid_client_id", "client identifier invalid")
            if secret != store.consumer_secret:
                return _oauth_error("invalid_client", "invalid client credentials")
            user_id = org.user_id  # the connected app's "run as" user
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            user_id, problem = _jwt_user(store, form.get("assertion", ""),
                                         req.instance_url or org.instance_url)
            if problem:
                return _oauth_error("invalid_grant", problem)
        else:
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        if user_id is None:
            return _oauth_error("invalid_grant", "authentication failure")
        token = store.create(user_id)
    instance = req.instance_url or org.instance_url
    stamp = str(int(org.clock.time() * 1000))
    return json_response(200, {
        "access_token": token, "instance_url": instance,
        "id": f"https://login.salesforce.com/id/{org.org_id}/{user_id}",
        "token_type": "Bearer", "issued_at": stamp,
        "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
    })


def revoke(call: Call) -> Response:
    """``POST`` (form ``token=...``) or ``GET`` (``?token=...``) ``.../services/oauth2/revoke``:
    end a session.

    *Mobile SDK Development Guide*, "Revoking OAuth Tokens"
    (https://developer.salesforce.com/docs/atlas.en-us.mobile_sdk.meta/mobile_sdk/oauth_revoking_tokens.htm):
    "If an access token is included, Salesforce invalidates it and revokes the token";
    success is HTTP 200, every error HTTP 400 with ``unsupported_token_type`` ("Token type
    not supported") or ``invalid_token`` ("Token was invalid"). The blind ``GET`` form with
    the token as a query parameter is from the Salesforce Developers blog post "Revoking
    OAuth 2.0 Access Tokens and Refresh Tokens" (2011). Later calls with a revoked token
    are answered 401 INVALID_SESSION_ID like any ended session.

    Deviations: the 200 body is empty (the documentation shows none); error bodies are
    the ``{"error", "error_description"}`` object the token endpoint uses (the
    documentation names the codes, not the body). Only access tokens (sessions) exist in
    the simulator, so ``unsupported_token_type`` is never answered; an unknown, expired or
    missing token is ``invalid_token``. The endpoint needs no ``Authorization`` header (the
    token is the credential) and is not charged, like the other OAuth endpoints.
    """
    req = call.request
    try:
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8"),
                                              keep_blank_values=True).items()}
    except UnicodeDecodeError:
        return _oauth_error("invalid_token", "Token was invalid")
    token = form.get("token") or req.arg("token") or ""
    store = sessions(call.org)
    with call.org.lock:
        try:
            store.validate(token)
        except InvalidSessionId:
            return _oauth_error("invalid_token", "Token was invalid")
        store.expire(token)
    return Response(200, b"", {})


def _basic_auth(header: str) -> tuple[str | None, str | None]:
    if not header.lower().startswith("basic "):
        return None, None
    try:
        key, _, secret = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None, None
    return key, secret


def _make_key_pair(common_name: str) -> tuple[bytes, bytes]:
    """A fresh RSA key and a self-signed certificate for it, both PEM."""
    import datetime as _dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                         f"sforg-sim connected app {common_name[:20]}")])
    # The certificate's validity is wall time: it is read by the client's tools, not by
    # the simulator (which checks the signature with the public key only).
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1))
            .not_valid_after(now + _dt.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return private, cert.public_bytes(serialization.Encoding.PEM)


def _audience_ok(aud: Any, instance_url: str) -> bool:
    """True when one of ``aud``'s values names this authorization server (module doc)."""
    values = aud if isinstance(aud, list) else [aud]
    own = instance_url.rstrip("/").lower()
    for v in values:
        if not isinstance(v, str):
            continue
        v = v.strip().rstrip("/").lower()
        if v in ("https://login.salesforce.com", "https://test.salesforce.com"):
            return True
        if re.fullmatch(r"https://[a-z0-9-]+(?:\.[a-z0-9-]+)*\.my\.salesforce\.com", v):
            return True
        if own and (v == own or v.startswith(own + "/")):
            return True
    return False


def _jwt_user(store: SessionStore, assertion: str, instance_url: str
              ) -> tuple[str | None, str | None]:
    import jwt  # PyJWT: a dependency of simple-salesforce

    try:
        # RS256 only: "alg: none" and HMAC assertions (signed with a guessable shared
        # secret) are refused by the algorithm list itself. exp/nbf/iat are not checked
        # here (PyJWT would use the wall clock); exp is checked below on the SimClock.
        claims: dict[str, Any] = jwt.decode(
            assertion, store._jwt_verifier(), algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                     "verify_iat": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        return None, "invalid assertion"
    try:
        # simple-salesforce sends exp as a string of digits; both forms are accepted.
        exp = float(claims["exp"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return None, "invalid assertion"
    if not exp > store.org.clock.time():  # also refuses NaN
        return None, "expired authorization code"
    if claims.get("iss") != store.consumer_key:
        return None, "invalid_app_access"
    if not _audience_ok(claims.get("aud"), instance_url):
        return None, "audience is invalid"
    user_id = store.user_for(str(claims.get("sub", "")))
    if user_id is None:
        return None, "user hasn't approved this consumer"
    return user_id, None


def userinfo(call: Call) -> Response:
    """``GET /services/oauth2/userinfo``: the OpenID Connect user info of the session."""
    org = call.org
    uid = call.user_id or org.user_id
    user = org.get("User", uid, ["Username", "Email", "Name", "FirstName", "LastName"])
    return json_response(200, {
        "sub": f"https://login.salesforce.com/id/{org.org_id}/{uid}",
        "user_id": uid, "organization_id": org.org_id,
        "preferred_username": user["Username"], "nickname": user["Username"].split("@")[0],
        "name": user["Name"], "email": user["Email"], "email_verified": True,
        "given_name": user["FirstName"], "family_name": user["LastName"],
        "zoneinfo": "GMT", "active": True, "user_type": "STANDARD", "language": "en_US",
        "locale": "en_US", "utcOffset": 0,
        "urls": {"rest": f"{call.request.instance_url or org.instance_url}"
                         f"/services/data/v{{version}}/"},
    })
