"""The HTTPS server as a process: ``sforg-sim serve`` and its flags."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce

from sforg_sim import Org
from sforg_sim.rest import serve

LINES = ("SF_INSTANCE_URL", "SF_ACCESS_TOKEN", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")


def _start(args: list[str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    code = f"import sys; from sforg_sim.cli import main; sys.exit(main({args!r}))"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    found: dict[str, str] = {}
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while set(LINES) - set(found) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        key, sep, value = line.strip().partition("=")
        if sep and key in LINES:
            found[key] = value
    if set(LINES) - set(found):
        proc.kill()
        pytest.fail(f"serve printed {found}; stderr: {proc.communicate(timeout=10)[1]}")
    return proc, found


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()


def _client(env: dict[str, str]) -> Salesforce:
    s = requests.Session()
    s.trust_env = False
    s.verify = env["REQUESTS_CA_BUNDLE"]
    return Salesforce(instance_url=env["SF_INSTANCE_URL"],
                      session_id=env["SF_ACCESS_TOKEN"], session=s)


def test_serve_cli_seeds_prints_and_stops_on_interrupt() -> None:
    proc, env = _start(["serve", "--scenario", "small", "--records", "30", "--port", "0"])
    try:
        assert env["SF_INSTANCE_URL"].startswith("https://127.0.0.1:")
        assert not env["SF_INSTANCE_URL"].endswith(":0")
        assert env["REQUESTS_CA_BUNDLE"] == env["NODE_EXTRA_CA_CERTS"]
        assert Path(env["REQUESTS_CA_BUNDLE"]).read_text().startswith("-----BEGIN CERTIFICATE")
        sf = _client(env)
        assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 30
        assert sf.api_usage["api-usage"].used == 1
    finally:
        rc = _stop(proc)
    assert rc in (0, 130)
    assert not Path(env["REQUESTS_CA_BUNDLE"]).exists()  # the CA is thrown away


def test_serve_cli_opens_a_saved_org(tmp_path: Path) -> None:
    org = Org()
    org.insert("Account", [{"Name": "Saved Corp"}])
    org.set_api_remaining(10)
    path = tmp_path / "org.sqlite"
    org.save(path)
    org.close()
    proc, env = _start(["serve", "--org-file", str(path), "--port", "0"])
    try:
        sf = _client(env)
        assert sf.query("SELECT Name FROM Account")["records"][0]["Name"] == "Saved Corp"
        assert sf.limits()["DailyApiRequests"]["Remaining"] == 8  # usage came with the file
    finally:
        _stop(proc)


def test_server_binds_loopback_only() -> None:
    org = Org()
    with serve(org) as server:
        assert server._server is not None
        assert server._server.socket.getsockname()[0] == "127.0.0.1"
        r = requests.get(server.instance_url + "/services/data/", verify=server.ca_bundle_path)
        assert r.status_code == 200 and "Sforce-Limit-Info" not in r.headers
    assert os.path.exists(server.ca_bundle_path) is False


def test_serve_json_prints_one_envelope_then_serves() -> None:
    # --json on every command (issue 20): serve prints its connection details as one JSON
    # document in the common envelope, then serves.
    code = ("import sys; from sforg_sim.cli import main; "
            "sys.exit(main(['serve', '--scenario', 'small', '--records', '20', '--json']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    text, doc = "", None
    deadline = time.monotonic() + 60
    while doc is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        text += line
        try:
            doc = json.loads(text)
        except ValueError:
            continue
    try:
        assert doc is not None, text
        assert doc["command"] == "serve" and doc["status"] == 0
        env = doc["env"]
        assert set(LINES) <= set(env) and doc["credentials"]["SF_USERNAME"]
        sf = _client(env)
        assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 20
    finally:
        assert _stop(proc) == 0
