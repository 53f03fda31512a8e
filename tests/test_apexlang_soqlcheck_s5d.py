"""Inline SOQL/SOSL checked at compile time, and three small Apex fixes (issue 15, s5d).

A real deploy (and an anonymous block) fails to compile on an inline query with an
unknown field, relationship or object; the compile problem is the query language's error
on the query as written, at the query's ``[`` (deploy output quoted in
``apexlang/querycheck.py``). Dynamic SOQL stays a run-time QueryException (conformance
``soql_checks_s5d.apex``). Also: a non-UTF-8 ``.cls`` is a UsageError naming the file,
``JSON.deserializeUntyped`` converts as deep as the parser reads, a queried record's
debug text shows the parent's foreign key instead of the parent's record.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sforg_sim import Org
from sforg_sim.apexlang import deploy, execute_anonymous
from sforg_sim.apexlang.soqltext import split_mapped, split_soql
from sforg_sim.errors import UsageError

NO_COLUMN = ("If you are attempting to use a custom field, be sure to append the '__c' "
             "after the custom field name. Please reference your WSDL or the describe "
             "call for the appropriate names.")


@pytest.fixture
def org() -> Org:
    return Org()


def _problem(org: Org, source: str) -> tuple[int, int, str]:
    res = execute_anonymous(org, source)
    assert not res.compiled and not res.success, res
    assert res.compile_problem is not None
    return res.line, res.column, res.compile_problem


# --- the issue's three examples ---------------------------------------------------------

@pytest.mark.parametrize(("source", "line", "column", "problem"), [
    ("List<Account> a = [SELECT Nmae FROM Account];", 1, 19,
     "\nSELECT Nmae FROM Account\n       ^\nERROR at Row:1:Column:8\n"
     f"No such column 'Nmae' on entity 'Account'. {NO_COLUMN}"),
    ("System.debug(1);\nList<Account> a = [SELECT Name, (SELECT Id FROM Contactz) FROM Account];",
     2, 19,
     "\nSELECT Name, (SELECT Id FROM Contactz) FROM Account\n"
     "                             ^\nERROR at Row:1:Column:30\n"
     "Didn't understand relationship 'Contactz' in FROM part of query call. If you are "
     "attempting to use a custom relationship, be sure to append the '__r' after the "
     "custom relationship name. Please reference your WSDL or the describe call for the "
     "appropriate names."),
    ("for (Account a : [SELECT Name FROM Account WHERE Nme = null]) {}", 1, 18,
     "\nSELECT Name FROM Account WHERE Nme = null\n                               ^\n"
     f"ERROR at Row:1:Column:32\nNo such column 'Nme' on entity 'Account'. {NO_COLUMN}"),
])
def test_issue_examples_fail_to_compile_at_the_bracket(org: Org, source: str, line: int,
                                                       column: int, problem: str) -> None:
    assert _problem(org, source) == (line, column, problem)


def test_rows_and_columns_count_in_the_query_as_written(org: Org) -> None:
    # Whitespace, a bind and a stripped Apex-only clause before the error: the engine sees
    # "SELECT Name FROM Account WHERE Name = :b0 WITH USER_MODE ..." on one line, the
    # problem shows the developer's own second row.
    src = ("String n = 'x';\nList<Account> a =\n    [SELECT Name\n       FROM Account\n"
           "      WHERE Name = :n WITH USER_MODE\n      ORDER BY  Nmae DESC];")
    line, column, problem = _problem(org, src)
    assert (line, column) == (3, 5)
    assert problem == ("\n      ORDER BY  Nmae DESC\n                ^\nERROR at Row:4:Column:17\n"
                       f"No such column 'Nmae' on entity 'Account'. {NO_COLUMN}")


def test_bind_names_in_the_detail_are_the_apex_expressions(org: Org) -> None:
    _, _, problem = _problem(org, "String sortField = 'Name';\n"
                                  "List<Account> a = [SELECT Id FROM Account ORDER BY :sortField];")
    assert problem.endswith("ERROR at Row:1:Column:33\nunexpected token: ':sortField'")


def test_unknown_object_has_the_deploy_wording_without_caret(org: Org) -> None:
    assert _problem(org, "Integer x = 1;\n  List<SObject> r = [SELECT Id FROM Accountz];") == (
        2, 21, "sObject type 'Accountz' is not supported. If you are attempting to use a "
               "custom object, be sure to append the '__c' after the entity name. Please "
               "reference your WSDL or the describe call for the appropriate names.")


def test_query_locator_and_single_row_forms_are_checked(org: Org) -> None:
    line, column, problem = _problem(
        org, "Database.QueryLocator q = Database.getQueryLocator([SELECT Nmae FROM Account]);")
    assert (line, column) == (1, 52) and "No such column 'Nmae'" in problem
    line, column, problem = _problem(org, "String t = [SELECT Nme FROM Account LIMIT 1].Name;")
    assert (line, column) == (1, 12) and "No such column 'Nme'" in problem


def test_valid_queries_compile_without_bind_values(org: Org) -> None:
    org.load_scenario("small")
    src = """
    Set<Id> ids = new Map<Id, Account>([SELECT Id FROM Account LIMIT 5]).keySet();
    List<String> names = new List<String>{'a', 'b'};
    Integer n = 3;
    List<Account> a = [SELECT Name, Owner.Name, (SELECT LastName FROM Contacts LIMIT :n)
                       FROM Account WHERE Id IN :ids AND Name NOT IN :names
                       WITH SECURITY_ENFORCED ORDER BY Name LIMIT :n];
    Integer c = [SELECT COUNT() FROM Account WHERE Id IN :ids];
    List<AggregateResult> g = [SELECT Industry, COUNT(Id) cnt FROM Account GROUP BY Industry];
    List<Account> d = [SELECT Id FROM Account WHERE Name = :names.get(0) ALL ROWS];
    List<Account> u = [SELECT Id FROM Account WHERE Id = :a[0].Id FOR UPDATE];
    System.debug(a.size() + ' ' + c + ' ' + u.size());
    """
    res = execute_anonymous(org, src)
    assert res.compiled and res.success, (res.compile_problem, res.exception_message)
    assert res.log[-1].endswith("|3 5 1")


def test_each_query_text_compiles_once_at_deploy_and_the_run_reuses_it(org: Org) -> None:
    org.load_scenario("small")
    cls = """public class Q5d {
        public static Integer run(String n) {
            Integer k = 0;
            for (Integer i = 0; i < 3; i++) {
                k += [SELECT Id FROM Account WHERE Name != :n AND Industry != 'q5d'].size();
                k += [SELECT COUNT() FROM Contact WHERE LastName != 'q5d'];
            }
            return k;
        }
    }"""
    before = org.soql.compiles
    assert all(r.success for r in deploy(org, {"Q5d": cls}))
    assert org.soql.compiles - before == 2  # compiled by the deploy, before any run
    res = execute_anonymous(org, "System.debug(Q5d.run('x') > 0);")
    assert res.success and res.log[-1].endswith("|true")
    assert org.soql.compiles - before == 2  # the run used the deploy's plans


def test_deploy_fails_on_a_bad_query_and_installs_nothing(org: Org) -> None:
    good = "public class Good5d { public static Integer one() { return 1; } }"
    bad = ("public class Bad5d {\n    public static List<Account> get() {\n"
           "        return [SELECT Id\n                FROM Account WHERE Bogus__c = 1];\n"
           "    }\n}")
    results = {r.name: r for r in deploy(org, {"Good5d": good, "Bad5d": bad})}
    failed = results["Bad5d"]
    assert not failed.success and (failed.line, failed.column) == (3, 16)
    assert failed.problem == ("\n                FROM Account WHERE Bogus__c = 1\n"
                              "                                   ^\nERROR at Row:2:Column:36\n"
                              f"No such column 'Bogus__c' on entity 'Account'. {NO_COLUMN}")
    res = execute_anonymous(org, "System.debug(Good5d.one());")
    assert not res.compiled  # all or none: Good5d was not installed either


# --- SOSL ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("returning", "column", "detail"), [
    ("Account(Nmae)", 29, f"No such column 'Nmae' on entity 'Account'. {NO_COLUMN}"),
    ("Account(Name WHERE Nme = :n)", 40,
     f"No such column 'Nme' on entity 'Account'. {NO_COLUMN}"),
    ("Account(Name), Contact(LastName ORDER BY Bogus)", 62,
     f"No such column 'Bogus' on entity 'Contact'. {NO_COLUMN}"),
    ("Account(COUNT(Id))", 29, "Aggregate functions are not allowed in a SOSL field list: COUNT"),
    ("AsyncApexJob(Id)", 21, "entity type AsyncApexJob does not support search"),
])
def test_inline_sosl_fields_where_and_order_are_checked(org: Org, returning: str, column: int,
                                                        detail: str) -> None:
    statement = f"FIND 'ab' RETURNING {returning}"
    line, col, problem = _problem(org, "String n = 'x';\nList<List<SObject>> r = "
                                       f"[{statement}];")
    assert (line, col) == (2, 25)
    caret = " " * (column - 1) + "^"
    assert problem == f"\n{statement}\n{caret}\nERROR at Row:1:Column:{column}\n{detail}"


def test_inline_sosl_unknown_object_and_missing_returning(org: Org) -> None:
    _, _, problem = _problem(org, "List<List<SObject>> r = [FIND 'ab' RETURNING Accont(Name)];")
    assert problem.startswith("sObject type 'Accont' is not supported. If you are attempting")
    _, _, problem = _problem(org, "List<List<SObject>> r = [FIND 'ab' IN ALL FIELDS];")
    assert problem.endswith("RETURNING clause is required in Apex")


def test_valid_inline_sosl_with_binds_compiles_and_runs(org: Org) -> None:
    org.load_scenario("small")
    res = execute_anonymous(org, "String n = 'zz*'; Integer k = 2;\n"
                                 "List<List<SObject>> r = [FIND :n IN NAME FIELDS RETURNING "
                                 "Account(Name WHERE Name != :n ORDER BY Name LIMIT :k), "
                                 "Contact];\nSystem.debug(r.size());")
    assert res.success, (res.compile_problem, res.exception_message)
    assert res.log[-1].endswith("|2")


# --- the split that maps the engine's text back to the source ------------------------------

_PIECES = st.sampled_from(["SELECT", " Id", ",Name", " FROM Account", " WHERE", " Name = ",
                           ":n", ": x.y()", ":a[0].Id", " 'it''s'", " 'a\\'b'", "\n  ",
                           "\t", " WITH USER_MODE", " FOR UPDATE", " ALL ROWS", " (", ")",
                           " LIMIT :k", "  "])


@given(st.lists(_PIECES, max_size=12))
def test_split_offsets_point_at_the_characters_they_came_from(pieces: list[str]) -> None:
    text = "[" + "".join(pieces) + "]"
    out = split_mapped(text)
    assert (out.query, out.binds, out.all_rows) == split_soql(text)
    assert len(out.offsets) == len(out.query)
    assert out.offsets == sorted(out.offsets)
    bind_spans = [i for i, ch in enumerate(out.query) if ch == ":"]
    for i, ch in enumerate(out.query):
        src = out.body[out.offsets[i]]
        if ch == " ":
            assert src.isspace()
        elif not any(b <= i < b + 4 for b in bind_spans):
            assert src == ch


# --- deploy input, JSON depth, debug text, instanceof --------------------------------------

def test_deploy_of_a_non_utf8_file_is_a_usage_error_naming_it(org: Org, tmp_path: Path) -> None:
    f = tmp_path / "Latin5d.cls"
    f.write_bytes(b"public class Latin5d { public static String s = 'caf\xe9'; }\n")
    with pytest.raises(UsageError, match=r"Latin5d\.cls is not UTF-8 text \(byte 0xe9"):
        org.apex.deploy(f)
    with pytest.raises(UsageError, match=r"Latin5d\.cls is not UTF-8"):
        org.apex.deploy(tmp_path)
    f.write_bytes(b"\xef\xbb\xbfpublic class Latin5d { public static String s = 'caf\xc3\xa9'; }\n")
    assert all(r.success for r in org.apex.deploy(f))  # UTF-8 with a byte-order mark


def test_deserialize_untyped_converts_as_deep_as_the_parser_reads(org: Org) -> None:
    res = execute_anonymous(org, "String s = '{\"a\":'.repeat(800) + '1' + '}'.repeat(800);\n"
                                 "Map<String, Object> m = (Map<String, Object>) "
                                 "JSON.deserializeUntyped(s);\nInteger d = 1;\n"
                                 "while (m.get('a') instanceof Map<String, Object>) {\n"
                                 "    m = (Map<String, Object>) m.get('a'); d++;\n}\n"
                                 "System.debug(d + ' ' + m.get('a'));")
    assert res.success, res.exception_message
    assert res.log[-1].endswith("|800 1")


def test_debug_text_of_queried_records_has_foreign_keys_not_parents(org: Org) -> None:
    src = """Account acc = new Account(Name = 'P5d'); insert acc;
    Contact c = new Contact(LastName = 'C5d', AccountId = acc.Id); insert c;
    Contact orphan = new Contact(LastName = 'O5d'); insert orphan;
    Contact q = [SELECT LastName, Account.Name, Account.Owner.Name FROM Contact WHERE Id = :c.Id];
    System.debug(q);
    System.debug(q.Account);
    System.debug([SELECT LastName, Account.Name FROM Contact WHERE Id = :orphan.Id]);
    q.Email = null;
    System.debug(q);"""
    res = execute_anonymous(org, src)
    assert res.success, res.exception_message
    out = [line.split("|", 4)[4] for line in res.log]
    acc_id, c_id = out[1].split("Id=")[-1].rstrip("}"), out[0].split("Id=")[-1].rstrip("}")
    assert out[0] == f"Contact:{{LastName=C5d, AccountId={acc_id}, Id={c_id}}}"
    assert out[1].startswith("Account:{Name=P5d, OwnerId=005") and "Owner=" not in out[1]
    assert out[2].startswith("(Contact:{LastName=O5d, Id=003")  # null parent: nothing
    assert out[3] == f"Contact:{{LastName=C5d, AccountId={acc_id}, Id={c_id}, Email=null}}"


def test_instanceof_a_parameterised_collection_checks_its_kind(org: Org) -> None:
    res = execute_anonymous(org, "Object l = JSON.deserializeUntyped('[1]');\n"
                                 "Object m = JSON.deserializeUntyped('{}');\n"
                                 "System.debug((l instanceof List<Object>) + ' ' + "
                                 "(m instanceof Map<String, Object>) + ' ' + "
                                 "(m instanceof List<Object>) + ' ' + (l instanceof Object[]));")
    assert res.success, res.exception_message
    assert res.log[-1].endswith("|true true false true")
