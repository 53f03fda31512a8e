"""Multi-select picklists (INCLUDES/EXCLUDES), toLabel(), FORMAT(), convertCurrency() and
currency literals (issue 19, item 3 of "SOQL the way people write it").

Sources: *SOQL and SOSL Reference*, "Query Multi-Select Picklists", "toLabel()",
"FORMAT()", "convertCurrency()" (links in the code and in docs/fidelity.md)."""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.errors import (
    InvalidField,
    InvalidOrNullForRestrictedPicklist,
    InvalidQueryFilterOperator,
    MalformedQuery,
)

# The reference's example values and which of them match `includes ('AAA;BBB','CCC')`.
MSP = {"a": "AAA;BBB", "b": "AAA;BBB;DDD", "c": "CCC", "d": "CCC;EEE", "e": "AAA;CCC",
       "f": "AAA", "g": None, "h": "BBB;DDD"}


@pytest.fixture()
def org() -> Any:
    o = Org()
    o.add_field("Account", "MSP1__c", "multipicklist",
                picklist_values=("AAA", "BBB", "CCC", "DDD", "EEE"))
    o.insert("Account", [{"Name": n, "MSP1__c": v, "Industry": "Banking",
                          "AnnualRevenue": 1000 * (i + 1)}
                         for i, (n, v) in enumerate(MSP.items())])
    o.insert("Opportunity", [{"Name": "o1", "StageName": "Prospecting",
                              "CloseDate": "2015-12-28", "Amount": 44000,
                              "Probability": 10}])
    yield o
    o.close()


def _names(org: Org, soql: str, **binds: Any) -> list[str]:
    return sorted(r["Name"] for r in org.query(soql, **binds)["records"])


def _rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "attributes"} for r in body["records"]]


# --- multi-select picklists ---------------------------------------------------------------


def test_describe_multipicklist(org: Org) -> None:
    f = next(f for f in org.schema.get("Account").describe("/x")["fields"]
             if f["name"] == "MSP1__c")
    assert f["type"] == "multipicklist"
    assert f["soapType"] == "xsd:string"
    assert [v["value"] for v in f["picklistValues"]] == ["AAA", "BBB", "CCC", "DDD", "EEE"]


def test_includes_reference_example(org: Org) -> None:
    # "the query filters on values in the MSP1__c field that contains either of these
    # values: AAA and BBB selected; CCC selected" (matches AAA;BBB, AAA;BBB;DDD, CCC,
    # CCC;EEE, AAA;CCC).
    got = _names(org, "SELECT Name FROM Account WHERE MSP1__c includes ('AAA;BBB','CCC')")
    assert got == ["a", "b", "c", "d", "e"]


def test_excludes_is_the_complement_with_nulls(org: Org) -> None:
    got = _names(org, "SELECT Name FROM Account WHERE MSP1__c EXCLUDES ('AAA;BBB','CCC')")
    assert got == ["f", "g", "h"]


def test_equals_is_an_exact_match(org: Org) -> None:
    assert _names(org, "SELECT Name FROM Account WHERE MSP1__c = 'AAA;BBB'") == ["a"]


def test_includes_matches_whole_values_case_insensitively(org: Org) -> None:
    # 'AA' is not 'AAA'; order inside one value does not matter; a bind works.
    assert _names(org, "SELECT Name FROM Account WHERE MSP1__c INCLUDES ('AA')") == []
    assert _names(org, "SELECT Name FROM Account WHERE MSP1__c INCLUDES (:v)",
                  v="bbb;aaa") == ["a", "b"]


def test_includes_on_another_type_is_refused(org: Org) -> None:
    with pytest.raises(InvalidQueryFilterOperator, match="multi-select picklist"):
        org.query("SELECT Name FROM Account WHERE Name INCLUDES ('a')")


def test_restricted_multipicklist_checks_each_value(org: Org) -> None:
    org.add_field("Account", "R__c", "multipicklist", picklist_values=("x", "y"),
                  restricted_picklist=True)
    [ok] = org.insert("Account", [{"Name": "ok", "R__c": "x;y"}])
    assert ok["success"]
    [bad] = org.insert("Account", [{"Name": "bad", "R__c": "x;z"}])
    assert not bad["success"]
    assert bad["errors"][0]["statusCode"] == InvalidOrNullForRestrictedPicklist.error_code


# --- currency literals --------------------------------------------------------------------


