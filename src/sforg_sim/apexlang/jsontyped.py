"""Typed JSON for Apex: ``System.Type`` values (``MyClass.class``, ``List<MyClass>.class``,
``Type.forName``), ``JSON.serialize``/``serializePretty`` of user classes and sObjects,
``JSON.deserialize``/``deserializeStrict`` into a typed target, and ``JSONGenerator``.

Sources (Apex Reference Guide):

- *JSON Class*,
  https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_class_System_Json.htm:
  ``deserialize(jsonString, apexType)`` "Deserializes the specified JSON string into an
  Apex object of the specified type"; attributes the type does not have are ignored when
  deserializing "into Apex classes for all API versions or into objects using API version
  35.0 or later"; ``deserializeStrict``: "All attributes in the JSON string must be present
  in the specified type" (otherwise a run-time exception, ``System.JSONException`` here);
  ``serialize(objectToSerialize, suppressApexObjectNulls)`` "Suppresses null values when
  serializing Apex objects"; ``serializePretty`` indents ("pretty-print format");
  ``createGenerator(prettyPrint)`` returns a ``System.JSONGenerator``.
- *JSONGenerator Class*,
  https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_class_System_JsonGenerator.htm:
  writeStartObject/EndObject, writeStartArray/EndArray, writeFieldName, write*Field,
  write* values, getAsString, close, isClosed.
- *Type Class*,
  https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_methods_system_type.htm:
  ``forName(fullyQualifiedName)`` (null when no such type), ``getName()``,
  ``newInstance()`` (needs a public no-argument constructor), ``toString()``.

Not documented, taken as observed (Salesforce Stack Exchange, "JSON.deserialize won't call
default constructor", https://salesforce.stackexchange.com/questions/337877 and "Can
create an Instance of Abstract Class",
https://salesforce.stackexchange.com/questions/250184): deserializing into a class does not
run its constructor (field initialisers do run here, as the second thread reports for
tests), and an interface or abstract target is ``System.TypeException: Cannot deserialize
JSON as abstract type: X``. JSON keys match fields case-insensitively (Apex names are
case-insensitive). Gaps: the ``url`` of an sObject's ``attributes`` (it carries an API
version) is not written; Decimals serialize as JSON numbers without their trailing zeros.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from decimal import Decimal
from typing import Any

from .runtime import current, from_json, json_depth_error, load_json
from .values import (
    ApexException,
    ApexMap,
    ApexObject,
    ApexSet,
    EnumValue,
    SObject,
    apex_str,
    exception_class,
    npe,
)

__all__ = ["ApexType", "JSONGenerator", "deserialize", "for_name", "new_type", "serialize"]

_PRIMS = {"integer": "Integer", "long": "Long", "decimal": "Decimal", "double": "Double",
          "string": "String", "id": "Id", "boolean": "Boolean", "date": "Date",
          "datetime": "Datetime", "object": "Object"}
# Schema field types -> the Apex primitive a JSON value becomes (as the compiler's table).
_FIELD_PRIMS = {"int": "integer", "double": "decimal", "currency": "decimal",
                "percent": "decimal", "date": "date", "datetime": "datetime",
                "boolean": "boolean", "id": "id", "reference": "id"}


class ApexType(ApexObject):
    """``System.Type``: an Apex type as a value. ``kind`` is one of prim, list, set, map,
    sobject, class, enum, abstract; ``args`` the element/key/value types."""

    apex_type = "System.Type"

    def __init__(self, name: str, kind: str, args: tuple[ApexType, ...] = (),
                 pyclass: Any = None) -> None:
        self.name = name
        self.kind = kind
        self.args = args
        self.pyclass = pyclass

    def getname(self) -> str:
        """``getName()``: the type's name (``List<MyClass>``, ``Outer.Inner``)."""
        return self.name

    def newinstance(self) -> Any:
        """``newInstance()``: a new object through the public no-argument constructor."""
        if self.kind == "class":
            mk = getattr(self.pyclass, "_mk0", None)
            if mk is None:
                raise exception_class("TypeException")(
                    f"No such constructor: {self.name}.<Constructor>()")
            return mk()
        if self.kind == "sobject":
            return SObject(self.name)
        if self.kind == "list":
            return []
        if self.kind == "set":
            return ApexSet()
        if self.kind == "map":
            return ApexMap()
        raise exception_class("TypeException")(f"Cannot create an instance of {self.name}")

    def equals(self, other: Any) -> bool:
        """``equals(o)``."""
        return self == other

    def m_tostring_0(self) -> str:
        """``toString()``: the type's name."""
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApexType) and other.name.lower() == self.name.lower()

    def __hash__(self) -> int:
        return hash(("type", self.name.lower()))


