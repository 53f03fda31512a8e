"""Async Apex conformance: snippets that deploy Queueable/Batchable/Schedulable classes,
run anonymous blocks that enqueue them, let the engine run every job
(``org.apex.run_until_idle()``), and expect the debug output of the whole sequence.

Case files are ``tests/apex_conformance/async/*.apex``; each case starts with ``//# title``
and is a list of steps, each opened by a marker line:

- ``//=== class`` the Apex class source that follows is deployed (must compile);
- ``//=== run`` the anonymous block that follows runs (must succeed, unless the step
  holds a ``//! Type: message`` line: then it must fail with that exception);
- ``//=== idle`` the engine runs until no job is left (simulated time).

``//> text`` lines anywhere in the case are the expected ``USER_DEBUG`` messages of all
the transactions (anonymous and async) in the order they ran. ``//? SOQL => value`` lines
are checked after the last step: the first column of the first row (or ``totalSize``
for a ``COUNT()`` query) printed as text. Behaviours come from the Apex Developer Guide
pages cited in each case title.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import deploy, execute_anonymous, runtime_for

HERE = Path(__file__).parent / "apex_conformance" / "async"


@dataclass
class Step:
    """One step of a case: ``class``, ``run`` or ``idle`` with its source."""

    kind: str
    source: str = ""
    error: str | None = None


@dataclass
class Case:
    """One async conformance case."""

    title: str
    steps: list[Step] = field(default_factory=list)
    expect: list[str] = field(default_factory=list)
    checks: list[tuple[str, str]] = field(default_factory=list)


def parse_cases(text: str, stem: str) -> list[Case]:
    """The cases of one file (format in the module docstring)."""
    cases = []
    for chunk in text.split("//# ")[1:]:
        title, _, body = chunk.partition("\n")
        case = Case(f"{stem}: {title.strip()}")
        current: Step | None = None
        for line in body.splitlines():
            if line.startswith("//=== "):
                kind = line[6:].strip()
                if kind not in ("class", "run", "idle"):
                    raise ValueError(f"{case.title}: unknown step {kind!r}")
                current = Step(kind)
                case.steps.append(current)
            elif line.startswith("//> "):
                case.expect.append(line[4:])
            elif line.startswith("//! "):
                if current is None or current.kind != "run":
                    raise ValueError(f"{case.title}: //! outside a run step")
                current.error = line[4:]
            elif line.startswith("//? "):
                soql, _, value = line[4:].partition(" => ")
                case.checks.append((soql.strip(), value.strip()))
            elif current is not None:
                current.source += line + "\n"
        cases.append(case)
    return cases


def _cases() -> list[Case]:
    out: list[Case] = []
    for f in sorted(HERE.glob("*.apex")):
        out.extend(parse_cases(f.read_text(encoding="utf-8"), f.stem))
    return out


CASES = _cases()


def run_case(case: Case) -> tuple[list[str], list[tuple[str, str]]]:
    """Run ``case`` on a fresh org: the debug messages and the (query, value) checks."""
    org = Org()
    org.load_scenario("small")
    log = runtime_for(org).log
    start = len(log)
    for step in case.steps:
        if step.kind == "class":
            results = deploy(org, step.source)
            assert all(r.success for r in results), [
                (r.name, r.line, r.column, r.problem) for r in results]
        elif step.kind == "run":
            res = execute_anonymous(org, step.source)
            assert res.compiled, f"{res.line}:{res.column} {res.compile_problem}"
            if step.error is None:
                assert res.success, res.exception_message
            else:
                assert not res.success
                assert (res.exception_message or "").startswith(step.error), \
                    res.exception_message
        else:
            org.apex.run_until_idle()
    messages = [line.split("|", 4)[4] for line in log[start:]]
    got = []
    for soql, _ in case.checks:
        body = org.query(soql)
        records = body.get("records") or []
        if records:
            first = next(k for k in records[0] if k != "attributes")
            got.append((soql, str(records[0][first])))
        else:
            got.append((soql, str(body.get("totalSize"))))
    return messages, got


@pytest.mark.parametrize("case", CASES, ids=[c.title for c in CASES])
def test_async_conformance(case: Case) -> None:
    messages, checks = run_case(case)
    assert messages == case.expect
    assert checks == case.checks


def test_async_cases_found() -> None:
    assert len(CASES) >= 6


def test_parser_rejects_unknown_step() -> None:
    with pytest.raises(ValueError, match="unknown step"):
        parse_cases("//# x\n//=== later\n", "f")
