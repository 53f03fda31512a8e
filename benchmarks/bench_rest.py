"""REST surface benchmark: the verification aggregate and a 200k-row query_all_iter.

    python benchmarks/bench_rest.py [--records N] [--iter-rows 200000] [--repeat 3]

1. The team's verification aggregate (``SELECT StageName, COUNT(Id) cnt FROM Opportunity
   WHERE External_ID__c LIKE 'externalOpp%' GROUP BY StageName``): ``org.query`` directly,
   then through unmodified simple-salesforce over ``mock_org`` and over the HTTPS server;
   best of ``--repeat`` runs, and the REST/direct ratios.
2. A full ``query_all_iter`` of ``--iter-rows`` rows over the HTTPS server (rows/s).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from simple_salesforce import Salesforce

from sforg_sim import Org
from sforg_sim.rest import mock_org, serve

AGGREGATE = ("SELECT StageName, COUNT(Id) cnt FROM Opportunity "
             "WHERE External_ID__c LIKE 'externalOpp%' GROUP BY StageName")


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Fastest wall time of ``repeat`` runs, and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def counts(body: dict[str, Any]) -> dict[str, int]:
    return {r["StageName"]: r["cnt"] for r in body["records"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--iter-rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    t = time.perf_counter()
    org = Org()
    org.soql.results.max_rows = 0  # best-of-N repeats one query: time SQLite, not the cache
    org.load_scenario("massive-upload", records=args.records)
    print(f"seeded {args.records:,} Opportunities in {time.perf_counter() - t:.1f} s")

    direct_s, direct = best(lambda: org.query(AGGREGATE), args.repeat)
    print(f"aggregate, org.query directly:      {direct_s * 1000:9.1f} ms  {counts(direct)}")

    with mock_org(org) as sim:
        sf = Salesforce(instance_url=sim.instance_url, session_id=sim.session_id)
        mock_s, via_mock = best(lambda: sf.query(AGGREGATE), args.repeat)
    assert counts(via_mock) == counts(direct)
    print(f"aggregate, simple-salesforce/mock:  {mock_s * 1000:9.1f} ms  "
          f"ratio {mock_s / direct_s:5.2f}x")

    with serve(org) as server:
        sf = Salesforce(instance_url=server.instance_url, session_id=server.access_token,
                        session=server.http_session())
        srv_s, via_srv = best(lambda: sf.query(AGGREGATE), args.repeat)
        assert counts(via_srv) == counts(direct)
        print(f"aggregate, simple-salesforce/HTTPS: {srv_s * 1000:9.1f} ms  "
              f"ratio {srv_s / direct_s:5.2f}x")

        soql = "SELECT Id, Name, StageName, External_ID__c FROM Opportunity"
        if args.iter_rows < args.records:
            soql += f" WHERE External_ID__c <= 'externalOpp{args.iter_rows:07d}'"
        t = time.perf_counter()
        n = sum(1 for _ in sf.query_all_iter(soql))
        secs = time.perf_counter() - t
        print(f"query_all_iter over HTTPS: {n:,} rows in {secs:.2f} s = "
              f"{n / secs:,.0f} rows/s ({-(-n // 2000)} pages)")
        t = time.perf_counter()
        n2 = sum(1 for _ in org_iter(org, soql))
        d = time.perf_counter() - t
        print(f"same rows via org.query/query_more directly: {d:.2f} s = {n2 / d:,.0f} rows/s")


def org_iter(org: Org, soql: str) -> Any:
    """Page through a query with the Python API (the baseline for the REST figure)."""
    body = org.query(soql)
    yield from body["records"]
    while not body["done"]:
        body = org.query_more(body["nextRecordsUrl"])
        yield from body["records"]


if __name__ == "__main__":
    main()
