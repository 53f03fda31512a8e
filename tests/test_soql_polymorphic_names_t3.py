"""Dot notation through polymorphic relationships without TYPEOF (issue 19, T3 item b).

Sources: *SOQL and SOSL Reference*, "Understanding Relationship Fields and Polymorphic
Fields"; *Object Reference*, "Name" (the fields a polymorphic foreign key reaches: Id,
Name, Type, FirstName, LastName, Alias, Email, Phone, Title, IsActive ...); *Apex
Developer Guide*, "Working with Polymorphic Relationships in SOQL Queries" (the example
``SELECT Description FROM Event WHERE What.Type IN ('Account', 'Opportunity')``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sforg_sim import Org
from sforg_sim.errors import InvalidField, MalformedQuery


@pytest.fixture()
def org() -> Iterator[Org]:
    o = Org()
    acc = o.insert("Account", [{"Name": "Acme"}])[0]["id"]
    opp = o.insert("Opportunity", [{"Name": "Big", "StageName": "Prospecting",
                                    "CloseDate": "2026-02-01", "AccountId": acc}])[0]["id"]
    con = o.insert("Contact", [{"FirstName": "Jane", "LastName": "Doe",
                                "Email": "jane@x.example"}])[0]["id"]
    lead = o.insert("Lead", [{"LastName": "Lee", "Company": "LeeCo"}])[0]["id"]
    o.insert("Event", [{"Subject": "1 acc", "Description": "a", "WhatId": acc,
                        "WhoId": lead},
                       {"Subject": "2 opp", "Description": "b", "WhatId": opp, "WhoId": con},
                       {"Subject": "3 none", "Description": "c"}])
    yield o
    o.close()


def test_select_name_fields_through_what_and_who(org: Org) -> None:
    recs = org.query("SELECT Subject, What.Type, What.Name, Who.Name, Who.Email FROM Event "
                     "ORDER BY Subject")["records"]
    acc, opp, none = recs
    assert acc["What"]["Type"] == "Account" and acc["What"]["Name"] == "Acme"
    assert opp["What"]["Type"] == "Opportunity" and opp["What"]["Name"] == "Big"
    # The relationship object is the Name object; its URL names the record's own object.
    assert acc["What"]["attributes"]["type"] == "Name"
    assert "/sobjects/Account/001" in acc["What"]["attributes"]["url"]
    assert "/sobjects/Opportunity/006" in opp["What"]["attributes"]["url"]
    assert "/sobjects/Lead/00Q" in acc["Who"]["attributes"]["url"]
    # Contact Name is FirstName LastName; a Lead without FirstName is its LastName.
    assert opp["Who"]["Name"] == "Jane Doe" and acc["Who"]["Name"] == "Lee"
    # A Name field the referenced object lacks is null (Lead has Email, but not set).
    assert opp["Who"]["Email"] == "jane@x.example" and acc["Who"]["Email"] is None
    assert none["What"] is None and none["Who"] is None


def test_where_on_what_type_as_the_apex_guide_example(org: Org) -> None:
    """Apex Developer Guide: ``SELECT Description FROM Event WHERE What.Type IN
    ('Account', 'Opportunity')``."""
    recs = org.query("SELECT Description FROM Event WHERE What.Type IN ('Account', "
                     "'Opportunity')")["records"]
    assert sorted(r["Description"] for r in recs) == ["a", "b"]
    only = org.query("SELECT Subject FROM Event WHERE What.Type = 'opportunity'")["records"]
    assert [r["Subject"] for r in only] == ["2 opp"]
    named = org.query("SELECT Subject FROM Event WHERE Who.Name LIKE 'jane%'")["records"]
    assert [r["Subject"] for r in named] == ["2 opp"]


def test_order_and_group_by_a_name_field(org: Org) -> None:
    recs = org.query("SELECT Subject FROM Event WHERE What.Id != null "
                     "ORDER BY What.Name DESC")["records"]
    assert [r["Subject"] for r in recs] == ["2 opp", "1 acc"]
    groups = org.query("SELECT What.Type t, COUNT(Id) n FROM Event GROUP BY What.Type "
                       "ORDER BY What.Type")["records"]
    assert [(g["t"], g["n"]) for g in groups] == [(None, 1), ("Account", 1),
                                                  ("Opportunity", 1)]


@pytest.mark.parametrize(("soql", "error", "needle"), [
    # Amount is an Opportunity field, not a Name field: TYPEOF is the way to read it.
    ("SELECT What.Amount FROM Event", InvalidField,
     "No such column 'Amount' on entity 'Name'"),
    ("SELECT Id FROM Event WHERE Who.LeadSource = 'Web'", InvalidField,
     "No such column 'LeadSource' on entity 'Name'"),
    # Past the Name object (its Profile/UserRole relationships are not modelled).
    ("SELECT What.Owner.Name FROM Event", MalformedQuery,
     "polymorphic relationship What"),
])
def test_fields_the_name_object_lacks_are_refused(org: Org, soql: str, error: type,
                                                  needle: str) -> None:
    with pytest.raises(error) as e:
        org.query(soql)
    assert needle in str(e.value)
