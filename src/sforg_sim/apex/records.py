"""AsyncApexJob and ApexClass rows: the engine's state made queryable by SOQL.

AsyncApexJob's fields are read-only to the public DML API (as on a real org), so the engine
writes them through the store, stamping audit fields from the SimClock. ApexClass rows are
ordinary createable records, inserted through the DML API once per class name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..store import quote

if TYPE_CHECKING:
    from ..core import OrgCore

__all__ = ["JobRows"]


class JobRows:
    """Writes AsyncApexJob rows and finds or creates ApexClass rows."""

    def __init__(self, org: OrgCore) -> None:
        self.org = org
        self.obj = org.schema.get("AsyncApexJob")
        self._classes: dict[str, str] = {}
        self._sql: dict[tuple[str, ...], tuple[str, list[Any]]] = {}

    def new_id(self) -> str:
        """Reserve an AsyncApexJob id (``707...``)."""
        return self.org.store.new_ids(self.obj, 1)[0]

    def class_id(self, name: str) -> str:
        """The ApexClass id for ``name``, inserting the class on first use."""
        cid = self._classes.get(name)
        if cid is None:
            row = self.org.store.read_one(
                'SELECT "Id" FROM "ApexClass" WHERE "Name__sk" = ? AND "IsDeleted" = 0',
                (name.upper(),))
            if row:
                cid = str(row[0])
            else:
                [res] = self.org.insert("ApexClass", [{"Name": name, "Status": "Active"}])
                cid = str(res["id"])
            self._classes[name] = cid
        return cid

    def create(self, job_id: str, job_type: str, class_name: str, status: str, *,
               parent_id: str | None = None, method: str | None = None) -> None:
        """Insert the row of a new job."""
        now, user = self.org.clock.stamp(), self.org.user_id
        values = {
            "Id": job_id, "Status": status, "JobType": job_type,
            "ApexClassId": self.class_id(class_name), "MethodName": method,
            "JobItemsProcessed": 0, "TotalJobItems": 0, "NumberOfErrors": 0,
            "ParentJobId": parent_id, "IsDeleted": 0, "CreatedDate": now,
            "LastModifiedDate": now, "SystemModstamp": now, "CreatedById": user,
            "LastModifiedById": user,
        }
        self.org.store.insert_rows(self.obj, [self.org.store.row(self.obj, values)])

    def update(self, job_id: str, **values: Any) -> None:
        """Set fields of a job's row (and its LastModifiedDate/SystemModstamp)."""
        now = self.org.clock.stamp()
        values["LastModifiedDate"] = values["SystemModstamp"] = now
        names = tuple(values)
        sql = self._sql.get(names)
        if sql is None:
            fields = [self.obj.fields[n] for n in names]
            sql = self._sql[names] = (self.org.store.update_sql(self.obj, fields), fields)
        stmt, fields = sql
        store = self.org.store
        store.write(self.obj.name, stmt,
                    store.update_params(fields, [values[n] for n in names], job_id))

    def count(self, status: str) -> int:
        """Number of jobs with ``status`` (cheap, for tests and progress)."""
        row = self.org.store.read_one(
            f'SELECT COUNT(*) FROM {quote(self.obj.name)} WHERE "Status" = ?', (status,))
        return int(row[0]) if row else 0
