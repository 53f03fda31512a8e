"""Keep secrets out of everything verify-org prints: logs, error lines and JSON.

This is the one place where masking happens. Two rules, applied by :func:`redact`:

- every token, password, security token and client secret verify-org learns is
  registered here the moment it is read (from flags, the environment, ``sf org display``
  or a login response), and each occurrence of it is masked, in any letter case
  (requests lower-cases a host name, and a token passed where the URL belongs ends up
  as one), with or without surrounding whitespace, and percent-encoded;
- anything shaped like a Salesforce session id (``00D`` + 12 or 15 characters + ``!`` +
  a tail) is masked even if it was never registered: the value of a wrong flag, a token
  echoed back by a server, a token in a header that requests refused to send.

The CLI writes stdout, stderr and ``--json`` through :func:`redact` (see
:class:`RedactingStream`), and :func:`verify.errors.one_line` redacts before it shortens
a message, so a message cut in the middle of a token cannot leak its first half.
"""

from __future__ import annotations

import re
import threading
from typing import IO, Any, cast
from urllib.parse import quote

__all__ = ["TOKEN_PATTERN", "RedactingStream", "clear", "looks_like_token", "mask",
           "redact", "redact_obj", "redacting", "register"]

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None  # the registered secrets, built on demand

# Shorter strings are not registered: masking "abc" everywhere would mangle ordinary text,
# and no real token, password or secret is that short.
_MIN_LEN = 4

TOKEN_PATTERN = re.compile(
    r"(?<![A-Za-z0-9])00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?(?:!|%21)[A-Za-z0-9._+=-]+",
    re.IGNORECASE)
"""A Salesforce session id: the org id (15 or 18 characters, starting ``00D``), ``!``
(or ``%21`` in a URL), then the secret tail. Case-insensitive: a host name is
lower-cased."""


def looks_like_token(text: str | None) -> bool:
    """Whether ``text`` contains something shaped like a Salesforce session id."""
    return bool(text) and TOKEN_PATTERN.search(text or "") is not None


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


def _variants(value: str) -> set[str]:
    """The forms a secret may take in a message: as given, stripped, percent-encoded."""
    stripped = value.strip()
    return {v for v in (value, stripped, quote(stripped, safe="")) if len(v) >= _MIN_LEN}


def register(*values: str | None) -> None:
    """Remember secrets so :func:`redact` hides them (in every form it knows)."""
    global _pattern
    with _lock:
        for v in values:
            if v and len(v.strip()) >= _MIN_LEN:
                new = _variants(v) - _secrets
                if new:
                    _secrets.update(new)
                    _pattern = None


def clear() -> None:
    """Forget all registered secrets (tests)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def _registered() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _secrets:
            # Longest first: a token may contain a shorter secret.
            alternatives = sorted(_secrets, key=len, reverse=True)
            _pattern = re.compile("|".join(map(re.escape, alternatives)), re.IGNORECASE)
        return _pattern


def _mask_match(m: re.Match[str]) -> str:
    return mask(m.group(0))


def redact(text: str) -> str:
    """``text`` with every registered secret and every session id replaced by its
    :func:`mask`."""
    pattern = _registered()
    if pattern is not None:
        text = pattern.sub(_mask_match, text)
    return TOKEN_PATTERN.sub(_mask_match, text)


def redact_obj(obj: Any) -> Any:
    """:func:`redact` applied to every string inside a JSON-like structure (keys too)."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact_obj(k): redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    return obj


class RedactingStream:
    """A text stream that redacts everything written to it before passing it on.

    The CLI gives one to rich's Console and to the JSON writer, so nothing reaches stdout
    unredacted whatever code path produced it. rich writes each ``print`` in one call,
    so a secret is never split between two writes.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text``, redacted."""
        return self._stream.write(redact(text))

    def writelines(self, lines: Any) -> None:
        """Write each line, redacted."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush the underlying stream."""
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        # isatty, encoding, fileno... as the underlying stream has them.
        return getattr(self._stream, name)


def redacting(stream: IO[str]) -> IO[str]:
    """``stream`` wrapped in a :class:`RedactingStream` (typed as the stream it wraps)."""
    return cast(IO[str], RedactingStream(stream))
