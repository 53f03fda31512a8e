"""Apex conformance snippets (tests/apex_conformance/*.apex), one file per area.

Each case starts with ``//# title``; ``//> text`` lines are the expected USER_DEBUG
messages in order, ``//! text`` the start of the expected uncaught exception
(``Type: message``). Cases are written from the Apex Developer Guide examples cited in
:mod:`sforg_sim.apexlang.runtime` and :mod:`sforg_sim.apexlang.values`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import execute_anonymous

HERE = Path(__file__).parent / "apex_conformance"


def _cases() -> list[tuple[str, str, list[str], str | None]]:
    out = []
    for f in sorted(HERE.glob("*.apex")):
        for chunk in f.read_text(encoding="utf-8").split("//# ")[1:]:
            title, _, body = chunk.partition("\n")
            expect = [ln[4:] for ln in body.splitlines() if ln.startswith("//> ")]
            error = next((ln[4:] for ln in body.splitlines() if ln.startswith("//! ")), None)
            out.append((f"{f.stem}: {title.strip()}", body, expect, error))
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def org() -> Org:
    o = Org()
    o.load_scenario("small")
    return o


@pytest.mark.parametrize(("title", "source", "expect", "error"), CASES,
                         ids=[c[0] for c in CASES])
def test_conformance(org: Org, title: str, source: str, expect: list[str],
                     error: str | None) -> None:
    res = execute_anonymous(org, source)
    assert res.compiled, f"{title}: {res.line}:{res.column} {res.compile_problem}"
    messages = [line.split("|", 4)[4] for line in res.log]
    assert messages == expect
    if error is None:
        assert res.success, res.exception_message
    else:
        assert not res.success
        assert res.exception_message is not None
        assert res.exception_message.startswith(error), res.exception_message


def test_cases_found() -> None:
    assert len(CASES) >= 25
