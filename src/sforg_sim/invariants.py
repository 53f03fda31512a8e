"""Invariants over a run: each check raises an AssertionError subclass naming the records.

They read a :class:`~sforg_sim.harness.RunRecord` (what :func:`sforg_sim.harness.run`
returns), which knows every write per record id; a :class:`~sforg_sim.replay.Report` only
has totals, so it cannot name the records involved.

What "processed" means
----------------------
The job copies StageName from the Data Cloud source onto Opportunities. A record is
**due** when it was in the run's in-scope snapshot (live at start, key inside one of the
partitions' half-open ranges, compared upper-case as Salesforce does), has a source row,
is still live at the end, and nobody else touched it during the run. A due record is
**processed** when it ends with the source's StageName; a processor may write it once, or
not at all if it already had that stage (V2 only writes records that differ).

Records another user changed during the run are classified, not counted as lost (Jepsen's
set checker calls such elements indeterminate):

- inserted during the run: *in the snapshot's ranges* (the job may or may not reach them:
  either is fine, at most one write) or *out of them* (any write is unexpected);
- updated (StageName reset) or deleted: may or may not be processed, at most one write;
- re-keyed (a sort-key update): may be processed before and after the move: at most two.

The checks
----------
- :func:`exactly_once`: no due record lost, none written more than its allowance, no write
  outside the scope (out-of-range keys, NULL keys, keys with no source row);
- :func:`at_least_once`: the same without the duplicate check;
- :func:`terminates`: the run ended by itself within ``bound`` async executions;
- :func:`api_budget`: data calls per partition within ``ceil(n/page) + k`` (plus one per
  injected fault, four per concurrent insert or re-key), and at most one refused call
  per partition once the quota is gone;
- :func:`partitions_disjoint_and_covering`: ranges non-empty, pairwise disjoint, and every
  keyed record in the scope's span in exactly one of them;
- :func:`stage_counts`: the verification query's StageName counts match the model;
- :func:`no_crash`: the processor raised no Python exception (a bug in the port).

When the quota runs out (REQUEST_LIMIT_EXCEEDED) unprocessed records are *not reached*,
not lost: the coverage checks then only look at duplicates and unexpected writes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

from .cases import RunConfig, RunRecord, sort_key

__all__ = ["ALL", "ApiBudgetExceeded", "CoverageViolation", "InvariantViolation",
           "PartitionViolation", "ProcessorCrashed", "StageCountMismatch",
           "TerminationViolation", "api_budget", "at_least_once", "check_all",
           "default_budget", "exactly_once", "no_crash", "partitions_disjoint_and_covering",
           "stage_counts", "terminates"]

Budget = Callable[[int, RunConfig], int]


class InvariantViolation(AssertionError):
    """An invariant failed; ``records`` are the record ids (or keys) involved."""

    invariant = "invariant"

    def __init__(self, message: str, records: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.records = list(records)


class CoverageViolation(InvariantViolation):
    """Records lost, duplicated or written unexpectedly; see the three lists."""

    invariant = "coverage"

    def __init__(self, message: str, lost: Sequence[str], duplicated: Sequence[str],
                 unexpected: Sequence[str]) -> None:
        super().__init__(message, [*lost, *duplicated, *unexpected])
        self.lost, self.duplicated, self.unexpected = list(lost), list(duplicated), list(
            unexpected)


class TerminationViolation(InvariantViolation):
    """The run did not end by itself within the bound."""

    invariant = "termination"


class ApiBudgetExceeded(InvariantViolation):
    """More data calls than the budget allows (per partition or in total)."""

    invariant = "api budget"


class PartitionViolation(InvariantViolation):
    """Partition ranges overlap, are empty intervals, or leave keyed records uncovered."""

    invariant = "partitions"


class StageCountMismatch(InvariantViolation):
    """The StageName counts differ from the model's."""

    invariant = "stage counts"


class ProcessorCrashed(InvariantViolation):
    """The processor raised a Python exception (not a Salesforce error)."""

    invariant = "no crash"


def default_budget(n: int, config: RunConfig) -> int:
    """``ceil(n / page_size) + 3``: one call per page and V2's three empty probes."""
    return math.ceil(n / config.page_size) + 3


# --- classification ---------------------------------------------------------------------------


def _due(run: RunRecord) -> list[str]:
    touched = run.updated | run.deleted | set(run.rekeyed)
    out = []
    for rid in run.scope:
        key = run.start[rid][0]
        if rid in touched or key is None or sort_key(key) not in run.source:
            continue
        if rid in run.final and not run.final[rid][2]:
            out.append(rid)
    return out


