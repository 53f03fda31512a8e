"""``undelete`` and ``merge`` (issue 15, item 4). They were compile errors while the DML
layer had neither; now (session 5b, ``dml.Dml.undelete``/``merge``) they compile and run
(behaviour: ``test_dml_undelete_merge_s5.py`` and ``test_apexlang_gaps_s5b.py``), and what
the platform refuses at compile time is refused with its position."""

from __future__ import annotations

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import execute_anonymous


@pytest.mark.parametrize("src", [
    "Account a = new Account();\n  undelete a;",
    "Account a; Account b;\n merge a b;",
    "List<Database.UndeleteResult> r = Database.undelete(new List<Account>());",
    "Account a = new Account(); Database.MergeResult r = Database.merge(a, a, false);",
])
def test_undelete_and_merge_compile(src: str) -> None:
    res = execute_anonymous(Org(), src)
    assert res.compiled, (res.line, res.column, res.compile_problem)


def test_merge_of_an_object_that_does_not_merge_is_a_compile_error() -> None:
    # Only Account, Contact and Lead merge (SOAP API Developer Guide, "merge()").
    res = execute_anonymous(Org(), "Opportunity o = new Opportunity();\n  merge o o;")
    assert not res.compiled
    assert res.compile_problem == "DML operation Merge not allowed on Opportunity"
    assert (res.line, res.column) == (2, 9)