def new_type(name: str, kind: str, args: tuple[ApexType, ...] = (), pyclass: Any = None
             ) -> ApexType:
    """What compiled ``X.class`` builds (the compiler resolves the name and the kind)."""
    if kind == "class" and pyclass is not None and not hasattr(pyclass, "_jf"):
        kind = "abstract"  # an interface: no fields, cannot be instantiated
    return ApexType(name, kind, args, pyclass)


def for_name(name: Any, local: dict[str, Any] | None = None) -> ApexType | None:
    """``Type.forName(fullyQualifiedName)``: a deployed class, an sObject or a primitive;
    null when there is no such type ("Type Class", forName). ``local``: the classes an
    anonymous block declares (lower-case name -> Python class; the compiler passes them),
    which are found before deployed ones, as the block's own names shadow them."""
    if name is None:
        raise npe()
    low = str(name).strip().lower()
    rt = current().runtime
    cls = (local or {}).get(low) or rt.classes.get(low)
    if cls is not None:
        kind = "enum" if hasattr(cls, "e_values") else "class"
        return new_type(cls.apex_type, kind, (), cls)
    obj = rt.org.schema.get(low) if low in rt.org.schema else None
    if obj is not None:
        return ApexType(obj.name, "sobject")
    prim = _PRIMS.get(low.removeprefix("system."))
    if prim is not None:
        return ApexType(prim, "prim")
    return None


# --- serialize -------------------------------------------------------------------------------

def _scale(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def _jsonable(v: Any, suppress: bool) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, (int, str, float)):
        return v
    if isinstance(v, Decimal):
        return float(v) if v != v.to_integral_value() or _scale(v) > 0 else int(v)
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dict):
        return {apex_str(k): _jsonable(x, suppress) for k, x in v.items()}
    if isinstance(v, (list, ApexSet)):
        return [_jsonable(x, suppress) for x in v]
    if isinstance(v, SObject):
        # An sObject carries its ``attributes`` (type) as the REST API writes records.
        out: dict[str, Any] = {"attributes": {"type": v.type}}
        for low, x in v.v.items():
            if x is None and suppress:
                continue
            out[v.names.get(low, low)] = _jsonable(x, suppress)
        return out
    if isinstance(v, EnumValue):  # an enum value: its name
        return v.name
    if isinstance(v, ApexType):
        return v.name
    jf = getattr(type(v), "_jf", None)
    if jf is not None and isinstance(v, ApexObject):
        obj: dict[str, Any] = {}
        for low, name, _t in jf():
            x = getattr(v, f"f_{low}", None)
            if x is None and suppress:
                continue
            obj[name] = _jsonable(x, suppress)
        return obj
    if isinstance(v, ApexObject) and hasattr(v, "__dict__"):
        return {k[2:]: _jsonable(x, suppress) for k, x in vars(v).items()
                if k.startswith("f_")}
    return apex_str(v)


