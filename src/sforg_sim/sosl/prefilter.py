"""The SQL half of a search: a condition on a row's stored text that every row the search
query matches meets, so SQLite drops most rows before Python tokenises the rest.

Why: matching (:func:`.terms.matches`) tokenises every searched value in Python; reading and
tokenising every record of a 100,000-record object took 1-1.6 s per search. SQLite's
``LIKE`` runs in C over the stored values; only the rows it keeps are checked exactly.

The condition is *necessary*, never sufficient (the exact check stays
:func:`.terms.matches`, so answers do not change):

- a word or phrase (:class:`.terms.Leaf`) can only match a value that holds every plain
  run of its patterns (its ``literals``: the text between ``*``/``?`` wildcards,
  case-folded), all in one field value: ``(c LIKE '%lit1%' AND c LIKE '%lit2%')`` ORed
  over the searched columns. A leaf with no patterns matches nothing (``0``);
- ``a AND b``: both conditions; ``a OR b``: either; ``a AND NOT b``: ``a``'s alone (that
  ``b`` does not match cannot be decided from substrings);
- case: SQLite's ``LIKE`` folds ASCII letters only, Python's ``str.casefold`` folds every
  script (and maps some non-ASCII characters to ASCII ones: ``ß`` to ``ss``, the Kelvin
  sign to ``k``). For an all-ASCII value the two agree; a row with a non-ASCII character in
  any searched column is therefore always a candidate (:func:`candidate_sql`). Checking
  that on every row costs as much as the ``LIKE`` tests, so the engine first asks, once per
  version of the table, which columns hold a non-ASCII value at all, and checks only those.

Beyond :data:`MAX_LIKES` ``LIKE`` terms (a search query of hundreds of words: over 4,000
characters every word is ORed, "SearchQuery Character Limits") there is no prefilter: one
SQL expression that deep would pass SQLite's expression-depth limit (1,000 by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .terms import And, AndNot, Leaf, TermExpr

__all__ = ["FALSE", "MAX_LIKES", "TRUE", "Condition", "candidate_sql", "condition",
           "non_ascii_sql"]

MAX_LIKES = 256
"""Most ``LIKE`` terms one prefilter holds (see the module doc)."""


@dataclass(frozen=True)
class Condition:
    """SQL text over quoted column names with its ``?`` parameters, in order."""

    sql: str
    params: tuple[str, ...]


TRUE = Condition("1", ())
"""No filter: every row is a candidate (the engine then reads without a WHERE)."""

FALSE = Condition("0", ())
"""No row can match (the engine skips the read)."""


def _like(piece: str) -> str:
    """``%piece%`` with LIKE's wildcards and the escape character escaped (pieces are
    letters and digits, so this is only a guard)."""
    esc = piece.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{esc}%"


def _pieces(leaf: Leaf) -> list[str] | None:
    """The leaf's literals without repeats and without those inside a longer one."""
    if leaf.literals is None:
        return None
    uniq = sorted(set(leaf.literals), key=len, reverse=True)
    kept: list[str] = []
    for p in uniq:
        if not any(p in k for k in kept):
            kept.append(p)
    return kept


def _leaf(leaf: Leaf, columns: Sequence[str]) -> Condition:
    if not leaf.patterns:
        return FALSE
    pieces = _pieces(leaf)
    if pieces is None:
        return TRUE
    if not pieces:  # only wildcards: cannot happen (a leading wildcard is refused)
        return TRUE
    ors: list[str] = []
    params: list[str] = []
    for c in columns:
        ors.append("(" + " AND ".join(f"{c} LIKE ? ESCAPE '\\'" for _ in pieces) + ")")
        params.extend(_like(p) for p in pieces)
    return Condition("(" + " OR ".join(ors) + ")", tuple(params))


def _combine(op: str, parts: list[Condition]) -> Condition:
    if op == "AND":
        parts = [p for p in parts if p is not TRUE]
        if any(p is FALSE for p in parts):
            return FALSE
        if not parts:
            return TRUE
    else:
        parts = [p for p in parts if p is not FALSE]
        if any(p is TRUE for p in parts):
            return TRUE
        if not parts:
            return FALSE
    if len(parts) == 1:
        return parts[0]
    return Condition("(" + f" {op} ".join(p.sql for p in parts) + ")",
                     tuple(x for p in parts for x in p.params))


def condition(expr: TermExpr, columns: Sequence[str]) -> Condition:
    """A condition every row ``expr`` matches meets, over the quoted ``columns`` (valid
    for rows whose searched values are all ASCII; see :func:`candidate_sql`)."""
    if isinstance(expr, Leaf):
        return _leaf(expr, columns)
    if isinstance(expr, And):
        return _combine("AND", [condition(expr.left, columns),
                                condition(expr.right, columns)])
    if isinstance(expr, AndNot):
        return condition(expr.left, columns)
    return _combine("OR", [condition(p, columns) for p in expr.parts])


def non_ascii_sql(column: str) -> str:
    """True when the quoted ``column``'s value holds a non-ASCII character: length()
    counts characters, the BLOB's length bytes, and they differ exactly for such UTF-8
    text (NULL: NULL, never true)."""
    return f"length(CAST({column} AS BLOB)) <> length({column})"


def candidate_sql(expr: TermExpr, columns: Sequence[str],
                  non_ascii: Sequence[str] | None = None) -> Condition:
    """The WHERE condition of the candidate read: :func:`condition`, or a non-ASCII
    character in one of the ``non_ascii`` columns (those that may hold one; None: every
    one of ``columns``), where SQLite's ASCII-only case folding could miss a match.
    :data:`TRUE` when there is nothing to filter on."""
    cond = condition(expr, columns)
    if cond is TRUE or cond is FALSE:
        return cond
    if len(cond.params) > MAX_LIKES:
        return TRUE
    escapes = [non_ascii_sql(c) for c in (columns if non_ascii is None else non_ascii)]
    return Condition("(" + " OR ".join([cond.sql, *escapes]) + ")", cond.params)
