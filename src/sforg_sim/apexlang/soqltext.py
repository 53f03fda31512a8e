"""Inline SOQL in Apex: the binds and the Apex-only clauses, split from the query text the
org's SOQL engine runs (used by the compiler and by ``Database.query``)."""

from __future__ import annotations

import re

__all__ = ["split_soql"]

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


def split_soql(text: str, line: int, col: int, *, dynamic: bool = False
               ) -> tuple[str, list[tuple[str, str]], bool]:
    """Inline SOQL -> (query for the org's engine, [(bind name, Apex expression)],
    ALL ROWS). The Apex-only clauses WITH USER_MODE / SYSTEM_MODE / SECURITY_ENFORCED and
    FOR UPDATE / VIEW / REFERENCE are stripped ("SOQL and SOSL Reference": they change
    sharing, field checks and locking, which the simulator does not model; FOR UPDATE's
    row lock is not modelled either); ALL ROWS becomes a queryAll."""
    body = text.strip()
    if body.startswith("["):
        body = body[1:-1]
    masked = _mask_strings(body)
    all_rows = False
    out: list[str] = []
    binds: list[tuple[str, str]] = []
    pos = 0
    for m in re.finditer(r"(?<![\w:]):(?=\s*[A-Za-z_])", masked):
        j = m.end()
        while j < len(body) and body[j].isspace():
            j += 1
        end = _bind_end(body, j)
        name = f"b{len(binds)}"
        binds.append((name, body[j:end]))
        out.append(body[pos:m.start()] + ":" + name)
        pos = end
    out.append(body[pos:])
    query = "".join(out)
    masked = _mask_strings(query)
    pieces = []
    last = 0
    for m in _APEX_ONLY.finditer(masked):
        if m.group(0).upper().startswith("ALL"):
            all_rows = True
        pieces.append(query[last:m.start()])
        last = m.end()
    pieces.append(query[last:])
    return re.sub(r"\s+", " ", "".join(pieces)).strip(), binds, all_rows


