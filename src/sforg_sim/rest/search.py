"""``search`` (SOSL) and ``parameterizedSearch`` (GET and POST).

The handlers read the request and pass it to :mod:`sforg_sim.sosl`, under the org's lock;
the body is ``{"searchRecords": [...]}`` (REST API Developer Guide, "Search",
"Search for a String", "Search with Parameters in the URI", "Search with Parameters in
the Request Body"; https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_search.htm).
simple-salesforce's ``search(sosl)`` asks ``GET search/?q=...`` and ``quick_search(x)``
wraps ``x`` as ``FIND {x}`` (docs/research/simple_salesforce.md). Each request is one
API call (the routes are counted).

A malformed statement is MALFORMED_SEARCH (400) with the caret layout; an unknown object
INVALID_TYPE and an unknown field INVALID_FIELD, as for SOQL.
"""

from __future__ import annotations

from typing import Any

from ..errors import JsonParserError, MalformedSearch
from ..sosl.engine import search_body
from ..sosl.params import REFUSED, ObjectRequest, SearchRequest, count_param, parameterized_body
from ..sosl.parser import NO_TERM
from .messages import Call, Response, json_response

__all__ = ["parameterized_get", "parameterized_post", "search"]


def search(call: Call) -> Response:
    """``GET search/?q=SOSL``."""
    q = call.request.arg("q")
    if q is None or not q.strip():
        raise MalformedSearch(NO_TERM)
    org = call.org
    with org.lock:
        body = search_body(org.soql, org.schema, q)
    return json_response(200, body)


def _run(call: Call, req: SearchRequest) -> Response:
    org = call.org
    with org.lock:
        body = parameterized_body(org.soql, org.schema, req)
    return json_response(200, body)


def _refuse(names: Any) -> None:
    for name in names:
        what = REFUSED.get(str(name).lower())
        if what is not None:
            raise MalformedSearch(f"The parameter {what} is not supported by sforg-sim")


def _split(value: str) -> list[str]:
    return [v for v in (p.strip() for p in value.split(",")) if v]


def parameterized_get(call: Call) -> Response:
    """``GET parameterizedSearch/?q=...&sobject=...&<sobject>.fields=...``."""
    args = call.request.query
    _refuse(args)

    def one(name: str) -> str | None:
        for key, values in args.items():
            if key.lower() == name.lower() and values:
                return values[0]
        return None

    def count(name: str) -> int | None:
        v = one(name)
        return None if v is None else count_param(name, v)

    objects = []
    for name in args.get("sobject", []):
        objects.append(ObjectRequest(
            name=name,
            fields=_split(v) if (v := one(f"{name}.fields")) is not None else None,
            where=one(f"{name}.where"),
            order_by=one(f"{name}.orderBy"),
            limit=count(f"{name}.limit")))
    fields = one("fields")
    spell = one("spellCorrection")
    if spell is not None and spell.lower() not in ("true", "false"):
        raise MalformedSearch(f"spellCorrection must be true or false, not {spell!r}")
    return _run(call, SearchRequest(
        q=one("q") or "", objects=objects,
        fields=_split(fields) if fields is not None else None,
        scope=one("in") or "ALL", overall_limit=count("overallLimit"),
        default_limit=count("defaultLimit"), offset=count("offset")))


def _str_list(value: Any, name: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise JsonParserError(f"Cannot deserialize {name}: expected an array of strings")
    return value


def _opt_str(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise JsonParserError(f"Cannot deserialize {name}: expected a string")
    return value


def parameterized_post(call: Call) -> Response:
    """``POST parameterizedSearch/`` with a JSON body (q, fields, sobjects, in, ...)."""
    body = call.json()
    if not isinstance(body, dict):
        raise JsonParserError("Cannot deserialize the request body: expected a JSON object")
    _refuse(body)
    objects = []
    raw_objects = body.get("sobjects")
    if raw_objects is not None and not isinstance(raw_objects, list):
        raise JsonParserError("Cannot deserialize sobjects: expected an array")
    for item in raw_objects or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise JsonParserError("Cannot deserialize sobjects: each needs a string name")
        lim = item.get("limit")
        objects.append(ObjectRequest(
            name=item["name"], fields=_str_list(item.get("fields"), "sobjects.fields"),
            where=_opt_str(item.get("where"), "sobjects.where"),
            order_by=_opt_str(item.get("orderBy"), "sobjects.orderBy"),
            limit=None if lim is None else count_param("limit", lim)))
    spell = body.get("spellCorrection")
    if spell is not None and not isinstance(spell, bool):
        raise JsonParserError("Cannot deserialize spellCorrection: expected a boolean")

    def count(name: str) -> int | None:
        v = body.get(name)
        return None if v is None else count_param(name, v)

    return _run(call, SearchRequest(
        q=_opt_str(body.get("q"), "q") or "", objects=objects,
        fields=_str_list(body.get("fields"), "fields"),
        scope=_opt_str(body.get("in"), "in") or "ALL",
        overall_limit=count("overallLimit"), default_limit=count("defaultLimit"),
        offset=count("offset")))
