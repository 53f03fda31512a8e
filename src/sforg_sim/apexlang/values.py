"""Apex values at run time: sObjects, Set and Map, exceptions, and their Apex semantics.

Representation (chosen so compiled code runs as plain Python where Apex and Python agree):
Integer and Long are ``int`` (wrapped to 32/64 bits by the compiled arithmetic), Decimal is
``decimal.Decimal`` (keeps its scale), Double ``float``, String ``str``, Boolean ``bool``,
null ``None``, Date ``datetime.date``, Datetime ``datetime.datetime`` (UTC), List ``list``,
Time ``datetime.time``, Blob ``bytes``, Set :class:`ApexSet` (insertion-ordered, as Apex
iterates sets in practice), Map
:class:`ApexMap` (a ``dict``: String keys are case-sensitive, "Apex Developer Guide",
*Maps*: "map keys of type String are case-sensitive"), sObject :class:`SObject`.

Exceptions: :class:`ApexException` is a :class:`~sforg_sim.errors.SalesforceError`, so an
uncaught one fails an async job through the engine's ordinary path (its ExtendedStatus is
``First error: Attempt to de-reference a null object``, ``apex.engine.first_error``). Type names and
messages from the Apex Developer Guide, *Exception Class and Built-In Exceptions*,
https://developer.salesforce.com/docs/platform/apex-ref/references/apex-ref/apex-classes-exception-methods.html
and *Built-In Exceptions and Common Methods* (the ListException "List index out of
bounds: 1" and NullPointerException "Attempt to de-reference a null object" examples).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, ClassVar

from .. import ids
from ..errors import SalesforceError

__all__ = ["BUILTIN_EXCEPTIONS", "ApexException", "ApexMap", "ApexObject", "ApexSet",
           "EnumValue", "SObject", "apex_str", "exception_class", "npe"]


class EnumValue:
    """A value of an enum: a compiled one or a built-in one (``LoggingLevel.ERROR``,
    ``System.JSONToken.START_OBJECT``); prints as its name. Values are singletons, so a
    deep copy (a future call's arguments) is the value itself."""

    __slots__ = ("enum", "name", "ordinal_")

    def __init__(self, enum: str, name: str, ordinal: int) -> None:
        self.enum = enum
        self.name = name
        self.ordinal_ = ordinal

    def __repr__(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name

    def __deepcopy__(self, memo: dict[int, Any]) -> EnumValue:
        return self


class ApexObject:
    """Base of compiled Apex classes (and of built-in Apex objects such as HttpRequest)."""

    apex_type: ClassVar[str] = "Object"

    def __repr__(self) -> str:
        return f"{self.apex_type}:[...]"


class ApexException(SalesforceError):
    """An Apex exception (``catch (Exception e)`` catches every subclass but LimitException,
    which travels as the governor's LimitBreach and is never caught)."""

    error_code: ClassVar[str] = "System.Exception"
    apex_type: ClassVar[str] = "Exception"
    status = 500

    def __init__(self, message: str | None = None, cause: BaseException | None = None) -> None:
        super().__init__(message if message is not None else "")
        self.apex_message = message
        self.cause = cause
        self.line = 0
        self.column = 0
        self.stack: list[str] = []

    @property
    def type_name(self) -> str:
        """``getTypeName()``: ``System.ListException``, or the custom class's name."""
        return type(self).error_code

    def __str__(self) -> str:
        return f"{self.type_name}: {self.apex_message or ''}" if self.apex_message else \
            self.type_name


_BUILTIN = ("AsyncException", "CalloutException", "DmlException", "FinalException",
            "IllegalArgumentException", "InvalidParameterValueException", "JSONException",
            "ListException", "MathException", "NoAccessException", "NoDataFoundException",
            "NullPointerException", "QueryException", "SObjectException", "SearchException",
            "SecurityException", "SerializationException", "StringException",
            "TypeException", "UnexpectedException", "VisualforceException", "XmlException",
            "AssertException", "LimitException")
BUILTIN_EXCEPTIONS: dict[str, type[ApexException]] = {"exception": ApexException}
for _name in _BUILTIN:
    BUILTIN_EXCEPTIONS[_name.lower()] = type(_name, (ApexException,), {
        "error_code": f"System.{_name}", "apex_type": _name, "__doc__": f"System.{_name}."})


def exception_class(name: str) -> type[ApexException]:
    """The built-in exception class ``name`` (``ListException``, ``System.ListException``)."""
    return BUILTIN_EXCEPTIONS[name.lower().removeprefix("system.")]


def npe() -> ApexException:
    """``System.NullPointerException: Attempt to de-reference a null object``."""
    return BUILTIN_EXCEPTIONS["nullpointerexception"]("Attempt to de-reference a null object")


class ApexSet:
    """``Set<T>``: insertion-ordered, String members case-sensitive."""

    __slots__ = ("d",)

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self.d: dict[Any, None] = dict.fromkeys(_key(i) for i in items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.d)

    def __len__(self) -> int:
        return len(self.d)

    def __contains__(self, item: object) -> bool:
        return _key(item) in self.d

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApexSet) and self.d.keys() == other.d.keys()

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any]) -> ApexSet:
        return ApexSet(self.d)


