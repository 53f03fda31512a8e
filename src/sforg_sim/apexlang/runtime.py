"""What compiled Apex calls at run time: operators with Apex semantics, SOQL, DML, the
current transaction, and the conversion of Python failures into Apex exceptions.

Compiled code (see :mod:`.compiler`) is Python; where Apex and Python differ it calls the
helpers here. Semantics and their sources:

- ``==`` on Strings is case-insensitive, ``String.equals`` is not; ``==`` on Ids compares
  15- and 18-character forms ("Apex Developer Guide", *Expression Operators*,
  https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/langCon_apex_expressions_operators_understanding.htm:
  "Unlike Java, == in Apex compares object value equality not reference equality, except
  for user-defined types ... String comparison using == is case-insensitive ... ID
  comparison using == is case-sensitive and does not distinguish between 15-character
  and 18-character formats").
- ``<``, ``>``, ``<=``, ``>=`` with a null operand are false (same page: "If x or y equal
  null and are Integers, Doubles, Dates, or Datetimes, the expression is false"); on
  Strings they compare case-insensitively here (assumption, as ``==``).
- ``+`` with a String operand concatenates; null becomes ``'null'``.
- Integer arithmetic wraps at 32 bits and Long at 64 ("Primitive Data Types": Integer
  "A 32-bit number that does not include a decimal point", Long "A 64-bit number",
  https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/langCon_apex_primitives.htm);
  Integer division truncates toward zero; division by zero is ``System.MathException:
  Divide by 0``.

Apex CPU time (:class:`Execution`, :func:`cpu_tick`). The documented rule (Limits Quick
Reference, *Per-Transaction Apex Limits*, "Maximum CPU time on the Salesforce servers":
10,000 ms synchronous, 60,000 ms asynchronous; footnote 5: "CPU time is calculated for all
executions on the Salesforce application servers occurring in one Apex transaction ...
the portion of execution time spent in the database for DML, SOQL, and SOSL isn't
counted, nor is waiting time for Apex callouts",
https://resources.docs.salesforce.com/latest/latest/en-us/sfdc/pdf/salesforce_app_limits_cheatsheet.pdf)
is a measurement, not a count of statements, so the simulator measures too: the thread CPU
time (``time.thread_time``) the compiled Apex of a transaction spends, minus the time spent
inside SOQL, DML and callouts (:meth:`Execution.outside`), where the governor already
charges the cost model's database time and callout waits. Why measured and not a fixed
cost per statement: no document gives a cost per statement, and a made-up one would be an
invented limit in disguise; the measured time is what the rule describes, on this host.
Compiled code calls :func:`cpu_tick` at loop back-edges and method entries, cheaply (a
local countdown per loop, a shared counter per call; the clock is read once every
:data:`TICK_EVERY` of them), so ``while (true) {}`` ends with the uncatchable
``System.LimitException: Apex CPU time limit exceeded``. The measured time counts toward
the limit and ``Limits.getCpuTime()`` only, never toward the simulated duration, so clocks,
debug-log stamps and replays stay as reproducible as they were; only a transaction that
runs close to the limit can end differently on a slower or faster host. The option
:attr:`CpuOptions.scale` (default 1.0: the measured time as is) multiplies the measured
time, for "what if this host were N times slower than Salesforce's servers" and for tests.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from ..apex.governor import LimitBreach
from ..errors import SalesforceError, UsageError
from .errors import InternalError
from .values import ApexException, ApexMap, ApexSet, SObject, apex_str, exception_class, id18, npe

__all__ = ["CALLS", "FUTURE_LIMIT", "LINE_MAPS", "NO_FUTURE", "TICK_EVERY", "CpuOptions",
           "Execution", "cpu_options", "cpu_tick", "current", "future_limit",
           "internal_error", "running_job_type", "wrap_error"]

_LOCAL = threading.local()
_log = logging.getLogger(__name__)
LINE_MAPS: dict[str, list[tuple[int, int]]] = {}
"""Generated file name -> (Apex line, column) of each generated Python line (1-based)."""


TICK_EVERY = 256
"""Loop iterations (per loop nest) and method calls (all together) between two readings
of the thread CPU clock: small enough that a runaway loop overshoots the CPU limit by
little, large enough that the reading costs next to nothing per iteration."""

CALLS = itertools.count(1)
"""The method-entry counter compiled code shares (``next(CALLS)`` is atomic)."""


class CpuOptions:
    """Per-org options of the Apex CPU meter (``cpu_options(org).scale = 2.0``).

    ``scale`` multiplies the measured thread CPU time before it is charged: 1.0 (the
    default) charges what this host measured. An explicit, named what-if (no document
    relates this host's speed to Salesforce's application servers), also used by tests
    to reach the 10 s limit in milliseconds."""

    def __init__(self) -> None:
        self._scale = 1.0

    @property
    def scale(self) -> float:
        """The factor applied to measured CPU time (1.0 by default)."""
        return self._scale

    @scale.setter
    def scale(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not 0 < value < float("inf"):
            raise UsageError(f"the Apex CPU scale must be a positive number, not {value!r}")
        self._scale = float(value)


def cpu_options(org: Any) -> CpuOptions:
    """The org's :class:`CpuOptions` (kept with ``org.attached``)."""
    opts: CpuOptions = org.attached(CpuOptions, CpuOptions)
    return opts


