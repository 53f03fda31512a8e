"""Apex source -> lark parse tree (LALR), with compile errors at line:column.

The grammar is ``apex.lark``. Two things Java-like languages need beyond LALR(1) are done
in :class:`_PostLex`, a token pass between lark's lexer and parser:

- keywords are case-insensitive in Apex ("Apex Developer Guide", *Reserved Keywords*,
  https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_reserved_words.htm:
  identifiers and keywords are case-insensitive), so the lexer produces ``NAME`` for every
  word and the postlexer retypes reserved words (any case) to their terminals, except
  right after ``.`` where they are member names (``Database.update``);
- ``<``/``>`` after ``List``/``Set``/``Map``/``Batchable``/``Iterable``/``Iterator``
  (the only generic types: Apex has no user-defined generics) open and close type
  arguments (``LTG``/``GTG``), and ``(`` starting a cast (``(Type) expr``) is ``CASTLP``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..soql.parser import grammar_cache_file
from .errors import ApexCompileError

__all__ = ["KEYWORDS", "parse_anonymous", "parse_class", "parse_expression"]

KEYWORDS = frozenset([
    "abstract", "break", "catch", "class", "continue", "delete", "do", "else", "enum",
    "extends", "false", "final", "finally", "for", "global", "if", "implements", "inherited",
    "insert", "instanceof", "interface", "merge", "new", "null", "override", "private",
    "protected", "public", "return", "sharing", "static", "super", "switch", "testmethod",
    "this", "throw", "transient", "true", "try", "undelete", "update", "upsert", "virtual",
    "webservice", "when", "while", "with", "without",
])
_GENERIC = frozenset({"list", "set", "map", "batchable", "iterable", "iterator"})
_TYPE_TOKENS = frozenset({"NAME", "DOT", "COMMA", "LSQB", "RSQB"})
# Tokens that can start an operand: after "(Type)" they make it a cast.
_OPERAND_START = frozenset({"NAME", "NUMBER", "STRING", "LPAR", "NEW", "THIS", "SOQL",
                            "TRUE", "FALSE", "NULL", "BANG", "CASTLP", "SUPER"})


class _PostLex:
    """Retype keywords, generic brackets and cast parentheses (see the module docstring)."""

    always_accept = ("NAME",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        toks = list(stream)
        prev_dot = False
        for t in toks:
            if t.type == "NAME" and not prev_dot:
                low = t.value.lower()
                if low in KEYWORDS:
                    t.type = low.upper()
            prev_dot = t.type == "DOT"
        for i, t in enumerate(toks):
            if (t.type == "RELOP" and t.value == "<" and i > 0 and toks[i - 1].type == "NAME"
                    and toks[i - 1].value.lower() in _GENERIC):
                self._generic(toks, i)
        for i, t in enumerate(toks):
            if t.type == "LPAR":
                self._cast(toks, i)
        yield from toks

    @staticmethod
    def _generic(toks: list[Token], i: int) -> None:
        depth = 0
        closes: list[int] = []
        for j in range(i, len(toks)):
            t = toks[j]
            if t.type == "RELOP" and t.value == "<":
                depth += 1
            elif t.type == "RELOP" and t.value == ">":
                depth -= 1
                closes.append(j)
                if depth == 0:
                    toks[i].type = "LTG"
                    for k in range(i + 1, j + 1):
                        if toks[k].type == "RELOP":
                            toks[k].type = "LTG" if toks[k].value == "<" else "GTG"
                    return
            elif t.type not in _TYPE_TOKENS:
                return

    @staticmethod
    def _cast(toks: list[Token], i: int) -> None:
        # "(" type ")" followed by an operand start. Parenthesised names followed by an
        # operand cannot be anything else in Apex, as in Java.
        j = i + 1
        if j >= len(toks) or toks[j].type != "NAME":
            return
        depth = 0
        while j < len(toks):
            t = toks[j]
            if t.type in ("NAME", "DOT", "LSQB", "RSQB", "COMMA"):
                pass
            elif t.type in ("LTG", "GTG"):
                depth += 1 if t.type == "LTG" else -1
            elif t.type == "RPAR" and depth == 0:
                break
            else:
                return
            j += 1
        if j + 1 < len(toks) and toks[j + 1].type in _OPERAND_START:
            toks[i].type = "CASTLP"


# Binary operator precedence, lowest first ("Apex Developer Guide", *Expression Operators*
# and *Operator Precedence*,
# https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/langCon_apex_expressions_operators_precedence.htm):
# ?? < || < && < | < ^ < & < equality < relational/instanceof < additive < multiplicative.
# All are left-associative except ``??``, which nests to the right (a ?? b ?? c).
_PREC = {"QQ": 1, "OROR": 2, "ANDAND": 3, "BAR": 4, "CARET": 5, "AMP": 6, "EQOP": 7,
         "RELOP": 8, "INSTANCEOF": 8, "PLUS": 9, "MINUS": 9, "STAR": 10, "SLASH": 10,
         "PERCENT": 10}
# Operators whose node has the two operands only (the operator token is implied).
_PAIR = {"QQ": "coalesce", "OROR": "or_", "ANDAND": "and_", "BAR": "bitor",
         "CARET": "bitxor", "AMP": "bitand"}


def _node(op: Token, left: object, right: object) -> Tree:
    """The tree the old one-rule-per-level grammar built for ``left op right``. It has no
    positions of its own: the compiler takes a node's position from its first token."""
    if op.type in _PAIR:
        return Tree(_PAIR[op.type], [left, right])
    if op.type == "INSTANCEOF":
        return Tree("instanceof", [left, op, right])
    return Tree("binop", [left, op, right])