def _allowance(run: RunRecord, rid: str) -> int:
    """How many writes a record may get: 0 out of scope, 2 if re-keyed, else 1."""
    if rid in run.rekeyed:
        return 2
    if rid in run.scope:
        key = run.start[rid][0]
        return 1 if key is not None and sort_key(key) in run.source else 0
    if rid in run.inserted:
        return 1 if run.case.partitioning.index_of(run.inserted[rid]) is not None else 0
    return 0


def _coverage(run: RunRecord, duplicates: bool) -> None:
    lost = []
    if not run.quota_exhausted:
        for rid in _due(run):
            key = run.start[rid][0]
            assert key is not None
            if run.final[rid][1] != run.source[sort_key(key)]:
                lost.append(rid)
    dup, unexpected = [], []
    for rid, n in sorted(run.writes.items()):
        allowed = _allowance(run, rid)
        if allowed == 0:
            unexpected.append(rid)
        elif duplicates and n > allowed:
            dup.append(rid)
    if not (lost or dup or unexpected):
        return
    lines = []
    if lost:
        lines.append(f"lost {len(lost)} (in scope, never got the source's StageName): " +
                     ", ".join(f"{run.name(r)} ended {run.final[r][1]}" for r in lost))
    if dup:
        lines.append(f"duplicated {len(dup)}: " + ", ".join(
            f"{run.name(r)} written {run.writes[r]} times by partitions "
            f"{sorted({p for _, p, x in run.write_log if x == r}, key=str)}" for r in dup))
    if unexpected:
        lines.append(f"unexpected {len(unexpected)} (outside the scope, must not be "
                     f"written): " + ", ".join(f"{run.name(r)}{_why_out(run, r)}"
                                               for r in unexpected))
    raise CoverageViolation("; ".join(lines), [run.name(r) for r in lost],
                            [run.name(r) for r in dup], [run.name(r) for r in unexpected])


def _why_out(run: RunRecord, rid: str) -> str:
    key = run.key_of(rid)
    if key is None:
        return " has no key"
    if run.case.partitioning.index_of(key) is None:
        return " is in no partition"
    return " has no source row"


def exactly_once(run: RunRecord) -> None:
    """Every due record processed, none written more than once, nothing outside the scope."""
    _coverage(run, duplicates=True)


def at_least_once(run: RunRecord) -> None:
    """Every due record processed and nothing outside the scope (duplicates allowed)."""
    _coverage(run, duplicates=False)


# --- bounds ----------------------------------------------------------------------------------


def _range_sizes(run: RunRecord) -> list[int]:
    """Keys ever in each range: the snapshot, plus inserted and re-keyed ones."""
    part = run.case.partitioning
    sizes = Counter(run.scope.values())
    for key in [*run.inserted.values(), *(new for _, new in run.rekeyed.values())]:
        i = part.index_of(key)
        if i is not None:
            sizes[i] += 1
    return [sizes[p.index] for p in part.parts]


def _slack(run: RunRecord) -> int:
    """Extra calls/executions the injected faults may cost a correct processor.

    One per fired fault (the retried page) and per applied update or delete. A record
    inserted or re-keyed ahead of the cursor after the end probes began costs a page and
    restarts the 3 empty probes: 4. Counted from the changes applied (the record), so
    changes made directly through a Run (the stateful tests) count too.
    """
    changes = 4 * (len(run.inserted) + len(run.rekeyed)) + len(run.updated) + len(
        run.deleted)
    return sum(run.fired.values()) + changes


def terminates(run: RunRecord, budget: Budget = default_budget, extra: int = 2) -> None:
    """The run ended by itself within ``sum(budget(n_p) + extra) + faults`` executions.

    ``extra`` covers a batch job's start and finish. A processor that loops hits the
    harness's execution cap first and fails here.
    """
    cfg = run.case.config
    bound = sum(budget(n, cfg) + extra for n in _range_sizes(run)) + _slack(run)
    if run.terminated and run.total_executions <= bound:
        return
    why = ("did not end: stopped after the execution cap of "
           f"{run.execution_cap}" if not run.terminated else
           f"ended after {run.total_executions} async executions")
    per = ", ".join(f"partition {i}: {n}" for i, n in enumerate(run.executions))
    raise TerminationViolation(f"{why}; the bound is {bound} ({per}; data calls "
                               f"{run.calls})")


