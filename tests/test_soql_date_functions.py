"""Date functions, convertTimezone(), GROUP BY ROLLUP/CUBE and GROUPING() (issue 19,
items 2 and 3). Sources: *SOQL and SOSL Reference*, "Date Functions", "convertTimezone()",
"GROUP BY ROLLUP", "GROUP BY CUBE", "GROUPING(fieldName)", "Identify Subtotals with
GROUP BY"."""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.errors import MalformedQuery


@pytest.fixture()
def org() -> Any:
    o = Org()
    o.add_field("Opportunity", "Seen__c", "datetime")
    o.insert("Opportunity", [
        # Thursday 1 Feb 2024, 06:30 UTC
        {"Name": "a", "StageName": "Prospecting", "CloseDate": "2024-02-01", "Amount": 10,
         "Seen__c": "2024-02-01T06:30:00Z"},
        # Wednesday 10 Apr 2024, 18:03 UTC
        {"Name": "b", "StageName": "Prospecting", "CloseDate": "2024-04-10", "Amount": 5,
         "Seen__c": "2024-04-10T18:03:00Z"},
        # Sunday 31 Dec 2023 (a leap year follows)
        {"Name": "c", "StageName": "Closed Won", "CloseDate": "2023-12-31", "Amount": 1},
    ])
    yield o
    o.close()


def _rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "attributes"} for r in body["records"]]


@pytest.mark.parametrize(("fn", "want"), [
    # The reference's own examples: "1 for January, 12 for December"; "20 for February
    # 20"; "1 for Sunday, 7 for Saturday"; "32 for February 1".
    ("CALENDAR_MONTH", {"a": 2, "b": 4, "c": 12}),
    ("CALENDAR_QUARTER", {"a": 1, "b": 2, "c": 4}),
    ("CALENDAR_YEAR", {"a": 2024, "b": 2024, "c": 2023}),
    ("DAY_IN_MONTH", {"a": 1, "b": 10, "c": 31}),
    ("DAY_IN_WEEK", {"a": 5, "b": 4, "c": 1}),
    ("DAY_IN_YEAR", {"a": 32, "b": 101, "c": 365}),
    ("WEEK_IN_MONTH", {"a": 1, "b": 2, "c": 5}),
    ("WEEK_IN_YEAR", {"a": 5, "b": 15, "c": 53}),
    # The default fiscal year starts in January: fiscal equals calendar.
    ("FISCAL_MONTH", {"a": 2, "b": 4, "c": 12}),
    ("FISCAL_QUARTER", {"a": 1, "b": 2, "c": 4}),
    ("FISCAL_YEAR", {"a": 2024, "b": 2024, "c": 2023}),
])
def test_date_function_values(org: Org, fn: str, want: dict[str, int]) -> None:
    got = {}
    for name, v in want.items():
        body = org.query(f"SELECT {fn}(CloseDate) v, COUNT(Id) FROM Opportunity "
                         f"WHERE Name = '{name}' GROUP BY {fn}(CloseDate)")
        [row] = _rows(body)
        got[name] = row["v"]
        # The same function filters in WHERE.
        hit = org.query(f"SELECT Name FROM Opportunity WHERE {fn}(CloseDate) = {v}")
        assert name in {r["Name"] for r in hit["records"]}
    assert got == want


def test_datetime_functions_and_convert_timezone(org: Org) -> None:
    body = org.query("SELECT DAY_ONLY(Seen__c) d, HOUR_IN_DAY(convertTimezone(Seen__c)) h, "
                     "COUNT(Id) n FROM Opportunity WHERE Seen__c != null "
                     "GROUP BY DAY_ONLY(Seen__c), HOUR_IN_DAY(convertTimezone(Seen__c)) "
                     "ORDER BY DAY_ONLY(Seen__c)")
    assert _rows(body) == [{"d": "2024-02-01", "h": 6, "n": 1},
                           {"d": "2024-04-10", "h": 18, "n": 1}]
    # DAY_ONLY returns a date: it compares with date literals and relative ones.
    hit = org.query("SELECT Name FROM Opportunity WHERE DAY_ONLY(Seen__c) = 2024-04-10")
    assert [r["Name"] for r in hit["records"]] == ["b"]
    today = org.query("SELECT COUNT() FROM Opportunity WHERE DAY_ONLY(CreatedDate) = TODAY")
    assert today["totalSize"] == 3


