"""``sforg-sim serve`` and ``clock``: bad inputs found in review (session 5) give one line
and exit 2, before any seeding, instead of a traceback, the HTTP server's own exit 1, a
port silently wrapped round (99999 bound 34463) or a save lost when the server stops."""

from __future__ import annotations

import socket
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest

from sforg_sim.cli import main
from sforg_sim.cli import serve as serve_cli


@pytest.fixture
def no_seeding_no_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeding fails the test (the input must be refused first); were it reached anyway,
    the server's stop is already set, so a missing check fails instead of hanging."""
    def no_seeding(*_: Any, **__: Any) -> Any:
        raise AssertionError("seeded before the flags were checked")

    stopped = threading.Event()
    stopped.set()
    monkeypatch.setattr(serve_cli, "build_org", no_seeding)
    monkeypatch.setattr(serve_cli, "threading", types.SimpleNamespace(
        Event=lambda: stopped, current_thread=threading.current_thread,
        main_thread=lambda: None))


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error" in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http"])
def test_serve_port_out_of_range(port: str, capsys: pytest.CaptureFixture[str],
                                 no_seeding_no_serving: None) -> None:
    with pytest.raises(SystemExit) as e:
        main(["serve", "--port", port])
    assert e.value.code == 2
    assert "--port" in _one_line(capsys)


def test_serve_host_that_does_not_resolve(capsys: pytest.CaptureFixture[str],
                                          no_seeding_no_serving: None) -> None:
    assert main(["serve", "--host", "256.1.1.1"]) == 2
    err = _one_line(capsys)
    assert err.startswith("sforg-sim: error: --host 256.1.1.1: cannot resolve")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_serve_port_in_use(busy_port: int, capsys: pytest.CaptureFixture[str],
                           no_seeding_no_serving: None) -> None:
    assert main(["serve", "--port", str(busy_port)]) == 2
    err = _one_line(capsys)
    assert f"--port {busy_port}: cannot listen there" in err


def test_serve_save_on_exit_into_a_missing_folder(
        tmp_path: Any, capsys: pytest.CaptureFixture[str],
        no_seeding_no_serving: None) -> None:
    # It used to be found out only when the server stopped, losing the served org.
    target = tmp_path / "missing" / "after.sforg"
    assert main(["serve", "--save-on-exit", str(target)]) == 2
    assert "--save-on-exit" in _one_line(capsys)


@pytest.mark.parametrize("seconds", ["inf", "nan", "-1"])
def test_clock_advance_needs_finite_seconds(seconds: str,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    def no_request(*_: Any, **__: Any) -> Any:
        raise AssertionError("sent a request for a bad --seconds")

    monkeypatch.setattr(requests, "post", no_request)
    assert main(["clock", "advance", "--seconds", seconds, "--instance-url",
                 "https://127.0.0.1:9", "--access-token", "t"]) == 2
    assert "--seconds must be a finite number >= 0" in _one_line(capsys)
