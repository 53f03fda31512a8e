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

import zlib
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

__all__ = ["MASTER_RECORD_TYPE_ID", "basic_info", "create", "delete",
           "delete_by_external_id", "deleted", "describe", "describe_compact_layout",
           "describe_compact_layouts",
           "describe_global", "describe_layout", "describe_layouts", "find_by_external_id",
           "get", "get_by_external_id", "raise_save_error", "record_object", "update",
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


# --- layouts ------------------------------------------------------------------------------

MASTER_RECORD_TYPE_ID = "012000000000000AAA"
"""The Master record type of an object without record types (the id the REST guide's
"SObject CompactLayouts" example maps, v29.0:
https://developer.salesforce.com/docs/atlas.en-us.188.0.api_rest.meta/api_rest/resources_sobject_compactlayouts.htm)."""


def _layoutable_object(call: Call) -> SObjectDef:
    """The sObject of a layout resource. Objects whose describe says ``layoutable``
    false (``SObjectDef.layoutable``: AsyncApexJob, CronTrigger, history objects, ...)
    have no layouts: 404 NOT_FOUND, like an unknown object (the real answer for them is
    unconfirmed), so describe and the layout resources agree."""
    obj = _object(call)
    if not obj.layoutable:
        raise NotFound(_NOT_FOUND)
    return obj


def _layout_id(prefix: str, obj: SObjectDef) -> str:
    """A stable synthetic id for the object's one layout (``00h`` Layout, ``01B``
    section): the same on every call and every org, so clients may cache it."""
    return ids.make_id(prefix, zlib.crc32(obj.name.encode("utf-8")))


def _layout_item(field: dict[str, Any], tab: int, *, edit: bool) -> dict[str, Any]:
    """A DescribeLayoutItem holding one field component (SOAP API Developer Guide,
    "describeLayout()": DescribeLayoutItem, DescribeLayoutComponent)."""
    required = (edit and field["createable"] and not field["nillable"]
                and not field["defaultedOnCreate"] and field["type"] != "boolean")
    return {
        "editableForNew": bool(field["createable"]),
        "editableForUpdate": bool(field["updateable"]),
        "label": field["label"],
        "layoutComponents": [{"details": field, "displayLines": 1, "tabOrder": tab,
                              "type": "Field", "value": field["name"]}],
        "placeholder": False,
        "required": bool(required),
    }


def _section(obj: SObjectDef, fields: list[dict[str, Any]], *, edit: bool
             ) -> dict[str, Any]:
    """One two-column DescribeLayoutSection "Information" holding ``fields`` in describe
    order, two per row."""
    items = [_layout_item(f, i + 1, edit=edit) for i, f in enumerate(fields)]
    rows = [{"layoutItems": items[i:i + 2], "numItems": len(items[i:i + 2])}
            for i in range(0, len(items), 2)]
    return {"collapsed": False, "columns": 2, "heading": "Information",
            "layoutRows": rows, "layoutSectionId": _layout_id("01B", obj),
            "parentLayoutId": _layout_id("00h", obj), "rows": len(rows),
            "tabOrder": "TopToBottom", "useCollapsibleSection": False, "useHeading": False}


def _layout(call: Call, obj: SObjectDef) -> dict[str, Any]:
    """The object's one page layout as a DescribeLayout, built from its describe."""
    desc = obj.describe(call.base)
    fields = desc["fields"]
    editable = [f for f in fields if f["createable"] or f["updateable"]]
    related = [{"accessLevelRequiredForCreate": None, "buttons": [], "columns": [],
                "custom": rel["childSObject"].endswith("__c"), "field": rel["field"],
                "label": rel["relationshipName"], "limitRows": 5,
                "name": rel["relationshipName"], "sobject": rel["childSObject"],
                "sort": []}
               for rel in desc["childRelationships"] if rel["relationshipName"]]
    return {
        "buttonLayoutSection": {"detailButtons": []},
        "detailLayoutSections": [_section(obj, fields, edit=False)],
        "editLayoutSections": [_section(obj, editable, edit=True)],
        "feedView": None,
        "highlightsPanelLayoutSection": None,
        "id": _layout_id("00h", obj),
        "multirowEditLayoutSections": [],
        "offlineLinks": [],
        "quickActionList": {"quickActionListItems": []},
        "relatedContent": None,
        "relatedLists": related,
        "saveOptions": [],
    }


def describe_layouts(call: Call) -> Response:
    """``GET sobjects/{X}/describe/layouts``: the object's layouts and record type mappings.

    *REST API Developer Guide*, "Get Layouts and Descriptions for a Specified Object"
    (https://developer.salesforce.com/docs/platform/api-rest/guide/resources-sobject-layouts-get.md):
    ``{"layouts": [...], "recordTypeMappings": [...], "recordTypeSelectorRequired":
    [false]}``; each layout has the keys of the guide's example (buttonLayoutSection,
    detailLayoutSections, editLayoutSections, feedView, highlightsPanelLayoutSection, id,
    multirowEditLayoutSections, offlineLinks, quickActionList, relatedContent,
    relatedLists, saveOptions).

    Synthetic (the simulator has no page layout metadata): one layout per object, whose
    detail section holds every field of describe and whose edit section holds the
    createable or updateable ones, two per row, in describe order; one related list per
    child relationship, without columns; no buttons or quick actions. Objects have only
    the Master record type (:data:`MASTER_RECORD_TYPE_ID`). Objects that are not
    ``layoutable`` answer 404 (:func:`_layoutable_object`).
    """
    obj = _layoutable_object(call)
    layout = _layout(call, obj)
    url = f"{call.base}/sobjects/{obj.name}/describe/layouts/{MASTER_RECORD_TYPE_ID}"
    return json_response(200, {
        "layouts": [layout],
        "recordTypeMappings": [{
            "available": True, "defaultRecordTypeMapping": True, "layoutId": layout["id"],
            "master": True, "name": "Master", "picklistsForRecordType": [],
            "recordTypeId": MASTER_RECORD_TYPE_ID, "urls": {"layout": url}}],
        "recordTypeSelectorRequired": [False],
    })


def describe_layout(call: Call) -> Response:
    """``GET sobjects/{X}/describe/layouts/{recordTypeId}``: one layout (what
    simple-salesforce's ``describe_layout(id)`` asks for).

    *REST API Developer Guide*, "Get Layouts and Descriptions for an Object With Multiple
    Record Types"
    (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api/resources_sobject_layouts_multiple_rts_get.htm):
    the body is the layout itself. Only the Master record type exists (15 or 18
    characters); any other id is 404 NOT_FOUND (the real answer for an unknown record
    type id is unconfirmed). The layout is synthetic, see :func:`describe_layouts`.
    """
    obj = _layoutable_object(call)
    try:
        record_type = ids.to18(call.params["record_type"])
    except SalesforceError:
        record_type = ""
    if record_type != MASTER_RECORD_TYPE_ID:
        raise NotFound(_NOT_FOUND)
    return json_response(200, _layout(call, obj))


def describe_compact_layouts(call: Call) -> Response:
    """``GET sobjects/{X}/describe/compactLayouts``: the system default compact layout.

    *REST API Developer Guide*, "SObject CompactLayouts" (v29.0+, URL above at
    :data:`MASTER_RECORD_TYPE_ID`): ``{"compactLayouts", "defaultCompactLayoutId",
    "recordTypeCompactLayoutMappings"}``; *SOAP API Developer Guide*,
    "DescribeCompactLayoutsResult"
    (https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_describecompactlayoutsresult.htm):
    "The system default compact layout ID has a value of null", and with no compact
    layout defined the mapping's ``compactLayoutId`` is null. No compact layouts are
    defined in the simulator, so every object answers with the system default, listed
    with the name field (else Id) as its one field item (synthetic: the real system
    default's fields are not documented). The mapping's URL is the primary compact
    layout, which :func:`describe_compact_layout` serves.
    """
    obj = _layoutable_object(call)
    url = f"{call.base}/sobjects/{obj.name}/describe/compactLayouts/primary"
    return json_response(200, {
        "compactLayouts": [_system_compact_layout(call, obj)],
        "defaultCompactLayoutId": None,
        "recordTypeCompactLayoutMappings": [{
            "available": True, "compactLayoutId": None, "compactLayoutName": "SYSTEM",
            "recordTypeId": MASTER_RECORD_TYPE_ID, "recordTypeName": "Master",
            "urls": {"compactLayout": url}}],
    })


def _system_compact_layout(call: Call, obj: SObjectDef) -> dict[str, Any]:
    """The system default compact layout (a DescribeCompactLayout, id null)."""
    fields = {f["name"]: f for f in obj.describe(call.base)["fields"]}
    first = fields.get("Name") or fields.get("Id")
    items = [_layout_item(first, 1, edit=False)] if first else []
    return {"actions": [], "fieldItems": items, "id": None, "imageItems": [],
            "label": "System Default", "name": "SYSTEM", "objectType": obj.name}


def describe_compact_layout(call: Call) -> Response:
    """``GET sobjects/{X}/describe/compactLayouts/{name}``: one compact layout.

    ``primary`` is the object's primary compact layout, the URL the
    ``recordTypeCompactLayoutMappings`` of :func:`describe_compact_layouts` give (the
    *REST API Developer Guide*'s "Compact Layouts" page names the same form,
    ``/sobjects/Account/describe/compactLayouts/primaryPersonAccount``,
    https://developer.salesforce.com/docs/platform/api-rest/guide/resources-compact-layouts.md);
    here it is the system default, which is also served under its name ``SYSTEM``. Any
    other name is 404 NOT_FOUND (there are no other compact layouts; the real answer for
    an unknown name is unconfirmed).
    """
    obj = _layoutable_object(call)
    if call.params["name"].lower() not in ("primary", "system"):
        raise NotFound(_NOT_FOUND)
    return json_response(200, _system_compact_layout(call, obj))
