"""Apex compile errors with line:column, parse-only class shapes, and deploy results."""

from __future__ import annotations

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import deploy, execute_anonymous
from sforg_sim.apexlang.parser import parse_class

SHAPES = [
    # interfaces, generics, inner classes, enums, properties, sharing, abstract/virtual
    """global without sharing class Batch implements Database.Batchable<sObject>,
    Database.Stateful, Database.AllowsCallouts {
        global Integer processed = 0;
        global Database.QueryLocator start(Database.BatchableContext bc) {
            return Database.getQueryLocator([SELECT Id FROM Opportunity]);
        }
        global void execute(Database.BatchableContext bc, List<Opportunity> scope) {
            processed += scope.size();
        }
        global void finish(Database.BatchableContext bc) { }
    }""",
    """public abstract class Base {
        public enum Mode { FAST, SLOW }
        protected Mode mode { get; private set; }
        public virtual Integer size() { return 0; }
        public abstract void run();
        private class Inner { Map<String, List<Set<Id>>> deep = new Map<String, List<Set<Id>>>(); }
    }""",
    """public class Casts {
        public static Object f(Object o) {
            Map<String, Object> m = (Map<String, Object>) o;
            List<Object> xs = (List<Object>) m.get('data');
            String s = (String) xs[0];
            Integer n = s == null ? 0 : (s.length() > 3 ? 1 : 2);
            return m?.get('x') ?? n;
        }
    }""",
    """@IsTest
    private class SomeTest {
        @IsTest static void itWorks() {
            System.assertEquals(2, 1 + 1, 'math');
            for (List<Opportunity> batch : [SELECT Id FROM Opportunity WITH USER_MODE]) { }
        }
    }""",
]


@pytest.mark.parametrize("source", SHAPES)
def test_real_class_shapes_parse(source: str) -> None:
    assert parse_class(source).data == "compilation_unit"


@pytest.fixture
def org() -> Org:
    return Org()


@pytest.mark.parametrize(("source", "problem", "line", "column"), [
    ("Integer x = 1;\nSystem.debug(y);", "Variable does not exist: y", 2, 14),
    ("Integer x = 'text';", "Illegal assignment from String to Integer", 1, 13),
    ("Foo f = null;", "Invalid type: Foo", 1, 1),
    ("Opportunity o = new Opportunity();\nString s = o.NoSuchField__c;",
     "Variable does not exist: NoSuchField__c", 2, 14),
    ("Integer x = 10 % 3;", "Not supported by sforg-sim: the % operator (Apex has none: "
                           "use Math.mod)", 1, 16),
    # SOSL runs now (issue 15, session 5b); a malformed one fails the compile at it.
    ("List<List<sObject>> r = [FIND 'x' IN ALL FIELDS RETURNING Account];",
     # The query-language caret layout, on the statement as written (session 5d).
     "\nFIND 'x' IN ALL FIELDS RETURNING Account\n     ^\nERROR at Row:1:Column:6\n"
     "search term must be longer than one character", 1, 25),
    ("Integer x = 1\nSystem.debug(x);", "Unexpected token 'System'.", 2, 1),
    ("Integer h = Limits.getHeapSize();",
     "Not supported by sforg-sim: Limits.getHeapSize (heap size is not modelled)", 1, 20),
])
def test_compile_errors_have_positions(org: Org, source: str, problem: str, line: int,
                                       column: int) -> None:
    res = execute_anonymous(org, source)
    assert not res.compiled and not res.success
    assert (res.compile_problem, res.line, res.column) == (problem, line, column)


def test_missing_return(org: Org) -> None:
    [r] = deploy(org, """public class R {
    public Integer f(Integer x) {
        if (x > 0) { return 1; }
    }
}""")
    assert not r.success
    assert r.problem == "Missing return statement required return type: Integer"
    assert r.line == 4


def test_unsupported_annotation_is_named(org: Org) -> None:
    [r] = deploy(org, """public class F {
    @AuraEnabled(cacheable=true)
    public static void go() { }
}""")
    assert (r.success, r.problem, r.line) == (False, "Not supported by sforg-sim: annotation "
                                                     "@AuraEnabled", 2)


def test_deploy_is_all_or_none(org: Org) -> None:
    results = deploy(org, {"Good": "public class Good { }",
                           "Bad": "public class Bad { Integer x = 'a'; }"})
    assert [r.success for r in results] == [True, False] or not all(r.success for r in results)
    res = execute_anonymous(org, "Good g = new Good();")
    assert res.compile_problem == "Invalid type: Good"


def test_case_insensitive_keywords_and_names(org: Org) -> None:
    res = execute_anonymous(org, "INTEGER X = 2; IF (x == 2) { SYSTEM.DEBUG(x); }")
    assert res.success, res.compile_problem
    assert res.log[0].endswith("|DEBUG|2")


def test_enum_values_and_switch(org: Org) -> None:
    results = deploy(org, """public class Weather {
    public enum Season { WINTER, SUMMER }
    public static String describe(Season s) {
        switch on s {
            when WINTER { return 'cold'; }
            when else { return 'warm'; }
        }
    }
}""")
    assert all(r.success for r in results), results
    res = execute_anonymous(org, "System.debug(Weather.describe(Weather.Season.WINTER) + ' ' + "
                                 "Weather.describe(Weather.Season.SUMMER) + ' ' + "
                                 "(Weather.Season.WINTER == Weather.Season.WINTER));")
    assert res.success, (res.compile_problem, res.exception_message)
    assert res.log[0].endswith("|cold warm true")
