"""sObject resources: describe, create, get, update, delete, and rows by External ID.

Status codes follow the REST guide: create 201 with ``{"id", "success", "errors"}``;
update and delete 204 with no body; upsert by External ID 201 (created) or 200 (updated,
API v46+, body with ``created: false``); more than one record for an External ID is 300
with a JSON list of the matching records' URLs, and nothing changes
(developer.salesforce.com REST guide, "Insert or Update (Upsert) a Record Using an
External ID"). A record-level DML failure becomes the request's error: 400 with the
record's ``statusCode`` as ``errorCode``, except a missing record (404 NOT_FOUND) and a
deleted one (404 ENTITY_IS_DELETED).

Deviations: only the first error of a failed record is reported (real Salesforce lists
them all); ``attributes.url`` in records always uses the org's newest version (v59.0),
whatever version the request used.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from .. import ids
from ..clock import parse_datetime
from ..errors import (
    EntityIsDeleted,
    InvalidField,
    JsonParserError,
    NotFound,
    SalesforceError,
    error_class,
)
from ..schema import SObjectDef
from .messages import Call, Response, empty_response, json_response

__all__ = ["basic_info", "create", "delete", "delete_by_external_id", "deleted",
           "describe", "describe_global", "find_by_external_id", "get",
           "get_by_external_id", "raise_save_error", "record_object", "update",
           "upsert_by_external_id"]

_NOT_FOUND = "The requested resource does not exist"


def raise_save_error(result: dict[str, Any]) -> None:
    """Raise a failed SaveResult's first error as a request-level error.

    INVALID_CROSS_REFERENCE_KEY on the record itself means the row is not there: the REST
    API answers 404 NOT_FOUND for a single record; ENTITY_IS_DELETED is 404 too.
    """
    err = result["errors"][0]
    code, message, fields = err["statusCode"], err["message"], err.get("fields") or []
    if code == "INVALID_CROSS_REFERENCE_KEY" and fields in ([], ["Id"]):
        raise NotFound(_NOT_FOUND)
    if code == "ENTITY_IS_DELETED":
        raise EntityIsDeleted("entity is deleted", fields)
    cls = error_class(code)
    status = cls.status if 400 <= cls.status < 500 else 400
    raise cls(message, fields, status=status)


def _object(call: Call) -> SObjectDef:
    """The sObject named in the URL; unknown names are 404 NOT_FOUND, as on real orgs."""
    try:
        return call.org.schema.get(call.params["sobject"])
    except SalesforceError:
        raise NotFound(_NOT_FOUND) from None


def _record_body(call: Call, obj: SObjectDef) -> dict[str, Any]:
    body = call.json()
    if not isinstance(body, dict):
        kind = "array" if isinstance(body, list) else type(body).__name__
        raise JsonParserError(
            f"Cannot deserialize instance of {obj.name} from {kind} value")
    return body


def record_object(obj: SObjectDef, record_id: str) -> str:
    """The canonical 18-char id, or 404 when the segment is not an id of this object.

    A segment that is not an id at all is taken as an External ID field name by real
    Salesforce, hence its message.
    """
    if not ids.valid_id(record_id):
        raise NotFound(
            f"Provided external ID field does not exist or is not accessible: {record_id}")
    return ids.to18(record_id)


# --- describe ---------------------------------------------------------------------------

def describe_global(call: Call) -> Response:
    """``GET sobjects``: every object's global-describe entry."""
    body = call.org.schema.describe_global(call.base)
    return json_response(200, body)


def basic_info(call: Call) -> Response:
    """``GET sobjects/{X}``: ``objectDescribe`` and ``recentItems`` (always empty here)."""
    obj = _object(call)
    return json_response(200, {"objectDescribe": obj.describe_global_entry(call.base),
                               "recentItems": []})


def describe(call: Call) -> Response:
    """``GET sobjects/{X}/describe``: the full describe with fields."""
    return json_response(200, _object(call).describe(call.base))


# --- create / get / update / delete -----------------------------------------------------

def create(call: Call) -> Response:
    """``POST sobjects/{X}``: insert one record; 201 with the SaveResult."""
    obj = _object(call)
    [res] = call.org.insert(obj.name, [_record_body(call, obj)])
    if not res["success"]:
        raise_save_error(res)
    return json_response(201, {"id": res["id"], "success": True, "errors": []})


def _fields_param(call: Call) -> list[str] | None:
    raw = call.request.arg("fields")
    if raw is None:
        return None
    names = [f.strip() for f in raw.split(",") if f.strip()]
    return names or None


def get(call: Call) -> Response:
    """``GET sobjects/{X}/{id}[?fields=A,B]``: one record."""
    obj = _object(call)
    rid = record_object(obj, call.params["record_id"])
    return json_response(200, call.org.get(obj.name, rid, _fields_param(call)))


def update(call: Call) -> Response:
    """``PATCH sobjects/{X}/{id}``: update one record; 204."""
    obj = _object(call)
    rid = record_object(obj, call.params["record_id"])
    body = _record_body(call, obj)
    body = {k: v for k, v in body.items() if k.lower() != "id"}
    [res] = call.org.update(obj.name, [{**body, "Id": rid}])
    if not res["success"]:
        raise_save_error(res)
    return empty_response(204)


