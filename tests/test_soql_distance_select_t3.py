"""DISTANCE() in SELECT (issue 19, T3 item c).

*SOQL and SOSL Reference*, "Location-Based SOQL Queries" (DISTANCE(location, GEOLOCATION(
lat, lon), 'mi'|'km'); the haversine distance); the result key of an un-aliased function
is ``exprN`` ("Using Aliases with GROUP BY"). Public SOQL parsers list
``SELECT name, DISTANCE(mailing__c, GEOLOCATION(1,1), 'mi') FROM account ...`` among valid
queries; the key and version of DISTANCE() in SELECT are unconfirmed (fidelity S34).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from sforg_sim import Org
from sforg_sim.errors import SalesforceError
from sforg_sim.schema import EARTH_RADIUS_KM, location_fields

SF = (37.775, -122.418)


def _haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * \
        math.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


@pytest.fixture()
def geo() -> Iterator[Org]:
    o = Org()
    o.add_object("Warehouse__c", [*location_fields("Location")])
    o.insert("Warehouse__c", [
        {"Location__Latitude__s": 37.79302, "Location__Longitude__s": -122.394507},
        {"Location__Latitude__s": 34.0522, "Location__Longitude__s": -118.2437},
        {}])
    yield o
    o.close()


def test_distance_in_select_is_expr0_in_miles_and_km(geo: Org) -> None:
    recs = geo.query(f"SELECT Id, DISTANCE(Location__c, GEOLOCATION({SF[0]}, {SF[1]}), "
                     "'mi'), DISTANCE(Location__c, GEOLOCATION(34.0522, -118.2437), 'km') "
                     "FROM Warehouse__c ORDER BY DISTANCE(Location__c, "
                     f"GEOLOCATION({SF[0]}, {SF[1]}), 'mi') NULLS LAST")["records"]
    near, far, none = recs
    assert list(near)[-2:] == ["expr0", "expr1"]
    assert near["expr0"] == pytest.approx(
        _haversine_km(SF, (37.79302, -122.394507)) / 1.609344, rel=1e-9)
    assert far["expr0"] == pytest.approx(_haversine_km(SF, (34.0522, -118.2437)) / 1.609344,
                                         rel=1e-9)
    assert far["expr1"] == pytest.approx(0.0, abs=1e-6)
    # A record without a location has no distance.
    assert none["expr0"] is None and none["expr1"] is None


def test_distance_in_select_takes_an_alias(geo: Org) -> None:
    recs = geo.query(f"SELECT DISTANCE(Location__c, GEOLOCATION({SF[0]}, {SF[1]}), 'km') d "
                     "FROM Warehouse__c WHERE DISTANCE(Location__c, "
                     f"GEOLOCATION({SF[0]}, {SF[1]}), 'km') < 10")["records"]
    [rec] = recs
    assert set(rec) == {"attributes", "d"}
    assert rec["d"] == pytest.approx(_haversine_km(SF, (37.79302, -122.394507)), rel=1e-9)


def test_two_distances_with_one_alias_twice_are_refused(geo: Org) -> None:
    g = f"GEOLOCATION({SF[0]}, {SF[1]})"
    with pytest.raises(SalesforceError) as e:
        geo.query(f"SELECT DISTANCE(Location__c, {g}, 'km') d, "
                  f"DISTANCE(Location__c, {g}, 'mi') d FROM Warehouse__c")
    assert e.value.error_code == "MALFORMED_QUERY" and "duplicate alias" in str(e.value)
