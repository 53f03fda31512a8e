"""``org.apex`` as the one entry point (issue 15): ``org.apex.deploy`` and
``org.apex.execute_anonymous`` on the engine object, and runbook-style scripts over
AsyncApexJob and CronTrigger through it, through ``sforg-sim apex run`` and through the
SOAP ``executeAnonymous`` that ``sf apex run`` calls."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from sforg_sim import Org
from sforg_sim.apex import AsyncEngine, Context
from sforg_sim.apexlang import AnonymousResult, ApexEngine, deploy, execute_anonymous
from sforg_sim.cli import main
from sforg_sim.datacloud import DataCloudSource
from sforg_sim.errors import UsageError
from sforg_sim.rest.auth import sessions
from sforg_sim.rest.dispatch import handle
from sforg_sim.rest.messages import Request

EXAMPLE = Path(__file__).parent.parent / "examples" / "massive-upload"
CLASSES = EXAMPLE / "force-app" / "main" / "default" / "classes"
DAY = 86_400

SCHEDULE_ONCE = """// Schedule V2 daily at 2 AM, unless it already is (CronTrigger checked first).
String name = 'DynamicPartitionV2 daily';
List<CronTrigger> existing = [SELECT Id, NextFireTime FROM CronTrigger
                              WHERE CronJobDetail.Name = :name];
if (!existing.isEmpty()) {
    System.debug('Already scheduled: ' + existing[0].Id);
} else {
    Id t = System.schedule(name, '0 0 2 * * ?', new DynamicPartitionV2Scheduler(1000, 10));
    System.debug('Scheduled: ' + t);
}"""

NEXT_FIRE = """for (CronTrigger ct : [SELECT CronJobDetail.Name, NextFireTime, TimesTriggered, State
                      FROM CronTrigger WHERE CronJobDetail.JobType = '7'
                      ORDER BY NextFireTime]) {
    System.debug(ct.CronJobDetail.Name + ': next ' + ct.NextFireTime + ', fired '
                 + ct.TimesTriggered + ', ' + ct.State);
}"""

EMERGENCY_STOP = """// Stop V2: running jobs (by ApexClass.Name) and schedules (by name).
Integer jobs = 0;
for (AsyncApexJob job : [SELECT Id FROM AsyncApexJob
                         WHERE ApexClass.Name = 'DynamicPartitionProcessorV2'
                         AND Status IN ('Holding', 'Queued', 'Preparing', 'Processing')]) {
    System.abortJob(job.Id);
    jobs++;
}
Integer schedules = 0;
for (CronTrigger ct : [SELECT Id FROM CronTrigger
                       WHERE CronJobDetail.Name LIKE 'DynamicPartition%']) {
    System.abortJob(ct.Id);
    schedules++;
}
System.debug('Aborted ' + jobs + ' jobs and ' + schedules + ' schedules');"""


def _said(res: AnonymousResult) -> list[str]:
    assert res.success, (res.compile_problem, res.exception_message)
    return [line.split("|DEBUG|", 1)[1] for line in res.log]


# --- the entry points -----------------------------------------------------------------------


def test_org_apex_is_the_engine_with_deploy_and_execute_anonymous() -> None:
    org = Org()
    assert isinstance(org.apex, ApexEngine) and isinstance(org.apex, AsyncEngine)
    results = org.apex.deploy(CLASSES)  # a folder, as sf project deploy start --source-dir
    assert all(r.success for r in results), results
    assert org.apex.classes == ["DynamicPartitionProcessor", "DynamicPartitionProcessorV2",
                                "DynamicPartitionV2Scheduler"]
    res = org.apex.execute_anonymous("System.debug(1 + 1);")
    assert isinstance(res, AnonymousResult) and _said(res) == ["2"]
    bad = org.apex.execute_anonymous("Integer x = 'a';")
    assert (bad.compiled, bad.line, bad.column) == (False, 1, 13)
    assert bad.compile_problem == "Illegal assignment from String to Integer"


def test_the_old_functions_and_the_methods_share_one_runtime() -> None:
    org = Org()
    assert all(r.success for r in deploy(org, {"Greeter": (
        "public class Greeter { public static String hi() { return 'hi'; } }")}))
    assert "Greeter" in org.apex.classes
    assert _said(org.apex.execute_anonymous("System.debug(Greeter.hi());")) == ["hi"]
    assert all(r.success for r in org.apex.deploy(
        "public class Other { public static Integer n() { return 7; } }"))
    assert _said(execute_anonymous(org, "System.debug(Other.n());")) == ["7"]


def test_execute_anonymous_keeps_the_python_form_and_refuses_other_input() -> None:
    org = Org()

    def body(ctx: Context) -> int:
        ctx.insert("Account", [{"Name": "from Python"}])
        return 42

    assert org.apex.execute_anonymous(body) == 42
    assert org.query("SELECT COUNT() FROM Account")["totalSize"] == 1
    with pytest.raises(UsageError, match="needs Apex source text"):
        org.apex.execute_anonymous(42)


# --- the runbook, through org.apex ------------------------------------------------------------


@pytest.fixture
def night() -> Org:
    o = Org()
    o.load_scenario("massive-upload", records=1_000)
    DataCloudSource(o).attach(o.apex)
    assert all(r.success for r in o.apex.deploy(CLASSES))
    return o


def test_runbook_schedule_once_next_fire_and_emergency_stop(night: Org) -> None:
    start = (EXAMPLE / "scripts" / "start_v2.apex").read_text().replace("2000000", "1000")
    assert len(_said(night.apex.execute_anonymous(start))) == 10
    night.apex.run(until=night.clock.time() + 8)  # V2 partitions are queued or running
    first = _said(night.apex.execute_anonymous(SCHEDULE_ONCE))
    assert first[0].startswith("Scheduled: 08e")
    again = _said(night.apex.execute_anonymous(SCHEDULE_ONCE))
    assert again == [f"Already scheduled: {first[0].split(': ')[1]}"]
    assert _said(night.apex.execute_anonymous(NEXT_FIRE)) == [
        "DynamicPartitionV2 daily: next 2026-01-06 02:00:00, fired 0, WAITING"]
    running = night.query("SELECT COUNT() FROM AsyncApexJob WHERE Status IN "
                          "('Queued', 'Preparing', 'Processing')")["totalSize"]
    assert running > 0
    [stop] = _said(night.apex.execute_anonymous(EMERGENCY_STOP))
    assert stop == f"Aborted {running} jobs and 1 schedules"
    assert night.query("SELECT COUNT() FROM CronTrigger")["totalSize"] == 0
    assert _said(night.apex.execute_anonymous(NEXT_FIRE)) == []
    night.apex.run(until=night.clock.time() + 2 * DAY)
    assert night.query("SELECT COUNT() FROM AsyncApexJob WHERE JobType = "
                       "'ScheduledApex'")["totalSize"] == 0


# --- the same scripts through sforg-sim apex run ------------------------------------------------


def test_runbook_through_the_cli_with_an_org_file(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    scripts = {}
    for name, text in (("schedule_once", SCHEDULE_ONCE), ("next_fire", NEXT_FIRE),
                       ("stop", EMERGENCY_STOP)):
        scripts[name] = tmp_path / f"{name}.apex"
        scripts[name].write_text(text, encoding="utf-8")
    org_file = tmp_path / "night.sforg"

    errs: list[str] = []

    def apex_run(name: str, *seed: str) -> tuple[int, str]:
        code = main(["apex", "run", "--file", str(scripts[name]), "--apex-dir", str(CLASSES),
                     "--org-file", str(org_file), *seed])
        out, err = capsys.readouterr()
        errs.append(err)
        return code, out

    # The seeding flags shape the new file ...
    code, out = apex_run("schedule_once", "--scenario", "small", "--records", "20")
    assert code == 0 and "|USER_DEBUG|[9]|DEBUG|Scheduled: 08e" in out, out
    # ... and are refused once it exists (they would be silently ignored), file untouched.
    before = org_file.read_bytes()
    assert apex_run("schedule_once", "--records", "30")[0] == 2
    err = errs[-1]
    assert "--records cannot be used with --org-file" in err and err.count("\n") == 1, err
    assert org_file.read_bytes() == before
    code, out = apex_run("schedule_once")  # the saved org keeps the CronTrigger row
    assert code == 0 and "|DEBUG|Already scheduled: 08e" in out, out
    code, out = apex_run("next_fire")
    assert code == 0 and ("|DEBUG|DynamicPartitionV2 daily: next 2026-01-06 02:00:00, "
                          "fired 0, WAITING") in out, out
    code, out = apex_run("stop")
    assert code == 0 and "|DEBUG|Aborted 0 jobs and 1 schedules" in out, out
    code, out = apex_run("next_fire")
    assert code == 0 and "DynamicPartitionV2 daily" not in out, out


# --- and through SOAP executeAnonymous (what sf apex run sends) -----------------------------


def _soap_execute(org: Org, token: str, code: str) -> tuple[str, str]:
    body = f"""<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"
