"""Example queries of the *SOQL and SOSL Reference* for the constructs issue 19 added,
each run as written (one test per construct), plus what the simulator still refuses by
name rather than answering partly.

Pages: "Using Relationship Queries" (https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-relationships-query-using.html),
"Understanding Query Results", "Date Functions", "convertTimezone()", "GROUP BY ROLLUP",
"GROUPING(fieldName)" (all under https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/).
"""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.errors import SalesforceError

EXAMPLES = {
    # Using Relationship Queries: parent-to-child and child-to-parent.
    "parent-to-child": "SELECT Name, (SELECT LastName FROM Contacts) FROM Account",
    "child-to-parent": ("SELECT Id, Name, Account.Name FROM Contact "
                        "WHERE Account.Industry = 'media'"),
    # Understanding Query Results.
    "parent-to-child with WHERE": ("SELECT Id, Name, (SELECT Id, FirstName, LastName FROM "
                                   "Contacts) FROM Account WHERE Name like 'Acme%'"),
    # Date Functions.
    "date function in GROUP BY": ("SELECT CALENDAR_YEAR(CreatedDate), SUM(Amount) FROM "
                                  "Opportunity GROUP BY CALENDAR_YEAR(CreatedDate)"),
    "date function in WHERE": ("SELECT CreatedDate, Amount FROM Opportunity WHERE "
                               "CALENDAR_YEAR(CreatedDate) = 2009"),
    # convertTimezone().
    "convertTimezone": ("SELECT HOUR_IN_DAY(convertTimezone(CreatedDate)), SUM(Amount) FROM "
                        "Opportunity GROUP BY HOUR_IN_DAY(convertTimezone(CreatedDate))"),
    # GROUP BY ROLLUP and GROUPING(fieldName).
    "rollup": "SELECT LeadSource, COUNT(Name) cnt FROM Lead GROUP BY ROLLUP(LeadSource)",
    "grouping": ("SELECT LeadSource, Rating, GROUPING(LeadSource) grpLS, GROUPING(Rating) "
                 "grpRating, COUNT(Name) cnt FROM Lead GROUP BY ROLLUP(LeadSource, Rating)"),
    "cube": ("SELECT LeadSource, Rating, GROUPING(LeadSource) grpLS, GROUPING(Rating) "
             "grpRating, COUNT(Name) cnt FROM Lead GROUP BY CUBE(LeadSource, Rating)"),
}


@pytest.fixture(scope="module")
def org() -> Any:
    o = Org()
    [a] = o.insert("Account", [{"Name": "Acme", "Industry": "Technology"}])
    o.insert("Contact", [{"LastName": "Doe", "AccountId": a["id"]}])
    o.insert("Opportunity", [{"Name": "o", "StageName": "Prospecting",
                              "CloseDate": "2026-01-01", "Amount": 3}])
    o.insert("Lead", [{"LastName": "L", "Company": "C", "LeadSource": "Web"}])
    yield o
    o.close()


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_reference_example_runs(org: Org, name: str) -> None:
    body = org.query(EXAMPLES[name])
    assert body["done"] is True and body["totalSize"] == len(body["records"])


@pytest.mark.parametrize(("soql", "construct"), [
    # TYPEOF and DISTANCE are modelled now (tests/test_soql_typeof_distance.py); what
    # is left unsupported of them is named.
    ("SELECT TYPEOF Owner WHEN User THEN Name END FROM Account", "TYPEOF"),
    ("SELECT Name FROM Account WHERE GEOLOCATION(37.7, -122.4) > 1",
     "GEOLOCATION()"),
    # DISTANCE() in a plain SELECT works now (tests/test_soql_distance_select_t3.py).
    ("SELECT COUNT(Id), DISTANCE(Loc__c, GEOLOCATION(1, 2), 'km') FROM Account",
     "DISTANCE()"),
])
def test_still_unsupported_constructs_are_named_errors(org: Org, soql: str,
                                                       construct: str) -> None:
    """Never a silent partial answer: MALFORMED_QUERY pointing at the construct."""
    with pytest.raises(SalesforceError) as e:
        org.query(soql)
    assert e.value.error_code == "MALFORMED_QUERY"
    assert construct in str(e.value)
