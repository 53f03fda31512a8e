"""verify: the post-run check of an org (real or simulated), over simple-salesforce only."""

from __future__ import annotations

__all__: list[str] = []
