"""Collation, describe, org files and scenario determinism."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from sforg_sim import Org
from sforg_sim.errors import UsageError
from sforg_sim.nightly import SOURCE_OBJECT, external_id
from sqlhelp import raw


def _sorted_by_sort_key(org: Org, values: list[str]) -> list[str]:
    org.insert("Opportunity", [{"Name": v, "StageName": "Prospecting",
                                "CloseDate": "2026-01-01", "External_ID__c": v}
                               for v in values])
    return [r[0] for r in raw(org).execute(
        'SELECT External_ID__c FROM Opportunity ORDER BY "External_ID__c__sk", rowid')]


def test_text_sorts_by_its_upper_case_form(sf_org: Org) -> None:
    # Salesforce (English locale) orders by the upper-case form, so "_" (0x5F) sorts after
    # every letter; SQLite NOCASE folds to lower case and would put it before "b".
    got = _sorted_by_sort_key(sf_org, ["ext_a", "extB", "exta", "EXT[", "ext1", "Ext0"])
    assert got == ["Ext0", "ext1", "exta", "extB", "EXT[", "ext_a"]


def test_sort_key_is_unicode_upper_case(sf_org: Org) -> None:
    _sorted_by_sort_key(sf_org, ["straße"])
    row = raw(sf_org).execute('SELECT "External_ID__c__sk" FROM Opportunity').fetchone()
    assert row == ("STRASSE",)


def test_describe_has_the_rest_shape() -> None:
    d = Org().schema.get("opportunity").describe("/services/data/v59.0")
    assert d["name"] == "Opportunity" and d["keyPrefix"] == "006"
    ext = next(f for f in d["fields"] if f["name"] == "External_ID__c")
    assert (ext["externalId"], ext["unique"], ext["caseSensitive"], ext["custom"]) == (
        True, True, False, True)
    stage = next(f for f in d["fields"] if f["name"] == "StageName")
    values = [v["value"] for v in stage["picklistValues"]]
    assert {"Prospecting", "Qualification", "Discovery", "Negotiation"} <= set(values)
    names = {o["name"] for o in Org().schema.describe_global("/services/data/v59.0")["sobjects"]}
    assert {"Opportunity", "Account", "User", "Organization", "AsyncApexJob",
            "OpportunityHistory"} <= names


def _digest(org: Org, table: str) -> str:
    h = hashlib.sha256()
    for row in raw(org).execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
        h.update(repr(row).encode())
    return h.hexdigest()


@pytest.mark.parametrize("scenario", ["massive-upload", "small"])
def test_scenarios_are_deterministic(scenario: str) -> None:
    a, b, c = Org(), Org(), Org()
    a.load_scenario(scenario, records=500, seed=7)
    b.load_scenario(scenario, records=500, seed=7)
    c.load_scenario(scenario, records=500, seed=8)
    for table in ("Opportunity", "OpportunityHistory", SOURCE_OBJECT):
        assert _digest(a, table) == _digest(b, table)
    assert _digest(a, "Opportunity") != _digest(c, "Opportunity")


def test_massive_upload_matches_the_team_setup() -> None:
    org = Org()
    org.load_scenario("massive-upload", records=1000)
    conn = raw(org)
    ext = [r[0] for r in conn.execute('SELECT External_ID__c FROM Opportunity ORDER BY rowid')]
    assert ext == [external_id(i) for i in range(1, 1001)]
    assert ext[0] == "externalOpp0000001"
    stages = dict(conn.execute('SELECT StageName, COUNT(*) FROM Opportunity GROUP BY 1'))
    assert "Qualification" not in stages and sum(stages.values()) == 1000
    assert len(stages) == 5
    src = dict(conn.execute(f'SELECT StageName__c, COUNT(*) FROM "{SOURCE_OBJECT}" GROUP BY 1'))
    assert src == {"Qualification": 1000}
    # Every Opportunity has its creation history row, as the real org writes one.
    assert conn.execute('SELECT COUNT(DISTINCT OpportunityId) FROM OpportunityHistory'
                        ).fetchone() == (1000,)
    # Ids built in SQL are valid 18-character ids, and later inserts continue after them.
    from sforg_sim import ids

    first = conn.execute('SELECT Id FROM Opportunity ORDER BY rowid LIMIT 1').fetchone()[0]
    assert first == ids.make_id("006", 1)
    [r] = org.insert("Opportunity", [{"Name": "n", "StageName": "Discovery",
                                      "CloseDate": "2026-01-01"}])
    assert r["id"] == ids.make_id("006", 1001)


def test_scenario_bad_input() -> None:
    # Caller mistakes: plain usage errors naming the reason, no Salesforce error code.
    with pytest.raises(UsageError, match="unknown scenario 'huge'"):
        Org().load_scenario("huge")
    with pytest.raises(UsageError, match="whole number >= 0"):
        Org().load_scenario("small", records=-5)


def test_save_and_open_round_trip(tmp_path: Path) -> None:
    org = Org(edition="developer")
    org.load_scenario("massive-upload", records=300)
    org.add_field("Opportunity", "Note__c", "string", length=50)
    org.clock.advance(7200)
    org.charge_api(42)
    path = tmp_path / "org.sforg"
    org.save(path)
    again = Org.open(path)
    assert again.edition == "developer"
    assert again.clock.time() == org.clock.time()
    assert again.limits()["DailyApiRequests"]["Remaining"] == 15_000 - 42
    assert again.schema.get("Opportunity").field("note__c").length == 50
    assert _digest(again, "Opportunity") == _digest(org, "Opportunity")
    # Ids continue where the saved org stopped, and writes land in the reopened org.
    [r] = again.insert("Opportunity", [{"Name": "n", "StageName": "Discovery",
                                        "CloseDate": "2026-01-01", "Note__c": "hi"}])
    assert r["id"] > max(x[0] for x in raw(org).execute('SELECT Id FROM Opportunity'))
    again.close()


def test_open_in_memory_leaves_the_file_alone(tmp_path: Path) -> None:
    org = Org()
    org.load_scenario("small", records=20)
    path = tmp_path / "o.sforg"
    org.save(path)
    copy = Org.open(path, in_memory=True)
    opp = raw(copy).execute('SELECT Id FROM Opportunity LIMIT 1').fetchone()[0]
    copy.delete("Opportunity", [opp])
    untouched = Org.open(path)
    assert untouched.get("Opportunity", opp)["IsDeleted"] is False


@pytest.mark.parametrize("name, records", [("massive-upload", 450), ("small", 450)])
def test_loading_reports_progress_up_to_done(name: str, records: int) -> None:
    seen: list[tuple[int, int]] = []
    org = Org()
    org.load_scenario(name, records=records, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == seen[-1][1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert org.query("SELECT COUNT() FROM Opportunity")["totalSize"] == records


def test_massive_upload_loads_in_chunks_with_the_same_rows(monkeypatch: Any) -> None:
    # Chunked statements (for the progress bar) must build exactly the rows one statement
    # builds: the same ids, keys and stages, in the same order.
    import sforg_sim.scenarios as sc

    def rows(chunk: int) -> list[tuple[Any, ...]]:
        monkeypatch.setattr(sc, "CHUNK", chunk)
        steps: list[int] = []
        org = Org()
        org.load_scenario("massive-upload", records=1_000,
                          progress=lambda d, t: steps.append(t))
        assert steps[-1] == 3 * -(-1_000 // chunk) + len(org.store.index_names(
            org.schema.get("Opportunity"))) + len(org.store.index_names(
                org.schema.get("OpportunityHistory"))) + len(org.store.index_names(
                    org.schema.get("Opportunity_Source__dlm"))) + 1
        return org.store.select(org.schema.get("Opportunity"),
                                ["Id", "External_ID__c", "StageName", "Name"])

    assert rows(1_000) == rows(300)