def delete(call: Call) -> Response:
    """``DELETE sobjects/{X}/{id}``: soft delete one record; 204."""
    obj = _object(call)
    rid = record_object(obj, call.params["record_id"])
    [res] = call.org.delete(obj.name, [rid])
    if not res["success"]:
        raise_save_error(res)
    return empty_response(204)


# --- External ID ------------------------------------------------------------------------

def find_by_external_id(call: Call, obj: SObjectDef, field_name: str, value: str
                        ) -> list[str]:
    """Ids of live records whose External ID field (or Id) equals ``value``.

    Matching is case-insensitive unless the field is case-sensitive, as the org's upsert
    does. A value the field cannot hold matches nothing (the real API answers 404).
    """
    f = obj.get(field_name)
    if f is None or not (f.external_id or f.type == "id"):
        raise NotFound(
            f"Provided external ID field does not exist or is not accessible: {field_name}")
    try:
        return call.org.find_by_external_id(obj.name, f.name, value)
    except SalesforceError:
        return []


def _multiple_response(call: Call, obj: SObjectDef, matches: list[str]) -> Response:
    return json_response(300, [f"{call.base}/sobjects/{obj.name}/{m}" for m in matches])


def get_by_external_id(call: Call) -> Response:
    """``GET sobjects/{X}/{Field}/{value}``: one record; 300 when several match.

    The value is form-decoded (``+`` is a space): simple-salesforce's get_by_custom_id
    quotes it with ``quote_plus`` (research §4).
    """
    obj = _object(call)
    value = unquote_plus(call.params["value_raw"])
    matches = find_by_external_id(call, obj, call.params["field"], value)
    if not matches:
        raise NotFound(_NOT_FOUND)
    if len(matches) > 1:
        return _multiple_response(call, obj, matches)
    return json_response(200, call.org.get(obj.name, matches[0], _fields_param(call)))


def upsert_by_external_id(call: Call) -> Response:
    """``PATCH sobjects/{X}/{Field}/{value}``: 201 created, 200 updated, 300 ambiguous."""
    obj = _object(call)
    field_name, value = call.params["field"], call.params["value"]
    body = _record_body(call, obj)
    f = obj.get(field_name)
    if f is None:
        raise NotFound(
            f"Provided external ID field does not exist or is not accessible: {field_name}")
    matches = find_by_external_id(call, obj, f.name, value) if (
        f.external_id or f.type == "id") else []
    if len(matches) > 1:
        return _multiple_response(call, obj, matches)
    record = {k: v for k, v in body.items() if k.lower() != f.name.lower()}
    record[f.name] = value
    [res] = call.org.upsert(obj.name, f.name, [record])
    if not res["success"]:
        raise_save_error(res)
    created = bool(res.get("created"))
    return json_response(201 if created else 200, {
        "id": res["id"], "success": True, "errors": [], "created": created})


def delete_by_external_id(call: Call) -> Response:
    """``DELETE sobjects/{X}/{Field}/{value}``: 204; 300 when several match."""
    obj = _object(call)
    matches = find_by_external_id(call, obj, call.params["field"], call.params["value"])
    if not matches:
        raise NotFound(_NOT_FOUND)
    if len(matches) > 1:
        return _multiple_response(call, obj, matches)
    [res] = call.org.delete(obj.name, matches)
    if not res["success"]:
        raise_save_error(res)
    return empty_response(204)


# --- updated / deleted ------------------------------------------------------------------

def _window(call: Call) -> tuple[str, str]:
    out = []
    for name in ("start", "end"):
        raw = call.request.arg(name)
        if not raw:
            raise error_class("MISSING_ARGUMENT")(f"{name} is required", [name], status=400)
        try:
            # simple-salesforce sends a naive datetime with a dangling ':' (research §4).
            dt = parse_datetime(raw.rstrip(":"))
        except ValueError:
            raise InvalidField(f"{name}: invalid date/time: {raw}", [name]) from None
        out.append(dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return out[0], out[1]


def updated(call: Call) -> Response:
    """``GET sobjects/{X}/updated?start=&end=``: ids changed in the window (by SOQL)."""
    obj = _object(call)
    start, end = _window(call)
    rows = call.org.query_records(
        f"SELECT Id FROM {obj.name} WHERE SystemModstamp >= {start} "
        f"AND SystemModstamp <= {end}")
    return json_response(200, {"ids": [r["Id"] for r in rows],
                               "latestDateCovered": call.org.clock.stamp()})


def deleted(call: Call) -> Response:
    """``GET sobjects/{X}/deleted?start=&end=``: records deleted in the window."""
    obj = _object(call)
    start, end = _window(call)
    rows = call.org.query_records(
        f"SELECT Id, SystemModstamp FROM {obj.name} WHERE IsDeleted = true AND "
        f"SystemModstamp >= {start} AND SystemModstamp <= {end}", include_deleted=True)
    return json_response(200, {
        "deletedRecords": [{"id": r["Id"], "deletedDate": r["SystemModstamp"]} for r in rows],
        "earliestDateAvailable": call.org.clock.stamp(),
        "latestDateCovered": call.org.clock.stamp()})