xmlns:apex="http://soap.sforce.com/2006/08/apex"><env:Header>
<apex:SessionHeader><apex:sessionId>{token}</apex:sessionId></apex:SessionHeader>
<apex:DebuggingHeader><apex:debugLevel>DEBUGONLY</apex:debugLevel></apex:DebuggingHeader>
</env:Header><env:Body><executeAnonymous xmlns="http://soap.sforce.com/2006/08/apex">
<apexcode>{escape(code)}</apexcode></executeAnonymous></env:Body></env:Envelope>"""
    resp = handle(org, Request("POST", "/services/Soap/s/64.0/00D5j0000000001", "",
                               {"Content-Type": "text/xml",
                                "SOAPAction": "executeAnonymous"}, body.encode()))
    assert resp.status == 200
    root = ET.fromstring(resp.body)
    ns = "{http://soap.sforce.com/2006/08/apex}"
    success = root.find(f".//{ns}result/{ns}success")
    log = root.find(f".//{ns}debugLog")
    assert success is not None and log is not None
    return str(success.text), str(log.text)


def test_runbook_through_soap_execute_anonymous(night: Org) -> None:
    token = sessions(night).create()
    ok, log = _soap_execute(night, token, SCHEDULE_ONCE)
    assert ok == "true" and "|DEBUG|Scheduled: 08e" in log
    ok, log = _soap_execute(night, token, SCHEDULE_ONCE)
    assert ok == "true" and "|DEBUG|Already scheduled: 08e" in log
    ok, log = _soap_execute(night, token, EMERGENCY_STOP)
    assert ok == "true" and "|DEBUG|Aborted 0 jobs and 1 schedules" in log
    assert night.query("SELECT COUNT() FROM CronTrigger")["totalSize"] == 0
