"""Name resolution for the compiler: one FROM object, its parent joins, and field paths.

A :class:`Scope` is one query level (the outer query is alias ``t``, semi-join subqueries
``s1``, ``s2`` ...). Resolving ``Account.Owner.Name`` on Opportunity walks the schema's
relationship names, adds ``LEFT JOIN``s (one per distinct path, reused) and returns the
SQL column to read plus the sort-key column used for comparisons and ordering.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..clock import SimClock
from ..errors import InvalidField, InvalidType, MalformedQuery, SalesforceError
from ..schema import Field, Schema, SObjectDef
from ..store import quote, sk_column
from . import ast as A
from .parser import caret

__all__ = ["NAME_FIELDS", "NAME_OBJECT", "Ctx", "ParamFn", "Resolved", "Scope", "at"]


@dataclass
class Ctx:
    """What a parameter needs at execution time: the bind values and the org's clock."""

    binds: Mapping[str, Any]
    clock: SimClock
    user_id: str | None = None
    """The user running the query (``USING SCOPE mine``); None: no user is known."""
    memo: dict[int, Any] = field(default_factory=dict)
    """Per-execution results shared by several parameters (a bound IN list is converted
    once, though both its JSON and its has-null flag are parameters)."""


ParamFn = Callable[[Ctx], Any]
"""Computes one SQL parameter for one execution (constants, binds, date literal edges)."""


NAME_FIELDS: dict[str, Field] = {f.name.lower(): f for f in (
    Field("Id", "id", "Name ID", 18, nillable=False, createable=False, updateable=False),
    Field("Name", "string", "Name", 255, createable=False, updateable=False),
    Field("Type", "picklist", "Type", 40, createable=False, updateable=False),
    Field("FirstName", "string", "First Name", 40, createable=False, updateable=False),
    Field("LastName", "string", "Last Name", 80, createable=False, updateable=False),
    Field("Alias", "string", "Alias", 8, createable=False, updateable=False),
    Field("Email", "email", "Email", 128, createable=False, updateable=False),
    Field("Phone", "phone", "Phone", 40, createable=False, updateable=False),
    Field("Title", "string", "Title", 128, createable=False, updateable=False),
    Field("IsActive", "boolean", "Active", createable=False, updateable=False),
)}
"""The fields of the *Name* object that a polymorphic relationship (Task/Event ``Who``,
``What``) reaches without TYPEOF: *Object Reference*, "Name" ("used to retrieve information
from related records where the related record can be from more than one object type (a
polymorphic foreign key) ... you can use the who, what, or owner fields ... in SOQL
queries"; fields Alias, Email, FirstName, IsActive, LastName, Name, Phone, Title, Type
(the referenced record's object type) and Id;
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_name.htm).
A value is read from whichever object the id names, null where that object has no such
field ("This field contains a value only if the related record is a user"). Not modelled:
ProfileId, UserRoleId, RecordTypeId, NameOrAlias, LastViewedDate, LastReferencedDate
(the org keeps none of them): INVALID_FIELD like any other field the Name object lacks."""

NAME_OBJECT = SObjectDef("Name", "", "Name", dict(NAME_FIELDS))
"""The *Name* object a polymorphic relationship leads to (record ``attributes.type``)."""


def at(err: SalesforceError, text: str, pos: A.Pos) -> SalesforceError:
    """The same error with Salesforce's caret layout pointing at ``pos``."""
    out = type(err)(caret(text, pos, err.message), err.fields)
    return out


@dataclass(frozen=True)
class Resolved:
    """A resolved field path.

    ``col`` is the SQL expression of the stored value; ``cmp`` the one to compare and sort
    by (the upper-case sort key for case-insensitive text); ``parents`` the relationship
    names walked (canonical spelling) and ``parent_objs`` the objects they lead to.
    """

    field: Field
    col: str
    cmp: str
    parents: tuple[str, ...]
    parent_objs: tuple[SObjectDef, ...]
    join_alias: str

    @property
    def key(self) -> tuple[str, ...]:
        """Canonical identity of the path (for duplicate and GROUP BY checks)."""
        return (*self.parents, self.field.name)


