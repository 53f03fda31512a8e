"""AsyncApexJob, CronTrigger/CronJobDetail and ApexClass rows: the engine's state made
queryable by SOQL.

AsyncApexJob's, CronTrigger's and CronJobDetail's fields are read-only to the public DML
API (as on a real org: the Object Reference lists only describeSObjects(), query() and
retrieve() for them), so the engine writes them through the store, stamping audit fields
from the SimClock. ApexClass rows are ordinary createable records, inserted through the
DML API once per class name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..store import quote

if TYPE_CHECKING:
    from ..core import OrgCore

__all__ = ["CronRows", "JobRows"]


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
               parent_id: str | None = None, method: str | None = None,
               cron_trigger_id: str | None = None) -> None:
        """Insert the row of a new job (``cron_trigger_id``: the schedule that fired a
        ScheduledApex job)."""
        now, user = self.org.clock.stamp(), self.org.user_id
        values = {
            "Id": job_id, "Status": status, "JobType": job_type,
            "ApexClassId": self.class_id(class_name), "MethodName": method,
            "JobItemsProcessed": 0, "TotalJobItems": 0, "NumberOfErrors": 0,
            "ParentJobId": parent_id, "CronTriggerId": cron_trigger_id, "IsDeleted": 0,
            "CreatedDate": now,
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


SCHEDULED_APEX = "7"
"""CronJobDetail.JobType of Scheduled Apex (Object Reference, "CronJobDetail": "7 - Scheduled
Apex"; the Apex Developer Guide's count query filters on ``CronJobDetail.JobType = '7'``)."""
ENDED_STATES = ("COMPLETE", "DELETED")
"""CronTrigger states of a schedule that will not fire again ("COMPLETE - The trigger has
fired and is not scheduled to fire again"; "DELETED - The job has been deleted")."""


class CronRows:
    """Writes the CronTrigger and CronJobDetail rows of ``System.schedule`` schedules.

    Written through the store inside the calling transaction's savepoint, so a schedule
    made by a transaction that then fails leaves no row (the engine arms the schedule only
    when the transaction commits).
    """

    def __init__(self, org: OrgCore) -> None:
        self.org = org
        self.trigger = org.schema.get("CronTrigger")
        self.detail = org.schema.get("CronJobDetail")

    def _audit(self) -> dict[str, Any]:
        now, user = self.org.clock.stamp(), self.org.user_id
        return {"IsDeleted": 0, "CreatedDate": now, "LastModifiedDate": now,
                "SystemModstamp": now, "CreatedById": user, "LastModifiedById": user}

    def create(self, name: str, cron: str, next_fire: str | None) -> str:
        """Insert a schedule's CronJobDetail and CronTrigger rows; the CronTrigger id."""
        store = self.org.store
        detail_id = store.new_ids(self.detail, 1)[0]
        trigger_id = store.new_ids(self.trigger, 1)[0]
        store.insert_rows(self.detail, [store.row(self.detail, {
            "Id": detail_id, "Name": name, "JobType": SCHEDULED_APEX, **self._audit()})])
        store.insert_rows(self.trigger, [store.row(self.trigger, {
            "Id": trigger_id, "CronExpression": cron, "CronJobDetailId": detail_id,
            "NextFireTime": next_fire, "OwnerId": self.org.user_id,
            "StartTime": self.org.clock.stamp(), "State": "WAITING",
            "TimeZoneSidKey": "GMT", "TimesTriggered": 0, **self._audit()})])
        return trigger_id

    def update(self, trigger_id: str, **values: Any) -> None:
        """Set fields of a CronTrigger row (and its LastModifiedDate/SystemModstamp)."""
        now = self.org.clock.stamp()
        values["LastModifiedDate"] = values["SystemModstamp"] = now
        fields = [self.trigger.fields[n] for n in values]
        store = self.org.store
        store.write(self.trigger.name, store.update_sql(self.trigger, fields),
                    store.update_params(fields, list(values.values()), trigger_id))

    def exists(self, trigger_id: str) -> bool:
        """Whether the CronTrigger row is there (not deleted by ``System.abortJob``)."""
        return self.org.store.read_one(
            f'SELECT 1 FROM {quote(self.trigger.name)} WHERE "Id" = ?', (trigger_id,)
        ) is not None

    def delete(self, trigger_id: str) -> bool:
        """Remove a schedule's rows (``System.abortJob`` on a CronTrigger id); False when
        there was none."""
        store = self.org.store
        row = store.read_one(f'SELECT "CronJobDetailId" FROM {quote(self.trigger.name)} '
                             'WHERE "Id" = ?', (trigger_id,))
        if row is None:
            return False
        store.write(self.trigger.name,
                    f'DELETE FROM {quote(self.trigger.name)} WHERE "Id" = ?', (trigger_id,))
        store.write(self.detail.name,
                    f'DELETE FROM {quote(self.detail.name)} WHERE "Id" = ?', (row[0],))
        return True

    def name_taken(self, name: str) -> bool:
        """Whether a schedule called ``name`` exists that has not ended. Compared exactly
        (case-sensitive): the Apex Developer Guide says only that "The name for the job
        must be unique among the jobs scheduled for execution"."""
        return self.org.store.read_one(
            f'SELECT 1 FROM {quote(self.trigger.name)} t JOIN {quote(self.detail.name)} d '
            'ON d."Id" = t."CronJobDetailId" WHERE d."Name" = ? AND t."State" NOT IN (?, ?)',
            (name, *ENDED_STATES)) is not None

    def live(self) -> int:
        """Scheduled Apex jobs that count against the 100 at one time: rows whose schedule
        has not ended."""
        row = self.org.store.read_one(
            f'SELECT COUNT(*) FROM {quote(self.trigger.name)} t JOIN {quote(self.detail.name)}'
            ' d ON d."Id" = t."CronJobDetailId" WHERE d."JobType" = ? '
            'AND t."State" NOT IN (?, ?)', (SCHEDULED_APEX, *ENDED_STATES))
        return int(row[0]) if row else 0
