"""``sforg-sim replay`` through ``sforg_sim.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.cli import main

KEYS = {"processor", "records", "processed", "duplicates", "skipped", "stage_counts",
        "api_calls", "async_executions", "simulated_seconds", "outcome", "partitions"}


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--records", "2000", "--partitions", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == KEYS
    assert out["processor"] == "v2" and out["processed"] == 2000
    assert set(out["api_calls"]) == {"data", "total"}
    assert out["stage_counts"] == {"Qualification": 2000}
    assert len(out["partitions"]) == 4 and out["outcome"] == "completed"


def test_compare_gives_a_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--records", "3000", "--compare", "v1,v2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [o["processor"] for o in out] == ["v1", "v2"]
    assert all(set(o) == KEYS for o in out)


def test_table_and_save_org(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "after.db"
    assert main(["replay", "--records", "1000", "--save-org", str(path)]) == 0
    assert "processed" in capsys.readouterr().out
    org = Org.open(path)
    assert org.query("SELECT COUNT() FROM Opportunity WHERE StageName = 'Qualification'")[
        "totalSize"] == 1000
    org.close()


@pytest.mark.parametrize("argv", [
    ["replay", "--processor", "v3"],
    ["replay", "--page-size", "0"],
    ["replay", "--page-size", "2001"],
    ["replay", "--partitions", "x"],
    ["replay", "--bogus"],
    ["replay", "--api-remaining", "0"],
    ["replay", "--cost", "nope=1"],
    ["replay", "--cost", "dml_row"],
    ["replay", "--cost", "dml_row=-1"],
    ["replay", "--cost", "dml_row=soon"],
    ["replay", "--cost", "dml_row=nan"],
])
def test_bad_flags_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error" in err


def test_bad_faults_and_compare(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--records", "100", "--faults", "nope:1"]) == 2
    assert "unknown fault kind 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["replay", "--compare", "v1,v9"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "v9" in err and err.count("\n") == 0


def test_api_remaining_lets_v1_burn_a_small_quota(capsys: pytest.CaptureFixture[str]) -> None:
    # Partitions of 5,000 pass the OFFSET cap, so V1 loops until the quota is gone.
    assert main(["replay", "--records", "10000", "--partitions", "2",
                 "--processor", "v1-burn-quota", "--api-remaining", "300", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "request_limit_exceeded"
    assert out["api_calls"]["data"] == 300
    assert out["api_calls"]["total"] == 440_000  # the whole allocation is used up
    assert out["skipped"] > 0


def test_cost_flags_change_the_forecast_not_the_work(capsys: pytest.CaptureFixture[str]) -> None:
    # 2 chains of 1,000 records: dml_row 0.002 -> 0.04 adds 1,000 x 0.038 s to each chain;
    # job_start 5 -> 0 then takes 5 s off each of the 5 executions per chain.
    def run(*extra: str) -> dict[str, Any]:
        assert main(["replay", "--records", "2000", "--partitions", "2", "--json",
                     *extra]) == 0
        return dict(json.loads(capsys.readouterr().out))

    base = run()
    slow = run("--cost", "dml_row=0.04")
    fast = run("--cost", "dml_row=0.04", "--cost", "job_start=0")
    assert slow["simulated_seconds"] == pytest.approx(base["simulated_seconds"] + 38.0)
    assert fast["simulated_seconds"] == pytest.approx(slow["simulated_seconds"] - 25.0)
    for r in (slow, fast):
        assert (r["processed"], r["api_calls"], r["outcome"]) == \
            (base["processed"], base["api_calls"], base["outcome"])
