"""Typed JSON and System.Type in deployed classes (issue 15): what the anonymous
conformance snippets (tests/apex_conformance/json_typed.apex) cannot show: interfaces
and abstract classes as deserialization targets, Type.forName of deployed (inner)
classes, JSON round trips through deployed classes, and compile errors of ``X.class``.
Sources: Apex Reference Guide, *JSON Class* and *Type Class* (cited in
:mod:`sforg_sim.apexlang.jsontyped`)."""

from __future__ import annotations

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import deploy, execute_anonymous

CLASSES = {
    "Payload": """
public class Payload {
    public interface Shape { }
    public abstract class Base { public Integer id; }
    public class Part extends Base { public String label; public Kind kind; }
    public enum Kind { SMALL, LARGE }
    public String name;
    public List<Part> parts;
    public Map<Integer, Boolean> flags;
    public Payload() { name = 'from constructor'; }
}""",
}


@pytest.fixture(scope="module")
def org() -> Org:
    o = Org()
    o.load_scenario("small")
    results = deploy(o, CLASSES)
    assert all(r.success for r in results), results
    return o


def _run(org: Org, source: str) -> list[str]:
    res = execute_anonymous(org, source)
    assert res.compiled, f"{res.line}:{res.column} {res.compile_problem}"
    assert res.success, res.exception_message
    return [line.split("|", 4)[4] for line in res.log]


def test_deserialize_deployed_class_with_inheritance_enum_and_integer_keys(org: Org) -> None:
    out = _run(org, """
String s = '{"name":"n","parts":[{"id":4,"label":"L","kind":"LARGE"}],"flags":{"7":true}}';
Payload p = (Payload) JSON.deserialize(s, Payload.class);
Payload.Part q = p.parts[0];
System.debug(p.name + ' ' + q.id + ' ' + q.label + ' ' + (q.kind == Payload.Kind.LARGE)
             + ' ' + p.flags.get(7));
System.debug(JSON.serialize(q));
""")
    assert out == ["n 4 L true true", '{"id":4,"label":"L","kind":"LARGE"}']


def test_deserialize_does_not_run_the_constructor(org: Org) -> None:
    # Observed behaviour (Salesforce Stack Exchange 337877): the constructor is not run.
    out = _run(org, "Payload p = (Payload) JSON.deserialize('{}', Payload.class);\n"
                    "System.debug(p.name + ' ' + new Payload().name);")
    assert out == ["null from constructor"]


@pytest.mark.parametrize("target", ["Payload.Shape", "Payload.Base"])
def test_abstract_targets_are_a_type_exception(org: Org, target: str) -> None:
    res = execute_anonymous(org, f"Object o = JSON.deserialize('{{}}', {target}.class);")
    assert res.compiled and not res.success
    assert res.exception_message == ("System.TypeException: Cannot deserialize JSON as "
                                     f"abstract type: {target}")


def test_type_for_name_finds_deployed_and_inner_classes(org: Org) -> None:
    out = _run(org, """
Type t = Type.forName('payload.part');
System.debug(t.getName() + ' ' + (t == Payload.Part.class) + ' ' + Type.forName('Integer'));
Payload.Part p = (Payload.Part) JSON.deserialize('{"label":"z"}', t);
System.debug(p.label);
Payload made = (Payload) Type.forName('Payload').newInstance();
System.debug(made.name);
""")
    assert out == ["Payload.Part true Integer", "z", "from constructor"]


@pytest.mark.parametrize(("source", "problem"), [
    ("Type t = NoSuchThing.class;", "Invalid type: NoSuchThing"),
    ("Type t = List<NoSuchThing>.class;", "Invalid type: NoSuchThing"),
    ("Type t = List<String>.size;", "Unexpected token 'size'."),
])
def test_class_literal_compile_errors(org: Org, source: str, problem: str) -> None:
    res = execute_anonymous(org, source)
    assert not res.compiled
    assert res.compile_problem == problem
    assert res.line == 1


def test_deserialize_null_type_is_a_null_pointer(org: Org) -> None:
    res = execute_anonymous(org, "Type t = null; Object o = JSON.deserialize('{}', t);")
    assert res.exception_message == ("System.NullPointerException: Attempt to de-reference "
                                     "a null object")


def test_type_for_name_of_an_interface_is_not_a_deserialization_target(org: Org) -> None:
    res = execute_anonymous(org, "Object o = JSON.deserialize('{}', "
                                 "Type.forName('Payload.Shape'));")
    assert res.exception_message == ("System.TypeException: Cannot deserialize JSON as "
                                     "abstract type: Payload.Shape")


def test_json_parser_is_modelled(org: Org) -> None:
    # JSONParser is modelled since issue 15 item 5 (tests/apex_conformance/json_parser.apex).
    res = execute_anonymous(org, "JSONParser p = JSON.createParser('{}');\n"
                                 "System.debug(p.nextToken());")
    assert res.success, res.compile_problem
    assert res.log[0].endswith("|START_OBJECT")
