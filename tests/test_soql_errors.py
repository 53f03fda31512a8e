"""Golden cases: every SOQL error the engine raises, with Salesforce's code and message."""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.errors import SalesforceError


@pytest.fixture
def org() -> Any:
    o = Org()
    acc = o.insert("Account", [{"Name": "Acme"}])[0]["id"]
    o.insert("Opportunity", [{"Name": "O1", "StageName": "Prospecting",
                              "CloseDate": "2026-01-05", "AccountId": acc,
                              "External_ID__c": "e1"}])
    yield o
    o.close()


def err(org: Org, soql: str, **binds: Any) -> SalesforceError:
    with pytest.raises(SalesforceError) as info:
        org.query(soql, **binds)
    return info.value


def test_unexpected_token_has_real_layout(org: Org) -> None:
    e = err(org, "SELECT ,    FROM Account")
    assert e.error_code == "MALFORMED_QUERY" and e.status == 400
    # research section 2: the captured message, caret under column 8 (the comma).
    assert e.message == ("\nSELECT ,    FROM Account\n       ^\nERROR at Row:1:Column:8\n"
                         "unexpected token: ','")


def test_reserved_word_as_field_is_unexpected_token(org: Org) -> None:
    e = err(org, "SELECT Id, FROM Account")
    assert e.message.endswith("ERROR at Row:1:Column:12\nunexpected token: 'FROM'")


def test_row_and_column_on_multiline_query(org: Org) -> None:
    e = err(org, "SELECT Id\nFROM Account\nWHERE Name IS NULL")
    assert "\nWHERE Name IS NULL\n           ^\nERROR at Row:3:Column:12\n" in e.message
    assert e.message.endswith("unexpected token: 'IS'")


def test_unexpected_end(org: Org) -> None:
    e = err(org, "SELECT Id FROM Account WHERE")
    assert e.error_code == "MALFORMED_QUERY"
    assert e.message.endswith("unexpected token: <EOF>")


def test_lexer_error_is_no_viable_alternative(org: Org) -> None:
    e = err(org, "SELECT Id FROM Account WHERE Name = $x")
    assert e.error_code == "MALFORMED_QUERY"
    assert e.message.endswith("line 1:36 no viable alternative at character '$'")


@pytest.mark.parametrize("soql", ["", "   ", "\n"])
def test_empty_query(org: Org, soql: str) -> None:
    e = err(org, soql)
    assert (e.error_code, e.message) == ("MALFORMED_QUERY",
                                         "SOQL statements cannot be empty or null")


def test_too_long_query(org: Org) -> None:
    assert err(org, "SELECT Id FROM Account WHERE Name = '" + "x" * 100_000 + "'"
               ).error_code == "MALFORMED_QUERY"


@pytest.mark.parametrize("soql", [
    "SELECT Id FROM Account WHERE Name = \"x\"",          # double quotes
    "SELECT Id FROM Account WHERE Name = 'a\\qb'",         # unknown escape
    "SELECT Id FROM Account WHERE Name = 'a\\%b'",         # \% outside LIKE
    "SELECT Id FROM Account WHERE Name = 'a\\u12'",        # short \u
    "SELECT Id FROM Account LIMIT -1",
    "SELECT Id FROM Account LIMIT 2147483648",
    "SELECT Id FROM Account WITH BOGUS_MODE",              # unknown WITH: not dropped
    "SELECT Id FROM Account FOR UPDATE",
    "SELECT Id FROM Account AS a",                         # aliases take no AS
    "SELECT Name n FROM Account",                          # alias outside aggregate queries
    "SELECT Id FROM Account WHERE CreatedDate = FOO_BAR",
    "SELECT Id FROM Account WHERE CreatedDate = TODAY:3",
    "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS",
    "SELECT Id FROM Account WHERE CloseDate = 2026-02-30",
    "SELECT UPPER(Name) FROM Account",
    "SELECT FIELDS(SOME) FROM Account LIMIT 1",
    "SELECT Id FROM Account WHERE Name IS NULL",
    "SELECT Id FROM Account WHERE Name = 'x' AND",
])
def test_malformed(org: Org, soql: str) -> None:
    e = err(org, soql)
    assert e.error_code == "MALFORMED_QUERY", e
    assert "ERROR at Row:" in e.message


def test_invalid_escape_message(org: Org) -> None:
    e = err(org, "SELECT Id FROM Account WHERE Name = 'a\\qb'")
    assert e.message.endswith("Illegal character sequence '\\q' in string literal.")


def test_invalid_field_real_message(org: Org) -> None:
    e = err(org, "SELECT Id, Nme FROM Account")
    assert e.error_code == "INVALID_FIELD"
    assert e.message == (
        "\nSELECT Id, Nme FROM Account\n           ^\nERROR at Row:1:Column:12\n"
        "No such column 'Nme' on entity 'Account'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name. Please reference "
        "your WSDL or the describe call for the appropriate names.")