def test_reference_example_sum_per_calendar_year(org: Org) -> None:
    body = org.query("SELECT CALENDAR_YEAR(CloseDate), SUM(Amount) FROM Opportunity "
                     "GROUP BY CALENDAR_YEAR(CloseDate) ORDER BY CALENDAR_YEAR(CloseDate)")
    assert _rows(body) == [{"expr0": 2023, "expr1": 1.0}, {"expr0": 2024, "expr1": 15.0}]
    having = org.query("SELECT CALENDAR_YEAR(CloseDate) y FROM Opportunity "
                       "GROUP BY CALENDAR_YEAR(CloseDate) HAVING CALENDAR_YEAR(CloseDate) "
                       "> 2023")
    assert _rows(having) == [{"y": 2024}]


@pytest.mark.parametrize(("soql", "detail"), [
    ("SELECT CALENDAR_YEAR(CloseDate) FROM Opportunity", "aggregate query only"),
    ("SELECT CALENDAR_YEAR(CloseDate), COUNT(Id) FROM Opportunity GROUP BY StageName",
     "must be grouped or aggregated: CALENDAR_YEAR(CloseDate)"),
    ("SELECT COUNT(Id) FROM Opportunity GROUP BY CALENDAR_YEAR(Name)",
     "needs a date or dateTime field"),
    ("SELECT COUNT(Id) FROM Opportunity GROUP BY DAY_ONLY(CloseDate)", "needs a dateTime"),
    ("SELECT COUNT(Id) FROM Opportunity GROUP BY HOUR_IN_DAY(convertTimezone(CloseDate))",
     "needs a dateTime"),
    ("SELECT convertTimezone(CreatedDate) FROM Opportunity", "unexpected token"),
    ("SELECT Name FROM Opportunity WHERE CALENDAR_YEAR(convertTimezone(CUSTOM(x))) = 1",
     "only convertTimezone(field)"),
    ("SELECT Name FROM Opportunity ORDER BY CALENDAR_YEAR(CloseDate)",
     "need an aggregate query"),
    ("SELECT Name FROM Opportunity WHERE CALENDAR_YEAR(CloseDate) = '2024'",
     "must be of type int"),
])
def test_refused_date_function_uses(org: Org, soql: str, detail: str) -> None:
    with pytest.raises(Exception) as e:
        org.query(soql)
    assert detail in str(e.value)
    assert getattr(e.value, "error_code", None) in ("MALFORMED_QUERY", "INVALID_FIELD")


# --- ROLLUP / CUBE / GROUPING ----------------------------------------------------------------


@pytest.fixture()
def leads() -> Any:
    """The reference's "Identify Subtotals with GROUP BY" table: 5 Web leads with no
    Rating, 1 Web/Hot, 1 Web/Warm; 4 Phone Inquiry; 4 Partner Referral; 7 Purchased List."""
    o = Org()
    rows = ([("Web", None)] * 5 + [("Web", "Hot"), ("Web", "Warm")]
            + [("Phone Inquiry", None)] * 4 + [("Partner Referral", "Cold")] * 4
            + [("Purchased List", None)] * 7)
    o.insert("Lead", [{"LastName": f"l{i}", "Company": "C", "LeadSource": s, "Rating": r}
                      for i, (s, r) in enumerate(rows)])
    yield o
    o.close()


def test_rollup_one_field_adds_a_grand_total(leads: Org) -> None:
    body = leads.query("SELECT LeadSource, COUNT(Name) cnt FROM Lead "
                       "GROUP BY ROLLUP(LeadSource)")
    rows = _rows(body)
    assert rows[-1] == {"LeadSource": None, "cnt": 22}
    assert {r["LeadSource"]: r["cnt"] for r in rows[:-1]} == {
        "Web": 7, "Phone Inquiry": 4, "Partner Referral": 4, "Purchased List": 7}


def test_rollup_two_fields_with_grouping(leads: Org) -> None:
    body = leads.query("SELECT LeadSource, Rating, GROUPING(LeadSource) grpLS, "
                       "GROUPING(Rating) grpRating, COUNT(Name) cnt FROM Lead "
                       "GROUP BY ROLLUP(LeadSource, Rating)")
    rows = _rows(body)
    web = [r for r in rows if r["LeadSource"] == "Web"]
    # The reference's rows for Web, in its order: details, then the subtotal.
    assert web == [
        {"LeadSource": "Web", "Rating": None, "grpLS": 0, "grpRating": 0, "cnt": 5},
        {"LeadSource": "Web", "Rating": "Hot", "grpLS": 0, "grpRating": 0, "cnt": 1},
        {"LeadSource": "Web", "Rating": "Warm", "grpLS": 0, "grpRating": 0, "cnt": 1},
        {"LeadSource": "Web", "Rating": None, "grpLS": 0, "grpRating": 1, "cnt": 7},
    ]
    assert rows[-1] == {"LeadSource": None, "Rating": None, "grpLS": 1, "grpRating": 1,
                        "cnt": 22}
    assert len(rows) == 4 + 2 + 2 + 2 + 1


