"""SOQL engine benchmarks on the ``massive-upload`` org.

    python benchmarks/bench_soql.py                 # 20k, 200k and 2M records
    python benchmarks/bench_soql.py --records 20000 # one size

Org files are cached in benchmarks/out/ (seeding 2M records takes about a minute).
Reports, per size: the keyset page time (median of 4 walks x 50 consecutive pages: it must
stay flat as N grows, O(log N)), the verification aggregate against hand-written sqlite3
doing the same count on the same connection in the same run (the ratio must be <= 1.5),
and an OFFSET 2000 page (median of 5).
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import raw_connection, seeded_file

from sforg_sim import Org
from sforg_sim.nightly import external_id

KEYSET = ("SELECT Id, External_ID__c, StageName FROM Opportunity WHERE External_ID__c > "
          ":last ORDER BY External_ID__c LIMIT 500")
AGG = ("SELECT StageName, COUNT(Id) cnt FROM Opportunity WHERE External_ID__c LIKE "
       "'externalOpp%' GROUP BY StageName")
HAND = ('SELECT "StageName", COUNT("Id") FROM "Opportunity" WHERE "IsDeleted" = 0 AND '
        '"External_ID__c" LIKE \'externalOpp%\' GROUP BY "StageName"')
OFFSET = ("SELECT Id, External_ID__c, StageName FROM Opportunity ORDER BY External_ID__c "
          "LIMIT 500 OFFSET 2000")


def org_for(n: int) -> Org:
    """The cached org file for ``n`` records (created on first use), opened in place.

    The SOQL result cache is turned off: these figures are what SQLite does per query,
    not what a repeat of the same query costs."""
    org = Org.open(seeded_file(n))
    org.soql.results.max_rows = 0
    return org


def bench(n: int) -> None:
    """Print the figures for an org of ``n`` records."""
    org = org_for(n)
    org.query(KEYSET, last="")  # compile once, warm the cache
    times = []
    # 4 walks of up to 50 consecutive pages from spread start points, as the V2 job pages.
    pages = min(50, n // 4 // 500 - 1)
    for w in range(4):
        last = external_id(1 + w * (n // 4))
        for _ in range(pages):
            t = time.perf_counter()
            body = org.query(KEYSET, last=last)
            times.append(time.perf_counter() - t)
            assert len(body["records"]) == 500
            last = body["records"][-1]["External_ID__c"]
    page_ms = statistics.median(times) * 1000
    org.query(AGG)
    conn = raw_connection(org)
    ours, hand = [], []
    for _ in range(3):
        t = time.perf_counter()
        body = org.query(AGG)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        rows = conn.execute(HAND).fetchall()
        hand.append(time.perf_counter() - t)
    assert sum(r["cnt"] for r in body["records"]) == sum(r[1] for r in rows) == n
    offs = []
    for _ in range(5):
        t = time.perf_counter()
        off = org.query(OFFSET)
        offs.append(time.perf_counter() - t)
        assert off["done"] and len(off["records"]) == 500
    off_ms = statistics.median(offs) * 1000
    print(f"{n:>9,} records | keyset page (LIMIT 500) median {page_ms:6.3f} ms | "
          f"aggregate {min(ours):7.3f} s vs sqlite3 {min(hand):7.3f} s "
          f"(ratio {min(ours) / min(hand):.2f}) | OFFSET 2000 page {off_ms:7.2f} ms")
    org.close()


def main() -> None:
    """Run the benchmark for the requested sizes."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, action="append",
                   help="org size (repeatable); default 20000, 200000, 2000000")
    args = p.parse_args()
    for n in args.records or [20_000, 200_000, 2_000_000]:
        bench(n)


if __name__ == "__main__":
    main()
