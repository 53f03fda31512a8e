"""``sforg-sim clock`` against a running HTTPS server (issue 17's clock command)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.cli import main
from sforg_sim.rest import serve


@pytest.fixture
def server() -> Iterator[Any]:
    org = Org()
    with serve(org, run_jobs=False) as s:
        yield s


def _flags(s: Any) -> list[str]:
    return ["--instance-url", s.instance_url, "--access-token", s.access_token,
            "--ca-bundle", s.ca_bundle_path, "--json"]


def test_clock_advance_to_a_time_of_day_and_show(server: Any,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clock", "show", *_flags(server)]) == 0
    before = json.loads(capsys.readouterr().out)["clock"]["now"]
    assert main(["clock", "advance", "--to", "02:00", *_flags(server)]) == 0
    after = json.loads(capsys.readouterr().out)["clock"]["now"]
    assert after[11:16] == "02:00" and after > before


def test_clock_advance_by_seconds(server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    main(["clock", "show", *_flags(server)])
    before = json.loads(capsys.readouterr().out)["clock"]["now"]
    assert main(["clock", "advance", "--seconds", "3600", *_flags(server)]) == 0
    after = json.loads(capsys.readouterr().out)["clock"]["now"]
    assert int(after[11:13]) == (int(before[11:13]) + 1) % 24


def test_clock_errors_are_one_line(server: Any, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["clock", "advance", "--to", "25:99", *_flags(server)]) == 2
    assert "refused" in capsys.readouterr().out
    monkeypatch.delenv("SF_INSTANCE_URL", raising=False)
    monkeypatch.delenv("SF_ACCESS_TOKEN", raising=False)
    assert main(["clock", "show"]) == 2
    err = capsys.readouterr().err
    assert "no server" in err and err.count("\n") == 1
