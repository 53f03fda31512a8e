"""``sforg-sim seed``: the main job until the replay exists, and the CLI's error contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from sforg_sim import Org
from sforg_sim.cli import main


def test_seed_prints_stage_counts_and_saves(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "seeded.sforg"
    assert main(["seed", "--scenario", "massive-upload", "--records", "1,000",
                 "--org-file", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1,000" in out and "Qualification" not in out
    org = Org.open(path)
    counts = org.query("SELECT StageName, COUNT(Id) cnt FROM Opportunity GROUP BY StageName")
    assert sum(r["cnt"] for r in counts["records"]) == 1000
    for r in counts["records"]:
        assert f"{r['cnt']:,}" in out


@pytest.mark.parametrize("argv", [
    ["seed", "--records", "-5"],
    ["seed", "--records", "many"],
    ["seed", "--scenario", "nope"],
    ["seed", "--edition", "platinum"],
    ["frobnicate"],
    [],
])
def test_bad_flags_give_one_line_and_exit_2(argv: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sforg-sim")


def test_unwritable_org_file_is_a_one_line_error(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing-dir" / "x.sforg"
    assert main(["seed", "--scenario", "small", "--records", "10",
                 "--org-file", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0]


def test_opening_something_that_is_not_an_org_file(tmp_path: Path) -> None:
    from sforg_sim.errors import NotFound

    junk = tmp_path / "junk.sforg"
    junk.write_text("not a database")
    with pytest.raises(OSError, match="is not a saved sforg-sim org"):
        Org.open(junk)
    with pytest.raises(NotFound):
        Org.open(tmp_path / "absent.sforg")
