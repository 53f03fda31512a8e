"""Bulk API 1.0 the way data loaders use it (issue 19, B3): a JobInfo XML job with
``contentType`` CSV, CSV batches, BatchInfo polls and results, all as raw HTTP shaped like
Salesforce Data Loader's (the WSC client: ``Content-Type: application/xml`` for jobs,
``text/csv`` for batches), through ``mock_org`` and once through the HTTPS server; plus
the job checks Bulk API 1.0 and 2.0 now share (``rest/bulkops.check_job``).

Sources (see ``sforg_sim.rest.bulk1`` and docs/fidelity.md BA1-BA9, B11): *Bulk API 2.0
and Bulk API Developer Guide*, "Step One: Create a Job", "Content Type Header", "Valid CSV
Record Rows", "Get Batch Results", "Use Bulk Query", "Bulk API Limits", "Errors"; orgs'
answers quoted in salesforcer issue 21 (no rows), jsforce issue 31 (size), and
stackoverflow questions 13416791 / 59282347 (upsert field).
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from sforg_sim import Org
from sforg_sim.rest import mock_org, serve
from sforg_sim.rest.bulk1 import MAX_BATCH_BYTES

NS = "{http://www.force.com/2009/06/asyncapi/dataload}"
XML = "application/xml; charset=UTF-8"
CSV = "text/csv; charset=UTF-8"
JOB_ORDER = [
    "id", "operation", "object", "createdById", "createdDate", "systemModstamp", "state",
    "externalIdFieldName", "concurrencyMode", "contentType", "numberBatchesQueued",
    "numberBatchesInProgress", "numberBatchesCompleted", "numberBatchesFailed",
    "numberBatchesTotal", "numberRecordsProcessed", "numberRetries", "apiVersion",
    "numberRecordsFailed", "totalProcessingTime", "apiActiveProcessingTime",
    "apexProcessingTime"]
"""The guide's JobInfo example ("Step One: Create a Job"), externalIdFieldName where the
WSC client reads it (after state)."""
BATCH_ORDER = ["id", "jobId", "state", "createdDate", "systemModstamp",
               "numberRecordsProcessed", "numberRecordsFailed", "totalProcessingTime",
               "apiActiveProcessingTime", "apexProcessingTime"]
"""The guide's BatchInfo example ("Add a Batch to a Job")."""


@dataclass
class Loader:
    """Raw Bulk 1.0 requests as a data loader sends them."""

    org: Org
    instance_url: str
    token: str
    http: requests.Session

    def send(self, method: str, path: str, body: str | bytes | None = None,
             content_type: str | None = XML, version: str = "59.0") -> requests.Response:
        """One request under ``/services/async/{version}/``."""
        headers = {"X-SFDC-Session": self.token}
        if content_type is not None:
            headers["Content-Type"] = content_type
        return self.http.request(method, f"{self.instance_url}/services/async/{version}/"
                                 f"{path}", data=body, headers=headers, timeout=60)

    def job(self, operation: str, obj: str, content: str = "CSV", ext: str | None = None
            ) -> dict[str, str]:
        """Create a job with a JobInfo XML body; its JobInfo as a dict."""
        extra = f"<externalIdFieldName>{ext}</externalIdFieldName>" if ext else ""
        r = self.send("POST", "job", '<?xml version="1.0" encoding="UTF-8"?><jobInfo '
                      'xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
                      f"<operation>{operation}</operation><object>{obj}</object>{extra}"
                      f"<concurrencyMode>Parallel</concurrencyMode>"
                      f"<contentType>{content}</contentType></jobInfo>")
        assert r.status_code == 201, r.text
        return fields(r, "jobInfo")

    def batch(self, job: dict[str, str], body: str) -> dict[str, str]:
        """Add a CSV batch, poll it once (Completed), return its BatchInfo (a batch
        sforg-sim cannot process at all reads Failed at once)."""
        r = self.send("POST", f"job/{job['id']}/batch", body.encode("utf-8"), CSV)
        assert r.status_code == 201, r.text
        added = fields(r, "batchInfo")
        assert added["state"] in ("Queued", "Failed")
        return fields(self.send("GET", f"job/{job['id']}/batch/{added['id']}"), "batchInfo")

    def results(self, job: dict[str, str], batch: dict[str, str]) -> requests.Response:
        """``GET .../batch/{b}/result``."""
        return self.send("GET", f"job/{job['id']}/batch/{batch['id']}/result")


