"""verify-org benchmark: the stage check and ``reconcile`` against a 2,000,000-record org.

    python benchmarks/bench_verify.py [--records 2000000] [--skip-reconcile]

Setup (not timed): the ``massive-upload`` org is seeded once and saved under
benchmarks/out/ (reused on later runs); a V2 replay runs on an in-memory copy, which is
saved as ``verify-after-<N>.db`` (also reused). That org is opened in memory and served
over HTTPS (``serve``).

Timed:
1. the check, in process (``verify.cli.main``), as a real pipeline runs it: the aggregate
   over HTTPS, rendering and exit code; best and median of 5 runs;
2. the same with ``--partitions 10`` (the QUERY_TIMEOUT fallback path);
3. ``verify-org reconcile`` over all rows in a child process (Bulk API 2.0 download,
   SQLite comparison), with the child's own peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import OUT, seeded_file


def _org_files(records: int) -> Path:
    """The org after a V2 replay (seeding, replaying and saving on first use)."""
    from sforg_sim import Org
    from sforg_sim.replay import replay

    OUT.mkdir(exist_ok=True)
    seeded = seeded_file(records)
    after = OUT / f"verify-after-{records}.db"
    if not after.exists():
        t = time.perf_counter()
        org = Org.open(seeded, in_memory=True)
        report = replay(org, "v2")
        org.save(after)
        print(f"  V2 replay ({report.outcome}, {report.processed:,} processed) and save in "
              f"{time.perf_counter() - t:.1f}s -> {after} (not timed)")
    return after


def _time_check(argv: list[str], runs: int = 5) -> tuple[float, float, int]:
    from verify.cli import main

    times, code = [], -1
    for _ in range(runs):
        with contextlib.redirect_stdout(io.StringIO()):
            t = time.perf_counter()
            code = main(argv)
            times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), code


# The child reports its own peak RSS from /proc (VmHWM). Not getrusage(RUSAGE_CHILDREN):
# ru_maxrss survives fork+exec, so a child forked from this process (which holds the
# 2M-record org in memory) would report this process's size, not its own.
_CHILD = """
import sys
from verify.cli import main
code = main(sys.argv[1:])
with open('/proc/self/status') as f:
    sys.stderr.write(''.join(ln for ln in f if ln.startswith('VmHWM')))
sys.exit(code)
"""


def _source_csv(records: int) -> Path:
    path = OUT / f"verify-source-{records}.csv"
    if not path.exists():
        with open(path, "w") as f:
            f.write("External_ID__c,StageName\n")
            for i in range(1, records + 1):
                f.write(f"externalOpp{i:07d},Qualification\n")
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--records", type=int, default=2_000_000)
    p.add_argument("--skip-reconcile", action="store_true")
    args = p.parse_args()
    n = args.records
    after = _org_files(n)

    from sforg_sim import Org
    from sforg_sim.rest import serve

    t = time.perf_counter()
    org = Org.open(after, in_memory=True)
    # Each check below repeats the same queries on unchanged data; a real verify-org runs
    # once after a run that changed everything. Time SQLite, not the result cache.
    org.soql.results.max_rows = 0
    print(f"opened {after.name} in memory in {time.perf_counter() - t:.1f}s (not timed)")
    with serve(org) as server:
        conn = ["--instance-url", server.instance_url, "--access-token", server.access_token]
        # The in-process check trusts the server's CA through the environment, as a user
        # of `sforg-sim serve` does.
        import os

        os.environ["REQUESTS_CA_BUNDLE"] = server.ca_bundle_path
        expect = ["--expect", f"Qualification={n}", "--expect", "Discovery=0",
                  "--expect", "Negotiation=0"]
        best, med, code = _time_check([*conn, *expect])
        print(f"check (aggregate, {n:,} records): best {best:.3f}s, median {med:.3f}s, "
              f"exit {code}")
        best, med, code = _time_check([*conn, *expect, "--partitions", "10"], runs=3)
        print(f"check (--partitions 10): best {best:.3f}s, median {med:.3f}s, exit {code}")
        if not args.skip_reconcile:
            src = _source_csv(n)
            env = {**os.environ, "SF_INSTANCE_URL": server.instance_url,
                   "SF_ACCESS_TOKEN": server.access_token}
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", _CHILD, "reconcile", "--source",
                                   str(src), "--out", str(OUT / "verify-mismatches.csv"),
                                   "--bulk-poll", "0"],
                                  env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - t
            hwm = [ln for ln in proc.stderr.splitlines() if ln.startswith("VmHWM")]
            tail = proc.stdout.strip().splitlines()[-1:] or [proc.stderr.strip()]
            print(f"reconcile ({n:,} rows): {seconds:.1f}s, peak RSS of verify-org "
                  f"{hwm[0].split(':')[1].strip() if hwm else '?'}, exit {proc.returncode} "
                  f"({tail[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
