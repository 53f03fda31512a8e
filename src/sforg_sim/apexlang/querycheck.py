"""Compile-time checks of inline SOQL and SOSL in Apex (issue 15, session 5d).

A real deploy (and an anonymous block) compiles every inline query against the org's
schema: ``[SELECT Nmae FROM Account]`` does not compile, where ``Database.query('SELECT
Nmae FROM Account')`` compiles and throws ``System.QueryException`` when it runs (dynamic
SOQL: *Apex Developer Guide*, "Dynamic SOQL",
https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_dynamic_soql.htm:
"Dynamic SOQL refers to the creation of a SOQL string at run time"; nothing to check
before). The wording and place of the compile problem are those real deploy results show
(no document describes them; read from public reports):

* ``Apex class OppTerrAssignDefaultLogicFilter: line 30, column 15:`` followed by the SOQL
  error in the query language's caret layout (``Select Id, AccountId, Territory2Id from
  Opportunity where`` / ``^`` / ``ERROR at Row:1:Column:23`` / ``No such column
  'Territory2Id' on entity 'Opportunity'. If you are attempting to use a custom field,
  ...``), github.com/UnofficialSF/LightningFlowComponents/issues/1085; line 30, column 15
  is the query's opening ``[`` in that class (the Apex Reference Guide's
  "OpportunityTerritory2AssignmentFilter Example Implementation" prints the same class),
  and Row/Column count inside the query text as written (row 1 starts after the ``[``);
  a query over several lines reports a later row the same way
  (``ERROR at Row:14:Column:11 No such column 'ConsentValid__c' ... (34:50)``,
  github.com/schandlergarcia/consent-capture/issues/16).
* an unknown object: ``classes/GiveWorkThanksActionTest.cls(10,38):sObject type
  'WorkBadgeDefinition' is not supported. If you are attempting to use a custom object,
  be sure to append the '__c' after the entity name. Please reference your WSDL or the
  describe call for the appropriate names.``, without a caret
  (github.com/mshanemc/processBuilderBlocks/issues/2; column 38 is the ``[``).

So the compile error sits at the ``[`` and its problem text is the SOQL engine's own error
(the message ``System.QueryException`` would carry at run time) re-pointed at the query
as written: the engine sees the query with binds renamed (``:b0``) and whitespace
collapsed (:func:`.soqltext.split_mapped` keeps the way back), and the rows and columns
are recomputed on the original text, the bind expressions restored in the detail.

Binds need no values: the SOQL compiler turns ``:name`` into a parameter filled when the
query runs (``soql/ast.py`` ``Bind``), so the plan is the one the query will use, compiled
once per text (the engine's plan cache; the run reuses it).

Inline SOSL (``[FIND ... RETURNING Account(Name WHERE ...)]``) is checked the same way:
the SOSL parser (already run at compile time), the RETURNING objects, then each object's
field list, WHERE and ORDER BY compiled through SOQL as the search will run them
(``sosl/engine.py`` hands exactly these pieces to the SOQL engine). The SOSL problem
wording at compile time is unconfirmed (no real compile output for SOSL was found): the
same caret layout is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from ..errors import NumberOutsideValidRange, SalesforceError
from ..soql.parser import caret
from ..sosl.engine import searchable
from ..sosl.parser import ObjectSpec, Search, Span
from .soqltext import SplitSoql

__all__ = ["QueryPlanner", "object_problem", "relocate", "soql_problem", "sosl_problem"]

_CARET = re.compile(r"ERROR at Row:(\d+):Column:(\d+)\n")
_BIND = re.compile(r":(b\d+)\b")
_AGGREGATE = re.compile(r"\b(COUNT_DISTINCT|COUNT|SUM|AVG|MIN|MAX)\s*\(", re.I)
_IDS = "sforgSimSearchIds"
"""The bind the SOSL check's generated ``WHERE Id IN :...`` uses (never run: the plan
needs no value)."""


class QueryPlanner(Protocol):
    """What the compiler needs from the org's SOQL engine: compile a query text to its
    plan (``soql.engine.Engine.plan``), raising the Salesforce error when it is invalid."""

    def plan(self, soql: str, include_deleted: bool = False,
             api_version: str | None = None) -> Any:
        """The compiled plan of ``soql`` (cached per text)."""


def object_problem(name: str) -> str:
    """The compile problem of an inline query on an sObject type the org lacks (deploy
    output quoted in the module docstring)."""
    return (f"sObject type '{name}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please "
            "reference your WSDL or the describe call for the appropriate names.")


def relocate(message: str, split: SplitSoql,
             to_query: Callable[[int], int | None] = lambda i: i) -> str:
    """``message`` (an engine error on ``split.query``, or on a text derived from it)
    pointing into ``split.body``, the query as written. ``to_query(offset)`` maps an
    offset of the erroring text to an offset in ``split.query`` (None: text the checker
    generated; the error then points at the statement's start)."""
    m = _CARET.search(message)
    detail = message[m.end():] if m is not None else message.strip()
    binds = dict(split.binds)
    detail = _BIND.sub(lambda b: ":" + binds.get(b.group(1), b.group(1)), detail)
    if m is None:
        return detail
    row, col = int(m.group(1)), int(m.group(2))
    if row != 1:
        # The engine's text is one line (whitespace collapsed); a later row would be a
        # generated text's: point at the statement's start.
        at: int | None = None
    else:
        at = to_query(col - 1)
    body = split.body
    if at is None:
        off = len(body) - len(body.lstrip())
    elif at >= len(split.offsets):
        off = len(body.rstrip())  # the end of the query (an "unexpected <EOF>")
    else:
        off = split.offsets[at]
    line = body.count("\n", 0, off) + 1
    column = off - (body.rfind("\n", 0, off) + 1) + 1
    return caret(body, (line, column), detail)


def soql_problem(planner: QueryPlanner, split: SplitSoql) -> str | None:
    """The compile problem of an inline SOQL statement, or None when it compiles.

    Only the Salesforce errors of the query are compile problems; anything else the engine
    raises would be a simulator bug, which the run reports (as a QueryException with an
    error id) rather than failing a deploy that a real org accepts.

    A range rule is not a compile problem: ``[SELECT Name FROM Account LIMIT 2000 OFFSET
    20000]`` compiles and throws ``System.QueryException: Maximum SOQL offset allowed is
    2000`` when it runs (Salesforce Stack Exchange, "Apex equivalent of REST API's
    nextRecordsUrl", https://salesforce.stackexchange.com/questions/164112; the *SOQL and
    SOSL Reference*, "OFFSET", calls it a NUMBER_OUTSIDE_VALID_RANGE error). The SOQL
    compiler checks the offset before the fields, so the query is checked again with the
    offset's digits zeroed (same length: every position stays the same) for the schema
    errors the deploy does report; the run still meets the offset's error."""
    query = split.query
    for _ in range(2):  # the query, then (after an offset error) its zeroed form
        try:
            planner.plan(query, split.all_rows)
        except NumberOutsideValidRange:
            zeroed = _zero_offsets(query)
            if zeroed == query:
                return None
            query = zeroed
            continue
        except SalesforceError as e:
            return relocate(e.message, split)
        except (ValueError, TypeError, LookupError, RecursionError):
            return None
        return None
    return None


_OFFSET = re.compile(r"\bOFFSET\s+(\d+)", re.IGNORECASE)


def _zero_offsets(query: str) -> str:
    """``query`` with each literal OFFSET's digits replaced by as many zeros (string
    literals untouched)."""
    masked = re.sub(r"'(?:\\.|[^'\\])*'", lambda m: "'" + "x" * (len(m.group(0)) - 2) + "'",
                    query)
    out = list(query)
    for m in _OFFSET.finditer(masked):
        out[m.start(1):m.end(1)] = "0" * (m.end(1) - m.start(1))
    return "".join(out)


def sosl_problem(planner: QueryPlanner, schema: Any, parsed: Search,
                 split: SplitSoql) -> str | None:
    """The compile problem of an inline SOSL statement (already parsed), or None.

    Checks what a search would refuse before returning a row: RETURNING is required in
    Apex ("SOQL and SOSL Reference", "FIND Clauses in Apex" via ``sosl/engine.py``),
    each RETURNING object must exist and be searchable, and each object's field list,
    WHERE and ORDER BY must compile as SOQL on that object (aggregate functions are
    refused in a field list, as the search does)."""
    text = parsed.text
    if not parsed.returning:
        return relocate(caret(text, (1, len(text) + 1),
                              "RETURNING clause is required in Apex"), split)
    names = {o.name.lower(): o for o in schema}
    for spec in parsed.returning:
        obj = names.get(spec.name.lower())
        if obj is None:
            return object_problem(spec.name)
        if not searchable(obj):
            return relocate(caret(text, (1, spec.pos + 1),
                                  f"entity type {obj.name} does not support search"), split)
        if spec.fields is not None:
            m = _AGGREGATE.search(text, spec.fields.start, spec.fields.end)
            if m is not None:
                return relocate(caret(text, (1, m.start() + 1),
                                      "Aggregate functions are not allowed in a SOSL "
                                      f"field list: {m.group(1)}"), split)
        if spec.fields is None and spec.where is None and spec.order is None:
            continue
        soql, pieces = _object_soql(text, spec, obj.name)
        try:
            planner.plan(soql)
        except SalesforceError as e:
            return relocate(e.message, split, partial(_back, pieces, spec.pos))
        except (ValueError, TypeError, LookupError, RecursionError):
            continue
    return None


def _object_soql(text: str, spec: ObjectSpec, name: str
                 ) -> tuple[str, list[tuple[int, int, int]]]:
    """The SOQL a search runs for one RETURNING object (``sosl/engine.py``
    ``_Runner.rows``), minus its LIMIT/OFFSET (numbers or binds the search fills in
    itself), and the pieces copied from the SOSL text: (SOQL offset, SOSL offset,
    length)."""
    pieces: list[tuple[int, int, int]] = []
    out: list[str] = []
    size = 0

    def add(s: str, span: Span | None = None) -> None:
        nonlocal size
        if span is not None:
            s = text[span.start:span.end]
            pieces.append((size, span.start, len(s)))
        out.append(s)
        size += len(s)

    add("SELECT ")
    if spec.fields is None:
        add("Id")
    else:
        add("", spec.fields)
    add(f" FROM {name} WHERE Id IN :{_IDS}")
    if spec.where is not None:
        add(" AND (")
        add("", spec.where)
        add(")")
    if spec.order is not None:
        add(" ORDER BY ")
        add("", spec.order)
    return "".join(out), pieces


def _back(pieces: list[tuple[int, int, int]], fallback: int, offset: int) -> int:
    """The SOSL offset of SOQL character ``offset``; text the checker generated (``SELECT``,
    ``FROM X WHERE Id IN ...``) points at the object's name (``fallback``)."""
    for at, src, n in pieces:
        if at <= offset <= at + n:
            return src + (offset - at)
    return fallback
