"""Record ids: the 18-character checksum, both forms on input, MALFORMED_ID."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sforg_sim import ids
from sforg_sim.errors import MalformedId

# Known real pairs from public write-ups of the algorithm:
# 001A0000006Vm9r -> IAC (salesforcelearn.blogspot.com, "How to Convert 15 Character Id
# to 18 Character Id"); 0019000000B98de -> AAB (theblogreaders.com, "difference between a
# 15 digit and a 18 digit Salesforce ID").
KNOWN = [("001A0000006Vm9r", "001A0000006Vm9rIAC"), ("0019000000B98de", "0019000000B98deAAB")]


@pytest.mark.parametrize(("id15", "id18"), KNOWN)
def test_known_real_ids(id15: str, id18: str) -> None:
    assert ids.to18(id15) == id18
    assert ids.to15(id18) == id15


@pytest.mark.parametrize(("id15", "id18"), KNOWN)
def test_18_char_id_repairs_case_lost_in_transit(id15: str, id18: str) -> None:
    # A case-insensitive system upper-cased the id: the suffix restores the original case.
    assert ids.to18(id18.upper()) == id18
    assert ids.to18(id18.lower()[:15] + id18[15:]) == id18


id15s = st.text(alphabet=ids.BASE62, min_size=15, max_size=15)


@given(id15s)
def test_round_trip(id15: str) -> None:
    id18 = ids.to18(id15)
    assert len(id18) == 18 and id18[:15] == id15
    assert ids.to15(id18) == id15
    assert ids.to18(id18) == id18
    assert ids.to18(id18.swapcase()[:15] + id18[15:]) == id18


@pytest.mark.parametrize("bad", [
    "", "001", "001A0000006Vm9", "001A0000006Vm9r-", "001A0000006Vm9rI", "001A0000006Vm9r!!!",
    "001A0000006Vm9r9AC", None, 12345])
def test_malformed_ids_are_rejected(bad: object) -> None:
    with pytest.raises(MalformedId) as e:
        ids.to18(bad)
    assert e.value.error_code == "MALFORMED_ID"
    assert e.value.status == 400


def test_suffix_that_contradicts_a_digit_is_rejected() -> None:
    # 'I' says position 3 of the first block is upper case, but there is a digit there.
    with pytest.raises(MalformedId):
        ids.to18("00100000006Vm9rIAC")


def test_make_id_is_ordered_and_prefixed() -> None:
    made = [ids.make_id("006", n) for n in (1, 2, 61, 62, 3843, 3844, 62**5, 62**5 + 1)]
    assert all(m.startswith("006") and len(m) == 18 for m in made)
    assert made == sorted(made)  # binary order follows creation order
    assert all(ids.to18(m) == m for m in made)


@pytest.mark.parametrize(("start", "n"), [(1, 5), (3840, 10), (238_320, 20), (62**5 - 3, 10)])
def test_bulk_ids_match_single_ids(start: int, n: int) -> None:
    assert ids.make_ids("a00", start, n) == [ids.make_id("a00", i) for i in range(start, start + n)]


@given(id15s)
def test_canonical_accepts_exactly_the_canonical_form(id15: str) -> None:
    id18 = ids.to18(id15)
    assert ids.canonical(id18) == id18
    assert ids.canonical(id15) is None
    swapped = id18[:15].swapcase() + id18[15:]
    assert ids.canonical(swapped) == (swapped if swapped == id18 else None)
