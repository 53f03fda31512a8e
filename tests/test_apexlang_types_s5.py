"""Static typing gaps of the Apex compiler (issue 15, item 2): overloads with the same
number of parameters (methods and constructors), collection element types, a field's
type resolved in its declaring class, and ``Type.forName`` of an anonymous block's class.
"""

from __future__ import annotations

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import AnonymousResult, deploy, execute_anonymous

BASE = """public virtual class Base {
    public virtual String f(Integer x) { return 'base int ' + x; }
    public virtual String f(String x) { return 'base str ' + x; }
    public String f(Object x) { return 'base obj'; }
    public static String s(Decimal d) { return 'dec'; }
    public static String s(Integer d) { return 'int'; }
    public String boom(Integer x) { return 'fine'; }
    public String boom(String x) { Integer n; return x + n.format(); }
}"""
KID = """public class Kid extends Base {
    public override String f(String x) { return 'kid str ' + x; }
    public String f(Boolean b) { return 'kid bool'; }
    public String all() { return f(1) + '/' + f('a') + '/' + f(true) + '/' + f(Date.today()); }
}"""


@pytest.fixture(scope="module")
def org() -> Org:
    o = Org()
    results = deploy(o, {"Base": BASE, "Kid": KID})
    assert all(r.success for r in results), results
    return o


@pytest.fixture(scope="module")
def plain() -> Org:
    return Org()


def _run(org: Org, src: str) -> list[str]:
    res = execute_anonymous(org, src)
    assert res.success, (res.compile_problem, res.exception_message)
    return [ln.split("|", 4)[4] for ln in res.log]


def _problem(org: Org, src: str) -> AnonymousResult:
    res = execute_anonymous(org, src)
    assert not res.compiled
    return res


# --- overloads with the same arity -------------------------------------------------------

def test_the_static_argument_type_chooses_the_overload(org: Org) -> None:
    assert _run(org, "Base b = new Base(); Object o = 'y';\n"
                     "System.debug(b.f(1)); System.debug(b.f('x')); System.debug(b.f(o));"
                ) == ["base int 1", "base str x", "base obj"]


def test_an_override_of_one_overload_dispatches_at_run_time(org: Org) -> None:
    assert _run(org, "Base b = new Kid(); System.debug(b.f(1)); System.debug(b.f('x'));"
                ) == ["base int 1", "kid str x"]


def test_a_subclass_adds_an_overload_and_sees_the_inherited_ones(org: Org) -> None:
    assert _run(org, "System.debug(new Kid().all());") == [
        "base int 1/kid str a/kid bool/base obj"]


def test_the_most_specific_overload_wins(org: Org) -> None:
    # Integer fits Integer exactly; a Long fits only Decimal; a Decimal is exact.
    assert _run(org, "System.debug(Base.s(1)); System.debug(Base.s(5L)); "
                     "System.debug(Base.s(1.5));") == ["int", "dec", "dec"]


def test_null_for_unrelated_overloads_is_ambiguous(org: Org) -> None:
    res = _problem(org, "Kid k = new Kid();\nSystem.debug(k.f(null));")
    assert res.compile_problem == "Ambiguous method signature: void f(null)"
    assert (res.line, res.column) == (2, 16)


def test_no_overload_fits(org: Org) -> None:
    res = _problem(org, "System.debug(Base.s('x'));")
    assert res.compile_problem == ("Method does not exist or incorrect signature: "
                                   "void s(String) from the type Base")


def test_the_stack_trace_names_an_overloaded_method(org: Org) -> None:
    res = execute_anonymous(org, "System.debug(new Base().boom(1));\n"
                                 "System.debug(new Base().boom('x'));")
    assert res.exception_message == ("System.NullPointerException: Attempt to de-reference "
                                      "a null object")
    assert res.exception_stack_trace is not None
    assert res.exception_stack_trace.splitlines()[0].startswith("Class.Base.boom: line 8")


def test_interface_overloads_reach_the_implementation() -> None:
    o = Org()
    assert all(r.success for r in deploy(o, {
        "Shape": "public interface Shape { String name(Integer x); String name(String x); }",
        "Sq": "public class Sq implements Shape {\n"
              "    public String name(String x) { return 'str'; }\n"
              "    public String name(Integer x) { return 'int'; } }"}))
    assert _run(o, "Shape s = new Sq(); System.debug(s.name(1) + s.name('a'));") == ["intstr"]


def test_a_duplicate_signature_is_a_compile_error() -> None:
    results = deploy(Org(), {"Dup": "public class Dup {\n"
                                    "    void f(String a) { }\n    void f(String b) { } }"})
    assert not results[0].success
    assert results[0].problem == "Method already defined: void f(String)"
    assert (results[0].line, results[0].column) == (3, 10)


def test_the_engine_runs_the_queueable_execute_among_overloads() -> None:
    o = Org()
    assert all(r.success for r in deploy(o, {"Job": (
        "public class Job implements Queueable {\n"
        "    public void execute(String s) { System.debug('wrong ' + s); }\n"
        "    public void execute(QueueableContext ctx) { System.debug('right'); } }")}))
    assert execute_anonymous(o, "System.enqueueJob(new Job());").success
    o.apex.run_until_idle()
    row = o.query_records("SELECT Status FROM AsyncApexJob")[0]
    assert row["Status"] == "Completed"
    from sforg_sim.apexlang import runtime_for

    assert [ln.rsplit("|", 1)[1] for ln in runtime_for(o).log] == ["right"]


