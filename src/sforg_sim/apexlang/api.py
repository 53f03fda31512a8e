"""Entry points: :class:`ApexEngine` (what ``org.apex`` is: the async engine plus
``deploy``/``execute_anonymous``), the functions :func:`deploy` and
:func:`execute_anonymous` (kept; they do the same), and the per-org :class:`ApexRuntime`
(kept with ``org.attached``) holding the deployed classes.

Layering: the async engine (:mod:`sforg_sim.apex`) sits below the Apex language and never
imports it; :class:`ApexEngine` subclasses it here, above both, and :class:`sforg_sim.Org`
(above this) builds its ``apex`` from it.

``execute_anonymous`` returns what the SOAP/Tooling ``executeAnonymous`` call returns
(``compiled``, ``success``, ``line``, ``column``, ``compileProblem``, ``exceptionMessage``,
``exceptionStackTrace``: "SOAP API Developer Guide", *ExecuteAnonymousResult*,
https://developer.salesforce.com/docs/platform/api/guide/sforce-api-calls-executeanonymous-result.html)
plus the debug log's ``USER_DEBUG`` lines in the layout ``sf apex run`` prints
(``HH:MM:SS.sss (nanos)|USER_DEBUG|[line]|LEVEL|message``). The anonymous block is one
synchronous transaction (``org.apex.execute_anonymous``: sync governor limits; the jobs it
enqueued start when it commits; a failure rolls it back).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from lark import Token, Tree

from ..apex import AsyncEngine
from ..apex.governor import LimitBreach
from ..errors import SalesforceError, UsageError
from . import jobs, jsontyped, runtime, stdlib
from .compiler import ClassInfo, Compiler, _Emitter
from .errors import ApexCompileError, InternalError
from .parser import parse_anonymous, parse_class
from .values import (
    BUILTIN_EXCEPTIONS,
    ApexException,
    ApexMap,
    ApexObject,
    ApexSet,
    EnumValue,
    SObject,
    exception_class,
)

__all__ = ["AnonymousResult", "ApexEngine", "ApexRuntime", "CompileResult", "deploy",
           "execute_anonymous", "runtime_for"]

_COUNTER = itertools.count(1)
_log = logging.getLogger(__name__)


@dataclass
class CompileResult:
    """One class's deploy result (as a Metadata API deploy reports a component)."""

    name: str
    success: bool
    line: int = 0
    column: int = 0
    problem: str | None = None
    file: str | None = None


