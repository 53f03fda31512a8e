"""The Data Cloud source compares text as Data Cloud SQL's (Hyper's) reference documents:
``=``, ``LIKE`` and ``<``/ORDER BY by code point, ``ILIKE`` ignoring case; the pre-issue-18
case-insensitive model stays as ``case_sensitive=False`` (datacloud.py, fidelity DC7)."""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim.datacloud import DataCloudSource
from sforg_sim.nightly import SOURCE_OBJECT, source_object_fields
from sforg_sim.org import Org

KEYS = ["externalOpp01", "ExternalOPP02", "externalOpp_3", "ext%x", "ext_y"]


@pytest.fixture(scope="module")
def org() -> Org:
    o = Org()
    o.add_object(SOURCE_OBJECT, source_object_fields())
    o.insert(SOURCE_OBJECT, [{"External_ID__c": k, "StageName__c": "Qualification"}
                             for k in KEYS])
    return o


def _keys(org: Org, where: str, case_sensitive: bool = True) -> Any:
    # The default is left alone when True: the test checks the default, not the flag.
    opts = {} if case_sensitive else {"case_sensitive": False}
    src = DataCloudSource(org, charge_api=False, **opts)
    res = src.handle("POST", "/api/v1/query", {"sql": (
        f"SELECT External_ID__c FROM {SOURCE_OBJECT} {where} ORDER BY External_ID__c")})
    if res.status_code != 200:
        return res.status_code, res.body[0]["message"]
    return [r["External_ID__c"] for r in res.body["data"]]


def test_order_and_ranges_are_by_code_point_by_default(org: Org) -> None:
    assert _keys(org, "") == sorted(KEYS)  # Python's order is code point too
    assert _keys(org, "WHERE External_ID__c > 'externalOpp01'") == ["externalOpp_3"]
    # The what if: upper-case order, as SOQL ('_' after letters).
    assert _keys(org, "", case_sensitive=False) == sorted(KEYS, key=str.upper)


def test_equality_is_case_sensitive_by_default(org: Org) -> None:
    assert _keys(org, "WHERE External_ID__c = 'EXTERNALOPP01'") == []
    assert _keys(org, "WHERE External_ID__c IN ('externalopp02', 'ExternalOPP02')") == [
        "ExternalOPP02"]
    assert _keys(org, "WHERE External_ID__c = 'EXTERNALOPP01'", False) == ["externalOpp01"]


def test_like_is_case_sensitive_and_ilike_is_not(org: Org) -> None:
    assert _keys(org, "WHERE External_ID__c LIKE 'external%'") == [
        "externalOpp01", "externalOpp_3"]
    assert _keys(org, "WHERE External_ID__c ILIKE 'external%'") == [
        "ExternalOPP02", "externalOpp01", "externalOpp_3"]
    assert _keys(org, "WHERE External_ID__c LIKE 'external%'", False) == [
        "externalOpp01", "ExternalOPP02", "externalOpp_3"]


def test_like_wildcards_and_escapes(org: Org) -> None:
    assert _keys(org, "WHERE External_ID__c LIKE 'ext_y'") == ["ext_y"]
    assert _keys(org, r"WHERE External_ID__c LIKE 'ext\%%'") == ["ext%x"]
    assert _keys(org, r"WHERE External_ID__c LIKE 'ext\_%'") == ["ext_y"]
    assert _keys(org, r"WHERE External_ID__c ILIKE 'EXT\_%'") == ["ext_y"]


@pytest.mark.parametrize("where, message", [
    (r"WHERE External_ID__c LIKE 'ab\'", "must not end with escape character"),
    ("WHERE External_ID__c LIKE 3", "needs a string pattern"),
])
def test_bad_patterns_are_http_400(org: Org, where: str, message: str) -> None:
    status, got = _keys(org, where)
    assert status == 400 and message in got
