"""The simulated REST API: one route table (:mod:`.routes`), two adapters.

- :func:`mock_org`: intercept ``requests`` in-process (``responses``);
- :func:`serve`: a threaded HTTPS server on 127.0.0.1 (``sforg-sim serve``).
"""

from __future__ import annotations

from .mock import mock_org
from .server import serve

__all__ = ["mock_org", "serve"]
