"""Issue 19, last two constructs: TYPEOF over polymorphic lookups (Task/Event WhoId and
WhatId) and DISTANCE/GEOLOCATION over geolocation fields (*SOQL and SOSL Reference*,
"TYPEOF" and "Location-Based SOQL Queries"; docs/fidelity.md S34)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from sforg_sim.errors import SalesforceError
from sforg_sim.org import Org
from sforg_sim.schema import EARTH_RADIUS_KM, location_fields

REF_TYPEOF = ("SELECT Id, TYPEOF What WHEN Account THEN Phone, NumberOfEmployees "
              "WHEN Opportunity THEN Amount, CloseDate ELSE Name, Email END FROM Event")
"""The reference's example; Account has no Phone/NumberOfEmployees here, so the tests
run it with the fields the simulated Account has (``_typeof``)."""


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org()
    acc = o.insert("Account", [{"Name": "Acme", "Industry": "Energy"}])[0]["id"]
    opp = o.insert("Opportunity", [{"Name": "Big", "StageName": "Prospecting",
                                    "CloseDate": "2026-02-01", "Amount": 10}])[0]["id"]
    con = o.insert("Contact", [{"LastName": "Doe", "Email": "doe@x.com"}])[0]["id"]
    lead = o.insert("Lead", [{"LastName": "Lee", "Company": "LeeCo"}])[0]["id"]
    res = o.insert("Event", [{"Subject": "1 acc", "WhatId": acc, "WhoId": lead},
                             {"Subject": "2 opp", "WhatId": opp, "WhoId": con},
                             {"Subject": "3 none"}])
    assert all(r["success"] for r in res)
    o.insert("Task", [{"Subject": "t", "WhatId": opp, "WhoId": con}])
    yield o
    o.close()


def _err(org: Org, soql: str) -> SalesforceError:
    with pytest.raises(SalesforceError) as e:
        org.query(soql)
    return e.value


# --- Task / Event schema ------------------------------------------------------------------


def test_polymorphic_lookups_in_describe(org: Org) -> None:
    for name in ("Task", "Event"):
        fields = {f["name"]: f for f in org.schema.get(name).describe("/x")["fields"]}
        assert fields["WhatId"]["referenceTo"] == ["Account", "Opportunity"]
        assert fields["WhatId"]["relationshipName"] == "What"
        assert fields["WhoId"]["referenceTo"] == ["Contact", "Lead"]
        assert fields["WhoId"]["polymorphicForeignKey"] is True
        assert fields["OwnerId"]["polymorphicForeignKey"] is False


def test_insert_rejects_an_id_of_a_type_the_lookup_cannot_reference(org: Org) -> None:
    con = org.query("SELECT Id FROM Contact")["records"][0]["Id"]
    res = org.insert("Event", [{"Subject": "x", "WhatId": con}])[0]
    assert res["success"] is False
    assert res["errors"][0]["fields"] == ["WhatId"]


# --- TYPEOF -------------------------------------------------------------------------------


def _typeof(org: Org) -> list[dict[str, Any]]:
    soql = (REF_TYPEOF.replace("Phone, NumberOfEmployees", "Name, Industry")
            + " ORDER BY Subject")
    return list(org.query(soql)["records"])


def test_typeof_picks_the_branch_of_each_records_type(org: Org) -> None:
    recs = _typeof(org)
    acc, opp, none = (r["What"] for r in recs)
    assert acc["attributes"]["type"] == "Account"
    assert acc["attributes"]["url"].endswith("/sobjects/Account/" + recs[0]["What"][
        "attributes"]["url"][-18:])
    # Only the matching WHEN branch's fields, in its order.
    assert [k for k in acc if k != "attributes"] == ["Name", "Industry"]
    assert acc["Name"] == "Acme" and acc["Industry"] == "Energy"
    assert opp["attributes"]["type"] == "Opportunity"
    assert {k: v for k, v in opp.items() if k != "attributes"} == \
        {"Amount": 10.0, "CloseDate": "2026-02-01"}
    assert none is None


def test_typeof_else_branch_and_two_typeofs(org: Org) -> None:
    soql = ("SELECT Subject, TYPEOF What WHEN Opportunity THEN Amount ELSE Name END, "
            "TYPEOF Who WHEN Lead THEN Company ELSE Email, Name END FROM Event "
            "ORDER BY Subject")
    recs = org.query(soql)["records"]
    assert recs[0]["What"]["attributes"]["type"] == "Account"
    assert recs[0]["What"]["Name"] == "Acme"
    assert recs[0]["Who"]["attributes"]["type"] == "Lead"
    assert set(recs[0]["Who"]) == {"attributes", "Company"}
    assert recs[1]["Who"]["attributes"]["type"] == "Contact"
    assert recs[1]["Who"]["Email"] == "doe@x.com" and recs[1]["Who"]["Name"] == "Doe"


def test_typeof_without_a_matching_branch_carries_attributes_only(org: Org) -> None:
    recs = org.query("SELECT Subject, TYPEOF What WHEN Account THEN Name END FROM Event "
                     "ORDER BY Subject")["records"]
    assert recs[1]["What"] == {"attributes": {
        "type": "Opportunity", "url": recs[1]["What"]["attributes"]["url"]}}


def test_typeof_when_fields_can_walk_to_parents(org: Org) -> None:
    recs = org.query("SELECT Subject, TYPEOF What WHEN Account THEN Owner.Name END FROM "
                     "Event ORDER BY Subject")["records"]
    assert recs[0]["What"]["Owner"]["attributes"]["type"] == "User"
    assert recs[0]["What"]["Owner"]["Name"]


@pytest.mark.parametrize(("soql", "code", "needle"), [
    # Documented: TYPEOF needs a polymorphic relationship field.
    ("SELECT TYPEOF Owner WHEN User THEN Name END FROM Event", "MALFORMED_QUERY",
     "needs a polymorphic"),
    # Documented: typeOfField cannot also be referenced in the field list.
    ("SELECT What.Name, TYPEOF What WHEN Account THEN Name END FROM Event",
     "MALFORMED_QUERY", "also referenced in the field list"),
    # Dot notation through a polymorphic lookup reaches the Name object's fields only
    # (tests/test_soql_polymorphic_names_t3.py); a deeper path is refused by name.
    ("SELECT Id FROM Event WHERE What.Owner.Name = 'Big'", "MALFORMED_QUERY",
     "polymorphic relationship What"),
    ("SELECT TYPEOF What WHEN Account THEN Name END, What.Name FROM Event",
     "MALFORMED_QUERY", "also referenced"),
    # Documented: one WHEN per object type.
    ("SELECT TYPEOF What WHEN Account THEN Name WHEN account THEN Name END FROM Event",
     "MALFORMED_QUERY", "duplicate WHEN"),
    # Documented: not in queries that don't return objects.
    ("SELECT COUNT(Id), TYPEOF What WHEN Account THEN Name END FROM Event",
     "MALFORMED_QUERY", "don't return objects"),
    # Documented: only in SELECT (WHERE/ORDER BY/GROUP BY do not take it).
    ("SELECT Id FROM Event WHERE TYPEOF What WHEN Account THEN Name END = 'x'",
     "MALFORMED_QUERY", "unexpected token"),
    ("SELECT Id FROM Event ORDER BY TYPEOF What WHEN Account THEN Name END",
     "MALFORMED_QUERY", "unexpected token"),
    ("SELECT Id FROM Event GROUP BY TYPEOF What WHEN Account THEN Name END",
     "MALFORMED_QUERY", "unexpected token"),
    # Documented: TYPEOF expressions can't be nested.
    ("SELECT TYPEOF What WHEN Account THEN TYPEOF Owner WHEN User THEN Name END END "
     "FROM Event", "MALFORMED_QUERY", "unexpected token"),
    # ELSE needs fields; END is required.
    ("SELECT TYPEOF What WHEN Account THEN Name ELSE END FROM Event", "MALFORMED_QUERY",
     "unexpected token"),
    ("SELECT TYPEOF What WHEN Account THEN Name FROM Event", "MALFORMED_QUERY",
     "unexpected token"),
    ("SELECT TYPEOF What WHEN Lead THEN Name END FROM Event", "MALFORMED_QUERY",
     "Lead is not a type"),
    ("SELECT TYPEOF What WHEN Account THEN Nope__c END FROM Event", "INVALID_FIELD",
     "Nope__c"),
    ("SELECT TYPEOF What WHEN Account THEN Name ELSE Nope__c END FROM Event",
     "INVALID_FIELD", "Nope__c"),
])
def test_typeof_rules(org: Org, soql: str, code: str, needle: str) -> None:
    e = _err(org, soql)
    assert e.error_code == code
    assert needle in str(e)


def test_typeof_keywords_stay_usable_as_names(org: Org) -> None:
    """WHEN/THEN/ELSE/END are keywords only inside TYPEOF: as FROM aliases they work."""
    for word in ("When", "Then", "Else", "End"):
        body = org.query(f"SELECT {word}.Name FROM Account {word}")
        assert body["records"][0]["Name"] == "Acme"


# --- DISTANCE / GEOLOCATION ---------------------------------------------------------------


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float, r: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * \
        math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


WAREHOUSES = {
    "Ferry Building": (37.79302, -122.394507),   # ~1.9 mi from (37.775, -122.418)
    "Oakland": (37.8044, -122.2712),             # ~8.3 mi
    "San Jose": (37.3382, -121.8863),            # ~42 mi
    "Honolulu": (21.3069, -157.8583),            # ~2,400 mi
}


@pytest.fixture
def geo() -> Iterator[Org]:
    o = Org()
    o.add_object("Warehouse__c", [*location_fields("Location"),
                                  *location_fields("Dock")])
    rows: list[dict[str, Any]] = [
        {"Location__Latitude__s": lat, "Location__Longitude__s": lon,
         "Dock__Latitude__s": lat + 0.01, "Dock__Longitude__s": lon}
        for lat, lon in WAREHOUSES.values()]
    rows.append({})  # no location: never within or beyond any radius
    ids = [r["id"] for r in o.insert("Warehouse__c", rows)]
    o.names = dict(zip([*WAREHOUSES, None], ids))  # type: ignore[attr-defined]
    yield o
    o.close()


def _names(o: Org, soql: str) -> list[str | None]:
    back = {v: k for k, v in o.names.items()}  # type: ignore[attr-defined]
    return [back[r["Id"]] for r in o.query(soql)["records"]]


SF = "GEOLOCATION(37.775, -122.418)"


def test_location_compound_field_shape_and_describe(geo: Org) -> None:
    rec = geo.query("SELECT Location__c, Location__Latitude__s FROM Warehouse__c "
                    "ORDER BY Location__Latitude__s DESC NULLS LAST")["records"]
    assert rec[0]["Location__c"] == {"latitude": 37.8044, "longitude": -122.2712}
    assert rec[0]["Location__Latitude__s"] == 37.8044
    assert rec[-1]["Location__c"] is None
    f = {d["name"]: d for d in geo.schema.get("Warehouse__c").describe("/x")["fields"]}
    assert f["Location__c"]["type"] == "location"
    assert f["Location__c"]["queryByDistance"] is True
    assert f["Location__c"]["createable"] is False


def test_location_compound_field_cannot_be_written(geo: Org) -> None:
    res = geo.insert("Warehouse__c", [{"Location__c": {"latitude": 1, "longitude": 2}}])[0]
    assert res["success"] is False


@pytest.mark.parametrize(("where", "expected"), [
    (f"DISTANCE(Location__c, {SF}, 'mi') < 20", ["Ferry Building", "Oakland"]),
    (f"DISTANCE(Location__c, {SF}, 'mi') < 5", ["Ferry Building"]),
    (f"DISTANCE(Location__c, {SF}, 'km') < 20", ["Ferry Building", "Oakland"]),
    (f"DISTANCE(Location__c, {SF}, 'km') < 10", ["Ferry Building"]),
    (f"DISTANCE(Location__c, {SF}, 'mi') > 20", ["San Jose", "Honolulu"]),
    (f"DISTANCE(location__c, {SF}, 'mi') > 1000", ["Honolulu"]),
])
def test_distance_in_where(geo: Org, where: str, expected: list[str]) -> None:
    got = _names(geo, f"SELECT Id FROM Warehouse__c WHERE {where}")
    assert sorted(got, key=str) == sorted(expected)


def test_distance_uses_haversine_in_the_unit_asked(geo: Org) -> None:
    """The boundary of ``< d`` sits at the haversine distance, in km and in miles."""
    lat, lon = WAREHOUSES["San Jose"]
    km = _haversine(37.775, -122.418, lat, lon, EARTH_RADIUS_KM)
    for unit, d in (("km", km), ("mi", km / 1.609344)):
        base = f"SELECT Id FROM Warehouse__c WHERE DISTANCE(Location__c, {SF}, '{unit}')"
        assert "San Jose" in _names(geo, f"{base} < {d + 1e-6}")
        assert "San Jose" not in _names(geo, f"{base} < {d - 1e-6}")


def test_distance_radius_matches_the_published_measurement() -> None:
    """Salesforce Stack Exchange 32585: Wellington to Salamanca is > 19968.0 km and not
    > 19968.1 km."""
    d = _haversine(-41.31666667, 174.81666667, 40.96666667, -5.5, EARTH_RADIUS_KM)
    assert 19968.0 < d <= 19968.1


def test_distance_between_two_location_fields(geo: Org) -> None:
    # Each Dock is 0.01 degree of latitude north of its Location: ~1.11 km.
    assert len(_names(geo, "SELECT Id FROM Warehouse__c WHERE "
                           "DISTANCE(Location__c, Dock__c, 'km') < 1.2")) == 4
    assert _names(geo, "SELECT Id FROM Warehouse__c WHERE "
                       "DISTANCE(Location__c, Dock__c, 'km') < 1.1") == []


def test_order_by_distance(geo: Org) -> None:
    base = f"SELECT Id FROM Warehouse__c ORDER BY DISTANCE(Location__c, {SF}, 'mi')"
    assert _names(geo, base) == [None, "Ferry Building", "Oakland", "San Jose", "Honolulu"]
    assert _names(geo, base + " DESC NULLS LAST") == \
        ["Honolulu", "San Jose", "Oakland", "Ferry Building", None]
    assert _names(geo, f"SELECT Id FROM Warehouse__c WHERE DISTANCE(Location__c, {SF}, "
                       f"'km') < 100 ORDER BY DISTANCE(Location__c, {SF}, 'km') "
                       "LIMIT 1") == ["Ferry Building"]


@pytest.mark.parametrize(("soql", "code", "needle"), [
    (f"SELECT Id FROM Warehouse__c WHERE DISTANCE(Location__c, {SF}, 'ft') < 1",
     "MALFORMED_QUERY", "'mi' or 'km'"),
    (f"SELECT Id FROM Warehouse__c WHERE DISTANCE({SF}, Location__c, 'mi') < 1",
     "MALFORMED_QUERY", "must precede"),
    ("SELECT Id FROM Warehouse__c WHERE DISTANCE(Location__c, GEOLOCATION(1), 'mi') < 1",
     "MALFORMED_QUERY", "GEOLOCATION()"),
    ("SELECT Id FROM Warehouse__c WHERE DISTANCE(Location__c, GEOLOCATION('a', 2), 'mi') "
     "< 1", "MALFORMED_QUERY", "GEOLOCATION()"),
    (f"SELECT Id FROM Warehouse__c WHERE DISTANCE(Location__c, {SF}) < 1",
     "MALFORMED_QUERY", "DISTANCE()"),
    (f"SELECT Id FROM Warehouse__c WHERE DISTANCE(Location__Latitude__s, {SF}, 'mi') < 1",
     "INVALID_FIELD", "geolocation field"),
    (f"SELECT Id FROM Warehouse__c WHERE DISTANCE(Location__c, {SF}, 'mi') < 'x'",
     "INVALID_FIELD", "DISTANCE("),
    # DISTANCE() in a plain SELECT: tests/test_soql_distance_select_t3.py; not in an
    # aggregate query.
    (f"SELECT COUNT(Id), DISTANCE(Location__c, {SF}, 'mi') FROM Warehouse__c",
     "MALFORMED_QUERY", "DISTANCE()"),
    (f"SELECT COUNT(Id) FROM Warehouse__c GROUP BY CreatedById ORDER BY "
     f"DISTANCE(Location__c, {SF}, 'mi')", "MALFORMED_QUERY", "DISTANCE()"),
    ("SELECT Id FROM Warehouse__c WHERE GEOLOCATION(1, 2) > 1", "MALFORMED_QUERY",
     "GEOLOCATION()"),
])
def test_distance_rules(geo: Org, soql: str, code: str, needle: str) -> None:
    e = _err(geo, soql)
    assert e.error_code == code
    assert needle in str(e)
