"""The nightly job's domain: what the team's job copies, from where, over which ranges.

One home for the vocabulary every runner, scenario and processor shares, so the generic
layers (the async engine, its fault schedules, the store) name no object or field:

- the target: ``Opportunity.StageName``, keyed by the External ID ``External_ID__c``;
- the source: the Data Cloud object ``Opportunity_Source__dlm``, whose ``StageName__c``
  holds the value the job copies (``Qualification`` in the team's data);
- the key format ``externalOpp0000001`` and the partition ranges the start script prints
  (``externalOpp0000001 to externalOpp0200001``), read half-open by V2;
- "another user" changing the job's records while it runs (the ``update``, ``delete`` and
  ``insert`` faults of :class:`~sforg_sim.apex.faults.FaultSchedule`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .apex.faults import ChangeKind
from .errors import UsageError
from .schema import Field

if TYPE_CHECKING:
    from .core import OrgCore

__all__ = [
    "KEY_FIELD", "KEY_PREFIX", "OTHER_USERNAME", "SCOPE_WHERE", "SOURCE_FIELD", "SOURCE_OBJECT",
    "STAGE_AGGREGATE", "TARGET_FIELD", "TARGET_OBJECT", "TARGET_STAGE", "AnotherUser",
    "Partition", "external_id", "parse_range", "partitions", "source_object_fields",
]

TARGET_OBJECT = "Opportunity"
"""The object the job writes."""
TARGET_FIELD = "StageName"
"""The field the job copies onto each target record."""
KEY_FIELD = "External_ID__c"
"""The External ID joining a target record to its source row (unique, case-insensitive)."""
SOURCE_OBJECT = "Opportunity_Source__dlm"
"""The Data Cloud object the nightly job reads (a data lake object, hence ``__dlm``)."""
SOURCE_FIELD = "StageName__c"
"""The source field whose value the job copies."""
TARGET_STAGE = "Qualification"
"""The value every source row holds in the team's data: what the run must leave behind."""
KEY_PREFIX = "externalOpp"
"""The team's External IDs: ``externalOpp`` and seven digits."""
SCOPE_WHERE = f"{KEY_FIELD} LIKE '{KEY_PREFIX}%'"
"""SOQL condition selecting the job's records."""
STAGE_AGGREGATE = (f"SELECT {TARGET_FIELD}, COUNT(Id) cnt FROM {TARGET_OBJECT} "
                   f"WHERE {SCOPE_WHERE} GROUP BY {TARGET_FIELD}")
"""The team's verification query (their runbook's step 6)."""


def external_id(n: int, width: int = 7) -> str:
    """The team's External ID for record ``n``: ``externalOpp0000001``."""
    return f"{KEY_PREFIX}{n:0{width}d}"


def source_object_fields() -> list[Field]:
    """Fields of the Data Cloud source object."""
    return [
        Field(KEY_FIELD, "string", "External ID", 255, external_id=True, unique=True),
        Field(SOURCE_FIELD, "string", "Stage Name", 255),
        Field("Amount__c", "currency", "Amount", precision=18, scale=2),
    ]


# --- partitions ------------------------------------------------------------------------------

_RANGE = re.compile(r"^\s*(\S+)\s+to\s+(\S+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Partition:
    """One partition: External IDs from ``start`` to ``end``.

    The team writes ranges as ``externalOpp0000001 to externalOpp0200001``, sharing the
    boundary with the next range; V2 reads them half-open (``start <= id < end``) so each
    id belongs to exactly one partition; V1 read them inclusively.
    """

    index: int
    start: str
    end: str

    def label(self) -> str:
        """The team's printed form: ``externalOpp0000001 to externalOpp0200001``."""
        return f"{self.start} to {self.end}"


def parse_range(text: str, index: int = 0) -> Partition:
    """Parse ``"externalOpp0000001 to externalOpp0200001"``; a malformed or empty range
    is the caller's mistake (:class:`~sforg_sim.errors.UsageError`)."""
    m = _RANGE.match(text)
    if m is None:
        raise UsageError(f"expected 'START to END', got {text!r}")
    if m.group(1).upper() >= m.group(2).upper():
        raise UsageError(f"empty range {text!r} (START must sort before END)")
    return Partition(index, m.group(1), m.group(2))


def partitions(records: int, count: int = 10) -> list[Partition]:
    """``count`` ranges over ``externalOpp0000001 .. records`` in the team's boundary form.

    Sizes differ by at most one; boundaries are shared (``... to externalOpp0200001``,
    ``externalOpp0200001 to ...``); the last end is one past the last id.
    """
    if count < 1 or records < count:
        raise UsageError(f"need 1 <= partitions <= records, got {count} for {records}")
    bounds = [1 + (records * i) // count for i in range(count + 1)]
    return [Partition(i, external_id(bounds[i]), external_id(bounds[i + 1]))
            for i in range(count)]


# --- another user ------------------------------------------------------------------------------



class SourceRows(Protocol):
    """Where a new source row goes (the simulated Data Cloud source)."""

    def insert_rows(self, rows: list[dict[str, Any]]) -> None:
        """Ingest rows into the source object."""


OTHER_USERNAME = "integration@sim.example.com"
"""The user "another user" changes are made as, when the org has no second user."""


class AnotherUser:
    """"Another user" changing the job's records while it runs, for the ``update``,
    ``delete`` and ``insert`` faults: picks a live target record at random (seeded), then
    sets a StageName the job does not write, soft-deletes it, or inserts a new record next
    to it (``<key>b``) with its source row, as the integration user would.
    """

    def __init__(self, source: SourceRows | None = None) -> None:
        self.source = source

    @staticmethod
    def _other_user(org: OrgCore) -> str:
        """Another user than the one the job runs as: the first such User, or a new
        integration user, so LastModifiedById tells the two apart."""
        users = org.store.select(org.schema.get("User"), ["Id"], '"Id" IS NOT ?',
                                 (org.user_id,), order_by='"Id"', limit=1)
        if users:
            return str(users[0][0])
        [res] = org.insert("User", [{"Username": OTHER_USERNAME, "LastName": "Integration",
                                     "Email": OTHER_USERNAME}])
        return str(res["id"])

    def change(self, org: OrgCore, kind: ChangeKind, rng: random.Random) -> None:
        """Make one change of ``kind`` as another user than the job's."""
        store = org.store
        obj = org.schema.get(TARGET_OBJECT)
        top = store.max_rowid(obj)
        if not top:
            return
        rows = store.select(obj, ["Id", KEY_FIELD, "CloseDate"],
                            'rowid >= ? AND "IsDeleted" = 0', (rng.randint(1, top),), limit=1)
        if not rows:
            return
        rid, ext, close = rows[0]
        with org.as_user(self._other_user(org)):
            if kind == "update":
                org.update(TARGET_OBJECT, [{"Id": rid, TARGET_FIELD: "Prospecting"}])
            elif kind == "delete":
                org.delete(TARGET_OBJECT, [rid])
            elif ext:
                new_ext = f"{ext}b"
                res = org.insert(TARGET_OBJECT, [{"Name": f"Concurrent {new_ext}",
                                                  TARGET_FIELD: "Prospecting",
                                                  "CloseDate": close, KEY_FIELD: new_ext}])
                if res[0]["success"] and self.source is not None:
                    self.source.insert_rows([{KEY_FIELD: new_ext, SOURCE_FIELD: TARGET_STAGE}])
