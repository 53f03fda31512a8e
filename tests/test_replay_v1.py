"""V1's failure modes, each under its named replay scenario, and determinism."""

from __future__ import annotations

from sforg_sim import Org
from sforg_sim.replay import replay


def _org(n: int) -> Org:
    org = Org()
    org.load_scenario("massive-upload", records=n)
    return org


def test_v1_restarts_on_the_documented_callout_rule_and_finishes_slowly() -> None:
    # Default: documented rules only. The callout after an update throws "uncommitted work
    # pending", the catch-all restarts at offset 0 and re-reads every page already done.
    r = replay(_org(40_000), "v1", partition_count=2)
    assert r.outcome == "completed"
    assert set(r.errors) == {"CalloutException: uncommitted work pending"}
    pages = 40_000 // 500
    # Nearly every page written costs a restart (fewer when a re-read page, in another
    # scan order, brings unwritten rows early)...
    assert r.errors["CalloutException: uncommitted work pending"] > pages // 2
    # ... and each restart re-reads the pages already done: calls grow with pages^2.
    assert r.api_calls["data"] > 5 * pages
    assert r.duplicates == 0


def test_v1_loops_when_offset_passes_the_cap_what_if() -> None:
    # The opt-in assumption (no document states a Data Cloud OFFSET cap).
    r = replay(_org(40_000), "v1-offset-cap", partition_count=2)
    assert r.outcome == "loop_detected"
    # 20,000 per partition but only offsets 0..2,000 are reachable: the rest is never read.
    assert r.skipped > 0.5 * r.records
    assert r.processed + r.skipped == r.records
    assert all(p.end == "aborted" for p in r.partitions)
    assert r.api_calls["data"] > 2 * 5  # pages re-read after each restart


def test_v1_burns_quota_until_request_limit_exceeded() -> None:
    org = _org(40_000)
    org.set_api_remaining(400)
    r = replay(org, "v1-burn-quota", partition_count=2)
    assert r.outcome == "request_limit_exceeded"
    assert r.api_calls["data"] == 400
    assert org.limits()["DailyApiRequests"]["Remaining"] == 0
    assert r.skipped > 0


def test_v1_skips_records_when_filtering_on_the_updated_field() -> None:
    r = replay(_org(20_000), "v1-skip", partition_count=10)
    assert r.outcome == "completed"
    # Every page leaves the filtered set, so each OFFSET jumps over unprocessed rows.
    assert 0.4 * r.records < r.skipped < 0.6 * r.records
    assert {p.end for p in r.partitions} == {"empty page"}
    assert r.stage_counts["Qualification"] == r.processed


def test_v1_stops_prematurely_on_one_empty_or_failed_page() -> None:
    r = replay(_org(20_000), "v1-premature-stop", partition_count=10)
    ends = [p.end for p in r.partitions]
    assert "failed: UNABLE_TO_LOCK_ROW" in ends
    assert r.outcome == "failed"  # a chain died: the run must not read as completed
    assert ends.count("empty page") == 10 - 1
    short = [p for p in r.partitions if p.written < p.in_scope - 1]
    assert len(short) >= 2 and r.skipped > 0


def test_same_seed_same_report() -> None:
    a = replay(_org(30_000), "v1", partition_count=3, seed=5, faults="callout:0.05")
    b = replay(_org(30_000), "v1", partition_count=3, seed=5, faults="callout:0.05")
    assert a.to_json() == b.to_json()
    c = replay(_org(30_000), "v1", partition_count=3, seed=6, faults="callout:0.05")
    assert c.to_json() != a.to_json()


def test_developer_edition_chain_depth_ends_v1_as_failed() -> None:
    org = Org(edition="developer")
    org.load_scenario("massive-upload", records=20_000)
    # 5,000 records (10 pages) per partition: each page written costs V1 a restart, a
    # chained job, so every chain passes Developer Edition's 5 jobs.
    r = replay(org, "v1-burn-quota", partition_count=4)
    assert r.outcome == "failed"
    assert {p.end for p in r.partitions} >= {"failed: ASYNC_EXCEPTION"}