@dataclass
class Scope:
    """One query level: its object, SQL alias, joins and the objects it depends on."""

    schema: Schema
    obj: SObjectDef
    alias: str
    text: str
    joins: dict[tuple[str, ...], tuple[str, SObjectDef]] = field(default_factory=dict)
    join_sql: list[str] = field(default_factory=list)
    deps: dict[str, SObjectDef] = field(default_factory=dict)
    poly: dict[tuple[str, ...], tuple[str, list[tuple[SObjectDef, str]]]] = field(
        default_factory=dict)
    """Polymorphic relationships walked (lower-case path -> the foreign key's SQL column
    and one ``(object, join alias)`` per object it can reference)."""

    @classmethod
    def open(cls, schema: Schema, name: str, pos: A.Pos, alias: str, text: str) -> Scope:
        """The scope of ``FROM name``; INVALID_TYPE (caret layout) when there is none."""
        try:
            obj = schema.get(name)
        except InvalidType as e:
            raise at(e, text, pos) from None
        return cls(schema, obj, alias, text, deps={obj.name: obj})

    def resolve(self, ref: A.FieldRef) -> Resolved:
        """Resolve a field path; INVALID_FIELD with Salesforce's messages when it fails."""
        path = list(ref.path)
        # "SELECT Opportunity.Name FROM Opportunity" is valid: a leading object name.
        if (len(path) > 1 and path[0].lower() == self.obj.name.lower()
                and self.obj.relationship(path[0]) is None):
            path = path[1:]
        obj, alias = self.obj, self.alias
        parents: list[str] = []
        objs: list[SObjectDef] = []
        for i, rel in enumerate(path[:-1]):
            ref_field = obj.relationship(rel)
            if ref_field is None and rel.lower().endswith("__r"):
                cand = obj.get(rel[:-3] + "__c")
                ref_field = cand if cand is not None and cand.type == "reference" else None
            if ref_field is not None and len(ref_field.reference_to) > 1:
                # A polymorphic lookup (Task/Event Who, What): its target depends on each
                # record, so dot notation reaches the Name object's fields.
                if i != len(path) - 2:
                    raise MalformedQuery(caret(self.text, ref.pos, f"sforg_sim supports "
                                               f"only the Name object's own fields "
                                               f"through the polymorphic relationship "
                                               f"{rel} ({ref.text}): use TYPEOF"))
                return self._resolve_name(ref, path[-1], ref_field, alias, parents, objs)
            if ref_field is None or not ref_field.reference_to:
                raise at(InvalidField(
                    f"Didn't understand relationship '{rel}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' "
                    "after the custom relationship name. Please reference your WSDL or the "
                    "describe call for the appropriate names.", [ref.text]), self.text, ref.pos)
            target = self.schema.get(ref_field.reference_to[0])
            rel_name = ref_field.relationship_name or ref_field.name[:-3] + "__r"
            parents.append(rel_name)
            objs.append(target)
            alias = self._join(tuple(parents), alias, ref_field, target)
            obj = target
        try:
            f = obj.field(path[-1])
        except InvalidField as e:
            if len(ref.path) > 1:
                e = InvalidField(e.message.replace(f"'{path[-1]}'", f"'{ref.text}'", 1),
                                 e.fields)
            raise at(e, self.text, ref.pos) from None
        if f.formula is not None:
            # A computed field (Contact/Lead Name): its SQL over the row's alias. Compared
            # through SQLite's UPPER, which folds ASCII only (the stored sort keys fold
            # all of Unicode): a deviation for non-ASCII names.
            col = "(" + f.formula.format(a=alias) + ")"
            cmp = f"UPPER{col}" if f.sort_key else col
        else:
            col = f"{alias}.{quote(f.name)}"
            cmp = f"{alias}.{quote(sk_column(f.name))}" if f.sort_key else col
        return Resolved(f, col, cmp, tuple(parents), tuple(objs), alias)

    def _resolve_name(self, ref: A.FieldRef, name: str, ref_field: Field, from_alias: str,
                      parents: list[str], objs: list[SObjectDef]) -> Resolved:
        """``What.Name``, ``Who.Type``...: a field of the Name object (:data:`NAME_FIELDS`)
        through a polymorphic relationship, read from whichever object each record's id
        names.

        *SOQL and SOSL Reference*, "Understanding Relationship Fields and Polymorphic
        Fields" (https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-relationships-and-polymorph-keys.html)
        and the Apex Developer Guide, "Working with Polymorphic Relationships in SOQL
        Queries" (``WHERE What.Type IN ('Account', 'Opportunity')``). Each object the
        lookup can reference is LEFT JOINed on the id (only the one its key prefix names
        matches); ``Type`` is that object's name, from the key prefix. A field the Name
        object lacks is INVALID_FIELD "No such column 'X' on entity 'Name'" (the wording
        of real orgs, seen in public reports; unconfirmed)."""
        f = NAME_FIELDS.get(name.lower())
        if f is None:
            raise at(InvalidField(
                f"No such column '{name}' on entity 'Name'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate "
                "names.", [ref.text]), self.text, ref.pos)
        rel_name = ref_field.relationship_name or ref_field.name
        parents.append(rel_name)
        objs.append(NAME_OBJECT)
        key = tuple(p.lower() for p in parents)
        fk = f"{from_alias}.{quote(ref_field.name)}"
        hit = self.poly.get(key)
        if hit is None:
            targets: list[tuple[SObjectDef, str]] = []
            for target_name in ref_field.reference_to:
                target = self.schema.get(target_name)
                alias = f"{self.alias}n{len(self.join_sql) + 1}"  # join_sql only grows
                self.join_sql.append(f"LEFT JOIN {quote(target.name)} {alias} "
                                     f"ON {alias}.\"Id\" = {fk}")
                self.deps[target.name] = target
                targets.append((target, alias))
            self.poly[key] = (fk, targets)
        else:
            targets = hit[1]
        if f.name == "Id":
            col = cmp = fk
        elif f.name == "Type":
            whens = " ".join(f"WHEN '{t.key_prefix}' THEN '{t.name}'" for t, _ in targets)
            col = f"(CASE substr({fk}, 1, 3) {whens} END)"
            cmp = f"UPPER{col}"
        else:
            vals: list[str] = []
            keys: list[str] = []
            for t, alias in targets:
                tf = t.get(f.name)
                if tf is None:
                    continue
                if tf.formula is not None:
                    v = "(" + tf.formula.format(a=alias) + ")"
                    vals.append(v)
                    keys.append(f"UPPER{v}")
                else:
                    vals.append(f"{alias}.{quote(tf.name)}")
                    keys.append(f"{alias}.{quote(sk_column(tf.name))}" if tf.sort_key
                                else vals[-1])
            col = _coalesce(vals)
            cmp = _coalesce(keys) if f.sort_key else col
        return Resolved(f, col, cmp, tuple(parents), tuple(objs), from_alias)

    def poly_targets(self, parents: tuple[str, ...]) -> list[SObjectDef] | None:
        """The objects a polymorphic relationship path can reach, or None when
        ``parents`` is an ordinary parent path."""
        hit = self.poly.get(tuple(p.lower() for p in parents))
        return None if hit is None else [t for t, _ in hit[1]]

    def _join(self, path: tuple[str, ...], from_alias: str, ref_field: Field,
              target: SObjectDef) -> str:
        key = tuple(p.lower() for p in path)
        hit = self.joins.get(key)
        if hit is not None:
            return hit[0]
        alias = f"{self.alias}p{len(self.joins) + 1}"
        self.joins[key] = (alias, target)
        self.deps[target.name] = target
        self.join_sql.append(
            f"LEFT JOIN {quote(target.name)} {alias} "
            f"ON {alias}.\"Id\" = {from_alias}.{quote(ref_field.name)}")
        return alias

    def parent_id_col(self, parents: tuple[str, ...]) -> str:
        """SQL column of the Id of the parent reached by ``parents`` (already joined)."""
        key = tuple(p.lower() for p in parents)
        if key in self.poly:
            return self.poly[key][0]
        alias, _ = self.joins[key]
        return f'{alias}."Id"'

    def from_sql(self) -> str:
        """``FROM "Obj" t LEFT JOIN ...``."""
        return " ".join([f"FROM {quote(self.obj.name)} {self.alias}", *self.join_sql])


def _coalesce(cols: list[str]) -> str:
    """The first non-null of ``cols`` in SQL (``NULL`` for none)."""
    if not cols:
        return "NULL"
    return cols[0] if len(cols) == 1 else f"COALESCE({', '.join(cols)})"
