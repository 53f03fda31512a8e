"""SOSL with a WHERE or an ORDER BY on a RETURNING object (issue 19 follow-up; fidelity SS5),
and Apex access-mode clauses in SOSL (fidelity SS1).

SQLite applies the object's WHERE and ORDER BY (``ORDER BY Id`` without one) to the
prefiltered candidates (``Engine.ordered_rows``); rows are tokenised in that order and
reading stops at the ``offset + limit``-th match (Id is the last ORDER BY key on every
path, so that order is total). The answers stay the reference path's
(``search(..., reference=True)``; the differential hypothesis test in
tests/test_sosl_speed_s5.py covers WHERE, ORDER BY, LIMIT and OFFSET together).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import execute_anonymous
from sforg_sim.apexlang.soqltext import split_soql
from sforg_sim.errors import MalformedSearch, SalesforceError
from sforg_sim.sosl import engine as sosl_engine
from sforg_sim.sosl.engine import search, searched_fields


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org()
    o.insert("Account", [{"Name": f"Acme {i}", "Industry": ("Energy", "Retail")[i % 2]}
                         for i in range(300)])
    yield o
    o.close()


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many values the engine tokenises (one per searched field per row)."""
    calls = [0]
    real = sosl_engine.tokens

    def counting(value: object) -> list[str]:
        calls[0] += 1
        return real(value)

    monkeypatch.setattr(sosl_engine, "tokens", counting)
    return calls


def _both(org: Org, sosl: str, **kw: Any) -> list[list[dict[str, Any]]]:
    """The fast answer, checked equal to the reference answer."""
    with org.lock:
        want = search(org.soql, org.schema, sosl, reference=True, **kw)
        got = search(org.soql, org.schema, sosl, **kw)
    assert got == want, sosl
    return got


def _per_row(org: Org) -> int:
    """Values tokenised per Account row (IN ALL FIELDS)."""
    return len(searched_fields(org.schema.get("Account"), "ALL"))


