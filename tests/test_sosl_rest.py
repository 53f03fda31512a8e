"""SOSL over REST: ``search`` and ``parameterizedSearch`` (GET, POST) through unmodified
simple-salesforce against ``mock_org``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sforg_sim import Org
from sforg_sim.rest import mock_org


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org()
    o.insert("Account", [{"Name": "Acme Corp"}, {"Name": "Globex"}])
    o.insert("Opportunity", [
        {"Name": "Acme renewal", "StageName": "Prospecting", "CloseDate": "2026-01-01"},
        {"Name": "Acme upsell", "StageName": "Closed Won", "CloseDate": "2026-02-01"},
    ])
    o.insert("Contact", [{"LastName": "Smith", "Email": "joe@acme.com"}])
    yield o
    o.close()


@pytest.fixture
def sf(org: Org) -> Iterator[Salesforce]:
    with mock_org(org) as sim:
        yield Salesforce(instance_url=sim.instance_url, session_id=sim.session_id)


def _errors(e: pytest.ExceptionInfo[SalesforceMalformedRequest]) -> list[dict[str, Any]]:
    """The REST error body a simple-salesforce exception carries."""
    content: Any = e.value.content
    assert isinstance(content, list)
    return content


def _rest(sf: Salesforce, **kwargs: Any) -> dict[str, Any]:
    body = sf.restful("parameterizedSearch", **kwargs)
    assert isinstance(body, dict)
    return body


def _types(body: dict[str, Any]) -> list[str]:
    return [r["attributes"]["type"] for r in body["searchRecords"]]


def test_search_returns_search_records(org: Org, sf: Salesforce) -> None:
    body = sf.search("FIND {acme} IN ALL FIELDS RETURNING Opportunity(Id, Name WHERE "
                     "StageName = 'Prospecting'), Account(Name)")
    assert list(body) == ["searchRecords"]
    opp, acct = body["searchRecords"]
    assert dict(opp["attributes"]) == {
        "type": "Opportunity",
        "url": f"/services/data/v{org.api_version}/sobjects/Opportunity/{opp['Id']}"}
    assert (opp["Name"], list(opp)) == ("Acme renewal", ["attributes", "Id", "Name"])
    assert (acct["Name"], list(acct)) == ("Acme Corp", ["attributes", "Name"])


def test_quick_search_and_empty_results(sf: Salesforce) -> None:
    # quick_search(x) is search("FIND {x}"): every searchable object, Ids only.
    assert _types(sf.quick_search("acme")) == ["Account", "Opportunity", "Opportunity",
                                               "Contact"]
    assert sf.search("FIND {nothingmatches}") == {"searchRecords": []}


def test_each_search_is_one_api_request(org: Org, sf: Salesforce) -> None:
    before = org.org_limits.api_used()
    sf.search("FIND {acme}")
    _rest(sf, params={"q": "acme"})
    assert org.org_limits.api_used() == before + 2


def test_malformed_search_is_a_400_with_the_caret(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.search("FIND {acme} RETURNING Account(Name WHERE Name = )")
    (err,) = _errors(e)
    assert err["errorCode"] == "MALFORMED_SEARCH" and e.value.status == 400
    assert err["message"].endswith("ERROR at Row:1:Column:48\nunexpected token: ')'")
    with pytest.raises(SalesforceMalformedRequest) as e2:
        sf.search("FIND acme")
    assert _errors(e2)[0]["errorCode"] == "MALFORMED_SEARCH"
    assert "enclosed in braces" in _errors(e2)[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as e3:
        sf.search("FIND {acme} RETURNING Account(Nope)")
    assert _errors(e3)[0]["errorCode"] == "INVALID_FIELD"


def test_parameterized_search_get(sf: Salesforce) -> None:
    body = _rest(sf, params={"q": "acme"})
    assert _types(body) == ["Account", "Opportunity", "Opportunity", "Contact"]
    body = _rest(sf, params={
        "q": "acme", "sobject": ["Opportunity", "Account"], "fields": "Name",
        "Opportunity.fields": "Name,StageName", "Opportunity.where": "StageName != 'x'",
        "Opportunity.orderBy": "Name DESC", "Opportunity.limit": "1"})
    opp, acct = body["searchRecords"]
    assert (opp["Name"], opp["StageName"], acct["Name"]) == ("Acme upsell", "Closed Won",
                                                            "Acme Corp")
    body = _rest(sf, params={"q": "acme", "in": "EMAIL"})
    assert _types(body) == ["Contact"]
    body = _rest(sf, params={
        "q": "acme", "sobject": "Opportunity", "Opportunity.orderBy": "Name",
        "offset": "1", "overallLimit": "5"})
    assert len(body["searchRecords"]) == 1


def test_parameterized_search_post(sf: Salesforce) -> None:
    body = _rest(sf, method="POST", json={
        "q": "acme OR globex", "fields": ["Id", "Name"], "in": "ALL", "overallLimit": 100,
        "defaultLimit": 10, "spellCorrection": False,
        "sobjects": [{"name": "Account", "orderBy": "Name DESC"},
                     {"name": "Opportunity", "fields": ["Name"],
                      "where": "StageName = 'Prospecting'", "limit": 5}]})
    assert [r["Name"] for r in body["searchRecords"]] == ["Globex", "Acme Corp",
                                                         "Acme renewal"]
    assert list(body["searchRecords"][2]) == ["attributes", "Name"]


@pytest.mark.parametrize(("kwargs", "code", "text"), [
    ({"params": {"q": "a"}}, "MALFORMED_SEARCH", "longer than one character"),
    ({"params": {}}, "MALFORMED_SEARCH", "q parameter"),
    ({"params": {"q": "acme", "division": "global"}}, "MALFORMED_SEARCH", "division"),
    ({"params": {"q": "acme", "sobject": ["Account", "Contact"], "offset": "1"}},
     "MALFORMED_SEARCH", "exactly one sobject"),
    ({"params": {"q": "acme", "fields": "Name"}}, "MALFORMED_SEARCH", "at least one sobject"),
    ({"params": {"q": "acme", "in": "SIDEWAYS"}}, "MALFORMED_SEARCH", "in"),
    ({"params": {"q": "acme", "sobject": "Account", "Account.limit": "ten"}},
     "MALFORMED_SEARCH", "whole number"),
    ({"params": {"q": "acme", "sobject": "Account", "Account.where": "Nope = 1"}},
     "INVALID_FIELD", "Nope"),
    ({"method": "POST", "json": {"q": "acme", "sobjects": "Account"}}, "JSON_PARSER_ERROR",
     "sobjects"),
    ({"method": "POST", "json": {"q": "acme", "sobjects": [{"name": "Account",
                                                            "limit": True}]}},
     "MALFORMED_SEARCH", "whole number"),
])
def test_parameterized_search_errors(sf: Salesforce, kwargs: dict[str, Any], code: str,
                                     text: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as e:
        _rest(sf, **kwargs)
    assert _errors(e)[0]["errorCode"] == code
    assert text in _errors(e)[0]["message"]
