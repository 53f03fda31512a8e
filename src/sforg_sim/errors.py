"""Salesforce errors, one class per real ``errorCode``.

Every failure the simulator reports is a :class:`SalesforceError` subclass carrying the real
error code, message, HTTP status and the fields involved, so the Python API, the REST layer
and record-level save results all speak the same vocabulary. Serialisation to the REST body
``[{"message", "errorCode", "fields"}]`` happens in exactly one place: :meth:`to_rest`.
Record-level errors (sObject Collections, the Python DML API) use ``statusCode`` instead of
``errorCode``: :meth:`to_save_error`.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AllOrNoneOperationRolledBack",
    "AsyncException",
    "CalloutException",
    "CannotInsertUpdateActivateEntity",
    "DuplicateExternalId",
    "DuplicateValue",
    "EntityIsDeleted",
    "ExceededIdLimit",
    "FieldIntegrityException",
    "InvalidCrossReferenceKey",
    "InvalidField",
    "InvalidFieldForInsertUpdate",
    "InvalidOrNullForRestrictedPicklist",
    "InvalidQueryFilterOperator",
    "InvalidQueryLocator",
    "InvalidSessionId",
    "InvalidType",
    "InvalidTypeOnFieldInRecord",
    "JsonParserError",
    "LimitException",
    "MalformedId",
    "MalformedQuery",
    "MethodNotAllowed",
    "MultipleRecordsFound",
    "NotFound",
    "NumberOutsideValidRange",
    "QueryTimeout",
    "QueryTooComplicated",
    "RequestLimitExceeded",
    "RequiredFieldMissing",
    "SalesforceError",
    "StringTooLong",
    "UnableToLockRow",
    "UsageError",
    "error_class",
]


class UsageError(ValueError):
    """A caller's mistake (an unknown scenario or processor name, a bad partition range,
    a malformed fault spec): not something Salesforce answers, so it carries no error
    code. The CLIs print its message on one line and exit 2."""


_REGISTRY: dict[str, type[SalesforceError]] = {}


class SalesforceError(Exception):
    """A Salesforce API error: ``error_code``, ``message``, HTTP ``status``, ``fields``.

    Subclasses fix ``error_code`` and the default ``status``; instances carry the message
    and the fields. Catch this base class to handle every simulated platform error.
    """

    error_code: ClassVar[str] = "UNKNOWN_EXCEPTION"
    status: int = 500

    def __init__(
        self, message: str, fields: list[str] | None = None, *, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = list(fields or [])
        if status is not None:
            self.status = status

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY.setdefault(cls.error_code, cls)

    def to_rest(self) -> list[dict[str, Any]]:
        """The REST error body: a JSON list with one error object."""
        return [{"message": self.message, "errorCode": self.error_code, "fields": self.fields}]

    def to_save_error(self) -> dict[str, Any]:
        """The record-level form used in SaveResults (``statusCode``, not ``errorCode``)."""
        return {"statusCode": self.error_code, "message": self.message, "fields": self.fields}

    def __str__(self) -> str:
        return f"{self.error_code}: {self.message}"


def error_class(code: str) -> type[SalesforceError]:
    """The class registered for ``code``; a fresh subclass for codes not modelled yet."""
    try:
        return _REGISTRY[code]
    except KeyError:
        return type(code.title().replace("_", ""), (SalesforceError,), {"error_code": code})


# --- query errors -------------------------------------------------------------------------


class MalformedQuery(SalesforceError):
    """SOQL that does not parse or breaks a SOQL rule (400)."""

    error_code = "MALFORMED_QUERY"
    status = 400


class MalformedSearch(SalesforceError):
    """SOSL that does not parse or breaks a SOSL rule (400). *SOQL and SOSL Reference*,
    "SOSL Syntax" names the code (statements over the length limit); captured responses
    use it for syntax errors in the same caret layout as MALFORMED_QUERY."""

    error_code = "MALFORMED_SEARCH"
    status = 400


class InvalidField(SalesforceError):
    """A field that does not exist on the object or cannot be used this way (400)."""

    error_code = "INVALID_FIELD"
    status = 400


class InvalidType(SalesforceError):
    """An sObject type that does not exist (400)."""

    error_code = "INVALID_TYPE"
    status = 400


class NumberOutsideValidRange(SalesforceError):
    """A number outside the allowed range, e.g. OFFSET above 2,000 (400)."""

    error_code = "NUMBER_OUTSIDE_VALID_RANGE"
    status = 400


class InvalidQueryFilterOperator(SalesforceError):
    """A filter value the field cannot take, e.g. a malformed id literal (400)."""

    error_code = "INVALID_QUERY_FILTER_OPERATOR"
    status = 400


class InvalidQueryLocator(SalesforceError):
    """A query cursor that expired, was never issued or was used up (400)."""

    error_code = "INVALID_QUERY_LOCATOR"
    status = 400


class QueryTimeout(SalesforceError):
    """The query ran for too long (400)."""

    error_code = "QUERY_TIMEOUT"
    status = 400


class QueryTooComplicated(SalesforceError):
    """A query Salesforce expands past its internal limits (400), e.g. "Query is either
    selecting too many fields or the filter conditions are too complicated."."""

    error_code = "QUERY_TOO_COMPLICATED"
    status = 400


# --- session and request errors ---------------------------------------------------------


class InvalidSessionId(SalesforceError):
    """Missing, unknown or expired session (401)."""

    error_code = "INVALID_SESSION_ID"
    status = 401


class RequestLimitExceeded(SalesforceError):
    """The org's rolling 24-hour API allocation is used up (403)."""

    error_code = "REQUEST_LIMIT_EXCEEDED"
    status = 403