class Execution:
    """The transaction compiled code runs in: the engine's Context, the debug log and the
    Apex CPU meter (see the module docstring)."""

    def __init__(self, ctx: Any, runtime: Any) -> None:
        self.ctx = ctx
        self.runtime = runtime
        self.started = ctx.org.clock.time()
        self.cpu_scale = cpu_options(ctx.org).scale
        self._cpu_mark = time.thread_time()
        self._outside = 0
        self.future_calls = 0
        """``@future`` calls made in this transaction (``Limits.getFutureCalls()``)."""
        self.callout_block: str | None = None
        """Why no callout may run in this transaction (a ``@future`` method without
        ``callout=true``), or None."""

    def charge_cpu(self) -> None:
        """Charge the thread CPU time used since the last reading to the governor; past
        the limit this raises the uncatchable ``Apex CPU time limit exceeded``.

        The counter is the governor's own ``cpu_seconds`` (what ``Limits.getCpuTime``
        reads); the check goes through ``Governor.cpu(0.0)`` so the breach is the
        governor's. ``Governor.cpu(seconds)`` is not used for the amount because it also
        adds to the simulated duration, which must not depend on the host."""
        if self._outside:
            return
        now = time.thread_time()
        used = (now - self._cpu_mark) * self.cpu_scale
        self._cpu_mark = now
        gov = self.ctx.governor
        gov.cpu_seconds += used
        if gov.cpu_seconds > gov.limits.cpu_seconds:
            gov.cpu(0.0)

    def outside(self) -> _Outside:
        """``with ex.outside(): ...``: time spent in the block (SOQL, DML, a callout: the
        database and the network, which the governor charges as duration) is not Apex
        CPU time. What ran before it is charged first."""
        return _Outside(self)

    def log(self, line: int, level: str, message: str) -> None:
        """``System.debug``: kept in the runtime's log in the debug-log layout, and in the
        engine's log as ``System.debug`` from Python jobs is."""
        gov = self.ctx.governor
        t = self.started + gov.elapsed
        stamp = dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%H:%M:%S.%f")[:12]
        nanos = round(gov.elapsed * 1e9)
        self.runtime.log.append(f"{stamp} ({nanos})|USER_DEBUG|[{line}]|{level}|{message}")
        self.ctx.debug(message)


class _Outside:
    """The context manager of :meth:`Execution.outside` (nestable)."""

    __slots__ = ("ex",)

    def __init__(self, ex: Execution) -> None:
        self.ex = ex

    def __enter__(self) -> None:
        ex = self.ex
        ex.charge_cpu()
        ex._outside += 1

    def __exit__(self, *exc: object) -> None:
        ex = self.ex
        ex._outside -= 1
        if not ex._outside:
            ex._cpu_mark = time.thread_time()


def cpu_tick() -> None:
    """Called by compiled code every :data:`TICK_EVERY` loop iterations or method calls:
    charge the CPU time used so far (outside a transaction: nothing to charge)."""
    ex: Execution | None = getattr(_LOCAL, "ex", None)
    if ex is not None:
        ex.charge_cpu()


