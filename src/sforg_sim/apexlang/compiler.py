"""Checker and compiler: a parse tree -> Python source -> code objects, once per deploy.

Every Apex class becomes a Python class, every method a Python function; statements and
expressions become Python statements and expressions, calling :mod:`.runtime` helpers only
where Apex and Python differ (``==`` on Strings, 32-bit Integers, null rules). Nothing
walks the tree at run time. Static types (Apex is statically typed) choose the code: an
``Integer + Integer`` is inline Python arithmetic wrapped to 32 bits, a ``String`` method
call goes straight to its library function, an ``Object`` receiver is dispatched at run
time.

Compile errors (:class:`~.errors.ApexCompileError`, with line and column), worded as the
Apex compiler words them where known (messages seen in deploy results; not in the
Apex Developer Guide): ``Variable does not exist: x``, ``Illegal assignment from String
to Integer``, ``Invalid type: Foo``, ``Method does not exist or incorrect signature:
...``, ``Missing return statement required return type: Integer``, and ``Not supported by
sforg-sim: ...`` for every construct this runtime does not run. Inline SOQL and SOSL are
compiled against the org's schema here too, as a deploy does (:mod:`.querycheck`): a
query error is a compile error at the query's ``[``.

Name mangling in generated code: locals ``l_<name>``, fields ``f_<name>``, statics
``s_<name>``, methods ``m_<name>_<arity>``, constructors ``c_<arity>``, classes
``C_<name>`` (all lower case: Apex names are case-insensitive). A method overloaded with
the same number of parameters gets ``m_<name>_<arity>__<parameter types>`` for every
overload but one (``__`` cannot occur in an Apex name), and an override takes the name
of the method it overrides (:meth:`Compiler.name_methods`); calls pick the overload from
the arguments' static types (:meth:`Compiler.pick`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lark import Token, Tree

from ..errors import SalesforceError
from ..sosl import parse as parse_sosl
from .errors import ApexCompileError
from .jsontyped import JSON_TOKENS
from .parser import parse_expression
from .querycheck import QueryPlanner, object_problem, relocate, soql_problem, sosl_problem
from .runtime import TICK_EVERY
from .soqltext import split_mapped, split_soql
from .stdlib import (
    BUILTIN_CLASSES,
    DATABASE_DML,
    DISPLAY_TYPES,
    INSTANCE,
    NOT_MODELLED,
    ROUNDING_MODES,
    STATIC,
)
from .values import BUILTIN_EXCEPTIONS

__all__ = ["ClassInfo", "Compiler", "split_soql"]

_COLLECTIONS = frozenset({"list", "set", "map"})

Node = Any
"""A lark Tree or Token (lark's own types are too loose for mypy to follow)."""

PRIMITIVES = {"integer", "long", "decimal", "double", "string", "boolean", "id", "date",
              "datetime", "time", "blob"}
NUMERIC = {"integer": 0, "long": 1, "decimal": 2, "double": 3}
_WIDEN = {("integer", "long"), ("integer", "decimal"), ("integer", "double"),
          ("long", "decimal"), ("long", "double"), ("decimal", "double"),
          ("double", "decimal"), ("id", "string"), ("string", "id")}
_INTERFACES = {"queueable": "_ApexQueueable", "schedulable": "_ApexSchedulable",
               "database.batchable": "_ApexBatchable", "database.stateful": "_ApexStateful"}
_IGNORED_INTERFACES = {"database.allowscallouts", "comparable", "database.raisesplatformevents"}
_FIELD_TYPES = {"string": "String", "textarea": "String", "picklist": "String",
                "email": "String", "phone": "String", "url": "String", "combobox": "String",
                "id": "Id", "reference": "Id", "int": "Integer", "double": "Decimal",
                "currency": "Decimal", "percent": "Decimal", "date": "Date",
                "datetime": "Datetime", "boolean": "Boolean"}
_STATIC_NS = set(STATIC) | {"logginglevel", "system"}
_CONTEXT_TYPES = {"queueablecontext", "system.queueablecontext", "schedulablecontext",
                  "system.schedulablecontext", "database.batchablecontext"}
_FAMILY = {"string": "text", "id": "text", "integer": "number", "long": "number",
           "decimal": "number", "double": "number", "boolean": "boolean", "date": "date",
           "datetime": "datetime", "time": "time", "blob": "blob"}
"""Primitive families for the collection element check (:meth:`Compiler.incompatible`)."""
_ELEMENT_ARGS = {("list", "add"): {1: [0], 2: [1]}, ("list", "set"): {2: [1]},
                 ("set", "add"): {1: [0]}, ("map", "put"): {2: [0, 1]}}
"""Collection methods whose arguments must fit the element type: (type, method) ->
{arity: indexes of the arguments that are elements} (for a Map: key, value)."""
_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$|^-?\d+$")


def _primitive_data(t: str) -> bool:
    """A primitive type, or a List/Set/Map of them (what a ``@future`` method takes)."""
    b = base(t)
    if b in ("list", "set", "map"):
        return all(_primitive_data(a) for a in targs(t)) and bool(targs(t))
    return b in PRIMITIVES


def base(t: str) -> str:
    """The lower-case base of a type (``list`` for ``List<String>``)."""
    return t.split("<", 1)[0].strip().lower()


def _same_type(a: str, b: str) -> bool:
    """Whether two type texts name the same type, type arguments included
    (``List<String>`` vs ``list< string >``): case and spacing do not count, as Apex
    names are case-insensitive."""
    return re.sub(r"\s+", "", a).lower() == re.sub(r"\s+", "", b).lower()


def targs(t: str) -> list[str]:
    """Type arguments of ``Map<String, List<Integer>>`` -> ``['String', 'List<Integer>']``."""
    if "<" not in t:
        return []
    inner = t[t.index("<") + 1: t.rindex(">")]
    out, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def _pos(node: Any) -> tuple[int, int]:
    if isinstance(node, Token):
        return node.line or 1, node.column or 1
    meta = getattr(node, "meta", None)
    if meta is not None and not getattr(meta, "empty", True):
        return meta.line, meta.column
    if isinstance(node, Tree):
        for c in node.children:
            p = _pos(c)
            if p != (1, 1):
                return p
    return 1, 1


def _start(node: Any) -> tuple[int, int]:
    """The position of ``node``'s first token (``_pos`` passes over a child at line 1,
    column 1 as if it had no position; a statement starting there is reported there)."""
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, Token):
            if n.line:
                return n.line, n.column or 1
        elif isinstance(n, Tree):
            todo.extend(reversed(n.children))
    return _pos(node)


def err(node: Any, problem: str) -> ApexCompileError:
    """A compile error at ``node``'s position."""
    line, col = _pos(node)
    return ApexCompileError(problem, line, col)


def unsupported(node: Any, what: str) -> ApexCompileError:
    """``Not supported by sforg-sim: what`` at ``node``."""
    return err(node, f"Not supported by sforg-sim: {what}")


@dataclass
class Member:
    """A field or method of a compiled class."""

    name: str
    type: str
    static: bool
    owner: ClassInfo
    params: list[str] = field(default_factory=list)
    pyname: str = ""
    """The generated Python name (methods: see the module docstring)."""
    decl: Any = None
    """The declaration's parse tree (to find the Member of a method being compiled)."""
    future: str | None = None
    """A ``@future`` method: 'callout' (``callout=true``) or 'plain'; None otherwise."""

    def sig(self) -> tuple[str, ...]:
        """The parameter types, normalised: what an override must repeat."""
        return tuple(p.replace(" ", "").lower() for p in self.params)


@dataclass
class ClassInfo:
    """What the checker knows of one class before its bodies are compiled."""

    name: str
    pyname: str
    kind: str  # class | interface | enum
    tree: Node
    outer: ClassInfo | None = None
    extends: str | None = None
    implements: list[str] = field(default_factory=list)
    fields: dict[str, Member] = field(default_factory=dict)
    methods: dict[str, dict[int, list[Member]]] = field(default_factory=dict)
    ctors: set[int] = field(default_factory=set)
    ctor_members: list[Member] = field(default_factory=list)
    """The constructors, in declaration order (``pyname`` ``c_<arity>`` for the first of
    an arity, ``c_<arity>__<types>`` for other overloads of that arity)."""
    inner: dict[str, ClassInfo] = field(default_factory=dict)
    enum_values: list[str] = field(default_factory=list)
    superclass: ClassInfo | None = None
    is_exception: bool = False
    linked: bool = False
    """:meth:`Compiler.link` has run (it runs once, on first need)."""

    def chain(self) -> Iterator[ClassInfo]:
        """This class and its superclasses."""
        c: ClassInfo | None = self
        while c is not None:
            yield c
            c = c.superclass

    def find_field(self, low: str) -> Member | None:
        """A field or property by lower-case name, inherited ones included."""
        for c in self.chain():
            if low in c.fields:
                return c.fields[low]
        return None

    def find_method(self, low: str, arity: int) -> Member | None:
        """A method by lower-case name and arity, inherited ones included (the first
        overload declared, when several share the arity: see :meth:`find_methods`)."""
        ms = self.find_methods(low, arity)
        return ms[0] if ms else None

    def find_methods(self, low: str, arity: int) -> list[Member]:
        """Every overload of that name and arity this class has, its own and inherited,
        an overridden method only once (the override)."""
        out: list[Member] = []
        seen: set[tuple[str, ...]] = set()
        for c in self.chain():
            for m in c.methods.get(low, {}).get(arity, []):
                if m.sig() not in seen:
                    seen.add(m.sig())
                    out.append(m)
        return out


def _mods(tree: Node) -> set[str]:
    out = set()
    for m in tree.children:
        if isinstance(m, Tree) and m.data == "modifier":
            c = m.children[0]
            if isinstance(c, Token):
                out.add(c.value.lower())
            elif isinstance(c, Tree) and c.data == "sharing_mod":
                out.add(_text(c.children[0]).lower() + " sharing")
            elif isinstance(c, Tree) and c.data == "annotation":
                out.add("@" + _text(c.children[0]).lower())
    return out


def _annotations(tree: Node) -> list[Node]:
    return [m.children[0] for m in tree.children if isinstance(m, Tree)
            and m.data == "modifier" and isinstance(m.children[0], Tree)
            and m.children[0].data == "annotation"]


_OK_ANNOTATIONS = {"istest", "testvisible", "suppresswarnings", "deprecated", "readonly",
                   "testsetup", "namespaceaccessible"}


_FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)


def _top_level(soql: str) -> str:
    """``soql`` with string literals and everything inside parentheses blanked out (same
    length), so the main query's FROM and select list are found, not a child
    relationship subquery's (``SELECT Name, (SELECT LastName FROM Contacts) FROM
    Account``) or a semi-join's."""
    out, depth, quote = [], 0, False
    i = 0
    while i < len(soql):
        ch = soql[i]
        if quote:
            if ch == "\\":
                out.append("  ")
                i += 2
                continue
            quote = ch != "'"
            out.append(" ")
        elif ch == "'":
            quote = True
            out.append(" ")
        elif ch == "(":
            depth += 1
            out.append("(" if depth == 1 else " ")
        elif ch == ")":
            depth = max(depth - 1, 0)
            out.append(")" if depth == 0 else " ")
        else:
            out.append(ch if depth == 0 else " ")
        i += 1
    return "".join(out)


_AGG = re.compile(r"\b(?:COUNT|SUM|AVG|MIN|MAX|COUNT_DISTINCT)\s*\(|\bGROUP\s+BY\b",
                  re.IGNORECASE)


# --- code generation ------------------------------------------------------------------------

_PRELUDE = ("from sforg_sim.apexlang.runtime import CALLS as _CT, cpu_tick as _tick; "
            "from sforg_sim.apexlang.jobs import call_future as _future; "
            "from sforg_sim.apexlang.jsontyped import JSON_TOKENS as _JT")
"""The first line of every generated module: the Apex CPU meter's hooks (see
:func:`Compiler.loop_tick` and :mod:`.runtime`) and the ``@future`` call
(:func:`.jobs.call_future`), imported by the generated code itself so the namespace the
runtime builds needs no entry for them."""

_TICK_MASK = TICK_EVERY - 1
assert TICK_EVERY & _TICK_MASK == 0, "TICK_EVERY must be a power of two"


class _Emitter:
    def __init__(self) -> None:
        self.lines: list[str] = [_PRELUDE]
        self.where: list[tuple[int, int]] = [(1, 1)]
        self.indent = 0
        self.pos = (1, 1)

    def emit(self, text: str, pos: tuple[int, int] | None = None) -> None:
        self.lines.append("    " * self.indent + text)
        self.where.append(pos or self.pos)


@dataclass
class _Loop:
    kind: str
    cont: list[str] = field(default_factory=list)


@dataclass
class _Scope:
    cls: ClassInfo | None
    static: bool
    vars: list[dict[str, str]] = field(default_factory=lambda: [{}])
    loops: list[_Loop] = field(default_factory=list)
    tmp: int = 0
    return_type: str = "void"


