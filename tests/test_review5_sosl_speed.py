"""Review 5 follow-up, SOSL speed (issue 19 finding 14; fidelity SS5).

A common term on a large org used to tokenise every candidate row and hand every match
to SOQL. With no WHERE and no ORDER BY only the ``offset + limit`` smallest matching ids
can come back, so the candidates are read in Id order and tokenising stops at the last
one needed; the answers stay those of the reference path (the differential hypothesis
test in tests/test_sosl_speed_s5.py is the oracle).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sforg_sim import Org
from sforg_sim.sosl import engine as sosl_engine
from sforg_sim.sosl.engine import search, searched_fields


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org()
    o.insert("Account", [{"Name": f"Acme {i}"} for i in range(600)])
    yield o
    o.close()


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = sosl_engine.tokens

    def counting(value: object) -> list[str]:
        calls[0] += 1
        return real(value)

    monkeypatch.setattr(sosl_engine, "tokens", counting)
    return calls


@pytest.mark.parametrize("returning, rows", [
    ("Account(Name)", 250),                       # the one-object cap
    ("Account(Name LIMIT 7 OFFSET 3)", 10),
    ("Account(Name LIMIT 0)", 0),
])
def test_a_common_term_stops_tokenising_at_the_last_row_needed(
        org: Org, monkeypatch: pytest.MonkeyPatch, returning: str, rows: int) -> None:
    want = search(org.soql, org.schema, f"FIND {{Acme}} RETURNING {returning}",
                  reference=True)
    calls = _counting(monkeypatch)
    got = search(org.soql, org.schema, f"FIND {{Acme}} RETURNING {returning}")
    assert got == want
    per_row = len(searched_fields(org.schema.get("Account"), "ALL"))
    assert calls[0] == rows * per_row              # not 600 rows' worth


def test_order_by_stops_tokenising_too(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    # SQLite applies the ORDER BY to the candidates (tests/test_sosl_order_s5f.py): the
    # first candidate in that order is the match wanted, so one row is tokenised.
    calls = _counting(monkeypatch)
    (rows,) = search(org.soql, org.schema,
                     "FIND {Acme} RETURNING Account(Name ORDER BY Name DESC LIMIT 1)")
    assert [r["Name"] for r in rows] == ["Acme 99"]
    per_row = len(searched_fields(org.schema.get("Account"), "ALL"))
    assert calls[0] == 1 * per_row
