"""The team's real Apex classes as a processor: replays and the property kit run them like
the Python ports.

An :class:`ApexProcessor` is a :class:`~sforg_sim.processors.Processor` (``name`` and
``start(org, parts, page_size)``) built from a class folder (``force-app/main/default/
classes``) and a way to start the jobs:

- a *start script* (``start_v2.apex``): anonymous Apex run as written, except that its
  top-level ``Integer totalRecords = ...;`` and ``Integer partitions = ...;`` are set to
  the run's records in scope and partition count (the team's script hard-codes
  2,000,000 records and 10 partitions; a replay of 20,000 records needs the same script
  over 20,000). The script must enqueue one job per partition, in partition order: the
  chains rooted at those jobs are the report's partition rows;
- a *start expression* (``new DynamicPartitionProcessorV2(i, startId, endId)``): an Apex
  expression enqueued once per partition with ``i`` (the partition's index), ``startId``,
  ``endId`` and ``pageSize`` in scope. The property kit needs this form: it generates
  partitionings no formula of a script reproduces.

Either way the start runs as one Execute Anonymous transaction (synchronous limits: at
most 50 ``System.enqueueJob`` calls: "Apex Developer Guide", *Execution Governors and
Limits*, "Maximum number of Apex jobs added to the queue with System.enqueueJob: 50",
https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_gov_limits.htm),
and the jobs' AsyncApexJob rows name the Apex class (``ApexClass.Name``), as on the
platform ("Object Reference", *AsyncApexJob*, ``ApexClassId``: "The ID of the Apex class
executing the job", relationship ``ApexClass``,
https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-asyncapexjob.html;
"Apex Developer Guide", *Queueable Apex*: the id ``System.enqueueJob`` returns "corresponds
to the ID of the AsyncApexJob record",
https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_queueing_jobs.htm).
The classes are deployed once per org (compiled to Python code objects once per deploy:
:mod:`sforg_sim.apexlang`).

``check_processor(ApexProcessor.from_expression(CLASSES, "new DynamicPartitionProcessorV2("
"i, startId, endId)"))`` is how the property kit takes it: the object is a harness target
like the Python ports. The kit's generated page size reaches the class only through
``pageSize`` in the expression (the team's V2 hard-codes ``PAGE_SIZE = 500``), so a shrunk
counterexample's "page size" is not what such a class used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .apexlang import deploy, execute_anonymous, runtime_for
from .errors import UsageError
from .nightly import Partition

if TYPE_CHECKING:
    from .org import Org

__all__ = ["ApexProcessor", "find_script", "set_script_sizes"]

_SIZES = {
    # Apex names are case-insensitive: so is the match.
    "totalrecords": re.compile(r"(?im)^(\s*Integer\s+totalRecords\s*=\s*)[^;]+;"),
    "partitions": re.compile(r"(?im)^(\s*Integer\s+partitions\s*=\s*)[^;]+;"),
}


def set_script_sizes(script: str, records: int, partitions: int) -> str:
    """``script`` with its top-level ``Integer totalRecords = ...;`` and ``Integer
    partitions = ...;`` set to ``records`` and ``partitions`` (declarations it lacks stay
    lacking: such a script runs as written)."""
    script = _SIZES["totalrecords"].sub(lambda m: f"{m.group(1)}{records};", script, count=1)
    return _SIZES["partitions"].sub(lambda m: f"{m.group(1)}{partitions};", script, count=1)


def find_script(name: str | Path, classes: str | Path) -> Path:
    """The start script ``name``: as given, or in the project's ``scripts/`` folder (the
    folder beside ``force-app`` of the SFDX project holding ``classes``), so
    ``--start start_v2.apex`` finds the runbook's script. Missing: a UsageError."""
    p = Path(name)
    if p.is_file():
        return p
    for parent in Path(classes).resolve().parents:
        if (parent / "sfdx-project.json").is_file() or (parent / "force-app").is_dir():
            candidate = parent / "scripts" / p.name
            if candidate.is_file():
                return candidate
            break
    raise UsageError(f"no such start script: {name} (looked as given and in the SFDX "
                     f"project's scripts/ folder of {classes})")


