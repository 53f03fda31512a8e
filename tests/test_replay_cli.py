"""``sforg-sim replay`` through ``sforg_sim.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.cli import main

KEYS = {"ok", "verdict", "processor", "records", "processed", "duplicates", "skipped",
        "stages", "api_calls", "async_executions", "simulated_seconds", "outcome",
        "partitions"}
ENVELOPE = {"schema", "command", "status", "ok", "exit_code", "error"}


def _reports(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == ENVELOPE | {"reports"} and doc["command"] == "replay"
    assert doc["status"] == doc["exit_code"] == (0 if all(r["ok"] for r in doc["reports"])
                                                 else 1)
    return list(doc["reports"])


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--records", "2000", "--partitions", "4", "--json"]) == 0
    [out] = _reports(capsys)
    assert set(out) >= KEYS
    assert out["processor"] == "v2" and out["processed"] == 2000
    assert set(out["api_calls"]) == {"data", "total"}
    assert out["stages"] == {"Qualification": 2000}
    assert out["ok"] and out["verdict"].startswith("v2 (keyset paging): OK")
    assert len(out["partitions"]) == 4 and out["outcome"] == "completed"


def test_compare_gives_a_list_and_fails_when_one_run_fails(
        capsys: pytest.CaptureFixture[str]) -> None:
    # V1 on a source capped at OFFSET 2,000 loops over partitions of 5,000: it fails, so the
    # comparison exits 1 though V2 did its job.
    assert main(["replay", "--records", "10000", "--partitions", "2",
                 "--compare", "v1-offset-cap,v2", "--json"]) == 1
    out = _reports(capsys)
    assert [o["processor"] for o in out] == ["v1-offset-cap", "v2"]
    assert all(set(o) >= KEYS for o in out)
    assert [o["ok"] for o in out] == [False, True]
    assert out[0]["verdict"].startswith("v1-offset-cap (OFFSET paging")
    assert "FAILED — " in out[0]["verdict"] and "records never processed" in out[0]["verdict"]


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
    ["replay", "--api-remaining", "-1"],
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
    assert main(["replay", "--compare", "v1,v9"]) == 2
    err = capsys.readouterr().err.strip()
    assert "v9" in err and err.count("\n") == 0


def test_api_remaining_lets_v1_burn_a_small_quota(capsys: pytest.CaptureFixture[str]) -> None:
    # 30 calls left cannot page 10,000 records 500 at a time: the quota runs out first, the
    # job did not do its job, so the exit status is 1 and the verdict says why.
    assert main(["replay", "--records", "10000", "--partitions", "2",
                 "--processor", "v1-burn-quota", "--api-remaining", "30", "--json"]) == 1
    [out] = _reports(capsys)
    assert out["outcome"] == "request_limit_exceeded"
    assert out["api_calls"]["data"] == 30
    # This run's requests only: the 439,970 used before the run are not its own.
    assert out["api_calls"]["total"] == 30
    assert out["skipped"] > 0 and not out["ok"]
    assert "REQUEST_LIMIT_EXCEEDED" in out["verdict"]


def test_cost_flags_change_the_forecast_not_the_work(capsys: pytest.CaptureFixture[str]) -> None:
    # 2 chains of 1,000 records: dml_row 0.002 -> 0.04 adds 1,000 x 0.038 s to each chain;
    # job_start 5 -> 0 then takes 5 s off each of the 5 executions per chain.
    def run(*extra: str) -> dict[str, Any]:
        assert main(["replay", "--records", "2000", "--partitions", "2", "--json",
                     *extra]) == 0
        [report] = _reports(capsys)
        return report

    base = run()
    slow = run("--cost", "dml_row=0.04")
    fast = run("--cost", "dml_row=0.04", "--cost", "job_start=0")
    assert slow["simulated_seconds"] == pytest.approx(base["simulated_seconds"] + 38.0)
    assert fast["simulated_seconds"] == pytest.approx(slow["simulated_seconds"] - 25.0)
    for r in (slow, fast):
        assert (r["processed"], r["api_calls"], r["outcome"]) == \
            (base["processed"], base["api_calls"], base["outcome"])
