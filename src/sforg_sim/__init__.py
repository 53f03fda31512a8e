"""sforg_sim: a simulated Salesforce org for replaying bulk jobs and testing them.

The public API is small and listed in ``__all__``; everything else is private to its
module. See the README for the user guide and the fidelity table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .clock import SimClock
from .errors import SalesforceError
from .org import Org

if TYPE_CHECKING:
    from .rest import mock_org, serve

__all__ = ["Org", "SalesforceError", "SimClock", "__version__", "mock_org", "serve"]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The REST adapters pull in requests, responses and werkzeug (~0.3 s): import them only
    # when asked for, so `import sforg_sim` stays cheap for scripts that never serve HTTP.
    if name in ("mock_org", "serve"):
        from . import rest

        return getattr(rest, name)
    raise AttributeError(f"module 'sforg_sim' has no attribute {name!r}")
