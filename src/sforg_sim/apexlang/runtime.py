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
"""

from __future__ import annotations

import datetime as dt
import threading
import traceback
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from ..apex.governor import LimitBreach
from ..errors import SalesforceError
from .values import ApexException, ApexMap, ApexSet, SObject, apex_str, exception_class, id18, npe

__all__ = ["LINE_MAPS", "Execution", "current", "wrap_error"]

_LOCAL = threading.local()
LINE_MAPS: dict[str, list[tuple[int, int]]] = {}
"""Generated file name -> (Apex line, column) of each generated Python line (1-based)."""


class Execution:
    """The transaction compiled code runs in: the engine's Context and the debug log."""

    def __init__(self, ctx: Any, runtime: Any) -> None:
        self.ctx = ctx
        self.runtime = runtime
        self.started = ctx.org.clock.time()

    def log(self, line: int, level: str, message: str) -> None:
        """``System.debug``: kept in the runtime's log in the debug-log layout, and in the
        engine's log as ``System.debug`` from Python jobs is."""
        gov = self.ctx.governor
        t = self.started + gov.elapsed
        stamp = dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%H:%M:%S.%f")[:12]
        nanos = round(gov.elapsed * 1e9)
        self.runtime.log.append(f"{stamp} ({nanos})|USER_DEBUG|[{line}]|{level}|{message}")
        self.ctx.debug(message)


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
    out = []
    for frame, lineno in traceback.walk_tb(tb):
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
            name = f"Class.{cls}.{fn[2:].rsplit('_', 1)[0]}"
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
    if isinstance(e, (LimitBreach, ApexException)):
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


def _locate(x: ApexException, tb: Any) -> None:
    frames = apex_frames(tb)
    if frames and not x.line:
        x.line, x.column = frames[-1][1], frames[-1][2]
        x.stack = [f"{n}: line {ln}, column {c}" for n, ln, c in reversed(frames)]


def locate(x: ApexException) -> ApexException:
    """Fill the line, column and stack of an exception raised by compiled code."""
    _locate(x, x.__traceback__)
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


def from_json(v: Any) -> Any:
    """A JSON value as Apex sees it: objects are Maps, numbers Integer/Long/Decimal."""
    if isinstance(v, dict):
        return new_map((k, from_json(x)) for k, x in v.items())
    if isinstance(v, list):
        return [from_json(x) for x in v]
    if isinstance(v, float):
        return Decimal(repr(v))
    return v


def not_supported(what: str) -> Callable[..., Any]:
    """A stand-in for a library member this runtime does not model."""
    def fail(*args: Any) -> Any:
        raise exception_class("UnexpectedException")(f"Not supported by sforg-sim: {what}")
    return fail
