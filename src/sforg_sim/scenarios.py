"""Built-in data scenarios.

``massive-upload`` reproduces the team's org: N Opportunities (default 2,000,000) with
``External_ID__c = externalOpp0000001 ...``, StageName spread over Prospecting, Discovery,
Negotiation, Needs Analysis and Value Proposition (never Qualification), and the Data Cloud
source object ``Opportunity_Source__dlm`` where every record's ``StageName__c`` is
Qualification: the value the nightly job copies across.

``small`` is a few hundred mixed records (Accounts, Opportunities, mixed-case and odd
external ids) loaded through the ordinary validated DML path, for examples and tests.

Determinism: the same name, size and seed always give the same rows (ids included). Faker
is far too slow per record at millions of rows, so it fills small pools once (seeded) and
rows draw from the pools.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import ids
from .datacloud import index_stored_spelling
from .errors import SalesforceError, UsageError
from .nightly import (
    KEY_FIELD,
    KEY_PREFIX,
    SOURCE_FIELD,
    SOURCE_OBJECT,
    TARGET_STAGE,
    external_id,
    source_object_fields,
)
from .schema import OPPORTUNITY_STAGES
from .store import Store, quote

if TYPE_CHECKING:
    from .core import OrgCore

__all__ = ["CHUNK", "SCENARIOS", "Progress", "load"]

Progress = Callable[[int, int], None]
"""Told ``(steps done, steps in all)`` while a scenario loads."""
CHUNK = 200_000
"""Records per seeding statement of ``massive-upload``."""

MASSIVE_STAGES = ("Prospecting", "Discovery", "Negotiation", "Needs Analysis",
                  "Value Proposition")
"""The stages ``massive-upload`` spreads its records over (never the target stage)."""


def _ensure_source(org: OrgCore) -> None:
    if SOURCE_OBJECT not in org.schema:
        org.add_object(SOURCE_OBJECT, source_object_fields())


def _pools(seed: int) -> dict[str, list[Any]]:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    return {
        "company": [fake.company() for _ in range(997)],
        "product": [fake.bs().title()[:60] for _ in range(101)],
        "amount": [float(round(fake.pyfloat(min_value=1_000, max_value=500_000), 2))
                   for _ in range(1009)],
    }


def _id_tables(store: Store) -> None:
    """Base-62 digit tables: 1, 2 and 3 digits with their upper-case bit masks.

    Built by SQL cross joins from the 62 single digits, so the 238,328-row table costs a
    few milliseconds, and ids are then assembled by two primary-key joins per row.
    """
    for n in (1, 2, 3):
        store.write(f"temp.b62_{n}", f"CREATE TEMP TABLE b62_{n} "
                                      "(k INTEGER PRIMARY KEY, s TEXT, m INTEGER)")
    store.write_many("temp.b62_1", "INSERT INTO b62_1 VALUES (?, ?, ?)",
                     [(k, ch, int("A" <= ch <= "Z")) for k, ch in enumerate(ids.BASE62)])
    store.write("temp.b62_2", "INSERT INTO b62_2 SELECT a.k * 62 + b.k, a.s || b.s, "
                              "a.m | (b.m << 1) FROM b62_1 a, b62_1 b ORDER BY 1")
    store.write("temp.b62_3", "INSERT INTO b62_3 SELECT a.k * 3844 + b.k, a.s || b.s, "
                              "a.m | (b.m << 1) FROM b62_1 a, b62_2 b ORDER BY 1")


def _id_join(prefix: str, start: int, records: int, alias: str) -> tuple[str, str]:
    """(JOIN clause, SQL expression) for the id of counter ``start + seq.i - 1``.

    Mirrors :func:`ids.make_id` (the tests compare them): only the five low base-62 digits
    vary inside a block of 62**5 ids, and a scenario never crosses a block.
    """
    block = 62**5
    base = (start // block) * block
    if start + records - 1 >= base + block:
        raise UsageError(f"too many records for one id block: {records:,}")
    head = ids.make_id(prefix, base)[:10]
    check = ids.checksum(head + "00000")[:2]
    low = f"({start - base} + seq.i - 1)"
    join = (f"JOIN b62_3 {alias}3 ON {alias}3.k = {low} / 3844 "
            f"JOIN b62_2 {alias}2 ON {alias}2.k = {low} % 3844")
    expr = (f"('{head}' || {alias}3.s || {alias}2.s || '{check}' || "
            f"substr('{ids.SUFFIX}', ({alias}3.m | ({alias}2.m << 3)) + 1, 1))")
    return join, expr


def _mix(i: str, seed: int) -> str:
    """A SQL integer hash of ``i`` (xorshift-multiply; SQLite has no XOR, so a|b - a&b)."""
    h1 = f"((({i}) * 2654435761 + {seed % 1_000_003}) % 4294967296)"
    return f"(((({h1} | ({h1} >> 16)) - ({h1} & ({h1} >> 16))) * 73244475) % 4294967296)"


def _massive(org: OrgCore, records: int, seed: int, progress: Progress | None) -> None:
    _ensure_source(org)
    opp = org.schema.get("Opportunity")
    hist = org.schema.get("OpportunityHistory")
    src = org.schema.get(SOURCE_OBJECT)
    store = org.store
    if store.count(opp) or store.count(src):
        raise UsageError("massive-upload needs an org without Opportunities "
                         "(load it into a fresh Org)")
    if not records:
        return
    starts = {o.name: store.reserve_ids(o, records) for o in (opp, hist, src)}
    _id_tables(store)
    pools = _pools(seed)
    today = org.clock.today()
    probability = {name: float(p) for name, p in OPPORTUNITY_STAGES}
    tables: dict[str, list[tuple[Any, ...]]] = {
        "company": [(k, v, v.upper()) for k, v in enumerate(pools["company"])],
        "product": [(k, v, v.upper()) for k, v in enumerate(pools["product"])],
        "amount": [(k, v, None) for k, v in enumerate(pools["amount"])],
        "close": [(d, (today + timedelta(days=d - 60)).isoformat(), None) for d in range(365)],
        "stage": [(k, st, st.upper(), probability[st]) for k, st in enumerate(MASSIVE_STAGES)],
    }
    for name, rows in tables.items():
        pool = f"temp.pool_{name}"
        store.write(pool, f"CREATE TEMP TABLE pool_{name} (k INTEGER PRIMARY KEY, v, u, p)")
        store.write_many(pool, f"INSERT INTO {pool} (k, v, u{', p' if name == 'stage' else ''})"
                               f" VALUES (?, ?, ?{', ?' if name == 'stage' else ''})", rows)
    # One row per record: its number, its stage and a pick into the pools, drawn by hashing
    # the number with the seed (deterministic, and no Python call per row).
    h = _mix("i", seed)
    store.write("temp.seq", "CREATE TEMP TABLE seq "
                            "(i INTEGER PRIMARY KEY, st INTEGER, pk INTEGER)")
    store.write(
        "temp.seq", f"INSERT INTO seq WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
        f"FROM s WHERE i < {records}) SELECT i, h % {len(MASSIVE_STAGES)}, h / 8 "
        f"FROM (SELECT i, {h} AS h FROM s)")
    now, user = org.clock.stamp(), org.user_id
    audit = {"IsDeleted": "0", "CreatedDate": f"'{now}'", "LastModifiedDate": f"'{now}'",
             "SystemModstamp": f"'{now}'", "CreatedById": f"'{user}'",
             "LastModifiedById": f"'{user}'"}
    ext = f"('{KEY_PREFIX}' || printf('%07d', seq.i))"
    pools_join = ("JOIN pool_company c ON c.k = seq.pk % 997 "
                  "JOIN pool_product p ON p.k = seq.pk % 101 "
                  "JOIN pool_amount a ON a.k = seq.pk % 1009 "
                  "JOIN pool_close d ON d.k = seq.pk % 365 "
                  "JOIN pool_stage st ON st.k = seq.st")
    opp_join, opp_id = _id_join(opp.key_prefix, starts[opp.name], records, "o")
    hist_join, hist_id = _id_join(hist.key_prefix, starts[hist.name], records, "h")
    src_join, src_id = _id_join(src.key_prefix, starts[src.name], records, "x")
    stage = {"StageName": "st.v", "StageName__sk": "st.u", "Probability": "st.p",
             "Amount": "a.v", "CloseDate": "d.v"}
    plan = [
        (opp, f"{opp_join} {pools_join}", {
            **audit, **stage, "Id": opp_id,
            "Name": "c.v || ' - ' || p.v", "Name__sk": "c.u || ' - ' || p.u",
            "Type": "'New Customer'", "Type__sk": "'NEW CUSTOMER'", "OwnerId": f"'{user}'",
            KEY_FIELD: ext, f"{KEY_FIELD}__sk": f"upper({ext})",
        }),
        (hist, f"{hist_join} {opp_join} {pools_join}", {
            **audit, **stage, "Id": hist_id, "OpportunityId": opp_id,
        }),
        (src, f"{src_join} JOIN pool_amount a ON a.k = seq.pk % 1009", {
            **audit, "Id": src_id, KEY_FIELD: ext,
            f"{KEY_FIELD}__sk": f"upper({ext})", SOURCE_FIELD: f"'{TARGET_STAGE}'",
            f"{SOURCE_FIELD}__sk": f"'{TARGET_STAGE.upper()}'", "Amount__c": "a.v",
        }),
    ]
    statements = []
    for obj, joins, exprs in plan:
        cols = [c for c in store.columns(obj) if c in exprs]
        # In chunks of CHUNK records, so a progress bar can say how far a 2,000,000-record
        # load is (one statement each would leave it silent for half a minute).
        for lo in range(1, records + 1, CHUNK):
            statements.append(
                f"INSERT INTO {quote(obj.name)} ({', '.join(map(quote, cols))}) "
                f"SELECT {', '.join(exprs[c] for c in cols)} FROM seq {joins} "
                f"WHERE seq.i BETWEEN {lo} AND {lo + CHUNK - 1} ORDER BY seq.i")
    # verify-org's default check groups all Opportunities by StageName filtered on
    # External_ID__c: a covering index answers it without reading the rows (1 s at 2M
    # instead of 3; see benchmarks/README.md). bulk_load drops it and rebuilds it after.
    store.add_storage_index(opp, [opp.field("StageName"), opp.field(KEY_FIELD)])
    # The simulated Data Cloud pages the source by its key's stored spelling (code-point
    # order): built with the data, not on a replay's first page.
    index_stored_spelling(store, src, src.field(KEY_FIELD))
    try:
        store.bulk_load([opp, hist, src], statements, progress)
    finally:
        for tmp in ["seq", "b62_1", "b62_2", "b62_3", *(f"pool_{n}" for n in tables)]:
            store.write(f"temp.{tmp}", f"DROP TABLE IF EXISTS temp.{tmp}")


def _small(org: OrgCore, records: int, seed: int, progress: Progress | None) -> None:
    _ensure_source(org)
    rng = random.Random(seed)
    pools = _pools(seed)
    accounts = org.insert("Account", [
        {"Name": pools["company"][i], "Industry": rng.choice(
            ("Banking", "Energy", "Retail", "Technology"))} for i in range(20)])
    acc_ids = [a["id"] for a in accounts]
    stages = ("Prospecting", "Qualification", "Discovery", "Negotiation", "Closed Won",
              "Closed Lost")
    today = org.clock.today()
    opps, sources = [], []
    for i in range(1, records + 1):
        # A mix of the id shapes that trip keyset paging: padded, unpadded, mixed case,
        # characters that collate around letters, and some without an External ID.
        style = i % 10
        ext: str | None
        if style == 7:
            ext = f"ExternalOPP{i:07d}"
        elif style == 8:
            ext = f"{KEY_PREFIX}_{i}"
        elif style == 9:
            ext = None
        else:
            ext = external_id(i)
        stage = rng.choice(stages)
        opps.append({
            "Name": f"{pools['company'][i % 997]} #{i}",
            "StageName": stage,
            "CloseDate": (today + timedelta(days=rng.randrange(-30, 120))).isoformat(),
            "Amount": rng.choice((None, *pools["amount"][:50])),
            "AccountId": rng.choice((None, *acc_ids)),
            KEY_FIELD: ext,
        })
        if ext is not None:
            sources.append({KEY_FIELD: ext, SOURCE_FIELD: TARGET_STAGE})
    for i in range(0, len(opps), 200):
        _check(org.insert("Opportunity", opps[i:i + 200]))
        _check(org.insert(SOURCE_OBJECT, sources[i:i + 200]))
        if progress is not None:
            progress(min(i + 200, len(opps)), len(opps))


def _check(results: list[dict[str, Any]]) -> None:
    bad = [r for r in results if not r["success"]]
    if bad:
        raise SalesforceError(f"scenario insert failed: {bad[0]['errors']}")


SCENARIOS: dict[str, tuple[Callable[[OrgCore, int, int, Progress | None], None], int]] = {
    "massive-upload": (_massive, 2_000_000),
    "small": (_small, 300),
}
"""name -> (loader, default record count)."""


def load(org: OrgCore, name: str, records: int | None = None, seed: int = 0,
         progress: Progress | None = None) -> None:
    """Seed scenario ``name`` into ``org`` with ``records`` records (default per scenario)."""
    if name not in SCENARIOS:
        raise UsageError(f"unknown scenario {name!r} (expected one of {', '.join(SCENARIOS)})")
    loader, default = SCENARIOS[name]
    n = default if records is None else records
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise UsageError(f"records must be a whole number >= 0, got {n!r}")
    if n > 99_999_999:
        raise UsageError("records must be at most 99,999,999")
    loader(org, n, seed, progress)