def fields(r: requests.Response, root: str) -> dict[str, str]:
    """An XML answer's child elements as a dict (after checking its root and type)."""
    assert r.headers["Content-Type"].startswith("application/xml"), r.text
    doc = ET.fromstring(r.content)
    assert doc.tag == NS + root, r.text
    return {child.tag.removeprefix(NS): child.text or "" for child in doc}


def tags(r: requests.Response) -> list[str]:
    """The child element names of an XML answer, in document order."""
    return [child.tag.removeprefix(NS) for child in ET.fromstring(r.content)]


def rows(text: str) -> list[list[str]]:
    """CSV text as rows."""
    return list(csv.reader(io.StringIO(text)))


def _org() -> Org:
    org = Org()
    org.add_field("Account", "Key__c", "string", length=40, external_id=True)
    org.insert("Account", [{"Name": "Acme", "Key__c": "ACME-1"},
                           {"Name": "Beta", "Key__c": "BETA-2"}])
    return org


@pytest.fixture
def loader() -> Iterator[Loader]:
    org = _org()
    with mock_org(org) as sim:
        yield Loader(org, sim.instance_url, sim.session_id, requests.Session())
    org.close()


# --- ingest: XML job, CSV batches, CSV results ----------------------------------------------

def test_data_loader_insert_flow_answers_xml_and_csv(loader: Loader) -> None:
    job = loader.job("insert", "Contact")
    assert (job["state"], job["contentType"], job["object"]) == ("Open", "CSV", "Contact")
    batch = loader.batch(job, 'LastName,FirstName,Account.Key__c,Title\n'
                              'Jones,Tom,ACME-1,"Director, ""West"""\n'
                              ',Nobody,BETA-2,\n'
                              'Dury,Ian,BETA-2,"two\nlines"\n')
    assert (batch["state"], batch["numberRecordsProcessed"],
            batch["numberRecordsFailed"]) == ("Completed", "3", "1")
    r = loader.results(job, batch)
    assert r.headers["Content-Type"].startswith("text/csv")
    out = rows(r.text)
    assert r.text.startswith('"Id","Success","Created","Error"\n')
    assert out[1][1:] == ["true", "true", ""] and out[3][1:] == ["true", "true", ""]
    assert out[2] == ["", "false", "false",
                      "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:"
                      "LastName --"]
    contacts = {c["LastName"]: c for c in loader.org.query_records(
        "SELECT LastName, Title, Account.Name FROM Contact")}
    assert contacts["Jones"]["Title"] == 'Director, "West"'
    assert contacts["Dury"]["Title"] == "two\nlines"
    assert (contacts["Jones"]["Account"]["Name"], contacts["Dury"]["Account"]["Name"]) == \
        ("Acme", "Beta")
    assert {out[1][0], out[3][0]} == {c["Id"] for c in loader.org.query_records(
        "SELECT Id FROM Contact")}
    # the request as uploaded comes back as CSV; closing the job is JobInfo XML too
    req = loader.send("GET", f"job/{job['id']}/batch/{batch['id']}/request")
    assert req.text.startswith("LastName,FirstName,Account.Key__c,Title\n")
    closed = loader.send("POST", f"job/{job['id']}", "<jobInfo xmlns=\"http://www.force."
                         "com/2009/06/asyncapi/dataload\"><state>Closed</state></jobInfo>")
    info = fields(closed, "jobInfo")
    assert (info["state"], info["numberBatchesCompleted"], info["numberRecordsProcessed"],
            info["numberRecordsFailed"]) == ("Closed", "1", "3", "1")


def test_xml_elements_come_in_the_documented_order(loader: Loader) -> None:
    r = loader.send("POST", "job", '<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/'
                    'dataload"><operation>upsert</operation><object>Account</object>'
                    '<externalIdFieldName>key__c</externalIdFieldName>'
                    '<contentType>CSV</contentType></jobInfo>')
    assert tags(r) == JOB_ORDER
    job = fields(r, "jobInfo")
    assert job["externalIdFieldName"] == "Key__c"
    b = loader.send("POST", f"job/{job['id']}/batch", b"Key__c,Name\nNEW-9,New\n", CSV)
    assert tags(b) == BATCH_ORDER
    listed = loader.send("GET", f"job/{job['id']}/batch")
    doc = ET.fromstring(listed.content)
    assert doc.tag == NS + "batchInfoList"
    assert [e.findtext(NS + "state") for e in doc] == ["Completed"]