def _dumps(data: Any, pretty: bool) -> str:
    if pretty:
        return _pretty(data, 0)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _pretty(v: Any, level: int) -> str:
    """The pretty-print layout of the Apex Developer Guide's *JSON Generator* sample
    (https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_json_jsongenerator.htm):
    object fields one per line indented two spaces a level with ``" : "``, arrays inline
    (``"aaa" : [ 1, 2, 3 ]``) without a level of their own. Empty ones print ``{ }`` and
    ``[ ]`` (an assumption: the layout of the same printer family, not shown)."""
    if isinstance(v, dict):
        if not v:
            return "{ }"
        pad = "  " * (level + 1)
        inner = ",\n".join(f"{pad}{json.dumps(k, ensure_ascii=False)} : "
                           f"{_pretty(x, level + 1)}" for k, x in v.items())
        return "{\n" + inner + "\n" + "  " * level + "}"
    if isinstance(v, list):
        if not v:
            return "[ ]"
        return "[ " + ", ".join(_pretty(x, level) for x in v) + " ]"
    return json.dumps(v, ensure_ascii=False)


def serialize(v: Any, suppress_nulls: Any = False, pretty: bool = False) -> str:
    """``JSON.serialize(o[, suppressApexObjectNulls])`` and ``serializePretty``: user
    classes write their instance fields in declaration order (nulls included unless
    suppressed), sObjects their ``attributes`` and set fields."""
    return _dumps(_jsonable(v, bool(suppress_nulls)), pretty)


# --- deserialize -----------------------------------------------------------------------------

def _bad(t: ApexType, v: Any) -> ApexException:
    kind = "an object" if isinstance(v, dict) else "an array" if isinstance(v, list) else \
        json.dumps(v)
    return exception_class("JSONException")(f"Cannot deserialize {kind} as {t.name}")


def _prim(v: Any, name: str, t: ApexType) -> Any:
    low = name.lower()
    if low == "object":
        return from_json(v)
    if low in ("string", "id"):
        if isinstance(v, str):
            return v
    elif low == "boolean":
        if isinstance(v, bool):
            return v
    elif low in ("integer", "long"):
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, Decimal) and v == v.to_integral_value():
            return int(v)
    elif low == "decimal":
        if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
            return Decimal(v)
    elif low == "double":
        if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
            return float(v)
    elif low == "date":
        if isinstance(v, str):
            try:
                return dt.date.fromisoformat(v[:10])
            except ValueError:
                pass
    elif low == "datetime" and isinstance(v, str):
        try:
            d = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if d.tzinfo is not None:
                d = d.astimezone(dt.timezone.utc).replace(tzinfo=None)
            return d
    raise _bad(t, v)


def _sobject(v: Any, t: ApexType, strict: bool) -> SObject:
    if not isinstance(v, dict):
        raise _bad(t, v)
    obj = current().ctx.org.schema.get(t.name)
    s = SObject(obj.name)
    for k, x in v.items():
        if k == "attributes":
            continue
        f = obj.get(k)
        if f is None:
            if strict:
                raise exception_class("JSONException")(
                    f"No such column '{k}' on sobject of type {obj.name}")
            continue
        prim = _FIELD_PRIMS.get(f.type, "string")
        val = None if x is None else _prim(x, prim, ApexType(prim, "prim"))
        # Deserialized fields count as set (as a record built in Apex, they go to DML).
        s.set(f.name.lower(), f.name, val)
    return s


def _object(v: Any, t: ApexType, strict: bool) -> Any:
    if not isinstance(v, dict):
        raise _bad(t, v)
    cls = t.pyclass
    o = cls.__new__(cls)
    o._fi()
    fields = {low: (name, ft) for low, name, ft in cls._jf()}
    for k, x in v.items():
        f = fields.get(k.lower())
        if f is None:
            if strict:
                raise exception_class("JSONException")(
                    f"No such field '{k}' on type {t.name}")
            continue
        setattr(o, f"f_{k.lower()}", _convert(x, f[1], strict))
    return o


