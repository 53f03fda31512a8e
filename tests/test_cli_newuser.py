"""What a new user trips on (issue 20): defaults, exit status, JSON envelope, help, early
checks of output paths, one-line errors, closed pipes, 80-column tables, the plot."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import verify.cli as verify_cli
from sforg_sim import Org, mock_org
from sforg_sim.cli import main
from sforg_sim.cli import replay as replay_cli
from sforg_sim.cli.common import DEFAULT_RECORDS
from sforg_sim.replay import PartitionReport, Report

ENVELOPE = {"schema", "command", "status", "ok", "exit_code", "error"}


# --- one default size, shown in --help ----------------------------------------------------

def test_one_default_size_for_every_command() -> None:
    assert DEFAULT_RECORDS == verify_cli.SIM_DEFAULT_RECORDS == 50_000
    args = verify_cli.build_parser("check").parse_args(["--sim", "--expect", "A=1"])
    assert verify_cli._sim_records(args) == 50_000
    small = verify_cli.build_parser("check").parse_args(["--sim", "--scenario", "small"])
    assert verify_cli._sim_records(small) is None  # the scenario's own size
    real = verify_cli.build_parser("check").parse_args(["--target-org", "prod"])
    assert verify_cli._sim_records(real) is None  # not --sim: nothing to seed


def test_seed_without_records_seeds_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= ENVELOPE and doc["command"] == "seed" and doc["status"] == 0
    assert doc["records"] == DEFAULT_RECORDS == sum(doc["stages"].values())


@pytest.mark.parametrize("command", ["seed", "replay", "serve"])
def test_help_shows_the_defaults(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default: 50,000 for massive-upload" in text
    assert "(default: enterprise)" in text
    if command == "replay":
        assert "(default: 10)" in text and "(default: 500)" in text
        assert "exit status:" in text and "sforg-sim[plot]" in text


# --- exit status and the verdict ----------------------------------------------------------

def _report(name: str, records: int, processed: int, outcome: str = "completed",
            calls: int = 594) -> Report:
    parts = [PartitionReport(i, f"externalOpp{i * 200_000 + 1:07d} to "
                                f"externalOpp{(i + 1) * 200_000 + 1:07d}",
                             200_000, processed // 10, 400, 400, "3 empty batches, stopped")
             for i in range(10)]
    return Report(processor=name, records=records, processed=processed, duplicates=0,
                  skipped=records - processed, stage_counts={"Qualification": processed},
                  api_calls={"data": calls, "total": calls}, async_executions=4000,
                  simulated_seconds=5400.0, outcome=outcome,  # type: ignore[arg-type]
                  partitions=parts)


def test_the_verdict_says_what_happened_in_words() -> None:
    v1 = _report("v1", 50_000, 30_000, "loop_detected", calls=594)
    assert replay_cli.verdict(v1) == ("v1 (OFFSET paging): FAILED — 20,000 of 50,000 records "
                                      "never processed; stopped: loop detected after 594 "
                                      "data calls")
    v2 = _report("v2", 50_000, 50_000)
    assert replay_cli.verdict(v2) == ("v2 (keyset paging): OK — every record processed once "
                                      "(50,000)")
    assert replay_cli.succeeded(v2) and not replay_cli.succeeded(v1)


def test_tables_fit_80_columns(monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    reports = [_report("v1", 2_000_000, 1_990_000, "loop_detected"),
               _report("v2", 2_000_000, 2_000_000)]
    replay_cli._print(reports)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("v1 (OFFSET paging): FAILED")  # the verdicts come first
    assert lines[1].startswith("v2 (keyset paging): OK")
    assert "…" not in out  # nothing truncated
    assert all(len(line) <= 80 for line in lines[2:])
    assert "0200001 to 0400001" in out and "199k (-1,000)" in out and "200k" in out


def test_time_axis_units() -> None:
    assert replay_cli.time_unit(90)[0] == "seconds"
    assert replay_cli.time_unit(40 * 60)[0] == "minutes"
    assert replay_cli.time_unit(5 * 3600)[0] == "hours"


def test_plot_has_a_title_legends_and_a_stop_marker(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import argparse

    import matplotlib.pyplot as plt

    reports = [_report("v1", 50_000, 30_000, "loop_detected"), _report("v2", 50_000, 50_000)]
    for r in reports:
        r.timeline = [(60.0 * i, min(r.processed, 5000 * i), 10 * i) for i in range(40)]
    saved: list[Any] = []
    real = plt.Figure.savefig

    def keep(fig: Any, *a: Any, **k: Any) -> None:
        saved.append(fig)
        real(fig, *a, **k)

    args = argparse.Namespace(org_file=None, scenario="massive-upload",
                              plot=str(tmp_path / "p.png"))
    with pytest.MonkeyPatch.context() as m:
        m.setattr(plt.Figure, "savefig", keep)
        replay_cli._plot(reports, args, io.StringIO() and _Quiet())
    [fig] = saved
    title = fig._suptitle.get_text()
    assert "massive-upload" in title and "50,000" in title and "v1, v2" in title
    ax1, ax2 = fig.axes
    assert ax1.get_legend() is not None and ax2.get_legend() is not None
    assert ax2.get_xlabel() == "simulated time (minutes)"
    assert any("stopped: loop detected" in t.get_text() for t in ax1.get_legend().texts)


class _Quiet:
    def print(self, *a: Any, **k: Any) -> None:
        """Swallow the console line."""


# --- checks before work, one-line errors, JSON errors -------------------------------------

def _no_replay(*a: Any, **k: Any) -> Any:
    raise AssertionError("the replay ran before the path was checked")


def test_save_org_into_a_missing_folder_fails_before_the_replay(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(replay_cli, "replay", _no_replay)
    target = tmp_path / "missing" / "after.sforg"
    assert main(["replay", "--records", "100", "--save-org", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such directory" in err


def test_plot_without_matplotlib_exits_2_naming_the_extra(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(replay_cli, "replay", _no_replay)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if absent
    assert main(["replay", "--records", "100", "--plot", str(tmp_path / "p.png")]) == 2
    assert "pip install 'sforg-sim[plot]'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["replay", "--compare", "v1,v9", "--json"],
                                  ["replay", "--page-size", "0", "--json"],
                                  ["seed", "--scenario", "nope", "--json"]])
def test_errors_are_json_on_stdout_under_json(argv: list[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == doc["status"] == 2 and not doc["ok"] and doc["error"]["message"]
    assert err.strip().count("\n") == 0


class _ClosedPipe(io.StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        raise io.UnsupportedOperation("no file descriptor")


def test_a_closed_pipe_ends_quietly(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["seed", "--scenario", "small", "--records", "5", "--json"]) == 141
    assert verify_cli.main(["--sim", "--scenario", "small", "--records", "5", "--json",
                            "--expect", "Prospecting=1"]) == 141
    assert capsys.readouterr().err == ""


def test_version_flags(capsys: pytest.CaptureFixture[str]) -> None:
    import sforg_sim

    for entry in (main, verify_cli.main):
        with pytest.raises(SystemExit) as e:
            entry(["--version"])
        assert e.value.code == 0
        assert sforg_sim.__version__ in capsys.readouterr().out


# --- verify-org's help, flags and errors --------------------------------------------------

def test_verify_help_is_plain_and_names_its_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        verify_cli.main(["--help"])
    text = capsys.readouterr().out
    assert "``" not in text and ":mod:" not in text
    assert text.startswith("usage: verify-org [check|limits|progress|reconcile]")
    with pytest.raises(SystemExit):
        verify_cli.main(["limits", "--help"])
    limits = capsys.readouterr().out
    assert "--min-remaining" in limits and "--where" not in limits and "--expect" not in limits


def test_o_is_short_for_target_org() -> None:
    args = verify_cli.build_parser("check").parse_args(["-o", "prod", "--expect", "A=1"])
    assert args.target_org == "prod"


@pytest.mark.parametrize(("extra", "words"), [
    (["--scenario", "nosuch"], "unknown scenario 'nosuch'"),
    (["--org-file", "NOTANORG"], "is not a saved sforg-sim org"),
])
def test_sim_refusals_are_one_plain_line(extra: list[str], words: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.sforg"
    junk.write_text("not a database")
    argv = ["--sim", *[str(junk) if a == "NOTANORG" else a for a in extra],
            "--expect", "Qualification=1"]
    assert verify_cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and words in err and "unexpected" not in err


def test_reconcile_writes_a_file_only_when_asked(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    org = Org()
    org.load_scenario("massive-upload", records=50)
    src = tmp_path / "src.csv"
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["External_ID__c", "StageName"])
        for i in range(1, 50):  # one record missing from the source: a mismatch
            w.writerow([f"externalOpp{i:07d}", "Qualification"])
    monkeypatch.chdir(tmp_path)
    with mock_org(org) as sim:
        base = ["reconcile", "--instance-url", sim.instance_url, "--access-token",
                sim.session_id, "--source", str(src), "--bulk-poll", "0"]
        assert verify_cli.main(base, sleep=lambda s: None) == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == ["src.csv"]
        assert "add --out FILE.csv" in capsys.readouterr().out
        assert verify_cli.main([*base, "--out", "m.csv"], sleep=lambda s: None) == 1
        assert "mismatches written to m.csv" in capsys.readouterr().out
        assert (tmp_path / "m.csv").read_text().startswith("kind,external_id,")
        missing = [*base, "--out", str(tmp_path / "nodir" / "m.csv")]
        assert verify_cli.main(missing, sleep=lambda s: None) == 2
        assert "no writable directory" in capsys.readouterr().err


def test_every_command_seeds_the_same_default_org() -> None:
    # One default for every command (serve used to seed the 300-record "small" scenario
    # while its --help said massive-upload).
    from sforg_sim.cli import build_parser

    parser = build_parser()
    for command in (["seed"], ["serve"], ["replay"], ["apex", "run", "--file", "x.apex"]):
        args = parser.parse_args(command)
        assert args.scenario == "massive-upload" and args.records is None, command


@pytest.mark.parametrize("argv", [
    [sys.executable, "-m", "verify.cli", "limits", "--sim", "--records", "1000"],
    [sys.executable, "-c", "import sys; from sforg_sim.cli import main; "
                           "sys.exit(main(['seed', '--records', '1000']))"],
    [sys.executable, "-c", "import sys; from sforg_sim.cli import main; "
                           "sys.exit(main(['replay', '--records', '1000']))"],
])
def test_a_closed_pipe_exits_141_not_1(argv: list[str]) -> None:
    # rich exits 1 on a closed stdout ("the check failed"); a reader that went away
    # (`| head`) must give 141, as Unix tools stopped by SIGPIPE do.
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before anything is written
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141, err.decode()
