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

The search runs as the SOSL statement these parameters describe (:func:`statement`).
The ``where`` and ``orderBy`` texts are parsed each on its own first, inside a statement
of their own (:func:`_check_clause`): a text must be exactly one condition / one ORDER BY
list, so ``Account.where=Name != null), Contact(LastName`` cannot close the object's
parentheses and add objects or clauses to the search. The assembled statement is then
checked to hold exactly the requested objects with exactly those texts. Errors in a
parameter (syntax, or INVALID_FIELD and the like when the search runs) are reported
against that parameter's own text, named in the message (``Account.where: ...``), not
against the internal statement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import MalformedSearch, SalesforceError
from ..soql.parser import caret
from .engine import run
from .parser import MAX_LIMIT, MAX_OFFSET, Span, fail_at, parse
from .terms import TermExpr, parse_terms

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


@dataclass(frozen=True)
class _Piece:
    """A parameter's text copied into the statement: where, under which name, what."""

    start: int
    label: str
    text: str
    kind: str  # "where", "order" or "fields"
    obj: str

    @property
    def span(self) -> Span:
        return Span(self.start, self.start + len(self.text))


def statement(req: SearchRequest) -> str:
    """The SOSL statement ``req`` describes, with ``{search}`` standing in for the search
    string (the caller parses ``q`` itself and hands it to the parser)."""
    return _build(req)[0]


def _build(req: SearchRequest) -> tuple[str, list[_Piece]]:
    """:func:`statement` and where each parameter's text sits in it."""
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
    out = "FIND {search} IN "
    pieces: list[_Piece] = []

    def add(label: str, kind: str, obj: str, text: str) -> None:
        nonlocal out
        pieces.append(_Piece(len(out), label, text, kind, obj))
        out += text

    add("in", "in", "", scope)
    out += " FIELDS"

    seen: set[str] = set()
    for i, obj in enumerate(req.objects):
        if not _NAME.match(obj.name):
            raise _bad(f"Invalid sobject name: {obj.name!r}")
        if obj.name.lower() in seen:
            raise _bad(f"duplicate sobject: {obj.name}")
        seen.add(obj.name.lower())
        out += " RETURNING " if i == 0 else ", "
        add("sobject", "sobject", obj.name, obj.name)
        out += "("
        names = obj.fields if obj.fields is not None else req.fields
        if names:
            add(f"{obj.name}.fields" if obj.fields is not None else "fields", "fields",
                obj.name, _fields(names, f"{obj.name} fields"))
        else:
            out += "Id"
        if obj.where is not None and obj.where.strip():
            out += " WHERE "
            add(f"{obj.name}.where", "where", obj.name, obj.where.strip())
        if obj.order_by is not None and obj.order_by.strip():
            out += " ORDER BY "
            add(f"{obj.name}.orderBy", "order", obj.name, obj.order_by.strip())
        limit = obj.limit if obj.limit is not None else req.default_limit
        if limit is not None:
            out += f" LIMIT {min(limit, MAX_LIMIT)}"
        if req.offset is not None:
            out += f" OFFSET {req.offset}"
        out += ")"
    if req.overall_limit is not None:
        out += f" LIMIT {min(req.overall_limit, MAX_LIMIT)}"
    return out, pieces


_CARET_AT = re.compile(r"ERROR at Row:(\d+):Column:(\d+)\n")


def _error_offset(text: str, message: str) -> tuple[int, str] | None:
    """(offset into ``text``, detail) of a caret-layout error message about ``text``."""
    m = _CARET_AT.search(message)
    if m is None:
        return None
    row, col = int(m.group(1)), int(m.group(2))
    lines = text.split("\n")
    return sum(len(line) + 1 for line in lines[:row - 1]) + col - 1, message[m.end():]


def _against(piece: _Piece, e: SalesforceError, text: str) -> SalesforceError:
    """``e`` (an error about ``text``, the assembled statement or a statement built
    around one parameter) reported against the parameter's own text instead."""
    found = _error_offset(text, e.message)
    if found is None:
        return e
    off, detail = found
    at = max(0, min(off - piece.start, len(piece.text)))
    line = piece.text.count("\n", 0, at) + 1
    col = at - (piece.text.rfind("\n", 0, at) + 1) + 1
    out = type(e)(caret(piece.text, (line, col), f"{piece.label}: {detail}"), e.fields)
    out.status = e.status
    return out


def _piece_at(pieces: Sequence[_Piece], text: str, e: SalesforceError) -> _Piece | None:
    found = _error_offset(text, e.message)
    if found is None:
        return None
    return next((p for p in pieces if p.start <= found[0] <= p.start + len(p.text)), None)


def _check_clause(piece: _Piece, terms: TermExpr) -> None:
    """Parse one ``where``/``orderBy`` text on its own, as the only clause of a one-object
    statement, and require that it is read back whole as that clause: a text that closes
    the parentheses, adds a clause or names another object is refused against the
    parameter."""
    clause = "WHERE" if piece.kind == "where" else "ORDER BY"
    head = f"FIND {{x}} RETURNING {piece.obj}(Id {clause} "
    text = head + piece.text + ")"
    local = _Piece(len(head), piece.label, piece.text, piece.kind, piece.obj)
    try:
        parsed = parse(text, terms=terms)
    except SalesforceError as e:
        raise _against(local, e, text) from None
    spec = parsed.returning[0]
    got = spec.where if piece.kind == "where" else spec.order
    if len(parsed.returning) != 1 or got != local.span or spec.limit is not None or \
            spec.offset is not None or (piece.kind == "where" and spec.order is not None):
        # point just past what was read as the clause (the ")" that closed it early)
        at = got.end - local.start if got is not None and got.start == local.start else 0
        while at < len(piece.text) and piece.text[at].isspace():
            at += 1
        line = piece.text.count("\n", 0, at) + 1
        col = at - (piece.text.rfind("\n", 0, at) + 1) + 1
        raise MalformedSearch(caret(piece.text, (line, col), f"{piece.label}: must be one "
                                    f"{'condition' if piece.kind == 'where' else 'ORDER BY list'}"
                                    " and nothing else"))


def _check_statement(req: SearchRequest, parsed: Any, pieces: Sequence[_Piece]) -> None:
    """The assembled statement holds the requested objects, in order, each with exactly
    the texts its parameters gave (the per-parameter checks make this hold; it is
    checked again so no parameter can ever add to the search)."""
    names = [spec.name.lower() for spec in parsed.returning]
    if names != [o.name.lower() for o in req.objects]:
        raise _bad("the search parameters do not describe the requested sobjects")
    by_obj = {spec.name.lower(): spec for spec in parsed.returning}
    for piece in pieces:
        if piece.kind not in ("where", "order", "fields"):
            continue
        spec = by_obj[piece.obj.lower()]
        got = {"where": spec.where, "order": spec.order, "fields": spec.fields}[piece.kind]
        if got != piece.span:
            raise MalformedSearch(caret(piece.text, (1, 1), f"{piece.label}: not read as "
                                        "one clause of the search"))


def parameterized_body(engine: Engine, schema: Schema, req: SearchRequest
                       ) -> dict[str, Any]:
    """The ``parameterizedSearch`` body: ``{"searchRecords": [...]}`` like ``search``."""
    q = req.q
    if not isinstance(q, str) or not q.strip():
        raise _bad("The q parameter (the search string) is required")
    text, pieces = _build(req)
    terms = parse_terms(q, lambda off, detail: fail_at(q, off, detail))
    probe = terms if terms is not None else parse_terms("ab", lambda o, d: _bad(d))
    assert probe is not None
    for piece in pieces:
        if piece.kind in ("where", "order"):
            _check_clause(piece, probe)
    try:
        parsed = parse(text, terms=probe)
    except SalesforceError as e:
        where = _piece_at(pieces, text, e)
        raise (e if where is None else _against(where, e, text)) from None
    _check_statement(req, parsed, pieces)
    if terms is None:  # longer than 10,000 characters: no rows
        return {"searchRecords": []}
    try:
        lists = run(engine, schema, parsed)
    except SalesforceError as e:
        where = _piece_at(pieces, text, e)
        raise (e if where is None else _against(where, e, text)) from None
    return {"searchRecords": [r for rows in lists for r in rows]}
