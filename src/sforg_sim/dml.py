"""DML: insert, update, upsert, soft delete, undelete and merge with Salesforce's
record-level results.

Each operation takes a list of records and returns one SaveResult per record, shaped as the
REST sObject Collections API returns them: ``{"id", "success", "errors": [{"statusCode",
"message", "fields"}]}`` (upsert adds ``"created"``). With ``all_or_none`` a single failure
rolls the whole call back and every other record reports ALL_OR_NONE_OPERATION_ROLLED_BACK.

Validation runs in Python once per record, but writes are set operations (``executemany``
inside a savepoint), and lookups (existing rows, references, external ids) are batched, so
a 500-record page costs a handful of SQLite statements, not 500.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, cast

from . import ids
from .errors import (
    AllOrNoneOperationRolledBack,
    CannotInsertUpdateActivateEntity,
    DuplicateExternalId,
    DuplicateValue,
    EntityIsDeleted,
    FieldIntegrityException,
    InvalidCrossReferenceKey,
    InvalidField,
    InvalidFieldForInsertUpdate,
    InvalidType,
    MalformedId,
    RequiredFieldMissing,
    SalesforceError,
    UsageError,
    error_class,
)
from .history import history_object, write_history
from .schema import MERGEABLE, OPPORTUNITY_STAGES, TEXT_TYPES, Field, Schema, SObjectDef
from .store import Store, quote, sk_column

__all__ = ["Dml", "SaveResult", "match_key", "matches_case_insensitively"]

SaveResult = dict[str, Any]
_STAGE_PROBABILITY = dict(OPPORTUNITY_STAGES)
_AUDIT = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
          "SystemModstamp", "IsDeleted")


@dataclass
class _Pending:
    """A record that passed validation: its position and its stored values."""

    index: int
    values: dict[str, Any]


def _ok(rec_id: str, **extra: Any) -> SaveResult:
    return {"id": rec_id, "success": True, "errors": [], **extra}


def _fail(err: SalesforceError, rec_id: str | None = None, **extra: Any) -> SaveResult:
    return {"id": rec_id, "success": False, "errors": [err.to_save_error()], **extra}


def _read_only(names: list[str]) -> InvalidFieldForInsertUpdate:
    return InvalidFieldForInsertUpdate(
        f"Unable to create/update fields: {', '.join(names)}. Please check the security "
        "settings of this field and verify that it is read/write for your profile or "
        "permission set.", names)



def matches_case_insensitively(f: Field) -> bool:
    """Whether upsert matches ``f``'s values without regard to case.

    *SOAP API Developer Guide*, ``upsert()``, Note
    (https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_upsert.htm;
    v260 text read from code index id 52947943117): "Matching by external ID is
    case-insensitive only if the external ID field has the Unique attribute and the Treat
    "ABC" and "abc" as duplicate values (case insensitive) option selected". So a
    non-unique External ID, or a case-sensitive one, matches exactly.
    """
    return f.sort_key and f.unique


def match_key(f: Field, value: Any) -> Any:
    """The key upsert compares for a (coerced) External ID value of ``f``."""
    return value.upper() if matches_case_insensitively(f) else value


_SCALARS = frozenset({str, int, float, bool, type(None)})
"""Value types that are never a nested external-Id reference (a Mapping)."""


def _plain(records: Sequence[Mapping[str, Any]]) -> bool:
    """True when every record is a dict whose values are all strings, numbers, booleans
    or nulls: no nested external-Id reference to resolve. The types are gathered by
    ``map`` and ``set`` in C, a few microseconds a page of 500 instead of an ``isinstance``
    against the Mapping ABC per value (0.3 ms a page; issue 21)."""
    if set(map(type, records)) - {dict}:
        return False
    values = chain.from_iterable(map(dict.values, cast("Sequence[dict[str, Any]]", records)))
    return set(map(type, values)) <= _SCALARS


def _coerce_column(f: Field, values: list[Any]) -> list[Any]:
    """``[f.coerce(v) for v in values]``, coercing each distinct string once.

    A text field's coercion depends only on the field and the value (length, encoding,
    restricted picklist values), so equal strings coerce equally; a page of 500 updates
    usually carries a handful of distinct StageNames (issue 21: 500 calls become a few
    plus dictionary lookups). A value that fails raises on its first occurrence, as the
    plain loop would.
    """
    if f.type not in TEXT_TYPES:
        return [f.coerce(v) for v in values]
    seen: dict[str, Any] = {}
    out = []
    for v in values:
        if type(v) is str:
            if v in seen:
                out.append(seen[v])
            else:
                out.append(seen.setdefault(v, f.coerce(v)))
        else:
            out.append(f.coerce(v))
    return out


class Dml:
    """The DML operations of one org. ``now`` and ``user`` give the audit stamp."""

    def __init__(self, store: Store, schema: Schema, now: Callable[[], str],
                 user: Callable[[], str]) -> None:
        self.store = store
        self.schema = schema
        self.now = now
        self.user = user
        self._update_plans: dict[tuple[str, tuple[str, ...]],
                                 list[tuple[str, Field]] | None] = {}

    # --- validation -----------------------------------------------------------------------

    def _values(self, obj: SObjectDef, rec: Mapping[str, Any], *, insert: bool,
                skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Validate one record's fields into ``{canonical name: stored value}``."""
        if not isinstance(rec, Mapping):
            raise InvalidField(f"Record is not an object: {rec!r}")
        out: dict[str, Any] = {}
        read_only: list[str] = []
        for key, value in rec.items():
            if key == "attributes" or key in skip:
                continue
            f = obj.get(key)
            if f is None:
                raise InvalidField(
                    f"No such column '{key}' on sobject of type {obj.name}", [key])
            if not (f.createable if insert else f.updateable):
                read_only.append(f.name)
                continue
            out[f.name] = self._coerce(f, value)
        if read_only:
            raise _read_only(read_only)
        missing = [f.name for f in obj.fields.values()
                   if (f.required and insert and out.get(f.name) is None)
                   or (not insert and f.name in out and out[f.name] is None
                       and not f.nillable)]
        if missing:
            raise RequiredFieldMissing(
                f"Required fields are missing: [{', '.join(missing)}]", missing)
        return out

    def _coerce(self, f: Field, value: Any) -> Any:
        stored = f.coerce(value)
        if f.type == "reference" and stored is not None:
            target = self.schema.by_prefix(stored[:3])
            if target is None or target.name not in f.reference_to:
                raise FieldIntegrityException(
                    f"{f.label or f.name}: id value of incorrect type: {value}", [f.name])
        return stored

    def _check_references(self, obj: SObjectDef, pending: list[_Pending],
                          results: list[SaveResult | None]) -> list[_Pending]:
        """Fail records whose lookups name no live record (one query per target)."""
        refs = [f for f in obj.fields.values() if f.type == "reference" and f.createable]
        wanted: dict[str, set[str]] = {}
        for p in pending:
            for f in refs:
                v = p.values.get(f.name)
                if v is not None:
                    wanted.setdefault(v[:3], set()).add(v)
        if not wanted:
            return pending
        alive: set[str] = set()
        for prefix, values in wanted.items():
            target = self.schema.by_prefix(prefix)
            if target is None:
                continue
            found = self.store.fetch(target, sorted(values), ["IsDeleted"])
            alive.update(k for k, (deleted,) in found.items() if not deleted)
        keep = []
        for p in pending:
            bad = [f.name for f in refs if p.values.get(f.name) not in (None, *alive)]
            if bad:
                results[p.index] = _fail(InvalidCrossReferenceKey(
                    "invalid cross reference id", bad))
            else:
                keep.append(p)
        return keep

    # --- external-Id foreign keys -----------------------------------------------------------

    def resolve_foreign_keys(self, obj: SObjectDef, records: Sequence[Mapping[str, Any]]
                             ) -> tuple[Sequence[Mapping[str, Any]],
                                        dict[int, SalesforceError]]:
        """Records with each nested external-Id reference replaced by the parent's Id, and
        the errors of the records whose reference could not be resolved (by position).

        A record may name its parent by an External ID instead of an Id, under the
        relationship name: ``{"Account": {"External_ID__c": "X"}}`` or
        ``{"Account__r": {"External_Key__c": "X"}}`` (*REST API Developer Guide*, "Insert
        or Update (Upsert) a Record Using an External ID", the section on upserting with
        an external ID reference to a related record,
        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_upsert.htm;
        *SOAP API Developer Guide*, "upsert()": "you can use external IDs as foreign keys").
        The nested object holds one field, an External ID (or Id) of the parent, plus an
        optional ``attributes`` (``{"type": ...}``, which picks the parent object of a
        polymorphic lookup). The value matches as the upsert key does (:func:`match_key`:
        case-insensitive only when the field is unique and case-insensitive, exact
        otherwise). Errors:

        - nothing matches: INVALID_FIELD ``Foreign key external ID: X not found for field
          F in entity P`` (the message seen from real orgs);
        - more than one record matches: DUPLICATE_EXTERNAL_ID, worded as upsert's;
        - more than one field in the nested object: INVALID_FIELD ``More than 1 field
          provided in an external foreign key reference in entity: P`` (seen from real
          orgs); none: INVALID_FIELD (the simulator's wording);
        - a field that is no External ID: upsert's INVALID_FIELD;
        - the Id field and the reference both given: INVALID_FIELD ``Cannot specify both
          an external ID reference R and a salesforce id, F``.

        Records without a nested object come back as they are, in one pass of cheap
        checks, so plain DML pays nothing more. A key that is no relationship is left for
        the ordinary field checks (INVALID_FIELD ``No such column``).
        """
        found: list[tuple[int, str, Field, SObjectDef, Field, Any, Any]] = []
        errors: dict[int, SalesforceError] = {}
        if _plain(records):
            return records, errors
        for i, rec in enumerate(records):
            if not isinstance(rec, Mapping):
                continue
            for k, v in rec.items():
                if not isinstance(v, Mapping):
                    continue
                ref = self._reference_field(obj, k)
                if ref is None:
                    continue  # not a relationship: the field checks report it
                try:
                    found.append((i, k, ref, *self._foreign_key(obj, rec, k, ref, v)))
                except SalesforceError as e:
                    errors.setdefault(i, e)
        if not found:
            return records, errors
        wanted: dict[tuple[str, str], tuple[SObjectDef, Field, set[Any]]] = {}
        for _, _, _, target, f, key, _ in found:
            wanted.setdefault((target.name, f.name), (target, f, set()))[2].add(key)
        matches = {name: self.match(target, f, keys)
                   for name, (target, f, keys) in wanted.items()}
        out = list(records)
        for i, k, ref, target, f, key, raw in found:
            if i in errors:
                continue
            hits = matches[(target.name, f.name)].get(key, [])
            if not hits:
                errors[i] = InvalidField(f"Foreign key external ID: {raw} not found for "
                                         f"field {f.name} in entity {target.name}", [])
                continue
            if len(hits) > 1:
                errors[i] = DuplicateExternalId(
                    f"{f.name}: more than one record found for external id field: "
                    f"[{', '.join(hits)}]", [f.name])
                continue
            rec = dict(out[i])
            del rec[k]
            rec[ref.name] = hits[0]
            out[i] = rec
        return out, errors

    @staticmethod
    def _reference_field(obj: SObjectDef, name: str) -> Field | None:
        """The lookup field behind relationship ``name`` (``Account``, ``Account__r``)."""
        ref = obj.relationship(name)
        if ref is None and name.lower().endswith("__r"):
            cand = obj.get(name[:-3] + "__c")
            ref = cand if cand is not None and cand.type == "reference" else None
        return ref if ref is not None and ref.reference_to else None

    def _foreign_key(self, obj: SObjectDef, rec: Mapping[str, Any], name: str, ref: Field,
                     nested: Mapping[str, Any]) -> tuple[SObjectDef, Field, Any, Any]:
        """(parent object, External ID field, match key, value as written) of one nested
        reference; the request-level mistakes as the errors the docstring above lists."""
        if any(k.lower() == ref.name.lower() and v is not None for k, v in rec.items()):
            raise InvalidField(f"Cannot specify both an external ID reference {name} and a "
                               f"salesforce id, {ref.name}", [ref.name])
        target_name = ref.reference_to[0]
        attrs = nested.get("attributes")
        if isinstance(attrs, Mapping) and isinstance(attrs.get("type"), str):
            want = attrs["type"].lower()
            target_name = next((t for t in ref.reference_to if t.lower() == want), "")
            if not target_name:
                raise InvalidField(f"{attrs['type']} is not a valid type for the "
                                   f"relationship {name}", [ref.name])
        target = self.schema.get(target_name)
        keys = [k for k in nested if k != "attributes"]
        if len(keys) != 1:
            raise InvalidField(
                f"More than 1 field provided in an external foreign key reference in "
                f"entity: {target.name}" if keys else "No external ID field provided in "
                f"the foreign key reference {name} (sforg_sim)", [ref.name])
        f = target.external_id_field(keys[0])
        raw = nested[keys[0]]
        value = f.coerce(raw)
        if value is None:
            raise InvalidField(f"Foreign key external ID: null not found for field "
                               f"{f.name} in entity {target.name}", [])
        return target, f, match_key(f, value), raw

    # --- insert ---------------------------------------------------------------------------

    def insert(self, sobject: str, records: Sequence[Mapping[str, Any]], *,
               all_or_none: bool = False, system: bool = False) -> list[SaveResult]:
        """Insert records; returns SaveResults in input order. ``system``: the platform's
        own insert (the org's Organization row at bootstrap), allowed on an object no
        user can create."""
        obj = self.schema.get(sobject)
        if not obj.createable and not system:
            return self._not_allowed(obj, records, "inserted")
        results: list[SaveResult | None] = [None] * len(records)
        records, ref_errors = self.resolve_foreign_keys(obj, records)
        pending: list[_Pending] = []
        for i, rec in enumerate(records):
            try:
                if i in ref_errors:
                    raise ref_errors[i]
                if isinstance(rec, Mapping) and any(k.lower() == "id" for k in rec):
                    raise InvalidFieldForInsertUpdate(
                        "cannot specify Id in an insert call", ["Id"])
                pending.append(_Pending(i, self._values(obj, rec, insert=True)))
            except SalesforceError as e:
                results[i] = _fail(e)
        pending = self._check_references(obj, pending, results)
        if all_or_none and any(r is not None for r in results):
            return self._rolled_back(results)
        self._apply_defaults(obj, pending)
        with self.store.savepoint() as sp:
            self._insert_pending(obj, pending, results)
            if all_or_none and any(r is not None and not r["success"] for r in results):
                sp.rollback()
                return self._rolled_back(results)
        return [r for r in results if r is not None]

    def _apply_defaults(self, obj: SObjectDef, pending: list[_Pending]) -> None:
        now, user = self.now(), self.user()
        owner = obj.get("OwnerId")
        stage_probability = obj.name == "Opportunity"
        new_ids = self.store.new_ids(obj, len(pending))
        for p, rec_id in zip(pending, new_ids):
            v = p.values
            v["Id"] = rec_id
            v["IsDeleted"] = 0
            v["CreatedDate"] = v["LastModifiedDate"] = v["SystemModstamp"] = now
            v["CreatedById"] = v["LastModifiedById"] = user
            if owner is not None and v.get("OwnerId") is None:
                v["OwnerId"] = user
            if stage_probability and v.get("Probability") is None:
                v["Probability"] = float(_STAGE_PROBABILITY.get(v.get("StageName") or "", 0))
            for f in obj.fields.values():
                if f.type == "boolean" and v.get(f.name) is None:
                    v[f.name] = 1 if f.name == "IsActive" else 0

    def _insert_pending(self, obj: SObjectDef, pending: list[_Pending],
                        results: list[SaveResult | None]) -> None:
        store = self.store
        try:
            with store.savepoint():
                store.insert_rows(obj, [store.row(obj, p.values) for p in pending])
            done = pending
        except sqlite3.IntegrityError:
            # Someone collides on a unique field: redo row by row to blame the right ones.
            done = []
            for p in pending:
                try:
                    with store.savepoint():
                        store.insert_rows(obj, [store.row(obj, p.values)])
                    done.append(p)
                except sqlite3.IntegrityError:
                    results[p.index] = _fail(self._duplicate(obj, p.values))
        for p in done:
            results[p.index] = _ok(p.values["Id"])
        self._history(obj, [p.values["Id"] for p in done])

    def _duplicate(self, obj: SObjectDef, values: Mapping[str, Any],
                   exclude: str | None = None) -> DuplicateValue:
        for f in obj.fields.values():
            if not f.unique or values.get(f.name) is None:
                continue
            col = sk_column(f.name) if f.sort_key else f.name
            key = values[f.name].upper() if f.sort_key else values[f.name]
            row = self.store.read_one(
                f'SELECT "Id" FROM {quote(obj.name)} WHERE {quote(col)} = ? AND "Id" IS NOT ?',
                (key, exclude))
            if row:
                return DuplicateValue(
                    f"duplicate value found: {f.name} duplicates value on record with id: "
                    f"{row[0]}", [f.name])
        return DuplicateValue("duplicate value found: <unknown> duplicates value on record "
                              "with id: <unknown>")

    @staticmethod
    def _not_allowed(obj: SObjectDef, records: Sequence[Any], verb: str
                     ) -> list[SaveResult]:
        """Every record fails: the object itself cannot be inserted (or updated), as its
        describe says (``createable``/``updateable`` false: AsyncApexJob, CronTrigger,
        history objects). Real orgs answer CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY ``entity
        type cannot be inserted: <label>`` (wording seen from real orgs, REST and SOAP)."""
        err = CannotInsertUpdateActivateEntity(
            f"entity type cannot be {verb}: {obj.label or obj.name}", [])
        return [_fail(err) for _ in records]

    @staticmethod
    def _rolled_back(results: list[SaveResult | None]) -> list[SaveResult]:
        rolled = AllOrNoneOperationRolledBack(
            "Record rolled back because not all records were valid and the request was "
            "using AllOrNone header")
        out = []
        for r in results:
            if r is None or r["success"]:
                extra = {"created": r["created"]} if r is not None and "created" in r else {}
                out.append(_fail(rolled, **extra))
            else:
                out.append({**r, "id": None})
        return out

    # --- history ----------------------------------------------------------------------------

    def _history_object(self, obj: SObjectDef) -> SObjectDef | None:
        return history_object(self.schema, obj)

    def _tracked(self, obj: SObjectDef) -> list[str]:
        """Fields of ``obj`` whose change writes a history row (none without history)."""
        hist = self._history_object(obj)
        if hist is None:
            return []
        return [n for n in hist.fields if n not in ("Id", *_AUDIT) and n in obj.fields]

    def _history(self, obj: SObjectDef, record_ids: Sequence[str]) -> None:
        write_history(self.store, self.schema, obj, record_ids, self.now(), self.user())

    # --- update ---------------------------------------------------------------------------

    def update(self, sobject: str, records: Sequence[Mapping[str, Any]], *,
               all_or_none: bool = False) -> list[SaveResult]:
        """Update records by Id; returns SaveResults in input order."""
        obj = self.schema.get(sobject)
        if not obj.updateable:
            return self._not_allowed(obj, records, "updated")
        records, ref_errors = self.resolve_foreign_keys(obj, records)
        # The fast path either succeeds for every record or changes nothing, so it serves
        # all-or-none calls (Apex DML) as well.
        fast = self._fast_update(obj, records) if not ref_errors else None
        if fast is not None:
            return fast
        results: list[SaveResult | None] = [None] * len(records)
        pending: list[_Pending] = []
        seen: set[str] = set()
        plans = self._update_plans
        for i, rec in enumerate(records):
            try:
                if i in ref_errors:
                    raise ref_errors[i]
                rec_id = self._record_id(obj, rec)
                if rec_id in seen:
                    raise DuplicateValue(f"Duplicate id in list: {rec_id}", ["Id"])
                seen.add(rec_id)
                key = (obj.name, tuple(rec))
                if key in plans:
                    plan = plans[key]
                else:
                    plan = plans[key] = self._update_plan(obj, key[1])
                vals = None
                if plan is not None:
                    # Fast path: every key is a known updateable field (checked once per
                    # key set); per record only values are coerced. Anything unusual (a
                    # null in a non-nillable field) falls back to the full validation so
                    # errors stay exactly the same.
                    coerce = self._coerce
                    vals = {f.name: coerce(f, rec[k]) for k, f in plan}
                    if any(v is None and not f.nillable
                           for (_, f), v in zip(plan, vals.values())):
                        vals = None
                if vals is None:
                    vals = self._values(obj, rec, insert=False,
                                        skip=frozenset(k for k in rec if k.lower() == "id"))
                vals["Id"] = rec_id
                pending.append(_Pending(i, vals))
            except SalesforceError as e:
                rid = rec.get("Id") if isinstance(rec, Mapping) else None
                results[i] = _fail(e, rid if isinstance(rid, str) else None)
        pending = self._check_references(obj, pending, results)
        if all_or_none and any(r is not None for r in results):
            return self._rolled_back(results)
        with self.store.savepoint() as sp:
            self._update_pending(obj, pending, results)
            if all_or_none and any(r is not None and not r["success"] for r in results):
                sp.rollback()
                return self._rolled_back(results)
        return [r for r in results if r is not None]

    def _fast_update(self, obj: SObjectDef,
                     records: Sequence[Mapping[str, Any]]) -> list[SaveResult] | None:
        """The common case as set work: every record has the same keys, valid live ids and
        valid values. Returns None, having changed nothing, as soon as anything is unusual,
        and the caller takes the record-by-record path, which produces the exact errors.

        A replay updates 500 records per transaction thousands of times; this path costs a
        few list comprehensions and four SQL statements per call (stage the new values,
        check the records and find the history rows, UPDATE from the staging table, write
        the history rows) instead of several dicts and one UPDATE per record.
        """
        if not records or not all(type(r) is dict for r in records):
            return None
        keys = tuple(records[0])
        if "Id" not in keys or any(tuple(r) != keys for r in records):
            return None
        plan_key = (obj.name, keys)
        if plan_key in self._update_plans:
            plan = self._update_plans[plan_key]
        else:
            plan = self._update_plans[plan_key] = self._update_plan(obj, keys)
        if not plan or any(f.type == "reference" for _, f in plan):
            return None
        # Ids are checked by finding them: the table holds only canonical 18-character ids
        # of this object, so an exact match proves the form and the type at once. Anything
        # else (15 characters, repaired case, a typo) is for the slow path.
        ids18 = [r["Id"] for r in records]
        if len(set(ids18)) != len(ids18) or not all(type(i) is str for i in ids18):
            return None
        fields = [f for _, f in plan]
        try:
            columns = [_coerce_column(f, [r[k] for r in records]) for k, f in plan]
        except SalesforceError:
            return None
        for f, col in zip(fields, columns):
            if not f.nillable and None in col:
                return None
        targets: list[str] = []
        values: list[Sequence[Any]] = []
        for f, col in zip(fields, columns):
            targets.append(f.name)
            values.append(col)
            if f.sort_key:
                targets.append(sk_column(f.name))
                values.append([v.upper() if v is not None else None for v in col])
        store, t = self.store, quote(obj.name)
        tmp = self._staging(len(values))
        slots = ", ".join(f"c{j}" for j in range(len(values)))
        try:
            # Inside the try: a value SQLite refuses part-way through must not leave rows
            # behind for the next update of this width to apply.
            store.write_many(tmp, f"INSERT INTO {tmp} (Id, {slots}) "
                             f"VALUES (?{', ?' * len(values)})", zip(ids18, *values))
            # One pass finds each record: -1 deleted, 1 a tracked field changes (a history
            # row), 0 otherwise, NULL missing. A correlated subquery, not a join: the
            # planner has no statistics for the staging table and would scan the big one
            # (or build a Bloom filter over it) for a join.
            tracked = set(self._tracked(obj))
            changes = [f'o.{quote(c)} IS NOT u.c{j}' for j, c in enumerate(targets)
                       if c in tracked]
            changed = f" WHEN {' OR '.join(changes)} THEN 1" if changes else ""
            found = store.read(
                f'SELECT u.Id, (SELECT CASE WHEN o."IsDeleted" THEN -1{changed} ELSE 0 END '
                f'FROM {t} o WHERE o."Id" = u.Id) FROM {tmp} u ORDER BY u.n')
            flags = {f for _, f in found}
            if None in flags or -1 in flags:
                return None  # a missing or deleted record: the slow path names it
            history = [rid for rid, f in found if f == 1] if 1 in flags else []
            now, user = self.now(), self.user()
            with store.savepoint():
                store.write(
                    obj.name, f"UPDATE {t} SET ({', '.join(map(quote, targets))}) = "
                    f"(SELECT {slots} FROM {tmp} u WHERE u.Id = {t}.\"Id\"), "
                    f'"LastModifiedDate" = ?, "SystemModstamp" = ?, "LastModifiedById" = ? '
                    f'WHERE "Id" IN (SELECT Id FROM {tmp})', (now, now, user))
                self._history(obj, history)
        except (sqlite3.IntegrityError, OverflowError):
            return None  # a unique clash or an unstorable number: the slow path names it
        finally:
            store.write(tmp, f"DELETE FROM {tmp}")
        return [{"id": rid, "success": True, "errors": []} for rid in ids18]

    def _staging(self, width: int) -> str:
        """A temp table for one set-based update: ``n`` (order), ``Id``, ``c0..c<width-1>``.

        The new values go into SQLite once; the record check and the UPDATE then read them
        through correlated subqueries, a fraction of the time of one UPDATE per record.
        """
        # IF NOT EXISTS every time: the store may have swapped its connection (an org
        # loaded into memory), and temp tables live per connection.
        cols = "".join(f", c{j}" for j in range(width))
        table = f"temp._upd{width}"
        self.store.write(table, f"CREATE TEMP TABLE IF NOT EXISTS _upd{width} "
                                f"(n INTEGER PRIMARY KEY, Id TEXT UNIQUE{cols})")
        return table

    def _update_plan(self, obj: SObjectDef,
                     keys: tuple[str, ...]) -> list[tuple[str, Field]] | None:
        """(key, field) pairs for an update record with these keys, or None when any key
        is unknown, read-only or repeated (those records take the fully validated path)."""
        plan: list[tuple[str, Field]] = []
        names: set[str] = set()
        for k in keys:
            if k == "attributes" or k.lower() == "id":
                continue
            f = obj.get(k)
            if f is None or not f.updateable or f.name in names:
                return None
            names.add(f.name)
            plan.append((k, f))
        return plan

    def _record_id(self, obj: SObjectDef, rec: Mapping[str, Any]) -> str:
        if not isinstance(rec, Mapping):
            raise InvalidField(f"Record is not an object: {rec!r}")
        raw = rec["Id"] if "Id" in rec else next(
            (v for k, v in rec.items() if k.lower() == "id"), None)
        if raw is None:
            raise error_class("MISSING_ARGUMENT")("Id not specified in an update call", ["Id"])
        rec_id = ids.canonical(raw) or ids.to18(raw)
        if rec_id[:3] != obj.key_prefix:
            raise MalformedId(f"{obj.name} ID: id value of incorrect type: {raw}", ["Id"])
        return rec_id

    def _update_pending(self, obj: SObjectDef, pending: list[_Pending],
                        results: list[SaveResult | None]) -> None:
        tracked = self._tracked(obj)
        existing = self.store.fetch(obj, [p.values["Id"] for p in pending],
                                    ["IsDeleted", *tracked])
        now, user = self.now(), self.user()
        groups: dict[tuple[str, ...], list[_Pending]] = {}
        history: list[str] = []
        for p in pending:
            row = existing.get(p.values["Id"])
            if row is None:
                results[p.index] = _fail(InvalidCrossReferenceKey(
                    "invalid cross reference id", ["Id"]), p.values["Id"])
                continue
            if row[0]:
                results[p.index] = _fail(EntityIsDeleted("entity is deleted", ["Id"]),
                                         p.values["Id"])
                continue
            v = p.values
            if tracked:
                old = dict(zip(tracked, row[1:]))
                if any(n in v and v[n] != old[n] for n in tracked):
                    history.append(v["Id"])
            v["LastModifiedDate"] = v["SystemModstamp"] = now
            v["LastModifiedById"] = user
            groups.setdefault(tuple(k for k in v if k != "Id"), []).append(p)
        for names, group in groups.items():
            fields = [obj.fields[n] for n in names]
            sql = self.store.update_sql(obj, fields)
            try:
                with self.store.savepoint():
                    self.store.write_many(obj.name, sql, [
                        self.store.update_params(fields, [p.values[n] for n in names],
                                                 p.values["Id"]) for p in group])
                ok = group
            except sqlite3.IntegrityError:
                ok = []
                for p in group:
                    try:
                        with self.store.savepoint():
                            self.store.write(obj.name, sql, self.store.update_params(
                                fields, [p.values[n] for n in names], p.values["Id"]))
                        ok.append(p)
                    except sqlite3.IntegrityError:
                        results[p.index] = _fail(
                            self._duplicate(obj, p.values, exclude=p.values["Id"]),
                            p.values["Id"])
            for p in ok:
                results[p.index] = _ok(p.values["Id"])
        ok_ids = {r["id"] for r in results if r is not None and r["success"]}
        self._history(obj, [i for i in history if i in ok_ids])

    # --- upsert ---------------------------------------------------------------------------

    def upsert(self, sobject: str, external_id_field: str,
               records: Sequence[Mapping[str, Any]], *,
               all_or_none: bool = False) -> list[SaveResult]:
        """Insert or update by an External ID field (or Id); SaveResults carry ``created``."""
        obj = self.schema.get(sobject)
        if not obj.createable and not obj.updateable:
            # Neither half can happen (an object that allows one of the two does not
            # exist in this schema, so the mixed case is not modelled).
            return self._not_allowed(obj, records, "inserted")
        key_field = obj.external_id_field(external_id_field)
        results: list[SaveResult | None] = [None] * len(records)
        keys: dict[int, Any] = {}
        counts: dict[Any, int] = {}
        by_id = key_field.name == "Id"
        new_by_id: list[int] = []
        for i, rec in enumerate(records):
            raw = next((v for k, v in rec.items() if k.lower() == key_field.name.lower()),
                       None) if isinstance(rec, Mapping) else None
            if by_id and raw in (None, ""):
                # Upsert on Id: a record without an Id is inserted ("If the key isn't
                # matched, then a new object record is created": Apex Developer Guide,
                # "Upserting Records", langCon_apex_dml_examples_upsert.htm).
                new_by_id.append(i)
                continue
            if raw is None:
                results[i] = _fail(InvalidField(
                    f"{key_field.name} not specified", [key_field.name]), created=False)
                continue
            try:
                k = key_field.coerce(raw)
            except SalesforceError as e:
                results[i] = _fail(e, created=False)
                continue
            k = match_key(key_field, k)
            keys[i] = k
            counts[k] = counts.get(k, 0) + 1
        matches = self.match(obj, key_field, set(keys.values()))
        inserts: list[int] = []
        updates: list[tuple[int, str]] = []
        for i, k in keys.items():
            if counts[k] > 1:
                results[i] = _fail(DuplicateExternalId(
                    f"Duplicate external id specified: {records[i][key_field.name]}",
                    [key_field.name]), created=False)
            elif len(matches.get(k, [])) > 1:
                results[i] = _fail(DuplicateExternalId(
                    f"{key_field.name}: more than one record found for external id field: "
                    f"[{', '.join(matches[k])}]", [key_field.name]), created=False)
            elif matches.get(k):
                updates.append((i, matches[k][0]))
            else:
                inserts.append(i)
        inserts = sorted(inserts + new_by_id)
        fresh = set(new_by_id)
        if all_or_none and any(r is not None for r in results):
            return self._rolled_back(results)
        with self.store.savepoint() as sp:
            upd = self.update(obj.name, [{**_without(records[i], key_field), "Id": rid}
                                         for i, rid in updates])
            for (i, _), r in zip(updates, upd):
                results[i] = {**r, "created": False}
            ins = self.insert(obj.name, [_without(records[i], key_field) if i in fresh
                                         else records[i] for i in inserts])
            for i, r in zip(inserts, ins):
                results[i] = {**r, "created": r["success"]}
            if all_or_none and any(r is not None and not r["success"] for r in results):
                sp.rollback()
                return self._rolled_back(results)
        return [r for r in results if r is not None]

    def match(self, obj: SObjectDef, f: Field, keys: set[Any]) -> dict[Any, list[str]]:
        """``{key: [ids of live records whose field f holds it]}`` for an External ID (or
        Id) field; keys are :func:`match_key` values (upper case when the field matches
        case-insensitively)."""
        out: dict[Any, list[str]] = {}
        kl = sorted(keys)
        if f.sort_key and not matches_case_insensitively(f):
            # Exact match on the stored value, looked up through the indexed sort key.
            sk = quote(sk_column(f.name))
            for i in range(0, len(kl), 500):
                chunk = kl[i:i + 500]
                q = (f'SELECT {quote(f.name)}, "Id" FROM {quote(obj.name)} WHERE '
                     f'"IsDeleted" = 0 AND {sk} IN ({",".join("?" * len(chunk))}) '
                     'ORDER BY "Id"')
                wanted = set(chunk)
                for k, rid in self.store.read(q, [c.upper() for c in chunk]):
                    if k in wanted:
                        out.setdefault(k, []).append(rid)
            return out
        col = sk_column(f.name) if f.sort_key else f.name
        for i in range(0, len(kl), 500):
            chunk = kl[i:i + 500]
            q = (f'SELECT {quote(col)}, "Id" FROM {quote(obj.name)} WHERE "IsDeleted" = 0 '
                 f'AND {quote(col)} IN ({",".join("?" * len(chunk))}) ORDER BY "Id"')
            for k, rid in self.store.read(q, chunk):
                out.setdefault(k, []).append(rid)
        return out

    def _ids_and_rows(self, obj: SObjectDef, record_ids: Sequence[str],
                      results: list[SaveResult | None]
                      ) -> tuple[dict[int, str], dict[str, tuple[Any, ...]]]:
        """The well-formed 18-character ids of ``obj`` by position, and their rows'
        ``IsDeleted`` (absent: no such record); a malformed id or one of another object
        fails its position in ``results`` with MALFORMED_ID (delete and undelete alike)."""
        valid: dict[int, str] = {}
        for i, raw in enumerate(record_ids):
            try:
                rid = ids.to18(raw)
                if rid[:3] != obj.key_prefix:
                    raise MalformedId(f"{obj.name} ID: id value of incorrect type: {raw}")
                valid[i] = rid
            except SalesforceError as e:
                results[i] = _fail(e, raw if isinstance(raw, str) else None)
        return valid, self.store.fetch(obj, list(valid.values()), ["IsDeleted"])

    # --- delete ---------------------------------------------------------------------------

    def delete(self, sobject: str, record_ids: Sequence[str], *,
               all_or_none: bool = False) -> list[SaveResult]:
        """Soft delete: IsDeleted = true; the rows stay visible to queryAll."""
        obj = self.schema.get(sobject)
        if not obj.deletable:
            raise InvalidType(f"entity type {obj.name} does not support delete")
        results: list[SaveResult | None] = [None] * len(record_ids)
        valid, existing = self._ids_and_rows(obj, record_ids, results)
        todo: list[tuple[int, str]] = []
        for i, rid in valid.items():
            row = existing.get(rid)
            if row is None:
                results[i] = _fail(InvalidCrossReferenceKey("invalid cross reference id"), rid)
            elif row[0]:
                results[i] = _fail(EntityIsDeleted("entity is deleted"), rid)
            else:
                todo.append((i, rid))
        if all_or_none and any(r is not None for r in results):
            return self._rolled_back(results)
        now, user = self.now(), self.user()
        self.store.write_many(
            obj.name, f'UPDATE {quote(obj.name)} SET "IsDeleted" = 1, "LastModifiedDate" = ?, '
            f'"SystemModstamp" = ?, "LastModifiedById" = ? WHERE "Id" = ?',
            [(now, now, user, rid) for _, rid in todo])
        for i, rid in todo:
            results[i] = _ok(rid)
        return [r for r in results if r is not None]


    # --- undelete ---------------------------------------------------------------------------

    def undelete(self, sobject: str, record_ids: Sequence[str], *,
                 all_or_none: bool = False) -> list[SaveResult]:
        """Restore soft-deleted records from the recycle bin (IsDeleted = false).

        *SOAP API Developer Guide*, "undelete()"
        (https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_undelete.htm):
        "Use this call to restore any deleted record that is undeletable ... Records can be
        put in the Recycle Bin as the result of a merge() or delete() call"; the object
        must be ``undeletable`` in its describe (here: every deletable object, as
        ``SObjectDef.describe`` reports it). *Apex Developer Guide*, "Restoring Deleted
        Records" (langCon_apex_dml_examples_undelete.htm): a record deleted by a merge can
        be undeleted, but "the merge reparents the child objects, and that reparenting
        can't be undone" (its MasterRecordId is cleared here: the record is no merge loser
        any more). Per record:

        - a record that is not in the recycle bin (live) fails with UNDELETE_FAILED
          "Entity is not in the recycle bin", the error the platform answers for a record
          it cannot find in the bin (Salesforce Help, knowledge article 000386040,
          https://help.salesforce.com/s/articleView?id=000386040&type=1);
        - an id of no record: INVALID_CROSS_REFERENCE_KEY, and a malformed id or one of
          another object MALFORMED_ID, as :meth:`delete` answers them.

        Deviation: this org's delete does not cascade to child records, so undelete
        restores only the records named ("an undelete call undeletes the cascade-deleted
        records" has nothing to restore). One result per id (``id``, ``success``,
        ``errors``: the UndeleteResult); ``all_or_none`` as in the other calls.
        """
        obj = self.schema.get(sobject)
        if not obj.deletable:
            raise InvalidType(f"entity type {obj.name} does not support undelete")
        results: list[SaveResult | None] = [None] * len(record_ids)
        valid, existing = self._ids_and_rows(obj, record_ids, results)
        todo: list[tuple[int, str]] = []
        for i, rid in valid.items():
            row = existing.get(rid)
            if row is None:
                results[i] = _fail(InvalidCrossReferenceKey("invalid cross reference id"), rid)
            elif not row[0]:
                results[i] = _fail(error_class("UNDELETE_FAILED")(
                    "Entity is not in the recycle bin"), rid)
            else:
                todo.append((i, rid))
        if all_or_none and any(r is not None for r in results):
            return self._rolled_back(results)
        now, user = self.now(), self.user()
        master = ', "MasterRecordId" = NULL' if obj.get("MasterRecordId") is not None else ""
        self.store.write_many(
            obj.name, f'UPDATE {quote(obj.name)} SET "IsDeleted" = 0{master}, '
            f'"LastModifiedDate" = ?, "SystemModstamp" = ?, "LastModifiedById" = ? '
            f'WHERE "Id" = ?', [(now, now, user, rid) for _, rid in todo])
        for i, rid in todo:
            results[i] = _ok(rid)
        return [r for r in results if r is not None]

    # --- merge ------------------------------------------------------------------------------

    MERGEABLE = MERGEABLE
    """Objects merge() accepts: ``schema.MERGEABLE`` (one list with describe's
    ``mergeable``)."""

    def merge(self, sobject: str, master: Mapping[str, Any],
              merge_ids: Sequence[str]) -> SaveResult:
        """Merge one or two records into ``master``: one MergeResult (``id``, ``success``,
        ``errors``, ``mergedRecordIds``, ``updatedRelatedIds``).

        Rules (*SOAP API Developer Guide*, "merge()" and "MergeResult",
        https://developer.salesforce.com/docs/platform/api/guide/sforce-api-calls-merge.html;
        *Apex Developer Guide*, "Merging Records", langCon_apex_dml_examples_merge.htm, and
        "Triggers and Merge Statements", apex_triggers_merge_statements.htm):

        - only Account, Contact and Lead (:attr:`MERGEABLE`; another object: INVALID_TYPE
          for the whole call, as :meth:`delete` refuses an object it cannot delete);
        - "Up to three records can be merged in a single request, including the master
          record": one or two merge ids, else :class:`UsageError` (the caller's request
          is malformed; Apex turns it into a DmlException);
        - the master's own field values in ``master`` are written as an update ("set the
          field names and values in the record identified by the masterRecord ... similar
          to a call to update"); its errors are the update's;
        - "merge() deletes the other records ... If a victim record has related records,
          merge() makes the main record the new parent of the related records": every
          lookup to this object that names a merged record is pointed at the master (the
          related ids come back in ``updatedRelatedIds``), then the merged records are
          soft-deleted with ``MasterRecordId`` = the master ("When a record is deleted
          after losing a merge operation, its MasterRecordId field is set to the ID of the
          winning record"), visible to queryAll / ALL ROWS;
        - a master or merged record that is deleted: ENTITY_IS_DELETED; that names no
          record: INVALID_CROSS_REFERENCE_KEY; a malformed id or one of another object:
          MALFORMED_ID; the master among the merge ids, or an id twice: INVALID_ID_FIELD
          (the code of a bad id in the request; the wording is sforg-sim's).

        The whole merge is one unit: a failure leaves nothing changed. Deviation: the
        reparented child rows get a new SystemModstamp only (no LastModifiedDate, no
        field history), and merged records' own children are not cascade-deleted.
        """
        obj = self.schema.get(sobject)
        if obj.name not in self.MERGEABLE:
            raise InvalidType(f"entity type {obj.name} does not support merge")
        if not 1 <= len(merge_ids) <= 2:
            raise UsageError("a merge takes one or two records to merge into the master "
                             f"(up to three records in all), got {len(merge_ids)}")
        if not isinstance(master, Mapping):
            raise UsageError(f"the merge master is a record (a mapping with its Id), got "
                             f"{type(master).__name__}")
        try:
            master_id = self._record_id(obj, master)
            victims = [self._merge_id(obj, raw) for raw in merge_ids]
        except SalesforceError as e:
            return _fail(e, None, mergedRecordIds=[], updatedRelatedIds=[])
        if master_id in victims or len(set(victims)) != len(victims):
            return _fail(error_class("INVALID_ID_FIELD")(
                "The master record id and the ids to merge must all be different "
                "(sforg-sim wording)", ["Id"]), master_id, mergedRecordIds=[],
                updatedRelatedIds=[])
        found = self.store.fetch(obj, [master_id, *victims], ["IsDeleted"])
        for rid in (master_id, *victims):
            row = found.get(rid)
            err: SalesforceError | None = None
            if row is None:
                err = InvalidCrossReferenceKey("invalid cross reference id", ["Id"])
            elif row[0]:
                err = EntityIsDeleted("entity is deleted", ["Id"])
            if err is not None:
                return _fail(err, master_id, mergedRecordIds=[], updatedRelatedIds=[])
        with self.store.savepoint() as sp:
            fields = {k: v for k, v in master.items() if k.lower() != "id"}
            [res] = self.update(obj.name, [{**fields, "Id": master_id}])
            if not res["success"]:
                sp.rollback()
                return {**res, "mergedRecordIds": [], "updatedRelatedIds": []}
            related = self._reparent(obj, victims, master_id)
            now, user = self.now(), self.user()
            mark = ', "MasterRecordId" = ?' if obj.get("MasterRecordId") is not None else ""
            self.store.write_many(
                obj.name, f'UPDATE {quote(obj.name)} SET "IsDeleted" = 1{mark}, '
                f'"LastModifiedDate" = ?, "SystemModstamp" = ?, "LastModifiedById" = ? '
                f'WHERE "Id" = ?',
                [((master_id,) if mark else ()) + (now, now, user, rid) for rid in victims])
        return _ok(master_id, mergedRecordIds=victims, updatedRelatedIds=related)

    def _merge_id(self, obj: SObjectDef, raw: Any) -> str:
        """A merge id (or a record with an Id) as an 18-character id of ``obj``."""
        if isinstance(raw, Mapping):
            return self._record_id(obj, raw)
        if not isinstance(raw, str):
            raise MalformedId(f"{obj.name} ID: id value of incorrect type: {raw}", ["Id"])
        rid = ids.to18(raw)
        if rid[:3] != obj.key_prefix:
            raise MalformedId(f"{obj.name} ID: id value of incorrect type: {raw}", ["Id"])
        return rid

    def _reparent(self, obj: SObjectDef, victims: list[str], master_id: str) -> list[str]:
        """Point every lookup to ``obj`` that names one of ``victims`` at ``master_id``;
        the ids of the records changed. ``MasterRecordId`` (the merge's own bookkeeping)
        is left alone."""
        related: list[str] = []
        now = self.now()
        marks = ",".join("?" * len(victims))
        for child in self.schema:
            for f in child.fields.values():
                if (f.type != "reference" or obj.name not in f.reference_to
                        or f.name == "MasterRecordId"):
                    continue
                t, c = quote(child.name), quote(f.name)
                rows = self.store.read(f'SELECT "Id" FROM {t} WHERE {c} IN ({marks}) '
                                       'ORDER BY "Id"', victims)
                if not rows:
                    continue
                self.store.write(child.name, f'UPDATE {t} SET {c} = ?, "SystemModstamp" = ? '
                                 f'WHERE {c} IN ({marks})', (master_id, now, *victims))
                related.extend(r[0] for r in rows)
        return related


def _without(rec: Mapping[str, Any], f: Field) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k.lower() != f.name.lower()}
