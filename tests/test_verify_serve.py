"""verify-org as a console script (subprocess) against the simulator's HTTPS server:
``sforg-sim serve`` in its own process, ``serve(org)`` in this one, and ``--sim``.

The V2 replay is not available yet: the "after the run" org is made in test setup with
``org.update`` (public API) and saved with ``org.save``, then served or opened by --sim.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sforg_sim import Org
from sforg_sim.rest import serve

VERIFY = shutil.which("verify-org") or ""
SFORG = shutil.which("sforg-sim") or ""
pytestmark = pytest.mark.skipif(not (VERIFY and SFORG), reason="console scripts not installed")
N = 1000


def _counts(org: Org) -> dict[str, int]:
    body = org.query("SELECT StageName, COUNT(Id) cnt FROM Opportunity "
                     "WHERE External_ID__c LIKE 'externalOpp%' GROUP BY StageName")
    return {r["StageName"]: r["cnt"] for r in body["records"]}


def _after_run(org: Org) -> None:
    ids = [r["Id"] for r in org.query_records("SELECT Id FROM Opportunity")]
    for i in range(0, len(ids), 200):
        assert all(r["success"] for r in org.update(
            "Opportunity", [{"Id": x, "StageName": "Qualification"} for x in ids[i:i + 200]]))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
    env.update(extra)
    return env


def verify(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    p = subprocess.run([VERIFY, *args], capture_output=True, text=True, timeout=120,
                       env=env if env is not None else _env())
    return p.returncode, p.stdout, p.stderr


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("verify-org: error: "), err
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def org_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, int]]:
    """(before-run file, after-run file, before-run stage counts)."""
    d = tmp_path_factory.mktemp("orgs")
    org = Org()
    org.load_scenario("massive-upload", records=N)
    before = _counts(org)
    org.save(d / "before.db")
    _after_run(org)
    org.save(d / "after.db")
    return d / "before.db", d / "after.db", before


@pytest.fixture(scope="module")
def served_cli() -> Iterator[dict[str, str]]:
    """``sforg-sim serve`` in a subprocess; the environment lines it prints."""
    proc = subprocess.Popen([SFORG, "serve", "--scenario", "massive-upload", "--records",
                             str(N)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    env: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        while "REQUESTS_CA_BUNDLE" not in env:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "server exited"
            if "=" in line and not line.startswith("#"):
                k, _, v = line.strip().partition("=")
                env[k] = v
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_sforg_sim_serve_before_the_run(served_cli: dict[str, str]) -> None:
    org = Org()
    org.load_scenario("massive-upload", records=N)  # same scenario, same seed: same data
    truth = _counts(org)
    env = _env(**served_cli)
    code, out, err = verify("--expect", f"Qualification={N}", "--expect", "Discovery=0",
                            "--json", env=env)
    doc = json.loads(out)
    assert code == 1 and err == ""
    got = {r["value"]: (r["expected"], r["actual"]) for r in doc["rows"]}
    assert got["Qualification"] == (N, 0) and got["Discovery"] == (0, truth["Discovery"])
    assert served_cli["SF_ACCESS_TOKEN"] not in out
    # The same numbers as expectations: exit 0, strict too.
    args = [f"--expect={k}={v}" for k, v in truth.items()]
    assert verify(*args, "--strict", env=env)[0] == 0
    # QUERY_TIMEOUT cannot be injected into another process: --partitions takes the same
    # partitioned path over real HTTPS.
    code, out, _ = verify(*args, "--partitions", "4", "--json", env=env)
    doc = json.loads(out)
    assert code == 0 and [p["total"] for p in doc["partitions"]] == [250, 250, 250, 250]


def test_sforg_sim_serve_error_paths(served_cli: dict[str, str]) -> None:
    env = _env(**served_cli)
    bad = _env(REQUESTS_CA_BUNDLE=served_cli["REQUESTS_CA_BUNDLE"],
               SF_INSTANCE_URL=served_cli["SF_INSTANCE_URL"],
               SF_ACCESS_TOKEN="00D000000000001!AQnotavalidtoken00000000")
    code, out, err = verify("--expect", "Qualification=1", env=bad)
    assert code == 2 and "INVALID_SESSION_ID" in one_line(err) and out == ""
    assert "AQnotavalidtoken" not in err
    code, _, err = verify("--expect", "Qualification=1", "--where", "Name = ", env=env)
    assert code == 2 and "MALFORMED_QUERY" in one_line(err)
    code, _, err = verify("--expect", "Qualification", env=env)
    assert code == 2 and "bad --expect" in one_line(err)
    code, out, _ = verify("limits", "--json", env=env)
    assert code == 0 and json.loads(out)["limits"]["DailyApiRequests"]["max"] == 440_000


def test_unreachable_host_and_no_credentials() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = verify("--expect", "Q=1", "--timeout", "5",
                          env=_env(SF_INSTANCE_URL=f"https://127.0.0.1:{port}",
                                   SF_ACCESS_TOKEN="tok-abcdefghijkl"))
    assert code == 2 and "cannot reach" in one_line(err)
    code, _, err = verify("--expect", "Q=1")
    assert code == 2 and "no credentials" in one_line(err)


def test_in_process_server_after_the_run(org_files: tuple[Path, Path, dict[str, int]],
                                         tmp_path: Path) -> None:
    org = Org.open(org_files[1], in_memory=True)
    with serve(org) as server:
        env = _env(SF_INSTANCE_URL=server.instance_url, SF_ACCESS_TOKEN=server.access_token,
                   REQUESTS_CA_BUNDLE=server.ca_bundle_path)
        code, out, err = verify("--expect", f"Qualification={N:,}", "--expect",
                                "Discovery=0", "--expect", "Negotiation=0", "--strict",
                                "--json", env=env)
        assert (code, err) == (0, ""), err
        calls = json.loads(out)["api_calls"]
        assert calls["used_by_run"] == 1 and calls["org_max"] == 440_000
        src = tmp_path / "src.csv"
        src.write_text("External_ID__c,StageName\n" + "".join(
            f"externalOpp{i:07d},{'Discovery' if i == 3 else 'Qualification'}\n"
            for i in range(1, N + 1)))
        code, out, _ = verify("reconcile", "--source", str(src), "--out",
                              str(tmp_path / "m.csv"), "--bulk-poll", "0", "--json", env=env)
        rec = json.loads(out)["reconcile"]
        assert code == 1 and rec["mismatches"]["wrong_value"] == 1 and rec["matched"] == N - 1


def test_sim_flag_with_org_files(org_files: tuple[Path, Path, dict[str, int]]) -> None:
    before, after, truth = org_files
    code, out, _ = verify("--sim", "--org-file", str(after), "--expect",
                          f"Qualification={N}", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["org"]["source"].startswith("simulator (org file")
    code, out, _ = verify("--sim", "--org-file", str(before), "--expect",
                          f"Qualification={N}", "--json")
    assert code == 1
    got = {r["value"]: r["actual"] for r in json.loads(out)["rows"]}
    assert got == {"Qualification": 0, **truth}
    code, _, err = verify("--sim", "--org-file", str(before.parent / "missing.db"),
                          "--expect", "Q=1")
    assert code == 2 and "does not exist" in one_line(err)


def test_sim_flag_seeds_a_scenario() -> None:
    code, out, err = verify("--sim", "--scenario", "massive-upload", "--records", "300",
                            "--expect", "Qualification=0", "--json")
    assert code == 0, err
    assert sum(r["actual"] for r in json.loads(out)["rows"]) == 300


def test_subcommand_may_follow_the_options(org_files: tuple[Path, Path, dict[str, int]]
                                          ) -> None:
    _, after, _ = org_files
    first = verify("limits", "--sim", "--org-file", str(after), "--json")
    last = verify("--sim", "--org-file", str(after), "limits", "--json")
    assert first[0] == last[0] == 0
    assert json.loads(first[1])["limits"] == json.loads(last[1])["limits"]
    # A value that happens to be a subcommand name stays a value.
    code, _, err = verify("--sim", "--org-file", str(after), "--object", "progress",
                          "--expect", "Q=1")
    assert code == 2 and "progress" in one_line(err)
