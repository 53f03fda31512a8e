"""The strategies: small enforced API, valid values, shrinking towards simple."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import find as hfind
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from sforg_sim import strategies as sfst
from sforg_sim.cases import Dataset, order_key, sort_key

NO_SHRINK = settings(phases=[Phase.generate], max_examples=2_000, database=None)


def test_public_api_is_small_and_documented() -> None:
    assert sorted(sfst.__all__) == [
        "batch_scopes", "cases", "changes", "datasets", "editions", "external_ids",
        "fault_plans", "page_sizes", "partitionings", "remaining_quota", "run_configs"]
    public = {n for n, v in vars(sfst).items() if not n.startswith("_") and callable(v)
              and getattr(v, "__module__", "") == sfst.__name__}
    assert public == set(sfst.__all__)
    for name in sfst.__all__:
        assert len(inspect.getdoc(getattr(sfst, name)) or "") > 40, name


@given(sfst.datasets())
def test_unique_datasets_respect_the_case_insensitive_unique_field(ds: Dataset) -> None:
    keys = [sort_key(r.key) for r in ds.rows if r.key is not None]
    assert len(keys) == len(set(keys)) and ds.unique


@given(st.data())
def test_partitionings_are_disjoint_and_cover_their_span(data: st.DataObject) -> None:
    ds = data.draw(sfst.datasets())
    cp = data.draw(st.booleans())  # the source's order: code point, or the what if
    part = data.draw(sfst.partitionings(ds, code_point=cp))
    bounds = [order_key(p.start, cp) for p in part.parts] + [
        order_key(part.parts[-1].end, cp)]
    assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds)
    assert all(order_key(a.end, cp) == order_key(b.start, cp) for a, b in zip(
        part.parts, part.parts[1:]))
    lo, hi = bounds[0], bounds[-1]
    keys = ds.keys(cp)
    for key in keys:
        inside = lo <= order_key(key, cp) < hi
        assert (part.index_of(key, cp) is not None) == inside


def test_shrinks_to_small_simple_values() -> None:
    ds = find(sfst.datasets(), lambda d: len(d.rows) >= 3)
    assert [r.key for r in ds.rows] == ["externalOpp01", "externalOpp02", "externalOpp03"]
    assert {r.stage for r in ds.rows} == {"Prospecting"}
    sc = find(sfst.cases(), lambda s: True)
    assert sc.faults.size() == 0 and sc.config.page_size == 1
    assert len(sc.partitioning.parts) == 1 and not sc.dataset.rows


def test_generates_the_awkward_cases() -> None:
    # Each case only has to be reachable: generate until it shows up, without shrinking.
    def find(strategy: st.SearchStrategy[Any], condition: Any) -> Any:
        return hfind(strategy, condition, settings=NO_SHRINK)

    find(sfst.datasets(), lambda d: "externalOpp10" in {r.key for r in d.rows})  # width 1
    find(sfst.datasets(), lambda d: any(r.key and "_" in r.key for r in d.rows))
    find(sfst.datasets(), lambda d: any(r.key and "[" in r.key for r in d.rows))
    find(sfst.datasets(), lambda d: any(r.key and r.key.startswith("ExternalOPP")
                                        for r in d.rows))
    find(sfst.datasets(), lambda d: any(r.key is None for r in d.rows))
    find(sfst.datasets(), lambda d: any(r.source_stage is None for r in d.rows))
    dup = find(sfst.datasets(unique=False),
               lambda d: len(d.keys()) < len([r for r in d.rows if r.key]))
    assert dup.key_field == "Alt_External_ID__c"
    # Half-open boundaries in another case than the keys, and empty partitions.
    halves = sfst.datasets(min_size=3).flatmap(
        lambda d: sfst.partitionings(d, forms=("half-open",)).map(lambda p: (d, p)))
    find(halves, lambda dp: any(b.start.isupper() for b in dp[1].parts))
    find(halves, lambda dp: any(not any(dp[1].index_of(k) == b.index for k in Dataset.keys(dp[0]))
                                for b in dp[1].parts))
    find(sfst.fault_plans(["externalOpp01"]),
         lambda f: {c.kind for c in f.changes} == {"rekey", "insert"})


@pytest.mark.parametrize("make", [
    lambda: sfst.external_ids(styles=("padded", "paded")),
    lambda: sfst.external_ids(styles="padded"),
    lambda: sfst.external_ids(min_size=5, max_size=2),
    lambda: sfst.datasets(stages=("Prospecting", "Won")),
    lambda: sfst.datasets(styles=()),
    lambda: sfst.partitionings(Dataset(()), forms=("inclusive",)),
    lambda: sfst.partitionings(Dataset(()), max_parts=0),
    lambda: sfst.changes(["a"], kinds=("update", "undelete")),
    lambda: sfst.fault_plans(concurrent=("rekey", "merge")),
    lambda: sfst.fault_plans(max_each=-1),
    lambda: sfst.page_sizes(0, 3),
    lambda: sfst.batch_scopes(4, 2),
    lambda: sfst.remaining_quota(-1),
])
def test_strategies_refuse_bad_arguments_when_called(make: Any) -> None:
    # As hypothesis's own strategies do: at the call, naming the argument, never a silent
    # fallback (an unknown style used to become "padded").
    with pytest.raises(InvalidArgument):
        make()
