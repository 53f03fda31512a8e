"""Second review of the Apex runtime (issue 15, session 5e).

- ``Database.insert/update/upsert/delete/undelete`` overloads: one sObject (or Id, for
  delete and undelete) gives one result, a list gives a list (Apex Reference Guide,
  "Database Class"); the compiler types each call by its argument.
- A bug of the simulator met while Apex runs is a failed result ("Internal error in
  sforg-sim: ...; please report"), never a Python traceback out of execute_anonymous or
  the engine's run.
- ``[SELECT COUNT() ...]`` is an Integer in assignments.
- Apex-only clauses are taken only from the end of a query; a misplaced one is the SOQL
  parser's error (compile time inline, QueryException for ``Database.query``).
- Errors in bind expressions point at the bind.
- ``OFFSET`` over 2,000 is a run-time QueryException, not a compile error.
"""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import compiler, execute_anonymous, stdlib
from sforg_sim.apexlang.api import AnonymousResult


@pytest.fixture
def org() -> Org:
    return Org()


def _run(org: Org, source: str) -> list[str]:
    """The USER_DEBUG messages of a block that must succeed."""
    res = execute_anonymous(org, source)
    assert res.success, (res.compile_problem, res.exception_message)
    return [line.split("|", 4)[-1] for line in res.log if "|USER_DEBUG|" in line]


def _problem(org: Org, source: str) -> AnonymousResult:
    res = execute_anonymous(org, source)
    assert not res.compiled and not res.success, res
    assert res.compile_problem is not None
    return res


# --- 1. Database DML overloads -------------------------------------------------------------

def test_database_insert_of_one_record_returns_one_save_result(org: Org) -> None:
    out = _run(org, "Account a = new Account(Name = 'One');\n"
                    "Database.SaveResult r = Database.insert(a);\n"
                    "System.debug(r.isSuccess() + ' ' + (r.getId() == a.Id));\n"
                    "Account b = new Account();\n"
                    "Database.SaveResult f = Database.insert(b, false);\n"
                    "System.debug(f.isSuccess() + ' ' + f.getErrors()[0].getStatusCode());\n"
                    "a.Name = 'Two';\n"
                    "Database.SaveResult u = Database.update(a, false);\n"
                    "Database.UpsertResult p = Database.upsert(new Account(Name = 'P'));\n"
                    "System.debug(u.isSuccess() + ' ' + p.isCreated());")
    assert out == ["true true", "false REQUIRED_FIELD_MISSING", "true true"]


def test_database_insert_of_a_list_still_returns_a_list(org: Org) -> None:
    out = _run(org, "List<Account> l = new List<Account>{new Account(Name = 'x'),\n"
                    "                                    new Account(Name = 'y')};\n"
                    "List<Database.SaveResult> r = Database.insert(l);\n"
                    "System.debug(r.size() + ' ' + r[1].isSuccess());")
    assert out == ["2 true"]


def test_delete_and_undelete_take_ids(org: Org) -> None:
    out = _run(org, "Account a = new Account(Name = 'A'); insert a;\n"
                    "Database.DeleteResult d = Database.delete(a.Id);\n"
                    "System.debug(d.isSuccess() + ' ' + (d.getId() == a.Id));\n"
                    "Database.UndeleteResult u = Database.undelete(a.Id, false);\n"
                    "System.debug(u.isSuccess());\n"
                    "List<Account> l = new List<Account>{new Account(Name = 'x'),\n"
                    "                                    new Account(Name = 'y')};\n"
                    "insert l;\n"
                    "List<Id> ids = new List<Id>{l[0].Id, l[1].Id};\n"
                    "Database.DeleteResult[] ds = Database.delete(ids, false);\n"
                    "System.debug(ds.size() + ' ' + ds[1].isSuccess());\n"
                    "System.debug([SELECT COUNT() FROM Account]);")
    assert out == ["true true", "true", "2 true", "1"]


@pytest.mark.parametrize(("source", "problem", "column"), [
    ("Database.SaveResult r = Database.insert(new List<Account>());",
     "Illegal assignment from List<Database.SaveResult> to Database.SaveResult", 25),
    ("Account a = new Account(Name = 'A');\n"
     "List<Database.SaveResult> r = Database.insert(a);",
     "Illegal assignment from Database.SaveResult to List<Database.SaveResult>", 31),
    ("Account a = new Account(Name = 'A');\nDatabase.DeleteResult[] r = Database.delete(a);",
     "Illegal assignment from Database.DeleteResult to List<Database.DeleteResult>", 29),
    ("Account a = new Account(Name = 'A');\nDatabase.insert(a.Id);",
     "Method does not exist or incorrect signature: void insert(Id) from the type Database",
     10),
])
def test_database_overloads_are_checked_at_compile_time(org: Org, source: str, problem: str,
                                                         column: int) -> None:
    res = _problem(org, source)
    assert res.compile_problem == problem
    # At the initialiser (the call's own name for a missing method), as other
    # assignments report it.
    assert (res.line, res.column) == (source.count("\n") + 1, column)


