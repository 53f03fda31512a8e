"""Keep secrets out of everything verify-org prints: logs, error lines and JSON.

Every token, password, security token and client secret verify-org learns is registered
here the moment it is read (from flags, the environment, ``sf org display`` or a login
response). :func:`redact` then replaces each occurrence in any text before it is printed,
so even an error message that echoes a URL or a request header cannot leak one.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["clear", "mask", "redact", "redact_obj", "register"]

_lock = threading.Lock()
_secrets: set[str] = set()

# Shorter strings are not registered: masking "abc" everywhere would mangle ordinary text,
# and no real token, password or secret is that short.
_MIN_LEN = 4


def mask(secret: str | None) -> str:
    """A display form that proves which secret was used without revealing it.

    Session ids start with the 15-character org id (``00D...!``), which is not secret; we
    still show only the first 4 characters, then the length.
    """
    if not secret:
        return "(none)"
    if len(secret) < 12:
        return "****"
    return f"{secret[:4]}****({len(secret)} chars)"


def register(*values: str | None) -> None:
    """Remember secrets so :func:`redact` hides them."""
    with _lock:
        for v in values:
            if v and len(v) >= _MIN_LEN:
                _secrets.add(v)


def clear() -> None:
    """Forget all registered secrets (tests)."""
    with _lock:
        _secrets.clear()


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by its :func:`mask`."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)  # longest first: a token may
    for s in known:                                      # contain a shorter secret
        if s in text:
            text = text.replace(s, mask(s))
    return text


def redact_obj(obj: Any) -> Any:
    """:func:`redact` applied to every string inside a JSON-like structure."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    return obj
