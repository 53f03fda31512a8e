"""The search query of a SOSL FIND clause: its syntax, and how it matches text.

Syntax, from *SOQL and SOSL Reference* v66.0, "FIND {SearchQuery}" (sections Search Terms,
Wildcards, Operators, SearchQuery Character Limits, Reserved Characters;
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_sosl_find.htm):

- single words and ``"quoted phrases"``; text searches are case-insensitive;
- ``*`` matches zero or more characters and ``?`` exactly one, "at the middle or end of
  your search term" (a leading wildcard is refused here: MALFORMED_SEARCH naming it);
- ``AND``, ``OR``, ``AND NOT`` (case-insensitive) and parentheses; "Usually if an operator
  isn't specified, AND is the default operator"; evaluation order "1. Parentheses 2. AND
  and AND NOT (evaluated from right to left) 3. OR" (so ``a AND NOT b AND c`` is
  ``a AND NOT (b AND c)``); the words and/or/and not in double quotes are literals;
- reserved characters ``? & | ! { } [ ] ( ) ^ ~ * : \\ " ' + -`` "must be escaped
  (preceded by the backslash \\ character)"; "An error occurs if you do not precede
  reserved characters with a backslash. This is true even if the SearchQuery is enclosed
  in double quotes." ``*``, ``?``, ``"``, ``(`` and ``)`` unescaped are the wildcards,
  phrase quotes and grouping above; any other unescaped reserved character is
  MALFORMED_SEARCH at its position (wording unconfirmed);
- longer than 10,000 characters: "no result rows are returned"; longer than 4,000: "any
  logical operators are removed" (AND becomes OR);
- "search term must be longer than one character" (the text of ``System.SearchException``
  in Apex, e.g. github.com/SalesforceLabs/Milestones-PM issue 27): here a search query with
  fewer than two letters or digits in all is MALFORMED_SEARCH with that message (the exact
  trigger and the REST errorCode are unconfirmed).

Matching (a documented approximation; the real search index is built asynchronously
and applies stemming, lemmatisation, synonyms and spell correction, none of which is
modelled): a field value is split into tokens, the runs of letters and digits, lower case
("The search engine splits record information separated by spaces or punctuation into
separate tokens"); punctuation is not indexed (the reference says it is). A word
matches a record when one of the searched fields holds a token equal to it (wildcards
within the token); a word the query writes with punctuation inside (``acme.com``,
``415-555``... once escaped) and a ``"phrase"`` match when their tokens appear one after
the other in one field value. AND, OR and AND NOT combine these per record, across its
searched fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["MAX_OPERATOR_LENGTH", "MAX_SEARCH_LENGTH", "And", "AndNot", "Leaf", "Or",
           "TermExpr", "leaves", "matches", "parse_terms", "tokens"]

MAX_SEARCH_LENGTH = 10_000
"""Longer search queries return no rows ("SearchQuery Character Limits")."""

MAX_OPERATOR_LENGTH = 4_000
"""Longer search queries lose their logical operators: every term is ORed."""

RESERVED = frozenset("?&|!{}[]()^~*:\\\"'+-")
"""The reserved characters of "Reserved Characters" (FIND {SearchQuery})."""

_TOKEN = re.compile(r"[^\W_]+")
_TOKEN_CHAR = re.compile(r"[^\W_]")
_STAR, _QMARK = "\x00*", "\x00?"
"""Wildcard markers in a parsed word (a literal ``*`` can never be a token character)."""

Fail = Callable[[int, str], Exception]
"""Builds the error for a problem at an offset of the search query text."""


def tokens(value: object) -> list[str]:
    """The search tokens of a field value: runs of letters and digits, case-folded."""
    if value is None:
        return []
    return _TOKEN.findall(str(value).casefold())


@dataclass(frozen=True)
class Leaf:
    """A word or phrase: token patterns that must appear consecutively in one value.

    Each pattern is a plain lower-case token, or a compiled regular expression when the
    word holds ``*``/``?`` wildcards. No patterns (a term of punctuation only) match
    nothing, since punctuation is not indexed here."""

    text: str
    patterns: tuple[str | re.Pattern[str], ...]
    literals: tuple[str, ...] | None = None
    """Every run of plain characters of the patterns (the text between wildcards),
    case-folded: each is a substring of any token sequence the leaf matches, so a value
    holding one is a necessary condition for a match (the engine's SQL prefilter). None:
    unknown (no prefilter)."""


@dataclass(frozen=True)
class And:
    """Both sides match."""

    left: TermExpr
    right: TermExpr


@dataclass(frozen=True)
class AndNot:
    """The left side matches and the right side does not."""

    left: TermExpr
    right: TermExpr


@dataclass(frozen=True)
class Or:
    """At least one part matches."""

    parts: tuple[TermExpr, ...]


TermExpr = Leaf | And | AndNot | Or


def leaves(expr: TermExpr) -> list[Leaf]:
    """Every word and phrase of ``expr``, left to right."""
    if isinstance(expr, Leaf):
        return [expr]
    if isinstance(expr, Or):
        return [leaf for p in expr.parts for leaf in leaves(p)]
    return leaves(expr.left) + leaves(expr.right)


def _leaf_matches(leaf: Leaf, values: Sequence[Sequence[str]]) -> bool:
    pats = leaf.patterns
    n = len(pats)
    if n == 0:
        return False
    for toks in values:
        for start in range(len(toks) - n + 1):
            for k, pat in enumerate(pats):
                tok = toks[start + k]
                if not (tok == pat if isinstance(pat, str) else pat.fullmatch(tok)):
                    break
            else:
                return True
    return False


def matches(expr: TermExpr, values: Sequence[Sequence[str]]) -> bool:
    """True when a record whose searched fields hold these token lists matches ``expr``."""
    if isinstance(expr, Leaf):
        return _leaf_matches(expr, values)
    if isinstance(expr, And):
        return matches(expr.left, values) and matches(expr.right, values)
    if isinstance(expr, AndNot):
        return matches(expr.left, values) and not matches(expr.right, values)
    return any(matches(p, values) for p in expr.parts)


# --- parsing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    kind: str  # "(", ")", "AND", "OR", "NOT", "LEAF"
    pos: int
    leaf: Leaf | None = None


def _leaf(chars: list[str], text: str, pos: int, fail: Fail) -> Leaf:
    """Split a word's characters (wildcard markers included) into token patterns."""
    runs: list[list[str]] = []
    cur: list[str] = []
    for ch in chars:
        if ch in (_STAR, _QMARK) or _TOKEN_CHAR.fullmatch(ch):
            cur.append(ch)
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    patterns: list[str | re.Pattern[str]] = []
    literals: list[str] = []
    for run in runs:
        if run[0] in (_STAR, _QMARK):
            raise fail(pos, f"Wildcards are not allowed at the start of a search term: {text}")
        if _STAR in run or _QMARK in run:
            rx = "".join(".*" if c == _STAR else "." if c == _QMARK else re.escape(c.casefold())
                         for c in run)
            patterns.append(re.compile(rx, re.S))
        else:
            patterns.append("".join(run).casefold())
        piece: list[str] = []
        for c in [*run, _STAR]:  # a final marker flushes the last piece
            if c in (_STAR, _QMARK):
                if piece:
                    literals.append("".join(piece).casefold())
                piece = []
            else:
                piece.append(c)
    return Leaf(text, tuple(patterns), tuple(literals))


def _lex(raw: str, fail: Fail) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "()":
            out.append(_Tok(ch, i))
            i += 1
            continue
        start = i
        phrase = ch == '"'
        if phrase:
            i += 1
        chars: list[str] = []
        plain = True  # no escape and no quote: may be an operator word
        while i < n:
            ch = raw[i]
            if phrase and ch == '"':
                break
            if not phrase and (ch.isspace() or ch in '()"'):
                break
            if ch == "\\":
                if i + 1 >= n:
                    raise fail(i, "Invalid escape: a backslash must be followed by a "
                                  "character")
                chars.append(raw[i + 1])
                plain = False
                i += 2
                continue
            if ch == "*":
                chars.append(_STAR)
            elif ch == "?":
                chars.append(_QMARK)
            elif ch in RESERVED:
                raise fail(i, f"Invalid search term: the reserved character '{ch}' must be "
                              "escaped with a backslash")
            else:
                chars.append(ch)
            i += 1
        if phrase:
            if i >= n:
                raise fail(start, "Invalid or incomplete phrase: missing closing quote")
            i += 1  # the closing quote
        text = raw[start:i]
        word = text.upper()
        if not phrase and plain and word in ("AND", "OR", "NOT"):
            out.append(_Tok(word, start))
        else:
            out.append(_Tok("LEAF", start, _leaf(chars, text, start, fail)))
    return out


class _Parser:
    def __init__(self, toks: list[_Tok], end: int, fail: Fail) -> None:
        self.toks = toks
        self.i = 0
        self.end = end
        self.fail = fail

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def unexpected(self, tok: _Tok | None) -> Exception:
        if tok is None:
            return self.fail(self.end, "Incomplete search term: unexpected end of the "
                                       "search query")
        word = "a search term" if tok.kind == "LEAF" else f"'{tok.kind}'"
        return self.fail(tok.pos, f"Invalid search term: unexpected {word}")

    def or_expr(self) -> TermExpr:
        parts = [self.and_expr()]
        while (t := self.peek()) is not None and t.kind == "OR":
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> TermExpr:
        # Right to left, as the reference orders AND and AND NOT: the right side is the
        # whole rest of the AND chain.
        left = self.unary()
        t = self.peek()
        if t is None or t.kind in (")", "OR"):
            return left
        if t.kind == "NOT":
            raise self.unexpected(t)
        if t.kind == "AND":
            self.i += 1
            nxt = self.peek()
            if nxt is not None and nxt.kind == "NOT":
                self.i += 1
                return AndNot(left, self.and_expr())
        return And(left, self.and_expr())

    def unary(self) -> TermExpr:
        t = self.peek()
        if t is None or t.kind not in ("(", "LEAF"):
            raise self.unexpected(t)
        self.i += 1
        if t.kind == "LEAF":
            assert t.leaf is not None
            return t.leaf
        inner = self.or_expr()
        close = self.peek()
        if close is None or close.kind != ")":
            raise self.unexpected(close)
        self.i += 1
        return inner


def parse_terms(raw: str, fail: Fail) -> TermExpr | None:
    """Parse a search query (the text between the braces); None: it returns no rows
    (longer than :data:`MAX_SEARCH_LENGTH`). ``fail(offset, detail)`` builds the error."""
    if len(raw) > MAX_SEARCH_LENGTH:
        return None
    if sum(1 for _ in _TOKEN_CHAR.finditer(raw)) < 2:
        raise fail(0, "search term must be longer than one character")
    toks = _lex(raw, fail)
    if len(raw) > MAX_OPERATOR_LENGTH:
        # "any logical operators are removed": every word and phrase, ORed.
        kept = [t.leaf for t in toks if t.kind == "LEAF" and t.leaf is not None]
        return kept[0] if len(kept) == 1 else Or(tuple(kept))
    p = _Parser(toks, len(raw), fail)
    expr = p.or_expr()
    if p.peek() is not None:
        raise p.unexpected(p.peek())
    return expr
