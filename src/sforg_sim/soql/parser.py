"""SOQL text -> :mod:`.ast` tree, with Salesforce's MALFORMED_QUERY errors.

The grammar (``grammar.lark``) is compiled once per process with lark's LALR parser. A
parse error becomes MALFORMED_QUERY in the layout Salesforce uses::

    "\\n<query line>\\n<col-1 spaces>^\\nERROR at Row:<row>:Column:<col>\\nunexpected token: 'X'"

(``docs/research/soql.md`` section 2). Lexer failures use the ANTLR-style detail
``line R:C no viable alternative at character 'c'`` seen in captured responses.

Deviations (unconfirmed rules; see the research notes):
- the excerpt is the whole line holding the error; Salesforce shows a window of a few
  tokens around it on long queries, by a rule nobody has pinned down;
- ``unexpected token: <EOF>`` is used for a query that ends too early;
- an invalid escape reports ``Invalid string literal ...`` in the same caret layout.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import sys
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree
from lark import __version__ as lark_version
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..clock import format_datetime, parse_datetime
from ..errors import MalformedQuery, NumberOutsideValidRange, QueryTooComplicated
from . import ast as A
from .dates import is_date_literal, takes_n

__all__ = ["GRAMMAR_CACHE_ENV", "MAX_CONDITION_DEPTH", "MAX_QUERY_LENGTH", "cached_lark", "caret",
           "grammar_cache_file", "malformed", "parse", "unescape", "unescape_parts"]

MAX_QUERY_LENGTH = 100_000
"""Statements longer than this are refused (REF66, Implementation Tips for SELECT)."""

_INT32_MAX = 2**31 - 1

MAX_CONDITION_DEPTH = 28
"""How deeply a WHERE or HAVING condition may nest, in "levels" (below), once the parser
has dropped redundant parentheses, merged ``a OR (b OR c)`` into one OR of three and cut
NOT chains to one or two NOTs. Salesforce documents no nesting limit, only the
100,000-character statement; this one is SQLite's. Each level becomes parenthesised SQL,
and SQLite's LALR parser stack (100 entries) overflows at about 30 levels ("parser stack
overflow"). Deeper conditions are QUERY_TOO_COMPLICATED (Salesforce's code for "the filter
conditions are too complicated"), never an internal error. Deviation: Salesforce may run
them. Ordinary queries nest a handful of levels; 10,000 parentheses around one
comparison, or 20,000 ORs side by side, are one level and run.

