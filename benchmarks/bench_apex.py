"""Apex runtime benchmarks (issue 15's targets), wall clock.

1. Deploy 10 classes of about 300 lines each (target: under a second in total).
2. A loop of 1,000,000 simple statements in anonymous Apex against the same loop in plain
   Python (target: within 20x). Two loop shapes: the classic ``for`` the compiler turns
   into ``range`` and a ``while`` loop that keeps Apex's per-iteration checks.
3. V2 end to end on a small massive-upload org (start_v2 + run_until_idle).

    .venv/bin/python benchmarks/bench_apex.py
"""

from __future__ import annotations

import time
from pathlib import Path

from sforg_sim import Org
from sforg_sim.apexlang import deploy, execute_anonymous
from sforg_sim.apexlang.parser import parse_class
from sforg_sim.datacloud import DataCloudSource

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ROOT / "examples" / "massive-upload" / "force-app" / "main" / "default" / "classes"


def _class(i: int) -> str:
    methods = []
    for m in range(28):
        methods.append(f"""    public Integer work{m}(Integer n) {{
        Integer total = 0;
        List<String> names = new List<String>();
        for (Integer k = 0; k < n; k++) {{
            if (Math.mod(k, 3) == 0) {{ total += k; }} else {{ total -= 1; }}
            names.add('item' + k);
        }}
        Map<String, Object> m = new Map<String, Object>{{'total' => total}};
        return total + names.size() + (m.containsKey('total') ? 1 : 0);
    }}""")
    return f"public class Bench{i} {{\n    public Integer field = {i};\n" + \
        "\n".join(methods) + "\n}\n"


def bench_deploy() -> None:
    sources = {f"Bench{i}": _class(i) for i in range(10)}
    lines = sum(s.count("\n") for s in sources.values())
    org = Org()
    t = time.perf_counter()
    results = deploy(org, sources)
    took = time.perf_counter() - t
    assert all(r.success for r in results), results
    t = time.perf_counter()
    for src in sources.values():
        parse_class(src)
    parse = time.perf_counter() - t
    print(f"deploy: 10 classes, {lines:,} lines in {took * 1000:.0f} ms "
          f"(parsing alone: {parse * 1000:.0f} ms)")


def bench_loop(n: int = 1_000_000, repeat: int = 3) -> None:
    """Best of ``repeat`` runs each (after one warm-up block), so the first run's imports
    and caches do not count. Also prints the Apex CPU time the meter charged the loop
    (``Limits.getCpuTime()``, measured thread CPU time: see ``apexlang/runtime.py``)."""
    org = Org()
    execute_anonymous(org, "System.debug(1);")

    def py_for() -> float:
        t = time.perf_counter()
        x = 0
        for i in range(n):
            x = x + i
        return time.perf_counter() - t

    def py_while() -> float:
        t = time.perf_counter()
        x, i = 0, 0
        while i < n:
            x = x + i
            i = i + 1
        return time.perf_counter() - t

    for label, src, base in [
        ("for (Integer i = 0; i < N; i++) { x = x + i; }",
         f"Long x = 0; for (Integer i = 0; i < {n}; i++) {{ x = x + i; }} "
         "System.debug(Limits.getCpuTime());", py_for),
        ("while (i < N) { x = x + i; i = i + 1; }",
         f"Long x = 0; Integer i = 0; while (i < {n}) {{ x = x + i; i = i + 1; }} "
         "System.debug(Limits.getCpuTime());", py_while),
    ]:
        apex, python, cpu = [], [], []
        for _ in range(repeat):
            t = time.perf_counter()
            res = execute_anonymous(org, src)
            apex.append(time.perf_counter() - t)
            assert res.success, res.exception_message
            cpu.append(int(res.log[-1].rsplit("|", 1)[1]))
            python.append(base())
        took, ref = min(apex), min(python)
        print(f"loop {label}: Apex {took * 1000:.0f} ms, Python {ref * 1000:.0f} ms, "
              f"ratio {took / ref:.1f}x; Apex CPU charged {min(cpu)} ms")


def bench_v2(records: int = 20_000) -> None:
    org = Org()
    org.load_scenario("massive-upload", records=records)
    DataCloudSource(org).attach(org.apex)
    assert all(r.success for r in deploy(org, CLASSES))
    src = (ROOT / "examples" / "massive-upload" / "scripts" / "start_v2.apex").read_text()
    t = time.perf_counter()
    assert execute_anonymous(org, src.replace("2000000", str(records))).success
    sim0 = org.clock.time()
    org.apex.run_until_idle()
    took = time.perf_counter() - t
    print(f"V2 in Apex, {records:,} records: {took:.1f} s wall, "
          f"{(org.clock.time() - sim0) / 60:.1f} min simulated")


if __name__ == "__main__":
    bench_deploy()
    bench_loop()
    bench_v2()
