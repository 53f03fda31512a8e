"""Adapter-neutral HTTP request and response objects, and the per-call context.

Both adapters (``mock_org`` over ``responses`` and the werkzeug HTTPS server) translate
their native request into :class:`Request`, hand it to :func:`.dispatch.handle` and turn the
:class:`Response` back into their native form. Keeping this layer plain (bytes, dicts)
is what lets one route table serve both adapters without drifting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ..errors import JsonParserError, UnsupportedMediaType

if TYPE_CHECKING:
    from ..org import Org

__all__ = ["Call", "Request", "Response", "csv_response", "empty_response", "json_response",
           "utf8"]

JSON_TYPE = "application/json;charset=UTF-8"
CSV_TYPE = "text/csv; charset=UTF-8"
"""CSV must name its charset: requests decodes a bare ``text/csv`` as ISO-8859-1."""


@dataclass
class Request:
    """One HTTP request as the route table sees it.

    ``path`` is the raw (still percent-encoded) path, so an external id holding ``%2F``
    is not split into two segments; the router unquotes captured values itself.
    ``headers`` keys are lower case. ``instance_url`` is the base URL the client reached
    (the adapter knows it): logins hand it back as ``serverUrl``/``instance_url``.
    """

    method: str
    path: str
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    instance_url: str = ""

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.headers = {k.lower(): v for k, v in self.headers.items()}

    @property
    def query(self) -> dict[str, list[str]]:
        """Query parameters, form-decoded (``+`` is a space, as requests encodes ``q=``)."""
        return parse_qs(self.query_string, keep_blank_values=True)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case ('' when absent)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass
class Response:
    """Status, headers and body bytes. Adapters copy these out verbatim."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body parsed as JSON (None when empty); used by composite subrequests."""
        return json.loads(self.body) if self.body else None


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None
                  ) -> Response:
    """A JSON response (compact: real Salesforce pretty-prints only with X-PrettyPrint).

    Text the client sent can come back in a body (an unknown field name in an error
    message), and JSON lets a client send a lone UTF-16 surrogate (``"\\ud800"``), which
    UTF-8 cannot encode. Such a body is written with ``\\uXXXX`` escapes instead: still
    valid JSON that decodes to the same text, never an encoding failure (a 500).
    """
    try:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return Response(status, body, {"Content-Type": JSON_TYPE, **(headers or {})})


def empty_response(status: int = 204) -> Response:
    """A response with no body (204 for update, delete and upsert-by-status)."""
    return Response(status, b"", {})


def csv_response(status: int, text: str, headers: Mapping[str, str] | None = None
                 ) -> Response:
    """A CSV response with an explicit UTF-8 charset (a lone surrogate becomes U+FFFD)."""
    return Response(status, utf8(text), {"Content-Type": CSV_TYPE, **(headers or {})})


_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8(text: str) -> bytes:
    """``text`` as UTF-8, each lone UTF-16 surrogate (not encodable) replaced by U+FFFD.

    CSV has no escape syntax for them, so the replacement character is the only faithful
    choice short of failing the response.
    """
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


# Media types whose body the JSON resources read. XML is accepted and read as JSON: real
# Salesforce would parse XML, but simple-salesforce's mdapi calls leave ``Content-Type:
# text/xml`` on the shared session headers (research §7), and failing every later call would
# make the simulator stricter than any client expects. Documented deviation.
_JSON_TYPES = ("", "application/json", "text/json", "text/xml", "application/xml", "*/*")


@dataclass
class Call:
    """What a handler receives: the org, the request, the route's captured params and the
    authenticated user. ``sub`` runs a subrequest through the same route table (composite)."""

    org: Org
    request: Request
    params: dict[str, str]
    user_id: str | None = None
    sub: Callable[[str, str, Any], Response] | None = None

    @property
    def version(self) -> str:
        """The API version in the URL (``59.0``), or the org's own for version-less routes."""
        return self.params.get("version") or self.org.api_version

    @property
    def base(self) -> str:
        """``/services/data/vXX.X``: the prefix of URLs in response bodies."""
        return f"/services/data/v{self.version}"

    def json(self, *, required: bool = True) -> Any:
        """The body parsed as JSON, or JSON_PARSER_ERROR with a Jackson-style position.

        The message mimics the real one ("Unexpected character ... at [line:1, column:2]");
        its exact wording is not a documented contract.
        """
        ct = self.request.content_type
        if ct not in _JSON_TYPES and not ct.endswith("+json"):
            raise UnsupportedMediaType(f"Content type '{ct}' not supported for this resource")
        raw = self.request.body
        if not raw.strip():
            if required:
                raise JsonParserError("No content to map due to end-of-input")
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonParserError("Invalid UTF-8 start byte in request body") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            ch = text[e.pos] if e.pos < len(text) else ""
            what = (f"Unexpected character ('{ch}' (code {ord(ch)}))" if ch
                    else "Unexpected end-of-input")
            raise JsonParserError(
                f"{what}: expected a valid value (JSON String, Number, Array, Object or "
                f"token 'null', 'true' or 'false') at [line:{e.lineno}, column:{e.colno}]"
            ) from None
        except RecursionError:
            raise JsonParserError("Maximum nesting depth exceeded") from None
        except ValueError:
            # An integer literal longer than Python's int-to-str limit (4,300 digits) is
            # refused by the parser itself (a ValueError that is not a JSONDecodeError).
            # No real field holds such a number, so the body is refused as unparseable.
            raise JsonParserError(
                "Numeric value out of range: an integer of more than 4300 digits") from None
