"""The SOQL grammar's LALR tables are cached on disk (issue 19, T3 item d): a second
process loads them instead of building them again (lark ``Lark.save``/``Lark.load``)."""

from __future__ import annotations

import os
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
    # An edited grammar gets its own file, and the old one is deleted once it is written
    # (review 5, finding 16); another grammar's file is kept.
    other = tmp_path / f"sosl-{'0' * 20}.lark-cache"
    other.write_bytes(b"x")
    P.cached_lark("soql", TEXT + "\n// edited\n", **OPTS)
    assert builds[0] == 2
    names = sorted(f.name for f in tmp_path.iterdir())
    assert len(names) == 2 and other.name in names and cache.name not in names


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


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes")
@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_a_directory_others_can_write_to_is_not_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    monkeypatch.setenv(P.GRAMMAR_CACHE_ENV, str(shared))
    assert P.grammar_cache_file("soql", TEXT) is None
    # a planted file there is never loaded: the grammar is built in memory
    builds = _count_builds(monkeypatch)
    assert P.cached_lark("soql", TEXT, **OPTS).parse("SELECT Id FROM Account")
    assert builds[0] == 1 and list(shared.iterdir()) == []
    shared.chmod(0o700)
    assert P.grammar_cache_file("soql", TEXT) is not None


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners")
def test_a_directory_of_another_owner_is_not_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(P.GRAMMAR_CACHE_ENV, str(tmp_path))
    me = os.getuid()
    monkeypatch.setattr(P.os, "getuid", lambda: me + 1)
    assert P.grammar_cache_file("soql", TEXT) is None


def test_the_default_location_is_the_users_cache_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the variable: $XDG_CACHE_HOME/sforg-sim, else ~/.cache/sforg-sim, made
    private (the suite itself runs with the variable set to a temporary directory by
    the root conftest.py, so it never writes to the real home)."""
    monkeypatch.delenv(P.GRAMMAR_CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = P.grammar_cache_file("soql", TEXT)
    assert path is not None and path.parent == tmp_path / "xdg" / "sforg-sim"
    assert path.name.startswith("soql-") and path.name.endswith(".lark-cache")
    if hasattr(os, "getuid"):
        assert path.parent.stat().st_mode & 0o777 == 0o700
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = P.grammar_cache_file("soql", TEXT)
    assert path is not None and path.parent == tmp_path / "home" / ".cache" / "sforg-sim"


def test_the_suite_runs_with_a_temporary_cache_directory() -> None:
    """The root conftest.py points the cache at a session directory (not ~/.cache)."""
    setting = os.environ.get(P.GRAMMAR_CACHE_ENV, "")
    assert setting
    if setting.lower() not in ("off", "0", "no", "false"):
        home_cache = Path.home() / ".cache" / "sforg-sim"
        assert Path(setting).resolve() != home_cache.resolve()
