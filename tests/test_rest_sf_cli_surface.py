"""Issue 17, in process: what ``sf data query`` (``&columns=true``) and ``sf apex run``
(SOAP ``executeAnonymous``) ask the server, checked without the CLI (the end-to-end test
with the real ``sf`` binary is tests/test_sf_cli_runbook.py)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from sforg_sim import Org
from sforg_sim.rest.auth import sessions
from sforg_sim.rest.dispatch import handle
from sforg_sim.rest.messages import Request, Response

B = "/services/data/v64.0"


@pytest.fixture(scope="module")
def org() -> Iterator[Org]:
    o = Org()
    o.load_scenario("small", records=40)
    yield o


@pytest.fixture(scope="module")
def token(org: Org) -> str:
    return sessions(org).create()


def _get(org: Org, token: str, path: str, **qs: str) -> Response:
    return handle(org, Request("GET", path, urlencode(qs),
                               {"Authorization": f"Bearer {token}"}))


def columns(org: Org, token: str, soql: str, resource: str = "query") -> dict[str, Any]:
    resp = _get(org, token, f"{B}/{resource}", q=soql, columns="true")
    assert resp.status == 200, resp.body
    body: dict[str, Any] = resp.json()
    return body


def names(cols: list[dict[str, Any]]) -> list[Any]:
    """columnName, with the joins nested as (name, [joins])."""
    return [(c["columnName"], names(c["joinColumns"])) if c["joinColumns"]
            else c["columnName"] for c in cols]


# --- sf data query: columns=true --------------------------------------------------------


def test_plain_query_columns_in_select_order_with_canonical_names(org: Org, token: str
                                                                  ) -> None:
    body = columns(org, token, "SELECT name, ID, StageName FROM opportunity")
    assert names(body["columnMetadata"]) == ["Name", "Id", "StageName"]
    first = body["columnMetadata"][0]
    assert first["aggregate"] is False and first["displayName"] == "Name"
    assert first["textType"] is True and first["apexType"] == "String"
    assert body["entityName"] == "Opportunity" and body["idSelected"] is True
    assert body["keyPrefix"] == "006" and body["groupBy"] is False


def test_columns_answer_carries_no_records(org: Org, token: str) -> None:
    """The CLI runs the query itself; the columns variant answers metadata only."""
    body = columns(org, token, "SELECT Id FROM Opportunity")
    assert "records" not in body and "columnMetadata" in body


def test_aggregate_columns_alias_expr_and_display_as_written(org: Org, token: str) -> None:
    body = columns(org, token, "SELECT StageName, COUNT(Id) cnt, max(Amount) "
                               "FROM Opportunity GROUP BY StageName")
    cols = body["columnMetadata"]
    assert names(cols) == ["StageName", "cnt", "expr0"]
    assert [c["aggregate"] for c in cols] == [False, True, True]
    # The CLI labels a function column with displayName: the call as the user wrote it.
    assert cols[1]["displayName"] == "COUNT(Id)" and cols[2]["displayName"] == "max(Amount)"
    assert body["groupBy"] is True
    # The keys the AggregateResult records have are exactly these column names.
    rows = _get(org, token, f"{B}/query", q="SELECT StageName, COUNT(Id) cnt, max(Amount) "
                "FROM Opportunity GROUP BY StageName").json()["records"]
    assert set(rows[0]) - {"attributes"} == {"StageName", "cnt", "expr0"}


def test_relationship_columns_nest_and_share_one_entry(org: Org, token: str) -> None:
    body = columns(org, token, "SELECT Name, Owner.Name, Account.Name, owner.Id "
                               "FROM Opportunity")
    cols = body["columnMetadata"]
    assert names(cols) == ["Name", ("Owner", ["Name", "Id"]), ("Account", ["Name"])]
    assert cols[1]["foreignKeyName"] == "OwnerId" and cols[1]["aggregate"] is False


def test_subquery_columns_are_an_aggregate_entry_with_joins(org: Org, token: str) -> None:
    body = columns(org, token, "SELECT Name, (SELECT Name, StageName FROM Opportunities) "
                               "FROM Account")
    cols = body["columnMetadata"]
    assert names(cols) == ["Name", ("Opportunities", ["Name", "StageName"])]
    assert cols[1]["aggregate"] is True


def test_columns_of_an_invalid_query_is_the_query_error(org: Org, token: str) -> None:
    resp = _get(org, token, f"{B}/query", q="SELECT Nope__c FROM Opportunity",
                columns="true")
    assert resp.status == 400
    assert resp.json()[0]["errorCode"] == "INVALID_FIELD"


def test_tooling_query_columns_true(org: Org, token: str) -> None:
    body = columns(org, token, "SELECT Id, Status FROM AsyncApexJob", "tooling/query")
    assert names(body["columnMetadata"]) == ["Id", "Status"]


def test_columns_false_is_the_ordinary_query(org: Org, token: str) -> None:
    body = _get(org, token, f"{B}/query", q="SELECT Id FROM Opportunity",
                columns="false").json()
    assert body["totalSize"] == 40 and "columnMetadata" not in body


# --- sf apex run: SOAP executeAnonymous ---------------------------------------------------


def _envelope(token: str, code: str, header: str = "") -> bytes:
    """The request body @salesforce/apex-node's encodeBody builds."""
    from xml.sax.saxutils import escape

    header = header or ("<apex:DebuggingHeader><apex:debugLevel>DEBUGONLY</apex:debugLevel>"
                        "</apex:DebuggingHeader>")
    return f"""<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema"
xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"
xmlns:cmd="http://soap.sforce.com/2006/08/apex"
xmlns:apex="http://soap.sforce.com/2006/08/apex">
    <env:Header>
        <cmd:SessionHeader><cmd:sessionId>{token}</cmd:sessionId></cmd:SessionHeader>
        {header}
    </env:Header>
    <env:Body>
        <executeAnonymous xmlns="http://soap.sforce.com/2006/08/apex">
            <apexcode>{escape(code)}</apexcode>
        </executeAnonymous>
    </env:Body>
</env:Envelope>""".encode()


