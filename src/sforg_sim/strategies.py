"""Hypothesis strategies for pagination jobs: datasets, partitionings, configs, faults.

Everything shrinks towards small and simple: few records, team-style zero-padded ids,
one partition, page size 1, the full API quota, no faults. Boundaries show up with tiny
pages and a few dozen records (the small-scope hypothesis), so sizes default small.

>>> from hypothesis import given
>>> from sforg_sim import strategies as sfst
>>> @given(sfst.cases())
... def test_my_job(case): ...

Compose them: ``datasets(max_size=8, styles=("padded", "mixed-case"))``,
``cases(config=run_configs(page_sizes=page_sizes(max_value=2)), faults=None)``.
The values are the plain dataclasses of :mod:`sforg_sim.harness`, so a shrunk
counterexample can be pasted into ``@example(...)`` as it prints.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, cast, get_args

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import DrawFn, SearchStrategy, composite

from .cases import (
    Case,
    Change,
    ChangeKind,
    Dataset,
    FaultPlan,
    OppRow,
    PartitionForm,
    Partitioning,
    RunConfig,
    order_key,
    sort_key,
)
from .nightly import KEY_PREFIX, TARGET_STAGE, Partition
from .schema import OPPORTUNITY_STAGES

__all__ = ["batch_scopes", "cases", "changes", "datasets", "editions", "external_ids",
           "fault_plans", "page_sizes", "partitionings", "remaining_quota", "run_configs"]

STYLES = ("padded", "unpadded", "mixed-case", "underscore", "bracket", "other-prefix", "null")
"""External ID styles. ``padded`` is the team's ``externalOpp0000001`` (with a drawn
width, so numbers can overflow it: ``externalOpp10`` at width 1); ``underscore`` and
``bracket`` put ``_`` and ``[`` where they collate differently in upper case than in
code points; ``other-prefix`` keys sort after every ``externalOpp`` key; ``null`` is no
key at all."""
MAX_RUN = 5
"""The longest run of consecutive transient faults a plan draws: longer than the team's
stop rule (3 consecutive empty batches), so "503, 503, empty" and "4 empties" exist."""
FORMS: tuple[PartitionForm, ...] = get_args(PartitionForm)
"""Partition boundary forms (see :class:`~sforg_sim.cases.Partitioning`)."""
CHANGE_KINDS: tuple[ChangeKind, ...] = get_args(ChangeKind)
"""Kinds of concurrent change (see :class:`~sforg_sim.cases.Change`)."""
STAGES = ("Prospecting", "Discovery", "Negotiation", TARGET_STAGE, "Needs Analysis",
          "Closed Won")
"""Initial StageNames; shrinks to Prospecting. Qualification means "already done"."""
EDITIONS = ("enterprise", "unlimited", "professional", "performance")


def _key(style: str, n: int, width: int) -> str | None:
    if style == "null":
        return None
    if style == "unpadded":
        return f"{KEY_PREFIX}{n}"
    if style == "mixed-case":
        return f"ExternalOPP{n:0{width}d}"
    if style == "underscore":
        return f"{KEY_PREFIX}_{n}"
    if style == "bracket":
        return f"{KEY_PREFIX}[{n}"
    if style == "other-prefix":
        return f"otherOpp{n:0{width}d}"
    return f"{KEY_PREFIX}{n:0{width}d}"


@composite
def _external_ids(draw: DrawFn, min_size: int = 0, max_size: int = 24, *,
                 styles: Sequence[str] = STYLES, unique: bool = True) -> list[str | None]:
    """A list of External IDs in insertion order, built from numbers with gaps.

    One zero-pad width per list (7 shrinking to 2, then 1: overflow); each id picks a style
    (shrinking to ``padded``). With ``unique`` the ids are distinct case-insensitively, as
    the built-in unique External ID demands; otherwise some repeat an earlier id, possibly
    in another case.
    """
    # Half the lists are small (up to 4 ids; the first branch, so shrinking heads there):
    # most bugs show in a handful of records, small runs are quick, and a counterexample
    # found small shrinks in a few runs instead of hundreds (issue 18: "ci" took 97 s to
    # shrink a 20-record case).
    small = min(max_size, max(min_size, 4))
    size = draw(st.one_of(st.integers(min_size, small), st.integers(min_size, max_size)))
    allowed = list(styles) or ["padded"]
    # The team's ids only, on a third of the lists, with a width they do not overflow: a
    # start script that computes ranges from the ids' numbers (prefix + digits) is only
    # tested when the first and last bound share one prefix and one width (gap 5:
    # several same-prefix numeric partitions).
    team_only = len(allowed) > 1 and "padded" in allowed and draw(st.integers(0, 2)) == 2
    width = draw(st.sampled_from((2, 7) if team_only else (2, 7, 1)))
    out: list[str | None] = []
    seen: set[str] = set()
    n = 0
    for _ in range(size):
        if not unique and out and draw(st.booleans()):
            earlier = [k for k in out if k is not None]
            if earlier:
                prior = draw(st.sampled_from(earlier))
                out.append(draw(st.sampled_from((prior, prior.upper(), prior.lower()))))
                continue
        n += 1 + draw(st.integers(0, 3))  # gaps in the numbering
        # The team's style on about half the ids (and where shrinking goes), another
        # drawn style on the rest: a page then mixes styles (code-point vs collation).
        style = "padded" if team_only or ("padded" in allowed and not draw(st.booleans())) else (
            draw(st.sampled_from(allowed)))
        if style == "padded" and not team_only and "mixed-case" in allowed and draw(
                st.booleans()):
            # Another case on half the team's ids (shrinking to none): a page then mixes
            # cases, whose code-point order (Python's max(), sorted()) differs from
            # Salesforce's (gap 5).
            style = "mixed-case"
        key = _key(style, n, width)
        if key is not None and unique and sort_key(key) in seen:
            continue
        if key is not None:
            seen.add(sort_key(key))
        out.append(key)
    if len(out) < min_size:
        out += [f"{KEY_PREFIX}{n + i:0{width}d}z" for i in range(1, min_size - len(out) + 1)]
    return out


@composite
def _datasets(draw: DrawFn, min_size: int = 0, max_size: int = 24, *,
             styles: Sequence[str] = STYLES, stages: Sequence[str] = STAGES,
             source_gaps: bool = True, unique: bool = True,
             distinct_values: bool = True) -> Dataset:
    """Opportunities: ids from :func:`external_ids`, initial stages, source rows.

    ``distinct_values`` draws a source value per record, shrinking to the team's one
    value, and turns some keys into Data Cloud rows with no Opportunity
    (:attr:`Dataset.source_only`, shrinking to none): with both, a job pairing values
    with records by list position instead of by key writes a wrong value (gap 3).

    ``source_gaps`` lets some keys have no Data Cloud row (the job must leave those
    alone). ``unique=False`` stores keys in a non-unique custom External ID and may repeat
    them (processors must then read :attr:`Dataset.key_field`).
    """
    keys = draw(_external_ids(min_size, max_size, styles=styles, unique=unique))
    values = (TARGET_STAGE, *(s for s in stages if s != TARGET_STAGE))
    rows = []
    orphans: list[tuple[str, str]] = []
    for key in keys:
        if distinct_values and key is not None and unique and draw(st.integers(0, 5)) == 5:
            # A Data Cloud row with no Opportunity (shrinks away): a page then holds a
            # row the job finds no record for, so pairing by position shifts (gap 3).
            orphans.append((key, draw(st.sampled_from(values))))
            continue
        stage = draw(st.sampled_from(tuple(stages)))
        has_source = not source_gaps or key is None or draw(st.integers(0, 7)) != 7
        # A value per record (shrinking to the team's one value), so a value copied onto
        # the wrong record shows: with one value everywhere any pairing looks right.
        value = (draw(st.sampled_from(values)) if distinct_values else TARGET_STAGE
                 ) if has_source else None
        rows.append(OppRow(key, stage, value))
    return Dataset(tuple(rows), unique, tuple(orphans))


def _between(lo: str | None, hi: str | None, code_point: bool = True) -> list[str]:
    """Boundary strings b with lo < b <= hi (in the source's order), best first."""
    cands: list[str] = []
    if hi is not None:
        cands += [hi, hi.lower(), hi.upper()]
    if lo is not None:
        cands += [lo + "0", lo + "1"]
    elif hi is not None and len(hi) > 1:
        cands += [hi[:-1]]
    if lo is None and hi is None:
        cands = [KEY_PREFIX, *(f"{KEY_PREFIX}{d}" for d in "059")]
    # A number between the neighbours, in their prefix and width (``externalOpp04``
    # between ``...03`` and ``...06``; one past ``lo``, one before ``hi``): the team's
    # own bounds are numbers, not keys (gap 5: same-prefix numeric partitions).
    a, b = _numbered(lo), _numbered(hi)
    if a and b and a[0] == b[0] and a[2] == b[2] and b[1] - a[1] > 1:
        cands.append(f"{a[0]}{(a[1] + b[1]) // 2:0{a[2]}d}")
    elif a and hi is None:
        cands.append(f"{a[0]}{a[1] + 1:0{a[2]}d}")
    elif b and lo is None and b[1] > 0:
        cands.append(f"{b[0]}{b[1] - 1:0{b[2]}d}")
    return [c for c in cands
            if (lo is None or order_key(c, code_point) > order_key(lo, code_point)) and (
                hi is None or order_key(c, code_point) <= order_key(hi, code_point))]


def _numbered(key: str | None) -> tuple[str, int, int] | None:
    """``(prefix, number, width)`` of ``externalOpp0042``-like keys, else None."""
    digits = len(key) - len(key.rstrip("0123456789")) if key else 0
    if not key or not digits or digits == len(key):
        return None
    return key[:-digits], int(key[-digits:]), digits


def _successor(key: str, code_point: bool = True) -> str:
    """The team's "one past the last id" (``...0000031``), if it really sorts after."""
    digits = len(key) - len(key.rstrip("0123456789"))
    if digits:
        nxt = f"{key[:-digits]}{int(key[-digits:]) + 1:0{digits}d}"
        if order_key(nxt, code_point) > order_key(key, code_point):
            return nxt
    return key + "0"


@composite
def _partitionings(draw: DrawFn, dataset: Dataset, max_parts: int = 4, *,
                   forms: Sequence[str] = FORMS, partial_scope: bool = True,
                   code_point: bool = True) -> Partitioning:
    """Partitions over the dataset's keys: the team's form, half-open, uneven and empty.

    The scope is a run of the sorted keys (all of them, shrinking from ``partial_scope``'s
    leading/trailing out-of-scope keys). ``shared-boundary`` draws each boundary at a key,
    the next partition's first (and the last end one past the last id, as the team does);
    ``half-open`` may put a boundary between keys, in another case (``EXTERNALOPP05``),
    and several in one gap, which makes empty partitions.
    """
    keys = dataset.keys(code_point)

    def k(value: str) -> str:
        return order_key(value, code_point)

    n = len(keys)
    # A partial scope on a quarter of the cases (the gate shrinks to "whole scope"):
    # drawn on every case, the ranges held a record or two and hid most bugs (issue 18).
    partial = partial_scope and n > 0 and _sometimes(draw)
    lo = draw(st.integers(0, n)) if partial else 0
    hi = n - (draw(st.integers(0, n - lo)) if partial else 0)
    form = draw(st.sampled_from(tuple(forms)))
    count = draw(st.integers(1, max_parts))
    cuts = sorted([lo, *(draw(st.integers(lo, hi)) for _ in range(count - 1)), hi])
    bounds: list[str] = []
    for j, pos in enumerate(cuts):
        below = keys[pos - 1] if pos > 0 else None
        above = keys[pos] if pos < n else None
        if form == "shared-boundary":
            b = above if above is not None else (
                _successor(below, code_point) if below is not None else f"{KEY_PREFIX}0")
            if j == 0 and above is None and below is not None:
                b = below + "0"
        else:
            options = _between(below, above, code_point)
            if bounds:
                options = [o for o in options if k(o) > k(bounds[-1])]
            if not options:
                continue
            b = draw(st.sampled_from(options))
        if not bounds or k(b) > k(bounds[-1]):
            bounds.append(b)
    if len(bounds) < 2:
        bounds.append(bounds[-1] + "0")
    parts = tuple(Partition(i, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1))
    return Partitioning(parts, cast(PartitionForm, form))


def page_sizes(min_value: int = 1, max_value: int = 6) -> SearchStrategy[int]:
    """Records per page (the job's LIMIT); tiny pages put many boundaries in few records."""
    _check_range("min_value", min_value, "max_value", max_value, lowest=1)
    return st.integers(min_value, max_value)


def batch_scopes(min_value: int = 1, max_value: int = 6) -> SearchStrategy[int]:
    """Batch Apex scope sizes (``Database.executeBatch(job, scope)``)."""
    _check_range("min_value", min_value, "max_value", max_value, lowest=1)
    return st.integers(min_value, max_value)


def editions(include_developer: bool = False) -> SearchStrategy[str]:
    """Org editions. Developer Edition caps Queueable chains at depth 5, which any chain
    of more than 5 pages hits by design, so it is opt-in."""
    return st.sampled_from(EDITIONS + (("developer",) if include_developer else ()))


def remaining_quota(max_value: int = 30) -> SearchStrategy[int | None]:
    """API calls left in the rolling 24 hours: None (the whole allocation) or a few."""
    _check_range("0", 0, "max_value", max_value, lowest=0)
    return st.one_of(st.none(), st.integers(0, max_value))


@composite
def run_configs(draw: DrawFn, *, page_sizes: SearchStrategy[int] | None = None,
                batch_scopes: SearchStrategy[int] | None = None,
                editions: SearchStrategy[str] | None = None,
                remaining_quota: SearchStrategy[int | None] | None = None,
                max_offsets: SearchStrategy[int | None] | None = None,
                segment_rows: SearchStrategy[int] | None = None,
                source_case_sensitive: SearchStrategy[bool] | None = None) -> RunConfig:
    """A :class:`RunConfig`; each argument replaces one part's strategy.

    Defaults: :func:`page_sizes`, :func:`batch_scopes`, :func:`editions`, the full quota
    (pass :func:`remaining_quota` to vary it; the fault plans exhaust it too). The source
    has no OFFSET cap (None: none is documented); pass ``max_offsets`` to explore the
    opt-in what if. Scan segments (12,500 rows) are drawn scaled down (3) so a dozen
    records can reach them. ``source_case_sensitive`` (default: always True, Data Cloud
    SQL's documented code-point comparison, ``datacloud.py``) can explore the
    case-insensitive what if (``st.just(False)``).
    """
    def pick(given: SearchStrategy[Any] | None, default: SearchStrategy[Any]) -> Any:
        return draw(default if given is None else given)

    return RunConfig(
        page_size=pick(page_sizes, _page_sizes()),
        batch_scope=pick(batch_scopes, _batch_scopes()),
        edition=pick(editions, _editions()),
        api_remaining=pick(remaining_quota, st.none()),
        max_offset=pick(max_offsets, st.none()),
        segment_rows=pick(segment_rows, st.sampled_from((12_500, 3))),
        seed=draw(st.integers(0, 3)),
        source_case_sensitive=pick(source_case_sensitive, st.just(True)))


_page_sizes, _batch_scopes, _editions = page_sizes, batch_scopes, editions


@composite
def _changes(draw: DrawFn, keys: Sequence[str], kinds: Sequence[str] = CHANGE_KINDS,
             max_after: int = 12, anchors: Sequence[tuple[str, int]] = ()) -> Change:
    """One concurrent change by another user, after a drawn execution number.

    Inserted and re-keyed ids are an existing id plus ``b``, ``_`` or ``0``: right next to
    it, so before or after the cursor depending on when the change lands. ``anchors``
    are ``(key, j)``: ``key`` ends its partition's page ``j`` and is not the partition's
    last key (:func:`cases` computes them); three inserts in four are then drawn right after
    one of them, after that partition's execution ``j``: ahead of its cursor while it
    runs (retries only make execution ``j`` come sooner), with a record after it
    (issue 18, gap 2).
    """
    # An insert half the time (the branch shrinking goes to): another user's new record
    # ahead of the cursor is what a job trusting a count taken at its start misses
    # (gap 2); drawn as one kind in four it met a partition with records left too rarely.
    kind = draw(st.one_of(st.just("insert"), st.sampled_from(tuple(kinds)))) if (
        "insert" in kinds) else draw(st.sampled_from(tuple(kinds)))
    # Small runs last 1-6 executions: drawn uniformly from 0-12 most changes landed after
    # the run (issue 18, gap 2). Mostly inside the first executions, sometimes later.
    after = draw(st.one_of(st.integers(1, min(3, max_after)) if max_after else st.just(0),
                           st.integers(0, max_after)))
    pool = list(keys) or [f"{KEY_PREFIX}1"]
    base = draw(st.sampled_from(pool))
    near = draw(st.sampled_from(pool)) + draw(st.sampled_from(("b", "_", "0")))
    if kind == "insert" and anchors and draw(st.integers(0, 3)) > 0:
        # Between two executions of a running partition, right after its cursor: the
        # static draw above met "a partition with pages left, ahead of its cursor" in
        # about 1 example in 400 (datasets without source-only rows).
        anchor, after = draw(st.sampled_from(tuple(anchors)))
        return Change(after, "insert", anchor + draw(st.sampled_from(("b", "_", "0"))),
                      stage=draw(st.sampled_from(STAGES[:3])), relative=True)
    # Timed by the executions of the change's own partition (relative): counted over
    # the whole run, "after execution 1" in a run of three chains fell before or after
    # the partition's first page by chance (gap 2).
    if kind == "insert":
        return Change(after, "insert", near, stage=draw(st.sampled_from(STAGES[:3])),
                      relative=True)
    if kind == "rekey":
        return Change(after, "rekey", base, new_key=near, relative=True)
    return Change(after, cast(ChangeKind, kind), base, stage=draw(st.sampled_from(STAGES[:3])),
                  relative=True)


@composite
def _fault_plans(draw: DrawFn, keys: Sequence[str] = (), *, callouts: bool = True,
                locks: bool = True, empty: bool = True, quota: bool = True,
                concurrent: Sequence[str] = ("update", "delete", "insert", "rekey"),
                max_each: int = 2, max_at: int = 12, sequences: bool = True,
                anchors: Sequence[tuple[str, int]] = (), busy: Sequence[int] = (),
                parts: int = 0) -> FaultPlan:
    """A :class:`FaultPlan`: transient callout errors, row locks, empty pages, quota
    exhausted at call k, and concurrent DML (``concurrent`` kinds, empty for none) near
    ``keys``. Each kind is off, or up to ``max_each`` occurrences, shrinking to none.

    With ``sequences`` (the default since issue 18, gap 1) 503s and empty batches come as
    *sequences*: up to ``max_each`` runs of up to
    :data:`MAX_RUN` consecutive bad answers ("503, 503, empty", "empty x4": longer than
    the 3-empties stop rule), each after a gap of good calls, shrinking towards fewer,
    shorter and earlier runs (issue 18, gap 1); with ``busy`` partitions (several pages
    each) of ``parts``, half the plans also get three empties split by good pages in one
    of them (:func:`_with_separated_empties`)."""
    def at(enabled: bool) -> tuple[int, ...]:
        if not enabled:
            return ()
        return tuple(sorted(draw(st.lists(st.integers(1, max_at), max_size=max_each,
                                          unique=True))))

    if not sequences:
        return FaultPlan(
            callouts=at(callouts), locks=at(locks), empty=at(empty),
            quota_at=draw(st.integers(1, max_at)) if quota and _sometimes(draw) else None,
            changes=tuple(draw(st.lists(_changes(keys, concurrent, anchors=anchors),
                                         max_size=max_each)))
            if concurrent else ())
    tokens = (("empty",) if empty else ()) + (("503",) if callouts else ())
    runs: list[tuple[int, int, tuple[str, ...]]] = []
    if tokens:
        # Per partition (taken modulo the partition count; shrinks to partition 0),
        # after a number of that partition's own calls (shrinking to 0: at its start),
        # a run whose length is drawn uniformly (1 to MAX_RUN, shrinking to 1): a list's
        # own length distribution made runs of 3+ rare, and runs numbered over the
        # whole run were split between interleaved chains (gap 1).
        for _ in range(draw(st.integers(0, max_each))):
            part = draw(st.integers(0, 3))
            after = draw(st.one_of(st.integers(0, min(2, max_at)), st.integers(0, max_at)))
            length = draw(st.integers(1, MAX_RUN))
            runs.append((part, after, tuple(draw(st.sampled_from(tokens))
                                             for _ in range(length))))
    plan = FaultPlan(
        locks=at(locks), runs=tuple(runs),
        quota_at=draw(st.integers(1, max_at)) if quota and _sometimes(draw) else None,
        changes=tuple(draw(st.lists(_changes(keys, concurrent, anchors=anchors),
                                         max_size=max_each)))
        if concurrent else ())
    if busy and empty and parts:
        plan = _with_separated_empties(plan, keys, busy, parts)
    return plan


def _with_separated_empties(plan: FaultPlan, keys: Sequence[str], busy: Sequence[int],
                            parts: int) -> FaultPlan:
    """``plan`` plus, for half the datasets, three transient empty batches in one busy
    partition split by good pages: ``k`` (1 or 2) at the partition's first call (after
    its other runs and one good call, if it has any), the other ``3 - k`` after one
    good call more.

    A correct job resets its empty count on a page with rows, so these cost it three
    calls and nothing else; a job that never resets it (3 empties over the partition,
    not in a row) ends early and loses the rest. Drawn as two independent runs this
    shape (same partition, no overlap, three empties in all, fewer than three in a row,
    a page with rows between and records after) came up too rarely: the mistake escaped
    ci, thorough and 10 default runs (review finding).

    Derived from the dataset's keys (a CRC-32, stable across processes), not drawn: an
    extra draw moved every derandomized ``ci`` example, so the other mistakes' pinned
    counterexamples moved with it. The minimiser removes the runs like any other.
    ``busy``: partitions with pages after their first (:func:`cases` computes them),
    where an early stop leaves records behind. ``parts``: how many partitions.
    """
    digest = zlib.crc32("\x00".join(keys).encode())
    if digest % 2:
        return plan
    q = busy[(digest >> 1) % len(busy)]
    first = 1 + (digest >> 8) % 2
    taken = [after + len(answers) for p, after, answers in plan.runs if p % parts == q]
    a = max(taken) + 1 if taken else 0
    return replace(plan, runs=(*plan.runs, (q, a, ("empty",) * first),
                               (q, a + first + 1, ("empty",) * (3 - first))))


def _sometimes(draw: DrawFn) -> bool:
    """True on about a quarter of the draws, shrinking to False.

    For features that cut a run short or shrink its scope (a quota gone, a partial
    scope): drawn half the time they hid the bugs that need the run to go on."""
    return draw(st.integers(0, 3)) == 3


def _check_range(lo_name: str, lo: int, hi_name: str, hi: int, *, lowest: int) -> None:
    for name, v in ((lo_name, lo), (hi_name, hi)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidArgument(f"{name}={v!r} must be a whole number")
    if lo < lowest:
        raise InvalidArgument(f"{lo_name}={lo!r} must be at least {lowest}")
    if lo > hi:
        raise InvalidArgument(f"{lo_name}={lo!r} must not exceed {hi_name}={hi!r}")


def _check_choices(name: str, given: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    if isinstance(given, str):
        raise InvalidArgument(f"{name}={given!r} must be a sequence of names, not one string")
    chosen = tuple(given)
    if not chosen:
        raise InvalidArgument(f"{name} must name at least one of {', '.join(allowed)}")
    unknown = [c for c in chosen if c not in allowed]
    if unknown:
        raise InvalidArgument(f"{name}: unknown {', '.join(map(repr, unknown))} "
                              f"(expected some of {', '.join(allowed)})")
    return chosen


def external_ids(min_size: int = 0, max_size: int = 24, *, styles: Sequence[str] = STYLES,
                 unique: bool = True) -> SearchStrategy[list[str | None]]:
    """A list of External IDs in insertion order, built from numbers with gaps.

    One zero-pad width per list (7 shrinking to 2, then 1: overflow); each id picks one of
    ``styles`` (:data:`STYLES`, shrinking to ``padded``). With ``unique`` the ids are
    distinct case-insensitively, as the built-in unique External ID demands; otherwise some
    repeat an earlier id, possibly in another case. Bad arguments raise InvalidArgument.
    """
    _check_range("min_size", min_size, "max_size", max_size, lowest=0)
    return _external_ids(min_size, max_size, styles=_check_choices("styles", styles, STYLES),
                         unique=unique)


def datasets(min_size: int = 0, max_size: int = 24, *, styles: Sequence[str] = STYLES,
             stages: Sequence[str] = STAGES, source_gaps: bool = True,
             unique: bool = True, distinct_values: bool = True) -> SearchStrategy[Dataset]:
    """Opportunities: ids from :func:`external_ids`, initial stages, source rows.

    ``source_gaps`` lets some keys have no Data Cloud row (the job must leave those
    alone). ``unique=False`` stores keys in a non-unique custom External ID and may repeat
    them (processors must then read :attr:`Dataset.key_field`). ``stages`` are StageName
    values of the standard or the team's sales process. ``distinct_values`` (default)
    draws each record's source value from ``stages`` (shrinking to Qualification, the
    team's one value) and some Data Cloud rows with no Opportunity (shrinking to none),
    so a job that pairs values with records by list position, not by key, is visible;
    False gives every record Qualification and the source no extra rows. Bad arguments
    raise InvalidArgument.
    """
    _check_range("min_size", min_size, "max_size", max_size, lowest=0)
    known = tuple(name for name, _ in OPPORTUNITY_STAGES)
    return _datasets(min_size, max_size, styles=_check_choices("styles", styles, STYLES),
                     stages=_check_choices("stages", stages, known),
                     source_gaps=source_gaps, unique=unique,
                     distinct_values=distinct_values)


def partitionings(dataset: Dataset, max_parts: int = 4, *,
                  forms: Sequence[str] = FORMS, partial_scope: bool = True,
                  code_point: bool = True) -> SearchStrategy[Partitioning]:
    """Partitions over the dataset's keys: the team's form, half-open, uneven and empty.

    The scope is a run of the sorted keys (all of them, shrinking from ``partial_scope``'s
    leading/trailing out-of-scope keys). ``shared-boundary`` draws each boundary at a key,
    the next partition's first (and the last end one past the last id, as the team does);
    ``half-open`` may put a boundary between keys, in another case (``EXTERNALOPP05``),
    and several in one gap, which makes empty partitions. Keys and bounds are ordered
    as the Data Cloud source orders them: by code point (``code_point``, the default), or
    upper-case for the ``RunConfig(source_case_sensitive=False)`` what if; :func:`cases`
    passes the drawn config's. Bad arguments raise InvalidArgument.
    """
    _check_range("1", 1, "max_parts", max_parts, lowest=1)
    return _partitionings(dataset, max_parts, forms=_check_choices("forms", forms, FORMS),
                          partial_scope=partial_scope, code_point=code_point)


def changes(keys: Sequence[str], kinds: Sequence[str] = CHANGE_KINDS,
            max_after: int = 12, anchors: Sequence[tuple[str, int]] = ()
            ) -> SearchStrategy[Change]:
    """One concurrent change by another user, after a drawn execution number.

    Inserted and re-keyed ids are an existing id plus ``b``, ``_`` or ``0``: right next to
    it, so before or after the cursor depending on when the change lands. ``kinds`` are
    some of :data:`CHANGE_KINDS`. ``anchors`` (``(key, j)``: ``key`` ends page ``j`` of
    its partition, :func:`cases` computes them) put three inserts in four right after one,
    after that partition's execution ``j``: ahead of a running cursor. Bad
    arguments raise InvalidArgument.
    """
    _check_range("0", 0, "max_after", max_after, lowest=0)
    return _changes(keys, _check_choices("kinds", kinds, CHANGE_KINDS), max_after,
                    tuple(anchors))


def fault_plans(keys: Sequence[str] = (), *, callouts: bool = True, locks: bool = True,
                empty: bool = True, quota: bool = True,
                concurrent: Sequence[str] = CHANGE_KINDS, max_each: int = 2,
                max_at: int = 12, sequences: bool = True,
                anchors: Sequence[tuple[str, int]] = ()) -> SearchStrategy[FaultPlan]:
    """A :class:`FaultPlan`: transient callout errors, row locks, empty pages, quota
    exhausted at call k, and concurrent DML (``concurrent`` kinds, empty for none) near
    ``keys``. Each kind is off, or up to ``max_each`` occurrences, shrinking to none.
    ``sequences`` (default) draws 503s and empty batches as runs of consecutive faults, up
    to :data:`MAX_RUN` long (longer than the 3-empties stop rule), shrinking to fewer,
    shorter, earlier runs; ``sequences=False`` draws each occurrence on its own (at most
    ``max_each`` per kind: the pre-issue-18 plans). ``anchors``: see :func:`changes`.
    Bad arguments raise InvalidArgument."""
    _check_range("0", 0, "max_each", max_each, lowest=0)
    _check_range("1", 1, "max_at", max_at, lowest=1)
    kinds = _check_choices("concurrent", concurrent, CHANGE_KINDS) if concurrent else ()
    return _fault_plans(keys, callouts=callouts, locks=locks, empty=empty, quota=quota,
                        concurrent=kinds, max_each=max_each, max_at=max_at,
                        sequences=sequences, anchors=tuple(anchors))


@composite
def cases(draw: DrawFn, dataset: SearchStrategy[Dataset] | None = None,
              partitioning: Callable[[Dataset], SearchStrategy[Partitioning]] = partitionings,
              config: SearchStrategy[RunConfig] | None = None,
              faults: Callable[[Sequence[str]], SearchStrategy[FaultPlan]] | None = fault_plans
              ) -> Case:
    """Dataset x partitioning x config x faults; ``faults=None`` means no faults.

    ``partitioning`` and ``faults`` are called with the drawn dataset (its keys), since
    boundaries and concurrent changes refer to its ids. The default ``partitioning``
    draws its bounds in the drawn config's source order
    (:attr:`~sforg_sim.cases.RunConfig.source_case_sensitive`); a custom one is
    called with the dataset only, so it must match a config it fixes itself.
    """
    ds = draw(dataset if dataset is not None else datasets())
    cfg = draw(config if config is not None else run_configs())
    part = draw(partitionings(ds, code_point=cfg.source_case_sensitive)
                if partitioning is partitionings else partitioning(ds))
    keys = ds.keys(cfg.source_case_sensitive)
    if faults is fault_plans:
        anchors = _anchors(Case(ds, part, cfg), keys)
        busy = sorted({i for k, _ in anchors if (i := part.index_of(
            k, cfg.source_case_sensitive)) is not None})
        plan = draw(_fault_plans(keys, concurrent=CHANGE_KINDS, anchors=tuple(anchors),
                                 busy=busy, parts=len(part.parts)))
    else:
        plan = draw(faults(keys)) if faults is not None else FaultPlan()
    return Case(ds, part, cfg, plan)


def _anchors(case: Case, keys: Sequence[str]) -> list[tuple[str, int]]:
    """``(key, j)`` for each key ending page ``j`` of its partition (the source's rows in
    its order, source-only rows included: the job pages through them), the partition's
    last key left out: an insert right after one, timed after that partition's
    execution ``j``, lands ahead of the running cursor with a record still to come."""
    per: dict[int, list[str]] = {}
    source = case.dataset.source()  # pages hold source rows: keys without one are skipped
    for key in keys:
        i = case.index_of(key) if sort_key(key) in source else None
        if i is not None:
            per.setdefault(i, []).append(key)
    size = max(1, case.config.page_size)
    return [(ks[j * size - 1], j) for ks in per.values()
            for j in range(1, (len(ks) - 1) // size + 1)]

