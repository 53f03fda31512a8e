"""Compile-time checks of the describe, RoundingMode and cross-class static additions
(positions and Apex's wording), and run-time errors of Time and EncodingUtil."""

from __future__ import annotations

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import execute_anonymous


@pytest.fixture(scope="module")
def org() -> Org:
    o = Org()
    o.load_scenario("small")
    return o


@pytest.mark.parametrize(("source", "line", "column", "problem"), [
    ("Schema.DescribeFieldResult f =\n    Schema.SObjectType.Opportunity.fields.Nope__c;",
     2, 43, "Variable does not exist: Nope__c"),
    ("Schema.DescribeSObjectResult d = Schema.SObjectType.NoSuchObject__c;",
     1, 53, "Variable does not exist: NoSuchObject__c"),
    ("Decimal d = 1.5;\nLong r = d.round(RoundingMode.SIDEWAYS);",
     2, 31, "Variable does not exist: SIDEWAYS"),
    ("Schema.DisplayType t = Schema.DisplayType.NOPE;", 1, 43, "Variable does not exist: NOPE"),
    ("Blob b = 'text';", 1, 10, "Illegal assignment from String to Blob"),
    ("Time t = Date.today();", 1, 10, "Illegal assignment from Date to Time"),
])
def test_compile_errors(org: Org, source: str, line: int, column: int, problem: str) -> None:
    res = execute_anonymous(org, source)
    assert not res.compiled
    assert (res.line, res.column, res.compile_problem) == (line, column, problem)


@pytest.mark.parametrize(("source", "error"), [
    ("Time t = Time.newInstance(24, 0, 0, 0);",
     "System.UnexpectedException: Not supported by sforg-sim: Time.newInstance(24, 0, 0, 0)"),
    ("Blob b = EncodingUtil.convertFromHex('zz');",
     "System.InvalidParameterValueException: Invalid hex string: zz"),
    ("String s = EncodingUtil.base64Decode('/w==').toString();",
     "System.StringException: BLOB is not a valid UTF-8 string"),
    ("Time t;\nt.addHours(1);", "System.NullPointerException"),
])
def test_runtime_errors(org: Org, source: str, error: str) -> None:
    res = execute_anonymous(org, source)
    assert res.compiled, res.compile_problem
    assert not res.success
    assert (res.exception_message or "").startswith(error), res.exception_message


def test_static_field_of_another_class_is_assignable(org: Org) -> None:
    from sforg_sim.apexlang import deploy

    assert all(r.success for r in deploy(org, """public class H3Holder {
    public static Integer count = 0;
    public static List<String> names = new List<String>();
}"""))
    res = execute_anonymous(org, "H3Holder.count = 41;\nH3Holder.count += 1;\n"
                                 "H3Holder.names.add('a');\n"
                                 "System.debug(H3Holder.count + ' ' + H3Holder.names.size());")
    assert res.success, (res.compile_problem, res.exception_message)
    assert res.log[-1].endswith("|42 1")
