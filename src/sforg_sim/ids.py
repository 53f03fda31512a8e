"""Salesforce record ids: 15-character case-sensitive and 18-character case-safe forms.

An id is a 3-character key prefix (``006`` Opportunity), a 2-character instance part, a
reserved character and a 9-character base-62 counter. The 18-character form appends a
3-character checksum that encodes which of the first 15 characters are upper case, so the
id survives case-insensitive systems. The API returns the 18-character form and accepts
both (Salesforce Help, "What is a Salesforce ID", and the widely used algorithm in the
Apex ``Id.to15()`` docs).
"""

from __future__ import annotations

from .errors import MalformedId

__all__ = ["BASE62", "KEY_PREFIXES", "SUFFIX", "canonical", "checksum", "make_id", "make_ids",
           "to15", "to18", "valid_id"]

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
"""Base-62 digits in ASCII order, so binary id order follows the counter."""

SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
"""Checksum characters: index = bit mask of upper-case letters in a 5-character block."""
_SUFFIX = SUFFIX
_SUFFIX_INDEX = {c: i for i, c in enumerate(_SUFFIX)}
_ALNUM = frozenset(BASE62)
_INSTANCE = "5j"  # the instance/pod characters every simulated id carries

KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "OpportunityHistory": "008",
    "Organization": "00D",
    "AsyncApexJob": "707",
    "ApexClass": "01p",
    "CronTrigger": "08e",
}


def checksum(id15: str) -> str:
    """The 3-character case-safe suffix for a 15-character id."""
    out = []
    for start in (0, 5, 10):
        bits = 0
        for i, ch in enumerate(id15[start : start + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX[bits])
    return "".join(out)


def make_id(prefix: str, counter: int) -> str:
    """The 18-character id of the ``counter``-th record with key ``prefix``."""
    if counter < 0:
        raise ValueError("id counter must be >= 0")
    digits = []
    n = counter
    for _ in range(9):
        n, r = divmod(n, 62)
        digits.append(BASE62[r])
    if n:
        raise ValueError("id counter overflows 9 base-62 digits")
    id15 = prefix + _INSTANCE + "0" + "".join(reversed(digits))
    return id15 + checksum(id15)


def to18(value: object) -> str:
    """Normalise a 15- or 18-character id to the canonical 18-character form.

    An 18-character id whose first 15 characters came through a case-insensitive system is
    repaired from its suffix, as Salesforce does. Anything else raises MALFORMED_ID.
    """
    if not isinstance(value, str) or len(value) not in (15, 18) or not _ALNUM.issuperset(value):
        raise MalformedId(f"Id is malformed: {value!r}" if not isinstance(value, str)
                          else f"Invalid id: {value}")
    if len(value) == 15:
        return value + checksum(value)
    suffix = value[15:].upper()
    chars = list(value[:15])
    for block, s in enumerate(suffix):
        bits = _SUFFIX_INDEX.get(s)
        if bits is None:
            raise MalformedId(f"Invalid id: {value}")
        for i in range(5):
            pos = block * 5 + i
            ch = chars[pos]
            if ch.isalpha():
                chars[pos] = ch.upper() if bits >> i & 1 else ch.lower()
            elif bits >> i & 1:
                raise MalformedId(f"Invalid id: {value}")
    id15 = "".join(chars)
    return id15 + suffix


def to15(value: object) -> str:
    """The 15-character case-sensitive form of an id."""
    return to18(value)[:15]


def valid_id(value: object) -> bool:
    """True when ``value`` is a well-formed 15- or 18-character id."""
    try:
        to18(value)
    except MalformedId:
        return False
    return True


def make_ids(prefix: str, start: int, n: int) -> list[str]:
    """18-character ids for counters ``start .. start + n - 1``: the bulk form of make_id.

    Seeding millions of rows calls this, so it avoids per-id base-62 loops: the last five
    digits (the only ones that change below 62**5 ids) come from two precomputed tables,
    and so does their checksum character.
    """
    if n <= 0:
        return []
    if start < 0 or start + n - 1 >= 62**9:
        raise ValueError("id counter out of range")
    t2, m2, t3, m3 = _tables()
    out: list[str] = []
    block = 62**5
    c = start
    end = start + n
    while c < end:
        high, low = divmod(c, block)
        stop = min(end, (high + 1) * block)
        head = make_id(prefix, high * block)[:10]  # prefix, instance, "0", 4 high digits
        check = checksum(head + "00000")[:2]
        for k in range(low, low + stop - c):
            a, b = divmod(k, 3844)
            out.append(head + t3[a] + t2[b] + check + _SUFFIX[m3[a] | m2[b] << 3])
        c = stop
    return out


_TABLES: tuple[list[str], list[int], list[str], list[int]] | None = None


def _tables() -> tuple[list[str], list[int], list[str], list[int]]:
    global _TABLES
    if _TABLES is None:
        up = [1 if "A" <= ch <= "Z" else 0 for ch in BASE62]
        t2 = [a + b for a in BASE62 for b in BASE62]
        m2 = [up[i] | up[j] << 1 for i in range(62) for j in range(62)]
        t3 = [a + b + c for a in BASE62 for b in BASE62 for c in BASE62]
        m3 = [up[i] | up[j] << 1 | up[k] << 2
              for i in range(62) for j in range(62) for k in range(62)]
        _TABLES = (t2, m2, t3, m3)
    return _TABLES


_UPPER_BITS = str.maketrans({c: ("1" if "A" <= c <= "Z" else "0") for c in BASE62})


def canonical(raw: object) -> str | None:
    """``raw`` itself when it already is a canonical 18-character id, else None.

    The hot path of updates: ids read back from SOQL are canonical, and checking that takes
    three C-level string operations instead of :func:`to18`'s per-character loop.
    Anything else (15 characters, repaired case, invalid) goes through ``to18``.
    """
    if type(raw) is not str or len(raw) != 18 or not (raw.isascii() and raw.isalnum()):
        return None
    bits = raw[:15].translate(_UPPER_BITS)
    suffix = SUFFIX
    if (suffix[int(bits[4::-1], 2)] + suffix[int(bits[9:4:-1], 2)]
            + suffix[int(bits[14:9:-1], 2)]) != raw[15:]:
        return None
    return raw