CTORS = {"P": """public virtual class P {
    public String how;
    public P(String s) { how = 'str ' + s; }
    public P(Integer i) { this(String.valueOf(i) + '!'); how += ' via int'; }
    public P(Object o) { how = 'obj'; }
}""", "K": """public class K extends P {
    public K(Integer i) { super(i); }
    public K(Boolean b) { super('b' + b); }
}"""}


def test_constructors_of_the_same_arity() -> None:
    o = Org()
    assert all(r.success for r in deploy(o, CTORS))
    assert _run(o, "System.debug(new P('a').how); System.debug(new P(3).how);\n"
                   "System.debug(new P(Date.today()).how); System.debug(new K(4).how);\n"
                   "System.debug(new K(true).how);") == [
        "str a", "str 3! via int", "obj", "str 4! via int", "str btrue"]
    res = _problem(o, "System.debug(new K('x').how);")
    assert res.compile_problem == "Constructor not defined: [K].<Constructor>(String)"


# --- collection element types -------------------------------------------------------------

@pytest.mark.parametrize(("src", "problem"), [
    ("List<Integer> xs = new List<String>();",
     "Illegal assignment from List<String> to List<Integer>"),
    ("Set<String> s = new Set<Integer>();", "Illegal assignment from Set<Integer> to Set<String>"),
    ("Map<String, Integer> m = new Map<String, String>();",
     "Illegal assignment from Map<String,String> to Map<String,Integer>"),
    ("List<Account> a = new List<Contact>();",
     "Illegal assignment from List<Contact> to List<Account>"),
    ("Map<String, List<Integer>> m = new Map<String, List<String>>();",
     "Illegal assignment from Map<String,List<String>> to Map<String,List<Integer>>"),
    ("List<Integer> xs = new List<Integer>(); xs.add('a');",
     "Method does not exist or incorrect signature: void add(String) from the type "
     "List<Integer>"),
    ("List<Integer> xs = new List<Integer>(); xs.add(0, 'a');",
     "Method does not exist or incorrect signature: void add(Integer, String) from the type "
     "List<Integer>"),
    ("Set<Date> s = new Set<Date>(); s.add(true);",
     "Method does not exist or incorrect signature: void add(Boolean) from the type Set<Date>"),
    ("Map<String, Integer> m = new Map<String, Integer>(); m.put('k', 'v');",
     "Method does not exist or incorrect signature: void put(String, String) from the type "
     "Map<String,Integer>"),
])
def test_collection_element_types_are_checked(plain: Org, src: str, problem: str) -> None:
    assert _problem(plain, src).compile_problem == problem


def test_compatible_collections_still_compile(plain: Org) -> None:
    # "Parameterized Typing": List<String> is a List<Object>; Id and String mix.
    assert _run(plain, "List<Object> o = new List<String>{'a'};\n"
                     "List<SObject> s = new List<Account>();\n"
                     "List<Id> ids = new List<String>();\n"
                     "List<Object> xs = new List<Object>(); xs.add(1); xs.add('b');\n"
                     "Map<String, Object> m = new Map<String, Object>(); m.put('k', 2);\n"
                     "System.debug(o.size() + xs.size() + m.size());") == ["4"]


# --- member types from the declaring class, Type.forName ------------------------------------

def test_a_field_chain_resolves_in_the_declaring_class() -> None:
    o = Org()
    assert all(r.success for r in deploy(o, {"Outer": (
        "public class Outer {\n"
        "    public class Inner { public Leaf leaf = new Leaf(); public List<Leaf> more =\n"
        "        new List<Leaf>{new Leaf()}; public Leaf get() { return leaf; } }\n"
        "    public class Leaf { public String name = 'n'; }\n}")}))
    assert _run(o, "Outer.Inner x = new Outer.Inner();\n"
                   "System.debug(x.leaf.name.toUpperCase());\n"
                   "System.debug(x.more[0].name + x.get().name);") == ["N", "nn"]


def test_type_forname_sees_the_anonymous_blocks_classes(plain: Org) -> None:
    deploy(plain, {"Dep": "public class Dep { }"})
    assert _run(plain, "public class Loc { public Integer v = 3; }\n"
                     "Type t = Type.forName('loc');\nSystem.debug(t);\n"
                     "Loc l = (Loc) t.newInstance();\nSystem.debug(l.v);\n"
                     "System.debug(Type.forName('Dep') != null);\n"
                     "System.debug(Type.forName('NoSuchThing'));") == [
        "Loc", "3", "true", "null"]


def test_a_class_compiled_first_sees_a_later_classes_members() -> None:
    # Deploy order A, B: A's code reaches B's nested field types and B's overloads
    # before B's own turn to compile.
    o = Org()
    results = deploy(o, {
        "A": "public class A { public static String go() { B.Inner x = new B.Inner();\n"
             "    return x.leaf.name + B.pick(1) + B.pick('s'); } }",
        "B": "public class B {\n"
             "    public class Inner { public Leaf leaf = new Leaf(); }\n"
             "    public class Leaf { public String name = 'n'; }\n"
             "    public static String pick(String s) { return 'S'; }\n"
             "    public static String pick(Integer i) { return 'I'; } }"})
    assert all(r.success for r in results), results
    assert _run(o, "System.debug(A.go());") == ["nIS"]
