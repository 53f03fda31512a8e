"""The team's Apex end to end: V2 on the async engine, the runbook scripts, the CLI, and
Queueable/Batchable/Schedulable classes compiled from Apex."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import deploy, execute_anonymous
from sforg_sim.datacloud import DataCloudSource
from sforg_sim.nightly import STAGE_AGGREGATE

EXAMPLE = Path(__file__).parent.parent / "examples" / "massive-upload"
CLASSES = EXAMPLE / "force-app" / "main" / "default" / "classes"
SCRIPTS = EXAMPLE / "scripts"


def _script(name: str, records: int | None = None) -> str:
    text = (SCRIPTS / f"{name}.apex").read_text(encoding="utf-8")
    return text if records is None else text.replace("2000000", str(records))


@pytest.fixture
def org() -> Org:
    o = Org()
    o.load_scenario("massive-upload", records=1_000)
    DataCloudSource(o).attach(o.apex)
    results = deploy(o, CLASSES)
    assert all(r.success for r in results), results
    return o


def test_v2_processes_every_record_once(org: Org) -> None:
    res = execute_anonymous(org, _script("start_v2", 1_000))
    assert res.success, res.exception_message
    assert res.log[0].endswith(
        "|USER_DEBUG|[10]|DEBUG|Started DynamicPartitionV2_0: externalOpp0000001 to "
        "externalOpp0000101")
    updated: list[str] = []
    org.apex.dml_listeners.append(lambda sobject, op, ids: updated.extend(ids))
    org.apex.run_until_idle()
    stages = {r["StageName"]: r["cnt"] for r in org.query_records(STAGE_AGGREGATE)}
    assert stages == {"Qualification": 1_000}
    assert len(updated) == len(set(updated))  # no record written twice
    rows = org.query_records("SELECT ApexClass.Name, Status FROM AsyncApexJob")
    assert {r["ApexClass"]["Name"] for r in rows} == {"DynamicPartitionProcessorV2"}
    assert {r["Status"] for r in rows} == {"Completed"}
    # 10 partitions x (1 page of 100 + 3 empty pages)
    assert len(rows) == 40


def test_start_v2_prints_the_team_ranges() -> None:
    o = Org()
    o.load_scenario("massive-upload", records=10)
    DataCloudSource(o).attach(o.apex)
    assert all(r.success for r in deploy(o, CLASSES))
    res = execute_anonymous(o, _script("start_v2"))
    assert res.success
    assert res.log[0].split("|")[-1] == ("Started DynamicPartitionV2_0: externalOpp0000001 "
                                         "to externalOpp0200001")
    assert len(res.log) == 10


def test_runbook_scripts(org: Org) -> None:
    assert execute_anonymous(org, _script("start_v2", 1_000)).success
    org.apex.run(until=org.clock.time() + 8)  # some jobs are queued, none finished
    stop = execute_anonymous(org, _script("emergency_stop"))
    assert stop.success, stop.exception_message
    aborted = int(stop.log[-1].split("Aborted ")[1].split()[0])
    assert aborted > 0
    rows = org.query_records("SELECT Status FROM AsyncApexJob WHERE Status = 'Aborted'")
    assert len(rows) == aborted
    usage = execute_anonymous(org, _script("check_api_usage"))
    assert usage.success, usage.exception_message
    assert "DailyApiRequests:" in usage.log[0]
    progress = execute_anonymous(org, _script("check_progress_v2"))
    assert progress.success, progress.exception_message
    assert progress.log[0].split("|")[-1].startswith("V2 jobs: running 0")
    sched = execute_anonymous(org, _script("schedule_v2_daily"))
    assert sched.success, sched.exception_message
    assert len(org.apex.triggers) == 1


def test_uncaught_exception_fails_the_job_with_apex_type(org: Org) -> None:
    assert all(r.success for r in deploy(org, """public class Boom implements Queueable {
    public void execute(QueueableContext qc) {
        String s;
        s.length();
    }
}""")), "deploy"
    assert execute_anonymous(org, "System.enqueueJob(new Boom());").success
    org.apex.run_until_idle()
    [row] = org.query_records("SELECT Status, ExtendedStatus FROM AsyncApexJob "
                              "WHERE ApexClass.Name = 'Boom'")
    assert row["Status"] == "Failed"
    assert row["ExtendedStatus"] == ("First error: Attempt to de-reference a "
                                     "null object")  # engine.first_error (review 5c)


def test_batchable_with_stateful_and_statics_reset(org: Org) -> None:
    results = deploy(org, """public class Counter implements Database.Batchable<sObject>,
        Database.Stateful {
    public static Integer calls = 0;
    public Integer seen = 0;
    public Database.QueryLocator start(Database.BatchableContext bc) {
        return Database.getQueryLocator([SELECT Id FROM Opportunity]);
    }
    public void execute(Database.BatchableContext bc, List<Opportunity> scope) {
        calls++;
        seen += scope.size();
        System.debug('calls ' + calls);
    }
    public void finish(Database.BatchableContext bc) {
        System.debug('seen ' + seen);
    }
}""")
    assert all(r.success for r in results), results
    res = execute_anonymous(org, "Database.executeBatch(new Counter(), 400);")
    assert res.success, res.exception_message
    start = len(org.apex.log)
    org.apex.run_until_idle()
    msgs = [m for _, _, m in org.apex.log][start:]
    assert msgs.count("calls 1") == 3  # statics reset in each of the 3 chunks
    assert msgs[-1] == "seen 1000"  # Database.Stateful keeps the member variable


def test_cli_apex_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sforg_sim.cli import apex as apex_cli
    from sforg_sim.cli.common import ArgumentParser

    parser = ArgumentParser(prog="sforg-sim")
    sub = parser.add_subparsers(dest="command", parser_class=ArgumentParser)
    apex_cli.register(sub)
    script = tmp_path / "start.apex"
    script.write_text(_script("start_v2", 500))
    org_file = tmp_path / "org.db"
    args = parser.parse_args(["apex", "run", "--file", str(script), "--apex-dir",
                              str(CLASSES), "--records", "500", "--org-file", str(org_file)])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "Compiled successfully." in out and "Executed successfully." in out
    assert "|USER_DEBUG|[10]|DEBUG|Started DynamicPartitionV2_9: externalOpp0000451 to " \
           "externalOpp0000501" in out
    assert "of simulated time" in out and "none failed." in out
    saved = Org.open(org_file)
    stages = {r["StageName"]: r["cnt"] for r in saved.query_records(STAGE_AGGREGATE)}
    assert stages == {"Qualification": 500}
    saved.close()
    bad = tmp_path / "bad.apex"
    bad.write_text("Integer x = null;\nx.format();")
    args = parser.parse_args(["apex", "run", "--file", str(bad), "--records", "10"])
    assert args.handler(args) == 1
    out = capsys.readouterr().out
    assert "Error: System.NullPointerException: Attempt to de-reference a null object" in out
    assert "line 2, column 1" in out


def test_apex_run_json_is_one_envelope(tmp_path: Path, capsys: Any) -> None:
    # --json on every command (issue 20): apex run gives executeAnonymous's fields, the log
    # and the async summary in the common envelope; exit 1 and the fields on a failure.
    from sforg_sim.cli import main

    ok = tmp_path / "ok.apex"
    ok.write_text("System.debug('hello');")
    assert main(["apex", "run", "--file", str(ok), "--scenario", "small", "--records", "5",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["command"] == "apex" and doc["status"] == 0
    res = doc["result"]
    assert res["compiled"] and res["success"] and "asyncJobs" in res
    assert any(line.endswith("|DEBUG|hello") for line in res["log"])
    bad = tmp_path / "bad.apex"
    bad.write_text("Integer x = 'a';")
    assert main(["apex", "run", "--file", str(bad), "--scenario", "small", "--records", "5",
                 "--json"]) == 1
    res = json.loads(capsys.readouterr().out)["result"]
    assert not res["compiled"] and res["line"] == 1 and "Illegal assignment" in str(
        res["compileProblem"])


def test_apex_run_lists_failed_async_jobs_and_exits_1(tmp_path: Path, capsys: Any) -> None:
    # The script succeeds but the job it started fails: the CLI ran the job, so it says so
    # (review finding: it printed "ran to completion" and exited 0).
    from sforg_sim.cli import main

    classes = tmp_path / "classes"
    classes.mkdir()
    (classes / "Later.cls").write_text(
        "public class Later {\n    @future public static void boom() { Integer i; i++; }\n"
        "    @future public static void fine() { System.debug('fine'); }\n}")
    script = tmp_path / "go.apex"
    script.write_text("Later.boom(); Later.fine();")
    argv = ["apex", "run", "--file", str(script), "--apex-dir", str(classes),
            "--scenario", "small", "--records", "5"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "Executed successfully." in out and "1 failed:" in out
    assert "Future Later: First error: Attempt to de-reference a null object" in out
    assert main([*argv, "--json"]) == 1
    jobs = json.loads(capsys.readouterr().out)["result"]["asyncJobs"]
    assert [(j["jobType"], j["apexClass"]) for j in jobs["failed"]] == [("Future", "Later")]
    script.write_text("Later.fine();")
    assert main(argv) == 0
    assert "none failed." in capsys.readouterr().out


def test_apex_run_refuses_a_script_that_is_not_utf8(tmp_path: Path, capsys: Any) -> None:
    from sforg_sim.cli import main

    script = tmp_path / "latin1.apex"
    script.write_bytes("System.debug('caf\u00e9');".encode("latin-1"))
    assert main(["apex", "run", "--file", str(script), "--records", "5"]) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text" in err and err.count("\n") == 1, err
    script.write_bytes("\ufeffSystem.debug('caf\u00e9');".encode())  # BOM: accepted
    assert main(["apex", "run", "--file", str(script), "--records", "5"]) == 0
    assert "|DEBUG|caf\u00e9" in capsys.readouterr().out
