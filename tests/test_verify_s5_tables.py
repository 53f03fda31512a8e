"""verify-org's tables at 80 columns (review, session 5): ``check --partitions`` and
``progress``, end to end against the simulator's REST surface (``mock_org``) after a
replay, and ``render_progress`` with a long job detail.

At 80 columns (a CI log, a pipe: rich's default, or ``$COLUMNS``) every table line fits,
and what a reader greps for is whole on its row: job ids, types, statuses and counts, the
partition ranges and their totals. Nothing is cut with an ellipsis.
"""

from __future__ import annotations

import io
import json
import types
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from sforg_sim import Org
from sforg_sim.replay import replay
from sforg_sim.rest import mock_org
from verify.cli import main
from verify.report import render_progress

RECORDS = 3000
BOX = "─━│┃┏┓┗┛┡┩└┘├┤┼╇╋┳┻┬┴"
"""Characters that start or end a rich table line (the default box and SIMPLE_HEAD)."""


@pytest.fixture(scope="module")
def after_run() -> Iterator[Any]:
    """An org after a V2 replay in 3 partitions (so it has AsyncApexJob rows), served."""
    org = Org(instance_url="https://s5-tables.my.salesforce.com")
    org.load_scenario("massive-upload", records=RECORDS)
    report = replay(org, "v2", partition_count=3, page_size=500)
    assert report.outcome == "completed"
    with mock_org(org) as sim:
        yield sim


def _verify(sim: Any, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    argv = [*args, "--instance-url", sim.instance_url, "--access-token", sim.session_id]
    code = main(argv, sleep=lambda s: None)
    out, err = capsys.readouterr()
    assert err == ""
    return code, out


def _table_lines(text: str) -> list[str]:
    """Lines that belong to a table: a rule, or a row of a bordered table, or a row of a
    borderless one (indented columns)."""
    return [line for line in text.splitlines()
            if line.strip() and (line.lstrip()[0] in BOX or "   " in line.strip())]


def test_progress_at_80_columns(after_run: Any, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out = _verify(after_run, capsys, "progress")
    assert code == 0
    assert out.count("\n") > 10 and "…" not in out
    too_long = [line for line in out.splitlines() if len(line) > 80]
    assert too_long == []
    code, doc_text = _verify(after_run, capsys, "progress", "--json")
    jobs = json.loads(doc_text)["jobs"]
    assert len(jobs) >= 3
    lines = out.splitlines()
    for job in jobs[:20]:
        [row] = [line for line in lines if str(job["Id"]) in line]  # the id whole, once
        # Type and status whole on the id's line (they were split "Queueabl" / "e").
        assert f" {job['JobType']} " in row and f" {job['Status']} " in row, row
        batches = f"{job['JobItemsProcessed'] or 0:,}/{job['TotalJobItems'] or 0:,}"
        assert batches in row
        # The date to the minute: the day on the id's row, the time at most one below.
        created = str(job["CreatedDate"])
        day, minute = created[:10], created[11:16]
        i = lines.index(row)
        assert day in row and (minute in row or minute in lines[i + 1]), (row, created)
    # The stage counts under the jobs, whole.
    assert f"{RECORDS:,}" in out and "Qualification" in out


def test_check_partitions_at_80_columns(after_run: Any, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    args = ("--expect", f"Qualification={RECORDS}", "--partitions", "10")
    code, out = _verify(after_run, capsys, *args)
    assert code == 0 and "all expectations hold" in out
    tables = _table_lines(out)
    assert tables and all(len(line) <= 80 for line in tables), \
        [line for line in tables if len(line) > 80]
    code, doc_text = _verify(after_run, capsys, *args, "--json")
    parts = json.loads(doc_text)["partitions"]
    assert len(parts) == 10 and sum(p["total"] for p in parts) == RECORDS
    assert f"Counted in {len(parts)} partitions" in out
    for p in parts:
        # Each range whole on one row, with its total and its counts by value.
        [row] = [line for line in tables if p["label"] in line]
        assert f" {p['total']:,} " in row
        for value, n in p["counts"].items():
            assert f"{value}: {n:,}" in row
    # Nothing cut: the open-ended outer ranges use "…" in their label on purpose, and
    # only there.
    assert out.count("…") == sum(p["label"].count("…") for p in parts)


def test_progress_long_detail_is_one_whole_line_under_the_table() -> None:
    # A failed job's ExtendedStatus can be a long sentence: in a column beside six others
    # it was folded into a 6-character sliver ("record" / "s:"). It is one whole line per
    # job under the table (grep-able), and the table beside it stays within 80 columns
    # with the id, type, status and counts whole.
    detail = ("First error: Update failed. First exception on row 0 with id "
              "006000000000001AAA; first error: UNABLE_TO_LOCK_ROW, unable to obtain "
              "exclusive access to this record or 1 records: 006000000000001AAA")
    jobs = [{"Id": "7075j0000000001AAA", "JobType": "BatchApex", "Status": "Processing",
             "JobItemsProcessed": 1234, "TotalJobItems": 4000, "NumberOfErrors": 12,
             "CreatedDate": "2026-01-05T02:00:00.000+0000", "ExtendedStatus": detail},
            {"Id": "7075j0000000002AAA", "JobType": "ScheduledApex", "Status": "Queued",
             "JobItemsProcessed": 0, "TotalJobItems": 0, "NumberOfErrors": 0,
             "CreatedDate": "2026-01-05T02:01:00.000+0000", "ExtendedStatus": None}]
    summary = [{"status": "Processing", "jobs": 1, "items_processed": 1234,
                "total_items": 4000, "errors": 12}]
    conn = types.SimpleNamespace(instance_url="https://example.my.salesforce.com",
                                 source="test", usage=types.SimpleNamespace(
                                     used_by_run=3, last_used=10, maximum=100,
                                     remaining=90, sent=3))
    buf = io.StringIO()
    # As verify-org's own console: soft_wrap, so a text line is never broken.
    console = Console(file=buf, width=80, soft_wrap=True)
    render_progress(console, summary, jobs, {"Qualification": 5}, conn,  # type: ignore[arg-type]
                    [])
    lines = buf.getvalue().splitlines()
    assert f"  7075j0000000001AAA: {detail}" in lines
    assert not any("7075j0000000002AAA:" in line for line in lines)  # no detail, no line
    table = [line for line in lines if "7075j" in line and ": " not in line]
    assert len(table) == 2 and all(len(line) <= 80 for line in table), table
    for whole in (" BatchApex ", " Processing ", " 1,234/4,000 ", " 12 ", " 2026-01-05"):
        assert whole in table[0], table[0]
    # The widest type beside the widest counts: the date may wrap, at its space only.
    below = lines[lines.index(table[0]) + 1]
    assert "02:00" in table[0] or below.strip() == "02:00", below
    assert " ScheduledApex " in table[1] and " Queued " in table[1]
    assert all(len(line) <= 80 for line in lines if detail not in line)