def _convert(v: Any, t: ApexType, strict: bool) -> Any:
    if v is None:
        return None
    kind = t.kind
    if kind == "prim":
        return _prim(v, t.name, t)
    if kind in ("list", "set"):
        if not isinstance(v, list):
            raise _bad(t, v)
        items = [_convert(x, t.args[0], strict) if t.args else from_json(x) for x in v]
        return items if kind == "list" else ApexSet(items)
    if kind == "map":
        if not isinstance(v, dict):
            raise _bad(t, v)
        kt, vt = (t.args + (ApexType("Object", "prim"),) * 2)[:2]
        return ApexMap((_map_key(k, kt), _convert(x, vt, strict)) for k, x in v.items())
    if kind == "sobject":
        return _sobject(v, t, strict)
    if kind == "class":
        return _object(v, t, strict)
    if kind == "enum":
        for e in t.pyclass.e_values:
            if isinstance(v, str) and e.name.lower() == v.lower():
                return e
        raise _bad(t, v)
    raise exception_class("TypeException")(
        f"Cannot deserialize JSON as abstract type: {t.name}")


def _map_key(k: str, kt: ApexType) -> Any:
    low = kt.name.lower()
    if low in ("integer", "long"):
        try:
            return int(k)
        except ValueError:
            raise _bad(kt, k) from None
    if low == "decimal":
        try:
            return Decimal(k)
        except ArithmeticError:
            raise _bad(kt, k) from None
    return k


def deserialize(text: Any, t: Any, strict: bool = False) -> Any:
    """``JSON.deserialize(jsonString, apexType)`` / ``deserializeStrict``."""
    if text is None or t is None:
        raise npe()
    if not isinstance(t, ApexType):
        raise exception_class("TypeException")("JSON.deserialize needs a System.Type")
    data = load_json(str(text), parse_float=Decimal)
    try:
        return _convert(data, t, strict)
    except RecursionError:
        json_depth_error()  # too deep to convert: a catchable JSONException
        raise


# --- JSONGenerator -------------------------------------------------------------------------

class JSONGenerator(ApexObject):
    """``System.JSONGenerator`` (``JSON.createGenerator(prettyPrint)``): builds JSON
    content value by value; a misuse (a field outside an object, an unclosed object at
    ``getAsString``) is a ``System.JSONException``."""

    apex_type = "System.JSONGenerator"

    def __init__(self, pretty: Any = False) -> None:
        self.pretty = bool(pretty)
        self.stack: list[Any] = []
        self.root: Any = None
        self.has_root = False
        self.pending: str | None = None
        self.closed = False

    def _fail(self, why: str) -> ApexException:
        return exception_class("JSONException")(why)

    def _put(self, v: Any) -> None:
        if self.closed:
            raise self._fail("The generator is closed")
        if not self.stack:
            if self.has_root:
                raise self._fail("Can not write a value: the JSON content is complete")
            self.root, self.has_root = v, True
        elif isinstance(self.stack[-1], dict):
            if self.pending is None:
                raise self._fail("Can not write a value, expecting a field name")
            self.stack[-1][self.pending] = v
            self.pending = None
        else:
            self.stack[-1].append(v)

    def writestartobject(self) -> None:
        """``writeStartObject()``."""
        d: dict[str, Any] = {}
        self._put(d)
        self.stack.append(d)

    def writestartarray(self) -> None:
        """``writeStartArray()``."""
        a: list[Any] = []
        self._put(a)
        self.stack.append(a)

    def _end(self, kind: type) -> None:
        if not self.stack or not isinstance(self.stack[-1], kind) or self.pending is not None:
            raise self._fail(f"Can not end an {'object' if kind is dict else 'array'} here")
        self.stack.pop()

    def writeendobject(self) -> None:
        """``writeEndObject()``."""
        self._end(dict)

    def writeendarray(self) -> None:
        """``writeEndArray()``."""
        self._end(list)

    def writefieldname(self, name: Any) -> None:
        """``writeFieldName(fieldName)``."""
        if not self.stack or not isinstance(self.stack[-1], dict) or self.pending is not None:
            raise self._fail("Can not write a field name, expecting a value")
        if name is None:
            raise npe()
        self.pending = str(name)

    def _field(self, name: Any, v: Any) -> None:
        self.writefieldname(name)
        self._put(v)

    def writestringfield(self, name: Any, v: Any) -> None:
        """``writeStringField(fieldName, stringValue)``."""
        self._field(name, v)

    def writenumberfield(self, name: Any, v: Any) -> None:
        """``writeNumberField(fieldName, number)``."""
        self._field(name, _jsonable(v, False))

    def writebooleanfield(self, name: Any, v: Any) -> None:
        """``writeBooleanField(fieldName, blobValue)``."""
        self._field(name, v)

    def writenullfield(self, name: Any) -> None:
        """``writeNullField(fieldName)``."""
        self._field(name, None)

    def writeobjectfield(self, name: Any, v: Any) -> None:
        """``writeObjectField(fieldName, value)``: any value, serialized as JSON.serialize."""
        self._field(name, _jsonable(v, False))

    def writedatefield(self, name: Any, v: Any) -> None:
        """``writeDateField(fieldName, dateValue)``."""
        self._field(name, _jsonable(v, False))

    def writedatetimefield(self, name: Any, v: Any) -> None:
        """``writeDateTimeField(fieldName, datetimeValue)``."""
        self._field(name, _jsonable(v, False))

    def writestring(self, v: Any) -> None:
        """``writeString(stringValue)``."""
        self._put(v)

    def writenumber(self, v: Any) -> None:
        """``writeNumber(number)``."""
        self._put(_jsonable(v, False))

    def writeboolean(self, v: Any) -> None:
        """``writeBoolean(blobValue)``."""
        self._put(v)

    def writenull(self) -> None:
        """``writeNull()``."""
        self._put(None)

    def writeobject(self, v: Any) -> None:
        """``writeObject(anyType)``."""
        self._put(_jsonable(v, False))

    def close(self) -> None:
        """``close()``: no more content can be written."""
        self.closed = True

    def isclosed(self) -> bool:
        """``isClosed()``."""
        return self.closed

    def getasstring(self) -> str:
        """``getAsString()``: the JSON content written so far (complete objects only)."""
        if self.stack:
            raise self._fail("The JSON content is incomplete: an object or array is open")
        return _dumps(self.root, self.pretty) if self.has_root else ""


