"""verify-org end to end (``verify.cli.main``, the console script's entry point) against
the simulator's REST surface intercepted in-process by ``mock_org``.

"After the run" orgs: the V2 replay is not available yet, so the post-run state is made
in test setup with ``org.update`` (public API): every Opportunity moved to Qualification
after the simulated clock passed the run's start.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.rest import mock_org
from verify.cli import main

N = 2000
STAGES = ("Prospecting", "Discovery", "Negotiation", "Needs Analysis", "Value Proposition")


_seq = itertools.count(1)


def new_org(records: int) -> Org:
    """A massive-upload org on its own host: several mock_orgs may be active at once, and
    the innermost one answers for its host, so hosts must differ."""
    org = Org(instance_url=f"https://sim{next(_seq)}.my.salesforce.com")
    org.load_scenario("massive-upload", records=records)
    return org


def _ids(org: Org) -> list[str]:
    return [r["Id"] for r in org.query_records(
        "SELECT Id FROM Opportunity ORDER BY External_ID__c")]


def _move(org: Org, ids: list[str], stage: str = "Qualification") -> None:
    for i in range(0, len(ids), 200):
        res = org.update("Opportunity", [{"Id": x, "StageName": stage}
                                         for x in ids[i:i + 200]])
        assert all(r["success"] for r in res)


def _stage_counts(org: Org) -> dict[str, int]:
    body = org.query("SELECT StageName, COUNT(Id) cnt FROM Opportunity "
                     "WHERE External_ID__c LIKE 'externalOpp%' GROUP BY StageName")
    return {r["StageName"]: r["cnt"] for r in body["records"]}


def _post_run(records: int = N, skip: int = 0) -> tuple[Org, str]:
    """An org after the run: all but the last ``skip`` records moved after ``started``."""
    org = new_org(records)
    org.clock.advance(3600)
    started = org.clock.stamp()
    org.clock.advance(60)
    ids = _ids(org)
    _move(org, ids[:len(ids) - skip])
    return org, started


@pytest.fixture(scope="module")
def pre() -> Iterator[Any]:
    with mock_org(new_org(N)) as sim:
        yield sim


@pytest.fixture(scope="module")
def post() -> Iterator[Any]:
    org, _ = _post_run()
    with mock_org(org) as sim:
        yield sim


def run(sim: Any, capsys: pytest.CaptureFixture[str], *args: str,
        command: str | None = None) -> tuple[int, Any, str]:
    """main() with the sim's credentials and --json; (exit code, JSON, stderr)."""
    argv = [*([command] if command else []), "--instance-url", sim.instance_url,
            "--access-token", sim.session_id, "--json", *args]
    code = main(argv, sleep=lambda s: None)
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def rows(doc: dict) -> dict[str, tuple[Any, int, Any, bool]]:
    return {r["value"]: (r["expected"], r["actual"], r["difference"], r["ok"])
            for r in doc["rows"]}


# --- the stage check ----------------------------------------------------------------------


