"""Review 5 follow-up, SOSL (issue 19 findings 7, 8, 13).

- parameterizedSearch parses each ``where``/``orderBy`` parameter on its own: a text
  that closes the object's parentheses cannot add objects or clauses, and errors are
  reported against the parameter's own text (fidelity SS11);
- a SOSL field list refuses FIELDS() and parent-to-child subqueries at their place
  ("RETURNING FieldSpec" documents fields only), and an error the SOQL engine raises
  about text the engine generated is never shown as the user's (fidelity SS1);
- SOSL's Apex ``FIND '...'`` string uses the SOQL parser's one string unescape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sforg_sim import Org
from sforg_sim.errors import InvalidField, InvalidType, MalformedQuery, MalformedSearch
from sforg_sim.rest import mock_org
from sforg_sim.soql.parser import caret
from sforg_sim.soql.parser import parse as parse_soql
from sforg_sim.sosl import engine as sosl_engine
from sforg_sim.sosl.engine import search
from sforg_sim.sosl.parser import Span, parse


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org()
    o.insert("Account", [{"Name": "Acme Corp"}, {"Name": "Acme Zeta"}, {"Name": "Globex"}])
    o.insert("Contact", [{"LastName": "Acme"}])
    yield o
    o.close()


@pytest.fixture
def sf(org: Org) -> Iterator[Salesforce]:
    with mock_org(org) as sim:
        yield Salesforce(instance_url=sim.instance_url, session_id=sim.session_id)


def _error(sf: Salesforce, method: str = "GET", **kw: Any) -> dict[str, Any]:
    with pytest.raises(SalesforceMalformedRequest) as e:
        if method == "GET":
            sf.restful("parameterizedSearch/", params=kw)
        else:
            sf.restful("parameterizedSearch/", method="POST", data=json.dumps(kw))
    content: Any = e.value.content
    [err] = content
    return dict(err)


# --- parameterizedSearch: each parameter parsed on its own -------------------------------

_NOT_ONE = "must be one condition and nothing else"


@pytest.mark.parametrize("where, caret_col, says", [
    ("Name != null), Contact(LastName", 13, _NOT_ONE),  # would add Contact to the search
    ("Name != null LIMIT 1", 14, _NOT_ONE),              # a clause of its own
    ("Name != null ORDER BY Name", 14, _NOT_ONE),
    ("Name != null) LIMIT 1 OFFSET 0, Contact(Id", 23, "Malformed search token: OFFSET"),
])
def test_a_where_that_is_more_than_a_condition_is_refused(
        sf: Salesforce, where: str, caret_col: int, says: str) -> None:
    err = _error(sf, q="Acme", sobject="Account", **{"Account.where": where})
    assert err["errorCode"] == "MALFORMED_SEARCH"
    lines = err["message"].split("\n")
    assert lines[1] == where                           # the excerpt is the parameter
    assert f"ERROR at Row:1:Column:{caret_col}" in err["message"]
    assert lines[-1] == f"Account.where: {says}"


def test_the_same_through_the_post_body(sf: Salesforce) -> None:
    err = _error(sf, "POST", q="Acme", sobjects=[
        {"name": "Account", "where": "Name != null), Contact(LastName"}])
    assert err["errorCode"] == "MALFORMED_SEARCH" and "Account.where:" in err["message"]
    err = _error(sf, "POST", q="Acme", sobjects=[
        {"name": "Account", "orderBy": "Name) , Contact(LastName"}])
    assert "Account.orderBy: must be one ORDER BY list" in err["message"]


def test_errors_point_into_the_parameter_not_an_internal_statement(sf: Salesforce) -> None:
    err = _error(sf, q="Acme", sobject="Account", **{"Account.where": "Name = = 'x'"})
    assert err["errorCode"] == "MALFORMED_SEARCH"
    assert err["message"].split("\n")[1] == "Name = = 'x'"
    assert "FIND" not in err["message"]
    err = _error(sf, q="Acme", sobject="Account", **{"Account.where": "Nope__c = 1"})
    assert err["errorCode"] == InvalidField.error_code
    assert err["message"].split("\n")[1] == "Nope__c = 1"
    assert "Account.where: No such column 'Nope__c'" in err["message"]
    err = _error(sf, q="Acme", sobject="Account", **{"Account.orderBy": "Nope__c"})
    assert err["message"].split("\n")[1] == "Nope__c" and "Account.orderBy:" in err["message"]
    err = _error(sf, q="Acme", sobject="Nope__c")
    assert err["errorCode"] == InvalidType.error_code
    assert err["message"].split("\n")[1] == "Nope__c" and "sobject: " in err["message"]


def test_well_formed_parameters_still_search(sf: Salesforce) -> None:
    body = sf.restful("parameterizedSearch/", params={
        "q": "Acme", "sobject": "Account", "Account.fields": "Name",
        "Account.where": "Name LIKE 'Acme%'", "Account.orderBy": "Name DESC"})
    assert [r["Name"] for r in body["searchRecords"]] == ["Acme Zeta", "Acme Corp"]


# --- the SOSL field list -----------------------------------------------------------------

@pytest.mark.parametrize("fields, at, says", [
    ("FIELDS(ALL)", 0, "FIELDS() is not allowed"),
    ("Name, fields(STANDARD)", 6, "FIELDS() is not allowed"),
    ("Name, (SELECT Id FROM Contacts)", 7, "Parent-to-child subqueries are not allowed"),
])
def test_fields_and_subqueries_are_refused_in_a_sosl_field_list(
        org: Org, fields: str, at: int, says: str) -> None:
    head = "FIND {Acme} RETURNING Account("
    text = f"{head}{fields} LIMIT 10)"
    for apex in (False, True):
        with pytest.raises(MalformedSearch) as e:
            search(org.soql, org.schema, text.replace("{Acme}", "'Acme'") if apex else text,
                   apex=apex)
        assert f"Column:{len(head) + at + 1}\n{says}" in e.value.message
        assert "Apex" not in e.value.message


def test_an_error_in_generated_soql_is_not_shown_as_the_users(org: Org) -> None:
    sosl = "FIND {Acme} RETURNING Account(Name)"
    q = sosl_engine._Soql()
    q.add("SELECT ")
    q.copy(sosl, Span(31, 35))
    q.add(" FROM Account WHERE Id IN :ids LIMIT 250")
    limit_at = q.text.index("LIMIT")
    err = MalformedQuery(caret(q.text, (1, limit_at + 1), "bad LIMIT"))
    out = sosl_engine._relocate(err, q, sosl, 22)
    assert isinstance(out, MalformedSearch)
    assert out.message.split("\n")[1] == sosl
    assert "Column:23\n" in out.message            # the object, not a made-up column
    assert out.message.endswith("in the query sforg-sim runs for this RETURNING object: "
                                "bad LIMIT")
    # a position inside the user's own text still maps there
    err = MalformedQuery(caret(q.text, (1, 8), "bad field"))
    assert "Column:32\nbad field" in sosl_engine._relocate(err, q, sosl, 22).message


# --- one string unescape for SOQL and SOSL ----------------------------------------------

def test_sosl_strings_unescape_as_soql_strings_do() -> None:
    raw = "ab\\u00e9\\uD83D\\uDE00\\n\\'"
    soql = parse_soql(f"SELECT Id FROM Account WHERE Name = '{raw}'")
    where: Any = soql.where
    assert where.value.value == "abé\U0001F600\n'"
    got = parse("FIND 'ab\\u00e9\\uD83D\\uDE00xy' RETURNING Account", apex=True)
    # a surrogate pair is one character in both (it used to be two lone halves in SOSL)
    assert got.terms is not None and "\U0001F600" in repr(got.terms)
    for bad, col in (("a\\qb", 8), ("ab\\uD83Dcd", 9)):
        with pytest.raises(MalformedSearch) as e:
            parse(f"FIND '{bad}' RETURNING Account", apex=True)
        assert f"ERROR at Row:1:Column:{col}\nInvalid string literal" in e.value.message
        with pytest.raises(MalformedQuery) as q:
            parse_soql(f"SELECT Id FROM Account WHERE Name = '{bad}'")
        assert "Invalid string literal" in q.value.message
