"""Inline SOQL in Apex: the binds and the Apex-only clauses, split from the query text the
org's SOQL engine runs (used by the compiler and by ``Database.query``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SplitSoql", "split_mapped", "split_soql"]

_APEX_ONLY = re.compile(
    r"\bWITH\s+(?:USER_MODE|SYSTEM_MODE|SECURITY_ENFORCED)\b|\bFOR\s+(?:UPDATE|VIEW|REFERENCE)\b"
    r"|\bALL\s+ROWS\b", re.IGNORECASE)


def _mask_strings(text: str) -> str:
    return re.sub(r"'(?:\\.|[^'\\])*'", lambda m: "'" + "x" * (len(m.group(0)) - 2) + "'",
                  text)


def _bind_end(text: str, i: int) -> int:
    depth = 0
    j = i
    while j < len(text):
        ch = text[j]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            if depth == 0:
                break
            depth -= 1
        elif ch == "'" and depth > 0:
            k = j + 1
            while k < len(text) and text[k] != "'":
                k += 2 if text[k] == "\\" else 1
            j = k
        elif depth == 0 and not (ch.isalnum() or ch in "_."):
            break
        j += 1
    return j


@dataclass(frozen=True)
class SplitSoql:
    """Inline SOQL split for the org's engine, with the way back to the source.

    ``offsets[i]`` is where character ``i`` of ``query`` came from in ``body`` (the text
    between the brackets, as written): a bind's ``:bN`` maps to its colon, a run of
    whitespace collapsed to one space maps to its first character. The compiler uses it
    to show a SOQL error on the query as the developer wrote it
    (:meth:`.compiler.Compiler._check_soql`)."""

    query: str
    binds: list[tuple[str, str]]
    all_rows: bool
    body: str
    offsets: list[int]


def split_soql(text: str, line: int, col: int, *, dynamic: bool = False
               ) -> tuple[str, list[tuple[str, str]], bool]:
    """Inline SOQL -> (query for the org's engine, [(bind name, Apex expression)],
    ALL ROWS). The Apex-only clauses WITH USER_MODE / SYSTEM_MODE / SECURITY_ENFORCED and
    FOR UPDATE / VIEW / REFERENCE are stripped ("SOQL and SOSL Reference": they change
    sharing, field checks and locking, which the simulator does not model; FOR UPDATE's
    row lock is not modelled either); ALL ROWS becomes a queryAll."""
    out = split_mapped(text)
    return out.query, out.binds, out.all_rows


def split_mapped(text: str) -> SplitSoql:
    """:func:`split_soql` with the offsets of each query character in the source text
    (:class:`SplitSoql`); the query, binds and ALL ROWS flag are the same."""
    body = text.strip()
    if body.startswith("["):
        body = body[1:-1]
    masked = _mask_strings(body)
    all_rows = False
    # The query as (characters, source offsets) pieces; offsets are kept per character
    # so each later step (clause removal, whitespace collapse) keeps the map.
    chars: list[str] = []
    offs: list[int] = []
    binds: list[tuple[str, str]] = []
    pos = 0
    for m in re.finditer(r"(?<![\w:]):(?=\s*[A-Za-z_])", masked):
        j = m.end()
        while j < len(body) and body[j].isspace():
            j += 1
        end = _bind_end(body, j)
        name = f"b{len(binds)}"
        binds.append((name, body[j:end]))
        chars.extend(body[pos:m.start()])
        offs.extend(range(pos, m.start()))
        token = ":" + name
        chars.extend(token)
        offs.extend([m.start()] * len(token))
        pos = end
    chars.extend(body[pos:])
    offs.extend(range(pos, len(body)))
    query = "".join(chars)
    masked = _mask_strings(query)
    kept_chars: list[str] = []
    kept_offs: list[int] = []
    last = 0
    for m in _APEX_ONLY.finditer(masked):
        if m.group(0).upper().startswith("ALL"):
            all_rows = True
        kept_chars.extend(query[last:m.start()])
        kept_offs.extend(offs[last:m.start()])
        last = m.end()
    kept_chars.extend(query[last:])
    kept_offs.extend(offs[last:])
    # Collapse whitespace runs to one space and strip both ends, as the engine's text
    # always was (the plan cache keys on it).
    kept = "".join(kept_chars)
    final: list[str] = []
    final_offs: list[int] = []
    last = 0
    for m in re.finditer(r"\s+", kept):
        final.append(kept[last:m.start()])
        final_offs.extend(kept_offs[last:m.start()])
        final.append(" ")
        final_offs.append(kept_offs[m.start()])
        last = m.end()
    final.append(kept[last:])
    final_offs.extend(kept_offs[last:])
    query = "".join(final)
    lead = len(query) - len(query.lstrip())
    trail = len(query.rstrip())
    return SplitSoql(query[lead:trail], binds, all_rows, body, final_offs[lead:trail])
