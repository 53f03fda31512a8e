"""The DML step both Bulk APIs share: one batch (Bulk API 1.0) or one chunk (Bulk API 2.0)
of records applied with the job's operation.

Bulk API 1.0 (``rest/bulk1.py``) receives its records as JSON, Bulk API 2.0
(``rest/bulk2.py``) as CSV rows it turns into records; from there the two are the same:
``insert``, ``update``, ``upsert`` on the job's External ID field, and ``delete`` /
``hardDelete`` (a soft delete in sforg-sim, fidelity rows B* and BA1) by the records'
``Id``. One function, so the two cannot drift (they used to: Bulk 2.0 read the Id from
the first CSV column as written, Bulk 1.0 from any key spelled ``id`` in any case).

Also shared, so that the two APIs cannot drift either:

- the job checks made when a job is created (:func:`check_job`): the object must support
  the operation, and an upsert's ``externalIdFieldName`` must name a field records can be
  matched by;
- CSV data (Bulk API 2.0 always, Bulk API 1.0 for ``contentType`` CSV jobs): the header
  row's columns, relationship columns included (:func:`column_plan`), and each row as a
  DML record (:func:`csv_record`: empty fields ignored, ``#N/A`` for null);
- query results as CSV (:func:`select_list`, :func:`field_value`, :func:`csv_cell`,
  :func:`canonical_column`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from ..core import OrgCore
    from ..dml import SaveResult
    from ..schema import SObjectDef

__all__ = ["BadHeader", "Column", "JobRefused", "canonical_column", "check_job",
           "column_plan", "csv_cell", "csv_record", "field_value", "record_id", "run_dml",
           "select_list"]


def record_id(record: Mapping[str, Any]) -> str:
    """The record's ``Id`` value as a string ("" when absent).

    Field names are case-insensitive in both Bulk APIs (a CSV header ``ID`` or a JSON key
    ``id`` both name the Id field, as every field name does in the SOAP and REST APIs),
    so the key is found whatever its case.
    """
    for k, v in record.items():
        if k.lower() == "id":
            return "" if v is None else str(v)
    return ""


def run_dml(org: OrgCore, operation: str, sobject: str, external_id_field: str | None,
            records: Sequence[Mapping[str, Any]]) -> list[SaveResult]:
    """Apply ``records`` to ``sobject`` with a Bulk job's ``operation`` and return one
    SaveResult per record, in input order.

    ``operation`` is one of the ingest operations both APIs share (``insert``,
    ``update``, ``upsert``, ``delete``, ``hardDelete``); ``external_id_field`` is the
    job's ``externalIdFieldName``, required for ``upsert``. Anything else is a caller
    mistake (the job creation handlers refuse unknown operations before a job exists).
    """
    if not records:
        return []
    if operation == "insert":
        return org.insert(sobject, records)
    if operation == "update":
        return org.update(sobject, records)
    if operation == "upsert":
        if external_id_field is None:
            raise UsageError("an upsert job needs its externalIdFieldName")
        return org.upsert(sobject, external_id_field, records)
    if operation in ("delete", "hardDelete"):
        return org.delete(sobject, [record_id(r) for r in records])
    raise UsageError(f"not a Bulk ingest operation: {operation!r}")


# --- job creation checks (both APIs) ------------------------------------------------------

_OPERATION_NEEDS = {"insert": ("createable",), "update": ("updateable",),
                    "upsert": ("createable", "updateable"), "delete": ("deletable",),
                    "hardDelete": ("deletable",)}


class JobRefused(Exception):
    """A job the platform refuses when it is created (Bulk API 1.0 answers
    ``InvalidJob`` with this message, Bulk API 2.0 ``INVALIDJOB`` with ``InvalidJob :
    <this message>``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_job(obj: SObjectDef, operation: str, external_id_field: Any) -> str | None:
    """Check an ingest job on ``obj`` when it is created; return the canonical External
    ID field name for an upsert (None otherwise), or raise :class:`JobRefused`.

    - The object must support the operation. AsyncApexJob, CronTrigger and CronJobDetail
      support "describeSObjects(), query(), retrieve()" only (*Object Reference*, their
      "Supported Calls"; ``schema.py`` marks them not createable, updateable or
      deletable), so an insert, update, upsert or delete job on them can never succeed.
      The platform's answer for such a job is unconfirmed (no document or report found);
      sforg-sim refuses it when it is made, with the ``INVALID_TYPE`` wording DML uses
      for an object that does not support delete ("entity type X does not support
      insert"). Without this, a Bulk insert used to create AsyncApexJob rows.
    - An upsert needs ``externalIdFieldName`` naming a field records can be matched by
      (an External ID, or Id; ``schema.external_id_field``). A real org refuses any other
      field when the job is created, in both APIs, with "Field name provided, <name as
      sent> does not match an External ID, Salesforce Id, or indexed field for <object>":
      Bulk API 1.0 as ``InvalidJob`` (an org's answer to a ``Name`` upsert job quoted in
      stackoverflow.com/questions/13416791), Bulk API 2.0 as ``INVALIDJOB`` "InvalidJob :
      Field name provided, website does not match ..." (an org's answer to a ``Website``
      upsert job, stackoverflow question 59282347). An unknown field name gets the same
      answer (the message says "does not match"; unconfirmed for names that exist on no
      field). The job is refused, not failed at processing: "InvalidBatch : Field name
      provided, X is not an External ID or indexed field" is the per-record answer of
      nested references (``dml.py``), not of job creation.
    """
    needs = _OPERATION_NEEDS.get(operation, ())
    for capability in needs:
        if not getattr(obj, capability):
            raise JobRefused(f"entity type {obj.name} does not support {operation}")
    if operation != "upsert":
        return None
    if not isinstance(external_id_field, str) or not external_id_field:
        raise JobRefused("External ID was blank for upsert")
    f = obj.get(external_id_field)
    if f is None or not (f.external_id or f.type == "id"):
        raise JobRefused(f"Field name provided, {external_id_field} does not match an "
                         f"External ID, Salesforce Id, or indexed field for {obj.name}")
    return f.name


# --- CSV data (Bulk API 2.0, and Bulk API 1.0 CSV jobs) -----------------------------------

class BadHeader(Exception):
    """A header column a CSV job cannot use: Bulk API 2.0 fails the job, Bulk API 1.0 the
    batch, both with ``InvalidBatch : <this message>``."""


@dataclass(frozen=True)
class Column:
    """How one CSV column goes into a record: a plain field (``field`` only), or an
    External-ID reference to a parent (``relationship``.``parent_field``, whose null
    value ``#N/A`` clears the lookup ``field``); ``parent_type`` is the object named by
    the ``ObjectType:`` prefix of a polymorphic lookup's column."""

    field: str
    relationship: str | None = None
    parent_field: str | None = None
    parent_type: str | None = None


def _reference(obj: Any, name: str) -> Any:
    """The lookup field behind relationship ``name`` (``Account``, ``Account__r``), or
    None: the relationshipName from describe, or a custom ``X__r`` for lookup ``X__c``
    (the same resolution ``dml.py`` applies to nested references in JSON bodies)."""
    ref = obj.relationship(name)
    if ref is None and name.lower().endswith("__r"):
        cand = obj.get(name[:-3] + "__c")
        ref = cand if cand is not None and cand.type == "reference" else None
    return ref if ref is not None and ref.reference_to else None


def column_plan(org: OrgCore, obj: Any, header: list[str]) -> list[Column]:
    """Check the header row and say how each column maps into a record.

    A column ``RelationshipName.IndexedFieldName`` (``Account.External_Key__c``,
    ``Account__r.External_Key__c``) names the parent by a unique field (*Bulk API 2.0
    and Bulk API Developer Guide*, "Relationship Fields in a Header Row (2.0)",
    https://developer.salesforce.com/docs/platform/api-asynch/guide/relationship-fields-in-a-header-row-2-0.html:
    child-to-parent only, one level, "you can't extend it to use a
    child-to-parent-grandparent relationship"). It becomes the nested reference
    ``{"Account__r": {"External_Key__c": value}}`` that ``dml.py`` resolves, so the
    per-row outcomes (no parent, several parents, a field that is no External ID) are
    DML's record errors in ``failedResults``. An unknown relationship or parent field, or
    a grandparent path, fails the job like any unknown column ("Field name not found";
    the real wording for these is unconfirmed).

    A polymorphic lookup (several ``referenceTo`` objects: Task/Event ``WhoId`` and
    ``WhatId`` here) takes the form ``ObjectType:RelationshipName.IndexedFieldName``
    (same page, "Relationships for Polymorphic Fields": ``Lead:Who.Email``); the type
    becomes the nested reference's ``{"attributes": {"type": ObjectType}}``, which
    ``dml.py`` uses to pick the parent object (fidelity D-5). The guide warns that the
    ``ObjectType:`` part is required for a polymorphic field and an error for any other;
    it does not give the error, so both fail the job here with sforg-sim's wording naming
    the column (unconfirmed), as does a type the lookup cannot reference.
    """
    plan: list[Column] = []
    for col in header:
        if "." not in col:
            f = obj.get(col)
            if f is None:
                raise BadHeader(f"Field name not found : {col}")
            plan.append(Column(col))
            continue
        rel, _, parent_field = col.partition(".")
        type_name, colon, rel = rel.rpartition(":")
        ref = _reference(obj, rel)
        if ref is None or "." in parent_field or not parent_field or (colon and not type_name):
            raise BadHeader(f"Field name not found : {col}")
        polymorphic = len(ref.reference_to) > 1
        if polymorphic and not colon:
            raise BadHeader(f"Polymorphic relationship {rel} needs the parent's object type "
                             f"in the column header (ObjectType:{rel}.{parent_field}) : {col}")
        if colon and not polymorphic:
            raise BadHeader(f"Relationship {rel} is not polymorphic: the ObjectType: prefix "
                             f"is only allowed for polymorphic fields : {col}")
        target_name = ref.reference_to[0]
        if colon:
            target_name = next((t for t in ref.reference_to
                                if t.lower() == type_name.lower()), "")
            if not target_name:
                raise BadHeader(f"{type_name} is not a valid type for the polymorphic "
                                 f"relationship {rel} ({', '.join(ref.reference_to)}) : {col}")
        if org.schema.get(target_name).get(parent_field) is None:
            raise BadHeader(f"Field name not found : {col}")
        plan.append(Column(ref.name, rel, parent_field, target_name if colon else None))
    return plan


def csv_record(plan: list[Column], row: list[str]) -> dict[str, Any]:
    """One CSV row as a DML record. An empty field leaves the value alone; ``#N/A`` sets
    it to null (guide, "Prepare CSV Files"), for a relationship column the lookup.

    Several columns naming the same relationship (``Account.Key__c`` and
    ``Account.Other_Key__c``) go into one nested reference with all their fields, so
    ``dml.py`` answers its "More than 1 field provided in an external foreign key
    reference" record error instead of the last column silently winning.
    """
    rec: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}  # by lookup field: one reference per lookup
    for col, v in zip(plan, row):
        if v == "":
            continue
        if col.relationship is None:
            rec[col.field] = None if v == "#N/A" else v
        elif v == "#N/A":
            rec[col.field] = None
        else:
            assert col.parent_field is not None
            ref = nested.get(col.field)
            if ref is None:
                ref = nested[col.field] = {}
                if col.parent_type is not None:
                    ref["attributes"] = {"type": col.parent_type}
                rec[col.relationship] = ref
            ref[col.parent_field] = v
    return rec




