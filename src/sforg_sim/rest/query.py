"""``query``, ``queryAll``, ``query/{locator}`` and ``tooling/query``.

The SOQL engine (``org.query``) already returns the exact REST body; these handlers read
the request and pass it on. ``Sforce-Query-Options: batchSize=N`` sets the page size
(200..2,000; values outside are clamped, as the REST guide says the size is a request,
not a guarantee). A ``nextRecordsUrl`` works under ``query/`` and ``queryAll/`` alike,
because simple-salesforce's ``query_all_iter`` follows it as given (research §2).

``nextRecordsUrl`` carries the API version of the request that asked for the batch
(``/services/data/v64.0/query/01g...-2000`` for a v64.0 query), as the REST guide's
examples do ("Execute a SOQL Query", "QueryAll More Results"): the engine writes the org's
version, this layer puts the request's in its place.

``&columns=true`` (any of the three query resources) answers the query's column
metadata instead of its records, as ``sf data query`` needs (:mod:`.columns`).

The request's API version reaches the engine (``api_version``): a subquery nested in a
subquery is MALFORMED_QUERY before v58.0, as the SOQL and SOSL Reference documents
("Understanding Relationship Query Limitations").

``tooling/query`` runs the same engine over the org's objects (AsyncApexJob, ApexClass:
the async engine fills AsyncApexJob) and adds the Tooling API's ``size``,
``entityTypeName`` and ``queryLocator`` keys. Deviation: only objects the org defines
can be queried there, not the whole Tooling API schema.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import MalformedQuery
from ..soql.engine import MAX_BATCH, MIN_BATCH
from .columns import column_metadata
from .messages import Call, Response, json_response

__all__ = ["batch_size", "query", "query_all", "query_more", "tooling_query"]

_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.I)


def batch_size(call: Call) -> int | None:
    """The batch size asked for in ``Sforce-Query-Options``, clamped to 200..2000."""
    m = _BATCH.search(call.request.headers.get("sforce-query-options", ""))
    if not m:
        return None
    return max(MIN_BATCH, min(MAX_BATCH, int(m.group(1))))


def _soql(call: Call) -> str:
    q = call.request.arg("q")
    if q is None or not q.strip():
        raise MalformedQuery("A query string has to be specified")
    return q


_VERSIONED = re.compile(r"^/services/data/v[0-9]+\.[0-9]+/")


def _versioned(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its ``nextRecordsUrl`` in the request's API version."""
    url = body.get("nextRecordsUrl")
    if isinstance(url, str):
        body = {**body, "nextRecordsUrl": _VERSIONED.sub(call.base + "/", url, count=1)}
    return body


def _columns(call: Call) -> bool:
    """True for the CLI's ``&columns=true`` variant (see :mod:`.columns`)."""
    return (call.request.arg("columns") or "").lower() == "true"


def _run(call: Call, include_deleted: bool) -> dict[str, Any]:
    if _columns(call):
        return column_metadata(call, _soql(call), include_deleted)
    size = batch_size(call) or MAX_BATCH
    soql = _soql(call)
    # The engine directly (under the org's lock, as ``Org.query`` takes it), because the
    # request's API version decides version-gated rules: nested parent-to-child
    # subqueries need v58.0 (``soql.compiler.NESTED_CHILD_MIN_VERSION``).
    with call.org.lock:
        body = call.org.soql.query(soql, batch_size=size, include_deleted=include_deleted,
                                   api_version=call.version)
    return _versioned(call, body)


def query(call: Call) -> Response:
    """``GET query?q=SOQL``: the first batch and, if more, ``nextRecordsUrl``."""
    return json_response(200, _run(call, False))


def query_all(call: Call) -> Response:
    """``GET queryAll?q=SOQL``: like query, including deleted (and archived) rows."""
    return json_response(200, _run(call, True))


def query_more(call: Call) -> Response:
    """``GET query/{locator}`` (or ``queryAll/{locator}``): the next batch of a cursor."""
    return json_response(200, _versioned(call, call.org.query_more(
        call.params["locator"], batch_size=batch_size(call))))


def tooling_query(call: Call) -> Response:
    """``GET tooling/query?q=SOQL`` (e.g. AsyncApexJob progress)."""
    body = dict(_run(call, False))
    if _columns(call):
        return json_response(200, body)
    records = body.get("records") or []
    entity = records[0]["attributes"]["type"] if records and "attributes" in records[0] \
        else None
    if entity is None:
        m = re.search(r"\bFROM\s+([A-Za-z0-9_]+)", _soql(call), re.I)
        entity = m.group(1) if m else None
    body["size"] = body.get("totalSize", len(records))
    body["entityTypeName"] = entity
    body["queryLocator"] = None
    return json_response(200, body)