Costs, measured on SQLite 3.40 against the worst templates (COUNT() wraps the query, an
anti-join adds a sub-select): AND/OR 1, plus 1 per _FLAT-term grouping level of a wide
list (``conditions._join``); NOT 2; a plain comparison 1; a relative-date or literal LIKE
comparison or a literal IN list 2; an IN list with date literals 3; IN :bind 6; a
semi-join 5 plus its sub-select's WHERE. tests/test_soql_limits.py runs the deepest
accepted query of each kind."""

_MAX_WRITTEN_DEPTH = 200
"""Nesting of AND/OR groups as written (before merging) the parser follows: a bound on
its recursion, far above anything a person or a query builder writes."""

_NOT_DEPTH = 2
_SEMI_DEPTH = 5
_FLAT = 16
"""Terms the compiler joins flat (``conditions._FLAT``, kept equal)."""


def _group_levels(n: int) -> int:
    """Grouping levels ``conditions._join`` adds to a list of ``n`` AND/OR terms."""
    levels = 0
    while n > _FLAT:
        n = -(-n // _FLAT)
        levels += 1
    return levels


_FN_NAMES = A.FIELD_FUNCTION_NAMES
_TOO_COMPLICATED = ("Query is either selecting too many fields or the filter conditions are "
                    "too complicated.")
"""The message of QUERY_TOO_COMPLICATED captured from a real org (Grey-Tab issue #23)."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")


RESERVED = frozenset({
    "AND", "ASC", "BY", "DESC", "EXCLUDES", "FALSE", "FIRST", "FROM", "GROUP", "HAVING",
    "IN", "INCLUDES", "LAST", "LIKE", "LIMIT", "NOT", "NULL", "NULLS", "OFFSET", "OR",
    "ORDER", "SELECT", "TRUE", "USING", "WHERE", "WITH",
})
"""SOQL reserved words: never a field, object or alias name (REF66 Reserved Characters
and keywords), even where lark's contextual lexer would accept an identifier."""


class _Reserved(Exception):
    def __init__(self, tok: Token) -> None:
        self.tok = tok


def _check_ident(tok: Token) -> Token:
    if tok.upper() in RESERVED:
        raise _Reserved(tok)
    return tok


GRAMMAR_CACHE_ENV = "SFORG_SIM_GRAMMAR_CACHE"
"""Environment variable: a directory for the compiled grammar, or ``off`` to build it in
every process (see :func:`grammar_cache_file`)."""


def grammar_cache_file(name: str, text: str, options: str = "") -> Path | None:
    """Where lark may keep the compiled LALR tables of grammar ``text``, or None (no cache).

    Building the tables costs about 0.3 to 1 s per process; lark's ``cache`` option
    pickles them and loads them in about a tenth of that. lark documents ``cache=True``
    (a file in the system temporary directory) or ``cache="path"`` ("When given a string,
    caches to the path pointed by the string", ``LarkOptions`` in lark 1.x; the feature
    came with lark 0.8.6, "Grammar caching ... Use Lark(..., cache=True) or specify a file
    name", https://github.com/lark-parser/lark/releases/tag/0.8.6). The file is a pickle,
    so it is not put in the shared temporary directory, where another user could plant
    one under the predictable name: it goes to the user's own cache directory
    (``$XDG_CACHE_HOME/sforg-sim`` or ``~/.cache/sforg-sim``, created private), or to the
    directory ``$SFORG_SIM_GRAMMAR_CACHE`` names; ``off`` there turns the cache off.

    The name carries a hash of the grammar, the parser options and the lark and Python
    versions, so an edited grammar or another interpreter never reads an old file (lark
    also checks its own hash inside the file and rebuilds on a mismatch). None when no
    directory can be made, or when the directory is not safe to load a pickle from
    (:func:`_private_dir`: owned by another user, or writable by group or others): the
    grammar is then built in memory as before."""
    setting = os.environ.get(GRAMMAR_CACHE_ENV, "")
    if setting.strip().lower() in ("off", "0", "no", "false"):
        return None
    if setting:
        base = Path(setting)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "sforg-sim"
    digest = hashlib.sha256((text + options + lark_version + sys.version).encode()
                            ).hexdigest()[:20]
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # RuntimeError: Path.home() without a home
        return None
    if not _private_dir(base):
        return None
    return base / f"{name}-{digest}.lark-cache"


def _private_dir(path: Path) -> bool:
    """Whether ``path`` is a directory only the current user can write into: owned by
    this user and not group- or other-writable. Loading a cache file unpickles it, so a
    directory someone else could put a file into (a shared or world-writable one named
    by ``$SFORG_SIM_GRAMMAR_CACHE``, say) is not used. Where there are no POSIX owners
    (Windows: no ``os.getuid``) the check is the directory's existence."""
    try:
        st = path.stat()
    except OSError:
        return False
    if not path.is_dir():
        return False
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        return True
    return st.st_uid == getuid() and not st.st_mode & 0o022


def _remove_stale(path: Path, name: str) -> None:
    """Delete the other cache files of grammar ``name`` next to ``path`` (the tables of
    an older grammar text, lark or Python: never read again, as their hash differs), so
    the directory holds one file per grammar. Files of other grammars are kept."""
    stale = re.compile(re.escape(name) + r"-[0-9a-f]{20}\.lark-cache")
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry != path and stale.fullmatch(entry.name):
            # another process may have removed it already
            with contextlib.suppress(OSError):
                entry.unlink()


def cached_lark(name: str, text: str, **options: Any) -> Lark:
    """``Lark(text, parser="lalr", **options)``, its tables cached per
    :func:`grammar_cache_file` with lark's documented ``Lark.save``/``Lark.load`` ("Saves
    the instance into the given file object. Useful for caching and multiprocessing"). A
    new file is written under a private temporary name and renamed into place, so a
    process starting at the same moment never reads a half-written one; a file that does
    not load is rebuilt, and once written the grammar's older files are deleted
    (:func:`_remove_stale`). (lark's own ``cache=path`` option hashes the path into the
    file, so the rename would make it rebuild once more.)"""
    # Callbacks are code, not data: only their names go into the key; Lark.save pickles
    # them by reference (module-level functions).
    key = sorted((k, sorted(v) if k == "lexer_callbacks" else repr(v))
                 for k, v in options.items())
    path = grammar_cache_file(name, text, repr(key))
    if path is not None:
        try:
            with path.open("rb") as f:
                return Lark.load(f)
        except Exception:
            # Missing, damaged or from another lark: build it again (and rewrite it).
            pass
    parser = Lark(text, parser="lalr", **options)
    if path is not None:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as f:
                parser.save(f)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
        else:
            _remove_stale(path, name)
    return parser


@lru_cache(maxsize=1)
def _parser() -> Lark:
    text = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
    return cached_lark("soql", text, propagate_positions=True, maybe_placeholders=False,
                       lexer_callbacks={"IDENT": _check_ident})


def caret(text: str, pos: A.Pos, detail: str) -> str:
    """The caret layout Salesforce puts before a query error's detail."""
    line, col = pos
    lines = text.split("\n")
    excerpt = lines[line - 1] if 0 < line <= len(lines) else ""
    return f"\n{excerpt}\n{' ' * (col - 1)}^\nERROR at Row:{line}:Column:{col}\n{detail}"


def malformed(text: str, pos: A.Pos, detail: str) -> MalformedQuery:
    """A MALFORMED_QUERY pointing at ``pos``."""
    return MalformedQuery(caret(text, pos, detail))


def unexpected(text: str, tok: Token) -> MalformedQuery:
    """MALFORMED_QUERY ``unexpected token: 'X'`` at a token."""
    return malformed(text, _pos(tok), f"unexpected token: '{tok}'")


def _end_pos(text: str) -> A.Pos:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def _pos(tok: Token) -> A.Pos:
    return (tok.line or 1, tok.column or 1)


def parse(text: str) -> A.Query:
    """Parse a whole SOQL statement; raises MALFORMED_QUERY on anything it cannot place."""
    if not isinstance(text, str) or not text.strip():
        raise MalformedQuery("SOQL statements cannot be empty or null")
    if len(text) > MAX_QUERY_LENGTH:
        raise MalformedQuery(
            f"SOQL statements cannot be longer than {MAX_QUERY_LENGTH} characters")
    if not text.isascii() and _SURROGATE.search(text):
        text = _join_surrogates(text)
    try:
        tree = _parser().parse(text)
    except _Reserved as e:
        raise unexpected(text, e.tok) from None
    except UnexpectedToken as e:
        if e.token.type == "$END":
            raise malformed(text, _end_pos(text), "unexpected token: <EOF>") from None
        raise unexpected(text, e.token) from None
    except UnexpectedCharacters as e:
        at_ = e.pos_in_stream or 0
        ch = text[at_] if at_ < len(text) else ""
        raise malformed(text, (e.line, e.column),
                        f"line {e.line}:{e.column - 1} no viable alternative at "
                        f"character '{ch}'") from None
    except (UnexpectedEOF, UnexpectedInput):
        raise malformed(text, _end_pos(text), "unexpected token: <EOF>") from None
    root = tree.children[0]
    assert isinstance(root, Tree)
    return _Builder(text).query(root)


def _join_surrogates(text: str) -> str:
    """``text`` with raw UTF-16 surrogate pairs joined into one character each.

    A Python caller can pass the two UTF-16 halves of one character (``json.loads`` of
    ``"\\ud83d\\ude00"`` gives them); Salesforce, working in UTF-16, sees one character,
    and SQLite cannot encode a half at all. A half without its partner is MALFORMED_QUERY
    at its position in the lexer-error layout (Salesforce's answer is unconfirmed).
    """
    joined = _PAIR.sub(_join_pair, text)
    m = _SURROGATE.search(joined)
    if m is not None:
        at_ = m.start()
        line = joined.count("\n", 0, at_) + 1
        col = at_ - (joined.rfind("\n", 0, at_) + 1) + 1
        raise malformed(joined, (line, col), f"line {line}:{col - 1} no viable alternative "
                        f"at character '\\u{ord(m.group()):04x}'")
    return joined


def _join_pair(m: re.Match[str]) -> str:
    pair = m.group()
    return chr(0x10000 + ((ord(pair[0]) - 0xD800) << 10) + (ord(pair[1]) - 0xDC00))


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f",
            '"': '"', "'": "'", "\\": "\\"}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")


