"""Standard library breadth (issue 15): Database result types, Database.countQuery,
sObject field tokens, Limits pairs, Decimal.setScale rounding. Behaviour that prints is in
tests/apex_conformance/{strings,numbers,dates,dml,limits}.apex; this file holds what the
conformance format cannot say (compile errors with positions, run-time exceptions)."""

from __future__ import annotations

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import execute_anonymous


@pytest.fixture(scope="module")
def org() -> Org:
    o = Org()
    o.load_scenario("small")
    return o


@pytest.mark.parametrize(("source", "problem", "column"), [
    # UpsertResult and DeleteResult are their own classes, not SaveResults
    ("List<Database.SaveResult> r = Database.upsert(new List<Opportunity>(), "
     "Opportunity.External_ID__c, false);",
     "Illegal assignment from List<Database.UpsertResult> to List<Database.SaveResult>", 31),
    ("List<Database.SaveResult> r = Database.delete(new List<Opportunity>(), false);",
     "Illegal assignment from List<Database.DeleteResult> to List<Database.SaveResult>", 31),
    ("Database.SaveResult r = Database.insert(new List<Opportunity>())[0]; r.isCreated();",
     "Method does not exist or incorrect signature: void isCreated() from the type "
     "Database.SaveResult", 72),
    # a field token names a real field
    ("Object f = Opportunity.Nope__c;", "Variable does not exist: Nope__c", 24),
    # Limits pairs the governor does not count are named, not answered with a made-up 0
    ("Integer n = Limits.getAggregateQueries();",
     "Not supported by sforg-sim: Limits.getAggregateQueries (aggregate queries are not "
     "counted apart from queries)", 20),
    ("Integer n = Limits.getLimitQueryLocatorRows();",
     "Not supported by sforg-sim: Limits.getLimitQueryLocatorRows (rows of "
     "Database.getQueryLocator are not counted)", 20),
])
def test_compile_errors(org: Org, source: str, problem: str, column: int) -> None:
    res = execute_anonymous(org, source)
    assert not res.compiled
    assert (res.compile_problem, res.line, res.column) == (problem, 1, column)


def test_result_types_at_run_time(org: Org) -> None:
    res = execute_anonymous(org, """
Opportunity o = new Opportunity(Name = 'R', StageName = 'Discovery', CloseDate = Date.today());
insert o;
o.StageName = 'Qualification';
List<Database.UpsertResult> up = Database.upsert(new List<Opportunity>{o}, false);
Object first = up[0];
System.debug((first instanceof Database.UpsertResult) + ' ' + up[0].isCreated());
List<Database.DeleteResult> del = Database.delete(new List<Opportunity>{o});
Object d = del[0];
System.debug((d instanceof Database.DeleteResult) + ' ' + (d instanceof Database.SaveResult));
""")
    assert res.success, res.exception_message
    assert [ln.split("|", 4)[4] for ln in res.log] == ["true false", "true false"]


def test_count_query_of_a_row_query_is_refused_by_name(org: Org) -> None:
    res = execute_anonymous(org, "Integer n = Database.countQuery('SELECT Id FROM Opportunity');")
    assert not res.success
    assert res.exception_message == (
        "System.QueryException: Not supported by sforg-sim: Database.countQuery of a query "
        "other than SELECT COUNT() FROM ...")


def test_count_query_counts_one_soql_query(org: Org) -> None:
    res = execute_anonymous(org, """
Integer before = Limits.getQueries();
Integer n = Database.countQuery('SELECT COUNT() FROM Opportunity');
System.debug((n == [SELECT Id FROM Opportunity].size()) + ' ' + (Limits.getQueries() - before));
""")
    assert res.success, res.exception_message
    assert res.log[0].endswith("|true 2")