class NotFound(SalesforceError):
    """The requested resource does not exist (404)."""

    error_code = "NOT_FOUND"
    status = 404


class MethodNotAllowed(SalesforceError):
    """HTTP method not allowed on the resource (405)."""

    error_code = "METHOD_NOT_ALLOWED"
    status = 405


class JsonParserError(SalesforceError):
    """A request body that is not valid JSON (400)."""

    error_code = "JSON_PARSER_ERROR"
    status = 400


class ExceededIdLimit(SalesforceError):
    """Too many records or ids in one request (400)."""

    error_code = "EXCEEDED_ID_LIMIT"
    status = 400


class MultipleRecordsFound(SalesforceError):
    """An external id matched more than one record (HTTP 300); ``ids`` are the matches."""

    error_code = "MULTIPLE_RECORDS"
    status = 300

    def __init__(self, message: str, ids: list[str]) -> None:
        super().__init__(message)
        self.ids = ids


# --- record-level (DML) errors ----------------------------------------------------------


class MalformedId(SalesforceError):
    """A record id that is not a valid 15- or 18-character id (400)."""

    error_code = "MALFORMED_ID"
    status = 400


class RequiredFieldMissing(SalesforceError):
    """A required field was not given on insert or set to null (400)."""

    error_code = "REQUIRED_FIELD_MISSING"
    status = 400


class DuplicateValue(SalesforceError):
    """A unique field's value is already used by another record (400)."""

    error_code = "DUPLICATE_VALUE"
    status = 400


class DuplicateExternalId(SalesforceError):
    """Upsert found more than one record for an external id (record-level form of 300)."""

    error_code = "DUPLICATE_EXTERNAL_ID"
    status = 300


class FieldIntegrityException(SalesforceError):
    """A value that breaks a field's integrity rule (400)."""

    error_code = "FIELD_INTEGRITY_EXCEPTION"
    status = 400


class InvalidOrNullForRestrictedPicklist(SalesforceError):
    """A value outside a restricted picklist (400)."""

    error_code = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    status = 400


class StringTooLong(SalesforceError):
    """A text value longer than the field's length (400)."""

    error_code = "STRING_TOO_LONG"
    status = 400


class CannotInsertUpdateActivateEntity(SalesforceError):
    """DML on an object that cannot be created or updated at all (400): real orgs answer
    ``entity type cannot be inserted: <label>`` / ``entity type cannot be updated:
    <label>`` (seen from REST and SOAP, e.g. for history and setup objects; the object's
    describe says ``createable``/``updateable`` false)."""

    error_code = "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    status = 400


class InvalidFieldForInsertUpdate(SalesforceError):
    """A read-only field (audit fields, Id on insert) given in DML (400)."""

    error_code = "INVALID_FIELD_FOR_INSERT_UPDATE"
    status = 400


class InvalidTypeOnFieldInRecord(SalesforceError):
    """A value of the wrong type for the field, e.g. text in a number field (400)."""

    error_code = "INVALID_TYPE_ON_FIELD_IN_RECORD"
    status = 400


class InvalidCrossReferenceKey(SalesforceError):
    """An id that names no record of the right type (400)."""

    error_code = "INVALID_CROSS_REFERENCE_KEY"
    status = 400


class EntityIsDeleted(SalesforceError):
    """The record is in the recycle bin (404 on REST reads, 400 in DML)."""

    error_code = "ENTITY_IS_DELETED"
    status = 404


class UnableToLockRow(SalesforceError):
    """Another transaction holds the row lock (400); transient, retryable."""

    error_code = "UNABLE_TO_LOCK_ROW"
    status = 400


class AllOrNoneOperationRolledBack(SalesforceError):
    """A record rolled back because another record of an allOrNone request failed."""

    error_code = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    status = 400


# --- Apex runtime -------------------------------------------------------------------------


class LimitException(SalesforceError):
    """System.LimitException: a governor limit was exceeded. Apex code cannot catch it."""

    error_code = "LIMIT_EXCEPTION"
    status = 500


class AsyncException(SalesforceError):
    """System.AsyncException, e.g. more than 100 jobs in the flex queue."""

    error_code = "ASYNC_EXCEPTION"
    status = 500


# --- REST surface (appended for rest/) ----------------------------------------------------


class UnsupportedMediaType(SalesforceError):
    """A request body in a content type the resource does not read (415)."""

    error_code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


class ProcessingHalted(SalesforceError):
    """A composite subrequest not run or rolled back because another one failed (400)."""

    error_code = "PROCESSING_HALTED"
    status = 400


class InvalidJobState(SalesforceError):
    """A Bulk API 2.0 job in the wrong state for the operation (409)."""

    error_code = "INVALIDJOBSTATE"
    status = 409


class InvalidJob(SalesforceError):
    """A Bulk API 2.0 job request that is not valid (400)."""

    error_code = "INVALIDJOB"
    status = 400


class LimitExceeded(SalesforceError):
    """A request over a per-request size limit, e.g. more than 25 composite subrequests."""

    error_code = "LIMIT_EXCEEDED"
    status = 400


class InvalidInput(SalesforceError):
    """A request whose parameters are missing or not valid (400)."""

    error_code = "INVALID_INPUT"
    status = 400


__all__ += ["InvalidInput", "InvalidJob", "InvalidJobState", "LimitExceeded",
            "ProcessingHalted", "UnsupportedMediaType"]


class CalloutException(SalesforceError):
    """System.CalloutException: a callout failed (Apex code may catch it)."""

    error_code = "CALLOUT_EXCEPTION"
    status = 500
