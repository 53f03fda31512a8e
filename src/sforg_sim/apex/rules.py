"""Which rule a failure comes from: the names a replay report counts errors by.

A replay is only worth trusting if every failure it shows comes from a rule Salesforce
documents, or from something the user asked for (a fault, an opt-in assumption), and the
report says which. Every error a transaction meets is reduced to a short *rule key*
(:func:`rule_of`, :func:`rule_of_response`): ``CalloutException: uncommitted work
pending``, ``UNABLE_TO_LOCK_ROW``, ``HTTP 403 REQUEST_LIMIT_EXCEEDED`` ... and
:func:`source_of` names what the key comes from: the document (title, section, URL), an
injected fault, or an opt-in assumption. Keys with no entry in :data:`SOURCES` are
reported as "not classified" rather than guessed.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import AsyncException, CalloutException, LimitException, SalesforceError

__all__ = ["PENDING_WORK", "READ_TIMED_OUT", "SOURCES", "rule_of", "rule_of_response",
           "source_of"]

CALLOUT_DOC = ("Apex Developer Guide, \"Callout Limits and Limitations\", "
               "https://developer.salesforce.com/docs/atlas.en-us.210.0.apexcode.meta/apexcode/"
               "apex_callouts_timeouts.htm")
GOV_DOC = ("Apex Developer Guide, \"Execution Governors and Limits\" (Per-Transaction Apex "
           "Limits), https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/pages/"
           "apex_gov_limits.htm")
QUEUE_DOC = ("Apex Developer Guide, \"Queueable Apex\" (chain depth in Developer Edition), "
             "https://developer.salesforce.com/docs/atlas.en-us.254.0.apexcode.meta/apexref/"
             "apex_queueing_jobs.htm")

PENDING_WORK = "CalloutException: uncommitted work pending"
"""A callout after DML or async Apex in the same transaction."""
READ_TIMED_OUT = "CalloutException: Read timed out"
"""A callout that waited longer than its timeout (or the transaction's 120 s)."""

SOURCES: dict[str, str] = {
    PENDING_WORK: CALLOUT_DOC + ": \"You can't make a callout when there are pending "
    "operations in the same transaction\" (the exception text is the platform's, captured "
    "in public reports; the guide does not quote it)",
    READ_TIMED_OUT: CALLOUT_DOC + ": default timeout 10 s, maximum 120 s, 120 s cumulative "
    "per transaction (what makes the source slow is the cost model's callout latency or "
    "the injected fault 'slow')",
    "LimitException: Too many SOQL queries": GOV_DOC,
    "LimitException: Too many query rows": GOV_DOC,
    "LimitException: Too many DML statements": GOV_DOC,
    "LimitException: Too many DML rows": GOV_DOC,
    "LimitException: Too many callouts": GOV_DOC,
    "LimitException: Too many queueable jobs added to the queue": GOV_DOC,
    "LimitException: Apex CPU time limit exceeded": GOV_DOC + " (CPU comes only from "
    "the cost model's *_cpu figures, which are assumptions)",
    "AsyncException: Maximum stack depth has been reached.": QUEUE_DOC,
    "UNABLE_TO_LOCK_ROW": "injected fault 'lock' (transactions never overlap in the "
    "simulator, so no lock contention arises by itself)",
    "HTTP 503 SERVICE_UNAVAILABLE": "injected fault 'callout' (a transient 503)",
    "HTTP 403 REQUEST_LIMIT_EXCEEDED": "Limits Quick Reference, \"API Request Limits and "
    "Allocations\"; charging each Data Cloud callout to the org's DailyApiRequests is an "
    "assumption (source option charge_api, on by default, docs/fidelity.md A18)",
    "HTTP 400 NUMBER_OUTSIDE_VALID_RANGE": "opt-in assumption: the Data Cloud OFFSET cap "
    "(source option max_offset); no Salesforce document states one",
}
"""Rule key -> what it comes from."""

_NUMBER = re.compile(r":?\s*\d[\d,]*\s*$")


def rule_of(err: SalesforceError) -> str:
    """The rule key of an error raised in a transaction."""
    if isinstance(err, CalloutException):
        msg = err.message
        if msg.startswith("You have uncommitted work pending"):
            return PENDING_WORK
        if msg.startswith("Read timed out"):
            return READ_TIMED_OUT
        return "CalloutException"
    if isinstance(err, LimitException):
        return "LimitException: " + _NUMBER.sub("", err.message)
    if isinstance(err, AsyncException):
        return "AsyncException: " + err.message.split(":", 1)[0]
    return err.error_code


def rule_of_response(status: int, body: Any) -> str:
    """The rule key of a failed HTTP callout response (``HTTP 503 SERVICE_UNAVAILABLE``)."""
    code = ""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        code = str(body[0].get("errorCode", ""))
    return f"HTTP {status} {code}".rstrip()


def source_of(key: str) -> str:
    """What a rule key comes from (see :data:`SOURCES`)."""
    return SOURCES.get(key, "not classified: no documented rule recorded for this error")
