"""The Data Cloud source's page caches return exactly what an uncached source returns.

Without ORDER BY the source scans its segments in one of several orders (the trap V1 fell
into). Pages are cached, and a page holding the same rows for two scan orders is built
once; a page stitched from segments out of order must never be taken for another one.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sforg_sim import Org
from sforg_sim.datacloud import DataCloudSource
from sforg_sim.nightly import SOURCE_OBJECT, source_object_fields


def _pages(rows: int, segment_rows: int, limit: int, offset: int, seed: int,
           cache_pages: int, calls: int = 60) -> list[list[str]]:
    org = Org()
    org.add_object(SOURCE_OBJECT, source_object_fields())
    org.insert(SOURCE_OBJECT, [{"External_ID__c": f"r{i}"} for i in range(1, rows + 1)])
    src = DataCloudSource(org, charge_api=False, segment_rows=segment_rows,
                          order_variants=16, seed=seed, cache_pages=cache_pages)
    sql = f"SELECT External_ID__c FROM {SOURCE_OBJECT} LIMIT {limit} OFFSET {offset}"
    out = []
    for _ in range(calls):
        body = src.handle("POST", "/api/v1/query", {"sql": sql}).body
        out.append([d["External_ID__c"] for d in body["data"]])
    org.close()
    return out


@settings(deadline=None)  # examples: the profile (ci 50, thorough 1,000)
@given(rows=st.integers(1, 30), segment_rows=st.integers(1, 6), limit=st.integers(1, 12),
       offset=st.integers(0, 10), seed=st.integers(0, 3))
@example(rows=8, segment_rows=2, limit=4, offset=1, seed=1).via(
    "rowids [2, 7, 8, 5] share first, last and count with [2, 3, 4, 5] (review of session 3)")
def test_cached_pages_are_the_uncached_pages(rows: int, segment_rows: int, limit: int,
                                             offset: int, seed: int) -> None:
    cached = _pages(rows, segment_rows, limit, offset, seed, cache_pages=4096)
    assert cached == _pages(rows, segment_rows, limit, offset, seed, cache_pages=0)