class Compiler:
    """Compiles classes (``.cls``) and anonymous blocks against one org's schema and the
    classes already deployed (``known``)."""

    def __init__(self, schema: Any, known: dict[str, ClassInfo],
                 queries: QueryPlanner | None = None) -> None:
        self.schema = schema
        self.known = known
        self.queries = queries
        """The org's SOQL engine, to compile inline SOQL/SOSL at compile time as a deploy
        does (:mod:`.querycheck`); None: queries are checked only when they run."""
        self.e = _Emitter()
        self.sc: _Scope = _Scope(None, True)
        self.local: list[ClassInfo] = []
        """Classes declared inside the anonymous block being compiled (not deployed):
        ``Type.forName`` must see them too."""

    # --- declarations ---------------------------------------------------------------------

    def declare(self, tree: Node, outer: ClassInfo | None = None) -> ClassInfo:
        """Collect a type declaration's members (first pass of a deploy)."""
        kind = {"class_decl": "class", "interface_decl": "interface",
                "enum_decl": "enum", "class_core": "class"}[tree.data]
        core = tree.children[1] if tree.data == "class_decl" else tree
        if kind == "class":
            name_tok = core.children[1]
        else:
            name_tok = next(c for c in tree.children if isinstance(c, Token) and c.type == "NAME")
        if tree.data != "class_core":
            for a in _annotations(tree.children[0]):
                if a.children[0].value.lower() not in _OK_ANNOTATIONS:
                    raise unsupported(a, f"annotation @{a.children[0].value}")
        name = name_tok.value
        py = ("C_" + (outer.pyname[2:] + "_" if outer else "") + name.lower())
        info = ClassInfo(name if outer is None else f"{outer.name}.{name}", py, kind, tree,
                         outer)
        if tree.data == "class_core" and outer is None:
            self.local.append(info)  # a class of an anonymous block (deploys: class_decl)
        if kind == "enum":
            # The NAME tokens after the enum's own name (which is NAME too).
            info.enum_values = [c.value for c in tree.children
                                if isinstance(c, Token) and c.type == "NAME"
                                and c is not name_tok]
            return info
        body: list[Any]
        if kind == "class":
            for c in core.children[2:]:
                if isinstance(c, Tree) and c.data == "extends_clause":
                    info.extends = self._type_text(c.children[1])
                elif isinstance(c, Tree) and c.data == "implements_clause":
                    info.implements = [self._type_text(t) for t in c.children[1:]]
            body = [c for c in core.children[2:] if isinstance(c, Tree)
                    and c.data not in ("extends_clause", "implements_clause")]
        else:
            body = [c for c in tree.children if isinstance(c, Tree)
                    and c.data not in ("mods", "type")]
        info.is_exception = info.name.lower().endswith("exception")
        for m in body:
            self._declare_member(info, m)
        return info

    def _declare_member(self, info: ClassInfo, m: Node) -> None:
        if m.data in ("class_decl", "interface_decl", "enum_decl"):
            inner = self.declare(m, info)
            info.inner[inner.name.rsplit(".", 1)[-1].lower()] = inner
            return
        mods = _mods(m.children[0]) if m.children and isinstance(m.children[0], Tree) \
            and m.children[0].data == "mods" else set()
        future: Node | None = None
        for a in _annotations(m.children[0]) if m.children and isinstance(
                m.children[0], Tree) and m.children[0].data == "mods" else []:
            if a.children[0].value.lower() == "future" and m.data == "method_decl":
                future = a
            elif a.children[0].value.lower() not in _OK_ANNOTATIONS:
                raise unsupported(a, f"annotation @{a.children[0].value}")
        static = "static" in mods
        if m.data == "field_decl":
            t = self._type_text(m.children[1])
            for d in m.children[2:]:
                low = d.children[0].value.lower()
                info.fields[low] = Member(d.children[0].value, t, static, info)
        elif m.data == "prop_decl":
            t = self._type_text(m.children[1])
            for acc in m.children[3:]:
                if len(acc.children) > 2:
                    raise unsupported(acc, "property accessors with a body")
            info.fields[m.children[2].value.lower()] = Member(m.children[2].value, t, static,
                                                              info)
        elif m.data == "method_decl":
            t = self._type_text(m.children[1])
            params = self._params(m)
            low = m.children[2].value.lower()
            arity = len(params)
            member = Member(m.children[2].value, t, static, info, [p[0] for p in params],
                            decl=m)
            if future is not None:
                member.future = self._future_kind(future, member, static)
            same = info.methods.setdefault(low, {}).setdefault(arity, [])
            if any(o.sig() == member.sig() for o in same):
                raise err(m.children[2], f"Method already defined: {t} {m.children[2].value}("
                                         f"{', '.join(p[0] for p in params)})")
            same.append(member)
        elif m.data == "ctor_decl":
            if m.children[1].value.lower() != info.name.rsplit(".", 1)[-1].lower():
                raise err(m.children[1], "Invalid constructor name: " + m.children[1].value)
            params = self._params(m)
            n = len(params)
            member = Member("<init>", info.name, False, info, [p[0] for p in params], decl=m)
            same = [c for c in info.ctor_members if len(c.params) == n]
            if any(c.sig() == member.sig() for c in same):
                raise err(m.children[1], f"Constructor already defined: {info.name}("
                                         f"{', '.join(p[0] for p in params)})")
            member.pyname = f"c_{n}" if not same else \
                f"c_{n}__{re.sub(r'[^a-z0-9]+', '_', '_'.join(member.sig()))}"
            info.ctor_members.append(member)
            info.ctors.add(n)

    def _future_kind(self, a: Node, member: Member, static: bool) -> str:
        """Check a ``@future`` method ("Future Methods": "must be static methods, and can
        only return a void type. The specified parameters must be primitive data types,
        arrays of primitive data types, or collections of primitive data types"; the
        compile errors' wordings are sforg-sim's) and read ``callout=true``: 'callout'
        or 'plain'."""
        name = member.decl.children[2]
        if not static:
            raise err(name, "Future methods must be static")
        if base(member.type) != "void":
            raise err(name, "Future methods must return void")
        for t in member.params:
            if not _primitive_data(t):
                raise err(name, f"Unsupported parameter type {t}")
        kind = "plain"
        for arg in a.children[1:]:
            kids = list(arg.children)
            key = kids[0].value.lower() if len(kids) == 2 else ""
            lit: Any = kids[-1].children[0] if isinstance(kids[-1], Tree) else kids[-1]
            if key != "callout" or lit.type not in ("TRUE", "FALSE"):
                raise unsupported(arg, "@future arguments other than callout=true|false")
            kind = "callout" if lit.type == "TRUE" else "plain"
        return kind

    def _params(self, m: Node) -> list[tuple[str, str]]:
        ps = next((c for c in m.children if isinstance(c, Tree) and c.data == "params"), None)
        out = []
        for p in ps.children if ps else []:
            kids = [c for c in p.children if not (isinstance(c, Token) and c.type == "FINAL")]
            out.append((self._type_text(kids[0]), _text(kids[1])))
        return out

    def _type_text(self, t: Node) -> str:
        """A type node as text (``List<String>``, ``String[]`` -> ``List<String>``)."""
        if t.data == "type_nd":
            t = Tree("type", t.children)
        name = ".".join(tok.value for tok in t.children[0].children)
        args = next((c for c in t.children if isinstance(c, Tree) and c.data == "type_args"),
                    None)
        text = name
        if args is not None:
            text += "<" + ",".join(self._type_text(a) for a in args.children
                                   if isinstance(a, Tree)) + ">"
        dims = next((c for c in t.children if isinstance(c, Tree) and c.data == "dims"), None)
        if dims is not None:
            for _ in range(max(1, len(dims.children) // 2 or 1)):
                text = f"List<{text}>"
        return text

    def link(self, info: ClassInfo) -> None:
        """Resolve superclasses once every class of the deploy is declared, qualify member
        types and name methods. Runs once per class; :meth:`find_class` runs it for a
        class it returns, so a class's members are ready whichever class compiles first."""
        if info.linked:
            return
        info.linked = True
        if info.extends:
            low = info.extends.lower()
            if low == "exception":
                info.is_exception = True
            else:
                sup = self.find_class(info.extends, info)
                if sup is None:
                    raise err(info.tree, f"Invalid type: {info.extends}")
                info.superclass = sup
                info.is_exception = info.is_exception or sup.is_exception
        for iface in info.implements:
            b = base(iface)
            if b not in _INTERFACES and b not in _IGNORED_INTERFACES \
                    and self.find_class(iface, info) is None:
                raise err(info.tree, f"Invalid type: {iface}")
        self._qualify_members(info)
        self.name_methods(info)
        for inner in info.inner.values():
            self.link(inner)

    def name_methods(self, info: ClassInfo) -> None:
        """Give every method of ``info`` its Python name (module docstring): an override
        (same name and parameter types as a method of a superclass or implemented
        interface) takes that method's name, so Python's dispatch is Apex's; any other
        method takes ``m_<name>_<arity>`` unless a superclass, interface or earlier
        overload holds it, else ``m_<name>_<arity>__<types>``. Methods taking a
        QueueableContext, SchedulableContext or BatchableContext are named first, so the
        engine's entry points (``m_execute_1`` ...) are always those."""
        ancestors: list[ClassInfo] = []
        c = info.superclass
        while c is not None:
            ancestors.append(c)
            c = c.superclass
        for anc in [info, *ancestors]:
            for iface in anc.implements:
                if base(iface) not in _INTERFACES and base(iface) not in _IGNORED_INTERFACES:
                    found = self.find_class(iface, anc)
                    if found is not None and found not in ancestors:
                        ancestors.append(found)
        used = {m.pyname for a in ancestors for by_arity in a.methods.values()
                for ms in by_arity.values() for m in ms}
        mine = [m for by_arity in info.methods.values() for ms in by_arity.values()
                for m in ms]
        mine.sort(key=lambda m: not (m.params and base(m.params[0]) in _CONTEXT_TYPES))
        for m in mine:
            low, arity = m.name.lower(), len(m.params)
            inherited = next((a for anc in ancestors
                              for a in anc.methods.get(low, {}).get(arity, [])
                              if a.sig() == m.sig() and a.pyname), None)
            if inherited is not None:
                m.pyname = inherited.pyname
            else:
                plain = f"m_{low}_{arity}"
                name = plain
                if name in used:
                    name = f"{plain}__{re.sub(r'[^a-z0-9]+', '_', '_'.join(m.sig()))}"
                    k = 1
                    while name in used:
                        k += 1
                        name = f"{plain}__{k}"
                m.pyname = name
            used.add(m.pyname)

    def pick(self, cands: list[Member], args: list[tuple[str, str]], meth: Node,
             owner: str, missing: Callable[[], ApexCompileError] | None = None) -> Member:
        """The overload a call means, from the arguments' static types, as the Apex
        compiler chooses ("Apex Developer Guide", *Class Methods*, "Can be overloaded ...
        If the parser doesn't find an exact match, it then seeks an approximate match
        using type coercion rules ... If the parser finds multiple approximate matches, a
        parse-time exception is generated",
        https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_classes_defining_methods.htm):
        the one overload there is; else among those every argument fits, the one whose
        parameters all match exactly, else the most specific (its parameters fit every
        other candidate's). None fits: ``Method does not exist or
        incorrect signature``; no single most specific: ``Ambiguous method signature:
        void name(types)`` (the wording a deploy reports, e.g. in
        github.com/apex-enterprise-patterns/fflib-apex-common/issues/347; not in the
        Apex Developer Guide)."""
        def none() -> ApexCompileError:
            return missing() if missing is not None else self._no_method(meth, args, owner)

        if not cands:
            raise none()
        if len(cands) == 1:
            return cands[0]
        fits = [m for m in cands if all(self.fits(t, p) for (_, t), p in zip(args, m.params))]
        if not fits:
            raise none()
        # Exact means the whole type, element types included: ``List<String>`` is an
        # exact match for ``m(List<String>)`` and not for ``m(List<Object>)``.
        exact = [m for m in fits if all(_same_type(t, p) for (_, t), p in zip(args, m.params))]
        if len(exact) == 1:
            return exact[0]
        # Specificity is directional for collections (List<String> fits List<Object>,
        # not the reverse), so the narrower overload wins.
        best = [m for m in fits if all(o is m or all(self.fits(a, b, directional=True)
                                                     for a, b in zip(m.params, o.params))
                                       for o in fits)]
        if len(best) != 1:
            name = meth.value if isinstance(meth, Token) else f"{owner}.<Constructor>"
            raise err(meth, f"Ambiguous method signature: void {name}("
                            f"{', '.join(t for _, t in args)})")
        return best[0]

    def fits(self, frm: str, to: str, directional: bool = False) -> bool:
        """Whether an argument of static type ``frm`` can be passed as a ``to``, for
        choosing among overloads: the same type, null, anything to Object, numeric
        widening and String/Id, an sObject to SObject, a class to its superclasses and
        interfaces, a collection whose elements fit.

        ``directional`` is for ranking overloads by specificity: collections then
        compare their element types with ``fits`` itself (``List<String>`` fits
        ``List<Object>``, ``List<Object>`` does not fit ``List<String>``); without it a
        collection fits unless ``incompatible`` proves it never can (lenient, so no
        valid call is refused)."""
        bf, bt = base(frm), base(to)
        if bt == "object" or bf == "null":
            return True
        if bf == bt:
            if bf not in ("list", "set", "map"):
                return True
            if directional:
                fa, ta = targs(frm), targs(to)
                return len(fa) == len(ta) and all(
                    self.fits(a, b, directional=True) for a, b in zip(fa, ta))
            return not self.incompatible(frm, to)
        if (bf, bt) in _WIDEN:
            return True
        if bt == "sobject":
            return bf in self.schema_names()
        c = self.find_class(frm, self.sc.cls)
        target = self.find_class(to, self.sc.cls)
        if c is None or target is None:
            return False
        todo = [c]
        while todo:
            x = todo.pop()
            if x is target:
                return True
            if x.superclass is not None:
                todo.append(x.superclass)
            todo.extend(i for i in (self.find_class(n, x) for n in x.implements)
                        if i is not None)
        return False

    def _qualify_members(self, info: ClassInfo) -> None:
        """Write the declared types of ``info``'s fields, method results and parameters
        as the declaring class's scope resolves them (``Inner`` in class ``Outer`` becomes
        ``Outer.Inner``), so code elsewhere (an anonymous block, another class) that
        reaches the member through a chain (``x.field.method()``) finds the same type."""
        for f in info.fields.values():
            f.type = self.qualify(f.type, info)
        for by_arity in info.methods.values():
            for ms in by_arity.values():
                for m in ms:
                    m.type = self.qualify(m.type, info)
                    m.params = [self.qualify(t, info) for t in m.params]

    def qualify(self, t: str, scope: ClassInfo | None) -> str:
        """``t`` with every user class named by its full name, as seen from ``scope``
        (type arguments too); other names are left as written."""
        b = base(t)
        args = targs(t)
        if args:
            head = t.split("<", 1)[0].strip()
            return f"{head}<{','.join(self.qualify(a, scope) for a in args)}>"
        if b in PRIMITIVES or b in ("object", "void", "sobject"):
            return t
        c = self.find_class(t, scope)
        return c.name if c is not None else t

    def find_class(self, name: str, ctx: ClassInfo | None = None) -> ClassInfo | None:
        """A user class by (possibly dotted) name, seen from class ``ctx``."""
        parts = name.lower().split(".")
        c = ctx
        while c is not None:
            if parts[0] in c.inner:
                found: ClassInfo | None = c.inner[parts[0]]
                for p in parts[1:]:
                    found = found.inner.get(p) if found else None
                if found is not None:
                    if not found.linked:
                        self._link_quietly(found)
                    return found
            if c.name.lower() == parts[0] and len(parts) == 1:
                return c
            c = c.outer
        top = self.known.get(parts[0])
        for p in parts[1:]:
            top = top.inner.get(p) if top else None
        if top is not None and not top.linked:
            self._link_quietly(top)
        return top

    def _link_quietly(self, info: ClassInfo) -> None:
        """Link a class another one needs before its own turn; a problem of its own is
        reported when it compiles, at its own position."""
        try:
            self.link(info)
        except ApexCompileError:
            info.linked = False

    def check_type(self, t: str, node: Any) -> str:
        """``Invalid type: X`` unless ``t`` names a known type."""
        b = base(t)
        for a in targs(t):
            self.check_type(a, node)
        if b in PRIMITIVES or b in ("object", "void", "list", "set", "map", "sobject",
                                    "aggregateresult", "exception") \
                or b in BUILTIN_CLASSES or b in BUILTIN_EXCEPTIONS or b in _INTERFACES \
                or b in _IGNORED_INTERFACES or b.removeprefix("system.") in BUILTIN_EXCEPTIONS:
            return t
        if b in self.schema:
            return self.schema.get(b).name
        if self.find_class(t, self.sc.cls) is not None:
            return t
        if b in ("database.batchablecontext", "system.logginglevel", "logginglevel",
                 "jsontoken", "system.jsontoken",
                 "iterable", "iterator", "type", "roundingmode", "system.roundingmode",
                 "displaytype", "schema.displaytype"):
            return t
        raise err(node, f"Invalid type: {t}")

    # --- classes ------------------------------------------------------------------------------

    def compile_class(self, info: ClassInfo) -> None:
        """Emit one class (and its inner classes) as Python."""
        e = self.e
        for inner in info.inner.values():
            self.compile_class(inner)
        e.pos = _pos(info.tree)
        if info.kind == "enum":
            e.emit(f"class {info.pyname}(_EnumBase):")
            e.indent += 1
            e.emit(f"apex_type = {info.name!r}")
            items = ", ".join(f"_Enum({info.name!r}, {v!r}, {i})"
                              for i, v in enumerate(info.enum_values))
            e.emit(f"e_values = [{items}]")
            for i, v in enumerate(info.enum_values):
                e.emit(f"e_{v.lower()} = e_values[{i}]")
            e.indent -= 1
            return
        bases = []
        if info.superclass is not None:
            bases.append(info.superclass.pyname)
        elif info.is_exception:
            bases.append("_ApexException")
        for iface in info.implements:
            b = base(iface)
            if b in _INTERFACES:
                bases.append(_INTERFACES[b])
            elif b not in _IGNORED_INTERFACES:
                c = self.find_class(iface, info)
                if c is not None:
                    bases.append(c.pyname)
        if not bases:
            bases.append("_ApexObject")
        e.emit(f"class {info.pyname}({', '.join(dict.fromkeys(bases))}):")
        e.indent += 1
        e.emit(f"apex_type = {info.name!r}")
        e.emit(f"apex_class_name = {info.name!r}")
        if info.is_exception:
            e.emit(f"error_code = {info.name!r}")
        if info.kind == "interface":
            e.emit("pass")
            e.indent -= 1
            return
        core = info.tree.children[1] if info.tree.data == "class_decl" else info.tree
        members = [c for c in core.children[2:] if isinstance(c, Tree)
                   and c.data not in ("extends_clause", "implements_clause")]
        # static initialisation (run at the start of every transaction)
        e.emit("@classmethod")
        e.emit("def _si(cls):")
        e.indent += 1
        e.emit("pass")
        self.sc = _Scope(info, True)
        for m in members:
            if m.data in ("field_decl", "prop_decl") and "static" in _mods(m.children[0]):
                self._field_init(info, m, "cls.s_")
            elif m.data == "init_block" and "static" in _mods(m.children[0]):
                self.block(m.children[1])
        e.indent -= 1
        # instance field initialisers
        e.emit("def _fi(self):")
        e.indent += 1
        if info.superclass is not None:
            e.emit(f"{info.superclass.pyname}._fi(self)")
        elif info.is_exception:
            e.emit("_ApexException.__init__(self, None)")
        e.emit("pass")
        self.sc = _Scope(info, False)
        for m in members:
            if m.data in ("field_decl", "prop_decl") and "static" not in _mods(m.children[0]):
                self._field_init(info, m, "self.f_")
            elif m.data == "init_block" and "static" not in _mods(m.children[0]):
                self.block(m.children[1])
        e.indent -= 1
        self._json_fields(info, members)
        for m in members:
            if m.data == "method_decl":
                self._method(info, m)
            elif m.data == "ctor_decl":
                self._ctor(info, m)
        arities = set(info.ctors) or {0}
        if info.is_exception and not info.ctors:
            arities = {0, 1, 2}
        for n in sorted(arities):
            ps = ", ".join(f"a{i}" for i in range(n))
            e.emit("@classmethod")
            e.emit(f"def _mk{n}(cls{', ' if n else ''}{ps}):")
            e.indent += 1
            e.emit("o = cls.__new__(cls)")
            e.emit("o._fi()")
            if n in info.ctors:
                e.emit(f"o.c_{n}({ps})")
            elif info.is_exception and n >= 1:
                e.emit("o.apex_message = a0 if isinstance(a0, str) or a0 is None else None")
                e.emit("o.message = o.apex_message or ''")
                e.emit("o.cause = a0 if not isinstance(a0, str) else "
                       + ("a1" if n == 2 else "None"))
            elif info.superclass is not None and 0 in info.superclass.ctors:
                e.emit("o.c_0()")
            e.emit("return o")
            e.indent -= 1
        for ctor in info.ctor_members:
            if ctor.pyname == f"c_{len(ctor.params)}":
                continue
            # another constructor of the same arity: its own factory
            ps = ", ".join(f"a{i}" for i in range(len(ctor.params)))
            e.emit("@classmethod")
            e.emit(f"def _mk{ctor.pyname[2:]}(cls, {ps}):")
            e.indent += 1
            e.emit("o = cls.__new__(cls)")
            e.emit("o._fi()")
            e.emit(f"o.{ctor.pyname}({ps})")
            e.emit("return o")
            e.indent -= 1
        e.indent -= 1

    def _json_fields(self, info: ClassInfo, members: list[Node]) -> None:
        """``_jf()``: the instance fields (lower-case name, declared name, type) in
        declaration order, superclass first: what JSON.serialize writes and
        JSON.deserialize fills."""
        e = self.e
        self.sc = _Scope(info, False)
        items = []
        for m in members:
            if m.data not in ("field_decl", "prop_decl") or "static" in _mods(m.children[0]):
                continue
            t = self._type_text(m.children[1])
            names = [m.children[2]] if m.data == "prop_decl" else \
                [d.children[0] for d in m.children[2:]]
            for n in names:
                items.append(f"({n.value.lower()!r}, {n.value!r}, "
                             f"{self.type_expr(t, n, lenient=True)})")
        sup = f"*{info.superclass.pyname}._jf(), " if info.superclass is not None else ""
        e.emit("@classmethod")
        e.emit("def _jf(cls):")
        e.indent += 1
        e.emit(f"return [{sup}{', '.join(items)}]")
        e.indent -= 1

    def _field_init(self, info: ClassInfo, m: Node, prefix: str) -> None:
        t = self.check_type(self._type_text(m.children[1]), m.children[1])
        if m.data == "prop_decl":
            self.e.pos = _pos(m.children[2])
            self.e.emit(f"{prefix}{m.children[2].value.lower()} = None")
            return
        for d in m.children[2:]:
            self.e.pos = _pos(d)
            low = d.children[0].value.lower()
            if len(d.children) > 1:
                code, et = self.expr(d.children[1])
                code = self.coerce(code, et, t, d.children[1])
            else:
                code = "None"
            self.e.emit(f"{prefix}{low} = {code}")

    def _method(self, info: ClassInfo, m: Node) -> None:
        mods = _mods(m.children[0])
        rt = self.check_type(self._type_text(m.children[1]), m.children[1])
        params = self._params(m)
        blk = m.children[-1] if isinstance(m.children[-1], Tree) and \
            m.children[-1].data == "block" else None
        low = m.children[2].value.lower()
        member = next(x for x in info.methods[low][len(params)] if x.decl is m)
        if not member.pyname:
            self.name_methods(info)
        name = member.pyname
        static = "static" in mods
        self.e.pos = _pos(m.children[2])
        if blk is None:
            if "abstract" not in mods:
                raise err(m.children[2], "Method must have a body")
            self.e.emit(f"def {name}(self, *a):")
            self.e.indent += 1
            self.e.emit("raise NotImplementedError")
            self.e.indent -= 1
            return
        self.sc = _Scope(info, static, return_type=rt)
        for t, pname in params:
            self.check_type(t, m)
            self.sc.vars[-1][pname.lower()] = t
        ps = ", ".join(f"l_{p.lower()}" for _, p in params)
        if static:
            self.e.emit("@staticmethod")
            self.e.emit(f"def {name}({ps}):")
        else:
            self.e.emit(f"def {name}(self{', ' if ps else ''}{ps}):")
        self.e.indent += 1
        self.e.emit("pass")
        self.call_tick()
        self.block_body(blk)
        if base(rt) != "void" and self._completes(blk):
            line, col = _pos(blk)
            end = blk.meta.end_line if not blk.meta.empty else line
            endc = blk.meta.end_column if not blk.meta.empty else col
            raise ApexCompileError(f"Missing return statement required return type: {rt}",
                                   end, max(1, endc - 1))
        self.e.indent -= 1

    def _ctor(self, info: ClassInfo, m: Node) -> None:
        params = self._params(m)
        blk = m.children[-1]
        self.sc = _Scope(info, False)
        for t, pname in params:
            self.check_type(t, m)
            self.sc.vars[-1][pname.lower()] = t
        ps = ", ".join(f"l_{p.lower()}" for _, p in params)
        self.e.pos = _pos(m.children[1])
        member = next(c for c in info.ctor_members if c.decl is m)
        self.e.emit(f"def {member.pyname}(self{', ' if ps else ''}{ps}):")
        self.e.indent += 1
        self.e.emit("pass")
        self.call_tick()
        stmts = blk.children
        first = stmts[0] if stmts else None
        if not (isinstance(first, Tree) and first.data in ("this_call", "super_call")) \
                and info.superclass is not None and 0 in info.superclass.ctors:
            self.e.emit(f"{info.superclass.pyname}.c_0(self)")
        self.block_body(blk)
        self.e.indent -= 1

    # --- statements ---------------------------------------------------------------------

    def call_tick(self) -> None:
        """At a method's entry: count the call; every ``TICK_EVERY`` calls (all methods
        together) the CPU meter charges the time used (recursion without loops cannot
        escape the Apex CPU limit)."""
        self.e.emit(f"if not next(_CT) & {_TICK_MASK}: _tick()")

    def loop_start(self) -> None:
        """Before a loop statement: outside any other loop of the function, start the
        function's back-edge countdown ``_k`` (nested loops share it, so an outer loop
        whose inner loop runs a few times still counts down)."""
        if not self.sc.loops:
            self.e.emit(f"_k = {TICK_EVERY}")

    def loop_tick(self) -> None:
        """The first statements of a loop body (a back-edge: ``continue`` cannot skip
        them): count down, and every ``TICK_EVERY`` iterations let the CPU meter charge
        the time used, which raises ``Apex CPU time limit exceeded`` past the limit."""
        self.e.indent += 1
        self.e.emit("_k -= 1")
        self.e.emit(f"if not _k: _k = {TICK_EVERY}; _tick()")
        self.e.indent -= 1

    def block(self, blk: Node) -> None:
        """A ``{ ... }`` block in a new variable scope."""
        self.sc.vars.append({})
        self.e.emit("pass")
        for s in blk.children:
            self.stmt(s)
        self.sc.vars.pop()

    def block_body(self, blk: Node) -> None:
        """The statements of a method body (parameters already in scope)."""
        self.sc.vars.append({})
        for s in blk.children:
            self.stmt(s)
        self.sc.vars.pop()

    def body(self, s: Node) -> None:
        """The body of a control statement, indented."""
        self.e.indent += 1
        if isinstance(s, Tree) and s.data == "block":
            self.block(s)
        else:
            self.sc.vars.append({})
            self.e.emit("pass")
            self.stmt(s)
            self.sc.vars.pop()
        self.e.indent -= 1

    def declare_local(self, name_tok: Node, t: str) -> str:
        """A new local variable (``Duplicate variable`` if it is already in scope)."""
        low = name_tok.value.lower()
        for v in self.sc.vars:
            if low in v:
                raise err(name_tok, f"Duplicate variable: {name_tok.value}")
        self.sc.vars[-1][low] = t
        return f"l_{low}"

    def stmt(self, s: Any) -> None:
        """One statement."""
        e = self.e
        e.pos = _pos(s)
        k = s.data
        if k == "block":
            e.emit("if True:")
            e.indent += 1
            self.block(s)
            e.indent -= 1
        elif k == "local_var":
            self.local_var(s)
        elif k == "expr_stmt":
            self.expr_stmt(s.children[0])
        elif k == "if_stmt":
            c = [x for x in s.children if not isinstance(x, Token)]
            e.emit(f"if {self.cond(c[0])}:")
            self.body(c[1])
            if len(c) > 2:
                e.emit("else:")
                self.body(c[2])
        elif k == "while_stmt":
            c = [x for x in s.children if not isinstance(x, Token)]
            cond = self.cond(c[0])
            self.loop_start()
            e.emit(f"while {cond}:")
            self.loop_tick()
            self.sc.loops.append(_Loop("while"))
            self.body(c[1])
            self.sc.loops.pop()
        elif k == "do_stmt":
            c = [x for x in s.children if not isinstance(x, Token)]
            cond = self.cond(c[1])
            self.loop_start()
            e.emit("while True:")
            self.loop_tick()
            self.sc.loops.append(_Loop("do", [f"if not ({cond}): break", "continue"]))
            self.body(c[0])
            self.sc.loops.pop()
            e.indent += 1
            e.emit(f"if not ({cond}): break")
            e.indent -= 1
        elif k == "for_classic":
            self.for_classic(s)
        elif k == "for_each":
            self.for_each(s)
        elif k == "switch_stmt":
            self.switch(s)
        elif k == "return_stmt":
            if len(s.children) > 1:
                code, t = self.expr(s.children[1])
                if base(self.sc.return_type) == "void":
                    raise err(s, "Void method must not return a value")
                e.emit(f"return {self.coerce(code, t, self.sc.return_type, s.children[1])}")
            else:
                e.emit("return")
        elif k == "break_stmt":
            if not self.sc.loops:
                raise err(s, "Break statement must be in loop")
            e.emit("break")
        elif k == "continue_stmt":
            if not self.sc.loops:
                raise err(s, "Continue statement must be in loop")
            for line in self.sc.loops[-1].cont or ["continue"]:
                e.emit(line)
        elif k == "throw_stmt":
            code, _ = self.expr(s.children[1])
            tline, tcol = _pos(s)
            e.emit(f"raise _throw({code}, {tline}, {tcol})")
        elif k == "try_stmt":
            self.try_stmt(s)
        elif k == "dml_stmt":
            op = s.children[0].children[0].value.lower()
            code, _ = self.expr(s.children[1])
            e.emit(f"_dml({op!r}, {code})")
        elif k == "upsert_stmt":
            code, _ = self.expr(s.children[1])
            ext = None
            if len(s.children) > 2:
                ext = s.children[2].children[-1].value
            e.emit(f"_dml('upsert', {code}, True, {ext!r})")
        elif k == "merge_stmt":
            # ``merge master duplicates;`` (stdlib.merge; Apex Developer Guide, "Merging
            # Records"): only Account, Contact and Lead merge (dml.Dml.MERGEABLE), checked
            # here for a statically typed master (the message is sforg-sim's, in the form
            # of the platform's "DML operation ... not allowed on ..." errors); a master
            # typed SObject is checked when it runs (INVALID_TYPE, a DmlException).
            master, mt = self.expr(s.children[1])
            dups, _ = self.expr(s.children[2])
            name = base(mt)
            if name.lower() in self.schema_names() and \
                    self.schema.get(name).name not in ("Account", "Contact", "Lead"):
                raise err(s.children[1], f"DML operation Merge not allowed on "
                                         f"{self.schema.get(name).name}")
            e.emit(f"_merge({master}, {dups})")
        elif k in ("this_call", "super_call"):
            args = self.args(s.children[1] if len(s.children) > 1 else None)
            cls = self.sc.cls
            if cls is None:
                raise err(s, "this() or super() outside a constructor")
            if k == "this_call":
                # Named through the class: ``self.c_1`` would reach a subclass's
                # constructor of the same name.
                m = self.pick_ctor(cls, args, s)
                e.emit(f"{cls.pyname}.{m.pyname}(self"
                       f"{''.join(', ' + a for a in self._pass(args, m))})")
            elif cls.superclass is not None:
                m = self.pick_ctor(cls.superclass, args, s)
                e.emit(f"{cls.superclass.pyname}.{m.pyname}(self"
                       f"{''.join(', ' + a for a in self._pass(args, m))})")
            elif cls.is_exception and args:
                e.emit(f"self.apex_message = {args[0][0]}")
                e.emit("self.message = self.apex_message or ''")
        elif k == "empty_stmt":
            e.emit("pass")
        elif k in ("class_core", "anon_class_mods"):
            raise unsupported(s, "a class declared inside a block")
        else:
            raise unsupported(s, f"statement {k}")

    def local_var(self, s: Node) -> None:
        kids = [c for c in s.children if not (isinstance(c, Token) and c.type == "FINAL")]
        t = self.check_type(self._type_text(kids[0]), kids[0])
        # A failure while initialising (a limit breach on ``List<Account> a = [SELECT
        # ...]``, an exception) is reported at the statement's start, as for every other
        # statement, not at the variable's name (fidelity L29).
        self.e.pos = _start(s)
        for d in kids[1:]:
            if len(d.children) > 1:
                code, et = self.expr(d.children[1])
                code = self.coerce(code, et, t, d.children[1])
            else:
                code = "None"
            name = self.declare_local(d.children[0], t)
            self.e.emit(f"{name} = {code}")

    def expr_stmt(self, x: Node) -> None:
        if x.data == "assign":
            self.e.emit(self.assign(x))
        elif x.data in ("postinc", "preinc", "postdec", "predec"):
            self.e.emit(self.incdec(x.children[1] if x.data.startswith("pre")
                                    else x.children[0], "+" if "inc" in x.data else "-"))
        elif x.data in ("call_name", "call_method", "safe_call", "safe_call_n",
                        "super_method", "new_obj"):
            self.e.emit(self.expr(x)[0])
        else:
            raise err(x, "Expression cannot be a statement.")

    def for_classic(self, s: Node) -> None:
        kids = [c for c in s.children if isinstance(c, Tree)]
        init = next((c for c in kids if c.data == "for_init"), None)
        upd = next((c for c in kids if c.data == "for_update"), None)
        conds = [c for c in kids if c.data not in ("for_init", "for_update")]
        stmt = conds[-1]
        cond = conds[0] if len(conds) > 1 else None
        self.sc.vars.append({})
        fast = self._range_loop(init, cond, upd, stmt)
        if fast:
            self.sc.vars.pop()
            return
        if init is not None:
            if init.children[0].data == "local_var" if isinstance(init.children[0], Tree) \
                    else False:
                self.local_var(init.children[0])
            else:
                for x in init.children:
                    self.expr_stmt(x)
        updates: list[str] = []
        if upd is not None:
            mark = len(self.e.lines)
            for x in upd.children:
                self.expr_stmt(x)
            updates = [ln.strip() for ln in self.e.lines[mark:]]
            del self.e.lines[mark:]
            del self.e.where[mark:]
        test = self.cond(cond) if cond is not None else "True"
        self.loop_start()
        self.e.emit(f"while {test}:")
        self.loop_tick()
        self.sc.loops.append(_Loop("for", [*updates, "continue"]))
        self.body(stmt)
        self.sc.loops.pop()
        self.e.indent += 1
        for u in updates:
            self.e.emit(u)
        self.e.indent -= 1
        self.sc.vars.pop()

    def _range_loop(self, init: Node | None, cond: Node | None, upd: Node | None,
                    stmt: Node) -> bool:
        """``for (Integer i = a; i < b; i++)`` with ``i`` and ``b`` unchanged by the body
        runs as a Python ``range`` loop (same iterations, much faster)."""
        if init is None or cond is None or upd is None or len(upd.children) != 1:
            return False
        lv = init.children[0]
        if not (isinstance(lv, Tree) and lv.data == "local_var"):
            return False
        kids = [c for c in lv.children if isinstance(c, Tree)]
        if self._type_text(kids[0]).lower() != "integer" or len(kids) != 2 \
                or len(kids[1].children) != 2:
            return False
        var = _text(kids[1].children[0]).lower()
        u = upd.children[0]
        if u.data not in ("postinc", "preinc"):
            return False
        target = u.children[0] if u.data == "postinc" else u.children[1]
        if not (target.data == "var" and self._name_of(target) == var):
            return False
        if not (cond.data == "binop" and cond.children[1].value in ("<", "<=")
                and cond.children[0].data == "var" and self._name_of(cond.children[0]) == var):
            return False
        bound = cond.children[2]
        bound_name = None
        if bound.data == "var":
            bound_name = self._name_of(bound)
            if "." in bound_name:
                return False
        elif not (bound.data == "literal" and bound.children[0].type == "NUMBER"):
            return False
        assigned = self._assigned(stmt)
        if var in assigned or (bound_name is not None and bound_name in assigned):
            return False
        start, st = self.expr(kids[1].children[1])
        end, et = self.expr(bound)
        if base(st) != "integer" or base(et) != "integer":
            return False
        name = self.declare_local(kids[1].children[0], "Integer")
        if cond.children[1].value == "<=":
            end = f"({end}) + 1"
        self.loop_start()
        self.e.emit(f"for {name} in range({start}, {end}):")
        self.loop_tick()
        self.sc.loops.append(_Loop("for"))
        self.body(stmt)
        self.sc.loops.pop()
        return True

    def _name_of(self, var: Node) -> str:
        return ".".join(t.value for t in var.children[0].children).lower()

    def _assigned(self, tree: Node) -> set[str]:
        out: set[str] = set()
        for t in tree.iter_subtrees():
            if t.data == "assign" and t.children[0].data == "var":
                out.add(self._name_of(t.children[0]))
            elif t.data in ("postinc", "postdec", "preinc", "predec"):
                target = t.children[0] if t.data.startswith("post") else t.children[1]
                if isinstance(target, Tree) and target.data == "var":
                    out.add(self._name_of(target))
            elif t.data == "local_var":
                for d in t.children:
                    if isinstance(d, Tree) and d.data == "var_declarator":
                        out.add(_text(d.children[0]).lower())
        return out

    def for_each(self, s: Node) -> None:
        kids = [c for c in s.children if not (isinstance(c, Token) and c.type in ("FOR",
                                                                                   "FINAL"))]
        t = self.check_type(self._type_text(kids[0]), kids[0])
        src, _st = self.expr(kids[2])
        self.sc.vars.append({})
        name = self.declare_local(kids[1], t)
        if kids[2].data == "soql" and base(t) == "list":
            src = f"_chunks({src}, 200)"
        else:
            src = f"_iterate({src})"
        self.loop_start()
        self.e.emit(f"for {name} in {src}:")
        self.loop_tick()
        self.sc.loops.append(_Loop("each"))
        self.body(kids[3])
        self.sc.loops.pop()
        self.sc.vars.pop()

    def switch(self, s: Node) -> None:
        on = s.children[1]
        if on.value.lower() != "on":
            raise err(on, f"Unexpected token '{on.value}'.")
        code, t = self.expr(s.children[2])
        self.sc.tmp += 1
        tmp = f"_sw{self.sc.tmp}"
        self.e.emit(f"{tmp} = {code}")
        first = True
        for w in s.children[3:]:
            self.e.pos = _pos(w)
            kw = "if" if first else "elif"
            if w.data == "when_else":
                self.e.emit("else:" if not first else "if True:")
                self.body(w.children[-1])
            elif w.data == "when_type":
                wt = self.check_type(self._type_text(w.children[1]), w.children[1])
                self.e.emit(f"{kw} _instanceof({tmp}, {wt!r}, {self._pyclass(wt)}):")
                self.e.indent += 1
                self.sc.vars.append({})
                name = self.declare_local(w.children[2], wt)
                self.e.emit(f"{name} = {tmp}")
                self.e.indent -= 1
                self.body(w.children[3])
                self.sc.vars.pop()
            else:
                tests = []
                for v in w.children[1:-1]:
                    if not isinstance(v, Tree) or v.data != "when_value":
                        continue
                    c = v.children[0]
                    if isinstance(c, Tree):
                        vc, _ = self.expr(c)
                        tests.append(f"{tmp} == {vc}")
                    elif c.type == "NAME":
                        enum = self._enum_value(t, c)
                        tests.append(f"{tmp} is {enum}")
                    else:
                        tests.append(f"{tmp} == -{_text(v.children[1])}")
                self.e.emit(f"{kw} {' or '.join(tests)}:")
                self.body(w.children[-1])
            first = False

    def _enum_value(self, t: str, tok: Node) -> str:
        c = self.find_class(t, self.sc.cls)
        if c is not None and c.kind == "enum":
            if tok.value.upper() not in [v.upper() for v in c.enum_values]:
                raise err(tok, f"Variable does not exist: {tok.value}")
            return f"{c.pyname}.e_{tok.value.lower()}"
        raise unsupported(tok, f"switch on {t} with a name in when")

    def try_stmt(self, s: Node) -> None:
        blocks = [c for c in s.children if isinstance(c, Tree)]
        e = self.e
        e.emit("try:")
        e.indent += 1
        self.block(blocks[0])
        e.indent -= 1
        catches = [c for c in blocks[1:] if c.data == "catch_clause"]
        fin = blocks[-1] if len(blocks) > 1 and blocks[-1].data == "block" else None
        if catches:
            self.sc.tmp += 1
            ev, xv = f"_e{self.sc.tmp}", f"_x{self.sc.tmp}"
            e.emit(f"except BaseException as {ev}:")
            e.indent += 1
            e.emit(f"{xv} = _wrap({ev})")
            first = True
            for c in catches:
                kids = [k for k in c.children if not (isinstance(k, Token) and k.type in (
                    "CATCH", "FINAL"))]
                ct = self.check_type(self._type_text(kids[0]), kids[0])
                e.pos = _pos(c)
                e.emit(f"{'if' if first else 'elif'} _catchable({xv}, {self._exc_class(ct)}):")
                e.indent += 1
                self.sc.vars.append({})
                name = self.declare_local(kids[1], ct)
                e.emit(f"{name} = {xv}")
                self.block(kids[2])
                self.sc.vars.pop()
                e.indent -= 1
                first = False
            e.emit("else:")
            e.indent += 1
            e.emit(f"raise {xv}")
            e.indent -= 2
        if fin is not None:
            e.emit("finally:")
            e.indent += 1
            self.block(fin)
            e.indent -= 1
        if not catches and fin is None:
            raise err(s, "Try statement must have a catch or finally block")

    def _exc_class(self, t: str) -> str:
        b = base(t).removeprefix("system.")
        if b == "exception":
            return "_ApexException"
        if b in BUILTIN_EXCEPTIONS:
            return f"_EXC[{b!r}]"
        c = self.find_class(t, self.sc.cls)
        if c is not None and c.is_exception:
            return c.pyname
        raise unsupported(t, f"catching {t}")

    def _completes(self, s: Any) -> bool:
        """Whether execution can reach the end of ``s`` (for ``Missing return``)."""
        if not isinstance(s, Tree):
            return True
        if s.data in ("return_stmt", "throw_stmt"):
            return False
        if s.data == "block":
            return all(self._completes(c) for c in s.children) if s.children else True
        if s.data == "if_stmt":
            c = [x for x in s.children if not isinstance(x, Token)]
            return len(c) < 3 or self._completes(c[1]) or self._completes(c[2])
        if s.data == "try_stmt":
            blocks = [c for c in s.children if isinstance(c, Tree)]
            catches = [c.children[-1] for c in blocks[1:] if c.data == "catch_clause"]
            return self._completes(blocks[0]) or any(self._completes(c) for c in catches)
        if s.data == "switch_stmt":
            whens = s.children[3:]
            if not any(w.data == "when_else" for w in whens):
                return True
            return any(self._completes(w.children[-1]) for w in whens)
        if s.data == "while_stmt":
            cond = next(x for x in s.children if not isinstance(x, Token))
            if cond.data == "literal" and getattr(cond.children[0], "type", "") == "TRUE":
                return any(t.data == "break_stmt" for t in s.iter_subtrees())
        return True

    # --- expressions ----------------------------------------------------------------------

    def cond(self, x: Node) -> str:
        """A Boolean condition (null is a NullPointerException)."""
        code, t = self.expr(x)
        if base(t) not in ("boolean", "object"):
            raise err(x, f"Expression must be a boolean: {t}")
        if x.data in ("binop", "not_", "and_", "or_", "instanceof") or (
                x.data == "literal"):
            return code
        return f"_truth({code})"

    def args(self, node: Node | None) -> list[tuple[str, str]]:
        """Argument list -> [(code, type)]."""
        if node is None:
            return []
        return [self.expr(a) for a in node.children]

    def coerce(self, code: str, frm: str, to: str, node: Any) -> str:
        """Check ``Illegal assignment from X to Y`` and widen numbers as Apex does."""
        bf, bt = base(frm), base(to)
        if self._builtin_mismatch(frm, to) or (
                bf == bt and bf in ("list", "set", "map") and self.incompatible(frm, to)):
            raise err(node, f"Illegal assignment from {frm} to {to}")
        if bf == bt or bt == "object" or bf in ("null", "object"):
            return code
        if bf == "list" and bt in self.schema_names() | {"sobject"} and code.startswith("_soql("):
            return f"_single({code})"
        if (bf, bt) in _WIDEN:
            if bt == "decimal" and bf in ("integer", "long", "double"):
                return f"_to_dec({code})"
            if bt == "double":
                return f"_to_dbl({code})"
            return code
        if bf in PRIMITIVES and bt in PRIMITIVES:
            raise err(node, f"Illegal assignment from {frm} to {to}")
        if bf in PRIMITIVES and (bt in ("list", "set", "map", "sobject")
                                 or bt in self.schema_names()):
            raise err(node, f"Illegal assignment from {frm} to {to}")
        if bf in ("list", "set", "map") and bt in PRIMITIVES:
            raise err(node, f"Illegal assignment from {frm} to {to}")
        return code

    def incompatible(self, frm: str, to: str) -> bool:
        """Whether a value of static type ``frm`` can never be a ``to``: the element
        check of collections ("Apex Developer Guide", *Parameterized Typing*,
        https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/langCon_apex_parameterized_types.htm:
        "if type T is a subtype of U, then List<T> would be a subtype of List<U>", so
        ``List<Object> o = new List<String>()`` is legal and ``List<Integer> i = new
        List<String>()`` is not).

        Deliberately narrow, so no valid code is refused: only primitives of different
        families (text: String/Id; numbers: Integer/Long/Decimal/Double; Boolean; Date;
        Datetime; Time; Blob), two different sObject types, and a primitive against an
        sObject or a collection. Object, SObject, user classes and numeric widening
        inside collections are never flagged (the rules for those are not documented
        precisely enough)."""
        bf, bt = base(frm), base(to)
        if bf == bt:
            fa, ta = targs(frm), targs(to)
            return bf in ("list", "set", "map") and len(fa) == len(ta) and any(
                self.incompatible(a, b) for a, b in zip(fa, ta))
        if "object" in (bf, bt) or bf == "null" or "sobject" in (bf, bt):
            return False
        ff, ft = _FAMILY.get(bf), _FAMILY.get(bt)
        if ff is not None and ft is not None:
            return ff != ft
        names = self.schema_names()
        kinds = ["prim" if x in _FAMILY else "sobj" if x in names else
                 "coll" if x in ("list", "set", "map") else None for x in (bf, bt)]
        if None in kinds:
            return False
        return kinds[0] != kinds[1] or kinds[0] == "sobj"

    @staticmethod
    def _builtin_mismatch(frm: str, to: str) -> bool:
        """Two different built-in classes (``Database.UpsertResult`` is not a
        ``Database.SaveResult``), directly or as the elements of a List or Set; or a
        collection and a built-in class (``Database.SaveResult r = Database.insert(accs)``
        assigns a ``List<Database.SaveResult>``: no built-in class is a collection)."""
        bf, bt = base(frm), base(to)
        if (bf in _COLLECTIONS and bt in BUILTIN_CLASSES) or (
                bf in BUILTIN_CLASSES and bt in _COLLECTIONS):
            return True
        if bf == bt and bf in ("list", "set"):
            ef, et = targs(frm), targs(to)
            if len(ef) != 1 or len(et) != 1:
                return False
            bf, bt = base(ef[0]), base(et[0])
        cf, ct = BUILTIN_CLASSES.get(bf), BUILTIN_CLASSES.get(bt)
        return cf is not None and ct is not None and cf is not ct

    def schema_names(self) -> set[str]:
        """Lower-case names of the org's sObject types."""
        return {o.name.lower() for o in self.schema}

    def expr(self, x: Any) -> tuple[str, str]:
        """Code and static type of an expression."""
        k = x.data
        fn = getattr(self, f"x_{k}", None)
        if fn is None:
            raise unsupported(x, f"expression {k}")
        out: tuple[str, str] = fn(x)
        return out

    def x_literal(self, x: Node) -> tuple[str, str]:
        t = x.children[0]
        if t.type == "STRING":
            return repr(_unescape(t.value[1:-1])), "String"
        if t.type == "NUMBER":
            v = t.value
            if v[-1] in "lL":
                return v[:-1], "Long"
            if v[-1] in "dD":
                return repr(float(v[:-1])), "Double"
            if "." in v:
                return f"_Decimal({v!r})", "Decimal"
            n = int(v)
            if n > 2**31 - 1:
                raise err(t, f"Illegal integer: {v}")
            return v, "Integer"
        if t.type == "TRUE":
            return "True", "Boolean"
        if t.type == "FALSE":
            return "False", "Boolean"
        return "None", "null"

    def x_this(self, x: Node) -> tuple[str, str]:
        if self.sc.static or self.sc.cls is None:
            raise err(x, "This cannot be referenced in a static context")
        return "self", self.sc.cls.name

    def x_var(self, x: Node) -> tuple[str, str]:
        parts = list(x.children[0].children)
        return self._resolve(parts, x)

    def _lookup_local(self, low: str) -> str | None:
        for v in reversed(self.sc.vars):
            if low in v:
                return v[low]
        return None

    def _resolve(self, parts: list[Node], node: Any) -> tuple[str, str]:
        """A dotted name: a variable, a field, a static, an enum value, then field access."""
        first = parts[0]
        low = first.value.lower()
        if len(parts) > 1 and parts[-1].value.lower() == "class":
            # ``MyClass.class``: a System.Type ("Type Class", Apex Reference Guide).
            text = ".".join(p.value for p in parts[:-1])
            return self.type_expr(self.check_type(text, first), first), "Type"
        rest = parts[1:]
        t = self._lookup_local(low)
        if t is not None:
            code = f"l_{low}"
        else:
            res = self._member_or_static(parts, node)
            if res is None:
                raise err(first, f"Variable does not exist: {first.value}")
            code, t, used = res
            rest = parts[used:]
        for p in rest:
            code, t = self._field(code, t, p)
        return code, t

    def _member_or_static(self, parts: list[Node], node: Any
                          ) -> tuple[str, str, int] | None:
        low = parts[0].value.lower()
        cls = self.sc.cls
        if cls is not None:
            f = cls.find_field(low)
            if f is not None:
                if f.static:
                    return f"{f.owner.pyname}.s_{low}", f.type, 1
                if self.sc.static:
                    raise err(parts[0], f"Variable does not exist: {parts[0].value}")
                return f"self.f_{low}", f.type, 1
        # a class, inner class, enum
        for n in range(len(parts), 0, -1):
            c = self.find_class(".".join(p.value for p in parts[:n]), cls)
            if c is None:
                continue
            if n == len(parts):
                return None
            nxt = parts[n]
            if c.kind == "enum":
                if nxt.value.upper() not in [v.upper() for v in c.enum_values]:
                    raise err(nxt, f"Variable does not exist: {nxt.value}")
                return f"{c.pyname}.e_{nxt.value.lower()}", c.name, n + 1
            f = c.find_field(nxt.value.lower())
            if f is None or not f.static:
                raise err(nxt, f"Variable does not exist: {nxt.value}")
            return f"{f.owner.pyname}.s_{nxt.value.lower()}", f.type, n + 1
        names = [p.value.lower() for p in parts]
        if names[0] == "system" and len(names) > 1:
            names = names[1:]
            parts = parts[1:]
            off = 1
        else:
            off = 0
        if names[0] == "logginglevel" and len(names) > 1:
            if names[1] not in ("none", "error", "warn", "info", "debug", "fine", "finer",
                                "finest"):
                raise err(parts[1], f"Variable does not exist: {parts[1].value}")
            return f"_LEVEL[{names[1]!r}]", "LoggingLevel", 2 + off
        schema_ref = self._schema_ref(names, parts, off)
        if schema_ref is not None:
            return schema_ref
        if names[0] == "jsontoken" and len(names) > 1:
            # System.JSONToken values (Apex Reference Guide, "JSONToken Enum").
            if names[1] not in JSON_TOKENS:
                raise err(parts[1], f"Variable does not exist: {parts[1].value}")
            return f"_JT[{names[1]!r}]", "System.JSONToken", 2 + off
        if names[0] == "roundingmode" and len(names) > 1:
            # System.RoundingMode values (Apex Reference Guide, "Decimal Class").
            if names[1] not in ROUNDING_MODES:
                raise err(parts[1], f"Variable does not exist: {parts[1].value}")
            return f"_RM[{names[1]!r}]", "RoundingMode", 2 + off
        if names[0] == "integer" and len(names) > 1 and names[1] in ("max_value", "min_value"):
            return ("2147483647" if names[1] == "max_value" else "-2147483648"), "Integer", 2
        if names[0] == "long" and len(names) > 1 and names[1] in ("max_value", "min_value"):
            return ("9223372036854775807" if names[1] == "max_value"
                    else "-9223372036854775808"), "Long", 2
        if off == 0 and len(names) > 1 and names[0] in self.schema_names():
            # A field token, ``Opportunity.External_ID__c`` (Schema.SObjectField, what
            # Database.upsert takes as its external id field). Its value here is the
            # field's API name, which is also what System.debug prints for it.
            f = self.schema.get(names[0]).get(parts[1].value)
            if f is None:
                raise err(parts[1], f"Variable does not exist: {parts[1].value}")
            return f"_FTOK({self.schema.get(names[0]).name!r}, {f.name!r})", \
                "Schema.SObjectField", 2
        return None

    def _schema_ref(self, names: list[str], parts: list[Node], off: int
                    ) -> tuple[str, str, int] | None:
        """Schema tokens and describes named in the source (Apex Developer Guide,
        "Understanding Apex Describe Information"): ``Schema.SObjectType.Account`` (a
        DescribeSObjectResult), ``Schema.SObjectType.Account.fields.Name`` (a
        DescribeFieldResult), ``Account.SObjectType`` (a Schema.SObjectType) and
        ``Schema.DisplayType.STRING``. Unknown objects and fields are compile errors."""
        if len(names) < 2:
            return None
        if names[0] == "schema" and names[1] == "sobjecttype" and len(names) > 2:
            if names[2] not in self.schema_names():
                raise err(parts[2], f"Variable does not exist: {parts[2].value}")
            obj = self.schema.get(names[2])
            if len(names) > 4 and names[3] == "fields":
                f = obj.get(parts[4].value)
                if f is None:
                    raise err(parts[4], f"Variable does not exist: {parts[4].value}")
                return (f"_DSR({obj.name!r}).fields.field({f.name!r})",
                        "Schema.DescribeFieldResult", 5 + off)
            if len(names) > 3 and names[3] == "fields":
                return f"_DSR({obj.name!r}).fields", "Schema.SObjectTypeFields", 4 + off
            return f"_DSR({obj.name!r})", "Schema.DescribeSObjectResult", 3 + off
        dt_at = 2 if names[0] == "schema" and names[1] == "displaytype" else \
            1 if names[0] == "displaytype" else 0
        if dt_at and len(names) > dt_at:
            if names[dt_at] not in DISPLAY_TYPES:
                raise err(parts[dt_at], f"Variable does not exist: {parts[dt_at].value}")
            return f"_DT[{names[dt_at]!r}]", "Schema.DisplayType", dt_at + 1 + off
        if off == 0 and names[0] in self.schema_names() and names[1] == "sobjecttype":
            return (f"_SOT({self.schema.get(names[0]).name!r})", "Schema.SObjectType", 2)
        return None

    def _field(self, code: str, t: str, p: Node, safe: bool = False) -> tuple[str, str]:
        low = p.value.lower()
        b = base(t)
        if b == "list" and code.startswith("_soql(") and targs(t) and \
                base(targs(t)[0]) in self.schema_names():
            # ``[SELECT Name FROM Account].Name``: the field of the one row the query
            # returns; zero or several rows are a QueryException ("Apex Developer Guide",
            # *Using SOQL Queries That Return One Record*,
            # https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/langCon_apex_SOQL_single_row.htm).
            code, t = f"_single({code})", targs(t)[0]
            b = base(t)
        if b in self.schema_names() or b == "sobject" or b == "aggregateresult":
            ft = "Object"
            if b in self.schema_names():
                obj = self.schema.get(b)
                f = obj.get(p.value)
                if f is not None:
                    ft = _FIELD_TYPES.get(f.type, "Object")
                else:
                    rel = obj.relationship(p.value)
                    child = None if rel is not None else \
                        self.schema.child_relationship(obj, p.value)
                    if child is not None:
                        # ``acc.Contacts``: the rows of a parent-to-child subquery, a
                        # List of the child object ("Apex Developer Guide", *SOQL For
                        # Loops*: ``for (Contact c : a.Contacts)``).
                        ft = f"List<{child[0].name}>"
                    elif rel is None:
                        raise err(p, f"Variable does not exist: {p.value}")
                    else:
                        ft = rel.reference_to[0] if rel.reference_to else "SObject"
            get = f"{code}.v.get({low!r})"
            if safe:
                return f"(None if ({code}) is None else {get})", ft
            return get, ft
        bs = b.removeprefix("schema.")
        if bs == "describesobjectresult" and low == "fields":
            return f"{code}.fields", "Schema.SObjectTypeFields"
        if bs == "sobjecttypefields":
            return f"{code}.field({p.value!r})", "Schema.DescribeFieldResult"
        c = self.find_class(t, self.sc.cls) if b not in PRIMITIVES else None
        if c is not None:
            f = c.find_field(low)
            if f is None or f.static:
                raise err(p, f"Variable does not exist: {p.value}")
            if safe:
                return f"(None if ({code}) is None else ({code}).f_{low})", f.type
            return f"{code}.f_{low}", f.type
        if b == "object":
            return f"_dynf({code}, {low!r})", "Object"
        raise err(p, f"Variable does not exist: {p.value}")

    def x_field(self, x: Node) -> tuple[str, str]:
        code, t = self.expr(x.children[0])
        return self._field(code, t, x.children[1])

    def x_safe_field(self, x: Node) -> tuple[str, str]:
        code, t = self.expr(x.children[0])
        return self._field(code, t, x.children[1], safe=True)

    def x_safe_field_n(self, x: Node) -> tuple[str, str]:
        code, t = self._resolve(list(x.children[0].children), x)
        return self._field(code, t, x.children[1], safe=True)

    def x_index(self, x: Node) -> tuple[str, str]:
        if x.children[0].data == "name":
            code, t = self._resolve(list(x.children[0].children), x)
        else:
            code, t = self.expr(x.children[0])
        i, _it = self.expr(x.children[1])
        if base(t) not in ("list", "object"):
            raise err(x, f"Expression must be a list type: {t}")
        a = targs(t)
        return f"_lget({code}, {i})", a[0] if a else "Object"

    # calls

    def x_call_name(self, x: Node) -> tuple[str, str]:
        parts = list(x.children[0].children)
        args = self.args(x.children[1] if len(x.children) > 1 else None)
        if len(parts) == 1:
            return self._own_call(parts[0], args, x)
        prefix, meth = parts[:-1], parts[-1]
        low0 = prefix[0].value.lower()
        if self._lookup_local(low0) is not None or (
                self.sc.cls is not None and self.sc.cls.find_field(low0) is not None):
            code, t = self._resolve(prefix, x)
            return self._method_call(code, t, meth, args, x)
        if len(prefix) > 1 and prefix[-1].value.lower() == "class":
            code, t = self._resolve(prefix, x)  # ``MyClass.class.getName()``
            return self._method_call(code, t, meth, args, x)
        cname = ".".join(p.value for p in prefix)
        c = self.find_class(cname, self.sc.cls)
        if c is None and len(prefix) > 1:
            # A method of a static field, a field token or a describe:
            # ``Other.items.size()``, ``Account.SObjectType.getDescribe()``.
            res = self._member_or_static(prefix, x)
            if res is not None and res[2] == len(prefix):
                return self._method_call(res[0], res[1], meth, args, x)
        if c is not None:
            m = self.pick(c.find_methods(meth.value.lower(), len(args)), args, meth, c.name)
            if not m.static:
                raise self._no_method(meth, args, c.name)
            if m.future:
                return self._future_call(m, args), "void"
            return (f"{m.owner.pyname}.{m.pyname}"
                    f"({', '.join(self._pass(args, m))})", m.type)
        ns = cname.lower()
        if ns.startswith("system.") and ns != "system.":
            ns = ns[7:]
        return self._static_call(ns, meth, args, x, prefix)

    def _future_call(self, m: Member, args: list[tuple[str, str]]) -> str:
        """A call of a ``@future`` method: queued as a job (:func:`.jobs.call_future`)."""
        display = f"{m.owner.name}.{m.name}({', '.join(m.params)})"
        passed = "".join(a + ", " for a in self._pass(args, m))
        return (f"_future({m.owner.pyname}, {m.pyname!r}, {display!r}, "
                f"{m.future == 'callout'}, ({passed}))")

    def _pass_pairs(self, args: list[tuple[str, str]], m: Member) -> list[tuple[str, str]]:
        return [(c, t) for c, (_, t) in zip(self._pass(args, m), args)]

    def _pass(self, args: list[tuple[str, str]], m: Member) -> list[str]:
        return [self.coerce(a, t, pt, None) if pt else a
                for (a, t), pt in zip(args, m.params or [""] * len(args))]

    def _no_method(self, meth: Node, args: list[tuple[str, str]], owner: str
                   ) -> ApexCompileError:
        sig = ", ".join(t for _, t in args)
        return err(meth, f"Method does not exist or incorrect signature: void "
                         f"{meth.value}({sig}) from the type {owner}")

    def _own_call(self, meth: Node, args: list[tuple[str, str]], x: Node) -> tuple[str, str]:
        cls = self.sc.cls
        low = meth.value.lower()
        m = self.pick(cls.find_methods(low, len(args)) if cls is not None else [], args, meth,
                      cls.name if cls else "anonymous")
        ps = ", ".join(self._pass(args, m))
        if m.future:
            return self._future_call(m, args), "void"
        if m.static:
            return f"{m.owner.pyname}.{m.pyname}({ps})", m.type
        if self.sc.static:
            raise err(meth, f"Non static method cannot be referenced from a static context: "
                            f"{m.type} {meth.value}")
        return f"self.{m.pyname}({ps})", m.type

    def _static_call(self, ns: str, meth: Node, args: list[tuple[str, str]], x: Node,
                     prefix: list[Node]) -> tuple[str, str]:
        low = meth.value.lower()
        if (ns, low) in NOT_MODELLED:
            raise unsupported(meth, NOT_MODELLED[(ns, low)])
        if ns == "system" and low == "debug":
            if not 1 <= len(args) <= 2:
                raise self._no_method(meth, args, "System")
            line, _ = _pos(x)
            return f"_debug({line}, {', '.join(a for a, _ in args)})", "void"
        table = STATIC.get(ns)
        if table is None:
            if ns in self.schema_names() or ns in PRIMITIVES:
                raise self._no_method(meth, args, prefix[-1].value)
            raise err(prefix[0], f"Variable does not exist: {prefix[0].value}")
        sig = table.get(low)
        if sig is None:
            raise self._no_method(meth, args, ".".join(p.value for p in prefix))
        rt = sig[1]
        if rt == "arg":
            rt = args[0][1] if args else "Object"
        if ns == "database" and low in DATABASE_DML:
            rt = self._dml_result(meth, args, low)
        if ns == "type" and low == "forname" and len(args) == 1 and self.local:
            # Classes of this anonymous block are not deployed: hand them to forName.
            local = ", ".join(f"{c.name.lower()!r}: {c.pyname}" for c in self._locals())
            return f"_ST['type']['forname'][0]({args[0][0]}, {{{local}}})", rt
        if ns == "database" and low == "getquerylocator" and x.children[1:] and \
                x.children[1].children[0].data == "soql":
            code, _ = self._soql_parts(x.children[1].children[0])
            return f"_locator({code})", rt
        return f"_ST[{ns!r}][{low!r}][0]({', '.join(a for a, _ in args)})", rt

    def _dml_result(self, meth: Node, args: list[tuple[str, str]], low: str) -> str:
        """The static type of ``Database.insert/update/upsert/delete/undelete(x, ...)``:
        the overload its first argument picks (:data:`.stdlib.DATABASE_DML`): one result
        for an sObject (or an Id, for delete and undelete), a list of results for a list.
        Any other argument has no overload: ``Method does not exist or incorrect
        signature``."""
        result, by_id = DATABASE_DML[low]
        if not args:
            raise self._no_method(meth, args, "Database")
        t = args[0][1]
        b = base(t)
        records = self.schema_names() | {"sobject"}
        if b in records or (by_id and b in ("id", "string")):
            return result
        if b in ("list", "set") and (not targs(t) or base(targs(t)[0]) in records | {
                "object"} or (by_id and base(targs(t)[0]) in ("id", "string"))):
            return f"List<{result}>"
        if b in ("object", "null"):
            # Only the value can tell (an Object holding a record or a list).
            return "Object"
        raise self._no_method(meth, args, "Database")

    def _locals(self) -> Iterator[ClassInfo]:
        """The anonymous block's classes and their inner classes."""
        todo = list(self.local)
        while todo:
            c = todo.pop()
            yield c
            todo.extend(c.inner.values())

    def _method_call(self, code: str, t: str, meth: Node, args: list[tuple[str, str]],
                     x: Node, safe: bool = False) -> tuple[str, str]:
        low = meth.value.lower()
        b = base(t)
        argc = ", ".join(a for a, _ in args)
        if b in self.schema_names() or b == "aggregateresult":
            b = "sobject"
        key = "string" if b == "id" else b
        c = self.find_class(t, self.sc.cls) if b not in PRIMITIVES and b not in INSTANCE \
            else None
        if (c is not None and c.kind == "enum") or b in _BUILTIN_ENUMS:
            key, c = "enum", None  # name(), ordinal(): the enum methods every value has
        if c is not None and not (c.is_exception and c.find_method(low, len(args)) is None):
            m = self.pick(c.find_methods(low, len(args)), args, meth, c.name)
            call = f"{code}.{m.pyname}({', '.join(self._pass(args, m))})"
            rt = m.type
        elif c is not None or b.removeprefix("system.") in BUILTIN_EXCEPTIONS:
            sig = INSTANCE["exception"].get(low)
            if sig is None:
                raise self._no_method(meth, args, t)
            call, rt = f"_IN['exception'][{low!r}][0]({code}{', ' if argc else ''}{argc})", sig[1]
        elif key in INSTANCE:
            sig = INSTANCE[key].get(low)
            if sig is None:
                raise self._no_method(meth, args, t)
            self._check_elements(key, low, t, meth, args)
            call = f"_IN[{key!r}][{low!r}][0]({code}{', ' if argc else ''}{argc})"
            rt = self._generic_return(sig[1], t)
        elif b in BUILTIN_CLASSES:
            if getattr(BUILTIN_CLASSES[b], low, None) is None:
                raise self._no_method(meth, args, t)
            call = f"{code}.{low}({argc})"
            rt = _BUILTIN_RETURNS.get((b, low), "Object")
        elif b in ("object", "logginglevel"):
            call, rt = f"_dyn({code}, {low!r}, ({argc}{',' if args else ''}))", "Object"
        else:
            raise self._no_method(meth, args, t)
        if safe:
            call = f"(None if ({code}) is None else {call})"
        return call, rt

    def _check_elements(self, key: str, low: str, t: str, meth: Node,
                        args: list[tuple[str, str]]) -> None:
        """``xs.add('a')`` on a ``List<Integer>``: no such method for that argument type,
        as the Apex compiler reports it (``Method does not exist or incorrect signature:
        void add(String) from the type List<Integer>``)."""
        where = _ELEMENT_ARGS.get((key, low), {}).get(len(args))
        elems = targs(t)
        if where is None or not elems:
            return
        for n, i in enumerate(where):
            want = elems[n] if key == "map" else elems[0]
            if self.incompatible(args[i][1], want):
                raise self._no_method(meth, args, t)

    def _generic_return(self, rt: str, t: str) -> str:
        a = targs(t)
        if rt == "self":
            return t
        if rt == "T":
            return a[0] if a else "Object"
        if rt == "K":
            return a[0] if a else "Object"
        if rt == "V":
            return a[1] if len(a) > 1 else "Object"
        if rt == "Set<K>":
            return f"Set<{a[0] if a else 'Object'}>"
        if rt == "List<V>":
            return f"List<{a[1] if len(a) > 1 else 'Object'}>"
        return rt

    def x_call_method(self, x: Node) -> tuple[str, str]:
        code, t = self.expr(x.children[0])
        args = self.args(x.children[2] if len(x.children) > 2 else None)
        return self._method_call(code, t, x.children[1], args, x)

    def x_safe_call(self, x: Node) -> tuple[str, str]:
        code, t = self.expr(x.children[0])
        args = self.args(x.children[2] if len(x.children) > 2 else None)
        return self._method_call(code, t, x.children[1], args, x, safe=True)

    def x_safe_call_n(self, x: Node) -> tuple[str, str]:
        code, t = self._resolve(list(x.children[0].children), x)
        args = self.args(x.children[2] if len(x.children) > 2 else None)
        return self._method_call(code, t, x.children[1], args, x, safe=True)

    def x_super_method(self, x: Node) -> tuple[str, str]:
        cls = self.sc.cls
        if cls is None or cls.superclass is None:
            raise err(x, "No superclass")
        args = self.args(x.children[2] if len(x.children) > 2 else None)
        low = x.children[1].value.lower()
        m = self.pick(cls.superclass.find_methods(low, len(args)), args, x.children[1],
                      cls.superclass.name)
        return (f"{cls.superclass.pyname}.{m.pyname}(self"
                f"{''.join(', ' + a for a, _ in self._pass_pairs(args, m))})", m.type)

    def x_type_lit(self, x: Node) -> tuple[str, str]:
        """``List<MyClass>.class``, ``Map<String, Integer>.class``: a System.Type."""
        if x.children[-1].value.lower() != "class":
            raise err(x.children[-1], f"Unexpected token '{x.children[-1].value}'.")
        t = self.check_type(self._type_text(Tree("type", x.children[:2])), x)
        return self.type_expr(t, x), "Type"

    def type_expr(self, t: str, node: Any, lenient: bool = False) -> str:
        """Python code building the :class:`~.jsontyped.ApexType` of Apex type ``t`` (what
        ``JSON.deserialize`` walks). ``lenient``: a type JSON cannot fill (HttpRequest ...)
        becomes an abstract type instead of a compile error (class field lists)."""
        return self._type_expr(t, node, lenient)[0]

    def _type_expr(self, t: str, node: Any, lenient: bool) -> tuple[str, str]:
        b = base(t)
        if b in ("list", "set", "map"):
            parts = [self._type_expr(a, node, lenient) for a in targs(t)]
            name = {"list": "List", "set": "Set", "map": "Map"}[b]
            if parts:
                name += "<" + ",".join(n for _, n in parts) + ">"
            codes = "".join(c + ", " for c, _ in parts)
            return f"_TY({name!r}, {b!r}, ({codes}))", name
        if b in PRIMITIVES or b == "object":
            name = _PRIM_NAMES[b]
            return f"_TY({name!r}, 'prim')", name
        if b in self.schema_names():
            name = self.schema.get(b).name
            return f"_TY({name!r}, 'sobject')", name
        c = self.find_class(t, self.sc.cls)
        if c is not None:
            if c.kind == "enum":
                return f"_TY({c.name!r}, 'enum', (), {c.pyname})", c.name
            abstract = c.kind == "interface" or (
                c.tree.data == "class_decl" and "abstract" in _mods(c.tree.children[0]))
            kind = "abstract" if abstract else "class"
            return f"_TY({c.name!r}, {kind!r}, (), {c.pyname})", c.name
        if lenient:
            return f"_TY({t!r}, 'abstract')", t
        raise err(node, f"Invalid type: {t}")

    # new

    def x_new_obj(self, x: Node) -> tuple[str, str]:
        t = self.check_type(self._type_text(x.children[1]), x.children[1])
        b = base(t)
        argn = x.children[2] if len(x.children) > 2 else None
        if b in self.schema_names():
            obj = self.schema.get(b)
            pairs = []
            for a in argn.children if argn else []:
                if a.data != "assign" or a.children[0].data != "var":
                    raise unsupported(a, "sObject constructor arguments other than Field = value")
                fname = a.children[0].children[0].children[0]
                f = obj.get(fname.value)
                if f is None:
                    raise err(fname, f"Invalid field {fname.value} for {obj.name}")
                code, vt = self.expr(a.children[2])
                code = self.coerce(code, vt, _FIELD_TYPES.get(f.type, "Object"), a.children[2])
                pairs.append(f"({f.name.lower()!r}, {f.name!r}, {code})")
            return f"_newso({obj.name!r}, ({', '.join(pairs)}{',' if pairs else ''}))", obj.name
        args = self.args(argn)
        argc = ", ".join(a for a, _ in args)
        if b == "list":
            return (f"list(_iterate({argc}))" if args else "[]"), t
        if b == "set":
            return f"_Set({argc})", t
        if b == "map":
            return (f"_map_from({argc})" if args else "_Map()"), t
        if b in BUILTIN_CLASSES:
            return f"_BC[{b!r}]({argc})", t
        bx = b.removeprefix("system.")
        if bx in BUILTIN_EXCEPTIONS:
            return f"_EXC[{bx!r}]({argc})", t
        c = self.find_class(t, self.sc.cls)
        if c is None:
            raise err(x, f"Invalid type: {t}")
        if c.kind != "class" or "abstract" in _mods(c.tree.children[0]) if \
                c.tree.data == "class_decl" else False:
            raise err(x, f"Abstract classes cannot be constructed: {c.name}")
        n = len(args)
        if (c.ctors and n not in c.ctors) or (not c.ctors and n and not c.is_exception):
            raise self._no_ctor(x, c, args)
        if c.ctors:
            m = self.pick_ctor(c, args, x)
            return f"{c.pyname}._mk{m.pyname[2:]}({', '.join(self._pass(args, m))})", c.name
        return f"{c.pyname}._mk{n}({argc})", c.name

    def _no_ctor(self, node: Node, c: ClassInfo, args: list[tuple[str, str]]
                 ) -> ApexCompileError:
        return err(node, f"Constructor not defined: [{c.name}].<Constructor>("
                         f"{', '.join(t for _, t in args)})")

    def pick_ctor(self, c: ClassInfo, args: list[tuple[str, str]], node: Node) -> Member:
        """The constructor of ``c`` that ``new c(args)``, ``this(args)`` or ``super(args)``
        means, chosen among those of that arity as :meth:`pick` chooses methods."""
        cands = [m for m in c.ctor_members if len(m.params) == len(args)]
        if not cands:
            raise self._no_ctor(node, c, args)
        return self.pick(cands, args, node, c.name, lambda: self._no_ctor(node, c, args))

    def x_new_init(self, x: Node) -> tuple[str, str]:
        t = self.check_type(self._type_text(x.children[1]), x.children[1])
        b = base(t)
        init = x.children[2] if len(x.children) > 2 else None
        if init is None:
            return {"list": "[]", "set": "_Set()", "map": "_Map()"}.get(b, "[]"), t
        if init.data == "init_entries":
            if b != "map":
                raise err(x, f"Invalid initializer for {t}")
            pairs = []
            for me in init.children:
                k, _ = self.expr(me.children[0])
                v, _ = self.expr(me.children[1])
                pairs.append(f"({k}, {v})")
            return f"_new_map([{', '.join(pairs)}])", t
        a = targs(t)
        items = []
        for v in init.children:
            code, vt = self.expr(v)
            items.append(self.coerce(code, vt, a[0], v) if a else code)
        if b == "set":
            return f"_Set([{', '.join(items)}])", t
        if b == "list":
            return f"[{', '.join(items)}]", t
        raise err(x, f"Invalid initializer for {t}")

    def x_new_array(self, x: Node) -> tuple[str, str]:
        t = self.check_type(self._type_text(x.children[1]), x.children[1])
        n, _ = self.expr(x.children[2])
        return f"[None] * ({n})", f"List<{t}>"

    def x_new_array_init(self, x: Node) -> tuple[str, str]:
        t = self.check_type(self._type_text(x.children[1]), x.children[1])
        init = x.children[2] if len(x.children) > 2 else None
        items = [self.expr(v)[0] for v in init.children] if init else []
        return f"[{', '.join(items)}]", f"List<{t}>"

    # SOQL

    def _soql_parts(self, x: Node, check: bool = True, search: bool = False
                    ) -> tuple[str, str]:
        """Generated arguments of ``_soql``/``_locator`` (query text, binds, ALL ROWS) and
        the engine's query text. ``check``: compile the query against the org's schema
        now (:meth:`_check_soql`); inline SOSL (``search``) checks its own way
        (:meth:`x_sosl`).

        Each bind expression is parsed and checked at its own place in the source, so
        ``Variable does not exist: xx`` for ``WHERE Name = :xx`` on the query's third line
        points at ``xx`` there, as for any other expression (the parser is handed the bind
        behind as many newlines and spaces as put it at its line and column)."""
        tok = x.children[0]
        line, col = _pos(tok)
        split = split_mapped(tok.value, search=search)
        text, binds, all_rows = split.query, split.binds, split.all_rows
        # Source column of body offset 0: the character after the ``[``.
        lead = len(tok.value) - len(tok.value.lstrip()) + 1
        parts = []
        for (name, src), at in zip(binds, split.bind_at):
            before = tok.value[:lead + at]
            nl = before.count("\n")
            b_line = line + nl
            b_col = col + len(before) if nl == 0 else len(before) - before.rfind("\n")
            try:
                tree = parse_expression("\n" * (b_line - 1) + " " * (b_col - 1) + src)
            except ApexCompileError as e:
                raise ApexCompileError(f"Unexpected token in bind expression: {src}",
                                       e.line, e.column) from None
            code, _ = self.expr(tree)
            parts.append(f"{name!r}: {code}")
        if check:
            self._check_soql(x, split)
        return f"{text!r}, {{{', '.join(parts)}}}, {all_rows}", text

    def _check_soql(self, x: Node, split: Any) -> None:
        """Inline SOQL compiled against the org's schema, as a deploy compiles it: an
        unknown object, field or relationship (in SELECT, WHERE, ORDER BY, GROUP BY or a
        subquery) or any other query error is a compile error at the query's ``[`` whose
        problem is the SOQL error on the query as written (:mod:`.querycheck`, which
        cites the deploy output this follows)."""
        top = _top_level(split.query)
        m = _FROM.search(top)
        if m is not None and m.group(1).lower() not in self.schema_names():
            raise err(x, object_problem(m.group(1)))
        if self.queries is None:
            return
        problem = soql_problem(self.queries, split)
        if problem is not None:
            raise err(x, problem)

    def x_soql(self, x: Node) -> tuple[str, str]:
        code, text = self._soql_parts(x)
        # The main query's FROM, not a child subquery's (the SOQL engine checks the rest).
        top = _top_level(text)
        m = _FROM.search(top)
        if m is None:
            raise err(x, "Unexpected token in SOQL: FROM expected")
        obj = m.group(1)
        if re.match(r"^\s*select\s+count\(\s*\)\s+from", text, re.IGNORECASE):
            return f"_soql({code})", "Integer"
        if _AGG.search(top[:m.start()]) or re.search(r"\bGROUP\s+BY\b", top, re.I):
            return f"_soql({code})", "List<AggregateResult>"
        return f"_soql({code})", f"List<{self.schema.get(obj).name}>"

    def x_sosl(self, x: Node) -> tuple[str, str]:
        """Inline SOSL, ``[FIND 'Acme*' IN ALL FIELDS RETURNING Account(Name), Contact]``:
        a ``List<List<SObject>>`` ("SOQL and SOSL Queries": "SOSL statements evaluate to
        a list of lists of sObjects"), run by :func:`.stdlib.run_sosl`. Binds
        (``FIND :term``, ``WHERE Name = :n``, ``LIMIT :k``) are Apex expressions, as in
        inline SOQL. The statement is parsed and checked here (:func:`.querycheck.sosl_problem`:
        RETURNING objects, their field lists, WHERE and ORDER BY against the schema), so a
        malformed search or an unknown object or field fails the compile at the
        statement's ``[``, as a deploy does."""
        code, text = self._soql_parts(x, check=False, search=True)
        split = split_mapped(x.children[0].value, search=True)
        try:
            parsed = parse_sosl(text, apex=True)
        except SalesforceError as e:
            raise err(x, relocate(e.message, split)) from None
        if self.queries is not None:
            problem = sosl_problem(self.queries, self.schema, parsed, split)
            if problem is not None:
                raise err(x, problem)
        else:
            for spec in parsed.returning:
                if spec.name.lower() not in self.schema_names():
                    raise err(x, object_problem(spec.name))
        return f"_sosl({code.rsplit(', ', 1)[0]})", "List<List<SObject>>"

    # operators

    def x_binop(self, x: Node) -> tuple[str, str]:
        a, ta = self.expr(x.children[0])
        op = x.children[1].value
        b, tb = self.expr(x.children[2])
        ba, bb = base(ta), base(tb)
        if op == "%":
            raise unsupported(x.children[1], "the % operator (Apex has none: use Math.mod)")
        if op in ("==", "!=", "<>", "===", "!=="):
            neg = "not " if op in ("!=", "<>", "!==") else ""
            if op in ("===", "!=="):
                return f"({neg}(({a}) is ({b})))", "Boolean"
            if "id" in (ba, bb):
                return f"({neg}_id_eq({a}, {b}))", "Boolean"
            if (ba in NUMERIC and bb in NUMERIC and not {"double"} & {ba, bb}) or \
                    (ba == bb == "boolean") or "null" in (ba, bb):
                if "null" in (ba, bb):
                    return f"(({a}) {'is not' if neg else 'is'} ({b}))", "Boolean"
                return f"(({a}) {'!=' if neg else '=='} ({b}))", "Boolean"
            return f"({neg}_eq({a}, {b}))", "Boolean"
        if op in ("<", ">", "<=", ">="):
            if ba in NUMERIC and bb in NUMERIC and _SIMPLE.match(a) and _SIMPLE.match(b):
                guard = " and ".join(f"{v} is not None" for v in (a, b)
                                     if not v.lstrip("-").isdigit())
                if not guard:
                    return f"({a} {op} {b})", "Boolean"
                return f"({a} {op} {b} if {guard} else False)", "Boolean"
            return f"_cmp({a}, {b}, {op!r})", "Boolean"
        # arithmetic
        if op == "+" and ("string" in (ba, bb) or "id" in (ba, bb)):
            return f"_concat({a}, {b})", "String"
        if ba in NUMERIC and bb in NUMERIC:
            rank = max(NUMERIC[ba], NUMERIC[bb])
            rt = ["Integer", "Long", "Decimal", "Double"][rank]
            if op == "/":
                if rank <= 1:
                    return f"_idiv({a}, {b})", rt
                return f"_arith({a}, {b}, '/')", rt
            if rank == 0:
                return f"((({a}) {op} ({b}) + 2147483648) & 4294967295) - 2147483648", rt
            if rank == 1:
                return f"_w64(({a}) {op} ({b}))", rt
            if {ba, bb} == {"decimal", "double"}:
                return f"_arith({a}, {b}, {op!r})", "Decimal"
            return f"(({a}) {op} ({b}))", rt
        if op == "+":
            rt = "Object"
            if ba in ("date", "datetime"):
                rt = ta
            return f"_add({a}, {b})", rt
        if op == "-" and ba in ("date", "datetime") and bb in NUMERIC:
            return f"_add({a}, -({b}))", ta
        if ba in ("object",) or bb in ("object",):
            return f"_arith({a}, {b}, {op!r})", "Object"
        raise err(x.children[1], "Arithmetic expressions must use numeric arguments")

    def x_neg(self, x: Node) -> tuple[str, str]:
        a, t = self.expr(x.children[1])
        if base(t) == "integer":
            return f"_w32(-({a}))", t
        return f"_neg({a})", t

    def x_pos(self, x: Node) -> tuple[str, str]:
        return self.expr(x.children[1])

    def x_not_(self, x: Node) -> tuple[str, str]:
        return f"(not {self.cond(x.children[0])})", "Boolean"

    def x_and_(self, x: Node) -> tuple[str, str]:
        return f"({self.cond(x.children[0])} and {self.cond(x.children[1])})", "Boolean"

    def x_or_(self, x: Node) -> tuple[str, str]:
        return f"({self.cond(x.children[0])} or {self.cond(x.children[1])})", "Boolean"

    def _bit(self, x: Node, op: str) -> tuple[str, str]:
        a, ta = self.expr(x.children[0])
        b, _ = self.expr(x.children[1])
        if base(ta) == "boolean":
            return f"(bool({a}) {op} bool({b}))", "Boolean"
        return f"(({a}) {op} ({b}))", ta

    def x_bitand(self, x: Node) -> tuple[str, str]:
        return self._bit(x, "&")

    def x_bitor(self, x: Node) -> tuple[str, str]:
        return self._bit(x, "|")

    def x_bitxor(self, x: Node) -> tuple[str, str]:
        return self._bit(x, "^")

    def x_cond(self, x: Node) -> tuple[str, str]:
        c = self.cond(x.children[0])
        a, ta = self.expr(x.children[1])
        b, tb = self.expr(x.children[2])
        return f"(({a}) if {c} else ({b}))", ta if base(ta) != "null" else tb

    def x_coalesce(self, x: Node) -> tuple[str, str]:
        a, ta = self.expr(x.children[0])
        b, _tb = self.expr(x.children[1])
        self.sc.tmp += 1
        return f"(_c if (_c := ({a})) is not None else ({b}))", ta

    def x_instanceof(self, x: Node) -> tuple[str, str]:
        a, _ = self.expr(x.children[0])
        t = self.check_type(self._type_text(x.children[2]), x.children[2])
        return f"_instanceof({a}, {t!r}, {self._pyclass(t)})", "Boolean"

    def _pyclass(self, t: str) -> str:
        c = self.find_class(t, self.sc.cls) if base(t) not in PRIMITIVES else None
        if c is not None:
            return c.pyname
        b = base(t).removeprefix("system.")
        if b in BUILTIN_EXCEPTIONS:
            return f"_EXC[{b!r}]"
        if b in _INTERFACES:
            return _INTERFACES[b]
        return "None"

    def x_cast(self, x: Node) -> tuple[str, str]:
        t = self.check_type(self._type_text(x.children[1]), x.children[1])
        a, ta = self.expr(x.children[2])
        if base(t) in ("list", "set", "map") or base(ta) == base(t):
            if base(t) in ("list", "set", "map") and base(ta) not in ("object", base(t)):
                raise err(x, f"Incompatible types since an instance of {ta} is never an "
                             f"instance of {t}")
            return f"_cast({a}, {base(t)!r}, None)", t
        return f"_cast({a}, {t!r}, {self._pyclass(t)})", t

    # assignment

    def x_assign(self, x: Node) -> tuple[str, str]:
        target = x.children[0]
        if target.data == "var" and x.children[1].children[0].value == "=":
            parts = target.children[0].children
            if len(parts) == 1 and self._lookup_local(parts[0].value.lower()) is not None:
                low = parts[0].value.lower()
                t = self._lookup_local(low) or "Object"
                code, vt = self.expr(x.children[2])
                return f"(l_{low} := {self.coerce(code, vt, t, x.children[2])})", t
        raise unsupported(x, "an assignment used as a value (other than to a local variable)")

    def assign(self, x: Node) -> str:
        """An assignment statement."""
        target, op = x.children[0], x.children[1].children[0].value
        rhs = x.children[2]
        if op != "=":
            fake = Tree("binop", [target, Token("PLUS", op[0]), rhs], x.meta)
            if op[0] in "|&^":
                fake = Tree({"|": "bitor", "&": "bitand", "^": "bitxor"}[op[0]],
                            [target, rhs], x.meta)
            code, vt = self.expr(fake)
        else:
            code, vt = self.expr(rhs)
        return self._store(target, code, vt, rhs)

    def _store(self, target: Node, code: str, vt: str, node: Any) -> str:
        if target.data == "var":
            parts = list(target.children[0].children)
            if len(parts) == 1 or self._lookup_local(parts[0].value.lower()) is not None \
                    or len(parts) > 1:
                if len(parts) == 1:
                    low = parts[0].value.lower()
                    t = self._lookup_local(low)
                    if t is not None:
                        return f"l_{low} = {self.coerce(code, vt, t, node)}"
                    res = self._member_or_static(parts, target)
                    if res is None:
                        raise err(parts[0], f"Variable does not exist: {parts[0].value}")
                    lhs, t, _ = res
                    if not lhs.startswith(("self.f_", "C_")) or ".e_" in lhs:
                        raise err(parts[0], "Expression cannot be assigned")
                    return f"{lhs} = {self.coerce(code, vt, t, node)}"
                low0 = parts[0].value.lower()
                if self._lookup_local(low0) is None and not (
                        self.sc.cls is not None and self.sc.cls.find_field(low0) is not None):
                    # ``OtherClass.counter = 10``: a static field of another class.
                    res = self._member_or_static(parts, target)
                    if res is not None and res[2] == len(parts) and ".s_" in res[0]:
                        return f"{res[0]} = {self.coerce(code, vt, res[1], node)}"
                obj, ot = self._resolve(parts[:-1], target)
                return self._store_field(obj, ot, parts[-1], code, vt, node)
        if target.data == "field":
            obj, ot = self.expr(target.children[0])
            return self._store_field(obj, ot, target.children[1], code, vt, node)
        if target.data == "index":
            if target.children[0].data == "name":
                lst, lt = self._resolve(list(target.children[0].children), target)
            else:
                lst, lt = self.expr(target.children[0])
            i, _ = self.expr(target.children[1])
            a = targs(lt)
            return f"_lset({lst}, {i}, {self.coerce(code, vt, a[0], node) if a else code})"
        raise err(target, "Expression cannot be assigned")

    def _store_field(self, obj: str, ot: str, p: Node, code: str, vt: str, node: Any) -> str:
        low = p.value.lower()
        b = base(ot)
        if b in self.schema_names() or b == "sobject":
            name = p.value
            if b in self.schema_names():
                f = self.schema.get(b).get(p.value)
                if f is None:
                    raise err(p, f"Variable does not exist: {p.value}")
                name = f.name
                code = self.coerce(code, vt, _FIELD_TYPES.get(f.type, "Object"), node)
            return f"{obj}.set({low!r}, {name!r}, {code})"
        c = self.find_class(ot, self.sc.cls) if b not in PRIMITIVES else None
        if c is not None:
            f = c.find_field(low)
            if f is None:
                raise err(p, f"Variable does not exist: {p.value}")
            if f.static:
                return f"{f.owner.pyname}.s_{low} = {self.coerce(code, vt, f.type, node)}"
            return f"{obj}.f_{low} = {self.coerce(code, vt, f.type, node)}"
        raise err(p, f"Variable does not exist: {p.value}")

    def incdec(self, target: Node, op: str) -> str:
        """``i++`` / ``i--`` as a statement."""
        one = Tree("literal", [Token("NUMBER", "1")])
        code, vt = self.x_binop(Tree("binop", [target, Token("PLUS", op), one], target.meta))
        return self._store(target, code, vt, target)

    def x_postinc(self, x: Node) -> tuple[str, str]:
        return self._inc_value(x.children[0], "+", post=True)

    def x_postdec(self, x: Node) -> tuple[str, str]:
        return self._inc_value(x.children[0], "-", post=True)

    def x_preinc(self, x: Node) -> tuple[str, str]:
        return self._inc_value(x.children[1], "+", post=False)

    def x_predec(self, x: Node) -> tuple[str, str]:
        return self._inc_value(x.children[1], "-", post=False)

    def _inc_value(self, target: Node, op: str, post: bool) -> tuple[str, str]:
        if target.data == "var" and len(target.children[0].children) == 1:
            low = target.children[0].children[0].value.lower()
            t = self._lookup_local(low)
            if t is not None and base(t) == "integer":
                new = f"(l_{low} := _w32(l_{low} {op} 1))"
                back = "-" if op == "+" else "+"
                return (f"_w32({new} {back} 1)" if post else new), t
        raise unsupported(target, "++/-- inside an expression (other than on a local Integer)")


def _text(node: Any) -> str:
    """The text of a token."""
    return str(node.value)


def _unescape(s: str) -> str:
    out = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s):
            n = s[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f",
                        "'": "'", '"': '"', "\\": "\\"}.get(n, n))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


