"""Partitions, the start scripts and V2's exactness."""

from __future__ import annotations

import math

import pytest

from sforg_sim import Org
from sforg_sim.errors import UsageError
from sforg_sim.processors import parse_range, partitions, progress
from sforg_sim.processors.keyset import start_v2
from sforg_sim.replay import replay


def test_partitions_use_the_team_boundary_form() -> None:
    parts = partitions(2_000_000, 10)
    assert parts[0].label() == "externalOpp0000001 to externalOpp0200001"
    assert parts[1].start == "externalOpp0200001"
    assert parts[-1].label() == "externalOpp1800001 to externalOpp2000001"
    assert parse_range("externalOpp0000001 to externalOpp0200001", 3).index == 3
    for bad in ("externalOpp0000001", "b to a"):
        with pytest.raises(UsageError):
            parse_range(bad)
    with pytest.raises(UsageError):
        partitions(5, 6)


def _org(n: int) -> Org:
    org = Org()
    org.load_scenario("massive-upload", records=n)
    return org


@pytest.mark.parametrize(("records", "parts", "page"),
                         [(1000, 3, 100), (2500, 10, 500), (1234, 4, 200), (600, 1, 600)])
def test_v2_processes_every_record_exactly_once(records: int, parts: int, page: int) -> None:
    r = replay(_org(records), "v2", partition_count=parts, page_size=page)
    assert (r.outcome, r.processed, r.duplicates, r.skipped) == ("completed", records, 0, 0)
    assert r.stage_counts == {"Qualification": records}
    sizes = [p.in_scope for p in r.partitions]
    assert sum(sizes) == records
    assert r.api_calls["data"] == sum(math.ceil(s / page) + 3 for s in sizes)
    assert [p.data_calls for p in r.partitions] == [math.ceil(s / page) + 3 for s in sizes]
    assert r.api_calls["total"] == r.api_calls["data"]
    assert r.async_executions == r.api_calls["data"]


def test_v2_survives_transient_faults() -> None:
    r = replay(_org(3000), "v2", partition_count=3, faults="callout:0.1,lock:0.1,empty:0.1",
               seed=7)
    assert (r.processed, r.duplicates, r.skipped) == (3000, 0, 0)
    assert r.api_calls["data"] > sum(math.ceil(p.in_scope / 500) + 3 for p in r.partitions)


def test_v2_with_concurrent_changes_by_another_user() -> None:
    org = _org(3000)
    r = replay(org, "v2", partition_count=3, faults="delete:0.2,insert:0.2", seed=3)
    assert r.outcome == "completed" and r.duplicates == 0
    live = org.query("SELECT COUNT() FROM Opportunity WHERE External_ID__c LIKE 'ext%'")
    assert r.records == live["totalSize"]
    # Inserts land behind each chain's cursor or ahead of it: those ahead are processed.
    assert r.stage_counts.get("Qualification", 0) >= 3000 - 2 * 0.2 * r.async_executions


def test_start_script_and_progress() -> None:
    org = _org(1000)
    from sforg_sim.datacloud import DataCloudSource

    DataCloudSource(org).attach(org.apex)
    ids = start_v2(org, partitions(1000, 2))
    assert len(ids) == 2
    assert any("Started DynamicPartitionV2_0: externalOpp0000001 to externalOpp0000501" in m
               for _, _, m in org.apex.log)
    assert progress(org)["jobs"] == {"Queued": 2}
    org.apex.run_until_idle()
    p = progress(org)
    assert p["jobs"] == {"Completed": 2 * (1 + 3)} and p["api_used"] == 8


def test_timeline_traces_the_whole_run_for_the_plot() -> None:
    r = replay(_org(2000), "v2", partition_count=2, page_size=200)
    times = [t for t, _, _ in r.timeline]
    assert len(r.timeline) >= r.async_executions  # one point per event, not one per run
    assert times == sorted(times)
    assert r.timeline[-1][1:] == (2000, r.api_calls["data"])
    assert [p for _, p, _ in r.timeline] == sorted(p for _, p, _ in r.timeline)
