"""Issue 15, review round 5c of the Apex runtime: overloads on collection types, JSON
parsing limits (deep nesting, NaN/Infinity), ``deploy``'s caller mistakes, inline SOQL
with child relationship subqueries, the DmlException text, describe's ``mergeable``, the
position of a limit breach, the Id of queried records in Apex, and AsyncApexJob's
ExtendedStatus."""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import execute_anonymous
from sforg_sim.errors import UsageError
from sforg_sim.sosl import search as sosl_search


@pytest.fixture
def org() -> Org:
    return Org()


def _debug(res: Any) -> list[str]:
    """The USER_DEBUG messages of an executeAnonymous result."""
    assert res.compiled, res.compile_problem
    assert res.success, res.exception_message
    return [ln.split("|", 4)[4] for ln in res.log]


# --- 1. overloads: an exact collection match wins -----------------------------------------

_OV = """public class OvS5c {
 public static String m(List<Object> l) { return 'LO'; }
 public static String m(List<String> l) { return 'LS'; }
 public static String n(Set<Object> l) { return 'SO'; }
 public static String n(Set<String> l) { return 'SS'; }
 public static String p(Map<String, Object> l) { return 'MO'; }
 public static String p(Map<String, String> l) { return 'MS'; }
 public virtual class Base {}
 public class Der extends Base {}
 public static String q(List<Object> l) { return 'QO'; }
 public static String q(List<Base> l) { return 'QB'; }
}
"""


def test_an_exact_collection_match_is_chosen_not_ambiguous(org: Org) -> None:
    # Class Methods: exact match first. List<String> matches m(List<String>) exactly and
    # m(List<Object>) only approximately (it used to be "Ambiguous method signature").
    res = execute_anonymous(org, _OV + (
        "List<String> ls = new List<String>{'a'};\n"
        "System.debug(OvS5c.m(new List<String>()) + OvS5c.m(ls) + OvS5c.m(new List<Integer>()));\n"
        "System.debug(OvS5c.n(new Set<String>()) + OvS5c.n(new Set<Integer>()));\n"
        "System.debug(OvS5c.p(new Map<String, String>())\n"
        "             + OvS5c.p(new Map<String, Integer>()));\n"))
    assert _debug(res) == ["LSLSLO", "SSSO", "MSMO"]


def test_exactness_compares_element_types(org: Org) -> None:
    # Id and String convert both ways, so neither of List<Id> / List<String> is more
    # specific: only the exact match on the element type picks m(List<String>).
    res = execute_anonymous(org, (
        "public class OvIdS5c { public static String m(List<Id> l) { return 'LI'; }\n"
        "  public static String m(List<String> l) { return 'LS'; } }\n"
        "System.debug(OvIdS5c.m(new List<String>()) + OvIdS5c.m(new List<Id>()));"))
    assert _debug(res) == ["LSLI"]


def test_the_most_specific_collection_overload_wins_when_none_is_exact(org: Org) -> None:
    # List<Der> fits both q(List<Object>) and q(List<Base>); List<Base> fits List<Object>
    # and not the reverse, so q(List<Base>) is the most specific.
    res = execute_anonymous(org, _OV + "System.debug(OvS5c.q(new List<OvS5c.Der>()));")
    assert _debug(res) == ["QB"]


# --- 2. JSON: deep nesting, NaN / Infinity ------------------------------------------------

@pytest.mark.parametrize("call", [
    "JSONParser p = JSON.createParser(s); while (p.nextToken() != null) {}",
    "Object o = JSON.deserializeUntyped(s);",
    "Object o = JSON.deserialize(s, List<Object>.class);",
])
def test_too_deeply_nested_json_is_a_catchable_json_exception(org: Org, call: str) -> None:
    # It used to be the uncatchable "Maximum stack depth reached: 1001" LimitException.
    res = execute_anonymous(org, (
        "String s = '['.repeat(5000) + ']'.repeat(5000);\n"
        f"try {{ {call} System.debug('parsed'); }}\n"
        "catch (JSONException e) { System.debug(e.getTypeName()); }"))
    assert _debug(res) == ["System.JSONException"]


def test_deep_apex_recursion_is_still_the_stack_depth_limit(org: Org) -> None:
    # Only JSON nesting becomes a JSONException: when the Apex call stack is what is deep
    # (a small document parsed at every level of a runaway recursion), the stack runs out
    # inside the parse and it stays the uncatchable stack-depth LimitException.
    res = execute_anonymous(org, (
        "public class DeepS5c { public static Integer d(Integer n) {\n"
        "  try { JSON.deserializeUntyped('[[[[[[[[1]]]]]]]]'); }\n"
        "  catch (JSONException e) { System.debug('json ' + n); return -1; }\n"
        "  return d(n + 1); } }\n"
        "System.debug(DeepS5c.d(0));"))
    assert not res.success, res.log
    assert res.exception_message == "System.LimitException: Maximum stack depth reached: 1001"