def _apex_string(text: str) -> str:
    """An Apex string literal (backslash and quote escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class ApexProcessor:
    """Deployed Apex classes plus a start script or start expression (see the module
    docstring); a :class:`~sforg_sim.processors.Processor` for replays and the harness.

    ``inclusive_end`` says the classes read their ranges inclusively (V1 does), so the
    report's per-partition "in scope" counts the shared boundary in both partitions, as
    for the Python port; it changes no behaviour.
    """

    name: str
    classes: Path
    script: str | None = None
    expression: str | None = None
    inclusive_end: bool = False
    log: list[str] = field(default_factory=list)
    """The start's debug log lines (``USER_DEBUG``), for the report's reader."""

    @classmethod
    def from_script(cls, classes: str | Path, script: str | Path, *,
                    name: str | None = None, inclusive_end: bool = False) -> ApexProcessor:
        """From a start script file (looked up with :func:`find_script`)."""
        folder = _folder(classes)
        path = find_script(script, folder)
        return cls(name or f"apex:{path.name}", folder,
                   script=path.read_text(encoding="utf-8"), inclusive_end=inclusive_end)

    @classmethod
    def from_expression(cls, classes: str | Path, expression: str, *,
                        name: str | None = None, inclusive_end: bool = False) -> ApexProcessor:
        """From an Apex expression enqueued once per partition (``i``, ``startId``,
        ``endId``, ``pageSize`` in scope)."""
        if not expression.strip() or ";" in expression:
            raise UsageError(f"expected one Apex expression (no ';'), got {expression!r}")
        return cls(name or f"apex:{expression.strip()}", _folder(classes),
                   expression=expression.strip(), inclusive_end=inclusive_end)

    def deploy(self, org: Org) -> None:
        """Deploy the classes to ``org`` unless they already are (a failing class is a
        UsageError naming its file, line, column and problem)."""
        rt = runtime_for(org)
        if getattr(rt, "_apexkit_deployed", None) == self.classes:
            return
        failed = [r for r in deploy(org, self.classes) if not r.success]
        if failed:
            raise UsageError("deploy failed: " + "; ".join(
                f"{r.file or r.name}: line {r.line}, column {r.column}: {r.problem}"
                for r in failed))
        rt._apexkit_deployed = self.classes  # type: ignore[attr-defined]

    def source(self, parts: Sequence[Partition], page_size: int) -> str:
        """The anonymous Apex the start runs for ``parts``."""
        if self.expression is not None:
            starts = ", ".join(_apex_string(p.start) for p in parts)
            ends = ", ".join(_apex_string(p.end) for p in parts)
            indexes = ", ".join(str(p.index) for p in parts)
            return (f"List<Integer> indexes = new List<Integer>{{{indexes}}};\n"
                    f"List<String> starts = new List<String>{{{starts}}};\n"
                    f"List<String> ends = new List<String>{{{ends}}};\n"
                    f"for (Integer k = 0; k < starts.size(); k++) {{\n"
                    f"    Integer i = indexes[k];\n"
                    f"    String startId = starts[k];\n"
                    f"    String endId = ends[k];\n"
                    f"    Integer pageSize = {page_size};\n"
                    f"    System.enqueueJob({self.expression});\n"
                    f"}}\n")
        assert self.script is not None
        # The team's ranges: 1 + records * i / partitions .. (nightly.partitions), so the
        # script's formula over the run's size gives the run's partitions.
        records = _records_of(parts)
        return set_script_sizes(self.script, records, len(parts))

    def start(self, org: Org, parts: Sequence[Partition], page_size: int) -> list[str]:
        """Deploy, run the start as Execute Anonymous, return the ids of the jobs it
        enqueued (in order: job ``k`` roots partition ``parts[k]``)."""
        self.deploy(org)
        engine = org.apex
        before = set(engine.jobs)
        res = execute_anonymous(org, self.source(parts, page_size))
        self.log = list(res.log)
        if not res.compiled:
            raise UsageError(f"{self.name}: start does not compile: line {res.line}, "
                             f"column {res.column}: {res.compile_problem}")
        if not res.success:
            raise UsageError(f"{self.name}: start failed: {res.exception_message} "
                             f"({res.exception_stack_trace})")
        roots = [j.id for j in engine.jobs.values()
                 if j.id not in before and j.parent_id is None]
        if len(roots) != len(parts):
            raise UsageError(
                f"{self.name}: the start enqueued {len(roots)} jobs for {len(parts)} "
                "partitions; a start script must enqueue one job per partition (declare "
                "'Integer partitions = N;' for the replay to set N, or pass --partitions)")
        return roots


def _folder(classes: str | Path) -> Path:
    p = Path(classes)
    if not p.is_dir():
        raise UsageError(f"--apex-dir {classes}: no such folder")
    if not any(p.glob("*.cls")):
        raise UsageError(f"--apex-dir {classes}: no .cls files in it")
    return p.resolve()


def _records_of(parts: Sequence[Partition]) -> int:
    """The record count whose team ranges these are: the last end's number, minus one."""
    digits = re.search(r"(\d+)$", parts[-1].end) if parts else None
    if digits is None:
        raise UsageError("a start script needs the team's ranges (externalOpp0000001 ...); "
                         "use a start expression for other ranges")
    return int(digits.group(1)) - 1
