"""The team's V1 (``DynamicPartitionProcessor.cls``) run from its Apex source fails as the
Python port (``processors/offset.py``) does: the second page's callout follows the first
page's update in the same Queueable, the platform refuses it (``System.CalloutException:
You have uncommitted work pending``; Apex Developer Guide, "Callout Limits and
Limitations", https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_callouts_timeouts.htm),
and the catch-all restarts the partition at offset 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from sforg_sim import Org
from sforg_sim.apex.context import PENDING_MESSAGE
from sforg_sim.apexlang import deploy, execute_anonymous
from sforg_sim.datacloud import DataCloudSource
from sforg_sim.nightly import STAGE_AGGREGATE, partitions
from sforg_sim.processors.offset import start_v1

EXAMPLE = Path(__file__).parent.parent / "examples" / "massive-upload"
CLASSES = EXAMPLE / "force-app" / "main" / "default" / "classes"
SCRIPTS = EXAMPLE / "scripts"


def _org(records: int) -> Org:
    o = Org()
    o.load_scenario("massive-upload", records=records)
    DataCloudSource(o).attach(o.apex)
    return o


def _start_v1(records: int) -> str:
    return (SCRIPTS / "start_v1.apex").read_text(encoding="utf-8").replace(
        "2000000", str(records))


def _jobs(org: Org) -> int:
    return len(org.query_records("SELECT Id FROM AsyncApexJob"))


@pytest.fixture
def v1_org() -> Org:
    o = _org(2_000)
    results = deploy(o, CLASSES)
    assert all(r.success for r in results), results
    return o


def test_start_v1_prints_the_team_ranges(v1_org: Org) -> None:
    res = execute_anonymous(v1_org, _start_v1(2_000))
    assert res.success, res.exception_message
    printed = [line.split("|", 4)[4] for line in res.log]
    assert printed == [f"Started DynamicPartition_{p.index}: {p.label()}"
                       for p in partitions(2_000)]


def test_v1_callout_after_update_restarts_at_offset_zero(v1_org: Org) -> None:
    """2,000 records, 10 partitions of 201 rows (inclusive ranges), pages of 500: the first
    execution updates page 1, then the callout for page 2 throws CalloutException
    (uncommitted work pending), the catch restarts at 0; the restarted job re-reads page 1
    (nothing left to update, so no DML), reads an empty page 2 and ends."""
    assert execute_anonymous(v1_org, _start_v1(2_000)).success
    v1_org.apex.run_until_idle()
    texts = [text for _, _, text in v1_org.apex.log]
    restarts = [t for t in texts if t.endswith("; restarting from offset 0")]
    assert len(restarts) == 10
    assert all(PENDING_MESSAGE in t for t in restarts), restarts[0]
    assert sum("empty page at offset 500, done" in t for t in texts) == 10
    stages = {r["StageName"]: r["cnt"] for r in v1_org.query_records(STAGE_AGGREGATE)}
    assert stages == {"Qualification": 2_000}
    rows = v1_org.query_records("SELECT ApexClass.Name, Status FROM AsyncApexJob")
    assert {r["ApexClass"]["Name"] for r in rows} == {"DynamicPartitionProcessor"}
    assert len(rows) == 20  # 10 first executions + 10 restarts


def test_v1_apex_matches_the_python_port() -> None:
    """Same org, same data: the Apex source and the Python port of V1 make the same jobs,
    the same API calls and leave the same stages (the port is a faithful reference)."""
    figures = []
    for run in ("apex", "python"):
        o = _org(6_000)
        if run == "apex":
            assert all(r.success for r in deploy(o, CLASSES))
            assert execute_anonymous(o, _start_v1(6_000)).success
        else:
            start_v1(o, partitions(6_000))
        o.apex.run_until_idle()
        stages = {r["StageName"]: r["cnt"] for r in o.query_records(STAGE_AGGREGATE)}
        restarts = sum(t.endswith("restarting from offset 0") for _, _, t in o.apex.log)
        figures.append((_jobs(o), restarts, o.org_limits.api_used(), stages))
    assert figures[0] == figures[1]
    # more than one restart per partition: the V1 loop
    assert figures[0][1] > 10 and figures[0][2] > 0