def test_empty_values_are_ignored_on_update_and_na_sets_null(loader: Loader) -> None:
    [acme] = loader.org.query_records("SELECT Id FROM Account WHERE Name = 'Acme'")
    loader.org.update("Account", [{"Id": acme["Id"], "Industry": "Energy",
                                   "AnnualRevenue": 5}])
    job = loader.job("update", "Account")
    batch = loader.batch(job, f"Id,Industry,AnnualRevenue\n{acme['Id']},,#N/A\n")
    assert rows(loader.results(job, batch).text)[1] == [acme["Id"], "true", "false", ""]
    [after] = loader.org.query_records(
        "SELECT Industry, AnnualRevenue FROM Account WHERE Name = 'Acme'")
    assert (after["Industry"], after["AnnualRevenue"]) == ("Energy", None)


def test_upsert_by_external_id_reports_created_and_updated(loader: Loader) -> None:
    job = loader.job("upsert", "Account", ext="Key__c")
    batch = loader.batch(job, "Key__c,Name\nACME-1,Acme Renamed\nGAMMA-3,Gamma\n")
    out = rows(loader.results(job, batch).text)
    assert [r[1:3] for r in out[1:]] == [["true", "false"], ["true", "true"]]
    names = {r["Name"] for r in loader.org.query_records("SELECT Name FROM Account")}
    assert names == {"Acme Renamed", "Beta", "Gamma"}


def test_delete_by_id_column(loader: Loader) -> None:
    [beta] = loader.org.query_records("SELECT Id FROM Account WHERE Name = 'Beta'")
    job = loader.job("delete", "Account")
    batch = loader.batch(job, f"Id\n{beta['Id']}\n")
    assert rows(loader.results(job, batch).text)[1] == [beta["Id"], "true", "false", ""]
    assert [r["Name"] for r in loader.org.query_records("SELECT Name FROM Account")] == \
        ["Acme"]


def test_a_row_of_another_width_fails_only_that_row(loader: Loader) -> None:
    job = loader.job("insert", "Account")
    batch = loader.batch(job, "Name,Industry\nOne,Energy\nTwo\n")
    out = rows(loader.results(job, batch).text)
    assert out[1][1] == "true"
    assert out[2][1:3] == ["false", "false"] and "different number of columns" in out[2][3]
    assert batch["numberRecordsFailed"] == "1"


@pytest.mark.parametrize("body, why", [
    ("Name,Nope__c\nx,y\n", "InvalidBatch : Field name not found : Nope__c"),
    ("Name,Account.Nope__c\nx,y\n", "InvalidBatch : Field name not found : Account.Nope__c"),
    ("Name\n", "contains no records"),
    ("Name\n" + "x\n" * 10_001, "at most 10,000 records (10,001 sent)"),
])
def test_bad_csv_batches_fail_with_a_state_message(loader: Loader, body: str, why: str
                                                   ) -> None:
    job = loader.job("insert", "Contact")
    batch = loader.batch(job, body)
    assert batch["state"] == "Failed" and why in batch["stateMessage"]
    r = loader.results(job, batch)
    assert "<exceptionCode>InvalidBatch</exceptionCode>" in r.text
    assert loader.org.query_records("SELECT Id FROM Contact") == []


def test_a_batch_over_ten_million_bytes_is_not_read(loader: Loader) -> None:
    job = loader.job("insert", "Account")
    before = loader.org.org_limits.body()["DailyBulkApiBatches"]["Remaining"]
    body = b"Name\n" + b"x" * (MAX_BATCH_BYTES - 4)
    r = loader.send("POST", f"job/{job['id']}/batch", body, CSV)
    assert fields(r, "error") == {
        "exceptionCode": "ClientInputError",
        "exceptionMessage": "Failed to read request. Exceeded max size limit of 10000000"}
    assert r.status_code == 400
    assert loader.org.org_limits.body()["DailyBulkApiBatches"]["Remaining"] == before