@pytest.mark.parametrize("doc", ["{\"a\": NaN}", "[Infinity]", "[-Infinity]"])
@pytest.mark.parametrize("call", [
    "JSON.createParser(s).nextToken();", "JSON.deserializeUntyped(s);",
    "JSON.deserialize(s, Object.class);",
])
def test_nan_and_infinity_are_not_json(org: Org, doc: str, call: str) -> None:
    res = execute_anonymous(org, (
        f"String s = '{doc}';\n"
        f"try {{ {call} System.debug('accepted'); }}\n"
        "catch (JSONException e) { System.debug(e.getMessage()); }"))
    [msg] = _debug(res)
    assert msg.startswith("Malformed JSON: non-standard token")


# --- 3. deploy's caller mistakes ----------------------------------------------------------

@pytest.mark.parametrize("bad", [None, 5, b"public class X {}", [b"public class X {}"],
                                 [None], [["public class X {}"]], {"X": 5}])
def test_deploy_of_something_that_is_no_source_is_a_usage_error(org: Org, bad: Any) -> None:
    with pytest.raises(UsageError, match="deploy needs"):
        org.apex.deploy(bad)


def test_deploy_still_takes_lists_of_texts_and_mappings(org: Org) -> None:
    res = org.apex.deploy(["public class DepA {}", {"DepB": "public class DepB {}"}])
    assert [r.success for r in res] == [True, True]


# --- 4. inline SOQL with child relationship subqueries ------------------------------------

def _account_with_contacts(org: Org) -> str:
    acc = org.insert("Account", [{"Name": "A1"}, {"Name": "A2"}])[0]["id"]
    cons = org.insert("Contact", [{"LastName": "C2", "AccountId": acc},
                                  {"LastName": "C1", "AccountId": acc}])
    org.insert("Task", [{"Subject": "T1", "WhoId": cons[0]["id"]}])
    return str(acc)


def test_inline_soql_with_a_child_subquery_gives_a_list_per_parent(org: Org) -> None:
    _account_with_contacts(org)
    res = execute_anonymous(org, (
        "List<Account> accs = [SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName)\n"
        "                      FROM Account ORDER BY Name];\n"
        "for (Account a : accs) {\n"
        "  List<Contact> cs = a.Contacts;\n"
        "  System.debug(a.Name + ' ' + cs.size());\n"
        "  for (Contact c : a.Contacts) { System.debug(c.LastName); }\n"
        "}\n"
        "System.debug(Limits.getQueries() + ' ' + Limits.getQueryRows());\n"))
    # A2 has no contacts: an empty list, not null. One query; 2 accounts + 2 contacts rows.
    assert _debug(res) == ["A1 2", "C1", "C2", "A2 0", "1 4"]


def test_nested_child_subqueries_and_soql_for_loops(org: Org) -> None:
    _account_with_contacts(org)
    res = execute_anonymous(org, (
        "for (Account a : [SELECT Name, (SELECT LastName, (SELECT Subject FROM Tasks)\n"
        "                  FROM Contacts ORDER BY LastName DESC)\n"
        "                  FROM Account WHERE Name = 'A1']) {\n"
        "  for (Contact c : a.Contacts) { System.debug(c.LastName + ' ' + c.Tasks.size()); }\n"
        "}\n"
        "Account one = [SELECT Id, (SELECT Id FROM Contacts) FROM Account WHERE Name = 'A1'];\n"
        "System.debug(one.Contacts.size());\n"
        "upsert one;\n"  # the child rows are not sent with the parent
        "System.debug(one);\n"))
    out = _debug(res)
    assert out[:3] == ["C2 1", "C1 0", "2"]
    assert out[3].startswith("Account:{Id=001") and "Contacts" not in out[3]


def test_a_child_relationship_the_object_lacks_fails_the_compile(org: Org) -> None:
    res = execute_anonymous(org, "Account a = new Account(); System.debug(a.Contactz);")
    assert not res.compiled
    assert res.compile_problem == "Variable does not exist: Contactz"


# --- 8. queried records carry their Id in Apex --------------------------------------------

def test_soql_and_sosl_records_in_apex_have_their_id_unselected(org: Org) -> None:
    acc = org.insert("Account", [{"Name": "Acme One"}])[0]["id"]
    con = org.insert("Contact", [{"LastName": "Acmeson"}])[0]["id"]
    res = execute_anonymous(org, (
        "Account a = [SELECT Name FROM Account LIMIT 1];\n"
        "System.debug(a.Id); System.debug(a);\n"
        "List<List<SObject>> r = [FIND 'Acme*' IN ALL FIELDS RETURNING Account(Name), Contact];\n"
        "System.debug(r[0][0].Id); System.debug(r[0][0]); System.debug(r[1][0].Id);\n"
        "System.debug(Database.query('SELECT Name FROM Account')[0].Id);\n"))
    assert _debug(res) == [acc, f"Account:{{Name=Acme One, Id={acc}}}", acc,
                           f"Account:{{Name=Acme One, Id={acc}}}", con, acc]
    # The SOSL engine's own rows (what REST search returns) are unchanged: only Name.
    [[row]] = sosl_search(org.soql, org.schema, "FIND 'Acme*' RETURNING Account(Name)", {},
                          apex=True)
    assert set(row) == {"attributes", "Name"}


