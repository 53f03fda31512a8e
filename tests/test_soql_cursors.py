"""Query cursors: batches, nextRecordsUrl, snapshot semantics, expiry, queryAll."""

from __future__ import annotations

from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.errors import SalesforceError
from sforg_sim.soql import CURSOR_LIFETIME
from sqlhelp import raw


@pytest.fixture
def org() -> Any:
    o = Org()
    o.insert("Account", [{"Name": f"n{i:04d}"} for i in range(2500)])
    yield o
    o.close()


def walk(org: Org, body: dict[str, Any]) -> list[str]:
    names = [r["Name"] for r in body["records"]]
    while not body["done"]:
        body = org.query_more(body["nextRecordsUrl"])
        names += [r["Name"] for r in body["records"]]
    return names


def test_batches_and_next_records_url(org: Org) -> None:
    body = org.query("SELECT Name FROM Account ORDER BY Name")
    assert (body["totalSize"], body["done"], len(body["records"])) == (2500, False, 2000)
    url = body["nextRecordsUrl"]
    assert url.startswith("/services/data/v59.0/query/01g") and url.endswith("-2000")
    assert len(url.rsplit("/", 1)[1].split("-")[0]) == 18
    more = org.query_more(url.rsplit("/", 1)[1])  # a bare locator works too
    assert (more["totalSize"], more["done"], len(more["records"])) == (2500, True, 500)
    assert "nextRecordsUrl" not in more and more["records"][0]["Name"] == "n2000"


@pytest.mark.parametrize(("asked", "used"), [(200, 200), (500, 500), (100, 200),
                                             (5000, 2000)])
def test_batch_size_is_clamped_to_200_2000(org: Org, asked: int, used: int) -> None:
    body = org.query("SELECT Name FROM Account ORDER BY Name", batch_size=asked)
    assert len(body["records"]) == used
    assert body["nextRecordsUrl"].endswith(f"-{used}")
    names = walk(org, body)
    assert names == [f"n{i:04d}" for i in range(2500)]


def test_limit_above_batch_makes_a_cursor_of_limit_rows(org: Org) -> None:
    body = org.query("SELECT Name FROM Account ORDER BY Name LIMIT 700", batch_size=200)
    assert body["totalSize"] == 700
    assert walk(org, body) == [f"n{i:04d}" for i in range(700)]


def test_query_more_batch_size_and_positions(org: Org) -> None:
    body = org.query("SELECT Name FROM Account ORDER BY Name", batch_size=200)
    loc = body["nextRecordsUrl"].rsplit("/", 1)[1].split("-")[0]
    jump = org.query_more(f"{loc}-2400", batch_size=300)
    assert [r["Name"] for r in jump["records"]][:1] == ["n2400"] and jump["done"]


def test_snapshot_ids_current_values(org: Org) -> None:
    body = org.query("SELECT Id, Name FROM Account WHERE Name LIKE 'n%' ORDER BY Name",
                     batch_size=200)
    later = org.query("SELECT Id FROM Account WHERE Name = 'n2499'")["records"][0]["Id"]
    org.update("Account", [{"Id": later, "Name": "renamed"}])   # no longer matches
    org.insert("Account", [{"Name": "n9999"}])                  # matches, but after the query
    names = walk(org, body)
    assert len(names) == 2500
    assert names[-1] == "renamed"   # snapshot of ids, current field values
    assert "n9999" not in names


def test_cursor_expires_after_two_simclock_days(org: Org) -> None:
    body = org.query("SELECT Name FROM Account")
    org.clock.advance(CURSOR_LIFETIME - 1)
    more = org.query_more(body["nextRecordsUrl"])
    assert len(more["records"]) == 500
    body = org.query("SELECT Name FROM Account")
    org.clock.advance(CURSOR_LIFETIME)
    with pytest.raises(SalesforceError) as info:
        org.query_more(body["nextRecordsUrl"])
    assert info.value.error_code == "INVALID_QUERY_LOCATOR"
    assert len(org.soql.cursors) == 0


def test_cursor_is_a_temp_table_not_python_rows(org: Org) -> None:
    body = org.query("SELECT Name FROM Account")
    loc = body["nextRecordsUrl"].rsplit("/", 1)[1].split("-")[0]
    cur = org.soql.cursors.get(loc)
    n = raw(org).execute(f"SELECT COUNT(*) FROM {cur.table}").fetchone()[0]
    assert n == cur.total == 2500
    assert not any(isinstance(v, list) for v in vars(cur).values())


def test_used_up_cursor_is_released(org: Org) -> None:
    body = org.query("SELECT Name FROM Account")
    last = org.query_more(body["nextRecordsUrl"])
    assert last["done"]
    with pytest.raises(SalesforceError) as info:
        org.query_more(body["nextRecordsUrl"])
    assert info.value.error_code == "INVALID_QUERY_LOCATOR"


def test_query_all_sees_deleted_rows(org: Org) -> None:
    ids = [r["Id"] for r in org.query("SELECT Id FROM Account ORDER BY Name LIMIT 3"
                                      )["records"]]
    org.delete("Account", ids)
    assert org.query("SELECT COUNT() FROM Account")["totalSize"] == 2497
    assert org.query("SELECT COUNT() FROM Account", include_deleted=True)["totalSize"] == 2500
    rows = org.query("SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true",
                     include_deleted=True)["records"]
    assert sorted(r["Id"] for r in rows) == sorted(ids) and all(r["IsDeleted"] for r in rows)
    body = org.query("SELECT Name FROM Account", include_deleted=True)
    assert body["totalSize"] == 2500 and len(walk(org, body)) == 2500
    assert len(org.query_records("SELECT Id FROM Account", include_deleted=True)) == 2500
    assert len(org.query_records("SELECT Id FROM Account")) == 2497


def test_aggregates_never_have_a_cursor(org: Org) -> None:
    body = org.query("SELECT Name, COUNT(Id) FROM Account GROUP BY Name LIMIT 2000",
                     batch_size=200)
    assert body["done"] is True and len(body["records"]) == 2000


def test_records_returns_everything_without_cursor(org: Org) -> None:
    recs = org.query_records("SELECT Name FROM Account ORDER BY Name")
    assert len(recs) == 2500 and len(org.soql.cursors) == 0


def test_cursor_snapshots_live_on_disk_and_go_with_the_store(tmp_path: Any) -> None:
    # Issue 14: 3,000 open cursors held 585 MB of memory (SQLite temp tables in memory).
    # Their snapshots live in a scratch database file now, deleted when the store closes.
    import os

    from sforg_sim.store import Store

    org = Org()
    org.insert("Account", [{"Name": f"a{i}"} for i in range(450)])
    body = org.query("SELECT Id FROM Account", batch_size=200)
    cur = next(iter(org.soql.cursors._open.values()))
    assert cur.table.startswith(Store.SCRATCH + ".") and body["nextRecordsUrl"]
    scratch = org.store._scratch
    assert scratch is not None and os.path.getsize(scratch) > 0
    assert org.query_more(body["nextRecordsUrl"])["records"]
    org.close()
    assert not os.path.exists(scratch)


def test_an_org_nobody_closes_leaves_no_scratch_file() -> None:
    # Most scripts and tests never close their Org: its scratch file must still go.
    import gc
    import os

    org = Org()
    scratch = org.store._scratch
    assert scratch is not None and os.path.exists(scratch)
    del org
    gc.collect()
    assert not os.path.exists(scratch)
