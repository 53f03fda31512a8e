"""Issue 21: the per-page Python of an update, cut without changing any result.

Each distinct string of a text column is coerced once per call, and records with no
nested external-Id reference skip the per-value Mapping check. The results (SaveResults,
errors, stored values, history rows) stay those of the plain record-by-record checks.
"""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim import dml as dml_mod
from sforg_sim.schema import Field


def _opps(org: Org, n: int) -> list[str]:
    res = org.insert("Opportunity", [{"Name": f"O{i}", "StageName": "Prospecting",
                                      "CloseDate": "2026-01-01"} for i in range(n)])
    return [r["id"] for r in res]


def test_equal_strings_of_a_page_are_coerced_once(monkeypatch: pytest.MonkeyPatch) -> None:
    org = Org()
    ids = _opps(org, 50)
    calls: list[Any] = []
    real = Field.coerce

    def counting(self: Field, value: Any) -> Any:
        if self.name == "StageName":
            calls.append(value)
        return real(self, value)

    monkeypatch.setattr(Field, "coerce", counting)
    out = org.update("Opportunity", [{"Id": i, "StageName": "Qualification" if k % 2
                                      else "Discovery"} for k, i in enumerate(ids)])
    assert all(r["success"] for r in out)
    assert sorted(calls) == ["Discovery", "Qualification"]  # not 50 calls
    rows = dict(org.store.select(org.schema.get("Opportunity"), ["Id", "StageName"]))
    assert [rows[i] for i in ids] == ["Qualification" if k % 2 else "Discovery"
                                      for k in range(50)]
    hist = org.store.select(org.schema.get("OpportunityHistory"), ["StageName"],
                            '"StageName" IN (\'Qualification\', \'Discovery\')')
    assert len(hist) == 50


@pytest.mark.parametrize("values", [
    ["Qualification", "Qualification", None, ""],
    ["Qualification", "x" * 300, "Qualification"],  # too long: raises on its first use
    [1, 1.5, "Discovery", "Discovery"],
    [True, "Discovery"],
])
def test_coerce_column_equals_the_plain_loop(values: list[Any]) -> None:
    f = Org().schema.get("Opportunity").get("StageName")
    assert f is not None

    def outcome(fn: Any) -> Any:
        try:
            return ("ok", fn())
        except Exception as e:  # compare whatever the plain loop raises
            return ("error", type(e).__name__, str(e))

    assert outcome(lambda: dml_mod._coerce_column(f, values)) == \
        outcome(lambda: [f.coerce(v) for v in values])


def test_plain_records_skip_the_reference_scan() -> None:
    plain = [{"Id": "006000000000001AAA", "StageName": "Qualification", "Amount": 1.5,
              "IsPrivate": False, "Description": None}]
    assert dml_mod._plain(plain)
    assert dml_mod._plain([])
    assert not dml_mod._plain([*plain, {"Id": "x", "Account": {"External_ID__c": "A"}}])
    assert not dml_mod._plain([*plain, {"Id": "x", "Tags": ["a"]}])  # a list: the long way


def test_a_nested_reference_is_still_resolved() -> None:
    org = Org()
    org.insert("Account", [{"Name": "Acme"}])
    acct = org.store.select(org.schema.get("Account"), ["Id"])[0][0]
    [oid] = _opps(org, 1)
    out = org.update("Opportunity", [{"Id": oid, "Account": {"Id": acct}}])
    assert out[0]["success"], out
    got = org.store.select(org.schema.get("Opportunity"), ["AccountId"], '"Id" = ?', [oid])
    assert got == [(acct,)]