def test_usd_literal_compares_as_a_number(org: Org) -> None:
    assert _names(org, "SELECT Name FROM Account WHERE AnnualRevenue > USD6000") == \
        ["g", "h"]
    assert _names(org, "SELECT Name FROM Account WHERE AnnualRevenue IN (USD1000, "
                  "USD2000.0)") == ["a", "b"]


def test_other_iso_code_is_not_active(org: Org) -> None:
    with pytest.raises(InvalidField, match="only active currency is USD"):
        org.query("SELECT Name FROM Account WHERE AnnualRevenue > EUR5000")


def test_currency_literal_rules(org: Org) -> None:
    with pytest.raises(MalformedQuery, match="cannot mix"):
        org.query("SELECT Name FROM Account WHERE AnnualRevenue IN (USD1000, 2000)")
    with pytest.raises(MalformedQuery, match="aggregate"):
        org.query("SELECT Industry FROM Account GROUP BY Industry "
                  "HAVING MAX(AnnualRevenue) > USD5")
    with pytest.raises(InvalidField, match="currency field"):
        org.query("SELECT Name FROM Account WHERE Name = USD5")


# --- toLabel(), FORMAT(), convertCurrency() -------------------------------------------------


def test_tolabel_returns_the_value_and_filters(org: Org) -> None:
    body = org.query("SELECT Name, Industry, toLabel(Industry) ind FROM Account "
                     "WHERE toLabel(Industry) = 'Banking' AND Name = 'a'")
    assert _rows(body) == [{"Name": "a", "Industry": "Banking", "ind": "Banking"}]
    body = org.query("SELECT toLabel(MSP1__c) FROM Account WHERE Name = 'b'")
    assert _rows(body) == [{"MSP1__c": "AAA;BBB;DDD"}]


def test_tolabel_rules(org: Org) -> None:
    with pytest.raises(MalformedQuery, match="picklist"):
        org.query("SELECT toLabel(Name) FROM Account")
    with pytest.raises(MalformedQuery, match="SELECT only"):
        org.query("SELECT Name FROM Account ORDER BY toLabel(Industry)")
    # "aliasing is required when the query includes the same field multiple times"
    with pytest.raises(MalformedQuery, match="duplicate field"):
        org.query("SELECT Industry, toLabel(Industry) FROM Account")


def test_format_en_us(org: Org) -> None:
    body = org.query("SELECT FORMAT(Amount), FORMAT(CloseDate) d, FORMAT(Probability) p "
                     "FROM Opportunity")
    assert _rows(body) == [{"Amount": "$44,000.00", "d": "12/28/2015", "p": "10%"}]
    body = org.query("SELECT FORMAT(CreatedDate) c FROM Opportunity")
    c = _rows(body)[0]["c"]
    assert c.endswith(("AM", "PM")) and ", " in c


def test_format_datetime_and_aggregates(org: Org) -> None:
    org.add_field("Opportunity", "Seen__c", "datetime")
    org.insert("Opportunity", [{"Name": "o2", "StageName": "Prospecting",
                                "CloseDate": "2015-12-28", "Amount": 1000.5,
                                "Seen__c": "2025-04-10T15:31:37Z"}])
    body = org.query("SELECT FORMAT(Seen__c) s FROM Opportunity WHERE Name = 'o2'")
    assert _rows(body) == [{"s": "4/10/2025, 3:31 PM"}]
    body = org.query("SELECT FORMAT(SUM(Amount)) s, FORMAT(MIN(CloseDate)) d, "
                     "FORMAT(COUNT(Id)) n FROM Opportunity")
    assert _rows(body) == [{"s": "$45,000.50", "d": "12/28/2015", "n": "2"}]


def test_format_rules(org: Org) -> None:
    with pytest.raises(MalformedQuery, match="number, date, time and currency"):
        org.query("SELECT FORMAT(Name) FROM Account")
    with pytest.raises(MalformedQuery, match="SELECT only"):
        org.query("SELECT Name FROM Account WHERE FORMAT(Name) = 'a'")


def test_convert_currency_needs_multicurrency(org: Org) -> None:
    for soql in ("SELECT convertCurrency(Amount) FROM Opportunity",
                 "SELECT FORMAT(convertCurrency(Amount)) c FROM Opportunity"):
        with pytest.raises(MalformedQuery, match="multiple currencies"):
            org.query(soql)
    with pytest.raises(MalformedQuery, match="SELECT only"):
        org.query("SELECT Name FROM Opportunity WHERE convertCurrency(Amount) > 5")
