"""Compile errors of the Apex runtime (what a deploy or executeAnonymous reports), and the
failure that stands for a bug of the runtime itself."""

from __future__ import annotations

from ..errors import SalesforceError

__all__ = ["ApexCompileError", "InternalError"]


class ApexCompileError(Exception):
    """A compile problem at ``line``:``column`` (1-based), worded as Salesforce words it
    where the wording is known (``Variable does not exist: x``), or ``Not supported by
    sforg-sim: ...`` for a construct this runtime does not run."""

    def __init__(self, problem: str, line: int, column: int) -> None:
        super().__init__(f"Line: {line}, Column: {column}: {problem}")
        self.problem = problem
        self.line = line
        self.column = column


class InternalError(SalesforceError):
    """A Python exception of sforg-sim's own code (the runtime, its standard library, the
    engine) while Apex ran: a bug of the simulator, never of the Apex code.

    executeAnonymous and the async job wrappers turn it into a failed result, "Internal
    error in sforg-sim: <type>: <message>; please report" with the Apex line and column
    where it happened (when known), instead of letting a Python traceback escape. Apex
    code cannot catch it: it is made where the Apex code's own frames have already
    unwound (``api.ApexRuntime._run_anonymous``, ``jobs.transaction``). As a
    ``SalesforceError`` it fails an async job through the engine's usual path
    (AsyncApexJob Failed, ``ExtendedStatus`` "First error: Internal error in sforg-sim:
    ..."). Its code is the one Salesforce answers its own internal errors with,
    ``UNKNOWN_EXCEPTION`` (``SalesforceError``'s default)."""

    error_code = "UNKNOWN_EXCEPTION"

    def __init__(self, message: str, fields: list[str] | None = None, *,
                 status: int | None = None, line: int = 0, column: int = 0) -> None:
        super().__init__(message, fields, status=status)
        self.line = line
        self.column = column

    @classmethod
    def wrap(cls, e: BaseException, line: int = 0, column: int = 0) -> InternalError:
        """The internal error for Python exception ``e``, raised at Apex ``line``:``column``
        (0: not in Apex code)."""
        where = f" (Apex line {line}, column {column})" if line else ""
        return cls(f"Internal error in sforg-sim: {type(e).__name__}: {e}; please report"
                   f"{where}", line=line, column=column)