# --- JSONParser ------------------------------------------------------------------------------
#
# "JSONParser Class" and "JSONToken Enum" (Apex Reference Guide,
# https://developer.salesforce.com/docs/platform/apex-ref/references/apex-ref/apex-class-system-jsonparser.html):
# a pull parser over JSON content, token by token (nextToken, nextValue, getCurrentToken,
# getCurrentName, getText, get<Type>Value, skipChildren, readValueAs[Strict],
# clearCurrentToken/getLastClearedToken/hasCurrentToken). The token semantics are those of
# the Jackson parser the class wraps (getCurrentName: the field name for a FIELD_NAME and
# for the value after it, null for array elements and the root); its exceptions are
# System.JSONException with sforg-sim's wording.

JSON_TOKENS: dict[str, EnumValue] = {
    n.lower(): EnumValue("System.JSONToken", n, i) for i, n in enumerate((
    "END_ARRAY", "END_OBJECT", "FIELD_NAME", "NOT_AVAILABLE", "START_ARRAY", "START_OBJECT",
    "VALUE_EMBEDDED_OBJECT", "VALUE_FALSE", "VALUE_NULL", "VALUE_NUMBER_FLOAT",
    "VALUE_NUMBER_INT", "VALUE_STRING", "VALUE_TRUE"))}
"""The JSONToken values by lower-case name (the order of the Reference Guide's list)."""