# --- 1b. internal errors are failed results, not tracebacks --------------------------------

def _break_to_upper(monkeypatch: pytest.MonkeyPatch) -> None:
    """``String.toUpperCase`` raising a Python KeyError: a stand-in for any bug of the
    standard library."""
    def boom(*_: Any) -> Any:
        raise KeyError("boom")
    monkeypatch.setitem(stdlib.STRING, "touppercase", (boom, stdlib.STRING["touppercase"][1]))


def test_an_internal_error_is_a_failed_result_with_its_apex_line(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    _break_to_upper(monkeypatch)
    res = execute_anonymous(org, "String s = 'a';\nSystem.debug('before');\n"
                                 "try {\n    System.debug(s.toUpperCase());\n"
                                 "} catch (Exception e) {\n    System.debug('caught');\n}")
    assert res.compiled and not res.success
    assert res.exception_message == ("Internal error in sforg-sim: KeyError: 'boom'; please "
                                     "report (Apex line 4, column 5)")
    assert (res.line, res.column) == (4, 5)
    # Apex code cannot catch the simulator's own failure; what ran before is logged.
    assert [m for m in res.log if "|USER_DEBUG|" in m][-1].endswith("|before")


def test_an_internal_error_in_an_async_job_fails_the_job(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    assert all(r.success for r in org.apex.deploy({"Upper5e": (
        "public class Upper5e implements Queueable {\n"
        "    public void execute(QueueableContext c) {\n"
        "        String s = 'a';\n"
        "        System.debug(s.toUpperCase());\n"
        "    }\n}")}))
    _break_to_upper(monkeypatch)
    assert execute_anonymous(org, "System.enqueueJob(new Upper5e());").success
    org.apex.run_until_idle()  # no Python exception out of the engine
    (row,) = org.query("SELECT Status, ExtendedStatus FROM AsyncApexJob "
                       "WHERE ApexClass.Name = 'Upper5e'")["records"]
    assert row["Status"] == "Failed"
    assert row["ExtendedStatus"] == ("First error: Internal error in sforg-sim: KeyError: "
                                     "'boom'; please report (Apex line 4, column 9)")


def test_an_internal_error_while_compiling_is_a_failed_compile(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: Any, x: Any) -> Any:
        raise RuntimeError("compiler bug")
    monkeypatch.setattr(compiler.Compiler, "x_binop", boom)
    res = execute_anonymous(org, "Integer i = 1 + 2;")
    assert not res.compiled and not res.success
    assert res.compile_problem == ("Internal error in sforg-sim: RuntimeError: compiler bug; "
                                   "please report")


# --- 2. COUNT() is an Integer --------------------------------------------------------------

@pytest.mark.parametrize("target", ["List<Account>", "Account", "SObject"])
def test_count_query_assigned_to_a_non_number_is_illegal(org: Org, target: str) -> None:
    res = _problem(org, f"{target} a = [SELECT COUNT() FROM Account];")
    assert res.compile_problem == f"Illegal assignment from Integer to {target}"
    assert (res.line, res.column) == (1, len(f"{target} a = ") + 1)  # at the query


def test_count_query_assigned_to_numbers_still_works(org: Org) -> None:
    out = _run(org, "insert new Account(Name = 'c');\n"
                    "Integer i = [SELECT COUNT() FROM Account];\n"
                    "Long l = [SELECT COUNT() FROM Account];\n"
                    "Decimal d = [SELECT COUNT() FROM Account];\n"
                    "System.debug(i + ' ' + l + ' ' + d);")
    assert out == ["1 1 1"]


# --- 3. clause order -----------------------------------------------------------------------

@pytest.mark.parametrize(("query", "column", "token"), [
    ("SELECT Name FROM Account WITH USER_MODE WHERE Name = 'x'", 41, "WHERE"),
    ("SELECT Name FROM Account ALL ROWS WHERE Name = 'x'", 35, "WHERE"),
    ("SELECT Name FROM Account FOR UPDATE WITH USER_MODE", 37, "WITH"),
    ("SELECT Name FROM Account LIMIT 1 WITH SECURITY_ENFORCED", 34, "WITH"),
])
def test_a_misplaced_apex_clause_is_a_compile_error(org: Org, query: str, column: int,
                                                    token: str) -> None:
    res = _problem(org, f"Integer n = 0;\nList<Account> r = [{query}];")
    assert (res.line, res.column) == (2, 19)  # the query's [
    assert res.compile_problem is not None
    assert f"ERROR at Row:1:Column:{column}\nunexpected token: '{token}'" in \
        res.compile_problem


def test_apex_clauses_in_their_place_compile_and_run(org: Org) -> None:
    out = _run(org, "Account a = new Account(Name = 'x'); insert a; delete a;\n"
                    "insert new Account(Name = 'x');\n"
                    "System.debug([SELECT Id FROM Account WHERE Name = 'x' WITH USER_MODE\n"
                    "              ALL ROWS].size());\n"
                    "System.debug([SELECT Id FROM Account WHERE Name = 'x' "
                    "WITH SECURITY_ENFORCED LIMIT 5 FOR UPDATE].size());\n"
                    "System.debug([SELECT Id FROM Account FOR VIEW].size());\n"
                    "System.debug([SELECT Id FROM Account WHERE Name = 'x' FOR UPDATE ALL ROWS]"
                    ".size());")
    assert out == ["2", "1", "1", "2"]


def test_dynamic_soql_with_a_misplaced_clause_throws_a_query_exception(org: Org) -> None:
    out = _run(org, "try {\n"
                    "    Database.query('SELECT Name FROM Account WITH USER_MODE WHERE Name = "
                    "\\'x\\'');\n"
                    "} catch (QueryException e) {\n"
                    "    System.debug(e.getMessage().contains('unexpected token: \\'WHERE\\''));\n"
                    "}\n"
                    "System.debug(Database.query('SELECT Name FROM Account WHERE Name = \\'x\\' "
                    "WITH USER_MODE FOR UPDATE').size());")
    assert out == ["true", "0"]


# --- 4. bind errors at the bind ------------------------------------------------------------

def test_an_unknown_bind_variable_is_reported_at_the_bind(org: Org) -> None:
    res = _problem(org, "Integer x = 1;\nSystem.debug(x);\n"
                        "List<Account> r = [SELECT Name FROM Account WHERE Name = :xx];")
    assert res.compile_problem == "Variable does not exist: xx"
    assert (res.line, res.column) == (3, 59)  # the xx after the colon


def test_a_bind_on_a_later_line_of_the_query_is_reported_there(org: Org) -> None:
    res = _problem(org, "List<Account> r = [SELECT Name\n"
                        "                   FROM Account\n"
                        "                   WHERE Name = :  nope.x];")
    assert res.compile_problem == "Variable does not exist: nope"
    assert (res.line, res.column) == (3, 36)


def test_a_bind_that_does_not_parse_is_reported_at_the_bind(org: Org) -> None:
    res = _problem(org, "String s = 'a';\nList<Account> r = [SELECT Name FROM Account\n"
                        "    WHERE Name = :s.substring(1,)];")
    assert res.compile_problem == "Unexpected token in bind expression: s.substring(1,)"
    assert res.line == 3


# --- 5. OFFSET over 2,000 is a run-time error ----------------------------------------------

def test_offset_over_2000_compiles_and_throws_when_it_runs(org: Org) -> None:
    out = _run(org, "try {\n"
                    "    List<Account> r = [SELECT Name FROM Account LIMIT 5 OFFSET 2001];\n"
                    "    System.debug('ran');\n"
                    "} catch (QueryException e) {\n"
                    "    System.debug(e.getMessage());\n"
                    "}")
    assert out == ["Maximum SOQL offset allowed for apiName Account is 2000"]


def test_offset_over_2000_does_not_hide_a_schema_error(org: Org) -> None:
    res = _problem(org, "List<Account> r = [SELECT Nmae FROM Account LIMIT 5 OFFSET 2001];")
    assert (res.line, res.column) == (1, 19)
    assert res.compile_problem is not None
    assert "ERROR at Row:1:Column:8\nNo such column 'Nmae' on entity 'Account'" in \
        res.compile_problem


def test_an_internal_error_while_deploying_is_a_failed_class(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: Any, x: Any) -> Any:
        raise RuntimeError("compiler bug")
    monkeypatch.setattr(compiler.Compiler, "x_binop", boom)
    (res,) = org.apex.deploy({"Bug5e": "public class Bug5e { Integer i = 1 + 2; }"})
    assert not res.success
    assert res.problem == "Internal error in sforg-sim: RuntimeError: compiler bug; please report"
    assert "Bug5e" not in org.apex.classes
