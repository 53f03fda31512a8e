"""``GET query?q=SOQL&columns=true``: the column metadata of a query, as ``sf data query``
asks for it.

The Salesforce CLI (``@salesforce/plugin-data``, ``commands/data/query.js``,
``retrieveColumns``) runs the query, then, whenever ``totalSize > 0``, asks the same URL
with ``&columns=true`` and reads ``columnMetadata`` from the answer to lay out its table
and CSV columns. The variant is undocumented (neither the REST API Developer Guide's
"Query" resource nor the SOQL and SOSL Reference describes it); the shape modelled here is
the one the CLI's own test exemplars record from real orgs
(github.com/salesforcecli/plugin-data, ``test/test-files/queryFields.exemplars.ts``):

- one entry per SELECT item, in order, each with ``aggregate``, ``apexType``,
  ``booleanType``, ``columnName``, ``custom``, ``displayName``, ``foreignKeyName``,
  ``insertable``, ``joinColumns``, ``numberType``, ``textType``, ``updatable``;
- a parent relationship path (``Owner.Name``) is the relationship (``columnName``
  ``Owner``, ``foreignKeyName`` ``OwnerId``) with the rest of the path in ``joinColumns``;
  several paths through one relationship share its entry, as they share the record's
  nested object;
- a parent-to-child subquery (``(SELECT LastName FROM Contacts)``) is ``aggregate: true``
  with its own columns in ``joinColumns``;
- an aggregate function is ``aggregate: true``, ``columnName`` the alias or ``exprN``
  (the key the AggregateResult record has), ``displayName`` the call as written
  (``avg(Amount)``).

Top-level keys besides ``columnMetadata`` (``entityName``, ``groupBy``, ``idSelected``,
``keyPrefix``) are those a real answer carries; the CLI reads only ``columnMetadata``.
Deviations: ``apexType`` is derived from the field type (the CLI does not read it); a
relationship path in a GROUP BY query is one flat column named like the AggregateResult's
key (its last segment), so the CLI finds the value in the record.
"""

from __future__ import annotations

from typing import Any

from ..schema import NUMBER_TYPES, TEXT_TYPES, Field, SObjectDef
from ..soql import ast as A
from ..soql.parser import parse
from .messages import Call

__all__ = ["column_metadata"]

_APEX_TYPES = {"id": "Id", "reference": "Id", "boolean": "Boolean", "int": "Integer",
               "double": "Double", "currency": "Double", "percent": "Double",
               "date": "Date", "datetime": "Datetime"}


def _column(name: str, display: str, *, f: Field | None = None, aggregate: bool = False,
            number: bool = False, joins: list[dict[str, Any]] | None = None,
            fk: str | None = None) -> dict[str, Any]:
    """One ``columnMetadata`` entry (keys as in the CLI's exemplars)."""
    ftype = f.type if f is not None else ""
    return {
        "aggregate": aggregate,
        "apexType": (_APEX_TYPES.get(ftype, "String" if ftype in TEXT_TYPES else None)
                     if f is not None and not joins else None),
        "booleanType": ftype == "boolean",
        "columnName": name,
        "custom": bool(f is not None and f.custom),
        "displayName": display,
        "foreignKeyName": fk,
        "insertable": bool(f is not None and f.createable and not joins),
        "joinColumns": joins or [],
        "numberType": number or ftype in NUMBER_TYPES,
        "textType": ftype in TEXT_TYPES,
        "updatable": bool(f is not None and f.updateable and not joins),
    }