class _Shape(Transformer):
    """Callbacks run by the LALR parser as it reduces (lark's ``transformer=`` option).

    ``flat`` holds ``operand (op operand)+`` for all binary levels at once (see
    ``apex.lark``); precedence climbing turns it into the nested ``binop``/``or_``/
    ``and_``/... trees the compiler reads, so one reduction per operator replaces one per
    precedence level per operand (deploy time is mostly parsing).
    """

    def flat(self, children: list[object]) -> object:
        """Rebuild the precedence tree of one flat operator chain."""
        pos = 1

        def climb(left: object, min_prec: int) -> object:
            nonlocal pos
            while pos < len(children):
                op = children[pos]
                assert isinstance(op, Token)
                prec = _PREC[op.type]
                if prec < min_prec:
                    break
                right = children[pos + 1]
                pos += 2
                if op.type != "INSTANCEOF":
                    while pos < len(children):
                        nxt = children[pos]
                        assert isinstance(nxt, Token)
                        p2 = _PREC[nxt.type]
                        # Right operand grabs tighter operators; ?? also grabs another ??.
                        if p2 > prec or (p2 == prec == 1):
                            right = climb(right, p2)
                        else:
                            break
                left = _node(op, left, right)
            return left

        return climb(children[0], 0)

    def block(self, children: list[object]) -> Tree:
        """A ``{ ... }`` block: its statements, positioned from its braces."""
        lb, rb = children[0], children[-1]
        assert isinstance(lb, Token) and isinstance(rb, Token)
        t = Tree("block", children[1:-1])
        m: Any = t.meta
        m.line, m.column, m.start_pos = lb.line, lb.column, lb.start_pos
        m.end_line, m.end_column, m.end_pos = rb.end_line, rb.end_column, rb.end_pos
        m.empty = False
        return t

    # No __default__: rules without a method above get lark's plain tree builder (a
    # Transformer's default handler would add a call per reduction).
    __default__ = None  # type: ignore[assignment]


@cache
def _parser(start: str) -> Lark:
    """The LALR parser for rule ``start``, its tables cached on disk across processes.

    Building the tables costs a few tenths of a second per start rule and process
    (benchmarks/README.md, Apex section). ``soql.parser.cached_lark`` (``Lark.save`` and
    ``Lark.load``) cannot serve this grammar: ``Lark.load`` takes no options, and this
    parser needs its ``postlex`` and ``transformer`` objects back. lark's documented
    ``cache`` option does: "When given a string, caches to the path pointed by the string"
    (``LarkOptions``, lark 1.x, https://lark-parser.readthedocs.io/en/stable/classes.html);
    lark keeps ``transformer``, ``postlex`` and ``lexer_callbacks`` out of the file and out
    of its hash and hands them to the loaded parser (``Lark.__init__`` -> ``Lark._load``
    with the ``_LOAD_ALLOWED_OPTIONS``, lark 1.3 ``lark.py``). The file goes where the
    SOQL grammar's goes, :func:`sforg_sim.soql.parser.grammar_cache_file` (the user's
    private cache directory, never the shared temporary one: the file is a pickle), named
    by a hash of the grammar and these options, or nowhere when that returns None
    (``SFORG_SIM_GRAMMAR_CACHE=off``). lark writes the file in place and checks the
    grammar's hash stored in it on every load; a file another process is still writing
    fails to load, and lark then builds the tables as if there were no file.
    """
    text = resources.files(__package__).joinpath("apex.lark").read_text(encoding="utf-8")
    options: dict[str, Any] = {"lexer": "basic", "start": start,
                               "propagate_positions": False, "maybe_placeholders": False}
    path = grammar_cache_file(f"apex-{start}", text, repr(sorted(options.items())))
    return Lark(text, parser="lalr", postlex=_PostLex(), transformer=_Shape(),
                cache=str(path) if path is not None else False, **options)


def _error(e: UnexpectedInput, source: str) -> ApexCompileError:
    line, col = getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1
    if isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            return ApexCompileError("Unexpected token '<EOF>'.", line, col)
        return ApexCompileError(f"Unexpected token '{tok.value}'.", line, col)
    if isinstance(e, UnexpectedCharacters):
        return ApexCompileError(f"Invalid character in identifier: {source[e.pos_in_stream or 0]}",
                                line, col)
    if isinstance(e, UnexpectedEOF):
        return ApexCompileError("Unexpected token '<EOF>'.", line, col)
    return ApexCompileError(str(e).splitlines()[0], line, col)


def _parse(source: str, start: str) -> Tree:
    try:
        return _parser(start).parse(source)
    except UnexpectedInput as e:
        raise _error(e, source) from None


def parse_class(source: str) -> Tree:
    """Parse a ``.cls`` file: one or more top-level type declarations."""
    return _parse(source, "compilation_unit")


def parse_anonymous(source: str) -> Tree:
    """Parse an anonymous block (``sf apex run``): statements and local classes."""
    return _parse(source, "anon_unit")


def parse_expression(source: str) -> Tree:
    """Parse one expression (a SOQL bind such as ``:obj.method()``)."""
    return _parse(source, "expr")