def test_cube_has_every_combination_and_order_by_having_apply(leads: Org) -> None:
    body = leads.query("SELECT LeadSource, Rating, GROUPING(LeadSource) gs, "
                       "GROUPING(Rating) gr, COUNT(Name) cnt FROM Lead "
                       "GROUP BY CUBE(LeadSource, Rating) HAVING COUNT(Name) >= 5 "
                       "ORDER BY GROUPING(LeadSource) DESC, COUNT(Name) DESC")
    rows = _rows(body)
    assert rows[0] == {"LeadSource": None, "Rating": None, "gs": 1, "gr": 1, "cnt": 22}
    # CUBE adds subtotals per Rating alone (gs = 1, gr = 0), which ROLLUP does not.
    assert {"LeadSource": None, "Rating": None, "gs": 1, "gr": 0, "cnt": 16} in rows
    assert all(r["cnt"] >= 5 for r in rows)
    assert [r["gs"] for r in rows] == sorted((r["gs"] for r in rows), reverse=True)


@pytest.mark.parametrize(("soql", "detail"), [
    ("SELECT LeadSource, COUNT(Id) FROM Lead GROUP BY ROLLUP(LeadSource), Rating",
     "unexpected token"),
    ("SELECT COUNT(Id) FROM Lead GROUP BY ROLLUP(LeadSource, Rating, Status, Industry)",
     "at most 3 fields"),
    ("SELECT LeadSource, GROUPING(LeadSource) FROM Lead GROUP BY LeadSource",
     "needs GROUP BY ROLLUP or GROUP BY CUBE"),
    ("SELECT GROUPING(Rating), COUNT(Id) FROM Lead GROUP BY ROLLUP(LeadSource)",
     "must name a field of the GROUP BY ROLLUP"),
    ("SELECT COUNT() FROM Lead GROUP BY ROLLUP(LeadSource)", "not supported by sforg_sim"),
    ("SELECT COUNT(Id) FROM Lead GROUP BY ROLLUP()", "unexpected token"),
])
def test_refused_rollups(leads: Org, soql: str, detail: str) -> None:
    with pytest.raises(MalformedQuery) as e:
        leads.query(soql)
    assert detail in str(e.value)


@pytest.mark.parametrize(("day", "week_in_month", "week_in_year"), [
    ("2025-01-07", 1, 1), ("2025-01-08", 2, 2), ("2025-02-07", 1, 6),
    ("2025-02-08", 2, 6), ("2024-12-31", 5, 53), ("2025-03-01", 1, 9),
])
def test_weeks_count_from_the_first_day(day: str, week_in_month: int,
                                        week_in_year: int) -> None:
    """Days 1-7 of the month (year) are week 1, 8-14 week 2, ..."""
    o = Org()
    o.insert("Opportunity", [{"Name": "w", "StageName": "Prospecting", "CloseDate": day}])
    [row] = _rows(o.query("SELECT WEEK_IN_MONTH(CloseDate) m, WEEK_IN_YEAR(CloseDate) y "
                          "FROM Opportunity GROUP BY WEEK_IN_MONTH(CloseDate), "
                          "WEEK_IN_YEAR(CloseDate)"))
    assert row == {"m": week_in_month, "y": week_in_year}
    o.close()


def test_grouping_in_having_and_order_by_selects_subtotals(leads: Org) -> None:
    body = leads.query("SELECT LeadSource, COUNT(Name) cnt FROM Lead "
                       "GROUP BY ROLLUP(LeadSource, Rating) HAVING GROUPING(Rating) = 1 "
                       "ORDER BY GROUPING(LeadSource), LeadSource")
    assert _rows(body) == [
        {"LeadSource": "Partner Referral", "cnt": 4},
        {"LeadSource": "Phone Inquiry", "cnt": 4},
        {"LeadSource": "Purchased List", "cnt": 7},
        {"LeadSource": "Web", "cnt": 7},
        {"LeadSource": None, "cnt": 22},
    ]
