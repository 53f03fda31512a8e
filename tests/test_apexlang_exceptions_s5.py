"""Exception methods across frames (issue 15, item 6): ``getStackTraceString`` lists the
whole call stack at the throw, innermost first, whether the exception is caught in the
block, caught in a method, or not caught at all ("Exception Class and Built-In
Exceptions", getStackTraceString, getLineNumber)."""

from __future__ import annotations

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import deploy, execute_anonymous

THROWER = """public class Thrower {
    public static void go() {
        throw new MathException('bad');
    }
    public static void outer() {
        go();
    }
    public static String caught() {
        try {
            outer();
        } catch (MathException e) {
            return e.getStackTraceString();
        }
        return null;
    }
    public static Integer npe() {
        String s;
        return s.length();
    }
}"""

STACK = ["Class.Thrower.go: line 3, column 9", "Class.Thrower.outer: line 6, column 9"]


@pytest.fixture(scope="module")
def org() -> Org:
    o = Org()
    assert all(r.success for r in deploy(o, {"Thrower": THROWER}))
    return o


def test_stack_of_an_exception_caught_in_the_block(org: Org) -> None:
    res = execute_anonymous(org, "try {\n    Thrower.outer();\n} catch (MathException e) {\n"
                                 "    System.debug(e.getLineNumber() + '|' + "
                                 "e.getStackTraceString());\n}")
    assert res.success, res.exception_message
    line, _, stack = res.log[0].split("|", 4)[4].partition("|")
    assert line == "3"
    assert stack.split("\n") == [*STACK, "AnonymousBlock: line 2, column 5"]


def test_stack_of_an_exception_caught_in_a_method_includes_its_callers(org: Org) -> None:
    res = execute_anonymous(org, "Integer a = 1;\nSystem.debug(Thrower.caught());")
    assert res.success, res.exception_message
    text = res.log[0].split("|", 4)[4]
    assert text.split("\n") == [*STACK, "Class.Thrower.caught: line 10, column 13",
                                "AnonymousBlock: line 2, column 1"]


def test_stack_of_an_uncaught_thrown_exception(org: Org) -> None:
    res = execute_anonymous(org, "Integer a = 1;\nThrower.outer();")
    assert res.exception_message == "System.MathException: bad"
    assert (res.line, res.column) == (3, 9)
    assert res.exception_stack_trace is not None
    assert res.exception_stack_trace.split("\n") == [*STACK, "AnonymousBlock: line 2, column 1"]


def test_a_library_exception_caught_knows_its_line(org: Org) -> None:
    res = execute_anonymous(org, "try { Thrower.npe(); } catch (NullPointerException e) {\n"
                                 "    System.debug(e.getLineNumber());\n}")
    assert res.success, res.exception_message
    assert res.log[0].endswith("|18")