_DESCRIBE_RETURNS: dict[tuple[str, str], str] = {
    ("sobjecttype", "getdescribe"): "Schema.DescribeSObjectResult",
    ("sobjecttype", "newsobject"): "SObject",
    ("sobjectfield", "getdescribe"): "Schema.DescribeFieldResult",
    ("sobjecttypefields", "getmap"): "Map<String,Schema.SObjectField>",
    **{("describesobjectresult", m): "String" for m in ("getname", "getlabel",
                                                         "getkeyprefix")},
    **{("describesobjectresult", m): "Boolean" for m in ("iscustom", "iscreateable",
                                                          "isupdateable", "isdeletable")},
    ("describesobjectresult", "getsobjecttype"): "Schema.SObjectType",
    ("describefieldresult", "getname"): "String", ("describefieldresult", "getlabel"): "String",
    ("describefieldresult", "gettype"): "Schema.DisplayType",
    **{("describefieldresult", m): "Integer" for m in ("getlength", "getprecision",
                                                        "getscale")},
    **{("describefieldresult", m): "Boolean" for m in (
        "isexternalid", "isunique", "isnillable", "iscreateable", "isupdateable", "iscustom")},
    ("describefieldresult", "getsobjectfield"): "Schema.SObjectField",
}

_BUILTIN_ENUMS = frozenset({"logginglevel", "system.logginglevel", "jsontoken",
                            "system.jsontoken", "roundingmode", "system.roundingmode",
                            "displaytype", "schema.displaytype"})