def test_invalid_type_real_message(org: Org) -> None:
    e = err(org, "SELECT Id FROM Acount")
    assert e.error_code == "INVALID_TYPE"
    assert e.message.endswith(
        "ERROR at Row:1:Column:16\nsObject type 'Acount' is not supported. If you are "
        "attempting to use a custom object, be sure to append the '__c' after the entity "
        "name. Please reference your WSDL or the describe call for the appropriate names.")


def test_unknown_relationship(org: Org) -> None:
    e = err(org, "SELECT Acount.Name FROM Opportunity")
    assert e.error_code == "INVALID_FIELD"
    assert "Didn't understand relationship 'Acount' in field path" in e.message


def test_duplicate_field(org: Org) -> None:
    e = err(org, "SELECT Id, Name, id FROM Account")
    assert (e.error_code, e.message) == ("INVALID_FIELD", "duplicate field selected: Id")


@pytest.mark.parametrize(("soql", "detail"), [
    ("SELECT Id FROM Account WHERE Name = 5",
     "value of filter criterion for field 'Name' must be of type string and should be "
     "enclosed in quotes"),
    ("SELECT Id FROM Account WHERE AnnualRevenue = '5'",
     "value of filter criterion for field 'AnnualRevenue' must be of type double and should "
     "not be enclosed in quotes"),
    ("SELECT Id FROM Opportunity WHERE CloseDate = '2026-01-01'",
     "value of filter criterion for field 'CloseDate' must be of type date and should not "
     "be enclosed in quotes"),
    ("SELECT Id FROM Opportunity WHERE CloseDate = 2026-01-01T00:00:00Z",
     "value of filter criterion for field 'CloseDate' must be of type date and should not "
     "be enclosed in quotes"),
    ("SELECT Id FROM Account WHERE IsDeleted = 'true'",
     "value of filter criterion for field 'IsDeleted' must be of type boolean and should "
     "not be enclosed in quotes"),
])
def test_type_mismatch_is_invalid_field(org: Org, soql: str, detail: str) -> None:
    e = err(org, soql)
    assert e.error_code == "INVALID_FIELD"
    assert e.message.endswith(detail)


def test_malformed_id_literal(org: Org) -> None:
    e = err(org, "SELECT Id FROM Account WHERE Id = '001xyz'")
    assert e.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert e.message.endswith("invalid ID field: 001xyz")
    assert err(org, "SELECT Id FROM Account WHERE Id IN :ids", ids=["bad"]).error_code == \
        "INVALID_QUERY_FILTER_OPERATOR"


def test_offset_over_2000(org: Org) -> None:
    e = err(org, "SELECT Id FROM Opportunity LIMIT 5 OFFSET 2001")
    assert e.error_code == "NUMBER_OUTSIDE_VALID_RANGE"
    assert e.message == "Maximum SOQL offset allowed for apiName Opportunity is 2000"
    assert err(org, "SELECT Id FROM Opportunity OFFSET :n", n=2001).error_code == \
        "NUMBER_OUTSIDE_VALID_RANGE"


@pytest.mark.parametrize(("soql", "detail"), [
    ("SELECT StageName, Name, COUNT(Id) FROM Opportunity GROUP BY StageName",
     "Field must be grouped or aggregated: Name"),
    ("SELECT Name, COUNT(Id) FROM Opportunity", "Field must be grouped or aggregated: Name"),
    ("SELECT MAX(CloseDate) FROM Opportunity LIMIT 1",
     "A query with an aggregate function and a LIMIT clause must use GROUP BY"),
    ("SELECT COUNT() FROM Opportunity ORDER BY Name",
     "COUNT() and ORDER BY may not be used together"),
    ("SELECT COUNT(), Name FROM Opportunity",
     "COUNT() must be the only element in the SELECT list"),
    ("SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName ORDER BY Name",
     "Ordered field must be grouped or aggregated: Name"),
    ("SELECT SUM(Name) FROM Opportunity", "field Name does not support aggregate operator SUM"),
    ("SELECT MAX(IsDeleted) FROM Opportunity",
     "field IsDeleted does not support aggregate operator MAX"),
    ("SELECT StageName, COUNT(Id) c, MAX(Name) c FROM Opportunity GROUP BY StageName",
     "duplicate alias: c"),
    ("SELECT Id FROM Opportunity WHERE COUNT(Id) > 1",
     "Aggregate functions are not supported in the WHERE clause; use HAVING"),
])
def test_aggregate_rules(org: Org, soql: str, detail: str) -> None:
    e = err(org, soql)
    assert e.error_code == "MALFORMED_QUERY"
    assert e.message.endswith(detail)


def test_group_by_not_groupable(org: Org) -> None:
    e = err(org, "SELECT Amount, COUNT(Id) FROM Opportunity GROUP BY Amount")
    assert e.error_code == "INVALID_FIELD"
    assert e.message.endswith("field 'Amount' can not be grouped in a query call")


