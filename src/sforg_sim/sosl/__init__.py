"""SOSL: text searches over the org's text fields.

``grammar.lark`` + :mod:`.parser` (statement -> :class:`~.parser.Search`, MALFORMED_SEARCH
with positions), :mod:`.terms` (the FIND search-query language and the token matching),
:mod:`.engine` (running a search through the SOQL engine; result limits), :mod:`.params`
(parameterized search). Sources and deviations: docs/fidelity.md, section SOSL.

The Apex runtime's hook is :func:`search` (``apex=True``): ``search(core.soql,
core.schema, "FIND 'x' IN ALL FIELDS RETURNING Account(Name)", binds, apex=True)``
returns one list of records per RETURNING object (``List<List<SObject>>``).
"""

from __future__ import annotations

from .engine import search, search_body
from .parser import Search, parse

__all__ = ["Search", "parse", "search", "search_body"]
