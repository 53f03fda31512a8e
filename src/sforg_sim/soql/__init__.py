"""SOQL for the simulated org: lark grammar -> AST -> SQL over the org's SQLite store.

Modules: ``grammar.lark`` and :mod:`.parser` (text -> :mod:`.ast`, MALFORMED_QUERY),
:mod:`.dates` (relative date literals), :mod:`.scope` / :mod:`.conditions` /
:mod:`.compiler` (AST + schema -> SQL and a parameter plan), :mod:`.shape` (rows -> REST
records), :mod:`.cursors` (query locators) and :mod:`.engine` (the Engine ``Org`` uses).
"""

from __future__ import annotations

from .cursors import CURSOR_LIFETIME
from .engine import Engine
from .parser import parse

__all__ = ["CURSOR_LIFETIME", "Engine", "parse"]