def _key(value: Any) -> Any:
    """Set members and Map keys: Ids compare by their 18-character form."""
    if isinstance(value, SObject):
        return value
    return value


class ApexMap(dict):
    """``Map<K, V>`` (and what ``JSON.deserializeUntyped`` returns)."""


class SObject:
    """One sObject: field values by lower-case name, canonical names, dirty fields.

    Dirty tracking: fields set in Apex code (not those read by SOQL) are what DML sends,
    so an update writes only what the code changed.
    """

    __slots__ = ("dirty", "names", "type", "v")

    def __init__(self, sobject_type: str, values: dict[str, Any] | None = None,
                 names: dict[str, str] | None = None) -> None:
        self.type = sobject_type
        self.v: dict[str, Any] = values if values is not None else {}
        self.names: dict[str, str] = names if names is not None else {}
        self.dirty: set[str] = set()

    def set(self, low: str, name: str, value: Any) -> None:
        """Assign field ``name`` (``low`` its lower-case form) and mark it dirty."""
        self.v[low] = value
        self.names[low] = name
        self.dirty.add(low)

    def values_for_dml(self, only_dirty: bool) -> dict[str, Any]:
        """Canonical field name -> value (all set fields, or the dirty ones and Id)."""
        out: dict[str, Any] = {}
        for low, value in self.v.items():
            if isinstance(value, (SObject, list)):
                continue  # a parent's record or a child subquery's rows: not this record's
            if only_dirty and low not in self.dirty and low != "id":
                continue
            out[self.names.get(low, low)] = _to_api(value)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SObject) and self.type == other.type and self.v == other.v

    def __hash__(self) -> int:
        return hash((self.type, self.v.get("id")))

    def __deepcopy__(self, memo: dict[int, Any]) -> SObject:
        import copy

        s = SObject(self.type, copy.deepcopy(self.v, memo), dict(self.names))
        s.dirty = set(self.dirty)
        return s


def _to_api(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _num(value: Decimal) -> str:
    return format(value, "f")


def apex_str(value: Any) -> str:
    """``String.valueOf`` / string concatenation: Apex's text for a value (null: 'null').

    Lists print as ``(a, b)``, sets and maps as ``{a, b}`` / ``{k=v}``, Booleans as
    ``true``, Dates as ``2026-01-05`` (``String.valueOf``; concatenation prints the same
    here: the guide says implicit conversion adds a time, not modelled), Datetimes as
    ``2026-01-05 02:00:00`` (GMT here; Apex uses the user's time zone).
    """
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return _num(value)
    if isinstance(value, float):
        return _double(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        # Time prints as 15:30:45.000Z (seen in debug logs; the guide shows no output).
        return value.strftime("%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, bytes):
        # A Blob prints its size, not its content (seen in debug logs; unconfirmed).
        return f"Blob[{len(value)}]"
    if isinstance(value, list):
        return "(" + ", ".join(apex_str(v) for v in value) + ")"
    if isinstance(value, ApexSet):
        return "{" + ", ".join(apex_str(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{apex_str(k)}={apex_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, SObject):
        # Only the record's own fields: "System.debug() does not represent fields across
        # relationships in its output, and it does not represent null values at all,
        # even if they're queried on an sObject" (David Reed, "The Dangers of Anonymous
        # Apex and the Developer Console", 2022, github.com/davidmreed/ktema-org-zola,
        # content/articles/2022-02-19-dangers-anonymous-apex.md, with the debug line
        # ``(Contact:{LastName=Drummer, AccountId=0011R00002pCh07QAC,
        # Id=0031R00002fBlWOQA0})`` for ``SELECT LastName, Account.Name, Email``). So a
        # parent's record (``Owner``; its foreign key ``OwnerId`` stands in its place,
        # see ``stdlib.to_sobject``), a child subquery's rows and a queried null are
        # left out. A field the code set to null (dirty) still prints ``=null``
        # (unconfirmed: the source speaks of queried values).
        inner = ", ".join(f"{value.names.get(k, k)}={apex_str(v)}" for k, v in value.v.items()
                          if not isinstance(v, (list, SObject))
                          and (v is not None or k in value.dirty))
        return f"{value.type}:{{{inner}}}"
    if isinstance(value, ApexException):
        return str(value)
    to_string = getattr(value, "m_tostring_0", None)
    if to_string is not None:
        return apex_str(to_string())
    return repr(value)


def _double(value: float) -> str:
    # Java's Double.toString: at least one decimal digit, E notation outside 1e-3..1e7.
    if value != value or value in (float("inf"), float("-inf")):
        return {True: "NaN"}.get(value != value, "Infinity" if value > 0 else "-Infinity")
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text or "e" in text else text + ".0"
    mantissa, exp = f"{value:.16E}".split("E")
    mantissa = mantissa.rstrip("0")
    if mantissa.endswith("."):
        mantissa += "0"
    return f"{mantissa}E{int(exp)}"


def id18(value: Any) -> Any:
    """An Id in its 18-character form (15-character Ids compare equal to it)."""
    if isinstance(value, str) and len(value) in (15, 18) and ids.valid_id(value):
        return ids.to18(value)
    return value