def test_batches_must_come_in_the_jobs_format(loader: Loader) -> None:
    job = loader.job("insert", "Account")
    r = loader.send("POST", f"job/{job['id']}/batch", json.dumps([{"Name": "x"}]),
                    "application/json")
    # a CSV job answers XML whatever the request says ("Content Type Header")
    assert fields(r, "error")["exceptionCode"] == "InvalidBatch"
    js = loader.send("POST", "job", json.dumps({"operation": "insert", "object": "Account",
                                                "contentType": "JSON"}), "application/json")
    r = loader.send("POST", f"job/{js.json()['id']}/batch", b"Name\nx\n", CSV)
    assert r.json()["exceptionCode"] == "InvalidBatch"
    assert loader.org.query_records("SELECT Id FROM Account WHERE Name = 'x'") == []


# --- query jobs with CSV results -------------------------------------------------------------

def test_csv_query_job_result_list_and_csv_rows(loader: Loader) -> None:
    job = loader.job("query", "Account")
    r = loader.send("POST", f"job/{job['id']}/batch",
                    b"SELECT Id, name, key__c FROM Account ORDER BY Name", CSV)
    batch = fields(r, "batchInfo")
    info = fields(loader.send("GET", f"job/{job['id']}/batch/{batch['id']}"), "batchInfo")
    assert (info["state"], info["numberRecordsProcessed"]) == ("Completed", "2")
    listed = loader.results(job, info)
    doc = ET.fromstring(listed.content)
    assert doc.tag == NS + "result-list"
    [result_id] = [e.text for e in doc]
    data = loader.send("GET", f"job/{job['id']}/batch/{batch['id']}/result/{result_id}")
    assert data.headers["Content-Type"].startswith("text/csv")
    ids = [a["Id"] for a in loader.org.query_records(
        "SELECT Id FROM Account ORDER BY Name")]
    assert data.text == ('"Id","Name","Key__c"\n'
                         f'"{ids[0]}","Acme","ACME-1"\n"{ids[1]}","Beta","BETA-2"\n')


def test_csv_query_without_rows_says_so(loader: Loader) -> None:
    job = loader.job("query", "Account")
    batch = loader.batch(job, "SELECT Id FROM Account WHERE Name = 'nobody'")
    [result_id] = [e.text for e in ET.fromstring(loader.results(job, batch).content)]
    r = loader.send("GET", f"job/{job['id']}/batch/{batch['id']}/result/{result_id}")
    assert r.text == "Records not found for this query"


def test_csv_query_with_a_relationship_column_and_a_refused_subquery(loader: Loader) -> None:
    loader.org.insert("Contact", [{"LastName": "Doe", "AccountId": loader.org.query_records(
        "SELECT Id FROM Account WHERE Name = 'Beta'")[0]["Id"]}])
    job = loader.job("query", "Contact")
    batch = loader.batch(job, "SELECT LastName, Account.Name FROM Contact")
    [result_id] = [e.text for e in ET.fromstring(loader.results(job, batch).content)]
    r = loader.send("GET", f"job/{job['id']}/batch/{batch['id']}/result/{result_id}")
    assert rows(r.text) == [["LastName", "Account.Name"], ["Doe", "Beta"]]
    acc = loader.job("query", "Account")
    failed = loader.batch(acc, "SELECT Name, (SELECT LastName FROM Contacts) FROM Account")
    assert failed["state"] == "Failed" and "Nested SOQL" in failed["stateMessage"]


# --- request formats and errors ---------------------------------------------------------------

def test_job_requests_that_are_not_jobinfo_xml(loader: Loader) -> None:
    r = loader.send("POST", "job", "<jobInfo><operation>insert")
    assert r.status_code == 400 and fields(r, "error")["exceptionCode"] == "InvalidXML"
    r = loader.send("POST", "job", "<batchInfo><state>x</state></batchInfo>")
    assert fields(r, "error") == {"exceptionCode": "InvalidJob",
                                  "exceptionMessage": "Unable to parse Job"}
    r = loader.send("POST", "job", "<jobInfo><operation>insert</operation>"
                    "<object>Account</object><contentType>ZIP_CSV</contentType></jobInfo>")
    assert "ZIP_CSV is not supported" in fields(r, "error")["exceptionMessage"]
    r = loader.send("POST", "job", "Name\nx\n", CSV)
    assert fields(r, "error")["exceptionCode"] == "InvalidJob"


