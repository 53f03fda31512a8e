"""The DML step both Bulk APIs share: one batch (Bulk API 1.0) or one chunk (Bulk API 2.0)
of records applied with the job's operation.

Bulk API 1.0 (``rest/bulk1.py``) receives its records as JSON, Bulk API 2.0
(``rest/bulk2.py``) as CSV rows it turns into records; from there the two are the same:
``insert``, ``update``, ``upsert`` on the job's External ID field, and ``delete`` /
``hardDelete`` (a soft delete in sforg-sim, fidelity rows B* and BA1) by the records'
``Id``. One function, so the two cannot drift (they used to: Bulk 2.0 read the Id from
the first CSV column as written, Bulk 1.0 from any key spelled ``id`` in any case).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from ..core import OrgCore
    from ..dml import SaveResult

__all__ = ["record_id", "run_dml"]


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
