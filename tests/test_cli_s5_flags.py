"""``sforg-sim`` CLI conventions (review, session 5): every flag is honoured or refused
with one line and exit 2, never silently ignored.

- ``replay``/``serve --org-file`` with a flag that shapes a seeded org (``--records``,
  ``--edition``, ...) is refused; ``replay --org-file --storage file`` works on a copy;
- ``replay --api-remaining 0`` runs and ends at the first call with
  REQUEST_LIMIT_EXCEEDED;
- ``replay --compare v1,v1`` is refused (two identical runs under one name).
"""

from __future__ import annotations

import hashlib
import json
import threading
import types
from pathlib import Path
from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.cli import main
from sforg_sim.cli import replay as replay_cli
from sforg_sim.cli import serve as serve_cli

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "massive-upload"
CLASSES = EXAMPLE / "force-app" / "main" / "default" / "classes"


@pytest.fixture(scope="module")
def org_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved massive-upload org of 1,000 records."""
    path = tmp_path_factory.mktemp("s5") / "saved.sforg"
    org = Org()
    org.load_scenario("massive-upload", records=1000)
    org.save(path)
    org.close()
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error" in err and "Traceback" not in err, err
    return err


# --- (a) --org-file with the flags of a seeded org --------------------------------------


@pytest.mark.parametrize("flags", [["--records", "10"], ["--edition", "developer"],
                                   ["--licenses", "3"], ["--scenario", "massive-upload"],
                                   ["--edition", "developer", "--records", "5"]])
def test_replay_org_file_refuses_seeding_flags(
        org_file: Path, flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # The saved org has its own records, edition and licences: a typed flag that would
    # be ignored is refused instead, even when it repeats the default.
    assert main(["replay", "--org-file", str(org_file), *flags]) == 2
    err = _one_line_error(capsys)
    for flag in flags[::2]:
        assert flag in err
    assert "--org-file" in err


def test_replay_org_file_refusal_is_json_under_json(
        org_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--org-file", str(org_file), "--records", "10", "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == 2 and doc["error"]["code"] == "USAGE"
    assert "--records" in doc["error"]["message"]


def test_replay_org_file_keeps_seed(org_file: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    # --seed still means something with a saved org (it seeds the fault schedule).
    assert main(["replay", "--org-file", str(org_file), "--seed", "7", "--partitions", "2",
                 "--json"]) == 0
    [report] = json.loads(capsys.readouterr().out)["reports"]
    assert report["processed"] == 1000


@pytest.mark.parametrize("flags", [["--records", "10"], ["--seed", "3"],
                                   ["--edition", "unlimited"], ["--licenses", "1"],
                                   ["--scenario", "small"]])
def test_serve_org_file_refuses_seeding_flags(
        org_file: Path, flags: list[str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Were the flag ignored, the server would start: give it a stop already set, so the
    # test then fails (exit 0) instead of serving forever.
    stopped = threading.Event()
    stopped.set()
    shim = types.SimpleNamespace(Event=lambda: stopped, current_thread=threading.current_thread,
                                 main_thread=lambda: None)
    monkeypatch.setattr(serve_cli, "threading", shim)
    assert main(["serve", "--org-file", str(org_file), *flags]) == 2
    err = _one_line_error(capsys)
    assert flags[0] in err and "--org-file" in err


def test_replay_org_file_storage_file_works_on_a_copy(
        org_file: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # --storage file was ignored with --org-file (always read into memory); now the run
    # works on a file-backed copy, and the saved file is left exactly as it was.
    opened: list[tuple[Path, bool]] = []
    real_open = Org.open

    def spy(path: Any, *, in_memory: bool = False) -> Org:
        opened.append((Path(path), in_memory))
        return real_open(path, in_memory=in_memory)

    monkeypatch.setattr(replay_cli.Org, "open", spy)
    before = _digest(org_file)
    assert main(["replay", "--org-file", str(org_file), "--storage", "file",
                 "--compare", "v1,v2", "--partitions", "2", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)["reports"]
    assert [r["processed"] for r in reports] == [1000, 1000]
    assert len(opened) == 2  # one copy per run: the second starts from the saved state
    for path, in_memory in opened:
        assert not in_memory and path != org_file and path.suffix == ".sforg"
        assert not path.exists()  # the copy went with the run's temporary folder
    assert _digest(org_file) == before
    # The default still reads the file into memory.
    opened.clear()
    assert main(["replay", "--org-file", str(org_file), "--partitions", "2", "--json"]) == 0
    capsys.readouterr()
    assert opened == [(org_file, True)]


# --- (b) --api-remaining 0 ---------------------------------------------------------------


def test_api_remaining_zero_ends_at_the_first_call(
        capsys: pytest.CaptureFixture[str]) -> None:
    # No request left: the platform answers the first one with REQUEST_LIMIT_EXCEEDED
    # (docs/fidelity.md A9); the run did not do its job, so exit 1, and the report says why.
    assert main(["replay", "--records", "1000", "--partitions", "2",
                 "--api-remaining", "0", "--json"]) == 1
    [r] = json.loads(capsys.readouterr().out)["reports"]
    assert r["outcome"] == "request_limit_exceeded" and not r["ok"]
    assert r["api_calls"] == {"data": 0, "total": 0}
    assert r["processed"] == 0 and r["skipped"] == 1000
    assert any("REQUEST_LIMIT_EXCEEDED" in k for k in r["errors"])
    assert "REQUEST_LIMIT_EXCEEDED" in r["verdict"]
    assert "at its first request" in r["verdict"]


def test_api_remaining_zero_text_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--records", "500", "--partitions", "1",
                 "--api-remaining", "0"]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("v2 (keyset paging): FAILED")
    assert "REQUEST_LIMIT_EXCEEDED) at its first request" in first


def test_api_remaining_over_the_allocation_is_refused_before_seeding(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_seeding(*_: Any, **__: Any) -> Org:
        raise AssertionError("seeded before the flags were checked")

    monkeypatch.setattr(replay_cli, "build_org", no_seeding)
    assert main(["replay", "--edition", "developer", "--api-remaining", "15001"]) == 2
    err = _one_line_error(capsys)
    assert "--api-remaining 15,001" in err and "15,000" in err


def test_api_remaining_over_a_saved_orgs_allocation_names_the_flag(
        org_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--org-file", str(org_file), "--api-remaining",
                 "999999999"]) == 2
    assert "--api-remaining" in _one_line_error(capsys)


# --- (c) --compare naming a run twice -------------------------------------------------------


@pytest.mark.parametrize("compare", ["v1,v1", "v2, v1 ,v2", "v1-skip,v2,v1-skip"])
def test_compare_refuses_a_run_named_twice(
        compare: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_seeding(*_: Any, **__: Any) -> Org:
        raise AssertionError("seeded before the flags were checked")

    monkeypatch.setattr(replay_cli, "build_org", no_seeding)
    assert main(["replay", "--compare", compare]) == 2
    err = _one_line_error(capsys)
    assert "more than once" in err


def test_compare_refuses_apex_twice_under_one_name(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # 'apex' (the --start script) and 'apex:start_v2.apex' are the same run and report
    # under the same name.
    def no_seeding(*_: Any, **__: Any) -> Org:
        raise AssertionError("seeded before the flags were checked")

    monkeypatch.setattr(replay_cli, "build_org", no_seeding)
    assert main(["replay", "--apex-dir", str(CLASSES), "--start", "start_v2.apex",
                 "--compare", "apex,apex:start_v2.apex"]) == 2
    err = _one_line_error(capsys)
    assert "apex:start_v2.apex more than once" in err


# --- (e) more partitions than records: named by the flags, before seeding -----------------


@pytest.mark.parametrize("argv", [["--records", "0"], ["--records", "100", "--partitions",
                                                        "1000"]])
def test_more_partitions_than_records_is_refused_before_seeding(
        argv: list[str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_seeding(*_: Any, **__: Any) -> Org:
        raise AssertionError("seeded before the flags were checked")

    monkeypatch.setattr(replay_cli, "build_org", no_seeding)
    assert main(["replay", *argv]) == 2
    err = _one_line_error(capsys)
    assert "--partitions" in err and "--records" in err
