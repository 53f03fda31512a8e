"""Review fixes in the Apex runtime: nothing silently dropped, nothing kept forever."""

from __future__ import annotations

from sforg_sim import Org
from sforg_sim.apexlang import deploy, execute_anonymous
from sforg_sim.apexlang import runtime as rt


def test_all_rows_in_a_query_locator_is_refused_not_dropped() -> None:
    # The engine's locator snapshots live rows only: a batch over ALL ROWS would silently
    # get fewer records than on the platform. It fails by name instead.
    org = Org()
    org.insert("Account", [{"Name": "a"}, {"Name": "b"}])
    gone = org.query_records("SELECT Id FROM Account WHERE Name = 'a'")[0]["Id"]
    org.delete("Account", [gone])
    [res] = deploy(org, {"B": """
        public class B implements Database.Batchable<SObject> {
            public Database.QueryLocator start(Database.BatchableContext c) {
                return Database.getQueryLocator([SELECT Id FROM Account ALL ROWS]);
            }
            public void execute(Database.BatchableContext c, List<SObject> s) {}
            public void finish(Database.BatchableContext c) {}
        }"""})
    assert res.success
    assert execute_anonymous(org, "Database.executeBatch(new B());").success
    org.apex.run_until_idle()
    [job] = org.apex.jobs.values()
    assert job.status == "Failed" and job.error is not None
    assert "ALL ROWS in Database.getQueryLocator" in job.error.message


def test_string_query_locator_with_binds_is_refused_at_once() -> None:
    r = execute_anonymous(Org(), "String n = 'a'; Database.QueryLocator q = "
                                 "Database.getQueryLocator('SELECT Id FROM Account WHERE "
                                 "Name = :n');")
    assert not r.success and "bind variables in Database.getQueryLocator" in str(
        r.exception_message)


def test_anonymous_blocks_leave_no_line_maps_behind() -> None:
    org = Org()
    before = len(rt.LINE_MAPS)
    for _ in range(50):
        assert execute_anonymous(org, "Integer x = 1; System.debug(x);").success
    assert len(rt.LINE_MAPS) == before
