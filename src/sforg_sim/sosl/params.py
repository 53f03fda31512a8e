"""Parameterized search: a search described by parameters instead of a SOSL statement.

REST API Developer Guide, "Search with Parameters in the URI" (GET) and "Search with
Parameters in the Request Body" (POST), resource ``/services/data/vXX.X/parameterizedSearch/``
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_search_parameterized_get.htm,
.../resources_search_parameterized_post.htm). Modelled parameters:

- ``q`` (required): the search string, in the FIND clause's own syntax ("SOSL clauses
  aren't supported"): this replaces ``FIND searchString IN ALL FIELDS``;
- ``sobject`` / ``sobjects[].name``: objects to return (none: every searchable object);
- ``fields`` (global) and ``<sobject>.fields`` / ``sobjects[].fields`` (which override the
  global list); none: only Ids;
- ``<sobject>.where`` / ``sobjects[].where``, ``<sobject>.orderBy`` / ``sobjects[].orderBy``
  (SOQL condition and ORDER BY text), ``<sobject>.limit`` / ``sobjects[].limit``;
- ``defaultLimit`` (per object, "ignored for that object" when it has its own limit; at
  least one sobject), ``overallLimit`` (across all objects), both at most 2,000;
- ``in``: ALL, NAME, EMAIL, PHONE (SIDEBAR refused, as in SOSL);
- ``offset``: one sobject only, at most 2,000;
- ``spellCorrection``: accepted; no spell correction is modelled.

The documented parameters for Knowledge, divisions, sites, products, snippets, metadata
and tracking (dataCategory/dataCategories, division, netWorkIds, pricebookId, snippet,
highlight, metadata, updateTracking, updateViewStat) are refused by name with
MALFORMED_SEARCH (Salesforce's answer for an org without those features is unconfirmed);
other parameter names are ignored.

The search runs as the SOSL statement these parameters describe (:func:`statement`), so
a bad ``where`` is reported at its place in that statement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import MalformedSearch
from .engine import run
from .parser import MAX_LIMIT, MAX_OFFSET, fail_at, parse
from .terms import parse_terms

if TYPE_CHECKING:
    from ..schema import Schema
    from ..soql.engine import Engine

__all__ = ["REFUSED", "ObjectRequest", "SearchRequest", "parameterized_body", "statement"]

REFUSED = {
    "datacategory": "dataCategory (Salesforce Knowledge)",
    "datacategories": "dataCategories (Salesforce Knowledge)",
    "division": "division (the org does not use divisions)",
    "networkids": "netWorkIds (Experience Cloud sites)",
    "pricebookid": "pricebookId (Product2 search)",
    "snippet": "snippet (article snippets)",
    "highlight": "highlight (highlighted search terms)",
    "metadata": "metadata (field labels in the response)",
    "updatetracking": "updateTracking (Salesforce Knowledge)",
    "updateviewstat": "updateViewStat (Salesforce Knowledge)",
}
"""Documented parameters the simulator refuses by name (lower case -> what it is)."""

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*$")
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_.]*(\(\s*[A-Za-z][A-Za-z0-9_.]*\s*\))?$")


@dataclass
class ObjectRequest:
    """One object of a parameterized search."""

    name: str
    fields: list[str] | None = None
    where: str | None = None
    order_by: str | None = None
    limit: int | None = None


@dataclass
class SearchRequest:
    """A parameterized search, from GET parameters or a POST body."""

    q: str
    objects: list[ObjectRequest] = field(default_factory=list)
    fields: list[str] | None = None
    scope: str = "ALL"
    overall_limit: int | None = None
    default_limit: int | None = None
    offset: int | None = None


def _bad(detail: str) -> MalformedSearch:
    return MalformedSearch(detail)


def count_param(name: str, value: Any) -> int:
    """A limit or offset parameter: a whole number from 0 (text or JSON number)."""
    if isinstance(value, bool):
        raise _bad(f"{name} must be a whole number, not {value!r}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and value.strip().isdigit():
        n = int(value.strip())
    else:
        raise _bad(f"{name} must be a whole number, not {value!r}")
    if n < 0:
        raise _bad(f"{name} must not be negative")
    return n


def _fields(names: Sequence[str], where: str) -> str:
    for f in names:
        if not isinstance(f, str) or not _FIELD.match(f.strip()):
            raise _bad(f"Invalid field name in {where}: {f!r}")
    return ", ".join(f.strip() for f in names)


def statement(req: SearchRequest) -> str:
    """The SOSL statement ``req`` describes, with ``{search}`` standing in for the search
    string (the caller parses ``q`` itself and hands it to the parser)."""
    scope = req.scope.upper()
    if scope not in ("ALL", "NAME", "EMAIL", "PHONE", "SIDEBAR"):
        raise _bad(f"Invalid value for in: {req.scope} (ALL, NAME, EMAIL or PHONE)")
    if not req.objects and (req.fields is not None or req.default_limit is not None):
        # fields: "At least one sobjects must be specified at the global level";
        # defaultLimit: "At least one sobject must be specified".
        raise _bad("fields and defaultLimit need at least one sobject")
    if req.offset is not None:
        if len(req.objects) != 1:
            raise _bad("offset can be used only with exactly one sobject")
        if req.offset > MAX_OFFSET:
            raise _bad("SOSL offset should be between 0 to 2000")
    parts = [f"FIND {{search}} IN {scope} FIELDS"]
    specs = []
    seen: set[str] = set()
    for obj in req.objects:
        if not _NAME.match(obj.name):
            raise _bad(f"Invalid sobject name: {obj.name!r}")
        if obj.name.lower() in seen:
            raise _bad(f"duplicate sobject: {obj.name}")
        seen.add(obj.name.lower())
        names = obj.fields if obj.fields is not None else req.fields
        body = _fields(names, f"{obj.name} fields") if names else "Id"
        if obj.where is not None and obj.where.strip():
            body += f" WHERE {obj.where}"
        if obj.order_by is not None and obj.order_by.strip():
            body += f" ORDER BY {obj.order_by}"
        limit = obj.limit if obj.limit is not None else req.default_limit
        if limit is not None:
            body += f" LIMIT {min(limit, MAX_LIMIT)}"
        if req.offset is not None:
            body += f" OFFSET {req.offset}"
        specs.append(f"{obj.name}({body})")
    if specs:
        parts.append("RETURNING " + ", ".join(specs))
    if req.overall_limit is not None:
        parts.append(f"LIMIT {min(req.overall_limit, MAX_LIMIT)}")
    return " ".join(parts)


def parameterized_body(engine: Engine, schema: Schema, req: SearchRequest
                       ) -> dict[str, Any]:
    """The ``parameterizedSearch`` body: ``{"searchRecords": [...]}`` like ``search``."""
    q = req.q
    if not isinstance(q, str) or not q.strip():
        raise _bad("The q parameter (the search string) is required")
    text = statement(req)
    terms = parse_terms(q, lambda off, detail: fail_at(q, off, detail))
    if terms is None:  # longer than 10,000 characters: no rows
        parse(text)
        return {"searchRecords": []}
    parsed = parse(text, terms=terms)
    lists = run(engine, schema, parsed)
    return {"searchRecords": [r for rows in lists for r in rows]}
