"""The SOQL grammar's LALR tables are cached on disk (issue 19, T3 item d): a second
process loads them instead of building them again (lark ``Lark.save``/``Lark.load``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from sforg_sim.soql import parser as P

TEXT = resources.files("sforg_sim.soql").joinpath("grammar.lark").read_text(encoding="utf-8")
OPTS: dict[str, Any] = {"propagate_positions": True, "maybe_placeholders": False,
                        "lexer_callbacks": {"IDENT": P._check_ident}}


def _count_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    builds = [0]
    real = P.Lark

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *a: Any, **k: Any) -> None:
            builds[0] += 1
            super().__init__(*a, **k)

    Counting.load = real.load  # type: ignore[method-assign]
    monkeypatch.setattr(P, "Lark", Counting)
    return builds


def test_second_build_loads_the_cached_tables(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(P.GRAMMAR_CACHE_ENV, str(tmp_path))
    builds = _count_builds(monkeypatch)
    first = P.cached_lark("soql", TEXT, **OPTS)
    [cache] = list(tmp_path.iterdir())
    assert cache.name.startswith("soql-") and not cache.name.endswith(".tmp")
    second = P.cached_lark("soql", TEXT, **OPTS)
    assert builds[0] == 1
    # The loaded parser parses like the built one, keywords and callbacks included.
    for p in (first, second):
        tree = p.parse("SELECT Name FROM Account WHERE Name = 'x'")
        assert tree.children[0].data == "query"
    with pytest.raises(P._Reserved):
        second.parse("SELECT Id FROM Account WHERE Select = 1")
    # An edited grammar gets its own file.
    P.cached_lark("soql", TEXT + "\n// edited\n", **OPTS)
    assert len(list(tmp_path.iterdir())) == 2 and builds[0] == 2


def test_a_damaged_cache_file_is_rebuilt(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(P.GRAMMAR_CACHE_ENV, str(tmp_path))
    P.cached_lark("soql", TEXT, **OPTS)
    [cache] = list(tmp_path.iterdir())
    cache.write_bytes(b"not a pickle")
    builds = _count_builds(monkeypatch)
    p = P.cached_lark("soql", TEXT, **OPTS)
    assert builds[0] == 1 and p.parse("SELECT Id FROM Account")
    assert cache.read_bytes() != b"not a pickle"


def test_cache_off_and_unwritable_directory_build_as_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(P.GRAMMAR_CACHE_ENV, "off")
    assert P.grammar_cache_file("soql", TEXT) is None
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(P.GRAMMAR_CACHE_ENV, str(blocker / "sub"))
    assert P.grammar_cache_file("soql", TEXT) is None
    assert P.cached_lark("soql", TEXT, **OPTS).parse("SELECT Id FROM Account")
