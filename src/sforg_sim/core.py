"""The core of a simulated org: clock, schema, store, SOQL, limits and DML in one object.

:class:`OrgCore` holds the org's state; nothing above it keeps records of its own. The
upper layers (the async Apex engine, scenarios, REST) take an ``OrgCore`` and attach to
it; :class:`sforg_sim.org.Org`, the public facade, is an ``OrgCore`` with those attached.
Every public method takes the org's lock, so the threaded HTTPS server can share one org.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from . import ids
from .clock import SimClock
from .dml import Dml, SaveResult, match_key
from .errors import EntityIsDeleted, InvalidField, MalformedId, NotFound
from .limits import Limits
from .schema import Field, Schema, SObjectDef, audit_fields, builtin_objects, id_field
from .soql import Engine
from .soql.engine import MAX_BATCH, QueryTimeModel
from .store import Savepoint, Store, check_org_file

__all__ = ["API_VERSION", "DEFAULT_INSTANCE_URL", "DEFAULT_LICENSES", "OrgCore"]

DEFAULT_INSTANCE_URL = "https://sim.my.salesforce.com"
DEFAULT_LICENSES = 340
"""Enterprise with 340 licences allows 440,000 calls a day: the ~440,000 V1 burned."""
API_VERSION = "59.0"
"""The newest REST API version the simulator serves (its one home)."""

_O = TypeVar("_O", bound="OrgCore")
_T = TypeVar("_T")


class OrgCore:
    """The state of a simulated Salesforce org (see :class:`sforg_sim.org.Org`).

    ``OrgCore(edition="enterprise", licenses=340)`` starts empty but for the Organization
    row and an admin User who owns everything created; ``path=`` keeps it in a SQLite file.
    ``open(path)`` reopens a saved org (schema, data, clock, API usage) in place.
    """

    def __init__(self, edition: str = "enterprise", licenses: int | None = None, *,
                 path: str | Path | None = None, instance_url: str = DEFAULT_INSTANCE_URL,
                 clock: SimClock | None = None, name: str = "Simulated Org",
                 license_types: Mapping[str, int] | None = None,
                 sandbox_type: str = "full", sandbox_allocation: int | None = None,
                 query_time_model: QueryTimeModel | None = None) -> None:
        self.lock = threading.RLock()
        self._attached: dict[type, object] = {}
        self.clock = clock or SimClock()
        if licenses is None and not any(
                str(k).strip().lower() == "salesforce" for k in license_types or {}):
            licenses = DEFAULT_LICENSES
        # licenses = Salesforce (full) licences; license_types adds other licence types
        # and sandbox_type / sandbox_allocation the sandbox's (see limits.api_allocation).
        self.org_limits = Limits(self.clock, edition, licenses, license_types,
                                 sandbox_type=sandbox_type,
                                 sandbox_allocation=sandbox_allocation)
        """API requests, async executions and Bulk usage: the one model of org limits."""
        self.instance_url = instance_url.rstrip("/")
        self.schema = Schema()
        existing = path is not None and Path(path).exists() and Path(path).stat().st_size > 0
        if path is not None and existing:
            self._restore_schema(check_org_file(path))
        self.store = Store(self.schema, path)
        self.dml = Dml(self.store, self.schema, self.clock.stamp, lambda: self.user_id)
        self.soql = Engine(self.store, self.schema, self.clock, API_VERSION)
        """The org's SOQL engine (compiled-query cache, result cache, cursors)."""
        self.soql.query_time_model = query_time_model  # off (None) unless asked for
        self.soql.running_user = lambda: self.user_id  # USING SCOPE mine (issue 19)
        if existing:
            self._restore_meta()
        else:
            # A new file is made under a temporary name and takes its own only complete,
            # metadata included: a kill while it is made leaves no half-made org at path.
            try:
                self._bootstrap(name)
                if path is not None:
                    self._flush_meta()
                    self.store.publish()
            except BaseException:
                self.store.abandon()
                raise

    # --- construction ---------------------------------------------------------------------

    def _bootstrap(self, name: str) -> None:
        # The admin user must exist before anything is stamped with its id: its own row is
        # stamped with the id it is about to get.
        self.user_id = ids.make_id("005", 1)
        [org_res] = self.dml.insert("Organization", [{"Name": name}], system=True)
        self.org_id = org_res["id"]
        # Read-only fields the platform fills in: written under DML's head.
        self.store.write(
            "Organization", 'UPDATE "Organization" SET "OrganizationType" = ?, "IsSandbox" = ?, '
            '"InstanceName" = ?',
            (self.edition_label, int(self.edition == "sandbox"), "SIM1"))
        [user] = self.dml.insert("User", [{
            "Username": "admin@sim.example.com", "LastName": "Admin", "FirstName": "Sim",
            "Email": "admin@sim.example.com"}])
        assert user["id"] == self.user_id, user
        self.store.write("User", 'UPDATE "User" SET "Name" = ? WHERE "Id" = ?',
                         ("Sim Admin", self.user_id))

    def _restore_schema(self, meta: Mapping[str, str]) -> None:
        if meta.get("schema"):
            custom = json.loads(meta["schema"])
            for o in custom["objects"]:
                self.schema.add_object(SObjectDef.from_dict(o))
            for obj_name, fields in custom["fields"].items():
                for f in fields:
                    self.schema.get(obj_name).add(Field.from_dict(f))

    def _restore_meta(self) -> None:
        meta = json.loads(self.store.get_meta("org") or "{}")
        self.clock.set(float(meta["clock"]))
        self.org_limits = Limits.from_state(self.clock, meta["limits"])
        self.user_id = meta["user_id"]
        self.org_id = meta["org_id"]
        self.instance_url = meta.get("instance_url", self.instance_url)

    def _flush_meta(self) -> None:
        self.store.set_meta("org", json.dumps({
            "clock": self.clock.time(), "limits": self.org_limits.state(),
            "user_id": self.user_id, "org_id": self.org_id, "instance_url": self.instance_url,
        }))
        self.store.set_meta("schema", json.dumps(
            self.schema.custom_definitions(builtin_objects())))
        self.store.flush_meta()

    @classmethod
    def open(cls: type[_O], path: str | Path, *, in_memory: bool = False) -> _O:
        """Reopen an org saved with :meth:`save` (or created with ``path=``).

        By default the file is used in place (opening is quick; writes go to the file).
        ``in_memory=True`` copies it into memory first, so the file stays as it was.
        The file is checked first (see :func:`sforg_sim.store.check_org_file`): one that is
        not an org file, or is damaged, raises a one-line OSError.
        """
        if not Path(path).is_file():
            raise NotFound(f"No org file at {path}")
        if Path(path).stat().st_size == 0:
            raise OSError(f"{path} is not a saved sforg-sim org (an empty file)")
        try:
            org = cls(path=path)
        except (sqlite3.DatabaseError, KeyError, ValueError) as e:
            raise OSError(f"{path} is not a saved sforg-sim org ({e})") from None
        if in_memory:
            org.store.load_into_memory()
        return org

    def save(self, path: str | Path, *, overwrite: bool = False) -> None:
        """Write the whole org (data, schema, clock, API usage) to a SQLite file.

        Atomic: the file is written under a temporary name in the same folder, fsynced and
        renamed over ``path``, so a kill at any moment leaves the earlier save or the new
        one. An existing file that is not a sforg-sim org (or one another process has
        open) is not replaced: OSError, unless ``overwrite=True`` for the former.
        """
        with self.lock:
            self._flush_meta()
            if self.store.path and Path(self.store.path).resolve() == Path(path).resolve():
                self.store.checkpoint()
                return
            self.store.save(path, overwrite=overwrite)

    def close(self) -> None:
        """Flush state to the file (if any) and close the database."""
        with self.lock:
            if self.store.path:
                self._flush_meta()
            self.store.close()

    # --- state the upper layers keep per org -----------------------------------------------

    def attached(self, kind: type[_T], make: Callable[[], _T]) -> _T:
        """The one ``kind`` object an upper layer keeps for this org (the REST surface's
        sessions, its Bulk API jobs), made by ``make()`` on first use. It lives and dies
        with the org; the core never looks inside, so no layer above it is imported here.
        """
        with self.lock:
            obj = self._attached.get(kind)
            if obj is None:
                obj = self._attached[kind] = make()
            return cast(_T, obj)

    # --- properties -----------------------------------------------------------------------

    @property
    def edition(self) -> str:
        """The edition name, lower case (``enterprise``, ``developer``, ...)."""
        return self.org_limits.edition

    @property
    def edition_label(self) -> str:
        """The edition as Organization.OrganizationType shows it."""
        return {"developer": "Developer Edition", "sandbox": "Enterprise Edition"}.get(
            self.edition, self.edition.title() + " Edition")

    @property
    def api_version(self) -> str:
        """The newest REST API version the simulator serves."""
        return API_VERSION

    @contextmanager
    def as_user(self, user_id: str) -> Iterator[None]:
        """Run DML as another user (audit fields name them): "another user" in tests."""
        with self.lock:
            uid = ids.to18(user_id)
            if uid[:3] != "005":
                raise MalformedId(f"User ID: id value of incorrect type: {user_id}")
            previous, self.user_id = self.user_id, uid
            try:
                yield
            finally:
                self.user_id = previous

    # --- DML ------------------------------------------------------------------------------

    def insert(self, sobject: str, records: Sequence[Mapping[str, Any]], *,
               all_or_none: bool = False) -> list[SaveResult]:
        """Insert records; one SaveResult (``id``, ``success``, ``errors``) per record."""
        with self.lock:
            return self.dml.insert(sobject, records, all_or_none=all_or_none)

    def update(self, sobject: str, records: Sequence[Mapping[str, Any]], *,
               all_or_none: bool = False) -> list[SaveResult]:
        """Update records by ``Id``; one SaveResult per record."""
        with self.lock:
            return self.dml.update(sobject, records, all_or_none=all_or_none)

    def upsert(self, sobject: str, external_id_field: str,
               records: Sequence[Mapping[str, Any]], *,
               all_or_none: bool = False) -> list[SaveResult]:
        """Insert or update by External ID; SaveResults carry ``created``."""
        with self.lock:
            return self.dml.upsert(sobject, external_id_field, records,
                                   all_or_none=all_or_none)

    def delete(self, sobject: str, record_ids: Sequence[str], *,
               all_or_none: bool = False) -> list[SaveResult]:
        """Soft delete (IsDeleted = true, still visible to queryAll)."""
        with self.lock:
            return self.dml.delete(sobject, record_ids, all_or_none=all_or_none)

    def get(self, sobject: str, record_id: str,
            fields: Sequence[str] | None = None) -> dict[str, Any]:
        """One record as the REST API returns it (all fields, or ``fields``).

        A missing record raises NOT_FOUND, a deleted one ENTITY_IS_DELETED.
        """
        with self.lock:
            obj = self.schema.get(sobject)
            rid = ids.to18(record_id)
            if rid[:3] != obj.key_prefix:
                raise NotFound("The requested resource does not exist")
            wanted = [obj.field(f) for f in fields] if fields else list(obj.fields.values())
            names = [f.name for f in wanted]
            row = self.store.fetch(obj, [rid], ["IsDeleted", *names]).get(rid)
            if row is None:
                raise NotFound("The requested resource does not exist")
            if row[0]:
                raise EntityIsDeleted("entity is deleted")
            out: dict[str, Any] = {"attributes": self.attributes(obj.name, rid)}
            for f, v in zip(wanted, row[1:]):
                out[f.name] = f.output(v)
            return out

    def find_by_external_id(self, sobject: str, field: str, value: Any) -> list[str]:
        """Ids of the live records whose External ID (or Id) ``field`` matches ``value``.

        Matching follows upsert's rule (:func:`sforg_sim.dml.matches_case_insensitively`):
        case-insensitive only for a unique, case-insensitive field. More than one id means
        an upsert by this value would answer HTTP 300.
        """
        with self.lock:
            obj = self.schema.get(sobject)
            f = obj.external_id_field(field)
            key = f.coerce(value)
            if key is None:
                return []
            key = match_key(f, key)
            return self.dml.match(obj, f, {key}).get(key, [])

    @contextmanager
    def transaction(self) -> Iterator[Savepoint]:
        """One unit of work: everything inside is undone on an exception or ``rollback()``.

        The REST composite API (allOrNone) and Apex transactions use it.
        """
        with self.lock, self.store.savepoint() as sp:
            yield sp

    def attributes(self, sobject: str, record_id: str) -> dict[str, str]:
        """The ``attributes`` object of a record in REST output."""
        return {"type": sobject,
                "url": f"/services/data/v{API_VERSION}/sobjects/{sobject}/{record_id}"}

    # --- SOQL (implemented in :mod:`sforg_sim.soql`) ----------------------------------------

    def query(self, soql: str, batch_size: int = MAX_BATCH, include_deleted: bool = False,
              **binds: Any) -> dict[str, Any]:
        """Run SOQL; returns exactly the REST ``query`` body (first batch and cursor).

        ``include_deleted=True`` is ``queryAll``. ``binds`` fill ``:name`` variables, as in
        Apex. Not charged as an API call: the REST layer charges requests, not this method.
        """
        with self.lock:
            return self.soql.query(soql, batch_size=batch_size,
                                   include_deleted=include_deleted, binds=binds)

    def query_more(self, locator: str, batch_size: int | None = None) -> dict[str, Any]:
        """The next batch of a cursor, from its locator or its ``nextRecordsUrl``."""
        with self.lock:
            return self.soql.query_more(locator, batch_size=batch_size)

    def query_records(self, soql: str, include_deleted: bool = False,
                      **binds: Any) -> list[dict[str, Any]]:
        """All records of a SOQL query as a list, with no cursor: Apex's ``[SELECT ...]``."""
        with self.lock:
            return self.soql.records(soql, include_deleted=include_deleted, binds=binds)

    # --- schema ---------------------------------------------------------------------------

    def add_field(self, sobject: str, name: str, type: str, **options: Any) -> Field:
        """Add a custom field (name ends in ``__c``) to an object; returns its definition."""
        with self.lock:
            obj = self.schema.get(sobject)
            if not name.lower().endswith("__c"):
                raise InvalidField(f"Custom field names must end in '__c': '{name}'", [name])
            options.setdefault("label", name[:-3].replace("_", " "))
            f = Field(name, type, **options)
            obj.add(f)
            with self.store.savepoint():
                self.store.add_column(obj, f)
                self._save_schema()
            return f

    def add_storage_index(self, sobject: str, fields: Sequence[str]) -> str:
        """Index ``fields`` of ``sobject`` for speed; returns the index name.

        The simulator's stand-in for a Salesforce custom index (which Salesforce Support
        creates on request): queries find the same records, only faster when a large org
        filters or groups on these fields (without ORDER BY the order of the records may
        change, as Salesforce never promises one). The index covers the fields, so a
        query reading only them (``SELECT StageName, COUNT(Id) ... WHERE External_ID__c
        LIKE ... GROUP BY StageName``) never reads the records. Each index makes writes to
        these fields slower (see benchmarks/README.md); the ``massive-upload`` scenario
        declares one for verify-org's default check. Kept in saved org files.
        """
        with self.lock:
            obj = self.schema.get(sobject)
            if not fields:
                raise InvalidField("A storage index needs at least one field", [])
            resolved = [obj.field(f) for f in fields]
            names = [f.name for f in resolved]
            dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
            if dup is not None:
                raise InvalidField(f"Duplicate field in a storage index: {dup}", [dup])
            return self.store.add_storage_index(obj, resolved)

    def add_object(self, name: str, fields: Sequence[Field] = ()) -> SObjectDef:
        """Add a custom object (``__c``, or ``__dlm`` for Data Cloud) with its fields."""
        with self.lock:
            all_fields = [id_field(), *fields, *audit_fields()]
            obj = SObjectDef(name, self.schema.new_custom_prefix(), name,
                             {f.name: f for f in all_fields})
            self.schema.add_object(obj)
            with self.store.savepoint():
                self.store.create_table(obj)
                self._save_schema()
            return obj

    def _save_schema(self) -> None:
        # An org file records its custom objects and fields with their tables, in the same
        # transaction: a process killed later leaves a file whose schema matches its tables.
        if self.store.path is not None:
            self.store.set_meta("schema", json.dumps(
                self.schema.custom_definitions(builtin_objects())))

    # --- limits ---------------------------------------------------------------------------

    def limits(self) -> dict[str, dict[str, int]]:
        """The ``/limits`` body (DailyApiRequests, DailyAsyncApexExecutions, ...);
        shorthand for ``org_limits.body()``."""
        return self.org_limits.body()

    def charge_api(self, n: int = 1) -> None:
        """Count ``n`` inbound API requests or raise REQUEST_LIMIT_EXCEEDED (403);
        shorthand for ``org_limits.charge_api(n)``."""
        self.org_limits.charge_api(n)

    def set_api_remaining(self, remaining: int) -> None:
        """Leave exactly ``remaining`` API calls in the current 24-hour window;
        shorthand for ``org_limits.set_api_remaining(remaining)``."""
        self.org_limits.set_api_remaining(remaining)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(edition={self.edition!r}, "
                f"licenses={self.org_limits.licenses}, clock={self.clock.stamp()})")
