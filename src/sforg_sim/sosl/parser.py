"""SOSL text -> :class:`Search`, with Salesforce's MALFORMED_SEARCH errors.

The grammar (``grammar.lark``, LALR, compiled once per process) gives the clause
structure; this module checks each clause by name and keeps each RETURNING object's field
list, WHERE and ORDER BY as source spans, which the engine runs through the SOQL parser
and compiler (so they accept exactly what SOQL accepts, and fail with SOQL's own checks).

Errors use the caret layout of MALFORMED_QUERY (``soql.parser.caret``) with the code
MALFORMED_SEARCH, as a captured REST response shows::

    [{"message": "\\nFIND {name} IN ALL TYPE RETURNING Account(name)\\n  ...^\\n
      ERROR at Row:1:Column:19\\nMalformed search token: TYPE",
      "errorCode": "MALFORMED_SEARCH"}]

(github.com/jesperfj/force-rest-api pull request 92). An unexpected token is
``Malformed search token: X`` as there; the caret here points at the token itself (the
captured one points one column before it; the rule is not documented). Other details
(wording of clause refusals) are sforg-sim's own.

Sources: *SOQL and SOSL Reference* v66.0 (Chapter 3, "Salesforce Object Search
Language": "SOSL Syntax", "FIND {SearchQuery}" with "FIND Clauses in Apex", "IN
SearchGroup", "LIMIT n", "OFFSET n", "RETURNING FieldSpec", "WITH ..." sections),
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_sosl_syntax.htm
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import MalformedSearch
from ..soql.parser import MAX_QUERY_LENGTH, caret, unescape
from .terms import TermExpr, parse_terms

__all__ = ["MAX_LIMIT", "MAX_OFFSET", "SCOPES", "ObjectSpec", "Search", "Span", "fail_at",
           "parse"]

MAX_LIMIT = 2000
"""LIMIT n: "up to 2,000. If unspecified, the default is 2,000" ("LIMIT n"); "The LIMIT
clause can't increase the maximum number of records returned", so a larger n is read as
2,000 (that a larger n is accepted at all is unconfirmed)."""

MAX_OFFSET = 2000
"""OFFSET n: "The maximum offset is 2,000 rows. Requesting an offset greater than 2,000
will result in a System.SearchException: SOSL offset should be between 0 to 2000 error"
("OFFSET n"). Through REST: MALFORMED_SEARCH with that text (code unconfirmed)."""

SCOPES = ("ALL", "NAME", "EMAIL", "PHONE")
"""The IN SearchGroup values modelled; SIDEBAR FIELDS (records "as listed in the Sidebar
drop-down list") is refused by name: there is no sidebar to model."""

NO_TERM = "No search term found. The search term must be enclosed in braces."
"""FIND without braces through the API ("In the API, the value of the FIND clause is
demarcated with braces"); the text is the one real orgs answer (unconfirmed by a
document)."""

_OBJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*$")
_INT = re.compile(r"\d+$")
_CLAUSES = frozenset({"WHERE", "ORDER", "LIMIT", "OFFSET", "USING"})

ACCESS_MODES = frozenset({"USER_MODE", "SYSTEM_MODE", "SECURITY_ENFORCED"})
"""Apex's access-mode clauses, accepted in Apex SOSL where a WITH clause stands: after
RETURNING, before LIMIT ("SOSL Syntax" orders ``[RETURNING FieldSpec] [WITH ...]*
[LIMIT n] [UPDATE ...]``; *Apex Developer Guide*, "Enforce User Mode for Database
Operations": "use WITH USER_MODE or WITH SYSTEM_MODE in your SOQL or SOSL query",
https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_classes_enforce_usermode.htm).
Elsewhere (inside a RETURNING object's parentheses, before RETURNING, after LIMIT) they
are a MALFORMED_SEARCH. The access modes themselves are not modelled (one administrator
user). SECURITY_ENFORCED is documented for SOQL only ("Filter SOQL Queries Using WITH
SECURITY_ENFORCED"); it is accepted in the same place as before (unconfirmed for SOSL)."""


@dataclass(frozen=True)
class Span:
    """A piece of the statement: ``text[start:end]``."""

    start: int
    end: int


@dataclass(frozen=True)
class ObjectSpec:
    """One RETURNING object: its name and, inside its parentheses, the field list, WHERE,
    ORDER BY (source spans, run through SOQL), LIMIT and OFFSET (a number, or an Apex
    bind name)."""

    name: str
    pos: int
    fields: Span | None = None
    where: Span | None = None
    order: Span | None = None
    limit: int | str | None = None
    offset: int | str | None = None
    offset_pos: int = 0


@dataclass(frozen=True)
class Search:
    """A parsed SOSL statement.

    ``terms`` is the parsed search query (None when it is longer than 10,000 characters:
    no rows), unless the Apex form names a bind variable (``term_bind``), which is parsed
    when the search runs. ``returning`` is empty when there is no RETURNING clause."""

    text: str
    terms: TermExpr | None
    term_bind: str | None
    term_pos: int
    scope: str
    returning: tuple[ObjectSpec, ...]
    limit: int | str | None


def _row_col(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def fail_at(text: str, offset: int, detail: str) -> MalformedSearch:
    """MALFORMED_SEARCH pointing at character ``offset`` of ``text``."""
    return MalformedSearch(caret(text, _row_col(text, offset), detail))


@lru_cache(maxsize=1)
def _parser() -> Lark:
    text = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _off(tok: Token) -> int:
    return int(tok.start_pos or 0)


def _tokens(t: Tree | Token) -> list[Token]:
    """Every token under ``t``, in order (keywords are filtered out of the tree, but a
    span only needs its first and last token, which are never keywords)."""
    if isinstance(t, Token):
        return [t]
    out: list[Token] = []
    for c in t.children:
        if isinstance(c, (Tree, Token)):
            out.extend(_tokens(c))
    return out


def _span(nodes: list[Any]) -> Span:
    toks = [tok for n in nodes for tok in _tokens(n)]
    return Span(_off(toks[0]), int(toks[-1].end_pos or 0))


def _unquote(text: str, tok: Token) -> str:
    """The value of an Apex-form ``'...'`` search string: SOQL/SOSL string escapes
    ("Quoted String Escape Sequences"), resolved by the SOQL parser's own
    :func:`~sforg_sim.soql.parser.unescape`; any other backslash is an error there ("If
    you use a backslash character in any other context, an error occurs"), as the
    captured "Invalid string literal ... Illegal character sequence '\\?' in string
    literal" shows (salesforce.stackexchange, "Escaping reserved characters in SOSL
    queries"), reported here as MALFORMED_SEARCH at the backslash."""
    return unescape(str(tok)[1:-1],
                    lambda at, detail: fail_at(text, _off(tok) + at, detail))


def parse(text: str, *, apex: bool = False, terms: TermExpr | None = None) -> Search:
    """Parse a whole SOSL statement; MALFORMED_SEARCH on anything it cannot place.

    ``apex``: the statement comes from Apex, where the search query may also be a
    ``'quoted string'`` or a ``:bind`` ("FIND Clauses in Apex") and LIMIT/OFFSET may be
    binds. ``terms``: an already parsed search query replacing the one in the text (the
    parameterized search builds its statement around the ``q`` it parsed itself)."""
    if not isinstance(text, str) or not text.strip():
        raise MalformedSearch("SOSL statements cannot be empty or null")
    if len(text) > MAX_QUERY_LENGTH:
        # "SOSL Syntax", note: "By default, SOQL and SOSL queries can't exceed 100,000
        # characters. For SOSL statements that exceed this maximum length, the API returns
        # a MALFORMED_SEARCH exception code".
        raise MalformedSearch(
            f"SOSL statements cannot be longer than {MAX_QUERY_LENGTH} characters")
    try:
        tree = _parser().parse(text)
    except UnexpectedToken as e:
        if e.token.type == "$END":
            raise fail_at(text, len(text), "unexpected token: <EOF>") from None
        if "BRACES" in e.expected:
            raise fail_at(text, _off(e.token), NO_TERM) from None
        raise fail_at(text, _off(e.token), f"Malformed search token: {e.token}") from None
    except UnexpectedCharacters as e:
        at_ = e.pos_in_stream or 0
        if "BRACES" in (e.allowed or set()):
            raise fail_at(text, at_, NO_TERM) from None
        ch = text[at_] if at_ < len(text) else ""
        raise fail_at(text, at_, f"line {e.line}:{e.column - 1} no viable alternative at "
                                 f"character '{ch}'") from None
    except (UnexpectedEOF, UnexpectedInput):
        raise fail_at(text, len(text), "unexpected token: <EOF>") from None
    root = tree.children[0]
    assert isinstance(root, Tree)
    return _Builder(text, apex, terms).search(root)


class _Builder:
    def __init__(self, text: str, apex: bool, terms: TermExpr | None) -> None:
        self.text = text
        self.apex = apex
        self.override = terms

    def fail(self, offset: int, detail: str) -> MalformedSearch:
        return fail_at(self.text, offset, detail)

    def search(self, t: Tree) -> Search:
        find = t.children[0]
        assert isinstance(find, Tree)
        term_tok = find.children[0]
        assert isinstance(term_tok, Token)
        term_pos = _off(term_tok)
        terms: TermExpr | None = None
        bind: str | None = None
        if self.override is not None:
            terms = self.override
        elif find.data == "term_braces":
            base = term_pos + 1
            terms = parse_terms(str(term_tok)[1:-1],
                                lambda off, detail: self.fail(base + off, detail))
        elif not self.apex:
            raise self.fail(term_pos, NO_TERM)
        elif find.data == "term_string":
            value = _unquote(self.text, term_tok)
            terms = parse_terms(value, lambda off, detail: self.fail(term_pos, detail))
        else:
            bind = str(term_tok)[1:]
        scope = "ALL"
        returning: list[ObjectSpec] = []
        limit: int | str | None = None
        for clause in t.children[1:]:
            assert isinstance(clause, Tree)
            if clause.data == "in_clause":
                scope = self.scope(clause)
            elif clause.data == "returning_clause":
                returning = [self.object_spec(c) for c in clause.children
                             if isinstance(c, Tree)]
            elif clause.data == "with_clause":
                self.with_clause(clause)
            elif clause.data == "limit_clause":
                limit = self.count(clause, "LIMIT")
            elif clause.data == "update_clause":
                first = clause.children[0]
                assert isinstance(first, Token)
                raise self.fail(_off(first),
                                "UPDATE TRACKING and UPDATE VIEWSTAT apply to Salesforce "
                                "Knowledge articles, which sforg-sim does not model")
        seen: dict[str, ObjectSpec] = {}
        for spec in returning:
            key = spec.name.lower()
            if key in seen:
                # "each object must be distinct; you can't repeat an ObjectTypeName within
                # a single RETURNING clause" ("RETURNING FieldSpec").
                raise self.fail(spec.pos, f"duplicate entity: {spec.name}")
            seen[key] = spec
        if len(returning) > 1:
            for spec in returning:
                if spec.offset is not None:
                    # "OFFSET can be used only when querying a single object."
                    raise self.fail(spec.offset_pos,
                                    "OFFSET can be used only when querying a single object")
        return Search(self.text, terms, bind, term_pos, scope, tuple(returning), limit)

    def scope(self, t: Tree) -> str:
        tok = t.children[0]
        assert isinstance(tok, Token)
        group = tok.upper()
        if group == "SIDEBAR":
            raise self.fail(_off(tok), "IN SIDEBAR FIELDS is not supported by sforg-sim "
                                       "(there is no sidebar search to model)")
        if group not in SCOPES:
            raise self.fail(_off(tok), f"Malformed search token: {tok}")
        return group

    def object_spec(self, t: Tree) -> ObjectSpec:
        name_tok = t.children[0]
        assert isinstance(name_tok, Token)
        if not _OBJECT_NAME.match(name_tok):
            raise self.fail(_off(name_tok), f"Malformed search token: {name_tok}")
        spec: dict[str, Any] = {"name": str(name_tok), "pos": _off(name_tok)}
        if len(t.children) > 1:
            body = t.children[1]
            assert isinstance(body, Tree)
            for part in body.children:
                if not isinstance(part, Tree):
                    continue  # the parentheses
                kind = part.data
                if kind == "field_list":
                    first = _tokens(part)[0]
                    if first.upper() in _CLAUSES:
                        # "If you want to specify a WHERE clause, you must include a
                        # FieldList with at least one specified field" (the same for
                        # ORDER BY, LIMIT and OFFSET; "RETURNING FieldSpec").
                        raise self.fail(_off(first), f"Malformed search token: {first}")
                    self.check_field_list(part)
                    spec["fields"] = _span(part.children)
                elif kind == "where_clause":
                    spec["where"] = _span(part.children)
                elif kind == "order_clause":
                    spec["order"] = _span(part.children)
                elif kind == "limit_clause":
                    spec["limit"] = self.count(part, "LIMIT")
                elif kind == "offset_clause":
                    spec["offset"] = self.count(part, "OFFSET")
                    tok = part.children[0]
                    assert isinstance(tok, Token)
                    spec["offset_pos"] = _off(tok)
                elif kind == "listview_clause":
                    raise self.fail(_span(part.children).start,
                                    "USING ListView is not supported by sforg-sim (the org "
                                    "has no list views)")
        return ObjectSpec(**spec)

    def check_field_list(self, t: Tree) -> None:
        """Refuse what a SOQL select list has but a SOSL field list does not.

        "RETURNING FieldSpec" (*SOQL and SOSL Reference*,
        https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-sosl-returning.html)
        lists fields and relationship fields (with toLabel, convertCurrency and FORMAT,
        "SOSL Syntax"); FIELDS() and parent-to-child subqueries are documented for SOQL's
        SELECT only. Both are MALFORMED_SEARCH at their place in the SOSL text here, before
        the field list reaches the SOQL engine (whose answer would be an Apex-only or
        SOQL message). The real answer's wording is unconfirmed.
        """
        items = [c for c in t.children if isinstance(c, (Tree, Token))]
        for i, c in enumerate(items):
            if isinstance(c, Tree) and c.data == "group":
                inner = _tokens(c)[1:2]
                if inner and inner[0].upper() == "SELECT":
                    raise self.fail(_off(inner[0]), "Parent-to-child subqueries are not "
                                    "allowed in a SOSL field list: SELECT")
            elif (isinstance(c, Token) and c.upper() == "FIELDS" and i + 1 < len(items)
                  and isinstance(items[i + 1], Tree)):
                raise self.fail(_off(c), "FIELDS() is not allowed in a SOSL field list: "
                                "FIELDS")

    def count(self, t: Tree, clause: str) -> int | str:
        tok = t.children[0]
        assert isinstance(tok, Token)
        if tok.type == "BIND":
            if not self.apex:
                raise self.fail(_off(tok), "Bind variables are only allowed in Apex code")
            return str(tok)[1:]
        if not _INT.match(tok):
            raise self.fail(_off(tok), f"Malformed search token: {tok}")
        n = int(tok)
        if clause == "OFFSET" and n > MAX_OFFSET:
            raise self.fail(_off(tok), "SOSL offset should be between 0 to 2000")
        return n

    def with_clause(self, t: Tree) -> None:
        first = t.children[0]
        assert isinstance(first, Token)
        m = re.match(r"[A-Za-z_]+", first)
        name = (m.group() if m else str(first)).upper()
        rest = "".join(str(tok) for tok in _tokens(t)[1:])
        if self.apex and str(first).upper() in ACCESS_MODES:
            extra = _tokens(t)[1:]
            if extra:
                # `WITH USER_MODE RETURNING ...`: RETURNING read as a plain word here.
                raise self.fail(_off(extra[0]), f"Malformed search token: {extra[0]}")
            return
        if name == "SPELL_CORRECTION":
            # "WITH SPELL_CORRECTION": true (the default) or false. No spell correction is
            # modelled, so both search the terms as written (exact for false).
            value = (str(first)[len(m.group()):] if m else "") + rest
            if value.replace(" ", "").lower() not in ("=true", "=false"):
                raise self.fail(_off(first), "WITH SPELL_CORRECTION must be = true or "
                                             "= false")
            return
        known = {
            "DIVISION": "WITH DIVISION (the org does not use divisions)",
            "DATA": "WITH DATA CATEGORY (Salesforce Knowledge articles and questions)",
            "SNIPPET": "WITH SNIPPET (article, case, feed and idea snippets)",
            "HIGHLIGHT": "WITH HIGHLIGHT (highlighted search terms)",
            "NETWORK": "WITH NETWORK (Experience Cloud sites)",
            "PRICEBOOKID": "WITH PricebookId (Product2 search)",
            "METADATA": "WITH METADATA (field labels in the response)",
        }
        what = known.get(name, f"WITH {first}")
        raise self.fail(_off(first), f"{what} is not supported by sforg-sim")