# --- 5. the DmlException text prints the fields as the platform does ---------------------

@pytest.mark.parametrize(("src", "tail"), [
    ("insert new Account();",
     "first error: REQUIRED_FIELD_MISSING, Required fields are missing: [Name]: [Name]"),
    ("insert new Lead();", "first error: REQUIRED_FIELD_MISSING, Required fields are missing: "
                           "[LastName, Company]: [LastName, Company]"),
    ("Account a = new Account(Name = 'x'); insert a; delete a; delete a;",
     "first error: ENTITY_IS_DELETED, entity is deleted: []"),
])
def test_dml_exception_lists_fields_in_brackets_without_quotes(
        org: Org, src: str, tail: str) -> None:
    res = execute_anonymous(org, src)
    assert res.exception_message is not None
    assert res.exception_message.startswith("System.DmlException: ")
    assert res.exception_message.endswith(tail)
    assert "'" not in res.exception_message


# --- 6. describe's mergeable: the objects merge accepts -----------------------------------

def test_describe_mergeable_is_true_exactly_for_the_objects_merge_accepts(org: Org) -> None:
    names = [n for n in ("Account", "Contact", "Lead", "Opportunity", "Task", "User")]
    describe = {n: org.schema.get(n).describe("/services/data/v59.0") for n in names}
    assert {n for n, d in describe.items() if d["mergeable"]} == {"Account", "Contact", "Lead"}
    assert {n for n in names if n in org.dml.MERGEABLE} == {"Account", "Contact", "Lead"}


# --- 7. a failure in a declaration is reported at the statement's start -------------------

@pytest.mark.parametrize(("src", "where", "message"), [
    ("Integer n = 0;\nfor (Integer i = 0; i < 101; i++) {\n"
     "    List<Account> a = [SELECT Id FROM Account LIMIT 1];\n}\n",
     (3, 5), "System.LimitException: Too many SOQL queries: 101"),
    ("System.debug(1);\n  final Account a = [SELECT Id FROM Account];",
     (2, 3), "System.QueryException: List has no rows for assignment to SObject"),
    ("Integer x = 1,\n   y = 1 / 0;", (1, 1), "System.MathException: Divide by 0"),
])
def test_an_exception_in_a_declaration_points_at_the_statement(
        org: Org, src: str, where: tuple[int, int], message: str) -> None:
    res = execute_anonymous(org, src)
    assert res.exception_message == message
    assert (res.line, res.column) == where
    assert res.exception_stack_trace == f"AnonymousBlock: line {where[0]}, column {where[1]}"


# --- 9. one ExtendedStatus format for every failed async job ------------------------------

def test_extended_status_has_one_format_for_every_job_type(org: Org) -> None:
    res = org.apex.deploy([
        "public class XsQ implements Queueable { public void execute(QueueableContext c) {\n"
        "  for (Integer i = 0; i < 201; i++) { List<Account> a = [SELECT Id FROM Account]; } } }",
        "public class XsF { @future public static void lim() {\n"
        "  for (Integer i = 0; i < 201; i++) { List<Account> a = [SELECT Id FROM Account]; } }\n"
        "  @future public static void npe() { Integer x = null; x++; } }",
        "public class XsB implements Database.Batchable<SObject> {\n"
        "  public Database.QueryLocator start(Database.BatchableContext c) {\n"
        "    return Database.getQueryLocator('SELECT Id FROM Account'); }\n"
        "  public void execute(Database.BatchableContext c, List<SObject> s) {\n"
        "    Integer x = null; x++; }\n"
        "  public void finish(Database.BatchableContext c) {} }"])
    assert all(r.success for r in res), res
    org.insert("Account", [{"Name": "a"}])
    assert execute_anonymous(org, "System.enqueueJob(new XsQ()); XsF.lim(); XsF.npe();\n"
                                  "Database.executeBatch(new XsB());").success
    org.apex.run_until_idle()
    rows = org.query_records("SELECT JobType, ApexClass.Name, ExtendedStatus FROM AsyncApexJob "
                             "ORDER BY CreatedDate, Id")
    got = sorted((r["JobType"], r["ExtendedStatus"]) for r in rows)
    # A limit reads the same in a queueable and a future (it was "LIMIT_EXCEPTION: ..."
    # there and "System.X: ..." for other exceptions); a batch keeps its "First error: ".
    assert got == [("BatchApex", "First error: Attempt to de-reference a null object"),
                   ("Future", "First error: Attempt to de-reference a null object"),
                   ("Future", "First error: Too many SOQL queries: 201"),
                   ("Queueable", "First error: Too many SOQL queries: 201")]
