"""``composite/sobjects`` (sObject Collections) and ``composite``.

sObject Collections (REST guide, "sObject Collections"): create/update/upsert/delete up to
200 records in one request that counts as one API call; ``allOrNone`` (default false) rolls
everything back on any failure, the other records reporting
ALL_OR_NONE_OPERATION_ROLLED_BACK; results are SaveResults with ``statusCode`` in the
errors. More than 200 records or ids: 400 EXCEEDED_ID_LIMIT.

Composite (REST guide, "Send Multiple Requests Using Composite",
https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-composite-post.html):
up to 25 subrequests run in order through the same route table, counted once;
``@{ref.path}`` references read earlier results (``@{ref.id}``, ``@{ref.records[0].Id}``).
With ``allOrNone`` a failure rolls back every subrequest and the others report
PROCESSING_HALTED. "Up to 5 of these subrequests can be sObject Collections or query
operations, including Query and QueryAll requests" (same page, note; the older v210 page
also names the "Query More" request for the next batch): a sixth is refused, for the
whole request, before anything runs. Composite "is supported for" sObject resources,
Query, QueryAll and sObject Collections (same page): a subrequest to any other resource
(Bulk API 2.0 jobs, ``limits``, composite itself) gets a 404 NOT_FOUND entry and runs
nothing. The two refusals' exact error texts are unconfirmed (no page found: searched
"composite more than 5 query subrequests error"). Deviation: the rollback uses a SQLite
savepoint on the org's store (Org has no public transaction hook yet).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import groupby
from typing import Any

from .. import ids
from ..errors import (
    AllOrNoneOperationRolledBack,
    ExceededIdLimit,
    InvalidField,
    InvalidInput,
    InvalidType,
    JsonParserError,
    LimitExceeded,
    MalformedId,
    NotFound,
    ProcessingHalted,
    SalesforceError,
)
from ..schema import SObjectDef
from .messages import Call, Response, json_response

__all__ = ["collection_create", "collection_delete", "collection_retrieve",
           "collection_update", "collection_upsert", "composite", "transaction"]

MAX_RECORDS = 200
MAX_SUBREQUESTS = 25
MAX_QUERY_OR_COLLECTION_SUBREQUESTS = 5
"""At most 5 of the 25 may be query/queryAll (and their next batches) or sObject
Collections subrequests (REST guide, composite note; see the module docstring)."""
_SUPPORTED = re.compile(r"^/services/data/v[0-9]+\.[0-9]+/(?:sobjects|query|queryAll|"
                        r"composite/sobjects)(?:[/?]|$)")
_QUERY_OR_COLLECTION = re.compile(r"^/services/data/v[0-9]+\.[0-9]+/(?:query|queryAll|"
                                  r"composite/sobjects)(?:[/?]|$)")
_ROLLED_BACK = ("Record rolled back because not all records were valid and the request was "
                "using AllOrNone header")


@contextmanager
def transaction(call: Call) -> Iterator[list[bool]]:
    """The org's transaction; set ``flag[0] = True`` to roll back on exit."""
    flag = [False]
    with call.org.transaction() as sp:
        yield flag
        if flag[0]:
            sp.rollback()


def _bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def _body(call: Call) -> dict[str, Any]:
    body = call.json()
    if not isinstance(body, dict):
        raise JsonParserError("Cannot deserialize instance of request body from non-object")
    return body


def _records(call: Call, body: dict[str, Any]) -> list[Any]:
    records = body.get("records")
    if not isinstance(records, list):
        raise InvalidInput("records: a JSON array of records is required", ["records"])
    if len(records) > MAX_RECORDS:
        raise ExceededIdLimit("record limit reached. cannot submit more than 200 records "
                              "into this call")
    return records


def _type_of(rec: Any) -> str | None:
    attrs = rec.get("attributes") if isinstance(rec, dict) else None
    t = attrs.get("type") if isinstance(attrs, dict) else None
    return t if isinstance(t, str) else None


def _fail(err: SalesforceError, *, rec_id: str | None = None,
          extra: dict[str, bool] | None = None) -> dict[str, Any]:
    return {"id": rec_id, "success": False, "errors": [err.to_save_error()], **(extra or {})}