def test_response_format_without_a_job_follows_the_header(loader: Loader) -> None:
    assert fields(loader.send("GET", "job/750000000000000", content_type=None),
                  "error")["exceptionCode"] == "InvalidJob"
    assert loader.send("GET", "job/750000000000000",
                       content_type="application/json").json()["exceptionCode"] == \
        "InvalidJob"
    # a JSON request creating a CSV job is answered JSON; the job answers XML from then on
    r = loader.send("POST", "job", json.dumps({"operation": "insert", "object": "Account",
                                               "contentType": "CSV"}), "application/json")
    assert r.json()["contentType"] == "CSV"
    assert fields(loader.send("GET", f"job/{r.json()['id']}",
                              content_type="application/json"), "jobInfo")["state"] == "Open"


# --- job checks shared by Bulk API 1.0 and 2.0 -----------------------------------------------

def _bulk2(loader: Loader, body: dict[str, Any]) -> requests.Response:
    return loader.http.post(f"{loader.instance_url}/services/data/v59.0/jobs/ingest",
                            json=body, headers={"Authorization": f"Bearer {loader.token}"},
                            timeout=60)


def test_upsert_on_a_field_that_is_no_external_id_is_refused_by_both_apis(loader: Loader
                                                                          ) -> None:
    for name in ("Name", "Website__nope"):
        r = loader.send("POST", "job", "<jobInfo><operation>upsert</operation><object>"
                        f"Account</object><externalIdFieldName>{name}</externalIdFieldName>"
                        "<contentType>CSV</contentType></jobInfo>")
        assert fields(r, "error") == {
            "exceptionCode": "InvalidJob",
            "exceptionMessage": f"Field name provided, {name} does not match an External "
                                "ID, Salesforce Id, or indexed field for Account"}
        r2 = _bulk2(loader, {"operation": "upsert", "object": "Account",
                             "externalIdFieldName": name})
        assert r2.status_code == 400
        assert r2.json() == [{"errorCode": "INVALIDJOB", "fields": [],
                              "message": f"InvalidJob : Field name provided, {name} does "
                                         "not match an External ID, Salesforce Id, or "
                                         "indexed field for Account"}]
    ok = _bulk2(loader, {"operation": "upsert", "object": "Account",
                         "externalIdFieldName": "key__c"})
    assert ok.json()["externalIdFieldName"] == "Key__c"


@pytest.mark.parametrize("obj", ["AsyncApexJob", "CronTrigger"])
@pytest.mark.parametrize("op", ["insert", "update", "delete"])
def test_dml_jobs_on_objects_without_that_call_are_refused(loader: Loader, obj: str,
                                                            op: str) -> None:
    r = loader.send("POST", "job", f"<jobInfo><operation>{op}</operation><object>{obj}"
                    "</object><contentType>CSV</contentType></jobInfo>")
    assert fields(r, "error") == {"exceptionCode": "InvalidJob", "exceptionMessage":
                                  f"entity type {obj} does not support {op}"}
    r2 = _bulk2(loader, {"operation": op, "object": obj})
    assert (r2.status_code, r2.json()[0]["errorCode"]) == (400, "INVALIDJOB")
    assert loader.org.query_records(f"SELECT Id FROM {obj}") == []


def test_a_query_job_on_a_read_only_object_is_still_made(loader: Loader) -> None:
    assert loader.job("query", "AsyncApexJob")["state"] == "Open"


# --- once through the HTTPS server ------------------------------------------------------------

def test_data_loader_flow_through_the_https_server() -> None:
    org = _org()
    try:
        with serve(org) as server:
            loader = Loader(org, server.instance_url, server.access_token,
                            server.http_session())
            job = loader.job("insert", "Contact")
            batch = loader.batch(job, "LastName,Account.Key__c\nSmith,ACME-1\n")
            out = rows(loader.results(job, batch).text)
            assert out[0] == ["Id", "Success", "Created", "Error"]
            assert out[1][1:] == ["true", "true", ""]
            query = loader.job("query", "Contact")
            qb = loader.batch(query, "SELECT LastName, Account.Key__c FROM Contact")
            [rid] = [e.text for e in ET.fromstring(loader.results(query, qb).content)]
            r = loader.send("GET", f"job/{query['id']}/batch/{qb['id']}/result/{rid}")
            assert rows(r.text) == [["LastName", "Account.Key__c"], ["Smith", "ACME-1"]]
    finally:
        org.close()
