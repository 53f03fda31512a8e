"""verify: the pure parts (expectations, ranges, masking, error classes, retries) and the
retry behaviour over HTTP against canned responses (``responses``), no simulator."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import strategies as st
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from verify import redact
from verify.checks import (
    Partition,
    derive_partitions,
    format_datetime,
    parse_datetime,
    parse_ranges,
    soql_string,
    summarize_jobs,
)
from verify.cli import main
from verify.connect import ApiUsage
from verify.errors import RetryPolicy, VerifyError, classify, with_retry
from verify.expectations import (
    Expectation,
    ExpectationError,
    evaluate,
    parse_count,
    parse_expectations,
)

# --- expectations -------------------------------------------------------------------------


@pytest.mark.parametrize("text,n", [("2000000", 2_000_000), ("2,000,000", 2_000_000),
                                    ("2_000_000", 2_000_000), ("0", 0), (" 12 ", 12),
                                    ("1 000", 1000)])
def test_parse_count_accepts_separators(text: str, n: int) -> None:
    assert parse_count(text) == n


@pytest.mark.parametrize("text", ["", "-1", "1.5", "2,00,000", "20,0000", "1e6", "x",
                                  "1,000_000"])
def test_parse_count_refuses_irregular(text: str) -> None:
    with pytest.raises(ExpectationError):
        parse_count(text)


def test_parse_expectations() -> None:
    got = parse_expectations(["Qualification=2,000,000", "Discovery=0",
                              "Proposal/Price Quote=3", "a=b=4"])
    assert got == [Expectation("Qualification", 2_000_000), Expectation("Discovery", 0),
                   Expectation("Proposal/Price Quote", 3), Expectation("a=b", 4)]


@pytest.mark.parametrize("arg", ["Qualification", "=5", "Qualification=", "Q=abc", "Q=-3"])
def test_parse_expectations_bad(arg: str) -> None:
    with pytest.raises(ExpectationError, match="bad --expect"):
        parse_expectations([arg])


def test_parse_expectations_duplicate_is_refused() -> None:
    with pytest.raises(ExpectationError, match="already expected"):
        parse_expectations(["Discovery=0", "discovery=1"])


def test_evaluate_non_strict_and_strict() -> None:
    exps = parse_expectations(["Qualification=10", "Discovery=0"])
    counts = {"qualification": 10, "Closed Lost": 3}
    rows = evaluate(exps, counts)
    assert [(r.value, r.expected, r.actual, r.difference, r.ok) for r in rows] == [
        ("qualification", 10, 10, 0, True), ("Discovery", 0, 0, 0, True),
        ("Closed Lost", None, 3, None, True)]
    strict = evaluate(exps, counts, strict=True)
    assert strict[-1].expected == 0 and strict[-1].difference == 3 and not strict[-1].ok
    assert not evaluate(exps, {"Qualification": 9})[0].ok


# --- partitions ---------------------------------------------------------------------------


def test_derive_partitions_matches_the_teams_ranges() -> None:
    parts, note = derive_partitions("externalOpp0000001", "externalOpp2000000", 10)
    assert note is None
    assert [p.upper for p in parts[:-1]] == [f"externalOpp{n:07d}"
                                             for n in range(200_001, 2_000_000, 200_000)]
    assert parts[0].lower is None and parts[-1].upper is None


def _covering(parts: list[Partition], value: str) -> list[Partition]:
    key = value.upper()
    return [p for p in parts
            if (p.lower is None or key >= p.lower.upper())
            and (p.upper is None or key < p.upper.upper())]


@given(st.integers(1, 10**6), st.integers(0, 10**6), st.integers(1, 40), st.data())
def test_derived_partitions_cover_each_value_exactly_once(lo: int, span: int, n: int,
                                                          data: st.DataObject) -> None:
    hi = lo + span
    parts, _ = derive_partitions(f"ext{lo:07d}", f"ext{hi:07d}", n)
    assert len(parts) <= n
    for v in [*data.draw(st.lists(st.integers(0, 10 ** 7 - 1), max_size=20)), lo, hi]:
        assert len(_covering(parts, f"ext{v:07d}")) == 1


def test_derive_partitions_unsplittable_is_one_open_partition() -> None:
    parts, note = derive_partitions("externalOpp0000001", "externalOpp_98", 10)
    assert parts == [Partition(None, None)]
    assert note and "--ranges" in note


def test_parse_ranges_team_notation_adds_open_ends() -> None:
    parts = parse_ranges("externalOpp0000001 to externalOpp0200001, "
                         "externalOpp0200001 to externalOpp0400001")
    assert [(p.lower, p.upper) for p in parts] == [
        (None, "externalOpp0000001"), ("externalOpp0000001", "externalOpp0200001"),
        ("externalOpp0200001", "externalOpp0400001"), ("externalOpp0400001", None)]
    assert parse_ranges("b,a") == parse_ranges("a..b")
    with pytest.raises(VerifyError):
        parse_ranges(" , ")


def test_partition_conditions_and_halves() -> None:
    p = Partition("externalOpp0000001", "externalOpp0000101")
    assert p.condition("F") == "F >= 'externalOpp0000001' AND F < 'externalOpp0000101'"
    assert Partition(None, None, null=True).condition("F") == "F = null"
    a, b = p.halves() or (None, None)
    assert a == Partition("externalOpp0000001", "externalOpp0000051")
    assert b == Partition("externalOpp0000051", "externalOpp0000101")
    assert Partition(None, "x1").halves() is None
    assert soql_string("O'Brien\\") == "'O\\'Brien\\\\'"


def test_datetimes() -> None:
    assert format_datetime(parse_datetime("2025-01-31T03:00:00+01:00")) == \
        "2025-01-31T02:00:00Z"
    assert format_datetime(parse_datetime("2025-01-31")) == "2025-01-31T00:00:00Z"
    assert format_datetime(datetime(2025, 1, 1, 0, 0, 0, 5000, tzinfo=timezone.utc)) == \
        "2025-01-01T00:00:00.005Z"
    with pytest.raises(VerifyError, match="ISO 8601"):
        parse_datetime("yesterday")


def test_summarize_jobs_orders_statuses() -> None:
    jobs = [{"Status": "Completed", "JobItemsProcessed": 400, "TotalJobItems": 400,
             "NumberOfErrors": 0},
            {"Status": "Processing", "JobItemsProcessed": 10, "TotalJobItems": 400,
             "NumberOfErrors": 2},
            {"Status": "Completed", "JobItemsProcessed": 5, "TotalJobItems": 5,
             "NumberOfErrors": None}]
    assert summarize_jobs(jobs) == [
        {"status": "Processing", "jobs": 1, "items_processed": 10, "total_items": 400,
         "errors": 2},
        {"status": "Completed", "jobs": 2, "items_processed": 405, "total_items": 405,
         "errors": 0}]


# --- masking, usage, errors ---------------------------------------------------------------


def test_mask_and_redact() -> None:
    token = "00D5g000004abcd!AQEAQFakeTokenValue1234567890"
    assert token not in redact.mask(token) and redact.mask(token).startswith("00D5")
    redact.register(token)
    text = f"Authorization: Bearer {token}"
    assert token not in redact.redact(text)
    assert redact.redact_obj({"a": [text]})["a"][0] == redact.redact(text)


def test_api_usage_from_headers() -> None:
    u = ApiUsage()
    for used in (101, 102, 105):
        r = requests.Response()
        r.headers["Sforce-Limit-Info"] = f"api-usage={used}/1000"
        u.observe(r)
    u.observe(requests.Response())  # an uncounted response (no header)
    assert u.to_json() == {"used_by_run": 5, "requests": 4, "counted": 3, "org_used": 105,
                           "org_max": 1000, "remaining": 895}


def _sf_error(cls: type, status: int, code: str, msg: str = "m") -> Exception:
    return cls("https://x/services/data/v59.0/query/", status, "query",  # type: ignore[no-any-return]
               [{"errorCode": code, "message": msg}])


def test_classify() -> None:
    assert classify(_sf_error(SalesforceGeneralError, 503, "SERVER_UNAVAILABLE")).transient
    assert classify(_sf_error(SalesforceMalformedRequest, 400, "UNABLE_TO_LOCK_ROW")).transient
    limit = classify(_sf_error(SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED"))
    assert limit is not None and not limit.transient
    assert not classify(_sf_error(SalesforceExpiredSession, 401, "INVALID_SESSION_ID")).transient
    assert classify(ValueError("x")) is None


def test_with_retry_retries_transient_only() -> None:
    slept: list[float] = []
    policy = RetryPolicy(attempts=4, base_delay=0.5, sleep=slept.append)
    calls = iter([_sf_error(SalesforceGeneralError, 503, "X"),
                  _sf_error(SalesforceMalformedRequest, 400, "UNABLE_TO_LOCK_ROW"), "done"])

    def fn() -> str:
        v = next(calls)
        if isinstance(v, Exception):
            raise v
        return v

    assert with_retry(fn, policy) == "done"
    assert slept == [0.5, 1.0] and policy.retried == 2

    n = 0

    def limit() -> None:
        nonlocal n
        n += 1
        raise _sf_error(SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED")

    with pytest.raises(VerifyError, match="REQUEST_LIMIT_EXCEEDED"):
        with_retry(limit, RetryPolicy(sleep=slept.append))
    assert n == 1


# --- retries over HTTP, against canned responses ------------------------------------------

URL = "https://retry.example.com"
QUERY = f"{URL}/services/data/v59.0/query/"
BODY = {"totalSize": 1, "done": True, "records": [
    {"attributes": {"type": "AggregateResult"}, "StageName": "Qualification", "cnt": 7}]}
HDR = {"Sforce-Limit-Info": "api-usage=10/1000"}


def _run(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict, str]:
    slept: list[float] = []
    code = main(["--instance-url", URL, "--access-token", "tok-123456789-abcdef",
                 "--expect", "Qualification=7", "--json", *extra], sleep=slept.append)
    out, err = capsys.readouterr()
    return code, json.loads(out), err


@pytest.mark.parametrize("first", [
    {"status": 503, "json": [{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}]},
    {"status": 400, "json": [{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "locked"}]},
    {"body": requests.exceptions.ConnectionError(
        "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))")},
])
@responses.activate
def test_transient_failure_is_retried(capsys: pytest.CaptureFixture[str],
                                      first: dict) -> None:
    responses.add(responses.GET, QUERY, **first)
    responses.add(responses.GET, QUERY, json=BODY, headers=HDR)
    code, doc, err = _run(capsys)
    assert (code, doc["retries"], err) == (0, 1, "")
    assert len(responses.calls) == 2


@responses.activate
def test_persistent_503_gives_up_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(5):
        responses.add(responses.GET, QUERY, status=503, body="Service Unavailable")
    code, doc, err = _run(capsys, "--retries", "2")
    assert code == 2 and len(responses.calls) == 3
    assert err.count("\n") == 1 and "HTTP_503" in err and "after 3 attempts" in err
    assert doc["error"]["code"] == "HTTP_503" and doc["exit_code"] == 2


@responses.activate
def test_request_limit_exceeded_is_never_retried(capsys: pytest.CaptureFixture[str]) -> None:
    responses.add(responses.GET, QUERY, status=403, headers={
        "Sforce-Limit-Info": "api-usage=1000/1000"}, json=[
        {"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}])
    code, doc, err = _run(capsys)
    assert code == 2 and len(responses.calls) == 1
    assert "REQUEST_LIMIT_EXCEEDED" in err and "remaining in the rolling 24 h window: 0 of " \
        "1,000" in err
    assert doc["api_calls"]["remaining"] == 0