FUTURE_LIMIT = 50
"""``@future`` calls per transaction where they are allowed (synchronous, queueable and
scheduled transactions): Limits Quick Reference, *Per-Transaction Apex Limits*, "Maximum
number of methods with the future annotation allowed per Apex invocation: 50; 0 in batch
and future contexts; 50 in queueable context"."""

NO_FUTURE = ("BatchApex", "Future")
"""AsyncApexJob JobTypes whose transactions may make no future call (their limit is 0)."""


def running_job_type(ctx: Any) -> str | None:
    """The AsyncApexJob JobType of the job transaction ``ctx`` runs (None: synchronous)."""
    if ctx.job_id is None:
        return None
    job = getattr(ctx.engine, "jobs", {}).get(ctx.job_id)
    return None if job is None else str(job.job_type)


def future_limit() -> int:
    """``Limits.getLimitFutureCalls()`` in the running transaction."""
    return 0 if running_job_type(current().ctx) in NO_FUTURE else FUTURE_LIMIT


def current() -> Execution:
    """The running transaction (compiled code only runs inside one)."""
    ex: Execution | None = getattr(_LOCAL, "ex", None)
    if ex is None:
        raise exception_class("UnexpectedException")("no Apex transaction is running")
    return ex


class entered:
    """Context manager making ``ex`` the current execution (restoring the previous one)."""

    def __init__(self, ex: Execution) -> None:
        self.ex = ex
        self.prev: Execution | None = None

    def __enter__(self) -> Execution:
        self.prev = getattr(_LOCAL, "ex", None)
        _LOCAL.ex = self.ex
        return self.ex

    def __exit__(self, *exc: object) -> None:
        _LOCAL.ex = self.prev


# --- errors ------------------------------------------------------------------------------

def apex_frames(tb: Any) -> list[tuple[str, int, int]]:
    """(frame name, Apex line, column) of the compiled frames in a traceback, outermost
    first: the stack trace Apex prints (``Class.Foo.bar: line 3, column 1``)."""
    return _frames(traceback.walk_tb(tb))


def _frames(walk: Iterable[tuple[Any, int]]) -> list[tuple[str, int, int]]:
    """(frame name, Apex line, column) of the compiled frames among ``walk``'s."""
    out = []
    for frame, lineno in walk:
        fname = frame.f_code.co_filename
        lines = LINE_MAPS.get(fname)
        if lines is None or not (0 < lineno <= len(lines)):
            continue
        line, col = lines[lineno - 1]
        cls = fname[len("<apex:"):-1]
        fn = frame.f_code.co_name
        if cls.startswith("AnonymousBlock"):
            name = "AnonymousBlock"
        elif fn.startswith("m_"):
            # m_<name>_<arity>[__<types>] (compiler's module docstring)
            name = f"Class.{cls}.{fn[2:].split('__', 1)[0].rsplit('_', 1)[0]}"
        elif fn.startswith(("c_", "_mk")):
            name = f"Class.{cls}.<init>"
        else:
            name = f"Class.{cls}"
        out.append((name, line, col))
    return out


def wrap_error(e: BaseException) -> BaseException:
    """The Apex exception for a Python failure inside compiled code.

    LimitBreach and ApexException pass through; Python's errors on None become
    NullPointerException; other SalesforceErrors (from the org) become the Apex exception
    of the operation that raised them where the caller has not converted them already.
    """
    if isinstance(e, LimitBreach):
        return e
    if isinstance(e, ApexException):
        _locate(e, e.__traceback__)  # a thrown or library exception: where it came from
        return e
    if isinstance(e, (TypeError, AttributeError)) and "NoneType" in str(e):
        x = npe()
    elif isinstance(e, ZeroDivisionError):
        x = exception_class("MathException")("Divide by 0")
    elif isinstance(e, RecursionError):
        x = exception_class("LimitException")("Maximum stack depth reached: 1001")
    elif isinstance(e, SalesforceError):
        x = _from_salesforce(e)
    else:
        return e
    x.__traceback__ = e.__traceback__
    _locate(x, e.__traceback__)
    return x


