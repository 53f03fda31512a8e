"""How well the property kit catches issue 18's mutants, and what it costs.

Each mutant of ``tests/broken_processors.py`` (one per generation gap) and each correct
processor goes through :func:`sforg_sim.checker.check_processor` as a user would: once
under the ``ci`` profile (derandomized with a fixed seed: one run says it all) and ``N``
times under default settings (hypothesis's default profile, a fresh random seed each
time). Printed per target: detection rate, median shrunk size (records in the reported
counterexample) and median seconds per call.

    .venv/bin/python benchmarks/kit_detection.py              # N = 10, every target
    .venv/bin/python benchmarks/kit_detection.py -n 3 --only collation_cursor,v2

It takes minutes (hundreds of shrinking runs per caught mutant); figures go to
``benchmarks/README.md`` ("Property kit"). Tests pin the ``ci`` profile and never loop.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "examples")]

from broken_processors import GAP_MUTANTS, DividedStart, factory  # noqa: E402
from correct_processors import CORRECT  # noqa: E402
from sforg_sim.checker import ProcessorCheckFailed, check_processor  # noqa: E402
from sforg_sim.harness import Target  # noqa: E402


def _correct() -> dict[str, Callable[[], Target]]:
    """The correct processors that must pass: the V2 port, the tutorial's, Apex V2, and
    the other designs of ``tests/correct_processors.py``."""
    from sforg_sim.apexkit import ApexProcessor
    from sforg_sim.processors.keyset import KeysetProcessor

    def tutorial() -> Target:
        import test_my_processor  # examples/: the README's tutorial processor
        return test_my_processor.my_job

    classes = ROOT / "examples" / "massive-upload" / "force-app" / "main" / "default" / "classes"
    out: dict[str, Callable[[], Target]] = {
        "v2": KeysetProcessor,
        "keyset (no bugs)": factory,
        "tutorial": tutorial,
        "apex v2": lambda: ApexProcessor.from_expression(
            classes, "new DynamicPartitionProcessorV2(i, startId, endId)"),
    }
    # Other correct designs (a look-ahead, a Batchable over a QueryLocator, several
    # pages per transaction): the kit once flagged them (second review).
    for name, job in CORRECT.items():
        out[name] = lambda job=job: job
    return out


def _targets() -> dict[str, tuple[Callable[[], Target], bool]]:
    """name -> (builder, should fail)."""
    out: dict[str, tuple[Callable[[], Target], bool]] = {
        name: (build, False) for name, build in _correct().items()}
    for gap, bugs in GAP_MUTANTS.items():
        out[f"{gap}: {'+'.join(bugs)}"] = (lambda b=bugs: factory(**dict.fromkeys(b, True)),
                                           True)
    out["gap 5 start: keys // k"] = (DividedStart, True)
    out["gap 5 start: numbers // k"] = (lambda: DividedStart(numeric=True), True)
    return out


def _one(target: Target, profile: str | None) -> tuple[bool, int | None, float, str]:
    """(caught, shrunk records, seconds, invariant) for one check_processor call."""
    t = time.perf_counter()
    try:
        check_processor(target, profile=profile)
    except ProcessorCheckFailed as e:
        return (True, len(e.case.dataset.rows) + len(e.case.dataset.source_only),
                time.perf_counter() - t, getattr(e.violation, "invariant", "?"))
    return False, None, time.perf_counter() - t, ""


def main(argv: list[str] | None = None) -> int:
    """Run the table; exit 1 if a correct processor was flagged."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10, help="default-settings runs per target")
    ap.add_argument("--only", default="", help="comma-separated name fragments")
    args = ap.parse_args(argv)
    wanted = [w for w in args.only.split(",") if w]
    false_alarm = False
    print(f"{'target':44} {'ci':>14} {'default: caught':>16} {'median size':>12} "
          f"{'median s':>9}  invariants")
    for name, (build, should_fail) in _targets().items():
        if wanted and not any(w in name for w in wanted):
            continue
        ci = _one(build(), "ci")
        runs = [_one(build(), None) for _ in range(args.n)]
        caught = [r for r in runs if r[0]]
        sizes = [r[1] for r in caught if r[1] is not None]
        secs = [r[2] for r in runs]
        kinds = sorted({r[3] for r in [ci, *runs] if r[0]})
        ci_txt = (f"caught, {ci[1]} rec" if ci[0] else "passed") + f" {ci[2]:.0f}s"
        print(f"{name:44} {ci_txt:>14} {len(caught):>10}/{len(runs):<5} "
              f"{statistics.median(sizes) if sizes else '-':>12} "
              f"{statistics.median(secs):>9.1f}  {', '.join(kinds)}", flush=True)
        if not should_fail and (ci[0] or caught):
            false_alarm = True
    return 1 if false_alarm else 0


if __name__ == "__main__":
    raise SystemExit(main())