def _run_groups(call: Call, records: list[Any], all_or_none: bool, op: str,
                ext_field: str | None = None) -> list[dict[str, Any]]:
    """Run ``op`` over runs of same-typed records, in order, in one transaction."""
    org = call.org
    extra: dict[str, bool] = {"created": False} if op == "upsert" else {}
    results: list[dict[str, Any] | None] = [None] * len(records)
    typed: list[tuple[int, str]] = []
    for i, rec in enumerate(records):
        t = _type_of(rec)
        if t is None:
            results[i] = _fail(InvalidType(
                "When using the sObject Collections API, each record must have an "
                "'attributes' map with a 'type'", ["attributes"]), extra=extra)
        elif t not in org.schema:
            results[i] = _fail(InvalidType(f"sObject type '{t}' is not supported."), extra=extra)
        else:
            typed.append((i, t))
    if all_or_none and any(r is not None for r in results):
        return _rolled_back(results, extra)
    with transaction(call) as rollback:
        for t, run in groupby(typed, key=lambda it: it[1].lower()):
            idx = [i for i, _ in run]
            batch = [records[i] for i in idx]
            name = org.schema.get(t).name
            if op == "insert":
                out = org.insert(name, batch)
            elif op == "update":
                out = org.update(name, batch)
            else:
                assert ext_field is not None
                out = org.upsert(name, ext_field, batch)
            for i, r in zip(idx, out):
                results[i] = r
        if all_or_none and any(r is not None and not r["success"] for r in results):
            rollback[0] = True
            return _rolled_back(results, extra)
    return [r for r in results if r is not None]


def _rolled_back(results: list[dict[str, Any] | None], extra: dict[str, bool]
                 ) -> list[dict[str, Any]]:
    rolled = AllOrNoneOperationRolledBack(_ROLLED_BACK)
    return [_fail(rolled, extra=extra) if r is None or r["success"] else {**r, "id": None}
            for r in results]


def collection_create(call: Call) -> Response:
    """``POST composite/sobjects``: insert up to 200 records (types may mix)."""
    body = _body(call)
    records = _records(call, body)
    return json_response(200, _run_groups(call, records, _bool(body.get("allOrNone")),
                                          "insert"))


def collection_update(call: Call) -> Response:
    """``PATCH composite/sobjects``: update up to 200 records by Id."""
    body = _body(call)
    records = _records(call, body)
    return json_response(200, _run_groups(call, records, _bool(body.get("allOrNone")),
                                          "update"))


def collection_upsert(call: Call) -> Response:
    """``PATCH composite/sobjects/{X}/{ExternalIdField}``: upsert up to 200 records."""
    obj = _collection_object(call)
    body = _body(call)
    records = _records(call, body)
    for rec in records:
        t = _type_of(rec)
        if t is not None and t.lower() != obj.name.lower():
            raise InvalidInput(f"Record type {t} does not match the URL's {obj.name}")
    obj.field(call.params["field"])  # unknown field: INVALID_FIELD for the whole request
    return json_response(200, _run_groups(call, records, _bool(body.get("allOrNone")),
                                          "upsert", call.params["field"]))


def collection_delete(call: Call) -> Response:
    """``DELETE composite/sobjects?ids=a,b&allOrNone=``: soft delete up to 200 ids."""
    org = call.org
    raw = call.request.arg("ids")
    if not raw:
        raise InvalidInput("ids is required", ["ids"])
    id_list = [i.strip() for i in raw.split(",") if i.strip()]
    if len(id_list) > MAX_RECORDS:
        raise ExceededIdLimit("Number of ids cannot exceed 200")
    all_or_none = _bool(call.request.arg("allOrNone"))
    results: list[dict[str, Any] | None] = [None] * len(id_list)
    typed: list[tuple[int, str]] = []
    for i, rid in enumerate(id_list):
        obj = org.schema.by_prefix(rid[:3]) if ids.valid_id(rid) else None
        if obj is None:
            results[i] = _fail(MalformedId(f"malformed id {rid}"), rec_id=rid)
        else:
            typed.append((i, obj.name))
    if all_or_none and any(r is not None for r in results):
        return json_response(200, _rolled_back(results, {}))
    with transaction(call) as rollback:
        for name, run in groupby(typed, key=lambda it: it[1]):
            idx = [i for i, _ in run]
            try:
                out = org.delete(name, [id_list[i] for i in idx])
            except SalesforceError as e:  # e.g. an object that cannot be deleted
                out = [_fail(e, rec_id=id_list[i]) for i in idx]
            for i, r in zip(idx, out):
                results[i] = r
        if all_or_none and any(r is not None and not r["success"] for r in results):
            rollback[0] = True
            return json_response(200, _rolled_back(results, {}))
    return json_response(200, [r for r in results if r is not None])


def _collection_object(call: Call) -> SObjectDef:
    return call.org.schema.get(call.params["sobject"])


def collection_retrieve(call: Call) -> Response:
    """``GET|POST composite/sobjects/{X}`` with ids and fields: records, null if missing."""
    obj = _collection_object(call)
    if call.request.method == "POST":
        body = _body(call)
        id_list, fields = body.get("ids"), body.get("fields")
        if not isinstance(id_list, list) or not isinstance(fields, list):
            raise InvalidInput("ids and fields are required", ["ids", "fields"])
    else:
        id_list = [i for i in (call.request.arg("ids") or "").split(",") if i]
        fields = [f for f in (call.request.arg("fields") or "").split(",") if f]
    if not id_list or not fields:
        raise InvalidInput("ids and fields are required", ["ids", "fields"])
    if len(id_list) > 2000:
        raise ExceededIdLimit("Number of ids cannot exceed 2000")
    for f in fields:
        obj.field(str(f))
    out: list[Any] = []
    for rid in id_list:
        try:
            out.append(call.org.get(obj.name, str(rid), [str(f) for f in fields]))
        except SalesforceError:
            out.append(None)
    return json_response(200, out)


