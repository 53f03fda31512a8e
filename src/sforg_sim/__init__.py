"""sforg_sim: a simulated Salesforce org for replaying bulk jobs and testing them.

The public API is small and listed in ``__all__``; everything else is private to its
module. See the README for the user guide and the fidelity table.
"""

from __future__ import annotations

from .clock import SimClock
from .errors import SalesforceError
from .org import Org

__all__ = ["Org", "SalesforceError", "SimClock", "__version__"]

__version__ = "0.1.0"
