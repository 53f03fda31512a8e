"""Differential property tests for issue 19's constructs, against plain Python.

- date functions in GROUP BY and WHERE over random dates/dateTimes (Python's
  ``datetime`` computes each function from the reference's definitions);
- GROUP BY ROLLUP(a, b) against Python subtotals;
- parent-to-child subqueries with WHERE/ORDER BY/LIMIT against Python grouping.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sforg_sim import Org
from sforg_sim.schema import Field


def py_date_fn(func: str, v: str | None) -> Any:
    """The reference's definition of each date function, in Python."""
    if v is None:
        return None
    d = date.fromisoformat(v[:10])
    if func == "HOUR_IN_DAY":
        return datetime.fromisoformat(v[:19]).hour
    if func == "DAY_ONLY":
        return d.isoformat()
    func = func.replace("FISCAL_", "CALENDAR_")  # default fiscal year: January start
    doy = d.timetuple().tm_yday
    return {
        "CALENDAR_YEAR": d.year, "CALENDAR_MONTH": d.month,
        "CALENDAR_QUARTER": (d.month - 1) // 3 + 1, "DAY_IN_MONTH": d.day,
        "DAY_IN_WEEK": (d.isoweekday() % 7) + 1, "DAY_IN_YEAR": doy,
        "WEEK_IN_MONTH": (d.day - 1) // 7 + 1, "WEEK_IN_YEAR": (doy - 1) // 7 + 1,
    }[func]


DATE_FNS = ["CALENDAR_YEAR", "CALENDAR_MONTH", "CALENDAR_QUARTER", "DAY_IN_MONTH",
            "DAY_IN_WEEK", "DAY_IN_YEAR", "WEEK_IN_MONTH", "WEEK_IN_YEAR", "FISCAL_MONTH",
            "FISCAL_QUARTER", "FISCAL_YEAR"]
DATETIME_FNS = [*DATE_FNS, "HOUR_IN_DAY", "DAY_ONLY"]

days = st.dates(min_value=date(1999, 1, 1), max_value=date(2031, 12, 31))
stamps = st.datetimes(min_value=datetime(1999, 1, 1), max_value=datetime(2031, 12, 31))
rows = st.lists(st.fixed_dictionaries({
    "Day__c": st.none() | days.map(date.isoformat),
    "When__c": st.none() | stamps.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.000+0000")),
    "Tag__c": st.sampled_from(["x", "y", "z"]),
    "Kind__c": st.none() | st.sampled_from(["p", "q"]),
}), max_size=12)


def _org() -> Org:
    org = Org()
    org.add_object("Item__c", [Field("Day__c", "date", "Day"),
                               Field("When__c", "datetime", "When"),
                               Field("Tag__c", "string", "Tag", 10),
                               Field("Kind__c", "string", "Kind", 10)])
    return org


@given(rows, st.sampled_from(DATETIME_FNS), st.sampled_from(["Day__c", "When__c"]),
       st.integers(1, 60))
def test_date_functions_group_and_filter_like_python(data: list[dict[str, Any]], fn: str,
                                                     fld: str, n: int) -> None:
    if fld == "Day__c" and fn in ("HOUR_IN_DAY", "DAY_ONLY"):
        fn = "DAY_IN_MONTH"
    org = _org()
    try:
        if data:
            org.insert("Item__c", data)
        body = org.query(f"SELECT {fn}({fld}) v, COUNT(Id) c FROM Item__c "
                         f"GROUP BY {fn}({fld})")
        got = {r["v"]: r["c"] for r in body["records"]}
        assert got == dict(Counter(py_date_fn(fn, r[fld]) for r in data))
        if fn != "DAY_ONLY":
            hits = org.query(f"SELECT COUNT() FROM Item__c WHERE {fn}({fld}) <= {n}")
            want = sum(1 for r in data if r[fld] is not None and py_date_fn(fn, r[fld]) <= n)
            assert hits["totalSize"] == want
    finally:
        org.close()


@given(rows)
def test_rollup_matches_python_subtotals(data: list[dict[str, Any]]) -> None:
    org = _org()
    try:
        if data:
            org.insert("Item__c", data)
        body = org.query("SELECT Tag__c, Kind__c, GROUPING(Tag__c) gt, GROUPING(Kind__c) gk, "
                         "COUNT(Id) c FROM Item__c GROUP BY ROLLUP(Tag__c, Kind__c)")
        got = Counter((r["Tag__c"], r["Kind__c"], r["gt"], r["gk"], r["c"])
                      for r in body["records"])
        want: Counter[tuple[Any, ...]] = Counter()
        for (t, k), c in Counter((r["Tag__c"], r["Kind__c"]) for r in data).items():
            want[(t, k, 0, 0, c)] += 1
        for t, c in Counter(r["Tag__c"] for r in data).items():
            want[(t, None, 0, 1, c)] += 1
        want[(None, None, 1, 1, len(data))] += 1
        assert got == want
    finally:
        org.close()


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["a", "B", "c", "D"]),
                          st.booleans()), max_size=15),
       st.none() | st.integers(0, 3), st.booleans())
def test_subqueries_match_python_grouping(children: list[tuple[int, str, bool]],
                                          limit: int | None, desc: bool) -> None:
    org = Org()
    try:
        accts = [r["id"] for r in org.insert("Account", [{"Name": f"a{i}"} for i in range(4)])]
        if children:
            org.insert("Contact", [{"LastName": f"{name}{i}", "AccountId": accts[p],
                                    "Title": "t" if keep else None}
                                   for i, (p, name, keep) in enumerate(children)])
        lim = "" if limit is None else f" LIMIT {limit}"
        body = org.query("SELECT Name, (SELECT LastName FROM Contacts WHERE Title = 't' "
                         f"ORDER BY LastName {'DESC' if desc else 'ASC'}{lim}) FROM Account")
        for rec in body["records"]:
            p = int(rec["Name"][1:])
            want = sorted((f"{name}{i}" for i, (pp, name, keep) in enumerate(children)
                           if pp == p and keep), key=str.upper, reverse=desc)
            if limit is not None:
                want = want[:limit]
            sub = rec["Contacts"]
            got = [] if sub is None else [c["LastName"] for c in sub["records"]]
            assert got == want
            assert sub is None or sub["totalSize"] == len(want) > 0
    finally:
        org.close()