# --- composite ----------------------------------------------------------------------------

_REF = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[[0-9]+\])*)\}")


class _Unresolved(Exception):
    def __init__(self, ref: str) -> None:
        super().__init__(ref)
        self.ref = ref


def _lookup(results: dict[str, Any], name: str, path: str) -> Any:
    if name not in results:
        raise _Unresolved(name)
    value = results[name]
    for key, index in re.findall(r"\.([A-Za-z0-9_]+)|\[([0-9]+)\]", path):
        try:
            value = value[int(index)] if index else value[key]
        except (KeyError, IndexError, TypeError):
            raise _Unresolved(f"{name}{path}") from None
    return value


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:  # a whole-string reference keeps the referenced value's JSON type
            return _lookup(results, whole.group(1), whole.group(2))
        return _REF.sub(lambda m: str(_lookup(results, m.group(1), m.group(2))), value)
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    return value


def composite(call: Call) -> Response:
    """``POST composite``: up to 25 subrequests, counted as one API call."""
    body = _body(call)
    subs = body.get("compositeRequest")
    if not isinstance(subs, list) or not subs:
        raise InvalidInput("compositeRequest: a non-empty array of subrequests is required",
                           ["compositeRequest"])
    if len(subs) > MAX_SUBREQUESTS:
        raise LimitExceeded(
            f"Limit Exceeded: Maximum of {MAX_SUBREQUESTS} subrequests allowed in "
            "composite request.")
    refs = []
    for s in subs:
        if not isinstance(s, dict) or not all(isinstance(s.get(k), str)
                                              for k in ("method", "url", "referenceId")):
            raise InvalidField("Each subrequest needs method, url and referenceId")
        refs.append(s["referenceId"])
    if len(set(refs)) != len(refs):
        raise InvalidInput("Duplicate referenceId provided in the request")
    heavy = sum(1 for sub in subs if _QUERY_OR_COLLECTION.match(sub["url"]))
    if heavy > MAX_QUERY_OR_COLLECTION_SUBREQUESTS:
        raise LimitExceeded(
            f"Limit Exceeded: Maximum of {MAX_QUERY_OR_COLLECTION_SUBREQUESTS} query or "
            "sObject Collections subrequests allowed in composite request.")
    all_or_none = _bool(body.get("allOrNone"))
    assert call.sub is not None
    results: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    failed = False
    with transaction(call) as rollback:
        for s in subs:
            if failed and all_or_none:
                out.append(_halted(s["referenceId"]))
                continue
            try:
                url = _substitute(s["url"], results)
                payload = _substitute(s.get("body"), results)
            except _Unresolved as e:
                failed = True
                out.append(_entry(s["referenceId"], 400, [{
                    "errorCode": "PROCESSING_HALTED",
                    "message": f"Invalid reference specified. No value for {e.ref} found "
                               f"in {s['referenceId']}. Provided {s['url']} as the reference."
                }], {}))
                continue
            if not _SUPPORTED.match(str(url)):
                resp = json_response(404, NotFound(
                    "The requested resource does not exist").to_rest())
            else:
                resp = call.sub(s["method"].upper(), str(url), payload)
            value = _sub_body(resp)
            if resp.status < 300:
                results[s["referenceId"]] = value
            else:
                failed = True
            headers = {"Location": f"{call.base}/sobjects/{_type(url)}/{value['id']}"} \
                if resp.status == 201 and isinstance(value, dict) and "id" in value else {}
            out.append(_entry(s["referenceId"], resp.status, value, headers))
        if failed and all_or_none:
            rollback[0] = True
            out = [e if e["httpStatusCode"] >= 300 else _halted(e["referenceId"])
                   for e in out]
    return json_response(200, {"compositeResponse": out})


def _sub_body(resp: Response) -> Any:
    """A subresponse's body as JSON; text when it is not JSON (the supported resources
    all answer JSON, so this is a guard, not a feature)."""
    try:
        return resp.json()
    except ValueError:
        return resp.body.decode("utf-8", "replace")


def _type(url: Any) -> str:
    parts = str(url).split("?")[0].rstrip("/").split("/")
    return parts[parts.index("sobjects") + 1] if "sobjects" in parts[:-1] else ""


def _entry(ref: str, status: int, body: Any, headers: dict[str, str]) -> dict[str, Any]:
    return {"body": body, "httpHeaders": headers, "httpStatusCode": status,
            "referenceId": ref}


def _halted(ref: str) -> dict[str, Any]:
    msg = ("The transaction was rolled back since another operation in the same "
           "transaction failed.")
    return _entry(ref, 400, ProcessingHalted(msg).to_rest(), {})
