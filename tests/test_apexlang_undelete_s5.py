"""``undelete`` and ``merge`` (issue 15, item 4): the DML layer (``dml.py``) has neither,
so the statements and ``Database.undelete``/``Database.merge`` are compile errors naming
them at the keyword, never silently skipped."""

from __future__ import annotations

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import execute_anonymous


@pytest.mark.parametrize(("src", "where", "problem"), [
    ("Account a = new Account();\n  undelete a;", (2, 3), "undelete"),
    ("Account a; Account b;\n merge a b;", (2, 2), "merge"),
    ("undelete new Account();", (1, 1), "undelete"),
    ("merge new Account() new Account();", (1, 1), "merge"),
    ("Database.undelete(new Account());", (1, 10), "Database.undelete"),
    ("Database.merge(new Account(), new Account());", (1, 10), "Database.merge"),
])
def test_undelete_and_merge_are_refused_by_name(src: str, where: tuple[int, int],
                                                problem: str) -> None:
    res = execute_anonymous(Org(), src)
    assert not res.compiled
    assert res.compile_problem == f"Not supported by sforg-sim: {problem}"
    assert (res.line, res.column) == where