def test_passes_after_the_run(post: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, err = run(post, capsys, "--expect", "Qualification=2,000",
                         "--expect", "Discovery=0", "--expect", "Negotiation=0")
    assert (code, err, doc["ok"], doc["mode"]) == (0, "", True, "aggregate")
    assert rows(doc) == {"Qualification": (2000, 2000, 0, True),
                         "Discovery": (0, 0, 0, True), "Negotiation": (0, 0, 0, True)}
    assert doc["query"] == ("SELECT StageName, COUNT(Id) cnt FROM Opportunity WHERE "
                            "External_ID__c LIKE 'externalOpp%' GROUP BY StageName")


def test_fails_before_the_run_with_a_diff(pre: Any, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    truth = _stage_counts(pre.org)
    code, doc, _ = run(pre, capsys, "--expect", "Qualification=2000", "--expect",
                       "Discovery=0")
    assert code == 1 and not doc["ok"]
    r = rows(doc)
    assert r["Qualification"] == (2000, 0, -2000, False)
    assert r["Discovery"] == (0, truth["Discovery"], truth["Discovery"], False)
    assert {k: v[1] for k, v in r.items() if v[0] is None} == {
        k: v for k, v in truth.items() if k != "Discovery"}
    # The table for people says which rows fail.
    assert main(["--instance-url", pre.instance_url, "--access-token", pre.session_id,
                 "--expect", "Qualification=2000"]) == 1
    table = capsys.readouterr().out
    assert "-2,000" in table and "FAIL" in table and "do NOT hold" in table


def test_strict_mode(pre: Any, capsys: pytest.CaptureFixture[str]) -> None:
    truth = _stage_counts(pre.org)
    expect = [f"--expect={k}={v}" for k, v in truth.items()]
    assert run(pre, capsys, *expect[:-1])[0] == 0           # others are not checked
    code, doc, _ = run(pre, capsys, *expect[:-1], "--strict")
    assert code == 1
    left = list(truth)[-1]
    assert rows(doc)[left] == (0, truth[left], truth[left], False)
    assert run(pre, capsys, *expect, "--strict")[0] == 0


def test_query_timeout_falls_back_to_partitions(post: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    post.org.soql.inject_timeout("GROUP BY StageName", times=1)
    code, doc, _ = run(post, capsys, "--expect", "Qualification=2000")
    assert code == 0 and doc["mode"] == "partitioned", doc["error"]
    assert any("QUERY_TIMEOUT" in n for n in doc["notes"])
    parts = doc["partitions"]
    assert [p["upper"] for p in parts[:9]] == [f"externalOpp{n:07d}"
                                              for n in range(201, 2000, 200)]
    # The default WHERE (External_ID__c LIKE 'externalOpp%') cannot match a record with
    # no External ID, so the (no value) partition, a full scan, is not queried.
    assert [p["total"] for p in parts] == [200] * 10
    assert not any(p["null"] for p in parts)
    assert any("(no value) partition is not queried" in n for n in doc["notes"])


def test_a_partition_that_times_out_is_split(post: Any,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    post.org.soql.inject_timeout(lambda q: "GROUP BY" in q and "'externalOpp0000401'" in q
                                 and "'externalOpp0000601'" in q, times=1)
    code, doc, _ = run(post, capsys, "--expect", "Qualification=2000", "--partitions", "10")
    assert code == 0
    labels = [(p["lower"], p["upper"], p["total"]) for p in doc["partitions"]]
    assert ("externalOpp0000401", "externalOpp0000501", 100) in labels
    assert ("externalOpp0000501", "externalOpp0000601", 100) in labels
    assert sum(p["total"] for p in doc["partitions"]) == 2000


def test_given_ranges(post: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, _ = run(post, capsys, "--expect", "Qualification=2000", "--ranges",
                       "externalOpp0000001 to externalOpp0001001, "
                       "externalOpp0001001 to externalOpp0001501")
    assert code == 0
    assert [p["total"] for p in doc["partitions"]] == [0, 1000, 500, 500]


def test_modified_since_catches_records_the_run_did_not_touch(
        capsys: pytest.CaptureFixture[str]) -> None:
    # Record 1 was at Qualification before the run and never touched: the counts pass,
    # the proof of processing does not.
    org = new_org(300)
    ids = _ids(org)
    _move(org, ids[:1])
    org.clock.advance(3600)
    started = org.clock.stamp()
    org.clock.advance(5)
    _move(org, ids[1:])
    with mock_org(org) as sim:
        assert run(sim, capsys, "--expect", "Qualification=300")[0] == 0
        code, doc, _ = run(sim, capsys, "--expect", "Qualification=300",
                           "--run-started", started)
        assert code == 1
        ms = doc["modified_since"]
        assert (ms["not_modified"], ms["by_value"], ms["ok"]) == (1, {"Qualification": 1},
                                                                  False)
        _move(org, ids[:1])
        code, doc, _ = run(sim, capsys, "--expect", "Qualification=300",
                           "--modified-since", started)
        assert code == 0 and doc["modified_since"]["not_modified"] == 0


# --- limits, progress ---------------------------------------------------------------------


def test_limits(post: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, _ = run(post, capsys, command="limits")
    api = doc["limits"]["DailyApiRequests"]
    truth = post.org.limits()["DailyApiRequests"]
    assert code == 0 and (api["max"], api["remaining"]) == (truth["Max"], truth["Remaining"])
    assert api["used"] == api["max"] - api["remaining"]
    assert "DailyBulkV2QueryJobs" in doc["limits"]
    code, _, _ = run(post, capsys, "--min-remaining", str(truth["Max"]), command="limits")
    assert code == 1


def test_progress(pre: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, _ = run(pre, capsys, command="progress")
    assert code == 0
    assert doc["stages"] == dict(sorted(_stage_counts(pre.org).items()))
    assert doc["jobs"] == [] and doc["jobs_by_status"] == []


# --- reconcile ----------------------------------------------------------------------------


def _source(path: Path, n: int, edit: dict[int, str] | None = None,
            drop: tuple[int, ...] = (), extra: tuple[str, ...] = (),
            dup: tuple[int, ...] = ()) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["External_ID__c", "StageName"])
        for i in range(1, n + 1):
            if i in drop:
                continue
            w.writerow([f"externalOpp{i:07d}", (edit or {}).get(i, "Qualification")])
            if i in dup:
                w.writerow([f"externalOpp{i:07d}", "Qualification"])
        for e in extra:
            w.writerow([e, "Qualification"])


def test_reconcile_clean_and_with_planted_mismatches(
        post: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src, out = tmp_path / "src.csv", tmp_path / "mismatches.csv"
    _source(src, N)
    args = ["--source", str(src), "--out", str(out), "--bulk-poll", "0", "--page-size", "700"]
    code, doc, _ = run(post, capsys, *args, command="reconcile")
    rec = doc["reconcile"]
    assert code == 0 and (rec["source_rows"], rec["org_rows"], rec["matched"]) == (N, N, N)
    assert rec["pages"] == 3 and not any(rec["mismatches"].values())

    _source(src, N, edit={5: "Closed Won"}, drop=(10,), extra=("externalOpp0009999",),
            dup=(20,))
    code, doc, _ = run(post, capsys, *args, command="reconcile")
    rec = doc["reconcile"]
    assert code == 1
    assert rec["mismatches"] == {"missing_in_org": 1, "unexpected": 1, "wrong_value": 1,
                                 "duplicate_in_source": 1}
    assert rec["matched"] == N - 2
    with open(out, newline="") as f:
        got = sorted(tuple(r) for r in csv.reader(f))
    assert got == sorted([
        ("kind", "external_id", "expected", "actual"),
        ("missing_in_org", "externalOpp0009999", "Qualification", ""),
        ("unexpected", "externalOpp0000010", "", "Qualification"),
        ("wrong_value", "externalOpp0000005", "Closed Won", "Qualification"),
        ("duplicate_in_source", "externalOpp0000020", "Qualification", "")])


def test_reconcile_bad_source_is_exit_2(post: Any, capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    src = tmp_path / "one.csv"
    src.write_text("External_ID__c\nexternalOpp0000001\n")
    code, doc, err = run(post, capsys, "--source", str(src), command="reconcile")
    assert code == 2 and "at least 2 columns" in err and err.count("\n") == 1
    assert doc["error"]["code"] == "BAD_SOURCE"
    code, _doc, err = run(post, capsys, "--source", str(tmp_path / "nope.csv"),
                         command="reconcile")
    assert code == 2 and "does not exist" in err


# --- read-only, API calls -----------------------------------------------------------------


def test_read_only_and_counts_its_own_calls(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    org, started = _post_run(records=500)
    src = tmp_path / "src.csv"
    _source(src, 500, edit={7: "Discovery"})
    with mock_org(org) as sim:
        before = org.limits()["DailyApiRequests"]["Remaining"]
        code, doc, _ = run(sim, capsys, "--expect", "Qualification=500", "--partitions", "4",
                           "--modified-since", started)
        assert code == 0
        calls = doc["api_calls"]
        after = org.limits()["DailyApiRequests"]["Remaining"]
        assert calls["used_by_run"] == before - after == len(sim.requests) == calls["counted"]
        run(sim, capsys, command="limits")
        run(sim, capsys, command="progress")
        assert run(sim, capsys, "--source", str(src), "--out", str(tmp_path / "m.csv"),
                   "--bulk-poll", "0", command="reconcile")[0] == 1
        methods = {(r.method, r.path.split("/v59.0/")[-1].split("/")[0]) for r in sim.requests}
        posts = {r.path for r in sim.requests if r.method != "GET"}
    assert {m for m, _ in methods} == {"GET", "POST"}
    assert posts == {"/services/data/v59.0/jobs/query"}
    assert ("GET", "query") in methods and ("GET", "limits") in methods


# --- error paths --------------------------------------------------------------------------


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("verify-org: error: "), err
    assert "Traceback" not in err
    return err


def test_401_bad_token(post: Any, capsys: pytest.CaptureFixture[str]) -> None:
    token = "00D000000000001!AQBogusTokenThatIsNotValid1234"
    code = main(["--instance-url", post.instance_url, "--access-token", token, "--json",
                 "--expect", "Qualification=1"])
    out, err = capsys.readouterr()
    assert code == 2 and "INVALID_SESSION_ID" in one_line(err)
    assert token not in err and token not in out
    assert json.loads(out)["error"]["code"] == "INVALID_SESSION_ID"


def test_403_quota_exhausted(capsys: pytest.CaptureFixture[str]) -> None:
    org = new_org(50)
    with mock_org(org) as sim:
        org.set_api_remaining(0)
        code, doc, err = run(sim, capsys, "--expect", "Qualification=50")
        assert code == 2 and len(sim.requests) == 1
        assert "REQUEST_LIMIT_EXCEEDED" in one_line(err) and "without retrying" in err
        # Quota running out mid-check: stops at once and says how many calls remain.
        org.set_api_remaining(3)
        code, doc, err = run(sim, capsys, "--expect", "Qualification=50", "--partitions", "5")
        assert code == 2 and len(sim.requests) == 1 + 4
        assert "calls remaining in the rolling 24 h window: 0 of 440,000" in one_line(err)
        assert doc["api_calls"]["remaining"] == 0


def test_malformed_where_and_bad_field(post: Any, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    code, doc, err = run(post, capsys, "--expect", "Qualification=1", "--where",
                         "External_ID__c LIKE")
    assert code == 2 and "MALFORMED_QUERY" in one_line(err) and "unexpected token" in err
    assert doc["error"]["code"] == "MALFORMED_QUERY"
    code, _, err = run(post, capsys, "--expect", "Qualification=1", "--field", "Nope__c")
    assert code == 2 and "INVALID_FIELD" in one_line(err)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_host(capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()
    code = main(["--instance-url", f"https://127.0.0.1:{port}", "--access-token",
                 "tok-abcdefghijkl", "--expect", "Qualification=1", "--timeout", "5"])
    err = capsys.readouterr().err
    assert code == 2 and f"cannot reach 127.0.0.1:{port}" in one_line(err)


@pytest.mark.parametrize("argv,needle", [
    (["--expect", "Qualification"], "bad --expect"),
    (["--expect", "Qualification=2,00"], "bad --expect"),
    (["--expect", "Q=1", "--api-version", "latest"], "--api-version"),
    (["--expect", "Q=1", "--modified-since", "last night"], "ISO 8601"),
    (["--expect", "Q=1", "--sim", "--instance-url", "https://x"], "--sim cannot"),
    (["--expect", "Q=1", "--instance-url", "https://x"], "go together"),
    (["--expect", "Q=1", "--records", "10"], "need --sim"),
    ([], "nothing to check"),
])
def test_bad_flags_exit_2_with_one_line(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                        needle: str) -> None:
    monkeypatch.setenv("SF_INSTANCE_URL", "https://127.0.0.1:1")
    monkeypatch.setenv("SF_ACCESS_TOKEN", "tok-abcdefghijkl")
    assert main(argv) == 2
    assert needle in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("argv", [["--partitions", "0"], ["--no-such-flag"],
                                  ["--timeout", "soon"]])
def test_argparse_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str],
                                              argv: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--expect", "Q=1", *argv])
    assert e.value.code == 2
    one_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", [[], ["limits"], ["progress"], ["reconcile"]])
def test_help_of_every_subcommand(capsys: pytest.CaptureFixture[str],
                                  command: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([*command, "--help"])
    assert e.value.code == 0
    assert "--instance-url" in capsys.readouterr().out


# --- connecting ---------------------------------------------------------------------------

SF_VARS = ("SF_INSTANCE_URL", "SF_ACCESS_TOKEN", "SF_USERNAME", "SF_PASSWORD",
           "SF_SECURITY_TOKEN", "SF_DOMAIN", "SF_CLIENT_ID", "SF_CLIENT_SECRET",
           "SF_JWT_KEY_FILE")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for v in SF_VARS:
        monkeypatch.delenv(v, raising=False)
    return monkeypatch


def test_no_credentials(clean_env: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--expect", "Q=1"]) == 2
    assert "no credentials" in one_line(capsys.readouterr().err)
    clean_env.setenv("SF_USERNAME", "someone@example.com")
    assert main(["--expect", "Q=1"]) == 2
    assert "incomplete credentials" in one_line(capsys.readouterr().err)


def _check_env(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Any, str]:
    code = main(["--expect", "Qualification=2000", "--json", *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_env_token_and_soap_login(clean_env: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    # Its own (innermost) mock: the login hosts are shared by every active mock_org.
    with mock_org(_post_run()[0]) as sim:
        _env_logins(sim, clean_env, capsys)


def _env_logins(post: Any, clean_env: pytest.MonkeyPatch,
                capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("SF_INSTANCE_URL", post.instance_url)
    clean_env.setenv("SF_ACCESS_TOKEN", post.session_id)
    code, doc, _ = _check_env(capsys)
    assert code == 0 and "SF_ACCESS_TOKEN" in doc["org"]["source"]
    clean_env.delenv("SF_INSTANCE_URL")
    clean_env.delenv("SF_ACCESS_TOKEN")
    clean_env.setenv("SF_USERNAME", post.username)
    clean_env.setenv("SF_PASSWORD", post.password)
    clean_env.setenv("SF_SECURITY_TOKEN", post.security_token)
    code, doc, err = _check_env(capsys)
    assert code == 0 and "SOAP login" in doc["org"]["source"]
    assert post.password not in err + json.dumps(doc)
    clean_env.setenv("SF_PASSWORD", "wrong-password")
    code, doc, err = _check_env(capsys)
    assert code == 2 and "authentication failed: INVALID_LOGIN" in one_line(err)
    assert "wrong-password" not in err


def test_env_client_credentials(clean_env: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    org, _ = _post_run()
    with mock_org(org, hosts=["acme.my.salesforce.com"]) as sim:
        clean_env.setenv("SF_CLIENT_ID", sim.consumer_key)
        clean_env.setenv("SF_CLIENT_SECRET", sim.consumer_secret)
        code, _, err = _check_env(capsys)
        assert code == 2 and "SF_DOMAIN" in one_line(err)
        clean_env.setenv("SF_DOMAIN", "acme.my")
        code, doc, err = _check_env(capsys)
        assert code == 0, err
        assert "client credentials" in doc["org"]["source"]
        assert sim.consumer_secret not in json.dumps(doc)


def test_flags_outrank_environment(post: Any, clean_env: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("SF_INSTANCE_URL", "https://127.0.0.1:1")
    clean_env.setenv("SF_ACCESS_TOKEN", "bad-token-value")
    code, doc, _ = _check_env(capsys, "--instance-url", post.instance_url,
                              "--access-token", post.session_id)
    assert code == 0 and doc["org"]["source"] == "--instance-url/--access-token"


def _fake_sf(bin_dir: Path, body: dict, status: int = 0) -> None:
    """A stand-in for the Salesforce CLI: prints what `sf org display --json` prints."""
    script = bin_dir / "sf"
    script.write_text("#!/bin/sh\n"
                      "[ \"$1 $2 $3\" = \"org display --target-org\" ] || exit 9\n"
                      f"cat <<'EOF'\n{json.dumps(body)}\nEOF\nexit {status}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_target_org_via_sf_cli(post: Any, clean_env: pytest.MonkeyPatch, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    path = os.environ["PATH"]
    clean_env.setenv("PATH", str(tmp_path))
    code, _, err = _check_env(capsys, "--target-org", "prod")
    assert code == 2 and "Salesforce CLI (sf) is not installed" in one_line(err)
    _fake_sf(tmp_path, {"status": 0, "result": {"instanceUrl": post.instance_url,
                                                "accessToken": post.session_id}})
    clean_env.setenv("PATH", f"{tmp_path}{os.pathsep}{path}")
    code, doc, err = _check_env(capsys, "--target-org", "prod")
    assert code == 0, err
    assert doc["org"]["source"] == "sf CLI alias prod"
    assert post.session_id not in json.dumps(doc) + err
    _fake_sf(tmp_path, {"status": 1, "name": "NamedOrgNotFoundError",
                        "message": "No authorization information found for nope."}, 1)
    code, _, err = _check_env(capsys, "--target-org", "nope")
    assert code == 2 and "No authorization information found" in one_line(err)


def test_verbose_log_masks_tokens(post: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--instance-url", post.instance_url, "--access-token", post.session_id,
                 "--expect", "Qualification=2000", "--verbose"])
    out, err = capsys.readouterr()
    assert code == 0 and "GET /services/data/v59.0/query" in err
    assert post.session_id not in out + err
