"""Fuzzing: random and mutated SOQL strings give a result or a documented SOQL error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sforg_sim import Org
from sforg_sim.errors import SalesforceError

DOCUMENTED = {"MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE", "NUMBER_OUTSIDE_VALID_RANGE",
              "INVALID_QUERY_FILTER_OPERATOR", "EXCEEDED_ID_LIMIT"}

SEEDS = [
    "SELECT Id, Name, Account.Name FROM Opportunity WHERE Amount > 10 AND (StageName = "
    "'Discovery' OR NOT Name LIKE 'a\\_%') ORDER BY Name DESC NULLS LAST LIMIT 5 OFFSET 2",
    "SELECT StageName, COUNT(Id) cnt, MAX(Amount) FROM Opportunity WHERE External_ID__c "
    "LIKE 'externalOpp%' GROUP BY StageName HAVING COUNT(Id) > 1 ORDER BY StageName",
    "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Opportunity WHERE CloseDate "
    "= LAST_N_DAYS:30) AND CreatedDate < 2026-01-05T00:00:00Z AND Name IN ('a', 'b', null)",
    "SELECT COUNT() FROM Opportunity WHERE CloseDate = THIS_MONTH",
    "SELECT FIELDS(ALL) FROM Account LIMIT 10",
]
TOKENS = ["SELECT", "FROM", "WHERE", "Id", "Name", "Account", "Opportunity", ",", "(", ")",
          "=", "!=", "<", "LIKE", "IN", "NOT", "AND", "OR", "'x'", "'a\\'b'", "5", "-1.5",
          "NULL", "TRUE", "TODAY", "LAST_N_DAYS:3", "2026-01-01", "ORDER BY", "GROUP BY",
          "LIMIT", "OFFSET", "COUNT(", "COUNT()", ".", ":x", "\\", "\"", "$", "\n",
          "NULLS FIRST", "DESC", "HAVING", "FIELDS(ALL)", "99999999999999999999"]


@pytest.fixture(scope="module")
def org() -> Any:
    o = Org()
    acc = o.insert("Account", [{"Name": "a"}])[0]["id"]
    o.insert("Opportunity", [{"Name": "o", "StageName": "Discovery", "CloseDate":
                              "2026-01-01", "AccountId": acc, "Amount": 20}])
    yield o
    o.close()


def run(org: Org, text: str) -> None:
    try:
        body = org.query(text, x="a")
    except SalesforceError as e:
        assert e.error_code in DOCUMENTED, (text, e)
        assert isinstance(e.message, str) and e.message
        return
    assert set(body) <= {"totalSize", "done", "records", "nextRecordsUrl"}
    assert body["totalSize"] >= len(body["records"])


def test_seeds_run(org: Org) -> None:
    for s in SEEDS:
        org.query(s)


@given(st.lists(st.sampled_from(TOKENS), max_size=14))
@example(["SELECT", "Id", "FROM", "Account", "WHERE", "Name", "=", "99999999999999999999"])
@example(["SELECT", "Id", "FROM", "Account", "LIMIT", "99999999999999999999"])
@example(["SELECT", "COUNT(", ")", "FROM", "Account"])
def test_token_soup(org: Org, toks: list[str]) -> None:
    run(org, " ".join(toks))


@given(st.sampled_from(SEEDS), st.data())
@example(SEEDS[0].replace("Amount > 10", "Amount > 1" + "0" * 400), None)
def test_mutated_seeds(org: Org, seed: str, data: Any) -> None:
    text = seed
    if data is not None:
        for _ in range(data.draw(st.integers(1, 3))):
            i = data.draw(st.integers(0, len(text)))
            op = data.draw(st.sampled_from(["delete", "insert", "replace"]))
            piece = data.draw(st.sampled_from(TOKENS) | st.text(max_size=3))
            if op == "delete":
                text = text[:i] + text[i + data.draw(st.integers(1, 8)):]
            elif op == "insert":
                text = text[:i] + " " + piece + " " + text[i:]
            else:
                text = text[:i] + piece + text[i + len(piece):]
    run(org, text)


@given(st.text(max_size=60))
def test_random_text(org: Org, text: str) -> None:
    run(org, text)
