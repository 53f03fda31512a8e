"""Generated Apex expressions evaluate like a small reference evaluator of Apex's rules:
32-bit Integer arithmetic, String concatenation with null, case-insensitive String ==,
comparisons with null are false (sources in :mod:`sforg_sim.apexlang.runtime`)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sforg_sim import Org
from sforg_sim.apexlang import execute_anonymous

ORG = Org()


def wrap(n: int) -> int:
    return ((n + 2**31) % 2**32) - 2**31


def text(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


ints = st.integers(-(2**31), 2**31 - 1).map(lambda n: (f"({n})" if n >= 0 else
                                                        f"(0 - {-n})" if n > -(2**31)
                                                        else "(-2147483647 - 1)", n))
int_expr = st.recursive(
    ints,
    lambda inner: st.tuples(inner, st.sampled_from("+-*"), inner).map(
        lambda t: (f"({t[0][0]} {t[1]} {t[2][0]})",
                   wrap(t[0][1] + t[2][1] if t[1] == "+" else t[0][1] - t[2][1]
                        if t[1] == "-" else t[0][1] * t[2][1]))),
    max_leaves=6)
words = st.text("aAbB", min_size=0, max_size=3)
strs = st.one_of(words.map(lambda w: (f"'{w}'", w)), st.just(("nullStr", None)))


@st.composite
def bool_expr(draw: st.DrawFn) -> tuple[str, bool]:
    kind = draw(st.sampled_from(["streq", "intcmp", "nullcmp"]))
    if kind == "streq":
        (a, av), (b, bv) = draw(strs), draw(strs)
        ref = av is bv if av is None or bv is None else av.lower() == bv.lower()
        return f"({a} == {b})", ref
    if kind == "intcmp":
        (a, av), (b, bv) = draw(int_expr), draw(int_expr)
        op = draw(st.sampled_from(["<", ">", "<=", ">=", "==", "!="]))
        ref = {"<": av < bv, ">": av > bv, "<=": av <= bv, ">=": av >= bv, "==": av == bv,
               "!=": av != bv}[op]
        return f"({a} {op} {b})", ref
    (a, av) = draw(int_expr)
    op = draw(st.sampled_from(["<", ">", "<=", ">="]))
    return f"(nullInt {op} {a})", False


@st.composite
def concat_expr(draw: st.DrawFn) -> tuple[str, str]:
    parts = draw(st.lists(st.one_of(strs, int_expr, bool_expr()), min_size=1, max_size=4))
    # A String first, so + is concatenation from the left, as in Apex.
    code = "''" + "".join(f" + {c}" for c, _ in parts)
    return code, "".join(text(v) for _, v in parts)


def run(expr: str) -> str:
    src = f"String nullStr;\nInteger nullInt;\nSystem.debug({expr});"
    res = execute_anonymous(ORG, src)
    assert res.success, (expr, res.compile_problem, res.exception_message)
    return res.log[-1].split("|", 4)[4]


@settings(deadline=None)
@given(int_expr)
def test_integer_arithmetic_wraps_like_apex(e: tuple[str, int]) -> None:
    assert run(e[0]) == str(e[1])


@settings(deadline=None)
@given(bool_expr())
def test_comparisons_follow_apex_rules(e: tuple[str, bool]) -> None:
    assert run(e[0]) == text(e[1])


@settings(deadline=None)
@given(concat_expr())
def test_concatenation_prints_null_and_booleans(e: tuple[str, str]) -> None:
    assert run(e[0]) == e[1]