"""The built-in enum types (their values are ``values.EnumValue``s, as compiled enums')."""

_PRIM_NAMES = {"integer": "Integer", "long": "Long", "decimal": "Decimal", "double": "Double",
               "string": "String", "boolean": "Boolean", "id": "Id", "date": "Date",
               "datetime": "Datetime", "time": "Time", "blob": "Blob", "object": "Object"}

_BUILTIN_RETURNS: dict[tuple[str, str], str] = {
    **{(p + "type", m): r for p in ("", "system.") for m, r in (
        ("getname", "String"), ("newinstance", "Object"), ("equals", "Boolean"))},
    **{(p + "jsongenerator", m): r for p in ("", "system.") for m, r in (
        ("getasstring", "String"), ("isclosed", "Boolean"))},
    **{(p + "jsonparser", m): r for p in ("", "system.") for m, r in (
        ("nexttoken", "System.JSONToken"), ("nextvalue", "System.JSONToken"),
        ("getcurrenttoken", "System.JSONToken"), ("getlastclearedtoken", "System.JSONToken"),
        ("hascurrenttoken", "Boolean"), ("clearcurrenttoken", "void"),
        ("skipchildren", "void"), ("getcurrentname", "String"), ("gettext", "String"),
        ("getintegervalue", "Integer"), ("getlongvalue", "Long"),
        ("getdecimalvalue", "Decimal"), ("getdoublevalue", "Double"),
        ("getbooleanvalue", "Boolean"), ("getidvalue", "Id"), ("getdatevalue", "Date"),
        ("getdatetimevalue", "Datetime"), ("gettimevalue", "Time"),
        ("getblobvalue", "Blob"), ("readvalueas", "Object"),
        ("readvalueasstrict", "Object"))},
    **{(p + k, m): v for (k, m), v in _DESCRIBE_RETURNS.items() for p in ("", "schema.")},
    ("http", "send"): "HttpResponse",
    ("httpresponse", "getbody"): "String", ("httpresponse", "getstatuscode"): "Integer",
    ("httpresponse", "getstatus"): "String", ("httpresponse", "getheader"): "String",
    ("httprequest", "getbody"): "String", ("httprequest", "getendpoint"): "String",
    ("httprequest", "getmethod"): "String", ("httprequest", "setendpoint"): "void",
    ("httprequest", "setmethod"): "void", ("httprequest", "setbody"): "void",
    ("httprequest", "setheader"): "void", ("httprequest", "settimeout"): "void",
    ("database.saveresult", "issuccess"): "Boolean", ("database.saveresult", "getid"): "Id",
    ("database.saveresult", "geterrors"): "List<Database.Error>",
    ("database.upsertresult", "issuccess"): "Boolean",
    ("database.upsertresult", "iscreated"): "Boolean",
    ("database.upsertresult", "getid"): "Id",
    ("database.upsertresult", "geterrors"): "List<Database.Error>",
    ("database.deleteresult", "issuccess"): "Boolean",
    ("database.deleteresult", "getid"): "Id",
    ("database.deleteresult", "geterrors"): "List<Database.Error>",
    ("database.error", "getstatuscode"): "String", ("database.error", "getmessage"): "String",
    ("database.error", "getfields"): "List<String>",
    ("system.orglimit", "getname"): "String", ("system.orglimit", "getlimit"): "Integer",
    ("system.orglimit", "getvalue"): "Integer",
    ("orglimit", "getname"): "String", ("orglimit", "getlimit"): "Integer",
    ("orglimit", "getvalue"): "Integer",
    ("queueablecontext", "getjobid"): "Id", ("database.batchablecontext", "getjobid"): "Id",
    ("schedulablecontext", "gettriggerid"): "Id",
    ("database.querylocator", "getquery"): "String",
}
