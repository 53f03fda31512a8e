"""sObject and field definitions, value coercion and ``describe()`` output.

The schema is the one place that knows what a field is: its type, flags (externalId,
unique, caseSensitive), picklist values, length, and how a value from a client becomes a
stored value. Names are case-insensitive everywhere, as in Salesforce; the definition keeps
the canonical spelling, which is what query results and describe return.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Any

from . import ids
from .clock import format_date, format_datetime, parse_datetime
from .errors import (
    InvalidField,
    InvalidOrNullForRestrictedPicklist,
    InvalidType,
    InvalidTypeOnFieldInRecord,
    MalformedId,
    NumberOutsideValidRange,
    StringTooLong,
)

__all__ = [
    "EARTH_RADIUS_KM",
    "NOT_LAYOUTABLE",
    "NOT_SEARCHABLE",
    "OPPORTUNITY_STAGES",
    "TEXT_TYPES",
    "Field",
    "SObjectDef",
    "Schema",
    "builtin_objects",
    "location_fields",
]

TEXT_TYPES = frozenset({"string", "textarea", "picklist", "multipicklist", "email", "phone",
                        "url", "combobox"})
"""Types compared and sorted case-insensitively (unless the field is caseSensitive)."""
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})
FIELD_TYPES = TEXT_TYPES | NUMBER_TYPES | {"id", "reference", "date", "datetime", "boolean",
                                           "location"}

_SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "string": "xsd:string", "textarea": "xsd:string",
    "picklist": "xsd:string", "multipicklist": "xsd:string", "email": "xsd:string",
    "phone": "xsd:string", "url": "xsd:string",
    "combobox": "xsd:string", "currency": "xsd:double", "double": "xsd:double",
    "percent": "xsd:double", "int": "xsd:int", "date": "xsd:date", "datetime": "xsd:dateTime",
    "boolean": "xsd:boolean", "location": "urn:location",
}

OPPORTUNITY_STAGES: tuple[tuple[str, int], ...] = (
    ("Prospecting", 10),
    ("Qualification", 10),
    ("Needs Analysis", 20),
    ("Value Proposition", 50),
    ("Id. Decision Makers", 60),
    ("Perception Analysis", 70),
    ("Proposal/Price Quote", 75),
    ("Negotiation/Review", 90),
    ("Closed Won", 100),
    ("Closed Lost", 0),
    # The team's org adds these two (their verification expects Discovery: 0, Negotiation: 0).
    ("Discovery", 20),
    ("Negotiation", 80),
)
"""StageName values with default probabilities: the standard sales process plus the team's."""