def soap(org: Org, body: bytes, path: str = "/services/Soap/s/64.0/00D5j0000000001"
         ) -> tuple[int, dict[str, Any], str]:
    resp = handle(org, Request("POST", path, "", {"Content-Type": "text/xml",
                                                  "SOAPAction": "executeAnonymous"}, body))
    root = ET.fromstring(resp.body)
    ns = "{http://soap.sforce.com/2006/08/apex}"
    result = root.find(f".//{ns}result")
    fields: dict[str, Any] = {}
    if result is not None:
        for el in result:
            nil = el.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
            fields[el.tag.replace(ns, "")] = None if nil else el.text
    log = root.find(f".//{ns}debugLog")
    fault = root.find(".//faultcode")
    if fault is not None:
        fields["faultcode"] = fault.text
    return resp.status, fields, (log.text or "") if log is not None else ""


def test_execute_anonymous_success_with_the_debug_log(org: Org, token: str) -> None:
    status, res, log = soap(org, _envelope(token, "System.debug('a < b & c');"))
    assert status == 200
    assert res == {"column": "-1", "compileProblem": None, "compiled": "true",
                   "exceptionMessage": None, "exceptionStackTrace": None, "line": "-1",
                   "success": "true"}
    lines = log.splitlines()
    assert lines[0].startswith("64.0 APEX_CODE,DEBUG")
    assert lines[1] == "Execute Anonymous: System.debug('a < b & c');"
    assert any(line.endswith("|USER_DEBUG|[1]|DEBUG|a < b & c") for line in lines)
    assert lines[-1].endswith("|EXECUTION_FINISHED")


def test_execute_anonymous_compile_error_has_line_column_problem(org: Org, token: str
                                                                 ) -> None:
    status, res, _ = soap(org, _envelope(token, "Integer x = 1;\nx.foo(;"))
    assert status == 200
    assert res["compiled"] == "false" and res["success"] == "false"
    assert res["line"] == "2" and res["column"] == "7" and res["compileProblem"]


def test_execute_anonymous_uncaught_exception(org: Org, token: str) -> None:
    status, res, log = soap(org, _envelope(token, "Integer x = null;\nInteger y = x + 1;"))
    assert status == 200
    assert res["compiled"] == "true" and res["success"] == "false"
    assert res["exceptionMessage"].startswith("System.NullPointerException")
    assert res["line"] == "2" and "|FATAL_ERROR|System.NullPointerException" in log


def test_execute_anonymous_changes_the_org_and_is_charged(org: Org, token: str) -> None:
    before = org.org_limits.api_used()
    n = _discovery(org)
    code = ("List<Opportunity> os = [SELECT Id FROM Opportunity WHERE StageName = "
            "'Discovery' LIMIT 1];\nos[0].StageName = 'Qualification';\nupdate os;")
    assert soap(org, _envelope(token, code))[1]["success"] == "true"
    assert _discovery(org) == n - 1
    assert org.org_limits.api_used() == before + 1


def _discovery(org: Org) -> int:
    return int(org.query("SELECT COUNT() FROM Opportunity WHERE StageName = 'Discovery'"
                         )["totalSize"])


def test_execute_anonymous_per_category_debug_header(org: Org, token: str) -> None:
    header = ("<apex:DebuggingHeader><apex:categories><apex:category>Apex_code</apex:category>"
              "<apex:level>FINEST</apex:level></apex:categories></apex:DebuggingHeader>")
    _, _, log = soap(org, _envelope(token, "System.debug(1);", header))
    assert log.splitlines()[0] == "64.0 APEX_CODE,FINEST"


def test_execute_anonymous_bad_session_is_a_soap_fault(org: Org) -> None:
    status, res, _ = soap(org, _envelope("00Dbogus!AQnope", "System.debug(1);"))
    assert status == 500 and res["faultcode"] == "sf:INVALID_SESSION_ID"


@pytest.mark.parametrize("body", [b"", b"not xml", b"<a/>", b"<?xml version='1.0'?><x><y>",
                                  json.dumps({"apexcode": "x"}).encode()])
def test_execute_anonymous_garbage_is_a_fault_not_a_traceback(org: Org, body: bytes) -> None:
    status, res, _ = soap(org, body)
    assert status == 500 and res["faultcode"] == "sf:INVALID_REQUEST"


def test_unknown_soap_operation_is_a_fault(org: Org, token: str) -> None:
    body = _envelope(token, "x").replace(b"executeAnonymous", b"compileClasses")
    status, res, _ = soap(org, body)
    assert status == 500 and res["faultcode"] == "sf:INVALID_OPERATION"


@pytest.mark.parametrize("soql, key", [
    ("SELECT Id, toLabel(StageName) FROM Opportunity", "StageName"),
    ("SELECT Id, FORMAT(Amount) FROM Opportunity", "Amount"),
    ("SELECT Id, FORMAT(Amount) amt FROM Opportunity", "amt"),
])
def test_field_functions_keep_the_records_key(org: Org, token: str, soql: str,
                                              key: str) -> None:
    # The CLI looks each column up in the record by its columnName: toLabel/FORMAT of a
    # field keep the field's key (or the alias), so the column must too, not an exprN.
    col = columns(org, token, soql)["columnMetadata"][1]
    assert col["columnName"] == key and col["aggregate"] is False
    rec = _get(org, token, f"{B}/query", q=soql).json()["records"][0]
    assert key in rec