@dataclass
class AnonymousResult:
    """``ExecuteAnonymousResult`` plus the debug log lines."""

    compiled: bool
    success: bool
    line: int = -1
    column: int = -1
    compile_problem: str | None = None
    exception_message: str | None = None
    exception_stack_trace: str | None = None
    log: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The SOAP/Tooling field names."""
        return {"compiled": self.compiled, "success": self.success, "line": self.line,
                "column": self.column, "compileProblem": self.compile_problem,
                "exceptionMessage": self.exception_message,
                "exceptionStackTrace": self.exception_stack_trace}


def _base_namespace() -> dict[str, Any]:
    class _EnumBase:
        apex_type = "Enum"

    ns: dict[str, Any] = {
        "_ApexObject": ApexObject, "_ApexException": ApexException, "_EnumBase": _EnumBase,
        "_Enum": EnumValue, "_ApexQueueable": jobs.ApexQueueable,
        "_ApexSchedulable": jobs.ApexSchedulable, "_ApexBatchable": jobs.ApexBatchable,
        "_ApexStateful": jobs.ApexStateful, "_EXC": BUILTIN_EXCEPTIONS,
        "_IN": stdlib.INSTANCE, "_ST": stdlib.STATIC, "_BC": stdlib.BUILTIN_CLASSES,
        "_LEVEL": stdlib.LOGGING_LEVELS, "_RM": stdlib.ROUNDING_MODES, "_Decimal": Decimal,
        "_Set": ApexSet, "_DSR": stdlib.DescribeSObjectResult, "_SOT": stdlib.SObjectTypeToken,
        "_FTOK": stdlib.field_token, "_DT": stdlib.DISPLAY_TYPES, "_TY": jsontyped.new_type,
        "_Map": ApexMap, "_new_map": runtime.new_map, "_debug": stdlib.system_debug,
        "_soql": stdlib.run_soql, "_sosl": stdlib.run_sosl, "_single": stdlib.single_row,
        "_dml": stdlib.dml, "_merge": stdlib.merge,
        "_locator": _inline_locator,
        "_w32": runtime.w32, "_w64": runtime.w64, "_idiv": runtime.idiv,
        "_concat": runtime.concat, "_add": runtime.add, "_arith": runtime.arith,
        "_eq": runtime.eq, "_id_eq": runtime.id_eq, "_cmp": runtime.cmp,
        "_truth": runtime.truth, "_neg": runtime.neg, "_cast": runtime.cast,
        "_instanceof": runtime.is_instance, "_to_dec": runtime.to_decimal,
        "_to_dbl": runtime.to_double, "_lget": runtime.list_get, "_lset": runtime.list_set,
        "_iterate": runtime.iterate, "_wrap": runtime.wrap_error, "_dyn": stdlib.dyn_call,
        "_dynf": _dyn_field, "_newso": _new_sobject, "_throw": _throw,
        "_catchable": _catchable, "_chunks": _chunks, "_map_from": _map_from,
    }
    return ns


def _inline_locator(soql: str, binds: dict[str, Any], all_rows: bool) -> Any:
    """``Database.getQueryLocator([SELECT ...])``. The engine's locator snapshots live
    rows only, so ``ALL ROWS`` (deleted rows too) is refused by name rather than dropped,
    which would hand the batch fewer records than the platform does."""
    if all_rows:
        raise stdlib.exception_class("QueryException")(
            "Not supported by sforg-sim: ALL ROWS in Database.getQueryLocator")
    return stdlib.QueryLocatorValue(soql, binds)


def _dyn_field(obj: Any, low: str) -> Any:
    if obj is None:
        raise TypeError("NoneType")  # wrap_error turns it into a NullPointerException
    if isinstance(obj, SObject):
        return obj.v.get(low)
    return getattr(obj, f"f_{low}")


def _new_sobject(stype: str, pairs: tuple[tuple[str, str, Any], ...]) -> SObject:
    s = SObject(stype)
    for low, name, v in pairs:
        s.set(low, name, v)
    return s


def _throw(x: Any, line: int, col: int) -> BaseException:
    if x is None:
        from .values import npe

        return npe()
    if not isinstance(x, ApexException):
        return BUILTIN_EXCEPTIONS["typeexception"]("Throw requires an exception")
    if not x.line:
        x.line, x.column = line, col
    return x


def _catchable(x: BaseException, cls: type) -> bool:
    return isinstance(x, ApexException) and isinstance(x, cls) and not isinstance(
        x, BUILTIN_EXCEPTIONS["limitexception"])


def _chunks(rows: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def _map_from(src: Any) -> ApexMap:
    if isinstance(src, list):
        return runtime.new_map((s.v.get("id"), s) for s in src)
    return ApexMap(src)


LOG_KEEP = 100_000
"""Debug-log lines an ApexRuntime keeps (the newest); older ones are dropped."""


class ApexRuntime:
    """The Apex classes deployed to one org, their shared namespace and the debug log."""

    def __init__(self, org: Any) -> None:
        self.org = org
        self.infos: dict[str, ClassInfo] = {}
        self.ns = _base_namespace()
        self.classes: dict[str, type] = {}
        self.log: list[str] = []

    # --- deploy -----------------------------------------------------------------------------

    def deploy(self, sources: str | Path | Iterable[str | Path] | Mapping[str, str]
               ) -> list[CompileResult]:
        """Compile and install classes from a folder (``*.cls``), files, source strings or
        ``{name: source}``. All or none, as a Metadata API deploy: when one class fails,
        none is installed and every result says why."""
        items = _sources(sources)
        trees: list[tuple[str, str, Any]] = []
        results: list[CompileResult] = []
        for label, text in items:
            try:
                trees.append((label, text, parse_class(text)))
            except ApexCompileError as e:
                results.append(CompileResult(label, False, e.line, e.column, e.problem, label))
        if results:
            return results + [CompileResult(lbl, False, 0, 0, "Deploy failed: another class "
                              "has errors", lbl) for lbl, _, _ in trees]
        known = dict(self.infos)
        comp = Compiler(self.org.schema, known, self.org.soql)
        infos: list[tuple[str, ClassInfo]] = []
        for label, _, tree in trees:
            for decl in tree.children:
                try:
                    info = comp.declare(decl)
                except ApexCompileError as e:
                    results.append(CompileResult(label, False, e.line, e.column, e.problem,
                                                 label))
                    continue
                known[info.name.lower()] = info
                infos.append((label, info))
        code: dict[str, tuple[str, Any]] = {}
        for label, info in infos:
            try:
                comp.link(info)
                comp.e = _Emitter()
                comp.compile_class(info)
                fname = f"<apex:{info.name}>"
                runtime.LINE_MAPS[fname] = comp.e.where
                code[info.name] = (fname, compile("\n".join(comp.e.lines), fname, "exec"))
                results.append(CompileResult(info.name, True, file=label))
            except ApexCompileError as e:
                results.append(CompileResult(info.name, False, e.line, e.column, e.problem,
                                             label))
            except Exception as e:  # a bug of the compiler: a failed class, no traceback
                _log.debug("sforg-sim internal error compiling %s", info.name, exc_info=e)
                results.append(CompileResult(info.name, False, 0, 0,
                                             InternalError.wrap(e).message, label))
        if not all(r.success for r in results):
            return results
        for _, (_, obj) in code.items():
            exec(obj, self.ns)
        self.infos = known
        for _, info in infos:
            self._register(info)
        return results

    def _register(self, info: ClassInfo) -> None:
        cls = self.ns[info.pyname]
        cls.apex_runtime = self
        self.classes[info.name.lower()] = cls
        for inner in info.inner.values():
            self._register(inner)

    def reset_statics(self) -> None:
        """Run every class's static initialisers (once per transaction)."""
        for cls in self.classes.values():
            si = getattr(cls, "_si", None)
            if si is not None:
                si()

    # --- anonymous ---------------------------------------------------------------------------

    def compile_anonymous(self, source: str) -> tuple[Any, dict[str, Any]]:
        """Compile an anonymous block: (code object of ``_anon``, namespace)."""
        tree = parse_anonymous(source)
        known = dict(self.infos)
        comp = Compiler(self.org.schema, known, self.org.soql)
        local: list[ClassInfo] = []
        stmts = []
        methods: list[Tree] = []
        for item in tree.children:
            if item.data in ("class_core", "anon_class_mods"):
                core = item if item.data == "class_core" else item.children[-1]
                info = comp.declare(core)
                known[info.name.lower()] = info
                local.append(info)
            elif item.data in ("anon_method", "anon_method_mods"):
                methods.append(_anon_method(item))
            else:
                stmts.append(item)
        block_cls = _block_class(comp, methods) if methods else None
        for info in local:
            comp.link(info)
        comp.e = _Emitter()
        for info in local:
            comp.compile_class(info)
        if block_cls is not None:
            comp.link(block_cls)
            comp.compile_class(block_cls)
        from .compiler import _Scope

        # The block's own methods are static methods of the block (_block_class): its
        # statements call them as a class's static method calls its siblings.
        comp.sc = _Scope(block_cls, True)
        comp.e.pos = (1, 1)
        comp.e.emit("def _anon():")
        comp.e.indent += 1
        comp.e.emit("pass")
        for s in stmts:
            comp.stmt(s)
        fname = f"<apex:AnonymousBlock{next(_COUNTER)}>"
        runtime.LINE_MAPS[fname] = comp.e.where
        obj = compile("\n".join(comp.e.lines), fname, "exec")
        ns = dict(self.ns)
        exec(obj, ns)
        for info in local + ([block_cls] if block_cls is not None else []):
            ns[info.pyname].apex_runtime = self
        ns["__apex_file__"], ns["__apex_local__"] = fname, bool(local)
        return ns["_anon"], ns

    def execute_anonymous(self, source: str) -> AnonymousResult:
        """Compile and run an anonymous block as one synchronous transaction."""
        if not isinstance(source, str):
            raise UsageError("execute_anonymous needs Apex source text")
        if len(self.log) > LOG_KEEP:
            # A server runs sf apex run for hours: keep the newest half of the debug log.
            del self.log[:-LOG_KEEP // 2]
        start = len(self.log)
        try:
            fn, ns = self.compile_anonymous(source)
        except ApexCompileError as e:
            return AnonymousResult(False, False, e.line, e.column, e.problem)
        except Exception as e:  # a bug of the compiler: a failed compile, not a traceback
            x = InternalError.wrap(e)
            _log.debug("sforg-sim internal error compiling Apex", exc_info=e)
            return AnonymousResult(False, False, -1, -1, x.message)
        try:
            return self._run_anonymous(fn, start)
        except Exception as e:  # a bug outside the block's own code (the engine's commit)
            if isinstance(e, SalesforceError):
                raise
            x = InternalError.wrap(e)
            _log.debug("sforg-sim internal error running Apex", exc_info=e)
            return AnonymousResult(True, False, -1, -1, None, x.message,
                                   "AnonymousBlock: line 1, column 1", self.log[start:])
        finally:
            if not ns["__apex_local__"]:
                # Nothing of the block can run later (it declared no classes): its line map
                # goes, or a long-running server would keep one per call.
                runtime.LINE_MAPS.pop(ns["__apex_file__"], None)

    def _run_anonymous(self, fn: Any, start: int) -> AnonymousResult:
        # Where a governor limit broke (an uncatchable LimitException travels as a
        # LimitBreach, which the engine turns into the org's error): its line, column and
        # stack, read from the breach's traceback, as executeAnonymous reports them for
        # any uncaught exception (ExecuteAnonymousResult: "line", "column",
        # "exceptionStackTrace"; module docstring).
        where: list[ApexException] = []

        def body(ctx: Any) -> None:
            with runtime.entered(runtime.Execution(ctx, self)):
                self.reset_statics()
                try:
                    fn()
                except LimitBreach as b:
                    lx = exception_class("LimitException")(b.error.message)
                    where.append(runtime.locate_at(lx, b.__traceback__))
                    raise
                except BaseException as e:
                    # A Python failure of the simulator's own code becomes an
                    # InternalError (a failed result, never a traceback).
                    x = runtime.internal_error(runtime.wrap_error(e))
                    if isinstance(x, ApexException):
                        runtime.locate(x)
                    if x is e:
                        raise
                    raise x from None

        try:
            self.org.apex.execute_anonymous(body)
        except ApexException as x:
            runtime.locate(x)
            stack = "\n".join(x.stack) or f"AnonymousBlock: line {x.line}, column {x.column}"
            return AnonymousResult(True, False, x.line, x.column, None, str(x), stack,
                                   self.log[start:])
        except InternalError as ie:
            line, col = (ie.line, ie.column) if ie.line else (-1, -1)
            return AnonymousResult(True, False, line, col, None, ie.message,
                                   f"AnonymousBlock: line {max(line, 1)}, column "
                                   f"{max(col, 1)}", self.log[start:])
        except Exception as e:  # a platform error the block did not catch
            if not isinstance(e, SalesforceError):
                raise
            msg = (f"System.LimitException: {e.message}" if e.error_code == "LIMIT_EXCEPTION"
                   else f"{e.error_code}: {e.message}")
            lx = where[-1] if where and e.error_code == "LIMIT_EXCEPTION" else None
            if lx is not None and lx.line:
                return AnonymousResult(True, False, lx.line, lx.column, None, msg,
                                       "\n".join(lx.stack), self.log[start:])
            return AnonymousResult(True, False, -1, -1, None, msg, "AnonymousBlock: line 1, "
                                   "column 1", self.log[start:])
        return AnonymousResult(True, True, log=self.log[start:])


def _anon_method(item: Tree) -> Tree:
    """A method declared in an anonymous block as the ``method_decl`` tree of a static
    method (what the compiler compiles for a class).

    "Note the following about the content of an anonymous block ...: Can include
    user-defined methods and exceptions. User-defined methods can't include the keyword
    static." (Apex Developer Guide, "Anonymous Blocks",
    https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_anonymous_block.htm).
    They have no instance to run on, so they compile as static methods of the block;
    the keyword itself is a compile error, as are ``protected`` and ``override`` (no
    class to protect or override in). The wording of that error is sforg-sim's: no
    document quotes the platform's.
    """
    kids = list(item.children)
    mods = [k for k in kids if isinstance(k, Tree) and k.data == "anon_mod"]
    for m in mods:
        word = m.children[0]
        if isinstance(word, Token) and word.type in ("STATIC", "PROTECTED", "OVERRIDE"):
            raise ApexCompileError(
                f"Methods of an anonymous block can't be {word.value.lower()}",
                word.line or 1, word.column or 1)
    rest = [k for k in kids if k not in mods]
    modifier: Tree[Token] = Tree("modifier", [Token("STATIC", "static")])
    static: Tree[Any] = Tree("mods", [modifier])
    return Tree("method_decl", [static, *rest])


def _block_class(comp: Compiler, methods: list[Tree]) -> ClassInfo:
    """The hidden class holding an anonymous block's methods (:func:`_anon_method`).

    Named ``AnonymousBlock`` (so stack traces and messages read as the platform's: the
    methods' frames are ``AnonymousBlock: line N, column M``) but never registered as a
    type: no Apex code can name it, and a deployed class of that name is not shadowed."""
    core = Tree("class_core", [Token("CLASS", "class"), Token("NAME", "AnonymousBlock"),
                               *methods])
    info = comp.declare(core)
    comp.local.remove(info)  # not a type of the block: Type.forName must not see it
    info.pyname = "C__anonymous_block"
    return info


_DEPLOY_INPUT = ("deploy needs a folder, a .cls file, Apex source text, a list of those "
                 "or a {name: source} mapping")


def _read_source(path: Path) -> str:
    """The text of one ``.cls`` file, read as UTF-8 (the encoding Salesforce DX source
    files use; a leading byte-order mark is dropped). A file that is not UTF-8 or cannot
    be read is the caller's mistake: a UsageError naming the file and the first bad byte,
    never a bare UnicodeDecodeError."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        bad = e.object[e.start:e.start + 1].hex()
        raise UsageError(f"{path} is not UTF-8 text (byte 0x{bad} at offset {e.start}): "
                         "save the Apex source as UTF-8") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None


def _sources(sources: Any, nested: bool = False) -> list[tuple[str, str]]:
    """``(label, source text)`` of each class ``deploy`` was given. Anything else (None,
    a number, bytes, a list of lists) is the caller's mistake: a UsageError with the
    reason, as ``execute_anonymous(None)`` gives, never a bare TypeError. A list holds
    paths, texts or mappings (``nested``), not further lists."""
    if isinstance(sources, Mapping):
        bad = next((k for k, v in sources.items() if not isinstance(v, str)), None)
        if bad is not None:
            raise UsageError(f"{_DEPLOY_INPUT}: the source of {bad!r} is a "
                             f"{type(sources[bad]).__name__}, not text")
        return [(str(k), v) for k, v in sources.items()]
    if isinstance(sources, (str, Path)):
        p = Path(sources) if isinstance(sources, Path) or ("\n" not in str(sources) \
            and not str(sources).lstrip().lower().startswith(("public", "global", "private",
                                                              "class", "@"))) else None
        if p is not None:
            if p.is_dir():
                files = sorted(p.glob("*.cls"))
                if not files:
                    raise UsageError(f"no .cls files in {p}")
                return [(f.stem, _read_source(f)) for f in files]
            if p.is_file():
                return [(p.stem, _read_source(p))]
            raise UsageError(f"no such file or folder: {p}")
        return [(f"source{next(_COUNTER)}", str(sources))]
    if nested or isinstance(sources, (bytes, bytearray)) or not isinstance(sources, Iterable):
        raise UsageError(f"{_DEPLOY_INPUT}, not {type(sources).__name__}"
                         + (" (decode bytes first)" if isinstance(sources, (bytes, bytearray))
                            else ""))
    out: list[tuple[str, str]] = []
    for s in sources:
        out.extend(_sources(s, nested=True))
    return out


def runtime_for(org: Any) -> ApexRuntime:
    """The org's Apex runtime (created on first use, kept with ``org.attached``)."""
    return org.attached(ApexRuntime, lambda: ApexRuntime(org))


def deploy(org: Any, sources: Any) -> list[CompileResult]:
    """Deploy Apex classes to ``org`` (see :meth:`ApexRuntime.deploy`); the same as
    ``org.apex.deploy(sources)``."""
    return runtime_for(org).deploy(sources)


def execute_anonymous(org: Any, source: str) -> AnonymousResult:
    """Run anonymous Apex on ``org`` (see :meth:`ApexRuntime.execute_anonymous`); the same
    as ``org.apex.execute_anonymous(source)``."""
    return runtime_for(org).execute_anonymous(source)


class ApexEngine(AsyncEngine):
    """``org.apex``: the org's async engine (Python jobs, schedules, ``run_until_idle``)
    that also deploys and runs the team's Apex source, so one object does both::

        org.apex.deploy("force-app/main/default/classes")
        res = org.apex.execute_anonymous("System.enqueueJob(new MyJob());")
        org.apex.run_until_idle()

    The classes live in the org's :class:`ApexRuntime` (:func:`runtime_for`), shared with
    :func:`deploy`, :func:`execute_anonymous` and the SOAP/Metadata surfaces. Its
    ``execute_anonymous`` also accepts a Python callable, the engine's own form (a
    synchronous transaction over a :class:`~sforg_sim.apex.Context`)."""

    def deploy(self, sources: str | Path | Iterable[str | Path] | Mapping[str, str]
               ) -> list[CompileResult]:
        """Compile and install Apex classes: a folder of ``*.cls`` files (such as
        ``force-app/main/default/classes``), ``.cls`` paths, source strings or
        ``{name: source}``; all or none, one :class:`CompileResult` per class."""
        return runtime_for(self.org).deploy(sources)

    def execute_anonymous(self, source: Any) -> Any:
        """Run anonymous Apex (a string): the :class:`AnonymousResult` (compiled, success,
        line, column, compile problem, exception message and stack trace, debug log), as
        the platform's executeAnonymous. Jobs it enqueued run with :meth:`run_until_idle`.

        A callable is run as the engine's synchronous transaction instead
        (:meth:`AsyncEngine.execute_anonymous`: returns what it returns, raises what fails).
        """
        if callable(source):
            return super().execute_anonymous(source)
        if not isinstance(source, str):
            raise UsageError("execute_anonymous needs Apex source text (or a Python "
                             f"callable taking the transaction's Context), got "
                             f"{type(source).__name__}")
        return runtime_for(self.org).execute_anonymous(source)

    @property
    def classes(self) -> list[str]:
        """Names of the deployed top-level Apex classes, as declared."""
        rt = runtime_for(self.org)
        return sorted(info.name for info in rt.infos.values())