@dataclass(frozen=True)
class Field:
    """One field of an sObject. ``sort_key`` says whether the store keeps an upper-case key."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    picklist_values: tuple[str, ...] = ()
    restricted_picklist: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    defaulted_on_create: bool = False
    precision: int = 0
    scale: int = 0
    child_relationship: str | None = None
    """For a lookup: the relationship name the *parent* object's describe lists under
    ``childRelationships`` and that a parent-to-child subquery names in its FROM
    (``Contact.AccountId`` -> ``Contacts`` on Account). None: the lookup has no child
    relationship name, so no subquery can walk it (as many system lookups on Salesforce)."""
    formula: str | None = None
    """A read-only field computed from others: SQL over ``{a}``, the table alias (the
    SOQL compiler substitutes it). Contact and Lead ``Name`` are computed this way, so a
    query reading them never sees a stale value. The stored column stays null."""

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise InvalidTypeOnFieldInRecord(
                f"Unknown field type '{self.type}' for field {self.name}", [self.name])

    @property
    def custom(self) -> bool:
        """Custom fields end in ``__c``."""
        return self.name.lower().endswith("__c")

    @property
    def sort_key(self) -> bool:
        """True for text fields compared case-insensitively: stored with an upper-case key."""
        return self.type in TEXT_TYPES and not self.case_sensitive

    @property
    def required(self) -> bool:
        """Must be given on insert: createable, not nillable, and not defaulted."""
        return self.createable and not self.nillable and not self.defaulted_on_create

    def coerce(self, value: Any) -> Any:
        """Turn a client value into the stored value, or raise the real record error."""
        if value is None:
            return None
        t = self.type
        if t in TEXT_TYPES:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise self._wrong_type(value)
            text = value if isinstance(value, str) else _number_text(value)
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:  # a lone surrogate, e.g. JSON "\ud800"
                    raise InvalidTypeOnFieldInRecord(
                        f"{self.label or self.name}: value is not valid text (a lone "
                        f"UTF-16 surrogate): {text!a}", [self.name]) from None
            if text == "":
                # Salesforce stores an empty text value as null, so a required field given
                # "" is missing and `Field = null` finds the record (salesforce.stackexchange
                # question 333174; Apex guide: sObject strings "can never be empty (only
                # null)"). Not done: the same guide says leading/trailing whitespace is
                # trimmed; unconfirmed for the REST API, so values are kept as given.
                return None
            if self.length and len(text) > self.length:
                raise StringTooLong(
                    f"{self.label or self.name}: data value too large: {text} "
                    f"(max length={self.length})", [self.name])
            if t == "picklist" and self.restricted_picklist and text not in self.picklist_values:
                raise InvalidOrNullForRestrictedPicklist(
                    f"{self.label or self.name}: bad value for restricted picklist field: {text}",
                    [self.name])
            if t == "multipicklist" and self.restricted_picklist:
                # A multi-select picklist holds its selected values joined by ';' (*SOQL
                # and SOSL Reference*, "Query Multi-Select Picklists"); each must be one
                # of the field's values when the picklist is restricted.
                bad = next((v for v in text.split(";") if v not in self.picklist_values),
                           None)
                if bad is not None:
                    raise InvalidOrNullForRestrictedPicklist(
                        f"{self.label or self.name}: bad value for restricted picklist "
                        f"field: {bad}", [self.name])
            return text
        if t in NUMBER_TYPES:
            return self._coerce_number(value)
        if t == "location":
            # A geolocation compound field is read-only: clients write its components
            # (``X__Latitude__s``, ``X__Longitude__s``); see :func:`location_fields`.
            raise self._wrong_type(value)
        if t in ("id", "reference"):
            try:
                return ids.to18(value)
            except MalformedId:
                raise MalformedId(
                    f"{self.label or self.name}: id value of incorrect type: {value}",
                    [self.name]) from None
        if t == "boolean":
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return int(value.lower() == "true")
            raise self._wrong_type(value)
        if t == "date":
            if isinstance(value, datetime):
                return format_date(value.date())
            if isinstance(value, date):
                return format_date(value)
            if isinstance(value, str):
                try:
                    return format_date(date.fromisoformat(value[:10]))
                except ValueError:
                    pass
            raise self._wrong_type(value)
        # datetime
        if isinstance(value, datetime):
            return format_datetime(value)
        if isinstance(value, str):
            try:
                return format_datetime(parse_datetime(value))
            except ValueError:
                pass
        raise self._wrong_type(value)

    def _coerce_number(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise self._wrong_type(value)
        if isinstance(value, str):
            try:
                value = float(value) if self.type != "int" else int(value)
            except ValueError:
                raise self._wrong_type(value) from None
        if not isinstance(value, (int, float)) or (
                isinstance(value, float) and not math.isfinite(value)):
            raise self._wrong_type(value)
        if self.type == "int":
            if isinstance(value, float) and not value.is_integer():
                raise self._wrong_type(value)
            out: int | float = int(value)
        else:
            try:
                out = float(value)
            except OverflowError:  # an int with hundreds of digits
                raise self._out_of_range(value) from None
        # Digits left of the point: precision - scale (18 when the field sets none, the
        # largest precision Salesforce allows), which also keeps ints inside SQLite's 64 bits.
        digits = self.precision - self.scale if self.precision else 18
        if abs(out) >= 10 ** digits:
            raise self._out_of_range(value)
        return out

    def _out_of_range(self, value: Any) -> NumberOutsideValidRange:
        # A real Bulk API result: "NUMBER_OUTSIDE_VALID_RANGE:Normalized Score: value outside
        # of valid range on numeric field: 100.0" for precision 10, scale 8: precision -
        # scale digits are allowed left of the point (developer forum, Salesforce's
        # dfc-org-production.force.com/forums/ForumsMain?id=9060G000000BfsuQAC).
        # Deviation: a field with no precision set gets 18 digits (README fidelity table).
        return NumberOutsideValidRange(
            f"{self.label or self.name}: value outside of valid range on numeric field: "
            f"{value}", [self.name])

    def _wrong_type(self, value: Any) -> InvalidTypeOnFieldInRecord:
        return InvalidTypeOnFieldInRecord(
            f"{self.label or self.name}: value not of required type: {value}", [self.name])

    def output(self, stored: Any) -> Any:
        """The REST/JSON form of a stored value."""
        if stored is None:
            return None
        if self.type == "boolean":
            return bool(stored)
        return stored

    def describe(self) -> dict[str, Any]:
        """The field entry of the REST describe result."""
        text = self.type in TEXT_TYPES
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "soapType": _SOAP_TYPES[self.type],
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 9 if self.type == "int" else 0,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "defaultedOnCreate": self.defaulted_on_create,
            "externalId": self.external_id,
            "unique": self.unique,
            "caseSensitive": self.case_sensitive,
            "idLookup": self.type == "id" or self.external_id or self.name == "Name",
            "custom": self.custom,
            "calculated": self.formula is not None,
            "autoNumber": False,
            "filterable": True,
            "sortable": self.type != "textarea",
            "groupable": self.type not in ("double", "currency", "percent", "datetime",
                                           "textarea"),
            "aggregatable": True,
            "restrictedPicklist": self.restricted_picklist,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                for v in self.picklist_values
            ],
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "htmlFormatted": False,
            "nameField": self.name == "Name",
            "deprecatedAndHidden": False,
            "encrypted": False,
            "dependentPicklist": False,
            "writeRequiresMasterRead": False,
            "inlineHelpText": None,
            "defaultValue": False if self.type == "boolean" else None,
            "displayLocationInDecimal": False,
            "permissionable": self.nillable and self.custom,
            "queryByDistance": self.type == "location",
            # *SOQL and SOSL Reference*, "Understanding Relationship Fields and Polymorphic
            # Fields": a relationship field whose referenceTo lists several objects is
            # polymorphic (describe's ``polymorphicForeignKey`` true): Task/Event WhoId
            # and WhatId here.
            "polymorphicForeignKey": len(self.reference_to) > 1,
            "searchPrefilterable": False,
            "sortKey": text,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form, for saving custom definitions with an org file."""
        d = asdict(self)
        for k in ("child_relationship", "formula"):
            if d[k] is None:
                del d[k]  # unset: the file stays readable by versions without them
        d["picklist_values"] = list(self.picklist_values)
        d["reference_to"] = list(self.reference_to)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Field:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["picklist_values"] = tuple(d.get("picklist_values", ()))
        d["reference_to"] = tuple(d.get("reference_to", ()))
        return cls(**d)