def api_budget(run: RunRecord, budget: Budget = default_budget) -> None:
    """Data calls within ``budget(n_p)`` per partition (+1 per injected fault).

    Once the quota is exhausted each partition may be refused once: a processor that keeps
    calling into REQUEST_LIMIT_EXCEEDED spins.
    """
    cfg = run.case.config
    slack = _slack(run)
    problems = []
    sizes = _range_sizes(run)
    for i, (n, calls) in enumerate(zip(sizes, run.calls)):
        allowed = budget(n, cfg) + slack
        if calls > allowed:
            p = run.case.partitioning.parts[i]
            problems.append(f"partition {i} ({p.start!r} to {p.end!r}, {n} records) made "
                            f"{calls} data calls, budget {allowed}")
        if run.refused[i] > 1:
            problems.append(f"partition {i} kept calling after REQUEST_LIMIT_EXCEEDED "
                            f"({run.refused[i]} refused calls)")
    total = sum(run.calls) + run.unattributed_calls
    allowed_total = sum(budget(n, cfg) for n in sizes) + slack
    if total > allowed_total:
        problems.append(f"{total} data calls in total, budget {allowed_total}")
    if problems:
        raise ApiBudgetExceeded("; ".join(problems))


def partitions_disjoint_and_covering(run: RunRecord) -> None:
    """Ranges are non-empty intervals, disjoint, and cover every keyed record in their span.

    The span runs from the lowest start to the highest end; a keyed record inside it that
    no range holds (a gap) is reported, as are pairs of overlapping ranges.
    """
    parts = run.case.partitioning.parts
    problems, records = [], []
    for p in parts:
        if sort_key(p.start) >= sort_key(p.end):
            problems.append(f"partition {p.index} {p.start!r} to {p.end!r} is an empty "
                            "interval")
    for i, a in enumerate(parts):
        for b in parts[i + 1:]:
            if sort_key(a.start) < sort_key(b.end) and sort_key(b.start) < sort_key(a.end):
                problems.append(f"partitions {a.index} and {b.index} overlap")
    if parts:
        lo = min(sort_key(p.start) for p in parts)
        hi = max(sort_key(p.end) for p in parts)
        for rid, (key, _) in run.start.items():
            if key is not None and lo <= sort_key(key) < hi and rid not in run.scope:
                records.append(run.name(rid))
        if records:
            problems.append(f"in no partition: {', '.join(records)}")
    if problems:
        raise PartitionViolation("; ".join(problems), records)


def expected_stage_counts(run: RunRecord) -> dict[str, int]:
    """The model's counts over live in-scope records at the end.

    Due records end with their source stage; records without a source row keep their stage;
    records another user changed are counted as they ended (nobody can predict them).
    """
    due = set(_due(run))
    out: Counter[str] = Counter()
    for rid, (key, stage, deleted) in run.final.items():
        if deleted or run.case.partitioning.index_of(key) is None:
            continue
        if rid in due and not run.quota_exhausted:
            assert key is not None
            out[run.source[sort_key(key)]] += 1
        elif rid in run.scope and rid not in run.updated and rid not in run.rekeyed and (
                key is None or sort_key(key) not in run.source):
            out[run.start[rid][1]] += 1
        else:
            out[stage] += 1
    return dict(out)


def stage_counts(run: RunRecord, expected: Mapping[str, int] | None = None) -> None:
    """The team's verification: StageName counts over the scope equal ``expected``.

    ``expected`` defaults to :func:`expected_stage_counts`. A mismatch names the records
    whose stage differs from the model.
    """
    want = dict(expected) if expected is not None else expected_stage_counts(run)
    got: Counter[str] = Counter(
        stage for rid, (key, stage, deleted) in run.final.items()
        if not deleted and run.case.partitioning.index_of(key) is not None)
    want = {k: v for k, v in want.items() if v}
    if dict(got) == want:
        return
    wrong = []
    if not run.quota_exhausted:
        for rid in _due(run):
            key = run.start[rid][0]
            assert key is not None
            if run.final[rid][1] != run.source[sort_key(key)]:
                wrong.append(f"{run.name(rid)} is {run.final[rid][1]}")
    raise StageCountMismatch(f"StageName counts {dict(sorted(got.items()))}, expected "
                             f"{dict(sorted(want.items()))}" +
                             (f"; differing: {', '.join(wrong)}" if wrong else ""), wrong)


def no_crash(run: RunRecord) -> None:
    """The processor raised no Python exception."""
    if run.crash is not None:
        raise ProcessorCrashed(f"the processor raised a Python exception:\n{run.crash}")


ALL: tuple[Callable[[RunRecord], None], ...] = (
    no_crash, partitions_disjoint_and_covering, exactly_once, terminates, api_budget,
    stage_counts)
"""Every invariant, in the order :func:`check_all` applies them."""


def check_all(run: RunRecord, invariants: Iterable[Callable[[RunRecord], None]] = ALL) -> None:
    """Apply ``invariants`` in order; the first violation propagates."""
    for check in invariants:
        check(run)