def test_more_than_2000_groups(org: Org) -> None:
    org.insert("Account", [{"Name": f"n{i}"} for i in range(2001)])
    e = err(org, "SELECT Name, COUNT(Id) FROM Account GROUP BY Name")
    assert e.error_code == "EXCEEDED_ID_LIMIT"
    assert e.message == ("Aggregate query does not support queryMore(), use LIMIT to "
                         "restrict the results to a single batch")
    body = org.query("SELECT Name, COUNT(Id) FROM Account GROUP BY Name LIMIT 2000")
    assert body["totalSize"] == 2000 and body["done"] is True


@pytest.mark.parametrize(("soql", "detail"), [
    ("SELECT FIELDS(ALL) FROM Account", "must have a LIMIT of at most 200"),
    ("SELECT FIELDS(CUSTOM) FROM Account LIMIT 201", "must have a LIMIT of at most 200"),
])
def test_fields_needs_limit(org: Org, soql: str, detail: str) -> None:
    e = err(org, soql)
    assert e.error_code == "MALFORMED_QUERY" and detail in e.message


@pytest.mark.parametrize(("soql", "detail"), [
    ("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Opportunity) OR Name = 'x'",
     "Semi join sub-selects are not allowed with the 'OR' operator"),
    ("SELECT Id FROM Account WHERE NOT Id IN (SELECT AccountId FROM Opportunity)",
     "Semi join sub-selects are not allowed with the 'NOT' operator"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT Id FROM Account)",
     "The inner and outer selects should not be on the same object type"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Opportunity LIMIT 5)",
     "not supported in semi join sub-selects"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT AccountId, Id FROM Opportunity)",
     "must select exactly one ID or reference field"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Opportunity) AND "
     "Id IN (SELECT AccountId FROM Opportunity) AND Id IN (SELECT AccountId FROM "
     "Opportunity)", "Maximum 2 semi join sub-selects are allowed"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Opportunity WHERE AccountId"
     " IN (SELECT Id FROM Account))", "Nesting of semi join sub-selects is not supported"),
])
def test_semi_join_rules(org: Org, soql: str, detail: str) -> None:
    e = err(org, soql)
    assert e.error_code == "MALFORMED_QUERY" and e.message.endswith(detail), e


def test_semi_join_type_mismatch(org: Org) -> None:
    e = err(org, "SELECT Id FROM Account WHERE Id IN (SELECT OwnerId FROM Opportunity)")
    assert e.error_code == "INVALID_FIELD"
    assert "must point to the same object type" in e.message


def test_missing_bind(org: Org) -> None:
    e = err(org, "SELECT Id FROM Account WHERE Name = :who")
    assert e.error_code == "MALFORMED_QUERY"
    assert e.message.endswith("Variable does not exist: who")


def test_bind_of_wrong_type(org: Org) -> None:
    assert err(org, "SELECT Id FROM Account WHERE Name = :n", n=5).error_code == \
        "INVALID_FIELD"
    assert err(org, "SELECT Id FROM Account LIMIT :n", n="x").error_code == \
        "MALFORMED_QUERY"


def test_like_on_number(org: Org) -> None:
    assert err(org, "SELECT Id FROM Account WHERE AnnualRevenue LIKE '1%'").error_code == \
        "INVALID_FIELD"


def test_cursor_errors(org: Org) -> None:
    for bad in ["nonsense", "01g5j0000000999AAA-200", "/services/data/v59.0/query/x-1"]:
        with pytest.raises(SalesforceError) as info:
            org.query_more(bad)
        assert info.value.error_code == "INVALID_QUERY_LOCATOR"
        assert info.value.message == "invalid query locator"


def test_query_timeout_injection(org: Org) -> None:
    org.soql.inject_timeout("FROM Opportunity", times=2)
    for _ in range(2):
        e = err(org, "SELECT Id FROM Opportunity")
        assert (e.error_code, e.message) == ("QUERY_TIMEOUT",
                                             "Your query request was running for too long.")
    assert org.query("SELECT Id FROM Opportunity")["totalSize"] == 1
    assert org.query("SELECT Id FROM Account")["totalSize"] == 1
    org.soql.inject_timeout(lambda text: "Account" in text)
    assert err(org, "SELECT Id FROM Account").error_code == "QUERY_TIMEOUT"
    org.soql.inject_timeout("Account", times=5)
    org.soql.clear_timeouts()
    assert org.query("SELECT Id FROM Account")["totalSize"] == 1


def test_apex_rejects_fields_all(org: Org) -> None:
    with pytest.raises(SalesforceError) as info:
        org.query_records("SELECT FIELDS(ALL) FROM Account LIMIT 5")
    assert info.value.error_code == "MALFORMED_QUERY"
    assert len(org.query_records("SELECT FIELDS(STANDARD) FROM Account")) == 1


def test_an_internal_error_answers_a_fixed_text_not_the_exception() -> None:
    # Issue 14: a 500's message carried an earlier, unrelated failure's text. The answer is
    # a fixed text with an id; the exception's own text goes to the log only.
    from sforg_sim import Org

    org = Org()

    def boom() -> None:
        raise ValueError("secret text from somewhere else")

    with pytest.raises(SalesforceError) as e:
        org.soql._guard(boom)
    assert e.value.status == 500 and "secret text" not in e.value.message
    assert "ErrorId" in e.value.message