# --- query results as CSV (both APIs) ------------------------------------------------


_LITERAL = re.compile(r"'(?:\\.|[^'\\])*'")
_SELECT = re.compile(r"^\s*SELECT\s+(.+?)\s+FROM\s+([A-Za-z0-9_]+)", re.I | re.S)


def select_list(soql: str) -> tuple[list[str], str] | None:
    """The SELECT list (as written) and FROM object of a plain ``SELECT a, b FROM X``
    query, string literals ignored; None when the query has another shape (it then fails
    with the SOQL engine's own error when run). A CSV result's header row names these
    columns ("Use Bulk Query": results "in CSV" with a header row)."""
    m = _SELECT.match(_LITERAL.sub("''", soql))
    if not m:
        return None
    return [c.strip() for c in m.group(1).split(",") if c.strip()], m.group(2)


def field_value(record: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` (``Account.Name``) in a query record, field names in any case
    (None when a step is missing or null)."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        low = part.lower()
        value = next((v for k, v in value.items() if k.lower() == low), None)
    return value


def csv_cell(value: Any) -> str:
    """A query value as a CSV field: null (or a nested record) is empty, booleans are
    ``true``/``false``."""
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def canonical_column(obj: Any, column: str, records: Sequence[Mapping[str, Any]]) -> str:
    """The column's API spelling (``external_id__c`` -> ``External_ID__c``) when known."""
    if "." not in column:
        f = obj.get(column)
        return str(f.name) if f is not None else column
    for r in records[:1]:
        out, value = [], r
        for part in column.split("."):
            key = next((k for k in value if k.lower() == part.lower()), None) \
                if isinstance(value, dict) else None
            if key is None:
                return column
            out.append(key)
            value = value[key]
        return ".".join(out)
    return column
