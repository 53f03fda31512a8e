"""Inline SOQL in Apex: the binds and the Apex-only clauses, split from the query text the
org's SOQL engine runs (used by the compiler and by ``Database.query``).

Where the clauses may stand ("SOQL SELECT Syntax", *SOQL and SOSL Reference*,
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select.htm):
``SELECT ... FROM ... [USING SCOPE] [WHERE] [WITH] [GROUP BY [HAVING]] [ORDER BY] [LIMIT]
[OFFSET] [FOR VIEW | FOR REFERENCE] [UPDATE TRACKING | VIEWSTAT] [FOR UPDATE]``, and in Apex
``ALL ROWS`` at the end ("Querying All Records with a SOQL Statement", *Apex Developer
Guide*, https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/langCon_apex_SOQL_query_all_rows.htm:
``SELECT COUNT() FROM Contact WHERE AccountId = a.Id ALL ROWS``). Only the two clauses the
API refuses (FOR UPDATE, ALL ROWS) are taken out, and only from the end of the query, so
the SOQL parser sees everything else where it was written: ``WITH USER_MODE`` before
``WHERE`` or ``ALL ROWS`` before ``WHERE`` is its ``unexpected token`` at the right place
(a compile error for inline SOQL, a ``QueryException`` for ``Database.query``), as the
platform refuses such a query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SplitSoql", "split_mapped", "split_soql"]

_APEX_TAIL = re.compile(r"\s*(?:\bFOR\s+UPDATE|\bALL\s+ROWS)\s*$", re.IGNORECASE)
"""One Apex-only clause at the very end of a query: FOR UPDATE ("FOR UPDATE", *SOQL and
SOSL Reference*: "In Apex, you can use FOR UPDATE to lock sObject records") or ALL ROWS;
the SOQL API refuses both (``soql/parser.py`` ``tail_clauses``), so the runtime takes them
out before the engine. FOR UPDATE's row lock is not modelled; ALL ROWS becomes a
queryAll."""

# Inline SOSL keeps its whole text: FOR UPDATE / FOR VIEW / FOR REFERENCE / ALL ROWS are
# no part of SOSL's syntax (*SOQL and SOSL Reference*, "SOSL Syntax": FIND, IN, RETURNING,
# WITH ..., LIMIT, UPDATE TRACKING/VIEWSTAT), so the SOSL parser refuses them at their
# position; the access-mode clauses (``WITH USER_MODE`` ...) are accepted by the SOSL parser
# where a WITH clause stands (``sosl/parser.py``, ``ACCESS_MODES``).


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
    whitespace collapsed to one space maps to its first character. ``bind_at[n]`` is where
    bind ``n``'s Apex expression starts in ``body``. The compiler uses both to show a SOQL
    error, or an error in a bind expression, where the developer wrote it
    (:meth:`.compiler.Compiler._check_soql`, :meth:`.compiler.Compiler._soql_parts`)."""

    query: str
    binds: list[tuple[str, str]]
    all_rows: bool
    body: str
    offsets: list[int]
    bind_at: tuple[int, ...] = ()


def split_soql(text: str, *, search: bool = False) -> tuple[str, list[tuple[str, str]], bool]:
    """Inline or dynamic SOQL -> (query for the org's engine, [(bind name, Apex
    expression)], ALL ROWS): :func:`split_mapped` without the offsets."""
    out = split_mapped(text, search=search)
    return out.query, out.binds, out.all_rows


def split_mapped(text: str, *, search: bool = False) -> SplitSoql:
    """The query (``[...]`` or a bare string) with its binds renamed ``:b0``, ``:b1``...,
    a trailing FOR UPDATE / ALL ROWS removed (ALL ROWS sets ``all_rows``), whitespace
    collapsed, and the offset of each query character in the source text
    (:class:`SplitSoql`). ``search``: the text is SOSL, kept whole (no SOQL tail clauses)."""
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
    starts: list[int] = []
    pos = 0
    for m in re.finditer(r"(?<![\w:]):(?=\s*[A-Za-z_])", masked):
        j = m.end()
        while j < len(body) and body[j].isspace():
            j += 1
        end = _bind_end(body, j)
        name = f"b{len(binds)}"
        binds.append((name, body[j:end]))
        starts.append(j)
        chars.extend(body[pos:m.start()])
        offs.extend(range(pos, m.start()))
        token = ":" + name
        chars.extend(token)
        offs.extend([m.start()] * len(token))
        pos = end
    chars.extend(body[pos:])
    offs.extend(range(pos, len(body)))
    query = "".join(chars)
    if not search:
        # Trailing FOR UPDATE / ALL ROWS, in either order; a string literal cannot end
        # the query (it would need its closing quote last), so the unmasked text is safe.
        while (tail := _APEX_TAIL.search(query)) is not None and tail.start() > 0:
            all_rows = all_rows or tail.group(0).strip().upper().startswith("ALL")
            query, offs = query[:tail.start()], offs[:tail.start()]
    # Collapse whitespace runs to one space and strip both ends, as the engine's text
    # always was (the plan cache keys on it).
    final: list[str] = []
    final_offs: list[int] = []
    last = 0
    for m in re.finditer(r"\s+", query):
        final.append(query[last:m.start()])
        final_offs.extend(offs[last:m.start()])
        final.append(" ")
        final_offs.append(offs[m.start()])
        last = m.end()
    final.append(query[last:])
    final_offs.extend(offs[last:])
    out = "".join(final)
    lead = len(out) - len(out.lstrip())
    trail = len(out.rstrip())
    return SplitSoql(out[lead:trail], binds, all_rows, body, final_offs[lead:trail],
                     tuple(starts))
