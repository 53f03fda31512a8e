"""Enum values (Apex Developer Guide, "Enums"): every value has ``name()`` and
``ordinal()`` (its zero-based position among the enum's values), compiled enums and the
built-in ones alike; an enum's own name is not one of its values."""

from __future__ import annotations

import pytest

from sforg_sim import Org

CLASS = """public class Palette {
    public enum Color {RED, GREEN, BLUE}
    public static String describe(Color c) { return c.name() + '/' + c.ordinal(); }
}"""


@pytest.fixture(scope="module")
def org() -> Org:
    o = Org()
    assert all(r.success for r in o.apex.deploy(CLASS))
    return o


def _debug(org: Org, source: str) -> list[str]:
    res = org.apex.execute_anonymous(source)
    assert res.compiled and res.success, (res.compile_problem, res.exception_message)
    return [line.rsplit("|", 1)[1] for line in res.log]


def test_compiled_enum_names_and_zero_based_ordinals(org: Org) -> None:
    assert _debug(org, "System.debug(Palette.describe(Palette.Color.RED)); "
                       "System.debug(Palette.describe(Palette.Color.BLUE));") == [
        "RED/0", "BLUE/2"]


def test_the_enums_own_name_is_not_a_value(org: Org) -> None:
    res = org.apex.execute_anonymous("System.debug(Palette.Color.Color);")
    assert not res.compiled and res.compile_problem == "Variable does not exist: Color"


def test_deserialize_into_an_enum_knows_only_its_values(org: Org) -> None:
    assert _debug(org, "System.debug(JSON.deserialize('\"GREEN\"', Palette.Color.class));"
                  ) == ["GREEN"]
    res = org.apex.execute_anonymous(
        "System.debug(JSON.deserialize('\"Color\"', Palette.Color.class));")
    assert res.compiled and not res.success, res.log


def test_built_in_enum_values_have_the_enum_methods(org: Org) -> None:
    # LoggingLevel.name() used to end in an internal error ('str' object is not callable)
    # and JSONToken's methods did not compile.
    assert _debug(org, """LoggingLevel l = LoggingLevel.WARN;
System.debug(l.name() + '/' + l.ordinal());
JSONParser p = JSON.createParser('[1]');
System.JSONToken t = p.nextToken();
System.debug(t.name() + '/' + t.ordinal());""") == ["WARN/2", "START_ARRAY/4"]


def test_a_null_enum_value_is_a_null_pointer(org: Org) -> None:
    res = org.apex.execute_anonymous("Palette.Color c; System.debug(c.name());")
    assert res.compiled and not res.success
    assert res.exception_message == ("System.NullPointerException: Attempt to de-reference "
                                     "a null object")
