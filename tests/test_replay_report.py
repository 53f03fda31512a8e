"""What the replay report says (issue 20): this run's requests, skipped vs already right,
faults fired, the simulated window, partition totals, progress during the run."""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.cli.replay import partition_notes, succeeded, verdict
from sforg_sim.replay import replay


@pytest.fixture
def org() -> Org:
    o = Org()
    o.load_scenario("massive-upload", records=2_000)
    return o


def test_api_requests_count_this_run_only(org: Org) -> None:
    # 400,000 calls "used before the run" must not show as this run's requests.
    org.set_api_remaining(org.org_limits.api_max() - 400_000)
    r = replay(org, "v2")
    assert r.api_calls["total"] == r.api_calls["data"] < 100
    assert r.to_json()["api_calls"]["total"] == r.api_calls["total"]


def test_records_already_right_are_not_skipped(org: Org) -> None:
    # Half the records already hold the source's value: V2 leaves them alone (it writes
    # only changes), which is its job done, not records skipped.
    ids = [r["Id"] for r in org.query_records(
        "SELECT Id FROM Opportunity WHERE External_ID__c <= 'externalOpp0001000'")]
    for i in range(0, len(ids), 200):
        org.update("Opportunity", [{"Id": x, "StageName": "Qualification"}
                                   for x in ids[i:i + 200]])
    r = replay(org, "v2")
    assert r.processed == 1_000 and r.skipped == 0 and r.records == 2_000
    assert succeeded(r)
    assert "1,000 already right" in verdict(r)


def test_records_left_wrong_are_skipped(org: Org) -> None:
    # V1 ended early by a row lock and an empty page leaves records wrong: skipped.
    r = replay(org, "v1-premature-stop")
    wrong = sum(n for stage, n in r.stage_counts.items() if stage != "Qualification")
    assert r.skipped == wrong > 0 and not succeeded(r)


def test_faults_fired_and_the_simulated_window_are_reported(org: Org) -> None:
    r = replay(org, "v2", faults="lock@2,callout@3")
    assert r.faults_fired == {"lock": 1, "callout": 1}
    d = r.to_json()
    assert d["faults_fired"] == {"lock": 1, "callout": 1}
    assert d["started_at"] == "2026-01-05T02:00:00.000+0000"
    assert d["ended_at"] > d["started_at"]


def test_partition_rows_add_up_or_say_why(org: Org) -> None:
    v2 = replay(org, "v2")
    assert sum(p.in_scope for p in v2.partitions) == v2.records
    assert sum(p.data_calls for p in v2.partitions) + v2.unattributed["data_calls"] == (
        v2.api_calls["data"])
    assert partition_notes(v2) == []
    org2 = Org()
    org2.load_scenario("massive-upload", records=2_000)
    v1 = replay(org2, "v1")  # reads its ranges inclusively: shared boundaries count twice
    assert sum(p.in_scope for p in v1.partitions) > v1.records
    assert any("counts in two partitions" in n for n in partition_notes(v1))


def test_progress_is_reported_during_the_job_phase(org: Org) -> None:
    seen: list[int] = []
    replay(org, "v2", progress=lambda r: seen.append(r.processed), progress_every=0.0)
    assert len(seen) > 5 and seen[-1] == 2_000
    assert any(0 < n < 2_000 for n in seen)  # not just 0 and done


def test_storage_file_replays_on_a_temporary_file_and_removes_it(
        tmp_path: Any, monkeypatch: Any, capsys: Any) -> None:
    # --storage file (what auto picks above FILE_BACKED_ABOVE records): the org lives in a
    # temporary file, the report is the same as in memory, and nothing is left behind.
    import tempfile

    from sforg_sim.cli import main

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[str] = []
    real = Org.__init__

    def spy(self: Org, *a: Any, **kw: Any) -> None:
        seen.append(str(kw.get("path")))
        real(self, *a, **kw)

    monkeypatch.setattr(Org, "__init__", spy)
    assert main(["replay", "--records", "2000", "--storage", "file", "--json"]) == 0
    on_file = capsys.readouterr().out
    assert any(p.endswith(".sforg") for p in seen)
    assert list(tmp_path.iterdir()) == []  # the temporary org file is gone
    seen.clear()
    assert main(["replay", "--records", "2000", "--storage", "memory", "--json"]) == 0
    in_memory = capsys.readouterr().out
    assert seen == ["None"]

    def core(out: str) -> Any:
        import json

        [r] = json.loads(out)["reports"]
        return {k: r[k] for k in ("records", "processed", "skipped", "stages", "api_calls")}

    assert core(on_file) == core(in_memory)


def test_another_user_is_not_the_job_user(org: Org) -> None:
    # The update/delete/insert faults are "another user": LastModifiedById must tell the
    # concurrent change from the job's own writes.
    replay(org, "v2", faults="update@1+2+3")
    # Their StageName changes left history rows (the job then set the records right).
    by = [r["CreatedById"] for r in org.query_records(
        "SELECT CreatedById FROM OpportunityHistory WHERE CreatedById != :me",
        me=org.user_id)]
    assert len(by) == 3
