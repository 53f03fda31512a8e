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

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

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


@cache
def _parser(start: str) -> Lark:
    text = resources.files(__package__).joinpath("apex.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", lexer="basic", start=start, postlex=_PostLex(),
                propagate_positions=True, maybe_placeholders=False, cache=False)


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