_T = JSON_TOKENS


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its (name, value) pairs, in order (json.loads' object_pairs_hook)."""


def _plain(v: Any) -> Any:
    """Parsed content as ``JSON.deserialize`` takes it (objects as dicts)."""
    if isinstance(v, _Pairs):
        return {k: _plain(x) for k, x in v}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


class JSONParser(ApexObject):
    """``System.JSONParser`` (``JSON.createParser(jsonString)``)."""

    apex_type = "System.JSONParser"

    def __init__(self, text: Any) -> None:
        if text is None:
            raise npe()
        # The whole document is read here, up front, not token by token as the platform's
        # streaming parser does: malformed content fails at JSON.createParser, where the
        # platform fails at the nextToken that reaches the bad spot (fidelity L21).
        data = load_json(str(text), parse_float=Decimal, object_pairs_hook=_Pairs)
        # (token, current name, text, value, index of the matching END for a START)
        self.tokens: list[list[Any]] = []
        try:
            self._walk(data, None)
        except RecursionError:
            json_depth_error()
            raise
        self.pos = -1
        self.current: EnumValue | None = None
        self.cleared: EnumValue | None = None

    def _walk(self, v: Any, name: str | None) -> None:
        toks = self.tokens
        if isinstance(v, _Pairs):
            start = len(toks)
            toks.append([_T["start_object"], name, "{", v, 0])
            for k, x in v:
                toks.append([_T["field_name"], k, k, k, 0])
                self._walk(x, k)
            toks[start][4] = len(toks)
            toks.append([_T["end_object"], name, "}", None, 0])
        elif isinstance(v, list):
            start = len(toks)
            toks.append([_T["start_array"], name, "[", v, 0])
            for x in v:
                self._walk(x, None)
            toks[start][4] = len(toks)
            toks.append([_T["end_array"], name, "]", None, 0])
        elif v is None:
            toks.append([_T["value_null"], name, "null", None, 0])
        elif isinstance(v, bool):
            toks.append([_T["value_true" if v else "value_false"], name,
                         "true" if v else "false", v, 0])
        elif isinstance(v, int):
            toks.append([_T["value_number_int"], name, str(v), v, 0])
        elif isinstance(v, Decimal):
            toks.append([_T["value_number_float"], name, str(v), v, 0])
        else:
            toks.append([_T["value_string"], name, v, v, 0])

    def _tok(self) -> list[Any] | None:
        if self.current is None or not 0 <= self.pos < len(self.tokens):
            return None
        return self.tokens[self.pos]

    def _need(self, kinds: tuple[str, ...], what: str) -> Any:
        tok = self._tok()
        if tok is None or tok[0].name.lower() not in kinds:
            raise exception_class("JSONException")(
                f"Current token ({tok[0].name if tok else 'null'}) is not {what}")
        return tok[3]

    # navigation

    def nexttoken(self) -> EnumValue | None:
        """``nextToken()``: advance; null at the end of the content."""
        self.pos = min(self.pos + 1, len(self.tokens))
        self.current = self.tokens[self.pos][0] if self.pos < len(self.tokens) else None
        return self.current

    def nextvalue(self) -> EnumValue | None:
        """``nextValue()``: the next token that is a value (a FIELD_NAME is passed over)."""
        tok = self.nexttoken()
        if tok is _T["field_name"]:
            tok = self.nexttoken()
        return tok

    def skipchildren(self) -> None:
        """``skipChildren()``: on START_OBJECT or START_ARRAY, move to its END token;
        on any other token, nothing."""
        tok = self._tok()
        if tok is not None and tok[0] in (_T["start_object"], _T["start_array"]):
            self.pos = tok[4]
            self.current = self.tokens[self.pos][0]

    def getcurrenttoken(self) -> EnumValue | None:
        """``getCurrentToken()`` (null before the first nextToken, after the end, or after
        clearCurrentToken)."""
        return self.current

    def hascurrenttoken(self) -> bool:
        """``hasCurrentToken()``."""
        return self.current is not None

    def clearcurrenttoken(self) -> None:
        """``clearCurrentToken()``: getLastClearedToken returns it afterwards."""
        if self.current is not None:
            self.cleared = self.current
        self.current = None

    def getlastclearedtoken(self) -> EnumValue | None:
        """``getLastClearedToken()``."""
        return self.cleared

    def getcurrentname(self) -> str | None:
        """``getCurrentName()``: the field name of a FIELD_NAME and of its value."""
        tok = self._tok()
        return None if tok is None else tok[1]

    def gettext(self) -> str | None:
        """``getText()``: the token's text (a field's name, a string's value, a number as
        written, ``{``, ``true`` ...); null without a current token."""
        tok = self._tok()
        return None if tok is None else str(tok[2])

    # values

    def _number(self) -> Any:
        return self._need(("value_number_int", "value_number_float"), "numeric")

    def getintegervalue(self) -> int:
        """``getIntegerValue()`` (a number token; a fraction is truncated)."""
        n = int(self._number())
        if not -0x80000000 <= n <= 0x7FFFFFFF:
            raise exception_class("JSONException")(
                f"Numeric value ({n}) out of range of Integer")
        return n

    def getlongvalue(self) -> int:
        """``getLongValue()``."""
        return int(self._number())

    def getdecimalvalue(self) -> Decimal:
        """``getDecimalValue()``."""
        return Decimal(self._number())

    def getdoublevalue(self) -> float:
        """``getDoubleValue()``."""
        return float(self._number())

    def getbooleanvalue(self) -> bool:
        """``getBooleanValue()``: VALUE_TRUE or VALUE_FALSE."""
        return bool(self._need(("value_true", "value_false"), "a boolean"))

    def _string(self) -> str:
        return str(self._need(("value_string",), "a string"))

    def getidvalue(self) -> str:
        """``getIdValue()``: a string token that is an Id."""
        from .. import ids

        s = self._string()
        if not ids.valid_id(s):
            raise exception_class("JSONException")(f"Invalid id: {s}")
        return s

    def getdatevalue(self) -> dt.date:
        """``getDateValue()``: a string ``2011-03-22``."""
        try:
            return dt.date.fromisoformat(self._string()[:10])
        except ValueError:
            raise exception_class("JSONException")(
                f"Cannot convert {self._string()!r} to a Date") from None

    def getdatetimevalue(self) -> dt.datetime:
        """``getDatetimeValue()``: a string ``2011-03-22T13:01:23`` (an offset or ``Z``
        converts to GMT)."""
        s = self._string()
        try:
            v = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            raise exception_class("JSONException")(
                f"Cannot convert {s!r} to a Datetime") from None
        if v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return v

    def gettimevalue(self) -> dt.time:
        """``getTimeValue()``: a string ``18:31:02.020Z``."""
        s = self._string()
        try:
            return dt.time.fromisoformat(s.rstrip("Z"))
        except ValueError:
            raise exception_class("JSONException")(f"Cannot convert {s!r} to a Time") from None

    def getblobvalue(self) -> bytes:
        """``getBlobValue()``: a Base64 string."""
        try:
            return base64.b64decode(self._string(), validate=True)
        except (binascii.Error, ValueError):
            raise exception_class("JSONException")("Not a Base64 string") from None

    def _read(self, t: Any, strict: bool) -> Any:
        if t is None:
            raise npe()
        if not isinstance(t, ApexType):
            raise exception_class("TypeException")("readValueAs needs a System.Type")
        tok = self._tok()
        if tok is None or tok[0] in (_T["end_object"], _T["end_array"], _T["field_name"]):
            raise exception_class("JSONException")(
                f"Current token ({tok[0].name if tok else 'null'}) is not a value")
        try:
            value = _plain(tok[3])
            if tok[0] in (_T["start_object"], _T["start_array"]):
                self.skipchildren()  # on the value's last token, as Jackson leaves it
            return _convert(value, t, strict)
        except RecursionError:
            json_depth_error()
            raise

    def readvalueas(self, t: Any) -> Any:
        """``readValueAs(apexType)``: the current value (an object or array with all its
        children) as ``JSON.deserialize`` would make it."""
        return self._read(t, False)

    def readvalueasstrict(self, t: Any) -> Any:
        """``readValueAsStrict(apexType)``: as readValueAs, every attribute must exist."""
        return self._read(t, True)
