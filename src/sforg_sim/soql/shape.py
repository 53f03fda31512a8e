"""Result shaping: stored row tuples -> REST record dicts, with per-column converters
decided once at compile time (the per-row work is a loop over precomputed tuples).

Records carry ``attributes`` ``{type, url}``; parent relationship fields nest as
``"Account": {"attributes": ..., "Name": ...}`` or ``"Account": None`` when the lookup is
empty. A parent-to-child subquery is a ``{"totalSize", "done", "records"}`` object under
its relationship name (the engine fills it in), or None when there are no children.
AggregateResult records carry ``{"type": "AggregateResult"}`` only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..clock import parse_datetime
from ..schema import Field

__all__ = ["Node", "PolyNode", "agg_shaper", "format_converter", "row_shaper"]

Converter = Callable[[Any], Any] | None


def _bool(v: Any) -> Any:
    return bool(v)


def _location(v: Any) -> Any:
    """A geolocation compound value (stored as SQLite JSON) as REST returns it:
    ``{"latitude": ..., "longitude": ...}`` (*SOQL and SOSL Reference*, "Location-Based
    SOQL Queries", its REST result sample)."""
    return json.loads(v)


class Node:
    """One record level (the queried object or a parent): its Id column and its items.

    ``items`` keep SELECT order: ``(key, column, converter)`` for a field,
    ``(key, None, Node)`` for a nested parent, ``(key, None, None)`` for a subquery.
    """

    def __init__(self, sobject: str, id_col: int, url_base: str,
                 urls: dict[str, str] | None = None) -> None:
        self.sobject = sobject
        self.id_col = id_col
        self.url_base = url_base
        self.urls = urls
        """Key prefix -> record URL base, for a Name object reached through a
        polymorphic relationship: its URL names the record's own object."""
        self.items: list[tuple[str, int | None, Any]] = []
        self._children: dict[str, Node] = {}
        self.missing: tuple[str, ...] = ()
        """Fields of a TYPEOF ELSE list this object lacks: null in its records."""

    def child(self, rel: str, sobject: str, cols: list[str], id_sql: str,
              url_base: str, urls: dict[str, str] | None = None) -> Node:
        """The nested node for relationship ``rel``, adding its Id column on first use."""
        node = self._children.get(rel.lower())
        if node is None:
            node = Node(sobject, len(cols), url_base, urls)
            cols.append(id_sql)
            self._children[rel.lower()] = node
            self.items.append((rel, None, node))
        return node

    def placeholder(self, rel: str) -> None:
        """A parent-to-child subquery's key, in SELECT order: None until the engine fills
        in the children it read for the whole page (``engine._attach_children``)."""
        self.items.append((rel, None, None))

    def add(self, f: Field, col: int) -> None:
        """A field read from column ``col``."""
        conv = _bool if f.type == "boolean" else _location if f.type == "location" else None
        self.items.append((f.name, col, conv))

    def add_as(self, key: str, col: int, conv: Converter) -> None:
        """A value read from column ``col`` under ``key`` (an alias, or the field name of
        ``toLabel()``/``FORMAT()``), converted by ``conv`` when not null."""
        self.items.append((key, col, conv))

    def build(self, row: tuple[Any, ...]) -> dict[str, Any]:
        """The record dict of this level from one result row."""
        rid = row[self.id_col]
        base = self.url_base if self.urls is None else self.urls.get(rid[:3], self.url_base)
        rec: dict[str, Any] = {"attributes": {"type": self.sobject, "url": base + rid}}
        for key, col, conv in self.items:
            if col is None:
                rec[key] = None if conv is None or row[conv.id_col] is None \
                    else conv.build(row)
            else:
                v = row[col]
                rec[key] = v if conv is None or v is None else conv(v)
        for key in self.missing:
            rec[key] = None
        return rec


class PolyNode:
    """A polymorphic relationship selected with TYPEOF: the record node of the WHEN (or
    ELSE) branch matching the type of the id in column ``id_col`` (its key prefix), or an
    attributes-only object when no branch matches. Used like a parent :class:`Node`."""

    def __init__(self, id_col: int, types: dict[str, tuple[str, str]]) -> None:
        self.id_col = id_col
        self.types = types
        """key prefix -> (object name, record URL base) of every type the field names."""
        self.whens: dict[str, Node] = {}

    def build(self, row: tuple[Any, ...]) -> dict[str, Any]:
        """The referenced object of one result row (its id is not null)."""
        rid = row[self.id_col]
        leaf = self.whens.get(rid[:3])
        if leaf is not None:
            return leaf.build(row)
        name, url = self.types.get(rid[:3], ("Name", ""))
        return {"attributes": {"type": name, "url": url + rid}}


def row_shaper(root: Node) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    """The shaper of a plain record query."""
    return root.build


def agg_shaper(outs: list[tuple[str, int, Converter]]) -> Callable[[tuple[Any, ...]],
                                                                     dict[str, Any]]:
    """The shaper of an aggregate query: ``(output name, column, converter)`` per item."""
    def shape(row: tuple[Any, ...]) -> dict[str, Any]:
        rec: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
        for name, col, conv in outs:
            v = row[col]
            rec[name] = v if conv is None or v is None else conv(v)
        return rec
    return shape


# --- FORMAT() -----------------------------------------------------------------------------
#
# *SOQL and SOSL Reference*, "FORMAT()"
# (https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-select-format.html):
# number, date, time and currency fields "reflect the appropriate format for the given user
# locale ... matches what appears in the Salesforce Classic user interface"; its examples
# for an en_US user: a dateTime "4/10/2025, 3:31 PM", a date "12/28/2015", a currency
# "$44,000.00". The simulated user is en_US on UTC with the org's one currency, USD.
# Deviations (unconfirmed): numbers show the field's scale; a negative currency is
# "-$1.00"; percent fields get a "%" suffix.


def _fmt_number(scale: int, prefix: str = "", suffix: str = "") -> Callable[[Any], Any]:
    def conv(v: Any) -> Any:
        sign = "-" if v < 0 else ""
        return f"{sign}{prefix}{abs(v):,.{scale}f}{suffix}"
    return conv


def _fmt_date(v: Any) -> Any:
    y, m, d = str(v)[:10].split("-")
    return f"{int(m)}/{int(d)}/{int(y)}"


def _fmt_datetime(v: Any) -> Any:
    dt: datetime = parse_datetime(v)
    hour = dt.hour % 12 or 12
    return (f"{dt.month}/{dt.day}/{dt.year}, {hour}:{dt.minute:02d} "
            f"{'AM' if dt.hour < 12 else 'PM'}")


def format_converter(ftype: str, scale: int) -> Converter:
    """FORMAT()'s converter for a stored value of type ``ftype`` (en_US, UTC, USD), or
    None when FORMAT() does not apply to the type."""
    if ftype == "currency":
        return _fmt_number(scale, prefix="$")
    if ftype == "percent":
        return _fmt_number(scale, suffix="%")
    if ftype in ("double", "int"):
        return _fmt_number(scale)
    if ftype == "date":
        return _fmt_date
    if ftype == "datetime":
        return _fmt_datetime
    return None
