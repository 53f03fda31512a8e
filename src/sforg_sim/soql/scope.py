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

__all__ = ["Ctx", "ParamFn", "Resolved", "Scope", "at"]


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
        for rel in path[:-1]:
            ref_field = obj.relationship(rel)
            if ref_field is None and rel.lower().endswith("__r"):
                cand = obj.get(rel[:-3] + "__c")
                ref_field = cand if cand is not None and cand.type == "reference" else None
            if ref_field is not None and len(ref_field.reference_to) > 1:
                # A polymorphic lookup (Task/Event Who, What): its target depends on each
                # record. Dot notation on it (What.Name, What.Type) is not modelled, so
                # it is refused by name rather than read from one of its objects.
                raise MalformedQuery(caret(self.text, ref.pos, f"sforg_sim does not "
                                           f"support field paths through the polymorphic "
                                           f"relationship {rel} ({ref.text}): use TYPEOF"))
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
        alias, _ = self.joins[tuple(p.lower() for p in parents)]
        return f'{alias}."Id"'

    def from_sql(self) -> str:
        """``FROM "Obj" t LEFT JOIN ...``."""
        return " ".join([f"FROM {quote(self.obj.name)} {self.alias}", *self.join_sql])