class _Columns:
    """Builds the entries of one query level against the org's schema."""

    def __init__(self, call: Call) -> None:
        self.schema = call.org.schema

    def obj(self, name: str) -> SObjectDef | None:
        try:
            return self.schema.get(name)
        except Exception:  # unknown object: the query itself already failed on it
            return None

    def path(self, obj: SObjectDef | None, path: tuple[str, ...]) -> dict[str, Any]:
        """A field or a parent relationship path as a (possibly nested) entry."""
        if obj is not None and len(path) > 1 and path[0].lower() == obj.name.lower() \
                and obj.relationship(path[0]) is None:
            path = path[1:]  # ``Opportunity.Name`` on Opportunity: the object's own name
        head = path[0]
        if len(path) == 1:
            f = obj.get(head) if obj is not None else None
            name = f.name if f is not None else head
            return _column(name, name, f=f)
        ref = obj.relationship(head) if obj is not None else None
        rel = ref.relationship_name if ref is not None and ref.relationship_name else head
        parent = self.obj(ref.reference_to[0]) if ref is not None and ref.reference_to \
            else None
        return _column(rel, rel, fk=ref.name if ref is not None else None,
                       joins=[self.path(parent, path[1:])])

    def level(self, q: A.Query, obj: SObjectDef | None = None) -> list[dict[str, Any]]:
        """The entries of one SELECT, in order (subqueries recurse, each level with
        the child object its relationship names, down to the five levels v58.0+
        allows)."""
        obj = obj if obj is not None else self.obj(q.sobject)
        grouped = bool(q.group_by) or any(isinstance(i.expr, A.Agg) for i in q.select)
        out: list[dict[str, Any]] = []
        n_expr = 0
        for item in q.select:
            expr = item.expr
            if isinstance(expr, A.FieldRef):
                if grouped:
                    # An AggregateResult key is the alias or the field's own name.
                    col = self.path(obj, expr.path)
                    while col["joinColumns"]:
                        col = col["joinColumns"][0]
                    if item.alias:
                        col = {**col, "columnName": item.alias}
                    out.append(col)
                else:
                    self._merge(out, self.path(obj, expr.path))
            elif isinstance(expr, A.SubQuery):
                rel = expr.query.sobject
                found = self.schema.child_relationship(obj, rel) if obj is not None \
                    else None
                if found is not None and found[1].child_relationship:
                    rel = found[1].child_relationship
                child = self.level(expr.query, found[0] if found is not None else None)
                out.append(_column(rel, rel, aggregate=True, joins=child))
            elif isinstance(expr, A.FieldsFn):
                out.extend(self._fields(obj, expr.kind))
            elif isinstance(expr, A.FieldFn) and isinstance(_inner(expr), A.FieldRef):
                # toLabel(f), FORMAT(f), convertCurrency(f): the record keeps the field's
                # own key (or the alias), so the column is the field's, not an exprN.
                ref = _inner(expr)
                assert isinstance(ref, A.FieldRef)
                col = self.path(obj, ref.path)
                while col["joinColumns"]:
                    col = col["joinColumns"][0]
                out.append({**col, "columnName": item.alias} if item.alias else col)
            else:  # Agg, DateFn, Grouping, FORMAT(aggregate): keyed by alias or exprN
                if item.alias is None:
                    name = f"expr{n_expr}"
                    n_expr += 1
                else:
                    name = item.alias
                number = not (isinstance(expr, A.Agg) and expr.func in ("MIN", "MAX"))
                out.append(_column(name, _call_text(q.text, expr), aggregate=True,
                                   number=number))
        return out

    @staticmethod
    def _merge(out: list[dict[str, Any]], col: dict[str, Any]) -> None:
        """Add ``col``; a relationship already listed gets the new path in its joins."""
        if col["joinColumns"]:
            for prev in out:
                if prev["joinColumns"] and prev["columnName"] == col["columnName"] \
                        and not prev["aggregate"]:
                    for j in col["joinColumns"]:
                        _Columns._merge(prev["joinColumns"], j)
                    return
        out.append(col)

    def _fields(self, obj: SObjectDef | None, kind: str) -> list[dict[str, Any]]:
        """``FIELDS(ALL|STANDARD|CUSTOM)`` expanded the way the record lists them."""
        if obj is None:
            return []
        fields = [f for f in obj.fields.values()
                  if kind == "ALL" or (kind == "CUSTOM") == f.custom]
        return [_column(f.name, f.name, f=f) for f in fields]


def _inner(expr: A.FieldFn) -> Any:
    """What a chain of toLabel/FORMAT/convertCurrency calls wraps."""
    arg: Any = expr.arg
    while isinstance(arg, A.FieldFn):
        arg = arg.arg
    return arg


def _call_text(text: str, expr: A.Agg | A.DateFn | A.Grouping | Any) -> str:
    """The function call as the query wrote it (``COUNT(Id)``, ``avg(Amount)``): the
    CLI's exemplars show the user's own spelling, so it is cut from the text."""
    line, col = expr.pos
    lines = text.split("\n")
    if 1 <= line <= len(lines):
        start = sum(len(x) + 1 for x in lines[: line - 1]) + col - 1
        depth = 0
        for i in range(start, len(text)):
            if text[i] == "(":
                depth += 1
            elif text[i] == ")":
                depth -= 1
                if depth == 0:
                    return " ".join(text[start: i + 1].split())
    if isinstance(expr, A.Agg):
        return f"{expr.func}({expr.arg.text if expr.arg is not None else ''})"
    if isinstance(expr, A.DateFn):
        return expr.text
    if isinstance(expr, A.Grouping):
        return f"GROUPING({expr.arg.text})"
    return str(expr)


def column_metadata(call: Call, soql: str, include_deleted: bool = False) -> dict[str, Any]:
    """The ``columns=true`` body of ``soql``. The query is compiled first, so an invalid
    query fails with the same Salesforce error as without ``columns=true``."""
    plan = call.org.soql.plan(soql, include_deleted, api_version=call.version)
    q = parse(soql)
    cols = _Columns(call).level(q)
    return {
        "columnMetadata": cols,
        "entityName": plan.obj.name,
        "groupBy": bool(q.group_by),
        "idSelected": any(c["columnName"].lower() == "id" and not c["aggregate"]
                          for c in cols),
        "keyPrefix": plan.obj.key_prefix,
    }