def internal_error(e: BaseException) -> BaseException:
    """``e`` as an :class:`~.errors.InternalError` when it is a Python exception of the
    simulator's own code that :func:`wrap_error` left as it was (no Apex exception, no
    Salesforce error, no governor breach, nothing like KeyboardInterrupt): at the Apex line
    and column of the innermost compiled frame it passed through. Anything else as it is.
    The traceback goes to this module's logger at DEBUG level, for the report."""
    if not isinstance(e, Exception) or isinstance(e, (SalesforceError, InternalError)):
        return e
    frames = apex_frames(e.__traceback__)
    line, col = (frames[-1][1], frames[-1][2]) if frames else (0, 0)
    _log.debug("sforg-sim internal error in Apex", exc_info=e)
    return InternalError.wrap(e, line, col)


def _locate(x: ApexException, tb: Any) -> None:
    """Fill the line and column (where none was set, e.g. by ``throw``) and the stack
    trace (where none was recorded yet: the first time the exception is seen, at its
    catch or at the top). The stack is the whole call stack at the raise point,
    innermost first, as ``getStackTraceString`` prints it ("Exception Class and Built-In
    Exceptions"): the traceback (catch frame down to the raise) plus the frames that
    called the catching one."""
    if x.line and x.stack:
        return
    frames = apex_frames(tb)
    if tb is not None:
        outer = [(f, ln) for f, ln in traceback.walk_stack(tb.tb_frame.f_back)]
        frames = _frames(reversed(outer)) + frames
    if frames and not x.line:
        x.line, x.column = frames[-1][1], frames[-1][2]
    if frames and not x.stack:
        x.stack = [f"{n}: line {ln}, column {c}" for n, ln, c in reversed(frames)]


def locate(x: ApexException) -> ApexException:
    """Fill the line, column and stack of an exception raised by compiled code."""
    _locate(x, x.__traceback__)
    return x


def locate_at(x: ApexException, tb: Any) -> ApexException:
    """Fill the line, column and stack of ``x`` from traceback ``tb`` (an uncatchable
    LimitException: built after the breach, it has no traceback of its own)."""
    _locate(x, tb)
    return x


def _from_salesforce(e: SalesforceError) -> ApexException:
    code = e.error_code
    kind = {"CALLOUT_EXCEPTION": "CalloutException", "ASYNC_EXCEPTION": "AsyncException",
            "LIMIT_EXCEPTION": "LimitException"}.get(code, "QueryException")
    x = exception_class(kind)(e.message)
    x.cause = e
    return x


def catch(e: BaseException, types: tuple[type, ...]) -> ApexException | None:
    """The Apex exception ``e`` stands for if a ``catch`` of ``types`` handles it, else None.

    LimitException is never caught ("Execution Governors and Limits": limit exceptions
    "can't be handled").
    """
    x = wrap_error(e)
    if not isinstance(x, ApexException) or isinstance(x, exception_class("LimitException")):
        return None
    if isinstance(x, types):
        if x is not e:
            x.__traceback__ = e.__traceback__
        return x
    return None


def reraise(e: BaseException) -> BaseException:
    """What to raise for an exception no catch handled (its Apex form)."""
    return wrap_error(e)


# --- operators ---------------------------------------------------------------------------

