"""The parser's speed work (issue 15, deploy under a second) keeps the trees it built.

Deploy time is mostly lark's LALR parse, and most of that was tree-builder reductions:
one per precedence level per operand. ``apex.lark`` now has one flat rule for every
binary operator and ``parser._Shape`` rebuilds the precedence tree by climbing, and
positions come from tokens instead of lark's ``propagate_positions``. These tests pin
what that must not change (tree shapes, positions) and the reduction count it bought
(a count, not a wall-clock figure: the timing is in benchmarks/bench_apex.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lark import Token, Tree

from sforg_sim import Org
from sforg_sim.apexlang import deploy, execute_anonymous
from sforg_sim.apexlang import parser as P


def _shape(t: Any) -> Any:
    """A parse tree as nested tuples: ``(data, children...)``, tokens as their text."""
    if isinstance(t, Token):
        return str(t)
    assert isinstance(t, Tree)
    if t.data in ("var", "literal"):
        return str(next(iter(t.scan_values(lambda v: isinstance(v, Token)))))
    return (str(t.data), *(_shape(c) for c in t.children))


@pytest.mark.parametrize(("source", "shape"), [
    # multiplicative binds tighter than additive, all left-associative
    ("a + b * c - d", ("binop", ("binop", "a", "+", ("binop", "b", "*", "c")), "-", "d")),
    ("1 - 2 - 3", ("binop", ("binop", "1", "-", "2"), "-", "3")),
    # equality < relational; && < ||
    ("a == b && c < d || e", ("or_", ("and_", ("binop", "a", "==", "b"),
                                      ("binop", "c", "<", "d")), "e")),
    # | < ^ < &
    ("a | b ^ c & d", ("bitor", "a", ("bitxor", "b", ("bitand", "c", "d")))),
    # ?? is the loosest binary operator and nests to the right
    ("a ?? b ?? c || d", ("coalesce", "a", ("coalesce", "b", ("or_", "c", "d")))),
    # instanceof sits with the relational operators and takes a type
    ("x instanceof Foo && y", ("and_", ("instanceof", "x", "instanceof", ("type", ("name", "Foo"))),
                               "y")),
    # unary minus binds tighter than *
    ("-a * b", ("binop", ("neg", "-", "a"), "*", "b")),
    # the ternary's condition is a whole operator chain
    ("a + 1 > b ? c : d", ("cond", ("binop", ("binop", "a", "+", "1"), ">", "b"), "c", "d")),
])
def test_precedence_shapes(source: str, shape: Any) -> None:
    assert _shape(P.parse_expression(source)) == shape


def _count_reductions(source: str) -> tuple[int, int]:
    """(reductions, tokens) for parsing ``source`` as a class. Reads lark internals
    (the LALR parser's callback table) because the count is the thing being pinned."""
    lark_obj = P._parser("compilation_unit")
    callbacks: dict[Any, Callable[[list[Any]], Any]] = lark_obj.parser.parser.parser.callbacks
    saved = dict(callbacks)
    count = 0

    def wrap(f: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
        def counted(children: list[Any]) -> Any:
            nonlocal count
            count += 1
            return f(children)
        return counted

    try:
        for rule, f in saved.items():
            callbacks[rule] = wrap(f)
        P.parse_class(source)
    finally:
        callbacks.clear()
        callbacks.update(saved)
    return count, len(list(lark_obj.lex(source)))


def test_reductions_per_token_stay_low() -> None:
    """The old one-rule-per-level grammar made ~3.9 reductions per token on this shape
    (benchmarks/bench_apex.py's class); the flat operator rule makes ~2.2."""
    body = "\n".join(f"""    public Integer work{m}(Integer n) {{
        Integer total = 0;
        for (Integer k = 0; k < n; k++) {{
            if (Math.mod(k, 3) == 0 && k > 1 || n < 2) {{ total += k * 2 + 1; }}
            else {{ total -= 1; }}
        }}
        return total + (n > 0 ? 1 : 0);
    }}""" for m in range(5))
    reductions, tokens = _count_reductions(f"public class Shape {{\n{body}\n}}")
    assert reductions / tokens < 2.6, (reductions, tokens)


def test_positions_without_propagate_positions() -> None:
    """Errors still point at the right line and column: a missing return at the method's
    closing brace, an unknown variable at its token."""
    org = Org()
    [r] = deploy(org, {"P": "public class P {\n    public Integer f() {\n"
                       "        Integer x = 1;\n    }\n}\n"})
    assert not r.success
    assert (r.problem, r.line, r.column) == (
        "Missing return statement required return type: Integer", 4, 5)
    res = execute_anonymous(org, "Integer a = 1;\nInteger b = a + (2 * zz);\n")
    assert (res.compile_problem, res.line, res.column) == ("Variable does not exist: zz", 2, 22)
    res = execute_anonymous(org, "Integer a = 1;\n\nInteger b = a / 0;\n")
    assert not res.success and res.line == 3