def test_where_stops_at_the_last_row_needed(org: Org,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    sosl = "FIND {Acme} RETURNING Account(Name WHERE Industry = 'Retail' LIMIT 4 OFFSET 1)"
    (rows,) = _both(org, sosl)
    # No ORDER BY: Id order (insertion order here), odd numbers are Retail.
    assert [r["Name"] for r in rows] == ["Acme 3", "Acme 5", "Acme 7", "Acme 9"]
    calls = _counting(monkeypatch)
    search(org.soql, org.schema, sosl)
    # SQLite dropped the Energy rows: the 5 rows read are the 5 matches needed.
    assert calls[0] == 5 * _per_row(org)


def test_order_by_stops_at_the_last_row_needed(org: Org,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    sosl = "FIND {Acme} RETURNING Account(Name ORDER BY Name DESC LIMIT 3 OFFSET 2)"
    (rows,) = _both(org, sosl)
    assert [r["Name"] for r in rows] == ["Acme 97", "Acme 96", "Acme 95"]
    calls = _counting(monkeypatch)
    search(org.soql, org.schema, sosl)
    assert calls[0] == 5 * _per_row(org)


def test_ties_on_the_order_by_keys_go_by_id(org: Org,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Every Energy row ties on the only ORDER BY key: Id decides among them on every
    # path (Salesforce leaves that order open), so the read still stops at the 2nd row.
    sosl = "FIND {Acme} RETURNING Account(Name ORDER BY Industry LIMIT 2 OFFSET 1)"
    (rows,) = _both(org, sosl)
    assert [r["Name"] for r in rows] == ["Acme 2", "Acme 4"]  # Energy: even numbers
    calls = _counting(monkeypatch)
    search(org.soql, org.schema, sosl)
    assert calls[0] == 3 * _per_row(org)


def test_the_prefilter_still_applies(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    org.insert("Account", [{"Name": "Needle Works", "Industry": "Retail"}])
    sosl = "FIND {needle} RETURNING Account(Name WHERE Industry != null ORDER BY Name)"
    (rows,) = _both(org, sosl)
    assert [r["Name"] for r in rows] == ["Needle Works"]
    calls = _counting(monkeypatch)
    search(org.soql, org.schema, sosl)
    assert calls[0] == 1 * _per_row(org)


def test_a_computed_name_field_is_read_through_the_query_alias(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    # Contact.Name is a formula over FirstName and LastName; the ORDER BY on a parent
    # field joins Account, so every column must name the Contact alias.
    acc = org.insert("Account", [{"Name": "Parent Co"}])[0]["id"]
    org.insert("Contact", [{"FirstName": "Zed", "LastName": f"Zeta{i:02d}",
                            "AccountId": acc if i % 2 else None} for i in range(20)])
    sosl = ("FIND {zed} IN NAME FIELDS RETURNING Contact(Name ORDER BY Account.Name "
            "NULLS LAST, LastName DESC LIMIT 3)")
    (rows,) = _both(org, sosl)
    assert [r["Name"] for r in rows] == ["Zed Zeta19", "Zed Zeta17", "Zed Zeta15"]
    calls = _counting(monkeypatch)
    search(org.soql, org.schema, sosl)
    assert calls[0] == 3 * len(searched_fields(org.schema.get("Contact"), "NAME"))


@pytest.mark.parametrize("returning", [
    "Account(Name WHERE Nope__c = 1 ORDER BY Name)",
    "Account(Name WHERE Name = 1)",
    "Account(Name ORDER BY Nope__c)",
    "Account(Name ORDER BY Description)",
])
def test_refused_clauses_keep_their_errors(org: Org, returning: str) -> None:
    sosl = f"FIND {{Acme}} RETURNING {returning}"
    errors = []
    for reference in (True, False):
        with pytest.raises(SalesforceError) as e:
            search(org.soql, org.schema, sosl, reference=reference)
        errors.append((type(e.value), e.value.message))
    assert errors[0] == errors[1]


def test_apex_binds_reach_the_where(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    sosl = "FIND 'Acme' RETURNING Account(Name WHERE Name = :wanted ORDER BY Name)"
    (rows,) = _both(org, sosl, apex=True, binds={"wanted": "Acme 42"})
    assert [r["Name"] for r in rows] == ["Acme 42"]
    with pytest.raises(SalesforceError):
        search(org.soql, org.schema, sosl, apex=True)  # the bind has no value


# --- Apex access-mode clauses in SOSL: only where a WITH clause stands --------------------


@pytest.mark.parametrize("sosl", [
    "FIND 'Acme 4*' IN ALL FIELDS RETURNING Account(Name ORDER BY Name) WITH USER_MODE",
    "FIND 'Acme 4*' RETURNING Account(Name ORDER BY Name) with system_mode LIMIT 20",
    "FIND 'Acme 4*' RETURNING Account(Name ORDER BY Name) WITH SPELL_CORRECTION = false "
    "WITH USER_MODE",
])
def test_an_access_mode_after_returning_is_accepted(org: Org, sosl: str) -> None:
    # "SOSL Syntax": [RETURNING FieldSpec] [WITH ...] [LIMIT n]; user mode is not
    # modelled, so the answer is the same as without the clause.
    split, _, _ = split_soql(f"[{sosl}]", search=True)
    assert "mode" in split.lower()  # kept for the SOSL parser, which checks the place
    with org.lock:
        (rows,) = search(org.soql, org.schema, split, apex=True)
    assert [r["Name"] for r in rows][:2] == ["Acme 4", "Acme 40"]


@pytest.mark.parametrize("sosl, token", [
    ("FIND 'Acme' IN ALL FIELDS WITH USER_MODE RETURNING Account(Name)", "RETURNING"),
    ("FIND 'Acme' RETURNING Account(Name) LIMIT 5 WITH USER_MODE", "WITH"),
    ("FIND 'Acme' RETURNING Account(Name WHERE Name != null WITH USER_MODE)", "WITH"),
    ("FIND 'Acme' WITH SYSTEM_MODE", "WITH"),
    ("FIND 'Acme' RETURNING Account(Name), WITH USER_MODE Contact", "WITH"),
])
def test_an_access_mode_anywhere_else_is_malformed(org: Org, sosl: str,
                                                   token: str) -> None:
    split, _, _ = split_soql(f"[{sosl}]", search=True)
    with pytest.raises(MalformedSearch) as e, org.lock:
        search(org.soql, org.schema, split, apex=True)
    assert token in e.value.message


def test_inline_sosl_with_user_mode_in_apex(org: Org) -> None:
    ok = ("List<List<SObject>> r = [FIND 'Acme 42' RETURNING Account(Name) WITH USER_MODE];\n"
          "System.debug(((Account) r[0][0]).Name);\n")
    res = execute_anonymous(org, ok)
    assert res.success, (res.compile_problem, res.exception_message)
    assert [ln.split("|", 4)[4] for ln in res.log] == ["Acme 42"]
    bad = "List<List<SObject>> r = [FIND 'Acme' WITH USER_MODE RETURNING Account(Name)];\n"
    res = execute_anonymous(org, bad)
    assert not res.success and "RETURNING" in (res.compile_problem or "")


@pytest.mark.parametrize("clause", ["FOR UPDATE", "FOR VIEW", "FOR REFERENCE", "ALL ROWS"])
def test_soql_only_tail_clauses_do_not_compile_in_inline_sosl(clause: str) -> None:
    # SOSL's syntax has no FOR ... or ALL ROWS clause ("SOSL Syntax"); they used to be
    # stripped from inline SOSL wherever they stood, which is kinder than a deploy.
    org = Org()
    res = org.apex.execute_anonymous(
        f"List<List<SObject>> r = [FIND 'Acme' RETURNING Account(Name) {clause}];")
    assert not res.compiled, res
    assert "ERROR at Row:1:Column:" in str(res.compile_problem), res.compile_problem