def w32(n: int) -> int:
    """Integer overflow: wrap to 32 bits, as Java and Apex do."""
    return ((n + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def w64(n: int) -> int:
    """Long overflow: wrap to 64 bits."""
    return ((n + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000


def idiv(a: int, b: int) -> int:
    """Integer division truncating toward zero; ``Divide by 0`` on zero."""
    if a is None or b is None:
        raise npe()
    if b == 0:
        raise exception_class("MathException")("Divide by 0")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def concat(a: Any, b: Any) -> str:
    """String ``+``: null prints as ``null``."""
    return apex_str(a) + apex_str(b)


def _norm(v: Any) -> Any:
    if isinstance(v, float):
        return Decimal(repr(v))
    return v


def add(a: Any, b: Any) -> Any:
    """``+`` when the operand types are only known at run time."""
    if isinstance(a, str) or isinstance(b, str):
        return concat(a, b)
    if a is None or b is None:
        raise npe()
    if isinstance(a, dt.date) and isinstance(b, int):
        return a + dt.timedelta(days=b)
    return arith(a, b, "+")


def arith(a: Any, b: Any, op: str) -> Any:
    """Numeric ``+ - * /`` across Integer, Long, Decimal and Double."""
    if a is None or b is None:
        raise npe()
    if isinstance(a, bool) or isinstance(b, bool):
        raise exception_class("TypeException")("Arithmetic expressions must use numeric "
                                               "arguments")
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        a, b = Decimal(a) if not isinstance(a, float) else _norm(a), \
            Decimal(b) if not isinstance(b, float) else _norm(b)
    if op == "+":
        r = a + b
    elif op == "-":
        r = a - b
    elif op == "*":
        r = a * b
    else:
        if isinstance(a, int) and isinstance(b, int):
            return idiv(a, b)
        if b == 0:
            raise exception_class("MathException")("Divide by 0")
        r = a / b
    if isinstance(r, int):
        return w32(r) if -0x80000000 <= a <= 0x7FFFFFFF and -0x80000000 <= b <= 0x7FFFFFFF \
            else w64(r)
    return r


def eq(a: Any, b: Any) -> bool:
    """Apex ``==``: value equality, Strings case-insensitive, Ids 15/18 alike."""
    if a is None or b is None:
        return a is b
    if isinstance(a, str) and isinstance(b, str):
        if a == b:
            return True
        if len(a) in (15, 18) and len(b) in (15, 18) and len(a) != len(b):
            return id18(a) == id18(b)
        return a.lower() == b.lower()
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return _norm(a) == _norm(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(eq(x, y) for x, y in zip(a, b))
    return bool(a == b)


def id_eq(a: Any, b: Any) -> bool:
    """Id ``==``: case-sensitive, 15 and 18 characters alike."""
    if a is None or b is None:
        return a is b
    return bool(id18(a) == id18(b))


def cmp(a: Any, b: Any, op: str) -> bool:
    """``< > <= >=``: false when either side is null."""
    if a is None or b is None:
        return False
    if isinstance(a, str) and isinstance(b, str):
        a, b = a.lower(), b.lower()
    elif isinstance(a, (float, Decimal)) or isinstance(b, (float, Decimal)):
        a, b = _norm(a), _norm(b)
    if op == "<":
        return bool(a < b)
    if op == ">":
        return bool(a > b)
    if op == "<=":
        return bool(a <= b)
    return bool(a >= b)


def truth(v: Any) -> bool:
    """A Boolean condition: null is a NullPointerException, as in Apex."""
    if v is None:
        raise npe()
    return bool(v)


def neg(v: Any) -> Any:
    """Unary minus."""
    if v is None:
        raise npe()
    return -v


# --- conversions --------------------------------------------------------------------------

_PY = {"integer": int, "long": int, "decimal": Decimal, "double": float, "string": str,
       "boolean": bool, "id": str, "date": dt.date, "datetime": dt.datetime,
       "time": dt.time, "blob": bytes, "list": list, "set": ApexSet, "map": dict}


def runtime_type(v: Any) -> str:
    """The Apex type name of a value (for TypeException messages and instanceof)."""
    if isinstance(v, bool):
        return "Boolean"
    if isinstance(v, int):
        return "Integer" if -0x80000000 <= v <= 0x7FFFFFFF else "Long"
    if isinstance(v, Decimal):
        return "Decimal"
    if isinstance(v, float):
        return "Double"
    if isinstance(v, str):
        return "String"
    if isinstance(v, dt.datetime):
        return "Datetime"
    if isinstance(v, dt.date):
        return "Date"
    if isinstance(v, dt.time):
        return "Time"
    if isinstance(v, bytes):
        return "Blob"
    if isinstance(v, list):
        return "List"
    if isinstance(v, ApexSet):
        return "Set"
    if isinstance(v, dict):
        return "Map"
    if isinstance(v, SObject):
        return v.type
    if isinstance(v, ApexException):
        return v.type_name
    return str(getattr(v, "apex_type", type(v).__name__))


def is_instance(v: Any, type_name: str, pyclass: Any = None) -> bool:
    """``x instanceof T`` (false for null)."""
    if v is None:
        return False
    low = type_name.lower()
    if pyclass is not None:
        return isinstance(v, pyclass)
    if low == "object":
        return True
    if low == "sobject":
        return isinstance(v, SObject)
    if isinstance(v, SObject):
        return v.type.lower() == low
    if "<" in low or low.endswith("[]"):
        # ``x instanceof List<Object>`` (a JSON.deserializeUntyped array, say): the
        # collection kind ("verify at run time whether an object is actually an instance
        # of a particular class", Apex Developer Guide, "Using the instanceof Keyword",
        # https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_classes_keywords_instanceof.htm).
        # Lists, Sets and Maps here do not carry their element type at
        # run time, so a List<String> is also ``instanceof List<Integer>`` (a deviation:
        # Apex compares the declared element types).
        kind = "list" if low.endswith("[]") else low.split("<", 1)[0].strip()
        want = {"list": list, "set": ApexSet, "map": dict}.get(kind)
        return want is not None and isinstance(v, want)
    py = _PY.get(low)
    if py is None:
        return runtime_type(v).lower() == low
    if py is int:
        return isinstance(v, int) and not isinstance(v, bool) and (
            low == "long" or -0x80000000 <= v <= 0x7FFFFFFF)
    if py is dt.date:
        return isinstance(v, dt.date) and not isinstance(v, dt.datetime)
    return isinstance(v, py)


def cast(v: Any, type_name: str, pyclass: Any = None) -> Any:
    """``(T) x``: null passes; a value of another type is a TypeException with Apex's
    message ``Invalid conversion from runtime type String to Integer``."""
    if v is None:
        return None
    low = type_name.lower()
    if low in ("decimal",) and isinstance(v, (int, float)) and not isinstance(v, bool):
        return Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
    if low == "double" and isinstance(v, (int, Decimal)) and not isinstance(v, bool):
        return float(v)
    if low == "long" and isinstance(v, int) and not isinstance(v, bool):
        return v
    if low == "id" and isinstance(v, str):
        return v
    if low in ("list", "set", "map") and isinstance(v, _PY[low]):
        return v
    if low in ("list", "set", "map", "object") or is_instance(v, type_name, pyclass):
        if low in ("list", "set", "map") and not isinstance(v, _PY[low]):
            pass
        else:
            return v
    raise exception_class("TypeException")(
        f"Invalid conversion from runtime type {runtime_type(v)} to {type_name}")


def to_decimal(v: Any) -> Any:
    """Widening to Decimal on assignment (``Decimal d = 5;``)."""
    if v is None or isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(v)


def to_double(v: Any) -> Any:
    """Widening to Double on assignment."""
    return None if v is None else float(v)


# --- collections --------------------------------------------------------------------------

def list_get(lst: list[Any], i: int) -> Any:
    """``list[i]`` / ``list.get(i)``: ``List index out of bounds: i`` outside the list."""
    if lst is None or i is None:
        raise npe()
    if 0 <= i < len(lst):
        return lst[i]
    raise exception_class("ListException")(f"List index out of bounds: {i}")


def list_set(lst: list[Any], i: int, v: Any) -> Any:
    """``list[i] = v``."""
    if lst is None or i is None:
        raise npe()
    if 0 <= i < len(lst):
        lst[i] = v
        return v
    raise exception_class("ListException")(f"List index out of bounds: {i}")


def iterate(v: Any) -> Iterable[Any]:
    """What a for-each loop walks (null: NullPointerException)."""
    if v is None:
        raise npe()
    if isinstance(v, dict):
        raise exception_class("TypeException")("Map is not iterable")
    return list(v) if isinstance(v, ApexSet) else v


def new_map(pairs: Iterable[tuple[Any, Any]] = ()) -> ApexMap:
    """``new Map<K, V>{k => v, ...}``."""
    m = ApexMap()
    for k, v in pairs:
        m[k] = v
    return m


JSON_TOO_DEEP = ("Malformed JSON: the content is nested too deeply for sforg-sim's parser "
                 "(the platform's limit is not documented; unconfirmed)")
"""The message of the ``System.JSONException`` a too deeply nested JSON document gives."""


def _reject_constant(name: str) -> Any:
    """``json.loads``' ``parse_constant`` hook: ``NaN``, ``Infinity`` and ``-Infinity`` are
    not JSON (RFC 8259, section 6, "Numbers": "Numeric values that cannot be represented
    in the grammar below (such as Infinity and NaN) are not permitted",
    https://www.rfc-editor.org/rfc/rfc8259#section-6), and the platform's parser (Jackson
    with its default settings: ``ALLOW_NON_NUMERIC_NUMBERS`` is off) refuses them, where
    Python's ``json`` would accept them."""
    raise exception_class("JSONException")(
        f"Malformed JSON: non-standard token '{name}' (NaN and Infinity are not JSON numbers)")


def load_json(text: str, **kw: Any) -> Any:
    """``json.loads`` as the Apex JSON classes read: NaN/Infinity refused (see
    :func:`_reject_constant`), malformed content a ``System.JSONException``, and content
    nested deeper than the Python parser's recursion allows a catchable
    ``System.JSONException`` (:data:`JSON_TOO_DEEP`), not the uncatchable ``Maximum stack
    depth`` LimitException a RecursionError would otherwise become (:func:`wrap_error`).
    Only when the Apex call stack itself is what is deep (over three quarters of the
    recursion limit in use before parsing) does the RecursionError stay a stack-depth
    breach."""
    try:
        return json.loads(text, parse_constant=_reject_constant, **kw)
    except ValueError as e:
        raise exception_class("JSONException")(f"Malformed JSON: {e}") from None
    except RecursionError:
        json_depth_error()
        raise


def json_depth_error() -> None:
    """Raise the catchable ``System.JSONException`` for too deeply nested JSON (called in
    an ``except RecursionError`` around a JSON walk), unless the Apex call stack is what
    ran out: then return, and the caller re-raises the RecursionError (a stack-depth
    LimitException, :func:`wrap_error`)."""
    depth = 0
    f: Any = sys._getframe()
    while f is not None:
        depth, f = depth + 1, f.f_back
    if depth < sys.getrecursionlimit() * 3 // 4:
        raise exception_class("JSONException")(JSON_TOO_DEEP) from None


def from_json(v: Any) -> Any:
    """A JSON value as Apex sees it: objects are Maps, numbers Integer/Long/Decimal.

    Any document the JSON parser accepted converts, however deep: so the only nesting
    limit of ``JSON.deserializeUntyped`` is the parser's (:func:`load_json`), the same
    as ``JSON.createParser``'s. The recursive walk is the fast path for ordinary
    documents; one too deep for the Python stack (or read while the Apex call stack is
    already deep) is converted again by the iterative :func:`_from_json_deep`."""
    try:
        return _from_json(v)
    except RecursionError:
        return _from_json_deep(v)


def _from_json(v: Any) -> Any:
    if isinstance(v, dict):
        return new_map((k, _from_json(x)) for k, x in v.items())
    if isinstance(v, list):
        return [_from_json(x) for x in v]
    if isinstance(v, float):
        return Decimal(repr(v))
    return v


def _json_shell(v: Any) -> Any:
    """An empty Map/List for a JSON object/array, the converted value otherwise."""
    if isinstance(v, dict):
        return ApexMap()
    if isinstance(v, list):
        return []
    if isinstance(v, float):
        return Decimal(repr(v))
    return v


def _from_json_deep(v: Any) -> Any:
    """:func:`from_json` with an explicit stack instead of recursion: each container is
    created empty, put in its parent at its place (keys keep the document's order), and
    filled when its turn comes."""
    root = _json_shell(v)
    todo: list[tuple[Any, Any]] = [(v, root)] if isinstance(v, (dict, list)) else []
    while todo:
        src, dst = todo.pop()
        items = src.items() if isinstance(src, dict) else enumerate(src)
        for k, x in items:
            c = _json_shell(x)
            if isinstance(src, dict):
                dst[k] = c
            else:
                dst.append(c)
            if isinstance(x, (dict, list)):
                todo.append((x, c))
    return root


def not_supported(what: str) -> Callable[..., Any]:
    """A stand-in for a library member this runtime does not model."""
    def fail(*args: Any) -> Any:
        raise exception_class("UnexpectedException")(f"Not supported by sforg-sim: {what}")
    return fail
