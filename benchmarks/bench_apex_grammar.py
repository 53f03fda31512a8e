"""Time the Apex grammar's LALR builds (the three start rules: class, anonymous block,
expression) in a fresh process, with and without the on-disk cache
(``apexlang/parser.py`` ``_parser``: lark's ``cache=path``). Run it twice: the first run
of a grammar version writes the cache, the next ones load it.

    python benchmarks/bench_apex_grammar.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

_CHILD = ("import time; from sforg_sim.apexlang import parser; t = time.perf_counter(); "
          "[parser._parser(s) for s in ('compilation_unit', 'anon_unit', 'expr')]; "
          "print(time.perf_counter() - t)")


def _time(env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        res = subprocess.run([sys.executable, "-c", _CHILD], env=env, check=True,
                             capture_output=True, text=True)
        out.append(float(res.stdout.strip()))
    return out


def main() -> None:
    """Print the median build time of the three Apex parsers per process, cache off/on."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    off = _time({**os.environ, "SFORG_SIM_GRAMMAR_CACHE": "off"}, args.runs)
    _time(dict(os.environ), 1)  # writes the cache if this grammar has none yet
    on = _time(dict(os.environ), args.runs)
    print(f"cache off: median {statistics.median(off):.3f} s (min {min(off):.3f})")
    print(f"cache on:  median {statistics.median(on):.3f} s (min {min(on):.3f})")


if __name__ == "__main__":
    main()