class _Builder:
    """Walks the lark tree of one statement and builds AST nodes."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.aliases: dict[str, tuple[str, ...]] = {}
        """FROM aliases of the query level being built (lower case -> relationship path)."""
        self.where_depth = 0
        """SQL nesting depth of the WHERE of the last query built (for semi-joins)."""

    # --- statement ----------------------------------------------------------------------

    def query(self, t: Tree, raw: int = 0) -> A.Query:
        """A SELECT statement; ``raw`` is the condition nesting around it (semi-joins).

        FROM is read first: its aliases rewrite every field path of this query level
        (``c.Account.Name`` with ``FROM Contact c`` is ``Account.Name``), so the compiler
        never sees them. A subquery has its own aliases."""
        kids = t.children
        outer_aliases = self.aliases
        from_t = kids[1]
        assert isinstance(from_t, Tree)
        obj_tok, self.aliases, from_paths = self.from_clause(from_t)
        try:
            select = self.select_list(kids[0])
            q: dict[str, Any] = {"from_paths": from_paths}
            where_depth = 0
            tails: list[Tree] = []
            for clause in kids[2:]:
                assert isinstance(clause, Tree)
                name = clause.data
                if name == "where_clause":
                    q["where"], where_depth = self._cond(clause.children[0], raw)
                elif name == "having_clause":
                    q["having"] = self.cond(clause.children[0])
                elif name == "group_clause":
                    q["group_by"], q["group_kind"] = self.group_clause(clause)
                elif name == "order_clause":
                    q["order_by"] = tuple(self.order_item(c) for c in clause.children)
                elif name == "limit_clause":
                    q["limit"] = self.count_value(clause.children[0])
                elif name == "offset_clause":
                    tok = clause.children[0]
                    assert isinstance(tok, Token)
                    q["offset"] = self.count_value(tok)
                    q["offset_pos"] = _pos(tok)
                elif name == "using_clause":
                    q["scope"], q["scope_pos"] = self.using_clause(clause)
                elif name == "with_mode":
                    q["security"] = self.with_mode(clause)
                elif name == "with_data_category":
                    self.with_data_category(clause)
                elif name == "tail_clause":
                    tails.append(clause)
            q["usage"] = self.tail_clauses(tails, q)
        finally:
            self.aliases = outer_aliases
        self.where_depth = where_depth
        return A.Query(select=select, sobject=str(obj_tok), sobject_pos=_pos(obj_tok),
                       text=self.text, **q)

    # --- FROM, USING SCOPE, WITH and the trailing clauses (issue 19) --------------------

    def from_clause(self, t: Tree
                    ) -> tuple[Token, dict[str, tuple[str, ...]], tuple[A.FieldRef, ...]]:
        """The FROM object, the aliases of this query level and the further FROM items
        (each as the path of its ``Id``, for the compiler to check).

        *SOQL and SOSL Reference*, "Alias Notation": "first identify the object ... then
        specify the alias ... For the rest of the SELECT statement, you can use the alias in
        place of the object or field name", with the example ``FROM Contact c, c.Account a``
        (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_alias.htm).
        A further FROM item is a parent relationship path (``Contact.Account`` in the
        "COUNT()" page's example); it may start with an alias and gets its own alias. The
        keywords the page lists are never aliases (RESERVED). No ``AS``: the reference shows
        none, so ``FROM Contact AS c`` stays MALFORMED_QUERY."""
        kids = t.children
        obj = kids[0]
        assert isinstance(obj, Token)
        aliases: dict[str, tuple[str, ...]] = {}
        paths: list[A.FieldRef] = []
        i = 1
        if i < len(kids) and isinstance(kids[i], Tree) and kids[i].data == "alias":
            self._add_alias(aliases, kids[i], ())
            i += 1
        while i < len(kids):
            path_t = kids[i]
            assert isinstance(path_t, Tree)
            toks = [c for c in path_t.children if isinstance(c, Token)]
            path = self._dealias([str(c) for c in toks], aliases)
            # "FROM Contact, Contact.Account": a leading object name is the object itself.
            if len(path) > 1 and path[0].lower() == str(obj).lower():
                path = path[1:]
            paths.append(A.FieldRef((*path, "Id"), _pos(toks[0])))
            i += 1
            if i < len(kids) and isinstance(kids[i], Tree) and kids[i].data == "alias":
                self._add_alias(aliases, kids[i], tuple(path))
                i += 1
        return obj, aliases, tuple(paths)

    def _add_alias(self, aliases: dict[str, tuple[str, ...]], t: Tree,
                   path: tuple[str, ...]) -> None:
        tok = t.children[0]
        assert isinstance(tok, Token)
        key = str(tok).lower()
        if key in aliases:
            raise malformed(self.text, _pos(tok), f"duplicate alias: {tok}")
        aliases[key] = path

    def _dealias(self, path: list[str], aliases: dict[str, tuple[str, ...]] | None = None
                 ) -> list[str]:
        """``path`` with a leading alias replaced by the relationship path it stands for."""
        table = self.aliases if aliases is None else aliases
        if len(path) > 1 and table:
            hit = table.get(path[0].lower())
            if hit is not None:
                return [*hit, *path[1:]]
        return path

    SCOPES = ("delegated", "everything", "mine", "mine_and_my_groups", "my_territory",
              "my_team_territory", "scopingrule", "team")
    """*SOQL and SOSL Reference*, "USING SCOPE": the filterScope values it lists
    (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_using_scope.htm);
    which ones an object supports is the compiler's business."""

    def using_clause(self, t: Tree) -> tuple[str, A.Pos]:
        """``USING SCOPE filterScope`` -> (scope in lower case, its position)."""
        word, scope = t.children
        assert isinstance(word, Token) and isinstance(scope, Token)
        if str(word).upper() != "SCOPE":
            raise unexpected(self.text, word)
        if str(scope).lower() not in self.SCOPES:
            raise unexpected(self.text, scope)
        return str(scope).lower(), _pos(scope)

    def with_mode(self, t: Tree) -> str:
        """``WITH USER_MODE | SYSTEM_MODE | SECURITY_ENFORCED`` (Apex Developer Guide,
        "Enforce User Mode for Database Operations" and "Filter SOQL Queries Using WITH
        SECURITY_ENFORCED": placed after WHERE and before GROUP BY / ORDER BY / LIMIT,
        which is where the grammar takes it). The simulator's only user is an
        administrator with every object and field permission and no sharing, so each mode
        returns what system mode returns: accepted, and otherwise a no-op."""
        tok = t.children[0]
        assert isinstance(tok, Token)
        mode = str(tok).upper()
        if mode not in ("USER_MODE", "SYSTEM_MODE", "SECURITY_ENFORCED"):
            raise unexpected(self.text, tok)
        return mode

    def with_data_category(self, t: Tree) -> None:
        """``WITH DATA CATEGORY group AT|ABOVE|BELOW|ABOVE_OR_BELOW category``: parsed as
        *SOQL and SOSL Reference*, "WITH DATA CATEGORY" documents it, then refused. It
        filters Salesforce Knowledge articles and questions ("can only be used with
        KnowledgeArticleVersion, Question objects and article types"), which this org does
        not have, so every such query is MALFORMED_QUERY naming the clause (deviation: the
        exact wording Salesforce uses for other objects is unconfirmed)."""
        data, category = t.children[0], t.children[1]
        assert isinstance(data, Token) and isinstance(category, Token)
        if str(data).upper() != "DATA":
            raise unexpected(self.text, data)
        if str(category).upper() != "CATEGORY":
            raise unexpected(self.text, category)
        for f in t.children[2:]:
            assert isinstance(f, Tree)
            op = f.children[1]
            assert isinstance(op, Token)
            if str(op).upper() not in ("AT", "ABOVE", "BELOW", "ABOVE_OR_BELOW"):
                raise unexpected(self.text, op)
        raise malformed(self.text, _pos(data), "WITH DATA CATEGORY filters Salesforce "
                        "Knowledge articles and questions only (sforg_sim has no Knowledge "
                        "objects)")

    def tail_clauses(self, tails: list[Tree], q: dict[str, Any]) -> str:
        """The clauses after OFFSET, in the documented order: ``FOR VIEW`` or ``FOR
        REFERENCE``, then ``UPDATE TRACKING|VIEWSTAT``, then ``FOR UPDATE``.

        - FOR VIEW / FOR REFERENCE (*SOQL and SOSL Reference*, "FOR VIEW and FOR
          REFERENCE") update LastViewedDate / LastReferencedDate and the RecentlyViewed
          object; the simulator keeps neither, so they are accepted as no-ops. Returned
          as the statement's ``usage`` ("VIEW"/"REFERENCE").
        - UPDATE TRACKING / UPDATE VIEWSTAT ("UPDATE TRACKING", "UPDATE VIEWSTAT") "report
          on Salesforce Knowledge article searches and views"; no Knowledge objects here:
          MALFORMED_QUERY naming the clause.
        - FOR UPDATE ("FOR UPDATE": "In Apex, you can use FOR UPDATE to lock sObject
          records") and ALL ROWS (Apex Developer Guide, "Querying All Records with a SOQL
          Statement") are Apex-only: the API refuses them with MALFORMED_QUERY naming them
          (the exact message is unconfirmed). The Apex runtime strips both before it calls
          the engine (``apexlang/soqltext.py``)."""
        usage = ""
        stage = 0
        for t in tails:
            kw = t.children[0]
            words = [c for c in t.children[1:] if isinstance(c, Token)]
            assert isinstance(kw, Token)
            head = str(kw).upper()
            first = str(words[0]).upper()
            if head == "ALL":
                if first != "ROWS" or len(words) > 1:
                    raise unexpected(self.text, words[0] if first != "ROWS" else words[1])
                raise malformed(self.text, _pos(kw), "ALL ROWS is only allowed in Apex; "
                                "use queryAll to include deleted and archived records")
            if head == "FOR" and first == "UPDATE" and len(words) == 1:
                raise malformed(self.text, _pos(kw), "FOR UPDATE is only allowed in Apex "
                                "(it locks the records it returns)")
            if head == "FOR":
                if stage >= 1:
                    raise unexpected(self.text, kw)
                if first not in ("VIEW", "REFERENCE"):
                    raise unexpected(self.text, words[0])
                if len(words) > 1:
                    raise unexpected(self.text, words[1])
                usage, stage = first, 1
                continue
            # UPDATE TRACKING|VIEWSTAT[,...]
            if stage >= 2:
                raise unexpected(self.text, kw)
            for w in words:
                if str(w).upper() not in ("TRACKING", "VIEWSTAT"):
                    raise unexpected(self.text, w)
            raise malformed(self.text, _pos(kw), f"UPDATE {str(words[0]).upper()} reports on "
                            "Salesforce Knowledge articles only (sforg_sim has no Knowledge "
                            "objects)")
        return usage

    def count_value(self, tok: Any) -> int | A.Bind:
        assert isinstance(tok, Token)
        if tok.type == "BIND":
            return A.Bind(str(tok)[1:], _pos(tok))
        digits = str(tok).lstrip("0")
        # More than 10 digits is past Int32 anyway (and int() refuses past 4,300 digits).
        n = int(digits or "0") if len(digits) <= 10 else _INT32_MAX + 1
        if n > _INT32_MAX:
            raise unexpected(self.text, tok)
        return n

    def group_clause(self, t: Tree) -> tuple[tuple[A.FieldRef | A.DateFn, ...], str]:
        """GROUP BY's items and kind: plain, or ``ROLLUP(...)`` / ``CUBE(...)``
        (*SOQL and SOSL Reference*, "GROUP BY ROLLUP" and "GROUP BY CUBE": up to three
        fields each, and "You can't combine GROUP BY and GROUP BY ROLLUP syntax in the same
        statement"; https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-select-groupby-cube.html)."""
        kids = [c for c in t.children if isinstance(c, Tree)]
        out: list[A.FieldRef | A.DateFn] = []
        kind = ""
        for c in kids:
            name = str(c.children[0]).upper() if c.data == "call" else ""
            if name in ("ROLLUP", "CUBE"):
                if len(kids) > 1:
                    raise unexpected(self.text, c.children[0])  # type: ignore[arg-type]
                args = [a for a in c.children[2:] if isinstance(a, Tree)]
                if not args:
                    raise unexpected(self.text, c.children[-1])  # type: ignore[arg-type]
                if len(args) > 3:
                    raise malformed(self.text, _tree_pos(args[3]), f"GROUP BY {name} can "
                                    "have at most 3 fields")
                kind = name
                out.extend(self.group_item(a) for a in args)
            else:
                out.append(self.group_item(c))
        return tuple(out), kind

    def group_item(self, t: Tree) -> A.FieldRef | A.DateFn:
        """A GROUP BY item: a field or a date function."""
        _no_literals(self.text, [t])
        if t.data == "field_path":
            return self.field_path(t)
        e = self.call(t)
        if not isinstance(e, A.DateFn):
            raise malformed(self.text, _tree_pos(t), "GROUP BY accepts fields and date "
                            f"functions only, not {str(t.children[0]).upper()}()")
        return e

    def select_list(self, t: Tree) -> tuple[A.SelectItem, ...]:
        items = []
        for item in t.children:
            assert isinstance(item, Tree)
            if item.data == "sel_subquery":
                sub = next(c for c in item.children if isinstance(c, Tree))
                items.append(A.SelectItem(A.SubQuery(self.query(sub), _tree_pos(sub))))
                continue
            if item.data == "sel_typeof":
                items.append(A.SelectItem(self.typeof(item)))
                continue
            expr_t = item.children[0]
            assert isinstance(expr_t, Tree)
            expr: (A.FieldRef | A.Agg | A.FieldsFn | A.DateFn | A.Grouping | A.FieldFn
                   | A.Distance)
            if item.data == "sel_field":
                expr = self.field_path(expr_t)
            else:
                expr = self.call(expr_t, allow_fields=True, allow_field_fn=True)
            alias = alias_pos = None
            if len(item.children) > 1:
                a = item.children[1]
                assert isinstance(a, Tree)
                tok = a.children[0]
                assert isinstance(tok, Token)
                alias, alias_pos = str(tok), _pos(tok)
                if isinstance(expr, A.FieldsFn):
                    raise unexpected(self.text, tok)
            items.append(A.SelectItem(expr, alias, alias_pos))
        return tuple(items)

    def typeof(self, t: Tree) -> A.TypeOf:
        """``TYPEOF rel WHEN Type THEN fields ... [ELSE fields] END`` (*SOQL and SOSL
        Reference*, "TYPEOF",
        https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_typeof.htm):
        "You can provide as many WHEN clauses as needed, one per object type", so a type
        named twice is MALFORMED_QUERY (wording unconfirmed). The schema checks are the
        compiler's."""
        rel_t = t.children[0]
        assert isinstance(rel_t, Tree)
        rel = self.field_path(rel_t)
        whens: list[tuple[str, A.Pos, tuple[A.FieldRef, ...]]] = []
        else_: tuple[A.FieldRef, ...] = ()
        seen: set[str] = set()
        for c in t.children[1:]:
            assert isinstance(c, Tree)
            if c.data == "typeof_else":
                else_ = tuple(A.FieldRef(tuple(str(x) for x in f.children), _tree_pos(f))
                              for f in c.children if isinstance(f, Tree))
                continue
            name = c.children[0]
            assert isinstance(name, Token)
            if str(name).lower() in seen:
                raise malformed(self.text, _pos(name), f"duplicate WHEN {name} in TYPEOF "
                                f"{rel.text}")
            seen.add(str(name).lower())
            # WHEN/ELSE fields belong to the referenced object: never FROM-aliased.
            fields = tuple(A.FieldRef(tuple(str(x) for x in f.children), _tree_pos(f))
                           for f in c.children[1:] if isinstance(f, Tree))
            whens.append((str(name), _pos(name), fields))
        return A.TypeOf(rel, tuple(whens), else_, rel.pos)

    def distance(self, name_tok: Token, args: list[Tree]) -> A.Distance:
        """``DISTANCE(location, GEOLOCATION(lat, lon) | location, 'mi'|'km')``.

        *SOQL and SOSL Reference*, "Location-Based SOQL Queries"
        (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_geolocate.htm):
        ``DISTANCE(mylocation1, mylocation2, 'unit')`` where a location is a geolocation
        field or ``GEOLOCATION(latitude, longitude)`` and unit is ``mi`` or ``km``; "the
        geolocation field must precede the latitude and longitude coordinates"
        (``DISTANCE(GEOLOCATION(...), field, ...)`` is refused). Deviations: bind
        variables in GEOLOCATION() are not supported (MALFORMED_QUERY at the bind);
        the unit is matched case-insensitively."""
        pos = _pos(name_tok)
        if len(args) != 3:
            raise malformed(self.text, pos, "DISTANCE() takes a location field, a location "
                            "and a unit ('mi' or 'km')")
        first, second, unit_t = args
        if first.data != "field_path":
            raise malformed(self.text, _tree_pos(first), "DISTANCE()'s first argument must "
                            "be a geolocation field (it must precede GEOLOCATION())")
        point: tuple[float, float] | A.FieldRef
        if second.data == "field_path":
            point = self.field_path(second)
        elif second.data == "call" and str(second.children[0]).upper() == "GEOLOCATION":
            coords = [a for a in second.children[2:] if isinstance(a, Tree)]
            nums: list[float] = []
            for a in coords:
                tok = a.children[0]
                if a.data != "lit_arg" or not isinstance(tok, Token) or \
                        tok.type != "SIGNED_NUMBER":
                    raise malformed(self.text, _tree_pos(a), "GEOLOCATION() takes a "
                                    "latitude and a longitude (numbers)")
                nums.append(float(str(tok)))
            if len(nums) != 2:
                raise malformed(self.text, _tree_pos(second), "GEOLOCATION() takes a "
                                "latitude and a longitude (numbers)")
            point = (nums[0], nums[1])
        else:
            raise malformed(self.text, _tree_pos(second), "DISTANCE()'s second argument "
                            "must be GEOLOCATION(latitude, longitude) or a geolocation field")
        tok = unit_t.children[0] if unit_t.data == "lit_arg" else None
        unit = str(tok)[1:-1].lower() if isinstance(tok, Token) and tok.type == "STRING" \
            else ""
        if unit not in ("mi", "km"):
            raise malformed(self.text, _tree_pos(unit_t), "DISTANCE()'s unit must be 'mi' "
                            "or 'km'")
        return A.Distance(self.field_path(first), point, unit, pos)

    def field_path(self, t: Any) -> A.FieldRef:
        """A field path, with a leading FROM alias resolved (``c.Account.Name``)."""
        assert isinstance(t, Tree)
        toks = [c for c in t.children if isinstance(c, Token)]
        return A.FieldRef(tuple(self._dealias([str(c) for c in toks])), _pos(toks[0]))

    def call(self, t: Tree, allow_fields: bool = False, allow_field_fn: bool = False
             ) -> A.Agg | A.FieldsFn | A.DateFn | A.Grouping | A.FieldFn | A.Distance:
        name_tok = t.children[0]
        assert isinstance(name_tok, Token)
        name = str(name_tok).upper()
        args = [a for a in t.children[2:] if isinstance(a, Tree)]
        if name == "DISTANCE":
            return self.distance(name_tok, args)
        if name == "GEOLOCATION":
            # "Location-Based SOQL Queries": GEOLOCATION() is a DISTANCE() argument.
            raise malformed(self.text, _pos(name_tok), "GEOLOCATION() is allowed only "
                            "inside DISTANCE()")
        _no_literals(self.text, args)
        if len(args) > 1:
            # Only ROLLUP and CUBE (GROUP BY, handled there) take several arguments.
            raise malformed(self.text, _tree_pos(args[1]), "unexpected token: ','")
        if name in A.DATE_FUNCTIONS:
            return self.date_function(name, name_tok, args)
        if name in A.FIELD_FUNCTIONS:
            fn = self.field_function(name, name_tok, args)
            if not allow_field_fn:
                raise malformed(self.text, fn.pos, f"{_FN_NAMES[name]}() is allowed in "
                                "SELECT only" + (" (and toLabel(field) in WHERE)"
                                                 if name == "TOLABEL" else ""))
            return fn
        if args and args[0].data == "call":
            inner = str(args[0].children[0])
            raise malformed(self.text, _tree_pos(args[0]), f"{inner}() is not allowed "
                            f"inside {name}()" + (" (only inside a date function)"
                                                  if inner.upper() == "CONVERTTIMEZONE"
                                                  else ""))
        arg = self.field_path(args[0]) if args else None
        if name == "GROUPING" and arg is not None:
            return A.Grouping(arg, _pos(name_tok))
        if name == "FIELDS" and allow_fields:
            if arg is None or len(arg.path) != 1 or arg.path[0].upper() not in (
                    "ALL", "STANDARD", "CUSTOM"):
                where = arg.pos if arg else _pos(t.children[1])  # type: ignore[arg-type]
                detail = f"'{arg.text}'" if arg else "')'"
                raise malformed(self.text, where, f"unexpected token: {detail}")
            return A.FieldsFn(arg.path[0].upper(), _pos(name_tok))
        if name not in A.AGGREGATES:
            # An unknown function: the parenthesis is the first token Salesforce rejects.
            lpar = t.children[1]
            assert isinstance(lpar, Token)
            raise unexpected(self.text, lpar)
        if arg is None and name != "COUNT":
            rpar_pos = _pos(t.children[1])  # type: ignore[arg-type]
            raise malformed(self.text, (rpar_pos[0], rpar_pos[1] + 1),
                            "unexpected token: ')'")
        return A.Agg(name, arg, _pos(name_tok))

    def field_function(self, name: str, name_tok: Token, args: list[Tree]) -> A.FieldFn:
        """``toLabel(field)``, ``convertCurrency(field)``, ``FORMAT(field)``,
        ``FORMAT(convertCurrency(field))`` or ``FORMAT(aggregate)``: *SOQL and SOSL
        Reference*, "FORMAT()" ("You can also nest it with aggregate or convertCurrency()
        functions", https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-select-format.html);
        toLabel() and convertCurrency() take a field ("toLabel(object.field)",
        "convertCurrency(field)")."""
        pos = _pos(name_tok)
        if not args:
            raise malformed(self.text, pos, f"{_FN_NAMES[name]}() needs a field")
        a = args[0]
        arg: A.FieldRef | A.FieldFn | A.Agg
        if a.data == "field_path":
            arg = self.field_path(a)
        else:
            inner = str(a.children[0]).upper()
            if name != "FORMAT" or inner not in A.AGGREGATES | {"CONVERTCURRENCY"}:
                raise malformed(self.text, _tree_pos(a), f"{a.children[0]!s}() is not "
                                f"allowed inside {_FN_NAMES[name]}()")
            got = self.call(a, allow_field_fn=True)
            assert isinstance(got, (A.Agg, A.FieldFn))
            arg = got
        return A.FieldFn(name, arg, pos)

    def date_function(self, name: str, name_tok: Token, args: list[Tree]) -> A.DateFn:
        """``NAME(field)`` or ``NAME(convertTimezone(field))`` (*SOQL and SOSL Reference*,
        "convertTimezone()": "you can only use convertTimezone() in a date function")."""
        if not args:
            raise malformed(self.text, _pos(name_tok), f"{name}() needs a date or dateTime "
                            "field")
        a = args[0]
        tz = False
        if a.data == "call":
            inner = [c for c in a.children[2:] if isinstance(c, Tree)]
            if str(a.children[0]).upper() != "CONVERTTIMEZONE" or len(inner) != 1 or \
                    inner[0].data != "field_path":
                raise malformed(self.text, _tree_pos(a), f"unexpected function inside "
                                f"{name}(): only convertTimezone(field) is allowed")
            a, tz = inner[0], True
        return A.DateFn(name, self.field_path(a), tz, _pos(name_tok))

    def order_item(self, t: Any) -> A.OrderItem:
        assert isinstance(t, Tree)
        expr_t = t.children[0]
        assert isinstance(expr_t, Tree)
        expr = self.operand(expr_t)
        desc = False
        nulls_first: bool | None = None
        for c in t.children[1:]:
            assert isinstance(c, Tree)
            word = str(c.children[0]).upper()
            if c.data == "direction":
                desc = word == "DESC"
            else:
                nulls_first = word == "FIRST"
        return A.OrderItem(expr, desc, nulls_first)

    def operand(self, t: Tree, where: bool = False) -> A.Operand:
        """A condition's left side or an ORDER BY key. ``toLabel(field)`` is allowed in
        a condition only (*SOQL and SOSL Reference*, "toLabel()": "You can use the
        toLabel() method to filter records using a translated picklist value"; "The
        toLabel() function can't be used with ORDER BY")."""
        if t.data == "field_path":
            return self.field_path(t)
        if where and str(t.children[0]).upper() == "TOLABEL":
            fn = self.call(t, allow_field_fn=True)
            assert isinstance(fn, A.FieldFn) and isinstance(fn.arg, A.FieldRef)
            return A.FieldRef(fn.arg.path, fn.pos, label=True)
        call = self.call(t)
        assert not isinstance(call, (A.FieldsFn, A.FieldFn))
        return call

    # --- conditions ---------------------------------------------------------------------

    def cond(self, t: Any, raw: int = 0) -> A.Cond:
        """A WHERE / HAVING condition, within MAX_CONDITION_DEPTH (QUERY_TOO_COMPLICATED)."""
        return self._cond(t, raw)[0]

    def _cond(self, t: Any, raw: int) -> tuple[A.Cond, int]:
        """(condition, its SQL nesting depth). ``raw`` is the nesting as written so far.

        Parentheses and NOT chains are walked in a loop, not by recursion, so 10,000
        parentheses around one comparison cost nothing; only real structure recurses.
        ``a OR (b OR c)`` becomes one OR of three. NOT is two-valued here (the compiler
        writes ``NOT IFNULL(x, 0)``), so NOT NOT x filters exactly as x does: a chain keeps
        one NOT, or two when even, which still carry the first NOT's position and the
        rule against semi-joins under NOT.
        """
        assert isinstance(t, Tree)
        nots: list[Token] = []
        while True:
            d = t.data
            if d in ("or_expr", "and_expr") and len(t.children) == 1:
                t = t.children[0]
            elif d == "not_":
                nots.append(t.children[0])  # type: ignore[arg-type]
                t = t.children[1]
            else:
                break
            assert isinstance(t, Tree)
        pos = _pos(nots[0]) if nots else (t.meta.line, t.meta.column)
        node: A.Cond
        if d in ("or_expr", "and_expr"):
            if raw >= _MAX_WRITTEN_DEPTH:
                raise self.too_complicated(pos, _MAX_WRITTEN_DEPTH)
            kind = A.Or if d == "or_expr" else A.And
            items: list[A.Cond] = []
            depth = 0
            for c in t.children:
                item, item_depth = self._cond(c, raw + 1)
                if isinstance(item, kind):
                    items.extend(item.items)
                    item_depth -= 1 + _group_levels(len(item.items))
                else:
                    items.append(item)
                depth = max(depth, item_depth)
            node = kind(tuple(items))
            depth += 1 + _group_levels(len(items))
        else:
            node, depth = self.comparison(t, raw)
        if nots:
            if len(nots) % 2 == 0:
                node = A.Not(node, _pos(nots[1]))
                depth += _NOT_DEPTH
            node = A.Not(node, _pos(nots[0]))
            depth += _NOT_DEPTH
        if depth > MAX_CONDITION_DEPTH:
            raise self.too_complicated(pos, MAX_CONDITION_DEPTH)
        return node, depth

    def too_complicated(self, pos: A.Pos, limit: int) -> QueryTooComplicated:
        """QUERY_TOO_COMPLICATED at ``pos``, saying which simulator limit was hit."""
        return QueryTooComplicated(caret(self.text, pos, f"{_TOO_COMPLICATED} (sforg_sim: "
                                         f"AND/OR/NOT nested more than {limit} levels deep)"))

    def comparison(self, t: Tree, raw: int) -> tuple[A.Cond, int]:
        """One comparison and its SQL depth (a semi-join adds its sub-select's WHERE)."""
        d = t.data
        left_t = t.children[0]
        assert isinstance(left_t, Tree)
        left = self.operand(left_t, where=True)
        pos = left.pos
        if d == "cmp":
            op = str(t.children[1])
            op = "!=" if op == "<>" else op
            value = self.value(t.children[2])
            return A.Compare(left, op, value, pos), 2 if isinstance(value, A.DateLit) else 1
        if d == "like":
            v = t.children[2]
            assert isinstance(v, Tree)
            if v.data == "v_string":
                return A.Compare(left, "LIKE", self.like_pattern(v.children[0]), pos), 2
            return A.Compare(left, "LIKE", self.value(v), pos), 1
        if d in ("in_list", "not_in_list"):
            vals = [c for c in t.children[1:] if isinstance(c, Tree)]
            values = tuple(self.value(v) for v in vals)
            dates = any(isinstance(v, A.DateLit) for v in values)
            return A.InList(left, values, d == "not_in_list", pos), 3 if dates else 2
        if d in ("includes", "excludes"):
            vals = [c for c in t.children[1:] if isinstance(c, Tree)]
            return A.Includes(left, tuple(self.value(v) for v in vals), d == "excludes",
                              pos), 2
        if d in ("in_bind", "not_in_bind"):
            tok = t.children[-1]
            assert isinstance(tok, Token)
            return A.InList(left, A.Bind(str(tok)[1:], _pos(tok)), d == "not_in_bind",
                            pos), 6
        sub = t.children[-1]
        assert isinstance(sub, Tree)
        inner = self.query(sub, raw + 1)
        return A.SemiJoin(left, inner, d == "anti_join", pos), \
            _SEMI_DEPTH + self.where_depth

    # --- values -------------------------------------------------------------------------

    def value(self, t: Any) -> A.Value:
        assert isinstance(t, Tree)
        tok = t.children[0]
        assert isinstance(tok, Token)
        pos, s, d = _pos(tok), str(tok), t.data
        if d == "v_string":
            return A.StringV(self.unescape(tok, like=False), pos)
        if d == "v_number":
            try:
                num = _number(s)
            except OverflowError:
                num = math.inf
            if not math.isfinite(num):
                raise NumberOutsideValidRange(caret(self.text, pos, f"number {s} is "
                                                    "outside the valid range"))
            return A.NumberV(num, s, pos)
        if d == "v_true":
            return A.BoolV(True, pos)
        if d == "v_false":
            return A.BoolV(False, pos)
        if d == "v_null":
            return A.NullV(pos)
        if d == "v_bind":
            return A.Bind(s[1:], pos)
        if d == "v_currency":
            num = _number(s[3:])
            if not math.isfinite(num):
                raise NumberOutsideValidRange(caret(self.text, pos, f"number {s} is "
                                                    "outside the valid range"))
            return A.CurrencyV(s[:3].upper(), num, s, pos)
        if d == "v_date":
            try:
                day = date.fromisoformat(s)
            except ValueError:
                raise malformed(self.text, pos, f"line {pos[0]}:{pos[1] - 1} invalid date "
                                f"'{s}'") from None
            if not 1700 <= day.year <= 4000:
                raise malformed(self.text, pos, f"invalid date '{s}'")
            return A.DateV(s, pos)
        if d == "v_datetime":
            try:
                dt = parse_datetime(s)
            except ValueError:
                raise malformed(self.text, pos, f"invalid dateTime '{s}'") from None
            if not 1700 <= dt.year <= 4000:
                raise malformed(self.text, pos, f"invalid dateTime '{s}'")
            return A.DateTimeV(format_datetime(dt), pos)
        # v_literal: a relative date literal such as TODAY or LAST_N_DAYS:5
        name = s.upper()
        n_tok = t.children[1] if len(t.children) > 1 else None
        if not is_date_literal(name) or takes_n(name) != (n_tok is not None):
            raise unexpected(self.text, tok)
        n = int(str(n_tok)) if n_tok is not None else None
        if n is not None and n > _INT32_MAX:
            assert isinstance(n_tok, Token)
            raise unexpected(self.text, n_tok)
        return A.DateLit(name, n, pos)

    def unescape(self, tok: Token, like: bool) -> str:
        """Resolve the documented escapes; LIKE wildcards are resolved by like_pattern."""
        parts = self._unescape_parts(tok, like=like)
        return "".join(p if isinstance(p, str) else p[0] for p in parts)

    def like_pattern(self, tok: Any) -> A.LikePattern:
        assert isinstance(tok, Token)
        return A.LikePattern(tuple(self._unescape_parts(tok, like=True)), _pos(tok))

    def _unescape_parts(self, tok: Token, like: bool) -> list[str | tuple[str]]:
        """Literal text pieces and, in LIKE patterns, wildcard markers ``("%",)``."""
        return unescape_parts(
            str(tok)[1:-1], like=like,
            fail=lambda at, detail: malformed(self.text, self._offset_pos(tok, at), detail))

    def _offset_pos(self, tok: Token, offset: int) -> A.Pos:
        """Line/column of the character ``offset`` chars into a token (strings span lines)."""
        line, col = _pos(tok)
        for ch in str(tok)[:offset]:
            if ch == "\n":
                line, col = line + 1, 1
            else:
                col += 1
        return line, col


def unescape_parts(raw: str, *, like: bool = False,
                   fail: Callable[[int, str], Exception]) -> list[str | tuple[str]]:
    """The value of a quoted string literal's inner text ``raw``, as literal pieces and,
    with ``like``, LIKE wildcard markers ``("%",)`` / ``("_",)``.

    One implementation of the documented escapes for SOQL and SOSL strings (*SOQL and
    SOSL Reference*, "Quoted String Escape Sequences": ``\\n \\r \\t \\b \\f \\" \\'
    \\\\``, ``\\uXXXX``, and in LIKE ``\\%`` ``\\_``; "If you use a backslash character in
    any other context, an error occurs"), used by the SOQL parser and by the SOSL parser
    for Apex's ``FIND 'string'``. ``fail(index, detail)`` builds the error for a bad
    escape at character ``index`` of the literal as written (1 = just after the opening
    quote), so each caller reports it in its own layout (MALFORMED_QUERY or
    MALFORMED_SEARCH).
    """
    out: list[str | tuple[str]] = []
    buf: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            nxt = raw[i + 1] if i + 1 < len(raw) else ""
            if nxt.lower() in _ESCAPES and nxt:
                buf.append(_ESCAPES[nxt.lower()] if nxt.isalpha() else _ESCAPES[nxt])
                i += 2
                continue
            if nxt in ("u", "U") and _HEX4.fullmatch(raw[i + 2:i + 6]):
                code = int(raw[i + 2:i + 6], 16)
                if 0xD800 <= code <= 0xDFFF:
                    # UTF-16 halves: a high one followed by an escaped low one is one
                    # character (Java/Salesforce strings are UTF-16). A half on its own
                    # cannot be stored or compared (SQLite holds UTF-8), so it is
                    # MALFORMED_QUERY in the invalid-escape layout. Salesforce's answer
                    # is undocumented; this choice is the simulator's.
                    low = _low_surrogate(raw[i + 6:i + 12]) if code < 0xDC00 else None
                    if low is not None:
                        buf.append(chr(0x10000 + ((code - 0xD800) << 10) + low - 0xDC00))
                        i += 12
                        continue
                    raise fail(i + 1, f"Invalid string literal '{raw}'. Illegal character "
                                    f"sequence '{raw[i:i + 6]}' in string literal.")
                buf.append(chr(code))
                i += 6
                continue
            if like and nxt in ("%", "_"):
                buf.append(nxt)
                i += 2
                continue
            seq = raw[i:i + 2]
            raise fail(i + 1, f"Invalid string literal '{raw}'. Illegal character "
                              f"sequence '{seq}' in string literal.")
        if like and ch in "%_":
            if buf:
                out.append("".join(buf))
                buf = []
            out.append((ch,))
        else:
            buf.append(ch)
        i += 1
    if buf:
        out.append("".join(buf))
    return out


def unescape(raw: str, fail: Callable[[int, str], Exception]) -> str:
    """The value of a quoted string literal's inner text (no LIKE wildcards): see
    :func:`unescape_parts`."""
    return "".join(p if isinstance(p, str) else p[0]
                   for p in unescape_parts(raw, like=False, fail=fail))


def _no_literals(text: str, args: list[Tree]) -> None:
    """A literal where a function takes fields is the unexpected token (as before the
    grammar accepted literal arguments for DISTANCE/GEOLOCATION)."""
    for a in args:
        if a.data == "lit_arg":
            tok = a.children[0]
            assert isinstance(tok, Token)
            raise unexpected(text, tok)


def _tree_pos(t: Tree) -> A.Pos:
    """Position of a subtree's first token."""
    for tok in t.scan_values(lambda v: isinstance(v, Token)):
        return _pos(tok)
    return (1, 1)


def _low_surrogate(esc: str) -> int | None:
    """The code of ``esc`` when it is an escaped low surrogate ``\\uDC00``..``\\uDFFF``."""
    if len(esc) != 6 or esc[0] != "\\" or esc[1] not in "uU" or not _HEX4.fullmatch(esc[2:]):
        return None
    code = int(esc[2:], 16)
    return code if 0xDC00 <= code <= 0xDFFF else None


def _number(s: str) -> int | float:
    if "." in s or len(s.lstrip("+-").lstrip("0")) > 19:
        # Past 64 bits a literal is a double anyway; int() also refuses past 4,300 digits.
        return float(s)
    n = int(s)
    # SQLite integers are 64-bit; larger literals are compared as doubles.
    return n if -(2**63) < n < 2**63 else float(n)
