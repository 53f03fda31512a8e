"""Time a grammar's LALR build in a fresh process, with and without the on-disk cache:
the SOQL grammar (``soql/parser.py`` ``cached_lark``) or the Apex grammar's three start
rules (class, anonymous block, expression; ``apexlang/parser.py``, lark's ``cache=path``).
Run it twice: the first run of a grammar version writes the cache, the next ones load it.

    python benchmarks/bench_grammar_cache.py [--grammar soql|apex] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

_CHILDREN = {
    "soql": ("import time; from sforg_sim.soql import parser; t = time.perf_counter(); "
             "parser._parser(); print(time.perf_counter() - t)"),
    "apex": ("import time; from sforg_sim.apexlang import parser; t = time.perf_counter(); "
             "[parser._parser(s) for s in ('compilation_unit', 'anon_unit', 'expr')]; "
             "print(time.perf_counter() - t)"),
}


def _time(child: str, env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        res = subprocess.run([sys.executable, "-c", child], env=env, check=True,
                             capture_output=True, text=True)
        out.append(float(res.stdout.strip()))
    return out


def main() -> None:
    """Print the median grammar build time per process, cache off and on."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--grammar", choices=sorted(_CHILDREN), default="soql")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    child = _CHILDREN[args.grammar]
    off = _time(child, {**os.environ, "SFORG_SIM_GRAMMAR_CACHE": "off"}, args.runs)
    _time(child, dict(os.environ), 1)  # writes the cache if this grammar has none yet
    on = _time(child, dict(os.environ), args.runs)
    print(f"{args.grammar} cache off: median {statistics.median(off):.3f} s "
          f"(min {min(off):.3f})")
    print(f"{args.grammar} cache on:  median {statistics.median(on):.3f} s "
          f"(min {min(on):.3f})")


if __name__ == "__main__":
    main()
