"""Compile errors of the Apex runtime (what a deploy or executeAnonymous reports)."""

from __future__ import annotations

__all__ = ["ApexCompileError"]


class ApexCompileError(Exception):
    """A compile problem at ``line``:``column`` (1-based), worded as Salesforce words it
    where the wording is known (``Variable does not exist: x``), or ``Not supported by
    sforg-sim: ...`` for a construct this runtime does not run."""

    def __init__(self, problem: str, line: int, column: int) -> None:
        super().__init__(f"Line: {line}, Column: {column}: {problem}")
        self.problem = problem
        self.line = line
        self.column = column