def _number_text(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


NOT_SEARCHABLE = frozenset({"organization", "apexclass", "asyncapexjob", "crontrigger",
                            "cronjobdetail"})
"""Objects SOSL does not search: an object is searchable when the Object Reference lists
``search()`` among its "Supported Calls". AsyncApexJob, CronTrigger and CronJobDetail:
"describeSObjects(), query(), retrieve()"
(https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-asyncapexjob.html,
.../object-crontrigger.html, .../object-cronjobdetail.html); ApexClass: "create(), delete(),
describeSObjects(), query(), retrieve(), update(), upsert()" (Tooling API, "ApexClass");
OpportunityHistory (every ``history_of`` object): "describeSObjects(), getDeleted(),
getUpdated(), query(), retrieve()" (Object Reference, "OpportunityHistory"). Organization:
no search() either (its page was not found by the search tool; kept from before,
unconfirmed)."""

NOT_LAYOUTABLE = frozenset({"organization", "apexclass", "asyncapexjob", "crontrigger",
                            "cronjobdetail"})
"""Objects without page layouts (no ``describeLayout()`` in the Object Reference's
"Supported Calls", quoted at :data:`NOT_SEARCHABLE`); history objects too."""


@dataclass
class SObjectDef:
    """An sObject type: name, key prefix and fields (case-insensitive lookup)."""

    name: str
    key_prefix: str
    label: str = ""
    fields: dict[str, Field] = field(default_factory=dict)
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    history_of: str | None = None  # e.g. OpportunityHistory tracks Opportunity

    def __post_init__(self) -> None:
        self._lower: dict[str, Field] = {k.lower(): f for k, f in self.fields.items()}
        self.schema: Schema | None = None
        """The schema this object is registered in (set by :class:`Schema`): describe
        lists the child relationships other objects' lookups give it."""

    @property
    def custom(self) -> bool:
        """Custom objects end in ``__c`` (Data Cloud objects in ``__dlm``)."""
        return self.name.lower().endswith(("__c", "__dlm"))

    @property
    def searchable(self) -> bool:
        """Whether SOSL searches this object: describe's ``searchable`` and what SOSL's
        RETURNING accepts (``sosl.engine`` refuses the others). Not: the objects of
        :data:`NOT_SEARCHABLE`, history objects and Data Cloud ``__dlm`` objects."""
        low = self.name.lower()
        return not (self.history_of or low in NOT_SEARCHABLE or low.endswith("__dlm"))

    @property
    def layoutable(self) -> bool:
        """describe's ``layoutable``: whether the object has page layouts (REST
        ``describe/layouts`` and ``describe/compactLayouts`` answer only for these). An
        object is layoutable when the Object Reference lists ``describeLayout()`` among
        its "Supported Calls"; the lists quoted at :data:`NOT_SEARCHABLE` for
        AsyncApexJob, CronTrigger, CronJobDetail, ApexClass and the history objects lack
        it. Organization and Data Cloud ``__dlm`` objects: not layoutable either
        (unconfirmed)."""
        low = self.name.lower()
        return not (self.history_of or low in NOT_LAYOUTABLE or low.endswith("__dlm"))

    def add(self, f: Field) -> None:
        """Add a field; raises DUPLICATE_DEVELOPER_NAME style INVALID_FIELD on clashes."""
        if f.name.lower() in self._lower:
            raise InvalidField(f"Field {f.name} already exists on {self.name}", [f.name])
        self.fields[f.name] = f
        self._lower[f.name.lower()] = f

    def get(self, name: str) -> Field | None:
        """The field called ``name`` (any case), or None."""
        return self._lower.get(name.lower())

    def field(self, name: str) -> Field:
        """The field called ``name`` (any case); INVALID_FIELD with the real message if none."""
        f = self._lower.get(name.lower())
        if f is None:
            raise InvalidField(
                f"No such column '{name}' on entity '{self.name}'. If you are attempting to "
                "use a custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
                [name])
        return f

    def external_id_field(self, name: str) -> Field:
        """The field ``name`` if records can be matched by it (an External ID, or Id).

        Upserts and lookups by external id use it; anything else is the real INVALID_FIELD.
        """
        f = self.field(name)
        if not (f.external_id or f.type == "id"):
            raise InvalidField(
                f"Field name provided, {f.name} is not an External ID or indexed field for "
                f"{self.name}", [f.name])
        return f

    def relationship(self, name: str) -> Field | None:
        """The reference field whose relationshipName is ``name`` (any case), or None."""
        low = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == low:
                return f
        return None

    def describe(self, urls_base: str) -> dict[str, Any]:
        """The REST ``sobjects/{name}/describe`` body."""
        body = self.describe_global_entry(urls_base)
        body["fields"] = [f.describe() for f in self.fields.values()]
        # REST API Developer Guide, "sObject Describe": childRelationships lists, per
        # lookup on another object pointing here, the child object, the field and the
        # relationshipName a parent-to-child subquery uses.
        body["childRelationships"] = [] if self.schema is None else [
            {"cascadeDelete": False, "childSObject": child.name, "deprecatedAndHidden": False,
             "field": f.name, "junctionIdListNames": [], "junctionReferenceTo": [],
             "relationshipName": f.child_relationship, "restrictedDelete": False}
            for child, f in self.schema.child_relationships(self)]
        body["recordTypeInfos"] = []
        return body

    def describe_global_entry(self, urls_base: str) -> dict[str, Any]:
        """The entry for this object in the global describe list."""
        base = f"{urls_base}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label or self.name,
            "labelPlural": (self.label or self.name) + "s",
            "keyPrefix": self.key_prefix,
            "custom": self.custom,
            "createable": self.createable,
            "updateable": self.updateable,
            "deletable": self.deletable,
            "queryable": True,
            "retrieveable": True,
            "searchable": self.searchable,
            "undeletable": self.deletable,
            "layoutable": self.layoutable,
            "triggerable": self.createable,
            "replicateable": True,
            "customSetting": False,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            # The describe's mergeable flag (REST "sObject Describe"; Apex
            # DescribeSObjectResult.isMergeable): true exactly for the objects
            # Dml.merge accepts (MERGEABLE below), false for the others.
            "mergeable": self.name in MERGEABLE,
            "activateable": False,
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form, for saving custom definitions with an org file."""
        return {
            "name": self.name, "key_prefix": self.key_prefix, "label": self.label,
            "createable": self.createable, "updateable": self.updateable,
            "deletable": self.deletable, "history_of": self.history_of,
            "fields": [f.to_dict() for f in self.fields.values()],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SObjectDef:
        """Inverse of :meth:`to_dict`."""
        fields = [Field.from_dict(f) for f in d["fields"]]
        rest = {k: v for k, v in d.items() if k != "fields"}
        return cls(fields={f.name: f for f in fields}, **rest)


def id_field() -> Field:
    """The ``Id`` field every object has (first column of every table)."""
    return Field("Id", "id", "Record ID", length=18, nillable=False, createable=False,
                 updateable=False, defaulted_on_create=True)


def _ref(name: str, to: str, rel: str, *, createable: bool = True, nillable: bool = True,
         defaulted: bool = False, child: str | None = None) -> Field:
    return Field(name, "reference", name, length=18, reference_to=(to,), relationship_name=rel,
                 createable=createable, updateable=createable, nillable=nillable,
                 defaulted_on_create=defaulted, child_relationship=child)


MERGEABLE = frozenset({"Account", "Contact", "Lead"})
"""Objects a merge accepts, one list for describe's ``mergeable`` and ``Dml.merge``: "The
only supported object types are Lead, Contact and Account" (SOAP API Developer Guide,
"merge()", v188,
https://developer.salesforce.com/docs/atlas.en-us.188.0.api.meta/api/sforce_api_calls_merge.htm;
later versions add Case and Individual, which this org's schema does not have)."""


def _master_record(obj: str) -> Field:
    """``MasterRecordId`` of a mergeable object (Account, Contact, Lead): read-only, "If
    this object was deleted as the result of a merge, this field contains the ID of the
    record that was kept" (Object Reference, Account/Contact/Lead fields; set by
    ``Dml.merge``, see dml.py)."""
    return _ref("MasterRecordId", obj, "MasterRecord", createable=False)


def _poly(name: str, to: tuple[str, ...], rel: str, child: str) -> Field:
    """A polymorphic lookup: ``referenceTo`` lists several objects (Task/Event WhoId and
    WhatId); the relationship name (``Who``/``What``) reaches whichever one the id names."""
    return Field(name, "reference", name, length=18, reference_to=to, relationship_name=rel,
                 child_relationship=child)


def _activity_fields(child: str) -> list[Field]:
    """The fields Task and Event share (a subset of the *Object Reference*'s).

    *SOQL and SOSL Reference*, "Understanding Relationship Fields and Polymorphic Fields"
    (https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-relationships-and-polymorph-keys.html):
    "the Who relationship field of a Task can be a Contact or a Lead"; WhatId ("Related
    To") is "usually an Account. Not a person object". Here WhatId reaches Account and
    Opportunity (Salesforce allows many more objects). Deviation: Status and Priority are
    nillable with no defaults (Salesforce defaults them)."""
    return [
        Field("Subject", "combobox", "Subject", 255),
        Field("Description", "textarea", "Description", 32000),
        _poly("WhoId", ("Contact", "Lead"), "Who", child),
        _poly("WhatId", ("Account", "Opportunity"), "What", child),
        _ref("OwnerId", "User", "Owner", defaulted=True, nillable=False),
    ]


EARTH_RADIUS_KM = 6371.0088
"""The sphere radius DISTANCE() uses: the IUGG mean Earth radius. Salesforce does not
document its radius; this value reproduces the one published measurement (Salesforce
Stack Exchange question 32585, "What formulae does the Geolocation Distance use?":
Wellington (-41.31666667, 174.81666667) to GEOLOCATION(40.96666667, -5.5) is more than
19968.0 km and not more than 19968.1 km, i.e. a radius between 6371.002 and 6371.034 km;
6371 itself gives 19967.99)."""


def location_fields(name: str, label: str = "", scale: int = 6) -> list[Field]:
    """A geolocation custom field ``{name}__c`` and its two components.

    *SOQL and SOSL Reference*, "Location-Based SOQL Queries"
    (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_geolocate.htm):
    a geolocation field "identifies a location by its latitude and longitude"; its
    components are selected as ``Location__latitude__s`` / ``Location__longitude__s``
    ("append __latitude__s or __longitude__s to the field name, instead of the usual
    __c"), and selecting the compound ``Location__c`` in REST returns
    ``{"latitude": ..., "longitude": ...}``. The components are the stored (writable)
    double fields; the compound one is read-only and computed from them (null when both
    are null). Pass the list to ``OrgCore.add_object``."""
    lat, lon = f"{name}__Latitude__s", f"{name}__Longitude__s"
    compound = (f"CASE WHEN {{a}}.\"{lat}\" IS NULL AND {{a}}.\"{lon}\" IS NULL THEN NULL "
                f"ELSE json_object('latitude', {{a}}.\"{lat}\", 'longitude', "
                f"{{a}}.\"{lon}\") END")
    label = label or name.replace("_", " ")
    return [
        Field(f"{name}__c", "location", label, createable=False, updateable=False,
              formula=compound),
        Field(lat, "double", f"{label} (Latitude)", precision=3 + scale, scale=scale),
        Field(lon, "double", f"{label} (Longitude)", precision=3 + scale, scale=scale),
    ]


_FULL_NAME = ("NULLIF(TRIM(COALESCE({a}.\"FirstName\", '') || ' ' || "
              "COALESCE({a}.\"LastName\", '')), '')")
"""Contact/Lead ``Name``: "FirstName LastName" (the en_US order of the compound name
field; *Object Reference*, Contact: "Name: Concatenation of FirstName, MiddleName,
LastName, and Suffix"; MiddleName and Suffix are not modelled)."""

_LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")


def audit_fields() -> list[Field]:
    """The system fields every object has: IsDeleted and the created/modified audit."""
    ro: dict[str, Any] = {"createable": False, "updateable": False, "nillable": False,
                          "defaulted_on_create": True}
    return [
        Field("IsDeleted", "boolean", "Deleted", **ro),
        Field("CreatedDate", "datetime", "Created Date", **ro),
        _ref("CreatedById", "User", "CreatedBy", createable=False, nillable=False,
             defaulted=True),
        Field("LastModifiedDate", "datetime", "Last Modified Date", **ro),
        _ref("LastModifiedById", "User", "LastModifiedBy", createable=False, nillable=False,
             defaulted=True),
        Field("SystemModstamp", "datetime", "System Modstamp", **ro),
    ]


def _obj(name: str, label: str, fields: Iterable[Field], **kw: Any) -> SObjectDef:
    prefix = kw.pop("key_prefix", None) or ids.KEY_PREFIXES[name]
    fl = [id_field(), *fields, *audit_fields()]
    return SObjectDef(name, prefix, label, {f.name: f for f in fl}, **kw)


def builtin_objects() -> list[SObjectDef]:
    """Fresh definitions of the built-in objects (each org gets its own copies)."""
    ro: dict[str, Any] = {"createable": False, "updateable": False}
    owner = _ref("OwnerId", "User", "Owner", defaulted=True, nillable=False)
    return [
        _obj("Organization", "Organization", [
            Field("Name", "string", "Name", 80, nillable=False),
            Field("OrganizationType", "string", "Edition", 40, **ro),
            Field("IsSandbox", "boolean", "Is Sandbox", nillable=False, **ro),
            Field("InstanceName", "string", "Instance Name", 5, **ro),
            # What `sf project deploy start` asks first (sfdx-core Org.retrieveOrganization
            # Information; Object Reference, "Organization": TrialExpirationDate dateTime,
            # NamespacePrefix string). Null: not a trial org, no namespace.
            Field("TrialExpirationDate", "datetime", "Trial Expiration Date", **ro),
            Field("NamespacePrefix", "string", "Namespace Prefix", 15, **ro),
        ], createable=False, deletable=False),
        _obj("User", "User", [
            Field("Username", "string", "Username", 80, nillable=False, unique=True),
            Field("LastName", "string", "Last Name", 80, nillable=False),
            Field("FirstName", "string", "First Name", 40),
            Field("Name", "string", "Full Name", 121, **ro),
            Field("Email", "email", "Email", 128, nillable=False),
            Field("IsActive", "boolean", "Active", nillable=False, defaulted_on_create=True),
        ], deletable=False),
        _obj("Account", "Account", [
            Field("Name", "string", "Account Name", 255, nillable=False),
            Field("Industry", "picklist", "Industry", 255, picklist_values=(
                "Agriculture", "Banking", "Consulting", "Education", "Energy", "Finance",
                "Healthcare", "Manufacturing", "Retail", "Technology")),
            Field("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0),
            owner,
            _master_record("Account"),
        ]),
        _obj("Opportunity", "Opportunity", [
            Field("Name", "string", "Name", 120, nillable=False),
            Field("StageName", "picklist", "Stage", 255, nillable=False,
                  picklist_values=tuple(s for s, _ in OPPORTUNITY_STAGES)),
            Field("Amount", "currency", "Amount", precision=18, scale=2),
            Field("Probability", "percent", "Probability (%)", precision=3, scale=0),
            Field("CloseDate", "date", "Close Date", nillable=False),
            Field("Type", "picklist", "Opportunity Type", 255, picklist_values=(
                "Existing Customer - Upgrade", "Existing Customer - Replacement",
                "Existing Customer - Downgrade", "New Customer")),
            Field("Description", "textarea", "Description", 32000),
            _ref("AccountId", "Account", "Account", child="Opportunities"),
            owner,
            Field("External_ID__c", "string", "External ID", 255, external_id=True,
                  unique=True, case_sensitive=False),
        ]),
        # Contact and Lead: what the SOQL and SOSL Reference's own examples query (the
        # parent-to-child subquery ``(SELECT LastName FROM Contacts)``, GROUP BY ROLLUP
        # over Lead.LeadSource and Rating). Field lists are a subset of the Object
        # Reference's.
        _obj("Contact", "Contact", [
            Field("FirstName", "string", "First Name", 40),
            Field("LastName", "string", "Last Name", 80, nillable=False),
            Field("Name", "string", "Full Name", 121, formula=_FULL_NAME, **ro),
            Field("Email", "email", "Email", 80),
            Field("Phone", "phone", "Business Phone", 40),
            Field("Title", "string", "Title", 128),
            Field("Department", "string", "Department", 80),
            Field("LeadSource", "picklist", "Lead Source", 255, picklist_values=_LEAD_SOURCES),
            Field("Birthdate", "date", "Birthdate"),
            _ref("AccountId", "Account", "Account", child="Contacts"),
            owner,
            _master_record("Contact"),
        ]),
        _obj("Lead", "Lead", [
            Field("FirstName", "string", "First Name", 40),
            Field("LastName", "string", "Last Name", 80, nillable=False),
            Field("Name", "string", "Full Name", 121, formula=_FULL_NAME, **ro),
            Field("Company", "string", "Company", 255, nillable=False),
            Field("Email", "email", "Email", 80),
            Field("Phone", "phone", "Phone", 40),
            Field("Status", "picklist", "Lead Status", 255, picklist_values=(
                "Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                "Closed - Not Converted")),
            Field("LeadSource", "picklist", "Lead Source", 255, picklist_values=_LEAD_SOURCES),
            Field("Rating", "picklist", "Rating", 255, picklist_values=("Hot", "Warm", "Cold")),
            Field("Industry", "picklist", "Industry", 255, picklist_values=(
                "Agriculture", "Banking", "Consulting", "Education", "Energy", "Finance",
                "Healthcare", "Manufacturing", "Retail", "Technology")),
            Field("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0),
            owner,
            _master_record("Lead"),
        ], key_prefix="00Q"),
        # Task and Event: the polymorphic lookups WhoId/WhatId of the SOQL and SOSL
        # Reference's TYPEOF examples (``TYPEOF What WHEN Account ... FROM Event``).
        _obj("Task", "Task", [
            *_activity_fields("Tasks"),
            Field("Status", "picklist", "Status", 255, picklist_values=(
                "Not Started", "In Progress", "Completed", "Waiting on someone else",
                "Deferred")),
            Field("Priority", "picklist", "Priority", 40, picklist_values=(
                "High", "Normal", "Low")),
            Field("ActivityDate", "date", "Due Date Only"),
        ], key_prefix="00T"),
        _obj("Event", "Event", [
            *_activity_fields("Events"),
            Field("Location", "string", "Location", 255),
            Field("StartDateTime", "datetime", "Start Date Time"),
            Field("EndDateTime", "datetime", "End Date Time"),
            Field("DurationInMinutes", "int", "Duration"),
        ], key_prefix="00U"),
        _obj("OpportunityHistory", "Opportunity History", [
            _ref("OpportunityId", "Opportunity", "Opportunity", createable=False,
                 nillable=False, child="OpportunityHistories"),
            Field("StageName", "picklist", "Stage", 255, nillable=False,
                  picklist_values=tuple(s for s, _ in OPPORTUNITY_STAGES), **ro),
            Field("Amount", "currency", "Amount", **ro),
            Field("Probability", "percent", "Probability (%)", **ro),
            Field("CloseDate", "date", "Close Date", **ro),
        ], createable=False, updateable=False, deletable=False, history_of="Opportunity"),
        _obj("ApexClass", "Apex Class", [
            Field("Name", "string", "Name", 255, nillable=False),
            Field("Status", "picklist", "Status", 40, picklist_values=("Active", "Deleted")),
        ]),
        _obj("AsyncApexJob", "Apex Job", [
            Field("Status", "picklist", "Status", 40, picklist_values=(
                "Holding", "Queued", "Preparing", "Processing", "Aborted", "Completed",
                "Failed"), **ro),
            Field("JobType", "picklist", "Job Type", 40, picklist_values=(
                "BatchApex", "BatchApexWorker", "Queueable", "ScheduledApex", "Future",
                "SharingRecalculation", "TestRequest"), **ro),
            _ref("ApexClassId", "ApexClass", "ApexClass", createable=False),
            Field("MethodName", "string", "Method Name", 255, **ro),
            Field("JobItemsProcessed", "int", "Batches Processed", **ro),
            Field("TotalJobItems", "int", "Total Batches", **ro),
            Field("NumberOfErrors", "int", "Failures", **ro),
            Field("ExtendedStatus", "string", "Status Detail", 255, **ro),
            Field("CompletedDate", "datetime", "Completion Date", **ro),
            _ref("ParentJobId", "AsyncApexJob", "ParentJob", createable=False),
            # Object Reference, "AsyncApexJob": "CronTriggerId ... The ID of the
            # CronTrigger for the AsyncApexJob. This field only applies to ScheduledApex
            # job type" (API 53.0+; relationship name CronTrigger).
            _ref("CronTriggerId", "CronTrigger", "CronTrigger", createable=False),
        ], createable=False, updateable=False, deletable=False),
        # Scheduled Apex as rows (issue 15). Object Reference, "CronJobDetail" (API 29.0+,
        # https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-cronjobdetail.html):
        # Name (string 255, "The name of the associated scheduled job") and JobType
        # (restricted picklist; "7 - Scheduled Apex"). Object Reference, "CronTrigger"
        # (API 17.0+, .../object-crontrigger.html) for the fields below. Both support
        # describeSObjects(), query(), retrieve() only: no DML, as AsyncApexJob.
        _obj("CronJobDetail", "Scheduled Job Detail", [
            Field("Name", "string", "Job Name", 255, nillable=False, **ro),
            Field("JobType", "picklist", "Type", 40, picklist_values=(
                "1", "3", "4", "6", "7", "8", "9", "A"), **ro),
        ], key_prefix="08a", createable=False, updateable=False, deletable=False),
        _obj("CronTrigger", "Scheduled Job", [
            Field("CronExpression", "string", "Cron Expression", 255, **ro),
            _ref("CronJobDetailId", "CronJobDetail", "CronJobDetail", createable=False),
            Field("EndTime", "datetime", "End Time", **ro),
            Field("NextFireTime", "datetime", "Next Run Time", **ro),
            _ref("OwnerId", "User", "Owner", createable=False),
            Field("PreviousFireTime", "datetime", "Previous Run Time", **ro),
            Field("StartTime", "datetime", "Start Time", **ro),
            Field("State", "string", "Job State", 16, **ro),
            Field("TimeZoneSidKey", "picklist", "Java Time Zone Id", 40,
                  picklist_values=("GMT",), **ro),
            Field("TimesTriggered", "int", "Job Fired Count", **ro),
        ], createable=False, updateable=False, deletable=False),
    ]


class Schema:
    """The org's sObject definitions, looked up case-insensitively by name."""

    def __init__(self, objects: Iterable[SObjectDef] | None = None) -> None:
        self._objects: dict[str, SObjectDef] = {}
        self._next_custom_prefix = 0
        for o in builtin_objects() if objects is None else objects:
            self._objects[o.name.lower()] = o
            o.schema = self

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._objects

    def __iter__(self) -> Any:
        return iter(self._objects.values())

    def get(self, name: str) -> SObjectDef:
        """The object called ``name`` (any case); INVALID_TYPE with the real message if none."""
        o = self._objects.get(name.lower()) if isinstance(name, str) else None
        if o is None:
            raise InvalidType(
                f"sObject type '{name}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.")
        return o

    def by_prefix(self, prefix: str) -> SObjectDef | None:
        """The object whose ids start with ``prefix``."""
        for o in self._objects.values():
            if o.key_prefix == prefix:
                return o
        return None

    def new_custom_prefix(self) -> str:
        """The next free key prefix for a custom object (a00, a01, ...)."""
        while True:
            p = "a0" + ids.BASE62[self._next_custom_prefix]
            self._next_custom_prefix += 1
            if self.by_prefix(p) is None:
                return p

    def add_object(self, obj: SObjectDef) -> None:
        """Register a new object; custom objects must end in ``__c`` or ``__dlm``."""
        if obj.name.lower() in self._objects:
            raise InvalidType(f"sObject type '{obj.name}' already exists")
        if not obj.custom:
            raise InvalidType(
                f"Custom object names must end in '__c' (or '__dlm'): '{obj.name}'")
        self._objects[obj.name.lower()] = obj
        obj.schema = self

    def child_relationships(self, parent: SObjectDef) -> list[tuple[SObjectDef, Field]]:
        """(child object, lookup field) of every named child relationship of ``parent``."""
        out = []
        for o in self._objects.values():
            for f in o.fields.values():
                if f.child_relationship and parent.name in f.reference_to:
                    out.append((o, f))
        return out

    def child_relationship(self, parent: SObjectDef, name: str
                           ) -> tuple[SObjectDef, Field] | None:
        """The child object and lookup field of ``parent``'s child relationship ``name``
        (any case), or None: what a parent-to-child subquery's FROM names."""
        low = name.lower()
        for o, f in self.child_relationships(parent):
            if f.child_relationship and f.child_relationship.lower() == low:
                return o, f
        return None

    def describe_global(self, urls_base: str) -> dict[str, Any]:
        """The REST ``sobjects`` (global describe) body; ``urls_base`` is the versioned
        ``/services/data/vXX.X`` the request came in on."""
        return {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [o.describe_global_entry(urls_base) for o in self._objects.values()],
        }

    def custom_definitions(self, builtin: Iterable[SObjectDef]) -> dict[str, Any]:
        """What differs from the built-ins: custom objects and fields, for saving."""
        base = {o.name.lower(): o for o in builtin}
        out: dict[str, Any] = {"objects": [], "fields": {}}
        for key, o in self._objects.items():
            if key not in base:
                out["objects"].append(o.to_dict())
                continue
            extra = [f.to_dict() for k, f in o.fields.items() if k not in base[key].fields]
            if extra:
                out["fields"][o.name] = extra
        return out


def with_changes(f: Field, **changes: Any) -> Field:
    """A copy of ``f`` with ``changes`` (fields are frozen)."""
    return replace(f, **changes)

