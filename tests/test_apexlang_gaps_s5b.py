"""Issue 15's last gaps of the Apex runtime (session 5b): the limit exception's position
in executeAnonymous, the Apex grammar's on-disk LALR cache, methods declared in an
anonymous block, SOSL in Apex, undelete and merge in Apex (the DML layer's own tests:
``test_dml_undelete_merge_s5.py``; List.sort: ``apex_conformance/list_sort.apex``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import execute_anonymous, parser


@pytest.fixture
def org() -> Org:
    return Org()


# --- (d) a limit exception reports where it broke -----------------------------------------

def test_limit_exception_reports_line_column_and_stack(org: Org) -> None:
    # ExecuteAnonymousResult carries the line and column of the uncaught exception and
    # its stack trace; a governor limit is no different (it used to say -1/-1 and
    # "AnonymousBlock: line 1, column 1").
    src = ("Integer n = 0;\n"
           "for (Integer i = 0; i < 101; i++) {\n"
           "    List<Account> a = [SELECT Id FROM Account LIMIT 1];\n"
           "}\n")
    res = execute_anonymous(org, src)
    assert not res.success
    assert res.exception_message == "System.LimitException: Too many SOQL queries: 101"
    assert (res.line, res.column) == (3, 5)  # the statement's start (review 5c)
    assert res.exception_stack_trace == "AnonymousBlock: line 3, column 5"


def test_limit_exception_stack_goes_through_class_methods(org: Org) -> None:
    org.apex.deploy("public class LimQ { public static void go() {\n"
                    "  for (Integer i = 0; i < 151; i++) { insert new Account(Name = 'x'); }"
                    "\n} }")
    res = execute_anonymous(org, "System.debug(1);\n   LimQ.go();")
    assert res.exception_message == "System.LimitException: Too many DML statements: 151"
    assert res.exception_stack_trace is not None
    assert res.exception_stack_trace.splitlines() == [
        "Class.LimQ.go: line 2, column 39", "AnonymousBlock: line 2, column 4"]
    assert (res.line, res.column) == (2, 39)


# --- (e) the Apex grammar's tables are cached on disk --------------------------------------

def test_grammar_tables_are_cached_and_keep_postlex_and_transformer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = ("List<Integer> xs = new List<Integer>{1, 2};\n"
           "Integer y = (Integer) xs[0] + 2 * 3 ?? 4;\n"
           "IF (y > 1) { System.debug(y); }\n")
    monkeypatch.setenv("SFORG_SIM_GRAMMAR_CACHE", "off")
    parser._parser.cache_clear()
    plain = parser.parse_anonymous(src)
    monkeypatch.setenv("SFORG_SIM_GRAMMAR_CACHE", str(tmp_path))
    parser._parser.cache_clear()
    first = parser.parse_anonymous(src)  # builds the tables and writes the file
    files = list(tmp_path.glob("apex-anon_unit-*.lark-cache"))
    assert len(files) == 1 and files[0].stat().st_size > 0
    parser._parser.cache_clear()
    loaded = parser.parse_anonymous(src)  # from the file: postlex and transformer again
    parser._parser.cache_clear()
    assert first == plain
    assert loaded == plain


# --- (c) methods declared in an anonymous block ---------------------------------------------

def test_anonymous_block_methods_run_as_static_methods_of_the_block(org: Org) -> None:
    # "Can include user-defined methods and exceptions" (Apex Developer Guide,
    # "Anonymous Blocks"); the methods call each other and throw the block's exception.
    src = ("public class BadInput extends Exception {}\n"
           "Integer twice(Integer x) { return x * 2; }\n"
           "Integer fact(Integer n) { return n <= 1 ? 1 : n * fact(n - 1); }\n"
           "void check(Integer n) { if (n < 0) { throw new BadInput('negative: ' + n); } }\n"
           "System.debug(twice(21));\n"
           "System.debug(fact(5) + twice(1));\n"
           "try { check(-1); } catch (BadInput e) { System.debug(e.getMessage()); }\n"
           "check(-2);\n")
    res = execute_anonymous(org, src)
    assert res.compiled, res.compile_problem
    assert [ln.split("|", 4)[4] for ln in res.log] == ["42", "122", "negative: -1"]
    assert res.exception_message == "BadInput: negative: -2"
    assert res.exception_stack_trace == ("AnonymousBlock: line 4, column 38\n"
                                         "AnonymousBlock: line 8, column 1")


def test_anonymous_block_methods_are_checked_like_class_methods(org: Org) -> None:
    # The block's locals are not the method's: a method sees its parameters only.
    res = execute_anonymous(org, "Integer y = 1;\nInteger f() { return y; }\n")
    assert (res.compiled, res.compile_problem, res.line) == (
        False, "Variable does not exist: y", 2)
    res = execute_anonymous(org, "Integer f() { }\n")
    assert res.compile_problem == "Missing return statement required return type: Integer"


def test_anonymous_block_methods_cannot_be_static(org: Org) -> None:
    # "User-defined methods can't include the keyword static" (same page).
    res = execute_anonymous(org, "System.debug(1);\npublic static Integer f() { return 1; }")
    assert not res.compiled
    assert (res.line, res.column) == (2, 8)
    assert res.compile_problem == "Methods of an anonymous block can't be static"


# --- (b) SOSL in Apex -------------------------------------------------------------------------

def _debug(res: object) -> list[str]:
    return [ln.split("|", 4)[4] for ln in res.log]  # type: ignore[attr-defined]


def test_inline_sosl_returns_a_list_per_returning_object(org: Org) -> None:
    org.insert("Account", [{"Name": "Acme Corp"}, {"Name": "Globex"}])
    org.insert("Contact", [{"LastName": "Acmeson"}, {"LastName": "Other"}])
    src = ("List<List<SObject>> r = [FIND 'Acme*' IN ALL FIELDS\n"
           "    RETURNING Account(Name), Contact(LastName)];\n"
           "List<Account> accs = (List<Account>) r[0];\n"
           "System.debug(r.size() + ' ' + accs.size() + ' ' + accs[0].Name);\n"
           "System.debug(((Contact) r[1][0]).LastName);\n"
           "String term = 'glob*';\n"
           "Integer k = 5;\n"
           "List<List<SObject>> r2 = [FIND :term RETURNING Account(Name LIMIT :k)];\n"
           "System.debug(r2[0].size());\n"
           "List<List<SObject>> r3 =\n"
           "    Search.query('FIND \\'Acme*\\' RETURNING Contact(LastName)');\n"
           "System.debug(r3[0].size());\n"
           "System.debug(Limits.getSoslQueries() + ' ' + Limits.getLimitSoslQueries());\n"
           "System.debug(Limits.getQueries());\n")
    res = execute_anonymous(org, src)
    assert res.success, (res.compile_problem, res.exception_message)
    # The SOQL the engine runs per RETURNING object is no SOQL query of the transaction.
    assert _debug(res) == ["2 1 Acme Corp", "Acmeson", "1", "1", "3 20", "0"]


def test_the_21st_sosl_query_is_an_uncatchable_limit_exception(org: Org) -> None:
    src = ("try {\n"
           "  for (Integer i = 0; i < 25; i++) {\n"
           "    List<List<SObject>> r = [FIND 'zz' RETURNING Account];\n"
           "  }\n"
           "} catch (Exception e) { System.debug('caught'); }\n")
    res = execute_anonymous(org, src)
    assert _debug(res) == []
    assert res.exception_message == "System.LimitException: Too many SOSL queries: 21"
    assert (res.line, res.column) == (3, 5)  # the statement's start, as for SOQL (review 5c)


def test_sosl_compile_errors_and_search_exceptions(org: Org) -> None:
    res = execute_anonymous(org, "System.debug(1);\nList<List<SObject>> r = [FIND 'xy' "
                                 "RETURNING Nope__c];")
    assert (res.compiled, res.line, res.column) == (False, 2, 25)
    assert res.compile_problem.startswith("sObject type 'Nope__c' is not supported. ")
    res = execute_anonymous(org, "try { Search.query('FIND {x'); }\n"
                                 "catch (SearchException e) { System.debug('search'); }")
    assert res.success and _debug(res) == ["search"]


# --- (a) undelete and merge in Apex -------------------------------------------------------------

def test_undelete_and_merge_count_as_dml_statements_and_rows(org: Org) -> None:
    src = ("List<Account> accs = new List<Account>{new Account(Name = 'M'),\n"
           "    new Account(Name = 'D1'), new Account(Name = 'D2')};\n"
           "insert accs;\n"                                          # 1 statement, 3 rows
           "merge accs[0] new List<Account>{accs[1], accs[2]};\n"    # 1 statement, 3 rows
           "List<Account> gone = [SELECT Id FROM Account WHERE IsDeleted = true ALL ROWS];\n"
           "List<Database.UndeleteResult> ur = Database.undelete(gone, false);\n"  # 1, 2 rows
           "System.debug(gone.size() + ' ' + ur[0].isSuccess() + ' ' + ur[1].isSuccess());\n"
           "System.debug(Limits.getDmlStatements() + ' ' + Limits.getDmlRows());\n"
           "System.debug([SELECT COUNT() FROM Account]);\n")
    res = execute_anonymous(org, src)
    assert res.success, (res.compile_problem, res.exception_message)
    assert _debug(res) == ["2 true true", "3 8", "3"]


def test_undelete_statement_throws_dml_exception_for_a_live_record(org: Org) -> None:
    res = execute_anonymous(org, "Account a = new Account(Name = 'x'); insert a;\n"
                                 "undelete a;")
    assert res.exception_message is not None
    assert res.exception_message.startswith(
        "System.DmlException: Undelete failed. First exception on row 0 with id 001")
    assert "UNDELETE_FAILED, Entity is not in the recycle bin" in res.exception_message
    assert (res.line, res.column) == (2, 1)


def test_the_151st_dml_statement_counts_undelete_too(org: Org) -> None:
    src = ("Account a = new Account(Name = 'x'); insert a; delete a;\n"
           "for (Integer i = 0; i < 200; i++) { Database.undelete(a, false); }")
    res = execute_anonymous(org, src)
    assert res.exception_message == "System.LimitException: Too many DML statements: 151"
    assert res.line == 2
